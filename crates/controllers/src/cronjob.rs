//! The CronJob controller: creates a Job from `spec.jobTemplate` at each time of a cron
//! schedule (in `spec.timeZone`), named `<cronjob>-<minutes since the epoch>` and annotated with
//! its scheduled time; honours `concurrencyPolicy` (Allow/Forbid/Replace),
//! `startingDeadlineSeconds` and `suspend`; keeps `status.active`, `lastScheduleTime` and
//! `lastSuccessfulTime`; and deletes finished Jobs beyond the history limits.

pub mod plan;
pub mod schedule;

use crate::events::{EventType, Recorder};
use crate::informer::{Change, Informer, key_of, split_key};
use crate::pods::{controller_of, controller_ref};
use crate::queue::WorkQueue;
use crate::{Context, Controller, Reconciler};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, PostParams, PropagationPolicy};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// The CronJob controller's state.
pub struct CronJobs {
    client: kube::Client,
    cronjobs: Informer<CronJob>,
    jobs: Informer<Job>,
    events: Recorder,
}

/// The key of the CronJob that controls `job`, if any.
fn owner_key(job: &Job) -> Option<String> {
    let r = controller_of(&job.metadata)?;
    (r.kind == "CronJob").then(|| {
        format!(
            "{}/{}",
            job.metadata.namespace.as_deref().unwrap_or(""),
            r.name
        )
    })
}

/// The CronJob controller, its informer callbacks registered.
pub fn controller(ctx: &Context) -> Controller {
    let cronjobs = ctx.informers.get::<CronJob>();
    let jobs = ctx.informers.get::<Job>();
    let queue = WorkQueue::new();
    {
        let queue = queue.clone();
        cronjobs.on_change(move |change| match change {
            Change::Added(c) | Change::Updated { new: c, .. } => queue.add(key_of(c.as_ref())),
            Change::Deleted(_) => {}
        });
    }
    {
        let queue = queue.clone();
        jobs.on_change(move |change| {
            let (Change::Added(j) | Change::Updated { new: j, .. } | Change::Deleted(j)) = change;
            if let Some(key) = owner_key(j) {
                queue.add(key);
            }
        });
    }
    Controller {
        name: "cronjob",
        queue,
        workers: ctx.options.workers,
        resync: None,
        tasks: Vec::new(),
        reconciler: Arc::new(CronJobs {
            client: ctx.client.clone(),
            cronjobs,
            jobs,
            events: ctx.events.for_component("cronjob-controller"),
        }),
    }
}

/// The Job for the time `scheduled`: the template's labels, annotations and spec, the
/// scheduled-timestamp annotation, owned by the CronJob.
pub fn job_for(cj: &CronJob, scheduled: Timestamp, tz: &jiff::tz::TimeZone) -> Job {
    let template = cj
        .spec
        .as_ref()
        .map(|s| s.job_template.clone())
        .unwrap_or_default();
    let meta = template.metadata.unwrap_or_default();
    let mut annotations = meta.annotations.unwrap_or_default();
    annotations.insert(
        plan::SCHEDULED_TIMESTAMP.to_owned(),
        plan::rfc3339(scheduled, tz),
    );
    Job {
        metadata: ObjectMeta {
            name: Some(plan::job_name(
                cj.metadata.name.as_deref().unwrap_or(""),
                scheduled,
            )),
            namespace: cj.metadata.namespace.clone(),
            labels: meta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![controller_ref("batch/v1", "CronJob", &cj.metadata)]),
            ..ObjectMeta::default()
        },
        spec: template.spec,
        status: None,
    }
}

fn background() -> DeleteParams {
    DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    }
}

impl CronJobs {
    /// The uids of active Jobs not in the cache that the API confirms are gone.
    async fn gone(
        &self,
        cj: &CronJob,
        owned: &[Arc<Job>],
    ) -> Result<HashSet<String>, crate::Error> {
        let ns = cj.metadata.namespace.as_deref().unwrap_or("");
        let api: Api<Job> = Api::namespaced(self.client.clone(), ns);
        let mut gone = HashSet::new();
        let active = cj
            .status
            .as_ref()
            .and_then(|s| s.active.as_deref())
            .unwrap_or(&[]);
        for r in active {
            if owned.iter().any(|j| j.metadata.uid == r.uid) {
                continue;
            }
            let name = r.name.as_deref().unwrap_or("");
            match api.get_opt(name).await? {
                Some(j) if j.metadata.uid == r.uid => {}
                _ => {
                    gone.insert(r.uid.clone().unwrap_or_default());
                }
            }
        }
        Ok(gone)
    }

