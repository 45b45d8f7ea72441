//! `container-storage`: the kfcheck probe runs in a local container with Google credentials
//! mounted the way a data scientist mounts them (a key file with GOOGLE_APPLICATION_CREDENTIALS,
//! or gcloud's ADC folder), does a bucket round trip and uploads a result object; kfcheck then
//! reads that object back from the host with the same credentials, and removes it.

use super::{typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::clients::container::{self, Spec};
use crate::clients::gcs::GcsError;
use crate::clients::redact;
use crate::context::gcs::GcsChoice;
use crate::context::Need;
use crate::doors::docker::{check_network, duration, run_labelled, PROBE_IMAGE};
use crate::model::owned::Created;
use crate::model::FindingRule;
use crate::model::{Evidence, Finding, Severity, Subject};
use futures::future::BoxFuture;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

pub struct ContainerStorage;

/// The findings this kind can report (`kfcheck explain <rule>`).
static RULES: &[FindingRule] = &[
    FindingRule {
        id: "bucket-missing",
        default_severity: Severity::Error,
        summary: "bucket does not exist",
        fix: "Create the bucket, or fix the bucket name the components use.",
    },
    FindingRule {
        id: "storage-denied-in-container",
        default_severity: Severity::Error,
        summary: "storage refuses the container's identity",
        fix: "Grant the service account roles/storage.objectAdmin on the bucket (or a custom role with list, create, get and delete).",
    },
    FindingRule {
        id: "no-credentials-in-container",
        default_severity: Severity::Error,
        summary: "container finds no google credentials",
        fix: "Mount a key file (key_file) or the gcloud ADC folder (adc_dir), or run where the metadata server answers.",
    },
    FindingRule {
        id: "credentials-unusable-in-container",
        default_severity: Severity::Error,
        summary: "credentials file in the container is unusable",
        fix: "Mount the JSON key file Google issued, unmodified, and point GOOGLE_APPLICATION_CREDENTIALS at it.",
    },
    FindingRule {
        id: "token-refused-in-container",
        default_severity: Severity::Error,
        summary: "token endpoint refuses the container's key",
        fix: "Create a new key for the service account (the key may be deleted, disabled or expired) and mount it.",
    },
    FindingRule {
        id: "storage-roundtrip-failed-in-container",
        default_severity: Severity::Error,
        summary: "bucket round trip from the container failed",
        fix: "Fix what the error in the evidence names: the bucket, the credentials mounted into the container, or the network between them.",
    },
    FindingRule {
        id: "storage-container-timed-out",
        default_severity: Severity::Error,
        summary: "storage probe container did not finish within the timeout",
        fix: "Check that the container can reach the storage endpoint (network host) and raise `timeout` for large objects.",
    },
    FindingRule {
        id: "result-object-missing",
        default_severity: Severity::Error,
        summary: "result object uploaded from the container is not visible from the host",
        fix: "Check that the container and the host use the same bucket and endpoint.",
    },
];

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
    ],
};

const KEY_IN_CONTAINER: &str = "/var/secrets/google/key.json";
const ADC_IN_CONTAINER: &str = "/root/.config/gcloud";

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
    #[serde(default = "probe_image")]
    image: String,
    #[serde(default = "one_mb")]
    size: String,
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    timeout: Duration,
    #[serde(default = "host")]
    network: String,
    #[serde(default = "yes")]
    verify_result: bool,
    #[serde(default)]
    pull: bool,
}

fn probe_image() -> String {
    PROBE_IMAGE.into()
}
fn one_mb() -> String {
    "1MB".into()
}
fn default_timeout() -> Duration {
    Duration::from_secs(120)
}
fn host() -> String {
    "host".into()
}
fn yes() -> bool {
    true
}

/// What happened, for the pure evaluation.
#[derive(Debug, Clone)]
pub(crate) struct Facts {
    pub bucket: String,
    pub how: String,
    pub exit_code: Option<i64>,
    pub timed_out: bool,
    pub log_tail: String,
    pub probe: Option<serde_json::Value>,
    /// The host's view of the result object: `None` not checked; `Some(Ok(()))` found.
    pub result_seen: Option<Result<(), String>>,
}

