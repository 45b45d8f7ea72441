//! `webhooks-ready`: every admission webhook served by an in-cluster Service has that Service and
//! at least one ready endpoint behind it.

use super::{kube_error, typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::context::Need;
use crate::model::FindingRule;
use crate::model::{Evidence, Finding, Severity, Subject};
use futures::future::BoxFuture;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ServiceReference, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

pub struct WebhooksReady;

/// The findings this kind can report (`kfcheck explain <rule>`).
static RULES: &[FindingRule] = &[
    FindingRule {
        id: "webhook-service-missing",
        default_severity: Severity::Error,
        summary: "webhook service does not exist",
        fix: "Reinstall the component that owns this webhook, or delete the stale webhook configuration.",
    },
    FindingRule {
        id: "webhook-port-missing",
        default_severity: Severity::Error,
        summary: "webhook service has no such port",
        fix: "Make the webhook configuration's service port match the Service.",
    },
    FindingRule {
        id: "webhook-no-ready-endpoints",
        default_severity: Severity::Error,
        summary: "webhook service has no ready endpoints",
        fix: "Start the webhook's pods (or fix why they are not Ready): until then every API request the webhook intercepts fails.",
    },
];

static META: KindMeta = KindMeta {
    name: "webhooks-ready",
    needs: &[Need::Kube],
    effect: Effect::ReadOnly,
    creates: &[],
    rules: RULES,
    default_timeout: Duration::from_secs(30),
    what: "Every mutating and validating admission webhook that points at an in-cluster Service finds that Service, the port it calls, and at least one ready endpoint.",
    why: "Kubeflow injects credentials and settings through webhooks (PodDefaults, the KFP cache): with no endpoint, a webhook that fails closed blocks every matching pod, and one that fails open lets pods start without the volumes and tokens they need.",
    fix: "Make the webhook's Deployment Available (its pods Ready) or remove the stale webhook configuration.",
    params: &[
        ("namespaces", "only webhooks whose Service is in one of these namespaces (default: all)"),
        ("ignore", "webhook configuration names not to check"),
    ],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default)]
    namespaces: Option<Vec<String>>,
    #[serde(default)]
    ignore: Vec<String>,
}

/// One webhook as configured.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Hook {
    /// `mutating/<configuration>/<webhook>`.
    pub id: String,
    pub fails_closed: bool,
    /// (namespace, service, port)
    pub service: Option<(String, String, i32)>,
}

/// What the cluster has behind one Service.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Backend {
    pub ports: Vec<i32>,
    pub ready: usize,
    pub not_ready: usize,
}

fn hook(
    kind: &str,
    config: &str,
    name: &str,
    policy: Option<&String>,
    svc: Option<&ServiceReference>,
) -> Hook {
    Hook {
        id: format!("{kind}/{config}/{name}"),
        // The v1 default failure policy is Fail.
        fails_closed: policy.is_none_or(|p| p == "Fail"),
        service: svc.map(|s| (s.namespace.clone(), s.name.clone(), s.port.unwrap_or(443))),
    }
}

pub(crate) fn observe(
    m: &[MutatingWebhookConfiguration],
    v: &[ValidatingWebhookConfiguration],
    ignore: &[String],
) -> Vec<Hook> {
    let mut out = Vec::new();
    for c in m {
        let name = c.metadata.name.clone().unwrap_or_default();
        if ignore.contains(&name) {
            continue;
        }
        for w in c.webhooks.iter().flatten() {
            out.push(hook(
                "mutating",
                &name,
                &w.name,
                w.failure_policy.as_ref(),
                w.client_config.service.as_ref(),
            ));
        }
    }
    for c in v {
        let name = c.metadata.name.clone().unwrap_or_default();
        if ignore.contains(&name) {
            continue;
        }
        for w in c.webhooks.iter().flatten() {
            out.push(hook(
                "validating",
                &name,
                &w.name,
                w.failure_policy.as_ref(),
                w.client_config.service.as_ref(),
            ));
        }
    }
    out
}

pub(crate) fn backend(
    svc: Option<&Service>,
    slices: &[EndpointSlice],
    name: &str,
) -> Option<Backend> {
    let svc = svc?;
    let mut b = Backend {
        ports: svc
            .spec
            .as_ref()
            .and_then(|s| s.ports.as_ref())
            .map(|ps| ps.iter().map(|p| p.port).collect())
            .unwrap_or_default(),
        ..Backend::default()
    };
    for s in slices.iter().filter(|s| {
        s.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get("kubernetes.io/service-name"))
            .is_some_and(|n| n == name)
    }) {
        for e in &s.endpoints {
            // An unset `ready` means ready (EndpointSlice API).
            if e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true) {
                b.ready += e.addresses.len();
            } else {
                b.not_ready += e.addresses.len();
            }
        }
    }
    Some(b)
}

