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

/// The name of an object `check` creates in run `run_id`: `kfcheck-<what>-<check>-<run-id>`, a
/// DNS label (at most 63 lowercase alphanumerics and dashes). The check id is in it so that two
/// checks of one kind in one run never collide (a 409, and one check's cleanup deleting the
/// other's object); an id too long to fit is shortened with a hash of the whole id.
pub fn object_name(what: &str, check: &str, run_id: &str) -> String {
    let clean = |s: &str| -> String {
        let s: String = s
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        s.trim_matches('-').to_string()
    };
    let (what, check, run_id) = (clean(what), clean(check), clean(run_id));
    let room = 63usize.saturating_sub("kfcheck---".len() + what.len() + run_id.len());
    let check = if check.len() <= room {
        check
    } else {
        // FNV-1a: stable across runs and platforms, unlike the std hasher.
        let hash = check.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
        });
        let keep = room.saturating_sub(9);
        format!(
            "{}-{:08x}",
            check[..keep].trim_end_matches('-'),
            hash as u32
        )
    };
    format!("kfcheck-{what}-{check}-{run_id}")
}

/// Labels for an object created by `check` in run `run_id`.
pub fn labels(run_id: &str, check: &str) -> BTreeMap<String, String> {
    // Label values are at most 63 characters.
    let check: String = check
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(63)
        .collect();
    BTreeMap::from([
        (MANAGED_BY_KEY.to_string(), MANAGED_BY.to_string()),
        (RUN_ID_KEY.to_string(), run_id.to_string()),
        (
            CHECK_KEY.to_string(),
            check
                .trim_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_string(),
        ),
    ])
}

/// What a kind creates, declared in its metadata: `kfcheck cleanup` sweeps exactly the
/// declared types (a hand-kept list would let a new kind's objects escape it), and the
/// least-privilege role (deploy/rbac.yaml) grants exactly their list and delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Created {
    /// Kubernetes objects of one type, labelled with the run id; swept by label.
    Kube {
        kind: &'static str,
        /// `v1`, `argoproj.io/v1alpha1`.
        api_version: &'static str,
        plural: &'static str,
        namespaced: bool,
    },
    /// KFP experiments, runs and pipelines named `kfcheck-<run id>-…`; swept by name.
    KfpObjects,
    /// Local Docker containers labelled with the run id; swept by label.
    Containers,
    /// Objects under `kfcheck/<run id>/` in a bucket; removed by the janitor (credentials are
    /// per check, so there is nothing a later sweep could reach).
    BucketObjects,
    /// Whatever a plug-in creates; its own cleanup command removes it.
    PluginDefined,
    /// Jupyter kernels kfcheck starts (and a local Jupyter server it starts); the janitor shuts
    /// them down, and only them (a user's own kernels are never touched).
    Kernels,
}

#[cfg(test)]
mod name_tests {
    use super::object_name;

    #[test]
    fn names_hold_the_check_id_and_stay_dns_labels() {
        assert_eq!(
            object_name("gpu-probe", "gpu-schedulable", "0a1b2c3d4e"),
            "kfcheck-gpu-probe-gpu-schedulable-0a1b2c3d4e"
        );
        assert_ne!(
            object_name("gpu-probe", "gpu-schedulable", "r"),
            object_name("gpu-probe", "gpu-schedulable-h100", "r")
        );
        let long_a = object_name("gpu-probe", &format!("{}-a", "x".repeat(80)), "0a1b2c3d4e");
        let long_b = object_name("gpu-probe", &format!("{}-b", "x".repeat(80)), "0a1b2c3d4e");
        assert_ne!(long_a, long_b, "shortened ids stay distinct");
        for n in [
            &long_a,
            &long_b,
            &object_name("gpu-probe", "Odd_ID.with.dots", "0a1b2c3d4e"),
        ] {
            assert!(n.len() <= 63, "{n}");
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{n}"
            );
            assert!(!n.ends_with('-') && !n.contains("--"), "{n}");
        }
    }
}
