//! Preemption (upstream's DefaultPreemption PostFilter plugin), as a pure dry run: when a pod
//! fits nowhere, find the node where evicting the fewest, least important lower-priority pods
//! lets it fit. No API calls: the caller evicts the victims and nominates the node.
//!
//! PodDisruptionBudgets (policy/v1, passed in by the caller from its watch-fed cache) are
//! respected as upstream does: on each node, a potential victim whose eviction would take a
//! matching budget's `status.disruptionsAllowed` below zero is "violating"; violating victims
//! are reprieved first, the ones that still must go are counted, and the node with the fewest
//! such violations wins before any other criterion. Budgets only steer the choice: a
//! preemption that violates one is still made when nothing better exists (upstream's
//! preemption deletes its victims without the eviction API, as here).
//!
//! Not modelled (documented gaps against upstream):
//! - Pods nominated to a node (upstream's `RunFilterPluginsWithNominatedPods`) and extenders
//!   are not considered.
//! - Nodes are dry-run in snapshot order from offset 0 (upstream starts at a random offset
//!   and runs in parallel); the candidate limit (10% of the potential nodes, at least 100) is
//!   kept.
//! - PreFilter state is recomputed on a snapshot with the modified node instead of upstream's
//!   incremental `AddPod`/`RemovePod` PreFilter extensions (same result, more work).

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::framework::labels::{Selector, pod_labels};
use crate::framework::{Code, CycleState, NodeInfo, PodInfo, Profile, Snapshot, Status};

/// Per-node reason when a node was rejected by filters as UnschedulableAndUnresolvable (or has
/// no status): removing pods cannot help there.
pub const NOT_HELPFUL_MSG: &str = "Preemption is not helpful for scheduling";

/// Per-node reason when a node has no pod of lower priority than the incoming pod.
pub const NO_VICTIMS_MSG: &str = "No preemption victims found for incoming pod";

/// Message when the pod has `preemptionPolicy: Never`.
pub const NEVER_MSG: &str = "not eligible due to preemptionPolicy=Never.";

/// Message when lower-priority pods on the pod's nominated node are still terminating.
pub const TERMINATING_MSG: &str = "not eligible due to a terminating pod on the nominated node.";

/// Message when the snapshot has no nodes.
pub const NO_NODES_MSG: &str = "no nodes available";

/// Upstream's `DefaultPreemptionArgs` defaults: dry-run until this percentage of the
/// potential nodes (but at least [`MIN_CANDIDATE_NODES_ABSOLUTE`]) yielded candidates.
pub const MIN_CANDIDATE_NODES_PERCENTAGE: usize = 10;

/// See [`MIN_CANDIDATE_NODES_PERCENTAGE`].
pub const MIN_CANDIDATE_NODES_ABSOLUTE: usize = 100;

/// A node where the pod fits once `victims` are evicted.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The node to nominate.
    pub node: String,
    /// Pods to evict, most important first (descending priority, then earlier start time).
    pub victims: Vec<Arc<PodInfo>>,
    /// How many victims could not be reprieved although evicting them violates a
    /// PodDisruptionBudget (upstream's `NumPDBViolations`).
    pub num_pdb_violations: usize,
}

/// What preemption decided.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Evict the candidate's victims and nominate its node.
    Preempt(Candidate),
    /// Preemption cannot help. `message` is upstream's PostFilter message without the
    /// `preemption: ` prefix, e.g. `0/3 nodes are available: 1 Insufficient cpu, 2 No
    /// preemption victims found for incoming pod.` or [`NEVER_MSG`].
    NotPossible {
        /// The message.
        message: String,
    },
}

impl Outcome {
    /// The PostFilter message to pass to [`crate::framework::unschedulable_message`] /
    /// [`crate::framework::pre_filter_unschedulable_message`]: `preemption: <message>` when
    /// preemption is not possible, "" when it preempts (upstream's successful PostFilter status
    /// has no message; the pod stays unschedulable for this cycle, nominated to the node).
    pub fn post_filter_message(&self) -> String {
        match self {
            Outcome::Preempt(_) => String::new(),
            Outcome::NotPossible { message } => format!("preemption: {message}"),
        }
    }
}

/// A pod's priority: `spec.priority`, 0 when unset (upstream's `PodPriority`).
pub fn pod_priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// A pod's start time in nanoseconds; a pod that has not started counts as starting last
/// (upstream uses "now" for a missing `status.startTime`).
fn start_nanos(pod: &Pod) -> i128 {
    pod.status
        .as_ref()
        .and_then(|s| s.start_time.as_ref())
        .map_or(i128::MAX, |t| t.0.as_nanosecond())
}

