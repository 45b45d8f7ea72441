//! A small S3 client for the stores Kubeflow pipelines write artifacts to (SeaweedFS in current
//! manifests, MinIO in older ones, AWS S3): list (ListObjectsV2), put, get (streamed), delete,
//! signed with AWS Signature Version 4, path-style addressing. Credentials come from the options,
//! from files a Secret mounts (`accesskey`, `secretkey`, as in `mlpipeline-minio-artifact`) or
//! from the AWS environment variables. Errors tell an unknown key or a bad signature (the store
//! does not know the caller) from a refusal (it knows and says no), a missing bucket, and 429 or
//! 503 SlowDown. Keys never leave this module; errors name where the key came from.

use super::errors::chain;
use super::http::Secret;
use super::store::{
    base_url, http_client, read_body, stream_body, Http, ObjectInfo, Retry, StoreError,
    ANSWER_LIMIT,
};
use bytes::Bytes;
use http_body_util::Full;
use ring::{digest, hmac};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

/// What the payload hash header says when the body is not hashed (the round trip compares what
/// it reads back, and hashing would cost the IO probe a pass over every byte).
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";
/// The largest key file read (a real one is tens of bytes).
const KEY_FILE_LIMIT: u64 = 64 << 10;
/// The largest object `download` buffers.
const OBJECT_LIMIT: u64 = 1 << 30;

/// The Secret KFP's profile controller makes in each profile for its artifact store, with keys
/// `accesskey` and `secretkey`.
pub const KFP_ARTIFACT_SECRET: &str = "mlpipeline-minio-artifact";

/// Where the endpoint and keys come from.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// `http[s]://host:port` (or `host:port`, plain http); default: AWS in the region.
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub access_key: Option<Secret>,
    pub secret_key: Option<Secret>,
    pub session_token: Option<Secret>,
    /// Where `access_key` and `secret_key` came from, for errors and reports.
    pub key_source: Option<String>,
    /// A folder holding `accesskey` and `secretkey` files (a mounted Secret), read at connect.
    pub key_dir: Option<PathBuf>,
    pub retry: Retry,
}

impl S3Options {
    /// The variables AWS's SDKs honour: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
    /// `AWS_SESSION_TOKEN`, `AWS_REGION` (or `AWS_DEFAULT_REGION`), `AWS_ENDPOINT_URL_S3` (or
    /// `AWS_ENDPOINT_URL`).
    pub fn from_env() -> S3Options {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let access_key = var("AWS_ACCESS_KEY_ID").map(Secret::new);
        S3Options {
            endpoint: var("AWS_ENDPOINT_URL_S3").or_else(|| var("AWS_ENDPOINT_URL")),
            region: var("AWS_REGION").or_else(|| var("AWS_DEFAULT_REGION")),
            key_source: access_key
                .as_ref()
                .map(|_| "$AWS_ACCESS_KEY_ID".to_string()),
            access_key,
            secret_key: var("AWS_SECRET_ACCESS_KEY").map(Secret::new),
            session_token: var("AWS_SESSION_TOKEN").map(Secret::new),
            ..S3Options::default()
        }
    }
}

pub struct S3Client {
    http: Http,
    base: String,
    host: String,
    region: String,
    access_key: Secret,
    secret_key: Secret,
    session_token: Option<Secret>,
    source: String,
    retry: Retry,
}

/// Reads one key file of a mounted Secret, trimmed (a `kubectl create secret --from-file` of a
/// file saved by an editor ends in a newline).
fn read_key(path: &Path) -> Result<Secret, StoreError> {
    let bad = |reason: String| StoreError::BadCredentials {
        path: path.display().to_string(),
        reason,
    };
    let bytes = super::files::read_capped(path, KEY_FILE_LIMIT).map_err(|e| bad(e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|_| bad("not UTF-8 text".into()))?;
    let key = text.trim();
    if key.is_empty() {
        return Err(bad("empty".into()));
    }
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad(
            "holds whitespace or control characters inside the key".into()
        ));
    }
    Ok(Secret::new(key))
}

