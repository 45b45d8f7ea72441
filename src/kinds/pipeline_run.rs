//! `pipeline-run`: one of kfcheck's compiled sample pipelines (embedded in the binary, or below
//! a `--suite` directory) submitted through a door (`door: rest`, the KFP REST API as the
//! dashboard does; `notebook`, a notebook server's kernel; `argo`, the same work as a raw Argo
//! Workflow; each door has its own file under `doors/`) in CPU or GPU mode,
//! waited for to a terminal state within the check's deadline, and judged by the one verdict
//! every door shares. What the door creates carries the run id in its name and is removed
//! afterwards; a run still going at the deadline is terminated and deleted. The old kind name
//! `kfp-sample-run` is an alias (REST door, GPU mode when `gpu:` is given).

use super::{typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::context::kfp::kfp_name;
use crate::context::Need;
use crate::doors::argo::{ArgoDoor, ArgoParams, WorkflowSample};
use crate::doors::drift::{Drift, Target};
use crate::doors::notebook::{Dashboard, NotebookDoor, NotebookParams, Via};
use crate::doors::rest::{RestDoor, Submit};
use crate::doors::sample::{run_deadline, GpuParams};
use crate::doors::{verdict, Door, DoorName, Mode, Sample};
use crate::model::owned::Created;
use crate::model::{Evidence, Finding, FindingRule, Severity, Subject};
use futures::future::BoxFuture;
use serde::Deserialize;
use std::time::Duration;

pub struct PipelineRun;

/// Every door's rules (`doors::PIPELINE_RUN_RULES`) and the REST door's drift check.
static RULES: [FindingRule; 25] =
    crate::model::concat_rules(&crate::doors::PIPELINE_RUN_RULES, &[SPEC_POD_DRIFT]);

/// A launched pod that is not what the compiled spec asks for (`doors/drift.rs` compares).
const SPEC_POD_DRIFT: FindingRule = FindingRule {
    id: "spec-pod-drift",
    default_severity: Severity::Error,
    summary: "a pod the kfp backend launched for a step lacks or changes what the compiled spec asks for (gpu, cpu or memory, node selector, toleration)",
    fix: "Run the pipeline on a KFP backend at least as new as the SDK that compiled it, or compile it with the SDK the backend supports: an older backend reads only the resource fields it knows and silently drops the rest, GPU requests included (kubeflow/pipelines#11374, #11390).",
};

static META: KindMeta = KindMeta {
    name: "pipeline-run",
    needs: &[Need::Kfp],
    effect: Effect::CreatesResources,
    creates: &[
        Created::KfpObjects,
        Created::Kube {
            kind: "Notebook",
            api_version: "kubeflow.org/v1",
            plural: "notebooks",
            namespaced: true,
        },
        Created::Kube {
            kind: "Workflow",
            api_version: "argoproj.io/v1alpha1",
            plural: "workflows",
            namespaced: true,
        },
        // The raw-YAML door's fallback where Argo is not installed.
        Created::Kube {
            kind: "Job",
            api_version: "batch/v1",
            plural: "jobs",
            namespaced: true,
        },
    ],
    rules: &RULES,
    default_timeout: Duration::from_secs(600),
    what: "A compiled sample pipeline is submitted through a door (rest: the KFP REST API, as the dashboard does, as a run in kfcheck's own experiment) in CPU or GPU mode, and finishes SUCCEEDED before the deadline. What it creates is named after the run id and deleted afterwards.",
    why: "Green pods do not prove a pipeline runs: the API server, Argo, the launcher and driver images, the artifact store, the pipeline-runner's RBAC and (in GPU mode) GPU scheduling must all work together.",
    fix: "Read the failed step and its message in the evidence, then that pod's logs; a run that never finishes usually has a Pending pod that no node can take.",
    params: &[
        ("pipeline", "compiled pipeline YAML, relative to the suite (default: the embedded pipelines/kfcheck-cpu-sample.yaml, or kfcheck-gpu-sample.yaml in GPU mode)"),
        ("door", "rest (the KFP REST API behind the dashboard; default), notebook (a Kubeflow notebook server's kernel in the profile -n, as a data scientist's kfp.Client()) or argo (raw YAML: an Argo Workflow doing the sample's work, created in the profile -n with the Kubernetes API and watched)"),
        ("workflow", "argo door: a Workflow file to run instead of kfcheck's sample (default: the embedded workflows/kfcheck-cpu-sample.yaml, or kfcheck-gpu-sample.yaml in GPU mode)"),
        ("service_account", "argo door: the ServiceAccount the steps run as (default: default-editor where the profile has it, else pipeline-runner)"),
        ("start_timeout", "argo door: how long the Workflow may go without a status before no controller is said to act on it (default 30s)"),
        ("notebook", "notebook door: the Notebook to use (default: the first Ready one in the profile, by name)"),
        ("kfp_endpoint", "notebook door: the KFP endpoint as the kernel should use it (default: kfp.Client()'s own, in-cluster or KF_PIPELINES_ENDPOINT)"),
        ("kernel", "notebook door: the kernel to start (default: the server's default)"),
        ("create", "notebook door: true to create a labelled Notebook for the check (as default-editor, with the access-ml-pipeline PodDefault label), wait until it is Ready and delete it after (default false: use an existing one)"),
        ("image", "notebook door, create: the Notebook's image (default ghcr.io/kubeflow/kubeflow/jupyter-scipy:v1.10.0)"),
        ("ready_timeout", "notebook door, create: how long the created Notebook may take to be Ready (default 5m)"),
        ("via", "notebook door: port-forward (kfcheck's own to the notebook's Service; default) or dashboard (the dashboard's /notebook/<namespace>/<name>/ with the REST door's credentials: --kfp-endpoint the dashboard, and a token, a session cookie or a Dex login)"),
        ("mode", "cpu or gpu (default: gpu when `gpu` is given, else cpu)"),
        ("parameters", "map of run parameters (default none)"),
        ("gpu", "GPU mode settings for a copy of the spec: {type, resource, count, node_selector_key, toleration_key}; without them GPU mode runs the sample's own GPU requests"),
        ("probe_image", "GPU mode, kfcheck's own sample: kfcheck's probe image as the cluster pulls it (default: --probe-image); the GPU step then runs `kfcheck probe gpu --load` and the run reports what the GPU achieved"),
        ("submit", "rest door: inline (the spec inside the run, default) or upload (multipart upload as a pipeline, a second version, and a run of that version: the dashboard's upload path)"),
        ("run_timeout", "how long the run may take, e.g. 8m (default: the check's timeout less a margin)"),
    ],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default)]
    pipeline: Option<String>,
    #[serde(default)]
    door: DoorName,
    #[serde(default)]
    mode: Option<Mode>,
    #[serde(default)]
    parameters: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    gpu: Option<GpuParams>,
    #[serde(default)]
    submit: Submit,
    #[serde(default, with = "crate::doors::sample::duration")]
    run_timeout: Option<Duration>,
    #[serde(default)]
    notebook: Option<String>,
    #[serde(default)]
    kfp_endpoint: Option<String>,
    #[serde(default)]
    kernel: Option<String>,
    #[serde(default)]
    create: bool,
    #[serde(default)]
    image: Option<String>,
    #[serde(default, with = "crate::doors::sample::duration")]
    ready_timeout: Option<Duration>,
    #[serde(default)]
    via: Option<Via>,
    #[serde(default)]
    workflow: Option<String>,
    #[serde(default)]
    service_account: Option<String>,
    #[serde(default, with = "crate::doors::sample::duration")]
    start_timeout: Option<Duration>,
    #[serde(default)]
    probe_image: Option<String>,
}

