//! Markdown for CI step summaries (`$GITHUB_STEP_SUMMARY`, GitLab and Gitea job summaries, a
//! merge-request comment): the verdict first, the check table, then findings, what could not
//! be decided, what was suppressed, and the needs. Text from outside kfcheck cannot make markup:
//! every character that means something to Markdown or HTML is escaped, and line breaks become
//! spaces, so a finding cannot close the table, open a link or inject HTML.

use super::table::{detail, escape_text};
use crate::model::{verdict_reason, ExitStatus, RunReport, Severity, Summary};

/// Escapes Markdown and HTML in one line of text.
pub(crate) fn md(text: &str) -> String {
    let text = escape_text(text);
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' | '\r' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            // Emphasis, code, links and images, tables, strikethrough; `(` and `:` stay, as
            // `[` is what opens a link.
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

pub fn render_markdown(report: &RunReport, exit: ExitStatus) -> String {
    let s = Summary::of(&report.results);
    let mut out = format!(
        "## kfcheck: {}\n\n**Verdict: {}** (exit {}): {} passed, {} warned, {} failed, {} skipped, {} errored, {} timed out. Run `{}`, started {}.\n",
        exit.verdict(),
        exit.verdict(),
        exit.code(),
        s.passed,
        s.warned,
        s.failed,
        s.skipped,
        s.errored,
        s.timed_out,
        md(&report.run_id),
        md(&report.started_at),
    );
    if let Some(why) = verdict_reason(report, exit) {
        out.push_str(&format!("\n{}\n", md(&why)));
    }
    out.push_str(&format!(
        "\nCluster: {}\n",
        md(&crate::model::cluster_line(report.cluster.as_ref()))
    ));
    out.push_str("\n| Status | Check | Category | Detail |\n| --- | --- | --- | --- |\n");
    for c in &report.results {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            c.status.as_str(),
            md(&c.id),
            md(&c.category),
            md(&detail(c, &report.needs))
        ));
    }
    let findings: Vec<_> = report
        .results
        .iter()
        .flat_map(|c| c.findings.iter().map(move |f| (c, f)))
        .filter(|(_, f)| f.severity > Severity::Info)
        .collect();
    if !findings.is_empty() {
        out.push_str(&format!("\n### Findings ({})\n\n", findings.len()));
        for (c, f) in findings {
            out.push_str(&format!(
                "- **{}** {} \\[{}\\] ({}): {}. Fix: {}{}\n",
                f.severity.as_str(),
                md(&f.subject.display()),
                md(&f.rule),
                md(&c.id),
                md(&f.message),
                md(&f.remediation),
                f.owner
                    .as_deref()
                    .map(|o| format!(" Owner: {}.", md(o)))
                    .unwrap_or_default()
            ));
        }
    }
    let problems: Vec<_> = report
        .results
        .iter()
        .flat_map(|c| c.problems.iter().map(move |p| (c, p)))
        .collect();
    if !problems.is_empty() {
        out.push_str(&format!("\n### Could not decide ({})\n\n", problems.len()));
        for (c, p) in problems {
            out.push_str(&format!(
                "- {}: {} ({})\n",
                md(&p.subject.display()),
                md(&p.message),
                md(&c.id)
            ));
        }
    }
    let suppressed: Vec<_> = report
        .results
        .iter()
        .flat_map(|c| c.suppressed.iter())
        .collect();
    if !suppressed.is_empty() {
        out.push_str(&format!(
            "\n### Suppressed by repository config ({})\n\n",
            suppressed.len()
        ));
        for sup in suppressed {
            out.push_str(&format!(
                "- {} \\[{}\\]: {} ({})\n",
                md(&sup.finding.subject.display()),
                md(&sup.finding.rule),
                md(&sup.reason),
                md(&sup.by)
            ));
        }
    }
    if let Some(m) = report.door_matrix() {
        out.push_str("\n### Doors\n\n| Door | CPU | GPU |\n| --- | --- | --- |\n");
        for door in crate::model::matrix::DOORS {
            if !m.cells.iter().any(|c| c.door == door) {
                continue;
            }
            let at = |mode| m.cell(door, mode).map_or("not run", |c| c.state.as_str());
            out.push_str(&format!("| {door} | {} | {} |\n", at("cpu"), at("gpu")));
        }
        if !m.diagnoses.is_empty() {
            out.push('\n');
        }
        for d in &m.diagnoses {
            out.push_str(&format!(
                "- **Diagnosis** ({}): {}\n",
                md(d.pattern),
                md(&d.line)
            ));
        }
    }
    for r in &report.results {
        let Some(c) = r
            .figures
            .as_ref()
            .and_then(|f| f.get("io_sweep"))
            .and_then(|v| {
                serde_json::from_value::<crate::model::io_curve::IoCurve>(v.clone()).ok()
            })
        else {
            continue;
        };
        out.push_str(&format!(
            "\n### IO sweep {} ({} from {})\n\n| Probes | MB/s | p95 ms | Errors | 429 | 503 |\n| --- | --- | --- | --- | --- | --- |\n",
            md(&r.id),
            md(&c.bucket),
            md(&c.from)
        ));
        for s in &c.steps {
            let knee = if c.knee_at == Some(s.concurrency) {
                " (knee)"
            } else {
                ""
            };
            out.push_str(&format!(
                "| {}{knee} | {:.2} | {:.1} | {:.2}% | {} | {} |\n",
                s.concurrency,
                s.mb_per_s,
                s.p95_ms,
                s.error_rate * 100.0,
                s.throttled_429,
                s.throttled_503
            ));
        }
        out.push_str(&match c.recommended_limit {
            Some(n) => format!("\nRecommended: at most **{n}** IO-heavy pods at once.\n"),
            None => "\nNo limit recommended.\n".to_string(),
        });
    }
    if !report.needs.is_empty() {
        out.push_str("\n### Needs\n\n| Need | State | Detail |\n| --- | --- | --- |\n");
        for n in &report.needs {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                md(&n.name),
                md(&n.state),
                md(&n.detail)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::md;

    #[test]
    fn an_io_sweep_curve_becomes_a_table_with_its_knee_and_limit() {
        use crate::model::{CheckResult, ExitStatus, RunReport, Status};
        let step = |c: u32, mb: f64| serde_json::json!({"concurrency": c, "probes_measured": c, "mb_per_s": mb, "mb_per_s_per_probe": mb / f64::from(c), "p95_ms": 100.0, "error_rate": 0.0, "throttled_429": 0, "throttled_503": 0, "throttled_per_object": 0, "bytes": 1, "overhead_ms": 0});
        let figures = serde_json::json!({"io_sweep": {"from": "pod", "bucket": "s3://mlpipeline", "mode": "mixed", "object_bytes": 1, "streams_per_probe": 1, "seconds_per_step": 4.0, "steps": [step(1, 4.0), step(2, 8.0), step(4, 8.1)], "knee_at": 4, "knee_reason": "throughput", "recommended_limit": 2}});
        let r = CheckResult {
            id: "io-sweep".into(),
            title: "t".into(),
            category: "storage".into(),
            kind: "io-sweep".into(),
            status: Status::Passed,
            duration_ms: 1,
            reason: None,
            findings: vec![],
            problems: vec![],
            notes: vec![],
            suppressed: vec![],
            figures: Some(figures),
        };
        let report = RunReport {
            cluster: None,
            run_id: "r".into(),
            started_at: "t".into(),
            duration_ms: 1,
            interrupted: false,
            needs: vec![],
            results: vec![r],
            doors: vec![],
        };
        let text = super::render_markdown(&report, ExitStatus::Ready);
        assert!(
            text.contains("### IO sweep io-sweep (s3://mlpipeline from pod)"),
            "{text}"
        );
        assert!(text.contains("| 4 (knee) | 8.10 |"), "{text}");
        assert!(text.contains("at most **2** IO-heavy pods"), "{text}");
    }

    #[test]
    fn foreign_text_cannot_make_markup() {
        let hostile = "a | b\n| c | <script>x</script> [l](http://e) **b** `c`";
        let m = md(hostile);
        assert!(!m.contains('\n'));
        assert!(!m.contains("<script>"));
        let bytes = m.as_bytes();
        assert!(
            (0..bytes.len()).all(|i| bytes[i] != b'|' || (i > 0 && bytes[i - 1] == b'\\')),
            "an unescaped pipe: {m}"
        );
        assert!(m.contains("\\[l\\](http://e)"), "{m}");
        assert_eq!(md("plain words 42"), "plain words 42");
    }
}
