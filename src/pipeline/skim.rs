//! A fast reader for the block-style YAML that pipeline compilers emit, used before the full
//! YAML parser. Compiled pipelines are mostly embedded scripts (block and multi-line quoted
//! scalars) that lint never needs; this reader steps over them by indentation instead of
//! tokenising every byte, and builds a small borrowed tree of the rest.
//!
//! It is only an accelerator: anything it does not fully understand (tabs, anchors, tags,
//! multi-line flow collections, a value it skipped being needed) makes it give up, and the file
//! is parsed again by `serde_yaml_ng`, which also produces every error message. Tests check
//! that both paths give the same task model for every committed pipeline and the SDK's own.

use bumpalo::collections::{String as BumpString, Vec as BumpVec};
use bumpalo::Bump;
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use std::fmt;

/// The reader gave up; the caller falls back to the full parser.
#[derive(Debug)]
pub struct Unsupported(pub String);

impl fmt::Display for Unsupported {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

impl de::Error for Unsupported {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Unsupported(msg.to_string())
    }
}

fn give_up<T>(why: &str) -> Result<T, Unsupported> {
    Err(Unsupported(why.to_string()))
}

/// A YAML node. Everything lives in the text or in a per-file arena (`Bump`), so building and
/// dropping a tree costs no heap allocation per node.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Node<'a> {
    Null,
    /// `plain` scalars get YAML's type resolution (numbers, booleans); quoted ones are strings.
    Scalar {
        text: &'a str,
        plain: bool,
    },
    Map(&'a [(&'a str, Node<'a>)]),
    Seq(&'a [Node<'a>]),
    /// Content that was stepped over (block scalars, multi-line scalars): only ignorable.
    Skipped,
}

/// The quote (`"` or `'`) still open after a stepped-over line whose content is `c`, given
/// the one open before it. A quoted value starts after `- ` markers or after `key: `; inside a
/// double-quoted scalar `\"` does not close it, inside a single-quoted one `''` does not.
fn open_quote_after(c: &str, open: Option<u8>) -> Option<u8> {
    let b = c.as_bytes();
    let (mut q, mut i) = match open {
        Some(q) => (q, 0),
        None => {
            let mut v = c;
            while let Some(r) = v.strip_prefix("- ").or_else(|| (v == "-").then_some("")) {
                v = r.trim_start_matches(' ');
            }
            if !v.starts_with(['"', '\'']) {
                // `key: "value` (a key without quotes of its own)
                match v.find(": ") {
                    Some(k) if !v[..k].contains(['"', '\'']) => {
                        v = v[k + 2..].trim_start_matches(' ')
                    }
                    _ => return None,
                }
            }
            let &q = v.as_bytes().first().filter(|&&q| q == b'"' || q == b'\'')?;
            (q, c.len() - v.len() + 1)
        }
    };
    while i < b.len() {
        match (q, b[i]) {
            (b'"', b'\\') => i += 2,
            (b'\'', b'\'') if b.get(i + 1) == Some(&b'\'') => i += 2,
            (_, x) if x == q => {
                // Closed; a second quoted value on the same line (a flow list) is left alone.
                q = 0;
                break;
            }
            _ => i += 1,
        }
    }
    (q != 0).then_some(q)
}

#[derive(Debug, Clone, Copy)]
struct Line {
    indent: usize,
    /// Byte offsets of the content (after the indentation, without the newline).
    start: usize,
    end: usize,
}

struct Reader<'a> {
    text: &'a str,
    bump: &'a Bump,
    lines: BumpVec<'a, Line>,
    pos: usize,
    depth: usize,
    /// Stacks shared by nested collections; each finished collection is copied once into the
    /// arena at its exact size (no growth copies).
    entries: Vec<(&'a str, Node<'a>)>,
    items: Vec<Node<'a>>,
}

/// Deeper nesting than this is left to the full parser (which has its own limit).
const MAX_DEPTH: usize = 100;

