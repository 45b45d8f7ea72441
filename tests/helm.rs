//! The Helm chart (deploy/helm/kfcheck), read by the real `helm` (built from its Go module by
//! scripts/helm): `helm lint` passes, `helm template` renders deploy/rbac.yaml and
//! deploy/cronjob.yaml with the values set in (schedule, image, Pushgateway, history size, suite
//! overrides), and a namespace other than kubeflow is refused with the reason.
//!
//! Needs KFCHECK_TEST_HELM (scripts/test builds Helm and sets it).

mod common;

use common::*;
use std::process::Command;

fn helm() -> Option<String> {
    match std::env::var("KFCHECK_TEST_HELM") {
        Ok(h) if std::path::Path::new(&h).is_file() => Some(h),
        _ => unavailable(
            "KFCHECK_TEST_HELM is not set: scripts/test builds Helm (scripts/helm bin)",
            "KFCHECK_TEST_HELM not set (export KFCHECK_TEST_HELM=$(scripts/helm bin))",
        ),
    }
}

fn run(helm: &str, args: &[&str]) -> std::process::Output {
    let home = tempfile::tempdir().unwrap();
    Command::new(helm)
        .args(args)
        .current_dir(repo())
        // Helm's own state (repositories, cache) in a folder of the test's; nothing fetched.
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_DATA_HOME", home.path().join("data"))
        .output()
        .unwrap()
}

#[test]
fn helm_lints_and_renders_the_chart_with_its_values() {
    let Some(helm) = helm() else {
        return;
    };
    let o = run(
        &helm,
        &["lint", "deploy/helm/kfcheck", "--namespace", "kubeflow"],
    );
    assert!(
        o.status.success(),
        "helm lint: {}{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(stdout(&o).contains("0 chart(s) failed"), "{}", stdout(&o));

    let suite = "id: host-storage\nkind: storage-roundtrip\ntitle: t\ncategory: storage\nparams: {from: host, bucket: \"s3://mlpipeline\"}\n";
    let values = tempfile::tempdir().unwrap();
    let file = write(
        values.path(),
        "values.yaml",
        &format!(
            "schedule: \"*/5 * * * *\"\nimage: {{repository: registry.example/kfcheck, tag: \"9.9.9\"}}\npushGateway: http://pushgateway.monitoring:9091\nhistory: {{size: 5Gi, storageClassName: fast}}\nsuite:\n  storage.yaml: |\n{}",
            suite.lines().map(|l| format!("    {l}\n")).collect::<String>()
        ),
    );
    let o = run(
        &helm,
        &[
            "template",
            "kfcheck",
            "deploy/helm/kfcheck",
            "--namespace",
            "kubeflow",
            "-f",
            file.to_str().unwrap(),
        ],
    );
    assert!(o.status.success(), "helm template: {}", stderr(&o));
    let docs: Vec<serde_yaml_ng::Value> = serde_yaml_ng::Deserializer::from_str(&stdout(&o))
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &serde_yaml_ng::Value| !v.is_null())
        .collect();
    let find = |kind: &str, name: &str| {
        docs.iter()
            .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name} in:\n{}", stdout(&o)))
    };
    let cron = find("CronJob", "kfcheck");
    assert_eq!(cron["metadata"]["namespace"], "kubeflow");
    assert_eq!(cron["spec"]["schedule"], "*/5 * * * *");
    let c = &cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(c["image"], "registry.example/kfcheck:9.9.9");
    // The same arguments as deploy/cronjob.yaml, which the kustomization applies.
    let plain = std::fs::read_to_string(repo().join("deploy/cronjob.yaml")).unwrap();
    for arg in c["args"].as_sequence().unwrap() {
        assert!(plain.contains(arg.as_str().unwrap()), "{arg:?}");
    }
    assert_eq!(
        cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"],
        "kfcheck"
    );
    let pvc = find("PersistentVolumeClaim", "kfcheck-history");
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "5Gi");
    assert_eq!(pvc["spec"]["storageClassName"], "fast");
    let settings = find("ConfigMap", "kfcheck-settings");
    assert_eq!(
        settings["data"]["KFCHECK_PUSH_GATEWAY"],
        "http://pushgateway.monitoring:9091"
    );
    let overrides = find("ConfigMap", "kfcheck-suite");
    assert_eq!(overrides["data"]["storage.yaml"], suite);
    find("ServiceAccount", "kfcheck");
    find("ClusterRole", "kfcheck-reader");
    find("ClusterRoleBinding", "kfcheck-reader");
    find("Role", "kfcheck-prober");

    let o = run(
        &helm,
        &[
            "template",
            "kfcheck",
            "deploy/helm/kfcheck",
            "--namespace",
            "default",
        ],
    );
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("install kfcheck into namespace kubeflow"),
        "{}",
        stderr(&o)
    );
}
