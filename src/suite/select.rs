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
                        .any(|w| *w == c.id || (c.enabled && *w == c.category))
                })
                .collect();
            let unmatched = words
                .iter()
                .filter(|w| {
                    !suite
                        .checks
                        .iter()
                        .any(|c| c.id == **w || c.category == **w)
                })
                .cloned()
                .collect();
            (picked, unmatched)
        }
    }
}
