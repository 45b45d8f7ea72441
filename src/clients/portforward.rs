//! A local TCP port that reaches a Service's pod through the Kubernetes API
//! (`pods/portforward`), like `kubectl port-forward svc/NAME`: kfcheck talks to `ml-pipeline`
//! with no kubectl, ingress or gateway in between.
//!
//! The Service's selector picks a Ready pod and its `targetPort` (a number or a container port's
//! name) the pod port. Every accepted connection opens its own forward stream (the KFP client
//! keeps its connections alive, so that is a handful per run). When opening fails, the pod is
//! picked again once, so a pod replaced during a long run costs one retry, not the run.

use super::errors::describe_kube as describe;
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::{TcpListener, TcpStream};

/// `NAMESPACE/NAME:PORT` of a Service (the Service's port, not the pod's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRef {
    pub namespace: String,
    pub name: String,
    pub port: u16,
}

impl std::fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}:{}", self.namespace, self.name, self.port)
    }
}

impl std::str::FromStr for ServiceRef {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let bad = || format!("{s}: expected NAMESPACE/NAME:PORT, e.g. kubeflow/ml-pipeline:8888");
        let (ns, rest) = s.split_once('/').ok_or_else(bad)?;
        let (name, port) = rest.rsplit_once(':').ok_or_else(bad)?;
        let port: u16 = port.parse().ok().filter(|p| *p > 0).ok_or_else(bad)?;
        if ns.is_empty() || name.is_empty() || name.contains('/') {
            return Err(bad());
        }
        Ok(ServiceRef {
            namespace: ns.into(),
            name: name.into(),
            port,
        })
    }
}

/// Why no forward could be set up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ForwardError {
    /// The Service does not exist: for KFP, "not installed" rather than "broken".
    NoService(String),
    /// Anything else: no Ready pod, no such port, no permission, the API refused the stream.
    Failed(String),
}

impl std::fmt::Display for ForwardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForwardError::NoService(m) | ForwardError::Failed(m) => f.write_str(m),
        }
    }
}

/// A running forward; the local listener closes when the last handle is dropped.
#[derive(Debug)]
pub struct PortForward {
    pub local: SocketAddr,
    pub service: ServiceRef,
    /// The pod port connections go to.
    pub pod_port: u16,
    state: Arc<Shared>,
    accept: tokio::task::JoinHandle<()>,
}

#[derive(Debug)]
struct Shared {
    pods: Api<Pod>,
    selector: String,
    pod: Mutex<String>,
    last_error: Mutex<Option<String>>,
}

impl Drop for PortForward {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

impl PortForward {
    /// The pod connections currently go to.
    pub fn pod(&self) -> String {
        format!(
            "{}/{}",
            self.service.namespace,
            self.state.pod.lock().unwrap()
        )
    }

    /// The last failure of a forwarded connection (shown when a request through it fails).
    pub fn last_error(&self) -> Option<String> {
        self.state.last_error.lock().unwrap().clone()
    }

    /// Finds the Service, a Ready pod behind it and the pod port, proves that the API server
    /// opens a forward stream to it, and starts listening on `127.0.0.1:<free port>`; within
    /// `SETUP_TIMEOUT` (the shared client has no read timeout, for the sake of the streams).
    pub async fn start(
        client: kube::Client,
        service: ServiceRef,
    ) -> Result<PortForward, ForwardError> {
        let shown = service.to_string();
        tokio::time::timeout(SETUP_TIMEOUT, Self::start_unbounded(client, service)).await.unwrap_or_else(|_| {
            Err(ForwardError::Failed(format!("no port-forward to service {shown} within {}s: the Kubernetes API did not answer", SETUP_TIMEOUT.as_secs())))
        })
    }

