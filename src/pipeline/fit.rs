//! Whether any node of a live cluster can run each task of a compiled pipeline: allocatable
//! resources, node selector, required node affinity and taints, judged the way the scheduler's
//! filters judge them. Pure: nodes are observed elsewhere and passed in.

use super::model::{AffinityTerm, Requirement, Task, Toleration};
use super::rules::Hit;
use crate::model::Evidence;
use std::collections::BTreeMap;

/// Rule ids of the cluster fit (not in the static rules: they need a live cluster).
pub const FIT_RULE: &str = "task-unschedulable";
pub const FIT_UNDECIDED_RULE: &str = "task-fit-undecided";

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
                && status
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True")),
            allocatable: status
                .and_then(|s| s.allocatable.as_ref())
                .map(|a| {
                    a.iter()
                        .filter_map(|(k, q)| {
                            Some((k.clone(), super::quantity::parse_quantity(&q.0)?))
                        })
                        .collect()
                })
                .unwrap_or_default(),
            labels: n.metadata.labels.clone().unwrap_or_default(),
            taints: spec
                .and_then(|s| s.taints.as_ref())
                .map(|ts| {
                    ts.iter()
                        .map(|t| {
                            (
                                t.key.clone(),
                                t.value.clone().unwrap_or_default(),
                                t.effect.clone(),
                            )
                        })
                        .collect()
                })
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
    if let Some(terms) = &task.affinity {
        if !terms.iter().any(|t| term_matches(t, n)) {
            return Some(affinity_reason(terms));
        }
    }
    for (key, value, effect) in &n.taints {
        if (effect == "NoSchedule" || effect == "NoExecute")
            && !task
                .tolerations
                .iter()
                .any(|t| tolerates(t, key, value, effect))
        {
            return Some(format!("have untolerated taint {key}={value}:{effect}"));
        }
    }
    for (res, amount) in need {
        let have = n.allocatable.get(res).copied().unwrap_or(0.0);
        if have < *amount {
            return Some(format!(
                "have too little {res} (need {}, node has {})",
                shown(res, *amount),
                shown(res, have)
            ));
        }
    }
    None
}

/// Whether a node satisfies one required node-affinity term, as the kube-scheduler decides it
/// (`k8s.io/component-helpers/scheduling/corev1/nodeaffinity`): a null or empty term matches no
/// node (API reference, NodeSelectorTerm: "A null or empty node selector term matches no
/// objects"); otherwise every requirement must hold (ANDed). A term the scheduler cannot parse
/// (an invalid key or value, an unknown operator, a wrong number of values, a `Gt`/`Lt` value
/// that is not an integer)
/// matches no node either: `LazyErrorNodeSelector.Match` skips it.
pub fn term_matches(term: &AffinityTerm, n: &FitNode) -> bool {
    if term.is_empty() {
        return false;
    }
    term.match_expressions.iter().all(|r| {
        requirement_valid(r) && requirement_matches(r, n.labels.get(&r.key).map(String::as_str))
    }) && term.match_fields.iter().all(|r| {
        // Only `metadata.name` is a supported field, with In or NotIn and one value.
        r.key == "metadata.name"
            && r.values.len() == 1
            && matches!(r.operator.as_str(), "In" | "NotIn")
            && requirement_matches(r, Some(&n.name))
    })
}

/// `labels.NewRequirement` refuses an invalid key or value, which fails the whole term.
fn requirement_valid(r: &Requirement) -> bool {
    super::labels::label_key_problem(&r.key).is_none()
        && r.values
            .iter()
            .all(|v| super::labels::label_value_problem(v).is_none())
}

