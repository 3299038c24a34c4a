//! Table output checked cell by cell against what upstream's printers produce.

use rkube_printers::{IncludeObject, human_duration, table};
use serde_json::{Value, json};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// 2024-01-01T00:00:00Z.
const T0: u64 = 1_704_067_200;

/// "now" = T0 + `secs`.
fn now(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(T0 + secs)
}

fn render(group: &str, resource: &str, objects: &[Value], now_secs: u64) -> Value {
    table(
        group,
        resource,
        objects,
        IncludeObject::Metadata,
        true,
        "42",
        None,
        now(now_secs),
    )
}

fn cells(group: &str, resource: &str, obj: Value, now_secs: u64) -> Vec<Value> {
    let t = render(group, resource, &[obj], now_secs);
    t["rows"][0]["cells"].as_array().expect("cells").clone()
}

fn column_names(t: &Value) -> Vec<String> {
    t["columnDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

fn meta(name: &str) -> Value {
    json!({"name": name, "namespace": "default", "uid": "u-1", "resourceVersion": "7", "creationTimestamp": "2024-01-01T00:00:00Z"})
}

#[test]
fn human_duration_is_public_and_exact() {
    let s = 1_000_000_000i128;
    let cases = [
        (0, "0s"),
        (45 * s, "45s"),
        (5 * 60 * s, "5m"),
        (5 * 60 * s + 30 * s, "5m30s"),
        (3 * 3600 * s, "3h"),
        (2 * 86_400 * s, "2d"),
        (4 * 86_400 * s + 5 * 3600 * s, "4d5h"),
        (400 * 86_400 * s, "400d"),
        (-5 * s, "<invalid>"),
    ];
    for (d, want) in cases {
        assert_eq!(human_duration(d), want);
    }
}

#[test]
fn running_pod_with_ip_and_node() {
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": meta("web-1"),
        "spec": {"nodeName": "node-a", "containers": [{"name": "app", "image": "nginx"}]},
        "status": {
            "phase": "Running", "podIP": "10.244.0.5", "podIPs": [{"ip": "10.244.0.5"}],
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "state": {"running": {"startedAt": "2024-01-01T00:00:05Z"}}}]
        }
    });
    let t = render("", "pods", std::slice::from_ref(&pod), 45);
    assert_eq!(
        column_names(&t),
        [
            "Name",
            "Ready",
            "Status",
            "Restarts",
            "Age",
            "IP",
            "Node",
            "Nominated Node",
            "Readiness Gates"
        ]
    );
    let defs = t["columnDefinitions"].as_array().unwrap();
    assert_eq!(defs[0]["format"], "name");
    assert_eq!(defs[0]["type"], "string");
    assert_eq!(defs[4]["priority"], 0);
    assert_eq!(defs[5]["priority"], 1);
    assert_eq!(
        t["rows"][0]["cells"],
        json!([
            "web-1",
            "1/1",
            "Running",
            "0",
            "45s",
            "10.244.0.5",
            "node-a",
            "<none>",
            "<none>"
        ])
    );
    assert!(t["rows"][0].get("conditions").is_none());
}

#[test]
fn pending_pod_container_creating() {
    let pod = json!({
        "metadata": meta("web-2"),
        "spec": {"containers": [{"name": "a"}, {"name": "b"}]},
        "status": {
            "phase": "Pending",
            "containerStatuses": [
                {"name": "a", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}},
                {"name": "b", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "ContainerCreating"}}}
            ]
        }
    });
    assert_eq!(
        cells("", "pods", pod, 3 * 60 + 10),
        json!([
            "web-2",
            "0/2",
            "ContainerCreating",
            "0",
            "3m10s",
            "<none>",
            "<none>",
            "<none>",
            "<none>"
        ])
        .as_array()
        .unwrap()
        .clone()
    );
}

