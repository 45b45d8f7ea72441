//! A test fixture, not a real security token service: a small STS and a storage gate for the
//! real-node test of `external_account` credentials (Workload Identity Federation). The STS
//! answers an RFC 8693 token exchange only after a real Kubernetes TokenReview (through the
//! callback the test passes) says the subject token is a valid ServiceAccount token for the
//! file's audience, and only for the one ServiceAccount it was told to trust; it issues one
//! random access token. The gate stands in front of fake-gcs-server and refuses (401) any request
//! that does not carry that token as `Authorization: Bearer`, so a passing probe proves the
//! identity was used. Both speak TLS with a certificate for the node's address, signed by a CA
//! made for the test (openssl, in a temporary folder), so nothing is sent in clear text and
//! kfcheck's https rule for token endpoints holds unchanged. Plain std `TcpListener` and threads.

#![allow(dead_code, reason = "each test crate uses a different subset")]

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

const GRANT_TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const TOKEN_TYPE_ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
const TOKEN_TYPE_JWT: &str = "urn:ietf:params:oauth:token-type:jwt";

/// A CA made for the test and a server certificate for one IP address signed by it.
pub struct Tls {
    /// The CA certificate (PEM), for the client's trust store (`SSL_CERT_FILE`).
    pub ca_pem: String,
    config: Arc<rustls::ServerConfig>,
}

fn openssl(dir: &Path, args: &[&str]) {
    let o = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("openssl is needed to make the test's certificates");
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

impl Tls {
    /// Makes the CA and a certificate for `ip` in `dir` (a temporary folder).
    pub fn for_ip(dir: &Path, ip: &str) -> Tls {
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        openssl(
            dir,
            &[
                &["req", "-x509", "-nodes", "-days", "1"][..],
                &ec,
                &[
                    "-keyout",
                    "ca.key",
                    "-out",
                    "ca.crt",
                    "-subj",
                    "/CN=kfcheck test CA",
                    "-addext",
                    "basicConstraints=critical,CA:TRUE",
                    "-addext",
                    "keyUsage=critical,keyCertSign",
                ],
            ]
            .concat(),
        );
        openssl(
            dir,
            &[
                &["req", "-nodes"][..],
                &ec,
                &[
                    "-keyout",
                    "server.key",
                    "-out",
                    "server.csr",
                    "-subj",
                    "/CN=kfcheck test STS",
                ],
            ]
            .concat(),
        );
        std::fs::write(
            dir.join("server.ext"),
            format!(
                "subjectAltName=IP:{ip}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n"
            ),
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-days",
                "1",
                "-extfile",
                "server.ext",
                "-out",
                "server.crt",
            ],
        );
        let chain = vec![CertificateDer::from_pem_file(dir.join("server.crt")).unwrap()];
        let key = PrivateKeyDer::from_pem_file(dir.join("server.key")).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .unwrap();
        Tls {
            ca_pem: std::fs::read_to_string(dir.join("ca.crt")).unwrap(),
            config: Arc::new(config),
        }
    }
}

type TlsStream = rustls::StreamOwned<rustls::ServerConnection, TcpStream>;

/// Accepts TLS connections on `ip` and hands each to `serve` on a thread of its own; returns the
/// port. Lives as long as the test process.
fn listen(ip: &str, tls: &Tls, serve: impl Fn(TlsStream) + Send + Sync + 'static) -> u16 {
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let config = tls.config.clone();
    let serve = Arc::new(serve);
    std::thread::spawn(move || {
        for tcp in listener.incoming().flatten() {
            let (config, serve) = (config.clone(), serve.clone());
            std::thread::spawn(move || {
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                serve(rustls::StreamOwned::new(conn, tcp));
            });
        }
    });
    port
}

/// One HTTP/1.1 request: the request line, the headers as sent, the body (Content-Length).
struct Request {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn read_request(r: &mut impl BufRead) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, target) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let mut req = Request {
        method,
        target,
        headers,
        body: Vec::new(),
    };
    let len: usize = req
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    req.body = vec![0; len];
    r.read_exact(&mut req.body).ok()?;
    Some(req)
}

/// Answers with a JSON body and closes the connection.
fn answer(mut s: TlsStream, status: u16, body: &serde_json::Value) {
    let body = body.to_string();
    let _ = write!(
        s,
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    s.conn.send_close_notify();
    let _ = s.flush();
}

/// `k=v&...`, percent-decoded.
fn form(body: &[u8]) -> Vec<(String, String)> {
    let decode = |s: &str| {
        let b = s.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'%' if i + 2 < b.len() => {
                    out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).unwrap_or(b'?'));
                    i += 3;
                }
                b'+' => {
                    out.push(b' ');
                    i += 1;
                }
                c => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter_map(|p| p.split_once('='))
        .map(|(k, v)| (decode(k), decode(v)))
        .collect()
}

/// 32 random bytes as hex, from the kernel.
fn random_token() -> String {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut b)
        .unwrap();
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Says who a subject token belongs to for an audience: `Ok(username)` when the TokenReview
/// authenticated it, `Err(why)` when not. Never given anything but the token to review.
pub type Review = dyn Fn(&str, &str) -> Result<String, String> + Send + Sync;

/// The test STS (a fixture: see the module's comment).
pub struct Sts {
    /// `https://IP:PORT/v1/token`.
    pub url: String,
    /// The access token it issues (the gate's key); never printed by the tests.
    pub issued: String,
    /// Every identity a TokenReview authenticated, in order, whether trusted or refused.
    pub seen: Arc<Mutex<Vec<String>>>,
}

