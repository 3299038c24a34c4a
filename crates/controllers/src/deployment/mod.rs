//! The Deployment controller: a ReplicaSet per pod template, rolled out with RollingUpdate
//! (maxSurge/maxUnavailable) or Recreate, revisions for `kubectl rollout history|undo`, pause
//! and resume, proportional scaling mid-rollout, history cleanup, and the Available and
//! Progressing conditions (with `progressDeadlineSeconds`).

mod revisions;
mod rolling;
mod status;

pub use revisions::{POD_TEMPLATE_HASH, REVISION, template_hash};

use crate::claim::{Owner, claim};
use crate::events::{EventType, Recorder};
use crate::informer::{Change, Informer, key_of, split_key};
use crate::pods::{controller_of, controller_ref};
use crate::queue::WorkQueue;
use crate::{Context, Controller, Reconciler};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use rkube_api::labels::Selector;
use rolling::{Sizes, fenceposts, is_rolling, replicas};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

/// The Deployment controller's state.
pub struct Deployments {
    client: kube::Client,
    deployments: Informer<Deployment>,
    sets: Informer<ReplicaSet>,
    pods: Informer<Pod>,
    events: Recorder,
}

fn owner_key(
    sets_owner: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference>,
    ns: &str,
) -> Option<String> {
    let r = sets_owner?;
    (r.kind == "Deployment").then(|| format!("{ns}/{}", r.name))
}

fn selector_of(d: &Deployment) -> Result<Selector, crate::Error> {
    Selector::from_label_selector(d.spec.as_ref().map(|s| &s.selector))
        .map_err(crate::Error::Invalid)
}

/// The Deployment controller, its informer callbacks registered.
pub fn controller(ctx: &Context) -> Controller {
    let deployments = ctx.informers.get::<Deployment>();
    let sets = ctx.informers.get::<ReplicaSet>();
    let pods = ctx.informers.get::<Pod>();
    sets.add_index(
        crate::informer::BY_CONTROLLER,
        crate::informer::by_controller::<ReplicaSet>,
    );
    pods.add_index(
        crate::informer::BY_CONTROLLER,
        crate::informer::by_controller::<Pod>,
    );
    let queue = WorkQueue::new();
    {
        let queue = queue.clone();
        deployments.on_change(move |change| match change {
            Change::Added(d) | Change::Deleted(d) => queue.add(key_of(d.as_ref())),
            Change::Updated { new, .. } => queue.add(key_of(new.as_ref())),
        });
    }
    {
        let (queue, deployments) = (queue.clone(), deployments.clone());
        sets.on_change(move |change| {
            let enqueue = |rs: &ReplicaSet| {
                let ns = rs.metadata.namespace.as_deref().unwrap_or("");
                match owner_key(controller_of(&rs.metadata), ns) {
                    Some(key) => queue.add(key),
                    None => {
                        // An orphan: every Deployment that could adopt it looks.
                        let labels = rkube_api::labels::labels_of(rs.metadata.labels.as_ref());
                        for d in deployments.list_namespace(ns) {
                            if selector_of(&d)
                                .is_ok_and(|s| !s.is_everything() && s.matches(labels))
                            {
                                queue.add(key_of(d.as_ref()));
                            }
                        }
                    }
                }
            };
            match change {
                Change::Added(rs) | Change::Deleted(rs) => enqueue(rs),
                Change::Updated { old, new } => {
                    enqueue(new);
                    if controller_of(&old.metadata).map(|r| &r.uid)
                        != controller_of(&new.metadata).map(|r| &r.uid)
                    {
                        enqueue(old);
                    }
                }
            }
        });
    }
    {
        // Recreate waits until the old pods are gone: their deletion moves it on.
        let (queue, sets, deployments) = (queue.clone(), sets.clone(), deployments.clone());
        pods.on_change(move |change| {
            let Change::Deleted(pod) = change else { return };
            let ns = pod.metadata.namespace.as_deref().unwrap_or("");
            let Some(r) = controller_of(&pod.metadata).filter(|r| r.kind == "ReplicaSet") else {
                return;
            };
            let Some(rs) = sets.get_in(ns, &r.name) else {
                return;
            };
            if let Some(key) = owner_key(controller_of(&rs.metadata), ns)
                && deployments.get(&key).is_some_and(|d| !is_rolling(&d))
            {
                queue.add(key);
            }
        });
    }
    Controller {
        name: "deployment",
        queue,
        workers: ctx.options.workers,
        resync: None,
        tasks: Vec::new(),
        reconciler: Arc::new(Deployments {
            client: ctx.client.clone(),
            deployments,
            sets,
            pods,
            events: ctx.events.for_component("deployment-controller"),
        }),
    }
}

