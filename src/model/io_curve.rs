//! The io-sweep's throughput curve as reports keep it (the JSON report's `figures.io_sweep`,
//! the table's drawing): one step per concurrency, the knee where adding probes stopped paying,
//! and the limit kfcheck recommends for IO-heavy pods.

use serde::{Deserialize, Serialize};

/// One step of the sweep: `concurrency` probes measuring the same window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IoStep {
    pub concurrency: u32,
    /// Probes that returned a line with figures (of `concurrency`).
    pub probes_measured: u32,
    /// Aggregate throughput over the window, all probes together.
    pub mb_per_s: f64,
    /// What one probe moved on average at this step.
    pub mb_per_s_per_probe: f64,
    /// The slowest probe's p95 request latency.
    pub p95_ms: f64,
    /// Failed or throttled requests over all requests.
    pub error_rate: f64,
    pub throttled_429: u64,
    pub throttled_503: u64,
    /// Of the throttled requests, those the store said were one object's rate limit (GCS).
    pub throttled_per_object: u64,
    pub bytes: u64,
    /// Wall time of the step outside the measured window (probes starting, cleanup).
    pub overhead_ms: u64,
}

/// Why the sweep stopped calling a step an improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum KneeReason {
    /// Adding probes added less than the set fraction of what linear scaling would add.
    Throughput,
    /// p95 latency grew past the set factor of the one-probe step's.
    Latency,
    /// The error or throttle rate passed the set limit.
    Errors,
}

impl KneeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            KneeReason::Throughput => "throughput",
            KneeReason::Latency => "latency",
            KneeReason::Errors => "errors",
        }
    }
}

/// The whole curve and what kfcheck concluded from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IoCurve {
    /// `host`, `container` or `pod`.
    pub from: String,
    /// `s3://bucket` or `gs://bucket`.
    pub bucket: String,
    pub mode: String,
    pub object_bytes: u64,
    pub streams_per_probe: u32,
    pub seconds_per_step: f64,
    pub steps: Vec<IoStep>,
    /// The concurrency of the first step past the knee; `None` when throughput still scaled at
    /// the last step.
    pub knee_at: Option<u32>,
    pub knee_reason: Option<KneeReason>,
    /// The most IO-heavy pods that should run at once (the last step before the knee); `None`
    /// when no knee was found (the store kept scaling up to the largest step).
    pub recommended_limit: Option<u32>,
}
