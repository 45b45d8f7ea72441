//! `pod-gpu-isolation`: a CPU pod (no GPU requested) placed on a GPU node must see no GPU. The
//! classic leak: the NVIDIA runtime is the node's default and honours `NVIDIA_VISIBLE_DEVICES=all`
//! (set by every CUDA base image) in a pod that asked for nothing, so CPU steps use GPUs the
//! scheduler counts as free. The kfcheck probe runs `probe env` in such a pod, with that variable
//! set as a CUDA image would, and kfcheck reads its `gpus` from the pod's log.

use super::context::probe_pod::run_probe_pod;
use super::{kube_error, typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::clients::redact;
use crate::context::{owned, Need};
use crate::doors::docker::duration;
use crate::doors::gpu_line::gpu_exposure_evidence;
use crate::model::owned::Created;
use crate::model::{Evidence, Finding, FindingRule, Severity, Subject};
use crate::pipeline::quantity::parse_quantity;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::Api;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

pub struct PodGpuIsolation;

static RULES: &[FindingRule] = &[
    FindingRule {
        id: "gpu-visible-in-cpu-pod",
        default_severity: Severity::Error,
        summary: "a pod that requested no gpu can see one",
        fix: "Make the NVIDIA runtime ignore NVIDIA_VISIBLE_DEVICES in unprivileged pods: accept-nvidia-visible-devices-envvar-when-unprivileged = false in /etc/nvidia-container-runtime/config.toml (GPU operator: toolkit env ACCEPT_NVIDIA_VISIBLE_DEVICES_ENVVAR_WHEN_UNPRIVILEGED=false, device plugin deviceListStrategy volume-mounts), or stop making nvidia the node's default runtime and give GPU pods runtimeClassName: nvidia.",
    },
    FindingRule {
        id: "gpu-isolation-pod-not-started",
        default_severity: Severity::Error,
        summary: "the cpu pod placed on a gpu node did not start",
        fix: "Read the pod's state in the evidence: make the probe image pullable from the GPU nodes (--probe-image, or image), and check that a CPU pod may run there (quota, admission policies); the check tolerates the node's taints itself.",
    },
];

static META: KindMeta = KindMeta {
    name: "pod-gpu-isolation",
    needs: &[Need::Kube],
    effect: Effect::CreatesResources,
    creates: &[Created::Kube {
        kind: "Pod",
        api_version: "v1",
        plural: "pods",
        namespaced: true,
    }],
    rules: RULES,
    default_timeout: Duration::from_secs(180),
    what: "A labelled CPU pod (no GPU requested, NVIDIA_VISIBLE_DEVICES=all set as CUDA base images do) in the profile's namespace, placed on a GPU node with its taints tolerated, runs `kfcheck probe env`; the pod must see no /dev/nvidia<N> device and no GPU through NVML. The pod is deleted afterwards.",
    why: "A CPU step that gets a GPU wastes it, hides a scheduling fault, and takes a GPU the scheduler believes is free from the GPU step that asked for it.",
    fix: "Make the NVIDIA runtime ignore NVIDIA_VISIBLE_DEVICES in pods that requested no GPU (accept-nvidia-visible-devices-envvar-when-unprivileged = false), or use a RuntimeClass for GPU pods instead of a default nvidia runtime.",
    params: &[
        ("image", "kfcheck's probe image as the cluster pulls it (default: --probe-image; without either the check is skipped)"),
        ("namespace", "where the pod runs (default: -n, the profile)"),
        ("service_account", "the pod's service account (default default-editor)"),
        ("node", "the node to place the pod on (default: a Ready node that offers `resource`)"),
        ("resource", "the GPU resource name (default nvidia.com/gpu)"),
        ("visible_devices", "NVIDIA_VISIBLE_DEVICES set in the pod, as a CUDA image would (default all; \"\" for none)"),
        ("timeout", "how long the pod may take from creation to its result (default 120s)"),
    ],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default)]
    image: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default = "default_editor")]
    service_account: String,
    #[serde(default)]
    node: Option<String>,
    #[serde(default = "nvidia_gpu")]
    resource: String,
    #[serde(default = "all")]
    visible_devices: String,
    #[serde(default = "two_minutes", deserialize_with = "duration")]
    timeout: Duration,
}

fn default_editor() -> String {
    "default-editor".into()
}
fn nvidia_gpu() -> String {
    "nvidia.com/gpu".into()
}
fn all() -> String {
    "all".into()
}
fn two_minutes() -> Duration {
    Duration::from_secs(120)
}

