//! The `exec` plug-in kind against real plug-in processes: exit codes and signals, process
//! groups swept after a timeout or a normal exit, bounded output, and plug-in text that never
//! reaches a report raw (secrets, escape sequences, forged lines). Runs the real binary.

mod common;
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// Writes `<id>.sh` (the plug-in) and `<id>.yaml` (its check) into the suite `dir`.
fn plugin(dir: &Path, id: &str, timeout: &str, script: &str, cleanup: Option<&str>) {
    write(dir, &format!("{id}.sh"), script);
    write_exec_check(dir, id, timeout, &format!("[sh, ./{id}.sh]"), cleanup);
}

fn run_json(dir: &Path, id: &str) -> (std::process::Output, serde_json::Value) {
    let o = kfcheck(&["--suite", dir.to_str().unwrap(), "run", id, "-o", "json"]);
    let doc = json(&o);
    let check = check(&doc, id).clone();
    (o, check)
}

fn read_pid(path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Ok(p) = std::fs::read_to_string(path) {
            if !p.trim().is_empty() {
                return p.trim().to_string();
            }
        }
        assert!(
            Instant::now() < deadline,
            "the plug-in never wrote {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn gone_soon(pid: &str) -> bool {
    let deadline = Instant::now() + Duration::from_secs(3);
    while alive(pid) {
        if Instant::now() > deadline {
            let _ = std::process::Command::new("kill")
                .args(["-9", pid])
                .status();
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    true
}

#[test]
fn a_valid_result_then_a_non_zero_exit_is_could_not_decide() {
    let d = tempfile::tempdir().unwrap();
    plugin(
        d.path(),
        "late-crash",
        "30s",
        "echo '{\"findings\": []}'\necho 'lost the API server' >&2\nexit 3\n",
        None,
    );
    let (o, check) = run_json(d.path(), "late-crash");
    assert_eq!(code(&o), 3, "{check}");
    assert_eq!(check["status"], "errored", "{check}");
    let reason = check["reason"].as_str().unwrap();
    assert!(
        reason.contains("exit status 3") && reason.contains("lost the API server"),
        "{reason}"
    );

    plugin(
        d.path(),
        "killed",
        "30s",
        "echo '{\"findings\": []}'\nkill -KILL $$\n",
        None,
    );
    let (_, check) = run_json(d.path(), "killed");
    assert_eq!(check["status"], "errored", "{check}");
    assert!(
        check["reason"].as_str().unwrap().contains("signal 9"),
        "{check}"
    );

    // Findings that fail the check still fail it; the exit is kept as an undecided item.
    let failing = r#"{"findings": [{"rule": "r", "message": "m", "severity": "error"}]}"#;
    plugin(
        d.path(),
        "fail-and-exit",
        "30s",
        &format!("echo '{failing}'\nexit 1\n"),
        None,
    );
    let (o, check) = run_json(d.path(), "fail-and-exit");
    assert_eq!(code(&o), 1, "{check}");
    assert_eq!(check["status"], "failed", "{check}");
}

#[test]
fn a_timed_out_plug_in_takes_its_children_along_and_cleanup_still_runs() {
    let d = tempfile::tempdir().unwrap();
    let pidfile = d.path().join("child.pid");
    let marker = d.path().join("cleaned");
    let script = format!("sleep 300 &\necho $! > {}\nsleep 300\n", pidfile.display());
    plugin(
        d.path(),
        "forks",
        "1s",
        &script,
        Some(&format!("touch {}", marker.display())),
    );
    let started = Instant::now();
    let (o, check) = run_json(d.path(), "forks");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(code(&o), 3, "{check}");
    assert_eq!(check["status"], "timed_out", "{check}");
    let pid = read_pid(&pidfile);
    assert!(
        gone_soon(&pid),
        "the plug-in's child {pid} survived the timeout"
    );
    assert!(marker.exists(), "the cleanup command did not run");
}

#[test]
fn ctrl_c_takes_the_plug_in_s_children_along_and_cleanup_still_runs() {
    let d = tempfile::tempdir().unwrap();
    let pidfile = d.path().join("child.pid");
    let marker = d.path().join("cleaned");
    let script = format!(
        "sleep 300 >/dev/null 2>&1 &\necho $! > {}\nsleep 300\n",
        pidfile.display()
    );
    plugin(
        d.path(),
        "interrupted",
        "60s",
        &script,
        Some(&format!("touch {}", marker.display())),
    );
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_kfcheck"))
        .args(["--suite", d.path().to_str().unwrap(), "run", "interrupted"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = read_pid(&pidfile);
    assert!(std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap()
        .success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(code(&o), 130, "{}{}", stdout(&o), stderr(&o));
    assert!(gone_soon(&pid), "the plug-in's child {pid} survived Ctrl-C");
    assert!(marker.exists(), "the cleanup command did not run");
}

#[test]
fn children_left_behind_by_a_finished_plug_in_are_stopped() {
    let d = tempfile::tempdir().unwrap();
    let pidfile = d.path().join("child.pid");
    // Detached from the pipes, so only the process group can find it.
    let script = format!(
        "sleep 300 >/dev/null 2>&1 &\necho $! > {}\necho '{{}}'\n",
        pidfile.display()
    );
    plugin(d.path(), "leaves-a-child", "30s", &script, None);
    let (_, check) = run_json(d.path(), "leaves-a-child");
    assert_eq!(check["status"], "passed", "{check}");
    let pid = read_pid(&pidfile);
    assert!(
        gone_soon(&pid),
        "the plug-in's child {pid} outlived the check"
    );
}

#[test]
fn a_child_holding_stdout_open_does_not_hold_the_check() {
    let d = tempfile::tempdir().unwrap();
    let pidfile = d.path().join("child.pid");
    let script = format!(
        "sleep 300 &\necho $! > {}\necho '{{}}'\n",
        pidfile.display()
    );
    plugin(d.path(), "child-holds-stdout", "20s", &script, None);
    let started = Instant::now();
    let (_, check) = run_json(d.path(), "child-holds-stdout");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(check["status"], "passed", "{check}");
    assert!(gone_soon(&read_pid(&pidfile)));
}

#[test]
fn endless_stdout_is_cut_at_the_limit_and_reported() {
    let d = tempfile::tempdir().unwrap();
    plugin(d.path(), "chatty", "20s", "exec yes\n", None);
    let started = Instant::now();
    let (o, check) = run_json(d.path(), "chatty");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(code(&o), 3, "{check}");
    assert_eq!(check["status"], "errored", "{check}");
    let reason = check["reason"].as_str().unwrap();
    assert!(
        reason.contains("plug-in wrote more than 1 MiB on stdout"),
        "{reason}"
    );
}

#[test]
fn endless_stderr_keeps_only_a_tail() {
    let d = tempfile::tempdir().unwrap();
    // 256 MiB of stderr, then a last line; kfcheck's peak memory is read from the plug-in's side.
    let hwm = d.path().join("hwm");
    let script = format!(
        "head -c 268435456 /dev/zero | tr '\\0' x >&2\necho >&2\necho 'the last words' >&2\ngrep VmHWM /proc/$PPID/status > {}\nexit 1\n",
        hwm.display()
    );
    plugin(d.path(), "noisy", "60s", &script, None);
    let (_, check) = run_json(d.path(), "noisy");
    assert_eq!(check["status"], "errored", "{check}");
    let reason = check["reason"].as_str().unwrap();
    assert!(
        reason.contains("the last words") && reason.len() < 4096,
        "{}",
        &reason[..reason.len().min(300)]
    );
    let kb: u64 = std::fs::read_to_string(&hwm)
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        kb < 128 * 1024,
        "kfcheck's peak memory reached {kb} kB while the plug-in wrote 256 MiB on stderr"
    );
}

const CANARY: &str = "CANARYs3cr3tXq9";

#[test]
fn a_secret_and_escapes_from_a_plug_in_reach_no_report() {
    let d = tempfile::tempdir().unwrap();
    let finding = format!(
        r#"{{"findings": [{{"rule": "leaky", "message": "ok\r\u001b[2K\nVerdict: ready token={CANARY}", "severity": "error", "subject": {{"kind": "endpoint", "name": "https://u:{CANARY}@h/"}}, "evidence": {{"header": "Authorization: Bearer {CANARY}"}}, "remediation": "Rotate password: {CANARY}."}}], "notes": ["password={CANARY}"]}}"#
    );
    plugin(
        d.path(),
        "leaky-finding",
        "30s",
        &format!("cat <<'EOF'\n{finding}\nEOF\necho 'client_secret: {CANARY}' >&2\n"),
        None,
    );
    let error = format!(r#"{{"error": "login failed with Bearer {CANARY}"}}"#);
    plugin(
        d.path(),
        "leaky-error",
        "30s",
        &format!("echo 'password: {CANARY}' >&2\ncat <<'EOF'\n{error}\nEOF\n"),
        None,
    );
    plugin(d.path(), "leaky-stderr", "30s", &format!("printf '\\033[2J-----BEGIN PRIVATE KEY-----\\n{CANARY}\\n-----END PRIVATE KEY-----\\nset-cookie: s={CANARY}\\n' >&2\nexit 4\n"), None);
    let suite = d.path().to_str().unwrap();
    let junit = d.path().join("r.xml");
    let json_report = d.path().join("r.json");
    let table = kfcheck(&["--suite", suite, "run", "test", "-o", "table", "--verbose"]);
    let json_out = kfcheck(&[
        "--suite",
        suite,
        "run",
        "test",
        "-o",
        "json",
        "--report",
        &format!("junit={}", junit.display()),
        "--report",
        &format!("json={}", json_report.display()),
    ]);
    assert_eq!(code(&table), 1, "{}{}", stdout(&table), stderr(&table));
    let outputs = [
        ("table", stdout(&table) + &stderr(&table)),
        ("json", stdout(&json_out) + &stderr(&json_out)),
        ("junit", std::fs::read_to_string(&junit).unwrap()),
        (
            "json report",
            std::fs::read_to_string(&json_report).unwrap(),
        ),
    ];
    for (name, text) in &outputs {
        assert!(
            !text.contains(CANARY),
            "the canary reached the {name} output:\n{text}"
        );
        assert!(
            !text.contains('\x1b'),
            "an escape sequence reached the {name} output:\n{text}"
        );
    }
    let verdicts = outputs[0]
        .1
        .lines()
        .filter(|l| l.trim_start().starts_with("Verdict:"))
        .count();
    assert_eq!(
        verdicts, 1,
        "a plug-in forged a verdict line:\n{}",
        outputs[0].1
    );
}
