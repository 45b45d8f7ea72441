//! `gcp-credentials`: every profile has Google Cloud credentials that a token exchange can use: a
//! service-account key secret that parses and carries what the JWT bearer flow needs, or a
//! Workload Identity annotation that names a Google service account. Values are never shown.

use super::{kube_error, typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::context::kube_cache::{not_served, Selectors};
use crate::context::Need;
use crate::model::FindingRule;
use crate::model::{Evidence, Finding, Severity, Subject};
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Secret, ServiceAccount};
use kube::api::DynamicObject;
use serde::Deserialize;
use std::time::Duration;

pub struct GcpCredentials;

/// The findings this kind can report (`kfcheck explain <rule>`).
static RULES: &[FindingRule] = &[
    FindingRule {
        id: "gcp-key-not-in-secret",
        default_severity: Severity::Error,
        summary: "gcp key secret lacks the key file",
        fix: "Recreate the secret with the key file under the name steps mount (user-gcp-sa.json for kfp.gcp.use_gcp_secret).",
    },
    FindingRule {
        id: "gcp-key-malformed",
        default_severity: Severity::Error,
        summary: "gcp service-account key cannot be used for a token exchange",
        fix: "Recreate the key secret from a fresh service-account key file (JSON with type, client_email, private_key and token_uri).",
    },
    FindingRule {
        id: "workload-identity-malformed",
        default_severity: Severity::Error,
        summary: "workload identity annotation is not a google service-account email",
        fix: "Set the Profile's WorkloadIdentity plugin gcpServiceAccount to the full Google service-account email and let the profile controller re-annotate.",
    },
    FindingRule {
        id: "workload-identity-mismatch",
        default_severity: Severity::Error,
        summary: "workload identity annotation differs from the profile's plugin",
        fix: "Let the profile controller reconcile the service account (it writes the plugin's gcpServiceAccount).",
    },
    FindingRule {
        id: "workload-identity-not-applied",
        default_severity: Severity::Error,
        summary: "profile asks for workload identity but the service account is not annotated",
        fix: "Check the profile controller's logs: it annotates the service account when the WorkloadIdentity plugin is set.",
    },
    FindingRule {
        id: "gcp-credentials-missing",
        default_severity: Severity::Error,
        summary: "profile has no gcp credentials",
        fix: "Give the profile a Workload Identity plugin (GKE) or a key secret; or set require: false where pipelines do not use Google Cloud.",
    },
];

static META: KindMeta = KindMeta {
    name: "gcp-credentials",
    needs: &[Need::Kube],
    effect: Effect::ReadOnly,
    creates: &[],
    rules: RULES,
    default_timeout: Duration::from_secs(30),
    what: "For every profile: a Google service-account key secret parses as JSON and has the fields a token exchange needs (a PKCS#8 RSA private key that loads, client_email, private_key_id, an https token_uri), or the pipeline service account carries a well-formed Workload Identity annotation that matches the profile's plugin. Only field names are ever reported, never values.",
    why: "A key that is truncated, re-encoded or copied without its private key mounts fine and fails only when a pipeline step first touches the bucket, with an authentication error deep in the step's log.",
    fix: "Recreate the key secret from the JSON key file Google issued (`kubectl create secret generic user-gcp-sa --from-file=user-gcp-sa.json=KEY.json`), or fix the iam.gke.io/gcp-service-account annotation.",
    params: &[
        ("profiles", "profile names to check (default: every Profile)"),
        ("key_secret", "{name, key}: the service-account key secret (default user-gcp-sa / user-gcp-sa.json)"),
        ("service_account", "the service account whose Workload Identity annotation counts (default default-editor)"),
        ("require", "a profile with neither a key nor Workload Identity is a finding (default true)"),
    ],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeySecret {
    name: String,
    key: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default)]
    profiles: Option<Vec<String>>,
    #[serde(default = "default_key_secret")]
    key_secret: KeySecret,
    #[serde(default = "default_sa")]
    service_account: String,
    #[serde(default = "yes")]
    require: bool,
}

fn default_key_secret() -> KeySecret {
    KeySecret {
        name: "user-gcp-sa".into(),
        key: "user-gcp-sa.json".into(),
    }
}

fn default_sa() -> String {
    "default-editor".into()
}

fn yes() -> bool {
    true
}

pub(crate) const WI_ANNOTATION: &str = "iam.gke.io/gcp-service-account";

/// One thing wrong with a key file: (field, what is wrong, what is expected). No values.
pub(crate) type KeyProblem = (String, String, String);

