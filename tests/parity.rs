//! `kfcheck parity --run`: a KFP v2 run's Workflow, found by its `pipeline/runid` label on the
//! sandbox's real API server, and its output artifacts read from the pipeline root in a real
//! S3-compatible store (SeaweedFS) with the profile's KFP artifact Secret.
//!
//! No KFP backend runs here, so the test writes what it would have left: the Workflow of a
//! finished run, in the form the KFP v2 backend compiles (driver pods, and each task's executor
//! pod with the executor input the driver hands it in `pod-spec-patch`), labelled for another
//! controller so the sandbox's Argo controller leaves it alone; and the artifact the launcher
//! would have uploaded to the URI that executor input names.

mod common;

use common::{kfcheck_parity, scenario_sandbox, stderr, unavailable, Kubectl};
use std::path::Path;
use std::process::Command;

const ROOT: &str = "private-artifacts/kubeflow-user-example-com/v2/artifacts";
const NUMBERS: &str = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n";

fn sha256(text: &str) -> String {
    let o = Command::new("sha256sum")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(text.as_bytes())?;
            c.wait_with_output()
        })
        .expect("sha256sum");
    String::from_utf8_lossy(&o.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

/// Puts (or, with `None`, deletes) an object through SeaweedFS's filer API: the way in is not
/// the S3 client under test.
fn filer(object: &str, content: Option<&str>) {
    let filer =
        std::env::var("KFCHECK_TEST_S3_FILER").unwrap_or_else(|_| "http://127.0.0.1:18888".into());
    let url = format!("{filer}/buckets/mlpipeline/{object}");
    let mut c = Command::new("curl");
    c.args(["-sS", "-f"]);
    match content {
        Some(text) => {
            let d = tempfile::tempdir().unwrap();
            let f = d.path().join("numbers");
            std::fs::write(&f, text).unwrap();
            c.args(["-F", &format!("file=@{}", f.display()), &url]);
            let o = c.output().expect("curl");
            assert!(o.status.success(), "put {url}: {}", stderr(&o));
        }
        None => {
            let o = c.args(["-X", "DELETE", &url]).output().expect("curl");
            assert!(o.status.success(), "delete {url}: {}", stderr(&o));
        }
    }
}

/// The executor pod node of a task: its `pod-spec-patch` names the output artifacts' URIs.
fn executor(task: &str, dag: &str, artifacts: &[(&str, String)]) -> serde_json::Value {
    let outputs: serde_json::Map<String, serde_json::Value> = artifacts
        .iter()
        .map(|(n, uri)| {
            (
                n.to_string(),
                serde_json::json!({"artifacts": [{"name": n, "type": {"schemaTitle": "system.Dataset", "schemaVersion": "0.0.1"}, "uri": uri, "metadata": {}}]}),
            )
        })
        .collect();
    let input = serde_json::json!({"inputs": {"parameterValues": {"count": 10}},
        "outputs": {"artifacts": outputs, "outputFile": "/tmp/kfp_outputs/output_metadata.json"}});
    let patch = serde_json::json!({"containers": [{"name": "main", "image": "python:3.11-slim",
        "command": ["/var/run/argo/argoexec", "emissary", "--", "/kfp-launcher/launch", "--pipeline_name", "kfcheck-cpu-sample",
                    "--run_id", "parity-run-1", "--executor_input", input.to_string(), "--component_spec", "{}", "--", "sh", "-c", task]}]});
    serde_json::json!({"id": format!("{dag}-e"), "name": format!("w.root.{task}.executor"), "type": "Pod", "displayName": "executor",
        "templateName": "system-container-impl", "boundaryID": dag, "phase": "Succeeded",
        "startedAt": "2026-12-07T10:00:00Z", "finishedAt": "2026-12-07T10:00:05Z",
        "inputs": {"parameters": [{"name": "pod-spec-patch", "value": patch.to_string()}]},
        "outputs": {"exitCode": "0"}})
}

/// With `cached`, KFP's driver found sum-numbers in its cache: its executor was skipped.
fn workflow(ns: &str, run: &str, numbers_uri: String, cached: bool) -> String {
    let mut nodes = serde_json::Map::new();
    let mut add = |id: &str, v: serde_json::Value| {
        let mut v = v;
        v["id"] = id.into();
        nodes.insert(id.to_string(), v);
    };
    add(
        "w",
        serde_json::json!({"name": "w", "type": "DAG", "displayName": "w", "templateName": "entrypoint", "phase": "Succeeded"}),
    );
    for (i, task) in ["make-numbers", "sum-numbers", "check-total"]
        .iter()
        .enumerate()
    {
        add(
            &format!("d{i}"),
            serde_json::json!({"name": format!("w.root.{task}-driver"), "type": "Pod", "displayName": format!("{task}-driver"),
            "templateName": "system-container-driver", "phase": "Succeeded", "outputs": {"exitCode": "0"}}),
        );
        add(
            &format!("x{i}"),
            serde_json::json!({"name": format!("w.root.{task}"), "type": "DAG", "displayName": task,
            "templateName": "system-container-executor", "phase": "Succeeded"}),
        );
        let artifacts = if *task == "make-numbers" {
            vec![("numbers", numbers_uri.clone())]
        } else {
            vec![]
        };
        let mut e = executor(task, &format!("x{i}"), &artifacts);
        if cached && *task == "sum-numbers" {
            e["type"] = "Skipped".into();
            e["phase"] = "Skipped".into();
            e["outputs"] = serde_json::json!({});
        }
        add(&format!("x{i}-e"), e);
    }
    serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Workflow",
        "metadata": {"name": format!("kfcheck-cpu-sample-{run}"), "namespace": ns,
            "labels": {"pipeline/runid": run, "workflows.argoproj.io/controller-instanceid": "kfcheck-recorded-run"}},
        "spec": {"entrypoint": "entrypoint", "templates": [{"name": "entrypoint", "container": {"image": "busybox"}}]},
        "status": {"phase": "Succeeded", "startedAt": "2026-12-07T10:00:00Z", "finishedAt": "2026-12-07T10:00:30Z", "nodes": nodes}
    })
    .to_string()
}

