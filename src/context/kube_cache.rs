//! Cluster state listed once per resource type (and namespace or selector), paginated, and shared
//! by every check of a run: no check issues its own GETs for objects another check already
//! listed, and the number of requests does not grow with the number of objects.

use kube::api::{Api, ApiResource, DynamicObject, ListParams};
use kube::Resource;
use serde::de::DeserializeOwned;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

type Slot = Arc<OnceCell<Result<Arc<dyn Any + Send + Sync>, Arc<kube::Error>>>>;

/// One list per (type, scope, selectors) for the whole run.
#[derive(Default)]
pub struct KubeCache {
    slots: Mutex<HashMap<(TypeId, String), Slot>>,
    requests: std::sync::atomic::AtomicUsize,
}

const PAGE: u32 = 500;

/// Pages one list may take (200,000 objects at [`PAGE`] each): a server that hands out
/// continue tokens without end ends the list with an error, not a loop.
const MAX_PAGES: usize = 400;

/// What a listed type must be.
pub trait Listable: DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static {}
impl<T: DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static> Listable for T {}

/// Label and field selectors of a list (`None`: everything).
#[derive(Debug, Clone, Copy, Default)]
pub struct Selectors<'a> {
    pub labels: Option<&'a str>,
    pub fields: Option<&'a str>,
}

impl<'a> Selectors<'a> {
    pub fn labels(s: &'a str) -> Self {
        Selectors {
            labels: Some(s),
            fields: None,
        }
    }

    /// Only the objects with this name (`metadata.name=`), in every namespace listed. RBAC
    /// `resourceNames` rules authorise such lists, which keeps kfcheck's role narrow.
    pub fn name(field: &'a str) -> Self {
        Selectors {
            labels: None,
            fields: Some(field),
        }
    }

    fn key(&self) -> String {
        format!(
            "l={}|f={}",
            self.labels.unwrap_or(""),
            self.fields.unwrap_or("")
        )
    }

    fn params(&self) -> ListParams {
        let mut p = ListParams::default().limit(PAGE);
        if let Some(l) = self.labels {
            p = p.labels(l);
        }
        if let Some(f) = self.fields {
            p = p.fields(f);
        }
        p
    }
}

impl KubeCache {
    /// Every object of a namespaced type `K` in `namespace`, listed once, page by page.
    pub async fn namespaced<K>(
        &self,
        client: &kube::Client,
        namespace: &str,
    ) -> Result<Arc<Vec<K>>, Arc<kube::Error>>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope> + Listable,
    {
        self.list(format!("ns={namespace}"), Selectors::default(), || {
            Api::namespaced(client.clone(), namespace)
        })
        .await
    }

    /// Every object of a cluster-scoped type `K`, listed once, page by page.
    pub async fn cluster<K>(&self, client: &kube::Client) -> Result<Arc<Vec<K>>, Arc<kube::Error>>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::ClusterResourceScope> + Listable,
    {
        self.list("cluster".into(), Selectors::default(), || {
            Api::all(client.clone())
        })
        .await
    }

    /// The objects of a namespaced type `K` in every namespace that match `sel`: one list for
    /// the whole cluster rather than one per namespace.
    pub async fn all_namespaces<K>(
        &self,
        client: &kube::Client,
        sel: Selectors<'_>,
    ) -> Result<Arc<Vec<K>>, Arc<kube::Error>>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope> + Listable,
    {
        self.list("all".into(), sel, || Api::all(client.clone()))
            .await
    }

    /// Objects of a custom resource (cluster-scoped, or namespaced in every namespace).
    pub async fn dynamic(
        &self,
        client: &kube::Client,
        ar: &ApiResource,
        sel: Selectors<'_>,
    ) -> Result<Arc<Vec<DynamicObject>>, Arc<kube::Error>> {
        let scope = format!("dyn={}/{}/{}", ar.group, ar.version, ar.plural);
        let slot = self.slot::<DynamicObject>(scope, sel);
        let api: Api<DynamicObject> = Api::all_with(client.clone(), ar);
        self.fill(slot, api, sel).await
    }

