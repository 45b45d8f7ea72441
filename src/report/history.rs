//! The run history (`--history DIR`): every run's JSON report kept as one file, named so that
//! names sort by when the run was kept (`20261202T214000123Z-<run id>.json`, to the
//! millisecond), written atomically (a reader never
//! sees half a report), pruned to a bounded count; and references to runs in it (`last`,
//! `last-good`, a run id or its prefix, or any report file) for `kfcheck diff` and `--baseline`.

use super::diff::ReportDoc;
use std::path::{Path, PathBuf};

/// The most reports read when listing or resolving; older ones are left on disk untouched.
pub const MAX_LISTED: usize = 10_000;

/// One kept run.
#[derive(Debug, Clone)]
pub struct Entry {
    pub path: PathBuf,
    pub doc: ReportDoc,
}

/// Why the history could not be used.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{0}: {1}")]
    Io(String, std::io::Error),
    #[error("{0}")]
    Reference(String),
}

fn io(path: &Path, e: std::io::Error) -> HistoryError {
    HistoryError::Io(path.display().to_string(), e)
}

/// `2026-12-02T21:40:00.123Z` → `20261202T214000123Z` (what a file name can hold anywhere;
/// milliseconds keep runs of the same second in order).
fn stamp(started_at: &str) -> String {
    started_at
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect()
}

/// The file name a run is kept under; `kept_at` is an RFC 3339 time.
pub fn file_name(kept_at: &str, run_id: &str) -> String {
    let id: String = run_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    format!("{}-{id}.json", stamp(kept_at))
}

/// Writes one run's JSON report into `dir` (created if missing), then removes the oldest kfcheck
/// reports beyond `keep`. Only files this module names are ever removed.
pub fn record(dir: &Path, run_id: &str, json: &str, keep: usize) -> Result<PathBuf, HistoryError> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    let now = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
    let name = file_name(&now, run_id);
    let path = dir.join(&name);
    // Atomic, and a planted temporary or symlink is never followed (sink.rs).
    super::write_report(&path, json).map_err(|e| io(&path, e))?;
    let mut names = report_files(dir)?;
    if names.len() > keep {
        names.sort();
        for old in &names[..names.len() - keep] {
            std::fs::remove_file(old).map_err(|e| io(old, e))?;
        }
    }
    Ok(path)
}

/// The report files kfcheck wrote in `dir` (`<stamp>-<id>.json`), unsorted.
fn report_files(dir: &Path) -> Result<Vec<PathBuf>, HistoryError> {
    let entries = std::fs::read_dir(dir).map_err(|e| io(dir, e))?;
    Ok(entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|x| x == "json")
                && p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.len() > 17 && n.as_bytes()[8] == b'T' && !n.starts_with('.'))
        })
        .collect())
}

/// The runs in `dir`, oldest first; files that are not readable reports are named in `skipped`.
pub fn list(dir: &Path) -> Result<(Vec<Entry>, Vec<String>), HistoryError> {
    let mut files = report_files(dir)?;
    files.sort();
    let start = files.len().saturating_sub(MAX_LISTED);
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    for path in &files[start..] {
        match ReportDoc::read(path) {
            Ok(doc) => entries.push(Entry {
                path: path.clone(),
                doc,
            }),
            Err(e) => skipped.push(e),
        }
    }
    Ok((entries, skipped))
}

/// A run named by `reference`: a report file, or in `history`: `last`, `last-good` (the latest
/// run whose verdict was ready), or a run id (a unique prefix is enough).
pub fn resolve(reference: &str, history: Option<&Path>) -> Result<Option<Entry>, HistoryError> {
    resolve_with(reference, history, &mut None)
}

/// [`resolve`] reading the history's reports at most once for several references (`listed`
/// holds them after the first).
pub fn resolve_with(
    reference: &str,
    history: Option<&Path>,
    listed: &mut Option<Vec<Entry>>,
) -> Result<Option<Entry>, HistoryError> {
    let as_file = Path::new(reference);
    if as_file.is_file() {
        let doc = ReportDoc::read(as_file).map_err(HistoryError::Reference)?;
        return Ok(Some(Entry {
            path: as_file.to_path_buf(),
            doc,
        }));
    }
    let Some(dir) = history else {
        return Err(HistoryError::Reference(format!(
            "{reference}: no such report file (run references such as last and last-good need --history DIR)"
        )));
    };
    if !dir.is_dir() {
        return Ok(None);
    }
    if listed.is_none() {
        *listed = Some(list(dir)?.0);
    }
    let entries = listed.as_deref().unwrap_or_default();
    let found = match reference {
        "last" => entries.last().cloned(),
        "last-good" => entries
            .iter()
            .rev()
            .find(|e| e.doc.verdict == "ready")
            .cloned(),
        id => {
            let hits: Vec<&Entry> = entries
                .iter()
                .filter(|e| e.doc.run_id.starts_with(id))
                .collect();
            match hits.as_slice() {
                [] => {
                    return Err(HistoryError::Reference(format!(
                        "{id}: no report file, and no run in {} with that id",
                        dir.display()
                    )))
                }
                [one] => Some((*one).clone()),
                many => {
                    return Err(HistoryError::Reference(format!(
                        "{id}: {} runs in {} start with that id; give more of it",
                        many.len(),
                        dir.display()
                    )))
                }
            }
        }
    };
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(run_id: &str, verdict: &str) -> String {
        format!(
            r#"{{"schema_version":1,"run_id":"{run_id}","started_at":"2026-12-02T21:40:00Z","duration_ms":5,"exit_code":0,"verdict":"{verdict}","checks":[]}}"#
        )
    }

    #[test]
    fn records_sort_prune_and_resolve() {
        let d = tempfile::tempdir().unwrap();
        for (i, v) in ["ready", "not-ready", "ready", "undecided"]
            .iter()
            .enumerate()
        {
            let id = format!("run{i}");
            let p = record(d.path(), &id, &doc(&id, v), 3).unwrap();
            let name = p.file_name().unwrap().to_str().unwrap().to_string();
            assert!(
                name.ends_with(&format!("Z-{id}.json")) && name.len() == 29,
                "{name}"
            );
            // Runs kept within one millisecond would share a stamp; real ones never do.
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        assert_eq!(
            file_name("2026-12-02T21:40:00.123Z", "ab/c"),
            "20261202T214000123Z-abc.json"
        );
        // A file of someone else's beside them is never removed or read.
        std::fs::write(d.path().join("notes.json"), "{}").unwrap();
        let (entries, skipped) = list(d.path()).unwrap();
        let ids: Vec<&str> = entries.iter().map(|e| e.doc.run_id.as_str()).collect();
        assert_eq!(ids, ["run1", "run2", "run3"], "pruned to the newest three");
        assert!(skipped.is_empty());
        assert!(d.path().join("notes.json").exists());
        let get = |r: &str| resolve(r, Some(d.path())).unwrap().map(|e| e.doc.run_id);
        assert_eq!(get("last").as_deref(), Some("run3"));
        assert_eq!(get("last-good").as_deref(), Some("run2"));
        assert_eq!(get("run1").as_deref(), Some("run1"));
        assert!(resolve("run", Some(d.path())).is_err(), "ambiguous");
        assert!(resolve("nope", Some(d.path())).is_err());
        assert!(resolve("last", None).is_err(), "needs --history");
        let empty = tempfile::tempdir().unwrap();
        assert!(resolve("last-good", Some(&empty.path().join("none")))
            .unwrap()
            .is_none());
    }
}
