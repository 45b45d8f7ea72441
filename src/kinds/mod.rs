//! Check kinds: Rust code that gathers facts and evaluates them. A check in `checks/*.yaml` is an
//! instance of one kind with typed parameters. The registry is the plain list in [`KINDS`].

mod container_run;
mod container_storage;
mod crds_present;
mod deployments_available;
mod docker_engine;
pub(crate) mod exec;
mod gcp_credentials;
mod gpu_inventory;
mod gpu_schedulable;
mod kfp_api_healthy;
mod kfp_installed_samples;
mod kfp_isolation;
mod kfp_sample_run;
mod kfp_support;
mod kube_api;
mod pipeline_fit;
mod pipeline_lint;
mod profile_matrix;
pub(crate) use profile_matrix::profile_resource;
mod storage_class_default;
mod webhooks_ready;

pub(crate) use gcp_credentials::load_private_key;

use crate::context::{Need, Needs};
use crate::model::{Finding, Problem};
use crate::runner::JanitorHandle;
use crate::suite::{CheckSpec, SuiteBase};
use futures::future::BoxFuture;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Whether running the kind changes anything anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    ReadOnly,
    /// Creates objects (always labelled with the run id and removed by the janitor).
    CreatesResources,
}

/// Static description of a kind: shown by `kfcheck explain`, checked by registry tests.
pub struct KindMeta {
    pub name: &'static str,
    pub needs: &'static [Need],
    pub effect: Effect,
    pub default_timeout: Duration,
    /// What it checks.
    pub what: &'static str,
    /// Why it matters.
    pub why: &'static str,
    /// How to fix what it finds.
    pub fix: &'static str,
    /// Parameters, one `name: meaning` line each.
    pub params: &'static [(&'static str, &'static str)],
}

/// What a check decided: findings (not ready), problems (could not decide), neutral notes.
#[derive(Debug, Default)]
pub struct Outcome {
    pub findings: Vec<Finding>,
    pub problems: Vec<Problem>,
    pub notes: Vec<String>,
}

/// A check could not run to a decision at all.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    Undecided(String),
    /// A 403 or RBAC denial: reads as "kfcheck lacks permission ...", never as "not ready".
    #[error("kfcheck lacks permission to {0}")]
    Forbidden(String),
    /// There is nothing for this check to look at (no profiles at all, say): skipped, with the
    /// reason; never passed.
    #[error("{0}")]
    NotApplicable(String),
}

/// Everything a running check may use. Clients come from `needs` only.
pub struct CheckContext {
    pub spec: Arc<CheckSpec>,
    pub needs: Arc<Needs>,
    pub janitor: JanitorHandle,
    pub cancel: CancellationToken,
    pub run_id: Arc<str>,
}

impl CheckContext {
    /// The check's typed parameters (validated at load time, so an error here is a kfcheck bug
    /// or a suite changed underneath; either way the check cannot decide).
    pub(crate) fn params<P: serde::de::DeserializeOwned>(&self) -> Result<P, CheckError> {
        typed_params(&self.spec.params).map_err(CheckError::Undecided)
    }

    /// The Kubernetes client; only for kinds that declared the need.
    pub(crate) async fn kube(&self) -> Result<kube::Client, CheckError> {
        self.needs.kube().await.map_err(CheckError::Undecided)
    }
}

pub trait Kind: Send + Sync + 'static {
    fn meta(&self) -> &'static KindMeta;
    /// Validates a check's parameters strictly (unknown fields are errors).
    fn validate(&self, params: &serde_json::Value, base: &SuiteBase) -> Result<(), String>;
    /// Gathers and evaluates. Must not print; must register cleanup before creating anything.
    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>>;
}

pub type KindRef = &'static dyn Kind;