impl S3Client {
    /// Builds the client; fails when no key pair can be found or a key file is unusable. No
    /// request is sent.
    pub fn connect(opts: &S3Options) -> Result<S3Client, StoreError> {
        let region = opts.region.clone().unwrap_or_else(|| "us-east-1".into());
        let (access_key, secret_key, source) = if let Some(dir) = &opts.key_dir {
            (
                read_key(&dir.join("accesskey"))?,
                read_key(&dir.join("secretkey"))?,
                format!("the key pair in {}", dir.display()),
            )
        } else {
            match (&opts.access_key, &opts.secret_key) {
                (Some(a), Some(s)) => (
                    a.clone(),
                    s.clone(),
                    opts.key_source
                        .clone()
                        .unwrap_or_else(|| "the configured key pair".into()),
                ),
                (Some(_), None) => {
                    return Err(StoreError::NoCredentials(
                        "an access key without its secret key (AWS_SECRET_ACCESS_KEY)".into(),
                    ))
                }
                _ => {
                    return Err(StoreError::NoCredentials(
                        "a key folder, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY".into(),
                    ))
                }
            }
        };
        let base = match &opts.endpoint {
            Some(e) => base_url(e),
            None => format!("https://s3.{region}.amazonaws.com"),
        };
        let uri: http::Uri = base.parse().map_err(|e| StoreError::Transport {
            endpoint: base.clone(),
            op: "connect".into(),
            reason: format!("not a URL: {e}"),
        })?;
        let host = match (uri.host(), uri.port_u16()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            (Some(h), None) => h.to_string(),
            _ => {
                return Err(StoreError::Transport {
                    endpoint: base.clone(),
                    op: "connect".into(),
                    reason: "no host in the endpoint".into(),
                })
            }
        };
        let http = http_client().map_err(|reason| StoreError::Transport {
            endpoint: base.clone(),
            op: "connect".into(),
            reason,
        })?;
        Ok(S3Client {
            http,
            base,
            host,
            region,
            access_key,
            secret_key,
            session_token: opts.session_token.clone(),
            source,
            retry: opts.retry,
        })
    }

    /// Who the store is asked as: where the key pair came from (never the key itself).
    pub fn identity(&self) -> &str {
        &self.source
    }

