//! The GPU probe's line (`kfcheck probe gpu --load`) as a check reads it, wherever the probe ran:
//! a local container (`container-gpu`) or a pipeline's GPU step. Pure: a line in, the findings,
//! notes and "could not decide" out. A load that could not run is never a pass.

use crate::model::{FindingRule, Severity};
use serde_json::Value;

/// What a loaded GPU can be found to do wrong (`kfcheck explain <rule>`).
pub const GPU_LOAD_RULE_LIST: [FindingRule; 3] = [
    FindingRule {
        id: "gpu-load-below-expected",
        default_severity: Severity::Error,
        summary: "a loaded gpu computes, streams memory or copies over its host link below what it should",
        fix: "Compare the achieved and expected figures in the evidence: a low compute ratio with a low clock points at power or thermal limits (nvidia-smi -q -d PERFORMANCE), low memory bandwidth at a degraded device (run DCGM diagnostics, dcgmi diag -r 3), a slow host link at a PCIe slot or riser running below its generation or width (nvidia-smi -q -d PCIE).",
    },
    FindingRule {
        id: "gpu-throttled",
        default_severity: Severity::Error,
        summary: "a gpu slowed its clocks under load for a reason other than its power cap",
        fix: "Thermal or hardware slowdown under a few seconds of load means cooling, power delivery or a failing board: check the node's fans and inlet temperature, nvidia-smi -q -d PERFORMANCE, and drain the node until it is fixed.",
    },
    FindingRule {
        id: "gpu-ecc-errors",
        default_severity: Severity::Error,
        summary: "a gpu reported new ecc memory errors while loaded",
        fix: "Read nvidia-smi -q -d ECC,ROW_REMAPPER on the node: uncorrected errors kill jobs; drain the node and have the GPU's memory checked (DCGM, or the vendor's RMA process).",
    },
];

/// kfcheck's GPU sample step: the compiled pipeline's executor and the Workflow's template.
pub const SAMPLE_EXECUTOR: &str = "exec-gpu-probe";
pub const SAMPLE_TEMPLATE: &str = "gpu-probe";
/// Where kfcheck's images (the Dockerfile, scripts/probe-image) put the binary.
pub const PROBE_BINARY: &str = "/usr/local/bin/kfcheck";
/// Seconds of load in the GPU sample's step.
pub const SAMPLE_LOAD_SECONDS: u32 = 10;

/// The GPU sample step's command and arguments with a probe image: the loaded probe, its line
/// written to the step's output `output_file` as well as the log.
pub fn probe_step(output_file: &str) -> (Vec<String>, Vec<String>) {
    let args = [
        "probe",
        "gpu",
        "--expect",
        "1",
        "--load",
        "--seconds",
        &SAMPLE_LOAD_SECONDS.to_string(),
        "--output-file",
        output_file,
    ];
    (
        vec![PROBE_BINARY.to_string()],
        args.iter().map(|a| a.to_string()).collect(),
    )
}

/// A step output (or log line) that is the GPU probe's line.
pub fn probe_output(text: &str) -> Option<Value> {
    crate::clients::container::probe_line(text).filter(|v| v["probe"] == "gpu")
}

/// The GPU sample step's probe line from its pod's log, found by the pod name the door reported
/// (the REST door: the KFP API returns no step output parameters). `Ok(None)` when the log has
/// no probe line; `Err` says why the log could not be read.
pub async fn step_log_probe_line(
    client: kube::Client,
    steps: &[super::StepResult],
) -> Result<Option<Value>, String> {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::{Api, ListParams, LogParams};
    let Some(pod) = steps
        .iter()
        .find(|s| s.name == SAMPLE_TEMPLATE)
        .and_then(|s| s.pod.clone())
    else {
        return Err(format!(
            "the run reports no pod for its {SAMPLE_TEMPLATE} step"
        ));
    };
    let all: Api<Pod> = Api::all(client.clone());
    let found = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        all.list(
            &ListParams::default()
                .fields(&format!("metadata.name={pod}"))
                .limit(5),
        ),
    )
    .await
    .map_err(|_| format!("listing pod {pod}: no answer within 15s"))?
    .map_err(|e| format!("listing pod {pod}: {e}"))?;
    let Some(p) = found.items.first() else {
        return Err(format!("pod {pod} is gone (deleted after the run?)"));
    };
    let ns = p.metadata.namespace.clone().unwrap_or_default();
    let containers: Vec<String> = p
        .spec
        .as_ref()
        .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
        .unwrap_or_default();
    // KFP's executor pods run the step in `main` beside Argo's `wait`.
    let container = containers
        .iter()
        .find(|c| *c == "main")
        .or(containers.first())
        .cloned();
    let logs = tokio::time::timeout(
        std::time::Duration::from_secs(15),
        Api::<Pod>::namespaced(client, &ns).logs(
            &pod,
            &LogParams {
                container,
                tail_lines: Some(200),
                limit_bytes: Some(256 * 1024),
                ..LogParams::default()
            },
        ),
    )
    .await
    .map_err(|_| format!("reading the log of pod {ns}/{pod}: no answer within 15s"))?
    .map_err(|e| format!("reading the log of pod {ns}/{pod}: {e}"))?;
    Ok(probe_output(&logs))
}

