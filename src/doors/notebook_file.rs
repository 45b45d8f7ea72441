//! A notebook file (nbformat 4, any minor) as `kfcheck notebook run` reads and writes it: the
//! document checked enough to run (clear errors naming the cell that is wrong), each cell's
//! source whether it is a string or a list of strings, papermill's parameter conventions (a
//! `-p` value typed as papermill types it, YAML values, the cell tagged `injected-parameters`
//! after the one tagged `parameters`, in Python syntax), cell ids for 4.5 and later, and the
//! executed copy written atomically in nbformat's own layout. Pure: no I/O but the final write,
//! so every rule is unit-tested with literal notebooks.

use serde_json::{json, Map, Value};
use std::path::Path;

/// The tag of the cell a notebook's author marks as its parameters (papermill's convention).
pub const PARAMETERS_TAG: &str = "parameters";
/// The tag of the cell kfcheck (like papermill) injects with the given values.
pub const INJECTED_TAG: &str = "injected-parameters";

/// A notebook that can be run: the whole document (metadata, attachments and unknown fields
/// kept as they are) and its minor version.
#[derive(Debug, Clone, PartialEq)]
pub struct NotebookDoc {
    pub doc: Value,
    pub minor: u64,
}

/// Why a file is not a notebook kfcheck can run; the message names the file and the place.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {why}")]
pub struct NotebookFileError {
    pub path: String,
    pub why: String,
}

/// The text of a cell's `source`: a string, or a list of strings joined as they are.
pub fn source_of(cell: &Value) -> String {
    match cell.get("source") {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(lines)) => lines.iter().filter_map(Value::as_str).collect(),
        _ => String::new(),
    }
}

/// The first line of a cell's source that says something, for a report row.
pub fn first_line(cell: &Value) -> String {
    let src = source_of(cell);
    src.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
        .to_string()
}

/// The cell's tags (`metadata.tags`).
pub fn tags(cell: &Value) -> Vec<&str> {
    cell.pointer("/metadata/tags")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect()
}

pub fn cell_type(cell: &Value) -> &str {
    cell.get("cell_type").and_then(Value::as_str).unwrap_or("")
}

impl NotebookDoc {
    /// Reads `text` as a notebook; `path` only names it in errors.
    pub fn parse(path: &str, text: &str) -> Result<NotebookDoc, NotebookFileError> {
        let bad = |why: String| NotebookFileError {
            path: path.to_string(),
            why,
        };
        let doc: Value = serde_json::from_str(text).map_err(|e| {
            bad(format!(
                "not JSON (line {}, column {}: {e}); a notebook is a JSON document",
                e.line(),
                e.column()
            ))
        })?;
        let Value::Object(top) = &doc else {
            return Err(bad(
                "not a notebook: a JSON object with `nbformat` and `cells` is expected".into(),
            ));
        };
        let major = match top.get("nbformat") {
            Some(v) => v
                .as_u64()
                .ok_or_else(|| bad(format!("`nbformat` is {v}, not a version number")))?,
            None => return Err(bad("not a notebook: it has no `nbformat` version".into())),
        };
        if major != 4 {
            return Err(bad(format!(
                "nbformat {major} is not supported: kfcheck runs nbformat 4 notebooks \
                 (`jupyter nbconvert --to notebook --nbformat 4` converts one)"
            )));
        }
        let minor = match top.get("nbformat_minor") {
            Some(v) => v
                .as_u64()
                .ok_or_else(|| bad(format!("`nbformat_minor` is {v}, not a number")))?,
            None => return Err(bad("nbformat 4 without `nbformat_minor`".into())),
        };
        let cells = match top.get("cells") {
            Some(Value::Array(c)) => c,
            Some(_) => return Err(bad("`cells` is not a list".into())),
            None => return Err(bad("not a notebook: it has no `cells`".into())),
        };
        if top.get("metadata").is_some_and(|m| !m.is_object()) {
            return Err(bad("`metadata` is not an object".into()));
        }
        for (i, cell) in cells.iter().enumerate() {
            let at = |why: String| bad(format!("cell {i}: {why}"));
            if !cell.is_object() {
                return Err(at("not an object".into()));
            }
            match cell.get("cell_type").and_then(Value::as_str) {
                Some("code" | "markdown" | "raw") => {}
                Some(other) => {
                    return Err(at(format!(
                        "cell_type `{other}` is not one of code, markdown, raw"
                    )))
                }
                None => return Err(at("no `cell_type`".into())),
            }
            match cell.get("source") {
                Some(Value::String(_)) => {}
                Some(Value::Array(l)) if l.iter().all(Value::is_string) => {}
                Some(_) => {
                    return Err(at(
                        "`source` is neither a string nor a list of strings".into()
                    ))
                }
                None => return Err(at("no `source`".into())),
            }
            if cell.get("metadata").is_some_and(|m| !m.is_object()) {
                return Err(at("`metadata` is not an object".into()));
            }
        }
        Ok(NotebookDoc { doc, minor })
    }

