//! `apply-dry-run` (`kfcheck apply-check FILE...`): each Kubernetes object in the given YAML files
//! (an Argo Workflow, KFP v1 compiled YAML, a Workflow the KFP v2 backend compiled, or any other
//! object) is sent to the live API server as a server-side dry run (`dryRun=All`,
//! `fieldValidation=Strict`), so that schema, admission-webhook and quota errors show before anyone
//! submits it. Nothing is persisted; the files are never edited. An object with a name that
//! already exists is dry-run as a server-side apply (what `kubectl apply --server-side` would
//! do); one with only `generateName` as a create. A KFP v2 pipeline spec is not a Kubernetes
//! object: it is listed as undecided, with what to use instead.

use super::{typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::context::Need;
use crate::model::{Evidence, Finding, FindingRule, Problem, Severity, Subject};
use futures::future::BoxFuture;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams, ValidationDirective};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

pub struct ApplyDryRun;

static RULES: &[FindingRule] = &[
    FindingRule {
        id: "apply-rejected",
        default_severity: Severity::Error,
        summary: "the API server refuses the object (schema or field validation, an admission webhook, a quota or limit range, a missing namespace)",
        fix: "Correct the object as the API server's message says (an unknown or misspelt field, a value out of range, what the webhook or quota requires), then check it again.",
    },
    FindingRule {
        id: "apply-kind-unknown",
        default_severity: Severity::Error,
        summary: "the cluster serves no API for the object's apiVersion and kind (e.g. Argo Workflows without Argo installed)",
        fix: "Install what serves that API (its CRD and controller), or use the apiVersion the cluster serves (kubectl api-resources).",
    },
];

static META: KindMeta = KindMeta {
    name: "apply-dry-run",
    needs: &[Need::Kube],
    effect: Effect::ReadOnly,
    creates: &[],
    rules: RULES,
    default_timeout: Duration::from_secs(60),
    what: "Every Kubernetes object in the given YAML files is accepted by the live API server in a server-side dry run (dryRun=All, fieldValidation=Strict): its schema, the admission webhooks and the quotas of its namespace.",
    why: "A Workflow or compiled pipeline that the cluster will refuse (an unknown field, a webhook's policy, an exceeded quota) fails only when someone submits it; a dry run shows the same refusal first, and persists nothing.",
    fix: "Read the API server's message in the finding: it names the field, the webhook or the quota.",
    params: &[
        ("paths", "YAML files of Kubernetes objects (several documents per file are fine)"),
        ("namespace", "namespace for objects that name none (default: -n, else default)"),
    ],
};

/// Each file's size limit: a Workflow is far smaller.
const FILE_LIMIT: u64 = 16 << 20;
/// Each request to the API server.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    paths: Vec<String>,
    #[serde(default)]
    namespace: Option<String>,
}

/// One document of a file: a Kubernetes object, or why it is not one.
#[derive(Debug, PartialEq)]
enum Doc {
    Object(Value),
    NotAnObject(String),
}

/// The documents of `text`, in order (empty documents left out), or the YAML error.
fn documents(text: &str) -> Result<Vec<(usize, Doc)>, String> {
    crate::pipeline::yaml::check_alias_budget(text).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (i, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let v: Value = Deserialize::deserialize(de).map_err(|e| format!("not valid YAML: {e}"))?;
        if v.is_null() {
            continue;
        }
        let doc = match (v["apiVersion"].as_str(), v["kind"].as_str()) {
            (Some(_), Some(_)) => Doc::Object(v),
            _ if v.get("pipelineInfo").is_some() || v.get("deploymentSpec").is_some() => {
                Doc::NotAnObject("a KFP v2 pipeline spec (IR), not a Kubernetes object: the KFP API server compiles it into a Workflow when a run is created, so no dry run can apply it as it is; `kfcheck lint --cluster` checks its tasks against the nodes, and a run through the REST door (kfp-cpu-sample) proves the path".into())
            }
            _ => Doc::NotAnObject("not a Kubernetes object (no apiVersion and kind)".into()),
        };
        out.push((i + 1, doc));
    }
    Ok(out)
}

fn gvk_of(v: &Value) -> GroupVersionKind {
    let api = v["apiVersion"].as_str().unwrap_or_default();
    let (group, version) = api.split_once('/').unwrap_or(("", api));
    GroupVersionKind::gvk(group, version, v["kind"].as_str().unwrap_or_default())
}

/// `Workflow kfcheck-cpu-sample-` (a generateName ends in its dash) or `Pod web`.
fn shown(v: &Value) -> String {
    let m = &v["metadata"];
    let name = m["name"]
        .as_str()
        .or_else(|| m["generateName"].as_str())
        .unwrap_or("(no name)");
    format!("{} {name}", v["kind"].as_str().unwrap_or_default())
}

