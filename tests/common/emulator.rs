//! The KFP API emulator (tools/kfp-emulator) as the integration tests run it: one subprocess
//! per test on a free port, stopped when dropped, plus the admin calls tests make to it.

use super::{repo, unavailable};
use serde_json::Value;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The project's Python venv (KFCHECK_VENV_PYTHON, else <repo>/.venv/bin/python); without it a
/// test skips and says so, except under CI or KFCHECK_E2E=1, where that is a failure.
pub fn python() -> Option<PathBuf> {
    let p = std::env::var_os("KFCHECK_VENV_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    if p.is_file() {
        return Some(p);
    }
    unavailable(
        format!(
            "no Python venv at {} (scripts/python-env builds it; or set KFCHECK_VENV_PYTHON)",
            p.display()
        ),
        format!(
            "no Python venv at {} for the KFP emulator (set KFCHECK_VENV_PYTHON)",
            p.display()
        ),
    )
}

/// A running emulator, stopped when dropped.
pub struct Emulator {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Emulator {
    pub fn start(args: &[&str]) -> Option<Emulator> {
        let mut all = vec![
            "--port",
            "0",
            "--pending-ms",
            "50",
            "--task-ms",
            "100",
            "--cancel-ms",
            "100",
        ];
        all.extend_from_slice(args);
        Self::script_server("tools/kfp-emulator/kfp_emulator.py", &all)
    }

    /// A Python server that writes its URL to `--ready-file` once serving.
    pub fn script_server(script: &str, args: &[&str]) -> Option<Emulator> {
        let py = python()?;
        let dir = tempfile::tempdir().unwrap();
        let ready = dir.path().join("url");
        let child = Command::new(py)
            .arg(repo().join(script))
            .args(["--ready-file", ready.to_str().unwrap()])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the KFP emulator");
        let started = Instant::now();
        while !ready.is_file() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "{script} did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let url = std::fs::read_to_string(&ready).unwrap().trim().to_string();
        Some(Emulator {
            child,
            url,
            _dir: dir,
        })
    }

    /// A plain HTTP/1.1 request (admin endpoints, or setting up the server as a user would).
    pub fn http(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Value) {
        let addr = self.url.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).unwrap();
        let text = String::from_utf8_lossy(&resp).to_string();
        let status: u16 = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
        (
            status,
            serde_json::from_str(body).unwrap_or(Value::String(body.to_string())),
        )
    }

    pub fn get(&self, path: &str) -> Value {
        self.http("GET", path, &[], b"").1
    }

    pub fn script(&self, v: Value) {
        let (code, body) = self.http(
            "POST",
            "/_emulator/script",
            &[("Content-Type", "application/json")],
            v.to_string().as_bytes(),
        );
        assert_eq!(code, 200, "{body}");
    }

    pub fn count(&self, route: &str) -> u64 {
        self.get("/_emulator/requests")["counts"][route]
            .as_u64()
            .unwrap_or(0)
    }

    /// Exactly `n` runs were created, every one by `identity` (as the emulator authenticated it).
    pub fn assert_runs_made_as(&self, n: usize, identity: &str) {
        let log = self.get("/_emulator/requests?log=1&limit=500");
        let runs: Vec<&Value> = log["log"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["method"] == "POST" && r["route"] == "/apis/v2beta1/runs")
            .collect();
        assert_eq!(runs.len(), n, "{runs:#?}");
        assert!(runs.iter().all(|r| r["identity"] == identity), "{runs:#?}");
    }

    pub fn assert_no_violations(&self) {
        let v = self.get("/_emulator/violations");
        assert_eq!(
            v["count"], 0,
            "the emulator recorded schema violations: {v}"
        );
    }

    /// Uploads a pipeline as an installer would (shared, no namespace).
    pub fn preload(&self, name: &str, yaml: &str, headers: &[(&str, &str)]) -> Value {
        let boundary = "kfcheck-test-boundary";
        let body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"uploadfile\"; filename=\"p.yaml\"\r\nContent-Type: application/x-yaml\r\n\r\n{yaml}\r\n--{boundary}--\r\n"
        );
        let ct = format!("multipart/form-data; boundary={boundary}");
        let mut h = vec![("Content-Type", ct.as_str())];
        h.extend_from_slice(headers);
        let enc: String = name
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let (code, v) = self.http(
            "POST",
            &format!("/apis/v2beta1/pipelines/upload?name={enc}"),
            &h,
            body.as_bytes(),
        );
        assert_eq!(code, 200, "{v}");
        v
    }

    /// Names of kfcheck's objects still on the server (as an admin identity would list them).
    pub fn leftovers(&self, ns: Option<&str>, headers: &[(&str, &str)]) -> Vec<String> {
        let q = ns.map(|n| format!("?namespace={n}")).unwrap_or_default();
        let mut names = Vec::new();
        for (path, key) in [
            ("runs", "runs"),
            ("experiments", "experiments"),
            ("pipelines", "pipelines"),
        ] {
            let (_, v) = self.http("GET", &format!("/apis/v2beta1/{path}{q}"), headers, b"");
            for item in v[key].as_array().cloned().unwrap_or_default() {
                let n = item["display_name"].as_str().unwrap_or("").to_string();
                if n.starts_with("kfcheck-") {
                    names.push(format!("{path}: {n}"));
                }
            }
        }
        names
    }

    /// Every object of `kind` (`runs`, `experiments`, `pipelines`, `pipeline_versions`) created
    /// since the emulator started, oldest first, each with `deleted`.
    pub fn created(&self, kind: &str) -> Vec<Value> {
        self.get("/_emulator/created")["created"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e["kind"] == kind)
            .collect()
    }

    /// kfcheck's requests in the emulator's log (by user agent).
    pub fn kfcheck_requests(&self) -> Vec<Value> {
        let v = self.get("/_emulator/requests?log=1&limit=1000");
        v["log"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|e| {
                e["headers"]["user_agent"]
                    .as_str()
                    .is_some_and(|a| a.starts_with("kfcheck/"))
            })
            .collect()
    }
}
