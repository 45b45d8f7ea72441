//! `kfp-api-healthy`: the KFP API server answers healthz (through the UI proxy, `apiServerReady`
//! must be true: that answer is 200 even when the API server is down), serves the v2beta1 API,
//! and is not so much older than the SDK that compiled kfcheck's samples that it would drop what
//! they ask for.

use super::{kfp_error, typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::clients::kfp::Health;
use crate::clients::kfp_spec::{CompiledSpec, Version};
use crate::context::Need;
use crate::doors::sample::load_pipeline;
use crate::model::FindingRule;
use crate::model::{Evidence, Finding, Severity, Subject};
use futures::future::BoxFuture;
use serde::Deserialize;
use std::time::Duration;

pub struct KfpApiHealthy;

/// The findings this kind can report (`kfcheck explain <rule>`).
static RULES: &[FindingRule] = &[
    FindingRule {
        id: "api-server-not-ready",
        default_severity: Severity::Error,
        summary: "the kfp ui answers but its api server does not",
        fix: "Check the ml-pipeline Deployment in namespace kubeflow (pods, logs, its MySQL and object store) and the Service the UI proxies to.",
    },
    FindingRule {
        id: "v2-api-missing",
        default_severity: Severity::Error,
        summary: "the server is kfp 1.x and cannot run v2 pipelines",
        fix: "Upgrade Kubeflow Pipelines to 2.x: KFP v2 pipelines cannot run on a 1.x server.",
    },
    FindingRule {
        id: "sdk-newer-than-server",
        default_severity: Severity::Warning,
        summary: "the sample was compiled by a newer kfp sdk than the server",
        fix: "Upgrade the KFP backend, or compile pipelines with an SDK no newer than the server.",
    },
    FindingRule {
        id: "resource-requests-may-be-dropped",
        default_severity: Severity::Warning,
        summary: "resources set only in fields this server may not read",
        fix: "Upgrade the KFP backend, or set resources as constants so the SDK also writes the older numeric fields.",
    },
];

static META: KindMeta = KindMeta {
    name: "kfp-api-healthy",
    needs: &[Need::Kfp],
    effect: Effect::ReadOnly,
    creates: &[],
    rules: RULES,
    default_timeout: Duration::from_secs(30),
    what: "The KFP API server answers healthz (apiServerReady through the UI proxy), serves the v2beta1 API, and its version is not older than the kfp SDK that compiled the samples (sdkVersion in the compiled YAML); a server older than `resource_strings_since` is warned about when a sample sets resources only through the newer string fields, which it may drop.",
    why: "Through the dashboard, healthz is HTTP 200 even when the API server behind it is down; and an API server older than the SDK can accept a pipeline yet silently ignore its resource requests, so GPU steps land on CPU nodes.",
    fix: "Restart or repair the ml-pipeline Deployment if it is not ready; upgrade KFP, or compile pipelines with an SDK that matches the server.",
    params: &[
        ("pipelines", "compiled samples whose sdkVersion is compared with the server (default the two bundled samples)"),
        ("resource_strings_since", "first server version whose driver reads the resourceCpuLimit-style string fields (default 2.4.0: kubeflow/pipelines#11501)"),
    ],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "default_pipelines")]
    pipelines: Vec<String>,
    #[serde(default = "default_since")]
    resource_strings_since: String,
}

fn default_pipelines() -> Vec<String> {
    vec![
        "pipelines/kfcheck-cpu-sample.yaml".into(),
        "pipelines/kfcheck-gpu-sample.yaml".into(),
    ]
}
/// KFP 2.4.0's driver is the first to read `resourceCpuLimit`, `resourceMemoryLimit` and
/// `accelerator.resourceType`/`resourceCount` (kubeflow/pipelines#11501, "sdk/backend: Add
/// support for placeholders in resource limits"); older drivers read only the numeric fields and
/// silently apply nothing else (issues #11390, #11374). SDK 2.10 to 2.12 write only the strings,
/// and no SDK writes a numeric twin for a parameter placeholder.
fn default_since() -> String {
    "2.4.0".into()
}

/// What a sample says about itself.
#[derive(Debug, Clone)]
struct Sample {
    shown: String,
    sdk: Option<Version>,
    string_only: Vec<String>,
}

/// Everything observed, then decided on purely.
#[derive(Debug)]
struct Facts {
    endpoint: String,
    health: Health,
    v1_only: bool,
    samples: Vec<Sample>,
    since: Version,
}

