//! `container-run`: a component's image and command run as a local Docker container, in CPU mode
//! or GPU mode (`--gpus all` as a device request), and exit 0 within a timeout. The log tail is
//! kept as evidence (redacted). In GPU mode the container is expected to be the kfcheck probe,
//! whose JSON line says which GPUs it saw; without a GPU runtime the check is skipped.

use super::{typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::clients::container::Spec;
use crate::clients::redact;
use crate::context::Need;
use crate::doors::docker::{check_network, duration, gpu_runtime, run_labelled, PROBE_IMAGE};
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
static RULES: &[FindingRule] = &[
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
        ("args", "arguments, list of words (default: probe env in CPU mode, probe gpu in GPU mode)"),
        ("mode", "cpu or gpu (default cpu)"),
        ("expect_gpus", "GPU mode: at least this many GPUs must be visible inside (default 1)"),
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
                Mode::Gpu => vec![
                    "probe".to_string(),
                    "gpu".into(),
                    "--expect".into(),
                    p.expect_gpus.to_string(),
                ],
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
