//! What a CronJob needs next, decided without IO from the CronJob, the Jobs it owns and the
//! time: its active list and last times, whether a Job is due now (and for which scheduled
//! time), which active Jobs `Replace` deletes, which finished Jobs fall out of the history, and
//! when to look again.

use super::schedule::{Schedule, most_recent};
use crate::events::EventType;
use crate::pods::controller_of;
use jiff::tz::TimeZone;
use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// The annotation with the time a Job was scheduled for (RFC 3339, in the CronJob's zone).
pub const SCHEDULED_TIMESTAMP: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

/// The decisions of one sync.
#[derive(Debug, Default)]
pub struct Plan {
    /// The status to write (before any Job is created or deleted).
    pub status: CronJobStatus,
    /// The scheduled time to create a Job for now.
    pub create: Option<Timestamp>,
    /// Active Jobs to delete first (`concurrencyPolicy: Replace`).
    pub replace: Vec<ObjectReference>,
    /// Finished Jobs beyond the history limits, oldest first.
    pub cleanup: Vec<String>,
    /// Events to record about the CronJob.
    pub events: Vec<(EventType, &'static str, String)>,
    /// When to look again (just after the next scheduled time).
    pub requeue: Option<Duration>,
}

/// `Complete` or `Failed` once the Job has finished.
pub fn finished(job: &Job) -> Option<&str> {
    job.status
        .as_ref()?
        .conditions
        .as_deref()?
        .iter()
        .find(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        .map(|c| c.type_.as_str())
}

/// The name of the Job for a scheduled time: `<cronjob>-<minutes since the epoch>`.
pub fn job_name(cronjob: &str, scheduled: Timestamp) -> String {
    format!("{cronjob}-{}", scheduled.as_second().div_euclid(60))
}

/// A reference to a Job for `status.active`.
pub fn reference(job: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".to_owned()),
        kind: Some("Job".to_owned()),
        name: job.metadata.name.clone(),
        namespace: job.metadata.namespace.clone(),
        uid: job.metadata.uid.clone(),
        resource_version: job.metadata.resource_version.clone(),
        ..ObjectReference::default()
    }
}

/// The time zone of the schedule: `spec.timeZone`, else this process's.
pub fn time_zone(cj: &CronJob) -> Result<TimeZone, String> {
    match cj.spec.as_ref().and_then(|s| s.time_zone.as_deref()) {
        Some(name) => TimeZone::get(name).map_err(|e| e.to_string()),
        None => Ok(TimeZone::system()),
    }
}

/// Formats a time as Go's RFC 3339 does (`Z` for a zero offset).
pub fn rfc3339(t: Timestamp, tz: &TimeZone) -> String {
    let zoned = t.to_zoned(tz.clone());
    if zoned.offset().seconds() == 0 {
        zoned.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
    } else {
        zoned.strftime("%Y-%m-%dT%H:%M:%S%:z").to_string()
    }
}

fn after(t: Timestamp, now: Timestamp) -> Duration {
    let left = now.duration_until(t);
    let left = if left.is_negative() {
        Duration::ZERO
    } else {
        left.unsigned_abs()
    };
    left + Duration::from_millis(100)
}

/// Decides the next step for `cj` given the Jobs it owns and the uids of active Jobs that are
/// confirmed gone.
pub fn plan(cj: &CronJob, owned: &[Arc<Job>], gone: &HashSet<String>, now: Timestamp) -> Plan {
    let mut plan = Plan::default();
    let name = cj.metadata.name.as_deref().unwrap_or("");
    let spec = cj.spec.clone().unwrap_or_default();
    let mut status = cj.status.clone().unwrap_or_default();
    let mut active = status.active.take().unwrap_or_default();
    active.retain(|r| {
        let missing = r.uid.as_ref().is_some_and(|u| gone.contains(u));
        if missing {
            plan.events.push((
                EventType::Normal,
                "MissingJob",
                format!(
                    "Active job went missing: {}",
                    r.name.as_deref().unwrap_or("")
                ),
            ));
        }
        !missing
    });
    for job in owned {
        let uid = job.metadata.uid.clone();
        let listed = active.iter().any(|r| r.uid == uid);
        match finished(job) {
            None if !listed && job.metadata.deletion_timestamp.is_none() => {
                active.push(reference(job))
            }
            None => {}
            Some(condition) => {
                if listed {
                    active.retain(|r| r.uid != uid);
                    plan.events.push((
                        EventType::Normal,
                        "SawCompletedJob",
                        format!(
                            "Saw completed job: {}, condition: {condition}",
                            job.metadata.name.as_deref().unwrap_or("")
                        ),
                    ));
                }
                let completed = job.status.as_ref().and_then(|s| s.completion_time.clone());
                if condition == "Complete"
                    && let Some(t) = completed
                    && status
                        .last_successful_time
                        .as_ref()
                        .is_none_or(|l| l.0 < t.0)
                {
                    status.last_successful_time = Some(t);
                }
            }
        }
    }
    status.active = (!active.is_empty()).then(|| active.clone());
    plan.status = status;
    if cj.metadata.deletion_timestamp.is_some() {
        return plan;
    }
    plan.cleanup = history_to_delete(&spec, owned);
    let tz = match time_zone(cj) {
        Ok(tz) => tz,
        Err(err) => {
            let zone = spec.time_zone.as_deref().unwrap_or("");
            plan.events.push((
                EventType::Warning,
                "UnknownTimeZone",
                format!("invalid timeZone: {zone:?}: {err}"),
            ));
            return plan;
        }
    };
    let schedule: Schedule = match spec.schedule.parse() {
        Ok(s) => s,
        Err(err) => {
            plan.events.push((
                EventType::Warning,
                "InvalidSchedule",
                format!("invalid schedule: {} : {err}", spec.schedule),
            ));
            return plan;
        }
    };
    if spec.suspend == Some(true) {
        return plan;
    }
    plan.requeue = schedule.next(now, &tz).map(|t| after(t, now));
    let mut earliest = plan
        .status
        .last_schedule_time
        .as_ref()
        .map(|t| t.0)
        .or(cj.metadata.creation_timestamp.as_ref().map(|t| t.0))
        .unwrap_or(now);
    if let Some(deadline) = spec.starting_deadline_seconds
        && let Ok(from) = now.checked_sub(SignedDuration::from_secs(deadline))
    {
        earliest = earliest.max(from);
    }
    if earliest > now {
        return plan;
    }
    let (scheduled, missed) = most_recent(&schedule, &tz, earliest, now);
    if missed > 100 {
        plan.events.push((
            EventType::Warning,
            "TooManyMissedTimes",
            format!(
                "too many missed start times: {missed}. Set or decrease .spec.startingDeadlineSeconds or check clock skew"
            ),
        ));
    }
    let Some(scheduled) = scheduled else {
        return plan;
    };
    if let Some(deadline) = spec.starting_deadline_seconds
        && scheduled
            .checked_add(SignedDuration::from_secs(deadline))
            .is_ok_and(|t| t < now)
    {
        let when = scheduled.to_zoned(TimeZone::UTC);
        plan.events.push((
            EventType::Warning,
            "MissSchedule",
            format!(
                "Missed scheduled time to start a job: {}",
                when.strftime("%a, %d %b %Y %H:%M:%S %z")
            ),
        ));
        return plan;
    }
    let job_name = job_name(name, scheduled);
    if active.iter().any(|r| r.name.as_deref() == Some(&job_name))
        || plan.status.last_schedule_time.as_ref().map(|t| t.0) == Some(scheduled)
    {
        return plan;
    }
    match spec.concurrency_policy.as_deref() {
        Some("Forbid") if !active.is_empty() => {
            plan.events.push((
                EventType::Normal,
                "JobAlreadyActive",
                "Not starting job because prior execution is running and concurrency policy is Forbid"
                    .to_owned(),
            ));
            return plan;
        }
        Some("Replace") => plan.replace = active,
        _ => {}
    }
    plan.create = Some(scheduled);
    plan
}

/// The finished Jobs beyond `successfulJobsHistoryLimit` (3) and `failedJobsHistoryLimit` (1),
/// the ones that started first.
fn history_to_delete(
    spec: &k8s_openapi::api::batch::v1::CronJobSpec,
    owned: &[Arc<Job>],
) -> Vec<String> {
    let mut out = Vec::new();
    for (kind, limit) in [
        ("Complete", spec.successful_jobs_history_limit.unwrap_or(3)),
        ("Failed", spec.failed_jobs_history_limit.unwrap_or(1)),
    ] {
        let mut done: Vec<&Arc<Job>> = owned
            .iter()
            .filter(|j| finished(j) == Some(kind) && j.metadata.deletion_timestamp.is_none())
            .collect();
        let excess = done.len().saturating_sub(limit.max(0) as usize);
        // By start time, jobs that never started last, then by name.
        done.sort_by_key(|j| {
            let start = j
                .status
                .as_ref()
                .and_then(|s| s.start_time.as_ref())
                .map(|t| t.0);
            (start.is_none(), start, j.metadata.name.clone())
        });
        out.extend(
            done.into_iter()
                .take(excess)
                .filter_map(|j| j.metadata.name.clone()),
        );
    }
    out
}

/// The Jobs `cj` controls among `jobs`.
pub fn owned_by(cj: &CronJob, jobs: Vec<Arc<Job>>) -> Vec<Arc<Job>> {
    let uid = cj.metadata.uid.as_deref();
    jobs.into_iter()
        .filter(|j| controller_of(&j.metadata).is_some_and(|r| Some(r.uid.as_str()) == uid))
        .collect()
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
