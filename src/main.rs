//! Thin binary: parse the command line, run, print, exit.

use clap::{CommandFactory, FromArgMatches};
use std::io::Write;
use std::process::ExitCode;

/// The name usage lines show: `kubectl kfcheck` when kubectl runs it as a plug-in (a binary named
/// `kubectl-kfcheck` on PATH), else `kfcheck`.
fn shown_name() -> &'static str {
    let argv0 = std::env::args_os().next().unwrap_or_default();
    let file = std::path::Path::new(&argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    if file.starts_with("kubectl-") {
        "kubectl kfcheck"
    } else {
        "kfcheck"
    }
}

fn main() -> ExitCode {
    let parsed = kfcheck::cli::Cli::command()
        .bin_name(shown_name())
        .try_get_matches()
        .and_then(|m| kfcheck::cli::Cli::from_arg_matches(&m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let out = kfcheck::run(cli);
    let mut code = out.exit.map(|e| e.code()).unwrap_or(2);
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(out.stdout.as_bytes())
        .and_then(|()| stdout.flush());
    let _ = std::io::stderr().write_all(out.stderr.as_bytes());
    match written {
        // A closed pipe (`kfcheck all | head`) is the reader's choice, not a failure.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        // A report nobody received (a full disk, /dev/full) must not exit as if it were read.
        Err(e) => {
            let _ = writeln!(
                std::io::stderr(),
                "kfcheck: cannot write the report to stdout: {e}"
            );
            if code == 0 {
                code = 2;
            }
        }
        Ok(()) => {}
    }
    ExitCode::from(code)
}
