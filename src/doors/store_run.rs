//! Bucket work that runs the same wherever it runs: the round trip (list, write under
//! `PREFIX/RUN-ID/SCOPE/`, read back and compare, delete, timed per step) and the IO streams
//! (parallel writers and readers for a set time, throughput, latency percentiles, 429 and 503
//! counted apart). `kfcheck probe storage|io` runs them in a container or a pod; the kinds run
//! them in-process for the host's own identity. Either way the result is the same JSON line, so
//! it is judged once (`storage_probe`).

use crate::clients::bucket::{Provider, Store};
use crate::clients::gcs::{GcsClient, Options};
use crate::clients::s3::{S3Client, S3Options};
use crate::clients::store::{Retry, StoreError};
use crate::model::{ms, ProbeStatus};
use crate::units::parse_size;
use bytes::Bytes;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Which bucket, through which protocol, as which identity.
#[derive(Debug, Clone, Default)]
pub struct StoreTarget {
    /// The bucket's name (no scheme).
    pub bucket: String,
    pub provider: Option<Provider>,
    /// An explicit endpoint (keeps authentication).
    pub endpoint: Option<String>,
    /// GCS: a service-account key file.
    pub key_file: Option<PathBuf>,
    /// GCS: a gcloud configuration folder holding application_default_credentials.json.
    pub adc_dir: Option<PathBuf>,
    /// GCS: do not ask the metadata server.
    pub no_metadata: bool,
    /// S3: a folder with `accesskey` and `secretkey` (a mounted Secret).
    pub s3_key_dir: Option<PathBuf>,
    /// S3: explicit keys (kfcheck read them from a Secret), with where they came from.
    pub s3_keys: Option<(
        crate::clients::http::Secret,
        crate::clients::http::Secret,
        String,
    )>,
    pub region: Option<String>,
}

impl StoreTarget {
    /// `gs://b`, `s3://b`, `minio://b` or a bare name (then `provider`, default GCS).
    pub fn parse_bucket(
        raw: &str,
        provider: Option<Provider>,
    ) -> Result<(String, Provider), String> {
        let (p, rest) = match Provider::of_url(raw) {
            Some((p, rest)) => (p, rest),
            None if raw.contains("://") => {
                return Err(format!(
                    "bucket {raw}: unknown scheme (use gs://, s3:// or minio://)"
                ))
            }
            None => (provider.unwrap_or(Provider::Gcs), raw),
        };
        if let Some(want) = provider {
            if want != p {
                return Err(format!(
                    "bucket {raw} is {} but the provider asked for is {}",
                    p.scheme(),
                    want.scheme()
                ));
            }
        }
        let name = rest.trim_end_matches('/');
        if name.is_empty() || name.contains('/') {
            return Err(format!(
                "bucket {raw}: give the bucket's name only (objects go under --prefix)"
            ));
        }
        Ok((name.to_string(), p))
    }

    /// A target from a check's parameters: the bucket URL (or a name and `provider`, `gcs` or
    /// `s3`) and the host-side identity. A key file or ADC folder means no metadata server.
    pub fn from_params(
        bucket: &str,
        provider: Option<&str>,
        endpoint: Option<String>,
        key_file: Option<PathBuf>,
        adc_dir: Option<PathBuf>,
        s3_key_dir: Option<PathBuf>,
        region: Option<String>,
    ) -> Result<StoreTarget, String> {
        let provider = match provider {
            None => None,
            Some("gcs") => Some(Provider::Gcs),
            Some("s3") => Some(Provider::S3),
            Some(o) => return Err(format!("provider {o:?}: use gcs or s3")),
        };
        if key_file.is_some() && adc_dir.is_some() {
            return Err("give key_file or adc_dir, not both".into());
        }
        let (bucket, provider) = StoreTarget::parse_bucket(bucket, provider)?;
        Ok(StoreTarget {
            bucket,
            provider: Some(provider),
            endpoint,
            no_metadata: key_file.is_some() || adc_dir.is_some(),
            key_file,
            adc_dir,
            s3_key_dir,
            region,
            ..StoreTarget::default()
        })
    }

    pub fn provider(&self) -> Provider {
        self.provider.unwrap_or(Provider::Gcs)
    }

