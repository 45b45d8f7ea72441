//! Runs the rules over files: reads each input safely (size, type and encoding checked first),
//! parses it, evaluates every enabled rule and attaches severities and owners. Files are
//! processed in parallel and independently: one bad file never stops the others, and memory
//! stays bounded by the largest single file.

use super::model::Format;
use super::owners::OwnerResolver;
use super::parse::{parse_pipeline, ParseError};
use super::repo_config::Configs;
use super::rules::{LintConfig, RULES};
use crate::model::{Finding, Problem, Severity, Subject};
use rayon::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The KFP API refuses pipeline files larger than this (`MaxFileLength`), so neither do we read them.
pub const MAX_FILE_BYTES: u64 = 32 << 20;
/// Directory levels walked below each path given. Directory links are never followed, so the
/// walk cannot loop; the bound only keeps a hostile tree from costing unbounded time, and a
/// directory below it is reported, never silently left out.
pub const MAX_WALK_DEPTH: usize = 256;

/// One input: a file on disk (named, or found in a named directory), or a pipeline embedded in
/// the kfcheck binary.
#[derive(Debug, Clone)]
pub enum Source {
    Path(PathBuf),
    /// Found by walking a directory: when it is no pipeline at all (a kustomization, a CI
    /// config), it is skipped with a note unless the run is strict.
    Found(PathBuf),
    /// Standard input (`-`).
    Stdin,
    Embedded {
        name: String,
        text: &'static str,
    },
}

impl Source {
    pub fn display(&self) -> String {
        match self {
            Source::Path(p) | Source::Found(p) => p.display().to_string(),
            Source::Stdin => "-".to_string(),
            Source::Embedded { name, .. } => name.clone(),
        }
    }

