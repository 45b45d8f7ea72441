//! The Jupyter client (src/clients/jupyter.rs) against a real jupyter_server with a real ipykernel
//! (.venv-notebook, scripts/python-env notebook), served under a Kubeflow-style base URL, with and
//! without a token; and kfcheck's notebook kernel program run in that kernel against the KFP
//! emulator, as the notebook door runs it.

mod common;
use common::*;
use kfcheck::clients::http::Secret;
use kfcheck::clients::jupyter::{JupyterAuth, JupyterClient, JupyterError, JupyterOptions};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BASE: &str = "/notebook/kubeflow-user-example-com/nb-kfcheck/";
const TOKEN: &str = "jupyter-test-token-7f3a";

/// A real Jupyter server under the Kubeflow-style base URL, with `token` (none: empty, as
/// Kubeflow's images run it).
fn server(token: Option<&str>, env: &[(&str, &str)]) -> Option<common::jupyter::JupyterServer> {
    common::jupyter::start(BASE, token.unwrap_or(""), env)
}

fn client(url: &str, token: Option<&str>, offer_v1: bool) -> JupyterClient {
    JupyterClient::new(
        url,
        JupyterAuth {
            token: token.map(Secret::new),
            ..JupyterAuth::default()
        },
        JupyterOptions {
            request_timeout: Duration::from_secs(20),
            offer_v1,
        },
    )
    .unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn cells_run_and_report_output_results_errors_and_deadlines() {
    let Some(s) = server(Some(TOKEN), &[]) else {
        return;
    };
    rt().block_on(async {
        for offer_v1 in [true, false] {
            let c = client(&s.url, Some(TOKEN), offer_v1);
            assert!(c.status().await.unwrap().get("started").is_some());
            // A user's own kernel, started before kfcheck's: never touched.
            let (code, body) = raw(&s.url, "POST", "api/kernels", Some(TOKEN), None);
            assert_eq!(code, 201, "{body}");
            let theirs: serde_json::Value = serde_json::from_str(&body).unwrap();
            let theirs = theirs["id"].as_str().unwrap().to_string();

            let k = c.start_kernel(None).await.unwrap();
            let out = c
                .execute(&k.id, "print(1+1)", Duration::from_secs(60))
                .await
                .unwrap();
            assert_eq!(out.stdout, "2\n", "{out:?}");
            assert_eq!(out.status, "ok");
            assert_eq!(out.framing, if offer_v1 { "v1" } else { "json" }, "{out:?}");
            let out = c
                .execute(&k.id, "21*2", Duration::from_secs(30))
                .await
                .unwrap();
            assert_eq!(out.results, ["42"]);
            let out = c
                .execute(
                    &k.id,
                    "raise ValueError('bad value')",
                    Duration::from_secs(30),
                )
                .await
                .unwrap();
            let (ename, evalue, tb) = out.error.unwrap();
            assert_eq!(
                (ename.as_str(), evalue.as_str()),
                ("ValueError", "bad value")
            );
            assert!(!tb.is_empty());
            assert_eq!(out.status, "error");
            // A cell that asks for input fails at once (stdin is not offered), kernel fine.
            let out = c
                .execute(&k.id, "input('name? ')", Duration::from_secs(30))
                .await
                .unwrap();
            assert_eq!(out.error.unwrap().0, "StdinNotImplementedError");
            // A cell past its deadline: interrupted, and the kernel still serves.
            let t = Instant::now();
            let out = c
                .execute(&k.id, "import time; time.sleep(60)", Duration::from_secs(2))
                .await
                .unwrap();
            assert!(
                out.timed_out && t.elapsed() < Duration::from_secs(20),
                "{out:?}"
            );
            let mut ok = false;
            for _ in 0..20 {
                let o = c
                    .execute(&k.id, "print('alive')", Duration::from_secs(10))
                    .await
                    .unwrap();
                if o.stdout.contains("alive") {
                    ok = true;
                    break;
                }
            }
            assert!(ok, "the kernel serves after an interrupt");
            // A secret printed by a cell is redacted before kfcheck keeps it.
            let out = c
                .execute(
                    &k.id,
                    "print('Authorization: Bearer abc.def.ghi')",
                    Duration::from_secs(30),
                )
                .await
                .unwrap();
            assert!(!out.stdout.contains("abc.def.ghi"), "{}", out.stdout);

            // Only kfcheck's kernel is shut down; a foreign one is refused.
            assert!(c.shutdown(&theirs).await.is_err());
            assert!(c.shutdown_all().await.is_empty());
            let left: Vec<String> = c
                .kernels()
                .await
                .unwrap()
                .into_iter()
                .map(|k| k.id)
                .collect();
            assert_eq!(left, std::slice::from_ref(&theirs));
            raw(
                &s.url,
                "DELETE",
                &format!("api/kernels/{theirs}"),
                Some(TOKEN),
                None,
            );
        }
    });
}

#[test]
fn auth_xsrf_base_url_and_a_dying_kernel() {
    let Some(open) = server(None, &[]) else {
        return;
    };
    rt().block_on(async {
        // No token (Kubeflow's images): a POST without the XSRF token is refused, the client's
        // is not.
        let (code, _) = raw(&open.url, "POST", "api/kernels", None, None);
        assert_eq!(code, 403);
        let c = client(&open.url, None, true);
        let k = c.start_kernel(Some("python3")).await.unwrap();
        // Contents round trip.
        c.put_file("kfcheck-probe.txt", "hello").await.unwrap();
        assert_eq!(c.get_file("kfcheck-probe.txt").await.unwrap(), "hello");
        c.delete_file("kfcheck-probe.txt").await.unwrap();
        assert!(matches!(
            c.get_file("kfcheck-probe.txt").await,
            Err(JupyterError::NotFound(_))
        ));
        // The kernel dies mid-cell.
        let e = c
            .execute(&k.id, "import os; os._exit(1)", Duration::from_secs(30))
            .await
            .unwrap_err();
        assert!(
            matches!(e, JupyterError::KernelDied(_) | JupyterError::Channel(_)),
            "{e}"
        );
        c.shutdown_all().await;
        // A wrong base URL: 404, worded.
        let wrong = open.url.replace("nb-kfcheck", "nb-other");
        let e = client(&wrong, None, true).status().await.unwrap_err();
        assert!(matches!(e, JupyterError::NotFound(_)), "{e}");
        assert!(e.to_string().contains("base URL"), "{e}");
    });
    drop(open);
    let Some(locked) = server(Some(TOKEN), &[]) else {
        return;
    };
    rt().block_on(async {
        for token in [None, Some("wrong-token")] {
            let e = client(&locked.url, token, true)
                .kernels()
                .await
                .unwrap_err();
            assert!(matches!(e, JupyterError::Unauthorized { .. }), "{e}");
            assert!(!e.to_string().contains(TOKEN));
        }
        // Nothing listens: unreachable, within the request timeout.
        let e = client("http://127.0.0.1:9/x/", None, true)
            .status()
            .await
            .unwrap_err();
        assert!(matches!(e, JupyterError::Unreachable { .. }), "{e}");
    });
}

#[test]
fn the_notebook_kernel_program_submits_the_sample_from_a_real_kernel() {
    use common::emulator::Emulator;
    use kfcheck::doors::notebook_cell::{cell, parse, CellConfig};
    let ns = "kubeflow-user-example-com";
    let sa = format!("system:serviceaccount:{ns}:default-editor");
    let Some(emu) = Emulator::start(&[
        "--multi-user",
        "--token",
        &format!("nb-token-42={sa}"),
        "--grant",
        &format!("{sa}={ns}"),
    ]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "nb-token-42").unwrap();
    // The PodDefault's token path, as the notebook pod has it.
    let Some(s) = server(
        Some(TOKEN),
        &[("KF_PIPELINES_SA_TOKEN_PATH", token.to_str().unwrap())],
    ) else {
        return;
    };
    let cfg = CellConfig {
        namespace: ns.into(),
        pipeline_yaml: std::fs::read_to_string(
            repo().join("checks/pipelines/kfcheck-cpu-sample.yaml"),
        )
        .unwrap(),
        run_name: "kfcheck-nbk-notebook-cpu".into(),
        experiment_name: "kfcheck-nbk-notebook".into(),
        timeout_s: 60,
        host: Some(emu.url.clone()),
        arguments: serde_json::Map::new(),
    };
    rt().block_on(async {
        let c = client(&s.url, Some(TOKEN), true);
        let k = c.start_kernel(None).await.unwrap();
        let out = c
            .execute(&k.id, &cell(&cfg), Duration::from_secs(120))
            .await
            .unwrap();
        assert!(out.error.is_none(), "{out:?}");
        let r = parse(&out.stdout).unwrap();
        assert!(r.error.is_none(), "{}", out.stdout);
        assert_eq!(r.run.unwrap().state, "SUCCEEDED");
        c.shutdown_all().await;
    });
    assert_eq!(emu.leftovers(Some(ns), &[]), Vec::<String>::new());
}

/// A request made without the client (what a browser or curl would send).
fn raw(
    url: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method])
        .arg(format!("{url}{path}"))
        .args([
            "-H",
            "Content-Type: application/json",
            "-d",
            body.unwrap_or("{}"),
        ]);
    if let Some(t) = token {
        cmd.args(["-H", &format!("Authorization: token {t}")]);
    }
    let o = cmd.output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// The notebook door end to end: a Notebook with its Service and pod in the scenario sandbox's
