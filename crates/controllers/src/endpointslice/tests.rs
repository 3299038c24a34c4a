use super::*;
use serde_json::json;

fn svc(publish: bool) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": "web", "namespace": "ns", "uid": "svc-uid", "labels": {"app": "web"}},
        "spec": {"clusterIP": "10.43.0.10", "selector": {"app": "web"}, "publishNotReadyAddresses": publish,
                 "ports": [{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}]}
    }))
    .unwrap()
}

fn pod(i: usize, ready: bool, deleting: bool, port: &str) -> Arc<Pod> {
    let mut v = json!({
        "metadata": {"name": format!("p{i:04}"), "namespace": "ns", "uid": format!("uid-{i}")},
        "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [{"name": port, "containerPort": 8080}]}]},
        "status": {"phase": "Running", "podIP": format!("10.0.{}.{}", i / 250, i % 250 + 1),
                   "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
    });
    if deleting {
        v["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    }
    Arc::new(serde_json::from_value(v).unwrap())
}

fn node() -> Option<Arc<Node>> {
    Some(Arc::new(
        serde_json::from_value(
            json!({"metadata": {"name": "n1", "labels": {LABEL_ZONE: "zone-a"}}}),
        )
        .unwrap(),
    ))
}

fn conds(c: &EndpointConditions) -> (bool, bool, bool) {
    (c.ready.unwrap(), c.serving.unwrap(), c.terminating.unwrap())
}

/// Gives created slices names, as the API server would.
fn created(plan: &Plan, from: usize) -> Vec<EndpointSlice> {
    plan.create
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut s = s.clone();
            s.metadata.name = Some(format!("web-{}", from + i));
            s
        })
        .collect()
}

#[test]
fn conditions_follow_readiness_termination_and_publishing() {
    let s = svc(false);
    assert_eq!(
        conds(&conditions(&s, &pod(1, true, false, "web"))),
        (true, true, false)
    );
    assert_eq!(
        conds(&conditions(&s, &pod(1, false, false, "web"))),
        (false, false, false)
    );
    assert_eq!(
        conds(&conditions(&s, &pod(1, true, true, "web"))),
        (false, true, true)
    );
    let p = svc(true);
    assert_eq!(
        conds(&conditions(&p, &pod(1, false, true, "web"))),
        (true, false, true)
    );
}

#[test]
fn endpoints_carry_address_node_zone_and_reference() {
    let (want, missing) = desired(
        &svc(false),
        &[pod(1, true, false, "web")],
        IpFamily::V4,
        |_| node(),
    );
    assert_eq!(missing, 0);
    let group = want.values().next().unwrap();
    assert_eq!(group.ports[0].port, 8080);
    let ep = &group.endpoints[0];
    assert_eq!(ep.addresses, ["10.0.0.2"]);
    assert_eq!(ep.node_name.as_deref(), Some("n1"));
    assert_eq!(ep.zone.as_deref(), Some("zone-a"));
    assert_eq!(
        ep.target_ref.as_ref().unwrap().name.as_deref(),
        Some("p0001")
    );
    let (_, missing) = desired(
        &svc(false),
        &[pod(1, true, false, "web")],
        IpFamily::V4,
        |_| None,
    );
    assert_eq!(missing, 1);
}

#[test]
fn pods_are_grouped_by_resolved_ports() {
    let pods = [
        pod(1, true, false, "web"),
        pod(2, true, false, "other"),
        pod(3, true, false, "web"),
    ];
    let (want, _) = desired(&svc(false), &pods, IpFamily::V4, |_| node());
    assert_eq!(want.len(), 2);
    let sizes: Vec<usize> = want.values().map(|g| g.endpoints.len()).collect();
    assert_eq!(sizes, [1, 2]);
}

#[test]
fn many_endpoints_are_sliced_by_the_maximum() {
    let s = svc(false);
    let pods: Vec<_> = (0..250).map(|i| pod(i, true, false, "web")).collect();
    let (want, _) = desired(&s, &pods, IpFamily::V4, |_| node());
    let template = SliceTemplate::new(&s, IpFamily::V4);
    let plan = plan(&template, want, Vec::new(), 100);
    let sizes: Vec<usize> = plan.create.iter().map(|s| s.endpoints.len()).collect();
    assert_eq!(sizes, [100, 100, 50]);
    let first = &plan.create[0];
    assert_eq!(first.address_type, "IPv4");
    assert_eq!(first.metadata.generate_name.as_deref(), Some("web-"));
    let labels = first.metadata.labels.as_ref().unwrap();
    assert_eq!(labels[LABEL_SERVICE_NAME], "web");
    assert_eq!(labels[LABEL_MANAGED_BY], CONTROLLER_NAME);
    let owner = &first.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.uid.as_str(), owner.controller),
        ("Service", "svc-uid", Some(true))
    );
}

