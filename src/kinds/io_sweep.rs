//! `io-sweep`: bucket throughput at rising concurrency. 1, 2, 4, ... K probes (`kfcheck probe
//! io`: in this process for the host's identity, in local containers, or in pods of the profile
//! as its pipelines' identity, spread across nodes) measure the same window at each step; the
//! aggregate curve, the knee (where adding a probe stopped adding throughput, or latency or
//! errors jumped) and the most IO-heavy pods that should run at once, with ready-to-paste ways to
//! enforce it. Every object is deleted by the probes; every container and pod by the janitor.

use super::context::probe_pod::{
    key_volumes, run_probe_pod, ProbePodSpec, GCS_KEY_DIR, S3_KEY_DIR,
};
use super::{kube_error, typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::clients::bucket::Provider;
use crate::clients::container::{self, Spec};
use crate::context::owned;
use crate::context::Need;
use crate::doors::docker::{check_network, duration, run_labelled};
use crate::doors::store_run::{io, IoMode, IoPlan, StoreTarget, MAX_STREAMS};
use crate::model::io_curve::{IoCurve, IoStep, KneeReason};
use crate::model::owned::Created;
use crate::model::{Evidence, Finding, FindingRule, Problem, Severity, Subject};
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

pub struct IoSweep;

static RULES: [FindingRule; 8] = [
    FindingRule {
        id: "io-heavy-pod-limit",
        default_severity: Severity::Info,
        summary: "recommended limit on IO-heavy pods",
        fix: "Run at most the recommended number of IO-heavy steps at once: dsl.ParallelFor(parallelism=N), Argo's parallelism or a semaphore, or a ResourceQuota on a counted extended resource (the snippets are in the evidence).",
    },
    FindingRule {
        id: "io-no-knee",
        default_severity: Severity::Info,
        summary: "bucket throughput still scaled at the largest step",
        fix: "Raise max_concurrency (and the sweep's byte budget) to find where the bucket stops scaling.",
    },
    FindingRule {
        id: "io-throttled",
        default_severity: Severity::Warning,
        summary: "storage throttled the probes",
        fix: "Spread writes over more object names (a per-object limit) or ask for more quota (a bucket or project limit), and keep IO-heavy pods under the recommended limit.",
    },
    FindingRule {
        id: "io-errors-at-one-probe",
        default_severity: Severity::Error,
        summary: "one probe alone already meets errors or throttling",
        fix: "Fix what the error classes in the evidence name before running IO-heavy pipelines: storage throttles or fails even one pod's traffic.",
    },
    FindingRule {
        id: "io-storage-refused",
        default_severity: Severity::Error,
        summary: "storage refused the sweep's identity",
        fix: "Grant the identity in the evidence read, write, list and delete on the bucket (or on its prefix), or fix the bucket name.",
    },
    FindingRule {
        id: "io-below-minimum",
        default_severity: Severity::Error,
        summary: "aggregate throughput stays below the set minimum",
        fix: "Look at the network between the pods and the bucket (egress limits, a proxy, the storage class), or lower min_mb_per_s to what the pipelines need.",
    },
    FindingRule {
        id: "io-service-account-missing",
        default_severity: Severity::Error,
        summary: "service account for the io probe pods does not exist",
        fix: "Name the service account pipeline steps run as in `service_account`, or fix the profile (its controller creates default-editor in the namespace).",
    },
    FindingRule {
        id: "io-secret-missing",
        default_severity: Severity::Error,
        summary: "storage secret for the io probe pods is missing or lacks a key",
        fix: "Create the Secret steps mount in the profile's namespace (KFP's profile controller makes mlpipeline-minio-artifact with accesskey and secretkey), or fix `s3_secret`/`secret`.",
    },
];

static META: KindMeta = KindMeta {
    name: "io-sweep",
    needs: &[],
    effect: Effect::CreatesResources,
    creates: &[
        Created::Containers,
        Created::Kube { kind: "Pod", api_version: "v1", plural: "pods", namespaced: true },
        Created::BucketObjects,
    ],
    rules: &RULES,
    default_timeout: Duration::from_secs(900),
    what: "Runs the IO probe (parallel streams writing, reading back and deleting objects) at 1, 2, 4, ... max_concurrency probes at once, all measuring the same window: in this process with the host's identity (from: host), in local containers (from: container), or in pods of the profile as its pipelines' identity, spread across nodes (from: pod). Reports the aggregate throughput curve, per-step p95 latency, 429 and 503 counts, the knee, and the most IO-heavy pods that should run at once.",
    why: "Kubeflow has no run-level limit on IO-heavy pods: a ParallelFor over hundreds of items hits the bucket all at once, and past the knee every pod gets slower, latencies grow and throttling turns into failed steps. The knee measured from where the pods run, with their identity, is the number to enforce.",
    fix: "Enforce the recommended limit with dsl.ParallelFor(parallelism=N), Argo's parallelism or a semaphore ConfigMap, or a ResourceQuota on a counted extended resource; if one probe is already throttled, fix storage first.",
    params: &[
        ("bucket", "gs://NAME, s3://NAME or minio://NAME (no bucket: the check is skipped)"),
        ("provider", "gcs or s3, for a bucket given without a scheme"),
        ("from", "host (this process, the host's identity; default), container (local containers) or pod (pods in the profile)"),
        ("endpoint", "storage endpoint, keeping authentication (S3: the store's URL; default AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL)"),
        ("key_file", "GCS: service-account key file (host and container)"),
        ("adc_dir", "GCS: gcloud folder with application_default_credentials.json (host only)"),
        ("s3_key_dir", "S3: folder with accesskey and secretkey files (host and container)"),
        ("region", "S3 region (default us-east-1)"),
        ("prefix", "object prefix; objects go under PREFIX/RUN-ID/CHECK/ (default kfcheck; a profile's key on KFP's artifact store needs private-artifacts/<profile>/kfcheck)"),
        ("max_concurrency", "the largest step: 1, 2, 4, ... up to it (default 8, at most 64)"),
        ("concurrency", "the steps, instead of powers of two (e.g. [1, 2, 3, 4, 6, 8])"),
        ("streams", "parallel streams in each probe (default 1)"),
        ("object_size", "size of each object (default 4MiB)"),
        ("seconds", "measured window of each step (default 10)"),
        ("mode", "mixed (write, read back, delete; default), read or write"),
        ("max_bytes", "bytes the whole sweep may move (default 4GiB), shared out evenly over the steps and their probes"),
        ("min_gain", "a step is past the knee when its added throughput is below this fraction of linear scaling from the step before (default 0.5)"),
        ("p95_factor", "... or when its p95 latency exceeds this factor of the one-probe step's (default 3)"),
        ("max_error_rate", "... or when more than this fraction of its requests failed or were throttled (default 0.05)"),
        ("min_mb_per_s", "fail when the best aggregate throughput stays below this (default none)"),
        ("start_lead", "how far ahead each step's common start is set (default: 2s + 0.3s a probe for containers, 15s + 1s a pod for pods)"),
        ("image", "probe image (container and pod; default kfcheck-probe:dev)"),
        ("network", "container: host or none (default host)"),
        ("pull", "container: pull the image when it is not present (default false)"),
        ("namespace", "pod: where the probes run (default -n, the profile)"),
        ("service_account", "pod: the probes' service account (default default-editor, the pipelines' identity)"),
        ("secret", "pod, GCS: Secret with a service-account key, mounted with GOOGLE_APPLICATION_CREDENTIALS (default none: the pod's own identity)"),
        ("secret_key", "pod, GCS: the key in that Secret (default key.json)"),
        ("s3_secret", "pod, S3: Secret with accesskey and secretkey, mounted as --s3-key-dir (default mlpipeline-minio-artifact, KFP's per-profile artifact-store key)"),
        ("env", "pod: map of environment variables for the probe container"),
        ("node_selector", "pod: map of node labels"),
        ("tolerations", "pod: list of Kubernetes tolerations"),
    ],
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Place {
    #[default]
    Host,
    Container,
    Pod,
}

impl Place {
    fn as_str(self) -> &'static str {
        match self {
            Place::Host => "host",
            Place::Container => "container",
            Place::Pod => "pod",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default)]
    bucket: Option<String>,
    #[serde(default)]
    provider: Option<String>,
    #[serde(default)]
    from: Place,
    #[serde(default)]
    endpoint: Option<String>,
    #[serde(default)]
    key_file: Option<PathBuf>,
    #[serde(default)]
    adc_dir: Option<PathBuf>,
    #[serde(default)]
    s3_key_dir: Option<PathBuf>,
    #[serde(default)]
    region: Option<String>,
    #[serde(default = "default_prefix")]
    prefix: String,
    #[serde(default = "eight")]
    max_concurrency: u32,
    #[serde(default)]
    concurrency: Option<Vec<u32>>,
    #[serde(default = "one")]
    streams: u32,
    #[serde(default = "four_mib")]
    object_size: String,
    #[serde(default = "ten")]
    seconds: f64,
    #[serde(default = "mixed")]
    mode: String,
    #[serde(default = "four_gib")]
    max_bytes: String,
    #[serde(default = "half")]
    min_gain: f64,
    #[serde(default = "three")]
    p95_factor: f64,
    #[serde(default = "five_percent")]
    max_error_rate: f64,
    #[serde(default)]
    min_mb_per_s: Option<f64>,
    #[serde(default, deserialize_with = "optional_duration")]
    start_lead: Option<Duration>,
    #[serde(default = "crate::doors::storage_probe::default_image")]
    image: String,
    #[serde(default = "host_network")]
    network: String,
    #[serde(default)]
    pull: bool,
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
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    node_selector: BTreeMap<String, String>,
    #[serde(default)]
    tolerations: Vec<k8s_openapi::api::core::v1::Toleration>,
}

fn default_prefix() -> String {
    "kfcheck".into()
}
fn eight() -> u32 {
    8
}
fn one() -> u32 {
    1
}
fn four_mib() -> String {
    "4MiB".into()
}
fn ten() -> f64 {
    10.0
}
fn mixed() -> String {
    "mixed".into()
}
fn four_gib() -> String {
    "4GiB".into()
}
fn half() -> f64 {
    0.5
}
fn three() -> f64 {
    3.0
}
fn five_percent() -> f64 {
    0.05
}
fn host_network() -> String {
    "host".into()
}
fn default_editor() -> String {
    "default-editor".into()
}
fn key_json() -> String {
    "key.json".into()
}

fn optional_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

/// The largest step a sweep may take.
const MAX_CONCURRENCY: u32 = 64;
/// KFP's per-profile artifact-store Secret (`accesskey`, `secretkey`).
use crate::clients::s3::KFP_ARTIFACT_SECRET;

/// The steps' concurrencies: the list given, else 1, 2, 4, ... up to `max` (always ending at it).
fn steps_of(p: &Params) -> Vec<u32> {
    if let Some(list) = &p.concurrency {
        return list.clone();
    }
    let mut out = Vec::new();
    let mut c = 1;
    while c < p.max_concurrency {
        out.push(c);
        c *= 2;
    }
    out.push(p.max_concurrency);
    out
}

impl Params {
    fn check(&self) -> Result<(), String> {
        if let Some(b) = &self.bucket {
            self.target(b)?;
        } else if !matches!(self.provider.as_deref(), None | Some("gcs") | Some("s3")) {
            return Err("provider: use gcs or s3".into());
        }
        if !(1..=MAX_CONCURRENCY).contains(&self.max_concurrency) {
            return Err(format!(
                "max_concurrency must be between 1 and {MAX_CONCURRENCY}"
            ));
        }
        if let Some(list) = &self.concurrency {
            if list.is_empty() || list.len() > 16 {
                return Err("concurrency: give between 1 and 16 steps".into());
            }
            if list.windows(2).any(|w| w[0] >= w[1])
                || list.iter().any(|&c| c == 0 || c > MAX_CONCURRENCY)
            {
                return Err(format!(
                    "concurrency: steps must rise, each between 1 and {MAX_CONCURRENCY}"
                ));
            }
        }
        if self.streams == 0 || self.streams > MAX_STREAMS {
            return Err(format!("streams must be between 1 and {MAX_STREAMS}"));
        }
        let size = crate::units::parse_size(&self.object_size)?;
        if size == 0 || size > 1 << 30 {
            return Err("object_size must be between 1 byte and 1GiB".into());
        }
        crate::units::parse_size(&self.max_bytes)?;
        if !(self.seconds >= 1.0 && self.seconds <= 600.0) {
            return Err("seconds must be between 1 and 600".into());
        }
        IoMode::parse(&self.mode)?;
        if !(0.0..=1.0).contains(&self.min_gain) {
            return Err("min_gain must be between 0 and 1".into());
        }
        if self.p95_factor <= 1.0 {
            return Err("p95_factor must be above 1".into());
        }
        if !(0.0..=1.0).contains(&self.max_error_rate) {
            return Err("max_error_rate must be between 0 and 1".into());
        }
        check_network(&self.network)?;
        if self.key_file.is_some() && self.adc_dir.is_some() {
            return Err("give key_file or adc_dir, not both".into());
        }
        if self.from == Place::Container && self.adc_dir.is_some() {
            return Err("adc_dir is for from: host; a container gets key_file".into());
        }
        if self.from == Place::Pod
            && (self.key_file.is_some() || self.adc_dir.is_some() || self.s3_key_dir.is_some())
        {
            return Err(
                "a pod gets its credentials from a Secret (secret, s3_secret), not a host path"
                    .into(),
            );
        }
        if self.secret_key.contains('/') || self.secret_key.is_empty() {
            return Err(format!(
                "secret_key {:?} is not a Secret key",
                self.secret_key
            ));
        }
        Ok(())
    }

    fn target(&self, bucket: &str) -> Result<StoreTarget, String> {
        StoreTarget::from_params(
            bucket,
            self.provider.as_deref(),
            self.endpoint.clone(),
            self.key_file.clone(),
            self.adc_dir.clone(),
            self.s3_key_dir.clone(),
            self.region.clone(),
        )
    }
}

impl Kind for IoSweep {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, _: &SuiteBase) -> Result<(), String> {
        typed_params::<Params>(params)?.check()
    }

    fn needs(&self, params: &serde_json::Value) -> Vec<Need> {
        match typed_params::<Params>(params).map(|p| p.from) {
            Ok(Place::Container) => vec![Need::Docker],
            Ok(Place::Pod) => vec![Need::Kube],
            _ => Vec::new(),
        }
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let mut p: Params = cx.params()?;
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
            let target = p.target(&bucket).map_err(CheckError::Undecided)?;
            let place = Placement::new(&cx, &p, &target).await?;
            if let Some(f) = place.missing.clone() {
                let mut out = Outcome::default();
                out.findings.push(f);
                return Ok(out);
            }
            let steps = steps_of(&p);
            let per_probe_bytes = {
                let total = crate::units::parse_size(&p.max_bytes).unwrap_or(u64::MAX);
                let probes: u64 = steps.iter().map(|&c| u64::from(c)).sum();
                (total / probes.max(1)).max(1)
            };
            let mut gathered = Vec::new();
            for (i, &c) in steps.iter().enumerate() {
                let started = Instant::now();
                let lead = p.start_lead.unwrap_or_else(|| place.default_lead(c));
                let start_at = epoch_ms() + lead.as_millis() as u64;
                let runs = (0..c).map(|n| {
                    let plan = IoPlan {
                        target: target.clone(),
                        prefix: p.prefix.clone(),
                        run_id: Some(cx.run_id.to_string()),
                        scope: Some(format!("{}/c{c}-p{n}", cx.spec.id)),
                        streams: p.streams,
                        object_bytes: crate::units::parse_size(&p.object_size).unwrap_or(1),
                        seconds: p.seconds,
                        max_bytes: per_probe_bytes,
                        mode: IoMode::parse(&p.mode).unwrap_or(IoMode::Mixed),
                        start_at: Some(start_at),
                    };
                    place.run(&cx, &p, plan, i, n, lead)
                });
                let lines = futures::future::join_all(runs).await;
                let mut lines2 = Vec::with_capacity(lines.len());
                for l in lines {
                    lines2.push(l?);
                }
                let facts = StepFacts {
                    concurrency: c,
                    lines: lines2,
                    wall: started.elapsed(),
                    lead,
                };
                let stop = facts.refused().is_some() || facts.measured() == 0;
                gathered.push(facts);
                if stop {
                    break;
                }
            }
            let t = Thresholds {
                min_gain: p.min_gain,
                p95_factor: p.p95_factor,
                max_error_rate: p.max_error_rate,
                min_mb_per_s: p.min_mb_per_s,
            };
            let shape = CurveShape {
                from: p.from.as_str().into(),
                bucket: target.url(),
                mode: p.mode.clone(),
                object_bytes: crate::units::parse_size(&p.object_size).unwrap_or(0),
                streams_per_probe: p.streams,
                seconds_per_step: p.seconds,
                namespace: place.namespace(),
                probe_how: place.how.clone(),
            };
            Ok(evaluate(&shape, &gathered, &t, cx.spec.severity))
        })
    }
}

