//! Kinds of the smaller groups: coordination, discovery, rbac, networking,
//! policy, storage, scheduling, node and admissionregistration.

use crate::core::load_balancer_ingress;
use crate::descriptions as d;
use crate::util::{arr, format_label_selector, int, int_or_string, list_with_more, s, truthy};
use crate::{AGE, Column, Ctx, NAME, Row, name, row};
use serde_json::Value;

/// `kubectl get leases` columns.
pub(crate) static LEASE_COLUMNS: &[Column] =
    &[NAME, Column::new("Holder", "string", d::LEASE_HOLDER), AGE];

/// Name, Holder, Age.
pub(crate) fn lease_row(lease: &Value, ctx: &Ctx) -> Row {
    row![
        name(lease),
        s(&lease["spec"]["holderIdentity"]),
        ctx.age(lease)
    ]
}

/// `kubectl get endpointslices` columns.
pub(crate) static ENDPOINTSLICE_COLUMNS: &[Column] = &[
    NAME,
    Column::new("AddressType", "string", d::ES_ADDRESS_TYPE),
    Column::new("Ports", "string", d::ES_PORTS),
    Column::new("Endpoints", "string", d::ES_ENDPOINTS),
    AGE,
];

/// Name, AddressType, Ports ("80,443" or names, "*" when unset), Endpoints (addresses), Age.
pub(crate) fn endpointslice_row(es: &Value, ctx: &Ctx) -> Row {
    let ports: Vec<String> = arr(&es["ports"])
        .iter()
        .map(|p| {
            if p["port"].is_number() {
                int(&p["port"]).to_string()
            } else if let Some(n) = p["name"].as_str() {
                n.to_owned()
            } else {
                "*".to_owned()
            }
        })
        .collect();
    let addresses: Vec<String> = arr(&es["endpoints"])
        .iter()
        .flat_map(|e| arr(&e["addresses"]).iter().map(|a| s(a).to_owned()))
        .collect();
    row![
        name(es),
        s(&es["addressType"]),
        list_with_more(&ports, ports.len(), 3),
        list_with_more(&addresses, addresses.len(), 3),
        ctx.age(es),
    ]
}

/// `kubectl get rolebindings` columns.
pub(crate) static ROLEBINDING_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Role", "string", d::RB_ROLE_REF),
    AGE,
    Column::new("Users", "string", "Users in the roleBinding").wide(),
    Column::new("Groups", "string", "Groups in the roleBinding").wide(),
    Column::new(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the roleBinding",
    )
    .wide(),
];

/// `kubectl get clusterrolebindings` columns.
pub(crate) static CLUSTERROLEBINDING_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Role", "string", d::CRB_ROLE_REF),
    AGE,
    Column::new("Users", "string", "Users in the clusterRoleBinding").wide(),
    Column::new("Groups", "string", "Groups in the clusterRoleBinding").wide(),
    Column::new(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the clusterRoleBinding",
    )
    .wide(),
];

/// Name, Role "Kind/name", Age, Users, Groups, ServiceAccounts ("ns/name"), each ", "-joined.
pub(crate) fn rolebinding_row(rb: &Value, ctx: &Ctx) -> Row {
    let role_ref = &rb["roleRef"];
    let (mut users, mut groups, mut sas) = (Vec::new(), Vec::new(), Vec::new());
    for subject in arr(&rb["subjects"]) {
        match s(&subject["kind"]) {
            "ServiceAccount" => sas.push(format!(
                "{}/{}",
                s(&subject["namespace"]),
                s(&subject["name"])
            )),
            "User" => users.push(s(&subject["name"]).to_owned()),
            "Group" => groups.push(s(&subject["name"]).to_owned()),
            _ => {}
        }
    }
    row![
        name(rb),
        format!("{}/{}", s(&role_ref["kind"]), s(&role_ref["name"])),
        ctx.age(rb),
        users.join(", "),
        groups.join(", "),
        sas.join(", "),
    ]
}

/// `kubectl get ingresses` columns.
pub(crate) static INGRESS_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Class",
        "string",
        "The name of the IngressClass resource that should be used for additional configuration",
    ),
    Column::new(
        "Hosts",
        "string",
        "Hosts that incoming requests are matched against before the ingress rule",
    ),
    Column::new(
        "Address",
        "string",
        "Address is a list containing ingress points for the load-balancer",
    ),
    Column::new("Ports", "string", "Ports of TLS configurations that open"),
    AGE,
];

/// `formatHosts`: up to three rule hosts, "*" when none.
fn format_hosts(rules: &[Value]) -> String {
    const MAX: usize = 3;
    let mut list: Vec<&str> = Vec::new();
    let mut more = false;
    for rule in rules {
        if list.len() == MAX {
            more = true;
        }
        let host = s(&rule["host"]);
        if !more && !host.is_empty() {
            list.push(host);
        }
    }
    if list.is_empty() {
        return "*".to_owned();
    }
    let ret = list.join(",");
    if more {
        format!("{ret} + {} more...", rules.len() - MAX)
    } else {
        ret
    }
}

/// Name, Class, Hosts, Address, Ports ("80" or "80, 443" with TLS), Age.
pub(crate) fn ingress_row(ing: &Value, ctx: &Ctx) -> Row {
    let spec = &ing["spec"];
    let ports = if arr(&spec["tls"]).is_empty() {
        "80"
    } else {
        "80, 443"
    };
    row![
        name(ing),
        spec["ingressClassName"].as_str().unwrap_or("<none>"),
        format_hosts(arr(&spec["rules"])),
        load_balancer_ingress(&ing["status"]["loadBalancer"]),
        ports,
        ctx.age(ing),
    ]
}

