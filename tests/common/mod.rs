//! Helpers for integration tests that run the real kfcheck binary.

#![allow(dead_code, reason = "each test crate uses a different subset")]

pub mod emulator;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn kfcheck(args: &[&str]) -> Output {
    kfcheck_in(&repo(), args)
}

pub fn kfcheck_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kfcheck"))
        .args(args)
        .current_dir(dir)
        .env_remove("KUBECONFIG")
        .env("HOME", dir.join("no-such-home"))
        .env_remove("DOCKER_HOST")
        .env("NO_COLOR", "1")
        .output()
        .expect("run kfcheck")
}

pub fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", stdout(o)))
}

/// Writes a suite file into `dir`.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, text).unwrap();
    p
}

/// The scenario sandbox (a simulated Kubeflow install that tests/scenarios.rs switches between
/// scenarios), or `None` with the reason when it is not running (a failure under CI or
/// KFCHECK_E2E=1).
#[allow(clippy::print_stderr, reason = "a test that skips says why on stderr")]
pub fn scenario_sandbox() -> Option<PathBuf> {
    match std::env::var("KFCHECK_TEST_SCENARIO_SANDBOX") {
        Ok(d) if Path::new(&d).join("kubeconfig").is_file() => Some(PathBuf::from(d)),
        _ => {
            let strict = std::env::var_os("CI").is_some() || std::env::var_os("KFCHECK_E2E").is_some();
            assert!(!strict, "KFCHECK_TEST_SCENARIO_SANDBOX is not set: scripts/test starts the scenario sandbox");
            eprintln!("skipped: KFCHECK_TEST_SCENARIO_SANDBOX not set (KFCHECK_SANDBOX_DIR=target/sandbox-scenarios scripts/sandbox up, then export it)");
            None
        }
    }
}

/// `scripts/sandbox ARGS` on the sandbox in `dir`; it must succeed. Says how long it took.
#[allow(clippy::print_stderr, reason = "progress of a long test")]
pub fn sandbox(dir: &Path, args: &[&str]) {
    let t = std::time::Instant::now();
    let o = Command::new(repo().join("scripts/sandbox")).args(args).env("KFCHECK_SANDBOX_DIR", dir).output().expect("run scripts/sandbox");
    assert!(o.status.success(), "scripts/sandbox {args:?} failed:\n{}{}", stdout(&o), stderr(&o));
    eprintln!("scripts/sandbox {} ({:.1}s)", args.join(" "), t.elapsed().as_secs_f64());
}

/// The sandbox's own kubectl.
pub fn sandbox_kubectl(dir: &Path) -> PathBuf {
    let o = Command::new(repo().join("scripts/sandbox")).arg("bin").env("KFCHECK_SANDBOX_DIR", dir).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    PathBuf::from(stdout(&o).trim()).join("kubectl")
}