    fn path(&self) -> Option<&Path> {
        match self {
            Source::Path(p) | Source::Found(p) => Some(p),
            Source::Embedded { .. } | Source::Stdin => None,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct LintOptions {
    pub config: LintConfig,
    /// Per-rule severity overrides; `None` turns the rule off.
    pub severities: BTreeMap<String, Option<Severity>>,
    /// Explicit CODEOWNERS file (`--owners`); otherwise discovered per repository.
    pub owners_file: Option<PathBuf>,
    /// Nodes of a live cluster: when set, every task is also checked for a node that fits it.
    pub fit: Option<std::sync::Arc<Vec<super::fit::FitNode>>>,
    /// Only the cluster fit (the static rules run in their own check).
    pub skip_static_rules: bool,
    /// Files found in directories that are no pipeline are problems, not skipped.
    pub strict: bool,
    /// Which repository configs (`.kfcheck.yaml`) suppress findings.
    pub repo_config: super::repo_config::ConfigChoice,
}

pub use super::fit::{FIT_RULE, FIT_UNDECIDED_RULE};

/// The outcome for one file.
#[derive(Debug, Clone)]
pub struct FileReport {
    pub display: String,
    pub format: Option<Format>,
    pub pipeline: Option<String>,
    pub tasks: usize,
    pub findings: Vec<Finding>,
    pub error: Option<ParseError>,
    /// Not inspected: found in a directory, and no pipeline (why, in a few words).
    pub skipped: Option<String>,
    /// Findings a repository config suppressed.
    pub suppressed: Vec<crate::model::Suppressed>,
}

impl FileReport {
    pub fn problem(&self) -> Option<Problem> {
        self.error
            .as_ref()
            .filter(|_| self.skipped.is_none())
            .map(|e| Problem {
                subject: Subject::new("file", self.display.clone())
                    .in_file(self.display.clone(), e.line),
                message: e.message.clone(),
            })
    }
}

/// Expands directories into the pipeline files below them (`.yaml`, `.yml`, `.json`, sorted,
/// hidden directories skipped). Returns the files and one problem per path that does not exist,
/// per directory that holds no pipeline file, and per directory left out below
/// [`MAX_WALK_DEPTH`].
pub fn expand_paths(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<Problem>) {
    let (sources, problems) = find_sources(paths, &globset::GlobSet::empty());
    let files = sources
        .into_iter()
        .filter_map(|s| s.path().map(Path::to_path_buf))
        .collect();
    (files, problems)
}

/// [`expand_paths`] as lint inputs: a named file is a [`Source::Path`], a file found below a
/// named directory a [`Source::Found`]; what `exclude` matches (a path relative to the named
/// directory, or a file or directory name) is left out, directories without being walked.
pub fn find_sources(paths: &[PathBuf], exclude: &globset::GlobSet) -> (Vec<Source>, Vec<Problem>) {
    let mut files = Vec::new();
    let mut problems = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            // Standard input, read once however often it is named.
            if !files.iter().any(|s| matches!(s, Source::Stdin)) {
                files.push(Source::Stdin);
            }
            continue;
        }
        match std::fs::metadata(p) {
            Ok(m) if m.is_dir() => {
                let before = files.len();
                let mut found = Vec::new();
                walk(p, exclude, &mut found, &mut problems);
                files.extend(found.into_iter().map(Source::Found));
                if files.len() == before {
                    problems.push(dir_problem(
                        p,
                        format!(
                            "no pipeline files (.yaml, .yml, .json) found under {}",
                            p.display()
                        ),
                    ));
                }
            }
            Ok(_) => files.push(Source::Path(p.clone())),
            Err(e) => problems.push(Problem {
                subject: Subject::new("file", p.display().to_string())
                    .in_file(p.display().to_string(), None),
                message: format!("cannot read path: {}", io_reason(&e)),
            }),
        }
    }
    (files, problems)
}

/// Whether `--exclude` leaves `path` (below the walked directory `top`) out.
fn excluded(exclude: &globset::GlobSet, top: &Path, path: &Path) -> bool {
    if exclude.is_empty() {
        return false;
    }
    let rel = path.strip_prefix(top).unwrap_or(path);
    exclude.is_match(rel) || path.file_name().is_some_and(|n| exclude.is_match(n))
}

fn dir_problem(dir: &Path, message: String) -> Problem {
    Problem {
        subject: Subject::new("directory", dir.display().to_string())
            .in_file(dir.display().to_string(), None),
        message,
    }
}

/// Depth-first in sorted order (a directory's entries where it sorts among its siblings), with
/// an explicit stack of directories being listed instead of recursion.
fn walk(
    top: &Path,
    exclude: &globset::GlobSet,
    files: &mut Vec<PathBuf>,
    problems: &mut Vec<Problem>,
) {
    let mut stack: Vec<std::vec::IntoIter<(PathBuf, bool)>> = Vec::new();
    if let Some(children) = list_dir(top, problems) {
        stack.push(children.into_iter());
    }
    while let Some(level) = stack.last_mut() {
        let Some((child, is_dir)) = level.next() else {
            stack.pop();
            continue;
        };
        if excluded(exclude, top, &child) {
            continue;
        }
        if !is_dir {
            if child
                .extension()
                .is_some_and(|x| x == "yaml" || x == "yml" || x == "json")
            {
                files.push(child);
            }
        } else if stack.len() > MAX_WALK_DEPTH {
            problems.push(dir_problem(
                &child,
                format!(
                    "directory is nested more than {MAX_WALK_DEPTH} levels below {}; not inspected",
                    top.display()
                ),
            ));
        } else if let Some(children) = list_dir(&child, problems) {
            stack.push(children.into_iter());
        }
    }
}

/// The visible entries of `dir`, sorted, each with whether it is a directory; `None` (and a
/// problem) when it cannot be listed.
fn list_dir(dir: &Path, problems: &mut Vec<Problem>) -> Option<Vec<(PathBuf, bool)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(Problem {
                subject: Subject::new("file", dir.display().to_string())
                    .in_file(dir.display().to_string(), None),
                message: format!("cannot list directory: {}", io_reason(&e)),
            });
            return None;
        }
    };
    // The entry's own type (no extra syscall on Linux): directory links are never followed (no
    // loops); file links are read.
    let mut children: Vec<(PathBuf, bool)> = entries
        .filter_map(|e| e.ok())
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .map(|e| (e.path(), e.file_type().map(|t| t.is_dir()).unwrap_or(false)))
        .collect();
    children.sort_unstable_by(|a, b| a.0.as_os_str().cmp(b.0.as_os_str()));
    Some(children)
}

fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or directory".into(),
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        _ => e.to_string(),
    }
}

/// Reads a file with every guard first: regular file, not empty, at most [`MAX_FILE_BYTES`],
/// UTF-8 text without NUL bytes.
pub fn read_pipeline_file(path: &Path) -> Result<String, ParseError> {
    let mut buf = Vec::new();
    read_checked(path, &mut buf)?;
    Ok(String::from_utf8(buf).unwrap_or_default())
}

/// [`read_pipeline_file`] into a reusable buffer; returns the text borrowed from it.
fn read_checked<'b>(path: &Path, buf: &'b mut Vec<u8>) -> Result<&'b str, ParseError> {
    use std::io::Read;
    let reason =
        |e: std::io::Error| ParseError::new(format!("cannot read file: {}", io_reason(&e)));
    let meta = std::fs::metadata(path).map_err(reason)?;
    if !meta.is_file() {
        // Checked before opening: opening a FIFO would block.
        return Err(ParseError::new("not a regular file"));
    }
    if meta.len() == 0 {
        return Err(ParseError::not_a_pipeline("empty file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(ParseError::new(format!(
            "file is {:.1} MB, over the 32 MiB limit of the KFP API; not inspected",
            meta.len() as f64 / 1e6
        )));
    }
    buf.clear();
    buf.reserve(meta.len() as usize + 1);
    // `take` keeps a file that grows while being read within the limit.
    std::fs::File::open(path)
        .and_then(|f| f.take(MAX_FILE_BYTES + 1).read_to_end(buf))
        .map_err(reason)?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(ParseError::new(
            "file grew over the 32 MiB limit while being read; not inspected",
        ));
    }
    text_of(buf)
}

/// Standard input (`kfcheck lint -`), read to its end within [`MAX_FILE_BYTES`].
fn read_stdin(buf: &mut Vec<u8>) -> Result<&str, ParseError> {
    use std::io::Read;
    buf.clear();
    std::io::stdin()
        .lock()
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(buf)
        .map_err(|e| ParseError::new(format!("cannot read standard input: {}", io_reason(&e))))?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        return Err(ParseError::new(
            "standard input is over the 32 MiB limit of the KFP API; not inspected",
        ));
    }
    text_of(buf)
}

/// Bytes read as pipeline text: no NUL bytes, valid UTF-8.
fn text_of(buf: &[u8]) -> Result<&str, ParseError> {
    if memchr::memchr(0, buf).is_some() {
        return Err(ParseError::new(
            "binary file (contains NUL bytes), not YAML",
        ));
    }
    std::str::from_utf8(buf).map_err(|e| {
        ParseError::new(format!(
            "not UTF-8 text (invalid byte at offset {})",
            e.valid_up_to()
        ))
    })
}