#[test]
fn crashloop_pod_shows_restarts_with_last_restart_age() {
    let pod = json!({
        "metadata": meta("crashy"),
        "spec": {"containers": [{"name": "app"}]},
        "status": {
            "phase": "Running",
            "containerStatuses": [{
                "name": "app", "ready": false, "restartCount": 5,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2024-01-01T09:58:00Z"}}
            }]
        }
    });
    let c = cells("", "pods", pod, 10 * 3600);
    assert_eq!(c[1], "0/1");
    assert_eq!(c[2], "CrashLoopBackOff");
    assert_eq!(c[3], "5 (2m ago)");
    assert_eq!(c[4], "10h");
}

#[test]
fn restarts_without_known_time_are_plain() {
    let pod = json!({
        "metadata": meta("p"),
        "spec": {"containers": [{"name": "app"}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "app", "ready": true, "restartCount": 3, "state": {"running": {}}}]}
    });
    let c = cells("", "pods", pod, 60);
    assert_eq!(c[1], "1/1");
    assert_eq!(c[2], "Running");
    assert_eq!(c[3], "3");
}

#[test]
fn terminating_pod() {
    let mut m = meta("going");
    m["deletionTimestamp"] = json!("2024-01-01T00:10:00Z");
    let pod = json!({
        "metadata": m,
        "spec": {"containers": [{"name": "app"}]},
        "status": {"phase": "Running", "containerStatuses": [{"name": "app", "ready": true, "restartCount": 0, "state": {"running": {}}}]}
    });
    let c = cells("", "pods", pod, 11 * 60);
    assert_eq!(c[1], "1/1");
    assert_eq!(c[2], "Terminating");
    assert_eq!(c[4], "11m");
}

