//! KFP v2 IR (PipelineSpec) plus the kfp-kubernetes platform spec, old and new field names.
//! Task → `componentRef` → component `executorLabel` → `deploymentSpec.executors[label]`.

use super::model::{Extended, Format, Pipeline, Qty, Resources, Task, Toleration};
use super::shapes::v2::{
    ComponentSpec, Container, DagTask, ExecutorConfig, Platforms, V2Resources,
};
use super::shapes::{affinity_term, misplaced, Doc};
use super::yaml::{offset_of, LineIndex, ParseError, Scalar};
use std::collections::{BTreeMap, HashMap};

const MAX_DAG_DEPTH: usize = 64;

/// DAG task instances one pipeline may expand to. Components are reused by reference, so a few
/// kilobytes of IR can name millions of instances (each component used twice at each of 21
/// levels is 2^21); this is far above any pipeline KFP can run and keeps expansion linear in
/// what is inspected.
pub const MAX_TASK_INSTANCES: u64 = 100_000;

pub(crate) fn to_pipeline(
    ir: &Doc,
    platform: Option<&Platforms>,
    text: &str,
) -> Result<Pipeline, ParseError> {
    let empty = BTreeMap::new();
    let executors = ir
        .deployment_spec
        .as_ref()
        .and_then(|d| d.executors.as_ref())
        .unwrap_or(&empty);
    let platform_execs = platform
        .and_then(|p| p.kubernetes.as_ref())
        .and_then(|k| k.deployment_spec.as_ref())
        .and_then(|d| d.executors.as_ref());
    let deploy_offset =
        offset_of(text, "deploymentSpec:").or_else(|| offset_of(text, "\"deploymentSpec\""));
    let platform_offset =
        offset_of(text, "platforms:").or_else(|| offset_of(text, "\"platforms\""));

    let executor_lines = deploy_offset.map(|o| LineIndex::new(text, o));
    let line = |label: &str| executor_lines.as_ref().and_then(|l| l.key(label));
    let walked = Ir {
        root: ir.root.as_ref(),
        components: ir
            .components
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v))
            .collect(),
        containers: executors
            .iter()
            .filter_map(|(k, e)| Some((k.as_str(), e.container.as_ref()?)))
            .collect(),
        platform: platform_execs
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v))
            .collect(),
    };
    let tasks = tasks(&walked, &line)?;
    let orphan_platform_executors = platform_execs
        .map(|p| {
            let orphans: Vec<&String> = p
                .keys()
                .filter(|label| !executors.contains_key(*label))
                .collect();
            let lines = platform_offset
                .filter(|_| !orphans.is_empty())
                .map(|o| LineIndex::new(text, o));
            orphans
                .into_iter()
                .map(|label| (label.clone(), lines.as_ref().and_then(|l| l.key(label))))
                .collect()
        })
        .unwrap_or_default();
    Ok(Pipeline {
        format: Format::KfpV2,
        name: ir.pipeline_info.as_ref().and_then(|i| i.name.clone()),
        sdk_version: ir.sdk_version.clone(),
        tasks,
        orphan_platform_executors,
    })
}

/// What the task walk reads of a v2 pipeline, wherever it is stored: the IR document's own maps
/// (here), or the JSON strings of a workflow the KFP backend compiled (`argo_v2`).
pub(crate) struct Ir<'a> {
    pub root: Option<&'a ComponentSpec>,
    /// Component name → spec (DAG or executor label).
    pub components: BTreeMap<&'a str, &'a ComponentSpec>,
    /// Executor label → the container it runs; labels of importers and resolvers are absent.
    pub containers: BTreeMap<&'a str, &'a Container>,
    /// Executor label → its kfp-kubernetes config.
    pub platform: BTreeMap<&'a str, &'a ExecutorConfig>,
}

/// One task per container instance in the DAG below `ir.root`, named by its path of task names.
/// `line` gives the line of an executor label's definition. Errors on cycles, on nesting deeper
/// than [`MAX_DAG_DEPTH`] and on more than [`MAX_TASK_INSTANCES`] instances.
pub(crate) fn tasks<'a>(
    ir: &Ir<'a>,
    line: &dyn Fn(&str) -> Option<u64>,
) -> Result<Vec<Task>, ParseError> {
    let mut ctx = Walk {
        ir,
        line,
        tasks: Vec::new(),
        built: HashMap::new(),
    };
    if let Some(root) = ir.root {
        // Count first, by reference (each component once), so that nothing is expanded that
        // would go over the limit.
        let instances = ctx.instances(root, "root", 0, &mut HashMap::new())?;
        if instances > MAX_TASK_INSTANCES {
            return Err(ParseError::new(format!(
                "pipeline DAG expands to {instances} task instances at all levels of nesting (components reused at many levels), over the limit of {MAX_TASK_INSTANCES}; not inspected"
            )));
        }
        ctx.component(root, "", 0)?;
    }
    Ok(ctx.tasks)
}

