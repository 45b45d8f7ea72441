//! The Prometheus output, read by its real consumers (scripts/prometheus: Debian's promtool,
//! Pushgateway and Prometheus on 127.0.0.1): `promtool check metrics` lints a run with every kind
//! of status and a real io-sweep against SeaweedFS; the run pushed to the Pushgateway is scraped
//! by Prometheus and read back through its query API; a push that cannot be delivered is a clear
//! error that never shows the URL's password.
//!
//! Needs KFCHECK_TEST_PUSHGATEWAY, KFCHECK_TEST_PROMETHEUS and KFCHECK_TEST_PROMTOOL (scripts/test
//! sets them), and KFCHECK_TEST_S3 for the io-sweep's figures.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

struct Consumers {
    pushgateway: String,
    prometheus: String,
    promtool: String,
}

fn consumers() -> Option<Consumers> {
    match (
        std::env::var("KFCHECK_TEST_PUSHGATEWAY"),
        std::env::var("KFCHECK_TEST_PROMETHEUS"),
        std::env::var("KFCHECK_TEST_PROMTOOL"),
    ) {
        (Ok(pushgateway), Ok(prometheus), Ok(promtool)) => Some(Consumers {
            pushgateway,
            prometheus,
            promtool,
        }),
        _ => unavailable(
            "KFCHECK_TEST_PUSHGATEWAY is not set: scripts/test starts scripts/prometheus",
            "KFCHECK_TEST_PUSHGATEWAY not set (scripts/prometheus up)",
        ),
    }
}

/// A suite with one check per status (exec plug-ins), and an io-sweep from the host against
/// SeaweedFS when the test has one.
fn suite(dir: &Path) {
    let exec = |id: &str, line: &str| {
        write(
            dir,
            &format!("suite/{id}.yaml"),
            &format!("id: {id}\nkind: exec\ntitle: {id}\ncategory: \"metrics\\\"test\"\nparams:\n  command: [sh, -c, {:?}]\n", format!("echo '{line}'")),
        );
    };
    exec("m-passes", r#"{"findings": [], "notes": ["fine"]}"#);
    exec(
        "m-warns",
        r#"{"findings": [{"rule": "r", "message": "m", "severity": "warning", "remediation": "f"}]}"#,
    );
    exec(
        "m-fails",
        r#"{"findings": [{"rule": "r", "message": "m", "severity": "error", "remediation": "f"}, {"rule": "s", "message": "m", "severity": "warning", "remediation": "f"}]}"#,
    );
    exec("m-errors", r#"{"error": "could not tell"}"#);
    if let (Ok(s3), Ok(keys)) = (
        std::env::var("KFCHECK_TEST_S3"),
        std::env::var("KFCHECK_TEST_S3_KEYS"),
    ) {
        let admin = Path::new(&keys).join("admin");
        write(
            dir,
            "suite/m-io.yaml",
            &format!("id: m-io\nkind: io-sweep\ntitle: io\ncategory: storage\nparams:\n  bucket: s3://kfcheck-s3-test\n  endpoint: {s3}\n  s3_key_dir: {}\n  object_size: 64KiB\n  seconds: 1\n  concurrency: [1, 2]\n", admin.display()),
        );
    }
}

fn run(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "--suite",
        "suite",
        "run",
        "metrics\"test",
        "-o",
        "prometheus",
    ];
    if dir.join("suite/m-io.yaml").exists() {
        args.push("m-io");
    }
    args.extend_from_slice(extra);
    kfcheck_command(dir).args(&args).output().unwrap()
}

fn promtool_check(promtool: &str, text: &str) {
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "promtool check metrics: {}{}\n{text}",
        stdout(&o),
        stderr(&o)
    );
}

