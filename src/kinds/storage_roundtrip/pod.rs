//! `pod-storage`: the kfcheck probe runs in a pod in the profile's namespace, as the profile's
//! service account (default `default-editor`) with the credentials a step gets there (a key-file
//! Secret mounted with GOOGLE_APPLICATION_CREDENTIALS, or the pod's own environment: Workload
//! Identity's metadata server, an emulator), does a bucket round trip, and prints its result
//! line; kfcheck reads that line from the pod's log. Optionally the host reads back a result
//! object the pod uploaded. The pod and every object are removed afterwards.

use crate::assets::SuiteBase;
use crate::clients::redact;
use crate::context::gcs::GcsChoice;
use crate::context::owned;
use crate::context::Need;
use crate::doors::docker::duration;
use crate::doors::storage_probe::{self, Facts, POD_STORAGE_RULE_LIST, STORAGE_RULE_LIST};
use crate::kinds::context::probe_pod::{
    exit_code, key_volumes, run_probe_pod, ProbePodSpec, GCS_KEY_DIR as KEY_DIR, S3_KEY_DIR,
};
use crate::kinds::{
    kube_error, typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome,
};
use crate::model::owned::Created;
use crate::model::{concat_rules, Evidence, Finding, FindingRule, Subject};
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Pod, Secret, ServiceAccount};
use kube::api::Api;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

pub struct PodStorage;

static RULES: [FindingRule; 11] = concat_rules(&STORAGE_RULE_LIST, &POD_STORAGE_RULE_LIST);

static META: KindMeta = KindMeta {
    name: "pod-storage",
    needs: &[Need::Kube],
    effect: Effect::CreatesResources,
    creates: &[
        Created::Kube { kind: "Pod", api_version: "v1", plural: "pods", namespaced: true },
        Created::BucketObjects,
    ],
    rules: &RULES,
    default_timeout: Duration::from_secs(300),
    what: "The kfcheck probe, in a labelled pod in the profile's namespace running as its service account (default default-editor), with the key-file Secret steps mount (or the pod's own identity), lists the bucket, writes an object under kfcheck/<run-id>/, reads it back and compares, and deletes it; kfcheck reads the probe's result line from the pod's log. The pod is deleted afterwards.",
    why: "A pipeline step reaches the bucket from a pod, with the credentials the profile gives it there: a Secret that is missing, a key that is not mounted, or an identity without rights only shows from inside the cluster.",
    fix: "Grant the profile's identity roles/storage.objectAdmin on the bucket, create or fix the credentials Secret steps mount, and make sure pods can reach the storage endpoint.",
    params: &[
        ("bucket", "bucket to use (no bucket: the check is skipped)"),
        ("namespace", "where the pod runs (default: -n, the profile)"),
        ("service_account", "the pod's service account (default default-editor, a profile's steps' identity)"),
        ("secret", "Secret holding a service-account key, mounted at /var/secrets/google (default none: the pod's own identity)"),
        ("secret_key", "the key in that Secret (default key.json; Kubeflow's user-gcp-sa uses user-gcp-sa.json)"),
        ("s3_secret", "for an s3:// or minio:// bucket: Secret with accesskey and secretkey, mounted at /var/secrets/s3 (default mlpipeline-minio-artifact, KFP's per-profile artifact-store key)"),
        ("endpoint", "storage endpoint, keeping authentication (default Google's)"),
        ("env", "map of environment variables for the probe container (e.g. STORAGE_EMULATOR_HOST, a proxy)"),
        ("image", "probe image, pullable by the cluster (default kfcheck-probe:dev)"),
        ("prefix", "object prefix; objects go under PREFIX/<run-id>/<check>/ (default kfcheck; a profile's key on KFP's artifact store needs private-artifacts/<profile>/kfcheck)"),
        ("size", "size of the object written (default 1MB)"),
        ("timeout", "how long the pod may take from creation to its result (default 120s)"),
        ("node_selector", "map of node labels for the pod (default none)"),
        ("tolerations", "list of Kubernetes tolerations (default none)"),
        ("verify_result", "the pod uploads a result object that kfcheck reads from the host with its own credentials (default false)"),
    ],
};