/// Checks a service-account key JSON for what the JWT bearer flow needs. Never returns values.
pub(crate) fn key_problems(bytes: &[u8]) -> Vec<KeyProblem> {
    let p = |f: &str, o: &str, e: &str| (f.to_string(), o.to_string(), e.to_string());
    let v: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            return vec![p(
                "(file)",
                &format!(
                    "not JSON ({} at line {} column {})",
                    category(&e),
                    e.line(),
                    e.column()
                ),
                "a JSON key file",
            )]
        }
    };
    let Some(obj) = v.as_object() else {
        return vec![p("(file)", "not a JSON object", "a JSON object")];
    };
    let mut out = Vec::new();
    let text = |k: &str| {
        obj.get(k)
            .and_then(|x| x.as_str())
            .filter(|s| !s.trim().is_empty())
    };
    match text("type") {
        Some("service_account") => {}
        Some(_) => out.push(p(
            "type",
            "not service_account (a user or external-account credential?)",
            "service_account",
        )),
        None => out.push(p("type", "absent", "service_account")),
    }
    for f in ["project_id", "private_key_id"] {
        if text(f).is_none() {
            out.push(p(f, "absent or empty", "a non-empty string"));
        }
    }
    match text("client_email") {
        None => out.push(p(
            "client_email",
            "absent or empty",
            "NAME@PROJECT.iam.gserviceaccount.com",
        )),
        Some(e) if !is_gsa_email(e) => out.push(p(
            "client_email",
            "not a service-account email",
            "NAME@PROJECT.iam.gserviceaccount.com",
        )),
        Some(_) => {}
    }
    match text("token_uri") {
        None => out.push(p(
            "token_uri",
            "absent or empty",
            "https://oauth2.googleapis.com/token",
        )),
        Some(u) if !u.starts_with("https://") => out.push(p(
            "token_uri",
            "not an https URL",
            "https://oauth2.googleapis.com/token",
        )),
        Some(_) => {}
    }
    match text("private_key") {
        None => out.push(p(
            "private_key",
            "absent or empty",
            "an RSA private key in PKCS#8 PEM",
        )),
        Some(pem) => {
            if let Err(why) = crate::clients::gcs::load_private_key(pem) {
                out.push(p("private_key", why, "an RSA private key in PKCS#8 PEM"));
            }
        }
    }
    out
}

/// serde_json's error class without its message (which could quote the input).
fn category(e: &serde_json::Error) -> &'static str {
    match e.classify() {
        serde_json::error::Category::Io => "read error",
        serde_json::error::Category::Syntax => "syntax error",
        serde_json::error::Category::Data => "unexpected data",
        serde_json::error::Category::Eof => "truncated",
    }
}

/// `NAME@PROJECT.iam.gserviceaccount.com` (also the older `developer.` and `appspot.` forms).
pub(crate) fn is_gsa_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = (6..=30).contains(&local.len())
        && local
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let domain_ok = domain.ends_with(".iam.gserviceaccount.com")
        || domain == "developer.gserviceaccount.com"
        || domain == "appspot.gserviceaccount.com";
    let project = domain
        .strip_suffix(".iam.gserviceaccount.com")
        .unwrap_or("x");
    local_ok && domain_ok && !project.is_empty() && !project.contains('.')
}

/// What kfcheck saw of one profile's credentials.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CredFacts {
    pub profile: String,
    /// The key secret: `None` absent; `Some(None)` present without the key; `Some(Some(problems))`.
    pub key: Option<Option<Vec<KeyProblem>>>,
    /// The service account's Workload Identity annotation, when set.
    pub wi_annotation: Option<String>,
    /// The profile's WorkloadIdentity plugin's Google service account, when configured.
    pub wi_plugin: Option<String>,
}

