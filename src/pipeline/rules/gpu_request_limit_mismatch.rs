//! Extended resource whose request differs from its limit (or has a request but no limit).

use super::{Hit, LintConfig, Rule};
use crate::model::{Evidence, Severity};
use crate::pipeline::model::Pipeline;
use crate::pipeline::quantity::parse_quantity;

pub const RULE: Rule = Rule {
    id: "gpu-request-limit-mismatch",
    default_severity: Severity::Error,
    summary: "A GPU or other extended resource has a request that differs from its limit, or a request without a limit.",
    why: "Extended resources cannot be overcommitted: the API server rejects the pod, so the step never starts.",
    fix: "Set only the limit for GPUs (the request defaults to it), or make the request equal to the limit.",
    evaluate,
};

fn evaluate(p: &Pipeline, _: &LintConfig) -> Vec<Hit> {
    let mut hits = Vec::new();
    for t in &p.tasks {
        for e in &t.resources.extended {
            let Some(req) = &e.request else { continue };
            if req.is_placeholder() {
                continue;
            }
            match &e.limit {
                None => hits.push(
                    Hit::on(t, format!("{} request without limit", e.name), RULE.fix)
                        .with(Evidence::new(req.field.clone(), req.raw.clone()))
                        .with(
                            Evidence::new(format!("limits.{}", e.name), "none")
                                .expected(req.raw.clone()),
                        ),
                ),
                Some(lim) if !lim.is_placeholder() => {
                    if let (Some(a), Some(b)) = (parse_quantity(&req.raw), parse_quantity(&lim.raw))
                    {
                        if a != b {
                            hits.push(
                                Hit::on(
                                    t,
                                    format!("{} request differs from limit", e.name),
                                    RULE.fix,
                                )
                                .with(
                                    Evidence::new(req.field.clone(), req.raw.clone())
                                        .expected(lim.raw.clone()),
                                )
                                .with(Evidence::new(lim.field.clone(), lim.raw.clone())),
                            );
                        }
                    }
                }
                Some(_) => {}
            }
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::pipeline::model::Extended;

    #[test]
    fn mismatch_and_request_only_fire() {
        let mut a = task("a");
        a.resources.extended.push(Extended {
            name: "nvidia.com/gpu".into(),
            request: q("1"),
            limit: q("2"),
        });
        let mut b = task("b");
        b.resources.extended.push(Extended {
            name: "nvidia.com/gpu".into(),
            request: q("1"),
            limit: None,
        });
        let mut ok = task("ok");
        ok.resources.extended.push(Extended {
            name: "nvidia.com/gpu".into(),
            request: q("1"),
            limit: q("1"),
        });
        assert_eq!(
            evaluate(&pipeline(vec![a, b, ok]), &LintConfig::default()).len(),
            2
        );
    }
}
