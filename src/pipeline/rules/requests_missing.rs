//! Container task with no CPU or memory request or limit.

use super::{Hit, LintConfig, Rule};
use crate::model::{Evidence, Severity};
use crate::pipeline::model::Pipeline;

pub const RULE: Rule = Rule {
    id: "requests-missing",
    default_severity: Severity::Info,
    summary: "A task sets no request or limit for a resource the cluster needs (cpu and memory by default).",
    why: "Namespaces with a ResourceQuota on requests reject such pods outright, and without requests the scheduler packs steps onto nodes that cannot run them; raise this rule to error in suites for clusters that enforce quotas.",
    fix: "Set CPU and memory requests (or limits) on every task, e.g. `task.set_cpu_request('500m').set_memory_request('1Gi')`.",
    evaluate,
};

fn evaluate(p: &Pipeline, cfg: &LintConfig) -> Vec<Hit> {
    p.tasks
        .iter()
        .filter_map(|t| {
            let r = &t.resources;
            let missing: Vec<&str> = cfg
                .require_requests
                .iter()
                .map(String::as_str)
                .filter(|res| match *res {
                    "cpu" => r.cpu_request.is_none() && r.cpu_limit.is_none(),
                    "memory" => r.memory_request.is_none() && r.memory_limit.is_none(),
                    other => !r.extended.iter().any(|e| e.name == other),
                })
                .collect();
            (!missing.is_empty()).then(|| {
                Hit::on(
                    t,
                    format!("no {} request or limit", missing.join(" or ")),
                    RULE.fix,
                )
                .with(
                    Evidence::new("missing", missing.join(", "))
                        .expected("a request or limit for each"),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn fires_per_missing_resource() {
        let a = task("a");
        let mut b = task("b");
        b.resources.cpu_limit = q("1");
        let mut c = task("c");
        c.resources.cpu_request = q("1");
        c.resources.memory_limit = q("1Gi");
        let hits = evaluate(&pipeline(vec![a, b, c]), &LintConfig::default());
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].message, "no cpu or memory request or limit");
        assert_eq!(hits[1].message, "no memory request or limit");
    }
}
