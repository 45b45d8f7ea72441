//! Whether any node of a live cluster can run each task of a compiled pipeline: allocatable
//! resources, node selector, required node affinity and taints, judged the way the scheduler's
//! filters judge them. Pure: nodes are observed elsewhere and passed in.

use super::model::{Task, Toleration};
use super::rules::Hit;
use crate::model::Evidence;
use std::collections::BTreeMap;

/// A node as the fit needs it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FitNode {
    pub name: String,
    /// Ready and not cordoned.
    pub schedulable: bool,
    pub allocatable: BTreeMap<String, f64>,
    pub labels: BTreeMap<String, String>,
    /// (key, value, effect)
    pub taints: Vec<(String, String, String)>,
}

impl FitNode {
    pub fn from_node(n: &k8s_openapi::api::core::v1::Node) -> Option<FitNode> {
        let status = n.status.as_ref();
        let spec = n.spec.as_ref();
        Some(FitNode {
            name: n.metadata.name.clone()?,
            schedulable: !spec.and_then(|s| s.unschedulable).unwrap_or(false)
                && status.and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
            allocatable: status
                .and_then(|s| s.allocatable.as_ref())
                .map(|a| a.iter().filter_map(|(k, q)| Some((k.clone(), super::quantity::parse_quantity(&q.0)?))).collect())
                .unwrap_or_default(),
            labels: n.metadata.labels.clone().unwrap_or_default(),
            taints: spec
                .and_then(|s| s.taints.as_ref())
                .map(|ts| ts.iter().map(|t| (t.key.clone(), t.value.clone().unwrap_or_default(), t.effect.clone())).collect())
                .unwrap_or_default(),
        })
    }
}

/// Why one node cannot take a task (the first filter that fails, in the scheduler's order).
fn misfit(task: &Task, need: &[(String, f64)], n: &FitNode) -> Option<String> {
    if !n.schedulable {
        return Some("not Ready or cordoned".into());
    }
    for (k, v) in &task.node_selector {
        if n.labels.get(k) != Some(v) {
            return Some(format!("do not match node selector {k}={v}"));
        }
    }
    for (k, values) in &task.affinity {
        let ok = match n.labels.get(k) {
            Some(v) => values.is_empty() || values.contains(v),
            None => false,
        };
        if !ok {
            return Some(format!("do not match required node affinity {k} in [{}]", values.join(", ")));
        }
    }
    for (key, value, effect) in &n.taints {
        if (effect == "NoSchedule" || effect == "NoExecute") && !task.tolerations.iter().any(|t| tolerates(t, key, value, effect)) {
            return Some(format!("have untolerated taint {key}={value}:{effect}"));
        }
    }
    for (res, amount) in need {
        let have = n.allocatable.get(res).copied().unwrap_or(0.0);
        if have < *amount {
            return Some(format!("have too little {res} (need {}, node has {})", shown(res, *amount), shown(res, have)));
        }
    }
    None
}

fn shown(res: &str, v: f64) -> String {
    if res == "memory" {
        format!("{:.1}Gi", v / f64::from(1u32 << 30))
    } else {
        format!("{}", (v * 1000.0).round() / 1000.0)
    }
}

/// The Kubernetes toleration rule: empty key with Exists tolerates everything; empty effect
/// matches every effect; Exists ignores the value; Equal (the default) compares it.
pub fn tolerates(t: &Toleration, key: &str, value: &str, effect: &str) -> bool {
    if t.effect.as_deref().is_some_and(|e| !e.is_empty() && e != effect) {
        return false;
    }
    let op = t.operator.as_deref().unwrap_or("Equal");
    match t.key.as_deref().filter(|k| !k.is_empty()) {
        None => op == "Exists",
        Some(k) if k != key => false,
        Some(_) if op == "Exists" => true,
        Some(_) => t.value.as_deref().unwrap_or("") == value,
    }
}

/// What a task asks the scheduler for: requests, or limits where a request is not given (the
/// API server copies limits into missing requests). `Err` when it cannot be known before run time.
fn needs(task: &Task) -> Result<Vec<(String, f64)>, String> {
    let mut out = Vec::new();
    let r = &task.resources;
    for (name, req, lim) in [("cpu", &r.cpu_request, &r.cpu_limit), ("memory", &r.memory_request, &r.memory_limit)] {
        if let Some(q) = req.as_ref().or(lim.as_ref()) {
            if q.is_placeholder() {
                return Err(format!("{} comes from a pipeline parameter", q.field));
            }
            if let Some(v) = q.value() {
                out.push((name.to_string(), v));
            }
        }
    }
    for e in &r.extended {
        if let Some(q) = e.request.as_ref().or(e.limit.as_ref()) {
            if q.is_placeholder() {
                return Err(format!("{} comes from a pipeline parameter", q.field));
            }
            if let Some(v) = q.value().filter(|v| *v > 0.0) {
                out.push((e.name.clone(), v));
            }
        }
    }
    Ok(out)
}

