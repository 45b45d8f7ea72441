//! `kfcheck all` and `kfcheck run ID|CATEGORY...` (and the run behind `kfcheck lint`): select
//! checks, run them through the runner with Ctrl-C handling, and hand the run to the reporters
//! (live progress, stdout, `--report` files), only through the `Reporter` trait.

use super::shared::settings;
use crate::cli::{ColorChoice, FailOn, Global};
use crate::context::{Need, Needs};
use crate::model::{exit_code_for, AppOutput, DoorRun, Event, ExitStatus, RunReport};
use crate::report::{Progress, Pushed, Rendered, Reporter, TableOptions};
use crate::runner::{run_checks, Janitor, RunOptions, StopReason};
use crate::suite::{select, CheckSpec, Selection, Suite};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime};
use tokio_util::sync::CancellationToken;

/// `kfcheck all` (`Selection::All`) and `kfcheck run WORDS...`.
pub(crate) fn run(g: &Global, suite: &Suite, selection: Selection) -> AppOutput {
    execute(g, suite, selection, Vec::new(), false)
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

/// The reporters of one run, in the order they finish: the live progress bar (cleared first),
/// the report on stdout, then each `--report` file (uncoloured).
fn reporters(g: &Global) -> Vec<Box<dyn Reporter>> {
    let table = TableOptions {
        color: color_enabled(g.color),
        by_owner: g.by_owner,
        quiet: g.quiet,
        verbose: g.verbose > 0,
        width: super::shared::terminal_width(),
        history: g.history.clone(),
        junit_per_file: g.junit_per_file,
    };
    let plain = TableOptions {
        color: false,
        ..table.clone()
    };
    let mut all: Vec<Box<dyn Reporter>> = vec![
        Box::new(Progress::new(!g.quiet && std::io::stderr().is_terminal())),
        Box::new(Rendered::stdout(g.output, table)),
    ];
    for (format, path) in &g.report {
        all.push(Box::new(Rendered::file(
            *format,
            path.clone(),
            plain.clone(),
        )));
    }
    // An empty value (a CronJob's optional setting left blank) is no push.
    if let Some(url) = g.push_gateway.as_ref().filter(|u| !u.trim().is_empty()) {
        all.push(Box::new(Pushed::new(url.clone())));
    }
    all
}

/// The reporters, shared with the runner's tasks; a reporter that panicked leaves the others
/// usable.
fn lock(r: &Mutex<Vec<Box<dyn Reporter>>>) -> MutexGuard<'_, Vec<Box<dyn Reporter>>> {
    r.lock().unwrap_or_else(|e| e.into_inner())
}

/// Runs the checks of `suite` that `selection` picks. `usage_errors` (already worded) make the
/// exit 2 after the run; `require_kube` turns a missing cluster into an error (`lint --cluster`).
pub(crate) fn execute(
    g: &Global,
    suite: &Suite,
    selection: Selection,
    usage_errors: Vec<String>,
    require_kube: bool,
) -> AppOutput {
    let (picked, unmatched) = select(suite, &selection);
    let mut out = AppOutput::default();
    for w in &unmatched {
        let names = suite.checks.iter().flat_map(|c| {
            [c.id.as_str(), c.category.as_str()]
                .into_iter()
                .chain(c.also_in.iter().map(String::as_str))
        });
        let hint = match crate::suite::did_you_mean(w, names) {
            Some(m) => format!("did you mean '{m}'? "),
            None => String::new(),
        };
        out.stderr.push_str(&format!(
            "kfcheck: no check or category named '{w}' ({hint}see `kfcheck list`)\n"
        ));
    }
    let checks: Vec<CheckSpec> = picked.into_iter().cloned().collect();
    let doors: Vec<DoorRun> = checks
        .iter()
        .filter_map(|c| {
            let (door, mode) = c.kind.sample_door(&c.params)?;
            Some(DoorRun {
                check: c.id.clone(),
                door,
                mode,
            })
        })
        .collect();
    let mut settings = settings(g);
    // `lint --cluster` asked for the cluster: not finding one is an error, not a skip.
    if require_kube && !settings.required.contains(&Need::Kube) {
        settings.required.push(Need::Kube);
    }
    let run_id: Arc<str> = crate::model::run_id::new().into();
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let started = Instant::now();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return AppOutput::usage(format!("failed to start the async runtime: {e}")),
    };
    let reporters = Arc::new(Mutex::new(reporters(g)));
    let on_event: Arc<dyn Fn(&Event) + Send + Sync> = {
        let r = reporters.clone();
        Arc::new(move |e: &Event| {
            for reporter in lock(&r).iter_mut() {
                reporter.on_event(e);
            }
        })
    };
    let janitor = Janitor::default();
    let shared_needs = Arc::new(Needs::new(settings));
    let (results, needs, stop) = rt.block_on(async {
        let cancel = CancellationToken::new();
        super::signals::stop_on_signals(cancel.clone(), janitor.clone());
        let opts = RunOptions {
            concurrency: g.concurrency as usize,
            deadline: g.timeout,
        };
        run_checks(
            checks,
            shared_needs.clone(),
            janitor.clone(),
            opts,
            cancel,
            run_id.clone(),
            on_event,
        )
        .await
    });
    let report = RunReport {
        run_id: run_id.to_string(),
        cluster: shared_needs.cluster_identity(),
        started_at,
        duration_ms: started.elapsed().as_millis() as u64,
        interrupted: stop == StopReason::Interrupted,
        needs,
        results,
        doors,
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
    if exit != ExitStatus::Interrupted && exit != ExitStatus::Usage {
        super::history::gate(g, &report, &mut exit, &mut out.stderr);
    }
    if let (Some(path), false) = (&g.bundle, exit == ExitStatus::Ready) {
        let client = shared_needs.kube_if_reached();
        match rt.block_on(super::bundle::write_bundle(path, &report, exit, client)) {
            Ok(n) => out.stderr.push_str(&format!(
                "kfcheck: support bundle {} ({n} files; index.json says what each is)\n",
                path.display()
            )),
            Err(e) => out.stderr.push_str(&format!("kfcheck: --bundle: {e}\n")),
        }
    }
    for reporter in lock(&reporters).iter_mut() {
        if let Err(e) = reporter.finish(&report, exit, &mut out.stdout) {
            out.stderr.push_str(&format!("kfcheck: {e}\n"));
            // A report nobody received must not exit as if the run were read.
            if exit == ExitStatus::Ready {
                exit = ExitStatus::Usage;
            }
        }
    }
    super::history::keep(g, &report, &mut exit, &mut out.stderr);
    out.exit = Some(exit);
    out
}