pub(crate) fn evaluate(
    facts: &[CredFacts],
    secret: (&str, &str),
    sa: &str,
    require: bool,
    severity: Severity,
) -> Outcome {
    let mut out = Outcome::default();
    let (sname, skey) = secret;
    for f in facts {
        let subject = Subject::new("profile", f.profile.clone());
        let mut how = Vec::new();
        match &f.key {
            None => {}
            Some(None) => out.findings.push(Finding::new(
                "gcp-key-not-in-secret",
                severity,
                subject.clone(),
                "gcp key secret lacks the key file",
                vec![Evidence::new(format!("secret {}/{sname}", f.profile), format!("no key {skey}")).expected(format!("key {skey}"))],
                "Recreate the secret with the key file under the name steps mount (user-gcp-sa.json for kfp.gcp.use_gcp_secret).",
            )),
            Some(Some(problems)) if problems.is_empty() => how.push(format!("service-account key {sname}/{skey} well formed")),
            Some(Some(problems)) => out.findings.push(Finding::new(
                "gcp-key-malformed",
                severity,
                subject.clone(),
                "gcp service-account key cannot be used for a token exchange",
                problems.iter().map(|(field, o, e)| Evidence::new(format!("{sname}/{skey}: {field}"), o.clone()).expected(e.clone())).collect(),
                META.fix,
            )),
        }
        match (&f.wi_annotation, &f.wi_plugin) {
            (Some(a), _) if !is_gsa_email(a) => out.findings.push(Finding::new(
                "workload-identity-malformed",
                severity,
                subject.clone(),
                "workload identity annotation is not a google service-account email",
                vec![Evidence::new(format!("serviceaccount {}/{sa} annotation {WI_ANNOTATION}", f.profile), a.clone()).expected("NAME@PROJECT.iam.gserviceaccount.com")],
                "Set the Profile's WorkloadIdentity plugin gcpServiceAccount to the full Google service-account email and let the profile controller re-annotate.",
            )),
            (Some(a), Some(p)) if a != p => out.findings.push(Finding::new(
                "workload-identity-mismatch",
                severity,
                subject.clone(),
                "workload identity annotation differs from the profile's plugin",
                vec![Evidence::new(format!("serviceaccount {}/{sa} annotation", f.profile), a.clone()).expected(p.clone())],
                "Let the profile controller reconcile the service account (it writes the plugin's gcpServiceAccount).",
            )),
            (Some(a), _) => how.push(format!("Workload Identity {a}")),
            (None, Some(p)) => out.findings.push(Finding::new(
                "workload-identity-not-applied",
                severity,
                subject.clone(),
                "profile asks for workload identity but the service account is not annotated",
                vec![Evidence::new(format!("serviceaccount {}/{sa} annotation {WI_ANNOTATION}", f.profile), "absent").expected(p.clone())],
                "Check the profile controller's logs: it annotates the service account when the WorkloadIdentity plugin is set.",
            )),
            (None, None) => {}
        }
        if f.key.is_none() && f.wi_annotation.is_none() && f.wi_plugin.is_none() && require {
            out.findings.push(Finding::new(
                "gcp-credentials-missing",
                severity,
                subject.clone(),
                "profile has no gcp credentials",
                vec![
                    Evidence::new(format!("secret {}/{sname}", f.profile), "not found").expected("a key secret"),
                    Evidence::new(format!("serviceaccount {}/{sa} annotation {WI_ANNOTATION}", f.profile), "absent").expected("or Workload Identity"),
                ],
                "Give the profile a Workload Identity plugin (GKE) or a key secret; or set require: false where pipelines do not use Google Cloud.",
            ));
        }
        if !how.is_empty() {
            out.notes.push(format!("{}: {}", f.profile, how.join("; ")));
        }
    }
    out
}

