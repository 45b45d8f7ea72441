//! Compiled spec vs launched pod: after a REST-door run, the pods the KFP backend launched for
//! its steps are read back and compared with what the compiled pipeline asks for (GPU count,
//! cpu and memory requests and limits, node selector, tolerations). A backend older than the SDK
//! that compiled the pipeline reads only the fields it knows and silently drops the rest
//! (kubeflow/pipelines#11374, #11390): the run may still succeed, on a CPU. Reading the compiled
//! spec reuses `pipeline::parse` (the lint's reader, executors mapped through the root DAG);
//! [`compare`] is pure, [`check_run`] does the reads, each bounded by the door's request timeout.
//! Only what the spec sets is compared; anything else in the pod is not drift.

use super::StepResult;
use crate::clients::kfp_spec::CompiledSpec;
use crate::pipeline::model::{Qty, Task, Toleration};
use k8s_openapi::api::core::v1::{Container, Pod};
use std::collections::BTreeSet;
use std::time::Duration;

/// Where a single-user KFP launches its pods (its own namespace in the standalone install and
/// in Kubeflow); multi-user KFP launches them in the run's profile namespace.
pub const SINGLE_USER_NAMESPACE: &str = "kubeflow";

/// Where and how long to look for a run's pods, known once the door has its KFP client.
#[derive(Debug, Clone)]
pub struct Target {
    /// The namespace the backend launches the run's pods in.
    pub namespace: String,
    /// Each pod read's bound (the door's request timeout).
    pub limit: Duration,
    /// The KFP server's version as its healthz says (`2.0.5`), for the evidence.
    pub server: Option<String>,
}

/// One field of a launched pod that is not what the compiled spec asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// The step as the run names it (the compiled task's name).
    pub task: String,
    pub pod: String,
    /// The compiled executor (`exec-gpu-probe`).
    pub executor: String,
    /// The field compared: `nvidia.com/gpu`, `limits.cpu`, `nodeSelector <key>`, `toleration …`.
    pub field: String,
    /// What the pod has (`none` when it has nothing there).
    pub launched: String,
    /// What the spec asks for, as written.
    pub compiled: String,
    /// The spec's own field (`accelerator.resourceCount: 1`), for the evidence.
    pub written: String,
}

impl Drift {
    /// `nvidia.com/gpu: launched none, compiled 1`.
    pub fn shown(&self) -> String {
        format!(
            "{}: launched {}, compiled {}",
            self.field, self.launched, self.compiled
        )
    }
}

/// What the drift check saw for one run: the drifts, and notes on what it compared or could not.
#[derive(Debug, Default)]
pub struct Checked {
    pub drifts: Vec<Drift>,
    pub notes: Vec<String>,
    /// Tasks whose pod was read and compared.
    pub compared: usize,
}

/// Two quantities the same within rounding: `500m` is `0.5`, `1Gi` is the deprecated `1.073741824`
/// (GB).
fn same(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

/// The container a step runs in: `main` in KFP v2 launcher pods (beside Argo's `wait`), else the
/// only one.
fn main_container(pod: &Pod) -> Option<&Container> {
    let cs = &pod.spec.as_ref()?.containers;
    cs.iter()
        .find(|c| c.name == "main")
        .or(if cs.len() == 1 { cs.first() } else { None })
}

/// A quantity the pod's container has under `limits` or `requests`.
fn pod_quantity<'a>(c: &'a Container, section: &str, name: &str) -> Option<&'a str> {
    let r = c.resources.as_ref()?;
    let map = match section {
        "limits" => r.limits.as_ref(),
        _ => r.requests.as_ref(),
    }?;
    map.get(name).map(|q| q.0.as_str())
}

