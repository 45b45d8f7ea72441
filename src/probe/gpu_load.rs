//! `kfcheck probe gpu --load`: every visible GPU computes, streams memory and copies over its
//! host link for a few seconds (kernels in `crates/kfcheck-cuda`), while NVML is sampled at 10 Hz;
//! each achieved figure is set against what the device should do, computed from what the driver
//! reports (SM count, the SM clock observed while loaded, FP32 lanes per SM by compute capability,
//! memory bus width and clock, PCIe generation and width), so no product table is kept by hand.
//!
//! Where no GPU can be loaded the line says which layer is missing: the NVIDIA container runtime,
//! the device plugin, the driver library, the driver, or the device.

use super::ProbeStatus;
use kfcheck_cuda::{CuError, DeviceInfo, Driver, Load, LoadPlan, LoadResult, OpenError, Phase};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// What a suite can set: how long to load, and the ratios a device must reach.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadArgs {
    pub seconds: f64,
    /// Achieved / expected FP32 throughput.
    pub min_compute: f64,
    /// Achieved / expected device-memory bandwidth.
    pub min_memory: f64,
    /// Achieved / expected host-link bandwidth (the slower direction); not judged when `None`.
    pub min_host_link: Option<f64>,
    /// Sample NVML while loading (off only to measure what sampling costs).
    pub sample: bool,
}

impl Default for LoadArgs {
    fn default() -> Self {
        LoadArgs {
            seconds: 10.0,
            min_compute: 0.8,
            min_memory: 0.7,
            min_host_link: None,
            sample: true,
        }
    }
}

// ---- the expected figures (pure) ----

/// FP32 lanes (CUDA cores) per SM by compute capability; `None` for one this table predates.
pub fn fp32_lanes_per_sm(major: u32, minor: u32) -> Option<u32> {
    Some(match (major, minor) {
        (3, _) => 192,
        (5, _) => 128,
        (6, 0) => 64,
        (6, _) => 128,
        (7, _) => 64,
        (8, 0) => 64,
        (8, _) => 128,
        (9..=12, _) => 128,
        _ => return None,
    })
}

/// Peak FP32 TFLOP/s: every lane retires one FMA (two operations) per clock.
pub fn expected_tflops(sm_count: u32, lanes_per_sm: u32, sm_clock_mhz: f64) -> f64 {
    f64::from(sm_count) * f64::from(lanes_per_sm) * 2.0 * sm_clock_mhz * 1e6 / 1e12
}

/// Peak device-memory GB/s: bus bytes per transfer, two transfers per memory clock (the driver
/// reports the clock of DDR-style memories at half the data rate).
pub fn expected_memory_gbps(bus_width_bits: u32, memory_clock_khz: u32) -> f64 {
    f64::from(bus_width_bits) / 8.0 * f64::from(memory_clock_khz) * 1e3 * 2.0 / 1e9
}

/// PCIe GB/s per direction: per-lane rate of the generation (after line coding) times the width.
pub fn expected_link_gbps(pcie_gen: u32, width: u32) -> Option<f64> {
    let per_lane = match pcie_gen {
        1 => 0.25,
        2 => 0.5,
        3 => 0.985,
        4 => 1.969,
        5 => 3.938,
        6 => 7.563,
        _ => return None,
    };
    Some(per_lane * f64::from(width))
}

/// `0000:17:00.0` and `00000000:17:00.0` (CUDA's and NVML's spellings) as one key.
pub fn normalise_bus_id(id: &str) -> String {
    let id = id.trim().to_ascii_lowercase();
    match id.split_once(':') {
        Some((domain, rest)) if rest.contains(':') => match u32::from_str_radix(domain, 16) {
            Ok(d) => format!("{d:04x}:{rest}"),
            Err(_) => id,
        },
        _ => format!("0000:{id}"),
    }
}

/// Nearest-rank percentile of `v` (`q` in 0..=1); `None` when empty.
pub fn percentile(v: &[f64], q: f64) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    let rank = ((q * s.len() as f64).ceil() as usize).clamp(1, s.len());
    Some(s[rank - 1])
}

/// The figure a phase reports: the median batch (the first, which warms the clocks, left out
/// when there are others), so one slow batch neither hides nor fakes a result.
pub fn achieved_rate(batches: &[kfcheck_cuda::Batch]) -> Option<f64> {
    let steady = if batches.len() > 1 {
        &batches[1..]
    } else {
        batches
    };
    let rates: Vec<f64> = steady.iter().map(|b| b.rate()).collect();
    percentile(&rates, 0.5)
}

// ---- what NVML saw ----

/// One NVML reading of one device, tagged with the phase its load was in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    pub phase: Option<Phase>,
    pub utilization_gpu_pct: Option<f64>,
    pub sm_clock_mhz: Option<f64>,
    pub memory_used_mib: Option<f64>,
    pub power_w: Option<f64>,
    pub temperature_c: Option<f64>,
    /// GPM SM activity (Hopper and later): the share of SM time spent running warps.
    pub sm_activity_pct: Option<f64>,
    /// Throttle reasons active at this reading, by NVML's names (lower case).
    pub throttle: Vec<&'static str>,
    pub pcie_gen: Option<u32>,
    pub pcie_width: Option<u32>,
}

/// ECC totals (volatile) before and after the load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ecc {
    pub corrected: u64,
    pub uncorrected: u64,
}

