//! GPU step with no memory limit.

use super::{gpu_resources, Hit, LintConfig, Rule};
use crate::model::{Evidence, Severity};
use crate::pipeline::model::Pipeline;

pub const RULE: Rule = Rule {
    id: "gpu-without-memory-limit",
    default_severity: Severity::Warning,
    summary: "A task requests a GPU but sets no memory limit.",
    why: "GPU nodes are expensive and shared: a step without a memory limit can be evicted or take the node's memory from other GPU jobs, and namespaces with a quota on limits reject it.",
    fix: "Set a memory limit on the GPU task (e.g. `task.set_memory_limit('16Gi')`).",
    evaluate,
};

fn evaluate(p: &Pipeline, _: &LintConfig) -> Vec<Hit> {
    p.tasks
        .iter()
        .filter(|t| gpu_resources(t).next().is_some() && t.resources.memory_limit.is_none())
        .map(|t| {
            Hit::on(t, "gpu task without memory limit", RULE.fix)
                .with(Evidence::new("memory limit", "none").expected("a limit, e.g. 16Gi"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn fires_only_for_gpu_tasks_without_limit() {
        let mut a = task("a");
        gpu(&mut a, "nvidia.com/gpu", "1");
        let mut b = task("b");
        gpu(&mut b, "nvidia.com/gpu", "1");
        b.resources.memory_limit = q("8Gi");
        let c = task("c");
        let hits = evaluate(&pipeline(vec![a, b, c]), &LintConfig::default());
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].task, "a");
    }
}
