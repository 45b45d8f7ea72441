//! `kfcheck local-run` and `kfcheck parity`: run a compiled pipeline's container steps in
//! dependency order with Docker, the way a data scientist's shell script would before migrating
//! (inputs and outputs through a mounted folder, parameters substituted), and record each step's
//! exit code, logs and output digests in `manifest.json`; then compare two such manifests.

pub mod cluster;
pub mod plan;

use crate::clients::container::{self, Spec};
use crate::clients::redact;
use crate::context::{owned, Needs, Settings};
use crate::model::{AppOutput, ExitStatus};
use plan::{Bindings, ParamSource, Plan};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

/// What `kfcheck local-run` was asked to do (the command layer fills it in from the command line).
#[derive(Debug, Clone)]
pub struct LocalRun {
    /// Compiled pipeline (KFP v2 IR YAML).
    pub pipeline: PathBuf,
    /// Folder for step inputs, outputs, logs and manifest.json (`None`: a new one under target/).
    pub workdir: Option<PathBuf>,
    /// Pipeline parameters as NAME=VALUE.
    pub params: Vec<String>,
    /// Image replacements as FROM=TO.
    pub images: Vec<String>,
    /// Pull images that are not present.
    pub pull: bool,
    pub step_timeout: Duration,
    /// Network for the containers (host, none or bridge).
    pub network: String,
    /// Run GPU steps with all GPUs.
    pub gpus: bool,
}

/// Where the run folder is mounted in every step's container.
const MOUNT: &str = "/kfcheck/data";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Output {
    /// Relative to the manifest's folder.
    pub path: String,
    pub sha256: Option<String>,
    pub bytes: u64,
    /// For parameters: the value as written (short ones only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub value: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub task: String,
    pub image: String,
    /// succeeded, failed, timed-out, errored, not-run
    pub status: String,
    pub exit_code: Option<i64>,
    pub duration_ms: u64,
    #[serde(default)]
    pub gpu_requested: bool,
    #[serde(default)]
    pub gpu_given: bool,
    pub log: Option<String>,
    pub log_tail: Option<String>,
    pub error: Option<String>,
    #[serde(default)]
    pub outputs: BTreeMap<String, Output>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema_version: u32,
    pub pipeline: String,
    pub file: String,
    pub run_id: String,
    pub started_at: String,
    /// succeeded or failed
    pub status: String,
    pub parameters: BTreeMap<String, String>,
    pub steps: Vec<StepRecord>,
}

fn sha256_file(p: &Path) -> std::io::Result<(String, u64)> {
    let bytes = std::fs::read(p)?;
    Ok((sha256_hex(&bytes), bytes.len() as u64))
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex(ring::digest::digest(&ring::digest::SHA256, bytes).as_ref())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A digest of a file, or of a folder as its sorted (relative path, file digest) pairs.
pub fn digest(p: &Path) -> std::io::Result<(String, u64)> {
    if p.is_file() {
        return sha256_file(p);
    }
    let mut entries = Vec::new();
    let mut stack = vec![p.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)?.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let (h, n) = sha256_file(&path)?;
                entries.push((
                    path.strip_prefix(p)
                        .map(|r| r.display().to_string())
                        .unwrap_or_default(),
                    h,
                    n,
                ));
            }
        }
    }
    Ok(folder_digest(entries))
}

/// A folder's digest and size from its files' (relative path, sha256, bytes): the sha256 of
/// the sorted `path<TAB>digest` lines. local-run and parity's read of a pipeline root agree on it.
fn folder_digest(mut entries: Vec<(String, String, u64)>) -> (String, u64) {
    entries.sort();
    let text: String = entries
        .iter()
        .map(|(r, h, _)| format!("{r}\t{h}\n"))
        .collect();
    (
        sha256_hex(text.as_bytes()),
        entries.iter().map(|e| e.2).sum(),
    )
}

fn usage(m: impl Into<String>) -> AppOutput {
    AppOutput {
        stderr: format!("kfcheck: local-run: {}\n", m.into()),
        exit: Some(ExitStatus::Usage),
        ..Default::default()
    }
}

/// Container names allow `[a-zA-Z0-9_.-]`.
fn safe(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
                c
            } else {
                '-'
            }
        })
        .collect()
}

