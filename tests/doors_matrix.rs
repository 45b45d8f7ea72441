//! The door matrix (docs/argo.md) end to end: each diagnosis pattern that compares two doors,
//! produced by real doors on the scenario sandbox, one `kfcheck -o json` run per pattern. The
//! REST door calls the KFP emulator (multi-user, a real TokenReview of the profile's
//! default-editor token), the raw-YAML door the real Argo controller (scripts/sandbox argo), the
//! notebook door a real Jupyter server (.venv-notebook) behind a Notebook's pod, forwarded by
//! kwok, whose kernel reaches the same emulator. Each case puts one real fault in one door:
//! - doors-rest-fails: the KFP backend fails kfcheck's REST run (the emulator's script);
//! - doors-argo-fails: the raw run's ServiceAccount may not write task results;
//! - doors-notebook-fails: the PodDefault's token file is missing in the notebook;
//! - doors-not-located: that notebook fault with only raw YAML to compare it with.
//!
//! One test, the cases in order: they share the notebook, the emulator and the Jupyter server.
//! tests/argo.rs produces doors-gpu-only and doors-everything-fails.

mod common;

use common::emulator::Emulator;
use common::{
    check, code, json, kfcheck, repo, sandbox, sandbox_kubectl, scenario_sandbox, stderr, write,
    Kubectl,
};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const NS: &str = "kubeflow-user-example-com";
const NB: &str = "nb-kfcheck-matrix";
/// A ServiceAccount with no rights on workflowtaskresults (the argo door's fault).
const NO_RESULTS: &str = "kfcheck-test-matrix-no-results";

/// A real Jupyter server as Kubeflow's image runs it (empty token, NB_PREFIX as base URL).
fn jupyter(env: &[(&str, &str)]) -> Option<common::jupyter::JupyterServer> {
    common::jupyter::start(&format!("/notebook/{NS}/{NB}/"), "", env)
}

/// The notebook as Kubeflow's controller makes it, and the ServiceAccount without task-result
/// rights that the raw-YAML door's fault uses.
fn notebook_objects() -> String {
    format!(
        "{}---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {NO_RESULTS}, namespace: {NS}}}\n",
        common::jupyter::notebook_objects(NS, NB)
    )
}

/// Removes the forward rule and the objects of the test, whatever happened.
struct Undo {
    dir: PathBuf,
    kubectl: PathBuf,
    objects: String,
}

impl Drop for Undo {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/sandbox"))
            .args(["forward", "8888", "--delete", "--namespace", NS])
            .env("KFCHECK_SANDBOX_DIR", &self.dir)
            .output();
        let kubeconfig = self.dir.join("kubeconfig");
        let Ok(mut child) = Command::new(&self.kubectl)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .args(["delete", "--ignore-not-found", "--wait=false", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
        else {
            return;
        };
        use std::io::Write as _;
        let _ = child
            .stdin
            .take()
            .unwrap()
            .write_all(self.objects.as_bytes());
        let _ = child.wait();
    }
}

/// `kfcheck -n NS --suite SUITE run IDS -o json` with the REST door on the emulator as the
/// profile's default-editor; the report follows the schema.
fn run(dir: &Path, suite: &Path, emu: &Emulator, ids: &[&str]) -> (i32, Value) {
    let kubeconfig = dir.join("kubeconfig");
    let mut args = vec![
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--kfp-endpoint",
        &emu.url,
        "--kfp-service-account",
        "kubeflow-user-example-com/default-editor",
        "-n",
        NS,
        "--suite",
        suite.to_str().unwrap(),
        "run",
    ];
    args.extend_from_slice(ids);
    args.extend(["-o", "json"]);
    let o = kfcheck(&args);
    let doc = json(&o);
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schema/report.schema.json")).unwrap(),
    )
    .unwrap();
    assert!(
        jsonschema::validator_for(&schema).unwrap().is_valid(&doc),
        "the report follows schema/report.schema.json:\n{doc:#}\n{}",
        stderr(&o)
    );
    (code(&o), doc)
}

