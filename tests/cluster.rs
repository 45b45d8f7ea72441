//! Cluster checks against a real Kubernetes API server: the local control plane that
//! `scripts/sandbox up` starts (scripts/test exports its kubeconfigs). Without one these tests
//! skip and say so, except under CI or KFCHECK_E2E=1, where a missing sandbox is a failure.

#![expect(clippy::print_stderr, reason = "a test that skips says why on stderr")]

mod common;
use common::*;

fn sandbox(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if std::path::Path::new(&v).is_file() => Some(v),
        _ => {
            let strict = std::env::var_os("CI").is_some() || std::env::var_os("KFCHECK_E2E").is_some();
            assert!(!strict, "{var} is not set: scripts/test starts the sandbox (scripts/sandbox up)");
            eprintln!("skipped: {var} not set (run scripts/sandbox up and export it)");
            None
        }
    }
}

fn check<'a>(doc: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    doc["checks"].as_array().unwrap().iter().find(|c| c["id"] == id).unwrap_or_else(|| panic!("no {id} in {doc}"))
}

#[test]
fn kube_api_check_passes_against_a_real_api_server() {
    let Some(kubeconfig) = sandbox("KFCHECK_TEST_KUBECONFIG") else { return };
    let o = kfcheck(&["--kubeconfig", &kubeconfig, "run", "cluster", "-o", "json"]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let doc = json(&o);
    let c = check(&doc, "kube-api-reachable");
    assert_eq!(c["status"], "passed", "{c}");
    assert!(c["notes"][0].as_str().unwrap().starts_with("Kubernetes v1."), "{c}");
    assert_eq!(doc["needs"][0]["state"], "available");
}

#[test]
fn an_unsupported_version_fails_with_the_right_finding() {
    let Some(kubeconfig) = sandbox("KFCHECK_TEST_KUBECONFIG") else { return };
    let d = tempfile::tempdir().unwrap();
    write(d.path(), "future.yaml", "id: kube-api-reachable\nkind: kube-api\ntitle: t\ncategory: cluster\nparams: {min_version: \"1.99\"}\n");
    let o = kfcheck(&["--kubeconfig", &kubeconfig, "--suite", d.path().to_str().unwrap(), "run", "kube-api-reachable", "-o", "json"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let doc = json(&o);
    let c = check(&doc, "kube-api-reachable");
    assert_eq!(c["findings"][0]["rule"], "version-unsupported", "{c}");
    assert_eq!(c["findings"][0]["evidence"][0]["expected"], ">= 1.99");
}

#[test]
fn a_read_only_user_can_still_read_the_version() {
    let Some(kubeconfig) = sandbox("KFCHECK_TEST_VIEWER_KUBECONFIG") else { return };
    let o = kfcheck(&["--kubeconfig", &kubeconfig, "run", "kube-api-reachable", "-o", "json"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
}

#[test]
fn an_unknown_context_cannot_decide() {
    let Some(kubeconfig) = sandbox("KFCHECK_TEST_KUBECONFIG") else { return };
    let o = kfcheck(&["--kubeconfig", &kubeconfig, "--context", "no-such-context", "run", "cluster"]);
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    assert!(stdout(&o).contains("no-such-context"), "{}", stdout(&o));
}

#[test]
fn kfcheck_all_against_the_sandbox() {
    let Some(kubeconfig) = sandbox("KFCHECK_TEST_KUBECONFIG") else { return };
    let o = kfcheck(&["--kubeconfig", &kubeconfig, "all", "-o", "json"]);
    let doc = json(&o);
    assert_eq!(check(&doc, "kube-api-reachable")["status"], "passed");
    assert_eq!(check(&doc, "lint-sample-pipelines")["status"], "passed");
    assert_eq!(code(&o), 0, "{}", stdout(&o));
}
