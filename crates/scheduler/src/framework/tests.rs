use super::*;
use crate::plugins::testutil::{node, pod, snapshot, with_pods};
use serde_json::json;

fn st(code: Code, reasons: &[&str]) -> Status {
    Status::with_reasons(code, reasons.iter().map(|s| s.to_string()).collect())
}

#[test]
fn message_counts_and_sorts() {
    let taint = "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }";
    let statuses = vec![
        (
            "cp1".to_string(),
            st(Code::UnschedulableAndUnresolvable, &[taint]),
        ),
        (
            "w1".to_string(),
            st(Code::Unschedulable, &["Insufficient cpu"]),
        ),
        (
            "cp2".to_string(),
            st(Code::UnschedulableAndUnresolvable, &[taint]),
        ),
    ];
    assert_eq!(
        unschedulable_message(
            3,
            &statuses,
            "preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling."
        ),
        "0/3 nodes are available: 1 Insufficient cpu, 2 node(s) had untolerated taint \
         {node-role.kubernetes.io/control-plane: }. preemption: 0/3 nodes are available: 3 \
         Preemption is not helpful for scheduling.."
    );
    // every reason of a node counts; sorting is on the "<count> <reason>" strings
    let statuses = vec![
        (
            "a".to_string(),
            st(
                Code::Unschedulable,
                &["Insufficient memory", "Insufficient cpu"],
            ),
        ),
        (
            "b".to_string(),
            st(Code::Unschedulable, &["Insufficient cpu"]),
        ),
        (
            "c".to_string(),
            st(
                Code::UnschedulableAndUnresolvable,
                &["node(s) didn't match Pod's node affinity/selector"],
            ),
        ),
        (
            "d".to_string(),
            st(
                Code::UnschedulableAndUnresolvable,
                &["node(s) didn't match Pod's node affinity/selector"],
            ),
        ),
        (
            "e".to_string(),
            st(
                Code::UnschedulableAndUnresolvable,
                &["node(s) didn't match Pod's node affinity/selector"],
            ),
        ),
        (
            "f".to_string(),
            st(
                Code::UnschedulableAndUnresolvable,
                &["node(s) didn't match Pod's node affinity/selector"],
            ),
        ),
        (
            "g".to_string(),
            st(
                Code::UnschedulableAndUnresolvable,
                &["node(s) didn't match Pod's node affinity/selector"],
            ),
        ),
        (
            "h".to_string(),
            st(
                Code::UnschedulableAndUnresolvable,
                &["node(s) didn't match Pod's node affinity/selector"],
            ),
        ),
        (
            "i".to_string(),
            st(
                Code::UnschedulableAndUnresolvable,
                &["node(s) didn't match Pod's node affinity/selector"],
            ),
        ),
        (
            "j".to_string(),
            st(
                Code::UnschedulableAndUnresolvable,
                &["node(s) didn't match Pod's node affinity/selector"],
            ),
        ),
        (
            "k".to_string(),
            st(
                Code::UnschedulableAndUnresolvable,
                &["node(s) didn't match Pod's node affinity/selector"],
            ),
        ),
        (
            "l".to_string(),
            st(
                Code::UnschedulableAndUnresolvable,
                &["node(s) didn't match Pod's node affinity/selector"],
            ),
        ),
    ];
    assert_eq!(
        unschedulable_message(12, &statuses, ""),
        "0/12 nodes are available: 1 Insufficient memory, 10 node(s) didn't match Pod's node \
         affinity/selector, 2 Insufficient cpu."
    );
    assert_eq!(
        unschedulable_message(0, &[], ""),
        "0/0 nodes are available:"
    );
    let pre = Status::new(
        Code::UnschedulableAndUnresolvable,
        "pod affinity terms conflict",
    );
    assert_eq!(
        pre_filter_unschedulable_message(3, &pre, ""),
        "0/3 nodes are available: pod affinity terms conflict."
    );
}

