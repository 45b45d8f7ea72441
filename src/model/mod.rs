//! Pure data shared by every layer: statuses, severities, findings, check results, the run
//! report, run events and command output. Nothing here does I/O (a new run id reads only the
//! clock); reporters and kinds both depend on these types.

mod check_error;
mod event;
mod exit;
mod finding;
pub mod io_curve;
pub mod matrix;
mod output;
pub mod owned;
mod probe_line;
mod result;
pub mod run_id;
pub mod snapshot;
mod sweep;

pub use check_error::{CheckError, Outcome};
pub use event::Event;
pub use exit::{exit_code_for, not_run, verdict_reason, ExitStatus};
pub use finding::{
    concat_rules, Evidence, Finding, FindingRule, Problem, Severity, Subject, Suppressed,
};
pub use matrix::DoorMatrix;
pub use output::AppOutput;
pub use probe_line::{ms, ProbeStatus};
pub use result::{
    cluster_line, CheckResult, ClusterIdentity, DoorRun, NeedState, RunReport, Status, Summary,
};
pub use sweep::SweepReport;
