//! The io-sweep kind against a store with a known limit (scripts/io-limit): a network namespace
//! with nothing but loopback, SeaweedFS inside it, its S3 port shaped by a Linux traffic-control
//! class to KFCHECK_IO_AGGREGATE_BPS (the bucket's bandwidth), a proxy that caps every connection
//! at KFCHECK_IO_CONN_BPS (each pod's own link) and one that answers every KFCHECK_IO_FAIL_EVERY-th
//! request 429. kfcheck runs inside the namespace, so the knee it finds is the one the kernel and
//! the proxy set: aggregate / per-connection probes. A container sweep runs against SeaweedFS on
//! the host (KFCHECK_TEST_S3) with the test Docker engine (KFCHECK_TEST_DOCKER_HOST).
//!
//! scripts/test sets the variables (`scripts/io-limit up` prints them); without them these tests
//! skip and say so, except under CI or KFCHECK_E2E=1.

mod common;

use common::*;
use std::path::Path;
use std::process::{Command, Output};

/// The limited store is shared: one sweep at a time, or they would measure each other.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

struct Limit {
    ns: String,
    endpoint: String,
    faulty: String,
    keys: String,
    aggregate: f64,
    conn: f64,
    fail_every: f64,
}

fn limit() -> Option<Limit> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let Some(ns) = var("KFCHECK_IO_NETNS") else {
        return unavailable(
            "KFCHECK_IO_NETNS is not set: scripts/test starts scripts/io-limit (root, tc)",
            "KFCHECK_IO_NETNS not set (as root: eval \"$(scripts/io-limit up | sed 's/^/export /')\")",
        );
    };
    let num = |k: &str| {
        var(k)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("{k}"))
    };
    Some(Limit {
        ns,
        endpoint: var("KFCHECK_IO_ENDPOINT").expect("KFCHECK_IO_ENDPOINT"),
        faulty: var("KFCHECK_IO_FAULTY").expect("KFCHECK_IO_FAULTY"),
        keys: var("KFCHECK_IO_KEYS").expect("KFCHECK_IO_KEYS"),
        aggregate: num("KFCHECK_IO_AGGREGATE_BPS"),
        conn: num("KFCHECK_IO_CONN_BPS"),
        fail_every: num("KFCHECK_IO_FAIL_EVERY"),
    })
}

/// kfcheck inside the namespace, with a suite of `checks` (id, params), running `ids`; the
/// table on stdout and the JSON report read back.
fn sweep_in_ns(
    l: &Limit,
    dir: &Path,
    checks: &[(&str, String)],
    ids: &[&str],
) -> (Output, serde_json::Value) {
    for (id, params) in checks {
        write(
            dir,
            &format!("suite/{id}.yaml"),
            &format!("id: {id}\nkind: io-sweep\ntitle: {id}\ncategory: test-io\nparams:\n{params}"),
        );
    }
    let mut c = Command::new("ip");
    c.args(["netns", "exec", &l.ns, env!("CARGO_BIN_EXE_kfcheck")])
        .current_dir(dir)
        .env("HOME", dir.join("no-such-home"))
        .env("NO_COLOR", "1")
        .env_remove("KUBECONFIG")
        .env_remove("COLUMNS")
        .args(["--suite", "suite", "run"])
        .args(ids)
        .args(["--report", "json=report.json"]);
    for k in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
    ] {
        c.env_remove(k);
    }
    let o = c.output().expect("ip netns exec kfcheck");
    let doc = std::fs::read_to_string(dir.join("report.json")).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): exit {}\n{}{}",
            code(&o),
            stdout(&o),
            stderr(&o)
        )
    });
    (o, serde_json::from_str(&doc).unwrap())
}

fn curve(c: &serde_json::Value) -> &serde_json::Value {
    &c["figures"]["io_sweep"]
}

