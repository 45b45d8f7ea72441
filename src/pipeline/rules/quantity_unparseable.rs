//! CPU or memory value that is not a Kubernetes quantity.

use super::{Hit, LintConfig, Rule};
use crate::model::{Evidence, Severity};
use crate::pipeline::model::Pipeline;
use crate::pipeline::quantity::parse_quantity;

pub const RULE: Rule = Rule {
    id: "quantity-unparseable",
    default_severity: Severity::Error,
    summary: "A CPU or memory value is not a valid Kubernetes quantity, or is negative.",
    why: "The pod is rejected at run time (e.g. `1GB` or `2 cores` are not quantities), after the pipeline has already started.",
    fix: "Write CPU as cores or millicores (`500m`, `2`) and memory with a binary or decimal suffix (`512Mi`, `4Gi`, `1G`).",
    evaluate,
};

fn evaluate(p: &Pipeline, _: &LintConfig) -> Vec<Hit> {
    let mut hits = Vec::new();
    for t in &p.tasks {
        let r = &t.resources;
        for q in [
            &r.cpu_request,
            &r.cpu_limit,
            &r.memory_request,
            &r.memory_limit,
        ]
        .into_iter()
        .flatten()
        {
            if q.is_placeholder() {
                continue;
            }
            let message = match parse_quantity(&q.raw) {
                None => "value is not a kubernetes quantity",
                Some(v) if v < 0.0 => "value is negative",
                Some(_) => continue,
            };
            hits.push(Hit::on(t, message, RULE.fix).with(
                Evidence::new(q.field.clone(), q.raw.clone()).expected("e.g. 500m, 2, 512Mi, 4Gi"),
            ));
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn fires_for_bad_values() {
        let mut t = task("t");
        t.resources.memory_limit = q("1 GB");
        t.resources.cpu_limit = q("2 cores");
        t.resources.cpu_request = q("-1");
        t.resources.memory_request = q("512Mi");
        assert_eq!(
            evaluate(&pipeline(vec![t]), &LintConfig::default()).len(),
            3
        );
    }
}
