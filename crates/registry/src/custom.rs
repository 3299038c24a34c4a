//! Custom resources: what each served version of a CustomResourceDefinition needs at run
//! time (its resource description, structural schema, printer columns, scale paths), read
//! from the CRD object, and the set of them a server currently serves.

use crate::kinds::{self, BUILTIN, CustomInfo, ResourceInfo, Subresource};
use rkube_api::field::{FieldError, Path};
use rkube_printers::CustomColumn;
use rkube_schema::Schema;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Where the `scale` subresource finds replicas and selector in a custom object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalePaths {
    /// `.spec.replicas`-like path of the desired replicas.
    pub spec_replicas: String,
    /// `.status.replicas`-like path of the observed replicas.
    pub status_replicas: String,
    /// `.status.selector`-like path of the label selector (string form), if any.
    pub label_selector: Option<String>,
}

/// One served version of a custom resource.
#[derive(Debug)]
pub struct CustomVersion {
    /// How the version is routed and stored.
    pub info: &'static ResourceInfo,
    /// The defining CRD's name (`<plural>.<group>`).
    pub crd: String,
    /// The version objects are written in (`<group>/<version>`).
    pub storage_api_version: String,
    /// `spec.names.listKind`.
    pub list_kind: String,
    /// The version's structural schema.
    pub schema: Option<Schema>,
    /// The schema as the CRD gives it (`openAPIV3Schema`), for OpenAPI documents.
    pub openapi: Value,
    /// Printer columns for tables.
    pub columns: Vec<CustomColumn>,
    /// The scale subresource's paths, when it is enabled.
    pub scale: Option<ScalePaths>,
    /// The warning sent with every request when the version is deprecated.
    pub deprecation_warning: Option<String>,
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

fn strings(v: &Value, pointer: &str) -> Vec<String> {
    v.pointer(pointer)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn columns(version: &Value) -> Vec<CustomColumn> {
    let Some(cols) = version["additionalPrinterColumns"].as_array() else {
        return Vec::new();
    };
    cols.iter()
        .map(|c| CustomColumn {
            name: text(c, "/name").to_owned(),
            type_: text(c, "/type").to_owned(),
            format: text(c, "/format").to_owned(),
            description: text(c, "/description").to_owned(),
            priority: c["priority"].as_i64().unwrap_or(0),
            json_path: text(c, "/jsonPath").to_owned(),
        })
        .collect()
}

/// Checks a CRD's spec as upstream does (beyond what its type decoding checks): names,
/// group, scope, versions, and that every schema is structural.
pub fn validate_crd(crd: &Value) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let spec = Path::new("spec");
    let group = text(crd, "/spec/group");
    let plural = text(crd, "/spec/names/plural");
    if group.is_empty() {
        errors.push(FieldError::required(&spec.child("group"), ""));
    } else if !group.contains('.') {
        errors.push(FieldError::invalid(
            &spec.child("group"),
            Value::from(group),
            "should be a domain with at least one dot",
        ));
    } else if BUILTIN.iter().any(|b| b.group == group) {
        errors.push(FieldError::invalid(
            &spec.child("group"),
            Value::from(group),
            "is a group the server serves itself",
        ));
    }
    let name = text(crd, "/metadata/name");
    if !group.is_empty() && !plural.is_empty() && name != format!("{plural}.{group}") {
        errors.push(FieldError::invalid(
            &Path::new("metadata").child("name"),
            Value::from(name),
            "must be spec.names.plural+\".\"+spec.group",
        ));
    }
    let names = spec.child("names");
    for (field, value) in [
        ("plural", plural),
        ("singular", text(crd, "/spec/names/singular")),
    ] {
        if value.is_empty() && field == "plural" {
            errors.push(FieldError::required(&names.child(field), ""));
        } else if !value.is_empty() {
            for msg in rkube_api::validation::dns1123_label(value) {
                errors.push(FieldError::invalid(
                    &names.child(field),
                    Value::from(value),
                    &msg,
                ));
            }
        }
    }
    if text(crd, "/spec/names/kind").is_empty() {
        errors.push(FieldError::required(&names.child("kind"), ""));
    }
    let scope = text(crd, "/spec/scope");
    if !matches!(scope, "Namespaced" | "Cluster") {
        errors.push(if scope.is_empty() {
            FieldError::required(&spec.child("scope"), "")
        } else {
            FieldError::not_supported(
                &spec.child("scope"),
                Value::from(scope),
                &["Cluster", "Namespaced"],
            )
        });
    }
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let vpath = spec.child("versions");
    if versions.is_empty() {
        errors.push(FieldError::invalid(
            &vpath,
            Value::Array(Vec::new()),
            "must have exactly one version marked as storage version",
        ));
    }
    let storage = versions
        .iter()
        .filter(|v| v["storage"].as_bool() == Some(true))
        .count();
    if !versions.is_empty() && storage != 1 {
        errors.push(FieldError::invalid(
            &vpath,
            Value::Array(versions.clone()),
            "must have exactly one version marked as storage version",
        ));
    }
    let mut seen = Vec::new();
    for (i, version) in versions.iter().enumerate() {
        let at = vpath.index(i);
        let vname = text(version, "/name");
        if vname.is_empty() {
            errors.push(FieldError::required(&at.child("name"), ""));
        } else if seen.contains(&vname) {
            errors.push(FieldError::duplicate(&at.child("name"), Value::from(vname)));
        }
        seen.push(vname);
        let schema_at = at.child("schema").child("openAPIV3Schema");
        match version.pointer("/schema/openAPIV3Schema") {
            Some(schema) => {
                if let Err(errs) = Schema::compile(schema, &schema_at) {
                    errors.extend(errs);
                }
            }
            None => errors.push(FieldError::required(&schema_at, "schemas are required")),
        }
    }
    errors
}

/// The served versions of a CRD, as they are routed and checked. The CRD has passed
/// [`validate_crd`]; a version whose schema does not compile is served without one.
pub fn versions_of(crd: &Value) -> Vec<CustomVersion> {
    let group = text(crd, "/spec/group").to_owned();
    let kind = text(crd, "/spec/names/kind").to_owned();
    let plural = text(crd, "/spec/names/plural").to_owned();
    let singular = match text(crd, "/spec/names/singular") {
        "" => kind.to_lowercase(),
        s => s.to_owned(),
    };
    let list_kind = match text(crd, "/spec/names/listKind") {
        "" => format!("{kind}List"),
        s => s.to_owned(),
    };
    let namespaced = text(crd, "/spec/scope") != "Cluster";
    let versions = crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let storage_api_version = versions
        .iter()
        .find(|v| v["storage"].as_bool() == Some(true))
        .map(|v| format!("{group}/{}", text(v, "/name")))
        .unwrap_or_default();
    versions
        .iter()
        .filter(|v| v["served"].as_bool() != Some(false))
        .map(|v| {
            let mut subresources = Vec::new();
            if v.pointer("/subresources/status").is_some() {
                subresources.push(Subresource::Status);
            }
            let scale = v.pointer("/subresources/scale").map(|s| ScalePaths {
                spec_replicas: text(s, "/specReplicasPath").to_owned(),
                status_replicas: text(s, "/statusReplicasPath").to_owned(),
                label_selector: Some(text(s, "/labelSelectorPath"))
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned),
            });
            if scale.is_some() {
                subresources.push(Subresource::Scale);
            }
            let info = kinds::intern(&CustomInfo {
                group: group.clone(),
                version: text(v, "/name").to_owned(),
                kind: kind.clone(),
                plural: plural.clone(),
                singular: singular.clone(),
                namespaced,
                short_names: strings(crd, "/spec/names/shortNames"),
                categories: strings(crd, "/spec/names/categories"),
                subresources,
            });
            let schema = v
                .pointer("/schema/openAPIV3Schema")
                .and_then(|s| Schema::compile(s, &Path::new("")).ok());
            let deprecation_warning =
                (v["deprecated"].as_bool() == Some(true)).then(|| {
                    match text(v, "/deprecationWarning") {
                        "" => format!("{group}/{} {kind} is deprecated", info.version),
                        w => w.to_owned(),
                    }
                });
            CustomVersion {
                info,
                crd: text(crd, "/metadata/name").to_owned(),
                storage_api_version: storage_api_version.clone(),
                list_kind: list_kind.clone(),
                schema,
                openapi: v
                    .pointer("/schema/openAPIV3Schema")
                    .cloned()
                    .unwrap_or(Value::Null),
                columns: columns(v),
                scale,
                deprecation_warning,
            }
        })
        .collect()
}

