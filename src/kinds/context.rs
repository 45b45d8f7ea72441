//! What a running check sees: a narrow view of its definition ([`CheckView`], built by the suite
//! layer; kinds never see the suite) and its clients, reachable only for the needs the check
//! declared. The fields are private to this file so that a kind cannot go around the gate: a
//! need it did not declare is a kfcheck bug, reported as such (and caught by the tests that run
//! every kind).

pub(crate) mod probe_pod;

use super::{typed_params, CheckError};
use crate::assets::SuiteBase;
use crate::context::gcs::GcsChoice;
use crate::context::kfp::Kfp;
use crate::context::kube_cache::KubeCache;
use crate::context::{Need, Needs};
use crate::janitor::JanitorHandle;
use crate::model::Severity;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A check's definition as its kind sees it.
#[derive(Debug, Clone)]
pub struct CheckView {
    pub id: String,
    pub severity: Severity,
    pub timeout: Duration,
    pub params: serde_json::Value,
    /// Where the check's relative paths resolve.
    pub base: SuiteBase,
    /// What the check declared it needs (its kind's needs for these parameters).
    pub needs: Vec<Need>,
}

/// Everything a running check may use.
pub struct CheckContext {
    pub spec: Arc<CheckView>,
    needs: Arc<Needs>,
    pub janitor: JanitorHandle,
    pub cancel: CancellationToken,
    pub run_id: Arc<str>,
}

/// GCS clients for a check and for the cleanup it registers (GCS credentials are per check,
/// not a run-wide need).
#[derive(Clone)]
pub struct GcsAccess(Arc<Needs>);

impl GcsAccess {
    pub async fn client(
        &self,
        choice: &GcsChoice,
    ) -> Result<crate::clients::gcs::GcsClient, crate::clients::gcs::StoreError> {
        self.0.gcs(choice).await
    }
}

impl CheckContext {
    pub fn new(
        spec: Arc<CheckView>,
        needs: Arc<Needs>,
        janitor: JanitorHandle,
        cancel: CancellationToken,
        run_id: Arc<str>,
    ) -> CheckContext {
        CheckContext {
            spec,
            needs,
            janitor,
            cancel,
            run_id,
        }
    }

    /// The check's typed parameters (validated at load time, so an error here is a kfcheck bug
    /// or a suite changed underneath; either way the check cannot decide).
    pub(crate) fn params<P: serde::de::DeserializeOwned>(&self) -> Result<P, CheckError> {
        typed_params(&self.spec.params).map_err(CheckError::Undecided)
    }

    fn declared(&self, need: Need) -> Result<(), CheckError> {
        if self.spec.needs.contains(&need) {
            Ok(())
        } else {
            Err(CheckError::Undecided(format!(
                "kfcheck bug: check {} reached for the {} need it did not declare",
                self.spec.id,
                need.name()
            )))
        }
    }

    /// The Kubernetes client.
    pub(crate) async fn kube(&self) -> Result<kube::Client, CheckError> {
        self.declared(Need::Kube)?;
        self.needs.kube().await.map_err(CheckError::Undecided)
    }

    /// The Kubernetes client when the kube need is available, for a check that can say more with
    /// it but does not need it (the REST door reading the GPU step's log); `None` without it.
    pub(crate) async fn kube_if_available(&self) -> Option<kube::Client> {
        self.needs.kube().await.ok()
    }

    /// The run-wide cache of Kubernetes lists (part of the kube need).
    pub(crate) fn kube_cache(&self) -> Result<&KubeCache, CheckError> {
        self.declared(Need::Kube)?;
        Ok(&self.needs.kube_cache)
    }

    /// The KFP API.
    pub(crate) async fn kfp(&self) -> Result<Kfp, CheckError> {
        self.declared(Need::Kfp)?;
        self.needs.kfp().await.map_err(CheckError::Undecided)
    }

    /// The Docker engine.
    pub(crate) async fn docker(&self) -> Result<bollard::Docker, CheckError> {
        self.declared(Need::Docker)?;
        self.needs.docker().await.map_err(CheckError::Undecided)
    }

    /// `--probe-image`, when given.
    pub(crate) fn probe_image(&self) -> Option<&str> {
        self.needs.settings.probe_image.as_deref()
    }

    /// `-n NAMESPACE`, when given.
    pub(crate) fn namespace(&self) -> Option<&str> {
        self.needs.settings.namespace.as_deref()
    }

    /// The profile namespace a pod-making check works in: `given` (its `namespace` parameter),
    /// else `-n`; neither is nothing to look at (skipped), never a guess.
    pub(crate) fn profile_namespace(&self, given: Option<&str>) -> Result<String, CheckError> {
        given
            .or(self.namespace())
            .map(str::to_string)
            .ok_or_else(|| {
                CheckError::NotApplicable(
                    "no profile namespace: give -n NAMESPACE (or params.namespace)".into(),
                )
            })
    }

    /// Storage settings passed through from kfcheck's environment to containers it starts.
    pub(crate) fn storage_env(&self) -> Vec<String> {
        self.needs.storage_env()
    }

