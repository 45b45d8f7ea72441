//! `kfp-isolation`: in multi-user KFP, a profile's experiments are refused to identities without
//! access: a request with no credentials must get 401/403, and a token of another identity
//! (`--kfp-isolation-token`) must get 403. Read-only: it only lists experiments.

use super::{CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::clients::kfp::{Auth, KfpError};
use crate::context::Need;
use crate::model::FindingRule;
use crate::model::{Evidence, Finding, Severity, Subject};
use futures::future::BoxFuture;
use std::time::Duration;

pub struct KfpIsolation;

/// The findings this kind can report (`kfcheck explain <rule>`).
static RULES: &[FindingRule] = &[
    FindingRule {
        id: "anonymous-access",
        default_severity: Severity::Error,
        summary: "experiments are listed for a request without credentials",
        fix: "Put KFP behind the authenticating gateway and restore its Istio AuthorizationPolicies; never expose ml-pipeline without them.",
    },
    FindingRule {
        id: "cross-namespace-access",
        default_severity: Severity::Error,
        summary: "another identity can list this namespace's experiments",
        fix: "Remove that identity's RoleBinding or contributor entry in the profile, and check MULTIUSER_SHARED_READ is not set.",
    },
];

static META: KindMeta = KindMeta {
    name: "kfp-isolation",
    needs: &[Need::Kfp],
    effect: Effect::ReadOnly,
    creates: &[],
    rules: RULES,
    default_timeout: Duration::from_secs(60),
    what: "In multi-user mode, listing the profile namespace's experiments without credentials is refused (401 or 403), and with the token given by --kfp-isolation-token (an identity without access to the namespace) is refused with 403.",
    why: "Profiles are Kubeflow's only wall between teams: if another identity can read a namespace's experiments and runs, it can also read their parameters and artifacts.",
    fix: "Run KFP in multi-user mode with its Istio AuthorizationPolicies, and grant access to a profile only through its contributors (RoleBindings to kubeflow-edit/view).",
    params: &[],
};

/// What one probe got. Pure classification of an answer.
#[derive(Debug, PartialEq, Eq)]
enum Probe {
    Refused(String),
    /// 401 for a token that should have been a valid other identity.
    Unauthenticated(String),
    Allowed,
    Undecided(String),
}

fn classify(r: &Result<(), KfpError>) -> Probe {
    match r {
        Ok(()) => Probe::Allowed,
        Err(e) => match (e.status(), e) {
            (Some(403), _) => Probe::Refused(e.message()),
            (Some(401), _) | (_, KfpError::Redirect { .. }) => Probe::Unauthenticated(e.message()),
            _ => Probe::Undecided(e.to_string()),
        },
    }
}

/// Decides from the two probes: `anonymous` must be refused or unauthenticated, `other` must be
/// refused (401 means the probe token itself is bad: could not decide).
fn evaluate(
    ns: &str,
    anonymous: Probe,
    other: Option<Probe>,
    severity: Severity,
) -> Result<Outcome, CheckError> {
    let mut out = Outcome::default();
    let subject = || Subject::new("namespace", ns.to_string());
    match anonymous {
        Probe::Refused(m) | Probe::Unauthenticated(m) => out.notes.push(format!("a request without credentials was refused ({m})")),
        Probe::Allowed => out.findings.push(Finding::new(
            "anonymous-access",
            severity,
            subject(),
            "experiments are listed for a request without credentials",
            vec![Evidence::new("answer", "200 OK").expected("401 or 403")],
            "Put KFP behind the authenticating gateway and restore its Istio AuthorizationPolicies; never expose ml-pipeline without them.",
        )),
        Probe::Undecided(m) => return Err(CheckError::Undecided(format!("failed to probe anonymous access: {m}"))),
    }
    match other {
        None => out.notes.push("no --kfp-isolation-token: only anonymous access was probed".into()),
        Some(Probe::Refused(m)) => out.notes.push(format!("another identity was refused ({m})")),
        Some(Probe::Allowed) => out.findings.push(Finding::new(
            "cross-namespace-access",
            severity,
            subject(),
            "another identity can list this namespace's experiments",
            vec![Evidence::new("answer", "200 OK").expected("403")],
            "Remove that identity's RoleBinding or contributor entry in the profile, and check MULTIUSER_SHARED_READ is not set.",
        )),
        Some(Probe::Unauthenticated(m)) => {
            return Err(CheckError::Undecided(format!("the isolation token was not accepted as any identity ({m}): give a valid token of another user")))
        }
        Some(Probe::Undecided(m)) => return Err(CheckError::Undecided(format!("failed to probe with the isolation token: {m}"))),
    }
    Ok(out)
}

impl Kind for KfpIsolation {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, _: &SuiteBase) -> Result<(), String> {
        match params.as_object() {
            Some(m) if !m.is_empty() => Err("kfp-isolation takes no parameters".into()),
            _ => Ok(()),
        }
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let kfp = cx.kfp().await?;
            if !kfp.multi_user {
                return Err(CheckError::NotApplicable(
                    "KFP runs in single-user mode: there is no per-namespace isolation to check"
                        .into(),
                ));
            }
            let ns = kfp
                .namespace_for_writes()
                .map_err(CheckError::Undecided)?
                .unwrap_or_default()
                .to_string();
            let list = |auth: Auth| {
                let c = kfp.client.with_auth(auth);
                let ns = ns.clone();
                async move {
                    c.list_experiments(Some(&ns), "kfcheck-isolation-probe")
                        .await
                        .map(|_| ())
                }
            };
            let anonymous = classify(&list(Auth::None).await);
            let other = match &kfp.isolation_token {
                Some(t) => Some(classify(&list(Auth::Bearer(t.clone())).await)),
                None => None,
            };
            evaluate(&ns, anonymous, other, cx.spec.severity)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(s: u16) -> Result<(), KfpError> {
        Err(KfpError::Status {
            status: s,
            message: "m".into(),
            method: "GET".into(),
            path: "/".into(),
        })
    }

    #[test]
    fn refusals_pass_and_access_is_a_finding() {
        let o = evaluate(
            "team-a",
            classify(&st(401)),
            Some(classify(&st(403))),
            Severity::Error,
        )
        .unwrap();
        assert!(o.findings.is_empty());
        let o = evaluate(
            "team-a",
            classify(&st(403)),
            Some(classify(&Ok(()))),
            Severity::Error,
        )
        .unwrap();
        assert_eq!(o.findings[0].rule, "cross-namespace-access");
        let o = evaluate("team-a", classify(&Ok(())), None, Severity::Error).unwrap();
        assert_eq!(o.findings[0].rule, "anonymous-access");
    }

    #[test]
    fn a_bad_probe_token_or_a_server_error_cannot_decide() {
        assert!(
            matches!(evaluate("a", classify(&st(401)), Some(classify(&st(401))), Severity::Error), Err(CheckError::Undecided(m)) if m.contains("not accepted"))
        );
        assert!(evaluate("a", classify(&st(503)), None, Severity::Error).is_err());
    }
}
