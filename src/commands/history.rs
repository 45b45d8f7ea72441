//! `kfcheck history` (the runs kept by `--history DIR`), `kfcheck diff OLD NEW`, and what a run
//! does with its history: compare itself with `--baseline` before it is reported, and keep its
//! JSON report after.

use crate::cli::Global;
use crate::model::{AppOutput, ExitStatus, RunReport};
use crate::report::diff::{diff as compare, render_json, render_text, ReportDoc};
use crate::report::history::{list, record, resolve, resolve_with, Entry};
use crate::report::Format;
use std::path::PathBuf;

/// `kfcheck history [DIR]`.
pub(crate) fn history(g: &Global, dir: Option<&PathBuf>) -> AppOutput {
    let Some(dir) = dir.or(g.history.as_ref()) else {
        return AppOutput::usage(
            "kfcheck history: which directory? (DIR, --history or KFCHECK_HISTORY)",
        );
    };
    if !dir.is_dir() {
        return AppOutput::usage(format!("{}: no such history directory", dir.display()));
    }
    let (entries, skipped) = match list(dir) {
        Ok(x) => x,
        Err(e) => return AppOutput::usage(e.to_string()),
    };
    let mut out = AppOutput::default();
    for s in skipped {
        out.stderr.push_str(&format!("kfcheck: skipped {s}\n"));
    }
    if g.output == Format::Json {
        let runs: Vec<serde_json::Value> = entries
            .iter()
            .map(|e| {
                let count = |s: &str| e.doc.checks.iter().filter(|c| c.status == s).count();
                serde_json::json!({
                    "file": e.path.display().to_string(), "run_id": e.doc.run_id,
                    "started_at": e.doc.started_at, "verdict": e.doc.verdict,
                    "exit_code": e.doc.exit_code, "duration_ms": e.doc.duration_ms,
                    "checks": e.doc.checks.len(), "failed": count("failed"),
                })
            })
            .collect();
        out.stdout = serde_json::to_string_pretty(&serde_json::json!({ "runs": runs }))
            .unwrap_or_default()
            + "\n";
    } else {
        out.stdout.push_str(&format!(
            "{:<22} {:<11} {:>6} {:>6} {:>6} {:>9}  RUN ID\n",
            "STARTED", "VERDICT", "CHECKS", "FAILED", "OTHER", "DURATION"
        ));
        for e in &entries {
            let failed = e.doc.checks.iter().filter(|c| c.status == "failed").count();
            let other = e
                .doc
                .checks
                .iter()
                .filter(|c| !matches!(c.status.as_str(), "passed" | "warned" | "failed"))
                .count();
            out.stdout.push_str(&format!(
                "{:<22} {:<11} {:>6} {:>6} {:>6} {:>8.1}s  {}\n",
                e.doc.started_at,
                e.doc.verdict,
                e.doc.checks.len(),
                failed,
                other,
                e.doc.duration_ms as f64 / 1000.0,
                e.doc.run_id
            ));
        }
        out.stdout
            .push_str(&format!("{} run(s) in {}\n", entries.len(), dir.display()));
    }
    out.exit = Some(ExitStatus::Ready);
    out
}

fn load(
    reference: &str,
    g: &Global,
    listed: &mut Option<Vec<Entry>>,
) -> Result<(ReportDoc, String), String> {
    match resolve_with(reference, g.history.as_deref(), listed) {
        Ok(Some(e)) => Ok((e.doc, e.path.display().to_string())),
        Ok(None) => Err(format!("{reference}: no such run in the history")),
        Err(e) => Err(e.to_string()),
    }
}