impl Params {
    fn mode(&self) -> Result<Mode, String> {
        match (self.mode, &self.gpu) {
            (Some(Mode::Cpu), Some(_)) => {
                Err("gpu: settings are for mode: gpu (remove them, or set mode: gpu)".into())
            }
            (Some(m), _) => Ok(m),
            (None, Some(_)) => Ok(Mode::Gpu),
            (None, None) => Ok(Mode::Cpu),
        }
    }
}

/// The compiled sample of the mode unless the check names one.
fn pipeline_path(p: &Params) -> Result<String, String> {
    Ok(match &p.pipeline {
        Some(path) => path.clone(),
        None => default_pipeline(p.mode()?).into(),
    })
}

fn default_pipeline(mode: Mode) -> &'static str {
    match mode {
        Mode::Cpu => "pipelines/kfcheck-cpu-sample.yaml",
        Mode::Gpu => "pipelines/kfcheck-gpu-sample.yaml",
    }
}

/// The Argo door's settings; given to another door they are a mistake.
fn argo_settings(p: &Params) -> Result<ArgoParams, String> {
    let a = ArgoParams {
        workflow: p.workflow.clone(),
        service_account: p.service_account.clone(),
        start_timeout: p.start_timeout,
    };
    if p.door != DoorName::Argo {
        for (k, set) in [
            ("workflow", a.workflow.is_some()),
            ("service_account", a.service_account.is_some()),
            ("start_timeout", a.start_timeout.is_some()),
        ] {
            if set {
                return Err(format!("{k}: is a setting of door: argo"));
            }
        }
    } else if p.submit != Submit::Inline {
        return Err("submit: is a setting of door: rest".into());
    }
    Ok(a)
}

