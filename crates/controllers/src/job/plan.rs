//! What a Job needs next, decided without IO: its conditions (FailureTarget/SuccessCriteriaMet,
//! then Failed/Complete once no pod is left running; Suspended), its status counts, and which
//! pods to delete and which indexes to create.

use super::track::{completion_index, is_indexed, parse_indexes, totals};
use crate::events::EventType;
use crate::pods;
use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus};
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// The first delay before a failed pod is replaced; it doubles per consecutive failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(10);
/// The longest delay before a failed pod is replaced.
pub const BACKOFF_MAX: Duration = Duration::from_secs(360);

/// The decisions of one sync.
#[derive(Debug, Default)]
pub struct Plan {
    /// The status to write.
    pub status: JobStatus,
    /// Active pods to delete.
    pub delete: Vec<Arc<Pod>>,
    /// Pods to create: their completion index for an Indexed Job, `None` otherwise.
    pub create: Vec<Option<i32>>,
    /// Events to record about the Job.
    pub events: Vec<(EventType, &'static str, String)>,
    /// When to look again (the active deadline, the end of a failure backoff).
    pub requeue: Option<Duration>,
}

/// The condition of this type, if the Job has it with status `True`.
pub fn true_condition<'a>(status: Option<&'a JobStatus>, type_: &str) -> Option<&'a JobCondition> {
    status?
        .conditions
        .as_deref()?
        .iter()
        .find(|c| c.type_ == type_ && c.status == "True")
}

/// `Complete` or `Failed` once the Job has finished.
pub fn finished(job: &Job) -> Option<&'static str> {
    ["Complete", "Failed"]
        .into_iter()
        .find(|t| true_condition(job.status.as_ref(), t).is_some())
}

/// Sets a condition as upstream's `ensureJobConditionStatus` does: the transition time moves
/// only when the status changes, and a missing condition is added only as `True`. Returns
/// whether anything changed.
fn set_condition(
    conditions: &mut Vec<JobCondition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    now: Timestamp,
) -> bool {
    let status = if status { "True" } else { "False" };
    if let Some(c) = conditions.iter_mut().find(|c| c.type_ == type_) {
        if c.status == status
            && c.reason.as_deref() == Some(reason)
            && c.message.as_deref() == Some(message)
        {
            return false;
        }
        if c.status != status {
            c.last_transition_time = Some(Time(now));
        }
        c.status = status.to_owned();
        c.reason = Some(reason.to_owned());
        c.message = Some(message.to_owned());
        c.last_probe_time = Some(Time(now));
        return true;
    }
    if status == "False" {
        return false;
    }
    conditions.push(JobCondition {
        type_: type_.to_owned(),
        status: status.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message.to_owned()),
        last_probe_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    });
    true
}

/// When the pod finished: its containers' last exit, else its last condition change.
fn finish_time(pod: &Pod) -> Option<Timestamp> {
    let status = pod.status.as_ref()?;
    let exited = status
        .container_statuses
        .iter()
        .flatten()
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref())
        .map(|t| t.0)
        .max();
    exited.or_else(|| {
        status
            .conditions
            .iter()
            .flatten()
            .filter_map(|c| c.last_transition_time.as_ref().map(|t| t.0))
            .max()
    })
}

/// How long to wait before replacing failed pods: 10 s doubling per failure since the last
/// success, at most 6 min, from the last failure (pods the controller deleted don't count).
pub fn backoff_remaining(owned: &[Arc<Pod>], now: Timestamp) -> Option<Duration> {
    let last_success = owned
        .iter()
        .filter(|p| pods::phase(p) == "Succeeded")
        .filter_map(|p| finish_time(p))
        .max();
    let failures: Vec<Timestamp> = owned
        .iter()
        .filter(|p| pods::phase(p) == "Failed" && p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| finish_time(p))
        .filter(|t| last_success.is_none_or(|s| *t > s))
        .collect();
    let last = *failures.iter().max()?;
    let n = failures.len().min(16) as u32;
    let delay = BACKOFF_BASE.saturating_mul(1 << (n - 1)).min(BACKOFF_MAX);
    let until = last
        .checked_add(SignedDuration::try_from(delay).ok()?)
        .ok()?;
    let left = now.duration_until(until);
    (left.is_positive()).then(|| left.unsigned_abs())
}

