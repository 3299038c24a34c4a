//! The DaemonSet controller: one pod per eligible node (node selector, required affinity,
//! taints against the tolerations every daemon pod gets), pinned with a node-name affinity
//! term for the scheduler to bind; surplus and misplaced pods deleted, failed ones replaced
//! with backoff; ControllerRevisions for the template history; RollingUpdate (maxUnavailable,
//! maxSurge) and OnDelete; the status `kubectl rollout status` reads.

pub mod plan;

use crate::claim::{Owner, claim};
use crate::events::{EventType, Recorder};
use crate::expectations::Expectations;
use crate::history::History;
use crate::informer::{Change, Informer, key_of, split_key};
use crate::owned_pods::PodRouter;
use crate::pods::{self, controller_of, controller_ref};
use crate::queue::WorkQueue;
use crate::{Context, Controller, Reconciler};
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet};
use k8s_openapi::api::core::v1::{Node, Pod, PodTemplateSpec};
use kube::api::{Api, DeleteParams, PostParams};
use rkube_api::labels::Selector;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The first delay before a failed daemon pod is replaced again on the same node.
const FAILED_BACKOFF_START: Duration = Duration::from_secs(1);
/// The longest such delay.
const FAILED_BACKOFF_MAX: Duration = Duration::from_secs(15 * 60);

/// The DaemonSet controller's state.
pub struct DaemonSets {
    client: kube::Client,
    sets: Informer<DaemonSet>,
    pods: Informer<Pod>,
    nodes: Informer<Node>,
    revisions: Informer<ControllerRevision>,
    expectations: Expectations,
    /// Per `<ds key>/<node>`: the current delay and when a failed pod was last replaced.
    failed_backoff: Mutex<HashMap<String, (Duration, Instant)>>,
    events: Recorder,
}

fn selector_of(ds: &DaemonSet) -> Result<Selector, crate::Error> {
    Selector::from_label_selector(ds.spec.as_ref().map(|s| &s.selector))
        .map_err(crate::Error::Invalid)
}

/// The DaemonSet controller, its informer callbacks registered.
pub fn controller(ctx: &Context) -> Controller {
    let sets = ctx.informers.get::<DaemonSet>();
    let pods = ctx.informers.get::<Pod>();
    pods.add_index(
        crate::informer::BY_CONTROLLER,
        crate::informer::by_controller::<Pod>,
    );
    let nodes = ctx.informers.get::<Node>();
    let revisions = ctx.informers.get::<ControllerRevision>();
    let queue = WorkQueue::new();
    let expectations = Expectations::default();
    {
        let queue = queue.clone();
        sets.on_change(move |change| match change {
            Change::Added(ds) | Change::Deleted(ds) => queue.add(key_of(ds.as_ref())),
            Change::Updated { new, .. } => queue.add(key_of(new.as_ref())),
        });
    }
    {
        let router = PodRouter {
            queue: queue.clone(),
            owners: sets.clone(),
            expectations: expectations.clone(),
            kind: "DaemonSet",
            selector: selector_of,
            min_ready_seconds: |ds: &DaemonSet| {
                ds.spec
                    .as_ref()
                    .and_then(|s| s.min_ready_seconds)
                    .unwrap_or(0)
            },
        };
        pods.on_change(move |change| router.on_change(change));
    }
    {
        // Nodes coming, going or changing labels, taints or schedulability change where
        // daemon pods belong; heartbeats don't.
        let (queue, sets) = (queue.clone(), sets.clone());
        nodes.on_change(move |change| {
            let relevant = match change {
                Change::Added(_) | Change::Deleted(_) => true,
                Change::Updated { old, new } => {
                    old.metadata.labels != new.metadata.labels || old.spec != new.spec
                }
            };
            if relevant {
                for ds in sets.list() {
                    queue.add(key_of(ds.as_ref()));
                }
            }
        });
    }
    {
        let queue = queue.clone();
        revisions.on_change(move |change| {
            let (Change::Added(r) | Change::Deleted(r) | Change::Updated { new: r, .. }) = change;
            if let Some(owner) = controller_of(&r.metadata).filter(|o| o.kind == "DaemonSet") {
                let ns = r.metadata.namespace.as_deref().unwrap_or("");
                queue.add(format!("{ns}/{}", owner.name));
            }
        });
    }
    Controller {
        name: "daemonset",
        queue,
        workers: ctx.options.workers,
        resync: None,
        tasks: Vec::new(),
        reconciler: Arc::new(DaemonSets {
            client: ctx.client.clone(),
            sets,
            pods,
            nodes,
            revisions,
            expectations,
            failed_backoff: Mutex::default(),
            events: ctx.events.for_component("daemonset-controller"),
        }),
    }
}

