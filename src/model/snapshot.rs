//! `kfcheck snapshot`: what an upgrade changes, as a document two of which `kfcheck diff`
//! compares. The versions and images of the Kubeflow workloads, the served versions of the
//! Kubeflow CRDs (and which are deprecated), the KFP server's version, the SDK versions of the
//! bundled samples, and installed objects last written with a Kubernetes API that is deprecated
//! or removed (from their `last-applied-configuration` and `managedFields`), so a post-upgrade
//! failure can be read against what the upgrade changed.

use super::ClusterIdentity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// `kind` of a snapshot document (how `kfcheck diff` tells it from a run report).
pub const SNAPSHOT_KIND: &str = "kfcheck-snapshot";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub kind: String,
    pub schema_version: u32,
    pub taken_at: String,
    pub kfcheck_version: String,
    pub cluster: Option<ClusterIdentity>,
    /// The namespaces whose workloads were read.
    pub namespaces: Vec<String>,
    pub workloads: Vec<Workload>,
    pub crds: Vec<Crd>,
    /// The KFP server's version (its healthz `tag_name`), when KFP was reached and said it.
    pub kfp_version: Option<String>,
    /// Why the KFP version is not known, when it is not.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub kfp_note: Option<String>,
    /// Bundled sample pipeline → the SDK that compiled it (`sdkVersion`).
    pub samples: BTreeMap<String, String>,
    pub deprecated_apis: Vec<DeprecatedUse>,
    /// What could not be read (a type kfcheck may not list), said, never guessed.
    pub unreadable: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Workload {
    /// `Deployment`, `StatefulSet` or `DaemonSet`.
    pub kind: String,
    pub namespace: String,
    pub name: String,
    /// Its `app.kubernetes.io/version` label, when it has one.
    pub version: Option<String>,
    /// Every container's image (init containers too), in order.
    pub images: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Crd {
    pub name: String,
    pub served: Vec<String>,
    pub storage: Option<String>,
    /// Served versions the CRD marks `deprecated: true`.
    pub deprecated: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DeprecatedUse {
    /// `Kind namespace/name` (or `Kind name` when cluster-scoped).
    pub object: String,
    pub api_version: String,
    /// Where it was seen: `last-applied-configuration` or `managedFields (MANAGER)`.
    pub seen_in: String,
    /// `removed in 1.25` or `deprecated in 1.29, removed in 1.32`.
    pub status: String,
    pub replacement: String,
}

/// Kubernetes APIs that were deprecated and removed: (apiVersion, kinds or `*`, removed in,
/// replacement). From the Kubernetes deprecated API migration guide.
const REMOVED: &[(&str, &[&str], &str, &str)] = &[
    (
        "extensions/v1beta1",
        &[
            "Deployment",
            "DaemonSet",
            "ReplicaSet",
            "NetworkPolicy",
            "PodSecurityPolicy",
        ],
        "1.16",
        "apps/v1 (NetworkPolicy: networking.k8s.io/v1)",
    ),
    ("apps/v1beta1", &["*"], "1.16", "apps/v1"),
    ("apps/v1beta2", &["*"], "1.16", "apps/v1"),
    (
        "extensions/v1beta1",
        &["Ingress"],
        "1.22",
        "networking.k8s.io/v1",
    ),
    (
        "networking.k8s.io/v1beta1",
        &["Ingress", "IngressClass"],
        "1.22",
        "networking.k8s.io/v1",
    ),
    (
        "rbac.authorization.k8s.io/v1beta1",
        &["*"],
        "1.22",
        "rbac.authorization.k8s.io/v1",
    ),
    (
        "admissionregistration.k8s.io/v1beta1",
        &["*"],
        "1.22",
        "admissionregistration.k8s.io/v1",
    ),
    (
        "apiextensions.k8s.io/v1beta1",
        &["*"],
        "1.22",
        "apiextensions.k8s.io/v1",
    ),
    (
        "apiregistration.k8s.io/v1beta1",
        &["*"],
        "1.22",
        "apiregistration.k8s.io/v1",
    ),
    (
        "authentication.k8s.io/v1beta1",
        &["*"],
        "1.22",
        "authentication.k8s.io/v1",
    ),
    (
        "authorization.k8s.io/v1beta1",
        &["*"],
        "1.22",
        "authorization.k8s.io/v1",
    ),
    (
        "certificates.k8s.io/v1beta1",
        &["*"],
        "1.22",
        "certificates.k8s.io/v1",
    ),
    (
        "coordination.k8s.io/v1beta1",
        &["*"],
        "1.22",
        "coordination.k8s.io/v1",
    ),
    (
        "scheduling.k8s.io/v1beta1",
        &["*"],
        "1.22",
        "scheduling.k8s.io/v1",
    ),
    (
        "storage.k8s.io/v1beta1",
        &["CSIDriver", "CSINode", "StorageClass", "VolumeAttachment"],
        "1.22",
        "storage.k8s.io/v1",
    ),
    ("batch/v1beta1", &["CronJob"], "1.25", "batch/v1"),
    (
        "discovery.k8s.io/v1beta1",
        &["EndpointSlice"],
        "1.25",
        "discovery.k8s.io/v1",
    ),
    (
        "events.k8s.io/v1beta1",
        &["Event"],
        "1.25",
        "events.k8s.io/v1",
    ),
    (
        "autoscaling/v2beta1",
        &["HorizontalPodAutoscaler"],
        "1.25",
        "autoscaling/v2",
    ),
    (
        "policy/v1beta1",
        &["PodDisruptionBudget"],
        "1.25",
        "policy/v1",
    ),
    (
        "policy/v1beta1",
        &["PodSecurityPolicy"],
        "1.25",
        "Pod Security Admission (no replacement object)",
    ),
    (
        "node.k8s.io/v1beta1",
        &["RuntimeClass"],
        "1.25",
        "node.k8s.io/v1",
    ),
    (
        "autoscaling/v2beta2",
        &["HorizontalPodAutoscaler"],
        "1.26",
        "autoscaling/v2",
    ),
    (
        "flowcontrol.apiserver.k8s.io/v1beta1",
        &["*"],
        "1.26",
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    (
        "storage.k8s.io/v1beta1",
        &["CSIStorageCapacity"],
        "1.27",
        "storage.k8s.io/v1",
    ),
    (
        "flowcontrol.apiserver.k8s.io/v1beta2",
        &["*"],
        "1.29",
        "flowcontrol.apiserver.k8s.io/v1",
    ),
    (
        "flowcontrol.apiserver.k8s.io/v1beta3",
        &["*"],
        "1.32",
        "flowcontrol.apiserver.k8s.io/v1",
    ),
];

/// The removal `api_version` + `kind` fall under: (status, replacement).
pub fn removed_api(api_version: &str, kind: &str) -> Option<(String, String)> {
    REMOVED
        .iter()
        .find(|(v, kinds, _, _)| {
            *v == api_version && (kinds.contains(&"*") || kinds.contains(&kind))
        })
        .map(|(_, _, at, to)| (format!("removed in Kubernetes {at}"), to.to_string()))
}

/// What changed between two snapshots, a line each, grouped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SnapshotDiff {
    pub cluster: Vec<String>,
    pub workloads: Vec<String>,
    pub crds: Vec<String>,
    pub kfp: Vec<String>,
    pub samples: Vec<String>,
    pub deprecated: Vec<String>,
}

impl SnapshotDiff {
    pub fn is_empty(&self) -> bool {
        self.sections().iter().all(|(_, l)| l.is_empty())
    }

    pub fn sections(&self) -> [(&'static str, &Vec<String>); 6] {
        [
            ("Cluster", &self.cluster),
            ("Workloads", &self.workloads),
            ("CRDs", &self.crds),
            ("KFP", &self.kfp),
            ("Bundled samples", &self.samples),
            ("Deprecated or removed APIs in use", &self.deprecated),
        ]
    }
}

fn keyed<T, K: Ord>(items: &[T], key: impl Fn(&T) -> K) -> BTreeMap<K, &T> {
    items.iter().map(|i| (key(i), i)).collect()
}

/// Old → new, a line per change.
pub fn diff_snapshots(old: &Snapshot, new: &Snapshot) -> SnapshotDiff {
    let mut d = SnapshotDiff::default();
    let line = |c: Option<&ClusterIdentity>| super::cluster_line(c);
    if old
        .cluster
        .as_ref()
        .map(|c| (&c.server, &c.kubernetes_version))
        != new
            .cluster
            .as_ref()
            .map(|c| (&c.server, &c.kubernetes_version))
    {
        d.cluster.push(format!(
            "{} -> {}",
            line(old.cluster.as_ref()),
            line(new.cluster.as_ref())
        ));
    }
    let wk = |w: &Workload| format!("{} {}/{}", w.kind, w.namespace, w.name);
    let (o, n) = (keyed(&old.workloads, wk), keyed(&new.workloads, wk));
    for (k, w) in &o {
        match n.get(k) {
            None => d.workloads.push(format!("removed: {k}")),
            Some(x) => {
                if w.images != x.images {
                    d.workloads.push(format!(
                        "{k}: {} -> {}",
                        w.images.join(", "),
                        x.images.join(", ")
                    ));
                } else if w.version != x.version {
                    d.workloads.push(format!(
                        "{k}: version {} -> {}",
                        w.version.as_deref().unwrap_or("-"),
                        x.version.as_deref().unwrap_or("-")
                    ));
                }
            }
        }
    }
    for (k, x) in &n {
        if !o.contains_key(k) {
            d.workloads
                .push(format!("added: {k} ({})", x.images.join(", ")));
        }
    }
    let (o, n) = (
        keyed(&old.crds, |c| c.name.clone()),
        keyed(&new.crds, |c| c.name.clone()),
    );
    for (k, c) in &o {
        match n.get(k) {
            None => d.crds.push(format!("removed: {k}")),
            Some(x) if c.served != x.served || c.storage != x.storage => d.crds.push(format!(
                "{k}: served {} (storage {}) -> served {} (storage {})",
                c.served.join(", "),
                c.storage.as_deref().unwrap_or("-"),
                x.served.join(", "),
                x.storage.as_deref().unwrap_or("-")
            )),
            Some(_) => {}
        }
    }
    for (k, x) in &n {
        if !o.contains_key(k) {
            d.crds
                .push(format!("added: {k} (served {})", x.served.join(", ")));
        }
    }
    let kfp = |s: &Snapshot| match (&s.kfp_version, &s.kfp_note) {
        (Some(v), _) => v.clone(),
        (None, Some(why)) => format!("not known ({why})"),
        (None, None) => "not known".into(),
    };
    if old.kfp_version != new.kfp_version {
        d.kfp.push(format!("{} -> {}", kfp(old), kfp(new)));
    }
    for (file, v) in &new.samples {
        match old.samples.get(file) {
            Some(o) if o != v => d.samples.push(format!("{file}: {o} -> {v}")),
            None => d.samples.push(format!("added: {file} ({v})")),
            _ => {}
        }
    }
    let du = |u: &DeprecatedUse| format!("{} as {} ({})", u.object, u.api_version, u.status);
    let (o, n): (Vec<String>, Vec<String>) = (
        old.deprecated_apis.iter().map(du).collect(),
        new.deprecated_apis.iter().map(du).collect(),
    );
    for x in n.iter().filter(|x| !o.contains(x)) {
        d.deprecated.push(format!("new: {x}"));
    }
    for x in o.iter().filter(|x| !n.contains(x)) {
        d.deprecated.push(format!("gone: {x}"));
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(image: &str, served: &[&str], kfp: &str) -> Snapshot {
        Snapshot {
            kind: SNAPSHOT_KIND.into(),
            workloads: vec![Workload {
                kind: "Deployment".into(),
                namespace: "kubeflow".into(),
                name: "ml-pipeline".into(),
                version: None,
                images: vec![image.into()],
            }],
            crds: vec![Crd {
                name: "notebooks.kubeflow.org".into(),
                served: served.iter().map(|s| s.to_string()).collect(),
                storage: Some("v1".into()),
                deprecated: vec![],
            }],
            kfp_version: Some(kfp.into()),
            ..Snapshot::default()
        }
    }

    #[test]
    fn an_upgrade_reads_as_what_it_changed() {
        let old = snap(
            "ghcr.io/kubeflow/kfp-api-server:2.4.0",
            &["v1beta1", "v1"],
            "2.4.0",
        );
        let mut new = snap("ghcr.io/kubeflow/kfp-api-server:2.5.0", &["v1"], "2.5.0");
        new.deprecated_apis.push(DeprecatedUse {
            object: "CronJob kubeflow/x".into(),
            api_version: "batch/v1beta1".into(),
            seen_in: "last-applied-configuration".into(),
            status: "removed in Kubernetes 1.25".into(),
            replacement: "batch/v1".into(),
        });
        let d = diff_snapshots(&old, &new);
        assert_eq!(
            d.workloads,
            ["Deployment kubeflow/ml-pipeline: ghcr.io/kubeflow/kfp-api-server:2.4.0 -> ghcr.io/kubeflow/kfp-api-server:2.5.0"]
        );
        assert_eq!(
            d.crds,
            ["notebooks.kubeflow.org: served v1beta1, v1 (storage v1) -> served v1 (storage v1)"]
        );
        assert_eq!(d.kfp, ["2.4.0 -> 2.5.0"]);
        assert_eq!(d.deprecated.len(), 1);
        assert!(diff_snapshots(&old, &old).is_empty());
    }

    #[test]
    fn removed_apis_are_known_by_version_and_kind() {
        assert_eq!(
            removed_api("batch/v1beta1", "CronJob"),
            Some(("removed in Kubernetes 1.25".into(), "batch/v1".into()))
        );
        assert!(removed_api("batch/v1", "CronJob").is_none());
        assert!(removed_api("rbac.authorization.k8s.io/v1beta1", "ClusterRole").is_some());
        assert!(removed_api("storage.k8s.io/v1beta1", "CSIStorageCapacity")
            .unwrap()
            .0
            .contains("1.27"));
    }
}
