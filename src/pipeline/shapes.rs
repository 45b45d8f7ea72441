//! The serde shapes of every supported format: the `Doc` union of the top-level keys one pass
//! over a document fills, the Kubernetes pieces (resources, tolerations, node affinity) that
//! several formats share, and one submodule per format for the rest. Data and small accessors
//! only; turning shapes into the task model is the job of `argo`, `argo_v2`, `tekton` and `v2`.

use super::model::{AffinityTerm, Requirement};
use super::yaml::Scalar;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Every top-level key any supported format uses; one pass over the text fills what exists.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Doc {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    // KFP v2 IR
    pub pipeline_info: Option<v2::PipelineInfo>,
    pub root: Option<v2::ComponentSpec>,
    pub components: Option<BTreeMap<String, v2::ComponentSpec>>,
    pub deployment_spec: Option<v2::DeploymentSpec>,
    pub sdk_version: Option<String>,
    pub platforms: Option<v2::Platforms>,
    /// `{"pipeline_spec": {...}, "platform_spec": {...}}` as the KFP API stores it, or a Vertex
    /// PipelineJob `{"pipelineSpec": ...}`.
    #[serde(alias = "pipeline_spec")]
    pub pipeline_spec: Option<Box<Doc>>,
    #[serde(alias = "platform_spec")]
    pub platform_spec: Option<Box<Doc>>,
    // Argo and Tekton
    pub metadata: Option<Metadata>,
    pub spec: Option<KubeSpec>,
    // Tekton `pipelineSpec` (the same key holds KFP IR in a PipelineVersion, hence one struct)
    pub tasks: Option<Vec<tekton::PipelineTask>>,
    #[serde(rename = "finally")]
    pub finally_tasks: Option<Vec<tekton::PipelineTask>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Metadata {
    pub name: Option<String>,
    pub generate_name: Option<String>,
    pub annotations: Option<Annotations>,
}

/// The annotations kfcheck reads (others, often long JSON strings, are skipped).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Annotations {
    #[serde(rename = "pipelines.kubeflow.org/kfp_sdk_version")]
    pub kfp_sdk_version: Option<Scalar>,
}

/// Union of the `spec` fields of Argo Workflows and Tekton objects that the task model needs.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KubeSpec {
    // Argo
    pub templates: Option<Vec<argo::Template>>,
    pub node_selector: Option<BTreeMap<String, Scalar>>,
    pub tolerations: Option<Vec<K8sToleration>>,
    pub affinity: Option<Affinity>,
    pub workflow_spec: Option<Box<KubeSpec>>,
    // Tekton PipelineRun (tasks) or KFP PipelineVersion (IR), see `Doc`
    pub pipeline_spec: Option<Box<Doc>>,
    /// KFP PipelineVersion (Kubernetes-native pipeline store)
    pub platform_spec: Option<Box<Doc>>,
    pub task_run_specs: Option<Vec<tekton::TaskRunSpec>>,
    pub task_run_template: Option<tekton::TaskRunTemplate>,
    pub pod_template: Option<tekton::PodTemplate>,
    pub tasks: Option<Vec<tekton::PipelineTask>>,
    #[serde(rename = "finally")]
    pub finally_tasks: Option<Vec<tekton::PipelineTask>>,
    pub steps: Option<Vec<tekton::Step>>,
    pub step_template: Option<tekton::Step>,
}

/// Kubernetes-style `{limits: {...}, requests: {...}}` (Argo and Tekton containers).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct K8sResources {
    #[serde(default)]
    pub limits: Option<BTreeMap<String, Scalar>>,
    #[serde(default)]
    pub requests: Option<BTreeMap<String, Scalar>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct K8sToleration {
    pub key: Option<String>,
    pub operator: Option<String>,
    pub value: Option<Scalar>,
    pub effect: Option<String>,
}