pub fn run(settings: &Settings, a: &LocalRun) -> AppOutput {
    let text = match std::fs::read_to_string(&a.pipeline) {
        Ok(t) => t,
        Err(e) => return usage(format!("{}: {e}", a.pipeline.display())),
    };
    let plan = match plan::parse(&text) {
        Ok(p) => p,
        Err(e) => return usage(format!("{}: {e}", a.pipeline.display())),
    };
    let mut params: BTreeMap<String, String> = plan
        .defaults
        .iter()
        .map(|(k, v)| (k.clone(), plan::render_value(v)))
        .collect();
    for p in &a.params {
        let Some((k, v)) = p.split_once('=') else {
            return usage(format!("--param {p}: expected NAME=VALUE"));
        };
        params.insert(k.to_string(), v.to_string());
    }
    let mut images = BTreeMap::new();
    for m in &a.images {
        let Some((f, t)) = m.split_once('=') else {
            return usage(format!("--image {m}: expected FROM=TO"));
        };
        images.insert(f.to_string(), t.to_string());
    }
    if !matches!(a.network.as_str(), "host" | "none" | "bridge") {
        return usage(format!("--network {}: use host, none or bridge", a.network));
    }
    let id = crate::model::run_id::new();
    let workdir = a.workdir.clone().unwrap_or_else(|| default_workdir(&id));
    let workdir = match std::fs::create_dir_all(workdir.join("logs"))
        .and_then(|_| std::fs::canonicalize(&workdir))
    {
        Ok(w) => w,
        Err(e) => return usage(format!("cannot create {}: {e}", workdir.display())),
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return usage(format!("failed to start the async runtime: {e}")),
    };
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let result = rt.block_on(async {
        let needs = Needs::new(settings.clone());
        let docker = needs.docker().await?;
        let cancel = CancellationToken::new();
        let c = cancel.clone();
        tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                c.cancel();
            }
        });
        Ok::<_, String>(execute(&docker, &plan, &params, &images, a, &workdir, &id, &cancel).await)
    });
    let steps = match result {
        Ok(s) => s,
        Err(e) => {
            return AppOutput {
                stderr: format!("kfcheck: local-run: {e}\n"),
                exit: Some(ExitStatus::Undecided),
                ..Default::default()
            }
        }
    };
    let ok = steps.iter().all(|s| s.status == "succeeded");
    let errored = steps.iter().any(|s| s.status == "errored");
    let manifest = Manifest {
        schema_version: 1,
        pipeline: plan.name.clone(),
        file: a.pipeline.display().to_string(),
        run_id: id,
        started_at,
        status: if ok {
            "succeeded".into()
        } else {
            "failed".into()
        },
        parameters: params,
        steps,
    };
    let path = workdir.join("manifest.json");
    let json = serde_json::to_string_pretty(&manifest).unwrap_or_default();
    if let Err(e) = std::fs::write(&path, format!("{json}\n")) {
        return usage(format!("cannot write {}: {e}", path.display()));
    }
    let mut out = String::new();
    for s in &manifest.steps {
        out.push_str(&format!(
            "{:<10} {:<24} exit {:<4} {:>7.1}s{}\n",
            s.status,
            s.task,
            s.exit_code.map_or("-".to_string(), |c| c.to_string()),
            s.duration_ms as f64 / 1000.0,
            s.error
                .as_ref()
                .map(|e| format!("  {e}"))
                .unwrap_or_default()
        ));
    }
    out.push_str(&format!(
        "{}: {} (manifest {})\n",
        manifest.pipeline,
        manifest.status,
        path.display()
    ));
    let exit = if ok {
        ExitStatus::Ready
    } else if errored {
        ExitStatus::Undecided
    } else {
        ExitStatus::Failed
    };
    AppOutput {
        stdout: out,
        exit: Some(exit),
        ..Default::default()
    }
}

fn not_run(step: &plan::Step, why: &str) -> StepRecord {
    StepRecord {
        task: step.task.clone(),
        image: step.image.clone(),
        status: "not-run".into(),
        exit_code: None,
        duration_ms: 0,
        gpu_requested: step.gpu,
        gpu_given: false,
        log: None,
        log_tail: None,
        error: Some(why.into()),
        outputs: BTreeMap::new(),
    }
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site; the values are the run's context"
)]
async fn execute(
    docker: &bollard::Docker,
    plan: &Plan,
    params: &BTreeMap<String, String>,
    images: &BTreeMap<String, String>,
    a: &LocalRun,
    workdir: &Path,
    id: &str,
    cancel: &CancellationToken,
) -> Vec<StepRecord> {
    let mut records: Vec<StepRecord> = Vec::new();
    let mut out_params: BTreeMap<(String, String), String> = BTreeMap::new();
    let mut stop: Option<String> = None;
    for step in &plan.steps {
        if let Some(why) = &stop {
            records.push(not_run(step, why));
            continue;
        }
        let rec = run_step(
            docker,
            step,
            params,
            &out_params,
            images,
            a,
            workdir,
            id,
            cancel,
        )
        .await;
        for (k, o) in &rec.outputs {
            if let (Some(key), Some(v)) = (k.strip_prefix("parameters/"), &o.value) {
                out_params.insert((step.task.clone(), key.to_string()), v.clone());
            }
        }
        if rec.status != "succeeded" {
            stop = Some(format!("not run: {} {}", step.task, rec.status));
        }
        records.push(rec);
    }
    records
}

