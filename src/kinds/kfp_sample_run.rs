//! `kfp-sample-run`: one of kfcheck's compiled sample pipelines (embedded in the binary) is
//! submitted through the KFP REST API as an inline-spec run in kfcheck's own experiment, polled
//! to a terminal state within the check's deadline, and judged by its task details. The run and
//! experiment carry the run id in their names and are removed afterwards; a run still going at
//! the deadline is terminated and deleted.

use super::kfp_support::{
    create_experiment, evaluate_run, load_pipeline, run_deadline, submit_run, upload_pipeline,
    wait_for_run, GpuParams,
};
use super::{kfp_error, typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::clients::kfp::RunSource;
use crate::clients::kfp_spec::CompiledSpec;
use crate::context::kfp::kfp_name;
use crate::context::Need;
use crate::model::Subject;
use futures::future::BoxFuture;
use serde::Deserialize;
use std::time::Duration;

pub struct KfpSampleRun;

static META: KindMeta = KindMeta {
    name: "kfp-sample-run",
    needs: &[Need::Kfp],
    effect: Effect::CreatesResources,
    default_timeout: Duration::from_secs(600),
    what: "A compiled sample pipeline is submitted through the KFP REST API (as the dashboard does) as a run in kfcheck's own experiment, and finishes SUCCEEDED before the deadline. The experiment and run are named after the run id and deleted afterwards.",
    why: "Green pods do not prove a pipeline runs: the API server, Argo, the launcher and driver images, the artifact store, the pipeline-runner's RBAC and (in GPU mode) GPU scheduling must all work together.",
    fix: "Read the failed step and its message in the evidence, then that pod's logs; a run that never finishes usually has a Pending pod that no node can take.",
    params: &[
        ("pipeline", "compiled pipeline YAML, relative to the suite (embedded: pipelines/kfcheck-cpu-sample.yaml)"),
        ("parameters", "map of run parameters (default none)"),
        ("gpu", "optional GPU mode for a copy of the spec: {type, resource, count, node_selector_key, toleration_key}"),
        ("submit", "inline (the spec inside the run, default) or upload (multipart upload as a pipeline, a second version, and a run of that version: the dashboard's upload path)"),
        ("run_timeout", "how long the run may take, e.g. 8m (default: the check's timeout less a margin)"),
    ],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    pipeline: String,
    #[serde(default)]
    parameters: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    gpu: Option<GpuParams>,
    #[serde(default)]
    submit: Submit,
    #[serde(default, with = "super::kfp_support::duration")]
    run_timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Submit {
    #[default]
    Inline,
    Upload,
}

fn spec_of(p: &Params, base: &SuiteBase) -> Result<(String, CompiledSpec), String> {
    let (shown, text) = load_pipeline(base, &p.pipeline)?;
    let spec = CompiledSpec::from_yaml(&text).map_err(|e| format!("{shown}: {e}"))?;
    Ok((
        shown,
        match &p.gpu {
            Some(g) => spec.with_gpu(&g.mode()),
            None => spec,
        },
    ))
}

impl Kind for KfpSampleRun {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, base: &SuiteBase) -> Result<(), String> {
        let p: Params = typed_params(params)?;
        spec_of(&p, base).map(|_| ())
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let p: Params = cx.params()?;
            let (shown, spec) = spec_of(&p, &cx.spec.base).map_err(CheckError::Undecided)?;
            let kfp = cx.kfp().await?;
            if let Some(why) = kfp.v2_unavailable() {
                return Err(CheckError::Undecided(why));
            }
            let name = kfp_name(&cx.run_id, &cx.spec.id);
            let experiment = create_experiment(&cx, &kfp, &name).await?;
            let source = match p.submit {
                Submit::Inline => RunSource::Spec(spec.for_run()),
                Submit::Upload => {
                    let yaml = spec.to_yaml().map_err(CheckError::Undecided)?;
                    let pipeline = upload_pipeline(&cx, &kfp, &name, &yaml).await?;
                    // A second version through `upload_version` (query key `pipelineid`): the run
                    // uses it, so both upload paths are proven.
                    let version = kfp
                        .client
                        // Deleted with the pipeline (cascade), so its ids are not kept.
                        .upload_version(
                            &pipeline.pipeline_id,
                            &format!("{name}-v2"),
                            &yaml,
                            &Default::default(),
                        )
                        .await
                        .map_err(|e| kfp_error(&e, "upload pipeline versions"))?;
                    RunSource::Version {
                        pipeline_id: pipeline.pipeline_id,
                        version_id: Some(version.pipeline_version_id),
                    }
                }
            };
            let run = submit_run(
                &cx,
                &kfp,
                &name,
                &experiment.experiment_id,
                &source,
                &p.parameters,
            )
            .await?;
            let watched = wait_for_run(
                &cx,
                &kfp.client,
                &run.run_id,
                run_deadline(&cx, p.run_timeout),
            )
            .await?;
            let what = spec.name().unwrap_or("pipeline").to_string();
            let subject = Subject::new("kfp-run", format!("{what} ({shown})"));
            let mut out = Outcome::default();
            match evaluate_run(&watched, subject, cx.spec.severity, &what) {
                Ok(note) => out
                    .notes
                    .push(format!("{note}, {} status poll(s)", watched.polls)),
                Err(f) => out.findings.push(*f),
            }
            Ok(out)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_validated_against_the_embedded_samples() {
        let ok = serde_json::json!({"pipeline": "pipelines/kfcheck-gpu-sample.yaml", "gpu": {"type": "nvidia-tesla-t4"}, "run_timeout": "2m"});
        assert!(KfpSampleRun.validate(&ok, &SuiteBase::Embedded).is_ok());
        assert!(KfpSampleRun
            .validate(
                &serde_json::json!({"pipeline": "pipelines/nope.yaml"}),
                &SuiteBase::Embedded
            )
            .is_err());
        assert!(KfpSampleRun.validate(&serde_json::json!({"pipeline": "pipelines/kfcheck-cpu-sample.yaml", "run_timeout": "soon"}), &SuiteBase::Embedded).is_err());
        let p: Params = typed_params(&ok).unwrap();
        let (_, s) = spec_of(&p, &SuiteBase::Embedded).unwrap();
        let sel = &s.platform.unwrap()["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
            ["exec-gpu-probe"]["nodeSelector"]["labels"];
        assert_eq!(
            sel["cloud.google.com/gke-accelerator"], "nvidia-tesla-t4",
            "the configured GPU type replaces the sample's"
        );
    }
}
