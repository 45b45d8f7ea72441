//! The verdict every probe line carries (`kfcheck probe ...`, and the in-process runs of the
//! same probes that kinds do from the host), and the one way its timings are written.

use super::ExitStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeStatus {
    Passed,
    Failed,
    Errored,
}

impl ProbeStatus {
    pub fn exit(self) -> ExitStatus {
        match self {
            ProbeStatus::Passed => ExitStatus::Ready,
            ProbeStatus::Failed => ExitStatus::Failed,
            ProbeStatus::Errored => ExitStatus::Undecided,
        }
    }
}

/// Milliseconds with one decimal, for JSON.
pub fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 10_000.0).round() / 10.0
}
