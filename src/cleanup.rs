//! `kfcheck cleanup`: finds what kfcheck created and a run failed to remove (the janitor could
//! not reach the API server, the process was killed) by its label, and deletes it. Objects
//! without kfcheck's label are never touched.

use crate::context::kube_cache::not_served;
use crate::context::kube_client::describe;
use crate::context::owned;
use crate::model::owned::Created;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams};
use kube::core::PartialObjectMeta;

pub use crate::model::SweepReport;

/// One Kubernetes type kfcheck may create.
#[derive(Debug, Clone, PartialEq)]
struct Target {
    kind: &'static str,
    ar: ApiResource,
    namespaced: bool,
    /// A custom resource (the coming doors' Workflows and Notebooks): absent APIs are normal.
    optional: bool,
}

/// How long one list or delete may take (the shared client has no read timeout).
const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The Kubernetes types kfcheck's kinds declare they create ([`Created::Kube`] in each kind's
/// metadata), and only those: listing types nothing creates asks for grants the least-privilege
/// role (deploy/rbac.yaml) rightly lacks, so `cleanup` as that account could never succeed. A
/// kind that creates a new type declares it and adds its list/delete grant to deploy/rbac.yaml;
/// the scenario test runs `cleanup` as that account.
fn targets() -> Vec<Target> {
    let mut declared: Vec<Created> = crate::kinds::KINDS
        .iter()
        .flat_map(|k| k.meta().creates.iter().copied())
        .filter(|c| matches!(c, Created::Kube { .. }))
        .collect();
    declared.sort();
    declared.dedup();
    declared
        .into_iter()
        .filter_map(|c| match c {
            Created::Kube {
                kind,
                api_version,
                plural,
                namespaced,
            } => {
                let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
                Some(Target {
                    kind,
                    ar: ApiResource {
                        group: group.into(),
                        version: version.into(),
                        api_version: api_version.into(),
                        kind: kind.into(),
                        plural: plural.into(),
                    },
                    namespaced,
                    // Built-in types (the core group, or one without a dot such as batch) are
                    // always served; custom resources (whose groups have dots) may not be.
                    optional: group.contains('.'),
                })
            }
            _ => None,
        })
        .collect()
}

/// Lists (metadata only) and, unless `dry_run`, deletes every object labelled as kfcheck's
/// (only those of run `run_id` when given).
pub async fn sweep(client: &kube::Client, run_id: Option<&str>, dry_run: bool) -> SweepReport {
    let mut report = SweepReport::default();
    let selector = owned::selector(run_id);
    for t in targets() {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &t.ar);
        let listed = tokio::time::timeout(
            CALL_TIMEOUT,
            api.list_metadata(&ListParams::default().labels(&selector)),
        )
        .await;
        let found: Vec<PartialObjectMeta<DynamicObject>> = match listed {
            Ok(Ok(l)) => l.items,
            Ok(Err(e)) if t.optional && not_served(&e) => continue,
            Ok(Err(kube::Error::Api(s))) if s.code == 403 => {
                report.failed.push(format!(
                    "kfcheck lacks permission to list {} (labelled {selector})",
                    t.ar.plural
                ));
                continue;
            }
            Ok(Err(e)) => {
                report.failed.push(format!(
                    "cannot list {} labelled {selector}: {}",
                    t.ar.plural,
                    describe(&e)
                ));
                continue;
            }
            Err(_) => {
                report.failed.push(format!(
                    "cannot list {} labelled {selector}: no answer within {}s",
                    t.ar.plural,
                    CALL_TIMEOUT.as_secs()
                ));
                continue;
            }
        };
        for obj in found {
            let (Some(name), ns) = (obj.metadata.name.clone(), obj.metadata.namespace.clone())
            else {
                continue;
            };
            // The API filtered by label already; checking again costs nothing and guards the
            // promise never to delete what kfcheck did not create.
            if obj
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get(owned::MANAGED_BY_KEY))
                .map(String::as_str)
                != Some(owned::MANAGED_BY)
            {
                continue;
            }
            let shown = match &ns {
                Some(ns) => format!("{} {ns}/{name}", t.kind),
                None => format!("{} {name}", t.kind),
            };
            if dry_run {
                report.found.push(shown);
                continue;
            }
            let api: Api<DynamicObject> = match (&ns, t.namespaced) {
                (Some(ns), true) => Api::namespaced_with(client.clone(), ns, &t.ar),
                _ => Api::all_with(client.clone(), &t.ar),
            };
            match tokio::time::timeout(CALL_TIMEOUT, api.delete(&name, &DeleteParams::background()))
                .await
            {
                Ok(Ok(_)) => report.found.push(shown),
                Ok(Err(kube::Error::Api(s))) if s.code == 404 => {
                    report.found.push(format!("{shown} (already gone)"))
                }
                Ok(Err(kube::Error::Api(s))) if s.code == 403 => report
                    .failed
                    .push(format!("kfcheck lacks permission to delete {shown}")),
                Ok(Err(e)) => report
                    .failed
                    .push(format!("cannot delete {shown}: {}", describe(&e))),
                Err(_) => report.failed.push(format!(
                    "cannot delete {shown}: no answer within {}s",
                    CALL_TIMEOUT.as_secs()
                )),
            }
        }
    }
    report
}

