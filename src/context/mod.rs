//! The needs: the outside things checks depend on (a Kubernetes API, a Docker engine, ...),
//! built once, lazily, only when a selected check needs them. A missing need is reported once
//! and every check that depends on it is skipped with that reason.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::Mutex;

/// Something outside kfcheck that a kind depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Need {
    /// A Kubernetes API server reachable with the resolved kubeconfig.
    Kube,
    /// A Docker engine.
    Docker,
}

impl Need {
    pub fn name(self) -> &'static str {
        match self {
            Need::Kube => "kube",
            Need::Docker => "docker",
        }
    }
}

/// Connection settings from global flags and the environment.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
    pub docker_host: Option<String>,
}

/// Resolved needs, shared by all checks of a run.
pub struct Needs {
    pub settings: Settings,
    resolved: Mutex<BTreeMap<Need, Result<String, String>>>,
}

impl Needs {
    pub fn new(settings: Settings) -> Self {
        Needs { settings, resolved: Mutex::new(BTreeMap::new()) }
    }

    /// `Ok(how it was found)` or `Err(why it is missing)`, computed once per need.
    pub async fn resolve(&self, need: Need) -> Result<String, String> {
        let mut map = self.resolved.lock().await;
        if let Some(r) = map.get(&need) {
            return r.clone();
        }
        let r = match need {
            Need::Kube => kubeconfig_source(&self.settings),
            Need::Docker => docker_endpoint(&self.settings).await,
        };
        map.insert(need, r.clone());
        r
    }
}

/// Where the Kubernetes client configuration comes from, without reading any secret in it.
pub fn kubeconfig_source(s: &Settings) -> Result<String, String> {
    if let Some(p) = &s.kubeconfig {
        return if p.is_file() {
            Ok(format!("kubeconfig {}", p.display()))
        } else {
            Err(format!("kubeconfig {} does not exist (from --kubeconfig)", p.display()))
        };
    }
    if let Some(v) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let paths: Vec<PathBuf> = std::env::split_paths(&v).collect();
        return match paths.iter().find(|p| p.is_file()) {
            Some(p) => Ok(format!("kubeconfig {} (from KUBECONFIG)", p.display())),
            None => Err(format!("no file named in KUBECONFIG exists ({})", v.to_string_lossy())),
        };
    }
    if let Some(home) = std::env::var_os("HOME") {
        let p = PathBuf::from(home).join(".kube/config");
        if p.is_file() {
            return Ok(format!("kubeconfig {}", p.display()));
        }
    }
    if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
        && std::path::Path::new("/var/run/secrets/kubernetes.io/serviceaccount/token").is_file()
    {
        return Ok("in-cluster service account".into());
    }
    Err("no kubeconfig found (set --kubeconfig or KUBECONFIG, or run in a pod)".into())
}

/// The Docker endpoint, checked by connecting to it.
async fn docker_endpoint(s: &Settings) -> Result<String, String> {
    let host = s
        .docker_host
        .clone()
        .or_else(|| std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "unix:///var/run/docker.sock".into());
    let connect = async {
        if let Some(path) = host.strip_prefix("unix://") {
            tokio::net::UnixStream::connect(path).await.map(|_| ())
        } else if let Some(addr) = host.strip_prefix("tcp://") {
            tokio::net::TcpStream::connect(addr).await.map(|_| ())
        } else {
            Err(std::io::Error::other("unsupported scheme (use unix:// or tcp://)"))
        }
    };
    match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(())) => Ok(format!("Docker engine at {host}")),
        Ok(Err(e)) => Err(format!("no Docker engine at {host}: {e}")),
        Err(_) => Err(format!("no Docker engine at {host}: connection timed out")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_missing_kubeconfig_is_named() {
        let s = Settings { kubeconfig: Some("/nonexistent/kubeconfig".into()), ..Settings::default() };
        let e = kubeconfig_source(&s).unwrap_err();
        assert!(e.contains("/nonexistent/kubeconfig does not exist"), "{e}");
    }

    #[tokio::test]
    async fn missing_docker_socket_is_reported_once() {
        let needs = Needs::new(Settings { docker_host: Some("unix:///nonexistent/docker.sock".into()), ..Settings::default() });
        let e = needs.resolve(Need::Docker).await.unwrap_err();
        assert!(e.contains("no Docker engine at unix:///nonexistent/docker.sock"), "{e}");
        assert_eq!(needs.resolve(Need::Docker).await.unwrap_err(), e);
    }
}
