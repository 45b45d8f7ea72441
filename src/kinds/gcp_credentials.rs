//! `gcp-credentials`: every profile has Google Cloud credentials that a token exchange can use: a
//! key secret holding a service-account key that parses and carries what the JWT bearer flow
//! needs, or an `external_account` file (Workload Identity Federation) that says where the
//! workload's token comes from and which STS exchanges it; or a Workload Identity annotation that
//! names a Google service account. Checked offline, no token is fetched. Values are never shown.

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
        id: "gcp-external-account-malformed",
        default_severity: Severity::Error,
        summary: "gcp external_account credentials cannot be used for a token exchange",
        fix: "Regenerate the credentials file with gcloud iam workload-identity-pools create-cred-config (audience, subject_token_type, an https token_url, a credential_source) and recreate the key secret from it.",
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
    what: "For every profile: the Google credentials key secret parses as JSON and has the fields a token exchange needs: for a service-account key, a PKCS#8 RSA private key that loads, client_email, private_key_id and an https token_uri; for an external_account file (Workload Identity Federation), a pool provider audience, a token-type URN subject_token_type, an https token_url, a credential_source naming a file, url or executable, and, when set, an https service_account_impersonation_url naming a service account (checked offline: no token is read or exchanged). Or the pipeline service account carries a well-formed Workload Identity annotation that matches the profile's plugin. Only field names are ever reported, never values.",
    why: "A key that is truncated, re-encoded or copied without its private key mounts fine and fails only when a pipeline step first touches the bucket, with an authentication error deep in the step's log.",
    fix: "Recreate the key secret from the JSON key file Google issued or the external_account file gcloud wrote (`kubectl create secret generic user-gcp-sa --from-file=user-gcp-sa.json=KEY.json`), or fix the iam.gke.io/gcp-service-account annotation.",
    params: &[
        ("profiles", "profile names to check (default: every Profile)"),
        ("key_secret", "{name, key}: the service-account key or external_account secret (default user-gcp-sa / user-gcp-sa.json)"),
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

/// Which kind of credentials file the key secret holds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) enum KeyFileType {
    /// A service-account key (`type: service_account`), or a file that is not a known kind: it is
    /// judged as the key Kubeflow's `user-gcp-sa` is meant to hold.
    #[default]
    ServiceAccount,
    /// An `external_account` file (Workload Identity Federation).
    ExternalAccount,
}

/// What kfcheck made of the key secret's file.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct KeyFile {
    pub kind: KeyFileType,
    pub problems: Vec<KeyProblem>,
}

fn problem(field: &str, observed: &str, expected: &str) -> KeyProblem {
    (
        field.to_string(),
        observed.to_string(),
        expected.to_string(),
    )
}

/// A string field that is present and not blank.
fn text<'a>(obj: &'a serde_json::Map<String, serde_json::Value>, k: &str) -> Option<&'a str> {
    obj.get(k)
        .and_then(|x| x.as_str())
        .filter(|s| !s.trim().is_empty())
}

/// Checks a credentials file for what its token exchange needs, by its `type`. Never returns
/// values.
pub(crate) fn check_key_file(bytes: &[u8]) -> KeyFile {
    let bad_file = |problems| KeyFile {
        kind: KeyFileType::ServiceAccount,
        problems,
    };
    let v: serde_json::Value = match serde_json::from_slice(bytes) {
        Ok(v) => v,
        Err(e) => {
            return bad_file(vec![problem(
                "(file)",
                &format!(
                    "not JSON ({} at line {} column {})",
                    category(&e),
                    e.line(),
                    e.column()
                ),
                "a JSON key file",
            )])
        }
    };
    let Some(obj) = v.as_object() else {
        return bad_file(vec![problem(
            "(file)",
            "not a JSON object",
            "a JSON object",
        )]);
    };
    if text(obj, "type") == Some("external_account") {
        KeyFile {
            kind: KeyFileType::ExternalAccount,
            problems: external_account_problems(obj),
        }
    } else {
        bad_file(key_problems(obj))
    }
}

