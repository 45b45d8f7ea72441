//! `kfcheck probe env`: who the container runs as, which secrets are mounted (file names only),
//! which Google credentials a client would pick up, and whether the endpoints it was given can be
//! reached (TCP connect, timed).

use super::ProbeStatus;
use crate::clients::gcs::{GcsClient, Options};
use crate::model::ms;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// What `kfcheck probe env` was asked to look at (the command layer fills it in from the command
/// line).
#[derive(Debug, Clone, Default)]
pub struct EnvProbe {
    /// Endpoints to test for reachability, URL or HOST:PORT.
    pub endpoint: Vec<String>,
    /// Folders whose file names to list as mounted secrets (empty: the usual ones).
    pub secrets_dir: Vec<PathBuf>,
    pub no_metadata: bool,
}

const DEFAULT_SECRET_DIRS: &[&str] = &[
    "/var/secrets",
    "/secret",
    "/etc/secrets",
    "/var/run/secrets",
];

/// File names under `dir` (relative, sorted), at most `limit`, never contents.
pub(crate) fn secret_names(dir: &Path, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![(dir.to_path_buf(), 0)];
    while let Some((d, depth)) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            let name = e.file_name().to_string_lossy().to_string();
            // Kubernetes' atomic-writer internals (..data, ..2024_...) would double every name.
            if name.starts_with("..") {
                continue;
            }
            if p.is_dir() && depth < 4 {
                stack.push((p, depth + 1));
            } else if p.is_file() {
                out.push(
                    p.strip_prefix(dir)
                        .map(|r| r.display().to_string())
                        .unwrap_or(name),
                );
            }
        }
    }
    out.sort();
    out.truncate(limit);
    out
}

/// `host:port` from a URL or a `host:port` string.
pub(crate) fn target_addr(t: &str) -> Result<String, String> {
    let (scheme, rest) = t.split_once("://").map_or(("", t), |(s, r)| (s, r));
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if authority.is_empty() {
        return Err(format!("{t}: no host"));
    }
    let has_port = if authority.starts_with('[') {
        authority.contains("]:")
    } else {
        authority.contains(':')
    };
    if has_port {
        return Ok(authority.to_string());
    }
    let port = match scheme {
        "https" | "" => 443,
        "http" => 80,
        other => return Err(format!("{t}: give a port for scheme {other}")),
    };
    Ok(format!("{authority}:{port}"))
}

async fn reach(target: &str) -> Value {
    let addr = match target_addr(target) {
        Ok(a) => a,
        Err(e) => return json!({"target": target, "reachable": false, "error": e}),
    };
    let t = Instant::now();
    match tokio::time::timeout(
        Duration::from_secs(3),
        tokio::net::TcpStream::connect(&addr),
    )
    .await
    {
        Ok(Ok(_)) => {
            json!({"target": target, "address": addr, "reachable": true, "ms": ms(t.elapsed())})
        }
        Ok(Err(e)) => {
            json!({"target": target, "address": addr, "reachable": false, "error": e.to_string()})
        }
        Err(_) => {
            json!({"target": target, "address": addr, "reachable": false, "error": "no answer within 3s"})
        }
    }
}

