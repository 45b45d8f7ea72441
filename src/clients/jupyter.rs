//! A Jupyter Server client for the notebook door: the REST API (status, kernels, sessions,
//! contents) under a base URL that keeps its prefix (Kubeflow serves a notebook at
//! `/notebook/<ns>/<name>/`), and a kernel's channels websocket to run one cell and collect what
//! it printed, returned and raised.
//!
//! Facts this client is built on (jupyter_server 2.x, checked against a real server in
//! tests/jupyter.rs): with token authentication (`Authorization: token ...`) mutating calls need
//! no XSRF token; without one (Kubeflow's images start Jupyter with an empty token) a POST or
//! DELETE is refused (403) unless the `_xsrf` cookie, which any HTML page of the server sets, is
//! sent back with an `X-XSRFToken` header. An unknown path answers an HTML page, as does a
//! gateway's sign-in. The channels websocket speaks the `v1.kernel.websocket.jupyter.org`
//! binary framing when the server accepts that subprotocol, JSON text frames otherwise.
//!
//! Every request is bounded in time; a cell is bounded by its deadline, after which the kernel is
//! interrupted. The client remembers the kernels it started and shuts down only those.

use super::http::Secret;
use super::jupyter_msg::{
    content_of_binary, content_of_text, decode_binary, decode_text, execute_request_binary_with,
    execute_request_text_with, Content, ExecutionState, ReplyStatus,
};
use super::redact::redact;
use futures::{SinkExt, StreamExt};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio_tungstenite::tungstenite::{self, client::IntoClientRequest, Message as WsMessage};

/// The websocket subprotocol of binary kernel frames.
pub const V1_SUBPROTOCOL: &str = "v1.kernel.websocket.jupyter.org";
/// Tries at shutting down a kernel of kfcheck's.
const SHUTDOWN_ATTEMPTS: u32 = 4;

/// How often the kernel's websocket is pinged while a cell runs.
const PING_EVERY: Duration = Duration::from_secs(5);
/// No frame at all (a pong included) for this long is a broken channel.
const SILENCE_LIMIT: Duration = Duration::from_secs(20);

/// Output kept from one cell (stdout, stderr, results and tracebacks together).
pub const MAX_OUTPUT_BYTES: usize = 1 << 20;

/// Why a call to the server failed. Messages never carry a credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JupyterError {
    #[error("cannot reach the Jupyter server at {url}: {why}")]
    Unreachable { url: String, why: String },
    #[error("the Jupyter server at {url} did not answer within {secs}s")]
    Timeout { url: String, secs: u64 },
    #[error("the Jupyter server refused kfcheck ({status}): {hint}")]
    Unauthorized { status: u16, hint: String },
    #[error("the Jupyter server refused the request for want of its XSRF token (403): {0}")]
    Xsrf(String),
    #[error("no Jupyter API at {0} (404): is the base URL right (/notebook/<namespace>/<name>/)?")]
    NotFound(String),
    #[error("{url} answered a web page, not the Jupyter API ({what})")]
    NotJupyter { url: String, what: String },
    #[error("the Jupyter server answered {status}: {message}")]
    Http { status: u16, message: String },
    #[error("kernel channels: {0}")]
    Channel(String),
    #[error("the kernel died while the cell ran: {0}")]
    KernelDied(String),
}

/// How kfcheck proves who it is to the server (or to the gateway in front of it).
#[derive(Debug, Clone, Default)]
pub struct JupyterAuth {
    /// The server's token (`Authorization: token ...`).
    pub token: Option<Secret>,
    /// A gateway credential: a `Cookie` header value (a dashboard session).
    pub cookie: Option<Secret>,
    /// A gateway credential: a bearer token.
    pub bearer: Option<Secret>,
}

/// Options of one client.
#[derive(Debug, Clone)]
pub struct JupyterOptions {
    pub request_timeout: Duration,
    /// Offer the v1 binary subprotocol on the channels websocket (else JSON text frames).
    pub offer_v1: bool,
}