fn ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// A Ready node that offers `resource`, else none: nothing for a CPU pod to leak.
fn gpu_node<'a>(nodes: &'a [Node], resource: &str) -> Option<&'a Node> {
    nodes.iter().find(|n| {
        ready(n)
            && n.status
                .as_ref()
                .and_then(|s| s.allocatable.as_ref())
                .and_then(|a| a.get(resource))
                .and_then(|q| parse_quantity(&q.0))
                .is_some_and(|q| q > 0.0)
    })
}

/// The CPU pod pinned to `node` (its hostname label, else its name), tolerating its taints.
fn isolation_pod(
    name: &str,
    p: &Params,
    image: &str,
    node: &Node,
    labels: Value,
) -> Result<Pod, String> {
    let node_name = node.metadata.name.clone().unwrap_or_default();
    let host = node
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get("kubernetes.io/hostname").cloned())
        .unwrap_or_else(|| node_name.clone());
    let tolerations: Vec<Value> = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .into_iter()
        .flatten()
        .map(|t| json!({"key": t.key, "operator": "Exists", "effect": t.effect}))
        .collect();
    let mut env = vec![];
    if !p.visible_devices.is_empty() {
        env.push(json!({"name": "NVIDIA_VISIBLE_DEVICES", "value": p.visible_devices}));
    }
    let v = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": p.timeout.as_secs().max(1),
            "serviceAccountName": p.service_account,
            "nodeSelector": {"kubernetes.io/hostname": host},
            "tolerations": tolerations,
            "containers": [{
                "name": "probe",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "args": ["probe", "env", "--no-metadata"],
                "env": env,
                // CPU and memory only: the point is a pod that asked for no GPU.
                "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
            }],
        },
    });
    serde_json::from_value(v).map_err(|e| format!("building the probe pod: {e}"))
}

/// Pure: the env probe's line from the CPU pod on `node`.
fn evaluate(
    line: Option<&Value>,
    shown: &str,
    node: &str,
    logs: &str,
    severity: Severity,
) -> Result<Outcome, CheckError> {
    let Some(g) = line.map(|l| &l["gpus"]).filter(|g| g.is_object()) else {
        return Err(CheckError::Undecided(format!(
            "the CPU pod {shown} on GPU node {node} printed no probe env line with `gpus` (log: {})",
            if logs.trim().is_empty() { "empty".to_string() } else { redact::tail(logs, 3, 300) }
        )));
    };
    let mut out = Outcome::default();
    if g["visible"] == true {
        out.findings.push(Finding::new(
            "gpu-visible-in-cpu-pod",
            severity,
            Subject::new("node", node.to_string()),
            format!("a pod that requested no GPU sees one on node {node}"),
            {
                let mut ev = gpu_exposure_evidence(g);
                ev.push(Evidence::new("pod", shown.to_string()));
                ev
            },
            RULES[0].fix,
        ));
    } else {
        out.notes.push(format!(
            "a CPU pod on GPU node {node} (NVIDIA_VISIBLE_DEVICES={}) sees no GPU: no /dev/nvidia<N>, NVML {}",
            g["nvidia_visible_devices"].as_str().unwrap_or("unset"),
            if g["nvml_devices"].is_null() { "not loadable".to_string() } else { format!("{} device(s)", g["nvml_devices"]) }
        ));
    }
    Ok(out)
}

