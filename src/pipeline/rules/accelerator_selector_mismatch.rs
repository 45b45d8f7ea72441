//! Accelerator node selector or taint toleration for one GPU vendor, resource of another.

use super::{
    gpu_resources, label_vendor, resource_vendor, toleration_vendor, Hit, LintConfig, Rule,
};
use crate::model::{Evidence, Severity};
use crate::pipeline::model::Pipeline;

pub const RULE: Rule = Rule {
    id: "accelerator-selector-mismatch",
    default_severity: Severity::Error,
    summary: "The accelerator node selector (or GPU toleration) names a different GPU vendor than the resource the task requests.",
    why: "No node both carries the selected label and advertises the requested resource, so the pod stays Pending until the run times out.",
    fix: "Make the node selector and the requested accelerator resource name the same GPU vendor and model.",
    evaluate,
};

fn evaluate(p: &Pipeline, _: &LintConfig) -> Vec<Hit> {
    let mut hits = Vec::new();
    for t in &p.tasks {
        for gpu in gpu_resources(t) {
            let Some(want) = resource_vendor(&gpu.name) else {
                continue;
            };
            let selectors = t
                .node_selector
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str(), format!("{k}={v}")))
                .chain(
                    t.affinity_requirements()
                        .filter(|r| r.operator == "In")
                        .flat_map(|r| {
                            r.values.iter().map(move |v| {
                                (r.key.as_str(), v.as_str(), format!("{} in {v}", r.key))
                            })
                        }),
                );
            for (k, v, shown) in selectors {
                if let Some(got) = label_vendor(k, v).filter(|g| *g != want) {
                    hits.push(
                        Hit::on(
                            t,
                            format!(
                                "{} node selector for a {} resource",
                                got.name(),
                                want.name()
                            ),
                            RULE.fix,
                        )
                        .with(
                            Evidence::new("node selector", shown)
                                .expected(format!("a {} accelerator label", want.name())),
                        )
                        .with(Evidence::new("resource", gpu.name.clone())),
                    );
                }
            }
            let tol_vendors: Vec<_> = t
                .tolerations
                .iter()
                .filter_map(|x| toleration_vendor(x).map(|v| (v, x)))
                .collect();
            if !tol_vendors.is_empty() && tol_vendors.iter().all(|(v, _)| *v != want) {
                let (got, tol) = tol_vendors[0];
                hits.push(
                    Hit::on(
                        t,
                        format!(
                            "{} gpu toleration for a {} resource",
                            got.name(),
                            want.name()
                        ),
                        RULE.fix,
                    )
                    .with(
                        Evidence::new("toleration", tol.shown())
                            .expected(format!("a toleration for the {} taint", gpu.name)),
                    )
                    .with(Evidence::new("resource", gpu.name.clone())),
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
    fn vendor_mismatch_fires() {
        let mut a = task("a");
        gpu(&mut a, "amd.com/gpu", "1");
        sel(&mut a, "cloud.google.com/gke-accelerator", "nvidia-l4");
        let mut b = task("b");
        gpu(&mut b, "amd.com/gpu", "1");
        b.tolerations.push(tol("nvidia.com/gpu", "Exists"));
        let mut ok = task("ok");
        gpu(&mut ok, "nvidia.com/gpu", "1");
        sel(&mut ok, "nvidia.com/gpu.product", "NVIDIA-L4");
        ok.tolerations.push(tol("nvidia.com/gpu", "Exists"));
        let hits = evaluate(&pipeline(vec![a, b, ok]), &LintConfig::default());
        assert_eq!(
            hits.iter().map(|h| h.task.as_str()).collect::<Vec<_>>(),
            vec!["a", "b"]
        );
    }
}
