//! Kind strategies: what happens to an object of one kind on create and
//! update beyond the generic steps (decoding with the k8s-openapi type,
//! defaults, validation), and which fields it can be selected by.

mod apps;
mod core;
mod custom;
mod pod;
mod service;

use crate::kinds::ResourceInfo;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{Metadata, Resource};
use rkube_api::field::{FieldError, Path};
use rkube_api::validation;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::marker::PhantomData;

/// Why a kind refused an object.
#[derive(Debug)]
pub enum Rejection {
    /// The body is not a valid object of the kind (wrong types): 400.
    Decode(String),
    /// The object is well-formed but invalid: 422 with these causes.
    Invalid(Vec<FieldError>),
}

/// The kind-specific part of writing an object.
pub trait Strategy: Send + Sync {
    /// Decodes, defaults and validates a new object; returns it normalized
    /// (unknown fields dropped, defaults filled in).
    fn create(&self, info: &ResourceInfo, obj: Value) -> Result<Value, Rejection>;

    /// The same for a replacement of `old`.
    fn update(&self, info: &ResourceInfo, new: Value, old: &Value) -> Result<Value, Rejection>;

    /// Whether `metadata.generation` counts spec changes.
    fn tracks_generation(&self) -> bool;

    /// Field-selector fields beyond `metadata.name` and `metadata.namespace`,
    /// with this object's values.
    fn fields(&self, obj: &Value) -> Vec<(&'static str, String)>;

    /// Every field-selector field this kind supports.
    fn selectable(&self) -> &'static [&'static str];
}

/// The typed hooks of one kind; [`Typed`] turns them into a [`Strategy`].
pub trait Hooks<K>: Send + Sync {
    /// Fills in upstream's defaults.
    fn default(&self, _obj: &mut K) {}
    /// Carries over to a replacement what the client may omit (e.g. a
    /// Service's allocated cluster IP), before defaults.
    fn prepare_update(&self, _new: &mut K, _old: &K) {}
    /// Checks a new object (metadata is checked generically).
    fn validate(&self, _obj: &K) -> Vec<FieldError> {
        Vec::new()
    }
    /// Checks an update; by default what create checks.
    fn validate_update(&self, new: &K, _old: &K) -> Vec<FieldError> {
        self.validate(new)
    }
    /// Checks an object's name (DNS-1123 subdomain by default).
    fn name_errors(&self, name: &str) -> Vec<String> {
        validation::dns1123_subdomain(name)
    }
    /// Whether spec changes bump `metadata.generation`.
    fn tracks_generation(&self) -> bool {
        false
    }
    /// Extra field-selector fields and their values.
    fn fields(&self, _obj: &Value) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// Extra field-selector fields supported.
    fn selectable(&self) -> &'static [&'static str] {
        &[]
    }
}

/// Hooks that add nothing: metadata checks only.
#[derive(Debug, Default)]
pub struct Plain;

impl<K> Hooks<K> for Plain {}

/// Metadata checks only, for a kind whose spec changes bump the generation.
#[derive(Debug, Default)]
pub struct Tracked;

impl<K> Hooks<K> for Tracked {
    fn tracks_generation(&self) -> bool {
        true
    }
}

/// A [`Strategy`] for kind `K` from its [`Hooks`].
pub struct Typed<K, H> {
    hooks: H,
    _kind: PhantomData<fn() -> K>,
}

impl<K, H> Typed<K, H> {
    /// Wraps the hooks.
    pub const fn new(hooks: H) -> Self {
        Typed {
            hooks,
            _kind: PhantomData,
        }
    }
}

fn decode<K: Resource + DeserializeOwned>(obj: Value) -> Result<K, Rejection> {
    serde_path_to_error::deserialize(obj).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let at = if path == "." {
            String::new()
        } else {
            format!("{path}: ")
        };
        Rejection::Decode(format!(
            "{kind} in version \"{version}\" cannot be handled as a {kind}: {at}{inner}",
            kind = K::KIND,
            version = K::VERSION,
        ))
    })
}

fn encode<K: Serialize>(obj: &K) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

fn check(errors: Vec<FieldError>) -> Result<(), Rejection> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Rejection::Invalid(errors))
    }
}

