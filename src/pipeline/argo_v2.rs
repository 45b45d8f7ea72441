//! Argo Workflows that the KFP v2 backend compiles (`backend/src/v2/compiler/argocompiler`).
//! Every template in them is KFP's machinery: the driver (`system-container-driver`,
//! `system-dag-driver`), the launcher template (`system-container-impl`, whose placeholder image
//! the driver's pod-spec patch replaces) and plain DAGs. The user's tasks exist only as JSON
//! strings in `spec.arguments.parameters`: `components-root` and `components-<name>` (DAG
//! components), `components-<hash>` / `implementations-<hash>` (a container component's spec and
//! its container, shared by all components with that container) and `kubernetes-<component>`
//! (its kfp-kubernetes config). The container driver tasks say which component uses which
//! (their `task`, `component`, `container` and `kubernetes-config` arguments).
//!
//! Those strings are read back into the IR's shapes and walked by `v2`, so the tasks, their
//! names and every rule are exactly what the same pipeline's IR gives. KFP's templates and their
//! images are never tasks. The executor label of each task is its component's name: the
//! backend keys Kubernetes configs by component, and components sharing one container share the
//! stored `executorLabel` of only one of them.

use super::model::{Format, Pipeline};
use super::shapes::kfp_argo::{DagTask as ArgoTask, Workflow, WorkflowSpec};
use super::shapes::v2::{ComponentSpec, Container, DagTask, ExecutorConfig};
use super::shapes::{Doc, KubeSpec};
use super::v2::{self, Ir};
use super::yaml::{check_alias_budget, offset_of, yaml_error, LineIndex, ParseError};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

/// Templates only KFP's compiler writes. The launcher template may carry a `retry-` or
/// `metadata-<n>-<m>-` prefix.
const DRIVER_TEMPLATES: [&str; 3] = [
    "system-container-driver",
    "system-dag-driver",
    "system-importer",
];
const LAUNCHER_TEMPLATE: &str = "system-container-impl";

/// Parameter name prefixes the compiler stores the IR under.
const COMPONENTS: &str = "components-";
const IMPLEMENTATIONS: &str = "implementations-";
const KUBERNETES: &str = "kubernetes-";
const ROOT: &str = "components-root";

/// Whether an Argo document has KFP's driver or launcher templates: the first half of
/// recognising the form (the second is its JSON parameters, read by [`to_pipeline`]).
pub(crate) fn has_kfp_templates(doc: &Doc) -> bool {
    let Some(spec) = doc.spec.as_ref() else {
        return false;
    };
    let spec: &KubeSpec = spec.workflow_spec.as_deref().unwrap_or(spec);
    spec.templates
        .iter()
        .flatten()
        .filter_map(|t| t.name.as_deref())
        .any(|n| DRIVER_TEMPLATES.contains(&n) || n.ends_with(LAUNCHER_TEMPLATE))
}

