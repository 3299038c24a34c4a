//! Preemption's dry run: victim selection, PodDisruptionBudgets, picking a node.

use super::*;
use crate::plugins::testutil::{node, pod, snapshot, with_pods};
use k8s_openapi::api::policy::v1::PodDisruptionBudgetStatus;
use serde_json::{Value, json};

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
    run_with(pod, snap, &[])
}

/// [`run`] with PodDisruptionBudgets.
fn run_with(pod: &PodInfo, snap: &Snapshot, pdbs: &[Arc<PodDisruptionBudget>]) -> Outcome {
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
    preempt(&profile, pod, snap, &statuses, pdbs)
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
    let outcome = preempt(&profile, &incoming, &snap, &[], &[]);
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
        num_pdb_violations: 0,
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
            num_pdb_violations: 0,
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
    let outcome = preempt(&profile, &incoming, &snap, &statuses, &[]);
    assert_eq!(preempted(outcome), ("n2".into(), vec!["y".into()]));
}

/// A case's PodDisruptionBudgets.
type Pdbs = Vec<Arc<PodDisruptionBudget>>;

/// A case's pods.
type Pods = Vec<Arc<PodInfo>>;

/// A labelled pod (`app`, none when empty) in a namespace, requesting cpu.
fn app_pod(ns: &str, name: &str, app: &str, priority: i32, cpu: &str) -> Arc<PodInfo> {
    let labels = if app.is_empty() {
        json!({})
    } else {
        json!({ "app": app })
    };
    pod(
        json!({"metadata": {"name": name, "namespace": ns, "labels": labels},
        "spec": {"priority": priority,
        "containers": [{"name": "c", "resources": {"requests": {"cpu": cpu}}}]}}),
    )
}

/// A PodDisruptionBudget in `ns` with `selector` (JSON null: none); with a status when
/// `allowed` is set, listing `disrupted` in its `disruptedPods`.
fn pdb(
    ns: &str,
    selector: Value,
    allowed: Option<i32>,
    disrupted: &[&str],
) -> Arc<PodDisruptionBudget> {
    let mut pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "budget", "namespace": ns},
        "spec": {"selector": selector}}))
    .expect("valid PDB JSON");
    let at: Time = serde_json::from_value(json!("2024-01-01T00:00:00Z")).expect("a time");
    pdb.status = allowed.map(|n| PodDisruptionBudgetStatus {
        disruptions_allowed: n,
        disrupted_pods: Some(
            disrupted
                .iter()
                .map(|p| (p.to_string(), at.clone()))
                .collect(),
        ),
        ..PodDisruptionBudgetStatus::default()
    });
    Arc::new(pdb)
}

fn app_is(app: &str) -> Value {
    json!({"matchLabels": {"app": app}})
}

/// The chosen node, its victims' names and its PDB violations.
fn preempted_with_violations(outcome: Outcome) -> (String, Vec<String>, usize) {
    let Outcome::Preempt(c) = outcome else {
        panic!("expected preemption, got {outcome:?}");
    };
    let violations = c.num_pdb_violations;
    let (node, victims) = preempted(Outcome::Preempt(c));
    (node, victims, violations)
}

