//! The HTML report (`-o html`, `--report html=PATH`): one self-contained file that a platform
//! team can keep, mail or serve from a bucket. No script, no external asset, no web font: the
//! styles are inline and the charts are inline SVG, so it reads the same offline, with
//! JavaScript off and under a strict Content-Security-Policy (which it declares). Every text from
//! outside kfcheck is escaped. With `--history DIR` it adds trends over the kept runs: the
//! statuses of each run, its duration, and the io-sweeps' best throughput.

use super::diff::{DocCheck, ReportDoc};
use super::table::detail;
use crate::model::io_curve::IoCurve;
use crate::model::{cluster_line, verdict_reason, ExitStatus, RunReport, Severity, Summary};
use std::fmt::Write as _;
use std::path::Path;

/// The most kept runs the trends draw (the newest ones).
pub const TREND_RUNS: usize = 100;

/// Text as HTML: `&`, `<`, `>`, `"` and `'` escaped; control characters dropped.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\t' => out.push(c),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// An id attribute from anything: lowercase alphanumerics and dashes.
fn anchor(prefix: &str, id: &str) -> String {
    let body: String = id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    format!("{prefix}-{body}")
}

const STYLE: &str = "
:root{--pass:#1a7f37;--warn:#9a6700;--fail:#cf222e;--skip:#6e7781;--err:#8250df;--bg:#fff;--fg:#1f2328;--mute:#59636e;--line:#d1d9e0}
*{box-sizing:border-box}body{font:15px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:var(--fg);background:var(--bg);margin:0 auto;max-width:1200px;padding:1.5rem}
h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.2rem;border-bottom:1px solid var(--line);padding-bottom:.3rem;margin-top:2rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}th{font-weight:600;color:var(--mute)}
.mute{color:var(--mute)}code{font-family:ui-monospace,SFMono-Regular,Menlo,monospace;font-size:.9em}
.verdict{border-left:.5rem solid var(--skip);padding:.5rem 1rem;background:#f6f8fa}
.verdict.ready{border-color:var(--pass)}.verdict.not-ready{border-color:var(--fail)}.verdict.undecided,.verdict.interrupted{border-color:var(--err)}
.s{display:inline-block;min-width:5.5em;padding:0 .4em;border-radius:.3em;color:#fff;font-size:.85em;text-align:center}
.s-passed,.s-ready{background:var(--pass)}.s-warned,.s-warning{background:var(--warn)}.s-failed,.s-error,.s-not-ready{background:var(--fail)}
.s-skipped,.s-info,.s-not-run{background:var(--skip)}.s-errored,.s-timed_out,.s-undecided{background:var(--err)}
details{border:1px solid var(--line);border-radius:.4rem;margin:.4rem 0;padding:.3rem .6rem}summary{cursor:pointer}
.ev td:first-child{white-space:nowrap;color:var(--mute)}svg{max-width:100%;height:auto}svg text{font:11px system-ui,sans-serif;fill:var(--mute)}
.legend span{margin-right:1em}.legend i{display:inline-block;width:.8em;height:.8em;margin-right:.3em;vertical-align:-.05em}
";

/// Status → CSS colour variable, for the charts.
fn fill(status: &str) -> &'static str {
    match status {
        "passed" => "var(--pass)",
        "warned" => "var(--warn)",
        "failed" => "var(--fail)",
        "errored" | "timed_out" => "var(--err)",
        _ => "var(--skip)",
    }
}

fn badge(word: &str) -> String {
    format!("<span class=\"s s-{0}\">{0}</span>", esc(word))
}

/// The run as one HTML document; `history`: the kept runs for the trends (older first).
pub fn render_html(report: &RunReport, exit: ExitStatus, history: &[ReportDoc]) -> String {
    let s = Summary::of(&report.results);
    let mut o = String::with_capacity(64 * 1024);
    let _ = write!(
        o,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; img-src data:\">\
<meta name=\"generator\" content=\"kfcheck {}\">\
<title>kfcheck: {} ({})</title><style>{STYLE}</style></head><body>\n",
        env!("CARGO_PKG_VERSION"),
        exit.verdict(),
        esc(&report.started_at)
    );
    let _ = write!(
        o,
        "<header id=\"verdict\" class=\"verdict {v}\"><h1>kfcheck: {} {}</h1>\
<p id=\"counts\">exit {} · {} passed, {} warned, {} failed, {} skipped, {} errored, {} timed out</p>",
        badge(exit.verdict()),
        esc(&exit.verdict().replace('-', " ")),
        exit.code(),
        s.passed,
        s.warned,
        s.failed,
        s.skipped,
        s.errored,
        s.timed_out,
        v = exit.verdict(),
    );
    if let Some(why) = verdict_reason(report, exit) {
        let _ = write!(o, "<p id=\"reason\">{}</p>", esc(&why));
    }
    let _ = writeln!(
        o,
        "<p id=\"cluster\">Cluster: {}</p><p class=\"mute\">Run <code>{}</code>, started {}, took {:.1} s{}.</p></header>",
        esc(&cluster_line(report.cluster.as_ref())),
        esc(&report.run_id),
        esc(&report.started_at),
        report.duration_ms as f64 / 1000.0,
        if report.interrupted { " (interrupted)" } else { "" }
    );
    doors(&mut o, report);
    checks(&mut o, report);
    findings(&mut o, report);
    undecided(&mut o, report);
    figures(&mut o, report);
    trends(&mut o, report, exit, history);
    needs(&mut o, report);
    let _ = write!(
        o,
        "<footer class=\"mute\"><p>kfcheck {} · report schema {}</p></footer>\n</body></html>\n",
        env!("CARGO_PKG_VERSION"),
        super::SCHEMA_VERSION
    );
    o
}

/// The kept runs of `dir` for the trends, newest [`TREND_RUNS`]; unreadable entries are left out.
pub fn history_docs(dir: Option<&Path>) -> Vec<ReportDoc> {
    let Some(dir) = dir.filter(|d| d.is_dir()) else {
        return Vec::new();
    };
    let entries = super::history::list(dir)
        .map(|(e, _)| e)
        .unwrap_or_default();
    let start = entries.len().saturating_sub(TREND_RUNS);
    entries[start..].iter().map(|e| e.doc.clone()).collect()
}

fn doors(o: &mut String, report: &RunReport) {
    let Some(m) = report.door_matrix() else {
        return;
    };
    o.push_str("<section id=\"doors\"><h2>Doors: kfcheck's samples by door and mode</h2><table><thead><tr><th>Door</th>");
    let modes: Vec<&str> = crate::model::matrix::MODES
        .into_iter()
        .filter(|mode| m.cells.iter().any(|c| c.mode == *mode))
        .collect();
    for mode in &modes {
        let _ = write!(o, "<th>{}</th>", mode.to_uppercase());
    }
    o.push_str("</tr></thead><tbody>");
    for door in crate::model::matrix::DOORS {
        if !m.cells.iter().any(|c| c.door == door) {
            continue;
        }
        let _ = write!(o, "<tr><th>{door}</th>");
        for mode in &modes {
            match m.cell(door, mode) {
                Some(c) => {
                    let checks: Vec<String> = c
                        .checks
                        .iter()
                        .map(|(id, _)| {
                            format!("<a href=\"#{}\">{}</a>", anchor("check", id), esc(id))
                        })
                        .collect();
                    let _ = write!(
                        o,
                        "<td id=\"cell-{door}-{mode}\" class=\"cell state-{}\">{} <span class=\"mute\">{}</span></td>",
                        c.state.as_str(),
                        badge(c.state.as_str()),
                        checks.join(", ")
                    );
                }
                None => {
                    let _ = write!(
                        o,
                        "<td id=\"cell-{door}-{mode}\" class=\"cell state-not-run\">not run</td>"
                    );
                }
            }
        }
        o.push_str("</tr>");
    }
    o.push_str("</tbody></table>");
    for d in &m.diagnoses {
        let _ = write!(
            o,
            "<p class=\"diagnosis\">Diagnosis: {} (<code>kfcheck explain {}</code>)</p>",
            esc(&d.line),
            esc(d.pattern)
        );
    }
    o.push_str("</section>\n");
}

fn checks(o: &mut String, report: &RunReport) {
    let _ = write!(
        o,
        "<section id=\"checks\"><h2>Checks ({})</h2><table><thead><tr><th>Status</th><th>Check</th><th>Category</th><th>Time</th><th>Detail</th></tr></thead><tbody>",
        report.results.len()
    );
    for c in &report.results {
        let _ = write!(
            o,
            "<tr id=\"{}\" class=\"check status-{}\"><td>{}</td><td><code>{}</code><br><span class=\"mute\">{}</span></td><td>{}</td><td>{:.1} s</td><td>{}</td></tr>",
            anchor("check", &c.id),
            c.status.as_str(),
            badge(c.status.as_str()),
            esc(&c.id),
            esc(&c.title),
            esc(&c.category),
            c.duration_ms as f64 / 1000.0,
            esc(&detail(c, &report.needs))
        );
    }
    o.push_str("</tbody></table></section>\n");
}

fn findings(o: &mut String, report: &RunReport) {
    let all: Vec<_> = report
        .results
        .iter()
        .flat_map(|c| c.findings.iter().map(move |f| (c, f)))
        .collect();
    if all.is_empty() {
        return;
    }
    let _ = write!(
        o,
        "<section id=\"findings\"><h2>Findings ({})</h2>",
        all.len()
    );
    for (c, f) in all {
        let open = if f.severity > Severity::Info {
            " open"
        } else {
            ""
        };
        let _ = write!(
            o,
            "<details class=\"finding\"{open}><summary>{} <strong>{}</strong> <code>[{}]</code> <span class=\"mute\">in <a href=\"#{}\">{}</a></span></summary><p>{}</p>",
            badge(f.severity.as_str()),
            esc(&f.subject.display()),
            esc(&f.rule),
            anchor("check", &c.id),
            esc(&c.id),
            esc(&f.message)
        );
        if !f.evidence.is_empty() {
            o.push_str("<table class=\"ev\"><thead><tr><th></th><th>Observed</th><th>Expected</th></tr></thead><tbody>");
            for e in &f.evidence {
                let _ = write!(
                    o,
                    "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&e.key),
                    esc(&e.observed),
                    esc(e.expected.as_deref().unwrap_or(""))
                );
            }
            o.push_str("</tbody></table>");
        }
        let _ = write!(o, "<p><strong>Fix:</strong> {}</p>", esc(&f.remediation));
        if let Some(owner) = &f.owner {
            let _ = write!(o, "<p><strong>Owner:</strong> {}</p>", esc(owner));
        }
        o.push_str("</details>");
    }
    o.push_str("</section>\n");
}

fn undecided(o: &mut String, report: &RunReport) {
    let all: Vec<_> = report
        .results
        .iter()
        .flat_map(|c| c.problems.iter().map(move |p| (c, p)))
        .collect();
    if all.is_empty() {
        return;
    }
    let _ = write!(
        o,
        "<section id=\"undecided\"><h2>Could not decide ({})</h2><ul>",
        all.len()
    );
    for (c, p) in all {
        let _ = write!(
            o,
            "<li>{}: {} <span class=\"mute\">[{}]</span></li>",
            esc(&p.subject.display()),
            esc(&p.message),
            esc(&c.id)
        );
    }
    o.push_str("</ul></section>\n");
}

/// An SVG line chart: `series` of (label, colour, points as (x label, y)); x is the point's
/// index. `y_unit` names the axis.
/// One line of a chart: (label, colour, points as (x label, y)).
type Series<'a> = (String, &'a str, Vec<(String, f64)>);

