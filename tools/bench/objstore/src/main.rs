//! objstore-io: `kfcheck probe io`'s workload, and a one-shot error classification, through Apache
//! Arrow's `object_store` crate (S3), for scripts/bench-objstore.
//!
//!   objstore-io io --endpoint URL --bucket B --key-dir DIR [--streams N] [--object-size BYTES]
//!                  [--seconds S] [--mode write|read|mixed] [--prefix P] [--signed-payload]
//!                  [--max-retries N] [--retry-timeout S] [--runtime current|multi]
//!       N parallel streams for S seconds, as `kfcheck probe io` does them: write mode writes new
//!       objects, read mode reads one object per stream (written before the window), mixed writes,
//!       reads back and deletes in turn. Objects go under PREFIX/RUN/ and are deleted after the
//!       window. One JSON line: MB/s and ops per operation, p50/p95/p99 latency, errors counted
//!       by object_store's error variant.
//!
//!   objstore-io fidelity --endpoint URL --bucket B --key-dir DIR [--ops list,put,get,delete]
//!                  [--max-retries N] [--retry-timeout S]
//!       One list, put, get and delete (in that order, as kfcheck's round trip), each reported
//!       with object_store's error variant, the HTTP status and S3 error code found in its
//!       message, the retries it says it made, and the message with the keys redacted.
//!
//! Keys come from DIR/accesskey and DIR/secretkey (a mounted Secret's layout) and never leave
//! this process: every message printed has both replaced by [redacted]. Defaults are
//! object_store's own (retries: 10 within 3 minutes; payload signed) except where a flag says
//! otherwise; the runtime defaults to one thread, as kfcheck's probe uses.

use bytes::Bytes;
use futures::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const VERSION: &str = "0.14.2";

struct Args {
    cmd: String,
    endpoint: String,
    bucket: String,
    key_dir: String,
    streams: usize,
    object_size: usize,
    seconds: f64,
    mode: String,
    prefix: String,
    signed_payload: bool,
    max_retries: Option<usize>,
    retry_timeout: Option<f64>,
    runtime: String,
    ops: Vec<String>,
}

fn usage(msg: &str) -> ! {
    eprintln!("objstore-io: {msg}\nusage: objstore-io io|fidelity --endpoint URL --bucket B --key-dir DIR [options] (see the header of src/main.rs)");
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut it = std::env::args().skip(1);
    let cmd = it.next().unwrap_or_else(|| usage("no command"));
    if cmd != "io" && cmd != "fidelity" {
        usage(&format!("unknown command {cmd:?}"));
    }
    let mut a = Args {
        cmd,
        endpoint: String::new(),
        bucket: String::new(),
        key_dir: String::new(),
        streams: 1,
        object_size: 4 << 20,
        seconds: 5.0,
        mode: "mixed".into(),
        prefix: "bench-objstore/objstore".into(),
        signed_payload: false,
        max_retries: None,
        retry_timeout: None,
        runtime: "current".into(),
        ops: vec!["list".into(), "put".into(), "get".into(), "delete".into()],
    };
    while let Some(flag) = it.next() {
        if flag == "--signed-payload" {
            a.signed_payload = true;
            continue;
        }
        let v = it
            .next()
            .unwrap_or_else(|| usage(&format!("{flag} needs a value")));
        let num = |v: &str| -> f64 {
            v.parse()
                .unwrap_or_else(|_| usage(&format!("{flag}: not a number: {v}")))
        };
        match flag.as_str() {
            "--endpoint" => a.endpoint = v,
            "--bucket" => a.bucket = v.trim_start_matches("s3://").trim_end_matches('/').into(),
            "--key-dir" => a.key_dir = v,
            "--streams" => a.streams = num(&v) as usize,
            "--object-size" => a.object_size = num(&v) as usize,
            "--seconds" => a.seconds = num(&v),
            "--mode" => a.mode = v,
            "--prefix" => a.prefix = v.trim_end_matches('/').into(),
            "--max-retries" => a.max_retries = Some(num(&v) as usize),
            "--retry-timeout" => a.retry_timeout = Some(num(&v)),
            "--runtime" => a.runtime = v,
            "--ops" => a.ops = v.split(',').map(str::to_string).collect(),
            _ => usage(&format!("unknown flag {flag}")),
        }
    }
    if a.endpoint.is_empty() || a.bucket.is_empty() || a.key_dir.is_empty() {
        usage("--endpoint, --bucket and --key-dir are required");
    }
    if !["write", "read", "mixed"].contains(&a.mode.as_str()) {
        usage("--mode: write, read or mixed");
    }
    if a.streams == 0 || a.object_size == 0 || !(a.seconds > 0.0) {
        usage("--streams, --object-size and --seconds must be positive");
    }
    a
}

/// The key pair, and a redactor that hides both in any text.
struct Keys {
    access: String,
    secret: String,
}

