//! `kfcheck notebook run NB.ipynb [OUT.ipynb]`: turns the flags into a notebook job (papermill's
//! parameter order: files, then YAML, then `-p`, then `-r`, a later value replacing an earlier
//! one), runs it with Ctrl-C handling (the first signal interrupts the cell and cleans up, a
//! second abandons cleanup), runs the janitor (kfcheck's kernel, a local server), and reports
//! each cell as a table or JSON with exit codes as for checks.

use super::shared::settings;
use crate::cli::{Global, NotebookArgs, NotebookRunArgs, NotebookWhat};
use crate::clients::http::Secret;
use crate::clients::redact::redact;
use crate::doors::notebook_exec::{CellReport, CellStatus, Limits, RunEnd};
use crate::doors::notebook_file::{params_from_yaml, resolve_cli, to_json, to_python, ParamValue};
use crate::doors::notebook_job::{run_job, JobError, NotebookJob, NotebookRun};
use crate::doors::notebook_server::ServerChoice;
use crate::janitor::Janitor;
use crate::model::{AppOutput, ExitStatus};
use crate::report::Format;
use serde_json::{json, Value};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The janitor's key for what one notebook run starts.
const CLEANUP_KEY: &str = "notebook-run";
/// The widest source excerpt in a table row.
const SOURCE_WIDTH: usize = 60;

pub(crate) fn notebook(g: &Global, a: &NotebookArgs) -> AppOutput {
    match &a.what {
        NotebookWhat::Run(r) => run(g, r),
    }
}

/// Papermill's order: `-f` files, `-y` YAML, `-p`, `-r`; a name given again keeps its place
/// and takes the later value.
fn parameters(a: &NotebookRunArgs) -> Result<Vec<(String, ParamValue)>, String> {
    let mut all: Vec<(String, ParamValue)> = Vec::new();
    let mut set = |name: String, v: ParamValue| match all.iter_mut().find(|(n, _)| *n == name) {
        Some(slot) => slot.1 = v,
        None => all.push((name, v)),
    };
    for f in &a.files {
        let text = std::fs::read_to_string(f)
            .map_err(|e| format!("-f {}: cannot read it: {e}", f.display()))?;
        for (n, v) in params_from_yaml(&text).map_err(|e| format!("-f {}: {e}", f.display()))? {
            set(n, v);
        }
    }
    for y in &a.yaml {
        for (n, v) in params_from_yaml(y).map_err(|e| format!("-y: {e}"))? {
            set(n, v);
        }
    }
    for pair in a.parameters.chunks(2) {
        if let [n, v] = pair {
            set(n.clone(), resolve_cli(v));
        }
    }
    for pair in a.raw_parameters.chunks(2) {
        if let [n, v] = pair {
            set(n.clone(), ParamValue::Str(v.clone()));
        }
    }
    Ok(all)
}

fn server_choice(g: &Global, a: &NotebookRunArgs) -> Result<ServerChoice, String> {
    let token = a
        .token
        .as_ref()
        .map(|t| t.expose().to_string())
        .filter(|t| !t.is_empty())
        .map(Secret::new);
    if let Some(url) = &a.server {
        return Ok(ServerChoice::Url {
            url: url.clone(),
            token,
        });
    }
    match (&g.namespace, &a.notebook_name) {
        (Some(ns), notebook) => Ok(ServerChoice::Cluster {
            settings: Box::new(settings(g)),
            namespace: ns.clone(),
            notebook: notebook.clone(),
            token,
        }),
        (None, Some(_)) => Err("--notebook NAME needs the profile namespace: -n PROFILE".into()),
        (None, None) => Ok(ServerChoice::Local {
            jupyter: a.jupyter.clone().unwrap_or_else(|| "jupyter".into()),
        }),
    }
}

