//! `exec`: an external plug-in. Runs a command that prints one JSON result on stdout, so teams
//! can add checks in any language. An optional cleanup command is registered with the janitor
//! *before* the main command starts, and runs however the check ends (timeout, Ctrl-C included).
//! The plug-in is not trusted: it runs in its own process group, which is killed when it exits,
//! times out or is interrupted; its output is bounded; a non-zero exit never passes; and every
//! string it reports is redacted and has its control characters escaped before it is kept.

use super::{typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::clients::redact;
use crate::model::owned::Created;
use crate::model::{Evidence, Finding, Problem, Severity, Subject};
use futures::future::BoxFuture;
use rustix::process::{kill_process_group, Pid, Signal};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

pub struct Exec;

static META: KindMeta = KindMeta {
    name: "exec",
    needs: &[],
    effect: Effect::CreatesResources,
    creates: &[Created::PluginDefined],
    rules: &[],
    default_timeout: Duration::from_secs(300),
    what: "Runs an external plug-in command and reads its JSON verdict: {\"findings\": [{\"rule\", \"message\", \"severity\", \"subject\", \"evidence\", \"remediation\"}], \"notes\": [], \"error\": \"...\"}.",
    why: "Lets a platform team add site-specific checks (any language, any tool) that run, time out, clean up and report exactly like built-in ones.",
    fix: "Follow the remediation the plug-in reports. A plug-in that exits non-zero or is killed by a signal is errored (could not decide) with its exit and the end of its stderr, unless its result has error-severity findings, which still fail the check; more than 1 MiB on stdout stops it.",
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

fn command(
    base: &SuiteBase,
    argv: &[String],
    env: &BTreeMap<String, String>,
    run_id: &str,
    check_id: &str,
) -> Command {
    let mut c = Command::new(program(base, &argv[0]));
    c.args(&argv[1..])
        .envs(env)
        .env("KFCHECK_RUN_ID", run_id)
        .env("KFCHECK_CHECK_ID", check_id)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so that whatever it starts can be stopped with it.
        .process_group(0)
        // The runner drops this future on timeout or Ctrl-C: the plug-in must die with it.
        .kill_on_drop(true);
    if let SuiteBase::Dir(d) = base {
        if !d.as_os_str().is_empty() {
            c.current_dir(d);
        }
    }
    c
}

/// Most a plug-in may print on stdout: its result is one line of JSON.
const STDOUT_LIMIT: usize = 1 << 20;
/// How much of the end of stderr is kept for the report.
const STDERR_TAIL: usize = 64 << 10;
/// How long the pipes may stay open after the plug-in exited (a process it started outside its
/// process group may hold them) before kfcheck stops reading.
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// A plug-in's process group, killed (once) when the plug-in exits, floods stdout, or its future
/// is dropped on timeout or Ctrl-C. `kill_on_drop` reaches only the direct child; its children
/// (a backgrounded `sleep`, a port-forward) would outlive the check. SIGKILL is one synchronous
/// syscall, so unlike async cleanup it is safe in `Drop`; the janitor's cleanup command calls
/// [`ProcessGroup::kill`] first, so it never races the plug-in.
#[derive(Clone, Default)]
struct ProcessGroup(Arc<Mutex<Option<Pid>>>);

impl ProcessGroup {
    fn set(&self, leader: Option<u32>) {
        let pid = leader
            .and_then(|p| i32::try_from(p).ok())
            .and_then(Pid::from_raw);
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = pid;
    }

    /// Kills every process left in the group. Only once: after that the group id may be reused.
    fn kill(&self) {
        if let Some(pgid) = self.0.lock().unwrap_or_else(|p| p.into_inner()).take() {
            // ESRCH (nothing left) is the normal case after a clean exit.
            let _ = kill_process_group(pgid, Signal::KILL);
        }
    }
}

/// Kills the group when the check's future is dropped.
struct KillOnDrop(ProcessGroup);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        self.0.kill();
    }
}

/// How a plug-in ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exit {
    Code(i32),
    Signal(i32),
}

