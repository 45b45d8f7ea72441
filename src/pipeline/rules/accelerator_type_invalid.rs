//! Accelerator type that is not a valid Kubernetes resource name (Vertex-style `NVIDIA_TESLA_T4`).

use super::{Hit, LintConfig, Rule};
use crate::model::{Evidence, Severity};
use crate::pipeline::model::Pipeline;

pub const RULE: Rule = Rule {
    id: "accelerator-type-invalid",
    default_severity: Severity::Error,
    summary: "An accelerator type or extended resource is not a valid Kubernetes resource name.",
    why: "KFP uses the accelerator type verbatim as the pod's resource name; `NVIDIA_TESLA_T4` or `nvidia-tesla-t4` is rejected by the API server, so the step never starts.",
    fix: "Request the device plugin's resource (nvidia.com/gpu) and select the GPU model with a node selector.",
    evaluate,
};

/// Standard resources that may appear without a domain prefix.
const STANDARD: &[&str] = &["cpu", "memory", "ephemeral-storage", "storage", "pods"];

/// Kubernetes qualified-name rules for resource names: `[prefix/]name`, where extended resources
/// need a DNS-subdomain prefix and the name is at most 63 alphanumeric/`-_.` characters.
pub(crate) fn resource_name_problem(name: &str) -> Option<&'static str> {
    if name.contains("{{") {
        return None;
    }
    let Some((prefix, local)) = name.split_once('/') else {
        return if STANDARD.contains(&name) || name.starts_with("hugepages-") {
            None
        } else {
            Some("extended resources need a domain prefix such as nvidia.com/")
        };
    };
    let dns_ok = !prefix.is_empty()
        && prefix.len() <= 253
        && prefix.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if !dns_ok {
        return Some("the prefix is not a lowercase DNS domain");
    }
    let name_ok = !local.is_empty()
        && local.len() <= 63
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && local.as_bytes()[0].is_ascii_alphanumeric()
        && local.as_bytes()[local.len() - 1].is_ascii_alphanumeric();
    if !name_ok {
        return Some("the name after the prefix is not a valid resource name");
    }
    None
}

fn evaluate(p: &Pipeline, _: &LintConfig) -> Vec<Hit> {
    let mut hits = Vec::new();
    for t in &p.tasks {
        for e in &t.resources.extended {
            let Some(problem) = resource_name_problem(&e.name) else {
                continue;
            };
            let lower = e.name.to_ascii_lowercase().replace('_', "-");
            let remediation = if lower.starts_with("nvidia") || lower.contains("tesla") {
                format!(
                    "Use `nvidia.com/gpu` as the accelerator type and pin the model with a node selector such as cloud.google.com/gke-accelerator={lower}."
                )
            } else {
                RULE.fix.to_string()
            };
            hits.push(
                Hit::on(
                    t,
                    "accelerator type is not a kubernetes resource name",
                    remediation,
                )
                .with(
                    Evidence::new("resource name", e.name.clone())
                        .expected("a domain-prefixed name like nvidia.com/gpu"),
                )
                .with(Evidence::new("problem", problem)),
            );
        }
    }
    hits
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn names() {
        for bad in [
            "NVIDIA_TESLA_T4",
            "nvidia-tesla-t4",
            "T4",
            "Nvidia.com/gpu",
            "nvidia.com/",
            "nvidia.com/-gpu",
        ] {
            assert!(resource_name_problem(bad).is_some(), "{bad}");
        }
        for good in [
            "nvidia.com/gpu",
            "amd.com/gpu",
            "nvidia.com/mig-1g.5gb",
            "google.com/tpu",
            "cpu",
            "hugepages-2Mi",
        ] {
            assert!(resource_name_problem(good).is_none(), "{good}");
        }
    }

    #[test]
    fn fires_with_model_specific_fix() {
        let mut t = task("train");
        gpu(&mut t, "NVIDIA_TESLA_T4", "1");
        let hits = evaluate(&pipeline(vec![t]), &LintConfig::default());
        assert_eq!(hits.len(), 1);
        assert!(hits[0]
            .remediation
            .contains("cloud.google.com/gke-accelerator=nvidia-tesla-t4"));
        let mut ok = task("ok");
        gpu(&mut ok, "nvidia.com/gpu", "1");
        assert!(evaluate(&pipeline(vec![ok]), &LintConfig::default()).is_empty());
    }
}
