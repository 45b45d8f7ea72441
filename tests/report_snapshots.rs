//! Snapshots of every output format for one fixed run report (insta). A format change shows up
//! as a snapshot diff to review, never silently.

use kfcheck::model::{
    exit_code_for, CheckResult, DoorRun, Evidence, Finding, NeedState, Problem, RunReport,
    Severity, Status, Subject,
};
use kfcheck::report::{render, Format, TableOptions};

fn fixed_report() -> RunReport {
    let finding = |rule: &str, sev: Severity, task: &str, owner: &str| Finding {
        rule: rule.into(),
        severity: sev,
        message: format!("{rule} observed"),
        subject: Subject::new("pipeline-task", task).in_file("pipelines/train.yaml", Some(42)),
        evidence: vec![Evidence::new("resource", "nvidia.com/gpu: 1").expected("a node selector")],
        remediation: "Add a node selector for the GPU pool.".into(),
        owner: Some(owner.into()),
    };
    let check = |id: &str, cat: &str, status: Status| CheckResult {
        id: id.into(),
        title: format!("{id} title"),
        category: cat.into(),
        kind: "pipeline-lint".into(),
        status,
        duration_ms: 12,
        reason: None,
        findings: vec![],
        problems: vec![],
        notes: vec![format!("{id} note")],
        suppressed: vec![],
        figures: None,
    };
    let mut failed = check("lint-team", "pipelines", Status::Failed);
    failed.findings = vec![
        finding("limit-below-request", Severity::Error, "train", "@ml-team"),
        finding(
            "image-unpinned",
            Severity::Warning,
            "prep",
            "Ada <ada@example.com>",
        ),
        finding(
            "requests-missing",
            Severity::Info,
            "prep",
            "Ada <ada@example.com>",
        ),
    ];
    failed.problems = vec![Problem {
        subject: Subject::new("file", "pipelines/broken.yaml")
            .in_file("pipelines/broken.yaml", Some(3)),
        message: "malformed YAML: did not find expected node content".into(),
    }];
    let mut skipped = check("kube-api", "cluster", Status::Skipped);
    skipped.reason = Some(
        "needs kube: no kubeconfig found (set --kubeconfig or KUBECONFIG, or run in a pod)".into(),
    );
    skipped.notes.clear();
    let mut errored = check("plugin", "site", Status::Errored);
    errored.reason = Some("kfcheck lacks permission to list pods in namespace team-a".into());
    let mut timed = check("slow", "site", Status::TimedOut);
    timed.reason = Some("check timed out after 1s".into());
    let mut argo = check("argo-cpu-sample", "argo", Status::Failed);
    argo.findings = vec![Finding {
        rule: "argo-taskresult-rbac".into(),
        severity: Severity::Error,
        message: "ServiceAccount default-editor may not create or patch workflowtaskresults".into(),
        subject: Subject::new("workflow", "kfcheck-cpu-sample"),
        evidence: vec![],
        remediation: "Grant the ServiceAccount create and patch on workflowtaskresults.".into(),
        owner: None,
    }];
    RunReport {
        cluster: None,
        run_id: "0123456789".into(),
        started_at: "2026-11-29T10:00:00Z".into(),
        duration_ms: 1234,
        interrupted: false,
        needs: vec![NeedState {
            name: "kube".into(),
            available: false,
            state: "missing".into(),
            detail: "no kubeconfig found (set --kubeconfig or KUBECONFIG, or run in a pod)".into(),
            checks: vec!["kube-api".into()],
        }],
        results: vec![
            check("a-passed", "pipelines", Status::Passed),
            skipped,
            failed,
            errored,
            timed,
            check("kfp-cpu-sample", "kfp", Status::Passed),
            argo,
        ],
        doors: vec![
            DoorRun {
                check: "kfp-cpu-sample".into(),
                door: "rest",
                mode: "cpu",
            },
            DoorRun {
                check: "argo-cpu-sample".into(),
                door: "argo",
                mode: "cpu",
            },
        ],
    }
}

fn plain() -> TableOptions {
    TableOptions {
        color: false,
        by_owner: false,
        quiet: false,
        verbose: false,
        width: None,
        history: None,
        junit_per_file: false,
    }
}

#[test]
fn table() {
    let r = fixed_report();
    insta::assert_snapshot!(render(
        Format::Table,
        &r,
        exit_code_for(&r, false),
        &plain()
    ));
}

#[test]
fn table_in_a_narrow_terminal() {
    // 60 columns: the table's cells wrap inside it, the text around it at spaces.
    let r = fixed_report();
    let o = TableOptions {
        width: Some(60),
        ..plain()
    };
    let text = render(Format::Table, &r, exit_code_for(&r, false), &o);
    for line in text.lines() {
        assert!(line.chars().count() <= 60, "{line:?}");
    }
    insta::assert_snapshot!(text);
}

#[test]
fn table_by_owner_verbose() {
    let r = fixed_report();
    let o = TableOptions {
        by_owner: true,
        verbose: true,
        ..plain()
    };
    insta::assert_snapshot!(render(Format::Table, &r, exit_code_for(&r, false), &o));
}

#[test]
fn table_quiet() {
    let r = fixed_report();
    insta::assert_snapshot!(render(
        Format::Table,
        &r,
        exit_code_for(&r, false),
        &TableOptions {
            quiet: true,
            ..plain()
        }
    ));
}

#[test]
fn json() {
    let r = fixed_report();
    insta::assert_snapshot!(render(Format::Json, &r, exit_code_for(&r, false), &plain()));
}

#[test]
fn junit() {
    let r = fixed_report();
    insta::assert_snapshot!(render(
        Format::Junit,
        &r,
        exit_code_for(&r, false),
        &plain()
    ));
}
