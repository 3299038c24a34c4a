//! The garbage collector: the ownerReferences graph and cascading deletion with upstream's
//! semantics. Objects whose owners are all gone are deleted (Background); references to gone
//! owners are dropped from objects that still have a living owner; an owner deleted in the
//! Foreground keeps its `foregroundDeletion` finalizer until its blocking dependents are gone;
//! an owner deleted with `orphan` releases its dependents before its finalizer goes.
//!
//! It keeps its own compact graph fed by metadata-only watches of every built-in kind that can
//! own or be owned ([`crate::resources::RESOURCES`]), and acts only once every watch has
//! listed once; an owner's absence is always confirmed with a GET (uid compared) first.

pub mod graph;
pub mod plan;
mod watch;

use crate::queue::WorkQueue;
use crate::resources::{Resolver, builtin};
use crate::{Context, Controller, Reconciler};
use graph::{FOREGROUND, Graph, Identity, Node, ORPHAN, OwnerRef};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};
use kube::core::params::PropagationPolicy;
use plan::{OwnerPlan, OwnerState, Plan, Policy, RefChange};
use std::collections::HashSet;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;
use tokio::sync::watch as signal;

/// Uids confirmed absent are remembered (a uid never comes back) up to this many.
const ABSENT_CACHE: usize = 10_000;

/// How soon an owner that exists but has not been reported by its watch is looked at again.
const UNOBSERVED_RECHECK: Duration = Duration::from_secs(1);

/// The garbage collector's state.
pub struct GarbageCollector {
    resolver: Resolver,
    graph: Arc<Mutex<Graph>>,
    queue: WorkQueue,
    ready: signal::Receiver<bool>,
    absent: Mutex<HashSet<String>>,
}

/// The garbage collector; its watches start with its workers.
pub fn controller(ctx: &Context) -> Controller {
    let queue = WorkQueue::new();
    let graph = Arc::new(Mutex::new(Graph::default()));
    let (ready_tx, ready) = signal::channel(false);
    let tasks = watch::tasks(&ctx.client, &graph, &queue, ready_tx);
    Controller {
        name: "garbagecollector",
        queue: queue.clone(),
        workers: ctx.options.workers,
        resync: None,
        tasks,
        reconciler: Arc::new(GarbageCollector {
            resolver: Resolver::new(ctx.client.clone()),
            graph,
            queue,
            ready,
            absent: Mutex::default(),
        }),
    }
}

fn gone<T>(result: Result<T, kube::Error>) -> Result<(), kube::Error> {
    match result {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(err) => Err(err),
    }
}

fn describe(id: &Identity) -> String {
    if id.namespace.is_empty() {
        format!("{}/{}", id.kind, id.name)
    } else {
        format!("{}/{}/{}", id.kind, id.namespace, id.name)
    }
}

impl GarbageCollector {
    fn graph(&self) -> MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake(&self, uids: Vec<String>) {
        for uid in uids {
            self.queue.add(uid);
        }
    }

    fn is_absent(&self, uid: &str) -> bool {
        self.absent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(uid)
    }

    fn confirm_absent(&self, uid: &str) {
        {
            let mut absent = self.absent.lock().unwrap_or_else(PoisonError::into_inner);
            if absent.len() >= ABSENT_CACHE {
                absent.clear();
            }
            absent.insert(uid.to_owned());
        }
        let woken = self.graph().remove(uid);
        self.wake(woken);
    }

    async fn api(&self, id: &Identity) -> Result<Api<DynamicObject>, kube::Error> {
        self.resolver
            .api(&id.api_version, &id.kind, &id.namespace)
            .await
    }

    /// The object's current metadata if it still exists with this uid.
    async fn live(
        &self,
        api: &Api<DynamicObject>,
        name: &str,
        uid: &str,
    ) -> Result<Option<ObjectMeta>, kube::Error> {
        Ok(api
            .get_metadata_opt(name)
            .await?
            .map(|m| m.metadata)
            .filter(|m| m.uid.as_deref() == Some(uid)))
    }