fn line_chart(title: &str, y_unit: &str, series: &[Series]) -> String {
    let (w, h, left, bottom, top) = (640.0, 220.0, 48.0, 28.0, 12.0);
    let n = series.iter().map(|s| s.2.len()).max().unwrap_or(0).max(2);
    let ymax = series
        .iter()
        .flat_map(|s| s.2.iter().map(|p| p.1))
        .fold(0.0_f64, f64::max)
        .max(1e-9)
        * 1.1;
    let x = |i: usize| left + (w - left - 10.0) * i as f64 / (n - 1) as f64;
    let y = |v: f64| top + (h - top - bottom) * (1.0 - v / ymax);
    let mut s = format!(
        "<figure><svg viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        esc(title)
    );
    let _ = write!(
        s,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#d1d9e0\"/>",
        h - bottom,
        w - 10.0,
        h - bottom
    );
    for k in 0..=4 {
        let v = ymax * k as f64 / 4.0;
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            left - 4.0,
            y(v) + 4.0,
            short(v)
        );
    }
    for (label, colour, points) in series {
        let path: Vec<String> = points
            .iter()
            .enumerate()
            .map(|(i, p)| format!("{:.1},{:.1}", x(i), y(p.1)))
            .collect();
        let _ = write!(
            s,
            "<polyline fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\" points=\"{}\"><title>{}</title></polyline>",
            path.join(" "),
            esc(label)
        );
        for (i, p) in points.iter().enumerate() {
            let _ = write!(
                s,
                "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"><title>{}: {} {}</title></circle>",
                x(i),
                y(p.1),
                esc(&p.0),
                short(p.1),
                esc(y_unit)
            );
        }
    }
    if let Some((_, _, points)) = series.iter().max_by_key(|s| s.2.len()) {
        for (i, p) in points.iter().enumerate() {
            if points.len() <= 12 || i % (points.len() / 8).max(1) == 0 {
                let anchor = match i {
                    0 => "start",
                    i if i + 1 == points.len() => "end",
                    _ => "middle",
                };
                let _ = write!(
                    s,
                    "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
                    x(i),
                    h - 8.0,
                    esc(&p.0)
                );
            }
        }
    }
    let legend: Vec<String> = series
        .iter()
        .map(|(l, c, _)| format!("<span><i style=\"background:{c}\"></i>{}</span>", esc(l)))
        .collect();
    let _ = write!(
        s,
        "</svg><figcaption>{} ({}) <span class=\"legend\">{}</span></figcaption></figure>",
        esc(title),
        esc(y_unit),
        legend.join("")
    );
    s
}

