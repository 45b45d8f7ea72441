//! `gpu-inventory`: the cluster has schedulable GPUs, per pool, on Ready nodes that selectors can
//! target, with the taints pipelines must tolerate.

use super::{kube_error, typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::context::kube_cache::Selectors;
use crate::context::Need;
use crate::model::FindingRule;
use crate::model::{Evidence, Finding, Severity, Subject};
use crate::pipeline::quantity::parse_quantity;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

pub struct GpuInventory;

/// The findings this kind can report (`kfcheck explain <rule>`).
static RULES: &[FindingRule] = &[
    FindingRule {
        id: "gpu-not-allocatable",
        default_severity: Severity::Error,
        summary: "gpu node advertises no allocatable gpus",
        fix: "Check the GPU device plugin pod on this node (driver, plugin logs); allocatable drops to 0 when the plugin is down.",
    },
    FindingRule {
        id: "gpu-node-not-ready",
        default_severity: Severity::Error,
        summary: "gpu node not ready",
        fix: "Find out why the node is NotReady (`kubectl describe node`).",
    },
    FindingRule {
        id: "gpu-node-unlabelled",
        default_severity: Severity::Warning,
        summary: "gpu node has no accelerator label for node selectors",
        fix: "Label GPU nodes with their accelerator (GKE sets cloud.google.com/gke-accelerator; GPU Feature Discovery sets nvidia.com/gpu.product).",
    },
    FindingRule {
        id: "no-gpu-nodes",
        default_severity: Severity::Error,
        summary: "no node advertises gpus",
        fix: "Add a GPU node pool with the device plugin, or disable the GPU checks for a CPU-only cluster.",
    },
    FindingRule {
        id: "too-few-gpus",
        default_severity: Severity::Error,
        summary: "fewer schedulable gpus than required",
        fix: "Scale the GPU node pool, or lower min_gpus for this check.",
    },
    FindingRule {
        id: "device-plugin-missing",
        default_severity: Severity::Error,
        summary: "no gpu device-plugin pod on this gpu node",
        fix: "Check the device-plugin DaemonSet's node selector and tolerations against this node's labels and taints (NVIDIA: nvidia-device-plugin-daemonset; GKE: nvidia-gpu-device-plugin).",
    },
    FindingRule {
        id: "device-plugin-not-ready",
        default_severity: Severity::Error,
        summary: "gpu device-plugin pod on this node is not ready",
        fix: "Read the device-plugin pod's logs on this node (driver not installed or mismatched is the usual cause); until it is Ready, new GPU pods there cannot start.",
    },
];

static META: KindMeta = KindMeta {
    name: "gpu-inventory",
    needs: &[Need::Kube],
    effect: Effect::ReadOnly,
    creates: &[],
    rules: RULES,
    default_timeout: Duration::from_secs(30),
    what: "Nodes advertise allocatable GPUs, are Ready, run a Ready GPU device-plugin pod, and carry a label that pipeline node selectors can target; the inventory per pool and the taints to tolerate are reported.",
    why: "GPU pipeline steps need a node that both advertises the resource and matches their selector; a GPU node whose device plugin is down advertises 0 and every GPU step waits forever.",
    fix: "Check the GPU device plugin DaemonSet on the GPU nodes, the node pool's labels, and that GPU nodes are Ready.",
    params: &[
        ("resource", "extended resource name (default nvidia.com/gpu)"),
        ("min_gpus", "fewest allocatable GPUs across the cluster that count as ready (default 1)"),
        ("pool_labels", "node labels that name a GPU pool, first found wins (default GKE accelerator, GFD product)"),
        ("device_plugin_selectors", "label selectors of device-plugin pods in any namespace (default: NVIDIA static, GPU Operator, GKE); [] skips the device-plugin check"),
    ],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "default_resource")]
    resource: String,
    #[serde(default = "one")]
    min_gpus: u32,
    #[serde(default = "default_pool_labels")]
    pool_labels: Vec<String>,
    #[serde(default = "default_plugin_selectors")]
    device_plugin_selectors: Vec<String>,
}

fn default_plugin_selectors() -> Vec<String> {
    vec![
        "name=nvidia-device-plugin-ds".into(),
        "app=nvidia-device-plugin-daemonset".into(),
        "k8s-app=nvidia-gpu-device-plugin".into(),
    ]
}

