use super::*;
use crate::plugins::testutil::{
    labeled_node, node, pod, reason, run_filter, run_score, run_score_on, snapshot, with_pods,
};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{Pod, Service};
use serde_json::{Value, json};

const NOT_MATCH: &str = ERR_REASON_CONSTRAINTS_NOT_MATCH;
const MISSING: &str = ERR_REASON_NODE_LABEL_NOT_MATCH;

fn constraint(key: &str, skew: i32, when: &str, extra: Value) -> Value {
    let mut c = json!({"maxSkew": skew, "topologyKey": key, "whenUnsatisfiable": when,
        "labelSelector": {"matchLabels": {"foo": "bar"}}});
    if let (Some(c), Some(extra)) = (c.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            c.insert(k.clone(), v.clone());
        }
    }
    c
}

fn spread_pod(labels: Value, constraints: Vec<Value>, extra_spec: Value) -> Arc<PodInfo> {
    let mut spec = json!({"containers": [], "topologySpreadConstraints": constraints});
    if let (Some(s), Some(extra)) = (spec.as_object_mut(), extra_spec.as_object()) {
        for (k, v) in extra {
            s.insert(k.clone(), v.clone());
        }
    }
    pod(json!({"metadata": {"name": "incoming", "labels": labels}, "spec": spec}))
}

fn foo_pods(prefix: &str, n: usize) -> Vec<Arc<PodInfo>> {
    (0..n)
        .map(|i| {
            pod(json!({"metadata": {"name": format!("{prefix}{i}"), "labels": {"foo": "bar"}}}))
        })
        .collect()
}

/// Nodes (name, zone or "" for none, matching pods).
fn zone_snapshot(spec: &[(&str, &str, usize)]) -> crate::framework::Snapshot {
    snapshot(
        spec.iter()
            .map(|(name, zone, n)| {
                let labels = if zone.is_empty() {
                    json!({"kubernetes.io/hostname": name})
                } else {
                    json!({"zone": zone, "kubernetes.io/hostname": name})
                };
                with_pods(labeled_node(name, labels), &foo_pods(name, *n))
            })
            .collect(),
    )
}

fn filter_reasons(p: &PodInfo, snap: &crate::framework::Snapshot) -> Vec<String> {
    run_filter(&PodTopologySpread, p, snap)
        .unwrap()
        .iter()
        .map(reason)
        .collect()
}

#[test]
fn skew_by_zone() {
    let snap = zone_snapshot(&[
        ("n1", "a", 2),
        ("n2", "a", 1),
        ("n3", "b", 0),
        ("n4", "b", 0),
    ]);
    let p = spread_pod(
        json!({"foo": "bar"}),
        vec![constraint("zone", 1, "DoNotSchedule", json!({}))],
        json!({}),
    );
    assert_eq!(
        filter_reasons(&p, &snap),
        vec![NOT_MATCH, NOT_MATCH, "", ""]
    );
    // maxSkew 4 tolerates zone a: 3 + 1 - 0 = 4
    let p = spread_pod(
        json!({"foo": "bar"}),
        vec![constraint("zone", 4, "DoNotSchedule", json!({}))],
        json!({}),
    );
    assert_eq!(filter_reasons(&p, &snap), vec!["", "", "", ""]);
    // a pod not matching its own selector doesn't add itself: 3 - 0 = 3 > 2
    let p = spread_pod(
        json!({}),
        vec![constraint("zone", 2, "DoNotSchedule", json!({}))],
        json!({}),
    );
    assert_eq!(
        filter_reasons(&p, &snap),
        vec![NOT_MATCH, NOT_MATCH, "", ""]
    );
    let p = spread_pod(
        json!({}),
        vec![constraint("zone", 3, "DoNotSchedule", json!({}))],
        json!({}),
    );
    assert_eq!(filter_reasons(&p, &snap), vec!["", "", "", ""]);
}