impl<K, H> Strategy for Typed<K, H>
where
    K: Resource + Metadata<Ty = ObjectMeta> + Serialize + DeserializeOwned + Send + Sync,
    H: Hooks<K>,
{
    fn create(&self, info: &ResourceInfo, obj: Value) -> Result<Value, Rejection> {
        let mut obj: K = decode(obj)?;
        self.hooks.default(&mut obj);
        let mut errors = validation::validate_object_meta(
            obj.metadata(),
            info.namespaced,
            &|name| self.hooks.name_errors(name),
            &Path::new("metadata"),
        );
        errors.extend(self.hooks.validate(&obj));
        check(errors)?;
        Ok(encode(&obj))
    }

    fn update(&self, info: &ResourceInfo, new: Value, old: &Value) -> Result<Value, Rejection> {
        let mut new: K = decode(new)?;
        let old: K = decode(old.clone())?;
        self.hooks.prepare_update(&mut new, &old);
        self.hooks.default(&mut new);
        let mut errors = validation::validate_object_meta(
            new.metadata(),
            info.namespaced,
            &|name| self.hooks.name_errors(name),
            &Path::new("metadata"),
        );
        errors.extend(validation::validate_object_meta_update(
            new.metadata(),
            old.metadata(),
            &Path::new("metadata"),
        ));
        errors.extend(self.hooks.validate_update(&new, &old));
        check(errors)?;
        Ok(encode(&new))
    }

    fn tracks_generation(&self) -> bool {
        self.hooks.tracks_generation()
    }

    fn fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        self.hooks.fields(obj)
    }

    fn selectable(&self) -> &'static [&'static str] {
        self.hooks.selectable()
    }
}

/// The strategy of a resource.
pub fn for_resource(info: &ResourceInfo) -> &'static dyn Strategy {
    use k8s_openapi::api::{
        apps::v1 as apps, batch::v1 as batch, coordination::v1 as coordination, core::v1 as core,
        discovery::v1 as discovery, events::v1 as events, networking::v1 as networking,
        policy::v1 as policy, rbac::v1 as rbac, scheduling::v1 as scheduling,
        storage::v1 as storage,
    };
    macro_rules! plain {
        ($k:ty) => {{
            static S: Typed<$k, Plain> = Typed::new(Plain);
            &S
        }};
    }
    macro_rules! tracked {
        ($k:ty) => {{
            static S: Typed<$k, Tracked> = Typed::new(Tracked);
            &S
        }};
    }
    if info.custom {
        return &custom::CUSTOM_OBJECTS;
    }
    match (info.group, info.plural) {
        ("apiextensions.k8s.io", "customresourcedefinitions") => &custom::CRDS,
        ("", "namespaces") => &self::core::NAMESPACES,
        ("", "pods") => &pod::PODS,
        ("", "services") => &service::SERVICES,
        ("", "endpoints") => plain!(core::Endpoints),
        ("", "nodes") => &self::core::NODES,
        ("", "configmaps") => &self::core::CONFIGMAPS,
        ("", "secrets") => &self::core::SECRETS,
        ("", "serviceaccounts") => plain!(core::ServiceAccount),
        ("", "events") => &self::core::EVENTS,
        ("", "persistentvolumes") => plain!(core::PersistentVolume),
        ("", "persistentvolumeclaims") => plain!(core::PersistentVolumeClaim),
        ("apps", "deployments") => &self::apps::DEPLOYMENTS,
        ("apps", "replicasets") => &self::apps::REPLICASETS,
        ("apps", "statefulsets") => &self::apps::STATEFULSETS,
        ("apps", "daemonsets") => &self::apps::DAEMONSETS,
        ("apps", "controllerrevisions") => plain!(apps::ControllerRevision),
        ("batch", "jobs") => &self::apps::JOBS,
        ("batch", "cronjobs") => tracked!(batch::CronJob),
        ("coordination.k8s.io", "leases") => plain!(coordination::Lease),
        ("discovery.k8s.io", "endpointslices") => plain!(discovery::EndpointSlice),
        ("events.k8s.io", "events") => plain!(events::Event),
        ("rbac.authorization.k8s.io", "roles") => plain!(rbac::Role),
        ("rbac.authorization.k8s.io", "rolebindings") => plain!(rbac::RoleBinding),
        ("rbac.authorization.k8s.io", "clusterroles") => plain!(rbac::ClusterRole),
        ("rbac.authorization.k8s.io", "clusterrolebindings") => {
            plain!(rbac::ClusterRoleBinding)
        }
        ("networking.k8s.io", "ingresses") => tracked!(networking::Ingress),
        ("networking.k8s.io", "ingressclasses") => plain!(networking::IngressClass),
        ("networking.k8s.io", "networkpolicies") => tracked!(networking::NetworkPolicy),
        ("policy", "poddisruptionbudgets") => tracked!(policy::PodDisruptionBudget),
        ("storage.k8s.io", "storageclasses") => plain!(storage::StorageClass),
        ("scheduling.k8s.io", "priorityclasses") => plain!(scheduling::PriorityClass),
        (group, plural) => unreachable!("no strategy for {plural}.{group}: add one with the kind"),
    }
}
