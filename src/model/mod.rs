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

/// Whether schema/report.schema.json allows `figures` as a check's figures (unit tests of the
/// kinds and reports that keep figures).
#[cfg(test)]
pub(crate) fn figures_schema_allows(figures: &serde_json::Value) -> bool {
    let report: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/report.schema.json")).unwrap();
    let schema = serde_json::json!({"$schema": report["$schema"], "$defs": report["$defs"],
        "$ref": "#/$defs/check/properties/figures"});
    jsonschema::validator_for(&schema)
        .unwrap()
        .is_valid(figures)
}
