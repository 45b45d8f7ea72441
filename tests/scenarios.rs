//! Every cluster check against every sandbox scenario (`scripts/sandbox scenario NAME`, see
//! docs/sandbox.md): `healthy` passes everything; each broken variant fails exactly the checks
//! that should catch its one fault, with the right finding on the right object. Then, on the same
//! control plane: the suite as the least-privilege service account from `deploy/`, as a read-only
//! user, Ctrl-C and a killed API server mid-run, and `kfcheck cleanup`.
//!
//! The scenarios share one control plane, so everything runs in one test, in order. scripts/test
//! starts that sandbox and exports KFCHECK_TEST_SCENARIO_SANDBOX (its state directory).

#![expect(
    clippy::print_stderr,
    reason = "progress of a long test and why it skips"
)]

mod common;
use common::*;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The checks that read the cluster (all but Docker).
const SELECTION: &[&str] = &["cluster", "profiles", "secrets", "gpu", "pipelines"];

/// (check id, finding rule, text in the finding's subject)
type Expected = (&'static str, &'static str, &'static str);

/// Scenario → the findings it must produce. Every other selected check must pass.
const FAULTS: &[(&str, &[Expected])] = &[
    (
        "missing-artifact-secret",
        &[(
            "profile-matrix",
            "artifact-secret-missing",
            "kubeflow-user-example-com",
        )],
    ),
    (
        "malformed-gcp-key",
        &[(
            "gcp-credentials",
            "gcp-key-malformed",
            "kubeflow-user-example-com",
        )],
    ),
    (
        "missing-poddefault",
        &[("profile-matrix", "poddefault-missing", "team-gpu")],
    ),
    (
        "no-gpu-nodes",
        &[
            ("gpu-inventory", "no-gpu-nodes", "nvidia.com/gpu"),
            (
                "gpu-schedulable",
                "gpu-probe-unschedulable",
                "kubeflow/kfcheck-gpu-probe-",
            ),
            ("samples-fit-cluster", "task-unschedulable", "gpu-probe"),
        ],
    ),
    (
        "gpu-taint-untolerated",
        &[
            (
                "gpu-schedulable",
                "gpu-probe-unschedulable",
                "kubeflow/kfcheck-gpu-probe-",
            ),
            ("samples-fit-cluster", "task-unschedulable", "gpu-probe"),
        ],
    ),
    (
        "device-plugin-not-ready",
        &[("gpu-inventory", "device-plugin-not-ready", "kwok-gpu-0")],
    ),
    (
        "kfp-deployment-crashloop",
        &[(
            "kfp-deployments",
            "deployment-unavailable",
            "kubeflow/ml-pipeline",
        )],
    ),
    (
        "missing-crd",
        &[(
            "kubeflow-crds",
            "crd-missing",
            "scheduledworkflows.kubeflow.org",
        )],
    ),
    (
        "rbac-binding-missing",
        &[("profile-matrix", "rbac-denied", "kubeflow-user-example-com")],
    ),
    (
        "no-default-storageclass",
        &[(
            "storage-class-default",
            "no-default-storageclass",
            "default",
        )],
    ),
    (
        "webhook-no-endpoints",
        &[
            (
                "webhooks-ready",
                "webhook-no-ready-endpoints",
                "admission-webhook-deployment.kubeflow.org",
            ),
            (
                "kfp-deployments",
                "deployment-scaled-to-zero",
                "kubeflow/admission-webhook-deployment",
            ),
        ],
    ),
    (
        "workload-identity-malformed",
        &[("gcp-credentials", "workload-identity-malformed", "team-gpu")],
    ),
    (
        "namespace-label-missing",
        &[(
            "profile-matrix",
            "namespace-label-missing",
            "kubeflow-user-example-com",
        )],
    ),
];

/// A suite that keeps the default checks but gives the GPU probe less time (it waits the whole
/// timeout only when it is going to fail).
fn fast_suite() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(repo().join("checks/gpu-schedulable.yaml"))
        .unwrap()
        .replace("bind_timeout: 60s", "bind_timeout: 8s");
    assert!(text.contains("bind_timeout: 8s"));
    write(d.path(), "gpu-schedulable.yaml", &text);
    d
}

fn run_suite(kubeconfig: &Path, suite: &Path) -> (i32, serde_json::Value, String) {
    let mut args = vec![
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--suite",
        suite.to_str().unwrap(),
        "run",
    ];
    args.extend_from_slice(SELECTION);
    args.extend_from_slice(&["-o", "json"]);
    let o = kfcheck(&args);
    (code(&o), json(&o), stderr(&o))
}

