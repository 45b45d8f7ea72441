//! The io-sweep's throughput curve drawn in the terminal: one bar per step, the knee marked, and
//! the recommended limit on IO-heavy pods (from the check's `figures.io_sweep`).

use crate::model::io_curve::IoCurve;
use crate::model::RunReport;

/// Width of the longest bar, in character cells.
const BAR: usize = 32;

/// Every io-sweep curve of the run, drawn; empty when there is none.
pub(super) fn curves_section(report: &RunReport) -> String {
    let mut out = String::new();
    for r in &report.results {
        let Some(v) = r.figures.as_ref().and_then(|f| f.get("io_sweep")) else {
            continue;
        };
        let Ok(c) = serde_json::from_value::<IoCurve>(v.clone()) else {
            continue;
        };
        out.push_str(&draw(&r.id, &c));
    }
    out
}

fn draw(id: &str, c: &IoCurve) -> String {
    let mut out = format!(
        "\nIO sweep {id}: {} from {}, {} of {} objects, {} stream(s) a probe, {}s a step\n",
        c.bucket,
        c.from,
        c.mode,
        human_bytes(c.object_bytes),
        c.streams_per_probe,
        c.seconds_per_step
    );
    let top = c.steps.iter().map(|s| s.mb_per_s).fold(0.0, f64::max);
    out.push_str("  PROBES  THROUGHPUT                                   MB/S   P95 MS  ERRORS\n");
    for s in &c.steps {
        let mark = match (c.knee_at, c.knee_reason) {
            (Some(k), Some(r)) if k == s.concurrency => format!("  <- knee ({})", r.as_str()),
            _ => String::new(),
        };
        out.push_str(&format!(
            "  {:>6}  {:<w$}  {:>9.2}  {:>7.1}  {:>5.1}%{mark}\n",
            s.concurrency,
            bar(s.mb_per_s, top),
            s.mb_per_s,
            s.p95_ms,
            s.error_rate * 100.0,
            w = BAR
        ));
    }
    out.push_str(&match c.recommended_limit {
        Some(n) => format!(
            "  Recommended: at most {n} IO-heavy pods at once (kfcheck explain io-heavy-pod-limit; -v shows how to enforce it)\n"
        ),
        None if c.knee_at.is_some() => {
            "  Recommended: none; one probe alone already meets errors or throttling\n".to_string()
        }
        None => "  Recommended: none yet; throughput still scaled at the largest step\n".to_string(),
    });
    out
}

/// A bar of eighths of a cell, `BAR` cells for `top`.
fn bar(v: f64, top: f64) -> String {
    if top <= 0.0 || v <= 0.0 {
        return String::new();
    }
    let eighths = ((v / top) * (BAR * 8) as f64).round() as usize;
    let mut s = "█".repeat(eighths / 8);
    const PARTS: [&str; 8] = ["", "▏", "▎", "▍", "▌", "▋", "▊", "▉"];
    s.push_str(PARTS[eighths % 8]);
    s
}

fn human_bytes(b: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if b >= size && b % size == 0 {
            return format!("{}{unit}", b / size);
        }
    }
    format!("{b}B")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::io_curve::{IoStep, KneeReason};

    fn step(c: u32, mb: f64) -> IoStep {
        IoStep {
            concurrency: c,
            probes_measured: c,
            mb_per_s: mb,
            mb_per_s_per_probe: mb / f64::from(c),
            p95_ms: 100.0,
            error_rate: 0.0,
            throttled_429: 0,
            throttled_503: 0,
            throttled_per_object: 0,
            bytes: 1,
            overhead_ms: 0,
        }
    }

    #[test]
    fn bars_scale_to_the_top_step_and_the_knee_is_marked() {
        let c = IoCurve {
            from: "pod".into(),
            bucket: "s3://mlpipeline".into(),
            mode: "mixed".into(),
            object_bytes: 4 << 20,
            streams_per_probe: 1,
            seconds_per_step: 10.0,
            steps: vec![step(1, 10.0), step(2, 20.0), step(4, 40.0), step(8, 40.0)],
            knee_at: Some(8),
            knee_reason: Some(KneeReason::Throughput),
            recommended_limit: Some(4),
        };
        let text = draw("io-sweep", &c);
        let lines: Vec<&str> = text.lines().collect();
        assert!(
            lines[1].contains("s3://mlpipeline from pod, mixed of 4MiB objects"),
            "{text}"
        );
        assert_eq!(lines[3].matches('█').count(), 8, "{text}");
        assert_eq!(lines[5].matches('█').count(), BAR, "{text}");
        assert!(lines[6].ends_with("<- knee (throughput)"), "{text}");
        assert!(text.contains("at most 4 IO-heavy pods"), "{text}");
        assert_eq!(bar(0.0, 10.0), "");
        assert_eq!(bar(1.0, 16.0), "██");
    }
}
