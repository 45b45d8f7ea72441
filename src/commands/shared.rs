//! What several commands share: the connection settings built from the global flags, the check
//! against contradictory KFP credentials, and loading the check suite.

use crate::cli::{Global, KfpArgs, SecretArg};
use crate::context::kfp::KfpSettings;
use crate::context::{Env, Settings};
use crate::model::{AppOutput, ExitStatus};
use crate::suite::Suite;

/// The KFP identities given at once: more than one is a contradiction kfcheck will not settle
/// by guessing which one wins.
pub(crate) fn kfp_identity_conflict(k: &KfpArgs) -> Option<String> {
    let given = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    let given_secret =
        |v: &Option<SecretArg>| v.as_ref().is_some_and(|s| !s.expose().trim().is_empty());
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

/// Connection settings from the global flags and the environment (captured now).
pub(crate) fn settings(g: &Global) -> Settings {
    Settings {
        kubeconfig: g.kubeconfig.clone(),
        context: g.context.clone(),
        namespace: g.namespace.clone(),
        docker_host: g.docker_host.clone(),
        kfp: kfp_settings(&g.kfp),
        probe_image: g.probe_image.clone().filter(|i| !i.trim().is_empty()),
        required: g.require.clone(),
        env: Env::capture(),
    }
}

fn kfp_settings(k: &KfpArgs) -> KfpSettings {
    use crate::clients::kfp::Secret;
    let nonempty = |v: &Option<String>| v.clone().filter(|s| !s.trim().is_empty());
    let secret = |v: &Option<SecretArg>| {
        v.as_ref()
            .map(|s| s.expose().to_string())
            .filter(|s| !s.trim().is_empty())
            .map(Secret::new)
    };
    KfpSettings {
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

/// The embedded suite plus every `--suite` directory; all its errors at once (exit 2) when it
/// does not load.
pub(crate) fn load_suite(g: &Global) -> Result<Suite, AppOutput> {
    crate::suite::load_suite(&g.suite).map_err(|errors| {
        let mut msg = format!("the check suite has {} error(s):\n", errors.len());
        for e in errors {
            msg.push_str(&format!("  {e}\n"));
        }
        AppOutput {
            stderr: msg,
            exit: Some(ExitStatus::Usage),
            ..Default::default()
        }
    })
}

/// The width to fit the table and text to: `COLUMNS` when set, else the terminal's own width
/// when stdout is one (a pipe or file gets the full lines).
pub(crate) fn terminal_width() -> Option<u16> {
    if let Some(c) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.trim().parse::<u16>().ok())
    {
        return Some(c).filter(|c| *c > 0);
    }
    let out = std::io::stdout();
    if !std::io::IsTerminal::is_terminal(&out) {
        return None;
    }
    rustix::termios::tcgetwinsize(&out)
        .ok()
        .map(|w| w.ws_col)
        .filter(|c| *c > 0)
}
