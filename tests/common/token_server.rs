//! A local OAuth token endpoint for the JWT bearer flow, as Google's answers it: verifies the
//! RS256 assertion with the public key registered for its `kid`, checks issuer, audience and
//! expiry, and returns an access token. Keys can be registered as denied (the account is gone)
//! or expired (Google then says the signature is invalid). Test keys are generated at test time
//! with openssl and never written outside a temporary folder.

#![allow(dead_code, reason = "each test crate uses a different subset")]

use base64::Engine as _;
use ring::signature::KeyPair as _;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum KeyState {
    Valid,
    /// The service account was deleted or disabled.
    Denied,
    /// The key was deleted or has expired.
    Expired,
}

struct Registered {
    public: Vec<u8>,
    email: String,
    state: KeyState,
}

pub struct TokenServer {
    pub url: String,
    pub issued: Arc<AtomicUsize>,
    keys: Arc<Mutex<BTreeMap<String, Registered>>>,
}

/// A PKCS#8 RSA key in PEM, generated now.
pub fn generate_pem(dir: &Path, name: &str) -> String {
    let path = dir.join(format!("{name}.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&path)
        .stderr(std::process::Stdio::null())
        .status()
        .expect("openssl is needed to generate test keys")
        .success();
    assert!(ok, "openssl genpkey failed");
    std::fs::read_to_string(path).unwrap()
}

fn der_of(pem: &str) -> Vec<u8> {
    let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap()
}

impl TokenServer {
    pub fn start() -> TokenServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/token", listener.local_addr().unwrap());
        let keys: Arc<Mutex<BTreeMap<String, Registered>>> = Arc::default();
        let issued = Arc::new(AtomicUsize::new(0));
        let (k, n, aud) = (keys.clone(), issued.clone(), url.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (k, n, aud) = (k.clone(), n.clone(), aud.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &k, &n, &aud);
                });
            }
        });
        TokenServer { url, issued, keys }
    }

    /// Generates a key, registers it, and writes a service-account key file; returns its path.
    pub fn key_file(&self, dir: &Path, name: &str, state: KeyState) -> PathBuf {
        let pem = generate_pem(dir, name);
        let pair = ring::signature::RsaKeyPair::from_pkcs8(&der_of(&pem)).unwrap();
        let email = format!("{name}@kfcheck-test.iam.gserviceaccount.com");
        let kid = format!("kid-{name}");
        self.keys.lock().unwrap().insert(
            kid.clone(),
            Registered {
                public: pair.public_key().as_ref().to_vec(),
                email: email.clone(),
                state,
            },
        );
        let file = dir.join(format!("{name}.json"));
        let doc = serde_json::json!({
            "type": "service_account",
            "project_id": "kfcheck-test",
            "private_key_id": kid,
            "private_key": pem,
            "client_email": email,
            "client_id": "1",
            "token_uri": self.url,
        });
        std::fs::write(&file, doc.to_string()).unwrap();
        let _ = std::fs::remove_file(dir.join(format!("{name}.pem")));
        file
    }
}

fn answer(stream: &mut std::net::TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    write!(stream, "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
}

fn invalid_grant(stream: &mut std::net::TcpStream, why: &str) -> std::io::Result<()> {
    answer(
        stream,
        "400 Bad Request",
        &serde_json::json!({"error": "invalid_grant", "error_description": why}).to_string(),
    )
}

fn serve(
    mut stream: std::net::TcpStream,
    keys: &Mutex<BTreeMap<String, Registered>>,
    issued: &AtomicUsize,
    aud: &str,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        reader.read_line(&mut h)?;
        if h.trim().is_empty() {
            break;
        }
        if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body)?;
    let body = String::from_utf8_lossy(&body).to_string();
    let form: BTreeMap<&str, &str> = body
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .collect();
    if !line.starts_with("POST ")
        || form.get("grant_type") != Some(&"urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer")
    {
        return answer(
            &mut stream,
            "400 Bad Request",
            r#"{"error":"unsupported_grant_type"}"#,
        );
    }
    let Some(jwt) = form.get("assertion") else {
        return invalid_grant(&mut stream, "no assertion");
    };
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return invalid_grant(&mut stream, "Invalid JWT.");
    }
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header: serde_json::Value =
        serde_json::from_slice(&b64.decode(parts[0]).unwrap_or_default()).unwrap_or_default();
    let claims: serde_json::Value =
        serde_json::from_slice(&b64.decode(parts[1]).unwrap_or_default()).unwrap_or_default();
    let sig = b64.decode(parts[2]).unwrap_or_default();
    let keys = keys.lock().unwrap();
    let Some(k) = header["kid"].as_str().and_then(|kid| keys.get(kid)) else {
        return invalid_grant(&mut stream, "Invalid JWT Signature.");
    };
    let signed = format!("{}.{}", parts[0], parts[1]);
    let verified = ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        &k.public,
    )
    .verify(signed.as_bytes(), &sig)
    .is_ok();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if header["alg"] != "RS256" || !verified || k.state == KeyState::Expired {
        return invalid_grant(&mut stream, "Invalid JWT Signature.");
    }
    if claims["iss"] != k.email.as_str()
        || claims["aud"] != aud
        || claims["exp"].as_u64().unwrap_or(0) < now
        || claims["iat"].as_u64().unwrap_or(u64::MAX) > now + 60
    {
        return invalid_grant(&mut stream, "Invalid JWT: claims do not match.");
    }
    if k.state == KeyState::Denied {
        return invalid_grant(&mut stream, "Invalid grant: account not found");
    }
    if !claims["scope"]
        .as_str()
        .unwrap_or("")
        .contains("devstorage")
    {
        return invalid_grant(&mut stream, "Invalid scope.");
    }
    let n = issued.fetch_add(1, Ordering::SeqCst);
    answer(&mut stream, "200 OK", &serde_json::json!({"access_token": format!("ya29.test-token-{n}"), "expires_in": 3599, "token_type": "Bearer"}).to_string())
}