/// Upstream's `MoreImportantPod` as an ordering: higher priority first, then earlier start.
fn importance(a: &PodInfo, b: &PodInfo) -> Ordering {
    pod_priority(&b.pod)
        .cmp(&pod_priority(&a.pod))
        .then_with(|| start_nanos(&a.pod).cmp(&start_nanos(&b.pod)))
}

/// Every node of `snapshot` with the same status: what the caller passes to [`preempt`] when
/// a PreFilter plugin rejected the pod (upstream gives every node the PreFilter status).
pub fn uniform_statuses(snapshot: &Snapshot, status: &Status) -> Vec<(String, Status)> {
    snapshot
        .nodes
        .iter()
        .map(|n| (n.name().to_string(), status.clone()))
        .collect()
}

/// Upstream's `PodEligibleToPreemptOthers`: a pod with `preemptionPolicy: Never` may not
/// preempt, nor may a pod whose `status.nominatedNodeName` node (unless filters found it
/// UnschedulableAndUnresolvable this cycle, or it is gone) still has a lower-priority pod
/// terminating (`deletionTimestamp` set) — its earlier preemption is still in progress.
///
/// Upstream (1.32+) only counts terminating pods carrying the `DisruptionTarget` condition
/// with reason `PreemptionByScheduler`; this checks `deletionTimestamp` alone (the older,
/// more conservative rule) so it works whether or not the evictor sets that condition.
pub fn eligible_to_preempt(
    pod: &PodInfo,
    snapshot: &Snapshot,
    statuses: &[(String, Status)],
) -> Result<(), &'static str> {
    let spec = pod.pod.spec.as_ref();
    if spec.and_then(|s| s.preemption_policy.as_deref()) == Some("Never") {
        return Err(NEVER_MSG);
    }
    let nominated = pod
        .pod
        .status
        .as_ref()
        .and_then(|s| s.nominated_node_name.as_deref())
        .unwrap_or("");
    if nominated.is_empty() {
        return Ok(());
    }
    // Absent nodes count as UnschedulableAndUnresolvable, as upstream's NodeToStatus default.
    let code = statuses
        .iter()
        .find(|(n, _)| n == nominated)
        .map_or(Code::UnschedulableAndUnresolvable, |(_, s)| s.code);
    if code == Code::UnschedulableAndUnresolvable {
        return Ok(());
    }
    let priority = pod_priority(&pod.pod);
    let terminating = snapshot.get(nominated).is_some_and(|node| {
        node.pods
            .iter()
            .any(|p| pod_priority(&p.pod) < priority && p.is_terminating())
    });
    if terminating {
        Err(TERMINATING_MSG)
    } else {
        Ok(())
    }
}

/// Upstream's DefaultPreemption dry run for a pod that failed filtering on every node.
///
/// `statuses` are the filter statuses by node name (as [`crate::framework::FilterOutcome`]'s
/// `failed`, or [`uniform_statuses`] after a PreFilter rejection); only nodes whose status is
/// `Unschedulable` are candidates, nodes absent from it count as UnschedulableAndUnresolvable.
/// On each candidate node all pods of lower priority are removed; if the pod then fits (the
/// profile's PreFilters on a snapshot with that node modified, then its Filters on the node),
/// the potential victims are added back — first those whose eviction would violate one of
/// `pdbs`, then the others, each group most important first — each kept when the pod still
/// fits; the rest are the victims. As upstream's `DryRunPreemption`, nodes are dry-run until
/// at least one candidate violates no budget and enough candidates were found; the best
/// candidate is chosen as upstream's `pickOneNodeForPreemption`.
pub fn preempt(
    profile: &Profile,
    pod: &PodInfo,
    snapshot: &Snapshot,
    statuses: &[(String, Status)],
    pdbs: &[Arc<PodDisruptionBudget>],
) -> Outcome {
    if let Err(msg) = eligible_to_preempt(pod, snapshot, statuses) {
        return Outcome::NotPossible {
            message: msg.to_string(),
        };
    }
    let total = snapshot.len();
    if total == 0 {
        return Outcome::NotPossible {
            message: NO_NODES_MSG.to_string(),
        };
    }
    let mut codes: HashMap<&str, Code> = HashMap::new();
    for (name, status) in statuses {
        codes.entry(name.as_str()).or_insert(status.code);
    }
    let potential: Vec<usize> = (0..total)
        .filter(|i| codes.get(snapshot.nodes[*i].name()) == Some(&Code::Unschedulable))
        .collect();
    let wanted = (potential.len() * MIN_CANDIDATE_NODES_PERCENTAGE / 100)
        .max(MIN_CANDIDATE_NODES_ABSOLUTE)
        .min(potential.len());
    let budgets = parse_budgets(pdbs);
    let mut node_statuses: Vec<Option<Status>> = vec![None; total];
    // Upstream keeps two lists of at most `wanted` candidates each, and stops once one
    // candidate violates no budget and both lists together hold `wanted`.
    let mut non_violating: Vec<Candidate> = Vec::new();
    let mut violating: Vec<Candidate> = Vec::new();
    for idx in potential {
        if !non_violating.is_empty() && non_violating.len() + violating.len() >= wanted {
            break;
        }
        let name = snapshot.nodes[idx].name().to_string();
        match select_victims(profile, pod, snapshot, idx, &budgets) {
            Ok((victims, num_pdb_violations)) if !victims.is_empty() => {
                let list = if num_pdb_violations == 0 {
                    &mut non_violating
                } else {
                    &mut violating
                };
                if list.len() < wanted {
                    list.push(Candidate {
                        node: name,
                        victims,
                        num_pdb_violations,
                    });
                }
            }
            Ok(_) => {
                node_statuses[idx] = Some(Status::error(format!(
                    "expected at least one victim pod on node {name:?}"
                )));
            }
            Err(status) => node_statuses[idx] = Some(status),
        }
    }
    let mut candidates = non_violating;
    candidates.append(&mut violating);
    if candidates.is_empty() {
        let per_node: Vec<(String, Status)> = snapshot
            .nodes
            .iter()
            .zip(node_statuses)
            .map(|(node, status)| {
                let status = status.unwrap_or_else(|| {
                    Status::new(Code::UnschedulableAndUnresolvable, NOT_HELPFUL_MSG)
                });
                (node.name().to_string(), status)
            })
            .collect();
        return Outcome::NotPossible {
            message: crate::framework::unschedulable_message(total, &per_node, ""),
        };
    }
    let best = pick_one_node(&candidates);
    Outcome::Preempt(candidates.swap_remove(best))
}

