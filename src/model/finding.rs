//! Findings: what a check observed that makes the cluster or pipeline not ready.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// How much a finding matters. `Error` fails a check, `Warning` warns, `Info` only informs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "info" => Ok(Severity::Info),
            "warning" | "warn" => Ok(Severity::Warning),
            "error" => Ok(Severity::Error),
            other => Err(format!(
                "unknown severity '{other}' (expected info, warning or error)"
            )),
        }
    }
}

/// What a finding is about: a Kubernetes object, a pipeline task, an endpoint, a container.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Subject {
    /// `pipeline-task`, `pipeline`, `file`, `namespace`, `deployment`, `endpoint`, ...
    pub kind: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub file: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub line: Option<u64>,
}

impl Subject {
    pub fn new(kind: impl Into<String>, name: impl Into<String>) -> Self {
        Subject {
            kind: kind.into(),
            name: name.into(),
            file: None,
            line: None,
        }
    }

    pub fn in_file(mut self, file: impl Into<String>, line: Option<u64>) -> Self {
        self.file = Some(file.into());
        self.line = line;
        self
    }

    /// `file:line task` style location for humans.
    pub fn display(&self) -> String {
        match (&self.file, self.line) {
            (Some(f), Some(l)) => format!("{f}:{l} {}", self.name),
            (Some(f), None) => format!("{f} {}", self.name),
            _ => format!("{} {}", self.kind, self.name),
        }
    }
}

/// One observed/expected pair. Values are already redacted by whoever built them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    pub key: String,
    pub observed: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub expected: Option<String>,
}

impl Evidence {
    pub fn new(key: impl Into<String>, observed: impl Into<String>) -> Self {
        Evidence {
            key: key.into(),
            observed: observed.into(),
            expected: None,
        }
    }

    pub fn expected(mut self, expected: impl Into<String>) -> Self {
        self.expected = Some(expected.into());
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable rule id inside the check kind (e.g. `image-unpinned`).
    pub rule: String,
    pub severity: Severity,
    /// Short lowercase fragment stating what was observed.
    pub message: String,
    pub subject: Subject,
    pub evidence: Vec<Evidence>,
    /// Imperative sentence ending with a period.
    pub remediation: String,
    /// Who should fix it (pipeline findings: the pipeline's author).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub owner: Option<String>,
}

impl Finding {
    /// A finding with no owner (cluster findings; pipeline findings get theirs from `lint`).
    pub fn new(
        rule: impl Into<String>,
        severity: Severity,
        subject: Subject,
        message: impl Into<String>,
        evidence: Vec<Evidence>,
        remediation: impl Into<String>,
    ) -> Finding {
        Finding {
            rule: rule.into(),
            severity,
            message: message.into(),
            subject,
            evidence,
            remediation: remediation.into(),
            owner: None,
        }
    }
}

/// A finding that a repository's config (`.kfcheck.yaml`) suppressed, with the reason it gives:
/// reported apart, never counted toward the check's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Suppressed {
    pub finding: Finding,
    pub reason: String,
    /// Where the suppression is written (`repo/.kfcheck.yaml:7`).
    pub by: String,
}

/// Something a check could not decide about (unparseable file, API error): never a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub subject: Subject,
    pub message: String,
}
/// A finding rule a check kind can report, registered in the kind's metadata like the lint
/// rules (`kfcheck explain <rule>` shows it). Its severity is resolved once, by the runner
/// ([`FindingRule::severity`]), never inside the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FindingRule {
    pub id: &'static str,
    pub default_severity: Severity,
    /// What it reports, as a short lowercase fragment.
    pub summary: &'static str,
    /// How to fix it, in general (a finding's own remediation names the object).
    pub fix: &'static str,
}

/// Two rule tables as one, at compile time (a kind that reports another's findings too);
/// `N` must be the sum of their lengths.
pub const fn concat_rules<const N: usize>(
    a: &[FindingRule],
    b: &[FindingRule],
) -> [FindingRule; N] {
    assert!(
        a.len() + b.len() == N,
        "concat_rules: N is not the sum of the lengths"
    );
    let mut out = [a[0]; N];
    let mut i = 0;
    while i < N {
        out[i] = if i < a.len() { a[i] } else { b[i - a.len()] };
        i += 1;
    }
    out
}

impl FindingRule {
    /// The severity a finding of this rule gets: a check's `severity:` replaces the default of
    /// the rules that fail the check (default error); warnings and notes keep theirs.
    pub fn severity(&self, check_override: Option<Severity>) -> Severity {
        match (self.default_severity, check_override) {
            (Severity::Error, Some(s)) => s,
            (d, _) => d,
        }
    }
}
