//! Pure helpers for what kfcheck sends to and reads from the KFP API: compiled pipeline specs
//! (one or two YAML documents) and how a run carries them, GPU mode injected into a copy of a
//! spec, run states, version numbers and error bodies. No I/O here; all of it is unit-tested.

use super::redact::redact;
use serde_json::{json, Map, Value};

/// A compiled KFP v2 pipeline: the PipelineSpec and, when the pipeline sets Kubernetes options,
/// the platform spec (the YAML's second document).
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledSpec {
    pub pipeline: Value,
    pub platform: Option<Value>,
}

impl CompiledSpec {
    /// Parses compiled YAML (`# PIPELINE DEFINITION` header, one or two documents).
    pub fn from_yaml(text: &str) -> Result<CompiledSpec, String> {
        let mut pipeline = None;
        let mut platform = None;
        for doc in serde_yaml_ng::Deserializer::from_str(text) {
            let v: Value =
                serde::Deserialize::deserialize(doc).map_err(|e| format!("not valid YAML: {e}"))?;
            if v.is_null() {
                continue;
            }
            // The API server tells the platform document by its content, and so do we.
            if v.get("platforms").is_some() && platform.is_none() {
                platform = Some(v);
            } else if pipeline.is_none() {
                pipeline = Some(v);
            } else {
                return Err("more than one pipeline document".into());
            }
        }
        let pipeline = pipeline.ok_or("no pipeline document")?;
        if pipeline.get("root").is_none() || pipeline.get("pipelineInfo").is_none() {
            return Err("not a KFP v2 pipeline spec (no root or pipelineInfo)".into());
        }
        Ok(CompiledSpec { pipeline, platform })
    }

    /// A spec as the server returns it in `PipelineVersion.pipeline_spec`: bare, or wrapped as
    /// `{"pipeline_spec": …, "platform_spec": …}`.
    pub fn from_served(v: &Value) -> Result<CompiledSpec, String> {
        match v.get("pipeline_spec") {
            Some(inner) => Ok(CompiledSpec {
                pipeline: inner.clone(),
                platform: v.get("platform_spec").filter(|p| !p.is_null()).cloned(),
            }),
            None if v.get("root").is_some() => Ok(CompiledSpec {
                pipeline: v.clone(),
                platform: None,
            }),
            None => Err("the server returned no pipeline spec for this version".into()),
        }
    }

    /// The value of `Run.pipeline_spec`: the bare spec, or both documents nested in the wrapper
    /// the SDK sends and the server unpacks (never a merge of the two).
    pub fn for_run(&self) -> Value {
        match &self.platform {
            None => self.pipeline.clone(),
            Some(p) => json!({ "pipeline_spec": self.pipeline, "platform_spec": p }),
        }
    }

    /// The spec as YAML for the multipart upload (documents joined with `---`).
    pub fn to_yaml(&self) -> Result<String, String> {
        let mut out = serde_yaml_ng::to_string(&self.pipeline).map_err(|e| e.to_string())?;
        if let Some(p) = &self.platform {
            out.push_str("---\n");
            out.push_str(&serde_yaml_ng::to_string(p).map_err(|e| e.to_string())?);
        }
        Ok(out)
    }

    pub fn name(&self) -> Option<&str> {
        self.pipeline
            .pointer("/pipelineInfo/name")
            .and_then(Value::as_str)
    }

    /// `sdkVersion: kfp-2.17.3` → `2.17.3`.
    pub fn sdk_version(&self) -> Option<Version> {
        self.pipeline
            .get("sdkVersion")
            .and_then(Value::as_str)
            .and_then(|s| Version::parse(s.trim_start_matches("kfp-")))
    }

    fn executors(&self) -> Option<&Map<String, Value>> {
        self.pipeline
            .pointer("/deploymentSpec/executors")
            .and_then(Value::as_object)
    }

