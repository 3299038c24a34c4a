//! Routing pod changes to the controller that owns the pod (or could adopt it), and keeping
//! that controller's expectations: what the ReplicaSet and DaemonSet controllers do alike,
//! as upstream's do.

use crate::expectations::Expectations;
use crate::informer::{Change, Informer, key_of};
use crate::pods::{self, controller_of};
use crate::queue::WorkQueue;
use k8s_openapi::api::core::v1::Pod;
use kube::Resource;
use rkube_api::labels::Selector;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::sync::Arc;
use std::time::Duration;

/// Routes pod changes to owners of kind `K`.
pub struct PodRouter<K> {
    /// The owners' work queue.
    pub queue: WorkQueue,
    /// The owners.
    pub owners: Informer<K>,
    /// The owners' expectations of pod creations and deletions.
    pub expectations: Expectations,
    /// The owner's kind in controller references.
    pub kind: &'static str,
    /// An owner's pod selector.
    pub selector: fn(&K) -> Result<Selector, crate::Error>,
    /// An owner's `minReadySeconds` (a pod that turns ready is looked at again after it).
    pub min_ready_seconds: fn(&K) -> i32,
}

impl<K> PodRouter<K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    K::DynamicType: Default,
{
    /// The owner that controls `pod`, if it still exists with the referenced uid.
    pub fn owner_of(&self, pod: &Pod) -> Option<Arc<K>> {
        let r = controller_of(&pod.metadata).filter(|r| r.kind == self.kind)?;
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        let owner = self.owners.get_in(ns, &r.name)?;
        (owner.meta().uid.as_deref() == Some(r.uid.as_str())).then_some(owner)
    }

    /// The owners of the pod's namespace whose (non-empty) selector matches it.
    fn matching(&self, pod: &Pod) -> Vec<Arc<K>> {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        let labels = rkube_api::labels::pod_labels(pod);
        self.owners
            .list_namespace(ns)
            .into_iter()
            .filter(|o| (self.selector)(o).is_ok_and(|s| !s.is_everything() && s.matches(labels)))
            .collect()
    }

    /// Handles one pod change: expectations met, owners (old and new) enqueued, orphans
    /// offered to the owners that could adopt them.
    pub fn on_change(&self, change: Change<'_, Pod>) {
        let uid = |p: &Pod| p.metadata.uid.clone().unwrap_or_default();
        match change {
            Change::Added(pod) => {
                if let Some(owner) = self.owner_of(pod) {
                    let key = key_of(owner.as_ref());
                    if pod.metadata.deletion_timestamp.is_some() {
                        self.expectations.deletion_observed(&key, &uid(pod));
                    } else {
                        self.expectations.creation_observed(&key);
                    }
                    self.queue.add(key);
                } else if controller_of(&pod.metadata).is_none() {
                    for owner in self.matching(pod) {
                        self.queue.add(key_of(owner.as_ref()));
                    }
                }
            }
            Change::Updated { old, new } => {
                let old_owner = self.owner_of(old);
                let new_owner = self.owner_of(new);
                if let Some(owner) = &new_owner {
                    let key = key_of(owner.as_ref());
                    if old.metadata.deletion_timestamp.is_none()
                        && new.metadata.deletion_timestamp.is_some()
                    {
                        self.expectations.deletion_observed(&key, &uid(new));
                    }
                    self.queue.add(key.clone());
                    // A pod that just became ready becomes available after minReadySeconds.
                    let min_ready = (self.min_ready_seconds)(owner);
                    if min_ready > 0 && !pods::is_ready(old) && pods::is_ready(new) {
                        self.queue
                            .add_after(key, Duration::from_secs(min_ready as u64 + 1));
                    }
                }
                if let Some(owner) = &old_owner
                    && old_owner.as_ref().map(|o| &o.meta().uid)
                        != new_owner.as_ref().map(|o| &o.meta().uid)
                {
                    self.queue.add(key_of(owner.as_ref()));
                }
                if new_owner.is_none()
                    && controller_of(&new.metadata).is_none()
                    && (old.metadata.labels != new.metadata.labels || old_owner.is_some())
                {
                    for owner in self.matching(new) {
                        self.queue.add(key_of(owner.as_ref()));
                    }
                }
            }
            Change::Deleted(pod) => {
                if let Some(owner) = self.owner_of(pod) {
                    let key = key_of(owner.as_ref());
                    self.expectations.deletion_observed(&key, &uid(pod));
                    self.queue.add(key);
                }
            }
        }
    }
}