/// One sync of one Deployment: its current object and ReplicaSets, updated as the sync
/// writes.
struct Rollout<'a> {
    ctrl: &'a Deployments,
    d: Deployment,
    ns: String,
    new: Option<ReplicaSet>,
    old: Vec<ReplicaSet>,
}

fn rs_replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

fn rs_available(rs: &ReplicaSet) -> i32 {
    rs.status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

fn name_of(meta: &ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

impl Rollout<'_> {
    fn sets_api(&self) -> Api<ReplicaSet> {
        Api::namespaced(self.ctrl.client.clone(), &self.ns)
    }

    fn deployments_api(&self) -> Api<Deployment> {
        Api::namespaced(self.ctrl.client.clone(), &self.ns)
    }

    fn all(&self) -> Vec<&ReplicaSet> {
        self.new.iter().chain(self.old.iter()).collect()
    }

    /// Finds (and with `create`, makes) the new ReplicaSet and brings revisions up to date.
    async fn sync_revision(&mut self, create: bool) -> Result<(), crate::Error> {
        let max_old = self.old.iter().map(revisions::revision).max().unwrap_or(0);
        let new_revision = max_old + 1;
        let (surge, _) = fenceposts(&self.d);
        let sets_api = self.sets_api();
        if let Some(new) = self.new.as_mut() {
            let current = revisions::revision(new);
            let annotations = revisions::annotations_for(
                &self.d,
                new.metadata.annotations.as_ref(),
                new_revision.max(current),
                surge,
            );
            let mut annotations = annotations;
            // Desired/max replicas change only when the set is scaled.
            for k in [revisions::DESIRED_REPLICAS, revisions::MAX_REPLICAS] {
                match new.metadata.annotations.as_ref().and_then(|a| a.get(k)) {
                    Some(v) => annotations.insert(k.to_owned(), v.clone()),
                    None => annotations.remove(k),
                };
            }
            if new.metadata.annotations.as_ref() != Some(&annotations) {
                new.metadata.annotations = Some(annotations);
                let name = name_of(&new.metadata);
                *new = sets_api.replace(&name, &PostParams::default(), new).await?;
            }
        } else if create {
            self.create_new_rs(new_revision, surge).await?;
        }
        let revision = self.new.as_ref().map(revisions::revision);
        if let Some(revision) = revision.filter(|r| *r > 0) {
            let current = self
                .d
                .metadata
                .annotations
                .as_ref()
                .and_then(|a| a.get(REVISION))
                .cloned();
            if current != Some(revision.to_string()) {
                let patch = json!({"metadata": {"annotations": {REVISION: revision.to_string()}}});
                self.d = self
                    .deployments_api()
                    .patch(
                        &name_of(&self.d.metadata),
                        &PatchParams::default(),
                        &Patch::Merge(patch),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    async fn create_new_rs(&mut self, revision: i64, surge: i32) -> Result<(), crate::Error> {
        let d = &self.d;
        let spec = d.spec.clone().unwrap_or_default();
        let collision = d.status.as_ref().and_then(|s| s.collision_count);
        let hash = revisions::template_hash(&spec.template, collision);
        let mut template = spec.template.clone();
        let meta = template.metadata.get_or_insert_with(ObjectMeta::default);
        meta.labels
            .get_or_insert_with(Default::default)
            .insert(POD_TEMPLATE_HASH.to_owned(), hash.clone());
        let mut selector = spec.selector.clone();
        selector
            .match_labels
            .get_or_insert_with(Default::default)
            .insert(POD_TEMPLATE_HASH.to_owned(), hash.clone());
        let target = replicas(d);
        let size = if is_rolling(d) {
            let total: i32 = self.old.iter().map(rs_replicas).sum();
            rolling::new_rs_replicas(target, surge, total, 0)
        } else {
            target
        };
        let name = format!("{}-{hash}", name_of(&d.metadata));
        let rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: Some(self.ns.clone()),
                labels: meta.labels.clone(),
                annotations: Some(revisions::annotations_for(d, None, revision, surge)),
                owner_references: Some(vec![controller_ref("apps/v1", "Deployment", &d.metadata)]),
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(size),
                min_ready_seconds: spec.min_ready_seconds,
                selector,
                template: Some(template),
            }),
            status: None,
        };
        match self.sets_api().create(&PostParams::default(), &rs).await {
            Ok(created) => {
                self.ctrl.events.record(
                    d,
                    EventType::Normal,
                    "ScalingReplicaSet",
                    format!("Scaled up replica set {name} from 0 to {size}"),
                );
                let mut status = d.status.clone().unwrap_or_default();
                if status::progress_deadline(d).is_some() {
                    status::set_progressing(
                        &mut status,
                        status::NEW_RS_CREATED,
                        format!("Created new replica set \"{name}\""),
                        rkube_api::time::now(),
                    );
                    self.update_status(status).await?;
                }
                self.new = Some(created);
                Ok(())
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {
                // Ours already (a cache lagging behind our own create)? Else a hash collision:
                // count it so the next name differs.
                let existing = self.sets_api().get(&name).await?;
                let ours = controller_of(&existing.metadata).map(|r| r.uid.as_str())
                    == d.metadata.uid.as_deref();
                let same = existing
                    .spec
                    .as_ref()
                    .and_then(|s| s.template.as_ref())
                    .is_some_and(|t| revisions::equal_ignore_hash(t, &spec.template));
                if ours && same {
                    self.new = Some(existing);
                    return Ok(());
                }
                let mut status = d.status.clone().unwrap_or_default();
                status.collision_count = Some(collision.unwrap_or(0) + 1);
                self.update_status(status).await?;
                Err(crate::Error::Invalid(format!(
                    "hash collision for replica set {name}"
                )))
            }
            Err(err) => Err(err.into()),
        }
    }

    async fn update_status(
        &mut self,
        status: k8s_openapi::api::apps::v1::DeploymentStatus,
    ) -> Result<(), crate::Error> {
        if self.d.status.as_ref() == Some(&status) {
            return Ok(());
        }
        let mut d = self.d.clone();
        d.status = Some(status);
        self.d = self
            .deployments_api()
            .replace_status(&name_of(&d.metadata), &PostParams::default(), &d)
            .await?;
        Ok(())
    }

    /// Sets a ReplicaSet's size (and its desired/max annotations); true if it changed.
    async fn scale(&self, rs: &mut ReplicaSet, size: i32) -> Result<bool, crate::Error> {
        let (surge, _) = fenceposts(&self.d);
        let from = rs_replicas(rs);
        let mut annotations = rs.metadata.annotations.clone().unwrap_or_default();
        annotations.insert(
            revisions::DESIRED_REPLICAS.to_owned(),
            replicas(&self.d).to_string(),
        );
        annotations.insert(
            revisions::MAX_REPLICAS.to_owned(),
            (replicas(&self.d) + surge).to_string(),
        );
        if from == size && rs.metadata.annotations.as_ref() == Some(&annotations) {
            return Ok(false);
        }
        rs.metadata.annotations = Some(annotations);
        rs.spec.get_or_insert_with(Default::default).replicas = Some(size);
        let name = name_of(&rs.metadata);
        *rs = self
            .sets_api()
            .replace(&name, &PostParams::default(), rs)
            .await?;
        if from != size {
            let verb = if size > from { "up" } else { "down" };
            self.ctrl.events.record(
                &self.d,
                EventType::Normal,
                "ScalingReplicaSet",
                format!("Scaled {verb} replica set {name} from {from} to {size}"),
            );
        }
        Ok(from != size)
    }

    async fn rolling(&mut self) -> Result<Option<Duration>, crate::Error> {
        self.sync_revision(true).await?;
        let target = replicas(&self.d);
        let (surge, max_unavailable) = fenceposts(&self.d);
        if let Some(mut new) = self.new.take() {
            let current = rs_replicas(&new);
            let size = if current > target {
                target
            } else {
                let total: i32 = self.all().iter().map(|rs| rs_replicas(rs)).sum::<i32>() + current;
                rolling::new_rs_replicas(target, surge, total, current)
            };
            let scaled = self.scale(&mut new, size).await;
            self.new = Some(new);
            if scaled? {
                return self.sync_rollout_status().await;
            }
        }
        let new_sizes = self
            .new
            .as_ref()
            .map(|rs| Sizes {
                replicas: rs_replicas(rs),
                available: rs_available(rs),
            })
            .unwrap_or(Sizes {
                replicas: 0,
                available: 0,
            });
        let old_sizes: Vec<Sizes> = self
            .old
            .iter()
            .map(|rs| Sizes {
                replicas: rs_replicas(rs),
                available: rs_available(rs),
            })
            .collect();
        let targets = rolling::scale_down_old(target, max_unavailable, new_sizes, &old_sizes);
        let mut scaled = false;
        let mut old = std::mem::take(&mut self.old);
        for (rs, size) in old.iter_mut().zip(targets) {
            if size != rs_replicas(rs) {
                match self.scale(rs, size).await {
                    Ok(s) => scaled |= s,
                    Err(err) => {
                        self.old = old;
                        return Err(err);
                    }
                }
            }
        }
        self.old = old;
        if scaled {
            return self.sync_rollout_status().await;
        }
        let status = status::calculate(
            &self.d,
            self.new.as_ref(),
            &self.all(),
            rkube_api::time::now(),
        );
        if status::complete(&self.d, &status) {
            self.cleanup().await?;
        }
        self.sync_rollout_status().await
    }

    fn old_pods_running(&self) -> bool {
        self.old
            .iter()
            .filter_map(|rs| rs.metadata.uid.as_deref())
            .flat_map(|uid| self.ctrl.pods.by_index(crate::informer::BY_CONTROLLER, uid))
            .any(|p| {
                p.metadata.namespace.as_deref() == Some(&self.ns) && !crate::pods::is_terminated(&p)
            })
    }

    async fn recreate(&mut self) -> Result<Option<Duration>, crate::Error> {
        self.sync_revision(false).await?;
        let mut scaled = false;
        let mut old = std::mem::take(&mut self.old);
        for rs in old.iter_mut().filter(|rs| rs_replicas(rs) > 0) {
            match self.scale(rs, 0).await {
                Ok(s) => scaled |= s,
                Err(err) => {
                    self.old = old;
                    return Err(err);
                }
            }
        }
        self.old = old;
        if scaled || self.old_pods_running() {
            return self.sync_rollout_status().await;
        }
        if self.new.is_none() {
            self.sync_revision(true).await?;
        }
        if let Some(mut new) = self.new.take() {
            let scaled = self.scale(&mut new, replicas(&self.d)).await;
            self.new = Some(new);
            scaled?;
        }
        let status = status::calculate(
            &self.d,
            self.new.as_ref(),
            &self.all(),
            rkube_api::time::now(),
        );
        if status::complete(&self.d, &status) {
            self.cleanup().await?;
        }
        self.sync_rollout_status().await
    }

    /// Resizes the ReplicaSets for a changed replica count (also while paused).
    async fn scale_all(&mut self) -> Result<(), crate::Error> {
        let target = replicas(&self.d);
        let active: usize = self.all().iter().filter(|rs| rs_replicas(rs) > 0).count();
        if active <= 1 {
            let pick_new = self.new.is_some()
                && (active == 0 || self.new.as_ref().is_some_and(|rs| rs_replicas(rs) > 0));
            if pick_new {
                let mut new = self.new.take().unwrap_or_default();
                let r = self.scale(&mut new, target).await;
                self.new = Some(new);
                r?;
            } else if let Some(i) = self.old.iter().position(|rs| rs_replicas(rs) > 0) {
                let mut rs = self.old[i].clone();
                self.scale(&mut rs, target).await?;
                self.old[i] = rs;
            }
            return Ok(());
        }
        let saturated = self
            .new
            .as_ref()
            .is_some_and(|rs| rs_replicas(rs) == target && rs_available(rs) == target);
        if saturated {
            let mut old = std::mem::take(&mut self.old);
            for rs in old.iter_mut() {
                if let Err(err) = self.scale(rs, 0).await {
                    self.old = old;
                    return Err(err);
                }
            }
            self.old = old;
            return Ok(());
        }
        if !is_rolling(&self.d) {
            return Ok(());
        }
        let (surge, _) = fenceposts(&self.d);
        let mut sets: Vec<ReplicaSet> = self
            .new
            .take()
            .into_iter()
            .chain(std::mem::take(&mut self.old))
            .collect();
        let current: i32 = sets.iter().map(rs_replicas).sum();
        let allowed = target + surge;
        // Growing favours bigger then newer sets, shrinking bigger then older ones.
        let grow = allowed > current;
        sets.sort_by(|a, b| {
            let by_size = rs_replicas(b).cmp(&rs_replicas(a));
            let created = |rs: &ReplicaSet| rs.metadata.creation_timestamp.as_ref().map(|t| t.0);
            by_size.then_with(|| {
                if grow {
                    created(b).cmp(&created(a))
                } else {
                    created(a).cmp(&created(b))
                }
            })
        });
        let annotated: Vec<(i32, i32)> = sets
            .iter()
            .map(|rs| {
                let desired = rs
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(revisions::DESIRED_REPLICAS))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                (rs_replicas(rs), desired)
            })
            .collect();
        let sizes = rolling::proportional(allowed, &annotated, target);
        let template = self.d.spec.as_ref().map(|s| s.template.clone());
        let mut result = Ok(());
        for (rs, size) in sets.iter_mut().zip(sizes) {
            if result.is_ok() {
                result = self.scale(rs, size).await.map(|_| ());
            }
        }
        let is_new = |rs: &ReplicaSet| match (
            &template,
            rs.spec.as_ref().and_then(|s| s.template.as_ref()),
        ) {
            (Some(a), Some(b)) => revisions::equal_ignore_hash(a, b),
            _ => false,
        };
        for rs in sets {
            if self.new.is_none() && is_new(&rs) {
                self.new = Some(rs);
            } else {
                self.old.push(rs);
            }
        }
        result
    }

    async fn cleanup(&mut self) -> Result<(), crate::Error> {
        let limit = self
            .d
            .spec
            .as_ref()
            .and_then(|s| s.revision_history_limit)
            .unwrap_or(10);
        let old: Vec<Arc<ReplicaSet>> = self.old.iter().cloned().map(Arc::new).collect();
        for rs in revisions::history_to_delete(&old, limit) {
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    uid: rs.metadata.uid.clone(),
                    resource_version: None,
                }),
                ..DeleteParams::default()
            };
            match self
                .sets_api()
                .delete(&name_of(&rs.metadata), &params)
                .await
            {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 || s.code == 409 => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(())
    }

    /// Writes the counts and conditions; asks to look again when the progress deadline would
    /// pass.
    async fn sync_rollout_status(&mut self) -> Result<Option<Duration>, crate::Error> {
        let now = rkube_api::time::now();
        let mut new_status = status::calculate(&self.d, self.new.as_ref(), &self.all(), now);
        let subject = match &self.new {
            Some(rs) => format!("ReplicaSet \"{}\"", name_of(&rs.metadata)),
            None => format!("Deployment \"{}\"", name_of(&self.d.metadata)),
        };
        let paused = self.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        let mut requeue = None;
        match status::progress_deadline(&self.d) {
            None => status::remove_condition(&mut new_status, "Progressing"),
            Some(deadline) => {
                let timed_out_before = status::condition(&new_status, "Progressing")
                    .is_some_and(|c| c.reason.as_deref() == Some(status::TIMED_OUT));
                if !timed_out_before && !paused {
                    if status::complete(&self.d, &new_status) {
                        status::set_condition(
                            &mut new_status,
                            "Progressing",
                            "True",
                            status::NEW_RS_AVAILABLE,
                            format!("{subject} has successfully progressed."),
                            now,
                        );
                    } else if status::progressed(&self.d, &new_status) {
                        status::set_progressing(
                            &mut new_status,
                            status::RS_UPDATED,
                            format!("{subject} is progressing."),
                            now,
                        );
                        requeue = Some(Duration::from_secs(deadline as u64 + 1));
                    } else if status::timed_out(&self.d, &new_status, now) {
                        status::set_condition(
                            &mut new_status,
                            "Progressing",
                            "False",
                            status::TIMED_OUT,
                            format!("{subject} has timed out progressing."),
                            now,
                        );
                        self.ctrl.events.record(
                            &self.d,
                            EventType::Warning,
                            status::TIMED_OUT,
                            format!(
                                "Deployment \"{}\" has timed out progressing.",
                                name_of(&self.d.metadata)
                            ),
                        );
                    } else if let Some(updated) = status::condition(&new_status, "Progressing")
                        .and_then(|c| c.last_update_time.as_ref())
                    {
                        let left = updated.0.as_second() + i64::from(deadline) - now.as_second();
                        requeue = Some(Duration::from_secs(left.max(0) as u64 + 1));
                    }
                }
            }
        }
        self.update_status(new_status).await?;
        Ok(requeue)
    }

    /// Progressing=Unknown when paused or resumed.
    async fn sync_paused_condition(&mut self) -> Result<(), crate::Error> {
        if status::progress_deadline(&self.d).is_none() {
            return Ok(());
        }
        let paused = self.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        let mut status = self.d.status.clone().unwrap_or_default();
        let reason = status::condition(&status, "Progressing").and_then(|c| c.reason.clone());
        let now = rkube_api::time::now();
        if paused && reason.as_deref() != Some(status::PAUSED) {
            status::set_condition(
                &mut status,
                "Progressing",
                "Unknown",
                status::PAUSED,
                "Deployment is paused".to_owned(),
                now,
            );
        } else if !paused && reason.as_deref() == Some(status::PAUSED) {
            status::set_condition(
                &mut status,
                "Progressing",
                "Unknown",
                status::RESUMED,
                "Deployment is resumed".to_owned(),
                now,
            );
        } else {
            return Ok(());
        }
        self.update_status(status).await
    }

    fn scaling_event(&self) -> bool {
        let target = replicas(&self.d).to_string();
        self.all()
            .iter()
            .filter(|rs| rs_replicas(rs) > 0)
            .any(|rs| {
                rs.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(revisions::DESIRED_REPLICAS))
                    .is_some_and(|v| *v != target)
            })
    }
}

