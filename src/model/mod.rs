//! Pure data shared by every layer: statuses, severities, findings, check results and the run
//! report. Nothing here does I/O; reporters and kinds both depend on these types.

mod check_error;
mod exit;
mod finding;
pub mod owned;
mod result;
mod sweep;

pub use check_error::{CheckError, Outcome};
pub use exit::{exit_code_for, not_run, verdict_reason, ExitStatus};
pub use finding::{Evidence, Finding, Problem, Severity, Subject};
pub use result::{CheckResult, NeedState, RunReport, Status, Summary};
pub use sweep::SweepReport;