/// The local run's manifest, as `kfcheck local-run` writes it for the CPU sample.
fn local_manifest(dir: &Path) -> String {
    std::fs::create_dir_all(dir.join("make-numbers/artifacts")).unwrap();
    std::fs::write(dir.join("make-numbers/artifacts/numbers"), NUMBERS).unwrap();
    let step = |task: &str, outputs: serde_json::Value| {
        serde_json::json!({"task": task, "image": "python:3.11-slim", "status": "succeeded", "exit_code": 0,
            "duration_ms": 900, "log": null, "log_tail": null, "error": null, "outputs": outputs})
    };
    let m = serde_json::json!({"schema_version": 1, "pipeline": "kfcheck-cpu-sample", "file": "kfcheck-cpu-sample.yaml",
    "run_id": "local", "started_at": "2026-12-07T09:00:00Z", "status": "succeeded", "parameters": {"count": "10"},
    "steps": [
        step("make-numbers", serde_json::json!({"artifacts/numbers": {"path": "make-numbers/artifacts/numbers", "sha256": sha256(NUMBERS), "bytes": NUMBERS.len()}})),
        step("sum-numbers", serde_json::json!({"parameters/total": {"path": "sum-numbers/parameters/total", "sha256": sha256("55"), "bytes": 2, "value": "55"}})),
        step("check-total", serde_json::json!({})),
    ]});
    let p = dir.join("manifest.json");
    std::fs::write(&p, m.to_string()).unwrap();
    p.display().to_string()
}

