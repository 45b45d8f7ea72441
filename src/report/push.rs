//! `--push-gateway URL`: the run's Prometheus metrics pushed to a Pushgateway when the run is
//! over, replacing the group's earlier push (HTTP PUT), so a scheduled run's figures stay there
//! for Prometheus to scrape between runs. The group is `job=kfcheck` unless the URL names its own
//! (`…/metrics/job/NAME/LABEL/VALUE…`). Credentials in the URL are sent as basic auth and never
//! shown. The push is bounded in time; a push that fails is reported like a report file that
//! could not be written.

use super::prometheus::render_prometheus;
use super::reporter::{ReportError, Reporter};
use crate::model::{ExitStatus, RunReport};
use std::time::Duration;

/// How long the push may take, connection included.
const PUSH_TIMEOUT: Duration = Duration::from_secs(15);

/// Pushes the run's metrics when it is finished.
#[derive(Debug, Clone)]
pub struct Pushed {
    url: String,
}

impl Pushed {
    pub fn new(url: String) -> Pushed {
        Pushed { url }
    }
}

/// Basic-auth credentials taken from the URL: (user, password).
type BasicAuth = (String, Option<String>);

/// Where to push (the URL without credentials, as it may be shown) and the credentials.
fn target(url: &str) -> Result<(reqwest::Url, Option<BasicAuth>), String> {
    let mut u = reqwest::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("scheme {} is not http or https", u.scheme()));
    }
    let auth = (!u.username().is_empty())
        .then(|| (u.username().to_string(), u.password().map(str::to_string)));
    let _ = u.set_username("");
    let _ = u.set_password(None);
    if !u.path().contains("/metrics/job/") {
        let base = u.path().trim_end_matches('/').to_string();
        u.set_path(&format!("{base}/metrics/job/kfcheck"));
    }
    Ok((u, auth))
}

/// The URL with its credentials taken out, for messages.
fn shown(url: &str) -> String {
    match target(url) {
        Ok((u, _)) => u.to_string(),
        Err(_) => "the --push-gateway URL".into(),
    }
}

async fn push(url: &str, body: String) -> Result<(), String> {
    let (to, auth) = target(url)?;
    let tls = crate::clients::http::tls_config(false)?;
    let client = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(PUSH_TIMEOUT)
        .connect_timeout(PUSH_TIMEOUT)
        .build()
        .map_err(|e| e.to_string())?;
    let mut req = client
        .put(to)
        .header("Content-Type", "text/plain; version=0.0.4")
        .body(body);
    if let Some((user, password)) = auth {
        req = req.basic_auth(user, password);
    }
    let resp = req.send().await.map_err(|e| {
        if e.is_timeout() {
            format!("no answer within {}s", PUSH_TIMEOUT.as_secs())
        } else if e.is_connect() {
            "could not connect".to_string()
        } else {
            // reqwest's message names the URL, credentials already taken out.
            e.without_url().to_string()
        }
    })?;
    let status = resp.status();
    if status.is_success() {
        return Ok(());
    }
    let text = resp.text().await.unwrap_or_default();
    let text: String = text.trim().chars().take(300).collect();
    Err(format!("HTTP {}: {}", status.as_u16(), text))
}

impl Reporter for Pushed {
    fn finish(
        &mut self,
        report: &RunReport,
        exit: ExitStatus,
        _stdout: &mut String,
    ) -> Result<(), ReportError> {
        let body = render_prometheus(report, exit);
        let failed = |why: String| ReportError::Push {
            url: shown(&self.url),
            why,
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| failed(format!("no async runtime: {e}")))?;
        rt.block_on(push(&self.url, body)).map_err(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_group_is_kfchecks_unless_the_url_names_one_and_credentials_are_never_shown() {
        let (u, auth) = target("http://user:pw@pgw.example:9091").unwrap();
        assert_eq!(u.as_str(), "http://pgw.example:9091/metrics/job/kfcheck");
        assert_eq!(auth, Some(("user".into(), Some("pw".into()))));
        let (u, auth) =
            target("https://pgw.example/prefix/metrics/job/nightly/cluster/prod").unwrap();
        assert_eq!(u.path(), "/prefix/metrics/job/nightly/cluster/prod");
        assert_eq!(auth, None);
        assert!(!shown("http://user:secret@pgw:9091").contains("secret"));
        assert!(target("ftp://pgw").is_err());
        assert!(target("not a url").is_err());
    }
}
