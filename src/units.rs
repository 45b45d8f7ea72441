//! Quantities people type: durations (`90s`, `15m`, `1h 30m`) and byte sizes (`64KiB`, `1MB`).
//! One parser each, shared by the command line, check files, kinds and the probe; a leaf module
//! that imports nothing from the crate.

use serde::Deserialize;
use std::time::Duration;

/// A duration as humantime reads it; `Err` is humantime's own message (callers add an example).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| e.to_string())
}

/// Deserializes a duration string for `#[serde(deserialize_with)]` helpers; `hint(text, error)`
/// words the error, so each field keeps its own example.
pub(crate) fn deserialize_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
    hint: impl FnOnce(&str, &str) -> String,
) -> Result<Duration, D::Error> {
    let s = String::deserialize(d)?;
    parse_duration(&s).map_err(|e| serde::de::Error::custom(hint(&s, &e)))
}

/// [`deserialize_duration`] for an optional field (`null` or absent is `None`).
pub(crate) fn deserialize_optional_duration<'de, D: serde::Deserializer<'de>>(
    d: D,
    hint: impl FnOnce(&str, &str) -> String,
) -> Result<Option<Duration>, D::Error> {
    let s = Option::<String>::deserialize(d)?;
    s.map(|s| parse_duration(&s).map_err(|e| serde::de::Error::custom(hint(&s, &e))))
        .transpose()
}

/// A size like `64KiB`, `1MB`, `100MB`, `1048576`.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("{s}: expected a size like 1MB or 64KiB"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kb" | "k" => 1_000,
        "kib" => 1 << 10,
        "mb" | "m" => 1_000_000,
        "mib" => 1 << 20,
        "gb" | "g" => 1_000_000_000,
        "gib" => 1 << 30,
        other => {
            return Err(format!(
                "{s}: unknown unit {other:?} (B, KB, KiB, MB, MiB, GB, GiB)"
            ))
        }
    };
    n.checked_mul(mult).ok_or_else(|| format!("{s}: too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1MB"), Ok(1_000_000));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("100MB"), Ok(100_000_000));
        assert_eq!(parse_size("7"), Ok(7));
        assert!(parse_size("1XB").is_err() && parse_size("MB").is_err());
    }

    #[test]
    fn durations_keep_humantime_messages() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(
            parse_duration("soon"),
            Err(humantime::parse_duration("soon").unwrap_err().to_string())
        );
    }
}
