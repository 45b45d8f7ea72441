//! A small Google Cloud Storage client: the JSON API operations a readiness check needs (list,
//! get, simple upload, delete), the credentials a data scientist's code would find (an emulator,
//! a service-account key through the JWT bearer flow, Application Default Credentials (including
//! `external_account`: a workload's own token, such as a pod's projected ServiceAccount token,
//! exchanged at an STS and optionally for a service account's token), the GCE/GKE metadata server
//! under Workload Identity), bounded retries on 429/5xx, and errors that say which identity was
//! used and what was refused. Tokens and keys never leave this module.

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
/// The scope Google's libraries ask the STS and IAM for on behalf of an `external_account`.
const SCOPE_CLOUD_PLATFORM: &str = "https://www.googleapis.com/auth/cloud-platform";
const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const TOKEN_TYPE_ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";

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
    /// An ADC `external_account` file (Workload Identity Federation): the workload's own token,
    /// read from `token_file`, exchanged at an STS for `audience`; then, when `impersonated`
    /// names one, for that service account's token.
    ExternalAccount {
        path: PathBuf,
        audience: String,
        token_file: PathBuf,
        impersonated: Option<String>,
    },
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
            Source::ExternalAccount {
                path,
                impersonated: Some(email),
                ..
            } => format!(
                "service account {email} (impersonated by the federated identity of ADC file {})",
                path.display()
            ),
            Source::ExternalAccount { path, audience, .. } => format!(
                "the federated identity of ADC file {} (audience {audience})",
                path.display()
            ),
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
            Source::ExternalAccount {
                path, token_file, ..
            } => format!(
                "Application Default Credentials external_account file {} (token from {})",
                path.display(),
                token_file.display()
            ),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Source::Emulator => "emulator",
            Source::ServiceAccountKey { via_adc: false, .. } => "key-file",
            Source::ServiceAccountKey { via_adc: true, .. } => "adc-key-file",
            Source::AuthorizedUser { .. } => "adc-user",
            Source::MetadataServer { .. } => "metadata-server",
            Source::ExternalAccount { .. } => "external-account",
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
    External(Box<Federation>),
}

