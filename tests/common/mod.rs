//! Helpers for integration tests that run the real kfcheck binary.

#![allow(dead_code, reason = "each test crate uses a different subset")]

pub mod chromium;
pub mod emulator;
pub mod gateway;
pub mod jupyter;

use std::fmt::Display;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Under CI or KFCHECK_E2E=1 a missing prerequisite fails the test instead of skipping it.
pub fn strict() -> bool {
    std::env::var_os("CI").is_some() || std::env::var_os("KFCHECK_E2E").is_some()
}

/// A missing prerequisite: under [`strict`] the test fails with `failure`, else it is skipped
/// and says `skipped: {skip}`.
#[allow(clippy::print_stderr, reason = "a test that skips says why on stderr")]
pub fn unavailable<T>(failure: impl Display, skip: impl Display) -> Option<T> {
    assert!(!strict(), "{failure}");
    eprintln!("skipped: {skip}");
    None
}

/// The kfcheck binary run in `dir`, with none of the caller's kubeconfig, Docker host, home
/// directory or colours.
pub fn kfcheck_command(dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kfcheck"));
    c.current_dir(dir)
        .env_remove("KUBECONFIG")
        .env("HOME", dir.join("no-such-home"))
        .env_remove("DOCKER_HOST")
        // Full lines, whatever terminal the tests run in (narrow output has its own test).
        .env_remove("COLUMNS")
        .env("NO_COLOR", "1");
    c
}

/// [`kfcheck_command`] without the caller's KFP endpoint and credentials either.
pub fn kfcheck_kfp_command(dir: &Path) -> Command {
    let mut c = kfcheck_command(dir);
    for v in [
        "KF_PIPELINES_ENDPOINT",
        "KFP_TOKEN",
        "KFP_COOKIE",
        "KFP_ISOLATION_TOKEN",
        "KFP_DEX_PASSWORD",
    ] {
        c.env_remove(v);
    }
    c
}

pub fn kfcheck(args: &[&str]) -> Output {
    kfcheck_in(&repo(), args)
}

pub fn kfcheck_in(dir: &Path, args: &[&str]) -> Output {
    kfcheck_command(dir)
        .args(args)
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

/// The check `id` in a JSON report.
pub fn check<'a>(doc: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no {id} in {doc}"))
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

/// Writes `<id>.yaml` into the suite `dir`: an `exec` check running `command` (a YAML flow
/// sequence such as `[sh, ./x.sh]`) with `timeout`, and `cleanup` run by `sh -c` when given.
pub fn write_exec_check(dir: &Path, id: &str, timeout: &str, command: &str, cleanup: Option<&str>) {
    let cleanup = cleanup
        .map(|c| format!("\n  cleanup: [sh, -c, {c:?}]"))
        .unwrap_or_default();
    write(
        dir,
        &format!("{id}.yaml"),
        &format!("id: {id}\nkind: exec\ntitle: {id}\ncategory: test\ntimeout: {timeout}\nparams:\n  command: {command}{cleanup}\n"),
    );
}

/// The state letter of process `pid` in /proc (`R`, `S`, `Z`, ...); `None` when there is none.
pub fn proc_state(pid: impl Display) -> Option<char> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    s.rsplit_once(") ")
        .and_then(|(_, rest)| rest.chars().next())
}

/// Whether `pid` still runs (a zombie waiting for a parent that never reaps is gone).
pub fn alive(pid: impl Display) -> bool {
    proc_state(pid).is_some_and(|s| s != 'Z')
}

/// A Kubernetes client for the cluster of `kubeconfig` (its current context).
pub async fn kube_client(kubeconfig: impl AsRef<Path>) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(cfg).unwrap()
}

/// The scenario sandbox (a simulated Kubeflow install that tests/scenarios.rs switches between
/// scenarios), or `None` with the reason when it is not running (a failure under CI or
/// KFCHECK_E2E=1).
pub fn scenario_sandbox() -> Option<PathBuf> {
    match std::env::var("KFCHECK_TEST_SCENARIO_SANDBOX") {
        Ok(d) if Path::new(&d).join("kubeconfig").is_file() => Some(PathBuf::from(d)),
        _ => unavailable(
            "KFCHECK_TEST_SCENARIO_SANDBOX is not set: scripts/test starts the scenario sandbox",
            "KFCHECK_TEST_SCENARIO_SANDBOX not set (KFCHECK_SANDBOX_DIR=target/sandbox-scenarios scripts/sandbox up, then export it)",
        ),
    }
}

/// `scripts/sandbox ARGS` on the sandbox in `dir`; it must succeed. Says how long it took.
#[allow(clippy::print_stderr, reason = "progress of a long test")]
pub fn sandbox(dir: &Path, args: &[&str]) {
    let t = std::time::Instant::now();
    let o = Command::new(repo().join("scripts/sandbox"))
        .args(args)
        .env("KFCHECK_SANDBOX_DIR", dir)
        .output()
        .expect("run scripts/sandbox");
    assert!(
        o.status.success(),
        "scripts/sandbox {args:?} failed:\n{}{}",
        stdout(&o),
        stderr(&o)
    );
    eprintln!(
        "scripts/sandbox {} ({:.1}s)",
        args.join(" "),
        t.elapsed().as_secs_f64()
    );
}