struct Walk<'a, 'w> {
    ir: &'w Ir<'a>,
    line: &'w dyn Fn(&str) -> Option<u64>,
    tasks: Vec<Task>,
    /// The task each executor label makes (`None`: no user container), built once per label and
    /// copied per instance.
    built: HashMap<&'a str, Option<Task>>,
}

/// Per component name: `None` while it is being counted (seeing it again is a cycle), then the
/// number of DAG task instances below and including it.
type Counts<'a> = HashMap<&'a str, Option<u64>>;

impl<'a> Walk<'a, '_> {
    fn child(&self, task: &DagTask) -> Option<(&'a str, &'a ComponentSpec)> {
        let name = task
            .component_ref
            .as_ref()
            .and_then(|c| c.name.as_deref())?;
        self.ir
            .components
            .get_key_value(name)
            .map(|(k, v)| (*k, *v))
    }

    /// Task instances (DAG tasks at every level of nesting, as the expansion visits them) below `comp`,
    /// each component counted once however often it is used. Errors on cycles and on nesting
    /// deeper than [`MAX_DAG_DEPTH`].
    fn instances(
        &self,
        comp: &'a ComponentSpec,
        name: &str,
        depth: usize,
        counts: &mut Counts<'a>,
    ) -> Result<u64, ParseError> {
        if depth > MAX_DAG_DEPTH {
            return Err(ParseError::new(format!(
                "pipeline DAG nested deeper than {MAX_DAG_DEPTH} levels"
            )));
        }
        let mut total: u64 = 0;
        for task in comp
            .dag
            .iter()
            .flat_map(|d| d.tasks.iter().flatten())
            .map(|(_, t)| t)
        {
            total = total.saturating_add(1);
            let Some((child_name, child)) = self.child(task) else {
                continue;
            };
            let n = match counts.get(child_name) {
                Some(Some(n)) => *n,
                Some(None) => {
                    return Err(ParseError::new(format!(
                        "pipeline DAG component {child_name} includes itself (directly or through {name}), so it never ends; not inspected"
                    )))
                }
                None => {
                    counts.insert(child_name, None);
                    let n = self.instances(child, child_name, depth + 1, counts)?;
                    counts.insert(child_name, Some(n));
                    n
                }
            };
            total = total.saturating_add(n);
        }
        Ok(total)
    }

    fn component(
        &mut self,
        comp: &'a ComponentSpec,
        path: &str,
        depth: usize,
    ) -> Result<(), ParseError> {
        if depth > MAX_DAG_DEPTH {
            return Err(ParseError::new(format!(
                "pipeline DAG nested deeper than {MAX_DAG_DEPTH} levels"
            )));
        }
        if let Some(dag) = &comp.dag {
            for (key, task) in dag.tasks.iter().flatten() {
                let name = task
                    .task_info
                    .as_ref()
                    .and_then(|t| t.name.clone())
                    .unwrap_or_else(|| key.clone());
                let full = if path.is_empty() {
                    name
                } else {
                    format!("{path}/{name}")
                };
                if let Some((_, child)) = self.child(task) {
                    self.component(child, &full, depth + 1)?;
                }
            }
        } else if let Some(label) = &comp.executor_label {
            let name = if path.is_empty() {
                label.trim_start_matches("exec-").to_string()
            } else {
                path.to_string()
            };
            self.executor_task(name, label);
        }
        Ok(())
    }

    fn executor_task(&mut self, name: String, label: &'a str) {
        if !self.built.contains_key(label) {
            let task = self.build_task(label);
            self.built.insert(label, task);
        }
        if let Some(Some(task)) = self.built.get(label) {
            self.tasks.push(Task {
                name,
                ..task.clone()
            });
        }
    }

    /// The task an executor makes, without its name; `None` when nothing runs as a user container.
    fn build_task(&self, label: &str) -> Option<Task> {
        let Some(container) = self.ir.containers.get(label) else {
            return None; // importer / resolver: nothing runs as a user container
        };
        // kfp-kubernetes CreatePVC/DeletePVC executors are stubs the KFP backend handles itself.
        if container
            .image
            .as_deref()
            .is_some_and(|i| i.starts_with("argostub/"))
        {
            return None;
        }
        let mut task = Task {
            executor: Some(label.to_string()),
            image: container.image.clone(),
            line: (self.line)(label),
            ignored_placement: misplaced(
                "container",
                [
                    container.node_selector.is_some(),
                    container.tolerations.is_some(),
                    container.affinity.is_some(),
                ],
            ),
            ..Task::default()
        };
        if let Some(r) = &container.resources {
            task.resources = resources(r);
        }
        if let Some(cfg) = self.ir.platform.get(label) {
            apply_platform(&mut task, cfg);
        }
        Some(task)
    }
}

