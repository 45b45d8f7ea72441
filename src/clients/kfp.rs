//! The Kubeflow Pipelines REST client (v2beta1, with the v1beta1 healthz for older servers):
//! endpoint detection (direct `ml-pipeline:8888` or the UI proxy under `/pipeline`), the auth
//! modes (bearer token, session cookie, `kubeflow-userid` header), bounded retries of transient
//! failures, and the calls kfcheck makes. Every request is bounded in time, every answer in size
//! and every list in pages. A create is never repeated blindly: when its answer is lost, the
//! object is looked up by its unique name first. Tokens and cookies never appear in errors or
//! `Debug`. TLS, the backoff, the body cap and [`Secret`] are [`super::http`]'s; the Dex login
//! is [`super::dex`]'s.

use super::errors::innermost;
use super::http::{tls_config, Backoff, BodyCap, Transient};
use super::kfp_spec::error_message;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The most one answer may hold. KFP's own limit on a pipeline package is 32 MiB, and a version
/// with its spec is the largest answer kfcheck reads; anything far beyond is not KFP.
pub const MAX_BODY_BYTES: usize = 64 << 20;
/// Pages of a list kfcheck follows (100 items each) before it calls the server broken.
pub const MAX_PAGES: usize = 100;
const PAGE_SIZE: usize = 100;
/// Connecting (TCP and TLS) never waits longer than this, whatever `--kfp-request-timeout` says.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub use super::http::Secret;

/// How kfcheck proves who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Auth {
    None,
    /// `Authorization: Bearer`: a ServiceAccount token (audience `pipelines.kubeflow.org` when
    /// talking to `ml-pipeline` directly) or a Dex id token through the gateway.
    Bearer(Secret),
    /// A `Cookie` header: `oauth2_proxy_kubeflow[_N]=…` or `authservice_session=…`.
    Cookie(Secret),
    /// The `kubeflow-userid` header, for direct access to `ml-pipeline` (port-forward).
    UserId(String),
}

impl Auth {
    pub fn describe(&self) -> String {
        match self {
            Auth::None => "no credentials".into(),
            Auth::Bearer(_) => "a bearer token".into(),
            Auth::Cookie(_) => "a session cookie".into(),
            Auth::UserId(u) => format!("kubeflow-userid {u}"),
        }
    }
}

/// Why a call failed. Messages name the URL path, never a credential.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KfpError {
    /// The connection could not be made, so the request was never sent.
    #[error("cannot connect to {url}: {detail}")]
    Connect { url: String, detail: String },
    /// The request may have been sent (and processed) but the connection broke before an answer.
    #[error("the connection to {url} broke before an answer: {detail}")]
    Lost { url: String, detail: String },
    #[error("TLS with {url} failed: {detail}")]
    Tls { url: String, detail: String },
    /// `sent`: the request went out (a create may have happened); else connecting timed out.
    #[error("no answer from {url} within {secs}s")]
    Timeout { url: String, secs: u64, sent: bool },
    #[error("the answer from {path} is larger than {} MiB, the most kfcheck reads from KFP", limit >> 20)]
    TooLarge { path: String, limit: usize },
    #[error(
        "{path} kept returning another next_page_token ({detail}); kfcheck stops listing there"
    )]
    TooManyPages { path: String, detail: String },
    #[error("{method} {path}: HTTP {status}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Status {
        status: u16,
        message: String,
        method: String,
        path: String,
    },
    #[error("{path} redirected to {location}: the request was sent to a login page, so the token or cookie was not accepted")]
    Redirect { path: String, location: String },
    #[error("unexpected answer from {path}: {detail}")]
    Decode { path: String, detail: String },
}

