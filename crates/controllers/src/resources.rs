//! The built-in resources the garbage collector and the namespace controller act on, and how
//! an owner reference's `apiVersion`/`kind` maps to a resource.

use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// One resource: where it is served and how its objects are scoped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resource {
    /// API group (empty for core).
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Kind.
    pub kind: &'static str,
    /// Plural resource name.
    pub plural: &'static str,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Whether the garbage collector watches it (it can have owners or be one).
    pub gc: bool,
}

const fn res(
    group: &'static str,
    version: &'static str,
    kind: &'static str,
    plural: &'static str,
    namespaced: bool,
    gc: bool,
) -> Resource {
    Resource {
        group,
        version,
        kind,
        plural,
        namespaced,
        gc,
    }
}

/// The resources, in the order the namespace controller empties a namespace (workloads
/// first, so their controllers stop recreating what they own).
pub const RESOURCES: &[Resource] = &[
    res("apps", "v1", "Deployment", "deployments", true, true),
    res("apps", "v1", "StatefulSet", "statefulsets", true, true),
    res("apps", "v1", "DaemonSet", "daemonsets", true, true),
    res("apps", "v1", "ReplicaSet", "replicasets", true, true),
    res("batch", "v1", "CronJob", "cronjobs", true, true),
    res("batch", "v1", "Job", "jobs", true, true),
    res("", "v1", "Pod", "pods", true, true),
    res(
        "apps",
        "v1",
        "ControllerRevision",
        "controllerrevisions",
        true,
        true,
    ),
    res("", "v1", "Service", "services", true, true),
    res("", "v1", "Endpoints", "endpoints", true, true),
    res(
        "discovery.k8s.io",
        "v1",
        "EndpointSlice",
        "endpointslices",
        true,
        true,
    ),
    res("", "v1", "ConfigMap", "configmaps", true, true),
    res("", "v1", "Secret", "secrets", true, true),
    res("", "v1", "ServiceAccount", "serviceaccounts", true, true),
    res(
        "",
        "v1",
        "PersistentVolumeClaim",
        "persistentvolumeclaims",
        true,
        true,
    ),
    res("coordination.k8s.io", "v1", "Lease", "leases", true, true),
    res(
        "networking.k8s.io",
        "v1",
        "Ingress",
        "ingresses",
        true,
        true,
    ),
    res(
        "networking.k8s.io",
        "v1",
        "NetworkPolicy",
        "networkpolicies",
        true,
        true,
    ),
    res(
        "policy",
        "v1",
        "PodDisruptionBudget",
        "poddisruptionbudgets",
        true,
        true,
    ),
    res(
        "rbac.authorization.k8s.io",
        "v1",
        "RoleBinding",
        "rolebindings",
        true,
        true,
    ),
    res(
        "rbac.authorization.k8s.io",
        "v1",
        "Role",
        "roles",
        true,
        true,
    ),
    res("", "v1", "Event", "events", true, false),
    res("events.k8s.io", "v1", "Event", "events", true, false),
    res(
        "",
        "v1",
        "PersistentVolume",
        "persistentvolumes",
        false,
        true,
    ),
    res("", "v1", "Node", "nodes", false, true),
    res(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRole",
        "clusterroles",
        false,
        true,
    ),
    res(
        "rbac.authorization.k8s.io",
        "v1",
        "ClusterRoleBinding",
        "clusterrolebindings",
        false,
        true,
    ),
    res("", "v1", "Namespace", "namespaces", false, false),
    res(
        "networking.k8s.io",
        "v1",
        "IngressClass",
        "ingressclasses",
        false,
        false,
    ),
    res(
        "storage.k8s.io",
        "v1",
        "StorageClass",
        "storageclasses",
        false,
        false,
    ),
    res(
        "scheduling.k8s.io",
        "v1",
        "PriorityClass",
        "priorityclasses",
        false,
        false,
    ),
];

impl Resource {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The resource for kube's dynamic API.
    pub fn api_resource(&self) -> ApiResource {
        ApiResource {
            group: self.group.to_owned(),
            version: self.version.to_owned(),
            api_version: self.api_version(),
            kind: self.kind.to_owned(),
            plural: self.plural.to_owned(),
        }
    }
}

/// The built-in resource serving `kind` at `api_version`.
pub fn builtin(api_version: &str, kind: &str) -> Option<&'static Resource> {
    RESOURCES
        .iter()
        .find(|r| r.kind == kind && r.api_version() == api_version)
}

/// Resources found through discovery, by apiVersion and kind, with whether namespaced.
type Discovered = HashMap<(String, String), (ApiResource, bool)>;

/// Maps owner references' `apiVersion`/`kind` to resources: built-ins from [`RESOURCES`],
/// anything else (custom resources) through discovery, remembered.
#[derive(Clone)]
pub struct Resolver {
    client: kube::Client,
    discovered: Arc<Mutex<Discovered>>,
}

impl Resolver {
    /// A resolver asking `client` about kinds it does not know.
    pub fn new(client: kube::Client) -> Resolver {
        Resolver {
            client,
            discovered: Arc::default(),
        }
    }

    /// The resource of `kind` at `api_version` and whether it is namespaced.
    pub async fn resolve(
        &self,
        api_version: &str,
        kind: &str,
    ) -> Result<(ApiResource, bool), kube::Error> {
        if let Some(r) = builtin(api_version, kind) {
            return Ok((r.api_resource(), r.namespaced));
        }
        let key = (api_version.to_owned(), kind.to_owned());
        if let Some(found) = self
            .discovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
        {
            return Ok(found.clone());
        }
        let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let (ar, caps) = kube::discovery::pinned_kind(&self.client, &gvk).await?;
        let found = (ar, caps.scope == kube::discovery::Scope::Namespaced);
        self.discovered
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, found.clone());
        Ok(found)
    }

    /// The dynamic API for objects of `kind` at `api_version` named in `namespace` (ignored
    /// for cluster-scoped kinds).
    pub async fn api(
        &self,
        api_version: &str,
        kind: &str,
        namespace: &str,
    ) -> Result<Api<DynamicObject>, kube::Error> {
        let (ar, namespaced) = self.resolve(api_version, kind).await?;
        Ok(if namespaced {
            Api::namespaced_with(self.client.clone(), namespace, &ar)
        } else {
            Api::all_with(self.client.clone(), &ar)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_resolve_by_api_version_and_kind() {
        let rs = builtin("apps/v1", "ReplicaSet").unwrap();
        assert_eq!((rs.plural, rs.namespaced), ("replicasets", true));
        assert!(!builtin("v1", "Node").unwrap().namespaced);
        assert!(builtin("apps/v1beta1", "ReplicaSet").is_none());
        let events: Vec<_> = RESOURCES.iter().filter(|r| r.plural == "events").collect();
        assert_eq!(events.len(), 2);
        assert!(events.iter().all(|r| !r.gc));
    }
}