/// The pipeline of a workflow with KFP's templates, or `None` when it holds none of KFP's JSON
/// parameters nor a container driver task after all (then it is read as any Argo workflow).
///
/// The parameters are read in a second pass over `text` with the full parser (JSON or YAML):
/// the first pass leaves every `arguments` block unread, which keeps other Argo workflows fast.
pub(crate) fn to_pipeline(doc: &Doc, text: &str) -> Result<Option<Pipeline>, ParseError> {
    let Some(workflow) = read_workflow(text)? else {
        return Ok(None);
    };
    let Some(spec) = workflow.spec.as_ref() else {
        return Ok(None);
    };
    let spec: &WorkflowSpec = spec.workflow_spec.as_deref().unwrap_or(spec);
    let index = LineIndex::new(
        text,
        offset_of(text, "arguments:")
            .or_else(|| offset_of(text, "\"arguments\""))
            .unwrap_or(0),
    );
    let params = Params::new(spec, &index);
    let calls: Vec<&ArgoTask> = spec
        .templates
        .iter()
        .flatten()
        .filter_map(|t| t.dag.as_ref()?.tasks.as_ref())
        .flatten()
        .filter(|t| argument(t, "container").is_some())
        .collect();
    let kfp_params = params.order.iter().any(|n| {
        n.starts_with(COMPONENTS) || n.starts_with(IMPLEMENTATIONS) || n.starts_with(KUBERNETES)
    });
    if !kfp_params && calls.is_empty() {
        return Ok(None);
    }
    let stored = Stored::read(&params)?;
    let uses = calls
        .iter()
        .map(|t| Use::of(t, &params, &index))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(root) = stored.components.get(ROOT) else {
        return Err(ParseError::new(format!(
            "KFP v2 Argo Workflow without the {ROOT} parameter (spec.arguments.parameters), so its DAG cannot be read"
        )));
    };
    let inline = Inline::read(&uses)?;
    let executors: Vec<ComponentSpec> = uses
        .iter()
        .map(|u| ComponentSpec {
            executor_label: Some(u.component.clone()),
            dag: None,
        })
        .collect();
    let mut lines: HashMap<&str, Option<u64>> = HashMap::new();

    // The IR, by reference: DAG components under their own names, each container component
    // as an executor labelled with its component name.
    let mut ir = Ir {
        root: Some(root),
        components: stored
            .components
            .iter()
            .filter(|(name, _)| **name != ROOT)
            .filter_map(|(name, c)| Some((name.strip_prefix(COMPONENTS)?, c)))
            .collect(),
        containers: BTreeMap::new(),
        platform: BTreeMap::new(),
    };
    for (i, (u, exec)) in uses.iter().zip(&executors).enumerate() {
        let name = u.component.as_str();
        if ir.containers.contains_key(name) {
            continue; // the same component in another DAG or loop iteration
        }
        let container = match &u.container {
            Json::Param(p) => stored.containers.get(p),
            Json::Inline(_) => inline.containers.get(&i),
        };
        let Some(container) = container else {
            // A defined parameter outside `implementations-*`: no container was parsed from it.
            return Err(ParseError {
                line: u.line,
                ..ParseError::new(format!(
                    "the container argument of KFP driver task {} names a workflow parameter that is not an {IMPLEMENTATIONS}* one; its task cannot be read",
                    u.task
                ))
            });
        };
        ir.components.insert(name, exec);
        ir.containers.insert(name, container);
        let platform = match &u.kubernetes {
            Some(Json::Param(p)) => stored.kubernetes.get(p),
            Some(Json::Inline(_)) => inline.kubernetes.get(&i),
            None => None,
        };
        if let Some(cfg) = platform {
            ir.platform.insert(name, cfg);
        }
        lines.insert(name, u.line);
    }
    let line = |label: &str| lines.get(label).copied().flatten();
    let tasks = v2::tasks(&ir, &line)?;
    Ok(Some(Pipeline {
        format: Format::KfpV2Argo,
        name: super::argo::workflow_name(doc),
        sdk_version: None,
        tasks,
        orphan_platform_executors: Vec::new(),
    }))
}

/// The first Argo workflow of `text`, with the parts only this form needs.
fn read_workflow(text: &str) -> Result<Option<Workflow>, ParseError> {
    let is_argo = |w: &Workflow| {
        w.api_version
            .as_deref()
            .is_some_and(|v| v.starts_with("argoproj.io/"))
            && matches!(
                w.kind.as_deref(),
                Some("Workflow" | "WorkflowTemplate" | "ClusterWorkflowTemplate" | "CronWorkflow")
            )
    };
    if text.trim_start().starts_with('{') {
        if let Ok(w) = serde_json::from_str::<Workflow>(text) {
            return Ok(Some(w).filter(is_argo));
        }
    }
    check_alias_budget(text)?;
    for de in serde_yaml_ng::Deserializer::from_str(text) {
        match Option::<Workflow>::deserialize(de) {
            Ok(Some(w)) if is_argo(&w) => return Ok(Some(w)),
            Ok(_) => {}
            Err(e) => return Err(yaml_error(e)),
        }
    }
    Ok(None)
}

