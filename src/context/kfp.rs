//! The `kfp` need: which KFP endpoint, as whom, in which namespace. Not configured (no
//! endpoint, not in a cluster) is *missing*; an endpoint that does not answer, a TLS failure, or
//! credentials refused with 401/403 is *broken*. Credentials are never part of a message.

use super::{NeedError, Settings};
use crate::clients::dex::dex_login;
use crate::clients::kfp::{Auth, ConnectOptions, KfpClient, KfpError, Secret};
use crate::clients::portforward::{ForwardError, PortForward, ServiceRef};
use base64::Engine as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The audience the KFP API server's TokenReview requires of bearer tokens sent to it directly.
pub const KFP_AUDIENCE: &str = "pipelines.kubeflow.org";
/// Where `kfp.Client()` finds its token in a pod (the PodDefault `access-ml-pipeline`).
const POD_TOKEN_PATH: &str = "/var/run/secrets/kubeflow/pipelines/token";
const POD_NAMESPACE_PATH: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
const IN_CLUSTER_ENDPOINT: &str = "http://ml-pipeline.kubeflow.svc.cluster.local:8888";

/// Every KFP object kfcheck creates is named `kfcheck-<run id>-…`: that is how the janitor and
/// `kfcheck cleanup` find it (KFP objects carry no labels).
pub fn kfp_name(run_id: &str, what: &str) -> String {
    format!("kfcheck-{run_id}-{what}")
}

/// Whether `name` is one of kfcheck's (of run `run_id` when given): `kfcheck-` and a run id of
/// ten hex digits, then `-`. A user's `kfcheck-demo` pipeline does not match.
pub fn is_kfcheck_name(name: &str, run_id: Option<&str>) -> bool {
    let Some(rest) = name.strip_prefix("kfcheck-") else {
        return false;
    };
    let Some((id, _)) = rest.split_once('-') else {
        return false;
    };
    match run_id {
        Some(r) => id == r,
        None => {
            id.len() == 10
                && id
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        }
    }
}

/// KFP settings from the global flags.
#[derive(Debug, Clone, Default)]
pub struct KfpSettings {
    pub endpoint: Option<String>,
    pub token: Option<Secret>,
    pub token_file: Option<PathBuf>,
    pub cookie: Option<Secret>,
    pub user_id: Option<String>,
    /// A Dex static user and password, logged in through the gateway.
    pub dex_user: Option<String>,
    pub dex_password: Option<Secret>,
    /// `NAMESPACE/NAME` of a ServiceAccount to mint a token for (TokenRequest API).
    pub service_account: Option<String>,
    pub namespace: Option<String>,
    /// A token of an identity that must not reach the namespace (isolation check).
    pub isolation_token: Option<Secret>,
    pub insecure_skip_tls_verify: bool,
    pub request_timeout: Option<Duration>,
    /// The Service to port-forward to when no endpoint is given (default kubeflow/ml-pipeline:8888).
    pub service: Option<ServiceRef>,
    pub no_port_forward: bool,
}

impl KfpSettings {
    /// The Service kfcheck port-forwards to.
    pub fn service(&self) -> ServiceRef {
        self.service.clone().unwrap_or_else(|| ServiceRef {
            namespace: "kubeflow".into(),
            name: "ml-pipeline".into(),
            port: 8888,
        })
    }

    /// Whether the endpoint comes from a port-forward kfcheck opens (so the need needs the
    /// Kubernetes API).
    pub fn forwards(&self, in_cluster: bool) -> bool {
        self.endpoint.is_none() && !in_cluster && !self.no_port_forward
    }
}

/// A connected KFP API, as the checks see it.
#[derive(Debug, Clone)]
pub struct Kfp {
    pub client: KfpClient,
    /// The profile namespace experiments go to (multi-user); `None` in single-user mode or when
    /// nobody said.
    pub namespace: Option<String>,
    pub multi_user: bool,
    pub isolation_token: Option<Secret>,
    /// The port-forward the endpoint goes through, held open as long as any clone of this.
    pub forward: Option<Arc<PortForward>>,
    /// The cluster's profiles, when multi-user KFP has no namespace and there are several.
    pub profiles_hint: Option<String>,
}