/// Keys whose block values no supported format's task model reads (component interfaces,
/// commands, arguments, environment, caching and retry policies, secret and volume mounts). Their
/// values are stepped over by indentation; the fast-vs-full tests prove nothing read lives there.
const NEVER_READ: &[&str] = &[
    "inputDefinitions",
    "outputDefinitions",
    "inputs",
    "outputs",
    "command",
    "args",
    "env",
    "arguments",
    "dependentTasks",
    "cachingOptions",
    "triggerPolicy",
    "iteratorPolicy",
    "retryPolicy",
    "parameterIterator",
    "artifactIterator",
    "params",
    "results",
    "workspaces",
    "volumeMounts",
    "volumes",
    "secretAsVolume",
    "secretAsEnv",
    "configMapAsVolume",
    "configMapAsEnv",
    "pvcMount",
    "fieldPathAsEnv",
    "podMetadata",
];

/// Splits `text` into YAML documents of nodes allocated in `bump`, or gives up.
pub fn parse_documents<'a>(text: &'a str, bump: &'a Bump) -> Result<Vec<Node<'a>>, Unsupported> {
    if text.starts_with('\u{feff}') {
        return give_up("byte order mark");
    }
    if unusual_characters(text) {
        return give_up("a control character or a line break other than LF and CRLF");
    }
    let mut docs = Vec::new();
    let mut current: BumpVec<'a, Line> = BumpVec::new_in(bump);
    let mut offset = 0;
    let bytes = text.as_bytes();
    while offset < bytes.len() {
        let nl = memchr::memchr(b'\n', &bytes[offset..])
            .map(|i| offset + i)
            .unwrap_or(bytes.len());
        let mut end = nl;
        if end > offset && bytes[end - 1] == b'\r' {
            end -= 1;
        }
        let raw = &bytes[offset..end];
        let indent = raw.iter().take_while(|&&b| b == b' ').count();
        let rest = &raw[indent..];
        if rest.first() == Some(&b'\t') {
            return give_up("tab indentation");
        }
        if indent == 0
            && (raw.starts_with(b"---") || raw.starts_with(b"..."))
            && (raw.len() == 3 || raw[3] == b' ' || raw[3] == b'\t')
        {
            if raw[3..].iter().any(|b| !b.is_ascii_whitespace()) {
                return give_up("content after a document marker");
            }
            if raw.starts_with(b"---") || !current.is_empty() {
                docs.push(std::mem::replace(&mut current, BumpVec::new_in(bump)));
            }
        } else if indent == 0 && raw.first() == Some(&b'%') {
            return give_up("directive");
        } else {
            current.push(Line {
                indent,
                start: offset + indent,
                end,
            });
        }
        offset = nl + 1;
    }
    docs.push(current);
    let mut out = Vec::new();
    for lines in docs {
        let mut r = Reader {
            text,
            bump,
            lines,
            pos: 0,
            depth: 0,
            entries: Vec::new(),
            items: Vec::new(),
        };
        r.skip_blank();
        if r.pos >= r.lines.len() {
            continue; // empty document
        }
        let first = r.lines[r.pos];
        let node = r.block(first.indent)?;
        r.skip_blank();
        if r.pos < r.lines.len() {
            return give_up("content after the document's root node");
        }
        out.push(node);
    }
    Ok(out)
}

/// What YAML forbids (control characters) or reads as a line break where this reader sees none
/// (a lone CR, NEL, LS, PS). The full parser decides such files, and words the error.
fn unusual_characters(text: &str) -> bool {
    let bytes = text.as_bytes();
    let unusual = |(i, &b): (usize, &u8)| match b {
        b'\t' | b'\n' => false,
        b'\r' => bytes.get(i + 1) != Some(&b'\n'),
        0..=0x1f | 0x7f => true,
        _ => false,
    };
    bytes.iter().enumerate().any(unusual)
        || (!text.is_ascii()
            && text.chars().any(|c| {
                matches!(
                    c,
                    '\u{80}'..='\u{9f}' | '\u{2028}' | '\u{2029}' | '\u{fffe}' | '\u{ffff}'
                )
            }))
}

