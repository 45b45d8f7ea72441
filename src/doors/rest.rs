//! The REST door: what the dashboard does, through the KFP REST API. Creates kfcheck's
//! experiment (and, for the upload path, a pipeline with a second version) and the run, each
//! after registering its removal with the janitor; polls the run with backoff inside the
//! deadline; and tells the run door-neutrally ([`RunResult`]) from its task details.

use super::{Door, DoorContext, RunResult, Sample, StepResult, Submitted};
use crate::clients::kfp::{Created, Experiment, KfpClient, KfpError, Run, RunSource, TaskDetail};
use crate::clients::kfp_spec::RunState;
use crate::context::errors::kfp_error;
use crate::context::kfp::Kfp;
use crate::context::Need;
use crate::model::CheckError;
use futures::future::BoxFuture;
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How the REST door submits a sample.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Submit {
    /// The spec inside the run (`pipeline_spec`).
    #[default]
    Inline,
    /// A multipart upload as a pipeline, a second version through `upload_version`, and a run
    /// of that version: the dashboard's upload path.
    Upload,
}

/// The REST door for one check.
pub struct RestDoor {
    pub kfp: Kfp,
    pub submit: Submit,
    /// Runs seen in a terminal state: their cleanup deletes them without terminating first.
    finished: Arc<Mutex<BTreeSet<String>>>,
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

/// What the REST door creates besides runs (those are terminated first, see `submit_run`).
#[derive(Debug, Clone, Copy)]
enum Removable {
    Experiment,
    /// With all its versions (deleted by cascade).
    Pipeline,
}

/// Registers, before the create, the deletion of what `created` will have seen, and of what a
/// lookup by the unique `name` finds when the create is not sure it saw everything.
fn register_delete(
    cx: &DoorContext<'_>,
    client: &KfpClient,
    what: Removable,
    name: &str,
    ns: Option<String>,
    created: &Created,
) {
    let shown = match what {
        Removable::Experiment => "KFP experiment",
        Removable::Pipeline => "KFP pipeline",
    };
    let (client, n, seen) = (client.clone(), name.to_string(), created.clone());
    cx.janitor
        .register(format!("delete {shown} {name}"), move || {
            Box::pin(async move {
                let found = if !seen.unsure() {
                    None
                } else {
                    Some(match what {
                        Removable::Experiment => {
                            client.list_experiments(ns.as_deref(), &n).await.map(|l| {
                                l.into_iter()
                                    .filter(|e| e.display_name == n)
                                    .map(|e| e.experiment_id)
                                    .collect()
                            })
                        }
                        Removable::Pipeline => {
                            client.list_pipelines(ns.as_deref(), &n).await.map(|l| {
                                l.into_iter()
                                    .filter(|p| p.shown_name() == n)
                                    .map(|p| p.pipeline_id)
                                    .collect()
                            })
                        }
                    })
                };
                let ids = ids_to_delete(&seen, found)?;
                for id in &ids {
                    let deleted = match what {
                        Removable::Experiment => client.delete_experiment(id).await,
                        Removable::Pipeline => client.delete_pipeline(id).await,
                    };
                    match deleted {
                        Ok(()) | Err(KfpError::Status { status: 404, .. }) => {}
                        Err(e) => return Err(format!("{e} (run `kfcheck cleanup`)")),
                    }
                }
                Ok(match (ids.is_empty(), what) {
                    (true, _) => format!("{shown} {n} was never created"),
                    (false, Removable::Experiment) => format!("deleted {shown} {n}"),
                    (false, Removable::Pipeline) => format!("deleted {shown} {n} and its versions"),
                })
            })
        });
}

/// `create experiments in namespace team-a`, for an error message.
fn in_namespace(what: &str, ns: Option<&str>) -> String {
    match ns {
        Some(n) => format!("{what} in namespace {n}"),
        None => what.to_string(),
    }
}

impl RestDoor {
    /// Where experiments and pipelines are created (a profile namespace in multi-user mode).
    fn write_namespace(&self) -> Result<Option<String>, CheckError> {
        Ok(self
            .kfp
            .namespace_for_writes()
            .map_err(CheckError::Undecided)?
            .map(String::from))
    }

    pub fn new(kfp: Kfp, submit: Submit) -> RestDoor {
        RestDoor {
            kfp,
            submit,
            finished: Arc::default(),
        }
    }