#[test]
fn default_profile_plugins_and_weights() {
    let p = Profile::default_profile();
    assert_eq!(p.scheduler_name, "default-scheduler");
    assert_eq!(
        p.filter_names(),
        vec![
            "NodeUnschedulable",
            "NodeName",
            "TaintToleration",
            "NodeAffinity",
            "NodePorts",
            "NodeResourcesFit",
            "PodTopologySpread",
            "InterPodAffinity",
        ]
    );
    assert_eq!(
        p.pre_filter_names(),
        vec![
            "NodeAffinity",
            "NodePorts",
            "NodeResourcesFit",
            "PodTopologySpread",
            "InterPodAffinity"
        ]
    );
    assert_eq!(
        p.pre_score_names(),
        vec![
            "TaintToleration",
            "NodeAffinity",
            "NodeResourcesFit",
            "PodTopologySpread",
            "InterPodAffinity",
            "NodeResourcesBalancedAllocation",
        ]
    );
    let weights: Vec<(&str, i64)> = p
        .score_weights()
        .iter()
        .map(|w| (w.name, w.weight))
        .collect();
    assert_eq!(
        weights,
        vec![
            ("TaintToleration", 3),
            ("NodeAffinity", 2),
            ("NodeResourcesFit", 1),
            ("PodTopologySpread", 2),
            ("InterPodAffinity", 2),
            ("NodeResourcesBalancedAllocation", 1),
            ("ImageLocality", 1),
        ]
    );
}

fn cluster() -> Snapshot {
    let n = |name: &str, cpu: &str, extra: serde_json::Value| {
        let mut v = json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"allocatable": {"cpu": cpu, "memory": "8Gi", "pods": "110"}}});
        if let Some(spec) = extra.as_object() {
            v["spec"] = json!(spec);
        }
        node(v)
    };
    snapshot(vec![
        n(
            "cp",
            "4",
            json!({"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}),
        ),
        n("small", "1", json!({})),
        n("big", "8", json!({})),
    ])
}

#[test]
fn first_failing_filter_wins_and_message() {
    let snap = cluster();
    let profile = Profile::default_profile();
    let p = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "resources": {"requests": {"cpu": "2"}}}]}}));
    let mut state = CycleState::new();
    assert!(profile.run_pre_filters(&mut state, &p, &snap).is_success());
    let FilterOutcome { feasible, failed } = profile.filter_all(&state, &p, &snap).unwrap();
    assert_eq!(
        feasible.iter().map(|n| n.name()).collect::<Vec<_>>(),
        vec!["big"]
    );
    assert_eq!(failed[0].1.plugin, "TaintToleration");
    assert_eq!(failed[1].1.plugin, "NodeResourcesFit");

    let huge = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "resources": {"requests": {"cpu": "100"}}}]}}));
    let mut state = CycleState::new();
    assert!(
        profile
            .run_pre_filters(&mut state, &huge, &snap)
            .is_success()
    );
    let FilterOutcome { feasible, failed } = profile.filter_all(&state, &huge, &snap).unwrap();
    assert!(feasible.is_empty());
    assert_eq!(
        unschedulable_message(
            snap.len(),
            &failed,
            "preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod."
        ),
        "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, \
         2 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not helpful for \
         scheduling, 2 No preemption victims found for incoming pod.."
    );
}

#[test]
fn weighted_scores() {
    let snap = cluster();
    let profile = Profile::default_profile();
    let p = pod(json!({"metadata": {"name": "p"}, "spec": {"containers": [
        {"name": "c", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}]}}));
    let mut state = CycleState::new();
    assert!(profile.run_pre_filters(&mut state, &p, &snap).is_success());
    let feasible = profile.filter_all(&state, &p, &snap).unwrap().feasible;
    assert!(
        profile
            .run_pre_scores(&mut state, &p, &snap, &feasible)
            .is_success()
    );
    // skipped: NodeAffinity (no preferred terms), PodTopologySpread, InterPodAffinity
    let mut skipped: Vec<&str> = state.skip_score_plugins.iter().copied().collect();
    skipped.sort_unstable();
    assert_eq!(
        skipped,
        vec!["InterPodAffinity", "NodeAffinity", "PodTopologySpread"]
    );
    let breakdown = profile.score_breakdown(&state, &p, &feasible);
    let names: Vec<&str> = breakdown.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        vec![
            "TaintToleration",
            "NodeResourcesFit",
            "NodeResourcesBalancedAllocation",
            "ImageLocality"
        ]
    );
    // small: fit cpu (1000-500)*100/1000 = 50, mem (8Gi-1Gi)/8Gi = 87 -> 68;
    //   balanced 0.5 vs 0.125 -> 100 - 18.75 = 81
    // big: cpu (8000-500)*100/8000 = 93, mem 87 -> 90; balanced 0.0625 vs 0.125 -> 96
    // taint: 100 * 3 each; image locality 0
    assert_eq!(
        profile.score_nodes(&state, &p, &feasible),
        vec![300 + 68 + 81, 300 + 90 + 96]
    );
}

