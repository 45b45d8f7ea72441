//! Wiring only: a parsed command line goes to its command (`crate::commands`), which returns
//! everything to print; only `main.rs` and the live progress reporter write to the terminal.

use crate::cli::{Cli, Command, Global};
use crate::commands;
use crate::report::Format;
use crate::suite::{Selection, Suite};

pub use crate::model::AppOutput;

/// Entry point for every subcommand.
pub fn run(cli: Cli) -> AppOutput {
    let g = &cli.global;
    if let Some(conflict) = commands::kfp_identity_conflict(&g.kfp) {
        return AppOutput::usage(conflict);
    }
    let (name, formats) = outputs(&cli.command);
    if !formats.contains(&g.output) {
        let names: Vec<&str> = formats.iter().map(|f| f.name()).collect();
        return AppOutput::usage(format!(
            "-o {}: `kfcheck {name}` writes {} only",
            g.output.name(),
            names.join(" or ")
        ));
    }
    match &cli.command {
        Command::Completions { shell } => commands::completions(*shell),
        Command::Man { page } => commands::man(page.as_deref()),
        Command::Probe(args) => commands::probe(args, g.timeout),
        Command::LocalRun(args) => commands::local_run(g, args),
        Command::Parity {
            expected,
            actual,
            workflow,
            run,
            store_endpoint,
            s3_key_dir,
        } => commands::parity(
            g,
            expected,
            actual.as_deref(),
            workflow.as_deref(),
            run.as_deref(),
            crate::local::StoreAccess {
                endpoint: store_endpoint.clone(),
                s3_key_dir: s3_key_dir.clone(),
            },
        ),
        Command::Notebook(args) => commands::notebook(g, args),
        Command::History { dir } => commands::history(g, dir.as_ref()),
        Command::Snapshot { namespaces } => commands::snapshot(g, namespaces),
        Command::Diff {
            old,
            new,
            tolerance,
        } => commands::diff(g, old, new, *tolerance),
        // These load the suite first: a broken `--suite` is a usage error for all of them.
        Command::All => with_suite(g, |s| commands::run(g, s, Selection::All)),
        Command::Run { selection } => with_suite(g, |s| {
            commands::run(g, s, Selection::Words(selection.clone()))
        }),
        Command::List => with_suite(g, |s| commands::list(g.output, s)),
        Command::Explain { name } => with_suite(g, |s| commands::explain(s, name)),
        Command::Lint(args) => with_suite(g, |_| commands::lint(g, args)),
        Command::ApplyCheck { files } => commands::apply_check(g, files),
        Command::Cleanup { dry_run, run_id } => {
            with_suite(g, |_| commands::cleanup(g, *dry_run, run_id.as_deref()))
        }
    }
}

/// What `-o` each subcommand honours; any other is refused, never ignored.
fn outputs(command: &Command) -> (&'static str, &'static [Format]) {
    const TEXT: &[Format] = &[Format::Table];
    match command {
        Command::All => ("all", &Format::ALL),
        Command::Run { .. } => ("run", &Format::ALL),
        Command::Lint(_) => ("lint", &Format::ALL),
        Command::ApplyCheck { .. } => ("apply-check", &Format::ALL),
        Command::List => ("list", &[Format::Table, Format::Json]),
        // The probe's output is its JSON line, whatever the format.
        Command::Probe(_) => ("probe", &[Format::Table, Format::Json]),
        Command::Explain { .. } => ("explain", TEXT),
        Command::Cleanup { .. } => ("cleanup", TEXT),
        Command::LocalRun(_) => ("local-run", TEXT),
        Command::Parity { .. } => ("parity", TEXT),
        Command::Notebook(_) => ("notebook run", &[Format::Table, Format::Json]),
        Command::History { .. } => ("history", &[Format::Table, Format::Json]),
        Command::Snapshot { .. } => ("snapshot", &[Format::Table, Format::Json]),
        Command::Diff { .. } => ("diff", &[Format::Table, Format::Json]),
        Command::Completions { .. } => ("completions", TEXT),
        Command::Man { .. } => ("man", TEXT),
    }
}

fn with_suite(g: &Global, command: impl FnOnce(&Suite) -> AppOutput) -> AppOutput {
    match commands::load_suite(g) {
        Ok(suite) => command(&suite),
        Err(out) => out,
    }
}
