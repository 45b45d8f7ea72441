//! The raw-YAML door (`pipeline-run` with `door: argo`, docs/argo.md) against a real Argo
//! workflow-controller (scripts/sandbox argo: built from the pinned argo-workflows/v4 module) on
//! the scenario sandbox, whose step pods kwok runs on its CPU and GPU nodes
//! (tools/sandbox/kwok-stages/pod-workflow-*.yaml).
//!
//! kwok runs no container, so no `wait` container reports a step's outputs. The sandbox's
//! stand-in (`kwok-task-results`, tools/argo/taskresults, started by `scripts/sandbox argo up`)
//! plays that part, and only that part: for the steps of kfcheck's own sample Workflows on kwok's
//! nodes it writes the WorkflowTaskResult the executor would have written, with the outputs
//! computed from the step's real inputs as the sample's script would, and logs each one.
//! Everything else, the DAG, parameter passing, scheduling and phases, is the real controller's.
//!
//! One test, the cases in order: the controller is stopped and started in one of them.

mod common;

use common::{check, code, json, kfcheck, scenario_sandbox, stderr, write, Kubectl};
use std::path::Path;
use std::time::Duration;

const NS: &str = "kubeflow-user-example-com";

/// kfcheck `-n NS run ID` with the check `ID.yaml` written to the suite, as JSON.
fn run_check(dir: &Path, suite: &Path, check_yaml: &str) -> (i32, serde_json::Value, String) {
    let id = check_yaml
        .lines()
        .next()
        .unwrap()
        .trim_start_matches("id: ")
        .to_string();
    std::fs::write(suite.join(format!("{id}.yaml")), check_yaml).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    let o = kfcheck(&[
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--suite",
        suite.to_str().unwrap(),
        "-n",
        NS,
        "run",
        &id,
        "-o",
        "json",
    ]);
    (code(&o), json(&o), stderr(&o))
}

fn argo_check(id: &str, params: &str) -> String {
    format!("id: {id}\nkind: pipeline-run\ntitle: raw YAML\ncategory: argo\ntimeout: 90s\nparams:\n  door: argo\n{params}")
}

/// kfcheck's Workflows still there once deletion has had time to finish (foreground deletion
/// keeps the object until the garbage collector has removed its pods).
fn workflows_left(k: &Kubectl) -> String {
    let end = std::time::Instant::now() + Duration::from_secs(20);
    loop {
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
        if left.is_empty() || std::time::Instant::now() > end {
            return left;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs the check `id` with `params` and requires it to fail with `rule`, its message saying
/// `says`; returns the finding.
fn fails_with(
    dir: &Path,
    suite: &Path,
    id: &str,
    params: &str,
    rule: &str,
    says: &str,
) -> serde_json::Value {
    let (rc, doc, err) = run_check(dir, suite, &argo_check(id, params));
    let c = check(&doc, id);
    assert_eq!(
        (rc, c["status"].as_str()),
        (1, Some("failed")),
        "{c}\n{err}"
    );
    let f = c["findings"][0].clone();
    assert_eq!(f["rule"], rule, "{f}");
    assert!(f["message"].as_str().unwrap().contains(says), "{f}");
    f
}

/// Runs the check `id` with `params` and requires it to pass; returns its notes.
fn passes(dir: &Path, suite: &Path, id: &str, params: &str) -> String {
    let (rc, doc, err) = run_check(dir, suite, &argo_check(id, params));
    let c = check(&doc, id);
    assert_eq!(
        (rc, c["status"].as_str()),
        (0, Some("passed")),
        "{c}\n{err}"
    );
    c["notes"].to_string()
}

const FAILS: &str = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: fails-}\nspec:\n  entrypoint: main\n  templates:\n  - name: main\n    dag:\n      tasks:\n      - {name: prepare, template: ok}\n      - {name: train, template: broken, dependencies: [prepare]}\n  - name: ok\n    container: {image: python:3.11-slim, command: [python3, -c, 'print(1)']}\n  - name: broken\n    metadata: {labels: {kfcheck.sandbox/fault: step-fails}}\n    container: {image: python:3.11-slim, command: [python3, -c, 'raise SystemExit(1)']}\n";

const SIDECAR: &str = "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: sidecar-}\nspec:\n  entrypoint: main\n  templates:\n  - name: main\n    metadata: {labels: {kfcheck.sandbox/fault: sidecar-stays}}\n    container: {image: python:3.11-slim, command: [python3, -c, 'print(1)']}\n    sidecars:\n    - {name: istio-proxy, image: docker.io/istio/proxyv2:1.24.0, command: [pilot-agent, proxy]}\n";

const SECOND_CONTROLLER: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: kfcheck-test-argo}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: workflow-controller, namespace: kfcheck-test-argo}\nspec:\n  selector: {matchLabels: {app: second-controller}}\n  template:\n    metadata: {labels: {app: second-controller}}\n    spec:\n      containers:\n      - {name: main, image: quay.io/argoproj/workflow-controller:v4.0.5}\n";

