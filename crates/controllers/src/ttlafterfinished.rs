//! The TTL-after-finished controller: deletes a finished Job (`Complete` or `Failed`) once
//! `spec.ttlSecondsAfterFinished` have passed since it finished, in the background (the
//! garbage collector then deletes its pods).

use crate::informer::{Change, Informer, key_of, split_key};
use crate::queue::WorkQueue;
use crate::{Context, Controller, Reconciler};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Api, DeleteParams, Preconditions};
use std::sync::Arc;
use std::time::Duration;

/// The controller's state.
pub struct TtlAfterFinished {
    client: kube::Client,
    jobs: Informer<Job>,
}

/// When the Job finished: the transition time of its `Complete` or `Failed` condition.
pub fn finish_time(job: &Job) -> Option<Timestamp> {
    job.status
        .as_ref()?
        .conditions
        .as_deref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")?
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
}

/// When the Job is to be deleted, if it has a TTL, finished and is not being deleted already.
pub fn expires_at(job: &Job) -> Option<Timestamp> {
    if job.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let ttl = job.spec.as_ref()?.ttl_seconds_after_finished?;
    finish_time(job)?
        .checked_add(SignedDuration::from_secs(i64::from(ttl)))
        .ok()
}

/// The controller, its informer callback registered.
pub fn controller(ctx: &Context) -> Controller {
    let jobs = ctx.informers.get::<Job>();
    let queue = WorkQueue::new();
    {
        let queue = queue.clone();
        jobs.on_change(move |change| match change {
            Change::Added(j) | Change::Updated { new: j, .. } => {
                if expires_at(j).is_some() {
                    queue.add(key_of(j.as_ref()));
                }
            }
            Change::Deleted(_) => {}
        });
    }
    Controller {
        name: "ttl-after-finished",
        queue,
        workers: ctx.options.workers,
        resync: None,
        tasks: Vec::new(),
        reconciler: Arc::new(TtlAfterFinished {
            client: ctx.client.clone(),
            jobs,
        }),
    }
}

/// How long until `at`, if it is still ahead of `now`.
fn until(at: Timestamp, now: Timestamp) -> Option<Duration> {
    let left = now.duration_until(at);
    left.is_positive().then(|| left.unsigned_abs())
}

#[async_trait::async_trait]
impl Reconciler for TtlAfterFinished {
    async fn sync(&self, key: &str) -> Result<Option<Duration>, crate::Error> {
        let Some(cached) = self.jobs.get(key) else {
            return Ok(None);
        };
        let Some(at) = expires_at(&cached) else {
            return Ok(None);
        };
        if let Some(left) = until(at, rkube_api::time::now()) {
            return Ok(Some(left));
        }
        // The cache may be stale (the TTL changed): decide on a fresh copy.
        let (ns, name) = split_key(key);
        let api: Api<Job> = Api::namespaced(self.client.clone(), ns);
        let fresh = match api.get(name).await {
            Ok(j) => j,
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(None),
            Err(err) => return Err(err.into()),
        };
        let Some(at) = expires_at(&fresh) else {
            return Ok(None);
        };
        if let Some(left) = until(at, rkube_api::time::now()) {
            return Ok(Some(left));
        }
        let params = DeleteParams {
            propagation_policy: Some(kube::api::PropagationPolicy::Background),
            preconditions: Some(Preconditions {
                resource_version: fresh.metadata.resource_version.clone(),
                uid: fresh.metadata.uid.clone(),
            }),
            ..DeleteParams::default()
        };
        tracing::debug!(job = %key, "deleting a finished job after its TTL");
        match api.delete(name, &params).await {
            Ok(_) => Ok(None),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
            Err(err) => Err(err.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn finished_jobs_expire_their_ttl_after_finishing() {
        let job = |v: serde_json::Value| -> Job { serde_json::from_value(v).unwrap() };
        let done = job(
            json!({"spec": {"ttlSecondsAfterFinished": 60, "template": {}},
            "status": {"conditions": [
                {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"},
                {"type": "Complete", "status": "True", "lastTransitionTime": "2026-01-01T00:00:05Z"}]}}),
        );
        assert_eq!(
            expires_at(&done),
            Some("2026-01-01T00:01:05Z".parse().unwrap())
        );
        let running = job(json!({"spec": {"ttlSecondsAfterFinished": 0, "template": {}}}));
        assert_eq!(expires_at(&running), None);
        let no_ttl = job(json!({"spec": {"template": {}},
            "status": {"conditions": [{"type": "Failed", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}));
        assert_eq!(expires_at(&no_ttl), None);
        let now: Timestamp = "2026-01-01T00:01:00Z".parse().unwrap();
        assert_eq!(
            until(expires_at(&done).unwrap(), now),
            Some(Duration::from_secs(5))
        );
        assert_eq!(until(now, now), None);
    }
}
