//! Image without a tag, or tagged `latest`.

use super::{Hit, LintConfig, Rule};
use crate::model::{Evidence, Severity};
use crate::pipeline::model::Pipeline;

pub const RULE: Rule = Rule {
    id: "image-unpinned",
    default_severity: Severity::Warning,
    summary: "A task's image has no tag or uses `latest`.",
    why: "The step silently runs different code from one run to the next, cached results no longer match their code, and `latest` is pulled on every pod start (slow, and fails when the registry is unreachable).",
    fix: "Pin the image to a version tag or, better, a digest (`image@sha256:...`).",
    evaluate,
};

/// `Some(reason)` when an image reference is not pinned.
pub(crate) fn unpinned(image: &str) -> Option<&'static str> {
    if image.contains("{{") || image.contains("$(") || image.contains('@') {
        return None;
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => Some("has no tag (defaults to latest)"),
        Some((_, "latest")) => Some("is tagged latest"),
        Some((_, "")) => Some("has an empty tag"),
        Some(_) => None,
    }
}

fn evaluate(p: &Pipeline, _: &LintConfig) -> Vec<Hit> {
    p.tasks
        .iter()
        .filter_map(|t| {
            let image = t.image.as_deref()?;
            let why = unpinned(image)?;
            Some(
                Hit::on(t, format!("image {why}"), RULE.fix).with(
                    Evidence::new("image", image).expected("repo:version or repo@sha256:digest"),
                ),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references() {
        assert_eq!(unpinned("python"), Some("has no tag (defaults to latest)"));
        assert_eq!(unpinned("python:latest"), Some("is tagged latest"));
        assert_eq!(
            unpinned("localhost:5000/team/img"),
            Some("has no tag (defaults to latest)")
        );
        assert_eq!(unpinned("localhost:5000/team/img:1.2"), None);
        assert_eq!(unpinned("gcr.io/p/img@sha256:abc"), None);
        assert_eq!(unpinned("python:3.11-slim"), None);
    }
}
