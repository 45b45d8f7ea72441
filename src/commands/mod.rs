//! The subcommands' work, one file each: `app` dispatches a parsed command line here, and each
//! command turns its flags into the lower layers' own parameters and its result into an
//! `AppOutput` (commands never print).

mod apply_check;
mod bundle;
mod cleanup;
mod explain;
mod generated;
mod history;
mod lint;
mod list;
mod local;
mod notebook;
mod probe;
mod run;
mod shared;
mod signals;
mod snapshot;

pub(crate) use apply_check::apply_check;
pub(crate) use cleanup::cleanup;
pub(crate) use explain::explain;
pub(crate) use generated::{completions, man};
pub(crate) use history::{diff, history};
pub(crate) use lint::lint;
pub(crate) use list::list;
pub(crate) use local::{local_run, parity};
pub(crate) use notebook::notebook;
pub(crate) use probe::probe;
pub(crate) use run::run;
pub(crate) use shared::{kfp_identity_conflict, load_suite};
pub(crate) use snapshot::snapshot;
