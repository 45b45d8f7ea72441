//! Every compiled fixture against the rules: a `fail/<rule>[--variant].yaml` triggers exactly
//! its rule, a `pass/` file has nothing of warning or worse, and the SDK's own test pipelines
//! (compiled by `scripts/sdk-corpus`) all parse.

#![expect(clippy::print_stderr, reason = "a test that skips says why on stderr")]

mod common;
use common::*;
use kfcheck::model::Severity;
use kfcheck::pipeline::lint::{expand_paths, lint_sources, LintOptions, Source};
use std::collections::BTreeSet;
use std::path::PathBuf;

/// Fixture folders below `fixtures/pipelines`, each with `pass/` and `fail/`. `v2-argo` is
/// hand-written (the KFP backend compiles it, no SDK does); the others come from the SDKs.
const FORMATS: [&str; 4] = ["v2", "v1", "tekton", "v2-argo"];

fn files(dir: &str) -> Vec<PathBuf> {
    let (files, missing) = expand_paths(&[repo().join(dir)]);
    assert!(missing.is_empty(), "{missing:?}");
    files
}

#[test]
fn fail_fixtures_trigger_exactly_their_rule() {
    let mut checked = 0;
    for format in FORMATS {
        let fail = files(&format!("fixtures/pipelines/{format}/fail"));
        assert!(fail.len() >= 5, "{format}: too few fail fixtures");
        let sources: Vec<Source> = fail.iter().cloned().map(Source::Path).collect();
        for (path, report) in fail
            .iter()
            .zip(lint_sources(&sources, &LintOptions::default()))
        {
            let stem = path.file_stem().unwrap().to_string_lossy();
            let rule = stem.split("--").next().unwrap();
            assert!(
                kfcheck::pipeline::rules::find_rule(rule).is_some(),
                "{}: no rule named {rule}",
                path.display()
            );
            assert!(
                report.error.is_none(),
                "{}: {:?}",
                path.display(),
                report.error
            );
            let got: BTreeSet<&str> = report.findings.iter().map(|f| f.rule.as_str()).collect();
            assert_eq!(got, BTreeSet::from([rule]), "{}", path.display());
            for f in &report.findings {
                assert!(
                    f.subject.line.is_some(),
                    "{}: finding without a line: {f:?}",
                    path.display()
                );
                assert!(
                    f.remediation.ends_with('.') || f.remediation.ends_with(".`"),
                    "{}",
                    f.remediation
                );
            }
            checked += 1;
        }
    }
    assert!(checked >= 50);
}

#[test]
fn every_rule_has_a_fail_fixture() {
    let mut covered = BTreeSet::new();
    for format in FORMATS {
        for f in files(&format!("fixtures/pipelines/{format}/fail")) {
            covered.insert(
                f.file_stem()
                    .unwrap()
                    .to_string_lossy()
                    .split("--")
                    .next()
                    .unwrap()
                    .to_string(),
            );
        }
    }
    for r in kfcheck::pipeline::rules::RULES {
        assert!(
            covered.contains(r.id),
            "rule {} has no fixture under fixtures/pipelines/*/fail",
            r.id
        );
    }
}

#[test]
fn pass_fixtures_and_samples_are_clean() {
    for dir in [
        "fixtures/pipelines/v2/pass",
        "fixtures/pipelines/v1/pass",
        "fixtures/pipelines/tekton/pass",
        "fixtures/pipelines/v2-argo/pass",
        "checks/pipelines",
    ] {
        let sources: Vec<Source> = files(dir).into_iter().map(Source::Path).collect();
        assert!(!sources.is_empty(), "{dir} is empty");
        for r in lint_sources(&sources, &LintOptions::default()) {
            assert!(r.error.is_none(), "{}: {:?}", r.display, r.error);
            assert!(r.tasks > 0, "{}: no tasks found", r.display);
            let bad: Vec<_> = r
                .findings
                .iter()
                .filter(|f| f.severity >= Severity::Warning)
                .collect();
            assert!(bad.is_empty(), "{}: {bad:#?}", r.display);
        }
    }
}

