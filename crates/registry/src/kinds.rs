//! The kinds rkube serves: one table from which routing, discovery and
//! storage keys derive.

/// A subresource served under a resource (`pods/status`, `deployments/scale`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subresource {
    /// `<resource>/status`: writes change the status only.
    Status,
    /// `<resource>/scale`: an `autoscaling/v1` Scale view of the replicas.
    Scale,
    /// `pods/binding`: assigns a pod to a node.
    Binding,
    /// `serviceaccounts/token`: issues a token for the service account (TokenRequest).
    Token,
    /// `namespaces/finalize`: writes a namespace's `spec.finalizers`, nothing else.
    Finalize,
}

impl Subresource {
    /// The subresource's name in paths and discovery.
    pub fn name(self) -> &'static str {
        match self {
            Subresource::Status => "status",
            Subresource::Scale => "scale",
            Subresource::Binding => "binding",
            Subresource::Token => "token",
            Subresource::Finalize => "finalize",
        }
    }
}

/// One served resource: a kind at a group/version, and how it is named.
#[derive(Debug, PartialEq, Eq)]
pub struct ResourceInfo {
    /// API group ("" for core).
    pub group: &'static str,
    /// API version.
    pub version: &'static str,
    /// Kind, e.g. `Deployment`.
    pub kind: &'static str,
    /// Plural resource name, e.g. `deployments`.
    pub plural: &'static str,
    /// Singular resource name, e.g. `deployment`.
    pub singular: &'static str,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names, e.g. `deploy`.
    pub short_names: &'static [&'static str],
    /// Categories, e.g. `all`.
    pub categories: &'static [&'static str],
    /// Subresources served.
    pub subresources: &'static [Subresource],
    /// Whether a CustomResourceDefinition defines the resource (served while it exists).
    pub custom: bool,
    /// Whether objects are stored. A resource that is not (a review such as
    /// SelfSubjectReview) is only created: the API server answers it from the request
    /// alone, and it has no storage key, watch cache or other verbs.
    pub stored: bool,
}

impl ResourceInfo {
    /// `v1` or `apps/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_owned()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The resource as upstream names it in messages: `pods`, `deployments.apps`.
    pub fn group_resource(&self) -> rkube_api::gvk::GroupResource {
        rkube_api::gvk::GroupResource {
            group: self.group.to_owned(),
            resource: self.plural.to_owned(),
        }
    }

    /// The kind with its group, as upstream names it in messages.
    pub fn group_kind(&self) -> rkube_api::gvk::GroupKind {
        rkube_api::gvk::GroupKind {
            group: self.group.to_owned(),
            kind: self.kind.to_owned(),
        }
    }

    /// Whether the subresource is served.
    pub fn has(&self, sub: Subresource) -> bool {
        self.subresources.contains(&sub)
    }

    /// The store prefix holding every object of this resource, following
    /// upstream's layout: `/registry/<resource>/` for built-ins (core and events.k8s.io
    /// Events share one, as upstream: one store, two views), `/registry/<group>/<resource>/`
    /// for custom resources (every version of one custom resource shares it).
    pub fn key_prefix(&self) -> String {
        match (self.group, self.plural) {
            (group, plural) if self.custom => format!("/registry/{group}/{plural}/"),
            _ => format!("/registry/{}/", self.plural),
        }
    }

    /// The store key of one object.
    pub fn key(&self, namespace: Option<&str>, name: &str) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}{ns}/{name}", self.key_prefix()),
            _ => format!("{}{name}", self.key_prefix()),
        }
    }

    /// The store prefix of one namespace's objects (or all, for `None`).
    pub fn namespace_prefix(&self, namespace: Option<&str>) -> String {
        match namespace {
            Some(ns) if self.namespaced => format!("{}{ns}/", self.key_prefix()),
            _ => self.key_prefix(),
        }
    }
}

use Subresource::{Binding, Finalize, Scale, Status, Token};
use std::collections::HashMap;

macro_rules! kind {
    ($group:expr, $version:expr, $kind:expr, $plural:expr, $singular:expr, namespaced: $ns:expr,
     short: [$($short:expr),*], categories: [$($cat:expr),*], sub: [$($sub:expr),*]) => {
        ResourceInfo {
            group: $group,
            version: $version,
            kind: $kind,
            plural: $plural,
            singular: $singular,
            namespaced: $ns,
            short_names: &[$($short),*],
            categories: &[$($cat),*],
            subresources: &[$($sub),*],
            custom: false,
            stored: true,
        }
    };
}

/// A resource that is created and answered, never stored (see [`ResourceInfo::stored`]).
macro_rules! review {
    ($group:expr, $version:expr, $kind:expr, $plural:expr, $singular:expr) => {
        ResourceInfo {
            group: $group,
            version: $version,
            kind: $kind,
            plural: $plural,
            singular: $singular,
            namespaced: false,
            short_names: &[],
            categories: &[],
            subresources: &[],
            custom: false,
            stored: false,
        }
    };
}

