//! The Dex username/password login through the dashboard's gateway (oauth2-proxy or the older
//! oidc-authservice in front of Dex), done as a browser does it: a small cookie jar that sends
//! each cookie only to the host that set it, redirects followed but never down from https to
//! http, and the gateway's session cookies as the result. The password is only ever sent in
//! the login form; it and the session never appear in errors or `Debug`.

use super::http::Secret;
use super::kfp::{transport_error, ConnectOptions, KfpClient, KfpError};
use std::time::Duration;

/// A session cookie of the gateway: oauth2-proxy's `oauth2_proxy_kubeflow`, or its parts
/// `oauth2_proxy_kubeflow_<N>` when a large session is split, or the older oidc-authservice's
/// `authservice_session`. Not `oauth2_proxy_kubeflow_csrf`, which oauth2-proxy leaves behind
/// with `cookie_csrf_per_request`.
fn is_session_cookie(name: &str) -> bool {
    match name.strip_prefix("oauth2_proxy_kubeflow") {
        Some("") => true,
        Some(rest) => rest
            .strip_prefix('_')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        None => name == "authservice_session",
    }
}

/// A Dex username/password login through the dashboard's gateway, as a browser does it:
/// follow redirects to Dex (via oauth2-proxy's `/oauth2/start` when an API route answers 401),
/// choose the `local` connector, post the login form, approve if asked, and keep the cookies set
/// on the way. Returns the session cookies (`oauth2_proxy_kubeflow[_N]` or
/// `authservice_session`) as a `Cookie` header value. The password is only ever sent in the form.
pub async fn dex_login(
    opts: &ConnectOptions,
    user: &str,
    password: &Secret,
) -> Result<Secret, KfpError> {
    let http = KfpClient::http_client(opts)?;
    let start = reqwest::Url::parse(opts.endpoint.trim_end_matches('/')).map_err(|e| {
        KfpError::Connect {
            url: opts.endpoint.clone(),
            detail: e.to_string(),
        }
    })?;
    let mut login = Login {
        http,
        jar: Vec::new(),
        timeout: opts.request_timeout,
    };
    let home = start.join("/").unwrap_or_else(|_| start.clone());
    let (mut url, mut status) = login
        .follow(reqwest::Method::GET, home.clone(), None)
        .await?;
    if status == 401 || status == 403 {
        // oauth2-proxy answers API-style routes with 401 instead of redirecting: start the flow.
        let begin = home
            .join("/oauth2/start?rd=%2F")
            .unwrap_or_else(|_| home.clone());
        (url, status) = login.follow(reqwest::Method::GET, begin, None).await?;
    }
    if url.path().trim_end_matches('/').ends_with("/auth") {
        // Dex's connector chooser: take the static-password ("local") connector.
        let mut local = url.clone();
        local.set_path(&format!("{}/local", url.path().trim_end_matches('/')));
        (url, status) = login.follow(reqwest::Method::GET, local, None).await?;
    }
    if !url.path().contains("/auth/") && !url.path().contains("login") {
        return Err(KfpError::Decode {
            path: url.path().to_string(),
            detail: format!(
                "the login flow ended at {} (HTTP {status}), not at a Dex login form",
                url.path()
            ),
        });
    }
    // The password goes only where the flow was sent from the endpoint without a downgrade.
    next_hop_allowed(&start, &url)?;
    let form = [
        ("login", user.to_string()),
        ("password", password.expose().to_string()),
    ];
    let (after, _) = login
        .follow(reqwest::Method::POST, url.clone(), Some(&form))
        .await?;
    let after = if after.path().contains("/approval") {
        login
            .follow(
                reqwest::Method::POST,
                after,
                Some(&[("approval", "approve".to_string())]),
            )
            .await?
            .0
    } else {
        after
    };
    if after.path() == url.path() {
        return Err(KfpError::Status {
            status: 401,
            message: format!("Dex refused the login of {user} (wrong username or password?)"),
            method: "POST".into(),
            path: url.path().to_string(),
        });
    }
    // The gateway's session: the cookies the endpoint's own host set.
    let gateway = start.host_str().unwrap_or_default();
    let session: Vec<String> = login
        .jar
        .iter()
        .filter(|c| c.host == gateway && is_session_cookie(&c.name))
        .map(|c| format!("{}={}", c.name, c.value))
        .collect();
    if session.is_empty() {
        return Err(KfpError::Decode {
            path: after.path().to_string(),
            detail:
                "the Dex login set no session cookie (oauth2_proxy_kubeflow or authservice_session)"
                    .into(),
        });
    }
    Ok(Secret::new(session.join("; ")))
}

/// A cookie the login flow was given: sent back only to the host that set it, and, when it was
/// set over https, only over https (as a browser does for host-only, secure cookies).
#[derive(Debug, Clone, PartialEq, Eq)]
struct JarCookie {
    host: String,
    https_only: bool,
    name: String,
    value: String,
}

/// The `Cookie` header for a request to `url`: only the cookies its host set.
fn cookies_for(jar: &[JarCookie], url: &reqwest::Url) -> Option<String> {
    let host = url.host_str().unwrap_or_default();
    let https = url.scheme() == "https";
    let sent: Vec<String> = jar
        .iter()
        .filter(|c| c.host == host && (https || !c.https_only))
        .map(|c| format!("{}={}", c.name, c.value))
        .collect();
    (!sent.is_empty()).then(|| sent.join("; "))
}