impl Kfp {
    /// Why v2 pipelines cannot run here, if they cannot: only v1beta1 answers, or the server
    /// says it is KFP 1.x (through the UI proxy a 1.x server still answers the v2beta1 healthz).
    pub fn v2_unavailable(&self) -> Option<String> {
        let tag = self.client.health.tag_name.as_deref();
        let major = tag
            .and_then(crate::clients::kfp_spec::Version::parse)
            .map(|v| v.0);
        if self.client.v1_only {
            Some(
                "the KFP server serves only the v1beta1 API (KFP 1.x) and cannot run v2 pipelines"
                    .into(),
            )
        } else if major.is_some_and(|m| m < 2) {
            Some(format!(
                "the KFP server is {} (KFP 1.x) and cannot run v2 pipelines",
                tag.unwrap_or("?")
            ))
        } else {
            None
        }
    }

    /// The namespace to create in: required in multi-user mode.
    pub fn namespace_for_writes(&self) -> Result<Option<&str>, String> {
        match (&self.namespace, self.multi_user) {
            (Some(ns), true) => Ok(Some(ns)),
            (None, true) => Err(match &self.profiles_hint {
                Some(p) => format!("KFP runs in multi-user mode and no profile namespace is set (use --kfp-namespace or -n; the cluster's profiles: {p})"),
                None => "KFP runs in multi-user mode and no profile namespace is set (use --kfp-namespace or -n)".into(),
            }),
            (_, false) => Ok(None),
        }
    }
}

/// The namespace of a ServiceAccount token (`sub: system:serviceaccount:<ns>:<name>`), read
/// without verifying it: only a default for `--kfp-namespace`.
pub(crate) fn token_namespace(token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let sub = v.get("sub")?.as_str()?;
    let mut parts = sub.strip_prefix("system:serviceaccount:")?.split(':');
    parts.next().filter(|ns| !ns.is_empty()).map(String::from)
}

/// A token for `ns/name` with the KFP audience, from the Kubernetes TokenRequest API.
async fn mint_token(kube: kube::Client, sa: &str) -> Result<Secret, NeedError> {
    use k8s_openapi::api::authentication::v1::{TokenRequest, TokenRequestSpec};
    use k8s_openapi::api::core::v1::ServiceAccount;
    let Some((ns, name)) = sa.split_once('/') else {
        return Err(NeedError::Broken(format!(
            "--kfp-service-account {sa}: expected NAMESPACE/NAME"
        )));
    };
    let api: kube::Api<ServiceAccount> = kube::Api::namespaced(kube, ns);
    let req = TokenRequest {
        spec: TokenRequestSpec {
            audiences: vec![KFP_AUDIENCE.into()],
            expiration_seconds: Some(3600),
            bound_object_ref: None,
        },
        ..Default::default()
    };
    match api
        .create_token_request(name, &kube::api::PostParams::default(), &req)
        .await
    {
        Ok(r) => r.status.map(|s| Secret::new(s.token)).ok_or_else(|| {
            NeedError::Broken(format!("the TokenRequest for {sa} returned no token"))
        }),
        Err(kube::Error::Api(s)) if s.code == 403 => Err(NeedError::Broken(format!(
            "kfcheck lacks permission to create tokens for serviceaccount {sa}"
        ))),
        Err(e) => Err(NeedError::Broken(format!(
            "cannot mint a token for serviceaccount {sa}: {}",
            super::kube_client::describe(&e)
        ))),
    }
}

/// Why a need is broken, from a KFP error: 401 and 403 read differently.
fn broken(e: &KfpError, shown: &str, ns: Option<&str>) -> NeedError {
    NeedError::Broken(match e.status() {
        Some(401) => format!("KFP rejected kfcheck's credentials ({shown}) with 401: {}; the token or cookie may have expired", e.message()),
        Some(403) => format!("kfcheck ({shown}) lacks permission to list experiments in namespace {}: {}", ns.unwrap_or("?"), e.message()),
        _ => match e {
            KfpError::Redirect { .. } => format!("{e} ({shown})"),
            KfpError::Tls { .. } => format!("{e} (fix the certificate, point SSL_CERT_FILE at its CA, or pass --insecure-skip-tls-verify for a test cluster)"),
            _ => e.to_string(),
        },
    })
}

