//! Core (`v1`) kinds other than pods and events.

use crate::descriptions as d;
use crate::quantity::quantity;
use crate::util::{
    arr, container_cells, format_labels, int, int_or, is_set, join_host_port, map_len, s, s_or,
    truthy,
};
use crate::{AGE, Column, Ctx, NAME, Row, name, row};
use serde_json::Value;

const CONTAINERS_DESC: &str = "Names of each container in the template.";
const IMAGES_DESC: &str = "Images referenced by each container in the template.";

/// `kubectl get namespaces` columns.
pub(crate) static NAMESPACE_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Status", "string", "The status of the namespace"),
    AGE,
];

/// Name, Status (the phase; `Active` as the API defaults it), Age.
pub(crate) fn namespace_row(ns: &Value, ctx: &Ctx) -> Row {
    let phase = match s(&ns["status"]["phase"]) {
        "" if is_set(&ns["metadata"]["deletionTimestamp"]) => "Terminating",
        "" => "Active",
        p => p,
    };
    row![name(ns), phase, ctx.age(ns)]
}

/// `kubectl get services` columns.
pub(crate) static SERVICE_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Type", "string", d::SVC_TYPE),
    Column::new("Cluster-IP", "string", d::SVC_CLUSTER_IP),
    Column::new("External-IP", "string", d::SVC_EXTERNAL_IPS),
    Column::new("Port(s)", "string", d::SVC_PORTS),
    AGE,
    Column::new("Selector", "string", d::SVC_SELECTOR).wide(),
];

/// `loadBalancerStatusStringer` (wide, so never clipped): sorted unique IPs or hostnames.
pub(crate) fn load_balancer_ingress(status: &Value) -> String {
    let mut out: Vec<&str> = arr(&status["ingress"])
        .iter()
        .map(|i| {
            if s(&i["ip"]).is_empty() {
                s(&i["hostname"])
            } else {
                s(&i["ip"])
            }
        })
        .filter(|x| !x.is_empty())
        .collect();
    out.sort_unstable();
    out.dedup();
    out.join(",")
}

fn service_external_ip(svc: &Value, ty: &str) -> String {
    let external: Vec<&str> = arr(&svc["spec"]["externalIPs"]).iter().map(s).collect();
    match ty {
        "ClusterIP" | "NodePort" if !external.is_empty() => external.join(","),
        "ClusterIP" | "NodePort" => "<none>".to_owned(),
        "LoadBalancer" => {
            let lb = load_balancer_ingress(&svc["status"]["loadBalancer"]);
            if !external.is_empty() {
                let mut all: Vec<&str> = if lb.is_empty() {
                    Vec::new()
                } else {
                    lb.split(',').collect()
                };
                all.extend(external);
                all.join(",")
            } else if !lb.is_empty() {
                lb
            } else {
                "<pending>".to_owned()
            }
        }
        "ExternalName" => s(&svc["spec"]["externalName"]).to_owned(),
        _ => "<unknown>".to_owned(),
    }
}

/// `makePortString`: "80/TCP,443:30443/TCP".
fn service_ports(spec: &Value) -> String {
    let ports: Vec<String> = arr(&spec["ports"])
        .iter()
        .map(|p| {
            let proto = s_or(&p["protocol"], "TCP");
            let node_port = int(&p["nodePort"]);
            if node_port > 0 {
                format!("{}:{node_port}/{proto}", int(&p["port"]))
            } else {
                format!("{}/{proto}", int(&p["port"]))
            }
        })
        .collect();
    if ports.is_empty() {
        "<none>".to_owned()
    } else {
        ports.join(",")
    }
}

/// Name, Type, Cluster-IP, External-IP, Port(s), Age, Selector.
pub(crate) fn service_row(svc: &Value, ctx: &Ctx) -> Row {
    let spec = &svc["spec"];
    let ty = s_or(&spec["type"], "ClusterIP");
    let cluster_ip = arr(&spec["clusterIPs"])
        .first()
        .map(s)
        .filter(|x| !x.is_empty())
        .unwrap_or_else(|| s(&spec["clusterIP"]));
    let cluster_ip = if cluster_ip.is_empty() {
        "<none>"
    } else {
        cluster_ip
    };
    row![
        name(svc),
        ty,
        cluster_ip,
        service_external_ip(svc, ty),
        service_ports(spec),
        ctx.age(svc),
        format_labels(&spec["selector"]),
    ]
}