impl Sts {
    /// Starts on `ip`, trusting tokens for `audience` that belong to `trusted` only.
    pub fn start(ip: &str, tls: &Tls, audience: &str, trusted: &str, review: Arc<Review>) -> Sts {
        let issued = format!("kfcheck-sts-{}", random_token());
        let seen: Arc<Mutex<Vec<String>>> = Arc::default();
        let (token, log) = (issued.clone(), seen.clone());
        let (audience, trusted) = (audience.to_string(), trusted.to_string());
        let port = listen(ip, tls, move |s| {
            let mut r = BufReader::new(s);
            let Some(req) = read_request(&mut r) else {
                return;
            };
            let (status, body) = exchange(&req, &audience, &trusted, &token, &*review, &log);
            answer(r.into_inner(), status, &body);
        });
        Sts {
            url: format!("https://{ip}:{port}/v1/token"),
            issued,
            seen,
        }
    }
}

/// One token exchange: the form checked as Google's STS checks it, the subject token reviewed,
/// the identity matched against the one trusted.
fn exchange(
    req: &Request,
    audience: &str,
    trusted: &str,
    issued: &str,
    review: &Review,
    seen: &Mutex<Vec<String>>,
) -> (u16, serde_json::Value) {
    let oauth = |error: &str, description: String| serde_json::json!({"error": error, "error_description": description});
    if req.method != "POST" || req.target != "/v1/token" {
        return (404, oauth("not_found", format!("no {}", req.target)));
    }
    let f = form(&req.body);
    let get = |k: &str| {
        f.iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    for (field, want) in [
        ("grant_type", GRANT_TOKEN_EXCHANGE),
        ("requested_token_type", TOKEN_TYPE_ACCESS),
        ("subject_token_type", TOKEN_TYPE_JWT),
        ("audience", audience),
    ] {
        if get(field) != want {
            return (
                400,
                oauth("invalid_request", format!("{field} is not {want}")),
            );
        }
    }
    if get("scope").is_empty() {
        return (400, oauth("invalid_scope", "no scope".into()));
    }
    let user = match review(get("subject_token"), audience) {
        Ok(user) => user,
        Err(why) => {
            return (
                400,
                oauth(
                    "invalid_grant",
                    format!("the subject token is not valid: {why}"),
                ),
            )
        }
    };
    seen.lock().unwrap().push(user.clone());
    if user != trusted {
        return (
            403,
            oauth(
                "unauthorized_client",
                format!("{user} is not allowed to exchange tokens here"),
            ),
        );
    }
    (
        200,
        serde_json::json!({"access_token": issued, "issued_token_type": TOKEN_TYPE_ACCESS, "token_type": "Bearer", "expires_in": 3600}),
    )
}

/// What the gate saw of one request: method, path and query, and whether it carried the token.
#[derive(Debug, Clone)]
pub struct Passed {
    pub method: String,
    pub target: String,
    pub authorized: bool,
}

/// The gate in front of fake-gcs-server (a fixture: see the module's comment).
pub struct Gate {
    /// `https://IP:PORT`, the storage endpoint for the probe.
    pub url: String,
    pub seen: Arc<Mutex<Vec<Passed>>>,
}

impl Gate {
    /// Starts on `ip`; requests with `Authorization: Bearer {token}` go on to `upstream`
    /// (host:port, plain http on loopback) without the header, all others get a 401.
    pub fn start(ip: &str, tls: &Tls, upstream: String, token: String) -> Gate {
        let seen: Arc<Mutex<Vec<Passed>>> = Arc::default();
        let log = seen.clone();
        let port = listen(ip, tls, move |s| {
            let mut r = BufReader::new(s);
            let Some(req) = read_request(&mut r) else {
                return;
            };
            let authorized = req.header("authorization") == Some(&format!("Bearer {token}"));
            log.lock().unwrap().push(Passed {
                method: req.method.clone(),
                target: req.target.clone(),
                authorized,
            });
            let mut s = r.into_inner();
            if !authorized {
                let body = serde_json::json!({"error": {"code": 401, "message": "the test gate wants the STS's access token"}});
                return answer(s, 401, &body);
            }
            if let Some(head_and_body) = forward(&req, &upstream) {
                let _ = s.write_all(&head_and_body);
            }
            s.conn.send_close_notify();
            let _ = s.flush();
        });
        Gate {
            url: format!("https://{ip}:{port}"),
            seen,
        }
    }
}

/// Sends `req` to `upstream` on a connection of its own and returns the whole answer with
/// `Connection: close` (the gate closes after each answer).
fn forward(req: &Request, upstream: &str) -> Option<Vec<u8>> {
    let mut up = TcpStream::connect(upstream).ok()?;
    let mut head = format!(
        "{} {} HTTP/1.1\r\nHost: {upstream}\r\n",
        req.method, req.target
    );
    for (k, v) in &req.headers {
        if !["host", "connection", "authorization", "keep-alive"]
            .iter()
            .any(|h| k.eq_ignore_ascii_case(h))
        {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    up.write_all(head.as_bytes()).ok()?;
    up.write_all(&req.body).ok()?;
    let mut answer = Vec::new();
    up.read_to_end(&mut answer).ok()?;
    let split = answer.windows(4).position(|w| w == b"\r\n\r\n")?;
    let (head, rest) = answer.split_at(split + 4);
    let mut out = String::new();
    for (i, line) in String::from_utf8_lossy(head).split("\r\n").enumerate() {
        let name = line.split(':').next().unwrap_or("");
        if line.is_empty() || (i > 0 && name.eq_ignore_ascii_case("connection")) {
            continue;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(rest);
    Some(bytes)
}
