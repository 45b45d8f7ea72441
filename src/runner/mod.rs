//! Runs selected checks: needs resolved once, concurrency limit, per-check timeouts, a global
//! deadline, panics caught, cancellation (Ctrl-C) that still runs cleanup, results in id order.

mod execute;
mod janitor;

pub use execute::{run_checks, RunOptions, StopReason};
pub use janitor::{Janitor, JanitorHandle};
