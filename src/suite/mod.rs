//! The check suite: check instances written as YAML (embedded `checks/` plus `--suite DIR`),
//! validated strictly against the kind registry, and selected by id or category.

mod load;
mod select;

pub(crate) use load::parse_file;
pub use load::{load_suite, CheckSpec, Suite, SuiteError};
pub use select::{did_you_mean, select, Selection};

pub use crate::assets::{embedded, SuiteBase, EMBEDDED};