/// profile, kwok forwarding the pod's 8888 to a real Jupyter server (Kubeflow's empty token, so
/// the XSRF path) whose kernel has the PodDefault's token file (minted for default-editor) and
/// reaches the KFP emulator, which checks the token with a real TokenReview. `kfcheck -n
/// <profile> run notebook` passes, a user's own kernel is untouched, kfcheck's kernel is gone;
/// then the token file is taken away (the finding names the PodDefault), and with no notebook
/// the checks are skipped with the reason.
#[test]
fn the_notebook_door_runs_the_samples_from_a_notebook_in_the_sandbox() {
    use common::emulator::Emulator;
    let Some(dir) = scenario_sandbox() else {
        return;
    };
    let kubeconfig = dir.join("kubeconfig");
    let kc = kubeconfig.to_str().unwrap();
    let ns = "kubeflow-user-example-com";
    let nb = "nb-kfcheck";
    let sa = format!("system:serviceaccount:{ns}:default-editor");
    let Some(emu) = Emulator::start(&[
        "--multi-user",
        "--token-review",
        kc,
        "--grant",
        &format!("{sa}={ns}"),
        // The dashboard case signs in as the example install's Dex user.
        "--grant",
        &format!("user@example.com={ns}"),
    ]) else {
        return;
    };
    sandbox(&dir, &["scenario", "healthy"]);
    let kubectl = sandbox_kubectl(&dir);
    let runner = common::Kubectl::new(&dir);
    let k = |args: &[&str], stdin: Option<&str>| runner.run(args, stdin);
    let tokens = tempfile::tempdir().unwrap();
    let token = tokens.path().join("token");
    let minted = k(
        &[
            "-n",
            ns,
            "create",
            "token",
            "default-editor",
            "--audience",
            "pipelines.kubeflow.org",
        ],
        None,
    );
    std::fs::write(&token, minted.trim()).unwrap();
    // Kubeflow's image: an empty token, the base URL NB_PREFIX.
    let Some(s) = server(
        None,
        &[
            ("KF_PIPELINES_SA_TOKEN_PATH", token.to_str().unwrap()),
            ("KF_PIPELINES_ENDPOINT", emu.url.as_str()),
        ],
    ) else {
        return;
    };
    let port = s.url.trim_start_matches("http://127.0.0.1:");
    let port = &port[..port.find('/').unwrap()];
    // What Kubeflow's notebook controller makes of a Notebook: the pod and the Service (port 80
    // to 8888); kwok marks the pod Running and Ready.
    let objects = common::jupyter::notebook_objects(ns, nb);
    struct Undo<'a>(&'a Path, String, PathBuf, &'a str);
    impl Drop for Undo<'_> {
        fn drop(&mut self) {
            let _ = Command::new(repo().join("scripts/sandbox"))
                .args(["forward", "8888", "--delete", "--namespace", self.3])
                .env("KFCHECK_SANDBOX_DIR", self.0)
                .output();
            let mut c = Command::new(&self.2);
            c.args([
                "--kubeconfig",
                self.0.join("kubeconfig").to_str().unwrap(),
                "delete",
                "--ignore-not-found",
                "--wait=false",
                "-f",
                "-",
            ]);
            c.stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::null());
            if let Ok(mut child) = c.spawn() {
                use std::io::Write;
                let _ = child.stdin.take().unwrap().write_all(self.1.as_bytes());
                let _ = child.wait();
            }
        }
    }
    let _undo = Undo(&dir, objects.clone(), kubectl.clone(), ns);
    k(&["apply", "-f", "-"], Some(&objects));
    sandbox(
        &dir,
        &[
            "forward",
            "8888",
            &format!("127.0.0.1:{port}"),
            "--namespace",
            ns,
        ],
    );
    let ready = Instant::now() + Duration::from_secs(60);
    while k(
        &[
            "-n",
            ns,
            "get",
            "pod",
            &format!("{nb}-0"),
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ],
        None,
    ) != "True"
    {
        assert!(
            Instant::now() < ready,
            "the notebook pod did not become Ready"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // A user's own kernel, which kfcheck must leave alone.
    let user =
        rt().block_on(async { client(&s.url, None, true).start_kernel(None).await.unwrap() });

    // The profile has the healthy scenario's notebook too: these checks name the test's.
    let named = tempfile::tempdir().unwrap();
    for id in ["notebook-cpu-sample", "notebook-gpu-sample"] {
        let text = std::fs::read_to_string(repo().join(format!("checks/{id}.yaml"))).unwrap();
        write(
            named.path(),
            &format!("{id}.yaml"),
            &format!("{text}  notebook: {nb}\n"),
        );
    }
    let named_dir = named.path().to_str().unwrap().to_string();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--kubeconfig",
            kc,
            "-n",
            ns,
            "--suite",
            &named_dir,
            "run",
            "notebook",
            "-o",
            "json",
        ];
        args.extend_from_slice(extra);
        let o = kfcheck(&args);
        (code(&o), json(&o))
    };
    let (rc, doc) = run(&[]);
    assert_eq!(rc, 0, "{doc:#}");
    for id in ["notebook-cpu-sample", "notebook-gpu-sample"] {
        let c = check(&doc, id);
        assert_eq!(c["status"], "passed", "{c:#}");
        let notes = c["notes"].to_string();
        assert!(
            notes.contains(&format!("notebook {ns}/{nb} (pod {nb}-0)")),
            "{notes}"
        );
        assert!(notes.contains("succeeded"), "{notes}");
    }
    emu.assert_runs_made_as(2, &sa);
    assert_eq!(emu.leftovers(Some(ns), &[]), Vec::<String>::new());
    emu.assert_no_violations();
    let kernels = rt().block_on(async { client(&s.url, None, true).kernels().await.unwrap() });
    assert_eq!(
        kernels.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
        vec![user.id.as_str()],
        "kfcheck's kernels are gone, the user's is alive"
    );

    // The dashboard's path instead of the port-forward: /notebook/<ns>/<nb>/ behind Kubeflow's
    // sign-in gateway (real Dex and oauth2-proxy, KFP behind /pipeline/), signed in with the Dex
    // login the REST door uses. oauth2-proxy's access log shows the kernel's websocket went
    // through it with the session.
    if let Some(gw) = common::gateway::Gateway::start(
        &emu.url,
        &["--notebook", &format!("http://127.0.0.1:{port}")],
    ) {
        let via = tempfile::tempdir().unwrap();
        let text = std::fs::read_to_string(repo().join("checks/notebook-cpu-sample.yaml")).unwrap();
        write(
            via.path(),
            "notebook-cpu-sample.yaml",
            &format!("{text}  notebook: {nb}\n  via: dashboard\n"),
        );
        let dashboard = |password: &str| {
            let o = kfcheck_kfp_command(&repo())
                .args([
                    "--kubeconfig",
                    kc,
                    "-n",
                    ns,
                    "--suite",
                    via.path().to_str().unwrap(),
                    "--kfp-endpoint",
                    &gw.endpoint,
                    "--kfp-dex-user",
                    "user@example.com",
                    "run",
                    "notebook-cpu-sample",
                    "-o",
                    "json",
                ])
                .env("KFP_DEX_PASSWORD", password)
                .output()
                .unwrap();
            let all = format!("{}{}", stdout(&o), stderr(&o));
            assert!(
                !all.contains(password)
                    && !all.contains("oauth2_proxy_kubeflow=")
                    && !all.contains("eyJ"),
                "a credential was printed:\n{all}"
            );
            (code(&o), json(&o))
        };
        let (rc, doc) = dashboard(&gw.password);
        let c = check(&doc, "notebook-cpu-sample");
        assert_eq!(rc, 0, "{doc:#}");
        assert_eq!(c["status"], "passed", "{c:#}");
        let log = gw.access_log();
        let base = format!("/notebook/{ns}/{nb}/");
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("{base}api/kernels")) && l.contains(" 201 ")),
            "kfcheck's kernel was started through the gateway:\n{log}"
        );
        assert!(
            log.lines()
                .any(|l| l.contains("/channels") && l.contains("user@example.com")),
            "the kernel's channels went through the gateway with the session:\n{log}"
        );
        emu.assert_runs_made_as(3, &sa);
        // A wrong password: the Dex login fails, and the check says so rather than passing.
        let (rc, doc) = dashboard("wrong-pw-5e1f-secret");
        assert_ne!(rc, 0, "{doc:#}");
        let c = check(&doc, "notebook-cpu-sample");
        assert_ne!(c["status"], "passed", "{c:#}");
        assert!(c.to_string().contains("Dex login"), "{c:#}");
        let kernels = rt().block_on(async { client(&s.url, None, true).kernels().await.unwrap() });
        assert_eq!(
            kernels.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
            vec![user.id.as_str()],
            "kfcheck's kernel through the dashboard is gone too"
        );
    }

    // A run that never finishes: the kernel gives up at run_timeout, terminates and deletes it.
    let hang_suite = tempfile::tempdir().unwrap();
    let cpu = std::fs::read_to_string(repo().join("checks/notebook-cpu-sample.yaml")).unwrap();
    write(
        hang_suite.path(),
        "notebook-cpu-sample.yaml",
        &format!("{cpu}  run_timeout: 3s\n  notebook: {nb}\n"),
    );
    emu.script(serde_json::json!({"runs": [{"match": "kfcheck-*-notebook-cpu-sample", "outcome": "hang"}]}));
    let o = kfcheck(&[
        "--kubeconfig",
        kc,
        "-n",
        ns,
        "--suite",
        hang_suite.path().to_str().unwrap(),
        "run",
        "notebook-cpu-sample",
        "-o",
        "json",
    ]);
    emu.script(serde_json::json!({"replace": true, "runs": []}));
    let (rc, doc) = (code(&o), json(&o));
    assert_eq!(rc, 1, "{doc:#}");
    let f = &check(&doc, "notebook-cpu-sample")["findings"][0];
    assert_eq!(f["rule"], "run-not-finished", "{f:#}");
    assert_eq!(emu.leftovers(Some(ns), &[]), Vec::<String>::new());

    // Faults while kfcheck's cell runs (the run hangs, so the cell is busy waiting for it): the
    // kernel killed (as the OOM killer would), and the websocket to it dropped (the forward's
    // connections broken by a relay between them and the server). Each is the door's finding;
    // the user's kernel lives on.
    let hung = tempfile::tempdir().unwrap();
    write(
        hung.path(),
        "notebook-cpu-sample.yaml",
        &format!("{cpu}  run_timeout: 60s\n  notebook: {nb}\n"),
    );
    let during_cell = |act: &dyn Fn(&str)| {
        emu.script(serde_json::json!({"runs": [{"match": "kfcheck-*-notebook-cpu-sample", "outcome": "hang"}]}));
        let runs_before = emu.created("runs").len();
        let child = kfcheck_command(&repo())
            .args([
                "--kubeconfig",
                kc,
                "-n",
                ns,
                "--suite",
                hung.path().to_str().unwrap(),
                "run",
                "notebook-cpu-sample",
                "-o",
                "json",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let until = Instant::now() + Duration::from_secs(60);
        let busy = loop {
            let ks = rt().block_on(async { client(&s.url, None, true).kernels().await.unwrap() });
            // Busy with kfcheck's cell, not with its start: the cell has submitted the run.
            let submitted = emu.created("runs").len() > runs_before;
            if let Some(k) = ks.iter().find(|k| {
                submitted && k.id != user.id && k.execution_state.as_deref() == Some("busy")
            }) {
                break k.id.clone();
            }
            assert!(Instant::now() < until, "kfcheck's cell never ran: {ks:?}");
            std::thread::sleep(Duration::from_millis(200));
        };
        std::thread::sleep(Duration::from_millis(500));
        act(&busy);
        let o = child.wait_with_output().unwrap();
        emu.script(serde_json::json!({"replace": true, "runs": []}));
        (code(&o), json(&o))
    };
    let (rc, doc) = during_cell(&|kernel| {
        let killed = Command::new("pkill")
            .args(["-KILL", "-f", &format!("kernel-{kernel}")])
            .status()
            .unwrap();
        assert!(killed.success(), "no kernel process {kernel} to kill");
    });
    assert_eq!(rc, 1, "{doc:#}");
    let f = &check(&doc, "notebook-cpu-sample")["findings"][0];
    assert_eq!(f["rule"], "notebook-kernel-died", "{doc:#}");
    let relay = Cutter::to(format!("127.0.0.1:{port}"));
    sandbox(
        &dir,
        &[
            "forward",
            "8888",
            &format!("127.0.0.1:{}", relay.port),
            "--namespace",
            ns,
        ],
    );
    let (rc, doc) = during_cell(&|_| relay.cut());
    sandbox(
        &dir,
        &[
            "forward",
            "8888",
            &format!("127.0.0.1:{port}"),
            "--namespace",
            ns,
        ],
    );
    assert_eq!(rc, 1, "{doc:#}");
    let f = &check(&doc, "notebook-cpu-sample")["findings"][0];
    assert_eq!(f["rule"], "notebook-server-error", "{f:#}");
    assert!(
        f.to_string().contains("while kfcheck's cell ran"),
        "the finding says the connection broke during the cell: {f:#}"
    );
    let kernels = rt().block_on(async { client(&s.url, None, true).kernels().await.unwrap() });
    assert_eq!(
        kernels.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
        vec![user.id.as_str()],
        "kfcheck's kernels are gone after both faults, the user's is alive"
    );

    // The PodDefault's token file is not there: the finding says so and names the PodDefault.
    std::fs::remove_file(&token).unwrap();
    let (rc, doc) = run(&["notebook-cpu-sample"]);
    assert_eq!(rc, 1, "{doc:#}");
    let f = &check(&doc, "notebook-cpu-sample")["findings"][0];
    assert_eq!(f["rule"], "notebook-token-missing", "{f:#}");
    assert!(
        f["remediation"]
            .as_str()
            .unwrap()
            .contains("access-ml-pipeline"),
        "{f:#}"
    );

    // A notebook that is stopped: nothing to run through, so skipped with every reason.
    k(
        &[
            "-n",
            ns,
            "annotate",
            "notebook",
            nb,
            "kubeflow-resource-stopped=2026-12-03T00:00:00Z",
        ],
        None,
    );
    let (rc, doc) = run(&["notebook-cpu-sample"]);
    let c = check(&doc, "notebook-cpu-sample");
    assert_eq!(c["status"], "skipped", "{c:#}");
    assert!(
        c.to_string().contains(&format!(
            "Notebook {ns}/{nb} cannot be used: stopped (annotation kubeflow-resource-stopped)"
        )),
        "{c:#}"
    );
    assert_ne!(
        rc, 0,
        "a run with only skipped checks is not ready: {doc:#}"
    );
    let kernels = rt().block_on(async { client(&s.url, None, true).kernels().await.unwrap() });
    assert_eq!(kernels.len(), 1, "{kernels:?}");

    // Notebooks 2.0 served beside v1 Notebooks: detected and said.
    let crd = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: workspaces.kubeflow.org}
spec:
  group: kubeflow.org
  names: {kind: Workspace, plural: workspaces, singular: workspace}
  scope: Namespaced
  versions:
  - name: v1beta1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
"#;
    struct Crd<'a>(&'a Path, PathBuf);
    impl Drop for Crd<'_> {
        fn drop(&mut self) {
            let _ = Command::new(&self.1)
                .args(["--kubeconfig", self.0.join("kubeconfig").to_str().unwrap()])
                .args([
                    "delete",
                    "crd",
                    "workspaces.kubeflow.org",
                    "--ignore-not-found",
                ])
                .output();
        }
    }
    let _crd = Crd(&dir, kubectl.clone());
    k(&["apply", "-f", "-"], Some(crd));
    k(
        &[
            "wait",
            "--for=condition=Established",
            "crd/workspaces.kubeflow.org",
            "--timeout=30s",
        ],
        None,
    );
    let (_, doc) = run(&["notebook-cpu-sample"]);
    let c = check(&doc, "notebook-cpu-sample");
    assert_eq!(c["status"], "skipped", "{c:#}");
    assert!(
        c.to_string()
            .contains("this cluster serves Notebooks 2.0 (kubeflow.org/v1beta1 Workspace)"),
        "{c:#}"
    );

    // create: true. The sandbox has no notebook controller, so this thread plays it: for each
    // Notebook kfcheck labelled, the pod and Service, owned by the Notebook (the garbage
    // collector removes them with it), with the base URL the Jupyter server above serves.
    let suite = tempfile::tempdir().unwrap();
    let base = std::fs::read_to_string(repo().join("checks/notebook-cpu-sample.yaml")).unwrap();
    write(
        suite.path(),
        "notebook-cpu-sample.yaml",
        &format!("{base}  create: true\n  ready_timeout: 40s\n"),
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let controller = {
        let (stop, kubectl, kc, ns, nb) = (stop.clone(), kubectl.clone(), kc.to_string(), ns, nb);
        std::thread::spawn(move || {
            let mut done = std::collections::BTreeSet::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let o = Command::new(&kubectl)
                    .args(["--kubeconfig", &kc, "-n", ns, "get", "notebooks"])
                    .args(["-l", "app.kubernetes.io/managed-by=kfcheck", "-o"])
                    .arg("jsonpath={range .items[*]}{.metadata.name} {.metadata.uid}{\"\\n\"}{end}")
                    .output()
                    .unwrap();
                for line in stdout(&o).lines() {
                    let Some((name, uid)) = line.split_once(' ') else {
                        continue;
                    };
                    if !done.insert(name.to_string()) {
                        continue;
                    }
                    let owner = format!("ownerReferences: [{{apiVersion: kubeflow.org/v1, kind: Notebook, name: {name}, uid: {uid}, controller: true}}]");
                    let objects = format!(
                        "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}-0, namespace: {ns}, labels: {{statefulset: {name}, notebook-name: {name}}}, {owner}}}\nspec:\n  containers:\n  - name: {name}\n    image: x:v1\n    env: [{{name: NB_PREFIX, value: /notebook/{ns}/{nb}}}]\n---\napiVersion: v1\nkind: Service\nmetadata: {{name: {name}, namespace: {ns}, {owner}}}\nspec:\n  selector: {{statefulset: {name}}}\n  ports: [{{port: 80, targetPort: 8888}}]\n"
                    );
                    let mut c = Command::new(&kubectl);
                    c.args(["--kubeconfig", &kc, "apply", "-f", "-"]);
                    c.stdin(Stdio::piped())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null());
                    let mut child = c.spawn().unwrap();
                    use std::io::Write;
                    child
                        .stdin
                        .take()
                        .unwrap()
                        .write_all(objects.as_bytes())
                        .unwrap();
                    child.wait().unwrap();
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        })
    };
    let with_suite = || {
        let o = kfcheck(&[
            "--kubeconfig",
            kc,
            "-n",
            ns,
            "--suite",
            suite.path().to_str().unwrap(),
            "run",
            "notebook-cpu-sample",
            "-o",
            "json",
        ]);
        (code(&o), json(&o))
    };
    std::fs::write(&token, minted.trim()).unwrap();
    let (rc, doc) = with_suite();
    let c = check(&doc, "notebook-cpu-sample");
    assert_eq!(rc, 0, "{doc:#}");
    assert!(c["notes"].to_string().contains("kfcheck-nb-"), "{c:#}");
    let left = || {
        k(
            &[
                "-n",
                ns,
                "get",
                "notebooks",
                "-l",
                "app.kubernetes.io/managed-by=kfcheck",
                "-o",
                "name",
            ],
            None,
        )
    };
    assert_eq!(left(), "", "kfcheck deleted the Notebook it created");
    // No controller: the created Notebook never gets a pod, and the finding says so.
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    controller.join().unwrap();
    write(
        suite.path(),
        "notebook-cpu-sample.yaml",
        &format!("{base}  create: true\n  ready_timeout: 2s\n"),
    );
    let (rc, doc) = with_suite();
    let f = &check(&doc, "notebook-cpu-sample")["findings"][0];
    assert_eq!(rc, 1, "{doc:#}");
    assert_eq!(f["rule"], "notebook-not-ready", "{f:#}");
    assert!(f.to_string().contains("no pod"), "{f:#}");
    assert_eq!(left(), "", "deleted also when it never became Ready");
}

/// A TCP relay on 127.0.0.1 whose open connections `cut` breaks at once (a dropped websocket);
/// new connections still go through.
struct Cutter {
    port: u16,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Cutter {
    fn to(target: String) -> Cutter {
        use std::net::{Shutdown, TcpListener, TcpStream};
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let kept = open.clone();
        std::thread::spawn(move || {
            for inbound in listener.incoming().flatten() {
                let Ok(outbound) = TcpStream::connect(&target) else {
                    continue;
                };
                {
                    let mut k: std::sync::MutexGuard<'_, Vec<TcpStream>> = kept.lock().unwrap();
                    k.push(inbound.try_clone().unwrap());
                    k.push(outbound.try_clone().unwrap());
                }
                for (mut from, mut to) in [
                    (inbound.try_clone().unwrap(), outbound.try_clone().unwrap()),
                    (outbound, inbound),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(Shutdown::Write);
                    });
                }
            }
        });
        Cutter { port, open }
    }

    fn cut(&self) {
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}