    pub fn source_kind(&self) -> &'static str {
        "access-key"
    }

    pub fn source_description(&self) -> &str {
        &self.source
    }

    pub fn endpoint(&self) -> &str {
        &self.base
    }

    /// Signs and sends one request with retries on 429, 5xx and transport errors (as far as
    /// `retry.attempts` allows), up to the status line.
    async fn send_raw(
        &self,
        method: http::Method,
        path: &str,
        query: &[(&str, String)],
        content_type: Option<&str>,
        body: Bytes,
        op: &str,
    ) -> Result<http::Response<hyper::body::Incoming>, StoreError> {
        let transport = |reason: String| StoreError::Transport {
            endpoint: self.base.clone(),
            op: op.into(),
            reason,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            let req = self
                .signed(&method, path, query, content_type, body.clone(), now_utc())
                .map_err(|e| transport(e.to_string()))?;
            let sent =
                tokio::time::timeout(self.retry.answer_timeout, self.http.request(req)).await;
            match sent {
                Ok(Ok(resp))
                    if retryable(resp.status().as_u16()) && attempt < self.retry.attempts =>
                {
                    let _ = read_body(resp, ANSWER_LIMIT, self.retry.idle_timeout).await;
                }
                Ok(Ok(resp)) => return Ok(resp),
                Ok(Err(_)) | Err(_) if attempt < self.retry.attempts => {}
                Ok(Err(e)) => {
                    return Err(transport(format!(
                        "{} (after {attempt} attempts)",
                        chain(&e)
                    )))
                }
                Err(_) => {
                    return Err(transport(format!(
                        "no answer within {}s (after {attempt} attempts)",
                        self.retry.answer_timeout.as_secs()
                    )))
                }
            }
            tokio::time::sleep(self.retry.backoff(attempt)).await;
        }
    }

    /// The request with its SigV4 `Authorization` header.
    fn signed(
        &self,
        method: &http::Method,
        path: &str,
        query: &[(&str, String)],
        content_type: Option<&str>,
        body: Bytes,
        now: (String, String),
    ) -> Result<http::Request<Full<Bytes>>, http::Error> {
        let (amz_date, date) = now;
        let payload = if body.is_empty() {
            hex(digest::digest(&digest::SHA256, b"").as_ref())
        } else {
            UNSIGNED_PAYLOAD.to_string()
        };
        let mut q: Vec<(String, String)> = query
            .iter()
            .map(|(k, v)| (uri_encode(k, true), uri_encode(v, true)))
            .collect();
        q.sort();
        let canonical_query = q
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let mut headers = vec![
            ("host", self.host.clone()),
            ("x-amz-content-sha256", payload.clone()),
            ("x-amz-date", amz_date.clone()),
        ];
        if let Some(t) = &self.session_token {
            headers.push(("x-amz-security-token", t.expose().to_string()));
        }
        let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        let signed_headers = headers
            .iter()
            .map(|(k, _)| *k)
            .collect::<Vec<_>>()
            .join(";");
        let canonical = format!(
            "{method}\n{}\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload}",
            uri_encode(path, false)
        );
        let scope = format!("{date}/{}/s3/aws4_request", self.region);
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
            hex(digest::digest(&digest::SHA256, canonical.as_bytes()).as_ref())
        );
        let key = signing_key(self.secret_key.expose(), &date, &self.region);
        let signature = hex(hmac::sign(&key, to_sign.as_bytes()).as_ref());
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
            self.access_key.expose()
        );
        let mut url = format!("{}{}", self.base, uri_encode(path, false));
        if !canonical_query.is_empty() {
            url.push('?');
            url.push_str(&canonical_query);
        }
        let mut b = http::Request::builder()
            .method(method.clone())
            .uri(url)
            .header("Authorization", auth);
        for (k, v) in &headers[1..] {
            b = b.header(*k, v);
        }
        if let Some(ct) = content_type {
            b = b.header("Content-Type", ct);
        }
        b.body(Full::new(body))
    }

    async fn send(
        &self,
        method: http::Method,
        path: &str,
        query: &[(&str, String)],
        content_type: Option<&str>,
        body: Bytes,
        op: &str,
    ) -> Result<(u16, Bytes), StoreError> {
        // Only a read buffers an object; every other answer is a small document.
        let limit = if method == http::Method::GET && op.starts_with("read ") {
            OBJECT_LIMIT
        } else {
            ANSWER_LIMIT
        };
        let resp = self
            .send_raw(method, path, query, content_type, body, op)
            .await?;
        let status = resp.status().as_u16();
        let body = read_body(resp, limit, self.retry.idle_timeout)
            .await
            .map_err(|reason| StoreError::Transport {
                endpoint: self.base.clone(),
                op: op.into(),
                reason,
            })?;
        Ok((status, body))
    }

    /// Maps a non-success answer (S3's XML error) to an error that names identity, operation
    /// and refusal.
    fn refusal(
        &self,
        status: u16,
        body: &[u8],
        op: &str,
        bucket: &str,
        object: Option<&str>,
    ) -> StoreError {
        let text = String::from_utf8_lossy(body);
        let code = xml_text(&text, "Code").unwrap_or_default();
        let message = xml_text(&text, "Message")
            .map(|m| crate::clients::redact::redact(&m))
            .unwrap_or_else(|| {
                if code.is_empty() {
                    format!("no error document (HTTP {status})")
                } else {
                    String::new()
                }
            });
        let message = match (code.is_empty(), message.is_empty()) {
            (false, false) => format!("{code}: {message}"),
            (false, true) => code.clone(),
            _ => message,
        };
        let identity = self.source.clone();
        match (status, code.as_str()) {
            (
                _,
                "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "ExpiredToken" | "InvalidToken",
            )
            | (401, _) => StoreError::Unauthenticated {
                identity,
                op: op.into(),
                message,
            },
            (_, "NoSuchBucket") => StoreError::BucketMissing {
                identity,
                bucket: bucket.into(),
                op: op.into(),
            },
            (403, _) => StoreError::Denied {
                identity,
                op: op.into(),
                message,
            },
            (404, _) if object.is_some() => StoreError::ObjectMissing {
                bucket: bucket.into(),
                object: object.unwrap_or_default().into(),
                op: op.into(),
            },
            (404, _) => StoreError::BucketMissing {
                identity,
                bucket: bucket.into(),
                op: op.into(),
            },
            (429 | 503, _) => StoreError::Throttled {
                identity,
                op: op.into(),
                status,
                per_object: false,
                message,
            },
            _ => StoreError::Status {
                identity,
                op: op.into(),
                status,
                message,
            },
        }
    }

    /// Lists objects under `prefix` (one page of at most `max`).
    pub async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        max: u32,
    ) -> Result<Vec<ObjectInfo>, StoreError> {
        let op = format!("list objects in s3://{bucket}/{prefix}");
        let query = [
            ("list-type", "2".to_string()),
            ("max-keys", max.to_string()),
            ("prefix", prefix.to_string()),
        ];
        let (status, body) = self
            .send(
                http::Method::GET,
                &format!("/{bucket}"),
                &query,
                None,
                Bytes::new(),
                &op,
            )
            .await?;
        if status != 200 {
            return Err(self.refusal(status, &body, &op, bucket, None));
        }
        Ok(parse_list(&String::from_utf8_lossy(&body)))
    }

    pub async fn upload(
        &self,
        bucket: &str,
        object: &str,
        content_type: &str,
        data: Bytes,
    ) -> Result<(), StoreError> {
        let op = format!("write s3://{bucket}/{object}");
        let (status, body) = self
            .send(
                http::Method::PUT,
                &format!("/{bucket}/{object}"),
                &[],
                Some(content_type),
                data,
                &op,
            )
            .await?;
        if !(200..300).contains(&status) {
            return Err(self.refusal(status, &body, &op, bucket, None));
        }
        Ok(())
    }

    pub async fn download(&self, bucket: &str, object: &str) -> Result<Bytes, StoreError> {
        let op = format!("read s3://{bucket}/{object}");
        let (status, body) = self
            .send(
                http::Method::GET,
                &format!("/{bucket}/{object}"),
                &[],
                None,
                Bytes::new(),
                &op,
            )
            .await?;
        if status != 200 {
            return Err(self.refusal(status, &body, &op, bucket, Some(object)));
        }
        Ok(body)
    }

    /// Streams an object to `sink`; returns how many bytes came.
    pub async fn download_to(
        &self,
        bucket: &str,
        object: &str,
        sink: impl FnMut(&[u8]),
    ) -> Result<u64, StoreError> {
        let op = format!("read s3://{bucket}/{object}");
        let resp = self
            .send_raw(
                http::Method::GET,
                &format!("/{bucket}/{object}"),
                &[],
                None,
                Bytes::new(),
                &op,
            )
            .await?;
        let status = resp.status().as_u16();
        if status != 200 {
            let body = read_body(resp, ANSWER_LIMIT, self.retry.idle_timeout)
                .await
                .unwrap_or_default();
            return Err(self.refusal(status, &body, &op, bucket, Some(object)));
        }
        stream_body(resp, self.retry.idle_timeout, sink)
            .await
            .map_err(|reason| StoreError::Transport {
                endpoint: self.base.clone(),
                op,
                reason,
            })
    }

    /// Deletes an object (S3 answers 204 for one already gone, too).
    pub async fn delete(&self, bucket: &str, object: &str) -> Result<(), StoreError> {
        let op = format!("delete s3://{bucket}/{object}");
        let (status, body) = self
            .send(
                http::Method::DELETE,
                &format!("/{bucket}/{object}"),
                &[],
                None,
                Bytes::new(),
                &op,
            )
            .await?;
        match status {
            200..=299 => Ok(()),
            _ => match self.refusal(status, &body, &op, bucket, Some(object)) {
                StoreError::ObjectMissing { .. } => Ok(()),
                e => Err(e),
            },
        }
    }
}

