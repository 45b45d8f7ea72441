//! Live progress on stderr while checks run, only when stderr is a terminal.

use super::{ReportError, Reporter};
use crate::model::{Event, ExitStatus, RunReport};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(enabled: bool) -> Progress {
        if !enabled {
            return Progress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} [{pos}/{len}] {wide_msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(120));
        Progress { bar: Some(bar) }
    }
}

impl Reporter for Progress {
    fn on_event(&mut self, e: &Event) {
        let Some(bar) = &self.bar else { return };
        match e {
            Event::Planned { total } => bar.set_length(*total as u64),
            Event::Started { id } => bar.set_message(format!("running {id}")),
            Event::Finished { result } => {
                bar.inc(1);
                bar.set_message(format!("{} {}", result.id, result.status));
            }
        }
    }

    /// Clears the bar: the report follows on stdout.
    fn finish(&mut self, _: &RunReport, _: ExitStatus, _: &mut String) -> Result<(), ReportError> {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        Ok(())
    }
}
