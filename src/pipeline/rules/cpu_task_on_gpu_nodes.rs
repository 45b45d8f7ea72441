//! Task without a GPU request pinned to GPU nodes.

use super::{is_accelerator_label, is_gpu_toleration, Hit, LintConfig, Rule};
use crate::model::{Evidence, Severity};
use crate::pipeline::model::Pipeline;

pub const RULE: Rule = Rule {
    id: "cpu-task-on-gpu-nodes",
    default_severity: Severity::Warning,
    summary: "A task that requests no GPU is pinned to GPU nodes by a node selector or a GPU-taint toleration.",
    why: "It occupies a GPU node's CPU and memory (often triggering a GPU node scale-up) without using the GPU, and waits for GPU capacity it does not need.",
    fix: "Remove the accelerator node selector and GPU toleration from CPU-only tasks, or request the GPU the task needs.",
    evaluate,
};

fn evaluate(p: &Pipeline, _: &LintConfig) -> Vec<Hit> {
    let mut hits = Vec::new();
    for t in &p.tasks {
        // Any accelerator request (even a misspelled one, reported by its own rule) is not CPU-only.
        if !t.resources.extended.is_empty() {
            continue;
        }
        let selectors: Vec<String> = t
            .node_selector
            .iter()
            .filter(|(k, _)| is_accelerator_label(k))
            .map(|(k, v)| format!("{k}={v}"))
            .chain(
                t.affinity_pins(|r| r.needs_label() && is_accelerator_label(&r.key))
                    .into_iter()
                    .map(|r| r.shown()),
            )
            .collect();
        let tolerations: Vec<String> = t
            .tolerations
            .iter()
            .filter(|tol| !tol.dynamic && tol.key.is_some() && is_gpu_toleration(tol))
            .map(|tol| tol.shown())
            .collect();
        if selectors.is_empty() && tolerations.is_empty() {
            continue;
        }
        let mut hit = Hit::on(t, "cpu-only task pinned to gpu nodes", RULE.fix)
            .with(Evidence::new("gpu request", "none"));
        if !selectors.is_empty() {
            hit = hit.with(
                Evidence::new("node selector", selectors.join(", "))
                    .expected("no accelerator label"),
            );
        }
        if !tolerations.is_empty() {
            hit = hit.with(
                Evidence::new("tolerations", tolerations.join(", "))
                    .expected("no GPU-taint toleration"),
            );
        }
        hits.push(hit);
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn fires_for_selector_or_toleration_without_gpu() {
        let mut a = task("a");
        sel(&mut a, "cloud.google.com/gke-accelerator", "nvidia-l4");
        let mut b = task("b");
        b.tolerations.push(tol("nvidia.com/gpu", "Exists"));
        let mut c = task("c");
        sel(&mut c, "cloud.google.com/gke-accelerator", "nvidia-l4");
        gpu(&mut c, "nvidia.com/gpu", "1");
        let mut d = task("d");
        sel(&mut d, "pool", "cpu");
        let hits = evaluate(&pipeline(vec![a, b, c, d]), &LintConfig::default());
        assert_eq!(
            hits.iter().map(|h| h.task.as_str()).collect::<Vec<_>>(),
            vec!["a", "b"]
        );
    }

    /// Required node-affinity terms are ORed: a task is pinned to GPU nodes only when every
    /// term asks for an accelerator label.
    #[test]
    fn affinity_pins_only_when_every_term_asks_for_an_accelerator() {
        use crate::pipeline::model::{AffinityTerm, Requirement};
        let gpu_term = AffinityTerm {
            match_expressions: vec![Requirement::new(
                "cloud.google.com/gke-accelerator",
                "In",
                &["nvidia-l4"],
            )],
            match_fields: vec![],
        };
        let cpu_term = AffinityTerm {
            match_expressions: vec![Requirement::new("pool", "In", &["cpu"])],
            match_fields: vec![],
        };
        let mut either = task("either");
        either.affinity = Some(vec![gpu_term.clone(), cpu_term]);
        let mut only = task("only");
        only.affinity = Some(vec![gpu_term.clone(), gpu_term]);
        let hits = evaluate(&pipeline(vec![either, only]), &LintConfig::default());
        assert_eq!(
            hits.iter().map(|h| h.task.as_str()).collect::<Vec<_>>(),
            vec!["only"]
        );
    }
}