impl<'a> Reader<'a> {
    fn content(&self, l: Line) -> &'a str {
        &self.text[l.start..l.end]
    }

    fn is_blank(&self, l: Line) -> bool {
        let c = self.content(l);
        c.is_empty() || c.starts_with('#')
    }

    fn skip_blank(&mut self) {
        while self.pos < self.lines.len() && self.is_blank(self.lines[self.pos]) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<Line> {
        self.skip_blank();
        self.lines.get(self.pos).copied()
    }

    /// Steps over every following line indented more than `indent` (and blank lines);
    /// returns the last non-blank line stepped over.
    fn skip_deeper(&mut self, indent: usize) -> Option<Line> {
        let mut last = None;
        while let Some(&l) = self.lines.get(self.pos) {
            let blank = self.content(l).is_empty();
            if !blank && l.indent <= indent {
                break;
            }
            if !blank {
                last = Some(l);
            }
            self.pos += 1;
        }
        last
    }

    /// A block node whose lines are indented at least `min`.
    fn block(&mut self, min: usize) -> Result<Node<'a>, Unsupported> {
        self.depth += 1;
        let r = self.block_inner(min);
        self.depth -= 1;
        r
    }

    fn block_inner(&mut self, min: usize) -> Result<Node<'a>, Unsupported> {
        if self.depth > MAX_DEPTH {
            return give_up("nesting too deep");
        }
        let Some(l) = self.peek() else {
            return Ok(Node::Null);
        };
        if l.indent < min {
            return Ok(Node::Null);
        }
        let c = self.content(l);
        if is_seq_item(c) {
            self.seq(l.indent)
        } else if split_key(c, self.bump)?.is_some() {
            self.map(l.indent)
        } else {
            // A lone scalar as a block node (document root or after `key:` on its own line).
            self.pos += 1;
            self.inline_value(c, l.indent)
        }
    }

    fn map(&mut self, indent: usize) -> Result<Node<'a>, Unsupported> {
        let base = self.entries.len();
        while let Some(l) = self.peek() {
            if l.indent < indent {
                break;
            }
            if l.indent > indent {
                return give_up("unexpected indentation in a mapping");
            }
            let c = self.content(l);
            if is_seq_item(c) {
                break; // an indentless sequence of the parent key ends here
            }
            let Some((key, rest)) = split_key(c, self.bump)? else {
                return give_up("mapping line without a key");
            };
            self.pos += 1;
            let value = if (rest.is_empty() || rest.starts_with('#'))
                && NEVER_READ.contains(&key)
                && self.skip_value(indent)?
            {
                Node::Skipped
            } else if rest.is_empty() || rest.starts_with('#') {
                // Value on the following lines: deeper block, or an indentless sequence.
                match self.peek() {
                    Some(n) if n.indent > indent => self.block(indent + 1)?,
                    Some(n) if n.indent == indent && is_seq_item(self.content(n)) => {
                        self.seq(indent)?
                    }
                    _ => Node::Null,
                }
            } else {
                self.inline_value(rest, indent)?
            };
            self.entries.push((key, value));
        }
        let map = self.bump.alloc_slice_copy(&self.entries[base..]);
        self.entries.truncate(base);
        Ok(Node::Map(map))
    }

    /// Steps over a block value (deeper lines, or an indentless sequence at `indent`) without
    /// building it, and says whether it did. A value that runs to the end of the document may be
    /// a truncated file, so it is not skipped but read (and checked) like any other.
    /// A quoted scalar still open where the skip would stop means the block does not end there
    /// (libyaml reads a quoted scalar's continuation lines at any indentation): give up, so the
    /// full parser decides.
    fn skip_value(&mut self, indent: usize) -> Result<bool, Unsupported> {
        let start = self.pos;
        let mut quote = None;
        while let Some(&l) = self.lines.get(self.pos) {
            let c = self.content(l);
            if !(c.is_empty() || l.indent > indent || (l.indent == indent && is_seq_item(c))) {
                if quote.is_some() {
                    return give_up("a quoted scalar runs past the block it was skipped with");
                }
                return Ok(true);
            }
            quote = open_quote_after(c, quote);
            self.pos += 1;
        }
        self.pos = start;
        Ok(false)
    }

    fn seq(&mut self, indent: usize) -> Result<Node<'a>, Unsupported> {
        let base = self.items.len();
        while let Some(l) = self.peek() {
            if l.indent != indent || !is_seq_item(self.content(l)) {
                if l.indent > indent {
                    return give_up("unexpected indentation in a sequence");
                }
                break;
            }
            let c = self.content(l);
            let after = &c[1..];
            let spaces = after.len() - after.trim_start_matches(' ').len();
            let rest = &after[spaces..];
            if rest.is_empty() || rest.starts_with('#') {
                self.pos += 1;
                let v = self.block(indent + 1)?;
                self.items.push(v);
            } else if is_seq_item(rest) || split_key(rest, self.bump)?.is_some() {
                // `- key: v` / `- - x`: the item is a block starting at this column; re-read the
                // rest of the line as if it were its own line.
                let col = indent + 1 + spaces;
                self.lines[self.pos] = Line {
                    indent: col,
                    start: l.start + 1 + spaces,
                    end: l.end,
                };
                let v = self.block(col)?;
                self.items.push(v);
            } else {
                self.pos += 1;
                let v = self.inline_value(rest, indent)?;
                self.items.push(v);
            }
        }
        let seq = self.bump.alloc_slice_copy(&self.items[base..]);
        self.items.truncate(base);
        Ok(Node::Seq(seq))
    }

    /// A value written after `key:` or `- ` on the same line; `indent` is its parent's.
    fn inline_value(&mut self, v: &'a str, indent: usize) -> Result<Node<'a>, Unsupported> {
        match v.as_bytes()[0] {
            b'|' | b'>' => {
                self.skip_deeper(indent);
                Ok(Node::Skipped)
            }
            b'"' | b'\'' => {
                let quote = v.as_bytes()[0];
                match closing_quote(v, quote) {
                    Some(end) => {
                        let tail = v[end + 1..].trim_start();
                        if !(tail.is_empty() || tail.starts_with('#')) {
                            return give_up("text after a quoted scalar");
                        }
                        if self.peek().is_some_and(|n| n.indent > indent) {
                            return give_up("unexpected indentation after a quoted scalar");
                        }
                        Ok(Node::Scalar {
                            text: unquote(&v[1..end], quote, self.bump)?,
                            plain: false,
                        })
                    }
                    None => {
                        // Multi-line quoted scalar: step over it, but make sure it really ends.
                        let last = self.skip_deeper(indent);
                        let closed = last
                            .map(|l| self.content(l))
                            .is_some_and(|c| ends_quoted(c, quote));
                        if closed {
                            Ok(Node::Skipped)
                        } else {
                            give_up("unterminated quoted scalar")
                        }
                    }
                }
            }
            b'[' | b'{' => {
                if self.peek().is_none_or(|n| n.indent <= indent) {
                    return parse_flow(v, self.bump);
                }
                // A flow collection continued on deeper lines (kfp 1.8 writes these): line breaks
                // inside flow context are spaces, so parse the lines joined.
                let mut joined = BumpString::from_str_in(v, self.bump);
                while let Some(n) = self.lines.get(self.pos).copied() {
                    let c = self.content(n);
                    if !c.is_empty() && n.indent <= indent {
                        break;
                    }
                    if c.is_empty() {
                        return give_up("blank line inside a flow collection");
                    }
                    joined.push(' ');
                    joined.push_str(c);
                    self.pos += 1;
                }
                parse_flow(joined.into_bump_str(), self.bump)
            }
            b'&' | b'*' | b'!' | b'?' | b'@' | b'`' | b'%' => {
                give_up("anchor, alias, tag or reserved indicator")
            }
            _ => {
                let text = strip_comment(v);
                if self.peek().is_some_and(|n| n.indent > indent) {
                    // A plain scalar continued on following lines; a continuation that looks like
                    // a key or an item is malformed YAML, which the full parser must report.
                    while let Some(n) = self.peek().filter(|n| n.indent > indent) {
                        let c = self.content(n);
                        if is_seq_item(c) || c.contains(": ") || c.ends_with(':') {
                            return give_up("mapping or item inside a plain scalar");
                        }
                        self.pos += 1;
                    }
                    return Ok(Node::Skipped);
                }
                Ok(Node::Scalar { text, plain: true })
            }
        }
    }
}

