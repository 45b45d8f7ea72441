//! The sandbox's real node (scripts/sandbox node, docs/sandbox.md "The real node"): pods that
//! really run. A probe pod does a bucket round trip against fake-gcs-server with its projected
//! service-account token exchanged at a test STS (tests/common/sts.rs: Workload Identity
//! Federation through an `external_account` file) and kfcheck's result comes from the pod's log;
//! its service-account identity is checked with a TokenReview of the token read through `exec`; the notebook door runs the samples on a real Jupyter server in a
//! pod, reached through kfcheck's port-forward via the real kubelet. Every test ends by counting
//! the packets of the pod network that left by the machine's outward interface: any fails it.
//!
//! Needs KFCHECK_TEST_NODE_SANDBOX (scripts/test sets it after `scripts/sandbox node up` and
//! loads the probe and python images) and, for the bucket, KFCHECK_TEST_GCS.

mod common;
#[path = "common/sts.rs"]
mod sts;

use common::{check, code, json, kfcheck, repo, stderr, stdout, unavailable, write, Kubectl};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn node_sandbox() -> Option<PathBuf> {
    match std::env::var("KFCHECK_TEST_NODE_SANDBOX") {
        Ok(d) if Path::new(&d).join("node/ports").is_file() => Some(PathBuf::from(d)),
        _ => unavailable(
            "KFCHECK_TEST_NODE_SANDBOX is not set: scripts/test brings the real node up",
            "KFCHECK_TEST_NODE_SANDBOX not set (KFCHECK_SANDBOX_DIR=target/sandbox-node scripts/sandbox up && ... node up, then export it)",
        ),
    }
}

/// fake-gcs-server's address on loopback (scripts/test starts it).
fn fake_gcs() -> Option<String> {
    match std::env::var("KFCHECK_TEST_GCS") {
        Ok(a) => Some(a),
        Err(_) => unavailable(
            "KFCHECK_TEST_GCS is not set: scripts/test starts fake-gcs-server",
            "KFCHECK_TEST_GCS not set (scripts/fake-gcs up)",
        ),
    }
}

/// The node's IP (its pod bridge's host address): the only host address pods can reach.
fn node_ip(dir: &Path) -> String {
    let ports = std::fs::read_to_string(dir.join("node/ports")).unwrap();
    ports
        .lines()
        .find_map(|l| l.strip_prefix("node_ip="))
        .expect("node_ip in node/ports")
        .to_string()
}

/// A TCP relay on `ip` (an address on this machine) to `target`; returns its port. Lives as
/// long as the test process.
fn relay(ip: &str, target: String) -> u16 {
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for inbound in listener.incoming().flatten() {
            let target = target.clone();
            std::thread::spawn(move || {
                let Ok(outbound) = TcpStream::connect(&target) else {
                    return;
                };
                let (mut a, mut b) = (inbound.try_clone().unwrap(), outbound.try_clone().unwrap());
                let up = std::thread::spawn(move || {
                    let _ = std::io::copy(&mut a, &mut b);
                    let _ = b.shutdown(std::net::Shutdown::Write);
                });
                let (mut c, mut d) = (outbound, inbound);
                let _ = std::io::copy(&mut c, &mut d);
                let _ = d.shutdown(std::net::Shutdown::Write);
                let _ = up.join();
            });
        }
    });
    port
}

/// A namespace of the test's own, deleted when dropped.
struct Namespace<'a> {
    k: &'a Kubectl,
    name: String,
}

impl<'a> Namespace<'a> {
    fn new(k: &'a Kubectl, prefix: &str) -> Namespace<'a> {
        let name = format!("{prefix}-{}", std::process::id());
        let _ = k.try_run(&["delete", "namespace", &name, "--wait=true"], None);
        k.run(&["create", "namespace", &name], None);
        k.run(
            &[
                "label",
                "namespace",
                &name,
                "app.kubernetes.io/managed-by=kfcheck",
            ],
            None,
        );
        Namespace { k, name }
    }
}

impl Drop for Namespace<'_> {
    fn drop(&mut self) {
        let _ = self
            .k
            .try_run(&["delete", "namespace", &self.name, "--wait=false"], None);
    }
}

/// No packet of the node's pod network has left by the machine's outward interface.
fn assert_no_traffic_out(dir: &Path) {
    let o = Command::new(repo().join("scripts/sandbox"))
        .args(["node", "traffic"])
        .env("KFCHECK_SANDBOX_DIR", dir)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "scripts/sandbox node traffic: {}",
        stderr(&o)
    );
    assert_eq!(
        stdout(&o).trim(),
        "0",
        "packets of the pod network left the machine by its outward interface"
    );
}

const NODE_PLACEMENT: &str = r#"
  nodeSelector: {kfcheck.dev/node: real}
  tolerations: [{key: kfcheck.dev/real-node, operator: Exists, effect: NoSchedule}]"#;

/// The last storage probe line in a pod's log.
fn probe_line(k: &Kubectl, ns: &str, pod: &str) -> (serde_json::Value, String) {
    let log = k.run(&["-n", ns, "logs", pod], None);
    let result = log
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["probe"] == "storage")
        .unwrap_or_else(|| panic!("no probe line in the pod's log:\n{log}"));
    (result, log)
}

/// Who a token is for `audience`, as the sandbox's API server says in a TokenReview: the test
/// STS's check (tests/common/sts.rs). kubectl's own errors never quote the token.
fn token_review(dir: &Path, token: &str, audience: &str) -> Result<String, String> {
    let review = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token, "audiences": [audience]},
    });
    let o = Kubectl::new(dir).try_run(
        &["create", "-o", "json", "-f", "-"],
        Some(&review.to_string()),
    );
    if !o.status.success() {
        return Err("the TokenReview was not created".into());
    }
    let answer: serde_json::Value =
        serde_json::from_str(&stdout(&o)).map_err(|_| "the TokenReview answer is not JSON")?;
    let status = &answer["status"];
    match status["user"]["username"].as_str() {
        Some(user) if status["authenticated"] == true => Ok(user.to_string()),
        _ => Err(status["error"]
            .as_str()
            .unwrap_or("not authenticated")
            .to_string()),
    }
}

#[test]
fn a_probe_pod_on_the_real_node_round_trips_the_bucket_and_carries_its_service_account() {
    let Some(dir) = node_sandbox() else {
        return;
    };
    let Some(gcs) = fake_gcs() else {
        return;
    };
    let k = Kubectl::new(&dir);
    let ns = Namespace::new(&k, "kfcheck-node-probe");
    let ip = node_ip(&dir);
    for sa in ["storage-probe", "not-trusted"] {
        k.run(&["-n", &ns.name, "create", "serviceaccount", sa], None);
    }
    // Workload Identity Federation as on a non-GKE cluster: the pod's projected token is
    // exchanged at an STS (the test's, which asks the API server whose token it is and trusts
    // storage-probe only) for the access token the gate in front of fake-gcs-server wants.
    let trusted = format!("system:serviceaccount:{}:storage-probe", ns.name);
    let scratch = tempfile::tempdir().unwrap();
    let tls = sts::Tls::for_ip(scratch.path(), &ip);
    let review_dir = dir.clone();
    let sts = sts::Sts::start(
        &ip,
        &tls,
        "kfcheck-storage",
        &trusted,
        std::sync::Arc::new(move |token: &str, audience: &str| {
            token_review(&review_dir, token, audience)
        }),
    );
    let gate = sts::Gate::start(&ip, &tls, gcs, sts.issued.clone());
    let adc = serde_json::json!({
        "type": "external_account",
        "audience": "kfcheck-storage",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": sts.url,
        "credential_source": {"file": "/var/run/secrets/tokens/storage-token", "format": {"type": "text"}},
    });
    let adc_file = write(scratch.path(), "external_account.json", &adc.to_string());
    let ca_file = write(scratch.path(), "ca.crt", &tls.ca_pem);
    k.run(
        &[
            "-n",
            &ns.name,
            "create",
            "configmap",
            "storage-adc",
            &format!("--from-file=external_account.json={}", adc_file.display()),
            &format!("--from-file=ca.crt={}", ca_file.display()),
        ],
        None,
    );
    let run_id = format!("node-{}", std::process::id());
    let args = format!(
        "args: [probe, storage, --bucket, kfcheck-test, --run-id, {run_id}, --size, 256KiB, --endpoint, \"{}\"]",
        gate.url
    );
    // The identity the pod's workload presents (an audience of its own), projected, and the
    // ADC file that says where to exchange it.
    let pod = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: probe, labels: {{app.kubernetes.io/managed-by: kfcheck}}}}
spec:
  restartPolicy: Never
  serviceAccountName: storage-probe{NODE_PLACEMENT}
  containers:
  - name: probe
    image: kfcheck.local/probe:dev
    {args}
    env:
    - {{name: GOOGLE_APPLICATION_CREDENTIALS, value: /etc/kfcheck/adc/external_account.json}}
    - {{name: SSL_CERT_FILE, value: /etc/kfcheck/adc/ca.crt}}
    volumeMounts:
    - {{name: identity, mountPath: /var/run/secrets/tokens, readOnly: true}}
    - {{name: adc, mountPath: /etc/kfcheck/adc, readOnly: true}}
  volumes:
  - name: identity
    projected:
      sources:
      - serviceAccountToken: {{path: storage-token, audience: kfcheck-storage, expirationSeconds: 3600}}
  - name: adc
    configMap: {{name: storage-adc}}
