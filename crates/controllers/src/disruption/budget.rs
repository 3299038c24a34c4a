//! The arithmetic of a PodDisruptionBudget's status, as upstream's disruption controller
//! does it: how many pods are expected and must stay healthy, how many are healthy, which
//! recorded disruptions still count, and the `DisruptionAllowed` condition. Nothing here
//! talks to the API.

use crate::intstr::scaled_value;
use crate::pods::is_ready;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::{
    PodDisruptionBudget, PodDisruptionBudgetSpec, PodDisruptionBudgetStatus,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use std::collections::BTreeMap;
use std::sync::Arc;

/// How long a pod recorded in `status.disruptedPods` (by an eviction) may go without being
/// marked for deletion before the record is dropped (upstream's `DeletionTimeout`).
pub const DELETION_TIMEOUT: SignedDuration = SignedDuration::from_secs(120);
/// The condition this controller maintains.
pub const DISRUPTION_ALLOWED: &str = "DisruptionAllowed";
/// Its reason when at least one disruption is allowed.
pub const SUFFICIENT_PODS: &str = "SufficientPods";
/// Its reason when no disruption is allowed.
pub const INSUFFICIENT_PODS: &str = "InsufficientPods";
/// Its reason when the status could not be computed.
pub const SYNC_FAILED: &str = "SyncFailed";

/// Whether the budget's expected pod count is the summed scale of the pods' controllers
/// (`maxUnavailable` set, or `minAvailable` a percentage) rather than the number of pods.
pub fn uses_scale(spec: Option<&PodDisruptionBudgetSpec>) -> bool {
    spec.is_some_and(|s| {
        s.max_unavailable.is_some() || matches!(s.min_available, Some(IntOrString::String(_)))
    })
}

/// The expected pod count and how many of them must stay healthy (upstream's
/// `getExpectedPodCount`). `matched` is the number of pods the selector matches; `scale`
/// gives the summed scale of their controllers and is called only when the budget uses it.
pub fn expected_and_desired<E>(
    spec: Option<&PodDisruptionBudgetSpec>,
    matched: usize,
    scale: impl FnOnce() -> Result<i32, E>,
) -> Result<(i32, i32), E> {
    let Some(spec) = spec else {
        return Ok((0, 0));
    };
    if let Some(max_unavailable) = &spec.max_unavailable {
        let expected = scale()?;
        let unavailable = scaled_value(Some(max_unavailable), expected, true, "0");
        return Ok((expected, (expected - unavailable).max(0)));
    }
    match &spec.min_available {
        Some(IntOrString::Int(min)) => Ok((i32::try_from(matched).unwrap_or(i32::MAX), *min)),
        Some(min @ IntOrString::String(_)) => {
            let expected = scale()?;
            Ok((expected, scaled_value(Some(min), expected, true, "0")))
        }
        None => Ok((0, 0)),
    }
}

/// When a disruption recorded at `at` stops counting.
fn expires(at: &Time) -> Timestamp {
    at.0.checked_add(DELETION_TIMEOUT).unwrap_or(Timestamp::MAX)
}

/// The entries of `recorded` that still count at `now` (upstream's `buildDisruptedPodMap`):
/// those of matched pods not yet marked for deletion whose timeout has not passed; and the
/// earliest time one of them expires, when the budget should be looked at again.
pub fn still_disrupted(
    pods: &[Arc<Pod>],
    recorded: Option<&BTreeMap<String, Time>>,
    now: Timestamp,
) -> (BTreeMap<String, Time>, Option<Timestamp>) {
    let mut kept = BTreeMap::new();
    let mut recheck: Option<Timestamp> = None;
    let Some(recorded) = recorded else {
        return (kept, recheck);
    };
    for pod in pods {
        if pod.metadata.deletion_timestamp.is_some() {
            continue;
        }
        let name = pod.metadata.name.as_deref().unwrap_or("");
        let Some(at) = recorded.get(name) else {
            continue;
        };
        let expiry = expires(at);
        if expiry < now {
            tracing::debug!(
                pod = name,
                "a pod expected to be deleted was not; forgetting it"
            );
            continue;
        }
        recheck = Some(recheck.map_or(expiry, |r| r.min(expiry)));
        kept.insert(name.to_owned(), at.clone());
    }
    (kept, recheck)
}

/// How many of the pods are healthy (upstream's `countHealthyPods`): Ready, not being
/// deleted, and not recorded as disrupted within the timeout.
pub fn healthy(pods: &[Arc<Pod>], disrupted: &BTreeMap<String, Time>, now: Timestamp) -> i32 {
    let count = pods
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter(|p| {
            let name = p.metadata.name.as_deref().unwrap_or("");
            disrupted.get(name).is_none_or(|at| expires(at) <= now)
        })
        .filter(|p| is_ready(p))
        .count();
    i32::try_from(count).unwrap_or(i32::MAX)
}

/// How many pods may be disrupted now: none while no pods are expected (a budget whose first
/// pods appear before its status is computed stays safe), else the healthy surplus.
pub fn disruptions_allowed(current_healthy: i32, desired_healthy: i32, expected: i32) -> i32 {
    if expected <= 0 {
        return 0;
    }
    (current_healthy - desired_healthy).max(0)
}

/// Sets `new` among `conditions` as upstream's `meta.SetStatusCondition` does: the
/// transition time changes only when the status does (to `now`); reason, message and
/// observed generation are always taken.
pub fn set_condition(conditions: &mut Vec<Condition>, new: Condition, now: Timestamp) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(existing) => {
            if existing.status != new.status {
                existing.status = new.status;
                existing.last_transition_time = Time(now);
            }
            existing.reason = new.reason;
            existing.message = new.message;
            existing.observed_generation = new.observed_generation;
        }
        None => conditions.push(Condition {
            last_transition_time: Time(now),
            ..new
        }),
    }
}

