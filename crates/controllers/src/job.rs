//! The Job controller: runs a Job's pods to completion — `completions` successes with at most
//! `parallelism` pods at once, NonIndexed or Indexed (one success per completion index) —
//! counts finished pods exactly once through the `batch.kubernetes.io/job-tracking` finalizer,
//! replaces failed pods after a backoff until `backoffLimit` failures, enforces
//! `activeDeadlineSeconds`, honours `suspend`, and reports active/ready/terminating/succeeded/
//! failed counts and the SuccessCriteriaMet/Complete, FailureTarget/Failed and Suspended
//! conditions.

pub mod plan;
pub mod track;

use crate::claim::{Owner, claim};
use crate::events::{EventType, Recorder};
use crate::expectations::Expectations;
use crate::informer::{Change, Informer, key_of, split_key};
use crate::pods::{self, controller_of, controller_ref};
use crate::queue::WorkQueue;
use crate::replicaset::{BURST_REPLICAS, slow_start_batch};
use crate::{Context, Controller, Reconciler};
use k8s_openapi::api::batch::v1::{Job, JobStatus};
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use rkube_api::labels::Selector;
use serde_json::json;
use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use track::{COMPLETION_INDEX, TRACKING_FINALIZER, has_tracking_finalizer};

/// The Job controller's state.
pub struct Jobs {
    client: kube::Client,
    jobs: Informer<Job>,
    pods: Informer<Pod>,
    expectations: Expectations,
    events: Recorder,
    /// Per Job, the pods whose tracking finalizer this controller removed after counting
    /// them, until its pod cache shows the removal: a stale cache must not count them again.
    untracked: std::sync::Mutex<std::collections::HashMap<String, HashSet<String>>>,
}

/// The Job named by the pod's controller reference (whatever its uid: a pod whose Job is gone
/// still needs its finalizer removed).
fn owner_key(pod: &Pod) -> Option<String> {
    let r = controller_of(&pod.metadata)?;
    (r.kind == "Job" && r.api_version.starts_with("batch/")).then(|| {
        format!(
            "{}/{}",
            pod.metadata.namespace.as_deref().unwrap_or(""),
            r.name
        )
    })
}

fn job_selector(job: &Job) -> Result<Selector, crate::Error> {
    let selector = job.spec.as_ref().and_then(|s| s.selector.as_ref());
    if selector.is_none() {
        return Err(crate::Error::Invalid("job has no selector".to_owned()));
    }
    Selector::from_label_selector(selector).map_err(crate::Error::Invalid)
}

/// The Job controller, its informer callbacks registered.
pub fn controller(ctx: &Context) -> Controller {
    let jobs = ctx.informers.get::<Job>();
    let pods = ctx.informers.get::<Pod>();
    pods.add_index(
        crate::informer::BY_CONTROLLER,
        crate::informer::by_controller::<Pod>,
    );
    let queue = WorkQueue::new();
    let expectations = Expectations::default();
    {
        let queue = queue.clone();
        jobs.on_change(move |change| match change {
            Change::Added(j) | Change::Deleted(j) => queue.add(key_of(j.as_ref())),
            Change::Updated { new, .. } => queue.add(key_of(new.as_ref())),
        });
    }
    {
        let (queue, jobs, expectations) = (queue.clone(), jobs.clone(), expectations.clone());
        pods.on_change(move |change| on_pod_change(&queue, &jobs, &expectations, change));
    }
    Controller {
        name: "job",
        queue: queue.clone(),
        workers: ctx.options.workers,
        resync: None,
        tasks: Vec::new(),
        reconciler: Arc::new(Jobs {
            client: ctx.client.clone(),
            jobs,
            pods,
            expectations,
            events: ctx.events.for_component("job-controller"),
            untracked: Default::default(),
        }),
    }
}

