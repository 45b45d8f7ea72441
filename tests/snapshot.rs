//! `kfcheck snapshot` and `kfcheck diff` of two snapshots against a real API server (the
//! scenario sandbox; the test reads only a namespace and a CRD group of its own): a workload's
//! image, a CRD's served and deprecated versions, an object last applied with a removed API, the
//! bundled samples' SDK; then an "upgrade" (a new image, a version no longer served) that the
//! diff names.
//!
//! Needs KFCHECK_TEST_SCENARIO_SANDBOX (scripts/test starts it).

mod common;

use common::*;

struct Cleanup<'a>(&'a Kubectl, String, String);

impl Drop for Cleanup<'_> {
    fn drop(&mut self) {
        let _ = self
            .0
            .try_run(&["delete", "namespace", &self.1, "--wait=false"], None);
        let _ = self
            .0
            .try_run(&["delete", "crd", &self.2, "--wait=false"], None);
    }
}

#[test]
fn a_snapshot_says_what_is_installed_and_a_diff_what_an_upgrade_changed() {
    let Some(dir) = scenario_sandbox() else {
        return;
    };
    let k = Kubectl::new(&dir);
    let pid = std::process::id();
    let ns = format!("kfcheck-snap-{pid}");
    let group = format!("snap{pid}.kubeflow.org");
    let crd = format!("widgets.{group}");
    let _cleanup = Cleanup(&k, ns.clone(), crd.clone());
    k.run(&["create", "namespace", &ns], None);
    k.run(
        &[
            "-n",
            &ns,
            "create",
            "deployment",
            "api",
            "--image=registry.invalid/kfp-api:2.4.0",
        ],
        None,
    );
    // An object an old installer wrote with batch/v1beta1 (removed in 1.25), as kubectl keeps it.
    k.run(
        &[
            "-n",
            &ns,
            "create",
            "cronjob",
            "sync",
            "--image=busybox",
            "--schedule=0 * * * *",
        ],
        None,
    );
    k.run(
        &["-n", &ns, "annotate", "cronjob", "sync", "kubectl.kubernetes.io/last-applied-configuration={\"apiVersion\":\"batch/v1beta1\",\"kind\":\"CronJob\",\"metadata\":{\"name\":\"sync\"}}"],
        None,
    );
    let version = |name: &str, storage: bool, deprecated: bool| {
        format!("  - name: {name}\n    served: true\n    storage: {storage}\n    deprecated: {deprecated}\n    schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}\n")
    };
    let crd_yaml = |versions: String| {
        format!("apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: {crd}\nspec:\n  group: {group}\n  scope: Namespaced\n  names: {{plural: widgets, singular: widget, kind: Widget}}\n  versions:\n{versions}")
    };
    k.run(
        &["apply", "-f", "-"],
        Some(&crd_yaml(
            version("v1alpha1", false, true) + &version("v1", true, false),
        )),
    );
    let work = tempfile::tempdir().unwrap();
    let snap = |name: &str| {
        let o = kfcheck(&[
            "--kubeconfig",
            dir.join("kubeconfig").to_str().unwrap(),
            "--kfp-endpoint",
            "http://127.0.0.1:1",
            "snapshot",
            "--namespaces",
            &ns,
            "-o",
            "json",
        ]);
        assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
        let path = work.path().join(name);
        std::fs::write(&path, stdout(&o)).unwrap();
        (json(&o), path)
    };
    let (before, before_file) = snap("before.json");
    assert_eq!(before["kind"], "kfcheck-snapshot");
    assert_eq!(before["namespaces"], serde_json::json!([ns]));
    let w = &before["workloads"][0];
    assert_eq!(
        (w["kind"].as_str(), w["name"].as_str()),
        (Some("Deployment"), Some("api"))
    );
    assert_eq!(
        w["images"],
        serde_json::json!(["registry.invalid/kfp-api:2.4.0"])
    );
    let c = before["crds"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == crd.as_str())
        .unwrap_or_else(|| panic!("{crd} not in {before:#}"));
    assert_eq!(c["served"], serde_json::json!(["v1alpha1", "v1"]));
    assert_eq!(c["deprecated"], serde_json::json!(["v1alpha1"]));
    assert_eq!(c["storage"], "v1");
    let uses = before["deprecated_apis"].to_string();
    assert!(
        uses.contains(&format!("CronJob {ns}/sync"))
            && uses.contains("batch/v1beta1")
            && uses.contains("1.25"),
        "{uses}"
    );
    assert!(before["samples"]["kfcheck-cpu-sample.yaml"]
        .as_str()
        .unwrap()
        .starts_with("kfp-"));
    assert!(before["cluster"]["server"]
        .as_str()
        .unwrap()
        .starts_with("https://"));
    assert!(
        before["kfp_version"].is_null() && before["kfp_note"].is_string(),
        "{before:#}"
    );

    // The "upgrade": a new image, v1alpha1 no longer served, the old CronJob rewritten.
    k.run(
        &[
            "-n",
            &ns,
            "set",
            "image",
            "deployment/api",
            "kfp-api=registry.invalid/kfp-api:2.5.0",
        ],
        None,
    );
    k.run(
        &["apply", "-f", "-"],
        Some(&crd_yaml(version("v1", true, false))),
    );
    k.run(&["-n", &ns, "delete", "cronjob", "sync"], None);
    let (_, after_file) = snap("after.json");
    let o = kfcheck(&[
        "diff",
        before_file.to_str().unwrap(),
        after_file.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    for line in [
        format!(
            "Deployment {ns}/api: registry.invalid/kfp-api:2.4.0 -> registry.invalid/kfp-api:2.5.0"
        ),
        format!("{crd}: served v1alpha1, v1 (storage v1) -> served v1 (storage v1)"),
        format!("gone: CronJob {ns}/sync as batch/v1beta1"),
    ] {
        assert!(text.contains(&line), "no {line} in:\n{text}");
    }
    let o = kfcheck(&[
        "diff",
        before_file.to_str().unwrap(),
        before_file.to_str().unwrap(),
    ]);
    assert!(stdout(&o).contains("Nothing changed."), "{}", stdout(&o));
}
