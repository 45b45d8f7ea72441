//! KFP v1 compiled Argo Workflows (and WorkflowTemplate / CronWorkflow): one task per template
//! with a container or script. Node selectors and tolerations sit on the template, not in the
//! container; workflow-level ones apply to every pod.

use super::model::{Extended, Format, Pipeline, Qty, Resources, Task, Toleration};
use super::shapes::argo::PodSpecPatch;
use super::shapes::{misplaced, Affinity, Doc, K8sResources, K8sToleration, KubeSpec};
use super::yaml::{check_alias_budget, offset_of, LineIndex, ParseError};
use std::collections::BTreeMap;

pub(crate) fn to_pipeline(doc: &Doc, text: &str) -> Result<Pipeline, ParseError> {
    let spec = doc
        .spec
        .as_ref()
        .ok_or_else(|| ParseError::new("Argo Workflow without spec"))?;
    // CronWorkflow nests the workflow spec.
    let spec: &KubeSpec = spec.workflow_spec.as_deref().unwrap_or(spec);
    let lines = LineIndex::new(text, offset_of(text, "templates:").unwrap_or(0));
    let mut tasks = Vec::new();
    for t in spec.templates.iter().flatten() {
        let Some(c) = t.container.as_ref().or(t.script.as_ref()) else {
            continue;
        };
        let name = t
            .name
            .clone()
            .unwrap_or_else(|| "<unnamed template>".into());
        let mut task = Task {
            line: lines.name(&name),
            executor: Some(name.clone()),
            name,
            image: c.image.clone(),
            resources: c.resources.as_ref().map(k8s_resources).unwrap_or_default(),
            ignored_placement: misplaced(
                if t.container.is_some() {
                    "container"
                } else {
                    "script"
                },
                [
                    c.node_selector.is_some(),
                    c.tolerations.is_some(),
                    c.affinity.is_some(),
                ],
            ),
            ..Task::default()
        };
        // The workflow controller (`addSchedulingConstraints`) gives the pod the template's node
        // selector, tolerations and affinity, each one else the workflow's: never a merge.
        let selector = t
            .node_selector
            .as_ref()
            .filter(|s| !s.is_empty())
            .or(spec.node_selector.as_ref());
        task.node_selector.extend(
            selector
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.0.clone())),
        );
        let tolerations = t
            .tolerations
            .as_ref()
            .filter(|t| !t.is_empty())
            .or(spec.tolerations.as_ref());
        task.tolerations
            .extend(tolerations.into_iter().flatten().map(toleration));
        if let Some(aff) = t.affinity.as_ref().or(spec.affinity.as_ref()) {
            task.affinity = aff.required_terms();
        }
        if let Some(patch) = &t.pod_spec_patch {
            apply_pod_spec_patch(&mut task, patch);
        }
        tasks.push(task);
    }
    let meta = doc.metadata.as_ref();
    let name = workflow_name(doc);
    let sdk_version = meta
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.kfp_sdk_version.as_ref())
        .map(|v| format!("kfp-{}", v.0));
    Ok(Pipeline {
        format: Format::Argo,
        name,
        sdk_version,
        tasks,
        orphan_platform_executors: Vec::new(),
    })
}

/// The workflow's name, else its `generateName` without the trailing `-`.
pub(crate) fn workflow_name(doc: &Doc) -> Option<String> {
    doc.metadata.as_ref().and_then(|m| {
        m.name.clone().or_else(|| {
            m.generate_name
                .clone()
                .map(|g| g.trim_end_matches('-').to_string())
        })
    })
}

fn apply_pod_spec_patch(task: &mut Task, patch: &str) {
    let parsed = check_alias_budget(patch)
        .ok()
        .and_then(|()| serde_yaml_ng::from_str::<PodSpecPatch>(patch).ok());
    let Some(p) = parsed else {
        // Unreadable until Argo substitutes parameters: placement and resources are unknown.
        task.dynamic_placement = true;
        return;
    };
    if let Some(r) = p
        .containers
        .iter()
        .find(|c| c.name.as_deref().is_none_or(|n| n == "main"))
        .and_then(|c| c.resources.as_ref())
    {
        let patched = k8s_resources(r);
        let res = &mut task.resources;
        for (slot, new) in [
            (&mut res.cpu_request, patched.cpu_request),
            (&mut res.cpu_limit, patched.cpu_limit),
            (&mut res.memory_request, patched.memory_request),
            (&mut res.memory_limit, patched.memory_limit),
        ] {
            if let Some(mut q) = new {
                q.field = format!("podSpecPatch.{}", q.field);
                *slot = Some(q);
            }
        }
        for mut e in patched.extended {
            for q in e.request.iter_mut().chain(e.limit.iter_mut()) {
                q.field = format!("podSpecPatch.{}", q.field);
            }
            res.extended.retain(|x| x.name != e.name);
            res.extended.push(e);
        }
    }
    for (k, v) in p.node_selector.iter().flatten() {
        task.node_selector.retain(|(ek, _)| ek != k);
        task.node_selector.push((k.clone(), v.0.clone()));
    }
    task.tolerations
        .extend(p.tolerations.iter().flatten().map(toleration));
    // A strategic merge patch replaces `nodeSelectorTerms` (the list has no merge key).
    if let Some(terms) = p.affinity.as_ref().and_then(Affinity::required_terms) {
        task.affinity = Some(terms);
    }
    let placeholders = |s: &str| super::quantity::is_placeholder(s);
    if task
        .node_selector
        .iter()
        .any(|(k, v)| placeholders(k) || placeholders(v))
        || task.tolerations.iter().any(|t| {
            t.key.as_deref().is_some_and(placeholders)
                || t.value.as_deref().is_some_and(placeholders)
        })
    {
        task.dynamic_placement = true;
    }
}