    /// Executor labels whose resources are set only through the string fields
    /// (`resourceCpuLimit`, `accelerator.resourceType`, …) with no deprecated numeric twin: a
    /// server that reads only the older fields silently drops these requests.
    pub fn string_only_resources(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (label, exec) in self.executors().into_iter().flatten() {
            let Some(r) = exec.pointer("/container/resources") else {
                continue;
            };
            let pairs = [
                ("resourceCpuLimit", "cpuLimit"),
                ("resourceCpuRequest", "cpuRequest"),
                ("resourceMemoryLimit", "memoryLimit"),
                ("resourceMemoryRequest", "memoryRequest"),
            ];
            let mut missing: Vec<&str> = pairs
                .iter()
                .filter(|(new, old)| r.get(new).is_some() && r.get(old).is_none())
                .map(|(new, _)| *new)
                .collect();
            if let Some(a) = r.get("accelerator") {
                if a.get("resourceType").is_some() && a.get("type").is_none() {
                    missing.push("accelerator.resourceType");
                }
            }
            if !missing.is_empty() {
                out.push(format!("{label} ({})", missing.join(", ")));
            }
        }
        out
    }

    /// A copy of this spec in GPU mode: every container executor asks for `gpu.count` of
    /// `gpu.resource`, and gets the node selector and toleration GPU nodes need. `self` is
    /// never changed.
    /// A copy whose executor `label` runs `image` with `command` and `args` instead, keeping its
    /// resources, outputs and platform settings; `None` when the spec has no such container.
    pub fn with_container(
        &self,
        label: &str,
        image: &str,
        command: &[String],
        args: &[String],
    ) -> Option<CompiledSpec> {
        let mut copy = self.clone();
        let c = copy
            .pipeline
            .pointer_mut(&format!("/deploymentSpec/executors/{label}/container"))
            .and_then(Value::as_object_mut)?;
        c.insert("image".into(), json!(image));
        c.insert("command".into(), json!(command));
        c.insert("args".into(), json!(args));
        Some(copy)
    }

    pub fn with_gpu(&self, gpu: &GpuMode) -> CompiledSpec {
        let mut copy = self.clone();
        let labels: Vec<String> = copy
            .executors()
            .map(|e| {
                e.iter()
                    .filter(|(_, v)| v.get("container").is_some())
                    .map(|(k, _)| k.clone())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(execs) = copy
            .pipeline
            .pointer_mut("/deploymentSpec/executors")
            .and_then(Value::as_object_mut)
        {
            for label in &labels {
                let Some(container) = execs
                    .get_mut(label)
                    .and_then(|e| e.get_mut("container"))
                    .and_then(Value::as_object_mut)
                else {
                    continue;
                };
                let resources = container.entry("resources").or_insert_with(|| json!({}));
                if !resources.is_object() {
                    *resources = json!({});
                }
                let count = gpu.count.to_string();
                // Both spellings, as the SDK writes a constant: older servers read `type`/`count`.
                resources["accelerator"] = json!({ "resourceType": gpu.resource, "resourceCount": count, "type": gpu.resource, "count": count });
            }
        }
        let platform = copy.platform.get_or_insert_with(|| json!({}));
        for label in &labels {
            let exec = ensure_object(
                platform,
                &[
                    "platforms",
                    "kubernetes",
                    "deploymentSpec",
                    "executors",
                    label,
                ],
            );
            if let Some((k, v)) = &gpu.node_selector {
                let sel = ensure_object(exec, &["nodeSelector", "labels"]);
                sel.as_object_mut()
                    .map(|m| m.insert(k.clone(), Value::String(v.clone())));
            }
            let tol =
                json!({ "key": gpu.toleration_key, "operator": "Exists", "effect": "NoSchedule" });
            let list = exec
                .as_object_mut()
                .map(|m| m.entry("tolerations").or_insert_with(|| json!([])));
            if let Some(Value::Array(l)) = list {
                if !l.contains(&tol) {
                    l.push(tol);
                }
            }
        }
        copy
    }
}

/// Walks (and creates) nested objects along `path`.
fn ensure_object<'a>(mut v: &'a mut Value, path: &[&str]) -> &'a mut Value {
    for key in path {
        if !v.is_object() {
            *v = json!({});
        }
        v = v
            .as_object_mut()
            .map(|m| m.entry(key.to_string()).or_insert_with(|| json!({})))
            .unwrap_or_else(|| unreachable!("made an object above"));
        if !v.is_object() {
            *v = json!({});
        }
    }
    v
}