/// Whether a pod toleration `t` tolerates what the compiled toleration `c` asks to tolerate
/// (the scheduler's rules: an empty key with Exists tolerates every taint, an empty effect every
/// effect, Exists any value).
fn tolerates(t: &k8s_openapi::api::core::v1::Toleration, c: &Toleration) -> bool {
    let op = |o: Option<&str>| match o {
        Some(o) if !o.is_empty() => o.to_string(),
        _ => "Equal".to_string(),
    };
    let (t_op, c_op) = (op(t.operator.as_deref()), op(c.operator.as_deref()));
    let t_key = t.key.as_deref().unwrap_or("");
    let key_ok = (t_key.is_empty() && t_op == "Exists") || t_key == c.key.as_deref().unwrap_or("");
    let t_effect = t.effect.as_deref().unwrap_or("");
    let effect_ok = t_effect.is_empty() || Some(t_effect) == c.effect.as_deref();
    let value_ok = t_op == "Exists"
        || (c_op != "Exists"
            && t.value.as_deref().unwrap_or("") == c.value.as_deref().unwrap_or(""));
    key_ok && effect_ok && value_ok
}

fn shown_pod_toleration(t: &k8s_openapi::api::core::v1::Toleration) -> String {
    Toleration {
        key: t.key.clone().filter(|k| !k.is_empty()),
        operator: t.operator.clone().filter(|o| !o.is_empty()),
        value: t.value.clone().filter(|v| !v.is_empty()),
        effect: t.effect.clone().filter(|e| !e.is_empty()),
        dynamic: false,
    }
    .shown()
}

/// Whether the compiled task sets anything this check compares.
pub fn sets_anything(task: &Task) -> bool {
    task.resources.all().next().is_some()
        || !task.node_selector.is_empty()
        || !task.tolerations.is_empty()
}

/// Compares the compiled `task` with the `pod` launched for it: one [`Drift`] per field the spec
/// sets that the pod lacks or has otherwise. Values set at run time (a pipeline parameter) are
/// not compared; the second list says which.
pub fn compare(task: &Task, step: &str, pod: &Pod) -> (Vec<Drift>, Vec<String>) {
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let executor = task.executor.clone().unwrap_or_default();
    let mut drifts = Vec::new();
    let mut skipped = Vec::new();
    let Some(c) = main_container(pod) else {
        let names: Vec<&str> = pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter().map(|c| c.name.as_str()))
            .collect();
        skipped.push(format!(
            "drift not checked for task {step}: pod {pod_name} has no container named main (it has {})",
            if names.is_empty() { "none".to_string() } else { names.join(", ") }
        ));
        return (drifts, skipped);
    };
    let mut drift = |field: String, launched: String, compiled: String, written: String| {
        drifts.push(Drift {
            task: step.to_string(),
            pod: pod_name.clone(),
            executor: executor.clone(),
            field,
            launched,
            compiled,
            written,
        })
    };
    // Quantities: (field shown, section, resource name, compiled).
    let r = &task.resources;
    let mut quantities: Vec<(String, &str, &str, &Qty)> = Vec::new();
    for (section, name, q) in [
        ("limits", "cpu", &r.cpu_limit),
        ("requests", "cpu", &r.cpu_request),
        ("limits", "memory", &r.memory_limit),
        ("requests", "memory", &r.memory_request),
    ] {
        if let Some(q) = q {
            quantities.push((format!("{section}.{name}"), section, name, q));
        }
    }
    for e in &r.extended {
        // An extended resource (a GPU) is asked for as a limit; its request defaults to it.
        if let Some(q) = e.limit.as_ref().or(e.request.as_ref()) {
            quantities.push((e.name.clone(), "limits", e.name.as_str(), q));
        }
    }
    for (field, section, name, q) in quantities {
        if q.is_placeholder() {
            skipped.push(format!(
                "{field} of task {step} not compared: set at run time ({})",
                q.raw
            ));
            continue;
        }
        let Some(want) = q.value() else {
            skipped.push(format!(
                "{field} of task {step} not compared: the spec's {} is not a quantity",
                q.shown()
            ));
            continue;
        };
        let got = pod_quantity(c, section, name).or_else(|| {
            // An extended resource given only as a request is the same ask.
            (section == "limits" && field == name)
                .then(|| pod_quantity(c, "requests", name))
                .flatten()
        });
        let matches = got
            .and_then(crate::pipeline::quantity::parse_quantity)
            .is_some_and(|v| same(v, want));
        if !matches {
            let compiled = if q.scale == 1.0 {
                q.raw.clone()
            } else {
                format!("{} GB", q.raw)
            };
            drift(
                field,
                got.unwrap_or("none").to_string(),
                compiled,
                q.shown(),
            );
        }
    }
    let spec = pod.spec.as_ref();
    let selector = spec.and_then(|s| s.node_selector.as_ref());
    for (k, v) in &task.node_selector {
        if crate::pipeline::quantity::is_placeholder(v) {
            skipped.push(format!(
                "nodeSelector {k} of task {step} not compared: set at run time ({v})"
            ));
            continue;
        }
        let got = selector.and_then(|s| s.get(k));
        if got != Some(v) {
            drift(
                format!("nodeSelector {k}"),
                got.cloned().unwrap_or_else(|| "none".into()),
                v.clone(),
                format!("nodeSelector.labels {k}: {v}"),
            );
        }
    }
    let pod_tols = spec
        .and_then(|s| s.tolerations.as_deref())
        .unwrap_or_default();
    for t in &task.tolerations {
        if t.dynamic {
            skipped.push(format!(
                "a toleration of task {step} not compared: set at run time (a pipeline parameter)"
            ));
            continue;
        }
        if !pod_tols.iter().any(|p| tolerates(p, t)) {
            let launched = if pod_tols.is_empty() {
                "none".to_string()
            } else {
                pod_tols
                    .iter()
                    .map(shown_pod_toleration)
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            drift(
                format!("toleration {}", t.shown()),
                launched,
                t.shown(),
                format!("tolerations: {}", t.shown()),
            );
        }
    }
    (drifts, skipped)
}

