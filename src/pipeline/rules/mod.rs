//! Lint rules over the task model. The registry is the plain list in [`RULES`]; each rule lives in
//! its own file with its docs and unit tests. Rules never print and never read files.

mod accelerator_selector_mismatch;
mod accelerator_type_invalid;
mod cpu_task_on_gpu_nodes;
mod gpu_count_invalid;
mod gpu_request_limit_mismatch;
mod gpu_without_memory_limit;
mod gpu_without_placement;
mod image_unpinned;
mod limit_below_request;
mod memory_without_unit;
mod placement_ignored;
mod platform_executor_unknown;
mod quantity_unparseable;
mod requests_missing;
mod resources_from_parameters;
mod selector_invalid;
mod toleration_invalid;

use super::model::{Format, Pipeline, Task, Toleration};
use crate::model::{Evidence, Severity};

/// A lint rule: metadata plus a pure evaluate function.
pub struct Rule {
    pub id: &'static str,
    pub default_severity: Severity,
    /// What it checks.
    pub summary: &'static str,
    /// Why it matters: what breaks at run time.
    pub why: &'static str,
    /// How to fix, in general.
    pub fix: &'static str,
    pub evaluate: fn(&Pipeline, &LintConfig) -> Vec<Hit>,
}

/// One rule violation on one task, before severity and owner are attached.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub task: String,
    pub line: Option<u64>,
    pub message: String,
    pub evidence: Vec<Evidence>,
    pub remediation: String,
}

impl Hit {
    pub fn on(task: &Task, message: impl Into<String>, remediation: impl Into<String>) -> Hit {
        Hit {
            task: task.name.clone(),
            line: task.line,
            message: message.into(),
            evidence: Vec::new(),
            remediation: remediation.into(),
        }
    }

    pub fn with(mut self, e: Evidence) -> Hit {
        self.evidence.push(e);
        self
    }
}

/// Rule parameters that a suite may set.
#[derive(Debug, Clone)]
pub struct LintConfig {
    /// Resources every container must request (or limit): `cpu`, `memory`.
    pub require_requests: Vec<String>,
}

impl Default for LintConfig {
    fn default() -> Self {
        LintConfig {
            require_requests: vec!["cpu".into(), "memory".into()],
        }
    }
}

/// Every rule, in id order. Adding a rule = one file + one line here.
pub const RULES: &[&Rule] = &[
    &accelerator_selector_mismatch::RULE,
    &accelerator_type_invalid::RULE,
    &cpu_task_on_gpu_nodes::RULE,
    &gpu_count_invalid::RULE,
    &gpu_request_limit_mismatch::RULE,
    &gpu_without_memory_limit::RULE,
    &gpu_without_placement::RULE,
    &image_unpinned::RULE,
    &limit_below_request::RULE,
    &memory_without_unit::RULE,
    &placement_ignored::RULE,
    &platform_executor_unknown::RULE,
    &quantity_unparseable::RULE,
    &requests_missing::RULE,
    &resources_from_parameters::RULE,
    &selector_invalid::RULE,
    &toleration_invalid::RULE,
];

pub fn find_rule(id: &str) -> Option<&'static Rule> {
    RULES.iter().copied().find(|r| r.id == id)
}

// ---- helpers shared by rules -------------------------------------------------------------

/// GPU vendors kfcheck recognises in resource names, labels and taints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Vendor {
    Nvidia,
    Amd,
    Intel,
}

impl Vendor {
    pub fn name(self) -> &'static str {
        match self {
            Vendor::Nvidia => "nvidia",
            Vendor::Amd => "amd",
            Vendor::Intel => "intel",
        }
    }
}

/// True for extended resources that are GPUs: `nvidia.com/gpu`, `amd.com/gpu`,
/// `nvidia.com/mig-1g.5gb`, `gpu.intel.com/i915`.
pub(crate) fn is_gpu_resource(name: &str) -> bool {
    name.ends_with("/gpu")
        || name.starts_with("nvidia.com/mig-")
        || name.starts_with("gpu.intel.com/")
}

pub(crate) fn resource_vendor(name: &str) -> Option<Vendor> {
    if name.starts_with("nvidia.com/") {
        Some(Vendor::Nvidia)
    } else if name.starts_with("amd.com/") {
        Some(Vendor::Amd)
    } else if name.starts_with("gpu.intel.com/") {
        Some(Vendor::Intel)
    } else {
        None
    }
}

/// Node labels that pin a pod to accelerator nodes.
pub(crate) fn is_accelerator_label(key: &str) -> bool {
    key.starts_with("cloud.google.com/gke-accelerator")
        || key == "cloud.google.com/gke-gpu"
        || key.starts_with("nvidia.com/gpu")
        || key.starts_with("nvidia.com/mig")
        || key.starts_with("amd.com/gpu")
        || key.starts_with("beta.amd.com/gpu")
        || key.starts_with("gpu.intel.com/")
        || key == "k8s.amazonaws.com/accelerator"
        || key == "accelerator"
        || key == "feature.node.kubernetes.io/pci-10de.present"
        || key == "feature.node.kubernetes.io/pci-1002.present"
}

