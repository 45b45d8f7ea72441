//! The Docker door against real services: a real Docker engine (`scripts/dockerd up`), the
//! locally built probe and python images (`scripts/probe-image all`), fake-gcs-server
//! (`scripts/fake-gcs up`) and a local OAuth token endpoint for the JWT bearer flow
//! (tests/common/token_server.rs). Without the services these tests skip and say so, except under
//! CI or KFCHECK_E2E=1, where a missing service is a failure.

mod common;
#[path = "common/token_server.rs"]
mod token_server;

use common::*;
use std::path::Path;
use std::process::{Command, Output};
use token_server::{KeyState, TokenServer};

const BUCKET: &str = "kfcheck-test";

fn need(var: &str, what: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => unavailable(
            format!("{var} is not set: scripts/test starts {what}"),
            format!("{var} not set (start {what} and export it)"),
        ),
    }
}

/// The test engine (KFCHECK_TEST_DOCKER_HOST), with the probe image built.
fn docker() -> Option<String> {
    let host = need(
        "KFCHECK_TEST_DOCKER_HOST",
        "a Docker engine (scripts/dockerd up)",
    )?;
    let o = Command::new("docker")
        .args(["image", "inspect", "kfcheck-probe:dev"])
        .env("DOCKER_HOST", &host)
        .output()
        .expect("docker CLI");
    if !o.status.success() {
        return unavailable(
            "kfcheck-probe:dev is missing: scripts/test builds it (scripts/probe-image all)",
            "kfcheck-probe:dev not built (scripts/probe-image all)",
        );
    }
    Some(host)
}

fn gcs() -> Option<String> {
    need("KFCHECK_TEST_GCS", "fake-gcs-server (scripts/fake-gcs up)")
}

/// kfcheck with a clean environment plus `env`.
fn run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = kfcheck_command(dir);
    c.args(args)
        .env_remove("STORAGE_EMULATOR_HOST")
        .env_remove("GOOGLE_APPLICATION_CREDENTIALS")
        .env_remove("CLOUDSDK_CONFIG");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run kfcheck")
}