#[test]
fn missing_label_and_status_codes() {
    let snap = zone_snapshot(&[("n1", "a", 0), ("n2", "", 0)]);
    let p = spread_pod(
        json!({"foo": "bar"}),
        vec![constraint("zone", 1, "DoNotSchedule", json!({}))],
        json!({}),
    );
    let st = run_filter(&PodTopologySpread, &p, &snap).unwrap();
    assert!(st[0].is_success());
    assert_eq!(st[1].code, Code::UnschedulableAndUnresolvable);
    assert_eq!(reason(&st[1]), MISSING);
    let snap = zone_snapshot(&[("n1", "a", 2), ("n2", "b", 0)]);
    let st = run_filter(&PodTopologySpread, &p, &snap).unwrap();
    assert_eq!(st[0].code, Code::Unschedulable);
}

#[test]
fn hostname_and_two_constraints() {
    let snap = zone_snapshot(&[
        ("n1", "a", 1),
        ("n2", "a", 0),
        ("n3", "b", 1),
        ("n4", "b", 1),
    ]);
    let p = spread_pod(
        json!({"foo": "bar"}),
        vec![
            constraint("zone", 1, "DoNotSchedule", json!({})),
            constraint("kubernetes.io/hostname", 1, "DoNotSchedule", json!({})),
        ],
        json!({}),
    );
    // zone: a=1, b=2 -> zone b fails (2+1-1=2); host: min 0 -> n1 1+1-0=2 fails
    assert_eq!(
        filter_reasons(&p, &snap),
        vec![NOT_MATCH, "", NOT_MATCH, NOT_MATCH]
    );
}

#[test]
fn min_domains() {
    let snap = zone_snapshot(&[("n1", "a", 1), ("n2", "b", 1)]);
    let with = |m: Value| {
        spread_pod(
            json!({"foo": "bar"}),
            vec![constraint("zone", 1, "DoNotSchedule", m)],
            json!({}),
        )
    };
    assert_eq!(filter_reasons(&with(json!({})), &snap), vec!["", ""]);
    assert_eq!(
        filter_reasons(&with(json!({"minDomains": 2})), &snap),
        vec!["", ""]
    );
    // fewer domains than minDomains: the global minimum counts as 0
    assert_eq!(
        filter_reasons(&with(json!({"minDomains": 3})), &snap),
        vec![NOT_MATCH, NOT_MATCH]
    );
}

