//! Loading and strict validation of check files. Every error names the file and, where the YAML
//! tells, the line: unknown fields, duplicate ids, unknown kinds and bad parameters.

use crate::assets::SuiteBase;
use crate::kinds::{find_kind, KindRef};
use crate::model::Severity;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCheck {
    id: String,
    kind: String,
    title: String,
    category: String,
    /// Further categories that select the check (`kfcheck run WORD`); reports show `category`.
    #[serde(default)]
    also_in: Vec<String>,
    #[serde(default)]
    severity: Option<Severity>,
    #[serde(default)]
    timeout: Option<String>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    params: Option<serde_yaml_ng::Value>,
}

fn yes() -> bool {
    true
}

/// A validated check instance.
#[derive(Clone)]
pub struct CheckSpec {
    pub id: String,
    pub kind: KindRef,
    pub title: String,
    pub category: String,
    /// Further categories that select it (`also_in:`), e.g. `container-storage` is a storage
    /// check that `kfcheck run docker` also runs.
    pub also_in: Vec<String>,
    pub severity: Severity,
    /// The `severity:` the check file wrote, if any (it replaces the default of the kind's
    /// error rules, see [`crate::model::FindingRule::severity`]).
    pub severity_override: Option<Severity>,
    pub timeout: Duration,
    pub enabled: bool,
    pub description: Option<String>,
    pub params: serde_json::Value,
    pub base: SuiteBase,
    /// `file:line` where it was defined.
    pub origin: String,
}

impl CheckSpec {
    /// Whether `word` names its category or one of its `also_in` categories.
    pub fn in_category(&self, word: &str) -> bool {
        self.category == word || self.also_in.iter().any(|c| c == word)
    }

    /// What the check needs: its kind's answer for its parameters.
    pub fn needs(&self) -> Vec<crate::context::Need> {
        self.kind.needs(&self.params)
    }

    /// What its kind sees of it when it runs.
    pub fn view(&self) -> crate::kinds::CheckView {
        crate::kinds::CheckView {
            id: self.id.clone(),
            severity: self.severity,
            timeout: self.timeout,
            params: self.params.clone(),
            base: self.base.clone(),
            needs: self.needs(),
        }
    }
}

impl std::fmt::Debug for CheckSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckSpec")
            .field("id", &self.id)
            .field("kind", &self.kind.meta().name)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {message}", line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct SuiteError {
    pub file: String,
    pub line: Option<u64>,
    pub message: String,
}

/// The checks in force: the embedded default suite, overridden and extended by `--suite` dirs.
#[derive(Debug, Clone, Default)]
pub struct Suite {
    pub checks: Vec<CheckSpec>,
}

impl Suite {
    pub fn get(&self, id: &str) -> Option<&CheckSpec> {
        self.checks.iter().find(|c| c.id == id)
    }
}

/// Loads the embedded suite, then each `--suite` directory in order. A later layer replaces a
/// check with the same id; the same id twice within one layer is an error. All errors are
/// collected so a user fixes them in one pass.
pub fn load_suite(dirs: &[PathBuf]) -> Result<Suite, Vec<SuiteError>> {
    let mut errors = Vec::new();
    let mut by_id: BTreeMap<String, CheckSpec> = BTreeMap::new();
    let embedded: Vec<(String, String)> = crate::assets::EMBEDDED
        .iter()
        .filter(|(p, _)| p.matches('/').count() == 1)
        .map(|(p, t)| (p.to_string(), t.to_string()))
        .collect();
    let mut layers = vec![(SuiteBase::Embedded, embedded)];
    for dir in dirs {
        match read_dir_files(dir) {
            Ok(files) => layers.push((SuiteBase::Dir(dir.clone()), files)),
            Err(e) => errors.push(e),
        }
    }
    for (base, files) in layers {
        let mut layer: BTreeMap<String, CheckSpec> = BTreeMap::new();
        for (file, text) in files {
            for spec in parse_file(&file, &text, &base, &mut errors) {
                if let Some(prev) = layer.get(&spec.id) {
                    errors.push(SuiteError {
                        file: spec.origin.split(':').next().unwrap_or(&file).to_string(),
                        line: spec.origin.rsplit(':').next().and_then(|l| l.parse().ok()),
                        message: format!(
                            "duplicate check id '{}' (first defined at {})",
                            spec.id, prev.origin
                        ),
                    });
                    continue;
                }
                layer.insert(spec.id.clone(), spec);
            }
        }
        by_id.extend(layer);
    }
    if errors.is_empty() {
        Ok(Suite {
            checks: by_id.into_values().collect(),
        })
    } else {
        Err(errors)
    }
}

/// The largest check file read (40,000 checks fit in a few MiB).
const SUITE_FILE_LIMIT: u64 = 64 << 20;

