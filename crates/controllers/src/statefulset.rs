//! The StatefulSet controller: pods with stable identities `<set>-<n>` (hostname, subdomain,
//! identity labels), each with its own PersistentVolumeClaims made from the claim templates;
//! OrderedReady (one at a time, in order, each ready before the next; scale-down in reverse)
//! or Parallel pod management; ControllerRevisions with current and update revisions;
//! RollingUpdate (partition, maxUnavailable) or OnDelete; the claims' retention policy; the
//! status `kubectl rollout status` reads.

pub mod claims;
pub mod plan;

use crate::claim::{Owner, claim};
use crate::events::{EventType, Recorder};
use crate::history::History;
use crate::informer::{Change, Informer, key_of, split_key};
use crate::pods::{self, controller_of, controller_ref};
use crate::queue::WorkQueue;
use crate::{Context, Controller, Reconciler};
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use plan::Step;
use rkube_api::labels::Selector;
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// The StatefulSet controller's state.
pub struct StatefulSets {
    client: kube::Client,
    sets: Informer<StatefulSet>,
    pods: Informer<Pod>,
    claims: Informer<PersistentVolumeClaim>,
    revisions: Informer<ControllerRevision>,
    events: Recorder,
}

fn selector_of(set: &StatefulSet) -> Result<Selector, crate::Error> {
    Selector::from_label_selector(set.spec.as_ref().map(|s| &s.selector))
        .map_err(crate::Error::Invalid)
}

