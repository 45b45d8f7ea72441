//! Prometheus text exposition (format 0.0.4) of one run: for node-exporter's textfile collector
//! (`--report prometheus=/var/lib/node_exporter/textfile/kfcheck.prom`, written atomically) and
//! for a Pushgateway (`--push-gateway URL`). Every metric is a gauge named `kfcheck_…`; the names
//! and labels are documented in `docs/metrics.md` and checked there by a test, so a dashboard or
//! an alert can rely on them. Samples carry no timestamps (the Pushgateway refuses them and the
//! textfile collector ignores them): `kfcheck_run_timestamp_seconds` says when the run started.

use crate::model::{CheckResult, ExitStatus, RunReport, Severity, Status};
use std::fmt::Write as _;

/// Every metric family kfcheck exposes: (name, help). The order is the output's.
pub const METRICS: &[(&str, &str)] = &[
    ("kfcheck_run_info", "The run that these figures come from (always 1): its id, verdict and kfcheck's version."),
    ("kfcheck_cluster_info", "The cluster the run describes (always 1; absent when none was examined): its kubeconfig context, API server and versions."),
    ("kfcheck_run_timestamp_seconds", "When the run started, in seconds since the Unix epoch."),
    ("kfcheck_run_duration_seconds", "How long the whole run took."),
    ("kfcheck_run_exit_code", "The run's exit code: 0 ready, 1 not ready, 2 usage error, 3 undecided, 4 nothing selected, 130 interrupted."),
    ("kfcheck_ready", "1 when the verdict is ready, else 0."),
    ("kfcheck_checks", "How many checks of the run ended in each status."),
    ("kfcheck_check_status", "1 for the status each check ended in, 0 for the others."),
    ("kfcheck_check_duration_seconds", "How long each check took."),
    ("kfcheck_check_findings", "Each check's findings by severity (suppressed ones not counted)."),
    ("kfcheck_io_sweep_throughput_bytes_per_second", "An io-sweep's aggregate throughput (bytes per second, all probes together) at each concurrency."),
    ("kfcheck_io_sweep_p95_latency_seconds", "An io-sweep's slowest probe's p95 request latency at each concurrency."),
    ("kfcheck_io_sweep_error_ratio", "An io-sweep's failed or throttled requests over all requests at each concurrency."),
    ("kfcheck_io_sweep_recommended_pods", "The most IO-heavy pods an io-sweep recommends running at once (absent when it found no knee)."),
];

const STATUSES: [Status; 6] = [
    Status::Passed,
    Status::Warned,
    Status::Failed,
    Status::Skipped,
    Status::Errored,
    Status::TimedOut,
];

/// A label value as the text format wants it: backslash, double quote and line feed escaped.
fn escape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// A number as the text format writes it (integers without a fraction, `NaN` and `±Inf` by name).
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        }
    } else if v == v.trunc() && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// One family's samples, written under its HELP and TYPE lines.
struct Family<'a> {
    out: &'a mut String,
    name: &'static str,
}

impl Family<'_> {
    fn sample(&mut self, labels: &[(&str, &str)], value: f64) {
        let _ = write!(self.out, "{}", self.name);
        if !labels.is_empty() {
            let inner: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(self.out, "{{{}}}", inner.join(","));
        }
        let _ = writeln!(self.out, " {}", number(value));
    }
}

fn family<'a>(out: &'a mut String, name: &'static str) -> Family<'a> {
    let help = METRICS
        .iter()
        .find(|(n, _)| *n == name)
        .map_or("", |(_, h)| h);
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} gauge");
    Family { out, name }
}

/// Seconds since the epoch of an RFC 3339 time, if it is one.
fn epoch_seconds(rfc3339: &str) -> Option<f64> {
    humantime::parse_rfc3339_weak(rfc3339.trim_end_matches('Z'))
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
}

/// The io-sweep curves among a run's results: (check, curve).
fn curves(report: &RunReport) -> Vec<(&CheckResult, crate::model::io_curve::IoCurve)> {
    report
        .results
        .iter()
        .filter_map(|c| {
            let v = c.figures.as_ref()?.get("io_sweep")?.clone();
            serde_json::from_value(v).ok().map(|curve| (c, curve))
        })
        .collect()
}