fn pick(
    new: &Option<Scalar>,
    new_field: &str,
    old: &Option<Scalar>,
    old_field: &str,
    old_scale: f64,
) -> Option<Qty> {
    // Like the KFP driver: the string field wins, the deprecated number is the fallback.
    if let Some(v) = new {
        return Some(Qty::new(v.0.clone(), new_field));
    }
    old.as_ref().map(|v| Qty {
        raw: v.0.clone(),
        field: old_field.to_string(),
        scale: old_scale,
    })
}

fn resources(r: &V2Resources) -> Resources {
    let mut out = Resources {
        cpu_limit: pick(
            &r.resource_cpu_limit,
            "resourceCpuLimit",
            &r.cpu_limit,
            "cpuLimit",
            1.0,
        ),
        cpu_request: pick(
            &r.resource_cpu_request,
            "resourceCpuRequest",
            &r.cpu_request,
            "cpuRequest",
            1.0,
        ),
        memory_limit: pick(
            &r.resource_memory_limit,
            "resourceMemoryLimit",
            &r.memory_limit,
            "memoryLimit",
            1e9,
        ),
        memory_request: pick(
            &r.resource_memory_request,
            "resourceMemoryRequest",
            &r.memory_request,
            "memoryRequest",
            1e9,
        ),
        extended: Vec::new(),
    };
    if let Some(acc) = &r.accelerator {
        let (ty, ty_field) = match (&acc.resource_type, &acc.type_) {
            (Some(t), _) => (Some(t.0.clone()), "resourceCount"),
            (None, Some(t)) => (Some(t.0.clone()), "count"),
            _ => (None, ""),
        };
        if let Some(ty) = ty.filter(|t| !t.is_empty()) {
            let count = match (&acc.resource_count, &acc.count) {
                (Some(c), _) => Qty::new(c.0.clone(), "accelerator.resourceCount"),
                (None, Some(c)) => Qty::new(c.0.clone(), "accelerator.count"),
                // The SDK defaults the count to 1 when only a type is set.
                _ => Qty::new("1", format!("accelerator.{ty_field} (default)")),
            };
            out.extended.push(Extended {
                name: ty,
                request: None,
                limit: Some(count),
            });
        }
    }
    out
}

