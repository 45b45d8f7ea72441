//! The notebook door's kernel program (src/doors/notebook_kernel.py) under the real kfp SDK,
//! run by the same Python a notebook kernel runs (the project's venv), against the KFP API
//! emulator with its fake TokenReview: the sample submitted as a notebook's `kfp.Client()` does,
//! and each way it fails named by its layer. (The kernel itself, reached through a Jupyter
//! server, is the door's test; this one proves the program.)

mod common;
use common::emulator::*;
use common::*;
use kfcheck::doors::notebook_cell::{cell, parse, CellConfig, KernelReport, Layer};
use std::process::Command;

const NS: &str = "kubeflow-user-example-com";
const TOKEN: &str = "nb-token-0123456789";

fn config(emu: &Emulator, run: &str, timeout_s: u64) -> CellConfig {
    CellConfig {
        namespace: NS.into(),
        pipeline_yaml: std::fs::read_to_string(
            repo().join("checks/pipelines/kfcheck-cpu-sample.yaml"),
        )
        .unwrap(),
        run_name: format!("kfcheck-{run}-notebook-cpu"),
        experiment_name: format!("kfcheck-{run}-notebook"),
        timeout_s,
        host: Some(emu.url.clone()),
        arguments: serde_json::Map::new(),
    }
}

/// Runs the cell as a kernel would (same interpreter); `token`: the token file's content, or
/// none at all; `site`: false hides the venv's packages (kfp missing from the image).
fn run_cell(cfg: &CellConfig, token: Option<&str>, site: bool) -> (KernelReport, String) {
    let py = python().expect("the venv (checked by the emulator already)");
    let dir = tempfile::tempdir().unwrap();
    let token_path = dir.path().join("token");
    if let Some(t) = token {
        std::fs::write(&token_path, t).unwrap();
    }
    let mut cmd = Command::new(py);
    if !site {
        cmd.arg("-S");
    }
    let out = cmd
        .arg("-c")
        .arg(cell(cfg))
        .env("KF_PIPELINES_SA_TOKEN_PATH", &token_path)
        .env_remove("KF_PIPELINES_ENDPOINT")
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "the cell itself must not fail: {stderr}"
    );
    assert!(
        !stdout.contains(TOKEN) && !stderr.contains(TOKEN),
        "the token leaked: {stdout} {stderr}"
    );
    (
        parse(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout} {stderr}")),
        stdout,
    )
}

fn emulator(grant_ns: &str) -> Option<Emulator> {
    let sa = format!("system:serviceaccount:{NS}:default-editor");
    Emulator::start(&[
        "--multi-user",
        "--token",
        &format!("{TOKEN}={sa}"),
        "--grant",
        &format!("{sa}={grant_ns}"),
    ])
}

fn layer(r: &KernelReport) -> Option<Layer> {
    r.error.as_ref().map(|e| e.layer)
}

#[test]
fn the_sample_runs_from_the_kernel_and_leaves_nothing() {
    let Some(emu) = emulator(NS) else {
        return;
    };
    let cfg = config(&emu, "nb1", 60);
    let (r, out) = run_cell(&cfg, Some(TOKEN), true);
    assert!(r.error.is_none(), "{out}");
    assert!(
        r.kfp_version.as_deref().is_some_and(|v| v.starts_with('2')),
        "{out}"
    );
    assert_eq!(r.server_version.as_deref(), Some("2.17.0"), "{out}");
    let run = r.run.as_ref().unwrap();
    assert_eq!(run.state, "SUCCEEDED", "{out}");
    assert!(run.tasks.len() >= 3, "{out}");
    let names: Vec<&str> = r
        .steps
        .iter()
        .filter(|s| s.ok)
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(
        names,
        [
            "import kfp",
            "token file",
            "kfp.Client()",
            "healthz",
            "submit",
            "run"
        ]
    );
    // What it created it deleted: the run and its experiment; the emulator saw the
    // notebook's own identity.
    assert!(
        r.cleanup.iter().all(|c| c.ok) && r.cleanup.len() == 2,
        "{out}"
    );
    assert_eq!(emu.leftovers(Some(NS), &[]), Vec::<String>::new());
    let log = emu.get("/_emulator/requests?log=1&limit=500");
    let runs: Vec<_> = log["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|q| q["method"] == "POST" && q["route"] == "/apis/v2beta1/runs")
        .collect();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0]["identity"],
        format!("system:serviceaccount:{NS}:default-editor")
    );
    emu.assert_no_violations();
}

#[test]
fn each_fault_is_named_by_its_layer() {
    let Some(emu) = emulator(NS) else {
        return;
    };
    // The image has no kfp.
    let (r, out) = run_cell(&config(&emu, "nb2", 30), Some(TOKEN), false);
    assert_eq!(layer(&r), Some(Layer::KfpMissing), "{out}");
    // The PodDefault is missing: no token file, or an empty one.
    let (r, out) = run_cell(&config(&emu, "nb3", 30), None, true);
    assert_eq!(layer(&r), Some(Layer::TokenMissing), "{out}");
    assert!(r.token_file.unwrap().from_env);
    let (r, _) = run_cell(&config(&emu, "nb3", 30), Some(""), true);
    assert_eq!(layer(&r), Some(Layer::TokenMissing));
    // A token KFP does not know: 401.
    let (r, out) = run_cell(&config(&emu, "nb4", 30), Some("not-a-known-token"), true);
    assert_eq!(layer(&r), Some(Layer::Unauthenticated), "{out}");
    // The mesh refuses before KFP sees the request, vs KFP's own 403.
    emu.script(
        serde_json::json!({"faults": [{"path": "/apis/v2beta1/healthz", "status": 403,
        "body": "RBAC: access denied", "times": 1}]}),
    );
    let (r, out) = run_cell(&config(&emu, "nb5", 30), Some(TOKEN), true);
    assert_eq!(layer(&r), Some(Layer::IstioDenied), "{out}");
    // A failing step: the backend's fault, with the step named.
    emu.script(
        serde_json::json!({"runs": [{"match": "kfcheck-nb6-*", "outcome": "fail",
        "message": "OOMKilled"}]}),
    );
    let (r, out) = run_cell(&config(&emu, "nb6", 30), Some(TOKEN), true);
    assert_eq!(layer(&r), Some(Layer::RunFailed), "{out}");
    assert!(r.error.unwrap().message.contains("FAILED"), "{out}");
    // A hanging run: terminated at the deadline, then deleted.
    emu.script(serde_json::json!({"runs": [{"match": "kfcheck-nb7-*", "outcome": "hang"}]}));
    let (r, out) = run_cell(&config(&emu, "nb7", 2), Some(TOKEN), true);
    assert_eq!(layer(&r), Some(Layer::RunTimeout), "{out}");
    assert!(
        r.cleanup
            .iter()
            .any(|c| c.what.starts_with("terminate run") && c.ok),
        "{out}"
    );
    assert_eq!(emu.leftovers(Some(NS), &[]), Vec::<String>::new(), "{out}");
}

#[test]
fn another_profiles_namespace_is_refused_by_kfp() {
    let Some(emu) = emulator("team-other") else {
        return;
    };
    let (r, out) = run_cell(&config(&emu, "nb8", 30), Some(TOKEN), true);
    assert_eq!(layer(&r), Some(Layer::KfpForbidden), "{out}");
}
