//! Check kinds: Rust code that gathers facts and evaluates them. A check in `checks/*.yaml` is an
//! instance of one kind with typed parameters. The registry is the plain list in [`KINDS`].

mod apply_dry_run;
mod artifact_store;
mod container_run;
mod context;
mod crds_present;
mod deployments_available;
mod docker_engine;
pub(crate) mod exec;
mod gcp_credentials;
mod gpu_inventory;
mod gpu_schedulable;
mod io_sweep;
mod kfp_api_healthy;
mod kfp_installed_samples;
mod kfp_isolation;
mod kube_api;
mod notebook_run;
mod pipeline_fit;
mod pipeline_lint;
mod pipeline_run;
mod pod_gpu_isolation;
mod profile_matrix;
mod storage_class_default;
mod storage_roundtrip;
mod webhooks_ready;

use crate::assets::SuiteBase;
pub(crate) use crate::context::errors::{kfp_error, kube_error};
use crate::context::Need;
pub use crate::model::{CheckError, Outcome};
pub use context::{CheckContext, CheckView, GcsAccess};
use futures::future::BoxFuture;
use std::time::Duration;

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
    /// What it creates (empty for read-only kinds); `kfcheck cleanup` sweeps these types.
    pub creates: &'static [crate::model::owned::Created],
    /// The finding rules it can report; empty for kinds whose rules live elsewhere (the lint
    /// rules of `pipeline::rules`, a plug-in's own).
    pub rules: &'static [crate::model::FindingRule],
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

pub trait Kind: Send + Sync + 'static {
    fn meta(&self) -> &'static KindMeta;
    /// Validates a check's parameters strictly (unknown fields are errors).
    fn validate(&self, params: &serde_json::Value, base: &SuiteBase) -> Result<(), String>;
    /// What a check of this kind needs, from its (validated) parameters; the runner resolves
    /// only these, and the check can reach only these. The kind's static needs by default.
    fn needs(&self, _params: &serde_json::Value) -> Vec<Need> {
        self.meta().needs.to_vec()
    }
    /// The door and mode through which a check of this kind runs kfcheck's own sample, for the
    /// report's door matrix (`pipeline-run`); `None` for every other kind and for a check that
    /// runs a pipeline or Workflow of the user's.
    fn sample_door(&self, _params: &serde_json::Value) -> Option<(&'static str, &'static str)> {
        None
    }
    /// Gathers and evaluates. Must not print; must register cleanup before creating anything.
    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>>;
}

pub type KindRef = &'static dyn Kind;

/// Every kind kfcheck knows. Adding a kind = one file + one line here.
pub static KINDS: &[KindRef] = &[
    &apply_dry_run::ApplyDryRun,
    &artifact_store::ArtifactStore,
    &container_run::ContainerRun,
    &crds_present::CrdsPresent,
    &deployments_available::DeploymentsAvailable,
    &docker_engine::DockerEngine,
    &exec::Exec,
    &gcp_credentials::GcpCredentials,
    &gpu_inventory::GpuInventory,
    &gpu_schedulable::GpuSchedulable,
    &io_sweep::IoSweep,
    &kfp_api_healthy::KfpApiHealthy,
    &kfp_installed_samples::KfpInstalledSamples,
    &kfp_isolation::KfpIsolation,
    &kube_api::KubeApi,
    &notebook_run::NotebookRunKind,
    &pipeline_fit::PipelineFit,
    &pipeline_lint::PipelineLint,
    &pipeline_run::PipelineRun,
    &pod_gpu_isolation::PodGpuIsolation,
    &profile_matrix::ProfileMatrix,
    &storage_class_default::StorageClassDefault,
    &storage_roundtrip::StorageRoundtrip,
    &webhooks_ready::WebhooksReady,
];

/// A finding rule any kind registers, with the (first) kind that reports it.
pub fn find_finding_rule(id: &str) -> Option<(&'static str, &'static crate::model::FindingRule)> {
    KINDS.iter().find_map(|k| {
        let m = k.meta();
        m.rules.iter().find(|r| r.id == id).map(|r| (m.name, r))
    })
}

