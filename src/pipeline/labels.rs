//! Kubernetes label syntax, as the API server validates it (`k8s.io/apimachinery/pkg/util/
//! validation`): node selectors and node-affinity requirements that break it are rejected at pod
//! creation, and a requirement that breaks it never matches in the scheduler.

/// Why `key` is not a valid label key (`IsQualifiedName`): an optional DNS-1123 subdomain
/// prefix of at most 253 characters and `/`, then a name of 1 to 63 characters of
/// `[A-Za-z0-9._-]` that starts and ends with an alphanumeric character.
pub fn label_key_problem(key: &str) -> Option<String> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(p) = prefix {
        if p.is_empty() {
            return Some("prefix before '/' is empty".into());
        }
        if p.len() > 253 {
            return Some(format!("prefix is {} characters, over 253", p.len()));
        }
        if !is_dns_subdomain(p) {
            return Some("prefix is not a DNS subdomain (lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit)".into());
        }
    }
    if name.is_empty() {
        return Some("name part is empty".into());
    }
    if name.len() > 63 {
        return Some(format!("name part is {} characters, over 63", name.len()));
    }
    if !is_label_text(name) {
        return Some("name part must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit".into());
    }
    None
}

/// Why `value` is not a valid label value (`IsValidLabelValue`): empty, or at most 63
/// characters of `[A-Za-z0-9._-]` starting and ending with an alphanumeric character.
pub fn label_value_problem(value: &str) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    if value.len() > 63 {
        return Some(format!("value is {} characters, over 63", value.len()));
    }
    if !is_label_text(value) {
        return Some("value must be letters, digits, '-', '_' or '.', starting and ending with a letter or digit".into());
    }
    None
}

fn is_label_text(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*`
fn is_dns_subdomain(s: &str) -> bool {
    s.split('.').all(|part| {
        let b = part.as_bytes();
        !b.is_empty()
            && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
            && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
            && b.iter()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_keys_follow_qualified_name_rules() {
        for ok in [
            "a",
            "pool",
            "cloud.google.com/gke-accelerator",
            "nvidia.com/gpu.product",
            "A_b.c-D",
            "k8s.io/x",
            &"n".repeat(63),
            &format!("{}/x", "a".repeat(253)),
        ] {
            assert_eq!(label_key_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "/x",
            "a/",
            "-a",
            "a-",
            "a b",
            "Cloud.google.com/x",
            "a..b/x",
            "a_b.com/x",
            "a/b/c",
            &"n".repeat(64),
            &format!("{}/x", "a".repeat(254)),
            "gpu=true",
        ] {
            assert!(label_key_problem(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn label_values_follow_label_value_rules() {
        for ok in [
            "",
            "nvidia-l4",
            "NVIDIA-A100-SXM4-80GB",
            "1",
            "a.b_c",
            &"v".repeat(63),
        ] {
            assert_eq!(label_value_problem(ok), None, "{ok}");
        }
        for bad in [
            "-5",
            "a b",
            "nvidia/l4",
            "x-",
            &"v".repeat(64),
            "{{$.inputs}}",
            "é",
        ] {
            assert!(label_value_problem(bad).is_some(), "{bad}");
        }
    }
}