/// What kind of refusal an API error is, from its reason and message.
fn refusal(code: u16, reason: &str, message: &str) -> &'static str {
    let m = message.to_ascii_lowercase();
    if m.contains("admission webhook") {
        "an admission webhook denied it"
    } else if m.contains("exceeded quota")
        || m.contains("forbidden: maximum")
        || m.contains("limitrange")
    {
        "a quota or limit range of the namespace refuses it"
    } else if reason == "Invalid"
        || code == 422
        || m.contains("unknown field")
        || m.contains("strict decoding")
    {
        "its schema or field validation fails"
    } else if reason == "NotFound" {
        "something it needs does not exist"
    } else {
        "the API server refuses it"
    }
}

fn kind_unknown(what: &str, gvk: &GroupVersionKind, at: &Subject) -> Verdict {
    Verdict::Rejected(Finding::new(
        "apply-kind-unknown",
        Severity::Error,
        at.clone(),
        format!("{what}: the cluster serves no {} {}", gvk.api_version(), gvk.kind),
        vec![Evidence::new("apiVersion", gvk.api_version()).expected("an API the cluster serves")],
        "Install what serves that API (its CRD and controller), or use an apiVersion the cluster serves (kubectl api-resources).",
    ))
}

/// The result of one object's dry run.
enum Verdict {
    Accepted(String),
    Rejected(Finding),
    Undecided(String),
}

async fn dry_run(
    client: &kube::Client,
    v: &Value,
    default_ns: &str,
    at: &Subject,
) -> Result<Verdict, CheckError> {
    let gvk = gvk_of(v);
    let what = shown(v);
    let found =
        tokio::time::timeout(REQUEST_TIMEOUT, kube::discovery::pinned_kind(client, &gvk)).await;
    let (ar, caps) = match found {
        Err(_) => {
            return Err(CheckError::Undecided(format!(
                "the API server did not answer the discovery of {} {} within {}s",
                gvk.api_version(),
                gvk.kind,
                REQUEST_TIMEOUT.as_secs()
            )))
        }
        Ok(Ok(x)) => x,
        // A group or version the cluster does not serve at all, or a kind its group lacks.
        Ok(Err(kube::Error::Api(s))) if s.code == 404 => return Ok(kind_unknown(&what, &gvk, at)),
        Ok(Err(kube::Error::Discovery(_))) => return Ok(kind_unknown(&what, &gvk, at)),
        Ok(Err(e)) => {
            return Err(super::kube_error(
                &e,
                &format!("discover {} {}", gvk.api_version(), gvk.kind),
            ))
        }
    };
    let ns = v["metadata"]["namespace"]
        .as_str()
        .unwrap_or(default_ns)
        .to_string();
    let api: Api<DynamicObject> = match caps.scope {
        Scope::Namespaced => Api::namespaced_with(client.clone(), &ns, &ar),
        Scope::Cluster => Api::all_with(client.clone(), &ar),
    };
    let where_ = match caps.scope {
        Scope::Namespaced => format!(" in namespace {ns}"),
        Scope::Cluster => String::new(),
    };
    let obj: DynamicObject = serde_json::from_value(v.clone())
        .map_err(|e| CheckError::Undecided(format!("{what}: {e}")))?;
    let name = v["metadata"]["name"].as_str().map(str::to_string);
    let answer = match &name {
        // Server-side apply creates or updates, as `kubectl apply --server-side`.
        Some(n) => {
            let pp = PatchParams::apply("kfcheck-apply-check")
                .validation(ValidationDirective::Strict)
                .dry_run();
            tokio::time::timeout(REQUEST_TIMEOUT, api.patch(n, &pp, &Patch::Apply(&obj))).await
        }
        // generateName: only a create can name it. Strict field validation is asked in the URL.
        None => {
            let pp = PostParams {
                dry_run: true,
                field_manager: Some("kfcheck-apply-check".into()),
            };
            tokio::time::timeout(REQUEST_TIMEOUT, create_strict(client, &api, &pp, &obj)).await
        }
    };
    match answer {
        Err(_) => Err(CheckError::Undecided(format!("the API server did not answer the dry run of {what} within {}s", REQUEST_TIMEOUT.as_secs()))),
        Ok(Ok(_)) => Ok(Verdict::Accepted(format!("{what}: accepted by the API server{where_} (dry run: schema, admission webhooks, quota; nothing persisted)"))),
        Ok(Err(kube::Error::Api(s))) if s.code == 403 && s.reason == "Forbidden" && !s.message.contains("admission webhook") && !s.message.contains("exceeded quota") && !s.message.contains("forbidden: maximum") => {
            Ok(Verdict::Undecided(format!("{what}: kfcheck lacks permission to create it{where_} ({}), so the dry run could not ask", crate::clients::redact::redact(&s.message))))
        }
        Ok(Err(kube::Error::Api(s))) => {
            let message = crate::clients::redact::redact(&s.message);
            let why = refusal(s.code, &s.reason, &message);
            Ok(Verdict::Rejected(Finding::new(
                "apply-rejected",
                Severity::Error,
                at.clone(),
                format!("{what}: {why}{where_}: {message}"),
                vec![Evidence::new("API server", format!("{} {}", s.code, s.reason))
                    .expected("accepted")],
                "Correct the object as the API server's message says, then check it again; the file was not changed.",
            )))
        }
        Ok(Err(e)) => Err(super::kube_error(&e, &format!("dry-run {what}"))),
    }
}