/// The `DisruptionAllowed` condition matching `allowed` disruptions.
fn allowed_condition(allowed: i32, generation: Option<i64>) -> Condition {
    let (status, reason) = if allowed > 0 {
        ("True", SUFFICIENT_PODS)
    } else {
        ("False", INSUFFICIENT_PODS)
    };
    Condition {
        type_: DISRUPTION_ALLOWED.to_owned(),
        status: status.to_owned(),
        reason: reason.to_owned(),
        message: String::new(),
        observed_generation: generation,
        last_transition_time: Time(Timestamp::UNIX_EPOCH),
    }
}

/// Whether the budget's `DisruptionAllowed` condition agrees with its status (upstream's
/// `ConditionsAreUpToDate`).
fn condition_up_to_date(pdb: &PodDisruptionBudget, status: &PodDisruptionBudgetStatus) -> bool {
    let Some(cond) = status
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == DISRUPTION_ALLOWED)
    else {
        return false;
    };
    if status.observed_generation != pdb.metadata.generation {
        return false;
    }
    let want = allowed_condition(status.disruptions_allowed, None);
    cond.status == want.status && cond.reason == want.reason
}

/// The counts a budget's status is computed from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Healthy pods now.
    pub current_healthy: i32,
    /// Healthy pods required.
    pub desired_healthy: i32,
    /// Pods expected.
    pub expected: i32,
    /// Recorded disruptions that still count.
    pub disrupted: BTreeMap<String, Time>,
}

/// The status to write, or `None` when the budget's status is up to date (upstream's
/// `updatePdbStatus`).
pub fn new_status(
    pdb: &PodDisruptionBudget,
    counts: Counts,
    now: Timestamp,
) -> Option<PodDisruptionBudgetStatus> {
    let allowed = disruptions_allowed(
        counts.current_healthy,
        counts.desired_healthy,
        counts.expected,
    );
    let old = pdb.status.clone().unwrap_or_default();
    let old_disrupted = old.disrupted_pods.clone().unwrap_or_default();
    if old.current_healthy == counts.current_healthy
        && old.desired_healthy == counts.desired_healthy
        && old.expected_pods == counts.expected
        && old.disruptions_allowed == allowed
        && old_disrupted == counts.disrupted
        && condition_up_to_date(pdb, &old)
    {
        return None;
    }
    let generation = pdb.metadata.generation;
    let mut conditions = old.conditions.unwrap_or_default();
    set_condition(&mut conditions, allowed_condition(allowed, generation), now);
    Some(PodDisruptionBudgetStatus {
        current_healthy: counts.current_healthy,
        desired_healthy: counts.desired_healthy,
        expected_pods: counts.expected,
        disruptions_allowed: allowed,
        disrupted_pods: (!counts.disrupted.is_empty()).then_some(counts.disrupted),
        observed_generation: generation,
        conditions: Some(conditions),
    })
}

/// The status written when the budget's status cannot be computed (upstream's `failSafe`):
/// the old one with no disruptions allowed and `DisruptionAllowed` False, reason
/// `SyncFailed`, the error as message.
pub fn fail_safe_status(
    pdb: &PodDisruptionBudget,
    message: String,
    now: Timestamp,
) -> PodDisruptionBudgetStatus {
    let mut status = pdb.status.clone().unwrap_or_default();
    status.disruptions_allowed = 0;
    let mut conditions = status.conditions.take().unwrap_or_default();
    set_condition(
        &mut conditions,
        Condition {
            type_: DISRUPTION_ALLOWED.to_owned(),
            status: "False".to_owned(),
            reason: SYNC_FAILED.to_owned(),
            message,
            observed_generation: status.observed_generation,
            last_transition_time: Time(now),
        },
        now,
    );
    status.conditions = Some(conditions);
    status
}

#[cfg(test)]
#[path = "budget_tests.rs"]
mod tests;