fn short(v: f64) -> String {
    if v >= 100.0 || v == v.trunc() {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.1}")
    } else {
        // Three significant digits for small figures (a run of a few milliseconds).
        let digits = (-v.log10().floor()) as usize + 2;
        format!("{v:.digits$}")
    }
}

fn figures(o: &mut String, report: &RunReport) {
    let curves: Vec<(&str, IoCurve)> = report
        .results
        .iter()
        .filter_map(|c| {
            let v = c.figures.as_ref()?.get("io_sweep")?.clone();
            Some((c.id.as_str(), serde_json::from_value(v).ok()?))
        })
        .collect();
    if curves.is_empty() {
        return;
    }
    o.push_str("<section id=\"figures\"><h2>Measured</h2>");
    for (id, c) in curves {
        let points: Vec<(String, f64)> = c
            .steps
            .iter()
            .filter(|s| s.probes_measured > 0)
            .map(|s| (format!("{} probe(s)", s.concurrency), s.mb_per_s))
            .collect();
        let limit = match (c.recommended_limit, c.knee_at) {
            (Some(n), Some(k)) => format!("knee at {k} probes: at most {n} IO-heavy pods at once"),
            _ => "no knee within the steps measured".into(),
        };
        o.push_str(&line_chart(
            &format!(
                "{id}: aggregate throughput from {} to {} ({limit})",
                c.from, c.bucket
            ),
            "MB/s",
            &[("throughput".into(), "var(--pass)", points)],
        ));
    }
    o.push_str("</section>\n");
}

