//! `deployments-available`: the Deployments of a Kubeflow install exist and are Available.

use super::{kube_error, typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::context::Need;
use crate::model::FindingRule;
use crate::model::{Evidence, Finding, Severity, Subject};
use futures::future::BoxFuture;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Pod;
use serde::Deserialize;
use std::time::Duration;

pub struct DeploymentsAvailable;

/// The findings this kind can report (`kfcheck explain <rule>`).
static RULES: &[FindingRule] = &[
    FindingRule {
        id: "deployment-missing",
        default_severity: Severity::Error,
        summary: "deployment missing",
        fix: "Install the Deployment in its namespace (Kubeflow manifests), or remove it from this check's list if this install does not use it.",
    },
    FindingRule {
        id: "deployment-scaled-to-zero",
        default_severity: Severity::Error,
        summary: "deployment scaled to zero",
        fix: "Scale it back up (`kubectl scale deploy NAME --replicas 1`) and find out what scaled it down (an autoscaler, a maintenance script, GitOps drift).",
    },
    FindingRule {
        id: "deployment-unavailable",
        default_severity: Severity::Error,
        summary: "deployment not available",
        fix: "Look at the Deployment's pods named in the evidence (`kubectl describe pod`, logs): CrashLoopBackOff, Pending or image pull errors tell what to fix.",
    },
];

static META: KindMeta = KindMeta {
    name: "deployments-available",
    needs: &[Need::Kube],
    effect: Effect::ReadOnly,
    creates: &[],
    rules: RULES,
    default_timeout: Duration::from_secs(60),
    what: "Each expected Deployment exists in the namespace and its Available condition is True.",
    why: "An unavailable KFP API server, UI, persistence agent or metadata writer breaks pipeline runs for every user, even while most pods look green.",
    fix: "Inspect the Deployment's pods (`kubectl -n <ns> describe deploy <name>`, then the pod events and logs) and fix what keeps them from becoming ready.",
    params: &[
        ("namespace", "namespace of the Deployments (default kubeflow)"),
        ("deployments", "names that must be Available; `a|b` accepts either (e.g. seaweedfs|minio)"),
    ],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "default_ns")]
    namespace: String,
    deployments: Vec<String>,
}

fn default_ns() -> String {
    "kubeflow".into()
}

/// What kfcheck saw of one Deployment.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Seen {
    pub name: String,
    pub available: Option<(String, String, String)>,
    pub ready: i32,
    pub wanted: i32,
    /// `pod: state` of its unready pods (filled only for unavailable Deployments).
    pub pods: Vec<String>,
}

pub(crate) fn observe(d: &Deployment) -> Option<Seen> {
    let name = d.metadata.name.clone()?;
    let status = d.status.as_ref();
    let available = status
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Available"))
        .map(|c| {
            (
                c.status.clone(),
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        });
    Some(Seen {
        name,
        available,
        ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
        wanted: d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1),
        pods: Vec::new(),
    })
}

/// The unready pods a Deployment selects (by its matchLabels), as `name: state`.
fn unready_pods(d: &Deployment, pods: &[Pod]) -> Vec<String> {
    let Some(sel) = d
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.as_ref())
        .filter(|m| !m.is_empty())
    else {
        return Vec::new();
    };
    pods.iter()
        .filter(|p| {
            p.metadata
                .labels
                .as_ref()
                .is_some_and(|l| sel.iter().all(|(k, v)| l.get(k) == Some(v)))
        })
        .filter_map(|p| {
            let (ready, state) = super::pod_state(p);
            (!ready).then(|| format!("{}: {state}", p.metadata.name.clone().unwrap_or_default()))
        })
        .collect()
}

