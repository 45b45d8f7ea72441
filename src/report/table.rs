//! The human report: a check table, findings (optionally grouped per owner), what could not be
//! decided, needs, and a one-line verdict. Statuses are words; colour is only an extra.

use crate::model::matrix::{CellState, DOORS, MODES};
use crate::model::{CheckResult, ExitStatus, Finding, RunReport, Severity, Status, Summary};
use comfy_table::{presets, Attribute, Cell, Color, ContentArrangement, Table};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default)]
pub struct TableOptions {
    pub color: bool,
    /// Group findings per owner (`--by-owner`).
    pub by_owner: bool,
    /// -q: only findings, problems and the verdict.
    pub quiet: bool,
    /// -v: also notes and evidence of passed checks.
    pub verbose: bool,
    /// Terminal width, if known.
    pub width: Option<u16>,
    /// `--history DIR`: the kept runs the HTML report draws its trends from.
    pub history: Option<std::path::PathBuf>,
    /// `lint --junit-per-file`: JUnit cases of pipeline-lint checks per file inspected.
    pub junit_per_file: bool,
}

fn status_color(s: Status) -> Color {
    match s {
        Status::Passed => Color::Green,
        Status::Warned => Color::Yellow,
        Status::Failed => Color::Red,
        Status::Skipped => Color::DarkGrey,
        Status::Errored | Status::TimedOut => Color::Magenta,
    }
}

fn new_table(o: &TableOptions) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING);
    if let Some(w) = o.width {
        t.set_content_arrangement(ContentArrangement::Dynamic);
        t.set_width(w);
    }
    if o.color {
        t.enforce_styling();
    } else {
        t.force_no_tty();
    }
    t
}

fn colored(text: &str, color: Color, o: &TableOptions) -> Cell {
    let c = Cell::new(text);
    if o.color {
        c.fg(color)
    } else {
        c
    }
}

fn header(cells: &[&str], o: &TableOptions) -> Vec<Cell> {
    cells
        .iter()
        .map(|h| {
            if o.color {
                Cell::new(h).add_attribute(Attribute::Bold)
            } else {
                Cell::new(h)
            }
        })
        .collect()
}

/// A check's one-line detail. A check that did not run for a need that is missing or broken says
/// which need, and the Needs section below the table says why, once.
pub(super) fn detail(c: &CheckResult, needs: &[crate::model::NeedState]) -> String {
    if let Some(r) = &c.reason {
        let unavailable: Vec<&crate::model::NeedState> = needs
            .iter()
            .filter(|n| !n.available && r.contains(&format!("needs {}: ", n.name)))
            .collect();
        if !unavailable.is_empty() && r.starts_with("needs ") {
            let which: Vec<String> = unavailable
                .iter()
                .map(|n| format!("{} ({})", n.name, n.state))
                .collect();
            return format!("needs {}: see Needs below", which.join(", "));
        }
        return match c.notes.first() {
            Some(n) if c.status == Status::Errored && !c.problems.is_empty() => format!("{r}; {n}"),
            _ => r.clone(),
        };
    }
    let errors = c
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .count();
    let warnings = c
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Warning)
        .count();
    let mut parts = Vec::new();
    if errors + warnings > 0 {
        parts.push(format!("{errors} error(s), {warnings} warning(s)"));
    }
    parts.extend(c.notes.first().cloned());
    parts.join("; ")
}

/// Findings as an indented list: long paths and remediation sentences never wrap mid-word.
fn findings_list(findings: &[&Finding], o: &TableOptions, show_owner: bool) -> String {
    let mut out = String::new();
    for f in findings {
        let sev = format!("{:<7}", f.severity.as_str());
        let sev = if o.color {
            paint(&sev, severity_ansi(f.severity))
        } else {
            sev
        };
        out.push_str(&format!("  {sev} {}  [{}]\n", f.subject.display(), f.rule));
        out.push_str(&format!("          {}\n", f.message));
        for e in &f.evidence {
            match &e.expected {
                Some(x) => out.push_str(&format!(
                    "          {}: {} (expected {x})\n",
                    e.key, e.observed
                )),
                None => out.push_str(&format!("          {}: {}\n", e.key, e.observed)),
            }
        }
        out.push_str(&format!("          fix: {}\n", f.remediation));
        // Only pipeline findings have owners; cluster findings are the platform team's.
        if let (true, Some(owner)) = (show_owner, &f.owner) {
            out.push_str(&format!("          owner: {owner}\n"));
        }
    }
    out
}