fn trends(o: &mut String, report: &RunReport, exit: ExitStatus, history: &[ReportDoc]) {
    if history.is_empty() {
        return;
    }
    // The kept runs, then this one (its statuses as the JSON report would say them).
    struct Run {
        label: String,
        statuses: Vec<String>,
        duration_s: f64,
        /// The checks that measured something (id and figures only).
        measured: Vec<DocCheck>,
        verdict: String,
    }
    let measured = |id: &str, status: &str, figures: Option<&serde_json::Value>| {
        figures.map(|f| DocCheck {
            id: id.to_string(),
            status: status.to_string(),
            duration_ms: 0,
            findings: vec![],
            figures: Some(f.clone()),
        })
    };
    let mut runs: Vec<Run> = history
        .iter()
        .filter(|d| d.run_id != report.run_id)
        .map(|d| Run {
            label: d
                .started_at
                .get(..16)
                .unwrap_or(&d.started_at)
                .replace('T', " "),
            statuses: d.checks.iter().map(|c| c.status.clone()).collect(),
            duration_s: d.duration_ms as f64 / 1000.0,
            measured: d
                .checks
                .iter()
                .filter_map(|c| measured(&c.id, &c.status, c.figures.as_ref()))
                .collect(),
            verdict: d.verdict.clone(),
        })
        .collect();
    runs.push(Run {
        label: report
            .started_at
            .get(..16)
            .unwrap_or(&report.started_at)
            .replace('T', " "),
        statuses: report
            .results
            .iter()
            .map(|c| c.status.as_str().to_string())
            .collect(),
        duration_s: report.duration_ms as f64 / 1000.0,
        measured: report
            .results
            .iter()
            .filter_map(|c| measured(&c.id, c.status.as_str(), c.figures.as_ref()))
            .collect(),
        verdict: exit.verdict().to_string(),
    });
    let _ = write!(
        o,
        "<section id=\"trends\"><h2>Trends over the last {} runs</h2>",
        runs.len()
    );
    // Statuses: one stacked bar a run.
    let order = [
        "passed",
        "warned",
        "failed",
        "errored",
        "timed_out",
        "skipped",
    ];
    let (w, h, bottom) = (640.0, 200.0, 24.0);
    let most = runs
        .iter()
        .map(|r| r.statuses.len())
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    let bw = (w - 20.0) / runs.len() as f64;
    let _ = write!(
        o,
        "<figure><svg id=\"trend-statuses\" viewBox=\"0 0 {w} {h}\" width=\"{w}\" height=\"{h}\" role=\"img\" aria-label=\"check statuses of each run\" xmlns=\"http://www.w3.org/2000/svg\">"
    );
    for (i, r) in runs.iter().enumerate() {
        let mut y = h - bottom;
        for st in order {
            let n = r.statuses.iter().filter(|s| s.as_str() == st).count();
            if n == 0 {
                continue;
            }
            let bh = (h - bottom - 8.0) * n as f64 / most;
            y -= bh;
            let _ = write!(
                o,
                "<rect x=\"{:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{}\"><title>{}: {n} {st} ({})</title></rect>",
                10.0 + bw * i as f64,
                (bw - 2.0).max(1.0),
                fill(st),
                esc(&r.label),
                esc(&r.verdict)
            );
        }
    }
    let legend: Vec<String> = order
        .iter()
        .map(|s| format!("<span><i style=\"background:{}\"></i>{s}</span>", fill(s)))
        .collect();
    let _ = write!(
        o,
        "</svg><figcaption>Check statuses of each run, oldest first <span class=\"legend\">{}</span></figcaption></figure>",
        legend.join("")
    );
    let durations: Vec<(String, f64)> = runs
        .iter()
        .map(|r| (r.label.clone(), r.duration_s))
        .collect();
    o.push_str(&line_chart(
        "Run duration",
        "s",
        &[("duration".into(), "var(--err)", durations)],
    ));
    // Each figure `diff` compares (io-sweep throughput, GPU TFLOP/s and GB/s, storage round
    // trips), one chart a check that measured it, over the runs where it did.
    for (what, read) in super::diff::trend_figures() {
        let (title, unit) = what
            .rsplit_once(" (")
            .map_or((what, ""), |(t, u)| (t, u.trim_end_matches(')')));
        let ids: std::collections::BTreeSet<&str> = runs
            .iter()
            .flat_map(|r| r.measured.iter().filter(|c| read(c).is_some()))
            .map(|c| c.id.as_str())
            .collect();
        for id in ids {
            let points: Vec<(String, f64)> = runs
                .iter()
                .filter_map(|r| {
                    let c = r.measured.iter().find(|c| c.id == id)?;
                    Some((r.label.clone(), read(c)?))
                })
                .collect();
            let _ = write!(
                o,
                "<div class=\"trend-figure\" data-figure=\"{}\">",
                esc(what)
            );
            o.push_str(&line_chart(
                &format!("{title}: {id}, each run"),
                unit,
                &[(title.to_string(), "var(--pass)", points)],
            ));
            o.push_str("</div>");
        }
    }
    o.push_str("</section>\n");
}