/// The Kubernetes API as the KFP need got it: `None` when it did not need it.
pub(crate) type KubeForKfp = Option<Result<kube::Client, NeedError>>;

const NO_ENDPOINT: &str = "no KFP endpoint configured (set --kfp-endpoint or KF_PIPELINES_ENDPOINT, or give kfcheck a kubeconfig and it port-forwards to --kfp-service, kubeflow/ml-pipeline:8888)";

/// The endpoint when none is given: a port-forward to the KFP Service through the Kubernetes API.
async fn forward(k: &KfpSettings, kube: &KubeForKfp) -> Result<PortForward, NeedError> {
    let svc = k.service();
    let client = match kube {
        Some(Ok(c)) => c.clone(),
        Some(Err(NeedError::Broken(m))) => {
            return Err(NeedError::Broken(format!(
                "cannot port-forward to KFP's service {svc}: the Kubernetes API is not usable: {m}"
            )))
        }
        _ => return Err(NeedError::Missing(NO_ENDPOINT.into())),
    };
    PortForward::start(client, svc.clone()).await.map_err(|e| match e {
        ForwardError::NoService(m) => NeedError::Missing(format!(
            "no KFP endpoint configured and {m} in the cluster (set --kfp-endpoint, or --kfp-service where KFP's API Service has another name)"
        )),
        ForwardError::Failed(m) => NeedError::Broken(format!("cannot port-forward to KFP's service {svc}: {m} (or set --kfp-endpoint)")),
    })
}

/// The names of the cluster's Kubeflow profiles (each is its namespace), sorted; `None` when they
/// cannot be listed (no CRD, no permission): then nothing is guessed.
async fn profile_names(kube: kube::Client) -> Option<Vec<String>> {
    let ar = super::resources::profile_resource();
    let api: kube::Api<kube::api::DynamicObject> = kube::Api::all_with(kube, &ar);
    let list = api
        .list_metadata(&kube::api::ListParams::default())
        .await
        .ok()?;
    let mut names: Vec<String> = list
        .items
        .into_iter()
        .filter_map(|p| p.metadata.name)
        .collect();
    names.sort();
    Some(names)
}

/// The ServiceAccount whose token kfcheck uses through its own port-forward when no credential
/// is given: the profile's `default-editor`, the identity its notebooks call KFP with.
const PROFILE_EDITOR: &str = "default-editor";

/// How long the whole need may take (port-forward, sign-in, healthz probes, identity probe):
/// twice the request timeout and the connect timeout. Each request is bounded by itself; this
/// bounds their sum, so a server that answers each request just in time cannot hold the run.
fn need_budget(k: &KfpSettings) -> Duration {
    2 * k.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT) + Duration::from_secs(10)
}

const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The `kfp` need, within [`need_budget`] (the runner's deadline bounds it as well).
pub(crate) async fn connect(s: &Settings, kube: KubeForKfp) -> Result<(Kfp, String), NeedError> {
    let budget = need_budget(&s.kfp);
    match tokio::time::timeout(budget, connect_unbounded(s, kube)).await {
        Ok(r) => r,
        Err(_) => Err(NeedError::Broken(format!(
            "KFP at {} did not finish answering kfcheck's first requests within {}s (--kfp-request-timeout {}s each)",
            s.kfp.endpoint.as_deref().unwrap_or("the port-forward"),
            budget.as_secs(),
            s.kfp.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT).as_secs()
        ))),
    }
}