#[test]
fn the_sdk_test_pipelines_all_parse() {
    let corpus = repo().join("target/sdk-corpus/compiled");
    if !corpus.is_dir() {
        assert!(
            !strict(),
            "target/sdk-corpus is missing: scripts/test runs scripts/sdk-corpus first"
        );
        eprintln!("skipped: run scripts/sdk-corpus to compile the kfp SDK's own test pipelines");
        return;
    }
    let (files, _) = expand_paths(&[corpus]);
    assert!(files.len() >= 100, "only {} corpus files", files.len());
    let sources: Vec<Source> = files.into_iter().map(Source::Path).collect();
    let reports = lint_sources(&sources, &LintOptions::default());
    let errors: Vec<String> = reports
        .iter()
        .filter_map(|r| r.error.as_ref().map(|e| format!("{}: {e}", r.display)))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn committed_yaml_is_fresh() {
    let venv = repo().join(".venv/bin/python");
    if !venv.exists() {
        assert!(
            !strict(),
            ".venv is missing: scripts/test runs scripts/python-env first"
        );
        eprintln!("skipped: run scripts/python-env to check the compiled pipelines are fresh");
        return;
    }
    let out = std::process::Command::new(repo().join("scripts/compile-pipelines"))
        .arg("--check")
        .current_dir(repo())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "compiled pipelines are stale; run scripts/compile-pipelines:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The fast reader must give exactly the task model the full YAML parser gives, and must be the
/// path real compiler output takes (otherwise it is not the accelerator it claims to be).
#[test]
fn fast_reader_agrees_with_the_full_parser() {
    use kfcheck::pipeline::parse::{parse_pipeline_fast, parse_pipeline_full};
    let mut dirs = vec![
        repo().join("checks/pipelines"),
        repo().join("fixtures/pipelines"),
    ];
    let corpus = repo().join("target/sdk-corpus/compiled");
    if corpus.is_dir() {
        dirs.push(corpus);
    }
    let (files, _) = expand_paths(&dirs);
    let (mut fast, mut total) = (0, 0);
    let mut slow = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let Ok(full) = parse_pipeline_full(&text) else {
            continue;
        };
        total += 1;
        match parse_pipeline_fast(&text) {
            Some(p) => {
                assert_eq!(p, full, "{}: fast and full parsers disagree", f.display());
                fast += 1;
            }
            None => slow.push(f.display().to_string()),
        }
    }
    assert!(total >= 81, "{total}");
    // Hand-edited fixtures may use YAML the fast reader leaves to the full parser; SDK output not.
    assert!(
        fast * 100 >= total * 95,
        "only {fast}/{total} took the fast path; slow: {slow:#?}"
    );
}

/// Truncated files (a cut upload, a disk full): whatever the full YAML parser says about a
/// truncated pipeline, kfcheck's fast path must say the same: the same error, or the same model.
#[test]
fn truncated_pipelines_read_the_same_on_both_paths() {
    use kfcheck::pipeline::parse::{parse_pipeline, parse_pipeline_full};
    let mut cuts = 0;
    for f in [
        "checks/pipelines/kfcheck-gpu-sample.yaml",
        "fixtures/pipelines/v2/pass/nested-sub-pipeline.yaml",
        "fixtures/pipelines/v1/pass/cpu-basic.yaml",
        "fixtures/pipelines/tekton/pass/parallel-for.yaml",
        "fixtures/pipelines/v2-argo/pass/nested-pipeline-loop.yaml",
    ] {
        let text = std::fs::read_to_string(repo().join(f)).unwrap();
        let step = (text.len() / 97).max(1);
        for at in (1..text.len()).step_by(step) {
            if !text.is_char_boundary(at) {
                continue;
            }
            let cut = &text[..at];
            let full = parse_pipeline_full(cut);
            let ours = parse_pipeline(cut);
            match (&ours, &full) {
                (Ok(a), Ok(b)) => assert_eq!(a, b, "{f} cut at {at}"),
                (Err(a), Err(b)) => assert_eq!(a, b, "{f} cut at {at}"),
                _ => panic!(
                    "{f} cut at {at}: fast path {:?} vs full parser {:?}",
                    ours.is_ok(),
                    full.is_ok()
                ),
            }
            cuts += 1;
        }
    }
    assert!(cuts > 300);
}

/// `lint --cluster` judges required node affinity as the kube-scheduler does: each operator
/// with its own meaning, terms ORed, an empty term list matching no node.
#[test]
fn node_affinity_is_judged_like_the_scheduler() {
    use kfcheck::pipeline::fit::{fit, FitNode};
    let template = |name: &str, terms: &str| {
        format!("  - name: {name}\n    container: {{image: 'python:3.11'}}\n    affinity:\n      nodeAffinity:\n        requiredDuringSchedulingIgnoredDuringExecution:\n          nodeSelectorTerms: {terms}\n")
    };
    let cases = [
        ("not-in", "[{matchExpressions: [{key: pool, operator: NotIn, values: [gpu]}]}]", true),
        ("not-in-every-pool", "[{matchExpressions: [{key: pool, operator: NotIn, values: [cpu, tpu]}]}]", false),
        ("does-not-exist", "[{matchExpressions: [{key: spot, operator: DoesNotExist}]}]", true),
        ("gt", "[{matchExpressions: [{key: gpus, operator: Gt, values: ['4']}]}]", true),
        ("gt-too-many", "[{matchExpressions: [{key: gpus, operator: Gt, values: ['8']}]}]", false),
        ("lt", "[{matchExpressions: [{key: gpus, operator: Lt, values: ['4']}]}]", true),
        ("gt-not-integer", "[{matchExpressions: [{key: gpus, operator: Gt, values: [four]}]}]", false),
        ("ored-terms", "[{matchExpressions: [{key: pool, operator: In, values: [gpu]}]}, {matchExpressions: [{key: pool, operator: In, values: [tpu]}]}]", true),
        ("anded-in-term", "[{matchExpressions: [{key: pool, operator: In, values: [tpu]}, {key: gpus, operator: Lt, values: ['4']}]}]", false),
        ("no-terms", "[]", false),
        ("empty-term", "[{matchExpressions: []}]", false),
    ];
    let mut text = String::from("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nmetadata: {name: affinity}\nspec:\n  templates:\n");
    for (name, terms, _) in &cases {
        text.push_str(&template(name, terms));
    }
    let p = kfcheck::pipeline::parse_pipeline(&text).unwrap();
    let node = |name: &str, labels: &[(&str, &str)]| FitNode {
        name: name.into(),
        schedulable: true,
        labels: labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..FitNode::default()
    };
    let nodes = [
        node("cpu-0", &[("pool", "cpu"), ("gpus", "2")]),
        node("tpu-0", &[("pool", "tpu"), ("gpus", "8")]),
    ];
    assert_eq!(p.tasks.len(), cases.len());
    for (task, (name, _, fits)) in p.tasks.iter().zip(cases) {
        assert_eq!(task.name, name);
        let got = fit(task, &nodes).unwrap();
        assert_eq!(got.is_none(), fits, "{name}: {got:?}");
    }
}

/// A CODEOWNERS file from the linted repository is not trusted whatever its size: over
/// GitHub's 3 MB limit it is not used (GitHub would not use it either).
#[test]
fn an_oversized_codeowners_is_not_used() {
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let mut text = String::new();
    while text.len() < 4_300_000 {
        text.push_str(&format!("/never/**/dir-{}/**/*.bin @nobody\n", text.len()));
    }
    text.push_str("*.yaml @attacker\n");
    std::fs::write(root.join("CODEOWNERS"), text).unwrap();
    let p = root.join("p.yaml");
    std::fs::write(&p, "x").unwrap();
    let owners = kfcheck::pipeline::owners::OwnerResolver::new(Some(root.join("CODEOWNERS")))
        .resolve(&[p.as_path()]);
    assert_eq!(owners.get(&p), None);
}

/// KFP v2 IR of `levels` nested DAG components, each using the next one `fanout` times, over
/// one executor: a few kilobytes that name `fanout^levels` task instances.
fn reused_dag(levels: usize, fanout: usize) -> String {
    let mut text = String::from("components:\n  comp-leaf:\n    executorLabel: exec-leaf\n");
    for level in 0..levels {
        let child = if level + 1 == levels {
            "comp-leaf".to_string()
        } else {
            format!("comp-level-{}", level + 1)
        };
        text.push_str(&format!("  comp-level-{level}:\n    dag:\n      tasks:\n"));
        for i in 0..fanout {
            text.push_str(&format!("        t{i}:\n          componentRef: {{name: {child}}}\n          taskInfo: {{name: t{i}}}\n"));
        }
    }
    text.push_str(
        "deploymentSpec:\n  executors:\n    exec-leaf:\n      container: {image: 'python:3.11'}\n",
    );
    text.push_str("root:\n  dag:\n    tasks:\n      top:\n        componentRef: {name: comp-level-0}\n        taskInfo: {name: top}\n");
    text
}

#[test]
fn a_dag_that_reuses_components_at_every_level_is_refused_not_expanded() {
    use kfcheck::pipeline::lint::lint_text;
    let text = reused_dag(21, 2);
    assert!(text.len() < 5000, "{}", text.len());
    let started = std::time::Instant::now();
    let report = lint_text("reused.yaml", &text, &LintOptions::default());
    let err = report
        .error
        .expect("a pipeline of 2^21 task instances must not be inspected as ready");
    // 2^21 containers below 2^21 - 2 DAG tasks that hold them, and `top`.
    assert!(
        err.message.contains("expands to 4194303 task instances")
            && err.message.contains("over the limit of 100000"),
        "{}",
        err.message
    );
    assert_eq!(report.tasks, 0);
    // Counted by reference: a generous bound that only an expansion would break.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Wider reuse, nested deeper (the 4 GB case): refused the same way.
    let err = lint_text("wide.yaml", &reused_dag(20, 3), &LintOptions::default())
        .error
        .unwrap();
    assert!(err.message.contains("over the limit"), "{}", err.message);
}

#[test]
fn a_component_reused_a_few_times_is_still_one_task_per_instance() {
    let p = kfcheck::pipeline::parse_pipeline(&reused_dag(3, 2)).unwrap();
    let names: Vec<&str> = p.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names.len(), 8);
    assert_eq!(names[0], "top/t0/t0/t0");
    assert_eq!(names[7], "top/t1/t1/t1");
    assert!(p
        .tasks
        .iter()
        .all(|t| t.image.as_deref() == Some("python:3.11")
            && t.line == Some(p.tasks[0].line.unwrap())));
}