/// `kubectl get endpoints` columns.
pub(crate) static ENDPOINTS_COLUMNS: &[Column] =
    &[NAME, Column::new("Endpoints", "string", d::EP_SUBSETS), AGE];

/// `formatEndpoints` with all ports: up to three "ip:port" then "+ N more...".
fn format_endpoints(ep: &Value) -> String {
    let subsets = arr(&ep["subsets"]);
    if subsets.is_empty() {
        return "<none>".to_owned();
    }
    const MAX: usize = 3;
    let mut list: Vec<String> = Vec::new();
    let mut more = false;
    let mut count = 0usize;
    for ss in subsets {
        let addresses = arr(&ss["addresses"]);
        let ports = arr(&ss["ports"]);
        if ports.is_empty() {
            // Headless services may have no ports.
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(s(&a["ip"]).to_owned());
            }
            continue;
        }
        for port in ports {
            count += addresses.len();
            for a in addresses {
                if list.len() == MAX {
                    more = true;
                    break;
                }
                list.push(join_host_port(s(&a["ip"]), int(&port["port"])));
            }
        }
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", count - MAX)
    } else {
        ret
    }
}

/// Name, Endpoints, Age.
pub(crate) fn endpoints_row(ep: &Value, ctx: &Ctx) -> Row {
    row![name(ep), format_endpoints(ep), ctx.age(ep)]
}

/// `kubectl get nodes` columns.
pub(crate) static NODE_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Status", "string", "The status of the node"),
    Column::new("Roles", "string", "The roles of the node"),
    AGE,
    Column::new("Version", "string", d::NODE_KUBELET),
    Column::new("Internal-IP", "string", d::NODE_ADDRESSES).wide(),
    Column::new("External-IP", "string", d::NODE_ADDRESSES).wide(),
    Column::new("OS-Image", "string", d::NODE_OS_IMAGE).wide(),
    Column::new("Kernel-Version", "string", d::NODE_KERNEL).wide(),
    Column::new("Container-Runtime", "string", d::NODE_RUNTIME).wide(),
];

/// `findNodeRoles`: `node-role.kubernetes.io/<role>` keys and `kubernetes.io/role` values.
fn node_roles(node: &Value) -> String {
    let mut roles: Vec<&str> = Vec::new();
    if let Some(labels) = node["metadata"]["labels"].as_object() {
        for (k, v) in labels {
            if let Some(role) = k.strip_prefix("node-role.kubernetes.io/") {
                if !role.is_empty() {
                    roles.push(role);
                }
            } else if k == "kubernetes.io/role" && !s(v).is_empty() {
                roles.push(s(v));
            }
        }
    }
    roles.sort_unstable();
    roles.dedup();
    if roles.is_empty() {
        "<none>".to_owned()
    } else {
        roles.join(",")
    }
}

fn node_address<'a>(node: &'a Value, ty: &str) -> &'a str {
    arr(&node["status"]["addresses"])
        .iter()
        .find(|a| s(&a["type"]) == ty)
        .map_or("<none>", |a| s(&a["address"]))
}