fn parse_flow<'a>(v: &'a str, bump: &'a Bump) -> Result<Node<'a>, Unsupported> {
    let mut flow = Flow {
        s: v,
        i: 0,
        bump,
        depth: 0,
    };
    let node = flow.value()?;
    flow.ws();
    if !(flow.rest().is_empty() || flow.rest().starts_with('#')) {
        return give_up("text after a flow collection");
    }
    Ok(node)
}

fn is_seq_item(c: &str) -> bool {
    c == "-" || c.starts_with("- ")
}

/// `key: rest` (rest trimmed), or `None` when the line is not a mapping entry.
fn split_key<'a>(c: &'a str, bump: &'a Bump) -> Result<Option<(&'a str, &'a str)>, Unsupported> {
    let b = c.as_bytes();
    if b.is_empty() {
        return Ok(None);
    }
    if b[0] == b'"' || b[0] == b'\'' {
        let Some(end) = closing_quote(c, b[0]) else {
            return Ok(None);
        };
        let after = &c[end + 1..];
        let Some(rest) = after.strip_prefix(':') else {
            return Ok(None);
        };
        if !(rest.is_empty() || rest.starts_with(' ')) {
            return Ok(None);
        }
        return Ok(Some((unquote(&c[1..end], b[0], bump)?, rest.trim())));
    }
    if matches!(
        b[0],
        b'[' | b'{' | b'&' | b'*' | b'!' | b'?' | b'|' | b'>' | b'#' | b'%' | b'@' | b'`'
    ) {
        return Ok(None);
    }
    // The first ": " (or a trailing ':') ends a plain key; " #" before it starts a comment.
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b':' if i + 1 == b.len() || b[i + 1] == b' ' => {
                return Ok(Some((c[..i].trim_end(), c[i + 1..].trim())));
            }
            b'#' if i > 0 && b[i - 1] == b' ' => return Ok(None),
            _ => {}
        }
        i += 1;
    }
    Ok(None)
}

