//! What the scheduler reads besides pods and nodes: namespaces (their labels, for affinity
//! terms with namespace selectors, kept in the node cache), the objects that select pods
//! — Services, ReplicationControllers, ReplicaSets, StatefulSets — for PodTopologySpread's
//! system default constraints, and PodDisruptionBudgets for preemption.

use crate::framework::labels::Selector;
use crate::plugins::pod_topology_spread::default_spread_selector;
use crate::schedule::Shared;
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Pod, ReplicationController, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::Resource;
use kube::api::Api;
use kube::runtime::WatchStreamExt;
use kube::runtime::reflector::store::Writer;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher::{self, Event};
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::sync::Arc;
use tokio::task::JoinHandle;
use tokio_stream::StreamExt;

/// Read-only caches of the objects that give pods their default spreading selector.
#[derive(Clone)]
pub struct Owners {
    services: Store<Service>,
    /// `None` when the API server does not serve ReplicationControllers (rkube does not).
    replication_controllers: Option<Store<ReplicationController>>,
    replica_sets: Store<ReplicaSet>,
    stateful_sets: Store<StatefulSet>,
}

/// Keeps one store in step with the API.
fn reflect<K>(client: &kube::Client, tasks: &mut Vec<JoinHandle<()>>) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static,
{
    let writer: Writer<K> = Writer::default();
    let store = writer.as_reader();
    let api: Api<K> = Api::all(client.clone());
    let stream = reflector::reflector(writer, watcher::watcher(api, watcher::Config::default()))
        .default_backoff();
    tasks.push(tokio::spawn(async move {
        let mut stream = Box::pin(stream);
        while let Some(event) = stream.next().await {
            if let Err(err) = event {
                tracing::warn!(%err, kind = %K::kind(&()), "scheduler watch");
            }
        }
    }));
    store
}

/// Whether the API server serves `resource` in `group_version` ("v1" for the core group).
/// Discovery is retried (1 s doubling to 10 s) until it answers, so that an API server that
/// is briefly unreachable does not turn a watch off for the life of the process; a refusal
/// (404 for a group version that is not served, or any other 4xx) answers no.
async fn serves(client: &kube::Client, group_version: &str, resource: &str) -> bool {
    let mut delay = std::time::Duration::from_secs(1);
    loop {
        let answer = if group_version == "v1" {
            client.list_core_api_resources("v1").await
        } else {
            client.list_api_group_resources(group_version).await
        };
        match answer {
            Ok(list) => return list.resources.iter().any(|r| r.name == resource),
            Err(kube::Error::Api(status)) if status.code < 500 => {
                tracing::info!(%group_version, code = status.code, "not served; not watching {resource}");
                return false;
            }
            Err(err) => {
                tracing::warn!(%err, %group_version, "discovery failed; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(10));
            }
        }
    }
}

impl Owners {
    /// Starts watching; the tasks end when aborted.
    pub async fn spawn(client: &kube::Client, tasks: &mut Vec<JoinHandle<()>>) -> Owners {
        let serves_rcs = serves(client, "v1", "replicationcontrollers").await;
        Owners {
            services: reflect(client, tasks),
            replication_controllers: serves_rcs.then(|| reflect(client, tasks)),
            replica_sets: reflect(client, tasks),
            stateful_sets: reflect(client, tasks),
        }
    }

    /// Waits until every store holds its first full list (as upstream waits for its
    /// informers to sync before scheduling).
    pub async fn ready(&self) {
        let _ = self.services.wait_until_ready().await;
        if let Some(rcs) = &self.replication_controllers {
            let _ = rcs.wait_until_ready().await;
        }
        let _ = self.replica_sets.wait_until_ready().await;
        let _ = self.stateful_sets.wait_until_ready().await;
    }

    /// The pod's default spreading selector (upstream's `DefaultSelector`).
    pub fn default_selector(&self, pod: &Pod) -> Option<Selector> {
        let namespace = pod.metadata.namespace.as_deref().unwrap_or("");
        let services: Vec<Arc<Service>> = self
            .services
            .state()
            .into_iter()
            .filter(|s| s.metadata.namespace.as_deref() == Some(namespace))
            .collect();
        let owner = rkube_api::meta::controller_of(&pod.metadata);
        let owned_by = |kind: &str| owner.filter(|o| o.kind == kind).map(|o| o.name.as_str());
        let rc = owned_by("ReplicationController")
            .zip(self.replication_controllers.as_ref())
            .and_then(|(name, rcs)| rcs.get(&ObjectRef::new(name).within(namespace)));
        let rs = owned_by("ReplicaSet").and_then(|name| {
            self.replica_sets
                .get(&ObjectRef::new(name).within(namespace))
        });
        let ss = owned_by("StatefulSet").and_then(|name| {
            self.stateful_sets
                .get(&ObjectRef::new(name).within(namespace))
        });
        default_spread_selector(
            pod,
            services.iter().map(AsRef::as_ref),
            rc.as_deref(),
            rs.as_deref(),
            ss.as_deref(),
        )
    }
}

/// Read-only cache of the PodDisruptionBudgets (policy/v1) that preemption respects.
#[derive(Clone)]
pub struct DisruptionBudgets {
    /// `None` when the API server does not serve policy/v1 PodDisruptionBudgets: then there
    /// are none, as upstream without a PDB lister.
    store: Option<Store<PodDisruptionBudget>>,
}

impl DisruptionBudgets {
    /// Starts watching if the API server serves policy/v1 PodDisruptionBudgets; the task ends
    /// when aborted.
    pub async fn spawn(
        client: &kube::Client,
        tasks: &mut Vec<JoinHandle<()>>,
    ) -> DisruptionBudgets {
        let served = serves(client, "policy/v1", "poddisruptionbudgets").await;
        DisruptionBudgets {
            store: served.then(|| reflect(client, tasks)),
        }
    }

    /// Waits until the store holds its first full list.
    pub async fn ready(&self) {
        if let Some(store) = &self.store {
            let _ = store.wait_until_ready().await;
        }
    }

    /// Every budget of every namespace (upstream's `getPodDisruptionBudgets`); empty when
    /// PodDisruptionBudgets are not served.
    pub fn list(&self) -> Vec<Arc<PodDisruptionBudget>> {
        self.store.as_ref().map(Store::state).unwrap_or_default()
    }
}

/// Keeps the cache's namespace labels current; `synced` turns true once the first list is in
/// (affinity terms with a `namespaceSelector` read these labels).
pub fn watch_namespaces(
    client: &kube::Client,
    shared: Arc<Shared>,
    synced: tokio::sync::watch::Sender<bool>,
) -> JoinHandle<()> {
    let api: Api<Namespace> = Api::all(client.clone());
    tokio::spawn(async move {
        let mut stream =
            Box::pin(watcher::watcher(api, watcher::Config::default()).default_backoff());
        while let Some(event) = stream.next().await {
            match event {
                Ok(Event::Apply(ns) | Event::InitApply(ns)) => {
                    let name = ns.metadata.name.unwrap_or_default();
                    let labels = ns.metadata.labels.unwrap_or_default();
                    let changed = shared.cache().set_namespace_labels(&name, labels);
                    if changed {
                        shared.queue.move_all_unschedulable();
                    }
                }
                Ok(Event::Delete(ns)) => shared
                    .cache()
                    .remove_namespace(&ns.metadata.name.unwrap_or_default()),
                Ok(Event::InitDone) => {
                    synced.send_replace(true);
                }
                Ok(Event::Init) => {}
                Err(err) => tracing::warn!(%err, "namespace watch"),
            }
        }
    })
}