"#
    );
    k.run(&["-n", &ns.name, "apply", "-f", "-"], Some(&pod));
    k.wait_for(
        &ns.name,
        "pod/probe",
        "{.status.phase}",
        "Succeeded",
        Duration::from_secs(90),
    );
    // The result, from the pod's log (through the real kubelet).
    let (result, log) = probe_line(&k, &ns.name, "probe");
    assert_eq!(result["status"], "passed", "{result:#}");
    assert_eq!(result["run_id"], run_id.as_str(), "{result:#}");
    let ops: Vec<&str> = result["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["op"].as_str())
        .collect();
    for op in ["list", "write", "read", "delete"] {
        assert!(ops.contains(&op), "{op} missing from {ops:?}");
    }
    // Object names carry the host name: the pod's.
    assert!(
        result["object"].as_str().unwrap().ends_with("-probe.bin"),
        "{result:#}"
    );
    assert_eq!(
        result["credentials"]["kind"], "external-account",
        "{result:#}"
    );
    assert!(!log.contains(&sts.issued), "the access token is in the log");
    // The STS saw exactly the pod's ServiceAccount, and every storage call carried its token.
    assert_eq!(*sts.seen.lock().unwrap(), vec![trusted.clone()]);
    let passed = gate.seen.lock().unwrap().clone();
    assert!(passed.iter().all(|p| p.authorized), "{passed:?}");
    for (op, method, part) in [
        ("list", "GET", "/storage/v1/b/kfcheck-test/o?prefix="),
        (
            "write",
            "POST",
            "/upload/storage/v1/b/kfcheck-test/o?uploadType=media",
        ),
        ("read", "GET", "?alt=media"),
        ("delete", "DELETE", "/storage/v1/b/kfcheck-test/o/"),
    ] {
        assert!(
            passed
                .iter()
                .any(|p| p.method == method && p.target.contains(part)),
            "no {op} through the gate: {passed:?}"
        );
    }

    // A ServiceAccount the STS does not trust: the probe fails, names the refusal, leaks nothing.
    let refused = pod.replace("name: probe,", "name: refused,").replace(
        "serviceAccountName: storage-probe",
        "serviceAccountName: not-trusted",
    );
    k.run(&["-n", &ns.name, "apply", "-f", "-"], Some(&refused));
    k.wait_for(
        &ns.name,
        "pod/refused",
        "{.status.phase}",
        "Failed",
        Duration::from_secs(90),
    );
    let (result, log) = probe_line(&k, &ns.name, "refused");
    assert_eq!(result["status"], "failed", "{result:#}");
    assert_eq!(result["error"]["class"], "token-refused", "{result:#}");
    let message = result["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "the STS {} refused the token exchange (403): unauthorized_client: system:serviceaccount:{}:not-trusted is not allowed",
            sts.url, ns.name
        )),
        "{message}"
    );
    // Every ServiceAccount token is a JWT, and JWTs start with eyJ.
    assert!(!log.contains("eyJ") && !log.contains(&sts.issued), "{log}");
    assert_eq!(
        sts.seen.lock().unwrap().last().unwrap(),
        &format!("system:serviceaccount:{}:not-trusted", ns.name)
    );
    assert_eq!(gate.seen.lock().unwrap().len(), passed.len());

    // The same pod again, kept running, to read its projected identity through exec.
    let keep = pod
        .replace("name: probe,", "name: identity,")
        .replace(&args, "command: [/bin/sleep, \"3600\"]");
    k.run(&["-n", &ns.name, "apply", "-f", "-"], Some(&keep));
    k.wait_for(
        &ns.name,
        "pod/identity",
        "{.status.phase}",
        "Running",
        Duration::from_secs(60),
    );
    let token = k.run(
        &[
            "-n",
            &ns.name,
            "exec",
            "identity",
            "--",
            "cat",
            "/var/run/secrets/tokens/storage-token",
        ],
        None,
    );
    let review = serde_json::json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenReview",
        "spec": {"token": token.trim(), "audiences": ["kfcheck-storage"]},
    });
    let answer = k.run(
        &["create", "-o", "json", "-f", "-"],
        Some(&review.to_string()),
    );
    let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
    assert_eq!(
        answer["status"]["authenticated"], true,
        "{:#}",
        answer["status"]
    );
    assert_eq!(
        answer["status"]["user"]["username"],
        format!("system:serviceaccount:{}:storage-probe", ns.name).as_str()
    );
    // Bound to the pod that mounts it, on the real node.
    let extra = answer["status"]["user"]["extra"].to_string();
    assert!(
        extra.contains("identity") && extra.contains("kfcheck-node"),
        "{extra}"
    );
    assert_no_traffic_out(&dir);
}

#[test]
fn the_notebook_door_runs_the_samples_on_a_real_jupyter_server_in_a_pod() {
    use common::emulator::Emulator;
    let Some(dir) = node_sandbox() else {
        return;
    };
    let k = Kubectl::new(&dir);
    let kubeconfig = dir.join("kubeconfig");
    let kc = kubeconfig.to_str().unwrap();
    let crds = std::env::var("KFCHECK_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join("../shared"))
        .join("kubeflow/crds/kubeflow.org_notebooks.yaml");
    k.run(
        &["apply", "--server-side", "-f", crds.to_str().unwrap()],
        None,
    );
    // Polled: `kubectl wait` right after the apply fails on a CRD with no conditions yet.
    k.wait_for(
        "default",
        "crd/notebooks.kubeflow.org",
        "{.status.conditions[?(@.type==\"Established\")].status}",
        "True",
        Duration::from_secs(60),
    );
    let ns = Namespace::new(&k, "kfcheck-node-user");
    let nb = "real-notebook";
    let sa = format!("system:serviceaccount:{}:default-editor", ns.name);
    let Some(emu) = Emulator::start(&[
        "--multi-user",
        "--token-review",
        kc,
        "--grant",
        &format!("{sa}={}", ns.name),
    ]) else {
        return;
    };
    let ip = node_ip(&dir);
    let pipelines = format!(
        "http://{ip}:{}",
        relay(&ip, emu.url.trim_start_matches("http://").to_string())
    );
    k.run(
        &["-n", &ns.name, "create", "serviceaccount", "default-editor"],
        None,
    );
    let prefix = format!("/notebook/{}/{nb}", ns.name);
    // What Kubeflow's notebook controller makes of a Notebook, with the pipelines token that
    // Kubeflow's PodDefault projects; the server is a real Jupyter Server in the python image.
    let objects = format!(
        r#"
apiVersion: kubeflow.org/v1
kind: Notebook
metadata: {{name: {nb}, labels: {{access-ml-pipeline: "true"}}}}
spec:
  template:
    spec:
      containers:
      - name: {nb}
        image: kfcheck.local/python:3.11
---
apiVersion: v1
kind: Pod
metadata: {{name: {nb}-0, labels: {{statefulset: {nb}, notebook-name: {nb}, access-ml-pipeline: "true"}}}}
spec:
  serviceAccountName: default-editor{NODE_PLACEMENT}
  containers:
  - name: {nb}
    image: kfcheck.local/python:3.11
    command: [python3, -m, jupyter_server, --ip=0.0.0.0, --port=8888, --allow-root, "--ServerApp.base_url={prefix}/", --IdentityProvider.token=, --ServerApp.root_dir=/tmp]
    env:
    - {{name: NB_PREFIX, value: "{prefix}"}}
    - {{name: HOME, value: /tmp}}
    - {{name: KF_PIPELINES_ENDPOINT, value: "{pipelines}"}}
    - {{name: KF_PIPELINES_SA_TOKEN_PATH, value: /var/run/secrets/kubeflow/pipelines/token}}
    ports: [{{name: notebook-port, containerPort: 8888}}]
    readinessProbe: {{httpGet: {{path: "{prefix}/api", port: 8888}}, periodSeconds: 1}}
    volumeMounts: [{{name: volume-kf-pipeline-token, mountPath: /var/run/secrets/kubeflow/pipelines, readOnly: true}}]
  volumes:
  - name: volume-kf-pipeline-token
    projected:
      sources:
      - serviceAccountToken: {{path: token, audience: pipelines.kubeflow.org, expirationSeconds: 7200}}
---
apiVersion: v1
kind: Service
metadata: {{name: {nb}}}
spec:
  selector: {{statefulset: {nb}}}
  ports: [{{name: http-{nb}, port: 80, targetPort: 8888}}]
"#
    );
    k.run(&["-n", &ns.name, "apply", "-f", "-"], Some(&objects));
    k.wait_for(
        &ns.name,
        &format!("pod/{nb}-0"),
        "{.status.conditions[?(@.type==\"Ready\")].status}",
        "True",
        Duration::from_secs(90),
    );
    let suite = tempfile::tempdir().unwrap();
    for id in ["notebook-cpu-sample", "notebook-gpu-sample"] {
        let text = std::fs::read_to_string(repo().join(format!("checks/{id}.yaml"))).unwrap();
        write(
            suite.path(),
            &format!("{id}.yaml"),
            &format!("{text}  notebook: {nb}\n"),
        );
    }
    let o = kfcheck(&[
        "--kubeconfig",
        kc,
        "-n",
        &ns.name,
        "--suite",
        suite.path().to_str().unwrap(),
        "run",
        "notebook",
        "-o",
        "json",
    ]);
    let doc = json(&o);
    assert_eq!(code(&o), 0, "{doc:#}\n{}", stderr(&o));
    for id in ["notebook-cpu-sample", "notebook-gpu-sample"] {
        let c = check(&doc, id);
        assert_eq!(c["status"], "passed", "{c:#}");
        let notes = c["notes"].to_string();
        assert!(notes.contains(&format!("pod {nb}-0")), "{notes}");
    }
    // Both runs were made as the pod's own service account (its projected token, reviewed by
    // the emulator against the apiserver).
    emu.assert_runs_made_as(2, &sa);
    // kfcheck's kernels are gone from the real server.
    let kernels = k.run(
        &["-n", &ns.name, "exec", &format!("{nb}-0"), "--", "python3", "-c",
          &format!("import json,urllib.request;print(len(json.load(urllib.request.urlopen('http://127.0.0.1:8888{prefix}/api/kernels'))))")],
        None,
    );
    assert_eq!(kernels.trim(), "0", "kfcheck left kernels on the server");
    assert_no_traffic_out(&dir);
}

#[test]
fn an_image_that_was_not_imported_fails_at_once_without_leaving_the_machine() {
    let Some(dir) = node_sandbox() else {
        return;
    };
    let k = Kubectl::new(&dir);
    let ns = Namespace::new(&k, "kfcheck-node-pull");
    let pod = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: pull}}
