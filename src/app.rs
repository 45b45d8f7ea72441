//! Turns a parsed command line into work and output. Returns everything to print; only
//! `main.rs` and the live progress reporter write to the terminal.

use crate::cli::{Cli, ColorChoice, Command, FailOn, LintArgs};
use crate::context::{Needs, Settings};
use crate::kinds::{find_kind, KINDS};
use crate::model::{exit_code_for, ExitStatus, RunReport};
use crate::pipeline::rules::{find_rule, RULES};
use crate::report::{self, TableOptions};
use crate::runner::{run_checks, Event, Janitor, RunOptions, StopReason};
use crate::suite::{load_suite, select, CheckSpec, Selection, Suite, SuiteBase};
use clap::CommandFactory;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Instant, SystemTime};
use tokio_util::sync::CancellationToken;

/// What to print and how to exit.
#[derive(Debug, Default)]
pub struct AppOutput {
    pub stdout: String,
    pub stderr: String,
    pub exit: Option<ExitStatus>,
}

impl AppOutput {
    fn usage(message: impl Into<String>) -> AppOutput {
        AppOutput {
            stderr: format!("kfcheck: {}\n", message.into()),
            exit: Some(ExitStatus::Usage),
            ..Default::default()
        }
    }
}

fn color_enabled(choice: ColorChoice) -> bool {
    match choice {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
                && std::env::var("TERM").map(|t| t != "dumb").unwrap_or(true)
                && std::io::stdout().is_terminal()
        }
    }
}

fn new_run_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.write_u32(std::process::id());
    format!("{:010x}", h.finish() & 0xff_ffff_ffff)
}

/// The KFP identities given at once: more than one is a contradiction kfcheck will not settle
/// by guessing which one wins.
fn kfp_identity_conflict(k: &crate::cli::KfpArgs) -> Option<String> {
    let given = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    let given_secret = |v: &Option<crate::cli::SecretArg>| {
        v.as_ref().is_some_and(|s| !s.expose().trim().is_empty())
    };
    let named: Vec<&str> = [
        (given_secret(&k.kfp_token), "--kfp-token (or KFP_TOKEN)"),
        (k.kfp_token_file.is_some(), "--kfp-token-file"),
        (given(&k.kfp_service_account), "--kfp-service-account"),
        (given_secret(&k.kfp_cookie), "--kfp-cookie (or KFP_COOKIE)"),
        (given(&k.kfp_dex_user), "--kfp-dex-user"),
        (given(&k.kfp_user_id), "--kfp-user-id"),
    ]
    .into_iter()
    .filter_map(|(on, name)| on.then_some(name))
    .collect();
    (named.len() > 1).then(|| {
        format!(
            "conflicting KFP credentials: {} (give one identity)",
            named.join(", ")
        )
    })
}

/// Entry point for every subcommand.
pub fn run(cli: Cli) -> AppOutput {
    if let Some(conflict) = kfp_identity_conflict(&cli.global.kfp) {
        return AppOutput::usage(conflict);
    }
    match &cli.command {
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "kfcheck", &mut buf);
            AppOutput {
                stdout: String::from_utf8_lossy(&buf).into(),
                exit: Some(ExitStatus::Ready),
                ..Default::default()
            }
        }
        Command::Man => {
            let mut buf = Vec::new();
            if let Err(e) = clap_mangen::Man::new(Cli::command()).render(&mut buf) {
                return AppOutput::usage(format!("failed to render the man page: {e}"));
            }
            AppOutput {
                stdout: String::from_utf8_lossy(&buf).into(),
                exit: Some(ExitStatus::Ready),
                ..Default::default()
            }
        }
        Command::Probe(args) => crate::probe::run(args, cli.global.timeout),
        Command::LocalRun(args) => crate::local::run(&settings(&cli), args),
        Command::Parity { expected, actual } => crate::local::parity(expected, actual),
        _ => with_suite(cli),
    }
}

fn with_suite(cli: Cli) -> AppOutput {
    let suite = match load_suite(&cli.global.suite) {
        Ok(s) => s,
        Err(errors) => {
            let mut msg = format!("the check suite has {} error(s):\n", errors.len());
            for e in errors {
                msg.push_str(&format!("  {e}\n"));
            }
            return AppOutput {
                stderr: msg,
                exit: Some(ExitStatus::Usage),
                ..Default::default()
            };
        }
    };
    match &cli.command {
        Command::All => execute(&cli, &suite, Selection::All, Vec::new()),
        Command::Run { selection } => execute(
            &cli,
            &suite,
            Selection::Words(selection.clone()),
            Vec::new(),
        ),
        Command::List => list(&cli, &suite),
        Command::Explain { name } => explain(&suite, name),
        Command::Lint(args) => lint(&cli, args),
        Command::Cleanup { dry_run, run_id } => cleanup(&cli, *dry_run, run_id.as_deref()),
        Command::Completions { .. }
        | Command::Man
        | Command::Probe(_)
        | Command::LocalRun(_)
        | Command::Parity { .. } => {
            unreachable!("handled before loading the suite")
        }
    }
}

