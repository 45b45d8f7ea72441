//! `artifact-store`: KFP's own object store (SeaweedFS in current manifests, MinIO in older
//! ones), reached the way each profile's pipelines reach it. For every profile: where its
//! artifacts go (the `artifact-repositories` ConfigMap Argo reads, else the `kfp-launcher`
//! pipeline root, else KFP's defaults), the per-profile key Secret (`mlpipeline-minio-artifact`),
//! a round trip under the profile's own prefix with that key from this host (through kfcheck's
//! port-forward to the store's Service, or an `endpoint` given), and whether the key can also
//! list another profile's prefix. Keys are read into memory only; reports name the Secret.

mod pods;

use super::{kube_error, typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::clients::bucket::Provider;
use crate::clients::portforward::{PortForward, ServiceRef};
use crate::clients::store::{Retry, StoreError};
use crate::context::kube_cache::{not_served, Selectors};
use crate::context::resources::{named_profiles, profile_resource};
use crate::context::Need;
use crate::doors::store_run::{roundtrip, RoundTrip, StoreTarget};
use crate::model::owned::Created;
use crate::model::{Evidence, Finding, FindingRule, Problem, Severity, Subject};
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use pods::{PodSettings, PodTrip};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

pub struct ArtifactStore;

static RULES: [FindingRule; 8] = [
    FindingRule {
        id: "artifact-store-secret-missing",
        default_severity: Severity::Error,
        summary: "profile's artifact-store secret is missing or lacks a key",
        fix: "Let KFP's profile controller recreate mlpipeline-minio-artifact (label the namespace pipelines.kubeflow.org/enabled=true), or create it with accesskey and secretkey.",
    },
    FindingRule {
        id: "artifact-store-key-rejected",
        default_severity: Severity::Error,
        summary: "artifact store does not accept the profile's key",
        fix: "Recreate the profile's S3 user and its Secret (the key is unknown to the store or its secret is wrong): delete mlpipeline-minio-artifact and let the profile controller make it again.",
    },
    FindingRule {
        id: "artifact-store-bucket-missing",
        default_severity: Severity::Error,
        summary: "artifact bucket does not exist",
        fix: "Create the bucket KFP is configured with (pipeline-install-config bucketName), or fix the bucket in artifact-repositories and kfp-launcher.",
    },
    FindingRule {
        id: "artifact-store-denied",
        default_severity: Severity::Error,
        summary: "profile's key may not write its own artifact prefix",
        fix: "Give the profile's S3 user read, write and list on <bucket>/private-artifacts/<profile>/ (what KFP's profile controller sets up).",
    },
    FindingRule {
        id: "artifact-store-roundtrip-failed",
        default_severity: Severity::Error,
        summary: "artifact store gave back other bytes than were written",
        fix: "Look at the store's own health (its volume servers, disks and any proxy in between): an object read back must be the object written.",
    },
    FindingRule {
        id: "artifact-store-cross-profile",
        default_severity: Severity::Error,
        summary: "profile's key can list another profile's artifacts",
        fix: "Limit each profile's S3 user to its own prefix (private-artifacts/<profile>/); a shared or admin key in a profile's Secret lets every user read every other user's artifacts.",
    },
    FindingRule {
        id: "artifact-store-pod-failed",
        default_severity: Severity::Error,
        summary: "profile's pods cannot do the artifact round trip that this host can",
        fix: "The key works, so look at the way from the profile's pods to the store: a NetworkPolicy in the profile or the store's namespace, the endpoint in the profile's artifact-repositories (DNS name, port, insecure), and the Secret's keys as the pod mounts them.",
    },
    FindingRule {
        id: "artifact-store-pod-not-started",
        default_severity: Severity::Error,
        summary: "artifact-store probe pod did not start in the profile",
        fix: "Make the probe image pullable by the cluster (image), and let pods of the profile schedule (quota, admission, node_selector and tolerations).",
    },
];

static META: KindMeta = KindMeta {
    name: "artifact-store",
    needs: &[Need::Kube],
    effect: Effect::CreatesResources,
    creates: &[Created::BucketObjects],
    rules: &RULES,
    default_timeout: Duration::from_secs(300),
    what: "For every profile (or -n): reads where its pipelines put artifacts (the artifact-repositories ConfigMap, else kfp-launcher's defaultPipelineRoot, else KFP's defaults), reads its artifact-store key Secret (mlpipeline-minio-artifact), does a round trip (list, write, read back, compare, delete) under the profile's own prefix with that key from this host, through a port-forward to the store's Service (or `endpoint`), and tries to list the prefix of another profile with the same key.",
    why: "Every pipeline step writes its artifacts with this key. A key the store no longer knows, a missing bucket or a Secret the profile controller never made fails every run in the profile; a key that can read another profile's prefix leaks every user's data to every other user.",
    fix: "Recreate a rejected or missing key with KFP's profile controller, create the bucket, and keep each profile's S3 user limited to its own prefix.",
    params: &[
        ("profiles", "profile names to check (default: every Profile; -n narrows to one)"),
        ("endpoint", "reach the store at this URL from here instead of port-forwarding to its Service (e.g. http://127.0.0.1:9000)"),
        ("service", "the store's Service as NAMESPACE/NAME:PORT (default: the host in the profile's artifact-repositories endpoint, else kubeflow/seaweedfs:9000)"),
        ("secret", "the profile's key Secret (default mlpipeline-minio-artifact, keys accesskey and secretkey)"),
        ("bucket", "the artifact bucket (default: from the profile's configuration, else mlpipeline)"),
        ("cross_profile", "also try to list another profile's prefix with each key (default true)"),
        ("size", "size of the object written (default 256KiB)"),
        ("region", "S3 region (default us-east-1)"),
        ("pods", "also do the round trip from a pod in each profile, as its steps' identity with its Secret mounted, against the endpoint the cluster uses; the pods of all profiles run at once (default false)"),
        ("pod_endpoint", "the endpoint those pods use (default: the profile's artifact-repositories endpoint, else the store's Service by its cluster DNS name)"),
        ("image", "probe image for the pods, pullable by the cluster (default kfcheck-probe:dev)"),
        ("service_account", "the pods' service account (default default-editor)"),
        ("pod_timeout", "how long a pod may take from creation to its result (default 120s)"),
        ("node_selector", "map of node labels for the pods (default none)"),
        ("tolerations", "list of Kubernetes tolerations for the pods (default none)"),
    ],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default)]
    profiles: Option<Vec<String>>,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default = "default_secret")]
    secret: String,
    #[serde(default)]
    bucket: Option<String>,
    #[serde(default = "yes")]
    cross_profile: bool,
    #[serde(default = "default_size")]
    size: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    pods: bool,
    #[serde(default)]
    pod_endpoint: Option<String>,
    #[serde(default = "crate::doors::storage_probe::default_image")]
    image: String,
    #[serde(default = "default_editor")]
    service_account: String,
    #[serde(
        default = "crate::doors::storage_probe::default_timeout",
        deserialize_with = "crate::doors::docker::duration"
    )]
    pod_timeout: Duration,
    #[serde(default)]
    node_selector: BTreeMap<String, String>,
    #[serde(default)]
    tolerations: Vec<k8s_openapi::api::core::v1::Toleration>,
}