fn on_pod_change(
    queue: &WorkQueue,
    jobs: &Informer<Job>,
    expectations: &Expectations,
    change: Change<'_, Pod>,
) {
    let uid = |p: &Pod| p.metadata.uid.clone().unwrap_or_default();
    let orphan_matches = |pod: &Pod| {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        for job in jobs.list_namespace(ns) {
            if job_selector(&job)
                .is_ok_and(|s| !s.is_everything() && s.matches(rkube_api::labels::pod_labels(pod)))
            {
                queue.add(key_of(job.as_ref()));
            }
        }
    };
    match change {
        Change::Added(pod) => match owner_key(pod) {
            Some(key) => {
                if pod.metadata.deletion_timestamp.is_some() {
                    expectations.deletion_observed(&key, &uid(pod));
                } else {
                    expectations.creation_observed(&key);
                }
                queue.add(key);
            }
            None if controller_of(&pod.metadata).is_none() => orphan_matches(pod),
            None => {}
        },
        Change::Updated { old, new } => {
            if let Some(key) = owner_key(new) {
                if old.metadata.deletion_timestamp.is_none()
                    && new.metadata.deletion_timestamp.is_some()
                {
                    expectations.deletion_observed(&key, &uid(new));
                }
                queue.add(key);
            } else if controller_of(&new.metadata).is_none()
                && old.metadata.labels != new.metadata.labels
            {
                orphan_matches(new);
            }
            if let Some(key) = owner_key(old)
                && owner_key(new).as_ref() != Some(&key)
            {
                queue.add(key);
            }
        }
        Change::Deleted(pod) => {
            if let Some(key) = owner_key(pod) {
                expectations.deletion_observed(&key, &uid(pod));
                queue.add(key);
            }
        }
    }
}

/// The pod the Job creates for `index` (`None` for NonIndexed): the template with the tracking
/// finalizer and, for an Indexed Job, the index annotation and label, the
/// `JOB_COMPLETION_INDEX` variable and the hostname `<job>-<index>`.
pub fn new_pod(job: &Job, index: Option<i32>) -> Option<Pod> {
    let template = &job.spec.as_ref()?.template;
    let ns = job.metadata.namespace.as_deref().unwrap_or("default");
    let name = job.metadata.name.as_deref().unwrap_or("");
    let owner = controller_ref("batch/v1", "Job", &job.metadata);
    let prefix = match index {
        Some(i) => format!("{name}-{i}"),
        None => name.to_owned(),
    };
    let mut pod = pods::from_template(template, ns, &prefix, owner);
    let finalizers = pod.metadata.finalizers.get_or_insert_with(Vec::new);
    if !finalizers.iter().any(|f| f == TRACKING_FINALIZER) {
        finalizers.push(TRACKING_FINALIZER.to_owned());
    }
    if let Some(i) = index {
        let value = i.to_string();
        pod.metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(COMPLETION_INDEX.to_owned(), value.clone());
        pod.metadata
            .labels
            .get_or_insert_with(Default::default)
            .insert(COMPLETION_INDEX.to_owned(), value);
        if let Some(spec) = pod.spec.as_mut() {
            if spec.hostname.as_deref().is_none_or(str::is_empty) {
                spec.hostname = Some(format!("{name}-{i}"));
            }
            let containers = spec
                .containers
                .iter_mut()
                .chain(spec.init_containers.iter_mut().flatten());
            for c in containers {
                let env = c.env.get_or_insert_with(Vec::new);
                if !env.iter().any(|e| e.name == "JOB_COMPLETION_INDEX") {
                    env.push(EnvVar {
                        name: "JOB_COMPLETION_INDEX".to_owned(),
                        value: None,
                        value_from: Some(EnvVarSource {
                            field_ref: Some(ObjectFieldSelector {
                                api_version: None,
                                field_path: format!("metadata.annotations['{COMPLETION_INDEX}']"),
                            }),
                            ..EnvVarSource::default()
                        }),
                    });
                }
            }
        }
    }
    Some(pod)
}

fn ignore_gone(result: Result<(), kube::Error>) -> Result<bool, kube::Error> {
    match result {
        Ok(()) => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(true),
        Err(kube::Error::Api(s)) if s.code == 409 || s.code == 422 => Ok(false),
        Err(err) => Err(err),
    }
}

impl Jobs {
    fn pod_api(&self, ns: &str) -> Api<Pod> {
        Api::namespaced(self.client.clone(), ns)
    }

