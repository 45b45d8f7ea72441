//! The raw-YAML door: kfcheck's own sample Workflow (`checks/workflows/`, the work of the CPU or
//! GPU sample without KFP in between) or a user's Workflow file, created straight in the profile
//! namespace with the Kubernetes API as the ServiceAccount real runs use there, **watched** (not
//! polled) to a terminal phase, told door-neutrally ([`RunResult`]) with node statuses, the failed
//! node's message, pods, nodes and log tails (redacted), and deleted after.
//!
//! What only a raw run shows is named by its cause: no controller acting on the Workflow (none
//! installed, one not running, one not watching this namespace or waiting for an instance id), a
//! ServiceAccount that may not write `workflowtaskresults` (a hard failure in Argo v4, asked of
//! the API server with a SubjectAccessReview), two controllers acting on the same Workflows (no
//! `instanceID` to tell them apart), and an Istio sidecar that keeps a finished step's pod alive.

use super::outcome::{DoorFault, RunResult, StepResult};
use super::sample::{GpuParams, Mode};
use super::{Door, DoorContext, Submitted};
use crate::assets::SuiteBase;
use crate::clients::errors::describe_kube;
use crate::clients::kfp_spec::RunState;
use crate::clients::redact::{redact, tail};
use crate::context::Need;
use crate::model::{CheckError, Evidence, FindingRule, Severity};
use futures::future::BoxFuture;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The Argo-only findings of `pipeline-run` with `door: argo`.
pub const ARGO_RULE_LIST: [FindingRule; 4] = [
    FindingRule {
        id: "argo-controller-not-acting",
        default_severity: Severity::Error,
        summary: "no Argo workflow-controller acted on the Workflow (none running, or none watching this namespace)",
        fix: "Check the workflow-controller Deployment and its log; a namespaced controller (--namespaced, --managed-namespace) only sees its own namespace, and one with an instanceID only Workflows labelled workflows.argoproj.io/controller-instanceid.",
    },
    FindingRule {
        id: "argo-taskresult-rbac",
        default_severity: Severity::Error,
        summary: "the ServiceAccount the steps run as may not write workflowtaskresults (Argo v4 fails every step that reports outputs)",
        fix: "Grant the ServiceAccount create and patch on workflowtaskresults.argoproj.io in its namespace (Argo's executor Role, or Kubeflow's kubeflow-pipelines-edit aggregated into the profile's edit role).",
    },
    FindingRule {
        id: "argo-controllers-overlap",
        default_severity: Severity::Error,
        summary: "two Argo workflow-controllers act on the same Workflows (no instanceID tells them apart)",
        fix: "Give each controller its own instanceID in its workflow-controller-configmap (and label Workflows for it), or make each namespaced to a different namespace; or remove the extra install.",
    },
    FindingRule {
        id: "argo-sidecar-keeps-pod",
        default_severity: Severity::Error,
        summary: "a step's main container finished but its pod stays running (a sidecar such as Istio's never exits)",
        fix: "Annotate the Workflow's pods with sidecar.istio.io/inject: \"false\" (spec.podMetadata.annotations; what the KFP API server does for its own runs), or make the sidecar exit with its main container.",
    },
];

fn job_resource() -> ApiResource {
    ApiResource::erase::<k8s_openapi::api::batch::v1::Job>(&())
}

pub(crate) fn workflow_resource() -> ApiResource {
    ApiResource {
        group: "argoproj.io".into(),
        version: "v1alpha1".into(),
        api_version: "argoproj.io/v1alpha1".into(),
        kind: "Workflow".into(),
        plural: "workflows".into(),
    }
}

/// Label Argo puts on a Workflow's pods.
const WORKFLOW_LABEL: &str = "workflows.argoproj.io/workflow";
/// Label a controller with an instanceID selects Workflows by.
const INSTANCE_LABEL: &str = "workflows.argoproj.io/controller-instanceid";
const ISTIO_ANNOTATION: &str = "sidecar.istio.io/inject";
/// How long a Workflow may go without any status before no controller is said to act on it.
const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);
/// Each request of the door (a watch is renewed after this many seconds).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);
const WATCH_SECONDS: u32 = 240;

/// The door's own settings (`pipeline-run` with `door: argo`).
#[derive(Debug, Clone, Default)]
pub struct ArgoParams {
    /// A user's Workflow file instead of kfcheck's sample for the mode.
    pub workflow: Option<String>,
    /// The ServiceAccount the steps run as (default: `default-editor` where the profile has it,
    /// else `pipeline-runner`).
    pub service_account: Option<String>,
    /// How long the Workflow may go without a status from a controller.
    pub start_timeout: Option<Duration>,
}

/// A Workflow ready to submit: where it came from and its manifest in the mode asked for.
#[derive(Debug, Clone)]
pub struct WorkflowSample {
    pub shown: String,
    pub manifest: Value,
    /// kfcheck's own sample (annotated for Istio; a user's file is submitted as written).
    pub own: bool,
}

/// The sample Workflow of a mode.
pub fn default_workflow(mode: Mode) -> &'static str {
    match mode {
        Mode::Cpu => "workflows/kfcheck-cpu-sample.yaml",
        Mode::Gpu => "workflows/kfcheck-gpu-sample.yaml",
    }
}

impl WorkflowSample {
    /// Loads a Workflow (kfcheck's sample for `mode` unless `path` names one), puts it in GPU
    /// mode with `gpu` settings, and sets the run `parameters` that it declares.
    pub fn load(
        base: &SuiteBase,
        path: Option<&str>,
        mode: Mode,
        gpu: Option<&GpuParams>,
        parameters: &serde_json::Map<String, Value>,
    ) -> Result<WorkflowSample, String> {
        let own = path.is_none();
        let path = path.unwrap_or(default_workflow(mode));
        let (shown, text) = super::sample::load_pipeline(base, path)?;
        let mut manifest = parse_workflow(&text).map_err(|e| format!("{shown}: {e}"))?;
        if let Some(g) = gpu {
            with_gpu(&mut manifest, g);
        }
        set_parameters(&mut manifest, parameters).map_err(|e| format!("{shown}: {e}"))?;
        Ok(WorkflowSample {
            shown,
            manifest,
            own,
        })
    }