impl Default for JupyterOptions {
    fn default() -> Self {
        JupyterOptions {
            request_timeout: Duration::from_secs(30),
            offer_v1: true,
        }
    }
}

/// A kernel as the server lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Kernel {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub execution_state: Option<String>,
}

/// The kernels a server can start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KernelSpecs {
    pub default: Option<String>,
    /// `(name, language)`, by name.
    pub specs: Vec<(String, String)>,
}

/// What one cell did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellOutput {
    pub stdout: String,
    pub stderr: String,
    /// `execute_result` and `display_data` (`text/plain`).
    pub results: Vec<String>,
    /// The exception the cell raised: name, value, traceback (redacted).
    pub error: Option<(String, String, Vec<String>)>,
    /// The reply's status (`ok`, `error`, `aborted`).
    pub status: String,
    /// The deadline passed: the kernel was interrupted.
    pub timed_out: bool,
    /// Output beyond [`MAX_OUTPUT_BYTES`] was dropped.
    pub truncated: bool,
    /// Which framing the channels used (`v1` or `json`).
    pub framing: &'static str,
    pub elapsed: Duration,
}

/// A client of one Jupyter server.
pub struct JupyterClient {
    http: reqwest::Client,
    /// Ends with `/`.
    base: String,
    auth: JupyterAuth,
    opts: JupyterOptions,
    xsrf: Mutex<Option<String>>,
    started: Mutex<Vec<String>>,
}

/// Whole seconds for a message (at least 1).
fn secs(d: Duration) -> u64 {
    d.as_secs().max(1)
}

