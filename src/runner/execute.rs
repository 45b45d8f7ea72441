//! The run loop (JoinSet + semaphore + cancellation token, in the style of nextest).

use super::janitor::Janitor;
use crate::context::{Need, Needs};
use crate::kinds::{CheckContext, CheckError, Outcome};
use crate::model::{CheckResult, NeedState, Problem, Status, Subject};
use crate::suite::CheckSpec;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Progress events for reporters (live progress on a terminal).
#[derive(Debug, Clone)]
pub enum Event {
    Planned { total: usize },
    Started { id: String },
    Finished { result: CheckResult },
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub concurrency: usize,
    /// Global deadline for the whole run.
    pub deadline: Duration,
}

/// Why a run stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    Completed,
    Deadline,
    Interrupted,
}

const RUNNING: u8 = 0;
const DEADLINE: u8 = 1;
const INTERRUPTED: u8 = 2;

fn panic_message(e: tokio::task::JoinError) -> String {
    match e.try_into_panic() {
        Ok(p) => p
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| p.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into()),
        Err(e) => e.to_string(),
    }
}

fn result(spec: &CheckSpec, status: Status, reason: Option<String>, elapsed: Duration) -> CheckResult {
    CheckResult {
        id: spec.id.clone(),
        title: spec.title.clone(),
        category: spec.category.clone(),
        kind: spec.kind.meta().name.to_string(),
        status,
        duration_ms: elapsed.as_millis() as u64,
        reason,
        findings: Vec::new(),
        problems: Vec::new(),
        notes: Vec::new(),
    }
}

/// Runs `checks`; `cancel` is triggered by the caller on Ctrl-C. Returns results sorted by id,
/// the state of every need, and why the run stopped.
pub async fn run_checks(
    checks: Vec<CheckSpec>,
    needs: Arc<Needs>,
    janitor: Janitor,
    opts: RunOptions,
    cancel: CancellationToken,
    run_id: Arc<str>,
    on_event: Arc<dyn Fn(&Event) + Send + Sync>,
) -> (Vec<CheckResult>, Vec<NeedState>, StopReason) {
    on_event(&Event::Planned { total: checks.len() });
    let stop = Arc::new(AtomicU8::new(RUNNING));
    let deadline = Instant::now() + opts.deadline;

    // Needs: each distinct one resolved once, concurrently.
    let mut wanted: BTreeMap<Need, Vec<String>> = BTreeMap::new();
    for c in &checks {
        for n in c.kind.meta().needs {
            wanted.entry(*n).or_default().push(c.id.clone());
        }
    }
    let resolved: HashMap<Need, Result<String, String>> = futures::future::join_all(
        wanted.keys().map(|n| {
            let needs = needs.clone();
            async move { (*n, needs.resolve(*n).await) }
        }),
    )
    .await
    .into_iter()
    .collect();
    let need_states = wanted
        .iter()
        .map(|(n, ids)| {
            let r = &resolved[n];
            NeedState {
                name: n.name().to_string(),
                available: r.is_ok(),
                detail: r.clone().unwrap_or_else(|e| e),
                checks: ids.clone(),
            }
        })
        .collect();

    let mut results = Vec::new();
    let semaphore = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let mut set = JoinSet::new();
    let mut task_ids: HashMap<tokio::task::Id, Arc<CheckSpec>> = HashMap::new();
    for spec in checks {
        let missing: Vec<String> = spec
            .kind
            .meta()
            .needs
            .iter()
            .filter_map(|n| resolved[n].as_ref().err().map(|e| format!("needs {}: {e}", n.name())))
            .collect();
        if !missing.is_empty() {
            let r = result(&spec, Status::Skipped, Some(missing.join("; ")), Duration::ZERO);
            on_event(&Event::Finished { result: r.clone() });
            results.push(r);
            continue;
        }
        let spec = Arc::new(spec);
        let cx = CheckContext {
            spec: spec.clone(),
            needs: needs.clone(),
            janitor: janitor.handle(&spec.id),
            cancel: cancel.child_token(),
            run_id: run_id.clone(),
        };
        let fut = one_check(cx, semaphore.clone(), janitor.clone(), stop.clone(), on_event.clone());
        let handle = set.spawn(fut);
        task_ids.insert(handle.id(), spec);
    }

    let mut deadline_hit = false;
    loop {
        tokio::select! {
            next = set.join_next_with_id() => match next {
                None => break,
                Some(Ok((_, r))) => { on_event(&Event::Finished { result: r.clone() }); results.push(r) }
                Some(Err(e)) => {
                    // The wrapper itself failed: a kfcheck bug, never silently dropped.
                    if let Some(spec) = task_ids.get(&e.id()) {
                        let msg = format!("kfcheck bug: check runner failed: {}", panic_message(e));
                        let r = result(spec, Status::Errored, Some(msg), Duration::ZERO);
                        on_event(&Event::Finished { result: r.clone() });
                        results.push(r);
                    }
                }
            },
            _ = tokio::time::sleep_until(deadline.into()), if !deadline_hit => {
                deadline_hit = true;
                let _ = stop.compare_exchange(RUNNING, DEADLINE, Ordering::SeqCst, Ordering::SeqCst);
                cancel.cancel();
            }
            _ = cancel.cancelled(), if stop.load(Ordering::SeqCst) == RUNNING => {
                stop.store(INTERRUPTED, Ordering::SeqCst);
            }
        }
    }
    results.sort_by(|a, b| a.id.cmp(&b.id));
    let reason = match stop.load(Ordering::SeqCst) {
        DEADLINE => StopReason::Deadline,
        INTERRUPTED => StopReason::Interrupted,
        _ => StopReason::Completed,
    };
    (results, need_states, reason)
}

