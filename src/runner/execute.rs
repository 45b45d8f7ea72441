//! The run loop (JoinSet + semaphore + cancellation token, in the style of nextest).

use crate::context::{Need, NeedError, Needs};
use crate::janitor::Janitor;
use crate::kinds::{CheckContext, CheckError, Outcome};
use crate::model::{CheckResult, Event, NeedState, Problem, Status, Subject};
use crate::suite::CheckSpec;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

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

/// About thirty years from now: later than any run, early enough for every clock.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86400 * 365 * 30)
}

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

fn result(
    spec: &CheckSpec,
    status: Status,
    reason: Option<String>,
    elapsed: Duration,
) -> CheckResult {
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
        suppressed: Vec::new(),
        figures: None,
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
    on_event(&Event::Planned {
        total: checks.len(),
    });
    let stop = Arc::new(AtomicU8::new(RUNNING));
    // `--timeout` can be any duration a user types (18446744073709551615s): past what the clock
    // can hold, there is no deadline to speak of.
    let deadline = Instant::now()
        .checked_add(opts.deadline)
        .unwrap_or_else(far_future);
    let limit = opts.deadline;

    // Needs: each distinct one resolved once, concurrently.
    let mut wanted: BTreeMap<Need, Vec<String>> = BTreeMap::new();
    for c in &checks {
        for n in c.needs() {
            wanted.entry(n).or_default().push(c.id.clone());
        }
    }
    let resolved: HashMap<Need, Result<String, NeedError>> = futures::future::join_all(
        wanted.keys().map(|n| {
            let (needs, cancel) = (needs.clone(), cancel.clone());
            // The deadline and Ctrl-C cover need resolution too: a KFP endpoint that accepts
            // connections and never answers must not hold the run past `--timeout`.
            async move {
                let resolved = tokio::select! {
                    r = needs.resolve(*n) => r,
                    _ = tokio::time::sleep_until(deadline.into()) => Err(NeedError::Broken(format!(
                        "not ready before the run deadline of {}", humantime::format_duration(limit)
                    ))),
                    _ = cancel.cancelled() => Err(NeedError::Broken("interrupted while connecting".into())),
                };
                (*n, resolved)
            }
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
                state: match r {
                    Ok(_) => "available",
                    Err(NeedError::Missing(_)) => "missing",
                    Err(NeedError::Broken(_)) => "broken",
                }
                .to_string(),
                detail: match r {
                    Ok(d) => d.clone(),
                    Err(e) => e.reason().to_string(),
                },
                checks: ids.clone(),
            }
        })
        .collect();

    let mut results = Vec::new();
    let semaphore = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let mut set = JoinSet::new();
    let mut task_ids: HashMap<tokio::task::Id, Arc<CheckSpec>> = HashMap::new();
    for spec in checks {
        let unavailable: Vec<(&NeedError, String)> = spec
            .needs()
            .iter()
            .filter_map(|n| {
                resolved[n]
                    .as_ref()
                    .err()
                    .map(|e| (e, format!("needs {}: {}", n.name(), e.reason())))
            })
            .collect();
        if !unavailable.is_empty() {
            // Broken (configured but not working) cannot decide; missing (not configured) skips.
            let broken = unavailable
                .iter()
                .any(|(e, _)| matches!(e, NeedError::Broken(_)));
            let status = if broken {
                Status::Errored
            } else {
                Status::Skipped
            };
            let why: Vec<String> = unavailable.into_iter().map(|(_, w)| w).collect();
            let r = result(&spec, status, Some(why.join("; ")), Duration::ZERO);
            on_event(&Event::Finished {
                result: Box::new(r.clone()),
            });
            results.push(r);
            continue;
        }
        let spec = Arc::new(spec);
        let cx = CheckContext::new(
            Arc::new(spec.view()),
            needs.clone(),
            janitor.handle(&spec.id),
            cancel.child_token(),
            run_id.clone(),
        );
        let fut = one_check(
            spec.clone(),
            cx,
            semaphore.clone(),
            janitor.clone(),
            stop.clone(),
            on_event.clone(),
        );
        let handle = set.spawn(fut);
        task_ids.insert(handle.id(), spec);
    }

    let mut deadline_hit = false;
    loop {
        tokio::select! {
            next = set.join_next_with_id() => match next {
                None => break,
                Some(Ok((_, r))) => { on_event(&Event::Finished { result: Box::new(r.clone()) }); results.push(r) }
                Some(Err(e)) => {
                    // The wrapper itself failed: a kfcheck bug, never silently dropped.
                    if let Some(spec) = task_ids.get(&e.id()) {
                        let msg = format!("kfcheck bug: check runner failed: {}", panic_message(e));
                        let r = result(spec, Status::Errored, Some(msg), Duration::ZERO);
                        on_event(&Event::Finished { result: Box::new(r.clone()) });
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
    // The checks may all have ended on the cancellation before the loop above took its branch:
    // a cancelled run is interrupted whichever branch the select happened to pick.
    if cancel.is_cancelled() {
        let _ = stop.compare_exchange(RUNNING, INTERRUPTED, Ordering::SeqCst, Ordering::SeqCst);
    }
    results.sort_by(|a, b| a.id.cmp(&b.id));
    let reason = match stop.load(Ordering::SeqCst) {
        DEADLINE => StopReason::Deadline,
        INTERRUPTED => StopReason::Interrupted,
        _ => StopReason::Completed,
    };
    (results, need_states, reason)
}

/// Severity is resolved here, once, for every kind with registered rules: the check's
/// `severity:` for the rules that fail a check, else the rule's default. A finding whose rule
/// the kind did not register is a kfcheck bug, reported as a problem (never dropped).
fn resolve_severities(spec: &CheckSpec, o: &mut Outcome) {
    let rules = spec.kind.meta().rules;
    if rules.is_empty() {
        return;
    }
    for f in &mut o.findings {
        match rules.iter().find(|r| r.id == f.rule) {
            Some(rule) => f.severity = rule.severity(spec.severity_override),
            None => o.problems.push(Problem {
                subject: Subject::new("check", spec.id.clone()),
                message: format!(
                    "kfcheck bug: finding rule {} is not registered by kind {}",
                    f.rule,
                    spec.kind.meta().name
                ),
            }),
        }
    }
}

async fn one_check(
    spec: Arc<CheckSpec>,
    cx: CheckContext,
    semaphore: Arc<Semaphore>,
    janitor: Janitor,
    stop: Arc<AtomicU8>,
    on_event: Arc<dyn Fn(&Event) + Send + Sync>,
) -> CheckResult {
    let cancel = cx.cancel.clone();
    let stopped_reason = |stop: &AtomicU8| match stop.load(Ordering::SeqCst) {
        DEADLINE => (
            Status::TimedOut,
            "run deadline reached before the check finished".to_string(),
        ),
        _ => (
            Status::Errored,
            "interrupted before the check finished".to_string(),
        ),
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
    on_event(&Event::Started {
        id: spec.id.clone(),
    });
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
        Ok(Ok(mut o)) => {
            resolve_severities(&spec, &mut o);
            let mut r = result(
                &spec,
                Status::from_outcome(&o.findings, &o.problems),
                None,
                started.elapsed(),
            );
            r.findings = o.findings;
            r.problems = o.problems;
            r.notes = o.notes;
            r.suppressed = o.suppressed;
            r.figures = o.figures;
            if r.status == Status::Errored {
                r.reason = Some(format!("could not decide {} item(s)", r.problems.len()));
            }
            r
        }
        Ok(Err(crate::kinds::CheckError::NotApplicable(why))) => {
            result(&spec, Status::Skipped, Some(why), started.elapsed())
        }
        Ok(Err(e)) => result(
            &spec,
            Status::Errored,
            Some(e.to_string()),
            started.elapsed(),
        ),
        Err((status, why)) => result(&spec, status, Some(why), started.elapsed()),
    };
    // Cleanup runs whatever happened above.
    let cleanup = janitor.run_for(&spec.id).await;
    r.notes.extend(cleanup.done);
    for failure in cleanup.failed {
        r.problems.push(Problem {
            subject: Subject::new("cleanup", spec.id.clone()),
            message: failure,
        });
        if matches!(r.status, Status::Passed | Status::Warned) {
            r.status = Status::Errored;
            r.reason = Some("cleanup failed".into());
        }
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assets::SuiteBase;
    use crate::context::Settings;
    use crate::kinds::{CheckError, Effect, Kind, KindMeta, Outcome};
    use crate::model::{Evidence, Finding, Severity};
    use futures::future::BoxFuture;
    use std::sync::atomic::AtomicUsize;

    /// Test kinds: each behaviour the runner must survive.
    struct Behave;
    static CLEANUPS: AtomicUsize = AtomicUsize::new(0);

    static META: KindMeta = KindMeta {
        name: "behave",
        needs: &[],
        effect: Effect::CreatesResources,
        creates: &[crate::model::owned::Created::PluginDefined],
        rules: &[],
        default_timeout: Duration::from_secs(5),
        what: "test",
        why: "test",
        fix: "test.",
        params: &[],
    };
    static NEEDS_KUBE: KindMeta = KindMeta {
        name: "needs-kube",
        needs: &[Need::Kube],
        ..META
    };

    static RULED: KindMeta = KindMeta {
        name: "ruled",
        rules: &[
            crate::model::FindingRule {
                id: "broken",
                default_severity: Severity::Error,
                summary: "s",
                fix: "f.",
            },
            crate::model::FindingRule {
                id: "odd",
                default_severity: Severity::Warning,
                summary: "s",
                fix: "f.",
            },
        ],
        ..META
    };

    struct Ruled;
    impl Kind for Ruled {
        fn meta(&self) -> &'static KindMeta {
            &RULED
        }
        fn validate(&self, _: &serde_json::Value, _: &SuiteBase) -> Result<(), String> {
            Ok(())
        }
        fn run(&'static self, _: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
            Box::pin(async { Ok(Outcome::default()) })
        }
    }

    #[test]
    fn severity_is_resolved_centrally_from_the_rule_and_the_check() {
        let finding = |rule: &str, severity| Finding {
            rule: rule.into(),
            severity,
            message: "m".into(),
            subject: crate::model::Subject::new("x", "y"),
            evidence: Vec::new(),
            remediation: "Fix it.".into(),
            owner: None,
        };
        let outcome = || Outcome {
            // What the kind chose does not matter: the runner decides.
            findings: vec![
                finding("broken", Severity::Info),
                finding("odd", Severity::Error),
                finding("stray", Severity::Error),
            ],
            ..Outcome::default()
        };
        let mut c = spec("c", "", Duration::from_secs(1));
        c.kind = &Ruled;
        let mut o = outcome();
        resolve_severities(&c, &mut o);
        let got: Vec<Severity> = o.findings.iter().map(|f| f.severity).collect();
        assert_eq!(
            got[..2],
            [Severity::Error, Severity::Warning],
            "rule defaults"
        );
        assert_eq!(o.problems.len(), 1, "an unregistered rule is a kfcheck bug");
        assert!(
            o.problems[0]
                .message
                .contains("finding rule stray is not registered"),
            "{:?}",
            o.problems
        );
        c.severity_override = Some(Severity::Warning);
        let mut o = outcome();
        resolve_severities(&c, &mut o);
        assert_eq!(
            o.findings[0].severity,
            Severity::Warning,
            "the check's severity replaces an error rule's"
        );
        assert_eq!(
            o.findings[1].severity,
            Severity::Warning,
            "a warning rule keeps its own"
        );
        c.severity_override = Some(Severity::Info);
        let mut o = outcome();
        resolve_severities(&c, &mut o);
        assert_eq!(
            (o.findings[0].severity, o.findings[1].severity),
            (Severity::Info, Severity::Warning)
        );
    }

    struct NeedsKube;
    impl Kind for NeedsKube {
        fn meta(&self) -> &'static KindMeta {
            &NEEDS_KUBE
        }
        fn validate(&self, _: &serde_json::Value, _: &SuiteBase) -> Result<(), String> {
            Ok(())
        }
        fn run(&'static self, _: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
            Box::pin(async { panic!("must not run without its need") })
        }
    }

    impl Kind for Behave {
        fn meta(&self) -> &'static KindMeta {
            &META
        }
        fn validate(&self, _: &serde_json::Value, _: &SuiteBase) -> Result<(), String> {
            Ok(())
        }
        fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
            Box::pin(async move {
                cx.janitor.register("count cleanup", || {
                    Box::pin(async {
                        CLEANUPS.fetch_add(1, Ordering::SeqCst);
                        Ok("counted".to_string())
                    })
                });
                match cx.spec.params["do"].as_str().unwrap_or("") {
                    "panic" => panic!("boom"),
                    "sleep" => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        Ok(Outcome::default())
                    }
                    "error" => Err(CheckError::Forbidden(
                        "list pods in namespace team-a".into(),
                    )),
                    "nothing" => Err(CheckError::NotApplicable("no profiles to check".into())),
                    "fail" => Ok(Outcome {
                        findings: vec![Finding {
                            rule: "r".into(),
                            severity: Severity::Error,
                            message: "m".into(),
                            subject: crate::model::Subject::new("x", "y"),
                            evidence: vec![Evidence::new("k", "v")],
                            remediation: "Fix it.".into(),
                            owner: None,
                        }],
                        ..Outcome::default()
                    }),
                    _ => Ok(Outcome::default()),
                }
            })
        }
    }

    fn spec(id: &str, what: &str, timeout: Duration) -> CheckSpec {
        CheckSpec {
            id: id.into(),
            kind: &Behave,
            title: id.into(),
            category: "test".into(),
            also_in: Vec::new(),
            severity: Severity::Error,
            severity_override: None,
            timeout,
            enabled: true,
            description: None,
            params: serde_json::json!({ "do": what }),
            base: SuiteBase::Embedded,
            origin: "test".into(),
        }
    }

    async fn run(
        checks: Vec<CheckSpec>,
        deadline: Duration,
        cancel: CancellationToken,
    ) -> (Vec<CheckResult>, Vec<NeedState>, StopReason, Janitor) {
        let janitor = Janitor::default();
        let needs = Arc::new(Needs::new(Settings::default()));
        let (r, n, s) = run_checks(
            checks,
            needs,
            janitor.clone(),
            RunOptions {
                concurrency: 2,
                deadline,
            },
            cancel,
            "test-run".into(),
            Arc::new(|_: &Event| {}),
        )
        .await;
        (r, n, s, janitor)
    }

    #[tokio::test]
    async fn every_ending_is_reported_and_cleaned_up() {
        let before = CLEANUPS.load(Ordering::SeqCst);
        let checks = vec![
            spec("e-sleep", "sleep", Duration::from_millis(200)),
            spec("a-pass", "pass", Duration::from_secs(5)),
            spec("d-panic", "panic", Duration::from_secs(5)),
            spec("c-error", "error", Duration::from_secs(5)),
            spec("f-nothing", "nothing", Duration::from_secs(5)),
            spec("b-fail", "fail", Duration::from_secs(5)),
        ];
        let (results, _, stop, janitor) =
            run(checks, Duration::from_secs(30), CancellationToken::new()).await;
        assert_eq!(stop, StopReason::Completed);
        let got: Vec<(&str, Status)> = results.iter().map(|r| (r.id.as_str(), r.status)).collect();
        assert_eq!(
            got,
            vec![
                ("a-pass", Status::Passed),
                ("b-fail", Status::Failed),
                ("c-error", Status::Errored),
                ("d-panic", Status::Errored),
                ("e-sleep", Status::TimedOut),
                ("f-nothing", Status::Skipped),
            ]
        );
        assert_eq!(results[5].reason.as_deref(), Some("no profiles to check"));
        assert!(results[2]
            .reason
            .as_deref()
            .unwrap()
            .starts_with("kfcheck lacks permission to list pods"));
        assert!(results[3]
            .reason
            .as_deref()
            .unwrap()
            .contains("kfcheck bug: the check panicked: boom"));
        assert!(results[4]
            .reason
            .as_deref()
            .unwrap()
            .contains("timed out after 200ms"));
        // Cleanup ran once per check, whatever happened, and nothing is left pending.
        assert!(CLEANUPS.load(Ordering::SeqCst) - before >= 6);
        assert!(results
            .iter()
            .all(|r| r.notes.iter().any(|n| n == "cleanup: counted")));
        assert!(janitor.pending_ids().is_empty());
    }

    #[tokio::test]
    async fn global_deadline_times_out_running_checks() {
        let checks = vec![
            spec("slow", "sleep", Duration::from_secs(60)),
            spec("quick", "pass", Duration::from_secs(60)),
        ];
        let (results, _, stop, janitor) =
            run(checks, Duration::from_millis(300), CancellationToken::new()).await;
        assert_eq!(stop, StopReason::Deadline);
        let slow = results.iter().find(|r| r.id == "slow").unwrap();
        assert_eq!(slow.status, Status::TimedOut);
        assert!(slow.reason.as_deref().unwrap().contains("run deadline"));
        assert!(slow.notes.iter().any(|n| n == "cleanup: counted"));
        assert!(janitor.pending_ids().is_empty());
    }

    #[tokio::test]
    async fn cancellation_interrupts_and_still_cleans_up() {
        let cancel = CancellationToken::new();
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            c.cancel();
        });
        let checks = vec![
            spec("a", "sleep", Duration::from_secs(60)),
            spec("b", "sleep", Duration::from_secs(60)),
            spec("c", "sleep", Duration::from_secs(60)),
        ];
        let (results, _, stop, janitor) = run(checks, Duration::from_secs(60), cancel).await;
        assert_eq!(stop, StopReason::Interrupted);
        assert_eq!(results.len(), 3);
        // Two were running (concurrency 2) and cleaned up; the third never started.
        assert_eq!(
            results
                .iter()
                .filter(|r| r.notes.iter().any(|n| n == "cleanup: counted"))
                .count(),
            2
        );
        assert_eq!(
            results
                .iter()
                .filter(|r| r.status == Status::Skipped)
                .count(),
            1
        );
        assert!(janitor.pending_ids().is_empty());
    }

    #[tokio::test]
    async fn broken_need_errors_its_checks() {
        let mut a = spec("k1", "pass", Duration::from_secs(5));
        a.kind = &NeedsKube;
        let needs = Arc::new(Needs::new(Settings {
            kubeconfig: Some("/nonexistent/kubeconfig".into()),
            ..Settings::default()
        }));
        let (results, states, _) = run_checks(
            vec![a],
            needs,
            Janitor::default(),
            RunOptions {
                concurrency: 1,
                deadline: Duration::from_secs(10),
            },
            CancellationToken::new(),
            "t".into(),
            Arc::new(|_: &Event| {}),
        )
        .await;
        assert_eq!(results[0].status, Status::Errored);
        assert_eq!(states[0].state, "broken");
        assert!(results[0]
            .reason
            .as_deref()
            .unwrap()
            .contains("kubeconfig /nonexistent/kubeconfig does not exist"));
    }

    #[tokio::test]
    async fn missing_need_is_resolved_once_and_skips_its_checks() {
        let mut a = spec("k1", "pass", Duration::from_secs(5));
        a.kind = &NeedsKube;
        let mut b = a.clone();
        b.id = "k2".into();
        let (results, needs, _, _) = run(
            vec![a, b, spec("other", "pass", Duration::from_secs(5))],
            Duration::from_secs(30),
            CancellationToken::new(),
        )
        .await;
        assert_eq!(needs.len(), 1);
        assert!(!needs[0].available);
        assert_eq!(needs[0].checks, vec!["k1", "k2"]);
        for r in results.iter().filter(|r| r.id.starts_with('k')) {
            assert_eq!(r.status, Status::Skipped);
            assert!(
                r.reason
                    .as_deref()
                    .unwrap()
                    .starts_with("needs kube: no kubeconfig found"),
                "{:?}",
                r.reason
            );
        }
        assert_eq!(
            results.iter().find(|r| r.id == "other").unwrap().status,
            Status::Passed
        );
    }
}
