//! The artifact-store kind against a real API server (the scenario sandbox) and a real
//! SeaweedFS (scripts/seaweedfs: per-profile S3 users limited to
//! `mlpipeline/private-artifacts/<profile>/`, as KFP's profile controller sets them up). The test
//! makes profiles of its own, each with the artifact-store Secret a profile gets, and one fault
//! each: a Secret holding the admin's key (it can list other profiles' artifacts), a wrong
//! secret key, no Secret at all, and a pipeline root in a bucket that does not exist.
//!
//! Needs KFCHECK_TEST_SCENARIO_SANDBOX and KFCHECK_TEST_S3 (scripts/test sets both).

mod common;

use common::*;
use std::path::{Path, PathBuf};

const PROFILES: &[&str] = &[
    "kfcheck-as-a",
    "kfcheck-as-b",
    "kfcheck-as-admin",
    "kfcheck-as-wrong",
    "kfcheck-as-nosecret",
    "kfcheck-as-nobucket",
];

/// The test's profiles and their namespaces, deleted when dropped.
struct Profiles<'a>(&'a Kubectl);

impl Drop for Profiles<'_> {
    fn drop(&mut self) {
        for p in PROFILES {
            let _ = self
                .0
                .try_run(&["delete", "profile", p, "--wait=false"], None);
            let _ = self
                .0
                .try_run(&["delete", "namespace", p, "--wait=false"], None);
        }
    }
}

fn setup() -> Option<(PathBuf, String, PathBuf)> {
    let sandbox = match std::env::var("KFCHECK_TEST_SCENARIO_SANDBOX") {
        Ok(d) if Path::new(&d).join("kubeconfig").is_file() => PathBuf::from(d),
        _ => {
            return unavailable(
                "KFCHECK_TEST_SCENARIO_SANDBOX is not set: scripts/test starts it",
                "KFCHECK_TEST_SCENARIO_SANDBOX not set",
            )
        }
    };
    match (
        std::env::var("KFCHECK_TEST_S3"),
        std::env::var("KFCHECK_TEST_S3_KEYS"),
    ) {
        (Ok(e), Ok(k)) => Some((sandbox, e, PathBuf::from(k))),
        _ => unavailable(
            "KFCHECK_TEST_S3 is not set: scripts/test starts SeaweedFS",
            "KFCHECK_TEST_S3 not set (scripts/seaweedfs up)",
        ),
    }
}