    /// Removes the tracking finalizer; returns whether the pod no longer has it.
    async fn untrack(&self, api: &Api<Pod>, pod: &Pod) -> Result<bool, kube::Error> {
        let patch = json!({"metadata": {
            "$deleteFromPrimitiveList/finalizers": [TRACKING_FINALIZER],
        }});
        let name = pod.metadata.name.as_deref().unwrap_or("");
        let result = api
            .patch(name, &PatchParams::default(), &Patch::Strategic(patch))
            .await
            .map(|_| ());
        ignore_gone(result)
    }

    /// Removes the finalizer from every pod in `pods` that has it.
    async fn untrack_all(&self, ns: &str, pods: &[Arc<Pod>]) -> Result<(), crate::Error> {
        let api = self.pod_api(ns);
        for pod in pods.iter().filter(|p| has_tracking_finalizer(p)) {
            self.untrack(&api, pod).await?;
        }
        Ok(())
    }

    async fn write_status(&self, job: &Job, status: JobStatus) -> Result<Job, crate::Error> {
        let mut updated = job.clone();
        updated.status = Some(status);
        let api: Api<Job> = Api::namespaced(
            self.client.clone(),
            job.metadata.namespace.as_deref().unwrap_or(""),
        );
        let name = job.metadata.name.as_deref().unwrap_or("");
        Ok(api
            .replace_status(name, &PostParams::default(), &updated)
            .await?)
    }

    /// Deletes and creates pods as planned; returns how many creations failed.
    async fn manage(
        &self,
        key: &str,
        job: &Job,
        plan: &plan::Plan,
    ) -> (usize, Option<kube::Error>) {
        let (ns, _) = split_key(key);
        let api = self.pod_api(ns);
        let create: Vec<Option<i32>> = plan.create.iter().take(BURST_REPLICAS).copied().collect();
        self.expectations.expect(
            key,
            create.len(),
            plan.delete
                .iter()
                .map(|p| p.metadata.uid.clone().unwrap_or_default()),
        );
        let mut first_err = None;
        for pod in &plan.delete {
            let name = pod.metadata.name.clone().unwrap_or_default();
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => self.events.record(
                    job,
                    EventType::Normal,
                    "SuccessfulDelete",
                    format!("Deleted pod: {name}"),
                ),
                Err(err) => {
                    self.expectations
                        .deletion_observed(key, pod.metadata.uid.as_deref().unwrap_or(""));
                    if !matches!(&err, kube::Error::Api(s) if s.code == 404) {
                        self.events.record(
                            job,
                            EventType::Warning,
                            "FailedDelete",
                            format!("Error deleting: {err}"),
                        );
                        first_err.get_or_insert(err);
                    }
                }
            }
        }
        let next = AtomicUsize::new(0);
        let failures = AtomicUsize::new(0);
        let (attempted, err) = slow_start_batch(create.len(), || {
            let index = create[next.fetch_add(1, Ordering::SeqCst)];
            let (api, failures) = (&api, &failures);
            async move {
                let Some(pod) = new_pod(job, index) else {
                    return Ok(());
                };
                match api.create(&PostParams::default(), &pod).await {
                    Ok(p) => {
                        self.events.record(
                            job,
                            EventType::Normal,
                            "SuccessfulCreate",
                            format!("Created pod: {}", p.metadata.name.unwrap_or_default()),
                        );
                        Ok(())
                    }
                    Err(err) => {
                        failures.fetch_add(1, Ordering::SeqCst);
                        self.expectations.creation_observed(key);
                        Err(err)
                    }
                }
            }
        })
        .await;
        let skipped = create.len() - attempted;
        for _ in 0..skipped {
            self.expectations.creation_observed(key);
        }
        if let Some(err) = &err {
            self.events.record(
                job,
                EventType::Warning,
                "FailedCreate",
                format!("Error creating: {err}"),
            );
        }
        let failed = failures.load(Ordering::SeqCst) + skipped + (plan.create.len() - create.len());
        (failed, err.or(first_err))
    }
}

