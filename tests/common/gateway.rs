//! Kubeflow's sign-in gateway for tests: Dex and oauth2-proxy started by `scripts/gateway up`
//! (built from Go modules in tools/gateway) in a state dir of the test's own.

use super::{repo, stderr, stdout, unavailable};
use std::path::PathBuf;
use std::process::Command;

/// A missing prerequisite: a failure under CI / KFCHECK_E2E=1, else a skip that says why.
pub fn missing(what: String) -> Option<PathBuf> {
    unavailable(&what, &what)
}

/// The directory holding `dex` and `oauth2-proxy`: KFCHECK_GATEWAY_BIN, else the build that
/// `scripts/gateway build` cached (this test never builds: that takes minutes).
pub fn gateway_bin() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("KFCHECK_GATEWAY_BIN").map(PathBuf::from) {
        if d.join("dex").is_file() && d.join("oauth2-proxy").is_file() {
            return Some(d);
        }
        return missing(format!(
            "KFCHECK_GATEWAY_BIN={} holds no dex and oauth2-proxy (scripts/gateway build)",
            d.display()
        ));
    }
    let o = Command::new(repo().join("scripts/gateway"))
        .arg("bin")
        .env_remove("KFCHECK_GATEWAY_DIR")
        .output();
    match o {
        Ok(o) if o.status.success() => {
            Some(PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        }
        Ok(o) => missing(format!(
            "no Dex/oauth2-proxy binaries: {} (scripts/gateway build, or set KFCHECK_GATEWAY_BIN)",
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => missing(format!("scripts/gateway bin: {e}")),
    }
}

/// Dex and oauth2-proxy started by `scripts/gateway up` in a state dir of its own; stopped by
/// `scripts/gateway down` when dropped.
pub struct Gateway {
    pub dir: tempfile::TempDir,
    pub bin: PathBuf,
    pub endpoint: String,
    pub password: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.script(&["down"]).output();
    }
}

impl Gateway {
    pub fn start(upstream: &str, options: &[&str]) -> Option<Gateway> {
        let bin = gateway_bin()?;
        let mut g = Gateway {
            dir: tempfile::tempdir().unwrap(),
            bin,
            endpoint: String::new(),
            password: String::new(),
        };
        let o = g
            .script(&["up", upstream])
            .args(options)
            .output()
            .expect("run scripts/gateway up");
        assert!(
            o.status.success(),
            "scripts/gateway up failed:\n{}{}",
            stdout(&o),
            stderr(&o)
        );
        for line in stdout(&o).lines() {
            match line.split_once('=') {
                Some(("endpoint", v)) => g.endpoint = v.to_string(),
                Some(("password", v)) => g.password = v.to_string(),
                _ => {}
            }
        }
        assert!(
            g.endpoint.starts_with("http://127.0.0.1:") && !g.password.is_empty(),
            "{}",
            stdout(&o)
        );
        Some(g)
    }

    pub fn script(&self, args: &[&str]) -> Command {
        let mut c = Command::new(repo().join("scripts/gateway"));
        c.args(args)
            .env("KFCHECK_GATEWAY_DIR", self.dir.path().join("state"))
            .env("KFCHECK_GATEWAY_BIN", &self.bin);
        c
    }

    /// oauth2-proxy's access log: every request of the flow, Dex's pages included (they pass
    /// through it as through Kubeflow's ingress).
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("state/logs/oauth2-proxy.log"))
            .unwrap_or_default()
    }
}
