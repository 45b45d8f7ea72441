//! The REST door end to end: the real kfcheck binary against the KFP API emulator
//! (tools/kfp-emulator, written from the official swagger and validated by the real kfp SDK),
//! started as a subprocess per test. Needs the project's Python venv (KFCHECK_VENV_PYTHON, else
//! <repo>/.venv/bin/python); without it the tests skip and say so, except under CI or
//! KFCHECK_E2E=1, where that is a failure.

#![expect(clippy::print_stderr, reason = "a test that skips says why on stderr")]

mod common;
use common::emulator::*;
use common::*;
use serde_json::{json, Value};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const TOKEN_A: &str = "tok-a-4d1f-secret";
const TOKEN_B: &str = "tok-b-77aa-secret";
const DEX_PASSWORD: &str = "pw-12341234-secret";
const DEX_SESSION: &str = "dex-session-0123456789-secret";
const SA_A: &str = "system:serviceaccount:team-a:default-editor";

fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut c = kfcheck_kfp_command(&repo());
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

fn run(args: &[&str], env: &[(&str, &str)]) -> Output {
    let o = command(args, env).output().expect("run kfcheck");
    for secret in [
        TOKEN_A,
        TOKEN_B,
        "session-a-secret",
        DEX_PASSWORD,
        DEX_SESSION,
    ] {
        assert!(
            !stdout(&o).contains(secret) && !stderr(&o).contains(secret),
            "a credential was printed:\n{}{}",
            stdout(&o),
            stderr(&o)
        );
    }
    o
}

fn suite(dir: &Path, file: &str, text: &str) -> String {
    write(dir, file, text);
    dir.to_str().unwrap().to_string()
}

fn cpu_sample() -> String {
    std::fs::read_to_string(repo().join("checks/pipelines/kfcheck-cpu-sample.yaml")).unwrap()
}

