//! The cluster's side of `kfcheck parity`: an Argo Workflow read as a local-run manifest. The
//! Workflow may be kfcheck's raw-YAML sample, a team's own, or the one the KFP backend made for a
//! run (found by its `pipeline/runid` label). What the Workflow does not carry is listed as not
//! compared, never as equal:
//!
//! - output parameters are in the Workflow (Argo's executor reports them), so they are compared;
//! - output artifacts are in Argo's artifact repository, which kfcheck does not read;
//! - a KFP v2 run's outputs are in the pipeline root and ML Metadata, not in the Workflow: its
//!   tasks' states and exit codes are compared, their outputs are not. KFP's own driver pods are
//!   not the pipeline's steps and are left out.

use super::{Manifest, Output, StepRecord};
use serde_json::Value;
use std::collections::BTreeMap;

/// The label the KFP backend puts on the Workflow of each run.
pub const RUN_ID_LABEL: &str = "pipeline/runid";

/// Argo's templates for KFP v2's machinery (drivers) and a task's executor.
const KFP_DRIVERS: &[&str] = &["system-container-driver", "system-dag-driver"];
const KFP_EXECUTOR: &str = "system-container-executor";

/// A Workflow, read.
#[derive(Debug)]
pub struct Read {
    pub manifest: Manifest,
    /// Compare outputs at all (not for a KFP v2 run: the Workflow does not carry them).
    pub outputs_readable: bool,
    /// What is in the cluster but not compared, with why.
    pub unread: Vec<String>,
}

/// Reads a Workflow object (as the API serves it) as a manifest.
pub fn from_workflow(wf: &Value) -> Read {
    let name = wf["metadata"]["name"].as_str().unwrap_or("").to_string();
    let namespace = wf["metadata"]["namespace"].as_str().unwrap_or("");
    let nodes = wf["status"]["nodes"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let kfp_v2 = nodes
        .values()
        .any(|n| n["templateName"].as_str() == Some(KFP_EXECUTOR));
    let mut unread = Vec::new();
    // Per task, the last attempt (retries make one Pod node each).
    let mut steps: BTreeMap<String, (String, StepRecord)> = BTreeMap::new();
    for node in nodes.values() {
        let template = node["templateName"].as_str().unwrap_or("");
        if KFP_DRIVERS.contains(&template) {
            continue;
        }
        let kind = node["type"].as_str().unwrap_or("");
        let phase = node["phase"].as_str().unwrap_or("");
        let skipped = kind == "Skipped" || matches!(phase, "Omitted" | "Skipped");
        if kind != "Pod" && !skipped {
            continue;
        }
        let Some(task) = task_name(node, &nodes, kfp_v2) else {
            continue;
        };
        let started = node["startedAt"].as_str().unwrap_or("").to_string();
        let status = if skipped {
            "not-run"
        } else {
            match phase {
                "Succeeded" => "succeeded",
                "Failed" | "Error" => "failed",
                _ => "running",
            }
        };
        let mut outputs = BTreeMap::new();
        for p in node["outputs"]["parameters"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let (Some(n), Some(v)) = (p["name"].as_str(), p["value"].as_str()) else {
                continue;
            };
            outputs.insert(
                format!("parameters/{n}"),
                Output {
                    path: format!("{task}: parameter {n}"),
                    sha256: Some(super::sha256_hex(v.as_bytes())),
                    bytes: v.len() as u64,
                    value: Some(v.to_string()),
                },
            );
        }
        for a in node["outputs"]["artifacts"]
            .as_array()
            .into_iter()
            .flatten()
        {
            match a["name"].as_str() {
                Some("main-logs") | None => {}
                Some(n) => unread.push(format!(
                    "{task}: artifact {n} is in Argo's artifact repository, which kfcheck does not read"
                )),
            }
        }
        let record = StepRecord {
            task: task.clone(),
            image: template.to_string(),
            status: status.into(),
            exit_code: node["outputs"]["exitCode"]
                .as_str()
                .and_then(|c| c.parse().ok()),
            duration_ms: duration_ms(node).unwrap_or(0),
            gpu_requested: false,
            gpu_given: false,
            log: None,
            log_tail: None,
            error: node["message"]
                .as_str()
                .filter(|m| status == "failed" && !m.is_empty())
                .map(crate::clients::redact::redact),
            outputs,
        };
        match steps.get(&task) {
            Some((s, _)) if *s > started => {}
            _ => {
                steps.insert(task, (started, record));
            }
        }
    }
    if kfp_v2 {
        unread.push("the run's outputs: KFP v2 keeps them in the pipeline root and ML Metadata, not in the Workflow; only each task's state and exit code are compared".into());
    }
    let mut steps: Vec<(String, StepRecord)> = steps.into_values().collect();
    steps.sort_by(|a, b| a.0.cmp(&b.0));
    let parameters = wf["spec"]["arguments"]["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p["name"].as_str()?.to_string(),
                p["value"].as_str().unwrap_or("").to_string(),
            ))
        })
        .collect();
    Read {
        manifest: Manifest {
            schema_version: 1,
            pipeline: name.clone(),
            file: format!("Workflow {namespace}/{name}"),
            run_id: wf["metadata"]["labels"][RUN_ID_LABEL]
                .as_str()
                .or(wf["metadata"]["uid"].as_str())
                .unwrap_or("")
                .to_string(),
            started_at: wf["status"]["startedAt"].as_str().unwrap_or("").to_string(),
            status: match wf["status"]["phase"].as_str() {
                Some("Succeeded") => "succeeded",
                Some("Failed" | "Error") => "failed",
                _ => "running",
            }
            .into(),
            parameters,
            steps: steps.into_iter().map(|(_, s)| s).collect(),
        },
        outputs_readable: !kfp_v2,
        unread,
    }
}

