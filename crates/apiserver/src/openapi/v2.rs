//! `/openapi/v2`: the Swagger 2.0 document, in its JSON form and in the protobuf form
//! (gnostic's `openapi.v2.Document`) that kubectl asks for. It lists every write operation
//! with its group-version-kind and parameters, which is what kubectl 1.27–1.29 read to learn
//! that the server validates fields itself, and its definitions (the v3 schemas in v2 form),
//! which kubectl up to 1.29 reads for `explain`. Custom resources served now are added to
//! the built-in document per request; their patch operations list the patch types they take
//! (`consumes`, no strategic merge patch), from which kubectl 1.27–1.29 pick a merge patch.

use rkube_registry::custom::CustomVersion;
use rkube_registry::kinds::BUILTIN;
use rkube_registry::{ResourceInfo, Subresource};
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// The media type clients ask for the protobuf form with (`Accept`).
pub const PROTOBUF_ACCEPT: &str = "com.github.proto-openapi.spec.v2";
/// The media type of the protobuf form as answered (Go's MIME parser rejects the `@` form
/// clients send).
pub const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

const WRITE_PARAMS: [&str; 3] = ["dryRun", "fieldManager", "fieldValidation"];

/// The patch types a custom resource takes (upstream's `consumes` of its patch operations).
const CUSTOM_PATCH_TYPES: [&str; 3] = [
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
];

/// One operation of the document.
struct Op {
    path: String,
    method: &'static str,
    id: String,
    gvk: (&'static str, &'static str, &'static str),
    params: Vec<&'static str>,
    /// The body types, when the document names them (custom resources' patches).
    consumes: &'static [&'static str],
}

/// The write operations of a resource; `custom` for a custom resource's.
fn operations(info: &'static ResourceInfo, custom: bool) -> Vec<Op> {
    let patch_types: &'static [&'static str] = if custom { &CUSTOM_PATCH_TYPES } else { &[] };
    let prefix = if info.group.is_empty() {
        format!("/api/{}", info.version)
    } else {
        format!("/apis/{}/{}", info.group, info.version)
    };
    let scope = if info.namespaced { "Namespaced" } else { "" };
    let collection = if info.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", info.plural)
    } else {
        format!("{prefix}/{}", info.plural)
    };
    let item = format!("{collection}/{{name}}");
    let gvk = (info.group, info.version, info.kind);
    let mut patch_params = WRITE_PARAMS.to_vec();
    patch_params.push("force");
    let create = Op {
        path: collection,
        method: "post",
        id: format!("create{scope}{}", info.kind),
        gvk,
        params: WRITE_PARAMS.to_vec(),
        consumes: &[],
    };
    if !info.stored {
        return vec![create];
    }
    let mut ops = vec![
        create,
        Op {
            path: item.clone(),
            method: "put",
            id: format!("replace{scope}{}", info.kind),
            gvk,
            params: WRITE_PARAMS.to_vec(),
            consumes: &[],
        },
        Op {
            path: item.clone(),
            method: "patch",
            id: format!("patch{scope}{}", info.kind),
            gvk,
            params: patch_params.clone(),
            consumes: patch_types,
        },
    ];
    for sub in info.subresources {
        let (sub_gvk, suffix) = match sub {
            Subresource::Status => (gvk, "Status"),
            Subresource::Scale => (("autoscaling", "v1", "Scale"), "Scale"),
            Subresource::Binding | Subresource::Token | Subresource::Finalize => continue,
        };
        let path = format!("{item}/{}", sub.name());
        ops.push(Op {
            path: path.clone(),
            method: "put",
            id: format!("replace{scope}{}{suffix}", info.kind),
            gvk: sub_gvk,
            params: WRITE_PARAMS.to_vec(),
            consumes: &[],
        });
        ops.push(Op {
            path,
            method: "patch",
            id: format!("patch{scope}{}{suffix}", info.kind),
            gvk: sub_gvk,
            params: patch_params.clone(),
            consumes: patch_types,
        });
    }
    ops
}

fn builtin_operations() -> Vec<Op> {
    BUILTIN.iter().flat_map(|i| operations(i, false)).collect()
}

fn custom_operations(custom: &[Arc<CustomVersion>]) -> Vec<Op> {
    custom
        .iter()
        .flat_map(|v| operations(v.info, true))
        .collect()
}

