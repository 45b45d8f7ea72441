//! `container-storage`: the kfcheck probe runs in a local container with Google credentials
//! mounted the way a data scientist mounts them (a key file with GOOGLE_APPLICATION_CREDENTIALS,
//! or gcloud's ADC folder), does a bucket round trip and uploads a result object; kfcheck then
//! reads that object back from the host with the same credentials, and removes it.

use crate::assets::SuiteBase;
use crate::clients::container::{self, Spec};
use crate::clients::redact;
use crate::context::gcs::GcsChoice;
use crate::context::Need;
use crate::doors::docker::{check_network, duration, run_labelled};
use crate::doors::storage_probe::{self, Facts, STORAGE_RULE_LIST};
use crate::doors::store_run::StoreTarget;
use crate::kinds::{typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::model::owned::Created;
use crate::model::FindingRule;
use futures::future::BoxFuture;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

pub struct ContainerStorage;

/// The findings this kind can report (`kfcheck explain <rule>`): the storage probe's.
static RULES: &[FindingRule] = &STORAGE_RULE_LIST;

static META: KindMeta = KindMeta {
    name: "container-storage",
    needs: &[Need::Docker],
    effect: Effect::CreatesResources,
    creates: &[Created::Containers, Created::BucketObjects],
    rules: RULES,
    default_timeout: Duration::from_secs(300),
    what: "The kfcheck probe, in a local container with the credentials mounted as a data scientist would (a service-account key file with GOOGLE_APPLICATION_CREDENTIALS, or the gcloud ADC folder), lists the bucket, writes an object under kfcheck/<run-id>/<check-id>/, reads it back and compares, deletes it, and uploads a result object that kfcheck then finds from the host. Objects and the container are removed afterwards.",
    why: "Credentials that work on the host often fail in a container: a key file not mounted, the variable pointing at the host path, ADC living in the home directory. A component that cannot reach the bucket locally will not in Kubeflow either.",
    fix: "Mount the key read-only and point GOOGLE_APPLICATION_CREDENTIALS at the path inside the container; grant the service account roles/storage.objectAdmin on the bucket; check the bucket name.",
    params: &[
        ("bucket", "bucket to use (no bucket: the check is skipped)"),
        ("key_file", "service-account key file on the Docker host, mounted at /var/secrets/google/key.json"),
        ("adc_dir", "gcloud configuration folder holding application_default_credentials.json, mounted at /root/.config/gcloud"),
        ("endpoint", "storage endpoint, keeping authentication (default: Google, or STORAGE_EMULATOR_HOST passed through)"),
        ("image", "probe image (default kfcheck-probe:dev)"),
        ("size", "size of the object written (default 1MB)"),
        ("timeout", "how long the container may run (default 120s)"),
        ("network", "host or none (default host: the container needs the network)"),
        ("verify_result", "read the uploaded result object from the host (default true)"),
        ("pull", "pull the image when it is not present (default false)"),
        ("s3_key_dir", "for an s3:// or minio:// bucket: folder with accesskey and secretkey on the Docker host, mounted at /var/secrets/s3"),
        ("prefix", "object prefix; objects go under PREFIX/<run-id>/<check>/ (default kfcheck)"),
    ],
};

const KEY_IN_CONTAINER: &str = "/var/secrets/google/key.json";
const ADC_IN_CONTAINER: &str = "/root/.config/gcloud";
const S3_KEYS_IN_CONTAINER: &str = "/var/secrets/s3";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default)]
    bucket: Option<String>,
    #[serde(default)]
    key_file: Option<PathBuf>,
    #[serde(default)]
    adc_dir: Option<PathBuf>,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default = "storage_probe::default_image")]
    image: String,
    #[serde(default = "storage_probe::default_size")]
    size: String,
    #[serde(
        default = "storage_probe::default_timeout",
        deserialize_with = "duration"
    )]
    timeout: Duration,
    #[serde(default = "host")]
    network: String,
    #[serde(default = "yes")]
    verify_result: bool,
    #[serde(default)]
    pull: bool,
    #[serde(default)]
    s3_key_dir: Option<PathBuf>,
    #[serde(default = "default_prefix")]
    prefix: String,
}

