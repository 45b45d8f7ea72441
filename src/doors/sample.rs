//! What every door submits: a compiled sample pipeline (embedded, or below a `--suite`
//! directory), in CPU mode as written or in GPU mode (a copy of its spec asking for a GPU, with
//! a node selector and toleration), and how long a door may wait for it.

use crate::assets::SuiteBase;
use crate::clients::kfp_spec::{CompiledSpec, GpuMode};
use serde::Deserialize;
use std::time::Duration;

/// CPU or GPU mode, as a check writes it (`mode: gpu`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Cpu,
    Gpu,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Cpu => "cpu",
            Mode::Gpu => "gpu",
        }
    }
}

/// GPU mode as a check writes it: `gpu: {type: nvidia-l4}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GpuParams {
    #[serde(default = "default_resource")]
    pub resource: String,
    #[serde(default = "one")]
    pub count: u32,
    /// Accelerator type for the node selector (`nvidia-l4`, `nvidia-tesla-t4`); none = no selector.
    #[serde(default, rename = "type")]
    pub gpu_type: Option<String>,
    #[serde(default = "default_selector_key")]
    pub node_selector_key: String,
    #[serde(default = "default_resource")]
    pub toleration_key: String,
}

fn default_resource() -> String {
    "nvidia.com/gpu".into()
}
fn one() -> u32 {
    1
}
fn default_selector_key() -> String {
    "cloud.google.com/gke-accelerator".into()
}

impl GpuParams {
    pub fn mode(&self) -> GpuMode {
        GpuMode {
            resource: self.resource.clone(),
            count: self.count,
            node_selector: self
                .gpu_type
                .clone()
                .map(|t| (self.node_selector_key.clone(), t)),
            toleration_key: self.toleration_key.clone(),
        }
    }
}

/// `run_timeout: 5m`.
pub(crate) mod duration {
    use std::time::Duration;
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Duration>, D::Error> {
        crate::units::deserialize_optional_duration(d, |_, e| format!("{e} (e.g. 5m)"))
    }
}

/// A sample ready to submit through any door.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Where it came from, as shown (`checks/pipelines/kfcheck-cpu-sample.yaml`).
    pub shown: String,
    /// The spec in the mode asked for.
    pub spec: CompiledSpec,
    pub mode: Mode,
    /// Run parameters.
    pub parameters: serde_json::Map<String, serde_json::Value>,
}

impl Sample {
    /// Loads `path` and puts it in `mode`: GPU mode with `gpu` settings rewrites a copy of the
    /// spec; GPU mode without them runs the sample's own GPU requests as written.
    pub fn load(
        base: &SuiteBase,
        path: &str,
        mode: Mode,
        gpu: Option<&GpuParams>,
        parameters: serde_json::Map<String, serde_json::Value>,
    ) -> Result<Sample, String> {
        let (shown, text) = load_pipeline(base, path)?;
        let spec = CompiledSpec::from_yaml(&text).map_err(|e| format!("{shown}: {e}"))?;
        let spec = match gpu {
            Some(g) => spec.with_gpu(&g.mode()),
            None => spec,
        };
        Ok(Sample {
            shown,
            spec,
            mode,
            parameters,
        })
    }

    /// kfcheck's GPU sample with its step running the loaded GPU probe from `image` (the
    /// `--probe-image`) instead of nvidia-smi: a copy of the spec, never the file.
    pub fn with_probe_image(mut self, image: &str) -> Result<Sample, String> {
        use super::gpu_line::{probe_step, SAMPLE_EXECUTOR};
        let (command, args) = probe_step("{{$.outputs.parameters['gpu_name'].output_file}}");
        self.spec = self
            .spec
            .with_container(SAMPLE_EXECUTOR, image, &command, &args)
            .ok_or_else(|| format!("{}: has no {SAMPLE_EXECUTOR} step", self.shown))?;
        Ok(self)
    }

    /// The pipeline's own name, else "pipeline".
    pub fn what(&self) -> &str {
        self.spec.name().unwrap_or("pipeline")
    }
}

/// How long to wait for a run: the check's `run_timeout`, else its timeout less a margin, so
/// that a run that never finishes is reported (and terminated) by the check rather than cut off.
pub(crate) fn run_deadline(check_timeout: Duration, run_timeout: Option<Duration>) -> Duration {
    let margin = (check_timeout / 10).clamp(Duration::from_secs(2), Duration::from_secs(30));
    run_timeout
        .unwrap_or_else(|| check_timeout.saturating_sub(margin))
        .min(check_timeout.saturating_sub(Duration::from_secs(1)))
}

/// A compiled pipeline named in a check: embedded (`pipelines/x.yaml`), or below the suite
/// directory (falling back to the embedded copy of the same path).
pub(crate) fn load_pipeline(base: &SuiteBase, path: &str) -> Result<(String, String), String> {
    let embedded = || {
        let full = if path.starts_with("checks/") {
            path.to_string()
        } else {
            format!("checks/{}", path.trim_start_matches("./"))
        };
        crate::assets::embedded(&full).map(|t| (full, t.to_string()))
    };
    match base {
        SuiteBase::Embedded => embedded().ok_or_else(|| format!("no embedded pipeline {path}")),
        SuiteBase::Dir(d) => {
            let p = d.join(path);
            match std::fs::read_to_string(&p) {
                Ok(t) => Ok((p.display().to_string(), t)),
                Err(e) => embedded().ok_or_else(|| format!("cannot read {}: {e}", p.display())),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gpu_params_default_to_nvidia_with_an_optional_selector() {
        let g: GpuParams =
            serde_json::from_value(serde_json::json!({"type": "nvidia-tesla-t4"})).unwrap();
        let m = g.mode();
        assert_eq!(m.resource, "nvidia.com/gpu");
        assert_eq!(
            m.node_selector,
            Some((
                "cloud.google.com/gke-accelerator".into(),
                "nvidia-tesla-t4".into()
            ))
        );
        assert!(serde_json::from_value::<GpuParams>(serde_json::json!({"typo": 1})).is_err());
    }

    #[test]
    fn a_probe_image_rewrites_a_copy_of_the_gpu_samples_step() {
        let load = |path: &str| {
            Sample::load(
                &SuiteBase::Embedded,
                path,
                Mode::Gpu,
                None,
                Default::default(),
            )
            .unwrap()
        };
        let s = load("pipelines/kfcheck-gpu-sample.yaml")
            .with_probe_image("registry.example/kfcheck:0.1.0")
            .unwrap();
        let c = &s.spec.pipeline["deploymentSpec"]["executors"]["exec-gpu-probe"]["container"];
        assert_eq!(c["image"], "registry.example/kfcheck:0.1.0");
        assert_eq!(c["command"], serde_json::json!(["/usr/local/bin/kfcheck"]));
        let args: Vec<&str> = c["args"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|a| a.as_str())
            .collect();
        assert_eq!(
            args,
            [
                "probe",
                "gpu",
                "--expect",
                "1",
                "--load",
                "--seconds",
                "10",
                "--output-file",
                "{{$.outputs.parameters['gpu_name'].output_file}}"
            ]
        );
        assert_eq!(
            c["resources"]["accelerator"]["resourceCount"], "1",
            "resources kept"
        );
        assert!(s.spec.platform.is_some(), "selector and toleration kept");
        let e = load("pipelines/kfcheck-cpu-sample.yaml")
            .with_probe_image("x")
            .unwrap_err();
        assert!(e.contains("has no exec-gpu-probe step"), "{e}");
    }
}