/// The sandbox's own kubectl.
pub fn sandbox_kubectl(dir: &Path) -> PathBuf {
    let o = Command::new(repo().join("scripts/sandbox"))
        .arg("bin")
        .env("KFCHECK_SANDBOX_DIR", dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    PathBuf::from(stdout(&o).trim()).join("kubectl")
}

/// The sandbox's own kubectl with the kubeconfig of the sandbox in a folder.
pub struct Kubectl {
    bin: PathBuf,
    kubeconfig: PathBuf,
}

impl Kubectl {
    pub fn new(dir: &Path) -> Kubectl {
        Kubectl {
            bin: sandbox_kubectl(dir),
            kubeconfig: dir.join("kubeconfig"),
        }
    }

    pub fn try_run(&self, args: &[&str], stdin: Option<&str>) -> std::process::Output {
        let mut c = Command::new(&self.bin);
        c.arg("--kubeconfig").arg(&self.kubeconfig).args(args);
        c.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().unwrap();
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        child.wait_with_output().unwrap()
    }

    pub fn run(&self, args: &[&str], stdin: Option<&str>) -> String {
        let o = self.try_run(args, stdin);
        assert!(o.status.success(), "kubectl {args:?}: {}", stderr(&o));
        stdout(&o)
    }

    /// Waits for a jsonpath of an object to read `want`.
    pub fn wait_for(&self, ns: &str, what: &str, path: &str, want: &str, limit: Duration) {
        let end = Instant::now() + limit;
        loop {
            let o = self.try_run(
                &["-n", ns, "get", what, "-o", &format!("jsonpath={path}")],
                None,
            );
            if stdout(&o) == want {
                return;
            }
            if Instant::now() > end {
                let d = self.try_run(&["-n", ns, "describe", what], None);
                panic!(
                    "{what}: {path} is not {want} after {limit:?}:\n{}",
                    stdout(&d)
                );
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Files under `prefix` in `bucket`, as SeaweedFS's filer lists them: its own HTTP API on the
/// filer port, not S3, so a second view that does not go through kfcheck's client. Directories
/// are walked; a missing one holds nothing. `wrap` runs curl inside something (`ip netns exec
/// NS`), empty for none.
pub fn filer_count(wrap: &[&str], filer: &str, bucket: &str, prefix: &str) -> usize {
    fn walk(wrap: &[&str], filer: &str, path: &str) -> usize {
        let mut c = match wrap.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg("curl");
                c
            }
            None => Command::new("curl"),
        };
        let o = c
            .args([
                "-sS",
                "-H",
                "Accept: application/json",
                "-w",
                "\n%{http_code}",
            ])
            .arg(format!("{filer}{path}?limit=10000"))
            .output()
            .expect("curl");
        let text = String::from_utf8_lossy(&o.stdout).to_string();
        let (body, status) = text.rsplit_once('\n').unwrap_or(("", ""));
        if status == "404" {
            return 0;
        }
        assert_eq!(status, "200", "filer list {path}: {text}");
        let v: serde_json::Value =
            serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"));
        let mut n = 0;
        for e in v["Entries"].as_array().into_iter().flatten() {
            let full = e["FullPath"].as_str().unwrap();
            let dir = e["Mode"].as_u64().unwrap_or(0) & (1 << 31) != 0;
            n += if dir {
                walk(wrap, filer, &format!("{full}/"))
            } else {
                1
            };
        }
        n
    }
    walk(
        wrap,
        filer,
        &format!("/buckets/{bucket}/{}", prefix.trim_end_matches('/')),
    )
}

/// `kfcheck local-run` of kfcheck's compiled CPU sample in `workdir`, with the Python image
/// scripts/probe-image builds for its steps, plus `extra` (e.g. `-p count=4`).
pub fn local_run_cpu_sample_args(host: &str, workdir: &str, extra: &[&str]) -> Vec<String> {
    let sample =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("checks/pipelines/kfcheck-cpu-sample.yaml");
    let mut args: Vec<String> = [
        "--docker-host",
        host,
        "local-run",
        &sample.display().to_string(),
        "--image",
        "python:3.11-slim=kfcheck-python:dev",
        "--workdir",
        workdir,
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

/// `kfcheck --kubeconfig SANDBOX/kubeconfig -n NS parity ARGS...` in `work`, with no S3 keys or
/// endpoint from the caller's environment: (exit code, stdout and stderr).
pub fn kfcheck_parity(work: &Path, sandbox: &Path, ns: &str, args: &[&str]) -> (i32, String) {
    let o = kfcheck_command(work)
        .args([
            "--kubeconfig",
            sandbox.join("kubeconfig").to_str().unwrap(),
            "-n",
            ns,
            "parity",
        ])
        .args(args)
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env_remove("AWS_ENDPOINT_URL_S3")
        .output()
        .unwrap();
    (code(&o), format!("{}{}", stdout(&o), stderr(&o)))
}