    pub fn cells(&self) -> &[Value] {
        self.doc
            .get("cells")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice)
    }

    fn cells_mut(&mut self) -> &mut Vec<Value> {
        if !self.doc.get("cells").is_some_and(Value::is_array) {
            self.doc["cells"] = Value::Array(Vec::new());
        }
        match self.doc.get_mut("cells") {
            Some(Value::Array(c)) => c,
            _ => unreachable!("cells was just made a list"),
        }
    }

    pub fn cell_mut(&mut self, i: usize) -> Option<&mut Value> {
        self.cells_mut().get_mut(i)
    }

    /// `metadata.kernelspec.name`, when the notebook names its kernel.
    pub fn kernel_name(&self) -> Option<&str> {
        self.doc
            .pointer("/metadata/kernelspec/name")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }

    /// The notebook's language: `kernelspec.language`, else `language_info.name`.
    pub fn language(&self) -> Option<&str> {
        [
            "/metadata/kernelspec/language",
            "/metadata/language_info/name",
        ]
        .iter()
        .find_map(|p| self.doc.pointer(p).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
    }

    /// Removes cells an earlier papermill or kfcheck run injected, puts a new one with
    /// `params` after the cell tagged `parameters` (at the top when there is none), and
    /// returns each cell's index in the input notebook (`None` for the injected cell) and
    /// whether a `parameters` cell was found. Nothing changes without parameters.
    pub fn inject(
        &mut self,
        params: &[(String, ParamValue)],
    ) -> (Vec<Option<usize>>, Option<bool>) {
        let mut origin: Vec<Option<usize>> = (0..self.cells().len()).map(Some).collect();
        if params.is_empty() {
            return (origin, None);
        }
        let keep: Vec<bool> = self
            .cells()
            .iter()
            .map(|c| !tags(c).contains(&INJECTED_TAG))
            .collect();
        let cells = std::mem::take(self.cells_mut());
        let mut kept = Vec::new();
        origin.clear();
        for (i, (c, k)) in cells.into_iter().zip(&keep).enumerate() {
            if *k {
                kept.push(c);
                origin.push(Some(i));
            }
        }
        let at = kept
            .iter()
            .position(|c| tags(c).contains(&PARAMETERS_TAG))
            .map(|p| p + 1);
        let mut cell = json!({
            "cell_type": "code",
            "execution_count": null,
            "metadata": {"tags": [INJECTED_TAG]},
            "outputs": [],
            "source": python_assignments(params),
        });
        if self.minor >= 5 {
            cell["id"] = Value::String(new_cell_id(&kept));
        }
        let pos = at.unwrap_or(0);
        kept.insert(pos, cell);
        origin.insert(pos, None);
        *self.cells_mut() = kept;
        (origin, Some(at.is_some()))
    }

    /// From nbformat 4.5 on every cell has an id: missing ones are created (unique, nbformat's
    /// pattern), existing ones kept. Before 4.5 ids are not part of the format and none is added.
    pub fn ensure_ids(&mut self) {
        if self.minor < 5 {
            return;
        }
        for i in 0..self.cells().len() {
            let valid = self.cells()[i]
                .get("id")
                .and_then(Value::as_str)
                .is_some_and(valid_id);
            if !valid {
                let id = new_cell_id(self.cells());
                self.cells_mut()[i]["id"] = Value::String(id);
            }
        }
    }

    /// The document in nbformat's own layout: one-space indent, keys sorted, a final newline.
    pub fn to_text(&self) -> String {
        use serde::Serialize;
        let mut buf = Vec::new();
        let fmt = serde_json::ser::PrettyFormatter::with_indent(b" ");
        let mut ser = serde_json::Serializer::with_formatter(&mut buf, fmt);
        // A Value always serializes.
        let _ = self.doc.serialize(&mut ser);
        let mut s = String::from_utf8_lossy(&buf).into_owned();
        s.push('\n');
        s
    }
}

