//! kfcheck's Dex login (`--kfp-dex-user`, `KFP_DEX_PASSWORD`) through the real thing: Dex and
//! oauth2-proxy built from Go modules (tools/gateway) and configured as Kubeflow's manifests do,
//! started by scripts/gateway in front of the KFP API emulator (multi-user). Each test starts its
//! own emulator and gateway and stops them.
//!
//! Needs the gateway binaries (KFCHECK_GATEWAY_BIN, which scripts/test exports, else the ones
//! `scripts/gateway build` cached) and the project's Python venv for the emulator
//! (KFCHECK_VENV_PYTHON, else <repo>/.venv/bin/python). Without them the tests skip and say so,
//! except under CI or KFCHECK_E2E=1, where that is a failure.

mod common;
use common::emulator::*;
use common::gateway::Gateway;
use common::*;
use std::path::Path;
use std::process::Output;

const USER: &str = "user@example.com";
const NAMESPACE: &str = "kubeflow-user-example-com";
const WRONG_PASSWORD: &str = "wrong-pw-5e1f-secret";

/// The KFP API emulator, multi-user, `user@example.com` granted its profile namespace.
fn emulator() -> Option<Emulator> {
    Emulator::start(&["--multi-user", "--grant", &format!("{USER}={NAMESPACE}")])
}

/// kfcheck's objects still in the user's namespace.
fn leftovers(emu: &Emulator) -> Vec<String> {
    emu.leftovers(Some(NAMESPACE), &[("kubeflow-userid", USER)])
}

/// Runs kfcheck as `user@example.com` through the gateway and checks that nothing secret was
/// printed: not the password, not a session cookie (oauth2-proxy's cookie values are
/// `payload|unix time|signature`), not the id token (a JWT, `eyJ…`).
fn run(gw: &Gateway, password: &str, extra: &[&str]) -> Output {
    let mut c = kfcheck_kfp_command(&repo());
    c.args([
        "--kfp-endpoint",
        &gw.endpoint,
        "--kfp-dex-user",
        USER,
        "-n",
        NAMESPACE,
    ])
    .args(extra);
    let o = c
        .env("KFP_DEX_PASSWORD", password)
        .output()
        .expect("run kfcheck");
    let all = format!("{}{}", stdout(&o), stderr(&o));
    for secret in [
        gw.password.as_str(),
        WRONG_PASSWORD,
        "oauth2_proxy_kubeflow=",
        "eyJ",
    ] {
        assert!(
            !all.contains(secret),
            "a credential ({secret}) was printed:\n{all}"
        );
    }
    assert!(
        !looks_like_a_signed_cookie(&all),
        "a session cookie value was printed:\n{all}"
    );
    o
}

/// Whether `text` holds `|<10 digits>|`, the middle of an oauth2-proxy cookie value.
fn looks_like_a_signed_cookie(text: &str) -> bool {
    let b = text.as_bytes();
    b.windows(12)
        .any(|w| w[0] == b'|' && w[11] == b'|' && w[1..11].iter().all(u8::is_ascii_digit))
}

/// Whether oauth2-proxy's access log has kfcheck's request `step` (`METHOD UPSTREAM "PATH`)
/// answered with `status`.
fn seen(log: &str, step: &str, status: u16) -> bool {
    log.lines().any(|l| {
        l.contains(step) && l.contains("\"kfcheck/") && l.contains(&format!("\" {status} "))
    })
}

/// What reached the API: every kfcheck request carried the identity oauth2-proxy injected from
/// Dex's id token and only the session cookie (the CSRF cookie was cleared at the callback), and
/// the run was created as that user.
fn assert_identity(emu: &Emulator) {
    let reqs = emu.kfcheck_requests();
    assert!(!reqs.is_empty(), "no kfcheck request reached the emulator");
    for r in &reqs {
        let h = &r["headers"];
        assert_eq!(h["kubeflow-userid"], serde_json::json!([USER]), "{r:#}");
        assert_eq!(
            h["cookie_names"],
            serde_json::json!(["oauth2_proxy_kubeflow"]),
            "{r:#}"
        );
        assert!(
            h["authorization"]
                .as_str()
                .is_some_and(|a| a.starts_with("Bearer eyJ")),
            "the id token as Authorization: {r:#}"
        );
        assert!(r["identity"].is_null() || r["identity"] == USER, "{r:#}");
    }
    let created = reqs
        .iter()
        .find(|r| r["method"] == "POST" && r["route"] == "/apis/v2beta1/runs")
        .unwrap_or_else(|| panic!("no run created: {reqs:#?}"));
    assert_eq!(created["identity"], USER, "{created:#}");
    assert_eq!(
        created["path"], "/pipeline/apis/v2beta1/runs",
        "through the UI proxy behind the gateway"
    );
}

