//! `container-run`: a component's image and command run as a local Docker container, in CPU mode
//! or GPU mode (`--gpus all` as a device request), and exit 0 within a timeout. The log tail is
//! kept as evidence (redacted). In GPU mode the container is expected to be the kfcheck probe,
//! whose JSON line says which GPUs it saw and, loaded (`probe gpu --load`, the default), what each
//! achieved against what it should; without a GPU runtime the check is skipped. In CPU mode the
//! probe's environment line must show no GPU (a CPU container that gets one wastes it and hides a
//! runtime misconfiguration).

use super::{typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::clients::container::Spec;
use crate::clients::redact;
use crate::context::Need;
use crate::doors::docker::{check_network, duration, gpu_runtime, run_labelled, PROBE_IMAGE};
use crate::doors::gpu_line::{
    gpu_exposure_evidence, put_load_figures, read_load, GPU_LOAD_RULE_LIST,
};
use crate::doors::Mode;
use crate::model::owned::Created;
use crate::model::FindingRule;
use crate::model::{Evidence, Finding, Severity, Subject};
use futures::future::BoxFuture;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

pub struct ContainerRun;

/// The findings this kind can report (`kfcheck explain <rule>`).
static RULES: &[FindingRule] = &crate::model::concat_rules::<7>(&OWN_RULES, &GPU_LOAD_RULE_LIST);

const OWN_RULES: [FindingRule; 4] = [
    FindingRule {
        id: "container-timed-out",
        default_severity: Severity::Error,
        summary: "container did not finish within the timeout",
        fix: "Make the command finish (it may wait for input or a network it cannot reach), or raise `timeout`.",
    },
    FindingRule {
        id: "gpu-not-visible-in-container",
        default_severity: Severity::Error,
        summary: "gpu container sees fewer gpus than expected",
        fix: "Install the NVIDIA driver and Container Toolkit on the Docker host and check `docker run --gpus all` there.",
    },
    FindingRule {
        id: "container-exit-nonzero",
        default_severity: Severity::Error,
        summary: "container exited with an error",
        fix: "Read the container's log tail in the evidence and fix the image or command so it exits 0.",
    },
    FindingRule {
        id: "gpu-visible-in-cpu-container",
        default_severity: Severity::Error,
        summary: "a cpu-mode container can see a gpu",
        fix: "A container that asked for no GPU got one: the NVIDIA runtime is Docker's default runtime and the image sets NVIDIA_VISIBLE_DEVICES=all (CUDA base images do). Set NVIDIA_VISIBLE_DEVICES=void for CPU work, or stop making nvidia the default runtime; in Kubernetes the same fault lets CPU pods use GPUs the scheduler thinks are free.",
    },
];

static META: KindMeta = KindMeta {
    name: "container-run",
    needs: &[Need::Docker],
    effect: Effect::CreatesResources,
    creates: &[Created::Containers],
    rules: RULES,
    default_timeout: Duration::from_secs(300),
    what: "An image and command run as a local Docker container (CPU mode, or GPU mode with all GPUs requested like `docker run --gpus all`) and exit 0 within the timeout; in GPU mode the kfcheck probe inside reports the GPUs it sees. The container is labelled with the run id and removed afterwards.",
    why: "If a component does not run in Docker on the data scientist's machine it will not run in Kubeflow either; running it locally separates image and code problems from cluster problems.",
    fix: "Read the log tail in the evidence: fix the image or command so it exits 0; for GPU mode install the NVIDIA driver and Container Toolkit on the Docker host.",
    params: &[
        ("image", "image to run (default kfcheck-probe:dev, built by scripts/probe-image)"),
        ("command", "entrypoint override, list of words (default: the image's)"),
        ("args", "arguments, list of words (default: probe env in CPU mode, probe gpu --load in GPU mode)"),
        ("mode", "cpu or gpu (default cpu)"),
        ("expect_gpus", "GPU mode: at least this many GPUs must be visible inside (default 1)"),
        ("load", "GPU mode: false for visibility only, or {seconds, min_compute, min_memory, min_host_link} for the loaded probe (default: load for 10 s, compute >= 0.8 and memory >= 0.7 of expected)"),
        ("timeout", "how long the container may run before it is killed, e.g. 60s (default 120s)"),
        ("network", "none or host (default none)"),
        ("env", "map of environment variables for the container"),
        ("pull", "pull the image when it is not present (default false: use local images only)"),
    ],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "probe_image")]
    image: String,
    #[serde(default)]
    command: Option<Vec<String>>,
    #[serde(default)]
    args: Option<Vec<String>>,
    #[serde(default = "cpu")]
    mode: Mode,
    #[serde(default = "one")]
    expect_gpus: u32,
    #[serde(default = "default_timeout", deserialize_with = "duration")]
    timeout: Duration,
    #[serde(default = "none")]
    network: String,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    pull: bool,
    #[serde(default)]
    load: LoadParam,
}