/// The workflow's parameters by name (the first of a name counts), in order, with their lines.
struct Params<'w> {
    values: HashMap<&'w str, &'w str>,
    order: Vec<&'w str>,
    index: &'w LineIndex<'w>,
}

impl<'w> Params<'w> {
    fn new(spec: &'w WorkflowSpec, index: &'w LineIndex<'w>) -> Self {
        let mut p = Params {
            values: HashMap::new(),
            order: Vec::new(),
            index,
        };
        for param in spec
            .arguments
            .iter()
            .flat_map(|a| a.parameters.iter().flatten())
        {
            let Some(name) = param.name.as_deref() else {
                continue;
            };
            let value = param.value.as_ref().map_or("", |v| v.0.as_str());
            if let Entry::Vacant(e) = p.values.entry(name) {
                e.insert(value);
                p.order.push(name);
            }
        }
        p
    }

    fn line(&self, name: &str) -> Option<u64> {
        self.index.item_name(name)
    }
}

/// Where the JSON of a driver task argument is: a workflow parameter it names
/// (`{{workflow.parameters.<name>}}`, how the compiler writes it), or the argument itself.
enum Json<'w> {
    Param(&'w str),
    Inline(&'w str),
}

/// One container driver task: the component it runs and where its container and Kubernetes
/// config are.
struct Use<'w> {
    task: &'w str,
    component: String,
    container: Json<'w>,
    kubernetes: Option<Json<'w>>,
    /// The line of the container's parameter (or of the driver task when it is inline).
    line: Option<u64>,
}

impl<'w> Use<'w> {
    fn of(
        t: &'w ArgoTask,
        params: &Params<'w>,
        index: &LineIndex<'_>,
    ) -> Result<Use<'w>, ParseError> {
        let task = t.name.as_deref().unwrap_or("<unnamed task>");
        let task_line = index.name(task);
        let at = |message: String| ParseError {
            line: task_line,
            ..ParseError::new(message)
        };
        let Some(spec) = argument(t, "task") else {
            return Err(at(format!(
                "KFP driver task {task} has no task argument, so its component is unknown"
            )));
        };
        let spec: DagTask =
            json(spec, &format!("the task argument of driver task {task}")).map_err(&at)?;
        let Some(component) = spec.component_ref.and_then(|c| c.name) else {
            return Err(at(format!(
                "the task argument of KFP driver task {task} names no componentRef"
            )));
        };
        let locate = |arg: &str, value: &'w str| -> Result<Json<'w>, ParseError> {
            let v = value.trim();
            if let Some(name) = v
                .strip_prefix("{{workflow.parameters.")
                .and_then(|r| r.strip_suffix("}}"))
                .map(str::trim)
            {
                return match params.values.get_key_value(name) {
                    Some((name, _)) => Ok(Json::Param(name)),
                    None => Err(at(format!(
                        "the {arg} argument of KFP driver task {task} names workflow parameter {name}, which is not defined in spec.arguments.parameters"
                    ))),
                };
            }
            if v.starts_with('{') {
                return Ok(Json::Inline(value));
            }
            Err(at(format!(
                "the {arg} argument of KFP driver task {task} is {v:?}, neither JSON nor a workflow parameter; its task cannot be read"
            )))
        };
        let container = locate("container", argument(t, "container").unwrap_or_default())?;
        // The backend itself looks the config up by component name when the argument is absent.
        let kubernetes = match argument(t, "kubernetes-config") {
            Some(v) if !v.trim().is_empty() => Some(locate("kubernetes-config", v)?),
            Some(_) => None,
            None => params
                .values
                .get_key_value(format!("{KUBERNETES}{component}").as_str())
                .map(|(name, _)| Json::Param(name)),
        };
        let line = match container {
            Json::Param(p) => params.line(p),
            Json::Inline(_) => task_line,
        };
        Ok(Use {
            task,
            component,
            container,
            kubernetes,
            line,
        })
    }
}