impl DaemonSets {
    /// Whether the failed pod on `node` may be replaced now; otherwise how long to wait.
    fn failed_backoff(&self, key: &str, node: &str) -> Result<(), Duration> {
        let mut map = self
            .failed_backoff
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = format!("{key}/{node}");
        match map.get(&entry).copied() {
            Some((delay, at)) if at.elapsed() < delay => Err(delay - at.elapsed()),
            Some((delay, at)) => {
                // A long quiet spell starts the backoff over.
                let next = if at.elapsed() > 2 * FAILED_BACKOFF_MAX {
                    FAILED_BACKOFF_START
                } else {
                    (delay * 2).min(FAILED_BACKOFF_MAX)
                };
                map.insert(entry, (next, Instant::now()));
                Ok(())
            }
            None => {
                map.insert(entry, (FAILED_BACKOFF_START, Instant::now()));
                Ok(())
            }
        }
    }

    /// Creates daemon pods on `nodes` (slow start) and deletes `delete`, under expectations.
    async fn sync_nodes(
        &self,
        key: &str,
        ds: &DaemonSet,
        template: &PodTemplateSpec,
        nodes: Vec<String>,
        delete: Vec<Arc<Pod>>,
    ) -> Result<(), crate::Error> {
        if nodes.is_empty() && delete.is_empty() {
            return Ok(());
        }
        let (ns, name) = split_key(key);
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let uids: Vec<String> = delete
            .iter()
            .map(|p| p.metadata.uid.clone().unwrap_or_default())
            .collect();
        let count = nodes.len().min(crate::replicaset::BURST_REPLICAS);
        self.expectations.expect(key, count, uids);
        let owner = controller_ref("apps/v1", "DaemonSet", &ds.metadata);
        let pending: Mutex<VecDeque<String>> = Mutex::new(nodes.into_iter().take(count).collect());
        let (attempted, err) = crate::replicaset::slow_start_batch(count, || {
            let node = pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .pop_front()
                .unwrap_or_default();
            let mut pod = pods::from_template(template, ns, name, owner.clone());
            if let Some(spec) = pod.spec.as_mut() {
                spec.affinity = Some(plan::pin_to_node(spec.affinity.take(), &node));
            }
            let api = api.clone();
            async move {
                match api.create(&PostParams::default(), &pod).await {
                    Ok(p) => {
                        self.events.record(
                            ds,
                            EventType::Normal,
                            "SuccessfulCreate",
                            format!("Created pod: {}", p.metadata.name.unwrap_or_default()),
                        );
                        Ok(())
                    }
                    Err(err) => {
                        self.expectations.creation_observed(key);
                        Err(err)
                    }
                }
            }
        })
        .await;
        let mut first_err = None;
        if let Some(err) = err {
            for _ in attempted..count {
                self.expectations.creation_observed(key);
            }
            self.events.record(
                ds,
                EventType::Warning,
                "FailedCreate",
                format!("Error creating: {err}"),
            );
            first_err = Some(err);
        }
        for pod in delete {
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            match api.delete(&pod_name, &DeleteParams::default()).await {
                Ok(_) => self.events.record(
                    ds,
                    EventType::Normal,
                    "SuccessfulDelete",
                    format!("Deleted pod: {pod_name}"),
                ),
                Err(err) => {
                    self.expectations
                        .deletion_observed(key, pod.metadata.uid.as_deref().unwrap_or(""));
                    if !matches!(&err, kube::Error::Api(s) if s.code == 404) {
                        first_err.get_or_insert(err);
                    }
                }
            }
        }
        match first_err {
            Some(err) => Err(err.into()),
            None => Ok(()),
        }
    }