/// Whether `pod` fits on `node` standing in for `snapshot.nodes[idx]`: the profile's
/// PreFilters on the modified snapshot, then its Filters on the node.
fn fits(
    profile: &Profile,
    pod: &PodInfo,
    snapshot: &Snapshot,
    idx: usize,
    node: &NodeInfo,
) -> Status {
    let mut modified = snapshot.clone();
    Arc::make_mut(&mut modified.nodes)[idx] = Arc::new(node.clone());
    let mut state = CycleState::new();
    let pre = profile.run_pre_filters(&mut state, pod, &modified);
    if !pre.is_success() {
        return pre;
    }
    profile.run_filters(&state, pod, &modified.nodes[idx])
}

/// Upstream's `SelectVictimsOnNode`: the fewest, least important lower-priority pods to evict
/// from `snapshot.nodes[idx]`, most important first, and how many of them violate a budget;
/// or why none helps.
fn select_victims(
    profile: &Profile,
    pod: &PodInfo,
    snapshot: &Snapshot,
    idx: usize,
    budgets: &[Budget<'_>],
) -> Result<(Vec<Arc<PodInfo>>, usize), Status> {
    let original = &snapshot.nodes[idx];
    let priority = pod_priority(&pod.pod);
    let (mut potential, kept): (Vec<_>, Vec<_>) = original
        .pods
        .iter()
        .cloned()
        .partition(|p| pod_priority(&p.pod) < priority);
    if potential.is_empty() {
        return Err(Status::new(
            Code::UnschedulableAndUnresolvable,
            NO_VICTIMS_MSG,
        ));
    }
    // Rebuilt from the node and the remaining pods (no reliance on unique UIDs).
    let mut current = NodeInfo::new(original.node.clone());
    for p in kept {
        current.add_pod(p);
    }
    let status = fits(profile, pod, snapshot, idx, &current);
    if !status.is_success() {
        return Err(status);
    }
    potential.sort_by(|a, b| importance(a, b));
    // Reprieve the violating victims first, then the others, each most important first.
    let (violating, non_violating) = split_by_pdb_violation(potential, budgets);
    let passes = (violating.into_iter().map(|p| (p, true)))
        .chain(non_violating.into_iter().map(|p| (p, false)));
    let mut victims = Vec::new();
    let mut num_pdb_violations = 0;
    for (p, violates) in passes {
        let mut trial = current.clone();
        trial.add_pod(p.clone());
        if fits(profile, pod, snapshot, idx, &trial).is_success() {
            current = trial;
        } else {
            num_pdb_violations += usize::from(violates);
            victims.push(p);
        }
    }
    // Two passes may interleave importance: restore the order (stable).
    victims.sort_by(|a, b| importance(a, b));
    Ok((victims, num_pdb_violations))
}

/// A PodDisruptionBudget that can match pods, parsed once per preemption.
struct Budget<'a> {
    /// The budget's namespace: only pods there match.
    namespace: &'a str,
    /// The parsed `spec.selector` (never empty or nil: those match nothing and are dropped).
    selector: Selector,
    /// `status.disruptedPods`: pods whose eviction the API server already counted.
    disrupted: Option<&'a BTreeMap<String, Time>>,
    /// `status.disruptionsAllowed` (0 without a status).
    allowed: i32,
}