impl Kind for PodGpuIsolation {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, _: &SuiteBase) -> Result<(), String> {
        let p: Params = typed_params(params)?;
        if p.timeout.is_zero() {
            return Err("`timeout` must be more than zero".into());
        }
        Ok(())
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let p: Params = cx.params()?;
            let Some(image) = p.image.clone().or(cx.probe_image().map(str::to_string)) else {
                return Err(CheckError::NotApplicable(
                    "needs kfcheck's probe image as the cluster pulls it: give --probe-image (or params.image)".into(),
                ));
            };
            let Some(ns) = p
                .namespace
                .clone()
                .or_else(|| cx.namespace().map(str::to_string))
            else {
                return Err(CheckError::NotApplicable(
                    "no profile namespace: give -n NAMESPACE (or params.namespace)".into(),
                ));
            };
            let client = cx.kube().await?;
            let nodes: Vec<Node> = cx
                .kube_cache()?
                .cluster::<Node>(&client)
                .await
                .map_err(|e| kube_error(&e, "list nodes"))?
                .to_vec();
            let node = match &p.node {
                Some(n) => nodes
                    .iter()
                    .find(|x| x.metadata.name.as_deref() == Some(n.as_str()))
                    .ok_or_else(|| CheckError::Undecided(format!("no node named {n}")))?,
                None => gpu_node(&nodes, &p.resource).ok_or_else(|| {
                    CheckError::NotApplicable(format!(
                        "no Ready node offers {}: there is no GPU for a CPU pod to see",
                        p.resource
                    ))
                })?,
            };
            let node_name = node.metadata.name.clone().unwrap_or_default();
            let name = owned::object_name("gpu-isolation", &cx.spec.id, &cx.run_id);
            let labels = serde_json::to_value(owned::labels(&cx.run_id, &cx.spec.id))
                .map_err(|e| CheckError::Undecided(e.to_string()))?;
            let pod =
                isolation_pod(&name, &p, &image, node, labels).map_err(CheckError::Undecided)?;
            let pods: Api<Pod> = Api::namespaced(client, &ns);
            let run =
                run_probe_pod(&cx, pods, &ns, &name, &pod, p.timeout, "GPU isolation").await?;
            if !run.ran {
                let mut out = Outcome::default();
                out.findings.push(Finding::new(
                    "gpu-isolation-pod-not-started",
                    cx.spec.severity,
                    Subject::new("pod", run.shown.clone()),
                    format!("the CPU pod placed on GPU node {node_name} did not start"),
                    run.not_started_evidence(&image),
                    RULES[1].fix,
                ));
                return Ok(out);
            }
            let line = crate::clients::container::probe_line(&run.logs);
            evaluate(
                line.as_ref(),
                &run.shown,
                &run.node(),
                &run.logs,
                cx.spec.severity,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(v: Value) -> Node {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_pod_asks_for_no_gpu_sits_on_the_gpu_node_and_tolerates_its_taints() {
        let gpu = node(
            json!({"metadata": {"name": "gpu-0", "labels": {"kubernetes.io/hostname": "gpu-0.example"}},
            "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"nvidia.com/gpu": "8", "cpu": "64"}, "conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        let cpu = node(
            json!({"metadata": {"name": "cpu-0"}, "status": {"allocatable": {"cpu": "8"}, "conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        let nodes = [cpu, gpu];
        let n = gpu_node(&nodes, "nvidia.com/gpu").unwrap();
        assert_eq!(n.metadata.name.as_deref(), Some("gpu-0"));
        assert!(gpu_node(&nodes[..1], "nvidia.com/gpu").is_none());
        let p: Params = typed_params(&json!({})).unwrap();
        let pod = isolation_pod(
            "x",
            &p,
            "reg/kfcheck:1",
            n,
            json!({"kfcheck.io/run-id": "r1"}),
        )
        .unwrap();
        let v = serde_json::to_value(&pod).unwrap();
        assert_eq!(
            v["spec"]["nodeSelector"]["kubernetes.io/hostname"],
            "gpu-0.example"
        );
        assert_eq!(v["spec"]["tolerations"][0]["key"], "nvidia.com/gpu");
        let c = &v["spec"]["containers"][0];
        assert_eq!(c["args"], json!(["probe", "env", "--no-metadata"]));
        assert_eq!(c["env"][0]["value"], "all");
        assert!(!c["resources"].to_string().contains("gpu"), "{c}");
    }

    #[test]
    fn a_visible_gpu_fails_none_passes_and_no_line_is_undecided() {
        let line = |visible: bool| json!({"probe": "env", "gpus": {"visible": visible, "device_files": if visible { json!(["/dev/nvidia0"]) } else { json!([]) }, "nvml_devices": null, "nvidia_visible_devices": "all"}});
        let o = evaluate(Some(&line(true)), "ns/p", "gpu-0", "", Severity::Error).unwrap();
        assert_eq!(o.findings[0].rule, "gpu-visible-in-cpu-pod");
        assert!(format!("{:?}", o.findings[0].evidence).contains("/dev/nvidia0"));
        let o = evaluate(Some(&line(false)), "ns/p", "gpu-0", "", Severity::Error).unwrap();
        assert!(o.findings.is_empty());
        assert!(o.notes[0].contains("sees no GPU"), "{:?}", o.notes);
        assert!(matches!(
            evaluate(None, "ns/p", "gpu-0", "", Severity::Error),
            Err(CheckError::Undecided(_))
        ));
    }
}