/// Every kind kfcheck knows. Adding a kind = one file + one line here.
pub static KINDS: &[KindRef] = &[
    &container_run::ContainerRun,
    &container_storage::ContainerStorage,
    &crds_present::CrdsPresent,
    &deployments_available::DeploymentsAvailable,
    &docker_engine::DockerEngine,
    &exec::Exec,
    &gcp_credentials::GcpCredentials,
    &gpu_inventory::GpuInventory,
    &gpu_schedulable::GpuSchedulable,
    &kfp_api_healthy::KfpApiHealthy,
    &kfp_installed_samples::KfpInstalledSamples,
    &kfp_isolation::KfpIsolation,
    &kfp_sample_run::KfpSampleRun,
    &kube_api::KubeApi,
    &pipeline_fit::PipelineFit,
    &pipeline_lint::PipelineLint,
    &profile_matrix::ProfileMatrix,
    &storage_class_default::StorageClassDefault,
    &webhooks_ready::WebhooksReady,
];

pub fn find_kind(name: &str) -> Option<KindRef> {
    KINDS.iter().copied().find(|k| k.meta().name == name)
}

/// Maps a Kubernetes API error to "could not decide"; a 403 reads as a missing permission.
pub(crate) fn kube_error(e: &kube::Error, what: &str) -> CheckError {
    match e {
        kube::Error::Api(s) if s.code == 403 => CheckError::Forbidden(what.to_string()),
        kube::Error::Api(s) if s.code == 401 => CheckError::Undecided(format!(
            "the API server rejected kfcheck's credentials (401) when trying to {what}"
        )),
        other => CheckError::Undecided(format!(
            "failed to {what}: {}",
            crate::context::kube_client::describe(other)
        )),
    }
}

/// Maps a KFP API error to "could not decide": 403 reads as a missing permission, 401 as
/// refused credentials, 404 as not found.
/// Server text is redacted here too: a transport error may name a URL with credentials in it.
pub(crate) fn kfp_error(e: &crate::clients::KfpError, what: &str) -> CheckError {
    let redact = crate::clients::redact::redact;
    match e.status() {
        Some(403) => CheckError::Forbidden(format!("{what} in KFP ({})", redact(&e.message()))),
        Some(401) => CheckError::Undecided(format!("KFP rejected kfcheck's credentials (401) when trying to {what}: {}; the token or cookie may have expired", redact(&e.message()))),
        Some(404) => CheckError::Undecided(format!("failed to {what}: not found ({})", redact(&e.message()))),
        _ => CheckError::Undecided(format!("failed to {what}: {}", redact(&e.to_string()))),
    }
}

/// Whether a pod is Ready and, if not, why in a few words: the first unready container's waiting
/// reason and restart count (`CrashLoopBackOff (restarts 4)`), else the pod phase.
pub(crate) fn pod_state(p: &k8s_openapi::api::core::v1::Pod) -> (bool, String) {
    let status = p.status.as_ref();
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    if ready {
        return (true, "Ready".into());
    }
    let waiting = status
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| {
            cs.iter().find(|c| !c.ready).map(|c| {
                let reason = c
                    .state
                    .as_ref()
                    .and_then(|s| s.waiting.as_ref())
                    .and_then(|w| w.reason.clone())
                    .unwrap_or_else(|| "not ready".into());
                format!("{reason} (restarts {})", c.restart_count)
            })
        });
    (
        false,
        waiting.unwrap_or_else(|| {
            status
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Unknown".into())
        }),
    )
}

/// Deserializes typed parameters, rejecting unknown fields, with a readable message.
pub(crate) fn typed_params<T: serde::de::DeserializeOwned>(
    params: &serde_json::Value,
) -> Result<T, String> {
    serde_json::from_value(params.clone()).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_invariants() {
        let mut names: Vec<&str> = KINDS.iter().map(|k| k.meta().name).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "kind names must be unique");
        for k in KINDS {
            let m = k.meta();
            assert!(
                !m.what.is_empty() && !m.why.is_empty() && m.fix.ends_with('.'),
                "{} docs",
                m.name
            );
            assert!(!m.default_timeout.is_zero());
        }
    }

    #[test]
    fn every_kind_is_used_by_the_default_suite() {
        let suite = crate::suite::load_suite(&[]).unwrap();
        // `exec` is the plug-in kind for user suites; examples/suite/ and the CLI tests use it.
        for k in KINDS.iter().filter(|k| k.meta().name != "exec") {
            assert!(
                suite
                    .checks
                    .iter()
                    .any(|c| c.kind.meta().name == k.meta().name),
                "kind {} has no check in checks/",
                k.meta().name
            );
        }
    }
}
