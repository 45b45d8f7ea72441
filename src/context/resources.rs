//! Kubeflow API resources that more than one layer names (the context's KFP identity lookup, the
//! profile kinds), and the profiles a check was asked to look at.

use crate::model::CheckError;
use kube::api::DynamicObject;
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

/// The profiles a check looks at: every one, or those named (by `profiles:` or `-n`). A name that
/// is not a profile is an error naming the profiles that exist: `-n team-typo` must never read as
/// "no profiles exist" or pass with nothing examined.
pub(crate) fn named_profiles(
    objs: &[DynamicObject],
    only: Option<&Vec<String>>,
) -> Result<Option<Vec<String>>, CheckError> {
    let Some(only) = only else { return Ok(None) };
    let mut existing: Vec<&str> = objs
        .iter()
        .filter_map(|o| o.metadata.name.as_deref())
        .collect();
    existing.sort_unstable();
    let unknown: Vec<&str> = only
        .iter()
        .map(String::as_str)
        .filter(|n| !existing.contains(n))
        .collect();
    if unknown.is_empty() {
        return Ok(Some(only.clone()));
    }
    let have = if existing.is_empty() {
        "the cluster has no profiles".to_string()
    } else {
        format!("profiles: {}", existing.join(", "))
    };
    let which = unknown
        .iter()
        .map(|n| format!("'{n}'"))
        .collect::<Vec<_>>()
        .join(", ");
    Err(CheckError::Undecided(format!(
        "{which} is not a Kubeflow profile ({have})"
    )))
}