/// Upstream's check for `restartPolicy: OnFailure`, where failures are container restarts.
fn past_backoff_limit_on_failure(job: &Job, active: &[&Arc<Pod>], limit: i32) -> bool {
    let policy = job
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| s.restart_policy.as_deref());
    if policy != Some("OnFailure") {
        return false;
    }
    let restarts: i32 = active
        .iter()
        .filter(|p| matches!(pods::phase(p), "Running" | "Pending"))
        .map(|p| pods::restarts(p))
        .sum();
    if limit == 0 {
        restarts > 0
    } else {
        restarts >= limit
    }
}

/// Decides the next step for `job` whose `status` already counts the finished pods; `owned` are
/// its pods; without `may_manage` (unmet expectations) no pod is created or deleted.
pub fn plan(
    job: &Job,
    mut status: JobStatus,
    owned: &[Arc<Pod>],
    now: Timestamp,
    may_manage: bool,
) -> Plan {
    let spec = job.spec.clone().unwrap_or_default();
    let parallelism = spec.parallelism.unwrap_or(1).max(0);
    let backoff_limit = spec.backoff_limit.unwrap_or(6);
    let suspended = spec.suspend == Some(true);
    let mut active: Vec<&Arc<Pod>> = owned.iter().filter(|p| pods::is_active(p)).collect();
    active.sort_by_key(|p| p.metadata.creation_timestamp.as_ref().map(|t| t.0));
    let terminating = owned
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_some() && !pods::is_terminated(p))
        .count();
    let (succeeded, failed_count) = totals(&status);
    let completed = parse_indexes(status.completed_indexes.as_deref().unwrap_or(""));
    let mut conditions = status.conditions.take().unwrap_or_default();
    let mut plan = Plan::default();
    if status.start_time.is_none() && !suspended {
        status.start_time = Some(Time(now));
    }
    let is_true =
        |c: &[JobCondition], t: &str| c.iter().any(|c| c.type_ == t && c.status == "True");
    let deadline = spec
        .active_deadline_seconds
        .zip(status.start_time.as_ref())
        .and_then(|(s, start)| start.0.checked_add(SignedDuration::from_secs(s)).ok());
    if !is_true(&conditions, "FailureTarget") && !is_true(&conditions, "SuccessCriteriaMet") {
        let failure = if failed_count > backoff_limit
            || past_backoff_limit_on_failure(job, &active, backoff_limit)
        {
            Some((
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
            ))
        } else if !suspended && deadline.is_some_and(|d| now >= d) {
            Some((
                "DeadlineExceeded",
                "Job was active longer than specified deadline",
            ))
        } else {
            None
        };
        let complete = match spec.completions {
            Some(c) if is_indexed(job) => completed.len() as i32 >= c,
            Some(c) => succeeded >= c,
            None => succeeded > 0 && active.is_empty(),
        };
        if let Some((reason, message)) = failure {
            set_condition(&mut conditions, "FailureTarget", true, reason, message, now);
        } else if complete {
            set_condition(
                &mut conditions,
                "SuccessCriteriaMet",
                true,
                "CompletionsReached",
                "Reached expected number of succeeded pods",
                now,
            );
        }
    }
    let finishing = conditions
        .iter()
        .find(|c| {
            (c.type_ == "FailureTarget" || c.type_ == "SuccessCriteriaMet") && c.status == "True"
        })
        .cloned();
    if let Some(target) = finishing {
        if may_manage {
            plan.delete = active.iter().map(|p| (*p).clone()).collect();
        }
        let uncounted = status.uncounted_terminated_pods.as_ref();
        let settled = uncounted.is_none_or(|u| {
            u.succeeded.as_ref().is_none_or(Vec::is_empty)
                && u.failed.as_ref().is_none_or(Vec::is_empty)
        });
        if active.is_empty() && terminating == 0 && settled {
            let reason = target.reason.as_deref().unwrap_or("");
            let message = target.message.as_deref().unwrap_or("");
            if target.type_ == "FailureTarget" {
                set_condition(&mut conditions, "Failed", true, reason, message, now);
                plan.events.push((
                    EventType::Warning,
                    static_reason(reason),
                    message.to_owned(),
                ));
            } else {
                set_condition(&mut conditions, "Complete", true, reason, message, now);
                status.completion_time = Some(Time(now));
                plan.events
                    .push((EventType::Normal, "Completed", "Job completed".to_owned()));
            }
        }
    } else if suspended {
        if may_manage {
            plan.delete = active.iter().map(|p| (*p).clone()).collect();
        }
        if set_condition(
            &mut conditions,
            "Suspended",
            true,
            "JobSuspended",
            "Job suspended",
            now,
        ) {
            plan.events
                .push((EventType::Normal, "Suspended", "Job suspended".to_owned()));
        }
    } else {
        if set_condition(
            &mut conditions,
            "Suspended",
            false,
            "JobResumed",
            "Job resumed",
            now,
        ) {
            plan.events
                .push((EventType::Normal, "Resumed", "Job resumed".to_owned()));
            // The active deadline counts time not suspended.
            status.start_time = Some(Time(now));
        }
        if may_manage {
            let (delete, create) = if is_indexed(job) {
                manage_indexed(
                    &active,
                    &completed,
                    spec.completions.unwrap_or(0),
                    parallelism,
                )
            } else {
                manage_non_indexed(&active, spec.completions, succeeded, parallelism)
            };
            plan.delete = delete;
            plan.create = create;
            if !plan.create.is_empty()
                && let Some(wait) = backoff_remaining(owned, now)
            {
                plan.create.clear();
                plan.requeue = Some(wait);
            }
        }
        if let Some(d) = deadline {
            let left = now.duration_until(d).unsigned_abs() + Duration::from_millis(100);
            plan.requeue = Some(plan.requeue.map_or(left, |r| r.min(left)));
        }
    }
    let deleted: HashSet<&str> = plan
        .delete
        .iter()
        .filter_map(|p| p.metadata.uid.as_deref())
        .collect();
    let remaining = active
        .iter()
        .filter(|p| !deleted.contains(p.metadata.uid.as_deref().unwrap_or("")));
    status.ready = Some(remaining.clone().filter(|p| pods::is_ready(p)).count() as i32);
    // Zero counts are omitted, as upstream's JSON does.
    let active_count = (remaining.count() + plan.create.len()) as i32;
    status.active = (active_count > 0).then_some(active_count);
    status.terminating = Some((terminating + plan.delete.len()) as i32);
    status.conditions = (!conditions.is_empty()).then_some(conditions);
    plan.status = status;
    plan
}

