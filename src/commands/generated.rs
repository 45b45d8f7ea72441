//! `kfcheck completions SHELL` and `kfcheck man`: text generated from the command-line
//! definition itself.

use crate::cli::Cli;
use crate::model::{AppOutput, ExitStatus};
use clap::CommandFactory;

/// Shell completions for `shell`. They complete the default suite's check ids and categories
/// (`run`), those and every kind and rule (`explain`) and the lint rules (`lint --rule`): the
/// names are given to the command definition only for generating the script, so parsing still
/// accepts the ids of a `--suite` directory.
pub(crate) fn completions(shell: clap_complete::Shell) -> AppOutput {
    let mut cmd = with_names(Cli::command());
    let mut buf = Vec::new();
    clap_complete::generate(shell, &mut cmd, "kfcheck", &mut buf);
    printed(buf)
}

fn with_names(cmd: clap::Command) -> clap::Command {
    use clap::builder::PossibleValuesParser;
    let suite = crate::suite::load_suite(&[]).unwrap_or_default();
    let mut selection: Vec<String> = suite.checks.iter().map(|c| c.id.clone()).collect();
    selection.extend(suite.checks.iter().map(|c| c.category.clone()));
    selection.extend(suite.checks.iter().flat_map(|c| c.also_in.iter().cloned()));
    selection.sort();
    selection.dedup();
    let mut names = selection.clone();
    names.extend(
        crate::kinds::KINDS
            .iter()
            .map(|k| k.meta().name.to_string()),
    );
    names.extend(
        crate::pipeline::rules::RULES
            .iter()
            .map(|r| r.id.to_string()),
    );
    names.extend(
        crate::kinds::KINDS
            .iter()
            .flat_map(|k| k.meta().rules.iter().map(|r| r.id.to_string())),
    );
    names.extend(
        crate::model::matrix::PATTERNS
            .iter()
            .map(|p| p.id.to_string()),
    );
    names.sort();
    names.dedup();
    let levels: Vec<String> = crate::pipeline::rules::RULES
        .iter()
        .flat_map(|r| ["off", "info", "warning", "error"].map(|l| format!("{}={l}", r.id)))
        .collect();
    // clap keeps names as `&'static str`; this runs once, to print the script, and exits.
    let leaked = |v: Vec<String>| -> Vec<&'static str> {
        v.into_iter()
            .map(|s| &*Box::leak(s.into_boxed_str()))
            .collect()
    };
    let (selection, names, levels) = (leaked(selection), leaked(names), leaked(levels));
    cmd.mut_subcommand("run", |c| {
        c.mut_arg("selection", |a| {
            a.value_parser(PossibleValuesParser::new(selection))
        })
    })
    .mut_subcommand("explain", |c| {
        c.mut_arg("name", |a| a.value_parser(PossibleValuesParser::new(names)))
    })
    .mut_subcommand("lint", |c| {
        c.mut_arg("rules", |a| {
            a.value_parser(PossibleValuesParser::new(levels))
        })
    })
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