impl Exit {
    fn of(status: std::process::ExitStatus) -> Exit {
        match (status.code(), status.signal()) {
            (Some(c), _) => Exit::Code(c),
            (None, Some(s)) => Exit::Signal(s),
            (None, None) => Exit::Code(-1),
        }
    }

    fn success(self) -> bool {
        self == Exit::Code(0)
    }

    /// `exited with exit status 3`, `was killed by signal 9 (SIGKILL)`.
    fn describe(self) -> String {
        match self {
            Exit::Code(c) => format!("exited with exit status {c}"),
            Exit::Signal(s) => {
                let name = match s {
                    1 => "SIGHUP",
                    2 => "SIGINT",
                    3 => "SIGQUIT",
                    4 => "SIGILL",
                    6 => "SIGABRT",
                    7 => "SIGBUS",
                    8 => "SIGFPE",
                    9 => "SIGKILL",
                    11 => "SIGSEGV",
                    13 => "SIGPIPE",
                    14 => "SIGALRM",
                    15 => "SIGTERM",
                    _ => "",
                };
                if name.is_empty() {
                    format!("was killed by signal {s}")
                } else {
                    format!("was killed by signal {s} ({name})")
                }
            }
        }
    }
}

/// What a plug-in did, with its output bounded.
#[derive(Debug)]
struct Ran {
    exit: Exit,
    /// At most [`STDOUT_LIMIT`] bytes.
    stdout: Vec<u8>,
    /// It wrote more than [`STDOUT_LIMIT`] (and was killed for it).
    stdout_over: bool,
    /// The last [`STDERR_TAIL`] bytes.
    stderr: Vec<u8>,
}

/// Reads `from` into `into` up to `limit` bytes; past that, kills the group and stops.
async fn read_capped(
    mut from: impl AsyncRead + Unpin,
    into: &mut Vec<u8>,
    limit: usize,
    group: &ProcessGroup,
) -> bool {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) if into.len() + n > limit => {
                into.extend_from_slice(&buf[..limit - into.len()]);
                group.kill();
                return true;
            }
            Ok(n) => into.extend_from_slice(&buf[..n]),
        }
    }
}

/// Reads `from` to its end, keeping the last `keep` bytes in `into`.
async fn read_tail(mut from: impl AsyncRead + Unpin, into: &mut Vec<u8>, keep: usize) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                into.extend_from_slice(&buf[..n]);
                // Trimmed at twice the size, so the copying stays linear in what was read.
                if into.len() > 2 * keep {
                    into.drain(..into.len() - keep);
                }
            }
        }
    }
    if into.len() > keep {
        into.drain(..into.len() - keep);
    }
}

/// Runs a plug-in (or its cleanup command) to its end, in its own process group, keeping
/// bounded output; the group is killed when the leader exits, so nothing it started lingers.
async fn gather(mut cmd: Command, group: &ProcessGroup, what: &str) -> Result<Ran, String> {
    let _guard = KillOnDrop(group.clone());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot start {what}: {e}"))?;
    group.set(child.id());
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(format!("cannot read the output of {what}"));
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut stdout_over = false;
    let mut exited = None;
    {
        let reading = async {
            let (over, ()) = tokio::join!(
                read_capped(stdout, &mut out, STDOUT_LIMIT, group),
                read_tail(stderr, &mut err, STDERR_TAIL)
            );
            over
        };
        tokio::pin!(reading);
        loop {
            tokio::select! {
                s = child.wait(), if exited.is_none() => {
                    group.kill();
                    exited = Some(s);
                }
                over = &mut reading => {
                    stdout_over = over;
                    break;
                }
                _ = tokio::time::sleep(PIPE_GRACE), if exited.is_some() => break,
            }
        }
    }
    let status = match exited {
        Some(s) => s,
        None => {
            let s = child.wait().await;
            group.kill();
            s
        }
    };
    let status = status.map_err(|e| format!("cannot wait for {what}: {e}"))?;
    Ok(Ran {
        exit: Exit::of(status),
        stdout: out,
        stdout_over,
        stderr: err,
    })
}

