//! The notebook door: the sample submitted from inside a Kubeflow notebook server's kernel, the
//! way a data scientist calls `kfp.Client()` in a notebook. The door picks a Ready `Notebook` in
//! the profile namespace ([`notebook_target`](super::notebook_target)), reaches its Jupyter
//! server through kfcheck's own port-forward to the notebook's Service (the base URL
//! `/notebook/<ns>/<name>/` kept), starts a kernel of its own (its shutdown registered with the
//! janitor first), and runs the kernel program as one cell. The cell checks the kernel's
//! environment, submits the sample, waits, removes what it created and prints one result line,
//! which becomes the door-neutral [`RunResult`]; a failure before the run is a finding named by
//! its layer (kfp missing, token file missing, mesh 403, KFP 403, ...). A user's own kernels are
//! never touched.

use super::notebook_cell::{cell, parse, CellConfig, KernelReport, Layer};
use super::notebook_target::{choose, list_notebooks, workspaces_served, NotebookTarget};
use super::{Door, DoorContext, DoorFault, RunResult, Sample, StepResult, Submitted};
use crate::clients::jupyter::{JupyterAuth, JupyterClient, JupyterError, JupyterOptions};
use crate::clients::kfp_spec::RunState;
use crate::clients::portforward::{ForwardError, PortForward};
use crate::context::Need;
use crate::model::{CheckError, Evidence};
use futures::future::BoxFuture;
use serde::Deserialize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The notebook door's own settings in a `pipeline-run` check.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotebookParams {
    /// A Notebook by name (default: the first Ready one in the namespace, by name).
    #[serde(default)]
    pub notebook: Option<String>,
    /// The KFP endpoint as the kernel should use it (default: `kfp.Client()`'s own, in-cluster).
    #[serde(default)]
    pub kfp_endpoint: Option<String>,
    /// The kernel to start (default: the server's default kernel).
    #[serde(default)]
    pub kernel: Option<String>,
    /// Create a labelled Notebook for the check, wait until it is Ready, delete it after.
    #[serde(default)]
    pub create: bool,
    /// The image of a created Notebook (default [`DEFAULT_IMAGE`]).
    #[serde(default)]
    pub image: Option<String>,
    /// How long a created Notebook may take to be Ready (default 5m).
    #[serde(default, with = "crate::doors::sample::duration")]
    pub ready_timeout: Option<Duration>,
    /// How kfcheck reaches the notebook's Jupyter server (default: its own port-forward).
    #[serde(default)]
    pub via: Via,
}

/// The two ways into a notebook server.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Via {
    /// kfcheck's own port-forward to the notebook's Service (needs only the Kubernetes API).
    #[default]
    PortForward,
    /// The dashboard's path `/notebook/<namespace>/<name>/`, with the credentials the REST door
    /// uses (`--kfp-endpoint` the dashboard; a token, a session cookie or a Dex login), as a
    /// data scientist's browser reaches it.
    Dashboard,
}

/// The dashboard a notebook is reached through: its root URL and the credentials for it.
#[derive(Debug, Clone)]
pub struct Dashboard {
    pub root: String,
    pub auth: JupyterAuth,
    /// The credential, described (never the value).
    pub credential: String,
}

impl Dashboard {
    /// The dashboard behind which KFP was reached: the KFP client's base is `<root>/pipeline`
    /// when it went through the dashboard's gateway. Direct access to `ml-pipeline` (a
    /// port-forward, or an endpoint without `/pipeline`) has no dashboard, and the
    /// `kubeflow-userid` header only works there.
    pub fn of_kfp(base: &str, auth: &crate::clients::kfp::Auth) -> Result<Dashboard, String> {
        use crate::clients::kfp::Auth;
        let Some(root) = base.trim_end_matches('/').strip_suffix("/pipeline") else {
            return Err(format!("the notebook door's `via: dashboard` needs KFP reached through the dashboard (--kfp-endpoint the dashboard's URL); KFP was reached at {base}, not behind /pipeline/"));
        };
        let mut a = JupyterAuth::default();
        match auth {
            Auth::Bearer(t) => a.bearer = Some(t.clone()),
            Auth::Cookie(c) => a.cookie = Some(c.clone()),
            Auth::None => {}
            Auth::UserId(_) => return Err("the notebook door's `via: dashboard` cannot use --kfp-user-id (the kubeflow-userid header works only directly against ml-pipeline): give a token, a session cookie or a Dex login".into()),
        }
        Ok(Dashboard {
            root: root.to_string(),
            auth: a,
            credential: auth.describe(),
        })
    }
}