/// The `paths` of the JSON form.
fn json_paths(ops: Vec<Op>) -> Map<String, Value> {
    let mut paths: Map<String, Value> = Map::new();
    for op in ops {
        let params: Vec<Value> = op
            .params
            .iter()
            .map(|p| json!({"name": p, "in": "query", "type": if *p == "force" { "boolean" } else { "string" }, "uniqueItems": true}))
            .collect();
        let entry = paths.entry(op.path).or_insert_with(|| json!({}));
        entry[op.method] = json!({
            "operationId": op.id,
            "parameters": params,
            "x-kubernetes-group-version-kind": {"group": op.gvk.0, "version": op.gvk.1, "kind": op.gvk.2},
        });
        if !op.consumes.is_empty() {
            entry[op.method]["consumes"] = json!(op.consumes);
        }
    }
    paths
}

/// The members of a JSON object's text: its text without the braces.
fn members(map: &Map<String, Value>) -> Vec<u8> {
    let mut text = serde_json::to_vec(map).unwrap_or_default();
    text.pop();
    if !text.is_empty() {
        text.remove(0);
    }
    text
}

/// The built-in document's JSON form, split where the custom resources' definitions and
/// paths go in: `{"definitions":{` builtin `,` custom `},"info":…,"paths":{` builtin `,`
/// custom `},"swagger":"2.0"}`.
pub struct JsonParts {
    definitions: Vec<u8>,
    info: Vec<u8>,
    paths: Vec<u8>,
}

impl JsonParts {
    /// The parts of the built-in document with these `definitions`.
    pub fn builtin(definitions: &Map<String, Value>) -> JsonParts {
        let info = json!({"title": "Kubernetes", "version": super::version()});
        JsonParts {
            definitions: members(definitions),
            info: serde_json::to_vec(&info).unwrap_or_default(),
            paths: members(&json_paths(builtin_operations())),
        }
    }

    /// The whole document, with the custom resources served now.
    pub fn with_custom(&self, custom: &[Arc<CustomVersion>]) -> Vec<u8> {
        let definitions = members(&super::custom::v2_definitions(custom));
        let paths = members(&json_paths(custom_operations(custom)));
        let mut out = Vec::with_capacity(
            self.definitions.len() + self.paths.len() + self.info.len() + 64 + definitions.len(),
        );
        let join = |out: &mut Vec<u8>, a: &[u8], b: &[u8]| {
            out.extend_from_slice(a);
            if !a.is_empty() && !b.is_empty() {
                out.push(b',');
            }
            out.extend_from_slice(b);
        };
        out.extend_from_slice(b"{\"definitions\":{");
        join(&mut out, &self.definitions, &definitions);
        out.extend_from_slice(b"},\"info\":");
        out.extend_from_slice(&self.info);
        out.extend_from_slice(b",\"paths\":{");
        join(&mut out, &self.paths, &paths);
        out.extend_from_slice(b"},\"swagger\":\"2.0\"}");
        out
    }
}

/// Protobuf wire-format writing: just the few shapes the document needs.
pub(super) mod wire {
    pub fn varint(out: &mut Vec<u8>, mut v: u64) {
        while v >= 0x80 {
            out.push((v as u8) | 0x80);
            v >>= 7;
        }
        out.push(v as u8);
    }

    /// A length-delimited field (string, bytes or message).
    pub fn bytes(out: &mut Vec<u8>, field: u32, value: &[u8]) {
        varint(out, (u64::from(field) << 3) | 2);
        varint(out, value.len() as u64);
        out.extend_from_slice(value);
    }

    /// A bool field.
    pub fn boolean(out: &mut Vec<u8>, field: u32, value: bool) {
        varint(out, u64::from(field) << 3);
        varint(out, u64::from(value));
    }
}

// Field numbers of gnostic's `openapi.v2` messages.
const DOCUMENT_SWAGGER: u32 = 1;
const DOCUMENT_INFO: u32 = 2;
const DOCUMENT_PATHS: u32 = 8;
const DOCUMENT_DEFINITIONS: u32 = 9;
const INFO_TITLE: u32 = 1;
const INFO_VERSION: u32 = 2;
const PATHS_PATH: u32 = 2;
const NAMED_NAME: u32 = 1;
const NAMED_VALUE: u32 = 2;
const PATH_ITEM_PUT: u32 = 3;
const PATH_ITEM_POST: u32 = 4;
const PATH_ITEM_PATCH: u32 = 8;
const OPERATION_ID: u32 = 5;
const OPERATION_CONSUMES: u32 = 7;
const OPERATION_PARAMETERS: u32 = 8;
const OPERATION_EXTENSIONS: u32 = 13;
const PARAMETERS_ITEM_PARAMETER: u32 = 1;
const PARAMETER_NON_BODY: u32 = 2;
const NON_BODY_QUERY: u32 = 3;
const QUERY_IN: u32 = 2;
const QUERY_NAME: u32 = 4;
const QUERY_TYPE: u32 = 6;
const QUERY_UNIQUE_ITEMS: u32 = 20;
const ANY_YAML: u32 = 2;

