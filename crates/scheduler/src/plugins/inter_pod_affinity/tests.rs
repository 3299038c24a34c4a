use super::*;
use crate::plugins::testutil::{
    labeled_node, pod, reason, run_filter, run_score, snapshot, with_pods,
};
use serde_json::{Value, json};

fn term(sel: Value, key: &str) -> Value {
    json!({"labelSelector": {"matchLabels": sel}, "topologyKey": key})
}

fn p(name: &str, labels: Value, affinity: Value) -> Arc<PodInfo> {
    pod(json!({"metadata": {"name": name, "labels": labels},
        "spec": {"containers": [], "affinity": affinity}}))
}

fn p_ns(name: &str, ns: &str, labels: Value) -> Arc<PodInfo> {
    pod(
        json!({"metadata": {"name": name, "namespace": ns, "labels": labels}, "spec": {"containers": []}}),
    )
}

fn required_affinity(terms: Vec<Value>) -> Value {
    json!({"podAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": terms}})
}

fn required_anti(terms: Vec<Value>) -> Value {
    json!({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": terms}})
}

fn zone_nodes(pods: &[(usize, Arc<PodInfo>)]) -> crate::framework::Snapshot {
    let mut nodes = vec![
        labeled_node("n1", json!({"zone": "a", "kubernetes.io/hostname": "n1"})),
        labeled_node("n2", json!({"zone": "a", "kubernetes.io/hostname": "n2"})),
        labeled_node("n3", json!({"zone": "b", "kubernetes.io/hostname": "n3"})),
        labeled_node("n4", json!({"kubernetes.io/hostname": "n4"})),
    ];
    for (i, pod) in pods {
        nodes[*i] = with_pods(nodes[*i].clone(), std::slice::from_ref(pod));
    }
    snapshot(nodes)
}

fn reasons(statuses: &[Status]) -> Vec<String> {
    statuses.iter().map(reason).collect()
}

const AFF: &str = ERR_REASON_AFFINITY_RULES_NOT_MATCH;
const ANTI: &str = ERR_REASON_ANTI_AFFINITY_RULES_NOT_MATCH;
const EXISTING: &str = ERR_REASON_EXISTING_ANTI_AFFINITY_RULES_NOT_MATCH;

#[test]
fn no_affinity_skips() {
    let snap = zone_nodes(&[(0, p("db", json!({"app": "db"}), json!(null)))]);
    let mut st = CycleState::new();
    let s = InterPodAffinity::default().pre_filter(&mut st, &p("x", json!({}), json!(null)), &snap);
    assert!(s.is_skip());
}

#[test]
fn required_affinity_by_zone() {
    let db = p("db", json!({"app": "db"}), json!(null));
    let snap = zone_nodes(&[(0, db)]);
    let web = p(
        "web",
        json!({"app": "web"}),
        required_affinity(vec![term(json!({"app": "db"}), "zone")]),
    );
    let st = run_filter(&InterPodAffinity::default(), &web, &snap).unwrap();
    assert_eq!(reasons(&st), vec!["", "", AFF, AFF]);
    assert_eq!(st[2].code, Code::UnschedulableAndUnresolvable);
}

#[test]
fn required_affinity_all_terms_must_match_one_pod() {
    // one pod matches app=db, another env=prod: no single pod matches both terms
    let snap = zone_nodes(&[
        (0, p("db", json!({"app": "db"}), json!(null))),
        (1, p("prod", json!({"env": "prod"}), json!(null))),
    ]);
    let web = p(
        "web",
        json!({}),
        required_affinity(vec![
            term(json!({"app": "db"}), "zone"),
            term(json!({"env": "prod"}), "zone"),
        ]),
    );
    let st = run_filter(&InterPodAffinity::default(), &web, &snap).unwrap();
    assert_eq!(reasons(&st), vec![AFF, AFF, AFF, AFF]);
}

#[test]
fn self_affinity_first_pod() {
    let web = p(
        "web",
        json!({"app": "web"}),
        required_affinity(vec![term(json!({"app": "web"}), "zone")]),
    );
    let snap = zone_nodes(&[]);
    let st = run_filter(&InterPodAffinity::default(), &web, &snap).unwrap();
    // any node with the topology label; n4 has no zone
    assert_eq!(reasons(&st), vec!["", "", "", AFF]);
    // once a matching pod exists, only its zone qualifies
    let snap = zone_nodes(&[(2, p("w0", json!({"app": "web"}), json!(null)))]);
    let st = run_filter(&InterPodAffinity::default(), &web, &snap).unwrap();
    assert_eq!(reasons(&st), vec![AFF, AFF, "", AFF]);
    // a pod not matching its own terms can't start a group
    let other = p(
        "o",
        json!({"app": "other"}),
        required_affinity(vec![term(json!({"app": "web"}), "zone")]),
    );
    let st = run_filter(&InterPodAffinity::default(), &other, &zone_nodes(&[])).unwrap();
    assert_eq!(reasons(&st), vec![AFF, AFF, AFF, AFF]);
}

#[test]
fn required_anti_affinity() {
    let snap = zone_nodes(&[(0, p("w0", json!({"app": "web"}), json!(null)))]);
    let web = p(
        "web",
        json!({"app": "web"}),
        required_anti(vec![term(json!({"app": "web"}), "kubernetes.io/hostname")]),
    );
    let st = run_filter(&InterPodAffinity::default(), &web, &snap).unwrap();
    assert_eq!(reasons(&st), vec![ANTI, "", "", ""]);
    assert_eq!(st[0].code, Code::Unschedulable);
    let by_zone = p(
        "web",
        json!({"app": "web"}),
        required_anti(vec![term(json!({"app": "web"}), "zone")]),
    );
    let st = run_filter(&InterPodAffinity::default(), &by_zone, &snap).unwrap();
    // n4 has no zone label: the term can't be violated there
    assert_eq!(reasons(&st), vec![ANTI, ANTI, "", ""]);
}

#[test]
fn existing_pods_anti_affinity() {
    let guard = p(
        "guard",
        json!({"app": "guard"}),
        required_anti(vec![term(json!({"app": "web"}), "zone")]),
    );
    let snap = zone_nodes(&[(0, guard)]);
    let web = p("web", json!({"app": "web"}), json!(null));
    let st = run_filter(&InterPodAffinity::default(), &web, &snap).unwrap();
    assert_eq!(reasons(&st), vec![EXISTING, EXISTING, "", ""]);
    assert_eq!(st[0].code, Code::Unschedulable);
    // a pod the guard doesn't select is unaffected (PreFilter skips)
    let st = run_filter(
        &InterPodAffinity::default(),
        &p("db", json!({"app": "db"}), json!(null)),
        &snap,
    )
    .unwrap();
    assert_eq!(reasons(&st), vec!["", "", "", ""]);
    // existing anti-affinity in another namespace only covers its own namespace
    let guard_other = pod(json!({"metadata": {"name": "g", "namespace": "other"},
        "spec": {"containers": [], "affinity": required_anti(vec![term(json!({"app": "web"}), "zone")])}}));
    let snap = zone_nodes(&[(0, guard_other)]);
    let st = run_filter(&InterPodAffinity::default(), &web, &snap).unwrap();
    assert_eq!(reasons(&st), vec!["", "", "", ""]);
}

#[test]
fn namespaces_and_selectors() {
    let db_other = p_ns("db", "other", json!({"app": "db"}));
    let snap = zone_nodes(&[(0, db_other)]).with_namespace_labels(
        [
            (
                "other".to_string(),
                [("team".to_string(), "a".to_string())]
                    .into_iter()
                    .collect(),
            ),
            ("default".to_string(), Default::default()),
        ]
        .into_iter()
        .collect(),
    );
    let with_term = |t: Value| p("web", json!({"app": "web"}), required_affinity(vec![t]));
    let mut t = term(json!({"app": "db"}), "zone");
    // own namespace only: the db pod in "other" doesn't count
    let st = run_filter(&InterPodAffinity::default(), &with_term(t.clone()), &snap).unwrap();
    assert_eq!(reasons(&st), vec![AFF, AFF, AFF, AFF]);
    t["namespaces"] = json!(["other"]);
    let st = run_filter(&InterPodAffinity::default(), &with_term(t.clone()), &snap).unwrap();
    assert_eq!(reasons(&st), vec!["", "", AFF, AFF]);
    let mut t = term(json!({"app": "db"}), "zone");
    t["namespaceSelector"] = json!({});
    let st = run_filter(&InterPodAffinity::default(), &with_term(t.clone()), &snap).unwrap();
    assert_eq!(reasons(&st), vec!["", "", AFF, AFF]);
    t["namespaceSelector"] = json!({"matchLabels": {"team": "a"}});
    let st = run_filter(&InterPodAffinity::default(), &with_term(t.clone()), &snap).unwrap();
    assert_eq!(reasons(&st), vec!["", "", AFF, AFF]);
    t["namespaceSelector"] = json!({"matchLabels": {"team": "b"}});
    let st = run_filter(&InterPodAffinity::default(), &with_term(t), &snap).unwrap();
    assert_eq!(reasons(&st), vec![AFF, AFF, AFF, AFF]);
}

#[test]
fn invalid_selector_rejects() {
    let bad = json!({"labelSelector": {"matchExpressions": [{"key": "app", "operator": "Bogus"}]}, "topologyKey": "zone"});
    let web = p("web", json!({}), required_affinity(vec![bad]));
    let err = run_filter(&InterPodAffinity::default(), &web, &zone_nodes(&[])).unwrap_err();
    assert_eq!(err.code, Code::UnschedulableAndUnresolvable);
    assert!(reason(&err).starts_with("parsing pod: "), "{err:?}");
}

fn preferred(kind: &str, weight: i32, t: Value) -> Value {
    json!({kind: {"preferredDuringSchedulingIgnoredDuringExecution": [{"weight": weight, "podAffinityTerm": t}]}})
}

#[test]
fn score_preferred_terms() {
    let snap = zone_nodes(&[
        (0, p("db", json!({"app": "db"}), json!(null))),
        (1, p("cache", json!({"app": "cache"}), json!(null))),
    ]);
    let mut affinity = preferred("podAffinity", 5, term(json!({"app": "db"}), "zone"));
    affinity["podAntiAffinity"] = preferred(
        "podAntiAffinity",
        3,
        term(json!({"app": "cache"}), "kubernetes.io/hostname"),
    )["podAntiAffinity"]
        .clone();
    let web = p("web", json!({"app": "web"}), affinity);
    // raw: n1 5, n2 5-3 = 2, n3 0, n4 0 -> (s-0)*100/5
    assert_eq!(
        run_score(&InterPodAffinity::default(), &web, &snap),
        vec![100, 40, 0, 0]
    );
}

#[test]
fn score_existing_pods_terms() {
    let web = p("web", json!({"app": "web"}), json!(null));
    // existing required affinity towards the incoming pod: hard weight 1 on its hostname
    let snap = zone_nodes(&[(
        0,
        p(
            "e",
            json!({}),
            required_affinity(vec![term(json!({"app": "web"}), "kubernetes.io/hostname")]),
        ),
    )]);
    assert_eq!(
        run_score(&InterPodAffinity::default(), &web, &snap),
        vec![100, 0, 0, 0]
    );
    let no_hard = InterPodAffinity {
        hard_pod_affinity_weight: 0,
        ..InterPodAffinity::default()
    };
    assert_eq!(run_score(&no_hard, &web, &snap), vec![0, 0, 0, 0]);
    // existing preferred anti-affinity: -10 on zone a
    let snap = zone_nodes(&[(
        1,
        p(
            "e",
            json!({}),
            preferred("podAntiAffinity", 10, term(json!({"app": "web"}), "zone")),
        ),
    )]);
    assert_eq!(
        run_score(&InterPodAffinity::default(), &web, &snap),
        vec![0, 0, 100, 100]
    );
    // existing preferred affinity, but ignored when configured and the pod has no terms
    let snap = zone_nodes(&[(
        2,
        p(
            "e",
            json!({}),
            preferred("podAffinity", 7, term(json!({"app": "web"}), "zone")),
        ),
    )]);
    assert_eq!(
        run_score(&InterPodAffinity::default(), &web, &snap),
        vec![0, 0, 100, 0]
    );
    let ignore = InterPodAffinity {
        ignore_preferred_terms_of_existing_pods: true,
        ..InterPodAffinity::default()
    };
    assert_eq!(run_score(&ignore, &web, &snap), vec![0, 0, 0, 0]);
}

#[test]
fn score_skips_without_terms() {
    let snap = zone_nodes(&[(0, p("db", json!({"app": "db"}), json!(null)))]);
    let mut st = CycleState::new();
    let web = p("web", json!({}), json!(null));
    assert!(
        InterPodAffinity::default()
            .pre_score(&mut st, &web, &snap, &snap.nodes)
            .is_skip()
    );
    assert!(
        InterPodAffinity::default()
            .pre_score(&mut st, &web, &snap, &[])
            .is_skip()
    );
}