/// Where the probes run and how they are started.
struct Placement {
    from: Place,
    how: String,
    docker: Option<bollard::Docker>,
    pods: Option<(Api<Pod>, String)>,
    /// Container binds and arguments for the credentials (container and pod).
    cred_args: Vec<String>,
    binds: Vec<String>,
    env: Vec<String>,
    /// What the pods cannot run without and is missing.
    missing: Option<Finding>,
}

impl Placement {
    async fn new(
        cx: &CheckContext,
        p: &Params,
        target: &StoreTarget,
    ) -> Result<Placement, CheckError> {
        let mut pl = Placement {
            from: p.from,
            how: String::new(),
            docker: None,
            pods: None,
            cred_args: Vec::new(),
            binds: Vec::new(),
            env: Vec::new(),
            missing: None,
        };
        let s3 = target.provider() == Provider::S3;
        match p.from {
            Place::Host => {
                pl.how = "in this process, with the host's identity".into();
            }
            Place::Container => {
                pl.docker = Some(cx.docker().await?);
                pl.env = cx.storage_env();
                if let Some(k) = &p.key_file {
                    let k = std::fs::canonicalize(k).map_err(|e| {
                        CheckError::Undecided(format!("key file {}: {e}", k.display()))
                    })?;
                    pl.binds
                        .push(format!("{}:{GCS_KEY_DIR}/key.json:ro", k.display()));
                    pl.env.push(format!(
                        "GOOGLE_APPLICATION_CREDENTIALS={GCS_KEY_DIR}/key.json"
                    ));
                    pl.cred_args.push("--no-metadata".into());
                }
                if let Some(d) = &p.s3_key_dir {
                    let d = std::fs::canonicalize(d).map_err(|e| {
                        CheckError::Undecided(format!("S3 key folder {}: {e}", d.display()))
                    })?;
                    pl.binds.push(format!("{}:{S3_KEY_DIR}:ro", d.display()));
                    pl.cred_args
                        .extend(["--s3-key-dir".to_string(), S3_KEY_DIR.to_string()]);
                }
                pl.how = format!("in local containers of {}", p.image);
            }
            Place::Pod => {
                let ns = cx.profile_namespace(p.namespace.as_deref())?;
                let client = cx.kube().await?;
                pl.pods = Some((Api::namespaced(client.clone(), &ns), ns.clone()));
                pl.missing = pod_prerequisites(&client, &ns, p, s3, cx.spec.severity).await?;
                let cred = if s3 {
                    let secret = p.s3_secret.as_deref().unwrap_or(KFP_ARTIFACT_SECRET);
                    pl.cred_args
                        .extend(["--s3-key-dir".to_string(), S3_KEY_DIR.to_string()]);
                    format!("Secret {secret} mounted at {S3_KEY_DIR}")
                } else if let Some(s) = &p.secret {
                    pl.cred_args.push("--no-metadata".into());
                    format!("Secret {s} key {} mounted at {GCS_KEY_DIR}", p.secret_key)
                } else {
                    "its own identity".into()
                };
                pl.how = format!(
                    "in pods in {ns} as service account {}, {cred}",
                    p.service_account
                );
            }
        }
        Ok(pl)
    }

