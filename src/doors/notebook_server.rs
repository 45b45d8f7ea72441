//! Where `kfcheck notebook run` runs a notebook: a Jupyter server given by URL (with its token),
//! a Kubeflow Notebook in a profile reached through kfcheck's own port-forward (the notebook
//! door's way: [`notebook_target`](super::notebook_target)), or a `jupyter server` kfcheck
//! starts itself on 127.0.0.1 with a random port and token in a temporary root folder and stops
//! after. Stopping what kfcheck started is registered with the janitor before it is started, so
//! it happens however the run ends (Ctrl-C included); nothing else is stopped.

use super::notebook_target::{choose, list_notebooks, NotebookTarget};
use crate::clients::http::Secret;
use crate::clients::jupyter::{JupyterAuth, JupyterClient, JupyterOptions};
use crate::clients::portforward::PortForward;
use crate::janitor::JanitorHandle;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a local server may take to answer.
const LOCAL_START: Duration = Duration::from_secs(90);

/// Where the notebook runs.
#[derive(Clone)]
pub enum ServerChoice {
    /// A running server: its base URL and token.
    Url { url: String, token: Option<Secret> },
    /// A Kubeflow Notebook in a profile (the first usable one when not named).
    Cluster {
        settings: Box<crate::context::Settings>,
        namespace: String,
        notebook: Option<String>,
        token: Option<Secret>,
    },
    /// The same with the Kubernetes client a check already has (the `notebook-run` kind).
    Kube {
        kube: kube::Client,
        namespace: String,
        notebook: Option<String>,
        token: Option<Secret>,
    },
    /// A `jupyter server` kfcheck starts (this executable, `jupyter` from PATH by default).
    Local { jupyter: PathBuf },
}

impl std::fmt::Debug for ServerChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerChoice::Url { url, .. } => {
                write!(f, "Url({})", crate::clients::redact::redact(url))
            }
            ServerChoice::Cluster {
                namespace,
                notebook,
                ..
            }
            | ServerChoice::Kube {
                namespace,
                notebook,
                ..
            } => {
                write!(f, "Cluster({namespace}, {notebook:?})")
            }
            ServerChoice::Local { jupyter } => write!(f, "Local({})", jupyter.display()),
        }
    }
}

/// A server kfcheck reached.
pub struct Reached {
    pub client: Arc<JupyterClient>,
    /// `local`, `server` or `cluster`.
    pub mode: &'static str,
    /// What it is, in words (no credential in it).
    pub shown: String,
    /// The port-forward in cluster mode, kept open while anything holds it.
    pub forward: Option<Arc<PortForward>>,
}

/// Reaches the server; `Err` says why it could not be (could not decide).
pub async fn reach(
    choice: &ServerChoice,
    janitor: &JanitorHandle,
    request_timeout: Duration,
) -> Result<Reached, String> {
    let opts = JupyterOptions {
        request_timeout,
        offer_v1: true,
    };
    match choice {
        ServerChoice::Url { url, token } => {
            let client = JupyterClient::new(
                url,
                JupyterAuth {
                    token: token.clone(),
                    ..JupyterAuth::default()
                },
                opts,
            )
            .map_err(|e| e.to_string())?;
            let shown = format!(
                "the Jupyter server at {} (--server)",
                crate::clients::redact::redact(client.base())
            );
            Ok(Reached {
                client: Arc::new(client),
                mode: "server",
                shown,
                forward: None,
            })
        }
        ServerChoice::Cluster {
            settings,
            namespace,
            notebook,
            token,
        } => {
            let kube = crate::context::Needs::new((**settings).clone())
                .kube()
                .await?;
            in_cluster(kube, namespace, notebook.as_deref(), token, opts).await
        }
        ServerChoice::Kube {
            kube,
            namespace,
            notebook,
            token,
        } => in_cluster(kube.clone(), namespace, notebook.as_deref(), token, opts).await,
        ServerChoice::Local { jupyter } => start_local(jupyter, janitor, opts).await,
    }
}

