//! One notebook run from start to end, shared by `kfcheck notebook run` and the `notebook-run`
//! check kind: read and check the file (nothing started when it is malformed), inject the
//! parameters, reach the server, pick the kernel (the one asked for, else the notebook's own
//! when the server has it, else the server's default), start it (its shutdown registered with
//! the janitor first), run the cells, and write the executed copy atomically. The input file is
//! never written. The caller runs the janitor afterwards, Ctrl-C or not.

use super::notebook_exec::{run_cells, CellReport, CellStatus, Limits, RunEnd};
use super::notebook_file::{python_name, NotebookDoc, ParamValue};
use super::notebook_server::{reach, ServerChoice};
use crate::janitor::JanitorHandle;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What to run, where, and how.
#[derive(Debug, Clone)]
pub struct NotebookJob {
    pub input: PathBuf,
    /// Where to write the executed notebook (none: not written).
    pub output: Option<PathBuf>,
    pub params: Vec<(String, ParamValue)>,
    pub server: ServerChoice,
    /// A kernel by name (default: the notebook's, else the server's default).
    pub kernel: Option<String>,
    pub limits: Limits,
    pub request_timeout: Duration,
}

/// Why a run did not start: the input or the request is wrong (exit 2), or the server could
/// not be used (exit 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobError {
    Usage(String),
    Undecided(String),
}

/// What happened.
#[derive(Debug, Clone)]
pub struct NotebookRun {
    pub input: String,
    pub output: Option<String>,
    pub mode: &'static str,
    pub server: String,
    pub kernel: String,
    pub params: Vec<(String, ParamValue)>,
    pub cells: Vec<CellReport>,
    pub end: RunEnd,
    pub notes: Vec<String>,
    pub duration: Duration,
    /// The executed notebook could not be written.
    pub write_error: Option<String>,
}

impl NotebookRun {
    /// The first cell that failed, timed out, was interrupted or lost its kernel.
    pub fn stopping_cell(&self) -> Option<&CellReport> {
        self.cells.iter().find(|c| {
            !matches!(
                c.status,
                CellStatus::Ok | CellStatus::Skipped | CellStatus::NotRun
            )
        })
    }

    pub fn failed(&self) -> bool {
        self.cells.iter().any(|c| c.status == CellStatus::Failed)
    }
}

/// A notebook ready to run: the document with the parameters in it, each cell's index in the
/// input (`None` for the injected cell), and notes for the report.
pub type Prepared = (NotebookDoc, Vec<Option<usize>>, Vec<String>);

/// Reads the notebook and applies the parameters; every problem is bad usage.
pub fn prepare(job: &NotebookJob) -> Result<Prepared, JobError> {
    let shown = job.input.display().to_string();
    let text = std::fs::read_to_string(&job.input)
        .map_err(|e| JobError::Usage(format!("cannot read {shown}: {e}")))?;
    let mut nb = NotebookDoc::parse(&shown, &text).map_err(|e| JobError::Usage(e.to_string()))?;
    if let Some(out) = &job.output {
        let same = match (job.input.canonicalize(), out.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        };
        if same {
            return Err(JobError::Usage(format!(
                "the output notebook {} is the input: kfcheck never writes the input; name another file",
                out.display()
            )));
        }
    }
    for (name, _) in &job.params {
        if !python_name(name) {
            return Err(JobError::Usage(format!(
                "parameter `{name}` is not a Python name"
            )));
        }
    }
    let mut notes = Vec::new();
    if !job.params.is_empty() {
        if let Some(lang) = nb.language().filter(|l| !l.eq_ignore_ascii_case("python")) {
            return Err(JobError::Usage(format!(
                "{shown} is a {lang} notebook: kfcheck injects parameters in Python syntax only"
            )));
        }
    }
    let (origin, found) = nb.inject(&job.params);
    if found == Some(false) {
        notes.push(
            "no cell is tagged `parameters`: the parameters were injected at the top (tag the cell holding the defaults `parameters` to put them after it)".into(),
        );
    }
    nb.ensure_ids();
    Ok((nb, origin, notes))
}

/// Runs the job; what it starts is registered with `janitor`.
pub async fn run_job(
    job: &NotebookJob,
    janitor: &JanitorHandle,
    cancel: &CancellationToken,
) -> Result<NotebookRun, JobError> {
    let started = Instant::now();
    let (mut nb, origin, mut notes) = prepare(job)?;
    let reached = tokio::select! {
        r = reach(&job.server, janitor, job.request_timeout) => r.map_err(JobError::Undecided)?,
        _ = cancel.cancelled() => return Err(JobError::Undecided("interrupted before the notebook ran".into())),
    };
    let client = reached.client.clone();
    client
        .status()
        .await
        .map_err(|e| JobError::Undecided(format!("{}: {e}", reached.shown)))?;
    let specs = client
        .kernelspecs()
        .await
        .map_err(|e| JobError::Undecided(format!("{}: {e}", reached.shown)))?;
    let has = |n: &str| specs.specs.iter().any(|(s, _)| s == n);
    let names = || {
        specs
            .specs
            .iter()
            .map(|(n, _)| n.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let kernel = match (&job.kernel, nb.kernel_name()) {
        (Some(k), _) if has(k) => Some(k.clone()),
        (Some(k), _) => {
            return Err(JobError::Usage(format!(
                "--kernel {k}: {} has no such kernel (it has {})",
                reached.shown,
                names()
            )))
        }
        (None, Some(k)) if has(k) => Some(k.to_string()),
        (None, Some(k)) => {
            notes.push(format!(
                "the notebook's kernel `{k}` is not on the server (it has {}): ran in the server's default",
                names()
            ));
            None
        }
        (None, None) => None,
    };
    // Registered before the kernel exists: kfcheck's kernel, and only it, is shut down.
    let (c, forward) = (client.clone(), reached.forward.clone());
    janitor.register("shut down kfcheck's kernel", move || {
        Box::pin(async move {
            let _open = forward;
            let started = c.started();
            match c.shutdown_all().await.first() {
                None if started.is_empty() => Ok("no kernel was started".into()),
                None => Ok(format!("shut down kernel {}", started.join(", "))),
                Some((id, e)) => Err(format!("kernel {id}: {e}")),
            }
        })
    });
    let k = client.start_kernel(kernel.as_deref()).await.map_err(|e| {
        JobError::Undecided(format!("{} did not start a kernel: {e}", reached.shown))
    })?;
    let (cells, end) = run_cells(&client, &k.id, &mut nb, &origin, job.limits, cancel).await;
    nb.doc["metadata"]["kfcheck"] = serde_json::json!({
        "parameters": job.params.iter().map(|(n, v)| (n.clone(), super::notebook_file::to_json(v))).collect::<serde_json::Map<_, _>>(),
        "input_path": job.input.display().to_string(),
        "kernel": k.name,
        "duration_s": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
    });
    let write_error = job.output.as_ref().and_then(|out| {
        super::notebook_file::write_atomically(out, &nb.to_text())
            .err()
            .map(|e| format!("cannot write {}: {e}", out.display()))
    });
    Ok(NotebookRun {
        input: job.input.display().to_string(),
        output: job.output.as_ref().map(|p| p.display().to_string()),
        mode: reached.mode,
        server: reached.shown.clone(),
        kernel: format!("{} ({})", k.name, k.id),
        params: job.params.clone(),
        cells,
        end,
        notes,
        duration: started.elapsed(),
        write_error,
    })
}
