//! Which notebook server the notebook door uses: a Kubeflow `Notebook` (kubeflow.org v1, or
//! v1beta1 where v1 is not served) in the profile namespace that is not stopped and whose pod
//! is Running and Ready, named by the check or the first such one by name. What the door needs
//! of it: the Service Kubeflow's controller makes for it (`<name>`, port 80 to the container's
//! 8888), the pod, and the base URL the server is started with (`NB_PREFIX`, kept through a
//! port-forward). When none can be used, every notebook is named with the reason; a cluster that
//! serves Notebooks 2.0 (`Workspace`) is said to.

use crate::clients::portforward::{is_ready, ServiceRef};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ApiResource, DynamicObject, ListParams};
use serde_json::Value;

/// The annotation that stops a notebook (its StatefulSet goes to 0 replicas).
pub const STOPPED_ANNOTATION: &str = "kubeflow-resource-stopped";
/// The Service port Kubeflow's notebook controller gives every notebook.
pub const SERVICE_PORT: u16 = 80;

/// A notebook server the door can reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotebookTarget {
    pub namespace: String,
    pub name: String,
    pub pod: String,
    /// The notebook's Service and port (Kubeflow: `<name>:80` to container port 8888).
    pub service: ServiceRef,
    /// The server's base URL path, with a trailing slash (`/notebook/<ns>/<name>/`).
    pub base_path: String,
    pub image: String,
}

impl NotebookTarget {
    pub fn shown(&self) -> String {
        format!(
            "notebook {}/{} (pod {})",
            self.namespace, self.name, self.pod
        )
    }
}

/// The Notebook resource in one version.
pub fn notebook_resource(version: &str) -> ApiResource {
    ApiResource {
        group: "kubeflow.org".into(),
        version: version.into(),
        api_version: format!("kubeflow.org/{version}"),
        kind: "Notebook".into(),
        plural: "notebooks".into(),
    }
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

/// The first container of the notebook's pod template, where the controller puts `NB_PREFIX`.
fn first_container(nb: &DynamicObject) -> Option<&Value> {
    nb.data
        .get("spec")?
        .get("template")?
        .get("spec")?
        .get("containers")?
        .get(0)
}

/// The pod of a notebook: labelled `notebook-name=<name>` (or `statefulset=<name>`).
fn pod_of<'a>(name: &str, pods: &'a [Pod]) -> Option<&'a Pod> {
    let labelled = |p: &&Pod| {
        p.metadata.labels.as_ref().is_some_and(|l| {
            l.get("notebook-name").map(String::as_str) == Some(name)
                || l.get("statefulset").map(String::as_str) == Some(name)
        })
    };
    let mut mine: Vec<&Pod> = pods.iter().filter(labelled).collect();
    mine.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    mine.iter().find(|p| is_ready(p)).or(mine.first()).copied()
}

fn phase_of(p: &Pod) -> String {
    if p.metadata.deletion_timestamp.is_some() {
        return "Terminating".into();
    }
    let s = p.status.as_ref();
    let phase = s
        .and_then(|s| s.phase.clone())
        .unwrap_or_else(|| "no status".into());
    let waiting = s
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.waiting.as_ref()?.reason.clone())
        .next();
    match waiting {
        Some(w) => format!("{phase}, {w}"),
        None if phase == "Running" => "Running, not Ready".into(),
        None => phase,
    }
}

