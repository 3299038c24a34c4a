//! Core kinds with small rules: namespaces, nodes, config maps, secrets,
//! events.

use super::{Hooks, Typed};
use k8s_openapi::api::core::v1::{
    ConfigMap, Event, Namespace, NamespaceSpec, NamespaceStatus, Node, Secret,
};
use rkube_api::field::{FieldError, Path};
use rkube_api::validation;
use serde_json::Value;

/// The namespaces strategy.
pub static NAMESPACES: Typed<Namespace, NamespaceHooks> = Typed::new(NamespaceHooks);
/// The nodes strategy.
pub static NODES: Typed<Node, NodeHooks> = Typed::new(NodeHooks);
/// The config maps strategy.
pub static CONFIGMAPS: Typed<ConfigMap, DataHooks> = Typed::new(DataHooks);
/// The secrets strategy.
pub static SECRETS: Typed<Secret, DataHooks> = Typed::new(DataHooks);
/// The core/v1 events strategy.
pub static EVENTS: Typed<Event, EventHooks> = Typed::new(EventHooks);

fn str_field(v: &Value) -> String {
    v.as_str().unwrap_or("").to_owned()
}

/// Namespaces' hooks.
#[derive(Debug)]
pub struct NamespaceHooks;

/// The label upstream puts on every namespace, holding its name.
pub const NAMESPACE_NAME_LABEL: &str = "kubernetes.io/metadata.name";

impl Hooks<Namespace> for NamespaceHooks {
    fn default(&self, ns: &mut Namespace) {
        if let Some(name) = ns.metadata.name.clone() {
            ns.metadata
                .labels
                .get_or_insert_with(Default::default)
                .insert(NAMESPACE_NAME_LABEL.to_owned(), name);
        }
        let spec = ns.spec.get_or_insert_with(NamespaceSpec::default);
        spec.finalizers
            .get_or_insert_with(|| vec!["kubernetes".to_owned()]);
        let status = ns.status.get_or_insert_with(NamespaceStatus::default);
        status.phase.get_or_insert_with(|| "Active".to_owned());
    }

    fn name_errors(&self, name: &str) -> Vec<String> {
        validation::dns1123_label(name)
    }

    fn tracks_generation(&self) -> bool {
        false
    }

    fn fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        vec![("status.phase", str_field(&obj["status"]["phase"]))]
    }

    fn selectable(&self) -> &'static [&'static str] {
        &["status.phase"]
    }
}

/// Nodes' hooks.
#[derive(Debug)]
pub struct NodeHooks;

impl Hooks<Node> for NodeHooks {
    fn tracks_generation(&self) -> bool {
        false
    }

    /// A node's pod range may be set once (by node IPAM), never changed: upstream's rule.
    fn validate_update(&self, new: &Node, old: &Node) -> Vec<FieldError> {
        let cidr = |n: &Node| {
            n.spec
                .as_ref()
                .and_then(|s| s.pod_cidr.clone())
                .unwrap_or_default()
        };
        let cidrs = |n: &Node| {
            n.spec
                .as_ref()
                .and_then(|s| s.pod_cidrs.clone())
                .unwrap_or_default()
        };
        let mut errors = Vec::new();
        if !cidr(old).is_empty() && cidr(new) != cidr(old) {
            errors.push(FieldError::forbidden(
                &Path::new("spec").child("podCIDR"),
                "node updates may not change podCIDR except from \"\" to valid",
            ));
        }
        if !cidrs(old).is_empty() && cidrs(new) != cidrs(old) {
            errors.push(FieldError::forbidden(
                &Path::new("spec").child("podCIDRs"),
                "node updates may not change podCIDR except from \"\" to valid",
            ));
        }
        errors
    }

    fn fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        let unschedulable = obj["spec"]["unschedulable"].as_bool().unwrap_or(false);
        vec![("spec.unschedulable", unschedulable.to_string())]
    }

    fn selectable(&self) -> &'static [&'static str] {
        &["spec.unschedulable"]
    }
}

/// Whether a config map or secret key is valid: upstream's rule, letters,
/// digits, `-`, `_`, `.`, at most 253 characters, not `.` or `..`.
fn config_key_errors(key: &str) -> Vec<String> {
    let mut errors = Vec::new();
    if key.is_empty() || key.len() > 253 {
        errors.push("must be no more than 253 characters".to_owned());
    }
    if !key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        errors.push(
            "a valid config key must consist of alphanumeric characters, '-', '_' or '.' \
             (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
                .to_owned(),
        );
    }
    if key == "." || key == ".." {
        errors.push("must not be '.' or '..'".to_owned());
    }
    errors
}