/// nbformat's cell id: 1 to 64 of `[a-zA-Z0-9-_]`.
fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A cell id no cell in `cells` has.
fn new_cell_id(cells: &[Value]) -> String {
    loop {
        let id = crate::model::run_id::new()[..8].to_string();
        if !cells
            .iter()
            .any(|c| c.get("id").and_then(Value::as_str) == Some(id.as_str()))
        {
            return id;
        }
    }
}

/// A parameter value, typed the way papermill types it.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    None,
    Bool(bool),
    /// An integer as written (Python's integers have no size limit).
    Int(String),
    Float(f64),
    Str(String),
    List(Vec<ParamValue>),
    Map(Vec<(String, ParamValue)>),
}

/// `-p NAME VALUE`: `True`, `False`, `None`, an integer, a float, else the string itself
/// (papermill's `_resolve_type`, which tries Python's `int()` and `float()`).
pub fn resolve_cli(value: &str) -> ParamValue {
    match value {
        "True" => return ParamValue::Bool(true),
        "False" => return ParamValue::Bool(false),
        "None" => return ParamValue::None,
        _ => {}
    }
    let t = value.trim();
    if python_int(t) {
        let digits = t.replace('_', "");
        let (sign, rest) = match digits.strip_prefix(['+', '-']) {
            Some(r) => (if digits.starts_with('-') { "-" } else { "" }, r),
            None => ("", digits.as_str()),
        };
        let rest = rest.trim_start_matches('0');
        return ParamValue::Int(format!(
            "{sign}{}",
            if rest.is_empty() { "0" } else { rest }
        ));
    }
    if let Some(f) = python_float(t) {
        return ParamValue::Float(f);
    }
    ParamValue::Str(value.to_string())
}

/// Whether Python's `int()` takes `s`: an optional sign, decimal digits, single underscores
/// between digits.
fn python_int(s: &str) -> bool {
    let d = s.strip_prefix(['+', '-']).unwrap_or(s);
    !d.is_empty()
        && !d.starts_with('_')
        && !d.ends_with('_')
        && !d.contains("__")
        && d.bytes().all(|b| b.is_ascii_digit() || b == b'_')
}

/// What Python's `float()` makes of `s`, when it takes it.
fn python_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    let d = lower.strip_prefix(['+', '-']).unwrap_or(&lower);
    let neg = lower.starts_with('-');
    let special = match d {
        "nan" => Some(f64::NAN),
        "inf" | "infinity" => Some(f64::INFINITY),
        _ => None,
    };
    if let Some(v) = special {
        return Some(if neg { -v } else { v });
    }
    // Underscores only between digits, as in Python.
    let b = d.as_bytes();
    for (i, c) in b.iter().enumerate() {
        if *c == b'_' {
            let around =
                i > 0 && i + 1 < b.len() && b[i - 1].is_ascii_digit() && b[i + 1].is_ascii_digit();
            if !around {
                return None;
            }
        }
    }
    let plain = lower.replace('_', "");
    if plain.is_empty()
        || !plain
            .bytes()
            .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'+' | b'-'))
    {
        return None;
    }
    plain.parse::<f64>().ok()
}

/// A YAML value (`-y`, `-f`, a suite's `parameters:`) as a parameter.
pub fn from_yaml(v: &serde_yaml_ng::Value) -> ParamValue {
    use serde_yaml_ng::Value as Y;
    match v {
        Y::Null => ParamValue::None,
        Y::Bool(b) => ParamValue::Bool(*b),
        Y::Number(n) if n.is_f64() => ParamValue::Float(n.as_f64().unwrap_or(f64::NAN)),
        Y::Number(n) => ParamValue::Int(n.to_string()),
        Y::String(s) => ParamValue::Str(s.clone()),
        Y::Sequence(s) => ParamValue::List(s.iter().map(from_yaml).collect()),
        Y::Mapping(m) => ParamValue::Map(
            m.iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s.clone(),
                        other => serde_yaml_ng::to_string(other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    (key, from_yaml(v))
                })
                .collect(),
        ),
        Y::Tagged(t) => from_yaml(&t.value),
    }
}

/// Parameters from a YAML mapping (`-y TEXT`, `-f FILE`), in its order.
pub fn params_from_yaml(text: &str) -> Result<Vec<(String, ParamValue)>, String> {
    let v: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| format!("not YAML: {e}"))?;
    match from_yaml(&v) {
        ParamValue::Map(m) => Ok(m),
        ParamValue::None => Ok(Vec::new()),
        _ => Err("parameters must be a YAML mapping of NAME: VALUE".into()),
    }
}