/// Every KFP parameter, parsed once (the driver reads them all; one that does not parse is an
/// error even where no task uses it).
struct Stored<'w> {
    components: BTreeMap<&'w str, ComponentSpec>,
    containers: HashMap<&'w str, Container>,
    kubernetes: HashMap<&'w str, ExecutorConfig>,
}

impl<'w> Stored<'w> {
    fn read(params: &Params<'w>) -> Result<Self, ParseError> {
        let mut s = Stored {
            components: BTreeMap::new(),
            containers: HashMap::new(),
            kubernetes: HashMap::new(),
        };
        for &name in &params.order {
            let value = params.values[name];
            let at = |message: String| ParseError {
                line: params.line(name),
                ..ParseError::new(message)
            };
            let what = format!("workflow parameter {name}");
            if name.starts_with(COMPONENTS) {
                s.components.insert(name, json(value, &what).map_err(at)?);
            } else if name.starts_with(IMPLEMENTATIONS) {
                s.containers.insert(name, json(value, &what).map_err(at)?);
            } else if name.starts_with(KUBERNETES) {
                s.kubernetes.insert(name, json(value, &what).map_err(at)?);
            }
        }
        Ok(s)
    }
}

/// Containers and Kubernetes configs written inline in driver task arguments, by the index of
/// the driver task in the list of uses.
struct Inline {
    containers: HashMap<usize, Container>,
    kubernetes: HashMap<usize, ExecutorConfig>,
}

impl Inline {
    fn read(uses: &[Use<'_>]) -> Result<Self, ParseError> {
        let mut out = Inline {
            containers: HashMap::new(),
            kubernetes: HashMap::new(),
        };
        for (i, u) in uses.iter().enumerate() {
            let at = |message: String| ParseError {
                line: u.line,
                ..ParseError::new(message)
            };
            if let Json::Inline(v) = u.container {
                let what = format!("the container argument of driver task {}", u.task);
                out.containers.insert(i, json(v, &what).map_err(at)?);
            }
            if let Some(Json::Inline(v)) = u.kubernetes {
                let what = format!("the kubernetes-config argument of driver task {}", u.task);
                out.kubernetes.insert(i, json(v, &what).map_err(at)?);
            }
        }
        Ok(out)
    }
}

/// The value of a DAG task's argument `name`.
fn argument<'t>(task: &'t ArgoTask, name: &str) -> Option<&'t str> {
    task.arguments
        .as_ref()?
        .parameters
        .iter()
        .flatten()
        .find(|p| p.name.as_deref() == Some(name))
        .map(|p| p.value.as_ref().map_or("", |v| v.0.as_str()))
}