    /// kfcheck's GPU sample Workflow with its step running the loaded GPU probe from `image`
    /// (the `--probe-image`), its line written to the step's `gpu-name` output file.
    pub fn with_probe_image(mut self, image: &str) -> Result<WorkflowSample, String> {
        use super::gpu_line::{probe_step, SAMPLE_TEMPLATE};
        let shown = self.shown.clone();
        let t = self.manifest["spec"]["templates"]
            .as_array_mut()
            .and_then(|ts| ts.iter_mut().find(|t| t["name"] == SAMPLE_TEMPLATE))
            .filter(|t| t["container"].is_object())
            .ok_or_else(|| format!("{shown}: has no {SAMPLE_TEMPLATE} container step"))?;
        let path = t["outputs"]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "gpu-name"))
            .and_then(|p| p["valueFrom"]["path"].as_str())
            .ok_or_else(|| {
                format!("{shown}: the {SAMPLE_TEMPLATE} step has no gpu-name output file")
            })?
            .to_string();
        let (command, args) = probe_step(&path);
        let c = &mut t["container"];
        c["image"] = json!(image);
        c["command"] = json!(command);
        c["args"] = json!(args);
        Ok(self)
    }

    /// The Workflow's own name (generateName without its dash), else "workflow".
    pub fn what(&self) -> String {
        let m = &self.manifest["metadata"];
        m["name"]
            .as_str()
            .or_else(|| m["generateName"].as_str())
            .map(|n| n.trim_end_matches('-').to_string())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "workflow".into())
    }
}

/// One Argo Workflow document: `argoproj.io/v1alpha1`, kind Workflow, with templates.
pub fn parse_workflow(text: &str) -> Result<Value, String> {
    let mut found = None;
    for doc in serde_yaml_ng::Deserializer::from_str(text) {
        let v: Value = Deserialize::deserialize(doc).map_err(|e| format!("not valid YAML: {e}"))?;
        if v.is_null() {
            continue;
        }
        if found.is_some() {
            return Err("holds more than one document; give one Workflow per file".into());
        }
        found = Some(v);
    }
    let v = found.ok_or("is empty")?;
    let kind = v["kind"].as_str().unwrap_or("");
    let api = v["apiVersion"].as_str().unwrap_or("");
    if kind != "Workflow" || !api.starts_with("argoproj.io/") {
        return Err(format!(
            "is not an Argo Workflow (apiVersion {:?}, kind {:?}; want argoproj.io/v1alpha1 Workflow)",
            api, kind
        ));
    }
    let templates = v["spec"]["templates"].as_array().map(Vec::len).unwrap_or(0);
    if templates == 0 && v["spec"]["workflowTemplateRef"].is_null() {
        return Err("has no spec.templates".into());
    }
    Ok(v)
}

/// GPU mode with settings: the templates that ask for a GPU (all container templates where none
/// does) ask for `count` of `resource`, select the GPU type and tolerate the GPU taint.
fn with_gpu(wf: &mut Value, g: &GpuParams) {
    let mode = g.mode();
    let Some(templates) = wf["spec"]["templates"].as_array_mut() else {
        return;
    };
    let asks = |t: &Value| {
        t["container"]["resources"]["limits"]
            .as_object()
            .is_some_and(|l| l.keys().any(|k| k == &mode.resource || k.ends_with("/gpu")))
    };
    let any = templates.iter().any(asks);
    for t in templates.iter_mut() {
        if t["container"].is_null() || (any && !asks(t)) {
            continue;
        }
        let limits = &mut t["container"]["resources"]["limits"];
        if let Some(l) = limits.as_object_mut() {
            l.retain(|k, _| !k.ends_with("/gpu"));
        }
        limits[mode.resource.as_str()] = json!(mode.count.to_string());
        if let Some((k, v)) = &mode.node_selector {
            t["nodeSelector"] = json!({ k: v });
        }
        let tol = json!({"key": mode.toleration_key, "operator": "Exists", "effect": "NoSchedule"});
        match t["tolerations"].as_array_mut() {
            Some(list) if list.iter().any(|x| x["key"] == tol["key"]) => {}
            Some(list) => list.push(tol),
            None => t["tolerations"] = json!([tol]),
        }
    }
}

/// Run parameters become the Workflow's `spec.arguments.parameters` values; one it does not
/// declare is a mistake.
fn set_parameters(
    wf: &mut Value,
    parameters: &serde_json::Map<String, Value>,
) -> Result<(), String> {
    for (name, value) in parameters {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let list = wf["spec"]["arguments"]["parameters"].as_array_mut();
        let Some(p) = list.and_then(|l| l.iter_mut().find(|p| p["name"] == name.as_str())) else {
            return Err(format!("declares no workflow parameter {name:?}"));
        };
        p["value"] = json!(text);
    }
    Ok(())
}

/// An Argo controller found in the cluster, from its Deployment and ConfigMap.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Controller {
    /// `namespace/name` of the Deployment.
    pub at: String,
    pub ready: i32,
    pub instance_id: Option<String>,
    /// The one namespace it watches (`--namespaced` or `--managed-namespace`), else all.
    pub watches: Option<String>,
    /// The ConfigMap could not be read (no rights): its instanceID is unknown.
    pub config_unknown: bool,
}

/// The instanceID a controller's ConfigMap sets (`instanceID:` in its `config` key or as a key
/// of its own).
pub fn instance_id_of(data: &std::collections::BTreeMap<String, String>) -> Option<String> {
    let from_config = data.get("config").and_then(|c| {
        serde_yaml_ng::from_str::<Value>(c)
            .ok()
            .and_then(|v| v["instanceID"].as_str().map(str::to_string))
    });
    from_config
        .or_else(|| data.get("instanceID").map(|s| s.trim().to_string()))
        .filter(|s| !s.is_empty())
}

/// The controllers that would act on an unlabelled Workflow in `namespace` and overlap.
pub fn overlapping<'a>(controllers: &'a [Controller], namespace: &str) -> Vec<&'a Controller> {
    let acting: Vec<&Controller> = controllers
        .iter()
        .filter(|c| c.ready > 0 && !c.config_unknown && c.instance_id.is_none())
        .filter(|c| c.watches.as_deref().is_none_or(|w| w == namespace))
        .collect();
    if acting.len() > 1 {
        acting
    } else {
        Vec::new()
    }
}

/// The door.
pub struct ArgoDoor {
    kube: kube::Client,
    namespace: String,
    params: ArgoParams,
    sample: WorkflowSample,
    mode: Mode,
    /// What submit learnt before the run: a fault that names the cause whatever the run does,
    /// the controllers found, notes.
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    /// Argo is not installed: the sample runs as a Kubernetes Job (doors/argo_job.rs).
    job: bool,
    fault: Option<DoorFault>,
    controllers: Vec<Controller>,
    notes: Vec<String>,
    requests: u32,
}

impl ArgoDoor {
    pub fn new(
        kube: kube::Client,
        namespace: String,
        params: ArgoParams,
        sample: WorkflowSample,
        mode: Mode,
    ) -> ArgoDoor {
        ArgoDoor {
            kube,
            namespace,
            params,
            sample,
            mode,
            seen: Mutex::new(Seen::default()),
        }
    }

    fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn count(&self, n: u32) {
        self.seen().requests += n;
    }

    /// The ServiceAccount the steps run as.
    async fn service_account(&self) -> Result<String, CheckError> {
        if let Some(sa) = &self.params.service_account {
            return Ok(sa.clone());
        }
        let api: Api<k8s_openapi::api::core::v1::ServiceAccount> =
            Api::namespaced(self.kube.clone(), &self.namespace);
        self.count(1);
        match bounded(api.get_opt("default-editor")).await? {
            Ok(Some(_)) => Ok("default-editor".into()),
            Ok(None) => Ok("pipeline-runner".into()),
            // Cannot look: Kubeflow's multi-user default.
            Err(_) => Ok("default-editor".into()),
        }
    }

