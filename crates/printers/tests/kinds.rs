//! Columns and cells of the remaining kinds.

use rkube_printers::{IncludeObject, table};
use serde_json::{Value, json};
use std::time::{Duration, UNIX_EPOCH};

/// Renders one object at 2024-01-01T00:00:00Z + `secs` and returns (column names, cells).
fn render(group: &str, resource: &str, obj: Value, secs: u64) -> (Vec<String>, Value) {
    let now = UNIX_EPOCH + Duration::from_secs(1_704_067_200 + secs);
    let t = table(
        group,
        resource,
        &[obj],
        IncludeObject::None,
        true,
        "1",
        None,
        now,
    );
    let names = t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect();
    (names, t["rows"][0]["cells"].clone())
}

fn meta(name: &str) -> Value {
    json!({"name": name, "creationTimestamp": "2024-01-01T00:00:00Z"})
}

#[test]
fn namespaces_secrets_serviceaccounts() {
    let (cols, c) = render(
        "",
        "namespaces",
        json!({"metadata": meta("default"), "status": {"phase": "Active"}}),
        86_400 * 3,
    );
    assert_eq!(cols, ["Name", "Status", "Age"]);
    assert_eq!(c, json!(["default", "Active", "3d"]));

    let (cols, c) = render(
        "",
        "secrets",
        json!({"metadata": meta("tls"), "type": "kubernetes.io/tls", "data": {"tls.crt": "", "tls.key": ""}}),
        5,
    );
    assert_eq!(cols, ["Name", "Type", "Data", "Age"]);
    assert_eq!(c, json!(["tls", "kubernetes.io/tls", 2, "5s"]));

    let (cols, c) = render(
        "",
        "serviceaccounts",
        json!({"metadata": meta("default")}),
        5,
    );
    assert_eq!(cols, ["Name", "Secrets", "Age"]);
    assert_eq!(c, json!(["default", 0, "5s"]));
}

#[test]
fn endpoints_truncate_after_three() {
    let ep = json!({
        "metadata": meta("web"),
        "subsets": [{
            "addresses": [{"ip": "10.0.0.1"}, {"ip": "10.0.0.2"}, {"ip": "fd00::3"}, {"ip": "10.0.0.4"}],
            "ports": [{"port": 80, "name": "http"}, {"port": 443, "name": "https"}]
        }]
    });
    let (cols, c) = render("", "endpoints", ep, 60);
    assert_eq!(cols, ["Name", "Endpoints", "Age"]);
    assert_eq!(
        c,
        json!([
            "web",
            "10.0.0.1:80,10.0.0.2:80,[fd00::3]:80 + 5 more...",
            "60s"
        ])
    );
    let (_, c) = render("", "endpoints", json!({"metadata": meta("none")}), 60);
    assert_eq!(c[1], "<none>");
}