/// Everything the sampler learned about one device.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Observed {
    pub samples: Vec<Sample>,
    pub ecc_before: Option<Ecc>,
    pub ecc_after: Option<Ecc>,
    /// NVML's peak clocks, for a driver that no longer reports them through CUDA.
    pub max_sm_clock_mhz: Option<u32>,
    pub max_memory_clock_mhz: Option<u32>,
    pub max_pcie_gen: Option<u32>,
    pub max_pcie_width: Option<u32>,
    /// Why NVML could not watch this device, if it could not.
    pub unavailable: Option<String>,
}

/// Throttle reasons that do not fail a device: idle (between phases) and the software power cap
/// (a loaded GPU at its power limit is working as designed).
const BENIGN_THROTTLE: &[&str] = &["gpu_idle", "sw_power_cap"];

fn throttle_names(r: nvml_wrapper::bitmasks::device::ThrottleReasons) -> Vec<&'static str> {
    use nvml_wrapper::bitmasks::device::ThrottleReasons as T;
    [
        (T::GPU_IDLE, "gpu_idle"),
        (
            T::APPLICATIONS_CLOCKS_SETTING,
            "applications_clocks_setting",
        ),
        (T::SW_POWER_CAP, "sw_power_cap"),
        (T::HW_SLOWDOWN, "hw_slowdown"),
        (T::SYNC_BOOST, "sync_boost"),
        (T::SW_THERMAL_SLOWDOWN, "sw_thermal_slowdown"),
        (T::HW_THERMAL_SLOWDOWN, "hw_thermal_slowdown"),
        (T::HW_POWER_BRAKE_SLOWDOWN, "hw_power_brake_slowdown"),
        (T::DISPLAY_CLOCK_SETTING, "display_clock_setting"),
    ]
    .into_iter()
    .filter(|(bit, _)| r.contains(*bit))
    .map(|(_, n)| n)
    .collect()
}

fn ecc(d: &nvml_wrapper::Device<'_>) -> Option<Ecc> {
    use nvml_wrapper::enum_wrappers::device::{EccCounter, MemoryError};
    Some(Ecc {
        corrected: d
            .total_ecc_errors(MemoryError::Corrected, EccCounter::Volatile)
            .ok()?,
        uncorrected: d
            .total_ecc_errors(MemoryError::Uncorrected, EccCounter::Volatile)
            .ok()?,
    })
}

/// Samples NVML every 100 ms for each device in `targets` (bus id, its load) until `stop`; returns
/// what it saw per target and the time it spent in NVML calls.
fn sample_nvml(targets: &[(String, &Load)], stop: &AtomicBool) -> (Vec<Observed>, Duration) {
    use nvml_wrapper::enum_wrappers::device::{Clock, TemperatureSensor};
    let mut out = vec![Observed::default(); targets.len()];
    let nvml = match nvml_wrapper::Nvml::init() {
        Ok(n) => n,
        Err(e) => {
            for o in &mut out {
                o.unavailable = Some(format!("NVML could not be started: {e}"));
            }
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(20));
            }
            return (out, Duration::ZERO);
        }
    };
    let mut busy = Duration::ZERO;
    let began = Instant::now();
    let count = nvml.device_count().unwrap_or(0);
    let by_bus: Vec<(String, nvml_wrapper::Device<'_>)> = (0..count)
        .filter_map(|i| nvml.device_by_index(i).ok())
        .filter_map(|d| Some((normalise_bus_id(&d.pci_info().ok()?.bus_id), d)))
        .collect();
    let devices: Vec<Option<&nvml_wrapper::Device<'_>>> = targets
        .iter()
        .map(|(bus, _)| by_bus.iter().find(|(b, _)| b == bus).map(|(_, d)| d))
        .collect();
    for (o, d) in out.iter_mut().zip(&devices) {
        match d {
            None => o.unavailable = Some("NVML does not list this device's PCI bus id".into()),
            Some(d) => {
                o.ecc_before = ecc(d);
                o.max_sm_clock_mhz = d.max_clock_info(Clock::SM).ok();
                o.max_memory_clock_mhz = d.max_clock_info(Clock::Memory).ok();
                o.max_pcie_gen = d.max_pcie_link_gen().ok();
                o.max_pcie_width = d.max_pcie_link_width().ok();
            }
        }
    }
    let gpm: Vec<bool> = devices
        .iter()
        .map(|d| d.is_some_and(|d| d.gpm_support().unwrap_or(false)))
        .collect();
    let mut last_gpm: Vec<Option<nvml_wrapper::GpmSample<'_>>> =
        devices.iter().map(|_| None).collect();
    busy += began.elapsed();
    let mut next = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let tick = Instant::now();
        for (i, d) in devices.iter().enumerate() {
            let Some(d) = d else { continue };
            let phase = targets[i].1.phase();
            let util = d.utilization_rates().ok();
            let mut s = Sample {
                phase: Some(phase),
                utilization_gpu_pct: util.map(|u| f64::from(u.gpu)),
                sm_clock_mhz: d.clock_info(Clock::SM).ok().map(f64::from),
                memory_used_mib: d.memory_info().ok().map(|m| (m.used >> 20) as f64),
                power_w: d.power_usage().ok().map(|mw| f64::from(mw) / 1000.0),
                temperature_c: d.temperature(TemperatureSensor::Gpu).ok().map(f64::from),
                throttle: d
                    .current_throttle_reasons()
                    .map(throttle_names)
                    .unwrap_or_default(),
                ..Sample::default()
            };
            if phase == Phase::Link {
                s.pcie_gen = d.current_pcie_link_gen().ok();
                s.pcie_width = d.current_pcie_link_width().ok();
            }
            if gpm[i] {
                if let Ok(now) = d.gpm_sample() {
                    if let Some(prev) = &last_gpm[i] {
                        s.sm_activity_pct = nvml_wrapper::gpm::gpm_metrics_get(
                            &nvml,
                            prev,
                            &now,
                            &[nvml_wrapper::enums::gpm::GpmMetricId::SmUtil],
                        )
                        .ok()
                        .and_then(|r| r.into_iter().next())
                        .and_then(|r| r.ok())
                        .map(|m| m.value);
                    }
                    last_gpm[i] = Some(now);
                }
            }
            out[i].samples.push(s);
        }
        busy += tick.elapsed();
        next += Duration::from_millis(100);
        while !stop.load(Ordering::Relaxed) {
            let left = next.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            std::thread::sleep(left.min(Duration::from_millis(20)));
        }
    }
    let tick = Instant::now();
    for (o, d) in out.iter_mut().zip(&devices) {
        if let Some(d) = d {
            o.ecc_after = ecc(d);
        }
    }
    busy += tick.elapsed();
    (out, busy)
}