/// One notebook as the door sees it: usable, or why not.
pub fn judge(nb: &DynamicObject, pods: &[Pod]) -> Result<NotebookTarget, String> {
    let name = nb.metadata.name.clone().unwrap_or_default();
    let namespace = nb.metadata.namespace.clone().unwrap_or_default();
    if nb.metadata.deletion_timestamp.is_some() {
        return Err("being deleted".into());
    }
    if nb
        .metadata
        .annotations
        .as_ref()
        .is_some_and(|a| a.contains_key(STOPPED_ANNOTATION))
    {
        return Err(format!("stopped (annotation {STOPPED_ANNOTATION})"));
    }
    let Some(pod) = pod_of(&name, pods) else {
        return Err("no pod (labelled notebook-name or statefulset with its name)".into());
    };
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    if !is_ready(pod) {
        return Err(format!("pod {pod_name} is {}", phase_of(pod)));
    }
    let container = first_container(nb);
    let prefix = container
        .and_then(|c| c.get("env"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .find(|e| str_at(e, &["name"]) == Some("NB_PREFIX"))
        .and_then(|e| str_at(e, &["value"]))
        .map(String::from)
        // The controller sets it on the pod, not always on the Notebook: its default.
        .or_else(|| {
            pod.spec.as_ref().and_then(|s| {
                s.containers
                    .first()?
                    .env
                    .as_ref()?
                    .iter()
                    .find_map(|e| (e.name == "NB_PREFIX").then(|| e.value.clone()).flatten())
            })
        })
        .unwrap_or_else(|| format!("/notebook/{namespace}/{name}"));
    let base_path = format!("/{}/", prefix.trim_matches('/'));
    let image = container
        .and_then(|c| str_at(c, &["image"]))
        .unwrap_or("?")
        .to_string();
    Ok(NotebookTarget {
        service: ServiceRef {
            namespace: namespace.clone(),
            name: name.clone(),
            port: SERVICE_PORT,
        },
        namespace,
        name,
        pod: pod_name,
        base_path,
        image,
    })
}

/// The notebook to use: `wanted` by name, else the first usable one by name. The error names
/// every notebook with its reason.
pub fn choose(
    namespace: &str,
    notebooks: &[DynamicObject],
    pods: &[Pod],
    wanted: Option<&str>,
) -> Result<NotebookTarget, String> {
    let mut sorted: Vec<&DynamicObject> = notebooks.iter().collect();
    sorted.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    if let Some(w) = wanted {
        let Some(nb) = sorted
            .iter()
            .find(|n| n.metadata.name.as_deref() == Some(w))
        else {
            let have: Vec<&str> = sorted
                .iter()
                .filter_map(|n| n.metadata.name.as_deref())
                .collect();
            return Err(format!(
                "no Notebook {w} in namespace {namespace} ({})",
                if have.is_empty() {
                    "it has none".to_string()
                } else {
                    format!("it has {}", have.join(", "))
                }
            ));
        };
        return judge(nb, pods)
            .map_err(|why| format!("Notebook {namespace}/{w} cannot be used: {why}"));
    }
    let mut reasons = Vec::new();
    for nb in &sorted {
        match judge(nb, pods) {
            Ok(t) => return Ok(t),
            Err(why) => reasons.push(format!(
                "{}: {why}",
                nb.metadata.name.as_deref().unwrap_or("?")
            )),
        }
    }
    Err(if reasons.is_empty() {
        format!("no Notebook in namespace {namespace}")
    } else {
        format!(
            "no usable Notebook in namespace {namespace} ({})",
            reasons.join("; ")
        )
    })
}

/// The Notebooks of a namespace: v1, or v1beta1 where v1 is not served. `Ok(None)`: the
/// cluster serves no Notebook API at all.
pub async fn list_notebooks(
    client: &kube::Client,
    namespace: &str,
) -> Result<Option<Vec<DynamicObject>>, kube::Error> {
    for version in ["v1", "v1beta1"] {
        let api: kube::Api<DynamicObject> =
            kube::Api::namespaced_with(client.clone(), namespace, &notebook_resource(version));
        match api.list(&ListParams::default()).await {
            Ok(l) => return Ok(Some(l.items)),
            Err(kube::Error::Api(s)) if s.code == 404 => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(None)
}

/// Whether the cluster serves Notebooks 2.0 (`workspaces` in kubeflow.org), and in which
/// version.
pub async fn workspaces_served(client: &kube::Client) -> Option<String> {
    for version in ["v1beta1", "v1alpha1"] {
        if let Ok(list) = client
            .list_api_group_resources(&format!("kubeflow.org/{version}"))
            .await
        {
            if list.resources.iter().any(|r| r.name == "workspaces") {
                return Some(format!("kubeflow.org/{version}"));
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn nb(name: &str, annotations: Value, env: Value) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "kubeflow.org/v1", "kind": "Notebook",
            "metadata": {"name": name, "namespace": "team-a", "annotations": annotations},
            "spec": {"template": {"spec": {"containers": [{"name": name, "image": "jupyter-scipy:v1.10", "env": env}]}}}
        }))
        .unwrap()
    }

    fn pod(nb: &str, phase: &str, ready: &str) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": format!("{nb}-0"), "namespace": "team-a", "labels": {"statefulset": nb, "notebook-name": nb}},
            "spec": {"containers": [{"name": nb, "env": [{"name": "NB_PREFIX", "value": format!("/notebook/team-a/{nb}")}]}]},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": ready}],
                       "containerStatuses": [{"name": nb, "image": "x", "imageID": "", "ready": false, "restartCount": 0,
                         "state": if phase == "Pending" { json!({"waiting": {"reason": "ImagePullBackOff"}}) } else { json!({"running": {}}) }}]}
        }))
        .unwrap()
    }

    #[test]
    fn the_first_ready_notebook_by_name_is_chosen_with_its_service_and_base_url() {
        let nbs = vec![
            nb("b-ready", json!({}), json!([])),
            nb(
                "a-stopped",
                json!({STOPPED_ANNOTATION: "2026-01-01T00:00:00Z"}),
                json!([]),
            ),
            nb("c-ready", json!({}), json!([])),
        ];
        let pods = vec![
            pod("b-ready", "Running", "True"),
            pod("c-ready", "Running", "True"),
        ];
        let t = choose("team-a", &nbs, &pods, None).unwrap();
        assert_eq!(t.name, "b-ready");
        assert_eq!(t.pod, "b-ready-0");
        assert_eq!(t.base_path, "/notebook/team-a/b-ready/");
        assert_eq!(t.service.to_string(), "team-a/b-ready:80");
        assert_eq!(t.image, "jupyter-scipy:v1.10");
        let named = choose("team-a", &nbs, &pods, Some("c-ready")).unwrap();
        assert_eq!(named.name, "c-ready");
    }

    #[test]
    fn nothing_usable_names_every_notebook_with_its_reason() {
        let nbs = vec![
            nb("pulling", json!({}), json!([])),
            nb("stopped", json!({STOPPED_ANNOTATION: "x"}), json!([])),
            nb("starting", json!({}), json!([])),
            nb("podless", json!({}), json!([])),
        ];
        let pods = vec![
            pod("pulling", "Pending", "False"),
            pod("starting", "Running", "False"),
        ];
        let e = choose("team-a", &nbs, &pods, None).unwrap_err();
        assert!(
            e.contains("pulling: pod pulling-0 is Pending, ImagePullBackOff"),
            "{e}"
        );
        assert!(
            e.contains("stopped: stopped (annotation kubeflow-resource-stopped)"),
            "{e}"
        );
        assert!(
            e.contains("starting: pod starting-0 is Running, not Ready"),
            "{e}"
        );
        assert!(e.contains("podless: no pod"), "{e}");
        assert_eq!(
            choose("team-a", &[], &[], None).unwrap_err(),
            "no Notebook in namespace team-a"
        );
        let w = choose("team-a", &nbs, &pods, Some("mine")).unwrap_err();
        assert!(
            w.contains(
                "no Notebook mine in namespace team-a (it has podless, pulling, starting, stopped)"
            ),
            "{w}"
        );
        let s = choose("team-a", &nbs, &pods, Some("stopped")).unwrap_err();
        assert!(
            s.starts_with("Notebook team-a/stopped cannot be used: stopped"),
            "{s}"
        );
    }

    #[test]
    fn a_custom_prefix_on_the_notebook_wins_over_the_default() {
        let n = nb(
            "x",
            json!({}),
            json!([{"name": "NB_PREFIX", "value": "/custom/x"}]),
        );
        let mut p = pod("x", "Running", "True");
        p.spec.as_mut().unwrap().containers[0].env = None;
        assert_eq!(judge(&n, &[p.clone()]).unwrap().base_path, "/custom/x/");
        let bare = nb("x", json!({}), json!([]));
        assert_eq!(judge(&bare, &[p]).unwrap().base_path, "/notebook/team-a/x/");
    }
}