/// A Kubeflow Notebook of the profile, through kfcheck's own port-forward to its Service.
async fn in_cluster(
    kube: kube::Client,
    namespace: &str,
    notebook: Option<&str>,
    token: &Option<Secret>,
    opts: JupyterOptions,
) -> Result<Reached, String> {
    {
        {
            let target = cluster_target(&kube, namespace, notebook).await?;
            let forward = PortForward::start(kube, target.service.clone())
                .await
                .map_err(|e| format!("cannot port-forward to {}: {e}", target.shown()))?;
            let base = format!("http://{}{}", forward.local, target.base_path);
            let client = JupyterClient::new(
                &base,
                JupyterAuth {
                    token: token.clone(),
                    ..JupyterAuth::default()
                },
                opts,
            )
            .map_err(|e| e.to_string())?;
            Ok(Reached {
                client: Arc::new(client),
                mode: "cluster",
                shown: format!(
                    "{} through kfcheck's port-forward to service {}",
                    target.shown(),
                    target.service
                ),
                forward: Some(Arc::new(forward)),
            })
        }
    }
}

/// The Notebook to run in: named, or the first usable one in the profile.
async fn cluster_target(
    kube: &kube::Client,
    namespace: &str,
    wanted: Option<&str>,
) -> Result<NotebookTarget, String> {
    let listed = list_notebooks(kube, namespace)
        .await
        .map_err(|e| {
            format!(
                "cannot list the Notebooks of {namespace}: {}",
                crate::clients::errors::describe_kube(&e)
            )
        })?
        .ok_or("the cluster serves no Notebook API (notebooks.kubeflow.org)")?;
    let pods: kube::Api<k8s_openapi::api::core::v1::Pod> =
        kube::Api::namespaced(kube.clone(), namespace);
    let pods = pods.list(&Default::default()).await.map_err(|e| {
        format!(
            "cannot list the pods of {namespace}: {}",
            crate::clients::errors::describe_kube(&e)
        )
    })?;
    choose(namespace, &listed, &pods.items, wanted)
}

/// A token nobody can guess: 24 random bytes, hex.
fn random_token() -> Result<String, String> {
    use ring::rand::SecureRandom;
    let mut b = [0u8; 24];
    ring::rand::SystemRandom::new()
        .fill(&mut b)
        .map_err(|_| "no randomness for the local server's token".to_string())?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// A port free now on 127.0.0.1 (the server is told not to move off it).
fn free_port() -> Result<u16, String> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port on 127.0.0.1: {e}"))
}

