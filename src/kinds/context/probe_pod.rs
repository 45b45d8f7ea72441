//! A labelled pod that runs the kfcheck probe once in a namespace (the storage probe, the GPU
//! isolation probe): created after its deletion is registered, watched until it ends, gets stuck
//! or runs out of time, and its log read; the kinds judge the probe's line.

use crate::clients::redact;
use crate::kinds::{delete_pod_later, kube_error, CheckContext, CheckError};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams, PostParams};
use std::time::{Duration, Instant};

/// How a probe pod went: its last state, whether it ran, and its log when it did.
#[derive(Debug)]
pub(crate) struct PodRun {
    pub last: Pod,
    pub finished: bool,
    /// A few words on its state (phase, container state, why it waits).
    pub state: String,
    /// The container ever ran.
    pub ran: bool,
    pub logs: String,
    pub waited: Duration,
    /// `namespace/name`.
    pub shown: String,
}

impl PodRun {
    /// The evidence of a pod whose container never ran: its state, the wait, the image.
    pub fn not_started_evidence(&self, image: &str) -> Vec<crate::model::Evidence> {
        use crate::model::Evidence;
        vec![
            Evidence::new("pod", self.state.clone()).expected("the probe container running"),
            Evidence::new("waited", format!("{}s", self.waited.as_secs())),
            Evidence::new("image", image.to_string()),
        ]
    }

    pub fn node(&self) -> String {
        self.last
            .spec
            .as_ref()
            .and_then(|s| s.node_name.clone())
            .unwrap_or_else(|| "?".into())
    }
}

/// Where a probe pod finds an S3 key pair (`--s3-key-dir`) and a GCS key.
pub(crate) const S3_KEY_DIR: &str = "/var/secrets/s3";
pub(crate) const GCS_KEY_DIR: &str = "/var/secrets/google";

/// The env, volume mounts and volumes that give a probe pod its storage key, as steps get it:
/// an S3 key pair Secret (`accesskey`, `secretkey`) mounted at [`S3_KEY_DIR`], else a GCS key
/// Secret's `key` mounted at [`GCS_KEY_DIR`] with GOOGLE_APPLICATION_CREDENTIALS, else nothing
/// (the pod's own identity).
pub(crate) fn key_volumes(
    s3_secret: Option<&str>,
    gcs_secret: Option<(&str, &str)>,
) -> (
    Vec<serde_json::Value>,
    Vec<serde_json::Value>,
    Vec<serde_json::Value>,
) {
    use serde_json::json;
    match (s3_secret, gcs_secret) {
        (Some(secret), _) => (
            vec![],
            vec![json!({"name": "s3-key", "mountPath": S3_KEY_DIR, "readOnly": true})],
            vec![
                json!({"name": "s3-key", "secret": {"secretName": secret, "items": [{"key": "accesskey", "path": "accesskey"}, {"key": "secretkey", "path": "secretkey"}]}}),
            ],
        ),
        (None, Some((secret, key))) => (
            vec![
                json!({"name": "GOOGLE_APPLICATION_CREDENTIALS", "value": format!("{GCS_KEY_DIR}/{key}")}),
            ],
            vec![json!({"name": "gcp-key", "mountPath": GCS_KEY_DIR, "readOnly": true})],
            vec![json!({"name": "gcp-key", "secret": {"secretName": secret}})],
        ),
        (None, None) => (vec![], vec![], vec![]),
    }
}

/// The pod around a probe: never restarted, bounded by `activeDeadlineSeconds`, as hardened as
/// a pipeline step may be, its container named `probe`.
pub(crate) struct ProbePodSpec<'a> {
    pub name: &'a str,
    pub labels: &'a std::collections::BTreeMap<String, String>,
    pub service_account: &'a str,
    pub image: &'a str,
    pub args: Vec<String>,
    pub env: Vec<serde_json::Value>,
    pub mounts: Vec<serde_json::Value>,
    pub volumes: Vec<serde_json::Value>,
    pub node_selector: &'a std::collections::BTreeMap<String, String>,
    pub tolerations: &'a [k8s_openapi::api::core::v1::Toleration],
    pub deadline: Duration,
    /// `resources` of the container.
    pub resources: serde_json::Value,
    /// More of the pod's `spec` (topology spread constraints).
    pub extra_spec: serde_json::Value,
}

impl ProbePodSpec<'_> {
    pub(crate) fn build(self) -> Result<Pod, String> {
        let mut v = serde_json::json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": self.name, "labels": self.labels},
            "spec": {
                "restartPolicy": "Never",
                "activeDeadlineSeconds": self.deadline.as_secs().max(1),
                "serviceAccountName": self.service_account,
                "nodeSelector": self.node_selector,
                "tolerations": self.tolerations,
                "volumes": self.volumes,
                "containers": [{
                    "name": "probe",
                    "image": self.image,
                    "imagePullPolicy": "IfNotPresent",
                    "args": self.args,
                    "env": self.env,
                    "volumeMounts": self.mounts,
                    "resources": self.resources,
                    "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
                }],
            },
        });
        if let (Some(spec), serde_json::Value::Object(extra)) =
            (v["spec"].as_object_mut(), self.extra_spec)
        {
            spec.extend(extra);
        }
        serde_json::from_value(v).map_err(|e| format!("building the probe pod: {e}"))
    }
}

