//! SARIF 2.1.0 (`-o sarif`, `--report sarif=PATH`): the run's findings as static-analysis
//! results, for GitHub code scanning, GitLab, Azure DevOps and any SARIF viewer. It is made for
//! `kfcheck lint`, whose findings point at a file and a line of a compiled pipeline; a finding
//! about a cluster object has no file and is placed by a logical location (its kind and name)
//! instead. Each rule carries its fix as help text; each result its check, subject and evidence
//! as properties. Suppressed findings are listed with their suppression, as SARIF has a place for
//! them. Tests validate the output against the official SARIF 2.1.0 schema.

use crate::model::{CheckResult, ExitStatus, Finding, RunReport, Severity};
use serde_json::{json, Value};
use std::collections::BTreeMap;

const SCHEMA: &str = "https://json.schemastore.org/sarif-2.1.0.json";

fn level(s: Severity) -> &'static str {
    match s {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    }
}

/// A relative path as a SARIF artifact URI: forward slashes, no `./`.
fn uri(file: &str) -> String {
    file.replace('\\', "/").trim_start_matches("./").to_string()
}

fn result(c: &CheckResult, f: &Finding, rule_index: usize) -> Value {
    let mut r = json!({
        "ruleId": f.rule,
        "ruleIndex": rule_index,
        "level": level(f.severity),
        "message": {"text": format!("{}. Fix: {}", f.message.trim_end_matches('.'), f.remediation)},
        "properties": {
            "check": c.id,
            "subject": {"kind": f.subject.kind, "name": f.subject.name},
            "remediation": f.remediation,
            "evidence": f.evidence.iter().map(|e| json!({"key": e.key, "observed": e.observed, "expected": e.expected})).collect::<Vec<_>>(),
        },
    });
    if let Some(o) = &f.owner {
        r["properties"]["owner"] = json!(o);
    }
    r["locations"] = match &f.subject.file {
        Some(file) => {
            let mut physical = json!({"artifactLocation": {"uri": uri(file)}});
            if let Some(line) = f.subject.line.filter(|l| *l > 0) {
                physical["region"] = json!({"startLine": line});
            }
            json!([{
                "physicalLocation": physical,
                "logicalLocations": [{"name": f.subject.name, "kind": f.subject.kind}],
            }])
        }
        None => json!([{
            "logicalLocations": [{"name": f.subject.name, "kind": f.subject.kind, "fullyQualifiedName": format!("{}/{}", f.subject.kind, f.subject.name)}],
        }]),
    };
    r
}

/// The run as one SARIF log with one run.
pub fn render_sarif(report: &RunReport, exit: ExitStatus) -> String {
    // Rules in order of first use (the first finding of each gives its text): id → index.
    let mut rules: BTreeMap<String, usize> = BTreeMap::new();
    let mut rule_list: Vec<Value> = Vec::new();
    let mut results = Vec::new();
    let mut rule_of = |f: &Finding, rule_list: &mut Vec<Value>| -> usize {
        *rules.entry(f.rule.clone()).or_insert_with(|| {
            rule_list.push(json!({
                "id": f.rule,
                "shortDescription": {"text": f.message},
                "help": {"text": f.remediation},
                "defaultConfiguration": {"level": level(f.severity)},
            }));
            rule_list.len() - 1
        })
    };
    for c in &report.results {
        for f in &c.findings {
            let i = rule_of(f, &mut rule_list);
            results.push(result(c, f, i));
        }
        for s in &c.suppressed {
            let i = rule_of(&s.finding, &mut rule_list);
            let mut r = result(c, &s.finding, i);
            r["suppressions"] = json!([{
                "kind": "external",
                "justification": format!("{} (by {})", s.reason, s.by),
            }]);
            results.push(r);
        }
    }
    let doc = json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "kfcheck",
                "version": env!("CARGO_PKG_VERSION"),
                "rules": rule_list,
            }},
            "automationDetails": {"id": format!("kfcheck/{}", report.run_id)},
            "invocations": [{
                "executionSuccessful": !matches!(exit, ExitStatus::Usage | ExitStatus::Interrupted),
                "exitCode": exit.code(),
                "properties": {"verdict": exit.verdict(), "startedAt": report.started_at},
            }],
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    });
    let mut s = serde_json::to_string_pretty(&doc).unwrap_or_default();
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Evidence, Status, Subject};

    #[test]
    fn file_findings_have_a_physical_location_and_cluster_findings_a_logical_one() {
        let mut at = Subject::new("pipeline-task", "train");
        at.file = Some("./pipelines/gpu.yaml".into());
        at.line = Some(42);
        let lint = Finding::new(
            "gpu-no-toleration",
            Severity::Error,
            at,
            "task asks for a GPU without a toleration",
            vec![Evidence::new("limits", "nvidia.com/gpu: 1")],
            "Add the GPU nodes' toleration.",
        );
        let cluster = Finding::new(
            "deployment-unavailable",
            Severity::Warning,
            Subject::new("deployment", "kubeflow/ml-pipeline"),
            "deployment has no available replica",
            vec![],
            "Look at its pods.",
        );
        let c = CheckResult {
            id: "lint".into(),
            title: "t".into(),
            category: "pipelines".into(),
            kind: "pipeline-lint".into(),
            status: Status::Failed,
            duration_ms: 1,
            reason: None,
            findings: vec![lint.clone(), cluster, lint],
            problems: vec![],
            notes: vec![],
            suppressed: vec![],
            figures: None,
        };
        let report = RunReport {
            run_id: "r".into(),
            cluster: None,
            started_at: "2026-12-07T10:00:00Z".into(),
            duration_ms: 1,
            interrupted: false,
            needs: vec![],
            results: vec![c],
            doors: vec![],
        };
        let v: Value = serde_json::from_str(&render_sarif(&report, ExitStatus::Failed)).unwrap();
        let run = &v["runs"][0];
        assert_eq!(run["tool"]["driver"]["rules"].as_array().unwrap().len(), 2);
        let r = &run["results"];
        assert_eq!(r.as_array().unwrap().len(), 3);
        assert_eq!(
            r[0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
            "pipelines/gpu.yaml"
        );
        assert_eq!(
            r[0]["locations"][0]["physicalLocation"]["region"]["startLine"],
            42
        );
        assert_eq!(r[0]["level"], "error");
        assert_eq!(r[1]["level"], "warning");
        assert_eq!(r[1]["ruleIndex"], 1);
        assert_eq!(r[2]["ruleIndex"], 0);
        assert_eq!(
            r[1]["locations"][0]["logicalLocations"][0]["fullyQualifiedName"],
            "deployment/kubeflow/ml-pipeline"
        );
        assert!(r[0]["message"]["text"]
            .as_str()
            .unwrap()
            .ends_with("Fix: Add the GPU nodes' toleration."));
    }
}
