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
    /// 3: nothing failed, but something errored or timed out, or every selected check was
    /// skipped: could not decide.
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
    } else if has(Status::Errored) || has(Status::TimedOut) || all_skipped {
        // Every selected check skipped proves nothing: never "ready".
        ExitStatus::Undecided
    } else {
        ExitStatus::Ready
    }
}
