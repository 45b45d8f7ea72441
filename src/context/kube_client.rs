//! Building the Kubernetes client from the kubeconfig the user meant, without printing any
//! credential in it, and checking once that the API server answers.

use super::{NeedError, Settings};
use kube::config::{KubeConfigOptions, Kubeconfig};
use std::path::PathBuf;
use std::time::Duration;

const REACH_TIMEOUT: Duration = Duration::from_secs(10);

/// Where the client configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Source {
    /// A kubeconfig file; `explicit` when named by --kubeconfig or KUBECONFIG.
    File {
        path: PathBuf,
        explicit: bool,
    },
    InCluster,
}

pub(crate) fn find_source(s: &Settings) -> Result<Source, NeedError> {
    if let Some(p) = &s.kubeconfig {
        return match crate::clients::files::check_regular(p) {
            Ok(()) => Ok(Source::File {
                path: p.clone(),
                explicit: true,
            }),
            Err(e) => Err(NeedError::Broken(format!(
                "kubeconfig {} {e} (from --kubeconfig)",
                p.display()
            ))),
        };
    }
    if let Some(v) = &s.env.kubeconfig {
        let paths: Vec<PathBuf> = std::env::split_paths(v).collect();
        return match paths.iter().find(|p| p.is_file()) {
            Some(p) => Ok(Source::File {
                path: p.clone(),
                explicit: true,
            }),
            None => Err(NeedError::Broken(format!(
                "no file named in KUBECONFIG exists ({})",
                v.to_string_lossy()
            ))),
        };
    }
    if let Some(home) = &s.env.home {
        let p = home.join(".kube/config");
        if p.is_file() {
            return Ok(Source::File {
                path: p,
                explicit: false,
            });
        }
    }
    if s.env.in_cluster {
        return Ok(Source::InCluster);
    }
    Err(NeedError::Missing(
        "no kubeconfig found (set --kubeconfig or KUBECONFIG, or run in a pod)".into(),
    ))
}

/// A kubeconfig larger than this is not one (real ones are kilobytes, a few MiB with many
/// embedded certificates).
const KUBECONFIG_LIMIT: u64 = 16 << 20;

/// Reads and parses a kubeconfig without ever quoting it: the YAML parser's message excerpts the
/// offending line, which in a kubeconfig is often a token or a key, so only its position is kept.
/// (kube's own reader is kept for what it does besides parsing: relative paths made absolute.)
fn read_kubeconfig(path: &std::path::Path) -> Result<Kubeconfig, String> {
    use crate::clients::files;
    files::check_regular(path).map_err(|e| e.to_string())?;
    if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) > KUBECONFIG_LIMIT {
        return Err(files::FileError::TooBig(files::limit_text(KUBECONFIG_LIMIT)).to_string());
    }
    Kubeconfig::read_from(path).map_err(|e| match e {
        kube::config::KubeconfigError::ReadConfig(io, _) => io.to_string(),
        _ => {
            let text = files::read_text_capped(path, KUBECONFIG_LIMIT).unwrap_or_default();
            let at = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&text)
                .err()
                .and_then(|e| e.location())
                .map(|l| format!(" (at line {}, column {})", l.line(), l.column()))
                .unwrap_or_default();
            format!("not a valid kubeconfig{at}; its text is not shown, as it may hold credentials")
        }
    })
}

pub(crate) async fn connect(s: &Settings) -> Result<(kube::Client, String), NeedError> {
    connect_identified(s).await.map(|(c, d, _)| (c, d))
}

/// [`connect`], and which cluster it is: the context, the server and its version.
pub(crate) async fn connect_identified(
    s: &Settings,
) -> Result<(kube::Client, String, crate::model::ClusterIdentity), NeedError> {
    let source = find_source(s)?;
    let context;
    let (config, what) = match &source {
        Source::File { path, .. } => {
            let kc = read_kubeconfig(path).map_err(|e| {
                NeedError::Broken(format!("cannot read kubeconfig {}: {e}", path.display()))
            })?;
            context = s.context.clone().or_else(|| kc.current_context.clone());
            let opts = KubeConfigOptions {
                context: s.context.clone(),
                ..KubeConfigOptions::default()
            };
            let config = kube::Config::from_custom_kubeconfig(kc, &opts)
                .await
                .map_err(|e| {
                    NeedError::Broken(format!(
                        "kubeconfig {}: {}",
                        path.display(),
                        crate::clients::redact::redact(&e.to_string())
                    ))
                })?;
            (config, format!("kubeconfig {}", path.display()))
        }
        Source::InCluster => {
            let config = kube::Config::incluster()
                .map_err(|e| NeedError::Broken(format!("in-cluster configuration: {e}")))?;
            context = Some("in-cluster".into());
            (config, "in-cluster service account".to_string())
        }
    };
    let mut config = config;
    if let Some(ns) = &s.namespace {
        config.default_namespace = ns.clone();
    }
    let url = shown_url(&config.cluster_url);
    let client = build(config)
        .map_err(|e| NeedError::Broken(format!("cannot build a client for {url}: {e}")))?;
    match tokio::time::timeout(REACH_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(v)) => Ok((
            client,
            format!("Kubernetes {} at {url} ({what})", v.git_version),
            crate::model::ClusterIdentity {
                context,
                server: url.clone(),
                kubernetes_version: v.git_version.clone(),
                kfp_version: None,
            },
        )),
        Ok(Err(e)) => Err(NeedError::Broken(format!(
            "cannot reach the Kubernetes API at {url}: {}",
            describe(&e)
        ))),
        Err(_) => Err(NeedError::Broken(format!(
            "cannot reach the Kubernetes API at {url}: no answer within {}s",
            REACH_TIMEOUT.as_secs()
        ))),
    }
}