    fn namespace(&self) -> Option<String> {
        self.pods.as_ref().map(|(_, ns)| ns.clone())
    }

    fn default_lead(&self, c: u32) -> Duration {
        match self.from {
            Place::Host => Duration::from_millis(500),
            Place::Container => Duration::from_millis(2000 + 300 * u64::from(c)),
            Place::Pod => Duration::from_secs(15 + u64::from(c)),
        }
    }

    /// One probe of step `step`: its line, or why there is none.
    async fn run(
        &self,
        cx: &CheckContext,
        p: &Params,
        plan: IoPlan,
        step: usize,
        n: u32,
        lead: Duration,
    ) -> Result<ProbeLine, CheckError> {
        if self.from == Place::Host {
            let (_, line) = io(&plan).await;
            return Ok(ProbeLine::Line(line));
        }
        let mut args = vec![
            "probe".to_string(),
            "io".into(),
            "--bucket".into(),
            plan.target.url(),
            "--prefix".into(),
            plan.prefix.clone(),
            "--run-id".into(),
            plan.run_id.clone().unwrap_or_default(),
            "--scope".into(),
            plan.scope.clone().unwrap_or_default(),
            "--streams".into(),
            plan.streams.to_string(),
            "--object-size".into(),
            plan.object_bytes.to_string(),
            "--seconds".into(),
            plan.seconds.to_string(),
            "--max-bytes".into(),
            plan.max_bytes.to_string(),
            "--mode".into(),
            p.mode.clone(),
        ];
        if let Some(at) = plan.start_at {
            args.extend(["--start-at".to_string(), at.to_string()]);
        }
        if let Some(e) = &plan.target.endpoint {
            args.extend(["--endpoint".to_string(), e.clone()]);
        }
        if let Some(r) = &plan.target.region {
            args.extend(["--region".to_string(), r.clone()]);
        }
        args.extend(self.cred_args.iter().cloned());
        // Long enough for the start lead, the window, the cleanup and a slow start.
        let timeout = lead + Duration::from_secs_f64(plan.seconds) + Duration::from_secs(90);
        let name = format!("io-{step}-{n}");
        if let Some(docker) = &self.docker {
            let spec = Spec {
                image: p.image.clone(),
                cmd: Some(args),
                env: self.env.clone(),
                binds: self.binds.clone(),
                network: Some(p.network.clone()),
                ..Spec::default()
            };
            let ran = run_labelled(&cx.door(name), docker, spec, timeout, p.pull).await?;
            return Ok(match container::probe_line(&ran.logs) {
                Some(l) => ProbeLine::Line(l),
                None if ran.timed_out => {
                    ProbeLine::Missing(format!("container timed out after {}s", timeout.as_secs()))
                }
                None => ProbeLine::Missing(format!(
                    "container exited {} with no result line: {}",
                    ran.exit_code.unwrap_or(-1),
                    crate::clients::redact::tail(&ran.logs, 5, 500)
                )),
            });
        }
        let Some((pods, ns)) = &self.pods else {
            return Err(CheckError::Undecided("kfcheck bug: no place to run".into()));
        };
        let pod_name = owned::object_name(&name, &cx.spec.id, &cx.run_id);
        let pod = probe_pod(&pod_name, p, args, cx, timeout, plan.target.provider())
            .map_err(CheckError::Undecided)?;
        let run = run_probe_pod(cx, pods.clone(), ns, &pod_name, &pod, timeout, "io probe").await?;
        if !run.ran {
            return Ok(ProbeLine::Missing(format!(
                "pod {} did not start: {}",
                run.shown, run.state
            )));
        }
        Ok(match container::probe_line(&run.logs) {
            Some(l) => ProbeLine::Line(l),
            None => ProbeLine::Missing(format!(
                "pod {} on {} printed no result line ({})",
                run.shown,
                run.node(),
                run.state
            )),
        })
    }
}

