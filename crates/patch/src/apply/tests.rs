use super::*;
use serde_json::json;

fn applier(name: &str) -> Manager {
    Manager {
        name: name.to_owned(),
        operation: "Apply".to_owned(),
        api_version: "apps/v1".to_owned(),
        subresource: None,
    }
}

fn deployment(replicas: i64, labels: Value, containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": labels},
        "spec": {"replicas": replicas, "template": {"spec": {"containers": containers}}},
    })
}

fn shape() -> Shape<'static> {
    Shape::builtin("apps", "v1", "Deployment")
}

const NOW: &str = "2026-01-01T00:00:00Z";

#[test]
fn an_apply_owns_what_it_sets_and_drops_what_it_stops_setting() {
    let first = deployment(
        2,
        json!({"a": "1", "b": "2"}),
        json!([{"name": "web", "image": "nginx"}]),
    );
    let live = apply(
        None,
        &first,
        shape(),
        &applier("ci"),
        false,
        &["status"],
        NOW,
    )
    .unwrap();
    let managed = &live["metadata"]["managedFields"][0];
    assert_eq!(managed["manager"], "ci");
    assert_eq!(managed["operation"], "Apply");
    assert_eq!(
        managed["fieldsV1"]["f:spec"]["f:template"]["f:spec"]["f:containers"]["k:{\"name\":\"web\"}"],
        json!({".": {}, "f:image": {}, "f:name": {}})
    );
    let second = deployment(
        2,
        json!({"a": "1"}),
        json!([{"name": "web", "image": "nginx"}]),
    );
    let live = apply(
        Some(&live),
        &second,
        shape(),
        &applier("ci"),
        false,
        &["status"],
        NOW,
    )
    .unwrap();
    assert_eq!(live["metadata"]["labels"], json!({"a": "1"}));
}

#[test]
fn another_manager_conflicts_unless_forced() {
    let live = apply(
        None,
        &deployment(2, json!({}), json!([])),
        shape(),
        &applier("ci"),
        false,
        &[],
        NOW,
    )
    .unwrap();
    let other = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 5}});
    let err = apply(
        Some(&live),
        &other,
        shape(),
        &applier("ops"),
        false,
        &[],
        NOW,
    )
    .unwrap_err();
    assert_eq!(
        conflict_message(&err),
        "Apply failed with 1 conflict: conflict with \"ci\": .spec.replicas"
    );
    // The same value is shared, not a conflict.
    let same = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2}});
    assert!(
        apply(
            Some(&live),
            &same,
            shape(),
            &applier("ops"),
            false,
            &[],
            NOW
        )
        .is_ok()
    );
    let forced = apply(
        Some(&live),
        &other,
        shape(),
        &applier("ops"),
        true,
        &[],
        NOW,
    )
    .unwrap();
    assert_eq!(forced["spec"]["replicas"], 5);
    let owners: Vec<&str> = forced["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["fieldsV1"]["f:spec"].get("f:replicas").is_some())
        .map(|e| e["manager"].as_str().unwrap())
        .collect();
    assert_eq!(owners, ["ops"]);
}

#[test]
fn keyed_list_items_of_two_managers_merge() {
    let live = apply(
        None,
        &deployment(1, json!({}), json!([{"name": "web", "image": "nginx"}])),
        shape(),
        &applier("ci"),
        false,
        &[],
        NOW,
    )
    .unwrap();
    let sidecar = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
        "spec": {"template": {"spec": {"containers": [{"name": "proxy", "image": "envoy"}]}}}});
    let merged = apply(
        Some(&live),
        &sidecar,
        shape(),
        &applier("mesh"),
        false,
        &[],
        NOW,
    )
    .unwrap();
    let names: Vec<&str> = merged["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["web", "proxy"]);
    // ci stops applying its container: only ci's goes.
    let without = deployment(1, json!({}), json!([]));
    let after = apply(
        Some(&merged),
        &without,
        shape(),
        &applier("ci"),
        false,
        &[],
        NOW,
    )
    .unwrap();
    let names: Vec<&str> = after["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["proxy"]);
}

#[test]
fn an_update_takes_the_fields_it_changes() {
    let live = apply(
        None,
        &deployment(2, json!({}), json!([])),
        shape(),
        &applier("ci"),
        false,
        &[],
        NOW,
    )
    .unwrap();
    let mut scaled = live.clone();
    scaled["spec"]["replicas"] = json!(4);
    let updater = Manager {
        name: "kubectl".to_owned(),
        operation: "Update".to_owned(),
        api_version: "apps/v1".to_owned(),
        subresource: Some("scale".to_owned()),
    };
    track_update(
        &live,
        &mut scaled,
        shape(),
        &updater,
        Supplied::Omitted,
        NOW,
    );
    let err = apply(
        Some(&scaled),
        &deployment(2, json!({}), json!([])),
        shape(),
        &applier("ci"),
        false,
        &[],
        NOW,
    )
    .unwrap_err();
    assert_eq!(
        conflict_message(&err),
        "Apply failed with 1 conflict: conflict with \"kubectl\" with subresource \"scale\" using apps/v1: .spec.replicas"
    );
}

#[test]
fn several_conflicts_are_listed_by_manager() {
    let conflicts = vec![
        Conflict {
            manager: "\"b\"".into(),
            field: ".data.x".into(),
        },
        Conflict {
            manager: "\"a\"".into(),
            field: ".data.y".into(),
        },
    ];
    assert_eq!(
        conflict_message(&conflicts),
        "Apply failed with 2 conflicts: conflicts with \"a\":\n- .data.y\nconflicts with \"b\":\n- .data.x"
    );
}
