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
        Selectors { labels: Some(s), fields: None }
    }

    /// Only the objects with this name (`metadata.name=`), in every namespace listed. RBAC
    /// `resourceNames` rules authorise such lists, which keeps kfcheck's role narrow.
    pub fn name(field: &'a str) -> Self {
        Selectors { labels: None, fields: Some(field) }
    }

    fn key(&self) -> String {
        format!("l={}|f={}", self.labels.unwrap_or(""), self.fields.unwrap_or(""))
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
    pub async fn namespaced<K>(&self, client: &kube::Client, namespace: &str) -> Result<Arc<Vec<K>>, Arc<kube::Error>>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope> + Listable,
    {
        self.list(format!("ns={namespace}"), Selectors::default(), || Api::namespaced(client.clone(), namespace)).await
    }

    /// Every object of a cluster-scoped type `K`, listed once, page by page.
    pub async fn cluster<K>(&self, client: &kube::Client) -> Result<Arc<Vec<K>>, Arc<kube::Error>>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::ClusterResourceScope> + Listable,
    {
        self.list("cluster".into(), Selectors::default(), || Api::all(client.clone())).await
    }

    /// The objects of a namespaced type `K` in every namespace that match `sel`: one list for
    /// the whole cluster rather than one per namespace.
    pub async fn all_namespaces<K>(&self, client: &kube::Client, sel: Selectors<'_>) -> Result<Arc<Vec<K>>, Arc<kube::Error>>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope> + Listable,
    {
        self.list("all".into(), sel, || Api::all(client.clone())).await
    }

    /// Objects of a custom resource (cluster-scoped, or namespaced in every namespace).
    pub async fn dynamic(&self, client: &kube::Client, ar: &ApiResource, sel: Selectors<'_>) -> Result<Arc<Vec<DynamicObject>>, Arc<kube::Error>> {
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
        slots.entry((TypeId::of::<K>(), format!("{scope}|{}", sel.key()))).or_default().clone()
    }

    async fn list<K>(&self, scope: String, sel: Selectors<'_>, api: impl FnOnce() -> Api<K>) -> Result<Arc<Vec<K>>, Arc<kube::Error>>
    where
        K: Resource + Listable,
    {
        let slot = self.slot::<K>(scope, sel);
        self.fill(slot, api(), sel).await
    }

    async fn fill<K>(&self, slot: Slot, api: Api<K>, sel: Selectors<'_>) -> Result<Arc<Vec<K>>, Arc<kube::Error>>
    where
        K: Resource + Listable,
    {
        let any = slot
            .get_or_init(|| async {
                let mut items: Vec<K> = Vec::new();
                let mut params = sel.params();
                loop {
                    self.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let page = api.list(&params).await.map_err(Arc::new)?;
                    items.extend(page.items);
                    match page.metadata.continue_.filter(|c| !c.is_empty()) {
                        Some(token) => params = params.continue_token(&token),
                        None => break,
                    }
                }
                Ok(Arc::new(items) as Arc<dyn Any + Send + Sync>)
            })
            .await
            .clone()?;
        // The slot key includes the TypeId, so the downcast cannot fail.
        Ok(any.downcast::<Vec<K>>().unwrap_or_else(|_| Arc::new(Vec::new())))
    }
}

/// Whether an API error says the resource type is not served at all (CRD not installed).
pub fn not_served(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}
