//! Client errors mapped once to "could not decide" ([`CheckError`]): a 403 reads as a missing
//! permission, a 401 as refused credentials. Used by the doors and the kinds alike.

use crate::model::CheckError;

/// Maps a Kubernetes API error to "could not decide"; a 403 reads as a missing permission.
pub(crate) fn kube_error(e: &kube::Error, what: &str) -> CheckError {
    match e {
        kube::Error::Api(s) if s.code == 403 => CheckError::Forbidden(what.to_string()),
        kube::Error::Api(s) if s.code == 401 => CheckError::Undecided(format!(
            "the API server rejected kfcheck's credentials (401) when trying to {what}"
        )),
        other => CheckError::Undecided(format!(
            "failed to {what}: {}",
            super::kube_client::describe(other)
        )),
    }
}

/// Maps a KFP API error to "could not decide": 403 reads as a missing permission, 401 as
/// refused credentials, 404 as not found.
/// Server text is redacted here too: a transport error may name a URL with credentials in it.
pub(crate) fn kfp_error(e: &crate::clients::KfpError, what: &str) -> CheckError {
    let redact = crate::clients::redact::redact;
    match e.status() {
        Some(403) => CheckError::Forbidden(format!("{what} in KFP ({})", redact(&e.message()))),
        Some(401) => CheckError::Undecided(format!("KFP rejected kfcheck's credentials (401) when trying to {what}: {}; the token or cookie may have expired", redact(&e.message()))),
        Some(404) => CheckError::Undecided(format!("failed to {what}: not found ({})", redact(&e.message()))),
        _ => CheckError::Undecided(format!("failed to {what}: {}", redact(&e.to_string()))),
    }
}
