//! `notebook-run`: a team's own notebook, executed cell by cell in a Jupyter kernel as a check of
//! a suite (what `kfcheck notebook run` does on the command line, the same code:
//! `doors::notebook_job`). Where it runs: a Kubeflow Notebook of the profile through kfcheck's
//! own port-forward (`notebook:`, or `in_profile: true` for the first usable one), a Jupyter
//! server at `server:` (its token from the environment variable `token_env` names, never from the
//! suite), or a local `jupyter server` kfcheck starts and stops. A cell that raises is a finding
//! naming the cell; a server that cannot be used, a kernel that dies and a deadline leave the
//! check undecided. kfcheck's kernel, and only it, is shut down by the janitor.

use super::{typed_params, CheckContext, CheckError, Effect, Kind, KindMeta, Outcome};
use crate::assets::SuiteBase;
use crate::clients::http::Secret;
use crate::context::Need;
use crate::doors::notebook_exec::{CellStatus, Limits, RunEnd};
use crate::doors::notebook_file::{from_yaml, ParamValue};
use crate::doors::notebook_job::{run_job, JobError, NotebookJob, NotebookRun};
use crate::doors::notebook_server::ServerChoice;
use crate::model::owned::Created;
use crate::model::{Evidence, Finding, FindingRule, Severity, Subject};
use futures::future::BoxFuture;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

pub struct NotebookRunKind;

static RULES: &[FindingRule] = &[FindingRule {
    id: "notebook-cell-failed",
    default_severity: Severity::Error,
    summary: "a cell of the notebook raised an error: the notebook does not run as its team expects on this platform",
    fix: "Read the cell's exception and traceback in the evidence; run the notebook in the same server (`kfcheck notebook run`) to see it whole.",
}];