/// The evidence of a GPU that a CPU container or pod should not see: the env probe's `gpus`
/// (device nodes, NVML's count, `NVIDIA_VISIBLE_DEVICES`).
pub fn gpu_exposure_evidence(g: &Value) -> Vec<crate::model::Evidence> {
    use crate::model::Evidence;
    let files: Vec<&str> = g["device_files"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    vec![
        Evidence::new(
            "device files",
            if files.is_empty() {
                "none".into()
            } else {
                files.join(", ")
            },
        )
        .expected("none"),
        Evidence::new("NVML devices", g["nvml_devices"].to_string()).expected("0 or null"),
        Evidence::new(
            "NVIDIA_VISIBLE_DEVICES",
            g["nvidia_visible_devices"]
                .as_str()
                .unwrap_or("(unset)")
                .to_string(),
        ),
    ]
}

/// What the load part of one probe line says.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LoadReading {
    /// (rule, message, the device's figures as one line).
    pub findings: Vec<(&'static str, String, String)>,
    pub notes: Vec<String>,
    /// Why the load could not decide (it could not run, or a figure could not be judged).
    pub undecided: Option<String>,
    /// What each device achieved, for the report's `figures.gpu_load.devices` (what `diff`
    /// compares): `[{ordinal, name, compute_tflops, memory_gbps, host_to_device_gbps,
    /// device_to_host_gbps}]`, each figure only where the line had it, a device only with one;
    /// `None` when no device was measured, with or without findings.
    pub figures: Option<Value>,
}

/// The figures of one device of the load, `None` when it has none.
fn device_figures(d: &Value) -> Option<Value> {
    let mut f = serde_json::Map::new();
    for (key, at) in [
        ("compute_tflops", "/compute_tflops/achieved"),
        ("memory_gbps", "/memory_gbps/achieved"),
        ("host_to_device_gbps", "/host_link_gbps/host_to_device"),
        ("device_to_host_gbps", "/host_link_gbps/device_to_host"),
    ] {
        if let Some(x) = d.pointer(at).and_then(Value::as_f64).filter(|x| *x >= 0.0) {
            f.insert(key.into(), x.into());
        }
    }
    if f.is_empty() {
        return None;
    }
    if let Some(o) = d.get("ordinal").filter(|o| o.is_u64()) {
        f.insert("ordinal".into(), o.clone());
    }
    if let Some(n) = d.get("name").filter(|n| n.is_string()) {
        f.insert("name".into(), n.clone());
    }
    Some(Value::Object(f))
}

/// Puts a load's device figures (`LoadReading::figures`) into a check's figures as
/// `{"gpu_load": {"devices": [...]}}`, beside what the check already keeps there.
pub fn put_load_figures(figures: &mut Option<Value>, devices: &Value) {
    let all = figures.get_or_insert_with(|| Value::Object(Default::default()));
    if let Some(all) = all.as_object_mut() {
        all.insert("gpu_load".into(), serde_json::json!({ "devices": devices }));
    }
}

fn num(v: &Value, places: usize) -> String {
    v.as_f64().map_or("?".into(), |x| format!("{x:.places$}"))
}

/// One line of a device's figures: achieved of expected, ratio, and NVML's SM activity.
pub fn figures_line(d: &Value) -> String {
    let c = &d["compute_tflops"];
    let m = &d["memory_gbps"];
    let l = &d["host_link_gbps"];
    let mut s = format!(
        "GPU {} {}: compute {} of {} TFLOP/s ({}), memory {} of {} GB/s ({}), host link {} / {} GB/s to / from the device",
        d["ordinal"],
        d["name"].as_str().unwrap_or("?"),
        num(&c["achieved"], 1),
        num(&c["expected"], 1),
        num(&c["ratio"], 2),
        num(&m["achieved"], 0),
        num(&m["expected"], 0),
        num(&m["ratio"], 2),
        num(&l["host_to_device"], 1),
        num(&l["device_to_host"], 1),
    );
    if let Some(x) = l["expected"].as_f64() {
        s.push_str(&format!(" (expected {x:.1})"));
    }
    let phase = &d["nvml"]["phases"]["compute"];
    if let Some(a) = phase["sm_activity_pct"]["p50"].as_f64() {
        s.push_str(&format!("; SM activity p50 {a:.0}%"));
    } else if let Some(u) = phase["utilization_gpu_pct"]["p50"].as_f64() {
        s.push_str(&format!("; utilisation p50 {u:.0}%"));
    }
    if let Some(clk) = phase["sm_clock_mhz"]["p50"].as_f64() {
        s.push_str(&format!(", SM clock p50 {clk:.0} MHz"));
    }
    s
}

/// Reads the `load` object of a GPU probe line.
pub fn read_load(line: &Value) -> LoadReading {
    let mut r = LoadReading::default();
    let load = &line["load"];
    if load.is_null() {
        r.notes
            .push("visibility only: the probe ran without --load, so no GPU was loaded".into());
        return r;
    }
    if let Some(s) = load.get("skipped").filter(|s| !s.is_null()) {
        let (layer, reason) = (
            s["layer"].as_str().unwrap_or("?"),
            s["reason"].as_str().unwrap_or("no reason given"),
        );
        r.undecided = Some(if line["count"].as_u64().unwrap_or(0) > 0 {
            format!("the GPUs are visible but none could be loaded ({layer}): {reason}")
        } else {
            format!("no GPU could be loaded ({layer}): {reason}")
        });
        return r;
    }
    let mut undecided = Vec::new();
    for e in load["errors"].as_array().into_iter().flatten() {
        undecided.push(format!(
            "the load could not run on GPU {}: {}",
            e["ordinal"],
            e["message"].as_str().unwrap_or("?")
        ));
    }
    for d in load["devices"].as_array().into_iter().flatten() {
        let line = figures_line(d);
        let mut clean = true;
        for f in d["findings"].as_array().into_iter().flatten() {
            let msg = f["message"].as_str().unwrap_or("?");
            let rule = GPU_LOAD_RULE_LIST
                .iter()
                .find(|x| Some(x.id) == f["rule"].as_str())
                .map(|x| x.id);
            clean = false;
            match rule {
                Some(rule) => r.findings.push((
                    rule,
                    format!(
                        "GPU {} ({}): {msg}",
                        d["ordinal"],
                        d["name"].as_str().unwrap_or("?")
                    ),
                    line.clone(),
                )),
                None => undecided.push(format!("GPU {}: {msg}", d["ordinal"])),
            }
        }
        if clean {
            r.notes.push(line);
        }
    }
    let figures: Vec<Value> = load["devices"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(device_figures)
        .collect();
    if !figures.is_empty() {
        r.figures = Some(Value::Array(figures));
    }
    if load["devices"].as_array().is_none_or(|d| d.is_empty()) && undecided.is_empty() {
        undecided.push("the load reported no device".into());
    }
    if !undecided.is_empty() {
        r.undecided = Some(undecided.join("; "));
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn device(findings: Value) -> Value {
        json!({
            "ordinal": 0, "name": "NVIDIA H200", "status": "passed", "findings": findings,
            "compute_tflops": {"achieved": 62.14, "expected": 66.9, "ratio": 0.929},
            "memory_gbps": {"achieved": 4310.0, "expected": 4917.0, "ratio": 0.877},
            "host_link_gbps": {"host_to_device": 50.2, "device_to_host": 52.1, "expected": 63.0},
            "nvml": {"phases": {"compute": {"sm_activity_pct": {"p50": 98.0}, "sm_clock_mhz": {"p50": 1980.0}}}}
        })
    }

    #[test]
    fn a_passing_load_is_a_note_with_the_figures() {
        let r = read_load(&json!({"load": {"devices": [device(json!([]))]}}));
        assert!(r.findings.is_empty() && r.undecided.is_none(), "{r:?}");
        assert_eq!(
            r.notes[0],
            "GPU 0 NVIDIA H200: compute 62.1 of 66.9 TFLOP/s (0.93), memory 4310 of 4917 GB/s (0.88), host link 50.2 / 52.1 GB/s to / from the device (expected 63.0); SM activity p50 98%, SM clock p50 1980 MHz"
        );
    }

    #[test]
    fn findings_keep_their_rule_and_unknown_ones_are_undecided() {
        let d = device(json!([
            {"rule": "gpu-throttled", "message": "throttled while loaded: hw_slowdown"},
            {"rule": "gpu-load-undecided", "message": "memory bandwidth was not measured"}
        ]));
        let r = read_load(&json!({"load": {"devices": [d]}}));
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].0, "gpu-throttled");
        assert!(r.findings[0]
            .1
            .starts_with("GPU 0 (NVIDIA H200): throttled"));
        assert_eq!(
            r.undecided.as_deref(),
            Some("GPU 0: memory bandwidth was not measured")
        );
    }

    #[test]
    fn no_load_a_skipped_load_and_an_errored_one() {
        let r = read_load(&json!({"load": null}));
        assert!(r.notes[0].starts_with("visibility only"));
        assert!(r.undecided.is_none());
        let r = read_load(
            &json!({"load": {"skipped": {"layer": "driver-library", "reason": "no libcuda"}}}),
        );
        assert!(r
            .undecided
            .unwrap()
            .contains("(driver-library): no libcuda"));
        let r = read_load(
            &json!({"load": {"devices": [], "errors": [{"ordinal": 1, "message": "cuMemAlloc_v2 returned CUDA_ERROR_OUT_OF_MEMORY (2)"}]}}),
        );
        assert!(r.undecided.unwrap().contains("GPU 1: cuMemAlloc_v2"));
        let r = read_load(&json!({"load": {"devices": []}}));
        assert_eq!(r.undecided.as_deref(), Some("the load reported no device"));
    }

    use crate::model::figures_schema_allows as schema_allows;

    #[test]
    fn the_figures_of_each_device_are_kept_and_missing_ones_left_out() {
        let partial = json!({"ordinal": 1, "name": "NVIDIA H200", "findings": [],
            "compute_tflops": {"achieved": 58.0, "expected": 66.9, "ratio": 0.87},
            "memory_gbps": {"expected": 4917.0}, "host_link_gbps": {"host_to_device": 49.0}});
        let r = read_load(&json!({"load": {"devices": [device(json!([])), partial]}}));
        assert_eq!(
            r.figures,
            Some(json!([
                {"ordinal": 0, "name": "NVIDIA H200", "compute_tflops": 62.14, "memory_gbps": 4310.0,
                    "host_to_device_gbps": 50.2, "device_to_host_gbps": 52.1},
                {"ordinal": 1, "name": "NVIDIA H200", "compute_tflops": 58.0, "host_to_device_gbps": 49.0}
            ]))
        );
        let mut figures = None;
        put_load_figures(&mut figures, r.figures.as_ref().unwrap());
        assert!(schema_allows(&figures.unwrap()));
        // A finding does not drop the figures; no load, or no measured device, keeps none.
        let slow = device(json!([{"rule": "gpu-throttled", "message": "hw_slowdown"}]));
        let r = read_load(&json!({"load": {"devices": [slow]}}));
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.figures.unwrap()[0]["compute_tflops"], 62.14);
        for line in [
            json!({"load": null}),
            json!({"load": {"skipped": {"layer": "driver-library", "reason": "no libcuda"}}}),
            json!({"load": {"devices": []}}),
            json!({"load": {"devices": [{"ordinal": 0, "name": "x", "compute_tflops": {"expected": 66.9}}]}}),
        ] {
            assert_eq!(read_load(&line).figures, None, "{line}");
        }
        let mut figures = Some(json!({"io_sweep": {"from": "host"}}));
        put_load_figures(
            &mut figures,
            &json!([{"ordinal": 0, "compute_tflops": 1.0}]),
        );
        assert_eq!(
            figures,
            Some(
                json!({"io_sweep": {"from": "host"}, "gpu_load": {"devices": [{"ordinal": 0, "compute_tflops": 1.0}]}})
            )
        );
    }
}