#[test]
fn pdb_protected_victims_are_reprieved_first() {
    // 2 cpu used by db (priority 1) and web (priority 2): one of them must go.
    let pods = [
        app_pod("default", "db", "db", 1, "1"),
        app_pod("default", "web", "web", 2, "1"),
    ];
    let snap = snapshot(vec![with_pods(cpu_node("n1", "2", json!({})), &pods)]);
    let exists = json!({"matchExpressions": [{"key": "app", "operator": "Exists"}]});
    let in_db = json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["db"]}]});
    // (name, budgets, cpu the incoming pod needs, victims, PDB violations)
    let cases: Vec<(&str, Pdbs, &str, &[&str], usize)> = vec![
        ("no budget", vec![], "1", &["db"], 0),
        (
            "db protected, none allowed",
            vec![pdb("default", app_is("db"), Some(0), &[])],
            "1",
            &["web"],
            0,
        ),
        (
            "no status allows nothing",
            vec![pdb("default", app_is("db"), None, &[])],
            "1",
            &["web"],
            0,
        ),
        (
            "one disruption allowed",
            vec![pdb("default", app_is("db"), Some(1), &[])],
            "1",
            &["db"],
            0,
        ),
        (
            "db already in disruptedPods",
            vec![pdb("default", app_is("db"), Some(0), &["db"])],
            "1",
            &["db"],
            0,
        ),
        (
            "another pod in disruptedPods",
            vec![pdb("default", app_is("db"), Some(0), &["gone"])],
            "1",
            &["web"],
            0,
        ),
        (
            "budget in another namespace",
            vec![pdb("other", app_is("db"), Some(0), &[])],
            "1",
            &["db"],
            0,
        ),
        (
            "empty selector",
            vec![pdb("default", json!({}), Some(0), &[])],
            "1",
            &["db"],
            0,
        ),
        (
            "nil selector",
            vec![pdb("default", Value::Null, Some(0), &[])],
            "1",
            &["db"],
            0,
        ),
        (
            "invalid selector",
            vec![pdb(
                "default",
                json!({"matchExpressions": [{"key": "app",
                "operator": "Near"}]}),
                Some(0),
                &[],
            )],
            "1",
            &["db"],
            0,
        ),
        (
            "match expressions",
            vec![pdb("default", in_db, Some(0), &[])],
            "1",
            &["web"],
            0,
        ),
        (
            "both protected: the less important goes, violating",
            vec![pdb("default", exists.clone(), Some(0), &[])],
            "1",
            &["db"],
            1,
        ),
        (
            "one allowed of both: web uses it, db violates and is reprieved",
            vec![pdb("default", exists, Some(1), &[])],
            "1",
            &["web"],
            0,
        ),
        (
            "both must go: the protected one still goes",
            vec![pdb("default", app_is("db"), Some(0), &[])],
            "2",
            &["web", "db"],
            1,
        ),
    ];
    for (name, pdbs, cpu, victims, violations) in cases {
        let incoming = prio_pod("p", 10, cpu);
        let got = preempted_with_violations(run_with(&incoming, &snap, &pdbs));
        let want: Vec<String> = victims.iter().map(|v| v.to_string()).collect();
        assert_eq!(got, ("n1".into(), want, violations), "{name}");
    }
}

#[test]
fn nodes_violating_fewer_pdbs_win() {
    // Without budgets n1 wins (its victim has the lower priority).
    let snap = snapshot(vec![
        with_pods(
            cpu_node("n1", "1", json!({})),
            &[app_pod("default", "db", "db", 1, "1")],
        ),
        with_pods(
            cpu_node("n2", "1", json!({})),
            &[app_pod("default", "web", "web", 5, "1")],
        ),
    ]);
    // (name, budgets, chosen node)
    let cases: Vec<(&str, Pdbs, &str)> = vec![
        ("no budget", vec![], "n1"),
        (
            "db protected",
            vec![pdb("default", app_is("db"), Some(0), &[])],
            "n2",
        ),
        (
            "db protected, already disrupted",
            vec![pdb("default", app_is("db"), Some(0), &["db"])],
            "n1",
        ),
        (
            "budget in another namespace",
            vec![pdb("kube-system", app_is("db"), Some(0), &[])],
            "n1",
        ),
        (
            "empty selector",
            vec![pdb("default", json!({}), Some(0), &[])],
            "n1",
        ),
        (
            "both protected: back to priorities",
            vec![
                pdb("default", app_is("db"), Some(0), &[]),
                pdb("default", app_is("web"), Some(0), &[]),
            ],
            "n1",
        ),
    ];
    let incoming = prio_pod("p", 10, "1");
    for (name, pdbs, want) in cases {
        let (node, _, _) = preempted_with_violations(run_with(&incoming, &snap, &pdbs));
        assert_eq!(node, want, "{name}");
    }
}

