//! Why a check (or a door working for one) could not decide: a leaf that every layer from the
//! context up can return.

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