// ---- why there is nothing to load (pure) ----

/// Where the probe runs, as far as the skip reason cares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Surroundings {
    pub in_container: bool,
    pub in_pod: bool,
    pub nvidia_visible_devices: Option<String>,
}

impl Surroundings {
    pub fn here() -> Surroundings {
        let cgroup = std::fs::read_to_string("/proc/1/cgroup").unwrap_or_default();
        Surroundings {
            in_container: std::path::Path::new("/.dockerenv").exists()
                || std::path::Path::new("/run/.containerenv").exists()
                || ["docker", "kubepods", "containerd", "libpod"]
                    .iter()
                    .any(|k| cgroup.contains(k)),
            in_pod: std::env::var_os("KUBERNETES_SERVICE_HOST").is_some(),
            nvidia_visible_devices: std::env::var("NVIDIA_VISIBLE_DEVICES").ok(),
        }
    }

    /// The device plugin (or `docker --gpus`) names GPUs here; these values mean it gave none.
    fn given_no_gpu(&self) -> bool {
        match self.nvidia_visible_devices.as_deref().map(str::trim) {
            None => true,
            Some(v) => v.is_empty() || v == "void" || v == "none",
        }
    }
}

/// A load that could not start: the missing layer and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub layer: &'static str,
    pub reason: String,
}

/// The layer missing when libcuda cannot be opened.
pub fn skip_for_open(e: &OpenError, s: &Surroundings) -> Skip {
    match e {
        OpenError::MissingSymbols { .. } => Skip {
            layer: "driver-library",
            reason: format!("{e} (a toolkit stub, or a driver older than CUDA 11)"),
        },
        OpenError::NoLibrary { .. } if s.in_pod && s.given_no_gpu() => Skip {
            layer: "device-plugin",
            reason: format!(
                "the device plugin gave this pod no GPU (NVIDIA_VISIBLE_DEVICES is {}); request nvidia.com/gpu in the step's resources ({e})",
                s.nvidia_visible_devices.as_deref().map_or("unset".to_string(), |v| format!("{v:?}"))
            ),
        },
        OpenError::NoLibrary { .. } if s.in_pod => Skip {
            layer: "container-runtime",
            reason: format!(
                "the pod was given GPU(s) ({}) but the container runtime mounted no driver: the node's containerd needs the NVIDIA runtime (runtimeClassName nvidia, or the GPU operator's toolkit) ({e})",
                s.nvidia_visible_devices.as_deref().unwrap_or_default()
            ),
        },
        OpenError::NoLibrary { .. } if s.in_container => Skip {
            layer: "container-runtime",
            reason: format!(
                "this container has no NVIDIA driver mounted: run it with --gpus all on a host with the NVIDIA Container Toolkit ({e})"
            ),
        },
        OpenError::NoLibrary { .. } => Skip {
            layer: "driver-library",
            reason: format!("no NVIDIA driver is installed on this host ({e})"),
        },
    }
}

/// The layer missing when the driver loaded but `cuInit` or `cuDeviceGetCount` says no.
pub fn skip_for_init(e: Option<&CuError>, device_count: u32) -> Option<Skip> {
    match e {
        None if device_count == 0 => Some(Skip {
            layer: "device",
            reason: "the CUDA driver is loaded but reports no device (CUDA_VISIBLE_DEVICES may hide them)".into(),
        }),
        None => None,
        Some(e) if e.code == kfcheck_cuda::CUDA_ERROR_NO_DEVICE => Some(Skip {
            layer: "device",
            reason: format!("the CUDA driver is loaded but finds no device: {e}"),
        }),
        Some(e) if e.code == kfcheck_cuda::CUDA_ERROR_STUB_LIBRARY => Some(Skip {
            layer: "driver-library",
            reason: format!("the libcuda found is the CUDA toolkit's stub, not a driver: {e}"),
        }),
        Some(e) => Some(Skip {
            layer: "driver",
            reason: format!("the CUDA driver could not start: {e}"),
        }),
    }
}

// ---- one device's figures and verdict (pure) ----

/// A phase's figure against what the device should do.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Figure {
    pub achieved: Option<f64>,
    pub expected: Option<f64>,
    /// How the expected figure was found, e.g. "132 SM x 128 lanes x 2 x 1980 MHz (observed p50)".
    pub basis: String,
}

impl Figure {
    pub fn ratio(&self) -> Option<f64> {
        match (self.achieved, self.expected) {
            (Some(a), Some(e)) if e > 0.0 => Some(a / e),
            _ => None,
        }
    }
}

/// Three figures, what NVML saw, and the verdict for one device.
#[derive(Debug, Clone, PartialEq)]
pub struct DeviceLoad {
    pub info: DeviceInfo,
    pub compute: Figure,
    pub memory: Figure,
    pub host_to_device: Option<f64>,
    pub device_to_host: Option<f64>,
    pub host_link: Figure,
    pub observed: Observed,
    pub result: LoadResult,
}