fn apply_platform(task: &mut Task, cfg: &ExecutorConfig) {
    if let Some(sel) = &cfg.node_selector {
        for (k, v) in sel.labels.iter().flatten() {
            task.node_selector.push((k.clone(), v.0.clone()));
        }
        if sel.node_selector_json.is_some() {
            task.dynamic_placement = true;
        }
    }
    for t in cfg.tolerations.iter().flatten() {
        task.tolerations.push(Toleration {
            key: t.key.clone().filter(|k| !k.is_empty()),
            operator: t.operator.clone().filter(|o| !o.is_empty()),
            value: t
                .value
                .as_ref()
                .map(|v| v.0.clone())
                .filter(|v| !v.is_empty()),
            effect: t.effect.clone().filter(|e| !e.is_empty()),
            dynamic: t.toleration_json.is_some(),
        });
        if t.toleration_json.is_some() {
            task.dynamic_placement = true;
        }
    }
    // The KFP driver turns each term without a weight into one required node selector term
    // (ORed by the scheduler); terms with a weight are preferred, not required.
    for a in cfg.node_affinity.iter().flatten() {
        if a.node_affinity_json.is_some() {
            task.dynamic_placement = true;
            continue;
        }
        if a.weight.is_some() {
            continue;
        }
        task.affinity
            .get_or_insert_with(Vec::new)
            .push(affinity_term(
                a.match_expressions.as_deref(),
                a.match_fields.as_deref(),
            ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::parse_pipeline;

    const TWO_DOC: &str = r#"# PIPELINE DEFINITION
components:
  comp-probe:
    executorLabel: exec-probe
  comp-inner:
    dag:
      tasks:
        probe:
          componentRef: {name: comp-probe}
          taskInfo: {name: probe}
deploymentSpec:
  executors:
    exec-probe:
      container:
        image: nvidia/cuda:12.4.1-base-ubuntu22.04
        resources:
          resourceCpuLimit: '1'
          resourceMemoryLimit: 1Gi
          cpuLimit: 1.0
          memoryLimit: 1.073741824
          accelerator: {resourceType: nvidia.com/gpu, resourceCount: '1', type: nvidia.com/gpu, count: '1'}
pipelineInfo:
  name: kfcheck-gpu
root:
  dag:
    tasks:
      outer:
        componentRef: {name: comp-inner}
        taskInfo: {name: outer}
schemaVersion: 2.1.0
sdkVersion: kfp-2.15.2
---
platforms:
  kubernetes:
    deploymentSpec:
      executors:
        exec-probe:
          nodeSelector:
            labels: {cloud.google.com/gke-accelerator: nvidia-l4}
          tolerations:
          - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}
        exec-gone:
          nodeSelector:
            labels: {a: b}
"#;

    #[test]
    fn two_document_form_with_nested_dag() {
        let p = parse_pipeline(TWO_DOC).unwrap();
        assert_eq!(p.format, Format::KfpV2);
        assert_eq!(p.name.as_deref(), Some("kfcheck-gpu"));
        assert_eq!(p.tasks.len(), 1);
        let t = &p.tasks[0];
        assert_eq!(t.name, "outer/probe");
        assert_eq!(t.line, Some(13));
        assert_eq!(
            t.resources.memory_limit.as_ref().unwrap().field,
            "resourceMemoryLimit"
        );
        assert_eq!(t.resources.extended[0].name, "nvidia.com/gpu");
        assert_eq!(
            t.node_selector,
            vec![(
                "cloud.google.com/gke-accelerator".into(),
                "nvidia-l4".into()
            )]
        );
        assert_eq!(t.tolerations[0].key.as_deref(), Some("nvidia.com/gpu"));
        assert_eq!(p.orphan_platform_executors.len(), 1);
        assert_eq!(p.orphan_platform_executors[0].0, "exec-gone");
    }

    #[test]
    fn deprecated_fields_only() {
        let text = "deploymentSpec:\n  executors:\n    exec-a:\n      container:\n        image: x:1\n        resources:\n          memoryLimit: 0.268435456\n          cpuLimit: 2\n          accelerator: {type: NVIDIA_TESLA_T4, count: 1}\nroot:\n  executorLabel: exec-a\n";
        let p = parse_pipeline(text).unwrap();
        let r = &p.tasks[0].resources;
        assert_eq!(r.memory_limit.as_ref().unwrap().value(), Some(268435456.0));
        assert_eq!(r.cpu_limit.as_ref().unwrap().value(), Some(2.0));
        assert_eq!(r.extended[0].name, "NVIDIA_TESLA_T4");
        assert_eq!(p.tasks[0].name, "a");
    }

    #[test]
    fn api_wrapper_form() {
        let json = r#"{"pipeline_spec": {"deploymentSpec": {"executors": {"exec-a": {"container": {"image": "x:1"}}}},
            "root": {"dag": {"tasks": {"a": {"componentRef": {"name": "comp-a"}}}}},
            "components": {"comp-a": {"executorLabel": "exec-a"}}},
           "platform_spec": {"platforms": {"kubernetes": {"deploymentSpec": {"executors": {"exec-a": {"nodeSelector": {"labels": {"k": "v"}}}}}}}}}"#;
        let p = parse_pipeline(json).unwrap();
        assert_eq!(p.tasks[0].name, "a");
        assert_eq!(p.tasks[0].node_selector, vec![("k".into(), "v".into())]);
    }

    #[test]
    fn self_including_component_is_an_error() {
        let text = "components:\n  comp-a:\n    dag:\n      tasks:\n        a: {componentRef: {name: comp-a}}\nroot:\n  dag:\n    tasks:\n      a: {componentRef: {name: comp-a}}\ndeploymentSpec: {executors: {}}\n";
        assert!(parse_pipeline(text)
            .unwrap_err()
            .message
            .contains("comp-a includes itself"));
        let text = "components:\n  comp-a:\n    dag:\n      tasks:\n        b: {componentRef: {name: comp-b}}\n  comp-b:\n    dag:\n      tasks:\n        a: {componentRef: {name: comp-a}}\nroot:\n  dag:\n    tasks:\n      a: {componentRef: {name: comp-a}}\ndeploymentSpec: {executors: {}}\n";
        assert!(parse_pipeline(text)
            .unwrap_err()
            .message
            .contains("includes itself"));
    }
}
