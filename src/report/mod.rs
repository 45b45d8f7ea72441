//! Reporters: render a finished run. They see only `model` types; several can render one run
//! (`-o table` on stdout plus `--report json=PATH --report junit=PATH`).

mod json;
mod junit;
pub mod progress;
mod sink;
mod table;

pub use json::{render_json, SCHEMA_VERSION};
pub use junit::render_junit;
pub use sink::write_report;
pub use table::{render_table, TableOptions};

use std::str::FromStr;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Json,
    Junit,
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "table" => Ok(Format::Table),
            "json" => Ok(Format::Json),
            "junit" => Ok(Format::Junit),
            o => Err(format!(
                "unknown report format '{o}' (expected table, json or junit)"
            )),
        }
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