/// The image a created Notebook runs when none is given: Kubeflow's own Jupyter image.
pub const DEFAULT_IMAGE: &str = "ghcr.io/kubeflow/kubeflow/jupyter-scipy:v1.10.0";
const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(300);

/// How long the kernel program may take beyond the run itself (import, healthz, cleanup).
const CELL_MARGIN: Duration = Duration::from_secs(30);

struct Session {
    target: NotebookTarget,
    client: Arc<JupyterClient>,
    kernel: Option<String>,
    /// Why the server could not give kfcheck a kernel.
    fault: Option<JupyterError>,
    config: CellConfig,
}

/// The notebook door for one check.
pub struct NotebookDoor {
    kube: kube::Client,
    namespace: String,
    params: NotebookParams,
    /// Set with `via: dashboard`.
    dashboard: Option<Dashboard>,
    request_timeout: Duration,
    session: Mutex<Option<Session>>,
    /// What kept the door from reaching a server at all (a created notebook never Ready).
    early: Mutex<Option<DoorFault>>,
}

impl NotebookDoor {
    pub fn new(kube: kube::Client, namespace: String, params: NotebookParams) -> NotebookDoor {
        NotebookDoor {
            kube,
            namespace,
            params,
            dashboard: None,
            request_timeout: Duration::from_secs(30),
            session: Mutex::new(None),
            early: Mutex::new(None),
        }
    }

    /// Reaches the notebook through `dashboard` instead of a port-forward.
    pub fn through(mut self, dashboard: Dashboard) -> NotebookDoor {
        self.dashboard = Some(dashboard);
        self
    }