    async fn start_unbounded(
        client: kube::Client,
        service: ServiceRef,
    ) -> Result<PortForward, ForwardError> {
        let ns = service.namespace.as_str();
        let svc = match Api::<Service>::namespaced(client.clone(), ns)
            .get_opt(&service.name)
            .await
        {
            Ok(Some(s)) => s,
            Ok(None) => {
                return Err(ForwardError::NoService(format!(
                    "service {}/{} not found",
                    ns, service.name
                )))
            }
            Err(kube::Error::Api(s)) if s.code == 403 => {
                return Err(ForwardError::Failed(format!(
                    "kfcheck lacks permission to get services in namespace {ns}"
                )))
            }
            Err(e) => {
                return Err(ForwardError::Failed(format!(
                    "cannot read service {}/{}: {}",
                    ns,
                    service.name,
                    describe(&e)
                )))
            }
        };
        let spec = svc.spec.unwrap_or_default();
        let Some(sp) = spec
            .ports
            .iter()
            .flatten()
            .find(|p| p.port == i32::from(service.port))
        else {
            let have: Vec<String> = spec
                .ports
                .iter()
                .flatten()
                .map(|p| p.port.to_string())
                .collect();
            return Err(ForwardError::Failed(format!(
                "service {}/{} has no port {} (it has {})",
                ns,
                service.name,
                service.port,
                if have.is_empty() {
                    "none".into()
                } else {
                    have.join(", ")
                }
            )));
        };
        let selector = spec.selector.unwrap_or_default();
        if selector.is_empty() {
            return Err(ForwardError::Failed(format!(
                "service {}/{} has no selector, so no pod to forward to",
                ns, service.name
            )));
        }
        let selector = selector
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let pods: Api<Pod> = Api::namespaced(client, ns);
        let pod = ready_pod(&pods, &selector, &service).await?;
        let pod_port = match &sp.target_port {
            None => service.port,
            Some(IntOrString::Int(p)) => u16::try_from(*p).map_err(|_| ForwardError::Failed(format!("service {service} has target port {p}")))?,
            Some(IntOrString::String(name)) => named_port(&pod, name).ok_or_else(|| {
                ForwardError::Failed(format!(
                    "pod {}/{} has no container port named {name} (the target port of service {service})",
                    ns,
                    pod.metadata.name.as_deref().unwrap_or("?")
                ))
            })?,
        };
        let pod_name = pod.metadata.name.clone().unwrap_or_default();
        // One stream now, so that a missing permission or an API server that cannot reach the
        // node reads as a cause here instead of a reset connection in every check.
        match pods.portforward(&pod_name, &[pod_port]).await {
            Ok(pf) => pf.abort(),
            Err(e) => return Err(ForwardError::Failed(open_error(&e, ns, &pod_name))),
        }
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| ForwardError::Failed(format!("cannot listen on 127.0.0.1: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| ForwardError::Failed(e.to_string()))?;
        let state = Arc::new(Shared {
            pods,
            selector,
            pod: Mutex::new(pod_name),
            last_error: Mutex::new(None),
        });
        let accept = tokio::spawn(accept_loop(
            listener,
            Arc::clone(&state),
            service.clone(),
            pod_port,
        ));
        Ok(PortForward {
            local,
            service,
            pod_port,
            state,
            accept,
        })
    }
}

fn open_error(e: &kube::Error, ns: &str, pod: &str) -> String {
    match e {
        kube::Error::Api(s) if s.code == 403 => {
            format!("kfcheck lacks permission to create pods/portforward in namespace {ns}")
        }
        other => format!(
            "the API server did not open a port-forward to pod {ns}/{pod}: {}",
            describe(other)
        ),
    }
}

/// Running, Ready and not being deleted: a pod worth forwarding to.
pub(crate) fn is_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status.as_ref().is_some_and(|s| {
            s.phase.as_deref() == Some("Running")
                && s.conditions
                    .iter()
                    .flatten()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
        })
}

/// A Ready pod behind the Service, the same one every time for the same pods (sorted by name).
async fn ready_pod(
    pods: &Api<Pod>,
    selector: &str,
    service: &ServiceRef,
) -> Result<Pod, ForwardError> {
    let list = pods
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) if s.code == 403 => ForwardError::Failed(format!(
                "kfcheck lacks permission to list pods in namespace {}",
                service.namespace
            )),
            e => ForwardError::Failed(format!(
                "cannot list the pods of service {service}: {}",
                describe(&e)
            )),
        })?;
    let mut items = list.items;
    items.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let summary: Vec<String> = items
        .iter()
        .map(|p| {
            let phase = p
                .status
                .as_ref()
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "no status".into());
            format!(
                "{} {}",
                p.metadata.name.as_deref().unwrap_or("?"),
                if p.metadata.deletion_timestamp.is_some() {
                    "Terminating".into()
                } else {
                    phase
                }
            )
        })
        .collect();
    items.into_iter().find(is_ready).ok_or_else(|| {
        ForwardError::Failed(if summary.is_empty() {
            format!("service {service} selects no pod ({selector})")
        } else {
            format!(
                "no Ready pod behind service {service} ({})",
                summary.join(", ")
            )
        })
    })
}

fn named_port(pod: &Pod, name: &str) -> Option<u16> {
    let spec = pod.spec.as_ref()?;
    spec.containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .find(|p| p.name.as_deref() == Some(name))
        .and_then(|p| u16::try_from(p.container_port).ok())
}

