//! Who should fix a pipeline file: the CODEOWNERS entry that matches it (last match wins, as on
//! GitHub and GitLab), else the last git author of the file, else "unknown".

use globset::{Glob, GlobMatcher};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// One CODEOWNERS line compiled to matchers.
struct OwnerRule {
    matchers: Vec<GlobMatcher>,
    owners: Vec<String>,
}

/// A parsed CODEOWNERS file and the directory its patterns are relative to.
pub struct CodeOwners {
    root: PathBuf,
    rules: Vec<OwnerRule>,
}

/// Glob patterns equivalent to one CODEOWNERS (gitignore-style) pattern.
fn globs_for(pattern: &str) -> Vec<String> {
    let anchored = pattern.starts_with('/') || pattern.trim_end_matches('/').contains('/');
    let p = pattern.trim_start_matches('/');
    let dir_only = p.ends_with('/');
    let p = p.trim_end_matches('/');
    if p.is_empty() {
        return vec!["**".into()];
    }
    let base = if anchored { p.to_string() } else { format!("**/{p}") };
    if dir_only {
        vec![format!("{base}/**")]
    } else {
        vec![base.clone(), format!("{base}/**")]
    }
}

impl CodeOwners {
    pub fn parse(root: &Path, text: &str) -> CodeOwners {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.split(" #").next().unwrap_or("").trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('[') || line.starts_with("^[") {
                continue; // comments and GitLab section headers
            }
            let mut parts = line.split_whitespace();
            let Some(pattern) = parts.next() else { continue };
            let owners: Vec<String> = parts.map(str::to_string).collect();
            let matchers = globs_for(pattern)
                .iter()
                .filter_map(|g| globset::GlobBuilder::new(g).literal_separator(true).build().ok())
                .map(|g: Glob| g.compile_matcher())
                .collect();
            rules.push(OwnerRule { matchers, owners });
        }
        CodeOwners { root: root.to_path_buf(), rules }
    }

    /// Owners of `abs` (an absolute, canonical path), if any rule names some.
    pub fn owners_of(&self, abs: &Path) -> Option<String> {
        let rel = abs.strip_prefix(&self.root).ok()?;
        let rule = self.rules.iter().rev().find(|r| r.matchers.iter().any(|m| m.is_match(rel)))?;
        (!rule.owners.is_empty()).then(|| rule.owners.join(" "))
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| std::env::current_dir().map(|d| d.join(p)).unwrap_or_else(|_| p.to_path_buf()))
}

/// Repository root: the nearest ancestor with `.git`.
fn git_root(start: &Path) -> Option<PathBuf> {
    start.ancestors().find(|d| d.join(".git").exists()).map(Path::to_path_buf)
}