/// Settings that only one door reads, given to another: a mistake, not a default.
fn door_settings(p: &Params) -> Result<NotebookParams, String> {
    let nb = NotebookParams {
        notebook: p.notebook.clone(),
        kfp_endpoint: p.kfp_endpoint.clone(),
        kernel: p.kernel.clone(),
        create: p.create,
        image: p.image.clone(),
        ready_timeout: p.ready_timeout,
        via: p.via.unwrap_or_default(),
    };
    let notebook_only = [
        ("notebook", nb.notebook.is_some()),
        ("kfp_endpoint", nb.kfp_endpoint.is_some()),
        ("kernel", nb.kernel.is_some()),
        ("create", nb.create),
        ("image", nb.image.is_some()),
        ("ready_timeout", nb.ready_timeout.is_some()),
        ("via", p.via.is_some()),
    ];
    argo_settings(p)?;
    match p.door {
        DoorName::Rest | DoorName::Argo => {
            if let Some((k, _)) = notebook_only.iter().find(|(_, set)| *set) {
                return Err(format!("{k}: is a setting of door: notebook"));
            }
        }
        DoorName::Notebook => {
            if p.submit != Submit::Inline {
                return Err("submit: is a setting of door: rest".into());
            }
            if nb.create && nb.notebook.is_some() {
                return Err(
                    "notebook: names an existing Notebook and create: makes one; give one of them"
                        .into(),
                );
            }
            if !nb.create && (nb.image.is_some() || nb.ready_timeout.is_some()) {
                return Err("image: and ready_timeout: are for create: true".into());
            }
        }
    }
    Ok(nb)
}

fn sample_of(p: &Params, base: &SuiteBase) -> Result<Sample, String> {
    door_settings(p)?;
    if p.door == DoorName::Argo {
        workflow_of(p, base)?;
    }
    Sample::load(
        base,
        &pipeline_path(p)?,
        p.mode()?,
        p.gpu.as_ref(),
        // The Argo door gives the parameters to its Workflow.
        if p.door == DoorName::Argo {
            Default::default()
        } else {
            p.parameters.clone()
        },
    )
}

/// The Workflow the Argo door runs.
fn workflow_of(p: &Params, base: &SuiteBase) -> Result<WorkflowSample, String> {
    WorkflowSample::load(
        base,
        p.workflow.as_deref(),
        p.mode()?,
        p.gpu.as_ref(),
        &p.parameters,
    )
}

