//! GPU requested, but nothing steers the pod to GPU nodes or lets it onto their taint.

use super::{
    gpu_resources, has_accelerator_placement, is_gpu_toleration, per_format, Hit, LintConfig, Rule,
};
use crate::model::{Evidence, Severity};
use crate::pipeline::model::Pipeline;

pub const RULE: Rule = Rule {
    id: "gpu-without-placement",
    default_severity: Severity::Warning,
    summary: "A task requests a GPU but has neither an accelerator node selector nor a toleration for the GPU taint.",
    why: "GPU pools are usually tainted (nvidia.com/gpu:NoSchedule) and hold several GPU models; without a toleration the pod stays Pending on clusters that do not add it automatically, and without a selector it lands on whichever GPU model is free.",
    fix: "Add a node selector for the GPU pool and a toleration for the nvidia.com/gpu taint.",
    evaluate,
};

fn evaluate(p: &Pipeline, _: &LintConfig) -> Vec<Hit> {
    let fix = per_format(
        p,
        "Add `kubernetes.add_node_selector(task, 'cloud.google.com/gke-accelerator', '<gpu-type>')` and `kubernetes.add_toleration(task, key='nvidia.com/gpu', operator='Exists', effect='NoSchedule')` from kfp-kubernetes.",
        "Add `op.add_node_selector_constraint('cloud.google.com/gke-accelerator', '<gpu-type>')` and `op.add_toleration(V1Toleration(key='nvidia.com/gpu', operator='Exists', effect='NoSchedule'))`.",
        "Add a `taskRunSpecs` entry for the task with a `podTemplate` node selector for the GPU pool and a toleration for the nvidia.com/gpu taint.",
    );
    p.tasks
        .iter()
        .filter_map(|t| {
            let gpu = gpu_resources(t).next()?;
            if t.dynamic_placement
                || has_accelerator_placement(t)
                || t.tolerations.iter().any(is_gpu_toleration)
            {
                return None;
            }
            let count = gpu
                .limit
                .as_ref()
                .or(gpu.request.as_ref())
                .map(|q| q.raw.clone())
                .unwrap_or_default();
            Some(
                Hit::on(
                    t,
                    "gpu requested without accelerator node selector or toleration",
                    fix.clone(),
                )
                .with(Evidence::new("resource", format!("{}: {count}", gpu.name)))
                .with(
                    Evidence::new("node selector", "none")
                        .expected("an accelerator label, e.g. cloud.google.com/gke-accelerator"),
                )
                .with(
                    Evidence::new(
                        "tolerations",
                        if t.tolerations.is_empty() {
                            "none".into()
                        } else {
                            t.tolerations
                                .iter()
                                .map(|t| t.shown())
                                .collect::<Vec<_>>()
                                .join(", ")
                        },
                    )
                    .expected("nvidia.com/gpu Exists NoSchedule"),
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn fires_without_selector_or_toleration() {
        let mut t = task("train");
        gpu(&mut t, "nvidia.com/gpu", "1");
        let hits = evaluate(&pipeline(vec![t]), &LintConfig::default());
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].task, "train");
    }

    #[test]
    fn quiet_with_selector_or_toleration_or_no_gpu() {
        let mut a = task("a");
        gpu(&mut a, "nvidia.com/gpu", "1");
        sel(&mut a, "cloud.google.com/gke-accelerator", "nvidia-l4");
        let mut b = task("b");
        gpu(&mut b, "nvidia.com/gpu", "1");
        b.tolerations.push(tol("nvidia.com/gpu", "Exists"));
        let c = task("c");
        assert!(evaluate(&pipeline(vec![a, b, c]), &LintConfig::default()).is_empty());
    }
}
