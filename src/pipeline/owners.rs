//! Who should fix a pipeline file: the CODEOWNERS entry that matches it (last match wins, as on
//! GitHub and GitLab), else the last git author of the file, else "unknown".

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// GitHub ignores a CODEOWNERS file of 3 MB or more ("CODEOWNERS files must be under 3 MB in
/// size. A CODEOWNERS file over this limit will not be loaded", GitHub docs, About code
/// owners); so does kfcheck, because the file comes from the repository being linted.
pub const MAX_CODEOWNERS_BYTES: u64 = 3 << 20;
/// Rules (pattern lines) kfcheck compiles from one CODEOWNERS file; far above any real file.
pub const MAX_CODEOWNERS_RULES: usize = 10_000;

/// Globs per compiled `GlobSet`: one set of every pattern can exceed the regex engine's size
/// limit, one matcher per pattern costs a regex compile per line.
const GLOBS_PER_SET: usize = 256;

/// A parsed CODEOWNERS file and the directory its patterns are relative to. Patterns are
/// compiled into a few `GlobSet`s (literal names, extensions and prefixes need no regex), and
/// matching a path asks the sets from the last rule backwards.
pub struct CodeOwners {
    root: PathBuf,
    /// Sets in file order, each with the rule index of its globs.
    sets: Vec<(GlobSet, Vec<usize>)>,
    /// Owners of each rule, in file order (last match wins).
    owners: Vec<Vec<String>>,
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
    let base = if anchored {
        p.to_string()
    } else {
        format!("**/{p}")
    };
    if dir_only {
        vec![format!("{base}/**")]
    } else {
        vec![base.clone(), format!("{base}/**")]
    }
}

/// The pattern lines of a CODEOWNERS text: (pattern, owners), comments and GitLab section
/// headers left out.
fn rule_lines(text: &str) -> impl Iterator<Item = (&str, Vec<String>)> {
    text.lines().filter_map(|line| {
        let line = line.split(" #").next().unwrap_or("").trim();
        if line.is_empty()
            || line.starts_with('#')
            || line.starts_with('[')
            || line.starts_with("^[")
        {
            return None;
        }
        let mut parts = line.split_whitespace();
        let pattern = parts.next()?;
        Some((pattern, parts.map(str::to_string).collect()))
    })
}

impl CodeOwners {
    /// Parses a CODEOWNERS text; invalid patterns match nothing. Over
    /// [`MAX_CODEOWNERS_RULES`] rules, an error (the file is not used).
    pub fn try_parse(root: &Path, text: &str) -> Result<CodeOwners, String> {
        let rules = rule_lines(text).count();
        if rules > MAX_CODEOWNERS_RULES {
            return Err(format!(
                "has {rules} rules, over kfcheck's limit of {MAX_CODEOWNERS_RULES}"
            ));
        }
        let mut globs = Vec::new();
        let mut owners = Vec::with_capacity(rules);
        for (i, (pattern, who)) in rule_lines(text).enumerate() {
            for g in globs_for(pattern) {
                if let Ok(glob) = GlobBuilder::new(&g).literal_separator(true).build() {
                    globs.push((glob, i));
                }
            }
            owners.push(who);
        }
        let mut sets = Vec::with_capacity(globs.len().div_ceil(GLOBS_PER_SET));
        for chunk in globs.chunks(GLOBS_PER_SET) {
            let mut builder = GlobSetBuilder::new();
            for (glob, _) in chunk {
                builder.add(glob.clone());
            }
            let set = builder
                .build()
                .map_err(|e| format!("patterns cannot be compiled: {e}"))?;
            sets.push((set, chunk.iter().map(|(_, i)| *i).collect()));
        }
        Ok(CodeOwners {
            root: root.to_path_buf(),
            sets,
            owners,
        })
    }

    /// [`CodeOwners::try_parse`] for texts known to be small; an unusable text owns nothing.
    pub fn parse(root: &Path, text: &str) -> CodeOwners {
        Self::try_parse(root, text).unwrap_or_else(|_| CodeOwners {
            root: root.to_path_buf(),
            sets: Vec::new(),
            owners: Vec::new(),
        })
    }

