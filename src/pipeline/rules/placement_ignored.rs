//! Node selectors, tolerations or affinity written where they are silently ignored.

use super::{per_format, Hit, LintConfig, Rule};
use crate::model::{Evidence, Severity};
use crate::pipeline::model::Pipeline;

pub const RULE: Rule = Rule {
    id: "placement-ignored",
    default_severity: Severity::Error,
    summary: "A node selector, toleration or affinity is written inside the container (or step), where it is ignored.",
    why: "Containers have no placement fields: Argo, Tekton and the KFP driver drop them without an error, so the step runs on whatever node is free (a GPU step waits forever, a CPU step lands on GPU nodes).",
    fix: "Move the placement to where the format reads it: the kfp-kubernetes platform spec (v2), the Argo template (v1), or taskRunSpecs[].podTemplate (Tekton).",
    evaluate,
};

fn evaluate(p: &Pipeline, _: &LintConfig) -> Vec<Hit> {
    let fix = per_format(
        p,
        "Set placement with kfp-kubernetes (`kubernetes.add_node_selector`, `kubernetes.add_toleration`, `kubernetes.add_node_affinity`) so it lands in the platform spec.",
        "Set placement on the op (`op.add_node_selector_constraint`, `op.add_toleration`, `op.add_affinity`) so it lands on the Argo template, not in the container.",
        "Move the placement to the task's `taskRunSpecs[].podTemplate` in the PipelineRun.",
    );
    p.tasks
        .iter()
        .filter(|t| !t.ignored_placement.is_empty())
        .map(|t| {
            Hit::on(
                t,
                "placement written inside the container is ignored",
                fix.clone(),
            )
            .with(
                Evidence::new("ignored fields", t.ignored_placement.join(", "))
                    .expected("placement on the pod, not the container"),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use crate::pipeline::parse::parse_pipeline;

    #[test]
    fn fires_for_misplaced_fields_only() {
        let mut t = task("t");
        t.ignored_placement = vec!["container.nodeSelector".into()];
        assert_eq!(
            evaluate(&pipeline(vec![t, task("ok")]), &LintConfig::default()).len(),
            1
        );
    }

    #[test]
    fn every_format_reports_it() {
        let argo = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec:\n  templates:\n  - name: a\n    container:\n      image: x:1\n      nodeSelector: {pool: gpu}\n";
        let v2 = "deploymentSpec:\n  executors:\n    exec-a:\n      container:\n        image: x:1\n        tolerations: [{key: nvidia.com/gpu, operator: Exists}]\nroot:\n  executorLabel: exec-a\n";
        let tekton = "apiVersion: tekton.dev/v1\nkind: PipelineRun\nspec:\n  pipelineSpec:\n    tasks:\n    - name: a\n      taskSpec:\n        steps:\n        - {name: main, image: 'x:1', affinity: {}}\n";
        for (text, want) in [
            (argo, "container.nodeSelector"),
            (v2, "container.tolerations"),
            (tekton, "step.affinity"),
        ] {
            let p = parse_pipeline(text).unwrap();
            assert_eq!(p.tasks[0].ignored_placement, vec![want.to_string()]);
        }
    }
}