#[test]
fn the_raw_yaml_door_against_a_real_argo_controller() {
    let Some(dir) = scenario_sandbox() else {
        return;
    };
    common::sandbox(&dir, &["scenario", "healthy"]);
    common::sandbox(&dir, &["argo", "up"]);
    let k = Kubectl::new(&dir);
    let tmp = tempfile::tempdir().unwrap();
    let suite = tmp.path();
    std::fs::create_dir_all(suite.join("workflows")).unwrap();
    write(&suite.join("workflows"), "fails.yaml", FAILS);
    write(&suite.join("workflows"), "sidecar.yaml", SIDECAR);

    // Healthy, CPU: three steps, each one's output the next one's input.
    let notes = passes(
        &dir,
        suite,
        "argo-cpu",
        "  mode: cpu\n  parameters: {count: 7}\n",
    );
    assert!(
        notes.contains("succeeded") && notes.contains("(3 task(s))"),
        "{notes}"
    );
    assert!(notes.contains("the status watched"), "{notes}");
    let standin = std::fs::read_to_string(dir.join("logs/kwok-task-results.log")).unwrap();
    assert!(
        standin.contains("(sum-numbers): wrote the task result") && standin.contains("{total 28}"),
        "the stand-in wrote the results of kwok's steps (1+...+7 = 28):\n{standin}"
    );
    assert_eq!(
        workflows_left(&k),
        "",
        "the Workflow is deleted after the run"
    );

    // Healthy, GPU: the step lands on the GPU node.
    passes(
        &dir,
        suite,
        "argo-gpu",
        "  mode: gpu\n  gpu: {type: nvidia-l4}\n",
    );

    // A user's Workflow whose step fails: the failed step, its exit code and node are named.
    let f = fails_with(
        &dir,
        suite,
        "argo-fails",
        "  workflow: workflows/fails.yaml\n",
        "run-failed",
        "failed at task train",
    );
    let ev = f["evidence"].to_string();
    assert!(ev.contains("kwok-cpu-0") && ev.contains("\"1\""), "{ev}");

    // A GPU type no node has: the step stays Pending until the deadline.
    fails_with(
        &dir,
        suite,
        "argo-no-gpu",
        "  mode: gpu\n  gpu: {type: nvidia-h100-80gb}\n  run_timeout: 6s\n",
        "run-not-finished",
        "did not finish in time",
    );
    assert_eq!(
        workflows_left(&k),
        "",
        "a run cut off at the deadline is deleted too"
    );

    // A sidecar that never exits (as an injected Istio proxy in a raw run): the step never ends,
    // and the container that keeps it alive is named.
    fails_with(
        &dir,
        suite,
        "argo-sidecar",
        "  workflow: workflows/sidecar.yaml\n  run_timeout: 6s\n",
        "argo-sidecar-keeps-pod",
        "istio-proxy keeps running",
    );

    // A ServiceAccount that may not write task results: asked of the API server, named.
    k.run(
        &[
            "-n",
            NS,
            "create",
            "serviceaccount",
            "kfcheck-test-no-results",
        ],
        None,
    );
    fails_with(
        &dir,
        suite,
        "argo-rbac",
        "  service_account: kfcheck-test-no-results\n",
        "argo-taskresult-rbac",
        "create or patch",
    );
    k.run(
        &[
            "-n",
            NS,
            "delete",
            "serviceaccount",
            "kfcheck-test-no-results",
        ],
        None,
    );

    // A second controller install without an instanceID: both would act on the Workflow.
    k.run(&["apply", "-f", "-"], Some(SECOND_CONTROLLER));
    k.wait_for(
        "kfcheck-test-argo",
        "deployment/workflow-controller",
        "{.status.readyReplicas}",
        "1",
        Duration::from_secs(60),
    );
    fails_with(
        &dir,
        suite,
        "argo-two",
        "",
        "argo-controllers-overlap",
        "kfcheck-test-argo/workflow-controller",
    );
    k.run(
        &["delete", "namespace", "kfcheck-test-argo", "--wait=false"],
        None,
    );

    // The controller down (its Deployment still reports ready): nothing acts on the Workflow.
    common::sandbox(&dir, &["argo", "down"]);
    let down = std::panic::catch_unwind(|| {
        fails_with(
            &dir,
            suite,
            "argo-down",
            "  start_timeout: 4s\n",
            "argo-controller-not-acting",
            "kubeflow/workflow-controller reports ready yet did not act",
        );
    });
    common::sandbox(&dir, &["argo", "up"]);
    assert!(down.is_ok(), "the controller-down case failed (above)");
    assert_eq!(workflows_left(&k), "");
}
