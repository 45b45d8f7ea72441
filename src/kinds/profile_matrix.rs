//! `profile-matrix`: every Kubeflow profile is ready for a data scientist: its namespace with the
//! labels the controllers select on, the pipeline service account, the artifact-store secret with
//! its keys, the `access-ml-pipeline` PodDefault, and the RBAC pipelines and notebooks need,
//! asked of the API server itself with SubjectAccessReview.

use super::{kube_error, typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::context::kube_cache::{not_served, Selectors};
use crate::context::resources::{named_profiles, profile_resource};
use crate::context::Need;
use crate::model::FindingRule;
use crate::model::{Evidence, Finding, Severity, Subject};
use futures::future::BoxFuture;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use k8s_openapi::api::core::v1::{Namespace, Secret, ServiceAccount};
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

pub struct ProfileMatrix;

/// The findings this kind can report (`kfcheck explain <rule>`).
static RULES: &[FindingRule] = &[
    FindingRule {
        id: "profile-namespace-missing",
        default_severity: Severity::Error,
        summary: "profile has no namespace",
        fix: "Check the profile controller (profiles-deployment in kubeflow): it creates the namespace named after the profile.",
    },
    FindingRule {
        id: "namespace-label-missing",
        default_severity: Severity::Error,
        summary: "profile namespace lacks a label controllers select on",
        fix: "Restore the label (the profile controller sets it from namespace-labels-data); KFP's pipelines-profile-controller only provisions namespaces labelled pipelines.kubeflow.org/enabled=true.",
    },
    FindingRule {
        id: "service-account-missing",
        default_severity: Severity::Error,
        summary: "pipeline service account is missing",
        fix: "Let the profile controller recreate it (delete and re-apply the Profile if it does not).",
    },
    FindingRule {
        id: "artifact-secret-missing",
        default_severity: Severity::Error,
        summary: "artifact-store secret is missing",
        fix: "Check KFP's kubeflow-pipelines-profile-controller: it creates the artifact secret in every namespace labelled pipelines.kubeflow.org/enabled=true.",
    },
    FindingRule {
        id: "artifact-secret-key-missing",
        default_severity: Severity::Error,
        summary: "artifact-store secret lacks a key",
        fix: "Recreate the secret with every key the artifact store configuration names.",
    },
    FindingRule {
        id: "poddefault-missing",
        default_severity: Severity::Error,
        summary: "poddefault for kfp access is missing",
        fix: "Create the access-ml-pipeline PodDefault in this namespace (no controller creates it); without it notebooks get no KFP token.",
    },
    FindingRule {
        id: "rbac-denied",
        default_severity: Severity::Error,
        summary: "rbac denies a verb the profile needs",
        fix: "Restore the profile's RoleBindings (default-editor → kubeflow-edit, namespaceAdmin → kubeflow-admin) or grant the verb in the aggregated ClusterRoles.",
    },
    FindingRule {
        id: "no-profiles",
        default_severity: Severity::Warning,
        summary: "no profiles exist",
        fix: "Create a Profile for each user or team; in multi-user mode a user without one has nowhere to run pipelines or notebooks.",
    },
    FindingRule {
        id: "profiles-not-installed",
        default_severity: Severity::Error,
        summary: "the profile api is not served",
        fix: "Install Kubeflow's profile controller and its CRD, or drop this check for a single-user (standalone KFP) install.",
    },
];

static META: KindMeta = KindMeta {
    name: "profile-matrix",
    needs: &[Need::Kube],
    effect: Effect::ReadOnly,
    creates: &[],
    rules: RULES,
    default_timeout: Duration::from_secs(60),
    what: "For every Kubeflow Profile: the namespace exists with the labels the pipeline and platform controllers select on; the pipeline service account, the artifact-store secret (with its keys) and the access-ml-pipeline PodDefault exist; and SubjectAccessReview confirms the service account and the profile owner may do what pipelines and notebooks do. A matrix of the results is reported.",
    why: "A profile that misses any of these looks fine on the dashboard, then fails the data scientist's first run: pods without artifact credentials, notebooks that cannot reach the KFP API, runs rejected for RBAC.",
    fix: "Let the profile controller and KFP's pipelines-profile-controller reconcile the namespace (check their logs), and create the PodDefault and RoleBindings the findings name.",
    params: &[
        ("profiles", "profile names to check (default: every Profile)"),
        ("namespace_labels", "labels every profile namespace must carry"),
        ("service_account", "the service account pipelines and notebooks run as (default default-editor)"),
        ("artifact_secret", "{name, keys}: the artifact-store secret each namespace needs; null skips"),
        ("pod_default", "the PodDefault that gives notebooks a KFP token (default access-ml-pipeline); null skips"),
        ("permissions", "list of {subject: service-account|owner, verb, group, resource} to confirm with SubjectAccessReview"),
        ("concurrency", "SubjectAccessReviews in flight at once (default 16)"),
    ],
};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretSpec {
    name: String,
    #[serde(default)]
    keys: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "kebab-case")]
