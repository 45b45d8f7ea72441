//! `kfcheck snapshot`: what an upgrade will change or has changed (`model::snapshot`), read from
//! the cluster: the workloads of the Kubeflow namespaces with their images, the Kubeflow CRDs'
//! served versions, the KFP server's version (through the KFP need, as `kfcheck all` reaches it),
//! the bundled samples' SDK versions, and installed objects last written with a deprecated or
//! removed Kubernetes API. Every call is bounded; a type kfcheck may not list is said, not guessed.
//! `kfcheck diff` compares two snapshots.

use super::shared::settings;
use crate::cli::Global;
use crate::context::{Need, NeedError, Needs};
use crate::model::snapshot::{
    diff_snapshots, removed_api, Crd, DeprecatedUse, Snapshot, SnapshotDiff, Workload,
    SNAPSHOT_KIND,
};
use crate::model::{AppOutput, ExitStatus};
use crate::report::Format;
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, PodSpec};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use std::time::{Duration, SystemTime};

/// Where a Kubeflow install puts its workloads (those that exist are read).
pub(crate) const DEFAULT_NAMESPACES: &[&str] = &[
    "kubeflow",
    "kubeflow-system",
    "istio-system",
    "cert-manager",
    "auth",
    "oauth2-proxy",
    "knative-serving",
    "knative-eventing",
    "kserve",
];

/// CRD groups that belong to a Kubeflow install.
const CRD_GROUPS: &[&str] = &[
    "kubeflow.org",
    "argoproj.io",
    "istio.io",
    "knative.dev",
    "kserve.io",
    "cert-manager.io",
];

/// How long one list call may take.
const CALL: Duration = Duration::from_secs(30);

fn images(spec: Option<&PodSpec>) -> Vec<String> {
    spec.map(|s| {
        s.init_containers
            .iter()
            .flatten()
            .chain(s.containers.iter())
            .filter_map(|c| c.image.clone())
            .collect()
    })
    .unwrap_or_default()
}

/// Where `meta` says it was last written with an API that was removed.
fn deprecated_uses(kind: &str, meta: &ObjectMeta, out: &mut Vec<DeprecatedUse>) {
    let object = match &meta.namespace {
        Some(ns) => format!("{kind} {ns}/{}", meta.name.as_deref().unwrap_or("?")),
        None => format!("{kind} {}", meta.name.as_deref().unwrap_or("?")),
    };
    let mut seen: Vec<(String, String, String)> = Vec::new();
    if let Some(text) = meta
        .annotations
        .as_ref()
        .and_then(|a| a.get("kubectl.kubernetes.io/last-applied-configuration"))
    {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(text) {
            let k = v["kind"].as_str().unwrap_or(kind).to_string();
            if let Some(api) = v["apiVersion"].as_str() {
                seen.push((api.to_string(), k, "last-applied-configuration".into()));
            }
        }
    }
    for m in meta.managed_fields.iter().flatten() {
        if let Some(api) = &m.api_version {
            seen.push((
                api.clone(),
                kind.to_string(),
                format!("managedFields ({})", m.manager.as_deref().unwrap_or("?")),
            ));
        }
    }
    for (api, k, seen_in) in seen {
        if let Some((status, replacement)) = removed_api(&api, &k) {
            let u = DeprecatedUse {
                object: object.clone(),
                api_version: api,
                seen_in,
                status,
                replacement,
            };
            if !out.contains(&u) {
                out.push(u);
            }
        }
    }
}

async fn bounded<T>(
    what: String,
    f: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(CALL, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!(
            "{what}: {}",
            crate::context::kube_client::describe(&e)
        )),
        Err(_) => Err(format!("{what}: no answer within {}s", CALL.as_secs())),
    }
}

