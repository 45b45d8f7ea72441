//! `--bundle FILE.tar.gz`: when a run is not ready, a support bundle for whoever has to find out
//! why, in the style of Sonobuoy's and Troubleshoot's: the run's reports, and for each subject of a
//! failing or undecided check that is a cluster object (a pod, a Deployment, a Workflow, a node)
//! the object itself, the logs of its pods and the events that name it, with an index. Everything
//! is redacted on the way in: no Secret is read, environment values of variables named like
//! credentials are replaced, `managedFields` and `last-applied-configuration` are dropped, and all
//! text passes kfcheck's redaction of tokens and keys. Calls are bounded; what could not be read
//! is listed in the index. Objects kfcheck made itself are gone by then (kfcheck cleans up what it
//! creates); what they showed is in the report's evidence.

use crate::clients::redact::redact;
use crate::model::{RunReport, Status};
use flate2::write::GzEncoder;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, LogParams};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

/// How long one call may take.
const CALL: Duration = Duration::from_secs(20);
/// Log lines kept per container.
const LOG_LINES: i64 = 500;
/// At most this many subjects are collected (a run with hundreds of findings bundles the first).
const MAX_SUBJECTS: usize = 40;

/// One file of the bundle: (path inside it, contents, what it is).
type Entry = (String, String, String);

/// A subject of a failing check that names a cluster object: (kind, namespace, name).
fn subjects(report: &RunReport) -> Vec<(String, Option<String>, String)> {
    let mut out = BTreeSet::new();
    for c in report.results.iter().filter(|c| {
        matches!(
            c.status,
            Status::Failed | Status::Errored | Status::TimedOut
        )
    }) {
        let named = c
            .findings
            .iter()
            .map(|f| &f.subject)
            .chain(c.problems.iter().map(|p| &p.subject));
        for s in named {
            let kind = match s.kind.as_str() {
                "pod" => "Pod",
                "deployment" => "Deployment",
                "workflow" => "Workflow",
                "node" => "Node",
                "statefulset" => "StatefulSet",
                "daemonset" => "DaemonSet",
                "job" => "Job",
                _ => continue,
            };
            if kind == "Node" {
                out.insert((kind.to_string(), None, s.name.clone()));
            } else if let Some((ns, name)) = s.name.split_once('/') {
                // `seaweedfs|minio`: alternatives that were not found; nothing to read.
                if !name.contains('|') && !ns.is_empty() && !name.is_empty() {
                    out.insert((kind.to_string(), Some(ns.to_string()), name.to_string()));
                }
            }
        }
    }
    out.into_iter().take(MAX_SUBJECTS).collect()
}

fn resource(kind: &str) -> (ApiResource, &'static str) {
    let (g, v, plural) = match kind {
        "Pod" => ("", "v1", "pods"),
        "Node" => ("", "v1", "nodes"),
        "Deployment" => ("apps", "v1", "deployments"),
        "StatefulSet" => ("apps", "v1", "statefulsets"),
        "DaemonSet" => ("apps", "v1", "daemonsets"),
        "Job" => ("batch", "v1", "jobs"),
        _ => ("argoproj.io", "v1alpha1", "workflows"),
    };
    (
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(g, v, kind), plural),
        plural,
    )
}

/// Names of environment variables whose literal values are never kept.
fn secret_like(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    ["PASS", "SECRET", "TOKEN", "KEY", "CREDENTIAL", "AUTH"]
        .iter()
        .any(|w| n.contains(w))
}

/// The object as kept: no managedFields, no last-applied configuration, credential-like
/// environment values replaced, then redacted as text.
fn scrub(mut v: Value) -> String {
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("managedFields");
        if let Some(a) = m.get_mut("annotations").and_then(Value::as_object_mut) {
            a.remove("kubectl.kubernetes.io/last-applied-configuration");
        }
    }
    fn walk(v: &mut Value) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Array(env)) = map.get_mut("env") {
                    for e in env.iter_mut() {
                        let name = e["name"].as_str().unwrap_or("").to_string();
                        if secret_like(&name) && e.get("value").is_some() {
                            e["value"] = json!("<redacted by kfcheck>");
                        }
                    }
                }
                for (_, x) in map.iter_mut() {
                    walk(x);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut v);
    redact(&serde_yaml_ng::to_string(&v).unwrap_or_default())
}

