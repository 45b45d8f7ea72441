//! Node selectors and required node affinity that Kubernetes rejects or that no node can satisfy.

use super::{Hit, LintConfig, Rule};
use crate::model::{Evidence, Severity};
use crate::pipeline::labels::{label_key_problem, label_value_problem};
use crate::pipeline::model::{AffinityTerm, Pipeline, Requirement, Task};
use crate::pipeline::quantity::is_placeholder;
use std::collections::{BTreeMap, BTreeSet};

pub const RULE: Rule = Rule {
    id: "selector-invalid",
    default_severity: Severity::Error,
    summary: "A node selector or required node affinity uses a label key or value Kubernetes rejects, an unknown operator, the wrong number of values, an empty term list, or requirements no node can satisfy together.",
    why: "The API server rejects the pod at creation (invalid labels, operators or values), or the scheduler never finds a node for it (contradictory requirements, empty terms), so the step fails or stays Pending only when the pipeline reaches it.",
    fix: "Use label keys and values as the nodes carry them (keys `prefix/name`, values of at most 63 letters, digits, '-', '_' or '.'), operators In/NotIn with values, Exists/DoesNotExist without, Gt/Lt with one integer, and requirements that one node pool can satisfy.",
    evaluate,
};

fn evaluate(p: &Pipeline, _: &LintConfig) -> Vec<Hit> {
    let mut hits = Vec::new();
    for t in &p.tasks {
        for (what, shown) in invalid(t) {
            hits.push(
                Hit::on(t, what, RULE.fix).with(
                    Evidence::new("placement", shown).expected("valid for the Kubernetes API"),
                ),
            );
        }
        if let Some(hit) = unsatisfiable(t) {
            hits.push(hit);
        }
    }
    hits
}

fn has_placeholder(r: &Requirement) -> bool {
    is_placeholder(&r.key) || r.values.iter().any(|v| is_placeholder(v))
}

/// (message, evidence) for everything the API server would reject.
fn invalid(t: &Task) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (k, v) in &t.node_selector {
        if is_placeholder(k) || is_placeholder(v) {
            continue;
        }
        if let Some(why) = label_key_problem(k) {
            out.push((
                format!("invalid node selector key: {why}"),
                format!("nodeSelector {k}={v}"),
            ));
        }
        if let Some(why) = label_value_problem(v) {
            out.push((
                format!("invalid node selector value: {why}"),
                format!("nodeSelector {k}={v}"),
            ));
        }
    }
    let Some(terms) = &t.affinity else { return out };
    if terms.is_empty() {
        out.push((
            "required node affinity without node selector terms".into(),
            "nodeSelectorTerms: []".into(),
        ));
    }
    for (i, term) in terms.iter().enumerate() {
        let at = |r: &Requirement| format!("term {}: {}", i + 1, r.shown());
        if term.is_empty() {
            out.push((
                "empty node selector term matches no node".into(),
                format!("term {}: (empty)", i + 1),
            ));
        }
        for r in term
            .match_expressions
            .iter()
            .filter(|r| !has_placeholder(r))
        {
            if let Some(why) = label_key_problem(&r.key) {
                out.push((format!("invalid node affinity key: {why}"), at(r)));
            }
            if let Some(why) = operator_problem(r) {
                out.push((format!("invalid node affinity requirement: {why}"), at(r)));
            }
            for v in &r.values {
                if let Some(why) = label_value_problem(v) {
                    out.push((format!("invalid node affinity value: {why}"), at(r)));
                }
            }
        }
        for r in term.match_fields.iter().filter(|r| !has_placeholder(r)) {
            let why = if r.key != "metadata.name" {
                Some("matchFields supports only the key metadata.name")
            } else if !matches!(r.operator.as_str(), "In" | "NotIn") {
                Some("matchFields supports only the operators In and NotIn")
            } else if r.values.len() != 1 {
                Some("matchFields needs exactly one value")
            } else {
                None
            };
            if let Some(why) = why {
                out.push((
                    format!("invalid node affinity field: {why}"),
                    format!("term {}: field {}", i + 1, r.shown()),
                ));
            }
        }
    }
    out
}

/// The operator and value-count rules of `ValidateNodeSelectorRequirement`, plus `Gt`/`Lt`
/// needing an integer (the scheduler cannot parse the term otherwise).
fn operator_problem(r: &Requirement) -> Option<String> {
    match r.operator.as_str() {
        "In" | "NotIn" if r.values.is_empty() => {
            Some(format!("operator {} needs at least one value", r.operator))
        }
        "Exists" | "DoesNotExist" if !r.values.is_empty() => {
            Some(format!("operator {} takes no values", r.operator))
        }
        "Gt" | "Lt" if r.values.len() != 1 => {
            Some(format!("operator {} needs exactly one value", r.operator))
        }
        "Gt" | "Lt" if r.values[0].parse::<i64>().is_err() => {
            Some(format!("operator {} needs an integer value", r.operator))
        }
        "In" | "NotIn" | "Exists" | "DoesNotExist" | "Gt" | "Lt" => None,
        "" => Some("operator missing".into()),
        other => Some(format!(
            "unknown operator {other} (In, NotIn, Exists, DoesNotExist, Gt or Lt)"
        )),
    }
}