/// `load: false`, `load: true` or the loaded probe's settings.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum LoadParam {
    Switch(bool),
    Settings(LoadSettings),
}

impl Default for LoadParam {
    fn default() -> Self {
        LoadParam::Switch(true)
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadSettings {
    #[serde(default = "ten")]
    seconds: f64,
    #[serde(default)]
    min_compute: Option<f64>,
    #[serde(default)]
    min_memory: Option<f64>,
    #[serde(default)]
    min_host_link: Option<f64>,
}

fn ten() -> f64 {
    10.0
}

impl LoadParam {
    /// The probe's `--load ...` arguments, or none for visibility only.
    fn args(&self) -> Vec<String> {
        let s = match self {
            LoadParam::Switch(false) => return vec![],
            LoadParam::Switch(true) => LoadSettings {
                seconds: 10.0,
                min_compute: None,
                min_memory: None,
                min_host_link: None,
            },
            LoadParam::Settings(s) => *s,
        };
        let mut a = vec![
            "--load".to_string(),
            "--seconds".into(),
            s.seconds.to_string(),
        ];
        for (flag, v) in [
            ("--min-compute", s.min_compute),
            ("--min-memory", s.min_memory),
            ("--min-host-link", s.min_host_link),
        ] {
            if let Some(v) = v {
                a.push(flag.into());
                a.push(v.to_string());
            }
        }
        a
    }

    fn seconds(&self) -> f64 {
        match self {
            LoadParam::Switch(_) => 10.0,
            LoadParam::Settings(s) => s.seconds,
        }
    }
}

fn probe_image() -> String {
    PROBE_IMAGE.into()
}
fn cpu() -> Mode {
    Mode::Cpu
}
fn one() -> u32 {
    1
}
fn none() -> String {
    "none".into()
}
fn default_timeout() -> Duration {
    Duration::from_secs(120)
}

/// What the container did, as the pure evaluation sees it.
#[derive(Debug, Clone)]
pub(crate) struct Facts {
    pub image: String,
    pub mode: Mode,
    pub expect_gpus: u32,
    pub timeout: Duration,
    pub exit_code: Option<i64>,
    pub timed_out: bool,
    pub duration: Duration,
    /// Redacted tail of the logs.
    pub log_tail: String,
    pub probe: Option<serde_json::Value>,
}

pub(crate) fn evaluate(f: &Facts, severity: Severity) -> Result<Outcome, CheckError> {
    let mut out = Outcome::default();
    let subject = Subject::new("container", f.image.clone());
    let mode = if f.mode == Mode::Gpu { "gpu" } else { "cpu" };
    let logs = Evidence::new(
        "log tail",
        if f.log_tail.is_empty() {
            "(no output)".to_string()
        } else {
            f.log_tail.clone()
        },
    );
    if f.timed_out {
        out.findings.push(Finding::new(
            "container-timed-out",
            severity,
            subject,
            "container did not finish within the timeout",
            vec![Evidence::new("ran for", format!("{:.1}s", f.duration.as_secs_f64())).expected(format!("exit within {}", humantime::format_duration(f.timeout))), logs],
            "Make the command finish (it may wait for input or a network it cannot reach), or raise `timeout`.",
        ));
        return Ok(out);
    }
    if f.mode == Mode::Gpu {
        let Some(p) = &f.probe else {
            return Err(CheckError::Undecided(format!("the GPU container printed no kfcheck probe line (exit {}); run the kfcheck probe image in GPU mode", f.exit_code.unwrap_or(-1))));
        };
        let count = p.get("count").and_then(|c| c.as_u64()).unwrap_or(0);
        if count < u64::from(f.expect_gpus) {
            let why = p
                .get("reason")
                .and_then(|r| r.as_str())
                .unwrap_or("no reason given")
                .to_string();
            out.findings.push(Finding::new(
                "gpu-not-visible-in-container",
                severity,
                subject,
                "gpu container sees fewer gpus than expected",
                vec![Evidence::new("visible gpus", count.to_string()).expected(format!(">= {}", f.expect_gpus)), Evidence::new("probe", why)],
                "Install the NVIDIA driver and Container Toolkit on the Docker host and check `docker run --gpus all` there.",
            ));
            return Ok(out);
        }
        let names: Vec<String> = p
            .get("devices")
            .and_then(|d| d.as_array())
            .map(|ds| {
                ds.iter()
                    .filter_map(|d| d.get("name").and_then(|n| n.as_str()).map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        out.notes.push(format!(
            "GPU container sees {count} GPU(s): {}",
            names.join(", ")
        ));
        let load = read_load(p);
        // Kept with or without findings: `diff` compares them between runs.
        if let Some(devices) = &load.figures {
            put_load_figures(&mut out.figures, devices);
        }
        for (rule, message, figures) in load.findings {
            let meta = GPU_LOAD_RULE_LIST.iter().find(|r| r.id == rule);
            out.findings.push(Finding::new(
                rule,
                severity,
                subject.clone(),
                meta.map_or("", |m| m.summary),
                vec![
                    Evidence::new("load", message),
                    Evidence::new("figures", figures),
                ],
                meta.map_or("", |m| m.fix),
            ));
        }
        out.notes.extend(load.notes);
        if let Some(why) = load.undecided {
            if out.findings.is_empty() {
                return Err(CheckError::Undecided(why));
            }
            out.notes.push(why);
        }
        if !out.findings.is_empty() {
            return Ok(out);
        }
    } else if let Some(g) = f
        .probe
        .as_ref()
        .map(|p| &p["gpus"])
        .filter(|g| g["visible"] == true)
    {
        out.findings.push(Finding::new(
            "gpu-visible-in-cpu-container",
            severity,
            subject.clone(),
            "a cpu-mode container can see a gpu",
            gpu_exposure_evidence(g),
            OWN_RULES[3].fix,
        ));
    }
    match f.exit_code {
        Some(0) => out.notes.push(format!(
            "{} ({mode} mode) exited 0 in {:.1}s",
            f.image,
            f.duration.as_secs_f64()
        )),
        code => out.findings.push(Finding::new(
            "container-exit-nonzero",
            severity,
            subject,
            "container exited with an error",
            vec![
                Evidence::new(
                    "exit code",
                    code.map_or("unknown".into(), |c| c.to_string()),
                )
                .expected("0"),
                logs,
            ],
            META.fix,
        )),
    }
    Ok(out)
}

impl Kind for ContainerRun {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, _: &SuiteBase) -> Result<(), String> {
        let p: Params = typed_params(params)?;
        check_network(&p.network)?;
        if p.timeout.is_zero() {
            return Err("`timeout` must be more than zero".into());
        }
        let s = p.load.seconds();
        let loads = p.mode == Mode::Gpu && !matches!(p.load, LoadParam::Switch(false));
        if loads && !(s > 0.0 && s < p.timeout.as_secs_f64()) {
            return Err(format!(
                "`load.seconds` ({s}) must be more than zero and less than `timeout` ({})",
                humantime::format_duration(p.timeout)
            ));
        }
        Ok(())
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let p: Params = cx.params()?;
            let docker = cx.docker().await?;
            if p.mode == Mode::Gpu {
                if let Err(why) = gpu_runtime(&docker).await? {
                    return Err(CheckError::NotApplicable(why));
                }
            }
            let default_args = match p.mode {
                Mode::Cpu => vec!["probe".to_string(), "env".into(), "--no-metadata".into()],
                Mode::Gpu => {
                    let mut a = vec![
                        "probe".to_string(),
                        "gpu".into(),
                        "--expect".into(),
                        p.expect_gpus.to_string(),
                    ];
                    a.extend(p.load.args());
                    a
                }
            };
            let args = p
                .args
                .clone()
                .or_else(|| (p.command.is_none()).then_some(default_args));
            let spec = Spec {
                image: p.image.clone(),
                entrypoint: p.command.clone(),
                cmd: args,
                env: p.env.iter().map(|(k, v)| format!("{k}={v}")).collect(),
                network: Some(p.network.clone()),
                gpus: p.mode == Mode::Gpu,
                ..Spec::default()
            };
            let ran =
                run_labelled(&cx.door(String::new()), &docker, spec, p.timeout, p.pull).await?;
            let facts = Facts {
                image: p.image.clone(),
                mode: p.mode,
                expect_gpus: p.expect_gpus,
                timeout: p.timeout,
                exit_code: ran.exit_code,
                timed_out: ran.timed_out,
                duration: ran.duration,
                log_tail: redact::tail(&ran.logs, 20, 2000),
                probe: crate::clients::container::probe_line(&ran.logs),
            };
            evaluate(&facts, cx.spec.severity)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(
        mode: Mode,
        exit: Option<i64>,
        timed_out: bool,
        probe: Option<serde_json::Value>,
    ) -> Facts {
        Facts {
            image: "img".into(),
            mode,
            expect_gpus: 1,
            timeout: Duration::from_secs(5),
            exit_code: exit,
            timed_out,
            duration: Duration::from_millis(1500),
            log_tail: "token=[redacted]".into(),
            probe,
        }
    }

    #[test]
    fn cpu_mode_passes_on_exit_zero_and_fails_otherwise() {
        let o = evaluate(&facts(Mode::Cpu, Some(0), false, None), Severity::Error).unwrap();
        assert!(o.findings.is_empty() && o.notes[0].contains("exited 0"));
        let o = evaluate(&facts(Mode::Cpu, Some(3), false, None), Severity::Error).unwrap();
        assert_eq!(o.findings[0].rule, "container-exit-nonzero");
        let o = evaluate(&facts(Mode::Cpu, None, true, None), Severity::Error).unwrap();
        assert_eq!(o.findings[0].rule, "container-timed-out");
    }

    #[test]
    fn gpu_mode_reads_the_probe() {
        let seen = serde_json::json!({"probe": "gpu", "count": 2, "devices": [{"name": "NVIDIA H100"}, {"name": "NVIDIA H100"}]});
        let o = evaluate(
            &facts(Mode::Gpu, Some(0), false, Some(seen)),
            Severity::Error,
        )
        .unwrap();
        assert!(o.findings.is_empty(), "{:?}", o.findings);
        assert!(o.notes[0].contains("2 GPU(s)"));
        assert_eq!(o.figures, None, "no load, no figures");
        let none = serde_json::json!({"probe": "gpu", "count": 0, "reason": "no NVIDIA driver"});
        let o = evaluate(
            &facts(Mode::Gpu, Some(1), false, Some(none)),
            Severity::Error,
        )
        .unwrap();
        assert_eq!(o.findings[0].rule, "gpu-not-visible-in-container");
        assert!(evaluate(&facts(Mode::Gpu, Some(0), false, None), Severity::Error).is_err());
    }

    #[test]
    fn gpu_mode_judges_the_load() {
        let dev = |findings: serde_json::Value| {
            serde_json::json!({"probe": "gpu", "count": 1, "devices": [{"name": "NVIDIA H200"}],
                "load": {"devices": [{"ordinal": 0, "name": "NVIDIA H200", "findings": findings,
                    "compute_tflops": {"achieved": 30.0, "expected": 66.9, "ratio": 0.45},
                    "memory_gbps": {"achieved": 4400.0, "expected": 4917.0, "ratio": 0.89},
                    "host_link_gbps": {}}]}})
        };
        let o = evaluate(
            &facts(Mode::Gpu, Some(0), false, Some(dev(serde_json::json!([])))),
            Severity::Error,
        )
        .unwrap();
        assert!(o.findings.is_empty(), "{:?}", o.findings);
        assert!(
            o.notes
                .iter()
                .any(|n| n.starts_with("GPU 0 NVIDIA H200: compute 30.0 of 66.9 TFLOP/s")),
            "{:?}",
            o.notes
        );
        let device = |o: &Outcome| o.figures.as_ref().unwrap()["gpu_load"]["devices"][0].clone();
        assert_eq!(
            device(&o),
            serde_json::json!({"ordinal": 0, "name": "NVIDIA H200", "compute_tflops": 30.0, "memory_gbps": 4400.0})
        );
        let slow = dev(
            serde_json::json!([{"rule": "gpu-load-below-expected", "message": "compute reached 0.45 of expected (below 0.8): 30.0 of 66.9"}]),
        );
        let o = evaluate(
            &facts(Mode::Gpu, Some(1), false, Some(slow)),
            Severity::Error,
        )
        .unwrap();
        assert_eq!(
            o.findings.len(),
            1,
            "one finding, not also exit-nonzero: {:?}",
            o.findings
        );
        assert_eq!(o.findings[0].rule, "gpu-load-below-expected");
        assert_eq!(
            device(&o)["compute_tflops"],
            30.0,
            "a load with findings keeps its figures"
        );
        let skipped = serde_json::json!({"probe": "gpu", "count": 1, "devices": [{"name": "x"}],
            "load": {"skipped": {"layer": "driver-library", "reason": "no libcuda (NVIDIA_DRIVER_CAPABILITIES lacks compute?)"}}});
        match evaluate(
            &facts(Mode::Gpu, Some(0), false, Some(skipped)),
            Severity::Error,
        ) {
            Err(CheckError::Undecided(why)) => {
                assert!(why.contains("none could be loaded"), "{why}")
            }
            other => panic!("a visible GPU that could not be loaded must not pass: {other:?}"),
        }
    }

    #[test]
    fn cpu_mode_fails_when_the_container_sees_a_gpu() {
        let env = |visible: bool| {
            serde_json::json!({"probe": "env", "status": "passed",
            "gpus": {"visible": visible, "device_files": if visible { serde_json::json!(["/dev/nvidia0"]) } else { serde_json::json!([]) }, "nvml_devices": null, "nvidia_visible_devices": "all"}})
        };
        let o = evaluate(
            &facts(Mode::Cpu, Some(0), false, Some(env(true))),
            Severity::Error,
        )
        .unwrap();
        assert_eq!(o.findings[0].rule, "gpu-visible-in-cpu-container");
        assert!(format!("{:?}", o.findings[0].evidence).contains("/dev/nvidia0"));
        let o = evaluate(
            &facts(Mode::Cpu, Some(0), false, Some(env(false))),
            Severity::Error,
        )
        .unwrap();
        assert!(o.findings.is_empty(), "{:?}", o.findings);
    }

    #[test]
    fn the_load_parameter_becomes_probe_flags() {
        // A CPU container, or a GPU one without the load, may be given less time than a load.
        let short = SuiteBase::Embedded;
        assert!(ContainerRun
            .validate(&serde_json::json!({"mode": "cpu", "timeout": "2s"}), &short)
            .is_ok());
        assert!(ContainerRun
            .validate(
                &serde_json::json!({"mode": "gpu", "timeout": "2s", "load": false}),
                &short
            )
            .is_ok());
        let p = |v: serde_json::Value| -> Params { serde_json::from_value(v).unwrap() };
        assert_eq!(
            p(serde_json::json!({})).load.args(),
            ["--load", "--seconds", "10"]
        );
        assert!(p(serde_json::json!({"load": false})).load.args().is_empty());
        assert_eq!(
            p(serde_json::json!({"load": {"seconds": 20, "min_compute": 0.9, "min_host_link": 0.5}})).load.args(),
            ["--load", "--seconds", "20", "--min-compute", "0.9", "--min-host-link", "0.5"]
        );
        let base = SuiteBase::Embedded;
        assert!(ContainerRun
            .validate(
                &serde_json::json!({"mode": "gpu", "timeout": "15s", "load": {"seconds": 20}}),
                &base
            )
            .is_err());
        assert!(ContainerRun
            .validate(
                &serde_json::json!({"mode": "gpu", "load": {"secs": 20}}),
                &base
            )
            .is_err());
    }

    #[test]
    fn params_are_strict() {
        let base = SuiteBase::Embedded;
        assert!(ContainerRun
            .validate(&serde_json::json!({"mode": "gpu", "timeout": "30s"}), &base)
            .is_ok());
        assert!(ContainerRun
            .validate(&serde_json::json!({"mode": "tpu"}), &base)
            .is_err());
        assert!(ContainerRun
            .validate(&serde_json::json!({"network": "bridge0"}), &base)
            .is_err());
        assert!(ContainerRun
            .validate(&serde_json::json!({"imag": "x"}), &base)
            .is_err());
    }
}
