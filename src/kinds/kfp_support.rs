//! Shared by the KFP kinds (not a kind itself): creating experiments and runs with their cleanup
//! registered first, waiting for a run with backoff inside a deadline, and the pure evaluation
//! of how a run ended (which task failed, with its state and message).

use super::{kfp_error, CheckContext, CheckError};
use crate::assets::SuiteBase;
use crate::clients::kfp::{Created, Experiment, KfpClient, KfpError, Run, RunSource, TaskDetail};
use crate::clients::kfp_spec::{GpuMode, RunState};
use crate::context::kfp::Kfp;
use crate::model::{Evidence, Finding, Severity, Subject};
use serde::Deserialize;
use serde_json::Value;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// GPU mode as a check writes it: `gpu: {type: nvidia-l4}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GpuParams {
    #[serde(default = "default_resource")]
    pub resource: String,
    #[serde(default = "one")]
    pub count: u32,
    /// Accelerator type for the node selector (`nvidia-l4`, `nvidia-tesla-t4`); none = no selector.
    #[serde(default, rename = "type")]
    pub gpu_type: Option<String>,
    #[serde(default = "default_selector_key")]
    pub node_selector_key: String,
    #[serde(default = "default_resource")]
    pub toleration_key: String,
}

fn default_resource() -> String {
    "nvidia.com/gpu".into()
}
fn one() -> u32 {
    1
}
fn default_selector_key() -> String {
    "cloud.google.com/gke-accelerator".into()
}

impl GpuParams {
    pub fn mode(&self) -> GpuMode {
        GpuMode {
            resource: self.resource.clone(),
            count: self.count,
            node_selector: self
                .gpu_type
                .clone()
                .map(|t| (self.node_selector_key.clone(), t)),
            toleration_key: self.toleration_key.clone(),
        }
    }
}

/// `run_timeout: 5m`.
pub(crate) mod duration {
    use std::time::Duration;
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        crate::units::deserialize_optional_duration(d, |_, e| format!("{e} (e.g. 5m)"))
    }
}

/// How long to wait for a run: the check's `run_timeout`, else its timeout less a margin, so
/// that a run that never finishes is reported (and terminated) by the check rather than cut off.
pub(crate) fn run_deadline(cx: &CheckContext, run_timeout: Option<Duration>) -> Duration {
    let margin = (cx.spec.timeout / 10).clamp(Duration::from_secs(2), Duration::from_secs(30));
    run_timeout
        .unwrap_or_else(|| cx.spec.timeout.saturating_sub(margin))
        .min(cx.spec.timeout.saturating_sub(Duration::from_secs(1)))
}

/// A compiled pipeline named in a check: embedded (`pipelines/x.yaml`), or below the suite
/// directory (falling back to the embedded copy of the same path).
pub(crate) fn load_pipeline(base: &SuiteBase, path: &str) -> Result<(String, String), String> {
    let embedded = || {
        let full = if path.starts_with("checks/") {
            path.to_string()
        } else {
            format!("checks/{}", path.trim_start_matches("./"))
        };
        crate::assets::embedded(&full).map(|t| (full, t.to_string()))
    };
    match base {
        SuiteBase::Embedded => embedded().ok_or_else(|| format!("no embedded pipeline {path}")),
        SuiteBase::Dir(d) => {
            let p = d.join(path);
            match std::fs::read_to_string(&p) {
                Ok(t) => Ok((p.display().to_string(), t)),
                Err(e) => embedded().ok_or_else(|| format!("cannot read {}: {e}", p.display())),
            }
        }
    }
}

/// Runs seen in a terminal state: their cleanup deletes them without asking again.
static FINISHED: Mutex<std::collections::BTreeSet<String>> =
    Mutex::new(std::collections::BTreeSet::new());

fn finished(run_id: &str, mark: bool) -> bool {
    let mut set = FINISHED.lock().unwrap_or_else(|p| p.into_inner());
    if mark {
        set.insert(run_id.to_string())
    } else {
        set.remove(run_id)
    }
}

