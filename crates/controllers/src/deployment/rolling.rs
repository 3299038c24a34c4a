//! The arithmetic of rollouts, as upstream does it: maxSurge and maxUnavailable resolved
//! against the replica count, how far the new ReplicaSet may grow, how far old ones may
//! shrink, and proportional scaling of every ReplicaSet when a Deployment is resized mid-way.

use crate::intstr::scaled_value;
use k8s_openapi::api::apps::v1::Deployment;

/// Whether the Deployment replaces pods in place over time (RollingUpdate, the default).
pub fn is_rolling(d: &Deployment) -> bool {
    d.spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.type_.as_deref())
        .is_none_or(|t| t == "RollingUpdate")
}

/// The Deployment's replicas (default 1).
pub fn replicas(d: &Deployment) -> i32 {
    d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)
}

/// (maxSurge, maxUnavailable) as pod counts; both 0 would stall, so unavailable becomes 1.
/// Recreate deployments have neither.
pub fn fenceposts(d: &Deployment) -> (i32, i32) {
    if !is_rolling(d) {
        return (0, 0);
    }
    let rolling = d
        .spec
        .as_ref()
        .and_then(|s| s.strategy.as_ref())
        .and_then(|s| s.rolling_update.as_ref());
    let total = replicas(d);
    let surge = scaled_value(
        rolling.and_then(|r| r.max_surge.as_ref()),
        total,
        true,
        "25%",
    );
    let unavailable = scaled_value(
        rolling.and_then(|r| r.max_unavailable.as_ref()),
        total,
        false,
        "25%",
    );
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// The replicas the new ReplicaSet may have now: grown toward the target without the total
/// exceeding replicas + maxSurge.
pub fn new_rs_replicas(target: i32, max_surge: i32, total_now: i32, new_now: i32) -> i32 {
    let max_total = target + max_surge;
    if total_now >= max_total {
        return new_now;
    }
    let grow = (max_total - total_now).min(target - new_now).max(0);
    new_now + grow
}

/// A ReplicaSet as the arithmetic sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// spec.replicas.
    pub replicas: i32,
    /// status.availableReplicas.
    pub available: i32,
}

/// How much the old ReplicaSets (oldest first) shrink: first their unavailable pods, then
/// available ones as long as `replicas - maxUnavailable` stay available. Returns the new
/// sizes of the old sets.
pub fn scale_down_old(target: i32, max_unavailable: i32, new: Sizes, old: &[Sizes]) -> Vec<i32> {
    let mut sizes: Vec<i32> = old.iter().map(|s| s.replicas).collect();
    let old_total: i32 = sizes.iter().sum();
    if old_total == 0 {
        return sizes;
    }
    let all_total = old_total + new.replicas;
    let min_available = target - max_unavailable;
    let new_unavailable = new.replicas - new.available;
    let max_scaled_down = all_total - min_available - new_unavailable;
    if max_scaled_down <= 0 {
        return sizes;
    }
    // Unhealthy pods first: removing them costs no availability.
    let mut cleaned = 0;
    for (i, s) in old.iter().enumerate() {
        if cleaned >= max_scaled_down {
            break;
        }
        let unhealthy = (sizes[i] - s.available).max(0);
        let cut = unhealthy.min(max_scaled_down - cleaned);
        sizes[i] -= cut;
        cleaned += cut;
    }
    // Then available ones, keeping minAvailable.
    let available_total: i32 = old
        .iter()
        .zip(&sizes)
        .map(|(s, size)| s.available.min(*size))
        .sum::<i32>()
        + new.available;
    if available_total <= min_available {
        return sizes;
    }
    let mut budget = available_total - min_available;
    for size in sizes.iter_mut() {
        if budget == 0 {
            break;
        }
        let cut = (*size).min(budget);
        *size -= cut;
        budget -= cut;
    }
    sizes
}

/// Proportional scaling: when the Deployment's size changes with several ReplicaSets
/// active, each gets a share in proportion to its size. `sets` are (replicas, the
/// Deployment size it was last scaled for); the first set gets any rounding leftover.
/// Returns the new sizes.
pub fn proportional(allowed_total: i32, sets: &[(i32, i32)], target: i32) -> Vec<i32> {
    let current: i32 = sets.iter().map(|(r, _)| r).sum();
    let to_add = allowed_total - current;
    let mut sizes: Vec<i32> = sets.iter().map(|(r, _)| *r).collect();
    if to_add == 0 {
        return sizes;
    }
    let mut added = 0;
    for (i, (r, annotated)) in sets.iter().enumerate() {
        if *r == 0 {
            continue;
        }
        let share = if *annotated > 0 {
            (f64::from(*r) * f64::from(target) / f64::from(*annotated)).round() as i32 - r
        } else {
            0
        };
        let remaining = to_add - added;
        let share = if to_add > 0 {
            share.clamp(0, remaining)
        } else {
            share.clamp(remaining, 0)
        };
        sizes[i] += share;
        added += share;
    }
    if let Some(first) = sizes.first_mut() {
        *first = (*first + to_add - added).max(0);
    }
    sizes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_set_grows_within_surge() {
        // 10 replicas, surge 3: from all-old (10), the new set may start 3 pods.
        assert_eq!(new_rs_replicas(10, 3, 10, 0), 3);
        assert_eq!(new_rs_replicas(10, 3, 13, 3), 3);
        assert_eq!(new_rs_replicas(10, 3, 8, 7), 10);
    }

    #[test]
    fn old_sets_shrink_keeping_availability() {
        let new = Sizes {
            replicas: 3,
            available: 0,
        };
        // 10 old available, maxUnavailable 2: 13 total, min 8 available, 3 new unavailable.
        assert_eq!(
            scale_down_old(
                10,
                2,
                new,
                &[Sizes {
                    replicas: 10,
                    available: 10
                }]
            ),
            [8]
        );
        // Unhealthy old pods go first.
        let sizes = scale_down_old(
            10,
            0,
            Sizes {
                replicas: 0,
                available: 0,
            },
            &[Sizes {
                replicas: 10,
                available: 8,
            }],
        );
        assert_eq!(sizes, [10]);
        let sizes = scale_down_old(
            10,
            2,
            Sizes {
                replicas: 3,
                available: 3,
            },
            &[
                Sizes {
                    replicas: 4,
                    available: 1,
                },
                Sizes {
                    replicas: 6,
                    available: 6,
                },
            ],
        );
        assert_eq!(sizes, [0, 5]);
    }

    #[test]
    fn proportional_scaling_splits_by_size() {
        // 10 → 20 with sets of 6 (new) and 4 (old), surge 0.
        assert_eq!(proportional(20, &[(6, 10), (4, 10)], 20), [12, 8]);
        // Down to 5.
        assert_eq!(proportional(5, &[(6, 10), (4, 10)], 5), [3, 2]);
    }
}