    /// Manage, then roll: returns when to look again (a failed pod in backoff).
    async fn update(
        &self,
        key: &str,
        ds: &DaemonSet,
        template: &PodTemplateSpec,
        nodes: &[Arc<Node>],
        pods: &[Arc<Pod>],
        hash: &str,
    ) -> Result<Option<Duration>, crate::Error> {
        let now = rkube_api::time::now();
        let by_node = plan::by_node(pods);
        let mut actions = plan::manage(ds, template, nodes, &by_node, hash, now);
        let mut again = None;
        for (node, pod) in std::mem::take(&mut actions.failed) {
            match self.failed_backoff(key, &node) {
                Ok(()) => {
                    self.events.record(
                        ds,
                        EventType::Warning,
                        "FailedDaemonPod",
                        format!(
                            "Found failed daemon pod {} on node {node}, will try to kill it",
                            pod.metadata.name.as_deref().unwrap_or("")
                        ),
                    );
                    actions.delete.push(pod);
                }
                Err(wait) => again = Some(again.map_or(wait, |a: Duration| a.min(wait))),
            }
        }
        let busy = !actions.create.is_empty() || !actions.delete.is_empty();
        self.sync_nodes(key, ds, template, actions.create, actions.delete)
            .await?;
        let rolling = ds
            .spec
            .as_ref()
            .and_then(|s| s.update_strategy.as_ref())
            .and_then(|s| s.type_.as_deref())
            .is_none_or(|t| t == "RollingUpdate");
        if !busy && rolling {
            let roll = plan::rolling_update(ds, template, nodes, &by_node, hash, now);
            self.sync_nodes(key, ds, template, roll.create, roll.delete)
                .await?;
        }
        Ok(again)
    }
}

#[async_trait::async_trait]
impl Reconciler for DaemonSets {
    async fn sync(&self, key: &str) -> Result<Option<Duration>, crate::Error> {
        let Some(ds) = self.sets.get(key) else {
            self.expectations.forget(key);
            return Ok(None);
        };
        let (ns, name) = split_key(key);
        let selector = selector_of(&ds)?;
        if selector.is_everything() {
            self.events.record(
                ds.as_ref(),
                EventType::Warning,
                "SelectingAll",
                "This daemon set is selecting all pods. A non-empty selector is required."
                    .to_owned(),
            );
            return Ok(None);
        }
        let reference = controller_ref("apps/v1", "DaemonSet", &ds.metadata);
        let owner = || Owner {
            meta: &ds.metadata,
            reference: reference.clone(),
            selector: &selector,
        };
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let candidates = self
            .pods
            .owned_or_orphaned(ns, ds.metadata.uid.as_deref().unwrap_or(""));
        let pods = claim(&api, &owner(), candidates).await?;
        let spec_template = ds
            .spec
            .as_ref()
            .map(|s| s.template.clone())
            .unwrap_or_default();
        let history = History {
            client: self.client.clone(),
            namespace: ns,
            owner: owner(),
            labels: spec_template
                .metadata
                .as_ref()
                .and_then(|m| m.labels.clone())
                .unwrap_or_default(),
        };
        let revisions = history.owned(&self.revisions).await?;
        let mut collisions = ds
            .status
            .as_ref()
            .and_then(|s| s.collision_count)
            .unwrap_or(0);
        let current = history
            .ensure(&revisions, &spec_template, &mut collisions)
            .await?;
        let hash = crate::history::hash_label(&current.metadata).to_owned();
        let template = plan::pod_template(&ds, &hash);
        let mut nodes = self.nodes.list();
        nodes.retain(|n| n.metadata.deletion_timestamp.is_none());

        let mut result = Ok(None);
        if self.expectations.satisfied(key) && ds.metadata.deletion_timestamp.is_none() {
            result = self.update(key, &ds, &template, &nodes, &pods, &hash).await;
            // Old revisions no live pod uses, beyond the history limit.
            let mut keep: HashSet<String> = pods
                .iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .map(|p| format!("{name}-{}", crate::history::hash_label(&p.metadata)))
                .collect();
            keep.insert(current.metadata.name.clone().unwrap_or_default());
            let limit = ds
                .spec
                .as_ref()
                .and_then(|s| s.revision_history_limit)
                .unwrap_or(10);
            history
                .delete(&crate::history::prune(&revisions, &keep, limit))
                .await?;
        }

        let now = rkube_api::time::now();
        let status = plan::status(
            &ds,
            &template,
            &nodes,
            &plan::by_node(&pods),
            &hash,
            collisions,
            now,
        );
        if ds.status.as_ref() != Some(&status) {
            let mut updated = (*ds).clone();
            updated.status = Some(status.clone());
            let sets: Api<DaemonSet> = Api::namespaced(self.client.clone(), ns);
            sets.replace_status(name, &PostParams::default(), &updated)
                .await?;
        }
        let again = result?;
        // Ready pods that become available after minReadySeconds.
        let min_ready = ds
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0);
        let available_in = pods
            .iter()
            .filter_map(|p| pods::seconds_until_available(p, min_ready, now))
            .min()
            .map(|s| Duration::from_secs(s as u64));
        Ok(match (again, available_in) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }
}
