//! The execution plan of a compiled KFP v2 pipeline for `local-run`: its root DAG's container
//! tasks in dependency order, with their images, commands, inputs and outputs. Pure: parsing and
//! placeholder substitution are unit-tested with literal pipelines.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Where an input parameter's value comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamSource {
    Pipeline(String),
    Constant(String),
    TaskOutput { task: String, key: String },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub task: String,
    pub image: String,
    pub command: Vec<String>,
    pub args: Vec<String>,
    pub params: BTreeMap<String, ParamSource>,
    /// Input artifact name → (producer task, its output key).
    pub artifacts: BTreeMap<String, (String, String)>,
    pub output_params: Vec<String>,
    pub output_artifacts: Vec<String>,
    pub gpu: bool,
    pub after: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub name: String,
    pub defaults: BTreeMap<String, Value>,
    /// In the order they run.
    pub steps: Vec<Step>,
}

/// A parameter value as text the way the KFP launcher passes it: integers without `.0`.
pub fn render_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn keys(v: Option<&Value>) -> Vec<String> {
    v.and_then(|x| x.as_object())
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(|x| x.as_array())
        .map(|a| {
            a.iter()
                .map(|s| {
                    s.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| s.to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Reads the plan from a KFP v2 IR document (the first one, when the platform spec follows).
pub fn parse(text: &str) -> Result<Plan, String> {
    let doc = serde_yaml_ng::Deserializer::from_str(text)
        .next()
        .ok_or("empty file")?;
    let v: Value = serde::Deserialize::deserialize(doc).map_err(|e| format!("not YAML: {e}"))?;
    // Wrapped form: {pipelineSpec: ..., platformSpec: ...}.
    let spec = v.get("pipelineSpec").unwrap_or(&v);
    if spec.get("deploymentSpec").is_none() || spec.get("root").is_none() {
        return Err(
            "not a KFP v2 pipeline (no deploymentSpec/root); local-run reads KFP v2 IR only".into(),
        );
    }
    let name = spec
        .pointer("/pipelineInfo/name")
        .and_then(|n| n.as_str())
        .unwrap_or("pipeline")
        .to_string();
    let defaults: BTreeMap<String, Value> = spec
        .pointer("/root/inputDefinitions/parameters")
        .and_then(|p| p.as_object())
        .map(|m| {
            m.iter()
                .filter_map(|(k, d)| d.get("defaultValue").map(|dv| (k.clone(), dv.clone())))
                .collect()
        })
        .unwrap_or_default();
    let tasks = spec
        .pointer("/root/dag/tasks")
        .and_then(|t| t.as_object())
        .ok_or("the root DAG has no tasks")?;
    let mut steps = BTreeMap::new();
    for (tname, t) in tasks {
        if t.get("iteratorPolicy").is_some()
            || t.get("parameterIterator").is_some()
            || t.get("artifactIterator").is_some()
        {
            return Err(format!(
                "task {tname}: loops (ParallelFor) are not supported by local-run"
            ));
        }
        if t.get("triggerPolicy")
            .and_then(|p| p.get("condition"))
            .is_some()
        {
            return Err(format!(
                "task {tname}: conditions (dsl.If) are not supported by local-run"
            ));
        }
        let comp_name = t
            .pointer("/componentRef/name")
            .and_then(|n| n.as_str())
            .ok_or(format!("task {tname}: no componentRef"))?;
        let comp = spec
            .pointer(&format!("/components/{comp_name}"))
            .ok_or(format!(
                "task {tname}: component {comp_name} is not defined"
            ))?;
        if comp.get("dag").is_some() {
            return Err(format!(
                "task {tname}: nested pipelines are not supported by local-run"
            ));
        }
        let label = comp
            .get("executorLabel")
            .and_then(|l| l.as_str())
            .ok_or(format!("component {comp_name}: no executorLabel"))?;
        let exec = spec
            .pointer(&format!("/deploymentSpec/executors/{label}"))
            .ok_or(format!("executor {label} is not defined"))?;
        let c = exec.get("container").ok_or(format!("task {tname}: executor {label} is not a container (importers and resolvers are not supported)"))?;
        let image = c
            .get("image")
            .and_then(|i| i.as_str())
            .ok_or(format!("task {tname}: no image"))?
            .to_string();
        let mut params = BTreeMap::new();
        if let Some(ps) = t.pointer("/inputs/parameters").and_then(|p| p.as_object()) {
            for (pname, src) in ps {
                let s = if let Some(p) = src.get("componentInputParameter").and_then(|x| x.as_str())
                {
                    ParamSource::Pipeline(p.to_string())
                } else if let Some(o) = src.get("taskOutputParameter") {
                    ParamSource::TaskOutput {
                        task: o
                            .get("producerTask")
                            .and_then(|x| x.as_str())
                            .unwrap_or_default()
                            .to_string(),
                        key: o
                            .get("outputParameterKey")
                            .and_then(|x| x.as_str())
                            .unwrap_or_default()
                            .to_string(),
                    }
                } else if let Some(k) = src.pointer("/runtimeValue/constant") {
                    ParamSource::Constant(render_value(k))
                } else {
                    return Err(format!("task {tname}: input parameter {pname} has a source local-run does not support"));
                };
                params.insert(pname.clone(), s);
            }
        }
        let mut artifacts = BTreeMap::new();
        if let Some(arts) = t.pointer("/inputs/artifacts").and_then(|p| p.as_object()) {
            for (aname, src) in arts {
                let o = src.get("taskOutputArtifact").ok_or(format!("task {tname}: input artifact {aname} does not come from a task (importers are not supported)"))?;
                let producer = o
                    .get("producerTask")
                    .and_then(|x| x.as_str())
                    .unwrap_or_default()
                    .to_string();
                let key = o
                    .get("outputArtifactKey")
                    .and_then(|x| x.as_str())
                    .unwrap_or_default()
                    .to_string();
                artifacts.insert(aname.clone(), (producer, key));
            }
        }
        let gpu = c
            .pointer("/resources/accelerator")
            .is_some_and(|a| !a.is_null());
        let mut after = strings(t.get("dependentTasks"));
        after.extend(params.values().filter_map(|p| {
            if let ParamSource::TaskOutput { task, .. } = p {
                Some(task.clone())
            } else {
                None
            }
        }));
        after.extend(artifacts.values().map(|(p, _)| p.clone()));
        after.sort();
        after.dedup();
        steps.insert(
            tname.clone(),
            Step {
                task: tname.clone(),
                image,
                command: strings(c.get("command")),
                args: strings(c.get("args")),
                params,
                artifacts,
                output_params: keys(comp.pointer("/outputDefinitions/parameters")),
                output_artifacts: keys(comp.pointer("/outputDefinitions/artifacts")),
                gpu,
                after,
            },
        );
    }
    Ok(Plan {
        name,
        defaults,
        steps: order(steps)?,
    })
}

/// Kahn's algorithm, ties broken by name so the order is stable.
fn order(mut steps: BTreeMap<String, Step>) -> Result<Vec<Step>, String> {
    for s in steps.values() {
        if let Some(missing) = s.after.iter().find(|a| !steps.contains_key(*a)) {
            return Err(format!("task {} depends on unknown task {missing}", s.task));
        }
    }
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    while !steps.is_empty() {
        let ready: Option<String> = steps
            .values()
            .find(|s| s.after.iter().all(|a| done.contains(a)))
            .map(|s| s.task.clone());
        let Some(name) = ready else {
            return Err(format!(
                "dependency cycle among tasks {}",
                steps.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        };
        if let Some(s) = steps.remove(&name) {
            done.insert(name);
            out.push(s);
        }
    }
    Ok(out)
}

/// Values a step's placeholders resolve to.
#[derive(Debug, Default)]
pub struct Bindings {
    pub params: BTreeMap<String, String>,
    /// Input artifact name → container path.
    pub input_artifacts: BTreeMap<String, String>,
    /// Output artifact name → container path.
    pub output_artifacts: BTreeMap<String, String>,
    /// Output parameter name → container path of its file.
    pub output_params: BTreeMap<String, String>,
}

/// Substitutes KFP placeholders in one command-line word.
pub fn substitute(word: &str, b: &Bindings) -> Result<String, String> {
    if word.trim_start().starts_with('{')
        && (word.contains("\"Concat\"") || word.contains("\"IfPresent\""))
    {
        return Err(format!(
            "placeholder {word} (Concat/IfPresent) is not supported by local-run"
        ));
    }
    let mut out = String::new();
    let mut rest = word;
    while let Some(i) = rest.find("{{$") {
        out.push_str(&rest[..i]);
        let end = rest[i..]
            .find("}}")
            .ok_or_else(|| format!("unterminated placeholder in {word}"))?
            + i;
        let inner = &rest[i + 3..end];
        out.push_str(&resolve(inner, b).ok_or_else(|| {
            format!("placeholder {{{{${inner}}}}} is not supported by local-run or has no value")
        })?);
        rest = &rest[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn quoted_name(s: &str) -> Option<(&str, &str)> {
    let s = s.strip_prefix("['")?;
    let end = s.find("']")?;
    Some((&s[..end], &s[end + 2..]))
}

fn resolve(inner: &str, b: &Bindings) -> Option<String> {
    if let Some(r) = inner.strip_prefix(".inputs.parameters") {
        let (n, tail) = quoted_name(r)?;
        return tail.is_empty().then(|| b.params.get(n).cloned()).flatten();
    }
    if let Some(r) = inner.strip_prefix(".inputs.artifacts") {
        let (n, tail) = quoted_name(r)?;
        return matches!(tail, ".path" | ".uri")
            .then(|| b.input_artifacts.get(n).cloned())
            .flatten();
    }
    if let Some(r) = inner.strip_prefix(".outputs.artifacts") {
        let (n, tail) = quoted_name(r)?;
        return matches!(tail, ".path" | ".uri")
            .then(|| b.output_artifacts.get(n).cloned())
            .flatten();
    }
    if let Some(r) = inner.strip_prefix(".outputs.parameters") {
        let (n, tail) = quoted_name(r)?;
        return (tail == ".output_file")
            .then(|| b.output_params.get(n).cloned())
            .flatten();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = include_str!("../../checks/pipelines/kfcheck-cpu-sample.yaml");

    #[test]
    fn the_cpu_sample_runs_in_dependency_order() {
        let p = parse(SAMPLE).unwrap();
        assert_eq!(p.name, "kfcheck-cpu-sample");
        let order: Vec<&str> = p.steps.iter().map(|s| s.task.as_str()).collect();
        assert_eq!(order, vec!["make-numbers", "sum-numbers", "check-total"]);
        assert_eq!(render_value(&p.defaults["count"]), "10");
        let sum = &p.steps[1];
        assert_eq!(
            sum.artifacts["numbers"],
            ("make-numbers".to_string(), "numbers".to_string())
        );
        assert_eq!(sum.output_params, vec!["total"]);
        assert_eq!(
            p.steps[2].params["total"],
            ParamSource::TaskOutput {
                task: "sum-numbers".into(),
                key: "total".into()
            }
        );
    }

    #[test]
    fn the_gpu_sample_marks_its_gpu_step() {
        // The platform spec follows as a second YAML document; only the first is read.
        let p = parse(include_str!(
            "../../checks/pipelines/kfcheck-gpu-sample.yaml"
        ))
        .unwrap();
        assert!(
            p.steps
                .iter()
                .any(|s| s.gpu && s.image.starts_with("nvidia/cuda")),
            "{:?}",
            p.steps
        );
    }

    #[test]
    fn placeholders_are_substituted_or_refused() {
        let mut b = Bindings::default();
        b.params.insert("count".into(), "10".into());
        b.output_artifacts.insert(
            "numbers".into(),
            "/kfcheck/data/make-numbers/artifacts/numbers".into(),
        );
        b.output_params
            .insert("total".into(), "/kfcheck/data/t/parameters/total".into());
        assert_eq!(
            substitute("{{$.inputs.parameters['count']}}", &b).unwrap(),
            "10"
        );
        assert_eq!(
            substitute("--n={{$.inputs.parameters['count']}}x", &b).unwrap(),
            "--n=10x"
        );
        assert_eq!(
            substitute("{{$.outputs.artifacts['numbers'].path}}", &b).unwrap(),
            "/kfcheck/data/make-numbers/artifacts/numbers"
        );
        assert_eq!(
            substitute("{{$.outputs.parameters['total'].output_file}}", &b).unwrap(),
            "/kfcheck/data/t/parameters/total"
        );
        assert!(substitute("{{$}}", &b).is_err());
        assert!(substitute("{{$.inputs.parameters['nope']}}", &b).is_err());
        assert!(substitute(r#"{"Concat": ["a"]}"#, &b).is_err());
    }

    #[test]
    fn cycles_and_unknown_dependencies_are_errors() {
        let text = SAMPLE.replace(
            "        dependentTasks:\n        - make-numbers\n",
            "        dependentTasks:\n        - check-total\n",
        );
        assert!(
            parse(&text).unwrap_err().contains("cycle"),
            "{:?}",
            parse(&text)
        );
        assert!(parse("a: 1").unwrap_err().contains("not a KFP v2 pipeline"));
    }
}