fn phase_values(o: &Observed, phase: Phase, f: impl Fn(&Sample) -> Option<f64>) -> Vec<f64> {
    o.samples
        .iter()
        .filter(|s| s.phase == Some(phase))
        .filter_map(f)
        .collect()
}

/// The figures of one device from its batches and its samples.
pub fn figures(info: DeviceInfo, result: LoadResult, observed: Observed) -> DeviceLoad {
    let (major, minor) = info.compute_capability;
    let lanes = fp32_lanes_per_sm(major, minor);
    let clock_p50 = percentile(
        &phase_values(&observed, Phase::Compute, |s| s.sm_clock_mhz),
        0.5,
    );
    let (clock, clock_basis) = match (clock_p50, info.clock_khz, observed.max_sm_clock_mhz) {
        (Some(c), _, _) => (Some(c), "observed p50 while loaded"),
        (None, Some(k), _) => (
            Some(f64::from(k) / 1000.0),
            "driver's peak: no clock was sampled",
        ),
        (None, None, Some(m)) => (Some(f64::from(m)), "NVML's peak: no clock was sampled"),
        _ => (None, "no clock known"),
    };
    let compute = Figure {
        achieved: achieved_rate(&result.compute).map(|r| r / 1e12),
        expected: match (lanes, clock) {
            (Some(l), Some(c)) => Some(expected_tflops(info.sm_count, l, c)),
            _ => None,
        },
        basis: match (lanes, clock) {
            (Some(l), Some(c)) => format!(
                "{} SM x {l} FP32 lanes x 2 x {c:.0} MHz ({clock_basis})",
                info.sm_count
            ),
            (None, _) => {
                format!("compute capability {major}.{minor} is newer than kfcheck's lane table")
            }
            (_, None) => clock_basis.to_string(),
        },
    };
    let mem_clock_khz = info
        .memory_clock_khz
        .or(observed.max_memory_clock_mhz.map(|m| m * 1000));
    let memory = Figure {
        achieved: achieved_rate(&result.memory).map(|r| r / 1e9),
        expected: match (info.memory_bus_width_bits, mem_clock_khz) {
            (Some(b), Some(k)) => Some(expected_memory_gbps(b, k)),
            _ => None,
        },
        basis: match (info.memory_bus_width_bits, mem_clock_khz) {
            (Some(b), Some(k)) => format!("{b}-bit bus x {} MHz x 2", k / 1000),
            _ => "the driver reports no memory bus width or clock".into(),
        },
    };
    let link_gen = observed
        .samples
        .iter()
        .filter_map(|s| s.pcie_gen)
        .max()
        .or(observed.max_pcie_gen);
    let link_width = observed
        .samples
        .iter()
        .filter_map(|s| s.pcie_width)
        .max()
        .or(observed.max_pcie_width);
    let h2d = achieved_rate(&result.host_to_device).map(|r| r / 1e9);
    let d2h = achieved_rate(&result.device_to_host).map(|r| r / 1e9);
    let host_link = Figure {
        achieved: match (h2d, d2h) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        },
        expected: match (link_gen, link_width) {
            (Some(g), Some(w)) => expected_link_gbps(g, w),
            _ => None,
        },
        basis: match (link_gen, link_width) {
            (Some(g), Some(w)) => format!("PCIe gen{g} x{w}, one direction"),
            _ => "NVML reports no PCIe link".into(),
        },
    };
    DeviceLoad {
        info,
        compute,
        memory,
        host_to_device: h2d,
        device_to_host: d2h,
        host_link,
        observed,
        result,
    }
}

/// The rule of a figure below its threshold, and of one that could not be judged.
const BELOW: &str = "gpu-load-below-expected";
const UNDECIDED: &str = "gpu-load-undecided";

/// A device's verdict and the findings that explain it.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub status: ProbeStatus,
    pub findings: Vec<String>,
    /// The rule of each finding (`kfcheck explain <rule>`), in the same order.
    pub rules: Vec<&'static str>,
    pub throttle: Vec<&'static str>,
}

/// Pure: compute and memory against their thresholds, the host link when one is set, throttling
/// while loaded, and new ECC errors. A figure that could not be computed is undecided, not a pass.
pub fn decide(d: &DeviceLoad, a: &LoadArgs) -> Verdict {
    let mut failed = Vec::new();
    let mut undecided = Vec::new();
    let mut judge = |what: &str, fig: &Figure, min: f64| match fig.ratio() {
        Some(r) if r >= min => {}
        Some(r) => failed.push((
            BELOW,
            format!(
                "{what} reached {r:.2} of expected (below {min}): {} of {}",
                fmt_num(fig.achieved),
                fmt_num(fig.expected)
            ),
        )),
        None if fig.achieved.is_none() => {
            undecided.push((UNDECIDED, format!("{what} was not measured")))
        }
        None => undecided.push((
            UNDECIDED,
            format!("{what}: no expected figure ({})", fig.basis),
        )),
    };
    judge("compute", &d.compute, a.min_compute);
    judge("memory bandwidth", &d.memory, a.min_memory);
    if let Some(min) = a.min_host_link {
        judge("host link", &d.host_link, min);
    }
    let mut throttle: Vec<&'static str> = Vec::new();
    for s in &d.observed.samples {
        if matches!(s.phase, Some(Phase::Compute | Phase::Memory | Phase::Link)) {
            for t in &s.throttle {
                if !throttle.contains(t) {
                    throttle.push(t);
                }
            }
        }
    }
    let bad: Vec<&str> = throttle
        .iter()
        .copied()
        .filter(|t| !BENIGN_THROTTLE.contains(t))
        .collect();
    if !bad.is_empty() {
        failed.push((
            "gpu-throttled",
            format!("throttled while loaded: {}", bad.join(", ")),
        ));
    }
    if let (Some(b), Some(e)) = (d.observed.ecc_before, d.observed.ecc_after) {
        let c = e.corrected.saturating_sub(b.corrected);
        let u = e.uncorrected.saturating_sub(b.uncorrected);
        if c + u > 0 {
            failed.push((
                "gpu-ecc-errors",
                format!("{u} uncorrected and {c} corrected new ECC error(s) during the load"),
            ));
        }
    }
    let status = if !failed.is_empty() {
        ProbeStatus::Failed
    } else if !undecided.is_empty() {
        ProbeStatus::Errored
    } else {
        ProbeStatus::Passed
    };
    failed.extend(undecided);
    Verdict {
        status,
        rules: failed.iter().map(|(r, _)| *r).collect(),
        findings: failed.into_iter().map(|(_, m)| m).collect(),
        throttle,
    }
}

