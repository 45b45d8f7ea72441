//! KFP-Tekton PipelineRuns (v1 and v1beta1 field names) and the older separate Pipeline + Task
//! documents. One task per step container; placement from `taskRunSpecs[].podTemplate`
//! (`taskPodTemplate` in v1beta1) over the run-wide pod template.

use super::argo::{k8s_resources, toleration};
use super::model::{Format, Pipeline, Task};
use super::shapes::tekton::{PipelineTask, PodTemplate, Step};
use super::shapes::{misplaced, Doc};
use super::yaml::{offset_of, LineIndex, ParseError};
use std::collections::BTreeMap;

const MAX_LOOP_DEPTH: usize = 32;

/// Steps the kfp-tekton compiler adds to every task.
const KFP_TEKTON_HELPER_STEPS: &[&str] = &[
    "output-taskrun-name",
    "copy-results-artifacts",
    "move-all-results-to-tekton-home",
    "copy-artifacts",
];

pub(crate) fn to_pipeline(docs: &[&Doc], text: &str) -> Result<Pipeline, ParseError> {
    // Separate `kind: Task` documents that pipeline tasks may reference by name.
    let named_tasks: BTreeMap<&str, &Doc> = docs
        .iter()
        .filter(|d| d.kind.as_deref() == Some("Task"))
        .filter_map(|d| Some((d.metadata.as_ref()?.name.as_deref()?, *d)))
        .collect();
    let run = docs
        .iter()
        .find(|d| d.kind.as_deref() == Some("PipelineRun"));
    let pipeline_doc = docs.iter().find(|d| d.kind.as_deref() == Some("Pipeline"));
    let main = run.or(pipeline_doc).or(docs.first()).copied();
    let Some(main) = main else {
        return Err(ParseError::new("no Tekton document"));
    };
    let spec = main
        .spec
        .as_ref()
        .ok_or_else(|| ParseError::new("Tekton object without spec"))?;

    let run_wide = spec
        .task_run_template
        .as_ref()
        .and_then(|t| t.pod_template.as_ref())
        .or(spec.pod_template.as_ref());
    let per_task: BTreeMap<&str, &PodTemplate> = spec
        .task_run_specs
        .iter()
        .flatten()
        .filter_map(|s| {
            Some((
                s.pipeline_task_name.as_deref()?,
                s.pod_template.as_ref().or(s.task_pod_template.as_ref())?,
            ))
        })
        .collect();

    let mut walk = Walk {
        named_tasks,
        tasks: Vec::new(),
        lines: LineIndex::new(text, offset_of(text, "tasks:").unwrap_or(0)),
    };
    // PipelineRun with inline pipelineSpec, a Pipeline document (spec.tasks), or a bare Task.
    let (tasks, finally) = match (&spec.pipeline_spec, &spec.tasks) {
        (Some(ps), _) => (ps.tasks.as_deref(), ps.finally_tasks.as_deref()),
        (None, Some(t)) => (Some(t.as_slice()), spec.finally_tasks.as_deref()),
        (None, None) => (None, None),
    };
    if tasks.is_none() {
        if let Some(steps) = &spec.steps {
            let name = main
                .metadata
                .as_ref()
                .and_then(|m| m.name.clone())
                .unwrap_or_else(|| "task".into());
            walk.steps(&name, steps, spec.step_template.as_ref(), &[run_wide]);
        }
    }
    for t in tasks
        .into_iter()
        .flatten()
        .chain(finally.into_iter().flatten())
    {
        let pod = t.name.as_deref().and_then(|n| per_task.get(n).copied());
        walk.task(t, "", &[run_wide, pod], 0)?;
    }
    let meta = main.metadata.as_ref();
    let sdk_version = meta
        .and_then(|m| m.annotations.as_ref())
        .and_then(|a| a.kfp_sdk_version.as_ref())
        .map(|v| format!("kfp-{}", v.0));
    Ok(Pipeline {
        format: Format::Tekton,
        name: meta.and_then(|m| m.name.clone().or_else(|| m.generate_name.clone())),
        sdk_version,
        tasks: walk.tasks,
        orphan_platform_executors: Vec::new(),
    })
}

struct Walk<'a> {
    named_tasks: BTreeMap<&'a str, &'a Doc>,
    tasks: Vec<Task>,
    /// Lines of the `- name:` entries from the first `tasks:` on.
    lines: LineIndex<'a>,
}

