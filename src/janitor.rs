//! Cleanup actions registered by checks *before* they create anything, run by the runner after
//! the check ends however it ended (passed, errored, timed out, panicked, interrupted).

use futures::future::BoxFuture;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

type Action = Box<dyn FnOnce() -> BoxFuture<'static, Result<String, String>> + Send>;
/// Pending actions per check id: (description, action).
type Pending = BTreeMap<String, Vec<(String, Action)>>;

/// Shared store of pending cleanup actions, keyed by check id.
#[derive(Default, Clone)]
pub struct Janitor {
    pending: Arc<Mutex<Pending>>,
    /// Cancelled on the first interrupt: each action has at most `HURRIED_TIMEOUT` from then.
    hurried: CancellationToken,
    /// Cancelled on a second interrupt: actions not finished by then are abandoned and reported.
    abandoned: CancellationToken,
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
        let mut pending = self
            .janitor
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        pending
            .entry(self.check_id.clone())
            .or_default()
            .push((what.into(), Box::new(action)));
    }
}

/// Result of one cleanup pass: notes for what was removed, failures to report.
#[derive(Debug, Default)]
pub struct CleanupReport {
    pub done: Vec<String>,
    pub failed: Vec<String>,
}

const ACTION_TIMEOUT: Duration = Duration::from_secs(60);
/// After an interrupt someone is waiting (a CI job being cancelled, a pod in its grace period):
/// each action still runs, but a hanging endpoint no longer holds the exit for a minute.
const HURRIED_TIMEOUT: Duration = Duration::from_secs(10);

impl Janitor {
    pub fn handle(&self, check_id: &str) -> JanitorHandle {
        JanitorHandle {
            janitor: self.clone(),
            check_id: check_id.to_string(),
        }
    }

    /// The run was interrupted: give each remaining action less time.
    pub fn hurry(&self) {
        self.hurried.cancel();
    }

    /// Interrupted again: stop waiting on cleanup; what is left is reported as not cleaned up.
    pub fn abandon(&self) {
        self.hurry();
        self.abandoned.cancel();
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
            if self.abandoned.is_cancelled() {
                report.failed.push(format!("cleanup abandoned after a second interrupt: {what} (`kfcheck cleanup` removes it)"));
                continue;
            }
            let started = std::time::Instant::now();
            let mut task = tokio::spawn(action());
            // The limit shrinks to HURRIED_TIMEOUT from the moment of an interrupt, even for an
            // action already running.
            let limit = async {
                tokio::select! {
                    _ = tokio::time::sleep(ACTION_TIMEOUT) => {}
                    _ = self.hurried.cancelled() => {
                        tokio::time::sleep(ACTION_TIMEOUT.saturating_sub(started.elapsed()).min(HURRIED_TIMEOUT)).await;
                    }
                }
            };
            let outcome = tokio::select! {
                r = &mut task => Some(r),
                _ = limit => None,
                _ = self.abandoned.cancelled() => {
                    task.abort();
                    report.failed.push(format!("cleanup abandoned after a second interrupt: {what} (`kfcheck cleanup` removes it)"));
                    continue;
                }
            };
            match outcome {
                Some(Ok(Ok(note))) => report.done.push(format!("cleanup: {note}")),
                Some(Ok(Err(e))) => report.failed.push(format!("cleanup failed: {what}: {e}")),
                Some(Err(e)) => report.failed.push(format!("cleanup failed: {what}: {e}")),
                None => {
                    task.abort();
                    report.failed.push(format!(
                        "cleanup failed: {what}: timed out after {}s",
                        started.elapsed().as_secs()
                    ))
                }
            }
        }
        report
    }

    /// Ids with actions still pending (should be empty after a run).
    pub fn pending_ids(&self) -> Vec<String> {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect()
    }
}
