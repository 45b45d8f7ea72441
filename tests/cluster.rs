//! Cluster checks against a real Kubernetes API server: the local control plane that
//! `scripts/sandbox up` starts (scripts/test exports its kubeconfigs). Without one these tests
//! skip and say so, except under CI or KFCHECK_E2E=1, where a missing sandbox is a failure.

mod common;
use common::*;

fn sandbox(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if std::path::Path::new(&v).is_file() => Some(v),
        _ => unavailable(
            format!("{var} is not set: scripts/test starts the sandbox (scripts/sandbox up)"),
            format!("{var} not set (run scripts/sandbox up and export it)"),
        ),
    }
}

#[test]
fn kube_api_check_passes_against_a_real_api_server() {
    let Some(kubeconfig) = sandbox("KFCHECK_TEST_KUBECONFIG") else {
        return;
    };
    let o = kfcheck(&[
        "--kubeconfig",
        &kubeconfig,
        "run",
        "kube-api-reachable",
        "-o",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let doc = json(&o);
    let c = check(&doc, "kube-api-reachable");
    assert_eq!(c["status"], "passed", "{c}");
    assert!(
        c["notes"][0]
            .as_str()
            .unwrap()
            .starts_with("Kubernetes v1."),
        "{c}"
    );
    assert_eq!(doc["needs"][0]["state"], "available");
    // The report says which cluster it describes, with no credential.
    let kc = std::fs::read_to_string(&kubeconfig).unwrap();
    let server = kc
        .lines()
        .find_map(|l| l.trim().strip_prefix("server: "))
        .expect("a server in the sandbox's kubeconfig")
        .trim_end_matches('/');
    let cluster = &doc["cluster"];
    assert_eq!(
        cluster["server"].as_str().unwrap().trim_end_matches('/'),
        server,
        "{cluster}"
    );
    assert!(
        cluster["kubernetes_version"]
            .as_str()
            .unwrap()
            .starts_with("v1."),
        "{cluster}"
    );
    let context = kc
        .lines()
        .find_map(|l| l.strip_prefix("current-context: "))
        .unwrap()
        .trim();
    assert_eq!(cluster["context"], context, "{cluster}");
    // The table says it too; with no cluster at all, the report says none was examined.
    let o = kfcheck(&["--kubeconfig", &kubeconfig, "run", "kube-api-reachable"]);
    assert!(
        stdout(&o).contains(&format!("Cluster: context {context}, {server}")),
        "{}",
        stdout(&o)
    );
    let o = kfcheck(&["run", "lint-sample-pipelines", "-o", "json"]);
    assert_eq!(json(&o)["cluster"], serde_json::Value::Null);
}

#[test]
fn an_unsupported_version_fails_with_the_right_finding() {
    let Some(kubeconfig) = sandbox("KFCHECK_TEST_KUBECONFIG") else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "future.yaml", "id: kube-api-reachable\nkind: kube-api\ntitle: t\ncategory: cluster\nparams: {min_version: \"1.99\"}\n");
    let o = kfcheck(&[
        "--kubeconfig",
        &kubeconfig,
        "--suite",
        d.path().to_str().unwrap(),
        "run",
        "kube-api-reachable",
        "-o",
        "json",
    ]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let doc = json(&o);
    let c = check(&doc, "kube-api-reachable");
    assert_eq!(c["findings"][0]["rule"], "version-unsupported", "{c}");
    assert_eq!(c["findings"][0]["evidence"][0]["expected"], ">= 1.99");
}

#[test]
fn a_read_only_user_can_still_read_the_version() {
    let Some(kubeconfig) = sandbox("KFCHECK_TEST_VIEWER_KUBECONFIG") else {
        return;
    };
    let o = kfcheck(&[
        "--kubeconfig",
        &kubeconfig,
        "run",
        "kube-api-reachable",
        "-o",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
}

#[test]
fn an_unknown_context_cannot_decide() {
    let Some(kubeconfig) = sandbox("KFCHECK_TEST_KUBECONFIG") else {
        return;
    };
    let o = kfcheck(&[
        "--kubeconfig",
        &kubeconfig,
        "--context",
        "no-such-context",
        "run",
        "cluster",
    ]);
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    assert!(stdout(&o).contains("no-such-context"), "{}", stdout(&o));
}

#[test]
fn kfcheck_all_against_a_bare_control_plane_says_kubeflow_is_missing() {
    let Some(kubeconfig) = sandbox("KFCHECK_TEST_KUBECONFIG") else {
        return;
    };
    let o = kfcheck(&["--kubeconfig", &kubeconfig, "all", "-o", "json"]);
    let doc = json(&o);
    assert_eq!(check(&doc, "kube-api-reachable")["status"], "passed");
    assert_eq!(check(&doc, "lint-sample-pipelines")["status"], "passed");
    // The sandbox has no Kubeflow: every expected Deployment is reported missing, by name.
    let deploy = check(&doc, "kfp-deployments");
    assert_eq!(deploy["status"], "failed");
    assert!(deploy["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["subject"]["name"] == "kubeflow/ml-pipeline"));
    assert_eq!(code(&o), 1, "{}", stdout(&o));
}

mod live {
    //! Objects created in the sandbox through the Kubernetes API (kube-rs), labelled and removed.

    use super::*;
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Namespace;
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
    use std::time::{Duration, Instant};

    /// The Kubeflow CRDs from `shared/` (beside the repository, as CI lays it out, or where
    /// KFCHECK_SHARED_DIR points).
    fn shared_crds() -> Vec<CustomResourceDefinition> {
        let shared = std::env::var_os("KFCHECK_SHARED_DIR")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| repo().join("../shared"));
        let dir = shared.join("kubeflow/crds");
        let mut out = Vec::new();
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        for f in files {
            let text = std::fs::read_to_string(&f).unwrap();
            for doc in serde_yaml_ng::Deserializer::from_str(&text) {
                let v: serde_json::Value = serde::Deserialize::deserialize(doc).unwrap();
                if v["kind"] == "CustomResourceDefinition" {
                    out.push(serde_json::from_value(v).unwrap());
                }
            }
        }
        out
    }

    /// Runs kfcheck until `done` accepts its JSON report or the time is up; returns the last one.
    fn until(args: &[&str], done: impl Fn(&serde_json::Value) -> bool) -> (i32, serde_json::Value) {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let o = kfcheck(args);
            let doc = json(&o);
            if done(&doc) || Instant::now() > deadline {
                return (code(&o), doc);
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn kubeflow_crds_pass_when_applied_and_a_missing_one_fails() {
        let Some(kubeconfig) = sandbox("KFCHECK_TEST_KUBECONFIG") else {
            return;
        };
        let api: Api<CustomResourceDefinition> = Api::all(kube_client(&kubeconfig).await);
        let crds = shared_crds();
        assert!(crds.len() >= 8);
        for crd in &crds {
            let name = crd.metadata.name.clone().unwrap();
            api.patch(
                &name,
                &PatchParams::apply("kfcheck-tests").force(),
                &Patch::Apply(crd),
            )
            .await
            .unwrap();
        }
        let k = kubeconfig.clone();
        let (code_ok, doc) = tokio::task::spawn_blocking(move || {
            until(
                &["--kubeconfig", &k, "run", "kubeflow-crds", "-o", "json"],
                |d| check(d, "kubeflow-crds")["status"] == "passed",
            )
        })
        .await
        .unwrap();
        assert_eq!(code_ok, 0, "{doc}");
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "crds.yaml",
            "id: kubeflow-crds\nkind: crds-present\ntitle: t\ncategory: cluster\nparams:\n  crds:\n  - {name: workflows.argoproj.io, versions: [v1alpha1, v9]}\n  - {name: trainjobs.trainer.kubeflow.org}\n",
        );
        let o = kfcheck(&[
            "--kubeconfig",
            &kubeconfig,
            "--suite",
            d.path().to_str().unwrap(),
            "run",
            "kubeflow-crds",
            "-o",
            "json",
        ]);
        assert_eq!(code(&o), 1);
        let doc = json(&o);
        let rules: Vec<&str> = check(&doc, "kubeflow-crds")["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap())
            .collect();
        assert_eq!(rules, vec!["crd-version-not-served", "crd-missing"]);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn deployments_available_sees_ready_stuck_and_missing_deployments() {
        let Some(kubeconfig) = sandbox("KFCHECK_TEST_KUBECONFIG") else {
            return;
        };
        let c = kube_client(&kubeconfig).await;
        let ns_name = format!("kfcheck-test-{}", std::process::id());
        let namespaces: Api<Namespace> = Api::all(c.clone());
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": ns_name, "labels": {"app.kubernetes.io/managed-by": "kfcheck-tests"}}
        }))
        .unwrap();
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .unwrap();
        let deployments: Api<Deployment> = Api::namespaced(c.clone(), &ns_name);
        let deployment = |name: &str, selector: serde_json::Value| -> Deployment {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": name},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": name}},
                    "template": {
                        "metadata": {"labels": {"app": name}},
                        "spec": {"nodeSelector": selector, "containers": [{"name": "main", "image": "registry.invalid/kfp-api:2.17.0"}]}
                    }
                }
            }))
            .unwrap()
        };
        deployments
            .create(
                &PostParams::default(),
                &deployment("ml-pipeline", serde_json::json!({})),
            )
            .await
            .unwrap();
        // No node carries this label: the pod stays Pending and the Deployment unavailable.
        deployments
            .create(
                &PostParams::default(),
                &deployment("ml-pipeline-ui", serde_json::json!({"pool": "nowhere"})),
            )
            .await
            .unwrap();
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "deploy.yaml",
            &format!("id: kfp-deployments\nkind: deployments-available\ntitle: t\ncategory: cluster\nparams:\n  namespace: {ns_name}\n  deployments: [ml-pipeline, ml-pipeline-ui, cache-server]\n"),
        );
        let suite = d.path().to_str().unwrap().to_string();
        let k = kubeconfig.clone();
        let (code_run, doc) = tokio::task::spawn_blocking(move || {
            until(
                &[
                    "--kubeconfig",
                    &k,
                    "--suite",
                    &suite,
                    "run",
                    "kfp-deployments",
                    "-o",
                    "json",
                ],
                |d| {
                    check(d, "kfp-deployments")["notes"][0]
                        .as_str()
                        .is_some_and(|n| n.starts_with("1 of 3"))
                },
            )
        })
        .await
        .unwrap();
        let _ = namespaces.delete(&ns_name, &DeleteParams::default()).await;
        assert_eq!(code_run, 1, "{doc}");
        let c = check(&doc, "kfp-deployments");
        let got: Vec<(&str, &str)> = c["findings"]
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
        assert_eq!(
            got,
            vec![
                (
                    "deployment-unavailable",
                    format!("{ns_name}/ml-pipeline-ui").as_str()
                ),
                (
                    "deployment-missing",
                    format!("{ns_name}/cache-server").as_str()
                )
            ]
        );
        assert_eq!(
            c["notes"][0],
            "1 of 3 deployments available in ".to_string() + &ns_name
        );
    }
}