#[test]
fn pods_on_nodes_are_accounted() {
    let mut n = node(
        json!({"metadata": {"name": "n"}, "status": {"allocatable": {"cpu": "2", "memory": "1Gi", "pods": "2"}}}),
    );
    let a = pod(json!({"metadata": {"name": "a"}, "spec": {"containers": [
        {"name": "c", "resources": {"requests": {"cpu": "1"}}}]}}));
    n.add_pod(a.clone());
    assert_eq!(n.requested.milli_cpu, 1000);
    assert_eq!(
        n.non_zero_requested.memory,
        crate::resources::DEFAULT_MEMORY_REQUEST
    );
    let n = with_pods(
        n,
        &[pod(
            json!({"metadata": {"name": "b"}, "spec": {"containers": [{"name": "c"}]}}),
        )],
    );
    assert_eq!(n.pods.len(), 2);
    let snap = snapshot(vec![n]);
    let profile = Profile::default_profile();
    let p = pod(json!({"metadata": {"name": "p"}}));
    let mut state = CycleState::new();
    profile.run_pre_filters(&mut state, &p, &snap);
    let s = profile.run_filters(&state, &p, &snap.nodes[0]);
    assert_eq!(s.reasons, vec!["Too many pods".to_string()]);
    let mut n2 = (*snap.nodes[0]).clone();
    assert!(n2.remove_pod("a"));
    assert_eq!(n2.requested.milli_cpu, 0);
    assert_eq!(n2.non_zero_requested.milli_cpu, 100);
}

#[test]
fn normalize_default() {
    let mut s = vec![0, 5, 10];
    default_normalize_score(100, false, &mut s);
    assert_eq!(s, vec![0, 50, 100]);
    let mut s = vec![0, 5, 10];
    default_normalize_score(100, true, &mut s);
    assert_eq!(s, vec![100, 50, 0]);
    let mut s = vec![0, 0];
    default_normalize_score(100, true, &mut s);
    assert_eq!(s, vec![100, 100]);
    let mut s = vec![0, 0];
    default_normalize_score(100, false, &mut s);
    assert_eq!(s, vec![0, 0]);
}

