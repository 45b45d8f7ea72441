//! `kfcheck probe storage|io|gpu|env`: the in-container side of the Docker and cluster checks. Each
//! probe prints exactly one JSON line (`{"probe": ..., "status": ...}`) on stdout, optionally
//! writes the same line to a file (a pipeline output), and exits 0 passed, 1 failed, 3 errored.
//! The same binary runs under Docker locally and in pods, so this logic is tested once.

mod env;
mod gpu;
pub mod gpu_load;
mod io;
mod storage;

pub use env::EnvProbe;
pub use gpu::gpu_report;
pub use storage::StorageProbe;

pub use crate::model::ProbeStatus;
use crate::model::{AppOutput, ExitStatus};
use std::path::Path;

/// Which probe to run, with its parameters.
#[derive(Debug, Clone)]
pub enum Probe {
    Storage(StorageProbe),
    Io(crate::doors::store_run::IoPlan),
    /// Fail when fewer GPUs than `expect` are visible; with `load`, also load each one and judge
    /// what it achieved.
    Gpu {
        expect: u32,
        load: Option<gpu_load::LoadArgs>,
    },
    Env(EnvProbe),
}

/// Runs a probe within `deadline` (the global `--timeout`) and renders its line, also written to
/// `output_file` when given.
pub fn run(probe: &Probe, output_file: Option<&Path>, deadline: std::time::Duration) -> AppOutput {
    // One thread: the probe does one thing at a time, and hyper's connection task then hands body
    // chunks over without waking another thread (measured by scripts/bench-docker).
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return AppOutput {
                stderr: format!("kfcheck: failed to start the async runtime: {e}\n"),
                exit: Some(ExitStatus::Usage),
                ..Default::default()
            }
        }
    };
    let (status, value) = match probe {
        Probe::Storage(a) => rt.block_on(within(deadline, "storage", storage::run(a))),
        Probe::Io(a) => rt.block_on(within(deadline, "io", io::run(a))),
        Probe::Gpu { expect, load } => gpu::run(*expect, load.as_ref()),
        Probe::Env(a) => rt.block_on(within(deadline, "env", env::run(a))),
    };
    let line = value.to_string();
    let mut out = AppOutput {
        stdout: format!("{line}\n"),
        exit: Some(status.exit()),
        ..Default::default()
    };
    if let Some(path) = output_file {
        let written = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|_| std::fs::write(path, format!("{line}\n")));
        if let Err(e) = written {
            out.stderr = format!("kfcheck: probe: cannot write {}: {e}\n", path.display());
            out.exit = Some(ExitStatus::Usage);
        }
    }
    out
}

/// `probe` within `deadline`: past it, an errored line that says so (a hanging storage endpoint
/// must not hold a container or a pipeline step for ever).
async fn within(
    deadline: std::time::Duration,
    what: &str,
    probe: impl std::future::Future<Output = (ProbeStatus, serde_json::Value)>,
) -> (ProbeStatus, serde_json::Value) {
    match tokio::time::timeout(deadline, probe).await {
        Ok(r) => r,
        Err(_) => (
            ProbeStatus::Errored,
            serde_json::json!({"probe": what, "status": ProbeStatus::Errored, "error": {"class": "timeout", "message": format!("the probe did not finish within {}", humantime::format_duration(deadline))}}),
        ),
    }
}