/// A dry-run create with `fieldValidation=Strict` (kube's PostParams has no field for it).
async fn create_strict(
    client: &kube::Client,
    api: &Api<DynamicObject>,
    pp: &PostParams,
    obj: &DynamicObject,
) -> Result<DynamicObject, kube::Error> {
    let body = serde_json::to_vec(obj).map_err(kube::Error::SerdeError)?;
    let req = kube::core::Request::new(api.resource_url())
        .create(pp, body)
        .map_err(kube::Error::BuildRequest)?;
    let (mut parts, body) = req.into_parts();
    let uri = format!("{}&fieldValidation=Strict", parts.uri);
    parts.uri = uri
        .parse()
        .map_err(|e: http::uri::InvalidUri| kube::Error::Service(e.into()))?;
    client.request(http::Request::from_parts(parts, body)).await
}

impl Kind for ApplyDryRun {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &Value, _base: &SuiteBase) -> Result<(), String> {
        let p: Params = typed_params(params)?;
        if p.paths.is_empty() {
            return Err("paths: give at least one YAML file".into());
        }
        Ok(())
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let p: Params = cx.params()?;
            let default_ns = p
                .namespace
                .clone()
                .or_else(|| cx.namespace().map(str::to_string))
                .unwrap_or_else(|| "default".into());
            let client = cx.kube().await?;
            let mut out = Outcome::default();
            let (mut accepted, mut total) = (0, 0);
            for path in &p.paths {
                let file = Subject::new("file", path.clone()).in_file(path.clone(), None);
                let text = match crate::clients::files::read_text_capped(
                    std::path::Path::new(path),
                    FILE_LIMIT,
                ) {
                    Ok(t) => t,
                    Err(e) => {
                        out.problems.push(Problem {
                            subject: file,
                            message: format!("cannot read {path}: {e}"),
                        });
                        continue;
                    }
                };
                let docs = match documents(&text) {
                    Ok(d) => d,
                    Err(e) => {
                        out.problems.push(Problem {
                            subject: file,
                            message: e,
                        });
                        continue;
                    }
                };
                if docs.is_empty() {
                    out.problems.push(Problem {
                        subject: file,
                        message: format!("{path} holds no document"),
                    });
                }
                for (n, doc) in docs {
                    let v = match doc {
                        Doc::Object(v) => v,
                        Doc::NotAnObject(why) => {
                            let at =
                                Subject::new("document", n.to_string()).in_file(path.clone(), None);
                            out.problems.push(Problem {
                                subject: at,
                                message: why,
                            });
                            continue;
                        }
                    };
                    let at = Subject::new(
                        v["kind"].as_str().unwrap_or_default().to_ascii_lowercase(),
                        format!("{} (document {n})", shown(&v)),
                    )
                    .in_file(path.clone(), None);
                    total += 1;
                    match dry_run(&client, &v, &default_ns, &at).await? {
                        Verdict::Accepted(note) => {
                            accepted += 1;
                            out.notes.push(format!("{path}: {note}"));
                        }
                        Verdict::Rejected(f) => out.findings.push(f),
                        Verdict::Undecided(why) => out.problems.push(Problem {
                            subject: at,
                            message: why,
                        }),
                    }
                }
            }
            out.notes.insert(
                0,
                format!("{accepted} of {total} object(s) accepted in a server-side dry run"),
            );
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_objects_or_say_why_not() {
        let d = documents("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\npipelineInfo: {name: p}\nroot: {}\n---\n[1, 2]\n").unwrap();
        assert_eq!(d.len(), 3);
        assert!(matches!(d[0], (1, Doc::Object(_))));
        match &d[1] {
            (3, Doc::NotAnObject(why)) => assert!(why.contains("KFP v2 pipeline spec"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(&d[2], (4, Doc::NotAnObject(w)) if w.contains("no apiVersion")));
        assert!(documents("a: [\n").unwrap_err().contains("not valid YAML"));
    }

    #[test]
    fn a_refusal_is_named_by_its_cause() {
        assert_eq!(
            refusal(
                400,
                "BadRequest",
                "admission webhook \"x\" denied the request"
            ),
            "an admission webhook denied it"
        );
        assert_eq!(
            refusal(
                403,
                "Forbidden",
                "pods \"p\" is forbidden: exceeded quota: q"
            ),
            "a quota or limit range of the namespace refuses it"
        );
        assert_eq!(
            refusal(422, "Invalid", "spec.x: Invalid value"),
            "its schema or field validation fails"
        );
        assert_eq!(
            refusal(
                400,
                "BadRequest",
                "strict decoding error: unknown field \"spec.templatez\""
            ),
            "its schema or field validation fails"
        );
        assert_eq!(
            shown(&serde_json::json!({"kind": "Workflow", "metadata": {"generateName": "w-"}})),
            "Workflow w-"
        );
        assert_eq!(
            gvk_of(&serde_json::json!({"apiVersion": "v1", "kind": "Pod"})).group,
            ""
        );
    }
}
