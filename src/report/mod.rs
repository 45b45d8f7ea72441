//! Reporters: follow a run through its events and render it when it is over, all through one
//! trait (`Reporter`), so a new output (a streaming format) is one more consumer. They see only
//! `model` types; several can render one run (`-o table` on stdout plus `--report json=PATH
//! --report junit=PATH`, with the live progress bar on a terminal).

mod curve;
pub mod diff;
mod format;
pub mod history;
pub mod html;
mod json;
mod junit;
mod markdown;
mod progress;
pub mod prometheus;
mod push;
mod reporter;
pub mod sarif;
mod sink;
mod table;
mod wrap;

pub use format::{render, Format};
pub use json::{render_json, SCHEMA_VERSION};
pub use junit::render_junit;
pub use progress::Progress;
pub use push::Pushed;
pub use reporter::{Rendered, ReportError, Reporter};
pub use sink::write_report;
pub use table::{render_table, TableOptions};
pub use wrap::fit;
