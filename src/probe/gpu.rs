//! `kfcheck probe gpu`: which NVIDIA GPUs this container or pod can see, through NVML (the
//! driver's library, loaded at run time; without it the probe says "no NVIDIA driver").
//!
//! With `--load` the line's `load` object carries what each GPU achieved under load against what
//! it should do (`gpu_load.rs`); without it `load` is `null` and the probe proves visibility only.

use super::ProbeStatus;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// One visible GPU.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuDevice {
    pub index: u32,
    pub uuid: Option<String>,
    pub name: Option<String>,
    pub memory_total_mib: Option<u64>,
    pub memory_used_mib: Option<u64>,
    /// Utilisation (percent) over NVML's last sample period.
    pub utilization_gpu_pct: Option<u32>,
    pub utilization_memory_pct: Option<u32>,
    pub temperature_c: Option<u32>,
    pub power_w: Option<f64>,
}

/// What NVML said, or why it could not be asked.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GpuReport {
    /// `None` when NVML loaded; otherwise the reason (e.g. "no NVIDIA driver ...").
    pub unavailable: Option<String>,
    pub driver_version: Option<String>,
    pub cuda_driver_version: Option<String>,
    pub devices: Vec<GpuDevice>,
    /// `CUDA_VISIBLE_DEVICES` / `NVIDIA_VISIBLE_DEVICES` as the runtime set them.
    pub visible_devices_env: Option<String>,
}

/// Asks NVML. Never panics without a driver: the library is opened at run time.
pub fn gpu_report() -> GpuReport {
    let env = ["NVIDIA_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| format!("{k}={v}")))
        .collect::<Vec<_>>();
    let mut r = GpuReport {
        visible_devices_env: (!env.is_empty()).then(|| env.join(" ")),
        ..GpuReport::default()
    };
    let nvml = match nvml_wrapper::Nvml::init() {
        Ok(n) => n,
        Err(nvml_wrapper::error::NvmlError::LibloadingError(_))
        | Err(nvml_wrapper::error::NvmlError::LibraryNotFound) => {
            r.unavailable = Some("no NVIDIA driver (libnvidia-ml.so.1 could not be loaded)".into());
            return r;
        }
        Err(nvml_wrapper::error::NvmlError::DriverNotLoaded) => {
            r.unavailable =
                Some("no NVIDIA driver (NVML loaded but the kernel driver is not)".into());
            return r;
        }
        Err(e) => {
            r.unavailable = Some(format!("NVML failed to start: {e}"));
            return r;
        }
    };
    r.driver_version = nvml.sys_driver_version().ok();
    r.cuda_driver_version = nvml
        .sys_cuda_driver_version()
        .ok()
        .map(|v| format!("{}.{}", v / 1000, (v % 1000) / 10));
    let count = match nvml.device_count() {
        Ok(c) => c,
        Err(e) => {
            r.unavailable = Some(format!("NVML could not count devices: {e}"));
            return r;
        }
    };
    for i in 0..count {
        let Ok(d) = nvml.device_by_index(i) else {
            continue;
        };
        let mem = d.memory_info().ok();
        let util = d.utilization_rates().ok();
        r.devices.push(GpuDevice {
            index: i,
            uuid: d.uuid().ok(),
            name: d.name().ok(),
            memory_total_mib: mem.as_ref().map(|m| m.total >> 20),
            memory_used_mib: mem.as_ref().map(|m| m.used >> 20),
            utilization_gpu_pct: util.as_ref().map(|u| u.gpu),
            utilization_memory_pct: util.as_ref().map(|u| u.memory),
            temperature_c: d
                .temperature(nvml_wrapper::enum_wrappers::device::TemperatureSensor::Gpu)
                .ok(),
            power_w: d.power_usage().ok().map(|mw| f64::from(mw) / 1000.0),
        });
    }
    r
}

/// Pure: the verdict from a report and, with `--load`, the load's status and object. Fewer GPUs
/// than expected is a failure; no driver is too (the container was supposed to see GPUs). A load
/// that failed fails the line; one that could not decide makes it errored.
pub fn evaluate(
    r: &GpuReport,
    expect_at_least: u32,
    load: Option<(Option<ProbeStatus>, Value)>,
) -> (ProbeStatus, Value) {
    let n = r.devices.len() as u32;
    let visible = if n >= expect_at_least {
        ProbeStatus::Passed
    } else {
        ProbeStatus::Failed
    };
    let (load_status, load) = load.unwrap_or((None, Value::Null));
    let status = load_status.map_or(visible, |l| super::gpu_load::worse(visible, l));
    let mut v = json!({
        "probe": "gpu",
        "status": status,
        "count": n,
        "expected_at_least": expect_at_least,
        "driver_version": r.driver_version,
        "cuda_driver_version": r.cuda_driver_version,
        "visible_devices_env": r.visible_devices_env,
        "devices": r.devices,
        "load": load,
    });
    if visible != ProbeStatus::Passed {
        // A skipped load names the missing layer, which says more than NVML's failure.
        let skip = v["load"]["skipped"]["reason"].as_str().map(str::to_string);
        v["reason"] = json!(skip
            .or_else(|| r.unavailable.clone())
            .unwrap_or_else(|| format!("{n} GPU(s) visible, expected at least {expect_at_least}")));
    } else if status != ProbeStatus::Passed {
        v["reason"] = json!(load_reason(&v["load"]));
    }
    (status, v)
}

/// One line for a load that failed or could not decide: the first finding or error of each device.
fn load_reason(load: &Value) -> String {
    let mut parts = Vec::new();
    for e in load["errors"].as_array().into_iter().flatten() {
        parts.push(format!(
            "GPU {}: the load could not run: {}",
            e["ordinal"],
            e["message"].as_str().unwrap_or_default()
        ));
    }
    for d in load["devices"].as_array().into_iter().flatten() {
        if let Some(f) = d["findings"].as_array().filter(|f| !f.is_empty()) {
            let text: Vec<&str> = f.iter().filter_map(|f| f["message"].as_str()).collect();
            parts.push(format!("GPU {}: {}", d["ordinal"], text.join("; ")));
        }
    }
    if parts.is_empty() {
        "the load did not decide".into()
    } else {
        parts.join(" | ")
    }
}

pub(crate) fn run(
    expect_at_least: u32,
    load: Option<&super::gpu_load::LoadArgs>,
) -> (ProbeStatus, Value) {
    let report = gpu_report();
    let load = load.map(super::gpu_load::run);
    evaluate(&report, expect_at_least, load)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_driver_fails_with_the_reason_and_devices_pass() {
        let r = GpuReport {
            unavailable: Some("no NVIDIA driver (x)".into()),
            ..Default::default()
        };
        let (s, v) = evaluate(&r, 1, None);
        assert_eq!(s, ProbeStatus::Failed);
        assert!(v["reason"]
            .as_str()
            .unwrap()
            .starts_with("no NVIDIA driver"));
        assert!(v["load"].is_null());
        let r = GpuReport {
            devices: vec![GpuDevice {
                index: 0,
                name: Some("NVIDIA L4".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let (s, v) = evaluate(&r, 1, None);
        assert_eq!(s, ProbeStatus::Passed);
        assert_eq!(v["devices"][0]["name"], "NVIDIA L4");
        assert_eq!(evaluate(&r, 2, None).0, ProbeStatus::Failed);
    }

    #[test]
    fn this_machine_has_no_driver_or_reports_devices() {
        let r = gpu_report();
        assert!(r.unavailable.is_some() || !r.devices.is_empty() || r.driver_version.is_some());
    }
}