/// Reads the snapshot. `Err` when there is no cluster to read.
async fn take(needs: &Needs, namespaces: &[String]) -> Result<Snapshot, NeedError> {
    needs.resolve(Need::Kube).await?;
    let client = needs.kube().await.map_err(NeedError::Broken)?;
    let mut s = Snapshot {
        kind: SNAPSHOT_KIND.into(),
        schema_version: 1,
        taken_at: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
        kfcheck_version: env!("CARGO_PKG_VERSION").into(),
        ..Snapshot::default()
    };
    let ns_api: Api<Namespace> = Api::all(client.clone());
    for ns in namespaces {
        match bounded(format!("get namespace {ns}"), ns_api.get_opt(ns)).await {
            Ok(Some(_)) => s.namespaces.push(ns.clone()),
            Ok(None) => {}
            Err(e) => s.unreadable.push(e),
        }
    }
    for ns in s.namespaces.clone() {
        let lp = ListParams::default();
        workloads::<Deployment>(
            &client,
            &ns,
            "Deployment",
            "deployments",
            |d| d.spec.as_ref().and_then(|x| x.template.spec.as_ref()),
            &mut s,
        )
        .await;
        workloads::<StatefulSet>(
            &client,
            &ns,
            "StatefulSet",
            "statefulsets",
            |d| d.spec.as_ref().and_then(|x| x.template.spec.as_ref()),
            &mut s,
        )
        .await;
        workloads::<DaemonSet>(
            &client,
            &ns,
            "DaemonSet",
            "daemonsets",
            |d| d.spec.as_ref().and_then(|x| x.template.spec.as_ref()),
            &mut s,
        )
        .await;
        // Other objects an install writes, read for the API they were written with only.
        for (group, version, kind, plural) in [
            ("", "v1", "Service", "services"),
            ("batch", "v1", "CronJob", "cronjobs"),
            (
                "policy",
                "v1",
                "PodDisruptionBudget",
                "poddisruptionbudgets",
            ),
            (
                "autoscaling",
                "v2",
                "HorizontalPodAutoscaler",
                "horizontalpodautoscalers",
            ),
            ("rbac.authorization.k8s.io", "v1", "Role", "roles"),
            (
                "rbac.authorization.k8s.io",
                "v1",
                "RoleBinding",
                "rolebindings",
            ),
            ("networking.k8s.io", "v1", "Ingress", "ingresses"),
        ] {
            let ar = ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk(group, version, kind),
                plural,
            );
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &ar);
            match bounded(format!("list {plural} in {ns}"), api.list_metadata(&lp)).await {
                Ok(list) => {
                    for o in list.items {
                        deprecated_uses(kind, &o.metadata, &mut s.deprecated_apis);
                    }
                }
                Err(e) => s.unreadable.push(e),
            }
        }
    }
    match bounded(
        "list customresourcedefinitions".into(),
        Api::<CustomResourceDefinition>::all(client.clone()).list(&ListParams::default()),
    )
    .await
    {
        Ok(list) => {
            for c in list.items {
                let g = &c.spec.group;
                if !CRD_GROUPS
                    .iter()
                    .any(|k| g == k || g.ends_with(&format!(".{k}")))
                {
                    continue;
                }
                deprecated_uses(
                    "CustomResourceDefinition",
                    &c.metadata,
                    &mut s.deprecated_apis,
                );
                let served: Vec<&k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinitionVersion> =
                    c.spec.versions.iter().filter(|v| v.served).collect();
                s.crds.push(Crd {
                    name: c.metadata.name.clone().unwrap_or_default(),
                    served: served.iter().map(|v| v.name.clone()).collect(),
                    storage: c
                        .spec
                        .versions
                        .iter()
                        .find(|v| v.storage)
                        .map(|v| v.name.clone()),
                    deprecated: served
                        .iter()
                        .filter(|v| v.deprecated == Some(true))
                        .map(|v| v.name.clone())
                        .collect(),
                });
            }
        }
        Err(e) => s.unreadable.push(e),
    }
    for (kind, plural) in [
        (
            "MutatingWebhookConfiguration",
            "mutatingwebhookconfigurations",
        ),
        (
            "ValidatingWebhookConfiguration",
            "validatingwebhookconfigurations",
        ),
    ] {
        let ar = ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("admissionregistration.k8s.io", "v1", kind),
            plural,
        );
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &ar);
        match bounded(
            format!("list {plural}"),
            api.list_metadata(&ListParams::default()),
        )
        .await
        {
            Ok(list) => {
                for o in list.items {
                    deprecated_uses(kind, &o.metadata, &mut s.deprecated_apis);
                }
            }
            Err(e) => s.unreadable.push(e),
        }
    }
    s.workloads.sort();
    s.crds.sort();
    s.deprecated_apis.sort();
    // KFP as `kfcheck all` reaches it (the endpoint given, else its own port-forward).
    match needs.resolve(Need::Kfp).await {
        Ok(_) => {
            s.kfp_version = needs.cluster_identity().and_then(|c| c.kfp_version);
            if s.kfp_version.is_none() {
                s.kfp_note = Some("KFP answered without a version".into());
            }
        }
        Err(e) => s.kfp_note = Some(e.reason().to_string()),
    }
    s.cluster = needs.cluster_identity();
    for (path, text) in crate::assets::EMBEDDED {
        if let Some(name) = path
            .strip_prefix("checks/pipelines/")
            .filter(|n| !n.contains('/'))
        {
            if let Some(v) = text
                .lines()
                .find_map(|l| l.trim().strip_prefix("sdkVersion:"))
            {
                s.samples
                    .insert(name.to_string(), v.trim().trim_matches('\'').to_string());
            }
        }
    }
    Ok(s)
}