/// kube's own client stack (base URL, retries of 429/503, authentication, impersonation headers)
/// on a connector that sets `TCP_NODELAY`. kube's default leaves Nagle's algorithm on, so the
/// request written after a new connection's TLS handshake waits for the server's delayed ACK
/// (about 40 ms on Linux): once for every fresh connection, e.g. the first request after a watch
/// ends. Certificates an exec plugin returns still authenticate the connection; they are not
/// renewed during a run (runs are short).
pub(crate) fn build(config: kube::Config) -> Result<kube::Client, kube::Error> {
    use kube::client::ConfigExt as _;
    // A proxy (kubeconfig `proxy-url`): kube's own builder says what it makes of it.
    if config.proxy_url.is_some() {
        return kube::Client::try_from(config);
    }
    use tower::ServiceBuilder;
    let mut tcp = hyper_util::client::legacy::connect::HttpConnector::new();
    tcp.enforce_http(false);
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(config.connect_timeout);
    let https = config.rustls_https_connector_with_connector(tcp)?;
    let http: hyper_util::client::legacy::Client<_, kube::client::Body> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(https);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(config.default_retry.then(|| {
            tower::retry::RetryLayer::new(kube::client::retry::RetryPolicy::server_retry())
        }))
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
        .service(http);
    Ok(kube::Client::new(service, config.default_namespace))
}