spec:
  restartPolicy: Never{NODE_PLACEMENT}
  containers:
  - {{name: pull, image: "registry.example.com/kfcheck/absent:1.0"}}
"#
    );
    k.run(&["-n", &ns.name, "apply", "-f", "-"], Some(&pod));
    let end = Instant::now() + Duration::from_secs(60);
    let reason = loop {
        let r = k.run(
            &[
                "-n",
                &ns.name,
                "get",
                "pod",
                "pull",
                "-o",
                "jsonpath={.status.containerStatuses[0].state.waiting.reason}",
            ],
            None,
        );
        if r == "ErrImagePull" || r == "ImagePullBackOff" {
            break r;
        }
        assert!(Instant::now() < end, "the pull did not fail: {r:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let events = k.run(&["-n", &ns.name, "get", "events", "-o", "json"], None);
    assert!(
        events.contains("127.0.0.1:9"),
        "the pull went elsewhere than the closed local port ({reason}):\n{events}"
    );
    assert_no_traffic_out(&dir);
}

#[test]
fn the_pod_storage_check_round_trips_the_bucket_from_a_pod_and_names_what_stops_it() {
    let Some(dir) = node_sandbox() else {
        return;
    };
    let Some(gcs) = fake_gcs() else {
        return;
    };
    let k = Kubectl::new(&dir);
    let ns = Namespace::new(&k, "kfcheck-node-storage");
    k.run(
        &["-n", &ns.name, "create", "serviceaccount", "default-editor"],
        None,
    );
    let ip = node_ip(&dir);
    let relayed = format!("{ip}:{}", relay(&ip, gcs.clone()));
    let placement = "  node_selector: {kfcheck.dev/node: real}\n  tolerations: [{key: kfcheck.dev/real-node, operator: Exists, effect: NoSchedule}]\n";
    let suite = tempfile::tempdir().unwrap();
    let add = |id: &str, extra: &str| {
        let image = if extra.contains("image:") {
            ""
        } else {
            "  image: kfcheck.local/probe:dev\n"
        };
        write(
            suite.path(),
            &format!("{id}.yaml"),
            &format!("id: {id}\nkind: pod-storage\ntitle: t\ncategory: secrets\nparams:\n  bucket: kfcheck-test\n  size: 200KiB\n  timeout: 60s\n{placement}{image}{extra}"),
        );
    };
    // The pod reaches the emulator at the node's address; the host (verify_result) at its own.
    add(
        "pod-storage",
        &format!("  verify_result: true\n  env: {{STORAGE_EMULATOR_HOST: \"{relayed}\"}}\n"),
    );
    add(
        "pod-storage-no-secret",
        "  secret: user-gcp-sa\n  secret_key: user-gcp-sa.json\n",
    );
    add(
        "pod-storage-no-image",
        "  image: kfcheck.local/not-imported:1.0\n",
    );
    add("pod-storage-no-account", "  service_account: nobody\n");
    let mut c = common::kfcheck_command(suite.path());
    c.args([
        "--kubeconfig",
        dir.join("kubeconfig").to_str().unwrap(),
        "-n",
        &ns.name,
        "--suite",
        suite.path().to_str().unwrap(),
        "run",
        "pod-storage",
        "pod-storage-no-secret",
        "pod-storage-no-image",
        "pod-storage-no-account",
        "-o",
        "json",
    ])
    .env("STORAGE_EMULATOR_HOST", &gcs);
    let o = c.output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("exit {}: {}{}", code(&o), stdout(&o), stderr(&o)));
    assert_eq!(code(&o), 1, "{doc:#}\n{}", stderr(&o));
    let ok = check(&doc, "pod-storage");
    assert_eq!(ok["status"], "passed", "{ok:#}");
    let notes = ok["notes"].to_string();
    assert!(notes.contains("round trip of 204800 bytes"), "{notes}");
    assert!(notes.contains("read back from the host"), "{notes}");
    assert!(notes.contains("node kfcheck-node"), "{notes}");
    let secret = check(&doc, "pod-storage-no-secret");
    assert_eq!(
        secret["findings"][0]["rule"], "storage-secret-missing",
        "{secret:#}"
    );
    let image = check(&doc, "pod-storage-no-image");
    assert_eq!(
        image["findings"][0]["rule"], "storage-pod-not-started",
        "{image:#}"
    );
    assert!(
        image["findings"][0].to_string().contains("ErrImagePull")
            || image["findings"][0]
                .to_string()
                .contains("ImagePullBackOff"),
        "{image:#}"
    );
    let account = check(&doc, "pod-storage-no-account");
    assert_eq!(
        account["findings"][0]["rule"], "storage-service-account-missing",
        "{account:#}"
    );
    // Nothing of kfcheck's is left: pods deleted, objects under the run's prefix removed.
    let left = k.run(
        &[
            "-n",
            &ns.name,
            "get",
            "pods",
            "-l",
            "app.kubernetes.io/managed-by=kfcheck",
            "-o",
            "name",
        ],
        None,
    );
    assert_eq!(left.trim(), "", "pods left: {left}");
    assert_no_traffic_out(&dir);
}

#[test]
fn a_cpu_pod_on_the_real_node_sees_no_gpu_and_an_unpullable_image_is_named() {
    let Some(dir) = node_sandbox() else {
        return;
    };
    let k = Kubectl::new(&dir);
    let ns = Namespace::new(&k, "kfcheck-node-gpu-isolation");
    k.run(
        &["-n", &ns.name, "create", "serviceaccount", "default-editor"],
        None,
    );
    let suite = tempfile::tempdir().unwrap();
    // The real node offers no GPU, so it is named; the pod tolerates its taint by itself.
    write(
        suite.path(),
        "pod-cpu-no-gpu.yaml",
        "id: pod-cpu-no-gpu\nkind: pod-gpu-isolation\ntitle: t\ncategory: gpu\nparams:\n  node: kfcheck-node\n  timeout: 60s\n",
    );
    write(
        suite.path(),
        "pod-cpu-no-gpu-no-image.yaml",
        "id: pod-cpu-no-gpu-no-image\nkind: pod-gpu-isolation\ntitle: t\ncategory: gpu\nparams:\n  node: kfcheck-node\n  image: kfcheck.local/not-imported:1.0\n  timeout: 30s\n",
    );
    let mut c = common::kfcheck_command(suite.path());
    c.args([
        "--kubeconfig",
        dir.join("kubeconfig").to_str().unwrap(),
        "-n",
        &ns.name,
        "--suite",
        suite.path().to_str().unwrap(),
        "--probe-image",
        "kfcheck.local/probe:dev",
        "run",
        "pod-cpu-no-gpu",
        "pod-cpu-no-gpu-no-image",
        "-o",
        "json",
    ]);
    let o = c.output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("exit {}: {}{}", code(&o), stdout(&o), stderr(&o)));
    let ok = check(&doc, "pod-cpu-no-gpu");
    assert_eq!(ok["status"], "passed", "{ok:#}");
    let notes = ok["notes"].to_string();
    assert!(
        notes.contains(
            "a CPU pod on GPU node kfcheck-node (NVIDIA_VISIBLE_DEVICES=all) sees no GPU"
        ),
        "the probe really ran in the pod and read its /dev: {notes}"
    );
    let image = check(&doc, "pod-cpu-no-gpu-no-image");
    assert_eq!(
        image["findings"][0]["rule"], "gpu-isolation-pod-not-started",
        "{image:#}"
    );
    let left = k.run(
        &[
            "-n",
            &ns.name,
            "get",
            "pods",
            "-l",
            "app.kubernetes.io/managed-by=kfcheck",
            "-o",
            "name",
        ],
        None,
    );
    assert_eq!(left.trim(), "", "pods left: {left}");
    assert_no_traffic_out(&dir);
}

