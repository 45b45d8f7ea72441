//! Kubernetes resource quantities (`500m`, `1.5Gi`, `2e3`), parsed the way the API server does
//! closely enough to compare values and to reject what it would reject.

/// Parses a Kubernetes quantity into its value in base units (cores, bytes).
/// Returns `None` for anything the API server would reject, e.g. `1 GB`, `1GB`, `lots`.
pub fn parse_quantity(raw: &str) -> Option<f64> {
    let s = raw.trim_end();
    if s.is_empty() || s != raw {
        return None;
    }
    let bytes = s.as_bytes();
    let mut i = 0;
    if matches!(bytes[0], b'+' | b'-') {
        i += 1;
    }
    let mut seen_digit = false;
    let mut seen_dot = false;
    while i < bytes.len() {
        match bytes[i] {
            b'0'..=b'9' => seen_digit = true,
            b'.' if !seen_dot => seen_dot = true,
            _ => break,
        }
        i += 1;
    }
    if !seen_digit {
        return None;
    }
    let number: f64 = s[..i].parse().ok()?;
    let suffix = &s[i..];
    let multiplier = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024f64,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        exp if exp.starts_with(['e', 'E']) => {
            let e = &exp[1..];
            let digits = e.strip_prefix(['+', '-']).unwrap_or(e);
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let e: i32 = e.parse().ok()?;
            10f64.powi(e)
        }
        _ => return None,
    };
    Some(number * multiplier)
}

/// True when a value is a pipeline placeholder resolved at run time
/// (`{{$.inputs.parameters['pipelinechannel--cpu']}}`, `{{inputs.parameters.cpu}}`, `$(params.x)`).
pub fn is_placeholder(raw: &str) -> bool {
    raw.contains("{{") || raw.contains("$(")
}

/// Human form of a byte count: `256Mi`, `1.5Gi`, `512`.
pub fn format_bytes(bytes: f64) -> String {
    const UNITS: [(&str, f64); 4] = [
        ("Ti", 1099511627776.0),
        ("Gi", 1073741824.0),
        ("Mi", 1048576.0),
        ("Ki", 1024.0),
    ];
    for (unit, size) in UNITS {
        if bytes >= size {
            let v = bytes / size;
            return if (v - v.round()).abs() < 1e-9 {
                format!("{}{unit}", v.round())
            } else {
                format!("{v:.2}{unit}")
            };
        }
    }
    format!("{bytes}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_valid_quantities() {
        assert_eq!(parse_quantity("500m"), Some(0.5));
        assert_eq!(parse_quantity("1"), Some(1.0));
        assert_eq!(parse_quantity("1.5"), Some(1.5));
        assert_eq!(parse_quantity("256Mi"), Some(268435456.0));
        assert_eq!(parse_quantity("1G"), Some(1e9));
        assert_eq!(parse_quantity("2e3"), Some(2000.0));
        assert_eq!(parse_quantity("1E-3"), Some(0.001));
        assert_eq!(parse_quantity(".5"), Some(0.5));
        assert_eq!(parse_quantity("-1"), Some(-1.0));
        assert_eq!(parse_quantity("1Ki"), Some(1024.0));
    }

    #[test]
    fn rejects_what_the_api_server_rejects() {
        for bad in [
            "", "1 GB", "1GB", "lots", "2 cores", "1gi", "Mi", "1.2.3", " 1", "1 ", "1e", "0x10",
            "1mb",
        ] {
            assert_eq!(parse_quantity(bad), None, "{bad:?} should not parse");
        }
    }

    #[test]
    fn detects_placeholders() {
        assert!(is_placeholder(
            "{{$.inputs.parameters['pipelinechannel--cpu_limit']}}"
        ));
        assert!(is_placeholder("$(params.cpu)"));
        assert!(!is_placeholder("500m"));
    }

    #[test]
    fn formats_bytes() {
        assert_eq!(format_bytes(268435456.0), "256Mi");
        assert_eq!(format_bytes(512.0), "512");
        assert_eq!(format_bytes(1.5 * 1073741824.0), "1.50Gi");
    }
}