async fn one_check(
    cx: CheckContext,
    semaphore: Arc<Semaphore>,
    janitor: Janitor,
    stop: Arc<AtomicU8>,
    on_event: Arc<dyn Fn(&Event) + Send + Sync>,
) -> CheckResult {
    let spec = cx.spec.clone();
    let cancel = cx.cancel.clone();
    let stopped_reason = |stop: &AtomicU8| match stop.load(Ordering::SeqCst) {
        DEADLINE => (Status::TimedOut, "run deadline reached before the check finished".to_string()),
        _ => (Status::Errored, "interrupted before the check finished".to_string()),
    };
    let _permit = tokio::select! {
        p = semaphore.acquire_owned() => p,
        _ = cancel.cancelled() => {
            let (_, why) = stopped_reason(&stop);
            let why = if why.starts_with("run deadline") { "run deadline reached before the check started" } else { "interrupted before the check started" };
            let status = if stop.load(Ordering::SeqCst) == DEADLINE { Status::TimedOut } else { Status::Skipped };
            return result(&spec, status, Some(why.into()), Duration::ZERO);
        }
    };
    on_event(&Event::Started { id: spec.id.clone() });
    let started = Instant::now();
    let mut inner = tokio::spawn(spec.kind.run(cx));
    let outcome: Result<Result<Outcome, CheckError>, (Status, String)> = tokio::select! {
        r = &mut inner => match r {
            Ok(r) => Ok(r),
            Err(e) if e.is_panic() => Err((Status::Errored, format!("kfcheck bug: the check panicked: {}", panic_message(e)))),
            Err(e) => Err((Status::Errored, format!("kfcheck bug: the check task failed: {e}"))),
        },
        _ = tokio::time::sleep(spec.timeout) => {
            inner.abort();
            Err((Status::TimedOut, format!("check timed out after {}", humantime::format_duration(spec.timeout))))
        }
        _ = cancel.cancelled() => {
            inner.abort();
            Err(stopped_reason(&stop))
        }
    };
    let mut r = match outcome {
        Ok(Ok(o)) => {
            let mut r = result(&spec, Status::from_outcome(&o.findings, &o.problems), None, started.elapsed());
            r.findings = o.findings;
            r.problems = o.problems;
            r.notes = o.notes;
            if r.status == Status::Errored {
                r.reason = Some(format!("could not decide {} item(s)", r.problems.len()));
            }
            r
        }
        Ok(Err(e)) => result(&spec, Status::Errored, Some(e.to_string()), started.elapsed()),
        Err((status, why)) => result(&spec, status, Some(why), started.elapsed()),
    };
    // Cleanup runs whatever happened above.
    let cleanup = janitor.run_for(&spec.id).await;
    r.notes.extend(cleanup.done);
    for failure in cleanup.failed {
        r.problems.push(Problem { subject: Subject::new("cleanup", spec.id.clone()), message: failure });
        if matches!(r.status, Status::Passed | Status::Warned) {
            r.status = Status::Errored;
            r.reason = Some("cleanup failed".into());
        }
    }
    r
}
