//! `kfcheck completions SHELL` and `kfcheck man`: text generated from the command-line
//! definition itself.

use crate::cli::Cli;
use crate::model::{AppOutput, ExitStatus};
use clap::CommandFactory;

/// Shell completions for `shell`.
pub(crate) fn completions(shell: clap_complete::Shell) -> AppOutput {
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "kfcheck", &mut buf);
    printed(buf)
}

/// The man page (roff).
pub(crate) fn man() -> AppOutput {
    let mut buf = Vec::new();
    if let Err(e) = clap_mangen::Man::new(Cli::command()).render(&mut buf) {
        return AppOutput::usage(format!("failed to render the man page: {e}"));
    }
    printed(buf)
}

fn printed(buf: Vec<u8>) -> AppOutput {
    AppOutput {
        stdout: String::from_utf8_lossy(&buf).into(),
        exit: Some(ExitStatus::Ready),
        ..Default::default()
    }
}