/// `kfcheck lint`: an ad-hoc `pipeline-lint` check over the given paths, through the same runner
/// and reporters as every other check.
fn lint(cli: &Cli, args: &LintArgs) -> AppOutput {
    let mut rules = serde_json::Map::new();
    for r in &args.rules {
        let Some((id, level)) = r.split_once('=') else {
            return AppOutput::usage(format!("--rule {r}: expected RULE=off|info|warning|error"));
        };
        rules.insert(id.to_string(), serde_json::Value::String(level.to_string()));
    }
    // A path that does not exist (or cannot be looked at) is bad usage (exit 2), said truly; the
    // others are still inspected.
    let looked: Vec<(&PathBuf, std::io::Result<std::fs::Metadata>)> = args
        .paths
        .iter()
        .map(|p| (p, std::fs::symlink_metadata(p)))
        .collect();
    let present: Vec<&PathBuf> = looked
        .iter()
        .filter(|(_, m)| m.is_ok())
        .map(|(p, _)| *p)
        .collect();
    let missing: Vec<String> = looked
        .iter()
        .filter_map(|(p, m)| m.as_ref().err().map(|e| (p, e)))
        .map(|(p, e)| match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!("kfcheck: {}: no such file or directory\n", p.display())
            }
            std::io::ErrorKind::PermissionDenied => {
                format!("kfcheck: {}: permission denied\n", p.display())
            }
            _ => format!("kfcheck: {}: {e}\n", p.display()),
        })
        .collect();
    if present.is_empty() {
        return AppOutput {
            stderr: missing.concat(),
            exit: Some(ExitStatus::Usage),
            ..Default::default()
        };
    }
    let mut params = serde_json::json!({
        "paths": present.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "rules": rules,
    });
    if let Some(o) = &args.owners {
        if let Err(e) = crate::clients::files::check_regular(o) {
            return AppOutput::usage(format!("--owners {}: {e}", o.display()));
        }
        params["owners"] = serde_json::Value::String(o.display().to_string());
    }
    let Some(kind) = find_kind("pipeline-lint") else {
        return AppOutput::usage("pipeline-lint kind missing");
    };
    let base = SuiteBase::Dir(PathBuf::new());
    if let Err(e) = kind.validate(&params, &base) {
        return AppOutput::usage(e);
    }
    let spec = CheckSpec {
        id: "lint".into(),
        kind,
        title: "Compiled pipelines are schedulable and pinned".into(),
        category: "pipelines".into(),
        severity: crate::model::Severity::Error,
        timeout: cli.global.timeout,
        enabled: true,
        description: None,
        params,
        base,
        origin: "command line".into(),
    };
    let mut checks = vec![spec];
    if args.cluster {
        let Some(fit) = find_kind("pipeline-fit") else {
            return AppOutput::usage("pipeline-fit kind missing");
        };
        let mut params = serde_json::json!({ "paths": checks[0].params["paths"].clone() });
        if let Some(o) = checks[0].params.get("owners") {
            params["owners"] = o.clone();
        }
        checks.push(CheckSpec {
            id: "lint-cluster-fit".into(),
            kind: fit,
            title: "Every task fits a node of the live cluster".into(),
            params,
            ..checks[0].clone()
        });
    }
    let suite = Suite { checks };
    execute(cli, &suite, Selection::All, missing)
}

