//! The check suite: check instances written as YAML (embedded `checks/` plus `--suite DIR`),
//! validated strictly against the kind registry, and selected by id or category.

mod load;
mod select;

pub(crate) use load::parse_file;
pub use load::{load_suite, CheckSpec, Suite, SuiteBase, SuiteError};
pub use select::{select, Selection};

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// Contents of an embedded file by its repository path (`checks/pipelines/x.yaml`).
pub fn embedded(path: &str) -> Option<&'static str> {
    EMBEDDED.iter().find(|(p, _)| *p == path).map(|(_, t)| *t)
}