    /// Looks up one owner of a dependent in `namespace` (GET, uid compared).
    async fn owner_state(&self, r: &OwnerRef, namespace: &str) -> Result<OwnerState, kube::Error> {
        if self.is_absent(&r.uid) {
            return Ok(OwnerState::Dangling);
        }
        let api = self
            .resolver
            .api(&r.api_version, &r.kind, namespace)
            .await?;
        let Some(meta) = self.live(&api, &r.name, &r.uid).await? else {
            self.confirm_absent(&r.uid);
            return Ok(OwnerState::Dangling);
        };
        let foreground = meta.finalizers.iter().flatten().any(|f| f == FOREGROUND);
        Ok(if meta.deletion_timestamp.is_some() && foreground {
            OwnerState::Waiting
        } else {
            OwnerState::Solid
        })
    }

    /// Makes `change` to a dependent's references to `owners`: a strategic merge patch for
    /// built-in kinds, else (or if refused) a merge patch of the whole list guarded by its
    /// resourceVersion.
    async fn change_refs(
        &self,
        id: &Identity,
        uid: &str,
        owners: &[String],
        change: RefChange,
    ) -> Result<(), kube::Error> {
        let api = self.api(id).await?;
        let pp = PatchParams::default();
        if builtin(&id.api_version, &id.kind).is_some() {
            let body = plan::refs_strategic_patch(uid, &[], owners, change);
            let body = match change {
                RefChange::Remove => body,
                // Unblocking names the references in full: read them.
                RefChange::Unblock => {
                    let Some(meta) = self.live(&api, &id.name, uid).await? else {
                        return Ok(());
                    };
                    let refs = meta.owner_references.unwrap_or_default();
                    plan::refs_strategic_patch(uid, &refs, owners, change)
                }
            };
            match api.patch(&id.name, &pp, &Patch::Strategic(body)).await {
                Err(kube::Error::Api(s)) if s.code == 415 => {}
                other => return gone(other),
            }
        }
        let Some(meta) = self.live(&api, &id.name, uid).await? else {
            return Ok(());
        };
        let refs = meta.owner_references.unwrap_or_default();
        let rv = meta.resource_version.unwrap_or_default();
        let body = plan::refs_merge_patch(&refs, owners, change, &rv);
        gone(api.patch(&id.name, &pp, &Patch::Merge(body)).await)
    }

    async fn remove_finalizer(
        &self,
        api: &Api<DynamicObject>,
        meta: &ObjectMeta,
        finalizer: &str,
    ) -> Result<(), kube::Error> {
        let finalizers = meta.finalizers.clone().unwrap_or_default();
        let rv = meta.resource_version.as_deref().unwrap_or("");
        let Some(body) = plan::remove_finalizer_patch(&finalizers, finalizer, rv) else {
            return Ok(());
        };
        let name = meta.name.as_deref().unwrap_or("");
        gone(
            api.patch(name, &PatchParams::default(), &Patch::Merge(body))
                .await,
        )
    }

    /// An owner deleted with `orphan`: its dependents lose their reference to it, then the
    /// finalizer goes.
    async fn orphan(
        &self,
        uid: &str,
        api: &Api<DynamicObject>,
        meta: &ObjectMeta,
    ) -> Result<(), kube::Error> {
        let dependents = self.graph().dependents(uid);
        for (dep_uid, dep) in dependents {
            self.change_refs(
                &dep.identity,
                &dep_uid,
                &[uid.to_owned()],
                RefChange::Remove,
            )
            .await?;
        }
        tracing::info!(uid, "garbage collector: dependents orphaned");
        self.remove_finalizer(api, meta, ORPHAN).await
    }

    /// A dependent whose owners are all gone (or waiting for it): deleted with `policy`,
    /// only if it still has `uid`.
    async fn delete(
        &self,
        api: &Api<DynamicObject>,
        node: &Node,
        uid: &str,
        policy: Policy,
    ) -> Result<(), kube::Error> {
        let params = DeleteParams {
            propagation_policy: Some(match policy {
                Policy::Background => PropagationPolicy::Background,
                Policy::Foreground => PropagationPolicy::Foreground,
                Policy::Orphan => PropagationPolicy::Orphan,
            }),
            preconditions: Some(Preconditions {
                uid: Some(uid.to_owned()),
                resource_version: None,
            }),
            ..DeleteParams::default()
        };
        tracing::info!(object = %describe(&node.identity), ?policy, "garbage collector: deleting");
        gone(api.delete(&node.identity.name, &params).await)
    }

