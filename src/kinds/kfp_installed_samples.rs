//! `kfp-installed-samples`: the sample pipelines the server was installed with (the shared
//! `[Tutorial] …` pipelines) each run in CPU mode, as installed, and in GPU mode, from a copy of
//! its spec with an accelerator request, a node selector and a toleration injected into every
//! step. The installed pipelines are never changed; kfcheck's experiment and runs are deleted.

use super::{kfp_error, typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::clients::kfp::{Pipeline, RunSource};
use crate::clients::kfp_spec::CompiledSpec;
use crate::context::kfp::{is_kfcheck_name, kfp_name};
use crate::context::Need;
use crate::doors::rest::{result_of, RestDoor, Submit, Watched};
use crate::doors::sample::{run_deadline, GpuParams};
use crate::doors::{verdict, Mode};
use crate::model::owned::Created;
use crate::model::{Problem, Subject};
use futures::future::BoxFuture;
use serde::Deserialize;
use std::time::Duration;

pub struct KfpInstalledSamples;

static META: KindMeta = KindMeta {
    name: "kfp-installed-samples",
    needs: &[Need::Kfp],
    effect: Effect::CreatesResources,
    creates: &[Created::KfpObjects],
    rules: crate::doors::RUN_RULES,
    default_timeout: Duration::from_secs(900),
    what: "Every shared pipeline the server was installed with (matching `match`) runs to SUCCEEDED in CPU mode (its own latest version) and in GPU mode (a copy of its spec asking for a GPU, with the GPU node selector and toleration). Runs go to kfcheck's own experiment and are deleted afterwards.",
    why: "The preloaded samples are the first thing a new user clicks; if they fail out of the box, or cannot run on a GPU node, users conclude Kubeflow is broken.",
    fix: "Read the failed step in the evidence; for GPU-mode failures check GPU capacity, the accelerator type label, and the GPU taint's toleration.",
    params: &[
        ("match", "globs on pipeline names (default ['*']; escape brackets: '\\[Tutorial\\]*')"),
        ("modes", "which modes to run: [cpu, gpu] (default both)"),
        ("gpu", "GPU mode: {type (e.g. nvidia-l4), resource (nvidia.com/gpu), count, node_selector_key, toleration_key}"),
        ("max_pipelines", "at most this many pipelines (default 10)"),
        ("run_timeout", "how long runs may take, e.g. 10m (default: the check's timeout less a margin)"),
    ],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    #[serde(default = "all", rename = "match")]
    patterns: Vec<String>,
    #[serde(default = "both")]
    modes: Vec<Mode>,
    #[serde(default = "default_gpu")]
    gpu: GpuParams,
    #[serde(default = "ten")]
    max_pipelines: usize,
    #[serde(default, with = "crate::doors::sample::duration")]
    run_timeout: Option<Duration>,
}

fn all() -> Vec<String> {
    vec!["*".into()]
}
fn both() -> Vec<Mode> {
    vec![Mode::Cpu, Mode::Gpu]
}
fn default_gpu() -> GpuParams {
    serde_json::from_value(serde_json::json!({}))
        .unwrap_or_else(|_| unreachable!("every field has a default"))
}
fn ten() -> usize {
    10
}

fn matcher(patterns: &[String]) -> Result<globset::GlobSet, String> {
    let mut b = globset::GlobSetBuilder::new();
    for p in patterns {
        b.add(globset::Glob::new(p).map_err(|e| format!("match: {e}"))?);
    }
    b.build().map_err(|e| e.to_string())
}

/// The installed pipelines to run: matching, not kfcheck's own leftovers, in name order. Pure.
fn pick(pipelines: Vec<Pipeline>, set: &globset::GlobSet, max: usize) -> Vec<Pipeline> {
    let mut picked: Vec<Pipeline> = pipelines
        .into_iter()
        .filter(|p| set.is_match(p.shown_name()) && !is_kfcheck_name(p.shown_name(), None))
        .collect();
    picked.sort_by(|a, b| a.shown_name().cmp(b.shown_name()));
    picked.truncate(max);
    picked
}

impl Kind for KfpInstalledSamples {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, _: &SuiteBase) -> Result<(), String> {
        let p: Params = typed_params(params)?;
        matcher(&p.patterns)?;
        if p.modes.is_empty() || p.max_pipelines == 0 {
            return Err("`modes` and `max_pipelines` must not be empty or zero".into());
        }
        Ok(())
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let p: Params = cx.params()?;
            let set = matcher(&p.patterns).map_err(CheckError::Undecided)?;
            let kfp = cx.kfp().await?;
            if let Some(why) = kfp.v2_unavailable() {
                return Err(CheckError::Undecided(why));
            }
            // Installed samples are shared pipelines (no namespace).
            let found = kfp
                .client
                .list_pipelines(None, "")
                .await
                .map_err(|e| kfp_error(&e, "list shared pipelines"))?;
            let picked = pick(found, &set, p.max_pipelines);
            if picked.is_empty() {
                return Err(CheckError::NotApplicable(format!(
                    "the server has no shared pipelines matching {}",
                    p.patterns.join(", ")
                )));
            }
            let mut out = Outcome::default();
            // Gather every pipeline's latest version before creating anything.
            let mut plans: Vec<(String, Mode, RunSource)> = Vec::new();
            for pl in &picked {
                let version = match kfp.client.latest_version(&pl.pipeline_id).await {
                    Ok(Some(v)) => v,
                    Ok(None) => {
                        out.problems.push(Problem {
                            subject: Subject::new("pipeline", pl.shown_name()),
                            message: "the pipeline has no version to run".into(),
                        });
                        continue;
                    }
                    Err(e) => {
                        return Err(kfp_error(
                            &e,
                            &format!("read the versions of pipeline {}", pl.shown_name()),
                        ))
                    }
                };
                for mode in &p.modes {
                    let source = match mode {
                        Mode::Cpu => RunSource::Version {
                            pipeline_id: pl.pipeline_id.clone(),
                            version_id: Some(version.pipeline_version_id.clone()),
                        },
                        Mode::Gpu => match version
                            .pipeline_spec
                            .as_ref()
                            .map(CompiledSpec::from_served)
                        {
                            Some(Ok(spec)) => {
                                RunSource::Spec(spec.with_gpu(&p.gpu.mode()).for_run())
                            }
                            Some(Err(e)) => {
                                out.problems.push(Problem {
                                    subject: Subject::new("pipeline", pl.shown_name()),
                                    message: format!("cannot run in GPU mode: {e}"),
                                });
                                continue;
                            }
                            None => {
                                out.problems.push(Problem { subject: Subject::new("pipeline", pl.shown_name()), message: "cannot run in GPU mode: the server returned no spec for its version".into() });
                                continue;
                            }
                        },
                    };
                    plans.push((pl.shown_name().to_string(), *mode, source));
                }
            }
            let door = RestDoor::new(kfp, Submit::Inline);
            let dcx = cx.door(kfp_name(&cx.run_id, &cx.spec.id));
            let experiment = door.create_experiment(&dcx, &dcx.name).await?;
            let mut runs = Vec::new();
            for (i, (pipeline, mode, source)) in plans.iter().enumerate() {
                let mode_name = mode.name();
                let name = kfp_name(
                    &cx.run_id,
                    &format!("{}-{}-{mode_name} {pipeline}", cx.spec.id, i + 1),
                );
                let run = door
                    .submit_run(
                        &dcx,
                        &name,
                        &experiment.experiment_id,
                        source,
                        &serde_json::Map::new(),
                    )
                    .await?;
                runs.push((pipeline.clone(), mode_name, run.run_id));
            }
            // All runs at once: the slowest bounds the check, not their sum.
            let limit = run_deadline(cx.spec.timeout, p.run_timeout);
            let watched: Vec<Result<Watched, CheckError>> = futures::future::join_all(
                runs.iter()
                    .map(|(_, _, id)| door.wait_for_run(&dcx, id, limit)),
            )
            .await;
            for ((pipeline, mode, _), w) in runs.iter().zip(watched) {
                let w = w?;
                let what = format!("{pipeline} ({mode} mode)");
                match verdict(
                    &result_of(&w),
                    Subject::new("kfp-pipeline", what.clone()),
                    cx.spec.severity,
                    &what,
                ) {
                    Ok(note) => out.notes.push(note),
                    Err(f) => out.findings.push(*f),
                }
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pl(name: &str) -> Pipeline {
        Pipeline {
            pipeline_id: name.into(),
            display_name: name.into(),
            ..Pipeline::default()
        }
    }

    #[test]
    fn picks_matching_installed_pipelines_but_never_kfchecks_own() {
        let set = matcher(&["\\[Tutorial\\]*".into()]).unwrap();
        let got = pick(
            vec![
                pl("[Tutorial] DSL - Control structures"),
                pl("team pipeline"),
                pl("[Tutorial] Data passing in python components"),
            ],
            &set,
            10,
        );
        let names: Vec<&str> = got.iter().map(|p| p.shown_name()).collect();
        assert_eq!(
            names,
            vec![
                "[Tutorial] DSL - Control structures",
                "[Tutorial] Data passing in python components"
            ]
        );
        let any = matcher(&["*".into()]).unwrap();
        assert_eq!(
            pick(vec![pl("kfcheck-0123456789-x"), pl("a"), pl("b")], &any, 1).len(),
            1
        );
        assert!(KfpInstalledSamples
            .validate(&serde_json::json!({"modes": []}), &SuiteBase::Embedded)
            .is_err());
        assert!(KfpInstalledSamples
            .validate(&serde_json::json!({"modes": ["tpu"]}), &SuiteBase::Embedded)
            .is_err());
        assert!(KfpInstalledSamples
            .validate(
                &serde_json::json!({"gpu": {"type": "nvidia-l4"}, "run_timeout": "3m"}),
                &SuiteBase::Embedded
            )
            .is_ok());
    }
}