/// Argo Workflows compiled by the KFP v2 backend (driver/launcher form) are linted as the tasks
/// their `spec.arguments.parameters` describe, never as KFP's own driver, launcher and
/// placeholder templates.
#[test]
fn kfp_v2_compiled_workflows_are_linted_as_their_tasks() {
    use kfcheck::pipeline::lint::lint_text;
    let dir = repo().join("fixtures/pipelines/v2-argo");
    let read = |f: &str| std::fs::read_to_string(dir.join(f)).unwrap();

    // A GPU request inside such a file is seen, and reported on the user's task.
    let text = read("fail/gpu-without-placement.yaml");
    let report = lint_text("gpu.yaml", &text, &LintOptions::default());
    assert!(report.error.is_none(), "{:?}", report.error);
    assert_eq!(report.format.map(|f| f.as_str()), Some("kfp-v2-argo"));
    let got: Vec<(&str, &str)> = report
        .findings
        .iter()
        .map(|f| (f.rule.as_str(), f.subject.name.as_str()))
        .collect();
    assert_eq!(got, [("gpu-without-placement", "train")]);
    // At the `- name: implementations-<hash>` line of the GPU step's container.
    let value = text
        .lines()
        .position(|l| l.contains("nvidia/cuda"))
        .unwrap();
    assert!(text
        .lines()
        .nth(value - 1)
        .unwrap()
        .contains("- name: implementations-"));
    assert_eq!(report.findings[0].subject.line, Some(value as u64));

    // The task model is the one the v2 IR gives: image, resources, accelerator, placement.
    let p = kfcheck::pipeline::parse_pipeline(&read("pass/gpu-selector-toleration.yaml")).unwrap();
    let names: Vec<&str> = p.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["evaluate", "prepare-data", "train"]);
    assert_eq!(p.name.as_deref(), Some("gpu-selector-toleration"));
    let train = &p.tasks[2];
    assert_eq!(
        train.image.as_deref(),
        Some("nvidia/cuda:12.4.1-base-ubuntu22.04")
    );
    let gpu = &train.resources.extended[0];
    assert_eq!(gpu.name, "nvidia.com/gpu");
    assert_eq!(gpu.limit.as_ref().unwrap().raw, "1");
    assert_eq!(
        train.resources.memory_limit.as_ref().unwrap().shown(),
        "resourceMemoryLimit: 16Gi"
    );
    assert_eq!(
        train.node_selector,
        [(
            "cloud.google.com/gke-accelerator".to_string(),
            "nvidia-l4".to_string()
        )]
    );
    assert_eq!(
        train.tolerations[0].shown(),
        "nvidia.com/gpu Exists NoSchedule"
    );
    assert!(p.tasks[0].tolerations.is_empty() && p.tasks[0].node_selector.is_empty());

    // Nested DAGs and loops are named as in the IR; one container shared by two components
    // (one hash) keeps each component's own Kubernetes config.
    let p = kfcheck::pipeline::parse_pipeline(&read("pass/nested-pipeline-loop.yaml")).unwrap();
    let names: Vec<&str> = p.tasks.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["for-loop-2/say", "inner/say-2", "inner/train"]);
    assert!(p.tasks[2].tolerations.len() == 1 && !p.tasks[2].resources.extended.is_empty());
    assert!(p.tasks[0].tolerations.is_empty() && p.tasks[1].tolerations.is_empty());
    assert_eq!(p.tasks[0].image, p.tasks[1].image);

    // No finding in any such file is about KFP's machinery.
    for f in files("fixtures/pipelines/v2-argo") {
        let text = std::fs::read_to_string(&f).unwrap();
        let r = lint_text(&f.display().to_string(), &text, &LintOptions::default());
        assert!(r.error.is_none(), "{}: {:?}", f.display(), r.error);
        assert_eq!(r.format.map(|f| f.as_str()), Some("kfp-v2-argo"));
        for finding in &r.findings {
            let shown = format!("{finding:?}");
            for machinery in [
                "kfp-driver",
                "kfp-launcher",
                "should-be-overridden",
                "system-",
            ] {
                assert!(
                    !shown.contains(machinery),
                    "{}: a finding about KFP's {machinery}: {finding:#?}",
                    f.display()
                );
            }
        }
    }
}

