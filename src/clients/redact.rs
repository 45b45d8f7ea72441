//! Redaction at the source: container logs, plug-in output and error bodies are kept as evidence
//! only after anything that looks like a credential is replaced. Conservative by design: a false
//! positive hides a harmless string, a false negative would leak a secret into a report. One pass
//! finds the spans to hide (PEM private keys over the whole text, then per line: `name: value`
//! and `name=value` pairs whose name says secret, auth headers and cookies, bearer tokens, JWTs,
//! Google access tokens, URL userinfo); a second pass copies the text around them. Every scan
//! moves forward, so the cost is linear in the input, and every cut falls on an ASCII byte, so
//! multi-byte text never splits.

/// What replaces a secret.
pub const MASK: &str = "[redacted]";

/// A byte range of the input to hide.
type Span = (usize, usize);

/// Replaces everything that looks like a credential with [`MASK`]. The result is a fixed point:
/// redacting it again changes nothing. One pass can leave text that a second pass would still
/// take for a credential (a mask that ends inside a token, `Bearer [redacted]tail`, when two
/// spans merge), so passes repeat until one finds nothing new; text without a credential costs
/// one pass, and the passes are bounded.
pub fn redact(text: &str) -> String {
    const MAX_PASSES: usize = 8;
    let mut out = redact_once(text);
    for _ in 1..MAX_PASSES {
        let next = redact_once(&out);
        if next == out {
            break;
        }
        out = next;
    }
    out
}

/// One pass: find the spans, copy the text around them.
fn redact_once(text: &str) -> String {
    let mut spans = pem_spans(text);
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        line_spans(line, start, &mut spans);
        start += line.len();
    }
    if spans.is_empty() {
        return text.to_string();
    }
    spans.sort_unstable();
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    let mut spans = spans.into_iter().filter(|(s, e)| e > s).peekable();
    while let Some((s, mut e)) = spans.next() {
        // Overlapping or touching spans become one mask.
        while let Some(&(s2, e2)) = spans.peek() {
            if s2 > e {
                break;
            }
            e = e.max(e2);
            spans.next();
        }
        out.push_str(&text[at..s]);
        out.push_str(MASK);
        at = e;
    }
    out.push_str(&text[at..]);
    out
}

/// The last `lines` lines of `text`, redacted before anything is cut, at most `max_bytes` long.
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

/// Case-insensitive search for an ASCII `needle` in `hay` from `from`.
fn find_ci(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (from..=hay.len() - needle.len())
        .find(|&i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

/// The end of the `-----` that closes a PEM label starting at `from`, if the label is short,
/// on one line and names a private key.
fn private_label_end(b: &[u8], from: usize) -> Option<usize> {
    let window = &b[from..b.len().min(from + 80)];
    let close = window.windows(5).position(|w| w == b"-----")?;
    let label = &window[..close];
    if label.contains(&b'\n') || find_ci(label, b"PRIVATE KEY", 0).is_none() {
        return None;
    }
    Some(from + close + 5)
}

/// PEM private-key blocks over the whole text: BEGIN to END, an unterminated BEGIN to the end,
/// and an END without its BEGIN (a log cut before the key started) back to the last safe point.
fn pem_spans(text: &str) -> Vec<Span> {
    let b = text.as_bytes();
    let mut spans = Vec::new();
    let mut open: Option<usize> = None;
    let mut safe = 0;
    let mut i = 0;
    while let Some(p) = memchr::memmem::find(&b[i..], b"-----") {
        let at = i + p;
        let after = at + 5;
        if b[after..].starts_with(b"BEGIN ") {
            if let Some(end) = private_label_end(b, after + 6) {
                open.get_or_insert(at);
                i = end;
                continue;
            }
            // A garbled or overlong marker line that still names a private key: the key body
            // follows all the same, so the block opens here.
            let line_end = memchr::memchr(b'\n', &b[after..]).map_or(b.len(), |n| after + n);
            if find_ci(&b[after + 6..line_end.max(after + 6)], b"PRIVATE KEY", 0).is_some() {
                open.get_or_insert(at);
                i = line_end;
                continue;
            }
        } else if b[after..].starts_with(b"END ") {
            if let Some(end) = private_label_end(b, after + 4) {
                spans.push((open.take().unwrap_or(safe), end));
                safe = end;
                i = end;
                continue;
            }
        }
        i = at + 1;
    }
    if let Some(start) = open {
        spans.push((start, b.len()));
    }
    spans
}

const SECRET_NAMES: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "assertion",
    "apikey",
    "api_key",
    "private_key",
    "privatekey",
    "authorization",
    "cookie",
    "session_key",
    "access_key",
    "credential",
];

/// Names whose value is the rest of the line (headers whose value has spaces and `;`).
fn header_name(n: &str) -> bool {
    n.contains("authorization") || n.contains("cookie")
}

/// Whether a key (`DB_PASSWORD`, `"client_secret"`, `Set-Cookie`) names a secret. Ids, URIs,
/// paths, types, names and lifetimes of secrets are not secrets.
fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace('-', "_");
    let harmless = [
        "id",
        "uri",
        "url",
        "type",
        "path",
        "file",
        "name",
        "ref",
        "expires_in",
        "ttl",
        "count",
        "length",
        "endpoint",
    ];
    if harmless.iter().any(|h| n.ends_with(h)) {
        return false;
    }
    SECRET_NAMES.iter().any(|s| n.contains(s))
}