/// The pipeline task a Pod (or skipped) node is: a KFP v2 executor's task is its parent DAG (the
/// node whose template is `system-container-executor`); otherwise the node's own name, without
/// a retry's `(N)`.
fn task_name(node: &Value, nodes: &serde_json::Map<String, Value>, kfp_v2: bool) -> Option<String> {
    if kfp_v2 {
        let parent = nodes.get(node["boundaryID"].as_str()?)?;
        return (parent["templateName"].as_str() == Some(KFP_EXECUTOR))
            .then(|| parent["displayName"].as_str().map(str::to_string))
            .flatten();
    }
    let shown = node["displayName"].as_str()?;
    let shown = match shown.rfind('(') {
        Some(i) if shown.ends_with(')') && shown[i + 1..shown.len() - 1].parse::<u32>().is_ok() => {
            &shown[..i]
        }
        _ => shown,
    };
    Some(shown.to_string())
}

fn duration_ms(node: &Value) -> Option<u64> {
    let at = |k: &str| humantime::parse_rfc3339(node[k].as_str()?).ok();
    Some(
        at("finishedAt")?
            .duration_since(at("startedAt")?)
            .ok()?
            .as_millis() as u64,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_raw_workflow_gives_its_tasks_parameters_and_the_last_retry() {
        let wf = json!({
            "metadata": {"name": "wf", "namespace": "ns", "uid": "u1"},
            "spec": {"arguments": {"parameters": [{"name": "count", "value": "10"}]}},
            "status": {"phase": "Failed", "startedAt": "2026-01-01T00:00:00Z", "nodes": {
                "wf": {"type": "DAG", "displayName": "wf", "phase": "Failed"},
                "a": {"type": "Pod", "displayName": "make-numbers", "templateName": "make-numbers", "phase": "Succeeded",
                      "startedAt": "2026-01-01T00:00:00Z", "finishedAt": "2026-01-01T00:00:02Z",
                      "outputs": {"exitCode": "0", "parameters": [{"name": "numbers", "value": "1\n2"}],
                                  "artifacts": [{"name": "main-logs"}, {"name": "model"}]}},
                "b0": {"type": "Pod", "displayName": "sum-numbers(0)", "templateName": "sum-numbers", "phase": "Failed",
                       "startedAt": "2026-01-01T00:00:03Z", "message": "Error (exit code 1)", "outputs": {"exitCode": "1"}},
                "b1": {"type": "Pod", "displayName": "sum-numbers(1)", "templateName": "sum-numbers", "phase": "Failed",
                       "startedAt": "2026-01-01T00:00:05Z", "message": "Error (exit code 2)", "outputs": {"exitCode": "2"}},
                "c": {"type": "Skipped", "displayName": "check-total", "phase": "Omitted"}
            }}
        });
        let r = from_workflow(&wf);
        assert!(r.outputs_readable);
        let m = &r.manifest;
        assert_eq!(m.status, "failed");
        assert_eq!(m.parameters["count"], "10");
        let by: BTreeMap<_, _> = m.steps.iter().map(|s| (s.task.as_str(), s)).collect();
        assert_eq!(by["make-numbers"].duration_ms, 2000);
        assert_eq!(
            by["make-numbers"].outputs["parameters/numbers"]
                .value
                .as_deref(),
            Some("1\n2")
        );
        assert_eq!(by["sum-numbers"].exit_code, Some(2));
        assert_eq!(by["check-total"].status, "not-run");
        assert_eq!(r.unread.len(), 1, "{:?}", r.unread);
        assert!(r.unread[0].contains("artifact model"), "{:?}", r.unread);
    }

    #[test]
    fn a_kfp_v2_run_gives_its_tasks_not_the_drivers_and_says_outputs_are_unread() {
        let wf = json!({
            "metadata": {"name": "p-abc", "namespace": "ns", "labels": {"pipeline/runid": "run-1"}},
            "status": {"phase": "Succeeded", "nodes": {
                "d": {"type": "Pod", "displayName": "add-driver", "templateName": "system-container-driver", "phase": "Succeeded"},
                "x": {"type": "DAG", "displayName": "add", "templateName": "system-container-executor", "phase": "Succeeded"},
                "e": {"type": "Pod", "displayName": "executor", "templateName": "system-container-impl", "boundaryID": "x",
                      "phase": "Succeeded", "outputs": {"exitCode": "0"}}
            }}
        });
        let r = from_workflow(&wf);
        assert!(!r.outputs_readable);
        assert_eq!(r.manifest.run_id, "run-1");
        let tasks: Vec<_> = r.manifest.steps.iter().map(|s| s.task.as_str()).collect();
        assert_eq!(tasks, vec!["add"]);
        assert_eq!(r.manifest.steps[0].exit_code, Some(0));
        assert!(r.unread[0].contains("ML Metadata"), "{:?}", r.unread);
    }
}
