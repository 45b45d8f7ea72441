//! Reporters: follow a run through its events and render it when it is over, all through one
//! trait (`Reporter`), so a new output (a streaming format) is one more consumer. They see only
//! `model` types; several can render one run (`-o table` on stdout plus `--report json=PATH
//! --report junit=PATH`, with the live progress bar on a terminal).

mod json;
mod junit;
pub mod progress;
mod reporter;
mod sink;
mod table;

pub use json::{render_json, SCHEMA_VERSION};
pub use junit::render_junit;
pub use progress::Progress;
pub use reporter::{Rendered, ReportError, Reporter};
pub use sink::write_report;
pub use table::{render_table, TableOptions};

use std::str::FromStr;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Junit,
}

impl Format {
    /// Every format, in the order help texts list them.
    pub const ALL: [Format; 3] = [Format::Table, Format::Json, Format::Junit];

    /// The name on the command line (`-o json`, `--report junit=PATH`) and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Junit => "junit",
        }
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("unknown report format '{s}' (expected table, json or junit)"))
    }
}

/// Renders `report` in `format`. `exit` is the exit status the run maps to.
pub fn render(
    format: Format,
    report: &crate::model::RunReport,
    exit: crate::model::ExitStatus,
    table: &TableOptions,
) -> String {
    match format {
        Format::Table => render_table(report, exit, table),
        Format::Json => render_json(report, exit),
        Format::Junit => render_junit(report, exit),
    }
}