/// The service account the probe pods run as and the Secret they mount, asked for before any
/// pod is made: admission refuses a pod whose account is missing with a 403 that reads like a
/// permission problem, and a pod whose Secret is missing never starts.
async fn pod_prerequisites(
    client: &kube::Client,
    ns: &str,
    p: &Params,
    s3: bool,
    severity: Severity,
) -> Result<Option<Finding>, CheckError> {
    use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let sa = &p.service_account;
    match accounts.get_opt(sa).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return Ok(Some(Finding::new(
                "io-service-account-missing",
                severity,
                Subject::new("serviceaccount", format!("{ns}/{sa}")),
                RULES[6].summary,
                vec![
                    Evidence::new("service account", format!("{ns}/{sa} not found"))
                        .expected("the identity pipeline steps run as"),
                ],
                RULES[6].fix,
            )))
        }
        Err(e) => return Err(kube_error(&e, &format!("get serviceaccount {ns}/{sa}"))),
    }
    let (secret, keys): (&str, Vec<&str>) = if s3 {
        (
            p.s3_secret.as_deref().unwrap_or(KFP_ARTIFACT_SECRET),
            vec!["accesskey", "secretkey"],
        )
    } else if let Some(s) = &p.secret {
        (s.as_str(), vec![p.secret_key.as_str()])
    } else {
        return Ok(None);
    };
    let secrets: Api<Secret> = Api::namespaced(client.clone(), ns);
    let found = secrets
        .get_opt(secret)
        .await
        .map_err(|e| kube_error(&e, &format!("get secret {ns}/{secret}")))?;
    let seen = match found {
        None => format!("Secret {ns}/{secret} does not exist"),
        Some(found) => {
            let has = |k: &str| {
                found.data.as_ref().is_some_and(|d| d.contains_key(k))
                    || found
                        .string_data
                        .as_ref()
                        .is_some_and(|d| d.contains_key(k))
            };
            let lacking: Vec<&str> = keys.iter().copied().filter(|k| !has(k)).collect();
            if lacking.is_empty() {
                return Ok(None);
            }
            format!("Secret {ns}/{secret} has no key {}", lacking.join(", "))
        }
    };
    Ok(Some(Finding::new(
        "io-secret-missing",
        severity,
        Subject::new("secret", format!("{ns}/{secret}")),
        RULES[7].summary,
        vec![Evidence::new("secret", seen).expected(format!("keys {}", keys.join(", ")))],
        RULES[7].fix,
    )))
}