fn operation(op: &Op) -> Vec<u8> {
    let mut out = Vec::new();
    wire::bytes(&mut out, OPERATION_ID, op.id.as_bytes());
    for media in op.consumes {
        wire::bytes(&mut out, OPERATION_CONSUMES, media.as_bytes());
    }
    for name in &op.params {
        let mut query = Vec::new();
        wire::bytes(&mut query, QUERY_IN, b"query");
        wire::bytes(&mut query, QUERY_NAME, name.as_bytes());
        wire::bytes(
            &mut query,
            QUERY_TYPE,
            if *name == "force" {
                b"boolean"
            } else {
                b"string"
            },
        );
        wire::boolean(&mut query, QUERY_UNIQUE_ITEMS, true);
        let mut non_body = Vec::new();
        wire::bytes(&mut non_body, NON_BODY_QUERY, &query);
        let mut parameter = Vec::new();
        wire::bytes(&mut parameter, PARAMETER_NON_BODY, &non_body);
        let mut item = Vec::new();
        wire::bytes(&mut item, PARAMETERS_ITEM_PARAMETER, &parameter);
        wire::bytes(&mut out, OPERATION_PARAMETERS, &item);
    }
    let yaml = format!(
        "group: {:?}\nkind: {}\nversion: {}\n",
        op.gvk.0, op.gvk.2, op.gvk.1
    );
    let mut any = Vec::new();
    wire::bytes(&mut any, ANY_YAML, yaml.as_bytes());
    let mut named = Vec::new();
    wire::bytes(&mut named, NAMED_NAME, b"x-kubernetes-group-version-kind");
    wire::bytes(&mut named, NAMED_VALUE, &any);
    wire::bytes(&mut out, OPERATION_EXTENSIONS, &named);
    out
}

/// A gnostic `Paths` message of these operations.
fn paths_message(ops: Vec<Op>) -> Vec<u8> {
    let mut by_path: Vec<(String, Vec<u8>)> = Vec::new();
    for op in ops {
        let field = match op.method {
            "put" => PATH_ITEM_PUT,
            "post" => PATH_ITEM_POST,
            _ => PATH_ITEM_PATCH,
        };
        let idx = match by_path.iter().position(|(p, _)| *p == op.path) {
            Some(i) => i,
            None => {
                by_path.push((op.path.clone(), Vec::new()));
                by_path.len() - 1
            }
        };
        wire::bytes(&mut by_path[idx].1, field, &operation(&op));
    }
    let mut paths = Vec::new();
    for (path, item) in &by_path {
        let mut named = Vec::new();
        wire::bytes(&mut named, NAMED_NAME, path.as_bytes());
        wire::bytes(&mut named, NAMED_VALUE, item);
        wire::bytes(&mut paths, PATHS_PATH, &named);
    }
    paths
}

/// The protobuf form of the built-in document, with its `definitions` (in v2 form).
pub fn protobuf_document(definitions: &Map<String, Value>) -> Vec<u8> {
    let paths = paths_message(builtin_operations());
    let mut info = Vec::new();
    wire::bytes(&mut info, INFO_TITLE, b"Kubernetes");
    wire::bytes(&mut info, INFO_VERSION, super::version().as_bytes());
    let mut doc = Vec::new();
    wire::bytes(&mut doc, DOCUMENT_SWAGGER, b"2.0");
    wire::bytes(&mut doc, DOCUMENT_INFO, &info);
    wire::bytes(&mut doc, DOCUMENT_PATHS, &paths);
    wire::bytes(
        &mut doc,
        DOCUMENT_DEFINITIONS,
        &super::v2_schema::encode_definitions(definitions),
    );
    doc
}

/// The protobuf form with the custom resources served now: the built-in document followed
/// by a second `paths` and a second `definitions` field, which protobuf decoders merge into
/// the first ones (repeated members concatenated).
pub fn protobuf_with_custom(builtin: &[u8], custom: &[Arc<CustomVersion>]) -> Vec<u8> {
    let mut out = builtin.to_vec();
    wire::bytes(
        &mut out,
        DOCUMENT_PATHS,
        &paths_message(custom_operations(custom)),
    );
    wire::bytes(
        &mut out,
        DOCUMENT_DEFINITIONS,
        &super::v2_schema::encode_definitions(&super::custom::v2_definitions(custom)),
    );
    out
}
