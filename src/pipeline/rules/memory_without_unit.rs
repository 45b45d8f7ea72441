//! Memory so small it must have lost its unit (`512` bytes meant as 512Mi).

use super::{Hit, LintConfig, Rule};
use crate::model::{Evidence, Severity};
use crate::pipeline::model::Pipeline;
use crate::pipeline::quantity::format_bytes;

pub const RULE: Rule = Rule {
    id: "memory-without-unit",
    default_severity: Severity::Error,
    summary: "A memory request or limit is under 1Mi, which almost always means a missing unit.",
    why: "Kubernetes reads `512` as 512 bytes: the container cannot even start (OOMKilled or rejected by the runtime), and the run fails with a confusing error.",
    fix: "Add the unit, e.g. `512Mi` or `4Gi`.",
    evaluate,
};

const ONE_MI: f64 = 1024.0 * 1024.0;

fn evaluate(p: &Pipeline, _: &LintConfig) -> Vec<Hit> {
    let mut hits = Vec::new();
    for t in &p.tasks {
        for q in [&t.resources.memory_request, &t.resources.memory_limit]
            .into_iter()
            .flatten()
        {
            let Some(v) = q.value() else { continue };
            if v > 0.0 && v < ONE_MI {
                hits.push(
                    Hit::on(
                        t,
                        format!("memory of {} bytes", format_bytes(v.round())),
                        RULE.fix,
                    )
                    .with(
                        Evidence::new(q.field.clone(), q.raw.clone())
                            .expected("a value with a unit, e.g. 512Mi"),
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
    use crate::pipeline::model::Qty;

    #[test]
    fn small_values_fire() {
        let mut t = task("t");
        t.resources.memory_limit = q("512");
        t.resources.memory_request = q("256Mi");
        assert_eq!(
            evaluate(&pipeline(vec![t]), &LintConfig::default()).len(),
            1
        );
        let mut gb = task("gb");
        gb.resources.memory_limit = Some(Qty {
            raw: "0.5".into(),
            field: "memoryLimit".into(),
            scale: 1e9,
        });
        assert!(evaluate(&pipeline(vec![gb]), &LintConfig::default()).is_empty());
    }
}
