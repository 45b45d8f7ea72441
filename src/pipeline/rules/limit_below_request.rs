//! CPU or memory limit lower than the request.

use super::{Hit, LintConfig, Rule};
use crate::model::{Evidence, Severity};
use crate::pipeline::model::{Pipeline, Qty};

pub const RULE: Rule = Rule {
    id: "limit-below-request",
    default_severity: Severity::Error,
    summary: "A CPU or memory limit is lower than the request for the same resource.",
    why: "The API server rejects a pod whose limit is below its request, so the step fails before it starts.",
    fix: "Raise the limit to at least the request, or lower the request.",
    evaluate,
};

fn evaluate(p: &Pipeline, _: &LintConfig) -> Vec<Hit> {
    let mut hits = Vec::new();
    for t in &p.tasks {
        let r = &t.resources;
        for (what, req, lim) in [
            ("cpu", &r.cpu_request, &r.cpu_limit),
            ("memory", &r.memory_request, &r.memory_limit),
        ] {
            let (Some(req), Some(lim)) = (req, lim) else {
                continue;
            };
            let (Some(rv), Some(lv)) = (Qty::value(req), Qty::value(lim)) else {
                continue;
            };
            if lv < rv {
                hits.push(
                    Hit::on(t, format!("{what} limit below request"), RULE.fix)
                        .with(
                            Evidence::new("limit", lim.shown()).expected(format!(">= {}", req.raw)),
                        )
                        .with(Evidence::new("request", req.shown())),
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
    fn fires_only_when_limit_lower() {
        let mut t = task("t");
        t.resources.memory_request = q("2Gi");
        t.resources.memory_limit = q("1Gi");
        t.resources.cpu_request = q("500m");
        t.resources.cpu_limit = q("1");
        let hits = evaluate(&pipeline(vec![t]), &LintConfig::default());
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].message, "memory limit below request");
    }
}
