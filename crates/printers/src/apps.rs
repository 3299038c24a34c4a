//! `apps` kinds: deployments, replica sets, stateful sets, daemon sets, controller revisions.

use crate::descriptions as d;
use crate::util::{
    arr, container_cells, format_label_selector, format_labels, int, int_or, label_selector_string,
    s, truthy,
};
use crate::{AGE, CONTAINERS, Column, Ctx, IMAGES, NAME, Row, name, row};
use serde_json::Value;

/// `kubectl get deployments` columns.
pub(crate) static DEPLOYMENT_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Ready", "string", "Number of the pod with ready state"),
    Column::new("Up-to-date", "string", d::DEPLOY_UPDATED),
    Column::new("Available", "string", d::DEPLOY_AVAILABLE),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::new("Selector", "string", d::DEPLOY_SELECTOR).wide(),
];

/// Name, Ready "ready/desired", Up-to-date, Available, Age, Containers, Images, Selector.
pub(crate) fn deployment_row(dep: &Value, ctx: &Ctx) -> Row {
    let spec = &dep["spec"];
    let status = &dep["status"];
    let (names, images) = container_cells(&spec["template"]["spec"]);
    // Upstream prints the selector's String() directly here: "" when empty.
    let selector =
        label_selector_string(&spec["selector"]).unwrap_or_else(|()| "<invalid>".to_owned());
    row![
        name(dep),
        format!(
            "{}/{}",
            int(&status["readyReplicas"]),
            int_or(&spec["replicas"], 1)
        ),
        int(&status["updatedReplicas"]),
        int(&status["availableReplicas"]),
        ctx.age(dep),
        names,
        images,
        selector,
    ]
}

/// `kubectl get replicasets` columns.
pub(crate) static REPLICASET_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Desired", "integer", d::RS_REPLICAS),
    Column::new("Current", "integer", d::RS_STATUS_REPLICAS),
    Column::new("Ready", "integer", d::RS_READY),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::new("Selector", "string", d::RS_SELECTOR).wide(),
];

/// Name, Desired, Current, Ready, Age, Containers, Images, Selector.
pub(crate) fn replicaset_row(rs: &Value, ctx: &Ctx) -> Row {
    let spec = &rs["spec"];
    let (names, images) = container_cells(&spec["template"]["spec"]);
    row![
        name(rs),
        int_or(&spec["replicas"], 1),
        int(&rs["status"]["replicas"]),
        int(&rs["status"]["readyReplicas"]),
        ctx.age(rs),
        names,
        images,
        format_label_selector(&spec["selector"]),
    ]
}

/// `kubectl get statefulsets` columns.
pub(crate) static STATEFULSET_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Ready", "string", "Number of the pod with ready state"),
    AGE,
    CONTAINERS,
    IMAGES,
];

/// Name, Ready "ready/desired", Age, Containers, Images.
pub(crate) fn statefulset_row(sts: &Value, ctx: &Ctx) -> Row {
    let spec = &sts["spec"];
    let (names, images) = container_cells(&spec["template"]["spec"]);
    row![
        name(sts),
        format!(
            "{}/{}",
            int(&sts["status"]["readyReplicas"]),
            int_or(&spec["replicas"], 1)
        ),
        ctx.age(sts),
        names,
        images,
    ]
}

/// `kubectl get daemonsets` columns.
pub(crate) static DAEMONSET_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Desired", "integer", d::DS_DESIRED),
    Column::new("Current", "integer", d::DS_CURRENT),
    Column::new("Ready", "integer", d::DS_READY),
    Column::new("Up-to-date", "integer", d::DS_UPDATED),
    Column::new("Available", "integer", d::DS_AVAILABLE),
    Column::new("Node Selector", "string", d::POD_NODE_SELECTOR),
    AGE,
    CONTAINERS,
    IMAGES,
    Column::new("Selector", "string", d::DS_SELECTOR).wide(),
];

/// Name, Desired, Current, Ready, Up-to-date, Available, Node Selector, Age,
/// Containers, Images, Selector.
pub(crate) fn daemonset_row(ds: &Value, ctx: &Ctx) -> Row {
    let spec = &ds["spec"];
    let status = &ds["status"];
    let (names, images) = container_cells(&spec["template"]["spec"]);
    row![
        name(ds),
        int(&status["desiredNumberScheduled"]),
        int(&status["currentNumberScheduled"]),
        int(&status["numberReady"]),
        int(&status["updatedNumberScheduled"]),
        int(&status["numberAvailable"]),
        format_labels(&spec["template"]["spec"]["nodeSelector"]),
        ctx.age(ds),
        names,
        images,
        format_label_selector(&spec["selector"]),
    ]
}

/// `kubectl get controllerrevisions` columns.
pub(crate) static CONTROLLERREVISION_COLUMNS: &[Column] = &[
    NAME,
    Column::new("Controller", "string", "Controller of the object"),
    Column::new("Revision", "string", d::CR_REVISION),
    AGE,
];

/// The controller owner as "kind.group/name" (lowercased kind and group), `<none>` without one.
pub(crate) fn controller_of(obj: &Value) -> String {
    let Some(owner) = arr(&obj["metadata"]["ownerReferences"])
        .iter()
        .find(|o| truthy(&o["controller"]))
    else {
        return "<none>".to_owned();
    };
    let api_version = s(&owner["apiVersion"]);
    let group = match api_version.split_once('/') {
        Some((g, _)) => g,
        None => "",
    };
    let kind = s(&owner["kind"]);
    let owner_name = s(&owner["name"]);
    match (group, kind) {
        ("", "") => owner_name.to_owned(),
        ("", k) => format!("{}/{owner_name}", k.to_lowercase()),
        (g, k) => format!("{}/{owner_name}", format!("{k}.{g}").to_lowercase()),
    }
}

/// Name, Controller, Revision, Age.
pub(crate) fn controllerrevision_row(cr: &Value, ctx: &Ctx) -> Row {
    row![
        name(cr),
        controller_of(cr),
        int(&cr["revision"]),
        ctx.age(cr)
    ]
}