    /// `gs://bucket` or `s3://bucket`.
    pub fn url(&self) -> String {
        format!("{}://{}", self.provider().scheme(), self.bucket)
    }

    /// The client, with `retry` (the IO streams count throttling instead of retrying it).
    pub async fn connect(&self, retry: Retry) -> Result<Store, StoreError> {
        match self.provider() {
            Provider::Gcs => {
                let mut o = Options::from_env();
                o.endpoint = self.endpoint.clone();
                o.no_metadata = self.no_metadata;
                o.retry = retry;
                if self.key_file.is_some() {
                    o.key_file = self.key_file.clone();
                }
                if let Some(dir) = &self.adc_dir {
                    o.adc_file = None;
                    o.gcloud_dir = Some(dir.clone());
                }
                GcsClient::connect(&o).await.map(Store::Gcs)
            }
            Provider::S3 => {
                let mut o = S3Options::from_env();
                if self.endpoint.is_some() {
                    o.endpoint = self.endpoint.clone();
                }
                if self.region.is_some() {
                    o.region = self.region.clone();
                }
                o.key_dir = self.s3_key_dir.clone();
                if let Some((a, s, from)) = &self.s3_keys {
                    o.access_key = Some(a.clone());
                    o.secret_key = Some(s.clone());
                    o.session_token = None;
                    o.key_source = Some(from.clone());
                }
                o.retry = retry;
                S3Client::connect(&o).map(Store::S3)
            }
        }
    }
}

/// Bytes that differ per position, so a truncated or shifted read cannot compare equal.
pub(crate) fn payload(len: usize, seed: u64) -> Bytes {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut v = Vec::with_capacity(len);
    while v.len() < len {
        // xorshift64: cheap, deterministic, not all one byte.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes()[..(len - v.len()).min(8)]);
    }
    Bytes::from(v)
}

fn error_json(e: &StoreError) -> Value {
    json!({"class": e.class(), "message": e.to_string()})
}

/// Refusals and missing or unusable credentials are decisions (failed): this identity cannot
/// reach the bucket. Anything that kept the probe from asking at all (storage unreachable, an
/// unexpected answer, throttling) is errored.
pub(crate) fn status_for(e: &StoreError) -> ProbeStatus {
    match e {
        StoreError::NoCredentials(_)
        | StoreError::BadCredentials { .. }
        | StoreError::Token { .. }
        | StoreError::Unauthenticated { .. }
        | StoreError::Denied { .. }
        | StoreError::BucketMissing { .. } => ProbeStatus::Failed,
        _ => ProbeStatus::Errored,
    }
}

/// Objects go under PREFIX/RUN-ID/ and SCOPE/ when given; `run_id` is made up when absent
/// (pid 1 in every container would collide).
pub fn object_prefix(prefix: &str, run_id: &str, scope: Option<&str>) -> String {
    let mut p = format!("{}/{run_id}/", prefix.trim_end_matches('/'));
    if let Some(s) = scope.map(|s| s.trim_matches('/')).filter(|s| !s.is_empty()) {
        p.push_str(s);
        p.push('/');
    }
    p
}

/// This machine's name in object names (HOSTNAME in containers and pods).
pub fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into())
}

/// What one round trip is asked to do.
#[derive(Debug, Clone)]
pub struct RoundTrip {
    pub target: StoreTarget,
    pub prefix: String,
    pub run_id: Option<String>,
    pub scope: Option<String>,
    /// As given (e.g. 64KiB).
    pub size: String,
    /// Also upload the result line (left for the caller to verify and remove).
    pub upload_result: bool,
}

