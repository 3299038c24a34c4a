//! A Deployment's status: replica counts summed over its ReplicaSets and the Available and
//! Progressing conditions with upstream's reasons and messages.

use super::rolling::{fenceposts, replicas};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentCondition, DeploymentStatus, ReplicaSet};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

/// Progressing=True: a new ReplicaSet was created.
pub const NEW_RS_CREATED: &str = "NewReplicaSetCreated";
/// Progressing=True: the rollout made progress.
pub const RS_UPDATED: &str = "ReplicaSetUpdated";
/// Progressing=True: the rollout is complete.
pub const NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
/// Progressing=False: no progress within progressDeadlineSeconds.
pub const TIMED_OUT: &str = "ProgressDeadlineExceeded";
/// Progressing=Unknown: paused.
pub const PAUSED: &str = "DeploymentPaused";
/// Progressing=Unknown: resumed.
pub const RESUMED: &str = "DeploymentResumed";

fn count(sets: &[&ReplicaSet], f: impl Fn(&ReplicaSet) -> i32) -> i32 {
    sets.iter().map(|rs| f(rs)).sum()
}

/// The condition of a type, if present.
pub fn condition<'a>(status: &'a DeploymentStatus, type_: &str) -> Option<&'a DeploymentCondition> {
    status
        .conditions
        .as_deref()?
        .iter()
        .find(|c| c.type_ == type_)
}

/// Sets a condition as upstream does: a condition with the same status and reason is left
/// as it is (times and message included).
pub fn set_condition(
    status: &mut DeploymentStatus,
    type_: &str,
    value: &str,
    reason: &str,
    message: String,
    now: Timestamp,
) {
    let conditions = status.conditions.get_or_insert_with(Vec::new);
    let condition = DeploymentCondition {
        type_: type_.to_owned(),
        status: value.to_owned(),
        reason: Some(reason.to_owned()),
        message: Some(message),
        last_update_time: Some(Time(now)),
        last_transition_time: Some(Time(now)),
    };
    match conditions.iter().position(|c| c.type_ == type_) {
        Some(i)
            if conditions[i].status == value && conditions[i].reason.as_deref() == Some(reason) => {
        }
        Some(i) => conditions[i] = condition,
        None => conditions.push(condition),
    }
}

/// Records progress: Progressing=True with `reason`, updated now, keeping the transition time
/// if it was already true.
pub fn set_progressing(
    status: &mut DeploymentStatus,
    reason: &str,
    message: String,
    now: Timestamp,
) {
    let since = condition(status, "Progressing")
        .filter(|c| c.status == "True")
        .and_then(|c| c.last_transition_time.clone());
    remove_condition(status, "Progressing");
    status
        .conditions
        .get_or_insert_with(Vec::new)
        .push(DeploymentCondition {
            type_: "Progressing".to_owned(),
            status: "True".to_owned(),
            reason: Some(reason.to_owned()),
            message: Some(message),
            last_update_time: Some(Time(now)),
            last_transition_time: Some(since.unwrap_or(Time(now))),
        });
}

/// Removes a condition.
pub fn remove_condition(status: &mut DeploymentStatus, type_: &str) {
    if let Some(c) = status.conditions.as_mut() {
        c.retain(|c| c.type_ != type_);
    }
}

/// The status from the ReplicaSets: counts and the Available condition (Progressing is
/// carried over; the rollout logic sets it).
pub fn calculate(
    d: &Deployment,
    new: Option<&ReplicaSet>,
    all: &[&ReplicaSet],
    now: Timestamp,
) -> DeploymentStatus {
    let old = d.status.clone().unwrap_or_default();
    let available = count(all, |rs| {
        rs.status
            .as_ref()
            .and_then(|s| s.available_replicas)
            .unwrap_or(0)
    });
    let total = replicas(d);
    let mut status = DeploymentStatus {
        observed_generation: d.metadata.generation,
        replicas: Some(count(all, |rs| {
            rs.status.as_ref().map(|s| s.replicas).unwrap_or(0)
        })),
        updated_replicas: Some(
            new.and_then(|rs| rs.status.as_ref())
                .map(|s| s.replicas)
                .unwrap_or(0),
        ),
        ready_replicas: Some(count(all, |rs| {
            rs.status
                .as_ref()
                .and_then(|s| s.ready_replicas)
                .unwrap_or(0)
        })),
        available_replicas: Some(available),
        unavailable_replicas: Some((total - available).max(0)),
        collision_count: old.collision_count,
        conditions: old.conditions,
        terminating_replicas: None,
    };
    let (_, max_unavailable) = fenceposts(d);
    if available >= total - max_unavailable {
        set_condition(
            &mut status,
            "Available",
            "True",
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".to_owned(),
            now,
        );
    } else {
        set_condition(
            &mut status,
            "Available",
            "False",
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".to_owned(),
            now,
        );
    }
    // Zero counts are omitted, as upstream's JSON does.
    for field in [
        &mut status.replicas,
        &mut status.updated_replicas,
        &mut status.ready_replicas,
        &mut status.available_replicas,
        &mut status.unavailable_replicas,
    ] {
        if *field == Some(0) {
            *field = None;
        }
    }
    status
}

fn n(v: Option<i32>) -> i32 {
    v.unwrap_or(0)
}

/// Whether every replica is updated and available and the latest generation was observed.
pub fn complete(d: &Deployment, status: &DeploymentStatus) -> bool {
    let total = replicas(d);
    n(status.updated_replicas) == total
        && n(status.replicas) == total
        && n(status.available_replicas) == total
        && status.observed_generation >= d.metadata.generation
}

/// Whether the rollout moved since the last status: more updated, ready or available pods,
/// or fewer old ones.
pub fn progressed(d: &Deployment, new: &DeploymentStatus) -> bool {
    let old = d.status.clone().unwrap_or_default();
    let old_old_pods = n(old.replicas) - n(old.updated_replicas);
    let new_old_pods = n(new.replicas) - n(new.updated_replicas);
    n(new.updated_replicas) > n(old.updated_replicas)
        || new_old_pods < old_old_pods
        || n(new.ready_replicas) > n(old.ready_replicas)
        || n(new.available_replicas) > n(old.available_replicas)
}

/// The progress deadline in seconds (default 600), if the Deployment has one.
pub fn progress_deadline(d: &Deployment) -> Option<i32> {
    let v = d
        .spec
        .as_ref()
        .and_then(|s| s.progress_deadline_seconds)
        .unwrap_or(600);
    // Upstream treats MaxInt32 as "no deadline".
    (v != i32::MAX).then_some(v)
}

/// Whether the rollout has gone without progress for longer than its deadline.
pub fn timed_out(d: &Deployment, status: &DeploymentStatus, now: Timestamp) -> bool {
    let Some(deadline) = progress_deadline(d) else {
        return false;
    };
    let Some(c) = condition(status, "Progressing") else {
        return false;
    };
    if c.reason.as_deref() == Some(NEW_RS_AVAILABLE) {
        return false;
    }
    let Some(updated) = c.last_update_time.as_ref() else {
        return false;
    };
    updated.0.as_second() + i64::from(deadline) < now.as_second()
}