pub(crate) fn evaluate(
    namespace: &str,
    expected: &[String],
    seen: &[Seen],
    severity: Severity,
) -> Outcome {
    let mut out = Outcome::default();
    let mut ok = 0;
    for want in expected {
        let alternatives: Vec<&str> = want.split('|').map(str::trim).collect();
        let Some(d) = seen
            .iter()
            .find(|s| alternatives.contains(&s.name.as_str()))
        else {
            out.findings.push(Finding {
                rule: "deployment-missing".into(),
                severity,
                message: "deployment missing".into(),
                subject: Subject::new("deployment", format!("{namespace}/{}", alternatives.join("|"))),
                evidence: vec![Evidence::new("deployment", "not found").expected(want.clone())],
                remediation: format!("Install {} in namespace {namespace} (Kubeflow manifests), or remove it from this check's list if this install does not use it.", alternatives.join(" or ")),
                owner: None,
            });
            continue;
        };
        match &d.available {
            // Zero replicas are "Available" to Kubernetes, and serve nothing.
            _ if d.wanted == 0 => out.findings.push(Finding {
                rule: "deployment-scaled-to-zero".into(),
                severity,
                message: "deployment scaled to zero".into(),
                subject: Subject::new("deployment", format!("{namespace}/{}", d.name)),
                evidence: vec![Evidence::new("replicas", "0").expected(">= 1")],
                remediation: format!("Scale it back up (`kubectl -n {namespace} scale deploy {} --replicas 1`) and find out what scaled it down (an autoscaler, a maintenance script, GitOps drift).", d.name),
                owner: None,
            }),
            Some((status, _, _)) if status == "True" => ok += 1,
            other => {
                let (status, reason, message) = other.clone().unwrap_or_else(|| ("Unknown".into(), "no Available condition yet".into(), String::new()));
                let mut evidence = vec![
                    Evidence::new("Available", format!("{status} ({reason})")).expected("True"),
                    Evidence::new("ready replicas", format!("{}/{}", d.ready, d.wanted)).expected(format!("{}/{}", d.wanted, d.wanted)),
                ];
                if !message.is_empty() {
                    evidence.push(Evidence::new("message", message));
                }
                for p in &d.pods {
                    evidence.push(Evidence::new("pod", p.clone()));
                }
                out.findings.push(Finding {
                    rule: "deployment-unavailable".into(),
                    severity,
                    message: "deployment not available".into(),
                    subject: Subject::new("deployment", format!("{namespace}/{}", d.name)),
                    evidence,
                    remediation: META.fix.into(),
                    owner: None,
                });
            }
        }
    }
    out.notes.push(format!(
        "{ok} of {} deployments available in {namespace}",
        expected.len()
    ));
    out
}

impl Kind for DeploymentsAvailable {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, _: &SuiteBase) -> Result<(), String> {
        let p: Params = typed_params(params)?;
        if p.deployments.is_empty() {
            return Err("`deployments` must name at least one Deployment".into());
        }
        Ok(())
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let p: Params = cx.params()?;
            let client = cx.kube().await?;
            let list = cx
                .kube_cache()?
                .namespaced::<Deployment>(&client, &p.namespace)
                .await
                .map_err(|e| {
                    kube_error(
                        &e,
                        &format!("list deployments in namespace {}", p.namespace),
                    )
                })?;
            let mut seen: Vec<Seen> = list.iter().filter_map(observe).collect();
            // Why an unavailable Deployment is down (CrashLoopBackOff, Pending...): one list of
            // the namespace's pods, only when something is down.
            if seen
                .iter()
                .any(|s| s.available.as_ref().is_none_or(|a| a.0 != "True"))
            {
                let pods = cx
                    .kube_cache()?
                    .namespaced::<Pod>(&client, &p.namespace)
                    .await
                    .map_err(|e| {
                        kube_error(&e, &format!("list pods in namespace {}", p.namespace))
                    })?;
                for (s, d) in seen
                    .iter_mut()
                    .zip(list.iter().filter(|d| d.metadata.name.is_some()))
                {
                    if s.available.as_ref().is_none_or(|a| a.0 != "True") {
                        s.pods = unready_pods(d, &pods);
                    }
                }
            }
            Ok(evaluate(
                &p.namespace,
                &p.deployments,
                &seen,
                cx.spec.severity,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(name: &str, status: &str) -> Seen {
        Seen {
            name: name.into(),
            available: Some((
                status.into(),
                "MinimumReplicasUnavailable".into(),
                "waiting".into(),
            )),
            ready: 0,
            wanted: 1,
            pods: Vec::new(),
        }
    }

    #[test]
    fn available_missing_and_unavailable() {
        let mut zero = seen("admission-webhook-deployment", "True");
        zero.wanted = 0;
        let s = vec![
            seen("ml-pipeline", "True"),
            seen("ml-pipeline-ui", "False"),
            seen("minio", "True"),
            zero,
        ];
        let want = vec![
            "ml-pipeline".to_string(),
            "ml-pipeline-ui".into(),
            "cache-server".into(),
            "seaweedfs|minio".into(),
            "admission-webhook-deployment".into(),
        ];
        let o = evaluate("kubeflow", &want, &s, Severity::Error);
        let rules: Vec<(&str, &str)> = o
            .findings
            .iter()
            .map(|f| (f.rule.as_str(), f.subject.name.as_str()))
            .collect();
        assert_eq!(
            rules,
            vec![
                ("deployment-unavailable", "kubeflow/ml-pipeline-ui"),
                ("deployment-missing", "kubeflow/cache-server"),
                (
                    "deployment-scaled-to-zero",
                    "kubeflow/admission-webhook-deployment"
                )
            ]
        );
        assert_eq!(o.notes[0], "2 of 5 deployments available in kubeflow");
    }
}