impl Kind for PipelineRun {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, base: &SuiteBase) -> Result<(), String> {
        let p: Params = typed_params(params)?;
        sample_of(&p, base).map(|_| ())
    }

    fn needs(&self, params: &serde_json::Value) -> Vec<Need> {
        let Ok(p) = typed_params::<Params>(params) else {
            return vec![DoorName::default().need()];
        };
        if p.door == DoorName::Notebook && p.via == Some(Via::Dashboard) {
            // The notebook itself, and the dashboard with the REST door's credentials.
            return vec![Need::Kube, Need::Kfp];
        }
        vec![p.door.need()]
    }

    fn sample_door(&self, params: &serde_json::Value) -> Option<(&'static str, &'static str)> {
        let p: Params = typed_params(params).ok()?;
        let mode = p.mode().ok()?;
        let own_pipeline = p
            .pipeline
            .as_deref()
            .is_none_or(|x| x == default_pipeline(mode));
        (own_pipeline && p.workflow.is_none()).then_some((p.door.name(), mode.name()))
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let p: Params = cx.params()?;
            let mode = p.mode().map_err(CheckError::Undecided)?;
            let probe_image = (mode == Mode::Gpu)
                .then(|| p.probe_image.as_deref().or(cx.probe_image()))
                .flatten()
                .filter(|i| !i.trim().is_empty())
                .map(str::to_string);
            let mut probe_notes = Vec::new();
            let mut sample = sample_of(&p, &cx.spec.base).map_err(CheckError::Undecided)?;
            let own_sample = p
                .pipeline
                .as_deref()
                .is_none_or(|x| x == default_pipeline(mode));
            if let (Some(img), true) = (&probe_image, p.door != DoorName::Argo) {
                if own_sample {
                    sample = sample
                        .with_probe_image(img)
                        .map_err(CheckError::Undecided)?;
                } else {
                    probe_notes.push(format!(
                        "the probe image applies to kfcheck's own GPU sample; {} runs as written",
                        sample.shown
                    ));
                }
            }
            // What the verdict names: the Workflow the Argo door runs, else the compiled sample.
            let mut named = (
                "kfp-run",
                sample.what().to_string(),
                sample.shown.clone(),
                "status poll(s)",
            );
            // The REST door's drift check: where the run's pods are, once the door knows.
            let mut drift_at = None;
            let door: Box<dyn Door> = match p.door {
                DoorName::Rest => {
                    let rest = RestDoor::new(cx.kfp().await?, p.submit);
                    drift_at = Some(rest.drift_target());
                    Box::new(rest)
                }
                DoorName::Notebook => {
                    let Some(ns) = cx.namespace() else {
                        return Err(CheckError::NotApplicable("no profile namespace: the notebook door runs in a notebook server of a profile (-n PROFILE)".into()));
                    };
                    let settings = door_settings(&p).map_err(CheckError::Undecided)?;
                    let via = settings.via;
                    let door = NotebookDoor::new(cx.kube().await?, ns.to_string(), settings);
                    match via {
                        Via::PortForward => Box::new(door),
                        Via::Dashboard => {
                            let kfp = cx.kfp().await?;
                            let d = Dashboard::of_kfp(kfp.client.base(), kfp.client.auth())
                                .map_err(CheckError::Undecided)?;
                            Box::new(door.through(d))
                        }
                    }
                }
                DoorName::Argo => {
                    let Some(ns) = cx.namespace() else {
                        return Err(CheckError::NotApplicable("no profile namespace: the raw-YAML door creates its Workflow in a profile (-n PROFILE)".into()));
                    };
                    let settings = argo_settings(&p).map_err(CheckError::Undecided)?;
                    let mut wf = workflow_of(&p, &cx.spec.base).map_err(CheckError::Undecided)?;
                    if let Some(img) = &probe_image {
                        if wf.own {
                            wf = wf.with_probe_image(img).map_err(CheckError::Undecided)?;
                        } else {
                            probe_notes.push(format!("the probe image applies to kfcheck's own GPU sample; {} runs as written", wf.shown));
                        }
                    }
                    named = (
                        "workflow",
                        wf.what(),
                        wf.shown.clone(),
                        "API request(s), the status watched",
                    );
                    Box::new(ArgoDoor::new(
                        cx.kube().await?,
                        ns.to_string(),
                        settings,
                        wf,
                        mode,
                    ))
                }
            };
            let dcx = cx.door(kfp_name(&cx.run_id, &cx.spec.id));
            let submitted = door.submit(&dcx, &sample).await?;
            let deadline = run_deadline(cx.spec.timeout, p.run_timeout);
            let mut result = door.wait(&dcx, &submitted, deadline).await?;
            // The REST door cannot read step outputs: with Kubernetes at hand, the GPU step's log.
            if p.door != DoorName::Argo
                && probe_image.is_some()
                && result.finished
                && result.gpu_probe.is_none()
            {
                match cx.kube_if_available().await {
                    Some(client) => {
                        match crate::doors::gpu_line::step_log_probe_line(client, &result.steps)
                            .await
                        {
                            Ok(Some(line)) => result.gpu_probe = Some(line),
                            Ok(None) => {
                                probe_notes.push("the GPU step's log holds no probe line".into())
                            }
                            Err(why) => probe_notes
                                .push(format!("the GPU step's log could not be read: {why}")),
                        }
                    }
                    None => probe_notes.push(
                        "no Kubernetes access to read the GPU step's log (give --kubeconfig)"
                            .into(),
                    ),
                }
            }
            let (kind, what, shown, asked) = named;
            let subject = Subject::new(kind, format!("{what} ({shown})"));
            let mut out = Outcome::default();
            match verdict(&result, subject, cx.spec.severity, &what) {
                Ok(note) => out.notes.push(format!("{note}, {} {asked}", result.polls)),
                Err(f) => out.findings.push(*f),
            }
            // After the verdict's own note, which the table shows first.
            out.notes.extend(result.notes.iter().cloned());
            out.notes.extend(probe_notes);
            // Passed or failed, the pods the backend launched are compared with the spec.
            if let (Some(at), true) = (&drift_at, result.finished) {
                let checked = crate::doors::drift::check_run(
                    cx.kube_if_available().await,
                    at,
                    &sample.spec,
                    &result.steps,
                )
                .await;
                let sdk = sample.spec.pipeline["sdkVersion"].as_str();
                out.findings
                    .extend(drift_findings(&checked.drifts, at, sdk, cx.spec.severity));
                out.notes.extend(checked.notes);
            }
            if mode == Mode::Gpu {
                let subject = Subject::new(kind, format!("{what} ({shown})"));
                if let Some(why) = judge_gpu_probe(
                    &mut out,
                    &result,
                    probe_image.is_some(),
                    subject,
                    cx.spec.severity,
                ) {
                    return Err(CheckError::Undecided(why));
                }
            }
            Ok(out)
        })
    }
}