fn severity_ansi(s: Severity) -> &'static str {
    match s {
        Severity::Error => "31",
        Severity::Warning => "33",
        Severity::Info => "34",
    }
}

fn paint(text: &str, code: &str) -> String {
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Text that came from outside kfcheck (plug-ins, servers, pipeline files, suites) shown so that
/// it cannot steer the terminal or forge a line: control characters (C0, DEL, C1) and the
/// bidirectional overrides are written as `\u{..}` escapes, and a line break continues indented,
/// so nothing foreign ever starts a line of its own (a forged `Verdict: ready`).
pub(crate) fn escape_text(s: &str) -> String {
    let bidi = |c: char| matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{61c}');
    if !s.chars().any(|c| c.is_control() || bidi(c)) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\n      "),
            '\t' => out.push(' '),
            c if c.is_control() || bidi(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn escape_subject(s: &mut crate::model::Subject) {
    s.kind = escape_text(&s.kind);
    s.name = escape_text(&s.name);
    s.file = s.file.as_deref().map(escape_text);
}

/// A copy of the report with every string escaped for the terminal (see `escape_text`).
fn escaped(report: &RunReport) -> RunReport {
    let mut r = report.clone();
    for n in &mut r.needs {
        n.detail = escape_text(&n.detail);
    }
    if let Some(c) = &mut r.cluster {
        c.context = c.context.as_deref().map(escape_text);
        c.server = escape_text(&c.server);
        c.kubernetes_version = escape_text(&c.kubernetes_version);
        c.kfp_version = c.kfp_version.as_deref().map(escape_text);
    }
    for c in &mut r.results {
        c.id = escape_text(&c.id);
        c.title = escape_text(&c.title);
        c.category = escape_text(&c.category);
        c.reason = c.reason.as_deref().map(escape_text);
        for n in &mut c.notes {
            *n = escape_text(n);
        }
        for p in &mut c.problems {
            escape_subject(&mut p.subject);
            p.message = escape_text(&p.message);
        }
        for f in &mut c.findings {
            escape_finding(f);
        }
        for s in &mut c.suppressed {
            escape_finding(&mut s.finding);
            s.reason = escape_text(&s.reason);
            s.by = escape_text(&s.by);
        }
    }
    r
}

fn escape_finding(f: &mut Finding) {
    f.rule = escape_text(&f.rule);
    f.message = escape_text(&f.message);
    f.remediation = escape_text(&f.remediation);
    f.owner = f.owner.as_deref().map(escape_text);
    escape_subject(&mut f.subject);
    for e in &mut f.evidence {
        e.key = escape_text(&e.key);
        e.observed = escape_text(&e.observed);
        e.expected = e.expected.as_deref().map(escape_text);
    }
}

fn cell_color(s: CellState) -> Color {
    match s {
        CellState::Passed => Color::Green,
        CellState::Failed => Color::Red,
        CellState::Undecided => Color::Magenta,
    }
}

/// The door × mode matrix of kfcheck's samples and its diagnosis lines (shown with -q too: the
/// diagnosis is what locates a fault).
fn doors_section(report: &RunReport, o: &TableOptions) -> String {
    let Some(m) = report.door_matrix() else {
        return String::new();
    };
    let mut out = String::from("\nDoors (kfcheck's samples by door and mode)\n");
    let modes: Vec<&str> = MODES
        .into_iter()
        .filter(|mode| m.cells.iter().any(|c| c.mode == *mode))
        .collect();
    let mut t = new_table(o);
    let mut head = vec!["DOOR"];
    head.extend(
        modes
            .iter()
            .map(|m| if *m == "cpu" { "CPU" } else { "GPU" }),
    );
    t.set_header(header(&head, o));
    for door in DOORS {
        if !m.cells.iter().any(|c| c.door == door) {
            continue;
        }
        let mut row = vec![Cell::new(door)];
        for mode in &modes {
            row.push(match m.cell(door, mode) {
                Some(c) => colored(c.state.as_str(), cell_color(c.state), o),
                None => Cell::new("not run"),
            });
        }
        t.add_row(row);
    }
    out.push_str(&t.to_string());
    out.push('\n');
    for d in &m.diagnoses {
        out.push_str(&format!(
            "  Diagnosis: {} (kfcheck explain {})\n",
            d.line, d.pattern
        ));
    }
    out
}

pub fn render_table(report: &RunReport, exit: ExitStatus, o: &TableOptions) -> String {
    let out = table_text(report, exit, o);
    match o.width {
        Some(w) => super::wrap::fit(&out, w.into()),
        None => out,
    }
}

fn table_text(report: &RunReport, exit: ExitStatus, o: &TableOptions) -> String {
    let report = &escaped(report);
    let mut out = String::new();
    if !o.quiet {
        let mut t = new_table(o);
        t.set_header(header(&["STATUS", "CHECK", "CATEGORY", "DETAIL"], o));
        for c in &report.results {
            t.add_row(vec![
                colored(c.status.as_str(), status_color(c.status), o),
                Cell::new(&c.id),
                Cell::new(&c.category),
                Cell::new(detail(c, &report.needs)),
            ]);
        }
        out.push_str(&t.to_string());
        out.push('\n');
        if o.verbose {
            for c in report.results.iter().filter(|c| !c.notes.is_empty()) {
                out.push_str(&format!("\n{}:\n", c.id));
                for n in &c.notes {
                    out.push_str(&format!("  {n}\n"));
                }
            }
        }
    }

    let shown: Vec<&Finding> = report
        .results
        .iter()
        .flat_map(|c| c.findings.iter())
        .filter(|f| o.verbose || f.severity > Severity::Info)
        .collect();
    if !shown.is_empty() {
        if o.by_owner {
            let mut groups: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
            for f in &shown {
                groups
                    .entry(
                        f.owner
                            .as_deref()
                            .unwrap_or("the platform team (cluster findings)"),
                    )
                    .or_default()
                    .push(f);
            }
            for (owner, list) in groups {
                out.push_str(&format!("\nFindings for {owner} ({})\n", list.len()));
                out.push_str(&findings_list(&list, o, false));
            }
        } else {
            out.push_str(&format!("\nFindings ({})\n", shown.len()));
            out.push_str(&findings_list(&shown, o, true));
        }
    }
    let hidden = report
        .results
        .iter()
        .flat_map(|c| c.findings.iter())
        .filter(|f| f.severity == Severity::Info)
        .count();
    if hidden > 0 && !o.verbose && !o.quiet {
        out.push_str(&format!(
            "\n{hidden} info finding(s) hidden; -v shows them.\n"
        ));
    }

    // Suppressed findings: apart, each with the reason the repository gives and where.
    let suppressed: Vec<_> = report
        .results
        .iter()
        .flat_map(|c| c.suppressed.iter())
        .collect();
    if !suppressed.is_empty() && !o.quiet {
        out.push_str(&format!(
            "
Suppressed by repository config ({})
",
            suppressed.len()
        ));
        for s in suppressed {
            let f = &s.finding;
            out.push_str(&format!(
                "  {:<7} {}  [{}]\n          {}\n          suppressed: {} ({})\n",
                f.severity.as_str(),
                f.subject.display(),
                f.rule,
                f.message,
                s.reason,
                s.by
            ));
        }
    }

    let problems: Vec<_> = report
        .results
        .iter()
        .flat_map(|c| c.problems.iter().map(move |p| (c, p)))
        .collect();
    if !problems.is_empty() {
        out.push_str(&format!("\nCould not decide ({})\n", problems.len()));
        for (c, p) in problems {
            let at = match (&p.subject.file, p.subject.line) {
                (Some(f), Some(l)) => format!("{f}:{l}"),
                (Some(f), None) => f.clone(),
                _ => format!("{} {}", p.subject.kind, p.subject.name),
            };
            out.push_str(&format!("  {at}: {} [{}]\n", p.message, c.id));
        }
    }

    out.push_str(&doors_section(report, o));
    if !o.quiet {
        out.push_str(&super::curve::curves_section(report));
    }

    if !o.quiet && !report.needs.is_empty() {
        out.push_str("\nNeeds\n");
        let mut t = new_table(o);
        for n in &report.needs {
            let (color, effect) = match n.state.as_str() {
                "available" => (Color::Green, String::new()),
                "broken" => (
                    Color::Magenta,
                    format!(" ({} check(s) could not run)", n.checks.len()),
                ),
                _ => (
                    Color::DarkGrey,
                    format!(" ({} check(s) skipped)", n.checks.len()),
                ),
            };
            t.add_row(vec![
                Cell::new(&n.name),
                colored(&n.state, color, o),
                Cell::new(format!("{}{effect}", n.detail)),
            ]);
        }
        out.push_str(&t.to_string());
        out.push('\n');
    }

    if !o.quiet {
        out.push_str(&format!(
            "\nCluster: {}\n",
            crate::model::cluster_line(report.cluster.as_ref())
        ));
    }
    let s = Summary::of(&report.results);
    let verdict = format!(
        "\nVerdict: {} ({} passed, {} warned, {} failed, {} skipped, {} errored, {} timed out; exit {})\n",
        exit.verdict(),
        s.passed,
        s.warned,
        s.failed,
        s.skipped,
        s.errored,
        s.timed_out,
        exit.code()
    );
    out.push_str(&verdict);
    if let Some(why) = crate::model::verdict_reason(report, exit) {
        out.push_str(&format!("  {why}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CheckResult, Evidence, Finding, Subject};

    fn hostile_report() -> RunReport {
        let forged = "ok\r\x1b[2K\nVerdict: ready (9 passed; exit 0)\n\x1b]0;title\x07\u{202e}evil";
        let evidence = vec![Evidence {
            key: forged.into(),
            observed: forged.into(),
            expected: Some(forged.into()),
        }];
        let f = Finding::new(
            "plugin-rule",
            Severity::Error,
            Subject::new("endpoint", forged),
            forged,
            evidence,
            forged,
        );
        let c = CheckResult {
            id: "plugin".into(),
            title: forged.into(),
            category: "test".into(),
            kind: "exec".into(),
            status: Status::Failed,
            duration_ms: 1,
            reason: Some(forged.into()),
            findings: vec![f],
            problems: vec![crate::model::Problem {
                subject: Subject::new("file", forged),
                message: forged.into(),
            }],
            notes: vec![forged.into()],
            suppressed: vec![],
            figures: None,
        };
        RunReport {
            cluster: None,
            run_id: "r".into(),
            started_at: "t".into(),
            duration_ms: 1,
            interrupted: false,
            needs: vec![],
            results: vec![c],
            doors: vec![],
        }
    }

    #[test]
    fn foreign_text_cannot_steer_the_terminal_or_forge_a_line() {
        let r = hostile_report();
        for o in [
            TableOptions::default(),
            TableOptions {
                verbose: true,
                ..Default::default()
            },
            TableOptions {
                quiet: true,
                ..Default::default()
            },
        ] {
            let out = render_table(&r, ExitStatus::Failed, &o);
            assert!(
                !out.contains('\x1b')
                    && !out.contains('\r')
                    && !out.contains('\x07')
                    && !out.contains('\u{202e}'),
                "{out:?}"
            );
            let verdicts: Vec<&str> = out.lines().filter(|l| l.starts_with("Verdict:")).collect();
            assert_eq!(verdicts, ["Verdict: not-ready (0 passed, 0 warned, 1 failed, 0 skipped, 0 errored, 0 timed out; exit 1)"], "{out}");
            assert!(out.contains("\\u{1b}[2K"), "escapes stay readable: {out}");
        }
    }

    #[test]
    fn plain_text_is_left_alone() {
        assert_eq!(
            escape_text("gpu-probe: 2 × nvidia.com/gpu, ünïcode"),
            "gpu-probe: 2 × nvidia.com/gpu, ünïcode"
        );
        assert_eq!(escape_text("a\tb"), "a b");
    }
}