/// Upstream's ordering of versions: GA before beta before alpha, higher numbers first,
/// anything else last by name. The first served version is the preferred one.
pub fn version_order(a: &str, b: &str) -> std::cmp::Ordering {
    fn rank(v: &str) -> (u8, u64, u64, String) {
        let parse = || -> Option<(u8, u64, u64)> {
            let rest = v.strip_prefix('v')?;
            let digits = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            let major: u64 = rest[..digits].parse().ok()?;
            match &rest[digits..] {
                "" => Some((0, major, 0)),
                tail => {
                    let (level, n) = tail
                        .strip_prefix("beta")
                        .map(|n| (1, n))
                        .or_else(|| tail.strip_prefix("alpha").map(|n| (2, n)))?;
                    Some((level, major, n.parse().ok()?))
                }
            }
        };
        match parse() {
            // Higher numbers first: invert them.
            Some((level, major, minor)) => {
                (level, u64::MAX - major, u64::MAX - minor, String::new())
            }
            None => (3, 0, 0, v.to_owned()),
        }
    }
    rank(a).cmp(&rank(b))
}

type Key = (String, String, String);

/// The custom resources one server serves now, by group, version and plural.
#[derive(Debug, Default)]
pub struct CustomResources {
    served: RwLock<HashMap<Key, Arc<CustomVersion>>>,
}