impl KfpError {
    pub fn status(&self) -> Option<u16> {
        match self {
            KfpError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's message for HTTP errors, else the whole description.
    pub fn message(&self) -> String {
        match self {
            KfpError::Status {
                message, status, ..
            } if !message.is_empty() => format!("{status}: {message}"),
            other => other.to_string(),
        }
    }

    /// Worth another try of a call that is safe to repeat (a read, a delete, a terminate): the
    /// gateway or server was briefly unavailable. Timeouts only when `timeouts` (a server that
    /// did not answer the first probe in time is reported, not waited for again).
    fn transient(&self, timeouts: bool) -> bool {
        match self {
            KfpError::Status { status, .. } => Transient::Gateway.status(*status),
            KfpError::Connect { .. } | KfpError::Lost { .. } => true,
            KfpError::Timeout { .. } => timeouts,
            _ => false,
        }
    }

    /// What a failed create says about the object it was to make.
    fn create_fate(&self) -> Fate {
        match self {
            // Refused before the request went out, or throttled: nothing happened.
            KfpError::Connect { .. }
            | KfpError::Timeout { sent: false, .. }
            | KfpError::Status { status: 429, .. } => Fate::NotMade,
            // A proxy that lost its upstream, a connection broken after sending, no answer in
            // time: the server may have made it.
            KfpError::Lost { .. }
            | KfpError::Timeout { sent: true, .. }
            | KfpError::Status {
                status: 502..=504, ..
            } => Fate::Unknown { retry: true },
            // The server failed while handling it: maybe half done; not repeated.
            KfpError::Status {
                status: 500..=599, ..
            } => Fate::Unknown { retry: false },
            _ => Fate::Refused,
        }
    }
}

/// What healthz said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Health {
    pub tag_name: Option<String>,
    pub multi_user: Option<bool>,
    /// Through the UI proxy the answer is always 200: this says whether the API server behind it
    /// answered. Direct answers are from the API server itself, so true.
    pub api_server_ready: bool,
    pub pipeline_store: Option<String>,
    pub via_ui: bool,
}

impl Health {
    pub fn from_json(v: &Value) -> Option<Health> {
        let s = |k: &str| {
            v.get(k)
                .and_then(Value::as_str)
                .filter(|s| !s.is_empty())
                .map(String::from)
        };
        if v.get("apiServerReady").is_some() {
            return Some(Health {
                tag_name: s("apiServerTagName"),
                multi_user: v
                    .get("multi_user")
                    .or_else(|| v.get("apiServerMultiUser"))
                    .and_then(Value::as_bool),
                api_server_ready: v["apiServerReady"].as_bool().unwrap_or(false),
                pipeline_store: s("pipelineStore"),
                via_ui: true,
            });
        }
        if v.get("tag_name").is_some()
            || v.get("commit_sha").is_some()
            || v.get("multi_user").is_some()
        {
            return Some(Health {
                tag_name: s("tag_name"),
                multi_user: Some(
                    v.get("multi_user")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                ),
                api_server_ready: true,
                pipeline_store: s("pipeline_store"),
                via_ui: false,
            });
        }
        None
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Experiment {
    pub experiment_id: String,
    pub display_name: String,
    pub namespace: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Pipeline {
    pub pipeline_id: String,
    pub display_name: String,
    pub name: String,
    pub namespace: String,
}

impl Pipeline {
    pub fn shown_name(&self) -> &str {
        if self.display_name.is_empty() {
            &self.name
        } else {
            &self.display_name
        }
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct PipelineVersion {
    pub pipeline_id: String,
    pub pipeline_version_id: String,
    pub display_name: String,
    pub pipeline_spec: Option<Value>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct TaskDetail {
    pub task_id: String,
    pub display_name: String,
    pub state: Option<String>,
    pub error: Option<Value>,
    pub pod_name: String,
    pub child_tasks: Option<Vec<Value>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct RunDetails {
    pub task_details: Vec<TaskDetail>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Run {
    pub run_id: String,
    pub display_name: String,
    pub experiment_id: String,
    pub state: Option<String>,
    pub error: Option<Value>,
    pub run_details: Option<RunDetails>,
}

/// What a failed create may have left behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Certainly not made: safe to try again.
    NotMade,
    /// Perhaps made: look it up by name; try again (`retry`) only if it is not there.
    Unknown { retry: bool },
    /// The server answered and said no.
    Refused,
}

/// The ids of the objects one create made, shared with the cleanup registered before it (which
/// deletes every one), and whether an answer was lost on the way: then an object of that name
/// may exist that kfcheck never saw (a slow server may store it after the lookup), and the
/// cleanup looks for it by name as well.
#[derive(Debug, Clone, Default)]
pub struct Created(Arc<Mutex<(Vec<String>, bool)>>);

impl Created {
    fn lock(&self) -> std::sync::MutexGuard<'_, (Vec<String>, bool)> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
    fn add(&self, id: &str) {
        let mut g = self.lock();
        if !id.is_empty() && !g.0.iter().any(|i| i == id) {
            g.0.push(id.to_string());
        }
    }
    fn lost_an_answer(&self) {
        self.lock().1 = true;
    }
    /// Every id seen, oldest first.
    pub fn ids(&self) -> Vec<String> {
        self.lock().0.clone()
    }
    /// Whether the cleanup must also look the object up by name.
    pub fn unsure(&self) -> bool {
        let g = self.lock();
        g.1 || g.0.is_empty()
    }
}

/// What to run.
#[derive(Debug, Clone)]
pub enum RunSource {
    /// `Run.pipeline_spec`: the bare spec or the two-document wrapper.
    Spec(Value),
    /// `Run.pipeline_version_reference`: an uploaded pipeline's version (latest when `None`).
    Version {
        pipeline_id: String,
        version_id: Option<String>,
    },
}

/// Settings for [`KfpClient::connect`].
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    pub endpoint: String,
    pub auth: Auth,
    pub insecure_skip_tls_verify: bool,
    pub request_timeout: Duration,
    /// Extra tries after a transient failure (5xx from a gateway, connection refused).
    pub retries: u32,
}

/// A connected client: `base` is where `/apis/...` lives (with `/pipeline` behind the UI).
#[derive(Clone)]
pub struct KfpClient {
    http: reqwest::Client,
    base: Arc<str>,
    auth: Auth,
    retries: u32,
    timeout: Duration,
    /// healthz as seen when connecting.
    pub health: Health,
    /// Only `/apis/v1beta1` answered: a KFP 1.x server.
    pub v1_only: bool,
}

impl std::fmt::Debug for KfpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KfpClient")
            .field("base", &self.base)
            .field("auth", &self.auth)
            .finish()
    }
}

/// `Content-Type`-independent JSON body of a success; empty bodies are `{}`.
fn parse_json(path: &str, text: &str) -> Result<Value, KfpError> {
    if text.trim().is_empty() {
        return Ok(json!({}));
    }
    serde_json::from_str(text).map_err(|_| KfpError::Decode {
        path: path.into(),
        detail: format!("not JSON: {}", error_message(text)),
    })
}

/// The body of an answer, at most [`MAX_BODY_BYTES`]: a larger one is refused before it is read
/// (by its `Content-Length`) or as soon as it passes the limit.
async fn read_capped(
    mut resp: reqwest::Response,
    path: &str,
    url: &str,
    timeout: Duration,
) -> Result<String, KfpError> {
    let too_large = || KfpError::TooLarge {
        path: path.into(),
        limit: MAX_BODY_BYTES,
    };
    let mut body = BodyCap::new(MAX_BODY_BYTES as u64);
    if let Some(n) = resp.content_length() {
        body.declared(n, false).map_err(|_| too_large())?;
    }
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| transport_error(&e, url, timeout))?
    {
        body.push(&chunk).map_err(|_| too_large())?;
    }
    Ok(String::from_utf8_lossy(&body.into_inner()).into_owned())
}

/// A transport failure, told apart by whether the request can have reached the server: a
/// failure to connect (TCP or TLS) means it was never sent; anything later means it may have.
pub(super) fn transport_error(e: &reqwest::Error, url: &str, timeout: Duration) -> KfpError {
    let detail = innermost(e);
    let url = url.split('?').next().unwrap_or(url).to_string();
    if e.is_timeout() {
        let secs = if e.is_connect() {
            timeout.min(CONNECT_TIMEOUT)
        } else {
            timeout
        }
        .as_secs()
        .max(1);
        return KfpError::Timeout {
            url,
            secs,
            sent: !e.is_connect(),
        };
    }
    let lower = detail.to_ascii_lowercase();
    if [
        "certificate",
        "tls",
        "handshake",
        "invalidcontenttype",
        "corrupt message",
        "peer misbehaved",
        "unknownissuer",
    ]
    .iter()
    .any(|w| lower.contains(w))
    {
        return KfpError::Tls { url, detail };
    }
    if e.is_connect() {
        KfpError::Connect { url, detail }
    } else {
        KfpError::Lost { url, detail }
    }
}

/// Which failures a call that is safe to repeat tries again.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Retry {
    /// Reads, deletes, terminate: every transient failure, timeouts included.
    Safe,
    /// The healthz probes while connecting: not timeouts (a server that did not answer in time is
    /// reported as it is, so that finding the endpoint costs at most one request timeout).
    Probe,
}

impl KfpClient {
    pub(super) fn http_client(opts: &ConnectOptions) -> Result<reqwest::Client, KfpError> {
        let tls = tls_config(opts.insecure_skip_tls_verify).map_err(|d| KfpError::Tls {
            url: opts.endpoint.clone(),
            detail: d,
        })?;
        reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            // Connecting includes the TLS handshake; the timeout covers the whole exchange, so a
            // server that accepts and never answers, or trickles its answer, is cut off too.
            .connect_timeout(opts.request_timeout.min(CONNECT_TIMEOUT))
            .read_timeout(opts.request_timeout)
            .timeout(opts.request_timeout)
            .user_agent(concat!("kfcheck/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| KfpError::Connect {
                url: opts.endpoint.clone(),
                detail: innermost(&e),
            })
    }

    /// Connects and finds where the API lives: `endpoint` itself (direct to `ml-pipeline`, or a
    /// URL that already ends in `/pipeline`), else `endpoint/pipeline` (the dashboard's gateway).
    /// Auth errors, TLS errors and timeouts are reported as they are, never masked by the
    /// fallback.
    pub async fn connect(opts: ConnectOptions) -> Result<KfpClient, KfpError> {
        let http = Self::http_client(&opts)?;
        let endpoint = opts.endpoint.trim_end_matches('/').to_string();
        let mut candidates = vec![endpoint.clone()];
        if !endpoint.ends_with("/pipeline") {
            candidates.push(format!("{endpoint}/pipeline"));
        }
        let mut client = KfpClient {
            http,
            base: Arc::from(endpoint.as_str()),
            auth: opts.auth.clone(),
            retries: opts.retries,
            timeout: opts.request_timeout,
            health: Health::default(),
            v1_only: false,
        };
        let mut last = None;
        for c in &candidates {
            client.base = Arc::from(c.as_str());
            match client.probe_healthz("v2beta1").await {
                Ok(h) => {
                    client.health = h;
                    return Ok(client);
                }
                Err(e @ (KfpError::Status { status: 404, .. } | KfpError::Decode { .. })) => {
                    last = Some(e)
                }
                Err(e) => return Err(e),
            }
        }
        // A KFP 1.x server has only v1beta1.
        client.base = Arc::from(endpoint.as_str());
        if let Ok(h) = client.probe_healthz("v1beta1").await {
            client.health = h;
            client.v1_only = true;
            return Ok(client);
        }
        Err(match last {
            Some(KfpError::Status { message, .. }) => KfpError::Status {
                status: 404,
                message: format!("no KFP API at {endpoint} (tried /apis/v2beta1/healthz and /pipeline/apis/v2beta1/healthz){}", if message.is_empty() { String::new() } else { format!("; last answer: {message}") }),
                method: "GET".into(),
                path: "/apis/v2beta1/healthz".into(),
            },
            Some(other) => other,
            None => KfpError::Decode { path: endpoint, detail: "no answer".into() },
        })
    }

    /// Where the API lives (for messages; it holds no credential).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// How long one request may take (`--kfp-request-timeout`): what bounds every call the REST
    /// door makes, its reads of the launched pods included.
    pub fn request_timeout(&self) -> Duration {
        self.timeout
    }

    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The same endpoint with other credentials (the isolation check's second identity).
    pub fn with_auth(&self, auth: Auth) -> KfpClient {
        KfpClient {
            auth,
            ..self.clone()
        }
    }

    async fn healthz_at(&self, api: &str, retry: Retry) -> Result<Health, KfpError> {
        let path = format!("/apis/{api}/healthz");
        let v = self
            .call(reqwest::Method::GET, &path, &[], None, retry)
            .await?;
        Health::from_json(&v).ok_or_else(|| KfpError::Decode {
            path,
            detail: "not a KFP healthz answer".into(),
        })
    }

    async fn probe_healthz(&self, api: &str) -> Result<Health, KfpError> {
        self.healthz_at(api, Retry::Probe).await
    }

    pub async fn healthz(&self) -> Result<Health, KfpError> {
        self.healthz_at(
            if self.v1_only { "v1beta1" } else { "v2beta1" },
            Retry::Safe,
        )
        .await
    }

    fn authorize(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.auth {
            Auth::None => rb,
            Auth::Bearer(t) => rb.bearer_auth(t.expose()),
            Auth::Cookie(c) => rb.header(reqwest::header::COOKIE, cookie_header(c.expose())),
            Auth::UserId(u) => rb.header("kubeflow-userid", u.as_str()),
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        retry: Retry,
    ) -> Result<Value, KfpError> {
        let url = format!("{}{path}", self.base);
        self.send(&method, path, retry, || {
            let mut rb = self.http.request(method.clone(), &url).query(query);
            if let Some(b) = body {
                rb = rb.json(b);
            }
            rb
        })
        .await
    }

    /// Sends a call that is safe to repeat, with bounded retries of transient failures (backoff
    /// 0.25s, 0.5s, 1s…).
    async fn send(
        &self,
        method: &reqwest::Method,
        path: &str,
        retry: Retry,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Value, KfpError> {
        let mut attempt = 0;
        loop {
            let result = self.send_once(method, path, make()).await;
            match result {
                Err(e) if attempt < self.retries && e.transient(retry == Retry::Safe) => {
                    tokio::time::sleep(Backoff::kfp().delay(attempt + 1)).await;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn send_once(
        &self,
        method: &reqwest::Method,
        path: &str,
        rb: reqwest::RequestBuilder,
    ) -> Result<Value, KfpError> {
        let url = format!("{}{path}", self.base);
        let resp = self
            .authorize(rb)
            .send()
            .await
            .map_err(|e| transport_error(&e, &url, self.timeout))?;
        let status = resp.status();
        if status.is_redirection() {
            let location = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .unwrap_or("?");
            return Err(KfpError::Redirect {
                path: path.into(),
                location: location.split('?').next().unwrap_or(location).to_string(),
            });
        }
        let text = read_capped(resp, path, &url, self.timeout).await?;
        if !status.is_success() {
            return Err(KfpError::Status {
                status: status.as_u16(),
                message: error_message(&text),
                method: method.to_string(),
                path: path.into(),
            });
        }
        parse_json(path, &text)
    }

    /// A create: sent once; when its fate is unknown (the answer was lost, a proxy gave up, no
    /// answer in time) the object is looked up by its unique name (`find`) and used if there; it
    /// is sent again only when it certainly was not made (never sent, or not found after a
    /// transient failure). Every id seen goes into `created`.
    async fn create<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        created: &Created,
        id_of: fn(&T) -> String,
        make: impl Fn() -> reqwest::RequestBuilder,
        find: &Lookup,
    ) -> Result<T, KfpError> {
        let mut attempt = 0;
        loop {
            let e = match self.send_once(&reqwest::Method::POST, path, make()).await {
                Ok(v) => {
                    let made: T = Self::decode(path, v)?;
                    created.add(&id_of(&made));
                    return Ok(made);
                }
                Err(e) => e,
            };
            let again = match e.create_fate() {
                Fate::Refused => return Err(e),
                Fate::NotMade => true,
                Fate::Unknown { retry } => {
                    created.lost_an_answer();
                    // A lookup that fails leaves the question to the cleanup (it looks again).
                    let Ok(found) = self.find(find).await else {
                        return Err(e);
                    };
                    let found: Vec<T> = Self::decode_all(path, found)?;
                    for f in &found {
                        created.add(&id_of(f));
                    }
                    if let Some(first) = found.into_iter().next() {
                        return Ok(first);
                    }
                    retry
                }
            };
            if !again || attempt >= self.retries {
                return Err(e);
            }
            tokio::time::sleep(Backoff::kfp().delay(attempt + 1)).await;
            attempt += 1;
        }
    }

    /// The objects a [`Lookup`] names.
    async fn find(&self, l: &Lookup) -> Result<Vec<Value>, KfpError> {
        let all = self.list_all(&l.path, &l.query, l.key).await?;
        Ok(all
            .into_iter()
            .filter(|v| shown_name(v) == l.name)
            .collect())
    }

    /// Every page of a list (`{}` is an empty list; no `next_page_token` is the last page), at
    /// most [`MAX_PAGES`]: a server that never stops (or repeats a token) is reported.
    async fn list_all(
        &self,
        path: &str,
        query: &[(&str, String)],
        key: &str,
    ) -> Result<Vec<Value>, KfpError> {
        let mut out = Vec::new();
        let mut token = String::new();
        for _ in 0..MAX_PAGES {
            let mut q: Vec<(&str, String)> = query.to_vec();
            q.push(("page_size", PAGE_SIZE.to_string()));
            if !token.is_empty() {
                q.push(("page_token", token.clone()));
            }
            let v = self
                .call(reqwest::Method::GET, path, &q, None, Retry::Safe)
                .await?;
            if let Some(items) = v.get(key).and_then(Value::as_array) {
                out.extend(items.iter().cloned());
            }
            match v.get("next_page_token").and_then(Value::as_str) {
                Some(t) if t == token => {
                    return Err(KfpError::TooManyPages {
                        path: path.into(),
                        detail: "the same token twice in a row".into(),
                    })
                }
                Some(t) if !t.is_empty() => token = t.to_string(),
                _ => return Ok(out),
            }
        }
        Err(KfpError::TooManyPages {
            path: path.into(),
            detail: format!("more than {MAX_PAGES} pages of {PAGE_SIZE}"),
        })
    }

    fn decode<T: serde::de::DeserializeOwned>(path: &str, v: Value) -> Result<T, KfpError> {
        serde_json::from_value(v).map_err(|e| KfpError::Decode {
            path: path.into(),
            detail: e.to_string(),
        })
    }

    fn decode_all<T: serde::de::DeserializeOwned>(
        path: &str,
        vs: Vec<Value>,
    ) -> Result<Vec<T>, KfpError> {
        vs.into_iter().map(|v| Self::decode(path, v)).collect()
    }

    /// Creates an experiment named `name` (unique: kfcheck's names carry the run id).
    pub async fn create_experiment(
        &self,
        name: &str,
        namespace: Option<&str>,
        description: &str,
        created: &Created,
    ) -> Result<Experiment, KfpError> {
        let mut body = json!({ "display_name": name, "description": description });
        if let Some(ns) = namespace {
            body["namespace"] = json!(ns);
        }
        let path = "/apis/v2beta1/experiments";
        let url = format!("{}{path}", self.base);
        let find = Lookup {
            path: path.into(),
            query: experiments_query(namespace, name),
            key: "experiments",
            name: name.into(),
        };
        self.create(
            path,
            created,
            |e: &Experiment| e.experiment_id.clone(),
            || self.http.post(&url).json(&body),
            &find,
        )
        .await
    }

    /// Experiments whose display name contains `needle` (in `namespace` when given).
    pub async fn list_experiments(
        &self,
        namespace: Option<&str>,
        needle: &str,
    ) -> Result<Vec<Experiment>, KfpError> {
        let path = "/apis/v2beta1/experiments";
        Self::decode_all(
            path,
            self.list_all(path, &experiments_query(namespace, needle), "experiments")
                .await?,
        )
    }

    pub async fn delete_experiment(&self, id: &str) -> Result<(), KfpError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("/apis/v2beta1/experiments/{id}"),
            &[],
            None,
            Retry::Safe,
        )
        .await
        .map(|_| ())
    }

    /// Multipart upload (part `uploadfile`, a `.yaml` filename): a pipeline and its first version.
    pub async fn upload_pipeline(
        &self,
        name: &str,
        namespace: Option<&str>,
        yaml: &str,
        created: &Created,
    ) -> Result<Pipeline, KfpError> {
        let path = "/apis/v2beta1/pipelines/upload";
        let url = format!("{}{path}", self.base);
        let mut q = vec![
            ("name", name.to_string()),
            ("display_name", name.to_string()),
        ];
        if let Some(ns) = namespace {
            q.push(("namespace", ns.to_string()));
        }
        let file = format!("{name}.yaml");
        let make = || {
            let part = reqwest::multipart::Part::text(yaml.to_string()).file_name(file.clone());
            let part = part.mime_str("application/x-yaml").unwrap_or_else(|_| {
                reqwest::multipart::Part::text(yaml.to_string()).file_name(file.clone())
            });
            self.http
                .post(&url)
                .query(&q)
                .multipart(reqwest::multipart::Form::new().part("uploadfile", part))
        };
        let find = Lookup {
            path: "/apis/v2beta1/pipelines".into(),
            query: pipelines_query(namespace, name),
            key: "pipelines",
            name: name.into(),
        };
        self.create(
            path,
            created,
            |p: &Pipeline| p.pipeline_id.clone(),
            make,
            &find,
        )
        .await
    }

    /// A new version of an uploaded pipeline (query key `pipelineid`, no underscore).
    pub async fn upload_version(
        &self,
        pipeline_id: &str,
        name: &str,
        yaml: &str,
        created: &Created,
    ) -> Result<PipelineVersion, KfpError> {
        let path = "/apis/v2beta1/pipelines/upload_version";
        let url = format!("{}{path}", self.base);
        let q = [
            ("pipelineid", pipeline_id.to_string()),
            ("name", name.to_string()),
            ("display_name", name.to_string()),
        ];
        let file = format!("{name}.yaml");
        let make = || {
            let part = reqwest::multipart::Part::text(yaml.to_string()).file_name(file.clone());
            self.http
                .post(&url)
                .query(&q)
                .multipart(reqwest::multipart::Form::new().part("uploadfile", part))
        };
        let find = Lookup {
            path: format!("/apis/v2beta1/pipelines/{pipeline_id}/versions"),
            query: vec![("filter", substring_filter("display_name", name))],
            key: "pipeline_versions",
            name: name.into(),
        };
        self.create(
            path,
            created,
            |v: &PipelineVersion| v.pipeline_version_id.clone(),
            make,
            &find,
        )
        .await
    }

    /// Pipelines visible in `namespace` (shared ones when `None`) whose name contains `needle`
    /// (all when empty).
    pub async fn list_pipelines(
        &self,
        namespace: Option<&str>,
        needle: &str,
    ) -> Result<Vec<Pipeline>, KfpError> {
        let path = "/apis/v2beta1/pipelines";
        Self::decode_all(
            path,
            self.list_all(path, &pipelines_query(namespace, needle), "pipelines")
                .await?,
        )
    }

    /// The newest version of a pipeline, with its spec.
    pub async fn latest_version(
        &self,
        pipeline_id: &str,
    ) -> Result<Option<PipelineVersion>, KfpError> {
        let path = format!("/apis/v2beta1/pipelines/{pipeline_id}/versions");
        let q = [
            ("page_size", "1".to_string()),
            ("sort_by", "created_at desc".to_string()),
        ];
        let v = self
            .call(reqwest::Method::GET, &path, &q, None, Retry::Safe)
            .await?;
        let Some(first) = v
            .get("pipeline_versions")
            .and_then(Value::as_array)
            .and_then(|a| a.first())
            .cloned()
        else {
            return Ok(None);
        };
        let mut version: PipelineVersion = Self::decode(&path, first)?;
        if version.pipeline_spec.is_none() {
            let one = self
                .call(
                    reqwest::Method::GET,
                    &format!("{path}/{}", version.pipeline_version_id),
                    &[],
                    None,
                    Retry::Safe,
                )
                .await?;
            version = Self::decode(&path, one)?;
        }
        Ok(Some(version))
    }

    /// Deletes a pipeline with its versions.
    pub async fn delete_pipeline(&self, id: &str) -> Result<(), KfpError> {
        let q = [("cascade", "true".to_string())];
        self.call(
            reqwest::Method::DELETE,
            &format!("/apis/v2beta1/pipelines/{id}"),
            &q,
            None,
            Retry::Safe,
        )
        .await
        .map(|_| ())
    }

    /// Submits a run named `name` (unique), in `namespace` (for the lookup after a lost answer).
    pub async fn create_run(
        &self,
        name: &str,
        namespace: Option<&str>,
        experiment_id: Option<&str>,
        source: &RunSource,
        parameters: &serde_json::Map<String, Value>,
        created: &Created,
    ) -> Result<Run, KfpError> {
        let mut body = json!({ "display_name": name });
        if let Some(e) = experiment_id {
            body["experiment_id"] = json!(e);
        }
        match source {
            RunSource::Spec(s) => body["pipeline_spec"] = s.clone(),
            RunSource::Version {
                pipeline_id,
                version_id,
            } => {
                let mut r = json!({ "pipeline_id": pipeline_id });
                if let Some(v) = version_id {
                    r["pipeline_version_id"] = json!(v);
                }
                body["pipeline_version_reference"] = r;
            }
        }
        if !parameters.is_empty() {
            body["runtime_config"] = json!({ "parameters": parameters });
        }
        let path = "/apis/v2beta1/runs";
        let url = format!("{}{path}", self.base);
        let find = Lookup {
            path: path.into(),
            query: runs_query(namespace, experiment_id, name),
            key: "runs",
            name: name.into(),
        };
        self.create(
            path,
            created,
            |r: &Run| r.run_id.clone(),
            || self.http.post(&url).json(&body),
            &find,
        )
        .await
    }

    pub async fn get_run(&self, id: &str) -> Result<Run, KfpError> {
        let path = format!("/apis/v2beta1/runs/{id}");
        let v = self
            .call(reqwest::Method::GET, &path, &[], None, Retry::Safe)
            .await?;
        Self::decode(&path, v)
    }

    /// Runs whose name contains `needle`, in `namespace` or `experiment_id` (multi-user servers
    /// need one of them).
    pub async fn list_runs(
        &self,
        namespace: Option<&str>,
        experiment_id: Option<&str>,
        needle: &str,
    ) -> Result<Vec<Run>, KfpError> {
        let path = "/apis/v2beta1/runs";
        Self::decode_all(
            path,
            self.list_all(path, &runs_query(namespace, experiment_id, needle), "runs")
                .await?,
        )
    }

    pub async fn terminate_run(&self, id: &str) -> Result<(), KfpError> {
        self.call(
            reqwest::Method::POST,
            &format!("/apis/v2beta1/runs/{id}:terminate"),
            &[],
            None,
            Retry::Safe,
        )
        .await
        .map(|_| ())
    }

    pub async fn delete_run(&self, id: &str) -> Result<(), KfpError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("/apis/v2beta1/runs/{id}"),
            &[],
            None,
            Retry::Safe,
        )
        .await
        .map(|_| ())
    }

    /// Stops a run if it is still going (unless `known_finished`, it asks first), then deletes it.
    /// A run that is already gone is fine.
    pub async fn terminate_and_delete_run(
        &self,
        id: &str,
        known_finished: bool,
    ) -> Result<String, KfpError> {
        let finished = known_finished
            || match self.get_run(id).await {
                Ok(r) => super::kfp_spec::RunState::parse(r.state.as_deref()).is_terminal(),
                Err(KfpError::Status { status: 404, .. }) => {
                    return Ok(format!("KFP run {id} was already gone"))
                }
                Err(_) => false,
            };
        let mut what = "deleted";
        if !finished {
            // Best effort: the delete below is what must succeed.
            if self.terminate_run(id).await.is_ok() {
                what = "terminated and deleted";
            }
        }
        match self.delete_run(id).await {
            Ok(()) => Ok(format!("{what} KFP run {id}")),
            Err(KfpError::Status { status: 404, .. }) => {
                Ok(format!("KFP run {id} was already gone"))
            }
            Err(e) => Err(e),
        }
    }
}

/// A list filter matching `key` containing `needle`.
fn substring_filter(key: &str, needle: &str) -> String {
    json!({ "predicates": [{ "key": key, "operation": "IS_SUBSTRING", "string_value": needle }] })
        .to_string()
}

type Query = Vec<(&'static str, String)>;

fn experiments_query(namespace: Option<&str>, needle: &str) -> Query {
    let mut q = vec![("filter", substring_filter("display_name", needle))];
    q.extend(namespace.map(|ns| ("namespace", ns.to_string())));
    q
}

fn pipelines_query(namespace: Option<&str>, needle: &str) -> Query {
    let mut q = Vec::new();
    if !needle.is_empty() {
        q.push(("filter", substring_filter("display_name", needle)));
    }
    q.extend(namespace.map(|ns| ("namespace", ns.to_string())));
    q
}

fn runs_query(namespace: Option<&str>, experiment_id: Option<&str>, needle: &str) -> Query {
    let mut q = vec![("filter", substring_filter("display_name", needle))];
    q.extend(namespace.map(|ns| ("namespace", ns.to_string())));
    q.extend(experiment_id.map(|e| ("experiment_id", e.to_string())));
    q
}

/// Where to look for an object by its unique name after its create's answer was lost.
struct Lookup {
    path: String,
    query: Query,
    key: &'static str,
    name: String,
}

/// The name an object is shown by: `display_name`, else `name` (pipelines of older servers).
fn shown_name(v: &Value) -> &str {
    let s = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    s("display_name").or_else(|| s("name")).unwrap_or("")
}

/// A `--kfp-cookie` value as a `Cookie` header: `name=value[; name2=value2]` as given, a bare
/// value as oauth2-proxy's `oauth2_proxy_kubeflow`.
pub(crate) fn cookie_header(given: &str) -> String {
    let given = given.trim();
    if given.contains('=') {
        given.to_string()
    } else {
        format!("oauth2_proxy_kubeflow={given}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_healthz_shapes_are_read() {
        let direct = Health::from_json(&json!({"commit_sha": "abc", "tag_name": "2.17.0", "multi_user": true, "pipeline_store": "database"})).unwrap();
        assert_eq!(
            direct,
            Health {
                tag_name: Some("2.17.0".into()),
                multi_user: Some(true),
                api_server_ready: true,
                pipeline_store: Some("database".into()),
                via_ui: false
            }
        );
        let ui = Health::from_json(&json!({"apiServerReady": false, "apiServerTagName": "", "multi_user": false, "apiServerMultiUser": false})).unwrap();
        assert!(ui.via_ui && !ui.api_server_ready && ui.tag_name.is_none());
        // An old server: no pipeline_store, multi_user absent means single-user.
        assert_eq!(
            Health::from_json(&json!({"commit_sha": "x", "tag_name": "2.0.5"}))
                .unwrap()
                .multi_user,
            Some(false)
        );
        assert!(Health::from_json(&json!({"hello": 1})).is_none());
    }

    #[test]
    fn credentials_never_show() {
        let a = Auth::Bearer(Secret::new("tok-very-secret"));
        assert!(!format!("{a:?}").contains("very-secret"));
        assert_eq!(a.describe(), "a bearer token");
        assert_eq!(cookie_header("abc"), "oauth2_proxy_kubeflow=abc");
        assert_eq!(
            cookie_header("oauth2_proxy_kubeflow_0=a; oauth2_proxy_kubeflow_1=b"),
            "oauth2_proxy_kubeflow_0=a; oauth2_proxy_kubeflow_1=b"
        );
        assert_eq!(
            cookie_header("authservice_session=s"),
            "authservice_session=s"
        );
    }

    #[test]
    fn only_transient_failures_are_retried() {
        let st = |s: u16| KfpError::Status {
            status: s,
            message: String::new(),
            method: "GET".into(),
            path: "/".into(),
        };
        assert!(
            st(503).transient(true)
                && st(502).transient(true)
                && st(429).transient(false)
                && st(500).transient(true)
        );
        assert!(!st(401).transient(true) && !st(403).transient(true) && !st(404).transient(true));
        let timeout = KfpError::Timeout {
            url: "u".into(),
            secs: 1,
            sent: true,
        };
        assert!(
            timeout.transient(true) && !timeout.transient(false),
            "a probe that got no answer in time is not repeated"
        );
        assert_eq!(st(404).to_string(), "GET /: HTTP 404");
    }

    #[test]
    fn a_create_is_repeated_only_when_it_certainly_did_not_happen() {
        let st = |s: u16| KfpError::Status {
            status: s,
            message: String::new(),
            method: "POST".into(),
            path: "/".into(),
        };
        let (url, detail) = (String::from("u"), String::from("d"));
        assert_eq!(
            KfpError::Connect {
                url: url.clone(),
                detail: detail.clone()
            }
            .create_fate(),
            Fate::NotMade
        );
        assert_eq!(
            KfpError::Timeout {
                url: url.clone(),
                secs: 1,
                sent: false
            }
            .create_fate(),
            Fate::NotMade
        );
        assert_eq!(st(429).create_fate(), Fate::NotMade);
        assert_eq!(
            KfpError::Lost {
                url: url.clone(),
                detail
            }
            .create_fate(),
            Fate::Unknown { retry: true }
        );
        assert_eq!(
            KfpError::Timeout {
                url,
                secs: 1,
                sent: true
            }
            .create_fate(),
            Fate::Unknown { retry: true }
        );
        assert_eq!(st(503).create_fate(), Fate::Unknown { retry: true });
        assert_eq!(st(500).create_fate(), Fate::Unknown { retry: false });
        assert_eq!(st(400).create_fate(), Fate::Refused);
        assert_eq!(st(409).create_fate(), Fate::Refused);
        let c = Created::default();
        assert!(c.unsure(), "nothing seen yet: the cleanup looks by name");
        c.add("a");
        c.add("a");
        c.add("b");
        assert_eq!(c.ids(), ["a", "b"]);
        assert!(!c.unsure());
        c.lost_an_answer();
        assert!(c.unsure());
    }

    #[test]
    fn an_empty_list_is_an_empty_object() {
        assert_eq!(parse_json("/x", "").unwrap(), json!({}));
        assert_eq!(parse_json("/x", "{}").unwrap(), json!({}));
        assert!(matches!(
            parse_json("/x", "<html>login</html>"),
            Err(KfpError::Decode { .. })
        ));
    }
}
