//! Kubeflow API resources that more than one layer names (the context's KFP identity lookup, the
//! profile kinds), and the profiles a check was asked to look at.

use crate::clients::http::Secret;
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

/// An S3 key pair from a Secret (name, access key's key, secret key's key), or why there is none;
/// never printed.
pub(crate) async fn s3_keys(
    client: &kube::Client,
    ns: &str,
    (name, ak, sk): &(String, String, String),
) -> Result<Result<(Secret, Secret), String>, kube::Error> {
    let secrets: kube::Api<k8s_openapi::api::core::v1::Secret> =
        kube::Api::namespaced(client.clone(), ns);
    let Some(s) = secrets.get_opt(name).await? else {
        return Ok(Err(format!("Secret {ns}/{name} does not exist")));
    };
    let data = s.data.unwrap_or_default();
    let value = |k: &str| {
        data.get(k)
            .map(|b| String::from_utf8_lossy(&b.0).trim().to_string())
            .filter(|v| !v.is_empty())
    };
    match (value(ak), value(sk)) {
        (Some(a), Some(s)) => Ok(Ok((Secret::new(a), Secret::new(s)))),
        _ => {
            let lacking: Vec<&str> = [ak.as_str(), sk.as_str()]
                .into_iter()
                .filter(|k| value(k).is_none())
                .collect();
            Ok(Err(format!(
                "Secret {ns}/{name} has no (or an empty) key {}",
                lacking.join(", ")
            )))
        }
    }
}
