//! `kfcheck lint`: an ad-hoc `pipeline-lint` check over the given paths (and `pipeline-fit` with
//! `--cluster`), through the same runner and reporters as every other check.

use super::run::execute;
use crate::cli::{Global, LintArgs};
use crate::kinds::find_kind;
use crate::model::{AppOutput, ExitStatus, Severity};
use crate::suite::{CheckSpec, Selection, Suite, SuiteBase};
use std::path::PathBuf;

pub(crate) fn lint(g: &Global, args: &LintArgs) -> AppOutput {
    let mut rules = serde_json::Map::new();
    for r in &args.rules {
        let Some((id, level)) = r.split_once('=') else {
            return AppOutput::usage(format!("--rule {r}: expected RULE=off|info|warning|error"));
        };
        rules.insert(id.to_string(), serde_json::Value::String(level.to_string()));
    }
    // A path that does not exist (or cannot be looked at) is bad usage (exit 2), said truly; the
    // others are still inspected.
    let looked: Vec<(&PathBuf, std::io::Result<std::fs::Metadata>)> = args
        .paths
        .iter()
        .map(|p| (p, std::fs::symlink_metadata(p)))
        .collect();
    // `-` is standard input.
    let stdin = |p: &PathBuf| p.as_os_str() == "-";
    let present: Vec<&PathBuf> = looked
        .iter()
        .filter(|(p, m)| m.is_ok() || stdin(p))
        .map(|(p, _)| *p)
        .collect();
    let missing: Vec<String> = looked
        .iter()
        .filter(|(p, _)| !stdin(p))
        .filter_map(|(p, m)| m.as_ref().err().map(|e| (p, e)))
        .map(|(p, e)| match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!("kfcheck: {}: no such file or directory\n", p.display())
            }
            std::io::ErrorKind::PermissionDenied => {
                format!("kfcheck: {}: permission denied\n", p.display())
            }
            _ => format!("kfcheck: {}: {e}\n", p.display()),
        })
        .collect();
    if present.is_empty() {
        return AppOutput {
            stderr: missing.concat(),
            exit: Some(ExitStatus::Usage),
            ..Default::default()
        };
    }
    let mut params = serde_json::json!({
        "paths": present.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "rules": rules,
        "exclude": args.exclude,
        "strict": args.strict,
    });
    if let Some(o) = &args.owners {
        if let Err(e) = crate::clients::files::check_regular(o) {
            return AppOutput::usage(format!("--owners {}: {e}", o.display()));
        }
        params["owners"] = serde_json::Value::String(o.display().to_string());
    }
    if let Some(c) = &args.config {
        if let Err(e) = crate::pipeline::repo_config::load(c) {
            return AppOutput::usage(format!("--config {e}"));
        }
        params["config"] = serde_json::Value::String(c.display().to_string());
    } else if args.no_config {
        params["config"] = serde_json::Value::String("none".into());
    }
    let Some(kind) = find_kind("pipeline-lint") else {
        return AppOutput::usage("pipeline-lint kind missing");
    };
    let base = SuiteBase::Dir(PathBuf::new());
    if let Err(e) = kind.validate(&params, &base) {
        return AppOutput::usage(e);
    }
    let spec = CheckSpec {
        id: "lint".into(),
        kind,
        title: "Compiled pipelines are schedulable and pinned".into(),
        category: "pipelines".into(),
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
    let mut checks = vec![spec];
    if args.cluster {
        let Some(fit) = find_kind("pipeline-fit") else {
            return AppOutput::usage("pipeline-fit kind missing");
        };
        let mut params = serde_json::json!({
            "paths": checks[0].params["paths"].clone(),
            "exclude": checks[0].params["exclude"].clone(),
        });
        for key in ["owners", "config"] {
            if let Some(v) = checks[0].params.get(key) {
                params[key] = v.clone();
            }
        }
        checks.push(CheckSpec {
            id: "lint-cluster-fit".into(),
            kind: fit,
            title: "Every task fits a node of the live cluster".into(),
            params,
            ..checks[0].clone()
        });
    }
    let suite = Suite { checks };
    let g = Global {
        junit_per_file: args.junit_per_file,
        ..g.clone()
    };
    execute(&g, &suite, Selection::All, missing, args.cluster)
}
