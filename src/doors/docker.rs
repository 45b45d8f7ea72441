//! The Docker door: one component's image run as a local, labelled container (CPU mode, or GPU
//! mode with `--gpus all` as a device request), removed by the janitor. Shared by the
//! container kinds.

use super::DoorContext;
use crate::clients::container::{self, ContainerError, Ran, Spec};
use crate::context::owned;
use crate::model::CheckError;
use std::time::Duration;

pub(crate) const PROBE_IMAGE: &str = "kfcheck-probe:dev";

/// `timeout: 60s`.
pub(crate) fn duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    crate::units::deserialize_duration(d, |s, e| format!("{s}: {e} (e.g. 60s)"))
}

pub(crate) fn check_network(n: &str) -> Result<(), String> {
    matches!(n, "none" | "host" | "bridge")
        .then_some(())
        .ok_or_else(|| format!("network {n:?}: use none, host or bridge"))
}

/// Whether Docker reports an NVIDIA runtime (as `docker info` lists runtimes).
pub(crate) async fn gpu_runtime(
    docker: &bollard::Docker,
) -> Result<Result<(), String>, CheckError> {
    let info = docker.info().await.map_err(|e| {
        CheckError::Undecided(format!(
            "failed to read Docker info: {}",
            container::describe(&e)
        ))
    })?;
    let default = info.default_runtime.unwrap_or_default();
    let mut runtimes: Vec<String> = info.runtimes.unwrap_or_default().into_keys().collect();
    runtimes.sort();
    if default.contains("nvidia") || runtimes.iter().any(|r| r.contains("nvidia")) {
        Ok(Ok(()))
    } else {
        Ok(Err(format!(
            "Docker has no GPU runtime (runtimes: {}); install the NVIDIA Container Toolkit to run GPU containers",
            if runtimes.is_empty() { "none".into() } else { runtimes.join(", ") }
        )))
    }
}

/// Runs `spec` under the janitor: removal is registered before the container is created.
pub(crate) async fn run_labelled(
    cx: &DoorContext<'_>,
    docker: &bollard::Docker,
    mut spec: Spec,
    timeout: Duration,
    pull: bool,
) -> Result<Ran, CheckError> {
    container::ensure_image(docker, &spec.image, pull)
        .await
        .map_err(|e| CheckError::Undecided(e.to_string()))?;
    spec.labels = owned::labels(cx.run_id, cx.check_id);
    let check: String = cx
        .check_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    // One container per check, or one per `cx.name` when a check runs several (the io-sweep).
    spec.name = if cx.name.is_empty() {
        format!("kfcheck-{check}-{}", cx.run_id)
    } else {
        format!("kfcheck-{check}-{}-{}", cx.name, cx.run_id)
    };
    let (d, name) = (docker.clone(), spec.name.clone());
    cx.janitor
        .register(format!("remove container {name}"), move || {
            Box::pin(async move { container::remove(&d, &name).await })
        });
    container::run_to_end(docker, &spec, timeout, cx.cancel)
        .await
        .map_err(|e| match e {
            ContainerError::Interrupted => {
                CheckError::Undecided("interrupted while the container ran".into())
            }
            other => CheckError::Undecided(other.to_string()),
        })
}