fn read_dir_files(dir: &Path) -> Result<Vec<(String, String)>, SuiteError> {
    let err = |m: String| SuiteError {
        file: dir.display().to_string(),
        line: None,
        message: m,
    };
    let entries =
        std::fs::read_dir(dir).map_err(|e| err(format!("cannot read suite directory: {e}")))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text =
                crate::clients::files::read_text_capped(&p, SUITE_FILE_LIMIT).map_err(|e| {
                    SuiteError {
                        file: p.display().to_string(),
                        line: None,
                        message: format!("check file {e}"),
                    }
                })?;
            Ok((p.display().to_string(), text))
        })
        .collect()
}

/// Per YAML document of `text`, in order: its start line (1-based) and the line of each
/// top-level `key:` in it (the first one). One pass over the text, so a file of many documents
/// loads in linear time.
fn document_keys(text: &str) -> Vec<(u64, BTreeMap<String, u64>)> {
    let mut docs: Vec<(u64, BTreeMap<String, u64>)> = vec![(1, BTreeMap::new())];
    for (i, line) in text.lines().enumerate() {
        let n = i as u64 + 1;
        if line.starts_with("---") {
            if i == 0 {
                docs[0].0 = 2;
            } else {
                docs.push((n + 1, BTreeMap::new()));
            }
            continue;
        }
        if let Some((key, _)) = line.split_once(':') {
            let top_level = !key.is_empty() && !key.starts_with([' ', '\t', '#', '-']);
            if top_level {
                docs.last_mut()
                    .map(|d| d.1.entry(key.to_string()).or_insert(n));
            }
        }
    }
    docs
}