/// The key of the StatefulSet that controls `meta`'s object, if one does.
fn owner_key(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<String> {
    let r = controller_of(meta).filter(|r| r.kind == "StatefulSet")?;
    let ns = meta.namespace.as_deref().unwrap_or("");
    Some(format!("{ns}/{}", r.name))
}

/// The StatefulSet controller, its informer callbacks registered.
pub fn controller(ctx: &Context) -> Controller {
    let sets = ctx.informers.get::<StatefulSet>();
    let pods = ctx.informers.get::<Pod>();
    pods.add_index(
        crate::informer::BY_CONTROLLER,
        crate::informer::by_controller::<Pod>,
    );
    let claims = ctx.informers.get::<PersistentVolumeClaim>();
    let revisions = ctx.informers.get::<ControllerRevision>();
    let queue = WorkQueue::new();
    {
        let queue = queue.clone();
        sets.on_change(move |change| match change {
            Change::Added(s) | Change::Deleted(s) => queue.add(key_of(s.as_ref())),
            Change::Updated { new, .. } => queue.add(key_of(new.as_ref())),
        });
    }
    {
        let (queue, sets) = (queue.clone(), sets.clone());
        pods.on_change(move |change| {
            let enqueue = |pod: &Pod| match owner_key(&pod.metadata) {
                Some(key) => {
                    queue.add(key.clone());
                    // A pod that just turned ready becomes available after minReadySeconds.
                    let min_ready = sets
                        .get(&key)
                        .and_then(|s| s.spec.as_ref().and_then(|s| s.min_ready_seconds))
                        .unwrap_or(0);
                    if min_ready > 0 && pods::is_ready(pod) {
                        queue.add_after(key, Duration::from_secs(min_ready as u64 + 1));
                    }
                }
                None => {
                    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
                    let labels = rkube_api::labels::pod_labels(pod);
                    for set in sets.list_namespace(ns) {
                        if selector_of(&set).is_ok_and(|s| !s.is_everything() && s.matches(labels))
                        {
                            queue.add(key_of(set.as_ref()));
                        }
                    }
                }
            };
            match change {
                Change::Added(p) | Change::Deleted(p) => enqueue(p),
                Change::Updated { old, new } => {
                    enqueue(new);
                    if owner_key(&old.metadata) != owner_key(&new.metadata) {
                        enqueue(old);
                    }
                }
            }
        });
    }
    {
        let queue = queue.clone();
        revisions.on_change(move |change| {
            let (Change::Added(r) | Change::Deleted(r) | Change::Updated { new: r, .. }) = change;
            if let Some(key) = owner_key(&r.metadata) {
                queue.add(key);
            }
        });
    }
    Controller {
        name: "statefulset",
        queue,
        workers: ctx.options.workers,
        resync: None,
        tasks: Vec::new(),
        reconciler: Arc::new(StatefulSets {
            client: ctx.client.clone(),
            sets,
            pods,
            claims,
            revisions,
            events: ctx.events.for_component("statefulset-controller"),
        }),
    }
}

/// Both revisions of a sync: names and templates.
struct Revisions {
    current: ControllerRevision,
    update: ControllerRevision,
}

impl StatefulSets {
    /// Creates the ordinal's missing claims; `false` when one is being deleted (the pod waits).
    async fn ensure_claims(&self, set: &StatefulSet, ordinal: i32) -> Result<bool, crate::Error> {
        let ns = set.metadata.namespace.as_deref().unwrap_or("");
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), ns);
        for claim in claims::claims_for(set, ordinal) {
            let name = claim.metadata.name.clone().unwrap_or_default();
            if let Some(existing) = self.claims.get_in(ns, &name) {
                if existing.metadata.deletion_timestamp.is_some() {
                    return Ok(false);
                }
                continue;
            }
            match api.create(&PostParams::default(), &claim).await {
                Ok(_) => self.events.record(
                    set,
                    EventType::Normal,
                    "SuccessfulCreate",
                    format!(
                        "create Claim {name} Pod {} in StatefulSet {} success",
                        plan::pod_name(plan::set_name(set), ordinal),
                        plan::set_name(set)
                    ),
                ),
                Err(kube::Error::Api(s)) if s.code == 409 => {}
                Err(err) => {
                    self.events.record(
                        set,
                        EventType::Warning,
                        "FailedCreate",
                        format!("create Claim {name} failed error: {err}"),
                    );
                    return Err(err.into());
                }
            }
        }
        Ok(true)
    }

    /// Brings the claims' owner references in line with the retention policy.
    async fn update_claim_owners(
        &self,
        set: &StatefulSet,
        pods: &[Arc<Pod>],
    ) -> Result<(), crate::Error> {
        let ns = set.metadata.namespace.as_deref().unwrap_or("");
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), ns);
        for pod in pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none())
        {
            let name = pod.metadata.name.as_deref().unwrap_or("");
            let Some(ordinal) = plan::ordinal_of(plan::set_name(set), name) else {
                continue;
            };
            for wanted in claims::claims_for(set, ordinal) {
                let claim_name = wanted.metadata.name.as_deref().unwrap_or("");
                let Some(claim) = self.claims.get_in(ns, claim_name) else {
                    continue;
                };
                if let Some(refs) = claims::owner_refs(set, pod, &claim) {
                    let patch = json!({"metadata": {
                        "ownerReferences": refs,
                        "resourceVersion": claim.metadata.resource_version,
                    }});
                    match api
                        .patch(claim_name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                    {
                        Ok(_) => {}
                        Err(kube::Error::Api(s)) if s.code == 404 => {}
                        Err(err) => return Err(err.into()),
                    }
                }
            }
        }
        Ok(())
    }

    /// Takes the planned steps in order; stops at the first that must be waited for.
    async fn execute(
        &self,
        set: &StatefulSet,
        steps: Vec<Step>,
        revisions: &Revisions,
    ) -> Result<(), crate::Error> {
        let ns = set.metadata.namespace.as_deref().unwrap_or("");
        let name = plan::set_name(set);
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let ordered = !plan::is_parallel(set);
        for step in steps {
            match step {
                Step::Create { ordinal, update } => {
                    if !self.ensure_claims(set, ordinal).await? {
                        if ordered {
                            return Ok(());
                        }
                        continue;
                    }
                    let revision = if update {
                        &revisions.update
                    } else {
                        &revisions.current
                    };
                    let template = crate::history::template_of(revision)
                        .unwrap_or_else(|| set.spec.clone().unwrap_or_default().template);
                    let revision_name = revision.metadata.name.as_deref().unwrap_or("");
                    let pod = plan::new_pod(set, &template, ordinal, revision_name);
                    let pod_name = plan::pod_name(name, ordinal);
                    match api.create(&PostParams::default(), &pod).await {
                        Ok(_) => self.events.record(
                            set,
                            EventType::Normal,
                            "SuccessfulCreate",
                            format!("create Pod {pod_name} in StatefulSet {name} successful"),
                        ),
                        // Our cache is behind: the pod exists.
                        Err(kube::Error::Api(s)) if s.code == 409 => {}
                        Err(err) => {
                            self.events.record(
                                set,
                                EventType::Warning,
                                "FailedCreate",
                                format!("create Pod {pod_name} in StatefulSet {name} failed error: {err}"),
                            );
                            return Err(err.into());
                        }
                    }
                }
                Step::Delete(pod) => {
                    let pod_name = pod.metadata.name.clone().unwrap_or_default();
                    let params = DeleteParams {
                        preconditions: pod.metadata.uid.clone().map(|uid| {
                            kube::api::Preconditions {
                                uid: Some(uid),
                                resource_version: None,
                            }
                        }),
                        ..DeleteParams::default()
                    };
                    match api.delete(&pod_name, &params).await {
                        Ok(_) => self.events.record(
                            set,
                            EventType::Normal,
                            "SuccessfulDelete",
                            format!("delete Pod {pod_name} in StatefulSet {name} successful"),
                        ),
                        Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                        Err(err) => return Err(err.into()),
                    }
                }
                Step::Relabel { ordinal, pod } => {
                    let pod_name = pod.metadata.name.clone().unwrap_or_default();
                    let patch = json!({"metadata": {"labels": {
                        plan::POD_NAME_LABEL: plan::pod_name(name, ordinal),
                        plan::POD_INDEX_LABEL: ordinal.to_string(),
                    }}});
                    match api
                        .patch(&pod_name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                    {
                        Ok(_) => {}
                        Err(kube::Error::Api(s)) if s.code == 404 => {}
                        Err(err) => return Err(err.into()),
                    }
                }
            }
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Reconciler for StatefulSets {
    async fn sync(&self, key: &str) -> Result<Option<Duration>, crate::Error> {
        let Some(set) = self.sets.get(key) else {
            return Ok(None);
        };
        let (ns, name) = split_key(key);
        let selector = selector_of(&set)?;
        let reference = controller_ref("apps/v1", "StatefulSet", &set.metadata);
        let owner = || Owner {
            meta: &set.metadata,
            reference: reference.clone(),
            selector: &selector,
        };
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        let candidates = self
            .pods
            .owned_or_orphaned(ns, set.metadata.uid.as_deref().unwrap_or(""));
        let pods = claim(&api, &owner(), candidates).await?;
        let spec_template = set.spec.clone().unwrap_or_default().template;
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
        let owned = history.owned(&self.revisions).await?;
        let status = set.status.clone().unwrap_or_default();
        let mut collisions = status.collision_count.unwrap_or(0);
        let update = history
            .ensure(&owned, &spec_template, &mut collisions)
            .await?;
        let current = status
            .current_revision
            .as_deref()
            .and_then(|c| owned.iter().find(|r| r.metadata.name.as_deref() == Some(c)))
            .map(|r| (**r).clone())
            .unwrap_or_else(|| update.clone());
        let revisions = Revisions { current, update };
        let current_name = revisions.current.metadata.name.clone().unwrap_or_default();
        let update_name = revisions.update.metadata.name.clone().unwrap_or_default();

        let now = rkube_api::time::now();
        let mut result = Ok(());
        if set.metadata.deletion_timestamp.is_none() {
            result = async {
                self.update_claim_owners(&set, &pods).await?;
                let steps = plan::plan(&set, &pods, &update_name, now);
                self.execute(&set, steps, &revisions).await
            }
            .await;
            // Revisions no live pod uses, beyond the history limit.
            let mut keep: HashSet<String> = pods
                .iter()
                .map(|p| plan::revision_of(p).to_owned())
                .collect();
            keep.insert(current_name.clone());
            keep.insert(update_name.clone());
            let limit = set
                .spec
                .as_ref()
                .and_then(|s| s.revision_history_limit)
                .unwrap_or(10);
            history
                .delete(&crate::history::prune(&owned, &keep, limit))
                .await?;
        }

        let new_status = plan::status(&set, &pods, &current_name, &update_name, collisions, now);
        if set.status.as_ref() != Some(&new_status) {
            let mut updated = (*set).clone();
            updated.status = Some(new_status);
            let sets: Api<StatefulSet> = Api::namespaced(self.client.clone(), ns);
            sets.replace_status(name, &PostParams::default(), &updated)
                .await?;
        }
        result?;
        let min_ready = set
            .spec
            .as_ref()
            .and_then(|s| s.min_ready_seconds)
            .unwrap_or(0);
        Ok(pods
            .iter()
            .filter_map(|p| pods::seconds_until_available(p, min_ready, now))
            .min()
            .map(|s| Duration::from_secs(s as u64)))
    }
}
