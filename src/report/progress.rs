//! Live progress on stderr while checks run, only when stderr is a terminal.

use crate::runner::Event;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::sync::Arc;

#[derive(Clone)]
pub struct Progress {
    bar: Option<Arc<ProgressBar>>,
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
        Progress {
            bar: Some(Arc::new(bar)),
        }
    }

    pub fn event(&self, e: &Event) {
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

    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