#[async_trait::async_trait]
impl Reconciler for Deployments {
    async fn sync(&self, key: &str) -> Result<Option<Duration>, crate::Error> {
        let Some(d) = self.deployments.get(key) else {
            return Ok(None);
        };
        let (ns, _) = split_key(key);
        let selector = selector_of(&d)?;
        if selector.is_everything() {
            self.events.record(
                d.as_ref(),
                EventType::Warning,
                "SelectingAll",
                "This deployment is selecting all pods. A non-empty selector is required."
                    .to_owned(),
            );
            return Ok(None);
        }
        let owner = Owner {
            meta: &d.metadata,
            reference: controller_ref("apps/v1", "Deployment", &d.metadata),
            selector: &selector,
        };
        let api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), ns);
        let candidates = self
            .sets
            .owned_or_orphaned(ns, d.metadata.uid.as_deref().unwrap_or(""));
        let sets = claim(&api, &owner, candidates).await?;
        let (new, old) = revisions::split_new_old(&d, sets);
        let mut rollout = Rollout {
            ctrl: self,
            d: (*d).clone(),
            ns: ns.to_owned(),
            new: new.map(|rs| (*rs).clone()),
            old: old.into_iter().map(|rs| (*rs).clone()).collect(),
        };
        if d.metadata.deletion_timestamp.is_some() {
            rollout.sync_rollout_status().await?;
            return Ok(None);
        }
        rollout.sync_paused_condition().await?;
        let paused = d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        if paused || rollout.scaling_event() {
            rollout.sync_revision(false).await?;
            rollout.scale_all().await?;
            if paused {
                rollout.cleanup().await?;
            }
            return rollout.sync_rollout_status().await;
        }
        if is_rolling(&d) {
            rollout.rolling().await
        } else {
            rollout.recreate().await
        }
    }
}