pub(crate) fn evaluate(f: &Facts, severity: Severity) -> Result<Outcome, CheckError> {
    let mut out = Outcome::default();
    let subject = Subject::new("bucket", format!("gs://{}", f.bucket));
    if f.timed_out {
        out.findings.push(Finding::new(
            "storage-container-timed-out",
            severity,
            subject,
            "storage probe container did not finish within the timeout",
            vec![Evidence::new("credentials", f.how.clone()), Evidence::new("log tail", f.log_tail.clone())],
            "Check that the container can reach the storage endpoint (network host) and raise `timeout` for large objects.",
        ));
        return Ok(out);
    }
    let Some(p) = &f.probe else {
        return Err(CheckError::Undecided(format!(
            "the storage probe printed no result line (exit {}): {}",
            f.exit_code.unwrap_or(-1),
            f.log_tail
        )));
    };
    let status = p
        .get("status")
        .and_then(|s| s.as_str())
        .unwrap_or("errored");
    let class = p
        .pointer("/error/class")
        .and_then(|c| c.as_str())
        .unwrap_or("")
        .to_string();
    let message = p
        .pointer("/error/message")
        .and_then(|c| c.as_str())
        .unwrap_or("")
        .to_string();
    let identity = p
        .pointer("/credentials/identity")
        .and_then(|c| c.as_str())
        .unwrap_or("unknown identity")
        .to_string();
    match status {
        "passed" => {}
        "failed" => {
            let (rule, msg, fix) = match class.as_str() {
                "bucket-missing" => ("bucket-missing", "bucket does not exist", "Create the bucket, or fix the bucket name the components use."),
                "denied" | "unauthenticated" => ("storage-denied-in-container", "storage refuses the container's identity", "Grant the service account roles/storage.objectAdmin on the bucket (or a custom role with list, create, get and delete)."),
                "no-credentials" => ("no-credentials-in-container", "container finds no google credentials", "Mount a key file (key_file) or the gcloud ADC folder (adc_dir), or run where the metadata server answers."),
                "bad-credentials" => ("credentials-unusable-in-container", "credentials file in the container is unusable", "Mount the JSON key file Google issued, unmodified, and point GOOGLE_APPLICATION_CREDENTIALS at it."),
                "token-refused" => ("token-refused-in-container", "token endpoint refuses the container's key", "Create a new key for the service account (the key may be deleted, disabled or expired) and mount it."),
                _ => ("storage-roundtrip-failed-in-container", "bucket round trip from the container failed", META.fix),
            };
            out.findings.push(Finding::new(
                rule,
                severity,
                subject,
                msg,
                vec![
                    Evidence::new("credentials", f.how.clone()),
                    Evidence::new("identity", identity),
                    Evidence::new("error", message),
                ],
                fix,
            ));
            return Ok(out);
        }
        _ => {
            return Err(CheckError::Undecided(format!(
                "the storage probe could not decide ({class}): {message}"
            )))
        }
    }
    let steps = p
        .get("steps")
        .and_then(|s| s.as_array())
        .cloned()
        .unwrap_or_default();
    let timing: Vec<String> = steps
        .iter()
        .filter_map(|s| Some(format!("{} {}ms", s.get("op")?.as_str()?, s.get("ms")?)))
        .collect();
    out.notes.push(format!(
        "round trip of {} bytes as {identity} ({}): {}",
        p.get("bytes").unwrap_or(&serde_json::Value::Null),
        f.how,
        timing.join(", ")
    ));
    match &f.result_seen {
        None => {}
        Some(Ok(())) => out
            .notes
            .push("result object uploaded from the container was read back from the host".into()),
        Some(Err(why)) => out.findings.push(Finding::new(
            "result-object-missing",
            severity,
            subject,
            "result object uploaded from the container is not visible from the host",
            vec![Evidence::new("result object", why.clone())
                .expected("readable with the same credentials")],
            "Check that the container and the host use the same bucket and endpoint.",
        )),
    }
    Ok(out)
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
            } else {
                "the container's environment (emulator or metadata server)".to_string()
            };
            // The host-side client: same credentials, for verifying and cleaning up.
            let choice = GcsChoice {
                key_file: p.key_file.clone(),
                adc_dir: p.adc_dir.clone(),
                endpoint: p.endpoint.clone(),
                no_metadata: p.key_file.is_some() || p.adc_dir.is_some(),
            };
            // Per check: checks of one run share the run id and, with host networking, the hostname.
            let prefix = format!("kfcheck/{}/{}/", cx.run_id, cx.spec.id);
            // Registered before anything is written: the janitor deletes the run's prefix.
            {
                let (needs, choice, bucket, prefix) =
                    (cx.gcs(), choice.clone(), bucket.clone(), prefix.clone());
                cx.janitor
                    .register(format!("delete gs://{bucket}/{prefix}*"), move || {
                        Box::pin(async move {
                            // Credentials that cannot get a token cannot have written anything either.
                            let c = match needs.client(&choice).await {
                                Ok(c) => c,
                                Err(
                                    e @ (GcsError::BadCredentials { .. }
                                    | GcsError::NoCredentials(_)),
                                ) => {
                                    return Ok(format!(
                                        "nothing to delete under gs://{bucket}/{prefix} ({})",
                                        e.class()
                                    ))
                                }
                                Err(e) => return Err(e.to_string()),
                            };
                            let objs = match c.list(&bucket, &prefix, 1000).await {
                                Ok(o) => o,
                                Err(GcsError::BucketMissing { .. }) => {
                                    return Ok(format!(
                                        "bucket {bucket} does not exist: nothing to delete"
                                    ))
                                }
                                Err(e @ GcsError::Token { .. }) => {
                                    return Ok(format!(
                                        "nothing to delete under gs://{bucket}/{prefix} ({})",
                                        e.class()
                                    ))
                                }
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
            let mut args = vec![
                "probe".to_string(),
                "storage".into(),
                "--bucket".into(),
                bucket.clone(),
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
            let result_seen = match (
                p.verify_result,
                probe
                    .as_ref()
                    .and_then(|v| v.get("result_object"))
                    .and_then(|o| o.as_str()),
            ) {
                (true, Some(obj)) => Some(match cx.gcs().client(&choice).await {
                    Ok(c) => c
                        .download(&bucket, obj)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string()),
                    Err(e) => Err(format!("the host could not build a storage client: {e}")),
                }),
                _ => None,
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
            evaluate(&facts, cx.spec.severity)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(probe: serde_json::Value) -> Facts {
        Facts {
            bucket: "b".into(),
            how: "key file".into(),
            exit_code: Some(0),
            timed_out: false,
            log_tail: String::new(),
            probe: Some(probe),
            result_seen: Some(Ok(())),
        }
    }

    #[test]
    fn a_passing_round_trip_notes_timing() {
        let p = serde_json::json!({"probe": "storage", "status": "passed", "bytes": 10, "credentials": {"identity": "service account a@b"}, "steps": [{"op": "list", "ms": 1.5}]});
        let o = evaluate(&facts(p), Severity::Error).unwrap();
        assert!(o.findings.is_empty());
        assert!(o.notes[0].contains("list 1.5ms"), "{:?}", o.notes);
    }

    #[test]
    fn refusals_are_findings_and_errors_are_undecided() {
        for (class, rule) in [
            ("no-credentials", "no-credentials-in-container"),
            ("bucket-missing", "bucket-missing"),
            ("denied", "storage-denied-in-container"),
            ("token-refused", "token-refused-in-container"),
            ("bad-credentials", "credentials-unusable-in-container"),
        ] {
            let p = serde_json::json!({"probe": "storage", "status": "failed", "error": {"class": class, "message": "m"}});
            assert_eq!(
                evaluate(&facts(p), Severity::Error).unwrap().findings[0].rule,
                rule
            );
        }
        let p = serde_json::json!({"probe": "storage", "status": "errored", "error": {"class": "unreachable", "message": "m"}});
        assert!(evaluate(&facts(p), Severity::Error).is_err());
        let mut f = facts(serde_json::json!({"probe": "storage", "status": "passed"}));
        f.result_seen = Some(Err("404".into()));
        assert_eq!(
            evaluate(&f, Severity::Error).unwrap().findings[0].rule,
            "result-object-missing"
        );
    }

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
    }
}