fn default_editor() -> String {
    "default-editor".into()
}
fn default_secret() -> String {
    crate::clients::s3::KFP_ARTIFACT_SECRET.into()
}
fn yes() -> bool {
    true
}
fn default_size() -> String {
    "256KiB".into()
}

/// KFP's defaults when a profile says nothing (`pipeline-install-config`, the manifests' Service).
const DEFAULT_BUCKET: &str = "mlpipeline";
const DEFAULT_SERVICE: &str = "kubeflow/seaweedfs:9000";

/// Where one profile's artifacts go, as its configuration says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoreConfig {
    pub bucket: String,
    /// The profile's prefix in the bucket (`private-artifacts/<profile>`).
    pub prefix: String,
    /// The endpoint host:port the cluster uses, when configured.
    pub endpoint: Option<String>,
    /// Plain HTTP to that endpoint (`insecure: true`; Argo's default is TLS).
    pub insecure: bool,
    /// (secret name, access key's key, secret key's key).
    pub secret: (String, String, String),
    /// Which object said so.
    pub source: String,
}

/// Reads the profile's configuration: Argo's `artifact-repositories` (the key its annotation
/// names, else `default-v1`/the first), else `kfp-launcher`'s `defaultPipelineRoot`, else KFP's
/// defaults. A prefix from a key format stops at the first template (`{{workflow.name}}`).
pub(crate) fn store_config(
    profile: &str,
    repos: Option<&ConfigMap>,
    launcher: Option<&ConfigMap>,
    secret: &str,
    bucket: Option<&str>,
) -> StoreConfig {
    let own_prefix = format!("private-artifacts/{profile}");
    let mut c = StoreConfig {
        bucket: bucket.unwrap_or(DEFAULT_BUCKET).to_string(),
        prefix: own_prefix.clone(),
        endpoint: None,
        insecure: false,
        secret: (secret.to_string(), "accesskey".into(), "secretkey".into()),
        source: "KFP's defaults".into(),
    };
    if let Some(cm) = repos {
        let key = cm
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("workflows.argoproj.io/default-artifact-repository"))
            .cloned();
        let data = cm.data.clone().unwrap_or_default();
        let raw = key
            .as_ref()
            .and_then(|k| data.get(k))
            .or_else(|| data.values().next());
        if let Some(s3) = raw
            .and_then(|r| serde_yaml_ng::from_str::<Value>(r).ok())
            .and_then(|v| v.get("s3").cloned())
        {
            let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
            if bucket.is_none() {
                if let Some(b) = text(&s3, "bucket") {
                    c.bucket = b;
                }
            }
            c.endpoint = text(&s3, "endpoint");
            c.insecure = s3.get("insecure").and_then(Value::as_bool).unwrap_or(false);
            if let Some(f) = text(&s3, "keyFormat") {
                let fixed: Vec<&str> = f
                    .split('/')
                    .take_while(|part| !part.contains("{{"))
                    .filter(|p| !p.is_empty())
                    .collect();
                if !fixed.is_empty() {
                    c.prefix = fixed.join("/");
                }
            }
            let sec = |k: &str| s3.get(k).cloned().unwrap_or(Value::Null);
            if let (Some(name), Some(ak), Some(sk)) = (
                text(&sec("accessKeySecret"), "name"),
                text(&sec("accessKeySecret"), "key"),
                text(&sec("secretKeySecret"), "key"),
            ) {
                c.secret = (name, ak, sk);
            }
            c.source = format!(
                "ConfigMap {profile}/artifact-repositories{}",
                key.map(|k| format!(" ({k})")).unwrap_or_default()
            );
            return c;
        }
    }
    if let Some(root) = launcher
        .and_then(|cm| cm.data.as_ref())
        .and_then(|d| d.get("defaultPipelineRoot"))
    {
        if let Some((Provider::S3, rest)) = Provider::of_url(root) {
            let mut parts = rest.splitn(2, '/');
            if bucket.is_none() {
                if let Some(b) = parts.next().filter(|b| !b.is_empty()) {
                    c.bucket = b.to_string();
                }
            } else {
                parts.next();
            }
            // private-artifacts/<profile>/v2/artifacts: the profile's part is what its key may use.
            if let Some(path) = parts.next() {
                if path.starts_with(&own_prefix) {
                    c.prefix = own_prefix.clone();
                } else if !path.is_empty() {
                    c.prefix = path.trim_end_matches('/').to_string();
                }
            }
            c.source = format!("ConfigMap {profile}/kfp-launcher defaultPipelineRoot");
        }
    }
    c
}