fn run(g: &Global, a: &NotebookRunArgs) -> AppOutput {
    let params = match parameters(a) {
        Ok(p) => p,
        Err(e) => return AppOutput::usage(e),
    };
    let server = match server_choice(g, a) {
        Ok(s) => s,
        Err(e) => return AppOutput::usage(e),
    };
    let job = NotebookJob {
        input: a.notebook.clone(),
        output: a.out.clone(),
        params,
        server,
        kernel: a.kernel.clone(),
        limits: Limits {
            cell_timeout: a.cell_timeout,
            run_timeout: g.timeout,
            keep_going: a.keep_going,
        },
        request_timeout: Duration::from_secs(30),
    };
    // Malformed input is bad usage before anything starts.
    if let Err(JobError::Usage(e)) = crate::doors::notebook_job::prepare(&job) {
        return AppOutput::usage(e);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return AppOutput::usage(format!("failed to start the async runtime: {e}")),
    };
    let janitor = Janitor::default();
    let (result, cleanup, interrupted) = rt.block_on(async {
        let cancel = CancellationToken::new();
        super::signals::stop_on_signals(cancel.clone(), janitor.clone());
        let result = run_job(&job, &janitor.handle(CLEANUP_KEY), &cancel).await;
        let cleanup = janitor.run_for(CLEANUP_KEY).await;
        (result, cleanup, cancel.is_cancelled())
    });
    let mut out = AppOutput::default();
    let run = match result {
        Ok(run) => run,
        Err(JobError::Usage(e)) => {
            let mut o = AppOutput::usage(e);
            for f in &cleanup.failed {
                o.stderr.push_str(&format!("kfcheck: {f}\n"));
            }
            return o;
        }
        Err(JobError::Undecided(e)) => {
            let exit = if interrupted {
                ExitStatus::Interrupted
            } else {
                ExitStatus::Undecided
            };
            let e = redact(&e);
            if g.output == Format::Json {
                out.stdout = format!(
                    "{:#}\n",
                    json!({"schema_version": 1, "notebook": a.notebook.display().to_string(),
                        "status": exit.verdict(), "exit_code": exit.code(), "error": e,
                        "cleanup": cleanup.done, "cleanup_failed": cleanup.failed})
                );
            }
            out.stderr.push_str(&format!(
                "kfcheck: could not run {}: {e}\n",
                a.notebook.display()
            ));
            for f in &cleanup.failed {
                out.stderr.push_str(&format!("kfcheck: {f}\n"));
            }
            out.exit = Some(exit);
            return out;
        }
    };
    let exit = exit_of(&run);
    let mut notes = run.notes.clone();
    notes.extend(cleanup.done.iter().cloned());
    notes.extend(cleanup.failed.iter().cloned());
    out.stdout = if g.output == Format::Json {
        format!("{:#}\n", to_document(&run, exit, &notes))
    } else {
        table(&run, exit, &notes)
    };
    if let Some(e) = &run.write_error {
        out.stderr.push_str(&format!("kfcheck: {e}\n"));
    }
    for f in &cleanup.failed {
        out.stderr.push_str(&format!("kfcheck: {f}\n"));
    }
    out.exit = Some(exit);
    out
}

/// Exit codes as for checks: a failed cell is 1 (even with later timeouts), what could not be
/// decided is 3.
fn exit_of(run: &NotebookRun) -> ExitStatus {
    if run.end == RunEnd::Interrupted {
        return ExitStatus::Interrupted;
    }
    if run.failed() {
        return ExitStatus::Failed;
    }
    match run.end {
        RunEnd::Completed | RunEnd::CellFailed if run.write_error.is_none() => ExitStatus::Ready,
        _ => ExitStatus::Undecided,
    }
}

/// The cell's number as the report shows it: its index in the input, `+` for the injected one.
fn shown_index(c: &CellReport) -> String {
    c.index.map_or("+".into(), |i| i.to_string())
}

fn excerpt(s: &str) -> String {
    let s = redact(s);
    if s.chars().count() > SOURCE_WIDTH {
        format!("{}…", s.chars().take(SOURCE_WIDTH - 1).collect::<String>())
    } else {
        s
    }
}

fn seconds(d: Option<Duration>) -> String {
    d.map_or(String::new(), |d| format!("{:.2}s", d.as_secs_f64()))
}

fn summary(run: &NotebookRun, exit: ExitStatus) -> String {
    let code: Vec<&CellReport> = run.cells.iter().filter(|c| c.cell_type == "code").collect();
    let ok = code.iter().filter(|c| c.status == CellStatus::Ok).count();
    let took = format!("{:.1}s", run.duration.as_secs_f64());
    let at = run.stopping_cell();
    let place = |c: &CellReport| format!("cell {}", shown_index(c));
    match (exit, at) {
        (ExitStatus::Ready, _) => {
            format!("passed: {ok} of {} code cell(s) ran in {took}", code.len())
        }
        (ExitStatus::Failed, Some(c)) => {
            let failed = code
                .iter()
                .filter(|c| c.status == CellStatus::Failed)
                .count();
            let what = c
                .error
                .as_ref()
                .map(|e| format!("raised {}", e.ename))
                .unwrap_or_else(|| "failed".into());
            format!(
                "failed: {} {what}; {failed} of {} code cell(s) failed, {ok} ran ({took})",
                place(c),
                code.len()
            )
        }
        (ExitStatus::Interrupted, _) => format!("interrupted after {took}"),
        (_, Some(c)) => format!(
            "undecided: {} {} ({took})",
            place(c),
            c.note.as_deref().unwrap_or(c.status.name())
        ),
        (_, None) => format!(
            "undecided: {}",
            run.write_error.as_deref().unwrap_or("the run stopped")
        ),
    }
}

