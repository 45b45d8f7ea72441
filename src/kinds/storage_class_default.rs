//! `storage-class-default`: exactly one default StorageClass, so PVCs without a class bind.

use super::{kube_error, typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::context::Need;
use crate::model::FindingRule;
use crate::model::{Evidence, Finding, Severity, Subject};
use futures::future::BoxFuture;
use k8s_openapi::api::storage::v1::StorageClass;
use serde::Deserialize;
use std::time::Duration;

pub struct StorageClassDefault;

/// The findings this kind can report (`kfcheck explain <rule>`).
static RULES: &[FindingRule] = &[
    FindingRule {
        id: "no-default-storageclass",
        default_severity: Severity::Error,
        summary: "no default storageclass",
        fix: "Mark one StorageClass as default (annotation storageclass.kubernetes.io/is-default-class: \"true\"): Kubeflow's volumes (notebooks, pipelines) request the default.",
    },
    FindingRule {
        id: "several-default-storageclasses",
        default_severity: Severity::Warning,
        summary: "more than one default storageclass",
        fix: "Remove the default annotation from all but one StorageClass.",
    },
];

static META: KindMeta = KindMeta {
    name: "storage-class-default",
    needs: &[Need::Kube],
    effect: Effect::ReadOnly,
    creates: &[],
    rules: RULES,
    default_timeout: Duration::from_secs(30),
    what: "Exactly one StorageClass is marked default (storageclass.kubernetes.io/is-default-class: \"true\").",
    why: "Notebook workspaces, pipeline PVCs (kfp-kubernetes CreatePVC) and KFP's own MySQL/object-store volumes request no class; without a default they stay Pending, and with two defaults the choice is arbitrary.",
    fix: "Annotate exactly one StorageClass with storageclass.kubernetes.io/is-default-class=\"true\".",
    params: &[],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {}

const DEFAULT_KEYS: &[&str] = &[
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
];

/// (name, is default) of each StorageClass.
pub(crate) fn observe(classes: &[StorageClass]) -> Vec<(String, bool)> {
    classes
        .iter()
        .filter_map(|c| {
            let default = c.metadata.annotations.as_ref().is_some_and(|a| {
                DEFAULT_KEYS
                    .iter()
                    .any(|k| a.get(*k).is_some_and(|v| v == "true"))
            });
            Some((c.metadata.name.clone()?, default))
        })
        .collect()
}

pub(crate) fn evaluate(classes: &[(String, bool)], severity: Severity) -> Outcome {
    let mut out = Outcome::default();
    let defaults: Vec<&str> = classes
        .iter()
        .filter(|(_, d)| *d)
        .map(|(n, _)| n.as_str())
        .collect();
    let all: Vec<&str> = classes.iter().map(|(n, _)| n.as_str()).collect();
    let listed = if all.is_empty() {
        "none".to_string()
    } else {
        all.join(", ")
    };
    match defaults.len() {
        0 => out.findings.push(Finding {
            rule: "no-default-storageclass".into(),
            severity,
            message: "no default storageclass".into(),
            subject: Subject::new("storageclass", "default"),
            evidence: vec![
                Evidence::new("storage classes", listed).expected("one annotated as default")
            ],
            remediation: META.fix.into(),
            owner: None,
        }),
        1 => out
            .notes
            .push(format!("default StorageClass: {}", defaults[0])),
        _ => out.findings.push(Finding {
            rule: "several-default-storageclasses".into(),
            severity: Severity::Warning,
            message: "more than one default storageclass".into(),
            subject: Subject::new("storageclass", "default"),
            evidence: vec![Evidence::new("defaults", defaults.join(", ")).expected("exactly one")],
            remediation: "Remove the default annotation from all but one StorageClass.".into(),
            owner: None,
        }),
    }
    out
}

impl Kind for StorageClassDefault {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, _: &SuiteBase) -> Result<(), String> {
        typed_params::<Params>(params).map(|_| ())
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let client = cx.kube().await?;
            let classes = cx
                .kube_cache()?
                .cluster::<StorageClass>(&client)
                .await
                .map_err(|e| kube_error(&e, "list storageclasses"))?;
            Ok(evaluate(&observe(&classes), cx.spec.severity))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_one_and_two_defaults() {
        assert_eq!(
            evaluate(&[("standard".into(), false)], Severity::Error).findings[0].rule,
            "no-default-storageclass"
        );
        assert!(evaluate(&[("standard".into(), true)], Severity::Error)
            .findings
            .is_empty());
        let two = evaluate(&[("a".into(), true), ("b".into(), true)], Severity::Error);
        assert_eq!(two.findings[0].rule, "several-default-storageclasses");
    }
}