fn probe_json(o: &Output) -> serde_json::Value {
    let out = stdout(o);
    assert_eq!(out.lines().count(), 1, "one line expected: {out}");
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

/// Containers of a run still present on the engine (by label).
fn leftovers(host: &str, run_id: &str) -> String {
    let o = Command::new("docker")
        .args([
            "ps",
            "-aq",
            "--filter",
            &format!("label=kfcheck.io/run-id={run_id}"),
        ])
        .env("DOCKER_HOST", host)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// Object names under a prefix, straight from the emulator's JSON API.
fn objects(gcs: &str, prefix: &str) -> Vec<String> {
    let o = Command::new("curl")
        .args([
            "-fsS",
            &format!(
                "http://{gcs}/storage/v1/b/{BUCKET}/o?prefix={}",
                prefix.replace('/', "%2F")
            ),
        ])
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    v["items"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|i| i["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn assert_no_secret(text: &str, key_file: &Path) {
    let key: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(key_file).unwrap()).unwrap();
    let pem = key["private_key"].as_str().unwrap();
    let body_line = pem.lines().nth(1).unwrap();
    assert!(!text.contains(body_line), "private key material printed");
    assert!(!text.contains("test-token-"), "access token printed");
}

// ---------------------------------------------------------------------------------------------
// probe storage on the host: the GCS client's credentials and errors

#[test]
fn probe_storage_round_trip_with_a_key_file_through_the_jwt_flow() {
    let Some(gcs) = gcs() else { return };
    let d = tempfile::tempdir().unwrap();
    let tokens = TokenServer::start();
    let key = tokens.key_file(d.path(), "kfcheck-ci", KeyState::Valid);
    let result = d.path().join("out/result.json");
    let o = run(
        d.path(),
        &[
            "probe",
            "storage",
            "--bucket",
            BUCKET,
            "--key-file",
            key.to_str().unwrap(),
            "--endpoint",
            &format!("http://{gcs}"),
            "--size",
            "1MB",
            "--run-id",
            "t-key",
            "--output-file",
            result.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let v = probe_json(&o);
    assert_eq!(v["status"], "passed");
    assert_eq!(v["credentials"]["kind"], "key-file");
    assert_eq!(
        v["credentials"]["identity"],
        "service account kfcheck-ci@kfcheck-test.iam.gserviceaccount.com"
    );
    assert_eq!(v["bytes"], 1_000_000);
    let ops: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["op"].as_str().unwrap())
        .collect();
    assert_eq!(ops, vec!["list", "write", "read", "delete", "compare"]);
    assert!(
        tokens.issued.load(std::sync::atomic::Ordering::SeqCst) >= 1,
        "no token was requested"
    );
    assert_eq!(
        std::fs::read_to_string(&result).unwrap().trim(),
        stdout(&o).trim()
    );
    assert!(
        objects(&gcs, "kfcheck/t-key/").is_empty(),
        "the round-trip object stayed behind"
    );
    assert_no_secret(&stdout(&o), &key);
}

#[test]
fn probe_storage_with_adc_files() {
    let Some(gcs) = gcs() else { return };
    let d = tempfile::tempdir().unwrap();
    let tokens = TokenServer::start();
    let key = tokens.key_file(d.path(), "adc-user", KeyState::Valid);
    let endpoint = format!("http://{gcs}");
    let args = [
        "probe",
        "storage",
        "--bucket",
        BUCKET,
        "--endpoint",
        &endpoint,
        "--no-metadata",
    ];
    let o = run(
        d.path(),
        &args,
        &[("GOOGLE_APPLICATION_CREDENTIALS", key.to_str().unwrap())],
    );
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(probe_json(&o)["credentials"]["kind"], "adc-key-file");
    // gcloud's well-known file.
    let gcloud = d.path().join("gcloud");
    std::fs::create_dir_all(&gcloud).unwrap();
    std::fs::copy(&key, gcloud.join("application_default_credentials.json")).unwrap();
    let o = run(
        d.path(),
        &args,
        &[("CLOUDSDK_CONFIG", gcloud.to_str().unwrap())],
    );
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(probe_json(&o)["credentials"]["source"]
        .as_str()
        .unwrap()
        .contains("application_default_credentials.json"));
}

#[test]
fn denied_and_expired_keys_fail_naming_the_identity() {
    let Some(gcs) = gcs() else { return };
    let d = tempfile::tempdir().unwrap();
    let tokens = TokenServer::start();
    for (name, state, says) in [
        ("gone-sa", KeyState::Denied, "account not found"),
        ("old-key", KeyState::Expired, "Invalid JWT Signature"),
    ] {
        let key = tokens.key_file(d.path(), name, state);
        let o = run(
            d.path(),
            &[
                "probe",
                "storage",
                "--bucket",
                BUCKET,
                "--key-file",
                key.to_str().unwrap(),
                "--endpoint",
                &format!("http://{gcs}"),
            ],
            &[],
        );
        assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
        let v = probe_json(&o);
        assert_eq!(v["status"], "failed");
        assert_eq!(v["error"]["class"], "token-refused");
        let m = v["error"]["message"].as_str().unwrap();
        assert!(
            m.contains(&format!(
                "service account {name}@kfcheck-test.iam.gserviceaccount.com"
            )) && m.contains(says),
            "{m}"
        );
        assert_no_secret(&stdout(&o), &key);
    }
    assert_eq!(tokens.issued.load(std::sync::atomic::Ordering::SeqCst), 0);
}

#[test]
fn a_missing_bucket_and_broken_key_files_fail_clearly() {
    let Some(gcs) = gcs() else { return };
    let d = tempfile::tempdir().unwrap();
    let o = run(
        d.path(),
        &["probe", "storage", "--bucket", "no-such-bucket"],
        &[("STORAGE_EMULATOR_HOST", &gcs)],
    );
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let v = probe_json(&o);
    assert_eq!(v["error"]["class"], "bucket-missing");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("bucket no-such-bucket does not exist (404"),
        "{v}"
    );
    let notjson = write(
        d.path(),
        "notjson.json",
        "-----BEGIN PRIVATE KEY-----\nMIIsecretbody\n",
    );
    let nokey = write(
        d.path(),
        "nokey.json",
        r#"{"type":"service_account","client_email":"a-b-c-d@p.iam.gserviceaccount.com"}"#,
    );
    for (f, says) in [(notjson, "is not JSON"), (nokey, "has no private_key")] {
        let o = run(
            d.path(),
            &[
                "probe",
                "storage",
                "--bucket",
                BUCKET,
                "--key-file",
                f.to_str().unwrap(),
                "--endpoint",
                &format!("http://{gcs}"),
            ],
            &[],
        );
        assert_eq!(code(&o), 1, "{}", stdout(&o));
        let v = probe_json(&o);
        assert_eq!(v["error"]["class"], "bad-credentials");
        assert!(
            v["error"]["message"].as_str().unwrap().contains(says),
            "{v}"
        );
        assert!(!stdout(&o).contains("MIIsecretbody"));
    }
}

#[test]
fn storage_that_keeps_failing_is_retried_a_bounded_number_of_times() {
    // A server that answers 503 to everything: the probe gives up after its attempts and says so.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for mut s in listener.incoming().flatten() {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    let d = tempfile::tempdir().unwrap();
    let o = run(
        d.path(),
        &["probe", "storage", "--bucket", BUCKET],
        &[("STORAGE_EMULATOR_HOST", &addr)],
    );
    let v = probe_json(&o);
    assert_eq!(v["status"], "errored", "{v}");
    assert_eq!(code(&o), 3);
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 4, "{v}");
}

// ---------------------------------------------------------------------------------------------
// Container checks through `kfcheck run` with a suite of their own

fn suite(dir: &Path, id: &str, kind: &str, params: &str) {
    write(
        dir,
        &format!("suite/{id}.yaml"),
        &format!("id: {id}\nkind: {kind}\ntitle: {id}\ncategory: test-docker\nparams:\n{params}"),
    );
}

fn run_checks(dir: &Path, host: &str, ids: &[&str]) -> (Output, serde_json::Value) {
    let mut args = vec![
        "--suite",
        "suite",
        "--docker-host",
        host,
        "-o",
        "json",
        "run",
    ];
    args.extend_from_slice(ids);
    let o = run(dir, &args, &[]);
    let doc = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}{}", stdout(&o), stderr(&o)));
    (o, doc)
}

#[test]
fn container_checks_pass_fail_time_out_and_leave_nothing_behind() {
    let Some(host) = docker() else { return };
    let d = tempfile::tempdir().unwrap();
    suite(d.path(), "t-cpu", "container-run", "  mode: cpu\n");
    suite(
        d.path(),
        "t-exit",
        "container-run",
        "  command: [/bin/sh, -c, 'echo starting; echo PASSWORD=hunter2; exit 3']\n",
    );
    suite(
        d.path(),
        "t-hang",
        "container-run",
        "  command: [/bin/sleep, '600']\n  timeout: 2s\n",
    );
    suite(
        d.path(),
        "t-noimage",
        "container-run",
        "  image: kfcheck-no-such-image:never\n",
    );
    suite(d.path(), "t-gpu", "container-run", "  mode: gpu\n");
    let started = std::time::Instant::now();
    let (o, doc) = run_checks(
        d.path(),
        &host,
        &["t-cpu", "t-exit", "t-hang", "t-noimage", "t-gpu"],
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "the hanging container was not killed at its timeout"
    );
    assert_eq!(code(&o), 1, "{doc}");
    assert_eq!(check(&doc, "t-cpu")["status"], "passed", "{doc}");
    let exit = check(&doc, "t-exit");
    assert_eq!(exit["status"], "failed");
    assert_eq!(exit["findings"][0]["rule"], "container-exit-nonzero");
    let tail = exit["findings"][0]["evidence"][1]["observed"]
        .as_str()
        .unwrap();
    assert!(
        tail.contains("starting")
            && tail.contains("PASSWORD=[redacted]")
            && !tail.contains("hunter2"),
        "{tail}"
    );
    assert_eq!(
        check(&doc, "t-hang")["findings"][0]["rule"],
        "container-timed-out"
    );
    let noimage = check(&doc, "t-noimage");
    assert_eq!(noimage["status"], "errored", "{noimage}");
    assert!(
        noimage
            .to_string()
            .contains("image kfcheck-no-such-image:never is not present"),
        "{noimage}"
    );
    let gpu = check(&doc, "t-gpu");
    assert_eq!(gpu["status"], "skipped", "{gpu}");
    assert!(
        gpu["reason"]
            .as_str()
            .unwrap()
            .contains("Docker has no GPU runtime"),
        "{gpu}"
    );
    assert!(!stdout(&o).contains("hunter2"));
    let run_id = doc["run_id"].as_str().unwrap();
    assert_eq!(leftovers(&host, run_id), "", "containers left behind");
}

#[test]
fn no_docker_daemon_is_an_error_not_a_pass() {
    let d = tempfile::tempdir().unwrap();
    suite(d.path(), "t-cpu", "container-run", "  mode: cpu\n");
    let (o, doc) = run_checks(d.path(), "unix:///nonexistent/docker.sock", &["t-cpu"]);
    assert_eq!(code(&o), 3, "{doc}");
    assert_eq!(check(&doc, "t-cpu")["status"], "errored");
}

/// A unix-socket proxy to the real engine that can be cut, as when the daemon stops mid-run.
struct Cuttable {
    path: std::path::PathBuf,
    cut: std::sync::Arc<std::sync::atomic::AtomicBool>,
    conns: std::sync::Arc<std::sync::Mutex<Vec<std::os::unix::net::UnixStream>>>,
}

impl Cuttable {
    fn start(dir: &Path, real: &str) -> Cuttable {
        use std::os::unix::net::{UnixListener, UnixStream};
        let path = dir.join("proxy.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let real = real.trim_start_matches("unix://").to_string();
        let cut = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let conns: std::sync::Arc<std::sync::Mutex<Vec<UnixStream>>> = Default::default();
        let (c, cs) = (cut.clone(), conns.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if c.load(std::sync::atomic::Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(upstream) = UnixStream::connect(&real) else {
                    continue;
                };
                cs.lock()
                    .unwrap()
                    .extend([client.try_clone().unwrap(), upstream.try_clone().unwrap()]);
                let (mut a, mut b) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
                let (mut a2, mut b2) = (client, upstream);
                std::thread::spawn(move || std::io::copy(&mut a, &mut b));
                std::thread::spawn(move || std::io::copy(&mut b2, &mut a2));
            }
        });
        Cuttable { path, cut, conns }
    }

    fn cut(&self) {
        self.cut.store(true, std::sync::atomic::Ordering::SeqCst);
        for s in self.conns.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

#[test]
fn a_daemon_that_goes_away_mid_run_is_an_error() {
    let Some(host) = docker() else { return };
    let d = tempfile::tempdir().unwrap();
    let proxy = Cuttable::start(d.path(), &host);
    suite(
        d.path(),
        "t-long",
        "container-run",
        "  command: [/bin/sleep, '30']\n  timeout: 60s\n",
    );
    let proxied = format!("unix://{}", proxy.path.display());
    let child = {
        let mut c = Command::new(env!("CARGO_BIN_EXE_kfcheck"));
        c.args([
            "--suite",
            "suite",
            "--docker-host",
            &proxied,
            "-o",
            "json",
            "run",
            "t-long",
        ])
        .current_dir(d.path())
        .env("HOME", d.path())
        .env_remove("DOCKER_HOST");
        c.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Wait until the container runs, then cut the engine away.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let running = || {
        let o = Command::new("docker")
            .args(["ps", "-q", "--filter", "label=kfcheck.io/check=t-long"])
            .env("DOCKER_HOST", &host)
            .output()
            .unwrap();
        !o.stdout.is_empty()
    };
    while !running() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    proxy.cut();
    let o = child.wait_with_output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("{}{}", stdout(&o), stderr(&o)));
    assert_eq!(code(&o), 3, "{doc}");
    let c = check(&doc, "t-long");
    assert_eq!(c["status"], "errored", "{c}");
    // The janitor could not reach the engine either, and says so.
    assert!(
        c.to_string().contains("cleanup failed") || c.to_string().contains("run `kfcheck cleanup`"),
        "{c}"
    );
    // What the engine still has is found by its label: `kfcheck cleanup` sweeps it.
    let run_id = doc["run_id"].as_str().unwrap();
    let swept = run(
        d.path(),
        &["--docker-host", &host, "cleanup", "--run-id", run_id],
        &[],
    );
    assert!(
        stdout(&swept).contains("container(s) deleted"),
        "{}{}",
        stdout(&swept),
        stderr(&swept)
    );
    assert_eq!(
        leftovers(&host, run_id),
        "",
        "kfcheck cleanup left the container"
    );
}

#[test]
fn storage_from_a_container_with_mounted_credentials() {
    let (Some(host), Some(gcs)) = (docker(), gcs()) else {
        return;
    };
    let d = tempfile::tempdir().unwrap();
    let tokens = TokenServer::start();
    let key = tokens.key_file(d.path(), "container-sa", KeyState::Valid);
    let denied = tokens.key_file(d.path(), "denied-sa", KeyState::Denied);
    let gcloud = d.path().join("gcloud");
    std::fs::create_dir_all(&gcloud).unwrap();
    std::fs::copy(&key, gcloud.join("application_default_credentials.json")).unwrap();
    let endpoint = format!("  endpoint: http://{gcs}\n  bucket: {BUCKET}\n");
    suite(
        d.path(),
        "t-key",
        "container-storage",
        &format!("{endpoint}  key_file: {}\n", key.display()),
    );
    suite(
        d.path(),
        "t-adc",
        "container-storage",
        &format!("{endpoint}  adc_dir: {}\n  size: 100KB\n", gcloud.display()),
    );
    suite(
        d.path(),
        "t-denied",
        "container-storage",
        &format!("{endpoint}  key_file: {}\n", denied.display()),
    );
    suite(
        d.path(),
        "t-nobucket",
        "container-storage",
        &format!(
            "  endpoint: http://{gcs}\n  bucket: no-such-bucket\n  key_file: {}\n",
            key.display()
        ),
    );
    let badkey = write(
        d.path(),
        "bad-key.json",
        "{\"type\": \"service_account\", \"private_key\": trunc",
    );
    suite(
        d.path(),
        "t-badkey",
        "container-storage",
        &format!("{endpoint}  key_file: {}\n", badkey.display()),
    );
    let (o, doc) = run_checks(
        d.path(),
        &host,
        &["t-key", "t-adc", "t-denied", "t-nobucket", "t-badkey"],
    );
    assert_eq!(code(&o), 1, "{doc}");
    for id in ["t-key", "t-adc"] {
        let c = check(&doc, id);
        assert_eq!(c["status"], "passed", "{c}");
        let notes = c["notes"].to_string();
        assert!(
            notes.contains("service account container-sa@kfcheck-test.iam.gserviceaccount.com"),
            "{notes}"
        );
        assert!(notes.contains("read back from the host"), "{notes}");
    }
    assert_eq!(
        check(&doc, "t-denied")["findings"][0]["rule"],
        "token-refused-in-container",
        "{doc}"
    );
    assert_eq!(
        check(&doc, "t-nobucket")["findings"][0]["rule"],
        "bucket-missing",
        "{doc}"
    );
    let bad = check(&doc, "t-badkey");
    assert_eq!(
        bad["findings"][0]["rule"], "credentials-unusable-in-container",
        "{bad}"
    );
    assert!(
        bad["findings"][0].to_string().contains("is not JSON"),
        "{bad}"
    );
    for id in ["t-key", "t-adc", "t-denied", "t-nobucket", "t-badkey"] {
        assert_eq!(
            check(&doc, id)["problems"],
            serde_json::json!([]),
            "{id}: {doc}"
        );
    }
    let run_id = doc["run_id"].as_str().unwrap();
    assert!(
        objects(&gcs, &format!("kfcheck/{run_id}/")).is_empty(),
        "objects left under the run's prefix"
    );
    assert_eq!(leftovers(&host, run_id), "");
    assert_no_secret(&stdout(&o), &key);
    assert!(tokens.issued.load(std::sync::atomic::Ordering::SeqCst) >= 2);

    // No credentials mounted: STORAGE_EMULATOR_HOST is passed through to the container.
    suite(
        d.path(),
        "t-emulator",
        "container-storage",
        &format!("  bucket: {BUCKET}\n"),
    );
    let o = run(
        d.path(),
        &[
            "--suite",
            "suite",
            "--docker-host",
            &host,
            "-o",
            "json",
            "run",
            "t-emulator",
        ],
        &[("STORAGE_EMULATOR_HOST", &gcs)],
    );
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("{}{}", stdout(&o), stderr(&o)));
    let c = check(&doc, "t-emulator");
    assert_eq!(c["status"], "passed", "{c}");
    assert!(
        c["notes"]
            .to_string()
            .contains("no identity (storage emulator)"),
        "{c}"
    );
}

// ---------------------------------------------------------------------------------------------
// local-run and parity on kfcheck's own sample pipeline

fn python_image(host: &str) -> bool {
    let ok = Command::new("docker")
        .args(["image", "inspect", "kfcheck-python:dev"])
        .env("DOCKER_HOST", host)
        .output()
        .unwrap()
        .status
        .success();
    assert!(
        ok || !strict(),
        "kfcheck-python:dev is missing: scripts/test builds it (scripts/probe-image all)"
    );
    ok
}

#[test]
fn local_run_of_the_cpu_sample_and_parity() {
    let Some(host) = docker() else { return };
    if !python_image(&host) {
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let sample = repo().join("checks/pipelines/kfcheck-cpu-sample.yaml");
    let local = |dir: &str, extra: &[&str]| {
        let args = common::local_run_cpu_sample_args(&host, dir, extra);
        run(
            d.path(),
            &args.iter().map(String::as_str).collect::<Vec<_>>(),
            &[],
        )
    };
    let a = local("a", &[]);
    assert_eq!(code(&a), 0, "{}{}", stdout(&a), stderr(&a));
    let m: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.path().join("a/manifest.json")).unwrap())
            .unwrap();
    let tasks: Vec<&str> = m["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["task"].as_str().unwrap())
        .collect();
    assert_eq!(tasks, vec!["make-numbers", "sum-numbers", "check-total"]);
    assert_eq!(m["steps"][1]["outputs"]["parameters/total"]["value"], "55");
    assert_eq!(m["steps"][2]["log_tail"], "kfcheck: cpu sample ok (sum 55)");
    assert!(
        m["steps"][0]["outputs"]["artifacts/numbers"]["sha256"]
            .as_str()
            .unwrap()
            .len()
            == 64
    );
    let b = local("b", &[]);
    assert_eq!(code(&b), 0);
    let same = run(
        d.path(),
        &["parity", "a/manifest.json", "b/manifest.json"],
        &[],
    );
    assert_eq!(code(&same), 0, "{}", stdout(&same));
    assert!(
        stdout(&same).contains("3 step(s) and 2 output(s) match"),
        "{}",
        stdout(&same)
    );
    let c = local("c", &["-p", "count=4"]);
    assert_eq!(code(&c), 0);
    let differ = run(
        d.path(),
        &["parity", "a/manifest.json", "c/manifest.json"],
        &[],
    );
    assert_eq!(code(&differ), 1);
    assert!(
        stdout(&differ).contains("sum-numbers: output parameters/total differs"),
        "{}",
        stdout(&differ)
    );
    // A missing image: the step errors, the rest does not run, nothing stays behind.
    let e = run(
        d.path(),
        &[
            "--docker-host",
            &host,
            "local-run",
            sample.to_str().unwrap(),
            "--workdir",
            "e",
            "--image",
            "python:3.11-slim=kfcheck-none:dev",
        ],
        &[],
    );
    assert_eq!(code(&e), 3, "{}", stdout(&e));
    assert!(
        stdout(&e).contains("image kfcheck-none:dev is not present"),
        "{}",
        stdout(&e)
    );
    assert!(stdout(&e).contains("not-run"), "{}", stdout(&e));
    let left = Command::new("docker")
        .args(["ps", "-aq", "--filter", "label=kfcheck.io/check=local-run"])
        .env("DOCKER_HOST", &host)
        .output()
        .unwrap();
    assert!(left.stdout.is_empty(), "local-run left containers");
}

#[test]
fn probe_gpu_reports_no_driver_cleanly_and_env_lists_secret_names_only() {
    let d = tempfile::tempdir().unwrap();
    let o = run(d.path(), &["probe", "gpu"], &[]);
    let v = probe_json(&o);
    if v["count"] == 0 {
        assert_eq!(code(&o), 1);
        assert!(
            v["reason"]
                .as_str()
                .unwrap()
                .starts_with("no NVIDIA driver"),
            "{v}"
        );
    }
    assert!(
        v.get("load").is_some(),
        "the load field is reserved for the load test"
    );
    let secrets = d.path().join("secrets");
    write(&secrets, "google/key.json", "TOPSECRET");
    let o = run(
        d.path(),
        &[
            "probe",
            "env",
            "--secrets-dir",
            secrets.to_str().unwrap(),
            "--no-metadata",
            "--endpoint",
            "127.0.0.1:1",
        ],
        &[],
    );
    let v = probe_json(&o);
    assert_eq!(v["secrets"][0]["files"][0], "google/key.json");
    assert_eq!(v["endpoints"][0]["reachable"], false);
    assert_eq!(code(&o), 1);
    assert!(!stdout(&o).contains("TOPSECRET"));
}

#[test]
fn cleanup_sweeps_labelled_containers_and_nothing_else() {
    let Some(host) = docker() else { return };
    let d = tempfile::tempdir().unwrap();
    let run_id = format!("sweep{}", std::process::id());
    let create = |name: &str, labels: &[String]| {
        let mut c = Command::new("docker");
        c.args(["create", "--name", name, "--network", "none"])
            .env("DOCKER_HOST", &host);
        for l in labels {
            c.args(["--label", l]);
        }
        let o = c
            .args(["kfcheck-probe:dev", "probe", "env"])
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    };
    let ours = format!("kfcheck-left-{run_id}");
    let theirs = format!("not-kfchecks-{run_id}");
    create(
        &ours,
        &[
            "app.kubernetes.io/managed-by=kfcheck".into(),
            format!("kfcheck.io/run-id={run_id}"),
        ],
    );
    create(&theirs, &[format!("kfcheck.io/run-id={run_id}")]);
    let exists = |name: &str| {
        Command::new("docker")
            .args(["inspect", name])
            .env("DOCKER_HOST", &host)
            .output()
            .unwrap()
            .status
            .success()
    };
    let o = run(
        d.path(),
        &[
            "--docker-host",
            &host,
            "cleanup",
            "--run-id",
            &run_id,
            "--dry-run",
        ],
        &[],
    );
    assert!(
        stdout(&o).contains(&format!("would delete container {ours}")),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    assert!(exists(&ours));
    let o = run(
        d.path(),
        &["--docker-host", &host, "cleanup", "--run-id", &run_id],
        &[],
    );
    assert!(
        stdout(&o).contains(&format!("deleted container {ours}"))
            && stdout(&o).contains("1 container(s) deleted"),
        "{}{}",
        stdout(&o),
        stderr(&o)
    );
    // No cluster configured here: only Docker was swept, and kfcheck says so; that is success.
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("only Docker containers were swept"),
        "{}",
        stderr(&o)
    );
    assert!(!exists(&ours), "the labelled container is still there");
    assert!(
        exists(&theirs),
        "a container without kfcheck's managed-by label was removed"
    );
    Command::new("docker")
        .args(["rm", "-f", &theirs])
        .env("DOCKER_HOST", &host)
        .output()
        .unwrap();
}