fn table(run: &NotebookRun, exit: ExitStatus, notes: &[String]) -> String {
    let mut s = format!(
        "Notebook {}\n  ran in {}\n  kernel {}\n",
        run.input, run.server, run.kernel
    );
    if !run.params.is_empty() {
        let p: Vec<String> = run
            .params
            .iter()
            .map(|(n, v)| format!("{n} = {}", to_python(v)))
            .collect();
        s.push_str(&format!("  parameters {}\n", redact(&p.join(", "))));
    }
    s.push('\n');
    let rows: Vec<[String; 5]> = run
        .cells
        .iter()
        .map(|c| {
            let mut source = excerpt(&c.first_line);
            if c.index.is_none() {
                source = format!("(injected) {source}");
            }
            [
                shown_index(c),
                c.cell_type.clone(),
                c.status.name().to_string(),
                seconds(c.duration),
                source,
            ]
        })
        .collect();
    let head = ["CELL", "TYPE", "STATUS", "DURATION", "SOURCE"].map(String::from);
    let mut widths = [0usize; 5];
    for r in std::iter::once(&head).chain(&rows) {
        for (w, v) in widths.iter_mut().zip(r) {
            *w = (*w).max(v.chars().count());
        }
    }
    for r in std::iter::once(&head).chain(&rows) {
        let line: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(v, w)| format!("{v:w$}"))
            .collect();
        s.push_str(&format!("  {}\n", line.join("  ").trim_end()));
    }
    if let Some(c) = run.stopping_cell() {
        s.push_str(&format!("\nCell {} {}", shown_index(c), c.status.name()));
        if let Some(e) = &c.error {
            s.push_str(&format!(": {}: {}\n", e.ename, excerpt(&e.evalue)));
            for l in &e.traceback {
                s.push_str(&format!("    {l}\n"));
            }
        } else {
            s.push('\n');
        }
        if let Some(n) = &c.note {
            s.push_str(&format!("  {n}\n"));
        }
    }
    let truncated: Vec<String> = run
        .cells
        .iter()
        .filter(|c| c.truncated)
        .map(shown_index)
        .collect();
    let mut notes = notes.to_vec();
    if !truncated.is_empty() {
        notes.push(format!(
            "the output of cell(s) {} was cut (a note in the output notebook says where)",
            truncated.join(", ")
        ));
    }
    if !notes.is_empty() {
        s.push_str("\nNotes:\n");
        for n in &notes {
            s.push_str(&format!("  - {}\n", redact(n)));
        }
    }
    match (&run.output, &run.write_error) {
        (Some(o), None) => s.push_str(&format!("\nOutput notebook: {o}\n")),
        (Some(_), Some(e)) => s.push_str(&format!("\nOutput notebook NOT written: {e}\n")),
        (None, _) => {}
    }
    s.push_str(&format!("\nResult: {}\n", summary(run, exit)));
    s
}

fn to_document(run: &NotebookRun, exit: ExitStatus, notes: &[String]) -> Value {
    let cell = |c: &CellReport| {
        json!({
            "index": c.index,
            "output_index": c.out_index,
            "injected": c.index.is_none(),
            "cell_type": c.cell_type,
            "id": c.id,
            "status": c.status.name(),
            "duration_ms": c.duration.map(|d| d.as_millis() as u64),
            "execution_count": c.execution_count,
            "first_line": redact(&c.first_line),
            "error": c.error.as_ref().map(|e| json!({"ename": e.ename, "evalue": e.evalue, "traceback": e.traceback})),
            "note": c.note,
            "output_truncated": c.truncated,
        })
    };
    json!({
        "schema_version": 1,
        "notebook": run.input,
        "output": run.output,
        "output_error": run.write_error,
        "server": {"mode": run.mode, "shown": run.server},
        "kernel": run.kernel,
        "parameters": run.params.iter().map(|(n, v)| {
            // A value under a secret-looking name (`password`, `token`) is not shown.
            let shown = format!("{n}={}", to_python(v));
            let v = if redact(&shown) == shown { to_json(v) } else { json!(crate::clients::redact::MASK) };
            (n.clone(), v)
        }).collect::<serde_json::Map<_, _>>(),
        "status": exit.verdict(),
        "exit_code": exit.code(),
        "summary": summary(run, exit),
        "duration_ms": run.duration.as_millis() as u64,
        "stopped_at": run.stopping_cell().map(cell),
        "cells": run.cells.iter().map(cell).collect::<Vec<_>>(),
        "notes": notes.iter().map(|n| redact(n)).collect::<Vec<_>>(),
    })
}
