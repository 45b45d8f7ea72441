//! `kfcheck notebook run` against a real jupyter_server and ipykernel (.venv-notebook, built by
//! `scripts/python-env notebook`): the local server kfcheck starts and stops itself, and a
//! server started here (`--server`, with a user's kernel of its own that must survive). The
//! executed notebooks are checked with the real `nbformat` validator. Fixtures are small
//! notebooks of our own in tests/fixtures/notebooks/.

mod common;
use common::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

const TOKEN: &str = "nb-run-test-token-5c1e";

fn venv_bin() -> Option<PathBuf> {
    let bin = repo().join(".venv-notebook/bin");
    if bin.join("jupyter").is_file() {
        return Some(bin);
    }
    unavailable(
        "no .venv-notebook (scripts/python-env notebook builds it)".to_string(),
        "no .venv-notebook for the notebook run tests".to_string(),
    )
}

fn fixture(name: &str) -> PathBuf {
    repo().join("tests/fixtures/notebooks").join(name)
}

/// kfcheck with the venv's `jupyter` first on PATH, in `dir`.
fn nb_run(dir: &Path, bin: &Path, args: &[&str]) -> Output {
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    kfcheck_command(dir)
        .env("PATH", path)
        .env_remove("JUPYTER_TOKEN")
        .args(["notebook", "run"])
        .args(args)
        .output()
        .unwrap()
}

