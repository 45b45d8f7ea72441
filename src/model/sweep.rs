//! What `kfcheck cleanup` (and each client's own sweep) found and could not remove.

/// What one sweep did.
#[derive(Debug, Default)]
pub struct SweepReport {
    /// `kind namespace/name`, deleted (or, on a dry run, found).
    pub found: Vec<String>,
    /// What could not be listed or deleted, and why.
    pub failed: Vec<String>,
}