/// `value` parsed as JSON, or the message for `what` that does not parse. serde_json's
/// position is within the value, so it is worded as such (the file line is the caller's).
fn json<T: DeserializeOwned>(value: &str, what: &str) -> Result<T, String> {
    serde_json::from_str(value).map_err(|e| {
        let full = e.to_string();
        let reason = full
            .rfind(" at line ")
            .map_or(full.as_str(), |i| &full[..i]);
        let place = if e.line() > 1 {
            format!(" at line {} column {} of the value", e.line(), e.column())
        } else if e.column() > 0 {
            format!(" at column {} of the value", e.column())
        } else {
            String::new()
        };
        format!("malformed JSON in {what}{place}: {reason}; the KFP driver cannot read it either")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::parse_pipeline;

    /// The least the compiler writes for one GPU task: its parameters, the driver task naming
    /// them, and KFP's templates (which must never become tasks).
    fn workflow(params: &str, driver_args: &str) -> String {
        format!(
            r#"apiVersion: argoproj.io/v1alpha1
kind: Workflow
metadata: {{generateName: probe-}}
spec:
  arguments:
    parameters:
{params}
  entrypoint: entrypoint
  templates:
  - name: system-container-driver
    container: {{image: 'ghcr.io/kubeflow/kfp-driver', command: [driver]}}
  - name: system-container-impl
    container: {{image: gcr.io/ml-pipeline/should-be-overridden-during-runtime}}
  - name: system-dag-driver
    container: {{image: 'ghcr.io/kubeflow/kfp-driver', command: [driver]}}
  - name: root
    dag:
      tasks:
      - name: probe-driver
        template: system-container-driver
        arguments:
          parameters:
          - name: task
            value: '{{"componentRef":{{"name":"comp-probe"}},"taskInfo":{{"name":"probe"}}}}'
{driver_args}
      - {{name: probe, template: system-container-executor}}
"#
        )
    }

    const PARAMS: &str = r#"    - name: components-root
      value: '{"dag":{"tasks":{"probe":{"componentRef":{"name":"comp-probe"},"taskInfo":{"name":"probe"}}}}}'
    - name: components-abc
      value: '{"executorLabel":"exec-probe"}'
    - name: implementations-abc
      value: '{"image":"nvidia/cuda:12.4.1-base-ubuntu22.04","resources":{"accelerator":{"resourceType":"nvidia.com/gpu","resourceCount":"2"},"resourceMemoryLimit":"4Gi"}}'
    - name: kubernetes-comp-probe
      value: '{"nodeSelector":{"labels":{"pool":"gpu"}},"tolerations":[{"key":"nvidia.com/gpu","operator":"Exists","effect":"NoSchedule"}]}'"#;

    const ARGS: &str = r#"          - name: component
            value: '{{workflow.parameters.components-abc}}'
          - name: container
            value: '{{workflow.parameters.implementations-abc}}'
          - name: kubernetes-config
            value: '{{workflow.parameters.kubernetes-comp-probe}}'"#;

    #[test]
    fn tasks_come_from_the_parameters_and_never_from_kfp_templates() {
        let text = workflow(PARAMS, ARGS);
        let p = parse_pipeline(&text).unwrap();
        assert_eq!(p.format, Format::KfpV2Argo);
        assert_eq!(p.name.as_deref(), Some("probe"));
        assert_eq!(p.tasks.len(), 1, "{:#?}", p.tasks);
        let t = &p.tasks[0];
        assert_eq!(t.name, "probe");
        assert_eq!(t.executor.as_deref(), Some("comp-probe"));
        assert_eq!(
            t.image.as_deref(),
            Some("nvidia/cuda:12.4.1-base-ubuntu22.04")
        );
        assert_eq!(t.resources.extended[0].name, "nvidia.com/gpu");
        assert_eq!(t.resources.extended[0].limit.as_ref().unwrap().raw, "2");
        assert_eq!(t.node_selector, [("pool".to_string(), "gpu".to_string())]);
        assert_eq!(t.tolerations[0].key.as_deref(), Some("nvidia.com/gpu"));
        // At the line of its container's parameter.
        assert_eq!(t.line, Some(11));
        assert_eq!(
            parse_pipeline(&text),
            super::super::parse::parse_pipeline_full(&text)
        );
    }

    #[test]
    fn a_missing_kubernetes_config_argument_falls_back_to_the_components_parameter() {
        let args = ARGS.lines().take(4).collect::<Vec<_>>().join("\n");
        let p = parse_pipeline(&workflow(PARAMS, &args)).unwrap();
        assert_eq!(p.tasks[0].tolerations.len(), 1);
    }

    #[test]
    fn inline_json_in_driver_arguments_is_read_too() {
        let params = PARAMS.lines().take(2).collect::<Vec<_>>().join("\n");
        let args = r#"          - name: container
            value: '{"image":"python:3.11","resources":{"resourceCpuLimit":"1"}}'
          - name: kubernetes-config
            value: '{"nodeSelector":{"labels":{"pool":"cpu"}}}'"#;
        let p = parse_pipeline(&workflow(&params, args)).unwrap();
        let t = &p.tasks[0];
        assert_eq!(t.image.as_deref(), Some("python:3.11"));
        assert_eq!(t.node_selector, [("pool".to_string(), "cpu".to_string())]);
        assert_eq!(t.line, Some(20));
        let bad = args.replacen(r#"{"image""#, r#"{image""#, 1);
        let e = parse_pipeline(&workflow(&params, &bad)).unwrap_err();
        assert_eq!(
            e.message,
            "malformed JSON in the container argument of driver task probe-driver at column 2 of the value: key must be a string; the KFP driver cannot read it either"
        );
        assert_eq!(e.line, Some(20));
    }

    #[test]
    fn malformed_or_missing_json_is_an_error_not_a_panic() {
        for (from, to, wanted) in [
            (
                r#"'{"executorLabel""#,
                "'{executorLabel",
                "workflow parameter components-abc",
            ),
            (
                r#"'{"image""#,
                "'[",
                "workflow parameter implementations-abc",
            ),
            (
                r#""resourceCount":"2"}"#,
                r#""resourceCount":{"#,
                "implementations-abc",
            ),
            (
                r#"'{"nodeSelector":{"labels":{"pool":"gpu"}}"#,
                r#"'{"nodeSelector":7"#,
                "workflow parameter kubernetes-comp-probe",
            ),
            (
                r#""dag":{"tasks":{"#,
                r#""dag":{"tasks":"#,
                "components-root",
            ),
        ] {
            let params = PARAMS.replacen(from, to, 1);
            assert_ne!(params, PARAMS, "{from}");
            let e = parse_pipeline(&workflow(&params, ARGS)).unwrap_err();
            assert!(
                e.message.starts_with("malformed JSON in ") && e.message.contains(wanted),
                "{from}: {e:?}"
            );
            assert!(e.line.is_some(), "{e:?}");
        }
        let no_root = PARAMS.replacen("components-root", "components-other", 1);
        let e = parse_pipeline(&workflow(&no_root, ARGS)).unwrap_err();
        assert!(
            e.message.contains("without the components-root parameter"),
            "{e:?}"
        );
        let other = ARGS.replacen("implementations-abc", "components-abc", 1);
        let e = parse_pipeline(&workflow(PARAMS, &other)).unwrap_err();
        assert!(e.message.contains("not an implementations-* one"), "{e:?}");
        let e = parse_pipeline(&workflow(
            PARAMS,
            &ARGS.replace("implementations-abc", "gone"),
        ))
        .unwrap_err();
        assert!(
            e.message
                .contains("names workflow parameter gone, which is not defined"),
            "{e:?}"
        );
        // Deeply nested JSON costs no stack: serde_json steps over unread values in a loop and
        // stops read ones at its recursion limit.
        let deep = format!("{}1{}", r#"{"x":"#.repeat(100_000), "}".repeat(100_000));
        let ignored = format!(r#"'{{"executorLabel":"exec-probe","x":{deep}}}'"#);
        let params = PARAMS.replacen(r#"'{"executorLabel":"exec-probe"}'"#, &ignored, 1);
        assert_eq!(
            parse_pipeline(&workflow(&params, ARGS))
                .unwrap()
                .tasks
                .len(),
            1
        );
        let read = format!("'{}'", r#"{"dag":"#.repeat(100_000));
        let params = PARAMS.replacen(r#"'{"executorLabel":"exec-probe"}'"#, &read, 1);
        let e = parse_pipeline(&workflow(&params, ARGS)).unwrap_err();
        assert!(
            e.message
                .contains("malformed JSON in workflow parameter components-abc"),
            "{e:?}"
        );
    }

    #[test]
    fn kfp_templates_without_kfp_parameters_read_as_any_argo_workflow() {
        let text = workflow("    - {name: message, value: hi}", "");
        let p = parse_pipeline(&text).unwrap();
        assert_eq!(p.format, Format::Argo);
        assert!(p.tasks.iter().any(|t| t.name == "system-container-driver"));
    }
}