fn needs(o: &mut String, report: &RunReport) {
    if report.needs.is_empty() {
        return;
    }
    o.push_str("<section id=\"needs\"><h2>Needs</h2><table><tbody>");
    for n in &report.needs {
        let _ = write!(
            o,
            "<tr><td><code>{}</code></td><td>{}</td><td>{}</td><td class=\"mute\">{}</td></tr>",
            esc(&n.name),
            esc(&n.state),
            esc(&n.detail),
            esc(&n.checks.join(", "))
        );
    }
    o.push_str("</tbody></table></section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CheckResult, Evidence, Finding, Status, Subject};

    fn run(results: Vec<CheckResult>) -> RunReport {
        RunReport {
            run_id: "r1".into(),
            cluster: None,
            started_at: "2026-12-07T10:00:00Z".into(),
            duration_ms: 1500,
            interrupted: false,
            needs: vec![],
            results,
            doors: vec![],
        }
    }

    fn check(id: &str, status: Status, findings: Vec<Finding>) -> CheckResult {
        CheckResult {
            id: id.into(),
            title: "t".into(),
            category: "c".into(),
            kind: "exec".into(),
            status,
            duration_ms: 10,
            reason: None,
            findings,
            problems: vec![],
            notes: vec![],
            suppressed: vec![],
            figures: None,
        }
    }

    #[test]
    fn foreign_text_cannot_make_markup_and_nothing_is_fetched() {
        let evil = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'&";
        let f = Finding::new(
            evil,
            Severity::Error,
            Subject::new("pod", evil),
            evil,
            vec![Evidence::new(evil, evil).expected(evil)],
            evil,
        );
        let html = render_html(
            &run(vec![check(evil, Status::Failed, vec![f])]),
            ExitStatus::Failed,
            &[],
        );
        // Every tag is one of kfcheck's own: foreign text made none.
        let allowed = [
            "!doctype",
            "html",
            "head",
            "meta",
            "title",
            "style",
            "body",
            "header",
            "h1",
            "h2",
            "p",
            "span",
            "code",
            "section",
            "table",
            "thead",
            "tbody",
            "tr",
            "th",
            "td",
            "br",
            "details",
            "summary",
            "strong",
            "a",
            "ul",
            "li",
            "footer",
            "figure",
            "figcaption",
            "svg",
            "line",
            "text",
            "polyline",
            "circle",
            "rect",
            "i",
        ];
        for (i, _) in html.match_indices('<') {
            let name: String = html[i + 1..]
                .trim_start_matches('/')
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '!')
                .collect::<String>()
                .to_ascii_lowercase();
            assert!(allowed.contains(&name.as_str()), "tag <{name}> at {i}");
        }
        assert!(html.contains("&lt;script&gt;"));
        // Nothing is fetched: no URL, source or import outside the SVG namespace.
        let clean = render_html(
            &run(vec![check("a", Status::Passed, vec![])]),
            ExitStatus::Ready,
            &[],
        );
        for external in [
            "http://", "https://", "src=", "@import", "url(", "<link", "<script",
        ] {
            let hits: Vec<&str> = clean
                .match_indices(external)
                .map(|(i, _)| &clean[i.saturating_sub(30)..(i + 40).min(clean.len())])
                .filter(|ctx| !ctx.contains("http://www.w3.org/2000/svg"))
                .collect();
            assert!(hits.is_empty(), "{external}: {hits:?}");
        }
        assert!(html.contains("id=\"verdict\" class=\"verdict not-ready\""));
    }

    #[test]
    fn trends_draw_every_kept_run_and_this_one() {
        let doc = |i: u32, status: &str| -> ReportDoc {
            serde_json::from_value(serde_json::json!({
                "schema_version": 1, "run_id": format!("k{i}"), "started_at": format!("2026-12-0{i}T10:00:00Z"),
                "duration_ms": 1000 * i, "verdict": "ready",
                "checks": [{"id": "a", "status": status}, {"id": "b", "status": "passed"}],
            }))
            .unwrap()
        };
        let history = vec![doc(1, "passed"), doc(2, "failed"), doc(3, "warned")];
        let html = render_html(
            &run(vec![check("a", Status::Passed, vec![])]),
            ExitStatus::Ready,
            &history,
        );
        assert!(html.contains("Trends over the last 4 runs"), "{html}");
        let svg = &html[html.find("id=\"trend-statuses\"").unwrap()..];
        let svg = &svg[..svg.find("</svg>").unwrap()];
        assert_eq!(svg.matches("<rect").count(), 1 + 2 + 2 + 1, "{svg}");
        assert!(svg.contains("2026-12-02 10:00: 1 failed"), "{svg}");
    }

    #[test]
    fn trends_draw_each_measured_figure_over_the_runs_that_measured_it() {
        let doc = |i: u32, tflops: Option<f64>| -> ReportDoc {
            let figures = tflops.map(|t| serde_json::json!({"gpu_load": {"devices": [{"ordinal": 0, "name": "H100", "compute_tflops": t}]}}));
            serde_json::from_value(serde_json::json!({
                "schema_version": 1, "run_id": format!("k{i}"), "started_at": format!("2026-12-0{i}T10:00:00Z"),
                "duration_ms": 1000, "verdict": "ready",
                "checks": [{"id": "container-gpu", "status": "passed", "figures": figures},
                           {"id": "host-storage", "status": "passed", "figures": {"roundtrip": {"host": {"bytes": 5, "total_ms": 40.0 + f64::from(i)}}}}],
            }))
            .unwrap()
        };
        let history = vec![doc(1, Some(48.5)), doc(2, None), doc(3, Some(31.25))];
        let html = render_html(
            &run(vec![check("a", Status::Passed, vec![])]),
            ExitStatus::Ready,
            &history,
        );
        let chart = |figure: &str| {
            let at = html
                .find(&format!("data-figure=\"{figure}\""))
                .unwrap_or_else(|| panic!("no {figure} chart in {html}"));
            let rest = &html[at..];
            rest[..rest.find("</div>").unwrap()].to_string()
        };
        let gpu = chart("GPU compute, slowest device (TFLOP/s)");
        // The two runs that measured it, not the one that did not nor this run.
        assert_eq!(gpu.matches("<circle").count(), 2, "{gpu}");
        assert!(
            gpu.contains("2026-12-03 10:00: 31.2") || gpu.contains("2026-12-03 10:00: 31.3"),
            "{gpu}"
        );
        assert!(gpu.contains("container-gpu"), "{gpu}");
        let host = chart("storage round trip from the host (ms)");
        assert_eq!(host.matches("<circle").count(), 3, "{host}");
        assert!(!html.contains("data-figure=\"storage round trip from a pod (ms)\""));
    }
}