fn fmt_num(v: Option<f64>) -> String {
    v.map_or("?".into(), |v| format!("{v:.1}"))
}

fn round(v: Option<f64>, places: i32) -> Value {
    let m = 10f64.powi(places);
    v.map_or(Value::Null, |v| json!((v * m).round() / m))
}

fn stats(o: &Observed, phase: Phase, f: impl Fn(&Sample) -> Option<f64>) -> Value {
    let v = phase_values(o, phase, f);
    if v.is_empty() {
        return Value::Null;
    }
    json!({"p50": round(percentile(&v, 0.5), 1), "p95": round(percentile(&v, 0.95), 1)})
}

fn figure_json(f: &Figure, places: i32) -> Value {
    json!({
        "achieved": round(f.achieved, places),
        "expected": round(f.expected, places),
        "ratio": round(f.ratio(), 3),
        "basis": f.basis,
    })
}

/// The JSON of one device's load.
pub fn device_json(d: &DeviceLoad, v: &Verdict) -> Value {
    let o = &d.observed;
    let nvml = if o.unavailable.is_some() && o.samples.is_empty() {
        json!({"unavailable": o.unavailable})
    } else {
        let ecc_new = match (o.ecc_before, o.ecc_after) {
            (Some(b), Some(e)) => json!({
                "corrected": e.corrected.saturating_sub(b.corrected),
                "uncorrected": e.uncorrected.saturating_sub(b.uncorrected),
            }),
            _ => Value::Null,
        };
        let mut phases = serde_json::Map::new();
        for p in [Phase::Compute, Phase::Memory, Phase::Link] {
            phases.insert(
                p.name().into(),
                json!({
                    "samples": o.samples.iter().filter(|s| s.phase == Some(p)).count(),
                    "utilization_gpu_pct": stats(o, p, |s| s.utilization_gpu_pct),
                    "sm_activity_pct": stats(o, p, |s| s.sm_activity_pct),
                    "sm_clock_mhz": stats(o, p, |s| s.sm_clock_mhz),
                    "memory_used_mib": stats(o, p, |s| s.memory_used_mib),
                    "power_w": stats(o, p, |s| s.power_w),
                    "temperature_c": stats(o, p, |s| s.temperature_c),
                }),
            );
        }
        json!({
            "samples": o.samples.len(),
            "phases": phases,
            "throttle_reasons": v.throttle,
            "ecc_new": ecc_new,
        })
    };
    let (major, minor) = d.info.compute_capability;
    json!({
        "ordinal": d.info.ordinal,
        "name": d.info.name,
        "pci_bus_id": d.info.pci_bus_id,
        "compute_capability": format!("{major}.{minor}"),
        "sm_count": d.info.sm_count,
        "status": v.status,
        "findings": v.rules.iter().zip(&v.findings).map(|(r, m)| json!({"rule": r, "message": m})).collect::<Vec<_>>(),
        "compute_tflops": figure_json(&d.compute, 2),
        "memory_gbps": figure_json(&d.memory, 1),
        "host_link_gbps": {
            "host_to_device": round(d.host_to_device, 2),
            "device_to_host": round(d.device_to_host, 2),
            "expected": round(d.host_link.expected, 2),
            "ratio": round(d.host_link.ratio(), 3),
            "basis": d.host_link.basis,
        },
        "kernel": {
            "threads": d.result.compute_threads,
            "fma_turns_per_launch": d.result.compute_turns,
            "compute_batches": d.result.compute.len(),
            "memory_batches": d.result.memory.len(),
            "memory_buffer_mib": d.result.memory_buffer_bytes >> 20,
            "link_buffer_mib": d.result.link_buffer_bytes >> 20,
        },
        "nvml": nvml,
    })
}

// ---- running it ----

/// The `load` object of the GPU probe's line, and its status: `None` when the load was skipped
/// (the line's visibility count then decides).
pub fn run(a: &LoadArgs) -> (Option<ProbeStatus>, Value) {
    let mut v = json!({
        "seconds": a.seconds,
        "thresholds": {"compute": a.min_compute, "memory": a.min_memory, "host_link": a.min_host_link},
        "sampled": a.sample,
    });
    let drv = match Driver::open() {
        Ok(d) => d,
        Err(e) => {
            let s = skip_for_open(&e, &Surroundings::here());
            v["skipped"] = json!({"layer": s.layer, "reason": s.reason});
            return (None, v);
        }
    };
    v["driver_library"] = json!(drv.path());
    let init = drv.init().err();
    let count = if init.is_none() {
        match drv.device_count() {
            Ok(n) => n,
            Err(e) => return errored(v, &e),
        }
    } else {
        0
    };
    if let Some(s) = skip_for_init(init.as_ref(), count) {
        v["skipped"] = json!({"layer": s.layer, "reason": s.reason});
        return (None, v);
    }
    let (status, loaded) = load_all(&drv, count, a);
    if let Value::Object(m) = loaded {
        for (k, x) in m {
            v[k] = x;
        }
    }
    (Some(status), v)
}