/// `place.nodeSelector`-style names of the placement keys present (`[nodeSelector, tolerations,
/// affinity]`) inside a container or step, where Kubernetes, Argo and Tekton ignore them.
pub(crate) fn misplaced(place: &str, present: [bool; 3]) -> Vec<String> {
    ["nodeSelector", "tolerations", "affinity"]
        .into_iter()
        .zip(present)
        .filter(|(_, p)| *p)
        .map(|(k, _)| format!("{place}.{k}"))
        .collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Affinity {
    pub node_affinity: Option<NodeAffinity>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeAffinity {
    pub required_during_scheduling_ignored_during_execution: Option<NodeSelectorBlock>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeSelectorBlock {
    #[serde(default)]
    pub node_selector_terms: Vec<NodeSelectorTerm>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeSelectorTerm {
    #[serde(default)]
    pub match_expressions: Option<Vec<MatchExpression>>,
    #[serde(default)]
    pub match_fields: Option<Vec<MatchExpression>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct MatchExpression {
    pub key: Option<String>,
    pub operator: Option<String>,
    #[serde(default)]
    pub values: Option<Vec<Scalar>>,
}

impl MatchExpression {
    /// The requirement as written; a missing key or operator stays empty (and invalid).
    pub fn requirement(&self) -> Requirement {
        Requirement {
            key: self.key.clone().unwrap_or_default(),
            operator: self.operator.clone().unwrap_or_default(),
            values: self.values.iter().flatten().map(|v| v.0.clone()).collect(),
        }
    }
}

/// A node selector term of the task model, from its `matchExpressions` and `matchFields`.
pub(crate) fn affinity_term(
    expressions: Option<&[MatchExpression]>,
    fields: Option<&[MatchExpression]>,
) -> AffinityTerm {
    AffinityTerm {
        match_expressions: expressions
            .into_iter()
            .flatten()
            .map(MatchExpression::requirement)
            .collect(),
        match_fields: fields
            .into_iter()
            .flatten()
            .map(MatchExpression::requirement)
            .collect(),
    }
}

impl Affinity {
    /// The required node-affinity terms, or `None` when there is no required node affinity. A
    /// `requiredDuringSchedulingIgnoredDuringExecution` without terms is kept as `Some(vec![])`:
    /// it matches no node (and the API server rejects it).
    pub fn required_terms(&self) -> Option<Vec<AffinityTerm>> {
        let req = self
            .node_affinity
            .as_ref()?
            .required_during_scheduling_ignored_during_execution
            .as_ref()?;
        Some(
            req.node_selector_terms
                .iter()
                .map(|t| affinity_term(t.match_expressions.as_deref(), t.match_fields.as_deref()))
                .collect(),
        )
    }
}

/// KFP v2 IR and the kfp-kubernetes platform spec.
pub(crate) mod v2 {
    use super::{MatchExpression, Scalar};
    use serde::de::IgnoredAny;
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Default, Deserialize)]
    pub(crate) struct PipelineInfo {
        pub name: Option<String>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct ComponentSpec {
        pub executor_label: Option<String>,
        pub dag: Option<Dag>,
    }

    #[derive(Debug, Default, Deserialize)]
    pub(crate) struct Dag {
        pub tasks: Option<BTreeMap<String, DagTask>>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct DagTask {
        pub component_ref: Option<NameRef>,
        pub task_info: Option<NameRef>,
    }

    #[derive(Debug, Default, Deserialize)]
    pub(crate) struct NameRef {
        pub name: Option<String>,
    }

    #[derive(Debug, Default, Deserialize)]
    pub(crate) struct DeploymentSpec {
        pub executors: Option<BTreeMap<String, Executor>>,
    }

    #[derive(Debug, Default, Deserialize)]
    pub(crate) struct Executor {
        pub container: Option<Container>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct Container {
        pub image: Option<String>,
        pub resources: Option<V2Resources>,
        // Placement keys here are ignored by the platform (rule placement-ignored).
        pub node_selector: Option<serde::de::IgnoredAny>,
        pub tolerations: Option<serde::de::IgnoredAny>,
        pub affinity: Option<serde::de::IgnoredAny>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct V2Resources {
        pub cpu_limit: Option<Scalar>,
        pub cpu_request: Option<Scalar>,
        pub memory_limit: Option<Scalar>,
        pub memory_request: Option<Scalar>,
        pub resource_cpu_limit: Option<Scalar>,
        pub resource_cpu_request: Option<Scalar>,
        pub resource_memory_limit: Option<Scalar>,
        pub resource_memory_request: Option<Scalar>,
        pub accelerator: Option<Accelerator>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct Accelerator {
        #[serde(rename = "type")]
        pub type_: Option<Scalar>,
        pub count: Option<Scalar>,
        pub resource_type: Option<Scalar>,
        pub resource_count: Option<Scalar>,
    }

    #[derive(Debug, Default, Deserialize)]
    pub(crate) struct Platforms {
        pub kubernetes: Option<KubernetesPlatform>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct KubernetesPlatform {
        pub deployment_spec: Option<PlatformDeployment>,
    }

    #[derive(Debug, Default, Deserialize)]
    pub(crate) struct PlatformDeployment {
        pub executors: Option<BTreeMap<String, ExecutorConfig>>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct ExecutorConfig {
        pub node_selector: Option<PlatformNodeSelector>,
        pub tolerations: Option<Vec<PlatformToleration>>,
        pub node_affinity: Option<Vec<PlatformNodeAffinity>>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct PlatformNodeSelector {
        pub labels: Option<BTreeMap<String, Scalar>>,
        pub node_selector_json: Option<IgnoredAny>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct PlatformToleration {
        pub key: Option<String>,
        pub operator: Option<String>,
        pub value: Option<Scalar>,
        pub effect: Option<String>,
        pub toleration_json: Option<IgnoredAny>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct PlatformNodeAffinity {
        pub match_expressions: Option<Vec<MatchExpression>>,
        pub match_fields: Option<Vec<MatchExpression>>,
        pub node_affinity_json: Option<IgnoredAny>,
        pub weight: Option<IgnoredAny>,
    }
}

/// Argo Workflows: templates and the `podSpecPatch` string they may carry.
pub(crate) mod argo {
    use super::{Affinity, K8sResources, K8sToleration, Scalar};
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct Template {
        pub name: Option<String>,
        pub container: Option<Container>,
        pub script: Option<Container>,
        pub node_selector: Option<BTreeMap<String, Scalar>>,
        pub tolerations: Option<Vec<K8sToleration>>,
        pub affinity: Option<Affinity>,
        pub pod_spec_patch: Option<String>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct Container {
        pub image: Option<String>,
        pub resources: Option<K8sResources>,
        // Placement keys here are ignored by the platform (rule placement-ignored).
        pub node_selector: Option<serde::de::IgnoredAny>,
        pub tolerations: Option<serde::de::IgnoredAny>,
        pub affinity: Option<serde::de::IgnoredAny>,
    }

    /// The part of an Argo `podSpecPatch` (a JSON string; kfp 1.8 puts parameterised resources and
    /// node selectors there) that the task model needs.
    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct PodSpecPatch {
        #[serde(default)]
        pub containers: Vec<PatchContainer>,
        pub node_selector: Option<BTreeMap<String, Scalar>>,
        pub tolerations: Option<Vec<K8sToleration>>,
        pub affinity: Option<Affinity>,
    }

    #[derive(Debug, Default, Deserialize)]
    pub(crate) struct PatchContainer {
        pub name: Option<String>,
        pub resources: Option<K8sResources>,
    }
}

/// What a KFP v2 compiled Argo Workflow keeps outside its templates' containers: the workflow
/// parameters (JSON strings of the IR's components, containers and Kubernetes configs) and the
/// DAG tasks whose arguments name them. Read only for workflows with KFP's driver templates, in a
/// second pass, so that the `arguments` of every other Argo workflow stay unread.
pub(crate) mod kfp_argo {
    use super::Scalar;
    use serde::Deserialize;

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct Workflow {
        pub api_version: Option<String>,
        pub kind: Option<String>,
        pub spec: Option<WorkflowSpec>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct WorkflowSpec {
        pub arguments: Option<Arguments>,
        pub templates: Option<Vec<Template>>,
        /// CronWorkflow nests the workflow spec.
        pub workflow_spec: Option<Box<WorkflowSpec>>,
    }

    #[derive(Debug, Default, Deserialize)]
    pub(crate) struct Arguments {
        pub parameters: Option<Vec<Parameter>>,
    }

    #[derive(Debug, Default, Deserialize)]
    pub(crate) struct Parameter {
        pub name: Option<String>,
        pub value: Option<Scalar>,
    }

    #[derive(Debug, Default, Deserialize)]
    pub(crate) struct Template {
        pub dag: Option<Dag>,
    }

    #[derive(Debug, Default, Deserialize)]
    pub(crate) struct Dag {
        pub tasks: Option<Vec<DagTask>>,
    }

    #[derive(Debug, Default, Deserialize)]
    pub(crate) struct DagTask {
        pub name: Option<String>,
        pub arguments: Option<Arguments>,
    }
}

/// Tekton pipelines, tasks, steps and pod templates.
pub(crate) mod tekton {
    use super::{Affinity, K8sResources, K8sToleration, Scalar};
    use serde::Deserialize;
    use std::collections::BTreeMap;

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct PipelineSpec {
        pub tasks: Option<Vec<PipelineTask>>,
        #[serde(rename = "finally")]
        pub finally_tasks: Option<Vec<PipelineTask>>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct PipelineTask {
        pub name: Option<String>,
        pub task_spec: Option<TaskSpec>,
        pub task_ref: Option<TaskRef>,
    }

    #[derive(Debug, Default, Deserialize)]
    pub(crate) struct TaskRef {
        pub name: Option<String>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct TaskSpec {
        pub steps: Option<Vec<Step>>,
        pub step_template: Option<Step>,
        /// Custom tasks (kfp-tekton PipelineLoop) embed a whole pipeline spec.
        pub spec: Option<Box<CustomTaskSpec>>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct CustomTaskSpec {
        pub pipeline_spec: Option<PipelineSpec>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct Step {
        pub name: Option<String>,
        pub image: Option<String>,
        pub resources: Option<K8sResources>,
        pub compute_resources: Option<K8sResources>,
        // Placement keys here are ignored by the platform (rule placement-ignored).
        pub node_selector: Option<serde::de::IgnoredAny>,
        pub tolerations: Option<serde::de::IgnoredAny>,
        pub affinity: Option<serde::de::IgnoredAny>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct TaskRunSpec {
        pub pipeline_task_name: Option<String>,
        pub pod_template: Option<PodTemplate>,
        pub task_pod_template: Option<PodTemplate>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct TaskRunTemplate {
        pub pod_template: Option<PodTemplate>,
    }

    #[derive(Debug, Default, Deserialize)]
    #[serde(rename_all = "camelCase")]
    pub(crate) struct PodTemplate {
        pub node_selector: Option<BTreeMap<String, Scalar>>,
        pub tolerations: Option<Vec<K8sToleration>>,
        pub affinity: Option<Affinity>,
    }
}
