//! The output formats, named once: `Format::name` and `FromStr` are the only mapping between a
//! format and its name (`-o`, `--report FORMAT=PATH`, messages).

use super::{render_json, render_table, TableOptions};
use std::str::FromStr;

/// Output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Junit,
    /// Markdown for CI step summaries.
    Markdown,
    /// Prometheus text exposition (node-exporter's textfile collector, a Pushgateway).
    Prometheus,
    /// One self-contained HTML file (with trends over `--history`).
    Html,
    /// SARIF 2.1.0, for code-scanning tools (made for `kfcheck lint`).
    Sarif,
}

impl Format {
    /// Every format, in the order help texts list them.
    pub const ALL: [Format; 7] = [
        Format::Table,
        Format::Json,
        Format::Junit,
        Format::Markdown,
        Format::Prometheus,
        Format::Html,
        Format::Sarif,
    ];

    /// The name on the command line (`-o json`, `--report junit=PATH`) and in messages.
    pub fn name(self) -> &'static str {
        match self {
            Format::Table => "table",
            Format::Json => "json",
            Format::Junit => "junit",
            Format::Markdown => "markdown",
            Format::Prometheus => "prometheus",
            Format::Html => "html",
            Format::Sarif => "sarif",
        }
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                format!("unknown report format '{s}' (expected table, json, junit, markdown, prometheus, html or sarif)")
            })
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
        Format::Junit => super::junit::render_junit_with(report, exit, table.junit_per_file),
        Format::Markdown => super::markdown::render_markdown(report, exit),
        Format::Prometheus => super::prometheus::render_prometheus(report, exit),
        Format::Html => super::html::render_html(
            report,
            exit,
            &super::html::history_docs(table.history.as_deref()),
        ),
        Format::Sarif => super::sarif::render_sarif(report, exit),
    }
}

#[cfg(test)]
mod tests {
    use super::Format;

    #[test]
    fn every_name_parses_back_and_unknown_names_list_the_known_ones() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
        }
        assert_eq!(
            "xml".parse::<Format>(),
            Err(
                "unknown report format 'xml' (expected table, json, junit, markdown, prometheus, html or sarif)"
                    .to_string()
            )
        );
    }
}