/// The executed notebook, validated by the real nbformat; returned as JSON.
fn validated(bin: &Path, path: &Path) -> Value {
    let o = Command::new(bin.join("python"))
        .args([
            "-W",
            "error",
            "-c",
            "import sys, nbformat; nbformat.validate(nbformat.read(sys.argv[1], as_version=4)); print('valid')",
        ])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        o.status.success() && stdout(&o).contains("valid"),
        "nbformat refuses {}: {}",
        path.display(),
        stderr(&o)
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn text_of(outputs: &Value) -> String {
    outputs
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            o.get("text")
                .or_else(|| o.pointer("/data/text~1plain"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

/// A Jupyter server started here, with a token, at the root.
fn server(_bin: &Path) -> common::jupyter::JupyterServer {
    let s = common::jupyter::start("/", TOKEN, &[]).expect("the venv was found above");
    let until = Instant::now() + Duration::from_secs(60);
    while kernels(&s.url).is_none() {
        assert!(Instant::now() < until, "jupyter server did not start");
        std::thread::sleep(Duration::from_millis(200));
    }
    s
}

fn curl(url: &str, method: &str, path: &str) -> Option<String> {
    let o = Command::new("curl")
        .args(["-sf", "-X", method, "-H"])
        .arg(format!("Authorization: token {TOKEN}"))
        .arg(format!("{url}{path}"))
        .output()
        .ok()?;
    o.status.success().then(|| stdout(&o))
}

/// The ids of the server's kernels.
fn kernels(url: &str) -> Option<Vec<String>> {
    let v: Value = serde_json::from_str(&curl(url, "GET", "api/kernels")?).ok()?;
    Some(
        v.as_array()?
            .iter()
            .filter_map(|k| k["id"].as_str().map(String::from))
            .collect(),
    )
}

#[test]
fn parameters_are_injected_and_the_executed_notebook_validates() {
    let Some(bin) = venv_bin() else { return };
    let d = tempfile::tempdir().unwrap();
    let input = fixture("forecast_params.ipynb");
    let before = std::fs::read(&input).unwrap();
    let out = d.path().join("forecast.out.ipynb");
    let o = nb_run(
        d.path(),
        &bin,
        &[
            input.to_str().unwrap(),
            out.to_str().unwrap(),
            "-p",
            "factor",
            "2",
            "-p",
            "region",
            "south",
            "-o",
            "json",
        ],
    );
    assert_eq!(code(&o), 0, "{}{}", stdout(&o), stderr(&o));
    let doc = json(&o);
    assert_eq!(doc["status"], "ready");
    assert_eq!(doc["server"]["mode"], "local");
    assert_eq!(doc["parameters"]["factor"], 2);
    assert_eq!(
        std::fs::read(&input).unwrap(),
        before,
        "the input is never written"
    );
    // The local server is gone, its port closed, its root removed.
    let shown = doc["server"]["shown"].as_str().unwrap().to_string();
    let port: u16 = shown
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|s| s.split('/').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {shown}"));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens on {port} after the run"
    );
    let root = shown
        .split("root ")
        .nth(1)
        .unwrap()
        .split(')')
        .next()
        .unwrap();
    assert!(!Path::new(root).exists(), "{root} removed");
    assert!(
        doc["notes"].as_array().unwrap().iter().any(|n| n
            .as_str()
            .unwrap()
            .contains("shut down the local Jupyter server")),
        "{doc:#}"
    );

    let nb = validated(&bin, &out);
    let cells = nb["cells"].as_array().unwrap();
    let tags = |c: &Value| c["metadata"]["tags"].clone();
    assert_eq!(tags(&cells[1]), serde_json::json!(["parameters"]));
    assert_eq!(tags(&cells[2]), serde_json::json!(["injected-parameters"]));
    assert_eq!(
        cells[2]["source"],
        "# Parameters\nfactor = 2\nregion = \"south\"\n"
    );
    assert!(
        cells[2]["id"].is_string(),
        "4.5: the injected cell has an id"
    );
    // Markdown and raw cells are left as they were (attachments, ids), not run.
    assert_eq!(cells[0]["id"], "intro");
    assert!(cells[0]["attachments"]["dot.png"]["image/png"].is_string());
    assert_eq!(cells[3]["cell_type"], "raw");
    assert!(cells[3].get("outputs").is_none());
    // The parameters' effect; the stale output is replaced; counts set; metadata kept.
    assert_eq!(cells[4]["id"], "scale");
    assert_eq!(text_of(&cells[4]["outputs"]), "south: [20, 40, 60]\n");
    assert_eq!(cells[4]["execution_count"], 3);
    // `%magic` and `!shell` run as the kernel runs them.
    let total = text_of(&cells[5]["outputs"]);
    assert!(
        total.contains("Wall time") && total.contains("shell-says-hi"),
        "{total}"
    );
    assert!(total.contains("120"), "{total}");
    assert_eq!(nb["metadata"]["team"]["owner"], "forecasting");
    assert_eq!(nb["metadata"]["kfcheck"]["parameters"]["region"], "south");

    // The table names every cell, the injected one marked.
    let o = nb_run(
        d.path(),
        &bin,
        &[input.to_str().unwrap(), "-p", "weeks", "2"],
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let t = stdout(&o);
    assert!(t.contains("(injected) # Parameters"), "{t}");
    assert!(t.contains("parameters weeks = 2"), "{t}");
    assert!(t.contains("Result: passed: 5 of 5 code cell(s)"), "{t}");
}

#[test]
fn a_failing_cell_stops_the_run_and_a_users_kernel_survives() {
    let Some(bin) = venv_bin() else { return };
    let s = server(&bin);
    let theirs: Value =
        serde_json::from_str(&curl(&s.url, "POST", "api/kernels").unwrap()).unwrap();
    let theirs = theirs["id"].as_str().unwrap().to_string();
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("stock.out.ipynb");
    let args = |extra: &[&str]| {
        let mut a = vec![
            fixture("stock_check.ipynb").display().to_string(),
            out.display().to_string(),
            "--server".into(),
            s.url.clone(),
            "--token".into(),
            TOKEN.into(),
            "-o".into(),
            "json".into(),
        ];
        a.extend(extra.iter().map(|x| x.to_string()));
        a
    };
    let a = args(&[]);
    let o = nb_run(
        d.path(),
        &bin,
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(!stdout(&o).contains(TOKEN) && !stderr(&o).contains(TOKEN));
    let doc = json(&o);
    assert_eq!(doc["server"]["mode"], "server");
    assert_eq!(doc["stopped_at"]["index"], 2);
    assert_eq!(doc["stopped_at"]["error"]["ename"], "ValueError");
    assert_eq!(doc["stopped_at"]["error"]["evalue"], "no stock of pears");
    let statuses: Vec<&str> = doc["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["skipped", "ok", "failed", "not-run"]);
    // The output notebook is written on failure too; 4.2 gets no ids.
    let nb = validated(&bin, &out);
    let cells = nb["cells"].as_array().unwrap();
    assert!(cells.iter().all(|c| c.get("id").is_none()));
    assert_eq!(cells[2]["outputs"][0]["output_type"], "error");
    assert_eq!(cells[3]["outputs"], serde_json::json!([]));
    assert!(cells[3]["execution_count"].is_null());
    // Only kfcheck's kernel is gone.
    assert_eq!(kernels(&s.url).unwrap(), vec![theirs.clone()]);

    // --keep-going runs the rest and still exits 1.
    let a = args(&["--keep-going"]);
    let o = nb_run(
        d.path(),
        &bin,
        &a.iter().map(String::as_str).collect::<Vec<_>>(),
    );
    assert_eq!(code(&o), 1, "{}", stderr(&o));
    let doc = json(&o);
    assert_eq!(doc["cells"][3]["status"], "ok");
    let nb = validated(&bin, &out);
    assert_eq!(text_of(&nb["cells"][3]["outputs"]), "after the failure\n");
    assert_eq!(kernels(&s.url).unwrap(), vec![theirs]);
}

#[test]
fn a_cell_past_its_deadline_is_interrupted_and_its_kernel_shut_down() {
    let Some(bin) = venv_bin() else { return };
    let s = server(&bin);
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("slow.out.ipynb");
    let t = Instant::now();
    let o = nb_run(
        d.path(),
        &bin,
        &[
            fixture("slow_cell.ipynb").to_str().unwrap(),
            out.to_str().unwrap(),
            "--server",
            &s.url,
            "--token",
            TOKEN,
            "--cell-timeout",
            "3s",
            "-o",
            "json",
        ],
    );
    assert_eq!(code(&o), 3, "{}{}", stdout(&o), stderr(&o));
    assert!(t.elapsed() < Duration::from_secs(60), "{:?}", t.elapsed());
    let doc = json(&o);
    assert_eq!(doc["stopped_at"]["index"], 1);
    assert_eq!(doc["stopped_at"]["status"], "timed-out");
    assert!(
        doc["stopped_at"]["note"]
            .as_str()
            .unwrap()
            .contains("past its deadline (3s)"),
        "{doc:#}"
    );
    assert_eq!(doc["cells"][2]["status"], "not-run");
    // The kernel kfcheck started is gone: from the server and as a process.
    assert_eq!(kernels(&s.url).unwrap(), Vec::<String>::new());
    let nb = validated(&bin, &out);
    let pid = text_of(&nb["cells"][0]["outputs"])
        .trim()
        .rsplit(' ')
        .next()
        .unwrap()
        .to_string();
    let until = Instant::now() + Duration::from_secs(20);
    while alive(&pid) {
        assert!(Instant::now() < until, "kernel process {pid} still alive");
        std::thread::sleep(Duration::from_millis(200));
    }

    // The whole run's deadline (global --timeout) interrupts the cell as well.
    let o = nb_run(
        d.path(),
        &bin,
        &[
            fixture("slow_cell.ipynb").to_str().unwrap(),
            "--server",
            &s.url,
            "--token",
            TOKEN,
            "--timeout",
            "4s",
        ],
    );
    assert_eq!(code(&o), 3, "{}{}", stdout(&o), stderr(&o));
    assert!(
        stdout(&o).contains("the run's deadline (4s) passed"),
        "{}",
        stdout(&o)
    );
    assert_eq!(kernels(&s.url).unwrap(), Vec::<String>::new());
}

#[test]
fn input_fails_at_once_and_ids_are_created_for_4_5() {
    let Some(bin) = venv_bin() else { return };
    let s = server(&bin);
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("input.out.ipynb");
    let t = Instant::now();
    let o = nb_run(
        d.path(),
        &bin,
        &[
            fixture("asks_input.ipynb").to_str().unwrap(),
            out.to_str().unwrap(),
            "--server",
            &s.url,
            "--token",
            TOKEN,
        ],
    );
    assert_eq!(code(&o), 1, "{}{}", stdout(&o), stderr(&o));
    assert!(t.elapsed() < Duration::from_secs(30));
    let table = stdout(&o);
    assert!(
        table.contains("Cell 0 failed: StdinNotImplementedError"),
        "{table}"
    );
    assert!(
        table.contains("kfcheck offers the kernel no stdin"),
        "{table}"
    );
    let nb = validated(&bin, &out);
    let ids: Vec<&str> = nb["cells"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2);
    assert_ne!(ids[0], ids[1]);
}

#[test]
fn malformed_notebooks_are_bad_usage_and_left_untouched() {
    let d = tempfile::tempdir().unwrap();
    let bad_source = write(
        d.path(),
        "bad_source.ipynb",
        r#"{"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [{"cell_type": "code", "metadata": {}, "source": 42, "outputs": []}]}"#,
    );
    let no_cells = write(
        d.path(),
        "no_cells.ipynb",
        r#"{"nbformat": 4, "nbformat_minor": 5, "metadata": {}}"#,
    );
    for (file, says) in [
        (fixture("broken.ipynb"), "not JSON (line 2"),
        (fixture("old_format.ipynb"), "nbformat 3 is not supported"),
        (
            bad_source,
            "cell 0: `source` is neither a string nor a list of strings",
        ),
        (no_cells, "it has no `cells`"),
    ] {
        let before = std::fs::read(&file).unwrap();
        let out = d.path().join("never.ipynb");
        // No server is needed to refuse it: nothing is started.
        let o = kfcheck_in(
            d.path(),
            &[
                "notebook",
                "run",
                file.to_str().unwrap(),
                out.to_str().unwrap(),
                "--jupyter",
                "/nonexistent/jupyter",
            ],
        );
        assert_eq!(code(&o), 2, "{}: {}", file.display(), stderr(&o));
        let e = stderr(&o);
        assert!(
            e.contains(file.to_str().unwrap()) && e.contains(says),
            "{e}"
        );
        assert_eq!(std::fs::read(&file).unwrap(), before);
        assert!(!out.exists());
    }
    // The input as the output, a parameter that is not a Python name: bad usage.
    let nb = fixture("stock_check.ipynb");
    let o = kfcheck_in(
        d.path(),
        &[
            "notebook",
            "run",
            nb.to_str().unwrap(),
            nb.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("kfcheck never writes the input"),
        "{}",
        stderr(&o)
    );
    let o = kfcheck_in(
        d.path(),
        &[
            "notebook",
            "run",
            nb.to_str().unwrap(),
            "-p",
            "not-a-name",
            "1",
        ],
    );
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("`not-a-name` is not a Python name"),
        "{}",
        stderr(&o)
    );
    let o = kfcheck_in(
        d.path(),
        &["notebook", "run", nb.to_str().unwrap(), "-o", "junit"],
    );
    assert_eq!(code(&o), 2);
}

#[test]
fn no_server_is_undecided_and_the_token_never_shows() {
    let d = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nb = fixture("stock_check.ipynb");
    let url = format!("http://127.0.0.1:{port}/");
    let o = kfcheck_command(d.path())
        .env("JUPYTER_TOKEN", "CANARY-jupyter-token")
        .args(["notebook", "run", nb.to_str().unwrap(), "--server", &url])
        .output()
        .unwrap();
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot reach the Jupyter server"),
        "{}",
        stderr(&o)
    );
    assert!(!format!("{}{}", stdout(&o), stderr(&o)).contains("CANARY"));
    // No jupyter to start a local server with: could not decide, and said why.
    let o = kfcheck_in(
        d.path(),
        &[
            "notebook",
            "run",
            nb.to_str().unwrap(),
            "--jupyter",
            "/nonexistent/jupyter",
        ],
    );
    assert_eq!(code(&o), 3, "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot start `/nonexistent/jupyter server`"),
        "{}",
        stderr(&o)
    );
}

/// The `notebook-run` check kind in a suite: a team's notebook in a local server kfcheck starts
/// (parameters from the suite, the executed copy written beside it), and another against a
/// running server with its token from the environment, whose failing cell is a finding; a
/// user's kernel there survives, and no token is printed.
#[test]
fn the_notebook_run_kind_runs_a_teams_notebooks_in_a_suite() {
    let Some(bin) = venv_bin() else { return };
    let s = server(&bin);
    let theirs: Value =
        serde_json::from_str(&curl(&s.url, "POST", "api/kernels").unwrap()).unwrap();
    let theirs = theirs["id"].as_str().unwrap().to_string();
    let d = tempfile::tempdir().unwrap();
    let suite = d.path().join("suite");
    for f in ["forecast_params.ipynb", "stock_check.ipynb"] {
        let text = std::fs::read_to_string(fixture(f)).unwrap();
        write(&suite, &format!("notebooks/{f}"), &text);
    }
    write(
        &suite,
        "nb-forecast.yaml",
        "id: nb-forecast\nkind: notebook-run\ntitle: the forecast notebook runs\ncategory: team-notebooks\nparams:\n  path: notebooks/forecast_params.ipynb\n  parameters: {factor: 2, weeks: 2, region: south}\n  output: out/forecast.out.ipynb\n",
    );
    write(
        &suite,
        "nb-stock.yaml",
        &format!("id: nb-stock\nkind: notebook-run\ntitle: the stock notebook runs\ncategory: team-notebooks\nparams:\n  path: notebooks/stock_check.ipynb\n  server: {}\n  token_env: KFCHECK_TEST_NB_TOKEN\n", s.url),
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let o = kfcheck_command(d.path())
        .env("PATH", path)
        .env("KFCHECK_TEST_NB_TOKEN", TOKEN)
        .args(["--suite", "suite", "run", "team-notebooks", "-o", "json"])
        .output()
        .unwrap();
    let all = format!("{}{}", stdout(&o), stderr(&o));
    assert!(!all.contains(TOKEN), "the token was printed:\n{all}");
    assert_eq!(code(&o), 1, "{all}");
    let doc = json(&o);
    let forecast = check(&doc, "nb-forecast");
    assert_eq!(forecast["status"], "passed", "{forecast:#}");
    assert!(
        forecast["notes"]
            .to_string()
            .contains("code cell(s) ran without an error"),
        "{forecast:#}"
    );
    let nb = validated(&bin, &suite.join("out/forecast.out.ipynb"));
    let outputs: String = nb["cells"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["cell_type"] == "code")
        .map(|c| text_of(&c["outputs"]))
        .collect();
    assert!(outputs.contains("south: [20, 40]"), "{outputs}");
    let stock = check(&doc, "nb-stock");
    assert_eq!(stock["status"], "failed", "{stock:#}");
    let f = &stock["findings"][0];
    assert_eq!(f["rule"], "notebook-cell-failed", "{stock:#}");
    let evidence = f["evidence"].to_string();
    assert!(
        evidence.contains("cell 2") && evidence.contains("ValueError: no stock of pears"),
        "{evidence}"
    );
    assert_eq!(
        kernels(&s.url).unwrap(),
        vec![theirs],
        "only kfcheck's kernel is gone"
    );

    // The token's variable unset: the check cannot decide, and says why.
    let o = kfcheck_command(d.path())
        .env_remove("KFCHECK_TEST_NB_TOKEN")
        .args(["--suite", "suite", "run", "nb-stock", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(code(&o), 3, "{}", stdout(&o));
    let doc = json(&o);
    let stock = check(&doc, "nb-stock");
    assert_eq!(stock["status"], "errored");
    assert!(
        stock["reason"]
            .to_string()
            .contains("KFCHECK_TEST_NB_TOKEN is not set"),
        "{stock:#}"
    );
}