/// The compiled tasks of a spec, through the lint's reader (one task per executor instance,
/// named by its path of task names).
pub fn compiled_tasks(spec: &CompiledSpec) -> Result<Vec<Task>, String> {
    let yaml = spec.to_yaml()?;
    crate::pipeline::parse_pipeline(&yaml)
        .map(|p| p.tasks)
        .map_err(|e| e.to_string())
}

/// The compiled task a run's step is: the same name, else the one task whose path ends in it
/// (KFP names a nested task by its own name). `Err` when several tasks with different
/// executors share that name.
fn task_of<'a>(tasks: &'a [Task], step: &str) -> Result<Option<&'a Task>, String> {
    if let Some(t) = tasks.iter().find(|t| t.name == step) {
        return Ok(Some(t));
    }
    let suffix = format!("/{step}");
    let found: Vec<&Task> = tasks.iter().filter(|t| t.name.ends_with(&suffix)).collect();
    let mut executors: Vec<&Option<String>> = found.iter().map(|t| &t.executor).collect();
    executors.dedup();
    match (found.first(), executors.len()) {
        (Some(t), 1) => Ok(Some(t)),
        (None, _) => Ok(None),
        _ => Err(format!(
            "drift not checked for task {step}: several compiled tasks have that name ({})",
            found
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )),
    }
}

