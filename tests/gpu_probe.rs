//! `kfcheck probe gpu --load` without a GPU (CI has none): every "no GPU" layer, through the real
//! binary, with the driver library the probe would open replaced by a small C library built here
//! (tests/gpu/*.c: one with only cuInit, and a fake driver with a virtual clock that computes
//! nothing). The fake is how the load's plumbing (calibration, batches, the figures, the verdict,
//! releasing every handle) is exercised before a device check measures a real GPU
//! (scripts/device-gpu-load).

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

/// Builds tests/gpu/NAME.c into a shared library once per test binary.
fn library(name: &str) -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    let dir = DIR.get_or_init(|| tempfile::tempdir().expect("tempdir"));
    let out = dir.path().join(format!("{name}.so"));
    if !out.exists() {
        // Tests run in parallel: each compiles to a name of its own and renames it into place
        // (atomic), so no test ever loads a library another one is still writing.
        let src = repo().join("tests/gpu").join(format!("{name}.c"));
        let tmp = dir.path().join(format!(
            "{name}.{}.{:?}.tmp",
            std::process::id(),
            std::thread::current().id()
        ));
        let o = std::process::Command::new("cc")
            .args(["-shared", "-fPIC", "-O1", "-o"])
            .arg(&tmp)
            .arg(&src)
            .output()
            .expect("run cc");
        assert!(o.status.success(), "cc {}: {}", src.display(), stderr(&o));
        std::fs::rename(&tmp, &out).expect("rename the library into place");
    }
    out
}

fn probe(lib: &Path, envs: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = kfcheck_command(&repo());
    c.args(["probe", "gpu", "--load"])
        .args(args)
        .env("KFCHECK_CUDA_LIBRARY", lib)
        .env_remove("NVIDIA_VISIBLE_DEVICES")
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("CUDA_VISIBLE_DEVICES");
    for (k, v) in envs {
        c.env(k, v);
    }
    c.output().expect("run kfcheck")
}

fn skipped(o: &Output) -> (String, String) {
    let v = json(o);
    let s = &v["load"]["skipped"];
    (
        s["layer"].as_str().unwrap_or_default().to_string(),
        s["reason"].as_str().unwrap_or_default().to_string(),
    )
}

#[test]
fn no_library_in_a_pod_blames_the_device_plugin_or_the_runtime() {
    let missing = Path::new("/nonexistent/libcuda.so.1");
    let o = probe(missing, &[("KUBERNETES_SERVICE_HOST", "10.0.0.1")], &[]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let (layer, reason) = skipped(&o);
    assert_eq!(layer, "device-plugin", "{reason}");
    assert!(
        reason.contains("NVIDIA_VISIBLE_DEVICES is unset"),
        "{reason}"
    );
    assert!(reason.contains("/nonexistent/libcuda.so.1"), "{reason}");
    // The line's own reason is the layer's, not only "NVML could not be loaded".
    assert!(
        json(&o)["reason"]
            .as_str()
            .unwrap()
            .contains("device plugin"),
        "{}",
        stdout(&o)
    );

    let o = probe(
        missing,
        &[
            ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
            ("NVIDIA_VISIBLE_DEVICES", "void"),
        ],
        &[],
    );
    assert_eq!(skipped(&o).0, "device-plugin");

    let o = probe(
        missing,
        &[
            ("KUBERNETES_SERVICE_HOST", "10.0.0.1"),
            ("NVIDIA_VISIBLE_DEVICES", "GPU-0b1c"),
        ],
        &[],
    );
    let (layer, reason) = skipped(&o);
    assert_eq!(layer, "container-runtime", "{reason}");
    assert!(reason.contains("GPU-0b1c"), "{reason}");
}

#[test]
fn a_library_without_the_driver_entry_points_names_them() {
    let o = probe(&library("only_cuinit"), &[], &[]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let (layer, reason) = skipped(&o);
    assert_eq!(layer, "driver-library", "{reason}");
    assert!(
        reason.contains("cuLaunchKernel") && reason.contains("cuModuleLoadDataEx"),
        "{reason}"
    );
    assert!(!reason.contains("cuInit,"), "cuInit is there: {reason}");
}

#[test]
fn a_driver_without_a_device_says_so_by_layer() {
    let lib = library("fake_libcuda");
    for (mode, layer, needle) in [
        ("nodevice", "device", "CUDA_ERROR_NO_DEVICE"),
        ("zero", "device", "reports no device"),
        ("stub", "driver-library", "CUDA_ERROR_STUB_LIBRARY"),
    ] {
        let o = probe(&lib, &[("FAKE_CUDA_MODE", mode)], &[]);
        assert_eq!(code(&o), 1, "{mode}: {}", stdout(&o));
        let (l, reason) = skipped(&o);
        assert_eq!(l, layer, "{mode}: {reason}");
        assert!(reason.contains(needle), "{mode}: {reason}");
        // Told it needs no GPU, a skipped load does not fail the line.
        let o = probe(&lib, &[("FAKE_CUDA_MODE", mode)], &["--expect", "0"]);
        assert_eq!(code(&o), 0, "{mode}: {}", stdout(&o));
    }
}

fn ledger_balanced(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("the fake driver wrote its ledger");
    let n = |k: &str| -> i64 {
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or(-1)
    };
    for (made, released) in [
        ("allocs", "frees"),
        ("host_allocs", "host_frees"),
        ("events", "event_frees"),
        ("retains", "releases"),
        ("modules", "unloads"),
    ] {
        assert_eq!(n(made), n(released), "{made} vs {released}: {text}");
    }
    text
}

#[test]
fn a_ptx_the_jit_refuses_is_undecided_with_its_log_and_releases_everything() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    let o = probe(
        &library("fake_libcuda"),
        &[
            ("FAKE_CUDA_MODE", "badptx"),
            ("FAKE_CUDA_LEDGER", ledger.to_str().unwrap()),
        ],
        &["--expect", "0", "--seconds", "1"],
    );
    assert_eq!(code(&o), 3, "errored, not passed: {}", stdout(&o));
    let v = json(&o);
    assert_eq!(v["status"], "errored");
    let e = &v["load"]["errors"][0];
    assert_eq!(e["call"], "cuModuleLoadDataEx", "{v}");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("CUDA_ERROR_INVALID_PTX") && msg.contains("fake JIT refuses the PTX"),
        "{msg}"
    );
    assert!(
        v["reason"].as_str().unwrap().contains("could not run"),
        "{v}"
    );
    let l = ledger_balanced(&ledger);
    assert!(l.contains("retains=1"), "{l}");
}