#[test]
fn the_sweep_finds_the_knee_that_the_kernel_and_the_proxy_set() {
    let Some(l) = limit() else { return };
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let params = format!(
        "  bucket: s3://kfcheck-s3-test\n  endpoint: {}\n  s3_key_dir: {}/admin\n  prefix: kfcheck-knee\n  object_size: 1MiB\n  seconds: 4\n  max_concurrency: 8\n",
        l.endpoint, l.keys
    );
    let (o, doc) = sweep_in_ns(&l, dir.path(), &[("io-knee", params)], &["io-knee"]);
    let c = check(&doc, "io-knee");
    assert_eq!(c["status"], "passed", "{c:#}\n{}", stderr(&o));
    let curve = curve(c);
    let steps: Vec<u64> = curve["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["probes_measured"], s["concurrency"], "{curve:#}");
            s["concurrency"].as_u64().unwrap()
        })
        .collect();
    assert_eq!(steps, [1, 2, 4, 8]);
    // The limit set: the aggregate over what one connection may move.
    let configured = l.aggregate / l.conn;
    let recommended = curve["recommended_limit"]
        .as_u64()
        .unwrap_or_else(|| panic!("no limit: {curve:#}"));
    let below = steps
        .iter()
        .rev()
        .find(|&&s| (s as f64) <= configured)
        .copied()
        .unwrap();
    let above = steps
        .iter()
        .find(|&&s| (s as f64) >= configured)
        .copied()
        .unwrap();
    assert!(
        recommended == below || recommended == above,
        "recommended {recommended} is not within one step of the configured {configured:.1} ({below} or {above}): {curve:#}"
    );
    // The figures are the limits': one probe near its connection's cap, the largest step near
    // the aggregate.
    let mb = |i: usize| curve["steps"][i]["mb_per_s"].as_f64().unwrap() * 1e6;
    assert!(
        (0.75..1.3).contains(&(mb(0) / l.conn)),
        "one probe: {} B/s against {}",
        mb(0),
        l.conn
    );
    assert!(
        (0.75..1.1).contains(&(mb(3) / l.aggregate)),
        "8 probes: {} B/s against {}",
        mb(3),
        l.aggregate
    );
    let out = stdout(&o);
    assert!(
        out.contains(&format!("Recommended: at most {recommended} IO-heavy pods")),
        "{out}"
    );
    assert!(out.contains("<- knee"), "{out}");
    let f = &c["findings"][0];
    assert_eq!(f["rule"], "io-heavy-pod-limit", "{c:#}");
    assert!(
        f.to_string()
            .contains(&format!("parallelism={recommended}")),
        "{f:#}"
    );
    // Every object deleted, as the store's own filer lists the bucket.
    let filer = l.endpoint.replace(":18400", ":18895");
    assert_eq!(
        filer_count(
            &["ip", "netns", "exec", &l.ns],
            &filer,
            "kfcheck-s3-test",
            "kfcheck-knee/"
        ),
        0
    );
}