/// The Service behind an in-cluster endpoint (`NAME.NAMESPACE[.svc[.cluster.local]]:PORT`, with
/// or without a scheme).
pub(crate) fn service_of(endpoint: &str) -> Option<ServiceRef> {
    let hostport = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, r)| r)
        .trim_end_matches('/');
    let (host, port) = hostport.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let mut labels = host.split('.');
    let name = labels.next()?.to_string();
    let namespace = labels.next()?.to_string();
    if name.is_empty() || namespace.is_empty() || namespace.parse::<u8>().is_ok() {
        return None;
    }
    Some(ServiceRef {
        namespace,
        name,
        port,
    })
}

/// What one profile showed.
#[derive(Debug, Clone)]
pub(crate) struct ProfileStore {
    pub profile: String,
    pub config: StoreConfig,
    /// Why the key could not be read (missing Secret or key).
    pub secret_missing: Option<String>,
    /// How the store was reached (`endpoint`, or the port-forward).
    pub reached: String,
    /// The round trip's line.
    pub roundtrip: Option<Value>,
    /// Other profiles' prefixes this key could list (profile, objects seen).
    pub cross: Vec<(String, Result<usize, String>)>,
    /// The round trip from a pod of the profile (`pods: true`).
    pub pod: Option<PodTrip>,
}