    /// Creates the Job for `scheduled`; returns it if it exists now (created, or created
    /// before by this CronJob).
    async fn create(
        &self,
        cj: &CronJob,
        scheduled: Timestamp,
    ) -> Result<Option<Job>, crate::Error> {
        let tz = plan::time_zone(cj).map_err(crate::Error::Invalid)?;
        let job = job_for(cj, scheduled, &tz);
        let ns = cj.metadata.namespace.as_deref().unwrap_or("");
        let api: Api<Job> = Api::namespaced(self.client.clone(), ns);
        let name = job.metadata.name.clone().unwrap_or_default();
        match api.create(&PostParams::default(), &job).await {
            Ok(created) => {
                self.events.record(
                    cj,
                    EventType::Normal,
                    "SuccessfulCreate",
                    format!("Created job {name}"),
                );
                Ok(Some(created))
            }
            Err(kube::Error::Api(s)) if s.code == 409 => {
                let existing = api.get_opt(&name).await?;
                let ours = existing.filter(|j| {
                    controller_of(&j.metadata)
                        .is_some_and(|r| Some(&r.uid) == cj.metadata.uid.as_ref())
                });
                Ok(ours)
            }
            Err(err) => {
                self.events.record(
                    cj,
                    EventType::Warning,
                    "FailedCreate",
                    format!("Error creating job: {err}"),
                );
                Err(err.into())
            }
        }
    }

    async fn delete_job(&self, cj: &CronJob, name: &str) -> Result<(), crate::Error> {
        let ns = cj.metadata.namespace.as_deref().unwrap_or("");
        let api: Api<Job> = Api::namespaced(self.client.clone(), ns);
        match api.delete(name, &background()).await {
            Ok(_) => {
                self.events.record(
                    cj,
                    EventType::Normal,
                    "SuccessfulDelete",
                    format!("Deleted job {name}"),
                );
                Ok(())
            }
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            Err(err) => {
                self.events.record(
                    cj,
                    EventType::Warning,
                    "FailedDelete",
                    format!("Deleted job: {err}"),
                );
                Err(err.into())
            }
        }
    }
}

#[async_trait::async_trait]
impl Reconciler for CronJobs {
    async fn sync(&self, key: &str) -> Result<Option<Duration>, crate::Error> {
        let Some(cj) = self.cronjobs.get(key) else {
            return Ok(None);
        };
        let (ns, _) = split_key(key);
        let owned = plan::owned_by(&cj, self.jobs.list_namespace(ns));
        let gone = self.gone(&cj, &owned).await?;
        let now = rkube_api::time::now();
        let mut plan = plan::plan(&cj, &owned, &gone, now);
        for (kind, reason, message) in plan.events.drain(..) {
            self.events.record(cj.as_ref(), kind, reason, message);
        }
        let mut status = plan.status.clone();
        if let Some(scheduled) = plan.create {
            for r in &plan.replace {
                self.delete_job(&cj, r.name.as_deref().unwrap_or(""))
                    .await?;
                status
                    .active
                    .get_or_insert_with(Vec::new)
                    .retain(|a| a.uid != r.uid);
            }
            if let Some(job) = self.create(&cj, scheduled).await? {
                let active = status.active.get_or_insert_with(Vec::new);
                if plan::finished(&job).is_none()
                    && !active.iter().any(|a| a.uid == job.metadata.uid)
                {
                    active.push(plan::reference(&job));
                }
                status.last_schedule_time = Some(Time(scheduled));
            }
            status.active = status.active.filter(|a| !a.is_empty());
        }
        if cj.status.clone().unwrap_or_default() != status {
            let mut updated = (*cj).clone();
            updated.status = Some(status);
            let api: Api<CronJob> = Api::namespaced(self.client.clone(), ns);
            let name = cj.metadata.name.as_deref().unwrap_or("");
            api.replace_status(name, &PostParams::default(), &updated)
                .await?;
        }
        for name in &plan.cleanup {
            self.delete_job(&cj, name).await?;
        }
        Ok(plan.requeue)
    }
}