/// One requirement against the node's label value (`None`: the node lacks the label), with the
/// semantics of `k8s.io/apimachinery/pkg/labels.Requirement.Matches`. `NotIn` and
/// `DoesNotExist` match a node without the label; `Gt`/`Lt` compare integers (`strconv.ParseInt`
/// base 10) and fail when either side is not one.
pub fn requirement_matches(r: &Requirement, label: Option<&str>) -> bool {
    match r.operator.as_str() {
        "In" => !r.values.is_empty() && label.is_some_and(|v| r.values.iter().any(|x| x == v)),
        "NotIn" => !r.values.is_empty() && label.is_none_or(|v| !r.values.iter().any(|x| x == v)),
        "Exists" => r.values.is_empty() && label.is_some(),
        "DoesNotExist" => r.values.is_empty() && label.is_none(),
        "Gt" | "Lt" => {
            let [bound] = r.values.as_slice() else {
                return false;
            };
            let (Ok(bound), Some(Ok(have))) = (bound.parse::<i64>(), label.map(str::parse::<i64>))
            else {
                return false;
            };
            if r.operator == "Gt" {
                have > bound
            } else {
                have < bound
            }
        }
        _ => false,
    }
}

/// The reason a node fails the required node affinity; the same for every such node, so that
/// nodes are counted per reason like the scheduler's message.
fn affinity_reason(terms: &[AffinityTerm]) -> String {
    match terms {
        [] => {
            "do not match required node affinity without node selector terms (it matches no node)"
                .into()
        }
        [one] => format!("do not match required node affinity {}", one.shown()),
        many => format!(
            "do not match any of the {} required node affinity terms: {}",
            many.len(),
            many.iter()
                .map(|t| format!("({})", t.shown()))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    }
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
    if t.effect
        .as_deref()
        .is_some_and(|e| !e.is_empty() && e != effect)
    {
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
    for (name, req, lim) in [
        ("cpu", &r.cpu_request, &r.cpu_limit),
        ("memory", &r.memory_request, &r.memory_limit),
    ] {
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
            allocatable: BTreeMap::from([
                ("cpu".into(), 48.0),
                ("memory".into(), 192.0 * 1024.0 * 1024.0 * 1024.0),
                ("nvidia.com/gpu".into(), 8.0),
            ]),
            labels: BTreeMap::from([(
                "cloud.google.com/gke-accelerator".into(),
                "nvidia-l4".into(),
            )]),
            taints: vec![(taint.into(), "present".into(), "NoSchedule".into())],
        }
    }

    fn cpu_node() -> FitNode {
        FitNode {
            name: "cpu-0".into(),
            schedulable: true,
            allocatable: BTreeMap::from([("cpu".into(), 8.0), ("memory".into(), 32e9)]),
            ..Default::default()
        }
    }

    fn gpu_task(gpus: &str) -> Task {
        Task {
            name: "train".into(),
            resources: Resources {
                cpu_request: Some(Qty::new("4", "cpu")),
                memory_limit: Some(Qty::new("16Gi", "memory")),
                extended: vec![Extended {
                    name: "nvidia.com/gpu".into(),
                    request: None,
                    limit: Some(Qty::new(gpus, "limits")),
                }],
                ..Resources::default()
            },
            node_selector: vec![(
                "cloud.google.com/gke-accelerator".into(),
                "nvidia-l4".into(),
            )],
            tolerations: vec![Toleration {
                key: Some("nvidia.com/gpu".into()),
                operator: Some("Exists".into()),
                effect: Some("NoSchedule".into()),
                ..Default::default()
            }],
            ..Task::default()
        }
    }

    #[test]
    fn a_gpu_task_fits_the_gpu_pool() {
        assert_eq!(
            fit(&gpu_task("1"), &[cpu_node(), gpu_node("nvidia.com/gpu")]),
            Ok(None)
        );
    }

    #[test]
    fn each_misfit_is_explained_per_node() {
        let hit = fit(&gpu_task("16"), &[cpu_node(), gpu_node("nvidia.com/gpu")])
            .unwrap()
            .unwrap();
        let ev: Vec<String> = hit
            .evidence
            .iter()
            .map(|e| format!("{}: {}", e.key, e.observed))
            .collect();
        assert_eq!(
            ev,
            vec![
                "nodes that fit: 0 of 2",
                "1 node(s): do not match node selector cloud.google.com/gke-accelerator=nvidia-l4",
                "1 node(s): have too little nvidia.com/gpu (need 16, node has 8)"
            ]
        );
        let hit = fit(&gpu_task("1"), &[gpu_node("dedicated")])
            .unwrap()
            .unwrap();
        assert_eq!(
            hit.evidence[1].observed,
            "have untolerated taint dedicated=present:NoSchedule"
        );
        let mut t = gpu_task("1");
        t.resources.extended[0].limit = Some(Qty::new("{{$.inputs.parameters['gpus']}}", "limits"));
        assert!(fit(&t, &[gpu_node("nvidia.com/gpu")]).is_err());
    }

    fn labelled(labels: &[(&str, &str)]) -> FitNode {
        FitNode {
            name: "node-a".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..cpu_node()
        }
    }

    fn term(reqs: &[Requirement]) -> AffinityTerm {
        AffinityTerm {
            match_expressions: reqs.to_vec(),
            match_fields: vec![],
        }
    }

    /// One row per operator and edge case: (requirement, node labels, matches?), after
    /// `labels.Requirement.Matches` and `NewRequirement`'s validation.
    #[test]
    fn each_operator_matches_like_the_scheduler() {
        let r = Requirement::new;
        type Row<'a> = (Requirement, &'a [(&'a str, &'a str)], bool);
        let table: &[Row] = &[
            (r("pool", "In", &["gpu", "tpu"]), &[("pool", "gpu")], true),
            (r("pool", "In", &["gpu"]), &[("pool", "cpu")], false),
            (r("pool", "In", &["gpu"]), &[], false),
            (r("pool", "In", &[]), &[("pool", "gpu")], false),
            (r("pool", "NotIn", &["gpu"]), &[("pool", "cpu")], true),
            (r("pool", "NotIn", &["gpu"]), &[("pool", "gpu")], false),
            (r("pool", "NotIn", &["gpu"]), &[], true),
            (r("pool", "NotIn", &[]), &[], false),
            (r("pool", "Exists", &[]), &[("pool", "")], true),
            (r("pool", "Exists", &[]), &[], false),
            (r("pool", "Exists", &["gpu"]), &[("pool", "gpu")], false),
            (r("pool", "DoesNotExist", &[]), &[], true),
            (r("pool", "DoesNotExist", &[]), &[("pool", "gpu")], false),
            (r("pool", "DoesNotExist", &["x"]), &[], false),
            (r("gpus", "Gt", &["4"]), &[("gpus", "8")], true),
            (r("gpus", "Gt", &["8"]), &[("gpus", "8")], false),
            (r("gpus", "Gt", &["4"]), &[("gpus", "eight")], false),
            (r("gpus", "Gt", &["four"]), &[("gpus", "8")], false),
            (r("gpus", "Gt", &["4"]), &[], false),
            (r("gpus", "Gt", &["4", "5"]), &[("gpus", "8")], false),
            (r("gpus", "Gt", &[]), &[("gpus", "8")], false),
            (r("gpus", "Lt", &["4"]), &[("gpus", "2")], true),
            (r("gpus", "Lt", &["4"]), &[("gpus", "4")], false),
            (r("gpus", "Lt", &["10"]), &[("gpus", "9")], true),
            (r("gpus", "Lt", &["4"]), &[("gpus", "x")], false),
            (r("pool", "in", &["gpu"]), &[("pool", "gpu")], false),
            (r("pool", "Equals", &["gpu"]), &[("pool", "gpu")], false),
            (r("bad key!", "Exists", &[]), &[("bad key!", "x")], false),
            (
                r("pool", "In", &["not/valid"]),
                &[("pool", "not/valid")],
                false,
            ),
        ];
        for (req, labels, want) in table {
            let got = term_matches(&term(std::slice::from_ref(req)), &labelled(labels));
            assert_eq!(got, *want, "{} on {labels:?}", req.shown());
        }
    }

    #[test]
    fn requirements_in_a_term_are_anded_and_terms_are_ored() {
        let gpu = term(&[
            Requirement::new("pool", "In", &["gpu"]),
            Requirement::new("zone", "NotIn", &["b"]),
        ]);
        assert!(term_matches(
            &gpu,
            &labelled(&[("pool", "gpu"), ("zone", "a")])
        ));
        assert!(!term_matches(
            &gpu,
            &labelled(&[("pool", "gpu"), ("zone", "b")])
        ));
        let tpu = term(&[Requirement::new("pool", "In", &["tpu"])]);
        let mut t = Task {
            name: "t".into(),
            affinity: Some(vec![gpu.clone(), tpu]),
            ..Task::default()
        };
        // Each node satisfies one term only: with ORed terms both fit.
        for labels in [&[("pool", "gpu")][..], &[("pool", "tpu")][..]] {
            assert_eq!(fit(&t, &[labelled(labels)]), Ok(None), "{labels:?}");
        }
        let hit = fit(&t, &[labelled(&[("pool", "cpu")])]).unwrap().unwrap();
        assert_eq!(hit.evidence[1].observed, "do not match any of the 2 required node affinity terms: (pool In [gpu] and zone NotIn [b]) or (pool In [tpu])");
        t.affinity = Some(vec![gpu]);
        let hit = fit(&t, &[labelled(&[("pool", "gpu"), ("zone", "b")])])
            .unwrap()
            .unwrap();
        assert_eq!(
            hit.evidence[1].observed,
            "do not match required node affinity pool In [gpu] and zone NotIn [b]"
        );
    }

    #[test]
    fn empty_terms_match_no_node() {
        let any = labelled(&[("pool", "gpu")]);
        let mut t = Task {
            name: "t".into(),
            affinity: Some(vec![]),
            ..Task::default()
        };
        assert!(
            fit(&t, std::slice::from_ref(&any)).unwrap().is_some(),
            "no terms"
        );
        t.affinity = Some(vec![AffinityTerm::default()]);
        assert!(
            fit(&t, std::slice::from_ref(&any)).unwrap().is_some(),
            "one empty term"
        );
        // An empty term next to a real one: the real one still counts.
        t.affinity = Some(vec![
            AffinityTerm::default(),
            term(&[Requirement::new("pool", "Exists", &[])]),
        ]);
        assert_eq!(fit(&t, std::slice::from_ref(&any)), Ok(None));
        t.affinity = None;
        assert_eq!(fit(&t, &[any]), Ok(None), "no required affinity");
    }

    #[test]
    fn match_fields_select_by_node_name() {
        let field = |op: &str, v: &[&str]| AffinityTerm {
            match_expressions: vec![],
            match_fields: vec![Requirement::new("metadata.name", op, v)],
        };
        let n = labelled(&[]);
        assert!(term_matches(&field("In", &["node-a"]), &n));
        assert!(!term_matches(&field("In", &["node-b"]), &n));
        assert!(term_matches(&field("NotIn", &["node-b"]), &n));
        assert!(
            !term_matches(&field("In", &["node-a", "node-b"]), &n),
            "exactly one value"
        );
        assert!(!term_matches(
            &AffinityTerm {
                match_expressions: vec![],
                match_fields: vec![Requirement::new("metadata.uid", "In", &["node-a"])]
            },
            &n
        ));
    }

    #[test]
    fn toleration_matching_follows_kubernetes() {
        let t = |key: Option<&str>, op: Option<&str>, value: Option<&str>, effect: Option<&str>| {
            Toleration {
                key: key.map(Into::into),
                operator: op.map(Into::into),
                value: value.map(Into::into),
                effect: effect.map(Into::into),
                dynamic: false,
            }
        };
        assert!(tolerates(
            &t(None, Some("Exists"), None, None),
            "any",
            "x",
            "NoSchedule"
        ));
        assert!(!tolerates(
            &t(None, None, None, None),
            "any",
            "x",
            "NoSchedule"
        ));
        assert!(tolerates(
            &t(Some("k"), None, Some("v"), None),
            "k",
            "v",
            "NoExecute"
        ));
        assert!(!tolerates(
            &t(Some("k"), None, Some("w"), None),
            "k",
            "v",
            "NoSchedule"
        ));
        assert!(!tolerates(
            &t(Some("k"), Some("Exists"), None, Some("NoExecute")),
            "k",
            "v",
            "NoSchedule"
        ));
    }
}
