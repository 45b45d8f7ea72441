//! Two runs compared (`kfcheck diff OLD NEW`, `--baseline`): checks that got worse, checks that
//! were fixed, findings that are new or gone, and durations and measured figures (io-sweep
//! throughput, GPU TFLOP/s and memory GB/s, storage round-trip time) that moved beyond a
//! tolerance, each said to be better or worse where one way is. Works on the versioned JSON
//! report (any schema_version 1 document, from any kfcheck version that wrote one), so a report
//! kept by a scheduled run a year ago still compares.
//!
//! What counts as a **regression** (what a pre-upgrade gate fails on): a check that passed and
//! now warns, fails or can no longer be decided (errored, timed out, skipped); a check that warned
//! and now fails or cannot be decided; and, in a check whose status stayed the same but is not
//! passed, a finding (rule and subject) that the old run did not have. A check in only one of the runs is listed, never counted:
//! the selections differ.

use serde::Deserialize;
use std::collections::BTreeSet;
use std::path::Path;

/// The parts of a JSON report a comparison reads.
#[derive(Debug, Clone, Deserialize)]
pub struct ReportDoc {
    pub schema_version: u32,
    pub run_id: String,
    pub started_at: String,
    #[serde(default)]
    pub duration_ms: u64,
    pub verdict: String,
    #[serde(default)]
    pub exit_code: i64,
    /// Which cluster it describes (absent in older reports, null when none was examined).
    #[serde(default)]
    pub cluster: Option<crate::model::ClusterIdentity>,
    pub checks: Vec<DocCheck>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DocCheck {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub duration_ms: u64,
    #[serde(default)]
    pub findings: Vec<DocFinding>,
    /// What the check measured (`{"io_sweep": …}`).
    #[serde(default)]
    pub figures: Option<serde_json::Value>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DocFinding {
    pub rule: String,
    pub severity: String,
    pub message: String,
    pub subject: DocSubject,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DocSubject {
    pub kind: String,
    pub name: String,
}

/// Reports larger than this are refused (a report of 1,000 checks is a few MB).
const MAX_REPORT_BYTES: u64 = 256 << 20;

impl ReportDoc {
    /// Reads a kfcheck JSON report; errors name the file.
    pub fn read(path: &Path) -> Result<ReportDoc, String> {
        let shown = path.display();
        let meta = std::fs::metadata(path).map_err(|e| format!("{shown}: {e}"))?;
        if !meta.is_file() || meta.len() > MAX_REPORT_BYTES {
            return Err(format!("{shown}: not a kfcheck report file"));
        }
        let text = std::fs::read_to_string(path).map_err(|e| format!("{shown}: {e}"))?;
        ReportDoc::parse(&text).map_err(|e| format!("{shown}: {e}"))
    }

    pub fn parse(text: &str) -> Result<ReportDoc, String> {
        let doc: ReportDoc = serde_json::from_str(text)
            .map_err(|e| format!("not a kfcheck JSON report (kfcheck ... -o json): {e}"))?;
        if doc.schema_version != 1 {
            return Err(format!(
                "report schema_version {} is not one this kfcheck reads (1)",
                doc.schema_version
            ));
        }
        Ok(doc)
    }
}

/// How a check's status moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Change {
    Regressed,
    Fixed,
    Changed,
    OnlyOld,
    OnlyNew,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Regressed => "regressed",
            Change::Fixed => "fixed",
            Change::Changed => "changed",
            Change::OnlyOld => "not run now",
            Change::OnlyNew => "new check",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    pub check: String,
    pub before: Option<String>,
    pub after: Option<String>,
    pub change: Change,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingChange {
    pub check: String,
    pub rule: String,
    pub severity: String,
    pub subject: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Figure {
    pub check: String,
    pub what: &'static str,
    pub before: f64,
    pub after: f64,
    /// Whether the move is for the worse (`None` where neither way is better). Listed, never
    /// counted as a regression.
    pub worse: Option<bool>,
}

/// The comparison of two runs.
#[derive(Debug, Clone)]
pub struct Diff {
    pub statuses: Vec<StatusChange>,
    pub new_findings: Vec<FindingChange>,
    pub resolved_findings: Vec<FindingChange>,
    /// Durations (both at least a second) and measured figures that moved beyond the tolerance.
    pub figures: Vec<Figure>,
    /// Status regressions plus new findings in checks that do not pass.
    pub regressions: usize,
}

/// Good to bad: passed, warned, then everything that is not a decision, then failed.
fn rank(status: &str) -> u8 {
    match status {
        "passed" => 0,
        "warned" => 1,
        "skipped" | "errored" | "timed_out" => 2,
        _ => 3,
    }
}

fn key(f: &DocFinding) -> (String, String, String) {
    (
        f.rule.clone(),
        f.subject.kind.clone(),
        f.subject.name.clone(),
    )
}

/// Compares `old` with `new`; `tolerance` is the relative change in a duration or a measured
/// figure worth showing (0.5 = 50%).
pub fn diff(old: &ReportDoc, new: &ReportDoc, tolerance: f64) -> Diff {
    let mut statuses = Vec::new();
    let mut new_findings = Vec::new();
    let mut resolved_findings = Vec::new();
    let mut figures = Vec::new();
    let mut regressions = 0;
    let find = |doc: &ReportDoc, id: &str| doc.checks.iter().position(|c| c.id == id);
    let ids: BTreeSet<&str> = old
        .checks
        .iter()
        .chain(&new.checks)
        .map(|c| c.id.as_str())
        .collect();
    for id in ids {
        let (o, n) = (
            find(old, id).map(|i| &old.checks[i]),
            find(new, id).map(|i| &new.checks[i]),
        );
        let change = match (o, n) {
            (Some(_), None) => Some(Change::OnlyOld),
            (None, Some(_)) => Some(Change::OnlyNew),
            (Some(o), Some(n)) if o.status == n.status => None,
            (Some(o), Some(n)) if rank(&n.status) > rank(&o.status) => Some(Change::Regressed),
            (Some(o), Some(n)) if n.status == "passed" && o.status != "passed" => {
                Some(Change::Fixed)
            }
            (Some(_), Some(_)) => Some(Change::Changed),
            (None, None) => None,
        };
        let status_regressed = change == Some(Change::Regressed);
        if let Some(change) = change {
            if change == Change::Regressed {
                regressions += 1;
            }
            statuses.push(StatusChange {
                check: id.to_string(),
                before: o.map(|c| c.status.clone()),
                after: n.map(|c| c.status.clone()),
                change,
            });
        }
        let (Some(o), Some(n)) = (o, n) else { continue };
        let old_keys: BTreeSet<_> = o.findings.iter().map(key).collect();
        let new_keys: BTreeSet<_> = n.findings.iter().map(key).collect();
        let as_change = |f: &DocFinding| FindingChange {
            check: id.to_string(),
            rule: f.rule.clone(),
            severity: f.severity.clone(),
            subject: format!("{} {}", f.subject.kind, f.subject.name),
            message: f.message.clone(),
        };
        for f in n.findings.iter().filter(|f| !old_keys.contains(&key(f))) {
            // A new finding in a check that still passes is an info note, not a regression;
            // in a check whose status got worse it is part of that one regression.
            if n.status != "passed" && f.severity != "info" && !status_regressed {
                regressions += 1;
            }
            new_findings.push(as_change(f));
        }
        for f in o.findings.iter().filter(|f| !new_keys.contains(&key(f))) {
            resolved_findings.push(as_change(f));
        }
        let (b, a) = (o.duration_ms as f64 / 1000.0, n.duration_ms as f64 / 1000.0);
        if b >= 1.0 && a >= 1.0 && ((a / b) - 1.0).abs() > tolerance {
            figures.push(Figure {
                check: id.to_string(),
                what: "duration (s)",
                before: b,
                after: a,
                worse: None,
            });
        }
        for m in MEASURED {
            if let (Some(b), Some(a)) = ((m.read)(o), (m.read)(n)) {
                let moved = if m.exact {
                    a != b
                } else {
                    b > 0.0 && ((a / b) - 1.0).abs() > tolerance
                };
                if moved {
                    figures.push(Figure {
                        check: id.to_string(),
                        what: m.what,
                        before: b,
                        after: a,
                        worse: m.better.map(|better| match better {
                            Better::Higher => a < b,
                            Better::Lower => a > b,
                        }),
                    });
                }
            }
        }
    }
    Diff {
        statuses,
        new_findings,
        resolved_findings,
        figures,
        regressions,
    }
}

/// Which way a figure gets better.
#[derive(Debug, Clone, Copy)]
enum Better {
    Higher,
    Lower,
}

/// The figures that `diff` compares beyond a tolerance, for the HTML report's trends: (what, with
/// its unit in parentheses, and its reader).
pub fn trend_figures() -> impl Iterator<Item = (&'static str, fn(&DocCheck) -> Option<f64>)> {
    MEASURED
        .iter()
        .filter(|m| !m.exact)
        .map(|m| (m.what, m.read))
}

/// One figure a check measured that `diff` compares.
struct Measured {
    what: &'static str,
    read: fn(&DocCheck) -> Option<f64>,
    /// Listed on any change rather than beyond the tolerance.
    exact: bool,
    /// Which way is better, where one is (shown beside the move; never counted).
    better: Option<Better>,
}

/// The figures a check measured that `diff` compares, in the order they are listed.
const MEASURED: [Measured; 7] = [
    Measured {
        what: "io-sweep best throughput (MB/s)",
        read: |c| {
            curve(c)?
                .steps
                .iter()
                .filter(|s| s.probes_measured > 0)
                .map(|s| s.mb_per_s)
                .reduce(f64::max)
        },
        exact: false,
        better: Some(Better::Higher),
    },
    Measured {
        what: "io-sweep recommended IO-heavy pods",
        read: |c| curve(c)?.recommended_limit.map(f64::from),
        exact: true,
        better: None,
    },
    Measured {
        what: "GPU compute, slowest device (TFLOP/s)",
        read: |c| slowest_gpu(c, "compute_tflops"),
        exact: false,
        better: Some(Better::Higher),
    },
    Measured {
        what: "GPU memory, slowest device (GB/s)",
        read: |c| slowest_gpu(c, "memory_gbps"),
        exact: false,
        better: Some(Better::Higher),
    },
    Measured {
        what: "storage round trip from the host (ms)",
        read: |c| roundtrip_ms(c, "host"),
        exact: false,
        better: Some(Better::Lower),
    },
    Measured {
        what: "storage round trip from a container (ms)",
        read: |c| roundtrip_ms(c, "container"),
        exact: false,
        better: Some(Better::Lower),
    },
    Measured {
        what: "storage round trip from a pod (ms)",
        read: |c| roundtrip_ms(c, "pod"),
        exact: false,
        better: Some(Better::Lower),
    },
];

/// The lowest of a figure over the devices a GPU load measured (`figures.gpu_load.devices[]`).
fn slowest_gpu(c: &DocCheck, figure: &str) -> Option<f64> {
    c.figures
        .as_ref()?
        .pointer("/gpu_load/devices")?
        .as_array()?
        .iter()
        .filter_map(|d| d.get(figure)?.as_f64())
        .reduce(f64::min)
}

/// A round trip's total time from one place (`figures.roundtrip.<place>.total_ms`).
fn roundtrip_ms(c: &DocCheck, place: &str) -> Option<f64> {
    c.figures
        .as_ref()?
        .get("roundtrip")?
        .get(place)?
        .get("total_ms")?
        .as_f64()
}

fn curve(c: &DocCheck) -> Option<crate::model::io_curve::IoCurve> {
    serde_json::from_value(c.figures.as_ref()?.get("io_sweep")?.clone()).ok()
}

fn run_line(label: &str, d: &ReportDoc) -> String {
    format!(
        "{label} {} (run {}, verdict {}, exit {})\n     cluster: {}\n",
        d.started_at,
        d.run_id,
        d.verdict,
        d.exit_code,
        crate::model::cluster_line(d.cluster.as_ref())
    )
}

/// The comparison as text.
pub fn render_text(old: &ReportDoc, new: &ReportDoc, d: &Diff) -> String {
    let mut out = String::new();
    out.push_str(&run_line("old:", old));
    out.push_str(&run_line("new:", new));
    if let (Some(a), Some(b)) = (&old.cluster, &new.cluster) {
        if a.server != b.server || a.context != b.context {
            out.push_str("note: the two runs describe different clusters\n");
        }
    }
    if !d.statuses.is_empty() {
        out.push_str(&format!("\nChecks that changed ({})\n", d.statuses.len()));
        let w = d.statuses.iter().map(|s| s.check.len()).max().unwrap_or(0);
        for s in &d.statuses {
            out.push_str(&format!(
                "  {:<11} {:<w$}  {} -> {}\n",
                s.change.as_str(),
                s.check,
                s.before.as_deref().unwrap_or("-"),
                s.after.as_deref().unwrap_or("-"),
            ));
        }
    }
    for (title, list) in [
        ("New findings", &d.new_findings),
        ("Resolved findings", &d.resolved_findings),
    ] {
        if list.is_empty() {
            continue;
        }
        out.push_str(&format!("\n{title} ({})\n", list.len()));
        for f in list {
            out.push_str(&format!(
                "  {:<7} {}  [{}] ({})\n          {}\n",
                f.severity, f.subject, f.rule, f.check, f.message
            ));
        }
    }
    if !d.figures.is_empty() {
        out.push_str(&format!("\nFigures that moved ({})\n", d.figures.len()));
        for f in &d.figures {
            let way = match f.worse {
                Some(true) => ", worse",
                Some(false) => ", better",
                None => "",
            };
            out.push_str(&format!(
                "  {}  {}: {:.1} -> {:.1} ({:+.0}%{way})\n",
                f.check,
                f.what,
                f.before,
                f.after,
                (f.after / f.before - 1.0) * 100.0
            ));
        }
    }
    out.push_str(&format!(
        "\n{} regression(s); verdict {} -> {}\n",
        d.regressions, old.verdict, new.verdict
    ));
    out
}

/// The comparison as a JSON document.
pub fn render_json(old: &ReportDoc, new: &ReportDoc, d: &Diff) -> String {
    let run = |r: &ReportDoc| serde_json::json!({"run_id": r.run_id, "started_at": r.started_at, "verdict": r.verdict, "exit_code": r.exit_code, "cluster": r.cluster});
    let finding = |f: &FindingChange| serde_json::json!({"check": f.check, "rule": f.rule, "severity": f.severity, "subject": f.subject, "message": f.message});
    let doc = serde_json::json!({
        "old": run(old),
        "new": run(new),
        "regressions": d.regressions,
        "checks": d.statuses.iter().map(|s| serde_json::json!({
            "check": s.check, "before": s.before, "after": s.after, "change": s.change.as_str(),
        })).collect::<Vec<_>>(),
        "new_findings": d.new_findings.iter().map(finding).collect::<Vec<_>>(),
        "resolved_findings": d.resolved_findings.iter().map(finding).collect::<Vec<_>>(),
        "figures": d.figures.iter().map(|f| serde_json::json!({
            "check": f.check, "what": f.what, "before": f.before, "after": f.after, "worse": f.worse,
        })).collect::<Vec<_>>(),
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (id, status, duration ms, findings as (rule, subject))
    type Check<'a> = (&'a str, &'a str, u64, &'a [(&'a str, &'a str)]);

    fn doc(checks: &[Check]) -> ReportDoc {
        let checks: Vec<serde_json::Value> = checks
            .iter()
            .map(|(id, status, ms, findings)| {
                serde_json::json!({
                    "id": id, "status": status, "duration_ms": ms,
                    "findings": findings.iter().map(|(rule, subject)| serde_json::json!({
                        "rule": rule, "severity": "error", "message": "m",
                        "subject": {"kind": "node", "name": subject},
                    })).collect::<Vec<_>>(),
                })
            })
            .collect();
        ReportDoc::parse(
            &serde_json::json!({
                "schema_version": 1, "run_id": "r", "started_at": "t", "verdict": "ready",
                "exit_code": 0, "checks": checks,
            })
            .to_string(),
        )
        .unwrap()
    }

    #[test]
    fn regressions_fixes_and_findings() {
        let old = doc(&[
            ("a", "passed", 2000, &[]),
            ("b", "failed", 10, &[("r1", "n1")]),
            ("c", "passed", 10, &[]),
            ("d", "warned", 10, &[]),
            ("gone", "passed", 10, &[]),
            ("f", "failed", 10, &[("r1", "n1")]),
        ]);
        let new = doc(&[
            ("a", "warned", 5000, &[]),
            ("b", "passed", 10, &[]),
            ("c", "errored", 10, &[]),
            ("d", "warned", 10, &[]),
            ("added", "failed", 10, &[("r9", "x")]),
            ("f", "failed", 10, &[("r1", "n1"), ("r2", "n2")]),
        ]);
        let d = diff(&old, &new, 0.5);
        let got: Vec<(&str, Change)> = d
            .statuses
            .iter()
            .map(|s| (s.check.as_str(), s.change))
            .collect();
        assert_eq!(
            got,
            [
                ("a", Change::Regressed),
                ("added", Change::OnlyNew),
                ("b", Change::Fixed),
                ("c", Change::Regressed),
                ("gone", Change::OnlyOld),
            ]
        );
        // a and c regressed; f has a new finding while failing.
        assert_eq!(d.regressions, 3);
        assert_eq!(d.new_findings.len(), 1);
        assert_eq!(d.new_findings[0].rule, "r2");
        assert_eq!(d.resolved_findings.len(), 1);
        assert_eq!(d.resolved_findings[0].check, "b");
        assert_eq!(d.figures.len(), 1, "a's duration moved 150%");
        let text = render_text(&old, &new, &d);
        assert!(
            text.contains("regressed   a      passed -> warned"),
            "{text}"
        );
        assert!(text.contains("3 regression(s)"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&render_json(&old, &new, &d)).unwrap();
        assert_eq!(json["regressions"], 3);
        // The same run against itself: nothing.
        let same = diff(&new, &new, 0.5);
        assert!(same.statuses.is_empty() && same.regressions == 0 && same.figures.is_empty());
    }

    #[test]
    fn only_kfcheck_reports_of_schema_1_are_read() {
        assert!(ReportDoc::parse("{}")
            .unwrap_err()
            .contains("not a kfcheck JSON report"));
        let v2 =
            r#"{"schema_version":2,"run_id":"r","started_at":"t","verdict":"ready","checks":[]}"#;
        assert!(ReportDoc::parse(v2)
            .unwrap_err()
            .contains("schema_version 2"));
    }

    #[test]
    fn io_figures_that_moved_are_listed_and_other_clusters_are_said() {
        let run = |best: f64, limit: u32, server: &str| -> ReportDoc {
            let step = |c: u32, mb: f64| serde_json::json!({"concurrency": c, "probes_measured": c, "mb_per_s": mb, "mb_per_s_per_probe": mb / c as f64, "p95_ms": 10.0, "error_rate": 0.0, "throttled_429": 0, "throttled_503": 0, "throttled_per_object": 0, "bytes": 1, "overhead_ms": 0});
            serde_json::from_value(serde_json::json!({
                "schema_version": 1, "run_id": "r", "started_at": "t", "verdict": "ready",
                "cluster": {"context": "c", "server": server, "kubernetes_version": "v1.33.0"},
                "checks": [{"id": "io-sweep", "status": "passed", "figures": {"io_sweep": {
                    "from": "host", "bucket": "s3://b", "mode": "mixed", "object_bytes": 1,
                    "streams_per_probe": 1, "seconds_per_step": 1.0,
                    "steps": [step(1, best / 2.0), step(2, best)],
                    "knee_at": 2, "recommended_limit": limit}}}],
            }))
            .unwrap()
        };
        let (old, new) = (run(100.0, 4, "https://a/"), run(40.0, 2, "https://b/"));
        let d = diff(&old, &new, 0.5);
        let moved: Vec<(&str, f64, f64)> = d
            .figures
            .iter()
            .map(|f| (f.what, f.before, f.after))
            .collect();
        assert_eq!(
            moved,
            [
                ("io-sweep best throughput (MB/s)", 100.0, 40.0),
                ("io-sweep recommended IO-heavy pods", 4.0, 2.0)
            ]
        );
        let text = render_text(&old, &new, &d);
        assert!(
            text.contains("cluster: context c, https://a/, Kubernetes v1.33.0"),
            "{text}"
        );
        assert!(text.contains("different clusters"), "{text}");
        // Within the tolerance nothing is listed.
        assert!(diff(&old, &run(80.0, 4, "https://a/"), 0.5)
            .figures
            .is_empty());
    }

    use crate::model::figures_schema_allows as schema_allows;

    /// A report of three checks that measured GPU load and storage round trips.
    fn measured(tflops: [f64; 2], gbps: f64, host_ms: f64, pod_ms: f64) -> ReportDoc {
        let dev = |ordinal: u32, tflops: f64| {
            serde_json::json!({"ordinal": ordinal, "name": "NVIDIA H200", "compute_tflops": tflops,
                "memory_gbps": gbps, "host_to_device_gbps": 50.2, "device_to_host_gbps": 52.1})
        };
        let rt = |ms: f64| serde_json::json!({"bytes": 1048576, "total_ms": ms, "list_ms": 1.5, "write_ms": ms / 2.0});
        serde_json::from_value(serde_json::json!({
            "schema_version": 1, "run_id": "r", "started_at": "t", "verdict": "ready",
            "checks": [
                {"id": "container-gpu", "status": "passed", "figures": {"gpu_load": {"devices": [dev(0, tflops[0]), dev(1, tflops[1])]}}},
                {"id": "storage-host", "status": "passed", "figures": {"roundtrip": {"host": rt(host_ms)}}},
                {"id": "pod-storage", "status": "passed", "figures": {"roundtrip": {"pod": rt(pod_ms)}}},
            ],
        }))
        .unwrap()
    }

    #[test]
    fn gpu_and_round_trip_figures_that_moved_are_listed_with_their_direction() {
        let old = measured([60.0, 62.0], 4300.0, 100.0, 200.0);
        // The slowest GPU lost 30% of its compute, memory 30% of its bandwidth; the host's
        // round trip took twice as long, the pod's half as long.
        let new = measured([42.0, 61.0], 3010.0, 200.0, 100.0);
        for c in &old.checks {
            assert!(schema_allows(c.figures.as_ref().unwrap()), "{}", c.id);
        }
        let d = diff(&old, &new, 0.2);
        let moved: Vec<(&str, &str, f64, f64, Option<bool>)> = d
            .figures
            .iter()
            .map(|f| (f.check.as_str(), f.what, f.before, f.after, f.worse))
            .collect();
        assert_eq!(
            moved,
            [
                (
                    "container-gpu",
                    "GPU compute, slowest device (TFLOP/s)",
                    60.0,
                    42.0,
                    Some(true)
                ),
                (
                    "container-gpu",
                    "GPU memory, slowest device (GB/s)",
                    4300.0,
                    3010.0,
                    Some(true)
                ),
                (
                    "pod-storage",
                    "storage round trip from a pod (ms)",
                    200.0,
                    100.0,
                    Some(false)
                ),
                (
                    "storage-host",
                    "storage round trip from the host (ms)",
                    100.0,
                    200.0,
                    Some(true)
                ),
            ]
        );
        assert_eq!(
            d.regressions, 0,
            "diff lists figures, it does not count them"
        );
        let text = render_text(&old, &new, &d);
        assert!(
            text.contains(
                "container-gpu  GPU compute, slowest device (TFLOP/s): 60.0 -> 42.0 (-30%, worse)"
            ),
            "{text}"
        );
        assert!(
            text.contains(
                "pod-storage  storage round trip from a pod (ms): 200.0 -> 100.0 (-50%, better)"
            ),
            "{text}"
        );
        let json: serde_json::Value = serde_json::from_str(&render_json(&old, &new, &d)).unwrap();
        assert_eq!(json["figures"][0]["worse"], true);
        // Within the tolerance nothing is listed; a check without the figures compares nothing.
        let near = measured([57.0, 62.0], 4200.0, 110.0, 190.0);
        assert!(diff(&old, &near, 0.2).figures.is_empty());
        let mut bare = near.clone();
        for c in &mut bare.checks {
            c.figures = None;
        }
        assert!(diff(&old, &bare, 0.0).figures.is_empty());
    }
}