    /// Creates the check's Notebook (labelled, with `access-ml-pipeline` so the PodDefault
    /// applies, as the profile's `default-editor`), after registering its deletion, and waits
    /// until it can be used. `Err(fault)`: it was created but never became usable.
    async fn create(
        &self,
        cx: &DoorContext<'_>,
    ) -> Result<Result<NotebookTarget, DoorFault>, CheckError> {
        use kube::api::{DeleteParams, DynamicObject, PostParams};
        let ns = self.namespace.clone();
        let hash = cx.check_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        // Short: the controller derives the StatefulSet, its pods' labels and the Service from it.
        let name = format!("kfcheck-nb-{:08x}-{}", hash as u32, cx.run_id);
        let image = self
            .params
            .image
            .clone()
            .unwrap_or_else(|| DEFAULT_IMAGE.to_string());
        let mut labels = crate::model::owned::labels(cx.run_id, cx.check_id);
        labels.insert("access-ml-pipeline".into(), "true".into());
        let nb: DynamicObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "kubeflow.org/v1",
            "kind": "Notebook",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"template": {"spec": {
                "serviceAccountName": "default-editor",
                "containers": [{"name": name, "image": image,
                    "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]
            }}}
        }))
        .map_err(|e| CheckError::Undecided(format!("kfcheck bug: the Notebook manifest: {e}")))?;
        let api: kube::Api<DynamicObject> = kube::Api::namespaced_with(
            self.kube.clone(),
            &ns,
            &super::notebook_target::notebook_resource("v1"),
        );
        // Only the one this run labelled.
        cx.delete_after("Notebook", &api, &name, DeleteParams::background());
        match api.create(&PostParams::default(), &nb).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 403 => {
                return Err(CheckError::Forbidden(format!(
                    "create notebooks in namespace {ns}"
                )))
            }
            Err(kube::Error::Api(s)) if s.code == 404 => {
                return Err(CheckError::NotApplicable(
                    "the cluster serves no kubeflow.org/v1 Notebook API to create a notebook with"
                        .into(),
                ))
            }
            Err(e) => {
                return Err(CheckError::Undecided(format!(
                    "cannot create Notebook {ns}/{name}: {}",
                    crate::clients::errors::describe_kube(&e)
                )))
            }
        }
        let limit = self.params.ready_timeout.unwrap_or(DEFAULT_READY_TIMEOUT);
        let started = Instant::now();
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
            kube::Api::namespaced(self.kube.clone(), &ns);
        let mut last: String;
        loop {
            let nb = api.get_opt(&name).await;
            let listed = pods
                .list(&kube::api::ListParams::default().labels(&format!("notebook-name={name}")))
                .await;
            match (nb, listed) {
                (Ok(Some(nb)), Ok(p)) => match super::notebook_target::judge(&nb, &p.items) {
                    Ok(t) => return Ok(Ok(t)),
                    Err(why) => last = why,
                },
                (Ok(None), _) => last = "deleted by someone else".into(),
                (Err(e), _) | (_, Err(e)) => last = crate::clients::errors::describe_kube(&e),
            }
            if started.elapsed() >= limit {
                let (rule, summary, fix) = Layer::NotReady.describe();
                return Ok(Err(DoorFault {
                    rule,
                    message: format!(
                        "{summary} (Notebook {ns}/{name} within {}s)",
                        limit.as_secs()
                    ),
                    evidence: vec![
                        Evidence::new("last seen", last).expected("pod Running and Ready"),
                        Evidence::new("image", image),
                    ],
                    fix: fix.into(),
                }));
            }
            tokio::select! {
                _ = cx.cancel.cancelled() => return Err(CheckError::Undecided(format!("interrupted while waiting for Notebook {ns}/{name}"))),
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// The notebook to use, or why there is none (skipped: nothing to run the door through).
    async fn target(&self) -> Result<NotebookTarget, CheckError> {
        let ns = &self.namespace;
        let workspaces = workspaces_served(&self.kube).await;
        let v2 = |m: String| {
            match &workspaces {
            Some(v) => format!("{m}; this cluster serves Notebooks 2.0 ({v} Workspace), which the notebook door does not use yet"),
            None => m,
        }
        };
        let notebooks = match list_notebooks(&self.kube, ns).await {
            Ok(Some(n)) => n,
            Ok(None) => {
                return Err(CheckError::NotApplicable(v2(
                    "the cluster serves no Notebook API (notebooks.kubeflow.org)".into(),
                )))
            }
            Err(kube::Error::Api(s)) if s.code == 403 => {
                return Err(CheckError::Forbidden(format!(
                    "list notebooks in namespace {ns}"
                )))
            }
            Err(e) => {
                return Err(CheckError::Undecided(format!(
                    "cannot list the notebooks of namespace {ns}: {}",
                    crate::clients::errors::describe_kube(&e)
                )))
            }
        };
        let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
            kube::Api::namespaced(self.kube.clone(), ns);
        let pods = match pods.list(&Default::default()).await {
            Ok(l) => l.items,
            Err(kube::Error::Api(s)) if s.code == 403 => {
                return Err(CheckError::Forbidden(format!(
                    "list pods in namespace {ns}"
                )))
            }
            Err(e) => {
                return Err(CheckError::Undecided(format!(
                    "cannot list the pods of namespace {ns}: {}",
                    crate::clients::errors::describe_kube(&e)
                )))
            }
        };
        choose(ns, &notebooks, &pods, self.params.notebook.as_deref()).map_err(|why| {
            CheckError::NotApplicable(v2(format!(
                "{why}: the notebook door runs in a Ready notebook server of the profile (start one, or name one with `notebook:`)"
            )))
        })
    }
}

/// A Jupyter failure before the cell as the door's finding.
fn server_fault(t: &NotebookTarget, e: &JupyterError, via: &str) -> DoorFault {
    let (rule, _, fix) = Layer::Server.describe();
    DoorFault {
        rule,
        message: format!(
            "the Jupyter server of {} did not start a kernel for kfcheck",
            t.shown()
        ),
        evidence: vec![
            Evidence::new("error", e.to_string()),
            Evidence::new("reached through", via.to_string()),
            Evidence::new("image", t.image.clone()),
        ],
        fix: fix.into(),
    }
}

/// The kernel's report, door-neutrally.
pub fn result_of(
    t: &NotebookTarget,
    r: &KernelReport,
    waited: Duration,
    run_name: &str,
) -> RunResult {
    let run = r.run.as_ref();
    let run_id = run.map(|x| x.id.clone()).unwrap_or_default();
    let state = run
        .map(|x| RunState::parse(Some(&x.state)))
        .unwrap_or(RunState::Unspecified);
    let layer = r.error.as_ref().map(|e| e.layer);
    let mut evidence: Vec<Evidence> = r
        .steps
        .iter()
        .map(|s| {
            Evidence::new(
                format!("step {}", s.name),
                format!(
                    "{}{}",
                    if s.ok { "ok" } else { "FAILED" },
                    if s.detail.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", s.detail)
                    }
                ),
            )
        })
        .collect();
    evidence.push(Evidence::new("notebook", t.shown()));
    evidence.push(Evidence::new("image", t.image.clone()));
    if let Some(v) = &r.kfp_version {
        evidence.push(Evidence::new("kfp SDK in the kernel", v.clone()));
    }
    let failure = match (layer, &r.error) {
        // A run that failed or did not finish is told by the verdict from its state.
        (None | Some(Layer::RunFailed) | Some(Layer::RunTimeout), _) => None,
        (Some(l), Some(e)) => {
            let (rule, summary, fix) = l.describe();
            evidence.insert(0, Evidence::new("error", e.message.clone()));
            Some(DoorFault {
                rule,
                message: summary.to_string(),
                evidence,
                fix: fix.into(),
            })
        }
        (Some(_), None) => None,
    };
    let notes = r
        .cleanup
        .iter()
        .filter(|c| !c.ok)
        .map(|c| {
            format!(
                "the kernel could not {} ({}); `kfcheck cleanup` removes kfcheck's KFP objects",
                c.what,
                c.error.as_deref().unwrap_or("no reason given")
            )
        })
        .collect();
    RunResult {
        door: "notebook",
        run: if run_id.is_empty() {
            run_name.to_string()
        } else {
            format!("{run_name} ({run_id})")
        },
        run_id,
        finished: layer != Some(Layer::RunTimeout) && run.is_some(),
        state,
        message: match (layer, &r.error) {
            (Some(Layer::RunFailed | Layer::RunTimeout), Some(e)) => Some(e.message.clone()),
            _ => None,
        },
        steps: run
            .map(|x| x.tasks.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|k| StepResult {
                name: k.name.clone(),
                state: RunState::parse(Some(&k.state)),
                state_text: k.state.clone(),
                leaf: true,
                exit_code: None,
                message: Some(k.message.clone()).filter(|m| !m.is_empty()),
                pod: k.pod.clone(),
                node: None,
            })
            .collect(),
        scheduled: None,
        gpu_seen: None,
        gpu_probe: None,
        waited,
        polls: 1,
        pods: format!(
            "pipeline/runid={}",
            run.map(|x| x.id.as_str()).unwrap_or("<run id>")
        ),
        failure,
        notes,
    }
}

