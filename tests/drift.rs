//! Compiled spec vs launched pod, end to end: real pods on the scenario sandbox (the real API
//! server; kwok runs them on its GPU node), the KFP emulator reporting one of them as the pod of
//! the GPU sample's step, and the real kfcheck binary comparing that pod with the spec it
//! submitted through the REST door. Needs the scenario sandbox (KFCHECK_TEST_SCENARIO_SANDBOX)
//! and the project's Python venv; without them the test skips and says so, except under CI or
//! KFCHECK_E2E=1, where that is a failure.

mod common;
use common::emulator::Emulator;
use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const NS: &str = "kubeflow-user-example-com";
const TOKEN: &str = "tok-drift-5e1c-secret";

/// The GPU sample's step as a pod: `gpu` is the `nvidia.com/gpu` limit the backend gave it
/// (`None`: written the way an old backend launches it, the GPU request dropped).
fn step_pod(name: &str, gpu: Option<u32>) -> String {
    let gpu = |indent: &str| {
        gpu.map(|n| format!("\n{indent}nvidia.com/gpu: \"{n}\""))
            .unwrap_or_default()
    };
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app.kubernetes.io/managed-by: kfcheck-test, pipeline/runid: drift-test}}
spec:
  restartPolicy: Never
  nodeSelector: {{cloud.google.com/gke-accelerator: nvidia-l4}}
  tolerations:
  - {{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}}
  containers:
  - name: wait
    image: ghcr.io/kubeflow/kfp-launcher:2.4.0
  - name: main
    image: nvidia/cuda:12.4.1-base-ubuntu22.04
    resources:
      limits:
        cpu: "1"
        memory: "1073741824"{}
      requests:
        cpu: 500m
        memory: 512Mi{}
"#,
        gpu("        "),
        gpu("        ")
    )
}

/// Deletes the test's pods whatever happens.
struct Pods<'a>(&'a Kubectl, Vec<&'static str>);

impl Drop for Pods<'_> {
    fn drop(&mut self) {
        for p in &self.1 {
            let _ = self.0.try_run(
                &[
                    "-n",
                    NS,
                    "delete",
                    "pod",
                    p,
                    "--wait=false",
                    "--ignore-not-found",
                ],
                None,
            );
        }
    }
}

/// `kfp-gpu-sample` through the REST door with the emulator reporting `pod` as the GPU step's.
fn run_with_pod(dir: &Path, emu: &Emulator, pod: &str) -> (Value, std::process::Output) {
    emu.script(
        json!({"replace": true, "runs": [{"match": "*gpu-sample*", "pods": {"gpu-probe": pod}}]}),
    );
    let o = kfcheck_kfp_command(&repo())
        .args([
            "--kubeconfig",
            dir.join("kubeconfig").to_str().unwrap(),
            "--kfp-endpoint",
            &emu.url,
            "-n",
            NS,
            "run",
            "kfp-gpu-sample",
            "-o",
            "json",
        ])
        .env("KFP_TOKEN", TOKEN)
        .output()
        .unwrap();
    let doc: Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("exit {}: {}{}", code(&o), stdout(&o), stderr(&o)));
    (check(&doc, "kfp-gpu-sample").clone(), o)
}

fn drift_findings(c: &Value) -> Vec<&Value> {
    c["findings"]
        .as_array()
        .map(|f| f.iter().filter(|f| f["rule"] == "spec-pod-drift").collect())
        .unwrap_or_default()
}

#[test]
fn a_launched_pod_without_the_compiled_gpu_request_is_drift_and_a_matching_one_is_not() {
    let Some(dir) = scenario_sandbox() else {
        return;
    };
    let sa = format!("system:serviceaccount:{NS}:default-editor");
    let Some(emu) = Emulator::start(&[
        "--multi-user",
        "--token",
        &format!("{TOKEN}={sa}"),
        "--grant",
        &format!("{sa}={NS}"),
    ]) else {
        return;
    };
    // The profile namespace and kwok's GPU node (labelled nvidia-l4, tainted nvidia.com/gpu).
    sandbox(&dir, &["scenario", "healthy"]);
    let k = Kubectl::new(&dir);
    let _pods = Pods(&k, vec!["drift-gpu-step", "drift-old-backend-step"]);
    for (name, gpu) in [
        ("drift-gpu-step", Some(1)),
        ("drift-old-backend-step", None),
    ] {
        k.run(&["-n", NS, "apply", "-f", "-"], Some(&step_pod(name, gpu)));
    }
    for name in ["drift-gpu-step", "drift-old-backend-step"] {
        k.wait_for(
            NS,
            &format!("pod/{name}"),
            "{.status.phase}",
            "Running",
            Duration::from_secs(60),
        );
    }

    // Launched as compiled: no drift, and the note says what was compared.
    let (c, o) = run_with_pod(&dir, &emu, "drift-gpu-step");
    assert_eq!(c["status"], "passed", "{c:#}\n{}", stderr(&o));
    assert_eq!(drift_findings(&c), Vec::<&Value>::new(), "{c:#}");
    assert!(
        c["notes"]
            .to_string()
            .contains("launched pods match the compiled spec (1 task(s)"),
        "{c:#}"
    );
    assert_eq!(code(&o), 0, "{c:#}");

    // Launched the way an old backend does, without the GPU: a finding naming the field.
    let (c, o) = run_with_pod(&dir, &emu, "drift-old-backend-step");
    assert_eq!(c["status"], "failed", "{c:#}\n{}", stderr(&o));
    let found = drift_findings(&c);
    assert_eq!(found.len(), 1, "only the GPU differs: {c:#}");
    let f = found[0];
    assert_eq!(
        f["message"],
        "task gpu-probe launched unlike its compiled spec: nvidia.com/gpu: launched none, compiled 1",
        "{f:#}"
    );
    assert_eq!(f["severity"], "error");
    assert_eq!(f["subject"]["name"], format!("{NS}/drift-old-backend-step"));
    let ev = &f["evidence"];
    assert!(
        ev.as_array()
            .unwrap()
            .iter()
            .any(|e| e["key"] == "nvidia.com/gpu"
                && e["observed"] == "none"
                && e["expected"] == "1"),
        "{ev:#}"
    );
    assert!(
        f["remediation"].as_str().unwrap().contains("#11374"),
        "{f:#}"
    );
    assert_eq!(code(&o), 1, "{c:#}");

    // A pod that cannot be read is said, never passed unseen.
    let (c, o) = run_with_pod(&dir, &emu, "drift-no-such-pod");
    assert_eq!(drift_findings(&c), Vec::<&Value>::new(), "{c:#}");
    assert!(
        c["notes"].to_string().contains(&format!(
            "drift not checked for task gpu-probe: pod {NS}/drift-no-such-pod is not there (404"
        )),
        "{c:#}\n{}",
        stderr(&o)
    );
    emu.assert_no_violations();
}