impl CustomResources {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<Key, Arc<CustomVersion>>> {
        self.served.read().unwrap_or_else(|p| p.into_inner())
    }

    /// A served custom resource version.
    pub fn find(&self, group: &str, version: &str, plural: &str) -> Option<Arc<CustomVersion>> {
        self.read()
            .get(&(group.to_owned(), version.to_owned(), plural.to_owned()))
            .cloned()
    }

    /// The served version behind a resource description.
    pub fn of(&self, info: &ResourceInfo) -> Option<Arc<CustomVersion>> {
        if !info.custom {
            return None;
        }
        self.find(info.group, info.version, info.plural)
    }

    /// Every served custom resource version: by group, then version (upstream's order),
    /// then resource.
    pub fn all(&self) -> Vec<Arc<CustomVersion>> {
        let mut all: Vec<_> = self.read().values().cloned().collect();
        all.sort_by(|a, b| {
            (a.info.group)
                .cmp(b.info.group)
                .then_with(|| version_order(a.info.version, b.info.version))
                .then_with(|| a.info.plural.cmp(b.info.plural))
        });
        all
    }

    /// Serves exactly `versions` for the CRD `crd` (replacing what it served before).
    pub(crate) fn set(&self, crd: &str, versions: Vec<CustomVersion>) {
        let mut served = self.served.write().unwrap_or_else(|p| p.into_inner());
        served.retain(|_, v| v.crd != crd);
        for v in versions {
            let key = (
                v.info.group.to_owned(),
                v.info.version.to_owned(),
                v.info.plural.to_owned(),
            );
            served.insert(key, Arc::new(v));
        }
    }

    /// Stops serving every version of the CRD `crd`; returns what it served.
    pub(crate) fn remove(&self, crd: &str) -> Vec<Arc<CustomVersion>> {
        let mut served = self.served.write().unwrap_or_else(|p| p.into_inner());
        let gone: Vec<_> = served.values().filter(|v| v.crd == crd).cloned().collect();
        served.retain(|_, v| v.crd != crd);
        gone
    }
}

/// The server-side-apply shape of a resource's objects: the CRD schema of a custom version,
/// else the built-in kind's strategic-merge metadata.
pub fn apply_shape<'a>(
    info: &ResourceInfo,
    custom: Option<&'a CustomVersion>,
) -> rkube_patch::apply::Shape<'a> {
    match custom {
        Some(version) => rkube_patch::apply::Shape::Custom(&version.openapi),
        None => rkube_patch::apply::Shape::builtin(info.group, info.version, info.kind),
    }
}

/// Prunes, defaults and validates a custom object against its version's schema, and
/// rewrites it to the storage version. `Err` carries the schema's field errors.
pub fn admit(version: &CustomVersion, obj: &mut Value) -> Result<(), Vec<FieldError>> {
    if let Some(schema) = &version.schema {
        schema.prune(obj);
        schema.apply_defaults(obj);
        let errors = schema.validate(obj);
        if !errors.is_empty() {
            return Err(errors);
        }
    }
    if let Some(map) = obj.as_object_mut() {
        map.insert(
            "apiVersion".into(),
            Value::from(version.storage_api_version.clone()),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_sort_as_upstream_does() {
        let mut v = vec!["v1alpha1", "v2", "foo", "v1beta2", "v1", "v1beta1", "v10"];
        v.sort_by(|a, b| version_order(a, b));
        assert_eq!(
            v,
            vec!["v10", "v2", "v1", "v1beta2", "v1beta1", "v1alpha1", "foo"]
        );
    }
}