const AUTH_SCHEMES: &[&str] = &[
    "bearer",
    "basic",
    "digest",
    "negotiate",
    "token",
    "ntlm",
    "dpop",
    "hoba",
    "mutual",
];

fn ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.')
}

fn b64url(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'+' | b'/' | b'=')
}

/// Where a bare token (after `Bearer `, a `ya29.` prefix) ends.
fn token_end(b: &[u8], from: usize) -> usize {
    (from..b.len())
        .find(|&i| {
            b[i].is_ascii_whitespace()
                || matches!(b[i], b'"' | b'\'' | b',' | b';' | b'<' | b'>' | b'\\')
        })
        .unwrap_or(b.len())
}

/// Where the line ends (before `\r\n` or `\n`).
fn line_end(b: &[u8]) -> usize {
    let mut e = b.len();
    while e > 0 && matches!(b[e - 1], b'\n' | b'\r') {
        e -= 1;
    }
    e
}

/// Spans on one line; `base` is the line's offset in the text.
fn line_spans(line: &str, base: usize, spans: &mut Vec<Span>) {
    let b = line.as_bytes();
    let eol = line_end(b);
    let b = &b[..eol];
    let mut push = |s: usize, e: usize| {
        if e > s {
            spans.push((base + s, base + e));
        }
    };
    // `Bearer <token>` wherever it appears, each one.
    let mut i = 0;
    while let Some(p) = find_ci(b, b"bearer", i) {
        let mut s = p + 6;
        if s < b.len() && (b[s] == b' ' || b[s] == b'\t') {
            while s < b.len() && (b[s] == b' ' || b[s] == b'\t') {
                s += 1;
            }
            let e = token_end(b, s);
            push(s, e);
            // From the token's start, not its end: `Bearer Bearer x` hides `x` too.
            i = s;
        } else {
            i = s;
        }
    }
    // Google access tokens.
    let mut i = 0;
    while let Some(p) = memchr::memmem::find(&b[i..], b"ya29.") {
        let e = token_end(b, i + p);
        push(i + p, e);
        i = e;
    }
    // JWTs: `eyJ` + base64url, two or more dot-separated segments after it (the last may be
    // empty: an unsigned token).
    let mut i = 0;
    while let Some(p) = memchr::memmem::find(&b[i..], b"eyJ") {
        let s = i + p;
        let seg = |from: usize| (from..b.len()).find(|&k| !b64url(b[k])).unwrap_or(b.len());
        let mut e = seg(s);
        let mut dots = 0;
        while e < b.len() && b[e] == b'.' {
            let next = seg(e + 1);
            dots += 1;
            e = next;
            if dots >= 4 {
                break;
            }
        }
        let boundary =
            s == 0 || !(b[s - 1].is_ascii_alphanumeric() || matches!(b[s - 1], b'_' | b'-'));
        if boundary && dots >= 2 && e > s + 10 {
            push(s, e);
        }
        i = e.max(s + 3);
    }
    // Userinfo in URLs: scheme://user:pass@host.
    let mut i = 0;
    while let Some(p) = memchr::memmem::find(&b[i..], b"://") {
        let s = i + p + 3;
        let stop = (s..b.len())
            .find(|&k| {
                matches!(b[k], b'/' | b'?' | b'#' | b'@' | b'"' | b'\'' | b'<' | b'>')
                    || b[k].is_ascii_whitespace()
            })
            .unwrap_or(b.len());
        if stop < b.len() && b[stop] == b'@' {
            push(s, stop);
        }
        i = stop.max(s);
    }
    pair_spans(b, &mut push);
}