#[test]
fn the_rest_door_reads_the_gpu_steps_probe_line_from_its_real_pods_log() {
    use common::emulator::Emulator;
    let Some(dir) = node_sandbox() else {
        return;
    };
    let k = Kubectl::new(&dir);
    let ns = Namespace::new(&k, "kfcheck-node-rest-gpu");
    // The GPU step's pod, for real: the loaded probe in a pod the device plugin gave no GPU.
    let pod = format!(
        r#"
apiVersion: v1
kind: Pod
metadata: {{name: gpu-step, labels: {{app.kubernetes.io/managed-by: kfcheck-test}}}}
spec:
  restartPolicy: Never{NODE_PLACEMENT}
  containers:
  - name: main
    image: kfcheck.local/probe:dev
    args: [probe, gpu, --expect, "0", --load, --seconds, "1"]
"#
    );
    k.run(&["-n", &ns.name, "apply", "-f", "-"], Some(&pod));
    k.wait_for(
        &ns.name,
        "pod/gpu-step",
        "{.status.phase}",
        "Succeeded",
        Duration::from_secs(90),
    );
    // KFP (the emulator) reports that pod as the GPU sample's gpu-probe task.
    let Some(emu) = Emulator::start(&[]) else {
        return;
    };
    emu.script(
        serde_json::json!({"runs": [{"match": "*gpu-sample*", "pods": {"gpu-probe": "gpu-step"}}]}),
    );
    let o = common::kfcheck_command(&repo())
        .args([
            "--kubeconfig",
            dir.join("kubeconfig").to_str().unwrap(),
            "--kfp-endpoint",
            &emu.url,
            "--probe-image",
            "kfcheck.local/probe:dev",
            "run",
            "kfp-gpu-sample",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let doc = json(&o);
    let c = check(&doc, "kfp-gpu-sample");
    // The probe in that pod could load nothing (no GPU was given): the check cannot decide, and
    // says which layer is missing, read from the pod's log through the real kubelet.
    assert_eq!(c["status"], "errored", "{c:#}\n{}", stderr(&o));
    let why = c.to_string();
    assert!(
        why.contains("no GPU could be loaded (device-plugin)"),
        "{why}"
    );
    assert_eq!(code(&o), 3, "{doc:#}");
    assert_no_traffic_out(&dir);
}

/// SeaweedFS on the host (scripts/test starts it) and its per-profile key folders.
fn seaweedfs() -> Option<(String, PathBuf)> {
    match (
        std::env::var("KFCHECK_TEST_S3"),
        std::env::var("KFCHECK_TEST_S3_KEYS"),
    ) {
        (Ok(e), Ok(k)) => Some((e, PathBuf::from(k))),
        _ => unavailable(
            "KFCHECK_TEST_S3 is not set: scripts/test starts SeaweedFS",
            "KFCHECK_TEST_S3 not set (scripts/seaweedfs up)",
        ),
    }
}

#[test]
fn the_io_sweep_runs_probe_pods_as_the_profile_with_kfps_artifact_secret() {
    let Some(dir) = node_sandbox() else {
        return;
    };
    let Some((s3, keys)) = seaweedfs() else {
        return;
    };
    let k = Kubectl::new(&dir);
    let ns = Namespace::new(&k, "kfcheck-node-io");
    k.run(
        &["-n", &ns.name, "create", "serviceaccount", "default-editor"],
        None,
    );
    // The Secret KFP's profile controller makes: the profile's own S3 user, limited to its
    // prefix of the artifact bucket.
    let user = keys.join("kubeflow-user-example-com");
    let from = |key: &str| format!("--from-file={key}={}", user.join(key).display());
    k.run(
        &[
            "-n",
            &ns.name,
            "create",
            "secret",
            "generic",
            "mlpipeline-minio-artifact",
            &from("accesskey"),
            &from("secretkey"),
        ],
        None,
    );
    let ip = node_ip(&dir);
    let target = s3.trim_start_matches("http://").to_string();
    let relayed = format!("http://{ip}:{}", relay(&ip, target));
    let prefix = "private-artifacts/kubeflow-user-example-com/kfcheck-pods";
    let suite = tempfile::tempdir().unwrap();
    let add = |id: &str, extra: &str| {
        write(
            suite.path(),
            &format!("{id}.yaml"),
            &format!("id: {id}\nkind: io-sweep\ntitle: t\ncategory: storage\nparams:\n  from: pod\n  bucket: minio://mlpipeline\n  endpoint: {relayed}\n  prefix: {prefix}\n  image: kfcheck.local/probe:dev\n  object_size: 256KiB\n  seconds: 2\n  concurrency: [1, 2]\n  start_lead: 8s\n  node_selector: {{kfcheck.dev/node: real}}\n  tolerations: [{{key: kfcheck.dev/real-node, operator: Exists, effect: NoSchedule}}]\n{extra}"),
        );
    };
    add("io-pods", "");
    add("io-pods-no-secret", "  s3_secret: no-such-secret\n");
    // The round trip from a pod of the profile with the same Secret: its own prefix, and
    // another profile's, which its key may not write.
    let roundtrip = |id: &str, owner: &str| {
        write(
            suite.path(),
            &format!("{id}.yaml"),
            &format!("id: {id}\nkind: storage-roundtrip\ntitle: t\ncategory: storage\nparams:\n  from: pod\n  bucket: minio://mlpipeline\n  endpoint: {relayed}\n  prefix: private-artifacts/{owner}/kfcheck\n  image: kfcheck.local/probe:dev\n  size: 100KiB\n  timeout: 60s\n  node_selector: {{kfcheck.dev/node: real}}\n  tolerations: [{{key: kfcheck.dev/real-node, operator: Exists, effect: NoSchedule}}]\n"),
        );
    };
    roundtrip("pod-s3", "kubeflow-user-example-com");
    roundtrip("pod-s3-other-profile", "team-gpu");
    let mut c = common::kfcheck_command(suite.path());
    c.args([
        "--kubeconfig",
        dir.join("kubeconfig").to_str().unwrap(),
        "-n",
        &ns.name,
        "--suite",
        suite.path().to_str().unwrap(),
        "run",
        "io-pods",
        "io-pods-no-secret",
        "pod-s3",
        "pod-s3-other-profile",
        "-o",
        "json",
    ]);
    let o = c.output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("exit {}: {}{}", code(&o), stdout(&o), stderr(&o)));
    assert_eq!(code(&o), 1, "{doc:#}\n{}", stderr(&o));
    let ok = check(&doc, "io-pods");
    assert!(
        ok["status"] == "passed" || ok["status"] == "warned",
        "{ok:#}"
    );
    let curve = &ok["figures"]["io_sweep"];
    assert_eq!(curve["from"], "pod");
    let steps = curve["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{curve:#}");
    for s in steps {
        assert_eq!(
            s["probes_measured"], s["concurrency"],
            "every pod's line read: {curve:#}"
        );
        assert!(s["mb_per_s"].as_f64().unwrap() > 0.0, "{s}");
    }
    let own = check(&doc, "pod-s3");
    assert_eq!(own["status"], "passed", "{own:#}");
    assert!(
        own["notes"]
            .to_string()
            .contains("mlpipeline-minio-artifact (accesskey, secretkey)"),
        "{own:#}"
    );
    let other = check(&doc, "pod-s3-other-profile");
    assert_eq!(
        other["findings"][0]["rule"], "storage-denied-in-container",
        "{other:#}"
    );
    let missing = check(&doc, "io-pods-no-secret");
    assert_eq!(
        missing["findings"][0]["rule"], "io-secret-missing",
        "{missing:#}"
    );
    let left = k.run(
        &[
            "-n",
            &ns.name,
            "get",
            "pods",
            "-l",
            "app.kubernetes.io/managed-by=kfcheck",
            "-o",
            "name",
        ],
        None,
    );
    assert_eq!(left.trim(), "", "pods left: {left}");
    let filer =
        std::env::var("KFCHECK_TEST_S3_FILER").unwrap_or_else(|_| "http://127.0.0.1:18888".into());
    assert_eq!(
        common::filer_count(&[], &filer, "mlpipeline", &format!("{prefix}/")),
        0,
        "objects left under {prefix}"
    );
    assert_no_traffic_out(&dir);
}

/// The test's Profiles and their namespaces on the node's cluster, deleted when dropped.
struct NodeProfiles<'a>(&'a Kubectl, Vec<String>);

impl Drop for NodeProfiles<'_> {
    fn drop(&mut self) {
        for p in &self.1 {
            let _ = self
                .0
                .try_run(&["delete", "profile", p, "--wait=false"], None);
            let _ = self
                .0
                .try_run(&["delete", "namespace", p, "--wait=false"], None);
        }
    }
}

