//! Reads compiled pipeline text (YAML or JSON, one or more documents) into the task model.
//! Detects the format from the content, never from the file name.

use super::model::{AffinityTerm, Pipeline, Requirement};
use super::{argo, tekton, v2};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};

/// Why a file could not be inspected. `line` is 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    pub message: String,
    pub line: Option<u64>,
}

impl ParseError {
    pub fn new(message: impl Into<String>) -> Self {
        ParseError {
            message: message.into(),
            line: None,
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

/// Kubernetes-style `{limits: {...}, requests: {...}}` (Argo and Tekton containers).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct K8sResources {
    #[serde(default)]
    pub limits: Option<BTreeMap<String, Scalar>>,
    #[serde(default)]
    pub requests: Option<BTreeMap<String, Scalar>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct K8sToleration {
    pub key: Option<String>,
    pub operator: Option<String>,
    pub value: Option<Scalar>,
    pub effect: Option<String>,
}

/// `place.nodeSelector`-style names of the placement keys present (`[nodeSelector, tolerations,
/// affinity]`) inside a container or step, where Kubernetes, Argo and Tekton ignore them.
pub(crate) fn misplaced(place: &str, present: [bool; 3]) -> Vec<String> {
    ["nodeSelector", "tolerations", "affinity"]
        .into_iter()
        .zip(present)
        .filter(|(_, p)| *p)
        .map(|(k, _)| format!("{place}.{k}"))
        .collect()
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Affinity {
    pub node_affinity: Option<NodeAffinity>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeAffinity {
    pub required_during_scheduling_ignored_during_execution: Option<NodeSelectorBlock>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeSelectorBlock {
    #[serde(default)]
    pub node_selector_terms: Vec<NodeSelectorTerm>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct NodeSelectorTerm {
    #[serde(default)]
    pub match_expressions: Option<Vec<MatchExpression>>,
    #[serde(default)]
    pub match_fields: Option<Vec<MatchExpression>>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct MatchExpression {
    pub key: Option<String>,
    pub operator: Option<String>,
    #[serde(default)]
    pub values: Option<Vec<Scalar>>,
}

impl MatchExpression {
    /// The requirement as written; a missing key or operator stays empty (and invalid).
    pub fn requirement(&self) -> Requirement {
        Requirement {
            key: self.key.clone().unwrap_or_default(),
            operator: self.operator.clone().unwrap_or_default(),
            values: self.values.iter().flatten().map(|v| v.0.clone()).collect(),
        }
    }
}

/// A node selector term of the task model, from its `matchExpressions` and `matchFields`.
pub(crate) fn affinity_term(
    expressions: Option<&[MatchExpression]>,
    fields: Option<&[MatchExpression]>,
) -> AffinityTerm {
    AffinityTerm {
        match_expressions: expressions
            .into_iter()
            .flatten()
            .map(MatchExpression::requirement)
            .collect(),
        match_fields: fields
            .into_iter()
            .flatten()
            .map(MatchExpression::requirement)
            .collect(),
    }
}

impl Affinity {
    /// The required node-affinity terms, or `None` when there is no required node affinity. A
    /// `requiredDuringSchedulingIgnoredDuringExecution` without terms is kept as `Some(vec![])`:
    /// it matches no node (and the API server rejects it).
    pub fn required_terms(&self) -> Option<Vec<AffinityTerm>> {
        let req = self
            .node_affinity
            .as_ref()?
            .required_during_scheduling_ignored_during_execution
            .as_ref()?;
        Some(
            req.node_selector_terms
                .iter()
                .map(|t| affinity_term(t.match_expressions.as_deref(), t.match_fields.as_deref()))
                .collect(),
        )
    }
}

/// Every top-level key any supported format uses; one pass over the text fills what exists.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Doc {
    pub api_version: Option<String>,
    pub kind: Option<String>,
    // KFP v2 IR
    pub pipeline_info: Option<v2::PipelineInfo>,
    pub root: Option<v2::ComponentSpec>,
    pub components: Option<BTreeMap<String, v2::ComponentSpec>>,
    pub deployment_spec: Option<v2::DeploymentSpec>,
    pub sdk_version: Option<String>,
    pub platforms: Option<v2::Platforms>,
    /// `{"pipeline_spec": {...}, "platform_spec": {...}}` as the KFP API stores it, or a Vertex
    /// PipelineJob `{"pipelineSpec": ...}`.
    #[serde(alias = "pipeline_spec")]
    pub pipeline_spec: Option<Box<Doc>>,
    #[serde(alias = "platform_spec")]
    pub platform_spec: Option<Box<Doc>>,
    // Argo and Tekton
    pub metadata: Option<Metadata>,
    pub spec: Option<KubeSpec>,
    // Tekton `pipelineSpec` (the same key holds KFP IR in a PipelineVersion, hence one struct)
    pub tasks: Option<Vec<tekton::PipelineTask>>,
    #[serde(rename = "finally")]
    pub finally_tasks: Option<Vec<tekton::PipelineTask>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Metadata {
    pub name: Option<String>,
    pub generate_name: Option<String>,
    pub annotations: Option<Annotations>,
}

/// The annotations kfcheck reads (others, often long JSON strings, are skipped).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Annotations {
    #[serde(rename = "pipelines.kubeflow.org/kfp_sdk_version")]
    pub kfp_sdk_version: Option<Scalar>,
}

/// Union of the `spec` fields of Argo Workflows and Tekton objects that the task model needs.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct KubeSpec {
    // Argo
    pub templates: Option<Vec<argo::Template>>,
    pub node_selector: Option<BTreeMap<String, Scalar>>,
    pub tolerations: Option<Vec<K8sToleration>>,
    pub affinity: Option<Affinity>,
    pub workflow_spec: Option<Box<KubeSpec>>,
    // Tekton PipelineRun (tasks) or KFP PipelineVersion (IR), see `Doc`
    pub pipeline_spec: Option<Box<Doc>>,
    /// KFP PipelineVersion (Kubernetes-native pipeline store)
    pub platform_spec: Option<Box<Doc>>,
    pub task_run_specs: Option<Vec<tekton::TaskRunSpec>>,
    pub task_run_template: Option<tekton::TaskRunTemplate>,
    pub pod_template: Option<tekton::PodTemplate>,
    pub tasks: Option<Vec<tekton::PipelineTask>>,
    #[serde(rename = "finally")]
    pub finally_tasks: Option<Vec<tekton::PipelineTask>>,
    pub steps: Option<Vec<tekton::Step>>,
    pub step_template: Option<tekton::Step>,
}

/// Parses the text of one file. `text` must already be valid UTF-8.
///
/// JSON goes straight to serde_json and block YAML through the fast reader in `skim`; whenever
/// either cannot produce a pipeline, the full YAML parser decides (and words every error).
pub fn parse_pipeline(text: &str) -> Result<Pipeline, ParseError> {
    check_document_count(text)?;
    if let Some(docs) = fast_documents(text) {
        if let Ok(p) = build(docs, text) {
            return Ok(p);
        }
    }
    build(full_documents(text)?, text)
}

/// Only the fast paths (JSON, `skim`): `None` where the full parser would be needed. For tests
/// and benchmarks that compare the two.
pub fn parse_pipeline_fast(text: &str) -> Option<Pipeline> {
    build(fast_documents(text)?, text).ok()
}

/// Only the full YAML parser. For tests and benchmarks that compare the two.
pub fn parse_pipeline_full(text: &str) -> Result<Pipeline, ParseError> {
    check_document_count(text)?;
    build(full_documents(text)?, text)
}

/// The most YAML documents one file may hold. A compiled pipeline is one to a few (IR and
/// platform spec; a Tekton bundle a few dozen); a file of millions of tiny documents would cost
/// gigabytes of parsed documents for nothing.
pub const MAX_DOCUMENTS: usize = 1000;

/// `Err` when `text` has more than [`MAX_DOCUMENTS`] document separators (`---` at the start of
/// a line), counted in one pass before anything is parsed.
fn check_document_count(text: &str) -> Result<(), ParseError> {
    let b = text.as_bytes();
    let at_line_start = |i: usize| i == 0 || b[i - 1] == b'\n';
    let separators = memchr::memmem::find_iter(b, b"---")
        .filter(|&i| at_line_start(i))
        .take(MAX_DOCUMENTS + 1)
        .count();
    if separators > MAX_DOCUMENTS {
        return Err(ParseError::new(format!(
            "more than {MAX_DOCUMENTS} YAML documents in one file; a compiled pipeline has a few; not inspected"
        )));
    }
    Ok(())
}

/// The documents of `text` through the fast paths, or `None` to use the full parser.
fn fast_documents(text: &str) -> Option<Vec<Doc>> {
    if text.trim_start().starts_with('{') {
        return serde_json::from_str::<Doc>(text).ok().map(|d| vec![d]);
    }
    ARENA.with(|arena| {
        let mut arena = arena.borrow_mut();
        // One arena per worker thread, emptied per file: the tree costs no allocation per node.
        arena.reset();
        let nodes = super::skim::parse_documents(text, &arena).ok()?;
        let mut docs = Vec::with_capacity(nodes.len());
        for n in &nodes {
            if let Some(d) = Option::<Doc>::deserialize(n).ok()? {
                docs.push(d);
            }
        }
        Some(docs)
    })
}

thread_local! {
    static ARENA: std::cell::RefCell<bumpalo::Bump> = std::cell::RefCell::new(bumpalo::Bump::new());
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

/// The documents of `text` through `serde_yaml_ng`: authoritative, and the source of errors.
pub(crate) fn full_documents(text: &str) -> Result<Vec<Doc>, ParseError> {
    check_alias_budget(text)?;
    let mut docs = Vec::new();
    for de in serde_yaml_ng::Deserializer::from_str(text) {
        match Option::<Doc>::deserialize(de) {
            Ok(Some(doc)) => docs.push(doc),
            Ok(None) => {}
            Err(e) => return Err(yaml_error(e)),
        }
    }
    Ok(docs)
}

fn build(docs: Vec<Doc>, text: &str) -> Result<Pipeline, ParseError> {
    if docs.is_empty() {
        return Err(ParseError::new("no YAML document in file"));
    }
    let is_argo = |d: &Doc| {
        d.api_version
            .as_deref()
            .is_some_and(|v| v.starts_with("argoproj.io/"))
            && matches!(
                d.kind.as_deref(),
                Some("Workflow" | "WorkflowTemplate" | "ClusterWorkflowTemplate" | "CronWorkflow")
            )
    };
    let is_tekton = |d: &Doc| {
        d.api_version
            .as_deref()
            .is_some_and(|v| v.starts_with("tekton.dev/"))
    };
    // Kubernetes-native pipeline store: a PipelineVersion object holds the IR and platform spec.
    if let Some(pv) = docs.iter().find(|d| {
        d.api_version
            .as_deref()
            .is_some_and(|v| v.starts_with("pipelines.kubeflow.org/"))
            && d.kind.as_deref() == Some("PipelineVersion")
    }) {
        let spec = pv.spec.as_ref();
        let Some(ir) = spec.and_then(|s| s.pipeline_spec.as_deref()) else {
            return Err(ParseError::new("PipelineVersion without spec.pipelineSpec"));
        };
        let platform = spec
            .and_then(|s| s.platform_spec.as_deref())
            .and_then(|p| p.platforms.as_ref());
        return v2::to_pipeline(ir, platform, text);
    }
    if let Some(doc) = docs.iter().find(|d| is_argo(d)) {
        return argo::to_pipeline(doc, text);
    }
    if docs.iter().any(is_tekton) {
        let tekton_docs: Vec<&Doc> = docs.iter().filter(|d| is_tekton(d)).collect();
        return tekton::to_pipeline(&tekton_docs, text);
    }
    // Unwrap API-style wrappers into plain IR + platform documents.
    let mut flat: Vec<&Doc> = Vec::new();
    for d in &docs {
        if let Some(inner) = &d.pipeline_spec {
            flat.push(inner);
            if let Some(p) = &d.platform_spec {
                flat.push(p);
            }
        } else {
            flat.push(d);
        }
    }
    let ir = flat
        .iter()
        .find(|d| d.deployment_spec.is_some() || d.root.is_some());
    match ir {
        Some(ir) => {
            let platform = flat.iter().find_map(|d| {
                d.platforms
                    .as_ref()
                    .or_else(|| d.platform_spec.as_ref().and_then(|p| p.platforms.as_ref()))
            });
            v2::to_pipeline(ir, platform, text)
        }
        None => Err(not_a_pipeline(&docs)),
    }
}

fn not_a_pipeline(docs: &[Doc]) -> ParseError {
    let what = match (docs[0].api_version.as_deref(), docs[0].kind.as_deref()) {
        (Some(a), Some(k)) => format!(" (found {a} {k})"),
        (_, Some(k)) => format!(" (found kind {k})"),
        _ if docs[0].platforms.is_some() => " (found only a platform spec)".to_string(),
        _ => String::new(),
    };
    ParseError::new(format!(
        "not a compiled pipeline{what}: expected KFP v2 IR (deploymentSpec/root), an Argo Workflow or a Tekton PipelineRun"
    ))
}

fn yaml_error(e: serde_yaml_ng::Error) -> ParseError {
    let line = e.location().map(|l| l.line() as u64);
    let mut message = e.to_string();
    // serde_yaml_ng appends " at line X column Y"; the line is reported separately.
    if let Some(idx) = message.find(" at line ") {
        message.truncate(idx);
    }
    ParseError {
        message: format!("malformed YAML: {message}"),
        line,
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
mod document_count_tests {
    use super::*;

    #[test]
    fn a_file_of_very_many_documents_is_refused_before_it_is_parsed() {
        let many = "---\na: 1\n".repeat(MAX_DOCUMENTS + 1);
        let e = parse_pipeline(&many).unwrap_err();
        assert!(
            e.to_string().contains("more than 1000 YAML documents"),
            "{e}"
        );
        assert!(parse_pipeline_full(&many).is_err());
        // A separator inside a line is no separator.
        assert!(check_document_count(&"a: x---y\n".repeat(5000)).is_ok());
        assert!(check_document_count(&"---\na: 1\n".repeat(MAX_DOCUMENTS)).is_ok());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_yaml_reports_line() {
        let err = parse_pipeline("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(err.message.starts_with("malformed YAML"), "{err:?}");
        assert!(err.line.is_some());
    }

    #[test]
    fn non_pipeline_yaml_is_named() {
        let err =
            parse_pipeline("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n").unwrap_err();
        assert!(
            err.message
                .contains("not a compiled pipeline (found v1 ConfigMap)"),
            "{err:?}"
        );
    }

    #[test]
    fn scalar_list_is_not_a_pipeline() {
        assert!(parse_pipeline("- 1\n- 2\n").is_err());
        assert!(parse_pipeline("just text\n").is_err());
        assert!(parse_pipeline("").is_err());
        assert!(parse_pipeline("---\n---\n").is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = format!("root: {}1{}\n", "[".repeat(5000), "]".repeat(5000));
        let err = parse_pipeline(&deep).unwrap_err();
        assert!(err.message.contains("malformed YAML"), "{err:?}");
    }

    /// One anchored template with many tolerations, aliased many times: a few tens of KB that
    /// the YAML library would expand into millions of stored tolerations.
    fn alias_bomb(templates: usize, tolerations: usize) -> String {
        let tols = vec!["{key: k, operator: Exists}"; tolerations].join(", ");
        let mut t = format!("apiVersion: argoproj.io/v1alpha1\nkind: Workflow\nspec:\n  templates:\n  - &t {{name: a, container: {{image: 'x:1'}}, tolerations: [{tols}]}}\n");
        t.push_str(&"  - *t\n".repeat(templates));
        t
    }

    #[test]
    fn yaml_aliases_past_the_budget_are_refused() {
        let text = alias_bomb(1000, 1000);
        assert!(text.len() < 40_000, "{}", text.len());
        let err = match parse_pipeline(&text) {
            Ok(p) => panic!("alias bomb parsed into {} tasks", p.tasks.len()),
            Err(e) => e,
        };
        assert_eq!(err.message, format!("YAML aliases expand the file to more than {MIN_ALIAS_BUDGET} nodes (the limit for its size); not inspected"));
        // Aliases within the budget are ordinary YAML.
        let p = parse_pipeline(&alias_bomb(3, 2)).unwrap();
        assert_eq!(p.tasks.len(), 4);
        assert!(p.tasks.iter().all(|t| t.tolerations.len() == 2));
    }

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
