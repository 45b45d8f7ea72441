//! Tolerations the API server rejects.

use super::{Hit, LintConfig, Rule};
use crate::model::{Evidence, Severity};
use crate::pipeline::model::Pipeline;

pub const RULE: Rule = Rule {
    id: "toleration-invalid",
    default_severity: Severity::Error,
    summary: "A toleration has an unknown operator or effect, a value with operator Exists, or no key without operator Exists.",
    why: "The API server rejects the pod at creation, so the step fails only when the pipeline reaches it.",
    fix: "Use operator Equal (with a value) or Exists (without a value), and effect NoSchedule, PreferNoSchedule or NoExecute.",
    evaluate,
};

fn problem(t: &crate::pipeline::model::Toleration) -> Option<&'static str> {
    let op = t.operator.as_deref().unwrap_or("Equal");
    if !matches!(op, "Equal" | "Exists") {
        return Some("unknown operator");
    }
    if op == "Exists" && t.value.is_some() {
        return Some("operator Exists with a value");
    }
    if t.key.is_none() && op != "Exists" {
        return Some("empty key needs operator Exists");
    }
    if let Some(e) = t.effect.as_deref() {
        if !matches!(e, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            return Some("unknown effect");
        }
    }
    None
}

fn evaluate(p: &Pipeline, _: &LintConfig) -> Vec<Hit> {
    let mut hits = Vec::new();
    for t in &p.tasks {
        for tol in t.tolerations.iter().filter(|t| !t.dynamic) {
            if let Some(why) = problem(tol) {
                hits.push(
                    Hit::on(t, format!("invalid toleration: {why}"), RULE.fix).with(
                        Evidence::new("toleration", tol.shown())
                            .expected("key Equal value effect, or key Exists effect"),
                    ),
                );
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn invalid_tolerations_fire() {
        let mut t = task("t");
        let mut a = tol("nvidia.com/gpu", "Exists");
        a.value = Some("present".into());
        let b = tol("nvidia.com/gpu", "In");
        let mut c = tol("nvidia.com/gpu", "Equal");
        c.effect = Some("NoScheduling".into());
        c.value = Some("x".into());
        let mut d = tol("nvidia.com/gpu", "Exists");
        d.key = None;
        let ok = tol("nvidia.com/gpu", "Exists");
        t.tolerations = vec![a, b, c, d, ok];
        assert_eq!(
            evaluate(&pipeline(vec![t]), &LintConfig::default()).len(),
            3
        );
    }
}
