//! The raw-YAML door's fallback where Argo is not installed: kfcheck's sample as a plain
//! Kubernetes Job in the profile, so that "raw YAML" still answers whether pods run there (and,
//! in GPU mode, land on a GPU node and see a GPU). Built from the same sample Workflow the door
//! would have run: the GPU step's container, node selector and tolerations as they are (with the
//! check's `gpu:` settings applied), and for CPU the sample's three steps in one container, with
//! the same check of the total.

use super::outcome::{RunResult, StepResult};
use super::Mode;
use crate::clients::kfp_spec::RunState;
use crate::clients::redact::redact;
use k8s_openapi::api::core::v1::Pod;
use serde_json::{json, Value};
use std::time::Duration;

/// The label the Job controller puts on a Job's pods.
pub const JOB_NAME_LABEL: &str = "batch.kubernetes.io/job-name";

/// The CPU sample's work in one step: 1..count, their sum, and the sum checked.
const CPU_SCRIPT: &str = r#"import sys
count = int(float(sys.argv[1]))
numbers = list(range(1, count + 1))
total = sum(numbers)
if total != count * (count + 1) // 2:
    sys.exit(f"kfcheck: the total {total} is wrong for count {count}")
print(f"kfcheck: cpu sample ok (count {count}, total {total})")
"#;

/// The Job for `workflow` (kfcheck's sample, as the door would have submitted it), or why none
/// can be made from it.
pub fn sample_job(
    workflow: &Value,
    mode: Mode,
    name: &str,
    namespace: &str,
    service_account: &str,
    labels: &serde_json::Map<String, Value>,
) -> Result<Value, String> {
    let templates = workflow["spec"]["templates"]
        .as_array()
        .ok_or("the sample has no templates")?;
    let first_container = templates
        .iter()
        .find(|t| t["container"].is_object())
        .ok_or("the sample has no container step")?;
    let mut pod = json!({
        "serviceAccountName": service_account,
        "restartPolicy": "Never",
    });
    let container = match mode {
        Mode::Gpu => {
            let t = first_container;
            for key in ["nodeSelector", "tolerations", "affinity"] {
                if !t[key].is_null() {
                    pod[key] = t[key].clone();
                }
            }
            let mut c = t["container"].clone();
            c["name"] = json!("main");
            c
        }
        Mode::Cpu => {
            let count = workflow["spec"]["arguments"]["parameters"]
                .as_array()
                .and_then(|ps| ps.iter().find(|p| p["name"] == "count"))
                .and_then(|p| p["value"].as_str())
                .unwrap_or("10");
            json!({
                "name": "main",
                "image": first_container["container"]["image"],
                "command": ["python3", "-c", CPU_SCRIPT, count],
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
            })
        }
    };
    pod["containers"] = json!([container]);
    Ok(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            // One try: a failure is the answer, not something to retry.
            "backoffLimit": 0,
            "activeDeadlineSeconds": workflow["spec"]["activeDeadlineSeconds"].as_u64().unwrap_or(3600),
            "template": {"metadata": {"labels": labels, "annotations": workflow["spec"]["podMetadata"]["annotations"]}, "spec": pod},
        },
    }))
}

/// The Job's state as a Workflow phase: `Succeeded` or `Failed` once the Job controller says
/// so (Complete, Failed), `Running` once it started, else empty.
pub fn job_phase(job: &Value) -> &'static str {
    let cond = |t: &str| {
        job["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == t && c["status"] == "True"))
    };
    if cond("Complete") {
        "Succeeded"
    } else if cond("Failed") {
        "Failed"
    } else if !job["status"]["startTime"].is_null() {
        "Running"
    } else {
        ""
    }
}