/// Event reasons are static strings; the failure reasons are known.
fn static_reason(reason: &str) -> &'static str {
    match reason {
        "BackoffLimitExceeded" => "BackoffLimitExceeded",
        "DeadlineExceeded" => "DeadlineExceeded",
        _ => "JobFailed",
    }
}

fn manage_non_indexed(
    active: &[&Arc<Pod>],
    completions: Option<i32>,
    succeeded: i32,
    parallelism: i32,
) -> (Vec<Arc<Pod>>, Vec<Option<i32>>) {
    let n = active.len() as i32;
    let want = match completions {
        Some(c) => parallelism.min((c - succeeded).max(0)),
        // Work-queue mode: once one pod succeeded no new pod starts; the others finish.
        None if succeeded > 0 => n.min(parallelism),
        None => parallelism,
    };
    if n > want {
        let mut ranked: Vec<&Arc<Pod>> = active.to_vec();
        ranked.sort_by(|a, b| crate::replicaset::deletion_order(a, b));
        let delete = ranked
            .into_iter()
            .take((n - want) as usize)
            .cloned()
            .collect();
        (delete, Vec::new())
    } else {
        (Vec::new(), vec![None; (want - n) as usize])
    }
}

fn manage_indexed(
    active: &[&Arc<Pod>],
    completed: &std::collections::BTreeSet<i32>,
    completions: i32,
    parallelism: i32,
) -> (Vec<Arc<Pod>>, Vec<Option<i32>>) {
    let mut seen = HashSet::new();
    let mut keep: Vec<(i32, &Arc<Pod>)> = Vec::new();
    let mut delete: Vec<Arc<Pod>> = Vec::new();
    // Oldest first: of two pods with one index, the newer goes.
    for pod in active {
        match completion_index(pod) {
            Some(i) if i < completions && !completed.contains(&i) && seen.insert(i) => {
                keep.push((i, pod))
            }
            _ => delete.push((*pod).clone()),
        }
    }
    let want = parallelism.min((completions - completed.len() as i32).max(0)) as usize;
    if keep.len() > want {
        keep.sort_by_key(|(i, _)| std::cmp::Reverse(*i));
        let extra = keep.len() - want;
        delete.extend(keep.drain(..extra).map(|(_, p)| p.clone()));
        return (delete, Vec::new());
    }
    let create = (0..completions)
        .filter(|i| !completed.contains(i) && !seen.contains(i))
        .take(want - keep.len())
        .map(Some)
        .collect();
    (delete, create)
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