    /// Reads and parses the CODEOWNERS file at `path` with its size checked first; the error
    /// says why it is not used.
    pub fn load(root: &Path, path: &Path) -> Result<CodeOwners, String> {
        use std::io::Read;
        let shown = path.display();
        let meta = std::fs::metadata(path)
            .map_err(|e| format!("CODEOWNERS {shown} cannot be read: {e}"))?;
        if !meta.is_file() {
            return Err(format!(
                "CODEOWNERS {shown} is not a regular file; not used"
            ));
        }
        let too_big = |n: u64| {
            format!(
                "CODEOWNERS {shown} is {:.1} MB, over GitHub's 3 MB limit; not used",
                n as f64 / 1e6
            )
        };
        if meta.len() > MAX_CODEOWNERS_BYTES {
            return Err(too_big(meta.len()));
        }
        let mut buf = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_CODEOWNERS_BYTES + 1).read_to_end(&mut buf))
            .map_err(|e| format!("CODEOWNERS {shown} cannot be read: {e}"))?;
        if buf.len() as u64 > MAX_CODEOWNERS_BYTES {
            return Err(too_big(buf.len() as u64));
        }
        let text = String::from_utf8(buf)
            .map_err(|_| format!("CODEOWNERS {shown} is not UTF-8 text; not used"))?;
        Self::try_parse(root, &text).map_err(|why| format!("CODEOWNERS {shown} {why}; not used"))
    }

    /// Owners of `abs` (an absolute, canonical path), if any rule names some.
    pub fn owners_of(&self, abs: &Path) -> Option<String> {
        let rel = abs.strip_prefix(&self.root).ok()?;
        // Sets hold rules in file order: the last set with a match has the last matching rule.
        let rule = self
            .sets
            .iter()
            .rev()
            .find_map(|(set, rules)| set.matches(rel).into_iter().map(|g| rules[g]).max())?;
        let owners = &self.owners[rule];
        (!owners.is_empty()).then(|| owners.join(" "))
    }
}

fn absolute(p: &Path) -> PathBuf {
    std::fs::canonicalize(p).unwrap_or_else(|_| {
        std::env::current_dir()
            .map(|d| d.join(p))
            .unwrap_or_else(|_| p.to_path_buf())
    })
}

/// Repository root: the nearest ancestor with `.git`.
fn git_root(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .find(|d| d.join(".git").exists())
        .map(Path::to_path_buf)
}

