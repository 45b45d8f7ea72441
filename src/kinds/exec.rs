//! `exec`: an external plug-in. Runs a command that prints one JSON result on stdout, so teams
//! can add checks in any language. An optional cleanup command is registered with the janitor
//! *before* the main command starts, and runs however the check ends (timeout, Ctrl-C included).

use super::{typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::model::{Evidence, Finding, Problem, Severity, Subject};
use crate::suite::SuiteBase;
use futures::future::BoxFuture;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::process::Command;

pub struct Exec;

static META: KindMeta = KindMeta {
    name: "exec",
    needs: &[],
    effect: Effect::CreatesResources,
    default_timeout: Duration::from_secs(300),
    what: "Runs an external plug-in command and reads its JSON verdict: {\"findings\": [{\"rule\", \"message\", \"severity\", \"subject\", \"evidence\", \"remediation\"}], \"notes\": [], \"error\": \"...\"}.",
    why: "Lets a platform team add site-specific checks (any language, any tool) that run, time out, clean up and report exactly like built-in ones.",
    fix: "Follow the remediation the plug-in reports; a plug-in that exits non-zero without JSON is reported as errored with its stderr.",
    params: &[
        ("command", "argv list: program and arguments (relative programs resolve against the suite directory first)"),
        ("env", "extra environment variables (KFCHECK_RUN_ID and KFCHECK_CHECK_ID are always set)"),
        ("cleanup", "argv list run by the janitor after the check, whatever happened"),
    ],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    command: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    cleanup: Option<Vec<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginResult {
    #[serde(default)]
    findings: Vec<PluginFinding>,
    #[serde(default)]
    notes: Vec<String>,
    #[serde(default)]
    problems: Vec<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginFinding {
    rule: String,
    message: String,
    #[serde(default)]
    severity: Option<Severity>,
    #[serde(default)]
    subject: Option<PluginSubject>,
    #[serde(default)]
    evidence: BTreeMap<String, String>,
    #[serde(default)]
    remediation: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PluginSubject {
    kind: String,
    name: String,
}

fn program(base: &SuiteBase, argv0: &str) -> PathBuf {
    if let SuiteBase::Dir(d) = base {
        let candidate = d.join(argv0);
        if argv0.contains('/') && candidate.exists() {
            // Absolute, because the plug-in runs with the suite directory as its working directory.
            return std::fs::canonicalize(&candidate).unwrap_or(candidate);
        }
    }
    PathBuf::from(argv0)
}

fn command(base: &SuiteBase, argv: &[String], env: &BTreeMap<String, String>, run_id: &str, check_id: &str) -> Command {
    let mut c = Command::new(program(base, &argv[0]));
    c.args(&argv[1..])
        .envs(env)
        .env("KFCHECK_RUN_ID", run_id)
        .env("KFCHECK_CHECK_ID", check_id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // The runner drops this future on timeout or Ctrl-C: the plug-in must die with it.
        .kill_on_drop(true);
    if let SuiteBase::Dir(d) = base {
        if !d.as_os_str().is_empty() {
            c.current_dir(d);
        }
    }
    c
}

fn tail(bytes: &[u8], max: usize) -> String {
    let s = String::from_utf8_lossy(bytes);
    let s = s.trim();
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("...{}", &s[start..])
}

/// Pure: turns a plug-in's exit status and output into an outcome.
pub(crate) fn evaluate(success: bool, code: Option<i32>, stdout: &[u8], stderr: &[u8], default_severity: Severity, check_id: &str) -> Result<Outcome, CheckError> {
    let text = String::from_utf8_lossy(stdout);
    let last_json = text.lines().rev().find(|l| l.trim_start().starts_with('{'));
    let parsed = last_json.map(|l| serde_json::from_str::<PluginResult>(l.trim()));
    let result = match (parsed, success) {
        (Some(Ok(r)), _) => r,
        (Some(Err(e)), _) => return Err(CheckError::Undecided(format!("plug-in printed an invalid result: {e}"))),
        (None, true) => return Err(CheckError::Undecided("plug-in exited 0 without printing a JSON result".into())),
        (None, false) => {
            let code = code.map(|c| c.to_string()).unwrap_or_else(|| "a signal".into());
            return Err(CheckError::Undecided(format!("plug-in exited with {code}: {}", tail(stderr, 400))));
        }
    };
    if let Some(e) = result.error {
        return Err(CheckError::Undecided(format!("plug-in could not decide: {e}")));
    }
    Ok(Outcome {
        findings: result
            .findings
            .into_iter()
            .map(|f| Finding {
                rule: f.rule,
                severity: f.severity.unwrap_or(default_severity),
                message: f.message,
                subject: f.subject.map(|s| Subject::new(s.kind, s.name)).unwrap_or_else(|| Subject::new("check", check_id)),
                evidence: f.evidence.into_iter().map(|(k, v)| Evidence::new(k, v)).collect(),
                remediation: f.remediation.unwrap_or_else(|| "See the plug-in's documentation.".into()),
                owner: None,
            })
            .collect(),
        problems: result.problems.into_iter().map(|m| Problem { subject: Subject::new("check", check_id), message: m }).collect(),
        notes: result.notes,
    })
}

impl Kind for Exec {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, _: &SuiteBase) -> Result<(), String> {
        let p: Params = typed_params(params)?;
        if p.command.is_empty() || p.command[0].is_empty() {
            return Err("`command` must name a program".into());
        }
        if p.cleanup.as_ref().is_some_and(|c| c.is_empty()) {
            return Err("`cleanup` must name a program when given".into());
        }
        Ok(())
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let p: Params = cx.params()?;
            let base = cx.spec.base.clone();
            let id = cx.spec.id.clone();
            if let Some(cleanup) = p.cleanup.clone() {
                let (env, run_id, id2, base2) = (p.env.clone(), cx.run_id.to_string(), id.clone(), base.clone());
                cx.janitor.register(format!("run cleanup command {}", cleanup[0]), move || {
                    Box::pin(async move {
                        let out = command(&base2, &cleanup, &env, &run_id, &id2)
                            .output()
                            .await
                            .map_err(|e| format!("cannot start {}: {e}", cleanup[0]))?;
                        if out.status.success() {
                            Ok(format!("ran {}", cleanup[0]))
                        } else {
                            Err(format!("{} exited with {}: {}", cleanup[0], out.status, tail(&out.stderr, 200)))
                        }
                    })
                });
            }
            let out = command(&base, &p.command, &p.env, &cx.run_id, &id)
                .output()
                .await
                .map_err(|e| CheckError::Undecided(format!("cannot start {}: {e}", p.command[0])))?;
            evaluate(out.status.success(), out.status.code(), &out.stdout, &out.stderr, cx.spec.severity, &id)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evaluate_reads_findings_and_errors() {
        let ok = br#"{"findings": [{"rule": "r", "message": "m", "evidence": {"k": "v"}}], "notes": ["n"]}"#;
        let o = evaluate(true, Some(0), ok, b"", Severity::Warning, "c").unwrap();
        assert_eq!(o.findings[0].severity, Severity::Warning);
        assert_eq!(o.findings[0].evidence[0].observed, "v");
        assert!(evaluate(false, Some(2), b"", b"boom", Severity::Error, "c").unwrap_err().to_string().contains("exited with 2: boom"));
        assert!(evaluate(true, Some(0), b"hello", b"", Severity::Error, "c").is_err());
        assert!(evaluate(true, Some(0), br#"{"error": "api down"}"#, b"", Severity::Error, "c").unwrap_err().to_string().contains("api down"));
        assert!(evaluate(true, Some(0), br#"{"bogus": 1}"#, b"", Severity::Error, "c").unwrap_err().to_string().contains("invalid result"));
    }
}
