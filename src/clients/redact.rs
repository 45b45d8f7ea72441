//! Redaction at the source: container logs and error bodies are kept as evidence only after
//! anything that looks like a credential is replaced. Conservative by design: a false positive
//! hides a harmless string, a false negative would leak a secret into a report.

/// What replaces a secret.
pub const MASK: &str = "[redacted]";

/// Redacts PEM private-key blocks, bearer/OAuth tokens, JSON fields named like secrets and
/// `KEY=value` pairs whose name says secret, line by line.
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_pem = false;
    for line in text.split_inclusive('\n') {
        if line.contains("-----BEGIN") && line.contains("PRIVATE KEY") && !line.contains("-----END") {
            in_pem = true;
            out.push_str(MASK);
            if line.ends_with('\n') {
                out.push('\n');
            }
            continue;
        }
        if in_pem {
            if line.contains("-----END") {
                in_pem = false;
            }
            continue;
        }
        out.push_str(&redact_pem_span(&redact_line(line)));
    }
    out
}

/// A whole key on one line (JSON-escaped newlines) outside a field the pair rules caught.
fn redact_pem_span(line: &str) -> String {
    let (Some(start), Some(end_marker)) = (line.find("-----BEGIN"), line.rfind("PRIVATE KEY-----")) else { return line.to_string() };
    let end = end_marker + "PRIVATE KEY-----".len();
    if end <= start {
        return line.to_string();
    }
    format!("{}{MASK}{}", &line[..start], &line[end..])
}

const SECRET_NAMES: &[&str] = &["private_key", "access_token", "refresh_token", "id_token", "client_secret", "password", "secret", "token", "assertion", "apikey", "api_key"];

fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    // private_key_id and token_uri/token_type name no secret.
    if n.ends_with("_id") || n.ends_with("_uri") || n.ends_with("_type") || n.ends_with("_url") || n == "expires_in" {
        return false;
    }
    SECRET_NAMES.iter().any(|s| n.contains(s))
}

fn redact_line(line: &str) -> String {
    let mut s = line.to_string();
    // "Bearer <token>" and Google access tokens (ya29.) wherever they appear.
    for marker in ["Bearer ", "bearer ", "ya29."] {
        let mut from = 0;
        while let Some(i) = s[from..].find(marker) {
            let start = from + i + if marker == "ya29." { 0 } else { marker.len() };
            // "Bearer Bearer xyz": the token is the word after the last marker.
            if marker != "ya29." && s[start..].starts_with(marker) {
                from = start;
                continue;
            }
            let end = s[start..].find(|c: char| c.is_whitespace() || c == '"' || c == '\'' || c == ',').map_or(s.len(), |e| start + e);
            // A marker glued to the token ("abcBearer xyz") starts the next token, not this one's.
            let end = s[start..end].find(marker.trim_end()).filter(|&m| m > 0).map_or(end, |m| start + m);
            if end > start {
                s.replace_range(start..end, MASK);
            }
            // Nothing masked (`Bearer ,`): look again from here, not from inside a character.
            from = if end > start { start + MASK.len() } else { start };
            if from >= s.len() {
                break;
            }
        }
    }
    // "name": "value" (JSON) and NAME=value (environment, query strings).
    s = redact_pairs(&s, '"', ':');
    redact_pairs(&s, ' ', '=')
}

/// Replaces the value after `name<sep>` when the name says secret; `quote` is the JSON quote
/// (names are quoted) or a space for `NAME=value` words.
fn redact_pairs(s: &str, quote: char, sep: char) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find(sep) {
        let (before, after) = rest.split_at(i);
        let name = if quote == '"' {
            before.trim_end().strip_suffix('"').and_then(|b| b.rfind('"').map(|q| &b[q + 1..])).unwrap_or("")
        } else {
            before.rsplit(|c: char| c.is_whitespace() || c == '&' || c == '?' || c == ';').next().unwrap_or("")
        };
        out.push_str(before);
        out.push(sep);
        let after = &after[1..];
        if !name.is_empty() && secret_name(name) {
            let trimmed = after.trim_start();
            out.push_str(&after[..after.len() - trimmed.len()]);
            let (value_len, quoted) = if quote == '"' && trimmed.starts_with('"') {
                let mut esc = false;
                let end = trimmed[1..].char_indices().find(|&(_, c)| {
                    let hit = c == '"' && !esc;
                    esc = c == '\\' && !esc;
                    hit
                });
                (end.map_or(trimmed.len(), |(e, _)| e + 2), true)
            } else {
                (trimmed.find(|c: char| c.is_whitespace() || c == ',' || c == '&' || c == '}' || c == ';').unwrap_or(trimmed.len()), false)
            };
            if value_len > 0 {
                out.push_str(if quoted { "\"[redacted]\"" } else { MASK });
            }
            rest = &trimmed[value_len..];
        } else {
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The last `lines` lines of `text`, redacted, at most `max_bytes` long.
pub fn tail(text: &str, lines: usize, max_bytes: usize) -> String {
    let redacted = redact(text);
    let all: Vec<&str> = redacted.lines().collect();
    let mut t = all[all.len().saturating_sub(lines)..].join("\n");
    if t.len() > max_bytes {
        let mut cut = t.len() - max_bytes;
        while !t.is_char_boundary(cut) {
            cut += 1;
        }
        t = format!("…{}", &t[cut..]);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_tokens_and_secret_fields_are_masked() {
        let text = "start\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\nabc\n-----END PRIVATE KEY-----\nafter\n";
        let r = redact(text);
        assert_eq!(r, "start\n[redacted]\nafter\n");
        let r = redact(r#"{"access_token": "ya29.a0AfH6", "token_type": "Bearer", "expires_in": 3599}"#);
        assert!(!r.contains("a0AfH6"), "{r}");
        assert!(r.contains(r#""token_type": "Bearer""#), "{r}");
        let r = redact("Authorization: Bearer abc.def.ghi\n");
        assert_eq!(r, "Authorization: Bearer [redacted]\n");
        // Found by the fuzzer: the first token swallowed the second marker.
        assert_eq!(redact("Bearer abcBearer xyz\n"), "Bearer [redacted]Bearer [redacted]\n");
        assert_eq!(redact("Bearer Bearer xyz\n"), "Bearer Bearer [redacted]\n");
        assert_eq!(redact("Bearer ,ééééé Bearer x\n"), "Bearer ,ééééé Bearer [redacted]\n");
        let r = redact("env PASSWORD=hunter2 USER=alice\n");
        assert_eq!(r, "env PASSWORD=[redacted] USER=alice\n");
        let r = redact(r#"{"private_key_id": "k1", "private_key": "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n"}"#);
        assert!(r.contains(r#""private_key_id": "k1""#) && !r.contains("MII"), "{r}");
        assert_eq!(redact("grant_type=jwt&assertion=eyJhbGc.x.y"), "grant_type=jwt&assertion=[redacted]");
        assert_eq!(redact("key: -----BEGIN PRIVATE KEY-----\\nMII\\n-----END PRIVATE KEY-----\\n done"), "key: [redacted]\\n done");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2, 100), "b\nc");
        assert_eq!(tail("abcdef", 5, 3), "…def");
    }
}