/// Plug-in text made safe to show: secrets redacted, then control characters (escape sequences,
/// carriage returns, newlines that would start a forged line) and invisible reordering
/// characters shown escaped (`\u{1b}`, `\n`) instead of acted on.
fn clean(text: &str) -> String {
    escape_controls(&redact::redact(text))
}

fn escape_controls(redacted: &str) -> String {
    let mut out = String::with_capacity(redacted.len());
    for c in redacted.chars() {
        match c {
            '\t' => out.push(' '),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c if c.is_control()
                || matches!(c, '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}') =>
            {
                out.extend(c.escape_unicode())
            }
            c => out.push(c),
        }
    }
    out
}

/// `; stderr: <its last lines, redacted>` or nothing.
fn stderr_part(stderr: &[u8]) -> String {
    let text = String::from_utf8_lossy(stderr);
    let t = redact::tail(text.trim(), 5, 400);
    if t.trim().is_empty() {
        String::new()
    } else {
        // `tail` redacted it already (the whole text, before cutting).
        format!("; stderr: {}", escape_controls(t.trim()))
    }
}

fn plugin_finding(f: PluginFinding, default_severity: Severity, check_id: &str) -> Finding {
    Finding {
        rule: clean(&f.rule),
        severity: f.severity.unwrap_or(default_severity),
        message: clean(&f.message),
        subject: f
            .subject
            .map(|s| Subject::new(clean(&s.kind), clean(&s.name)))
            .unwrap_or_else(|| Subject::new("check", check_id)),
        evidence: f
            .evidence
            .into_iter()
            .map(|(k, v)| Evidence::new(clean(&k), clean(&v)))
            .collect(),
        remediation: f
            .remediation
            .map(|r| clean(&r))
            .unwrap_or_else(|| "See the plug-in's documentation.".into()),
        owner: None,
    }
}

/// [`evaluate`] from plain parts (the fuzz target's way in): `code` is the exit code, `None` for
/// death by SIGKILL; `stdout_over` says the plug-in flooded stdout.
pub(crate) fn evaluate_parts(
    code: Option<i32>,
    stdout: &[u8],
    stdout_over: bool,
    stderr: &[u8],
    default_severity: Severity,
    check_id: &str,
) -> Result<Outcome, CheckError> {
    let exit = code.map_or(Exit::Signal(9), Exit::Code);
    evaluate(
        &Ran {
            exit,
            stdout: stdout.to_vec(),
            stdout_over,
            stderr: stderr.to_vec(),
        },
        default_severity,
        check_id,
    )
}