/// `kfcheck cleanup`: sweeps objects labelled as kfcheck's. Exit 0 when everything found was
/// deleted (or nothing was found), 3 when something could not be listed or deleted.
fn cleanup(cli: &Cli, dry_run: bool, run_id: Option<&str>) -> AppOutput {
    let settings = settings(cli);
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return AppOutput::usage(format!("failed to start the async runtime: {e}")),
    };
    // Kubernetes objects by label, KFP objects by name; each swept when it is configured.
    let (kube, kfp) = rt.block_on(async {
        let kube = match crate::context::kube_client::connect(&settings).await {
            Ok((client, desc)) => Ok((
                desc,
                crate::cleanup::sweep(&client, run_id, dry_run).await,
                client,
            )),
            Err(e) => Err(e),
        };
        // The KFP need port-forwards through the same API (when no endpoint is given).
        let kube_client = kube
            .as_ref()
            .map(|(_, _, c)| c.clone())
            .map_err(Clone::clone);
        let kfp = match crate::context::kfp::connect(&settings, Some(kube_client)).await {
            Ok((k, desc)) => Ok((
                desc,
                crate::cleanup::sweep_kfp(&k.client, k.namespace.as_deref(), run_id, dry_run).await,
            )),
            Err(e) => Err(e),
        };
        (kube.map(|(d, r, _)| (d, r)), kfp)
    });
    use crate::context::NeedError;
    // Containers too, when a Docker engine is configured or at the default socket.
    let mut out = rt.block_on(sweep_docker(&settings, run_id, dry_run));
    let docker_swept = !out.stdout.is_empty();
    let mut swept = Vec::new();
    let mut errors = Vec::new();
    match (kube, kfp) {
        (Err(NeedError::Missing(k)), Err(NeedError::Missing(_))) => {
            if docker_swept {
                // Nothing to sweep there with this configuration: say so, it is not a failure.
                out.stderr.push_str(&format!(
                    "kfcheck: cleanup: {k}; only Docker containers were swept\n"
                ));
            } else {
                errors.push(k);
            }
        }
        (kube, kfp) => {
            for r in [kube, kfp] {
                match r {
                    Ok(x) => swept.push(x),
                    Err(NeedError::Missing(_)) => {}
                    Err(e) => errors.push(e.reason().to_string()),
                }
            }
        }
    }
    if swept.is_empty() {
        for e in &errors {
            out.stderr.push_str(&format!("kfcheck: cleanup: {e}\n"));
        }
        out.exit = Some(if errors.is_empty() && out.exit.is_none() {
            ExitStatus::Ready
        } else {
            ExitStatus::Undecided
        });
        return out;
    }
    let mut report = crate::cleanup::SweepReport::default();
    let mut descs = Vec::new();
    for (d, r) in swept {
        descs.push(d);
        report.found.extend(r.found);
        report.failed.extend(r.failed);
    }
    report.failed.extend(errors);
    let desc = descs.join(" and ");
    let verb = if dry_run { "would delete" } else { "deleted" };
    out.stdout.push_str(&format!("cleanup against {desc}\n"));
    for f in &report.found {
        out.stdout.push_str(&format!("{verb} {f}\n"));
    }
    for f in &report.failed {
        out.stderr.push_str(&format!("kfcheck: cleanup: {f}\n"));
    }
    out.stdout.push_str(&format!(
        "{} object(s) {verb}{}\n",
        report.found.len(),
        if report.failed.is_empty() {
            String::new()
        } else {
            format!(", {} failure(s)", report.failed.len())
        }
    ));
    out.exit = Some(if report.failed.is_empty() && out.exit.is_none() {
        ExitStatus::Ready
    } else {
        ExitStatus::Undecided
    });
    out
}

/// The Docker part of `kfcheck cleanup`; `exit` is set (undecided) only when something failed.
async fn sweep_docker(settings: &Settings, run_id: Option<&str>, dry_run: bool) -> AppOutput {
    let mut out = AppOutput::default();
    let needs = Needs::new(settings.clone());
    let docker = match needs.resolve(crate::context::Need::Docker).await {
        Err(crate::context::NeedError::Missing(_)) => return out,
        Err(crate::context::NeedError::Broken(m)) => {
            out.stderr.push_str(&format!("kfcheck: cleanup: {m}\n"));
            out.exit = Some(ExitStatus::Undecided);
            return out;
        }
        Ok(desc) => match needs.docker().await {
            Ok(d) => (d, desc),
            Err(m) => {
                out.stderr.push_str(&format!("kfcheck: cleanup: {m}\n"));
                out.exit = Some(ExitStatus::Undecided);
                return out;
            }
        },
    };
    let report = crate::clients::container::sweep(&docker.0, run_id, dry_run).await;
    let verb = if dry_run { "would delete" } else { "deleted" };
    out.stdout
        .push_str(&format!("cleanup against {}\n", docker.1));
    for f in &report.found {
        out.stdout.push_str(&format!("{verb} {f}\n"));
    }
    for f in &report.failed {
        out.stderr.push_str(&format!("kfcheck: cleanup: {f}\n"));
    }
    out.stdout
        .push_str(&format!("{} container(s) {verb}\n", report.found.len()));
    if !report.failed.is_empty() {
        out.exit = Some(ExitStatus::Undecided);
    }
    out
}