/// Old kind names, still accepted (a suite written for an older kfcheck keeps working):
/// (old name, the kind it now is).
pub static ALIASES: &[(&str, &str)] = &[
    // The REST door's sample run became `pipeline-run` (door: rest, the default).
    ("kfp-sample-run", "pipeline-run"),
    // The storage round trips from a container and from a pod became `storage-roundtrip`'s
    // `from: container` and `from: pod` (ALIAS_PARAMS fills `from` in).
    ("container-storage", "storage-roundtrip"),
    ("pod-storage", "storage-roundtrip"),
];

/// What an old kind name meant that its new kind needs as a parameter: (old name, parameter,
/// value), set when the check does not give it.
pub static ALIAS_PARAMS: &[(&str, &str, &str)] = &[
    ("container-storage", "from", "container"),
    ("pod-storage", "from", "pod"),
];

/// Fills in the parameter an old kind name stood for ([`ALIAS_PARAMS`]).
pub fn alias_params(kind: &str, params: &mut serde_json::Value) {
    for (old, key, value) in ALIAS_PARAMS {
        if *old == kind {
            if let Some(m) = params.as_object_mut() {
                m.entry(key.to_string())
                    .or_insert_with(|| serde_json::Value::String(value.to_string()));
            }
        }
    }
}