impl Kind for GcpCredentials {
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
            let objs = match cache.dynamic(&client, &crate::context::resources::profile_resource(), Selectors::default()).await {
                Ok(o) => o,
                Err(e) if not_served(&e) => {
                    return Err(CheckError::NotApplicable("the Profile API (profiles.kubeflow.org) is not served, so there are no profiles to check".into()))
                }
                Err(e) => return Err(kube_error(&e, "list profiles.kubeflow.org")),
            };
            let sa_field = format!("metadata.name={}", p.service_account);
            let secret_field = format!("metadata.name={}", p.key_secret.name);
            let sas = cache
                .all_namespaces::<ServiceAccount>(&client, Selectors::name(&sa_field))
                .await
                .map_err(|e| kube_error(&e, "list serviceaccounts"))?;
            let secrets = cache
                .all_namespaces::<Secret>(&client, Selectors::name(&secret_field))
                .await
                .map_err(|e| kube_error(&e, "list secrets"))?;
            let only = crate::context::resources::named_profiles(
                &objs,
                p.profiles
                    .clone()
                    .or_else(|| cx.namespace().map(String::from).map(|n| vec![n]))
                    .as_ref(),
            )?;
            let mut facts: Vec<CredFacts> = objs
                .iter()
                .filter_map(|o: &DynamicObject| o.metadata.name.clone().map(|n| (n, o)))
                .filter(|(n, _)| only.as_ref().is_none_or(|only| only.contains(n)))
                .map(|(name, o)| {
                    let in_ns = |ns: &Option<String>| ns.as_deref() == Some(name.as_str());
                    let key = secrets
                        .iter()
                        .find(|s| in_ns(&s.metadata.namespace))
                        .map(|s| {
                            s.data
                                .as_ref()
                                .and_then(|d| d.get(&p.key_secret.key))
                                .map(|bytes| key_problems(&bytes.0))
                        });
                    let wi_annotation = sas
                        .iter()
                        .find(|s| in_ns(&s.metadata.namespace))
                        .and_then(|s| s.metadata.annotations.as_ref()?.get(WI_ANNOTATION).cloned());
                    let wi_plugin = o
                        .data
                        .pointer("/spec/plugins")
                        .and_then(|ps| ps.as_array())
                        .and_then(|ps| {
                            ps.iter()
                                .find(|pl| {
                                    pl.get("kind").and_then(|k| k.as_str())
                                        == Some("WorkloadIdentity")
                                })
                                .and_then(|pl| {
                                    pl.pointer("/spec/gcpServiceAccount")?
                                        .as_str()
                                        .map(str::to_string)
                                })
                        });
                    CredFacts {
                        profile: name,
                        key,
                        wi_annotation,
                        wi_plugin,
                    }
                })
                .collect();
            facts.sort_by(|a, b| a.profile.cmp(&b.profile));
            if facts.is_empty() {
                return Err(CheckError::NotApplicable(
                    "no Kubeflow profiles, so no credentials to check".into(),
                ));
            }
            Ok(evaluate(
                &facts,
                (&p.key_secret.name, &p.key_secret.key),
                &p.service_account,
                p.require,
                cx.spec.severity,
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A real RSA key, generated for this test only (never a credential anywhere).
    fn test_key_pem() -> String {
        let out = std::process::Command::new("openssl")
            .args([
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
            ])
            .output()
            .expect("openssl");
        String::from_utf8(out.stdout).unwrap()
    }

    fn key_json(pem: &str) -> serde_json::Value {
        serde_json::json!({
            "type": "service_account", "project_id": "p", "private_key_id": "0123abcd",
            "private_key": pem, "client_email": "kfcheck-test@p.iam.gserviceaccount.com",
            "token_uri": "https://oauth2.googleapis.com/token"
        })
    }

    #[test]
    fn a_well_formed_key_has_no_problems_and_broken_ones_are_named() {
        let pem = test_key_pem();
        assert!(
            pem.contains("BEGIN PRIVATE KEY"),
            "openssl did not write PKCS#8"
        );
        assert_eq!(key_problems(key_json(&pem).to_string().as_bytes()), vec![]);
        let mut bad = key_json(&pem[..pem.len() / 2]);
        bad.as_object_mut().unwrap().remove("client_email");
        bad["token_uri"] = "http://oauth2.googleapis.com/token".into();
        let fields: Vec<String> = key_problems(bad.to_string().as_bytes())
            .into_iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(fields, vec!["client_email", "token_uri", "private_key"]);
        let mut garbled = key_json(&pem.replace('Q', "R"));
        garbled["type"] = "authorized_user".into();
        let probs = key_problems(garbled.to_string().as_bytes());
        assert_eq!(
            probs.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
            vec!["type", "private_key"]
        );
        assert_eq!(
            key_problems(b"{\"type\": \"service_account\", \"private_key\": \"-----BEGIN")[0].0,
            "(file)"
        );
        // Nothing from the input is echoed back.
        for p in key_problems(bad.to_string().as_bytes()) {
            assert!(!pem.contains(&p.1) || p.1.len() < 8, "{p:?}");
        }
    }

    #[test]
    fn gsa_emails() {
        assert!(is_gsa_email(
            "kf-team-gpu@kfcheck-sandbox.iam.gserviceaccount.com"
        ));
        assert!(!is_gsa_email("kf-team-gpu"));
        assert!(!is_gsa_email("someone@example.com"));
        assert!(!is_gsa_email("ab@p.iam.gserviceaccount.com"));
    }

    #[test]
    fn credentials_per_profile() {
        let facts = [
            CredFacts {
                profile: "a".into(),
                key: Some(Some(vec![])),
                ..Default::default()
            },
            CredFacts {
                profile: "b".into(),
                wi_annotation: Some("kf-b-user@p.iam.gserviceaccount.com".into()),
                wi_plugin: Some("kf-b-user@p.iam.gserviceaccount.com".into()),
                ..Default::default()
            },
            CredFacts {
                profile: "c".into(),
                wi_annotation: Some("kf-c".into()),
                ..Default::default()
            },
            CredFacts {
                profile: "d".into(),
                ..Default::default()
            },
            CredFacts {
                profile: "e".into(),
                key: Some(None),
                wi_plugin: Some("kf-e-user@p.iam.gserviceaccount.com".into()),
                ..Default::default()
            },
        ];
        let o = evaluate(
            &facts,
            ("user-gcp-sa", "user-gcp-sa.json"),
            "default-editor",
            true,
            Severity::Error,
        );
        let got: Vec<(&str, &str)> = o
            .findings
            .iter()
            .map(|f| (f.rule.as_str(), f.subject.name.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("workload-identity-malformed", "c"),
                ("gcp-credentials-missing", "d"),
                ("gcp-key-not-in-secret", "e"),
                ("workload-identity-not-applied", "e")
            ]
        );
        assert_eq!(
            o.notes,
            vec![
                "a: service-account key user-gcp-sa/user-gcp-sa.json well formed",
                "b: Workload Identity kf-b-user@p.iam.gserviceaccount.com"
            ]
        );
    }
}
