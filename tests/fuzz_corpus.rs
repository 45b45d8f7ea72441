//! Replays every fuzz target's committed corpus (fixtures/fuzz/<target>/) and the fixtures it
//! was seeded from through the same invariants libFuzzer checks (src/fuzzing.rs), so a plain
//! `cargo test` catches a regression on any input the fuzzer once found, without building
//! libFuzzer. scripts/fuzz explores further.

use std::path::{Path, PathBuf};

fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            files(&p, out);
        } else {
            out.push(p);
        }
    }
}

fn replay(target: &str, check: fn(&[u8])) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let list = std::fs::read_to_string(root.join("fuzz/seeds")).unwrap();
    let seeds: Vec<&str> = list
        .lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| {
            l.strip_prefix(target)
                .filter(|rest| rest.is_empty() || rest.starts_with(' '))
        })
        .unwrap_or_else(|| panic!("{target} is not in fuzz/seeds"))
        .split_whitespace()
        .collect();
    let mut inputs = Vec::new();
    files(&root.join("fixtures/fuzz").join(target), &mut inputs);
    for s in seeds {
        files(&root.join(s), &mut inputs);
    }
    inputs.sort();
    assert!(!inputs.is_empty(), "no corpus for {target}");
    for p in &inputs {
        let data = std::fs::read(p).unwrap();
        if std::panic::catch_unwind(|| check(&data)).is_err() {
            panic!("{target} fails on {}", p.display());
        }
    }
}

#[test]
fn pipeline_readers_corpus() {
    replay("pipeline_readers", kfcheck::fuzzing::pipeline_readers);
}

#[test]
fn suite_file_corpus() {
    replay("suite_file", kfcheck::fuzzing::suite_file);
}

#[test]
fn redaction_corpus() {
    replay("redaction", kfcheck::fuzzing::redaction);
}

#[test]
fn plugin_output_corpus() {
    replay("plugin_output", kfcheck::fuzzing::plugin_output);
}

#[test]
fn kfp_messages_corpus() {
    replay("kfp_messages", kfcheck::fuzzing::kfp_messages);
}

#[test]
fn jupyter_messages_corpus() {
    replay("jupyter_messages", kfcheck::fuzzing::jupyter_messages);
}

#[test]
fn every_target_is_listed_once() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let list = std::fs::read_to_string(root.join("fuzz/seeds")).unwrap();
    let mut names: Vec<&str> = list
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    let mut bins: Vec<String> = std::fs::read_dir(root.join("fuzz/fuzz_targets"))
        .unwrap()
        .flatten()
        .filter_map(|e| {
            e.path()
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
        })
        .collect();
    names.sort();
    bins.sort();
    assert_eq!(
        names, bins,
        "fuzz/seeds and fuzz/fuzz_targets/ name different targets"
    );
}
