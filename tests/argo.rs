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

/// kfcheck `-n NS run argo` (the default suite's argo-cpu-sample and argo-gpu-sample, with the
/// checks of `suite` overriding them by id): exit code, JSON report, JUnit text; the HTML report
/// is left at `suite/report.html`.
fn run_argo(dir: &Path, suite: &Path) -> (i32, serde_json::Value, String) {
    let kubeconfig = dir.join("kubeconfig");
    let junit = suite.join("report.xml");
    let o = kfcheck(&[
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--suite",
        suite.to_str().unwrap(),
        "-n",
        NS,
        "run",
        "argo",
        "-o",
        "json",
        "--report",
        &format!("junit={}", junit.display()),
        "--report",
        &format!("html={}", suite.join("report.html").display()),
    ]);
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::repo().join("schema/report.schema.json")).unwrap(),
    )
    .unwrap();
    let doc = json(&o);
    assert!(
        jsonschema::validator_for(&schema).unwrap().is_valid(&doc),
        "the report with its door matrix follows schema/report.schema.json:\n{doc:#}"
    );
    (code(&o), doc, std::fs::read_to_string(junit).unwrap())
}

/// The door matrix's diagnosis patterns of a report.
fn diagnoses(doc: &serde_json::Value) -> Vec<String> {
    doc["doors"]["diagnoses"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| d["pattern"].as_str().unwrap().to_string())
        .collect()
}

fn argo_check(id: &str, params: &str) -> String {
    format!("id: {id}\nkind: pipeline-run\ntitle: raw YAML\ncategory: argo\ntimeout: 90s\nparams:\n  door: argo\n{params}")
}

/// kfcheck's Workflows still there once deletion has had time to finish (foreground deletion
/// keeps the object until the garbage collector has removed its pods).
fn workflows_left(k: &Kubectl) -> String {
    left_of(k, "workflows")
}