/// One `spec-pod-drift` finding per field a launched pod lacks or has otherwise, naming the
/// task, the pod, the field, and what was compiled and launched.
fn drift_findings(
    drifts: &[Drift],
    at: &Target,
    sdk: Option<&str>,
    severity: Severity,
) -> Vec<Finding> {
    drifts
        .iter()
        .map(|d| {
            let mut evidence = vec![
                Evidence::new("task", &d.task),
                Evidence::new("pod", format!("{}/{}", at.namespace, d.pod)),
                Evidence::new(&d.field, &d.launched).expected(&d.compiled),
                Evidence::new("compiled as", format!("{}: {}", d.executor, d.written)),
            ];
            if let Some(v) = sdk {
                evidence.push(Evidence::new("compiled by", v));
            }
            if let Some(v) = &at.server {
                evidence.push(Evidence::new("kfp server", v));
            }
            Finding::new(
                "spec-pod-drift",
                severity,
                Subject::new("pod", format!("{}/{}", at.namespace, d.pod)),
                format!("task {} launched unlike its compiled spec: {}", d.task, d.shown()),
                evidence,
                format!(
                    "The KFP backend{} launched task {}'s pod with {} {} where the spec{} compiles {}: run the pipeline on a backend at least as new as the SDK that compiled it, or compile it with the SDK the backend supports (an older backend drops the resource fields it does not know, GPU requests included: kubeflow/pipelines#11374, #11390).",
                    at.server.as_deref().map(|v| format!(" ({v})")).unwrap_or_default(),
                    d.task,
                    d.field,
                    d.launched,
                    sdk.map(|v| format!(" ({v})")).unwrap_or_default(),
                    d.compiled,
                ),
            )
        })
        .collect()
}

