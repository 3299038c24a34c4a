//! The ServiceAccount controller ("serviceaccount"): every namespace that is not being deleted
//! has a ServiceAccount `default`, recreated if it is deleted.

use crate::informer::{Change, Informer, split_key};
use crate::queue::WorkQueue;
use crate::{Context, Controller, Reconciler};
use k8s_openapi::api::core::v1::{Namespace, ServiceAccount};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, PostParams};
use std::sync::Arc;
use std::time::Duration;

/// The ServiceAccounts every namespace gets.
pub const SERVICE_ACCOUNTS: &[&str] = &["default"];

/// The ServiceAccount controller's state; keys are namespace names.
pub struct ServiceAccounts {
    client: kube::Client,
    namespaces: Informer<Namespace>,
    accounts: Informer<ServiceAccount>,
}

/// Whether a namespace is being deleted (nothing may be created in it).
pub fn is_terminating(ns: &Namespace) -> bool {
    ns.metadata.deletion_timestamp.is_some()
        || ns.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Terminating")
}

/// The ServiceAccount controller, its informer callbacks registered.
pub fn controller(ctx: &Context) -> Controller {
    let namespaces = ctx.informers.get::<Namespace>();
    let accounts = ctx.informers.get::<ServiceAccount>();
    let queue = WorkQueue::new();
    {
        let queue = queue.clone();
        namespaces.on_change(move |change| match change {
            Change::Added(ns) | Change::Updated { new: ns, .. } => {
                queue.add(ns.metadata.name.clone().unwrap_or_default());
            }
            Change::Deleted(_) => {}
        });
    }
    {
        let queue = queue.clone();
        accounts.on_change(move |change| {
            if let Change::Deleted(sa) = change
                && SERVICE_ACCOUNTS.contains(&sa.metadata.name.as_deref().unwrap_or(""))
            {
                queue.add(sa.metadata.namespace.clone().unwrap_or_default());
            }
        });
    }
    Controller {
        name: "serviceaccount",
        queue,
        workers: 1,
        resync: None,
        tasks: Vec::new(),
        reconciler: Arc::new(ServiceAccounts {
            client: ctx.client.clone(),
            namespaces,
            accounts,
        }),
    }
}

/// Whether a failed create means there is nothing to do: it exists already (the informer will
/// show it), or the namespace is gone or being deleted.
pub(crate) fn create_moot(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if matches!(s.code, 403 | 404 | 409))
}

#[async_trait::async_trait]
impl Reconciler for ServiceAccounts {
    async fn sync(&self, key: &str) -> Result<Option<Duration>, crate::Error> {
        let (_, ns) = split_key(key);
        let Some(namespace) = self.namespaces.get(ns) else {
            return Ok(None);
        };
        if is_terminating(&namespace) {
            return Ok(None);
        }
        let api: Api<ServiceAccount> = Api::namespaced(self.client.clone(), ns);
        for name in SERVICE_ACCOUNTS {
            if self.accounts.get_in(ns, name).is_some() {
                continue;
            }
            let sa = ServiceAccount {
                metadata: ObjectMeta {
                    name: Some((*name).to_owned()),
                    namespace: Some(ns.to_owned()),
                    ..ObjectMeta::default()
                },
                ..ServiceAccount::default()
            };
            match api.create(&PostParams::default(), &sa).await {
                Ok(_) => tracing::debug!(namespace = ns, account = name, "service account created"),
                Err(err) if create_moot(&err) => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(None)
    }
}

/// The key of a namespace-scoped object's namespace (for callbacks on other kinds).
pub(crate) fn namespace_key<K: kube::Resource>(change: &Change<'_, K>) -> String {
    change.object().meta().namespace.clone().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn terminating_namespaces_are_skipped() {
        let ns = |v| serde_json::from_value::<Namespace>(v).unwrap();
        assert!(!is_terminating(&ns(
            json!({"metadata": {"name": "a"}, "status": {"phase": "Active"}})
        )));
        assert!(is_terminating(&ns(
            json!({"metadata": {"name": "a"}, "status": {"phase": "Terminating"}})
        )));
        assert!(is_terminating(&ns(
            json!({"metadata": {"name": "a", "deletionTimestamp": "2026-01-01T00:00:00Z"}})
        )));
    }
}
