//! `kfcheck apply-check FILE...`: an ad-hoc `apply-dry-run` check of the given YAML files against
//! the live cluster (a server-side dry run of every object), through the same runner and
//! reporters as every other check. A cluster it cannot reach is an error, not a skip.

use super::run::execute;
use crate::cli::Global;
use crate::kinds::find_kind;
use crate::model::{AppOutput, ExitStatus, Severity};
use crate::suite::{CheckSpec, Selection, Suite, SuiteBase};
use std::path::PathBuf;

pub(crate) fn apply_check(g: &Global, files: &[PathBuf]) -> AppOutput {
    // A file that cannot be read is bad usage (exit 2), said truly; the others are still checked.
    let mut missing = Vec::new();
    let mut present = Vec::new();
    for f in files {
        match crate::clients::files::check_regular(f) {
            Ok(()) => present.push(f.display().to_string()),
            Err(e) => missing.push(format!("kfcheck: {}: {e}\n", f.display())),
        }
    }
    if present.is_empty() {
        return AppOutput {
            stderr: missing.concat(),
            exit: Some(ExitStatus::Usage),
            ..Default::default()
        };
    }
    let Some(kind) = find_kind("apply-dry-run") else {
        return AppOutput::usage("apply-dry-run kind missing");
    };
    let params = serde_json::json!({ "paths": present });
    let base = SuiteBase::Dir(PathBuf::new());
    if let Err(e) = kind.validate(&params, &base) {
        return AppOutput::usage(e);
    }
    let spec = CheckSpec {
        id: "apply-check".into(),
        kind,
        title: "The cluster accepts every object in a server-side dry run".into(),
        category: "apply".into(),
        also_in: Vec::new(),
        severity: Severity::Error,
        severity_override: None,
        timeout: g.timeout,
        enabled: true,
        description: None,
        params,
        base,
        origin: "command line".into(),
    };
    let suite = Suite { checks: vec![spec] };
    execute(g, &suite, Selection::All, missing, true)
}