#[test]
fn split_by_pdb_violation_uses_budgets_in_order() {
    let names = |pods: &[Arc<PodInfo>]| -> Vec<String> {
        pods.iter()
            .map(|p| p.pod.metadata.name.clone().unwrap_or_default())
            .collect()
    };
    let not_x = json!({"matchExpressions": [{"key": "app", "operator": "NotIn",
        "values": ["x"]}]});
    // (name, budgets, pods in importance order, violating pods)
    let cases: Vec<(&str, Pdbs, Pods, &[&str])> = vec![
        (
            "the allowance goes to the first pods",
            vec![pdb("default", app_is("db"), Some(1), &[])],
            vec![
                app_pod("default", "db-0", "db", 1, "1"),
                app_pod("default", "db-1", "db", 1, "1"),
                app_pod("default", "db-2", "db", 1, "1"),
            ],
            &["db-1", "db-2"],
        ),
        (
            "disrupted pods use none of it",
            vec![pdb("default", app_is("db"), Some(1), &["db-0"])],
            vec![
                app_pod("default", "db-0", "db", 1, "1"),
                app_pod("default", "db-1", "db", 1, "1"),
                app_pod("default", "db-2", "db", 1, "1"),
            ],
            &["db-2"],
        ),
        (
            "any exhausted budget violates",
            vec![
                pdb("default", app_is("db"), Some(5), &[]),
                pdb("default", not_x.clone(), Some(0), &[]),
            ],
            vec![app_pod("default", "db-0", "db", 1, "1")],
            &["db-0"],
        ),
        (
            "unlabelled pods match no budget",
            vec![pdb("default", not_x, Some(0), &[])],
            vec![app_pod("default", "bare", "", 1, "1")],
            &[],
        ),
        (
            "only the pod's namespace counts",
            vec![pdb("a", app_is("db"), Some(0), &[])],
            vec![
                app_pod("a", "db-a", "db", 1, "1"),
                app_pod("b", "db-b", "db", 1, "1"),
            ],
            &["db-a"],
        ),
    ];
    for (name, pdbs, pods, want) in cases {
        let budgets = parse_budgets(&pdbs);
        let all = names(&pods);
        let (violating, non_violating) = split_by_pdb_violation(pods, &budgets);
        assert_eq!(names(&violating), *want, "{name}");
        let rest: Vec<String> = all
            .into_iter()
            .filter(|n| !want.contains(&n.as_str()))
            .collect();
        assert_eq!(names(&non_violating), rest, "{name}");
    }
}

#[test]
fn fewest_pdb_violations_comes_first() {
    let cand = |prio: i32, violations: usize| Candidate {
        node: "n".into(),
        victims: vec![prio_pod("v", prio, "1")],
        num_pdb_violations: violations,
    };
    assert_eq!(pick_one_node(&[cand(1, 1), cand(5, 0)]), 1);
    assert_eq!(pick_one_node(&[cand(1, 2), cand(5, 1), cand(9, 3)]), 1);
    assert_eq!(pick_one_node(&[cand(5, 1), cand(1, 1)]), 1);
}

#[test]
fn dry_run_continues_until_a_candidate_violates_no_pdb() {
    // 101 potential nodes want 100 candidates: the first 100 all violate the budget, so the
    // dry run goes on (as upstream) and finds n100, whose victim violates none.
    let mut nodes: Vec<NodeInfo> = (0..100)
        .map(|i| {
            let victim = app_pod("default", &format!("db-{i}"), "db", 1, "1");
            with_pods(cpu_node(&format!("n{i:03}"), "1", json!({})), &[victim])
        })
        .collect();
    nodes.push(with_pods(
        cpu_node("n100", "1", json!({})),
        &[app_pod("default", "web", "web", 5, "1")],
    ));
    let snap = snapshot(nodes);
    let pdbs = [pdb("default", app_is("db"), Some(0), &[])];
    let incoming = prio_pod("p", 10, "1");
    assert_eq!(
        preempted_with_violations(run_with(&incoming, &snap, &pdbs)),
        ("n100".into(), vec!["web".into()], 0)
    );
}