#[test]
fn each_profiles_key_is_proven_on_its_own_prefix_and_each_fault_is_named() {
    let Some((sandbox, s3, keys)) = setup() else {
        return;
    };
    let k = Kubectl::new(&sandbox);
    let _cleanup = Profiles(&k);
    let key = |who: &str, which: &str| std::fs::read_to_string(keys.join(who).join(which)).unwrap();
    for p in PROFILES {
        let _ = k.try_run(&["delete", "namespace", p, "--wait=true"], None);
        k.run(
            &["apply", "-f", "-"],
            Some(&format!(
                "apiVersion: kubeflow.org/v1\nkind: Profile\nmetadata:\n  name: {p}\nspec:\n  owner: {{kind: User, name: {p}@example.com}}\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: {p}\n"
            )),
        );
        let (ak, sk) = match *p {
            "kfcheck-as-a" | "kfcheck-as-b" => (key(p, "accesskey"), key(p, "secretkey")),
            // The admin may touch any bucket, so the missing one answers NoSuchBucket, not 403.
            "kfcheck-as-admin" | "kfcheck-as-nobucket" => {
                (key("admin", "accesskey"), key("admin", "secretkey"))
            }
            "kfcheck-as-wrong" => (
                key("kfcheck-as-a", "accesskey"),
                "not-the-secret".to_string(),
            ),
            _ => continue,
        };
        k.run(
            &[
                "-n",
                p,
                "create",
                "secret",
                "generic",
                "mlpipeline-minio-artifact",
                &format!("--from-literal=accesskey={ak}"),
                &format!("--from-literal=secretkey={sk}"),
            ],
            None,
        );
    }
    // The pipeline root KFP's launcher would use, in a bucket that does not exist.
    k.run(
        &["-n", "kfcheck-as-nobucket", "create", "configmap", "kfp-launcher", "--from-literal=defaultPipelineRoot=minio://kfcheck-no-such-bucket/private-artifacts/kfcheck-as-nobucket/v2/artifacts"],
        None,
    );
    // Argo's per-namespace artifact repository, as the profile controller writes it.
    k.run(
        &["apply", "-n", "kfcheck-as-a", "-f", "-"],
        Some("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: artifact-repositories\n  annotations: {workflows.argoproj.io/default-artifact-repository: default-namespaced}\ndata:\n  default-namespaced: '{\"archiveLogs\":true,\"s3\":{\"endpoint\":\"seaweedfs.kubeflow:9000\",\"bucket\":\"mlpipeline\",\"keyFormat\":\"private-artifacts/kfcheck-as-a/{{workflow.name}}\",\"insecure\":true,\"accessKeySecret\":{\"name\":\"mlpipeline-minio-artifact\",\"key\":\"accesskey\"},\"secretKeySecret\":{\"name\":\"mlpipeline-minio-artifact\",\"key\":\"secretkey\"}}}'\n"),
    );
    let dir = tempfile::tempdir().unwrap();
    let list = PROFILES.join(", ");
    write(
        dir.path(),
        "suite/artifact-store.yaml",
        &format!("id: artifact-store\nkind: artifact-store\ntitle: t\ncategory: storage\nparams:\n  endpoint: {s3}\n  profiles: [{list}]\n"),
    );
    let o = kfcheck_command(dir.path())
        .args([
            "--kubeconfig",
            sandbox.join("kubeconfig").to_str().unwrap(),
            "--suite",
            "suite",
            "run",
            "artifact-store",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("exit {}: {}{}", code(&o), stdout(&o), stderr(&o)));
    assert_eq!(code(&o), 1, "{doc:#}\n{}", stderr(&o));
    let c = check(&doc, "artifact-store");
    assert_eq!(c["status"], "failed", "{c:#}");
    let mut found: Vec<(String, String)> = c["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["rule"].as_str().unwrap().to_string(),
                f["subject"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            (
                "artifact-store-bucket-missing".to_string(),
                "s3://kfcheck-no-such-bucket".to_string()
            ),
            (
                "artifact-store-cross-profile".into(),
                "kfcheck-as-admin".into()
            ),
            (
                "artifact-store-key-rejected".into(),
                "kfcheck-as-wrong".into()
            ),
            (
                "artifact-store-secret-missing".into(),
                "kfcheck-as-nosecret/mlpipeline-minio-artifact".into()
            ),
        ],
        "{c:#}"
    );
    assert_eq!(c["problems"], serde_json::json!([]), "{c:#}");
    let notes = c["notes"].to_string();
    for p in ["kfcheck-as-a", "kfcheck-as-b"] {
        assert!(
            notes.contains(&format!(
                "{p}: round trip under s3://mlpipeline/private-artifacts/{p}/"
            )),
            "{notes}"
        );
        assert!(
            notes.contains(&format!("{p}: its key may not list")),
            "{notes}"
        );
    }
    assert!(
        notes.contains("artifact-repositories (default-namespaced)"),
        "{notes}"
    );
    // No key in the report, and nothing left in the bucket.
    let text = stdout(&o) + &stderr(&o);
    for who in ["admin", "kfcheck-as-a", "kfcheck-as-b"] {
        assert!(
            !text.contains(key(who, "secretkey").trim()),
            "a secret key of {who} was printed"
        );
    }
    let filer =
        std::env::var("KFCHECK_TEST_S3_FILER").unwrap_or_else(|_| "http://127.0.0.1:18888".into());
    for p in PROFILES {
        assert_eq!(
            filer_count(
                &[],
                &filer,
                "mlpipeline",
                &format!("private-artifacts/{p}/kfcheck/")
            ),
            0
        );
    }
}