#[test]
fn injected_429s_are_counted_and_call_the_knee_at_the_error_limit() {
    let Some(l) = limit() else { return };
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let params = |extra: &str| {
        format!(
            "  bucket: s3://kfcheck-s3-test\n  endpoint: {}\n  s3_key_dir: {}/admin\n  prefix: kfcheck-429\n  object_size: 128KiB\n  seconds: 3\n  concurrency: [1, 2]\n{extra}",
            l.faulty, l.keys
        )
    };
    let (o, doc) = sweep_in_ns(
        &l,
        dir.path(),
        &[
            ("io-429-tolerated", params("  max_error_rate: 0.5\n")),
            ("io-429", params("")),
        ],
        &["io-429-tolerated", "io-429"],
    );
    assert_eq!(code(&o), 1, "{doc:#}");
    let set = 1.0 / l.fail_every;
    let tolerated = check(&doc, "io-429-tolerated");
    assert_eq!(tolerated["status"], "warned", "{tolerated:#}");
    for s in curve(tolerated)["steps"].as_array().unwrap() {
        let rate = s["error_rate"].as_f64().unwrap();
        assert!(s["throttled_429"].as_u64().unwrap() > 0, "{s}");
        assert_eq!(s["throttled_503"], 0);
        assert!(
            rate > set * 0.5 && rate < set * 1.6,
            "error rate {rate} against the {set} injected: {s}"
        );
    }
    let rules: Vec<&str> = tolerated["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert!(rules.contains(&"io-throttled"), "{rules:?}");
    // Over the default 5% at one probe: nothing to recommend, and the check fails.
    let strict = check(&doc, "io-429");
    assert_eq!(strict["status"], "failed", "{strict:#}");
    assert!(
        strict["findings"]
            .to_string()
            .contains("io-errors-at-one-probe"),
        "{strict:#}"
    );
    assert!(curve(strict)["recommended_limit"].is_null());
}

#[test]
fn the_limited_namespace_has_nothing_but_loopback() {
    let Some(l) = limit() else { return };
    let ip = |args: &[&str]| {
        let o = Command::new("ip")
            .args(["-n", &l.ns])
            .args(args)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        stdout(&o)
    };
    let links = ip(&["-o", "link", "show"]);
    assert!(links.lines().all(|line| line.contains(": lo:")), "{links}");
    assert_eq!(
        ip(&["-4", "route", "show"]).trim(),
        "",
        "no IPv4 route at all"
    );
    let v6 = ip(&["-6", "route", "show"]);
    assert!(v6.lines().all(|r| r.contains("dev lo")), "{v6}");
    // And the aggregate limit is the kernel's: the htb class is on loopback.
    let tc = Command::new("ip")
        .args(["netns", "exec", &l.ns, "tc", "class", "show", "dev", "lo"])
        .output()
        .unwrap();
    assert!(stdout(&tc).contains("htb 1:1"), "{}", stdout(&tc));
}

#[test]
fn a_container_sweep_runs_labelled_probe_containers_and_removes_them() {
    let (Some(s3), Some(keys), Some(host)) = (
        std::env::var("KFCHECK_TEST_S3").ok(),
        std::env::var("KFCHECK_TEST_S3_KEYS").ok(),
        std::env::var("KFCHECK_TEST_DOCKER_HOST").ok(),
    ) else {
        unavailable::<()>(
            "KFCHECK_TEST_S3, KFCHECK_TEST_S3_KEYS and KFCHECK_TEST_DOCKER_HOST: scripts/test starts SeaweedFS and the Docker engine",
            "SeaweedFS or the test Docker engine not set up",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "suite/io-containers.yaml",
        &format!("id: io-containers\nkind: io-sweep\ntitle: t\ncategory: test-io\nparams:\n  from: container\n  bucket: s3://kfcheck-s3-test\n  endpoint: {s3}\n  s3_key_dir: {keys}/admin\n  prefix: kfcheck-containers\n  object_size: 256KiB\n  seconds: 2\n  concurrency: [1, 3]\n"),
    );
    let o = kfcheck_command(dir.path())
        .args([
            "--suite",
            "suite",
            "--docker-host",
            &host,
            "run",
            "io-containers",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("exit {}: {}{}", code(&o), stdout(&o), stderr(&o)));
    let c = check(&doc, "io-containers");
    assert!(
        c["status"] == "passed" || c["status"] == "warned",
        "{c:#}\n{}",
        stderr(&o)
    );
    let steps = curve(c)["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2, "{c:#}");
    assert_eq!(steps[1]["concurrency"], 3);
    assert_eq!(
        steps[1]["probes_measured"], 3,
        "every container's line was read: {c:#}"
    );
    assert!(curve(c)["from"] == "container");
    // No container of kfcheck's is left, and no object.
    let left = Command::new("docker")
        .args([
            "-H",
            &host,
            "ps",
            "-a",
            "-q",
            "--filter",
            "label=app.kubernetes.io/managed-by=kfcheck",
        ])
        .output()
        .unwrap();
    assert_eq!(stdout(&left).trim(), "", "containers left");
    let filer =
        std::env::var("KFCHECK_TEST_S3_FILER").unwrap_or_else(|_| "http://127.0.0.1:18888".into());
    assert_eq!(
        filer_count(&[], &filer, "kfcheck-s3-test", "kfcheck-containers/"),
        0
    );
}
