//! `pipeline-lint`: inspects compiled pipeline YAML (KFP v2 IR, KFP v1 Argo, Tekton) for resource,
//! accelerator, scheduling and image problems, addressed to each pipeline's owner.

use super::{typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::model::Severity;
use crate::pipeline::inputs::{exclude_set, run_outcome, sources, validate_paths};
#[cfg(test)]
use crate::pipeline::lint::lint_sources;
use crate::pipeline::lint::{lint_run, LintOptions};
use crate::pipeline::repo_config::ConfigChoice;
use crate::pipeline::rules::{find_rule, LintConfig};
use futures::future::BoxFuture;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::time::Duration;

pub struct PipelineLint;

static META: KindMeta = KindMeta {
    name: "pipeline-lint",
    needs: &[],
    effect: Effect::ReadOnly,
    creates: &[],
    rules: &[],
    default_timeout: Duration::from_secs(120),
    what: "Compiled pipelines request valid CPU, memory and GPU resources, reach GPU nodes with matching selectors and tolerations, and pin their images.",
    why: "These mistakes pass compilation and upload, then fail or hang only when a run reaches the step, often hours into a pipeline.",
    fix: "Fix the pipeline source as each finding's remediation says and recompile; kfcheck never edits the YAML.",
    params: &[
        ("paths", "files or directories of compiled pipelines, relative to the suite directory (embedded suite: checks/pipelines/)"),
        ("rules", "map of rule id to off, info, warning or error, overriding the rule's default severity"),
        ("require_requests", "resources every task must request or limit (default: [cpu, memory])"),
        ("exclude", "globs of files or directories to leave out, relative to each directory named or as names (e.g. ci/**, kustomization.yaml)"),
        ("strict", "files found in directories that are not compiled pipelines are problems instead of skipped with a note (default false)"),
        ("owners", "CODEOWNERS file to use instead of discovering one per repository"),
        ("config", "a .kfcheck.yaml whose suppressions apply to every file, instead of the nearest one above each file (up to the repository root); none turns them off"),
    ],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    paths: Vec<String>,
    #[serde(default)]
    rules: BTreeMap<String, String>,
    #[serde(default)]
    require_requests: Option<Vec<String>>,
    #[serde(default)]
    owners: Option<String>,
    /// A repository config for every file, or `none`; absent: discovered per file.
    #[serde(default)]
    config: Option<String>,
    /// Globs of files and directories left out (relative to each directory named, or names).
    #[serde(default)]
    exclude: Vec<String>,
    /// Files found in directories that are no pipeline are problems instead of skipped.
    #[serde(default)]
    strict: bool,
}

/// Parses `off|info|warning|error` per rule id; errors name the rule.
pub(crate) fn severity_overrides(
    rules: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, Option<Severity>>, String> {
    rules
        .iter()
        .map(|(id, level)| {
            if find_rule(id).is_none() {
                return Err(format!(
                    "unknown rule '{id}' (see `kfcheck explain pipeline-lint`)"
                ));
            }
            let sev = if level == "off" {
                None
            } else {
                Some(
                    level
                        .parse::<Severity>()
                        .map_err(|e| format!("rule '{id}': {e}"))?,
                )
            };
            Ok((id.clone(), sev))
        })
        .collect()
}

fn options(p: &Params, base: &SuiteBase) -> Result<LintOptions, String> {
    Ok(LintOptions {
        config: LintConfig {
            require_requests: p
                .require_requests
                .clone()
                .unwrap_or_else(|| LintConfig::default().require_requests),
        },
        severities: severity_overrides(&p.rules)?,
        owners_file: p.owners.as_ref().map(|o| base.resolve(o)),
        strict: p.strict,
        repo_config: ConfigChoice::from_param(p.config.as_deref(), |c| base.resolve(c)),
        ..LintOptions::default()
    })
}

impl Kind for PipelineLint {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, base: &SuiteBase) -> Result<(), String> {
        let p: Params = typed_params(params)?;
        validate_paths(&p.paths, base)?;
        exclude_set(&p.exclude)?;
        options(&p, base).map(|_| ())
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let p: Params = cx.params()?;
            let opts = options(&p, &cx.spec.base).map_err(CheckError::Undecided)?;
            let base = cx.spec.base.clone();
            // Parsing is CPU work: keep it off the async workers.
            tokio::task::spawn_blocking(move || {
                let exclude = exclude_set(&p.exclude).map_err(CheckError::Undecided)?;
                let (sources, problems) = sources(&p.paths, &base, &exclude);
                Ok(run_outcome(lint_run(&sources, &opts), problems))
            })
            .await
            .map_err(|e| CheckError::Undecided(format!("lint worker failed: {e}")))?
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::inputs::{embedded_sources, outcome};
    use serde_json::json;
    use std::path::PathBuf;

    #[test]
    fn params_are_validated() {
        let k = PipelineLint;
        assert!(k
            .validate(&json!({"paths": ["pipelines/"]}), &SuiteBase::Embedded)
            .is_ok());
        assert!(k
            .validate(&json!({"paths": ["nope/"]}), &SuiteBase::Embedded)
            .is_err());
        assert!(k
            .validate(&json!({"paths": []}), &SuiteBase::Embedded)
            .is_err());
        assert!(k
            .validate(
                &json!({"paths": ["x"], "extra": 1}),
                &SuiteBase::Dir("d".into())
            )
            .unwrap_err()
            .contains("unknown field"));
        assert!(k
            .validate(
                &json!({"paths": ["x"], "rules": {"no-such": "error"}}),
                &SuiteBase::Dir("d".into())
            )
            .unwrap_err()
            .contains("unknown rule"));
        assert!(k
            .validate(
                &json!({"paths": ["x"], "rules": {"image-unpinned": "loud"}}),
                &SuiteBase::Dir("d".into())
            )
            .unwrap_err()
            .contains("unknown severity"));
        assert!(k
            .validate(
                &json!({"paths": ["x"], "rules": {"image-unpinned": "off"}}),
                &SuiteBase::Dir("d".into())
            )
            .is_ok());
    }

    #[test]
    fn linting_no_pipeline_file_is_not_a_pass() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let (srcs, problems) = sources(
            &[dir.path().display().to_string()],
            &SuiteBase::Dir(PathBuf::new()),
            &globset::GlobSet::empty(),
        );
        let out = outcome(lint_sources(&srcs, &LintOptions::default()), problems);
        assert!(out.findings.is_empty());
        assert_eq!(out.problems.len(), 1, "{:?}", out.problems);
        assert!(
            out.problems[0].message.starts_with("no pipeline files"),
            "{}",
            out.problems[0].message
        );
        let out = outcome(Vec::new(), Vec::new());
        assert_eq!(out.problems[0].message, "no pipeline file to inspect");
    }

    #[test]
    fn bundled_samples_are_clean() {
        let sources = embedded_sources("pipelines/");
        assert!(sources.len() >= 2, "bundled samples missing");
        for r in lint_sources(&sources, &LintOptions::default()) {
            assert!(r.error.is_none(), "{}: {:?}", r.display, r.error);
            let bad: Vec<_> = r
                .findings
                .iter()
                .filter(|f| f.severity >= Severity::Warning)
                .collect();
            assert!(bad.is_empty(), "{}: {bad:#?}", r.display);
        }
    }
}