enum Who {
    ServiceAccount,
    Owner,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(deny_unknown_fields)]
pub(crate) struct Permission {
    subject: Who,
    verb: String,
    #[serde(default)]
    group: String,
    resource: String,
}

impl Permission {
    fn shown(&self) -> String {
        let who = match self.subject {
            Who::ServiceAccount => "service account",
            Who::Owner => "owner",
        };
        let res = if self.group.is_empty() {
            self.resource.clone()
        } else {
            format!("{}.{}", self.resource, self.group)
        };
        format!("{who} may {} {res}", self.verb)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default)]
    profiles: Option<Vec<String>>,
    #[serde(default = "default_labels")]
    namespace_labels: BTreeMap<String, String>,
    #[serde(default = "default_sa")]
    service_account: String,
    #[serde(default = "default_secret")]
    artifact_secret: Option<SecretSpec>,
    #[serde(default = "default_pod_default")]
    pod_default: Option<String>,
    #[serde(default = "default_permissions")]
    permissions: Vec<Permission>,
    #[serde(default = "sixteen")]
    concurrency: usize,
}

fn default_labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        (
            "app.kubernetes.io/part-of".into(),
            "kubeflow-profile".into(),
        ),
        ("pipelines.kubeflow.org/enabled".into(), "true".into()),
    ])
}

fn default_sa() -> String {
    "default-editor".into()
}

fn default_secret() -> Option<SecretSpec> {
    Some(SecretSpec {
        name: "mlpipeline-minio-artifact".into(),
        keys: vec!["accesskey".into(), "secretkey".into()],
    })
}

fn default_pod_default() -> Option<String> {
    Some("access-ml-pipeline".into())
}

fn sixteen() -> usize {
    16
}

fn default_permissions() -> Vec<Permission> {
    let p = |subject, verb: &str, group: &str, resource: &str| Permission {
        subject,
        verb: verb.into(),
        group: group.into(),
        resource: resource.into(),
    };
    vec![
        p(Who::ServiceAccount, "create", "", "pods"),
        p(Who::ServiceAccount, "create", "argoproj.io", "workflows"),
        p(Who::ServiceAccount, "get", "", "secrets"),
        p(
            Who::ServiceAccount,
            "create",
            "pipelines.kubeflow.org",
            "runs",
        ),
        p(Who::Owner, "create", "kubeflow.org", "notebooks"),
        p(Who::Owner, "list", "kubeflow.org", "poddefaults"),
        p(Who::Owner, "create", "pipelines.kubeflow.org", "runs"),
    ]
}

fn pod_default_resource() -> ApiResource {
    ApiResource {
        group: "kubeflow.org".into(),
        version: "v1alpha1".into(),
        api_version: "kubeflow.org/v1alpha1".into(),
        kind: "PodDefault".into(),
        plural: "poddefaults".into(),
    }
}

/// What kfcheck saw of one profile.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ProfileFacts {
    pub name: String,
    /// (kind, name) of `spec.owner`.
    pub owner: Option<(String, String)>,
    /// Labels of the namespace, `None` when it does not exist.
    pub namespace_labels: Option<BTreeMap<String, String>>,
    pub service_account: bool,
    /// Keys of the artifact secret, `None` when absent (or not checked).
    pub secret_keys: Option<BTreeSet<String>>,
    pub pod_default: bool,
    /// Permissions SubjectAccessReview denied, with the reason the API server gave.
    pub denied: Vec<(Permission, String)>,
    pub asked: usize,
}