    /// Asks the API server whether `sa` may create and patch workflowtaskresults.
    async fn task_result_rights(&self, sa: &str) -> Result<Option<DoorFault>, CheckError> {
        use k8s_openapi::api::authorization::v1::{
            ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
        };
        let user = format!("system:serviceaccount:{}:{sa}", self.namespace);
        let api: Api<SubjectAccessReview> = Api::all(self.kube.clone());
        let mut denied = Vec::new();
        for verb in ["create", "patch"] {
            let review = SubjectAccessReview {
                spec: SubjectAccessReviewSpec {
                    user: Some(user.clone()),
                    groups: Some(vec![
                        "system:serviceaccounts".into(),
                        format!("system:serviceaccounts:{}", self.namespace),
                        "system:authenticated".into(),
                    ]),
                    resource_attributes: Some(ResourceAttributes {
                        group: Some("argoproj.io".into()),
                        resource: Some("workflowtaskresults".into()),
                        verb: Some(verb.into()),
                        namespace: Some(self.namespace.clone()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                ..Default::default()
            };
            self.count(1);
            match bounded(api.create(&PostParams::default(), &review)).await? {
                Ok(r) => {
                    if !r.status.as_ref().is_some_and(|s| s.allowed) {
                        denied.push(verb);
                    }
                }
                Err(e) => {
                    self.seen().notes.push(format!(
                        "could not ask whether {user} may write workflowtaskresults ({}): not checked before the run",
                        describe_kube(&e)
                    ));
                    return Ok(None);
                }
            }
        }
        if denied.is_empty() {
            return Ok(None);
        }
        Ok(Some(DoorFault {
            rule: "argo-taskresult-rbac",
            message: format!(
                "ServiceAccount {}/{sa} may not {} workflowtaskresults.argoproj.io, which Argo v4's executor writes for every step with outputs",
                self.namespace,
                denied.join(" or ")
            ),
            evidence: vec![
                Evidence::new("subject", user).expected("may create and patch workflowtaskresults"),
                Evidence::new("denied verbs", denied.join(", ")),
                Evidence::new("asked", "SubjectAccessReview"),
            ],
            fix: ARGO_RULE_LIST[1].fix.into(),
        }))
    }

    /// The workflow-controllers the cluster runs (Deployments named workflow-controller or with
    /// a workflow-controller image), each with its ConfigMap's instanceID.
    async fn controllers(&self) -> Result<Vec<Controller>, String> {
        use k8s_openapi::api::apps::v1::Deployment;
        use k8s_openapi::api::core::v1::ConfigMap;
        let api: Api<Deployment> = Api::all(self.kube.clone());
        self.count(1);
        let list = bounded(api.list(&ListParams::default()))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| describe_kube(&e))?;
        let mut out = Vec::new();
        for d in list.items {
            let spec = d.spec.as_ref().and_then(|s| s.template.spec.as_ref());
            let container = spec.and_then(|s| {
                s.containers.iter().find(|c| {
                    c.image
                        .as_deref()
                        .is_some_and(|i| i.contains("workflow-controller"))
                })
            });
            let name = d.metadata.name.clone().unwrap_or_default();
            if name != "workflow-controller" && container.is_none() {
                continue;
            }
            let ns = d.metadata.namespace.clone().unwrap_or_default();
            let args: Vec<String> = container
                .or_else(|| spec.and_then(|s| s.containers.first()))
                .map(|c| {
                    c.command
                        .iter()
                        .flatten()
                        .chain(c.args.iter().flatten())
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            let flag = |f: &str| {
                args.iter().enumerate().find_map(|(i, a)| {
                    a.strip_prefix(&format!("{f}="))
                        .map(str::to_string)
                        .or_else(|| (a == f).then(|| args.get(i + 1).cloned()).flatten())
                })
            };
            let watches = if args
                .iter()
                .any(|a| a == "--namespaced" || a == "--namespaced=true")
            {
                Some(flag("--managed-namespace").unwrap_or_else(|| ns.clone()))
            } else {
                flag("--managed-namespace")
            };
            let cm_name =
                flag("--configmap").unwrap_or_else(|| "workflow-controller-configmap".into());
            let cms: Api<ConfigMap> = Api::namespaced(self.kube.clone(), &ns);
            self.count(1);
            let (instance_id, config_unknown) = match bounded(cms.get_opt(&cm_name)).await {
                Ok(Ok(Some(cm))) => (instance_id_of(&cm.data.unwrap_or_default()), false),
                Ok(Ok(None)) => (None, false),
                _ => (None, true),
            };
            out.push(Controller {
                at: format!("{ns}/{name}"),
                ready: d.status.and_then(|s| s.ready_replicas).unwrap_or(0),
                instance_id,
                watches,
                config_unknown,
            });
        }
        out.sort_by(|a, b| a.at.cmp(&b.at));
        Ok(out)
    }

    /// Whether the namespace has Istio injection on.
    async fn istio_injected(&self) -> bool {
        let api: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(self.kube.clone());
        self.count(1);
        match bounded(api.get_opt(&self.namespace)).await {
            Ok(Ok(Some(ns))) => ns
                .metadata
                .labels
                .is_some_and(|l| l.get("istio-injection").map(String::as_str) == Some("enabled")),
            _ => false,
        }
    }

    fn not_acting(&self, waited: Duration) -> DoorFault {
        let seen = self.seen();
        let mut evidence = vec![Evidence::new(
            "workflow status",
            format!("none after {}s", waited.as_secs()),
        )
        .expected("a phase set by a controller")];
        let found = &seen.controllers;
        let why = if found.is_empty() {
            "no workflow-controller Deployment was found".to_string()
        } else if found.iter().all(|c| c.ready == 0) {
            "no workflow-controller pod is ready".to_string()
        } else if let Some(c) = found
            .iter()
            .find(|c| c.ready > 0 && c.instance_id.is_none())
        {
            match &c.watches {
                Some(w) if w != &self.namespace => format!(
                    "the controller {} watches namespace {w} only",
                    c.at
                ),
                _ => format!(
                    "the controller {} reports ready yet did not act: it may not be running, or not watching namespace {}",
                    c.at, self.namespace
                ),
            }
        } else {
            "the ready controllers all have an instanceID".to_string()
        };
        for c in found {
            evidence.push(Evidence::new(
                format!("controller {}", c.at),
                format!(
                    "{} ready, instanceID {}, watches {}",
                    c.ready,
                    c.instance_id.as_deref().unwrap_or("none"),
                    c.watches.as_deref().unwrap_or("all namespaces")
                ),
            ));
        }
        DoorFault {
            rule: "argo-controller-not-acting",
            message: format!("no Argo controller acted on the Workflow: {why}"),
            evidence,
            fix: ARGO_RULE_LIST[0].fix.into(),
        }
    }

    /// Whether the cluster serves the Workflow API (one discovery request).
    async fn argo_served(&self) -> Result<bool, CheckError> {
        let gvk = kube::core::GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Workflow");
        self.count(1);
        match bounded(kube::discovery::pinned_kind(&self.kube, &gvk)).await? {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(kube::Error::Discovery(_)) => Ok(false),
            Err(e) => Err(CheckError::Undecided(format!(
                "cannot ask whether the cluster serves Argo's Workflow API: {}",
                describe_kube(&e)
            ))),
        }
    }

    /// Argo is not installed: kfcheck's sample as a Kubernetes Job (doors/argo_job.rs), created
    /// as the same ServiceAccount, labelled and registered for deletion before the create.
    async fn submit_job(&self, cx: &DoorContext<'_>) -> Result<Submitted, CheckError> {
        let ns = self.namespace.clone();
        let name = crate::model::owned::object_name("job", cx.check_id, cx.run_id);
        let sa = self.service_account().await?;
        let labels: serde_json::Map<String, Value> =
            crate::model::owned::labels(cx.run_id, cx.check_id)
                .into_iter()
                .map(|(k, v)| (k, json!(v)))
                .collect();
        let job =
            super::argo_job::sample_job(&self.sample.manifest, self.mode, &name, &ns, &sa, &labels)
                .map_err(CheckError::Undecided)?;
        let obj: DynamicObject = serde_json::from_value(job)
            .map_err(|e| CheckError::Undecided(format!("the fallback Job: {e}")))?;
        let api: Api<DynamicObject> = Api::namespaced_with(self.kube.clone(), &ns, &job_resource());
        // Foreground: its pod goes with it.
        cx.delete_after("Job", &api, &name, DeleteParams::foreground());
        {
            let mut seen = self.seen();
            seen.job = true;
            seen.notes.push(format!(
                "Argo is not installed (the cluster serves no argoproj.io/v1alpha1 Workflow API): the sample's work ran as a Kubernetes Job instead, {ns}/{name}, as {sa}, so raw YAML still shows whether pods run{}",
                if self.mode == Mode::Gpu { " on a GPU node and see a GPU" } else { "" }
            ));
        }
        self.count(1);
        let created = match bounded(api.create(&PostParams::default(), &obj)).await? {
            Ok(o) => o,
            Err(kube::Error::Api(s)) if s.code == 403 => {
                return Err(CheckError::Forbidden(format!(
                    "create jobs.batch in namespace {ns}"
                )))
            }
            Err(e) => {
                return Err(CheckError::Undecided(format!(
                    "cannot create Job {ns}/{name}: {}",
                    describe_kube(&e)
                )))
            }
        };
        Ok(Submitted {
            name,
            id: created.metadata.resource_version.unwrap_or_default(),
            at: Instant::now(),
        })
    }

    /// The run's pods: a Workflow's, or the fallback Job's.
    async fn pods(&self, workflow: &str) -> Vec<Pod> {
        let api: Api<Pod> = Api::namespaced(self.kube.clone(), &self.namespace);
        let label = if self.seen().job {
            super::argo_job::JOB_NAME_LABEL
        } else {
            WORKFLOW_LABEL
        };
        let lp = ListParams::default().labels(&format!("{label}={workflow}"));
        // First from the API server's cache (`resourceVersion=0`): a consistent list waits for
        // the cache to catch up with etcd, up to about 100 ms when nothing else changes. The
        // cache has already seen the pods' ends the controller acted on; a pod it still shows
        // unfinished is read again, consistently.
        self.count(1);
        let cached = match bounded(api.list(&lp.clone().match_any())).await {
            Ok(Ok(l)) => l.items,
            _ => Vec::new(),
        };
        if !cached.is_empty() && cached.iter().all(pod_finished) {
            return cached;
        }
        self.count(1);
        match bounded(api.list(&lp)).await {
            Ok(Ok(l)) => l.items,
            _ => Vec::new(),
        }
    }

    /// The end of a failed step's main container log, redacted; nothing where none is served.
    async fn log_tail(&self, pod: &str) -> Option<String> {
        let api: Api<Pod> = Api::namespaced(self.kube.clone(), &self.namespace);
        let lp = kube::api::LogParams {
            container: Some("main".into()),
            tail_lines: Some(40),
            limit_bytes: Some(16 * 1024),
            ..Default::default()
        };
        self.count(1);
        match bounded(api.logs(pod, &lp)).await {
            Ok(Ok(text)) if !text.trim().is_empty() => Some(tail(&text, 10, 2000)),
            _ => None,
        }
    }
}

/// A pod that has ended: `Succeeded` or `Failed`.
fn pod_finished(p: &Pod) -> bool {
    matches!(
        p.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// A request bounded in time; `Err` when it took too long.
async fn bounded<F: std::future::Future>(f: F) -> Result<F::Output, CheckError> {
    tokio::time::timeout(REQUEST_TIMEOUT, f).await.map_err(|_| {
        CheckError::Undecided(format!(
            "the Kubernetes API did not answer within {}s",
            REQUEST_TIMEOUT.as_secs()
        ))
    })
}

/// Whether a Workflow phase is terminal.
fn terminal(phase: &str) -> bool {
    matches!(phase, "Succeeded" | "Failed" | "Error")
}

/// The door-neutral account of a Workflow and its pods, as last seen.
pub fn result_of(
    wf: &Value,
    pods: &[Pod],
    submitted: &Submitted,
    finished: bool,
    waited: Duration,
    mode: Mode,
) -> RunResult {
    let status = &wf["status"];
    let phase = status["phase"].as_str().unwrap_or("");
    let pod_of = |node_id: &str| {
        pods.iter().find(|p| {
            p.metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get("workflows.argoproj.io/node-id"))
                .map(String::as_str)
                == Some(node_id)
        })
    };
    let mut steps: Vec<StepResult> = status["nodes"]
        .as_object()
        .map(|nodes| {
            nodes
                .iter()
                .map(|(id, n)| {
                    let text = n["phase"].as_str().unwrap_or("Pending");
                    let state = match text {
                        "Omitted" => RunState::Skipped,
                        t => RunState::parse(Some(t)),
                    };
                    let pod = pod_of(id);
                    let message = n["message"]
                        .as_str()
                        .filter(|m| !m.is_empty())
                        .map(redact)
                        .or_else(|| pod.and_then(unschedulable));
                    StepResult {
                        name: n["displayName"]
                            .as_str()
                            .or_else(|| n["name"].as_str())
                            .unwrap_or(id)
                            .to_string(),
                        state,
                        state_text: text.to_string(),
                        leaf: n["type"] == "Pod",
                        exit_code: n["outputs"]["exitCode"]
                            .as_str()
                            .and_then(|c| c.parse().ok()),
                        message,
                        pod: pod.and_then(|p| p.metadata.name.clone()),
                        node: n["hostNodeName"]
                            .as_str()
                            .map(str::to_string)
                            .or_else(|| pod.and_then(|p| p.spec.as_ref()?.node_name.clone())),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    steps.sort_by(|a, b| (!a.leaf, &a.name).cmp(&(!b.leaf, &b.name)));
    let scheduled = Some(
        pods.iter()
            .any(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some()),
    );
    // The GPU sample's `gpu-name` output: the GPU's name (nvidia-smi), or the probe's line
    // where the step ran `kfcheck probe gpu --load` (--probe-image).
    let gpu_output = (mode == Mode::Gpu)
        .then(|| {
            status["nodes"].as_object().and_then(|nodes| {
                nodes.values().find_map(|n| {
                    n["outputs"]["parameters"].as_array()?.iter().find_map(|p| {
                        (p["name"] == "gpu-name")
                            .then(|| p["value"].as_str())
                            .flatten()
                            .filter(|v| !v.is_empty())
                    })
                })
            })
        })
        .flatten();
    let gpu_probe = gpu_output.and_then(super::gpu_line::probe_output);
    let gpu_seen = gpu_output.map(|_| {
        gpu_probe
            .as_ref()
            .is_none_or(|p| p["count"].as_u64().unwrap_or(0) > 0)
    });
    let name = wf["metadata"]["name"].as_str().unwrap_or(&submitted.name);
    let failure = if finished { None } else { sidecar_fault(pods) };
    RunResult {
        door: "argo",
        run: format!("Workflow {name}"),
        run_id: name.to_string(),
        finished,
        state: if phase.is_empty() {
            RunState::Pending
        } else {
            RunState::parse(Some(phase))
        },
        message: status["message"]
            .as_str()
            .filter(|m| !m.is_empty())
            .map(redact),
        steps,
        scheduled,
        // Only the GPU sample's output tells; absent is "cannot tell", not "no GPU".
        gpu_seen: gpu_seen.filter(|seen| *seen),
        gpu_probe,
        waited,
        polls: 0,
        pods: format!("{WORKFLOW_LABEL}={name}"),
        failure,
        notes: Vec::new(),
    }
}

/// Why a Pending pod is not scheduled, from its PodScheduled condition.
fn unschedulable(p: &Pod) -> Option<String> {
    let c = super::not_scheduled(p)?;
    Some(redact(c.message.as_deref().unwrap_or("not scheduled")))
}

/// A pod whose main container has terminated while another (not Argo's `wait`) still runs.
fn sidecar_fault(pods: &[Pod]) -> Option<DoorFault> {
    for p in pods {
        let Some(statuses) = p
            .status
            .as_ref()
            .and_then(|s| s.container_statuses.as_ref())
        else {
            continue;
        };
        let main_done = statuses.iter().any(|s| {
            s.name == "main" && s.state.as_ref().is_some_and(|st| st.terminated.is_some())
        });
        let running: Vec<&str> = statuses
            .iter()
            .filter(|s| s.name != "main" && s.name != "wait")
            .filter(|s| s.state.as_ref().is_some_and(|st| st.running.is_some()))
            .map(|s| s.name.as_str())
            .collect();
        if main_done && !running.is_empty() {
            let pod = p.metadata.name.clone().unwrap_or_default();
            return Some(DoorFault {
                rule: "argo-sidecar-keeps-pod",
                message: format!(
                    "step pod {pod} finished its main container but {} keeps running, so the step never ends",
                    running.join(", ")
                ),
                evidence: vec![
                    Evidence::new("pod", pod),
                    Evidence::new("still running", running.join(", ")).expected("none after main exits"),
                    Evidence::new(
                        "annotation",
                        p.metadata
                            .annotations
                            .as_ref()
                            .and_then(|a| a.get(ISTIO_ANNOTATION))
                            .map(|v| format!("{ISTIO_ANNOTATION}={v}"))
                            .unwrap_or_else(|| format!("no {ISTIO_ANNOTATION}")),
                    ),
                ],
                fix: ARGO_RULE_LIST[3].fix.into(),
            });
        }
    }
    None
}

impl Door for ArgoDoor {
    fn name(&self) -> &'static str {
        "argo"
    }

    fn need(&self) -> Need {
        Need::Kube
    }

    fn submit<'a>(
        &'a self,
        cx: &'a DoorContext<'a>,
        _sample: &'a super::Sample,
    ) -> BoxFuture<'a, Result<Submitted, CheckError>> {
        Box::pin(async move {
            if self.sample.own && !self.argo_served().await? {
                return self.submit_job(cx).await;
            }
            let ns = self.namespace.clone();
            let name = crate::model::owned::object_name("wf", cx.check_id, cx.run_id);
            let sa = self.service_account().await?;
            let rbac = self.task_result_rights(&sa).await?;
            let controllers = match self.controllers().await {
                Ok(c) => c,
                Err(e) => {
                    self.seen()
                        .notes
                        .push(format!("could not list the Argo controllers: {e}"));
                    Vec::new()
                }
            };
            let overlap = overlapping(&controllers, &ns);
            let overlap_fault = (!overlap.is_empty()).then(|| DoorFault {
                rule: "argo-controllers-overlap",
                message: format!(
                    "{} Argo controllers without an instanceID act on Workflows in {ns}: {}",
                    overlap.len(),
                    overlap
                        .iter()
                        .map(|c| c.at.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                evidence: overlap
                    .iter()
                    .map(|c| {
                        Evidence::new(
                            format!("controller {}", c.at),
                            format!("{} ready, no instanceID", c.ready),
                        )
                        .expected("one controller per Workflow")
                    })
                    .collect(),
                fix: ARGO_RULE_LIST[2].fix.into(),
            });
            // An instanceID every ready controller has: the Workflow must carry it to be seen.
            let ready: Vec<&Controller> = controllers.iter().filter(|c| c.ready > 0).collect();
            let instance = match ready.as_slice() {
                [c, ..] if ready.iter().all(|r| r.instance_id.is_some()) => c.instance_id.clone(),
                _ => None,
            };
            let mut wf = self.sample.manifest.clone();
            let meta = wf["metadata"].as_object_mut().ok_or_else(|| {
                CheckError::Undecided(format!("{}: no metadata", self.sample.shown))
            })?;
            meta.remove("generateName");
            meta.insert("name".into(), json!(name));
            meta.insert("namespace".into(), json!(ns));
            let mut labels = crate::model::owned::labels(cx.run_id, cx.check_id);
            if let Some(id) = &instance {
                labels.insert(INSTANCE_LABEL.into(), id.clone());
                self.seen().notes.push(format!(
                    "labelled the Workflow {INSTANCE_LABEL}={id} (the instanceID of {})",
                    ready[0].at
                ));
            }
            let user_labels = meta.get("labels").cloned().unwrap_or(json!({}));
            let mut all = user_labels.as_object().cloned().unwrap_or_default();
            for (k, v) in labels {
                all.insert(k, json!(v));
            }
            meta.insert("labels".into(), Value::Object(all));
            wf["spec"]["serviceAccountName"] = json!(sa);
            if self.istio_injected().await {
                let has = wf["spec"]["podMetadata"]["annotations"][ISTIO_ANNOTATION].is_string();
                if self.sample.own {
                    wf["spec"]["podMetadata"]["annotations"][ISTIO_ANNOTATION] = json!("false");
                    self.seen().notes.push(format!(
                        "namespace {ns} has Istio injection on: the sample's pods carry {ISTIO_ANNOTATION}: \"false\" (as the KFP API server sets for its own runs; a raw Workflow without it keeps a finished step's pod alive)"
                    ));
                } else if !has {
                    self.seen().notes.push(format!(
                        "namespace {ns} has Istio injection on and {} sets no {ISTIO_ANNOTATION} pod annotation: its steps' pods get a sidecar that may keep them alive after the step ends",
                        self.sample.shown
                    ));
                }
            }
            {
                let mut seen = self.seen();
                seen.controllers = controllers.clone();
                seen.fault = rbac.or(overlap_fault);
            }
            let obj: DynamicObject = serde_json::from_value(wf).map_err(|e| {
                CheckError::Undecided(format!(
                    "{}: not a Kubernetes object: {e}",
                    self.sample.shown
                ))
            })?;
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.kube.clone(), &ns, &workflow_resource());
            // Foreground: the step pods go with it.
            cx.delete_after("Workflow", &api, &name, DeleteParams::foreground());
            self.count(1);
            let created = match bounded(api.create(&PostParams::default(), &obj)).await? {
                Ok(o) => o,
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    return Err(CheckError::NotApplicable(
                        "Argo is not installed: the cluster serves no argoproj.io/v1alpha1 Workflow API".into(),
                    ))
                }
                Err(kube::Error::Api(s)) if s.code == 403 => {
                    return Err(CheckError::Forbidden(format!("create workflows.argoproj.io in namespace {ns}")))
                }
                Err(e) => {
                    return Err(CheckError::Undecided(format!(
                        "cannot create Workflow {ns}/{name}: {}",
                        describe_kube(&e)
                    )))
                }
            };
            Ok(Submitted {
                name: name.clone(),
                id: created.metadata.resource_version.unwrap_or_default(),
                at: Instant::now(),
            })
        })
    }

    fn wait<'a>(
        &'a self,
        cx: &'a DoorContext<'a>,
        submitted: &'a Submitted,
        deadline: Duration,
    ) -> BoxFuture<'a, Result<RunResult, CheckError>> {
        Box::pin(async move {
            // Argo absent: the fallback Job, whose controller is Kubernetes' own (no start limit).
            let job = self.seen().job;
            let (resource, what) = if job {
                (job_resource(), "Job")
            } else {
                (workflow_resource(), "Workflow")
            };
            let phase = |o: &Value| -> String {
                if job {
                    super::argo_job::job_phase(o).to_string()
                } else {
                    o["status"]["phase"].as_str().unwrap_or("").to_string()
                }
            };
            let api: Api<DynamicObject> =
                Api::namespaced_with(self.kube.clone(), &self.namespace, &resource);
            let start_limit = if job {
                deadline
            } else {
                self.params
                    .start_timeout
                    .unwrap_or(DEFAULT_START_TIMEOUT)
                    .min(deadline)
            };
            let mut last: Value = Value::Null;
            let mut version = submitted.id.clone();
            let mut finished = false;
            let mut not_acting = false;
            'watch: loop {
                let left = deadline.saturating_sub(submitted.at.elapsed());
                if left.is_zero() {
                    break;
                }
                // Before any status: only until the start limit.
                let started = !phase(&last).is_empty();
                let limit = if started {
                    left
                } else {
                    start_limit.saturating_sub(submitted.at.elapsed()).min(left)
                };
                if !started && limit.is_zero() {
                    not_acting = true;
                    break;
                }
                let wp = kube::api::WatchParams::default()
                    .fields(&format!("metadata.name={}", submitted.name))
                    .timeout(WATCH_SECONDS.min(limit.as_secs().max(1) as u32));
                self.count(1);
                let stream = match bounded(api.watch(&wp, &version)).await? {
                    Ok(s) => s,
                    Err(e) => {
                        return Err(CheckError::Undecided(format!(
                            "cannot watch {what} {}: {}",
                            submitted.name,
                            describe_kube(&e)
                        )))
                    }
                };
                let mut stream = std::pin::pin!(stream);
                let until = tokio::time::Instant::now() + limit;
                loop {
                    let ev = tokio::select! {
                        _ = cx.cancel.cancelled() => return Err(CheckError::Undecided(format!("interrupted while watching {what} {}", submitted.name))),
                        _ = tokio::time::sleep_until(until) => continue 'watch,
                        ev = stream.next() => ev,
                    };
                    match ev {
                        // The server closed the watch (its timeout): renew from the last version.
                        None => continue 'watch,
                        Some(Ok(
                            kube::core::WatchEvent::Added(o) | kube::core::WatchEvent::Modified(o),
                        )) => {
                            version = o.metadata.resource_version.clone().unwrap_or(version);
                            last = serde_json::to_value(&o).unwrap_or(Value::Null);
                            if terminal(&phase(&last)) {
                                finished = true;
                                break 'watch;
                            }
                            if !phase(&last).is_empty() && !started {
                                // Now the whole deadline applies.
                                continue 'watch;
                            }
                        }
                        Some(Ok(kube::core::WatchEvent::Bookmark(b))) => {
                            version = b.metadata.resource_version;
                        }
                        Some(Ok(kube::core::WatchEvent::Deleted(_))) => {
                            return Ok(deleted_result(submitted, self.seen().notes.clone()));
                        }
                        Some(Ok(kube::core::WatchEvent::Error(s))) if s.code == 410 => {
                            // Too old: read it again and watch from there.
                            self.count(1);
                            match bounded(api.get_opt(&submitted.name)).await? {
                                Ok(Some(o)) => {
                                    version =
                                        o.metadata.resource_version.clone().unwrap_or_default();
                                    last = serde_json::to_value(&o).unwrap_or(Value::Null);
                                    if terminal(&phase(&last)) {
                                        finished = true;
                                        break 'watch;
                                    }
                                }
                                Ok(None) => {
                                    return Ok(deleted_result(submitted, self.seen().notes.clone()))
                                }
                                Err(e) => {
                                    return Err(CheckError::Undecided(format!(
                                        "cannot read {what} {}: {}",
                                        submitted.name,
                                        describe_kube(&e)
                                    )))
                                }
                            }
                            continue 'watch;
                        }
                        Some(Ok(kube::core::WatchEvent::Error(s))) => {
                            return Err(CheckError::Undecided(format!(
                                "the watch of {what} {} failed: {} {}",
                                submitted.name, s.code, s.message
                            )))
                        }
                        Some(Err(e)) => {
                            return Err(CheckError::Undecided(format!(
                                "the watch of {what} {} failed: {}",
                                submitted.name,
                                describe_kube(&e)
                            )))
                        }
                    }
                }
            }
            let waited = submitted.at.elapsed();
            if last.is_null() {
                last = json!({"metadata": {"name": submitted.name}});
            }
            let pods = self.pods(&submitted.name).await;
            let mut result = if job {
                // Only the GPU step's own log line tells that it saw a GPU; none served (kwok)
                // is "cannot tell".
                let tail = if self.mode == Mode::Gpu && finished {
                    match pods.iter().find_map(|p| p.metadata.name.clone()) {
                        Some(p) => self.log_tail(&p).await,
                        None => None,
                    }
                } else {
                    None
                };
                // The sample's nvidia-smi line, or the loaded probe's (--probe-image).
                let gpu_probe = tail.as_deref().and_then(super::gpu_line::probe_output);
                let gpu_seen = tail
                    .map(|t| {
                        t.contains("kfcheck: gpu sample ok")
                            || gpu_probe
                                .as_ref()
                                .is_some_and(|p| p["count"].as_u64().unwrap_or(0) > 0)
                    })
                    .filter(|seen| *seen);
                if self.mode == Mode::Gpu && finished && gpu_seen.is_none() {
                    self.seen().notes.push("the Job's log (none served, or without the sample's `kfcheck: gpu sample ok` line) does not show that the step saw a GPU; the pod's placement and exit are all this run tells".into());
                }
                let mut r = super::argo_job::job_result(
                    &last,
                    &pods,
                    &submitted.name,
                    finished,
                    waited,
                    gpu_seen,
                );
                r.gpu_probe = gpu_probe;
                r
            } else {
                result_of(&last, &pods, submitted, finished, waited, self.mode)
            };
            let fault = self.seen().fault.clone();
            if not_acting {
                result.failure = Some(self.not_acting(waited));
            } else if fault.is_some() {
                result.failure = fault;
            }
            // The failed leaf's log, where the cluster serves it.
            if result.failure.is_none() && finished && result.state != RunState::Succeeded {
                let pod = result
                    .steps
                    .iter()
                    .find(|s| s.leaf && s.state == RunState::Failed)
                    .and_then(|s| s.pod.clone());
                if let Some(p) = pod {
                    if let Some(t) = self.log_tail(&p).await {
                        if let Some(s) = result
                            .steps
                            .iter_mut()
                            .find(|s| s.pod.as_deref() == Some(&p))
                        {
                            let m = s.message.take().unwrap_or_default();
                            s.message = Some(if m.is_empty() {
                                t
                            } else {
                                format!("{m}; log: {t}")
                            });
                        }
                    }
                }
            }
            let seen = self.seen();
            result.polls = seen.requests;
            result.notes = seen.notes.clone();
            Ok(result)
        })
    }
}

/// Someone else deleted the Workflow while it ran.
fn deleted_result(submitted: &Submitted, notes: Vec<String>) -> RunResult {
    RunResult {
        door: "argo",
        run: format!("Workflow {}", submitted.name),
        run_id: submitted.name.clone(),
        finished: true,
        state: RunState::Canceled,
        message: Some("the Workflow was deleted while it ran".into()),
        steps: Vec::new(),
        scheduled: None,
        gpu_seen: None,
        gpu_probe: None,
        waited: submitted.at.elapsed(),
        polls: 0,
        pods: format!("{WORKFLOW_LABEL}={}", submitted.name),
        failure: None,
        notes,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn submitted() -> Submitted {
        Submitted {
            name: "wf-1".into(),
            id: "1".into(),
            at: Instant::now(),
        }
    }

    #[test]
    fn the_samples_are_workflows_and_gpu_settings_rewrite_the_gpu_step() {
        let cpu = WorkflowSample::load(
            &SuiteBase::Embedded,
            None,
            Mode::Cpu,
            None,
            &Default::default(),
        )
        .unwrap();
        assert_eq!(cpu.what(), "kfcheck-cpu-sample");
        assert!(cpu.own);
        let g: GpuParams = serde_json::from_value(json!({"type": "nvidia-h100-80gb"})).unwrap();
        let gpu = WorkflowSample::load(
            &SuiteBase::Embedded,
            None,
            Mode::Gpu,
            Some(&g),
            &Default::default(),
        )
        .unwrap();
        let t = &gpu.manifest["spec"]["templates"][0];
        assert_eq!(
            t["nodeSelector"]["cloud.google.com/gke-accelerator"],
            "nvidia-h100-80gb"
        );
        assert_eq!(t["container"]["resources"]["limits"]["nvidia.com/gpu"], "1");
        assert_eq!(
            t["tolerations"].as_array().unwrap().len(),
            1,
            "the sample's toleration is not doubled"
        );
        let params = serde_json::Map::from_iter([("count".to_string(), json!(4))]);
        let four =
            WorkflowSample::load(&SuiteBase::Embedded, None, Mode::Cpu, None, &params).unwrap();
        assert_eq!(
            four.manifest["spec"]["arguments"]["parameters"][0]["value"],
            "4"
        );
        let bad = serde_json::Map::from_iter([("nope".to_string(), json!(1))]);
        let e =
            WorkflowSample::load(&SuiteBase::Embedded, None, Mode::Cpu, None, &bad).unwrap_err();
        assert!(e.contains("no workflow parameter \"nope\""), "{e}");
    }

    #[test]
    fn only_argo_workflows_are_accepted() {
        assert!(parse_workflow("apiVersion: v1\nkind: Pod\n")
            .unwrap_err()
            .contains("not an Argo Workflow"));
        assert!(
            parse_workflow("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec: {}\n")
                .unwrap_err()
                .contains("no spec.templates")
        );
        assert!(parse_workflow(": : :")
            .unwrap_err()
            .contains("not valid YAML"));
        assert!(parse_workflow("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec: {templates: [{name: a}]}\n---\nkind: Workflow\n").unwrap_err().contains("more than one"));
    }

    #[test]
    fn instance_ids_come_from_either_configmap_form() {
        let m =
            |k: &str, v: &str| std::collections::BTreeMap::from([(k.to_string(), v.to_string())]);
        assert_eq!(
            instance_id_of(&m("config", "instanceID: team-a\n")),
            Some("team-a".into())
        );
        assert_eq!(
            instance_id_of(&m("instanceID", "team-b")),
            Some("team-b".into())
        );
        assert_eq!(
            instance_id_of(&m("metricsConfig", "enabled: false\n")),
            None
        );
        let c = |at: &str, id: Option<&str>, watches: Option<&str>| Controller {
            at: at.into(),
            ready: 1,
            instance_id: id.map(str::to_string),
            watches: watches.map(str::to_string),
            config_unknown: false,
        };
        let two = [
            c("kubeflow/workflow-controller", None, None),
            c("argo/workflow-controller", None, None),
        ];
        assert_eq!(overlapping(&two, "team").len(), 2);
        let told_apart = [
            c("kubeflow/workflow-controller", None, None),
            c("argo/workflow-controller", Some("x"), None),
        ];
        assert!(overlapping(&told_apart, "team").is_empty());
        let elsewhere = [
            c("kubeflow/workflow-controller", None, None),
            c("argo/workflow-controller", None, Some("argo")),
        ];
        assert!(overlapping(&elsewhere, "team").is_empty());
    }

    #[test]
    fn a_failed_workflow_names_its_failed_leaf_pod_and_node() {
        let wf = json!({
            "metadata": {"name": "wf-1"},
            "status": {"phase": "Failed", "message": "child 'wf-1-2' failed", "nodes": {
                "wf-1": {"displayName": "wf-1", "type": "DAG", "phase": "Failed"},
                "wf-1-1": {"displayName": "make-numbers", "type": "Pod", "phase": "Succeeded", "hostNodeName": "kwok-cpu-0"},
                "wf-1-2": {"displayName": "sum-numbers", "type": "Pod", "phase": "Failed", "message": "Error (exit code 1)", "outputs": {"exitCode": "1"}, "hostNodeName": "kwok-cpu-0"}
            }}
        });
        let pod: Pod = serde_json::from_value(json!({"metadata": {"name": "wf-1-sum-numbers-2", "annotations": {"workflows.argoproj.io/node-id": "wf-1-2"}}, "spec": {"containers": [], "nodeName": "kwok-cpu-0"}})).unwrap();
        let r = result_of(
            &wf,
            &[pod],
            &submitted(),
            true,
            Duration::from_secs(3),
            Mode::Cpu,
        );
        assert_eq!(r.state, RunState::Failed);
        let failed = r
            .steps
            .iter()
            .find(|s| s.state == RunState::Failed && s.leaf)
            .unwrap();
        assert_eq!(
            (
                failed.name.as_str(),
                failed.exit_code,
                failed.pod.as_deref()
            ),
            ("sum-numbers", Some(1), Some("wf-1-sum-numbers-2"))
        );
        assert_eq!(r.scheduled, Some(true));
        let f = crate::doors::verdict(
            &r,
            crate::model::Subject::new("run", "x"),
            Severity::Error,
            "cpu",
        )
        .unwrap_err();
        assert_eq!(f.message, "cpu failed at task sum-numbers");
    }

    #[test]
    fn a_pending_step_says_why_it_is_not_scheduled_and_a_sidecar_is_named() {
        let wf = json!({"metadata": {"name": "wf-1"}, "status": {"phase": "Running", "nodes": {
            "wf-1": {"displayName": "wf-1", "type": "Pod", "phase": "Pending"}}}});
        let pending: Pod = serde_json::from_value(json!({"metadata": {"name": "wf-1", "annotations": {"workflows.argoproj.io/node-id": "wf-1"}},
            "spec": {"containers": []},
            "status": {"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]}})).unwrap();
        let r = result_of(
            &wf,
            &[pending],
            &submitted(),
            false,
            Duration::from_secs(9),
            Mode::Gpu,
        );
        assert_eq!(
            r.steps[0].message.as_deref(),
            Some("0/3 nodes are available: 3 Insufficient nvidia.com/gpu.")
        );
        assert_eq!((r.scheduled, r.gpu_seen), (Some(false), None));
        let stuck: Pod = serde_json::from_value(json!({"metadata": {"name": "wf-1"}, "spec": {"containers": []},
            "status": {"phase": "Running", "containerStatuses": [
                {"name": "main", "image": "x", "imageID": "", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0}}},
                {"name": "wait", "image": "x", "imageID": "", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0}}},
                {"name": "istio-proxy", "image": "x", "imageID": "", "ready": true, "restartCount": 0, "state": {"running": {}}}]}})).unwrap();
        let r = result_of(
            &wf,
            &[stuck],
            &submitted(),
            false,
            Duration::from_secs(9),
            Mode::Cpu,
        );
        let f = r.failure.unwrap();
        assert_eq!(f.rule, "argo-sidecar-keeps-pod");
        assert!(
            f.message.contains("istio-proxy keeps running"),
            "{}",
            f.message
        );
    }

    #[test]
    fn a_probe_image_makes_the_gpu_step_run_the_loaded_probe_into_its_output() {
        let wf = WorkflowSample::load(
            &SuiteBase::Embedded,
            None,
            Mode::Gpu,
            None,
            &Default::default(),
        )
        .unwrap()
        .with_probe_image("registry.example/kfcheck:0.1.0")
        .unwrap();
        let t = &wf.manifest["spec"]["templates"][0];
        assert_eq!(t["container"]["image"], "registry.example/kfcheck:0.1.0");
        assert_eq!(t["container"]["command"], json!(["/usr/local/bin/kfcheck"]));
        let args = t["container"]["args"].to_string();
        assert!(
            args.contains("\"--load\"")
                && args.contains("\"--output-file\",\"/tmp/kfcheck-gpu-name\""),
            "{args}"
        );
        assert_eq!(
            t["container"]["resources"]["limits"]["nvidia.com/gpu"], "1",
            "resources kept"
        );
        let cpu = WorkflowSample::load(
            &SuiteBase::Embedded,
            None,
            Mode::Cpu,
            None,
            &Default::default(),
        )
        .unwrap();
        assert!(cpu
            .with_probe_image("x")
            .unwrap_err()
            .contains("no gpu-probe container step"));

        // The step's output: the probe's line, or (nvidia-smi) a name.
        let done = |value: &str| {
            json!({"metadata": {"name": "wf-1"}, "status": {"phase": "Succeeded", "nodes": {
                "wf-1": {"displayName": "wf-1", "type": "Pod", "phase": "Succeeded",
                    "outputs": {"parameters": [{"name": "gpu-name", "value": value}]}}}}})
        };
        let line = r#"{"probe":"gpu","status":"passed","count":1,"load":{"devices":[]}}"#;
        let r = result_of(
            &done(line),
            &[],
            &submitted(),
            true,
            Duration::from_secs(3),
            Mode::Gpu,
        );
        assert_eq!(r.gpu_seen, Some(true));
        assert_eq!(r.gpu_probe.as_ref().unwrap()["count"], 1);
        let none = r#"{"probe":"gpu","status":"failed","count":0,"load":null}"#;
        let r = result_of(
            &done(none),
            &[],
            &submitted(),
            true,
            Duration::from_secs(3),
            Mode::Gpu,
        );
        assert_eq!(
            r.gpu_seen, None,
            "a probe that saw no GPU is not a GPU seen"
        );
        let r = result_of(
            &done("NVIDIA L4"),
            &[],
            &submitted(),
            true,
            Duration::from_secs(3),
            Mode::Gpu,
        );
        assert_eq!((r.gpu_seen, r.gpu_probe.is_none()), (Some(true), true));
    }
}
