//! What the object-store clients share: the error that names identity, operation and refusal
//! (401, 403, missing bucket, 429 or 503 told apart), bounded retries, the HTTP client with its
//! large-object buffers, capped and time-bounded body reads, and the listed object. [`super::bucket`]
//! puts the GCS ([`super::gcs`]) and S3 ([`super::s3`]: SeaweedFS, MinIO, AWS) clients behind one
//! interface.

use super::errors::chain;
use super::http::{native_roots, verifying_config, Backoff, BodyCap, Transient};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use std::time::Duration;

/// Why a storage operation or the credential lookup failed. Every message names the identity.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no Google credentials found (tried {0})")]
    NoCredentials(String),
    #[error("credentials file {path}: {reason}")]
    BadCredentials { path: String, reason: String },
    #[error("failed to get an access token for {identity}: {reason}")]
    Token { identity: String, reason: String },
    #[error("storage rejected the credentials of {identity} on {op} (an unknown key or a bad signature): {message}")]
    Unauthenticated {
        identity: String,
        op: String,
        message: String,
    },
    #[error("{identity} is not allowed to {op} (403): {message}")]
    Denied {
        identity: String,
        op: String,
        message: String,
    },
    #[error("bucket {bucket} does not exist (404 on {op}, as {identity})")]
    BucketMissing {
        identity: String,
        bucket: String,
        op: String,
    },
    #[error("object {object} not found in bucket {bucket} (404 on {op})")]
    ObjectMissing {
        bucket: String,
        object: String,
        op: String,
    },
    #[error("storage answered {status} on {op} (as {identity}): {message}")]
    Status {
        identity: String,
        op: String,
        status: u16,
        message: String,
    },
    /// 429, or 503 with a slow-down: the store asks the caller to send less (the IO sweep counts
    /// these; `per_object` when the store said the limit is on one object's update rate).
    #[error("storage throttled {op} ({status}{}, as {identity}): {message}", if *per_object { ", per-object rate" } else { "" })]
    Throttled {
        identity: String,
        op: String,
        status: u16,
        per_object: bool,
        message: String,
    },
    #[error("failed to reach {endpoint} on {op}: {reason}")]
    Transport {
        endpoint: String,
        op: String,
        reason: String,
    },
}

impl StoreError {
    /// A refusal (401/403) or missing bucket: the storage decided, as opposed to could not be asked.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            StoreError::Unauthenticated { .. }
                | StoreError::Denied { .. }
                | StoreError::BucketMissing { .. }
                | StoreError::Token { .. }
        )
    }

    /// A short machine-readable class for probe output and tests.
    pub fn class(&self) -> &'static str {
        match self {
            StoreError::NoCredentials(_) => "no-credentials",
            StoreError::BadCredentials { .. } => "bad-credentials",
            StoreError::Token { .. } => "token-refused",
            StoreError::Unauthenticated { .. } => "unauthenticated",
            StoreError::Denied { .. } => "denied",
            StoreError::BucketMissing { .. } => "bucket-missing",
            StoreError::ObjectMissing { .. } => "object-missing",
            StoreError::Status { .. } => "http-status",
            StoreError::Throttled { .. } => "throttled",
            StoreError::Transport { .. } => "unreachable",
        }
    }
}

/// Bounded retries with exponential backoff for 429, 5xx and transport errors, and the time
/// limits of one attempt.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub attempts: u32,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    /// How long a request may wait for its status line.
    pub answer_timeout: Duration,
    /// How long a body may go without a byte (a trickling or stalled server).
    pub idle_timeout: Duration,
}

