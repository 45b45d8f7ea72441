//! The S3 side of storage against a real SeaweedFS (`scripts/seaweedfs up`: master, volume,
//! filer and S3 gateway, with an admin, two profile users limited to their own
//! `mlpipeline/private-artifacts/<profile>/` prefix as KFP's profile controller sets them up, and a
//! read-only user). `kfcheck probe storage` and `kfcheck probe io` run as a user would run them;
//! what the store decided is read from the probe line, and what is left in the bucket is listed
//! with the admin's key. Without SeaweedFS these tests skip and say so, except under CI or
//! KFCHECK_E2E=1, where a missing service is a failure.

mod common;

use common::*;
use std::path::{Path, PathBuf};
use std::process::Output;

struct S3 {
    endpoint: String,
    keys: PathBuf,
}

fn s3() -> Option<S3> {
    let endpoint = match std::env::var("KFCHECK_TEST_S3") {
        Ok(v) if !v.is_empty() => v,
        _ => {
            return unavailable(
                "KFCHECK_TEST_S3 is not set: scripts/test starts SeaweedFS (scripts/seaweedfs up)",
                "KFCHECK_TEST_S3 not set (scripts/seaweedfs up, and KFCHECK_TEST_S3_KEYS=$(scripts/seaweedfs keys))",
            )
        }
    };
    let keys = PathBuf::from(
        std::env::var("KFCHECK_TEST_S3_KEYS")
            .expect("KFCHECK_TEST_S3_KEYS (scripts/seaweedfs keys)"),
    );
    Some(S3 { endpoint, keys })
}

/// kfcheck with no AWS or Google settings from the test's own environment.
fn probe(dir: &Path, args: &[&str]) -> (Output, serde_json::Value) {
    let mut c = kfcheck_command(dir);
    c.arg("probe").args(args);
    for k in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "STORAGE_EMULATOR_HOST",
        "GOOGLE_APPLICATION_CREDENTIALS",
    ] {
        c.env_remove(k);
    }
    let o = c.output().expect("run kfcheck");
    let out = stdout(&o);
    assert_eq!(
        out.lines().count(),
        1,
        "one line expected: {out}\n{}",
        stderr(&o)
    );
    let v = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"));
    (o, v)
}

fn roundtrip(
    s: &S3,
    dir: &Path,
    bucket: &str,
    prefix: &str,
    key_dir: &Path,
) -> (Output, serde_json::Value) {
    probe(
        dir,
        &[
            "storage",
            "--bucket",
            bucket,
            "--prefix",
            prefix,
            "--endpoint",
            &s.endpoint,
            "--s3-key-dir",
            key_dir.to_str().unwrap(),
            "--size",
            "300KiB",
        ],
    )
}

/// Files left under `prefix` in `bucket`, as SeaweedFS's filer lists them (see
/// [`common::filer_count`]).
fn list_count(s: &S3, bucket: &str, prefix: &str) -> usize {
    let filer =
        std::env::var("KFCHECK_TEST_S3_FILER").unwrap_or_else(|_| "http://127.0.0.1:18888".into());
    let _ = &s.endpoint;
    filer_count(&[], &filer, bucket, prefix)
}

/// The line failed with `class`, and its message says `word`.
fn refused_as(v: &serde_json::Value, class: &str, word: &str) {
    assert_eq!(v["error"]["class"], class, "{v}");
    let m = v["error"]["message"].as_str().unwrap_or_default();
    assert!(m.contains(word), "{word} expected in: {v}");
}

