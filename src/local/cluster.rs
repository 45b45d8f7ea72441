//! The cluster's side of `kfcheck parity`: an Argo Workflow read as a local-run manifest. The
//! Workflow may be kfcheck's raw-YAML sample, a team's own, or the one the KFP backend made for a
//! run (found by its `pipeline/runid` label). What the Workflow does not carry is listed as not
//! compared, never as equal:
//!
//! - output parameters are in the Workflow (Argo's executor reports them), so they are compared;
//! - output artifacts are in Argo's artifact repository, which kfcheck does not read;
//! - a KFP v2 run's output artifacts are in its pipeline root: the Workflow names each one's URI
//!   (in the executor input the driver hands the step through `pod-spec-patch`), and the caller
//!   fetches them ([`Read::fetch`]); its output parameters are only in ML Metadata, which kfcheck
//!   does not read. KFP's own driver pods are not the pipeline's steps and are left out.

use super::{Manifest, Output, StepRecord};
use serde_json::Value;
use std::collections::BTreeMap;

/// The label the KFP backend puts on the Workflow of each run.
pub const RUN_ID_LABEL: &str = "pipeline/runid";

/// Argo's templates for KFP v2's machinery (drivers) and a task's executor.
const KFP_DRIVERS: &[&str] = &["system-container-driver", "system-dag-driver"];
const KFP_EXECUTOR: &str = "system-container-executor";

/// An output artifact of a KFP v2 task, in its pipeline root.
#[derive(Debug, Clone, PartialEq)]
pub struct Fetch {
    pub task: String,
    /// `artifacts/<name>`.
    pub key: String,
    /// `minio://`, `s3://` or `gs://`.
    pub uri: String,
}

/// A Workflow, read.
#[derive(Debug)]
pub struct Read {
    pub manifest: Manifest,
    /// The kind of output the Workflow does not carry (`parameters` for a KFP v2 run).
    pub uncarried: Option<&'static str>,
    /// Tasks KFP served from its cache: they did not run, so they are not compared.
    pub cached: Vec<String>,
    /// KFP v2 output artifacts to fetch from the pipeline root, to fill in their digests.
    pub fetch: Vec<Fetch>,
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
    // Per task, the last attempt (retries make one Pod node each), with its artifacts.
    let mut steps: BTreeMap<String, (String, StepRecord, Vec<Fetch>)> = BTreeMap::new();
    for node in nodes.values() {
        let template = node["templateName"].as_str().unwrap_or("");
        if KFP_DRIVERS.contains(&template) {
            continue;
        }
        let kind = node["type"].as_str().unwrap_or("");
        let phase = node["phase"].as_str().unwrap_or("");
        let skipped = kind == "Skipped" || matches!(phase, "Omitted" | "Skipped");
        // A KFP v2 task that never started (after a failed one) is its executor DAG, skipped.
        let v2_not_started = kfp_v2 && template == KFP_EXECUTOR && skipped;
        if kind != "Pod" && !skipped {
            continue;
        }
        let task = if v2_not_started {
            node["displayName"].as_str().map(str::to_string)
        } else {
            task_name(node, &nodes, kfp_v2)
        };
        let Some(task) = task else {
            continue;
        };
        let started = node["startedAt"].as_str().unwrap_or("").to_string();
        let status = if skipped && kfp_v2 && !v2_not_started {
            // The driver found the task in KFP's cache: its executor did not run.
            "cached"
        } else if skipped {
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
        let fetch: Vec<Fetch> = executor_artifacts(node)
            .into_iter()
            .filter(|_| kfp_v2 && !skipped)
            .map(|(n, uri)| Fetch {
                task: task.clone(),
                key: format!("artifacts/{n}"),
                uri,
            })
            .collect();
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
            Some((s, _, _)) if *s > started => {}
            _ => {
                steps.insert(task, (started, record, fetch));
            }
        }
    }
    if kfp_v2 {
        unread.push(
            "output parameters: KFP v2 keeps them in ML Metadata, not in the Workflow".into(),
        );
    }
    for (_, r, _) in steps.values().filter(|(_, r, _)| r.status == "cached") {
        unread.push(format!("{}: served from KFP's cache, so it did not run in this run (submit with caching off, enable_caching=False, to compare it)", r.task));
    }
    let mut steps: Vec<(String, StepRecord, Vec<Fetch>)> = steps.into_values().collect();
    steps.sort_by(|a, b| a.0.cmp(&b.0));
    let fetch = steps.iter().flat_map(|s| s.2.clone()).collect();
    let cached = steps
        .iter()
        .filter(|s| s.1.status == "cached")
        .map(|s| s.1.task.clone())
        .collect();
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
            steps: steps.into_iter().map(|(_, s, _)| s).collect(),
        },
        uncarried: kfp_v2.then_some("parameters"),
        cached,
        fetch,
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