/// What GPU mode adds to every step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuMode {
    /// Kubernetes extended resource, used verbatim by the KFP driver (`nvidia.com/gpu`).
    pub resource: String,
    pub count: u32,
    /// A node label the step must match, e.g. `cloud.google.com/gke-accelerator=nvidia-l4`.
    pub node_selector: Option<(String, String)>,
    /// Taint key to tolerate (`nvidia.com/gpu`, operator Exists, effect NoSchedule).
    pub toleration_key: String,
}

/// A run's state (v2beta1 `RuntimeState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunState {
    Unspecified,
    Pending,
    Running,
    Succeeded,
    Skipped,
    Failed,
    Canceling,
    Canceled,
    Paused,
}

impl RunState {
    /// Lenient: unknown or missing states read as unspecified (not finished). v1beta1 status
    /// strings (`Succeeded`, `Error`, `Terminating`…) map to their v2 meaning.
    pub fn parse(s: Option<&str>) -> RunState {
        match s.unwrap_or("").to_ascii_uppercase().as_str() {
            "PENDING" => RunState::Pending,
            "RUNNING" => RunState::Running,
            "SUCCEEDED" | "COMPLETED" => RunState::Succeeded,
            "SKIPPED" => RunState::Skipped,
            "FAILED" | "ERROR" => RunState::Failed,
            "CANCELING" | "TERMINATING" => RunState::Canceling,
            "CANCELED" | "CANCELLED" | "TERMINATED" => RunState::Canceled,
            "PAUSED" => RunState::Paused,
            _ => RunState::Unspecified,
        }
    }

    /// Finished for a checker: CANCELED counts (the SDK's own wait loop forgets it); PAUSED does
    /// not.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunState::Succeeded | RunState::Failed | RunState::Canceled | RunState::Skipped
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Unspecified => "RUNTIME_STATE_UNSPECIFIED",
            RunState::Pending => "PENDING",
            RunState::Running => "RUNNING",
            RunState::Succeeded => "SUCCEEDED",
            RunState::Skipped => "SKIPPED",
            RunState::Failed => "FAILED",
            RunState::Canceling => "CANCELING",
            RunState::Canceled => "CANCELED",
            RunState::Paused => "PAUSED",
        }
    }
}

/// `major.minor.patch`, ignoring a leading `v`/`kfp-` and any suffix (`2.0.0-alpha.7` → 2.0.0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version(pub u32, pub u32, pub u32);

