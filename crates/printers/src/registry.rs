//! Which printer serves which resource, and the two fallback tables.

use crate::descriptions as d;
use crate::{AGE, Column, Ctx, NAME, Printer, Row, apps, batch, core, events, other, pods, row};
use serde_json::Value;

/// The printer of `group`/`resource`; resources without one get [`DEFAULT`].
pub(crate) fn printer(group: &str, resource: &str) -> Printer {
    let p = |columns, row| Printer { columns, row };
    match (group, resource) {
        ("", "pods") => p(pods::POD_COLUMNS, pods::pod_row),
        ("", "namespaces") => p(core::NAMESPACE_COLUMNS, core::namespace_row),
        ("", "services") => p(core::SERVICE_COLUMNS, core::service_row),
        ("", "endpoints") => p(core::ENDPOINTS_COLUMNS, core::endpoints_row),
        ("", "nodes") => p(core::NODE_COLUMNS, core::node_row),
        ("", "configmaps") => p(core::CONFIGMAP_COLUMNS, core::configmap_row),
        ("", "secrets") => p(core::SECRET_COLUMNS, core::secret_row),
        ("", "serviceaccounts") => p(core::SERVICEACCOUNT_COLUMNS, core::serviceaccount_row),
        ("", "persistentvolumes") => p(core::PV_COLUMNS, core::pv_row),
        ("", "persistentvolumeclaims") => p(core::PVC_COLUMNS, core::pvc_row),
        ("", "resourcequotas") => p(core::RESOURCEQUOTA_COLUMNS, core::resourcequota_row),
        ("", "replicationcontrollers") => p(core::RC_COLUMNS, core::rc_row),
        ("", "podtemplates") => p(core::PODTEMPLATE_COLUMNS, core::podtemplate_row),
        ("", "events") => p(events::EVENT_COLUMNS, events::core_event_row),
        ("events.k8s.io", "events") => p(events::EVENT_COLUMNS, events::events_v1_row),
        ("apps" | "extensions", "deployments") => p(apps::DEPLOYMENT_COLUMNS, apps::deployment_row),
        ("apps" | "extensions", "replicasets") => p(apps::REPLICASET_COLUMNS, apps::replicaset_row),
        ("apps", "statefulsets") => p(apps::STATEFULSET_COLUMNS, apps::statefulset_row),
        ("apps" | "extensions", "daemonsets") => p(apps::DAEMONSET_COLUMNS, apps::daemonset_row),
        ("apps", "controllerrevisions") => p(
            apps::CONTROLLERREVISION_COLUMNS,
            apps::controllerrevision_row,
        ),
        ("batch", "jobs") => p(batch::JOB_COLUMNS, batch::job_row),
        ("batch", "cronjobs") => p(batch::CRONJOB_COLUMNS, batch::cronjob_row),
        ("coordination.k8s.io", "leases") => p(other::LEASE_COLUMNS, other::lease_row),
        ("discovery.k8s.io", "endpointslices") => {
            p(other::ENDPOINTSLICE_COLUMNS, other::endpointslice_row)
        }
        ("rbac.authorization.k8s.io", "rolebindings") => {
            p(other::ROLEBINDING_COLUMNS, other::rolebinding_row)
        }
        ("rbac.authorization.k8s.io", "clusterrolebindings") => {
            p(other::CLUSTERROLEBINDING_COLUMNS, other::rolebinding_row)
        }
        ("networking.k8s.io" | "extensions", "ingresses") => {
            p(other::INGRESS_COLUMNS, other::ingress_row)
        }
        ("networking.k8s.io", "ingressclasses") => {
            p(other::INGRESSCLASS_COLUMNS, other::ingressclass_row)
        }
        ("networking.k8s.io", "networkpolicies") => {
            p(other::NETWORKPOLICY_COLUMNS, other::networkpolicy_row)
        }
        ("policy", "poddisruptionbudgets") => p(other::PDB_COLUMNS, other::pdb_row),
        ("storage.k8s.io", "storageclasses") => {
            p(other::STORAGECLASS_COLUMNS, other::storageclass_row)
        }
        ("scheduling.k8s.io", "priorityclasses") => {
            p(other::PRIORITYCLASS_COLUMNS, other::priorityclass_row)
        }
        ("node.k8s.io", "runtimeclasses") => {
            p(other::RUNTIMECLASS_COLUMNS, other::runtimeclass_row)
        }
        (
            "admissionregistration.k8s.io",
            "mutatingwebhookconfigurations" | "validatingwebhookconfigurations",
        ) => p(other::WEBHOOK_COLUMNS, other::webhook_row),
        // Upstream registers no printer for these; their storage uses the
        // generic `rest.NewDefaultTableConvertor` (Name, Created At).
        ("rbac.authorization.k8s.io", "roles" | "clusterroles")
        | ("", "limitranges")
        | ("apiextensions.k8s.io", "customresourcedefinitions") => {
            p(CREATED_AT_COLUMNS, created_at_row)
        }
        _ => DEFAULT,
    }
}

/// The fallback for resources without a printer: Name and Age.
pub(crate) const DEFAULT: Printer = Printer {
    columns: DEFAULT_COLUMNS,
    row: default_row,
};

static DEFAULT_COLUMNS: &[Column] = &[NAME, AGE];

fn default_row(obj: &Value, ctx: &Ctx) -> Row {
    row![crate::name(obj), ctx.age(obj)]
}

/// Upstream's `defaultTableConvertor` columns.
static CREATED_AT_COLUMNS: &[Column] = &[NAME, Column::new("Created At", "date", d::META_CREATION)];

/// Name and the creation time in RFC 3339 UTC (Go's zero time when unset).
fn created_at_row(obj: &Value, _ctx: &Ctx) -> Row {
    let created = crate::duration::timestamp(&obj["metadata"]["creationTimestamp"]);
    let text = match created {
        Some(t) => crate::duration::format_rfc3339(t),
        None => "0001-01-01T00:00:00Z".to_owned(),
    };
    row![crate::name(obj), text]
}