#[test]
fn a_round_trip_passes_for_the_admin_and_a_profile_on_its_own_prefix_and_leaves_nothing() {
    let Some(s) = s3() else { return };
    let dir = tempfile::tempdir().unwrap();
    let (o, v) = roundtrip(
        &s,
        dir.path(),
        "s3://kfcheck-s3-test",
        "kfcheck-t1",
        &s.keys.join("admin"),
    );
    assert_eq!(code(&o), 0, "{v}");
    assert_eq!(v["status"], "passed", "{v}");
    assert_eq!(v["provider"], "s3");
    let ops: Vec<&str> = v["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["op"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["list", "write", "read", "delete", "compare"], "{v}");
    assert_eq!(v["bytes"], 300 * 1024);
    assert_eq!(
        list_count(&s, "kfcheck-s3-test", "kfcheck-t1/"),
        0,
        "the round trip removes its object"
    );

    let own = "private-artifacts/kubeflow-user-example-com/kfcheck";
    let (o, v) = roundtrip(
        &s,
        dir.path(),
        "minio://mlpipeline",
        own,
        &s.keys.join("kubeflow-user-example-com"),
    );
    assert_eq!(code(&o), 0, "{v}");
    assert_eq!(v["status"], "passed", "{v}");
    assert!(
        v["credentials"]["source"]
            .as_str()
            .unwrap()
            .contains("kubeflow-user-example-com"),
        "{v}"
    );
}

#[test]
fn each_fault_is_its_own_class_and_no_key_is_printed() {
    let Some(s) = s3() else { return };
    let dir = tempfile::tempdir().unwrap();
    let secret = |who: &str| std::fs::read_to_string(s.keys.join(who).join("secretkey")).unwrap();

    // Another profile's prefix: the store knows the key and refuses (403 AccessDenied).
    let (o, v) = roundtrip(
        &s,
        dir.path(),
        "s3://mlpipeline",
        "private-artifacts/team-gpu/kfcheck",
        &s.keys.join("kubeflow-user-example-com"),
    );
    assert_eq!(code(&o), 1, "{v}");
    assert_eq!(v["error"]["class"], "denied", "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .contains("kubeflow-user-example-com"),
        "names the identity: {v}"
    );

    // A read-only user: the list passes, the write is refused.
    let (_, v) = roundtrip(
        &s,
        dir.path(),
        "s3://kfcheck-s3-test",
        "kfcheck-t2",
        &s.keys.join("reader"),
    );
    assert_eq!(v["error"]["class"], "denied", "{v}");
    assert_eq!(v["steps"][0]["ok"], true, "{v}");
    assert_eq!(v["steps"][1]["op"], "write");
    assert_eq!(v["steps"][1]["ok"], false);

    // A missing bucket.
    let (o, v) = roundtrip(
        &s,
        dir.path(),
        "s3://kfcheck-no-such-bucket",
        "kfcheck",
        &s.keys.join("admin"),
    );
    assert_eq!(code(&o), 1, "{v}");
    assert_eq!(v["error"]["class"], "bucket-missing", "{v}");

    // An unknown access key, and a known one with the wrong secret: the store does not know the
    // caller (unauthenticated), which is not a refusal of a known identity.
    let bad = tempfile::tempdir().unwrap();
    std::fs::write(bad.path().join("accesskey"), "KFNOSUCHKEY").unwrap();
    std::fs::write(bad.path().join("secretkey"), "not-the-secret").unwrap();
    let (_, v) = roundtrip(
        &s,
        dir.path(),
        "s3://kfcheck-s3-test",
        "kfcheck",
        bad.path(),
    );
    refused_as(&v, "unauthenticated", "InvalidAccessKeyId");
    std::fs::copy(s.keys.join("admin/accesskey"), bad.path().join("accesskey")).unwrap();
    let (o, v) = roundtrip(
        &s,
        dir.path(),
        "s3://kfcheck-s3-test",
        "kfcheck",
        bad.path(),
    );
    refused_as(&v, "unauthenticated", "SignatureDoesNotMatch");
    for who in ["admin", "kubeflow-user-example-com", "reader"] {
        assert!(
            !stdout(&o).contains(secret(who).trim()) && !stderr(&o).contains(secret(who).trim())
        );
    }

    // No key at all, and an endpoint that does not answer.
    let (o, v) = probe(
        dir.path(),
        &[
            "storage",
            "--bucket",
            "s3://kfcheck-s3-test",
            "--endpoint",
            &s.endpoint,
        ],
    );
    assert_eq!(code(&o), 1, "{v}");
    assert_eq!(v["error"]["class"], "no-credentials", "{v}");
    let (o, v) = probe(
        dir.path(),
        &[
            "storage",
            "--bucket",
            "s3://b",
            "--endpoint",
            "http://127.0.0.1:9",
            "--s3-key-dir",
            s.keys.join("admin").to_str().unwrap(),
        ],
    );
    assert_eq!(code(&o), 3, "unreachable is undecided: {v}");
    assert_eq!(v["error"]["class"], "unreachable", "{v}");
}

#[test]
fn the_io_probe_moves_bytes_in_parallel_and_deletes_every_object() {
    let Some(s) = s3() else { return };
    let dir = tempfile::tempdir().unwrap();
    let admin = s.keys.join("admin");
    for mode in ["mixed", "read", "write"] {
        let prefix = format!("kfcheck-io-{mode}");
        let (o, v) = probe(
            dir.path(),
            &[
                "io",
                "--bucket",
                "s3://kfcheck-s3-test",
                "--prefix",
                &prefix,
                "--endpoint",
                &s.endpoint,
                "--s3-key-dir",
                admin.to_str().unwrap(),
                "--streams",
                "3",
                "--seconds",
                "1.5",
                "--object-size",
                "256KiB",
                "--mode",
                mode,
            ],
        );
        assert_eq!(code(&o), 0, "{v}");
        assert_eq!(v["status"], "passed", "{v}");
        assert_eq!(v["streams"], 3);
        assert!(v["bytes"].as_u64().unwrap() >= 3 * 256 * 1024, "{v}");
        assert!(v["mb_per_s"].as_f64().unwrap() > 0.0, "{v}");
        assert_eq!(v["errors"], serde_json::json!({}), "{v}");
        assert_eq!(v["throttled"]["429"], 0);
        let p95 = v["ops"][if mode == "write" { "write" } else { "read" }]["p95_ms"]
            .as_f64()
            .unwrap();
        assert!(p95 > 0.0, "{v}");
        assert_eq!(v["cleanup"]["left"], serde_json::json!([]), "{v}");
        assert_eq!(
            list_count(&s, "kfcheck-s3-test", &format!("{prefix}/")),
            0,
            "{mode}: objects left behind: {v}"
        );
    }
    // A profile's key on another profile's prefix: every stream stops at the first refusal.
    let (o, v) = probe(
        dir.path(),
        &[
            "io",
            "--bucket",
            "s3://mlpipeline",
            "--prefix",
            "private-artifacts/team-gpu/kfcheck",
            "--endpoint",
            &s.endpoint,
            "--s3-key-dir",
            s.keys.join("kubeflow-user-example-com").to_str().unwrap(),
            "--streams",
            "4",
            "--seconds",
            "5",
        ],
    );
    assert_eq!(code(&o), 1, "{v}");
    assert_eq!(v["error"]["class"], "denied", "{v}");
    assert!(
        v["requests"].as_u64().unwrap() <= 8,
        "stopped at the refusal, not after 5 s of refusals: {v}"
    );
}

#[test]
fn the_storage_roundtrip_kind_from_the_host_names_what_the_store_decided() {
    let Some(s) = s3() else { return };
    let dir = tempfile::tempdir().unwrap();
    let add = |id: &str, bucket: &str, who: &str| {
        write(
            dir.path(),
            &format!("suite/{id}.yaml"),
            &format!(
                "id: {id}\nkind: storage-roundtrip\ntitle: t\ncategory: test-storage\nparams:\n  from: host\n  bucket: {bucket}\n  endpoint: {}\n  s3_key_dir: {}\n  prefix: kfcheck-host\n  size: 100KiB\n",
                s.endpoint,
                s.keys.join(who).display()
            ),
        );
    };
    add("host-ok", "s3://kfcheck-s3-test", "admin");
    add("host-reader", "s3://kfcheck-s3-test", "reader");
    add("host-nobucket", "s3://kfcheck-no-such-bucket", "admin");
    let o = kfcheck_command(dir.path())
        .args([
            "--suite",
            "suite",
            "run",
            "host-ok",
            "host-reader",
            "host-nobucket",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("exit {}: {}{}", code(&o), stdout(&o), stderr(&o)));
    assert_eq!(code(&o), 1, "{doc:#}");
    let ok = check(&doc, "host-ok");
    assert_eq!(ok["status"], "passed", "{ok:#}");
    assert!(
        ok["notes"][0]
            .as_str()
            .unwrap()
            .contains("round trip of 102400 bytes from the host"),
        "{ok:#}"
    );
    assert_eq!(
        check(&doc, "host-reader")["findings"][0]["rule"],
        "storage-refused-from-host",
        "{doc:#}"
    );
    assert_eq!(
        check(&doc, "host-nobucket")["findings"][0]["rule"],
        "bucket-missing",
        "{doc:#}"
    );
    assert_eq!(list_count(&s, "kfcheck-s3-test", "kfcheck-host/"), 0);
    let secret = std::fs::read_to_string(s.keys.join("admin/secretkey")).unwrap();
    assert!(!stdout(&o).contains(secret.trim()));
}

#[test]
fn the_round_trip_from_a_container_reaches_s3_with_a_mounted_key_pair() {
    let Some(s) = s3() else { return };
    let Ok(host) = std::env::var("KFCHECK_TEST_DOCKER_HOST") else {
        unavailable::<()>(
            "KFCHECK_TEST_DOCKER_HOST is not set: scripts/test starts the Docker engine",
            "KFCHECK_TEST_DOCKER_HOST not set (scripts/dockerd up)",
        );
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let add = |id: &str, who: &str| {
        write(
            dir.path(),
            &format!("suite/{id}.yaml"),
            &format!(
                "id: {id}\nkind: storage-roundtrip\ntitle: t\ncategory: test-storage\nparams:\n  from: container\n  bucket: s3://kfcheck-s3-test\n  endpoint: {}\n  s3_key_dir: {}\n  prefix: kfcheck-container\n  size: 100KiB\n",
                s.endpoint,
                s.keys.join(who).display()
            ),
        );
    };
    add("c-admin", "admin");
    add("c-reader", "reader");
    let o = kfcheck_command(dir.path())
        .args([
            "--suite",
            "suite",
            "--docker-host",
            &host,
            "run",
            "c-admin",
            "c-reader",
            "-o",
            "json",
        ])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|_| panic!("exit {}: {}{}", code(&o), stdout(&o), stderr(&o)));
    let ok = check(&doc, "c-admin");
    assert_eq!(ok["status"], "passed", "{ok:#}");
    let notes = ok["notes"].to_string();
    assert!(notes.contains("mounted at /var/secrets/s3"), "{notes}");
    assert!(notes.contains("read back from the host"), "{notes}");
    let denied = check(&doc, "c-reader");
    assert_eq!(
        denied["findings"][0]["rule"], "storage-denied-in-container",
        "{denied:#}"
    );
    assert_eq!(
        denied["findings"][0]["subject"]["name"],
        "s3://kfcheck-s3-test"
    );
    // The janitor removed the result object and everything under the check's prefix.
    assert_eq!(list_count(&s, "kfcheck-s3-test", "kfcheck-container/"), 0);
}