/// A device-plugin pod as seen: where it runs and whether it is Ready (and if not, why).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PluginPod {
    pub namespace: String,
    pub name: String,
    pub node: Option<String>,
    pub ready: bool,
    /// The first container's waiting reason and restart count, or the pod phase.
    pub state: String,
}

pub(crate) fn observe_plugins(pods: &[Pod]) -> Vec<PluginPod> {
    pods.iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| {
            let (ready, state) = super::pod_state(p);
            Some(PluginPod {
                namespace: p.metadata.namespace.clone().unwrap_or_default(),
                name: p.metadata.name.clone()?,
                node: p.spec.as_ref().and_then(|s| s.node_name.clone()),
                ready,
                state,
            })
        })
        .collect()
}

fn default_resource() -> String {
    "nvidia.com/gpu".into()
}

fn one() -> u32 {
    1
}

fn default_pool_labels() -> Vec<String> {
    vec![
        "cloud.google.com/gke-accelerator".into(),
        "nvidia.com/gpu.product".into(),
        "k8s.amazonaws.com/accelerator".into(),
    ]
}

/// What kfcheck saw of one node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct NodeFacts {
    pub name: String,
    pub capacity: f64,
    pub allocatable: f64,
    pub ready: bool,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<String>,
}

pub(crate) fn observe(nodes: &[Node], resource: &str) -> Vec<NodeFacts> {
    nodes
        .iter()
        .filter_map(|n| {
            let status = n.status.as_ref();
            let amount = |m: Option<
                &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
            >| {
                m.and_then(|m| m.get(resource))
                    .and_then(|q| parse_quantity(&q.0))
                    .unwrap_or(0.0)
            };
            Some(NodeFacts {
                name: n.metadata.name.clone()?,
                capacity: amount(status.and_then(|s| s.capacity.as_ref())),
                allocatable: amount(status.and_then(|s| s.allocatable.as_ref())),
                ready: status
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
                labels: n.metadata.labels.clone().unwrap_or_default(),
                taints: n
                    .spec
                    .as_ref()
                    .and_then(|s| s.taints.as_ref())
                    .map(|ts| {
                        ts.iter()
                            .map(|t| {
                                format!(
                                    "{}={}:{}",
                                    t.key,
                                    t.value.clone().unwrap_or_default(),
                                    t.effect
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// `plugins`: the device-plugin pods found, or `None` when that part is switched off.
pub(crate) fn evaluate(
    nodes: &[NodeFacts],
    plugins: Option<&[PluginPod]>,
    resource: &str,
    min_gpus: u32,
    pool_labels: &[String],
    severity: Severity,
) -> Outcome {
    let mut out = Outcome::default();
    // A node is a GPU node when it advertises the resource or carries a GPU pool label (a node
    // whose device plugin never started advertises nothing, but its pool label still says GPU).
    let gpu_nodes: Vec<&NodeFacts> = nodes
        .iter()
        .filter(|n| {
            n.capacity > 0.0
                || n.allocatable > 0.0
                || pool_labels.iter().any(|l| n.labels.contains_key(l))
        })
        .collect();
    let mut pools: BTreeMap<String, (usize, f64, Vec<String>)> = BTreeMap::new();
    let mut usable = 0.0;
    for n in &gpu_nodes {
        let subject = Subject::new("node", n.name.clone());
        let pool = pool_labels
            .iter()
            .find_map(|l| n.labels.get(l).map(|v| format!("{l}={v}")));
        if n.allocatable == 0.0 {
            out.findings.push(Finding::new(
                "gpu-not-allocatable",
                severity,
                subject.clone(),
                "gpu node advertises no allocatable gpus",
                vec![Evidence::new(format!("allocatable {resource}"), "0").expected(format!("{} (capacity)", n.capacity))],
                "Check the GPU device plugin pod on this node (driver, plugin logs); allocatable drops to 0 when the plugin is down.",
            ));
        }
        if !n.ready {
            out.findings.push(Finding::new(
                "gpu-node-not-ready",
                severity,
                subject.clone(),
                "gpu node not ready",
                vec![Evidence::new("Ready", "not True").expected("True")],
                "Find out why the node is NotReady (`kubectl describe node`).",
            ));
        } else {
            usable += n.allocatable;
        }
        if pool.is_none() {
            out.findings.push(Finding::new(
                "gpu-node-unlabelled",
                Severity::Warning,
                subject.clone(),
                "gpu node has no accelerator label for node selectors",
                vec![Evidence::new("labels", "none of the pool labels").expected(pool_labels.join(" or "))],
                "Label GPU nodes with their accelerator (GKE sets cloud.google.com/gke-accelerator; GPU Feature Discovery sets nvidia.com/gpu.product).",
            ));
        }
        if let Some(plugins) = plugins {
            device_plugin_on(n, plugins, severity, &mut out);
        }
        let entry = pools
            .entry(pool.unwrap_or_else(|| "unlabelled".into()))
            .or_default();
        entry.0 += 1;
        entry.1 += n.allocatable;
        for t in &n.taints {
            if !entry.2.contains(t) {
                entry.2.push(t.clone());
            }
        }
    }
    if gpu_nodes.is_empty() {
        out.findings.push(Finding::new(
            "no-gpu-nodes",
            severity,
            Subject::new("cluster", resource),
            "no node advertises gpus",
            vec![Evidence::new(format!("nodes with {resource}"), "0").expected(format!(">= {min_gpus} GPU(s)"))],
            "Add a GPU node pool with the device plugin, or disable the GPU checks for a CPU-only cluster.",
        ));
    } else if usable < f64::from(min_gpus) {
        out.findings.push(Finding::new(
            "too-few-gpus",
            severity,
            Subject::new("cluster", resource),
            "fewer schedulable gpus than required",
            vec![Evidence::new(
                format!("allocatable {resource} on Ready nodes"),
                format!("{usable}"),
            )
            .expected(format!(">= {min_gpus}"))],
            "Scale the GPU node pool, or lower min_gpus for this check.",
        ));
    }
    for (pool, (count, gpus, taints)) in &pools {
        let taints = if taints.is_empty() {
            "no taints".to_string()
        } else {
            format!("taints {}", taints.join(", "))
        };
        out.notes.push(format!(
            "{pool}: {count} node(s), {gpus} {resource} allocatable, {taints}"
        ));
    }
    out
}

/// The device plugin must run, Ready, on every GPU node.
fn device_plugin_on(n: &NodeFacts, plugins: &[PluginPod], severity: Severity, out: &mut Outcome) {
    let here: Vec<&PluginPod> = plugins
        .iter()
        .filter(|p| p.node.as_deref() == Some(n.name.as_str()))
        .collect();
    let subject = Subject::new("node", n.name.clone());
    if here.is_empty() {
        let seen = if plugins.is_empty() {
            "none in the cluster".to_string()
        } else {
            format!("{} on other nodes", plugins.len())
        };
        out.findings.push(Finding::new(
            "device-plugin-missing",
            severity,
            subject,
            "no gpu device-plugin pod on this gpu node",
            vec![Evidence::new("device-plugin pods", seen).expected("one Ready pod on this node")],
            "Check the device-plugin DaemonSet's node selector and tolerations against this node's labels and taints (NVIDIA: nvidia-device-plugin-daemonset; GKE: nvidia-gpu-device-plugin).",
        ));
    } else if !here.iter().any(|p| p.ready) {
        let states: Vec<String> = here
            .iter()
            .map(|p| format!("{}/{}: {}", p.namespace, p.name, p.state))
            .collect();
        out.findings.push(Finding::new(
            "device-plugin-not-ready",
            severity,
            subject,
            "gpu device-plugin pod on this node is not ready",
            vec![Evidence::new("device-plugin pod", states.join(", ")).expected("Ready")],
            "Read the device-plugin pod's logs on this node (driver not installed or mismatched is the usual cause); until it is Ready, new GPU pods there cannot start.",
        ));
    }
}

impl Kind for GpuInventory {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, _: &SuiteBase) -> Result<(), String> {
        typed_params::<Params>(params).map(|_| ())
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let p: Params = cx.params()?;
            let client = cx.kube().await?;
            let nodes = cx
                .kube_cache()?
                .cluster::<Node>(&client)
                .await
                .map_err(|e| kube_error(&e, "list nodes"))?;
            let plugins = if p.device_plugin_selectors.is_empty() {
                None
            } else {
                let mut all = Vec::new();
                for sel in &p.device_plugin_selectors {
                    let pods = cx
                        .kube_cache()?
                        .all_namespaces::<Pod>(&client, Selectors::labels(sel))
                        .await
                        .map_err(|e| {
                            kube_error(&e, &format!("list pods ({sel}) in all namespaces"))
                        })?;
                    all.extend(observe_plugins(&pods));
                }
                Some(all)
            };
            Ok(evaluate(
                &observe(&nodes, &p.resource),
                plugins.as_deref(),
                &p.resource,
                p.min_gpus,
                &p.pool_labels,
                cx.spec.severity,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, cap: f64, alloc: f64, ready: bool, label: Option<&str>) -> NodeFacts {
        NodeFacts {
            name: name.into(),
            capacity: cap,
            allocatable: alloc,
            ready,
            labels: label
                .map(|l| {
                    BTreeMap::from([(
                        "cloud.google.com/gke-accelerator".to_string(),
                        l.to_string(),
                    )])
                })
                .unwrap_or_default(),
            taints: vec!["nvidia.com/gpu=present:NoSchedule".into()],
        }
    }

    #[test]
    fn healthy_pool_passes_with_inventory_notes() {
        let o = evaluate(
            &[
                node("g1", 8.0, 8.0, true, Some("nvidia-l4")),
                node("c1", 0.0, 0.0, true, None),
            ],
            Some(&[plugin("g1", true)]),
            "nvidia.com/gpu",
            1,
            &default_pool_labels(),
            Severity::Error,
        );
        assert!(o.findings.is_empty(), "{:?}", o.findings);
        assert_eq!(o.notes, vec!["cloud.google.com/gke-accelerator=nvidia-l4: 1 node(s), 8 nvidia.com/gpu allocatable, taints nvidia.com/gpu=present:NoSchedule"]);
    }

    #[test]
    fn each_fault_is_named() {
        let none = evaluate(
            &[node("c1", 0.0, 0.0, true, None)],
            Some(&[]),
            "nvidia.com/gpu",
            1,
            &default_pool_labels(),
            Severity::Error,
        );
        assert_eq!(none.findings[0].rule, "no-gpu-nodes");
        let broken = evaluate(
            &[
                node("g1", 8.0, 0.0, true, None),
                node("g2", 8.0, 8.0, false, Some("nvidia-l4")),
            ],
            None,
            "nvidia.com/gpu",
            1,
            &default_pool_labels(),
            Severity::Error,
        );
        let rules: Vec<&str> = broken.findings.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(
            rules,
            vec![
                "gpu-not-allocatable",
                "gpu-node-unlabelled",
                "gpu-node-not-ready",
                "too-few-gpus"
            ]
        );
    }

    fn plugin(node: &str, ready: bool) -> PluginPod {
        PluginPod {
            namespace: "kube-system".into(),
            name: format!("nvidia-device-plugin-{node}"),
            node: Some(node.into()),
            ready,
            state: if ready {
                "Ready".into()
            } else {
                "CrashLoopBackOff (restarts 4)".into()
            },
        }
    }

    #[test]
    fn device_plugin_must_be_ready_on_every_gpu_node() {
        let nodes = [
            node("g1", 8.0, 8.0, true, Some("nvidia-l4")),
            node("g2", 0.0, 0.0, true, Some("nvidia-l4")),
        ];
        let o = evaluate(
            &nodes,
            Some(&[plugin("g1", false)]),
            "nvidia.com/gpu",
            1,
            &default_pool_labels(),
            Severity::Error,
        );
        let got: Vec<(&str, &str)> = o
            .findings
            .iter()
            .map(|f| (f.rule.as_str(), f.subject.name.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("device-plugin-not-ready", "g1"),
                ("gpu-not-allocatable", "g2"),
                ("device-plugin-missing", "g2")
            ]
        );
        assert_eq!(
            o.findings[0].evidence[0].observed,
            "kube-system/nvidia-device-plugin-g1: CrashLoopBackOff (restarts 4)"
        );
    }
}
