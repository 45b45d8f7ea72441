//! Platform-spec configuration for an executor that the pipeline does not have.

use super::{Hit, LintConfig, Rule};
use crate::model::{Evidence, Severity};
use crate::pipeline::model::Pipeline;

pub const RULE: Rule = Rule {
    id: "platform-executor-unknown",
    default_severity: Severity::Warning,
    summary: "The Kubernetes platform spec configures an executor label that the pipeline's deploymentSpec does not define.",
    why: "KFP applies platform config by executor label; an orphaned entry (typically after renaming a component or hand-merging YAML) is silently ignored, so its secrets, selectors and tolerations never reach the pod.",
    fix: "Recompile the pipeline with the current kfp and kfp-kubernetes instead of editing the YAML by hand.",
    evaluate,
};

fn evaluate(p: &Pipeline, _: &LintConfig) -> Vec<Hit> {
    p.orphan_platform_executors
        .iter()
        .map(|(label, line)| Hit {
            task: label.clone(),
            line: *line,
            message: "platform config for unknown executor".into(),
            evidence: vec![Evidence::new("executor label", label.clone())
                .expected("a label under deploymentSpec.executors")],
            remediation: RULE.fix.into(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn orphans_fire() {
        let mut p = pipeline(vec![task("a")]);
        assert!(evaluate(&p, &LintConfig::default()).is_empty());
        p.orphan_platform_executors
            .push(("exec-old".into(), Some(40)));
        let hits = evaluate(&p, &LintConfig::default());
        assert_eq!(hits[0].task, "exec-old");
        assert_eq!(hits[0].line, Some(40));
    }
}