/// The run as Prometheus text.
pub fn render_prometheus(report: &RunReport, exit: ExitStatus) -> String {
    let mut out = String::new();
    let version = env!("CARGO_PKG_VERSION");
    family(&mut out, "kfcheck_run_info").sample(
        &[
            ("run_id", &report.run_id),
            ("verdict", exit.verdict()),
            ("version", version),
        ],
        1.0,
    );
    if let Some(c) = &report.cluster {
        family(&mut out, "kfcheck_cluster_info").sample(
            &[
                ("context", c.context.as_deref().unwrap_or("")),
                ("server", &c.server),
                ("kubernetes_version", &c.kubernetes_version),
                ("kfp_version", c.kfp_version.as_deref().unwrap_or("")),
            ],
            1.0,
        );
    }
    if let Some(t) = epoch_seconds(&report.started_at) {
        family(&mut out, "kfcheck_run_timestamp_seconds").sample(&[], t);
    }
    family(&mut out, "kfcheck_run_duration_seconds")
        .sample(&[], report.duration_ms as f64 / 1000.0);
    family(&mut out, "kfcheck_run_exit_code").sample(&[], f64::from(exit.code()));
    family(&mut out, "kfcheck_ready").sample(&[], f64::from(u8::from(exit == ExitStatus::Ready)));
    let mut f = family(&mut out, "kfcheck_checks");
    for s in STATUSES {
        let n = report.results.iter().filter(|c| c.status == s).count();
        f.sample(&[("status", s.as_str())], n as f64);
    }
    let mut f = family(&mut out, "kfcheck_check_status");
    for c in &report.results {
        for s in STATUSES {
            f.sample(
                &[
                    ("check", &c.id),
                    ("category", &c.category),
                    ("status", s.as_str()),
                ],
                f64::from(u8::from(c.status == s)),
            );
        }
    }
    let mut f = family(&mut out, "kfcheck_check_duration_seconds");
    for c in &report.results {
        f.sample(
            &[("check", &c.id), ("category", &c.category)],
            c.duration_ms as f64 / 1000.0,
        );
    }
    let mut f = family(&mut out, "kfcheck_check_findings");
    for c in &report.results {
        for sev in [Severity::Error, Severity::Warning, Severity::Info] {
            let n = c.findings.iter().filter(|x| x.severity == sev).count();
            f.sample(&[("check", &c.id), ("severity", sev.as_str())], n as f64);
        }
    }
    let curves = curves(report);
    if !curves.is_empty() {
        type Figure = fn(&crate::model::io_curve::IoStep) -> f64;
        let per_step: [(&'static str, Figure); 3] = [
            ("kfcheck_io_sweep_throughput_bytes_per_second", |s| {
                s.mb_per_s * 1e6
            }),
            ("kfcheck_io_sweep_p95_latency_seconds", |s| {
                s.p95_ms / 1000.0
            }),
            ("kfcheck_io_sweep_error_ratio", |s| s.error_rate),
        ];
        for (name, value) in per_step {
            let mut f = family(&mut out, name);
            for (c, curve) in &curves {
                for s in curve.steps.iter().filter(|s| s.probes_measured > 0) {
                    let n = s.concurrency.to_string();
                    f.sample(
                        &[("check", &c.id), ("from", &curve.from), ("concurrency", &n)],
                        value(s),
                    );
                }
            }
        }
        let limits: Vec<_> = curves
            .iter()
            .filter_map(|(c, curve)| curve.recommended_limit.map(|n| (c, curve, n)))
            .collect();
        if !limits.is_empty() {
            let mut f = family(&mut out, "kfcheck_io_sweep_recommended_pods");
            for (c, curve, n) in limits {
                f.sample(&[("check", &c.id), ("from", &curve.from)], f64::from(n));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_and_numbers_written_plainly() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(0.25), "0.25");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(epoch_seconds("1970-01-01T00:01:00Z"), Some(60.0));
    }

    #[test]
    fn every_family_written_is_documented_once() {
        let mut names: Vec<&str> = METRICS.iter().map(|(n, _)| *n).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), METRICS.len());
        for (n, h) in METRICS {
            assert!(n.starts_with("kfcheck_") && !h.is_empty(), "{n}");
        }
    }

    #[test]
    fn the_documented_table_names_every_metric_and_only_those() {
        let doc = include_str!("../../docs/metrics.md");
        let documented: Vec<&str> = doc
            .lines()
            .filter_map(|l| l.strip_prefix("| `kfcheck_"))
            .filter_map(|l| l.split('`').next())
            .collect();
        let mut named: Vec<String> = METRICS
            .iter()
            .map(|(n, _)| n.trim_start_matches("kfcheck_").to_string())
            .collect();
        named.sort();
        let mut documented: Vec<String> = documented.iter().map(|s| s.to_string()).collect();
        documented.sort();
        assert_eq!(documented, named);
    }
}
