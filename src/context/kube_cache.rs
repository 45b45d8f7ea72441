//! Cluster state listed once per resource type (and namespace), paginated, and shared by every
//! check of a run: no check issues its own GETs for objects another check already listed.

use kube::api::{Api, ListParams};
use kube::Resource;
use serde::de::DeserializeOwned;
use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

type Slot = Arc<OnceCell<Result<Arc<dyn Any + Send + Sync>, Arc<kube::Error>>>>;

/// One list per (type, namespace) for the whole run.
#[derive(Default)]
pub struct KubeCache {
    slots: Mutex<HashMap<(TypeId, Option<String>), Slot>>,
}

const PAGE: u32 = 500;

/// What a listed type must be.
pub trait Listable: DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static {}
impl<T: DeserializeOwned + Clone + std::fmt::Debug + Send + Sync + 'static> Listable for T {}

impl KubeCache {
    /// Every object of a namespaced type `K` in `namespace`, listed once, page by page.
    pub async fn namespaced<K>(&self, client: &kube::Client, namespace: &str) -> Result<Arc<Vec<K>>, Arc<kube::Error>>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope> + Listable,
    {
        self.list(Some(namespace), || Api::namespaced(client.clone(), namespace)).await
    }

    /// Every object of a cluster-scoped type `K`, listed once, page by page.
    pub async fn cluster<K>(&self, client: &kube::Client) -> Result<Arc<Vec<K>>, Arc<kube::Error>>
    where
        K: Resource<DynamicType = (), Scope = k8s_openapi::ClusterResourceScope> + Listable,
    {
        self.list(None, || Api::all(client.clone())).await
    }

    async fn list<K>(&self, namespace: Option<&str>, api: impl FnOnce() -> Api<K>) -> Result<Arc<Vec<K>>, Arc<kube::Error>>
    where
        K: Resource<DynamicType = ()> + Listable,
    {
        let slot = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            slots.entry((TypeId::of::<K>(), namespace.map(str::to_string))).or_default().clone()
        };
        let any = slot
            .get_or_init(|| async {
                let api = api();
                let mut items: Vec<K> = Vec::new();
                let mut params = ListParams::default().limit(PAGE);
                loop {
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