mod live_cluster_state {
    //! Cluster-scoped state the sandbox starts with: a tainted, labelled GPU node; no StorageClass.

    use super::*;

    #[test]
    fn gpu_inventory_sees_the_sandbox_gpu_pool() {
        let Some(kubeconfig) = sandbox("KFCHECK_TEST_KUBECONFIG") else {
            return;
        };
        let o = kfcheck(&[
            "--kubeconfig",
            &kubeconfig,
            "run",
            "gpu-inventory",
            "-o",
            "json",
        ]);
        // The bare sandbox runs no device plugin (the `healthy` scenario adds one): the GPU node
        // is reported for exactly that, and the inventory is still noted.
        assert_eq!(code(&o), 1, "{}", stdout(&o));
        let doc = json(&o);
        let findings = check(&doc, "gpu-inventory")["findings"].clone();
        assert_eq!(findings.as_array().unwrap().len(), 1, "{findings}");
        assert_eq!(findings[0]["rule"], "device-plugin-missing");
        assert_eq!(findings[0]["subject"]["name"], "kwok-gpu-0");
        let notes = check(&doc, "gpu-inventory")["notes"].clone();
        assert_eq!(notes[0], "cloud.google.com/gke-accelerator=nvidia-l4: 1 node(s), 8 nvidia.com/gpu allocatable, taints nvidia.com/gpu=present:NoSchedule", "{doc}");
        // The same cluster has no AMD GPUs: that is a finding, not a pass.
        let d = tempfile::tempdir().unwrap();
        write(d.path(), "amd.yaml", "id: gpu-inventory\nkind: gpu-inventory\ntitle: t\ncategory: gpu\nparams: {resource: amd.com/gpu, pool_labels: [amd.com/gpu.product], device_plugin_selectors: []}\n");
        let o = kfcheck(&[
            "--kubeconfig",
            &kubeconfig,
            "--suite",
            d.path().to_str().unwrap(),
            "run",
            "gpu-inventory",
            "-o",
            "json",
        ]);
        assert_eq!(code(&o), 1);
        assert_eq!(
            check(&json(&o), "gpu-inventory")["findings"][0]["rule"],
            "no-gpu-nodes"
        );
    }