#[expect(
    clippy::too_many_arguments,
    reason = "one call site; the values are the run's context"
)]
async fn run_step(
    docker: &bollard::Docker,
    step: &plan::Step,
    params: &BTreeMap<String, String>,
    out_params: &BTreeMap<(String, String), String>,
    images: &BTreeMap<String, String>,
    a: &LocalRun,
    workdir: &Path,
    id: &str,
    cancel: &CancellationToken,
) -> StepRecord {
    let image = images
        .get(&step.image)
        .cloned()
        .unwrap_or_else(|| step.image.clone());
    let mut rec = not_run(step, "");
    rec.image = image.clone();
    rec.error = None;
    let dir = |kind: &str, name: &str| format!("{}/{kind}/{name}", safe(&step.task));
    let mut b = Bindings::default();
    for (name, src) in &step.params {
        let v = match src {
            ParamSource::Pipeline(p) => params.get(p).cloned(),
            ParamSource::Constant(c) => Some(c.clone()),
            ParamSource::TaskOutput { task, key } => {
                out_params.get(&(task.clone(), key.clone())).cloned()
            }
        };
        match v {
            Some(v) => {
                b.params.insert(name.clone(), v);
            }
            None => {
                rec.status = "errored".into();
                rec.error = Some(format!(
                    "no value for input parameter {name} (give it with --param {name}=VALUE)"
                ));
                return rec;
            }
        }
    }
    for (name, (producer, key)) in &step.artifacts {
        b.input_artifacts.insert(
            name.clone(),
            format!("{MOUNT}/{}/artifacts/{key}", safe(producer)),
        );
    }
    for name in &step.output_artifacts {
        b.output_artifacts
            .insert(name.clone(), format!("{MOUNT}/{}", dir("artifacts", name)));
    }
    for name in &step.output_params {
        b.output_params
            .insert(name.clone(), format!("{MOUNT}/{}", dir("parameters", name)));
    }
    // Parent folders exist before the step runs, as the KFP launcher makes them.
    for kind in ["artifacts", "parameters"] {
        if let Err(e) = std::fs::create_dir_all(workdir.join(safe(&step.task)).join(kind)) {
            rec.status = "errored".into();
            rec.error = Some(format!("cannot create the step's folders: {e}"));
            return rec;
        }
    }
    let subst = |words: &[String]| {
        words
            .iter()
            .map(|w| plan::substitute(w, &b))
            .collect::<Result<Vec<_>, _>>()
    };
    let (command, args) = match (subst(&step.command), subst(&step.args)) {
        (Ok(c), Ok(a)) => (c, a),
        (Err(e), _) | (_, Err(e)) => {
            rec.status = "errored".into();
            rec.error = Some(e);
            return rec;
        }
    };
    if let Err(e) = container::ensure_image(docker, &image, a.pull).await {
        rec.status = "errored".into();
        rec.error = Some(e.to_string());
        return rec;
    }
    let name = format!("kfcheck-local-{id}-{}", safe(&step.task));
    let spec = Spec {
        name: name.clone(),
        image,
        entrypoint: (!command.is_empty()).then_some(command),
        cmd: (!args.is_empty()).then_some(args),
        binds: vec![format!("{}:{MOUNT}", workdir.display())],
        network: Some(a.network.clone()),
        gpus: step.gpu && a.gpus,
        labels: owned::labels(id, "local-run"),
        ..Spec::default()
    };
    rec.gpu_given = spec.gpus;
    let ran = container::run_to_end(docker, &spec, a.step_timeout, cancel).await;
    // Removed whatever happened: nothing of a local run stays behind.
    let removed = container::remove(docker, &name).await;
    match ran {
        Ok(r) => {
            let log_rel = format!("logs/{}.log", safe(&step.task));
            let redacted = redact::redact(&r.logs);
            let _ = std::fs::write(workdir.join(&log_rel), &redacted);
            rec.log = Some(log_rel);
            rec.log_tail = Some(redact::tail(&r.logs, 20, 4000));
            rec.exit_code = r.exit_code;
            rec.duration_ms = r.duration.as_millis() as u64;
            rec.status = if r.timed_out {
                rec.error = Some(format!(
                    "killed after {}",
                    humantime::format_duration(a.step_timeout)
                ));
                "timed-out".into()
            } else if r.exit_code == Some(0) {
                "succeeded".into()
            } else {
                "failed".into()
            };
        }
        Err(e) => {
            rec.status = "errored".into();
            rec.error = Some(e.to_string());
        }
    }
    if let Err(e) = removed {
        rec.error = Some(rec.error.map_or(e.clone(), |x| format!("{x}; {e}")));
    }
    for (kind, names) in [
        ("artifacts", &step.output_artifacts),
        ("parameters", &step.output_params),
    ] {
        for n in names {
            let rel = dir(kind, n);
            let p = workdir.join(&rel);
            let (sha256, bytes) = digest(&p).map(|(h, n)| (Some(h), n)).unwrap_or((None, 0));
            let value = (kind == "parameters")
                .then(|| std::fs::read_to_string(&p).ok())
                .flatten()
                .filter(|v| v.len() <= 4096);
            if rec.status == "succeeded" && sha256.is_none() {
                rec.status = "failed".into();
                rec.error = Some(format!("output {kind}/{n} was not written"));
            }
            rec.outputs.insert(
                format!("{kind}/{n}"),
                Output {
                    path: rel,
                    sha256,
                    bytes,
                    value,
                },
            );
        }
    }
    rec
}

