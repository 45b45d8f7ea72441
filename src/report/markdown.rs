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