/// The ids a cleanup deletes: every one the create saw, and those found by the unique name
/// (`found`, looked up only when the create is not sure it saw them all: an answer was lost, or
/// the create never answered).
fn ids_to_delete(
    created: &Created,
    found: Option<Result<Vec<String>, KfpError>>,
) -> Result<Vec<String>, String> {
    let mut ids = created.ids();
    for id in found
        .transpose()
        .map_err(|e| e.to_string())?
        .unwrap_or_default()
    {
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    Ok(ids)
}

/// Creates kfcheck's experiment, after registering its deletion.
pub(crate) async fn create_experiment(
    cx: &CheckContext,
    kfp: &Kfp,
    name: &str,
) -> Result<Experiment, CheckError> {
    let ns = kfp
        .namespace_for_writes()
        .map_err(CheckError::Undecided)?
        .map(String::from);
    let created = Created::default();
    let (client, n, s, seen) = (
        kfp.client.clone(),
        name.to_string(),
        ns.clone(),
        created.clone(),
    );
    cx.janitor
        .register(format!("delete KFP experiment {name}"), move || {
            Box::pin(async move {
                let found = if seen.unsure() {
                    Some(client.list_experiments(s.as_deref(), &n).await.map(|l| {
                        l.into_iter()
                            .filter(|e| e.display_name == n)
                            .map(|e| e.experiment_id)
                            .collect()
                    }))
                } else {
                    None
                };
                let ids = ids_to_delete(&seen, found)?;
                for id in &ids {
                    match client.delete_experiment(id).await {
                        Ok(()) | Err(KfpError::Status { status: 404, .. }) => {}
                        Err(e) => return Err(format!("{e} (run `kfcheck cleanup`)")),
                    }
                }
                Ok(if ids.is_empty() {
                    format!("KFP experiment {n} was never created")
                } else {
                    format!("deleted KFP experiment {n}")
                })
            })
        });
    let what = format!(
        "create experiments{}",
        ns.as_ref()
            .map(|n| format!(" in namespace {n}"))
            .unwrap_or_default()
    );
    kfp.client
        .create_experiment(
            name,
            ns.as_deref(),
            "kfcheck readiness check; deleted when the check ends",
            &created,
        )
        .await
        .map_err(|e| kfp_error(&e, &what))
}

/// Uploads a pipeline (multipart, its first version) in the write namespace, after registering
/// its deletion with all its versions.
pub(crate) async fn upload_pipeline(
    cx: &CheckContext,
    kfp: &Kfp,
    name: &str,
    yaml: &str,
) -> Result<crate::clients::kfp::Pipeline, CheckError> {
    let ns = kfp
        .namespace_for_writes()
        .map_err(CheckError::Undecided)?
        .map(String::from);
    let created = Created::default();
    let (client, n, s, seen) = (
        kfp.client.clone(),
        name.to_string(),
        ns.clone(),
        created.clone(),
    );
    cx.janitor
        .register(format!("delete KFP pipeline {name}"), move || {
            Box::pin(async move {
                let found = if seen.unsure() {
                    Some(client.list_pipelines(s.as_deref(), &n).await.map(|l| {
                        l.into_iter()
                            .filter(|p| p.shown_name() == n)
                            .map(|p| p.pipeline_id)
                            .collect()
                    }))
                } else {
                    None
                };
                let ids = ids_to_delete(&seen, found)?;
                for id in &ids {
                    match client.delete_pipeline(id).await {
                        Ok(()) | Err(KfpError::Status { status: 404, .. }) => {}
                        Err(e) => return Err(format!("{e} (run `kfcheck cleanup`)")),
                    }
                }
                Ok(if ids.is_empty() {
                    format!("KFP pipeline {n} was never created")
                } else {
                    format!("deleted KFP pipeline {n} and its versions")
                })
            })
        });
    let what = format!(
        "upload pipelines{}",
        ns.as_ref()
            .map(|n| format!(" in namespace {n}"))
            .unwrap_or_default()
    );
    kfp.client
        .upload_pipeline(name, ns.as_deref(), yaml, &created)
        .await
        .map_err(|e| kfp_error(&e, &what))
}

/// Submits a run, after registering its termination and deletion.
pub(crate) async fn submit_run(
    cx: &CheckContext,
    kfp: &Kfp,
    name: &str,
    experiment_id: &str,
    source: &RunSource,
    parameters: &serde_json::Map<String, Value>,
) -> Result<Run, CheckError> {
    let created = Created::default();
    let (client, n, exp, ns, seen) = (
        kfp.client.clone(),
        name.to_string(),
        experiment_id.to_string(),
        kfp.namespace.clone(),
        created.clone(),
    );
    cx.janitor
        .register(format!("terminate and delete KFP run {name}"), move || {
            Box::pin(async move {
                let found = if seen.unsure() {
                    Some(
                        client
                            .list_runs(ns.as_deref(), Some(&exp), &n)
                            .await
                            .map(|l| {
                                l.into_iter()
                                    .filter(|r| r.display_name == n)
                                    .map(|r| r.run_id)
                                    .collect()
                            }),
                    )
                } else {
                    None
                };
                let ids = ids_to_delete(&seen, found)?;
                let mut notes = Vec::new();
                for id in &ids {
                    notes.push(
                        client
                            .terminate_and_delete_run(id, finished(id, false))
                            .await
                            .map_err(|e| format!("{e} (run `kfcheck cleanup`)"))?,
                    );
                }
                Ok(if notes.is_empty() {
                    format!("KFP run {n} was never created")
                } else {
                    format!("{} ({n})", notes.join(", "))
                })
            })
        });
    kfp.client
        .create_run(
            name,
            kfp.namespace.as_deref(),
            Some(experiment_id),
            source,
            parameters,
            &created,
        )
        .await
        .map_err(|e| kfp_error(&e, "create runs"))
}

/// The last look at a run: finished, or still going when the deadline came.
#[derive(Debug)]
pub(crate) struct Watched {
    pub run: Run,
    pub finished: bool,
    pub waited: Duration,
    pub polls: u32,
}

/// Polls a run to a terminal state inside `limit`. The pause is a quarter of the time waited so
/// far (at least 0.25s, at most 5s): a finished run is noticed within a quarter of its own
/// duration, and a long run costs one request per 5s.
pub(crate) fn poll_pause(waited: Duration) -> Duration {
    (waited / 4).clamp(Duration::from_millis(250), Duration::from_secs(5))
}

/// Polls a run to a terminal state with [`poll_pause`] between looks, inside `limit`.
pub(crate) async fn wait_for_run(
    cx: &CheckContext,
    client: &KfpClient,
    run_id: &str,
    limit: Duration,
) -> Result<Watched, CheckError> {
    let started = Instant::now();
    let mut polls = 0;
    loop {
        let run = client
            .get_run(run_id)
            .await
            .map_err(|e| kfp_error(&e, &format!("get run {run_id}")))?;
        polls += 1;
        let waited = started.elapsed();
        if RunState::parse(run.state.as_deref()).is_terminal() {
            finished(run_id, true);
            return Ok(Watched {
                run,
                finished: true,
                waited,
                polls,
            });
        }
        if waited >= limit {
            return Ok(Watched {
                run,
                finished: false,
                waited,
                polls,
            });
        }
        let sleep = poll_pause(waited).min(limit - waited);
        tokio::select! {
            _ = cx.cancel.cancelled() => return Err(CheckError::Undecided(format!("interrupted while waiting for KFP run {run_id}"))),
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

/// A server's or task's message, redacted: a failed step's error often quotes its command line
/// or environment, credentials included.
fn status_message(v: &Option<Value>) -> Option<String> {
    v.as_ref()
        .and_then(|e| e.get("message"))
        .and_then(Value::as_str)
        .filter(|m| !m.is_empty())
        .map(crate::clients::redact::redact)
}

fn is_leaf(t: &TaskDetail) -> bool {
    t.child_tasks.as_ref().is_none_or(|c| c.is_empty())
}

/// How a watched run ended, as a finding (not ready) or a note (it worked). Pure.
pub(crate) fn evaluate_run(
    w: &Watched,
    subject: Subject,
    severity: Severity,
    what: &str,
) -> Result<String, Box<Finding>> {
    let state = RunState::parse(w.run.state.as_deref());
    let tasks = w
        .run
        .run_details
        .as_ref()
        .map(|d| d.task_details.as_slice())
        .unwrap_or_default();
    let run_ev = Evidence::new("run", format!("{} ({})", w.run.display_name, w.run.run_id));
    let secs = format!("{:.2}s", w.waited.as_secs_f64());
    if !w.finished {
        let going: Vec<String> = tasks
            .iter()
            .filter(|t| is_leaf(t) && !RunState::parse(t.state.as_deref()).is_terminal())
            .map(|t| {
                format!(
                    "{} {}",
                    t.display_name,
                    RunState::parse(t.state.as_deref()).as_str()
                )
            })
            .collect();
        return Err(Box::new(Finding::new(
            "run-not-finished",
            severity,
            subject,
            format!("{what} did not finish in time"),
            vec![
                Evidence::new("state", state.as_str()).expected("SUCCEEDED"),
                Evidence::new("waited", secs),
                Evidence::new("unfinished tasks", if going.is_empty() { "none started".to_string() } else { going.join(", ") }),
                run_ev,
            ],
            format!("Look at the run's pods (label pipeline/runid={}): a Pending pod usually means no node fits its resources, selector or tolerations; the run was terminated and deleted.", w.run.run_id),
        )));
    }
    match state {
        RunState::Succeeded => Ok(format!(
            "{what}: run {} succeeded in {secs} ({} task(s))",
            w.run.run_id,
            tasks.iter().filter(|t| is_leaf(t)).count()
        )),
        _ => {
            // The failing step: a failed leaf task (a DAG fails because of its children).
            let failed = tasks
                .iter()
                .filter(|t| RunState::parse(t.state.as_deref()) == RunState::Failed)
                .min_by_key(|t| !is_leaf(t));
            let mut ev = vec![Evidence::new("state", state.as_str()).expected("SUCCEEDED")];
            let message = match (state, failed) {
                (RunState::Failed, Some(t)) => {
                    ev.push(Evidence::new("failed task", t.display_name.clone()));
                    ev.push(Evidence::new(
                        "task state",
                        t.state.clone().unwrap_or_default(),
                    ));
                    if let Some(m) = status_message(&t.error) {
                        ev.push(Evidence::new("task message", m));
                    }
                    if !t.pod_name.is_empty() {
                        ev.push(Evidence::new("pod", t.pod_name.clone()));
                    }
                    format!("{what} failed at task {}", t.display_name)
                }
                (RunState::Failed, None) => format!("{what} failed"),
                (RunState::Canceled, _) => format!("{what} was canceled by someone else"),
                _ => format!("{what} ended {}", state.as_str().to_ascii_lowercase()),
            };
            if let Some(m) = status_message(&w.run.error) {
                ev.push(Evidence::new("run message", m));
            }
            ev.push(run_ev);
            Err(Box::new(Finding::new(
                "run-failed",
                severity,
                subject,
                message,
                ev,
                format!("Read the failed step's logs (pod above, or the run's pods labelled pipeline/runid={}) and fix what it reports; resubmit with `kfcheck run` to confirm.", w.run.run_id),
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watched(v: Value, finished: bool) -> Watched {
        Watched {
            run: serde_json::from_value(v).unwrap(),
            finished,
            waited: Duration::from_millis(1500),
            polls: 3,
        }
    }

    #[test]
    fn a_failed_run_names_the_failing_step_with_its_state_and_message() {
        let w = watched(
            serde_json::json!({"run_id": "r1", "display_name": "kfcheck-x", "state": "FAILED", "error": {"code": 2, "message": "run failed"},
                "run_details": {"task_details": [
                    {"task_id": "t0", "display_name": "root", "state": "FAILED", "child_tasks": [{"task_id": "t2"}]},
                    {"task_id": "t1", "display_name": "make-numbers", "state": "SUCCEEDED"},
                    {"task_id": "t2", "display_name": "sum-numbers", "state": "FAILED", "pod_name": "p-2", "error": {"code": 2, "message": "OOMKilled"}}]}}),
            true,
        );
        let f = evaluate_run(
            &w,
            Subject::new("kfp-run", "x"),
            Severity::Error,
            "cpu sample",
        )
        .unwrap_err();
        assert_eq!(f.message, "cpu sample failed at task sum-numbers");
        let ev: Vec<(&str, &str)> = f
            .evidence
            .iter()
            .map(|e| (e.key.as_str(), e.observed.as_str()))
            .collect();
        assert!(
            ev.contains(&("task message", "OOMKilled"))
                && ev.contains(&("pod", "p-2"))
                && ev.contains(&("run message", "run failed")),
            "{ev:?}"
        );
    }

    #[test]
    fn server_and_task_messages_are_redacted() {
        let w = watched(
            serde_json::json!({"run_id": "r1", "display_name": "kfcheck-x", "state": "FAILED", "error": {"message": "auth failed for Bearer CANARY1"},
                "run_details": {"task_details": [
                    {"task_id": "t2", "display_name": "s", "state": "FAILED", "error": {"message": "connect postgres://kf:CANARY2@db/x failed"}}]}}),
            true,
        );
        let f = evaluate_run(
            &w,
            Subject::new("kfp-run", "x"),
            Severity::Error,
            "cpu sample",
        )
        .unwrap_err();
        assert!(
            f.evidence.iter().all(|e| !e.observed.contains("CANARY")),
            "{:?}",
            f.evidence
        );
    }

    #[test]
    fn success_cancel_and_unfinished_runs() {
        let ok = watched(
            serde_json::json!({"run_id": "r", "state": "SUCCEEDED", "run_details": {"task_details": [{"display_name": "a", "state": "SUCCEEDED"}]}}),
            true,
        );
        assert!(
            evaluate_run(&ok, Subject::new("k", "n"), Severity::Error, "s")
                .unwrap()
                .contains("succeeded in 1.50s (1 task(s))")
        );
        let canceled = watched(
            serde_json::json!({"run_id": "r", "state": "CANCELED"}),
            true,
        );
        assert_eq!(
            evaluate_run(&canceled, Subject::new("k", "n"), Severity::Error, "s")
                .unwrap_err()
                .message,
            "s was canceled by someone else"
        );
        let hung = watched(
            serde_json::json!({"run_id": "r", "state": "RUNNING", "run_details": {"task_details": [{"display_name": "probe", "state": "RUNNING"}]}}),
            false,
        );
        let f =
            evaluate_run(&hung, Subject::new("k", "n"), Severity::Error, "gpu sample").unwrap_err();
        assert_eq!(f.rule, "run-not-finished");
        assert!(f.evidence.iter().any(|e| e.observed == "probe RUNNING"));
        // `{}` and a run without details are normal, not errors.
        let bare = watched(serde_json::json!({}), true);
        assert!(evaluate_run(&bare, Subject::new("k", "n"), Severity::Error, "s").is_err());
    }

    #[test]
    fn polling_backs_off_with_the_time_waited() {
        assert_eq!(poll_pause(Duration::ZERO), Duration::from_millis(250));
        assert_eq!(poll_pause(Duration::from_secs(4)), Duration::from_secs(1));
        assert_eq!(poll_pause(Duration::from_secs(600)), Duration::from_secs(5));
    }

    #[test]
    fn gpu_params_default_to_nvidia_with_an_optional_selector() {
        let g: GpuParams =
            serde_json::from_value(serde_json::json!({"type": "nvidia-tesla-t4"})).unwrap();
        let m = g.mode();
        assert_eq!(m.resource, "nvidia.com/gpu");
        assert_eq!(
            m.node_selector,
            Some((
                "cloud.google.com/gke-accelerator".into(),
                "nvidia-tesla-t4".into()
            ))
        );
        assert!(serde_json::from_value::<GpuParams>(serde_json::json!({"typo": 1})).is_err());
    }
}