fn statuses(doc: &serde_json::Value) -> Vec<(String, String)> {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().to_string(),
                c["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// What is wrong with a run against `expected` faults (empty: all passed).
fn mismatches(doc: &serde_json::Value, expected: &[(&str, &str, &str)]) -> Vec<String> {
    let mut bad = Vec::new();
    let failing: BTreeSet<&str> = expected.iter().map(|e| e.0).collect();
    for c in doc["checks"].as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        let status = c["status"].as_str().unwrap();
        let want = if failing.contains(id) {
            "failed"
        } else {
            "passed"
        };
        if status != want {
            bad.push(format!("{id}: {status}, expected {want}: {c}"));
        }
    }
    for (id, rule, subject) in expected {
        let c = doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == *id);
        let found = c.is_some_and(|c| {
            c["findings"].as_array().is_some_and(|fs| {
                fs.iter().any(|f| {
                    f["rule"] == *rule
                        && f["subject"]["name"]
                            .as_str()
                            .is_some_and(|s| s.contains(subject))
                })
            })
        });
        if !found {
            bad.push(format!(
                "{id}: no {rule} finding on {subject}: {}",
                c.map(|c| c.to_string()).unwrap_or_default()
            ));
        }
    }
    bad
}

/// Objects labelled as kfcheck's that are not already on their way out.
async fn leftovers(c: &kube::Client) -> Vec<String> {
    let pods: Api<Pod> = Api::all(c.clone());
    let l = pods
        .list(&ListParams::default().labels("app.kubernetes.io/managed-by=kfcheck"))
        .await
        .unwrap();
    l.items
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .map(|p| {
            format!(
                "{}/{}",
                p.metadata.namespace.clone().unwrap_or_default(),
                p.metadata.name.clone().unwrap_or_default()
            )
        })
        .collect()
}