/// A probe pod of the sweep: the pipelines' identity, credentials as steps get them, spread
/// over nodes with the other probes of its run, never restarted, bounded in time.
fn probe_pod(
    name: &str,
    p: &Params,
    args: Vec<String>,
    cx: &CheckContext,
    timeout: Duration,
    provider: Provider,
) -> Result<Pod, String> {
    let labels = owned::labels(&cx.run_id, &cx.spec.id);
    let s3 =
        (provider == Provider::S3).then(|| p.s3_secret.as_deref().unwrap_or(KFP_ARTIFACT_SECRET));
    let gcs = p.secret.as_deref().map(|s| (s, p.secret_key.as_str()));
    let (mut env, mounts, volumes) = key_volumes(s3, gcs);
    env.extend(p.env.iter().map(|(k, v)| json!({"name": k, "value": v})));
    let selector: BTreeMap<&str, &str> = BTreeMap::from([
        (owned::RUN_ID_KEY, &*cx.run_id),
        (
            owned::CHECK_KEY,
            labels.get(owned::CHECK_KEY).map_or("", String::as_str),
        ),
    ]);
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
        deadline: timeout,
        resources: json!({"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "512Mi"}}),
        // The sweep's pods spread over nodes, as IO-heavy steps of a pipeline would.
        extra_spec: json!({"topologySpreadConstraints": [{
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": {"matchLabels": selector},
        }]}),
    }
    .build()
}

/// One probe's result: its line, or why it printed none.
#[derive(Debug, Clone)]
pub(crate) enum ProbeLine {
    Line(Value),
    Missing(String),
}

/// What one step gathered.
#[derive(Debug, Clone)]
pub(crate) struct StepFacts {
    pub concurrency: u32,
    pub lines: Vec<ProbeLine>,
    /// The step's wall time, start lead included.
    pub wall: Duration,
    pub lead: Duration,
}

impl StepFacts {
    fn measured_lines(&self) -> impl Iterator<Item = &Value> {
        self.lines.iter().filter_map(|l| match l {
            ProbeLine::Line(v) if v["bytes"].as_u64().is_some_and(|b| b > 0) => Some(v),
            _ => None,
        })
    }

    fn measured(&self) -> u32 {
        self.measured_lines().count() as u32
    }

    /// The first probe line that says storage refused the identity.
    fn refused(&self) -> Option<&Value> {
        self.lines.iter().find_map(|l| match l {
            ProbeLine::Line(v) if v["status"] == "failed" => Some(v),
            _ => None,
        })
    }

    /// The aggregate of the probes that measured.
    fn step(&self, seconds: f64) -> IoStep {
        let lines: Vec<&Value> = self.measured_lines().collect();
        let f = |v: &Value, ptr: &str| v.pointer(ptr).and_then(Value::as_f64).unwrap_or(0.0);
        let u = |v: &Value, ptr: &str| v.pointer(ptr).and_then(Value::as_u64).unwrap_or(0);
        let mb: f64 = lines.iter().map(|v| f(v, "/mb_per_s")).sum();
        let p95 = lines
            .iter()
            .flat_map(|v| ["/ops/write/p95_ms", "/ops/read/p95_ms"].map(|p| f(v, p)))
            .fold(0.0, f64::max);
        let requests: u64 = lines.iter().map(|v| u(v, "/requests")).sum();
        let failed: f64 = lines
            .iter()
            .map(|v| f(v, "/error_rate") * u(v, "/requests") as f64)
            .sum();
        let measured = lines.len() as u32;
        let round = |x: f64, d: f64| (x * d).round() / d;
        let window = Duration::from_secs_f64(seconds) + self.lead;
        IoStep {
            concurrency: self.concurrency,
            probes_measured: measured,
            mb_per_s: round(mb, 100.0),
            mb_per_s_per_probe: round(mb / f64::from(measured.max(1)), 100.0),
            p95_ms: round(p95, 10.0),
            error_rate: if requests == 0 {
                0.0
            } else {
                round(failed / requests as f64, 10_000.0)
            },
            throttled_429: lines.iter().map(|v| u(v, "/throttled/429")).sum(),
            throttled_503: lines.iter().map(|v| u(v, "/throttled/503")).sum(),
            throttled_per_object: lines.iter().map(|v| u(v, "/throttled/per_object")).sum(),
            bytes: lines.iter().map(|v| u(v, "/bytes")).sum(),
            overhead_ms: self.wall.saturating_sub(window).as_millis() as u64,
        }
    }
}

/// Where the knee is called.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Thresholds {
    pub min_gain: f64,
    pub p95_factor: f64,
    pub max_error_rate: f64,
    pub min_mb_per_s: Option<f64>,
}

/// The first step past the knee, and why: errors or throttling over the limit, p95 latency over
/// the factor of the one-probe step's, or added throughput under `min_gain` of what linear scaling
/// from the step before would add.
pub(crate) fn knee(steps: &[IoStep], t: &Thresholds) -> Option<(usize, KneeReason)> {
    let base = steps.first()?;
    for (i, s) in steps.iter().enumerate() {
        if s.error_rate > t.max_error_rate {
            return Some((i, KneeReason::Errors));
        }
        let Some(prev) = i.checked_sub(1).map(|j| &steps[j]) else {
            continue;
        };
        if base.p95_ms > 0.0 && s.p95_ms > t.p95_factor * base.p95_ms {
            return Some((i, KneeReason::Latency));
        }
        let linear = prev.mb_per_s * (f64::from(s.concurrency) / f64::from(prev.concurrency) - 1.0);
        if linear > 0.0 && s.mb_per_s - prev.mb_per_s < t.min_gain * linear {
            return Some((i, KneeReason::Throughput));
        }
    }
    None
}

/// The sweep's settings, as the curve and the findings show them.
#[derive(Debug, Clone)]
pub(crate) struct CurveShape {
    pub from: String,
    pub bucket: String,
    pub mode: String,
    pub object_bytes: u64,
    pub streams_per_probe: u32,
    pub seconds_per_step: f64,
    pub namespace: Option<String>,
    pub probe_how: String,
}