/// The run as the verdict reads it: one step per pod of the Job.
pub fn job_result(
    job: &Value,
    pods: &[Pod],
    name: &str,
    finished: bool,
    waited: Duration,
    gpu_seen: Option<bool>,
) -> RunResult {
    let phase = job_phase(job);
    let steps = pods
        .iter()
        .map(|p| {
            let text = p
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Pending".into());
            let terminated = p
                .status
                .as_ref()
                .and_then(|s| s.container_statuses.as_ref())
                .and_then(|cs| cs.iter().find(|c| c.name == "main"))
                .and_then(|c| c.state.as_ref()?.terminated.clone());
            StepResult {
                name: "kfcheck-sample".into(),
                state: RunState::parse(Some(&text)),
                state_text: text,
                leaf: true,
                exit_code: terminated.as_ref().map(|t| t.exit_code),
                message: super::not_scheduled(p)
                    .map(|c| redact(c.message.as_deref().unwrap_or("not scheduled")))
                    .or_else(|| terminated.and_then(|t| t.message).map(|m| redact(&m))),
                pod: p.metadata.name.clone(),
                node: p.spec.as_ref().and_then(|s| s.node_name.clone()),
            }
        })
        .collect();
    let failed_message = job["status"]["conditions"].as_array().and_then(|cs| {
        cs.iter()
            .find(|c| c["type"] == "Failed" && c["status"] == "True")
            .and_then(|c| c["message"].as_str())
            .map(redact)
    });
    RunResult {
        door: "argo",
        run: format!("Job {name}"),
        run_id: name.to_string(),
        finished,
        state: if phase.is_empty() {
            RunState::Pending
        } else {
            RunState::parse(Some(phase))
        },
        message: failed_message,
        steps,
        scheduled: Some(
            pods.iter()
                .any(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some()),
        ),
        gpu_seen,
        gpu_probe: None,
        waited,
        polls: 0,
        pods: format!("{JOB_NAME_LABEL}={name}"),
        failure: None,
        notes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels() -> serde_json::Map<String, Value> {
        json!({"app.kubernetes.io/managed-by": "kfcheck"})
            .as_object()
            .cloned()
            .unwrap()
    }

    #[test]
    fn the_gpu_job_keeps_the_gpu_step_and_the_cpu_job_does_the_samples_work() {
        let load = |mode, params: serde_json::Value| {
            super::super::argo::WorkflowSample::load(
                &crate::assets::SuiteBase::Embedded,
                None,
                mode,
                None,
                params.as_object().unwrap(),
            )
            .unwrap()
            .manifest
        };
        let gpu = load(Mode::Gpu, json!({}));
        let j = sample_job(&gpu, Mode::Gpu, "j", "ns", "default-editor", &labels()).unwrap();
        let pod = &j["spec"]["template"]["spec"];
        assert_eq!(pod["serviceAccountName"], "default-editor");
        assert_eq!(
            pod["nodeSelector"]["cloud.google.com/gke-accelerator"],
            "nvidia-l4"
        );
        assert_eq!(
            pod["containers"][0]["resources"]["limits"]["nvidia.com/gpu"],
            "1"
        );
        assert_eq!(j["spec"]["backoffLimit"], 0);
        let cpu = load(Mode::Cpu, json!({"count": 7}));
        let j = sample_job(&cpu, Mode::Cpu, "j", "ns", "sa", &labels()).unwrap();
        let c = &j["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["command"][3], "7");
        assert_eq!(c["image"], "python:3.11-slim");
        assert!(j["spec"]["template"]["spec"]["nodeSelector"].is_null());
        assert_eq!(
            j["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/managed-by"],
            "kfcheck"
        );
    }

    #[test]
    fn the_phase_follows_the_job_controllers_conditions() {
        assert_eq!(job_phase(&json!({})), "");
        assert_eq!(job_phase(&json!({"status": {"startTime": "t"}})), "Running");
        let done = |t: &str| json!({"status": {"startTime": "t", "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": t, "status": "True"}]}});
        assert_eq!(job_phase(&done("Complete")), "Succeeded");
        assert_eq!(job_phase(&done("Failed")), "Failed");
        // SuccessCriteriaMet alone is not the end yet.
        assert_eq!(
            job_phase(
                &json!({"status": {"startTime": "t", "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}]}})
            ),
            "Running"
        );
    }
}