#[test]
fn persistent_volumes_and_claims() {
    let pv = json!({
        "metadata": meta("pv-1"),
        "spec": {
            "capacity": {"storage": "1024Mi"}, "accessModes": ["ReadWriteMany", "ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "standard", "volumeMode": "Filesystem",
            "claimRef": {"namespace": "default", "name": "data"}
        },
        "status": {"phase": "Bound"}
    });
    let (cols, c) = render("", "persistentvolumes", pv, 60);
    assert_eq!(
        cols,
        [
            "Name",
            "Capacity",
            "Access Modes",
            "Reclaim Policy",
            "Status",
            "Claim",
            "StorageClass",
            "VolumeAttributesClass",
            "Reason",
            "Age",
            "VolumeMode"
        ]
    );
    assert_eq!(
        c,
        json!([
            "pv-1",
            "1Gi",
            "RWO,RWX",
            "Retain",
            "Bound",
            "default/data",
            "standard",
            "<unset>",
            "",
            "60s",
            "Filesystem"
        ])
    );

    let pending = json!({"metadata": meta("data"), "spec": {"resources": {"requests": {"storage": "5Gi"}}, "storageClassName": "fast"}, "status": {"phase": "Pending"}});
    let (cols, c) = render("", "persistentvolumeclaims", pending, 60);
    assert_eq!(
        cols,
        [
            "Name",
            "Status",
            "Volume",
            "Capacity",
            "Access Modes",
            "StorageClass",
            "VolumeAttributesClass",
            "Age",
            "VolumeMode"
        ]
    );
    assert_eq!(
        c,
        json!([
            "data", "Pending", "", "", "", "fast", "<unset>", "60s", "<unset>"
        ])
    );

    let bound = json!({
        "metadata": meta("data"),
        "spec": {"volumeName": "pv-1", "volumeMode": "Block"},
        "status": {"phase": "Bound", "capacity": {"storage": "5Gi"}, "accessModes": ["ReadWriteOnce"]}
    });
    let (_, c) = render("", "persistentvolumeclaims", bound, 60);
    assert_eq!(
        c,
        json!([
            "data", "Bound", "pv-1", "5Gi", "RWO", "", "<unset>", "60s", "Block"
        ])
    );
}

#[test]
fn resource_quota_request_and_limit() {
    let rq = json!({
        "metadata": meta("quota"),
        "status": {
            "hard": {"pods": "10", "limits.memory": "2Gi", "requests.cpu": "2"},
            "used": {"pods": "3", "limits.memory": "512Mi", "requests.cpu": "500m"}
        }
    });
    let (cols, c) = render("", "resourcequotas", rq, 60);
    assert_eq!(cols, ["Name", "Request", "Limit", "Age"]);
    assert_eq!(
        c,
        json!([
            "quota",
            "pods: 3/10, requests.cpu: 500m/2",
            "limits.memory: 512Mi/2Gi",
            "60s"
        ])
    );
}

#[test]
fn statefulsets_daemonsets_replicasets_revisions() {
    let sts = json!({"metadata": meta("db"), "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "pg", "image": "postgres:16"}]}}}, "status": {"readyReplicas": 1}});
    let (cols, c) = render("apps", "statefulsets", sts, 60);
    assert_eq!(cols, ["Name", "Ready", "Age", "Containers", "Images"]);
    assert_eq!(c, json!(["db", "1/3", "60s", "pg", "postgres:16"]));

    let ds = json!({
        "metadata": meta("agent"),
        "spec": {"selector": {"matchLabels": {"app": "agent"}}, "template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}, "containers": [{"name": "a", "image": "agent:1"}]}}},
        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3, "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2}
    });
    let (cols, c) = render("apps", "daemonsets", ds, 60);
    assert_eq!(
        cols,
        [
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Up-to-date",
            "Available",
            "Node Selector",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    assert_eq!(
        c,
        json!([
            "agent",
            3,
            3,
            2,
            3,
            2,
            "kubernetes.io/os=linux",
            "60s",
            "a",
            "agent:1",
            "app=agent"
        ])
    );

    let rs = json!({
        "metadata": meta("web-5d"),
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["db"]}]}},
        "status": {"replicas": 2, "readyReplicas": 1}
    });
    let (cols, c) = render("apps", "replicasets", rs, 60);
    assert_eq!(
        cols,
        [
            "Name",
            "Desired",
            "Current",
            "Ready",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    assert_eq!(
        c,
        json!(["web-5d", 2, 2, 1, "60s", "", "", "app=web,tier notin (db)"])
    );

    let mut m = meta("agent-7f");
    m["ownerReferences"] = json!([{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "agent", "controller": true, "uid": "x"}]);
    let (cols, c) = render(
        "apps",
        "controllerrevisions",
        json!({"metadata": m, "revision": 4}),
        60,
    );
    assert_eq!(cols, ["Name", "Controller", "Revision", "Age"]);
    assert_eq!(c, json!(["agent-7f", "daemonset.apps/agent", 4, "60s"]));
}

#[test]
fn cronjobs() {
    let cj = json!({
        "metadata": meta("backup"),
        "spec": {"schedule": "*/5 * * * *", "suspend": false, "jobTemplate": {"spec": {"template": {"spec": {"containers": [{"name": "b", "image": "backup:2"}]}}}}},
        "status": {"active": [{"name": "backup-1"}], "lastScheduleTime": "2024-01-01T00:55:00Z"}
    });
    let (cols, c) = render("batch", "cronjobs", cj, 3600);
    assert_eq!(
        cols,
        [
            "Name",
            "Schedule",
            "Timezone",
            "Suspend",
            "Active",
            "Last Schedule",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    assert_eq!(
        c,
        json!([
            "backup",
            "*/5 * * * *",
            "<none>",
            "False",
            1,
            "5m",
            "60m",
            "b",
            "backup:2",
            "<none>"
        ])
    );
}

#[test]
fn smaller_groups() {
    let (cols, c) = render(
        "coordination.k8s.io",
        "leases",
        json!({"metadata": meta("kube-scheduler"), "spec": {"holderIdentity": "cp-1_abc"}}),
        60,
    );
    assert_eq!(cols, ["Name", "Holder", "Age"]);
    assert_eq!(c, json!(["kube-scheduler", "cp-1_abc", "60s"]));

    let es = json!({
        "metadata": meta("web-abc"), "addressType": "IPv4",
        "ports": [{"port": 80}, {"name": "metrics"}, {}],
        "endpoints": [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2", "10.0.0.3", "10.0.0.4"]}]
    });
    let (cols, c) = render("discovery.k8s.io", "endpointslices", es, 60);
    assert_eq!(cols, ["Name", "AddressType", "Ports", "Endpoints", "Age"]);
    assert_eq!(
        c,
        json!([
            "web-abc",
            "IPv4",
            "80,metrics,*",
            "10.0.0.1,10.0.0.2,10.0.0.3 + 1 more...",
            "60s"
        ])
    );

    let ing = json!({
        "metadata": meta("web"),
        "spec": {"ingressClassName": "nginx", "rules": [{"host": "a.example.com"}, {"host": "b.example.com"}], "tls": [{"hosts": ["a.example.com"]}]},
        "status": {"loadBalancer": {"ingress": [{"ip": "203.0.113.10"}]}}
    });
    let (cols, c) = render("networking.k8s.io", "ingresses", ing, 60);
    assert_eq!(cols, ["Name", "Class", "Hosts", "Address", "Ports", "Age"]);
    assert_eq!(
        c,
        json!([
            "web",
            "nginx",
            "a.example.com,b.example.com",
            "203.0.113.10",
            "80, 443",
            "60s"
        ])
    );
    let (_, c) = render(
        "networking.k8s.io",
        "ingresses",
        json!({"metadata": meta("bare"), "spec": {}}),
        60,
    );
    assert_eq!(c, json!(["bare", "<none>", "*", "", "80", "60s"]));

    let ic = json!({"metadata": meta("nginx"), "spec": {"controller": "k8s.io/ingress-nginx", "parameters": {"apiGroup": "k8s.example.com", "kind": "IngressParameters", "name": "external-lb"}}});
    let (cols, c) = render("networking.k8s.io", "ingressclasses", ic, 60);
    assert_eq!(cols, ["Name", "Controller", "Parameters", "Age"]);
    assert_eq!(
        c,
        json!([
            "nginx",
            "k8s.io/ingress-nginx",
            "IngressParameters.k8s.example.com/external-lb",
            "60s"
        ])
    );

    let (cols, c) = render(
        "networking.k8s.io",
        "networkpolicies",
        json!({"metadata": meta("deny"), "spec": {"podSelector": {}}}),
        60,
    );
    assert_eq!(cols, ["Name", "Pod-Selector", "Age"]);
    assert_eq!(c, json!(["deny", "<none>", "60s"]));

    let pdb = json!({"metadata": meta("web"), "spec": {"minAvailable": "50%"}, "status": {"disruptionsAllowed": 1}});
    let (cols, c) = render("policy", "poddisruptionbudgets", pdb, 60);
    assert_eq!(
        cols,
        [
            "Name",
            "Min Available",
            "Max Unavailable",
            "Allowed Disruptions",
            "Age"
        ]
    );
    assert_eq!(c, json!(["web", "50%", "N/A", 1, "60s"]));

    let mut m = meta("standard");
    m["annotations"] = json!({"storageclass.kubernetes.io/is-default-class": "true"});
    let sc = json!({"metadata": m, "provisioner": "rancher.io/local-path", "volumeBindingMode": "WaitForFirstConsumer"});
    let (cols, c) = render("storage.k8s.io", "storageclasses", sc, 60);
    assert_eq!(
        cols,
        [
            "Name",
            "Provisioner",
            "ReclaimPolicy",
            "VolumeBindingMode",
            "AllowVolumeExpansion",
            "Age"
        ]
    );
    assert_eq!(
        c,
        json!([
            "standard (default)",
            "rancher.io/local-path",
            "Delete",
            "WaitForFirstConsumer",
            false,
            "60s"
        ])
    );

    let pc = json!({"metadata": meta("system-cluster-critical"), "value": 2_000_000_000, "globalDefault": false, "preemptionPolicy": "PreemptLowerPriority"});
    let (cols, c) = render("scheduling.k8s.io", "priorityclasses", pc, 60);
    assert_eq!(
        cols,
        ["Name", "Value", "Global-Default", "Age", "PreemptionPolicy"]
    );
    assert_eq!(
        c,
        json!([
            "system-cluster-critical",
            2_000_000_000i64,
            false,
            "60s",
            "PreemptLowerPriority"
        ])
    );
}