/// Creates `pod` (named `name`) in `ns`, deleted afterwards whatever happens, and waits for it
/// within `timeout`; reads the probe container's log when it ran. `what` names it in messages.
pub(crate) async fn run_probe_pod(
    cx: &CheckContext,
    pods: Api<Pod>,
    ns: &str,
    name: &str,
    pod: &Pod,
    timeout: Duration,
    what: &str,
) -> Result<PodRun, CheckError> {
    let shown = format!("{ns}/{name}");
    delete_pod_later(&cx.janitor, pods.clone(), name.to_string(), shown.clone());
    pods.create(&PostParams::default(), pod)
        .await
        .map_err(|e| kube_error(&e, &format!("create pods in {ns}")))?;
    let started = Instant::now();
    let last = loop {
        let pod = pods
            .get(name)
            .await
            .map_err(|e| kube_error(&e, &format!("get pod {shown}")))?;
        let (finished, _) = pod_finished(&pod);
        if finished || stuck(&pod) || started.elapsed() >= timeout {
            break pod;
        }
        tokio::select! {
            _ = cx.cancel.cancelled() => return Err(CheckError::Undecided(format!("interrupted while waiting for the {what} pod"))),
            _ = tokio::time::sleep(Duration::from_millis(300)) => {}
        }
    };
    let waited = started.elapsed();
    let (finished, state) = pod_finished(&last);
    let ran = container_ran(&last);
    let logs = if ran {
        pods.logs(
            name,
            &LogParams {
                container: Some("probe".into()),
                tail_lines: Some(200),
                limit_bytes: Some(256 * 1024),
                ..LogParams::default()
            },
        )
        .await
        .map_err(|e| kube_error(&e, &format!("read the log of pod {shown}")))?
    } else {
        String::new()
    };
    Ok(PodRun {
        last,
        finished,
        state,
        ran,
        logs,
        waited,
        shown,
    })
}

/// Where the pod stands: finished (Succeeded or Failed), and a few words on its state.
pub(crate) fn pod_finished(pod: &Pod) -> (bool, String) {
    let phase = pod
        .status
        .as_ref()
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "Pending".into());
    let finished = matches!(phase.as_str(), "Succeeded" | "Failed");
    let (_, state) = crate::kinds::pod_state(pod);
    let message = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.first())
        .and_then(|c| c.state.as_ref()?.waiting.as_ref()?.message.clone())
        .or_else(|| {
            pod.status
                .as_ref()?
                .conditions
                .as_ref()?
                .iter()
                .find(|c| c.type_ == "PodScheduled" && c.status != "True")?
                .message
                .clone()
        });
    let what = match message {
        Some(m) => format!("{phase}, {state}: {}", redact::redact(&m)),
        None => format!("{phase}, {state}"),
    };
    (finished, what)
}

/// The container is waiting for a reason that does not clear by itself (an image that cannot be
/// pulled, a config the container cannot be created with): no point in waiting longer.
pub(crate) fn stuck(pod: &Pod) -> bool {
    const STUCK: &[&str] = &[
        "ErrImagePull",
        "ImagePullBackOff",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
    ];
    any_container(pod, |s| {
        s.waiting
            .as_ref()
            .and_then(|w| w.reason.as_deref())
            .is_some_and(|r| STUCK.contains(&r))
    })
}

/// Some container of the pod is in a state that `test` accepts.
fn any_container(
    pod: &Pod,
    test: impl Fn(&k8s_openapi::api::core::v1::ContainerState) -> bool,
) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.state.as_ref().is_some_and(&test)))
}

/// The container ever ran (it has a running or terminated state, not only waiting).
pub(crate) fn container_ran(pod: &Pod) -> bool {
    any_container(pod, |s| s.running.is_some() || s.terminated.is_some())
}

pub(crate) fn exit_code(pod: &Pod) -> Option<i64> {
    pod.status
        .as_ref()?
        .container_statuses
        .as_ref()?
        .first()?
        .state
        .as_ref()?
        .terminated
        .as_ref()
        .map(|t| i64::from(t.exit_code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_that_never_ran_is_told_apart_from_one_that_did() {
        let waiting: Pod = serde_json::from_value(serde_json::json!({"status": {"phase": "Pending", "containerStatuses": [{"name": "probe", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ErrImagePull", "message": "failed to pull"}}}]}})).unwrap();
        assert!(!container_ran(&waiting));
        assert!(stuck(&waiting));
        let (finished, what) = pod_finished(&waiting);
        assert!(!finished);
        assert!(
            what.contains("ErrImagePull") && what.contains("failed to pull"),
            "{what}"
        );
        let done: Pod = serde_json::from_value(serde_json::json!({"status": {"phase": "Succeeded", "containerStatuses": [{"name": "probe", "image": "i", "imageID": "", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0}}}]}})).unwrap();
        assert!(container_ran(&done));
        assert!(!stuck(&done));
        assert!(pod_finished(&done).0);
        assert_eq!(exit_code(&done), Some(0));
    }
}
