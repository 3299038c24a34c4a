use super::*;
use serde_json::json;
use std::convert::Infallible;

fn spec(v: serde_json::Value) -> PodDisruptionBudgetSpec {
    serde_json::from_value(v).unwrap()
}

/// A pod: Ready or not, being deleted or not.
fn pod(name: &str, ready: bool, deleting: bool) -> Arc<Pod> {
    let mut p = json!({"metadata": {"name": name},
        "status": {"phase": "Running", "conditions": [
            {"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
    if deleting {
        p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    }
    Arc::new(serde_json::from_value(p).unwrap())
}

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

/// `ready` Ready pods, `unready` pods not Ready and `deleting` Ready pods being deleted.
fn pods(ready: usize, unready: usize, deleting: usize) -> Vec<Arc<Pod>> {
    let mut all = Vec::new();
    for i in 0..ready {
        all.push(pod(&format!("r{i}"), true, false));
    }
    for i in 0..unready {
        all.push(pod(&format!("u{i}"), false, false));
    }
    for i in 0..deleting {
        all.push(pod(&format!("d{i}"), true, true));
    }
    all
}

#[test]
fn budgets_compute_as_upstream() {
    // (case, spec, pods (ready, unready, deleting), controllers' summed scale,
    //  expected (expectedPods, desiredHealthy, currentHealthy, disruptionsAllowed))
    type Case = (
        &'static str,
        serde_json::Value,
        (usize, usize, usize),
        i32,
        (i32, i32, i32, i32),
    );
    let cases: &[Case] = &[
        (
            "int minAvailable",
            json!({"minAvailable": 2}),
            (3, 0, 0),
            9,
            (3, 2, 3, 1),
        ),
        (
            "int minAvailable, all needed",
            json!({"minAvailable": 3}),
            (3, 0, 0),
            3,
            (3, 3, 3, 0),
        ),
        (
            "int minAvailable over the pods",
            json!({"minAvailable": 5}),
            (3, 0, 0),
            3,
            (3, 5, 3, 0),
        ),
        (
            "int minAvailable, unhealthy",
            json!({"minAvailable": 2}),
            (2, 2, 0),
            4,
            (4, 2, 2, 0),
        ),
        (
            "int minAvailable, terminating",
            json!({"minAvailable": 1}),
            (2, 0, 1),
            3,
            (3, 1, 2, 1),
        ),
        (
            "percent minAvailable rounds up",
            json!({"minAvailable": "50%"}),
            (5, 0, 0),
            5,
            (5, 3, 5, 2),
        ),
        (
            "percent minAvailable of the scale",
            json!({"minAvailable": "50%"}),
            (2, 0, 0),
            10,
            (10, 5, 2, 0),
        ),
        (
            "int maxUnavailable",
            json!({"maxUnavailable": 1}),
            (3, 0, 0),
            3,
            (3, 2, 3, 1),
        ),
        (
            "int maxUnavailable, unhealthy",
            json!({"maxUnavailable": 1}),
            (2, 1, 0),
            3,
            (3, 2, 2, 0),
        ),
        (
            "int maxUnavailable over the scale",
            json!({"maxUnavailable": 5}),
            (2, 0, 0),
            2,
            (2, 0, 2, 2),
        ),
        (
            "percent maxUnavailable rounds up",
            json!({"maxUnavailable": "30%"}),
            (4, 0, 0),
            4,
            (4, 2, 4, 2),
        ),
        (
            "percent maxUnavailable, terminating",
            json!({"maxUnavailable": "25%"}),
            (3, 0, 1),
            4,
            (4, 3, 3, 0),
        ),
        // maxUnavailable wins when both are set.
        (
            "both set",
            json!({"minAvailable": 3, "maxUnavailable": 1}),
            (3, 0, 0),
            3,
            (3, 2, 3, 1),
        ),
        (
            "zero pods, int minAvailable",
            json!({"minAvailable": 0}),
            (0, 0, 0),
            0,
            (0, 0, 0, 0),
        ),
        (
            "zero pods, maxUnavailable",
            json!({"maxUnavailable": 0}),
            (0, 0, 0),
            0,
            (0, 0, 0, 0),
        ),
        (
            "zero pods, percent minAvailable",
            json!({"minAvailable": "10%"}),
            (0, 0, 0),
            0,
            (0, 0, 0, 0),
        ),
        ("neither set", json!({}), (3, 0, 0), 3, (0, 0, 3, 0)),
    ];
    let now = ts("2026-01-01T00:00:00Z");
    for (case, s, (ready, unready, deleting), scale, want) in cases.iter().cloned() {
        let s = spec(s);
        let all = pods(ready, unready, deleting);
        let (expected, desired) =
            expected_and_desired(Some(&s), all.len(), || Ok::<_, Infallible>(scale)).unwrap();
        let current = healthy(&all, &BTreeMap::new(), now);
        let allowed = disruptions_allowed(current, desired, expected);
        assert_eq!((expected, desired, current, allowed), want, "{case}");
    }
}

#[test]
fn the_scale_is_asked_only_when_used() {
    let asked = |v: serde_json::Value| {
        let s = spec(v);
        let mut called = false;
        let _ = expected_and_desired(Some(&s), 1, || {
            called = true;
            Ok::<_, Infallible>(1)
        });
        called == uses_scale(Some(&s))
    };
    assert!(asked(json!({"minAvailable": 1})));
    assert!(asked(json!({"minAvailable": "1%"})));
    assert!(asked(json!({"maxUnavailable": 1})));
    assert!(!uses_scale(Some(&spec(json!({"minAvailable": 1})))));
    assert!(uses_scale(Some(&spec(json!({"maxUnavailable": "10%"})))));
    let failed = expected_and_desired(Some(&spec(json!({"maxUnavailable": 1}))), 1, || {
        Err::<i32, _>("no controller")
    });
    assert_eq!(failed, Err("no controller"));
}

#[test]
fn recorded_disruptions_count_until_deleted_or_timed_out() {
    let now = ts("2026-01-01T00:10:00Z");
    let all = vec![
        pod("recent", true, false),
        pod("old", true, false),
        pod("deleting", true, true),
        pod("plain", true, false),
    ];
    let recorded: BTreeMap<String, Time> = [
        ("recent", "2026-01-01T00:09:00Z"),
        ("old", "2026-01-01T00:07:00Z"),
        ("deleting", "2026-01-01T00:09:30Z"),
        ("gone", "2026-01-01T00:09:30Z"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), Time(ts(v))))
    .collect();
    let (kept, recheck) = still_disrupted(&all, Some(&recorded), now);
    assert_eq!(kept.keys().collect::<Vec<_>>(), ["recent"]);
    assert_eq!(recheck, Some(ts("2026-01-01T00:11:00Z")));
    // The disrupted pod and the one being deleted are not healthy.
    assert_eq!(healthy(&all, &kept, now), 2);
    assert_eq!(still_disrupted(&all, None, now), (BTreeMap::new(), None));
}

fn pdb(status: serde_json::Value) -> PodDisruptionBudget {
    serde_json::from_value(
        json!({"metadata": {"name": "b", "namespace": "ns", "generation": 2},
        "spec": {"minAvailable": 1}, "status": status}),
    )
    .unwrap()
}

#[test]
fn the_status_carries_the_condition_and_is_written_only_when_it_changes() {
    let now = ts("2026-01-01T00:00:00Z");
    let counts = Counts {
        current_healthy: 3,
        desired_healthy: 1,
        expected: 3,
        disrupted: BTreeMap::new(),
    };
    let status = new_status(&pdb(json!({})), counts.clone(), now).unwrap();
    assert_eq!(status.disruptions_allowed, 2);
    assert_eq!(status.observed_generation, Some(2));
    assert_eq!(status.disrupted_pods, None);
    let cond = &status.conditions.as_ref().unwrap()[0];
    assert_eq!(
        (
            cond.type_.as_str(),
            cond.status.as_str(),
            cond.reason.as_str()
        ),
        (DISRUPTION_ALLOWED, "True", SUFFICIENT_PODS)
    );
    assert_eq!(cond.observed_generation, Some(2));
    let written = pdb(serde_json::to_value(&status).unwrap());
    assert_eq!(new_status(&written, counts.clone(), now), None);

    // Fewer healthy pods: the condition turns False, with a new transition time.
    let later = ts("2026-01-01T00:05:00Z");
    let short = Counts {
        current_healthy: 1,
        ..counts
    };
    let status = new_status(&written, short.clone(), later).unwrap();
    assert_eq!(status.disruptions_allowed, 0);
    let cond = &status.conditions.as_ref().unwrap()[0];
    assert_eq!(
        (cond.status.as_str(), cond.reason.as_str()),
        ("False", INSUFFICIENT_PODS)
    );
    assert_eq!(cond.last_transition_time, Time(later));
    let written = pdb(serde_json::to_value(&status).unwrap());

    // A failed sync: nothing allowed, SyncFailed with the error, the counts kept.
    let failed = fail_safe_status(&written, "found no controllers for pod \"p\"".into(), later);
    assert_eq!(failed.disruptions_allowed, 0);
    assert_eq!(failed.current_healthy, 1);
    let cond = &failed.conditions.as_ref().unwrap()[0];
    assert_eq!(
        (
            cond.status.as_str(),
            cond.reason.as_str(),
            cond.message.as_str()
        ),
        ("False", SYNC_FAILED, "found no controllers for pod \"p\"")
    );
    assert_eq!(cond.last_transition_time, Time(later));
    // The next successful sync rewrites the condition though the counts are the same.
    let recovered = pdb(serde_json::to_value(&failed).unwrap());
    let status = new_status(&recovered, short, later).unwrap();
    let cond = &status.conditions.as_ref().unwrap()[0];
    assert_eq!(
        (cond.reason.as_str(), cond.message.as_str()),
        (INSUFFICIENT_PODS, "")
    );
}