async fn bounded<T>(
    f: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(CALL, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(crate::context::kube_client::describe(&e)),
        Err(_) => Err(format!("no answer within {}s", CALL.as_secs())),
    }
}

/// The pods behind a subject: itself, a workload's by its selector, a Workflow's by label.
async fn pods_of(client: &kube::Client, kind: &str, ns: &str, obj: &Value) -> Vec<Pod> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    let selector = match kind {
        "Pod" => {
            let name = obj["metadata"]["name"].as_str().unwrap_or_default();
            return bounded(api.get(name)).await.into_iter().collect();
        }
        "Workflow" => format!(
            "workflows.argoproj.io/workflow={}",
            obj["metadata"]["name"].as_str().unwrap_or_default()
        ),
        _ => match obj["spec"]["selector"]["matchLabels"].as_object() {
            Some(m) if !m.is_empty() => m
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(","),
            _ => return Vec::new(),
        },
    };
    bounded(api.list(&ListParams::default().labels(&selector)))
        .await
        .map(|l| l.items.into_iter().take(10).collect())
        .unwrap_or_default()
}

/// Gathers the bundle's files.
async fn collect(
    client: &kube::Client,
    report: &RunReport,
    failures: &mut Vec<String>,
) -> Vec<Entry> {
    let mut files: Vec<Entry> = Vec::new();
    let mut logged: BTreeSet<(String, String)> = BTreeSet::new();
    for (kind, ns, name) in subjects(report) {
        let (ar, plural) = resource(&kind);
        let api: Api<DynamicObject> = match &ns {
            Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
            None => Api::all_with(client.clone(), &ar),
        };
        let shown = match &ns {
            Some(ns) => format!("{kind} {ns}/{name}"),
            None => format!("{kind} {name}"),
        };
        let obj = match bounded(api.get_opt(&name)).await {
            Ok(Some(o)) => serde_json::to_value(o).unwrap_or_default(),
            Ok(None) => {
                failures.push(format!("{shown}: gone by the end of the run"));
                continue;
            }
            Err(e) => {
                failures.push(format!("{shown}: {e}"));
                continue;
            }
        };
        let dir = match &ns {
            Some(ns) => format!("objects/{plural}/{ns}/{name}.yaml"),
            None => format!("objects/{plural}/{name}.yaml"),
        };
        files.push((dir, scrub(obj.clone()), shown.clone()));
        let Some(ns) = ns else { continue };
        for pod in pods_of(client, &kind, &ns, &obj).await {
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            if !logged.insert((ns.clone(), pod_name.clone())) {
                continue;
            }
            if kind != "Pod" {
                files.push((
                    format!("objects/pods/{ns}/{pod_name}.yaml"),
                    scrub(serde_json::to_value(&pod).unwrap_or_default()),
                    format!("Pod {ns}/{pod_name} of {shown}"),
                ));
            }
            let containers: Vec<String> = pod
                .spec
                .iter()
                .flat_map(|s| {
                    s.init_containers
                        .iter()
                        .flatten()
                        .chain(s.containers.iter())
                })
                .map(|c| c.name.clone())
                .collect();
            let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
            for c in containers {
                let lp = LogParams {
                    container: Some(c.clone()),
                    tail_lines: Some(LOG_LINES),
                    limit_bytes: Some(1 << 20),
                    ..LogParams::default()
                };
                match bounded(api.logs(&pod_name, &lp)).await {
                    Ok(text) => files.push((
                        format!("logs/{ns}/{pod_name}/{c}.log"),
                        redact(&text),
                        format!("last {LOG_LINES} lines of container {c} of Pod {ns}/{pod_name}"),
                    )),
                    Err(e) => failures.push(format!("log of {ns}/{pod_name} container {c}: {e}")),
                }
            }
        }
        let events: Api<Event> = Api::namespaced(client.clone(), &ns);
        match bounded(
            events.list(&ListParams::default().fields(&format!("involvedObject.name={name}"))),
        )
        .await
        {
            Ok(list) => {
                let lines: Vec<String> = list
                    .items
                    .iter()
                    .map(|e| {
                        format!(
                            "{} {} {} x{}: {}",
                            e.last_timestamp
                                .as_ref()
                                .map(|t| t.0.to_string())
                                .unwrap_or_default(),
                            e.type_.as_deref().unwrap_or(""),
                            e.reason.as_deref().unwrap_or(""),
                            e.count.unwrap_or(1),
                            e.message.as_deref().unwrap_or("")
                        )
                    })
                    .collect();
                files.push((
                    format!("events/{ns}/{name}.txt"),
                    redact(&(lines.join("\n") + "\n")),
                    format!("events naming {shown}"),
                ));
            }
            Err(e) => failures.push(format!("events of {shown}: {e}")),
        }
    }
    files
}