/// Pure: turns what a plug-in did into an outcome. A non-zero exit (or a signal) means the
/// plug-in did not finish its work, so whatever it printed cannot pass the check: the check
/// could not decide, unless the result it printed already fails it (an error-severity finding
/// stays a failure, with the exit kept as an undecided item).
fn evaluate(ran: &Ran, default_severity: Severity, check_id: &str) -> Result<Outcome, CheckError> {
    let exit = ran.exit;
    let err = stderr_part(&ran.stderr);
    if ran.stdout_over {
        return Err(CheckError::Undecided(format!(
            "plug-in wrote more than 1 MiB on stdout; limit is {} MiB for its one-line JSON result, so kfcheck stopped it{err}",
            STDOUT_LIMIT >> 20
        )));
    }
    let text = String::from_utf8_lossy(&ran.stdout);
    let last_json = text.lines().rev().find(|l| l.trim_start().starts_with('{'));
    let after = if exit.success() {
        String::new()
    } else {
        format!("; it {}", exit.describe())
    };
    let result = match last_json.map(|l| serde_json::from_str::<PluginResult>(l.trim())) {
        Some(Ok(r)) => r,
        Some(Err(e)) => {
            return Err(CheckError::Undecided(format!(
                "plug-in printed an invalid result: {}{after}{err}",
                clean(&e.to_string())
            )))
        }
        None if exit.success() => {
            return Err(CheckError::Undecided(format!(
                "plug-in exited 0 without printing a JSON result{err}"
            )))
        }
        None => {
            return Err(CheckError::Undecided(format!(
                "plug-in {}{err}",
                exit.describe()
            )))
        }
    };
    if let Some(e) = result.error {
        return Err(CheckError::Undecided(format!(
            "plug-in could not decide: {}{after}{err}",
            clean(&e)
        )));
    }
    let findings: Vec<Finding> = result
        .findings
        .into_iter()
        .map(|f| plugin_finding(f, default_severity, check_id))
        .collect();
    let mut problems: Vec<Problem> = result
        .problems
        .iter()
        .map(|m| Problem {
            subject: Subject::new("check", check_id),
            message: clean(m),
        })
        .collect();
    if !exit.success() {
        let message = format!("plug-in {} after printing its result{err}", exit.describe());
        if !findings.iter().any(|f| f.severity == Severity::Error) {
            return Err(CheckError::Undecided(message));
        }
        problems.push(Problem {
            subject: Subject::new("check", check_id),
            message,
        });
    }
    Ok(Outcome {
        findings,
        problems,
        notes: result.notes.iter().map(|n| clean(n)).collect(),
        ..Outcome::default()
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
            let group = ProcessGroup::default();
            if let Some(cleanup) = p.cleanup.clone() {
                let (env, run_id, id2, base2, plugin) = (
                    p.env.clone(),
                    cx.run_id.to_string(),
                    id.clone(),
                    base.clone(),
                    group.clone(),
                );
                cx.janitor
                    .register(format!("run cleanup command {}", cleanup[0]), move || {
                        Box::pin(async move {
                            // The plug-in (timed out, interrupted) must be gone before its cleanup runs.
                            plugin.kill();
                            let cmd = command(&base2, &cleanup, &env, &run_id, &id2);
                            let ran = gather(cmd, &ProcessGroup::default(), &cleanup[0]).await?;
                            if ran.exit.success() {
                                Ok(format!("ran {}", cleanup[0]))
                            } else {
                                Err(format!(
                                    "{} {}{}",
                                    cleanup[0],
                                    ran.exit.describe(),
                                    stderr_part(&ran.stderr)
                                ))
                            }
                        })
                    });
            }
            let ran = gather(
                command(&base, &p.command, &p.env, &cx.run_id, &id),
                &group,
                &p.command[0],
            )
            .await
            .map_err(CheckError::Undecided)?;
            evaluate(&ran, cx.spec.severity, &id)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ran(exit: Exit, stdout: &[u8], stderr: &[u8]) -> Ran {
        Ran {
            exit,
            stdout: stdout.to_vec(),
            stdout_over: false,
            stderr: stderr.to_vec(),
        }
    }

    fn evaluate(
        success: bool,
        code: Option<i32>,
        stdout: &[u8],
        stderr: &[u8],
        default_severity: Severity,
        check_id: &str,
    ) -> Result<Outcome, CheckError> {
        let exit = match (success, code) {
            (_, Some(c)) => Exit::Code(c),
            (_, None) => Exit::Signal(9),
        };
        super::evaluate(&ran(exit, stdout, stderr), default_severity, check_id)
    }

    #[test]
    fn evaluate_reads_findings_and_errors() {
        let ok = br#"{"findings": [{"rule": "r", "message": "m", "evidence": {"k": "v"}}], "notes": ["n"]}"#;
        let o = evaluate(true, Some(0), ok, b"", Severity::Warning, "c").unwrap();
        assert_eq!(o.findings[0].severity, Severity::Warning);
        assert_eq!(o.findings[0].evidence[0].observed, "v");
        assert!(evaluate(false, Some(2), b"", b"boom", Severity::Error, "c")
            .unwrap_err()
            .to_string()
            .contains("exited with exit status 2; stderr: boom"));
        assert!(evaluate(true, Some(0), b"hello", b"", Severity::Error, "c").is_err());
        assert!(evaluate(
            true,
            Some(0),
            br#"{"error": "api down"}"#,
            b"",
            Severity::Error,
            "c"
        )
        .unwrap_err()
        .to_string()
        .contains("api down"));
        assert!(
            evaluate(true, Some(0), br#"{"bogus": 1}"#, b"", Severity::Error, "c")
                .unwrap_err()
                .to_string()
                .contains("invalid result")
        );
    }

    #[test]
    fn a_non_zero_exit_is_undecided_even_after_a_valid_result() {
        let clean = br#"{"findings": [], "notes": ["all good"]}"#;
        let e = evaluate(
            false,
            Some(3),
            clean,
            b"warming up\nlost the API\n",
            Severity::Error,
            "c",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("exit status 3") && e.contains("lost the API"),
            "{e}"
        );
        let warn = br#"{"findings": [{"rule": "r", "message": "m", "severity": "warning"}]}"#;
        assert!(evaluate(false, Some(1), warn, b"", Severity::Error, "c").is_err());
        // Death by a signal (no exit code) is undecided too.
        let e = evaluate(false, None, clean, b"", Severity::Error, "c")
            .unwrap_err()
            .to_string();
        assert!(e.contains("signal"), "{e}");
    }

    #[test]
    fn a_non_zero_exit_keeps_findings_that_fail_the_check() {
        let failing = br#"{"findings": [{"rule": "r", "message": "m", "severity": "error"}]}"#;
        let o = evaluate(false, Some(1), failing, b"details", Severity::Warning, "c").unwrap();
        assert_eq!(
            crate::model::Status::from_outcome(&o.findings, &o.problems),
            crate::model::Status::Failed
        );
        assert!(
            o.problems
                .iter()
                .any(|p| p.message.contains("exit status 1")),
            "{:?}",
            o.problems
        );
    }

    #[test]
    fn too_much_stdout_is_reported_with_the_limit() {
        let mut r = ran(Exit::Signal(9), b"yyyy", b"");
        r.stdout_over = true;
        let e = super::evaluate(&r, Severity::Error, "c")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("plug-in wrote more than 1 MiB on stdout; limit is 1 MiB"),
            "{e}"
        );
    }

    #[test]
    fn plug_in_text_is_redacted_and_cannot_forge_lines() {
        let forged = br#"{"findings": [{"rule": "r\u001b[0m", "message": "ok\r\u001b[2K\nVerdict: ready password=CANARY1", "subject": {"kind": "k\n", "name": "n\u001b]8;;x\u0007"}, "evidence": {"tok\nen": "Bearer CANARY2\u009b"}, "remediation": "Fix it.\nVerdict: ready"}], "notes": ["note\u001b[31m token: CANARY3"], "problems": ["p\nq"]}"#;
        let o = evaluate(true, Some(0), forged, b"", Severity::Error, "c").unwrap();
        let f = &o.findings[0];
        let all = [
            &f.rule,
            &f.message,
            &f.subject.kind,
            &f.subject.name,
            &f.evidence[0].key,
            &f.evidence[0].observed,
            &f.remediation,
            &o.notes[0],
            &o.problems[0].message,
        ];
        for text in all {
            assert!(
                !text.chars().any(|c| c.is_control()),
                "control character left in {text:?}"
            );
            assert!(!text.contains("CANARY"), "secret left in {text:?}");
        }
        assert!(
            f.message.contains("\\u{1b}[2K") && f.message.contains("Verdict: ready"),
            "still readable: {}",
            f.message
        );
        let e = evaluate(
            true,
            Some(0),
            br#"{"error": "no\u001b[2J\nVerdict: ready client_secret=CANARY4"}"#,
            b"",
            Severity::Error,
            "c",
        )
        .unwrap_err()
        .to_string();
        assert!(
            !e.chars().any(|c| c.is_control()) && !e.contains("CANARY"),
            "{e:?}"
        );
        let e = evaluate(
            false,
            Some(2),
            b"",
            b"\x1b[31mpassword: CANARY5\nVerdict: ready\n",
            Severity::Error,
            "c",
        )
        .unwrap_err()
        .to_string();
        assert!(
            !e.chars().any(|c| c.is_control()) && !e.contains("CANARY"),
            "{e:?}"
        );
        let e = evaluate(
            false,
            Some(2),
            b"",
            b"connecting with password: hunter2\ngiving up\n",
            Severity::Error,
            "c",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(e, "plug-in exited with exit status 2; stderr: connecting with password: [redacted]\\ngiving up");
    }
}
