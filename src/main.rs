//! Thin binary: parse the command line, run, print, exit.

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match kfcheck::cli::Cli::try_parse() {
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