pub(crate) fn evaluate(
    shape: &CurveShape,
    gathered: &[StepFacts],
    t: &Thresholds,
    severity: Severity,
) -> Outcome {
    let mut out = Outcome::default();
    let subject = Subject::new("bucket", shape.bucket.clone());
    let mut steps: Vec<IoStep> = Vec::new();
    for g in gathered {
        if let Some(v) = g.refused() {
            let s = |p: &str| {
                v.pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string()
            };
            out.findings.push(Finding::new(
                "io-storage-refused",
                severity,
                subject.clone(),
                "storage refused the sweep's identity",
                vec![
                    Evidence::new("probes", shape.probe_how.clone()),
                    Evidence::new("identity", s("/credentials/identity")),
                    Evidence::new("credentials", s("/credentials/source")),
                    Evidence::new(
                        "error",
                        format!("{}: {}", s("/error/class"), s("/error/message")),
                    ),
                ],
                RULES[4].fix,
            ));
        }
        let missing: Vec<String> = g
            .lines
            .iter()
            .filter_map(|l| match l {
                ProbeLine::Missing(why) => Some(why.clone()),
                ProbeLine::Line(v)
                    if v["bytes"].as_u64().unwrap_or(0) == 0 && v["status"] != "failed" =>
                {
                    Some(format!(
                        "probe measured nothing ({}: {})",
                        v.pointer("/error/class")
                            .and_then(Value::as_str)
                            .unwrap_or("no-progress"),
                        v.pointer("/error/message")
                            .and_then(Value::as_str)
                            .unwrap_or("")
                    ))
                }
                _ => None,
            })
            .collect();
        if !missing.is_empty() {
            out.problems.push(Problem {
                subject: subject.clone(),
                message: format!(
                    "{} of {} probe(s) at concurrency {} gave no figures: {}",
                    missing.len(),
                    g.concurrency,
                    g.concurrency,
                    missing.join("; ")
                ),
            });
        }
        if g.measured() > 0 && g.refused().is_none() {
            steps.push(g.step(shape.seconds_per_step));
        }
    }
    if !out.findings.is_empty() {
        return out;
    }
    if steps.is_empty() {
        if out.problems.is_empty() {
            out.problems.push(Problem {
                subject,
                message: "the sweep measured no step".into(),
            });
        }
        return out;
    }
    // A step where some probes gave no figures is not comparable: the curve stops before it.
    let comparable = gathered
        .iter()
        .take_while(|g| g.measured() == g.concurrency && g.refused().is_none())
        .count()
        .min(steps.len());
    let curve_steps = &steps[..comparable.max(1).min(steps.len())];
    let found = knee(curve_steps, t);
    let recommended = match found {
        Some((0, _)) => None,
        Some((i, _)) => Some(curve_steps[i - 1].concurrency),
        None => None,
    };
    let curve = IoCurve {
        from: shape.from.clone(),
        bucket: shape.bucket.clone(),
        mode: shape.mode.clone(),
        object_bytes: shape.object_bytes,
        streams_per_probe: shape.streams_per_probe,
        seconds_per_step: shape.seconds_per_step,
        steps: steps.clone(),
        knee_at: found.map(|(i, _)| curve_steps[i].concurrency),
        knee_reason: found.map(|(_, r)| r),
        recommended_limit: recommended,
    };
    for s in &steps {
        out.notes.push(format!(
            "{:>3} probe(s): {:>9.2} MB/s ({:.2} a probe), p95 {:.1} ms, errors {:.2}%, 429 {}, 503 {}; {} ms outside the window",
            s.concurrency,
            s.mb_per_s,
            s.mb_per_s_per_probe,
            s.p95_ms,
            s.error_rate * 100.0,
            s.throttled_429,
            s.throttled_503,
            s.overhead_ms
        ));
    }
    let curve_text = steps
        .iter()
        .map(|s| format!("{}: {:.2} MB/s", s.concurrency, s.mb_per_s))
        .collect::<Vec<_>>()
        .join(", ");
    let throttled: Vec<String> = steps
        .iter()
        .filter(|s| s.throttled_429 + s.throttled_503 > 0)
        .map(|s| {
            format!(
                "at {}: {} x 429, {} x 503 ({} of them one object's rate limit)",
                s.concurrency, s.throttled_429, s.throttled_503, s.throttled_per_object
            )
        })
        .collect();
    if !throttled.is_empty() {
        out.findings.push(Finding::new(
            "io-throttled",
            Severity::Warning,
            subject.clone(),
            "storage throttled the probes",
            vec![
                Evidence::new("throttled", throttled.join("; ")),
                Evidence::new("probes", shape.probe_how.clone()),
            ],
            RULES[2].fix,
        ));
    }
    match (found, recommended) {
        (Some((0, reason)), _) => out.findings.push(Finding::new(
            "io-errors-at-one-probe",
            severity,
            subject.clone(),
            "one probe alone already meets errors or throttling",
            vec![
                Evidence::new(
                    "error rate",
                    format!("{:.2}%", curve_steps[0].error_rate * 100.0),
                )
                .expected(format!("at most {:.2}%", t.max_error_rate * 100.0)),
                Evidence::new("reason", reason.as_str()),
                Evidence::new("probes", shape.probe_how.clone()),
            ],
            RULES[3].fix,
        )),
        (Some((i, reason)), Some(n)) => {
            let s = &curve_steps[i];
            let why =
                match reason {
                    KneeReason::Throughput => format!(
                    "{} probes moved {:.2} MB/s, {:.2} at {}: less than {:.0}% of linear scaling",
                    s.concurrency, s.mb_per_s, curve_steps[i - 1].mb_per_s, n, t.min_gain * 100.0
                ),
                    KneeReason::Latency => format!(
                        "p95 {:.1} ms at {} probes against {:.1} ms for one (limit x{})",
                        s.p95_ms, s.concurrency, curve_steps[0].p95_ms, t.p95_factor
                    ),
                    KneeReason::Errors => format!(
                        "{:.2}% of requests failed or were throttled at {} probes (limit {:.2}%)",
                        s.error_rate * 100.0,
                        s.concurrency,
                        t.max_error_rate * 100.0
                    ),
                };
            let ns = shape.namespace.as_deref().unwrap_or("PROFILE");
            out.findings.push(Finding::new(
                "io-heavy-pod-limit",
                Severity::Info,
                subject.clone(),
                "recommended limit on io-heavy pods",
                vec![
                    Evidence::new(
                        "recommended limit",
                        format!(
                            "{n} IO-heavy pods at once, about {:.2} MB/s each",
                            curve_steps[i - 1].mb_per_s_per_probe
                        ),
                    ),
                    Evidence::new("knee", why),
                    Evidence::new("curve", curve_text.clone()),
                    Evidence::new("kfp", kfp_snippet(n)),
                    Evidence::new("argo", argo_snippet(n, ns)),
                    Evidence::new("quota", quota_snippet(n, ns)),
                ],
                RULES[0].fix,
            ));
        }
        _ => out.findings.push(Finding::new(
            "io-no-knee",
            Severity::Info,
            subject.clone(),
            "bucket throughput still scaled at the largest step",
            vec![Evidence::new("curve", curve_text.clone())],
            RULES[1].fix,
        )),
    }
    if let Some(min) = t.min_mb_per_s {
        let best = steps.iter().map(|s| s.mb_per_s).fold(0.0, f64::max);
        if best < min {
            out.findings.push(Finding::new(
                "io-below-minimum",
                severity,
                subject,
                "aggregate throughput stays below the set minimum",
                vec![Evidence::new("best", format!("{best:.2} MB/s"))
                    .expected(format!("at least {min:.2} MB/s"))],
                RULES[5].fix,
            ));
        }
    }
    out.figures = Some(json!({ "io_sweep": curve }));
    out
}