    /// List requests sent so far (for `-v` and the benchmark).
    pub fn requests(&self) -> usize {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn slot<K: 'static>(&self, scope: String, sel: Selectors<'_>) -> Slot {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots
            .entry((TypeId::of::<K>(), format!("{scope}|{}", sel.key())))
            .or_default()
            .clone()
    }

    async fn list<K>(
        &self,
        scope: String,
        sel: Selectors<'_>,
        api: impl FnOnce() -> Api<K>,
    ) -> Result<Arc<Vec<K>>, Arc<kube::Error>>
    where
        K: Resource + Listable,
    {
        let slot = self.slot::<K>(scope, sel);
        self.fill(slot, api(), sel).await
    }

    async fn fill<K>(
        &self,
        slot: Slot,
        api: Api<K>,
        sel: Selectors<'_>,
    ) -> Result<Arc<Vec<K>>, Arc<kube::Error>>
    where
        K: Resource + Listable,
    {
        let any = slot
            .get_or_init(|| async {
                let mut items: Vec<K> = Vec::new();
                let mut params = sel.params();
                let mut pages = 0;
                loop {
                    if pages == MAX_PAGES {
                        return Err(Arc::new(too_many_pages()));
                    }
                    pages += 1;
                    self.requests
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let page = api.list(&params).await.map_err(Arc::new)?;
                    items.extend(page.items);
                    match page.metadata.continue_.filter(|c| !c.is_empty()) {
                        // The same token again would repeat the same page for ever.
                        Some(token) if params.continue_token.as_deref() == Some(token.as_str()) => {
                            return Err(Arc::new(too_many_pages()))
                        }
                        Some(token) => params = params.continue_token(&token),
                        None => break,
                    }
                }
                Ok(Arc::new(items) as Arc<dyn Any + Send + Sync>)
            })
            .await
            .clone()?;
        // The slot key includes the TypeId, so the downcast cannot fail.
        Ok(any
            .downcast::<Vec<K>>()
            .unwrap_or_else(|_| Arc::new(Vec::new())))
    }
}

fn too_many_pages() -> kube::Error {
    kube::Error::Service(format!("the API server kept paginating past {MAX_PAGES} pages of {PAGE} objects (or repeated a continue token); the list was abandoned").into())
}

/// Whether an API error says the resource type is not served at all (CRD not installed).
pub fn not_served(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Namespace;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// An API server on loopback that answers every list with one more page and a continue
    /// token: `fresh` tokens (a new one each time) or the same token again.
    async fn endless(fresh: bool) -> (kube::Client, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let served = Arc::new(AtomicUsize::new(0));
        let count = served.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let count = count.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    loop {
                        let mut got = 0;
                        while !buf[..got].windows(4).any(|w| w == b"\r\n\r\n") {
                            match s.read(&mut buf[got..]).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => got += n,
                            }
                        }
                        let n = count.fetch_add(1, Ordering::SeqCst);
                        let token = if fresh {
                            format!("t{n}")
                        } else {
                            "same".into()
                        };
                        let body = format!(
                            r#"{{"kind":"NamespaceList","apiVersion":"v1","metadata":{{"continue":"{token}"}},"items":[{{"metadata":{{"name":"ns{n}"}}}}]}}"#
                        );
                        let answer = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                        if s.write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let config = kube::Config::new(format!("http://{addr}").parse().unwrap());
        (kube::Client::try_from(config).unwrap(), served)
    }

    #[tokio::test]
    async fn a_server_that_paginates_without_end_ends_the_list_with_an_error() {
        let (client, served) = endless(true).await;
        let cache = KubeCache::default();
        let e = cache
            .cluster::<Namespace>(&client)
            .await
            .expect_err("an endless list must fail");
        assert!(
            e.to_string().contains("kept paginating past 400 pages"),
            "{e}"
        );
        assert_eq!(served.load(Ordering::SeqCst), MAX_PAGES);
        assert_eq!(cache.requests(), MAX_PAGES);
    }

    #[tokio::test]
    async fn a_repeated_continue_token_ends_the_list_at_once() {
        let (client, served) = endless(false).await;
        let e = KubeCache::default()
            .cluster::<Namespace>(&client)
            .await
            .expect_err("a repeated token must fail");
        assert!(e.to_string().contains("repeated a continue token"), "{e}");
        assert_eq!(served.load(Ordering::SeqCst), 2);
    }
}