/// The steps to compare: each step with a pod whose compiled task sets something, with its task;
/// and notes on the steps that cannot be matched.
pub fn pairs<'a>(
    tasks: &'a [Task],
    steps: &[StepResult],
) -> (Vec<(String, String, &'a Task)>, Vec<String>) {
    let mut out = Vec::new();
    let mut notes = Vec::new();
    let mut seen = BTreeSet::new();
    for s in steps {
        let Some(pod) = s.pod.as_deref().filter(|p| !p.is_empty()) else {
            continue;
        };
        match task_of(tasks, &s.name) {
            Ok(Some(t)) if sets_anything(t) && seen.insert(pod.to_string()) => {
                out.push((s.name.clone(), pod.to_string(), t))
            }
            Ok(_) => {}
            Err(why) => notes.push(why),
        }
    }
    (out, notes)
}

/// Why a pod could not be read, as a note's tail.
fn read_error(e: &kube::Error, ns: &str, pod: &str) -> String {
    match e {
        kube::Error::Api(s) if s.code == 404 => {
            format!("pod {ns}/{pod} is not there (404; deleted after the run, or not in {ns})")
        }
        kube::Error::Api(s) if s.code == 403 => {
            format!("kfcheck lacks permission to get pods in namespace {ns}")
        }
        other => format!(
            "reading pod {ns}/{pod}: {}",
            crate::clients::errors::describe_kube(other)
        ),
    }
}

/// Reads the pod of every step whose compiled task sets resources or placement, in `namespace`,
/// each read bounded by `limit`, and compares it with the compiled spec. Without a Kubernetes
/// client, or where a pod cannot be read, a note says so: drift is never passed unseen.
pub async fn check_run(
    client: Option<kube::Client>,
    at: &Target,
    spec: &CompiledSpec,
    steps: &[StepResult],
) -> Checked {
    let (namespace, limit) = (at.namespace.as_str(), at.limit);
    let mut out = Checked::default();
    let tasks = match compiled_tasks(spec) {
        Ok(t) => t,
        Err(e) => {
            out.notes.push(format!(
                "drift not checked: the compiled spec could not be read ({e})"
            ));
            return out;
        }
    };
    if !tasks.iter().any(sets_anything) {
        out.notes.push(
            "drift not checked: the compiled spec sets no resources, node selector or tolerations"
                .into(),
        );
        return out;
    }
    let (pairs, notes) = pairs(&tasks, steps);
    out.notes.extend(notes);
    if pairs.is_empty() {
        out.notes.push(
            "drift not checked: the run reports no pod for a step whose compiled spec sets resources or placement"
                .into(),
        );
        return out;
    }
    let Some(client) = client else {
        out.notes.push(
            "drift not checked: no Kubernetes API (give --kubeconfig to compare the launched pods with the compiled spec)"
                .into(),
        );
        return out;
    };
    let api: kube::Api<Pod> = kube::Api::namespaced(client, namespace);
    let reads = pairs.iter().map(|(_, pod, _)| {
        let api = api.clone();
        async move { tokio::time::timeout(limit, api.get(pod)).await }
    });
    let read = futures::future::join_all(reads).await;
    let mut skipped = BTreeSet::new();
    for ((step, pod, task), got) in pairs.iter().zip(read) {
        match got {
            Err(_) => out.notes.push(format!(
                "drift not checked for task {step}: pod {namespace}/{pod} did not answer within {}s",
                limit.as_secs()
            )),
            Ok(Err(e)) => out.notes.push(format!(
                "drift not checked for task {step}: {}",
                read_error(&e, namespace, pod)
            )),
            Ok(Ok(p)) => {
                let (drifts, not_compared) = compare(task, step, &p);
                out.compared += 1;
                out.drifts.extend(drifts);
                skipped.extend(not_compared);
            }
        }
    }
    out.notes.extend(skipped);
    if out.compared > 0 && out.drifts.is_empty() {
        out.notes.push(format!(
            "launched pods match the compiled spec ({} task(s): GPU, cpu and memory, node selector, tolerations as the spec sets them)",
            out.compared
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gpu_sample() -> CompiledSpec {
        let text = crate::assets::embedded("checks/pipelines/kfcheck-gpu-sample.yaml").unwrap();
        CompiledSpec::from_yaml(text).unwrap()
    }

    fn gpu_task() -> Task {
        let tasks = compiled_tasks(&gpu_sample()).unwrap();
        assert_eq!(tasks.len(), 1, "{tasks:?}");
        tasks[0].clone()
    }

    fn pod(v: serde_json::Value) -> Pod {
        serde_json::from_value(v).unwrap()
    }

    /// The GPU sample's step as a current backend launches it (quantities in other spellings).
    fn launched_gpu_pod() -> serde_json::Value {
        json!({"metadata": {"name": "run-gpu-probe-1"}, "spec": {
            "nodeSelector": {"cloud.google.com/gke-accelerator": "nvidia-l4", "kubernetes.io/os": "linux"},
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [
                {"name": "wait", "image": "argoexec"},
                {"name": "main", "image": "nvidia/cuda", "resources": {
                    "limits": {"cpu": "1", "memory": "1073741824", "nvidia.com/gpu": "1"},
                    "requests": {"cpu": "0.5", "memory": "512Mi", "nvidia.com/gpu": "1"}}}]}})
    }

    #[test]
    fn a_pod_launched_as_compiled_has_no_drift_whatever_the_spelling() {
        let (d, skipped) = compare(&gpu_task(), "gpu-probe", &pod(launched_gpu_pod()));
        assert_eq!(
            d,
            vec![],
            "500m is 0.5, 1Gi is 1073741824, extra things are not drift"
        );
        assert!(skipped.is_empty(), "{skipped:?}");
    }

    #[test]
    fn a_pod_without_the_compiled_gpu_request_is_drift_naming_the_field() {
        // As an old backend launches it: the string fields ignored, no GPU limit at all.
        let mut p = launched_gpu_pod();
        p["spec"]["containers"][1]["resources"] = json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m", "memory": "512Mi"}});
        let (d, _) = compare(&gpu_task(), "gpu-probe", &pod(p));
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].shown(), "nvidia.com/gpu: launched none, compiled 1");
        assert_eq!(
            (
                d[0].task.as_str(),
                d[0].pod.as_str(),
                d[0].executor.as_str()
            ),
            ("gpu-probe", "run-gpu-probe-1", "exec-gpu-probe")
        );
        assert_eq!(d[0].written, "accelerator.resourceCount: 1");
    }

    #[test]
    fn resources_placement_and_tolerations_each_name_their_field() {
        let p = pod(json!({"metadata": {"name": "p"}, "spec": {
            "nodeSelector": {"cloud.google.com/gke-accelerator": "nvidia-t4"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoExecute"}],
            "containers": [{"name": "main", "resources": {
                "limits": {"cpu": "2", "memory": "1G", "nvidia.com/gpu": "2"},
                "requests": {"cpu": "500m"}}}]}}));
        let (d, _) = compare(&gpu_task(), "gpu-probe", &p);
        let shown: Vec<String> = d.iter().map(Drift::shown).collect();
        assert_eq!(
            shown,
            vec![
                "limits.cpu: launched 2, compiled 1",
                "limits.memory: launched 1G, compiled 1Gi",
                "requests.memory: launched none, compiled 512Mi",
                "nvidia.com/gpu: launched 2, compiled 1",
                "nodeSelector cloud.google.com/gke-accelerator: launched nvidia-t4, compiled nvidia-l4",
                "toleration nvidia.com/gpu Exists NoSchedule: launched nvidia.com/gpu Equal present NoExecute, compiled nvidia.com/gpu Exists NoSchedule",
            ]
        );
    }

    #[test]
    fn tolerations_follow_the_schedulers_rules() {
        let want = Toleration {
            key: Some("nvidia.com/gpu".into()),
            operator: Some("Exists".into()),
            effect: Some("NoSchedule".into()),
            ..Toleration::default()
        };
        let t = |v: serde_json::Value| -> k8s_openapi::api::core::v1::Toleration {
            serde_json::from_value(v).unwrap()
        };
        assert!(
            tolerates(&t(json!({"operator": "Exists"})), &want),
            "tolerates everything"
        );
        assert!(tolerates(
            &t(json!({"key": "nvidia.com/gpu", "operator": "Exists"})),
            &want
        ));
        assert!(
            !tolerates(
                &t(
                    json!({"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"})
                ),
                &want
            ),
            "an Equal toleration does not cover every value the compiled Exists does"
        );
        let equal = Toleration {
            operator: None,
            value: Some("present".into()),
            ..want.clone()
        };
        assert!(tolerates(
            &t(json!({"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"})),
            &equal
        ));
        assert!(!tolerates(
            &t(json!({"key": "nvidia.com/gpu", "value": "other", "effect": "NoSchedule"})),
            &equal
        ));
    }

    #[test]
    fn the_deprecated_gb_fields_and_run_time_values() {
        let text = r#"
components:
  comp-a: {executorLabel: exec-a}
deploymentSpec:
  executors:
    exec-a:
      container:
        image: x
        resources:
          memoryLimit: 1.073741824
          cpuLimit: 0.5
          resourceCpuRequest: "{{$.inputs.parameters['pipelinechannel--cpu']}}"
pipelineInfo: {name: p}
root:
  dag:
    tasks:
      outer: {componentRef: {name: comp-a}, taskInfo: {name: a}}
schemaVersion: 2.1.0
sdkVersion: kfp-2.4.0
"#;
        let tasks = compiled_tasks(&CompiledSpec::from_yaml(text).unwrap()).unwrap();
        let p = pod(
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "only",
            "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}}}]}}),
        );
        let (d, skipped) = compare(&tasks[0], "a", &p);
        assert_eq!(d, vec![], "the only container, 1.073741824 GB is 1Gi");
        assert_eq!(skipped.len(), 1, "{skipped:?}");
        assert!(skipped[0].contains("requests.cpu of task a not compared: set at run time"));
        let two = pod(
            json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "x"}, {"name": "y"}]}}),
        );
        let (d, skipped) = compare(&tasks[0], "a", &two);
        assert!(d.is_empty() && skipped[0].contains("has no container named main (it has x, y)"));
    }

    #[test]
    fn steps_meet_their_compiled_task_by_name() {
        let tasks = compiled_tasks(&gpu_sample()).unwrap();
        let step = |name: &str, pod: Option<&str>| StepResult {
            name: name.into(),
            state: crate::clients::kfp_spec::RunState::Succeeded,
            state_text: "SUCCEEDED".into(),
            leaf: true,
            exit_code: None,
            message: None,
            pod: pod.map(String::from),
            node: None,
        };
        let (p, notes) = pairs(
            &tasks,
            &[
                step("root", Some("driver-pod")),
                step("gpu-probe", Some("exec-pod")),
                step("gpu-probe", None),
            ],
        );
        assert_eq!(p.len(), 1);
        assert_eq!(
            (p[0].0.as_str(), p[0].1.as_str()),
            ("gpu-probe", "exec-pod")
        );
        assert!(notes.is_empty());
    }

    fn target() -> Target {
        Target {
            namespace: "ns".into(),
            limit: Duration::from_secs(1),
            server: None,
        }
    }

    #[tokio::test]
    async fn without_a_kubernetes_api_drift_is_a_note_never_a_pass() {
        let steps = [StepResult {
            name: "gpu-probe".into(),
            state: crate::clients::kfp_spec::RunState::Succeeded,
            state_text: "SUCCEEDED".into(),
            leaf: true,
            exit_code: None,
            message: None,
            pod: Some("p".into()),
            node: None,
        }];
        let c = check_run(None, &target(), &gpu_sample(), &steps).await;
        assert_eq!(c.compared, 0);
        assert!(c.drifts.is_empty());
        assert_eq!(
            c.notes,
            vec!["drift not checked: no Kubernetes API (give --kubeconfig to compare the launched pods with the compiled spec)"]
        );
        let none = check_run(None, &target(), &gpu_sample(), &[]).await;
        assert!(
            none.notes[0].contains("the run reports no pod"),
            "{:?}",
            none.notes
        );
    }
}