/// Whether `name` can be assigned in Python (an identifier, not a keyword).
pub fn python_name(name: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class",
        "continue", "def", "del", "elif", "else", "except", "finally", "for", "from", "global",
        "if", "import", "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return",
        "try", "while", "with", "yield",
    ];
    let mut b = name.bytes();
    b.next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
        && !KEYWORDS.contains(&name)
}

/// A value as a Python literal (papermill's `PythonTranslator`).
pub fn to_python(v: &ParamValue) -> String {
    match v {
        ParamValue::None => "None".into(),
        ParamValue::Bool(true) => "True".into(),
        ParamValue::Bool(false) => "False".into(),
        ParamValue::Int(i) => i.clone(),
        ParamValue::Float(f) if f.is_nan() => "float('nan')".into(),
        ParamValue::Float(f) if f.is_infinite() && *f < 0.0 => "float('-inf')".into(),
        ParamValue::Float(f) if f.is_infinite() => "float('inf')".into(),
        // `{:?}` keeps a point or an exponent (1.0, 1e20): the literal stays a float.
        ParamValue::Float(f) => format!("{f:?}"),
        ParamValue::Str(s) => python_str(s),
        ParamValue::List(l) => format!(
            "[{}]",
            l.iter().map(to_python).collect::<Vec<_>>().join(", ")
        ),
        ParamValue::Map(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", python_str(k), to_python(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A double-quoted Python string literal; escapes keep any text one line.
fn python_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The injected cell's source: a comment, then one assignment per parameter.
pub fn python_assignments(params: &[(String, ParamValue)]) -> String {
    let mut s = String::from("# Parameters\n");
    for (name, v) in params {
        s.push_str(&format!("{name} = {}\n", to_python(v)));
    }
    s
}

/// A value as JSON, for the machine-readable report and the notebook's metadata.
pub fn to_json(v: &ParamValue) -> Value {
    match v {
        ParamValue::None => Value::Null,
        ParamValue::Bool(b) => Value::Bool(*b),
        ParamValue::Int(i) => i
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(i.clone())),
        ParamValue::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or_else(|| Value::String(to_python(v))),
        ParamValue::Str(s) => Value::String(s.clone()),
        ParamValue::List(l) => Value::Array(l.iter().map(to_json).collect()),
        ParamValue::Map(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), to_json(v)))
                .collect::<Map<_, _>>(),
        ),
    }
}