/// A redirect the login flow may follow: never from https down to plain http, where the
/// password and session cookies would cross the network in clear.
fn next_hop_allowed(from: &reqwest::Url, to: &reqwest::Url) -> Result<(), KfpError> {
    if from.scheme() == "https" && to.scheme() != "https" {
        return Err(KfpError::Decode {
            path: from.path().to_string(),
            detail: format!("the login flow redirected from https to {}://{}; kfcheck sends no password or cookie there", to.scheme(), to.host_str().unwrap_or("")),
        });
    }
    Ok(())
}

/// A browser's worth of state for the login flow: cookies by host.
struct Login {
    http: reqwest::Client,
    jar: Vec<JarCookie>,
    timeout: Duration,
}

impl Login {
    /// Sends, then follows redirects (a 302/303 after a POST becomes a GET); returns the last URL
    /// and its status.
    async fn follow(
        &mut self,
        method: reqwest::Method,
        url: reqwest::Url,
        form: Option<&[(&str, String)]>,
    ) -> Result<(reqwest::Url, u16), KfpError> {
        let (mut method, mut url, mut form) = (method, url, form);
        for _ in 0..20 {
            let mut rb = self.http.request(method.clone(), url.clone());
            if let Some(cookies) = cookies_for(&self.jar, &url) {
                rb = rb.header(reqwest::header::COOKIE, cookies);
            }
            if let Some(f) = form {
                rb = rb.form(f);
            }
            let shown = format!(
                "{}://{}{}",
                url.scheme(),
                url.host_str().unwrap_or(""),
                url.path()
            );
            let resp = rb
                .send()
                .await
                .map_err(|e| transport_error(&e, &shown, self.timeout))?;
            for c in resp.headers().get_all(reqwest::header::SET_COOKIE) {
                let Some((name, value)) = c
                    .to_str()
                    .ok()
                    .and_then(|c| c.split(';').next())
                    .and_then(|kv| kv.split_once('='))
                else {
                    continue;
                };
                let host = url.host_str().unwrap_or_default().to_string();
                let name = name.trim().to_string();
                self.jar.retain(|k| !(k.name == name && k.host == host));
                if !value.is_empty() {
                    self.jar.push(JarCookie {
                        host,
                        https_only: url.scheme() == "https",
                        name,
                        value: value.to_string(),
                    });
                }
            }
            let status = resp.status();
            if !status.is_redirection() {
                return Ok((url, status.as_u16()));
            }
            let Some(next) = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|l| l.to_str().ok())
                .and_then(|l| url.join(l).ok())
            else {
                return Ok((url, status.as_u16()));
            };
            next_hop_allowed(&url, &next)?;
            if status != reqwest::StatusCode::TEMPORARY_REDIRECT
                && status != reqwest::StatusCode::PERMANENT_REDIRECT
            {
                method = reqwest::Method::GET;
                form = None;
            }
            url = next;
        }
        Err(KfpError::Decode {
            path: url.path().to_string(),
            detail: "too many redirects in the login flow".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_login_jar_keeps_cookies_to_their_host_and_never_steps_down_to_http() {
        // The login jar: each cookie only to the host that set it, secure ones only over https,
        // and never a step down from https to http.
        let c = |host: &str, https_only: bool, name: &str| JarCookie {
            host: host.into(),
            https_only,
            name: name.into(),
            value: "v".into(),
        };
        let jar = vec![
            c("kubeflow.example.com", true, "oauth2_proxy_kubeflow"),
            c("dex.example.com", false, "dex_state"),
        ];
        let url = |u: &str| reqwest::Url::parse(u).unwrap();
        assert_eq!(
            cookies_for(&jar, &url("https://kubeflow.example.com/dex/auth")).as_deref(),
            Some("oauth2_proxy_kubeflow=v")
        );
        assert_eq!(
            cookies_for(&jar, &url("http://kubeflow.example.com/")),
            None,
            "a cookie set over https is not sent over http"
        );
        assert_eq!(
            cookies_for(&jar, &url("https://evil.example.net/")),
            None,
            "another host gets no cookie"
        );
        assert_eq!(
            cookies_for(&jar, &url("http://dex.example.com/x")).as_deref(),
            Some("dex_state=v")
        );
        assert!(next_hop_allowed(
            &url("https://a.example.com/"),
            &url("http://a.example.com/login")
        )
        .is_err());
        assert!(next_hop_allowed(&url("http://127.0.0.1:1/"), &url("http://127.0.0.1:2/")).is_ok());
        assert!(next_hop_allowed(
            &url("http://a.example.com/"),
            &url("https://a.example.com/")
        )
        .is_ok());
        for (name, session) in [
            ("oauth2_proxy_kubeflow", true),
            ("oauth2_proxy_kubeflow_0", true),
            ("oauth2_proxy_kubeflow_12", true),
            ("authservice_session", true),
            ("oauth2_proxy_kubeflow_csrf", false),
            ("oauth2_proxy_kubeflow_", false),
            ("oauth2_proxy_kubeflowx", false),
            ("_oauth2_proxy", false),
        ] {
            assert_eq!(is_session_cookie(name), session, "{name}");
        }
    }
}