/// The vendor a node label implies, when it implies one.
pub(crate) fn label_vendor(key: &str, value: &str) -> Option<Vendor> {
    let v = value.to_ascii_lowercase();
    if key.starts_with("nvidia.com/") || key == "feature.node.kubernetes.io/pci-10de.present" {
        return Some(Vendor::Nvidia);
    }
    if key.starts_with("amd.com/")
        || key.starts_with("beta.amd.com/")
        || key == "feature.node.kubernetes.io/pci-1002.present"
    {
        return Some(Vendor::Amd);
    }
    if key.starts_with("gpu.intel.com/") {
        return Some(Vendor::Intel);
    }
    if is_accelerator_label(key) {
        if v.contains("nvidia") || v.starts_with("tesla") {
            return Some(Vendor::Nvidia);
        }
        if v.contains("amd")
            || v.contains("radeon")
            || v.contains("instinct")
            || v.starts_with("mi")
        {
            return Some(Vendor::Amd);
        }
        if v.contains("intel") {
            return Some(Vendor::Intel);
        }
    }
    None
}

/// Taint keys GPU node pools carry.
pub(crate) fn toleration_vendor(t: &Toleration) -> Option<Vendor> {
    t.key.as_deref().and_then(resource_vendor).or_else(|| {
        t.key
            .as_deref()
            .filter(|k| k.starts_with("gpu.intel.com"))
            .map(|_| Vendor::Intel)
    })
}

pub(crate) fn is_gpu_toleration(t: &Toleration) -> bool {
    t.dynamic
        || t.key
            .as_deref()
            .is_some_and(|k| is_gpu_resource(k) || k.starts_with("nvidia.com/"))
        || (t.key.is_none() && t.operator.as_deref() == Some("Exists"))
}

pub(crate) fn gpu_resources(task: &Task) -> impl Iterator<Item = &super::model::Extended> {
    task.resources
        .extended
        .iter()
        .filter(|e| is_gpu_resource(&e.name))
}

pub(crate) fn has_accelerator_placement(task: &Task) -> bool {
    task.node_selector
        .iter()
        .any(|(k, _)| is_accelerator_label(k))
        || !task
            .affinity_pins(|r| r.needs_label() && is_accelerator_label(&r.key))
            .is_empty()
}

/// Picks the remediation wording for the SDK that produced the pipeline.
pub(crate) fn per_format(p: &Pipeline, v2: &str, argo: &str, tekton: &str) -> String {
    match p.format {
        // The backend compiles v2 IR into Argo; the author still writes kfp v2 code.
        Format::KfpV2 | Format::KfpV2Argo => v2,
        Format::Argo => argo,
        Format::Tekton => tekton,
    }
    .to_string()
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::super::model::{Extended, Format, Pipeline, Qty, Task, Toleration};

    pub fn pipeline(tasks: Vec<Task>) -> Pipeline {
        Pipeline {
            format: Format::KfpV2,
            name: Some("p".into()),
            sdk_version: None,
            tasks,
            orphan_platform_executors: vec![],
        }
    }

    pub fn task(name: &str) -> Task {
        Task {
            name: name.into(),
            image: Some("python:3.11-slim".into()),
            ..Task::default()
        }
    }

    pub fn q(raw: &str) -> Option<Qty> {
        Some(Qty::new(raw, "f"))
    }

    pub fn gpu(task: &mut Task, name: &str, count: &str) {
        task.resources.extended.push(Extended {
            name: name.into(),
            request: None,
            limit: q(count),
        });
    }

    pub fn tol(key: &str, op: &str) -> Toleration {
        Toleration {
            key: Some(key.into()),
            operator: Some(op.into()),
            value: None,
            effect: Some("NoSchedule".into()),
            dynamic: false,
        }
    }

    pub fn sel(task: &mut Task, k: &str, v: &str) {
        task.node_selector.push((k.into(), v.into()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_ids_unique_sorted_and_documented() {
        let ids: Vec<&str> = RULES.iter().map(|r| r.id).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(
            ids, sorted,
            "rule ids must be unique and listed in id order"
        );
        for r in RULES {
            assert!(
                !r.summary.is_empty() && !r.why.is_empty(),
                "{} needs docs",
                r.id
            );
            assert!(r.fix.ends_with('.'), "{} fix must be a sentence", r.id);
            assert!(
                r.id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{} id style",
                r.id
            );
        }
    }

    #[test]
    fn vendor_helpers() {
        assert!(is_gpu_resource("nvidia.com/gpu"));
        assert!(is_gpu_resource("amd.com/gpu"));
        assert!(is_gpu_resource("nvidia.com/mig-1g.5gb"));
        assert!(!is_gpu_resource("google.com/tpu"));
        assert_eq!(
            label_vendor("cloud.google.com/gke-accelerator", "nvidia-l4"),
            Some(Vendor::Nvidia)
        );
        assert_eq!(
            label_vendor("nvidia.com/gpu.product", "A100"),
            Some(Vendor::Nvidia)
        );
        assert_eq!(label_vendor("kubernetes.io/os", "linux"), None);
    }
}