fn settings(cli: &Cli) -> Settings {
    let g = &cli.global;
    Settings {
        kubeconfig: g.kubeconfig.clone(),
        context: g.context.clone(),
        namespace: g.namespace.clone(),
        docker_host: g.docker_host.clone(),
        kfp: kfp_settings(&g.kfp),
        required: g.require.clone(),
        env: crate::context::Env::capture(),
    }
}

fn kfp_settings(k: &crate::cli::KfpArgs) -> crate::context::kfp::KfpSettings {
    use crate::clients::kfp::Secret;
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    let secret = |v: &Option<crate::cli::SecretArg>| {
        v.as_ref()
            .map(|s| s.expose().to_string())
            .filter(|s| !s.trim().is_empty())
            .map(Secret::new)
    };
    crate::context::kfp::KfpSettings {
        endpoint: nonempty(&k.kfp_endpoint),
        token: secret(&k.kfp_token),
        token_file: k.kfp_token_file.clone(),
        cookie: secret(&k.kfp_cookie),
        user_id: nonempty(&k.kfp_user_id),
        dex_user: nonempty(&k.kfp_dex_user),
        dex_password: secret(&k.kfp_dex_password),
        service_account: nonempty(&k.kfp_service_account),
        namespace: nonempty(&k.kfp_namespace),
        isolation_token: secret(&k.kfp_isolation_token),
        insecure_skip_tls_verify: k.insecure_skip_tls_verify,
        request_timeout: Some(k.kfp_request_timeout),
        service: Some(k.kfp_service.clone()),
        no_port_forward: k.no_kfp_port_forward,
    }
}

fn execute(cli: &Cli, suite: &Suite, selection: Selection, usage_errors: Vec<String>) -> AppOutput {
    let g = &cli.global;
    let (picked, unmatched) = select(suite, &selection);
    let mut out = AppOutput::default();
    for w in &unmatched {
        out.stderr.push_str(&format!(
            "kfcheck: no check or category named '{w}' (see `kfcheck list`)\n"
        ));
    }
    let checks: Vec<CheckSpec> = picked.into_iter().cloned().collect();
    let mut settings = settings(cli);
    // `lint --cluster` asked for the cluster: not finding one is an error, not a skip.
    if matches!(&cli.command, Command::Lint(a) if a.cluster)
        && !settings.required.contains(&crate::context::Need::Kube)
    {
        settings.required.push(crate::context::Need::Kube);
    }
    let run_id: Arc<str> = new_run_id().into();
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let started = Instant::now();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return AppOutput::usage(format!("failed to start the async runtime: {e}")),
    };
    let progress =
        crate::report::progress::Progress::new(!g.quiet && std::io::stderr().is_terminal());
    let on_event: Arc<dyn Fn(&Event) + Send + Sync> = {
        let p = progress.clone();
        Arc::new(move |e: &Event| p.event(e))
    };
    let janitor = Janitor::default();
    let (results, needs, stop) = rt.block_on(async {
        let cancel = CancellationToken::new();
        let (c, j) = (cancel.clone(), janitor.clone());
        tokio::spawn(async move {
            // The first SIGINT, SIGTERM or SIGHUP (Ctrl-C, a cancelled CI job, `timeout`, a pod
            // or Job being terminated) stops the checks and cleans up in a hurry; a second one
            // abandons what cleanup is left (it is listed for `kfcheck cleanup --run-id`).
            let Some(mut signals) = ShutdownSignals::new() else {
                return;
            };
            signals.next().await;
            j.hurry();
            c.cancel();
            signals.next().await;
            j.abandon();
        });
        let opts = RunOptions {
            concurrency: g.concurrency as usize,
            deadline: g.timeout,
        };
        run_checks(
            checks,
            Arc::new(Needs::new(settings)),
            janitor.clone(),
            opts,
            cancel,
            run_id.clone(),
            on_event,
        )
        .await
    });
    progress.finish();
    let report = RunReport {
        run_id: run_id.to_string(),
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        interrupted: stop == StopReason::Interrupted,
        needs,
        results,
    };
    let mut exit = exit_code_for(&report, g.fail_on == FailOn::Warning);
    // A selection word that matched nothing is a typo a CI gate must not swallow; when nothing at
    // all was selected the run says so with its own code.
    // (`run nosuch` is a typo too: 2, like the README says; 4 is for a selection of real names
    // that are all disabled, or an empty suite.)
    if exit != ExitStatus::Interrupted && (!unmatched.is_empty() || !usage_errors.is_empty()) {
        exit = ExitStatus::Usage;
    }
    for e in usage_errors {
        out.stderr.push_str(&e);
    }
    if stop == StopReason::Deadline {
        out.stderr.push_str(&format!(
            "kfcheck: run deadline of {} reached\n",
            humantime::format_duration(g.timeout)
        ));
    }
    let table = TableOptions {
        color: color_enabled(g.color),
        by_owner: g.by_owner,
        quiet: g.quiet,
        verbose: g.verbose > 0,
        width: std::env::var("COLUMNS").ok().and_then(|c| c.parse().ok()),
    };
    out.stdout = report::render(g.output, &report, exit, &table);
    let plain = TableOptions {
        color: false,
        ..table.clone()
    };
    for (format, path) in &g.report {
        let text = report::render(*format, &report, exit, &plain);
        if let Err(e) = report::write_report(path, &text) {
            out.stderr.push_str(&format!(
                "kfcheck: cannot write {} report to {}: {e}\n",
                format_name(*format),
                path.display()
            ));
            if exit == ExitStatus::Ready {
                exit = ExitStatus::Usage;
            }
        }
    }
    out.exit = Some(exit);
    out
}