/// Writes `text` to `path` atomically: a temporary file beside it, then a rename, so a reader
/// never sees half a notebook and an interrupted write leaves the old file.
pub fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "notebook.ipynb".into());
    let tmp = dir.join(format!(".{name}.kfcheck-{}", crate::model::run_id::new()));
    let written = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nb(minor: u64, cells: Value) -> NotebookDoc {
        NotebookDoc::parse(
            "t.ipynb",
            &json!({"nbformat": 4, "nbformat_minor": minor, "metadata": {}, "cells": cells})
                .to_string(),
        )
        .unwrap()
    }

    #[test]
    fn values_are_typed_as_papermill_types_them() {
        use ParamValue as P;
        assert_eq!(resolve_cli("True"), P::Bool(true));
        assert_eq!(resolve_cli("None"), P::None);
        assert_eq!(resolve_cli("true"), P::Str("true".into()));
        assert_eq!(resolve_cli("12"), P::Int("12".into()));
        assert_eq!(resolve_cli("-007"), P::Int("-7".into()));
        assert_eq!(resolve_cli("1_000"), P::Int("1000".into()));
        assert_eq!(
            resolve_cli("123456789012345678901234567890"),
            P::Int("123456789012345678901234567890".into())
        );
        assert_eq!(resolve_cli("0.6"), P::Float(0.6));
        assert_eq!(resolve_cli("1e3"), P::Float(1000.0));
        assert!(matches!(resolve_cli("nan"), P::Float(f) if f.is_nan()));
        assert_eq!(resolve_cli("-inf"), P::Float(f64::NEG_INFINITY));
        for s in ["1__0", "_1", "1.2.3", "abc", "", "0x10", "1e"] {
            assert_eq!(resolve_cli(s), P::Str(s.into()), "{s}");
        }
    }

    #[test]
    fn values_become_python_literals() {
        use ParamValue as P;
        assert_eq!(to_python(&P::Float(1.0)), "1.0");
        assert_eq!(to_python(&P::Float(0.6)), "0.6");
        assert_eq!(to_python(&P::Float(f64::NAN)), "float('nan')");
        assert_eq!(
            to_python(&P::Str("a \"b\"\n\\c".into())),
            r#""a \"b\"\n\\c""#
        );
        assert_eq!(
            to_python(&P::Map(vec![(
                "k".into(),
                P::List(vec![P::Int("1".into()), P::None, P::Bool(false)])
            )])),
            r#"{"k": [1, None, False]}"#
        );
        let p = params_from_yaml("alpha: 0.5\nn: 3\nname: run\nflags: [a, b]\nx: null").unwrap();
        assert_eq!(
            python_assignments(&p),
            "# Parameters\nalpha = 0.5\nn = 3\nname = \"run\"\nflags = [\"a\", \"b\"]\nx = None\n"
        );
        assert!(params_from_yaml("[1, 2]").is_err());
        assert!(python_name("alpha_2") && !python_name("2a") && !python_name("class"));
    }

    #[test]
    fn the_injected_cell_follows_the_parameters_cell_and_replaces_an_old_one() {
        let mut d = nb(
            5,
            json!([
                {"cell_type": "markdown", "id": "m", "metadata": {}, "source": "# T"},
                {"cell_type": "code", "id": "p", "metadata": {"tags": ["parameters"]}, "source": ["a = 1\n", "b = 2"], "outputs": [], "execution_count": null},
                {"cell_type": "code", "id": "old", "metadata": {"tags": ["injected-parameters"]}, "source": "a = 9", "outputs": [], "execution_count": null},
                {"cell_type": "code", "metadata": {}, "source": "print(a)", "outputs": [], "execution_count": null}
            ]),
        );
        let (origin, found) = d.inject(&[("a".into(), ParamValue::Int("5".into()))]);
        assert_eq!(found, Some(true));
        assert_eq!(origin, vec![Some(0), Some(1), None, Some(3)]);
        let c = &d.cells()[2];
        assert_eq!(source_of(c), "# Parameters\na = 5\n");
        assert_eq!(tags(c), vec![INJECTED_TAG]);
        assert!(valid_id(c["id"].as_str().unwrap()));
        d.ensure_ids();
        assert!(d.cells()[3]["id"].is_string());
        assert_eq!(d.cells()[1]["id"], "p", "existing ids are kept");

        // No parameters cell: at the top; before 4.5 no ids are added.
        let mut old = nb(
            2,
            json!([{"cell_type": "code", "metadata": {}, "source": "x", "outputs": [], "execution_count": null}]),
        );
        let (origin, found) = old.inject(&[("a".into(), ParamValue::None)]);
        assert_eq!((origin, found), (vec![None, Some(0)], Some(false)));
        old.ensure_ids();
        assert!(old.cells().iter().all(|c| c.get("id").is_none()));
    }

    #[test]
    fn malformed_notebooks_are_named_with_what_is_wrong() {
        let err = |t: &str| NotebookDoc::parse("x.ipynb", t).unwrap_err().to_string();
        assert!(
            err("{").starts_with("x.ipynb: not JSON (line 1"),
            "{}",
            err("{")
        );
        assert!(err("[]").contains("not a notebook"));
        assert!(
            err(r#"{"nbformat": 3, "nbformat_minor": 0, "worksheets": []}"#)
                .contains("nbformat 3 is not supported")
        );
        assert!(err(r#"{"nbformat": 4, "nbformat_minor": 2}"#).contains("no `cells`"));
        assert!(err(
            r#"{"nbformat": 4, "nbformat_minor": 2, "cells": [{"cell_type": "code", "source": 3}]}"#
        )
        .contains("cell 0: `source` is neither"));
        assert!(err(
            r#"{"nbformat": 4, "nbformat_minor": 2, "cells": [{"cell_type": "markdown", "source": ""}, {"cell_type": "widget", "source": ""}]}"#
        )
        .contains("cell 1: cell_type `widget`"));
    }

    #[test]
    fn the_written_layout_is_nbformats() {
        let d = nb(4, json!([]));
        assert_eq!(
            d.to_text(),
            "{\n \"cells\": [],\n \"metadata\": {},\n \"nbformat\": 4,\n \"nbformat_minor\": 4\n}\n"
        );
    }
}