    #[test]
    fn storage_class_default_fails_on_the_bare_sandbox() {
        let Some(kubeconfig) = sandbox("KFCHECK_TEST_KUBECONFIG") else {
            return;
        };
        let o = kfcheck(&[
            "--kubeconfig",
            &kubeconfig,
            "run",
            "storage-class-default",
            "-o",
            "json",
        ]);
        assert_eq!(code(&o), 1, "{}", stdout(&o));
        assert_eq!(
            check(&json(&o), "storage-class-default")["findings"][0]["rule"],
            "no-default-storageclass"
        );
    }
}

mod lint_against_the_cluster {
    //! `kfcheck lint --cluster`: the bundled samples fit the sandbox's nodes; a task asking for
    //! more GPUs than any node has does not, and the evidence says why per node.

    use super::*;

    #[test]
    fn samples_fit_and_an_oversized_task_does_not() {
        let Some(kubeconfig) = sandbox("KFCHECK_TEST_KUBECONFIG") else {
            return;
        };
        let samples = repo().join("checks/pipelines");
        let o = kfcheck(&[
            "--kubeconfig",
            &kubeconfig,
            "lint",
            "--cluster",
            samples.to_str().unwrap(),
            "-o",
            "json",
        ]);
        assert_eq!(code(&o), 0, "{}", stdout(&o));
        let doc = json(&o);
        assert_eq!(check(&doc, "lint-cluster-fit")["status"], "passed", "{doc}");
        assert_eq!(
            check(&doc, "lint-cluster-fit")["notes"][1],
            "checked against 2 node(s)"
        );

        let d = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(samples.join("kfcheck-gpu-sample.yaml")).unwrap();
        let big = text.replace("ount: '1'", "ount: '16'");
        assert_ne!(big, text);
        let f = write(d.path(), "sixteen-gpus.yaml", &big);
        let o = kfcheck(&[
            "--kubeconfig",
            &kubeconfig,
            "lint",
            "--cluster",
            f.to_str().unwrap(),
            "-o",
            "json",
        ]);
        assert_eq!(code(&o), 1, "{}", stdout(&o));
        let doc = json(&o);
        let fit = check(&doc, "lint-cluster-fit");
        let finding = &fit["findings"][0];
        assert_eq!(finding["rule"], "task-unschedulable", "{fit}");
        assert_eq!(finding["subject"]["name"], "gpu-probe");
        let evidence: Vec<String> = finding["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                format!(
                    "{}: {}",
                    e["key"].as_str().unwrap(),
                    e["observed"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            evidence,
            vec![
                "nodes that fit: 0 of 2",
                "1 node(s): do not match node selector cloud.google.com/gke-accelerator=nvidia-l4",
                "1 node(s): have too little nvidia.com/gpu (need 16, node has 8)"
            ]
        );
        // The static lint has its own check and did not complain about the count.
        assert_eq!(check(&doc, "lint")["status"], "passed", "{doc}");
    }

    #[test]
    fn lint_cluster_without_a_cluster_cannot_decide() {
        let samples = repo().join("checks/pipelines");
        let o = kfcheck(&[
            "--kubeconfig",
            "/nonexistent/kubeconfig",
            "lint",
            "--cluster",
            samples.to_str().unwrap(),
            "-o",
            "json",
        ]);
        assert_eq!(code(&o), 3, "{}", stdout(&o));
        let o = kfcheck(&["lint", "--cluster", samples.to_str().unwrap(), "-o", "json"]);
        assert_eq!(
            code(&o),
            3,
            "no kubeconfig at all is an error when --cluster asks for one: {}",
            stdout(&o)
        );
    }
}

/// kubectl finds kfcheck as its plug-in (a `kubectl-kfcheck` on PATH, what `kubectl krew install`
/// or a symlink makes), lists it, and runs it: usage lines say `kubectl kfcheck`.
#[test]
fn kubectl_runs_kfcheck_as_a_plugin() {
    let Some(kubeconfig) = sandbox("KFCHECK_TEST_KUBECONFIG") else {
        return;
    };
    let dir = std::path::Path::new(&kubeconfig).parent().unwrap();
    let kubectl = sandbox_kubectl(dir);
    let bin = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(
        env!("CARGO_BIN_EXE_kfcheck"),
        bin.path().join("kubectl-kfcheck"),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let kubectl_run = |args: &[&str]| {
        std::process::Command::new(&kubectl)
            .args(args)
            .env("PATH", &path)
            .env_remove("KUBECONFIG")
            .output()
            .unwrap()
    };
    let o = kubectl_run(&["plugin", "list"]);
    assert!(
        stdout(&o).contains("kubectl-kfcheck"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    let o = kubectl_run(&["kfcheck", "--help"]);
    assert!(
        stdout(&o).contains("Usage: kubectl kfcheck [OPTIONS] <COMMAND>"),
        "{}",
        stdout(&o)
    );
    let o = kubectl_run(&[
        "kfcheck",
        "--kubeconfig",
        &kubeconfig,
        "run",
        "kube-api-reachable",
        "-o",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(check(&json(&o), "kube-api-reachable")["status"], "passed");
}
