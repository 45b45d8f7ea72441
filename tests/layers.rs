//! Dependencies flow one way. Reads every `crate::…` path in `src/` (production code: a file's
//! `#[cfg(test)]` tail is left out, tests may reach across) and fails when a module imports
//! from a layer above its own, when sibling files of one folder import each other in a circle,
//! or when a kind imports another kind. The layer order is written once, here, and shown in
//! docs/architecture.md (a test below keeps the two the same).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Low to high. A module may use its own layer and those below it.
const LAYERS: &[&[&str]] = &[
    &["units", "model", "assets"],
    &["pipeline", "clients"],
    &["janitor", "context"],
    &["doors"],
    &["kinds"],
    &["suite"],
    &["runner"],
    &["report"],
    &["cleanup", "probe", "local"],
    &["cli"],
    &["commands"],
    &["app", "fuzzing"],
    &["lib", "main"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Production text of a file: up to its first `#[cfg(test)]`, comments removed.
fn production(text: &str) -> String {
    let end = text.find("#[cfg(test)]").unwrap_or(text.len());
    text[..end]
        .lines()
        .map(|l| match l.find("//") {
            // `//` inside a string ("http://") is rare in `use` lines; keep lines that start code.
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The paths after `prefix` (`crate::`, `super::`), first two segments, groups expanded:
/// `crate::{a::b, c}` gives `a::b` and `c`.
fn paths_after(text: &str, prefix: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(prefix) {
        let before = rest[..i].chars().last();
        rest = &rest[i + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
            continue;
        }
        if let Some(group) = rest.strip_prefix('{') {
            let mut depth = 1;
            let end = group
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '{' => 1,
                        '}' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map_or(group.len(), |(i, _)| i);
            let mut d = 0;
            let mut item = String::new();
            for c in group[..end].chars().chain([',']) {
                match c {
                    '{' => d += 1,
                    '}' => d -= 1,
                    ',' if d == 0 => {
                        out.push(segments(item.trim()));
                        item.clear();
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
        } else {
            out.push(segments(rest));
        }
    }
    out.into_iter().filter(|s| !s.is_empty()).collect()
}

fn segments(s: &str) -> Vec<String> {
    s.split("::")
        .take(2)
        .map(|seg| {
            seg.chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect::<String>()
        })
        .take_while(|seg| !seg.is_empty())
        .collect()
}

struct Source {
    /// Path below src/, e.g. `kinds/exec.rs`.
    rel: String,
    /// Top-level module (`kinds`), or `lib`/`main`.
    module: String,
    /// Folder below src/ (`kinds`, `pipeline/rules`, `` for the root).
    folder: String,
    /// File stem (`exec`, `mod`).
    stem: String,
    text: String,
}

impl Source {
    fn new(rel: &str, text: &str) -> Source {
        let module = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_string();
        let (folder, file) = rel.rsplit_once('/').unwrap_or(("", rel));
        Source {
            rel: rel.to_string(),
            module,
            folder: folder.to_string(),
            stem: file.trim_end_matches(".rs").to_string(),
            text: production(text),
        }
    }
}

fn sources() -> Vec<Source> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut all = Vec::new();
    files(&src, &mut all);
    all.sort();
    all.into_iter()
        .map(|p| {
            let rel = p
                .strip_prefix(&src)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            Source::new(&rel, &std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

fn upward_imports(sources: &[Source]) -> Vec<String> {
    let mut bad = Vec::new();
    for s in sources {
        let Some(mine) = layer_of(&s.module) else {
            bad.push(format!(
                "src/{}: module {} is in no layer of tests/layers.rs",
                s.rel, s.module
            ));
            continue;
        };
        let used: BTreeSet<String> = paths_after(&s.text, "crate::")
            .into_iter()
            .map(|p| p[0].clone())
            .collect();
        for m in used {
            match layer_of(&m) {
                Some(theirs) if theirs > mine => bad.push(format!(
                    "src/{} ({}) imports crate::{m}, a higher layer",
                    s.rel, s.module
                )),
                None => bad.push(format!(
                    "src/{}: crate::{m} is in no layer of tests/layers.rs",
                    s.rel
                )),
                _ => {}
            }
        }
    }
    bad
}

/// Sibling files that import each other, directly or in a longer circle.
fn sibling_cycles(sources: &[Source]) -> Vec<String> {
    let mut edges: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let names: BTreeSet<(String, String)> = sources
        .iter()
        .map(|s| (s.folder.clone(), s.stem.clone()))
        .collect();
    for s in sources
        .iter()
        .filter(|s| s.stem != "mod" && s.stem != "lib" && s.stem != "main")
    {
        let mut targets = BTreeSet::new();
        for p in paths_after(&s.text, "super::") {
            targets.insert(p[0].clone());
        }
        // `crate::kinds::exec` from inside kinds/ is a sibling too.
        for p in paths_after(&s.text, "crate::") {
            if p.len() == 2 && p[0] == s.folder {
                targets.insert(p[1].clone());
            }
        }
        let siblings = targets
            .into_iter()
            .filter(|t| *t != s.stem && names.contains(&(s.folder.clone(), t.clone())))
            .collect();
        edges.insert((s.folder.clone(), s.stem.clone()), siblings);
    }
    let mut bad = BTreeSet::new();
    for (folder, start) in edges.keys() {
        // Depth-first from `start`: reaching it again is a circle.
        let mut stack: Vec<(String, Vec<String>)> = vec![(start.clone(), vec![start.clone()])];
        let mut seen = BTreeSet::new();
        while let Some((at, path)) = stack.pop() {
            for next in edges
                .get(&(folder.clone(), at.clone()))
                .into_iter()
                .flatten()
            {
                if next == start {
                    let mut circle = path.clone();
                    circle.push(start.clone());
                    bad.insert(format!(
                        "src/{folder}/: {} (import circle)",
                        circle.join(" -> ")
                    ));
                } else if seen.insert(next.clone()) {
                    let mut p = path.clone();
                    p.push(next.clone());
                    stack.push((next.clone(), p));
                }
            }
        }
    }
    bad.into_iter().collect()
}

/// A kind is one file that stands alone: shared code lives in a lower layer (doors, context,
/// pipeline), not in another kind.
fn kinds_importing_kinds(sources: &[Source]) -> Vec<String> {
    let shared = ["mod", "context"];
    let kinds: BTreeSet<&str> = sources
        .iter()
        .filter(|s| s.folder == "kinds" && !shared.contains(&s.stem.as_str()))
        .map(|s| s.stem.as_str())
        .collect();
    let mut bad = Vec::new();
    for s in sources
        .iter()
        .filter(|s| kinds.contains(s.stem.as_str()) && s.folder == "kinds")
    {
        let mut used: BTreeSet<String> = paths_after(&s.text, "super::")
            .into_iter()
            .map(|p| p[0].clone())
            .collect();
        used.extend(
            paths_after(&s.text, "crate::")
                .into_iter()
                .filter(|p| p.len() == 2 && p[0] == "kinds")
                .map(|p| p[1].clone()),
        );
        for u in used
            .iter()
            .filter(|u| kinds.contains(u.as_str()) && **u != s.stem)
        {
            bad.push(format!(
                "src/{}: the kind {} imports the kind {u}",
                s.rel, s.stem
            ));
        }
    }
    bad
}

#[test]
fn imports_flow_one_way() {
    let sources = sources();
    assert!(sources.len() > 50, "read the sources");
    let mut bad = upward_imports(&sources);
    bad.extend(sibling_cycles(&sources));
    bad.extend(kinds_importing_kinds(&sources));
    assert!(
        bad.is_empty(),
        "imports against the layer order:\n  {}",
        bad.join("\n  ")
    );
}

#[test]
fn the_checker_sees_what_it_must_refuse() {
    // The rules on literal sources, so that a checker that sees nothing cannot pass.
    let src = Source::new;
    let up = [
        src("model/x.rs", "use crate::{units::parse, kinds::KINDS};"),
        src(
            "report/x.rs",
            "fn f(a: &crate::cli::Cli) {}\n#[cfg(test)]\nuse crate::app::run;",
        ),
        src(
            "clients/x.rs",
            "// see crate::kinds::exec\nuse crate::model::Finding;",
        ),
    ];
    let bad = upward_imports(&up);
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(
        bad[0].contains("crate::kinds") && bad[1].contains("crate::cli"),
        "{bad:?}"
    );
    let circle = [
        src("pipeline/parse.rs", "use super::{argo, tekton};"),
        src("pipeline/argo.rs", "use super::yaml::Scalar;"),
        src("pipeline/tekton.rs", "use super::parse::Doc;"),
        src("pipeline/yaml.rs", ""),
    ];
    let bad = sibling_cycles(&circle);
    assert!(
        bad.iter().any(|b| b.contains("parse -> tekton -> parse")),
        "{bad:?}"
    );
    assert!(!bad.iter().any(|b| b.contains("argo")), "{bad:?}");
    let kinds = [
        src(
            "kinds/a.rs",
            "use super::{b::helper, context::CheckContext, Kind};",
        ),
        src("kinds/b.rs", "use super::Kind;"),
        src("kinds/context.rs", ""),
        src("kinds/mod.rs", "mod a; mod b;"),
    ];
    assert_eq!(
        kinds_importing_kinds(&kinds),
        vec!["src/kinds/a.rs: the kind a imports the kind b".to_string()]
    );
}

#[test]
fn docs_show_the_same_layer_order() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md"))
            .unwrap();
    let order: Vec<String> = LAYERS.iter().map(|l| l.join(", ")).collect();
    let line = order.join(" < ");
    assert!(
        doc.contains(&line),
        "docs/architecture.md must show the layer order as one line:\n{line}"
    );
}