/// Starts `jupyter server` on 127.0.0.1 in a new temporary root folder, its stop registered
/// first, and waits until it answers.
async fn start_local(
    jupyter: &std::path::Path,
    janitor: &JanitorHandle,
    opts: JupyterOptions,
) -> Result<Reached, String> {
    let root =
        std::env::temp_dir().join(format!("kfcheck-jupyter-{}", crate::model::run_id::new()));
    std::fs::create_dir_all(root.join(".runtime"))
        .map_err(|e| format!("cannot make {}: {e}", root.display()))?;
    let token = random_token()?;
    let child: Arc<Mutex<Option<tokio::process::Child>>> = Arc::new(Mutex::new(None));
    let client: Arc<Mutex<Option<Arc<JupyterClient>>>> = Arc::new(Mutex::new(None));
    let (c, k, r) = (child.clone(), client.clone(), root.clone());
    janitor.register("stop the local Jupyter server kfcheck started", move || {
        Box::pin(async move { stop_local(c, k, r).await })
    });
    let mut last = String::new();
    for _ in 0..3 {
        let port = free_port()?;
        let log = std::fs::File::create(root.join("server.log"))
            .map_err(|e| format!("cannot write {}: {e}", root.display()))?;
        let log2 = log.try_clone().map_err(|e| e.to_string())?;
        let spawned = tokio::process::Command::new(jupyter)
            .args(["server", "--no-browser", "--allow-root", "--ip=127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg("--ServerApp.port_retries=0")
            .arg(format!("--ServerApp.root_dir={}", root.display()))
            .arg("--ServerApp.password=")
            // The token by environment, never on a command line others can read.
            .env("JUPYTER_TOKEN", &token)
            .env("JUPYTER_RUNTIME_DIR", root.join(".runtime"))
            .stdin(std::process::Stdio::null())
            .stdout(log)
            .stderr(log2)
            // Its own process group: Ctrl-C reaches kfcheck, which stops it in order.
            .process_group(0)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot start `{} server`: {e} (install jupyter-server, or give --jupyter PATH or --server URL)",
                    jupyter.display()
                )
            })?;
        let pid = spawned.id().unwrap_or(0);
        *child.lock().unwrap_or_else(|p| p.into_inner()) = Some(spawned);
        let url = format!("http://127.0.0.1:{port}/");
        let c = Arc::new(
            JupyterClient::new(
                &url,
                JupyterAuth {
                    token: Some(Secret::new(token.clone())),
                    ..JupyterAuth::default()
                },
                opts.clone(),
            )
            .map_err(|e| e.to_string())?,
        );
        *client.lock().unwrap_or_else(|p| p.into_inner()) = Some(c.clone());
        let until = Instant::now() + LOCAL_START;
        loop {
            if c.status().await.is_ok() {
                let version = c.version().await.unwrap_or_else(|_| "?".into());
                return Ok(Reached {
                    client: c,
                    mode: "local",
                    shown: format!(
                        "a local Jupyter server {version} kfcheck started at {url} (pid {pid}, root {}), stopped after",
                        root.display()
                    ),
                    forward: None,
                });
            }
            let exited = child
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_mut()
                .and_then(|ch| ch.try_wait().ok().flatten());
            if let Some(status) = exited {
                last = format!(
                    "`{} server` exited ({status}): {}",
                    jupyter.display(),
                    crate::clients::redact::tail(
                        &std::fs::read_to_string(root.join("server.log")).unwrap_or_default(),
                        4,
                        600
                    )
                );
                break;
            }
            if Instant::now() > until {
                return Err(format!(
                    "the local Jupyter server did not answer within {}s",
                    LOCAL_START.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Most likely the port was taken in between: again on another one.
    }
    Err(last)
}

/// Stops the local server: asked to shut down (it stops its kernels), then its process group
/// terminated, then killed; its root folder removed.
async fn stop_local(
    child: Arc<Mutex<Option<tokio::process::Child>>>,
    client: Arc<Mutex<Option<Arc<JupyterClient>>>>,
    root: PathBuf,
) -> Result<String, String> {
    let Some(mut ch) = child.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        let _ = std::fs::remove_dir_all(&root);
        return Ok("no local Jupyter server was started".into());
    };
    let pid = ch.id();
    let c = client.lock().unwrap_or_else(|p| p.into_inner()).clone();
    if let Some(c) = c {
        let _ = tokio::time::timeout(Duration::from_secs(5), c.shutdown_server()).await;
    }
    let mut how = "shut down";
    if tokio::time::timeout(Duration::from_secs(10), ch.wait())
        .await
        .is_err()
    {
        how = "terminated";
        if let Some(pgid) = pid.and_then(|p| rustix::process::Pid::from_raw(p as i32)) {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::TERM);
        }
        if tokio::time::timeout(Duration::from_secs(5), ch.wait())
            .await
            .is_err()
        {
            how = "killed";
            let _ = ch.kill().await;
        }
    }
    let _ = std::fs::remove_dir_all(&root);
    Ok(format!(
        "{how} the local Jupyter server kfcheck started (pid {})",
        pid.map_or("?".into(), |p| p.to_string())
    ))
}