#[test]
fn a_device_at_its_rated_speed_passes_and_a_slow_one_fails_with_the_ratio() {
    let lib = library("fake_libcuda");
    let dir = tempfile::tempdir().unwrap();
    let ledger = dir.path().join("ledger");
    let led = ledger.to_str().unwrap();
    // The fake: 4 SMs x 128 lanes x 2 x 1500 MHz = 1.536 TFLOP/s expected, 1.4 achieved (0.91);
    // 256-bit bus x 7000 MHz x 2 = 448 GB/s expected, 400 achieved (0.89).
    let o = probe(
        &lib,
        &[("FAKE_CUDA_LEDGER", led)],
        &["--expect", "0", "--seconds", "1"],
    );
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    let v = json(&o);
    let d = &v["load"]["devices"][0];
    let ratio = |k: &str| d[k]["ratio"].as_f64().unwrap_or(-1.0);
    assert!((ratio("compute_tflops") - 1.4 / 1.536).abs() < 0.01, "{d}");
    assert!((ratio("memory_gbps") - 400.0 / 448.0).abs() < 0.01, "{d}");
    assert!((d["compute_tflops"]["expected"].as_f64().unwrap() - 1.54).abs() < 0.01);
    assert!(
        d["compute_tflops"]["basis"]
            .as_str()
            .unwrap()
            .contains("4 SM x 128 FP32 lanes x 2 x 1500 MHz (driver's peak"),
        "{d}"
    );
    assert!((d["host_link_gbps"]["host_to_device"].as_f64().unwrap() - 25.0).abs() < 0.5);
    assert_eq!(d["compute_capability"], "8.6");
    assert_eq!(d["status"], "passed");
    assert!(d["kernel"]["compute_batches"].as_u64().unwrap() >= 2, "{d}");
    assert_eq!(d["kernel"]["memory_buffer_mib"], 512);
    // No NVML here: the line says so instead of inventing samples.
    assert!(d["nvml"]["unavailable"].is_string(), "{d}");
    ledger_balanced(&ledger);

    let slow = [("FAKE_CUDA_TFLOPS", "0.6"), ("FAKE_CUDA_GBPS", "100")];
    let o = probe(&lib, &slow, &["--expect", "0", "--seconds", "1"]);
    assert_eq!(code(&o), 1, "{}", stdout(&o));
    let v = json(&o);
    let findings = v["load"]["devices"][0]["findings"].to_string();
    assert!(
        findings.contains("compute reached 0.39 of expected (below 0.8)"),
        "{findings}"
    );
    assert!(
        findings.contains("memory bandwidth reached 0.22 of expected (below 0.7)"),
        "{findings}"
    );
    assert!(v["reason"]
        .as_str()
        .unwrap()
        .starts_with("GPU 0: compute reached"));

    // A suite's thresholds are the ones applied.
    let o = probe(
        &lib,
        &slow,
        &[
            "--expect",
            "0",
            "--seconds",
            "1",
            "--min-compute",
            "0.3",
            "--min-memory",
            "0.2",
        ],
    );
    assert_eq!(code(&o), 0, "{}", stdout(&o));
    // ... and the host link only when asked.
    let o = probe(
        &lib,
        &[("FAKE_CUDA_LINK_GBPS", "2")],
        &["--expect", "0", "--seconds", "1", "--min-host-link", "0.5"],
    );
    let v = json(&o);
    let d = &v["load"]["devices"][0];
    // The fake has no NVML, so no PCIe generation: the host link cannot be judged and says so.
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    assert!(
        d["findings"]
            .to_string()
            .contains("host link: no expected figure"),
        "{d}"
    );
}

#[test]
fn bad_seconds_is_a_usage_error() {
    let o = kfcheck(&["probe", "gpu", "--load", "--seconds", "0"]);
    assert_eq!(code(&o), 2, "{}", stderr(&o));
    assert!(stderr(&o).contains("--seconds"), "{}", stderr(&o));
    let o = kfcheck(&["probe", "gpu", "--seconds", "5"]);
    assert_eq!(code(&o), 2, "--seconds needs --load: {}", stderr(&o));
}
