//! `kube-api`: the Kubernetes API answers, reports ready, and runs a version Kubeflow supports.

use super::{typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::context::kube_client::describe;
use crate::context::Need;
use crate::model::FindingRule;
use crate::model::{Evidence, Finding, Severity, Subject};
use futures::future::BoxFuture;
use serde::Deserialize;
use std::time::Duration;

pub struct KubeApi;

/// The findings this kind can report (`kfcheck explain <rule>`).
static RULES: &[FindingRule] = &[
    FindingRule {
        id: "version-unsupported",
        default_severity: Severity::Error,
        summary: "kubernetes version below the supported minimum",
        fix: "Upgrade the control plane to the supported minimum Kubernetes version or newer.",
    },
    FindingRule {
        id: "api-not-ready",
        default_severity: Severity::Error,
        summary: "api server readyz reports not ready",
        fix: "Fix the failing API server components listed by /readyz?verbose (etcd first: without it nothing works).",
    },
];

static META: KindMeta = KindMeta {
    name: "kube-api",
    needs: &[Need::Kube],
    effect: Effect::ReadOnly,
    creates: &[],
    rules: RULES,
    default_timeout: Duration::from_secs(30),
    what: "The Kubernetes API server answers with kfcheck's credentials, its /readyz reports ready, and its version is at least the minimum the Kubeflow release supports.",
    why: "Every other cluster check, and every pipeline run, goes through this API; an old server lacks APIs Kubeflow's manifests use.",
    fix: "Upgrade the control plane to a supported Kubernetes version, or fix what /readyz reports as failing.",
    params: &[("min_version", "lowest supported Kubernetes minor version, e.g. \"1.29\" (default)")],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "default_min")]
    min_version: String,
}

fn default_min() -> String {
    "1.29".into()
}

fn parse_minor(v: &str) -> Option<(u32, u32)> {
    let v = v.trim_start_matches('v');
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    Some((major, minor.parse().ok()?))
}

/// Facts gathered from the server.
#[derive(Debug, Clone)]
pub(crate) struct Facts {
    pub git_version: String,
    pub major: String,
    pub minor: String,
    /// HTTP status and body of /readyz?verbose, or why no answer came.
    pub readyz: Result<(u16, String), String>,
}

/// Pure: decides from the facts.
pub(crate) fn evaluate(
    f: &Facts,
    min_version: &str,
    severity: Severity,
) -> Result<Outcome, CheckError> {
    let mut out = Outcome::default();
    out.notes.push(format!("Kubernetes {}", f.git_version));
    let subject = Subject::new("endpoint", "kubernetes-api");
    let min = parse_minor(min_version)
        .ok_or_else(|| CheckError::Undecided(format!("bad min_version '{min_version}'")))?;
    // Managed clusters report minors like "29+"; git_version is the reliable fallback.
    let have =
        parse_minor(&format!("{}.{}", f.major, f.minor)).or_else(|| parse_minor(&f.git_version));
    match have {
        None => out.problems.push(crate::model::Problem {
            subject: subject.clone(),
            message: format!("cannot read the server version from '{}'", f.git_version),
        }),
        Some(v) if v < min => out.findings.push(Finding {
            rule: "version-unsupported".into(),
            severity,
            message: "kubernetes version below the supported minimum".into(),
            subject: subject.clone(),
            evidence: vec![Evidence::new("server version", f.git_version.clone())
                .expected(format!(">= {}.{}", min.0, min.1))],
            remediation: format!(
                "Upgrade the control plane to Kubernetes {}.{} or newer.",
                min.0, min.1
            ),
            owner: None,
        }),
        Some(_) => {}
    }
    // /readyz answers 200 when ready and 500 (with `[-]<check> failed` lines) when not; an
    // unready server is a finding, and an answer kfcheck cannot read is undecided, never a pass.
    match &f.readyz {
        Ok((code, _)) if *code == 401 || *code == 403 => out.problems.push(crate::model::Problem {
            subject: subject.clone(),
            message: format!("kfcheck lacks permission to get /readyz (HTTP {code}); grant the nonResourceURL /readyz"),
        }),
        Ok((code, body)) => {
            let failing: Vec<&str> = body.lines().map(str::trim).filter(|l| l.starts_with("[-]") || l.contains(" failed")).collect();
            if *code != 200 || !failing.is_empty() {
                let mut evidence: Vec<Evidence> = failing.iter().take(20).map(|l| Evidence::new("readyz", *l).expected("ok")).collect();
                evidence.insert(0, Evidence::new("GET /readyz?verbose", format!("HTTP {code}")).expected("HTTP 200"));
                out.findings.push(Finding {
                    rule: "api-not-ready".into(),
                    severity,
                    message: "api server readyz reports not ready".into(),
                    subject,
                    evidence,
                    remediation: "Fix the failing API server components listed by /readyz?verbose (etcd first: without it nothing works).".into(),
                    owner: None,
                });
            }
        }
        Err(e) => out.problems.push(crate::model::Problem { subject, message: format!("cannot read /readyz: {e}") }),
    }
    Ok(out)
}

/// The largest /readyz body read (a real one is a few KiB).
const READYZ_LIMIT: usize = 256 << 10;