async fn assert_no_leftovers(c: &kube::Client, when: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left = leftovers(c).await;
        if left.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "{when}: kfcheck left {left:?}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Every secret value the sandbox holds, so output can be searched for them.
async fn secret_values(c: &kube::Client) -> Vec<String> {
    let secrets: Api<Secret> = Api::all(c.clone());
    let mut out = Vec::new();
    for s in secrets.list(&ListParams::default()).await.unwrap().items {
        for (k, v) in s.data.unwrap_or_default() {
            let text = String::from_utf8_lossy(&v.0).into_owned();
            if k.ends_with(".json") {
                // The key file: its private key body, line by line.
                let parsed: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
                if let Some(pk) = parsed["private_key"].as_str() {
                    out.extend(
                        pk.lines()
                            .filter(|l| l.len() > 20 && !l.starts_with("-----"))
                            .map(str::to_string),
                    );
                }
            } else if text.len() >= 8 {
                out.push(text);
            }
        }
    }
    out
}

/// Starts kfcheck in the background and waits until its GPU probe pod exists.
async fn start_with_probe(c: &kube::Client, args: &[&str]) -> std::process::Child {
    let child = Command::new(env!("CARGO_BIN_EXE_kfcheck"))
        .args(args)
        .env_remove("KUBECONFIG")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while leftovers(c).await.is_empty() {
        assert!(Instant::now() < deadline, "the probe pod never appeared");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    child
}

#[tokio::test(flavor = "multi_thread")]
async fn every_check_against_every_scenario() {
    let Some(dir) = scenario_sandbox() else {
        return;
    };
    let kubeconfig = dir.join("kubeconfig");
    let c = kube_client(&kubeconfig).await;
    let suite = fast_suite();
    let mut problems: Vec<String> = Vec::new();

    // An earlier test run that died half-way may have left a probe pod behind. (The simulated
    // ml-pipeline pod serves no KFP API: leave KFP out of the sweep.)
    let o = kfcheck(&[
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--no-kfp-port-forward",
        "cleanup",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    sandbox(&dir, &["scenario", "healthy"]);
    let (code_ok, doc, err) = run_suite(&kubeconfig, suite.path());
    let bad = mismatches(&doc, &[]);
    assert!(
        bad.is_empty() && code_ok == 0,
        "healthy (exit {code_ok}): {bad:#?}\n{err}"
    );
    let healthy = statuses(&doc);
    eprintln!("healthy: {} checks passed", healthy.len());
    let secrets = secret_values(&c).await;
    assert!(
        secrets.len() >= 5,
        "the sandbox should hold secret values to search for"
    );

    for (scenario, expected) in FAULTS {
        sandbox(&dir, &["scenario", scenario]);
        let (code_bad, doc, _) = run_suite(&kubeconfig, suite.path());
        let mut bad = mismatches(&doc, expected);
        if code_bad != 1 {
            bad.push(format!("exit {code_bad}, expected 1"));
        }
        let text = doc.to_string();
        if let Some(s) = secrets.iter().find(|s| text.contains(s.as_str())) {
            bad.push(format!(
                "a secret value appears in the report ({} chars)",
                s.len()
            ));
        }
        eprintln!(
            "{scenario}: {}",
            if bad.is_empty() {
                "ok".to_string()
            } else {
                format!("{} problem(s)", bad.len())
            }
        );
        problems.extend(bad.into_iter().map(|b| format!("{scenario}: {b}")));
        assert_no_leftovers(&c, scenario).await;
    }
    sandbox(&dir, &["scenario", "healthy"]);
    // The malformed key's own bytes must not leak either, in any format.
    sandbox(&dir, &["scenario", "malformed-gcp-key"]);
    let all_secrets = secret_values(&c).await;
    for format in ["table", "json", "junit"] {
        let o = kfcheck(&[
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "run",
            "secrets",
            "profiles",
            "-v",
            "-o",
            format,
        ]);
        let out = stdout(&o) + &stderr(&o);
        assert!(
            out.contains("gcp-key-malformed") || format == "junit",
            "{format}: {out}"
        );
        if let Some(s) = all_secrets.iter().find(|s| out.contains(s.as_str())) {
            problems.push(format!(
                "-o {format}: a secret value appears in the output ({} chars)",
                s.len()
            ));
        }
    }
    sandbox(&dir, &["scenario", "healthy"]);
    assert!(
        problems.is_empty(),
        "{} scenario problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );

    least_privilege(&dir, &kubeconfig, suite.path(), &healthy).await;
    read_only_user(&dir, suite.path(), &healthy);
    cleanup_sweeps_only_what_is_labelled(&c, &kubeconfig).await;
    ctrl_c_mid_run(&dir, &c, &kubeconfig).await;
    api_server_killed_mid_run(&dir, &c, &kubeconfig).await;
    a_namespace_that_is_not_a_profile(&kubeconfig);
    api_server_unready_with_etcd_down(&dir, &kubeconfig);
}

/// `-n team-typo`: not a profile. The per-profile checks end errored naming the profiles that
/// exist; never "no profiles exist", never skipped, never ready.
fn a_namespace_that_is_not_a_profile(kubeconfig: &Path) {
    let o = kfcheck(&[
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "-n",
        "team-typo",
        "run",
        "profiles",
        "secrets",
        "-o",
        "json",
    ]);
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    let doc = json(&o);
    for id in ["profile-matrix", "gcp-credentials"] {
        let c = doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap();
        assert_eq!(c["status"], "errored", "{c}");
        let why = c["reason"].as_str().unwrap();
        assert!(
            why.starts_with("'team-typo' is not a Kubeflow profile (profiles: ")
                && why.contains("kubeflow-user-example-com"),
            "{c}"
        );
    }
    eprintln!("-n team-typo: errored, naming the profiles that exist");
}

/// etcd down: the API server still answers /version but /readyz says 500 with `[-]etcd failed`.
/// kube-api-reachable must fail on that, not pass with a note.
fn api_server_unready_with_etcd_down(dir: &Path, kubeconfig: &Path) {
    sandbox(dir, &["kill", "etcd"]);
    let o = kfcheck(&[
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--timeout",
        "60s",
        "run",
        "kube-api-reachable",
        "-o",
        "json",
    ]);
    sandbox(dir, &["revive"]);
    let doc = json(&o);
    let c = &doc["checks"][0];
    assert_eq!(code(&o), 1, "{doc:#}");
    assert_eq!(c["status"], "failed", "{c}");
    assert_eq!(c["findings"][0]["rule"], "api-not-ready", "{c}");
    assert!(
        c.to_string().contains("etcd"),
        "the failing readyz check is named: {c}"
    );
    // Once etcd is back the API server becomes ready again within seconds.
    let back = Instant::now();
    loop {
        let o = kfcheck(&[
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--timeout",
            "60s",
            "run",
            "kube-api-reachable",
        ]);
        if code(&o) == 0 {
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(60),
            "not ready a minute after etcd came back: {}",
            stdout(&o)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    eprintln!("etcd down: kube-api-reachable failed with api-not-ready");
}

/// deploy/rbac.yaml is enough for the whole suite: as that service account every cluster check
/// reaches the same verdict as with an admin credential.
async fn least_privilege(dir: &Path, admin: &Path, suite: &Path, healthy: &[(String, String)]) {
    let kubectl = sandbox_kubectl(dir);
    let k = |args: &[&str]| {
        let o = Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(admin)
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "kubectl {args:?}: {}", stderr(&o));
        stdout(&o)
    };
    k(&[
        "apply",
        "-f",
        repo().join("deploy/rbac.yaml").to_str().unwrap(),
    ]);
    let token = k(&[
        "-n",
        "kubeflow",
        "create",
        "token",
        "kfcheck",
        "--duration",
        "10m",
    ]);
    let mut kc = kube::config::Kubeconfig::read_from(admin).unwrap();
    for a in &mut kc.auth_infos {
        a.auth_info = Some(kube::config::AuthInfo {
            token: Some(token.trim().to_string().into()),
            ..Default::default()
        });
    }
    let d = tempfile::tempdir().unwrap();
    let path = d.path().join("kfcheck-sa.kubeconfig");
    std::fs::write(&path, serde_yaml_ng::to_string(&kc).unwrap()).unwrap();
    let (code_sa, doc, err) = run_suite(&path, suite);
    assert_eq!(
        statuses(&doc),
        healthy,
        "as the kfcheck service account (exit {code_sa}):\n{doc}\n{err}"
    );
    assert_eq!(code_sa, 0);
    eprintln!(
        "least privilege: {} checks, same verdicts as admin",
        healthy.len()
    );
    // `all` (the KFP checks too, through kfcheck's port-forward with a minted default-editor
    // token) reaches the same statuses as admin, and nothing reads "lacks permission".
    let all = |kubeconfig: &Path| {
        let o = kfcheck(&[
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--suite",
            suite.to_str().unwrap(),
            "all",
            "-o",
            "json",
        ]);
        (code(&o), json(&o))
    };
    let ((code_admin, doc_admin), (code_all, doc_all)) = (all(admin), all(&path));
    assert_eq!(
        statuses(&doc_all),
        statuses(&doc_admin),
        "`all` as the kfcheck service account:\n{doc_all}\nas admin:\n{doc_admin}"
    );
    assert_eq!(code_all, code_admin);
    assert!(
        !doc_all.to_string().contains("lacks permission"),
        "{doc_all:#}"
    );
    // And `kfcheck cleanup` as that account sweeps every type kfcheck creates: it may list and
    // delete each, so nothing is left undecided (exit 0).
    let o = kfcheck(&[
        "--kubeconfig",
        path.to_str().unwrap(),
        "--no-kfp-port-forward",
        "cleanup",
    ]);
    assert_eq!(
        code(&o),
        0,
        "cleanup as the kfcheck service account:\n{}{}",
        stdout(&o),
        stderr(&o)
    );
    eprintln!(
        "least privilege: `all` ({} checks) and `cleanup` as the service account, as admin",
        statuses(&doc_all).len()
    );
    k(&[
        "delete",
        "-f",
        repo().join("deploy/rbac.yaml").to_str().unwrap(),
    ]);
}

/// A user with the built-in `view` role: every check that needs more ends errored with "kfcheck
/// lacks permission", none ends failed, and the run is undecided (3).
fn read_only_user(dir: &Path, suite: &Path, healthy: &[(String, String)]) {
    let (code_v, doc, _) = run_suite(&dir.join("viewer.kubeconfig"), suite);
    assert_eq!(code_v, 3, "{doc}");
    let mut errored = 0;
    for c in doc["checks"].as_array().unwrap() {
        match c["status"].as_str().unwrap() {
            "passed" => {}
            "errored" => {
                errored += 1;
                assert!(
                    c["reason"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("kfcheck lacks permission to"),
                    "{c}"
                );
            }
            other => panic!("{} is {other} for a read-only user: {c}", c["id"]),
        }
    }
    assert!(errored >= 4, "{doc}");
    assert_eq!(doc["checks"].as_array().unwrap().len(), healthy.len());
    eprintln!("read-only user: {errored} checks errored with 'lacks permission', none failed");
}

async fn cleanup_sweeps_only_what_is_labelled(c: &kube::Client, kubeconfig: &Path) {
    let pods: Api<Pod> = Api::namespaced(c.clone(), "kubeflow");
    let pod = |name: &str, ours: bool| -> Pod {
        let mut labels = serde_json::json!({"app": name});
        if ours {
            labels["app.kubernetes.io/managed-by"] = "kfcheck".into();
            labels["kfcheck.io/run-id"] = "0000000000".into();
        }
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": labels},
            "spec": {"nodeSelector": {"kfcheck.io/nowhere": "x"}, "containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}
        }))
        .unwrap()
    };
    pods.create(&PostParams::default(), &pod("kfcheck-leftover", true))
        .await
        .unwrap();
    pods.create(&PostParams::default(), &pod("not-kfchecks", false))
        .await
        .unwrap();
    // The KFP API behind Service ml-pipeline does not answer (its pod is simulated): the
    // Kubernetes sweep still happens, and the exit says that the KFP one could not.
    let o = kfcheck(&[
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "cleanup",
        "--dry-run",
    ]);
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("through kfcheck's port-forward to kubeflow/ml-pipeline-"),
        "{}",
        stderr(&o)
    );
    assert!(
        stdout(&o).contains("would delete Pod kubeflow/kfcheck-leftover"),
        "{}",
        stdout(&o)
    );
    assert!(!stdout(&o).contains("not-kfchecks"));
    assert!(
        pods.get_opt("kfcheck-leftover").await.unwrap().is_some(),
        "--dry-run deleted"
    );
    let o = kfcheck(&[
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--no-kfp-port-forward",
        "cleanup",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains("deleted Pod kubeflow/kfcheck-leftover"),
        "{}",
        stdout(&o)
    );
    assert_no_leftovers(c, "cleanup").await;
    assert!(
        pods.get_opt("not-kfchecks")
            .await
            .unwrap()
            .is_some_and(|p| p.metadata.deletion_timestamp.is_none()),
        "cleanup deleted an unlabelled pod"
    );
    pods.delete("not-kfchecks", &DeleteParams::default().grace_period(0))
        .await
        .unwrap();
    eprintln!("cleanup: removed the labelled pod only");
}

/// Ctrl-C while the GPU probe waits: the janitor removes the probe pod, exit 130.
async fn ctrl_c_mid_run(dir: &Path, c: &kube::Client, kubeconfig: &Path) {
    sandbox(dir, &["scenario", "no-gpu-nodes"]);
    let child = start_with_probe(
        c,
        &[
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "run",
            "gpu-schedulable",
            "-o",
            "json",
        ],
    )
    .await;
    let t = Instant::now();
    assert!(Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 130, "{}{}", stdout(&o), stderr(&o));
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "took {:?} to stop",
        t.elapsed()
    );
    assert_no_leftovers(c, "after Ctrl-C").await;
    eprintln!(
        "ctrl-c: exit 130 in {:.1}s, probe pod removed",
        t.elapsed().as_secs_f64()
    );
}

/// The API server dies while the probe waits: the check ends errored with the cause, the run
/// ends well within its deadline with exit 3; once the API server is back, `kfcheck cleanup`
/// removes the probe pod the janitor could not.
async fn api_server_killed_mid_run(dir: &Path, c: &kube::Client, kubeconfig: &Path) {
    let child = start_with_probe(
        c,
        &[
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--timeout",
            "90s",
            "run",
            "gpu-schedulable",
            "cluster",
            "-o",
            "json",
        ],
    )
    .await;
    let t = Instant::now();
    sandbox(dir, &["kill", "kube-apiserver"]);
    let o = child.wait_with_output().unwrap();
    let took = t.elapsed();
    sandbox(dir, &["revive"]);
    assert_eq!(code(&o), 3, "{}{}", stdout(&o), stderr(&o));
    assert!(
        took < Duration::from_secs(60),
        "took {took:?} after the kill"
    );
    let doc = json(&o);
    let probe = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "gpu-schedulable")
        .unwrap();
    assert_eq!(probe["status"], "errored", "{probe}");
    assert!(
        probe["reason"]
            .as_str()
            .unwrap()
            .contains("failed to get pod"),
        "{probe}"
    );
    assert!(
        probe.to_string().contains("cleanup failed"),
        "the lost cleanup should be reported: {probe}"
    );
    let left = leftovers(c).await;
    assert_eq!(left.len(), 1, "{left:?}");
    let o = kfcheck(&[
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--no-kfp-port-forward",
        "cleanup",
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stdout(&o).contains(&format!("deleted Pod {}", left[0])),
        "{}",
        stdout(&o)
    );
    assert_no_leftovers(c, "after cleanup").await;
    sandbox(dir, &["scenario", "healthy"]);
    eprintln!(
        "api server killed: exit 3 after {:.1}s, check errored with the cause; cleanup removed {}",
        took.as_secs_f64(),
        left[0]
    );
}