#[test]
fn label_selectors() {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
    use labels::{Labels, Selector};
    let sel = |v: serde_json::Value| {
        let ls: LabelSelector = serde_json::from_value(v).unwrap();
        Selector::from_label_selector(Some(&ls))
    };
    let l = |v: serde_json::Value| -> Labels { serde_json::from_value(v).unwrap() };
    let any = l(json!({"app": "web", "tier": "fe"}));
    assert!(!Selector::from_label_selector(None).unwrap().matches(&any));
    assert!(sel(json!({})).unwrap().matches(&any));
    assert!(sel(json!({})).unwrap().is_everything());
    let cases = [
        (json!({"matchLabels": {"app": "web"}}), true),
        (json!({"matchLabels": {"app": "db"}}), false),
        (
            json!({"matchExpressions": [{"key": "app", "operator": "In", "values": ["db", "web"]}]}),
            true,
        ),
        (
            json!({"matchExpressions": [{"key": "app", "operator": "NotIn", "values": ["web"]}]}),
            false,
        ),
        (
            json!({"matchExpressions": [{"key": "x", "operator": "NotIn", "values": ["web"]}]}),
            true,
        ),
        (
            json!({"matchExpressions": [{"key": "tier", "operator": "Exists"}]}),
            true,
        ),
        (
            json!({"matchExpressions": [{"key": "tier", "operator": "DoesNotExist"}]}),
            false,
        ),
        (
            json!({"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "x", "operator": "Exists"}]}),
            false,
        ),
    ];
    for (s, want) in cases {
        assert_eq!(sel(s.clone()).unwrap().matches(&any), want, "{s}");
    }
    for bad in [
        json!({"matchExpressions": [{"key": "app", "operator": "Gt", "values": ["1"]}]}),
        json!({"matchExpressions": [{"key": "app", "operator": "In", "values": []}]}),
        json!({"matchExpressions": [{"key": "app", "operator": "Exists", "values": ["x"]}]}),
        json!({"matchLabels": {"bad key!": "x"}}),
        json!({"matchLabels": {"app": "bad value!"}}),
    ] {
        assert!(sel(bad.clone()).is_err(), "{bad}");
    }
    assert!(labels::is_qualified_name("example.com/gpu"));
    assert!(labels::is_qualified_name("app"));
    assert!(!labels::is_qualified_name("Example.com/gpu"));
    assert!(!labels::is_qualified_name("/x"));
    assert!(!labels::is_qualified_name("-x"));
}

#[test]
fn host_port_conflicts() {
    let hp = |proto: &str, ip: &str, port: i32| HostPort {
        protocol: proto.into(),
        ip: ip.into(),
        port,
    };
    let mut used = HostPortInfo::default();
    used.add(&hp("TCP", "127.0.0.1", 8080));
    used.add(&hp("UDP", "0.0.0.0", 53));
    assert!(used.conflicts(&hp("TCP", "0.0.0.0", 8080)));
    assert!(used.conflicts(&hp("TCP", "127.0.0.1", 8080)));
    assert!(!used.conflicts(&hp("TCP", "127.0.0.2", 8080)));
    assert!(used.conflicts(&hp("UDP", "10.0.0.1", 53)));
    assert!(!used.conflicts(&hp("TCP", "10.0.0.1", 53)));
    used.remove(&hp("UDP", "0.0.0.0", 53));
    assert!(!used.conflicts(&hp("UDP", "10.0.0.1", 53)));
    assert_eq!(used.len(), 1);
}

#[test]
fn snapshot_lookup_and_images() {
    let n = node(json!({"metadata": {"name": "n1"}, "status": {"images": [
        {"names": ["docker.io/library/nginx:1.25", "nginx:1.25"], "sizeBytes": 1000},
        {"names": ["busybox:latest"]}
    ]}}));
    assert_eq!(n.image_sizes.get("nginx:1.25"), Some(&1000));
    assert_eq!(
        n.image_sizes.get("docker.io/library/nginx:1.25"),
        Some(&1000)
    );
    assert_eq!(n.image_sizes.get("busybox:latest"), Some(&0));
    let snap = snapshot(vec![n, node(json!({"metadata": {"name": "n2"}}))]);
    assert_eq!(snap.get("n2").map(|n| n.name()), Some("n2"));
    assert!(snap.get("n3").is_none());
    assert!(snap.labels_of_namespace("nope").is_empty());
}

#[test]
fn odd_objects_do_not_panic() {
    let snap = snapshot(vec![
        node(json!({})),
        node(
            json!({"metadata": {"name": "huge"}, "status": {"allocatable": {
            "cpu": "8Ei", "memory": "8Ei", "pods": "1e30", "example.com/x": "-5", "bogus": "zz"}}}),
        ),
        node(
            json!({"metadata": {"name": "neg", "labels": {"kubernetes.io/hostname": "neg"}},
            "status": {"allocatable": {"cpu": "-1", "memory": "-1Gi", "pods": "-3"}}}),
        ),
    ]);
    let pods = [
        pod(json!({"metadata": {"name": "empty"}})),
        pod(json!({"metadata": {"name": "weird"}, "spec": {
            "containers": [{"name": "c", "image": "", "resources": {"requests": {
                "cpu": "1e100", "memory": "-2", "example.com/x": "x1"}},
                "ports": [{"containerPort": 1, "hostPort": -5}]}],
            "overhead": {"cpu": "nonsense"},
            "topologySpreadConstraints": [
                {"maxSkew": 0, "topologyKey": "", "whenUnsatisfiable": "DoNotSchedule", "minDomains": -1},
                {"maxSkew": -3, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "ScheduleAnyway"}],
            "affinity": {
                "podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 0, "podAffinityTerm": {"topologyKey": ""}}]},
                "nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": -7, "preference": {"matchExpressions": [{"key": "x", "operator": "Gt", "values": ["a"]}]}}]}}
        }})),
    ];
    let profile = Profile::default_profile();
    for p in &pods {
        let mut state = CycleState::new();
        let pre = profile.run_pre_filters(&mut state, p, &snap);
        if !pre.is_success() {
            continue;
        }
        let nodes = profile
            .filter_all(&state, p, &snap)
            .map(|o| o.feasible)
            .unwrap_or_default();
        let all = snap.nodes.clone();
        for feasible in [&nodes, &all] {
            profile.run_pre_scores(&mut state, p, &snap, feasible);
            let scores = profile.score_nodes(&state, p, feasible);
            assert_eq!(scores.len(), feasible.len());
        }
    }
}
