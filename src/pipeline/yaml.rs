//! Format-neutral reading helpers that every pipeline reader shares: the error type, scalars
//! kept as text, YAML errors worded with their line, line lookup in the source text, and the
//! alias budget that guards the YAML parser. Knows nothing of any pipeline format; depends on no
//! other file of `pipeline`.

use serde::Deserialize;
use std::collections::HashMap;

/// Why a file could not be inspected. `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub message: String,
    pub line: Option<u64>,
    /// The text is readable but is no compiled pipeline (a kustomization, a CI config, an empty
    /// file): `lint DIR` skips such files found in a directory, with a note.
    pub not_a_pipeline: bool,
}

impl ParseError {
    pub fn new(message: impl Into<String>) -> Self {
        ParseError {
            message: message.into(),
            line: None,
            not_a_pipeline: false,
        }
    }

    /// A readable file that is not a compiled pipeline.
    pub fn not_a_pipeline(message: impl Into<String>) -> Self {
        ParseError {
            not_a_pipeline: true,
            ..ParseError::new(message)
        }
    }
}

/// A scalar that may be written as a string, number or boolean; kept as text.
#[derive(Debug, Clone, PartialEq)]
pub struct Scalar(pub String);

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Scalar;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string or number")
            }
            fn visit_str<E>(self, v: &str) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Scalar, E> {
                Ok(Scalar(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Scalar, E> {
                Ok(Scalar(format_float(v)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<Scalar, E> {
                Ok(Scalar(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

fn format_float(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// YAML nodes one text may expand to through aliases before it is refused: at least this many,
/// more for large files (half a node per byte is more than an alias-free file can hold).
pub const MIN_ALIAS_BUDGET: u64 = 1_000_000;

/// The node budget for `text`, see [`MIN_ALIAS_BUDGET`].
pub fn alias_budget(text: &str) -> u64 {
    MIN_ALIAS_BUDGET.max(text.len() as u64 / 2)
}

/// `Err` when the YAML's aliases expand it past [`alias_budget`] nodes. serde_yaml_ng replays an
/// anchor's events for every alias (its own limit counts jumps, not nodes), so 400 KB of aliases
/// to a large anchor can make gigabytes of values; this walks every node once without keeping
/// any, counting, and stops at the budget. Texts without both `&` and `*` have no aliases and
/// are not walked. Other YAML errors are left to the real parse to report.
pub fn check_alias_budget(text: &str) -> Result<(), ParseError> {
    if memchr::memchr(b'*', text.as_bytes()).is_none()
        || memchr::memchr(b'&', text.as_bytes()).is_none()
    {
        return Ok(());
    }
    let budget = alias_budget(text);
    let left = std::cell::Cell::new(budget);
    for de in serde_yaml_ng::Deserializer::from_str(text) {
        if serde::de::DeserializeSeed::deserialize(NodeBudget(&left), de).is_err() {
            if left.get() == 0 {
                return Err(ParseError::new(format!(
                    "YAML aliases expand the file to more than {budget} nodes (the limit for its size); not inspected"
                )));
            }
            break;
        }
    }
    Ok(())
}

/// Visits every node of a YAML value, aliases expanded, spending one unit of the budget each.
#[derive(Clone, Copy)]
struct NodeBudget<'b>(&'b std::cell::Cell<u64>);

impl NodeBudget<'_> {
    fn spend<E: serde::de::Error>(self) -> Result<(), E> {
        match self.0.get().checked_sub(1) {
            Some(n) if n > 0 => {
                self.0.set(n);
                Ok(())
            }
            _ => {
                self.0.set(0);
                Err(E::custom("alias budget exceeded"))
            }
        }
    }
}

impl<'de> serde::de::DeserializeSeed<'de> for NodeBudget<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for NodeBudget<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<(), E> {
        self.spend()
    }
    fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<(), E> {
        self.spend()
    }
    fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<(), E> {
        self.spend()
    }
    fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<(), E> {
        self.spend()
    }
    fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<(), E> {
        self.spend()
    }
    fn visit_unit<E: serde::de::Error>(self) -> Result<(), E> {
        self.spend()
    }
    fn visit_none<E: serde::de::Error>(self) -> Result<(), E> {
        self.spend()
    }
    fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        serde::de::DeserializeSeed::deserialize(self, d)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.spend()?;
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        self.spend()?;
        while map.next_key_seed(self)?.is_some() {
            map.next_value_seed(self)?;
        }
        Ok(())
    }
    fn visit_enum<A: serde::de::EnumAccess<'de>>(self, data: A) -> Result<(), A::Error> {
        use serde::de::VariantAccess;
        self.spend()?;
        let (_, variant) = data.variant_seed(std::marker::PhantomData::<serde::de::IgnoredAny>)?;
        variant.newtype_variant_seed(self)
    }
}

pub(crate) fn yaml_error(e: serde_yaml_ng::Error) -> ParseError {
    let line = e.location().map(|l| l.line() as u64);
    let mut message = e.to_string();
    // serde_yaml_ng appends " at line X column Y"; the line is reported separately.
    if let Some(idx) = message.find(" at line ") {
        message.truncate(idx);
    }
    ParseError {
        line,
        ..ParseError::new(format!("malformed YAML: {message}"))
    }
}

/// Byte offset of the first line at or after byte `from` whose content (after indentation and
/// an optional `- ` item marker) starts with `needle`.
fn find_line_start(text: &str, needle: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut pos = from.min(text.len());
    while let Some(i) = memchr::memmem::find(&bytes[pos..], needle.as_bytes()) {
        let at = pos + i;
        let line_start = memchr::memrchr(b'\n', &bytes[..at])
            .map(|n| n + 1)
            .unwrap_or(0);
        let prefix = &bytes[line_start..at];
        let prefix = prefix.strip_suffix(b"- ").unwrap_or(prefix);
        if prefix.iter().all(|&b| b == b' ') {
            return Some(at);
        }
        pos = at + 1;
    }
    None
}

/// Where keys and `name:` entries first appear at or after an offset, from one pass over the
/// text: looking up every executor or template this way is linear in the file, where a text
/// search per task is quadratic.
///
/// A line's content is taken after its indentation and again after one `- ` item marker, as
/// [`offset_of`] does; a key is the text before the first `:` (or a `"quoted"` key), a name the
/// value of `name:` without quotes or a trailing comment.
pub(crate) struct LineIndex<'t> {
    keys: HashMap<&'t str, u64>,
    quoted: HashMap<&'t str, u64>,
    names: HashMap<&'t str, u64>,
    item_names: HashMap<&'t str, u64>,
}

impl<'t> LineIndex<'t> {
    pub fn new(text: &'t str, from: usize) -> Self {
        let mut index = LineIndex {
            keys: HashMap::new(),
            quoted: HashMap::new(),
            names: HashMap::new(),
            item_names: HashMap::new(),
        };
        let from = from.min(text.len());
        let first = memchr::memchr_iter(b'\n', &text.as_bytes()[..from]).count() as u64 + 1;
        // `from` may sit inside a line; that line's start counts.
        let start = memchr::memrchr(b'\n', &text.as_bytes()[..from])
            .map(|n| n + 1)
            .unwrap_or(0);
        for (line_no, line) in (first..).zip(text[start..].split('\n')) {
            let c0 = line.trim_start_matches(' ');
            let c1 = c0.strip_prefix("- ");
            for c in std::iter::once(c0).chain(c1) {
                index.add(c, line_no);
            }
        }
        index
    }

    fn add(&mut self, c: &'t str, line: u64) {
        if let Some(rest) = c.strip_prefix('"') {
            if let Some(end) = rest.find('"') {
                self.quoted.entry(&rest[..end]).or_insert(line);
            }
        } else if let Some(key) = c
            .find(':')
            .map(|colon| &c[..colon])
            .filter(|k| !k.is_empty() && !k.contains(' '))
        {
            // Keys with spaces are script lines, never an executor label: not worth the memory.
            self.keys.entry(key).or_insert(line);
        }
        if let Some(v) = c.strip_prefix("name: ") {
            self.names.entry(plain_value(v)).or_insert(line);
        }
        if let Some(v) = c.strip_prefix("- name: ") {
            self.item_names.entry(plain_value(v)).or_insert(line);
        }
    }

    /// First line of the mapping key `key:` or `"key"`.
    pub fn key(&self, key: &str) -> Option<u64> {
        self.keys.get(key).or_else(|| self.quoted.get(key)).copied()
    }

    /// First line of `- name: value` (a list item), else of `name: value`.
    pub fn name(&self, value: &str) -> Option<u64> {
        self.item_names
            .get(value)
            .or_else(|| self.names.get(value))
            .copied()
    }

    /// First line of `- name: value` only.
    pub fn item_name(&self, value: &str) -> Option<u64> {
        self.item_names.get(value).copied()
    }
}

/// A plain or quoted one-line scalar without a trailing comment.
fn plain_value(v: &str) -> &str {
    let v = v.split(" #").next().unwrap_or(v).trim();
    for q in ['"', '\''] {
        if let Some(inner) = v.strip_prefix(q).and_then(|x| x.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

/// Byte offset of the first line whose trimmed content starts with `needle`.
pub(crate) fn offset_of(text: &str, needle: &str) -> Option<usize> {
    let at = find_line_start(text, needle, 0)?;
    Some(
        memchr::memrchr(b'\n', &text.as_bytes()[..at])
            .map(|n| n + 1)
            .unwrap_or(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_index_finds_keys_and_names_after_offset() {
        let t = "a:\n  b: 1\n  c: 2\nd:\n  c: 3\n  \"q\": {}\n  - name: probe-2\n  - name: 'probe'  # x\n    name: other\n";
        let i = LineIndex::new(t, offset_of(t, "d:").unwrap());
        assert_eq!(i.key("c"), Some(5));
        assert_eq!(i.key("b"), None);
        assert_eq!(i.key("q"), Some(6));
        assert_eq!(i.name("probe"), Some(8));
        assert_eq!(i.name("probe-2"), Some(7));
        assert_eq!(i.name("other"), Some(9));
        assert_eq!(i.item_name("other"), None);
        assert_eq!(LineIndex::new(t, 0).key("c"), Some(3));
    }
}