impl Walk<'_> {
    fn task(
        &mut self,
        t: &PipelineTask,
        prefix: &str,
        pods: &[Option<&PodTemplate>],
        depth: usize,
    ) -> Result<(), ParseError> {
        if depth > MAX_LOOP_DEPTH {
            return Err(ParseError::new("Tekton pipeline loops nested too deeply"));
        }
        let name = t.name.clone().unwrap_or_else(|| "<unnamed task>".into());
        let full = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if let Some(ts) = &t.task_spec {
            if let Some(steps) = &ts.steps {
                self.steps(&full, steps, ts.step_template.as_ref(), pods);
            }
            if let Some(inner) = ts.spec.as_ref().and_then(|s| s.pipeline_spec.as_ref()) {
                for it in inner
                    .tasks
                    .iter()
                    .flatten()
                    .chain(inner.finally_tasks.iter().flatten())
                {
                    self.task(it, &full, pods, depth + 1)?;
                }
            }
        } else if let Some(doc) = t
            .task_ref
            .as_ref()
            .and_then(|r| r.name.as_deref())
            .and_then(|n| self.named_tasks.get(n))
        {
            if let Some(spec) = &doc.spec {
                if let Some(steps) = &spec.steps {
                    self.steps(&full, steps, spec.step_template.as_ref(), pods);
                }
            }
        }
        Ok(())
    }

    fn steps(
        &mut self,
        task_name: &str,
        steps: &[Step],
        template: Option<&Step>,
        pods: &[Option<&PodTemplate>],
    ) {
        // kfp-tekton injects helper steps (on its own images) that pipeline authors cannot change;
        // only the component's own steps are the author's to fix.
        let steps: Vec<&Step> = steps
            .iter()
            .filter(|s| {
                !s.name
                    .as_deref()
                    .is_some_and(|n| KFP_TEKTON_HELPER_STEPS.contains(&n))
            })
            .collect();
        let single = steps.len() == 1;
        for s in steps {
            let step_name = s.name.clone().unwrap_or_else(|| "step".into());
            let name = if single {
                task_name.to_string()
            } else {
                format!("{task_name}/{step_name}")
            };
            let res = s
                .compute_resources
                .as_ref()
                .or(s.resources.as_ref())
                .or(template.and_then(|t| t.compute_resources.as_ref().or(t.resources.as_ref())));
            let leaf = task_name.rsplit('/').next().unwrap_or(task_name);
            let mut task = Task {
                name,
                executor: Some(task_name.to_string()),
                image: s
                    .image
                    .clone()
                    .or_else(|| template.and_then(|t| t.image.clone())),
                resources: res.map(k8s_resources).unwrap_or_default(),
                line: self.lines.item_name(leaf),
                ignored_placement: misplaced(
                    "step",
                    [
                        s.node_selector.is_some(),
                        s.tolerations.is_some(),
                        s.affinity.is_some(),
                    ],
                ),
                ..Task::default()
            };
            for pod in pods.iter().flatten() {
                for (k, v) in pod.node_selector.iter().flatten() {
                    task.node_selector.retain(|(ek, _)| ek != k);
                    task.node_selector.push((k.clone(), v.0.clone()));
                }
                task.tolerations
                    .extend(pod.tolerations.iter().flatten().map(toleration));
                // A task's pod template replaces the run-wide affinity (Tekton merges pod
                // templates field by field).
                if let Some(a) = &pod.affinity {
                    task.affinity = a.required_terms();
                }
            }
            self.tasks.push(task);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::parse_pipeline;

    #[test]
    fn pipelinerun_v1_with_task_run_specs() {
        let text = r#"apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: kfcheck-gpu}
spec:
  pipelineSpec:
    tasks:
    - name: probe
      taskSpec:
        steps:
        - name: main
          image: nvidia/cuda:12.4.1-base-ubuntu22.04
          computeResources: {limits: {nvidia.com/gpu: "1"}}
    - name: loop
      taskSpec:
        apiVersion: custom.tekton.dev/v1alpha1
        kind: PipelineLoop
        spec:
          pipelineSpec:
            tasks:
            - name: inner
              taskSpec:
                steps: [{name: main, image: python:3.11}]
  taskRunSpecs:
  - pipelineTaskName: probe
    podTemplate:
      nodeSelector: {nvidia.com/gpu.product: NVIDIA-L4}
      tolerations: [{key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}]
"#;
        let p = parse_pipeline(text).unwrap();
        assert_eq!(p.format, Format::Tekton);
        assert_eq!(p.tasks.len(), 2);
        assert_eq!(p.tasks[0].name, "probe");
        assert_eq!(p.tasks[0].node_selector[0].0, "nvidia.com/gpu.product");
        assert_eq!(p.tasks[0].resources.extended[0].name, "nvidia.com/gpu");
        assert_eq!(p.tasks[1].name, "loop/inner");
        assert!(p.tasks[1].node_selector.is_empty());
    }

    #[test]
    fn separate_task_and_pipeline_documents() {
        let text = "apiVersion: tekton.dev/v1beta1\nkind: Task\nmetadata: {name: t1}\nspec:\n  steps:\n  - {name: main, image: 'busybox:1.36', resources: {limits: {cpu: '1'}}}\n---\napiVersion: tekton.dev/v1beta1\nkind: Pipeline\nmetadata: {name: p}\nspec:\n  tasks:\n  - name: a\n    taskRef: {name: t1}\n";
        let p = parse_pipeline(text).unwrap();
        assert_eq!(p.tasks.len(), 1);
        assert_eq!(p.tasks[0].name, "a");
        assert_eq!(p.tasks[0].resources.cpu_limit.as_ref().unwrap().raw, "1");
    }
}