/// The output artifacts (name, URI) of a KFP v2 executor's pod: the driver resolves the task's
/// executor input and hands it to the pod as `--executor_input` in the `pod-spec-patch` input.
fn executor_artifacts(node: &Value) -> Vec<(String, String)> {
    let Some(patch) = node["inputs"]["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == "pod-spec-patch")
        .and_then(|p| p["value"].as_str())
        .and_then(|v| serde_json::from_str::<Value>(v).ok())
    else {
        return Vec::new();
    };
    let args = patch["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| {
            ["command", "args"]
                .into_iter()
                .flat_map(move |k| c[k].as_array().into_iter().flatten())
        })
        .filter_map(Value::as_str)
        .collect::<Vec<_>>();
    let Some(input) = args
        .windows(2)
        .find(|w| w[0] == "--executor_input")
        .and_then(|w| serde_json::from_str::<Value>(w[1]).ok())
    else {
        return Vec::new();
    };
    input["outputs"]["artifacts"]
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(name, list)| {
            let uri = list["artifacts"].get(0)?["uri"].as_str()?;
            Some((name.clone(), uri.to_string()))
        })
        .collect()
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
        assert_eq!(r.uncarried, None);
        assert!(r.fetch.is_empty());
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
    fn a_kfp_v2_run_gives_its_tasks_and_artifact_uris_not_the_drivers() {
        let input = json!({"inputs": {"parameterValues": {"count": 10}},
            "outputs": {"artifacts": {"numbers": {"artifacts": [{"name": "numbers", "type": {"schemaTitle": "system.Dataset"},
                "uri": "minio://mlpipeline/v2/artifacts/p/run-1/make-numbers/abc/numbers"}]}},
                "outputFile": "/tmp/kfp_outputs/output_metadata.json"}});
        let patch = json!({"containers": [{"name": "main", "image": "python:3.11-slim",
            "command": ["/kfp-launcher/launch", "--pipeline_name", "p", "--executor_input", input.to_string(), "--", "sh", "-c", "x"]}]});
        let wf = json!({
            "metadata": {"name": "p-abc", "namespace": "ns", "labels": {"pipeline/runid": "run-1"}},
            "status": {"phase": "Succeeded", "nodes": {
                "d": {"type": "Pod", "displayName": "make-numbers-driver", "templateName": "system-container-driver", "phase": "Succeeded"},
                "x": {"type": "DAG", "displayName": "make-numbers", "templateName": "system-container-executor", "phase": "Succeeded"},
                "e": {"type": "Pod", "displayName": "executor", "templateName": "system-container-impl", "boundaryID": "x",
                      "phase": "Succeeded", "outputs": {"exitCode": "0"},
                      "inputs": {"parameters": [{"name": "pod-spec-patch", "value": patch.to_string()}]}},
                "y": {"type": "DAG", "displayName": "sum-numbers", "templateName": "system-container-executor", "phase": "Succeeded"},
                "ye": {"type": "Skipped", "displayName": "executor", "templateName": "system-container-impl", "boundaryID": "y",
                       "phase": "Skipped", "message": "when 'true != true' evaluated false"},
                "z": {"type": "Skipped", "displayName": "check-total", "templateName": "system-container-executor", "phase": "Omitted"}
            }}
        });
        let r = from_workflow(&wf);
        assert_eq!(r.uncarried, Some("parameters"));
        assert_eq!(r.manifest.run_id, "run-1");
        let tasks: Vec<_> = r
            .manifest
            .steps
            .iter()
            .map(|s| (s.task.as_str(), s.status.as_str()))
            .collect();
        assert_eq!(
            tasks,
            vec![
                ("check-total", "not-run"),
                ("make-numbers", "succeeded"),
                ("sum-numbers", "cached")
            ]
        );
        assert_eq!(r.cached, vec!["sum-numbers".to_string()]);
        assert_eq!(
            r.fetch,
            vec![Fetch {
                task: "make-numbers".into(),
                key: "artifacts/numbers".into(),
                uri: "minio://mlpipeline/v2/artifacts/p/run-1/make-numbers/abc/numbers".into()
            }]
        );
        assert!(r.unread[0].contains("ML Metadata"), "{:?}", r.unread);
        assert!(
            r.unread[1].starts_with("sum-numbers: served from KFP's cache"),
            "{:?}",
            r.unread
        );
    }
}