fn validate_keys<'a>(keys: impl Iterator<Item = &'a String>, path: &Path) -> Vec<FieldError> {
    keys.flat_map(|key| {
        config_key_errors(key)
            .into_iter()
            .map(move |msg| FieldError::invalid(&path.key(key), Value::from(key.clone()), &msg))
    })
    .collect()
}

/// Config maps' and secrets' hooks.
#[derive(Debug)]
pub struct DataHooks;

/// The part of a config map or secret these hooks need.
pub trait DataObject {
    /// The keys of `data` and `binaryData`/`stringData`, with their paths.
    fn keyed(&self) -> Vec<(&'static str, Vec<&String>)>;
    /// Whether `immutable` is set.
    fn immutable(&self) -> bool;
    /// The data, for the immutability check.
    fn payload(&self) -> Value;
    /// Fills in defaults.
    fn default(&mut self) {}
}

impl DataObject for ConfigMap {
    fn keyed(&self) -> Vec<(&'static str, Vec<&String>)> {
        vec![
            ("data", self.data.iter().flat_map(|d| d.keys()).collect()),
            (
                "binaryData",
                self.binary_data.iter().flat_map(|d| d.keys()).collect(),
            ),
        ]
    }
    fn immutable(&self) -> bool {
        self.immutable == Some(true)
    }
    fn payload(&self) -> Value {
        serde_json::json!([self.data, self.binary_data])
    }
}

impl DataObject for Secret {
    fn keyed(&self) -> Vec<(&'static str, Vec<&String>)> {
        vec![
            ("data", self.data.iter().flat_map(|d| d.keys()).collect()),
            (
                "stringData",
                self.string_data.iter().flat_map(|d| d.keys()).collect(),
            ),
        ]
    }
    fn immutable(&self) -> bool {
        self.immutable == Some(true)
    }
    fn payload(&self) -> Value {
        serde_json::json!([self.data, self.type_])
    }
    fn default(&mut self) {
        self.type_.get_or_insert_with(|| "Opaque".to_owned());
        // stringData is write-only: it is merged into data, as upstream does.
        if let Some(strings) = self.string_data.take() {
            let data = self.data.get_or_insert_with(Default::default);
            for (k, v) in strings {
                data.insert(k, k8s_openapi::ByteString(v.into_bytes()));
            }
        }
    }
}

impl<K: DataObject> Hooks<K> for DataHooks {
    fn default(&self, obj: &mut K) {
        obj.default();
    }

    fn validate(&self, obj: &K) -> Vec<FieldError> {
        obj.keyed()
            .into_iter()
            .flat_map(|(field, keys)| validate_keys(keys.into_iter(), &Path::new(field)))
            .collect()
    }

    fn validate_update(&self, new: &K, old: &K) -> Vec<FieldError> {
        let mut errors = self.validate(new);
        if old.immutable() {
            if !new.immutable() {
                errors.push(FieldError::forbidden(
                    &Path::new("immutable"),
                    "field is immutable when `immutable` is set",
                ));
            }
            if new.payload() != old.payload() {
                errors.push(FieldError::forbidden(
                    &Path::new("data"),
                    "field is immutable when `immutable` is set",
                ));
            }
        }
        errors
    }

    fn tracks_generation(&self) -> bool {
        false
    }

    fn fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        vec![("type", str_field(&obj["type"]))]
    }

    fn selectable(&self) -> &'static [&'static str] {
        &["type"]
    }
}

/// Events' hooks.
#[derive(Debug)]
pub struct EventHooks;

impl Hooks<Event> for EventHooks {
    fn tracks_generation(&self) -> bool {
        false
    }

    fn fields(&self, obj: &Value) -> Vec<(&'static str, String)> {
        let involved = &obj["involvedObject"];
        vec![
            ("involvedObject.kind", str_field(&involved["kind"])),
            (
                "involvedObject.namespace",
                str_field(&involved["namespace"]),
            ),
            ("involvedObject.name", str_field(&involved["name"])),
            ("involvedObject.uid", str_field(&involved["uid"])),
            (
                "involvedObject.apiVersion",
                str_field(&involved["apiVersion"]),
            ),
            (
                "involvedObject.resourceVersion",
                str_field(&involved["resourceVersion"]),
            ),
            (
                "involvedObject.fieldPath",
                str_field(&involved["fieldPath"]),
            ),
            ("reason", str_field(&obj["reason"])),
            ("reportingComponent", str_field(&obj["reportingComponent"])),
            ("source", str_field(&obj["source"]["component"])),
            ("type", str_field(&obj["type"])),
        ]
    }

    fn selectable(&self) -> &'static [&'static str] {
        &[
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ]
    }
}