/// KFP: a ParallelFor that runs at most `n` of its iterations at once.
pub(crate) fn kfp_snippet(n: u32) -> String {
    format!(
        "# at most {n} IO-heavy steps at once (kfcheck io-sweep)\nwith dsl.ParallelFor(items=shards, parallelism={n}) as shard:\n    io_heavy_step(shard=shard)"
    )
}

/// Argo: a Workflow's own parallelism, and a semaphore that IO-heavy templates of every
/// Workflow in the namespace hold.
pub(crate) fn argo_snippet(n: u32, ns: &str) -> String {
    format!(
        "# one Workflow: spec.parallelism: {n}\n# every Workflow in {ns}: IO-heavy templates hold this semaphore\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: kfcheck-io-limit\n  namespace: {ns}\ndata:\n  io-heavy: \"{n}\"\n---\n# in each IO-heavy template:\n#   synchronization:\n#     semaphores:\n#       - configMapKeyRef: {{name: kfcheck-io-limit, key: io-heavy}}"
    )
}

/// A ResourceQuota on a counted extended resource that IO-heavy pods request one of.
pub(crate) fn quota_snippet(n: u32, ns: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ResourceQuota\nmetadata:\n  name: kfcheck-io-heavy\n  namespace: {ns}\nspec:\n  hard:\n    requests.kfcheck.io/io-heavy: \"{n}\"\n# IO-heavy pods request one: resources: {{requests: {{kfcheck.io/io-heavy: 1}}, limits: {{kfcheck.io/io-heavy: 1}}}}\n# nodes advertise it once: add kfcheck.io/io-heavy (e.g. 1000) to each node's status.capacity"
    )
}

fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(mb: f64, p95: f64, requests: u64, error_rate: f64, t429: u64) -> ProbeLine {
        ProbeLine::Line(json!({
            "probe": "io", "status": "passed", "bytes": (mb * 10e6) as u64, "mb_per_s": mb,
            "requests": requests, "error_rate": error_rate,
            "ops": {"write": {"p95_ms": p95}, "read": {"p95_ms": p95 / 2.0}},
            "throttled": {"429": t429, "503": 0, "per_object": 0},
        }))
    }

    fn facts(c: u32, per_probe: f64, p95: f64) -> StepFacts {
        StepFacts {
            concurrency: c,
            lines: (0..c).map(|_| line(per_probe, p95, 100, 0.0, 0)).collect(),
            wall: Duration::from_secs(12),
            lead: Duration::from_secs(1),
        }
    }

    fn shape() -> CurveShape {
        CurveShape {
            from: "host".into(),
            bucket: "s3://b".into(),
            mode: "mixed".into(),
            object_bytes: 4 << 20,
            streams_per_probe: 1,
            seconds_per_step: 10.0,
            namespace: Some("team-a".into()),
            probe_how: "in this process".into(),
        }
    }

    const T: Thresholds = Thresholds {
        min_gain: 0.5,
        p95_factor: 3.0,
        max_error_rate: 0.05,
        min_mb_per_s: None,
    };

    fn curve(o: &Outcome) -> IoCurve {
        serde_json::from_value(o.figures.as_ref().unwrap()["io_sweep"].clone()).unwrap()
    }

    #[test]
    fn a_bandwidth_cap_gives_the_last_step_before_it_as_the_limit() {
        // 10 MB/s a probe, 40 MB/s in all: 4 probes fill it, 8 add nothing.
        let g = vec![
            facts(1, 10.0, 100.0),
            facts(2, 10.0, 100.0),
            facts(4, 10.0, 110.0),
            facts(8, 5.0, 210.0),
        ];
        let o = evaluate(&shape(), &g, &T, Severity::Error);
        let c = curve(&o);
        assert_eq!(c.knee_at, Some(8));
        assert_eq!(c.knee_reason, Some(KneeReason::Throughput));
        assert_eq!(c.recommended_limit, Some(4));
        let f = &o.findings[0];
        assert_eq!(f.rule, "io-heavy-pod-limit");
        assert_eq!(f.severity, Severity::Info);
        let ev = |k: &str| {
            f.evidence
                .iter()
                .find(|e| e.key == k)
                .unwrap()
                .observed
                .clone()
        };
        assert!(
            ev("recommended limit").starts_with("4 IO-heavy pods"),
            "{f:?}"
        );
        assert!(ev("kfp").contains("parallelism=4"));
        assert!(ev("argo").contains("io-heavy: \"4\"") && ev("argo").contains("namespace: team-a"));
        assert!(ev("quota").contains("requests.kfcheck.io/io-heavy: \"4\""));
        assert_eq!(c.steps[3].mb_per_s, 40.0);
        assert_eq!(c.steps[3].mb_per_s_per_probe, 5.0);
        assert_eq!(c.steps[0].overhead_ms, 1000);
        assert_eq!(o.notes.len(), 4);
        assert!(o.problems.is_empty());
    }

    #[test]
    fn a_store_that_keeps_scaling_has_no_knee_and_no_limit() {
        let g = vec![
            facts(1, 10.0, 100.0),
            facts(2, 9.5, 100.0),
            facts(4, 9.0, 120.0),
        ];
        let o = evaluate(&shape(), &g, &T, Severity::Error);
        let c = curve(&o);
        assert_eq!((c.knee_at, c.recommended_limit), (None, None));
        assert_eq!(o.findings[0].rule, "io-no-knee");
    }

    #[test]
    fn latency_and_errors_call_the_knee_too() {
        let g = vec![
            facts(1, 10.0, 100.0),
            facts(2, 10.0, 100.0),
            facts(4, 10.0, 400.0),
        ];
        let c = curve(&evaluate(&shape(), &g, &T, Severity::Error));
        assert_eq!(
            (c.knee_at, c.knee_reason),
            (Some(4), Some(KneeReason::Latency))
        );
        assert_eq!(c.recommended_limit, Some(2));

        let mut g = vec![facts(1, 10.0, 100.0), facts(2, 10.0, 100.0)];
        g[1].lines = (0..2).map(|_| line(10.0, 100.0, 100, 0.2, 20)).collect();
        let o = evaluate(&shape(), &g, &T, Severity::Error);
        let c = curve(&o);
        assert_eq!(
            (c.knee_at, c.knee_reason),
            (Some(2), Some(KneeReason::Errors))
        );
        assert_eq!(c.recommended_limit, Some(1));
        assert_eq!(c.steps[1].throttled_429, 40);
        assert_eq!(c.steps[1].error_rate, 0.2);
        let rules: Vec<&str> = o.findings.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(rules, ["io-throttled", "io-heavy-pod-limit"]);
    }

    #[test]
    fn errors_at_one_probe_fail_and_recommend_nothing() {
        let g = vec![StepFacts {
            concurrency: 1,
            lines: vec![line(1.0, 100.0, 100, 0.3, 30)],
            wall: Duration::from_secs(11),
            lead: Duration::from_secs(1),
        }];
        let o = evaluate(&shape(), &g, &T, Severity::Error);
        assert_eq!(curve(&o).recommended_limit, None);
        assert!(o
            .findings
            .iter()
            .any(|f| f.rule == "io-errors-at-one-probe" && f.severity == Severity::Error));
    }

    #[test]
    fn a_refusal_is_a_finding_and_a_missing_probe_is_undecided() {
        let refused = StepFacts {
            concurrency: 1,
            lines: vec![ProbeLine::Line(
                json!({"status": "failed", "bytes": 0, "error": {"class": "denied", "message": "AccessDenied on write"}, "credentials": {"identity": "key KF1", "source": "the key pair in /k"}}),
            )],
            wall: Duration::from_secs(1),
            lead: Duration::ZERO,
        };
        let o = evaluate(&shape(), &[refused], &T, Severity::Error);
        assert_eq!(o.findings[0].rule, "io-storage-refused");
        assert!(o.findings[0]
            .evidence
            .iter()
            .any(|e| e.observed.contains("denied: AccessDenied")));
        assert!(o.figures.is_none());

        let mut g = vec![facts(1, 10.0, 100.0), facts(2, 10.0, 100.0)];
        g[1].lines[1] = ProbeLine::Missing("pod did not start".into());
        let o = evaluate(&shape(), &g, &T, Severity::Error);
        assert_eq!(o.problems.len(), 1, "{:?}", o.problems);
        assert!(o.problems[0]
            .message
            .contains("1 of 2 probe(s) at concurrency 2"));
        // The partial step is shown but the knee is only looked for where every probe measured.
        let c = curve(&o);
        assert_eq!(c.steps.len(), 2);
        assert_eq!(c.knee_at, None);

        let none = StepFacts {
            concurrency: 1,
            lines: vec![ProbeLine::Missing("container exited 3".into())],
            wall: Duration::from_secs(1),
            lead: Duration::ZERO,
        };
        let o = evaluate(&shape(), &[none], &T, Severity::Error);
        assert!(o.findings.is_empty() && !o.problems.is_empty() && o.figures.is_none());
    }

    #[test]
    fn a_minimum_throughput_is_checked_against_the_best_step() {
        let t = Thresholds {
            min_mb_per_s: Some(50.0),
            ..T
        };
        let g = vec![facts(1, 10.0, 100.0), facts(2, 10.0, 100.0)];
        let o = evaluate(&shape(), &g, &t, Severity::Error);
        assert!(o.findings.iter().any(|f| f.rule == "io-below-minimum"));
        let t = Thresholds {
            min_mb_per_s: Some(20.0),
            ..T
        };
        let o = evaluate(&shape(), &g, &t, Severity::Error);
        assert!(!o.findings.iter().any(|f| f.rule == "io-below-minimum"));
    }

    #[test]
    fn steps_and_parameters() {
        let p = |v: Value| typed_params::<Params>(&v).and_then(|p| p.check().map(|_| p));
        assert_eq!(steps_of(&p(json!({})).unwrap()), [1, 2, 4, 8]);
        assert_eq!(
            steps_of(&p(json!({"max_concurrency": 6})).unwrap()),
            [1, 2, 4, 6]
        );
        assert_eq!(steps_of(&p(json!({"max_concurrency": 1})).unwrap()), [1]);
        assert_eq!(
            steps_of(&p(json!({"concurrency": [1, 3, 5]})).unwrap()),
            [1, 3, 5]
        );
        for bad in [
            json!({"max_concurrency": 65}),
            json!({"concurrency": [2, 1]}),
            json!({"concurrency": []}),
            json!({"streams": 0}),
            json!({"object_size": "2GiB"}),
            json!({"seconds": 0.5}),
            json!({"mode": "random"}),
            json!({"min_gain": 2}),
            json!({"p95_factor": 1}),
            json!({"bucket": "ftp://x"}),
            json!({"from": "pod", "key_file": "k.json"}),
            json!({"from": "container", "adc_dir": "d"}),
            json!({"from": "cloud"}),
            json!({"unknown": 1}),
        ] {
            assert!(p(bad.clone()).is_err(), "{bad}");
        }
        assert_eq!(IoSweep.needs(&json!({"from": "pod"})), [Need::Kube]);
        assert_eq!(IoSweep.needs(&json!({"from": "container"})), [Need::Docker]);
        assert!(IoSweep.needs(&json!({})).is_empty());
    }

    #[test]
    fn the_enforcement_snippets_are_valid_kubernetes_objects() {
        use k8s_openapi::api::core::v1::{ConfigMap, ResourceQuota};
        let docs = |s: &str| -> Vec<serde_yaml_ng::Value> {
            s.split("\n---\n")
                .map(|d| serde_yaml_ng::from_str(d).unwrap())
                .filter(|v: &serde_yaml_ng::Value| !v.is_null())
                .collect()
        };
        let cm: ConfigMap =
            serde_yaml_ng::from_value(docs(&argo_snippet(3, "ns"))[0].clone()).unwrap();
        assert_eq!(cm.data.unwrap()["io-heavy"], "3");
        let q: ResourceQuota =
            serde_yaml_ng::from_value(docs(&quota_snippet(3, "ns"))[0].clone()).unwrap();
        assert_eq!(
            q.spec.unwrap().hard.unwrap()["requests.kfcheck.io/io-heavy"].0,
            "3"
        );
    }
}