/// A result with no run in it: the door stopped before one existed (or could be watched).
fn no_run(submitted: &Submitted, failure: Option<DoorFault>) -> RunResult {
    RunResult {
        door: "notebook",
        run: submitted.name.clone(),
        run_id: String::new(),
        finished: true,
        state: RunState::Unspecified,
        message: None,
        steps: Vec::new(),
        scheduled: None,
        gpu_seen: None,
        gpu_probe: None,
        waited: submitted.at.elapsed(),
        polls: 0,
        pods: "pipeline/runid=<run id>".into(),
        failure,
        notes: Vec::new(),
    }
}

impl Door for NotebookDoor {
    fn name(&self) -> &'static str {
        "notebook"
    }

    fn need(&self) -> Need {
        Need::Kube
    }

    fn submit<'a>(
        &'a self,
        cx: &'a DoorContext<'a>,
        sample: &'a Sample,
    ) -> BoxFuture<'a, Result<Submitted, CheckError>> {
        Box::pin(async move {
            let target = if self.params.create {
                match self.create(cx).await? {
                    Ok(t) => t,
                    Err(fault) => {
                        *self.early.lock().unwrap_or_else(|p| p.into_inner()) = Some(fault);
                        return Ok(Submitted {
                            name: cx.name.clone(),
                            id: String::new(),
                            at: Instant::now(),
                        });
                    }
                }
            } else {
                self.target().await?
            };
            let (forward, base, auth) = match &self.dashboard {
                Some(d) => (
                    None,
                    format!("{}{}", d.root, target.base_path),
                    d.auth.clone(),
                ),
                None => {
                    let forward = PortForward::start(self.kube.clone(), target.service.clone())
                        .await
                        .map_err(|e| match e {
                            ForwardError::NoService(m) | ForwardError::Failed(m) => {
                                CheckError::Undecided(format!(
                                    "cannot port-forward to {}: {m}",
                                    target.shown()
                                ))
                            }
                        })?;
                    let forward = Arc::new(forward);
                    let base = format!("http://{}{}", forward.local, target.base_path);
                    (Some(forward), base, JupyterAuth::default())
                }
            };
            let client = JupyterClient::new(
                &base,
                auth,
                JupyterOptions {
                    request_timeout: self.request_timeout,
                    offer_v1: true,
                },
            )
            .map_err(|e| CheckError::Undecided(e.to_string()))?;
            let client = Arc::new(client);
            // Registered before the kernel exists: whatever happens, the kernels kfcheck
            // started (and only those) are shut down, through the same forward.
            let (c, pf, shown) = (client.clone(), forward.clone(), target.shown());
            cx.janitor.register(
                format!("shut down kfcheck's kernel in {shown}"),
                move || {
                    Box::pin(async move {
                        let _keep = pf;
                        let started = c.started();
                        let failed = c.shutdown_all().await;
                        match failed.first() {
                            None if started.is_empty() => {
                                Ok(format!("no kernel was started in {shown}"))
                            }
                            None => Ok(format!(
                                "shut down kernel {} in {shown}",
                                started.join(", ")
                            )),
                            Some((id, e)) => Err(format!("kernel {id} in {shown}: {e}")),
                        }
                    })
                },
            );
            let config = CellConfig {
                namespace: self.namespace.clone(),
                pipeline_yaml: sample.spec.to_yaml().map_err(CheckError::Undecided)?,
                run_name: cx.name.clone(),
                experiment_name: cx.name.clone(),
                timeout_s: 0,
                host: self.params.kfp_endpoint.clone(),
                arguments: sample.parameters.clone(),
            };
            let (kernel, fault) = match client.start_kernel(self.params.kernel.as_deref()).await {
                Ok(k) => (Some(k.id), None),
                Err(e) => (None, Some(e)),
            };
            let id = kernel.clone().unwrap_or_default();
            *self.session.lock().unwrap_or_else(|p| p.into_inner()) = Some(Session {
                target,
                client,
                kernel,
                fault,
                config,
            });
            Ok(Submitted {
                name: cx.name.clone(),
                id,
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
            let empty = |failure: Option<DoorFault>| no_run(submitted, failure);
            if let Some(fault) = self.early.lock().unwrap_or_else(|p| p.into_inner()).take() {
                return Ok(empty(Some(fault)));
            }
            let Some(s) = self
                .session
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
            else {
                return Err(CheckError::Undecided(
                    "kfcheck bug: the notebook door waited before it submitted".into(),
                ));
            };
            let via = match &self.dashboard {
                Some(d) => format!(
                    "the dashboard at {}{} with {}",
                    d.root, s.target.base_path, d.credential
                ),
                None => format!("kfcheck's port-forward to service {}", s.target.service),
            };
            let Some(kernel) = s.kernel.clone() else {
                let e = s
                    .fault
                    .clone()
                    .unwrap_or(JupyterError::Channel("no kernel".into()));
                return Ok(empty(Some(server_fault(&s.target, &e, &via))));
            };
            let mut config = s.config.clone();
            // The run has the whole deadline; the cell that waits for it a margin more.
            config.timeout_s = deadline.as_secs().max(1);
            let code = cell(&config);
            let ran = tokio::select! {
                _ = cx.cancel.cancelled() => return Err(CheckError::Undecided(format!("interrupted while the cell ran in {}", s.target.shown()))),
                r = s.client.execute(&kernel, &code, deadline + CELL_MARGIN) => r,
            };
            let out = match ran {
                Ok(o) => o,
                Err(e @ JupyterError::KernelDied(_)) => {
                    let (rule, summary, fix) = Layer::KernelDied.describe();
                    return Ok(empty(Some(DoorFault {
                        rule,
                        message: summary.into(),
                        evidence: vec![
                            Evidence::new("error", e.to_string()),
                            Evidence::new("notebook", s.target.shown()),
                        ],
                        fix: fix.into(),
                    })));
                }
                Err(e) => {
                    let mut fault = server_fault(&s.target, &e, &via);
                    fault.message = format!(
                        "the connection to kfcheck's kernel in {} broke while kfcheck's cell ran",
                        s.target.shown()
                    );
                    return Ok(empty(Some(fault)));
                }
            };
            let waited = submitted.at.elapsed();
            if out.timed_out {
                let mut r = empty(None);
                r.finished = false;
                r.waited = waited;
                r.notes.push(format!(
                    "the cell passed its deadline of {}s and the kernel was interrupted",
                    (deadline + CELL_MARGIN).as_secs()
                ));
                return Ok(r);
            }
            match parse(&out.stdout) {
                Ok(report) => {
                    let mut r = result_of(&s.target, &report, waited, &submitted.name);
                    r.notes.push(format!(
                        "ran in kernel {kernel} of {} ({}, {} framing)",
                        s.target.shown(),
                        via,
                        out.framing
                    ));
                    Ok(r)
                }
                Err(why) => {
                    let (rule, _, fix) = Layer::ProbeBug.describe();
                    let mut ev = vec![
                        Evidence::new("result", why),
                        Evidence::new("notebook", s.target.shown()),
                    ];
                    if let Some((name, value, tb)) = &out.error {
                        ev.push(Evidence::new("exception", format!("{name}: {value}")));
                        if let Some(last) = tb.last() {
                            ev.push(Evidence::new("traceback (last line)", last.clone()));
                        }
                    }
                    if !out.stderr.is_empty() {
                        ev.push(Evidence::new(
                            "stderr",
                            out.stderr.chars().take(600).collect::<String>(),
                        ));
                    }
                    Ok(empty(Some(DoorFault {
                        rule,
                        message: "kfcheck's kernel program did not report a result".into(),
                        evidence: ev,
                        fix: fix.into(),
                    })))
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clients::http::Secret;
    use crate::clients::portforward::ServiceRef;
    use crate::doors::verdict;
    use crate::model::{Severity, Subject};

    #[test]
    fn the_dashboard_is_where_kfp_was_reached_behind_pipeline_with_its_credentials() {
        use crate::clients::kfp::Auth;
        let cookie = Auth::Cookie(Secret::new("oauth2_proxy_kubeflow=abc|1|sig"));
        let d = Dashboard::of_kfp("https://kubeflow.example.com/pipeline", &cookie).unwrap();
        assert_eq!(d.root, "https://kubeflow.example.com");
        assert!(d.auth.cookie.is_some() && d.auth.bearer.is_none() && d.auth.token.is_none());
        assert_eq!(d.credential, "a session cookie");
        let bearer = Auth::Bearer(Secret::new("eyJ.x.y"));
        let d = Dashboard::of_kfp("http://127.0.0.1:8080/pipeline/", &bearer).unwrap();
        assert_eq!(d.root, "http://127.0.0.1:8080");
        assert!(d.auth.bearer.is_some() && d.auth.cookie.is_none());
        // Straight to ml-pipeline (a port-forward): no dashboard; the userid header only works there.
        let e = Dashboard::of_kfp("http://127.0.0.1:40001", &Auth::None).unwrap_err();
        assert!(e.contains("--kfp-endpoint the dashboard"), "{e}");
        let e = Dashboard::of_kfp(
            "https://kubeflow.example.com/pipeline",
            &Auth::UserId("u@example.com".into()),
        )
        .unwrap_err();
        assert!(e.contains("--kfp-user-id"), "{e}");
        assert!(
            !format!("{d:?}").contains("eyJ"),
            "the Debug of a dashboard hides the token"
        );
    }

    fn target() -> NotebookTarget {
        NotebookTarget {
            namespace: "team-a".into(),
            name: "nb".into(),
            pod: "nb-0".into(),
            service: ServiceRef {
                namespace: "team-a".into(),
                name: "nb".into(),
                port: 80,
            },
            base_path: "/notebook/team-a/nb/".into(),
            image: "jupyter:v1".into(),
        }
    }

    fn judged(line: &str) -> Result<String, Box<crate::model::Finding>> {
        let report = parse(&format!("KFCHECK-RESULT {line}")).unwrap();
        let r = result_of(&target(), &report, Duration::from_secs(3), "kfcheck-r-x");
        verdict(
            &r,
            Subject::new("kfp-run", "cpu"),
            Severity::Error,
            "cpu sample",
        )
    }

    #[test]
    fn a_kernel_report_becomes_the_door_neutral_verdict() {
        let ok = judged(r#"{"steps": [{"name": "import kfp", "ok": true}], "run": {"id": "r1", "state": "SUCCEEDED", "tasks": [{"name": "a", "state": "SUCCEEDED"}]}, "cleanup": []}"#).unwrap();
        assert_eq!(ok, "cpu sample: run r1 succeeded in 3.00s (1 task(s))");
        let failed = judged(r#"{"run": {"id": "r2", "state": "FAILED", "tasks": [{"name": "sum", "state": "FAILED", "message": "OOMKilled", "pod": "p-1"}]}, "error": {"layer": "run-failed", "message": "run r2 ended FAILED"}}"#).unwrap_err();
        assert_eq!(failed.rule, "run-failed");
        assert_eq!(failed.message, "cpu sample failed at task sum");
        let hung = judged(r#"{"run": {"id": "r3", "state": "TIMED_OUT", "tasks": []}, "error": {"layer": "run-timeout", "message": "did not finish"}}"#).unwrap_err();
        assert_eq!(hung.rule, "run-not-finished");
    }

    #[test]
    fn a_failure_before_the_run_is_named_by_its_layer_with_the_steps() {
        let f = judged(r#"{"steps": [{"name": "import kfp", "ok": true, "detail": "2.17.3"}, {"name": "token file", "ok": false, "detail": "/var/run/secrets/kubeflow/pipelines/token: No such file"}], "error": {"layer": "token-missing", "message": "no pipelines token"}}"#).unwrap_err();
        assert_eq!(f.rule, "notebook-token-missing");
        assert!(
            f.message
                .starts_with("cpu sample: the notebook has no KFP token file"),
            "{}",
            f.message
        );
        let ev: Vec<String> = f
            .evidence
            .iter()
            .map(|e| format!("{}={}", e.key, e.observed))
            .collect();
        assert!(
            ev.contains(&"error=no pipelines token".to_string()),
            "{ev:?}"
        );
        assert!(
            ev.iter()
                .any(|e| e.starts_with("step token file=FAILED: /var/run")),
            "{ev:?}"
        );
        assert!(
            ev.contains(&"notebook=notebook team-a/nb (pod nb-0)".to_string()),
            "{ev:?}"
        );
        let mesh = judged(r#"{"error": {"layer": "istio-denied", "message": "403 from the mesh: RBAC: access denied", "status": 403}}"#).unwrap_err();
        assert_eq!(mesh.rule, "notebook-mesh-denied");
    }

    #[test]
    fn a_cleanup_the_kernel_could_not_finish_is_a_note() {
        let report = parse(r#"KFCHECK-RESULT {"run": {"id": "r1", "state": "SUCCEEDED"}, "cleanup": [{"what": "delete run r1", "ok": false, "error": "503"}]}"#).unwrap();
        let r = result_of(&target(), &report, Duration::from_secs(1), "n");
        assert_eq!(r.notes.len(), 1);
        assert!(r.notes[0].contains("delete run r1 (503)"), "{}", r.notes[0]);
    }
}