/// Profile name and owner (kind, name) from the Profile objects.
fn profiles(
    objs: &[DynamicObject],
    only: Option<&Vec<String>>,
) -> Vec<(String, Option<(String, String)>)> {
    let mut out: Vec<_> = objs
        .iter()
        .filter_map(|o| {
            let name = o.metadata.name.clone()?;
            let owner = o
                .data
                .get("spec")
                .and_then(|s| s.get("owner"))
                .and_then(|ow| {
                    Some((
                        ow.get("kind")
                            .and_then(|k| k.as_str())
                            .unwrap_or("User")
                            .to_string(),
                        ow.get("name")?.as_str()?.to_string(),
                    ))
                });
            Some((name, owner))
        })
        .filter(|(n, _)| only.is_none_or(|o| o.contains(n)))
        .collect();
    out.sort();
    out
}

pub(crate) fn evaluate(
    facts: &[ProfileFacts],
    p_labels: &BTreeMap<String, String>,
    sa: &str,
    secret: Option<(&str, &[String])>,
    pod_default: Option<&str>,
    severity: Severity,
) -> Outcome {
    let mut out = Outcome::default();
    let mut rows = vec![format!(
        "{:<32} {:<9} {:<6} {:<8} {:<8} {:<10} rbac",
        "profile", "namespace", "labels", "sa", "secret", "poddefault"
    )];
    for f in facts {
        let subject = Subject::new("profile", f.name.clone());
        let col = |ok: Option<bool>| match ok {
            None => "-".to_string(),
            Some(true) => "ok".to_string(),
            Some(false) => "MISSING".to_string(),
        };
        let Some(labels) = &f.namespace_labels else {
            out.findings.push(Finding::new(
                "profile-namespace-missing",
                severity,
                subject,
                "profile has no namespace",
                vec![Evidence::new("namespace", format!("{}: not found", f.name)).expected("exists")],
                "Check the profile controller (profiles-deployment in kubeflow): it creates the namespace named after the profile.",
            ));
            rows.push(format!("{:<32} {:<9}", f.name, col(Some(false))));
            continue;
        };
        let missing_labels: Vec<String> = p_labels
            .iter()
            .filter(|(k, v)| labels.get(*k) != Some(*v))
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        for l in &missing_labels {
            out.findings.push(Finding::new(
                "namespace-label-missing",
                severity,
                subject.clone(),
                "profile namespace lacks a label controllers select on",
                vec![Evidence::new("label", format!("{}: absent or different", l)).expected(l.clone())],
                "Restore the label (the profile controller sets it from namespace-labels-data); KFP's pipelines-profile-controller only provisions namespaces labelled pipelines.kubeflow.org/enabled=true.",
            ));
        }
        if !f.service_account {
            out.findings.push(Finding::new(
                "service-account-missing",
                severity,
                subject.clone(),
                "pipeline service account is missing",
                vec![Evidence::new("serviceaccount", format!("{}/{sa}: not found", f.name)).expected("exists")],
                "Let the profile controller recreate it (delete and re-apply the Profile if it does not).",
            ));
        }
        let mut secret_ok = None;
        if let Some((name, keys)) = secret {
            match &f.secret_keys {
                None => {
                    secret_ok = Some(false);
                    out.findings.push(Finding::new(
                        "artifact-secret-missing",
                        severity,
                        subject.clone(),
                        "artifact-store secret is missing",
                        vec![Evidence::new("secret", format!("{}/{name}: not found", f.name)).expected("exists")],
                        "Check KFP's kubeflow-pipelines-profile-controller: it creates the artifact secret in every namespace labelled pipelines.kubeflow.org/enabled=true.",
                    ));
                }
                Some(have) => {
                    let absent: Vec<&String> = keys.iter().filter(|k| !have.contains(*k)).collect();
                    secret_ok = Some(absent.is_empty());
                    for k in absent {
                        out.findings.push(Finding::new(
                            "artifact-secret-key-missing",
                            severity,
                            subject.clone(),
                            "artifact-store secret lacks a key",
                            vec![Evidence::new(format!("keys of {}/{name}", f.name), have.iter().cloned().collect::<Vec<_>>().join(", ")).expected(format!("includes {k}"))],
                            "Recreate the secret with every key the artifact store configuration names.",
                        ));
                    }
                }
            }
        }
        if let Some(pd) = pod_default {
            if !f.pod_default {
                out.findings.push(Finding::new(
                    "poddefault-missing",
                    severity,
                    subject.clone(),
                    "poddefault for kfp access is missing",
                    vec![Evidence::new("poddefault", format!("{}/{pd}: not found", f.name)).expected("exists")],
                    "Create the access-ml-pipeline PodDefault in this namespace (no controller creates it); without it notebooks get no KFP token.",
                ));
            }
        }
        for (perm, reason) in &f.denied {
            let mut ev = vec![Evidence::new("SubjectAccessReview", "denied").expected("allowed")];
            if !reason.is_empty() {
                ev.push(Evidence::new("reason", reason.clone()));
            }
            out.findings.push(Finding::new("rbac-denied", severity, subject.clone(), format!("rbac denies: {}", perm.shown()), ev, "Restore the profile's RoleBindings (default-editor → kubeflow-edit, namespaceAdmin → kubeflow-admin) or grant the verb in the aggregated ClusterRoles."));
        }
        rows.push(format!(
            "{:<32} {:<9} {:<6} {:<8} {:<8} {:<10} {}/{}",
            f.name,
            "ok",
            col(Some(missing_labels.is_empty())),
            col(Some(f.service_account)),
            col(secret_ok),
            col(pod_default.map(|_| f.pod_default)),
            f.asked - f.denied.len(),
            f.asked
        ));
    }
    if facts.is_empty() {
        out.findings.push(Finding::new(
            "no-profiles",
            Severity::Warning,
            Subject::new("cluster", "profiles.kubeflow.org"),
            "no profiles exist",
            vec![Evidence::new("profiles", "0").expected(">= 1")],
            "Create a Profile for each user or team; in multi-user mode a user without one has nowhere to run pipelines or notebooks.",
        ));
    } else {
        out.notes.push(format!(
            "{} profile(s); rbac: allowed/asked SubjectAccessReviews",
            facts.len()
        ));
        out.notes.extend(rows);
    }
    out
}

