//! Runs selected checks: needs resolved once, concurrency limit, per-check timeouts, a global
//! deadline, panics caught, cancellation (Ctrl-C) that still runs cleanup, results in id order.

mod execute;

pub use crate::janitor::{Janitor, JanitorHandle};
pub use execute::{run_checks, RunOptions, StopReason};
