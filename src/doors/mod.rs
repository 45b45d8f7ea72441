//! Doors: the ways a data scientist's pipeline reaches the cluster, each proven with the same
//! compiled sample in CPU and GPU mode so that the doors can be compared to locate a fault.
//! Every door does the same four things ([`Door`]): it has one need, submits a [`Sample`]
//! (registering cleanup with the janitor before it creates anything), waits for a terminal
//! state within the deadline, and tells the run door-neutrally ([`RunResult`]), which one
//! [`verdict`] judges. The Docker door (one component as a local container) has its helpers
//! here too. Doors sit below the kinds: the `pipeline-run` kind picks a door by name.

pub(crate) mod argo;
mod argo_job;
pub(crate) mod docker;
pub mod drift;
pub(crate) mod gpu_line;
pub(crate) mod notebook;
pub mod notebook_cell;
pub mod notebook_exec;
pub mod notebook_file;
pub mod notebook_job;
pub mod notebook_server;
pub(crate) mod notebook_target;
mod outcome;
pub(crate) mod rest;
pub(crate) mod sample;
pub(crate) mod storage_probe;
pub mod store_run;

pub use outcome::{verdict, DoorFault, RunResult, StepResult, RUN_RULES};

use crate::model::FindingRule;

/// What `pipeline-run` can report: the run's verdict and the notebook and Argo doors' own
/// findings.
pub static PIPELINE_RUN_RULES: [FindingRule; 24] = crate::model::concat_rules(
    &crate::model::concat_rules::<21>(
        &crate::model::concat_rules::<17>(&outcome::RUN_RULE_LIST, &notebook_cell::NOTEBOOK_RULES),
        &argo::ARGO_RULE_LIST,
    ),
    &gpu_line::GPU_LOAD_RULE_LIST,
);
pub use sample::{Mode, Sample};

use crate::context::Need;
use crate::janitor::JanitorHandle;
use crate::model::CheckError;
use futures::future::BoxFuture;
use serde::Deserialize;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// A door as a check names it (`door: rest`, `door: notebook`, `door: argo`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DoorName {
    /// The KFP REST API behind the dashboard.
    #[default]
    Rest,
    /// A Kubeflow notebook server's kernel, as a data scientist's `kfp.Client()`.
    Notebook,
    /// Raw YAML: an Argo Workflow created with the Kubernetes API, no KFP in between.
    Argo,
}

impl DoorName {
    pub fn name(self) -> &'static str {
        match self {
            DoorName::Rest => "rest",
            DoorName::Notebook => "notebook",
            DoorName::Argo => "argo",
        }
    }

    /// What the door needs, known before any client exists (the runner resolves only this).
    pub fn need(self) -> Need {
        match self {
            DoorName::Rest => Need::Kfp,
            // The notebook's kernel reaches KFP itself; kfcheck needs only the Kubernetes API.
            DoorName::Notebook => Need::Kube,
            DoorName::Argo => Need::Kube,
        }
    }
}

/// What a door may use while it works for one check.
pub struct DoorContext<'a> {
    pub janitor: &'a JanitorHandle,
    pub cancel: &'a CancellationToken,
    pub run_id: &'a str,
    pub check_id: &'a str,
    /// The unique name of what the door creates (carries the run id).
    pub name: String,
}

impl DoorContext<'_> {
    /// Registers with the janitor, before the create, the deletion of the `kind` object `name`
    /// that `api` serves, and only if it carries this run's id (never someone else's object).
    pub fn delete_after(
        &self,
        kind: &'static str,
        api: &kube::Api<kube::api::DynamicObject>,
        name: &str,
        how: kube::api::DeleteParams,
    ) {
        let (a, n, run_id) = (api.clone(), name.to_string(), self.run_id.to_string());
        let ns = api.namespace().unwrap_or_default().to_string();
        self.janitor
            .register(format!("delete {kind} {ns}/{name}"), move || {
                Box::pin(async move {
                    match a.get_opt(&n).await {
                        Ok(Some(o))
                            if o.metadata
                                .labels
                                .as_ref()
                                .and_then(|l| l.get(crate::model::owned::RUN_ID_KEY))
                                == Some(&run_id) =>
                        {
                            a.delete(&n, &how).await.map_err(|e| {
                                format!("cannot delete {kind} {n}: {e} (run `kfcheck cleanup`)")
                            })?;
                            Ok(format!("deleted {kind} {n}"))
                        }
                        Ok(_) => Ok(format!("{kind} {n} was never created")),
                        Err(e) => Err(format!(
                            "cannot read {kind} {n}: {e} (run `kfcheck cleanup`)"
                        )),
                    }
                })
            });
    }
}

/// A submitted run: enough to wait for it.
#[derive(Debug, Clone)]
pub struct Submitted {
    pub name: String,
    /// The door's own id for it (a KFP run id, a Workflow name).
    pub id: String,
    pub at: Instant,
}

/// What every door does.
pub trait Door: Send + Sync {
    fn name(&self) -> &'static str;
    fn need(&self) -> Need;
    /// Submits the sample in its mode; cleanup of everything it creates is registered with the
    /// janitor first.
    fn submit<'a>(
        &'a self,
        cx: &'a DoorContext<'a>,
        sample: &'a Sample,
    ) -> BoxFuture<'a, Result<Submitted, CheckError>>;
    /// Waits for a terminal state within `deadline` and tells what it saw.
    fn wait<'a>(
        &'a self,
        cx: &'a DoorContext<'a>,
        submitted: &'a Submitted,
        deadline: Duration,
    ) -> BoxFuture<'a, Result<RunResult, CheckError>>;
}

/// A pod's PodScheduled condition while it is not bound (the scheduler's reason and message).
pub(crate) fn not_scheduled(
    pod: &k8s_openapi::api::core::v1::Pod,
) -> Option<&k8s_openapi::api::core::v1::PodCondition> {
    pod.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")
}