impl Keys {
    fn read(dir: &str) -> Keys {
        let read = |name: &str| {
            let p = std::path::Path::new(dir).join(name);
            std::fs::read_to_string(&p)
                .unwrap_or_else(|e| usage(&format!("{}: {e}", p.display())))
                .trim()
                .to_string()
        };
        Keys {
            access: read("accesskey"),
            secret: read("secretkey"),
        }
    }

    fn redact(&self, text: &str) -> String {
        let mut t = text.to_string();
        for k in [&self.secret, &self.access] {
            if k.len() >= 4 {
                t = t.replace(k.as_str(), "[redacted]");
            }
        }
        t
    }
}

fn build_store(a: &Args, keys: &Keys) -> AmazonS3 {
    let mut retry = RetryConfig::default();
    if let Some(n) = a.max_retries {
        retry.max_retries = n;
    }
    if let Some(s) = a.retry_timeout {
        retry.retry_timeout = Duration::from_secs_f64(s);
    }
    AmazonS3Builder::new()
        .with_endpoint(&a.endpoint)
        .with_allow_http(true)
        .with_region("us-east-1")
        .with_bucket_name(&a.bucket)
        .with_access_key_id(&keys.access)
        .with_secret_access_key(&keys.secret)
        .with_virtual_hosted_style_request(false)
        .with_unsigned_payload(!a.signed_payload)
        .with_retry(retry)
        .build()
        .unwrap_or_else(|e| {
            usage(&format!(
                "building the S3 store: {}",
                keys.redact(&e.to_string())
            ))
        })
}

/// The variant's name, as a caller matching on `object_store::Error` sees it.
fn variant(e: &object_store::Error) -> &'static str {
    use object_store::Error as E;
    match e {
        E::Generic { .. } => "Generic",
        E::NotFound { .. } => "NotFound",
        E::InvalidPath { .. } => "InvalidPath",
        E::JoinError { .. } => "JoinError",
        E::NotSupported { .. } => "NotSupported",
        E::AlreadyExists { .. } => "AlreadyExists",
        E::Precondition { .. } => "Precondition",
        E::NotModified { .. } => "NotModified",
        E::NotImplemented { .. } => "NotImplemented",
        E::PermissionDenied { .. } => "PermissionDenied",
        E::Unauthenticated { .. } => "Unauthenticated",
        E::UnknownConfigurationKey { .. } => "UnknownConfigurationKey",
        _ => "Other",
    }
}

/// The HTTP status in object_store's message ("...status code: 403 Forbidden..."): its public API
/// has no accessor for it (the retry error that holds it is crate-private).
fn status_in(msg: &str) -> Option<u16> {
    for pat in ["status code: ", "status: "] {
        if let Some(i) = msg.find(pat) {
            let digits: String = msg[i + pat.len()..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if let Ok(s) = digits.parse() {
                return Some(s);
            }
        }
    }
    None
}

/// The S3 error code: in the XML body object_store quotes, or as "(code: X)" in a DeleteObjects
/// answer's per-key error.
fn xml_code(msg: &str) -> Option<String> {
    for (open, close) in [("<Code>", "</Code>"), ("(code: ", ")")] {
        if let Some(i) = msg.find(open) {
            let i = i + open.len();
            if let Some(j) = msg[i..].find(close) {
                return Some(msg[i..i + j].to_string());
            }
        }
    }
    None
}

fn retries_in(msg: &str) -> u64 {
    msg.find("after ")
        .and_then(|i| {
            msg[i + 6..]
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
        })
        .unwrap_or(0)
}

fn error_json(e: &object_store::Error, keys: &Keys) -> Value {
    // The whole chain, as `{:#}`-style text would give it.
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        let t = s.to_string();
        if !msg.contains(&t) {
            msg.push_str(": ");
            msg.push_str(&t);
        }
        src = s.source();
    }
    let msg = keys.redact(&msg);
    let short: String = msg.chars().take(600).collect();
    json!({
        "variant": variant(e),
        "status": status_in(&msg),
        "s3_code": xml_code(&msg),
        "retries": retries_in(&msg),
        "message": short,
    })
}

fn payload(len: usize, seed: u64) -> Bytes {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut v = Vec::with_capacity(len + 8);
    while v.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(len);
    Bytes::from(v)
}

fn epoch_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

struct Sample {
    op: &'static str,
    ms: f64,
    bytes: u64,
    error: Option<&'static str>,
}

struct Shared {
    store: AmazonS3,
    samples: Mutex<Vec<Sample>>,
    written: Mutex<std::collections::BTreeSet<String>>,
    first_error: Mutex<Option<Value>>,
    stop: AtomicBool,
    keys: Keys,
}

