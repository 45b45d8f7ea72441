//! GPU (or other extended resource) count that is not a positive whole number.

use super::{Hit, LintConfig, Rule};
use crate::model::{Evidence, Severity};
use crate::pipeline::model::Pipeline;
use crate::pipeline::quantity::parse_quantity;

pub const RULE: Rule = Rule {
    id: "gpu-count-invalid",
    default_severity: Severity::Error,
    summary: "A GPU or other accelerator count is not a positive whole number.",
    why: "Extended resources cannot be overcommitted or split: the API server rejects fractional or unparseable counts, and a count of 0 silently runs the step without a GPU.",
    fix: "Set the accelerator limit to a whole number of devices, at least 1.",
    evaluate,
};

fn evaluate(p: &Pipeline, _: &LintConfig) -> Vec<Hit> {
    let mut hits = Vec::new();
    for t in &p.tasks {
        for e in &t.resources.extended {
            for q in e.limit.iter().chain(e.request.iter()) {
                if q.is_placeholder() {
                    continue;
                }
                let problem = match parse_quantity(&q.raw) {
                    None => "not a number",
                    Some(v) if v <= 0.0 => "not positive",
                    Some(v) if v.fract() != 0.0 => "not a whole number",
                    Some(_) => continue,
                };
                hits.push(
                    Hit::on(t, format!("{} count is {problem}", e.name), RULE.fix).with(
                        Evidence::new(q.field.clone(), q.raw.clone())
                            .expected("a whole number >= 1"),
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
    fn bad_counts_fire_good_ones_do_not() {
        for (count, fires) in [
            ("0", true),
            ("-1", true),
            ("1.5", true),
            ("two", true),
            ("1", false),
            ("8", false),
            ("{{$.inputs.parameters['n']}}", false),
        ] {
            let mut t = task("t");
            gpu(&mut t, "nvidia.com/gpu", count);
            assert_eq!(
                !evaluate(&pipeline(vec![t]), &LintConfig::default()).is_empty(),
                fires,
                "{count}"
            );
        }
    }
}