#[test]
fn node_inclusion_policies() {
    let snap = zone_snapshot(&[("n1", "a", 1), ("n2", "b", 0)]);
    let selector = json!({"nodeSelector": {"zone": "a"}});
    let with = |extra: Value| {
        spread_pod(
            json!({"foo": "bar"}),
            vec![constraint("zone", 1, "DoNotSchedule", extra)],
            selector.clone(),
        )
    };
    // Honor (default): zone b is outside the pod's node selector -> only domain a (min 1)
    assert_eq!(filter_reasons(&with(json!({})), &snap), vec!["", ""]);
    // Ignore: zone b counts with 0 -> a: 1 + 1 - 0 = 2
    assert_eq!(
        filter_reasons(&with(json!({"nodeAffinityPolicy": "Ignore"})), &snap),
        vec![NOT_MATCH, ""]
    );

    let tainted = snapshot(vec![
        with_pods(labeled_node("n1", json!({"zone": "a"})), &foo_pods("x", 1)),
        node(json!({"metadata": {"name": "n2", "labels": {"zone": "b"}},
            "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}})),
    ]);
    let with = |extra: Value| {
        spread_pod(
            json!({"foo": "bar"}),
            vec![constraint("zone", 1, "DoNotSchedule", extra)],
            json!({}),
        )
    };
    // Ignore (default): the tainted zone counts with 0
    assert_eq!(
        filter_reasons(&with(json!({})), &tainted),
        vec![NOT_MATCH, ""]
    );
    assert_eq!(
        filter_reasons(&with(json!({"nodeTaintsPolicy": "Honor"})), &tainted),
        vec!["", ""]
    );
}

#[test]
fn match_label_keys_namespaces_and_terminating() {
    let v = |name: &str, version: &str| {
        pod(json!({"metadata": {"name": name, "labels": {"foo": "bar", "version": version}}}))
    };
    let other_ns =
        pod(json!({"metadata": {"name": "o", "namespace": "other", "labels": {"foo": "bar"}}}));
    let terminating = pod(json!({"metadata": {"name": "t", "labels": {"foo": "bar"},
        "deletionTimestamp": "2024-01-01T00:00:00Z"}}));
    let snap = snapshot(vec![
        with_pods(
            labeled_node("n1", json!({"zone": "a"})),
            &[v("a1", "1"), v("a2", "1"), other_ns, terminating],
        ),
        with_pods(labeled_node("n2", json!({"zone": "b"})), &[v("b1", "2")]),
    ]);
    let incoming = |keys: Value| {
        spread_pod(
            json!({"foo": "bar", "version": "2"}),
            vec![constraint(
                "zone",
                1,
                "DoNotSchedule",
                json!({"matchLabelKeys": keys}),
            )],
            json!({}),
        )
    };
    // all versions: a=2, b=1 -> b: 1+1-1 = 1 ok; a: 2+1-1 = 2 fails
    assert_eq!(
        filter_reasons(&incoming(json!([])), &snap),
        vec![NOT_MATCH, ""]
    );
    // only version=2 pods: a=0, b=1 -> b: 1+1-0 = 2 fails
    assert_eq!(
        filter_reasons(&incoming(json!(["version"])), &snap),
        vec!["", NOT_MATCH]
    );
    // a key the pod doesn't have is ignored
    assert_eq!(
        filter_reasons(&incoming(json!(["missing"])), &snap),
        vec![NOT_MATCH, ""]
    );
}

#[test]
fn no_constraints_skip() {
    let snap = zone_snapshot(&[("n1", "a", 1)]);
    let p = spread_pod(
        json!({}),
        vec![constraint("zone", 1, "ScheduleAnyway", json!({}))],
        json!({}),
    );
    let mut st = CycleState::new();
    assert!(PodTopologySpread.pre_filter(&mut st, &p, &snap).is_skip());
    let plain = pod(json!({"metadata": {"name": "p"}}));
    assert!(
        PodTopologySpread
            .pre_filter(&mut st, &plain, &snap)
            .is_skip()
    );
    assert!(
        PodTopologySpread
            .pre_score(&mut st, &plain, &snap, &snap.nodes)
            .is_skip()
    );
}

#[test]
fn score_hostname() {
    let snap = zone_snapshot(&[
        ("n1", "a", 2),
        ("n2", "a", 1),
        ("n3", "b", 0),
        ("n4", "b", 0),
    ]);
    let p = spread_pod(
        json!({"foo": "bar"}),
        vec![constraint(
            "kubernetes.io/hostname",
            1,
            "ScheduleAnyway",
            json!({}),
        )],
        json!({}),
    );
    // weight ln(6) = 1.79: raw round(3.58) = 4, round(1.79) = 2, 0, 0 -> 100 * (4 - s) / 4
    assert_eq!(
        run_score(&PodTopologySpread, &p, &snap),
        vec![0, 50, 100, 100]
    );
}

#[test]
fn score_zone_with_ignored_node() {
    let snap = zone_snapshot(&[
        ("n1", "a", 2),
        ("n2", "a", 1),
        ("n3", "b", 0),
        ("n4", "", 5),
    ]);
    let p = spread_pod(
        json!({"foo": "bar"}),
        vec![constraint("zone", 1, "ScheduleAnyway", json!({}))],
        json!({}),
    );
    // 2 domains: weight ln(4) = 1.386; zone a: round(3 * 1.386) = 4; b: 0; n4 ignored
    assert_eq!(run_score(&PodTopologySpread, &p, &snap), vec![0, 0, 100, 0]);
}

#[test]
fn score_max_skew_and_feasible_subset() {
    let snap = zone_snapshot(&[("n1", "a", 1), ("n2", "b", 0), ("n3", "c", 4)]);
    let p = spread_pod(
        json!({"foo": "bar"}),
        vec![constraint("zone", 2, "ScheduleAnyway", json!({}))],
        json!({}),
    );
    // only n1 and n2 feasible: domains a, b -> weight ln(4); a: 1.386 + 1 = 2.39 -> 2; b: 1
    // -> 100 * (2 + 1 - s) / 2
    let feasible = vec![snap.nodes[0].clone(), snap.nodes[1].clone()];
    assert_eq!(
        run_score_on(&PodTopologySpread, &p, &snap, &feasible),
        vec![50, 100]
    );
    // all zero: everyone gets 100
    let snap = zone_snapshot(&[("n1", "a", 0), ("n2", "b", 0)]);
    let p = spread_pod(
        json!({"foo": "bar"}),
        vec![constraint("zone", 1, "ScheduleAnyway", json!({}))],
        json!({}),
    );
    assert_eq!(run_score(&PodTopologySpread, &p, &snap), vec![100, 100]);
}

#[test]
fn default_selector_from_services_and_owner() {
    let p: Pod = serde_json::from_value(json!({"metadata": {"name": "web-abc-1", "namespace": "default",
        "labels": {"app": "web", "pod-template-hash": "abc"},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-abc", "uid": "u", "controller": true}]}}))
    .unwrap();
    let svc = |ns: &str, sel: Value| -> Service {
        serde_json::from_value(
            json!({"metadata": {"name": "s", "namespace": ns}, "spec": {"selector": sel}}),
        )
        .unwrap()
    };
    let services = vec![
        svc("default", json!({"app": "web"})),
        svc("other", json!({"tier": "x"})),
        svc("default", json!(null)),
        svc("default", json!({"app": "db"})),
    ];
    let rs: ReplicaSet = serde_json::from_value(
        json!({"metadata": {"name": "web-abc", "namespace": "default"},
        "spec": {"selector": {"matchLabels": {"app": "web", "pod-template-hash": "abc"}}}}),
    )
    .unwrap();
    let sel = default_spread_selector(&p, &services, &[], &[rs], &[]).unwrap();
    let l = |v: Value| -> Labels { serde_json::from_value(v).unwrap() };
    assert!(sel.matches(&l(json!({"app": "web", "pod-template-hash": "abc"}))));
    assert!(!sel.matches(&l(json!({"app": "web"}))));
    assert!(!sel.matches(&l(json!({"pod-template-hash": "abc", "tier": "x"}))));
    // services only
    let sel = default_spread_selector(&p, &services, &[], &[], &[]).unwrap();
    assert!(sel.matches(&l(json!({"app": "web"}))));
    // nothing selects the pod
    assert!(default_spread_selector(&p, &[], &[], &[], &[]).is_none());
}

#[test]
fn system_default_spreading() {
    let zone = "topology.kubernetes.io/zone";
    let snap = snapshot(vec![
        with_pods(
            labeled_node("n1", json!({zone: "a", "kubernetes.io/hostname": "n1"})),
            &foo_pods("n1", 2),
        ),
        labeled_node("n2", json!({zone: "a", "kubernetes.io/hostname": "n2"})),
        with_pods(
            labeled_node("n3", json!({"kubernetes.io/hostname": "n3"})),
            &foo_pods("n3", 1),
        ),
    ]);
    let mut incoming = (*pod(json!({"metadata": {"name": "p", "labels": {"foo": "bar"}}}))).clone();
    // without a default selector: nothing to do
    let mut st = CycleState::new();
    assert!(
        PodTopologySpread
            .pre_score(&mut st, &incoming, &snap, &snap.nodes)
            .is_skip()
    );
    incoming.default_spread_selector = Some(Selector::from_map(
        &[("foo".to_string(), "bar".to_string())]
            .into_iter()
            .collect(),
    ));
    // hostname (maxSkew 3, weight ln 5) + zone (maxSkew 5, domains "a" and "" -> weight ln 4):
    // n1 2*1.609+2 + 2*1.386+4 = 12; n2 2 + 6.77 = 9; n3 (no zone) 1.609+2 = 4
    // -> 100 * (12 + 4 - s) / 12
    assert_eq!(
        run_score(&PodTopologySpread, &incoming, &snap),
        vec![33, 58, 100]
    );
    // no DoNotSchedule defaults: the filter has nothing to do
    assert!(
        PodTopologySpread
            .pre_filter(&mut st, &incoming, &snap)
            .is_skip()
    );
}

#[test]
fn memoized_counts_follow_the_nodes_pods() {
    let selector = Selector::from_map(&[("foo".to_owned(), "bar".to_owned())].into());
    let mut node = labeled_node("n1", json!({}));
    let pods = foo_pods("p", 3);
    node.add_pod(pods[0].clone());
    assert_eq!(count_matching(0, &node, &selector, "default"), 1);
    // Asked again unchanged: the same answer (from the memo).
    assert_eq!(count_matching(0, &node, &selector, "default"), 1);
    node.add_pod(pods[1].clone());
    assert_eq!(count_matching(0, &node, &selector, "default"), 2);
    node.remove_pod(pods[0].uid());
    assert_eq!(count_matching(0, &node, &selector, "default"), 1);
    // Another namespace is another memo entry.
    assert_eq!(count_matching(0, &node, &selector, "other"), 0);
    // A node of the same name built afresh (e.g. after a node update) is counted again.
    let fresh = with_pods(labeled_node("n1", json!({})), &pods);
    assert_eq!(count_matching(0, &fresh, &selector, "default"), 3);
    // Another node at the same position (nodes added or removed) is counted on its own.
    let other = with_pods(labeled_node("n2", json!({})), &pods[..1]);
    assert_eq!(count_matching(0, &other, &selector, "default"), 1);
    // A position beyond those seen so far.
    assert_eq!(count_matching(7, &fresh, &selector, "default"), 3);
}

/// (domain, matching pods) pairs, sorted, without empty domains.
type Totals = Vec<(String, i64)>;

/// The memo's domain totals against a count over every node.
fn totals_now(
    memo: &mut NodeCounts,
    nodes: &[Arc<NodeInfo>],
    selector: &Selector,
) -> (Totals, Totals) {
    let generations: Vec<u64> = nodes.iter().map(|n| n.generation).collect();
    let mut kept: Totals = memo
        .domain_totals("zone", nodes, &generations, selector, "default")
        .filter(|(_, n)| *n != 0)
        .map(|(v, n)| (v.to_owned(), n))
        .collect();
    kept.sort();
    let mut now: HashMap<String, i64> = HashMap::new();
    for node in nodes {
        let value = node.labels().get("zone").cloned().unwrap_or_default();
        *now.entry(value).or_default() += count_now(node, selector, "default");
    }
    let mut now: Totals = now.into_iter().filter(|(_, n)| *n != 0).collect();
    now.sort();
    (kept, now)
}

#[test]
fn domain_totals_follow_changed_added_and_removed_nodes() {
    let selector = Selector::from_map(&[("foo".to_owned(), "bar".to_owned())].into());
    let snap = zone_snapshot(&[
        ("n1", "a", 2),
        ("n2", "a", 1),
        ("n3", "b", 3),
        ("n4", "", 1),
    ]);
    let mut nodes: Vec<Arc<NodeInfo>> = snap.nodes.iter().cloned().collect();
    let mut memo = NodeCounts::default();
    let (kept, now) = totals_now(&mut memo, &nodes, &selector);
    assert_eq!(kept, [("".into(), 1), ("a".into(), 3), ("b".into(), 3)]);
    assert_eq!(kept, now);
    // A node gains a pod (a new generation).
    let mut changed = (*nodes[2]).clone();
    changed.add_pod(foo_pods("x", 1)[0].clone());
    nodes[2] = Arc::new(changed);
    let (kept, now) = totals_now(&mut memo, &nodes, &selector);
    assert_eq!(kept, now);
    assert!(kept.contains(&("b".into(), 4)), "{kept:?}");
    // A node is removed: the last one takes its position, and the list is shorter.
    nodes.swap_remove(0);
    let (kept, now) = totals_now(&mut memo, &nodes, &selector);
    assert_eq!(kept, now);
    assert!(kept.contains(&("a".into(), 1)), "{kept:?}");
    // A node moves to another zone (a node built afresh).
    nodes[0] = with_pods(labeled_node("n4", json!({"zone": "c"})), &foo_pods("n4", 1)).into();
    let (kept, now) = totals_now(&mut memo, &nodes, &selector);
    assert_eq!(kept, now);
    assert!(kept.contains(&("c".into(), 1)), "{kept:?}");
}

#[test]
fn topology_values_kept_on_the_node_are_its_labels() {
    let node = labeled_node(
        "n1",
        json!({"kubernetes.io/hostname": "n1", "topology.kubernetes.io/zone": "z", "rack": "r1"}),
    );
    let bare = labeled_node("n2", json!({}));
    for (key, want) in [
        (HOSTNAME_LABEL, Some("n1")),
        (ZONE_LABEL, Some("z")),
        ("rack", Some("r1")),
        ("row", None),
    ] {
        let c = Constraint {
            max_skew: 1,
            topology_key: key.into(),
            key: Key::of(key),
            selector: Selector::from_map(&Default::default()),
            min_domains: 1,
            honor_node_affinity: true,
            honor_node_taints: false,
        };
        assert_eq!(value(&node, &c), want, "{key}");
        assert_eq!(value(&bare, &c), None, "{key}");
    }
}

#[test]
fn counting_skips_nodes_without_the_required_label_and_follows_removals() {
    let labelled = |name: &str, ns: &str, labels: Value| {
        pod(json!({"metadata": {"name": name, "namespace": ns, "labels": labels}}))
    };
    let mut n = node(json!({"metadata": {"name": "n"}}));
    n.add_pod(labelled("a", "ns1", json!({"foo": "bar", "tier": "web"})));
    n.add_pod(labelled("b", "ns2", json!({"foo": "bar"})));
    n.add_pod(labelled("c", "ns1", json!({"foo": "baz"})));
    let selector = |v: Value| {
        Selector::from_label_selector(Some(&serde_json::from_value(v).unwrap())).unwrap()
    };
    let foo_bar = selector(json!({"matchLabels": {"foo": "bar"}}));
    assert_eq!(required_label(&foo_bar), Some(("foo", "bar")));
    assert_eq!(count_now(&n, &foo_bar, "ns1"), 1);
    assert_eq!(count_now(&n, &foo_bar, "ns2"), 1);
    assert_eq!(count_now(&n, &foo_bar, "ns3"), 0);
    assert_eq!(
        count_now(&n, &selector(json!({"matchLabels": {"foo": "qux"}})), "ns1"),
        0
    );
    // Several values, or none required: every pod is looked at.
    let any_foo = selector(json!({"matchExpressions": [
        {"key": "foo", "operator": "In", "values": ["bar", "baz"]}]}));
    assert_eq!(required_label(&any_foo), None);
    assert_eq!(count_now(&n, &any_foo, "ns1"), 2);
    let web_bar = selector(json!({"matchLabels": {"foo": "bar", "tier": "web"}}));
    assert_eq!(count_now(&n, &web_bar, "ns1"), 1);
    assert!(n.remove_pod("a"));
    assert!(!n.may_have_pod_labelled("ns1", "foo", "bar"));
    assert!(n.may_have_pod_labelled("ns2", "foo", "bar"));
    assert_eq!(count_now(&n, &foo_bar, "ns1"), 0);
    n.add_pod(labelled("a", "ns1", json!({"foo": "bar"})));
    assert_eq!(count_now(&n, &foo_bar, "ns1"), 1);
}