impl JupyterClient {
    /// `base`: the server's base URL (`http://127.0.0.1:8888/notebook/ns/nb/`).
    pub fn new(
        base: &str,
        auth: JupyterAuth,
        opts: JupyterOptions,
    ) -> Result<JupyterClient, JupyterError> {
        let mut base = base.trim().to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(JupyterError::Unreachable {
                url: base,
                why: "not an http:// or https:// URL".into(),
            });
        }
        if !base.ends_with('/') {
            base.push('/');
        }
        let tls = super::http::tls_config(false).map_err(|why| JupyterError::Unreachable {
            url: base.clone(),
            why,
        })?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(opts.request_timeout.min(Duration::from_secs(10)))
            .timeout(opts.request_timeout)
            .build()
            .map_err(|e| JupyterError::Unreachable {
                url: base.clone(),
                why: super::errors::chain(&e),
            })?;
        Ok(JupyterClient {
            http,
            base,
            auth,
            opts,
            xsrf: Mutex::new(None),
            started: Mutex::new(Vec::new()),
        })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path.trim_start_matches('/'))
    }

    fn authed(
        &self,
        mut req: reqwest::RequestBuilder,
        xsrf: Option<&str>,
    ) -> reqwest::RequestBuilder {
        if let Some(t) = &self.auth.token {
            req = req.header("Authorization", format!("token {}", t.expose()));
        } else if let Some(b) = &self.auth.bearer {
            req = req.header("Authorization", format!("Bearer {}", b.expose()));
        }
        let mut cookies: Vec<String> = Vec::new();
        if let Some(c) = &self.auth.cookie {
            cookies.push(c.expose().to_string());
        }
        if let Some(x) = xsrf {
            cookies.push(format!("_xsrf={x}"));
            req = req.header("X-XSRFToken", x);
        }
        if !cookies.is_empty() {
            req = req.header("Cookie", cookies.join("; "));
        }
        req
    }

    fn transport(&self, url: &str, e: &reqwest::Error) -> JupyterError {
        if e.is_timeout() {
            JupyterError::Timeout {
                url: url.to_string(),
                secs: secs(self.opts.request_timeout),
            }
        } else {
            JupyterError::Unreachable {
                url: url.to_string(),
                why: redact(&super::errors::chain(e)),
            }
        }
    }

    /// The XSRF token for a mutating call when the server has no token auth: the `_xsrf`
    /// cookie an HTML page of the server sets (a 404 page sets it too), fetched once.
    async fn xsrf(&self) -> Result<Option<String>, JupyterError> {
        if self.auth.token.is_some() {
            return Ok(None);
        }
        if let Some(x) = self.xsrf.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Ok(Some(x));
        }
        for page in ["lab", "tree", "kfcheck-xsrf"] {
            let url = self.url(page);
            let resp = self
                .authed(self.http.get(&url), None)
                .send()
                .await
                .map_err(|e| self.transport(&url, &e))?;
            let found = resp
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find_map(|v| v.strip_prefix("_xsrf="))
                .map(|v| v.split(';').next().unwrap_or_default().to_string());
            if let Some(x) = found.filter(|x| !x.is_empty()) {
                *self.xsrf.lock().unwrap_or_else(|e| e.into_inner()) = Some(x.clone());
                return Ok(Some(x));
            }
        }
        Ok(None)
    }

    /// One REST call; `body` JSON for POST/PUT. Returns the status and the JSON answer (Null
    /// for an empty body).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), JupyterError> {
        let url = self.url(path);
        let mutating = method != reqwest::Method::GET;
        let xsrf = if mutating { self.xsrf().await? } else { None };
        let mut req = self.authed(self.http.request(method, &url), xsrf.as_deref());
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| self.transport(&url, &e))?;
        let status = resp.status().as_u16();
        let html = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|c| c.starts_with("text/html"));
        let location = resp
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(redact);
        let bytes = resp.bytes().await.map_err(|e| self.transport(&url, &e))?;
        let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64 << 10)]).to_string();
        let message = || {
            serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| {
                    v.get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| super::redact::tail(&text, 3, 300))
        };
        match status {
            200..=299 => {}
            300..=399 => {
                return Err(JupyterError::NotJupyter {
                    url,
                    what: format!(
                        "a redirect to {} (a sign-in page?)",
                        location.unwrap_or_else(|| "elsewhere".into())
                    ),
                })
            }
            401 => {
                return Err(JupyterError::Unauthorized {
                    status,
                    hint: "the server requires a token, or the one given is wrong".into(),
                })
            }
            403 if message().contains("XSRF") || message().contains("_xsrf") => {
                return Err(JupyterError::Xsrf(redact(&message())))
            }
            403 => {
                return Err(JupyterError::Unauthorized {
                    status,
                    hint: if self.auth.token.is_some() {
                        "the token was not accepted".into()
                    } else {
                        format!(
                            "no token was given, or access is denied: {}",
                            redact(&message())
                        )
                    },
                })
            }
            404 => return Err(JupyterError::NotFound(url)),
            _ => {
                return Err(JupyterError::Http {
                    status,
                    message: redact(&message()),
                })
            }
        }
        if html {
            return Err(JupyterError::NotJupyter {
                url,
                what: "an HTML page where JSON was expected".into(),
            });
        }
        if bytes.is_empty() {
            return Ok((status, serde_json::Value::Null));
        }
        let v = serde_json::from_slice(&bytes).map_err(|e| JupyterError::NotJupyter {
            url,
            what: format!("not JSON: {e}"),
        })?;
        Ok((status, v))
    }

    /// `api/status`: the server is up and answers as Jupyter.
    pub async fn status(&self) -> Result<serde_json::Value, JupyterError> {
        Ok(self.call(reqwest::Method::GET, "api/status", None).await?.1)
    }

    /// `api`: the server's version.
    pub async fn version(&self) -> Result<String, JupyterError> {
        let (_, v) = self.call(reqwest::Method::GET, "api", None).await?;
        Ok(v.get("version")
            .and_then(|v| v.as_str())
            .unwrap_or("unknown")
            .to_string())
    }

    pub async fn kernels(&self) -> Result<Vec<Kernel>, JupyterError> {
        let (_, v) = self.call(reqwest::Method::GET, "api/kernels", None).await?;
        serde_json::from_value(v).map_err(|e| JupyterError::NotJupyter {
            url: self.url("api/kernels"),
            what: format!("not a kernel list: {e}"),
        })
    }

    pub async fn sessions(&self) -> Result<serde_json::Value, JupyterError> {
        Ok(self
            .call(reqwest::Method::GET, "api/sessions", None)
            .await?
            .1)
    }

    /// `api/kernelspecs`: the server's default kernel and every kernel it can start, with its
    /// language (`(name, language)`, by name).
    pub async fn kernelspecs(&self) -> Result<KernelSpecs, JupyterError> {
        let (_, v) = self
            .call(reqwest::Method::GET, "api/kernelspecs", None)
            .await?;
        let mut specs: Vec<(String, String)> = v
            .get("kernelspecs")
            .and_then(|k| k.as_object())
            .into_iter()
            .flatten()
            .map(|(name, k)| {
                let language = k
                    .pointer("/spec/language")
                    .and_then(|l| l.as_str())
                    .unwrap_or_default();
                (name.clone(), language.to_string())
            })
            .collect();
        specs.sort();
        Ok(KernelSpecs {
            default: v
                .get("default")
                .and_then(|d| d.as_str())
                .map(str::to_string),
            specs,
        })
    }

    /// `api/shutdown`: stops the whole server (only for a server kfcheck started itself).
    pub async fn shutdown_server(&self) -> Result<(), JupyterError> {
        self.call(
            reqwest::Method::POST,
            "api/shutdown",
            Some(serde_json::json!({})),
        )
        .await
        .map(|_| ())
    }

    /// Starts a kernel (`name`, or the server's default) and remembers it as kfcheck's.
    pub async fn start_kernel(&self, name: Option<&str>) -> Result<Kernel, JupyterError> {
        let body = match name {
            Some(n) => serde_json::json!({ "name": n }),
            None => serde_json::json!({}),
        };
        let (_, v) = self
            .call(reqwest::Method::POST, "api/kernels", Some(body))
            .await?;
        let k: Kernel = serde_json::from_value(v).map_err(|e| JupyterError::NotJupyter {
            url: self.url("api/kernels"),
            what: format!("not a kernel: {e}"),
        })?;
        self.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(k.id.clone());
        Ok(k)
    }

    pub async fn interrupt(&self, id: &str) -> Result<(), JupyterError> {
        self.call(
            reqwest::Method::POST,
            &format!("api/kernels/{id}/interrupt"),
            Some(serde_json::json!({})),
        )
        .await
        .map(|_| ())
    }

    /// The kernels this client started and has not shut down yet.
    pub fn started(&self) -> Vec<String> {
        self.started
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Shuts down a kernel this client started; any other is refused (never touched).
    pub async fn shutdown(&self, id: &str) -> Result<(), JupyterError> {
        if !self.started().iter().any(|k| k == id) {
            return Err(JupyterError::Channel(format!(
                "kernel {id} was not started by kfcheck; it is left alone"
            )));
        }
        // A kernel the server is restarting (it died) refuses a shutdown with 500 for a moment,
        // and a connection a proxy or port-forward lost on the way times out once: tried again,
        // on a new connection, a few times.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self
                .call(reqwest::Method::DELETE, &format!("api/kernels/{id}"), None)
                .await
            {
                Ok(_) | Err(JupyterError::NotFound(_)) => {
                    self.started
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .retain(|k| k != id);
                    return Ok(());
                }
                Err(
                    JupyterError::Http { status: 500.., .. }
                    | JupyterError::Timeout { .. }
                    | JupyterError::Unreachable { .. },
                ) if attempt < SHUTDOWN_ATTEMPTS => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Shuts down every kernel this client started; returns what could not be.
    pub async fn shutdown_all(&self) -> Vec<(String, JupyterError)> {
        let mut left = Vec::new();
        for id in self.started() {
            if let Err(e) = self.shutdown(&id).await {
                left.push((id, e));
            }
        }
        left
    }

    /// Writes a text file (`api/contents/<path>`).
    pub async fn put_file(&self, path: &str, text: &str) -> Result<(), JupyterError> {
        self.call(
            reqwest::Method::PUT,
            &format!("api/contents/{path}"),
            Some(serde_json::json!({"type": "file", "format": "text", "content": text})),
        )
        .await
        .map(|_| ())
    }

    /// Reads a text file back.
    pub async fn get_file(&self, path: &str) -> Result<String, JupyterError> {
        let (_, v) = self
            .call(
                reqwest::Method::GET,
                &format!("api/contents/{path}?content=1&type=file&format=text"),
                None,
            )
            .await?;
        Ok(v.get("content")
            .and_then(|c| c.as_str())
            .unwrap_or_default()
            .to_string())
    }

    pub async fn delete_file(&self, path: &str) -> Result<(), JupyterError> {
        self.call(
            reqwest::Method::DELETE,
            &format!("api/contents/{path}"),
            None,
        )
        .await
        .map(|_| ())
    }

    /// Runs `code` in kernel `id` and collects its output, waiting for both the
    /// `execute_reply` and the kernel's return to idle for this request. At `deadline` the
    /// kernel is interrupted and the output so far returned with `timed_out`.
    pub async fn execute(
        &self,
        id: &str,
        code: &str,
        deadline: Duration,
    ) -> Result<CellOutput, JupyterError> {
        self.execute_observed(id, code, deadline, false, &mut |_, _| {})
            .await
    }

    /// [`execute`](Self::execute) for a notebook's own cell: stored in the kernel's history
    /// when `store_history` (an execution count, as a notebook server runs it), and every
    /// message answering it is also shown to `observe` as it came (message type, whole
    /// content, unredacted: the observer redacts what it keeps).
    pub async fn execute_observed(
        &self,
        id: &str,
        code: &str,
        deadline: Duration,
        store_history: bool,
        observe: &mut (dyn FnMut(&str, &serde_json::Value) + Send),
    ) -> Result<CellOutput, JupyterError> {
        let started = Instant::now();
        let mut ws_url = self.url(&format!(
            "api/kernels/{id}/channels?session_id={}",
            crate::model::run_id::new()
        ));
        ws_url = ws_url.replacen("http", "ws", 1);
        let (mut ws, framing) = match self.connect(&ws_url, self.opts.offer_v1).await {
            Ok(x) => x,
            // A server that fails the handshake with the subprotocol offered: once without it.
            Err(_) if self.opts.offer_v1 => self.connect(&ws_url, false).await?,
            Err(e) => return Err(e),
        };
        let session = crate::model::run_id::new();
        let msg_id = format!("kfcheck-{}", crate::model::run_id::new());
        let frame = if framing == "v1" {
            WsMessage::Binary(
                execute_request_binary_with(&session, &msg_id, code, store_history).into(),
            )
        } else {
            WsMessage::Text(
                execute_request_text_with(&session, &msg_id, code, store_history).into(),
            )
        };
        ws.send(frame)
            .await
            .map_err(|e| JupyterError::Channel(format!("cannot send the cell: {e}")))?;
        let mut out = CellOutput {
            framing,
            ..CellOutput::default()
        };
        let mut kept = 0usize;
        let mut replied = false;
        let mut idle = false;
        let end = tokio::time::Instant::now() + deadline;
        // A connection that silently stops carrying frames (a port-forward or proxy that lost
        // its far side) would otherwise look like a long cell until the deadline: the server
        // answers pings even while the kernel is busy, so no frame at all for a while is a
        // broken channel.
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        let mut heard = tokio::time::Instant::now();
        let mut keep = |out: &mut CellOutput, n: usize| {
            kept += n;
            if kept > MAX_OUTPUT_BYTES {
                out.truncated = true;
                false
            } else {
                true
            }
        };
        while !(replied && idle) {
            let next = tokio::select! {
                m = ws.next() => m,
                _ = tokio::time::sleep_until(end) => {
                    out.timed_out = true;
                    let _ = self.interrupt(id).await;
                    break;
                }
                _ = ping.tick() => {
                    if heard.elapsed() >= SILENCE_LIMIT {
                        return Err(JupyterError::Channel(format!(
                            "the kernel's websocket carried nothing, not even an answer to a ping, for {}s: the connection to the server broke",
                            SILENCE_LIMIT.as_secs()
                        )));
                    }
                    let _ = ws.send(WsMessage::Ping(Vec::new().into())).await;
                    continue;
                }
            };
            heard = tokio::time::Instant::now();
            let m = match next {
                None => {
                    return Err(JupyterError::KernelDied(
                        "the server closed the kernel's channels".into(),
                    ))
                }
                Some(Err(e)) => {
                    return Err(JupyterError::Channel(format!("the websocket failed: {e}")))
                }
                Some(Ok(m)) => m,
            };
            let decoded = match &m {
                WsMessage::Text(t) => decode_text(t.as_str()),
                WsMessage::Binary(b) => decode_binary(b),
                WsMessage::Close(_) => {
                    return Err(JupyterError::KernelDied(
                        "the server closed the kernel's channels".into(),
                    ))
                }
                _ => continue,
            };
            let Ok(msg) = decoded else { continue };
            // The server announces a kernel's death to every client, answering no request.
            if let Content::Status(ExecutionState::Other(s)) = &msg.content {
                if s == "dead" || s == "restarting" || s == "autorestarting" {
                    return Err(JupyterError::KernelDied(format!("the kernel is {s}")));
                }
            }
            if msg.parent_msg_id != msg_id {
                continue;
            }
            let raw = match &m {
                WsMessage::Text(t) => content_of_text(t.as_str()),
                WsMessage::Binary(b) => content_of_binary(b),
                _ => None,
            };
            observe(&msg.msg_type, &raw.unwrap_or_default());
            match msg.content {
                Content::Status(ExecutionState::Idle) => idle = true,
                Content::Stream { name, text } => {
                    if !keep(&mut out, text.len()) {
                        continue;
                    }
                    match name.as_str() {
                        "stderr" => out.stderr.push_str(&text),
                        _ => out.stdout.push_str(&text),
                    }
                }
                Content::Result {
                    text: Some(text), ..
                } => {
                    if !keep(&mut out, text.len()) {
                        continue;
                    }
                    out.results.push(text);
                }
                Content::Error {
                    ename,
                    evalue,
                    traceback,
                } => {
                    let tb: Vec<String> = traceback.iter().map(|l| redact(l)).collect();
                    out.error = Some((ename, redact(&evalue), tb));
                }
                Content::ExecuteReply { status, .. } => {
                    replied = true;
                    out.status = match status {
                        ReplyStatus::Ok => "ok".into(),
                        ReplyStatus::Error { .. } => "error".into(),
                        ReplyStatus::Aborted => "aborted".into(),
                        ReplyStatus::Other(s) => s,
                    };
                }
                _ => {}
            }
        }
        let _ = ws.close(None).await;
        out.stdout = redact(&out.stdout);
        out.stderr = redact(&out.stderr);
        out.elapsed = started.elapsed();
        Ok(out)
    }

    /// Opens the channels websocket; returns it and the framing the server agreed to.
    async fn connect(
        &self,
        url: &str,
        offer_v1: bool,
    ) -> Result<
        (
            tokio_tungstenite::WebSocketStream<Box<dyn Stream>>,
            &'static str,
        ),
        JupyterError,
    > {
        let shown = redact(url);
        let mut req = url
            .into_client_request()
            .map_err(|e| JupyterError::Channel(format!("{shown}: {e}")))?;
        let h = req.headers_mut();
        let header = |v: String| {
            tungstenite::http::HeaderValue::from_str(&v)
                .map_err(|_| JupyterError::Channel("a credential is not a valid header".into()))
        };
        if let Some(t) = &self.auth.token {
            h.insert("Authorization", header(format!("token {}", t.expose()))?);
        } else if let Some(b) = &self.auth.bearer {
            h.insert("Authorization", header(format!("Bearer {}", b.expose()))?);
        }
        let mut cookies = Vec::new();
        if let Some(c) = &self.auth.cookie {
            cookies.push(c.expose().to_string());
        }
        if let Some(x) = self.xsrf.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            cookies.push(format!("_xsrf={x}"));
        }
        if !cookies.is_empty() {
            h.insert("Cookie", header(cookies.join("; "))?);
        }
        if offer_v1 {
            h.insert("Sec-WebSocket-Protocol", header(V1_SUBPROTOCOL.into())?);
        }
        let uri = req.uri().clone();
        let host = uri
            .host()
            .unwrap_or("127.0.0.1")
            .trim_matches(['[', ']'])
            .to_string();
        let tls = uri.scheme_str() == Some("wss");
        let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
        let limit = self.opts.request_timeout;
        let timeout = || JupyterError::Timeout {
            url: shown.clone(),
            secs: secs(limit),
        };
        let tcp =
            tokio::time::timeout(limit, tokio::net::TcpStream::connect((host.as_str(), port)))
                .await
                .map_err(|_| timeout())?
                .map_err(|e| JupyterError::Unreachable {
                    url: shown.clone(),
                    why: e.to_string(),
                })?;
        let stream: Box<dyn Stream> = if tls {
            let config = super::http::tls_config(false).map_err(JupyterError::Channel)?;
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|e| JupyterError::Channel(format!("{host}: {e}")))?;
            let s = tokio::time::timeout(
                limit,
                tokio_rustls::TlsConnector::from(std::sync::Arc::new(config)).connect(name, tcp),
            )
            .await
            .map_err(|_| timeout())?
            .map_err(|e| JupyterError::Unreachable {
                url: shown.clone(),
                why: format!("TLS: {e}"),
            })?;
            Box::new(s)
        } else {
            Box::new(tcp)
        };
        let (ws, resp) = tokio::time::timeout(limit, tokio_tungstenite::client_async(req, stream))
            .await
            .map_err(|_| timeout())?
            .map_err(|e| match e {
                tungstenite::Error::Http(r) => JupyterError::Channel(format!(
                    "{shown}: the server refused the websocket ({})",
                    r.status()
                )),
                e => JupyterError::Channel(format!("{shown}: {e}")),
            })?;
        let agreed = resp
            .headers()
            .get("Sec-WebSocket-Protocol")
            .and_then(|v| v.to_str().ok())
            == Some(V1_SUBPROTOCOL);
        Ok((ws, if agreed { "v1" } else { "json" }))
    }
}

/// A byte stream the websocket runs over (TCP, or TLS over TCP).
pub trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Stream for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_keep_their_prefix_and_refuse_other_schemes() {
        let c = JupyterClient::new(
            "http://127.0.0.1:8888/notebook/ns/nb",
            JupyterAuth::default(),
            JupyterOptions::default(),
        )
        .unwrap();
        assert_eq!(c.base(), "http://127.0.0.1:8888/notebook/ns/nb/");
        assert_eq!(
            c.url("/api/status"),
            "http://127.0.0.1:8888/notebook/ns/nb/api/status"
        );
        assert!(
            JupyterClient::new("ftp://x", JupyterAuth::default(), JupyterOptions::default())
                .is_err()
        );
    }
}