/// SIGINT, SIGTERM and SIGHUP, listened to from start-up for the whole run.
struct ShutdownSignals([tokio::signal::unix::Signal; 3]);

impl ShutdownSignals {
    fn new() -> Option<ShutdownSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        Some(ShutdownSignals([
            signal(SignalKind::interrupt()).ok()?,
            signal(SignalKind::terminate()).ok()?,
            signal(SignalKind::hangup()).ok()?,
        ]))
    }

    /// The next of the three to arrive.
    async fn next(&mut self) {
        let [int, term, hup] = &mut self.0;
        tokio::select! {
            _ = int.recv() => {}
            _ = term.recv() => {}
            _ = hup.recv() => {}
        }
    }
}

fn format_name(f: report::Format) -> &'static str {
    match f {
        report::Format::Table => "table",
        report::Format::Json => "json",
        report::Format::Junit => "junit",
    }
}

fn list(cli: &Cli, suite: &Suite) -> AppOutput {
    let rows: Vec<serde_json::Value> = suite
        .checks
        .iter()
        .map(|c| {
            serde_json::json!({
                "id": c.id, "category": c.category, "kind": c.kind.meta().name, "title": c.title,
                "enabled": c.enabled, "needs": c.kind.meta().needs.iter().map(|n| n.name()).collect::<Vec<_>>(),
                "origin": c.origin,
            })
        })
        .collect();
    let stdout = match cli.global.output {
        report::Format::Json => serde_json::to_string_pretty(&rows).unwrap_or_default() + "\n",
        _ => {
            let mut t = comfy_table::Table::new();
            t.load_preset(comfy_table::presets::NOTHING);
            t.set_header(vec!["ID", "CATEGORY", "KIND", "NEEDS", "ENABLED", "TITLE"]);
            for c in &suite.checks {
                let needs: Vec<&str> = c.kind.meta().needs.iter().map(|n| n.name()).collect();
                t.add_row(vec![
                    c.id.clone(),
                    c.category.clone(),
                    c.kind.meta().name.to_string(),
                    if needs.is_empty() {
                        "-".into()
                    } else {
                        needs.join(",")
                    },
                    if c.enabled { "yes".into() } else { "no".into() },
                    c.title.clone(),
                ]);
            }
            t.to_string() + "\n"
        }
    };
    AppOutput {
        stdout,
        exit: Some(if suite.checks.is_empty() {
            ExitStatus::NothingSelected
        } else {
            ExitStatus::Ready
        }),
        ..Default::default()
    }
}

fn explain_kind(out: &mut String, kind: crate::kinds::KindRef) {
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
            crate::kinds::Effect::ReadOnly => "read-only",
            crate::kinds::Effect::CreatesResources =>
                "creates resources (labelled, removed after the check)",
        },
        humantime::format_duration(m.default_timeout)
    ));
    if !m.params.is_empty() {
        out.push_str("\nParameters:\n");
        for (p, d) in m.params {
            out.push_str(&format!("  {p}: {d}\n"));
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

fn explain(suite: &Suite, name: &str) -> AppOutput {
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
    } else {
        let kinds: Vec<&str> = KINDS.iter().map(|k| k.meta().name).collect();
        return AppOutput::usage(format!(
            "no check, kind or rule named '{name}' (checks: `kfcheck list`; kinds: {})",
            kinds.join(", ")
        ));
    }
    AppOutput {
        stdout: out,
        exit: Some(ExitStatus::Ready),
        ..Default::default()
    }
}
