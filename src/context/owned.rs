//! Labels on everything kfcheck creates, so that the janitor and `kfcheck cleanup` can find it
//! and nothing else: kfcheck never deletes an object it did not label.

use std::collections::BTreeMap;

pub const MANAGED_BY_KEY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY: &str = "kfcheck";
pub const RUN_ID_KEY: &str = "kfcheck.io/run-id";
pub const CHECK_KEY: &str = "kfcheck.io/check";

/// The label selector that matches everything kfcheck created (in any run, or in one run).
pub fn selector(run_id: Option<&str>) -> String {
    match run_id {
        Some(r) => format!("{MANAGED_BY_KEY}={MANAGED_BY},{RUN_ID_KEY}={r}"),
        None => format!("{MANAGED_BY_KEY}={MANAGED_BY}"),
    }
}

/// Labels for an object created by `check` in run `run_id`.
pub fn labels(run_id: &str, check: &str) -> BTreeMap<String, String> {
    // Label values are at most 63 characters.
    let check: String = check.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).take(63).collect();
    BTreeMap::from([
        (MANAGED_BY_KEY.to_string(), MANAGED_BY.to_string()),
        (RUN_ID_KEY.to_string(), run_id.to_string()),
        (CHECK_KEY.to_string(), check.trim_matches(|c: char| !c.is_ascii_alphanumeric()).to_string()),
    ])
}
