//! A repository's own kfcheck settings, `.kfcheck.yaml`: today, lint findings its pipelines'
//! owners have decided to accept, each for a rule, optionally one pipeline or task, with the
//! reason written down and an optional expiry date:
//!
//! ```yaml
//! lint:
//!   suppress:
//!     - rule: image-unpinned
//!       pipeline: "nightly-*"        # the pipeline's name or its file (relative to this file)
//!       task: export-report          # optional: one task (glob)
//!       reason: images are pinned by the release job before upload
//!       expires: 2027-06-30          # optional: counts again after this day (UTC)
//! ```
//!
//! `kfcheck lint` finds the nearest `.kfcheck.yaml` above each pipeline file (up to the
//! repository's root, the directory holding `.git`); `--config FILE` names one for every input
//! and `--no-config` ignores them. A suppressed finding is reported apart, with its reason and
//! where the suppression is written, and never decides a check's status. A suppression past its
//! date, or one that matched nothing, is said in a note.

use super::yaml::check_alias_budget;
use crate::model::{Finding, Suppressed};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The file name looked for beside and above each pipeline.
pub const FILE_NAME: &str = ".kfcheck.yaml";
/// A config larger than this is refused: it is a handful of lines.
const MAX_BYTES: u64 = 1 << 20;

/// Which repository configs a lint run uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ConfigChoice {
    /// The nearest `.kfcheck.yaml` above each file, up to the repository root.
    #[default]
    Discover,
    /// This file, for every input (`--config`).
    File(PathBuf),
    /// None (`--no-config`).
    Off,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    version: Option<u32>,
    #[serde(default)]
    lint: RawLint,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLint {
    #[serde(default)]
    suppress: Vec<RawSuppression>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSuppression {
    rule: String,
    #[serde(default)]
    pipeline: Option<String>,
    #[serde(default)]
    task: Option<String>,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    expires: Option<String>,
}

/// One loaded `.kfcheck.yaml`.
#[derive(Debug)]
pub struct RepoConfig {
    /// As shown in reports (the path it was found at).
    pub display: String,
    /// Pipeline paths in `pipeline:` are relative to this directory.
    dir: PathBuf,
    pub suppressions: Vec<Suppression>,
}

#[derive(Debug)]
pub struct Suppression {
    pub rule: String,
    pipeline: Option<(String, globset::GlobMatcher)>,
    task: Option<(String, globset::GlobMatcher)>,
    pub reason: String,
    /// `file:line` of the entry.
    pub by: String,
    /// The day it stops applying (days since 1970-01-01) and as written.
    expires: Option<(i64, String)>,
    /// Findings it suppressed in this run.
    used: AtomicUsize,
}

impl Suppression {
    fn describe(&self) -> String {
        let mut s = self.rule.clone();
        if let Some((p, _)) = &self.pipeline {
            s.push_str(&format!(" for pipeline {p}"));
        }
        if let Some((t, _)) = &self.task {
            s.push_str(&format!(" on task {t}"));
        }
        s
    }
}

impl ConfigChoice {
    /// From a check's `config:` parameter: absent discovers, `none` turns configs off, a path
    /// (resolved by the caller) names one.
    pub fn from_param(value: Option<&str>, resolve: impl Fn(&str) -> PathBuf) -> ConfigChoice {
        match value {
            None => ConfigChoice::Discover,
            Some("none") => ConfigChoice::Off,
            Some(p) => ConfigChoice::File(resolve(p)),
        }
    }
}

fn glob(field: &str, pattern: &str) -> Result<globset::GlobMatcher, String> {
    globset::GlobBuilder::new(pattern)
        .literal_separator(false)
        .build()
        .map(|g| g.compile_matcher())
        .map_err(|e| format!("{field} '{pattern}': {e}"))
}

/// Days since 1970-01-01 of a `YYYY-MM-DD` date (proleptic Gregorian).
fn days_of(date: &str) -> Option<i64> {
    let mut it = date.splitn(3, '-');
    let (y, m, d) = (it.next()?, it.next()?, it.next()?);
    if y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let (y, m, d): (i64, i64, i64) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if !(1..=12).contains(&m) || d < 1 || d > month_days[(m - 1) as usize] {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

/// Today (UTC) in days since 1970-01-01.
fn today() -> i64 {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    (secs / 86_400) as i64
}

/// Whether `id` names a lint rule (a static rule or the cluster fit's).
fn known_rule(id: &str) -> bool {
    super::rules::find_rule(id).is_some()
        || id == super::fit::FIT_RULE
        || id == super::fit::FIT_UNDECIDED_RULE
}

/// Lines of the `- ` entries under `suppress:`, in order (block style; flow style has none).
fn entry_lines(text: &str) -> Vec<u64> {
    let mut lines = Vec::new();
    let mut indent: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let body = line.trim_start();
        let at = line.len() - body.len();
        if body.starts_with("suppress:") {
            indent = Some(at);
            continue;
        }
        let Some(i) = indent else { continue };
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        if at <= i && !body.starts_with('-') || at < i {
            indent = None;
        } else if body.starts_with("- ") || body == "-" {
            lines.push(n as u64 + 1);
        }
    }
    lines
}

/// A config that cannot be used: the file, the line where known, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct ConfigError {
    pub file: String,
    pub line: Option<u64>,
    pub message: String,
}

/// Reads and checks one config. Errors name the file and, where known, the line.
pub fn load(path: &Path) -> Result<RepoConfig, ConfigError> {
    // Shown relative to the working directory when it is below it, as the user would write it.
    let display = std::env::current_dir()
        .ok()
        .and_then(|cwd| path.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| path.to_path_buf())
        .display()
        .to_string();
    let at = |line: Option<u64>, message: String| ConfigError {
        file: display.clone(),
        line,
        message,
    };
    let meta = std::fs::metadata(path).map_err(|e| at(None, format!("cannot read: {e}")))?;
    if !meta.is_file() {
        return Err(at(None, "not a regular file".into()));
    }
    if meta.len() > MAX_BYTES {
        return Err(at(None, "over 1 MiB; not a kfcheck config".into()));
    }
    let text = std::fs::read_to_string(path).map_err(|e| at(None, format!("cannot read: {e}")))?;
    check_alias_budget(&text).map_err(|e| at(e.line, e.message))?;
    let raw: RawConfig = if text.trim().is_empty() {
        RawConfig {
            version: None,
            lint: RawLint::default(),
        }
    } else {
        serde_yaml_ng::from_str(&text).map_err(|e| {
            let line = e.location().map(|l| l.line() as u64);
            let mut m = e.to_string();
            if let Some(i) = m.find(" at line ") {
                m.truncate(i);
            }
            at(line, m)
        })?
    };
    if let Some(v) = raw.version.filter(|v| *v != 1) {
        return Err(at(
            None,
            format!("version {v} is not supported (expected 1)"),
        ));
    }
    let lines = entry_lines(&text);
    let dir = path
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    let mut suppressions = Vec::new();
    for (i, s) in raw.lint.suppress.into_iter().enumerate() {
        let line = lines.get(i).copied();
        let by = match line {
            Some(l) => format!("{display}:{l}"),
            None => format!("{display} (suppress entry {})", i + 1),
        };
        let fail = |m: String| at(line, format!("suppress entry {}: {m}", i + 1));
        if !known_rule(&s.rule) {
            return Err(fail(format!(
                "unknown rule '{}' (`kfcheck explain pipeline-lint` lists them)",
                s.rule
            )));
        }
        let reason = s.reason.map(|r| r.trim().to_string()).unwrap_or_default();
        if reason.is_empty() {
            return Err(fail(format!(
                "suppressing {} needs a reason: say why the finding is accepted",
                s.rule
            )));
        }
        let expires = match s.expires {
            None => None,
            Some(d) => match days_of(d.trim()) {
                Some(n) => Some((n, d.trim().to_string())),
                None => return Err(fail(format!("expires '{d}': expected a date YYYY-MM-DD"))),
            },
        };
        let pattern = |field: &str, v: Option<String>| -> Result<_, ConfigError> {
            match v.map(|p| p.trim().to_string()).filter(|p| !p.is_empty()) {
                None => Ok(None),
                Some(p) => glob(field, &p).map(|g| Some((p, g))).map_err(&fail),
            }
        };
        suppressions.push(Suppression {
            rule: s.rule,
            pipeline: pattern("pipeline", s.pipeline)?,
            task: pattern("task", s.task)?,
            reason,
            by,
            expires,
            used: AtomicUsize::new(0),
        });
    }
    Ok(RepoConfig {
        display,
        dir,
        suppressions,
    })
}

/// What one file's findings are matched against.
#[derive(Debug, Clone)]
pub struct Applied {
    config: Arc<RepoConfig>,
}

/// The configs of one lint run: found once per directory, loaded once per file.
#[derive(Debug, Default)]
pub struct Configs {
    choice: ConfigChoice,
    /// Directory → the config that governs it (or none).
    by_dir: HashMap<PathBuf, Option<PathBuf>>,
    loaded: HashMap<PathBuf, Result<Arc<RepoConfig>, ConfigError>>,
    /// Configs in the order first used.
    order: Vec<PathBuf>,
}

impl Configs {
    pub fn new(choice: ConfigChoice) -> Self {
        Configs {
            choice,
            ..Configs::default()
        }
    }

    /// The nearest config above `dir` (itself included), stopping at the repository root.
    fn discover(&mut self, dir: &Path) -> Option<PathBuf> {
        let mut walked = Vec::new();
        let mut found = None;
        let mut cur = Some(dir);
        while let Some(d) = cur {
            if let Some(hit) = self.by_dir.get(d) {
                found = hit.clone();
                break;
            }
            walked.push(d.to_path_buf());
            let candidate = d.join(FILE_NAME);
            if candidate.is_file() {
                found = Some(candidate);
                break;
            }
            if d.join(".git").exists() {
                break;
            }
            cur = d.parent();
        }
        for d in walked {
            self.by_dir.insert(d, found.clone());
        }
        found
    }

    /// The config for an input: `file` is its path (`None`: standard input or embedded).
    pub fn for_input(&mut self, file: Option<&Path>) -> Option<Result<Applied, ConfigError>> {
        let path = match (&self.choice, file) {
            (ConfigChoice::Off, _) => return None,
            (ConfigChoice::File(p), _) => p.clone(),
            (ConfigChoice::Discover, None) => return None,
            (ConfigChoice::Discover, Some(f)) => {
                let abs = std::path::absolute(f).unwrap_or_else(|_| f.to_path_buf());
                let dir = abs.parent()?.to_path_buf();
                self.discover(&dir)?
            }
        };
        if !self.loaded.contains_key(&path) {
            self.order.push(path.clone());
            let r = load(&path).map(Arc::new);
            self.loaded.insert(path.clone(), r);
        }
        Some(match &self.loaded[&path] {
            Ok(c) => Ok(Applied { config: c.clone() }),
            Err(e) => Err(e.clone()),
        })
    }

    /// Notes after the run: suppressions past their date, suppressions that matched nothing.
    pub fn notes(&self) -> Vec<String> {
        let today = today();
        let mut notes = Vec::new();
        for path in &self.order {
            let Some(Ok(c)) = self.loaded.get(path) else {
                continue;
            };
            for s in &c.suppressions {
                if let Some((day, shown)) = &s.expires {
                    if today > *day {
                        notes.push(format!(
                            "{}: the suppression of {} expired on {shown}; its findings count again",
                            s.by,
                            s.describe()
                        ));
                        continue;
                    }
                }
                if s.used.load(Ordering::Relaxed) == 0 {
                    notes.push(format!(
                        "{}: the suppression of {} matched no finding in this run",
                        s.by,
                        s.describe()
                    ));
                }
            }
        }
        notes
    }
}

impl Applied {
    /// Splits `findings` into those kept and those suppressed, for the pipeline named `name`
    /// in `file`.
    pub fn apply(
        &self,
        file: Option<&Path>,
        name: Option<&str>,
        findings: Vec<Finding>,
    ) -> (Vec<Finding>, Vec<Suppressed>) {
        let today = today();
        let rel = file.map(|f| {
            let abs = std::path::absolute(f).unwrap_or_else(|_| f.to_path_buf());
            let dir = std::path::absolute(&self.config.dir).unwrap_or(self.config.dir.clone());
            abs.strip_prefix(&dir).map(Path::to_path_buf).unwrap_or(abs)
        });
        let mut kept = Vec::new();
        let mut suppressed = Vec::new();
        for f in findings {
            let hit = self.config.suppressions.iter().find(|s| {
                s.rule == f.rule
                    && s.expires.as_ref().is_none_or(|(day, _)| today <= *day)
                    && s.pipeline.as_ref().is_none_or(|(_, g)| {
                        name.is_some_and(|n| g.is_match(n))
                            || rel.as_ref().is_some_and(|r| g.is_match(r))
                            || file
                                .and_then(Path::file_name)
                                .is_some_and(|n| g.is_match(n))
                    })
                    && s.task.as_ref().is_none_or(|(_, g)| {
                        f.subject.kind == "pipeline-task" && g.is_match(&f.subject.name)
                    })
            });
            match hit {
                Some(s) => {
                    s.used.fetch_add(1, Ordering::Relaxed);
                    suppressed.push(Suppressed {
                        finding: f,
                        reason: s.reason.clone(),
                        by: s.by.clone(),
                    });
                }
                None => kept.push(f),
            }
        }
        (kept, suppressed)
    }

    /// Where the config is, as shown.
    pub fn display(&self) -> &str {
        &self.config.display
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Severity, Subject};

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    fn finding(rule: &str, task: &str) -> Finding {
        Finding::new(
            rule,
            Severity::Warning,
            Subject::new("pipeline-task", task),
            "m",
            vec![],
            "Fix it.",
        )
    }

    #[test]
    fn dates_count_days_from_the_epoch() {
        assert_eq!(days_of("1970-01-01"), Some(0));
        assert_eq!(days_of("2000-03-01"), Some(11_017));
        assert_eq!(days_of("2024-02-29"), Some(19_782));
        assert_eq!(days_of("2023-02-29"), None);
        assert_eq!(days_of("2026-13-01"), None);
        assert_eq!(days_of("26-01-01"), None);
        assert_eq!(days_of("tomorrow"), None);
    }

    #[test]
    fn bad_configs_say_what_and_where() {
        let d = tempfile::tempdir().unwrap();
        let cases = [
            ("lint:\n  suppress:\n    - rule: no-such-rule\n      reason: x\n", "unknown rule 'no-such-rule'", Some(3)),
            ("lint:\n  suppress:\n    - rule: image-unpinned\n", "needs a reason", Some(3)),
            ("lint:\n  suppress:\n    - rule: image-unpinned\n      reason: '  '\n", "needs a reason", Some(3)),
            ("lint:\n  suppress:\n    - rule: image-unpinned\n      reason: r\n    - rule: image-unpinned\n      reason: r\n      expires: soon\n", "entry 2: expires 'soon'", Some(5)),
            ("lint:\n  supress: []\n", "unknown field `supress`", Some(2)),
            ("lint:\n  suppress:\n    - rule: image-unpinned\n      reason: r\n      task: '[x'\n", "task '[x'", Some(3)),
            ("version: 2\n", "version 2 is not supported", None),
            ("lint: [\n", "lint: invalid type: sequence", Some(1)),
            ("lint:\n  suppress:\n    - rule: a\n   - b\n", "", None),
        ];
        for (text, want, line) in cases {
            let p = write(d.path(), FILE_NAME, text);
            let e = load(&p).unwrap_err();
            assert!(e.message.contains(want), "{text:?}: {}", e.message);
            assert!(e.to_string().starts_with(&p.display().to_string()), "{e}");
            if line.is_some() {
                assert_eq!(e.line, line, "{text:?}: {}", e.message);
            }
        }
        assert!(load(&write(d.path(), FILE_NAME, ""))
            .unwrap()
            .suppressions
            .is_empty());
    }

    #[test]
    fn a_suppression_matches_rule_pipeline_and_task() {
        let d = tempfile::tempdir().unwrap();
        let cfg = write(
            d.path(),
            FILE_NAME,
            "lint:\n  suppress:\n    - rule: image-unpinned\n      pipeline: 'nightly-*'\n      task: export\n      reason: pinned at release\n    - rule: requests-missing\n      pipeline: 'team/*.yaml'\n      reason: team's own quota\n    - rule: gpu-without-placement\n      reason: old\n      expires: 2001-01-01\n",
        );
        let mut configs = Configs::new(ConfigChoice::Discover);
        let file = write(d.path(), "team/p.yaml", "x");
        let applied = configs.for_input(Some(&file)).unwrap().unwrap();
        assert_eq!(applied.display(), cfg.display().to_string());
        let (kept, gone) = applied.apply(
            Some(&file),
            Some("nightly-train"),
            vec![
                finding("image-unpinned", "export"),
                finding("image-unpinned", "train"),
                finding("requests-missing", "train"),
                finding("gpu-without-placement", "train"),
            ],
        );
        let kept: Vec<(&str, &str)> = kept
            .iter()
            .map(|f| (f.rule.as_str(), f.subject.name.as_str()))
            .collect();
        assert_eq!(
            kept,
            [
                ("image-unpinned", "train"),
                ("gpu-without-placement", "train")
            ]
        );
        assert_eq!(gone.len(), 2);
        assert_eq!(gone[0].reason, "pinned at release");
        assert_eq!(gone[0].by, format!("{}:3", cfg.display()));
        assert_eq!(gone[1].by, format!("{}:7", cfg.display()));
        let notes = configs.notes();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("expired on 2001-01-01"), "{notes:?}");

        // Another pipeline name, another file: nothing matches.
        let other = write(d.path(), "other/q.yaml", "x");
        let (kept, gone) = configs.for_input(Some(&other)).unwrap().unwrap().apply(
            Some(&other),
            Some("daily"),
            vec![
                finding("image-unpinned", "export"),
                finding("requests-missing", "a"),
            ],
        );
        assert_eq!((kept.len(), gone.len()), (2, 0));
    }

    #[test]
    fn discovery_stops_at_the_repository_root() {
        let d = tempfile::tempdir().unwrap();
        write(d.path(), FILE_NAME, "lint:\n  suppress: []\n");
        std::fs::create_dir_all(d.path().join("repo/.git")).unwrap();
        let inner = write(d.path(), "repo/pipelines/p.yaml", "x");
        let mut configs = Configs::new(ConfigChoice::Discover);
        assert!(configs.for_input(Some(&inner)).is_none());
        let cfg = write(d.path(), "repo/.kfcheck.yaml", "lint: {}\n");
        let mut configs = Configs::new(ConfigChoice::Discover);
        let a = configs.for_input(Some(&inner)).unwrap().unwrap();
        assert_eq!(a.display(), cfg.display().to_string());
        assert!(Configs::new(ConfigChoice::Off)
            .for_input(Some(&inner))
            .is_none());
        assert!(configs.for_input(None).is_none(), "stdin discovers nothing");
        let mut explicit = Configs::new(ConfigChoice::File(cfg.clone()));
        assert!(explicit.for_input(None).unwrap().is_ok());
    }

    #[test]
    fn unused_suppressions_are_noted() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            FILE_NAME,
            "lint:\n  suppress:\n    - rule: image-unpinned\n      task: t\n      reason: r\n",
        );
        let f = write(d.path(), "p.yaml", "x");
        let mut configs = Configs::new(ConfigChoice::Discover);
        let a = configs.for_input(Some(&f)).unwrap().unwrap();
        let _ = a.apply(Some(&f), None, vec![finding("requests-missing", "t")]);
        let notes = configs.notes();
        assert_eq!(notes.len(), 1);
        assert!(
            notes[0].contains("image-unpinned on task t matched no finding"),
            "{notes:?}"
        );
    }
}