/// KFP objects carry no labels: kfcheck's are found by name (`kfcheck-<run id>-…`, see
/// [`crate::context::kfp::is_kfcheck_name`]): runs (terminated, then deleted), experiments, and
/// pipelines with their versions, shared and in `namespace`. Nothing else is touched.
pub async fn sweep_kfp(
    client: &crate::clients::KfpClient,
    namespace: Option<&str>,
    run_id: Option<&str>,
    dry_run: bool,
) -> SweepReport {
    use crate::context::kfp::is_kfcheck_name;
    let mut report = SweepReport::default();
    let needle = match run_id {
        Some(r) => format!("kfcheck-{r}-"),
        None => "kfcheck-".to_string(),
    };
    let act = |report: &mut SweepReport,
               shown: String,
               result: Option<Result<String, crate::clients::KfpError>>| match result
    {
        None => report.found.push(shown),
        Some(Ok(_)) => report.found.push(shown),
        Some(Err(e)) if e.status() == Some(404) => {
            report.found.push(format!("{shown} (already gone)"))
        }
        Some(Err(e)) if e.status() == Some(403) => report
            .failed
            .push(format!("kfcheck lacks permission to delete {shown}")),
        Some(Err(e)) => report.failed.push(format!("cannot delete {shown}: {e}")),
    };
    let where_ = namespace.map(|n| format!("{n}/")).unwrap_or_default();
    match client.list_runs(namespace, None, &needle).await {
        Ok(runs) => {
            for r in runs
                .into_iter()
                .filter(|r| is_kfcheck_name(&r.display_name, run_id))
            {
                let shown = format!("KFP run {where_}{} ({})", r.display_name, r.run_id);
                let result = if dry_run {
                    None
                } else {
                    Some(client.terminate_and_delete_run(&r.run_id, false).await)
                };
                act(&mut report, shown, result);
            }
        }
        Err(e) => report.failed.push(format!("cannot list KFP runs: {e}")),
    }
    match client.list_experiments(namespace, &needle).await {
        Ok(exps) => {
            for x in exps
                .into_iter()
                .filter(|x| is_kfcheck_name(&x.display_name, run_id))
            {
                let shown = format!("KFP experiment {where_}{}", x.display_name);
                let result = if dry_run {
                    None
                } else {
                    Some(
                        client
                            .delete_experiment(&x.experiment_id)
                            .await
                            .map(|_| String::new()),
                    )
                };
                act(&mut report, shown, result);
            }
        }
        Err(e) => report
            .failed
            .push(format!("cannot list KFP experiments: {e}")),
    }
    let mut scopes = vec![None];
    if namespace.is_some() {
        scopes.push(namespace);
    }
    for scope in scopes {
        match client.list_pipelines(scope, &needle).await {
            Ok(pipelines) => {
                for p in pipelines
                    .into_iter()
                    .filter(|p| is_kfcheck_name(p.shown_name(), run_id))
                {
                    let shown = format!(
                        "KFP pipeline {}{}",
                        scope.map(|n| format!("{n}/")).unwrap_or_default(),
                        p.shown_name()
                    );
                    let result = if dry_run {
                        None
                    } else {
                        Some(
                            client
                                .delete_pipeline(&p.pipeline_id)
                                .await
                                .map(|_| String::new()),
                        )
                    };
                    act(&mut report, shown, result);
                }
            }
            Err(e) => report.failed.push(format!(
                "cannot list KFP pipelines{}: {e}",
                scope.map(|n| format!(" in {n}")).unwrap_or_default()
            )),
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    #[test]
    fn the_sweep_covers_exactly_the_declared_kubernetes_types() {
        // Today: the notebook door's Notebook (`create: true`; a custom resource, so optional),
        // the GPU probe pod (gpu-schedulable), the raw-YAML door's Workflow and its fallback Job
        // where Argo is not installed (built in, so not optional).
        assert_eq!(
            targets(),
            vec![
                Target {
                    kind: "Job",
                    ar: ApiResource::erase::<k8s_openapi::api::batch::v1::Job>(&()),
                    namespaced: true,
                    optional: false,
                },
                Target {
                    kind: "Notebook",
                    ar: crate::doors::notebook_target::notebook_resource("v1"),
                    namespaced: true,
                    optional: true,
                },
                Target {
                    kind: "Pod",
                    ar: ApiResource::erase::<Pod>(&()),
                    namespaced: true,
                    optional: false,
                },
                Target {
                    kind: "Workflow",
                    ar: crate::doors::argo::workflow_resource(),
                    namespaced: true,
                    optional: true,
                }
            ]
        );
        // Every declared type has a sweep, or a reason it is the janitor's alone (the match is
        // exhaustive: a new kind of object needs a decision here).
        for k in crate::kinds::KINDS {
            for c in k.meta().creates {
                match c {
                    Created::Kube { kind, .. } => {
                        assert!(
                            targets().iter().any(|t| t.kind == *kind),
                            "{kind} is not swept"
                        )
                    }
                    Created::KfpObjects | Created::Containers => {} // sweep_kfp, clients::container::sweep
                    Created::BucketObjects | Created::PluginDefined | Created::Kernels => {} // janitor only, see Created
                }
            }
        }
    }
}
