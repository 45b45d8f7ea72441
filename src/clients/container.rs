//! Runs one container to its end with bollard: create (labelled), start, wait with a timeout,
//! kill when the timeout passes, collect the logs. Removal is the caller's: checks register it
//! with the janitor *before* calling [`run_to_end`], `local-run` removes after each step.

use bollard::models::{ContainerCreateBody, DeviceRequest, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, KillContainerOptions, LogsOptions, RemoveContainerOptions,
    WaitContainerOptions,
};
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// What to run.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub name: String,
    pub image: String,
    /// Replaces the image's entrypoint when set (KFP `command`).
    pub entrypoint: Option<Vec<String>>,
    /// Replaces the image's CMD when set (KFP `args`).
    pub cmd: Option<Vec<String>>,
    pub env: Vec<String>,
    /// `HOST:CONTAINER[:ro]` bind mounts.
    pub binds: Vec<String>,
    /// `host` or `none` (engines here run without a bridge); `None` is the engine default.
    pub network: Option<String>,
    /// `--gpus all`: a device request for every GPU with the `gpu` capability.
    pub gpus: bool,
    pub labels: BTreeMap<String, String>,
    pub user: Option<String>,
}

/// How it ended.
#[derive(Debug, Clone)]
pub struct Ran {
    /// `None` when it was killed at the timeout.
    pub exit_code: Option<i64>,
    pub timed_out: bool,
    /// stdout and stderr interleaved, as the engine kept them (at most the last [`LOG_LIMIT`] bytes).
    pub logs: String,
    pub duration: Duration,
}

pub const LOG_LIMIT: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    #[error("image {0} is not present on the Docker engine (kfcheck was told not to pull it)")]
    ImageMissing(String),
    #[error("failed to pull image {image}: {reason}")]
    PullFailed { image: String, reason: String },
    #[error("failed to {what}: {reason}")]
    Engine { what: String, reason: String },
    #[error("interrupted")]
    Interrupted,
}

fn engine(what: impl Into<String>) -> impl FnOnce(bollard::errors::Error) -> ContainerError {
    let what = what.into();
    move |e| ContainerError::Engine {
        what,
        reason: describe(&e),
    }
}

/// A Docker error in a few words (the engine's message, not Rust's debug form).
pub fn describe(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError {
            status_code,
            message,
        } => format!("{message} ({status_code})"),
        other => super::errors::chain(other),
    }
}

