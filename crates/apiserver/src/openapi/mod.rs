//! OpenAPI v3 documents (`/openapi/v3` and one per group-version), derived from the registry's
//! kinds and the Kubernetes API's protobuf descriptors. kubectl reads them to learn that the
//! server validates fields itself (`fieldValidation`), and for `explain`.

pub mod custom;
mod paths;
mod schema;
mod strict;
pub mod v2;
mod v2_schema;

pub use strict::unknown_fields;

use bytes::Bytes;
use rkube_registry::kinds::BUILTIN;
use schema::Components;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::OnceLock;

/// One served OpenAPI document and the hash clients cache it by.
pub struct Document {
    /// The document's JSON bytes.
    pub body: Bytes,
    /// A hash of the body, used in `serverRelativeURL` and as the ETag.
    pub hash: String,
}

/// Every OpenAPI v3 document the server serves.
pub struct Documents {
    index: Bytes,
    v2_json: v2::JsonParts,
    v2_protobuf: Bytes,
    by_path: BTreeMap<String, Document>,
}

/// The protobuf message of a kind.
fn message(api_version: &str, kind: &str) -> Option<prost_reflect::MessageDescriptor> {
    rkube_protobuf::Codec::builtin().message_for(api_version, kind)
}

fn group_version_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn build_document(group: &str, version: &str) -> Value {
    let mut components = Components::default();
    let mut paths = Map::new();
    let api_version = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    for info in BUILTIN
        .iter()
        .filter(|i| i.group == group && i.version == version)
    {
        let Some(kind) = message(&api_version, info.kind) else {
            continue;
        };
        components.add_kind(&kind, group, version, info.kind);
        let list_kind = format!("{}List", info.kind);
        let list_def = match message(&api_version, &list_kind) {
            Some(list) => {
                components.add_kind(&list, group, version, &list_kind);
                schema::definition_name(&list)
            }
            None => schema::definition_name(&kind),
        };
        for sub in info.subresources {
            let extra = match sub {
                rkube_registry::Subresource::Scale => {
                    Some(("autoscaling/v1", "autoscaling", "v1", "Scale"))
                }
                rkube_registry::Subresource::Binding => Some(("v1", "", "v1", "Binding")),
                rkube_registry::Subresource::Token => Some((
                    "authentication.k8s.io/v1",
                    "authentication.k8s.io",
                    "v1",
                    "TokenRequest",
                )),
                rkube_registry::Subresource::Status | rkube_registry::Subresource::Finalize => None,
            };
            if let Some((av, g, v, k)) = extra
                && let Some(m) = message(av, k)
            {
                components.add_kind(&m, g, v, k);
            }
        }
        for (path, item) in paths::resource_paths(info, &schema::definition_name(&kind), &list_def)
        {
            paths.insert(path, item);
        }
    }
    for (av, g, v, k) in [
        ("v1", "", "v1", "Status"),
        ("v1", "", "v1", "DeleteOptions"),
    ] {
        if let Some(m) = rkube_protobuf::Codec::builtin()
            .message_for(av, k)
            .or_else(|| rkube_protobuf::Codec::builtin().message_for("meta.k8s.io/v1", k))
        {
            components.add_kind(&m, g, v, k);
        }
    }
    json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": self::version()},
        "paths": paths,
        "components": {
            "schemas": components.into_map(),
            "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}},
        },
    })
}

/// The Kubernetes version the documents describe, e.g. `v1.33.0`.
fn version() -> String {
    format!(
        "v{}.{}.0",
        crate::KUBERNETES_VERSION.0,
        crate::KUBERNETES_VERSION.1
    )
}

fn hash_of(body: &[u8]) -> String {
    let mut h = DefaultHasher::new();
    body.hash(&mut h);
    format!("{:016X}", h.finish())
}

