//! `kfcheck explain`: what a check, a check kind, a kind's finding rule or a pipeline lint rule
//! verifies, why it matters and how to fix it, from the registries' own metadata.

use crate::kinds::{find_finding_rule, find_kind, Effect, KindRef, KINDS};
use crate::model::matrix::{find_pattern, PATTERNS};
use crate::model::{AppOutput, ExitStatus};
use crate::pipeline::rules::{find_rule, RULES};
use crate::suite::Suite;

fn explain_kind(out: &mut String, kind: KindRef) {
    let m = kind.meta();
    out.push_str(&format!(
        "Kind {}\n\nWhat it checks: {}\nWhy it matters: {}\nHow to fix: {}\n",
        m.name, m.what, m.why, m.fix
    ));
    let needs: Vec<&str> = m.needs.iter().map(|n| n.name()).collect();
    out.push_str(&format!(
        "Needs: {}\nEffect: {}\nDefault timeout: {}\n",
        if needs.is_empty() {
            "nothing".into()
        } else {
            needs.join(", ")
        },
        match m.effect {
            Effect::ReadOnly => "read-only",
            Effect::CreatesResources => "creates resources (labelled, removed after the check)",
        },
        humantime::format_duration(m.default_timeout)
    ));
    if !m.params.is_empty() {
        out.push_str("\nParameters:\n");
        for (p, d) in m.params {
            out.push_str(&format!("  {p}: {d}\n"));
        }
    }
    if !m.rules.is_empty() {
        out.push_str("\nFindings (default severity):\n");
        for r in m.rules {
            out.push_str(&format!(
                "  {} ({}): {}\n",
                r.id, r.default_severity, r.summary
            ));
        }
    }
    if m.name == "pipeline-lint" {
        out.push_str("\nRules (default severity):\n");
        for r in RULES {
            out.push_str(&format!(
                "  {} ({}): {}\n",
                r.id, r.default_severity, r.summary
            ));
        }
    }
}

/// `kfcheck explain NAME`: a check of the suite, else a kind, else a pipeline lint rule, else a
/// kind's finding rule.
pub(crate) fn explain(suite: &Suite, name: &str) -> AppOutput {
    let mut out = String::new();
    if let Some(c) = suite.get(name) {
        out.push_str(&format!(
            "Check {}: {}\nCategory: {}\nDefined at: {}\nEnabled: {}\nTimeout: {}\n",
            c.id,
            c.title,
            c.category,
            c.origin,
            if c.enabled { "yes" } else { "no" },
            humantime::format_duration(c.timeout)
        ));
        if let Some(d) = &c.description {
            out.push_str(&format!("\n{}\n", d.trim()));
        }
        out.push_str(&format!(
            "Parameters: {}\n\n",
            serde_json::to_string(&c.params).unwrap_or_default()
        ));
        explain_kind(&mut out, c.kind);
    } else if let Some(k) = find_kind(name) {
        explain_kind(&mut out, k);
    } else if let Some(r) = find_rule(name) {
        out.push_str(&format!(
            "Pipeline lint rule {} (default severity {})\n\nWhat it checks: {}\nWhy it matters: {}\nHow to fix: {}\n",
            r.id, r.default_severity, r.summary, r.why, r.fix
        ));
    } else if let Some((_, r)) = find_finding_rule(name) {
        let kinds: Vec<&str> = KINDS
            .iter()
            .filter(|k| k.meta().rules.iter().any(|x| x.id == r.id))
            .map(|k| k.meta().name)
            .collect();
        out.push_str(&format!(
            "Finding rule {} of {} {} (default severity {})\n\nWhat it reports: {}\nHow to fix: {}\nSeverity: a check's `severity:` replaces an error rule's default; warnings keep theirs.\n",
            r.id,
            if kinds.len() == 1 { "kind" } else { "kinds" },
            kinds.join(", "),
            r.default_severity,
            r.summary,
            r.fix
        ));
    } else if let Some(p) = find_pattern(name) {
        out.push_str(&format!(
            "Door matrix pattern {}\n\nWhen: {}\nWhere the fault is: {}\nWhat to read first: {}\n\nThe matrix compares kfcheck's sample runs through the REST door (kfp-cpu-sample, kfp-gpu-sample), the notebook door (notebook-cpu-sample, notebook-gpu-sample) and raw YAML (argo-cpu-sample, argo-gpu-sample) when a run covers two door/mode cells or more; a cell that was skipped or errored counts neither way.\n",
            p.id, p.when, p.points_to, p.look_at
        ));
    } else {
        let kinds: Vec<&str> = KINDS.iter().map(|k| k.meta().name).collect();
        let known = suite
            .checks
            .iter()
            .map(|c| c.id.as_str())
            .chain(kinds.iter().copied())
            .chain(RULES.iter().map(|r| r.id))
            .chain(PATTERNS.iter().map(|p| p.id))
            .chain(
                KINDS
                    .iter()
                    .flat_map(|k| k.meta().rules.iter().map(|r| r.id)),
            );
        let hint = match crate::suite::did_you_mean(name, known) {
            Some(m) => format!("did you mean '{m}'? "),
            None => String::new(),
        };
        return AppOutput::usage(format!(
            "no check, kind or rule named '{name}' ({hint}checks: `kfcheck list`; kinds: {})",
            kinds.join(", ")
        ));
    }
    let out = match super::shared::terminal_width() {
        Some(w) => crate::report::fit(&out, w.into()),
        None => out,
    };
    AppOutput {
        stdout: out,
        exit: Some(ExitStatus::Ready),
        ..Default::default()
    }
}