/// One hit when required node affinity exists and none of its terms can ever match a node
/// together with the node selector (contradictory requirements on one key).
fn unsatisfiable(t: &Task) -> Option<Hit> {
    if t.dynamic_placement {
        return None;
    }
    let terms = t.affinity.as_ref().filter(|ts| !ts.is_empty())?;
    let mut reasons = Vec::new();
    for (i, term) in terms.iter().enumerate() {
        if term.is_empty()
            || term
                .match_expressions
                .iter()
                .chain(&term.match_fields)
                .any(has_placeholder)
        {
            return None; // reported as invalid, or unknown until run time
        }
        match contradiction(term, &t.node_selector) {
            Some(why) => reasons.push(Evidence::new(format!("term {}", i + 1), why)),
            None => return None,
        }
    }
    let mut hit = Hit::on(
        t,
        "no node can satisfy the required node affinity and node selector together",
        RULE.fix,
    );
    for e in reasons {
        hit = hit.with(e);
    }
    Some(hit)
}

/// Why no label set satisfies every requirement of `term` and the node selector, if so.
fn contradiction(term: &AffinityTerm, selector: &[(String, String)]) -> Option<String> {
    #[derive(Default)]
    struct Key<'a> {
        allowed: Option<BTreeSet<&'a str>>,
        excluded: BTreeSet<&'a str>,
        exists: bool,
        absent: bool,
        gt: Option<i64>,
        lt: Option<i64>,
        shown: Vec<String>,
    }
    fn allow<'a>(k: &mut Key<'a>, vs: BTreeSet<&'a str>) {
        k.allowed = Some(match k.allowed.take() {
            Some(a) => a.intersection(&vs).copied().collect(),
            None => vs,
        });
    }
    let mut keys: BTreeMap<&str, Key> = BTreeMap::new();
    for (key, v) in selector {
        let k = keys.entry(key).or_default();
        k.exists = true;
        allow(k, BTreeSet::from([v.as_str()]));
        k.shown.push(format!("nodeSelector {key}={v}"));
    }
    for r in &term.match_expressions {
        let k = keys.entry(&r.key).or_default();
        k.shown.push(r.shown());
        let int = r.values.first().and_then(|v| v.parse::<i64>().ok());
        match r.operator.as_str() {
            "In" => allow(k, r.values.iter().map(String::as_str).collect()),
            "NotIn" => k.excluded.extend(r.values.iter().map(String::as_str)),
            "Exists" => k.exists = true,
            "DoesNotExist" => k.absent = true,
            "Gt" => k.gt = k.gt.max(int),
            "Lt" => {
                k.lt = match (k.lt, int) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                }
            }
            _ => {}
        }
        if r.needs_label() {
            k.exists = true;
        }
    }
    for (key, k) in keys {
        let shown = k.shown.join(" and ");
        if k.exists && k.absent {
            return Some(format!("{key} must both exist and not exist: {shown}"));
        }
        let in_range = |v: &str| {
            if k.gt.is_none() && k.lt.is_none() {
                return true;
            }
            v.parse::<i64>()
                .is_ok_and(|x| k.gt.is_none_or(|g| x > g) && k.lt.is_none_or(|l| x < l))
        };
        if let Some(allowed) = &k.allowed {
            if !allowed
                .iter()
                .any(|v| !k.excluded.contains(v) && in_range(v))
            {
                return Some(format!("no value of {key} satisfies {shown}"));
            }
        } else if let (Some(g), Some(l)) = (k.gt, k.lt) {
            if i128::from(l) - i128::from(g) <= 1 {
                return Some(format!("no integer value of {key} satisfies {shown}"));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn with_terms(terms: Vec<Vec<Requirement>>) -> Task {
        let mut t = task("t");
        t.affinity = Some(
            terms
                .into_iter()
                .map(|r| AffinityTerm {
                    match_expressions: r,
                    match_fields: vec![],
                })
                .collect(),
        );
        t
    }

    fn messages(t: Task) -> Vec<String> {
        evaluate(&pipeline(vec![t]), &LintConfig::default())
            .into_iter()
            .map(|h| h.message)
            .collect()
    }

    #[test]
    fn valid_placement_is_quiet() {
        let r = Requirement::new;
        let mut t = with_terms(vec![
            vec![
                r(
                    "cloud.google.com/gke-accelerator",
                    "In",
                    &["nvidia-l4", "nvidia-a100-80gb"],
                ),
                r("spot", "DoesNotExist", &[]),
            ],
            vec![
                r("gpus", "Gt", &["3"]),
                r("gpus", "Lt", &["9"]),
                r("zone", "NotIn", &["a"]),
            ],
        ]);
        sel(&mut t, "cloud.google.com/gke-accelerator", "nvidia-l4");
        sel(&mut t, "empty-value", "");
        assert_eq!(messages(t), Vec::<String>::new());
    }

    #[test]
    fn rejected_keys_values_and_operators_fire() {
        let r = Requirement::new;
        let mut t = with_terms(vec![vec![
            r("Bad_Prefix.com/x", "Exists", &[]),
            r("pool", "in", &["gpu"]),
            r("pool", "In", &[]),
            r("pool", "Exists", &["gpu"]),
            r("gpus", "Gt", &["four"]),
            r("gpus", "Lt", &["1", "2"]),
            r("zone", "In", &["us/central"]),
        ]]);
        sel(&mut t, "gpu type", "l4");
        sel(&mut t, "pool", &"x".repeat(64));
        let got = messages(t);
        for want in [
            "invalid node selector key: name part must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
            "invalid node selector value: value is 64 characters, over 63",
            "invalid node affinity key: prefix is not a DNS subdomain (lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit)",
            "invalid node affinity requirement: unknown operator in (In, NotIn, Exists, DoesNotExist, Gt or Lt)",
            "invalid node affinity requirement: operator In needs at least one value",
            "invalid node affinity requirement: operator Exists takes no values",
            "invalid node affinity requirement: operator Gt needs an integer value",
            "invalid node affinity requirement: operator Lt needs exactly one value",
            "invalid node affinity value: value must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
        ] {
            assert!(got.iter().any(|m| m == want), "missing {want:?} in {got:#?}");
        }
    }

    #[test]
    fn empty_terms_and_bad_fields_fire() {
        assert_eq!(
            messages(with_terms(vec![])),
            vec!["required node affinity without node selector terms"]
        );
        assert_eq!(
            messages(with_terms(vec![vec![]])),
            vec!["empty node selector term matches no node"]
        );
        let mut t = task("t");
        t.affinity = Some(vec![AffinityTerm {
            match_expressions: vec![],
            match_fields: vec![Requirement::new("metadata.labels", "In", &["a"])],
        }]);
        assert_eq!(
            messages(t),
            vec!["invalid node affinity field: matchFields supports only the key metadata.name"]
        );
    }

    #[test]
    fn contradictions_fire_only_when_no_term_can_match() {
        let r = Requirement::new;
        let never = || vec![r("pool", "Exists", &[]), r("pool", "DoesNotExist", &[])];
        let hits = evaluate(
            &pipeline(vec![with_terms(vec![
                never(),
                vec![r("gpus", "Gt", &["4"]), r("gpus", "Lt", &["5"])],
            ])]),
            &LintConfig::default(),
        );
        assert_eq!(hits.len(), 1);
        assert_eq!(
            hits[0].message,
            "no node can satisfy the required node affinity and node selector together"
        );
        let ev: Vec<String> = hits[0]
            .evidence
            .iter()
            .map(|e| format!("{}: {}", e.key, e.observed))
            .collect();
        assert_eq!(
            ev,
            vec![
                "term 1: pool must both exist and not exist: pool Exists and pool DoesNotExist",
                "term 2: no integer value of gpus satisfies gpus Gt 4 and gpus Lt 5"
            ]
        );
        // One satisfiable term is enough: terms are ORed.
        assert_eq!(
            messages(with_terms(vec![never(), vec![r("pool", "Exists", &[])]])),
            Vec::<String>::new()
        );
        // The node selector is ANDed with every term.
        let mut t = with_terms(vec![
            vec![r("pool", "In", &["gpu", "tpu"])],
            vec![r("pool", "NotIn", &["cpu"])],
        ]);
        sel(&mut t, "pool", "cpu");
        let hits = evaluate(&pipeline(vec![t]), &LintConfig::default());
        assert_eq!(hits.len(), 1, "{hits:#?}");
        assert_eq!(
            hits[0].evidence[0].observed,
            "no value of pool satisfies nodeSelector pool=cpu and pool In [gpu, tpu]"
        );
        assert_eq!(
            messages(with_terms(vec![vec![
                r("pool", "In", &["a"]),
                r("pool", "NotIn", &["a"])
            ]]))
            .len(),
            1
        );
        assert_eq!(
            messages(with_terms(vec![vec![
                r("n", "In", &["3", "x"]),
                r("n", "Gt", &["5"])
            ]]))
            .len(),
            1
        );
    }
}
