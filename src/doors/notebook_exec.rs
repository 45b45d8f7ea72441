//! A notebook run cell by cell in one kernel, as a notebook server runs it: each code cell sent
//! with its history kept (so the execution count is the kernel's), its outputs collected in
//! nbformat's shape (streams merged, results and displays with every MIME type, display
//! updates and `clear_output` honoured, errors), capped per cell, redacted; markdown and raw
//! cells are left as they are. A cell past its deadline (its own, or the whole run's) is
//! interrupted and the run stops there; a failing cell stops it unless told to keep going; a
//! dying kernel or a lost server stops it as "could not decide". What ran and how long each cell
//! took is returned beside the executed notebook.

use super::notebook_file::{cell_type, first_line, NotebookDoc};
use crate::clients::jupyter::{JupyterClient, JupyterError};
use crate::clients::redact::redact;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// Output kept from one cell (text and encoded images together); beyond it, a note.
pub const MAX_CELL_OUTPUT_BYTES: usize = 512 << 10;
/// Traceback lines kept in the report (the output notebook keeps the whole traceback).
pub const REPORT_TRACEBACK_LINES: usize = 12;

/// How a notebook run is bounded.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub cell_timeout: Duration,
    pub run_timeout: Duration,
    /// Run the later cells after a failing one (papermill's `--keep-going`... not papermill's:
    /// nbclient's `allow_errors`).
    pub keep_going: bool,
}

/// What became of one cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CellStatus {
    Ok,
    /// The cell raised (or the kernel refused it).
    Failed,
    /// Past its deadline: interrupted.
    TimedOut,
    /// Ctrl-C (or a cancelled check): interrupted.
    Interrupted,
    KernelDied,
    /// kfcheck lost the server or its channels.
    Errored,
    /// A code cell after the run stopped.
    NotRun,
    /// Markdown or raw: nothing to run.
    Skipped,
}

impl CellStatus {
    pub fn name(self) -> &'static str {
        match self {
            CellStatus::Ok => "ok",
            CellStatus::Failed => "failed",
            CellStatus::TimedOut => "timed-out",
            CellStatus::Interrupted => "interrupted",
            CellStatus::KernelDied => "kernel-died",
            CellStatus::Errored => "errored",
            CellStatus::NotRun => "not-run",
            CellStatus::Skipped => "skipped",
        }
    }
}

/// The exception a cell raised, for the report: redacted, the traceback's colours taken out
/// and its tail kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellError {
    pub ename: String,
    pub evalue: String,
    pub traceback: Vec<String>,
}

/// One cell of the run.
#[derive(Debug, Clone)]
pub struct CellReport {
    /// Index in the input notebook; `None` for the injected parameters cell.
    pub index: Option<usize>,
    /// Index in the output notebook.
    pub out_index: usize,
    pub cell_type: String,
    pub id: Option<String>,
    pub status: CellStatus,
    pub duration: Option<Duration>,
    pub execution_count: Option<u64>,
    pub first_line: String,
    pub error: Option<CellError>,
    /// Why the cell stopped, when that needs words (a deadline, `input()`, a dead kernel).
    pub note: Option<String>,
    pub truncated: bool,
}

/// How the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// Every code cell ran (with `keep_going`, some may have failed).
    Completed,
    /// A cell failed and the run stopped there.
    CellFailed,
    /// A cell passed its deadline (`run_deadline`: the whole run's).
    TimedOut {
        run_deadline: bool,
    },
    KernelDied(String),
    /// The server or its channels failed.
    Lost(String),
    Interrupted,
}

/// Strips ANSI colour sequences (IPython colours its tracebacks).
pub fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Collects one cell's outputs in nbformat's shape from the kernel's messages.
#[derive(Default)]
struct Outputs {
    list: Vec<Value>,
    /// `display_id` of each output, when it has one.
    ids: Vec<Option<String>>,
    clear_pending: bool,
    bytes: usize,
    truncated: bool,
    execution_count: Option<u64>,
}

/// Bytes an output adds (its strings).
fn size_of(v: &Value) -> usize {
    match v {
        Value::String(s) => s.len(),
        Value::Array(a) => a.iter().map(size_of).sum(),
        Value::Object(o) => o.values().map(size_of).sum(),
        _ => 8,
    }
}