/// Name, Status ("Ready", "NotReady,SchedulingDisabled"...), Roles, Age, Version and the wide columns.
pub(crate) fn node_row(node: &Value, ctx: &Ctx) -> Row {
    let ready = arr(&node["status"]["conditions"])
        .iter()
        .rev()
        .find(|c| s(&c["type"]) == "Ready");
    let mut status = vec![match ready {
        Some(c) if s(&c["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if truthy(&node["spec"]["unschedulable"]) {
        status.push("SchedulingDisabled");
    }
    let info = &node["status"]["nodeInfo"];
    row![
        name(node),
        status.join(","),
        node_roles(node),
        ctx.age(node),
        s(&info["kubeletVersion"]),
        node_address(node, "InternalIP"),
        node_address(node, "ExternalIP"),
        s_or(&info["osImage"], "<unknown>"),
        s_or(&info["kernelVersion"], "<unknown>"),
        s_or(&info["containerRuntimeVersion"], "<unknown>"),
    ]
}

/// `kubectl get configmaps` columns.
pub(crate) static CONFIGMAP_COLUMNS: &[Column] =
    &[NAME, Column::new("Data", "string", d::CM_DATA), AGE];

/// Name, Data (entries in `data` plus `binaryData`), Age.
pub(crate) fn configmap_row(cm: &Value, ctx: &Ctx) -> Row {
    row![
        name(cm),
        (map_len(&cm["data"]) + map_len(&cm["binaryData"])) as i64,
        ctx.age(cm)
    ]
}

/// `kubectl get secrets` columns.
pub(crate) static SECRET_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Type", "string", d::SECRET_TYPE),
    Column::new("Data", "string", d::SECRET_DATA),
    AGE,
];

/// Name, Type (`Opaque` as defaulted), Data, Age.
pub(crate) fn secret_row(secret: &Value, ctx: &Ctx) -> Row {
    row![
        name(secret),
        s_or(&secret["type"], "Opaque"),
        map_len(&secret["data"]) as i64,
        ctx.age(secret)
    ]
}

/// `kubectl get serviceaccounts` columns (1.33 still shows Secrets).
pub(crate) static SERVICEACCOUNT_COLUMNS: &[Column] =
    &[NAME, Column::new("Secrets", "string", d::SA_SECRETS), AGE];

/// Name, Secrets, Age.
pub(crate) fn serviceaccount_row(sa: &Value, ctx: &Ctx) -> Row {
    row![name(sa), arr(&sa["secrets"]).len() as i64, ctx.age(sa)]
}

/// `kubectl get persistentvolumes` columns.
pub(crate) static PV_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Capacity", "string", d::PV_CAPACITY),
    Column::new("Access Modes", "string", d::PV_ACCESS),
    Column::new("Reclaim Policy", "string", d::PV_RECLAIM),
    Column::new("Status", "string", d::PV_PHASE),
    Column::new("Claim", "string", d::PV_CLAIM),
    Column::new("StorageClass", "string", "StorageClass of the pv"),
    Column::new(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pv",
    ),
    Column::new("Reason", "string", d::PV_REASON),
    AGE,
    Column::new("VolumeMode", "string", d::PV_MODE).wide(),
];

/// `GetAccessModesAsString`: "RWO,ROX,RWX,RWOP" in that order.
fn access_modes(modes: &Value) -> String {
    let modes: Vec<&str> = arr(modes).iter().map(s).collect();
    [
        ("ReadWriteOnce", "RWO"),
        ("ReadOnlyMany", "ROX"),
        ("ReadWriteMany", "RWX"),
        ("ReadWriteOncePod", "RWOP"),
    ]
    .iter()
    .filter(|(mode, _)| modes.contains(mode))
    .map(|(_, short)| *short)
    .collect::<Vec<_>>()
    .join(",")
}

/// The storage class: the beta annotation wins over `spec.storageClassName`.
fn storage_class(obj: &Value) -> &str {
    let ann = &obj["metadata"]["annotations"]["volume.beta.kubernetes.io/storage-class"];
    if ann.is_string() {
        s(ann)
    } else {
        s(&obj["spec"]["storageClassName"])
    }
}

fn phase_or_terminating(obj: &Value) -> &str {
    if is_set(&obj["metadata"]["deletionTimestamp"]) {
        "Terminating"
    } else {
        s(&obj["status"]["phase"])
    }
}

/// Name, Capacity, Access Modes, Reclaim Policy, Status, Claim, StorageClass,
/// VolumeAttributesClass, Reason, Age, VolumeMode.
pub(crate) fn pv_row(pv: &Value, ctx: &Ctx) -> Row {
    let spec = &pv["spec"];
    let claim = &spec["claimRef"];
    let claim = if claim.is_object() {
        format!("{}/{}", s(&claim["namespace"]), s(&claim["name"]))
    } else {
        String::new()
    };
    row![
        name(pv),
        quantity(&spec["capacity"]["storage"]),
        access_modes(&spec["accessModes"]),
        s(&spec["persistentVolumeReclaimPolicy"]),
        phase_or_terminating(pv),
        claim,
        storage_class(pv),
        s_or(&spec["volumeAttributesClassName"], "<unset>"),
        s(&pv["status"]["reason"]),
        ctx.age(pv),
        s_or(&spec["volumeMode"], "<unset>"),
    ]
}

/// `kubectl get persistentvolumeclaims` columns.
pub(crate) static PVC_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Status", "string", d::PVC_PHASE),
    Column::new("Volume", "string", d::PVC_VOLUME),
    Column::new("Capacity", "string", d::PVC_CAPACITY),
    Column::new("Access Modes", "string", d::PVC_ACCESS),
    Column::new("StorageClass", "string", "StorageClass of the pvc"),
    Column::new(
        "VolumeAttributesClass",
        "string",
        "VolumeAttributesClass of the pvc",
    ),
    AGE,
    Column::new("VolumeMode", "string", d::PVC_MODE).wide(),
];