/// The GPU sample step's probe line, where the door could read it: the load's findings and
/// figures; without a probe image, or where the door cannot read the step's output, a note that
/// the run proved visibility only. Returns why the check cannot decide, when the load could not
/// run on a GPU the step saw and nothing else was found.
fn judge_gpu_probe(
    out: &mut Outcome,
    result: &crate::doors::RunResult,
    probe_image: bool,
    subject: Subject,
    severity: crate::model::Severity,
) -> Option<String> {
    use crate::doors::gpu_line::{put_load_figures, read_load, GPU_LOAD_RULE_LIST};
    let Some(line) = &result.gpu_probe else {
        out.notes.push(match (probe_image, result.gpu_seen) {
            (false, _) => "visibility only: the GPU step ran nvidia-smi; give --probe-image (kfcheck's image as the cluster pulls it) to load the GPU and report what it achieved".into(),
            (true, Some(true)) => "visibility only: the GPU step's output is a GPU name, not the loaded probe's line (did the step run kfcheck's image?)".into(),
            (true, _) => format!("visibility only: the GPU step ran the loaded probe, but the {} door did not get its line (the KFP API returns no step output parameters, and the step's log was not read); its figures are in the step's log", result.door),
        });
        return None;
    };
    let load = read_load(line);
    // Kept with or without findings: `diff` compares them between runs.
    if let Some(devices) = &load.figures {
        put_load_figures(&mut out.figures, devices);
    }
    for (rule, message, figures) in load.findings {
        let meta = GPU_LOAD_RULE_LIST.iter().find(|r| r.id == rule);
        out.findings.push(crate::model::Finding::new(
            rule,
            severity,
            subject.clone(),
            meta.map_or("", |m| m.summary),
            vec![
                crate::model::Evidence::new("load", message),
                crate::model::Evidence::new("figures", figures),
            ],
            meta.map_or("", |m| m.fix),
        ));
    }
    out.notes.extend(load.notes);
    match load.undecided {
        Some(why) if out.findings.is_empty() => Some(why),
        Some(why) => {
            out.notes.push(why);
            None
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_validated_against_the_embedded_samples() {
        let ok = serde_json::json!({"pipeline": "pipelines/kfcheck-gpu-sample.yaml", "gpu": {"type": "nvidia-tesla-t4"}, "run_timeout": "2m"});
        assert!(PipelineRun.validate(&ok, &SuiteBase::Embedded).is_ok());
        assert!(PipelineRun
            .validate(
                &serde_json::json!({"pipeline": "pipelines/nope.yaml"}),
                &SuiteBase::Embedded
            )
            .is_err());
        assert!(PipelineRun
            .validate(
                &serde_json::json!({"pipeline": "pipelines/kfcheck-cpu-sample.yaml", "run_timeout": "soon"}),
                &SuiteBase::Embedded
            )
            .is_err());
        let p: Params = typed_params(&ok).unwrap();
        let s = sample_of(&p, &SuiteBase::Embedded).unwrap();
        assert_eq!(
            s.mode,
            Mode::Gpu,
            "gpu settings alone mean GPU mode (the old kind's meaning)"
        );
        let sel = &s.spec.platform.unwrap()["platforms"]["kubernetes"]["deploymentSpec"]
            ["executors"]["exec-gpu-probe"]["nodeSelector"]["labels"];
        assert_eq!(
            sel["cloud.google.com/gke-accelerator"], "nvidia-tesla-t4",
            "the configured GPU type replaces the sample's"
        );
    }

    #[test]
    fn door_and_mode_are_parameters_and_the_need_follows_the_door() {
        let base = &SuiteBase::Embedded;
        let cpu = serde_json::json!({"pipeline": "pipelines/kfcheck-cpu-sample.yaml", "door": "rest", "mode": "cpu"});
        assert!(PipelineRun.validate(&cpu, base).is_ok());
        assert_eq!(PipelineRun.needs(&cpu), vec![Need::Kfp]);
        let gpu =
            serde_json::json!({"pipeline": "pipelines/kfcheck-gpu-sample.yaml", "mode": "gpu"});
        assert!(PipelineRun.validate(&gpu, base).is_ok());
        let contradiction = serde_json::json!({"pipeline": "pipelines/kfcheck-gpu-sample.yaml", "mode": "cpu", "gpu": {"type": "nvidia-l4"}});
        assert!(PipelineRun
            .validate(&contradiction, base)
            .unwrap_err()
            .contains("mode: gpu"));
        let nb = serde_json::json!({"pipeline": "pipelines/kfcheck-cpu-sample.yaml", "door": "notebook", "create": true, "image": "jupyter:v1", "ready_timeout": "2m"});
        assert!(PipelineRun.validate(&nb, base).is_ok());
        assert_eq!(
            PipelineRun.needs(&nb),
            vec![Need::Kube],
            "the kernel reaches KFP itself"
        );
        let dashboard = serde_json::json!({"pipeline": "pipelines/kfcheck-cpu-sample.yaml", "door": "notebook", "via": "dashboard"});
        assert!(PipelineRun.validate(&dashboard, base).is_ok());
        assert_eq!(
            PipelineRun.needs(&dashboard),
            vec![Need::Kube, Need::Kfp],
            "through the dashboard, with the REST door's credentials"
        );
        for (bad, says) in [
            (
                serde_json::json!({"pipeline": "pipelines/kfcheck-cpu-sample.yaml", "via": "dashboard"}),
                "via: is a setting of door: notebook",
            ),
            (
                serde_json::json!({"pipeline": "pipelines/kfcheck-cpu-sample.yaml", "kernel": "python3"}),
                "kernel: is a setting of door: notebook",
            ),
            (
                serde_json::json!({"pipeline": "pipelines/kfcheck-cpu-sample.yaml", "door": "notebook", "submit": "upload"}),
                "submit: is a setting of door: rest",
            ),
            (
                serde_json::json!({"pipeline": "pipelines/kfcheck-cpu-sample.yaml", "door": "notebook", "create": true, "notebook": "mine"}),
                "give one of them",
            ),
            (
                serde_json::json!({"pipeline": "pipelines/kfcheck-cpu-sample.yaml", "door": "notebook", "image": "x:v1"}),
                "are for create: true",
            ),
        ] {
            let e = PipelineRun.validate(&bad, base).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
        let unknown =
            serde_json::json!({"pipeline": "pipelines/kfcheck-cpu-sample.yaml", "door": "telnet"});
        assert!(PipelineRun
            .validate(&unknown, base)
            .unwrap_err()
            .contains("rest"));
    }

    #[test]
    fn the_gpu_steps_probe_line_is_judged_and_its_absence_said() {
        use crate::doors::RunResult;
        let base = || RunResult {
            door: "argo",
            run: "wf".into(),
            run_id: "wf".into(),
            finished: true,
            state: crate::clients::kfp_spec::RunState::Succeeded,
            message: None,
            steps: vec![],
            scheduled: Some(true),
            gpu_seen: Some(true),
            gpu_probe: None,
            waited: Duration::from_secs(1),
            polls: 1,
            pods: "x".into(),
            failure: None,
            notes: vec![],
        };
        let subject = || Subject::new("workflow", "gpu sample");
        let sev = crate::model::Severity::Error;
        let mut out = Outcome::default();
        assert_eq!(
            judge_gpu_probe(&mut out, &base(), false, subject(), sev),
            None
        );
        assert!(
            out.notes[0].contains("ran nvidia-smi; give --probe-image"),
            "{:?}",
            out.notes
        );
        let mut out = Outcome::default();
        judge_gpu_probe(&mut out, &base(), true, subject(), sev);
        assert!(out.notes[0].contains("is a GPU name, not the loaded probe's line"));
        let mut out = Outcome::default();
        let rest = RunResult {
            door: "rest",
            gpu_seen: None,
            ..base()
        };
        judge_gpu_probe(&mut out, &rest, true, subject(), sev);
        assert!(out.notes[0].contains("the rest door did not get its line"));
        assert_eq!(out.figures, None, "no line, no figures");

        let slow = serde_json::json!({"probe": "gpu", "count": 1, "load": {"devices": [{"ordinal": 0, "name": "NVIDIA L4",
            "findings": [{"rule": "gpu-load-below-expected", "message": "compute reached 0.41 of expected (below 0.8): 12.0 of 29.4"}],
            "compute_tflops": {"achieved": 12.0, "expected": 29.4, "ratio": 0.41}}]}});
        let mut out = Outcome::default();
        let r = RunResult {
            gpu_probe: Some(slow),
            ..base()
        };
        assert_eq!(judge_gpu_probe(&mut out, &r, true, subject(), sev), None);
        assert_eq!(out.findings[0].rule, "gpu-load-below-expected");
        assert_eq!(
            out.figures.as_ref().unwrap()["gpu_load"]["devices"][0],
            serde_json::json!({"ordinal": 0, "name": "NVIDIA L4", "compute_tflops": 12.0}),
            "the figures the line had, and only those"
        );
        let skipped = serde_json::json!({"probe": "gpu", "count": 1, "load": {"skipped": {"layer": "container-runtime", "reason": "no libcuda"}}});
        let mut out = Outcome::default();
        let r = RunResult {
            gpu_probe: Some(skipped),
            ..base()
        };
        let why = judge_gpu_probe(&mut out, &r, true, subject(), sev).unwrap();
        assert!(why.contains("(container-runtime): no libcuda"), "{why}");
    }

    #[test]
    fn a_drift_is_a_finding_naming_task_pod_field_and_the_skew() {
        let d = Drift {
            task: "gpu-probe".into(),
            pod: "run-gpu-probe-1".into(),
            executor: "exec-gpu-probe".into(),
            field: "nvidia.com/gpu".into(),
            launched: "none".into(),
            compiled: "1".into(),
            written: "accelerator.resourceCount: 1".into(),
        };
        let at = Target {
            namespace: "team-a".into(),
            limit: Duration::from_secs(1),
            server: Some("2.0.5".into()),
        };
        let f = drift_findings(&[d], &at, Some("kfp-2.12.0"), Severity::Error);
        assert_eq!(f.len(), 1);
        let f = &f[0];
        assert_eq!(f.rule, "spec-pod-drift");
        assert_eq!(f.subject.name, "team-a/run-gpu-probe-1");
        assert_eq!(
            f.message,
            "task gpu-probe launched unlike its compiled spec: nvidia.com/gpu: launched none, compiled 1"
        );
        let gpu = f
            .evidence
            .iter()
            .find(|e| e.key == "nvidia.com/gpu")
            .unwrap();
        assert_eq!(
            (gpu.observed.as_str(), gpu.expected.as_deref()),
            ("none", Some("1"))
        );
        assert!(f
            .evidence
            .iter()
            .any(|e| e.key == "kfp server" && e.observed == "2.0.5"));
        assert!(
            f.remediation.contains("backend (2.0.5)")
                && f.remediation.contains("spec (kfp-2.12.0)")
                && f.remediation.contains("#11374, #11390")
                && f.remediation.ends_with('.'),
            "{}",
            f.remediation
        );
        assert!(RULES.iter().any(|r| r.id == "spec-pod-drift"));
    }
}