#[test]
fn unchanged_slices_are_not_written_and_changes_touch_only_their_slice() {
    let s = svc(false);
    let template = SliceTemplate::new(&s, IpFamily::V4);
    let pods: Vec<_> = (0..250).map(|i| pod(i, true, false, "web")).collect();
    let (want, _) = desired(&s, &pods, IpFamily::V4, |_| node());
    let existing = created(&plan(&template, want.clone(), Vec::new(), 100), 0);
    let again = plan(&template, want, existing.clone(), 100);
    assert!(again.create.is_empty() && again.update.is_empty() && again.delete.is_empty());

    // One pod gone: only its slice changes.
    let fewer: Vec<_> = pods
        .iter()
        .filter(|p| p.metadata.name.as_deref() != Some("p0005"))
        .cloned()
        .collect();
    let (want, _) = desired(&s, &fewer, IpFamily::V4, |_| node());
    let p = plan(&template, want, existing.clone(), 100);
    assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (0, 1, 0));
    assert_eq!(p.update[0].metadata.name.as_deref(), Some("web-0"));
    assert_eq!(p.update[0].endpoints.len(), 99);

    // New pods fill the slice with room before a new slice is made.
    let more: Vec<_> = (0..320).map(|i| pod(i, true, false, "web")).collect();
    let (want, _) = desired(&s, &more, IpFamily::V4, |_| node());
    let p = plan(&template, want, existing, 100);
    assert_eq!(p.update.len(), 1);
    assert_eq!(p.update[0].metadata.name.as_deref(), Some("web-2"));
    assert_eq!(p.update[0].endpoints.len(), 100);
    assert_eq!(
        p.create
            .iter()
            .map(|s| s.endpoints.len())
            .collect::<Vec<_>>(),
        [20]
    );
}

#[test]
fn emptied_slices_are_reused_then_deleted_and_a_placeholder_remains() {
    let s = svc(false);
    let template = SliceTemplate::new(&s, IpFamily::V4);
    let pods: Vec<_> = (0..150).map(|i| pod(i, true, false, "web")).collect();
    let (want, _) = desired(&s, &pods, IpFamily::V4, |_| node());
    let existing = created(&plan(&template, want, Vec::new(), 100), 0);
    // Every pod now resolves another port: the old slices are rewritten, not recreated.
    let moved: Vec<_> = (0..150).map(|i| pod(i, true, false, "web")).collect();
    let mut other = s.clone();
    other.spec.as_mut().unwrap().ports.as_mut().unwrap()[0].target_port =
        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(9000));
    let (want, _) = desired(&other, &moved, IpFamily::V4, |_| node());
    let p = plan(&template, want, existing.clone(), 100);
    assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (0, 2, 0));
    assert!(
        p.update
            .iter()
            .all(|s| s.ports.as_ref().unwrap()[0].port == Some(9000))
    );

    let p = plan(&template, Desired::new(), existing, 100);
    assert_eq!((p.create.len(), p.update.len(), p.delete.len()), (0, 1, 1));
    assert!(p.update[0].endpoints.is_empty() && p.update[0].ports.is_none());
    let p = plan(&template, Desired::new(), Vec::new(), 100);
    assert_eq!(p.create.len(), 1);
}

#[test]
fn the_tracker_waits_for_its_own_writes() {
    let tracker = Tracker::default();
    let slice = |rv: &str| {
        Some(Arc::new(EndpointSlice {
            metadata: ObjectMeta {
                resource_version: Some(rv.to_owned()),
                ..ObjectMeta::default()
            },
            ..EndpointSlice::default()
        }))
    };
    tracker.expect("ns/web", "web-1", Some("7".to_owned()));
    tracker.expect("ns/web", "web-2", None);
    assert!(tracker.stale("ns/web", |_| None));
    assert!(tracker.stale("ns/web", |_| slice("6")));
    assert!(!tracker.stale("ns/web", |n| if n == "web-1" { slice("8") } else { None }));
    assert!(!tracker.stale("ns/other", |_| None));
}