/// The round trip's line: `{"probe": "storage", "status", "steps", "credentials", ...}`.
pub async fn roundtrip(a: &RoundTrip) -> (ProbeStatus, Value) {
    let started = Instant::now();
    let run_id = a
        .run_id
        .clone()
        .unwrap_or_else(|| format!("probe-{}", crate::model::run_id::new()));
    let host = host_name();
    let prefix = object_prefix(&a.prefix, &run_id, a.scope.as_deref());
    let object = format!("{prefix}roundtrip-{host}.bin");
    let bucket = &a.target.bucket;
    let mut out = json!({"probe": "storage", "run_id": run_id, "provider": a.target.provider(), "bucket": bucket, "object": object, "steps": []});
    let size = match parse_size(&a.size) {
        Ok(s) => s as usize,
        Err(e) => {
            out["status"] = json!(ProbeStatus::Errored);
            out["error"] = json!({"class": "usage", "message": e});
            return (ProbeStatus::Errored, out);
        }
    };
    out["bytes"] = json!(size);
    let client = match a.target.connect(Retry::default()).await {
        Ok(c) => c,
        Err(e) => {
            let s = status_for(&e);
            out["status"] = json!(s);
            out["error"] = error_json(&e);
            return (s, out);
        }
    };
    let (kind, source) = client.credentials();
    out["credentials"] = json!({"kind": kind, "source": source, "identity": client.identity()});
    out["endpoint"] = json!(client.endpoint());
    let mut steps = Vec::new();
    let data = payload(
        size,
        started.elapsed().as_nanos() as u64 ^ 0x9e37_79b9_7f4a_7c15,
    );
    let result = round(&client, bucket, &object, &prefix, data, &mut steps).await;
    let (status, err) = match result {
        Ok(()) => (ProbeStatus::Passed, Value::Null),
        Err(Problem::Store(e)) => (status_for(&e), error_json(&e)),
        Err(Problem::Mismatch(m)) => (
            ProbeStatus::Failed,
            json!({"class": "mismatch", "message": m}),
        ),
    };
    out["steps"] = Value::Array(steps);
    out["status"] = json!(status);
    if !err.is_null() {
        out["error"] = err;
    }
    out["total_ms"] = json!(ms(started.elapsed()));
    if a.upload_result {
        // The line itself, as an object the caller can verify from outside the container.
        let name = format!("{prefix}result-{host}.json");
        let t = Instant::now();
        let mut copy = out.clone();
        copy["result_object"] = json!(name);
        let push = |out: &mut Value, step: Value| {
            if let Some(s) = out["steps"].as_array_mut() {
                s.push(step);
            }
        };
        match client
            .upload(
                bucket,
                &name,
                "application/json",
                Bytes::from(copy.to_string()),
            )
            .await
        {
            Ok(()) => {
                out["result_object"] = json!(name);
                push(
                    &mut out,
                    json!({"op": "upload-result", "ok": true, "ms": ms(t.elapsed())}),
                );
            }
            Err(e) => {
                push(
                    &mut out,
                    json!({"op": "upload-result", "ok": false, "ms": ms(t.elapsed()), "error": error_json(&e)}),
                );
                if status == ProbeStatus::Passed {
                    out["status"] = json!(status_for(&e));
                    out["error"] = error_json(&e);
                    return (status_for(&e), out);
                }
            }
        }
    }
    (status, out)
}

enum Problem {
    Store(StoreError),
    Mismatch(String),
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        Problem::Store(e)
    }
}

fn mbps(bytes: u64, d: Duration) -> f64 {
    let s = d.as_secs_f64().max(1e-9);
    ((bytes as f64 / s / 1e6) * 100.0).round() / 100.0
}

async fn round(
    c: &Store,
    bucket: &str,
    object: &str,
    prefix: &str,
    data: Bytes,
    steps: &mut Vec<Value>,
) -> Result<(), Problem> {
    let t = Instant::now();
    let listed = c.list(bucket, prefix, 100).await;
    steps.push(json!({"op": "list", "ok": listed.is_ok(), "ms": ms(t.elapsed())}));
    listed?;
    let len = data.len();
    let t = Instant::now();
    let wrote = c
        .upload(bucket, object, "application/octet-stream", data.clone())
        .await;
    steps.push(json!({"op": "write", "ok": wrote.is_ok(), "ms": ms(t.elapsed()), "mb_per_s": mbps(len as u64, t.elapsed())}));
    wrote?;
    // Compared as the bytes arrive: no second copy of a large object in memory.
    let t = Instant::now();
    let mut offset = 0usize;
    let mut same = true;
    let read = c
        .download_to(bucket, object, |chunk| {
            let end = offset + chunk.len();
            same = same && end <= data.len() && data[offset..end] == *chunk;
            offset = end;
        })
        .await;
    steps.push(json!({"op": "read", "ok": read.is_ok(), "ms": ms(t.elapsed()), "mb_per_s": mbps(len as u64, t.elapsed())}));
    // Delete whatever the read did: the object must not stay behind.
    let t = Instant::now();
    let deleted = c.delete(bucket, object).await;
    steps.push(json!({"op": "delete", "ok": deleted.is_ok(), "ms": ms(t.elapsed())}));
    let read = read?;
    let same = same && read == len as u64;
    steps.push(json!({"op": "compare", "ok": same}));
    deleted?;
    if !same {
        return Err(Problem::Mismatch(format!(
            "read back {read} bytes that differ from the {len} bytes written"
        )));
    }
    Ok(())
}