/// How outputs are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outputs {
    /// Two local-run manifests: the same keys, the same digests.
    Digests,
    /// A cluster run: its outputs are Argo's output parameters (text) and a KFP run's artifacts
    /// fetched from its pipeline root. Matched by name when the kind differs (a local artifact
    /// the Workflow passes as a parameter); equal when the digests are, or the texts without
    /// trailing white space.
    Text,
}

/// What the second side of a comparison is and does not carry.
#[derive(Debug, Clone)]
pub struct Scope {
    pub outputs: Outputs,
    /// Names the second side in messages.
    pub other: String,
    /// A kind of output (`parameters`) the second side does not carry: not compared.
    pub uncarried: Option<&'static str>,
    /// (task, output) pairs the second side could not read: not compared.
    pub unread: std::collections::BTreeSet<(String, String)>,
    /// Tasks the second side did not run (served from KFP's cache): not compared.
    pub cached: Vec<String>,
}

/// One difference between two manifests.
pub fn compare(expected: &Manifest, actual: &Manifest) -> Vec<String> {
    compare_with(
        expected,
        actual,
        &Scope {
            outputs: Outputs::Digests,
            other: "the second manifest".into(),
            uncarried: None,
            unread: Default::default(),
            cached: Vec::new(),
        },
    )
}