impl Outputs {
    fn push(&mut self, out: Value, display_id: Option<String>) {
        if self.clear_pending {
            self.list.clear();
            self.ids.clear();
            self.clear_pending = false;
        }
        // Consecutive text on one stream is one output, as a notebook shows it.
        let same_stream = out["output_type"] == "stream"
            && self
                .list
                .last()
                .is_some_and(|l| l["output_type"] == "stream" && l["name"] == out["name"]);
        if same_stream {
            let add = out["text"].as_str().unwrap_or_default();
            if self.room(add.len()) {
                if let Some(last) = self.list.last_mut() {
                    let joined = format!("{}{add}", last["text"].as_str().unwrap_or_default());
                    last["text"] = Value::String(joined);
                }
            }
            return;
        }
        if !self.room(size_of(&out)) {
            return;
        }
        self.list.push(out);
        self.ids.push(display_id);
    }

    fn room(&mut self, n: usize) -> bool {
        if self.bytes + n > MAX_CELL_OUTPUT_BYTES {
            self.truncated = true;
            return false;
        }
        self.bytes += n;
        true
    }

    fn observe(&mut self, msg_type: &str, c: &Value) {
        let count = c.get("execution_count").and_then(Value::as_u64);
        let display_id = c
            .pointer("/transient/display_id")
            .and_then(Value::as_str)
            .map(String::from);
        let data = || c.get("data").cloned().unwrap_or_else(|| json!({}));
        let metadata = || c.get("metadata").cloned().unwrap_or_else(|| json!({}));
        match msg_type {
            "execute_input" | "execute_reply" if count.is_some() => {
                self.execution_count = count;
            }
            "stream" => self.push(
                json!({
                    "output_type": "stream",
                    "name": c.get("name").and_then(Value::as_str).unwrap_or("stdout"),
                    "text": c.get("text").and_then(Value::as_str).unwrap_or_default(),
                }),
                None,
            ),
            "execute_result" => {
                if count.is_some() {
                    self.execution_count = count;
                }
                self.push(
                    json!({
                        "output_type": "execute_result",
                        "execution_count": count.or(self.execution_count),
                        "data": data(),
                        "metadata": metadata(),
                    }),
                    display_id,
                )
            }
            "display_data" => self.push(
                json!({"output_type": "display_data", "data": data(), "metadata": metadata()}),
                display_id,
            ),
            "update_display_data" => {
                let Some(id) = display_id else { return };
                for (out, oid) in self.list.iter_mut().zip(&self.ids) {
                    if oid.as_deref() == Some(id.as_str()) {
                        out["data"] = data();
                        out["metadata"] = metadata();
                    }
                }
            }
            "error" => self.push(
                json!({
                    "output_type": "error",
                    "ename": c.get("ename").and_then(Value::as_str).unwrap_or_default(),
                    "evalue": c.get("evalue").and_then(Value::as_str).unwrap_or_default(),
                    "traceback": c.get("traceback").cloned().filter(Value::is_array).unwrap_or_else(|| json!([])),
                }),
                None,
            ),
            "clear_output" => {
                if c.get("wait").and_then(Value::as_bool) == Some(true) {
                    self.clear_pending = true;
                } else {
                    self.list.clear();
                    self.ids.clear();
                }
            }
            _ => {}
        }
    }

    /// The outputs as the notebook keeps them: secrets in text redacted, a note when cut.
    fn finish(mut self) -> Vec<Value> {
        for out in &mut self.list {
            redact_texts(out);
        }
        if self.truncated {
            self.list.push(json!({
                "output_type": "stream",
                "name": "stderr",
                "text": format!("[kfcheck: this cell's output was cut at {} KiB]\n", MAX_CELL_OUTPUT_BYTES >> 10),
            }));
        }
        self.list
    }
}

/// Redacts the text of an output: stream text, text MIME types, error value and traceback.
fn redact_texts(out: &mut Value) {
    fn text(v: &mut Value) {
        match v {
            Value::String(s) => *s = redact(s),
            Value::Array(a) => a.iter_mut().for_each(text),
            _ => {}
        }
    }
    for key in ["text", "evalue", "traceback"] {
        if let Some(v) = out.get_mut(key) {
            text(v);
        }
    }
    if let Some(Value::Object(data)) = out.get_mut("data") {
        for (mime, v) in data.iter_mut() {
            if mime.starts_with("text/") {
                text(v);
            }
        }
    }
}