/// Loads every device the driver lists, concurrently, with the NVML sampler beside them.
fn load_all(drv: &Driver, count: u32, a: &LoadArgs) -> (ProbeStatus, Value) {
    let mut v = json!({});
    let version = drv.version().ok();
    let mut infos = Vec::new();
    for i in 0..count as i32 {
        match drv.device(i) {
            Ok(d) => infos.push(d),
            Err(e) => {
                return (
                    ProbeStatus::Errored,
                    json!({"errors": [{"ordinal": i, "call": e.call, "message": e.to_string()}]}),
                )
            }
        }
    }
    let each = a.seconds.max(0.5) / 10.0;
    let plan = LoadPlan {
        compute: Duration::from_secs_f64(each * 4.0),
        memory: Duration::from_secs_f64(each * 4.0),
        link: Duration::from_secs_f64(each * 2.0),
    };
    let loads: Vec<Load> = infos.iter().map(|_| Load::default()).collect();
    let stop = AtomicBool::new(false);
    let began = Instant::now();
    let (results, sampled) = std::thread::scope(|s| {
        let sampler = a.sample.then(|| {
            let targets: Vec<(String, &Load)> = infos
                .iter()
                .zip(&loads)
                .map(|(i, l)| (normalise_bus_id(&i.pci_bus_id), l))
                .collect();
            let stop = &stop;
            s.spawn(move || sample_nvml(&targets, stop))
        });
        let workers: Vec<_> = infos
            .iter()
            .zip(&loads)
            .map(|(info, load)| {
                let plan = &plan;
                s.spawn(move || drv.load(info, plan, load))
            })
            .collect();
        let results: Vec<Result<LoadResult, CuError>> = workers
            .into_iter()
            .map(|w| {
                w.join().unwrap_or_else(|_| {
                    Err(CuError {
                        call: "load thread",
                        code: -1,
                        name: "panicked".into(),
                        log: None,
                    })
                })
            })
            .collect();
        stop.store(true, Ordering::Relaxed);
        let sampled = sampler.and_then(|h| h.join().ok());
        (results, sampled)
    });
    let wall = began.elapsed();
    let (mut observed, busy) =
        sampled.unwrap_or_else(|| (vec![Observed::default(); infos.len()], Duration::ZERO));
    observed.resize(infos.len(), Observed::default());
    let mut status = ProbeStatus::Passed;
    let mut devices = Vec::new();
    let mut errors = Vec::new();
    for ((info, r), o) in infos.into_iter().zip(results).zip(observed) {
        match r {
            Ok(r) => {
                let d = figures(info, r, o);
                let v = decide(&d, a);
                status = worse(status, v.status);
                devices.push(device_json(&d, &v));
            }
            Err(e) => {
                status = worse(status, ProbeStatus::Errored);
                errors.push(json!({"ordinal": info.ordinal, "name": info.name, "call": e.call, "message": e.to_string()}));
            }
        }
    }
    v["cuda_driver_api"] = json!(version.map(|v| format!("{}.{}", v / 1000, (v % 1000) / 10)));
    v["wall_seconds"] = round(Some(wall.as_secs_f64()), 2);
    v["sampler"] = if a.sample {
        json!({"hz": 10, "busy_ms": round(Some(busy.as_secs_f64() * 1000.0), 1), "busy_share_of_wall": round(Some(busy.as_secs_f64() / wall.as_secs_f64().max(1e-9)), 5)})
    } else {
        Value::Null
    };
    v["devices"] = json!(devices);
    if !errors.is_empty() {
        v["errors"] = json!(errors);
    }
    (status, v)
}

fn errored(mut v: Value, e: &CuError) -> (Option<ProbeStatus>, Value) {
    v["errors"] = json!([{"call": e.call, "message": e.to_string()}]);
    (Some(ProbeStatus::Errored), v)
}

