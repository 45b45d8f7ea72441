//! `gpu-schedulable`: a labelled probe pod that asks for a GPU, with the node selector and
//! tolerations GPU pipeline steps use, is bound to a node by the scheduler within a timeout; then
//! it is removed. This is the scheduler's own answer, not a re-implementation of it.

use super::{kube_error, typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::context::owned;
use crate::context::Need;
use crate::model::owned::Created;
use crate::model::{Evidence, Finding, Subject};
use crate::model::{FindingRule, Severity};
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

pub struct GpuSchedulable;

/// The findings this kind can report (`kfcheck explain <rule>`).
static RULES: &[FindingRule] = &[
    FindingRule {
        id: "gpu-quota-exceeded",
        default_severity: Severity::Error,
        summary: "resource quota refuses a gpu pod",
        fix: "Raise the namespace's ResourceQuota for the GPU resource (a Profile's resourceQuotaSpec), or free GPUs held by finished pods.",
    },
    FindingRule {
        id: "gpu-probe-unschedulable",
        default_severity: Severity::Error,
        summary: "gpu probe pod was not scheduled",
        fix: "Read the scheduler's event in the evidence: add GPU capacity, fix the accelerator label or selector, or tolerate the GPU taint.",
    },
];

static META: KindMeta = KindMeta {
    name: "gpu-schedulable",
    needs: &[Need::Kube],
    effect: Effect::CreatesResources,
    creates: &[Created::Kube { kind: "Pod", api_version: "v1", plural: "pods", namespaced: true }],
    rules: RULES,
    default_timeout: Duration::from_secs(120),
    what: "A probe pod requesting GPUs, with the node selector and tolerations GPU steps use, is bound to a node by the scheduler within the timeout. The pod runs a pause image, is labelled with the run id and is deleted afterwards.",
    why: "GPU inventory can look right while nothing can land on it: a taint nobody tolerates, a selector no node matches, a quota, or GPUs all taken. Only the scheduler can say for sure.",
    fix: "Read the scheduler's message in the evidence: tolerate the GPU taint, match the pool's labels, raise the namespace's GPU quota, or add GPU capacity.",
    params: &[
        ("namespace", "where the probe pod runs (default kubeflow; a profile namespace also tests its quota)"),
        ("resource", "extended resource to request (default nvidia.com/gpu)"),
        ("count", "how many (default 1)"),
        ("node_selector", "map of node labels, as GPU steps set them (default none)"),
        ("tolerations", "list of Kubernetes tolerations (default: nvidia.com/gpu Exists NoSchedule)"),
        ("image", "probe image (default registry.k8s.io/pause:3.10); it need not start, only bind"),
        ("bind_timeout", "how long the scheduler gets, e.g. 60s (default 60s)"),
    ],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "default_namespace")]
    namespace: String,
    #[serde(default = "default_resource")]
    resource: String,
    #[serde(default = "one")]
    count: u32,
    #[serde(default)]
    node_selector: BTreeMap<String, String>,
    #[serde(default = "default_tolerations")]
    tolerations: Vec<k8s_openapi::api::core::v1::Toleration>,
    #[serde(default = "default_image")]
    image: String,
    #[serde(default = "default_bind_timeout", deserialize_with = "bind_timeout")]
    bind_timeout: Duration,
}

fn default_namespace() -> String {
    "kubeflow".into()
}
fn default_resource() -> String {
    "nvidia.com/gpu".into()
}
fn one() -> u32 {
    1
}
fn default_tolerations() -> Vec<k8s_openapi::api::core::v1::Toleration> {
    vec![k8s_openapi::api::core::v1::Toleration {
        key: Some("nvidia.com/gpu".into()),
        operator: Some("Exists".into()),
        effect: Some("NoSchedule".into()),
        ..Default::default()
    }]
}
fn default_image() -> String {
    "registry.k8s.io/pause:3.10".into()
}
fn default_bind_timeout() -> Duration {
    Duration::from_secs(60)
}

/// `bind_timeout: 60s`.
fn bind_timeout<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    crate::units::deserialize_duration(d, |_, e| format!("bind_timeout: {e} (e.g. 60s)"))
}

fn probe_pod(name: &str, p: &Params, labels: BTreeMap<String, String>) -> Result<Pod, String> {
    let limits = serde_json::json!({ p.resource.clone(): p.count.to_string() });
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "restartPolicy": "Never",
            "automountServiceAccountToken": false,
            "terminationGracePeriodSeconds": 0,
            "nodeSelector": p.node_selector,
            "tolerations": p.tolerations,
            // Meets the restricted Pod Security profile, so any namespace admits it.
            "securityContext": {"runAsNonRoot": true, "runAsUser": 65535, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "probe",
                "image": p.image,
                "resources": {"limits": limits, "requests": limits},
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
            }],
        },
    }))
    .map_err(|e| format!("failed to build the probe pod: {e}"))
}

/// What the scheduler said about a pod that is not bound: its PodScheduled condition.
pub(crate) fn unscheduled_reason(pod: &Pod) -> Option<String> {
    let c = crate::doors::not_scheduled(pod)?;
    Some(match (&c.reason, &c.message) {
        (Some(r), Some(m)) => format!("{r}: {m}"),
        (Some(r), None) => r.clone(),
        (None, Some(m)) => m.clone(),
        (None, None) => "not scheduled".into(),
    })
}