pub(crate) fn parse_file(
    file: &str,
    text: &str,
    base: &SuiteBase,
    errors: &mut Vec<SuiteError>,
) -> Vec<CheckSpec> {
    // Aliases can expand a small file to gigabytes of values: refused before deserializing.
    if let Err(e) = crate::pipeline::parse::check_alias_budget(text) {
        errors.push(SuiteError {
            file: file.into(),
            line: e.line,
            message: e.message,
        });
        return Vec::new();
    }
    let docs = document_keys(text);
    let no_keys = BTreeMap::new();
    let mut out = Vec::new();
    for (doc_index, de) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let (start, keys) = docs
            .get(doc_index)
            .map(|(s, k)| (*s, k))
            .unwrap_or((1, &no_keys));
        let key_line = |key: &str| keys.get(key).copied();
        let raw = match Option::<RawCheck>::deserialize(de) {
            Ok(Some(raw)) => raw,
            Ok(None) => continue,
            Err(e) => {
                let line = e.location().map(|l| l.line() as u64);
                let mut message = e.to_string();
                if let Some(i) = message.find(" at line ") {
                    message.truncate(i);
                }
                errors.push(SuiteError {
                    file: file.into(),
                    line,
                    message,
                });
                // The document stream cannot resume after a YAML error (it would repeat it).
                break;
            }
        };
        let err = |key: &str, message: String| SuiteError {
            file: file.into(),
            line: key_line(key).or(Some(start)),
            message,
        };
        if raw.id.is_empty()
            || !raw
                .id
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        {
            errors.push(err(
                "id",
                format!(
                    "check id '{}' must be lowercase letters, digits, '-' or '.'",
                    raw.id
                ),
            ));
            continue;
        }
        let Some(kind) = find_kind(&raw.kind) else {
            let known: Vec<&str> = crate::kinds::KINDS.iter().map(|k| k.meta().name).collect();
            errors.push(err(
                "kind",
                format!(
                    "check '{}': unknown kind '{}' (known kinds: {})",
                    raw.id,
                    raw.kind,
                    known.join(", ")
                ),
            ));
            continue;
        };
        let timeout = match &raw.timeout {
            None => kind.meta().default_timeout,
            Some(t) => match crate::units::parse_duration(t) {
                Ok(d) if !d.is_zero() => d,
                _ => {
                    errors.push(err(
                        "timeout",
                        format!("check '{}': bad timeout '{t}' (e.g. 30s, 5m)", raw.id),
                    ));
                    continue;
                }
            },
        };
        let params = match raw.params.map(serde_json::to_value).transpose() {
            Ok(p) => {
                let mut p = p.unwrap_or(serde_json::Value::Object(Default::default()));
                crate::kinds::alias_params(&raw.kind, &mut p);
                p
            }
            Err(e) => {
                errors.push(err(
                    "params",
                    format!("check '{}': parameters are not plain data: {e}", raw.id),
                ));
                continue;
            }
        };
        if let Err(message) = kind.validate(&params, base) {
            errors.push(err(
                "params",
                format!(
                    "check '{}': bad parameters for kind {}: {message}",
                    raw.id, raw.kind
                ),
            ));
            continue;
        }
        out.push(CheckSpec {
            origin: format!("{file}:{}", key_line("id").unwrap_or(start)),
            id: raw.id,
            kind,
            title: raw.title,
            category: raw.category,
            also_in: raw.also_in,
            severity: raw.severity.unwrap_or(Severity::Error),
            severity_override: raw.severity,
            timeout,
            enabled: raw.enabled,
            description: raw.description,
            params,
            base: base.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    #[test]
    fn embedded_suite_loads() {
        let suite = load_suite(&[]).unwrap();
        assert!(!suite.checks.is_empty());
    }

    #[test]
    fn errors_name_file_and_line() {
        let d = tempfile::tempdir().unwrap();
        write(
            d.path(),
            "a.yaml",
            "id: x\nkind: pipeline-lint\ntitle: t\ncategory: c\nbogus: 1\n",
        );
        write(
            d.path(),
            "b.yaml",
            "id: y\nkind: no-such-kind\ntitle: t\ncategory: c\n",
        );
        write(
            d.path(),
            "c.yaml",
            "id: z\nkind: pipeline-lint\ntitle: t\ncategory: c\nparams:\n  paths: [p]\n  nope: 1\n",
        );
        write(d.path(), "d.yaml", "id: w\nkind: pipeline-lint\ntitle: t\ncategory: c\nparams: {paths: [p]}\n---\nid: w\nkind: pipeline-lint\ntitle: t\ncategory: c\nparams: {paths: [p]}\n");
        write(d.path(), "e.yaml", "id: v\nkind: pipeline-lint\ntitle: t\ncategory: c\ntimeout: soon\nparams: {paths: [p]}\n");
        write(d.path(), "f.yaml", "id: u\nparams: [\n");
        let errs = load_suite(&[d.path().to_path_buf()]).unwrap_err();
        let text: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        let find = |needle: &str| {
            text.iter()
                .find(|t| t.contains(needle))
                .cloned()
                .unwrap_or_else(|| panic!("{needle} not in {text:#?}"))
        };
        assert!(find("unknown field `bogus`").contains("a.yaml:5"));
        assert!(find("unknown kind 'no-such-kind'").contains("b.yaml:2"));
        assert!(find("unknown field `nope`").contains("c.yaml:5"));
        assert!(find("duplicate check id 'w'").contains("d.yaml:7"));
        assert!(find("bad timeout 'soon'").contains("e.yaml:5"));
        assert!(
            find("f.yaml").contains("f.yaml:"),
            "a syntax error is reported once, not looped on"
        );
    }

    #[test]
    fn suite_dir_overrides_embedded_by_id() {
        let d = tempfile::tempdir().unwrap();
        let id = &load_suite(&[]).unwrap().checks[0].id.clone();
        write(d.path(), "o.yaml", &format!("id: {id}\nkind: pipeline-lint\ntitle: overridden\ncategory: c\nenabled: false\nparams: {{paths: [p]}}\n"));
        let suite = load_suite(&[d.path().to_path_buf()]).unwrap();
        let c = suite.get(id).unwrap();
        assert_eq!(c.title, "overridden");
        assert!(!c.enabled);
        assert_eq!(c.base, SuiteBase::Dir(d.path().to_path_buf()));
    }

    #[test]
    fn an_alias_bomb_in_a_check_file_is_refused_before_it_expands() {
        let d = tempfile::tempdir().unwrap();
        let row = format!("[{}]", vec!["x"; 2000].join(", "));
        let mut text = format!("a: &a {row}\n");
        text.push_str(&(0..1000).map(|i| format!("b{i}: *a\n")).collect::<String>());
        std::fs::write(d.path().join("bomb.yaml"), text).unwrap();
        let errors = load_suite(&[d.path().to_path_buf()]).unwrap_err();
        assert!(
            errors[0].message.contains("YAML aliases expand the file"),
            "{errors:?}"
        );
    }

    #[test]
    fn document_starts_and_key_lines() {
        let t = "id: a\nkind: k\n---\nid: b\nkind: k\n";
        let docs = document_keys(t);
        assert_eq!(docs.iter().map(|d| d.0).collect::<Vec<_>>(), vec![1, 4]);
        assert_eq!(docs[1].1.get("kind"), Some(&5));
        assert_eq!(docs[0].1.get("kind"), Some(&2));
        // Nested and list keys are not top-level keys.
        let docs = document_keys("---\nid: a\nparams:\n  kind: x\n- kind: y\nkind: k\n");
        assert_eq!(docs[0].0, 2);
        assert_eq!(docs[0].1.get("kind"), Some(&6));
    }
}