static META: KindMeta = KindMeta {
    name: "notebook-run",
    needs: &[],
    effect: Effect::CreatesResources,
    creates: &[Created::Kernels],
    rules: RULES,
    default_timeout: Duration::from_secs(1800),
    what: "A team's notebook runs cell by cell, every code cell without an error, in a Jupyter kernel: a Kubeflow Notebook of the profile (through kfcheck's port-forward), a Jupyter server at a URL, or a local jupyter server kfcheck starts; with papermill's parameters injected after the cell tagged `parameters`.",
    why: "A platform is ready for a team when the team's own notebooks run on it, with its images, mounts, credentials and pipelines, not only kfcheck's samples.",
    fix: "Read the failing cell's exception in the finding, then run the notebook with `kfcheck notebook run NB.ipynb OUT.ipynb` against the same server and read OUT.ipynb.",
    params: &[
        ("path", "the notebook (.ipynb), relative to the suite"),
        ("parameters", "map of parameters, injected as a cell tagged injected-parameters after the cell tagged parameters (papermill's convention)"),
        ("notebook", "a Kubeflow Notebook of the profile (-n) to run in, through kfcheck's port-forward"),
        ("in_profile", "true: the first usable Notebook of the profile (-n), by name"),
        ("server", "a Jupyter server's base URL to run in (default, with no notebook: a local jupyter server kfcheck starts)"),
        ("token_env", "the environment variable holding the server's token (never the token itself in a suite)"),
        ("jupyter", "the jupyter program for a local server (default: jupyter from PATH)"),
        ("kernel", "the kernel to start (default: the notebook's own when the server has it, else the server's default)"),
        ("cell_timeout", "how long one cell may run, e.g. 5m (default 10m)"),
        ("keep_going", "true: run the later cells after a failing one (default false)"),
        ("output", "write the executed notebook here (relative to the suite; default: not written)"),
    ],
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Params {
    path: String,
    #[serde(default)]
    parameters: serde_yaml_ng::Mapping,
    #[serde(default)]
    notebook: Option<String>,
    #[serde(default)]
    in_profile: bool,
    #[serde(default)]
    server: Option<String>,
    #[serde(default)]
    token_env: Option<String>,
    #[serde(default)]
    jupyter: Option<String>,
    #[serde(default)]
    kernel: Option<String>,
    #[serde(default, with = "crate::doors::sample::duration")]
    cell_timeout: Option<Duration>,
    #[serde(default)]
    keep_going: bool,
    #[serde(default)]
    output: Option<String>,
}

impl Params {
    fn in_cluster(&self) -> bool {
        self.notebook.is_some() || self.in_profile
    }

    fn check(&self) -> Result<(), String> {
        if self.in_cluster() && (self.server.is_some() || self.jupyter.is_some()) {
            return Err("give one place to run: notebook/in_profile (a Kubeflow Notebook), server, or jupyter (a local server)".into());
        }
        if self.server.is_some() && self.jupyter.is_some() {
            return Err("give one place to run: server or jupyter".into());
        }
        if self.token_env.is_some() && self.jupyter.is_some() {
            return Err("token_env: a local server gets a token of kfcheck's own".into());
        }
        if let Some(s) = &self.server {
            if !(s.starts_with("http://") || s.starts_with("https://")) {
                return Err(format!("server: {s} is not an http:// or https:// URL"));
            }
        }
        if !self.path.ends_with(".ipynb") {
            return Err(format!("path: {} is not a notebook (.ipynb)", self.path));
        }
        self.params().map(|_| ())
    }

    /// The parameters in the suite, as `kfcheck notebook run -y` reads them.
    fn params(&self) -> Result<Vec<(String, ParamValue)>, String> {
        self.parameters
            .iter()
            .map(|(k, v)| match k.as_str() {
                Some(name) => Ok((name.to_string(), from_yaml(v))),
                None => Err("parameters: every name is a string".to_string()),
            })
            .collect()
    }
}

fn token_from(env: Option<&str>) -> Result<Option<Secret>, CheckError> {
    let Some(name) = env else { return Ok(None) };
    match std::env::var(name) {
        Ok(t) if !t.trim().is_empty() => Ok(Some(Secret::new(t.trim()))),
        _ => Err(CheckError::Undecided(format!(
            "token_env: the environment variable {name} is not set"
        ))),
    }
}

impl Kind for NotebookRunKind {
    fn meta(&self) -> &'static KindMeta {
        &META
    }

    fn validate(&self, params: &serde_json::Value, base: &SuiteBase) -> Result<(), String> {
        let p: Params = typed_params(params)?;
        p.check()?;
        if let SuiteBase::Dir(_) = base {
            let path = base.resolve(&p.path);
            if !path.is_file() {
                return Err(format!("path: no notebook at {}", path.display()));
            }
        }
        Ok(())
    }

    fn needs(&self, params: &serde_json::Value) -> Vec<Need> {
        match typed_params::<Params>(params) {
            Ok(p) if p.in_cluster() => vec![Need::Kube],
            _ => vec![],
        }
    }

    fn run(&'static self, cx: CheckContext) -> BoxFuture<'static, Result<Outcome, CheckError>> {
        Box::pin(async move {
            let p: Params = cx.params()?;
            p.check().map_err(CheckError::Undecided)?;
            let params = p.params().map_err(CheckError::Undecided)?;
            let server = if p.in_cluster() {
                let Some(ns) = cx.namespace() else {
                    return Err(CheckError::NotApplicable(
                        "no profile namespace: a Kubeflow Notebook is in a profile (-n PROFILE)"
                            .into(),
                    ));
                };
                ServerChoice::Kube {
                    kube: cx.kube().await?,
                    namespace: ns.to_string(),
                    notebook: p.notebook.clone(),
                    token: token_from(p.token_env.as_deref())?,
                }
            } else if let Some(url) = &p.server {
                ServerChoice::Url {
                    url: url.clone(),
                    token: token_from(p.token_env.as_deref())?,
                }
            } else {
                ServerChoice::Local {
                    jupyter: PathBuf::from(p.jupyter.clone().unwrap_or_else(|| "jupyter".into())),
                }
            };
            let output = p.output.as_deref().map(|o| cx.spec.base.resolve(o));
            if let Some(dir) = output.as_deref().and_then(std::path::Path::parent) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    CheckError::Undecided(format!("output: cannot make {}: {e}", dir.display()))
                })?;
            }
            let job = NotebookJob {
                input: cx.spec.base.resolve(&p.path),
                output,
                params,
                server,
                kernel: p.kernel.clone(),
                limits: Limits {
                    cell_timeout: p.cell_timeout.unwrap_or(Duration::from_secs(600)),
                    // The check's own timeout ends it; a margin for the cleanup.
                    run_timeout: cx.spec.timeout.saturating_sub(Duration::from_secs(15)),
                    keep_going: p.keep_going,
                },
                request_timeout: Duration::from_secs(30),
            };
            let run = run_job(&job, &cx.janitor, &cx.cancel)
                .await
                .map_err(|e| match e {
                    JobError::Usage(m) | JobError::Undecided(m) => CheckError::Undecided(m),
                })?;
            judge(&p.path, &run, cx.spec.severity)
        })
    }
}