fn strip_comment(v: &str) -> &str {
    let b = v.as_bytes();
    let mut from = 0;
    while let Some(i) = memchr::memchr(b'#', &b[from..]) {
        let at = from + i;
        if at > 0 && b[at - 1] == b' ' {
            return v[..at].trim_end();
        }
        from = at + 1;
    }
    v.trim_end()
}

/// Index of the quote closing a scalar that starts at `s[0]`.
fn closing_quote(s: &str, quote: u8) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 1;
    while i < b.len() {
        if quote == b'"' && b[i] == b'\\' {
            i += 2;
            continue;
        }
        if b[i] == quote {
            if quote == b'\'' && b.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i);
        }
        i += 1;
    }
    None
}

/// Whether a continuation line ends a quoted scalar (an unescaped closing quote at its end).
fn ends_quoted(line: &str, quote: u8) -> bool {
    let t = strip_trailing_comment_after_quote(line, quote);
    let b = t.as_bytes();
    if b.last() != Some(&quote) {
        return false;
    }
    if quote == b'"' {
        let backslashes = b[..b.len() - 1]
            .iter()
            .rev()
            .take_while(|&&c| c == b'\\')
            .count();
        backslashes % 2 == 0
    } else {
        // '' is an escaped quote: an odd run of quotes at the end closes the scalar.
        b.iter().rev().take_while(|&&c| c == b'\'').count() % 2 == 1
    }
}

fn strip_trailing_comment_after_quote(line: &str, quote: u8) -> &str {
    let q = quote as char;
    match line.rfind(q) {
        Some(i)
            if line[i + 1..].trim_start().starts_with('#') || line[i + 1..].trim().is_empty() =>
        {
            &line[..=i]
        }
        _ => line.trim_end(),
    }
}