/// kfcheck's objects of `resource` still in the profile after 20 s.
fn left_of(k: &Kubectl, resource: &str) -> String {
    let end = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = k.run(
            &[
                "-n",
                NS,
                "get",
                resource,
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

/// `kfcheck apply-check`: server-side dry runs against the sandbox's real API server (with the
/// full-schema Workflow CRD and a real ResourceQuota); nothing is persisted.
fn apply_check(dir: &Path, k: &Kubectl) {
    let files = tempfile::tempdir().unwrap();
    let typo = write(
        files.path(),
        "typo.yaml",
        "apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {generateName: typo-}\nspec:\n  entrypoint: main\n  templates:\n  - name: main\n    container: {image: python:3.11-slim, commandd: [python3]}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: kfcheck-test-apply}\ndata: {a: b}\n---\napiVersion: nope.example.com/v1\nkind: Widget\nmetadata: {name: w}\n",
    );
    let pod = write(
        files.path(),
        "pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: kfcheck-test-apply, namespace: kfcheck-test-quota}\nspec:\n  containers: [{name: main, image: busybox:1.36}]\n",
    );
    let kubeconfig = dir.join("kubeconfig");
    let run = |paths: &[&Path]| {
        let mut args = vec![
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "-n",
            NS,
            "apply-check",
        ];
        args.extend(paths.iter().map(|p| p.to_str().unwrap()));
        args.extend(["-o", "json"]);
        let o = kfcheck(&args);
        (code(&o), check(&json(&o), "apply-check").clone())
    };
    // kfcheck's own sample Workflows and a Workflow the KFP v2 backend compiled are accepted.
    let (rc, c) = run(&[
        &common::repo().join("checks/workflows/kfcheck-cpu-sample.yaml"),
        &common::repo().join("checks/workflows/kfcheck-gpu-sample.yaml"),
        &common::repo().join("fixtures/pipelines/v2-argo/pass/gpu-selector-toleration.yaml"),
    ]);
    assert_eq!((rc, c["status"].as_str()), (0, Some("passed")), "{c:#}");
    assert!(
        c["notes"][0]
            .as_str()
            .unwrap()
            .starts_with("3 of 3 object(s) accepted"),
        "{c:#}"
    );
    // A misspelt field (strict field validation) and a kind the cluster does not serve are
    // refused by name; the ConfigMap beside them is accepted and not created.
    let (rc, c) = run(&[&typo]);
    assert_eq!((rc, c["status"].as_str()), (1, Some("failed")), "{c:#}");
    let found: Vec<String> = c["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| format!("{} {}", f["rule"], f["message"]))
        .collect();
    assert!(
        found[0].contains("apply-rejected")
            && found[0].contains("unknown field \\\"spec.templates[0].container.commandd\\\""),
        "{found:?}"
    );
    assert!(
        found[1].contains("apply-kind-unknown") && found[1].contains("nope.example.com/v1 Widget"),
        "{found:?}"
    );
    assert!(k
        .try_run(&["-n", NS, "get", "configmap", "kfcheck-test-apply"], None)
        .stdout
        .is_empty());
    // A namespace's quota refuses the object.
    k.run(&["create", "namespace", "kfcheck-test-quota"], None);
    k.run(
        &[
            "-n",
            "kfcheck-test-quota",
            "create",
            "quota",
            "none",
            "--hard=pods=0",
        ],
        None,
    );
    k.wait_for(
        "kfcheck-test-quota",
        "resourcequota/none",
        "{.status.hard.pods}",
        "0",
        Duration::from_secs(30),
    );
    let (rc, c) = run(&[&pod]);
    k.run(
        &["delete", "namespace", "kfcheck-test-quota", "--wait=false"],
        None,
    );
    assert_eq!(rc, 1, "{c:#}");
    assert!(
        c["findings"][0]["message"]
            .as_str()
            .unwrap()
            .contains("a quota or limit range of the namespace refuses it"),
        "{c:#}"
    );
    // A KFP v2 pipeline spec is not a Kubernetes object: undecided, never a pass.
    let (rc, c) = run(&[&common::repo().join("checks/pipelines/kfcheck-cpu-sample.yaml")]);
    assert_eq!((rc, c["status"].as_str()), (3, Some("errored")), "{c:#}");
}

#[test]
fn the_raw_yaml_door_against_a_real_argo_controller() {
    let Some(dir) = scenario_sandbox() else {
        return;
    };
    common::sandbox(&dir, &["scenario", "healthy"]);
    common::sandbox(&dir, &["argo", "up"]);
    let k = Kubectl::new(&dir);
    apply_check(&dir, &k);
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

    // The default suite's raw-YAML checks (`kfcheck -n PROFILE run argo`): both pass, and the
    // door matrix has their two cells and nothing to diagnose.
    let overrides = tempfile::tempdir().unwrap();
    let (rc, doc, junit) = run_argo(&dir, overrides.path());
    assert_eq!(rc, 0, "{doc:#}");
    for id in ["argo-cpu-sample", "argo-gpu-sample"] {
        assert_eq!(check(&doc, id)["status"], "passed", "{doc:#}");
    }
    let cells: Vec<String> = doc["doors"]["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| format!("{}/{} {}", c["door"], c["mode"], c["state"]).replace('"', ""))
        .collect();
    assert_eq!(cells, ["argo/cpu passed", "argo/gpu passed"], "{doc:#}");
    assert!(diagnoses(&doc).is_empty(), "{doc:#}");
    assert!(junit.contains("name=\"argo/gpu\""), "{junit}");

    // GPU steps cannot be placed (a GPU type no node has) while CPU passes: the matrix says GPU
    // infrastructure, in every report.
    write(
        overrides.path(),
        "argo-gpu-sample.yaml",
        "id: argo-gpu-sample\nkind: pipeline-run\ntitle: GPU type no node has\ncategory: argo\ntimeout: 60s\nparams:\n  door: argo\n  mode: gpu\n  gpu: {type: nvidia-h100-80gb}\n  run_timeout: 6s\n",
    );
    let (rc, doc, junit) = run_argo(&dir, overrides.path());
    assert_eq!(rc, 1, "{doc:#}");
    assert_eq!(diagnoses(&doc), ["doors-gpu-only"], "{doc:#}");
    assert!(
        junit.contains("doors-gpu-only") && junit.contains("failed: argo-gpu-sample failed"),
        "{junit}"
    );
    // The HTML report of that run, as Chromium builds it: the matrix with its two cells and the
    // diagnosis, and nothing logged.
    if let Some(chromium) = common::chromium::chromium() {
        let (dom, console) =
            common::chromium::load(&chromium, &overrides.path().join("report.html"), None);
        assert!(console.is_empty(), "the page logged: {console:#?}");
        for part in [
            "id=\"doors\"",
            "id=\"cell-argo-cpu\" class=\"cell state-passed\"",
            "id=\"cell-argo-gpu\" class=\"cell state-failed\"",
            "class=\"diagnosis\"",
            "kfcheck explain doors-gpu-only",
        ] {
            assert!(dom.contains(part), "no {part} in the DOM:\n{dom}");
        }
    }

    // Healthy, GPU: the step lands on the GPU node.
    let notes = passes(
        &dir,
        suite,
        "argo-gpu",
        "  mode: gpu\n  gpu: {type: nvidia-l4}\n",
    );
    assert!(
        notes.contains("visibility only: the GPU step ran nvidia-smi"),
        "{notes}"
    );
    // With a probe image the copy kfcheck submits runs the loaded probe; the real controller
    // takes it. kwok runs nothing, so the step's output (kwok-task-results') is a GPU name, and
    // the check says the load was not seen rather than passing it.
    let notes = passes(
        &dir,
        suite,
        "argo-gpu-probe",
        "  mode: gpu\n  gpu: {type: nvidia-l4}\n  probe_image: kfcheck-probe:dev\n",
    );
    assert!(
        notes.contains("is a GPU name, not the loaded probe's line"),
        "{notes}"
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

    // The controller down (its Deployment still reports ready): nothing acts on the Workflow,
    // and with every door failing in both modes the matrix points below KFP.
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
        for mode in ["cpu", "gpu"] {
            write(
                overrides.path(),
                &format!("argo-{mode}-sample.yaml"),
                &format!("id: argo-{mode}-sample\nkind: pipeline-run\ntitle: t\ncategory: argo\ntimeout: 60s\nparams:\n  door: argo\n  mode: {mode}\n  start_timeout: 4s\n"),
            );
        }
        let (rc, doc, _) = run_argo(&dir, overrides.path());
        assert_eq!(rc, 1, "{doc:#}");
        assert_eq!(diagnoses(&doc), ["doors-everything-fails"], "{doc:#}");
    });
    common::sandbox(&dir, &["argo", "up"]);
    assert!(down.is_ok(), "the controller-down case failed (above)");
    assert_eq!(workflows_left(&k), "");

    // Argo not installed (the controller stopped, its Workflow CRD deleted): the default suite's
    // raw-YAML checks run the sample's work as a Kubernetes Job instead, in both modes, say so,
    // and delete the Jobs after. `argo up` puts the CRDs and the controller back.
    common::sandbox(&dir, &["argo", "down"]);
    k.run(&["delete", "crd", "workflows.argoproj.io"], None);
    let no_argo = std::panic::catch_unwind(|| {
        let end = std::time::Instant::now() + Duration::from_secs(30);
        while k
            .try_run(&["get", "--raw", "/apis/argoproj.io/v1alpha1"], None)
            .stdout
            .windows(11)
            .any(|w| w == b"\"workflows\"")
        {
            assert!(
                std::time::Instant::now() < end,
                "the Workflow API is still served"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let fresh = tempfile::tempdir().unwrap();
        let (rc, doc, _) = run_argo(&dir, fresh.path());
        assert_eq!(rc, 0, "{doc:#}");
        for id in ["argo-cpu-sample", "argo-gpu-sample"] {
            let c = check(&doc, id);
            assert_eq!(c["status"], "passed", "{c:#}");
            let notes = c["notes"].to_string();
            assert!(
                notes.contains("Argo is not installed")
                    && notes.contains("ran as a Kubernetes Job instead"),
                "{notes}"
            );
            assert!(notes.contains("run kfcheck-job-"), "{notes}");
        }
        assert_eq!(
            left_of(&k, "jobs"),
            "",
            "the fallback Jobs are deleted after the run"
        );
    });
    common::sandbox(&dir, &["argo", "up"]);
    assert!(
        no_argo.is_ok(),
        "the Argo-not-installed case failed (above)"
    );
}