/// The workloads of one kind in `ns` into the snapshot (with the API each was written with).
async fn workloads<K>(
    client: &kube::Client,
    ns: &str,
    kind: &str,
    plural: &str,
    pod_spec: fn(&K) -> Option<&PodSpec>,
    s: &mut Snapshot,
) where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api = Api::<K>::namespaced(client.clone(), ns);
    match bounded(
        format!("list {plural} in {ns}"),
        api.list(&ListParams::default()),
    )
    .await
    {
        Ok(list) => {
            for o in list.items {
                deprecated_uses(kind, o.meta(), &mut s.deprecated_apis);
                s.workloads
                    .push(workload(kind, o.meta(), images(pod_spec(&o))));
            }
        }
        Err(e) => s.unreadable.push(e),
    }
}

fn workload(kind: &str, meta: &ObjectMeta, images: Vec<String>) -> Workload {
    Workload {
        kind: kind.into(),
        namespace: meta.namespace.clone().unwrap_or_default(),
        name: meta.name.clone().unwrap_or_default(),
        version: meta
            .labels
            .as_ref()
            .and_then(|l| l.get("app.kubernetes.io/version"))
            .cloned(),
        images,
    }
}

fn render_text(s: &Snapshot) -> String {
    let mut out = format!(
        "Snapshot taken {} of {}\n",
        s.taken_at,
        crate::model::cluster_line(s.cluster.as_ref())
    );
    out.push_str(&format!(
        "KFP: {}\n",
        match (&s.kfp_version, &s.kfp_note) {
            (Some(v), _) => v.clone(),
            (None, Some(n)) => format!("not known ({n})"),
            _ => "not known".into(),
        }
    ));
    out.push_str(&format!(
        "\nWorkloads in {} ({})\n",
        if s.namespaces.is_empty() {
            "no Kubeflow namespace".to_string()
        } else {
            s.namespaces.join(", ")
        },
        s.workloads.len()
    ));
    for w in &s.workloads {
        out.push_str(&format!(
            "  {} {}/{}: {}{}\n",
            w.kind,
            w.namespace,
            w.name,
            w.images.join(", "),
            w.version
                .as_ref()
                .map(|v| format!(" (version {v})"))
                .unwrap_or_default()
        ));
    }
    out.push_str(&format!("\nCRDs ({})\n", s.crds.len()));
    for c in &s.crds {
        out.push_str(&format!(
            "  {}: served {} (storage {}){}\n",
            c.name,
            c.served.join(", "),
            c.storage.as_deref().unwrap_or("-"),
            if c.deprecated.is_empty() {
                String::new()
            } else {
                format!("; deprecated: {}", c.deprecated.join(", "))
            }
        ));
    }
    out.push_str("\nBundled samples\n");
    for (f, v) in &s.samples {
        out.push_str(&format!("  {f}: {v}\n"));
    }
    out.push_str(&format!(
        "\nDeprecated or removed APIs in use ({})\n",
        s.deprecated_apis.len()
    ));
    for u in &s.deprecated_apis {
        out.push_str(&format!(
            "  {} as {} ({}; seen in {}); use {}\n",
            u.object, u.api_version, u.status, u.seen_in, u.replacement
        ));
    }
    if !s.unreadable.is_empty() {
        out.push_str(&format!("\nNot read ({})\n", s.unreadable.len()));
        for u in &s.unreadable {
            out.push_str(&format!("  {u}\n"));
        }
    }
    out
}