#[test]
fn promtool_accepts_the_text_on_stdout_and_in_the_textfile() {
    let Some(c) = consumers() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    suite(dir.path());
    let prom = dir.path().join("textfile/kfcheck.prom");
    std::fs::create_dir_all(prom.parent().unwrap()).unwrap();
    let report = format!("prometheus={}", prom.display());
    let o = run(dir.path(), &["--report", &report]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let text = stdout(&o);
    promtool_check(&c.promtool, &text);
    assert_eq!(std::fs::read_to_string(&prom).unwrap(), text);
    for line in [
        "kfcheck_ready 0",
        "kfcheck_run_exit_code 1",
        "kfcheck_checks{status=\"failed\"} 1",
        "kfcheck_check_status{check=\"m-warns\",category=\"metrics\\\"test\",status=\"warned\"} 1",
        "kfcheck_check_status{check=\"m-errors\",category=\"metrics\\\"test\",status=\"errored\"} 1",
        "kfcheck_check_status{check=\"m-passes\",category=\"metrics\\\"test\",status=\"failed\"} 0",
        "kfcheck_check_findings{check=\"m-fails\",severity=\"error\"} 1",
        "kfcheck_check_findings{check=\"m-fails\",severity=\"warning\"} 1",
    ] {
        assert!(text.lines().any(|l| l == line), "no line {line}:\n{text}");
    }
    if dir.path().join("suite/m-io.yaml").exists() {
        for c in ["1", "2"] {
            let prefix = format!(
                "kfcheck_io_sweep_throughput_bytes_per_second{{check=\"m-io\",from=\"host\",concurrency=\"{c}\"}} "
            );
            let v: f64 = text
                .lines()
                .find_map(|l| l.strip_prefix(&prefix))
                .unwrap_or_else(|| panic!("no {prefix}:\n{text}"))
                .parse()
                .unwrap();
            assert!(v > 0.0, "{prefix}{v}");
        }
    }
}

/// Prometheus's answer to an instant query: (labels, value) per series.
fn query(prometheus: &str, q: &str) -> Vec<(serde_json::Value, f64)> {
    let o = Command::new("curl")
        .args(["-sS", "--max-time", "5", "-G", "--data-urlencode"])
        .arg(format!("query={q}"))
        .arg(format!("{prometheus}/api/v1/query"))
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
    v["data"]["result"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|r| {
            let value = r["value"][1]
                .as_str()
                .unwrap_or("NaN")
                .parse()
                .unwrap_or(f64::NAN);
            (r["metric"].clone(), value)
        })
        .collect()
}

#[test]
fn a_pushed_run_is_scraped_by_prometheus_and_an_undelivered_push_is_an_error() {
    let Some(c) = consumers() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    suite(dir.path());
    let group = format!("test{}", std::process::id());
    let url = format!("{}/metrics/job/kfcheck/test/{group}", c.pushgateway);
    let o = run(dir.path(), &["--push-gateway", &url]);
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    let started = Instant::now();
    let failed = loop {
        let r = query(
            &c.prometheus,
            &format!("kfcheck_check_status{{test=\"{group}\",status=\"failed\"}} == 1"),
        );
        if !r.is_empty() || started.elapsed() > Duration::from_secs(30) {
            break r;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    let checks: Vec<&str> = failed
        .iter()
        .filter_map(|(m, _)| m["check"].as_str())
        .collect();
    assert_eq!(checks, ["m-fails"], "{failed:?}");
    let ready = query(&c.prometheus, &format!("kfcheck_ready{{test=\"{group}\"}}"));
    assert_eq!(ready.len(), 1, "{ready:?}");
    assert_eq!(ready[0].1, 0.0);
    assert_eq!(ready[0].0["job"], "kfcheck");
    let stamp = query(
        &c.prometheus,
        &format!("time() - kfcheck_run_timestamp_seconds{{test=\"{group}\"}}"),
    );
    assert!(
        stamp.len() == 1 && stamp[0].1 >= 0.0 && stamp[0].1 < 600.0,
        "{stamp:?}"
    );
    // The group is the test's own: gone from the Pushgateway when it ends.
    let _ = Command::new("curl")
        .args(["-sS", "--max-time", "5", "-X", "DELETE", &url])
        .output();

    // A Pushgateway that is not there: the run is otherwise ready, so the exit says the report
    // was not delivered; the password in the URL is never shown.
    let ok = tempfile::tempdir().unwrap();
    write(
        ok.path(),
        "suite/only.yaml",
        "id: only\nkind: exec\ntitle: t\ncategory: only\nparams:\n  command: [sh, -c, \"echo '{\\\"findings\\\": []}'\"]\n",
    );
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let o = kfcheck_command(ok.path())
        .args([
            "--suite",
            "suite",
            "run",
            "only",
            "--push-gateway",
            &format!("http://kfcheck:hunter2@127.0.0.1:{closed}"),
        ])
        .output()
        .unwrap();
    assert_eq!(code(&o), 2, "{}{}", stdout(&o), stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "cannot push metrics to http://127.0.0.1:{closed}/metrics/job/kfcheck: could not connect"
        )),
        "{err}"
    );
    assert!(!(err.clone() + &stdout(&o)).contains("hunter2"), "{err}");
}