#[test]
fn the_artifact_store_is_proven_from_a_pod_of_each_profile_and_a_blocked_way_is_named() {
    let Some(dir) = node_sandbox() else {
        return;
    };
    let Some((s3, keys)) = seaweedfs() else {
        return;
    };
    let k = Kubectl::new(&dir);
    // This cluster has no Kubeflow CRDs but Profile is what artifact-store reads.
    let shared = std::env::var("KFCHECK_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join("../shared"));
    let crd = shared.join("kubeflow/crds/kubeflow.org_profiles.yaml");
    k.run(&["apply", "-f", crd.to_str().unwrap()], None);
    k.run(
        &[
            "wait",
            "--for=condition=Established",
            "--timeout=60s",
            "crd/profiles.kubeflow.org",
        ],
        None,
    );
    // Named as the store's users, whose rights stop at private-artifacts/<name>/.
    let profiles = ["kfcheck-as-a", "kfcheck-as-b"];
    let _cleanup = NodeProfiles(&k, profiles.iter().map(|p| p.to_string()).collect());
    let ip = node_ip(&dir);
    let relayed = format!(
        "{ip}:{}",
        relay(&ip, s3.trim_start_matches("http://").to_string())
    );
    // A port on the node's address where nothing listens: the way from b's pods is blocked.
    let closed = {
        let l = TcpListener::bind((ip.as_str(), 0)).unwrap();
        format!("{ip}:{}", l.local_addr().unwrap().port())
    };
    let mut objects = String::new();
    for p in profiles {
        let _ = k.try_run(&["delete", "namespace", p, "--wait=true"], None);
        let endpoint = if p == "kfcheck-as-a" {
            &relayed
        } else {
            &closed
        };
        objects.push_str(&format!(
            "apiVersion: kubeflow.org/v1\nkind: Profile\nmetadata:\n  name: {p}\nspec:\n  owner: {{kind: User, name: {p}@example.com}}\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {p}\n---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default-editor\n  namespace: {p}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: artifact-repositories\n  namespace: {p}\n  annotations: {{workflows.argoproj.io/default-artifact-repository: default-namespaced}}\ndata:\n  default-namespaced: '{{\"s3\":{{\"endpoint\":\"{endpoint}\",\"bucket\":\"mlpipeline\",\"keyFormat\":\"private-artifacts/{p}/node/{{{{workflow.name}}}}\",\"insecure\":true,\"accessKeySecret\":{{\"name\":\"mlpipeline-minio-artifact\",\"key\":\"accesskey\"}},\"secretKeySecret\":{{\"name\":\"mlpipeline-minio-artifact\",\"key\":\"secretkey\"}}}}}}'\n---\n"
        ));
    }
    k.run(&["apply", "-f", "-"], Some(&objects));
    for p in profiles {
        let user = keys.join(p);
        let from = |key: &str| format!("--from-file={key}={}", user.join(key).display());
        k.run(
            &[
                "-n",
                p,
                "create",
                "secret",
                "generic",
                "mlpipeline-minio-artifact",
                &from("accesskey"),
                &from("secretkey"),
            ],
            None,
        );
    }
    // `kfcheck run storage` as a platform engineer would run it against this sandbox: the
    // default storage checks, given the bucket, the endpoint and the keys (a suite of overrides).
    let suite = tempfile::tempdir().unwrap();
    let placement = "  node_selector: {kfcheck.dev/node: real}\n  tolerations: [{key: kfcheck.dev/real-node, operator: Exists, effect: NoSchedule}]\n";
    let own = keys.join("kfcheck-as-a");
    let prefix = "private-artifacts/kfcheck-as-a/node";
    write(
        suite.path(),
        "artifact-store.yaml",
        &format!("id: artifact-store\nkind: artifact-store\ntitle: t\ncategory: storage\nparams:\n  endpoint: {s3}\n  profiles: [{}]\n  pods: true\n  image: kfcheck.local/probe:dev\n  size: 64KiB\n  pod_timeout: 150s\n{placement}", profiles.join(", ")),
    );
    write(
        suite.path(),
        "host-storage.yaml",
        &format!("id: host-storage\nkind: storage-roundtrip\ntitle: t\ncategory: storage\nparams:\n  from: host\n  bucket: s3://mlpipeline\n  endpoint: {s3}\n  s3_key_dir: {}\n  prefix: {prefix}/host\n  size: 64KiB\n", own.display()),
    );
    write(
        suite.path(),
        "container-storage.yaml",
        &format!("id: container-storage\nkind: storage-roundtrip\ntitle: t\ncategory: storage\nalso_in: [docker]\nparams:\n  from: container\n  bucket: s3://mlpipeline\n  endpoint: {s3}\n  s3_key_dir: {}\n  prefix: {prefix}/container\n  size: 64KiB\n", own.display()),
    );
    write(
        suite.path(),
        "pod-storage.yaml",
        &format!("id: pod-storage\nkind: storage-roundtrip\ntitle: t\ncategory: storage\nparams:\n  from: pod\n  bucket: minio://mlpipeline\n  endpoint: http://{relayed}\n  prefix: {prefix}/pod\n  image: kfcheck.local/probe:dev\n  size: 64KiB\n  timeout: 150s\n{placement}"),
    );
    write(
        suite.path(),
        "io-sweep.yaml",
        &format!("id: io-sweep\nkind: io-sweep\ntitle: t\ncategory: storage\nparams:\n  from: host\n  bucket: s3://mlpipeline\n  endpoint: {s3}\n  s3_key_dir: {}\n  prefix: {prefix}/io\n  object_size: 64KiB\n  seconds: 1\n  concurrency: [1, 2]\n", own.display()),
    );
    let docker = std::env::var("KFCHECK_TEST_DOCKER_HOST").ok();
    let mut c = common::kfcheck_command(suite.path());
    c.args([
        "--kubeconfig",
        dir.join("kubeconfig").to_str().unwrap(),
        "-n",
        "kfcheck-as-a",
        "--suite",
        suite.path().to_str().unwrap(),
        "run",
        "storage",
        "-o",
        "json",
    ]);
    if let Some(d) = &docker {
        c.args(["--docker-host", d]);
    }
    let o = c.output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("exit {}: {}{}", code(&o), stdout(&o), stderr(&o)));
    assert_eq!(code(&o), 1, "{doc:#}\n{}", stderr(&o));
    let c = check(&doc, "artifact-store");
    let found: Vec<(&str, &str)> = c["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap(),
                f["subject"]["name"].as_str().unwrap(),
            )
        })
        .collect();
    // b's key works from this host; from its pods the configured endpoint cannot be reached.
    assert_eq!(
        found,
        [("artifact-store-pod-failed", "kfcheck-as-b")],
        "{c:#}"
    );
    let evidence = c["findings"][0]["evidence"].to_string();
    assert!(evidence.contains(&closed), "{evidence}");
    let notes = c["notes"].to_string();
    assert!(
        notes.contains(
            "kfcheck-as-a: round trip under s3://mlpipeline/private-artifacts/kfcheck-as-a/node/ from pod kfcheck-as-a/"
        ),
        "{notes}"
    );
    assert!(notes.contains(&format!("to http://{relayed}")), "{notes}");
    // The same profile's key from this host, from a pod of the profile, and from a container
    // (when the test has a Docker engine); the sweep measured its curve.
    for id in ["host-storage", "pod-storage"] {
        let r = check(&doc, id);
        assert_eq!(r["status"], "passed", "{r:#}");
    }
    let container = check(&doc, "container-storage");
    let want = if docker.is_some() {
        "passed"
    } else {
        "skipped"
    };
    assert_eq!(container["status"], want, "{container:#}");
    let io = check(&doc, "io-sweep");
    assert!(
        io["status"] == "passed" || io["status"] == "warned",
        "{io:#}"
    );
    assert_eq!(
        io["figures"]["io_sweep"]["steps"].as_array().unwrap().len(),
        2,
        "{io:#}"
    );

    // The pods are gone, nothing is left under either prefix, no key was printed.
    for p in profiles {
        let left = k.run(
            &[
                "-n",
                p,
                "get",
                "pods",
                "-l",
                "app.kubernetes.io/managed-by=kfcheck",
                "-o",
                "name",
            ],
            None,
        );
        assert_eq!(left.trim(), "", "pods left in {p}: {left}");
        let filer = std::env::var("KFCHECK_TEST_S3_FILER")
            .unwrap_or_else(|_| "http://127.0.0.1:18888".into());
        assert_eq!(
            common::filer_count(
                &[],
                &filer,
                "mlpipeline",
                &format!("private-artifacts/{p}/node/")
            ),
            0,
            "objects left under {p}'s prefix"
        );
        let secret = std::fs::read_to_string(keys.join(p).join("secretkey")).unwrap();
        assert!(
            !(stdout(&o) + &stderr(&o)).contains(secret.trim()),
            "{p}'s secret key was printed"
        );
    }
    assert_no_traffic_out(&dir);
}

/// kwok nodes of the test's own (tainted, so nothing else lands there), deleted when dropped.
struct KwokNodes<'a>(&'a Kubectl, Vec<String>);

impl Drop for KwokNodes<'_> {
    fn drop(&mut self) {
        for n in &self.1 {
            let _ = self.0.try_run(&["delete", "node", n, "--wait=false"], None);
        }
    }
}