/// GET /readyz?verbose with its status, whatever the status (the client's text helpers turn a
/// 500 into an error and lose the body that names what failed).
async fn readyz(client: &kube::Client) -> Result<(u16, String), String> {
    use http_body_util::BodyExt;
    let req = http::Request::get("/readyz?verbose")
        .body(kube::client::Body::empty())
        .map_err(|e| e.to_string())?;
    let resp = client.send(req).await.map_err(|e| describe(&e))?;
    let code = resp.status().as_u16();
    let body = http_body_util::Limited::new(resp.into_body(), READYZ_LIMIT)
        .collect()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?
        .to_bytes();
    Ok((code, String::from_utf8_lossy(&body).into_owned()))
}

impl Kind for KubeApi {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, _: &SuiteBase) -> Result<(), String> {
        let p: Params = typed_params(params)?;
        parse_minor(&p.min_version)
            .map(|_| ())
            .ok_or_else(|| format!("min_version '{}' is not like \"1.29\"", p.min_version))
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let p: Params = cx.params()?;
            let client = cx.kube().await?;
            let info = client.apiserver_version().await.map_err(|e| {
                crate::kinds::kube_error(&e, "read the API server version (GET /version)")
            })?;
            let readyz = readyz(&client).await;
            let facts = Facts {
                git_version: info.git_version,
                major: info.major,
                minor: info.minor,
                readyz,
            };
            evaluate(&facts, &p.min_version, cx.spec.severity)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(git: &str, major: &str, minor: &str, readyz: Result<&str, &str>) -> Facts {
        let code = |b: &str| if b.contains("[-]") { 500 } else { 200 };
        Facts {
            git_version: git.into(),
            major: major.into(),
            minor: minor.into(),
            readyz: readyz
                .map(|b| (code(b), b.to_string()))
                .map_err(String::from),
        }
    }

    /// What kube-apiserver 1.36 answers on /readyz?verbose with etcd stopped (HTTP 500).
    const ETCD_DOWN: &str = "[+]ping ok\n[+]log ok\n[-]etcd failed: reason withheld\n[+]etcd-readiness ok\n[+]informer-sync ok\n[+]poststarthook/start-apiserver-admission-initializer ok\n[+]shutdown ok\nreadyz check failed\n";

    #[test]
    fn an_unready_server_fails_and_an_unreadable_answer_cannot_decide() {
        let f = Facts {
            readyz: Ok((500, ETCD_DOWN.into())),
            ..facts("v1.36.5", "1", "36", Ok(""))
        };
        let o = evaluate(&f, "1.29", Severity::Error).unwrap();
        assert_eq!(o.findings.len(), 1);
        assert_eq!(o.findings[0].rule, "api-not-ready");
        let ev: Vec<&str> = o.findings[0]
            .evidence
            .iter()
            .map(|e| e.observed.as_str())
            .collect();
        assert_eq!(
            ev,
            [
                "HTTP 500",
                "[-]etcd failed: reason withheld",
                "readyz check failed"
            ]
        );
        // A 500 with a body that names nothing still fails.
        let f = Facts {
            readyz: Ok((500, "Internal Server Error".into())),
            ..facts("v1.36.5", "1", "36", Ok(""))
        };
        assert_eq!(
            evaluate(&f, "1.29", Severity::Error).unwrap().findings[0].rule,
            "api-not-ready"
        );
        // No answer, or no permission: could not decide, never a pass.
        let f = Facts {
            readyz: Err("connection reset".into()),
            ..facts("v1.36.5", "1", "36", Ok(""))
        };
        let o = evaluate(&f, "1.29", Severity::Error).unwrap();
        assert!(o.findings.is_empty() && o.problems.len() == 1, "{o:?}");
        let f = Facts {
            readyz: Ok((403, "forbidden".into())),
            ..facts("v1.36.5", "1", "36", Ok(""))
        };
        assert!(evaluate(&f, "1.29", Severity::Error).unwrap().problems[0]
            .message
            .contains("lacks permission"));
    }

    #[test]
    fn supported_and_ready_passes() {
        let o = evaluate(
            &facts("v1.33.2", "1", "33", Ok("[+]ping ok\nreadyz check passed")),
            "1.29",
            Severity::Error,
        )
        .unwrap();
        assert!(o.findings.is_empty() && o.problems.is_empty());
    }

    #[test]
    fn old_version_and_failing_readyz_fail() {
        let o = evaluate(
            &facts(
                "v1.27.4-gke.100",
                "1",
                "27+",
                Ok("[+]ping ok\n[-]etcd failed: reason withheld"),
            ),
            "1.29",
            Severity::Error,
        )
        .unwrap();
        let rules: Vec<&str> = o.findings.iter().map(|f| f.rule.as_str()).collect();
        assert_eq!(rules, vec!["version-unsupported", "api-not-ready"]);
    }

    #[test]
    fn unreadable_version_cannot_decide() {
        let o = evaluate(
            &facts("weird", "", "", Ok("[+]ping ok")),
            "1.29",
            Severity::Error,
        )
        .unwrap();
        assert_eq!(o.problems.len(), 1);
        assert!(evaluate(&facts("v1.30.0", "1", "30", Ok("")), "x", Severity::Error).is_err());
    }
}
