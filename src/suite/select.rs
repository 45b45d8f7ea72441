//! Selecting checks by id or category (`kfcheck run <id|category>...`).

use super::{CheckSpec, Suite};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// Every enabled check (`kfcheck all`).
    All,
    /// Checks whose id or category matches one of the words.
    Words(Vec<String>),
}

/// Returns the selected checks in id order, and the words that matched nothing.
pub fn select<'a>(suite: &'a Suite, selection: &Selection) -> (Vec<&'a CheckSpec>, Vec<String>) {
    match selection {
        Selection::All => (
            suite.checks.iter().filter(|c| c.enabled).collect(),
            Vec::new(),
        ),
        Selection::Words(words) => {
            let picked: Vec<&CheckSpec> = suite
                .checks
                .iter()
                // An explicitly named id runs even when disabled; categories pick enabled ones.
                .filter(|c| {
                    words
                        .iter()
                        .any(|w| *w == c.id || (c.enabled && c.in_category(w)))
                })
                .collect();
            let unmatched = words
                .iter()
                .filter(|w| !suite.checks.iter().any(|c| c.id == **w || c.in_category(w)))
                .cloned()
                .collect();
            (picked, unmatched)
        }
    }
}
/// The candidate closest to a mistyped `word`, when it is close enough to be what was meant:
/// at most a third of the word's length in single-character edits (insert, delete, replace,
/// swap of neighbours), and never for words under three characters.
pub fn did_you_mean<'c>(
    word: &str,
    candidates: impl IntoIterator<Item = &'c str>,
) -> Option<&'c str> {
    let limit = (word.chars().count() / 3).max(1);
    if word.chars().count() < 3 {
        return None;
    }
    candidates
        .into_iter()
        .map(|c| (edits(word, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// Optimal string alignment distance (Levenshtein with adjacent swaps), by characters.
fn edits(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut prev2 = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for i in 1..=a.len() {
        let mut cur = vec![i; b.len() + 1];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev2[j - 2] + 1);
            }
        }
        prev2 = std::mem::replace(&mut prev, cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn picked(words: &[&str]) -> Vec<String> {
        let suite = crate::suite::load_suite(&[]).expect("embedded suite loads");
        let words = Selection::Words(words.iter().map(|w| w.to_string()).collect());
        let (picked, unmatched) = select(&suite, &words);
        assert!(unmatched.is_empty(), "{unmatched:?}");
        picked.into_iter().map(|c| c.id.clone()).collect()
    }

    #[test]
    fn a_category_named_in_also_in_selects_the_check_too() {
        let storage = picked(&["storage"]);
        for id in [
            "host-storage",
            "container-storage",
            "pod-storage",
            "artifact-store",
            "io-sweep",
        ] {
            assert!(
                storage.iter().any(|c| c == id),
                "run storage lacks {id}: {storage:?}"
            );
        }
        let docker = picked(&["docker"]);
        assert!(
            docker.iter().any(|c| c == "container-storage"),
            "{docker:?}"
        );
        assert!(!docker.iter().any(|c| c == "pod-storage"), "{docker:?}");
    }

    #[test]
    fn a_near_miss_is_suggested_and_a_far_one_is_not() {
        let ids = [
            "kfp-cpu-sample",
            "kfp-gpu-sample",
            "gpu-inventory",
            "kube-api-reachable",
        ];
        assert_eq!(did_you_mean("kfp-cpu-smaple", ids), Some("kfp-cpu-sample"));
        assert_eq!(did_you_mean("gpu-invntory", ids), Some("gpu-inventory"));
        assert_eq!(did_you_mean("kfp-gpu-sampel", ids), Some("kfp-gpu-sample"));
        assert_eq!(did_you_mean("notebooks", ids), None);
        assert_eq!(did_you_mean("kf", ["kfp"]), None, "too short to guess");
        assert_eq!(edits("abc", "acb"), 1);
        assert_eq!(edits("", "abc"), 3);
    }
}
