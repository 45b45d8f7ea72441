//! The artifact store from inside each profile (`pods: true`): the kfcheck probe in a pod of the
//! profile's namespace, as the identity its steps run as (`default-editor`), with the profile's
//! own key Secret mounted the way Argo hands it to a step, does the round trip against the
//! endpoint the cluster uses (the artifact repository's, else the store's Service). The pods of
//! all profiles run at once; each one's objects are deleted by the janitor with the profile's key
//! whatever happens, and each pod is deleted afterwards.
//!
//! Compared with the host's round trip it locates a fault: the host passes and the pod does not
//! means the path from pods to the store (a NetworkPolicy, DNS, the endpoint in the profile's
//! configuration, the Secret's mount), not the key.

use super::StoreConfig;
use crate::clients::portforward::ServiceRef;
use crate::clients::redact;
use crate::doors::store_run::StoreTarget;
use crate::kinds::context::probe_pod::{run_probe_pod, ProbePodSpec, S3_KEY_DIR};
use crate::kinds::{CheckContext, CheckError};
use crate::model::owned;
use crate::model::Evidence;
use k8s_openapi::api::core::v1::{Pod, Toleration};
use kube::api::Api;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// How the probe pods are made (the kind's parameters for them).
#[derive(Debug, Clone)]
pub(super) struct PodSettings {
    pub image: String,
    pub service_account: String,
    pub node_selector: BTreeMap<String, String>,
    pub tolerations: Vec<Toleration>,
    pub timeout: Duration,
    pub size: String,
    pub region: Option<String>,
}

/// What one profile's pod showed.
#[derive(Debug, Clone)]
pub(crate) enum PodTrip {
    /// The container never ran (image, scheduling, admission): the evidence says why.
    NotStarted {
        pod: String,
        evidence: Vec<Evidence>,
    },
    /// It ran but printed no result line (killed, crashed, out of time).
    Silent {
        pod: String,
        state: String,
        log_tail: String,
    },
    /// The probe's result line.
    Line {
        pod: String,
        node: String,
        endpoint: String,
        line: Value,
    },
}

/// The endpoint a step of the profile uses: `given` (`pod_endpoint`), else the profile's
/// configured one (its scheme from `insecure`, as Argo reads it), else the store's Service by its
/// cluster DNS name.
pub(super) fn pod_endpoint(
    config: &StoreConfig,
    service: &ServiceRef,
    given: Option<&str>,
) -> String {
    if let Some(g) = given {
        return g.to_string();
    }
    match &config.endpoint {
        Some(e) if e.contains("://") => e.clone(),
        Some(e) => format!("{}://{e}", if config.insecure { "http" } else { "https" }),
        None => format!(
            "http://{}.{}.svc.cluster.local:{}",
            service.name, service.namespace, service.port
        ),
    }
}

