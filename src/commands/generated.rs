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

/// The man page (roff): kfcheck(1), or `kfcheck-<page>(1)` for a subcommand, the pages
/// kfcheck(1) lists under SUBCOMMANDS.
pub(crate) fn man(page: Option<&str>) -> AppOutput {
    let mut cli = Cli::command();
    cli.build();
    let cmd = match page {
        None => cli,
        Some(name) => {
            let Some(sub) = cli.find_subcommand(name).filter(|s| s.get_name() != "help") else {
                let names: Vec<&str> = cli
                    .get_subcommands()
                    .map(|s| s.get_name())
                    .filter(|n| *n != "help")
                    .collect();
                return AppOutput::usage(format!(
                    "no subcommand '{name}' (pages: {})",
                    names.join(", ")
                ));
            };
            // A page is rendered once per process: its name may live as long as the process.
            let title: &'static str =
                Box::leak(format!("kfcheck-{}", sub.get_name()).into_boxed_str());
            sub.clone()
                .name(title)
                .display_name(title)
                .bin_name(format!("kfcheck {name}"))
        }
    };
    let mut buf = Vec::new();
    if let Err(e) = clap_mangen::Man::new(cmd).render(&mut buf) {
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
