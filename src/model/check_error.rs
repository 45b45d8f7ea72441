//! What a check decided ([`Outcome`]), or why it (or a door working for one) could not decide
//! ([`CheckError`]): leaves that every layer from the context up can return.

use super::{Finding, Problem, Suppressed};

/// A check could not run to a decision at all.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    Undecided(String),
    /// A 403 or RBAC denial: reads as "kfcheck lacks permission ...", never as "not ready".
    #[error("kfcheck lacks permission to {0}")]
    Forbidden(String),
    /// There is nothing for this check to look at (no profiles at all, say): skipped, with the
    /// reason; never passed.
    #[error("{0}")]
    NotApplicable(String),
}

/// What a check decided: findings (not ready), problems (could not decide), neutral notes.
#[derive(Debug, Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub problems: Vec<Problem>,
    pub notes: Vec<String>,
    /// Findings a repository config suppressed (they never decide the status).
    pub suppressed: Vec<Suppressed>,
    /// Figures a check measured that reports keep whole (the io-sweep's curve), as
    /// `{"<kind>": {...}}`.
    pub figures: Option<serde_json::Value>,
}