/// Every built-in resource rkube serves, in discovery order.
pub static BUILTIN: &[ResourceInfo] = &[
    kind!("", "v1", "Namespace", "namespaces", "namespace", namespaced: false, short: ["ns"], categories: [], sub: [Status, Finalize]),
    kind!("", "v1", "Pod", "pods", "pod", namespaced: true, short: ["po"], categories: ["all"], sub: [Status, Binding]),
    kind!("", "v1", "Service", "services", "service", namespaced: true, short: ["svc"], categories: ["all"], sub: [Status]),
    kind!("", "v1", "Endpoints", "endpoints", "endpoints", namespaced: true, short: ["ep"], categories: [], sub: []),
    kind!("", "v1", "Node", "nodes", "node", namespaced: false, short: ["no"], categories: [], sub: [Status]),
    kind!("", "v1", "ConfigMap", "configmaps", "configmap", namespaced: true, short: ["cm"], categories: [], sub: []),
    kind!("", "v1", "Secret", "secrets", "secret", namespaced: true, short: [], categories: [], sub: []),
    kind!("", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", namespaced: true, short: ["sa"], categories: [], sub: [Token]),
    kind!("", "v1", "Event", "events", "event", namespaced: true, short: ["ev"], categories: [], sub: []),
    kind!("", "v1", "PersistentVolume", "persistentvolumes", "persistentvolume", namespaced: false, short: ["pv"], categories: [], sub: [Status]),
    kind!("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", "persistentvolumeclaim", namespaced: true, short: ["pvc"], categories: [], sub: [Status]),
    kind!("apps", "v1", "Deployment", "deployments", "deployment", namespaced: true, short: ["deploy"], categories: ["all"], sub: [Status, Scale]),
    kind!("apps", "v1", "ReplicaSet", "replicasets", "replicaset", namespaced: true, short: ["rs"], categories: ["all"], sub: [Status, Scale]),
    kind!("apps", "v1", "StatefulSet", "statefulsets", "statefulset", namespaced: true, short: ["sts"], categories: ["all"], sub: [Status, Scale]),
    kind!("apps", "v1", "DaemonSet", "daemonsets", "daemonset", namespaced: true, short: ["ds"], categories: ["all"], sub: [Status]),
    kind!("apps", "v1", "ControllerRevision", "controllerrevisions", "controllerrevision", namespaced: true, short: [], categories: [], sub: []),
    kind!("batch", "v1", "Job", "jobs", "job", namespaced: true, short: [], categories: ["all"], sub: [Status]),
    kind!("batch", "v1", "CronJob", "cronjobs", "cronjob", namespaced: true, short: ["cj"], categories: ["all"], sub: [Status]),
    kind!("coordination.k8s.io", "v1", "Lease", "leases", "lease", namespaced: true, short: [], categories: [], sub: []),
    kind!("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", "endpointslice", namespaced: true, short: [], categories: [], sub: []),
    kind!("events.k8s.io", "v1", "Event", "events", "event", namespaced: true, short: ["ev"], categories: [], sub: []),
    review!(
        "authentication.k8s.io",
        "v1",
        "SelfSubjectReview",
        "selfsubjectreviews",
        "selfsubjectreview"
    ),
    review!(
        "authentication.k8s.io",
        "v1beta1",
        "SelfSubjectReview",
        "selfsubjectreviews",
        "selfsubjectreview"
    ),
    kind!("rbac.authorization.k8s.io", "v1", "Role", "roles", "role", namespaced: true, short: [], categories: [], sub: []),
    kind!("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", "rolebinding", namespaced: true, short: [], categories: [], sub: []),
    kind!("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", "clusterrole", namespaced: false, short: [], categories: [], sub: []),
    kind!("rbac.authorization.k8s.io", "v1", "ClusterRoleBinding", "clusterrolebindings", "clusterrolebinding", namespaced: false, short: [], categories: [], sub: []),
    kind!("networking.k8s.io", "v1", "Ingress", "ingresses", "ingress", namespaced: true, short: ["ing"], categories: [], sub: [Status]),
    kind!("networking.k8s.io", "v1", "IngressClass", "ingressclasses", "ingressclass", namespaced: false, short: [], categories: [], sub: []),
    kind!("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies", "networkpolicy", namespaced: true, short: ["netpol"], categories: [], sub: []),
    kind!("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", "poddisruptionbudget", namespaced: true, short: ["pdb"], categories: [], sub: [Status]),
    kind!("storage.k8s.io", "v1", "StorageClass", "storageclasses", "storageclass", namespaced: false, short: ["sc"], categories: [], sub: []),
    kind!("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", "customresourcedefinition", namespaced: false, short: ["crd", "crds"], categories: ["api-extensions"], sub: [Status]),
    kind!("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", "priorityclass", namespaced: false, short: ["pc"], categories: [], sub: []),
];

/// The description of a custom resource, owned, to be made `'static` by [`intern`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomInfo {
    /// API group.
    pub group: String,
    /// API version.
    pub version: String,
    /// Kind.
    pub kind: String,
    /// Plural resource name.
    pub plural: String,
    /// Singular resource name.
    pub singular: String,
    /// Whether objects live in namespaces.
    pub namespaced: bool,
    /// Short names.
    pub short_names: Vec<String>,
    /// Categories.
    pub categories: Vec<String>,
    /// Subresources served (status, scale).
    pub subresources: Vec<Subresource>,
}