fn retryable(status: u16) -> bool {
    super::store::retryable(status)
}

/// `(x-amz-date, date)`: `20261204T230033Z`, `20261204`.
fn now_utc() -> (String, String) {
    let t = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let amz: String = t.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let date = amz[..8].to_string();
    (amz, date)
}

fn signing_key(secret: &str, date: &str, region: &str) -> hmac::Key {
    hmac::Key::new(
        hmac::HMAC_SHA256,
        derive_key(secret, date, region, "s3").as_ref(),
    )
}

/// SigV4's key derivation: HMAC chains over date, region, service and `aws4_request`.
fn derive_key(secret: &str, date: &str, region: &str, service: &str) -> hmac::Tag {
    let step = |key: &[u8], data: &str| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
    };
    let k = step(format!("AWS4{secret}").as_bytes(), date);
    let k = step(k.as_ref(), region);
    let k = step(k.as_ref(), service);
    step(k.as_ref(), "aws4_request")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// SigV4's URI encoding: every byte but the unreserved ones, and `/` too unless it is a path.
fn uri_encode(s: &str, slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'.' | b'_' | b'~')
            || (b == b'/' && !slash)
        {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The text of the first `<tag>` element, entities decoded.
fn xml_text(doc: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = doc.find(&open)? + open.len();
    let end = doc[start..].find(&format!("</{tag}>"))? + start;
    Some(xml_unescape(&doc[start..end]))
}

fn xml_unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// The objects of a ListObjectsV2 answer.
fn parse_list(doc: &str) -> Vec<ObjectInfo> {
    let mut out = Vec::new();
    let mut rest = doc;
    while let Some(i) = rest.find("<Contents>") {
        let after = &rest[i + "<Contents>".len()..];
        let Some(j) = after.find("</Contents>") else {
            break;
        };
        let item = &after[..j];
        if let Some(name) = xml_text(item, "Key") {
            let size = xml_text(item, "Size")
                .and_then(|s| s.trim().parse().ok())
                .unwrap_or(0);
            out.push(ObjectInfo { name, size });
        }
        rest = &after[j..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(endpoint: &str) -> S3Client {
        S3Client::connect(&S3Options {
            endpoint: Some(endpoint.into()),
            access_key: Some(Secret::new("AKIAIOSFODNN7EXAMPLE")),
            secret_key: Some(Secret::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")),
            ..S3Options::default()
        })
        .unwrap()
    }

    /// AWS's published key-derivation example (secret, 20120215, us-east-1, iam).
    #[test]
    fn signing_key_matches_the_aws_documented_derivation() {
        let k = derive_key(
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            "20120215",
            "us-east-1",
            "iam",
        );
        assert_eq!(
            hex(k.as_ref()),
            "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
        );
    }

    #[test]
    fn requests_carry_a_v4_authorization_and_no_key_in_the_url() {
        let c = client("http://127.0.0.1:8333");
        let req = c
            .signed(
                &http::Method::GET,
                "/bucket/a b/c+d",
                &[("prefix", "x/y".into()), ("list-type", "2".into())],
                None,
                Bytes::new(),
                ("20261204T230033Z".into(), "20261204".into()),
            )
            .unwrap();
        assert_eq!(
            req.uri().to_string(),
            "http://127.0.0.1:8333/bucket/a%20b/c%2Bd?list-type=2&prefix=x%2Fy"
        );
        let auth = req.headers()["authorization"].to_str().unwrap();
        assert!(auth.starts_with("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20261204/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="), "{auth}");
        assert!(!auth.contains("wJalr"));
        assert_eq!(req.headers()["x-amz-date"], "20261204T230033Z");
        // The same request signed twice gives the same signature; another path does not.
        let again = c
            .signed(
                &http::Method::GET,
                "/bucket/a b/c+d",
                &[("prefix", "x/y".into()), ("list-type", "2".into())],
                None,
                Bytes::new(),
                ("20261204T230033Z".into(), "20261204".into()),
            )
            .unwrap();
        assert_eq!(
            again.headers()["authorization"],
            req.headers()["authorization"]
        );
        let other = c
            .signed(
                &http::Method::GET,
                "/bucket/other",
                &[],
                None,
                Bytes::new(),
                ("20261204T230033Z".into(), "20261204".into()),
            )
            .unwrap();
        assert_ne!(
            other.headers()["authorization"],
            req.headers()["authorization"]
        );
    }

    #[test]
    fn refusals_are_told_apart_and_name_the_key_source_not_the_key() {
        let c = client("127.0.0.1:8333");
        let doc = |code: &str| {
            format!("<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>m &amp; n</Message></Error>")
        };
        let e = c.refusal(403, doc("InvalidAccessKeyId").as_bytes(), "list", "b", None);
        assert_eq!(e.class(), "unauthenticated");
        assert!(
            e.to_string().contains("configured key pair") && !e.to_string().contains("AKIA"),
            "{e}"
        );
        assert_eq!(
            c.refusal(
                403,
                doc("SignatureDoesNotMatch").as_bytes(),
                "list",
                "b",
                None
            )
            .class(),
            "unauthenticated"
        );
        assert_eq!(
            c.refusal(403, doc("AccessDenied").as_bytes(), "list", "b", None)
                .class(),
            "denied"
        );
        assert_eq!(
            c.refusal(404, doc("NoSuchBucket").as_bytes(), "read", "b", Some("o"))
                .class(),
            "bucket-missing"
        );
        assert_eq!(
            c.refusal(404, doc("NoSuchKey").as_bytes(), "read", "b", Some("o"))
                .class(),
            "object-missing"
        );
        assert_eq!(
            c.refusal(404, b"", "read", "b", Some("o")).class(),
            "object-missing"
        );
        let slow = c.refusal(503, doc("SlowDown").as_bytes(), "write", "b", Some("o"));
        assert!(
            matches!(slow, StoreError::Throttled { status: 503, .. }),
            "{slow:?}"
        );
        assert!(slow.to_string().contains("SlowDown: m & n"), "{slow}");
        assert_eq!(c.refusal(429, b"", "write", "b", None).class(), "throttled");
        assert_eq!(
            c.refusal(500, b"", "write", "b", None).class(),
            "http-status"
        );
    }

    #[test]
    fn list_answers_are_parsed_with_entities() {
        let doc = "<ListBucketResult><Contents><Key>kfcheck/a&amp;b.bin</Key><Size>42</Size></Contents><Contents><Key>k2</Key><Size>0</Size></Contents></ListBucketResult>";
        assert_eq!(
            parse_list(doc),
            vec![
                ObjectInfo {
                    name: "kfcheck/a&b.bin".into(),
                    size: 42
                },
                ObjectInfo {
                    name: "k2".into(),
                    size: 0
                }
            ]
        );
        assert!(parse_list("<ListBucketResult/>").is_empty());
    }

    #[test]
    fn keys_come_from_a_mounted_secret_folder_and_bad_ones_are_named() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("accesskey"), "minio\n").unwrap();
        std::fs::write(d.path().join("secretkey"), "minio123\n").unwrap();
        let c = S3Client::connect(&S3Options {
            endpoint: Some("127.0.0.1:9000".into()),
            key_dir: Some(d.path().into()),
            ..S3Options::default()
        })
        .unwrap();
        assert_eq!(c.access_key.expose(), "minio");
        assert!(c.identity().contains(&d.path().display().to_string()));
        std::fs::write(d.path().join("secretkey"), "   \n").unwrap();
        let e = S3Client::connect(&S3Options {
            key_dir: Some(d.path().into()),
            ..S3Options::default()
        })
        .err()
        .unwrap();
        assert_eq!(e.class(), "bad-credentials");
        assert!(e.to_string().contains("secretkey"), "{e}");
        let none = S3Client::connect(&S3Options::default()).err().unwrap();
        assert_eq!(none.class(), "no-credentials");
    }

    #[test]
    fn the_date_is_in_the_sigv4_form() {
        let (amz, date) = now_utc();
        assert_eq!(amz.len(), 16, "{amz}");
        assert!(amz.ends_with('Z') && amz.as_bytes()[8] == b'T');
        assert_eq!(&amz[..8], date);
    }
}