/// Writes the bundle of a run that is not ready to `path` (a .tar.gz). `client`: the run's
/// cluster, when it reached one. Returns how many files it holds.
pub(crate) async fn write_bundle(
    path: &Path,
    report: &RunReport,
    exit: crate::model::ExitStatus,
    client: Option<kube::Client>,
) -> Result<usize, String> {
    let mut failures = Vec::new();
    let mut files: Vec<Entry> = vec![
        (
            "report.json".into(),
            crate::report::render_json(report, exit),
            "the run's JSON report (schema/report.schema.json)".into(),
        ),
        (
            "report.txt".into(),
            crate::report::render_table(
                report,
                exit,
                &crate::report::TableOptions {
                    verbose: true,
                    ..Default::default()
                },
            ),
            "the run's table, with notes and evidence".into(),
        ),
    ];
    match &client {
        Some(c) => files.extend(collect(c, report, &mut failures).await),
        None => failures.push("no cluster was reached: only the reports are here".into()),
    }
    let index = json!({
        "kind": "kfcheck-bundle",
        "run_id": report.run_id,
        "started_at": report.started_at,
        "verdict": exit.verdict(),
        "cluster": report.cluster,
        "files": files.iter().map(|(p, _, what)| json!({"path": p, "what": what})).collect::<Vec<_>>(),
        "not_collected": failures,
        "redaction": "no Secret is read; credential-like environment values replaced; managedFields and last-applied-configuration dropped; tokens and keys in all text redacted",
    });
    files.push((
        "index.json".into(),
        serde_json::to_string_pretty(&index).unwrap_or_default() + "\n",
        "this index".into(),
    ));
    let count = files.len();
    let tmp = path.with_extension("tmp-kfcheck");
    let written = (|| -> std::io::Result<()> {
        let f = std::fs::File::create(&tmp)?;
        let mut tar = tar::Builder::new(GzEncoder::new(f, flate2::Compression::default()));
        for (p, text, _) in &files {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0),
            );
            h.set_cksum();
            tar.append_data(
                &mut h,
                format!("kfcheck-bundle-{}/{p}", report.run_id),
                text.as_bytes(),
            )?;
        }
        tar.into_inner()?.finish()?.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_reach_the_bundle() {
        let pod = json!({
            "metadata": {"name": "p", "managedFields": [{"manager": "x"}],
                         "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"env\": \"DB_PASSWORD=x\"}", "keep": "yes"}},
            "spec": {"containers": [{"name": "c", "env": [
                {"name": "DB_PASSWORD", "value": "hunter2"},
                {"name": "AWS_SECRET_ACCESS_KEY", "value": "wJalrXUtnFEMI"},
                {"name": "MODE", "value": "train"},
                {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "s", "key": "k"}}}]}]}
        });
        let text = scrub(pod);
        assert!(
            !text.contains("hunter2") && !text.contains("wJalrXUtnFEMI"),
            "{text}"
        );
        assert!(
            !text.contains("managedFields") && !text.contains("last-applied"),
            "{text}"
        );
        assert!(
            text.contains("train") && text.contains("secretKeyRef") && text.contains("keep"),
            "{text}"
        );
    }
}