fn intern_str(s: &str, seen: &mut Vec<&'static str>) -> &'static str {
    if let Some(found) = seen.iter().find(|x| **x == s) {
        return found;
    }
    let leaked: &'static str = Box::leak(s.to_owned().into_boxed_str());
    seen.push(leaked);
    leaked
}

/// A `'static` [`ResourceInfo`] for a custom resource. Infos live as long as the process
/// (every part of the server holds them by reference), so equal descriptions share one
/// allocation: memory grows only with the distinct custom resources ever defined.
pub fn intern(custom: &CustomInfo) -> &'static ResourceInfo {
    use std::sync::Mutex;
    static INFOS: Mutex<Vec<&'static ResourceInfo>> = Mutex::new(Vec::new());
    static STRS: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());
    static LISTS: Mutex<Vec<&'static [&'static str]>> = Mutex::new(Vec::new());
    static SUBS: Mutex<Vec<&'static [Subresource]>> = Mutex::new(Vec::new());
    let mut strs = STRS.lock().unwrap_or_else(|p| p.into_inner());
    let list = |items: &[String], strs: &mut Vec<&'static str>| -> &'static [&'static str] {
        let items: Vec<&'static str> = items.iter().map(|s| intern_str(s, strs)).collect();
        let mut lists = LISTS.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = lists.iter().find(|l| **l == items.as_slice()) {
            return found;
        }
        let leaked: &'static [&'static str] = Box::leak(items.into_boxed_slice());
        lists.push(leaked);
        leaked
    };
    let short_names = list(&custom.short_names, &mut strs);
    let categories = list(&custom.categories, &mut strs);
    let subresources = {
        let mut subs = SUBS.lock().unwrap_or_else(|p| p.into_inner());
        match subs.iter().find(|l| **l == custom.subresources.as_slice()) {
            Some(found) => *found,
            None => {
                let leaked: &'static [Subresource] =
                    Box::leak(custom.subresources.clone().into_boxed_slice());
                subs.push(leaked);
                leaked
            }
        }
    };
    let info = ResourceInfo {
        group: intern_str(&custom.group, &mut strs),
        version: intern_str(&custom.version, &mut strs),
        kind: intern_str(&custom.kind, &mut strs),
        plural: intern_str(&custom.plural, &mut strs),
        singular: intern_str(&custom.singular, &mut strs),
        namespaced: custom.namespaced,
        short_names,
        categories,
        subresources,
        custom: true,
        stored: true,
    };
    let mut infos = INFOS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(found) = infos.iter().find(|i| ***i == info) {
        return found;
    }
    let leaked: &'static ResourceInfo = Box::leak(Box::new(info));
    infos.push(leaked);
    leaked
}

/// Looks up a served resource by group, version and plural name (every request does: an
/// index by plural instead of a scan of the whole table).
pub fn find(group: &str, version: &str, plural: &str) -> Option<&'static ResourceInfo> {
    static BY_PLURAL: std::sync::LazyLock<HashMap<&'static str, Vec<&'static ResourceInfo>>> =
        std::sync::LazyLock::new(|| {
            let mut index: HashMap<&'static str, Vec<&'static ResourceInfo>> = HashMap::new();
            for r in BUILTIN {
                index.entry(r.plural).or_default().push(r);
            }
            index
        });
    BY_PLURAL
        .get(plural)?
        .iter()
        .copied()
        .find(|r| r.group == group && r.version == version)
}

/// The API groups served, in discovery order, each with its versions.
pub fn groups() -> Vec<(&'static str, Vec<&'static str>)> {
    let mut groups: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
    for r in BUILTIN {
        match groups.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, versions)) if !versions.contains(&r.version) => versions.push(r.version),
            Some(_) => {}
            None => groups.push((r.group, vec![r.version])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_resource_is_unique_per_group_version() {
        for (i, a) in BUILTIN.iter().enumerate() {
            for b in &BUILTIN[i + 1..] {
                assert!(
                    !(a.group == b.group && a.version == b.version && a.plural == b.plural),
                    "{} served twice",
                    a.plural
                );
                // Core and events.k8s.io Events share one store; reviews have none.
                if !(a.stored && b.stored) || (a.plural == "events" && b.plural == "events") {
                    continue;
                }
                assert_ne!(
                    a.key_prefix(),
                    b.key_prefix(),
                    "{} and {} share a key prefix",
                    a.plural,
                    b.plural
                );
            }
        }
    }

    #[test]
    fn keys_follow_upstreams_layout() {
        let pods = find("", "v1", "pods").unwrap();
        assert_eq!(
            pods.key(Some("default"), "web"),
            "/registry/pods/default/web"
        );
        let nodes = find("", "v1", "nodes").unwrap();
        assert_eq!(nodes.key(None, "n1"), "/registry/nodes/n1");
        assert_eq!(
            find("apps", "v1", "deployments").unwrap().api_version(),
            "apps/v1"
        );
    }
}