/// A kind by its name or an old name ([`ALIASES`]).
pub fn find_kind(name: &str) -> Option<KindRef> {
    let name = ALIASES
        .iter()
        .find(|(old, _)| *old == name)
        .map_or(name, |(_, new)| new);
    KINDS.iter().copied().find(|k| k.meta().name == name)
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

/// Registers the deletion of pod `name` (shown as `shown`) with the janitor, before it is created:
/// whatever happens next, it is deleted (at once, grace period 0); a pod already gone is fine.
pub(crate) fn delete_pod_later(
    janitor: &crate::janitor::JanitorHandle,
    pods: kube::api::Api<k8s_openapi::api::core::v1::Pod>,
    name: String,
    shown: String,
) {
    janitor.register(format!("delete pod {shown}"), move || {
        Box::pin(async move {
            match pods
                .delete(&name, &kube::api::DeleteParams::default().grace_period(0))
                .await
            {
                Ok(_) => Ok(format!("deleted pod {shown}")),
                Err(kube::Error::Api(s)) if s.code == 404 => {
                    Ok(format!("pod {shown} was already gone"))
                }
                Err(e) => Err(format!(
                    "{} (run `kfcheck cleanup`)",
                    crate::context::kube_client::describe(&e)
                )),
            }
        })
    });
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
            assert_eq!(
                m.effect == Effect::CreatesResources,
                !m.creates.is_empty(),
                "{}: a kind that creates anything declares what, and only then",
                m.name
            );
        }
    }

    /// Rule ids written in a kind's (or a door's) production source: `Finding::new("id"`,
    /// `rule: "id"` and a table arm `=> ("id", "message", "fix")` whose id a finding then uses.
    fn rule_ids_in(file: &str) -> std::collections::BTreeSet<String> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let text = &text[..text.find("#[cfg(test)]").unwrap_or(text.len())];
        let mut ids = std::collections::BTreeSet::new();
        for marker in ["Finding::new(", "rule: ", "=> ("] {
            for (i, _) in text.match_indices(marker) {
                let rest = text[i + marker.len()..].trim_start();
                if let Some(lit) = rest.strip_prefix('"') {
                    ids.insert(lit[..lit.find('"').unwrap()].to_string());
                }
            }
        }
        ids
    }

    #[test]
    fn every_finding_rule_a_kind_can_emit_is_registered_once() {
        let mut all: Vec<&str> = crate::pipeline::rules::RULES.iter().map(|r| r.id).collect();
        for k in KINDS {
            let m = k.meta();
            let file = format!("src/kinds/{}.rs", m.name.replace('-', "_"));
            let mut written = rule_ids_in(&file);
            if m.rules == crate::doors::RUN_RULES {
                written.extend(rule_ids_in("src/doors/outcome.rs"));
            }
            if matches!(
                m.name,
                "pod-storage" | "container-storage" | "storage-roundtrip"
            ) {
                // All report the storage probe's findings.
                written.extend(rule_ids_in("src/doors/storage_probe.rs"));
            }
            if m.name == "storage-roundtrip" {
                // From a container or a pod it runs what those two kinds run.
                written.extend(rule_ids_in("src/kinds/storage_roundtrip/pod.rs"));
            }
            if matches!(m.name, "container-run" | "pipeline-run") {
                // The loaded GPU probe's findings, read from its line: each one the probe writes.
                let probe = std::fs::read_to_string(
                    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/probe/gpu_load.rs"),
                )
                .unwrap();
                for r in &crate::doors::gpu_line::GPU_LOAD_RULE_LIST {
                    if probe.contains(&format!("\"{}\"", r.id)) {
                        written.insert(r.id.to_string());
                    }
                }
            }
            if m.name == "pipeline-run" {
                for f in [
                    "src/doors/outcome.rs",
                    "src/doors/notebook_cell.rs",
                    "src/doors/notebook.rs",
                    "src/doors/argo.rs",
                ] {
                    written.extend(rule_ids_in(f));
                }
            }
            let registered: std::collections::BTreeSet<String> =
                m.rules.iter().map(|r| r.id.to_string()).collect();
            if m.rules.is_empty() {
                // Lint and fit report the lint registry's rules; a plug-in reports its own.
                assert!(
                    written.is_empty() || m.name == "exec",
                    "{}: rules {written:?} not registered",
                    m.name
                );
                continue;
            }
            assert_eq!(
                written, registered,
                "{}: rules written in {file} vs registered",
                m.name
            );
            for r in m.rules {
                assert!(
                    r.fix.ends_with('.') && !r.summary.is_empty(),
                    "{}: {} docs",
                    m.name,
                    r.id
                );
                // Tables that more than one kind reports count once.
                let shared = crate::doors::RUN_RULES.contains(r)
                    || crate::doors::storage_probe::STORAGE_RULE_LIST.contains(r)
                    || crate::doors::storage_probe::POD_STORAGE_RULE_LIST.contains(r)
                    || crate::doors::gpu_line::GPU_LOAD_RULE_LIST.contains(r);
                if !shared || !all.contains(&r.id) {
                    all.push(r.id);
                }
            }
        }
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(
            all.len(),
            n,
            "rule ids are unique across kinds and lint rules"
        );
        assert!(find_finding_rule("gpu-node-not-ready").is_some());
        assert_eq!(
            find_finding_rule("run-failed").map(|(k, _)| k),
            Some("kfp-installed-samples")
        );
    }

    #[test]
    fn old_kind_names_stay_accepted_as_aliases_of_a_registered_kind() {
        for (old, new) in ALIASES {
            assert!(
                KINDS.iter().all(|k| k.meta().name != *old),
                "{old} is both a kind and an alias"
            );
            assert_eq!(find_kind(old).map(|k| k.meta().name), Some(*new));
        }
        assert_eq!(
            find_kind("kfp-sample-run").map(|k| k.meta().name),
            Some("pipeline-run")
        );
    }

    #[test]
    fn every_kind_is_used_by_the_default_suite() {
        let suite = crate::suite::load_suite(&[]).unwrap();
        // `exec` is the plug-in kind for user suites; examples/suite/ and the CLI tests use it.
        // `apply-dry-run` is `kfcheck apply-check`'s kind, for the user's files (tests/argo.rs).
        // `notebook-run` runs a team's own notebook (tests/notebook_run.rs).
        for k in KINDS
            .iter()
            .filter(|k| !["exec", "apply-dry-run", "notebook-run"].contains(&k.meta().name))
        {
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