/// A service-account key: what the JWT bearer flow needs.
fn key_problems(obj: &serde_json::Map<String, serde_json::Value>) -> Vec<KeyProblem> {
    let p = problem;
    let mut out = Vec::new();
    let text = |k: &str| text(obj, k);
    match text("type") {
        Some("service_account") => {}
        Some(_) => out.push(p(
            "type",
            "not service_account or external_account (a user credential?)",
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

/// An `external_account` file (Workload Identity Federation): the fields Google's libraries need
/// to get the workload's token and exchange it at the STS. Offline: the token source is named,
/// not read (its file lives in the step's pod, not here).
fn external_account_problems(obj: &serde_json::Map<String, serde_json::Value>) -> Vec<KeyProblem> {
    let p = problem;
    let mut out = Vec::new();
    const AUDIENCE: &str =
        "//iam.googleapis.com/projects/NUMBER/locations/global/workloadIdentityPools/POOL/providers/PROVIDER";
    match text(obj, "audience") {
        None => out.push(p("audience", "absent or empty", AUDIENCE)),
        Some(a) if !(a.starts_with("//") && a.contains("/providers/")) => out.push(p(
            "audience",
            "not a workload identity pool provider",
            AUDIENCE,
        )),
        Some(_) => {}
    }
    const TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
    match text(obj, "subject_token_type") {
        None => out.push(p("subject_token_type", "absent or empty", TOKEN_TYPE)),
        Some(t) if !t.starts_with("urn:ietf:params:") => {
            out.push(p("subject_token_type", "not a token-type URN", TOKEN_TYPE))
        }
        Some(_) => {}
    }
    const STS: &str = "https://sts.googleapis.com/v1/token";
    match text(obj, "token_url") {
        None => out.push(p("token_url", "absent or empty", STS)),
        Some(u) if !u.starts_with("https://") => out.push(p("token_url", "not an https URL", STS)),
        Some(_) => {}
    }
    out.extend(credential_source_problems(obj.get("credential_source")));
    if let Some(url) = obj.get("service_account_impersonation_url") {
        const IMPERSONATE: &str = "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/NAME@PROJECT.iam.gserviceaccount.com:generateAccessToken";
        let field = "service_account_impersonation_url";
        let email = url
            .as_str()
            .and_then(|u| u.rsplit_once("/serviceAccounts/"))
            .and_then(|(_, tail)| tail.strip_suffix(":generateAccessToken"));
        match url.as_str() {
            None => out.push(p(field, "not a string", IMPERSONATE)),
            Some(u) if !u.starts_with("https://") => {
                out.push(p(field, "not an https URL", IMPERSONATE))
            }
            Some(_) if !email.is_some_and(is_gsa_email) => out.push(p(
                field,
                "does not end in serviceAccounts/EMAIL:generateAccessToken with a service-account email",
                IMPERSONATE,
            )),
            Some(_) => {}
        }
    }
    out
}

/// `credential_source`: where the workload's own token comes from (a file, a URL, an executable,
/// or AWS's metadata), and the token's format.
fn credential_source_problems(source: Option<&serde_json::Value>) -> Vec<KeyProblem> {
    let p = problem;
    const SOURCE: &str = "{file: PATH}, {url: URL} or {executable: {command: …}}";
    let Some(source) = source.and_then(|s| s.as_object()) else {
        return vec![p("credential_source", "absent or not an object", SOURCE)];
    };
    let mut out = Vec::new();
    let has = |k: &str| source.get(k).is_some_and(|v| !v.is_null());
    if !["file", "url", "executable", "environment_id"]
        .iter()
        .any(|k| has(k))
    {
        out.push(p(
            "credential_source",
            "names no file, url or executable",
            SOURCE,
        ));
    }
    if has("file") && text(source, "file").is_none() {
        out.push(p(
            "credential_source.file",
            "empty or not a string",
            "the path of the token file in the step's pod",
        ));
    }
    if has("url")
        && !text(source, "url")
            .is_some_and(|u| u.starts_with("https://") || u.starts_with("http://"))
    {
        out.push(p(
            "credential_source.url",
            "not an http(s) URL",
            "the URL that serves the workload's token",
        ));
    }
    if has("executable")
        && source
            .get("executable")
            .and_then(|e| e.as_object())
            .is_none_or(|e| text(e, "command").is_none())
    {
        out.push(p(
            "credential_source.executable.command",
            "absent or empty",
            "the command that prints the workload's token",
        ));
    }
    if has("environment_id")
        && !text(source, "environment_id").is_some_and(|e| e.starts_with("aws"))
    {
        out.push(p(
            "credential_source.environment_id",
            "not an AWS environment id",
            "aws1",
        ));
    }
    match source.get("format") {
        None | Some(serde_json::Value::Null) => {}
        Some(format) => match format.as_object() {
            None => out.push(p(
                "credential_source.format",
                "not an object",
                "{type: text} or {type: json, subject_token_field_name: NAME}",
            )),
            Some(format) => match text(format, "type") {
                None | Some("text") => {}
                Some("json") if text(format, "subject_token_field_name").is_none() => out.push(p(
                    "credential_source.format.subject_token_field_name",
                    "absent or empty with format type json",
                    "the JSON field that holds the token",
                )),
                Some("json") => {}
                Some(_) => out.push(p(
                    "credential_source.format.type",
                    "not text or json",
                    "text or json",
                )),
            },
        },
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
    /// The key secret: `None` absent; `Some(None)` present without the key; `Some(Some(file))`.
    pub key: Option<Option<KeyFile>>,
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
            Some(Some(file)) if file.problems.is_empty() => how.push(match file.kind {
                KeyFileType::ServiceAccount => format!("service-account key {sname}/{skey} well formed"),
                KeyFileType::ExternalAccount => format!("external_account credentials {sname}/{skey} well formed (token source not read)"),
            }),
            Some(Some(file)) => {
                let evidence = file.problems.iter().map(|(field, o, e)| Evidence::new(format!("{sname}/{skey}: {field}"), o.clone()).expected(e.clone())).collect();
                out.findings.push(match file.kind {
                    KeyFileType::ServiceAccount => Finding::new(
                        "gcp-key-malformed",
                        severity,
                        subject.clone(),
                        "gcp service-account key cannot be used for a token exchange",
                        evidence,
                        META.fix,
                    ),
                    KeyFileType::ExternalAccount => Finding::new(
                        "gcp-external-account-malformed",
                        severity,
                        subject.clone(),
                        "gcp external_account credentials cannot be used for a token exchange",
                        evidence,
                        "Regenerate the credentials file with gcloud iam workload-identity-pools create-cred-config (audience, subject_token_type, an https token_url, a credential_source) and recreate the key secret from it.",
                    ),
                })
            }
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
                                .map(|bytes| check_key_file(&bytes.0))
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

    fn problems(bytes: &[u8]) -> Vec<KeyProblem> {
        check_key_file(bytes).problems
    }

    fn fields(bytes: &[u8]) -> Vec<String> {
        problems(bytes).into_iter().map(|p| p.0).collect()
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
        assert_eq!(problems(key_json(&pem).to_string().as_bytes()), vec![]);
        let mut bad = key_json(&pem[..pem.len() / 2]);
        bad.as_object_mut().unwrap().remove("client_email");
        bad["token_uri"] = "http://oauth2.googleapis.com/token".into();
        let fields: Vec<String> = problems(bad.to_string().as_bytes())
            .into_iter()
            .map(|p| p.0)
            .collect();
        assert_eq!(fields, vec!["client_email", "token_uri", "private_key"]);
        let mut garbled = key_json(&pem.replace('Q', "R"));
        garbled["type"] = "authorized_user".into();
        let probs = problems(garbled.to_string().as_bytes());
        assert_eq!(
            probs.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
            vec!["type", "private_key"]
        );
        assert_eq!(
            problems(b"{\"type\": \"service_account\", \"private_key\": \"-----BEGIN")[0].0,
            "(file)"
        );
        // Nothing from the input is echoed back.
        for p in problems(bad.to_string().as_bytes()) {
            assert!(!pem.contains(&p.1) || p.1.len() < 8, "{p:?}");
        }
    }

    fn external_json() -> serde_json::Value {
        serde_json::json!({
            "type": "external_account",
            "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/kf/providers/k8s",
            "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
            "token_url": "https://sts.googleapis.com/v1/token",
            "credential_source": {"file": "/var/run/secrets/tokens/gcp-token"},
            "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/kfcheck-test@p.iam.gserviceaccount.com:generateAccessToken"
        })
    }

    #[test]
    fn a_well_formed_external_account_is_accepted_and_broken_ones_are_named() {
        let good = external_json();
        let file = check_key_file(good.to_string().as_bytes());
        assert_eq!(file.kind, KeyFileType::ExternalAccount);
        assert_eq!(file.problems, vec![]);
        // Without impersonation, and with the other token sources and a JSON token file.
        let mut plain = good.clone();
        plain
            .as_object_mut()
            .unwrap()
            .remove("service_account_impersonation_url");
        assert_eq!(problems(plain.to_string().as_bytes()), vec![]);
        for source in [
            serde_json::json!({"url": "http://169.254.169.254/metadata/identity/oauth2/token",
                "headers": {"Metadata": "True"},
                "format": {"type": "json", "subject_token_field_name": "access_token"}}),
            serde_json::json!({"executable": {"command": "/bin/token --json", "timeout_millis": 5000}}),
            serde_json::json!({"file": "/var/run/token", "format": {"type": "text"}}),
        ] {
            let mut v = good.clone();
            v["credential_source"] = source;
            assert_eq!(problems(v.to_string().as_bytes()), vec![], "{v}");
        }

        let mut bad = good.clone();
        let o = bad.as_object_mut().unwrap();
        o.remove("audience");
        o.remove("credential_source");
        bad["token_url"] = "http://sts.googleapis.com/v1/token".into();
        bad["subject_token_type"] = "jwt".into();
        bad["service_account_impersonation_url"] =
            "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/kf:generateAccessToken".into();
        assert_eq!(
            fields(bad.to_string().as_bytes()),
            vec![
                "audience",
                "subject_token_type",
                "token_url",
                "credential_source",
                "service_account_impersonation_url"
            ]
        );
        let mut source = good.clone();
        source["credential_source"] = serde_json::json!({"file": "",
            "format": {"type": "json"}});
        assert_eq!(
            fields(source.to_string().as_bytes()),
            vec![
                "credential_source.file",
                "credential_source.format.subject_token_field_name"
            ]
        );
        source["credential_source"] =
            serde_json::json!({"executable": {}, "format": {"type": "xml"}});
        assert_eq!(
            fields(source.to_string().as_bytes()),
            vec![
                "credential_source.executable.command",
                "credential_source.format.type"
            ]
        );
        source["credential_source"] = serde_json::json!({"headers": {}});
        assert_eq!(
            fields(source.to_string().as_bytes()),
            vec!["credential_source"]
        );

        // Nothing from the input is echoed back.
        for p in problems(bad.to_string().as_bytes()) {
            assert!(
                !p.1.contains("sts.googleapis") && !p.1.contains("jwt"),
                "{p:?}"
            );
        }
    }

    #[test]
    fn an_external_account_is_reported_under_its_own_rule() {
        let malformed = check_key_file(
            serde_json::json!({"type": "external_account", "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/kf/providers/k8s"})
                .to_string()
                .as_bytes(),
        );
        let facts = [
            CredFacts {
                profile: "a".into(),
                key: Some(Some(check_key_file(external_json().to_string().as_bytes()))),
                ..Default::default()
            },
            CredFacts {
                profile: "b".into(),
                key: Some(Some(malformed)),
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
        assert_eq!(o.findings.len(), 1, "{:?}", o.findings);
        let f = &o.findings[0];
        assert_eq!(
            (f.rule.as_str(), f.subject.name.as_str()),
            ("gcp-external-account-malformed", "b")
        );
        let named: Vec<String> = f.evidence.iter().map(|e| format!("{e:?}")).collect();
        assert_eq!(named.len(), 3, "{named:?}");
        assert!(
            named[0].contains("user-gcp-sa/user-gcp-sa.json: subject_token_type"),
            "{named:?}"
        );
        assert!(named[2].contains("credential_source"), "{named:?}");
        assert!(
            !named.iter().any(|e| e.contains("workloadIdentityPools/kf")),
            "{named:?}"
        );
        assert_eq!(
            o.notes,
            vec!["a: external_account credentials user-gcp-sa/user-gcp-sa.json well formed (token source not read)"]
        );
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
                key: Some(Some(KeyFile::default())),
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