#[test]
fn parity_reads_a_kfp_v2_runs_workflow_and_its_artifacts_from_the_pipeline_root() {
    let Some(dir) = scenario_sandbox() else {
        return;
    };
    let (Ok(s3), Ok(keys)) = (
        std::env::var("KFCHECK_TEST_S3"),
        std::env::var("KFCHECK_TEST_S3_KEYS"),
    ) else {
        let _: Option<()> = unavailable(
            "KFCHECK_TEST_S3 is not set: scripts/test starts SeaweedFS",
            "KFCHECK_TEST_S3 not set (scripts/seaweedfs up)",
        );
        return;
    };
    let k = Kubectl::new(&dir);
    let ns = "kfcheck-parity";
    let _ = k.try_run(&["delete", "namespace", ns, "--wait=true"], None);
    k.run(&["create", "namespace", ns], None);
    // The profile's KFP artifact Secret, holding the profile's own key.
    let key = |f: &str| {
        std::fs::read_to_string(Path::new(&keys).join("kubeflow-user-example-com").join(f))
            .unwrap()
            .trim()
            .to_string()
    };
    k.run(
        &[
            "-n",
            ns,
            "create",
            "secret",
            "generic",
            "mlpipeline-minio-artifact",
            &format!("--from-literal=accesskey={}", key("accesskey")),
            &format!("--from-literal=secretkey={}", key("secretkey")),
        ],
        None,
    );
    let run = format!("parity-run-{}", std::process::id());
    let object = format!("{ROOT}/kfcheck-cpu-sample/{run}/make-numbers/5e1f/numbers");
    k.run(
        &["-n", ns, "create", "-f", "-"],
        Some(&workflow(
            ns,
            &run,
            format!("minio://mlpipeline/{object}"),
            false,
        )),
    );
    filer(&object, Some(NUMBERS));
    let work = tempfile::tempdir().unwrap();
    let manifest = local_manifest(work.path());
    let parity = |run: &str, extra: &[&str]| {
        let (c, text) = kfcheck_parity(
            work.path(),
            &dir,
            ns,
            &[&[manifest.as_str(), "--run", run][..], extra].concat(),
        );
        assert!(
            !text.contains(&key("secretkey")),
            "the secret key was printed:\n{text}"
        );
        (c, text)
    };

    // The artifact the launcher uploaded is the local one: the steps and the artifact match; the
    // output parameter is said to be out of reach, not counted as a match.
    let (c, out) = parity(&run, &["--store-endpoint", &s3]);
    assert_eq!(c, 0, "{out}");
    assert!(
        out.contains(&format!("parity: 3 step(s) and 1 output(s) match the cluster run (Workflow kfcheck-parity/kfcheck-cpu-sample-{run})")),
        "{out}"
    );
    assert!(
        out.contains("not compared: output parameters: KFP v2 keeps them in ML Metadata"),
        "{out}"
    );

    // Other bytes in the pipeline root: a difference naming the output.
    filer(&object, Some("1\n2\n3\n"));
    let (c, out) = parity(&run, &["--store-endpoint", &s3]);
    assert_eq!(c, 1, "{out}");
    assert!(
        out.contains("differs: make-numbers: output artifacts/numbers differs"),
        "{out}"
    );

    // Gone from the pipeline root: missing, a difference.
    filer(&object, None);
    let (c, out) = parity(&run, &["--store-endpoint", &s3]);
    assert_eq!(c, 1, "{out}");
    assert!(
        out.contains("make-numbers: output artifacts/numbers missing from the cluster run"),
        "{out}"
    );

    // No way to the store: undecided, with the reason, never a match.
    let (c, out) = parity(&run, &[]);
    assert_eq!(c, 3, "{out}");
    assert!(
        out.contains("not compared: make-numbers: artifacts/numbers at minio://mlpipeline/")
            && out.contains("--store-endpoint"),
        "{out}"
    );
    assert!(out.contains("could not be read: undecided"), "{out}");

    // A run in which KFP served sum-numbers from its cache: that step did not run, so the run
    // proves nothing about it: undecided, and said why.
    let cached_run = format!("{run}-cached");
    let cached_object = format!("{ROOT}/kfcheck-cpu-sample/{cached_run}/make-numbers/77aa/numbers");
    filer(&cached_object, Some(NUMBERS));
    k.run(
        &["-n", ns, "create", "-f", "-"],
        Some(&workflow(
            ns,
            &cached_run,
            format!("minio://mlpipeline/{cached_object}"),
            true,
        )),
    );
    let (c, out) = parity(&cached_run, &["--store-endpoint", &s3]);
    assert_eq!(c, 3, "{out}");
    assert!(
        out.contains("not compared: sum-numbers: served from KFP's cache")
            && out.contains("1 step(s) did not run: undecided"),
        "{out}"
    );
    filer(&cached_object, None);

    // The Workflow was left to its recorder: the sandbox's controller did not touch it.
    let phase = k.run(
        &[
            "-n",
            ns,
            "get",
            "workflow",
            &format!("kfcheck-cpu-sample-{run}"),
            "-o",
            "jsonpath={.status.phase}",
        ],
        None,
    );
    assert_eq!(phase, "Succeeded");
    k.run(&["delete", "namespace", ns, "--wait=false"], None);
}
