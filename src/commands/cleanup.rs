//! `kfcheck cleanup`: sweeps what earlier runs left behind (`crate::cleanup` does the sweeping):
//! Kubernetes objects by label, KFP objects by name, Docker containers by label, each when it is
//! configured, and words the outcome.

use super::shared::settings;
use crate::cli::Global;
use crate::context::{kfp, kube_client, Need, NeedError, Needs, Settings};
use crate::model::{AppOutput, ExitStatus};

/// `kfcheck cleanup`: sweeps objects labelled as kfcheck's. Exit 0 when everything found was
/// deleted (or nothing was found), 3 when something could not be listed or deleted.
pub(crate) fn cleanup(g: &Global, dry_run: bool, run_id: Option<&str>) -> AppOutput {
    let settings = settings(g);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return AppOutput::usage(format!("failed to start the async runtime: {e}")),
    };
    // Kubernetes objects by label, KFP objects by name; each swept when it is configured.
    let (kube, kfp) = rt.block_on(async {
        let kube = match kube_client::connect(&settings).await {
            Ok((client, desc)) => Ok((
                desc,
                crate::cleanup::sweep(&client, run_id, dry_run).await,
                client,
            )),
            Err(e) => Err(e),
        };
        // The KFP need port-forwards through the same API (when no endpoint is given).
        let kube_client = kube
            .as_ref()
            .map(|(_, _, c)| c.clone())
            .map_err(Clone::clone);
        let kfp = match kfp::connect(&settings, Some(kube_client)).await {
            Ok((k, desc)) => Ok((
                desc,
                crate::cleanup::sweep_kfp(&k.client, k.namespace.as_deref(), run_id, dry_run).await,
            )),
            Err(e) => Err(e),
        };
        (kube.map(|(d, r, _)| (d, r)), kfp)
    });
    // Containers too, when a Docker engine is configured or at the default socket.
    let mut out = rt.block_on(sweep_docker(&settings, run_id, dry_run));
    let docker_swept = !out.stdout.is_empty();
    let mut swept = Vec::new();
    let mut errors = Vec::new();
    match (kube, kfp) {
        (Err(NeedError::Missing(k)), Err(NeedError::Missing(_))) => {
            if docker_swept {
                // Nothing to sweep there with this configuration: say so, it is not a failure.
                out.stderr.push_str(&format!(
                    "kfcheck: cleanup: {k}; only Docker containers were swept\n"
                ));
            } else {
                errors.push(k);
            }
        }
        (kube, kfp) => {
            for r in [kube, kfp] {
                match r {
                    Ok(x) => swept.push(x),
                    Err(NeedError::Missing(_)) => {}
                    Err(e) => errors.push(e.reason().to_string()),
                }
            }
        }
    }
    if swept.is_empty() {
        for e in &errors {
            out.stderr.push_str(&format!("kfcheck: cleanup: {e}\n"));
        }
        out.exit = Some(if errors.is_empty() && out.exit.is_none() {
            ExitStatus::Ready
        } else {
            ExitStatus::Undecided
        });
        return out;
    }
    let mut report = crate::model::SweepReport::default();
    let mut descs = Vec::new();
    for (d, r) in swept {
        descs.push(d);
        report.found.extend(r.found);
        report.failed.extend(r.failed);
    }
    report.failed.extend(errors);
    let desc = descs.join(" and ");
    let verb = if dry_run { "would delete" } else { "deleted" };
    out.stdout.push_str(&format!("cleanup against {desc}\n"));
    for f in &report.found {
        out.stdout.push_str(&format!("{verb} {f}\n"));
    }
    for f in &report.failed {
        out.stderr.push_str(&format!("kfcheck: cleanup: {f}\n"));
    }
    out.stdout.push_str(&format!(
        "{} object(s) {verb}{}\n",
        report.found.len(),
        if report.failed.is_empty() {
            String::new()
        } else {
            format!(", {} failure(s)", report.failed.len())
        }
    ));
    out.exit = Some(if report.failed.is_empty() && out.exit.is_none() {
        ExitStatus::Ready
    } else {
        ExitStatus::Undecided
    });
    out
}

/// The Docker part of `kfcheck cleanup`; `exit` is set (undecided) only when something failed.
async fn sweep_docker(settings: &Settings, run_id: Option<&str>, dry_run: bool) -> AppOutput {
    let mut out = AppOutput::default();
    let needs = Needs::new(settings.clone());
    let docker = match needs.resolve(Need::Docker).await {
        Err(NeedError::Missing(_)) => return out,
        Err(NeedError::Broken(m)) => {
            out.stderr.push_str(&format!("kfcheck: cleanup: {m}\n"));
            out.exit = Some(ExitStatus::Undecided);
            return out;
        }
        Ok(desc) => match needs.docker().await {
            Ok(d) => (d, desc),
            Err(m) => {
                out.stderr.push_str(&format!("kfcheck: cleanup: {m}\n"));
                out.exit = Some(ExitStatus::Undecided);
                return out;
            }
        },
    };
    let report = crate::clients::container::sweep(&docker.0, run_id, dry_run).await;
    let verb = if dry_run { "would delete" } else { "deleted" };
    out.stdout
        .push_str(&format!("cleanup against {}\n", docker.1));
    for f in &report.found {
        out.stdout.push_str(&format!("{verb} {f}\n"));
    }
    for f in &report.failed {
        out.stderr.push_str(&format!("kfcheck: cleanup: {f}\n"));
    }
    out.stdout
        .push_str(&format!("{} container(s) {verb}\n", report.found.len()));
    if !report.failed.is_empty() {
        out.exit = Some(ExitStatus::Undecided);
    }
    out
}