fn default_prefix() -> String {
    "kfcheck".into()
}

/// Whether the bucket is S3-compatible (`s3://`, `minio://`).
fn is_s3(bucket: &str) -> bool {
    matches!(
        crate::clients::bucket::Provider::of_url(bucket),
        Some((crate::clients::bucket::Provider::S3, _))
    )
}

fn host() -> String {
    "host".into()
}
fn yes() -> bool {
    true
}

impl Kind for ContainerStorage {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, _: &SuiteBase) -> Result<(), String> {
        let p: Params = typed_params(params)?;
        check_network(&p.network)?;
        crate::units::parse_size(&p.size)?;
        if p.key_file.is_some() && p.adc_dir.is_some() {
            return Err("give key_file or adc_dir, not both".into());
        }
        if let Some(b) = &p.bucket {
            crate::doors::store_run::StoreTarget::parse_bucket(b, None)?;
            if is_s3(b) && (p.key_file.is_some() || p.adc_dir.is_some()) {
                return Err(
                    "an S3 bucket is reached with s3_key_dir; key_file and adc_dir are for GCS"
                        .into(),
                );
            }
            if !is_s3(b) && p.s3_key_dir.is_some() {
                return Err("s3_key_dir is for an s3:// or minio:// bucket".into());
            }
        }
        Ok(())
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let mut p: Params = cx.params()?;
            // Relative paths are relative to the suite folder that names them.
            p.key_file = p
                .key_file
                .map(|k| cx.spec.base.resolve(&k.to_string_lossy()));
            p.adc_dir = p
                .adc_dir
                .map(|d| cx.spec.base.resolve(&d.to_string_lossy()));
            p.s3_key_dir = p
                .s3_key_dir
                .map(|d| cx.spec.base.resolve(&d.to_string_lossy()));
            let Some(bucket) = p.bucket.clone() else {
                return Err(CheckError::NotApplicable(
                    "no bucket configured (set params.bucket in your suite)".into(),
                ));
            };
            let docker = cx.docker().await?;
            let mut env = cx.storage_env();
            let mut binds = Vec::new();
            let how = if let Some(k) = &p.key_file {
                let k = std::fs::canonicalize(k)
                    .map_err(|e| CheckError::Undecided(format!("key file {}: {e}", k.display())))?;
                binds.push(format!("{}:{KEY_IN_CONTAINER}:ro", k.display()));
                env.push(format!("GOOGLE_APPLICATION_CREDENTIALS={KEY_IN_CONTAINER}"));
                format!("key file {} mounted at {KEY_IN_CONTAINER}", k.display())
            } else if let Some(d) = &p.adc_dir {
                let d = std::fs::canonicalize(d).map_err(|e| {
                    CheckError::Undecided(format!("ADC folder {}: {e}", d.display()))
                })?;
                binds.push(format!("{}:{ADC_IN_CONTAINER}:ro", d.display()));
                format!(
                    "gcloud ADC folder {} mounted at {ADC_IN_CONTAINER}",
                    d.display()
                )
            } else if let Some(d) = &p.s3_key_dir {
                let d = std::fs::canonicalize(d).map_err(|e| {
                    CheckError::Undecided(format!("S3 key folder {}: {e}", d.display()))
                })?;
                binds.push(format!("{}:{S3_KEYS_IN_CONTAINER}:ro", d.display()));
                format!(
                    "the key pair in {} mounted at {S3_KEYS_IN_CONTAINER}",
                    d.display()
                )
            } else {
                "the container's environment (emulator or metadata server)".to_string()
            };
            // S3: the host verifies and cleans up with the same key pair, through the same store.
            let s3_target = if is_s3(&bucket) {
                Some(
                    StoreTarget::from_params(
                        &bucket,
                        None,
                        p.endpoint.clone(),
                        None,
                        None,
                        p.s3_key_dir.clone(),
                        None,
                    )
                    .map_err(CheckError::Undecided)?,
                )
            } else {
                None
            };
            // The host-side client: same credentials, for verifying and cleaning up.
            let choice = GcsChoice {
                key_file: p.key_file.clone(),
                adc_dir: p.adc_dir.clone(),
                endpoint: p.endpoint.clone(),
                no_metadata: p.key_file.is_some() || p.adc_dir.is_some(),
            };
            // Per check: checks of one run share the run id and, with host networking, the hostname.
            let prefix = format!("{}/{}/{}/", p.prefix, cx.run_id, cx.spec.id);
            // Registered before anything is written: the janitor deletes the run's prefix.
            match &s3_target {
                Some(t) => cx.delete_store_prefix_later(t.clone(), prefix.clone()),
                None => {
                    cx.delete_bucket_prefix_later(choice.clone(), bucket.clone(), prefix.clone())
                }
            }
            let mut args = vec![
                "probe".to_string(),
                "storage".into(),
                "--bucket".into(),
                bucket.clone(),
                "--prefix".into(),
                p.prefix.clone(),
                "--run-id".into(),
                cx.run_id.to_string(),
                "--scope".into(),
                cx.spec.id.clone(),
                "--size".into(),
                p.size.clone(),
                "--upload-result".into(),
            ];
            if let Some(e) = &p.endpoint {
                args.extend(["--endpoint".to_string(), e.clone()]);
            }
            if p.key_file.is_some() || p.adc_dir.is_some() {
                args.push("--no-metadata".into());
            }
            if p.s3_key_dir.is_some() {
                args.extend(["--s3-key-dir".to_string(), S3_KEYS_IN_CONTAINER.to_string()]);
            }
            let spec = Spec {
                image: p.image.clone(),
                cmd: Some(args),
                env,
                binds,
                network: Some(p.network.clone()),
                ..Spec::default()
            };
            let ran =
                run_labelled(&cx.door(String::new()), &docker, spec, p.timeout, p.pull).await?;
            let probe = container::probe_line(&ran.logs);
            let result_seen = match &s3_target {
                Some(t) => s3_result_seen(p.verify_result, t, probe.as_ref()).await,
                None => {
                    cx.result_object_seen(p.verify_result, &choice, &bucket, probe.as_ref())
                        .await
                }
            };
            let facts = Facts {
                bucket,
                how,
                exit_code: ran.exit_code,
                timed_out: ran.timed_out,
                log_tail: redact::tail(&ran.logs, 10, 2000),
                probe,
                result_seen,
            };
            super::evaluate_place("container", &facts, cx.spec.severity)
        })
    }
}

