//! `pipeline-fit`: compiled pipelines checked against a live cluster: for every task, can any
//! node satisfy its resources, node selector, required affinity and tolerations?
//! (`kfcheck lint --cluster` adds this check to the static lint.)

use super::{kube_error, typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::context::Need;
use crate::pipeline::fit::FitNode;
use crate::pipeline::inputs::{exclude_set, run_outcome, sources, validate_paths};
use crate::pipeline::lint::{lint_run, LintOptions};
use crate::pipeline::repo_config::ConfigChoice;
use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::Node;
use serde::Deserialize;
use std::sync::Arc;
use std::time::Duration;

pub struct PipelineFit;

static META: KindMeta = KindMeta {
    name: "pipeline-fit",
    needs: &[Need::Kube],
    effect: Effect::ReadOnly,
    creates: &[],
    rules: &[],
    default_timeout: Duration::from_secs(120),
    what: "Every task of the compiled pipelines fits at least one node of the live cluster: allocatable CPU, memory and GPUs, node selector, required node affinity, and tolerations for the node's NoSchedule/NoExecute taints. Values that come from pipeline parameters are reported as undecided (info), never as fitting.",
    why: "A task no node can take stays Pending forever: the run looks stuck rather than failed, and nobody is told which request or selector is at fault.",
    fix: "Change the task's resources, selector or tolerations in the pipeline source (the evidence says which filter rejected how many nodes), or provide a node pool that fits.",
    params: &[
        ("paths", "files or directories of compiled pipelines, as for pipeline-lint"),
        ("owners", "CODEOWNERS file to use instead of discovering one per repository"),
        ("config", "a .kfcheck.yaml whose suppressions apply to every file, instead of the nearest one above each file (up to the repository root); none turns them off"),
        ("exclude", "globs of files or directories to leave out, as for pipeline-lint"),
    ],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    paths: Vec<String>,
    #[serde(default)]
    owners: Option<String>,
    /// A repository config for every file, or `none`; absent: discovered per file.
    #[serde(default)]
    config: Option<String>,
    #[serde(default)]
    exclude: Vec<String>,
}

impl Kind for PipelineFit {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, base: &SuiteBase) -> Result<(), String> {
        let p: Params = typed_params(params)?;
        exclude_set(&p.exclude)?;
        validate_paths(&p.paths, base)
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let p: Params = cx.params()?;
            let client = cx.kube().await?;
            let nodes = cx
                .kube_cache()?
                .cluster::<Node>(&client)
                .await
                .map_err(|e| kube_error(&e, "list nodes"))?;
            let fit: Vec<FitNode> = nodes.iter().filter_map(FitNode::from_node).collect();
            let node_count = fit.len();
            let opts = LintOptions {
                owners_file: p.owners.as_ref().map(|o| cx.spec.base.resolve(o)),
                fit: Some(Arc::new(fit)),
                skip_static_rules: true,
                repo_config: ConfigChoice::from_param(p.config.as_deref(), |c| {
                    cx.spec.base.resolve(c)
                }),
                ..LintOptions::default()
            };
            let base = cx.spec.base.clone();
            let exclude = exclude_set(&p.exclude).map_err(CheckError::Undecided)?;
            let mut out = tokio::task::spawn_blocking(move || {
                let (srcs, problems) = sources(&p.paths, &base, &exclude);
                run_outcome(lint_run(&srcs, &opts), problems)
            })
            .await
            .map_err(|e| CheckError::Undecided(format!("fit worker failed: {e}")))?;
            out.notes
                .push(format!("checked against {node_count} node(s)"));
            Ok(out)
        })
    }
}