/// The matrix's cells as `door/mode state`.
fn cells(doc: &Value) -> Vec<String> {
    doc["doors"]["cells"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| format!("{}/{} {}", c["door"], c["mode"], c["state"]).replace('"', ""))
        .collect()
}

/// The matrix's diagnosis patterns, each with its line.
fn diagnoses(doc: &Value) -> Vec<(String, String)> {
    doc["doors"]["diagnoses"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["pattern"].as_str().unwrap().to_string(),
                d["line"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The run's matrix has `want_cells` and one diagnosis, `pattern`, whose line starts with
/// `line`; the check `failed` failed with `rule`.
fn diagnosed(
    doc: &Value,
    want_cells: &[&str],
    pattern: &str,
    line: &str,
    failed: &str,
    rule: &str,
) {
    assert_eq!(cells(doc), want_cells, "{doc:#}");
    let d = diagnoses(doc);
    assert_eq!(
        d.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
        [pattern],
        "{doc:#}"
    );
    assert!(d[0].1.starts_with(line), "{}", d[0].1);
    let c = check(doc, failed);
    assert_eq!(c["status"], "failed", "{c:#}");
    assert_eq!(c["findings"][0]["rule"], rule, "{c:#}");
}

#[test]
fn each_door_pattern_comes_from_real_doors() {
    let Some(dir) = scenario_sandbox() else {
        return;
    };
    let kubeconfig = dir.join("kubeconfig");
    let kc = kubeconfig.to_str().unwrap();
    let sa = format!("system:serviceaccount:{NS}:default-editor");
    let Some(emu) = Emulator::start(&[
        "--multi-user",
        "--token-review",
        kc,
        "--grant",
        &format!("{sa}={NS}"),
    ]) else {
        return;
    };
    sandbox(&dir, &["scenario", "healthy"]);
    sandbox(&dir, &["argo", "up"]);
    let k = Kubectl::new(&dir);

    // The notebook's token file, as the access-ml-pipeline PodDefault mounts it.
    let tokens = tempfile::tempdir().unwrap();
    let token = tokens.path().join("token");
    let minted = k.run(
        &[
            "-n",
            NS,
            "create",
            "token",
            "default-editor",
            "--audience",
            "pipelines.kubeflow.org",
        ],
        None,
    );
    std::fs::write(&token, minted.trim()).unwrap();
    let Some(server) = jupyter(&[
        ("KF_PIPELINES_SA_TOKEN_PATH", token.to_str().unwrap()),
        ("KF_PIPELINES_ENDPOINT", emu.url.as_str()),
    ]) else {
        return;
    };
    let objects = notebook_objects();
    let _undo = Undo {
        dir: dir.clone(),
        kubectl: sandbox_kubectl(&dir),
        objects: objects.clone(),
    };
    k.run(&["apply", "-f", "-"], Some(&objects));
    sandbox(
        &dir,
        &[
            "forward",
            "8888",
            &format!("127.0.0.1:{}", server.port),
            "--namespace",
            NS,
        ],
    );
    k.wait_for(
        NS,
        &format!("pod/{NB}-0"),
        "{.status.conditions[?(@.type==\"Ready\")].status}",
        "True",
        Duration::from_secs(60),
    );

    // The default suite's samples, the notebook ones naming the test's notebook (the healthy
    // scenario has one of its own).
    let suite = tempfile::tempdir().unwrap();
    let notebook = std::fs::read_to_string(repo().join("checks/notebook-cpu-sample.yaml")).unwrap();
    write(
        suite.path(),
        "notebook-cpu-sample.yaml",
        &format!("{notebook}  notebook: {NB}\n"),
    );
    let three = ["kfp-cpu-sample", "notebook-cpu-sample", "argo-cpu-sample"];

    // No fault: every door passes, nothing to diagnose.
    let (rc, doc) = run(&dir, suite.path(), &emu, &three);
    assert_eq!(rc, 0, "{doc:#}");
    assert_eq!(
        cells(&doc),
        ["rest/cpu passed", "notebook/cpu passed", "argo/cpu passed"],
        "{doc:#}"
    );
    assert!(diagnoses(&doc).is_empty(), "{doc:#}");

    // The KFP backend fails kfcheck's REST run; raw YAML runs the same work.
    emu.script(
        serde_json::json!({"runs": [{"match": "kfcheck-*-kfp-cpu-sample", "outcome": "fail"}]}),
    );
    let (rc, doc) = run(
        &dir,
        suite.path(),
        &emu,
        &["kfp-cpu-sample", "argo-cpu-sample"],
    );
    emu.script(serde_json::json!({"replace": true, "runs": []}));
    assert_eq!(rc, 1, "{doc:#}");
    diagnosed(
        &doc,
        &["rest/cpu failed", "argo/cpu passed"],
        "doors-rest-fails",
        "raw YAML passes but the REST door fails (cpu) [argo-cpu-sample passed, kfp-cpu-sample failed]: the KFP API server",
        "kfp-cpu-sample",
        "run-failed",
    );

    // The raw run's ServiceAccount may not write task results (KFP's own runs get that right).
    let argo = std::fs::read_to_string(repo().join("checks/argo-cpu-sample.yaml")).unwrap();
    let no_rights = write(
        suite.path(),
        "argo-cpu-sample.yaml",
        &format!("{argo}  service_account: {NO_RESULTS}\n"),
    );
    let (rc, doc) = run(
        &dir,
        suite.path(),
        &emu,
        &["kfp-cpu-sample", "argo-cpu-sample"],
    );
    std::fs::remove_file(no_rights).unwrap();
    assert_eq!(rc, 1, "{doc:#}");
    diagnosed(
        &doc,
        &["rest/cpu passed", "argo/cpu failed"],
        "doors-argo-fails",
        "the REST door passes but raw YAML fails (cpu) [kfp-cpu-sample passed, argo-cpu-sample failed]: what a raw run needs",
        "argo-cpu-sample",
        "argo-taskresult-rbac",
    );

    // The PodDefault's token file is missing in the notebook; REST and raw YAML pass.
    std::fs::remove_file(&token).unwrap();
    let (rc, doc) = run(&dir, suite.path(), &emu, &three);
    assert_eq!(rc, 1, "{doc:#}");
    diagnosed(
        &doc,
        &["rest/cpu passed", "notebook/cpu failed", "argo/cpu passed"],
        "doors-notebook-fails",
        "the REST door passes but the notebook door fails (cpu) [kfp-cpu-sample passed, notebook-cpu-sample failed]: notebook access to KFP",
        "notebook-cpu-sample",
        "notebook-token-missing",
    );

    // The same fault with only raw YAML beside it: no door pair explains it.
    let (rc, doc) = run(
        &dir,
        suite.path(),
        &emu,
        &["notebook-cpu-sample", "argo-cpu-sample"],
    );
    assert_eq!(rc, 1, "{doc:#}");
    diagnosed(
        &doc,
        &["notebook/cpu failed", "argo/cpu passed"],
        "doors-not-located",
        "failures no pattern explains [notebook-cpu-sample failed]: not located",
        "notebook-cpu-sample",
        "notebook-token-missing",
    );

    // Every run was made as the profile's default-editor (the REST door's four and the
    // notebook's first; without its token the notebook submits nothing), nothing is left.
    emu.assert_runs_made_as(5, &sa);
    assert_eq!(emu.leftovers(Some(NS), &[]), Vec::<String>::new());
    emu.assert_no_violations();
    // Foreground deletion keeps a Workflow until its pods are gone: give it time.
    let end = Instant::now() + Duration::from_secs(20);
    let left = loop {
        let left = k.run(
            &[
                "-n",
                NS,
                "get",
                "workflows",
                "-l",
                "app.kubernetes.io/managed-by=kfcheck",
                "-o",
                "name",
            ],
            None,
        );
        if left.is_empty() || Instant::now() > end {
            break left;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(left, "", "kfcheck's Workflows are deleted after each run");
}