impl Shared {
    fn record<T>(&self, op: &'static str, t: Instant, bytes: u64, r: &object_store::Result<T>) {
        let error = match r {
            Ok(_) => None,
            Err(e) => {
                let mut f = self.first_error.lock().unwrap();
                if f.is_none() {
                    *f = Some(error_json(e, &self.keys));
                }
                // A refusal ends every stream, as kfcheck's probe does for 401/403/missing bucket.
                if matches!(
                    e,
                    object_store::Error::PermissionDenied { .. }
                        | object_store::Error::Unauthenticated { .. }
                ) {
                    self.stop.store(true, Ordering::Relaxed);
                }
                Some(variant(e))
            }
        };
        self.samples.lock().unwrap().push(Sample {
            op,
            ms: t.elapsed().as_secs_f64() * 1000.0,
            bytes,
            error,
        });
    }
}

async fn get_all(store: &AmazonS3, p: &ObjPath) -> object_store::Result<u64> {
    let r = store.get(p).await?;
    let mut s = r.into_stream();
    let mut n = 0u64;
    while let Some(chunk) = s.next().await {
        n += chunk?.len() as u64;
    }
    Ok(n)
}

async fn stream(
    sh: Arc<Shared>,
    a: Arc<Args>,
    prefix: String,
    n: usize,
    until: Instant,
    data: Bytes,
) {
    let len = data.len() as u64;
    let read_obj = format!("{prefix}io-{n}-0.bin");
    let mut seq = 1u64;
    while !sh.stop.load(Ordering::Relaxed) && Instant::now() < until {
        let name = if a.mode == "read" {
            read_obj.clone()
        } else {
            format!("{prefix}io-{n}-{seq}.bin")
        };
        seq += 1;
        let path = ObjPath::from(name.as_str());
        if a.mode != "read" {
            sh.written.lock().unwrap().insert(name.clone());
            let t = Instant::now();
            let r = sh.store.put(&path, PutPayload::from(data.clone())).await;
            sh.record("write", t, len, &r);
            if r.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        }
        if a.mode != "write" {
            let t = Instant::now();
            let r = get_all(&sh.store, &path).await;
            let got = *r.as_ref().unwrap_or(&0);
            let r = match r {
                Ok(n) if n != len => Err(object_store::Error::Generic {
                    store: "objstore-io",
                    source: format!("{n} bytes read back, {len} written").into(),
                }),
                other => other,
            };
            sh.record("read", t, got, &r);
            if r.is_err() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        if a.mode == "mixed" {
            let t = Instant::now();
            let r = sh.store.delete(&path).await;
            sh.record("delete", t, 0, &r);
            if r.is_ok() {
                sh.written.lock().unwrap().remove(&name);
            }
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn mbps(bytes: u64, d: Duration) -> f64 {
    ((bytes as f64 / d.as_secs_f64().max(1e-9) / 1e6) * 100.0).round() / 100.0
}

async fn io(a: Arc<Args>) -> (bool, Value) {
    let keys = Keys::read(&a.key_dir);
    let store = build_store(&a, &keys);
    let run = format!("run-{}-{}", epoch_ms(), std::process::id());
    let prefix = format!("{}/{run}/", a.prefix);
    let mut out = json!({"probe": "io", "client": "object_store", "client_version": VERSION,
        "bucket": a.bucket, "prefix": prefix, "streams": a.streams, "mode": a.mode,
        "object_bytes": a.object_size, "unsigned_payload": !a.signed_payload, "runtime": a.runtime});
    let sh = Arc::new(Shared {
        store,
        samples: Mutex::new(Vec::new()),
        written: Mutex::new(Default::default()),
        first_error: Mutex::new(None),
        stop: AtomicBool::new(false),
        keys,
    });
    let data = payload(a.object_size, epoch_ms() | 1);
    if a.mode == "read" {
        for n in 0..a.streams {
            let name = format!("{prefix}io-{n}-0.bin");
            sh.written.lock().unwrap().insert(name.clone());
            if let Err(e) = sh
                .store
                .put(
                    &ObjPath::from(name.as_str()),
                    PutPayload::from(data.clone()),
                )
                .await
            {
                out["status"] = json!("failed");
                out["error"] = error_json(&e, &sh.keys);
                out["cleanup"] = cleanup(&sh).await;
                return (false, out);
            }
        }
    }
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(a.seconds);
    let tasks: Vec<_> = (0..a.streams)
        .map(|n| {
            tokio::spawn(stream(
                sh.clone(),
                a.clone(),
                prefix.clone(),
                n,
                until,
                data.clone(),
            ))
        })
        .collect();
    for t in tasks {
        let _ = t.await;
    }
    let elapsed = started.elapsed();
    let samples = std::mem::take(&mut *sh.samples.lock().unwrap());
    let mut ops = Map::new();
    for op in ["write", "read", "delete"] {
        if !samples.iter().any(|s| s.op == op) {
            continue;
        }
        let ok: Vec<&Sample> = samples
            .iter()
            .filter(|s| s.op == op && s.error.is_none())
            .collect();
        let mut lat: Vec<f64> = ok.iter().map(|s| s.ms).collect();
        lat.sort_by(f64::total_cmp);
        let r1 = |x: f64| (x * 10.0).round() / 10.0;
        let bytes: u64 = ok.iter().map(|s| s.bytes).sum();
        let mut o = json!({"ops": ok.len(), "p50_ms": r1(percentile(&lat, 50.0)),
            "p95_ms": r1(percentile(&lat, 95.0)), "p99_ms": r1(percentile(&lat, 99.0)),
            "max_ms": r1(lat.last().copied().unwrap_or(0.0))});
        if op != "delete" {
            o["bytes"] = json!(bytes);
            o["mb_per_s"] = json!(mbps(bytes, elapsed));
        }
        ops.insert(op.into(), o);
    }
    let moved: u64 = samples
        .iter()
        .filter(|s| s.error.is_none() && s.op != "delete")
        .map(|s| s.bytes)
        .sum();
    let mut errors: BTreeMap<&str, u64> = BTreeMap::new();
    for s in &samples {
        if let Some(v) = s.error {
            *errors.entry(v).or_default() += 1;
        }
    }
    out["seconds"] = json!((elapsed.as_secs_f64() * 1000.0).round() / 1000.0);
    out["bytes"] = json!(moved);
    out["mb_per_s"] = json!(mbps(moved, elapsed));
    out["ops"] = Value::Object(ops);
    out["requests"] = json!(samples.len());
    out["errors"] = json!(errors);
    if let Some(e) = sh.first_error.lock().unwrap().take() {
        out["first_error"] = e;
    }
    out["cleanup"] = cleanup(&sh).await;
    let ok = moved > 0 && !sh.stop.load(Ordering::Relaxed);
    out["status"] = json!(if ok { "passed" } else { "failed" });
    (ok, out)
}

async fn cleanup(sh: &Shared) -> Value {
    let names: Vec<String> = sh.written.lock().unwrap().iter().cloned().collect();
    let mut deleted = 0;
    let mut left = 0;
    for chunk in names.chunks(16) {
        let done = futures::future::join_all(
            chunk
                .iter()
                .map(|n| async move { sh.store.delete(&ObjPath::from(n.as_str())).await }),
        )
        .await;
        for r in done {
            if r.is_ok() {
                deleted += 1
            } else {
                left += 1
            }
        }
    }
    json!({"deleted": deleted, "left": left})
}

async fn fidelity(a: Arc<Args>) -> (bool, Value) {
    let keys = Keys::read(&a.key_dir);
    let store = build_store(&a, &keys);
    let object = ObjPath::from(format!(
        "{}/fidelity-{}-{}.bin",
        a.prefix,
        epoch_ms(),
        std::process::id()
    ));
    let prefix = ObjPath::from(a.prefix.as_str());
    let data = payload(64 << 10, 7);
    let mut steps = Vec::new();
    let mut all_ok = true;
    for op in &a.ops {
        let t = Instant::now();
        let r: object_store::Result<()> = match op.as_str() {
            "list" => {
                let mut s = store.list(Some(&prefix));
                match s.next().await {
                    Some(Err(e)) => Err(e),
                    _ => Ok(()),
                }
            }
            "put" => store
                .put(&object, PutPayload::from(data.clone()))
                .await
                .map(|_| ()),
            "get" => get_all(&store, &object).await.map(|_| ()),
            "delete" => store.delete(&object).await,
            o => usage(&format!("--ops: unknown op {o:?} (list, put, get, delete)")),
        };
        let ms = (t.elapsed().as_secs_f64() * 10_000.0).round() / 10.0;
        let mut step = json!({"op": op, "ok": r.is_ok(), "ms": ms});
        if let Err(e) = &r {
            all_ok = false;
            step["error"] = error_json(e, &keys);
        }
        steps.push(step);
    }
    (
        all_ok,
        json!({"probe": "fidelity", "client": "object_store", "client_version": VERSION,
        "bucket": a.bucket, "steps": steps, "status": if all_ok { "passed" } else { "failed" }}),
    )
}

fn main() {
    let a = Arc::new(parse_args());
    let mut rt = match a.runtime.as_str() {
        "current" => tokio::runtime::Builder::new_current_thread(),
        "multi" => tokio::runtime::Builder::new_multi_thread(),
        _ => usage("--runtime: current or multi"),
    };
    let rt = rt.enable_all().build().expect("tokio runtime");
    let (ok, line) = rt.block_on(async {
        if a.cmd == "io" {
            io(a.clone()).await
        } else {
            fidelity(a.clone()).await
        }
    });
    println!("{line}");
    std::process::exit(if ok { 0 } else { 1 });
}