impl Kind for GpuSchedulable {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, _: &SuiteBase) -> Result<(), String> {
        let p: Params = typed_params(params)?;
        if p.count == 0 {
            return Err("`count` must be at least 1".into());
        }
        probe_pod("validate", &p, BTreeMap::new()).map(|_| ())
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let p: Params = cx.params()?;
            let client = cx.kube().await?;
            let name = crate::context::owned::object_name("gpu-probe", &cx.spec.id, &cx.run_id);
            let pod = probe_pod(&name, &p, owned::labels(&cx.run_id, &cx.spec.id))
                .map_err(CheckError::Undecided)?;
            let pods: Api<Pod> = Api::namespaced(client, &p.namespace);
            let shown = format!("{}/{name}", p.namespace);
            super::delete_pod_later(&cx.janitor, pods.clone(), name.clone(), shown.clone());
            let subject = Subject::new("pod", shown.clone());
            let started = Instant::now();
            if let Err(e) = pods.create(&PostParams::default(), &pod).await {
                if let kube::Error::Api(s) = &e {
                    if s.code == 403 && s.message.contains("exceeded quota") {
                        let mut out = Outcome::default();
                        out.findings.push(Finding::new(
                            "gpu-quota-exceeded",
                            cx.spec.severity,
                            subject,
                            "resource quota refuses a gpu pod",
                            vec![Evidence::new("admission", s.message.clone()).expected(format!("{} {} admitted", p.count, p.resource))],
                            "Raise the namespace's ResourceQuota for the GPU resource (a Profile's resourceQuotaSpec), or free GPUs held by finished pods.",
                        ));
                        return Ok(out);
                    }
                }
                return Err(kube_error(&e, &format!("create pods in {}", p.namespace)));
            }
            let mut last: Option<Pod>;
            loop {
                match pods.get(&name).await {
                    Ok(pod) => {
                        if let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) {
                            let mut out = Outcome::default();
                            out.notes.push(format!(
                                "probe pod {shown} ({} {}) bound to node {node} after {:.1}s",
                                p.count,
                                p.resource,
                                started.elapsed().as_secs_f64()
                            ));
                            return Ok(out);
                        }
                        last = Some(pod);
                    }
                    Err(e) => return Err(kube_error(&e, &format!("get pod {shown}"))),
                }
                if started.elapsed() >= p.bind_timeout {
                    break;
                }
                tokio::select! {
                    _ = cx.cancel.cancelled() => return Err(CheckError::Undecided("interrupted while waiting for the probe pod to bind".into())),
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
            }
            let why = last
                .as_ref()
                .and_then(unscheduled_reason)
                .unwrap_or_else(|| "the scheduler has not reported on it".into());
            let mut out = Outcome::default();
            let selector = if p.node_selector.is_empty() {
                "none".to_string()
            } else {
                p.node_selector
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            out.findings.push(Finding::new(
                "gpu-probe-unschedulable",
                cx.spec.severity,
                subject,
                "gpu probe pod was not scheduled",
                vec![
                    Evidence::new("scheduler", why),
                    Evidence::new("waited", format!("{}s", p.bind_timeout.as_secs()))
                        .expected("bound to a node"),
                    Evidence::new(
                        "asked for",
                        format!(
                            "{} {}, node selector {selector}, {} toleration(s)",
                            p.count,
                            p.resource,
                            p.tolerations.len()
                        ),
                    ),
                ],
                META.fix,
            ));
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_pod_is_labelled_and_asks_for_what_is_configured() {
        let p: Params = typed_params(&serde_json::json!({"count": 2, "node_selector": {"cloud.google.com/gke-accelerator": "nvidia-l4"}, "bind_timeout": "5s"})).unwrap();
        assert_eq!(p.bind_timeout, Duration::from_secs(5));
        let pod = probe_pod("x", &p, owned::labels("0123456789", "gpu-schedulable")).unwrap();
        let v = serde_json::to_value(&pod).unwrap();
        assert_eq!(
            v["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "kfcheck"
        );
        assert_eq!(v["metadata"]["labels"]["kfcheck.io/run-id"], "0123456789");
        assert_eq!(
            v["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"],
            "2"
        );
        assert_eq!(v["spec"]["tolerations"][0]["key"], "nvidia.com/gpu");
        assert_eq!(
            v["spec"]["nodeSelector"]["cloud.google.com/gke-accelerator"],
            "nvidia-l4"
        );
        assert!(GpuSchedulable
            .validate(&serde_json::json!({"count": 0}), &SuiteBase::Embedded)
            .is_err());
        assert!(GpuSchedulable
            .validate(
                &serde_json::json!({"bind_timeout": "soon"}),
                &SuiteBase::Embedded
            )
            .is_err());
        assert!(GpuSchedulable
            .validate(
                &serde_json::json!({"tolerations": [{"key": 1}]}),
                &SuiteBase::Embedded
            )
            .is_err());
    }

    #[test]
    fn the_schedulers_reason_is_read_from_the_condition() {
        let pod: Pod = serde_json::from_value(serde_json::json!({"status": {"conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu-pool}."}]}})).unwrap();
        assert_eq!(unscheduled_reason(&pod).unwrap(), "Unschedulable: 0/2 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu-pool}.");
    }
}
