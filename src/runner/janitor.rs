//! Cleanup actions registered by checks *before* they create anything, run by the runner after
//! the check ends however it ended (passed, errored, timed out, panicked, interrupted).

use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Action = Box<dyn FnOnce() -> BoxFuture<'static, Result<String, String>> + Send>;
/// Pending actions per check id: (description, action).
type Pending = BTreeMap<String, Vec<(String, Action)>>;

/// Shared store of pending cleanup actions, keyed by check id.
#[derive(Default, Clone)]
pub struct Janitor {
    pending: Arc<Mutex<Pending>>,
}

/// What a check gets: registers actions under its own id.
#[derive(Clone)]
pub struct JanitorHandle {
    janitor: Janitor,
    check_id: String,
}

impl JanitorHandle {
    /// Registers `action` (described as `what`, e.g. "delete pod team-a/kfcheck-gpu-probe-x").
    /// It returns `Ok(note)` or `Err(reason)`.
    pub fn register<F>(&self, what: impl Into<String>, action: F)
    where
        F: FnOnce() -> BoxFuture<'static, Result<String, String>> + Send + 'static,
    {
        let mut pending = self.janitor.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending.entry(self.check_id.clone()).or_default().push((what.into(), Box::new(action)));
    }
}

/// Result of one cleanup pass: notes for what was removed, failures to report.
#[derive(Debug, Default)]
pub struct CleanupReport {
    pub done: Vec<String>,
    pub failed: Vec<String>,
}

const ACTION_TIMEOUT: Duration = Duration::from_secs(60);

impl Janitor {
    pub fn handle(&self, check_id: &str) -> JanitorHandle {
        JanitorHandle { janitor: self.clone(), check_id: check_id.to_string() }
    }

    /// Runs (and forgets) every action registered by `check_id`, newest first.
    pub async fn run_for(&self, check_id: &str) -> CleanupReport {
        let actions = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.remove(check_id).unwrap_or_default()
        };
        let mut report = CleanupReport::default();
        for (what, action) in actions.into_iter().rev() {
            // Each action runs in its own task so a panicking cleanup cannot take the runner down.
            let task = tokio::spawn(action());
            match tokio::time::timeout(ACTION_TIMEOUT, task).await {
                Ok(Ok(Ok(note))) => report.done.push(format!("cleanup: {note}")),
                Ok(Ok(Err(e))) => report.failed.push(format!("cleanup failed: {what}: {e}")),
                Ok(Err(e)) => report.failed.push(format!("cleanup failed: {what}: {e}")),
                Err(_) => report.failed.push(format!("cleanup failed: {what}: timed out after {}s", ACTION_TIMEOUT.as_secs())),
            }
        }
        report
    }

    /// Ids with actions still pending (should be empty after a run).
    pub fn pending_ids(&self) -> Vec<String> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner()).keys().cloned().collect()
    }
}
