//! `docker-engine`: a Docker engine answers, is recent enough for GPU device requests, and
//! whether it has a GPU runtime (so GPU container checks can run or be skipped with a reason).

use super::{typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::context::Need;
use crate::model::FindingRule;
use crate::model::{Evidence, Finding, Severity, Subject};
use futures::future::BoxFuture;
use serde::Deserialize;
use std::time::Duration;

pub struct DockerEngine;

/// The findings this kind can report (`kfcheck explain <rule>`).
static RULES: &[FindingRule] = &[
    FindingRule {
        id: "api-too-old",
        default_severity: Severity::Error,
        summary: "docker api too old for gpu device requests",
        fix: "Upgrade the Docker engine to 19.03 or newer.",
    },
    FindingRule {
        id: "gpu-runtime-missing",
        default_severity: Severity::Error,
        summary: "no nvidia runtime configured",
        fix: "Install the NVIDIA Container Toolkit and run `nvidia-ctk runtime configure --runtime=docker`.",
    },
];

static META: KindMeta = KindMeta {
    name: "docker-engine",
    needs: &[Need::Docker],
    effect: Effect::ReadOnly,
    creates: &[],
    rules: RULES,
    default_timeout: Duration::from_secs(30),
    what: "The Docker engine answers, speaks an API version that supports GPU device requests (1.40+), and reports whether an NVIDIA runtime is installed.",
    why: "Data scientists prove their components in local containers before migrating; GPU components need `--gpus all`, which needs a recent engine and the NVIDIA container runtime.",
    fix: "Upgrade Docker, and install the NVIDIA Container Toolkit (`nvidia-ctk runtime configure --runtime=docker`) on hosts that run GPU components.",
    params: &[("require_gpu_runtime", "fail when no NVIDIA runtime is configured (default false: only noted)")],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default)]
    require_gpu_runtime: bool,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    pub version: String,
    pub api_version: String,
    pub os: String,
    pub runtimes: Vec<String>,
    pub default_runtime: String,
}

fn api_at_least(v: &str, want: (u32, u32)) -> Option<bool> {
    let (a, b) = v.split_once('.')?;
    Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?) >= want)
}

pub(crate) fn evaluate(f: &Facts, require_gpu_runtime: bool, severity: Severity) -> Outcome {
    let mut out = Outcome::default();
    let subject = Subject::new("endpoint", "docker-engine");
    out.notes.push(format!(
        "Docker {} (API {}) on {}",
        f.version, f.api_version, f.os
    ));
    if api_at_least(&f.api_version, (1, 40)) == Some(false) {
        out.findings.push(Finding {
            rule: "api-too-old".into(),
            severity,
            message: "docker api too old for gpu device requests".into(),
            subject: subject.clone(),
            evidence: vec![Evidence::new("api version", f.api_version.clone())
                .expected(">= 1.40 (Docker 19.03)")],
            remediation: "Upgrade the Docker engine to 19.03 or newer.".into(),
            owner: None,
        });
    }
    let gpu =
        f.runtimes.iter().any(|r| r.contains("nvidia")) || f.default_runtime.contains("nvidia");
    if gpu {
        out.notes.push(format!(
            "GPU runtime available (runtimes: {})",
            f.runtimes.join(", ")
        ));
    } else if require_gpu_runtime {
        out.findings.push(Finding {
            rule: "gpu-runtime-missing".into(),
            severity,
            message: "no nvidia runtime configured".into(),
            subject,
            evidence: vec![Evidence::new("runtimes", f.runtimes.join(", ")).expected("nvidia")],
            remediation: "Install the NVIDIA Container Toolkit and run `nvidia-ctk runtime configure --runtime=docker`.".into(),
            owner: None,
        });
    } else {
        out.notes
            .push("no GPU runtime: GPU container checks will be skipped".into());
    }
    out
}

impl Kind for DockerEngine {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, _: &SuiteBase) -> Result<(), String> {
        typed_params::<Params>(params).map(|_| ())
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let p: Params = cx.params()?;
            let docker = cx.docker().await?;
            let v = docker.version().await.map_err(|e| {
                CheckError::Undecided(format!("failed to read the Docker version: {e}"))
            })?;
            let info = docker
                .info()
                .await
                .map_err(|e| CheckError::Undecided(format!("failed to read Docker info: {e}")))?;
            let mut runtimes: Vec<String> = info.runtimes.unwrap_or_default().into_keys().collect();
            runtimes.sort();
            let facts = Facts {
                version: v.version.unwrap_or_default(),
                api_version: v.api_version.unwrap_or_default(),
                os: info.operating_system.unwrap_or_default(),
                runtimes,
                default_runtime: info.default_runtime.unwrap_or_default(),
            };
            Ok(evaluate(&facts, p.require_gpu_runtime, cx.spec.severity))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(api: &str, runtimes: &[&str]) -> Facts {
        Facts {
            version: "28.2.2".into(),
            api_version: api.into(),
            os: "Debian".into(),
            runtimes: runtimes.iter().map(|s| s.to_string()).collect(),
            default_runtime: "runc".into(),
        }
    }

    #[test]
    fn recent_engine_with_or_without_gpu_runtime() {
        let o = evaluate(
            &facts("1.50", &["io.containerd.runc.v2", "nvidia", "runc"]),
            false,
            Severity::Error,
        );
        assert!(o.findings.is_empty());
        assert!(o
            .notes
            .iter()
            .any(|n| n.starts_with("GPU runtime available")));
        let o = evaluate(&facts("1.50", &["runc"]), false, Severity::Error);
        assert!(o.findings.is_empty());
        assert!(o
            .notes
            .iter()
            .any(|n| n.contains("GPU container checks will be skipped")));
    }

    #[test]
    fn old_api_and_required_gpu_runtime_fail() {
        let o = evaluate(&facts("1.39", &["runc"]), true, Severity::Error);
        let rules: Vec<&str> = o.findings.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(rules, vec!["api-too-old", "gpu-runtime-missing"]);
    }
}
