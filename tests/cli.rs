//! The command line as a user meets it: every exit code, every output format, bad input,
//! Ctrl-C. Runs the real binary.

mod common;
use common::*;
use std::time::{Duration, Instant};

const FAIL: &str = "fixtures/pipelines/v2/fail/limit-below-request.yaml";
const WARN_ONLY: &str = "fixtures/pipelines/v2/fail/image-unpinned.yaml";
const PASS_DIR: &str = "fixtures/pipelines/v2/pass";

fn exec_check(
    dir: &std::path::Path,
    id: &str,
    timeout: &str,
    command: &str,
    cleanup: Option<&str>,
) {
    write_exec_check(dir, id, timeout, &format!("[sh, -c, {command:?}]"), cleanup);
}

#[test]
fn exit_3_all_without_a_cluster_inspects_the_samples_but_is_never_ready() {
    // A cron job or CI gate whose kubeconfig vanished must not report a ready cluster.
    let o = kfcheck(&["all"]);
    assert_eq!(code(&o), 3, "{}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("Verdict: undecided"), "{out}");
    assert!(!out.contains("Verdict: ready"), "{out}");
    let reason = out
        .lines()
        .skip_while(|l| !l.starts_with("Verdict:"))
        .nth(1)
        .unwrap_or_default();
    assert!(
        reason.contains("the cluster was not examined")
            && reason.contains("did not run: kube missing (no kubeconfig found"),
        "{out}"
    );
    let doc = json(&kfcheck(&["all", "-o", "json"]));
    assert_eq!(doc["verdict"], "undecided");
    assert_eq!(doc["exit_code"], 3);
    assert!(
        doc["verdict_reason"]
            .as_str()
            .unwrap()
            .starts_with("the cluster was not examined"),
        "{doc:#}"
    );
    let status = |id: &str| {
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("lint-sample-pipelines"), "passed");
    assert_eq!(status("kube-api-reachable"), "skipped");
    // Every skipped check names the need it lacks in the table; why is said once, in the Needs
    // section (and next to the verdict), not on every row.
    assert!(
        out.contains("needs kube (missing): see Needs below"),
        "{out}"
    );
    let table = out.split("\nNeeds\n").next().unwrap();
    assert!(!table.contains("no kubeconfig found"), "{table}");
    let needs = out
        .split("\nNeeds\n")
        .nth(1)
        .unwrap()
        .split("Verdict:")
        .next()
        .unwrap();
    assert_eq!(needs.matches("no kubeconfig found").count(), 1, "{needs}");
    // JUnit: an errored verdict case, so a CI system that counts only failures and errors sees it.
    let o = kfcheck(&["all", "-o", "junit"]);
    assert_eq!(code(&o), 3);
    let xml = stdout(&o);
    assert!(
        xml.contains("name=\"verdict\"") && xml.contains("the cluster was not examined"),
        "{xml}"
    );
    // Files alone need no cluster: lint stays ready.
    assert_eq!(code(&kfcheck(&["lint", PASS_DIR])), 0);
}

#[test]
fn exit_1_when_a_check_fails_and_fail_on_warning() {
    let o = kfcheck(&["lint", FAIL]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(stdout(&o).contains("[limit-below-request]"));
    let o = kfcheck(&["lint", WARN_ONLY]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let o = kfcheck(&["lint", "--fail-on", "warning", WARN_ONLY]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
}

#[test]
fn exit_2_for_bad_usage_and_bad_suites() {
    assert_eq!(code(&kfcheck(&["--no-such-flag", "all"])), 2);
    assert_eq!(code(&kfcheck(&["--timeout", "soon", "all"])), 2);
    assert_eq!(code(&kfcheck(&["--report", "xml=out.xml", "all"])), 2);
    let o = kfcheck(&["lint", "no/such/file.yaml", PASS_DIR]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("no/such/file.yaml: no such file or directory"));
    assert!(
        stdout(&o).contains("inspected 14 pipeline file(s)"),
        "other paths still inspected: {}",
        stdout(&o)
    );
    let d = tempfile::tempdir().unwrap();
    write(
        d.path(),
        "bad.yaml",
        "id: x\nkind: pipeline-lint\ntitle: t\ncategory: c\nparams: {paths: [p], colour: red}\n",
    );
    let o = kfcheck(&["--suite", d.path().to_str().unwrap(), "all"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains(
            "bad.yaml:5: check 'x': bad parameters for kind pipeline-lint: unknown field `colour`"
        ),
        "{}",
        stderr(&o)
    );
    let o = kfcheck(&["explain", "no-such-thing"]);
    assert_eq!(code(&o), 2);
    let o = kfcheck(&["run", "lint-sample-pipelines", "typo-check"]);
    assert_eq!(
        code(&o),
        2,
        "a typo in a CI gate must not pass: {}",
        stderr(&o)
    );
}

#[test]
fn exit_3_when_something_could_not_be_decided() {
    let files = tempfile::tempdir().unwrap();
    let bad = write(
        files.path(),
        "broken.yaml",
        "deploymentSpec:\n  executors: [\n",
    );
    let o = kfcheck(&["lint", bad.to_str().unwrap()]);
    let d = tempfile::tempdir().unwrap();
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    assert!(stdout(&o).contains("broken.yaml:"), "{}", stdout(&o));
    exec_check(d.path(), "slow", "1s", "sleep 30", None);
    exec_check(d.path(), "crash", "30s", "echo oops >&2; exit 7", None);
    let started = Instant::now();
    let o = kfcheck(&[
        "--suite",
        d.path().to_str().unwrap(),
        "run",
        "test",
        "-o",
        "json",
    ]);
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "timed-out plug-in was not killed"
    );
    assert_eq!(code(&o), 3);
    let doc = json(&o);
    let status = |id: &str| {
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()["status"]
            .clone()
    };
    assert_eq!(status("slow"), "timed_out");
    assert_eq!(status("crash"), "errored");
}

#[test]
fn exit_3_when_the_run_deadline_passes() {
    let d = tempfile::tempdir().unwrap();
    exec_check(d.path(), "slow", "60s", "sleep 30", None);
    let started = Instant::now();
    let o = kfcheck(&[
        "--suite",
        d.path().to_str().unwrap(),
        "--timeout",
        "1s",
        "run",
        "slow",
    ]);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(code(&o), 3);
    assert!(stderr(&o).contains("run deadline of 1s reached"));
}

#[test]
fn exit_4_when_nothing_is_selected() {
    // A name that matches nothing is a typo, bad usage (2) as the README says, even alone.
    let o = kfcheck(&["run", "no-such-category"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("no check or category named 'no-such-category'"));
    // Disable every default check by overriding it with `enabled: false`.
    let d = tempfile::tempdir().unwrap();
    let list = json(&kfcheck(&["list", "-o", "json"]));
    for c in list.as_array().unwrap() {
        let id = c["id"].as_str().unwrap();
        let origin = c["origin"]
            .as_str()
            .unwrap()
            .split(':')
            .next()
            .unwrap()
            .to_string();
        let text = std::fs::read_to_string(repo().join(&origin)).unwrap();
        write(
            d.path(),
            &format!("{id}.yaml"),
            &format!("{text}\nenabled: false\n"),
        );
    }
    assert_eq!(
        code(&kfcheck(&["--suite", d.path().to_str().unwrap(), "all"])),
        4
    );
    // Selected but all skipped proves nothing: could not decide, never ready.
    let o = kfcheck(&["run", "cluster"]);
    assert_eq!(code(&o), 3, "{}", stdout(&o));
}

fn spawn_kfcheck(args: &[&str]) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_kfcheck"))
        .args(args)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &std::process::Child, sig: &str) {
    assert!(std::process::Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .unwrap()
        .success());
}

#[test]
fn exit_130_on_ctrl_c_and_cleanup_still_runs() {
    // SIGTERM and SIGHUP too: a cancelled CI job, `timeout`, a pod or Job being terminated.
    for sig in ["INT", "TERM", "HUP"] {
        let d = tempfile::tempdir().unwrap();
        let marker = d.path().join("cleaned");
        let report = d.path().join("r.json");
        exec_check(
            d.path(),
            "slow",
            "60s",
            "sleep 30",
            Some(&format!("touch {}", marker.display())),
        );
        let child = spawn_kfcheck(&[
            "--suite",
            d.path().to_str().unwrap(),
            "run",
            "slow",
            "--report",
            &format!("json={}", report.display()),
        ]);
        std::thread::sleep(Duration::from_millis(800));
        signal(&child, sig);
        let started = Instant::now();
        let o = child.wait_with_output().unwrap();
        assert!(started.elapsed() < Duration::from_secs(10), "SIG{sig}");
        assert_eq!(code(&o), 130, "SIG{sig}: {}{}", stdout(&o), stderr(&o));
        assert!(marker.exists(), "cleanup did not run after SIG{sig}");
        assert!(stdout(&o).contains("Verdict: interrupted"), "SIG{sig}");
        assert!(
            std::fs::read_to_string(&report)
                .unwrap()
                .contains("\"interrupted\""),
            "SIG{sig}: the report is still written"
        );
    }
}

#[test]
fn a_hanging_cleanup_is_hurried_after_an_interrupt_and_abandoned_on_a_second() {
    // Cleanup that hangs (an endpoint that never answers): after one signal it gets at most 10 s,
    // after a second it is abandoned at once and reported as left behind.
    let d = tempfile::tempdir().unwrap();
    exec_check(d.path(), "slow", "60s", "sleep 30", Some("sleep 120"));
    let child = spawn_kfcheck(&[
        "--suite",
        d.path().to_str().unwrap(),
        "run",
        "slow",
        "-o",
        "json",
    ]);
    std::thread::sleep(Duration::from_millis(800));
    signal(&child, "INT");
    std::thread::sleep(Duration::from_millis(1500));
    signal(&child, "TERM");
    let started = Instant::now();
    let o = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a second signal must not wait for cleanup ({:?})",
        started.elapsed()
    );
    assert_eq!(code(&o), 130, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("cleanup abandoned after a second interrupt"),
        "{}",
        stdout(&o)
    );
    // One signal only: the hanging cleanup is cut at 10 s, not 60.
    let child = spawn_kfcheck(&[
        "--suite",
        d.path().to_str().unwrap(),
        "run",
        "slow",
        "-o",
        "json",
    ]);
    std::thread::sleep(Duration::from_millis(800));
    signal(&child, "INT");
    let started = Instant::now();
    let o = child.wait_with_output().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(code(&o), 130);
    assert!(
        stdout(&o).contains("cleanup failed") && stdout(&o).contains("timed out after 10s"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn huge_timeouts_full_devices_and_odd_report_paths_tell_the_truth() {
    // A timeout past what the clock can hold is no deadline, not a panic.
    let o = kfcheck(&["--timeout", "18446744073709551615s", "lint", PASS_DIR]);
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    // stdout on a full device: the report was not written, so the run cannot exit 0.
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_kfcheck"))
        .args(["lint", PASS_DIR])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot write the report to stdout"),
        "{}",
        stderr(&o)
    );
    // --report to a device: written through (an error for /dev/full), never replaced by a file.
    let o = kfcheck(&["lint", PASS_DIR, "--report", "json=/dev/full"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot write json report to /dev/full"),
        "{}",
        stderr(&o)
    );
    assert!(
        !std::fs::metadata("/dev/full").unwrap().is_file(),
        "/dev/full was replaced by a regular file"
    );
    let o = kfcheck(&["lint", PASS_DIR, "--report", "junit=/dev/null"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        !std::fs::metadata("/dev/null").unwrap().is_file(),
        "/dev/null was replaced by a regular file"
    );
    // --report junit=/dev/stdout, the CI idiom: the report arrives on stdout.
    let o = kfcheck(&["lint", PASS_DIR, "-q", "--report", "junit=/dev/stdout"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("<testsuites"), "{}", stdout(&o));
}

#[test]
fn unreadable_paths_conflicting_credentials_and_fifos_are_named_truly() {
    let d = tempfile::tempdir().unwrap();
    let fifo = d.path().join("fifo");
    assert!(std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let o = kfcheck(&["lint", "--owners", fifo.to_str().unwrap(), PASS_DIR]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("is a FIFO, not a regular file"),
        "{}",
        stderr(&o)
    );
    let o = kfcheck(&[
        "--kubeconfig",
        fifo.to_str().unwrap(),
        "run",
        "cluster",
        "-o",
        "json",
    ]);
    assert_eq!(code(&o), 3);
    assert!(
        stdout(&o).contains("is a FIFO, not a regular file"),
        "{}",
        stdout(&o)
    );
    let o = kfcheck(&["--kfp-token", "t", "--kfp-cookie", "c", "run", "kfp"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains(
            "conflicting KFP credentials: --kfp-token (or KFP_TOKEN), --kfp-cookie (or KFP_COOKIE)"
        ),
        "{}",
        stderr(&o)
    );
    assert!(
        !stderr(&o).contains(" t,") && !stderr(&o).contains("=c"),
        "values are never shown: {}",
        stderr(&o)
    );
}

#[test]
fn several_reports_from_one_run() {
    let d = tempfile::tempdir().unwrap();
    let j = d.path().join("r.json");
    let x = d.path().join("r.xml");
    let o = kfcheck(&[
        "lint",
        FAIL,
        "-o",
        "table",
        "--report",
        &format!("json={}", j.display()),
        "--report",
        &format!("junit={}", x.display()),
    ]);
    assert_eq!(code(&o), 1);
    assert!(stdout(&o).contains("Verdict: not-ready"));
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&j).unwrap()).unwrap();
    assert_eq!(doc["exit_code"], 1);
    assert_eq!(
        doc["checks"][0]["findings"][0]["rule"],
        "limit-below-request"
    );
    let xml = std::fs::read_to_string(&x).unwrap();
    assert!(
        xml.contains("<testcase name=\"lint\"") && xml.contains("<failure"),
        "{xml}"
    );
    // An unwritable report path is an error, not a silent loss.
    let o = kfcheck(&["lint", PASS_DIR, "--report", "json=/nonexistent-dir/r.json"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("cannot write json report to /nonexistent-dir/r.json"));
}

#[test]
fn json_output_validates_against_the_committed_schema() {
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schema/report.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let files = tempfile::tempdir().unwrap();
    let broken = write(files.path(), "broken.yaml", "a: [\n");
    let d = tempfile::tempdir().unwrap();
    exec_check(d.path(), "slow", "1s", "sleep 10", None);
    let runs = [
        kfcheck(&["all", "-o", "json"]),
        kfcheck(&[
            "lint",
            "fixtures/pipelines",
            broken.to_str().unwrap(),
            "-o",
            "json",
        ]),
        kfcheck(&["--suite", d.path().to_str().unwrap(), "all", "-o", "json"]),
        kfcheck(&[
            "--kubeconfig",
            "/nonexistent",
            "run",
            "nothing",
            "-o",
            "json",
        ]),
    ];
    for o in runs {
        let doc = json(&o);
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{e} at {}", e.instance_path))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
        assert_eq!(doc["exit_code"].as_i64().unwrap(), code(&o) as i64);
    }
}

#[test]
fn lint_reads_a_pipeline_from_standard_input() {
    use std::io::Write;
    let lint = |text: &[u8], extra: &[&str]| {
        let mut child = kfcheck_command(&repo())
            .args(["lint", "-", "-o", "json"])
            .args(extra)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(text).unwrap();
        child.wait_with_output().unwrap()
    };
    let failing = std::fs::read(repo().join(FAIL)).unwrap();
    let o = lint(&failing, &[]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let doc = json(&o);
    assert_eq!(
        doc["checks"][0]["findings"][0]["subject"]["file"], "-",
        "{doc:#}"
    );
    let passing = std::fs::read(repo().join(PASS_DIR).join("cpu-train-evaluate.yaml")).unwrap();
    assert_eq!(code(&lint(&passing, &[])), 0);
    // Named twice, read once; nothing on stdin is not a pass; neither is a non-pipeline.
    assert_eq!(code(&lint(&passing, &["-"])), 0);
    assert_eq!(code(&lint(b"", &[])), 3);
    assert_eq!(code(&lint(b"kind: Kustomization\n", &[])), 3);
}

#[test]
fn lint_of_a_real_repository_judges_its_pipelines_and_notes_the_rest() {
    // A pipelines repository: compiled pipelines beside CI configs, kustomizations, a
    // package.json and an empty file; hidden directories (.github) are never walked.
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    for dir in ["pipelines", "manifests", "ci", ".github/workflows"] {
        std::fs::create_dir_all(p.join(dir)).unwrap();
    }
    std::fs::copy(
        repo().join(PASS_DIR).join("cpu-train-evaluate.yaml"),
        p.join("pipelines/good.yaml"),
    )
    .unwrap();
    write(
        p,
        "manifests/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [a.yaml]\n",
    );
    write(p, "ci/build.yml", "name: build\non: [push]\njobs: {}\n");
    write(p, ".github/workflows/ci.yml", "name: ci\n");
    write(p, "package.json", "{\"name\": \"x\"}\n");
    write(p, "empty.yaml", "");
    let dir = p.to_str().unwrap();
    let o = kfcheck(&["lint", dir, "-o", "json"]);
    assert_eq!(code(&o), 0, "the pipelines' verdict: {}", stdout(&o));
    let notes = json(&o)["checks"][0]["notes"].to_string();
    assert!(
        notes.contains("inspected 1 pipeline file(s)")
            && notes.contains("skipped 4 that are not pipelines"),
        "{notes}"
    );
    assert!(
        notes.contains("kustomization.yaml: found kustomize.config.k8s.io/v1beta1 Kustomization"),
        "{notes}"
    );
    // A failing pipeline still fails; a broken one (malformed YAML) is still undecided.
    std::fs::copy(repo().join(FAIL), p.join("pipelines/bad.yaml")).unwrap();
    assert_eq!(code(&kfcheck(&["lint", dir])), 1);
    write(p, "pipelines/broken.yaml", "root:\n  dag: {tasks: [\n");
    let o = kfcheck(&["lint", dir, "-o", "json"]);
    assert_eq!(
        json(&o)["checks"][0]["problems"].as_array().unwrap().len(),
        1,
        "{}",
        stdout(&o)
    );
    // --exclude leaves files and whole directories out; a file named explicitly that is no
    // pipeline is a problem (it was asked for).
    let o = kfcheck(&[
        "lint",
        dir,
        "--exclude",
        "pipelines/b*",
        "--exclude",
        "ci/**",
        "--exclude",
        "package.json",
        "-o",
        "json",
    ]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let notes = json(&o)["checks"][0]["notes"].to_string();
    assert!(
        notes.contains("skipped 2 that are not pipelines"),
        "{notes}"
    );
    let named = p.join("manifests/kustomization.yaml");
    assert_eq!(code(&kfcheck(&["lint", named.to_str().unwrap()])), 3);
    // --strict: the files that are no pipeline cannot be decided.
    assert_eq!(
        code(&kfcheck(&[
            "lint",
            dir,
            "--exclude",
            "pipelines/b*",
            "--strict"
        ])),
        3
    );
    // A directory of nothing but non-pipelines proves nothing.
    let only = tempfile::tempdir().unwrap();
    write(only.path(), "kustomization.yaml", "kind: Kustomization\n");
    assert_eq!(code(&kfcheck(&["lint", only.path().to_str().unwrap()])), 3);
    assert_eq!(
        code(&kfcheck(&["lint", dir, "--exclude", "["])),
        2,
        "a bad glob is a usage error"
    );
}

#[test]
fn a_repository_config_suppresses_a_rule_for_a_pipeline_or_task_with_its_reason() {
    // A repository (.git) with a failing pipeline and a .kfcheck.yaml at its root; kfcheck is
    // run from elsewhere on a subdirectory, so the config is found by walking up.
    let d = tempfile::tempdir().unwrap();
    let repo_dir = d.path().join("repo");
    std::fs::create_dir_all(repo_dir.join(".git")).unwrap();
    std::fs::create_dir_all(repo_dir.join("pipelines")).unwrap();
    std::fs::copy(repo().join(FAIL), repo_dir.join("pipelines/bad.yaml")).unwrap();
    let dir = repo_dir.join("pipelines");
    let dir = dir.to_str().unwrap();
    assert_eq!(code(&kfcheck(&["lint", dir])), 1, "fails without a config");

    // Another task of the same pipeline: nothing suppressed, and the note says so.
    let cfg = write(
        &repo_dir,
        ".kfcheck.yaml",
        "lint:\n  suppress:\n    - rule: limit-below-request\n      pipeline: limit-below-*\n      task: train\n      reason: the trainer sets its own limits\n",
    );
    let o = kfcheck(&["lint", dir, "-o", "json"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        json(&o)["checks"][0]["notes"]
            .to_string()
            .contains("matched no finding in this run"),
        "{}",
        stdout(&o)
    );

    // The task that has the finding: suppressed, reported apart with its reason and line.
    write(
        &repo_dir,
        ".kfcheck.yaml",
        "# accepted findings\nlint:\n  suppress:\n    - rule: limit-below-request\n      pipeline: limit-below-*\n      task: prepare-*\n      reason: prepare-data bursts on purpose (ticket ML-42)\n",
    );
    let o = kfcheck(&["lint", dir, "-o", "json"]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let check = &json(&o)["checks"][0];
    assert_eq!(check["findings"].as_array().unwrap().len(), 0, "{check:#}");
    let s = &check["suppressed"][0];
    assert_eq!(s["finding"]["rule"], "limit-below-request");
    assert_eq!(s["finding"]["subject"]["name"], "prepare-data");
    assert_eq!(s["reason"], "prepare-data bursts on purpose (ticket ML-42)");
    assert_eq!(s["by"], format!("{}:4", cfg.display()));
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schema/report.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    assert!(validator.is_valid(&json(&o)), "{}", stdout(&o));
    let table = stdout(&kfcheck(&["lint", dir]));
    assert!(
        table.contains("Suppressed by repository config (1)")
            && table.contains("suppressed: prepare-data bursts on purpose (ticket ML-42)"),
        "{table}"
    );
    // By the file's path (relative to the config) instead of the pipeline's name.
    write(
        &repo_dir,
        ".kfcheck.yaml",
        "lint:\n  suppress:\n    - rule: limit-below-request\n      pipeline: pipelines/bad.yaml\n      reason: r\n",
    );
    assert_eq!(code(&kfcheck(&["lint", dir])), 0);
    // --no-config: every finding counts. Expired: counts again, and a note says so.
    assert_eq!(code(&kfcheck(&["lint", dir, "--no-config"])), 1);
    write(
        &repo_dir,
        ".kfcheck.yaml",
        "lint:\n  suppress:\n    - rule: limit-below-request\n      reason: r\n      expires: 2020-01-31\n",
    );
    let o = kfcheck(&["lint", dir, "-o", "json"]);
    assert_eq!(code(&o), 1);
    assert!(
        stdout(&o).contains("expired on 2020-01-31; its findings count again"),
        "{}",
        stdout(&o)
    );
    // A broken config cannot decide (exit 3) and names itself and the line; named with
    // --config it is bad usage (exit 2). Its files' findings still stand.
    write(
        &repo_dir,
        ".kfcheck.yaml",
        "lint:\n  suppress:\n    - rule: limit-below-requests\n      reason: typo\n",
    );
    let o = kfcheck(&["lint", dir, "-o", "json"]);
    assert_eq!(code(&o), 1, "the finding stands: {}", stdout(&o));
    let problems = json(&o)["checks"][0]["problems"].to_string();
    assert!(
        problems.contains("unknown rule 'limit-below-requests'") && problems.contains("\"line\":3"),
        "{problems}"
    );
    let good = write(
        d.path(),
        "elsewhere.yaml",
        "lint:\n  suppress:\n    - rule: limit-below-request\n      reason: r\n",
    );
    let o = kfcheck(&["lint", dir, "--config", good.to_str().unwrap()]);
    assert_eq!(
        code(&o),
        0,
        "--config replaces the discovered one: {}",
        stdout(&o)
    );
    let o = kfcheck(&["lint", dir, "--config", cfg.to_str().unwrap()]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("unknown rule"), "{}", stderr(&o));
}

#[test]
fn history_diff_and_the_baseline_gate() {
    // One exec check whose result a state file decides: pass, warn or fail.
    let d = tempfile::tempdir().unwrap();
    let suite = d.path().join("suite");
    let state = d.path().join("state");
    let hist = d.path().join("history");
    std::fs::create_dir_all(&suite).unwrap();
    let plug = write(
        d.path(),
        "plug.sh",
        &format!(
            "case $(cat {}) in\n  pass) echo '{{\"findings\": []}}' ;;\n  warn) echo '{{\"findings\": [{{\"rule\": \"slow\", \"severity\": \"warning\", \"message\": \"slow disk\", \"remediation\": \"Fix it.\"}}]}}' ;;\n  *) echo '{{\"findings\": [{{\"rule\": \"down\", \"severity\": \"error\", \"message\": \"down\", \"remediation\": \"Fix it.\"}}]}}' ;;\nesac\n",
            state.display()
        ),
    );
    write_exec_check(
        &suite,
        "probe",
        "10s",
        &format!("[sh, {}]", plug.display()),
        None,
    );
    let run = |mode: &str, extra: &[&str]| {
        std::fs::write(&state, mode).unwrap();
        let mut args = vec![
            "--suite",
            suite.to_str().unwrap(),
            "--history",
            hist.to_str().unwrap(),
            "run",
            "probe",
        ];
        args.extend_from_slice(extra);
        kfcheck(&args)
    };
    // No good run kept yet: the gate says so and the verdict stands.
    let o = run("pass", &["--baseline", "last-good"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("nothing to compare with"),
        "{}",
        stderr(&o)
    );
    // A warning alone is ready (exit 0, see exit_1_when_a_check_fails_and_fail_on_warning);
    // against the last good run it is a regression (exit 1).
    let o = run("warn", &["--baseline", "last-good"]);
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("1 regression(s) against the baseline")
            && stderr(&o).contains("probe passed -> warned"),
        "{}",
        stderr(&o)
    );
    // That gated run is kept as not ready, so last-good is still the first run.
    let o = run("pass", &["--baseline", "last-good"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stderr(&o).contains("no regression"), "{}", stderr(&o));
    run("fail", &[]);

    // history lists the four runs, oldest first.
    let o = kfcheck(&["history", hist.to_str().unwrap(), "-o", "json"]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let runs = json(&o)["runs"].as_array().unwrap().clone();
    let verdicts: Vec<&str> = runs
        .iter()
        .map(|r| r["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["ready", "not-ready", "ready", "not-ready"]);
    let table = stdout(&kfcheck(&["history", hist.to_str().unwrap()]));
    assert!(table.contains("4 run(s) in"), "{table}");

    // diff: the first run against the last; by file and by reference.
    let first = runs[0]["file"].as_str().unwrap();
    let o = kfcheck(&["--history", hist.to_str().unwrap(), "diff", first, "last"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("regressed   probe  passed -> failed"),
        "{}",
        stdout(&o)
    );
    let o = kfcheck(&[
        "--history",
        hist.to_str().unwrap(),
        "diff",
        "last-good",
        "last-good",
        "-o",
        "json",
    ]);
    assert_eq!(code(&o), 0);
    assert_eq!(json(&o)["regressions"], 0);
    // Bad references are usage errors, said truly.
    let o = kfcheck(&["diff", "nope.json", "last"]);
    assert_eq!(code(&o), 2);
    assert!(stderr(&o).contains("need --history DIR"), "{}", stderr(&o));
    let not_report = write(d.path(), "x.json", "{\"a\": 1}");
    let o = kfcheck(&["diff", not_report.to_str().unwrap(), first]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("not a kfcheck JSON report"),
        "{}",
        stderr(&o)
    );
    // --history-keep prunes to the newest N.
    run("pass", &["--history-keep", "2"]);
    let o = kfcheck(&["history", hist.to_str().unwrap(), "-o", "json"]);
    assert_eq!(json(&o)["runs"].as_array().unwrap().len(), 2);
    // A history that cannot be written: a ready run exits 2 and says why.
    let blocked = write(d.path(), "blocked", "a file, not a directory");
    let o = kfcheck(&[
        "--suite",
        suite.to_str().unwrap(),
        "--history",
        blocked.to_str().unwrap(),
        "run",
        "probe",
    ]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--history"), "{}", stderr(&o));
}

#[test]
fn bad_input_files_each_get_one_line_and_the_rest_is_inspected() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    std::fs::copy(repo().join(FAIL), p.join("good-but-failing.yaml")).unwrap();
    write(p, "empty.yaml", "");
    std::fs::write(p.join("binary.yaml"), [0u8, 1, 2, 0xff, 0xfe]).unwrap();
    write(p, "malformed.yaml", "root:\n  dag: {tasks: [\n");
    write(
        p,
        "deep.yaml",
        &format!("root: {}1{}\n", "[".repeat(3000), "]".repeat(3000)),
    );
    write(
        p,
        "not-a-pipeline.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n",
    );
    let big = std::fs::File::create(p.join("huge.yaml")).unwrap();
    big.set_len(50_000_000).unwrap();
    std::os::unix::fs::symlink(p.join("gone.yaml"), p.join("dangling.yaml")).unwrap();
    // --strict: files that are no pipeline are problems too (by default they are skipped, see
    // lint_of_a_real_repository_judges_its_pipelines_and_notes_the_rest).
    let o = kfcheck(&["lint", p.to_str().unwrap(), "--strict", "-o", "json"]);
    let doc = json(&o);
    assert_eq!(code(&o), 1, "a failing finding outranks undecided files");
    let problems = doc["checks"][0]["problems"].as_array().unwrap();
    let msg = |f: &str| -> String {
        problems
            .iter()
            .find(|x| x["subject"]["file"].as_str().unwrap().ends_with(f))
            .unwrap_or_else(|| panic!("no problem for {f}: {problems:#?}"))["message"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(msg("empty.yaml"), "empty file");
    assert!(msg("binary.yaml").contains("binary file"));
    assert!(msg("malformed.yaml").starts_with("malformed YAML"));
    assert!(msg("deep.yaml").starts_with("malformed YAML"));
    assert!(
        msg("not-a-pipeline.yaml").contains("not a compiled pipeline (found apps/v1 Deployment)")
    );
    assert!(msg("huge.yaml").contains("50.0 MB, over the 32 MiB limit"));
    assert!(msg("dangling.yaml").contains("no such file"));
    assert_eq!(problems.len(), 7);
    for pr in problems {
        assert!(
            !pr["message"].as_str().unwrap().contains('\n'),
            "one line each: {pr}"
        );
    }
    assert!(doc["checks"][0]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule"] == "limit-below-request"));
    // Without the failing file the verdict is "could not decide".
    std::fs::remove_file(p.join("good-but-failing.yaml")).unwrap();
    assert_eq!(code(&kfcheck(&["lint", p.to_str().unwrap()])), 3);
}

#[test]
fn a_directory_with_thousands_of_files() {
    let d = tempfile::tempdir().unwrap();
    let sample =
        std::fs::read_to_string(repo().join("checks/pipelines/kfcheck-cpu-sample.yaml")).unwrap();
    for i in 0..3000 {
        std::fs::write(d.path().join(format!("p{i:04}.yaml")), &sample).unwrap();
    }
    let o = kfcheck(&["lint", d.path().to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("inspected 3000 pipeline file(s)"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn findings_go_to_owners() {
    let d = tempfile::tempdir().unwrap();
    let root = d.path();
    std::fs::create_dir_all(root.join("team-a")).unwrap();
    std::fs::create_dir_all(root.join("team-b")).unwrap();
    std::fs::copy(repo().join(FAIL), root.join("team-a/p.yaml")).unwrap();
    std::fs::copy(repo().join(WARN_ONLY), root.join("team-b/q.yaml")).unwrap();
    let owners = write(root, "CODEOWNERS", "/team-a/ @alice\n");
    let o = kfcheck(&[
        "lint",
        "--owners",
        owners.to_str().unwrap(),
        root.to_str().unwrap(),
        "--by-owner",
    ]);
    let out = stdout(&o);
    assert!(out.contains("Findings for @alice (1)"), "{out}");
    assert!(out.contains("Findings for unknown (1)"), "{out}");
    // The YAML is never edited.
    assert_eq!(
        std::fs::read(root.join("team-a/p.yaml")).unwrap(),
        std::fs::read(repo().join(FAIL)).unwrap()
    );
}

#[test]
fn list_explain_completions_and_man() {
    let o = kfcheck(&["list"]);
    assert_eq!(code(&o), 0);
    assert!(stdout(&o).contains("lint-sample-pipelines"));
    let o = kfcheck(&["explain", "pipeline-lint"]);
    assert!(stdout(&o).contains("gpu-without-placement (warning)"));
    let o = kfcheck(&["explain", "accelerator-type-invalid"]);
    assert!(stdout(&o).contains("Why it matters"));
    let o = kfcheck(&["explain", "lint-sample-pipelines"]);
    assert!(
        stdout(&o).contains("Defined at: checks/lint-sample-pipelines.yaml:1"),
        "{}",
        stdout(&o)
    );
    // Every finding rule a kind reports is explained too, with the kinds that report it.
    let o = kfcheck(&["explain", "gpu-node-unlabelled"]);
    assert_eq!(code(&o), 0);
    assert!(
        stdout(&o).starts_with(
            "Finding rule gpu-node-unlabelled of kind gpu-inventory (default severity warning)"
        ),
        "{}",
        stdout(&o)
    );
    let o = kfcheck(&["explain", "run-failed"]);
    assert!(
        stdout(&o).contains("of kinds kfp-installed-samples, pipeline-run"),
        "{}",
        stdout(&o)
    );
    let o = kfcheck(&["explain", "gpu-inventory"]);
    assert!(
        stdout(&o).contains("no-gpu-nodes (error): no node advertises gpus"),
        "{}",
        stdout(&o)
    );
    // A near miss is named.
    let o = kfcheck(&["explain", "gpu-invntory"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("did you mean 'gpu-inventory'?"),
        "{}",
        stderr(&o)
    );
    let o = kfcheck(&["run", "kfp-cpu-smaple"]);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains(
            "no check or category named 'kfp-cpu-smaple' (did you mean 'kfp-cpu-sample'?"
        ),
        "{}",
        stderr(&o)
    );
    // An old kind name explains the kind it became.
    let o = kfcheck(&["explain", "kfp-sample-run"]);
    assert!(
        stdout(&o).starts_with("Kind pipeline-run"),
        "{}",
        stdout(&o)
    );
    let o = kfcheck(&["completions", "bash"]);
    assert!(stdout(&o).contains("_kfcheck()"));
    // Completions know the check ids, categories, kinds and rules (bash and zsh; clap's fish
    // generator completes no positional values).
    for shell in ["bash", "zsh"] {
        let script = stdout(&kfcheck(&["completions", shell]));
        for name in [
            "kfp-cpu-sample",
            "pipelines",
            "pipeline-run",
            "gpu-node-unlabelled",
            "image-unpinned=error",
        ] {
            assert!(script.contains(name), "{shell} completions lack {name}");
        }
    }
    // ... while parsing still takes any id (a --suite directory's own).
    let o = kfcheck(&["run", "not-in-the-default-suite"]);
    assert!(
        stderr(&o).contains("no check or category named 'not-in-the-default-suite'"),
        "{}",
        stderr(&o)
    );
    let o = kfcheck(&["man"]);
    assert!(stdout(&o).contains(".TH kfcheck"));
    // Every page kfcheck(1) refers to exists: `kfcheck man SUBCOMMAND`.
    let main = stdout(&o);
    for sub in [
        "all",
        "run",
        "list",
        "explain",
        "lint",
        "cleanup",
        "probe",
        "local-run",
        "parity",
    ] {
        assert!(
            main.contains(&format!("kfcheck\\-{}(1)", sub.replace('-', "\\-"))),
            "{sub}"
        );
        let page = kfcheck(&["man", sub]);
        assert_eq!(code(&page), 0, "{sub}");
        assert!(
            stdout(&page).contains(&format!(".TH kfcheck-{sub} 1")),
            "{sub}: {}",
            stdout(&page)
        );
    }
    assert_eq!(code(&kfcheck(&["man", "nope"])), 2);
}

#[test]
fn help_shows_a_subcommands_own_options_first_and_the_global_ones_apart() {
    let help = stdout(&kfcheck(&["lint", "--help"]));
    let own = help.find("--exclude").expect("lint's own option");
    let global = help
        .find("Global options:")
        .expect("a heading for the global options");
    let kubeconfig = help.find("--kubeconfig <PATH>").expect("a global option");
    assert!(own < global && global < kubeconfig, "{help}");
    assert!(help.contains("KFP API:"), "{help}");
}

#[test]
fn every_subcommand_honours_or_refuses_its_output_format() {
    assert_eq!(code(&kfcheck(&["list", "-o", "json"])), 0);
    for (args, says) in [
        (
            &["list", "-o", "junit"][..],
            "-o junit: `kfcheck list` writes table or json only",
        ),
        (
            &["explain", "gpu-inventory", "-o", "json"],
            "-o json: `kfcheck explain` writes table only",
        ),
        (
            &["man", "-o", "json"],
            "-o json: `kfcheck man` writes table only",
        ),
        (
            &["cleanup", "--dry-run", "-o", "junit"],
            "`kfcheck cleanup` writes table only",
        ),
    ] {
        let o = kfcheck(args);
        assert_eq!(code(&o), 2, "{args:?}");
        assert!(stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn at_100_columns_no_line_is_wider_than_the_terminal() {
    for args in [
        &["all"][..],
        &["list"],
        &["explain", "gpu-inventory"],
        &["explain", "pipeline-run"],
        &["explain", "accelerator-type-invalid"],
        &["lint", FAIL],
    ] {
        let o = kfcheck_command(&repo())
            .args(args)
            .env("COLUMNS", "100")
            .output()
            .unwrap();
        let out = stdout(&o);
        assert!(out.lines().count() > 2, "{args:?}: {out}");
        for line in out.lines() {
            assert!(
                line.chars().count() <= 100,
                "{args:?}: {} columns: {line}",
                line.chars().count()
            );
        }
    }
    // Without a terminal or COLUMNS (a pipe, a file), lines are whole.
    let o = kfcheck(&["all"]);
    assert!(
        stdout(&o).lines().any(|l| l.chars().count() > 100),
        "{}",
        stdout(&o)
    );
}

#[test]
fn colour_is_only_an_extra() {
    let o = kfcheck(&["lint", FAIL, "--color", "always"]);
    assert!(stdout(&o).contains("\u{1b}["));
    assert!(stdout(&o).contains("failed"), "status stays a word");
    let o = kfcheck(&["lint", FAIL]);
    assert!(
        !stdout(&o).contains("\u{1b}["),
        "NO_COLOR and pipes get plain text"
    );
}

#[test]
fn needs_missing_skip_but_broken_or_required_cannot_decide() {
    let o = kfcheck(&["all", "-o", "json"]);
    let doc = json(&o);
    // Skipped for want of a cluster: nothing was proven about one, so never ready.
    assert_eq!(code(&o), 3);
    let needs = doc["needs"].as_array().unwrap();
    let kube = needs.iter().find(|n| n["name"] == "kube").unwrap();
    assert_eq!(kube["state"], "missing");
    assert!(kube["detail"]
        .as_str()
        .unwrap()
        .starts_with("no kubeconfig found"));
    // An explicitly named kubeconfig that is wrong is an error, not a skip.
    let d = tempfile::tempdir().unwrap();
    let bad = write(d.path(), "kubeconfig", "apiVersion: v1\nclusters: [\n");
    let o = kfcheck(&["--kubeconfig", bad.to_str().unwrap(), "run", "cluster"]);
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    assert!(
        stdout(&o).contains("cannot read kubeconfig"),
        "{}",
        stdout(&o)
    );
    // A CI gate can insist on the cluster.
    let o = kfcheck(&["--require", "kube", "run", "cluster"]);
    assert_eq!(code(&o), 3);
    assert!(
        stdout(&o).contains("required by --require kube"),
        "{}",
        stdout(&o)
    );
    // A server that does not answer: one clear reason, no credential in it.
    let cfg = write(
        d.path(),
        "unreachable",
        "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: x\n  cluster: {server: 'https://127.0.0.1:1'}\ncontexts:\n- name: c\n  context: {cluster: x, user: u}\nusers:\n- name: u\n  user: {token: secret-token-value}\n",
    );
    let o = kfcheck(&[
        "--kubeconfig",
        cfg.to_str().unwrap(),
        "run",
        "cluster",
        "-o",
        "json",
    ]);
    assert_eq!(code(&o), 3);
    let text = stdout(&o);
    assert!(
        text.contains("cannot reach the Kubernetes API at https://127.0.0.1:1/"),
        "{text}"
    );
    assert!(!text.contains("secret-token-value"));
}

#[test]
fn probe_storage_against_a_silent_endpoint_ends_within_its_timeout() {
    // Accepts connections, never answers.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        let held: Vec<_> = l.incoming().take(16).collect();
        std::thread::sleep(Duration::from_secs(120));
        drop(held);
    });
    let started = Instant::now();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_kfcheck"))
        .args([
            "--timeout",
            "3s",
            "probe",
            "storage",
            "--bucket",
            "b",
            "--no-metadata",
        ])
        .env("STORAGE_EMULATOR_HOST", addr.to_string())
        .output()
        .unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(code(&o), 3, "{}{}", stdout(&o), stderr(&o));
    let line = json(&o);
    assert_eq!(line["status"], "errored", "{line}");
    assert_eq!(line["error"]["class"], "timeout", "{line}");
}