/// A server URL as it may be shown: without user-info (`https://user:password@host`) or query.
fn shown_url(u: &http::Uri) -> String {
    let host = u
        .authority()
        .map(|a| {
            a.as_str()
                .rsplit('@')
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .unwrap_or_default();
    format!("{}://{host}{}", u.scheme_str().unwrap_or("https"), u.path())
}

pub use crate::clients::errors::describe_kube as describe;

#[cfg(test)]
mod tests {
    use super::*;

    /// One HTTP exchange on loopback: what the client sent, and a Kubernetes version answered.
    async fn one_exchange() -> (String, tokio::task::JoinHandle<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let served = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut buf = vec![0u8; 8192];
            let mut got = 0;
            while !buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                let n = s.read(&mut buf[got..]).await.unwrap();
                assert!(n > 0, "closed before the request ended");
                got += n;
            }
            let body = r#"{"major":"1","minor":"33","gitVersion":"v1.33.0","gitCommit":"x","gitTreeState":"clean","buildDate":"2026-01-01T00:00:00Z","goVersion":"go1.24","compiler":"gc","platform":"linux/amd64"}"#;
            let answer = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
            s.write_all(answer.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&buf[..got]).to_string()
        });
        (format!("http://{addr}/prefix"), served)
    }

    #[tokio::test]
    async fn the_client_keeps_kubes_base_path_and_authentication() {
        let (url, served) = one_exchange().await;
        let mut config = kube::Config::new(url.parse().unwrap());
        config.auth_info.token = Some("CANARY-token".to_string().into());
        let client = build(config).unwrap();
        let v = client.apiserver_version().await.unwrap();
        assert_eq!(v.git_version, "v1.33.0");
        let request = served.await.unwrap();
        assert!(request.starts_with("GET /prefix/version "), "{request}");
        assert!(
            request
                .to_ascii_lowercase()
                .contains("authorization: bearer canary-token"),
            "{request}"
        );
    }

    #[test]
    fn a_proxy_is_left_to_kubes_own_builder() {
        let mut config = kube::Config::new("https://10.0.0.1".parse().unwrap());
        config.proxy_url = Some("http://127.0.0.1:3128".parse().unwrap());
        // Built without kube's proxy features: refused, as kube's builder refuses it.
        let e = build(config).err().expect("a proxy is refused");
        assert!(e.to_string().contains("proxy"), "{e}");
    }

    #[test]
    fn no_configuration_at_all_is_missing() {
        let s = Settings::default();
        assert!(
            matches!(find_source(&s), Err(NeedError::Missing(m)) if m.starts_with("no kubeconfig found"))
        );
        let s = Settings {
            env: super::super::Env {
                kubeconfig: Some("/nope/a:/nope/b".into()),
                ..Default::default()
            },
            ..Settings::default()
        };
        assert!(
            matches!(find_source(&s), Err(NeedError::Broken(m)) if m.contains("no file named in KUBECONFIG exists"))
        );
    }

    #[test]
    fn server_urls_are_shown_without_user_info() {
        let u: http::Uri = "https://admin:CANARY-pw@10.0.0.1:6443/".parse().unwrap();
        assert_eq!(shown_url(&u), "https://10.0.0.1:6443/");
        assert_eq!(
            shown_url(&"https://127.0.0.1:6443".parse().unwrap()),
            "https://127.0.0.1:6443/"
        );
    }

    #[test]
    fn explicit_missing_kubeconfig_is_broken_not_missing() {
        let s = Settings {
            kubeconfig: Some("/nonexistent/kubeconfig".into()),
            ..Settings::default()
        };
        assert_eq!(
            find_source(&s),
            Err(NeedError::Broken(
                "kubeconfig /nonexistent/kubeconfig does not exist (from --kubeconfig)".into()
            ))
        );
    }

    #[tokio::test]
    async fn malformed_kubeconfig_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config");
        std::fs::write(&p, "apiVersion: v1\nclusters: [\n").unwrap();
        let s = Settings {
            kubeconfig: Some(p.clone()),
            ..Settings::default()
        };
        let Err(NeedError::Broken(m)) = connect(&s).await else {
            panic!("expected broken")
        };
        assert!(
            m.starts_with(&format!("cannot read kubeconfig {}", p.display())),
            "{m}"
        );
    }

    #[tokio::test]
    async fn a_kubeconfig_that_fails_to_parse_is_never_quoted() {
        // The YAML parser's excerpt of the offending line would carry the token.
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config");
        std::fs::write(
            &p,
            "apiVersion: v1\nusers:\n- name: u\n  user: {token: CANARY-kubeconfig-token-5d1f\n",
        )
        .unwrap();
        let s = Settings {
            kubeconfig: Some(p.clone()),
            ..Settings::default()
        };
        let Err(NeedError::Broken(m)) = connect(&s).await else {
            panic!("expected broken")
        };
        assert!(!m.contains("CANARY"), "{m}");
        assert!(m.contains("not a valid kubeconfig (at line"), "{m}");
    }

    #[test]
    fn a_kubeconfig_that_is_not_a_regular_file_is_named_for_what_it_is() {
        let d = tempfile::tempdir().unwrap();
        let fifo = d.path().join("fifo");
        assert!(std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success());
        let s = Settings {
            kubeconfig: Some(fifo.clone()),
            ..Settings::default()
        };
        assert_eq!(
            find_source(&s),
            Err(NeedError::Broken(format!(
                "kubeconfig {} is a FIFO, not a regular file; not read (from --kubeconfig)",
                fifo.display()
            )))
        );
        let s = Settings {
            kubeconfig: Some(d.path().to_path_buf()),
            ..Settings::default()
        };
        assert!(
            matches!(find_source(&s), Err(NeedError::Broken(m)) if m.contains("is a directory"))
        );
    }

    #[tokio::test]
    async fn unknown_context_and_unreachable_server_are_clear_errors() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config");
        std::fs::write(
            &p,
            "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: x\n  cluster: {server: 'https://127.0.0.1:1'}\ncontexts:\n- name: c\n  context: {cluster: x, user: u}\nusers:\n- name: u\n  user: {token: not-a-real-token}\n",
        )
        .unwrap();
        let s = Settings {
            kubeconfig: Some(p.clone()),
            context: Some("nope".into()),
            ..Settings::default()
        };
        let Err(NeedError::Broken(m)) = connect(&s).await else {
            panic!("expected broken")
        };
        assert!(m.contains("nope"), "{m}");
        let s = Settings {
            kubeconfig: Some(p),
            ..Settings::default()
        };
        let Err(NeedError::Broken(m)) = connect(&s).await else {
            panic!("expected broken")
        };
        assert!(
            m.starts_with("cannot reach the Kubernetes API at https://127.0.0.1:1/"),
            "{m}"
        );
        assert!(
            !m.contains("not-a-real-token"),
            "credentials must not leak: {m}"
        );
    }
}