/// The run as the check's outcome: each failed cell a finding; a run that stopped for another
/// reason (a deadline, a dead kernel, a lost server) cannot decide.
fn judge(path: &str, run: &NotebookRun, severity: Severity) -> Result<Outcome, CheckError> {
    let mut out = Outcome::default();
    let subject = Subject::new("notebook", path.to_string());
    let at = |c: &crate::doors::notebook_exec::CellReport| match c.index {
        Some(i) => format!("cell {i}"),
        None => "the injected parameters cell".into(),
    };
    let ran = run
        .cells
        .iter()
        .filter(|c| c.status == CellStatus::Ok)
        .count();
    for c in run.cells.iter().filter(|c| c.status == CellStatus::Failed) {
        let (ename, evalue, tail) = match &c.error {
            Some(e) => (
                e.ename.clone(),
                e.evalue.clone(),
                e.traceback
                    .iter()
                    .rev()
                    .take(3)
                    .rev()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" | "),
            ),
            None => (String::from("?"), String::new(), String::new()),
        };
        let mut evidence = vec![
            Evidence::new("cell", format!("{} (`{}`)", at(c), c.first_line)),
            Evidence::new("error", format!("{ename}: {evalue}")),
        ];
        if !tail.is_empty() {
            evidence.push(Evidence::new("traceback, last lines", tail));
        }
        if let Some(n) = &c.note {
            evidence.push(Evidence::new("note", n.clone()));
        }
        evidence.push(Evidence::new("ran in", run.server.clone()));
        out.findings.push(Finding::new(
            "notebook-cell-failed",
            severity,
            subject.clone(),
            RULES[0].summary,
            evidence,
            RULES[0].fix,
        ));
    }
    out.notes.extend(run.notes.iter().cloned());
    if let Some(e) = &run.write_error {
        out.notes.push(e.clone());
    }
    let stopped = |why: String| {
        Err(CheckError::Undecided(format!(
            "{path}: {why} ({ran} cell(s) ran before, in {})",
            run.server
        )))
    };
    match &run.end {
        RunEnd::Completed | RunEnd::CellFailed => {}
        RunEnd::TimedOut { run_deadline } if out.findings.is_empty() => {
            let c = run
                .stopping_cell()
                .map(at)
                .unwrap_or_else(|| "a cell".into());
            return stopped(if *run_deadline {
                format!("{c} was still running at the check's deadline; the kernel was interrupted")
            } else {
                format!("{c} ran past cell_timeout; the kernel was interrupted")
            });
        }
        RunEnd::KernelDied(m) if out.findings.is_empty() => {
            return stopped(format!("the kernel died: {m}"))
        }
        RunEnd::Lost(m) if out.findings.is_empty() => {
            return stopped(format!("the server stopped answering: {m}"))
        }
        RunEnd::Interrupted if out.findings.is_empty() => return stopped("interrupted".into()),
        _ => out
            .notes
            .push("the run stopped early after a failed cell (see the findings)".into()),
    }
    if out.findings.is_empty() {
        out.notes.push(format!(
            "{path}: {ran} code cell(s) ran without an error in {}, kernel {}",
            run.server, run.kernel
        ));
    }
    Ok(out)
}