/// A JSON string in such a workflow that does not parse is a clear error at its line, and
/// never a panic nor a silently empty pipeline.
#[test]
fn malformed_json_in_a_kfp_v2_compiled_workflow_is_an_error() {
    use kfcheck::pipeline::lint::lint_text;
    let text = std::fs::read_to_string(
        repo().join("fixtures/pipelines/v2-argo/pass/gpu-selector-toleration.yaml"),
    )
    .unwrap();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() as u64 + 1;
    let cases = [
        // A workflow parameter: the task's Kubernetes config.
        (
            text.replacen(r#"'{"nodeSelector":{"#, r#"'{"nodeSelector":{{"#, 1),
            "kubernetes-comp-train",
            line_of("- name: kubernetes-comp-train"),
        ),
        // The root DAG.
        (
            text.replacen(r#"'{"dag":{"tasks":"#, r#"'{"dag":{"tasks":["#, 1),
            "components-root",
            line_of("- name: components-root"),
        ),
        // A driver task's own `task` argument.
        (
            text.replacen(
                r#"'{"cachingOptions":{"enableCache":true},"componentRef":{"name":"comp-train"}"#,
                r#"'{"cachingOptions":{"enableCache":true},"componentRef":{"name":"comp-train""#,
                1,
            ),
            "train-driver",
            line_of("name: train-driver"),
        ),
    ];
    for (bad, names, line) in cases {
        assert_ne!(bad, text);
        let r = lint_text("bad.yaml", &bad, &LintOptions::default());
        let e = r.error.unwrap_or_else(|| panic!("{names}: no error"));
        assert!(
            e.message.contains("malformed JSON") && e.message.contains(names),
            "{e:?}"
        );
        assert_eq!(e.line, Some(line), "{e:?}");
        assert_eq!(r.tasks, 0);
    }
    // A parameter the driver tasks name but the workflow does not define.
    let missing = text.replacen(
        "- name: kubernetes-comp-train",
        "- name: kubernetes-other",
        1,
    );
    let e = lint_text("missing.yaml", &missing, &LintOptions::default())
        .error
        .unwrap();
    assert!(
        e.message.contains("kubernetes-comp-train") && e.message.contains("not defined"),
        "{e:?}"
    );
}