fn unquote<'a>(s: &'a str, quote: u8, bump: &'a Bump) -> Result<&'a str, Unsupported> {
    if quote == b'\'' {
        return Ok(if s.contains("''") {
            bump.alloc_str(&s.replace("''", "'"))
        } else {
            s
        });
    }
    if !s.contains('\\') {
        return Ok(s);
    }
    let mut out = BumpString::with_capacity_in(s.len(), bump);
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = chars
            .next()
            .ok_or_else(|| Unsupported("dangling escape".into()))?;
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            '0' => out.push('\0'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            '/' => out.push('/'),
            ' ' => out.push(' '),
            'u' | 'x' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let hex: String = chars.by_ref().take(n).collect();
                let code =
                    u32::from_str_radix(&hex, 16).map_err(|_| Unsupported("bad escape".into()))?;
                out.push(char::from_u32(code).ok_or_else(|| Unsupported("bad escape".into()))?);
            }
            _ => return give_up("unusual escape"),
        }
    }
    Ok(out.into_bump_str())
}

/// Single-line flow collections: `{a: 1, b: [x, 'y']}`.
struct Flow<'a> {
    s: &'a str,
    i: usize,
    bump: &'a Bump,
    depth: usize,
}

impl<'a> Flow<'a> {
    fn rest(&self) -> &'a str {
        &self.s[self.i..]
    }

    fn ws(&mut self) {
        while self.s.as_bytes().get(self.i) == Some(&b' ') {
            self.i += 1;
        }
    }

    fn value(&mut self) -> Result<Node<'a>, Unsupported> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return give_up("nesting too deep");
        }
        let r = self.value_inner();
        self.depth -= 1;
        r
    }

    fn value_inner(&mut self) -> Result<Node<'a>, Unsupported> {
        self.ws();
        match self.s.as_bytes().get(self.i) {
            Some(b'[') => {
                self.i += 1;
                let mut items = BumpVec::new_in(self.bump);
                loop {
                    self.ws();
                    if self.eat(b']') {
                        return Ok(Node::Seq(items.into_bump_slice()));
                    }
                    items.push(self.value()?);
                    self.ws();
                    if self.eat(b',') {
                        continue;
                    }
                    if self.eat(b']') {
                        return Ok(Node::Seq(items.into_bump_slice()));
                    }
                    return give_up("flow sequence");
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut entries = BumpVec::new_in(self.bump);
                loop {
                    self.ws();
                    if self.eat(b'}') {
                        return Ok(Node::Map(entries.into_bump_slice()));
                    }
                    let key = match self.value()? {
                        Node::Scalar { text, .. } => text,
                        _ => return give_up("complex flow key"),
                    };
                    self.ws();
                    if !self.eat(b':') {
                        return give_up("flow mapping without ':'");
                    }
                    let v = self.value()?;
                    entries.push((key, v));
                    self.ws();
                    if self.eat(b',') {
                        continue;
                    }
                    if self.eat(b'}') {
                        return Ok(Node::Map(entries.into_bump_slice()));
                    }
                    return give_up("flow mapping");
                }
            }
            Some(&q @ (b'"' | b'\'')) => {
                let rest = self.rest();
                let end = closing_quote(rest, q)
                    .ok_or_else(|| Unsupported("unterminated flow scalar".into()))?;
                self.i += end + 1;
                Ok(Node::Scalar {
                    text: unquote(&rest[1..end], q, self.bump)?,
                    plain: false,
                })
            }
            Some(b'&' | b'*' | b'!' | b'?' | b'|' | b'>' | b'@' | b'`') => {
                give_up("flow indicator")
            }
            Some(_) => {
                // Plain flow scalar: up to , ] } or ": ".
                let b = self.s.as_bytes();
                let start = self.i;
                while self.i < b.len() {
                    match b[self.i] {
                        b',' | b']' | b'}' | b'[' | b'{' => break,
                        b':' if matches!(
                            b.get(self.i + 1),
                            None | Some(b' ' | b',' | b']' | b'}')
                        ) =>
                        {
                            break
                        }
                        b'#' if self.i > start && b[self.i - 1] == b' ' => {
                            return give_up("comment in flow")
                        }
                        _ => self.i += 1,
                    }
                }
                let text = self.s[start..self.i].trim_end();
                if text.is_empty() {
                    return Ok(Node::Null);
                }
                Ok(Node::Scalar { text, plain: true })
            }
            None => give_up("flow collection ends early"),
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.s.as_bytes().get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
}

// ---- serde: deserialize the existing format structs straight from a node -----------------------

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

fn parse_bool(text: &str) -> Option<bool> {
    match text {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn parse_int(text: &str) -> Option<i64> {
    let (neg, digits) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    let (radix, digits) = if let Some(h) = digits.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = digits.strip_prefix("0o") {
        (8, o)
    } else {
        (10, digits)
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let v = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

fn parse_float(text: &str) -> Option<f64> {
    match text {
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => return Some(f64::INFINITY),
        "-.inf" | "-.Inf" | "-.INF" => return Some(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Some(f64::NAN),
        _ => {}
    }
    if !text.bytes().any(|b| b.is_ascii_digit())
        || !text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'+' | b'-'))
    {
        return None;
    }
    text.parse().ok()
}

impl<'de> Deserializer<'de> for &Node<'de> {
    type Error = Unsupported;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        match self {
            Node::Null => visitor.visit_unit(),
            Node::Scalar { text, plain: true } => {
                if is_null(text) {
                    visitor.visit_unit()
                } else if let Some(b) = parse_bool(text) {
                    visitor.visit_bool(b)
                } else if let Some(i) = parse_int(text) {
                    visitor.visit_i64(i)
                } else if let Some(f) = parse_float(text) {
                    visitor.visit_f64(f)
                } else {
                    visit_text(text, visitor)
                }
            }
            Node::Scalar { text, plain: false } => visit_text(text, visitor),
            Node::Map(entries) => visitor.visit_map(Entries {
                it: entries.iter(),
                value: None,
            }),
            Node::Seq(items) => visitor.visit_seq(Items { it: items.iter() }),
            Node::Skipped => give_up("a skipped value is needed"),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        match self {
            Node::Null => visitor.visit_none(),
            Node::Scalar { text, plain: true } if is_null(text) => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        match self {
            Node::Scalar { text, .. } => visit_text(text, visitor),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Unsupported> {
        visitor.visit_unit()
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Unsupported> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit unit_struct
        seq tuple tuple_struct map struct enum identifier
    }
}

fn visit_text<'de, V: Visitor<'de>>(text: &'de str, visitor: V) -> Result<V::Value, Unsupported> {
    visitor.visit_borrowed_str(text)
}

struct Entries<'n, 'de> {
    it: std::slice::Iter<'n, (&'de str, Node<'de>)>,
    value: Option<&'n Node<'de>>,
}

impl<'n, 'de> MapAccess<'de> for Entries<'n, 'de> {
    type Error = Unsupported;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Unsupported> {
        match self.it.next() {
            None => Ok(None),
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(de::value::BorrowedStrDeserializer::new(k))
                    .map(Some)
            }
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, Unsupported> {
        let v = self
            .value
            .take()
            .ok_or_else(|| Unsupported("value without key".into()))?;
        seed.deserialize(v)
    }
}

struct Items<'n, 'de> {
    it: std::slice::Iter<'n, Node<'de>>,
}

impl<'n, 'de> SeqAccess<'de> for Items<'n, 'de> {
    type Error = Unsupported;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Unsupported> {
        self.it.next().map(|n| seed.deserialize(n)).transpose()
    }
}

#[cfg(test)]
mod quote_tests {
    use super::open_quote_after;

    #[test]
    fn quotes_left_open_by_a_line_are_seen() {
        assert_eq!(open_quote_after("- \"python3 -m", None), Some(b'"'));
        assert_eq!(open_quote_after("- \"done\"", None), None);
        assert_eq!(
            open_quote_after("- \"esc \\\" still open", None),
            Some(b'"')
        );
        assert_eq!(open_quote_after("args: 'it''s open", None), Some(b'\''));
        assert_eq!(open_quote_after("args: 'it''s closed'", None), None);
        assert_eq!(open_quote_after("- key: \"a", None), Some(b'"'));
        assert_eq!(
            open_quote_after("don't: mind", None),
            None,
            "a plain scalar's apostrophe opens nothing"
        );
        assert_eq!(
            open_quote_after("continued and closed\" ", Some(b'"')),
            None
        );
        assert_eq!(open_quote_after("still going", Some(b'"')), Some(b'"'));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one<'a>(text: &'a str, bump: &'a Bump) -> Node<'a> {
        let mut d = parse_documents(text, bump).unwrap();
        assert_eq!(d.len(), 1, "{d:?}");
        d.remove(0)
    }

    fn s(t: &str) -> Node<'_> {
        Node::Scalar {
            text: t,
            plain: true,
        }
    }

    #[test]
    fn control_characters_and_other_line_breaks_go_to_the_full_parser() {
        let bump = Bump::new();
        for text in [
            "a: 1\u{7}\n",
            "a: 1\rb: 2\n",
            "a: 1\u{85}b: 2\n",
            "a: x\u{2028}y\n",
            "a: \u{ffff}\n",
        ] {
            assert!(parse_documents(text, &bump).is_err(), "{text:?}");
        }
        assert!(parse_documents("a: 1\r\nb: 2\r\n", &bump).is_ok());
    }

    #[test]
    fn block_mappings_sequences_and_skipped_scalars() {
        let text = "# PIPELINE DEFINITION\na:\n  b: 1\n  c: python:3.11 # comment\nlist:\n- x\n- k: v\n  k2: 'it''s'\n- - nested\nscript: |\n  echo hi\n\n  key: not a key\nquoted: \"multi\n  line\"\nplain: a long\n  wrapped value\nflow: {x: [1, 'two'], y: \"a\\tb\"}\nlast:\n";
        let bump = Bump::new();
        let n = one(text, &bump);
        let Node::Map(m) = n else { panic!() };
        let keys: Vec<&str> = m.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(
            keys,
            vec!["a", "list", "script", "quoted", "plain", "flow", "last"]
        );
        assert_eq!(m[0].1, Node::Map(&[("b", s("1")), ("c", s("python:3.11"))]));
        let Node::Seq(items) = m[1].1 else { panic!() };
        assert_eq!(items[0], s("x"));
        assert_eq!(
            items[1],
            Node::Map(&[
                ("k", s("v")),
                (
                    "k2",
                    Node::Scalar {
                        text: "it's",
                        plain: false
                    }
                )
            ])
        );
        assert_eq!(items[2], Node::Seq(&[s("nested")]));
        assert_eq!(m[2].1, Node::Skipped);
        assert_eq!(m[3].1, Node::Skipped);
        assert_eq!(m[4].1, Node::Skipped);
        assert_eq!(m[6].1, Node::Null);
    }

    #[test]
    fn documents_split() {
        let bump = Bump::new();
        let d = parse_documents("a: 1\n---\nb: 2\n", &bump).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(parse_documents("---\na: 1\n", &bump).unwrap().len(), 1);
    }

    #[test]
    fn gives_up_on_what_it_does_not_understand() {
        for text in [
            "a: &x 1\nb: *x\n",
            "a: !!str 1\n",
            "a:\n\tb: 1\n",
            "a: [1,\n  2\nb: 3\n",
            "a: \"never closed\n  still open\n",
            "%YAML 1.2\n---\na: 1\n",
            "? complex\n: key\n",
            "a: 1\n   b: 2\n",
            &format!("a: {}1{}\n", "[".repeat(500), "]".repeat(500)),
        ] {
            assert!(parse_documents(text, &Bump::new()).is_err(), "{text:?}");
        }
    }

    #[test]
    fn deserializes_like_serde_yaml() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct T {
            a: Option<String>,
            b: Option<f64>,
            c: Option<Vec<String>>,
            d: Option<std::collections::BTreeMap<String, String>>,
            e: Option<bool>,
        }
        let text = "a: '1'\nb: 2.5\nc: [x,\n  y]\nd:\n  k: v\ne: true\nignored: |\n  text\n";
        let bump = Bump::new();
        let via_skim: T = serde::Deserialize::deserialize(&one(text, &bump)).unwrap();
        let via_yaml: T = serde_yaml_ng::from_str(text).unwrap();
        assert_eq!(via_skim, via_yaml);
        #[derive(serde::Deserialize, Debug)]
        #[expect(dead_code, reason = "only deserialized")]
        struct Needs {
            ignored: String,
        }
        assert!(<Needs as serde::Deserialize>::deserialize(&one(text, &bump)).is_err());
    }
}