/// Runs the code cells of `nb` in kernel `kernel`, in order, writing outputs and execution
/// counts into `nb`; `origin` maps each cell to its index in the input notebook.
pub async fn run_cells(
    client: &JupyterClient,
    kernel: &str,
    nb: &mut NotebookDoc,
    origin: &[Option<usize>],
    limits: Limits,
    cancel: &CancellationToken,
) -> (Vec<CellReport>, RunEnd) {
    let started = Instant::now();
    let mut reports = Vec::new();
    let mut end: Option<RunEnd> = None;
    let mut any_failed = false;
    for i in 0..nb.cells().len() {
        let cell = nb.cells()[i].clone();
        let kind = cell_type(&cell).to_string();
        let mut r = CellReport {
            index: origin.get(i).copied().flatten(),
            out_index: i,
            cell_type: kind.clone(),
            id: cell.get("id").and_then(Value::as_str).map(String::from),
            status: CellStatus::Skipped,
            duration: None,
            execution_count: None,
            first_line: first_line(&cell),
            error: None,
            note: None,
            truncated: false,
        };
        if kind != "code" {
            reports.push(r);
            continue;
        }
        // Outputs are replaced: a cell that does not run has none.
        if let Some(c) = nb.cell_mut(i) {
            c["outputs"] = json!([]);
            c["execution_count"] = Value::Null;
        }
        if end.is_some() {
            r.status = CellStatus::NotRun;
            reports.push(r);
            continue;
        }
        let left = limits.run_timeout.saturating_sub(started.elapsed());
        if left.is_zero() {
            r.status = CellStatus::NotRun;
            r.note = Some("the run's deadline had passed".into());
            end = Some(RunEnd::TimedOut { run_deadline: true });
            reports.push(r);
            continue;
        }
        let run_deadline = left < limits.cell_timeout;
        let deadline = left.min(limits.cell_timeout);
        let code = super::notebook_file::source_of(&cell);
        let mut outs = Outputs::default();
        let t = Instant::now();
        let ran = {
            let mut observe = |t: &str, c: &Value| outs.observe(t, c);
            tokio::select! {
                r = client.execute_observed(kernel, &code, deadline, true, &mut observe) => Some(r),
                _ = cancel.cancelled() => None,
            }
        };
        r.duration = Some(t.elapsed());
        match ran {
            None => {
                // The cell is abandoned: stop the kernel's work too (best effort).
                let _ = client.interrupt(kernel).await;
                r.status = CellStatus::Interrupted;
                r.note = Some("interrupted (Ctrl-C)".into());
                end = Some(RunEnd::Interrupted);
            }
            Some(Err(JupyterError::KernelDied(why))) => {
                r.status = CellStatus::KernelDied;
                r.note = Some(format!("the kernel died while the cell ran: {why}"));
                end = Some(RunEnd::KernelDied(why));
            }
            Some(Err(e)) => {
                r.status = CellStatus::Errored;
                r.note = Some(e.to_string());
                end = Some(RunEnd::Lost(e.to_string()));
            }
            Some(Ok(out)) if out.timed_out => {
                r.status = CellStatus::TimedOut;
                r.note = Some(if run_deadline {
                    format!(
                        "the run's deadline ({}) passed while the cell ran; the kernel was interrupted",
                        humantime::format_duration(limits.run_timeout)
                    )
                } else {
                    format!(
                        "the cell ran past its deadline ({}); the kernel was interrupted",
                        humantime::format_duration(limits.cell_timeout)
                    )
                });
                end = Some(RunEnd::TimedOut { run_deadline });
            }
            Some(Ok(out)) if out.status == "ok" && out.error.is_none() => {
                r.status = CellStatus::Ok;
            }
            Some(Ok(out)) => {
                r.status = CellStatus::Failed;
                any_failed = true;
                if let Some((ename, evalue, tb)) = &out.error {
                    let lines: Vec<String> = tb
                        .iter()
                        .flat_map(|l| plain(l).lines().map(String::from).collect::<Vec<_>>())
                        .collect();
                    let from = lines.len().saturating_sub(REPORT_TRACEBACK_LINES);
                    r.error = Some(CellError {
                        ename: ename.clone(),
                        evalue: plain(evalue),
                        traceback: lines[from..].to_vec(),
                    });
                    if ename == "StdinNotImplementedError" {
                        r.note = Some(
                            "the cell asked for input (input(), getpass()): kfcheck offers the kernel no stdin; pass the value as a parameter instead".into(),
                        );
                    }
                } else {
                    r.note = Some(format!("the kernel answered `{}`", out.status));
                }
                if !limits.keep_going {
                    end = Some(RunEnd::CellFailed);
                }
            }
        }
        r.truncated = outs.truncated;
        let count = outs.execution_count;
        r.execution_count = count;
        let outputs = outs.finish();
        if let Some(c) = nb.cell_mut(i) {
            c["outputs"] = Value::Array(outputs);
            c["execution_count"] = count.map_or(Value::Null, Value::from);
            let mut meta = json!({"status": r.status.name()});
            if let Some(d) = r.duration {
                meta["duration_s"] = json!((d.as_secs_f64() * 1000.0).round() / 1000.0);
            }
            if !c.get("metadata").is_some_and(Value::is_object) {
                c["metadata"] = json!({});
            }
            c["metadata"]["kfcheck"] = meta;
        }
        reports.push(r);
    }
    let end = end.unwrap_or(if any_failed {
        RunEnd::CellFailed
    } else {
        RunEnd::Completed
    });
    (reports, end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outputs_take_nbformats_shape() {
        let mut o = Outputs::default();
        o.observe("execute_input", &json!({"execution_count": 3, "code": "x"}));
        o.observe("stream", &json!({"name": "stdout", "text": "a"}));
        o.observe("stream", &json!({"name": "stdout", "text": "b\n"}));
        o.observe("stream", &json!({"name": "stderr", "text": "w\n"}));
        o.observe(
            "display_data",
            &json!({"data": {"text/plain": "p0"}, "metadata": {}, "transient": {"display_id": "d"}}),
        );
        o.observe(
            "update_display_data",
            &json!({"data": {"text/plain": "p1", "image/png": "iVBOR"}, "metadata": {}, "transient": {"display_id": "d"}}),
        );
        o.observe(
            "execute_result",
            &json!({"execution_count": 3, "data": {"text/plain": "password=hunter2"}, "metadata": {}}),
        );
        let count = o.execution_count;
        let list = o.finish();
        assert_eq!(count, Some(3));
        assert_eq!(list.len(), 4, "{list:?}");
        assert_eq!(
            list[0],
            json!({"output_type": "stream", "name": "stdout", "text": "ab\n"})
        );
        assert_eq!(list[2]["data"]["text/plain"], "p1");
        assert_eq!(list[2]["data"]["image/png"], "iVBOR");
        assert!(!list[2].as_object().unwrap().contains_key("transient"));
        assert_eq!(list[3]["execution_count"], 3);
        assert!(!list[3].to_string().contains("hunter2"));
        let mut c = Outputs::default();
        c.observe("stream", &json!({"name": "stdout", "text": "old"}));
        c.observe("clear_output", &json!({"wait": true}));
        assert_eq!(c.list.len(), 1, "kept until the next output");
        c.observe("stream", &json!({"name": "stdout", "text": "new"}));
        assert_eq!(c.finish()[0]["text"], "new");
    }

    #[test]
    fn a_flood_of_output_is_cut_with_a_note() {
        let mut o = Outputs::default();
        let line = "x".repeat(1000);
        for _ in 0..2000 {
            o.observe("stream", &json!({"name": "stdout", "text": line}));
        }
        assert!(o.truncated);
        let list = o.finish();
        assert!(list[0]["text"].as_str().unwrap().len() <= MAX_CELL_OUTPUT_BYTES);
        assert!(list[1]["text"].as_str().unwrap().contains("cut at 512 KiB"));
    }

    #[test]
    fn colours_come_out_of_tracebacks() {
        assert_eq!(
            plain("\u{1b}[0;31mValueError\u{1b}[0m: bad"),
            "ValueError: bad"
        );
    }
}
