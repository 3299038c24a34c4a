//! Preemption (upstream's DefaultPreemption PostFilter plugin), as a pure dry run: when a pod
//! fits nowhere, find the node where evicting the fewest, least important lower-priority pods
//! lets it fit. No API calls: the caller evicts the victims and nominates the node.
//!
//! Not modelled (documented gaps against upstream):
//! - PodDisruptionBudgets are ignored: every candidate has 0 PDB violations and victims are
//!   reprieved in one pass (upstream first reprieves PDB-violating victims).
//! - Pods nominated to a node (upstream's `RunFilterPluginsWithNominatedPods`) and extenders
//!   are not considered.
//! - Nodes are dry-run in snapshot order from offset 0 (upstream starts at a random offset
//!   and runs in parallel); the candidate limit (10% of the potential nodes, at least 100) is
//!   kept.
//! - PreFilter state is recomputed on a snapshot with the modified node instead of upstream's
//!   incremental `AddPod`/`RemovePod` PreFilter extensions (same result, more work).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

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
/// the potential victims are added back most important first, each kept when the pod still
/// fits; the rest are the victims. The best candidate is chosen as upstream's
/// `pickOneNodeForPreemption`. PodDisruptionBudgets are ignored (see the module docs).
pub fn preempt(
    profile: &Profile,
    pod: &PodInfo,
    snapshot: &Snapshot,
    statuses: &[(String, Status)],
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
    let mut node_statuses: Vec<Option<Status>> = vec![None; total];
    let mut candidates: Vec<Candidate> = Vec::new();
    for idx in potential {
        if candidates.len() >= wanted {
            break;
        }
        let name = snapshot.nodes[idx].name().to_string();
        match select_victims(profile, pod, snapshot, idx) {
            Ok(victims) if !victims.is_empty() => candidates.push(Candidate {
                node: name,
                victims,
            }),
            Ok(_) => {
                node_statuses[idx] = Some(Status::error(format!(
                    "expected at least one victim pod on node {name:?}"
                )));
            }
            Err(status) => node_statuses[idx] = Some(status),
        }
    }
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

/// Upstream's `SelectVictimsOnNode` (without PDBs): the fewest, least important lower-priority
/// pods to evict from `snapshot.nodes[idx]`, most important first; or why none helps.
fn select_victims(
    profile: &Profile,
    pod: &PodInfo,
    snapshot: &Snapshot,
    idx: usize,
) -> Result<Vec<Arc<PodInfo>>, Status> {
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
    let mut victims = Vec::new();
    for p in potential {
        let mut trial = current.clone();
        trial.add_pod(p.clone());
        if fits(profile, pod, snapshot, idx, &trial).is_success() {
            current = trial;
        } else {
            victims.push(p);
        }
    }
    Ok(victims)
}

/// Upstream's `pickOneNodeForPreemption` with its default criteria, each narrowing the ties of
/// the previous: fewest PDB violations (always 0 here), lowest highest-priority victim,
/// smallest sum of victim priorities (each offset by 2^31 so negative priorities still count),
/// fewest victims, latest earliest start time among the highest-priority victims, then the
/// first. Returns an index into `candidates` (0 when empty).
fn pick_one_node(candidates: &[Candidate]) -> usize {
    let highest = |c: &Candidate| c.victims.iter().map(|p| pod_priority(&p.pod)).max();
    let criteria: [&dyn Fn(&Candidate) -> i128; 4] = [
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
mod tests {
    use super::*;
    use crate::plugins::testutil::{node, pod, snapshot, with_pods};
    use serde_json::json;

    fn prio_pod(name: &str, priority: i32, cpu: &str) -> Arc<PodInfo> {
        pod(
            json!({"metadata": {"name": name}, "spec": {"priority": priority,
            "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}}),
        )
    }

    fn cpu_node(name: &str, cpu: &str, labels: serde_json::Value) -> NodeInfo {
        node(json!({"metadata": {"name": name, "labels": labels},
            "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}}))
    }

    /// Runs the default profile's PreFilter and Filter as a scheduling cycle would, then
    /// preemption with the failed nodes' statuses.
    fn run(pod: &PodInfo, snap: &Snapshot) -> Outcome {
        let profile = Profile::default_profile();
        let mut state = CycleState::new();
        let pre = profile.run_pre_filters(&mut state, pod, snap);
        let statuses = if pre.is_success() {
            let outcome = profile
                .filter_all(&state, pod, snap)
                .expect("no filter error");
            assert!(outcome.feasible.is_empty(), "pod must not fit anywhere");
            outcome.failed
        } else {
            uniform_statuses(snap, &pre)
        };
        preempt(&profile, pod, snap, &statuses)
    }

    fn preempted(outcome: Outcome) -> (String, Vec<String>) {
        match outcome {
            Outcome::Preempt(c) => {
                let names = c
                    .victims
                    .iter()
                    .map(|v| v.pod.metadata.name.clone().unwrap_or_default());
                (c.node.clone(), names.collect())
            }
            Outcome::NotPossible { message } => panic!("expected preemption, got {message:?}"),
        }
    }

    fn not_possible(outcome: Outcome) -> String {
        match outcome {
            Outcome::NotPossible { message } => message,
            Outcome::Preempt(c) => panic!("expected no preemption, got {c:?}"),
        }
    }

    #[test]
    fn preempts_lowest_priority_and_reprieves_the_rest() {
        // 5 cpu, all used: h (20) stays; c (3), b (2) are reprieved, a (1) is evicted.
        let pods = [
            prio_pod("h", 20, "1"),
            prio_pod("a", 1, "1"),
            prio_pod("c", 3, "2"),
            prio_pod("b", 2, "1"),
        ];
        let snap = snapshot(vec![with_pods(cpu_node("n1", "5", json!({})), &pods)]);
        let incoming = prio_pod("p", 10, "1");
        assert_eq!(
            preempted(run(&incoming, &snap)),
            ("n1".into(), vec!["a".into()])
        );

        // Needing 2 cpu: c is reprieved, then b and a must go, most important first.
        let incoming = prio_pod("p", 10, "2");
        assert_eq!(
            preempted(run(&incoming, &snap)),
            ("n1".into(), vec!["b".into(), "a".into()])
        );
    }

    #[test]
    fn equal_priority_reprieves_earlier_started_pod() {
        let mut early = (*prio_pod("early", 1, "1")).clone();
        let mut p = (*early.pod).clone();
        p.status = serde_json::from_value(json!({"startTime": "2024-01-01T00:00:00Z"})).ok();
        early.pod = Arc::new(p);
        let pods = [prio_pod("late", 1, "1"), Arc::new(early)];
        let snap = snapshot(vec![with_pods(cpu_node("n1", "2", json!({})), &pods)]);
        let incoming = prio_pod("p", 10, "1");
        assert_eq!(
            preempted(run(&incoming, &snap)),
            ("n1".into(), vec!["late".into()])
        );
    }

    #[test]
    fn no_victims_when_existing_pods_are_not_lower_priority() {
        let snap = snapshot(vec![
            with_pods(cpu_node("n1", "2", json!({})), &[prio_pod("x", 10, "2")]),
            with_pods(cpu_node("n2", "2", json!({})), &[prio_pod("y", 50, "2")]),
        ]);
        let incoming = prio_pod("p", 10, "1");
        assert_eq!(
            not_possible(run(&incoming, &snap)),
            "0/2 nodes are available: 2 No preemption victims found for incoming pod."
        );
        // A node where evicting every lower-priority pod is not enough reports the filter's
        // reason, as upstream.
        let snap = snapshot(vec![
            with_pods(cpu_node("n1", "2", json!({})), &[prio_pod("x", 10, "2")]),
            with_pods(cpu_node("n2", "2", json!({})), &[prio_pod("y", 1, "1")]),
        ]);
        let incoming = prio_pod("p", 10, "3");
        let outcome = run(&incoming, &snap);
        assert_eq!(
            outcome.post_filter_message(),
            "preemption: 0/2 nodes are available: 1 Insufficient cpu, 1 No preemption victims \
             found for incoming pod."
        );
    }

    #[test]
    fn unresolvable_nodes_are_never_candidates() {
        let selector = json!({"nodeSelector": {"zone": "a"}, "priority": 10,
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]});
        let incoming = pod(json!({"metadata": {"name": "p"}, "spec": selector}));
        // n2 has a preemptable pod but does not match the nodeSelector.
        let snap = snapshot(vec![
            with_pods(
                cpu_node("n1", "1", json!({"zone": "a"})),
                &[prio_pod("x", 10, "1")],
            ),
            with_pods(
                cpu_node("n2", "1", json!({"zone": "b"})),
                &[prio_pod("y", 1, "1")],
            ),
        ]);
        assert_eq!(
            not_possible(run(&incoming, &snap)),
            "0/2 nodes are available: 1 No preemption victims found for incoming pod, \
             1 Preemption is not helpful for scheduling."
        );
        // With a victim on n1, n1 is chosen even though n2's victim has lower priority.
        let snap = snapshot(vec![
            with_pods(
                cpu_node("n1", "1", json!({"zone": "a"})),
                &[prio_pod("x", 5, "1")],
            ),
            with_pods(
                cpu_node("n2", "1", json!({"zone": "b"})),
                &[prio_pod("y", 1, "1")],
            ),
        ]);
        assert_eq!(
            preempted(run(&incoming, &snap)),
            ("n1".into(), vec!["x".into()])
        );
        // Nodes missing from the statuses are not candidates either.
        let profile = Profile::default_profile();
        let outcome = preempt(&profile, &incoming, &snap, &[]);
        assert_eq!(
            not_possible(outcome),
            "0/2 nodes are available: 2 Preemption is not helpful for scheduling."
        );
    }

    #[test]
    fn prefers_node_with_lowest_highest_victim_priority() {
        let snap = snapshot(vec![
            with_pods(cpu_node("n1", "2", json!({})), &[prio_pod("a", 5, "2")]),
            with_pods(
                cpu_node("n2", "2", json!({})),
                &[prio_pod("b", 3, "1"), prio_pod("c", 3, "1")],
            ),
            with_pods(cpu_node("n3", "2", json!({})), &[prio_pod("d", 4, "2")]),
        ]);
        let incoming = prio_pod("p", 10, "2");
        let (node, mut victims) = preempted(run(&incoming, &snap));
        victims.sort();
        assert_eq!((node, victims), ("n2".into(), vec!["b".into(), "c".into()]));
    }

    #[test]
    fn tie_breaks_sum_count_then_start_time() {
        let cand = |node: &str, prios: &[i32]| Candidate {
            node: node.into(),
            victims: prios.iter().map(|p| prio_pod("v", *p, "1")).collect(),
        };
        // Same highest priority 3: sum 3+3 > 3+1 → the second.
        assert_eq!(pick_one_node(&[cand("a", &[3, 3]), cand("b", &[3, 1])]), 1);
        // Negative priorities: offset sums make fewer victims win.
        assert_eq!(pick_one_node(&[cand("a", &[-5, -5]), cand("b", &[-5])]), 1);
        // Full tie → the first.
        assert_eq!(pick_one_node(&[cand("a", &[2]), cand("b", &[2])]), 0);
        // Same count: the latest-started highest-priority victim wins; not started = latest.
        let started = |name: &str, at: &str| {
            let mut info = (*prio_pod(name, 2, "1")).clone();
            let mut p = (*info.pod).clone();
            p.status = serde_json::from_value(json!({"startTime": at})).ok();
            info.pod = Arc::new(p);
            Candidate {
                node: name.into(),
                victims: vec![Arc::new(info)],
            }
        };
        let old = started("old", "2024-01-01T00:00:00Z");
        let new = started("new", "2024-06-01T00:00:00Z");
        assert_eq!(pick_one_node(&[old.clone(), new.clone()]), 1);
        assert_eq!(pick_one_node(&[new, cand("unstarted", &[2]), old]), 1);
        assert_eq!(pick_one_node(&[]), 0);
    }

    #[test]
    fn preemption_policy_never_is_not_eligible() {
        let incoming = pod(json!({"metadata": {"name": "p"}, "spec": {"priority": 10,
            "preemptionPolicy": "Never",
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}}));
        let snap = snapshot(vec![with_pods(
            cpu_node("n1", "1", json!({})),
            &[prio_pod("x", 1, "1")],
        )]);
        let outcome = run(&incoming, &snap);
        assert_eq!(
            outcome.post_filter_message(),
            "preemption: not eligible due to preemptionPolicy=Never."
        );
    }

    #[test]
    fn terminating_victim_on_nominated_node_blocks_preemption() {
        let incoming = pod(json!({"metadata": {"name": "p"}, "spec": {"priority": 10,
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]},
            "status": {"nominatedNodeName": "n1"}}));
        let dying = pod(
            json!({"metadata": {"name": "x", "deletionTimestamp": "2024-01-01T00:00:00Z"},
            "spec": {"priority": 1,
            "containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]}}),
        );
        let snap = snapshot(vec![
            with_pods(cpu_node("n1", "1", json!({})), &[dying]),
            with_pods(cpu_node("n2", "1", json!({})), &[prio_pod("y", 1, "1")]),
        ]);
        assert_eq!(not_possible(run(&incoming, &snap)), TERMINATING_MSG);
        // If the nominated node became unresolvable, the pod may preempt elsewhere.
        let profile = Profile::default_profile();
        let statuses = vec![
            (
                "n1".to_string(),
                Status::new(Code::UnschedulableAndUnresolvable, "gone"),
            ),
            (
                "n2".to_string(),
                Status::new(Code::Unschedulable, "Insufficient cpu"),
            ),
        ];
        let outcome = preempt(&profile, &incoming, &snap, &statuses);
        assert_eq!(preempted(outcome), ("n2".into(), vec!["y".into()]));
    }
}
