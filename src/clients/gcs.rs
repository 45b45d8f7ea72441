//! A small Google Cloud Storage client: the JSON API operations a readiness check needs (list,
//! get, simple upload, delete), the credentials a data scientist's code would find (an emulator,
//! a service-account key through the JWT bearer flow, Application Default Credentials, the
//! GCE/GKE metadata server under Workload Identity), bounded retries on 429/5xx, and errors that
//! say which identity was used and what was refused. Tokens and keys never leave this module.

use super::errors::chain;
use super::http::Secret;
use super::store::{base_url, http_client, read_body, stream_body, Http, ANSWER_LIMIT};
pub use super::store::{retryable, ObjectInfo, Retry, StoreError};
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::Full;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::Mutex;

pub const DEFAULT_ENDPOINT: &str = "https://storage.googleapis.com";
pub const SCOPE_READ_WRITE: &str = "https://www.googleapis.com/auth/devstorage.read_write";
const METADATA_HOST: &str = "metadata.google.internal";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// Where credentials come from, in the order Google's libraries look.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// `STORAGE_EMULATOR_HOST`: no authentication at all.
    Emulator,
    /// A service-account key file (given explicitly, or through ADC).
    ServiceAccountKey {
        path: PathBuf,
        email: String,
        via_adc: bool,
    },
    /// An ADC `authorized_user` file (gcloud auth application-default login).
    AuthorizedUser { path: PathBuf },
    /// The GCE/GKE metadata server (Workload Identity on GKE).
    MetadataServer { host: String },
}

impl Source {
    /// Which identity, for messages (never a secret).
    pub fn identity(&self) -> String {
        match self {
            Source::Emulator => "no identity (storage emulator)".into(),
            Source::ServiceAccountKey { email, .. } => format!("service account {email}"),
            Source::AuthorizedUser { path } => format!("the user of ADC file {}", path.display()),
            Source::MetadataServer { host } => {
                format!("the metadata server's default service account ({host})")
            }
        }
    }

    /// How it was found, for probe output.
    pub fn describe(&self) -> String {
        match self {
            Source::Emulator => "STORAGE_EMULATOR_HOST (no authentication)".into(),
            Source::ServiceAccountKey {
                path,
                email,
                via_adc,
            } => {
                format!(
                    "service-account key {} ({email}){}",
                    path.display(),
                    if *via_adc {
                        " via Application Default Credentials"
                    } else {
                        ""
                    }
                )
            }
            Source::AuthorizedUser { path } => format!(
                "Application Default Credentials user file {}",
                path.display()
            ),
            Source::MetadataServer { host } => {
                format!("metadata server {host} (Workload Identity on GKE)")
            }
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Source::Emulator => "emulator",
            Source::ServiceAccountKey { via_adc: false, .. } => "key-file",
            Source::ServiceAccountKey { via_adc: true, .. } => "adc-key-file",
            Source::AuthorizedUser { .. } => "adc-user",
            Source::MetadataServer { .. } => "metadata-server",
        }
    }
}

/// What decides the endpoint and the credentials; captured from the environment by the caller.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// An explicit endpoint (keeps authentication), e.g. a proxy or a test server.
    pub endpoint: Option<String>,
    /// An explicit service-account key file (wins over ADC).
    pub key_file: Option<PathBuf>,
    /// `STORAGE_EMULATOR_HOST`.
    pub emulator_host: Option<String>,
    /// `GOOGLE_APPLICATION_CREDENTIALS`.
    pub adc_file: Option<PathBuf>,
    /// gcloud's configuration directory (`CLOUDSDK_CONFIG`, else `$HOME/.config/gcloud`).
    pub gcloud_dir: Option<PathBuf>,
    /// `GCE_METADATA_HOST` (host[:port]); `None` means metadata.google.internal.
    pub metadata_host: Option<String>,
    /// Skip the metadata server (outside Google Cloud it only costs a timeout).
    pub no_metadata: bool,
    pub retry: Retry,
}

impl Options {
    /// Reads the environment variables Google's libraries honour.
    pub fn from_env() -> Options {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        Options {
            emulator_host: var("STORAGE_EMULATOR_HOST"),
            adc_file: var("GOOGLE_APPLICATION_CREDENTIALS").map(PathBuf::from),
            gcloud_dir: var("CLOUDSDK_CONFIG")
                .map(PathBuf::from)
                .or_else(|| var("HOME").map(|h| Path::new(&h).join(".config/gcloud"))),
            metadata_host: var("GCE_METADATA_HOST"),
            ..Options::default()
        }
    }
}

