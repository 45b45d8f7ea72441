//! The needs: the outside things checks depend on (a Kubernetes API, a Docker engine), built once,
//! lazily, only when a selected check needs them. A need that is simply not configured is
//! *missing* (its checks are skipped with the reason); one that is configured but broken
//! (unreadable kubeconfig, unreachable API server, explicit Docker host that does not answer) is
//! *broken* (its checks error: could not decide).

mod docker;
pub(crate) mod errors;
pub mod gcs;
pub mod kfp;
pub(crate) mod kube_cache;
pub(crate) mod kube_client;
pub(crate) mod resources;
pub use crate::model::owned;

use std::path::PathBuf;
use tokio::sync::OnceCell;

/// Something outside kfcheck that a kind depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Need {
    /// A Kubernetes API server reachable with the resolved kubeconfig.
    Kube,
    /// A Docker engine.
    Docker,
    /// A Kubeflow Pipelines API endpoint (--kfp-endpoint, a port-forward to --kfp-service, or
    /// in-cluster).
    Kfp,
}

impl Need {
    /// Every need, in the order help texts list them.
    pub const ALL: [Need; 3] = [Need::Kube, Need::Docker, Need::Kfp];

    pub fn name(self) -> &'static str {
        match self {
            Need::Kube => "kube",
            Need::Docker => "docker",
            Need::Kfp => "kfp",
        }
    }
}

/// Why a need is not available.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NeedError {
    /// Not configured at all: checks that need it are skipped.
    Missing(String),
    /// Configured but not working: checks that need it could not decide.
    Broken(String),
}

impl NeedError {
    pub fn reason(&self) -> &str {
        match self {
            NeedError::Missing(r) | NeedError::Broken(r) => r,
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
    pub kfp: kfp::KfpSettings,
    /// `--probe-image`: kfcheck's probe image as the cluster pulls it; the GPU samples' step runs
    /// the loaded GPU probe in it instead of nvidia-smi.
    pub probe_image: Option<String>,
    /// Needs the user requires (`--require`): missing ones count as broken.
    pub required: Vec<Need>,
    /// The environment, captured once at start-up (tests pass their own).
    pub env: Env,
}

/// The environment variables and files that decide where clients connect.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub kubeconfig: Option<std::ffi::OsString>,
    pub home: Option<PathBuf>,
    pub docker_host: Option<String>,
    /// KUBERNETES_SERVICE_HOST is set and a service-account token is mounted.
    pub in_cluster: bool,
}

impl Env {
    pub fn capture() -> Env {
        Env {
            kubeconfig: std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()),
            home: std::env::var_os("HOME").map(PathBuf::from),
            docker_host: std::env::var("DOCKER_HOST").ok().filter(|h| !h.is_empty()),
            in_cluster: std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
                && std::path::Path::new("/var/run/secrets/kubernetes.io/serviceaccount/token")
                    .is_file(),
        }
    }
}

/// Resolved needs, shared by all checks of a run.
pub struct Needs {
    pub settings: Settings,
    /// Cluster objects listed once per type and shared by all checks.
    pub kube_cache: kube_cache::KubeCache,
    kube: OnceCell<Result<(kube::Client, String), NeedError>>,
    /// Which cluster the kube need reached (set with it).
    identity: std::sync::OnceLock<crate::model::ClusterIdentity>,
    docker: OnceCell<Result<(bollard::Docker, String), NeedError>>,
    kfp: OnceCell<Result<(kfp::Kfp, String), NeedError>>,
}

impl Needs {
    pub fn new(settings: Settings) -> Self {
        Needs {
            settings,
            kube_cache: kube_cache::KubeCache::default(),
            kube: OnceCell::new(),
            identity: std::sync::OnceLock::new(),
            docker: OnceCell::new(),
            kfp: OnceCell::new(),
        }
    }

    /// `Ok(how it was found)` or why it is not available, computed once per need.
    pub async fn resolve(&self, need: Need) -> Result<String, NeedError> {
        let r = match need {
            Need::Kube => self
                .kube_entry()
                .await
                .as_ref()
                .map(|(_, d)| d.clone())
                .map_err(Clone::clone),
            Need::Docker => self
                .docker_entry()
                .await
                .as_ref()
                .map(|(_, d)| d.clone())
                .map_err(Clone::clone),
            Need::Kfp => self
                .kfp_entry()
                .await
                .as_ref()
                .map(|(_, d)| d.clone())
                .map_err(Clone::clone),
        };
        match r {
            Err(NeedError::Missing(m)) if self.settings.required.contains(&need) => Err(
                NeedError::Broken(format!("{m} (required by --require {})", need.name())),
            ),
            other => other,
        }
    }

    async fn kube_entry(&self) -> &Result<(kube::Client, String), NeedError> {
        self.kube
            .get_or_init(|| async {
                let (client, desc, identity) =
                    kube_client::connect_identified(&self.settings).await?;
                let _ = self.identity.set(identity);
                Ok((client, desc))
            })
            .await
    }

    async fn docker_entry(&self) -> &Result<(bollard::Docker, String), NeedError> {
        self.docker
            .get_or_init(|| docker::connect(&self.settings))
            .await
    }

    async fn kfp_entry(&self) -> &Result<(kfp::Kfp, String), NeedError> {
        self.kfp
            .get_or_init(|| async {
                // Minting a ServiceAccount token and kfcheck's own port-forward need the
                // Kubernetes API; nothing else does.
                let k = &self.settings.kfp;
                let kube =
                    if k.service_account.is_some() || k.forwards(self.settings.env.in_cluster) {
                        Some(
                            self.kube_entry()
                                .await
                                .as_ref()
                                .map(|(c, _)| c.clone())
                                .map_err(Clone::clone),
                        )
                    } else {
                        None
                    };
                kfp::connect(&self.settings, kube).await
            })
            .await
    }

    /// Which cluster this run reached, with the KFP server's version when KFP was reached too;
    /// `None` when no check reached the cluster.
    pub fn cluster_identity(&self) -> Option<crate::model::ClusterIdentity> {
        let mut id = self.identity.get()?.clone();
        if let Some(Ok((k, _))) = self.kfp.get() {
            id.kfp_version = k.client.health.tag_name.clone();
        }
        Some(id)
    }

    /// The Kubernetes client when a check already reached the cluster (nothing is connected).
    pub fn kube_if_reached(&self) -> Option<kube::Client> {
        match self.kube.get() {
            Some(Ok((c, _))) => Some(c.clone()),
            _ => None,
        }
    }

    /// The KFP API. Kinds call this only when they declared the need.
    pub async fn kfp(&self) -> Result<kfp::Kfp, String> {
        self.kfp_entry()
            .await
            .as_ref()
            .map(|(c, _)| c.clone())
            .map_err(|e| e.reason().to_string())
    }

    /// The Kubernetes client. Kinds call this only when they declared the need.
    pub async fn kube(&self) -> Result<kube::Client, String> {
        self.kube_entry()
            .await
            .as_ref()
            .map(|(c, _)| c.clone())
            .map_err(|e| e.reason().to_string())
    }

    /// The Docker client. Kinds call this only when they declared the need.
    pub async fn docker(&self) -> Result<bollard::Docker, String> {
        self.docker_entry()
            .await
            .as_ref()
            .map(|(c, _)| c.clone())
            .map_err(|e| e.reason().to_string())
    }
}
