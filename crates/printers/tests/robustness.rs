//! Odd or malformed objects never panic and always give one cell per column.

use rkube_printers::{IncludeObject, table};
use serde_json::json;
use std::time::{Duration, UNIX_EPOCH};

fn now(secs: u64) -> std::time::SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_704_067_200 + secs)
}

#[test]
fn odd_objects_never_panic() {
    let odd = [
        json!(null),
        json!(42),
        json!("text"),
        json!([]),
        json!({}),
        json!({"metadata": "nope", "spec": [], "status": 7}),
        json!({"metadata": {"name": 5, "creationTimestamp": "yesterday"}, "spec": {"containers": "x", "ports": {}, "replicas": "3"}}),
        json!({"spec": {"selector": {"matchExpressions": "bad"}, "template": {"spec": {"containers": [null, 3]}}}, "status": {"conditions": [null], "containerStatuses": [{"state": null}]}}),
    ];
    let resources = [
        ("", "pods"),
        ("", "namespaces"),
        ("", "services"),
        ("", "endpoints"),
        ("", "nodes"),
        ("", "configmaps"),
        ("", "secrets"),
        ("", "serviceaccounts"),
        ("", "events"),
        ("", "persistentvolumes"),
        ("", "persistentvolumeclaims"),
        ("", "resourcequotas"),
        ("", "replicationcontrollers"),
        ("", "podtemplates"),
        ("apps", "deployments"),
        ("apps", "replicasets"),
        ("apps", "statefulsets"),
        ("apps", "daemonsets"),
        ("apps", "controllerrevisions"),
        ("batch", "jobs"),
        ("batch", "cronjobs"),
        ("coordination.k8s.io", "leases"),
        ("discovery.k8s.io", "endpointslices"),
        ("events.k8s.io", "events"),
        ("rbac.authorization.k8s.io", "roles"),
        ("rbac.authorization.k8s.io", "clusterroles"),
        ("rbac.authorization.k8s.io", "rolebindings"),
        ("rbac.authorization.k8s.io", "clusterrolebindings"),
        ("networking.k8s.io", "ingresses"),
        ("networking.k8s.io", "ingressclasses"),
        ("networking.k8s.io", "networkpolicies"),
        ("policy", "poddisruptionbudgets"),
        ("storage.k8s.io", "storageclasses"),
        ("scheduling.k8s.io", "priorityclasses"),
        ("x", "y"),
    ];
    for (g, r) in resources {
        let t = table(g, r, &odd, IncludeObject::Metadata, true, "", None, now(0));
        let ncols = t["columnDefinitions"].as_array().unwrap().len();
        for row in t["rows"].as_array().unwrap() {
            assert_eq!(row["cells"].as_array().unwrap().len(), ncols, "{g}/{r}");
        }
        assert_eq!(t["metadata"], json!({}));
    }
}