    /// What a door may use while it works for this check; `name` names what it creates.
    pub(crate) fn door(&self, name: String) -> crate::doors::DoorContext<'_> {
        crate::doors::DoorContext {
            janitor: &self.janitor,
            cancel: &self.cancel,
            run_id: &self.run_id,
            check_id: &self.spec.id,
            name,
        }
    }

    pub(crate) fn gcs(&self) -> GcsAccess {
        GcsAccess(self.needs.clone())
    }

    /// Registers, before anything is written, the janitor's deletion of every object under
    /// `gs://bucket/prefix` with the host's storage client for `choice` (a storage probe's
    /// objects). Credentials that cannot get a token cannot have written anything either.
    pub(crate) fn delete_bucket_prefix_later(
        &self,
        choice: GcsChoice,
        bucket: String,
        prefix: String,
    ) {
        use crate::clients::gcs::StoreError;
        let needs = self.gcs();
        self.janitor
            .register(format!("delete gs://{bucket}/{prefix}*"), move || {
                Box::pin(async move {
                    let nothing = |e: &StoreError| {
                        format!(
                            "nothing to delete under gs://{bucket}/{prefix} ({})",
                            e.class()
                        )
                    };
                    let c = match needs.client(&choice).await {
                        Ok(c) => c,
                        Err(
                            e @ (StoreError::BadCredentials { .. } | StoreError::NoCredentials(_)),
                        ) => return Ok(nothing(&e)),
                        Err(e) => return Err(e.to_string()),
                    };
                    let objs = match c.list(&bucket, &prefix, 1000).await {
                        Ok(o) => o,
                        Err(StoreError::BucketMissing { .. }) => {
                            return Ok(format!("bucket {bucket} does not exist: nothing to delete"))
                        }
                        Err(e @ StoreError::Token { .. }) => return Ok(nothing(&e)),
                        Err(e) => return Err(e.to_string()),
                    };
                    for o in &objs {
                        c.delete(&bucket, &o.name)
                            .await
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(format!(
                        "deleted {} object(s) under gs://{bucket}/{prefix}",
                        objs.len()
                    ))
                })
            });
    }

    /// Registers, before anything is written, the janitor's deletion of every object under
    /// `prefix` in the target's bucket, with the target's own identity and protocol (GCS or S3).
    pub(crate) fn delete_store_prefix_later(
        &self,
        target: crate::doors::store_run::StoreTarget,
        prefix: String,
    ) {
        self.delete_store_prefix_later_through(target, prefix, None)
    }

    /// [`Self::delete_store_prefix_later`] through a way in that must stay open until the
    /// janitor has run (a port-forward to the store's Service): `keep` is dropped after it.
    pub(crate) fn delete_store_prefix_later_through(
        &self,
        target: crate::doors::store_run::StoreTarget,
        prefix: String,
        keep: Option<Arc<dyn std::any::Any + Send + Sync>>,
    ) {
        use crate::clients::store::{Retry, StoreError};
        let shown = format!("{}/{prefix}", target.url());
        self.janitor.register(format!("delete {shown}*"), move || {
            Box::pin(async move {
                let _keep = keep;
                let c = match target.connect(Retry::default()).await {
                    Ok(c) => c,
                    Err(e @ (StoreError::BadCredentials { .. } | StoreError::NoCredentials(_))) => {
                        return Ok(format!("nothing to delete under {shown} ({})", e.class()))
                    }
                    Err(e) => return Err(e.to_string()),
                };
                let objs = match c.list(&target.bucket, &prefix, 1000).await {
                    Ok(o) => o,
                    Err(StoreError::BucketMissing { .. }) => {
                        return Ok(format!(
                            "{} does not exist: nothing to delete",
                            target.url()
                        ))
                    }
                    Err(e) => return Err(e.to_string()),
                };
                for o in &objs {
                    c.delete(&target.bucket, &o.name)
                        .await
                        .map_err(|e| e.to_string())?;
                }
                Ok(format!("deleted {} object(s) under {shown}", objs.len()))
            })
        });
    }

    /// The host's view of the result object a storage probe uploaded (named in its result
    /// line): `None` when not asked for or not named; `Some(Ok(()))` when it reads back.
    pub(crate) async fn result_object_seen(
        &self,
        verify: bool,
        choice: &GcsChoice,
        bucket: &str,
        probe: Option<&serde_json::Value>,
    ) -> Option<Result<(), String>> {
        let obj = probe?.get("result_object")?.as_str()?;
        if !verify {
            return None;
        }
        Some(match self.gcs().client(choice).await {
            Ok(c) => c
                .download(bucket, obj)
                .await
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!("the host could not build a storage client: {e}")),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cx(needs: Vec<Need>) -> CheckContext {
        let view = CheckView {
            id: "c".into(),
            severity: Severity::Error,
            timeout: Duration::from_secs(1),
            params: serde_json::Value::Null,
            base: SuiteBase::Embedded,
            needs,
        };
        let janitor = crate::janitor::Janitor::default();
        CheckContext::new(
            Arc::new(view),
            Arc::new(Needs::new(Default::default())),
            janitor.handle("c"),
            CancellationToken::new(),
            "r".into(),
        )
    }

    #[tokio::test]
    async fn an_undeclared_need_is_a_kfcheck_bug_not_a_client() {
        let c = cx(vec![Need::Docker]);
        for e in [
            c.kube().await.err(),
            c.kfp().await.err(),
            c.kube_cache().err(),
        ] {
            let m = e.expect("refused").to_string();
            assert!(m.starts_with("kfcheck bug: check c reached for the"), "{m}");
        }
        // Declared: the client's own answer (no kubeconfig here), not the bug.
        let c = cx(vec![Need::Kube]);
        let m = c.kube().await.err().unwrap().to_string();
        assert!(!m.contains("kfcheck bug"), "{m}");
    }
}