/// Percent-encodes an object name for a URL path segment or query value: everything but the
/// unreserved characters, so `/` becomes `%2F` as the JSON API requires.
pub fn escape(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

struct Token {
    value: Secret,
    expires: Instant,
}

enum Auth {
    None,
    Key {
        email: String,
        key_id: String,
        token_uri: String,
        key: Arc<ring::signature::RsaKeyPair>,
    },
    User {
        client_id: String,
        client_secret: Secret,
        refresh_token: Secret,
        token_uri: String,
    },
    Metadata {
        host: String,
    },
}

pub struct GcsClient {
    http: Http,
    base: String,
    source: Source,
    auth: Auth,
    token: Mutex<Option<Token>>,
    retry: Retry,
}

fn read_json(path: &Path) -> Result<serde_json::Value, StoreError> {
    let bad = |reason: String| StoreError::BadCredentials {
        path: path.display().to_string(),
        reason,
    };
    // Never a FIFO (it would block the run) and never more than a key file can be.
    let bytes =
        crate::clients::files::read_capped(path, KEY_FILE_LIMIT).map_err(|e| bad(e.to_string()))?;
    // serde_json's message could quote the file; say only where it broke.
    serde_json::from_slice(&bytes).map_err(|e| {
        bad(format!(
            "is not JSON (error at line {} column {})",
            e.line(),
            e.column()
        ))
    })
}

fn text<'a>(v: &'a serde_json::Value, k: &str) -> Option<&'a str> {
    v.get(k)
        .and_then(|x| x.as_str())
        .filter(|s| !s.trim().is_empty())
}

/// A token endpoint must be https, except on the loopback interface (test token servers).
fn check_token_uri(uri: &str) -> Result<(), String> {
    if uri.starts_with("https://") {
        return Ok(());
    }
    let rest = uri
        .strip_prefix("http://")
        .ok_or("token_uri is not an http(s) URL")?;
    let host = rest.split(['/', ':']).next().unwrap_or("");
    if matches!(host, "127.0.0.1" | "localhost" | "[") || rest.starts_with("[::1]") {
        Ok(())
    } else {
        Err("token_uri is not https (plain http is accepted only on the loopback interface)".into())
    }
}

fn key_auth(
    path: &Path,
    v: &serde_json::Value,
    via_adc: bool,
) -> Result<(Source, Auth), StoreError> {
    let bad = |reason: &str| StoreError::BadCredentials {
        path: path.display().to_string(),
        reason: reason.to_string(),
    };
    let email = text(v, "client_email")
        .ok_or_else(|| bad("has no client_email"))?
        .to_string();
    let pem = text(v, "private_key").ok_or_else(|| bad("has no private_key"))?;
    let key = load_private_key(pem).map_err(|why| bad(&format!("private_key: {why}")))?;
    let token_uri = text(v, "token_uri")
        .unwrap_or(DEFAULT_TOKEN_URI)
        .to_string();
    check_token_uri(&token_uri).map_err(|e| bad(&e))?;
    let key_id = text(v, "private_key_id").unwrap_or("").to_string();
    Ok((
        Source::ServiceAccountKey {
            path: path.to_path_buf(),
            email: email.clone(),
            via_adc,
        },
        Auth::Key {
            email,
            key_id,
            token_uri,
            key: Arc::new(key),
        },
    ))
}

fn file_auth(path: &Path, via_adc: bool) -> Result<(Source, Auth), StoreError> {
    let v = read_json(path)?;
    let bad = |reason: String| StoreError::BadCredentials {
        path: path.display().to_string(),
        reason,
    };
    match text(&v, "type") {
        Some("service_account") => key_auth(path, &v, via_adc),
        Some("authorized_user") => {
            let get = |k: &str| {
                text(&v, k)
                    .map(str::to_string)
                    .ok_or_else(|| bad(format!("authorized_user file has no {k}")))
            };
            // The refresh token is a long-lived credential: never sent over plain http.
            let token_uri = text(&v, "token_uri")
                .unwrap_or(DEFAULT_TOKEN_URI)
                .to_string();
            check_token_uri(&token_uri).map_err(bad)?;
            Ok((
                Source::AuthorizedUser {
                    path: path.to_path_buf(),
                },
                Auth::User {
                    client_id: get("client_id")?,
                    client_secret: Secret::new(get("client_secret")?),
                    refresh_token: Secret::new(get("refresh_token")?),
                    token_uri,
                },
            ))
        }
        Some(other) => Err(bad(format!(
            "credential type {other:?} is not supported (service_account or authorized_user)"
        ))),
        None if v.get("private_key").is_some() => key_auth(path, &v, via_adc),
        None => Err(bad(
            "has no type field and no private_key: not a Google credentials file".into(),
        )),
    }
}

