//! Check results and the run report that reporters render.

use super::finding::{Finding, Problem, Severity, Suppressed};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Warned,
    Failed,
    Skipped,
    Errored,
    TimedOut,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Warned => "warned",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Errored => "errored",
            Status::TimedOut => "timed_out",
        }
    }

    /// Status implied by a check's findings and undecided items: any error-severity finding fails,
    /// otherwise anything undecided errors, otherwise warnings warn.
    pub fn from_outcome(findings: &[Finding], problems: &[Problem]) -> Status {
        let worst = findings.iter().map(|f| f.severity).max();
        match worst {
            Some(Severity::Error) => Status::Failed,
            _ if !problems.is_empty() => Status::Errored,
            Some(Severity::Warning) => Status::Warned,
            _ => Status::Passed,
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    pub id: String,
    pub title: String,
    pub category: String,
    pub kind: String,
    pub status: Status,
    pub duration_ms: u64,
    /// Why the check was skipped, errored or timed out.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    pub findings: Vec<Finding>,
    pub problems: Vec<Problem>,
    /// Neutral facts worth showing (files inspected, versions seen).
    pub notes: Vec<String>,
    /// Findings that a repository config (`.kfcheck.yaml`) suppressed, each with its reason.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub suppressed: Vec<Suppressed>,
    /// Figures the check measured, kept whole (the io-sweep's curve: `{"io_sweep": ...}`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub figures: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NeedState {
    pub name: String,
    pub available: bool,
    /// `available`, `missing` (not configured: checks skipped) or `broken` (checks errored).
    pub state: String,
    /// How it was resolved, or why it is missing.
    pub detail: String,
    /// Ids of the selected checks that depend on it.
    pub checks: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    pub passed: usize,
    pub warned: usize,
    pub failed: usize,
    pub skipped: usize,
    pub errored: usize,
    pub timed_out: usize,
}

impl Summary {
    pub fn of(results: &[CheckResult]) -> Summary {
        let mut s = Summary::default();
        for r in results {
            match r.status {
                Status::Passed => s.passed += 1,
                Status::Warned => s.warned += 1,
                Status::Failed => s.failed += 1,
                Status::Skipped => s.skipped += 1,
                Status::Errored => s.errored += 1,
                Status::TimedOut => s.timed_out += 1,
            }
        }
        s
    }
}

/// Everything one run produced, in id order.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    pub run_id: String,
    /// Which cluster the run describes; `None` when none was examined.
    pub cluster: Option<ClusterIdentity>,
    pub started_at: String,
    pub duration_ms: u64,
    pub interrupted: bool,
    pub needs: Vec<NeedState>,
    pub results: Vec<CheckResult>,
    /// The selected checks that run kfcheck's samples through a door, for the door matrix.
    pub doors: Vec<DoorRun>,
}

/// The cluster a run describes, as kfcheck reached it: never a credential.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterIdentity {
    /// The kubeconfig context used (`in-cluster` for a pod's service account).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub context: Option<String>,
    /// The API server's URL, without user-info or query.
    pub server: String,
    pub kubernetes_version: String,
    /// The KFP server's version (its healthz `tag_name`), when KFP was reached and said it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kfp_version: Option<String>,
}

impl ClusterIdentity {
    /// One line: `context kind-dev, https://10.0.0.1:6443/, Kubernetes v1.33.1, KFP 2.5.0`.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = &self.context {
            parts.push(format!("context {c}"));
        }
        parts.push(self.server.clone());
        parts.push(format!("Kubernetes {}", self.kubernetes_version));
        if let Some(v) = &self.kfp_version {
            parts.push(format!("KFP {v}"));
        }
        parts.join(", ")
    }
}

/// What a report says of its cluster: the cluster, or that none was examined.
pub fn cluster_line(cluster: Option<&ClusterIdentity>) -> String {
    match cluster {
        Some(c) => c.describe(),
        None => "none examined (no selected check reached a cluster)".into(),
    }
}

/// One selected check that runs kfcheck's sample through `door` in `mode` (the door matrix:
/// `model::matrix`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DoorRun {
    pub check: String,
    pub door: &'static str,
    pub mode: &'static str,
}