impl Default for Retry {
    fn default() -> Self {
        Retry {
            attempts: 4,
            first_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(4),
            answer_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

impl Retry {
    /// Backoff before retry `n` (1-based), with up to 25% jitter from the clock.
    pub fn backoff(&self, n: u32) -> Duration {
        Backoff::jittered(self.first_backoff, self.max_backoff).delay(n)
    }
}

pub fn retryable(status: u16) -> bool {
    Transient::Google.status(status)
}

pub(crate) type Http = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

pub(crate) fn http_client() -> Result<Http, String> {
    let mut tcp = HttpConnector::new();
    tcp.enforce_http(false);
    // Small requests (list, delete, token) must not wait for Nagle's algorithm.
    tcp.set_nodelay(true);
    let roots = native_roots()
        .require_some()
        .map_err(|e| format!("failed to load the system's root certificates: {e}"))?;
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(verifying_config(roots)?)
        .https_or_http()
        .enable_http1()
        .wrap_connector(tcp);
    // Large objects: read up to 1 MiB per syscall from the first read (hyper's adaptive buffer
    // starts at 8 KiB) and write bodies without copying them into hyper's buffer; both measured
    // against curl by scripts/bench-docker.
    Ok(Client::builder(hyper_util::rt::TokioExecutor::new())
        .http1_read_buf_exact_size(1 << 20)
        .http1_writev(true)
        .build(https))
}

pub(crate) fn base_url(raw: &str) -> String {
    let b = if raw.contains("://") {
        raw.to_string()
    } else {
        format!("http://{raw}")
    };
    b.trim_end_matches('/').to_string()
}

/// The largest JSON answer read (a list page of 1,000 objects is well under 1 MiB).
pub(crate) const ANSWER_LIMIT: u64 = 16 << 20;

/// Reads a body of at most `limit` bytes into one buffer, sized from Content-Length only up to
/// that limit (a forged length allocates nothing), each frame within `idle`.
pub(crate) async fn read_body(
    resp: http::Response<hyper::body::Incoming>,
    limit: u64,
    idle: Duration,
) -> Result<Bytes, String> {
    let len = resp
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    let mut buf = BodyCap::new(limit);
    if buf.declared(len, true).is_err() {
        return Err(format!(
            "the answer is {len} bytes, over the {} limit",
            crate::clients::files::limit_text(limit)
        ));
    }
    let mut body = resp.into_body();
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Ok(Some(f)) => {
                f.map_err(|e| format!("connection broke while reading the answer: {e}"))?
            }
            Ok(None) => break,
            Err(_) => {
                return Err(format!(
                    "no data for {}s while reading the answer",
                    idle.as_secs()
                ))
            }
        };
        if let Ok(data) = frame.into_data() {
            if buf.push(&data).is_err() {
                return Err(format!(
                    "the answer is over the {} limit",
                    crate::clients::files::limit_text(limit)
                ));
            }
        }
    }
    Ok(Bytes::from(buf.into_inner()))
}

/// Streams a body to `sink` chunk by chunk, each frame within `idle`; returns how many bytes
/// came. The caller turns the reason into its error.
pub(crate) async fn stream_body(
    resp: http::Response<hyper::body::Incoming>,
    idle: Duration,
    mut sink: impl FnMut(&[u8]),
) -> Result<u64, String> {
    let mut body = resp.into_body();
    let mut n = 0u64;
    loop {
        let frame = match tokio::time::timeout(idle, body.frame()).await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(_) => {
                return Err(format!(
                    "no data for {}s while reading the object (after {n} bytes)",
                    idle.as_secs()
                ))
            }
        };
        let frame = frame.map_err(|e| {
            format!(
                "connection broke while reading the object (after {n} bytes): {}",
                chain(&e)
            )
        })?;
        if let Ok(data) = frame.into_data() {
            n += data.len() as u64;
            sink(&data);
        }
    }
    Ok(n)
}

/// A listed object.
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
pub struct ObjectInfo {
    pub name: String,
    #[serde(default, deserialize_with = "string_number")]
    pub size: u64,
}

fn string_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::String(s) => s.parse().unwrap_or(0),
        serde_json::Value::Number(n) => n.as_u64().unwrap_or(0),
        _ => 0,
    })
}
use serde::Deserialize as _;
