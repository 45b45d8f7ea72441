//! Resources or placement taken from pipeline parameters: not checkable before the run.

use super::{Hit, LintConfig, Rule};
use crate::model::{Evidence, Severity};
use crate::pipeline::model::Pipeline;

pub const RULE: Rule = Rule {
    id: "resources-from-parameters",
    default_severity: Severity::Info,
    summary: "Resources, node selectors or tolerations come from pipeline parameters and can only be checked at run time.",
    why: "A bad value passed at submission time fails the step mid-run; kfcheck cannot see it in the compiled YAML.",
    fix: "Validate these parameters in the pipeline, or run the pipeline with its real parameters as a kfcheck pipeline-run check.",
    evaluate,
};

fn evaluate(p: &Pipeline, _: &LintConfig) -> Vec<Hit> {
    p.tasks
        .iter()
        .filter_map(|t| {
            let mut fields: Vec<String> = t
                .resources
                .all()
                .filter(|q| q.is_placeholder())
                .map(|q| q.field.clone())
                .collect();
            if t.dynamic_placement {
                fields.push("placement (node selector / tolerations / affinity)".into());
            }
            (!fields.is_empty()).then(|| {
                Hit::on(t, "values set from pipeline parameters", RULE.fix)
                    .with(Evidence::new("fields", fields.join(", ")))
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn placeholders_are_reported() {
        let mut t = task("t");
        t.resources.cpu_limit = q("{{$.inputs.parameters['pipelinechannel--cpu']}}");
        let plain = task("plain");
        let hits = evaluate(&pipeline(vec![t, plain]), &LintConfig::default());
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].task, "t");
    }
}
