//! The root CA publisher ("root-ca-certificate-publisher"): every namespace that is not being
//! deleted has a ConfigMap `kube-root-ca.crt` whose `ca.crt` is the cluster CA certificate,
//! recreated if deleted and put back if edited. Without a CA (`Options::root_ca_pem` unset)
//! it does nothing.

use crate::informer::{Change, Informer, split_key};
use crate::queue::WorkQueue;
use crate::serviceaccount::{create_moot, is_terminating, namespace_key};
use crate::{Context, Controller, Reconciler};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

/// The ConfigMap's name.
pub const CONFIG_MAP: &str = "kube-root-ca.crt";
/// The key holding the certificate.
pub const KEY: &str = "ca.crt";
/// The annotation describing the ConfigMap's use.
pub const DESCRIPTION_ANNOTATION: &str = "kubernetes.io/description";
/// Its value, as upstream writes it.
pub const DESCRIPTION: &str = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters.";

/// The publisher's state; keys are namespace names.
pub struct RootCaPublisher {
    client: kube::Client,
    namespaces: Informer<Namespace>,
    config_maps: Informer<ConfigMap>,
    ca: String,
}

/// The publisher, its informer callbacks registered (none, and no informers, without a CA).
pub fn controller(ctx: &Context) -> Controller {
    let queue = WorkQueue::new();
    let reconciler: Arc<dyn Reconciler> = match ctx.options.root_ca_pem.clone() {
        None => {
            tracing::info!("no root CA configured: kube-root-ca.crt is not published");
            Arc::new(Disabled)
        }
        Some(ca) => {
            let namespaces = ctx.informers.get::<Namespace>();
            let config_maps = ctx.informers.get::<ConfigMap>();
            {
                let queue = queue.clone();
                namespaces.on_change(move |change| {
                    if !matches!(change, Change::Deleted(_)) {
                        queue.add(change.object().metadata.name.clone().unwrap_or_default());
                    }
                });
            }
            {
                let queue = queue.clone();
                config_maps.on_change(move |change| {
                    let cm = change.object();
                    if cm.metadata.name.as_deref() == Some(CONFIG_MAP) {
                        queue.add(namespace_key(&change));
                    }
                });
            }
            Arc::new(RootCaPublisher {
                client: ctx.client.clone(),
                namespaces,
                config_maps,
                ca,
            })
        }
    };
    Controller {
        name: "root-ca-certificate-publisher",
        queue,
        workers: 1,
        resync: None,
        tasks: Vec::new(),
        reconciler,
    }
}

struct Disabled;

#[async_trait::async_trait]
impl Reconciler for Disabled {
    async fn sync(&self, _key: &str) -> Result<Option<Duration>, crate::Error> {
        Ok(None)
    }
}

/// The ConfigMap to write given the current one (`None`: it is right as it is): the CA under
/// [`KEY`] and nothing else, and the description annotation.
pub fn desired(ns: &str, ca: &str, current: Option<&ConfigMap>) -> Option<ConfigMap> {
    let data: BTreeMap<String, String> = [(KEY.to_owned(), ca.to_owned())].into();
    let described = |cm: &ConfigMap| {
        cm.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DESCRIPTION_ANNOTATION))
            .is_some_and(|d| !d.is_empty())
    };
    if let Some(cm) = current
        && cm.data.as_ref() == Some(&data)
        && described(cm)
    {
        return None;
    }
    let mut cm = current.cloned().unwrap_or_else(|| ConfigMap {
        metadata: ObjectMeta {
            name: Some(CONFIG_MAP.to_owned()),
            namespace: Some(ns.to_owned()),
            ..ObjectMeta::default()
        },
        ..ConfigMap::default()
    });
    cm.data = Some(data);
    cm.metadata
        .annotations
        .get_or_insert_with(BTreeMap::new)
        .insert(DESCRIPTION_ANNOTATION.to_owned(), DESCRIPTION.to_owned());
    Some(cm)
}

#[async_trait::async_trait]
impl Reconciler for RootCaPublisher {
    async fn sync(&self, key: &str) -> Result<Option<Duration>, crate::Error> {
        let (_, ns) = split_key(key);
        let Some(namespace) = self.namespaces.get(ns) else {
            return Ok(None);
        };
        if is_terminating(&namespace) {
            return Ok(None);
        }
        let current = self.config_maps.get_in(ns, CONFIG_MAP);
        let Some(cm) = desired(ns, &self.ca, current.as_deref()) else {
            return Ok(None);
        };
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), ns);
        let params = PostParams::default();
        if current.is_some() {
            api.replace(CONFIG_MAP, &params, &cm).await?;
        } else {
            match api.create(&params, &cm).await {
                Ok(_) => {}
                Err(err) if create_moot(&err) => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_map_holds_the_ca_and_is_put_back_when_edited() {
        let made = desired("ns", "PEM", None).unwrap();
        assert_eq!(made.metadata.name.as_deref(), Some(CONFIG_MAP));
        assert_eq!(made.data.as_ref().unwrap()[KEY], "PEM");
        assert!(desired("ns", "PEM", Some(&made)).is_none());
        let mut edited = made.clone();
        edited
            .data
            .as_mut()
            .unwrap()
            .insert("extra".into(), "x".into());
        let fixed = desired("ns", "PEM", Some(&edited)).unwrap();
        assert_eq!(fixed.data.unwrap().len(), 1);
        assert!(desired("ns", "NEW", Some(&made)).is_some());
    }
}