thread_local! {
    /// One read buffer per worker thread, reused for every file it lints.
    static READ_BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Lints one text; `display` names it in findings.
pub fn lint_text(display: &str, text: &str, opts: &LintOptions) -> FileReport {
    let mut report = FileReport {
        display: display.to_string(),
        format: None,
        pipeline: None,
        tasks: 0,
        findings: Vec::new(),
        error: None,
        skipped: None,
        suppressed: Vec::new(),
    };
    if text.trim().is_empty() {
        report.error = Some(ParseError::not_a_pipeline("empty file"));
        return report;
    }
    let pipeline = match parse_pipeline(text) {
        Ok(p) => p,
        Err(e) => {
            report.error = Some(e);
            return report;
        }
    };
    report.format = Some(pipeline.format);
    report.pipeline = pipeline.name.clone();
    report.tasks = pipeline.tasks.len();
    // A hit becomes a finding at the rule's severity, unless the suite turned the rule off.
    let severity = |rule: &str, default: Severity| match opts.severities.get(rule) {
        Some(None) => None,
        Some(Some(s)) => Some(*s),
        None => Some(default),
    };
    let finding = |rule: &str, severity: Severity, hit: super::rules::Hit| Finding {
        rule: rule.to_string(),
        severity,
        message: hit.message,
        subject: Subject::new("pipeline-task", hit.task).in_file(display.to_string(), hit.line),
        evidence: hit.evidence,
        remediation: hit.remediation,
        owner: None,
    };
    for rule in RULES.iter().filter(|_| !opts.skip_static_rules) {
        let Some(sev) = severity(rule.id, rule.default_severity) else {
            continue;
        };
        for hit in (rule.evaluate)(&pipeline, &opts.config) {
            report.findings.push(finding(rule.id, sev, hit));
        }
    }
    if let Some(nodes) = &opts.fit {
        for task in &pipeline.tasks {
            let (rule, default, hit) = match super::fit::fit(task, nodes) {
                Ok(None) => continue,
                Ok(Some(hit)) => (FIT_RULE, Severity::Error, hit),
                Err(why) => (
                    FIT_UNDECIDED_RULE,
                    Severity::Info,
                    super::rules::Hit::on(task, "fit against the cluster cannot be decided before run time", "Nothing to do unless the parameter's value is known; kfcheck checks literal values only.")
                        .with(crate::model::Evidence::new("why", why)),
                ),
            };
            if let Some(sev) = severity(rule, default) {
                report.findings.push(finding(rule, sev, hit));
            }
        }
    }
    report.findings.sort_by(|a, b| {
        (a.subject.line, &a.subject.name, &a.rule).cmp(&(b.subject.line, &b.subject.name, &b.rule))
    });
    report
}

fn lint_one(source: &Source, opts: &LintOptions) -> FileReport {
    let mut report = read_and_lint(source, opts);
    if let (Source::Found(_), Some(e), false) = (source, &report.error, opts.strict) {
        if e.not_a_pipeline {
            // "not a compiled pipeline (found v1 ConfigMap): expected ..." -> "found v1 ConfigMap"
            let head = e.message.split(':').next().unwrap_or_default();
            let why = head
                .split_once(" (")
                .map_or(head, |(_, found)| found.trim_end_matches(')'));
            report.skipped = Some(why.to_string());
        }
    }
    report
}

fn read_and_lint(source: &Source, opts: &LintOptions) -> FileReport {
    match source {
        Source::Embedded { name, text } => lint_text(name, text, opts),
        Source::Stdin => {
            let mut buf = Vec::new();
            match read_stdin(&mut buf) {
                Ok(text) => lint_text("-", text, opts),
                Err(e) => FileReport {
                    display: "-".into(),
                    format: None,
                    pipeline: None,
                    tasks: 0,
                    findings: Vec::new(),
                    error: Some(e),
                    skipped: None,
                    suppressed: Vec::new(),
                },
            }
        }
        Source::Path(p) | Source::Found(p) => match READ_BUF.with(|buf| {
            let mut buf = buf.borrow_mut();
            read_checked(p, &mut buf).map(|text| lint_text(&p.display().to_string(), text, opts))
        }) {
            Ok(report) => report,
            Err(e) => FileReport {
                display: p.display().to_string(),
                format: None,
                pipeline: None,
                tasks: 0,
                findings: Vec::new(),
                error: Some(e),
                skipped: None,
                suppressed: Vec::new(),
            },
        },
    }
}

/// The reports of a lint run, plus notes about it (a CODEOWNERS file that was not used, a
/// suppression that matched nothing) and the repository configs that could not be read.
#[derive(Debug, Clone, Default)]
pub struct LintRun {
    pub reports: Vec<FileReport>,
    pub notes: Vec<String>,
    pub problems: Vec<Problem>,
}

/// Lints every source in parallel and attaches owners to findings. Output order is the input
/// order.
pub fn lint_sources(sources: &[Source], opts: &LintOptions) -> Vec<FileReport> {
    lint_run(sources, opts).reports
}

/// [`lint_sources`] with the run's notes.
pub fn lint_run(sources: &[Source], opts: &LintOptions) -> LintRun {
    let paths: Vec<&Path> = sources.iter().filter_map(Source::path).collect();
    // Owner lookups (git history) run while the files are linted.
    let pending = OwnerResolver::new(opts.owners_file.clone()).start(&paths);
    // Repository configs: found and read once each, before the parallel part.
    let mut configs = Configs::new(opts.repo_config.clone());
    let applied: Vec<_> = sources
        .iter()
        .map(|s| configs.for_input(s.path()))
        .collect();
    let mut reports: Vec<FileReport> = sources.par_iter().map(|s| lint_one(s, opts)).collect();
    let (owners, notes) = pending.finish_with_notes();
    for (source, report) in sources.iter().zip(reports.iter_mut()) {
        if report.findings.is_empty() {
            continue;
        }
        let owner = match source.path() {
            None => "kfcheck (bundled sample)".to_string(),
            Some(p) => owners
                .get(p)
                .cloned()
                .unwrap_or_else(|| "unknown".to_string()),
        };
        for f in &mut report.findings {
            f.owner = Some(owner.clone());
        }
    }
    // Suppressions last, so a suppressed finding keeps its owner.
    let mut problems: Vec<Problem> = Vec::new();
    for ((source, report), applied) in sources.iter().zip(reports.iter_mut()).zip(applied) {
        match applied {
            None => {}
            Some(Ok(a)) => {
                let findings = std::mem::take(&mut report.findings);
                let (kept, gone) = a.apply(source.path(), report.pipeline.as_deref(), findings);
                report.findings = kept;
                report.suppressed = gone;
            }
            // One problem per config, however many files it governs; their findings stand.
            Some(Err(e))
                if !problems
                    .iter()
                    .any(|p| p.subject.name == e.file && p.message == e.message) =>
            {
                problems.push(Problem {
                    subject: Subject::new("file", e.file.clone()).in_file(e.file.clone(), e.line),
                    message: e.message.clone(),
                });
            }
            Some(Err(_)) => {}
        }
    }
    let mut notes = notes;
    notes.extend(configs.notes());
    LintRun {
        reports,
        notes,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn bad_files_get_one_clear_error_each() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.yaml");
        std::fs::write(&empty, "").unwrap();
        let binary = dir.path().join("bin.yaml");
        std::fs::write(&binary, [0u8, 159, 146, 150]).unwrap();
        let latin = dir.path().join("latin.yaml");
        std::fs::write(&latin, [b'a', b':', b' ', 0xE9, b'\n']).unwrap();
        let big = dir.path().join("big.yaml");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_FILE_BYTES + 1).unwrap();
        let fifo_like = dir.path().join("sub");
        std::fs::create_dir(&fifo_like).unwrap();
        let cases = [
            (empty, "empty file"),
            (binary, "binary file"),
            (latin, "not UTF-8"),
            (big, "over the 32 MiB limit"),
            (fifo_like, "not a regular file"),
            (dir.path().join("missing.yaml"), "no such file"),
        ];
        for (path, want) in cases {
            let err = read_pipeline_file(&path).unwrap_err();
            assert!(
                err.message.contains(want),
                "{}: {}",
                path.display(),
                err.message
            );
        }
    }

    #[test]
    fn walk_finds_yaml_and_skips_hidden() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/.git")).unwrap();
        for f in [
            "a/p.yaml",
            "a/q.yml",
            "a/r.json",
            "a/notes.txt",
            "a/.git/x.yaml",
        ] {
            let mut h = std::fs::File::create(dir.path().join(f)).unwrap();
            writeln!(h, "x: 1").unwrap();
        }
        let (files, missing) = expand_paths(&[dir.path().to_path_buf(), dir.path().join("nope")]);
        let names: Vec<String> = files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into())
            .collect();
        assert_eq!(names, vec!["p.yaml", "q.yml", "r.json"]);
        assert_eq!(missing.len(), 1);
    }

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    const UNPINNED: &str = "deploymentSpec:\n  executors:\n    exec-a:\n      container: {image: python}\nroot:\n  executorLabel: exec-a\n";

    #[test]
    fn deep_directories_are_walked() {
        let dir = tempfile::tempdir().unwrap();
        let deep: PathBuf = (0..41).fold(dir.path().to_path_buf(), |p, i| p.join(format!("d{i}")));
        write(&deep.join("p.yaml"), UNPINNED);
        write(&dir.path().join("z.yaml"), UNPINNED);
        let (files, problems) = expand_paths(&[dir.path().to_path_buf()]);
        assert_eq!(files, vec![deep.join("p.yaml"), dir.path().join("z.yaml")]);
        assert!(problems.is_empty(), "{problems:?}");
    }

    #[test]
    fn a_directory_past_the_walk_limit_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        let mut deep = dir.path().to_path_buf();
        for _ in 0..MAX_WALK_DEPTH + 3 {
            deep.push("d");
        }
        write(&deep.join("p.yaml"), UNPINNED);
        write(&dir.path().join("top.yaml"), UNPINNED);
        let (files, problems) = expand_paths(&[dir.path().to_path_buf()]);
        assert_eq!(files, vec![dir.path().join("top.yaml")]);
        assert_eq!(problems.len(), 1, "{problems:?}");
        let skipped: PathBuf =
            (0..=MAX_WALK_DEPTH).fold(dir.path().to_path_buf(), |p, _| p.join("d"));
        assert_eq!(problems[0].subject.name, skipped.display().to_string());
        assert!(
            problems[0]
                .message
                .contains(&format!("more than {MAX_WALK_DEPTH} levels")),
            "{}",
            problems[0].message
        );
    }

    #[test]
    fn a_directory_without_pipelines_is_a_problem() {
        let dir = tempfile::tempdir().unwrap();
        write(&dir.path().join("README.md"), "# nothing here\n");
        let (files, problems) = expand_paths(&[dir.path().to_path_buf()]);
        assert!(files.is_empty());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(
            problems[0].message,
            format!(
                "no pipeline files (.yaml, .yml, .json) found under {}",
                dir.path().display()
            )
        );
    }

    #[test]
    fn severity_override_and_off() {
        let text = "deploymentSpec:\n  executors:\n    exec-a:\n      container: {image: python}\nroot:\n  executorLabel: exec-a\n";
        let mut opts = LintOptions::default();
        let r = lint_text("p.yaml", text, &opts);
        assert!(r
            .findings
            .iter()
            .any(|f| f.rule == "image-unpinned" && f.severity == Severity::Warning));
        opts.severities
            .insert("image-unpinned".into(), Some(Severity::Error));
        let r = lint_text("p.yaml", text, &opts);
        assert!(r
            .findings
            .iter()
            .any(|f| f.rule == "image-unpinned" && f.severity == Severity::Error));
        opts.severities.insert("image-unpinned".into(), None);
        let r = lint_text("p.yaml", text, &opts);
        assert!(!r.findings.iter().any(|f| f.rule == "image-unpinned"));
    }
}