/// For an S3-compatible bucket (`s3://`, `minio://`), the Secret with its key pair.
fn s3_secret(p: &Params, bucket: &str) -> Option<String> {
    matches!(
        crate::clients::bucket::Provider::of_url(bucket),
        Some((crate::clients::bucket::Provider::S3, _))
    )
    .then(|| {
        p.s3_secret
            .clone()
            .unwrap_or_else(|| crate::clients::s3::KFP_ARTIFACT_SECRET.into())
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default)]
    bucket: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
    #[serde(default = "default_editor")]
    service_account: String,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default = "key_json")]
    secret_key: String,
    #[serde(default)]
    s3_secret: Option<String>,
    #[serde(default = "default_prefix")]
    prefix: String,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default = "storage_probe::default_image")]
    image: String,
    #[serde(default = "storage_probe::default_size")]
    size: String,
    #[serde(
        default = "storage_probe::default_timeout",
        deserialize_with = "duration"
    )]
    timeout: Duration,
    #[serde(default)]
    node_selector: BTreeMap<String, String>,
    #[serde(default)]
    tolerations: Vec<k8s_openapi::api::core::v1::Toleration>,
    #[serde(default)]
    verify_result: bool,
}

fn default_editor() -> String {
    "default-editor".into()
}
fn default_prefix() -> String {
    "kfcheck".into()
}
fn key_json() -> String {
    "key.json".into()
}