/// The host's view of the result object an S3 probe uploaded, read with the same key pair.
async fn s3_result_seen(
    verify: bool,
    target: &StoreTarget,
    probe: Option<&serde_json::Value>,
) -> Option<Result<(), String>> {
    let obj = probe?.get("result_object")?.as_str()?;
    if !verify {
        return None;
    }
    let retry = crate::clients::store::Retry::default();
    Some(match target.connect(retry).await {
        Ok(c) => c
            .download(&target.bucket, obj)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        Err(e) => Err(format!("the host could not build a storage client: {e}")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_bucket_or_both_credentials_are_refused_at_validation() {
        assert!(ContainerStorage
            .validate(
                &serde_json::json!({"key_file": "a", "adc_dir": "b"}),
                &SuiteBase::Embedded
            )
            .is_err());
        assert!(ContainerStorage
            .validate(&serde_json::json!({"size": "1XB"}), &SuiteBase::Embedded)
            .is_err());
        assert!(ContainerStorage
            .validate(&serde_json::json!({}), &SuiteBase::Embedded)
            .is_ok());
        let v = |j| ContainerStorage.validate(&j, &SuiteBase::Embedded);
        assert!(v(serde_json::json!({"bucket": "s3://b", "s3_key_dir": "k"})).is_ok());
        assert!(v(serde_json::json!({"bucket": "s3://b", "key_file": "k.json"})).is_err());
        assert!(v(serde_json::json!({"bucket": "b", "s3_key_dir": "k"})).is_err());
        assert!(v(serde_json::json!({"bucket": "ftp://b"})).is_err());
    }
}