/// The budgets of `pdbs` that can match a pod: as upstream, a nil or empty selector matches
/// nothing, nor does an invalid one.
fn parse_budgets(pdbs: &[Arc<PodDisruptionBudget>]) -> Vec<Budget<'_>> {
    pdbs.iter()
        .filter_map(|pdb| {
            let selector = pdb.spec.as_ref().and_then(|s| s.selector.as_ref());
            let selector = Selector::from_label_selector(selector).ok()?;
            if selector == Selector::Nothing || selector.is_everything() {
                return None;
            }
            let status = pdb.status.as_ref();
            Some(Budget {
                namespace: pdb.metadata.namespace.as_deref().unwrap_or(""),
                selector,
                disrupted: status.and_then(|s| s.disrupted_pods.as_ref()),
                allowed: status.map_or(0, |s| s.disruptions_allowed),
            })
        })
        .collect()
}

/// Upstream's `filterPodsWithPDBViolation`: splits `pods` (order kept) into those whose
/// eviction would violate a budget and the others. Each pod, in order, uses up one disruption
/// of every budget in its namespace whose selector matches its labels, unless the budget
/// lists it in `disruptedPods` already; it violates when one of them goes below zero. A pod
/// without labels matches no budget.
fn split_by_pdb_violation(
    pods: Vec<Arc<PodInfo>>,
    budgets: &[Budget<'_>],
) -> (Vec<Arc<PodInfo>>, Vec<Arc<PodInfo>>) {
    let mut allowed: Vec<i64> = budgets.iter().map(|b| i64::from(b.allowed)).collect();
    let mut violating = Vec::new();
    let mut non_violating = Vec::new();
    for p in pods {
        let labels = pod_labels(&p.pod);
        let namespace = p.pod.metadata.namespace.as_deref().unwrap_or("");
        let name = p.pod.metadata.name.as_deref().unwrap_or("");
        let mut violates = false;
        if !labels.is_empty() {
            for (budget, left) in budgets.iter().zip(allowed.iter_mut()) {
                let counted = budget.disrupted.is_some_and(|d| d.contains_key(name));
                if budget.namespace != namespace || counted || !budget.selector.matches(labels) {
                    continue;
                }
                *left -= 1;
                violates |= *left < 0;
            }
        }
        if violates {
            violating.push(p);
        } else {
            non_violating.push(p);
        }
    }
    (violating, non_violating)
}

/// Upstream's `pickOneNodeForPreemption` with its default criteria, each narrowing the ties of
/// the previous: fewest PDB violations, lowest highest-priority victim,
/// smallest sum of victim priorities (each offset by 2^31 so negative priorities still count),
/// fewest victims, latest earliest start time among the highest-priority victims, then the
/// first. Returns an index into `candidates` (0 when empty).
fn pick_one_node(candidates: &[Candidate]) -> usize {
    let highest = |c: &Candidate| c.victims.iter().map(|p| pod_priority(&p.pod)).max();
    let criteria: [&dyn Fn(&Candidate) -> i128; 5] = [
        &|c| -i128::try_from(c.num_pdb_violations).unwrap_or(i128::MAX),
        &|c| -i128::from(highest(c).unwrap_or(i32::MIN)),
        &|c| {
            -c.victims
                .iter()
                .map(|p| i128::from(pod_priority(&p.pod)) + (1i128 << 31))
                .sum::<i128>()
        },
        &|c| -i128::try_from(c.victims.len()).unwrap_or(i128::MAX),
        &|c| {
            let top = highest(c);
            c.victims
                .iter()
                .filter(|p| Some(pod_priority(&p.pod)) == top)
                .map(|p| start_nanos(&p.pod))
                .min()
                .unwrap_or(i128::MIN)
        },
    ];
    let mut remaining: Vec<usize> = (0..candidates.len()).collect();
    for score in criteria {
        let Some(max) = remaining.iter().map(|i| score(&candidates[*i])).max() else {
            return 0;
        };
        remaining.retain(|i| score(&candidates[*i]) == max);
        if remaining.len() == 1 {
            break;
        }
    }
    remaining.first().copied().unwrap_or(0)
}

#[cfg(test)]
mod tests;
