//! The one place run ids are made. A run id labels everything a run creates (Kubernetes objects,
//! containers, KFP runs, object names), so two runs must not share one, even in containers where
//! every process is pid 1: the hasher's random keys make it unique per process.

use std::hash::{BuildHasher, Hasher};
use std::time::SystemTime;

/// A new run id: ten lowercase hex digits.
pub fn new() -> String {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    format!("{:010x}", h.finish() & 0xff_ffff_ffff)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ten_hex_digits_and_different_each_time() {
        let (a, b) = (super::new(), super::new());
        assert_eq!(a.len(), 10, "{a}");
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()),
            "{a}"
        );
        assert_ne!(a, b);
    }
}