/// `kfcheck diff OLD NEW`: exit 1 when NEW regressed against OLD.
pub(crate) fn diff(g: &Global, old: &str, new: &str, tolerance: f64) -> AppOutput {
    if !(tolerance.is_finite() && tolerance >= 0.0) {
        return AppOutput::usage(format!(
            "--tolerance {tolerance}: expected a ratio of 0 or more"
        ));
    }
    // Two snapshots (`kfcheck snapshot -o json`): what the upgrade changed.
    if let (Some(o), Some(n)) = (
        super::snapshot::read_snapshot(old),
        super::snapshot::read_snapshot(new),
    ) {
        return super::snapshot::diff_snapshot_files(g, &o, &n);
    }
    let mut listed = None;
    let (o, n) = match (load(old, g, &mut listed), load(new, g, &mut listed)) {
        (Ok(o), Ok(n)) => (o.0, n.0),
        (Err(e), _) | (_, Err(e)) => return AppOutput::usage(e),
    };
    let d = compare(&o, &n, tolerance);
    AppOutput {
        stdout: match g.output {
            Format::Json => render_json(&o, &n, &d),
            _ => render_text(&o, &n, &d),
        },
        exit: Some(if d.regressions > 0 {
            ExitStatus::Failed
        } else {
            ExitStatus::Ready
        }),
        ..Default::default()
    }
}

/// `--baseline`: a run that regressed against it is not ready, whatever it would be alone.
/// Resolved before the run is kept, so `last-good` is never the run itself.
pub(crate) fn gate(g: &Global, report: &RunReport, exit: &mut ExitStatus, stderr: &mut String) {
    let Some(reference) = &g.baseline else {
        return;
    };
    let (base, shown) = match resolve(reference, g.history.as_deref()) {
        Ok(Some(e)) => (e.doc, e.path.display().to_string()),
        Ok(None) => {
            stderr.push_str(&format!(
                "kfcheck: no {reference} run kept yet; nothing to compare with (the run's own verdict stands)\n"
            ));
            return;
        }
        Err(e) => {
            stderr.push_str(&format!("kfcheck: --baseline {e}\n"));
            *exit = ExitStatus::Usage;
            return;
        }
    };
    let now = match ReportDoc::parse(&crate::report::render_json(report, *exit)) {
        Ok(d) => d,
        Err(e) => {
            stderr.push_str(&format!(
                "kfcheck: kfcheck bug: its own report does not read back: {e}\n"
            ));
            *exit = ExitStatus::Usage;
            return;
        }
    };
    let d = compare(&base, &now, f64::INFINITY);
    if d.regressions == 0 {
        stderr.push_str(&format!(
            "kfcheck: no regression against the baseline {shown} (run {})\n",
            base.run_id
        ));
        return;
    }
    let mut what: Vec<String> = d
        .statuses
        .iter()
        .filter(|s| s.change == crate::report::diff::Change::Regressed)
        .map(|s| {
            format!(
                "{} {} -> {}",
                s.check,
                s.before.as_deref().unwrap_or("-"),
                s.after.as_deref().unwrap_or("-")
            )
        })
        .collect();
    what.extend(
        d.new_findings
            .iter()
            .map(|f| format!("new finding {} on {} ({})", f.rule, f.subject, f.check)),
    );
    stderr.push_str(&format!(
        "kfcheck: {} regression(s) against the baseline {shown} (run {}): {}\n",
        d.regressions,
        base.run_id,
        what.join("; ")
    ));
    if *exit == ExitStatus::Ready {
        *exit = ExitStatus::Failed;
    }
}

/// `--history DIR`: keeps the run's JSON report; a history that cannot be written is said, and
/// a ready run then exits 2 (like an unwritable --report).
pub(crate) fn keep(g: &Global, report: &RunReport, exit: &mut ExitStatus, stderr: &mut String) {
    let Some(dir) = &g.history else {
        return;
    };
    let json = crate::report::render_json(report, *exit);
    if let Err(e) = record(dir, &report.run_id, &json, g.history_keep as usize) {
        stderr.push_str(&format!("kfcheck: --history: {e}\n"));
        if *exit == ExitStatus::Ready {
            *exit = ExitStatus::Usage;
        }
    }
}
