//! Reads compiled pipeline text (YAML or JSON, one or more documents) into the task model.
//! Detects the format from the content, never from the file name, and hands the documents to the
//! format's reader (`v2`, `argo_v2`, `argo`, `tekton`).

use super::model::Pipeline;
use super::shapes::Doc;
use super::yaml::yaml_error;
use super::{argo, argo_v2, tekton, v2};
use serde::Deserialize;

// Paths callers use (`parse::check_alias_budget`, `parse::ParseError`, ...) from before the
// reading helpers moved to `yaml`.
pub use super::yaml::{alias_budget, check_alias_budget, ParseError, Scalar, MIN_ALIAS_BUDGET};

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
        // The KFP v2 backend's output: KFP's driver/launcher templates and the IR as JSON
        // parameters. Without the parameters it is read as any Argo workflow.
        if argo_v2::has_kfp_templates(doc) {
            if let Some(p) = argo_v2::to_pipeline(doc, text)? {
                return Ok(p);
            }
        }
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
    ParseError::not_a_pipeline(format!(
        "not a compiled pipeline{what}: expected KFP v2 IR (deploymentSpec/root), an Argo Workflow or a Tekton PipelineRun"
    ))
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
}