/// CODEOWNERS locations in GitHub's order of precedence.
fn find_codeowners(root: &Path) -> Option<PathBuf> {
    [
        ".github/CODEOWNERS",
        "CODEOWNERS",
        "docs/CODEOWNERS",
        ".gitlab/CODEOWNERS",
    ]
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
        let mut pending = PendingOwners {
            known: HashMap::new(),
            git: Vec::new(),
            notes: Vec::new(),
        };
        if files.is_empty() {
            return pending;
        }
        let explicit = self.explicit.as_ref().and_then(|f| {
            let abs = absolute(f);
            let dir = abs.parent()?.to_path_buf();
            // Patterns are relative to the repository root: the file's repo, or its folder
            // (or the folder above .github/ and docs/).
            let root =
                git_root(&dir).unwrap_or_else(|| match dir.file_name().and_then(|n| n.to_str()) {
                    Some(".github" | "docs" | ".gitlab") => {
                        dir.parent().map(Path::to_path_buf).unwrap_or(dir.clone())
                    }
                    _ => dir.clone(),
                });
            CodeOwners::load(&root, f)
                .map_err(|why| pending.notes.push(why))
                .ok()
        });
        // Canonicalise each directory once, not each file.
        let mut by_repo: HashMap<Option<PathBuf>, Vec<(PathBuf, PathBuf)>> = HashMap::new();
        let mut dirs: HashMap<PathBuf, (PathBuf, Option<PathBuf>)> = HashMap::new();
        for f in files {
            let parent = f
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let (abs_dir, root) = dirs
                .entry(parent.to_path_buf())
                .or_insert_with_key(|d| {
                    let abs = absolute(d);
                    let root = git_root(&abs);
                    (abs, root)
                })
                .clone();
            let abs = f.file_name().map(|n| abs_dir.join(n)).unwrap_or(abs_dir);
            by_repo
                .entry(root)
                .or_default()
                .push((f.to_path_buf(), abs));
        }
        for (root, repo_files) in by_repo {
            let discovered = if explicit.is_none() {
                root.as_deref().and_then(|r| {
                    let path = find_codeowners(r)?;
                    CodeOwners::load(r, &path)
                        .map_err(|why| pending.notes.push(why))
                        .ok()
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
                pending
                    .git
                    .push(std::thread::spawn(move || last_authors(&root, &unowned)));
            }
        }
        pending
    }
}

/// Owners known so far, plus git lookups still running.
pub struct PendingOwners {
    known: HashMap<PathBuf, String>,
    git: Vec<std::thread::JoinHandle<Vec<(PathBuf, String)>>>,
    /// Why a CODEOWNERS file found or given was not used.
    notes: Vec<String>,
}

impl PendingOwners {
    /// Waits for the git lookups and returns every owner found.
    pub fn finish(self) -> HashMap<PathBuf, String> {
        self.finish_with_notes().0
    }

    /// [`PendingOwners::finish`], plus why a CODEOWNERS file was not used.
    pub fn finish_with_notes(self) -> (HashMap<PathBuf, String>, Vec<String>) {
        let mut out = self.known;
        for handle in self.git {
            // A failed lookup only means "no git author": the owner stays unknown.
            for (f, author) in handle.join().unwrap_or_default() {
                out.insert(f, author);
            }
        }
        (out, self.notes)
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
    let mut dirs: Vec<PathBuf> = rel
        .iter()
        .map(|(_, r)| r.parent().map(Path::to_path_buf).unwrap_or_default())
        .collect();
    dirs.sort();
    dirs.dedup();
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(root).args([
        "-c",
        "core.quotePath=false",
        "log",
        "--no-merges",
        "--format=%x1e%an <%ae>",
        "--name-only",
    ]);
    if dirs.len() <= 500 && !dirs.iter().any(|d| d.as_os_str().is_empty()) {
        cmd.arg("--").args(&dirs);
    }
    let output = cmd
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    let Ok(output) = output else {
        return Vec::new();
    };
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
            first_author
                .get(key.as_str())
                .map(|a| (orig, a.to_string()))
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
        for f in [
            "pipelines/a.yaml",
            "pipelines/gpu/b.yaml",
            "other.yaml",
            "pipelines/c.json",
        ] {
            std::fs::write(root.join(f), "x").unwrap();
        }
        let co = CodeOwners::parse(
            &root,
            "# comment\n* @platform\n/pipelines/ @ml-team\npipelines/gpu/ @gpu-team @alice\n*.json @json-people\n",
        );
        assert_eq!(
            co.owners_of(&root.join("other.yaml")).as_deref(),
            Some("@platform")
        );
        assert_eq!(
            co.owners_of(&root.join("pipelines/a.yaml")).as_deref(),
            Some("@ml-team")
        );
        assert_eq!(
            co.owners_of(&root.join("pipelines/gpu/b.yaml")).as_deref(),
            Some("@gpu-team @alice")
        );
        assert_eq!(
            co.owners_of(&root.join("pipelines/c.json")).as_deref(),
            Some("@json-people")
        );
    }

    /// A CODEOWNERS of `lines` rules that match nothing, then one that owns every `.yaml`.
    fn hostile_codeowners(lines: usize) -> String {
        let mut text = String::with_capacity(lines * 40);
        for i in 0..lines {
            text.push_str(&format!("/deep/**/nothing-{i}/**/*.bin @team-{i}\n"));
        }
        text.push_str("*.yaml @last\n");
        text
    }

    #[test]
    fn codeowners_over_the_size_limit_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let text = hostile_codeowners(110_000);
        assert!(text.len() as u64 > MAX_CODEOWNERS_BYTES);
        std::fs::write(root.join("CODEOWNERS"), &text).unwrap();
        let p = root.join("p.yaml");
        std::fs::write(&p, "x").unwrap();
        let pending = OwnerResolver::new(Some(root.join("CODEOWNERS"))).start(&[p.as_path()]);
        let (owners, notes) = pending.finish_with_notes();
        assert!(!owners.contains_key(&p), "{owners:?}");
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].contains("over GitHub's 3 MB limit; not used"),
            "{}",
            notes[0]
        );
    }

    #[test]
    fn codeowners_over_the_rule_limit_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let text = hostile_codeowners(MAX_CODEOWNERS_RULES);
        assert!((text.len() as u64) < MAX_CODEOWNERS_BYTES);
        let err = CodeOwners::try_parse(&root, &text).err().unwrap();
        assert_eq!(
            err,
            format!(
                "has {} rules, over kfcheck's limit of {MAX_CODEOWNERS_RULES}",
                MAX_CODEOWNERS_RULES + 1
            )
        );
    }

    #[test]
    fn a_large_codeowners_under_the_limits_still_matches() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let co =
            CodeOwners::try_parse(&root, &hostile_codeowners(MAX_CODEOWNERS_RULES - 1)).unwrap();
        assert_eq!(
            co.owners_of(&root.join("a/b/p.yaml")).as_deref(),
            Some("@last")
        );
        assert_eq!(
            co.owners_of(&root.join("deep/x/nothing-7/y/z.bin"))
                .as_deref(),
            Some("@team-7")
        );
        assert_eq!(co.owners_of(&root.join("other.txt")), None);
    }

    #[test]
    fn git_author_fallback_and_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let git = |args: &[&str]| {
            let ok = Command::new("git")
                .arg("-C")
                .arg(&root)
                .args(args)
                .output()
                .unwrap()
                .status
                .success();
            assert!(ok, "git {args:?}");
        };
        git(&["init", "-q"]);
        std::fs::write(root.join("p.yaml"), "x").unwrap();
        std::fs::write(root.join("untracked.yaml"), "x").unwrap();
        git(&["add", "p.yaml"]);
        git(&[
            "-c",
            "user.name=Ada Lovelace",
            "-c",
            "user.email=ada@example.com",
            "commit",
            "-q",
            "-m",
            "add",
        ]);
        let p = root.join("p.yaml");
        let u = root.join("untracked.yaml");
        let got = OwnerResolver::new(None).resolve(&[p.as_path(), u.as_path()]);
        assert_eq!(
            got.get(&p).map(String::as_str),
            Some("Ada Lovelace <ada@example.com>")
        );
        assert!(!got.contains_key(&u));
    }
}