/// The io-sweep's pods of one step, by name and node, once all `n` are bound to a node.
fn bound_pods(k: &Kubectl, ns: &str, check: &str, n: usize) -> Vec<(String, String)> {
    let started = Instant::now();
    loop {
        let out = k.run(
            &[
                "-n",
                ns,
                "get",
                "pods",
                "-l",
                &format!("kfcheck.io/check={check}"),
                "-o",
                "jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName}{\"\\n\"}{end}",
            ],
            None,
        );
        let pods: Vec<(String, String)> = out
            .lines()
            .filter_map(|l| l.split_once(' '))
            .filter(|(_, node)| !node.is_empty())
            .map(|(p, node)| (p.to_string(), node.to_string()))
            .collect();
        if pods.len() >= n {
            return pods;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "pods of {check} not bound in 90s: {out}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn labelled_pods(k: &Kubectl, ns: &str) -> String {
    k.run(
        &[
            "-n",
            ns,
            "get",
            "pods",
            "-l",
            "app.kubernetes.io/managed-by=kfcheck",
            "-o",
            "name",
        ],
        None,
    )
    .trim()
    .to_string()
}

/// The io-sweep's orchestration on kwok's simulated nodes, where pods never print a line: a
/// step's pods are made at once in the profile, spread one to a node, and nothing outlives the
/// run: a SIGTERM makes kfcheck delete them itself, and after a SIGKILL `kfcheck cleanup` finds
/// and deletes what the killed run left (by label only).
#[test]
fn the_io_sweeps_pods_spread_over_kwok_nodes_and_are_cleaned_up_after_a_kill() {
    let Some(dir) = node_sandbox() else {
        return;
    };
    let k = Kubectl::new(&dir);
    let tag = std::process::id().to_string();
    let names: Vec<String> = (0..3)
        .map(|i| format!("kfcheck-io-spread-{tag}-{i}"))
        .collect();
    let _nodes = KwokNodes(&k, names.clone());
    let mut nodes = String::new();
    for n in &names {
        nodes.push_str(&format!(
            "apiVersion: v1\nkind: Node\nmetadata:\n  name: {n}\n  annotations: {{kwok.x-k8s.io/node: fake, node.alpha.kubernetes.io/ttl: \"0\"}}\n  labels: {{type: kwok, kubernetes.io/hostname: {n}, kubernetes.io/os: linux, kfcheck.dev/io-spread: \"{tag}\"}}\nspec:\n  taints: [{{key: kfcheck.dev/io-spread, value: \"{tag}\", effect: NoSchedule}}]\nstatus:\n  allocatable: {{cpu: \"8\", memory: 32Gi, pods: \"110\"}}\n  capacity: {{cpu: \"8\", memory: 32Gi, pods: \"110\"}}\n---\n"
        ));
    }
    k.run(&["apply", "-f", "-"], Some(&nodes));
    for n in &names {
        k.wait_for(
            "",
            &format!("node/{n}"),
            "{.status.conditions[?(@.type==\"Ready\")].status}",
            "True",
            Duration::from_secs(60),
        );
    }
    let ns = Namespace::new(&k, "kfcheck-io-spread");
    k.run(
        &["-n", &ns.name, "create", "serviceaccount", "default-editor"],
        None,
    );
    // Never read: kwok's pods do not run.
    k.run(
        &[
            "-n",
            &ns.name,
            "create",
            "secret",
            "generic",
            "mlpipeline-minio-artifact",
            "--from-literal=accesskey=unused",
            "--from-literal=secretkey=unused",
        ],
        None,
    );
    let suite = tempfile::tempdir().unwrap();
    write(
        suite.path(),
        "io-spread.yaml",
        &format!("id: io-spread\nkind: io-sweep\ntitle: t\ncategory: storage\nparams:\n  from: pod\n  bucket: minio://mlpipeline\n  endpoint: http://127.0.0.1:9\n  prefix: private-artifacts/x/kfcheck\n  image: kfcheck.local/probe:dev\n  object_size: 64KiB\n  seconds: 2\n  concurrency: [3]\n  start_lead: 5s\n  node_selector: {{kfcheck.dev/io-spread: \"{tag}\"}}\n  tolerations: [{{key: kfcheck.dev/io-spread, operator: Exists, effect: NoSchedule}}]\n"),
    );
    let start = || {
        let mut c = common::kfcheck_command(suite.path());
        c.args([
            "--kubeconfig",
            dir.join("kubeconfig").to_str().unwrap(),
            "-n",
            &ns.name,
            "--suite",
            suite.path().to_str().unwrap(),
            "run",
            "io-spread",
            "-o",
            "json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
        c.spawn().unwrap()
    };
    let signal = |pid: u32, sig: &str| {
        let s = Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .unwrap();
        assert!(s.success(), "kill {sig} {pid}");
    };

    // 1. One step of three pods: made at once, one to a node, with the spread constraint.
    let child = start();
    let pods = bound_pods(&k, &ns.name, "io-spread", 3);
    let mut on: Vec<&str> = pods.iter().map(|(_, n)| n.as_str()).collect();
    on.sort();
    on.dedup();
    assert_eq!(on.len(), 3, "three pods, three nodes: {pods:?}");
    assert!(on.iter().all(|n| names.iter().any(|m| m == n)), "{pods:?}");
    let spec = k.run(
        &[
            "-n",
            &ns.name,
            "get",
            "pod",
            &pods[0].0,
            "-o",
            "jsonpath={.spec.topologySpreadConstraints[0].topologyKey} {.spec.serviceAccountName}",
        ],
        None,
    );
    assert_eq!(spec.trim(), "kubernetes.io/hostname default-editor");
    // SIGTERM: kfcheck stops and deletes its pods itself.
    signal(child.id(), "-TERM");
    let o = child.wait_with_output().unwrap();
    assert_ne!(
        code(&o),
        0,
        "an interrupted run is not a pass: {}",
        stderr(&o)
    );
    let started = Instant::now();
    while !labelled_pods(&k, &ns.name).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "pods left after SIGTERM: {}",
            labelled_pods(&k, &ns.name)
        );
        std::thread::sleep(Duration::from_millis(300));
    }

    // 2. SIGKILL: nothing runs its cleanup, the pods stay; `kfcheck cleanup` finds them by label.
    let mut child = start();
    bound_pods(&k, &ns.name, "io-spread", 3);
    signal(child.id(), "-KILL");
    let _ = child.wait();
    let left = labelled_pods(&k, &ns.name);
    assert_eq!(
        left.lines().count(),
        3,
        "a killed run leaves its pods: {left}"
    );
    // Something kfcheck did not make is never touched.
    k.run(
        &[
            "-n",
            &ns.name,
            "create",
            "configmap",
            "not-kfchecks",
            "--from-literal=a=b",
        ],
        None,
    );
    // Only that run's objects: the other tests' pods on this cluster are not its business.
    let run_id = k.run(
        &[
            "-n",
            &ns.name,
            "get",
            "pods",
            "-l",
            "kfcheck.io/check=io-spread",
            "-o",
            "jsonpath={.items[0].metadata.labels.kfcheck\\.io/run-id}",
        ],
        None,
    );
    let o = common::kfcheck_command(suite.path())
        .args([
            "--kubeconfig",
            dir.join("kubeconfig").to_str().unwrap(),
            "cleanup",
            "--run-id",
            run_id.trim(),
        ])
        .output()
        .unwrap();
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let started = Instant::now();
    while !labelled_pods(&k, &ns.name).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "pods left after kfcheck cleanup: {}",
            labelled_pods(&k, &ns.name)
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    k.run(&["-n", &ns.name, "get", "configmap", "not-kfchecks"], None);
}

/// deploy/ as a platform engineer applies it (`kubectl apply -k`), into a namespace of the test's
/// own, on a one-minute schedule, with kfcheck's image as the node has it and on the real node (a
/// kustomize overlay): the real CronJob controller makes a Job and the Job controller its pod,
/// with the ServiceAccount, the suite ConfigMap and the history PVC (bound to a directory of the
/// test's, as a volume provisioner would). kfcheck runs in that pod against the API through the
/// `kubernetes` Service, as the ServiceAccount, and leaves its report, history and HTML on the
/// volume; the API server says what that ServiceAccount may and may not do.
#[test]
fn the_cronjob_of_deploy_runs_kfcheck_in_a_pod_with_least_privilege() {
    let Some(dir) = node_sandbox() else {
        return;
    };
    let k = Kubectl::new(&dir);
    let ns = Namespace::new(&k, "kfcheck-cron");
    // Copies of deploy/ and of the sandbox's overlay of it (tools/sandbox/cronjob: kfcheck's
    // image as the node has it, the real node, every minute) at their relative places, and on top
    // an overlay of the test's own for its namespace (kustomize takes bases by relative path).
    let overlay = tempfile::tempdir().unwrap();
    for f in [
        "deploy/kustomization.yaml",
        "deploy/rbac.yaml",
        "deploy/cronjob.yaml",
        "deploy/suite/README.yaml",
        "tools/sandbox/cronjob/kustomization.yaml",
    ] {
        let text = std::fs::read_to_string(repo().join(f)).unwrap();
        write(overlay.path(), f, &text);
    }
    write(
        overlay.path(),
        "test/kustomization.yaml",
        &format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {}\nresources: [../tools/sandbox/cronjob]\n",
            ns.name
        ),
    );
    let built = k.run(
        &["kustomize", overlay.path().join("test").to_str().unwrap()],
        None,
    );
    let objects: Vec<serde_yaml_ng::Value> = serde_yaml_ng::Deserializer::from_str(&built)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let kinds: Vec<String> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap_or("").to_string())
        .collect();
    for want in [
        "ServiceAccount",
        "CronJob",
        "PersistentVolumeClaim",
        "ConfigMap",
        "ClusterRoleBinding",
    ] {
        assert!(kinds.iter().any(|k| k == want), "no {want} in {kinds:?}");
    }
    // The cluster-wide objects keep their names: only this test applies them on this cluster.
    k.run(&["apply", "-f", "-"], Some(&built));
    let cleanup = scopeguard(&k, built.clone());
    // The history volume: a directory of the test's, bound to the claim as a provisioner would
    // (the sandbox has none), of the class the claim got. kfcheck runs as 65532 there.
    let volume = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        volume.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o777),
    )
    .unwrap();
    let class = k.run(
        &[
            "-n",
            &ns.name,
            "get",
            "pvc",
            "kfcheck-history",
            "-o",
            "jsonpath={.spec.storageClassName}",
        ],
        None,
    );
    let pv = format!(
        "apiVersion: v1\nkind: PersistentVolume\nmetadata: {{name: {0}}}\nspec:\n  capacity: {{storage: 1Gi}}\n  accessModes: [ReadWriteOnce]\n  persistentVolumeReclaimPolicy: Retain\n  storageClassName: \"{1}\"\n  claimRef: {{namespace: {0}, name: kfcheck-history}}\n  hostPath: {{path: {2}, type: Directory}}\n",
        ns.name,
        class.trim(),
        volume.path().display()
    );
    k.run(&["apply", "-f", "-"], Some(&pv));
    let _pv = scopeguard(&k, pv);
    let started = Instant::now();
    let job = loop {
        let jobs = k.run(
            &["-n", &ns.name, "get", "jobs", "-o", "jsonpath={range .items[*]}{.metadata.name} {.metadata.ownerReferences[0].kind}{\"\\n\"}{end}"],
            None,
        );
        if let Some(j) = jobs.lines().find(|l| l.ends_with(" CronJob")) {
            break j.split(' ').next().unwrap().to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(150),
            "the CronJob controller made no Job in 150s: {jobs}"
        );
        std::thread::sleep(Duration::from_secs(2));
    };
    let pod = loop {
        let p = k.run(
            &[
                "-n",
                &ns.name,
                "get",
                "pods",
                "-l",
                &format!("job-name={job}"),
                "-o",
                "jsonpath={.items[0].metadata.name}",
            ],
            None,
        );
        if !p.trim().is_empty() {
            break p.trim().to_string();
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "job {job} made no pod"
        );
        std::thread::sleep(Duration::from_secs(1));
    };
    let spec = k.run(
        &["-n", &ns.name, "get", "pod", &pod, "-o", "jsonpath={.spec.serviceAccountName} {.spec.containers[0].args} {.spec.volumes[*].name} {.spec.securityContext.runAsNonRoot}"],
        None,
    );
    for part in [
        "kfcheck ",
        "--suite=/etc/kfcheck/suite",
        "--history=/var/lib/kfcheck/history",
        "html=/var/lib/kfcheck/index.html",
        "suite history tmp",
        "true",
    ] {
        assert!(spec.contains(part), "pod {pod}: no {part} in {spec}");
    }
    // What the ServiceAccount may do: read the cluster, make its probe pods here; not read
    // every Secret, not change Deployments, not delete namespaces.
    let sa = format!("system:serviceaccount:{}:kfcheck", ns.name);
    // A SubjectAccessReview, not `kubectl auth can-i`: that one needs discovery to split
    // `profiles.kubeflow.org` and so answers "no" while the CRD is not installed.
    let can = |verb: &str, what: &str, in_ns: Option<&str>| {
        let (resource, group) = what.split_once('.').unwrap_or((what, ""));
        let review = serde_json::json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SubjectAccessReview",
            "spec": {
                "user": sa,
                "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{}", ns.name), "system:authenticated"],
                "resourceAttributes": {"verb": verb, "group": group, "resource": resource, "namespace": in_ns.unwrap_or("")},
            },
        });
        let answer = k.run(
            &["create", "-f", "-", "-o", "jsonpath={.status.allowed}"],
            Some(&review.to_string()),
        );
        answer.trim() == "true"
    };
    assert!(can("list", "nodes", None));
    assert!(can("list", "profiles.kubeflow.org", None));
    assert!(can("create", "pods", Some(&ns.name)));
    assert!(can(
        "create",
        "subjectaccessreviews.authorization.k8s.io",
        None
    ));
    assert!(!can("list", "secrets", Some("default")));
    assert!(!can("patch", "deployments.apps", Some(&ns.name)));
    assert!(!can("delete", "namespaces", None));

    // The Job runs kfcheck to its end on the real node. The sandbox has no Kubeflow, so the run
    // is not ready and the Job fails (exit 1): what an alert on failed Jobs sees.
    let started = Instant::now();
    let state = loop {
        let s = k.run(
            &[
                "-n",
                &ns.name,
                "get",
                "job",
                &job,
                "-o",
                "jsonpath={.status.conditions[?(@.status==\"True\")].type}",
            ],
            None,
        );
        if s.contains("Failed") || s.contains("Complete") {
            break s;
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "job {job} did not finish in 180s: {}",
            stdout(&k.try_run(&["-n", &ns.name, "describe", "pod", &pod], None))
        );
        std::thread::sleep(Duration::from_secs(2));
    };
    let log = k.run(&["-n", &ns.name, "logs", &pod], None);
    assert!(state.contains("Failed"), "job {job}: {state}\n{log}");
    let placed = k.run(
        &[
            "-n",
            &ns.name,
            "get",
            "pod",
            &pod,
            "-o",
            "jsonpath={.spec.nodeName} {.status.containerStatuses[0].state.terminated.exitCode}",
        ],
        None,
    );
    assert_eq!(placed, "kfcheck-node 1", "{log}");
    // What it left on the volume: one run in the history, and the HTML report.
    let reports: Vec<PathBuf> = std::fs::read_dir(volume.path().join("history"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    assert_eq!(reports.len(), 1, "{reports:?}\n{log}");
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&reports[0]).unwrap()).unwrap();
    let html = std::fs::read_to_string(volume.path().join("index.html")).unwrap();
    assert!(html.contains("class=\"verdict not-ready\""), "{html}");
    // It described this cluster, reached through the kubernetes Service with the pod's token.
    assert_eq!(doc["verdict"], "not-ready", "{doc:#}");
    assert_eq!(doc["cluster"]["context"], "in-cluster", "{doc:#}");
    assert_eq!(doc["cluster"]["server"], "https://10.0.0.1/", "{doc:#}");
    let status = |id: &str| {
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .map(|c| c["status"].as_str().unwrap().to_string())
            .unwrap_or_default()
    };
    assert_eq!(status("kube-api-reachable"), "passed", "{doc:#}");
    // Kubeflow's absence is what failed, seen with the ServiceAccount's rights: not one check
    // was refused by RBAC.
    assert_eq!(status("kubeflow-crds"), "failed", "{doc:#}");
    let text = doc.to_string().to_lowercase();
    assert!(
        !text.contains("forbidden"),
        "a check was refused with the CronJob's ServiceAccount:\n{doc:#}"
    );
    drop(cleanup);
}