fn read_trim(p: &str) -> Option<String> {
    std::fs::read_to_string(p)
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn id_field(status: &str, key: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Whether this container can reach a GPU: NVIDIA device nodes (`/dev/nvidia0`, ...), devices
/// NVML lists, and `NVIDIA_VISIBLE_DEVICES` (which only names GPUs; a runtime must act on it).
/// Pure, for the CPU-mode check that a container that asked for no GPU got none.
pub(crate) fn gpu_exposure(
    dev_entries: &[String],
    nvml_devices: Option<usize>,
    nvidia_visible_devices: Option<&str>,
) -> Value {
    let mut files: Vec<String> = dev_entries
        .iter()
        .filter(|n| {
            n.strip_prefix("nvidia")
                .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|n| format!("/dev/{n}"))
        .collect();
    files.sort();
    json!({
        "visible": !files.is_empty() || nvml_devices.unwrap_or(0) > 0,
        "device_files": files,
        "nvml_devices": nvml_devices,
        "nvidia_visible_devices": nvidia_visible_devices,
    })
}

fn gpus_here() -> Value {
    let entries: Vec<String> = std::fs::read_dir("/dev")
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let report = super::gpu_report();
    let nvml = report.unavailable.is_none().then_some(report.devices.len());
    gpu_exposure(
        &entries,
        nvml,
        std::env::var("NVIDIA_VISIBLE_DEVICES").ok().as_deref(),
    )
}

pub(crate) async fn run(a: &EnvProbe) -> (ProbeStatus, Value) {
    let status_file = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let sa_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
    let identity = json!({
        "uid": id_field(&status_file, "Uid:"),
        "gid": id_field(&status_file, "Gid:"),
        "hostname": std::env::var("HOSTNAME").ok().or_else(|| read_trim("/etc/hostname")),
        "in_kubernetes": std::env::var_os("KUBERNETES_SERVICE_HOST").is_some(),
        "namespace": read_trim(&format!("{sa_dir}/namespace")),
        "service_account_token_mounted": Path::new(&format!("{sa_dir}/token")).is_file(),
    });
    let dirs: Vec<String> = if a.secrets_dir.is_empty() {
        DEFAULT_SECRET_DIRS.iter().map(|s| s.to_string()).collect()
    } else {
        a.secrets_dir
            .iter()
            .map(|p| p.display().to_string())
            .collect()
    };
    let secrets: Vec<Value> = dirs
        .iter()
        .filter(|d| Path::new(d).is_dir())
        .map(|d| json!({"dir": d, "files": secret_names(Path::new(d), 200)}))
        .collect();
    let mut opts = Options::from_env();
    opts.no_metadata = a.no_metadata;
    let credentials = match GcsClient::connect(&opts).await {
        Ok(c) => {
            json!({"kind": c.source().kind(), "source": c.source().describe(), "identity": c.identity()})
        }
        Err(e) => json!({"kind": "none", "error": {"class": e.class(), "message": e.to_string()}}),
    };
    let endpoints: Vec<Value> =
        futures::future::join_all(a.endpoint.iter().map(|t| reach(t))).await;
    let all_reachable = endpoints.iter().all(|e| e["reachable"] == true);
    let status = if all_reachable {
        ProbeStatus::Passed
    } else {
        ProbeStatus::Failed
    };
    (
        status,
        json!({"probe": "env", "status": status, "identity": identity, "secrets": secrets, "credentials": credentials, "endpoints": endpoints, "gpus": gpus_here()}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_exposure_counts_device_nodes_and_nvml_not_the_variable() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let v = gpu_exposure(
            &names(&["null", "nvidiactl", "nvidia-uvm", "nvidia1", "nvidia0"]),
            None,
            None,
        );
        assert_eq!(v["visible"], true);
        assert_eq!(v["device_files"], json!(["/dev/nvidia0", "/dev/nvidia1"]));
        let v = gpu_exposure(&names(&["null", "nvidiactl"]), Some(0), Some("all"));
        assert_eq!(v["visible"], false, "{v}");
        assert_eq!(v["nvidia_visible_devices"], "all");
        assert_eq!(gpu_exposure(&[], Some(2), None)["visible"], true);
    }

    #[test]
    fn targets_become_host_port() {
        assert_eq!(
            target_addr("https://storage.googleapis.com/x").unwrap(),
            "storage.googleapis.com:443"
        );
        assert_eq!(
            target_addr("http://127.0.0.1:4443").unwrap(),
            "127.0.0.1:4443"
        );
        assert_eq!(
            target_addr("metadata.google.internal:80").unwrap(),
            "metadata.google.internal:80"
        );
        assert_eq!(target_addr("http://u:p@h/").unwrap(), "h:80");
        assert!(target_addr("ftp://h").is_err());
    }

    #[test]
    fn secret_names_without_contents_or_kubernetes_internals() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("google/..data")).unwrap();
        std::fs::write(d.path().join("google/key.json"), "secret").unwrap();
        std::fs::write(d.path().join("google/..data/key.json"), "secret").unwrap();
        std::fs::write(d.path().join("token"), "secret").unwrap();
        assert_eq!(secret_names(d.path(), 10), vec!["google/key.json", "token"]);
    }
}
