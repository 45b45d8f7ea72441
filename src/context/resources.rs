//! Kubeflow API resources that more than one layer names (the context's KFP identity lookup, the
//! profile kinds).

use kube::core::ApiResource;

/// `profiles.kubeflow.org/v1`, cluster-scoped: one per user namespace.
pub(crate) fn profile_resource() -> ApiResource {
    ApiResource {
        group: "kubeflow.org".into(),
        version: "v1".into(),
        api_version: "kubeflow.org/v1".into(),
        kind: "Profile".into(),
        plural: "profiles".into(),
    }
}