/// Name, Status, Volume, Capacity and Access Modes (once bound), StorageClass,
/// VolumeAttributesClass, Age, VolumeMode.
pub(crate) fn pvc_row(pvc: &Value, ctx: &Ctx) -> Row {
    let spec = &pvc["spec"];
    let volume = s(&spec["volumeName"]);
    let (capacity, modes) = if volume.is_empty() {
        (String::new(), String::new())
    } else {
        (
            quantity(&pvc["status"]["capacity"]["storage"]),
            access_modes(&pvc["status"]["accessModes"]),
        )
    };
    row![
        name(pvc),
        phase_or_terminating(pvc),
        volume,
        capacity,
        modes,
        storage_class(pvc),
        s_or(&spec["volumeAttributesClassName"], "<unset>"),
        ctx.age(pvc),
        s_or(&spec["volumeMode"], "<unset>"),
    ]
}

/// `kubectl get resourcequotas` columns.
pub(crate) static RESOURCEQUOTA_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Request",
        "string",
        "Request represents a minimum amount of cpu/memory that a container may consume.",
    ),
    Column::new(
        "Limit",
        "string",
        "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
    ),
    AGE,
];

/// Name, Request ("pods: 1/10, requests.cpu: 0/2"), Limit ("limits.*" entries), Age.
pub(crate) fn resourcequota_row(rq: &Value, ctx: &Ctx) -> Row {
    let hard = &rq["status"]["hard"];
    let mut resources: Vec<&String> = hard
        .as_object()
        .map(|m| m.keys().collect())
        .unwrap_or_default();
    resources.sort();
    let (mut request, mut limit) = (Vec::new(), Vec::new());
    for r in resources {
        let entry = format!(
            "{r}: {}/{}",
            quantity(&rq["status"]["used"][r.as_str()]),
            quantity(&hard[r.as_str()])
        );
        if r.split('.').count() > 1 && r.split('.').next() == Some("limits") {
            limit.push(entry);
        } else {
            request.push(entry);
        }
    }
    row![name(rq), request.join(", "), limit.join(", "), ctx.age(rq)]
}

/// `kubectl get replicationcontrollers` columns.
pub(crate) static RC_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Desired", "integer", d::RC_REPLICAS),
    Column::new("Current", "integer", d::RC_STATUS_REPLICAS),
    Column::new("Ready", "integer", d::RC_READY),
    AGE,
    Column::new("Containers", "string", CONTAINERS_DESC).wide(),
    Column::new("Images", "string", IMAGES_DESC).wide(),
    Column::new("Selector", "string", d::RC_SELECTOR).wide(),
];

/// Name, Desired, Current, Ready, Age, Containers, Images, Selector.
pub(crate) fn rc_row(rc: &Value, ctx: &Ctx) -> Row {
    let (names, images) = container_cells(&rc["spec"]["template"]["spec"]);
    row![
        name(rc),
        int_or(&rc["spec"]["replicas"], 1),
        int(&rc["status"]["replicas"]),
        int(&rc["status"]["readyReplicas"]),
        ctx.age(rc),
        names,
        images,
        format_labels(&rc["spec"]["selector"]),
    ]
}

/// `kubectl get podtemplates` columns.
pub(crate) static PODTEMPLATE_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Containers", "string", CONTAINERS_DESC),
    Column::new("Images", "string", IMAGES_DESC),
    Column::new("Pod Labels", "string", "The labels for the pod template."),
];

/// Name, Containers, Images, Pod Labels.
pub(crate) fn podtemplate_row(pt: &Value, _ctx: &Ctx) -> Row {
    let (names, images) = container_cells(&pt["template"]["spec"]);
    row![
        name(pt),
        names,
        images,
        format_labels(&pt["template"]["metadata"]["labels"])
    ]
}
