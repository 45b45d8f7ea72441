//! `crds-present`: the CustomResourceDefinitions Kubeflow needs exist, are established, and
//! serve the versions its controllers and SDKs use.

use super::{kube_error, typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::context::Need;
use crate::model::FindingRule;
use crate::model::{Evidence, Finding, Severity, Subject};
use futures::future::BoxFuture;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

pub struct CrdsPresent;

/// The findings this kind can report (`kfcheck explain <rule>`).
static RULES: &[FindingRule] = &[
    FindingRule {
        id: "crd-missing",
        default_severity: Severity::Error,
        summary: "crd missing",
        fix: "Apply the missing CRD from the Kubeflow manifests.",
    },
    FindingRule {
        id: "crd-version-not-served",
        default_severity: Severity::Error,
        summary: "crd does not serve an expected version",
        fix: "Upgrade the CRD to a release that serves the expected version.",
    },
    FindingRule {
        id: "crd-not-established",
        default_severity: Severity::Error,
        summary: "crd not established",
        fix: "Check the CRD's conditions (`kubectl describe crd`) for naming conflicts or schema errors.",
    },
];

static META: KindMeta = KindMeta {
    name: "crds-present",
    needs: &[Need::Kube],
    effect: Effect::ReadOnly,
    creates: &[],
    rules: RULES,
    default_timeout: Duration::from_secs(60),
    what: "Each expected CustomResourceDefinition exists, is Established, and serves the expected versions.",
    why: "Without them pipelines (Argo Workflows), notebooks, profiles and PodDefaults cannot be created at all; a version that is no longer served breaks clients that still use it.",
    fix: "Apply the missing CRDs from the Kubeflow manifests for the installed release.",
    params: &[("crds", "list of {name, versions}: CRD names (plural.group) and versions that must be served")],
};

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct Expected {
    pub name: String,
    #[serde(default)]
    pub versions: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    crds: Vec<Expected>,
}

/// What the cluster has: name → (served versions, established).
pub(crate) type Observed = BTreeMap<String, (Vec<String>, bool)>;

pub(crate) fn observe(crds: &[CustomResourceDefinition]) -> Observed {
    crds.iter()
        .filter_map(|c| {
            let name = c.metadata.name.clone()?;
            let served = c
                .spec
                .versions
                .iter()
                .filter(|v| v.served)
                .map(|v| v.name.clone())
                .collect();
            let established = c
                .status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| {
                    cs.iter()
                        .any(|x| x.type_ == "Established" && x.status == "True")
                });
            Some((name, (served, established)))
        })
        .collect()
}

pub(crate) fn evaluate(expected: &[Expected], observed: &Observed, severity: Severity) -> Outcome {
    let mut out = Outcome::default();
    let subject = |name: &str| Subject::new("customresourcedefinition", name);
    for e in expected {
        match observed.get(&e.name) {
            None => out.findings.push(Finding::new(
                "crd-missing",
                severity,
                subject(&e.name),
                "crd missing",
                vec![Evidence::new("crd", "not found").expected(e.name.clone())],
                format!("Apply the {} CRD from the Kubeflow manifests.", e.name),
            )),
            Some((served, established)) => {
                let missing: Vec<&str> = e
                    .versions
                    .iter()
                    .filter(|v| !served.contains(v))
                    .map(String::as_str)
                    .collect();
                if !missing.is_empty() {
                    out.findings.push(Finding::new(
                        "crd-version-not-served",
                        severity,
                        subject(&e.name),
                        "crd does not serve an expected version",
                        vec![Evidence::new("served versions", served.join(", "))
                            .expected(e.versions.join(", "))],
                        format!(
                            "Upgrade the {} CRD to a release that serves {}.",
                            e.name,
                            missing.join(", ")
                        ),
                    ));
                }
                if !established {
                    out.findings.push(Finding::new(
                        "crd-not-established",
                        severity,
                        subject(&e.name),
                        "crd not established",
                        vec![Evidence::new("Established", "not True").expected("True")],
                        "Check the CRD's conditions (`kubectl describe crd`) for naming conflicts or schema errors.",
                    ));
                }
            }
        }
    }
    out.notes.push(format!(
        "{} of {} expected CRDs found",
        expected
            .iter()
            .filter(|e| observed.contains_key(&e.name))
            .count(),
        expected.len()
    ));
    out
}

impl Kind for CrdsPresent {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, _: &SuiteBase) -> Result<(), String> {
        let p: Params = typed_params(params)?;
        if p.crds.is_empty() {
            return Err("`crds` must name at least one CRD".into());
        }
        Ok(())
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let p: Params = cx.params()?;
            let client = cx.kube().await?;
            let crds = cx
                .kube_cache()?
                .cluster::<CustomResourceDefinition>(&client)
                .await
                .map_err(|e| kube_error(&e, "list customresourcedefinitions"))?;
            Ok(evaluate(&p.crds, &observe(&crds), cx.spec.severity))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp(name: &str, versions: &[&str]) -> Expected {
        Expected {
            name: name.into(),
            versions: versions.iter().map(|v| v.to_string()).collect(),
        }
    }

    #[test]
    fn all_present_passes_and_each_gap_is_a_finding() {
        let mut observed = Observed::new();
        observed.insert(
            "workflows.argoproj.io".into(),
            (vec!["v1alpha1".into()], true),
        );
        observed.insert(
            "profiles.kubeflow.org".into(),
            (vec!["v1beta1".into()], false),
        );
        let ok = evaluate(
            &[exp("workflows.argoproj.io", &["v1alpha1"])],
            &observed,
            Severity::Error,
        );
        assert!(ok.findings.is_empty());
        let bad = evaluate(
            &[
                exp("workflows.argoproj.io", &["v1alpha1"]),
                exp("profiles.kubeflow.org", &["v1"]),
                exp("notebooks.kubeflow.org", &[]),
            ],
            &observed,
            Severity::Error,
        );
        let rules: Vec<&str> = bad.findings.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(
            rules,
            vec![
                "crd-version-not-served",
                "crd-not-established",
                "crd-missing"
            ]
        );
    }
}