/// Deletes what `kubectl apply` of `objects` made, when dropped.
struct Applied<'a>(&'a Kubectl, String);

fn scopeguard(k: &Kubectl, objects: String) -> Applied<'_> {
    Applied(k, objects)
}

impl Drop for Applied<'_> {
    fn drop(&mut self) {
        let _ = self.0.try_run(
            &["delete", "--ignore-not-found", "--wait=false", "-f", "-"],
            Some(&self.1),
        );
    }
}

/// [`NODE_PLACEMENT`] for a pod template under a Deployment's `spec.template.spec`.
const NODE_PLACEMENT_SPEC: &str = "      nodeSelector: {kfcheck.dev/node: real}\n      tolerations: [{key: kfcheck.dev/real-node, operator: Exists, effect: NoSchedule}]\n";

/// `--bundle` on a run that is not ready: a Deployment whose pod crashes on the real node (its
/// log and its environment hold a password) fails `deployments-available`; the bundle holds the
/// reports, the Deployment, its pod, the container's log and the events, with an index, and the
/// password nowhere.
#[test]
fn a_failed_run_leaves_a_redacted_support_bundle() {
    let Some(dir) = node_sandbox() else {
        return;
    };
    let k = Kubectl::new(&dir);
    let ns = Namespace::new(&k, "kfcheck-bundle");
    k.run(
        &["-n", &ns.name, "apply", "-f", "-"],
        Some(&format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: crasher}}\nspec:\n  selector: {{matchLabels: {{app: crasher}}}}\n  template:\n    metadata: {{labels: {{app: crasher}}}}\n    spec:\n{NODE_PLACEMENT_SPEC}      containers:\n      - name: main\n        image: kfcheck.local/busybox:1.35\n        imagePullPolicy: Never\n        command: [sh, -c, 'echo connecting with password=hunter2-in-log; echo boom; exit 1']\n        env: [{{name: DB_PASSWORD, value: hunter2-in-env}}, {{name: MODE, value: train}}]\n        readinessProbe: {{exec: {{command: [sh, -c, 'exit 1']}}, periodSeconds: 1}}\n"
        )),
    );
    // Wait until the container has run (its log exists) and the Deployment says it is not
    // available. The readiness probe that never passes keeps it so: without one, each restart
    // of the crashing container made the pod Ready, and the Deployment available, for a moment.
    let started = Instant::now();
    loop {
        let o = k.try_run(&["-n", &ns.name, "logs", "deploy/crasher"], None);
        if stdout(&o).contains("boom") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the pod never ran: {}",
            stderr(&o)
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    k.wait_for(
        &ns.name,
        "deployment/crasher",
        "{.status.conditions[?(@.type==\"Available\")].status}",
        "False",
        Duration::from_secs(120),
    );
    let suite = tempfile::tempdir().unwrap();
    write(
        suite.path(),
        "crasher.yaml",
        &format!("id: crasher-available\nkind: deployments-available\ntitle: t\ncategory: bundle\nparams:\n  namespace: {}\n  deployments: [crasher]\n", ns.name),
    );
    let bundle = suite.path().join("support.tar.gz");
    let o = common::kfcheck_command(suite.path())
        .args([
            "--kubeconfig",
            dir.join("kubeconfig").to_str().unwrap(),
            "--suite",
            suite.path().to_str().unwrap(),
            "--bundle",
            bundle.to_str().unwrap(),
            "run",
            "crasher-available",
        ])
        .output()
        .unwrap();
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(stderr(&o).contains("support bundle"), "{}", stderr(&o));
    let out = tempfile::tempdir().unwrap();
    let t = Command::new("tar")
        .args([
            "-xzf",
            bundle.to_str().unwrap(),
            "-C",
            out.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(t.status.success(), "{}", stderr(&t));
    let root = std::fs::read_dir(out.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let index: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root.join("index.json")).unwrap()).unwrap();
    let paths: Vec<&str> = index["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    let has = |p: &str| paths.iter().any(|x| x.starts_with(p));
    assert!(has("report.json") && has("report.txt"), "{paths:?}");
    assert!(
        has(&format!("objects/deployments/{}/crasher.yaml", ns.name)),
        "{paths:?}"
    );
    assert!(
        has(&format!("objects/pods/{}/crasher-", ns.name)),
        "{paths:?}"
    );
    assert!(has(&format!("logs/{}/crasher-", ns.name)), "{paths:?}");
    assert!(has(&format!("events/{}/crasher.txt", ns.name)), "{paths:?}");
    let mut all = String::new();
    for p in &paths {
        all.push_str(&std::fs::read_to_string(root.join(p)).unwrap());
    }
    assert!(
        all.contains("boom") && all.contains("train"),
        "the log and the object are there"
    );
    assert!(!all.contains("hunter2"), "a password reached the bundle");
    assert_no_traffic_out(&dir);
}

/// The raw-YAML door's CPU sample on the real node with Argo's own executor: the sandbox's
/// workflow-controller (scripts/sandbox argo up, on this control plane) puts `argoexec`
/// (kfcheck.local/argoexec:dev, built from the pinned module) in each step pod as the init and
/// wait containers; the steps run Debian's python in real containers; the wait container reaches
/// the API through the `kubernetes` Service and writes each step's WorkflowTaskResult itself, as
/// the step's ServiceAccount, so the numbers pass from step to step and the total is checked.
/// The sandbox's stand-in for kwok's pods writes none of them.
#[test]
fn the_raw_yaml_door_runs_the_cpu_sample_with_argos_executor_on_the_real_node() {
    let Some(dir) = node_sandbox() else {
        return;
    };
    if !dir.join("argo-bin").is_file() {
        let _: Option<()> = unavailable(
            "no Argo controller on the node sandbox: scripts/test runs `scripts/sandbox argo up` there",
            "no Argo controller on the node sandbox (KFCHECK_SANDBOX_DIR=... scripts/sandbox argo up)",
        );
        return;
    }
    let k = Kubectl::new(&dir);
    let ns = Namespace::new(&k, "kfcheck-node-argo");
    // The steps' ServiceAccount, with the one right Argo v4's executor needs.
    k.run(
        &["apply", "-n", &ns.name, "-f", "-"],
        Some("apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: argo-runner}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: argo-runner}\nrules:\n- {apiGroups: [argoproj.io], resources: [workflowtaskresults], verbs: [create, patch]}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: argo-runner}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: argo-runner}\nsubjects:\n- {kind: ServiceAccount, name: argo-runner}\n"),
    );
    // kfcheck's own CPU sample Workflow, with the image the node has and placed on the node.
    let sample =
        std::fs::read_to_string(repo().join("checks/workflows/kfcheck-cpu-sample.yaml")).unwrap();
    assert!(sample.contains("image: python:3.11-slim"), "{sample}");
    let workflow = sample
        .replace("image: python:3.11-slim", "image: kfcheck.local/python:3.11")
        .replacen(
            "\nspec:\n",
            "\nspec:\n  nodeSelector: {kfcheck.dev/node: real}\n  tolerations: [{key: kfcheck.dev/real-node, operator: Exists, effect: NoSchedule}]\n",
            1,
        );
    let suite = tempfile::tempdir().unwrap();
    write(suite.path(), "workflows/real-node-cpu.yaml", &workflow);
    write(
        suite.path(),
        "argo-real-node.yaml",
        "id: argo-real-node\nkind: pipeline-run\ntitle: the CPU sample runs on the real node with Argo's executor\ncategory: argo-node\ntimeout: 240s\nparams:\n  door: argo\n  workflow: workflows/real-node-cpu.yaml\n  service_account: argo-runner\n  run_timeout: 200s\n",
    );
    // What the step pods are while they exist (the door deletes the Workflow, and them, after).
    let seen = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watcher = {
        let (seen, done, dir, ns) = (seen.clone(), done.clone(), dir.clone(), ns.name.clone());
        std::thread::spawn(move || {
            let k = Kubectl::new(&dir);
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let pods = k.try_run(
                    &["-n", &ns, "get", "pods", "-o", "jsonpath={range .items[*]}{.spec.nodeName} {.spec.initContainers[*].image} {.spec.containers[*].image}{\"\\n\"}{end}"],
                    None,
                );
                for line in stdout(&pods).lines().filter(|l| !l.trim().is_empty()) {
                    seen.lock().unwrap().insert(line.to_string());
                }
                std::thread::sleep(Duration::from_millis(300));
            }
        })
    };
    let o = common::kfcheck_command(suite.path())
        .args([
            "--kubeconfig",
            dir.join("kubeconfig").to_str().unwrap(),
            "-n",
            &ns.name,
            "--suite",
            suite.path().to_str().unwrap(),
            "run",
            "argo-real-node",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    let c = check(&doc, "argo-real-node");
    assert_eq!(c["status"], "passed", "{c:#}\n{}", stderr(&o));
    assert_eq!(code(&o), 0, "{doc:#}");
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    watcher.join().unwrap();
    let seen = seen.lock().unwrap().clone();
    // Each step's pod on the real node: argoexec as its init container, then python beside
    // argoexec's wait container.
    assert!(!seen.is_empty(), "no step pod was seen");
    for pod in &seen {
        assert_eq!(
            pod,
            "kfcheck-node kfcheck.local/argoexec:dev kfcheck.local/argoexec:dev kfcheck.local/python:3.11",
            "{seen:#?}"
        );
    }
    // No task result came from the stand-in: argoexec wrote them.
    let standin =
        std::fs::read_to_string(dir.join("logs/kwok-task-results.log")).unwrap_or_default();
    assert!(
        !standin.contains(&ns.name),
        "the stand-in wrote a task result for the real node's steps:\n{standin}"
    );
    parity_of_the_cluster_run_and_a_local_run(&k, &ns.name, &dir, &workflow);
    assert_no_traffic_out(&dir);
}

/// `kfcheck parity --workflow`: the same Workflow, left in place this time, against
/// `kfcheck local-run` of the compiled CPU sample in Docker (the same work through KFP's IR).
fn parity_of_the_cluster_run_and_a_local_run(k: &Kubectl, ns: &str, dir: &Path, workflow: &str) {
    let Some(host) = std::env::var("KFCHECK_TEST_DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
    else {
        let _: Option<()> = unavailable(
            "KFCHECK_TEST_DOCKER_HOST is not set: scripts/test starts a Docker engine",
            "no Docker engine for local-run (scripts/dockerd up)",
        );
        return;
    };
    let held = workflow
        .replace("generateName: kfcheck-cpu-sample-", "name: parity-cpu")
        .replacen(
            "\nspec:\n",
            "\nspec:\n  serviceAccountName: argo-runner\n",
            1,
        );
    k.run(&["-n", ns, "create", "-f", "-"], Some(&held));
    k.wait_for(
        ns,
        "workflow/parity-cpu",
        "{.status.phase}",
        "Succeeded",
        Duration::from_secs(200),
    );
    let work = tempfile::tempdir().unwrap();
    let local = |sub: &str, extra: &[&str]| {
        let o = common::kfcheck_command(work.path())
            .args(common::local_run_cpu_sample_args(&host, sub, extra))
            .output()
            .unwrap();
        assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    };
    local("same", &[]);
    local("other", &["-p", "count=4"]);
    let parity = |manifest: &str, against: &[&str]| {
        common::kfcheck_parity(work.path(), dir, ns, &[&[manifest][..], against].concat())
    };
    // The same work on both sides: every step and both outputs (the local artifact `numbers` is
    // the Workflow's parameter of that name) match.
    let (c, out) = parity("same/manifest.json", &["--workflow", "parity-cpu"]);
    assert_eq!(c, 0, "{out}");
    assert!(
        out.contains("parity: 3 step(s) and 2 output(s) match the cluster run (Workflow"),
        "{out}"
    );
    // Ten numbers on the cluster, four locally: both outputs differ, and nothing else.
    let (c, out) = parity("other/manifest.json", &["--workflow", "parity-cpu"]);
    assert_eq!(c, 1, "{out}");
    for line in [
        "differs: make-numbers: output artifacts/numbers differs",
        "differs: sum-numbers: output parameters/total differs",
        "parity: 2 difference(s)",
    ] {
        assert!(out.contains(line), "{line} missing from:\n{out}");
    }
    // A run id no Workflow carries is said, and decides nothing.
    let (c, out) = parity("same/manifest.json", &["--run", "no-such-run"]);
    assert_eq!(c, 3, "{out}");
    assert!(
        out.contains("no Workflow labelled pipeline/runid=no-such-run"),
        "{out}"
    );
    k.run(&["-n", ns, "delete", "workflow", "parity-cpu"], None);
}