/// The probe's arguments.
fn probe_args(p: &Params, bucket: &str, run_id: &str, check: &str) -> Vec<String> {
    let mut args: Vec<String> = [
        "probe", "storage", "--bucket", bucket, "--prefix", &p.prefix, "--run-id", run_id,
        "--scope", check, "--size", &p.size,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if p.verify_result {
        args.push("--upload-result".into());
    }
    if let Some(e) = &p.endpoint {
        args.extend(["--endpoint".to_string(), e.clone()]);
    }
    if s3_secret(p, bucket).is_some() {
        args.extend(["--s3-key-dir".to_string(), S3_KEY_DIR.to_string()]);
    } else if p.secret.is_some() {
        // A mounted key is the identity: a metadata server is not asked.
        args.push("--no-metadata".into());
    }
    args
}

/// The probe pod: never restarted, bounded by activeDeadlineSeconds, as hardened as a step may be.
fn probe_pod(
    name: &str,
    p: &Params,
    args: Vec<String>,
    labels: BTreeMap<String, String>,
) -> Result<Pod, String> {
    let s3 = p.bucket.as_deref().and_then(|b| s3_secret(p, b));
    let gcs = p.secret.as_deref().map(|s| (s, p.secret_key.as_str()));
    let (mut env, mounts, volumes) = key_volumes(s3.as_deref(), gcs);
    env.extend(
        p.env
            .iter()
            .map(|(k, v)| serde_json::json!({"name": k, "value": v})),
    );
    ProbePodSpec {
        name,
        labels: &labels,
        service_account: &p.service_account,
        image: &p.image,
        args,
        env,
        mounts,
        volumes,
        node_selector: &p.node_selector,
        tolerations: &p.tolerations,
        deadline: p.timeout,
        resources: serde_json::json!({"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}}),
        extra_spec: serde_json::Value::Null,
    }
    .build()
}

impl Kind for PodStorage {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, _: &SuiteBase) -> Result<(), String> {
        let p: Params = typed_params(params)?;
        crate::units::parse_size(&p.size)?;
        if p.env.keys().any(|k| k == "GOOGLE_APPLICATION_CREDENTIALS") && p.secret.is_some() {
            return Err(
                "GOOGLE_APPLICATION_CREDENTIALS is set by `secret`; do not give it in env too"
                    .into(),
            );
        }
        if let Some(b) = &p.bucket {
            if s3_secret(&p, b).is_some() && (p.secret.is_some() || p.verify_result) {
                return Err(
                    "an S3 bucket is reached with s3_secret's key pair: secret and verify_result are for GCS"
                        .into(),
                );
            }
        }
        if p.secret_key.contains('/') || p.secret_key.is_empty() {
            return Err(format!("secret_key {:?} is not a Secret key", p.secret_key));
        }
        Ok(())
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let p: Params = cx.params()?;
            let Some(bucket) = p.bucket.clone() else {
                return Err(CheckError::NotApplicable(
                    "no bucket configured (set params.bucket in your suite)".into(),
                ));
            };
            let ns = cx.profile_namespace(p.namespace.as_deref())?;
            let client = cx.kube().await?;
            let s3 = s3_secret(&p, &bucket);
            let how = match (&s3, &p.secret) {
                (Some(s), _) => format!(
                    "pod in {ns} as service account {}, Secret {s} (accesskey, secretkey) mounted at {S3_KEY_DIR}",
                    p.service_account
                ),
                (None, Some(s)) => format!(
                    "pod in {ns} as service account {}, Secret {s} key {} mounted at {KEY_DIR}",
                    p.service_account, p.secret_key
                ),
                (None, None) => format!(
                    "pod in {ns} as service account {} with its own identity (no key mounted)",
                    p.service_account
                ),
            };
            // Admission refuses a pod whose service account is missing with a 403 that reads like
            // a permission problem: asked first, it is named for what it is.
            let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
            match accounts.get_opt(&p.service_account).await {
                Ok(Some(_)) => {}
                Ok(None) => {
                    let mut out = Outcome::default();
                    out.findings.push(Finding::new(
                        "storage-service-account-missing",
                        cx.spec.severity,
                        Subject::new("serviceaccount", format!("{ns}/{}", p.service_account)),
                        "service account for the storage probe pod does not exist",
                        vec![Evidence::new(
                            "service account",
                            format!("{ns}/{} not found", p.service_account),
                        )
                        .expected("the identity steps run as")],
                        POD_STORAGE_RULE_LIST[2].fix,
                    ));
                    return Ok(out);
                }
                Err(e) => {
                    return Err(kube_error(
                        &e,
                        &format!("get serviceaccount {ns}/{}", p.service_account),
                    ))
                }
            }
            let needed: Option<(String, Vec<String>)> = match (&s3, &p.secret) {
                (Some(s), _) => Some((s.clone(), vec!["accesskey".into(), "secretkey".into()])),
                (None, Some(s)) => Some((s.clone(), vec![p.secret_key.clone()])),
                (None, None) => None,
            };
            if let Some((secret, keys)) = &needed {
                let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
                let missing = match secrets.get_opt(secret).await {
                    Ok(None) => Some(format!("Secret {ns}/{secret} does not exist")),
                    Ok(Some(s)) => {
                        let has = |k: &String| {
                            s.data.as_ref().is_some_and(|d| d.contains_key(k))
                                || s.string_data.as_ref().is_some_and(|d| d.contains_key(k))
                        };
                        let lacking: Vec<&str> = keys
                            .iter()
                            .filter(|k| !has(k))
                            .map(String::as_str)
                            .collect();
                        (!lacking.is_empty()).then(|| {
                            format!("Secret {ns}/{secret} has no key {}", lacking.join(", "))
                        })
                    }
                    Err(e) => return Err(kube_error(&e, &format!("get secret {ns}/{secret}"))),
                };
                if let Some(why) = missing {
                    let mut out = Outcome::default();
                    out.findings.push(Finding::new(
                        "storage-secret-missing",
                        cx.spec.severity,
                        Subject::new("secret", format!("{ns}/{secret}")),
                        "credentials secret for pods is missing or lacks its key",
                        vec![Evidence::new("secret", why)
                            .expected(format!("key {}", keys.join(", ")))],
                        POD_STORAGE_RULE_LIST[1].fix,
                    ));
                    return Ok(out);
                }
            }
            let prefix = format!("{}/{}/{}/", p.prefix, cx.run_id, cx.spec.id);
            // The host's client, for the result object and the cleanup of the run's prefix.
            let choice = GcsChoice {
                key_file: None,
                adc_dir: None,
                endpoint: p.endpoint.clone(),
                no_metadata: false,
            };
            if p.verify_result {
                cx.delete_bucket_prefix_later(choice.clone(), bucket.clone(), prefix.clone());
            }
            let name = owned::object_name("storage-probe", &cx.spec.id, &cx.run_id);
            let pod = probe_pod(
                &name,
                &p,
                probe_args(&p, &bucket, &cx.run_id, &cx.spec.id),
                owned::labels(&cx.run_id, &cx.spec.id),
            )
            .map_err(CheckError::Undecided)?;
            let pods: Api<Pod> = Api::namespaced(client, &ns);
            let run =
                run_probe_pod(&cx, pods, &ns, &name, &pod, p.timeout, "storage probe").await?;
            if !run.ran {
                let mut out = Outcome::default();
                out.findings.push(Finding::new(
                    "storage-pod-not-started",
                    cx.spec.severity,
                    Subject::new("pod", run.shown.clone()),
                    "storage probe pod did not start",
                    run.not_started_evidence(&p.image),
                    POD_STORAGE_RULE_LIST[0].fix,
                ));
                return Ok(out);
            }
            let logs = &run.logs;
            let probe = crate::clients::container::probe_line(logs);
            let result_seen = cx
                .result_object_seen(p.verify_result, &choice, &bucket, probe.as_ref())
                .await;
            let facts = Facts {
                bucket,
                how: how.clone(),
                exit_code: exit_code(&run.last),
                timed_out: !run.finished && probe.is_none(),
                log_tail: redact::tail(logs, 10, 2000),
                probe,
                result_seen,
            };
            let mut out = super::evaluate_place("pod", &facts, cx.spec.severity)?;
            if out.findings.is_empty() {
                out.notes.push(format!(
                    "read from the log of pod {} (node {})",
                    run.shown,
                    run.node()
                ));
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(v: serde_json::Value) -> Params {
        typed_params(&v).unwrap()
    }

    #[test]
    fn an_s3_bucket_mounts_kfps_artifact_key_and_signs_with_it() {
        let p = params(
            serde_json::json!({"bucket": "minio://mlpipeline", "prefix": "private-artifacts/team-a/kfcheck"}),
        );
        let args = probe_args(&p, "minio://mlpipeline", "r1", "pod-storage");
        let joined = args.join(" ");
        assert!(joined.contains("--s3-key-dir /var/secrets/s3"), "{joined}");
        assert!(
            joined.contains("--prefix private-artifacts/team-a/kfcheck"),
            "{joined}"
        );
        assert!(!joined.contains("--no-metadata"), "{joined}");
        let pod = probe_pod("x", &p, args, owned::labels("r1", "pod-storage")).unwrap();
        let v = serde_json::to_value(&pod).unwrap();
        assert_eq!(
            v["spec"]["volumes"][0]["secret"]["secretName"],
            "mlpipeline-minio-artifact"
        );
        assert_eq!(
            v["spec"]["containers"][0]["volumeMounts"][0]["mountPath"],
            "/var/secrets/s3"
        );
        let base = SuiteBase::Embedded;
        assert!(PodStorage
            .validate(
                &serde_json::json!({"bucket": "s3://b", "secret": "user-gcp-sa"}),
                &base
            )
            .is_err());
        assert!(PodStorage
            .validate(
                &serde_json::json!({"bucket": "s3://b", "verify_result": true}),
                &base
            )
            .is_err());
    }

    #[test]
    fn the_pod_mounts_the_secret_and_runs_the_probe_as_the_profiles_identity() {
        let p = params(
            serde_json::json!({"bucket": "b", "secret": "user-gcp-sa", "secret_key": "user-gcp-sa.json", "env": {"HTTPS_PROXY": "http://proxy:3128"}, "timeout": "90s", "node_selector": {"pool": "cpu"}}),
        );
        let args = probe_args(&p, "b", "r1", "pod-storage");
        assert_eq!(&args[..4], ["probe", "storage", "--bucket", "b"]);
        assert!(args.contains(&"--no-metadata".to_string()), "{args:?}");
        assert!(!args.contains(&"--upload-result".to_string()), "{args:?}");
        let pod = probe_pod("x", &p, args, owned::labels("r1", "pod-storage")).unwrap();
        let v = serde_json::to_value(&pod).unwrap();
        assert_eq!(v["spec"]["serviceAccountName"], "default-editor");
        assert_eq!(v["spec"]["restartPolicy"], "Never");
        assert_eq!(v["spec"]["activeDeadlineSeconds"], 90);
        assert_eq!(v["spec"]["nodeSelector"]["pool"], "cpu");
        assert_eq!(
            v["spec"]["volumes"][0]["secret"]["secretName"],
            "user-gcp-sa"
        );
        let env = v["spec"]["containers"][0]["env"].to_string();
        assert!(
            env.contains("/var/secrets/google/user-gcp-sa.json"),
            "{env}"
        );
        assert!(env.contains("HTTPS_PROXY"), "{env}");
        assert_eq!(v["metadata"]["labels"]["kfcheck.io/run-id"], "r1");
    }

    #[test]
    fn parameters_are_checked() {
        let ok = |v: serde_json::Value| PodStorage.validate(&v, &SuiteBase::Embedded);
        assert!(ok(serde_json::json!({"bucket": "b"})).is_ok());
        assert!(ok(serde_json::json!({"size": "lots"})).is_err());
        assert!(ok(
            serde_json::json!({"secret": "s", "env": {"GOOGLE_APPLICATION_CREDENTIALS": "/x"}})
        )
        .is_err());
        assert!(ok(serde_json::json!({"secret_key": "a/b"})).is_err());
        assert!(ok(serde_json::json!({"buckets": "b"})).is_err());
    }
}
