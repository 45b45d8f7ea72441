//! What a run tells its reporters while it goes: the runner emits these, reporters (the live
//! progress bar, a future streaming format) consume them. Pure data, so neither side depends on
//! the other.

use super::CheckResult;

/// Progress events for reporters (live progress on a terminal).
#[derive(Debug, Clone)]
pub enum Event {
    Planned { total: usize },
    Started { id: String },
    Finished { result: Box<CheckResult> },
}