/// What the IO streams are asked to do.
#[derive(Debug, Clone)]
pub struct IoPlan {
    pub target: StoreTarget,
    pub prefix: String,
    pub run_id: Option<String>,
    pub scope: Option<String>,
    pub streams: u32,
    pub object_bytes: u64,
    pub seconds: f64,
    pub max_bytes: u64,
    pub mode: IoMode,
    /// Start measuring at this time (ms since the epoch).
    pub start_at: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum IoMode {
    /// Write an object, read it back, delete it, in turn.
    Mixed,
    /// Read one object per stream (written first, not measured).
    Read,
    /// Write new objects (deleted after the window).
    Write,
}

impl IoMode {
    pub fn parse(s: &str) -> Result<IoMode, String> {
        match s {
            "mixed" => Ok(IoMode::Mixed),
            "read" => Ok(IoMode::Read),
            "write" => Ok(IoMode::Write),
            _ => Err(format!("mode {s}: use mixed, read or write")),
        }
    }
}

/// The most streams one probe runs, and the furthest ahead a start time may be.
pub const MAX_STREAMS: u32 = 256;
const MAX_START_AHEAD: Duration = Duration::from_secs(600);

/// One request's result, as the streams record it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sample {
    pub op: &'static str,
    pub ms: f64,
    pub bytes: u64,
    /// `None`: it succeeded; else the error's class (`throttled` with its status).
    pub outcome: Option<Outcome>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Throttled { status: u16, per_object: bool },
    Error(&'static str),
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The line's figures from the samples of a window of `elapsed`.
pub(crate) fn summarise(samples: &[Sample], elapsed: Duration) -> Value {
    let secs = elapsed.as_secs_f64().max(1e-9);
    let mut ops = serde_json::Map::new();
    for op in ["write", "read", "delete"] {
        let ok: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.op == op && s.outcome.is_none())
            .collect();
        if ok.is_empty() && !samples.iter().any(|s| s.op == op) {
            continue;
        }
        let mut lat: Vec<f64> = ok.iter().map(|s| s.ms).collect();
        lat.sort_by(f64::total_cmp);
        let bytes: u64 = ok.iter().map(|s| s.bytes).sum();
        let round = |x: f64| (x * 10.0).round() / 10.0;
        let mut o = json!({
            "ops": ok.len(),
            "p50_ms": round(percentile(&lat, 50.0)),
            "p95_ms": round(percentile(&lat, 95.0)),
            "p99_ms": round(percentile(&lat, 99.0)),
            "max_ms": round(lat.last().copied().unwrap_or(0.0)),
        });
        if op != "delete" {
            o["bytes"] = json!(bytes);
            o["mb_per_s"] = json!(mbps(bytes, elapsed));
        }
        ops.insert(op.into(), o);
    }
    let moved: u64 = samples
        .iter()
        .filter(|s| s.outcome.is_none() && s.op != "delete")
        .map(|s| s.bytes)
        .sum();
    let count = |f: &dyn Fn(&Outcome) -> bool| {
        samples
            .iter()
            .filter(|s| s.outcome.as_ref().is_some_and(f))
            .count()
    };
    let t429 = count(&|o| matches!(o, Outcome::Throttled { status: 429, .. }));
    let t503 = count(&|o| matches!(o, Outcome::Throttled { status: 503, .. }));
    let per_object = count(&|o| {
        matches!(
            o,
            Outcome::Throttled {
                per_object: true,
                ..
            }
        )
    });
    let mut errors = serde_json::Map::new();
    for s in samples {
        if let Some(Outcome::Error(class)) = &s.outcome {
            let n = errors.get(*class).and_then(|v| v.as_u64()).unwrap_or(0);
            errors.insert((*class).into(), json!(n + 1));
        }
    }
    let failed = samples.iter().filter(|s| s.outcome.is_some()).count();
    let rate = if samples.is_empty() {
        0.0
    } else {
        failed as f64 / samples.len() as f64
    };
    json!({
        "seconds": (secs * 1000.0).round() / 1000.0,
        "bytes": moved,
        "mb_per_s": mbps(moved, elapsed),
        "ops": Value::Object(ops),
        "requests": samples.len(),
        "throttled": {"429": t429, "503": t503, "per_object": per_object},
        "errors": Value::Object(errors),
        "error_rate": (rate * 10_000.0).round() / 10_000.0,
    })
}

fn epoch_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Whether an error ends every stream: the identity cannot use the bucket at all.
fn fatal(e: &StoreError) -> bool {
    status_for(e) == ProbeStatus::Failed
}

struct Shared {
    store: Store,
    bucket: String,
    samples: std::sync::Mutex<Vec<Sample>>,
    stop: std::sync::atomic::AtomicBool,
    moved: std::sync::atomic::AtomicU64,
    /// The first error that ended every stream: (class, message).
    fatal: std::sync::Mutex<Option<(&'static str, String)>>,
    /// Objects that may exist, for the cleanup after the window.
    written: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Shared {
    fn record(&self, op: &'static str, t: Instant, bytes: u64, r: &Result<(), StoreError>) {
        let outcome = match r {
            Ok(()) => None,
            Err(StoreError::Throttled {
                status, per_object, ..
            }) => Some(Outcome::Throttled {
                status: *status,
                per_object: *per_object,
            }),
            Err(e) => Some(Outcome::Error(e.class())),
        };
        if outcome.is_none() && op != "delete" {
            self.moved
                .fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
        }
        if let Ok(mut s) = self.samples.lock() {
            s.push(Sample {
                op,
                ms: ms(t.elapsed()),
                bytes,
                outcome,
            });
        }
        if let Err(e) = r {
            if fatal(e) {
                self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
                if let Ok(mut f) = self.fatal.lock() {
                    f.get_or_insert_with(|| (e.class(), e.to_string()));
                }
            }
        }
    }
}

async fn stream(
    sh: std::sync::Arc<Shared>,
    plan: std::sync::Arc<IoPlan>,
    n: u32,
    prefix: String,
    until: Instant,
    data: Bytes,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let host = host_name();
    let len = data.len() as u64;
    let name = |seq: u64| format!("{prefix}io-{host}-{n}-{seq}.bin");
    let read_name = name(0);
    let mut seq = 1u64;
    let over = |sh: &Shared| {
        sh.stop.load(Relaxed) || Instant::now() >= until || sh.moved.load(Relaxed) >= plan.max_bytes
    };
    while !over(&sh) {
        let object = match plan.mode {
            IoMode::Read => read_name.clone(),
            _ => name(seq),
        };
        seq += 1;
        if plan.mode != IoMode::Read {
            if let Ok(mut w) = sh.written.lock() {
                w.insert(object.clone());
            }
            let t = Instant::now();
            let r = sh
                .store
                .upload(
                    &sh.bucket,
                    &object,
                    "application/octet-stream",
                    data.clone(),
                )
                .await;
            sh.record("write", t, len, &r);
            if r.is_err() {
                pause(&r).await;
                continue;
            }
        }
        if plan.mode != IoMode::Write {
            let t = Instant::now();
            let r = sh.store.download_to(&sh.bucket, &object, |_| {}).await;
            let got = *r.as_ref().unwrap_or(&0);
            let r = match r {
                Ok(n) if n != len => Err(StoreError::Status {
                    identity: sh.store.identity(),
                    op: format!("read {object}"),
                    status: 200,
                    message: format!("{n} bytes read back, {len} written"),
                }),
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            };
            sh.record("read", t, got, &r);
            pause(&r).await;
        }
        if plan.mode == IoMode::Mixed {
            let t = Instant::now();
            let r = sh.store.delete(&sh.bucket, &object).await;
            sh.record("delete", t, 0, &r);
            if r.is_ok() {
                if let Ok(mut w) = sh.written.lock() {
                    w.remove(&object);
                }
            }
        }
    }
}

/// A throttled or failed request is followed by a short pause, as a client's backoff would be
/// (without it a throttled stream would only measure how fast the store can refuse).
async fn pause(r: &Result<(), StoreError>) {
    if r.is_err() {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The IO streams' line: `{"probe": "io", "status", "mb_per_s", "ops", "throttled", ...}`.
pub async fn io(plan: &IoPlan) -> (ProbeStatus, Value) {
    let run_id = plan
        .run_id
        .clone()
        .unwrap_or_else(|| format!("probe-{}", crate::model::run_id::new()));
    let prefix = object_prefix(&plan.prefix, &run_id, plan.scope.as_deref());
    let mut out = json!({"probe": "io", "run_id": run_id, "provider": plan.target.provider(), "bucket": plan.target.bucket, "prefix": prefix, "streams": plan.streams, "mode": plan.mode, "object_bytes": plan.object_bytes});
    let usage = |out: &mut Value, m: String| {
        out["status"] = json!(ProbeStatus::Errored);
        out["error"] = json!({"class": "usage", "message": m});
    };
    if plan.streams == 0 || plan.streams > MAX_STREAMS {
        usage(
            &mut out,
            format!("streams must be between 1 and {MAX_STREAMS}"),
        );
        return (ProbeStatus::Errored, out);
    }
    if plan.object_bytes == 0 || plan.object_bytes > 1 << 30 {
        usage(
            &mut out,
            "object size must be between 1 byte and 1GiB".into(),
        );
        return (ProbeStatus::Errored, out);
    }
    if !(plan.seconds > 0.0 && plan.seconds <= 3600.0) {
        usage(
            &mut out,
            format!("seconds must be between 0 and 3600 (got {})", plan.seconds),
        );
        return (ProbeStatus::Errored, out);
    }
    let retry = Retry {
        attempts: 1,
        ..Retry::default()
    };
    let store = match plan.target.connect(retry).await {
        Ok(s) => s,
        Err(e) => {
            let s = status_for(&e);
            out["status"] = json!(s);
            out["error"] = error_json(&e);
            return (s, out);
        }
    };
    let (kind, source) = store.credentials();
    out["credentials"] = json!({"kind": kind, "source": source, "identity": store.identity()});
    out["endpoint"] = json!(store.endpoint());
    let data = payload(plan.object_bytes as usize, epoch_ms() | 1);
    let sh = std::sync::Arc::new(Shared {
        store,
        bucket: plan.target.bucket.clone(),
        samples: Default::default(),
        stop: Default::default(),
        moved: Default::default(),
        fatal: Default::default(),
        written: Default::default(),
    });
    // Read mode: each stream's object, written before the window.
    if plan.mode == IoMode::Read {
        let host = host_name();
        for n in 0..plan.streams {
            let object = format!("{prefix}io-{host}-{n}-0.bin");
            if let Ok(mut w) = sh.written.lock() {
                w.insert(object.clone());
            }
            if let Err(e) = sh
                .store
                .upload(
                    &sh.bucket,
                    &object,
                    "application/octet-stream",
                    data.clone(),
                )
                .await
            {
                let s = status_for(&e);
                out["status"] = json!(s);
                out["error"] = error_json(&e);
                out["cleanup"] = cleanup(&sh).await;
                return (s, out);
            }
        }
    }
    if let Some(at) = plan.start_at {
        let now = epoch_ms();
        if at > now {
            let wait = Duration::from_millis(at - now);
            if wait > MAX_START_AHEAD {
                usage(
                    &mut out,
                    format!(
                        "start time is {}s ahead (at most {}s)",
                        wait.as_secs(),
                        MAX_START_AHEAD.as_secs()
                    ),
                );
                out["cleanup"] = cleanup(&sh).await;
                return (ProbeStatus::Errored, out);
            }
            tokio::time::sleep(wait).await;
        } else {
            out["started_late_ms"] = json!(now - at);
        }
    }
    let plan_arc = std::sync::Arc::new(plan.clone());
    let started = Instant::now();
    out["window_start_ms"] = json!(epoch_ms());
    let until = started + Duration::from_secs_f64(plan.seconds);
    let tasks: Vec<_> = (0..plan.streams)
        .map(|n| {
            tokio::spawn(stream(
                sh.clone(),
                plan_arc.clone(),
                n,
                prefix.clone(),
                until,
                data.clone(),
            ))
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed();
    out["window_end_ms"] = json!(epoch_ms());
    let samples = sh.samples.lock().map(|s| s.clone()).unwrap_or_default();
    let summary = summarise(&samples, elapsed);
    if let Value::Object(m) = summary {
        for (k, v) in m {
            out[k] = v;
        }
    }
    out["cleanup"] = cleanup(&sh).await;
    let fatal = sh.fatal.lock().ok().and_then(|mut f| f.take());
    let moved = out["bytes"].as_u64().unwrap_or(0);
    let status = if let Some((class, message)) = fatal {
        out["error"] = json!({"class": class, "message": message});
        ProbeStatus::Failed
    } else if moved == 0 {
        out["error"] =
            json!({"class": "no-progress", "message": "no request succeeded in the window"});
        ProbeStatus::Errored
    } else {
        ProbeStatus::Passed
    };
    out["status"] = json!(status);
    (status, out)
}

/// Deletes every object the streams may have left; says how many went and how many stayed.
async fn cleanup(sh: &Shared) -> Value {
    let names: Vec<String> = sh
        .written
        .lock()
        .map(|w| w.iter().cloned().collect())
        .unwrap_or_default();
    let mut deleted = 0;
    let mut left = Vec::new();
    for chunk in names.chunks(16) {
        let done =
            futures::future::join_all(chunk.iter().map(|n| sh.store.delete(&sh.bucket, n))).await;
        for (n, r) in chunk.iter().zip(done) {
            match r {
                Ok(()) => deleted += 1,
                Err(e) => left.push(json!({"object": n, "error": e.class()})),
            }
        }
    }
    json!({"deleted": deleted, "left": left})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_is_deterministic_and_varied() {
        let a = payload(1000, 42);
        assert_eq!(a.len(), 1000);
        assert_eq!(a, payload(1000, 42));
        assert_ne!(a, payload(1000, 43));
        assert!(a.iter().any(|&b| b != a[0]));
    }

    #[test]
    fn refusals_fail_and_unreachable_or_throttled_errors() {
        let denied = StoreError::Denied {
            identity: "x".into(),
            op: "list".into(),
            message: "m".into(),
        };
        assert_eq!(status_for(&denied), ProbeStatus::Failed);
        let gone = StoreError::Transport {
            endpoint: "e".into(),
            op: "list".into(),
            reason: "r".into(),
        };
        assert_eq!(status_for(&gone), ProbeStatus::Errored);
        let slow = StoreError::Throttled {
            identity: "x".into(),
            op: "write".into(),
            status: 503,
            per_object: false,
            message: "SlowDown".into(),
        };
        assert_eq!(status_for(&slow), ProbeStatus::Errored);
    }

    #[test]
    fn buckets_are_named_by_url_or_bare_name() {
        assert_eq!(
            StoreTarget::parse_bucket("s3://mlpipeline", None).unwrap(),
            ("mlpipeline".into(), Provider::S3)
        );
        assert_eq!(
            StoreTarget::parse_bucket("minio://mlpipeline/", None).unwrap(),
            ("mlpipeline".into(), Provider::S3)
        );
        assert_eq!(
            StoreTarget::parse_bucket("b", None).unwrap(),
            ("b".into(), Provider::Gcs)
        );
        assert_eq!(
            StoreTarget::parse_bucket("b", Some(Provider::S3))
                .unwrap()
                .1,
            Provider::S3
        );
        assert!(StoreTarget::parse_bucket("gs://b", Some(Provider::S3)).is_err());
        assert!(StoreTarget::parse_bucket("az://b", None).is_err());
        assert!(StoreTarget::parse_bucket("s3://b/some/prefix", None).is_err());
        assert_eq!(
            object_prefix("kfcheck/", "r1", Some("/c/")),
            "kfcheck/r1/c/"
        );
        assert_eq!(object_prefix("kfcheck", "r1", None), "kfcheck/r1/");
    }
}