/// The differences, within what the second side carries.
pub fn compare_with(expected: &Manifest, actual: &Manifest, scope: &Scope) -> Vec<String> {
    let (outputs, other) = (scope.outputs, scope.other.as_str());
    let mut diffs = Vec::new();
    let by = |m: &Manifest| {
        m.steps
            .iter()
            .map(|s| (s.task.clone(), s.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    let (e, a) = (by(expected), by(actual));
    for (task, es) in e.iter().filter(|(t, _)| !scope.cached.contains(*t)) {
        let Some(as_) = a.get(task) else {
            diffs.push(format!("{task}: missing from {other}"));
            continue;
        };
        if es.status != as_.status || es.exit_code != as_.exit_code {
            diffs.push(format!(
                "{task}: {} (exit {}) vs {} (exit {})",
                es.status,
                es.exit_code.map_or("-".into(), |c| c.to_string()),
                as_.status,
                as_.exit_code.map_or("-".into(), |c| c.to_string())
            ));
        }
        for (k, eo) in &es.outputs {
            let kind = k.split('/').next().unwrap_or("");
            if scope.uncarried == Some(kind) || scope.unread.contains(&(task.clone(), k.clone())) {
                continue;
            }
            // Text: by name when the kind differs (an artifact passed as a parameter).
            let name = k.rsplit('/').next();
            let found = as_.outputs.get(k).or_else(|| {
                as_.outputs
                    .iter()
                    .find(|(ak, _)| outputs == Outputs::Text && ak.rsplit('/').next() == name)
                    .map(|(_, o)| o)
            });
            match found {
                None => diffs.push(format!("{task}: output {k} missing from {other}")),
                Some(ao) if ao.sha256 == eo.sha256 => {}
                Some(ao)
                    if outputs == Outputs::Text
                        && matches!((&eo.value, &ao.value), (Some(x), Some(y)) if x.trim_end() == y.trim_end()) =>
                    {}
                Some(ao) => diffs.push(format!(
                    "{task}: output {k} differs (sha256 {} vs {}, {} vs {} bytes)",
                    short(&eo.sha256),
                    short(&ao.sha256),
                    eo.bytes,
                    ao.bytes
                )),
            }
        }
    }
    for task in a.keys().filter(|t| !e.contains_key(*t)) {
        diffs.push(format!("{task}: only in {other}"));
    }
    diffs
}

fn short(h: &Option<String>) -> String {
    h.as_deref()
        .map_or("none".into(), |h| h.chars().take(12).collect())
}

/// What `kfcheck parity` compares the reference manifest with.
#[derive(Debug, Clone)]
pub enum Against {
    /// Another local-run manifest.
    Manifest(PathBuf),
    /// An Argo Workflow in the namespace (`-n`, else the kubeconfig's).
    Workflow(String),
    /// The Workflow the KFP backend made for a run (label `pipeline/runid`).
    Run(String),
}

/// Where a KFP run's artifacts are read from (its pipeline root's store).
#[derive(Debug, Clone, Default)]
pub struct StoreAccess {
    /// The store's endpoint (e.g. a port-forward to MinIO or SeaweedFS); default: from the
    /// environment, as for the storage checks.
    pub endpoint: Option<String>,
    /// A folder with `accesskey` and `secretkey` files for an S3-compatible store; default:
    /// `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, else the profile's KFP artifact Secret.
    pub s3_key_dir: Option<PathBuf>,
}

/// How long each read of the cluster may take.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(20);
/// How long each artifact's listing or download may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(120);
/// The most bytes of one artifact parity reads; a larger one is not compared.
const FETCH_LIMIT: u64 = 256 << 20;

pub fn parity(
    settings: &Settings,
    expected: &Path,
    against: &Against,
    store: &StoreAccess,
) -> AppOutput {
    let fail = |m: String, exit: ExitStatus| AppOutput {
        stderr: format!("kfcheck: parity: {m}\n"),
        exit: Some(exit),
        ..Default::default()
    };
    let load = |p: &Path| -> Result<Manifest, String> {
        let t = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
        serde_json::from_str(&t)
            .map_err(|e| format!("{}: not a local-run manifest: {e}", p.display()))
    };
    let mut e = match load(expected) {
        Ok(e) => e,
        Err(m) => return fail(m, ExitStatus::Usage),
    };
    let (a, scope, notes) = match against {
        Against::Manifest(p) => match load(p) {
            Ok(a) => (
                a,
                Scope {
                    outputs: Outputs::Digests,
                    other: "the second manifest".into(),
                    uncarried: None,
                    unread: Default::default(),
                    cached: Vec::new(),
                },
                Vec::new(),
            ),
            Err(m) => return fail(m, ExitStatus::Usage),
        },
        Against::Workflow(_) | Against::Run(_) => match read_cluster(settings, against, store) {
            Ok((r, unread)) => {
                if r.manifest.status == "running" {
                    return fail(
                        format!(
                            "{} has not finished: compare it after it ends",
                            r.manifest.file
                        ),
                        ExitStatus::Undecided,
                    );
                }
                let scope = Scope {
                    outputs: Outputs::Text,
                    other: format!("the cluster run ({})", r.manifest.file),
                    uncarried: r.uncarried,
                    unread,
                    cached: r.cached.clone(),
                };
                (r.manifest, scope, r.unread)
            }
            Err(m) => return fail(m, ExitStatus::Undecided),
        },
    };
    // Against text outputs, a small local artifact is compared by its content too.
    if scope.outputs == Outputs::Text {
        let base = expected.parent().unwrap_or(Path::new("."));
        for o in e.steps.iter_mut().flat_map(|s| s.outputs.values_mut()) {
            if o.value.is_none() && o.bytes <= 4096 {
                o.value = std::fs::read_to_string(base.join(&o.path)).ok();
            }
        }
    }
    let diffs = compare_with(&e, &a, &scope);
    let mut out = String::new();
    for d in &diffs {
        out.push_str(&format!("differs: {d}\n"));
    }
    for u in &notes {
        out.push_str(&format!("not compared: {u}\n"));
    }
    let compared: usize = e
        .steps
        .iter()
        .filter(|s| !scope.cached.contains(&s.task))
        .flat_map(|s| s.outputs.keys().map(move |k| (s.task.clone(), k.clone())))
        .filter(|(t, k)| {
            scope.uncarried != k.split('/').next()
                && !scope.unread.contains(&(t.clone(), k.clone()))
        })
        .count();
    let undecided = !scope.unread.is_empty() || !scope.cached.is_empty();
    if diffs.is_empty() && undecided {
        let mut why = Vec::new();
        if !scope.unread.is_empty() {
            why.push(format!(
                "{} output(s) could not be read",
                scope.unread.len()
            ));
        }
        if !scope.cached.is_empty() {
            why.push(format!("{} step(s) did not run", scope.cached.len()));
        }
        out.push_str(&format!(
            "parity: {} step(s) and {compared} output(s) match; {}: undecided\n",
            e.steps.len() - scope.cached.len().min(e.steps.len()),
            why.join(" and ")
        ));
    } else if diffs.is_empty() {
        out.push_str(&format!(
            "parity: {} step(s) and {compared} output(s) match{}\n",
            e.steps.len(),
            match against {
                Against::Manifest(_) => String::new(),
                _ => format!(" {}", scope.other),
            }
        ));
    } else {
        out.push_str(&format!("parity: {} difference(s)\n", diffs.len()));
    }
    AppOutput {
        stdout: out,
        exit: Some(if !diffs.is_empty() {
            ExitStatus::Failed
        } else if undecided {
            ExitStatus::Undecided
        } else {
            ExitStatus::Ready
        }),
        ..Default::default()
    }
}

/// A read of the Kubernetes API, bounded in time.
async fn within<T>(
    what: &str,
    f: impl std::future::Future<Output = Result<T, kube::Error>>,
) -> Result<T, String> {
    match tokio::time::timeout(CLUSTER_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(format!(
            "cannot read {what}: {}",
            crate::clients::errors::chain(&e)
        )),
        Err(_) => Err(format!(
            "cannot read {what}: the Kubernetes API did not answer within {}s",
            CLUSTER_TIMEOUT.as_secs()
        )),
    }
}

/// The cluster's run, read through the Kubernetes API, with its KFP artifacts fetched; and the
/// (task, output) pairs that could not be read (each with a note in `unread`).
fn read_cluster(
    settings: &Settings,
    against: &Against,
    store: &StoreAccess,
) -> Result<(cluster::Read, std::collections::BTreeSet<(String, String)>), String> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("failed to start the async runtime: {e}"))?;
    rt.block_on(async {
        let (client, _) = crate::context::kube_client::connect(settings)
            .await
            .map_err(|e| e.reason().to_string())?;
        let ns = settings
            .namespace
            .clone()
            .unwrap_or_else(|| client.default_namespace().to_string());
        let resource = crate::doors::argo::workflow_resource();
        let api: kube::Api<kube::api::DynamicObject> =
            kube::Api::namespaced_with(client.clone(), &ns, &resource);
        let wf = match against {
            Against::Workflow(name) => {
                let what = format!("Workflow {ns}/{name}");
                within(&what, api.get_opt(name))
                    .await?
                    .ok_or_else(|| format!("no {what}"))?
            }
            Against::Run(id) => {
                let what = format!("the Workflow of KFP run {id} in {ns}");
                let lp = kube::api::ListParams::default()
                    .labels(&format!("{}={id}", cluster::RUN_ID_LABEL));
                let mut list = within(&what, api.list(&lp)).await?.items;
                match list.len() {
                    0 => return Err(format!("no Workflow labelled {}={id} in namespace {ns} (a run's Workflow is in its profile's namespace: -n PROFILE; KFP deletes it with the run or after its TTL)", cluster::RUN_ID_LABEL)),
                    1 => list.remove(0),
                    n => return Err(format!("{n} Workflows are labelled {}={id} in namespace {ns}; name one with --workflow", cluster::RUN_ID_LABEL)),
                }
            }
            Against::Manifest(p) => return Err(format!("{} is a manifest, not a cluster run", p.display())),
        };
        let v = serde_json::to_value(&wf).map_err(|e| format!("unreadable Workflow: {e}"))?;
        let mut read = cluster::from_workflow(&v);
        let unread = fetch_artifacts(&client, &ns, store, &mut read).await;
        Ok((read, unread))
    })
}

/// Fills in the digests of a KFP run's artifacts from its pipeline root. What cannot be read
/// is returned, each with a note, and is not compared.
async fn fetch_artifacts(
    client: &kube::Client,
    ns: &str,
    access: &StoreAccess,
    read: &mut cluster::Read,
) -> std::collections::BTreeSet<(String, String)> {
    use crate::clients::bucket::{Provider, Store};
    let mut unread = std::collections::BTreeSet::new();
    let fetch = std::mem::take(&mut read.fetch);
    if fetch.is_empty() {
        return unread;
    }
    let mut stores: BTreeMap<&'static str, Result<Store, String>> = BTreeMap::new();
    for f in &fetch {
        let Some((provider, rest)) = Provider::of_url(&f.uri) else {
            read.unread.push(format!(
                "{}: {} at {}: a pipeline root kfcheck cannot read (gs://, s3:// or minio:// only)",
                f.task, f.key, f.uri
            ));
            unread.insert((f.task.clone(), f.key.clone()));
            continue;
        };
        let Some((bucket, object)) = rest.split_once('/') else {
            unread.insert((f.task.clone(), f.key.clone()));
            continue;
        };
        if !stores.contains_key(provider.scheme()) {
            let s = connect_store(client, ns, access, provider).await;
            stores.insert(provider.scheme(), s);
        }
        let got = match &stores[provider.scheme()] {
            Ok(store) => fetch_digest(store, bucket, object).await,
            Err(m) => Err(m.clone()),
        };
        match got {
            // Not in the store: missing from the cluster run, a difference.
            Ok(None) => {}
            Ok(Some((sha256, bytes))) => {
                if let Some(step) = read.manifest.steps.iter_mut().find(|s| s.task == f.task) {
                    step.outputs.insert(
                        f.key.clone(),
                        Output {
                            path: f.uri.clone(),
                            sha256: Some(sha256),
                            bytes,
                            value: None,
                        },
                    );
                }
            }
            Err(m) => {
                read.unread
                    .push(format!("{}: {} at {}: {m}", f.task, f.key, f.uri));
                unread.insert((f.task.clone(), f.key.clone()));
            }
        }
    }
    unread
}

/// The store a pipeline root is in, with the credentials kfcheck was given or the profile's.
async fn connect_store(
    client: &kube::Client,
    ns: &str,
    access: &StoreAccess,
    provider: crate::clients::bucket::Provider,
) -> Result<crate::clients::bucket::Store, String> {
    use crate::clients::bucket::{Provider, Store};
    use crate::clients::s3::KFP_ARTIFACT_SECRET;
    match provider {
        Provider::Gcs => {
            let mut o = crate::clients::gcs::Options::from_env();
            o.endpoint = access.endpoint.clone();
            o.no_metadata = std::env::var_os("GCE_METADATA_HOST").is_none();
            tokio::time::timeout(FETCH_TIMEOUT, crate::clients::gcs::GcsClient::connect(&o))
                .await
                .map_err(|_| "no answer while getting Google credentials".to_string())?
                .map(Store::Gcs)
                .map_err(|e| e.to_string())
        }
        Provider::S3 => {
            let mut o = crate::clients::s3::S3Options::from_env();
            if access.endpoint.is_some() {
                o.endpoint = access.endpoint.clone();
            }
            if o.endpoint.is_none() {
                return Err("no endpoint for the S3-compatible store: give --store-endpoint (e.g. a port-forward to KFP's object store) or AWS_ENDPOINT_URL_S3".into());
            }
            if let Some(d) = &access.s3_key_dir {
                o.key_dir = Some(d.clone());
            } else if o.access_key.is_none() {
                let secret = (
                    KFP_ARTIFACT_SECRET.to_string(),
                    "accesskey".to_string(),
                    "secretkey".to_string(),
                );
                let what = format!("Secret {ns}/{KFP_ARTIFACT_SECRET}");
                let read = tokio::time::timeout(
                    CLUSTER_TIMEOUT,
                    crate::context::resources::s3_keys(client, ns, &secret),
                )
                .await
                .map_err(|_| {
                    format!(
                        "cannot read {what}: the Kubernetes API did not answer within {}s",
                        CLUSTER_TIMEOUT.as_secs()
                    )
                })?
                .map_err(|e| {
                    format!("cannot read {what}: {}", crate::clients::errors::chain(&e))
                })?;
                let (access, secret) = read.map_err(|m| {
                    format!("no S3 keys: give --s3-key-dir or AWS_ACCESS_KEY_ID ({m})")
                })?;
                o.access_key = Some(access);
                o.secret_key = Some(secret);
                o.key_source = Some(what);
            }
            crate::clients::s3::S3Client::connect(&o)
                .map(Store::S3)
                .map_err(|e| e.to_string())
        }
    }
}

/// A store request, bounded in time.
async fn store_call<T>(
    f: impl std::future::Future<Output = Result<T, crate::clients::store::StoreError>>,
) -> Result<T, String> {
    tokio::time::timeout(FETCH_TIMEOUT, f)
        .await
        .map_err(|_| {
            format!(
                "no answer from the store within {}s",
                FETCH_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| e.to_string())
}

/// An artifact's digest as local-run writes it: a file's sha256, or a folder's over its sorted
/// (relative path, file digest) lines.
/// `None`: no such object or folder.
async fn fetch_digest(
    store: &crate::clients::bucket::Store,
    bucket: &str,
    object: &str,
) -> Result<Option<(String, u64)>, String> {
    let listed = store_call(store.list(bucket, object, 1000)).await?;
    let folder = format!("{object}/");
    let files: Vec<_> = if listed.iter().any(|o| o.name == object) {
        listed.into_iter().filter(|o| o.name == object).collect()
    } else {
        listed
            .into_iter()
            .filter(|o| o.name.starts_with(&folder))
            .collect()
    };
    if files.is_empty() {
        return Ok(None);
    }
    let total: u64 = files.iter().map(|o| o.size).sum();
    if total > FETCH_LIMIT {
        return Err(format!(
            "{total} bytes, more than parity reads ({} MiB)",
            FETCH_LIMIT >> 20
        ));
    }
    let mut entries = Vec::new();
    for o in &files {
        let data = store_call(store.download(bucket, &o.name)).await?;
        entries.push((
            o.name[object.len()..].trim_start_matches('/').to_string(),
            sha256_hex(&data),
            data.len() as u64,
        ));
    }
    if entries.len() == 1 && entries[0].0.is_empty() {
        let (_, h, n) = entries.remove(0);
        return Ok(Some((h, n)));
    }
    Ok(Some(folder_digest(entries)))
}

/// Where a run keeps its files when `--workdir` is not given: a new folder under the system's
/// temporary directory, never the user's working directory.
fn default_workdir(run_id: &str) -> PathBuf {
    std::env::temp_dir().join(format!("kfcheck-local-run-{run_id}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_workdir_nothing_is_written_where_the_user_stands() {
        let w = default_workdir("0123456789");
        assert!(
            w.is_absolute() && w.starts_with(std::env::temp_dir()),
            "{}",
            w.display()
        );
        assert!(w.ends_with("kfcheck-local-run-0123456789"));
    }

    fn m(outputs: &[(&str, &str)], exit: i64) -> Manifest {
        Manifest {
            schema_version: 1,
            pipeline: "p".into(),
            file: "f".into(),
            run_id: "r".into(),
            started_at: "t".into(),
            status: "succeeded".into(),
            parameters: BTreeMap::new(),
            steps: vec![StepRecord {
                task: "a".into(),
                image: "i".into(),
                status: if exit == 0 {
                    "succeeded".into()
                } else {
                    "failed".into()
                },
                exit_code: Some(exit),
                duration_ms: 1,
                gpu_requested: false,
                gpu_given: false,
                log: None,
                log_tail: None,
                error: None,
                outputs: outputs
                    .iter()
                    .map(|(k, h)| {
                        (
                            k.to_string(),
                            Output {
                                path: k.to_string(),
                                sha256: Some(h.to_string()),
                                bytes: 1,
                                value: None,
                            },
                        )
                    })
                    .collect(),
            }],
        }
    }

    #[test]
    fn parity_compares_exit_codes_and_digests() {
        assert!(compare(
            &m(&[("artifacts/x", "aa")], 0),
            &m(&[("artifacts/x", "aa")], 0)
        )
        .is_empty());
        let d = compare(
            &m(&[("artifacts/x", "aa")], 0),
            &m(&[("artifacts/x", "bb")], 1),
        );
        assert_eq!(d.len(), 2, "{d:?}");
        assert!(d[1].contains("output artifacts/x differs"));
    }

    #[test]
    fn folder_digests_are_stable() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("x/y")).unwrap();
        std::fs::write(d.path().join("x/y/a"), "1").unwrap();
        std::fs::write(d.path().join("x/b"), "2").unwrap();
        let (h1, n) = digest(&d.path().join("x")).unwrap();
        assert_eq!(n, 2);
        std::fs::write(d.path().join("x/b"), "3").unwrap();
        assert_ne!(digest(&d.path().join("x")).unwrap().0, h1);
    }
}