pub(crate) fn evaluate(
    hooks: &[Hook],
    backends: &BTreeMap<(String, String), Option<Backend>>,
    severity: Severity,
) -> Outcome {
    let mut out = Outcome::default();
    let (mut by_url, mut ok) = (0, 0);
    for h in hooks {
        let Some((ns, name, port)) = &h.service else {
            by_url += 1;
            continue;
        };
        let effect = if h.fails_closed {
            "matching requests are rejected (failurePolicy Fail)"
        } else {
            "matching requests pass unmodified (failurePolicy Ignore)"
        };
        let subject = Subject::new("webhook", h.id.clone());
        let svc = format!("{ns}/{name}");
        match backends.get(&(ns.clone(), name.clone())).cloned().flatten() {
            None => out.findings.push(Finding::new(
                "webhook-service-missing",
                severity,
                subject,
                format!("webhook service does not exist: {effect}"),
                vec![Evidence::new("service", format!("{svc}: not found")).expected("exists")],
                "Reinstall the component that owns this webhook, or delete the stale webhook configuration.",
            )),
            Some(b) if !b.ports.contains(port) => out.findings.push(Finding::new(
                "webhook-port-missing",
                severity,
                subject,
                format!("webhook service has no such port: {effect}"),
                vec![Evidence::new(format!("ports of {svc}"), format!("{:?}", b.ports)).expected(format!("{port}"))],
                "Make the webhook configuration's service port match the Service.",
            )),
            Some(b) if b.ready == 0 => out.findings.push(Finding::new(
                "webhook-no-ready-endpoints",
                severity,
                subject,
                format!("webhook service has no ready endpoints: {effect}"),
                vec![Evidence::new(format!("endpoints of {svc}"), format!("{} ready, {} not ready", b.ready, b.not_ready)).expected(">= 1 ready")],
                META.fix,
            )),
            Some(_) => ok += 1,
        }
    }
    let url = if by_url > 0 {
        format!("; {by_url} call a URL (not checked)")
    } else {
        String::new()
    };
    out.notes.push(format!(
        "{ok} of {} service webhook(s) have ready endpoints{url}",
        hooks.len() - by_url
    ));
    out
}

impl Kind for WebhooksReady {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, _: &SuiteBase) -> Result<(), String> {
        typed_params::<Params>(params).map(|_| ())
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let p: Params = cx.params()?;
            let client = cx.kube().await?;
            let cache = cx.kube_cache()?;
            let (m, v) = tokio::try_join!(
                async {
                    cache
                        .cluster::<MutatingWebhookConfiguration>(&client)
                        .await
                        .map_err(|e| kube_error(&e, "list mutatingwebhookconfigurations"))
                },
                async {
                    cache
                        .cluster::<ValidatingWebhookConfiguration>(&client)
                        .await
                        .map_err(|e| kube_error(&e, "list validatingwebhookconfigurations"))
                },
            )?;
            let hooks: Vec<Hook> = observe(&m, &v, &p.ignore)
                .into_iter()
                .filter(|h| match (&p.namespaces, &h.service) {
                    (Some(nss), Some((ns, _, _))) => nss.contains(ns),
                    _ => true,
                })
                .collect();
            // One list of Services and one of EndpointSlices per namespace that hosts a webhook.
            let namespaces: BTreeSet<&String> = hooks
                .iter()
                .filter_map(|h| h.service.as_ref().map(|s| &s.0))
                .collect();
            let mut backends = BTreeMap::new();
            for ns in namespaces {
                let services = cache
                    .namespaced::<Service>(&client, ns)
                    .await
                    .map_err(|e| kube_error(&e, &format!("list services in {ns}")))?;
                let slices = cache
                    .namespaced::<EndpointSlice>(&client, ns)
                    .await
                    .map_err(|e| kube_error(&e, &format!("list endpointslices in {ns}")))?;
                for h in &hooks {
                    if let Some((hns, name, _)) = &h.service {
                        if hns == ns {
                            let svc = services
                                .iter()
                                .find(|s| s.metadata.name.as_deref() == Some(name));
                            backends
                                .insert((hns.clone(), name.clone()), backend(svc, &slices, name));
                        }
                    }
                }
            }
            Ok(evaluate(&hooks, &backends, cx.spec.severity))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &str, closed: bool) -> Hook {
        Hook {
            id: format!("mutating/c/{name}"),
            fails_closed: closed,
            service: Some(("kubeflow".into(), name.into(), 443)),
        }
    }

    #[test]
    fn missing_service_port_and_endpoints_are_named() {
        let hooks = [
            h("ok", true),
            h("gone", true),
            h("port", false),
            h("empty", false),
            Hook {
                id: "validating/u/x".into(),
                fails_closed: true,
                service: None,
            },
        ];
        let b = |ports: Vec<i32>, ready| {
            Some(Backend {
                ports,
                ready,
                not_ready: 1,
            })
        };
        let backends = BTreeMap::from([
            (("kubeflow".to_string(), "ok".to_string()), b(vec![443], 1)),
            (("kubeflow".to_string(), "gone".to_string()), None),
            (
                ("kubeflow".to_string(), "port".to_string()),
                b(vec![8443], 1),
            ),
            (
                ("kubeflow".to_string(), "empty".to_string()),
                b(vec![443], 0),
            ),
        ]);
        let o = evaluate(&hooks, &backends, Severity::Error);
        let rules: Vec<&str> = o.findings.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(
            rules,
            vec![
                "webhook-service-missing",
                "webhook-port-missing",
                "webhook-no-ready-endpoints"
            ]
        );
        assert!(
            o.findings[2].message.contains("failurePolicy Ignore"),
            "{}",
            o.findings[2].message
        );
        assert!(o.findings[0].message.contains("failurePolicy Fail"));
        assert_eq!(
            o.notes,
            vec!["1 of 4 service webhook(s) have ready endpoints; 1 call a URL (not checked)"]
        );
    }
}