async fn accept_loop(
    listener: TcpListener,
    state: Arc<Shared>,
    service: ServiceRef,
    pod_port: u16,
) {
    loop {
        let sock = match listener.accept().await {
            Ok((sock, _)) => sock,
            Err(e) => {
                // Out of file descriptors, say: note it and do not spin.
                *state.last_error.lock().unwrap() =
                    Some(format!("accepting a local connection failed: {e}"));
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let state = Arc::clone(&state);
        let service = service.clone();
        tokio::spawn(async move {
            if let Err(e) = pipe(sock, &state, &service, pod_port).await {
                *state.last_error.lock().unwrap() = Some(e);
            }
        });
    }
}

/// How long setting up the forward, or opening one stream, may take.
const SETUP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// One local connection, spliced onto one forward stream (opened within `SETUP_TIMEOUT`).
async fn pipe(
    sock: TcpStream,
    state: &Shared,
    service: &ServiceRef,
    pod_port: u16,
) -> Result<(), String> {
    let pod = state.pod.lock().unwrap().clone();
    match tokio::time::timeout(SETUP_TIMEOUT, open_stream(state, service, pod_port, &pod)).await {
        Ok(Ok((pf, pod))) => splice(sock, pf, service, pod_port, &pod).await,
        Ok(Err(e)) => Err(e),
        Err(_) => Err(format!(
            "no forward stream to a pod of service {service} within {}s",
            SETUP_TIMEOUT.as_secs()
        )),
    }
}

async fn open_stream(
    state: &Shared,
    service: &ServiceRef,
    pod_port: u16,
    pod: &str,
) -> Result<(kube::api::Portforwarder, String), String> {
    let ns = &service.namespace;
    match state.pods.portforward(pod, &[pod_port]).await {
        Ok(pf) => Ok((pf, pod.to_string())),
        Err(first) => {
            // The pod may have been replaced: pick again, once.
            let again = ready_pod(&state.pods, &state.selector, service)
                .await
                .map_err(|e| format!("{}; {e}", open_error(&first, ns, pod)))?;
            let name = again.metadata.name.unwrap_or_default();
            let pf = state
                .pods
                .portforward(&name, &[pod_port])
                .await
                .map_err(|e| open_error(&e, ns, &name))?;
            *state.pod.lock().unwrap() = name.clone();
            Ok((pf, name))
        }
    }
}

async fn splice(
    mut sock: TcpStream,
    mut pf: kube::api::Portforwarder,
    service: &ServiceRef,
    pod_port: u16,
    pod: &str,
) -> Result<(), String> {
    let ns = &service.namespace;
    // Both are there exactly once for the one port just opened.
    let (Some(mut upstream), Some(errors)) = (pf.take_stream(pod_port), pf.take_error(pod_port))
    else {
        return Err("the forward stream was already taken".into());
    };
    let result = tokio::select! {
        r = tokio::io::copy_bidirectional(&mut sock, &mut upstream) => r.map(|_| ()).map_err(|e| format!("port-forward connection to {ns}/{pod}:{pod_port} broke: {e}")),
        Some(msg) = errors => Err(format!("port-forward to {ns}/{pod}:{pod_port}: {msg}")),
    };
    drop(upstream);
    pf.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_refs_parse_and_print() {
        let s: ServiceRef = "kubeflow/ml-pipeline:8888".parse().unwrap();
        assert_eq!(
            s,
            ServiceRef {
                namespace: "kubeflow".into(),
                name: "ml-pipeline".into(),
                port: 8888
            }
        );
        assert_eq!(s.to_string(), "kubeflow/ml-pipeline:8888");
        for bad in [
            "ml-pipeline:8888",
            "kubeflow/ml-pipeline",
            "kubeflow/ml-pipeline:0",
            "/x:1",
            "a/:1",
            "a/b/c:1",
            "a/b:http",
        ] {
            assert!(bad.parse::<ServiceRef>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_named_target_port_is_read_from_the_pod() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "spec": {"containers": [{"name": "c", "ports": [{"name": "grpc", "containerPort": 8887}, {"name": "http", "containerPort": 8888}]}]}
        }))
        .unwrap();
        assert_eq!(named_port(&pod, "http"), Some(8888));
        assert_eq!(named_port(&pod, "metrics"), None);
    }

    #[test]
    fn only_running_ready_pods_not_being_deleted_are_picked() {
        let pod = |phase: &str, ready: &str, deleting: bool| -> Pod {
            let mut v = serde_json::json!({
                "metadata": {"name": "p"},
                "status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}]}
            });
            if deleting {
                v["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z".into();
            }
            serde_json::from_value(v).unwrap()
        };
        assert!(is_ready(&pod("Running", "True", false)));
        assert!(!is_ready(&pod("Running", "False", false)));
        assert!(!is_ready(&pod("Pending", "True", false)));
        assert!(!is_ready(&pod("Running", "True", true)));
    }
}