#[async_trait::async_trait]
impl Reconciler for Jobs {
    async fn sync(&self, key: &str) -> Result<Option<Duration>, crate::Error> {
        let (ns, name) = split_key(key);
        let Some(job) = self.jobs.get(key) else {
            // Gone: its pods keep no finalizer of ours.
            self.expectations.forget(key);
            self.untracked
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(key);
            let left: Vec<Arc<Pod>> = self
                .pods
                .list_namespace(ns)
                .into_iter()
                .filter(|p| {
                    controller_of(&p.metadata).is_some_and(|r| r.kind == "Job" && r.name == name)
                })
                .collect();
            self.untrack_all(ns, &left).await?;
            return Ok(None);
        };
        let uid = job.metadata.uid.as_deref().unwrap_or("");
        if job.metadata.deletion_timestamp.is_some() || plan::finished(&job).is_some() {
            let mut owned = self.pods.by_index(crate::informer::BY_CONTROLLER, uid);
            owned.retain(|p| p.metadata.namespace.as_deref() == Some(ns));
            self.untrack_all(ns, &owned).await?;
            return Ok(None);
        }
        let selector = job_selector(&job)?;
        let api = self.pod_api(ns);
        let owner = Owner {
            meta: &job.metadata,
            reference: controller_ref("batch/v1", "Job", &job.metadata),
            selector: &selector,
        };
        let owned = claim(&api, &owner, self.pods.owned_or_orphaned(ns, uid)).await?;

        // Count finished pods: record their uids, remove their finalizers, move the uids
        // into the counters.
        let mut job: Job = (*job).clone();
        let mut status = job.status.clone().unwrap_or_default();
        // Pods counted and untracked before, whose removal the cache has not shown yet.
        let pending: HashSet<String> = {
            let mut untracked = self.untracked.lock().unwrap_or_else(|p| p.into_inner());
            let entry = untracked.entry(key.to_owned()).or_default();
            entry.retain(|uid| {
                owned.iter().any(|p| {
                    p.metadata.uid.as_deref() == Some(uid.as_str()) && has_tracking_finalizer(p)
                })
            });
            entry.clone()
        };
        let counted: Vec<Arc<Pod>> = owned
            .iter()
            .filter(|p| !pending.contains(p.metadata.uid.as_deref().unwrap_or("")))
            .cloned()
            .collect();
        let untrack = track::record_finished(&job, &mut status, &counted);
        if track::normalize(status.clone())
            != track::normalize(job.status.clone().unwrap_or_default())
        {
            job = self.write_status(&job, status.clone()).await?;
        }
        let mut removed: HashSet<String> = HashSet::new();
        for pod in &untrack {
            if self.untrack(&api, pod).await? {
                removed.insert(pod.metadata.uid.clone().unwrap_or_default());
            }
        }
        let still_tracked: HashSet<String> = owned
            .iter()
            .filter(|p| has_tracking_finalizer(p))
            .filter_map(|p| p.metadata.uid.clone())
            .filter(|u| !removed.contains(u) && !pending.contains(u))
            .collect();
        track::flush(&mut status, &still_tracked);
        self.untracked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(key.to_owned())
            .or_default()
            .extend(removed.iter().cloned());

        let now = rkube_api::time::now();
        let satisfied = self.expectations.satisfied(key);
        let mut plan = plan::plan(&job, status, &owned, now, satisfied);
        let mut result = Ok(());
        if !plan.delete.is_empty() || !plan.create.is_empty() {
            let (failed, err) = self.manage(key, &job, &plan).await;
            let active = plan.status.active.unwrap_or(0) - failed as i32;
            plan.status.active = (active > 0).then_some(active);
            if let Some(err) = err {
                result = Err(crate::Error::from(err));
            }
        }
        if track::normalize(plan.status.clone())
            != track::normalize(job.status.clone().unwrap_or_default())
        {
            let status = plan.status.clone();
            job = self.write_status(&job, status).await?;
        }
        for (kind, reason, message) in plan.events.drain(..) {
            self.events.record(&job, kind, reason, message);
        }
        result?;
        Ok(plan.requeue)
    }
}