/// Asks the API server whether `perm` is allowed in `ns` for the profile's subject.
async fn review(
    client: kube::Client,
    ns: String,
    sa: String,
    owner: Option<(String, String)>,
    perm: Permission,
) -> Result<Option<(Permission, String)>, CheckError> {
    let (user, groups) = match (&perm.subject, &owner) {
        (Who::ServiceAccount, _) => (
            Some(format!("system:serviceaccount:{ns}:{sa}")),
            vec![
                "system:serviceaccounts".to_string(),
                format!("system:serviceaccounts:{ns}"),
                "system:authenticated".to_string(),
            ],
        ),
        (Who::Owner, Some((kind, name))) if kind == "Group" => {
            (None, vec![name.clone(), "system:authenticated".to_string()])
        }
        (Who::Owner, Some((_, name))) => {
            (Some(name.clone()), vec!["system:authenticated".to_string()])
        }
        (Who::Owner, None) => return Ok(Some((perm, "the profile names no owner".into()))),
    };
    let sar = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user,
            groups: Some(groups),
            resource_attributes: Some(ResourceAttributes {
                namespace: Some(ns.clone()),
                verb: Some(perm.verb.clone()),
                group: Some(perm.group.clone()),
                resource: Some(perm.resource.clone()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let api: Api<SubjectAccessReview> = Api::all(client);
    let got = api
        .create(&PostParams::default(), &sar)
        .await
        .map_err(|e| kube_error(&e, "create subjectaccessreviews"))?;
    let status = got.status.unwrap_or_default();
    Ok(if status.allowed {
        None
    } else {
        Some((perm, status.reason.unwrap_or_default()))
    })
}

impl Kind for ProfileMatrix {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, _: &SuiteBase) -> Result<(), String> {
        let p: Params = typed_params(params)?;
        if p.concurrency == 0 {
            return Err("`concurrency` must be at least 1".into());
        }
        Ok(())
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let p: Params = cx.params()?;
            let client = cx.kube().await?;
            let cache = cx.kube_cache()?;
            let objs = match cache
                .dynamic(&client, &profile_resource(), Selectors::default())
                .await
            {
                Ok(o) => o,
                Err(e) if not_served(&e) => {
                    let mut out = Outcome::default();
                    out.findings.push(Finding::new(
                        "profiles-not-installed",
                        cx.spec.severity,
                        Subject::new("crd", "profiles.kubeflow.org"),
                        "the profile api is not served",
                        vec![Evidence::new("kubeflow.org/v1 profiles", "404 not found").expected("served")],
                        "Install Kubeflow's profile controller and its CRD, or drop this check for a single-user (standalone KFP) install.",
                    ));
                    return Ok(out);
                }
                Err(e) => return Err(kube_error(&e, "list profiles.kubeflow.org")),
            };
            // `-n NS` narrows every per-profile check to that profile.
            let only = named_profiles(
                &objs,
                p.profiles
                    .clone()
                    .or_else(|| cx.namespace().map(String::from).map(|n| vec![n]))
                    .as_ref(),
            )?;
            let list = profiles(&objs, only.as_ref());
            let sa_field = format!("metadata.name={}", p.service_account);
            let secret_field = p
                .artifact_secret
                .as_ref()
                .map(|s| format!("metadata.name={}", s.name));
            let pd_field = p.pod_default.as_ref().map(|n| format!("metadata.name={n}"));
            let namespaces = cache
                .cluster::<Namespace>(&client)
                .await
                .map_err(|e| kube_error(&e, "list namespaces"))?;
            let sas = cache
                .all_namespaces::<ServiceAccount>(&client, Selectors::name(&sa_field))
                .await
                .map_err(|e| kube_error(&e, "list serviceaccounts"))?;
            let secrets = match &secret_field {
                Some(f) => Some(
                    cache
                        .all_namespaces::<Secret>(&client, Selectors::name(f))
                        .await
                        .map_err(|e| kube_error(&e, "list secrets"))?,
                ),
                None => None,
            };
            let pds = match &pd_field {
                Some(f) => match cache
                    .dynamic(&client, &pod_default_resource(), Selectors::name(f))
                    .await
                {
                    Ok(v) => Some(v),
                    // No PodDefault API at all: every profile lacks it.
                    Err(e) if not_served(&e) => Some(std::sync::Arc::new(Vec::new())),
                    Err(e) => return Err(kube_error(&e, "list poddefaults.kubeflow.org")),
                },
                None => None,
            };
            let ns_of = |o: &Option<String>| o.clone().unwrap_or_default();
            let mut facts: Vec<ProfileFacts> = list
                .iter()
                .map(|(name, owner)| ProfileFacts {
                    name: name.clone(),
                    owner: owner.clone(),
                    namespace_labels: namespaces
                        .iter()
                        .find(|n| n.metadata.name.as_deref() == Some(name))
                        .map(|n| n.metadata.labels.clone().unwrap_or_default()),
                    service_account: sas.iter().any(|s| &ns_of(&s.metadata.namespace) == name),
                    secret_keys: secrets.as_ref().and_then(|ss| {
                        ss.iter()
                            .find(|s| &ns_of(&s.metadata.namespace) == name)
                            .map(|s| {
                                // Only the key names are kept; values are never read into findings.
                                let mut keys: BTreeSet<String> = s
                                    .data
                                    .as_ref()
                                    .map(|d| d.keys().cloned().collect())
                                    .unwrap_or_default();
                                keys.extend(s.string_data.iter().flat_map(|d| d.keys().cloned()));
                                keys
                            })
                    }),
                    pod_default: pds
                        .as_ref()
                        .is_some_and(|v| v.iter().any(|o| &ns_of(&o.metadata.namespace) == name)),
                    denied: Vec::new(),
                    asked: 0,
                })
                .collect();
            // SubjectAccessReviews: one per (profile, permission), a bounded number in flight.
            let jobs: Vec<(usize, Permission)> = facts
                .iter()
                .enumerate()
                .filter(|(_, f)| f.namespace_labels.is_some())
                .flat_map(|(i, _)| p.permissions.iter().map(move |perm| (i, perm.clone())))
                .collect();
            let answers: Vec<(usize, Option<(Permission, String)>)> = futures::stream::iter(jobs)
                .map(|(i, perm)| {
                    let f = &facts[i];
                    let fut = review(
                        client.clone(),
                        f.name.clone(),
                        p.service_account.clone(),
                        f.owner.clone(),
                        perm,
                    );
                    async move { fut.await.map(|d| (i, d)) }
                })
                .buffer_unordered(p.concurrency)
                .try_collect()
                .await?;
            for (i, denied) in answers {
                facts[i].asked += 1;
                facts[i].denied.extend(denied);
            }
            for f in &mut facts {
                f.denied.sort();
            }
            let secret = p
                .artifact_secret
                .as_ref()
                .map(|s| (s.name.as_str(), s.keys.as_slice()));
            Ok(evaluate(
                &facts,
                &p.namespace_labels,
                &p.service_account,
                secret,
                p.pod_default.as_deref(),
                cx.spec.severity,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(name: &str) -> ProfileFacts {
        ProfileFacts {
            name: name.into(),
            owner: Some(("User".into(), "user@example.com".into())),
            namespace_labels: Some(default_labels()),
            service_account: true,
            secret_keys: Some(BTreeSet::from([
                "accesskey".to_string(),
                "secretkey".to_string(),
            ])),
            pod_default: true,
            denied: Vec::new(),
            asked: 7,
        }
    }

    fn run(facts: &[ProfileFacts]) -> Outcome {
        let keys = vec!["accesskey".to_string(), "secretkey".to_string()];
        evaluate(
            facts,
            &default_labels(),
            "default-editor",
            Some(("mlpipeline-minio-artifact", &keys)),
            Some("access-ml-pipeline"),
            Severity::Error,
        )
    }

    #[test]
    fn a_ready_profile_passes_with_a_matrix_row() {
        let o = run(&[ready("team-a")]);
        assert!(o.findings.is_empty(), "{:?}", o.findings);
        assert!(
            o.notes[2].starts_with("team-a ") && o.notes[2].ends_with(" 7/7"),
            "{:?}",
            o.notes
        );
    }

    #[test]
    fn every_fault_is_named_per_profile() {
        let mut a = ready("a");
        a.namespace_labels
            .as_mut()
            .unwrap()
            .remove("pipelines.kubeflow.org/enabled");
        a.secret_keys = Some(BTreeSet::from(["accesskey".to_string()]));
        let mut b = ready("b");
        b.service_account = false;
        b.secret_keys = None;
        b.pod_default = false;
        b.denied = vec![(
            default_permissions()[0].clone(),
            "no RBAC policy matched".into(),
        )];
        let mut c = ready("c");
        c.namespace_labels = None;
        let o = run(&[a, b, c]);
        let got: Vec<(&str, &str)> = o
            .findings
            .iter()
            .map(|f| (f.rule.as_str(), f.subject.name.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("namespace-label-missing", "a"),
                ("artifact-secret-key-missing", "a"),
                ("service-account-missing", "b"),
                ("artifact-secret-missing", "b"),
                ("poddefault-missing", "b"),
                ("rbac-denied", "b"),
                ("profile-namespace-missing", "c"),
            ]
        );
        assert_eq!(
            o.findings[5].message,
            "rbac denies: service account may create pods"
        );
        assert!(
            o.notes
                .iter()
                .any(|n| n.starts_with("b ") && n.ends_with(" 6/7")),
            "{:?}",
            o.notes
        );
    }

    #[test]
    fn a_name_that_is_not_a_profile_is_an_error_naming_those_that_exist() {
        let obj = |n: &str| {
            let mut o = DynamicObject::new(n, &profile_resource());
            o.metadata.name = Some(n.into());
            o
        };
        let objs = vec![obj("team-b"), obj("team-a")];
        let only = vec!["team-a".to_string(), "team-typo".to_string()];
        let Err(CheckError::Undecided(m)) = named_profiles(&objs, Some(&only)) else {
            panic!("expected an error")
        };
        assert_eq!(
            m,
            "'team-typo' is not a Kubeflow profile (profiles: team-a, team-b)"
        );
        let Err(CheckError::Undecided(m)) = named_profiles(&[], Some(&only)) else {
            panic!("expected an error")
        };
        assert!(m.ends_with("(the cluster has no profiles)"), "{m}");
        assert_eq!(
            named_profiles(&objs, Some(&vec!["team-a".into()])).unwrap(),
            Some(vec!["team-a".to_string()])
        );
        assert_eq!(named_profiles(&objs, None).unwrap(), None);
    }

    #[test]
    fn no_profiles_is_a_warning() {
        let o = run(&[]);
        assert_eq!(o.findings[0].rule, "no-profiles");
        assert_eq!(o.findings[0].severity, Severity::Warning);
    }
}