/// `kubectl get ingressclasses` columns.
pub(crate) static INGRESSCLASS_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Controller",
        "string",
        "Controller that is responsible for handling this class",
    ),
    Column::new(
        "Parameters",
        "string",
        "A reference to a resource with additional parameters",
    ),
    AGE,
];

/// Name, Controller, Parameters ("Kind.apiGroup/name"), Age.
pub(crate) fn ingressclass_row(ic: &Value, ctx: &Ctx) -> Row {
    let params = &ic["spec"]["parameters"];
    let parameters = if params.is_object() {
        let mut p = s(&params["kind"]).to_owned();
        if let Some(g) = params["apiGroup"].as_str() {
            p = format!("{p}.{g}");
        }
        format!("{p}/{}", s(&params["name"]))
    } else {
        "<none>".to_owned()
    };
    row![
        name(ic),
        s(&ic["spec"]["controller"]),
        parameters,
        ctx.age(ic)
    ]
}

/// `kubectl get networkpolicies` columns.
pub(crate) static NETWORKPOLICY_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Pod-Selector", "string", d::NP_POD_SELECTOR),
    AGE,
];

/// Name, Pod-Selector, Age.
pub(crate) fn networkpolicy_row(np: &Value, ctx: &Ctx) -> Row {
    row![
        name(np),
        format_label_selector(&np["spec"]["podSelector"]),
        ctx.age(np)
    ]
}

/// `kubectl get poddisruptionbudgets` columns.
pub(crate) static PDB_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Min Available",
        "string",
        "The minimum number of pods that must be available.",
    ),
    Column::new(
        "Max Unavailable",
        "string",
        "The maximum number of pods that may be unavailable.",
    ),
    Column::new(
        "Allowed Disruptions",
        "integer",
        "Calculated number of pods that may be disrupted at this time.",
    ),
    AGE,
];

/// Name, Min Available, Max Unavailable ("N/A" when unset), Allowed Disruptions, Age.
pub(crate) fn pdb_row(pdb: &Value, ctx: &Ctx) -> Row {
    let spec = &pdb["spec"];
    let or_na = |v: &Value| {
        if v.is_null() {
            "N/A".to_owned()
        } else {
            int_or_string(v)
        }
    };
    row![
        name(pdb),
        or_na(&spec["minAvailable"]),
        or_na(&spec["maxUnavailable"]),
        int(&pdb["status"]["disruptionsAllowed"]),
        ctx.age(pdb),
    ]
}

/// `kubectl get storageclasses` columns.
pub(crate) static STORAGECLASS_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Provisioner", "string", d::SC_PROVISIONER),
    Column::new("ReclaimPolicy", "string", d::SC_RECLAIM),
    Column::new("VolumeBindingMode", "string", d::SC_BINDING),
    Column::new("AllowVolumeExpansion", "string", d::SC_EXPANSION),
    AGE,
];

/// Name (with " (default)"), Provisioner, ReclaimPolicy, VolumeBindingMode, AllowVolumeExpansion, Age.
pub(crate) fn storageclass_row(sc: &Value, ctx: &Ctx) -> Row {
    let ann = &sc["metadata"]["annotations"];
    let is_default = s(&ann["storageclass.kubernetes.io/is-default-class"]) == "true"
        || s(&ann["storageclass.beta.kubernetes.io/is-default-class"]) == "true";
    let display = if is_default {
        format!("{} (default)", name(sc))
    } else {
        name(sc).to_owned()
    };
    row![
        display,
        s(&sc["provisioner"]),
        sc["reclaimPolicy"].as_str().unwrap_or("Delete"),
        sc["volumeBindingMode"].as_str().unwrap_or("Immediate"),
        truthy(&sc["allowVolumeExpansion"]),
        ctx.age(sc),
    ]
}

/// `kubectl get priorityclasses` columns.
pub(crate) static PRIORITYCLASS_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Value", "integer", d::PC_VALUE),
    Column::new("Global-Default", "boolean", d::PC_GLOBAL),
    AGE,
    Column::new("PreemptionPolicy", "string", d::PC_PREEMPTION),
];

/// Name, Value, Global-Default, Age, PreemptionPolicy.
pub(crate) fn priorityclass_row(pc: &Value, ctx: &Ctx) -> Row {
    row![
        name(pc),
        int(&pc["value"]),
        truthy(&pc["globalDefault"]),
        ctx.age(pc),
        // Defaulted by the API since non-preempting priorities went GA.
        pc["preemptionPolicy"]
            .as_str()
            .unwrap_or("PreemptLowerPriority"),
    ]
}

/// `kubectl get runtimeclasses` columns.
pub(crate) static RUNTIMECLASS_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Handler",
        "string",
        "Handler specifies the underlying runtime and configuration that the CRI implementation will use to handle pods of this class.",
    ),
    AGE,
];

/// Name, Handler, Age.
pub(crate) fn runtimeclass_row(rc: &Value, ctx: &Ctx) -> Row {
    row![name(rc), s(&rc["handler"]), ctx.age(rc)]
}

/// `kubectl get {mutating,validating}webhookconfigurations` columns.
pub(crate) static WEBHOOK_COLUMNS: &[Column] = &[
    NAME,
    Column::new(
        "Webhooks",
        "integer",
        "Webhooks indicates the number of webhooks registered in this configuration",
    ),
    AGE,
];

/// Name, Webhooks, Age.
pub(crate) fn webhook_row(cfg: &Value, ctx: &Ctx) -> Row {
    row![name(cfg), arr(&cfg["webhooks"]).len() as i64, ctx.age(cfg)]
}