impl Documents {
    /// The documents of the built-in kinds, built once.
    pub fn builtin() -> &'static Documents {
        static DOCS: OnceLock<Documents> = OnceLock::new();
        DOCS.get_or_init(Documents::build)
    }

    fn build() -> Documents {
        let mut by_path = BTreeMap::new();
        let mut definitions = Map::new();
        for (group, versions) in rkube_registry::kinds::groups() {
            for version in versions {
                let doc = build_document(group, version);
                for (name, schema) in doc["components"]["schemas"]
                    .as_object()
                    .into_iter()
                    .flatten()
                {
                    definitions
                        .entry(name.clone())
                        .or_insert_with(|| v2_schema::to_v2(schema));
                }
                let body = Bytes::from(serde_json::to_vec(&doc).unwrap_or_default());
                let hash = hash_of(&body);
                by_path.insert(group_version_path(group, version), Document { body, hash });
            }
        }
        let index: Map<String, Value> = by_path
            .iter()
            .map(|(path, doc)| {
                (
                    path.clone(),
                    json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", doc.hash)}),
                )
            })
            .collect();
        let index = Bytes::from(serde_json::to_vec(&json!({"paths": index})).unwrap_or_default());
        let v2_json = v2::JsonParts::builtin(&definitions);
        let v2_protobuf = Bytes::from(v2::protobuf_document(&definitions));
        Documents {
            index,
            v2_json,
            v2_protobuf,
            by_path,
        }
    }

    /// `/openapi/v3`: where each group-version's document is, the custom resources'
    /// (served now) included.
    pub fn index(&self, custom: &[std::sync::Arc<rkube_registry::custom::CustomVersion>]) -> Bytes {
        if custom.is_empty() {
            return self.index.clone();
        }
        let mut index: Value = serde_json::from_slice(&self.index).unwrap_or_default();
        let mut seen = std::collections::BTreeSet::new();
        for v in custom {
            let (group, version) = (v.info.group, v.info.version);
            if !seen.insert((group, version)) {
                continue;
            }
            if let Some(doc) = self::custom::served(custom, group, version) {
                let path = group_version_path(group, version);
                index["paths"][&path] =
                    json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={}", doc.hash)});
            }
        }
        Bytes::from(serde_json::to_vec(&index).unwrap_or_default())
    }

    /// `/openapi/v2` in the form `accept` asks for, with the custom resources served now:
    /// (content type, body).
    pub fn v2(
        &self,
        accept: Option<&str>,
        custom: &[std::sync::Arc<rkube_registry::custom::CustomVersion>],
    ) -> (&'static str, Bytes) {
        if accept.is_some_and(|a| a.contains(v2::PROTOBUF_ACCEPT)) {
            let body = if custom.is_empty() {
                self.v2_protobuf.clone()
            } else {
                Bytes::from(v2::protobuf_with_custom(&self.v2_protobuf, custom))
            };
            (v2::PROTOBUF, body)
        } else {
            (
                "application/json",
                Bytes::from(self.v2_json.with_custom(custom)),
            )
        }
    }

    /// The document of a group-version path such as `api/v1` or `apis/apps/v1`.
    pub fn get(&self, path: &str) -> Option<&Document> {
        self.by_path.get(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reviews_are_documented_with_a_create_operation_only() {
        let doc = Documents::builtin()
            .get("apis/authentication.k8s.io/v1")
            .expect("a document for authentication.k8s.io/v1");
        let doc: Value = serde_json::from_slice(&doc.body).unwrap();
        let paths = doc["paths"].as_object().unwrap();
        let path = "/apis/authentication.k8s.io/v1/selfsubjectreviews";
        assert_eq!(paths.keys().collect::<Vec<_>>(), [path]);
        assert_eq!(paths[path]["post"]["x-kubernetes-action"], "post");
        assert!(paths[path].get("get").is_none());
        assert!(
            doc["components"]["schemas"]["io.k8s.api.authentication.v1.SelfSubjectReview"]
                .is_object()
        );
        let v2: Value =
            serde_json::from_slice(&v2::JsonParts::builtin(&Map::new()).with_custom(&[])).unwrap();
        let ops = v2["paths"][path].as_object().unwrap();
        assert_eq!(ops.keys().collect::<Vec<_>>(), ["post"]);
    }
}