#[test]
fn init_containers_and_completed_pods() {
    let pod = json!({
        "metadata": meta("init"),
        "spec": {"initContainers": [{"name": "setup"}], "containers": [{"name": "app"}]},
        "status": {
            "phase": "Pending",
            "initContainerStatuses": [{"name": "setup", "ready": false, "restartCount": 0, "state": {"running": {}}}],
            "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]
        }
    });
    let c = cells("", "pods", pod, 5);
    assert_eq!(c[1], "0/1");
    assert_eq!(c[2], "Init:0/1");

    let failed_init = json!({
        "metadata": meta("init-fail"),
        "spec": {"initContainers": [{"name": "setup"}], "containers": [{"name": "app"}]},
        "status": {"phase": "Pending", "initContainerStatuses": [{"name": "setup", "restartCount": 2, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}
    });
    let c = cells("", "pods", failed_init, 5);
    assert_eq!(c[2], "Init:CrashLoopBackOff");
    assert_eq!(c[3], "2");

    let done = json!({
        "metadata": meta("job-pod"),
        "spec": {"containers": [{"name": "app"}]},
        "status": {"phase": "Succeeded", "containerStatuses": [{"name": "app", "ready": false, "restartCount": 0, "state": {"terminated": {"exitCode": 0, "reason": "Completed"}}}]}
    });
    let t = render("", "pods", &[done], 5);
    assert_eq!(t["rows"][0]["cells"][2], "Completed");
    assert_eq!(
        t["rows"][0]["conditions"],
        json!([{"type": "Completed", "status": "True", "reason": "Succeeded", "message": "The pod has completed successfully."}])
    );
}

#[test]
fn deployment_ready_counts() {
    let dep = json!({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta("web"),
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [{"name": "nginx", "image": "nginx:1.25"}, {"name": "side", "image": "busybox"}]}}
        },
        "status": {"replicas": 3, "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
    });
    let t = render(
        "apps",
        "deployments",
        std::slice::from_ref(&dep),
        2 * 86_400,
    );
    assert_eq!(
        column_names(&t),
        [
            "Name",
            "Ready",
            "Up-to-date",
            "Available",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    assert_eq!(
        t["rows"][0]["cells"],
        json!([
            "web",
            "2/3",
            3,
            2,
            "2d",
            "nginx,side",
            "nginx:1.25,busybox",
            "app=web"
        ])
    );

    let fresh = json!({"metadata": meta("new"), "spec": {"replicas": 2}});
    assert_eq!(
        cells("apps", "deployments", fresh, 1)[..4],
        [json!("new"), json!("0/2"), json!(0), json!(0)]
    );
}

#[test]
fn service_ports_and_external_ips() {
    let svc = |ty: &str, ports: Value, extra: Value| {
        let mut spec = json!({"type": ty, "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "ports": ports, "selector": {"app": "web"}});
        if let Value::Object(m) = extra {
            for (k, v) in m {
                spec[k] = v;
            }
        }
        json!({"metadata": meta("svc"), "spec": spec})
    };
    let c = cells(
        "",
        "services",
        svc(
            "ClusterIP",
            json!([{"port": 80, "protocol": "TCP"}]),
            json!({}),
        ),
        60,
    );
    assert_eq!(
        c,
        json!([
            "svc",
            "ClusterIP",
            "10.96.0.10",
            "<none>",
            "80/TCP",
            "60s",
            "app=web"
        ])
        .as_array()
        .unwrap()
        .clone()
    );

    let c = cells(
        "",
        "services",
        svc(
            "NodePort",
            json!([{"port": 80, "nodePort": 30080, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]),
            json!({}),
        ),
        60,
    );
    assert_eq!(c[4], "80:30080/TCP,53/UDP");

    let c = cells(
        "",
        "services",
        svc(
            "LoadBalancer",
            json!([{"port": 443, "nodePort": 30443, "protocol": "TCP"}]),
            json!({}),
        ),
        60,
    );
    assert_eq!(c[3], "<pending>");
    assert_eq!(c[4], "443:30443/TCP");

    let mut lb = svc(
        "LoadBalancer",
        json!([{"port": 80, "protocol": "TCP"}]),
        json!({"externalIPs": ["5.6.7.8"]}),
    );
    lb["status"] =
        json!({"loadBalancer": {"ingress": [{"ip": "1.2.3.4"}, {"hostname": "lb.example.com"}]}});
    assert_eq!(
        cells("", "services", lb, 60)[3],
        "1.2.3.4,lb.example.com,5.6.7.8"
    );

    let headless =
        json!({"metadata": meta("h"), "spec": {"type": "ClusterIP", "clusterIP": "None"}});
    let c = cells("", "services", headless, 60);
    assert_eq!(c[2], "None");
    assert_eq!(c[4], "<none>");
    assert_eq!(c[6], "<none>");
}

#[test]
fn node_ready_scheduling_disabled_with_roles() {
    let mut m = meta("cp-1");
    m["labels"] = json!({"node-role.kubernetes.io/control-plane": "", "node-role.kubernetes.io/etcd": "", "kubernetes.io/hostname": "cp-1"});
    let node = json!({
        "metadata": m,
        "spec": {"unschedulable": true},
        "status": {
            "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "192.168.1.10"}, {"type": "Hostname", "address": "cp-1"}],
            "nodeInfo": {"kubeletVersion": "v1.33.1", "osImage": "Debian GNU/Linux 12", "kernelVersion": "6.1.0", "containerRuntimeVersion": "containerd://1.7.0"}
        }
    });
    assert_eq!(
        cells("", "nodes", node, 3 * 3600 + 25 * 60),
        json!([
            "cp-1",
            "Ready,SchedulingDisabled",
            "control-plane,etcd",
            "3h25m",
            "v1.33.1",
            "192.168.1.10",
            "<none>",
            "Debian GNU/Linux 12",
            "6.1.0",
            "containerd://1.7.0"
        ])
        .as_array()
        .unwrap()
        .clone()
    );
    let bare = json!({"metadata": meta("n2"), "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
    let c = cells("", "nodes", bare, 60);
    assert_eq!(c[1], "NotReady");
    assert_eq!(c[2], "<none>");
    assert_eq!(c[7], "<unknown>");
    let c = cells("", "nodes", json!({"metadata": meta("n3")}), 60);
    assert_eq!(c[1], "Unknown");
}

#[test]
fn job_complete_with_duration() {
    let job = json!({
        "metadata": meta("pi"),
        "spec": {"completions": 1, "parallelism": 1, "template": {"spec": {"containers": [{"name": "pi", "image": "perl"}]}},
                 "selector": {"matchLabels": {"batch.kubernetes.io/controller-uid": "abc"}}},
        "status": {
            "succeeded": 1, "startTime": "2024-01-01T00:00:02Z", "completionTime": "2024-01-01T00:00:39Z",
            "conditions": [{"type": "SuccessCriteriaMet", "status": "True"}, {"type": "Complete", "status": "True"}]
        }
    });
    let t = render("batch", "jobs", std::slice::from_ref(&job), 600);
    assert_eq!(
        column_names(&t),
        [
            "Name",
            "Status",
            "Completions",
            "Duration",
            "Age",
            "Containers",
            "Images",
            "Selector"
        ]
    );
    assert_eq!(
        t["rows"][0]["cells"],
        json!([
            "pi",
            "Complete",
            "1/1",
            "37s",
            "10m",
            "pi",
            "perl",
            "batch.kubernetes.io/controller-uid=abc"
        ])
    );
    let running = json!({"metadata": meta("r"), "spec": {"parallelism": 2}, "status": {"startTime": "2024-01-01T00:00:00Z"}});
    let c = cells("batch", "jobs", running, 200);
    assert_eq!(
        c[1..4],
        [json!("Running"), json!("0/1 of 2"), json!("3m20s")]
    );
    let suspended = json!({"metadata": meta("s"), "spec": {"completions": 3}, "status": {"conditions": [{"type": "Suspended", "status": "True"}]}});
    let c = cells("batch", "jobs", suspended, 5);
    assert_eq!(c[1..4], [json!("Suspended"), json!("0/3"), json!("")]);
}

#[test]
fn include_object_modes() {
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta("cfg"), "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
    let objects = [cm.clone()];
    let t = table(
        "",
        "configmaps",
        &objects,
        IncludeObject::Metadata,
        true,
        "42",
        Some("next-page"),
        now(60),
    );
    assert_eq!(t["kind"], "Table");
    assert_eq!(t["apiVersion"], "meta.k8s.io/v1");
    assert_eq!(
        t["metadata"],
        json!({"resourceVersion": "42", "continue": "next-page"})
    );
    assert_eq!(t["rows"][0]["cells"], json!(["cfg", 3, "60s"]));
    assert_eq!(
        t["rows"][0]["object"],
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta("cfg")})
    );
    let t = table(
        "",
        "configmaps",
        &objects,
        IncludeObject::Object,
        true,
        "42",
        None,
        now(60),
    );
    assert_eq!(t["rows"][0]["object"], cm);
    assert_eq!(t["metadata"], json!({"resourceVersion": "42"}));
    let t = table(
        "",
        "configmaps",
        &objects,
        IncludeObject::None,
        true,
        "42",
        None,
        now(60),
    );
    assert!(t["rows"][0]["object"].is_null());

    assert_eq!(IncludeObject::parse(None), IncludeObject::Metadata);
    assert_eq!(IncludeObject::parse(Some("None")), IncludeObject::None);
    assert_eq!(IncludeObject::parse(Some("Object")), IncludeObject::Object);
    assert_eq!(
        IncludeObject::parse(Some("Metadata")),
        IncludeObject::Metadata
    );
    assert_eq!(IncludeObject::parse(Some("bogus")), IncludeObject::Metadata);
}

#[test]
fn without_columns_definitions_are_empty() {
    let t = table(
        "",
        "pods",
        &[],
        IncludeObject::Metadata,
        false,
        "1",
        None,
        now(0),
    );
    assert_eq!(t["columnDefinitions"], json!([]));
    assert_eq!(t["rows"], json!([]));
    let pod = json!({"metadata": meta("p"), "spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Pending"}});
    let t = table(
        "",
        "pods",
        &[pod],
        IncludeObject::None,
        false,
        "1",
        None,
        now(0),
    );
    assert_eq!(t["columnDefinitions"], json!([]));
    assert_eq!(t["rows"][0]["cells"][2], "Pending");
}

#[test]
fn unknown_resources_fall_back_to_name_and_age() {
    let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": meta("w1")});
    let t = render("example.com", "widgets", &[obj], 90);
    assert_eq!(column_names(&t), ["Name", "Age"]);
    assert_eq!(t["columnDefinitions"][0]["format"], "name");
    assert_eq!(t["rows"][0]["cells"], json!(["w1", "90s"]));
}

#[test]
fn roles_use_created_at() {
    let role = json!({"metadata": {"name": "reader", "creationTimestamp": "2024-01-01T00:00:00Z"}, "rules": []});
    let t = render("rbac.authorization.k8s.io", "roles", &[role], 90);
    assert_eq!(column_names(&t), ["Name", "Created At"]);
    assert_eq!(t["columnDefinitions"][1]["type"], "date");
    assert_eq!(
        t["rows"][0]["cells"],
        json!(["reader", "2024-01-01T00:00:00Z"])
    );
}

#[test]
fn rolebinding_and_events() {
    let rb = json!({
        "metadata": meta("view-binding"),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "view"},
        "subjects": [
            {"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"},
            {"kind": "Group", "name": "devs"}, {"kind": "ServiceAccount", "name": "ci", "namespace": "tools"}
        ]
    });
    assert_eq!(
        cells("rbac.authorization.k8s.io", "rolebindings", rb, 60),
        json!([
            "view-binding",
            "ClusterRole/view",
            "60s",
            "alice, bob",
            "devs",
            "tools/ci"
        ])
        .as_array()
        .unwrap()
        .clone()
    );

    let ev = json!({
        "metadata": meta("web-1.17a"),
        "involvedObject": {"kind": "Pod", "name": "web-1", "fieldPath": "spec.containers{app}"},
        "reason": "Pulled", "type": "Normal", "message": "  Successfully pulled image \n",
        "source": {"component": "kubelet", "host": "node-a"},
        "firstTimestamp": "2024-01-01T00:00:00Z", "lastTimestamp": "2024-01-01T00:04:00Z", "count": 4
    });
    let t = render("", "events", &[ev], 300);
    assert_eq!(
        column_names(&t)[..4],
        ["Last Seen", "Type", "Reason", "Object"]
    );
    assert_eq!(
        t["rows"][0]["cells"],
        json!([
            "60s",
            "Normal",
            "Pulled",
            "pod/web-1",
            "spec.containers{app}",
            "kubelet, node-a",
            "Successfully pulled image",
            "5m",
            4,
            "web-1.17a"
        ])
    );

    let ev2 = json!({
        "metadata": meta("dep.1"),
        "regarding": {"kind": "Deployment", "name": "web"},
        "reason": "ScalingReplicaSet", "type": "Normal", "note": "Scaled up",
        "eventTime": "2024-01-01T00:00:00.000000Z", "reportingController": "deployment-controller"
    });
    let c = cells("events.k8s.io", "events", ev2, 30);
    assert_eq!(
        c,
        json!([
            "30s",
            "Normal",
            "ScalingReplicaSet",
            "deployment/web",
            "",
            "deployment-controller",
            "Scaled up",
            "30s",
            1,
            "dep.1"
        ])
        .as_array()
        .unwrap()
        .clone()
    );
}