fn evaluate(f: &Facts, severity: Severity) -> Outcome {
    let mut out = Outcome::default();
    let subject = || Subject::new("endpoint", f.endpoint.clone());
    if !f.health.api_server_ready {
        out.findings.push(Finding::new(
            "api-server-not-ready",
            severity,
            subject(),
            "the kfp ui answers but its api server does not",
            vec![Evidence::new("apiServerReady", "false").expected("true")],
            "Check the ml-pipeline Deployment in namespace kubeflow (pods, logs, its MySQL and object store) and the Service the UI proxies to.",
        ));
        return out;
    }
    let server = f.health.tag_name.as_deref().and_then(Version::parse);
    if f.v1_only || server.is_some_and(|v| v.0 < 2) {
        out.findings.push(Finding::new(
            "v2-api-missing",
            severity,
            subject(),
            "the server is kfp 1.x and cannot run v2 pipelines",
            vec![if f.v1_only {
                Evidence::new("api", "/apis/v1beta1 only").expected("/apis/v2beta1")
            } else {
                Evidence::new("server", f.health.tag_name.clone().unwrap_or_default())
                    .expected(">= 2.0.0")
            }],
            "Upgrade Kubeflow Pipelines to 2.x: KFP v2 pipelines cannot run on a 1.x server.",
        ));
        return out;
    }
    let mode = if f.health.multi_user == Some(true) {
        "multi-user"
    } else {
        "single-user"
    };
    out.notes.push(format!(
        "KFP {} ({mode}, {})",
        f.health
            .tag_name
            .as_deref()
            .unwrap_or("version not reported"),
        if f.health.via_ui {
            "through the UI proxy"
        } else {
            "direct"
        }
    ));
    let Some(server) = server else {
        out.notes
            .push("the server reports no parseable version: SDK skew not checked".into());
        return out;
    };
    for s in &f.samples {
        let Some(sdk) = s.sdk else { continue };
        if (server.0, server.1) < (sdk.0, sdk.1) {
            out.findings.push(Finding::new(
                "sdk-newer-than-server",
                Severity::Warning,
                Subject::new("pipeline", s.shown.clone()),
                "the sample was compiled by a newer kfp sdk than the server",
                vec![Evidence::new("server", server.to_string()).expected(format!(">= {}.{}", sdk.0, sdk.1)), Evidence::new("sdkVersion", format!("kfp-{sdk}"))],
                "Upgrade the KFP backend, or compile pipelines with an SDK no newer than the server.",
            ));
        }
        if server < f.since && !s.string_only.is_empty() {
            out.findings.push(Finding::new(
                "resource-requests-may-be-dropped",
                Severity::Warning,
                Subject::new("pipeline", s.shown.clone()),
                "resources set only in fields this server may not read",
                vec![Evidence::new("executors", s.string_only.join("; ")), Evidence::new("server", server.to_string()).expected(format!(">= {}", f.since))],
                "Upgrade the KFP backend, or set resources as constants so the SDK also writes the older numeric fields.",
            ));
        }
    }
    out
}

impl Kind for KfpApiHealthy {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, base: &SuiteBase) -> Result<(), String> {
        let p: Params = typed_params(params)?;
        Version::parse(&p.resource_strings_since)
            .ok_or("`resource_strings_since` must be a version such as 2.4.0")?;
        for path in &p.pipelines {
            let (shown, text) = load_pipeline(base, path)?;
            CompiledSpec::from_yaml(&text).map_err(|e| format!("{shown}: {e}"))?;
        }
        Ok(())
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let p: Params = cx.params()?;
            let mut samples = Vec::new();
            for path in &p.pipelines {
                let (shown, text) =
                    load_pipeline(&cx.spec.base, path).map_err(CheckError::Undecided)?;
                let spec = CompiledSpec::from_yaml(&text)
                    .map_err(|e| CheckError::Undecided(format!("{shown}: {e}")))?;
                samples.push(Sample {
                    shown,
                    sdk: spec.sdk_version(),
                    string_only: spec.string_only_resources(),
                });
            }
            let kfp = cx.kfp().await?;
            // A fresh look: the need was resolved at start-up.
            let health = kfp
                .client
                .healthz()
                .await
                .map_err(|e| kfp_error(&e, "read KFP healthz"))?;
            let facts = Facts {
                endpoint: kfp.client.base().to_string(),
                health,
                v1_only: kfp.client.v1_only,
                samples,
                since: Version::parse(&p.resource_strings_since).unwrap_or(Version(2, 4, 0)),
            };
            Ok(evaluate(&facts, cx.spec.severity))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(tag: &str, ready: bool, string_only: Vec<String>) -> Facts {
        Facts {
            endpoint: "http://kfp".into(),
            health: Health {
                tag_name: Some(tag.into()),
                multi_user: Some(true),
                api_server_ready: ready,
                pipeline_store: None,
                via_ui: true,
            },
            v1_only: false,
            samples: vec![Sample {
                shown: "pipelines/x.yaml".into(),
                sdk: Version::parse("2.17.3"),
                string_only,
            }],
            since: Version(2, 4, 0),
        }
    }

    #[test]
    fn ui_answering_without_api_server_fails() {
        let o = evaluate(&facts("2.17.0", false, vec![]), Severity::Error);
        assert_eq!(o.findings[0].rule, "api-server-not-ready");
    }

    #[test]
    fn matching_versions_pass_and_skew_warns() {
        let o = evaluate(&facts("2.17.0", true, vec![]), Severity::Error);
        assert!(o.findings.is_empty(), "{:?}", o.findings);
        assert!(o.notes[0].starts_with("KFP 2.17.0 (multi-user, through the UI proxy)"));
        let o = evaluate(
            &facts("2.3.0", true, vec!["exec-a (resourceCpuLimit)".into()]),
            Severity::Error,
        );
        let rules: Vec<&str> = o.findings.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(
            rules,
            vec!["sdk-newer-than-server", "resource-requests-may-be-dropped"]
        );
        // 2.5.0's driver reads the string fields: only the SDK skew is left.
        let o = evaluate(
            &facts("2.5.0", true, vec!["exec-a (resourceCpuLimit)".into()]),
            Severity::Error,
        );
        let rules: Vec<&str> = o.findings.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(rules, vec!["sdk-newer-than-server"]);
        assert!(o.findings.iter().all(|f| f.severity == Severity::Warning));
        let mut v1 = facts("1.8.22", true, vec![]);
        v1.v1_only = true;
        assert_eq!(
            evaluate(&v1, Severity::Error).findings[0].rule,
            "v2-api-missing"
        );
        // Through the UI a 1.x server still answers the v2beta1 healthz: its version tells.
        assert_eq!(
            evaluate(&facts("1.8.22", true, vec![]), Severity::Error).findings[0].rule,
            "v2-api-missing"
        );
    }
}
