//! `kfcheck probe storage`: a GCS round trip with the credentials the environment gives (list,
//! write a small object under `kfcheck/<run-id>/`, read it back and compare, delete), timed per
//! step; optionally leaves a result object behind for the caller to verify and remove.

use super::{ms, ProbeStatus};
use crate::clients::gcs::{GcsClient, GcsError, Options};
use crate::units::parse_size;
use bytes::Bytes;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Instant;

/// What `kfcheck probe storage` was asked to round-trip (the command layer fills it in from the
/// command line).
#[derive(Debug, Clone)]
pub struct StorageProbe {
    pub bucket: String,
    /// Objects go under PREFIX/RUN-ID/ (and SCOPE/ when given).
    pub prefix: String,
    /// Run id for object names (`None`: one made up by the probe).
    pub run_id: Option<String>,
    pub scope: Option<String>,
    /// Size of the object written and read back, as given (e.g. 64KiB).
    pub size: String,
    pub key_file: Option<PathBuf>,
    pub endpoint: Option<String>,
    pub no_metadata: bool,
    /// Also upload the result line (left for the caller).
    pub upload_result: bool,
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

fn error_json(e: &GcsError) -> Value {
    json!({"class": e.class(), "message": e.to_string()})
}

/// Refusals and missing or unusable credentials are decisions (failed): this environment cannot
/// reach the bucket. Anything that kept the probe from asking at all (storage unreachable, an
/// unexpected answer) is errored.
fn status_for(e: &GcsError) -> ProbeStatus {
    match e {
        GcsError::NoCredentials(_)
        | GcsError::BadCredentials { .. }
        | GcsError::Token { .. }
        | GcsError::Unauthenticated { .. }
        | GcsError::Denied { .. }
        | GcsError::BucketMissing { .. } => ProbeStatus::Failed,
        _ => ProbeStatus::Errored,
    }
}

pub(crate) fn options(a: &StorageProbe) -> Options {
    let mut o = Options::from_env();
    o.endpoint = a.endpoint.clone();
    o.key_file = a.key_file.clone();
    o.no_metadata = a.no_metadata;
    o
}

pub(crate) async fn run(a: &StorageProbe) -> (ProbeStatus, Value) {
    let started = Instant::now();
    // Unique per invocation: pid 1 in every container would collide.
    let run_id = a
        .run_id
        .clone()
        .unwrap_or_else(|| format!("probe-{}", crate::model::run_id::new()));
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "host".into());
    let mut prefix = format!("{}/{run_id}/", a.prefix.trim_end_matches('/'));
    if let Some(scope) = a
        .scope
        .as_deref()
        .map(|s| s.trim_matches('/'))
        .filter(|s| !s.is_empty())
    {
        prefix.push_str(scope);
        prefix.push('/');
    }
    let object = format!("{prefix}roundtrip-{host}.bin");
    let mut out = json!({"probe": "storage", "run_id": run_id, "bucket": a.bucket, "object": object, "steps": []});
    let size = match parse_size(&a.size) {
        Ok(s) => s as usize,
        Err(e) => {
            out["status"] = json!(ProbeStatus::Errored);
            out["error"] = json!({"class": "usage", "message": e});
            return (ProbeStatus::Errored, out);
        }
    };
    out["bytes"] = json!(size);
    let client = match GcsClient::connect(&options(a)).await {
        Ok(c) => c,
        Err(e) => {
            let s = status_for(&e);
            out["status"] = json!(s);
            out["error"] = error_json(&e);
            return (s, out);
        }
    };
    out["credentials"] = json!({"kind": client.source().kind(), "source": client.source().describe(), "identity": client.identity()});
    out["endpoint"] = json!(client.endpoint());
    let mut steps = Vec::new();
    let data = payload(
        size,
        started.elapsed().as_nanos() as u64 ^ 0x9e37_79b9_7f4a_7c15,
    );
    let result = roundtrip(&client, a, &object, &prefix, data, &mut steps).await;
    let (status, err) = match result {
        Ok(()) => (ProbeStatus::Passed, Value::Null),
        Err(Problem::Gcs(e)) => (status_for(&e), error_json(&e)),
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
        let push = |out: &mut Value, step: Value| {
            if let Some(s) = out["steps"].as_array_mut() {
                s.push(step);
            }
        };
        copy["result_object"] = json!(name);
        match client
            .upload(
                &a.bucket,
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
    Gcs(GcsError),
    Mismatch(String),
}

impl From<GcsError> for Problem {
    fn from(e: GcsError) -> Self {
        Problem::Gcs(e)
    }
}

fn mbps(bytes: usize, d: std::time::Duration) -> f64 {
    let s = d.as_secs_f64().max(1e-9);
    ((bytes as f64 / s / 1e6) * 100.0).round() / 100.0
}

async fn roundtrip(
    c: &GcsClient,
    a: &StorageProbe,
    object: &str,
    prefix: &str,
    data: Bytes,
    steps: &mut Vec<Value>,
) -> Result<(), Problem> {
    let t = Instant::now();
    let listed = c.list(&a.bucket, prefix, 100).await;
    steps.push(json!({"op": "list", "ok": listed.is_ok(), "ms": ms(t.elapsed())}));
    listed?;
    let len = data.len();
    let t = Instant::now();
    let wrote = c
        .upload(&a.bucket, object, "application/octet-stream", data.clone())
        .await;
    steps.push(json!({"op": "write", "ok": wrote.is_ok(), "ms": ms(t.elapsed()), "mb_per_s": mbps(len, t.elapsed())}));
    wrote?;
    // Compared as the bytes arrive: no second copy of a large object in memory.
    let t = Instant::now();
    let mut offset = 0usize;
    let mut same = true;
    let read = c
        .download_to(&a.bucket, object, |chunk| {
            let end = offset + chunk.len();
            same = same && end <= data.len() && data[offset..end] == *chunk;
            offset = end;
        })
        .await;
    steps.push(json!({"op": "read", "ok": read.is_ok(), "ms": ms(t.elapsed()), "mb_per_s": mbps(len, t.elapsed())}));
    // Delete whatever the read did: the object must not stay behind.
    let t = Instant::now();
    let deleted = c.delete(&a.bucket, object).await;
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
    fn refusals_fail_and_unreachable_errors() {
        let denied = GcsError::Denied {
            identity: "x".into(),
            op: "list".into(),
            message: "m".into(),
        };
        assert_eq!(status_for(&denied), ProbeStatus::Failed);
        let gone = GcsError::Transport {
            endpoint: "e".into(),
            op: "list".into(),
            reason: "r".into(),
        };
        assert_eq!(status_for(&gone), ProbeStatus::Errored);
    }
}