async fn connect_unbounded(s: &Settings, kube: KubeForKfp) -> Result<(Kfp, String), NeedError> {
    let k = &s.kfp;
    let mut forwarded = None;
    let (endpoint, in_cluster) = match (&k.endpoint, s.env.in_cluster) {
        (Some(e), _) => (e.clone(), false),
        (None, true) => (IN_CLUSTER_ENDPOINT.to_string(), true),
        (None, false) if k.no_port_forward => {
            return Err(NeedError::Missing(format!(
                "{NO_ENDPOINT}; --no-kfp-port-forward is set"
            )))
        }
        (None, false) => {
            let pf = forward(k, &kube).await?;
            let url = format!("http://{}", pf.local);
            forwarded = Some(Arc::new(pf));
            (url, false)
        }
    };
    if !endpoint.starts_with("http://") && !endpoint.starts_with("https://") {
        return Err(NeedError::Broken(format!(
            "--kfp-endpoint {endpoint}: expected an http:// or https:// URL"
        )));
    }
    let kube_client = || match &kube {
        Some(Ok(c)) => Some(c.clone()),
        _ => None,
    };
    let read_token = |p: &PathBuf| {
        // A token is at most a few KiB (a projected ServiceAccount token ~1 KiB); a FIFO would block.
        crate::clients::files::read_text_capped(p, 64 << 10)
            .map(|t| Secret::new(t.trim()))
            .map_err(|e| NeedError::Broken(format!("the KFP token file {} {e}", p.display())))
    };
    let auth = if let Some(u) = &k.user_id {
        Auth::UserId(u.clone())
    } else if let Some(t) = &k.token {
        Auth::Bearer(t.clone())
    } else if let Some(p) = &k.token_file {
        Auth::Bearer(read_token(p)?)
    } else if let Some(sa) = &k.service_account {
        let Some(kube) = kube_client() else {
            return Err(NeedError::Broken(format!("--kfp-service-account {sa} needs a Kubernetes API to mint the token (see --kubeconfig)")));
        };
        Auth::Bearer(mint_token(kube, sa).await?)
    } else if let Some(c) = &k.cookie {
        Auth::Cookie(c.clone())
    } else if let Some(user) = &k.dex_user {
        let Some(password) = &k.dex_password else {
            return Err(NeedError::Broken(
                "--kfp-dex-user needs a password (KFP_DEX_PASSWORD)".into(),
            ));
        };
        let opts = ConnectOptions {
            endpoint: endpoint.clone(),
            auth: Auth::None,
            insecure_skip_tls_verify: k.insecure_skip_tls_verify,
            request_timeout: k.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT),
            retries: 0,
        };
        let cookie = dex_login(&opts, user, password)
            .await
            .map_err(|e| NeedError::Broken(format!("Dex login as {user} failed: {e}")))?;
        Auth::Cookie(cookie)
    } else if in_cluster && std::path::Path::new(POD_TOKEN_PATH).is_file() {
        Auth::Bearer(read_token(&PathBuf::from(POD_TOKEN_PATH))?)
    } else {
        Auth::None
    };
    let mut namespace = k
        .namespace
        .clone()
        .or_else(|| s.namespace.clone())
        .or_else(|| {
            k.service_account
                .as_ref()
                .and_then(|sa| sa.split_once('/').map(|(ns, _)| ns.to_string()))
        })
        .or_else(|| match &auth {
            Auth::Bearer(t) => token_namespace(t.expose()),
            _ => None,
        })
        // In a pod, like kfp.Client(): the pod's own namespace (a profile namespace for notebooks).
        .or_else(|| {
            in_cluster
                .then(|| std::fs::read_to_string(POD_NAMESPACE_PATH).ok())
                .flatten()
                .map(|n| n.trim().to_string())
                .filter(|n| !n.is_empty())
        });
    let opts = ConnectOptions {
        endpoint: endpoint.clone(),
        auth: auth.clone(),
        insecure_skip_tls_verify: k.insecure_skip_tls_verify,
        request_timeout: k.request_timeout.unwrap_or(DEFAULT_REQUEST_TIMEOUT),
        retries: 3,
    };
    let via = |e: NeedError| match (&forwarded, e) {
        (Some(pf), NeedError::Broken(m)) => NeedError::Broken(match pf.last_error() {
            Some(last) => format!(
                "{m} (through kfcheck's port-forward to {}: {last})",
                pf.pod()
            ),
            None => format!("{m} (through kfcheck's port-forward to {})", pf.pod()),
        }),
        (_, e) => e,
    };
    let mut client = KfpClient::connect(opts)
        .await
        .map_err(|e| via(broken(&e, &auth.describe(), namespace.as_deref())))?;
    let multi_user = client.health.multi_user.unwrap_or(false);
    // Multi-user with no namespace said: a cluster with exactly one profile (a fresh install's
    // kubeflow-user-example-com) has only one answer; with several, name them.
    let mut namespace_note = "";
    let mut profiles_hint = None;
    if let (true, None, Some(kube)) = (multi_user, &namespace, kube_client()) {
        match profile_names(kube).await {
            Some(names) if names.len() == 1 => {
                namespace = names.into_iter().next();
                namespace_note = ", the only profile";
            }
            Some(names) if !names.is_empty() => profiles_hint = Some(names.join(", ")),
            _ => {}
        }
    }
    let mut auth_shown = auth.describe();
    // Straight at ml-pipeline with no credential given, multi-user KFP answers nothing without
    // an identity: use the profile's default-editor, as a notebook in that profile would.
    if let (Some(_), Auth::None, true, Some(ns), Some(kube)) =
        (&forwarded, &auth, multi_user, &namespace, kube_client())
    {
        let sa = format!("{ns}/{PROFILE_EDITOR}");
        let token = mint_token(kube, &sa).await.map_err(|e| {
            NeedError::Broken(format!(
                "KFP is multi-user and no credential was given, so kfcheck asked for a token of {sa} (what notebooks in the profile use): {}; give --kfp-service-account, --kfp-token or --kfp-user-id",
                e.reason()
            ))
        })?;
        client = client.with_auth(Auth::Bearer(token));
        auth_shown = format!("a token minted for {sa}");
    }
    // In multi-user mode, prove the identity once here, so that a bad token reads as one clear
    // broken need instead of the same 401 in every check.
    if multi_user && client.health.api_server_ready && !client.v1_only {
        if let Some(ns) = &namespace {
            match client
                .list_experiments(Some(ns), "kfcheck-identity-probe")
                .await
            {
                Ok(_) => {}
                Err(e)
                    if matches!(e.status(), Some(401 | 403))
                        || matches!(e, KfpError::Redirect { .. }) =>
                {
                    return Err(broken(&e, &auth_shown, Some(ns)))
                }
                // Anything else (5xx, a slow server) is for the checks to report.
                Err(_) => {}
            }
        }
    }
    let version = client
        .health
        .tag_name
        .clone()
        .unwrap_or_else(|| "(version not reported)".into());
    let desc = format!(
        "KFP {version} at {}{} ({}, {}, {}{})",
        client.base(),
        forwarded
            .as_ref()
            .map(|pf| format!(
                " through kfcheck's port-forward to pod {} of service {}",
                pf.pod(),
                pf.service
            ))
            .unwrap_or_default(),
        if client.health.via_ui {
            "through the UI proxy"
        } else {
            "direct API"
        },
        if multi_user {
            "multi-user"
        } else {
            "single-user"
        },
        auth_shown,
        namespace
            .as_ref()
            .map(|n| format!(", namespace {n}{namespace_note}"))
            .unwrap_or_default()
    );
    Ok((
        Kfp {
            client,
            namespace,
            multi_user,
            isolation_token: k.isolation_token.clone(),
            forward: forwarded,
            profiles_hint,
        },
        desc,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_kfcheck_names_match() {
        let n = kfp_name("0123456789", "kfp-cpu-sample");
        assert!(is_kfcheck_name(&n, None) && is_kfcheck_name(&n, Some("0123456789")));
        assert!(!is_kfcheck_name(&n, Some("abcdefabcd")));
        for other in [
            "kfcheck-demo",
            "kfcheck-demo-pipeline",
            "my-kfcheck-0123456789-x",
            "kfcheck-0123456789",
            "kfcheck-ABCDEF0123-x",
        ] {
            assert!(!is_kfcheck_name(other, None), "{other}");
        }
    }

    #[test]
    fn a_service_account_token_names_its_namespace() {
        let enc = |s: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        let t = format!(
            "{}.{}.sig",
            enc(r#"{"alg":"RS256"}"#),
            enc(r#"{"sub":"system:serviceaccount:team-gpu:default-editor"}"#)
        );
        assert_eq!(token_namespace(&t).as_deref(), Some("team-gpu"));
        let user = format!("h.{}.s", enc(r#"{"sub":"alice@example.com"}"#));
        assert_eq!(token_namespace(&user), None);
        assert_eq!(token_namespace("opaque-token"), None);
    }

    /// One canned answer from a stand-in API server; returns what was asked.
    async fn answer_once(
        status: &'static str,
        body: &'static str,
    ) -> (String, tokio::task::JoinHandle<String>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut req = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = sock.read(&mut buf).await.unwrap();
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= len || n == 0 {
                        break;
                    }
                }
            }
            let resp = format!("HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len());
            sock.write_all(resp.as_bytes()).await.unwrap();
            String::from_utf8_lossy(&req).to_string()
        });
        (url, task)
    }

    #[tokio::test]
    async fn a_token_is_minted_for_the_service_account_with_the_kfp_audience() {
        let (url, seen) = answer_once(
            "201 Created",
            r#"{"apiVersion":"authentication.k8s.io/v1","kind":"TokenRequest","spec":{"audiences":["pipelines.kubeflow.org"]},"status":{"token":"minted-token","expirationTimestamp":"2030-01-01T00:00:00Z"}}"#,
        )
        .await;
        let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        let t = mint_token(client, "team-a/default-editor").await.unwrap();
        assert_eq!(t.expose(), "minted-token");
        let req = seen.await.unwrap();
        assert!(
            req.starts_with("POST /api/v1/namespaces/team-a/serviceaccounts/default-editor/token"),
            "{req}"
        );
        assert!(
            req.contains(r#""audiences":["pipelines.kubeflow.org"]"#),
            "{req}"
        );
        let (url, _) = answer_once("403 Forbidden", r#"{"kind":"Status","apiVersion":"v1","status":"Failure","message":"forbidden","reason":"Forbidden","code":403}"#).await;
        let client = kube::Client::try_from(kube::Config::new(url.parse().unwrap())).unwrap();
        let Err(NeedError::Broken(m)) = mint_token(client, "team-a/default-editor").await else {
            panic!("expected broken")
        };
        assert_eq!(
            m,
            "kfcheck lacks permission to create tokens for serviceaccount team-a/default-editor"
        );
        assert!(
            matches!(mint_token(kube::Client::try_from(kube::Config::new("http://127.0.0.1:1".parse().unwrap())).unwrap(), "no-slash").await, Err(NeedError::Broken(m)) if m.contains("expected NAMESPACE/NAME"))
        );
    }

    #[tokio::test]
    async fn not_configured_is_missing_and_a_bad_url_is_broken() {
        let s = Settings::default();
        let Err(NeedError::Missing(m)) = connect(&s, None).await else {
            panic!("expected missing")
        };
        assert!(m.starts_with("no KFP endpoint configured"), "{m}");
        let mut s = Settings::default();
        s.kfp.endpoint = Some("localhost:8888".into());
        assert!(
            matches!(connect(&s, None).await, Err(NeedError::Broken(m)) if m.contains("expected an http"))
        );
        s.kfp.endpoint = Some("http://127.0.0.1:1".into());
        s.kfp.token = Some(Secret::new("secret-token-value"));
        let Err(NeedError::Broken(m)) = connect(&s, None).await else {
            panic!("expected broken")
        };
        assert!(m.starts_with("cannot connect to http://127.0.0.1:1"), "{m}");
        assert!(!m.contains("secret-token-value"));
    }

    #[tokio::test]
    async fn without_an_endpoint_the_port_forward_needs_a_usable_kubernetes_api() {
        let s = Settings::default();
        assert!(s.kfp.forwards(false) && !s.kfp.forwards(true));
        let broken = Some(Err(NeedError::Broken("kubeconfig /x: no such file".into())));
        let Err(NeedError::Broken(m)) = connect(&s, broken).await else {
            panic!("expected broken")
        };
        assert_eq!(m, "cannot port-forward to KFP's service kubeflow/ml-pipeline:8888: the Kubernetes API is not usable: kubeconfig /x: no such file");
        let missing = Some(Err(NeedError::Missing("no kubeconfig found".into())));
        assert!(
            matches!(connect(&s, missing).await, Err(NeedError::Missing(m)) if m.starts_with("no KFP endpoint configured"))
        );
        let mut s = Settings::default();
        s.kfp.no_port_forward = true;
        assert!(!s.kfp.forwards(false));
        let Err(NeedError::Missing(m)) =
            connect(&s, Some(Err(NeedError::Broken("x".into())))).await
        else {
            panic!("expected missing")
        };
        assert!(m.ends_with("--no-kfp-port-forward is set"), "{m}");
    }
}