fn status_of(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Makes sure the image is present; pulls it when allowed.
pub async fn ensure_image(
    docker: &bollard::Docker,
    image: &str,
    pull: bool,
) -> Result<(), ContainerError> {
    match docker.inspect_image(image).await {
        Ok(_) => return Ok(()),
        Err(e) if status_of(&e) == Some(404) => {}
        Err(e) => return Err(engine(format!("inspect image {image}"))(e)),
    }
    if !pull {
        return Err(ContainerError::ImageMissing(image.to_string()));
    }
    let opts = bollard::query_parameters::CreateImageOptions {
        from_image: Some(image.to_string()),
        ..Default::default()
    };
    let mut stream = docker.create_image(Some(opts), None, None);
    while let Some(item) = stream.next().await {
        if let Err(e) = item {
            return Err(ContainerError::PullFailed {
                image: image.to_string(),
                reason: describe(&e),
            });
        }
    }
    Ok(())
}

fn create_body(spec: &Spec) -> ContainerCreateBody {
    let device_requests = spec.gpus.then(|| {
        vec![DeviceRequest {
            driver: Some(String::new()),
            count: Some(-1),
            capabilities: Some(vec![vec!["gpu".to_string()]]),
            ..Default::default()
        }]
    });
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        entrypoint: spec.entrypoint.clone(),
        cmd: spec.cmd.clone(),
        env: (!spec.env.is_empty()).then(|| spec.env.clone()),
        labels: Some(spec.labels.clone().into_iter().collect::<HashMap<_, _>>()),
        user: spec.user.clone(),
        attach_stdout: Some(false),
        attach_stderr: Some(false),
        host_config: Some(HostConfig {
            binds: (!spec.binds.is_empty()).then(|| spec.binds.clone()),
            network_mode: spec.network.clone(),
            device_requests,
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Creates, starts and waits for the container; kills it when `timeout` passes or `cancel` fires.
/// The container is left for the caller to remove (see the module docs).
pub async fn run_to_end(
    docker: &bollard::Docker,
    spec: &Spec,
    timeout: Duration,
    cancel: &CancellationToken,
) -> Result<Ran, ContainerError> {
    let opts = CreateContainerOptions {
        name: Some(spec.name.clone()),
        ..Default::default()
    };
    docker
        .create_container(Some(opts), create_body(spec))
        .await
        .map_err(|e| match status_of(&e) {
            Some(404) => ContainerError::ImageMissing(spec.image.clone()),
            _ => engine(format!("create container {}", spec.name))(e),
        })?;
    let started = Instant::now();
    docker
        .start_container(&spec.name, None)
        .await
        .map_err(engine(format!("start container {}", spec.name)))?;
    let mut wait = docker.wait_container(
        &spec.name,
        Some(WaitContainerOptions {
            condition: "not-running".into(),
        }),
    );
    let waited = tokio::select! {
        r = tokio::time::timeout(timeout, wait.next()) => r,
        _ = cancel.cancelled() => {
            let _ = docker.kill_container(&spec.name, None::<KillContainerOptions>).await;
            return Err(ContainerError::Interrupted);
        }
    };
    let (exit_code, timed_out) = match waited {
        Ok(Some(Ok(r))) => (Some(r.status_code), false),
        Ok(Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. }))) => {
            (Some(code), false)
        }
        Ok(Some(Err(e))) => return Err(engine(format!("wait for container {}", spec.name))(e)),
        Ok(None) => {
            return Err(ContainerError::Engine {
                what: format!("wait for container {}", spec.name),
                reason: "the engine closed the wait stream".into(),
            })
        }
        Err(_) => {
            docker
                .kill_container(&spec.name, None::<KillContainerOptions>)
                .await
                .or_else(|e| {
                    if status_of(&e) == Some(409) {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
                .map_err(engine(format!(
                    "kill container {} at the timeout",
                    spec.name
                )))?;
            (None, true)
        }
    };
    let duration = started.elapsed();
    let logs = logs(docker, &spec.name).await?;
    Ok(Ran {
        exit_code,
        timed_out,
        logs,
        duration,
    })
}

async fn logs(docker: &bollard::Docker, name: &str) -> Result<String, ContainerError> {
    let opts = LogsOptions {
        stdout: true,
        stderr: true,
        tail: "all".into(),
        ..Default::default()
    };
    let mut stream = docker.logs(name, Some(opts));
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(engine(format!("read the logs of container {name}")))?;
        buf.extend_from_slice(&chunk.into_bytes());
        if buf.len() > 2 * LOG_LIMIT {
            buf.drain(..buf.len() - LOG_LIMIT);
        }
    }
    if buf.len() > LOG_LIMIT {
        buf.drain(..buf.len() - LOG_LIMIT);
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Force-removes a container; one already gone counts as removed.
pub async fn remove(docker: &bollard::Docker, name: &str) -> Result<String, String> {
    match docker
        .remove_container(
            name,
            Some(RemoveContainerOptions {
                force: true,
                v: true,
                ..Default::default()
            }),
        )
        .await
    {
        Ok(()) => Ok(format!("removed container {name}")),
        Err(e) if status_of(&e) == Some(404) => Ok(format!("container {name} was already gone")),
        Err(e) => Err(format!(
            "failed to remove container {name}: {} (run `kfcheck cleanup`)",
            describe(&e)
        )),
    }
}

/// `kfcheck cleanup` for Docker: removes containers labelled as kfcheck's (of one run, or of
/// any), which a run could not remove (the engine went away, the process was killed). Containers
/// without the label are never touched.
pub async fn sweep(
    docker: &bollard::Docker,
    run_id: Option<&str>,
    dry_run: bool,
) -> crate::model::SweepReport {
    let mut report = crate::model::SweepReport::default();
    let mut labels = vec![format!(
        "{}={}",
        crate::model::owned::MANAGED_BY_KEY,
        crate::model::owned::MANAGED_BY
    )];
    if let Some(r) = run_id {
        labels.push(format!("{}={r}", crate::model::owned::RUN_ID_KEY));
    }
    let opts = bollard::query_parameters::ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([("label".to_string(), labels)])),
        ..Default::default()
    };
    let found = match docker.list_containers(Some(opts)).await {
        Ok(f) => f,
        Err(e) => {
            report
                .failed
                .push(format!("failed to list containers: {}", describe(&e)));
            return report;
        }
    };
    for c in found {
        let name = c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_string())
            .or(c.id.clone())
            .unwrap_or_default();
        if dry_run {
            report.found.push(format!("container {name}"));
            continue;
        }
        match remove(docker, &name).await {
            Ok(_) => report.found.push(format!("container {name}")),
            Err(e) => report.failed.push(e),
        }
    }
    report
}

/// The last JSON object line a probe printed, if any.
pub fn probe_line(logs: &str) -> Option<serde_json::Value> {
    logs.lines()
        .rev()
        .map(str::trim)
        .filter(|l| l.starts_with('{'))
        .find_map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .filter(|v| v.get("probe").is_some())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_mode_is_a_device_request_for_all_gpus() {
        let spec = Spec {
            name: "n".into(),
            image: "i".into(),
            gpus: true,
            network: Some("none".into()),
            ..Default::default()
        };
        let v = serde_json::to_value(create_body(&spec)).unwrap();
        assert_eq!(v["HostConfig"]["DeviceRequests"][0]["Count"], -1);
        assert_eq!(
            v["HostConfig"]["DeviceRequests"][0]["Capabilities"][0][0],
            "gpu"
        );
        assert_eq!(v["HostConfig"]["NetworkMode"], "none");
        let v = serde_json::to_value(create_body(&Spec::default())).unwrap();
        assert!(v["HostConfig"]["DeviceRequests"].is_null());
    }

    #[test]
    fn the_probe_line_is_the_last_json_result() {
        let logs = "starting\n{\"probe\":\"gpu\",\"ok\":false}\nnoise {\n{\"probe\":\"gpu\",\"ok\":true}\ndone\n";
        assert_eq!(probe_line(logs).unwrap()["ok"], true);
        assert!(probe_line("nothing here\n{\"other\":1}").is_none());
    }
}