/// Converts Kubernetes `limits`/`requests` maps into the task model (shared with Tekton).
pub(crate) fn k8s_resources(r: &K8sResources) -> Resources {
    let mut out = Resources::default();
    let mut extended: BTreeMap<String, Extended> = BTreeMap::new();
    for (map, is_limit) in [(&r.requests, false), (&r.limits, true)] {
        let side = if is_limit { "limits" } else { "requests" };
        for (name, v) in map.iter().flatten() {
            let q = Qty::new(v.0.clone(), format!("{side}.{name}"));
            match (name.as_str(), is_limit) {
                ("cpu", false) => out.cpu_request = Some(q),
                ("cpu", true) => out.cpu_limit = Some(q),
                ("memory", false) => out.memory_request = Some(q),
                ("memory", true) => out.memory_limit = Some(q),
                ("ephemeral-storage", _) => {}
                (n, _) if n.starts_with("hugepages-") => {}
                (n, _) => {
                    let e = extended.entry(n.to_string()).or_insert_with(|| Extended {
                        name: n.to_string(),
                        request: None,
                        limit: None,
                    });
                    if is_limit {
                        e.limit = Some(q);
                    } else {
                        e.request = Some(q);
                    }
                }
            }
        }
    }
    out.extended = extended.into_values().collect();
    out
}

pub(crate) fn toleration(t: &K8sToleration) -> Toleration {
    Toleration {
        key: t.key.clone().filter(|k| !k.is_empty()),
        operator: t.operator.clone().filter(|o| !o.is_empty()),
        value: t
            .value
            .as_ref()
            .map(|v| v.0.clone())
            .filter(|v| !v.is_empty()),
        effect: t.effect.clone().filter(|e| !e.is_empty()),
        dynamic: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::parse_pipeline;

    const V1: &str = r#"apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata:
  generateName: kfcheck-gpu-
  annotations:
    pipelines.kubeflow.org/kfp_sdk_version: 1.8.22
spec:
  entrypoint: kfcheck-gpu
  nodeSelector: {pool: default}
  templates:
  - name: probe
    container:
      image: nvidia/cuda:12.4.1-base-ubuntu22.04
      resources:
        limits: {nvidia.com/gpu: "1", cpu: "1", memory: 1Gi}
        requests: {nvidia.com/gpu: 1}
    nodeSelector: {cloud.google.com/gke-accelerator: nvidia-tesla-t4}
    tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
  - name: kfcheck-gpu
    dag:
      tasks: [{name: probe, template: probe}]
"#;

    #[test]
    fn v1_workflow_template_level_placement() {
        let p = parse_pipeline(V1).unwrap();
        assert_eq!(p.format, Format::Argo);
        assert_eq!(p.name.as_deref(), Some("kfcheck-gpu"));
        assert_eq!(p.sdk_version.as_deref(), Some("kfp-1.8.22"));
        assert_eq!(p.tasks.len(), 1);
        let t = &p.tasks[0];
        assert_eq!(t.line, Some(11));
        // The template's selector replaces the workflow's (`pool: default` is not on the pod).
        assert_eq!(
            t.node_selector,
            vec![(
                "cloud.google.com/gke-accelerator".to_string(),
                "nvidia-tesla-t4".to_string()
            )]
        );
        assert_eq!(t.resources.extended[0].name, "nvidia.com/gpu");
        assert_eq!(t.resources.extended[0].request.as_ref().unwrap().raw, "1");
        assert_eq!(t.resources.memory_limit.as_ref().unwrap().raw, "1Gi");
        assert_eq!(t.tolerations[0].operator.as_deref(), Some("Exists"));
    }

    #[test]
    fn a_template_without_placement_takes_the_workflows_and_never_a_merge() {
        let text = r#"apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {name: w}
spec:
  entrypoint: main
  nodeSelector: {pool: default}
  tolerations: [{key: dedicated, operator: Equal, value: ml, effect: NoSchedule}]
  templates:
  - name: plain
    container: {image: busybox}
  - name: own
    container: {image: busybox}
    nodeSelector: {pool: gpu}
    tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
  - name: main
    dag:
      tasks: [{name: a, template: plain}, {name: b, template: own}]
"#;
        let p = parse_pipeline(text).unwrap();
        let plain = p.tasks.iter().find(|t| t.name == "plain").unwrap();
        assert_eq!(
            plain.node_selector,
            vec![("pool".to_string(), "default".to_string())]
        );
        assert_eq!(plain.tolerations.len(), 1);
        assert_eq!(plain.tolerations[0].key.as_deref(), Some("dedicated"));
        let own = p.tasks.iter().find(|t| t.name == "own").unwrap();
        assert_eq!(
            own.node_selector,
            vec![("pool".to_string(), "gpu".to_string())]
        );
        assert_eq!(own.tolerations.len(), 1);
        assert_eq!(own.tolerations[0].key.as_deref(), Some("nvidia.com/gpu"));
    }
}