#[test]
fn a_dex_login_through_real_dex_and_oauth2_proxy_runs_the_sample_as_that_user() {
    let Some(emu) = emulator() else { return };
    // As the manifests configure them: oauth2-proxy's sign-in page (403) on `/`, no approval
    // screen, the password connector alone.
    let Some(gw) = Gateway::start(&emu.url, &[]) else {
        return;
    };
    let o = run(
        &gw,
        &gw.password,
        &["run", "kfp-api-healthy", "kfp-cpu-sample", "-o", "json"],
    );
    let doc = json(&o);
    assert_eq!(code(&o), 0, "{doc:#}\n{}", stderr(&o));
    let detail = doc["needs"][0]["detail"].as_str().unwrap();
    assert!(detail.contains(&format!("{}/pipeline (through the UI proxy, multi-user, a session cookie, namespace {NAMESPACE})", gw.endpoint)), "{detail}");
    assert_eq!(check(&doc, "kfp-cpu-sample")["status"], "passed", "{doc:#}");
    assert_identity(&emu);
    assert_eq!(leftovers(&emu), Vec::<String>::new());

    // The flow went through oauth2-proxy's start (after the 403 sign-in page) and Dex's
    // password form; the real Dex answers a wrong password with 401 and the form again.
    let log = gw.access_log();
    for (step, status) in [
        ("GET - \"/\"", 403),
        ("GET - \"/oauth2/start?rd=%2F\"", 302),
        ("GET dex \"/dex/auth?", 302),
        ("GET dex \"/dex/auth/local/login?", 200),
        ("POST dex \"/dex/auth/local/login?", 303),
        ("GET - \"/oauth2/callback?", 302),
    ] {
        assert!(
            seen(&log, step, status),
            "no {step} answered {status} in oauth2-proxy's log:\n{log}"
        );
    }
    let before = emu.kfcheck_requests().len();
    let o = run(
        &gw,
        WRONG_PASSWORD,
        &["run", "kfp-api-healthy", "kfp-cpu-sample", "-o", "json"],
    );
    let doc = json(&o);
    assert_eq!(code(&o), 3, "{doc:#}");
    let r = check(&doc, "kfp-api-healthy")["reason"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        r.contains(&format!("Dex login as {USER} failed"))
            && r.contains(&format!("Dex refused the login of {USER}")),
        "{r}"
    );
    assert!(
        r.contains("HTTP 401"),
        "the real Dex answers a refused login with 401: {r}"
    );
    assert_eq!(
        emu.kfcheck_requests().len(),
        before,
        "nothing reaches the API without a session"
    );
    emu.assert_no_violations();
}

#[test]
fn a_dex_login_also_gets_through_the_connector_chooser_and_the_approval_screen() {
    let Some(emu) = emulator() else { return };
    // oauth2-proxy redirects to Dex at once (skip_provider_button = true), Dex has a
    // second connector (so `/dex/auth` is its chooser) and asks for approval.
    let Some(gw) = Gateway::start(
        &emu.url,
        &[
            "--skip-provider-button",
            "--connector-chooser",
            "--approval-screen",
        ],
    ) else {
        return;
    };
    let o = run(
        &gw,
        &gw.password,
        &["run", "kfp-api-healthy", "kfp-cpu-sample", "-o", "json"],
    );
    let doc = json(&o);
    assert_eq!(code(&o), 0, "{doc:#}\n{}", stderr(&o));
    assert_identity(&emu);
    assert_eq!(leftovers(&emu), Vec::<String>::new());
    let log = gw.access_log();
    assert!(
        seen(&log, "GET - \"/\"", 302),
        "oauth2-proxy sent kfcheck to Dex from `/`:\n{log}"
    );
    assert!(
        seen(&log, "GET dex \"/dex/auth?", 200),
        "Dex's connector chooser:\n{log}"
    );
    assert!(
        seen(&log, "GET dex \"/dex/auth/local?", 302),
        "the password connector chosen:\n{log}"
    );
    assert!(
        seen(&log, "POST dex \"/dex/approval?", 303),
        "the approval posted:\n{log}"
    );
    emu.assert_no_violations();
}

#[test]
fn the_gateway_script_stops_what_it_started() {
    let Some(emu) = emulator() else { return };
    let Some(gw) = Gateway::start(&emu.url, &[]) else {
        return;
    };
    let pids: Vec<u32> = ["dex", "oauth2-proxy"]
        .iter()
        .map(|n| {
            std::fs::read_to_string(gw.dir.path().join(format!("state/pids/{n}.pid")))
                .unwrap()
                .trim()
                .parse()
                .unwrap()
        })
        .collect();
    let o = gw.script(&["status"]).output().unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    let o = gw.script(&["down"]).output().unwrap();
    assert!(o.status.success(), "{}{}", stdout(&o), stderr(&o));
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists() || proc_state(pid) == Some('Z'),
            "pid {pid} still runs after down"
        );
    }
    assert!(!gw.dir.path().join("state").exists());
    let o = gw.script(&["status"]).output().unwrap();
    assert!(!o.status.success());
}
