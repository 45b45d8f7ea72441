//! Files compiled into the binary (the default suite `checks/*.yaml` and its sample pipelines,
//! embedded by `build.rs`) and where a check's relative paths resolve ([`SuiteBase`]). A leaf:
//! the suite loader, the kinds and the doors all read from here.

use std::path::PathBuf;

include!(concat!(env!("OUT_DIR"), "/embedded.rs"));

/// Contents of an embedded file by its repository path (`checks/pipelines/x.yaml`).
pub fn embedded(path: &str) -> Option<&'static str> {
    EMBEDDED.iter().find(|(p, _)| *p == path).map(|(_, t)| *t)
}

/// Where a check came from; relative paths in its parameters resolve against it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SuiteBase {
    /// The default suite compiled into the binary (paths resolve to embedded files).
    Embedded,
    /// A `--suite` directory.
    Dir(PathBuf),
}