/// `Ok(None)`: some node fits. `Ok(Some(hit))`: none does. `Err(why)`: cannot decide statically.
pub fn fit(task: &Task, nodes: &[FitNode]) -> Result<Option<Hit>, String> {
    if task.dynamic_placement || task.tolerations.iter().any(|t| t.dynamic) {
        return Err("node placement comes from a pipeline parameter or pod-spec patch".into());
    }
    let need = needs(task)?;
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for n in nodes {
        match misfit(task, &need, n) {
            None => return Ok(None),
            Some(r) => *reasons.entry(r).or_default() += 1,
        }
    }
    let mut by_count: Vec<(String, usize)> = reasons.into_iter().collect();
    by_count.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut hit = Hit::on(
        task,
        "no node in the cluster can run this task",
        "Change the task's resources, node selector or tolerations in the pipeline source to match a node pool, or ask the platform team for a pool that fits.",
    )
    .with(Evidence::new("nodes that fit", format!("0 of {}", nodes.len())).expected(">= 1"));
    for (why, count) in by_count {
        hit = hit.with(Evidence::new(format!("{count} node(s)"), why));
    }
    Ok(Some(hit))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::model::{Extended, Qty, Resources};

    fn gpu_node(taint: &str) -> FitNode {
        FitNode {
            name: "gpu-0".into(),
            schedulable: true,
            allocatable: BTreeMap::from([("cpu".into(), 48.0), ("memory".into(), 192.0 * 1024.0 * 1024.0 * 1024.0), ("nvidia.com/gpu".into(), 8.0)]),
            labels: BTreeMap::from([("cloud.google.com/gke-accelerator".into(), "nvidia-l4".into())]),
            taints: vec![(taint.into(), "present".into(), "NoSchedule".into())],
        }
    }

    fn cpu_node() -> FitNode {
        FitNode { name: "cpu-0".into(), schedulable: true, allocatable: BTreeMap::from([("cpu".into(), 8.0), ("memory".into(), 32e9)]), ..Default::default() }
    }

    fn gpu_task(gpus: &str) -> Task {
        Task {
            name: "train".into(),
            resources: Resources {
                cpu_request: Some(Qty::new("4", "cpu")),
                memory_limit: Some(Qty::new("16Gi", "memory")),
                extended: vec![Extended { name: "nvidia.com/gpu".into(), request: None, limit: Some(Qty::new(gpus, "limits")) }],
                ..Resources::default()
            },
            node_selector: vec![("cloud.google.com/gke-accelerator".into(), "nvidia-l4".into())],
            tolerations: vec![Toleration { key: Some("nvidia.com/gpu".into()), operator: Some("Exists".into()), effect: Some("NoSchedule".into()), ..Default::default() }],
            ..Task::default()
        }
    }

    #[test]
    fn a_gpu_task_fits_the_gpu_pool() {
        assert_eq!(fit(&gpu_task("1"), &[cpu_node(), gpu_node("nvidia.com/gpu")]), Ok(None));
    }

    #[test]
    fn each_misfit_is_explained_per_node() {
        let hit = fit(&gpu_task("16"), &[cpu_node(), gpu_node("nvidia.com/gpu")]).unwrap().unwrap();
        let ev: Vec<String> = hit.evidence.iter().map(|e| format!("{}: {}", e.key, e.observed)).collect();
        assert_eq!(ev, vec!["nodes that fit: 0 of 2", "1 node(s): do not match node selector cloud.google.com/gke-accelerator=nvidia-l4", "1 node(s): have too little nvidia.com/gpu (need 16, node has 8)"]);
        let hit = fit(&gpu_task("1"), &[gpu_node("dedicated")]).unwrap().unwrap();
        assert_eq!(hit.evidence[1].observed, "have untolerated taint dedicated=present:NoSchedule");
        let mut t = gpu_task("1");
        t.resources.extended[0].limit = Some(Qty::new("{{$.inputs.parameters['gpus']}}", "limits"));
        assert!(fit(&t, &[gpu_node("nvidia.com/gpu")]).is_err());
    }

    #[test]
    fn toleration_matching_follows_kubernetes() {
        let t = |key: Option<&str>, op: Option<&str>, value: Option<&str>, effect: Option<&str>| Toleration {
            key: key.map(Into::into),
            operator: op.map(Into::into),
            value: value.map(Into::into),
            effect: effect.map(Into::into),
            dynamic: false,
        };
        assert!(tolerates(&t(None, Some("Exists"), None, None), "any", "x", "NoSchedule"));
        assert!(!tolerates(&t(None, None, None, None), "any", "x", "NoSchedule"));
        assert!(tolerates(&t(Some("k"), None, Some("v"), None), "k", "v", "NoExecute"));
        assert!(!tolerates(&t(Some("k"), None, Some("w"), None), "k", "v", "NoSchedule"));
        assert!(!tolerates(&t(Some("k"), Some("Exists"), None, Some("NoExecute")), "k", "v", "NoSchedule"));
    }
}
