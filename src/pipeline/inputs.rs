//! The pipelines a check names, as lint inputs: files compiled into the binary for the embedded
//! suite (a directory prefix selects all below it), files below the suite directory otherwise;
//! and one lint run turned into one check outcome. Shared by the lint and fit kinds.

use super::lint::{find_sources, FileReport, LintRun, Source};
use crate::assets::{embedded, SuiteBase, EMBEDDED};
use crate::model::Outcome;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Embedded paths resolve to files compiled into the binary (a directory prefix selects all below).
pub(crate) fn embedded_sources(path: &str) -> Vec<Source> {
    let prefix = path.trim_start_matches("./");
    let full = if prefix.starts_with("checks/") {
        prefix.to_string()
    } else {
        format!("checks/{prefix}")
    };
    if let Some(text) = embedded(&full) {
        return vec![Source::Embedded { name: full, text }];
    }
    let dir = format!("{}/", full.trim_end_matches('/'));
    EMBEDDED
        .iter()
        .filter(|(p, _)| p.starts_with(&dir))
        .map(|(p, t)| Source::Embedded {
            name: p.to_string(),
            text: t,
        })
        .collect()
}

/// `paths` names something, and in the embedded suite only pipelines compiled into the binary.
pub(crate) fn validate_paths(paths: &[String], base: &SuiteBase) -> Result<(), String> {
    if paths.is_empty() {
        return Err("`paths` must name at least one file or directory".into());
    }
    if *base == SuiteBase::Embedded {
        if let Some(path) = paths.iter().find(|x| embedded_sources(x).is_empty()) {
            return Err(format!("no embedded pipeline at '{path}'"));
        }
    }
    Ok(())
}

/// `exclude:` / `--exclude` globs, checked at load time.
pub(crate) fn exclude_set(globs: &[String]) -> Result<globset::GlobSet, String> {
    let mut b = globset::GlobSetBuilder::new();
    for g in globs {
        b.add(globset::Glob::new(g).map_err(|e| format!("exclude '{g}': {e}"))?);
    }
    b.build().map_err(|e| format!("exclude: {e}"))
}

/// The inputs named by `paths`: embedded files, or files below the suite directory (those that
/// `exclude` matches left out); plus one problem per path that does not exist.
pub(crate) fn sources(
    paths: &[String],
    base: &SuiteBase,
    exclude: &globset::GlobSet,
) -> (Vec<Source>, Vec<crate::model::Problem>) {
    match base {
        SuiteBase::Embedded => (
            paths.iter().flat_map(|x| embedded_sources(x)).collect(),
            Vec::new(),
        ),
        SuiteBase::Dir(_) => {
            let paths: Vec<PathBuf> = paths.iter().map(|x| base.resolve(x)).collect();
            find_sources(&paths, exclude)
        }
    }
}

/// Turns a lint run into one check outcome.
pub(crate) fn run_outcome(run: LintRun, extra_problems: Vec<crate::model::Problem>) -> Outcome {
    let mut problems = extra_problems;
    problems.extend(run.problems);
    let mut out = outcome(run.reports, problems);
    out.notes.extend(run.notes);
    out
}

/// Turns per-file reports into one check outcome.
pub(crate) fn outcome(
    reports: Vec<FileReport>,
    extra_problems: Vec<crate::model::Problem>,
) -> Outcome {
    let mut out = Outcome {
        problems: extra_problems,
        ..Outcome::default()
    };
    let mut by_format: BTreeMap<&str, usize> = BTreeMap::new();
    let mut tasks = 0;
    for r in &reports {
        if let Some(f) = r.format {
            *by_format.entry(f.as_str()).or_default() += 1;
            tasks += r.tasks;
        }
    }
    let formats: Vec<String> = by_format.iter().map(|(f, n)| format!("{n} {f}")).collect();
    let skipped = reports.iter().filter(|r| r.skipped.is_some()).count();
    out.notes.push(format!(
        "inspected {} pipeline file(s) ({}), {tasks} task(s){}",
        by_format.values().sum::<usize>(),
        if formats.is_empty() {
            "none parsed".into()
        } else {
            formats.join(", ")
        },
        if skipped > 0 {
            format!("; skipped {skipped} that are not pipelines")
        } else {
            String::new()
        }
    ));
    // Files found in directories that are no pipeline: one note, a few named.
    let skipped: Vec<String> = reports
        .iter()
        .filter_map(|r| {
            r.skipped
                .as_ref()
                .map(|why| format!("{}: {why}", r.display))
        })
        .collect();
    if !skipped.is_empty() {
        let more = skipped.len().saturating_sub(5);
        out.notes.push(format!(
            "skipped {} file(s) found in directories that are not compiled pipelines: {}{}; --strict makes them problems",
            skipped.len(),
            skipped[..skipped.len().min(5)].join(", "),
            if more > 0 { format!(" and {more} more") } else { String::new() }
        ));
    }
    // The files inspected, for reports that list them one by one (JUnit per file).
    let inspected: Vec<&str> = reports
        .iter()
        .filter(|r| r.skipped.is_none())
        .map(|r| r.display.as_str())
        .collect();
    out.figures = Some(serde_json::json!({ "lint_files": inspected }));
    // Nothing inspected proves nothing: never a pass.
    if reports.iter().all(|r| r.skipped.is_some()) && out.problems.is_empty() {
        out.problems.push(crate::model::Problem {
            subject: crate::model::Subject::new("paths", "pipeline files"),
            message: "no pipeline file to inspect".into(),
        });
    }
    for r in reports {
        if let Some(p) = r.problem() {
            out.problems.push(p);
        }
        out.findings.extend(r.findings);
        out.suppressed.extend(r.suppressed);
    }
    if !out.suppressed.is_empty() {
        out.notes.push(format!(
            "{} finding(s) suppressed by the repository's {}",
            out.suppressed.len(),
            super::repo_config::FILE_NAME
        ));
    }
    out
}