/// `name: value`, `name = value`, `"name": "value"`, `'name': 'value'` with a secret name.
fn pair_spans(b: &[u8], push: &mut impl FnMut(usize, usize)) {
    let first_text = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let mut masked_to = 0;
    let mut i = 0;
    while i < b.len() {
        let Some(p) = b[i..].iter().position(|&c| c == b':' || c == b'=') else {
            break;
        };
        let sep = i + p;
        i = sep + 1;
        // The name: skip blanks and a closing quote, then identifier characters.
        let mut n_end = sep;
        while n_end > 0 && (b[n_end - 1] == b' ' || b[n_end - 1] == b'\t') {
            n_end -= 1;
        }
        if n_end > 0 && (b[n_end - 1] == b'"' || b[n_end - 1] == b'\'') {
            n_end -= 1;
        }
        let mut n_start = n_end;
        while n_start > 0 && ident(b[n_start - 1]) {
            n_start -= 1;
        }
        if n_start == n_end {
            continue;
        }
        let name = std::str::from_utf8(&b[n_start..n_end]).unwrap_or("");
        if !secret_name(name) {
            continue;
        }
        // The value: quoted to its closing quote, else a word, else (YAML keys, headers) the line.
        let mut v = sep + 1;
        while v < b.len() && (b[v] == b' ' || b[v] == b'\t') {
            v += 1;
        }
        if v >= b.len() {
            continue;
        }
        let quoted = b[v] == b'"' || b[v] == b'\'';
        let (mut vs, ve) = if quoted {
            let q = b[v];
            let mut k = v + 1;
            while k < b.len() && b[k] != q {
                k += if b[k] == b'\\' { 2 } else { 1 };
            }
            (v + 1, k.min(b.len()))
        } else {
            let mut key_start = n_start;
            if key_start > 0 && (b[key_start - 1] == b'"' || b[key_start - 1] == b'\'') {
                key_start -= 1;
            }
            let before = b[..key_start]
                .iter()
                .rposition(|c| !c.is_ascii_whitespace());
            let at_key = key_start <= first_text
                || before.is_some_and(|k| matches!(b[k], b'{' | b',' | b'-' | b'['));
            if b[sep] == b':' && (at_key || header_name(&name.to_ascii_lowercase())) {
                (v, b.len())
            } else if v < masked_to || b[v..].starts_with(MASK.as_bytes()) {
                // Inside the word value of an earlier pair (it ends where that one did), or
                // already redacted (redacting twice changes nothing).
                continue;
            } else {
                (
                    v,
                    (v..b.len())
                        .find(|&k| {
                            b[k].is_ascii_whitespace()
                                || matches!(
                                    b[k],
                                    b',' | b'&' | b';' | b'}' | b']' | b')' | b'"' | b'\''
                                )
                        })
                        .unwrap_or(b.len()),
                )
            }
        };
        // `Authorization: Bearer x` keeps the scheme.
        if name.to_ascii_lowercase().contains("authorization") {
            let word_end = (vs..ve)
                .find(|&k| !b[k].is_ascii_alphabetic())
                .unwrap_or(ve);
            let word = std::str::from_utf8(&b[vs..word_end])
                .unwrap_or("")
                .to_ascii_lowercase();
            if word_end < ve && b[word_end] == b' ' && AUTH_SCHEMES.contains(&word.as_str()) {
                vs = word_end + 1;
            }
        }
        push(vs, ve);
        if ve == b.len() {
            break;
        }
        // Seps inside this value are still looked at (`token: Cookie: a=b`), from the next one.
        masked_to = masked_to.max(ve);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_tokens_and_secret_fields_are_masked() {
        let text = "start\n-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg\nabc\n-----END PRIVATE KEY-----\nafter\n";
        let r = redact(text);
        assert_eq!(r, "start\n[redacted]\nafter\n");
        let r = redact(
            r#"{"access_token": "ya29.a0AfH6", "token_type": "Bearer", "expires_in": 3599}"#,
        );
        assert!(!r.contains("a0AfH6"), "{r}");
        assert!(r.contains(r#""token_type": "Bearer""#), "{r}");
        let r = redact("Authorization: Bearer abc.def.ghi\n");
        assert_eq!(r, "Authorization: Bearer [redacted]\n");
        let r = redact("env PASSWORD=hunter2 USER=alice\n");
        assert_eq!(r, "env PASSWORD=[redacted] USER=alice\n");
        let r = redact(
            r#"{"private_key_id": "k1", "private_key": "-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----\n"}"#,
        );
        assert!(
            r.contains(r#""private_key_id": "k1""#) && !r.contains("MII"),
            "{r}"
        );
        assert_eq!(
            redact("grant_type=jwt&assertion=eyJhbGc.x.y"),
            "grant_type=jwt&assertion=[redacted]"
        );
        assert_eq!(
            redact("key: -----BEGIN PRIVATE KEY-----\\nMII\\n-----END PRIVATE KEY-----\\n done"),
            "key: [redacted]\\n done"
        );
    }

    const CANARY: &str = "CANARYs3cr3tXq9";

    /// Every line plants the canary where a credential goes; none may survive.
    const PLANTED: &[&str] = &[
        "password: {C}",
        "  password: {C}",
        "{'password': '{C}'}",
        "password = {C}",
        "\"password\": \"{C}\"",
        "{\"password\":\"{C}\",\"user\":\"bob\"}",
        "db_password={C}",
        "DB_PASSWORD = '{C}'",
        "client_secret: {C}",
        "Authorization: Basic {C}==",
        "authorization: Digest username=\"bob\", response=\"{C}\"",
        "curl -H 'Authorization: Bearer {C}' https://x",
        "\"Authorization\": \"Bearer {C}\"",
        "Cookie: session={C}; theme=dark",
        "Set-Cookie: id={C}; Path=/; HttpOnly",
        "< set-cookie: oauth2_proxy={C}",
        "X-Api-Key: {C}",
        "Bearer {C}",
        "BEARER {C}",
        "token ya29.{C}",
        "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOi{C}.c2lnbmF0dXJl",
        "jwt=eyJhbGciOiJIUzI1NiJ9.{C}.{C}",
        "id: eyJhbGciOiJub25lIn0.eyJ{C}.",
        "https://user:{C}@example.com/repo.git",
        "git clone https://{C}@github.com/org/repo",
        "postgres://kf:{C}@db:5432/mlpipeline?sslmode=disable",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE{C}\n{C}==\n-----END RSA PRIVATE KEY-----",
        "-----BEGIN OPENSSH PRIVATE KEY-----\n{C}\n-----END OPENSSH PRIVATE KEY-----",
        "-----BEGIN EC PRIVATE KEY-----\\n{C}\\n-----END EC PRIVATE KEY-----",
        "-----BEGIN PRIVATE KEY-----\n{C} never ends",
        // A log cut before its key started: the body and the END line survive.
        "{C}AAAB3NzaC1yc2E\n{C}\n-----END PRIVATE KEY-----\nafter",
    ];

    #[test]
    fn planted_canaries_never_survive() {
        for template in PLANTED {
            let text = template.replace("{C}", CANARY);
            let r = redact(&text);
            assert!(
                !r.contains(CANARY),
                "canary survived in {template:?}: {r:?}"
            );
            assert!(r.contains(MASK), "{template:?}: {r:?}");
            assert_eq!(redact(&r), r, "redacting twice changed {template:?}");
        }
    }

    #[test]
    fn a_garbled_private_key_marker_still_hides_the_key() {
        // A garbled BEGIN line (found by the fuzzer: invalid UTF-8 made the label too long to
        // close) still opens the block, so the body never survives.
        let garbled = "{\"type\": \"serv\"start\n-----BEGIN PRIVATE KEY-N`P\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}then\": \"athassertionorizatiin:\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}\u{fffd}RIVATE KEY-----\nMIIEvQIBANBCANARY\ng\na\n";
        let r = redact(garbled);
        assert!(!r.contains("MIIEvQIBANBCANARY"), "{r}");
    }

    #[test]
    fn what_names_no_secret_is_kept() {
        for text in [
            "hello world",
            "\"token_type\": \"Bearer\", \"expires_in\": 3599",
            "USER=alice HOME=/home/alice",
            "\"private_key_id\": \"k1\"",
            "token_uri: https://oauth2.googleapis.com/token",
            "see https://example.com/path?q=1 for details",
            "mailto:bob@example.com",
            "eyJ is how a JWT starts",
            "-----END CERTIFICATE-----",
        ] {
            assert_eq!(redact(text), text);
        }
        assert_eq!(
            redact("after\n-----END PRIVATE KEY-----\nkept\n"),
            "[redacted]\nkept\n"
        );
    }

    #[test]
    fn exact_shapes_keep_their_structure() {
        assert_eq!(redact("password: x"), "password: [redacted]");
        assert_eq!(redact("{'password': 'x'}"), "{'password': '[redacted]'}");
        assert_eq!(redact("password = x"), "password = [redacted]");
        assert_eq!(
            redact(r#"{"password": "x", "user": "bob"}"#),
            r#"{"password": "[redacted]", "user": "bob"}"#
        );
        assert_eq!(
            redact("Authorization: Basic dXNlcjpwYXNz"),
            "Authorization: Basic [redacted]"
        );
        assert_eq!(redact("Cookie: a=1; b=2"), "Cookie: [redacted]");
        assert_eq!(
            redact("https://user:pass@host/x"),
            "https://[redacted]@host/x"
        );
        assert_eq!(
            redact("Bearer a and Bearer b"),
            "Bearer [redacted] and Bearer [redacted]"
        );
        assert_eq!(redact("Bearer ,Bearer b"), "Bearer ,Bearer [redacted]");
    }

    #[test]
    fn multi_byte_text_after_a_marker_does_not_panic() {
        for text in [
            "Authorization: Bearer \"ééééééééééé\"",
            "Bearer  日本語のトークン",
            "Bearer 🦀🦀🦀",
            "x Bearer ,ééééééé Bearer é",
            "password=é",
            "ya29.é",
        ] {
            let _ = redact(text);
        }
        assert!(!redact("Bearer ünïcødé-CANARY").contains("CANARY"));
    }

    /// A small deterministic generator, so failures reproduce without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[(self.next() % from.len() as u64) as usize]
        }
    }

    const PIECES: &[&str] = &[
        "Bearer ",
        "bearer",
        "password",
        "token",
        ":",
        "=",
        " ",
        "  ",
        "\"",
        "'",
        ",",
        ";",
        "&",
        "\n",
        "\r\n",
        "\\n",
        "é",
        "日本",
        "🦀",
        "\u{1b}[31m",
        "eyJ",
        ".",
        "-",
        "-----BEGIN PRIVATE KEY-----",
        "-----END PRIVATE KEY-----",
        "://",
        "@",
        "/",
        "ya29.",
        "Cookie",
        "Authorization",
        "Basic ",
        "a",
        "Z9",
        "{",
        "}",
        "\\",
    ];

    fn junk(rng: &mut Rng) -> String {
        let n = rng.next() % 12;
        (0..n).map(|_| rng.pick(PIECES)).collect()
    }

    #[test]
    fn random_text_never_panics_and_never_keeps_a_planted_canary() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..20_000 {
            let text = junk(&mut rng) + &junk(&mut rng) + &junk(&mut rng);
            let once = redact(&text);
            assert_eq!(redact(&once), once, "redacting twice changed {text:?}");
            let _ = tail(&text, 3, 7);
            let planted = rng.pick(PLANTED).replace("{C}", CANARY);
            let sep = rng.pick(&[" ", "\n", "\t", " | "]);
            let text = format!(
                "{}{sep}{planted}{}{}",
                junk(&mut rng),
                rng.pick(&["\n", " ", ""]),
                junk(&mut rng)
            );
            let r = redact(&text);
            assert!(!r.contains(CANARY), "canary survived in {text:?}: {r:?}");
        }
    }

    #[test]
    fn redaction_stays_linear_on_hostile_input() {
        for piece in [
            "Bearer ",
            "password=",
            "password: ",
            "eyJa.",
            "://a:",
            "\"token\":\"",
            "-----BEGIN PRIVATE KEY-----",
            "a",
            "é",
        ] {
            let text = piece.repeat(1_000_000 / piece.len());
            let started = std::time::Instant::now();
            let _ = redact(&text);
            assert!(
                started.elapsed() < std::time::Duration::from_secs(3),
                "{piece:?} took {:?}",
                started.elapsed()
            );
        }
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        assert_eq!(tail("a\nb\nc\n", 2, 100), "b\nc");
        assert_eq!(tail("abcdef", 5, 3), "…def");
        // Redacted before it is cut: a key whose BEGIN line falls outside the tail still goes.
        let key = format!(
            "-----BEGIN PRIVATE KEY-----\n{CANARY}\n{CANARY}\n-----END PRIVATE KEY-----\ndone"
        );
        assert!(!tail(&key, 2, 100).contains(CANARY));
        assert!(!tail(&key, 10, 30).contains(CANARY));
    }
}