    /// An object with owners and no deletionTimestamp.
    async fn collect(
        &self,
        uid: &str,
        node: &Node,
        api: &Api<DynamicObject>,
        meta: &ObjectMeta,
    ) -> Result<(), kube::Error> {
        let refs = meta.owner_references.clone().unwrap_or_default();
        if refs.is_empty() {
            return Ok(());
        }
        let mut owners = Vec::with_capacity(refs.len());
        for r in &refs {
            let r = OwnerRef::from(r);
            let state = self.owner_state(&r, &node.identity.namespace).await?;
            owners.push((r, state));
        }
        let (has_dependents, a_dependent_waits) = {
            let dependents = self.graph().dependents(uid);
            let waits = dependents.iter().any(|(_, d)| d.deleting_dependents());
            (!dependents.is_empty(), waits)
        };
        let finalizers = meta.finalizers.clone().unwrap_or_default();
        match plan::plan_dependent(&owners, has_dependents, a_dependent_waits, &finalizers) {
            Plan::Keep => Ok(()),
            Plan::RemoveRefs(gone_owners) => {
                tracing::info!(object = %describe(&node.identity), owners = ?gone_owners,
                    "garbage collector: removing references to deleted owners");
                self.change_refs(&node.identity, uid, &gone_owners, RefChange::Remove)
                    .await
            }
            Plan::Delete { policy, unblock } => {
                if !unblock.is_empty() {
                    self.change_refs(&node.identity, uid, &unblock, RefChange::Unblock)
                        .await?;
                }
                self.delete(api, node, uid, policy).await
            }
        }
    }
}

#[async_trait::async_trait]
impl Reconciler for GarbageCollector {
    async fn sync(&self, uid: &str) -> Result<Option<Duration>, crate::Error> {
        // Before every kind has listed once, every dependent would look orphaned.
        if self.ready.clone().wait_for(|r| *r).await.is_err() {
            return Ok(Some(UNOBSERVED_RECHECK));
        }
        let Some(node) = self.graph().get(uid).cloned() else {
            return Ok(None);
        };
        let api = self.api(&node.identity).await?;
        let Some(meta) = self.live(&api, &node.identity.name, uid).await? else {
            tracing::debug!(object = %describe(&node.identity), uid, "garbage collector: absent");
            self.confirm_absent(uid);
            return Ok(None);
        };
        if !node.observed {
            // It exists: its watch will report it (recheck, as upstream does, in case it was
            // created and deleted while the watch was re-established).
            let watched =
                builtin(&node.identity.api_version, &node.identity.kind).is_some_and(|r| r.gc);
            return Ok(watched.then_some(UNOBSERVED_RECHECK));
        }
        if meta.deletion_timestamp.is_some() {
            let finalizers = meta.finalizers.clone().unwrap_or_default();
            let blocking = self.graph().blocking_dependents(uid);
            match plan::plan_owner(&finalizers, blocking.len()) {
                OwnerPlan::Nothing => {}
                OwnerPlan::Orphan => self.orphan(uid, &api, &meta).await?,
                OwnerPlan::Release => {
                    tracing::info!(object = %describe(&node.identity), "garbage collector: no blocking dependents left");
                    self.remove_finalizer(&api, &meta, FOREGROUND).await?;
                }
                OwnerPlan::DeleteDependents => {
                    // Each dependent decides (its owner is waiting); when a blocking one goes,
                    // the graph wakes this owner again.
                    let dependents = self.graph().dependents(uid);
                    for (dep, node) in dependents {
                        if !node.deleting_dependents() {
                            self.queue.add(dep);
                        }
                    }
                }
            }
            return Ok(None);
        }
        self.collect(uid, &node, &api, &meta).await?;
        Ok(None)
    }
}