    /// Creates kfcheck's experiment, after registering its deletion.
    pub async fn create_experiment(
        &self,
        cx: &DoorContext<'_>,
        name: &str,
    ) -> Result<Experiment, CheckError> {
        let kfp = &self.kfp;
        let ns = self.write_namespace()?;
        let created = Created::default();
        register_delete(
            cx,
            &kfp.client,
            Removable::Experiment,
            name,
            ns.clone(),
            &created,
        );
        let what = in_namespace("create experiments", ns.as_deref());
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
    pub async fn upload_pipeline(
        &self,
        cx: &DoorContext<'_>,
        name: &str,
        yaml: &str,
    ) -> Result<crate::clients::kfp::Pipeline, CheckError> {
        let kfp = &self.kfp;
        let ns = self.write_namespace()?;
        let created = Created::default();
        register_delete(
            cx,
            &kfp.client,
            Removable::Pipeline,
            name,
            ns.clone(),
            &created,
        );
        let what = in_namespace("upload pipelines", ns.as_deref());
        kfp.client
            .upload_pipeline(name, ns.as_deref(), yaml, &created)
            .await
            .map_err(|e| kfp_error(&e, &what))
    }

    /// Submits a run, after registering its termination and deletion.
    pub async fn submit_run(
        &self,
        cx: &DoorContext<'_>,
        name: &str,
        experiment_id: &str,
        source: &RunSource,
        parameters: &serde_json::Map<String, Value>,
    ) -> Result<Run, CheckError> {
        let kfp = &self.kfp;
        let done = self.finished.clone();
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
                        let finished = done.lock().unwrap_or_else(|p| p.into_inner()).remove(id);
                        notes.push(
                            client
                                .terminate_and_delete_run(id, finished)
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

    /// Where the drift check reads the run's pods: the profile namespace in multi-user mode
    /// (the backend launches a run's pods there), else KFP's own namespace; each read bounded by
    /// the door's request timeout.
    pub fn drift_target(&self) -> super::drift::Target {
        let namespace = match (&self.kfp.namespace, self.kfp.multi_user) {
            (Some(ns), true) => ns.clone(),
            _ => super::drift::SINGLE_USER_NAMESPACE.to_string(),
        };
        super::drift::Target {
            namespace,
            limit: self.kfp.client.request_timeout(),
            server: self
                .kfp
                .client
                .health
                .tag_name
                .clone()
                .filter(|t| !t.is_empty()),
        }
    }

    /// Polls a run to a terminal state with [`poll_pause`] between looks, inside `limit`.
    pub async fn wait_for_run(
        &self,
        cx: &DoorContext<'_>,
        run_id: &str,
        limit: Duration,
    ) -> Result<Watched, CheckError> {
        let client = &self.kfp.client;
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
                self.finished
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(run_id.to_string());
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

/// A watched KFP run, door-neutrally. KFP's task details carry neither exit codes nor nodes,
/// and say nothing of GPUs.
pub fn result_of(w: &Watched) -> RunResult {
    let tasks = w
        .run
        .run_details
        .as_ref()
        .map(|d| d.task_details.as_slice())
        .unwrap_or_default();
    RunResult {
        door: "rest",
        run: format!("{} ({})", w.run.display_name, w.run.run_id),
        run_id: w.run.run_id.clone(),
        finished: w.finished,
        state: RunState::parse(w.run.state.as_deref()),
        message: status_message(&w.run.error),
        steps: tasks
            .iter()
            .map(|t| StepResult {
                name: t.display_name.clone(),
                state: RunState::parse(t.state.as_deref()),
                state_text: t.state.clone().unwrap_or_default(),
                leaf: is_leaf(t),
                exit_code: None,
                message: status_message(&t.error),
                pod: Some(t.pod_name.clone()).filter(|p| !p.is_empty()),
                node: None,
            })
            .collect(),
        scheduled: None,
        gpu_seen: None,
        gpu_probe: None,
        waited: w.waited,
        polls: w.polls,
        pods: format!("pipeline/runid={}", w.run.run_id),
        failure: None,
        notes: Vec::new(),
    }
}

impl Door for RestDoor {
    fn name(&self) -> &'static str {
        "rest"
    }

    fn need(&self) -> Need {
        Need::Kfp
    }

    fn submit<'a>(
        &'a self,
        cx: &'a DoorContext<'a>,
        sample: &'a Sample,
    ) -> BoxFuture<'a, Result<Submitted, CheckError>> {
        Box::pin(async move {
            if let Some(why) = self.kfp.v2_unavailable() {
                return Err(CheckError::Undecided(why));
            }
            let name = cx.name.as_str();
            let experiment = self.create_experiment(cx, name).await?;
            let source = match self.submit {
                Submit::Inline => RunSource::Spec(sample.spec.for_run()),
                Submit::Upload => {
                    let yaml = sample.spec.to_yaml().map_err(CheckError::Undecided)?;
                    let pipeline = self.upload_pipeline(cx, name, &yaml).await?;
                    // A second version through `upload_version` (query key `pipelineid`): the run
                    // uses it, so both upload paths are proven.
                    let version = self
                        .kfp
                        .client
                        // Deleted with the pipeline (cascade), so its ids are not kept.
                        .upload_version(
                            &pipeline.pipeline_id,
                            &format!("{name}-v2"),
                            &yaml,
                            &Default::default(),
                        )
                        .await
                        .map_err(|e| kfp_error(&e, "upload pipeline versions"))?;
                    RunSource::Version {
                        pipeline_id: pipeline.pipeline_id,
                        version_id: Some(version.pipeline_version_id),
                    }
                }
            };
            let run = self
                .submit_run(
                    cx,
                    name,
                    &experiment.experiment_id,
                    &source,
                    &sample.parameters,
                )
                .await?;
            Ok(Submitted {
                name: name.to_string(),
                id: run.run_id,
                at: Instant::now(),
            })
        })
    }

    fn wait<'a>(
        &'a self,
        cx: &'a DoorContext<'a>,
        submitted: &'a Submitted,
        deadline: Duration,
    ) -> BoxFuture<'a, Result<RunResult, CheckError>> {
        Box::pin(async move {
            Ok(result_of(
                &self.wait_for_run(cx, &submitted.id, deadline).await?,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doors::verdict;
    use crate::model::{Finding, Severity, Subject};

    /// The verdict on a watched run, through the door-neutral result.
    fn evaluate_run(
        w: &Watched,
        s: Subject,
        sev: Severity,
        what: &str,
    ) -> Result<String, Box<Finding>> {
        verdict(&result_of(w), s, sev, what)
    }

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
}