/// The probe's arguments: the round trip under the profile's prefix, with the mounted key pair.
fn probe_args(
    config: &StoreConfig,
    settings: &PodSettings,
    endpoint: &str,
    run_id: &str,
    scope: &str,
) -> Vec<String> {
    let mut args: Vec<String> = [
        "probe",
        "storage",
        "--bucket",
        &format!("s3://{}", config.bucket),
        "--prefix",
        &format!("{}/kfcheck", config.prefix),
        "--run-id",
        run_id,
        "--scope",
        scope,
        "--size",
        &settings.size,
        "--endpoint",
        endpoint,
        "--s3-key-dir",
        S3_KEY_DIR,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Some(r) = &settings.region {
        args.extend(["--region".to_string(), r.clone()]);
    }
    args
}

/// The probe pod: the profile's Secret's two keys (whatever the configuration names them) mounted
/// as `accesskey` and `secretkey`, as Argo gives a step its artifact repository's key pair.
fn probe_pod(
    name: &str,
    config: &StoreConfig,
    settings: &PodSettings,
    args: Vec<String>,
    labels: &BTreeMap<String, String>,
) -> Result<Pod, String> {
    let (secret, ak, sk) = &config.secret;
    ProbePodSpec {
        name,
        labels,
        service_account: &settings.service_account,
        image: &settings.image,
        args,
        env: vec![],
        mounts: vec![json!({"name": "artifact-key", "mountPath": S3_KEY_DIR, "readOnly": true})],
        volumes: vec![json!({"name": "artifact-key", "secret": {"secretName": secret, "items": [
            {"key": ak, "path": "accesskey"}, {"key": sk, "path": "secretkey"}]}})],
        node_selector: &settings.node_selector,
        tolerations: &settings.tolerations,
        deadline: settings.timeout,
        resources: json!({"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}),
        extra_spec: Value::Null,
    }
    .build()
}

/// One profile's pod, start to end. `cleanup` is the host's way to the store with the profile's
/// key (and what keeps that way open): the janitor deletes the pod's prefix with it.
pub(super) async fn run_pod(
    cx: &CheckContext,
    client: kube::Client,
    profile: &str,
    config: &StoreConfig,
    settings: &PodSettings,
    endpoint: String,
    cleanup: (StoreTarget, Option<Arc<dyn std::any::Any + Send + Sync>>),
) -> Result<PodTrip, CheckError> {
    let scope = format!("{}-pod", cx.spec.id);
    let (target, keep) = cleanup;
    cx.delete_store_prefix_later_through(
        target,
        format!("{}/kfcheck/{}/{scope}/", config.prefix, cx.run_id),
        keep,
    );
    let name = owned::object_name("artifact-probe", &cx.spec.id, &cx.run_id);
    let pod = probe_pod(
        &name,
        config,
        settings,
        probe_args(config, settings, &endpoint, &cx.run_id, &scope),
        &owned::labels(&cx.run_id, &cx.spec.id),
    )
    .map_err(CheckError::Undecided)?;
    let pods: Api<Pod> = Api::namespaced(client, profile);
    let run = run_probe_pod(
        cx,
        pods,
        profile,
        &name,
        &pod,
        settings.timeout,
        "artifact-store probe",
    )
    .await?;
    if !run.ran {
        return Ok(PodTrip::NotStarted {
            evidence: run.not_started_evidence(&settings.image),
            pod: run.shown,
        });
    }
    Ok(match crate::clients::container::probe_line(&run.logs) {
        Some(line) => PodTrip::Line {
            node: run.node(),
            pod: run.shown,
            endpoint,
            line,
        },
        None => PodTrip::Silent {
            log_tail: redact::tail(&run.logs, 10, 2000),
            pod: run.shown,
            state: run.state,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> PodSettings {
        PodSettings {
            image: "kfcheck-probe:dev".into(),
            service_account: "default-editor".into(),
            node_selector: BTreeMap::from([("pool".to_string(), "cpu".to_string())]),
            tolerations: vec![],
            timeout: Duration::from_secs(90),
            size: "64KiB".into(),
            region: None,
        }
    }

    #[test]
    fn the_pod_mounts_the_profiles_key_pair_under_the_names_the_configuration_gives() {
        let mut config =
            super::super::store_config("team-a", None, None, "mlpipeline-minio-artifact", None);
        config.secret = ("artifact-key".into(), "user".into(), "pass".into());
        let svc: ServiceRef = "kubeflow/seaweedfs:9000".parse().unwrap();
        let endpoint = pod_endpoint(&config, &svc, None);
        assert_eq!(endpoint, "http://seaweedfs.kubeflow.svc.cluster.local:9000");
        let args = probe_args(&config, &settings(), &endpoint, "r1", "artifact-store-pod");
        let joined = args.join(" ");
        assert!(
            joined.starts_with("probe storage --bucket s3://mlpipeline"),
            "{joined}"
        );
        assert!(
            joined.contains("--prefix private-artifacts/team-a/kfcheck"),
            "{joined}"
        );
        assert!(joined.contains("--s3-key-dir /var/secrets/s3"), "{joined}");
        let pod = probe_pod(
            "p",
            &config,
            &settings(),
            args,
            &owned::labels("r1", "artifact-store"),
        )
        .unwrap();
        let v = serde_json::to_value(&pod).unwrap();
        assert_eq!(v["spec"]["serviceAccountName"], "default-editor");
        assert_eq!(v["spec"]["nodeSelector"]["pool"], "cpu");
        assert_eq!(v["spec"]["activeDeadlineSeconds"], 90);
        let items = &v["spec"]["volumes"][0]["secret"];
        assert_eq!(items["secretName"], "artifact-key");
        assert_eq!(
            items["items"][0],
            json!({"key": "user", "path": "accesskey"})
        );
        assert_eq!(
            items["items"][1],
            json!({"key": "pass", "path": "secretkey"})
        );
    }

    #[test]
    fn the_endpoint_is_the_one_the_profiles_steps_use() {
        let svc: ServiceRef = "kubeflow/seaweedfs:9000".parse().unwrap();
        let mut config = super::super::store_config("p", None, None, "s", None);
        config.endpoint = Some("minio-service.kubeflow:9000".into());
        config.insecure = true;
        assert_eq!(
            pod_endpoint(&config, &svc, None),
            "http://minio-service.kubeflow:9000"
        );
        config.insecure = false;
        assert_eq!(
            pod_endpoint(&config, &svc, None),
            "https://minio-service.kubeflow:9000"
        );
        assert_eq!(
            pod_endpoint(&config, &svc, Some("http://10.0.0.1:9000")),
            "http://10.0.0.1:9000"
        );
    }
}