/// The worse of two statuses: failed over errored over passed.
pub(crate) fn worse(a: ProbeStatus, b: ProbeStatus) -> ProbeStatus {
    use ProbeStatus::*;
    match (a, b) {
        (Failed, _) | (_, Failed) => Failed,
        (Errored, _) | (_, Errored) => Errored,
        _ => Passed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kfcheck_cuda::Batch;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn expected_compute_matches_published_fp32_peaks() {
        // (compute capability, SMs, boost MHz, published FP32 TFLOP/s)
        for (cc, sm, mhz, published) in [
            ((9, 0), 132, 1980.0, 66.9), // H100 SXM / H200
            ((8, 0), 108, 1410.0, 19.5), // A100
            ((8, 9), 58, 2040.0, 30.3),  // L4
            ((8, 6), 72, 1695.0, 31.2),  // A10
            ((7, 5), 40, 1590.0, 8.1),   // T4
            ((7, 0), 80, 1530.0, 15.7),  // V100
            ((6, 0), 56, 1480.0, 10.6),  // P100
        ] {
            let lanes = fp32_lanes_per_sm(cc.0, cc.1).unwrap();
            let t = expected_tflops(sm, lanes, mhz);
            assert!(close(t, published, 0.15), "{cc:?}: {t} vs {published}");
        }
        assert_eq!(fp32_lanes_per_sm(13, 0), None);
        assert_eq!(fp32_lanes_per_sm(6, 1), Some(128));
    }

    #[test]
    fn expected_memory_and_link_match_published_figures() {
        assert!(close(expected_memory_gbps(5120, 1_215_000), 1555.0, 1.0)); // A100 40GB HBM2
        assert!(close(expected_memory_gbps(5120, 2_619_000), 3352.0, 1.0)); // H100 SXM HBM3
        assert!(close(expected_memory_gbps(256, 5_001_000), 320.0, 0.1)); // T4 GDDR6
        assert!(close(expected_link_gbps(4, 16).unwrap(), 31.5, 0.1));
        assert!(close(expected_link_gbps(5, 16).unwrap(), 63.0, 0.1));
        assert_eq!(expected_link_gbps(0, 16), None);
    }

    #[test]
    fn bus_ids_from_cuda_and_nvml_meet() {
        assert_eq!(normalise_bus_id("0000:17:00.0"), "0000:17:00.0");
        assert_eq!(normalise_bus_id("00000000:17:00.0"), "0000:17:00.0");
        assert_eq!(normalise_bus_id("00000001:3B:00.0"), "0001:3b:00.0");
        assert_eq!(normalise_bus_id("17:00.0"), "0000:17:00.0");
    }

    #[test]
    fn percentiles_and_the_steady_rate() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(percentile(&v, 0.5), Some(3.0));
        assert_eq!(percentile(&v, 0.95), Some(5.0));
        assert_eq!(percentile(&[], 0.5), None);
        let b = |w: f64| Batch {
            work: w,
            gpu_seconds: 1.0,
        };
        // The warm-up batch is left out; the median of the rest is the figure.
        assert_eq!(
            achieved_rate(&[b(1.0), b(10.0), b(12.0), b(11.0)]),
            Some(11.0)
        );
        assert_eq!(achieved_rate(&[b(7.0)]), Some(7.0));
        assert_eq!(achieved_rate(&[]), None);
    }

    fn info() -> DeviceInfo {
        DeviceInfo {
            ordinal: 0,
            name: "NVIDIA H200".into(),
            pci_bus_id: "0000:17:00.0".into(),
            total_memory_bytes: 141 << 30,
            sm_count: 132,
            compute_capability: (9, 0),
            max_threads_per_sm: 2048,
            clock_khz: Some(1_980_000),
            memory_clock_khz: Some(3_201_000),
            memory_bus_width_bits: Some(6144),
        }
    }

    fn batches(rate: f64) -> Vec<Batch> {
        (0..5)
            .map(|_| Batch {
                work: rate * 0.1,
                gpu_seconds: 0.1,
            })
            .collect()
    }

    fn sample(phase: Phase, clock: f64, throttle: Vec<&'static str>) -> Sample {
        Sample {
            phase: Some(phase),
            sm_clock_mhz: Some(clock),
            utilization_gpu_pct: Some(100.0),
            throttle,
            ..Sample::default()
        }
    }

    fn load(tflops: f64, gbps: f64, samples: Vec<Sample>, ecc: (u64, u64)) -> DeviceLoad {
        figures(
            info(),
            LoadResult {
                compute: batches(tflops * 1e12),
                memory: batches(gbps * 1e9),
                host_to_device: batches(50e9),
                device_to_host: batches(52e9),
                ..LoadResult::default()
            },
            Observed {
                samples,
                ecc_before: Some(Ecc::default()),
                ecc_after: Some(Ecc {
                    corrected: ecc.0,
                    uncorrected: ecc.1,
                }),
                max_pcie_gen: Some(5),
                max_pcie_width: Some(16),
                ..Observed::default()
            },
        )
    }

    #[test]
    fn the_expected_compute_uses_the_clock_observed_under_load() {
        // Power-capped at 1500 MHz: 132 x 128 x 2 x 1500 MHz = 50.7 TFLOP/s expected; 48 achieved.
        let s = (0..20)
            .map(|i| {
                sample(
                    Phase::Compute,
                    1490.0 + (i % 3) as f64 * 10.0,
                    vec!["sw_power_cap"],
                )
            })
            .collect();
        let d = load(48.0, 4300.0, s, (0, 0));
        assert!(
            close(d.compute.expected.unwrap(), 50.69, 0.01),
            "{:?}",
            d.compute
        );
        assert!(
            d.compute.basis.contains("observed p50"),
            "{}",
            d.compute.basis
        );
        let v = decide(&d, &LoadArgs::default());
        assert_eq!(v.status, ProbeStatus::Passed, "{:?}", v.findings);
        assert_eq!(v.throttle, vec!["sw_power_cap"]);
        // The memory figure: 6144-bit x 3201 MHz x 2 = 4917 GB/s; 4300 is 0.87.
        assert!(close(d.memory.ratio().unwrap(), 0.874, 0.001));
        assert!(
            close(d.host_link.achieved.unwrap(), 50.0, 0.01),
            "the slower direction"
        );
        assert!(close(d.host_link.expected.unwrap(), 63.0, 0.01));
    }

    #[test]
    fn slow_throttled_or_erroring_devices_fail_with_reasons() {
        let fast = || {
            (0..10)
                .map(|_| sample(Phase::Compute, 1980.0, vec![]))
                .collect()
        };
        let a = LoadArgs::default();
        let v = decide(&load(30.0, 4500.0, fast(), (0, 0)), &a);
        assert_eq!(v.status, ProbeStatus::Failed);
        assert!(
            v.findings[0].starts_with("compute reached 0.45 of expected (below 0.8)"),
            "{:?}",
            v.findings
        );

        let v = decide(&load(64.0, 2000.0, fast(), (0, 0)), &a);
        assert!(
            v.findings[0].starts_with("memory bandwidth reached 0.41"),
            "{:?}",
            v.findings
        );

        let mut s: Vec<Sample> = fast();
        s.push(sample(
            Phase::Memory,
            1980.0,
            vec!["hw_thermal_slowdown", "sw_power_cap"],
        ));
        s.push(sample(Phase::Setup, 1980.0, vec!["hw_slowdown"])); // not while loaded: ignored
        let v = decide(&load(64.0, 4500.0, s, (0, 0)), &a);
        assert_eq!(v.status, ProbeStatus::Failed);
        assert_eq!(
            v.findings,
            vec!["throttled while loaded: hw_thermal_slowdown"]
        );

        let v = decide(&load(64.0, 4500.0, fast(), (2, 1)), &a);
        assert_eq!(
            v.findings,
            vec!["1 uncorrected and 2 corrected new ECC error(s) during the load"]
        );

        // The host link only counts when a threshold is set.
        let strict = LoadArgs {
            min_host_link: Some(0.9),
            ..LoadArgs::default()
        };
        let v = decide(&load(64.0, 4500.0, fast(), (0, 0)), &strict);
        assert!(
            v.findings[0].starts_with("host link reached 0.79"),
            "{:?}",
            v.findings
        );
        assert_eq!(
            decide(&load(64.0, 4500.0, fast(), (0, 0)), &a).status,
            ProbeStatus::Passed
        );
    }

    #[test]
    fn a_figure_that_cannot_be_computed_is_undecided_not_a_pass() {
        let mut d = load(64.0, 4500.0, vec![], (0, 0));
        d.info.compute_capability = (13, 0);
        let d = figures(d.info, d.result, d.observed);
        let v = decide(&d, &LoadArgs::default());
        assert_eq!(v.status, ProbeStatus::Errored);
        assert!(
            v.findings[0].contains("newer than kfcheck's lane table"),
            "{:?}",
            v.findings
        );

        let mut d = load(64.0, 4500.0, vec![], (0, 0));
        d.result.memory.clear();
        let d = figures(d.info, d.result, d.observed);
        let v = decide(&d, &LoadArgs::default());
        assert_eq!(v.status, ProbeStatus::Errored);
        assert_eq!(v.findings, vec!["memory bandwidth was not measured"]);
    }

    #[test]
    fn the_device_json_has_the_figures_and_the_phases() {
        let s = vec![
            sample(Phase::Compute, 1980.0, vec![]),
            sample(Phase::Memory, 1900.0, vec![]),
        ];
        let d = load(60.0, 4400.0, s, (0, 0));
        let v = decide(&d, &LoadArgs::default());
        let j = device_json(&d, &v);
        assert_eq!(j["status"], "passed");
        assert_eq!(j["compute_capability"], "9.0");
        assert!(
            close(j["compute_tflops"]["ratio"].as_f64().unwrap(), 0.897, 0.001),
            "{j}"
        );
        assert_eq!(j["nvml"]["phases"]["compute"]["samples"], 1);
        assert_eq!(
            j["nvml"]["phases"]["compute"]["sm_clock_mhz"]["p50"],
            1980.0
        );
        assert!(j["nvml"]["phases"]["link"]["sm_clock_mhz"].is_null());
        assert_eq!(j["nvml"]["ecc_new"]["uncorrected"], 0);
        assert_eq!(j["host_link_gbps"]["basis"], "PCIe gen5 x16, one direction");
    }

    #[test]
    fn the_missing_layer_follows_where_the_probe_runs() {
        let none = OpenError::NoLibrary {
            tried: vec!["libcuda.so.1".into()],
            error: "not found".into(),
        };
        let host = Surroundings::default();
        assert_eq!(skip_for_open(&none, &host).layer, "driver-library");
        let container = Surroundings {
            in_container: true,
            ..Surroundings::default()
        };
        let s = skip_for_open(&none, &container);
        assert_eq!(s.layer, "container-runtime");
        assert!(s.reason.contains("--gpus all"), "{}", s.reason);
        let pod = |v: Option<&str>| Surroundings {
            in_container: true,
            in_pod: true,
            nvidia_visible_devices: v.map(String::from),
        };
        assert_eq!(skip_for_open(&none, &pod(None)).layer, "device-plugin");
        assert_eq!(
            skip_for_open(&none, &pod(Some("none"))).layer,
            "device-plugin"
        );
        assert_eq!(
            skip_for_open(&none, &pod(Some("all"))).layer,
            "container-runtime"
        );
        let stub = OpenError::MissingSymbols {
            path: "libcuda.so".into(),
            missing: vec!["cuLaunchKernel".into()],
        };
        assert_eq!(
            skip_for_open(&stub, &pod(Some("all"))).layer,
            "driver-library"
        );
        let e = |code| CuError {
            call: "cuInit",
            code,
            name: kfcheck_cuda::error_name(code).into(),
            log: None,
        };
        assert_eq!(skip_for_init(Some(&e(100)), 0).unwrap().layer, "device");
        assert_eq!(
            skip_for_init(Some(&e(34)), 0).unwrap().layer,
            "driver-library"
        );
        assert_eq!(skip_for_init(Some(&e(999)), 0).unwrap().layer, "driver");
        assert_eq!(skip_for_init(None, 0).unwrap().layer, "device");
        assert_eq!(skip_for_init(None, 2), None);
    }
}
