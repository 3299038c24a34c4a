//! One scheduling cycle per pod: filter the nodes (a sample of them in large clusters, as
//! upstream's `percentageOfNodesToScore`), score the feasible ones, pick the best, assume the
//! pod there and bind it in the background. A pod that fits nowhere gets `PodScheduled=False`
//! with upstream's message and a `FailedScheduling` event, and waits for the cluster to change.

use crate::cache::Cache;
use crate::framework::{Code, CycleState, NodeInfo, PodInfo, Profile, Snapshot, Status};
use crate::listers::DisruptionBudgets;
use crate::queue::{QueuedPod, SchedulingQueue};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use std::sync::{Arc, Mutex};

/// What a scheduling cycle decided.
pub enum Decision {
    /// Bind the pod to this node.
    Bind(String),
    /// Nothing fits: the message for the pod's condition and event.
    Unschedulable(String),
    /// Nothing fits, but evicting `victims` from `node` makes room: nominate the node, evict
    /// them, and retry the pod; the message is for its condition and event meanwhile.
    Preempt {
        /// The node to nominate.
        node: String,
        /// The lower-priority pods to evict.
        victims: Vec<Arc<PodInfo>>,
        /// The unschedulable message of this cycle.
        message: String,
    },
    /// A plugin failed unexpectedly.
    Error(String),
}

/// The scheduling algorithm over one snapshot (no API calls; unit-testable).
pub struct Algorithm {
    /// The plugins and weights.
    pub profile: Arc<Profile>,
    /// `percentageOfNodesToScore`, if configured.
    pub percentage_of_nodes_to_score: Option<i32>,
    /// Where the next cycle starts filtering (round-robin over the node list, as upstream).
    next_start: usize,
    /// Tie-break state (a small xorshift generator).
    rng: u64,
}

impl Algorithm {
    /// An algorithm with a profile.
    pub fn new(profile: Arc<Profile>, percentage_of_nodes_to_score: Option<i32>) -> Algorithm {
        Algorithm {
            profile,
            percentage_of_nodes_to_score,
            next_start: 0,
            rng: 0x9E37_79B9_7F4A_7C15,
        }
    }

    fn random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// Decides where `pod` goes in `snapshot`; preemption respects the PodDisruptionBudgets
    /// of `budgets` (none when `None`).
    pub fn schedule(
        &mut self,
        pod: &PodInfo,
        snapshot: &Snapshot,
        budgets: Option<&DisruptionBudgets>,
    ) -> Decision {
        let nodes = &snapshot.nodes;
        let total = nodes.len();
        if total == 0 {
            return Decision::Unschedulable(crate::framework::NO_NODES_AVAILABLE_MSG.to_owned());
        }
        let mut state = CycleState::default();
        let pre = self.profile.run_pre_filters(&mut state, pod, snapshot);
        match pre.code {
            Code::Success => {}
            Code::Error => return Decision::Error(pre.reasons.join(", ")),
            _ => {
                let statuses = crate::preemption::uniform_statuses(snapshot, &pre);
                let pdbs = list_budgets(budgets);
                let outcome =
                    crate::preemption::preempt(&self.profile, pod, snapshot, &statuses, &pdbs);
                let message = crate::framework::pre_filter_unschedulable_message(
                    total,
                    &pre,
                    &outcome.post_filter_message(),
                );
                return decide(outcome, message);
            }
        }
        let want =
            crate::config::num_feasible_nodes_to_find(self.percentage_of_nodes_to_score, total);
        let mut feasible: Vec<Arc<NodeInfo>> = Vec::with_capacity(want.min(total));
        let mut failures: Vec<(String, Status)> = Vec::new();
        let start = self.next_start % total;
        let mut visited = 0;
        let filters = self.profile.filters_for(&state);
        for k in 0..total {
            let node = &nodes[(start + k) % total];
            visited += 1;
            let status = filters.run(&state, pod, node);
            match status.code {
                Code::Success => {
                    feasible.push(node.clone());
                    if feasible.len() >= want {
                        break;
                    }
                }
                Code::Error => return Decision::Error(status.reasons.join(", ")),
                _ => failures.push((node.name().to_owned(), status)),
            }
        }
        self.next_start = (start + visited) % total;
        if feasible.is_empty() {
            let pdbs = list_budgets(budgets);
            let outcome =
                crate::preemption::preempt(&self.profile, pod, snapshot, &failures, &pdbs);
            let message = crate::framework::unschedulable_message(
                total,
                &failures,
                &outcome.post_filter_message(),
            );
            return decide(outcome, message);
        }
        if feasible.len() == 1 {
            return Decision::Bind(feasible[0].name().to_owned());
        }
        let pre_score = self
            .profile
            .run_pre_scores(&mut state, pod, snapshot, &feasible);
        if pre_score.code == Code::Error {
            return Decision::Error(pre_score.reasons.join(", "));
        }
        let scores = self.profile.score_nodes(&state, pod, &feasible);
        // The best score; ties broken uniformly at random (reservoir sampling), as upstream.
        let mut best = 0;
        let mut ties = 0u64;
        for (i, score) in scores.iter().enumerate() {
            if *score > scores[best] {
                best = i;
                ties = 1;
            } else if *score == scores[best] {
                ties += 1;
                if self.random().is_multiple_of(ties) {
                    best = i;
                }
            }
        }
        Decision::Bind(feasible[best].name().to_owned())
    }
}

/// The budgets preemption respects, listed only when it runs (as upstream lists its PDB
/// lister in `findCandidates`).
fn list_budgets(budgets: Option<&DisruptionBudgets>) -> Vec<Arc<PodDisruptionBudget>> {
    budgets.map(DisruptionBudgets::list).unwrap_or_default()
}

fn decide(outcome: crate::preemption::Outcome, message: String) -> Decision {
    match outcome {
        crate::preemption::Outcome::Preempt(c) => Decision::Preempt {
            node: c.node,
            victims: c.victims,
            message,
        },
        crate::preemption::Outcome::NotPossible { .. } => Decision::Unschedulable(message),
    }
}

/// Shared state of the scheduling loop.
pub struct Shared {
    /// The queue of pods to schedule.
    pub queue: Arc<SchedulingQueue>,
    /// The node cache.
    pub cache: Arc<Mutex<Cache>>,
    /// Services and controllers, for pods' default spreading selectors (none in tests that
    /// drive cycles without an API).
    pub owners: Option<crate::listers::Owners>,
    /// PodDisruptionBudgets, which preemption respects (none in tests that drive cycles
    /// without an API).
    pub disruption_budgets: Option<DisruptionBudgets>,
}

impl Shared {
    /// The node cache, locked (a panic while it was held does not poison it for good).
    pub fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Runs one cycle for a popped pod, under the cache lock; returns the decision and whether the
/// cluster changed while the pod was queued (so an unschedulable pod should retry soon).
pub fn cycle(
    algorithm: &mut Algorithm,
    shared: &Shared,
    queued: &QueuedPod,
) -> (Decision, Option<Arc<PodInfo>>) {
    let mut info = PodInfo::new(queued.pod.clone());
    if let Some(owners) = &shared.owners {
        info.default_spread_selector = owners.default_selector(&queued.pod);
    }
    let info = Arc::new(info);
    let mut cache = shared.cache();
    let snapshot = cache.snapshot();
    let decision = algorithm.schedule(&info, &snapshot, shared.disruption_budgets.as_ref());
    // Released first, so assuming the pod changes the cache's node list in place.
    drop(snapshot);
    if let Decision::Bind(node) = &decision {
        cache.assume(info.clone(), node);
    }
    (decision, Some(info))
}