impl Version {
    pub fn parse(s: &str) -> Option<Version> {
        let s = s.trim().trim_start_matches('v').trim_start_matches("kfp-");
        let core = s.split(['-', '+']).next()?;
        let mut it = core.split('.').map(|p| p.parse::<u32>());
        let major = it.next()?.ok()?;
        let minor = it.next().unwrap_or(Ok(0)).ok()?;
        let patch = it.next().unwrap_or(Ok(0)).ok()?;
        Some(Version(major, minor, patch))
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// The message of a KFP error body, whatever its shape: google.rpc.Status (`message`, KFP ≥
/// 2.14), grpc-gateway v1 (`error` + `message`, KFP ≤ 2.5), upload errors (`error_message`), or
/// plain text from a proxy. Empty bodies give "". Redacted (a server may echo a token or a
/// password back), and redacted before it is cut, so a cut cannot split a secret from its marker.
pub fn error_message(body: &str) -> String {
    let trimmed = body.trim();
    if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
        for key in ["message", "error", "error_message"] {
            if let Some(m) = v.get(key).and_then(Value::as_str).filter(|m| !m.is_empty()) {
                return redact(m.trim());
            }
        }
        if let Some(d) = v.get("error_details").and_then(Value::as_str) {
            return redact(d.trim());
        }
    }
    // A proxy's HTML or text: its first line, bounded.
    let redacted = redact(trimmed);
    let first = redacted
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    first.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const GPU: &str = include_str!("../../checks/pipelines/kfcheck-gpu-sample.yaml");
    const CPU: &str = include_str!("../../checks/pipelines/kfcheck-cpu-sample.yaml");

    #[test]
    fn a_two_document_spec_is_nested_in_the_wrapper_not_merged() {
        let s = CompiledSpec::from_yaml(GPU).unwrap();
        assert!(s.platform.is_some());
        let body = s.for_run();
        assert_eq!(
            body["pipeline_spec"]["pipelineInfo"]["name"],
            "kfcheck-gpu-sample"
        );
        assert!(body["platform_spec"]["platforms"]["kubernetes"].is_object());
        assert!(body.get("root").is_none(), "never merged: {body}");
        let cpu = CompiledSpec::from_yaml(CPU).unwrap();
        assert!(cpu.platform.is_none());
        assert_eq!(cpu.for_run()["pipelineInfo"]["name"], "kfcheck-cpu-sample");
        assert_eq!(cpu.sdk_version(), Some(Version(2, 17, 3)));
        // What the server hands back round-trips to the same spec.
        assert_eq!(CompiledSpec::from_served(&s.for_run()).unwrap(), s);
        assert_eq!(CompiledSpec::from_served(&cpu.for_run()).unwrap(), cpu);
        assert!(CompiledSpec::from_served(&json!({})).is_err());
        assert!(CompiledSpec::from_yaml("a: 1\n").is_err());
        assert_eq!(CompiledSpec::from_yaml(&s.to_yaml().unwrap()).unwrap(), s);
    }

    #[test]
    fn gpu_mode_changes_a_copy_and_every_container_step() {
        let cpu = CompiledSpec::from_yaml(CPU).unwrap();
        let before = cpu.clone();
        let gpu = GpuMode {
            resource: "nvidia.com/gpu".into(),
            count: 1,
            node_selector: Some((
                "cloud.google.com/gke-accelerator".into(),
                "nvidia-l4".into(),
            )),
            toleration_key: "nvidia.com/gpu".into(),
        };
        let g = cpu.with_gpu(&gpu);
        assert_eq!(cpu, before, "the original is untouched");
        for label in ["exec-make-numbers", "exec-sum-numbers", "exec-check-total"] {
            let acc = &g.pipeline["deploymentSpec"]["executors"][label]["container"]["resources"]
                ["accelerator"];
            assert_eq!(acc["resourceType"], "nvidia.com/gpu");
            assert_eq!(acc["resourceCount"], "1", "int64 travels as a string");
            let k8s = &g.platform.as_ref().unwrap()["platforms"]["kubernetes"]["deploymentSpec"]
                ["executors"][label];
            assert_eq!(
                k8s["nodeSelector"]["labels"]["cloud.google.com/gke-accelerator"],
                "nvidia-l4"
            );
            assert_eq!(
                k8s["tolerations"][0],
                json!({"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"})
            );
        }
        // Applied to a spec that already has the toleration, it is not duplicated.
        let again = g.with_gpu(&gpu);
        let t = &again.platform.as_ref().unwrap()["platforms"]["kubernetes"]["deploymentSpec"]
            ["executors"]["exec-sum-numbers"]["tolerations"];
        assert_eq!(t.as_array().unwrap().len(), 1);
        // The run body is the wrapper now, since there is a platform document.
        assert!(g.for_run().get("platform_spec").is_some());
    }

    #[test]
    fn states_map_leniently_and_canceled_is_terminal() {
        assert!(RunState::parse(Some("CANCELED")).is_terminal());
        assert!(RunState::parse(Some("SKIPPED")).is_terminal());
        assert!(!RunState::parse(Some("PAUSED")).is_terminal());
        assert!(!RunState::parse(Some("CANCELING")).is_terminal());
        assert!(!RunState::parse(None).is_terminal());
        assert_eq!(RunState::parse(Some("Error")), RunState::Failed);
        assert_eq!(RunState::parse(Some("Succeeded")), RunState::Succeeded);
        assert_eq!(
            RunState::parse(Some("something-new")),
            RunState::Unspecified
        );
    }

    #[test]
    fn every_error_body_shape_gives_its_message() {
        assert_eq!(
            error_message(r#"{"code":7,"message":"User 'x' is not authorized","details":[]}"#),
            "User 'x' is not authorized"
        );
        assert_eq!(
            error_message(r#"{"error":"old shape","code":5,"message":"old shape"}"#),
            "old shape"
        );
        assert_eq!(
            error_message(r#"{"error":"only error","code":5}"#),
            "only error"
        );
        assert_eq!(
            error_message(r#"{"error_message":"Namespace is required","error_details":"long"}"#),
            "Namespace is required"
        );
        assert_eq!(
            error_message("upstream connect error or disconnect/reset before headers\nmore"),
            "upstream connect error or disconnect/reset before headers"
        );
        assert_eq!(error_message(""), "");
    }

    #[test]
    fn error_messages_are_redacted_before_they_are_cut() {
        let canary = "CANARYs3cr3tXq9";
        for body in [
            format!(r#"{{"code":16,"message":"invalid token: Bearer {canary}"}}"#),
            format!(r#"{{"error":"login failed","message":"password={canary} rejected"}}"#),
            format!(r#"{{"error_details":"Set-Cookie: oauth2_proxy={canary}"}}"#),
            format!(
                "<html>{}Authorization: Bearer {canary}</html>",
                "x".repeat(180)
            ),
            format!(
                "{}-----BEGIN PRIVATE KEY-----{canary}{canary}{canary}-----END PRIVATE KEY-----",
                "y".repeat(150)
            ),
        ] {
            let m = error_message(&body);
            assert!(
                !m.contains(canary) && !m.contains("CANARY"),
                "{body:?} gave {m:?}"
            );
        }
    }

    #[test]
    fn versions_and_resource_skew() {
        assert_eq!(Version::parse("2.17.0"), Some(Version(2, 17, 0)));
        assert_eq!(Version::parse("kfp-2.5.0"), Some(Version(2, 5, 0)));
        assert_eq!(Version::parse("2.0.0-alpha.7"), Some(Version(2, 0, 0)));
        assert_eq!(Version::parse("v1.8"), Some(Version(1, 8, 0)));
        assert_eq!(Version::parse("dev"), None);
        assert!(Version(2, 5, 0) < Version(2, 14, 0));
        // The bundled samples set constants: both spellings present, nothing dropped.
        assert!(CompiledSpec::from_yaml(GPU)
            .unwrap()
            .string_only_resources()
            .is_empty());
        let mut s = CompiledSpec::from_yaml(CPU).unwrap();
        let r = &mut s.pipeline["deploymentSpec"]["executors"]["exec-make-numbers"]["container"]
            ["resources"];
        *r = json!({"resourceCpuLimit": "{{$.inputs.parameters['pipelinechannel--cpu']}}", "accelerator": {"resourceType": "nvidia.com/gpu", "resourceCount": "1"}});
        assert_eq!(
            s.string_only_resources(),
            vec!["exec-make-numbers (resourceCpuLimit, accelerator.resourceType)".to_string()]
        );
    }
}
