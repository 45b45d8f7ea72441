//! The versioned JSON report. Its types are separate from internal ones so the document only
//! changes on purpose; `schema/report.schema.json` describes it and a test validates real output.

use crate::model::{CheckResult, ExitStatus, RunReport, Summary};
use serde::Serialize;

/// Bump on any incompatible change to the document; additions keep the version.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct Doc<'a> {
    schema_version: u32,
    tool: Tool,
    run_id: &'a str,
    started_at: &'a str,
    duration_ms: u64,
    exit_code: u8,
    verdict: &'static str,
    /// Why the verdict is what it is when that is not plain from the statuses: the cluster was
    /// not examined, or how many selected checks did not run and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict_reason: Option<String>,
    /// Which cluster the run describes; null when none was examined.
    cluster: Option<&'a crate::model::ClusterIdentity>,
    summary: Summary,
    needs: Vec<Need<'a>>,
    checks: Vec<Check<'a>>,
    /// The door matrix (an addition: absent when the run covers fewer than two door/mode cells).
    #[serde(skip_serializing_if = "Option::is_none")]
    doors: Option<Doors>,
}

#[derive(Serialize)]
struct Doors {
    cells: Vec<DoorCell>,
    diagnoses: Vec<DoorDiagnosis>,
}

#[derive(Serialize)]
struct DoorCell {
    door: &'static str,
    mode: &'static str,
    state: &'static str,
    checks: Vec<DoorCheck>,
}

#[derive(Serialize)]
struct DoorCheck {
    id: String,
    status: &'static str,
}

#[derive(Serialize)]
struct DoorDiagnosis {
    pattern: &'static str,
    line: String,
}

fn doors(m: crate::model::DoorMatrix) -> Doors {
    Doors {
        cells: m
            .cells
            .into_iter()
            .map(|c| DoorCell {
                door: c.door,
                mode: c.mode,
                state: c.state.as_str(),
                checks: c
                    .checks
                    .into_iter()
                    .map(|(id, s)| DoorCheck {
                        id,
                        status: s.as_str(),
                    })
                    .collect(),
            })
            .collect(),
        diagnoses: m
            .diagnoses
            .into_iter()
            .map(|d| DoorDiagnosis {
                pattern: d.pattern,
                line: d.line,
            })
            .collect(),
    }
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: &'static str,
}

#[derive(Serialize)]
struct Need<'a> {
    name: &'a str,
    available: bool,
    state: &'a str,
    detail: &'a str,
    checks: &'a [String],
}

#[derive(Serialize)]
struct Check<'a> {
    id: &'a str,
    title: &'a str,
    category: &'a str,
    kind: &'a str,
    status: &'static str,
    duration_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    findings: Vec<Finding<'a>>,
    problems: Vec<Problem<'a>>,
    notes: &'a [String],
    /// Findings a repository config suppressed (an addition: absent when none).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    suppressed: Vec<Suppressed<'a>>,
    /// Figures the check measured, kept whole (an addition: absent when none).
    #[serde(skip_serializing_if = "Option::is_none")]
    figures: Option<&'a serde_json::Value>,
}

#[derive(Serialize)]
struct Suppressed<'a> {
    finding: Finding<'a>,
    reason: &'a str,
    by: &'a str,
}

#[derive(Serialize)]
struct Subject<'a> {
    kind: &'a str,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u64>,
}

#[derive(Serialize)]
struct Evidence<'a> {
    key: &'a str,
    observed: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    expected: Option<&'a str>,
}

#[derive(Serialize)]
struct Finding<'a> {
    rule: &'a str,
    severity: &'static str,
    message: &'a str,
    subject: Subject<'a>,
    evidence: Vec<Evidence<'a>>,
    remediation: &'a str,
    owner: Option<&'a str>,
}

#[derive(Serialize)]
struct Problem<'a> {
    subject: Subject<'a>,
    message: &'a str,
}

fn subject(s: &crate::model::Subject) -> Subject<'_> {
    Subject {
        kind: &s.kind,
        name: &s.name,
        file: s.file.as_deref(),
        line: s.line,
    }
}

fn check(c: &CheckResult) -> Check<'_> {
    Check {
        id: &c.id,
        title: &c.title,
        category: &c.category,
        kind: &c.kind,
        status: c.status.as_str(),
        duration_ms: c.duration_ms,
        reason: c.reason.as_deref(),
        findings: c.findings.iter().map(finding).collect(),
        problems: c
            .problems
            .iter()
            .map(|p| Problem {
                subject: subject(&p.subject),
                message: &p.message,
            })
            .collect(),
        notes: &c.notes,
        suppressed: c
            .suppressed
            .iter()
            .map(|s| Suppressed {
                finding: finding(&s.finding),
                reason: &s.reason,
                by: &s.by,
            })
            .collect(),
        figures: c.figures.as_ref(),
    }
}

fn finding(f: &crate::model::Finding) -> Finding<'_> {
    Finding {
        rule: &f.rule,
        severity: f.severity.as_str(),
        message: &f.message,
        subject: subject(&f.subject),
        evidence: f
            .evidence
            .iter()
            .map(|e| Evidence {
                key: &e.key,
                observed: &e.observed,
                expected: e.expected.as_deref(),
            })
            .collect(),
        remediation: &f.remediation,
        owner: f.owner.as_deref(),
    }
}

pub fn render_json(report: &RunReport, exit: ExitStatus) -> String {
    let doc = Doc {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: "kfcheck",
            version: env!("CARGO_PKG_VERSION"),
        },
        run_id: &report.run_id,
        started_at: &report.started_at,
        duration_ms: report.duration_ms,
        exit_code: exit.code(),
        verdict: exit.verdict(),
        verdict_reason: crate::model::verdict_reason(report, exit),
        cluster: report.cluster.as_ref(),
        summary: Summary::of(&report.results),
        needs: report
            .needs
            .iter()
            .map(|n| Need {
                name: &n.name,
                available: n.available,
                state: &n.state,
                detail: &n.detail,
                checks: &n.checks,
            })
            .collect(),
        checks: report.results.iter().map(check).collect(),
        doors: report.door_matrix().map(doors),
    };
    let mut s =
        serde_json::to_string_pretty(&doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}
