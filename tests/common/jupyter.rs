//! A real Jupyter server for tests: `jupyter server` from .venv-notebook (scripts/python-env
//! notebook builds it) on 127.0.0.1, in a temporary root folder of its own, stopped when dropped.

use super::{repo, unavailable};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct JupyterServer {
    child: Child,
    pub port: u16,
    /// `http://127.0.0.1:PORT<base_url>`.
    pub url: String,
    _root: tempfile::TempDir,
}

impl Drop for JupyterServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts a server under `base_url` (ends with `/`) with `token` (empty: none, as Kubeflow's
/// images run it) and `env` for its kernels; waits until it accepts connections. `None` (a
/// skip, or a failure under CI) when the venv is missing.
pub fn start(base_url: &str, token: &str, env: &[(&str, &str)]) -> Option<JupyterServer> {
    let bin = repo().join(".venv-notebook/bin/jupyter");
    if !bin.is_file() {
        return unavailable(
            "no .venv-notebook (scripts/python-env notebook builds it)",
            "no .venv-notebook for the Jupyter tests",
        );
    }
    let root = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .args([
            "server",
            "--allow-root",
            "--no-browser",
            "--ip",
            "127.0.0.1",
        ])
        .arg(format!("--port={port}"))
        .arg(format!("--ServerApp.base_url={base_url}"))
        .arg(format!("--ServerApp.root_dir={}", root.path().display()))
        .arg(format!("--IdentityProvider.token={token}"))
        .arg("--ServerApp.password=")
        .env("JUPYTER_RUNTIME_DIR", root.path().join(".runtime"))
        .env("JUPYTER_DATA_DIR", root.path().join(".data"))
        .env("HOME", root.path())
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = JupyterServer {
        child,
        port,
        url: format!("http://127.0.0.1:{port}{base_url}"),
        _root: root,
    };
    let until = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < until, "the jupyter server did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(server)
}

/// What Kubeflow's notebook controller makes of a Notebook `nb` in `ns`: the Notebook, the pod
/// (kwok marks it Ready and forwards its 8888) with `NB_PREFIX`, and the Service (80 to 8888).
pub fn notebook_objects(ns: &str, nb: &str) -> String {
    format!(
        r#"
apiVersion: kubeflow.org/v1
kind: Notebook
metadata: {{name: {nb}, namespace: {ns}, labels: {{access-ml-pipeline: "true"}}}}
spec:
  template:
    spec:
      containers:
      - name: {nb}
        image: ghcr.io/kubeflow/kubeflow/jupyter-scipy:v1.10.0
---
apiVersion: v1
kind: Pod
metadata: {{name: {nb}-0, namespace: {ns}, labels: {{statefulset: {nb}, notebook-name: {nb}, access-ml-pipeline: "true"}}}}
spec:
  containers:
  - name: {nb}
    image: ghcr.io/kubeflow/kubeflow/jupyter-scipy:v1.10.0
    env: [{{name: NB_PREFIX, value: /notebook/{ns}/{nb}}}]
    ports: [{{name: notebook-port, containerPort: 8888}}]
    resources: {{requests: {{cpu: 10m, memory: 32Mi}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: {nb}, namespace: {ns}}}
spec:
  selector: {{statefulset: {nb}}}
  ports: [{{name: http-{nb}, port: 80, targetPort: 8888}}]
"#
    )
}