#[test]
fn a_probe_image_sends_the_loaded_probe_in_a_copy_of_the_gpu_sample() {
    let Some(emu) = Emulator::start(&[]) else {
        return;
    };
    let o = run(
        &[
            "--kfp-endpoint",
            &emu.url,
            "--probe-image",
            "registry.example/kfcheck:0.1.0",
            "run",
            "kfp-gpu-sample",
            "kfp-cpu-sample",
            "-o",
            "json",
        ],
        &[],
    );
    let doc = json(&o);
    assert_eq!(code(&o), 0, "{doc:#}");
    let c = check(&doc, "kfp-gpu-sample");
    assert_eq!(c["status"], "passed", "{c:#}");
    // The REST door reads no step outputs, and without Kubernetes it cannot read the step's
    // log: the check says the load was not seen, never that the GPU passed it.
    let notes = c["notes"].to_string();
    assert!(
        notes.contains("the rest door did not get its line")
            && notes.contains("no Kubernetes access to read the GPU step's log"),
        "{c:#}"
    );
    let log = emu.get("/_emulator/requests?log=1&limit=500");
    let bodies: Vec<&Value> = log["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "POST" && r["route"] == "/apis/v2beta1/runs")
        .map(|r| &r["body"])
        .collect();
    let exec = |b: &Value, e: &str| {
        b["pipeline_spec"]["pipeline_spec"]["deploymentSpec"]["executors"][e]["container"].clone()
    };
    let gpu = bodies
        .iter()
        .map(|b| exec(b, "exec-gpu-probe"))
        .find(|c| !c.is_null())
        .expect("the GPU sample was submitted");
    assert_eq!(gpu["image"], "registry.example/kfcheck:0.1.0");
    assert!(gpu["args"].to_string().contains("\"--load\""), "{gpu}");
    // The CPU sample is not touched by the probe image.
    assert_eq!(check(&doc, "kfp-cpu-sample")["status"], "passed", "{doc:#}");
    assert!(bodies
        .iter()
        .all(|b| exec(b, "exec-make-numbers")["image"] != "registry.example/kfcheck:0.1.0"));
    // The compiled sample in the repository is never edited.
    assert!(
        std::fs::read_to_string(repo().join("checks/pipelines/kfcheck-gpu-sample.yaml"))
            .unwrap()
            .contains("nvidia-smi")
    );
}

#[test]
fn single_user_samples_pass_and_leave_nothing_behind() {
    let Some(emu) = Emulator::start(&[]) else {
        return;
    };
    emu.preload("[Tutorial] Data passing", &cpu_sample(), &[]);
    emu.preload("team pipeline", &cpu_sample(), &[]);
    let o = run(
        &["--kfp-endpoint", &emu.url, "run", "kfp", "-o", "json"],
        &[],
    );
    let doc = json(&o);
    assert_eq!(code(&o), 0, "{doc:#}");
    for id in [
        "kfp-api-healthy",
        "kfp-cpu-sample",
        "kfp-gpu-sample",
        "kfp-installed-samples",
    ] {
        assert_eq!(check(&doc, id)["status"], "passed", "{id}: {doc:#}");
    }
    assert_eq!(check(&doc, "kfp-isolation")["status"], "skipped");
    // The installed sample ran twice (as installed, and a GPU copy); the other pipeline did not run.
    let installed = check(&doc, "kfp-installed-samples");
    let notes: Vec<&str> = installed["notes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .filter(|n| n.contains("succeeded"))
        .collect();
    assert_eq!(notes.len(), 2, "{installed:#}");
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("[Tutorial] Data passing (cpu mode)"))
            && notes
                .iter()
                .any(|n| n.starts_with("[Tutorial] Data passing (gpu mode)"))
    );
    // What went over the wire: the CPU sample was uploaded with a second version; the GPU copy
    // carries an accelerator, a node selector and a toleration inside the spec wrapper.
    assert_eq!(emu.count("POST /apis/v2beta1/pipelines/upload_version"), 1);
    let log = emu.get("/_emulator/requests?log=1&limit=500");
    let runs: Vec<&Value> = log["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "POST" && r["route"] == "/apis/v2beta1/runs")
        .map(|r| &r["body"])
        .collect();
    assert_eq!(runs.len(), 4, "{runs:#?}");
    let gpu_copy = runs
        .iter()
        .find(|b| {
            b["display_name"]
                .as_str()
                .unwrap()
                .contains("gpu [Tutorial]")
        })
        .unwrap();
    assert_eq!(
        gpu_copy["pipeline_spec"]["pipeline_spec"]["deploymentSpec"]["executors"]
            ["exec-sum-numbers"]["container"]["resources"]["accelerator"]["resourceType"],
        "nvidia.com/gpu"
    );
    assert_eq!(
        gpu_copy["pipeline_spec"]["platform_spec"]["platforms"]["kubernetes"]["deploymentSpec"]
            ["executors"]["exec-sum-numbers"]["nodeSelector"]["labels"]
            ["cloud.google.com/gke-accelerator"],
        "nvidia-l4"
    );
    let cpu_mode = runs
        .iter()
        .find(|b| {
            b["display_name"]
                .as_str()
                .unwrap()
                .contains("cpu [Tutorial]")
        })
        .unwrap();
    assert!(
        cpu_mode["pipeline_version_reference"]["pipeline_id"].is_string()
            && cpu_mode.get("pipeline_spec").is_none()
    );
    // The installed pipeline itself is untouched.
    let pipelines = emu.get("/apis/v2beta1/pipelines");
    let tutorial = pipelines["pipelines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["display_name"] == "[Tutorial] Data passing")
        .unwrap();
    let versions = emu.get(&format!(
        "/apis/v2beta1/pipelines/{}/versions",
        tutorial["pipeline_id"].as_str().unwrap()
    ));
    assert_eq!(versions["pipeline_versions"].as_array().unwrap().len(), 1);
    assert!(!versions.to_string().contains("accelerator"));
    assert_eq!(emu.leftovers(None, &[]), Vec::<String>::new());
    emu.assert_no_violations();
}

#[test]
fn multi_user_runs_in_the_profile_namespace_and_isolation_holds() {
    let grant_a = format!("{SA_A}=team-a");
    let tok_a = format!("{TOKEN_A}={SA_A}");
    let tok_b = format!("{TOKEN_B}=system:serviceaccount:team-b:default-editor");
    let Some(emu) = Emulator::start(&[
        "--multi-user",
        "--token",
        &tok_a,
        "--token",
        &tok_b,
        "--grant",
        &grant_a,
        "--grant",
        "system:serviceaccount:team-b:default-editor=team-b",
    ]) else {
        return;
    };
    let env = [("KFP_TOKEN", TOKEN_A), ("KFP_ISOLATION_TOKEN", TOKEN_B)];
    let o = run(
        &[
            "--kfp-endpoint",
            &emu.url,
            "-n",
            "team-a",
            "run",
            "kfp-api-healthy",
            "kfp-cpu-sample",
            "kfp-gpu-sample",
            "kfp-isolation",
            "-o",
            "json",
        ],
        &env,
    );
    let doc = json(&o);
    assert_eq!(code(&o), 0, "{doc:#}");
    assert!(
        doc["needs"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("multi-user, a bearer token, namespace team-a"),
        "{doc:#}"
    );
    assert!(check(&doc, "kfp-isolation")["notes"]
        .to_string()
        .contains("another identity was refused"));
    let log = emu.get("/_emulator/requests?log=1&limit=500");
    let exps: Vec<&Value> = log["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "POST" && r["route"] == "/apis/v2beta1/experiments")
        .collect();
    assert!(
        !exps.is_empty()
            && exps
                .iter()
                .all(|r| r["body"]["namespace"] == "team-a" && r["identity"] == SA_A),
        "{exps:#?}"
    );
    let auth = [("Authorization", &*format!("Bearer {TOKEN_A}"))].map(|(k, v)| (k, v.to_string()));
    let headers: Vec<(&str, &str)> = auth.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        emu.leftovers(Some("team-a"), &headers),
        Vec::<String>::new()
    );
    emu.assert_no_violations();

    // Give team-b's identity access to team-a: the isolation check must now fail.
    emu.script(
        json!({"grants": {"system:serviceaccount:team-b:default-editor": ["team-a", "team-b"]}}),
    );
    let o = run(
        &[
            "--kfp-endpoint",
            &emu.url,
            "-n",
            "team-a",
            "run",
            "kfp-isolation",
            "-o",
            "json",
        ],
        &env,
    );
    let doc = json(&o);
    assert_eq!(code(&o), 1, "{doc:#}");
    assert_eq!(
        check(&doc, "kfp-isolation")["findings"][0]["rule"],
        "cross-namespace-access"
    );
}

#[test]
fn a_failing_step_is_named_in_the_finding() {
    let Some(emu) = Emulator::start(&[]) else {
        return;
    };
    emu.script(json!({"runs": [{"match": "kfcheck-*-kfp-cpu-sample", "outcome": "fail", "task": "sum-numbers", "message": "OOMKilled: memory limit 256Mi"}]}));
    let o = run(
        &[
            "--kfp-endpoint",
            &emu.url,
            "run",
            "kfp-cpu-sample",
            "-o",
            "json",
        ],
        &[],
    );
    let doc = json(&o);
    assert_eq!(code(&o), 1, "{doc:#}");
    let f = &check(&doc, "kfp-cpu-sample")["findings"][0];
    assert_eq!(
        f["message"], "kfcheck-cpu-sample failed at task sum-numbers",
        "{f:#}"
    );
    assert!(
        f["evidence"]
            .to_string()
            .contains("OOMKilled: memory limit 256Mi"),
        "{f:#}"
    );
    assert_eq!(emu.leftovers(None, &[]), Vec::<String>::new());
    emu.assert_no_violations();
}

#[test]
fn a_run_that_never_finishes_is_terminated_and_deleted_at_its_deadline() {
    let Some(emu) = Emulator::start(&[]) else {
        return;
    };
    emu.script(json!({"runs": [{"match": "kfcheck-*-kfp-gpu-sample", "outcome": "hang"}]}));
    let d = tempfile::tempdir().unwrap();
    let s = suite(d.path(), "gpu.yaml", "id: kfp-gpu-sample\nkind: kfp-sample-run\ntitle: t\ncategory: kfp\ntimeout: 30s\nparams:\n  pipeline: pipelines/kfcheck-gpu-sample.yaml\n  run_timeout: 2s\n");
    let started = Instant::now();
    let o = run(
        &[
            "--kfp-endpoint",
            &emu.url,
            "--suite",
            &s,
            "run",
            "kfp-gpu-sample",
            "-o",
            "json",
        ],
        &[],
    );
    let doc = json(&o);
    assert_eq!(code(&o), 1, "{doc:#}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    let c = check(&doc, "kfp-gpu-sample");
    assert_eq!(c["findings"][0]["rule"], "run-not-finished", "{c:#}");
    assert!(
        c["findings"][0]["evidence"]
            .to_string()
            .contains("gpu-probe RUNNING"),
        "{c:#}"
    );
    assert!(
        c["notes"]
            .to_string()
            .contains("terminated and deleted KFP run"),
        "{c:#}"
    );
    assert_eq!(emu.count("POST /apis/v2beta1/runs/{run_id}:terminate"), 1);
    assert_eq!(emu.count("DELETE /apis/v2beta1/runs/{run_id}"), 1);
    assert_eq!(emu.leftovers(None, &[]), Vec::<String>::new());
    emu.assert_no_violations();
}

#[test]
fn transient_server_errors_are_retried_and_persistent_ones_reported() {
    let Some(emu) = Emulator::start(&[]) else {
        return;
    };
    emu.script(json!({"faults": [{"method": "GET", "path": "/apis/v2beta1/runs/{run_id}", "status": 503, "times": 2, "message": "upstream unavailable"}]}));
    let o = run(
        &[
            "--kfp-endpoint",
            &emu.url,
            "run",
            "kfp-gpu-sample",
            "-o",
            "json",
        ],
        &[],
    );
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    // A run that cannot be created (500 every time) errors with the server's message; nothing is
    // retried blindly since the create may have happened.
    emu.script(json!({"faults": [{"method": "POST", "path": "/apis/v2beta1/runs", "status": 500, "message": "database is locked"}]}));
    emu.http("DELETE", "/_emulator/requests", &[], b"");
    let o = run(
        &[
            "--kfp-endpoint",
            &emu.url,
            "run",
            "kfp-gpu-sample",
            "-o",
            "json",
        ],
        &[],
    );
    let doc = json(&o);
    assert_eq!(code(&o), 3, "{doc:#}");
    let c = check(&doc, "kfp-gpu-sample");
    assert_eq!(c["status"], "errored");
    assert!(
        c["reason"]
            .as_str()
            .unwrap()
            .contains("HTTP 500: database is locked"),
        "{c:#}"
    );
    assert_eq!(emu.count("POST /apis/v2beta1/runs"), 1);
    emu.assert_no_violations();
}

#[test]
fn unauthenticated_forbidden_and_not_found_read_differently() {
    let tok_a = format!("{TOKEN_A}={SA_A}");
    // An old server (grpc-gateway v1 error body) to read both error shapes across these tests.
    let Some(emu) = Emulator::start(&[
        "--multi-user",
        "--version",
        "2.5.0",
        "--token",
        &tok_a,
        "--grant",
        &format!("{SA_A}=team-a"),
    ]) else {
        return;
    };
    let reason = |o: &Output, id: &str| {
        check(&json(o), id)["reason"]
            .as_str()
            .unwrap_or("")
            .to_string()
    };
    // 401: a token the server does not know (expired, say).
    let o = run(
        &[
            "--kfp-endpoint",
            &emu.url,
            "-n",
            "team-a",
            "run",
            "kfp-cpu-sample",
            "-o",
            "json",
        ],
        &[("KFP_TOKEN", "expired-token")],
    );
    assert_eq!(code(&o), 3);
    let r = reason(&o, "kfp-cpu-sample");
    assert!(
        r.contains("rejected kfcheck's credentials (a bearer token) with 401"),
        "{r}"
    );
    // 403: a valid identity without access to the namespace.
    let o = run(
        &[
            "--kfp-endpoint",
            &emu.url,
            "-n",
            "team-b",
            "run",
            "kfp-cpu-sample",
            "-o",
            "json",
        ],
        &[("KFP_TOKEN", TOKEN_A)],
    );
    assert_eq!(code(&o), 3);
    let r = reason(&o, "kfp-cpu-sample");
    assert!(
        r.contains("lacks permission to list experiments in namespace team-b")
            && r.contains("is not authorized"),
        "{r}"
    );
    // 404: no KFP API at that path.
    let o = run(
        &[
            "--kfp-endpoint",
            &format!("{}/not-kfp", emu.url),
            "run",
            "kfp-api-healthy",
            "-o",
            "json",
        ],
        &[("KFP_TOKEN", TOKEN_A)],
    );
    assert_eq!(code(&o), 3);
    assert!(
        reason(&o, "kfp-api-healthy").contains("no KFP API at"),
        "{}",
        reason(&o, "kfp-api-healthy")
    );
    // And with the right token: SDK skew against this old server is a warning, not a pass.
    let o = run(
        &[
            "--kfp-endpoint",
            &emu.url,
            "-n",
            "team-a",
            "run",
            "kfp-api-healthy",
            "-o",
            "json",
        ],
        &[("KFP_TOKEN", TOKEN_A)],
    );
    let doc = json(&o);
    assert_eq!(
        check(&doc, "kfp-api-healthy")["status"],
        "warned",
        "{doc:#}"
    );
    assert_eq!(
        check(&doc, "kfp-api-healthy")["findings"][0]["rule"],
        "sdk-newer-than-server"
    );
    emu.assert_no_violations();
}

#[test]
fn unreachable_tls_and_unconfigured_endpoints_are_clear() {
    let Some(emu) = Emulator::start(&[]) else {
        return;
    };
    // Nothing configured: skipped with the reason, never passed.
    let o = run(&["run", "kfp-api-healthy", "-o", "json"], &[]);
    assert_eq!(code(&o), 3);
    let doc = json(&o);
    assert_eq!(check(&doc, "kfp-api-healthy")["status"], "skipped");
    assert!(check(&doc, "kfp-api-healthy")["reason"]
        .as_str()
        .unwrap()
        .starts_with("needs kfp: no KFP endpoint configured"));
    // --require kfp makes it an error.
    let o = run(&["--require", "kfp", "run", "kfp-api-healthy"], &[]);
    assert_eq!(code(&o), 3);
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let o = run(
        &[
            "--kfp-endpoint",
            &dead,
            "run",
            "kfp-api-healthy",
            "-o",
            "json",
        ],
        &[("KFP_TOKEN", TOKEN_A)],
    );
    assert_eq!(code(&o), 3);
    assert!(check(&json(&o), "kfp-api-healthy")["reason"]
        .as_str()
        .unwrap()
        .contains(&format!("cannot connect to {dead}")));
    // TLS to a server that speaks plain HTTP.
    let tls = emu.url.replacen("http://", "https://", 1);
    let o = run(
        &[
            "--kfp-endpoint",
            &tls,
            "run",
            "kfp-api-healthy",
            "-o",
            "json",
        ],
        &[],
    );
    assert_eq!(code(&o), 3);
    let r = check(&json(&o), "kfp-api-healthy")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        r.contains(&format!("TLS with {tls}")) && r.contains("--insecure-skip-tls-verify"),
        "{r}"
    );
}

#[test]
fn through_the_ui_proxy_with_a_session_cookie() {
    let Some(emu) = Emulator::start(&[
        "--multi-user",
        "--gateway-auth",
        "--cookie",
        "session-a-secret=alice@example.com",
        "--grant",
        "alice@example.com=team-a",
    ]) else {
        return;
    };
    let ui = format!("{}/pipeline", emu.url);
    let env = [("KFP_COOKIE", "oauth2_proxy_kubeflow=session-a-secret")];
    let o = run(
        &[
            "--kfp-endpoint",
            &ui,
            "-n",
            "team-a",
            "run",
            "kfp-api-healthy",
            "kfp-gpu-sample",
            "kfp-isolation",
            "-o",
            "json",
        ],
        &env,
    );
    let doc = json(&o);
    assert_eq!(code(&o), 0, "{doc:#}");
    assert!(
        doc["needs"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("through the UI proxy, multi-user, a session cookie"),
        "{doc:#}"
    );
    // The UI answers 200 even when the API server behind it is down: that is a failure.
    emu.script(json!({"api_server_down": true}));
    let o = run(
        &[
            "--kfp-endpoint",
            &ui,
            "-n",
            "team-a",
            "run",
            "kfp-api-healthy",
            "-o",
            "json",
        ],
        &env,
    );
    let doc = json(&o);
    assert_eq!(code(&o), 1, "{doc:#}");
    assert_eq!(
        check(&doc, "kfp-api-healthy")["findings"][0]["rule"],
        "api-server-not-ready"
    );
    // An expired session: the gateway's 401, reported as such.
    emu.script(json!({"api_server_down": false}));
    let o = run(
        &[
            "--kfp-endpoint",
            &ui,
            "-n",
            "team-a",
            "run",
            "kfp-api-healthy",
            "-o",
            "json",
        ],
        &[("KFP_COOKIE", "oauth2_proxy_kubeflow=stale")],
    );
    assert_eq!(code(&o), 3);
    assert!(check(&json(&o), "kfp-api-healthy")["reason"]
        .as_str()
        .unwrap()
        .contains("with 401"));
    emu.assert_no_violations();
}

fn wait_for(emu: &Emulator, route: &str) {
    let started = Instant::now();
    while emu.count(route) == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "kfcheck never sent {route}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn ctrl_c_terminates_and_deletes_the_run_and_exits_130() {
    let Some(emu) = Emulator::start(&[]) else {
        return;
    };
    emu.script(json!({"runs": [{"match": "kfcheck-*", "outcome": "hang"}]}));
    let child = command(
        &[
            "--kfp-endpoint",
            &emu.url,
            "run",
            "kfp-gpu-sample",
            "-o",
            "json",
        ],
        &[],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    wait_for(&emu, "POST /apis/v2beta1/runs");
    std::thread::sleep(Duration::from_millis(300));
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 130, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("terminated and deleted KFP run"),
        "{}",
        stdout(&o)
    );
    assert_eq!(emu.count("POST /apis/v2beta1/runs/{run_id}:terminate"), 1);
    assert_eq!(emu.leftovers(None, &[]), Vec::<String>::new());
    emu.assert_no_violations();
}

#[test]
fn cleanup_sweeps_kfchecks_leftovers_by_name_only() {
    let Some(emu) = Emulator::start(&[]) else {
        return;
    };
    emu.preload("kfcheck-demo", &cpu_sample(), &[]);
    emu.script(json!({"runs": [{"match": "kfcheck-*", "outcome": "hang"}]}));
    // A kfcheck killed outright leaves its pipeline, experiment and run behind.
    let mut child = command(&["--kfp-endpoint", &emu.url, "run", "kfp-cpu-sample"], &[])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(&emu, "POST /apis/v2beta1/runs");
    child.kill().unwrap();
    child.wait().unwrap();
    let left = emu.leftovers(None, &[]);
    assert_eq!(
        left.len(),
        4,
        "kfcheck's pipeline, experiment and run, and the user's kfcheck-demo: {left:?}"
    );
    let o = run(&["--kfp-endpoint", &emu.url, "cleanup", "--dry-run"], &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("3 object(s) would delete"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        emu.leftovers(None, &[]).len(),
        4,
        "a dry run deletes nothing"
    );
    let o = run(&["--kfp-endpoint", &emu.url, "cleanup"], &[]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("deleted KFP run kfcheck-")
            && stdout(&o).contains("3 object(s) deleted"),
        "{}",
        stdout(&o)
    );
    assert_eq!(
        emu.leftovers(None, &[]),
        vec!["pipelines: kfcheck-demo".to_string()],
        "only the user's own pipeline may remain"
    );
    emu.assert_no_violations();
}

#[test]
fn a_dex_login_through_the_gateway_gives_a_session() {
    let cookie = format!("{DEX_SESSION}=user@example.com");
    let Some(emu) = Emulator::start(&[
        "--multi-user",
        "--gateway-auth",
        "--cookie",
        &cookie,
        "--grant",
        "user@example.com=team-a",
    ]) else {
        return;
    };
    let upstream = emu.url.clone();
    let Some(gw) = Emulator::script_server(
        "tests/support/dex_gateway.py",
        &[
            "--upstream",
            &upstream,
            "--user",
            "user@example.com",
            "--password",
            DEX_PASSWORD,
            "--session",
            DEX_SESSION,
        ],
    ) else {
        return;
    };
    let args = [
        "--kfp-endpoint",
        gw.url.as_str(),
        "--kfp-dex-user",
        "user@example.com",
        "-n",
        "team-a",
        "run",
        "kfp-api-healthy",
        "kfp-gpu-sample",
        "-o",
        "json",
    ];
    let o = run(&args, &[("KFP_DEX_PASSWORD", DEX_PASSWORD)]);
    let doc = json(&o);
    assert_eq!(code(&o), 0, "{doc:#}");
    assert!(
        doc["needs"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("through the UI proxy, multi-user, a session cookie, namespace team-a"),
        "{doc:#}"
    );
    let o = run(&args, &[("KFP_DEX_PASSWORD", "wrong-password")]);
    assert_eq!(code(&o), 3);
    let r = check(&json(&o), "kfp-api-healthy")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        r.contains("Dex login as user@example.com failed") && r.contains("refused"),
        "{r}"
    );
    assert!(!stdout(&o).contains("wrong-password"));
    emu.assert_no_violations();
}

#[test]
fn a_server_too_slow_to_answer_is_retried_then_reported_and_the_run_still_removed() {
    let Some(emu) = Emulator::start(&[]) else {
        return;
    };
    emu.script(json!({"delays": [{"method": "GET", "path": "/apis/v2beta1/runs/{run_id}", "delay_ms": 1500}]}));
    let started = Instant::now();
    let o = run(
        &[
            "--kfp-endpoint",
            &emu.url,
            "--kfp-request-timeout",
            "500ms",
            "run",
            "kfp-gpu-sample",
            "-o",
            "json",
        ],
        &[],
    );
    let doc = json(&o);
    assert_eq!(code(&o), 3, "{doc:#}");
    let c = check(&doc, "kfp-gpu-sample");
    assert!(
        c["reason"]
            .as_str()
            .unwrap()
            .contains(&format!("no answer from {}/apis/v2beta1/runs/", emu.url)),
        "{c:#}"
    );
    // One try and three retries of the status read in the check, the same in the janitor's look
    // before it terminates (it cannot tell either), then terminate and delete.
    assert_eq!(
        emu.count("GET /apis/v2beta1/runs/{run_id}"),
        8,
        "{}",
        emu.get("/_emulator/requests")
    );
    assert_eq!(emu.count("POST /apis/v2beta1/runs/{run_id}:terminate"), 1);
    assert!(
        c["notes"]
            .to_string()
            .contains("terminated and deleted KFP run"),
        "{c:#}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
    std::thread::sleep(Duration::from_millis(1600));
    assert_eq!(emu.leftovers(None, &[]), Vec::<String>::new());
    emu.assert_no_violations();
}

#[test]
fn a_kfp_1_server_is_named_as_such() {
    let Some(emu) = Emulator::start(&["--version", "1.8.22"]) else {
        return;
    };
    let o = run(
        &[
            "--kfp-endpoint",
            &emu.url,
            "run",
            "kfp-api-healthy",
            "kfp-cpu-sample",
            "-o",
            "json",
        ],
        &[],
    );
    let doc = json(&o);
    assert_eq!(code(&o), 1, "{doc:#}");
    assert_eq!(
        check(&doc, "kfp-api-healthy")["findings"][0]["rule"],
        "v2-api-missing",
        "{doc:#}"
    );
    assert!(
        check(&doc, "kfp-cpu-sample")["reason"]
            .as_str()
            .unwrap()
            .contains("(KFP 1.x) and cannot run v2 pipelines"),
        "{doc:#}"
    );
    assert_eq!(emu.count("POST /apis/v2beta1/runs"), 0);
}

/// The token path end to end with real parts: kfcheck mints a ServiceAccount token with the
/// TokenRequest API of the local control plane (audience pipelines.kubeflow.org), and the
/// emulator authenticates it with a TokenReview against the same API server, as KFP does.
#[test]
fn a_service_account_token_from_token_request_passes_a_real_token_review() {
    let kubeconfig = match std::env::var("KFCHECK_TEST_KUBECONFIG") {
        Ok(k) if Path::new(&k).is_file() => k,
        _ => {
            let strict =
                std::env::var_os("CI").is_some() || std::env::var_os("KFCHECK_E2E").is_some();
            assert!(
                !strict,
                "KFCHECK_TEST_KUBECONFIG is not set: scripts/test starts the sandbox"
            );
            eprintln!("skipped: KFCHECK_TEST_KUBECONFIG not set (scripts/sandbox up)");
            return;
        }
    };
    let sa = "system:serviceaccount:default:default";
    let grant = format!("{sa}=default");
    let Some(emu) = Emulator::start(&[
        "--multi-user",
        "--token-review",
        &kubeconfig,
        "--grant",
        &grant,
    ]) else {
        return;
    };
    let args = [
        "--kubeconfig",
        &kubeconfig,
        "--kfp-endpoint",
        &emu.url,
        "--kfp-service-account",
        "default/default",
        "-n",
        "default",
    ];
    let mut all = args.to_vec();
    all.extend_from_slice(&["run", "kfp-api-healthy", "kfp-cpu-sample", "-o", "json"]);
    let o = run(&all, &[]);
    let doc = json(&o);
    assert_eq!(code(&o), 0, "{doc:#}");
    let log = emu.get("/_emulator/requests?log=1&limit=500");
    let runs: Vec<&Value> = log["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["method"] == "POST" && r["route"] == "/apis/v2beta1/runs")
        .collect();
    assert!(
        !runs.is_empty() && runs.iter().all(|r| r["identity"] == sa),
        "{runs:#?}"
    );
    emu.assert_no_violations();

    // The same minted token is refused by a server expecting another audience: errored, 401.
    let Some(other) = Emulator::start(&[
        "--multi-user",
        "--token-review",
        &kubeconfig,
        "--grant",
        &grant,
        "--audience",
        "other.example.com",
    ]) else {
        return;
    };
    let mut all = args.to_vec();
    all[3] = &other.url;
    all.extend_from_slice(&["run", "kfp-api-healthy", "-o", "json"]);
    let o = run(&all, &[]);
    let doc = json(&o);
    assert_eq!(code(&o), 3, "{doc:#}");
    assert!(doc["needs"].to_string().contains("401"), "{doc:#}");
}

/// With no --kfp-endpoint, kfcheck finds Service kubeflow/ml-pipeline, picks its Ready pod and
/// port-forwards through the API server (kwok forwards the pod's port to the emulator), and, as
/// no credential was given, calls KFP as the profile's default-editor with a token it minted,
/// which the emulator checks with a real TokenReview.
#[test]
fn with_no_endpoint_kfcheck_port_forwards_to_ml_pipeline_itself() {
    let Some(dir) = scenario_sandbox() else {
        return;
    };
    let kubeconfig = dir.join("kubeconfig");
    let kubeconfig = kubeconfig.to_str().unwrap();
    let ns = "kubeflow-user-example-com";
    let sa = format!("system:serviceaccount:{ns}:default-editor");
    let grant = format!("{sa}={ns}");
    let Some(emu) = Emulator::start(&[
        "--multi-user",
        "--token-review",
        kubeconfig,
        "--grant",
        &grant,
    ]) else {
        return;
    };
    sandbox(&dir, &["scenario", "healthy"]);
    let target = emu.url.trim_start_matches("http://");
    // Undo the forward rule whatever happens below.
    struct Rule<'a>(&'a Path);
    impl Drop for Rule<'_> {
        fn drop(&mut self) {
            let _ = Command::new(repo().join("scripts/sandbox"))
                .args(["forward", "8888", "--delete"])
                .env("KFCHECK_SANDBOX_DIR", self.0)
                .output();
        }
    }
    sandbox(&dir, &["forward", "8888", target]);
    let _rule = Rule(&dir);

    let o = run(
        &[
            "--kubeconfig",
            kubeconfig,
            "-n",
            ns,
            "run",
            "kfp-api-healthy",
            "kfp-cpu-sample",
            "kfp-gpu-sample",
            "kfp-isolation",
            "-o",
            "json",
        ],
        &[],
    );
    let doc = json(&o);
    assert_eq!(code(&o), 0, "{doc:#}");
    let need = doc["needs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["name"] == "kfp")
        .unwrap()["detail"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        need.contains("through kfcheck's port-forward to pod kubeflow/ml-pipeline-"),
        "{need}"
    );
    assert!(
        need.contains(&format!("a token minted for {ns}/default-editor")),
        "{need}"
    );
    emu.assert_runs_made_as(2, &sa);
    emu.assert_no_violations();

    // Ctrl-C mid-run: the run is terminated and deleted through the same port-forward.
    emu.http("DELETE", "/_emulator/requests", &[], b"");
    emu.script(json!({"runs": [{"match": "kfcheck-*", "outcome": "hang"}]}));
    let child = command(
        &[
            "--kubeconfig",
            kubeconfig,
            "-n",
            ns,
            "run",
            "kfp-gpu-sample",
            "-o",
            "json",
        ],
        &[],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    wait_for(&emu, "POST /apis/v2beta1/runs");
    std::thread::sleep(Duration::from_millis(300));
    assert!(Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 130, "{}{}", stdout(&o), stderr(&o));
    assert_eq!(emu.count("POST /apis/v2beta1/runs/{run_id}:terminate"), 1);
    assert_eq!(emu.count("DELETE /apis/v2beta1/runs/{run_id}"), 1);
    assert_eq!(
        emu.count("DELETE /apis/v2beta1/experiments/{experiment_id}"),
        1
    );
    emu.script(json!({"replace": true, "runs": []}));

    // Multi-user and no namespace said: with two profiles kfcheck names them and creates
    // nothing; with one (a fresh install's), it is the namespace.
    let o = run(
        &[
            "--kubeconfig",
            kubeconfig,
            "run",
            "kfp-cpu-sample",
            "-o",
            "json",
        ],
        &[],
    );
    let c = check(&json(&o), "kfp-cpu-sample").clone();
    assert_eq!(
        (code(&o), c["status"].as_str().unwrap()),
        (3, "errored"),
        "{c:#}"
    );
    assert!(
        c["reason"]
            .as_str()
            .unwrap()
            .contains("the cluster's profiles: kubeflow-user-example-com, team-gpu"),
        "{c:#}"
    );
    let deleted = Command::new(sandbox_kubectl(&dir))
        .args([
            "--kubeconfig",
            kubeconfig,
            "delete",
            "profiles.kubeflow.org",
            "team-gpu",
        ])
        .output()
        .unwrap();
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    let o = run(
        &[
            "--kubeconfig",
            kubeconfig,
            "run",
            "kfp-cpu-sample",
            "-o",
            "json",
        ],
        &[],
    );
    sandbox(&dir, &["scenario", "healthy"]);
    let doc = json(&o);
    assert_eq!(code(&o), 0, "{doc:#}");
    assert!(
        doc["needs"]
            .to_string()
            .contains(&format!("namespace {ns}, the only profile")),
        "{doc:#}"
    );

    // --no-kfp-port-forward: not configured, so skipped and said why.
    let o = run(
        &[
            "--kubeconfig",
            kubeconfig,
            "--no-kfp-port-forward",
            "run",
            "kfp-api-healthy",
            "-o",
            "json",
        ],
        &[],
    );
    let reason = check(&json(&o), "kfp-api-healthy")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("--no-kfp-port-forward is set"), "{reason}");
    // A Service that does not exist reads as "not installed": skipped.
    let o = run(
        &[
            "--kubeconfig",
            kubeconfig,
            "--kfp-service",
            "kubeflow/no-such-api:8888",
            "run",
            "kfp-api-healthy",
            "-o",
            "json",
        ],
        &[],
    );
    let c = check(&json(&o), "kfp-api-healthy").clone();
    assert_eq!(c["status"], "skipped", "{c:#}");
    assert!(
        c["reason"]
            .as_str()
            .unwrap()
            .contains("service kubeflow/no-such-api not found"),
        "{c:#}"
    );
    // A port the Service does not have.
    let o = run(
        &[
            "--kubeconfig",
            kubeconfig,
            "--kfp-service",
            "kubeflow/ml-pipeline:9999",
            "run",
            "kfp-api-healthy",
            "-o",
            "json",
        ],
        &[],
    );
    let c = check(&json(&o), "kfp-api-healthy").clone();
    assert_eq!(
        (code(&o), c["status"].as_str().unwrap()),
        (3, "errored"),
        "{c:#}"
    );
    assert!(
        c["reason"]
            .as_str()
            .unwrap()
            .contains("has no port 9999 (it has 8888, 8887)"),
        "{c:#}"
    );

    // The pod port forwards to nothing (kwok has no rule for it): errored, naming the pod.
    sandbox(&dir, &["forward", "8888", "--delete"]);
    let o = run(
        &[
            "--kubeconfig",
            kubeconfig,
            "-n",
            ns,
            "run",
            "kfp-api-healthy",
            "-o",
            "json",
        ],
        &[],
    );
    let c = check(&json(&o), "kfp-api-healthy").clone();
    assert_eq!(
        (code(&o), c["status"].as_str().unwrap()),
        (3, "errored"),
        "{c:#}"
    );
    assert!(
        c["reason"]
            .as_str()
            .unwrap()
            .contains("port-forward to kubeflow/ml-pipeline-"),
        "{c:#}"
    );

    // ml-pipeline crash-loops: no Ready pod to forward to, and the reason lists the pods.
    sandbox(&dir, &["forward", "8888", target]);
    sandbox(&dir, &["scenario", "kfp-deployment-crashloop"]);
    let o = run(
        &[
            "--kubeconfig",
            kubeconfig,
            "-n",
            ns,
            "run",
            "kfp-api-healthy",
            "-o",
            "json",
        ],
        &[],
    );
    sandbox(&dir, &["scenario", "healthy"]);
    let c = check(&json(&o), "kfp-api-healthy").clone();
    assert_eq!(
        (code(&o), c["status"].as_str().unwrap()),
        (3, "errored"),
        "{c:#}"
    );
    assert!(
        c["reason"]
            .as_str()
            .unwrap()
            .contains("no Ready pod behind service kubeflow/ml-pipeline:8888 (ml-pipeline-"),
        "{c:#}"
    );
}

/// kfcheck's creates, one by one, each processed by the server and its answer then lost (the
/// connection closes with no response): kfcheck finds each object by its unique name instead of
/// creating it again, and its cleanup deletes every one.
#[test]
fn a_create_whose_answer_was_lost_is_found_by_name_never_made_twice() {
    let Some(emu) = Emulator::start(&[]) else {
        return;
    };
    emu.script(
        json!({"faults": [{"method": "POST", "path": "/apis/v2beta1/runs", "drop": "after"}]}),
    );
    let o = run(
        &[
            "--kfp-endpoint",
            &emu.url,
            "run",
            "kfp-gpu-sample",
            "-o",
            "json",
        ],
        &[],
    );
    let doc = json(&o);
    assert_eq!(code(&o), 0, "{doc:#}");
    let runs = emu.created("runs");
    let experiments = emu.created("experiments");
    assert_eq!(
        runs.len(),
        1,
        "exactly one run for kfcheck's experiment: {runs:#?}"
    );
    assert_eq!(experiments.len(), 1, "{experiments:#?}");
    assert_eq!(runs[0]["experiment_id"], experiments[0]["id"]);
    assert!(
        runs.iter()
            .chain(&experiments)
            .all(|e| e["deleted"] == true),
        "cleanup deleted everything kfcheck created: {runs:#?} {experiments:#?}"
    );
    assert_eq!(
        emu.count("POST /apis/v2beta1/runs"),
        1,
        "the create was not repeated"
    );
    assert_eq!(emu.leftovers(None, &[]), Vec::<String>::new());

    // The same for the experiment, the upload and the second version of the CPU sample, and
    // the 2nd run create of the installed samples (the 1st is answered).
    emu.http("POST", "/_emulator/reset", &[], b"");
    emu.preload("[Tutorial] Data passing", &cpu_sample(), &[]);
    emu.script(json!({"faults": [
        {"method": "POST", "path": "/apis/v2beta1/experiments", "drop": "after", "times": 2},
        {"method": "POST", "path": "/apis/v2beta1/pipelines/upload", "drop": "after"},
        {"method": "POST", "path": "/apis/v2beta1/pipelines/upload_version", "drop": "after"},
        {"method": "POST", "path": "/apis/v2beta1/runs", "drop": "after", "skip": 1},
    ]}));
    let o = run(
        &[
            "--kfp-endpoint",
            &emu.url,
            "--concurrency",
            "1",
            "run",
            "kfp-cpu-sample",
            "kfp-installed-samples",
            "-o",
            "json",
        ],
        &[],
    );
    let doc = json(&o);
    assert_eq!(code(&o), 0, "{doc:#}");
    // kfcheck's objects (by name), and the preloaded pipeline with its version (not kfcheck's).
    for (kind, ours, preloaded) in [
        ("experiments", 2, 0),
        ("pipelines", 1, 1),
        ("pipeline_versions", 2, 1),
        ("runs", 3, 0),
    ] {
        let made = emu.created(kind);
        let (mine, theirs): (Vec<&Value>, Vec<&Value>) = made.iter().partition(|e| {
            e["display_name"]
                .as_str()
                .unwrap_or("")
                .starts_with("kfcheck-")
        });
        assert_eq!(
            (mine.len(), theirs.len()),
            (ours, preloaded),
            "{kind}: {made:#?}"
        );
        assert!(
            mine.iter().all(|e| e["deleted"] == true),
            "cleanup deleted every {kind} kfcheck created: {made:#?}"
        );
    }
    assert_eq!(emu.leftovers(None, &[]), Vec::<String>::new());
    emu.assert_no_violations();
}

/// Runs kfcheck as a child and gives up (killing it) after `limit`; returns its output and how
/// long it ran.
fn run_bounded(args: &[&str], limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    let mut child = command(args, &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            let o = child.wait_with_output().unwrap();
            panic!(
                "kfcheck {args:?} still ran after {limit:?}:\n{}{}",
                stdout(&o),
                stderr(&o)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (child.wait_with_output().unwrap(), started.elapsed())
}

/// A KFP endpoint on 127.0.0.1 that misbehaves in `how` for every connection, in a thread.
fn bad_server(how: fn(std::net::TcpStream)) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            std::thread::spawn(move || how(conn));
        }
    });
    addr.to_string()
}

/// Accepts, then neither reads nor answers (an HTTP request or a TLS ClientHello alike).
fn silent(conn: std::net::TcpStream) {
    std::thread::sleep(Duration::from_secs(600));
    drop(conn);
}

/// Reads the request, then sends a 200 with a large body, one byte every 200 ms.
fn trickle(mut conn: std::net::TcpStream) {
    use std::io::{Read, Write};
    let mut buf = [0u8; 4096];
    let _ = conn.read(&mut buf);
    if conn
        .write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{",
        )
        .is_err()
    {
        return;
    }
    while conn.write_all(b" ").is_ok() {
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn an_endpoint_that_never_answers_is_bounded_by_the_run_timeout() {
    let silent = bad_server(silent);
    let trickle = bad_server(trickle);
    for endpoint in [
        format!("http://{silent}"),
        format!("https://{silent}"),
        format!("http://{trickle}"),
    ] {
        let (o, took) = run_bounded(
            &[
                "--kfp-endpoint",
                &endpoint,
                "--timeout",
                "5s",
                "run",
                "kfp-api-healthy",
                "kfp-cpu-sample",
                "-o",
                "json",
            ],
            Duration::from_secs(60),
        );
        let doc = json(&o);
        assert_eq!(code(&o), 3, "{endpoint}: {doc:#}");
        assert!(
            took < Duration::from_secs(15),
            "{endpoint}: took {took:?} with --timeout 5s"
        );
        for id in ["kfp-api-healthy", "kfp-cpu-sample"] {
            let status = check(&doc, id)["status"].as_str().unwrap().to_string();
            assert!(
                status == "errored" || status == "timed_out",
                "{endpoint} {id}: {doc:#}"
            );
        }
    }
}

#[test]
fn list_pages_are_capped_and_the_limit_reported() {
    let Some(emu) = Emulator::start(&[]) else {
        return;
    };
    // A server whose every page of pipelines says there is another (a new token each time).
    emu.script(json!({"faults": [{"method": "GET", "path": "/apis/v2beta1/pipelines", "status": 200, "times": null,
        "content_type": "application/json", "body": "{\"pipelines\":[],\"next_page_token\":\"page-{n}\"}"}]}));
    let o = run(
        &[
            "--kfp-endpoint",
            &emu.url,
            "run",
            "kfp-installed-samples",
            "-o",
            "json",
        ],
        &[],
    );
    let doc = json(&o);
    assert_eq!(code(&o), 3, "{doc:#}");
    let c = check(&doc, "kfp-installed-samples");
    assert_eq!(c["status"], "errored", "{c:#}");
    let reason = c["reason"].as_str().unwrap();
    assert!(reason.contains("more than 100 pages"), "{reason}");
    assert!(
        emu.count("GET /apis/v2beta1/pipelines") <= 100,
        "{}",
        emu.get("/_emulator/requests")
    );
}

#[test]
fn a_huge_answer_is_refused_at_the_size_limit() {
    let Some(emu) = Emulator::start(&[]) else {
        return;
    };
    // A healthz answer of 80 MiB (valid JSON, padded with spaces).
    emu.script(json!({"faults": [{"method": "GET", "path": "/apis/v2beta1/healthz", "status": 200, "times": null, "pad_to": 80 << 20,
        "content_type": "application/json", "body": "{\"commit_sha\":\"abc\",\"tag_name\":\"2.17.0\",\"multi_user\":false}"}]}));
    let o = run(
        &[
            "--kfp-endpoint",
            &emu.url,
            "run",
            "kfp-api-healthy",
            "-o",
            "json",
        ],
        &[],
    );
    let doc = json(&o);
    assert_eq!(code(&o), 3, "{doc:#}");
    let reason = check(&doc, "kfp-api-healthy")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(reason.contains("larger than 64 MiB"), "{reason}");
    assert!(!reason.contains("1.x"), "{reason}");
}
