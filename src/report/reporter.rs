//! The one interface between a run and its outputs, in the style of nextest's and typos'
//! reporters: a reporter hears every run event while the checks run and is finished once with
//! the run's report. The live progress bar and the table, JSON and JUnit renderers are all
//! reporters; the run command drives them only through this trait.

use super::{render, write_report, Format, TableOptions};
use crate::model::{Event, ExitStatus, RunReport};
use std::path::PathBuf;

/// A consumer of one run.
pub trait Reporter: Send {
    /// One event of the run, as it happens (never called concurrently for one reporter).
    fn on_event(&mut self, _event: &Event) {}

    /// The run is over: `report` is its result, `exit` the status it maps to so far. Text meant
    /// for stdout is appended to `stdout` (reporters never print).
    fn finish(
        &mut self,
        report: &RunReport,
        exit: ExitStatus,
        stdout: &mut String,
    ) -> Result<(), ReportError>;
}

/// A report that could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot write {} report to {}: {source}", .format.name(), .path.display())]
    Write {
        format: Format,
        path: PathBuf,
        source: std::io::Error,
    },
    /// `url` is shown without credentials.
    #[error("cannot push metrics to {url}: {why}")]
    Push { url: String, why: String },
}

/// Renders the finished run in one format, onto stdout or into a file (`--report FORMAT=PATH`).
#[derive(Debug, Clone)]
pub struct Rendered {
    format: Format,
    options: TableOptions,
    /// `None`: stdout.
    path: Option<PathBuf>,
}

impl Rendered {
    /// The report printed on stdout (`-o FORMAT`).
    pub fn stdout(format: Format, options: TableOptions) -> Rendered {
        Rendered {
            format,
            options,
            path: None,
        }
    }

    /// A report written to `path`.
    pub fn file(format: Format, path: PathBuf, options: TableOptions) -> Rendered {
        Rendered {
            format,
            options,
            path: Some(path),
        }
    }
}

impl Reporter for Rendered {
    fn finish(
        &mut self,
        report: &RunReport,
        exit: ExitStatus,
        stdout: &mut String,
    ) -> Result<(), ReportError> {
        let text = render(self.format, report, exit, &self.options);
        match &self.path {
            None => {
                stdout.push_str(&text);
                Ok(())
            }
            Some(path) => write_report(path, &text).map_err(|source| ReportError::Write {
                format: self.format,
                path: path.clone(),
                source,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty_run() -> RunReport {
        RunReport {
            cluster: None,
            run_id: "0123456789".into(),
            started_at: "2026-11-29T10:00:00Z".into(),
            duration_ms: 1,
            interrupted: false,
            needs: Vec::new(),
            results: Vec::new(),
            doors: vec![],
        }
    }

    #[test]
    fn stdout_gets_the_rendered_report_and_a_failed_file_says_which_report_and_where() {
        let run = empty_run();
        let exit = ExitStatus::NothingSelected;
        let mut stdout = String::new();
        let mut on_stdout = Rendered::stdout(Format::Json, TableOptions::default());
        on_stdout.on_event(&Event::Planned { total: 0 });
        on_stdout.finish(&run, exit, &mut stdout).unwrap();
        assert_eq!(
            stdout,
            render(Format::Json, &run, exit, &TableOptions::default())
        );

        let dir = tempfile::tempdir().unwrap();
        let mut to_dir = Rendered::file(Format::Junit, dir.path().into(), TableOptions::default());
        let e = to_dir.finish(&run, exit, &mut stdout).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "cannot write junit report to {}: ",
                dir.path().display()
            )),
            "{e}"
        );
        assert_eq!(
            stdout,
            render(Format::Json, &run, exit, &TableOptions::default())
        );
    }
}
