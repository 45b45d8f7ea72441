//! Exit codes: the one place they are defined (documented in the README, stable forever).

use super::result::{RunReport, Status};

/// Process exit statuses of kfcheck.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// 0: every selected check passed (or only warned, without `--fail-on warning`).
    Ready = 0,
    /// 1: at least one check failed.
    Failed = 1,
    /// 2: bad usage, configuration or suite.
    Usage = 2,
    /// 3: nothing failed, but something errored or timed out, every selected check was
    /// skipped, or a selected check needed the cluster and no cluster was configured: could
    /// not decide.
    Undecided = 3,
    /// 4: the selection matched no check.
    NothingSelected = 4,
    /// 130: interrupted (Ctrl-C); cleanup ran.
    Interrupted = 130,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn verdict(self) -> &'static str {
        match self {
            ExitStatus::Ready => "ready",
            ExitStatus::Failed => "not-ready",
            ExitStatus::Usage => "usage-error",
            ExitStatus::Undecided => "undecided",
            ExitStatus::NothingSelected => "nothing-selected",
            ExitStatus::Interrupted => "interrupted",
        }
    }
}

/// The exit status a finished run maps to. `fail_on_warning` turns warnings into failures.
pub fn exit_code_for(report: &RunReport, fail_on_warning: bool) -> ExitStatus {
    if report.interrupted {
        return ExitStatus::Interrupted;
    }
    if report.results.is_empty() {
        return ExitStatus::NothingSelected;
    }
    let has = |s: Status| report.results.iter().any(|r| r.status == s);
    let all_skipped = report.results.iter().all(|r| r.status == Status::Skipped);
    if has(Status::Failed) || (fail_on_warning && has(Status::Warned)) {
        ExitStatus::Failed
    } else if has(Status::Errored)
        || has(Status::TimedOut)
        || all_skipped
        || cluster_not_examined(report)
    {
        // Every selected check skipped proves nothing, and neither does a run that could not
        // reach the cluster its checks are about: never "ready".
        ExitStatus::Undecided
    } else {
        ExitStatus::Ready
    }
}

/// Needs that stand for the cluster itself. A check skipped because one of these is missing
/// examined nothing on the cluster, so a run with such a check can never be "ready": a cron job
/// or CI gate whose kubeconfig vanished must not report a healthy cluster.
const CLUSTER_NEEDS: &[&str] = &["kube"];

/// Selected checks that did not run because a need was missing or broken: (need, state, how
/// many, why), in need order. Checks skipped for a missing need are never proof of anything.
pub fn not_run(report: &RunReport) -> Vec<(&str, &str, usize, &str)> {
    let ran: std::collections::HashSet<&str> = report
        .results
        .iter()
        .filter(|r| r.status != Status::Skipped && r.status != Status::Errored)
        .map(|r| r.id.as_str())
        .collect();
    report
        .needs
        .iter()
        .filter(|n| !n.available)
        .map(|n| {
            let count = n
                .checks
                .iter()
                .filter(|id| !ran.contains(id.as_str()))
                .count();
            (n.name.as_str(), n.state.as_str(), count, n.detail.as_str())
        })
        .filter(|(_, _, count, _)| *count > 0)
        .collect()
}

/// Whether the cluster went unexamined: some selected check needed it and could not reach it
/// because it is not configured at all.
fn cluster_not_examined(report: &RunReport) -> bool {
    report.needs.iter().any(|n| {
        CLUSTER_NEEDS.contains(&n.name.as_str()) && n.state == "missing" && !n.checks.is_empty()
    })
}

/// One sentence next to the verdict: why it is not "ready" when nothing failed, and how many
/// selected checks did not run and why. `None` when every selected check ran.
pub fn verdict_reason(report: &RunReport, exit: ExitStatus) -> Option<String> {
    let missing = not_run(report);
    let mut parts: Vec<String> = Vec::new();
    if exit == ExitStatus::Undecided && cluster_not_examined(report) {
        parts.push("the cluster was not examined".into());
    } else if exit == ExitStatus::Undecided
        && !report.results.is_empty()
        && report.results.iter().all(|r| r.status == Status::Skipped)
    {
        parts.push("every selected check was skipped".into());
    }
    let total = report.results.len();
    for (need, state, count, why) in missing {
        parts.push(format!(
            "{count} of {total} check(s) did not run: {need} {state} ({why})"
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CheckResult, NeedState};

    fn check(id: &str, status: Status) -> CheckResult {
        CheckResult {
            id: id.into(),
            title: id.into(),
            category: "c".into(),
            kind: "k".into(),
            status,
            duration_ms: 0,
            reason: None,
            findings: vec![],
            problems: vec![],
            notes: vec![],
            suppressed: vec![],
            figures: None,
        }
    }

    fn need(name: &str, state: &str, checks: &[&str]) -> NeedState {
        NeedState {
            name: name.into(),
            available: state == "available",
            state: state.into(),
            detail: format!("{name} detail"),
            checks: checks.iter().map(|c| c.to_string()).collect(),
        }
    }

    fn report(results: Vec<CheckResult>, needs: Vec<NeedState>) -> RunReport {
        RunReport {
            cluster: None,
            run_id: "r".into(),
            started_at: "t".into(),
            duration_ms: 0,
            interrupted: false,
            needs,
            results,
            doors: vec![],
        }
    }

    #[test]
    fn a_run_that_could_not_reach_the_cluster_is_never_ready() {
        // One lint check passed, the cluster checks were skipped for want of a kubeconfig.
        let r = report(
            vec![
                check("lint", Status::Passed),
                check("api", Status::Skipped),
                check("crds", Status::Skipped),
            ],
            vec![need("kube", "missing", &["api", "crds"])],
        );
        let exit = exit_code_for(&r, false);
        assert_eq!(exit, ExitStatus::Undecided);
        let why = verdict_reason(&r, exit).unwrap();
        assert_eq!(
            why,
            "the cluster was not examined; 2 of 3 check(s) did not run: kube missing (kube detail)"
        );
    }

    #[test]
    fn a_missing_local_need_is_counted_next_to_the_verdict_but_does_not_block_ready() {
        let r = report(
            vec![
                check("api", Status::Passed),
                check("docker", Status::Skipped),
            ],
            vec![
                need("kube", "available", &["api"]),
                need("docker", "missing", &["docker"]),
            ],
        );
        let exit = exit_code_for(&r, false);
        assert_eq!(exit, ExitStatus::Ready);
        assert_eq!(
            verdict_reason(&r, exit).unwrap(),
            "1 of 2 check(s) did not run: docker missing (docker detail)"
        );
        let all_ran = report(
            vec![check("api", Status::Passed)],
            vec![need("kube", "available", &["api"])],
        );
        assert_eq!(
            verdict_reason(&all_ran, exit_code_for(&all_ran, false)),
            None
        );
    }

    #[test]
    fn failures_still_win_over_an_unexamined_cluster() {
        let r = report(
            vec![check("lint", Status::Failed), check("api", Status::Skipped)],
            vec![need("kube", "missing", &["api"])],
        );
        assert_eq!(exit_code_for(&r, false), ExitStatus::Failed);
    }

    #[test]
    fn a_file_only_run_needs_no_cluster() {
        let r = report(vec![check("lint", Status::Passed)], vec![]);
        assert_eq!(exit_code_for(&r, false), ExitStatus::Ready);
    }
}