/// How an `external_account` file says to get a token; nothing here is a secret (the subject
/// token is read from its file at each exchange, since the kubelet rotates it).
struct Federation {
    audience: String,
    subject_token_type: String,
    token_url: String,
    token_file: PathBuf,
    /// `credential_source.format`: the file is the token (`text`), or JSON holding it in a field.
    json_field: Option<String>,
    /// `service_account_impersonation_url` and the service account it names.
    impersonation: Option<(String, String)>,
    /// `workforce_pool_user_project`, sent as the STS `options` Google's libraries send.
    user_project: Option<String>,
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

/// A token endpoint must be https, except on the loopback interface (test token servers): a
/// refresh token, a signed assertion or a workload's token is never sent in clear text to
/// another host. Loopback means `localhost`, `127.0.0.0/8` or `[::1]`, named as the URL's whole
/// host (no user info, which could hide another host after an `@`).
fn check_token_uri(uri: &str) -> Result<(), String> {
    check_https("token_uri", uri)
}

/// [`check_token_uri`] for a URL field named `field`.
fn check_https(field: &str, uri: &str) -> Result<(), String> {
    if uri.starts_with("https://") {
        return Ok(());
    }
    let rest = uri
        .strip_prefix("http://")
        .ok_or_else(|| format!("{field} is not an http(s) URL"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next().unwrap_or("")
    } else {
        authority.split(':').next().unwrap_or("")
    };
    let loopback = !authority.contains('@')
        && (host == "localhost"
            || host == "[::1]"
            || host
                .parse::<std::net::Ipv4Addr>()
                .is_ok_and(|ip| ip.is_loopback()));
    if loopback {
        Ok(())
    } else {
        Err(format!(
            "{field} is not https (plain http is accepted only on the loopback interface)"
        ))
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
        Some("external_account") => external_auth(path, &v),
        Some(other) => Err(bad(format!(
            "credential type {other:?} is not supported (service_account, authorized_user or external_account)"
        ))),
        None if v.get("private_key").is_some() => key_auth(path, &v, via_adc),
        None => Err(bad(
            "has no type field and no private_key: not a Google credentials file".into(),
        )),
    }
}

/// An ADC `external_account` file: the subject token's file and format, the STS and the optional
/// impersonation. Only file-sourced credentials are supported; a URL- or executable-sourced one
/// is refused by name rather than half-followed.
fn external_auth(path: &Path, v: &serde_json::Value) -> Result<(Source, Auth), StoreError> {
    let bad = |reason: String| StoreError::BadCredentials {
        path: path.display().to_string(),
        reason,
    };
    let get = |k: &str| {
        text(v, k)
            .map(str::to_string)
            .ok_or_else(|| bad(format!("external_account file has no {k}")))
    };
    let audience = get("audience")?;
    let subject_token_type = get("subject_token_type")?;
    let token_url = get("token_url")?;
    check_https("token_url", &token_url).map_err(bad)?;
    if text(v, "client_id").is_some() || text(v, "client_secret").is_some() {
        return Err(bad(
            "external_account client authentication (client_id, client_secret) is not supported"
                .into(),
        ));
    }
    let source = v
        .get("credential_source")
        .filter(|s| s.is_object())
        .ok_or_else(|| bad("external_account file has no credential_source".into()))?;
    let token_file = match (
        text(source, "file"),
        text(source, "url"),
        source.get("executable"),
        text(source, "environment_id"),
    ) {
        (Some(f), _, _, _) => PathBuf::from(f),
        (None, Some(_), _, _) => {
            return Err(bad(
                "credential_source.url (a URL-sourced subject token) is not supported; use credential_source.file".into(),
            ))
        }
        (None, None, Some(_), _) => {
            return Err(bad(
                "credential_source.executable (an executable-sourced subject token) is not supported; use credential_source.file".into(),
            ))
        }
        (None, None, None, Some(_)) => {
            return Err(bad(
                "credential_source.environment_id (AWS or another cloud's metadata) is not supported; use credential_source.file".into(),
            ))
        }
        (None, None, None, None) => {
            return Err(bad("credential_source has no file".into()));
        }
    };
    let json_field = match source.get("format") {
        None | Some(serde_json::Value::Null) => None,
        Some(format) => match text(format, "type") {
            None | Some("text") => None,
            Some("json") => Some(
                text(format, "subject_token_field_name")
                    .ok_or_else(|| {
                        bad(
                            "credential_source.format of type json has no subject_token_field_name"
                                .into(),
                        )
                    })?
                    .to_string(),
            ),
            Some(other) => {
                return Err(bad(format!(
                    "credential_source.format type {other:?} is not supported (text or json)"
                )))
            }
        },
    };
    let impersonation = match text(v, "service_account_impersonation_url") {
        None => None,
        Some(url) => {
            check_https("service_account_impersonation_url", url).map_err(bad)?;
            let email = url
                .rsplit_once("/serviceAccounts/")
                .and_then(|(_, tail)| tail.strip_suffix(":generateAccessToken"))
                .filter(|e| !e.is_empty() && !e.contains('/'))
                .ok_or_else(|| {
                    bad("service_account_impersonation_url does not end in serviceAccounts/EMAIL:generateAccessToken".into())
                })?;
            Some((url.to_string(), email.to_string()))
        }
    };
    Ok((
        Source::ExternalAccount {
            path: path.to_path_buf(),
            audience: audience.clone(),
            token_file: token_file.clone(),
            impersonated: impersonation.as_ref().map(|(_, e)| e.clone()),
        },
        Auth::External(Box::new(Federation {
            audience,
            subject_token_type,
            token_url,
            token_file,
            json_field,
            impersonation,
            user_project: text(v, "workforce_pool_user_project").map(str::to_string),
        })),
    ))
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
        let fetched = match &self.auth {
            Auth::External(f) => self.federated_token(f).await,
            _ => self.oauth_token().await,
        };
        let (token, ttl) = fetched.map_err(|reason| StoreError::Token {
            identity: self.identity(),
            reason,
        })?;
        // A token server's word on expiry is capped at a day: a huge lifetime must neither
        // overflow the clock nor keep a token past any real lifetime.
        *slot = Some(Token {
            value: token.clone(),
            expires: Instant::now() + Duration::from_secs(ttl.min(86400)),
        });
        Ok(Some(token))
    }

    /// Sends a token request and reads its JSON answer (bounded in time and size).
    async fn token_answer(
        &self,
        req: Result<http::Request<Full<Bytes>>, http::Error>,
        endpoint: &str,
    ) -> Result<(u16, serde_json::Value, Bytes), String> {
        let req = req.map_err(|e| format!("bad token request: {e}"))?;
        let resp = tokio::time::timeout(Duration::from_secs(30), self.http.request(req))
            .await
            .map_err(|_| format!("{endpoint} did not answer within 30s"))?
            .map_err(|e| format!("cannot reach {endpoint}: {}", chain(&e)))?;
        let status = resp.status().as_u16();
        let body = read_body(resp, TOKEN_ANSWER_LIMIT, self.retry.idle_timeout)
            .await
            .map_err(|e| format!("{endpoint}: {e}"))?;
        Ok((
            status,
            serde_json::from_slice(&body).unwrap_or_default(),
            body,
        ))
    }

    /// The OAuth flows (JWT bearer, refresh token) and the metadata server: an access token and
    /// its lifetime in seconds.
    async fn oauth_token(&self) -> Result<(Secret, u64), String> {
        let (req, endpoint) = match &self.auth {
            Auth::None | Auth::External(_) => {
                return Err("no OAuth flow for this identity".into());
            }
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
                let jwt = sign_assertion(key, email, key_id, SCOPE_READ_WRITE, token_uri, now)?;
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
        let (status, v, _) = self.token_answer(req, &endpoint).await?;
        if status != 200 {
            return Err(format!("{endpoint} answered {status}: {}", oauth_error(&v)));
        }
        let token = Secret::new(
            text(&v, "access_token")
                .ok_or_else(|| format!("{endpoint} answered without an access_token"))?,
        );
        Ok((token, expires_in(&v)))
    }

    /// Workload Identity Federation: the subject token, read fresh from its file (the kubelet
    /// rotates a projected token), exchanged at the STS (RFC 8693); then, when the file names a
    /// service account to impersonate, the federated token exchanged for that account's token.
    /// Each error says which step failed; none quotes a token.
    async fn federated_token(&self, f: &Federation) -> Result<(Secret, u64), String> {
        let subject = subject_token(f)?;
        let mut body = format!(
            "grant_type={}&audience={}&scope={}&requested_token_type={}&subject_token={}&subject_token_type={}",
            form_escape(GRANT_TOKEN_EXCHANGE),
            form_escape(&f.audience),
            form_escape(SCOPE_CLOUD_PLATFORM),
            form_escape(TOKEN_TYPE_ACCESS),
            form_escape(subject.expose()),
            form_escape(&f.subject_token_type),
        );
        if let Some(project) = &f.user_project {
            let options = serde_json::json!({"userProject": project}).to_string();
            body.push_str(&format!("&options={}", form_escape(&options)));
        }
        let sts = &f.token_url;
        // A server that echoes what it was sent must not put the token into a report.
        let scrub =
            |m: String, secret: &Secret| m.replace(secret.expose(), crate::clients::redact::MASK);
        let (status, v, _) = self.token_answer(form_post(sts, body), sts).await?;
        if status != 200 {
            return Err(scrub(
                format!(
                    "the STS {sts} refused the token exchange ({status}): {}",
                    oauth_error(&v)
                ),
                &subject,
            ));
        }
        let federated = Secret::new(
            text(&v, "access_token")
                .ok_or_else(|| format!("the STS {sts} answered without an access_token"))?,
        );
        let Some((url, email)) = &f.impersonation else {
            return Ok((federated, expires_in(&v)));
        };
        let req = http::Request::post(url)
            .header("Content-Type", "application/json")
            .header("Authorization", format!("Bearer {}", federated.expose()))
            .body(Full::new(Bytes::from(
                serde_json::json!({"scope": [SCOPE_CLOUD_PLATFORM], "lifetime": "3600s"})
                    .to_string(),
            )));
        let (status, v, body) = self.token_answer(req, url).await?;
        if status != 200 {
            let m = format!(
                "impersonating {email} through {url} was refused ({status}): {}",
                refusal_message(&body)
            );
            return Err(scrub(scrub(m, &federated), &subject));
        }
        let token = Secret::new(text(&v, "accessToken").ok_or_else(|| {
            format!("impersonating {email} through {url}: the answer has no accessToken")
        })?);
        let ttl = text(&v, "expireTime")
            .and_then(|t| humantime::parse_rfc3339_weak(t).ok())
            .and_then(|t| t.duration_since(SystemTime::now()).ok())
            .map_or(3600, |d| d.as_secs());
        Ok((token, ttl))
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

/// Reads the subject token from its file: the whole file (trimmed), or one field of it as JSON.
/// The errors say why, never what the file holds.
fn subject_token(f: &Federation) -> Result<Secret, String> {
    let file = f.token_file.display();
    let bytes = crate::clients::files::read_capped(&f.token_file, KEY_FILE_LIMIT)
        .map_err(|e| format!("cannot read the subject token file {file}: it {e}"))?;
    let token = match &f.json_field {
        None => String::from_utf8(bytes)
            .map_err(|_| format!("the subject token file {file} is not UTF-8 text"))?,
        Some(field) => {
            let v: serde_json::Value = serde_json::from_slice(&bytes)
                .map_err(|_| format!("the subject token file {file} is not JSON"))?;
            text(&v, field)
                .ok_or_else(|| {
                    format!("the subject token file {file} has no string field {field:?}")
                })?
                .to_string()
        }
    };
    let token = token.trim();
    if token.is_empty() {
        return Err(format!("the subject token file {file} is empty"));
    }
    Ok(Secret::new(token))
}

/// An OAuth error answer, `{"error": "invalid_grant", "error_description": "..."}`, redacted.
fn oauth_error(v: &serde_json::Value) -> String {
    let what = [text(v, "error"), text(v, "error_description")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(": ");
    if what.is_empty() {
        "no OAuth error in the answer".to_string()
    } else {
        crate::clients::redact::redact(&what)
    }
}

/// An OAuth answer's `expires_in`, one hour when absent.
fn expires_in(v: &serde_json::Value) -> u64 {
    v.get("expires_in").and_then(|e| e.as_u64()).unwrap_or(3600)
}

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
        assert!(check_token_uri("http://127.0.0.2/token").is_ok());
        assert!(check_token_uri("http://localhost/token").is_ok());
        assert!(check_token_uri("http://[::1]:8080/token").is_ok());
        assert!(check_token_uri("http://evil.example/token").is_err());
        // User info could hide the real host; an IPv6 literal is loopback only when it is ::1.
        assert!(check_token_uri("http://localhost:80@evil.example/token").is_err());
        assert!(check_token_uri("http://127.0.0.1@evil.example/token").is_err());
        assert!(check_token_uri("http://[fe80::1]/token").is_err());
        assert!(check_token_uri("http://10.0.0.1/token").is_err());
        assert!(check_token_uri("http://127.0.0.1.evil.example/token").is_err());
        assert!(check_token_uri("ftp://127.0.0.1/token").is_err());
        assert_eq!(
            check_https("token_url", "http://sts.example/v1/token").unwrap_err(),
            "token_url is not https (plain http is accepted only on the loopback interface)"
        );
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

    /// One request as a [`recorder`] saw it.
    #[derive(Debug, Clone)]
    struct Seen {
        method: String,
        path: String,
        authorization: Option<String>,
        body: String,
    }

    type Answer = dyn Fn(&Seen) -> (u16, String) + Send + Sync;

    /// A local HTTP server on 127.0.0.1 that keeps every request and answers each with what
    /// `answer` says (one request a connection); stands in for the STS, IAM and storage.
    fn recorder(answer: Arc<Answer>) -> (String, Arc<std::sync::Mutex<Vec<Seen>>>) {
        use std::io::{BufRead, BufReader, Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = format!("http://{}", l.local_addr().unwrap());
        let seen: Arc<std::sync::Mutex<Vec<Seen>>> = Arc::default();
        let log = seen.clone();
        std::thread::spawn(move || {
            for c in l.incoming().flatten() {
                let mut r = BufReader::new(c.try_clone().unwrap());
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                let mut parts = line.split_whitespace();
                let (method, path) = (
                    parts.next().unwrap_or("").to_string(),
                    parts.next().unwrap_or("").to_string(),
                );
                let (mut len, mut authorization) = (0usize, None);
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    let (k, v) = h.split_once(':').unwrap_or((&h, ""));
                    match k.trim().to_ascii_lowercase().as_str() {
                        "content-length" => len = v.trim().parse().unwrap_or(0),
                        "authorization" => authorization = Some(v.trim().to_string()),
                        _ => {}
                    }
                }
                let mut body = vec![0u8; len];
                let _ = r.read_exact(&mut body);
                let req = Seen {
                    method,
                    path,
                    authorization,
                    body: String::from_utf8_lossy(&body).into_owned(),
                };
                let (status, text) = answer(&req);
                log.lock().unwrap().push(req);
                let mut c = c;
                let _ = c.write_all(format!("HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{text}", text.len()).as_bytes());
            }
        });
        (addr, seen)
    }

    /// `k=v&...` with percent-decoding, as a form body is sent.
    fn form(body: &str) -> std::collections::BTreeMap<String, String> {
        let decode = |s: &str| {
            let b = s.as_bytes();
            let mut out = Vec::new();
            let mut i = 0;
            while i < b.len() {
                if b[i] == b'%' && i + 2 < b.len() {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap());
                    i += 3;
                } else {
                    out.push(if b[i] == b'+' { b' ' } else { b[i] });
                    i += 1;
                }
            }
            String::from_utf8(out).unwrap()
        };
        body.split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (decode(k), decode(v)))
            .collect()
    }

    const SA: &str = "probe@p.iam.gserviceaccount.com";

    /// An ADC external_account file in `d` naming `base`'s STS (and IAM when `impersonate`),
    /// with `extra` fields merged in; the subject token's file is `d/token`.
    fn external_file(d: &Path, base: &str, impersonate: bool, extra: serde_json::Value) -> PathBuf {
        let mut v = serde_json::json!({
            "type": "external_account",
            "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/kf/providers/k8s",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": format!("{base}/v1/token"),
            "credential_source": {"file": d.join("token")},
        });
        if impersonate {
            v["service_account_impersonation_url"] =
                format!("{base}/v1/projects/-/serviceAccounts/{SA}:generateAccessToken").into();
        }
        for (k, x) in extra.as_object().into_iter().flatten() {
            v[k] = x.clone();
        }
        let path = d.join("external.json");
        std::fs::write(&path, v.to_string()).unwrap();
        path
    }

    fn external_opts(adc: PathBuf, base: &str) -> Options {
        Options {
            adc_file: Some(adc),
            endpoint: Some(base.to_string()),
            no_metadata: true,
            retry: Retry {
                attempts: 1,
                ..Retry::default()
            },
            ..Options::default()
        }
    }

    /// STS, IAM and storage as Google's answer them: the STS issues a federated token for the
    /// subject token, IAM a service account's token for the federated one, storage lists only
    /// for the latter.
    fn google(seen: &Seen) -> (u16, String) {
        let path = seen.path.as_str();
        if path == "/v1/token" {
            let f = form(&seen.body);
            let token = format!("CANARY-federated-{}", f["subject_token"]);
            return (200, serde_json::json!({"access_token": token, "issued_token_type": TOKEN_TYPE_ACCESS, "token_type": "Bearer", "expires_in": 30}).to_string());
        }
        if path.ends_with(":generateAccessToken") {
            let expire =
                humantime::format_rfc3339_seconds(SystemTime::now() + Duration::from_secs(3600));
            return (200, serde_json::json!({"accessToken": "CANARY-impersonated", "expireTime": expire.to_string()}).to_string());
        }
        let ok = seen.authorization.as_deref().is_some_and(|a| {
            a == "Bearer CANARY-impersonated" || a.starts_with("Bearer CANARY-federated-")
        });
        if ok {
            (200, r#"{"items":[{"name":"a","size":"3"}]}"#.into())
        } else {
            (
                401,
                r#"{"error":{"code":401,"message":"Invalid Credentials"}}"#.into(),
            )
        }
    }

    #[tokio::test]
    async fn an_external_account_exchanges_its_token_at_the_sts_and_impersonates() {
        let d = tempfile::tempdir().unwrap();
        let (base, seen) = recorder(Arc::new(google));
        std::fs::write(d.path().join("token"), "CANARY-subject-1\n").unwrap();
        let adc = external_file(
            d.path(),
            &base,
            true,
            serde_json::json!({"quota_project_id": "q"}),
        );
        let c = GcsClient::connect(&external_opts(adc.clone(), &base))
            .await
            .unwrap();
        assert_eq!(c.source().kind(), "external-account");
        assert_eq!(
            c.identity(),
            format!(
                "service account {SA} (impersonated by the federated identity of ADC file {})",
                adc.display()
            )
        );
        assert!(
            c.source().describe().contains("(token from "),
            "{}",
            c.source().describe()
        );
        assert_eq!(c.list("b", "", 10).await.unwrap().len(), 1);
        // The token is cached for the hour IAM gave: a second list asks nobody for a token.
        c.list("b", "", 10).await.unwrap();
        let seen = seen.lock().unwrap().clone();
        let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
        assert_eq!(paths.len(), 4, "{paths:?}");
        assert_eq!(paths[0], "/v1/token");
        assert!(paths[1].ends_with(&format!("/serviceAccounts/{SA}:generateAccessToken")));
        let sts = form(&seen[0].body);
        assert_eq!(seen[0].method, "POST");
        assert_eq!(sts["grant_type"], GRANT_TOKEN_EXCHANGE);
        assert_eq!(sts["audience"], "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/kf/providers/k8s");
        assert_eq!(sts["scope"], SCOPE_CLOUD_PLATFORM);
        assert_eq!(sts["requested_token_type"], TOKEN_TYPE_ACCESS);
        assert_eq!(sts["subject_token"], "CANARY-subject-1");
        assert_eq!(
            sts["subject_token_type"],
            "urn:ietf:params:oauth:token-type:jwt"
        );
        assert!(!sts.contains_key("options"), "{sts:?}");
        assert_eq!(
            seen[1].authorization.as_deref(),
            Some("Bearer CANARY-federated-CANARY-subject-1")
        );
        let iam: serde_json::Value = serde_json::from_str(&seen[1].body).unwrap();
        assert_eq!(
            iam,
            serde_json::json!({"scope": [SCOPE_CLOUD_PLATFORM], "lifetime": "3600s"})
        );
        for s in &seen[2..] {
            assert_eq!(
                s.authorization.as_deref(),
                Some("Bearer CANARY-impersonated")
            );
        }
    }

    #[tokio::test]
    async fn a_federated_token_is_used_as_is_and_the_subject_token_is_read_fresh() {
        let d = tempfile::tempdir().unwrap();
        let (base, seen) = recorder(Arc::new(google));
        // A JSON-format subject token, as some token files hold it.
        std::fs::write(
            d.path().join("token"),
            r#"{"id_token": "CANARY-subject-1"}"#,
        )
        .unwrap();
        let extra = serde_json::json!({
            "credential_source": {"file": d.path().join("token"), "format": {"type": "json", "subject_token_field_name": "id_token"}},
            "workforce_pool_user_project": "proj-7",
        });
        let adc = external_file(d.path(), &base, false, extra);
        let c = GcsClient::connect(&external_opts(adc.clone(), &base))
            .await
            .unwrap();
        assert_eq!(
            c.identity(),
            format!("the federated identity of ADC file {} (audience //iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/kf/providers/k8s)", adc.display())
        );
        c.list("b", "", 10).await.unwrap();
        // The kubelet rotates the token; the STS's 30 s lifetime is inside the minute of margin,
        // so the next call exchanges again, with the new token.
        std::fs::write(
            d.path().join("token"),
            r#"{"id_token": "CANARY-subject-2"}"#,
        )
        .unwrap();
        c.list("b", "", 10).await.unwrap();
        let seen = seen.lock().unwrap().clone();
        let exchanges: Vec<_> = seen
            .iter()
            .filter(|s| s.path == "/v1/token")
            .map(|s| form(&s.body))
            .collect();
        assert_eq!(exchanges.len(), 2);
        assert_eq!(exchanges[0]["subject_token"], "CANARY-subject-1");
        assert_eq!(exchanges[1]["subject_token"], "CANARY-subject-2");
        assert_eq!(exchanges[0]["options"], r#"{"userProject":"proj-7"}"#);
        let storage: Vec<_> = seen
            .iter()
            .filter(|s| s.path.starts_with("/storage/"))
            .collect();
        assert_eq!(
            storage[0].authorization.as_deref(),
            Some("Bearer CANARY-federated-CANARY-subject-1")
        );
        assert_eq!(
            storage[1].authorization.as_deref(),
            Some("Bearer CANARY-federated-CANARY-subject-2")
        );
    }

    /// Each failing step is named (the token file, the STS with its OAuth error, IAM), and no
    /// message carries the subject token or the federated token, even from a server that
    /// echoes them.
    #[tokio::test]
    async fn external_account_refusals_name_the_step_and_never_the_tokens() {
        let d = tempfile::tempdir().unwrap();
        let sts_refuses = |s: &Seen| {
            let f = form(&s.body);
            (403, serde_json::json!({"error": "unauthorized_client", "error_description": format!("subject {} is rejected by the attribute condition", f["subject_token"])}).to_string())
        };
        let (base, _) = recorder(Arc::new(sts_refuses));
        std::fs::write(d.path().join("token"), "CANARY-subject").unwrap();
        let adc = external_file(d.path(), &base, false, serde_json::json!({}));
        let c = GcsClient::connect(&external_opts(adc, &base))
            .await
            .unwrap();
        let e = c.list("b", "", 10).await.err().unwrap();
        let m = e.to_string();
        assert_eq!(e.class(), "token-refused");
        assert!(
            m.starts_with("failed to get an access token for the federated identity of ADC file "),
            "{m}"
        );
        assert!(m.contains(&format!("the STS {base}/v1/token refused the token exchange (403): unauthorized_client: subject [redacted] is rejected")), "{m}");
        assert!(!m.contains("CANARY"), "{m}");

        let iam_refuses = |s: &Seen| {
            if s.path == "/v1/token" {
                (
                    200,
                    r#"{"access_token": "CANARY-federated", "expires_in": 3600}"#.to_string(),
                )
            } else {
                (
                    403,
                    format!(
                        r#"{{"error": {{"code": 403, "message": "Permission 'iam.serviceAccounts.getAccessToken' denied for {}", "status": "PERMISSION_DENIED"}}}}"#,
                        s.authorization.clone().unwrap_or_default()
                    ),
                )
            }
        };
        let (base, _) = recorder(Arc::new(iam_refuses));
        let adc = external_file(d.path(), &base, true, serde_json::json!({}));
        let c = GcsClient::connect(&external_opts(adc, &base))
            .await
            .unwrap();
        let m = c.list("b", "", 10).await.err().unwrap().to_string();
        assert!(m.contains(&format!("impersonating {SA} through {base}/v1/projects/-/serviceAccounts/{SA}:generateAccessToken was refused (403): Permission 'iam.serviceAccounts.getAccessToken' denied for ")), "{m}");
        assert!(!m.contains("CANARY"), "{m}");

        std::fs::remove_file(d.path().join("token")).unwrap();
        let m = c.list("b", "", 10).await.err().unwrap().to_string();
        assert!(
            m.contains(&format!(
                "cannot read the subject token file {}: it does not exist",
                d.path().join("token").display()
            )),
            "{m}"
        );
        std::fs::write(d.path().join("token"), " \n").unwrap();
        let m = c.list("b", "", 10).await.err().unwrap().to_string();
        assert!(m.contains("is empty"), "{m}");
    }

    #[tokio::test]
    async fn external_account_files_that_cannot_be_followed_are_named() {
        let d = tempfile::tempdir().unwrap();
        let refused = |extra: serde_json::Value, base: &str| {
            let adc = external_file(d.path(), base, false, extra);
            let opts = external_opts(adc, base);
            async move { GcsClient::connect(&opts).await.err().unwrap().to_string() }
        };
        let local = "http://127.0.0.1:1";
        let m = refused(serde_json::json!({"credential_source": {"url": "http://169.254.169.254/token", "headers": {"Metadata": "True"}}}), local).await;
        assert!(
            m.contains("credential_source.url (a URL-sourced subject token) is not supported"),
            "{m}"
        );
        let m = refused(
            serde_json::json!({"credential_source": {"executable": {"command": "/bin/get-token"}}}),
            local,
        )
        .await;
        assert!(m.contains("credential_source.executable (an executable-sourced subject token) is not supported"), "{m}");
        let m = refused(
            serde_json::json!({"credential_source": {"environment_id": "aws1"}}),
            local,
        )
        .await;
        assert!(m.contains("credential_source.environment_id"), "{m}");
        let m = refused(
            serde_json::json!({"credential_source": {"file": "/t", "format": {"type": "json"}}}),
            local,
        )
        .await;
        assert!(m.contains("has no subject_token_field_name"), "{m}");
        let m = refused(
            serde_json::json!({"token_url": "http://sts.example/v1/token"}),
            local,
        )
        .await;
        assert!(m.contains("token_url is not https"), "{m}");
        let m = refused(serde_json::json!({"service_account_impersonation_url": "http://iam.example/v1/projects/-/serviceAccounts/a@b:generateAccessToken"}), local).await;
        assert!(
            m.contains("service_account_impersonation_url is not https"),
            "{m}"
        );
        let m = refused(
            serde_json::json!({"service_account_impersonation_url": "https://iam.example/v1/x"}),
            local,
        )
        .await;
        assert!(
            m.contains("does not end in serviceAccounts/EMAIL:generateAccessToken"),
            "{m}"
        );
        let m = refused(
            serde_json::json!({"client_id": "i", "client_secret": "CANARY-secret"}),
            local,
        )
        .await;
        assert!(
            m.contains("client authentication") && !m.contains("CANARY"),
            "{m}"
        );
        let m = refused(serde_json::json!({"audience": ""}), local).await;
        assert!(m.contains("external_account file has no audience"), "{m}");
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