pub(crate) fn evaluate(facts: &[ProfileStore], severity: Severity) -> Outcome {
    let mut out = Outcome::default();
    for f in facts {
        let host = judge_host(&mut out, f, severity);
        if let Some(trip) = &f.pod {
            judge_pod(&mut out, f, trip, host, severity);
        }
    }
    out
}

/// The host's round trip for one profile: its findings, notes and problems; whether it passed
/// (`None`: it did not get that far or could not tell).
fn judge_host(out: &mut Outcome, f: &ProfileStore, severity: Severity) -> Option<bool> {
    let c = &f.config;
    let subject = Subject::new("profile", f.profile.clone());
    let secret_shown = format!("{}/{}", f.profile, c.secret.0);
    if let Some(why) = &f.secret_missing {
        out.findings.push(Finding::new(
            "artifact-store-secret-missing",
            severity,
            Subject::new("secret", secret_shown),
            RULES[0].summary,
            vec![Evidence::new("secret", why.clone())
                .expected(format!("keys {} and {}", c.secret.1, c.secret.2))],
            RULES[0].fix,
        ));
        return None;
    }
    let Some(line) = &f.roundtrip else {
        return None;
    };
    let s = |p: &str| {
        line.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let place = format!("s3://{}/{}/", c.bucket, c.prefix);
    match s("/status").as_str() {
        "passed" => {
            let timing = crate::doors::storage_probe::step_timing(line);
            out.notes.push(format!(
                "{}: round trip under {place} with Secret {secret_shown} ({}; {}): {}",
                f.profile, f.reached, c.source, timing
            ));
        }
        "failed" => {
            let class = s("/error/class");
            // Each rule id written out, so `kfcheck explain` and the registry test see it.
            let bucket = Subject::new("bucket", format!("s3://{}", c.bucket));
            let (id, place_subject) = match class.as_str() {
                "bucket-missing" => ("artifact-store-bucket-missing", bucket),
                "denied" => ("artifact-store-denied", subject.clone()),
                "mismatch" => ("artifact-store-roundtrip-failed", subject.clone()),
                // unauthenticated: an unknown key or a wrong secret.
                _ => ("artifact-store-key-rejected", subject.clone()),
            };
            let rule = RULES.iter().find(|r| r.id == id).unwrap_or(&RULES[3]);
            out.findings.push(Finding::new(
                id,
                severity,
                place_subject,
                rule.summary,
                vec![
                    Evidence::new("secret", secret_shown.clone()),
                    Evidence::new("where", place.clone()),
                    Evidence::new("error", format!("{class}: {}", s("/error/message"))),
                    Evidence::new("configured by", c.source.clone()),
                ],
                rule.fix,
            ));
            return Some(false);
        }
        _ => {
            out.problems.push(Problem {
                subject: subject.clone(),
                message: format!(
                    "the artifact store could not be asked ({}): {} ({})",
                    s("/error/class"),
                    s("/error/message"),
                    f.reached
                ),
            });
            return None;
        }
    }
    for (other, r) in &f.cross {
        match r {
            Ok(n) => out.findings.push(Finding::new(
                "artifact-store-cross-profile",
                severity,
                subject.clone(),
                RULES[5].summary,
                vec![
                    Evidence::new("secret", secret_shown.clone()),
                    Evidence::new(
                        "listed",
                        format!(
                            "s3://{}/private-artifacts/{other}/ ({n} object(s) seen)",
                            c.bucket
                        ),
                    )
                    .expected("access denied"),
                ],
                RULES[5].fix,
            )),
            Err(why) if why.starts_with("denied") => out.notes.push(format!(
                "{}: its key may not list {other}'s prefix ({why})",
                f.profile
            )),
            Err(why) => out.problems.push(Problem {
                subject: subject.clone(),
                message: format!("could not tell whether its key can list {other}'s prefix: {why}"),
            }),
        }
    }
    Some(true)
}

/// The round trip from the profile's pod, read against the host's (`host`: it passed, failed, or
/// said nothing). A pod that fails where the host passed is the path from pods, not the key.
fn judge_pod(
    out: &mut Outcome,
    f: &ProfileStore,
    trip: &PodTrip,
    host: Option<bool>,
    severity: Severity,
) {
    let profile = &f.profile;
    let place = format!("s3://{}/{}/", f.config.bucket, f.config.prefix);
    match trip {
        PodTrip::NotStarted { pod, evidence } => out.findings.push(Finding::new(
            "artifact-store-pod-not-started",
            severity,
            Subject::new("pod", pod.clone()),
            RULES[7].summary,
            evidence.clone(),
            RULES[7].fix,
        )),
        PodTrip::Silent {
            pod,
            state,
            log_tail,
        } => out.problems.push(Problem {
            subject: Subject::new("pod", pod.clone()),
            message: format!(
                "the artifact-store probe in pod {pod} gave no result ({state}); its log ends: {log_tail}"
            ),
        }),
        PodTrip::Line {
            pod,
            node,
            endpoint,
            line,
        } => {
            let s = |p: &str| {
                line.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            if s("/status") == "passed" {
                out.notes.push(format!(
                    "{profile}: round trip under {place} from pod {pod} (node {node}) to {endpoint}: {}",
                    crate::doors::storage_probe::step_timing(line)
                ));
                return;
            }
            let error = format!("{}: {}", s("/error/class"), s("/error/message"));
            if host == Some(true) {
                out.findings.push(Finding::new(
                    "artifact-store-pod-failed",
                    severity,
                    Subject::new("profile", profile.clone()),
                    RULES[6].summary,
                    vec![
                        Evidence::new("from the pod", error).expected("the round trip passing"),
                        Evidence::new("from this host", format!("passed ({})", f.reached)),
                        Evidence::new("pod", format!("{pod} on node {node}")),
                        Evidence::new("endpoint", endpoint.clone()),
                        Evidence::new("secret", format!("{profile}/{}", f.config.secret.0)),
                    ],
                    RULES[6].fix,
                ));
            } else {
                out.notes.push(format!(
                    "{profile}: from pod {pod} to {endpoint} the round trip failed too ({error})"
                ));
            }
        }
    }
}

impl Kind for ArtifactStore {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, _: &SuiteBase) -> Result<(), String> {
        let p: Params = typed_params(params)?;
        crate::units::parse_size(&p.size)?;
        if let Some(s) = &p.service {
            s.parse::<ServiceRef>()?;
        }
        if p.endpoint.is_some() && p.service.is_some() {
            return Err("give endpoint or service, not both".into());
        }
        Ok(())
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let p: Params = cx.params()?;
            let client = cx.kube().await?;
            let objs = match cx
                .kube_cache()?
                .dynamic(&client, &profile_resource(), Selectors::default())
                .await
            {
                Ok(o) => o,
                Err(e) if not_served(&e) => {
                    return Err(CheckError::NotApplicable(
                        "the profile API is not served (no Kubeflow profiles)".into(),
                    ))
                }
                Err(e) => return Err(kube_error(&e, "list profiles.kubeflow.org")),
            };
            let only = named_profiles(
                &objs,
                p.profiles
                    .clone()
                    .or_else(|| cx.namespace().map(|n| vec![n.to_string()]))
                    .as_ref(),
            )?;
            let mut all: Vec<String> = objs
                .iter()
                .filter_map(|o| o.metadata.name.clone())
                .collect();
            all.sort();
            let profiles: Vec<String> = match &only {
                Some(o) => o.clone(),
                None => all.clone(),
            };
            if profiles.is_empty() {
                return Err(CheckError::NotApplicable(
                    "the cluster has no profiles".into(),
                ));
            }
            let mut forwards: BTreeMap<String, Arc<PortForward>> = BTreeMap::new();
            let mut facts = Vec::new();
            // The pods' work, run once every host round trip is done: (fact's index, endpoint,
            // the host's way to the store for the janitor, what keeps that way open).
            type KeepOpen = Option<Arc<dyn std::any::Any + Send + Sync>>;
            let mut pod_jobs: Vec<(usize, String, StoreTarget, KeepOpen)> = Vec::new();
            for profile in &profiles {
                let cms: Api<ConfigMap> = Api::namespaced(client.clone(), profile);
                let get_cm = |name: &'static str| {
                    let cms = cms.clone();
                    async move {
                        cms.get_opt(name)
                            .await
                            .map_err(|e| kube_error(&e, &format!("get configmap {profile}/{name}")))
                    }
                };
                let repos = get_cm("artifact-repositories").await?;
                let launcher = get_cm("kfp-launcher").await?;
                let config = store_config(
                    profile,
                    repos.as_ref(),
                    launcher.as_ref(),
                    &p.secret,
                    p.bucket.as_deref(),
                );
                let mut fact = ProfileStore {
                    profile: profile.clone(),
                    config: config.clone(),
                    secret_missing: None,
                    reached: String::new(),
                    roundtrip: None,
                    cross: Vec::new(),
                    pod: None,
                };
                let keys =
                    match crate::context::resources::s3_keys(&client, profile, &config.secret)
                        .await
                        .map_err(|e| {
                            kube_error(&e, &format!("get secret {profile}/{}", config.secret.0))
                        })? {
                        Ok(k) => k,
                        Err(why) => {
                            fact.secret_missing = Some(why);
                            facts.push(fact);
                            continue;
                        }
                    };
                let svc = match &p.service {
                    Some(s) => s.parse::<ServiceRef>().map_err(CheckError::Undecided)?,
                    None => config
                        .endpoint
                        .as_deref()
                        .and_then(service_of)
                        .unwrap_or_else(|| DEFAULT_SERVICE.parse().expect("valid")),
                };
                let mut keep: KeepOpen = None;
                let endpoint = match &p.endpoint {
                    Some(e) => {
                        fact.reached = format!("at {e}");
                        e.clone()
                    }
                    None => {
                        let shown = svc.to_string();
                        if !forwards.contains_key(&shown) {
                            let f = PortForward::start(client.clone(), svc.clone())
                                .await
                                .map_err(|e| {
                                    CheckError::Undecided(format!(
                                    "no way to the artifact store: {e} (give `endpoint` to reach it directly)"
                                ))
                                })?;
                            forwards.insert(shown.clone(), Arc::new(f));
                        }
                        let f = forwards[&shown].clone();
                        fact.reached = format!(
                            "through a port-forward to service {shown} (pod {})",
                            f.pod()
                        );
                        let local = format!("http://{}", f.local);
                        keep = Some(f);
                        local
                    }
                };
                let target = StoreTarget {
                    bucket: config.bucket.clone(),
                    provider: Some(Provider::S3),
                    endpoint: Some(endpoint.clone()),
                    s3_keys: Some((
                        keys.0.clone(),
                        keys.1.clone(),
                        format!("the key pair in Secret {profile}/{}", config.secret.0),
                    )),
                    region: p.region.clone(),
                    ..StoreTarget::default()
                };
                let (_, line) = roundtrip(&RoundTrip {
                    target: target.clone(),
                    prefix: format!("{}/kfcheck", config.prefix),
                    run_id: Some(cx.run_id.to_string()),
                    scope: Some(cx.spec.id.clone()),
                    size: p.size.clone(),
                    upload_result: false,
                })
                .await;
                let passed = line["status"] == "passed";
                fact.roundtrip = Some(line);
                if passed && p.cross_profile {
                    // Another of the profiles looked at, else any other profile.
                    let other = profiles
                        .iter()
                        .find(|o| *o != profile)
                        .or_else(|| all.iter().find(|o| *o != profile));
                    if let Some(other) = other {
                        let store = target
                            .connect(Retry::default())
                            .await
                            .map_err(|e| CheckError::Undecided(e.to_string()))?;
                        let r = match store
                            .list(&config.bucket, &format!("private-artifacts/{other}/"), 10)
                            .await
                        {
                            Ok(objs) => Ok(objs.len()),
                            Err(e @ StoreError::Denied { .. }) => Err(format!("denied: {e}")),
                            Err(e) => Err(e.to_string()),
                        };
                        fact.cross.push((other.clone(), r));
                    }
                }
                if p.pods {
                    let towards = pods::pod_endpoint(&config, &svc, p.pod_endpoint.as_deref());
                    pod_jobs.push((facts.len(), towards, target, keep));
                }
                facts.push(fact);
            }
            if !pod_jobs.is_empty() {
                let settings = PodSettings {
                    image: p.image.clone(),
                    service_account: p.service_account.clone(),
                    node_selector: p.node_selector.clone(),
                    tolerations: p.tolerations.clone(),
                    timeout: p.pod_timeout,
                    size: p.size.clone(),
                    region: p.region.clone(),
                };
                let runs = pod_jobs.into_iter().map(|(i, towards, target, keep)| {
                    let (cx, client, settings) = (&cx, client.clone(), &settings);
                    let (profile, config) = (facts[i].profile.clone(), facts[i].config.clone());
                    async move {
                        let trip = pods::run_pod(
                            cx,
                            client,
                            &profile,
                            &config,
                            settings,
                            towards,
                            (target, keep),
                        )
                        .await;
                        (i, trip)
                    }
                });
                for (i, trip) in futures::future::join_all(runs).await {
                    facts[i].pod = Some(trip?);
                }
            }
            Ok(evaluate(&facts, cx.spec.severity))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(v: Value) -> ConfigMap {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn the_configuration_is_read_as_argo_and_the_launcher_read_it() {
        let repos = cm(
            json!({"metadata": {"name": "artifact-repositories", "annotations": {"workflows.argoproj.io/default-artifact-repository": "default-namespaced"}}, "data": {"default-namespaced": "{\"archiveLogs\":true,\"s3\":{\"endpoint\":\"seaweedfs.kubeflow:9000\",\"bucket\":\"mlpipeline\",\"keyFormat\":\"private-artifacts/team-a/{{workflow.name}}/{{workflow.creationTimestamp.Y}}\",\"insecure\":true,\"accessKeySecret\":{\"name\":\"mlpipeline-minio-artifact\",\"key\":\"accesskey\"},\"secretKeySecret\":{\"name\":\"mlpipeline-minio-artifact\",\"key\":\"secretkey\"}}}"}}),
        );
        let c = store_config(
            "team-a",
            Some(&repos),
            None,
            "mlpipeline-minio-artifact",
            None,
        );
        assert_eq!(c.bucket, "mlpipeline");
        assert_eq!(c.prefix, "private-artifacts/team-a");
        assert_eq!(c.endpoint.as_deref(), Some("seaweedfs.kubeflow:9000"));
        assert!(c
            .source
            .contains("artifact-repositories (default-namespaced)"));
        let launcher = cm(
            json!({"metadata": {"name": "kfp-launcher"}, "data": {"defaultPipelineRoot": "minio://other/private-artifacts/team-a/v2/artifacts"}}),
        );
        let c = store_config("team-a", None, Some(&launcher), "s", None);
        assert_eq!(
            (c.bucket.as_str(), c.prefix.as_str()),
            ("other", "private-artifacts/team-a")
        );
        assert!(c.source.contains("kfp-launcher"));
        let c = store_config("team-a", None, None, "s", Some("given"));
        assert_eq!(
            (c.bucket.as_str(), c.source.as_str()),
            ("given", "KFP's defaults")
        );
        assert_eq!(
            c.secret,
            ("s".to_string(), "accesskey".into(), "secretkey".into())
        );
    }

    #[test]
    fn a_cluster_endpoint_names_its_service() {
        let s = service_of("seaweedfs.kubeflow:9000").unwrap();
        assert_eq!(s.to_string(), "kubeflow/seaweedfs:9000");
        let s = service_of("http://minio-service.kubeflow.svc.cluster.local:9000/").unwrap();
        assert_eq!(s.to_string(), "kubeflow/minio-service:9000");
        assert!(service_of("127.0.0.1:9000").is_none());
        assert!(service_of("s3.amazonaws.com").is_none());
    }

    fn fact(profile: &str, line: Option<Value>) -> ProfileStore {
        ProfileStore {
            profile: profile.into(),
            config: store_config(profile, None, None, "mlpipeline-minio-artifact", None),
            secret_missing: None,
            reached: "at http://127.0.0.1:1".into(),
            roundtrip: line,
            cross: Vec::new(),
            pod: None,
        }
    }

    #[test]
    fn each_fault_is_its_own_finding_and_an_unreachable_store_is_undecided() {
        let ok = json!({"status": "passed", "steps": [{"op": "list", "ms": 1.0}]});
        let mut a = fact("team-a", Some(ok.clone()));
        a.cross
            .push(("team-b".into(), Err("denied: AccessDenied".into())));
        let mut b = fact("team-b", Some(ok.clone()));
        b.cross.push(("team-a".into(), Ok(3)));
        let mut c = fact("team-c", None);
        c.secret_missing = Some("Secret team-c/mlpipeline-minio-artifact does not exist".into());
        let d = fact(
            "team-d",
            Some(
                json!({"status": "failed", "error": {"class": "unauthenticated", "message": "InvalidAccessKeyId"}}),
            ),
        );
        let e = fact(
            "team-e",
            Some(
                json!({"status": "failed", "error": {"class": "bucket-missing", "message": "NoSuchBucket"}}),
            ),
        );
        let f = fact(
            "team-f",
            Some(
                json!({"status": "errored", "error": {"class": "unreachable", "message": "refused"}}),
            ),
        );
        let o = evaluate(&[a, b, c, d, e, f], Severity::Error);
        let rules: Vec<(&str, &str)> = o
            .findings
            .iter()
            .map(|f| (f.rule.as_str(), f.subject.name.as_str()))
            .collect();
        assert_eq!(
            rules,
            [
                ("artifact-store-cross-profile", "team-b"),
                (
                    "artifact-store-secret-missing",
                    "team-c/mlpipeline-minio-artifact"
                ),
                ("artifact-store-key-rejected", "team-d"),
                ("artifact-store-bucket-missing", "s3://mlpipeline"),
            ]
        );
        assert_eq!(o.problems.len(), 1);
        assert!(o.problems[0].message.contains("could not be asked"));
        assert!(o
            .notes
            .iter()
            .any(|n| n.contains("team-a: its key may not list team-b's prefix")));
        assert!(o.notes.iter().any(
            |n| n.starts_with("team-a: round trip under s3://mlpipeline/private-artifacts/team-a/")
        ));
    }

    #[test]
    fn a_pod_that_fails_where_the_host_passed_is_the_way_from_pods() {
        let ok = json!({"status": "passed", "steps": [{"op": "list", "ms": 1.0}]});
        let refused = json!({"status": "errored", "error": {"class": "unreachable", "message": "connection refused"}});
        let rejected = json!({"status": "failed", "error": {"class": "unauthenticated", "message": "InvalidAccessKeyId"}});
        let line = |v: &Value| PodTrip::Line {
            pod: "ns/p".into(),
            node: "n1".into(),
            endpoint: "http://seaweedfs.kubeflow:9000".into(),
            line: v.clone(),
        };
        let mut a = fact("team-a", Some(ok.clone()));
        a.pod = Some(line(&refused));
        let mut b = fact("team-b", Some(rejected.clone()));
        b.pod = Some(line(&rejected));
        let mut c = fact("team-c", Some(ok.clone()));
        c.pod = Some(line(&ok));
        let mut d = fact("team-d", Some(ok.clone()));
        d.pod = Some(PodTrip::NotStarted {
            pod: "team-d/p".into(),
            evidence: vec![Evidence::new("pod", "Pending: ErrImagePull")],
        });
        let mut e = fact("team-e", Some(ok.clone()));
        e.pod = Some(PodTrip::Silent {
            pod: "team-e/p".into(),
            state: "Failed".into(),
            log_tail: "killed".into(),
        });
        let o = evaluate(&[a, b, c, d, e], Severity::Error);
        let rules: Vec<(&str, &str)> = o
            .findings
            .iter()
            .map(|f| (f.rule.as_str(), f.subject.name.as_str()))
            .collect();
        assert_eq!(
            rules,
            [
                ("artifact-store-pod-failed", "team-a"),
                ("artifact-store-key-rejected", "team-b"),
                ("artifact-store-pod-not-started", "team-d/p"),
            ]
        );
        let pod_failed = &o.findings[0];
        let ev = serde_json::to_string(&pod_failed.evidence).unwrap();
        assert!(
            ev.contains("unreachable: connection refused") && ev.contains("passed"),
            "{ev}"
        );
        assert!(o
            .notes
            .iter()
            .any(|n| n.starts_with("team-b: from pod") && n.contains("failed too")));
        assert!(o
            .notes
            .iter()
            .any(|n| n.starts_with("team-c: round trip under")
                && n.contains("from pod ns/p (node n1)")));
        assert_eq!(o.problems.len(), 1);
        assert!(o.problems[0].message.contains("gave no result"));
    }
}