/// CODEOWNERS locations in GitHub's order of precedence.
fn find_codeowners(root: &Path) -> Option<PathBuf> {
    [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS", ".gitlab/CODEOWNERS"]
        .iter()
        .map(|c| root.join(c))
        .find(|p| p.is_file())
}

pub struct OwnerResolver {
    explicit: Option<PathBuf>,
}

impl OwnerResolver {
    pub fn new(explicit: Option<PathBuf>) -> Self {
        OwnerResolver { explicit }
    }

    /// Resolves owners for many files at once (CODEOWNERS now, git in the background).
    pub fn resolve(&self, files: &[&Path]) -> HashMap<PathBuf, String> {
        self.start(files).finish()
    }

    /// Matches CODEOWNERS right away (one parse per repository) and starts one `git log` per
    /// repository, in the background, for the files CODEOWNERS does not cover, so that it runs
    /// while the files are being linted.
    pub fn start(&self, files: &[&Path]) -> PendingOwners {
        let mut pending = PendingOwners { known: HashMap::new(), git: Vec::new() };
        if files.is_empty() {
            return pending;
        }
        let explicit = self.explicit.as_ref().and_then(|f| {
            let text = std::fs::read_to_string(f).ok()?;
            let abs = absolute(f);
            let dir = abs.parent()?.to_path_buf();
            // Patterns are relative to the repository root: the file's repo, or its folder
            // (or the folder above .github/ and docs/).
            let root = git_root(&dir).unwrap_or_else(|| match dir.file_name().and_then(|n| n.to_str()) {
                Some(".github" | "docs" | ".gitlab") => dir.parent().map(Path::to_path_buf).unwrap_or(dir.clone()),
                _ => dir.clone(),
            });
            Some(CodeOwners::parse(&root, &text))
        });
        // Canonicalise each directory once, not each file.
        let mut by_repo: HashMap<Option<PathBuf>, Vec<(PathBuf, PathBuf)>> = HashMap::new();
        let mut dirs: HashMap<PathBuf, (PathBuf, Option<PathBuf>)> = HashMap::new();
        for f in files {
            let parent = f.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            let (abs_dir, root) = dirs
                .entry(parent.to_path_buf())
                .or_insert_with_key(|d| {
                    let abs = absolute(d);
                    let root = git_root(&abs);
                    (abs, root)
                })
                .clone();
            let abs = f.file_name().map(|n| abs_dir.join(n)).unwrap_or(abs_dir);
            by_repo.entry(root).or_default().push((f.to_path_buf(), abs));
        }
        for (root, repo_files) in by_repo {
            let discovered = if explicit.is_none() {
                root.as_deref().and_then(|r| {
                    let path = find_codeowners(r)?;
                    Some(CodeOwners::parse(r, &std::fs::read_to_string(path).ok()?))
                })
            } else {
                None
            };
            let table = explicit.as_ref().or(discovered.as_ref());
            let mut unowned = Vec::new();
            for (f, abs) in repo_files {
                match table.and_then(|t| t.owners_of(&abs)) {
                    Some(o) => {
                        pending.known.insert(f, o);
                    }
                    None => unowned.push((f, abs)),
                }
            }
            if let (Some(root), false) = (root, unowned.is_empty()) {
                pending.git.push(std::thread::spawn(move || last_authors(&root, &unowned)));
            }
        }
        pending
    }
}

/// Owners known so far, plus git lookups still running.
pub struct PendingOwners {
    known: HashMap<PathBuf, String>,
    git: Vec<std::thread::JoinHandle<Vec<(PathBuf, String)>>>,
}

impl PendingOwners {
    /// Waits for the git lookups and returns every owner found.
    pub fn finish(self) -> HashMap<PathBuf, String> {
        let mut out = self.known;
        for handle in self.git {
            // A failed lookup only means "no git author": the owner stays unknown.
            for (f, author) in handle.join().unwrap_or_default() {
                out.insert(f, author);
            }
        }
        out
    }
}

/// Last commit author (`Name <email>`) of each file, from one `git log` run.
fn last_authors(root: &Path, files: &[(PathBuf, PathBuf)]) -> Vec<(PathBuf, String)> {
    if files.is_empty() {
        return Vec::new();
    }
    let rel: Vec<(PathBuf, PathBuf)> = files
        .iter()
        .filter_map(|(f, abs)| Some((f.clone(), abs.strip_prefix(root).ok()?.to_path_buf())))
        .collect();
    // Pathspecs are the files' directories (few, and never an over-long command line); names
    // from other files in them are simply not looked up.
    let mut dirs: Vec<PathBuf> = rel.iter().map(|(_, r)| r.parent().map(Path::to_path_buf).unwrap_or_default()).collect();
    dirs.sort();
    dirs.dedup();
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(root).args(["-c", "core.quotePath=false", "log", "--no-merges", "--format=%x1e%an <%ae>", "--name-only"]);
    if dirs.len() <= 500 && !dirs.iter().any(|d| d.as_os_str().is_empty()) {
        cmd.arg("--").args(&dirs);
    }
    let output = cmd.stdin(std::process::Stdio::null()).stderr(std::process::Stdio::null()).output();
    let Ok(output) = output else { return Vec::new() };
    if !output.status.success() {
        return Vec::new();
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut first_author: HashMap<&str, &str> = HashMap::new();
    for record in text.split('\x1e').skip(1) {
        let mut lines = record.lines();
        let Some(author) = lines.next() else { continue };
        for name in lines.filter(|l| !l.is_empty()) {
            first_author.entry(name).or_insert(author);
        }
    }
    rel.into_iter()
        .filter_map(|(orig, r)| {
            let key = r.to_string_lossy().replace('\\', "/");
            first_author.get(key.as_str()).map(|a| (orig, a.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codeowners_last_match_wins() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::create_dir_all(root.join("pipelines/gpu")).unwrap();
        for f in ["pipelines/a.yaml", "pipelines/gpu/b.yaml", "other.yaml", "pipelines/c.json"] {
            std::fs::write(root.join(f), "x").unwrap();
        }
        let co = CodeOwners::parse(
            &root,
            "# comment\n* @platform\n/pipelines/ @ml-team\npipelines/gpu/ @gpu-team @alice\n*.json @json-people\n",
        );
        assert_eq!(co.owners_of(&root.join("other.yaml")).as_deref(), Some("@platform"));
        assert_eq!(co.owners_of(&root.join("pipelines/a.yaml")).as_deref(), Some("@ml-team"));
        assert_eq!(co.owners_of(&root.join("pipelines/gpu/b.yaml")).as_deref(), Some("@gpu-team @alice"));
        assert_eq!(co.owners_of(&root.join("pipelines/c.json")).as_deref(), Some("@json-people"));
    }

    #[test]
    fn git_author_fallback_and_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let git = |args: &[&str]| {
            let ok = Command::new("git").arg("-C").arg(&root).args(args).output().unwrap().status.success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q"]);
        std::fs::write(root.join("p.yaml"), "x").unwrap();
        std::fs::write(root.join("untracked.yaml"), "x").unwrap();
        git(&["add", "p.yaml"]);
        git(&["-c", "user.name=Ada Lovelace", "-c", "user.email=ada@example.com", "commit", "-q", "-m", "add"]);
        let p = root.join("p.yaml");
        let u = root.join("untracked.yaml");
        let got = OwnerResolver::new(None).resolve(&[p.as_path(), u.as_path()]);
        assert_eq!(got.get(&p).map(String::as_str), Some("Ada Lovelace <ada@example.com>"));
        assert!(!got.contains_key(&u));
    }
}