/// Signs a JWT bearer assertion (RS256) for the token endpoint.
pub fn sign_assertion(
    key: &ring::signature::RsaKeyPair,
    email: &str,
    key_id: &str,
    scope: &str,
    aud: &str,
    now: u64,
) -> Result<String, String> {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut header = serde_json::json!({"alg": "RS256", "typ": "JWT"});
    if !key_id.is_empty() {
        header["kid"] = key_id.into();
    }
    let claims = serde_json::json!({"iss": email, "scope": scope, "aud": aud, "iat": now, "exp": now + 3600});
    let signing_input = format!(
        "{}.{}",
        b64.encode(header.to_string()),
        b64.encode(claims.to_string())
    );
    let mut sig = vec![0u8; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        signing_input.as_bytes(),
        &mut sig,
    )
    .map_err(|_| "failed to sign the token request".to_string())?;
    Ok(format!("{signing_input}.{}", b64.encode(sig)))
}

fn form_escape(s: &str) -> String {
    escape(s)
}

impl GcsClient {
    /// Resolves endpoint and credentials: emulator, explicit key file, ADC file, gcloud's ADC
    /// file, then the metadata server (probed with a short timeout).
    pub async fn connect(opts: &Options) -> Result<GcsClient, StoreError> {
        let http = http_client().map_err(|reason| StoreError::Transport {
            endpoint: "(local)".into(),
            op: "start the HTTP client".into(),
            reason,
        })?;
        let make = |base: String, source: Source, auth: Auth| GcsClient {
            http: http.clone(),
            base,
            source,
            auth,
            token: Mutex::new(None),
            retry: opts.retry,
        };
        if let Some(host) = &opts.emulator_host {
            return Ok(make(base_url(host), Source::Emulator, Auth::None));
        }
        let base = base_url(opts.endpoint.as_deref().unwrap_or(DEFAULT_ENDPOINT));
        if let Some(path) = &opts.key_file {
            let (s, a) = file_auth(path, false)?;
            return Ok(make(base, s, a));
        }
        let mut tried = vec!["STORAGE_EMULATOR_HOST".to_string()];
        if let Some(path) = &opts.adc_file {
            // Named explicitly: an unreadable file is an error, not a reason to look elsewhere.
            let (s, a) = file_auth(path, true)?;
            return Ok(make(base, s, a));
        }
        tried.push("GOOGLE_APPLICATION_CREDENTIALS".into());
        if let Some(dir) = &opts.gcloud_dir {
            let well_known = dir.join("application_default_credentials.json");
            if well_known.is_file() {
                let (s, a) = file_auth(&well_known, true)?;
                return Ok(make(base, s, a));
            }
            tried.push(well_known.display().to_string());
        }
        if !opts.no_metadata {
            let host = opts
                .metadata_host
                .clone()
                .unwrap_or_else(|| METADATA_HOST.to_string());
            let client = make(
                base.clone(),
                Source::MetadataServer { host: host.clone() },
                Auth::Metadata { host: host.clone() },
            );
            if client.metadata_answers().await {
                return Ok(client);
            }
            tried.push(format!("metadata server {host}"));
        }
        Err(StoreError::NoCredentials(tried.join(", ")))
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    pub fn identity(&self) -> String {
        self.source.identity()
    }

    pub fn endpoint(&self) -> &str {
        &self.base
    }

    async fn metadata_answers(&self) -> bool {
        let Auth::Metadata { host } = &self.auth else {
            return false;
        };
        let Ok(req) = http::Request::get(format!(
            "http://{host}/computeMetadata/v1/instance/service-accounts/default/email"
        ))
        .header("Metadata-Flavor", "Google")
        .body(Full::new(Bytes::new())) else {
            return false;
        };
        matches!(tokio::time::timeout(Duration::from_secs(2), self.http.request(req)).await, Ok(Ok(r)) if r.status().is_success())
    }

    /// The access token, fetched once and refreshed a minute before it expires.
    async fn bearer(&self) -> Result<Option<Secret>, StoreError> {
        if matches!(self.auth, Auth::None) {
            return Ok(None);
        }
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref() {
            if t.expires > Instant::now() + Duration::from_secs(60) {
                return Ok(Some(t.value.clone()));
            }
        }
        let identity = self.identity();
        let refused = |reason: String| StoreError::Token {
            identity: identity.clone(),
            reason,
        };
        let (req, endpoint) = match &self.auth {
            Auth::None => return Ok(None),
            Auth::Key {
                email,
                key_id,
                token_uri,
                key,
            } => {
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                let jwt = sign_assertion(key, email, key_id, SCOPE_READ_WRITE, token_uri, now)
                    .map_err(refused)?;
                let body = format!(
                    "grant_type={}&assertion={jwt}",
                    form_escape("urn:ietf:params:oauth:grant-type:jwt-bearer")
                );
                (form_post(token_uri, body), token_uri.clone())
            }
            Auth::User {
                client_id,
                client_secret,
                refresh_token,
                token_uri,
            } => {
                let body = format!(
                    "grant_type=refresh_token&client_id={}&client_secret={}&refresh_token={}",
                    form_escape(client_id),
                    form_escape(client_secret.expose()),
                    form_escape(refresh_token.expose())
                );
                (form_post(token_uri, body), token_uri.clone())
            }
            Auth::Metadata { host } => {
                let url = format!(
                    "http://{host}/computeMetadata/v1/instance/service-accounts/default/token"
                );
                (
                    http::Request::get(&url)
                        .header("Metadata-Flavor", "Google")
                        .body(Full::new(Bytes::new())),
                    url,
                )
            }
        };
        let req = req.map_err(|e| refused(format!("bad token request: {e}")))?;
        let resp = tokio::time::timeout(Duration::from_secs(30), self.http.request(req))
            .await
            .map_err(|_| refused(format!("{endpoint} did not answer within 30s")))?
            .map_err(|e| refused(format!("cannot reach {endpoint}: {}", chain(&e))))?;
        let status = resp.status().as_u16();
        let body = read_body(resp, TOKEN_ANSWER_LIMIT, self.retry.idle_timeout)
            .await
            .map_err(|e| refused(format!("{endpoint}: {e}")))?;
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if status != 200 {
            // OAuth errors: {"error": "invalid_grant", "error_description": "..."}; no secrets there.
            let what = [text(&v, "error"), text(&v, "error_description")]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(": ");
            let what = if what.is_empty() {
                "no OAuth error in the answer".to_string()
            } else {
                crate::clients::redact::redact(&what)
            };
            return Err(refused(format!("{endpoint} answered {status}: {what}")));
        }
        let token = Secret::new(
            text(&v, "access_token")
                .ok_or_else(|| refused(format!("{endpoint} answered without an access_token")))?,
        );
        // A token server's word on expiry is capped at a day: a huge `expires_in` must neither
        // overflow the clock nor keep a token past any real lifetime.
        let ttl = v
            .get("expires_in")
            .and_then(|e| e.as_u64())
            .unwrap_or(3600)
            .min(86400);
        *slot = Some(Token {
            value: token.clone(),
            expires: Instant::now() + Duration::from_secs(ttl),
        });
        Ok(Some(token))
    }

    /// Sends a request with retries on 408/429/5xx and transport errors, up to the status line;
    /// the body is the caller's to read. `op` names the operation for errors.
    async fn send_raw(
        &self,
        method: http::Method,
        url: &str,
        content_type: Option<&str>,
        body: Bytes,
        op: &str,
    ) -> Result<http::Response<hyper::body::Incoming>, StoreError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let token = self.bearer().await?;
            let mut b = http::Request::builder().method(method.clone()).uri(url);
            if let Some(t) = &token {
                b = b.header("Authorization", format!("Bearer {}", t.expose()));
            }
            if let Some(ct) = content_type {
                b = b.header("Content-Type", ct);
            }
            let req = b
                .body(Full::new(body.clone()))
                .map_err(|e| StoreError::Transport {
                    endpoint: self.base.clone(),
                    op: op.into(),
                    reason: e.to_string(),
                })?;
            // Bounded up to the status line: an endpoint that accepts and never answers is an
            // error after ANSWER_TIMEOUT, not a hang.
            let sent =
                tokio::time::timeout(self.retry.answer_timeout, self.http.request(req)).await;
            match sent {
                Ok(Ok(resp))
                    if retryable(resp.status().as_u16()) && attempt < self.retry.attempts =>
                {
                    // Drained so the connection can be reused.
                    let _ = read_body(resp, ANSWER_LIMIT, self.retry.idle_timeout).await;
                }
                Ok(Ok(resp)) => return Ok(resp),
                Ok(Err(_)) | Err(_) if attempt < self.retry.attempts => {}
                Ok(Err(e)) => {
                    return Err(StoreError::Transport {
                        endpoint: self.base.clone(),
                        op: op.into(),
                        reason: format!("{} (after {attempt} attempts)", chain(&e)),
                    })
                }
                Err(_) => {
                    return Err(StoreError::Transport {
                        endpoint: self.base.clone(),
                        op: op.into(),
                        reason: format!(
                            "no answer within {}s (after {attempt} attempts)",
                            self.retry.answer_timeout.as_secs()
                        ),
                    })
                }
            }
            tokio::time::sleep(self.retry.backoff(attempt)).await;
        }
    }

    /// [`Self::send_raw`] plus the whole body.
    async fn send(
        &self,
        method: http::Method,
        url: &str,
        content_type: Option<&str>,
        body: Bytes,
        op: &str,
    ) -> Result<(u16, Bytes), StoreError> {
        let resp = self.send_raw(method, url, content_type, body, op).await?;
        let status = resp.status().as_u16();
        let limit = if op.starts_with("read gs://") {
            OBJECT_LIMIT
        } else {
            ANSWER_LIMIT
        };
        let body = read_body(resp, limit, self.retry.idle_timeout)
            .await
            .map_err(|e| StoreError::Transport {
                endpoint: self.base.clone(),
                op: op.into(),
                reason: e,
            })?;
        Ok((status, body))
    }

    /// Maps a non-success answer to an error that names identity, operation and refusal.
    fn refusal(
        &self,
        status: u16,
        body: &[u8],
        op: &str,
        bucket: &str,
        object: Option<&str>,
    ) -> StoreError {
        let message = refusal_message(body);
        let identity = self.identity();
        match status {
            401 => StoreError::Unauthenticated {
                identity,
                op: op.into(),
                message,
            },
            403 => StoreError::Denied {
                identity,
                op: op.into(),
                message,
            },
            404 => {
                let lower = message.to_ascii_lowercase();
                match object {
                    Some(o) if !lower.contains("bucket") => StoreError::ObjectMissing {
                        bucket: bucket.into(),
                        object: o.into(),
                        op: op.into(),
                    },
                    _ => StoreError::BucketMissing {
                        identity,
                        bucket: bucket.into(),
                        op: op.into(),
                    },
                }
            }
            429 | 503 => StoreError::Throttled {
                identity,
                op: op.into(),
                status,
                per_object: per_object_limit(&message),
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

    /// Lists objects under `prefix` (one page of at most `max` objects).
    pub async fn list(
        &self,
        bucket: &str,
        prefix: &str,
        max: u32,
    ) -> Result<Vec<ObjectInfo>, StoreError> {
        let url = format!(
            "{}/storage/v1/b/{}/o?prefix={}&maxResults={max}",
            self.base,
            escape(bucket),
            escape(prefix)
        );
        let op = format!("list objects in gs://{bucket}/{prefix}");
        let (status, body) = self
            .send(http::Method::GET, &url, None, Bytes::new(), &op)
            .await?;
        if status != 200 {
            return Err(self.refusal(status, &body, &op, bucket, None));
        }
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            items: Vec<ObjectInfo>,
        }
        let page: Page = serde_json::from_slice(&body).map_err(|e| StoreError::Status {
            identity: self.identity(),
            op,
            status,
            message: format!("unreadable list answer: {e}"),
        })?;
        Ok(page.items)
    }

    /// Uploads `data` as `object` (simple media upload).
    pub async fn upload(
        &self,
        bucket: &str,
        object: &str,
        content_type: &str,
        data: Bytes,
    ) -> Result<(), StoreError> {
        let url = format!(
            "{}/upload/storage/v1/b/{}/o?uploadType=media&name={}",
            self.base,
            escape(bucket),
            escape(object)
        );
        let op = format!("write gs://{bucket}/{object}");
        let (status, body) = self
            .send(http::Method::POST, &url, Some(content_type), data, &op)
            .await?;
        if !(200..300).contains(&status) {
            return Err(self.refusal(status, &body, &op, bucket, None));
        }
        Ok(())
    }

    /// Downloads an object's bytes.
    pub async fn download(&self, bucket: &str, object: &str) -> Result<Bytes, StoreError> {
        let url = format!(
            "{}/storage/v1/b/{}/o/{}?alt=media",
            self.base,
            escape(bucket),
            escape(object)
        );
        let op = format!("read gs://{bucket}/{object}");
        let (status, body) = self
            .send(http::Method::GET, &url, None, Bytes::new(), &op)
            .await?;
        if status != 200 {
            return Err(self.refusal(status, &body, &op, bucket, Some(object)));
        }
        Ok(body)
    }

    /// Streams an object's bytes to `sink` chunk by chunk (no buffer of the whole object);
    /// returns how many bytes came. A connection that breaks mid-body is not retried.
    pub async fn download_to(
        &self,
        bucket: &str,
        object: &str,
        sink: impl FnMut(&[u8]),
    ) -> Result<u64, StoreError> {
        let url = format!(
            "{}/storage/v1/b/{}/o/{}?alt=media",
            self.base,
            escape(bucket),
            escape(object)
        );
        let op = format!("read gs://{bucket}/{object}");
        let resp = self
            .send_raw(http::Method::GET, &url, None, Bytes::new(), &op)
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

    /// Deletes an object; one already gone counts as deleted.
    pub async fn delete(&self, bucket: &str, object: &str) -> Result<(), StoreError> {
        let url = format!(
            "{}/storage/v1/b/{}/o/{}",
            self.base,
            escape(bucket),
            escape(object)
        );
        let op = format!("delete gs://{bucket}/{object}");
        let (status, body) = self
            .send(http::Method::DELETE, &url, None, Bytes::new(), &op)
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

/// The largest object `download` buffers (the round trip's objects are small; the IO sweep
/// streams with `download_to`).
const OBJECT_LIMIT: u64 = 1 << 30;
/// The largest token-endpoint or metadata-server answer read.
const TOKEN_ANSWER_LIMIT: u64 = 1 << 20;
/// The largest key or ADC file read (real ones are a few KiB).
const KEY_FILE_LIMIT: u64 = 1 << 20;

fn form_post(uri: &str, body: String) -> Result<http::Request<Full<Bytes>>, http::Error> {
    http::Request::post(uri)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from(body)))
}

/// The server's message in a refusal: the JSON error's message, else the body's first 300
/// characters, redacted before it is cut (a cut JWT or key would no longer look like one).
fn refusal_message(body: &[u8]) -> String {
    let redact = crate::clients::redact::redact;
    let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
    match v.pointer("/error/message").and_then(|m| m.as_str()) {
        Some(m) => redact(m),
        None => redact(String::from_utf8_lossy(body).trim())
            .chars()
            .take(300)
            .collect::<String>()
            .trim()
            .to_string(),
    }
}

/// GCS says "The object ... exceeded the rate limit for object mutation operations" when one
/// object is updated more than once a second; any other 429 is a project or bucket quota.
fn per_object_limit(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("object mutation") || m.contains("per object")
}

/// Loads the key exactly as signing would: PEM armour, base64 body, PKCS#8 RSA key.
pub(crate) fn load_private_key(pem: &str) -> Result<ring::signature::RsaKeyPair, &'static str> {
    let body = pem.trim();
    let body = body
        .strip_prefix("-----BEGIN PRIVATE KEY-----")
        .ok_or("no PKCS#8 PEM header (BEGIN PRIVATE KEY)")?;
    let body = body
        .strip_suffix("-----END PRIVATE KEY-----")
        .ok_or("no PEM footer (END PRIVATE KEY): truncated?")?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .map_err(|_| "PEM body is not valid base64")?;
    ring::signature::RsaKeyPair::from_pkcs8(&der)
        .map_err(|_| "PEM body is not a valid PKCS#8 RSA key")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refusal_is_redacted_before_it_is_cut() {
        let body = format!(
            "{} eyJhbGciOiJIUzI1NiJ9.CANARYs3cr3tXq9CANARYs3cr3tXq9.c2ln",
            "x".repeat(270)
        );
        let m = refusal_message(body.as_bytes());
        assert!(!m.contains("CANARY"), "{m}");
        assert!(m.len() <= 303, "still bounded: {}", m.len());
        assert_eq!(
            refusal_message(br#"{"error": {"message": "no access_token=abc here"}}"#),
            "no access_token=[redacted] here"
        );
    }

    #[test]
    fn object_names_are_escaped_including_slashes() {
        assert_eq!(
            escape("kfcheck/run 1/a+b.txt"),
            "kfcheck%2Frun%201%2Fa%2Bb.txt"
        );
        assert_eq!(escape("ü"), "%C3%BC");
        assert_eq!(base_url("127.0.0.1:4443"), "http://127.0.0.1:4443");
        assert_eq!(base_url("https://x/"), "https://x");
    }

    #[test]
    fn retry_policy_is_bounded() {
        let r = Retry::default();
        assert!(retryable(429) && retryable(503) && !retryable(403) && !retryable(404));
        assert!(
            r.backoff(1) >= Duration::from_millis(200) && r.backoff(1) < Duration::from_millis(260)
        );
        assert!(r.backoff(30) <= Duration::from_secs(5));
    }

    #[test]
    fn token_uri_must_be_https_except_on_loopback() {
        assert!(check_token_uri("https://oauth2.googleapis.com/token").is_ok());
        assert!(check_token_uri("http://127.0.0.1:9999/token").is_ok());
        assert!(check_token_uri("http://localhost/token").is_ok());
        assert!(check_token_uri("http://evil.example/token").is_err());
    }

    fn client(source: Source) -> GcsClient {
        GcsClient {
            http: http_client().unwrap(),
            base: "http://x".into(),
            source,
            auth: Auth::None,
            token: Mutex::new(None),
            retry: Retry::default(),
        }
    }

    #[tokio::test]
    async fn refusals_name_the_identity_and_what_was_denied() {
        let c = client(Source::ServiceAccountKey {
            path: "/k.json".into(),
            email: "ci-bot@p.iam.gserviceaccount.com".into(),
            via_adc: false,
        });
        let body = br#"{"error":{"code":403,"message":"ci-bot@p.iam.gserviceaccount.com does not have storage.objects.create access"}}"#;
        let e = c.refusal(403, body, "write gs://b/o", "b", None);
        assert_eq!(e.class(), "denied");
        assert!(e.to_string().starts_with("service account ci-bot@p.iam.gserviceaccount.com is not allowed to write gs://b/o (403)"), "{e}");
        assert_eq!(
            c.refusal(401, b"{}", "list", "b", None).class(),
            "unauthenticated"
        );
        assert_eq!(
            c.refusal(
                404,
                br#"{"error":{"message":"The specified bucket does not exist."}}"#,
                "read",
                "b",
                Some("o")
            )
            .class(),
            "bucket-missing"
        );
        assert_eq!(
            c.refusal(
                404,
                br#"{"error":{"message":"No such object: b/o"}}"#,
                "read",
                "b",
                Some("o")
            )
            .class(),
            "object-missing"
        );
        assert_eq!(
            c.refusal(404, b"", "list", "b", None).class(),
            "bucket-missing"
        );
        assert_eq!(
            c.refusal(500, b"oops", "list", "b", None).class(),
            "http-status"
        );
    }

    /// A server that answers 503, then 429, then a list page: the client retries through both.
    #[tokio::test]
    async fn transient_errors_are_retried_until_the_answer_comes() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let answers = ["503 Service Unavailable", "429 Too Many Requests", "200 OK"];
            for status in answers {
                let Ok((mut s, _)) = listener.accept().await else {
                    return;
                };
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let body = if status.starts_with("200") {
                    r#"{"items":[{"name":"a","size":"3"}]}"#
                } else {
                    ""
                };
                let _ = s.write_all(format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).as_bytes()).await;
            }
        });
        let opts = Options {
            emulator_host: Some(addr),
            retry: Retry {
                attempts: 4,
                first_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(20),
                ..Retry::default()
            },
            ..Options::default()
        };
        let c = GcsClient::connect(&opts).await.unwrap();
        let items = c.list("b", "", 10).await.unwrap();
        assert_eq!(
            items,
            vec![ObjectInfo {
                name: "a".into(),
                size: 3
            }]
        );
    }

    #[tokio::test]
    async fn key_files_that_block_or_send_a_refresh_token_over_http_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("key.json");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let opts = Options {
            key_file: Some(fifo),
            no_metadata: true,
            ..Options::default()
        };
        let e = tokio::time::timeout(Duration::from_secs(5), GcsClient::connect(&opts))
            .await
            .expect("a FIFO key file must not block")
            .err()
            .unwrap();
        assert!(
            e.to_string().contains("is a FIFO, not a regular file"),
            "{e}"
        );
        let user = d.path().join("adc.json");
        std::fs::write(&user, r#"{"type":"authorized_user","client_id":"i","client_secret":"s","refresh_token":"CANARY-refresh","token_uri":"http://oauth.example.com/token"}"#).unwrap();
        let opts = Options {
            key_file: Some(user),
            no_metadata: true,
            ..Options::default()
        };
        let e = GcsClient::connect(&opts).await.err().unwrap();
        assert!(
            e.to_string().contains("token_uri is not https") && !e.to_string().contains("CANARY"),
            "{e}"
        );
    }

    /// A server on 127.0.0.1 that accepts and then does `behaviour` with each connection.
    fn server(behaviour: &'static str) -> String {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            for c in l.incoming().take(8) {
                let Ok(mut c) = c else { continue };
                std::thread::spawn(move || {
                    use std::io::{Read, Write};
                    let mut buf = [0u8; 4096];
                    let _ = c.read(&mut buf);
                    match behaviour {
                        "huge" => {
                            let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1099511627776\r\nContent-Type: application/json\r\n\r\n{");
                        }
                        "stall" => {
                            let _ = c.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{");
                        }
                        _ => {}
                    }
                    std::thread::sleep(Duration::from_secs(300));
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn answers_are_bounded_in_size() {
        // A forged Content-Length of 1 TiB: refused before a byte is buffered.
        let c = GcsClient::connect(&Options {
            emulator_host: Some(server("huge")),
            ..Options::default()
        })
        .await
        .unwrap();
        let e = c.download("b", "o").await.err().unwrap();
        assert!(e.to_string().contains("over the 1024 MiB limit"), "{e}");
        let e = c.list("b", "p", 10).await.err().unwrap();
        assert!(e.to_string().contains("over the 16 MiB limit"), "{e}");
    }

    #[tokio::test]
    async fn an_endpoint_that_never_answers_is_an_error_not_a_hang() {
        let quick = Retry {
            attempts: 2,
            first_backoff: Duration::from_millis(10),
            answer_timeout: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(1),
            ..Retry::default()
        };
        let c = GcsClient::connect(&Options {
            emulator_host: Some(server("silent")),
            retry: quick,
            ..Options::default()
        })
        .await
        .unwrap();
        let e = c.list("b", "p", 10).await.err().unwrap();
        assert!(
            e.to_string()
                .contains("no answer within 1s (after 2 attempts)"),
            "{e}"
        );
        let c = GcsClient::connect(&Options {
            emulator_host: Some(server("stall")),
            retry: quick,
            ..Options::default()
        })
        .await
        .unwrap();
        let e = c.list("b", "p", 10).await.err().unwrap();
        assert!(e.to_string().contains("no data for 1s"), "{e}");
        let e = c.download_to("b", "o", |_| {}).await.err().unwrap();
        assert!(
            e.to_string()
                .contains("no data for 1s while reading the object"),
            "{e}"
        );
    }

    #[tokio::test]
    async fn bad_key_files_are_clear_errors_without_contents() {
        let d = tempfile::tempdir().unwrap();
        let notjson = d.path().join("a.json");
        std::fs::write(&notjson, "SECRET-LOOKING-TEXT not json").unwrap();
        let opts = Options {
            key_file: Some(notjson),
            no_metadata: true,
            ..Options::default()
        };
        let e = GcsClient::connect(&opts).await.err().unwrap();
        assert!(
            e.to_string().contains("is not JSON") && !e.to_string().contains("SECRET"),
            "{e}"
        );
        let nokey = d.path().join("b.json");
        std::fs::write(
            &nokey,
            r#"{"type":"service_account","client_email":"a@b.iam.gserviceaccount.com"}"#,
        )
        .unwrap();
        let opts = Options {
            key_file: Some(nokey),
            no_metadata: true,
            ..Options::default()
        };
        let e = GcsClient::connect(&opts).await.err().unwrap();
        assert!(e.to_string().contains("has no private_key"), "{e}");
        let none = Options {
            no_metadata: true,
            gcloud_dir: Some(d.path().into()),
            ..Options::default()
        };
        assert_eq!(
            GcsClient::connect(&none).await.err().unwrap().class(),
            "no-credentials"
        );
        let emu = Options {
            emulator_host: Some("127.0.0.1:1".into()),
            ..Options::default()
        };
        assert_eq!(
            GcsClient::connect(&emu).await.unwrap().source().kind(),
            "emulator"
        );
    }
}