/// `kfcheck snapshot [--namespace NS]...`.
pub(crate) fn snapshot(g: &Global, namespaces: &[String]) -> AppOutput {
    let namespaces: Vec<String> = if namespaces.is_empty() {
        DEFAULT_NAMESPACES.iter().map(|s| s.to_string()).collect()
    } else {
        namespaces.to_vec()
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return AppOutput::usage(format!("failed to start the async runtime: {e}")),
    };
    let needs = Needs::new(settings(g));
    match rt.block_on(take(&needs, &namespaces)) {
        Ok(s) => AppOutput {
            stdout: match g.output {
                Format::Json => serde_json::to_string_pretty(&s).unwrap_or_default() + "\n",
                _ => render_text(&s),
            },
            exit: Some(if s.unreadable.is_empty() {
                ExitStatus::Ready
            } else {
                ExitStatus::Undecided
            }),
            ..Default::default()
        },
        Err(NeedError::Missing(m)) => AppOutput::usage(format!("snapshot needs a cluster: {m}")),
        Err(NeedError::Broken(m)) => AppOutput {
            stderr: format!("kfcheck: snapshot: {m}\n"),
            exit: Some(ExitStatus::Undecided),
            ..Default::default()
        },
    }
}

/// A snapshot document, when `path` is a file holding one.
pub(crate) fn read_snapshot(path: &str) -> Option<Snapshot> {
    let p = std::path::Path::new(path);
    if !p.is_file() {
        return None;
    }
    let text = crate::clients::files::read_text_capped(p, 64 << 20).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    (v.get("kind")?.as_str()? == SNAPSHOT_KIND)
        .then(|| serde_json::from_value(v).ok())
        .flatten()
}

/// `kfcheck diff` of two snapshots: what changed, exit 0.
pub(crate) fn diff_snapshot_files(g: &Global, old: &Snapshot, new: &Snapshot) -> AppOutput {
    let d: SnapshotDiff = diff_snapshots(old, new);
    let stdout = match g.output {
        Format::Json => {
            let v: serde_json::Map<String, serde_json::Value> = d
                .sections()
                .iter()
                .map(|(k, l)| (k.to_lowercase().replace(' ', "_"), serde_json::json!(l)))
                .collect();
            serde_json::to_string_pretty(
                &serde_json::json!({"old": old.taken_at, "new": new.taken_at, "changes": v}),
            )
            .unwrap_or_default()
                + "\n"
        }
        _ => {
            let mut out = format!(
                "old: snapshot taken {}\nnew: snapshot taken {}\n",
                old.taken_at, new.taken_at
            );
            if d.is_empty() {
                out.push_str("\nNothing changed.\n");
            }
            for (title, lines) in d.sections() {
                if lines.is_empty() {
                    continue;
                }
                out.push_str(&format!("\n{title} ({})\n", lines.len()));
                for l in lines {
                    out.push_str(&format!("  {l}\n"));
                }
            }
            out
        }
    };
    AppOutput {
        stdout,
        exit: Some(ExitStatus::Ready),
        ..Default::default()
    }
}
