//! OpenAPI path items of a served resource: its operations, their parameters and the
//! group-version-kind each acts on (which kubectl reads to learn what the server validates).

use rkube_registry::{ResourceInfo, Subresource};
use serde_json::{Map, Value, json};

fn query(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": "string", "uniqueItems": true}})
}

fn path_param(name: &str) -> Value {
    json!({"name": name, "in": "path", "required": true, "schema": {"type": "string", "uniqueItems": true}})
}

fn write_params(patch: bool) -> Vec<Value> {
    let mut params = vec![
        query(
            "dryRun",
            "When present, indicates that modifications should not be persisted: All.",
        ),
        query(
            "fieldManager",
            "A name associated with the actor or entity that is making these changes.",
        ),
        query(
            "fieldValidation",
            "How the server treats unknown and duplicate fields: Ignore, Warn or Strict.",
        ),
    ];
    if patch {
        params.push(json!({"name": "force", "in": "query", "schema": {"type": "boolean", "uniqueItems": true}}));
    }
    params
}

fn list_params() -> Vec<Value> {
    [
        "allowWatchBookmarks",
        "continue",
        "fieldSelector",
        "labelSelector",
        "limit",
        "resourceVersion",
        "resourceVersionMatch",
        "sendInitialEvents",
        "timeoutSeconds",
        "watch",
    ]
    .iter()
    .map(|n| query(n, ""))
    .collect()
}

struct Gvk<'a> {
    group: &'a str,
    version: &'a str,
    kind: &'a str,
}

fn reference(def: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{def}")})
}

fn operation(
    action: &str,
    id: &str,
    gvk: &Gvk<'_>,
    params: Vec<Value>,
    body: Option<&str>,
    answer: &str,
) -> Value {
    let mut op = json!({
        "operationId": id,
        "parameters": params,
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": reference(answer)}}}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": {"group": gvk.group, "version": gvk.version, "kind": gvk.kind},
    });
    if let Some(def) = body {
        let content_types: &[&str] = if action == "patch" {
            &[
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/strategic-merge-patch+json",
            ]
        } else {
            &[
                "application/json",
                "application/yaml",
                "application/vnd.kubernetes.protobuf",
            ]
        };
        let schema = if action == "patch" {
            json!({"type": "object"})
        } else {
            reference(def)
        };
        let content: Map<String, Value> = content_types
            .iter()
            .map(|t| ((*t).to_owned(), json!({"schema": schema.clone()})))
            .collect();
        op["requestBody"] = json!({"required": true, "content": content});
    }
    op
}

/// The path items of one resource, keyed by path. `def` is its kind's definition name and
/// `list_def` its list kind's.
pub fn resource_paths(info: &ResourceInfo, def: &str, list_def: &str) -> Vec<(String, Value)> {
    let prefix = if info.group.is_empty() {
        format!("/api/{}", info.version)
    } else {
        format!("/apis/{}/{}", info.group, info.version)
    };
    let collection = if info.namespaced {
        format!("{prefix}/namespaces/{{namespace}}/{}", info.plural)
    } else {
        format!("{prefix}/{}", info.plural)
    };
    let item = format!("{collection}/{{name}}");
    let gvk = Gvk {
        group: info.group,
        version: info.version,
        kind: info.kind,
    };
    let id = |verb: &str, suffix: &str| {
        let scope = if info.namespaced { "Namespaced" } else { "" };
        format!("{verb}{scope}{}{suffix}", info.kind)
    };
    let mut scope_params = Vec::new();
    if info.namespaced {
        scope_params.push(path_param("namespace"));
    }
    let mut item_params = vec![path_param("name")];
    item_params.extend(scope_params.iter().cloned());

    if !info.stored {
        // Created and answered, never stored: POST is the only operation.
        return vec![(
            collection,
            json!({
                "post": operation("post", &id("create", ""), &gvk, write_params(false), Some(def), def),
                "parameters": scope_params,
            }),
        )];
    }
    let mut paths = Vec::new();
    paths.push((
        collection.clone(),
        json!({
            "get": operation("list", &id("list", ""), &gvk, list_params(), None, list_def),
            "post": operation("post", &id("create", ""), &gvk, write_params(false), Some(def), def),
            "delete": operation("deletecollection", &id("deleteCollection", ""), &gvk, list_params(), None, "io.k8s.apimachinery.pkg.apis.meta.v1.Status"),
            "parameters": scope_params,
        }),
    ));
    paths.push((
        item.clone(),
        json!({
            "get": operation("get", &id("read", ""), &gvk, vec![], None, def),
            "put": operation("put", &id("replace", ""), &gvk, write_params(false), Some(def), def),
            "patch": operation("patch", &id("patch", ""), &gvk, write_params(true), Some(def), def),
            "delete": operation("delete", &id("delete", ""), &gvk, vec![query("dryRun", ""), query("gracePeriodSeconds", ""), query("propagationPolicy", "")], None, def),
            "parameters": item_params,
        }),
    ));
    for sub in info.subresources {
        let (sub_gvk, sub_def, suffix) = match sub {
            Subresource::Status => (
                Gvk {
                    group: info.group,
                    version: info.version,
                    kind: info.kind,
                },
                def.to_owned(),
                "Status",
            ),
            Subresource::Scale => (
                Gvk {
                    group: "autoscaling",
                    version: "v1",
                    kind: "Scale",
                },
                "io.k8s.api.autoscaling.v1.Scale".to_owned(),
                "Scale",
            ),
            Subresource::Binding => (
                Gvk {
                    group: "",
                    version: "v1",
                    kind: "Binding",
                },
                "io.k8s.api.core.v1.Binding".to_owned(),
                "Binding",
            ),
            Subresource::Token => (
                Gvk {
                    group: "authentication.k8s.io",
                    version: "v1",
                    kind: "TokenRequest",
                },
                "io.k8s.api.authentication.v1.TokenRequest".to_owned(),
                "Token",
            ),
            Subresource::Finalize => (
                Gvk {
                    group: info.group,
                    version: info.version,
                    kind: info.kind,
                },
                def.to_owned(),
                "Finalize",
            ),
        };
        let path = format!("{item}/{}", sub.name());
        let value = if matches!(sub, Subresource::Binding | Subresource::Token) {
            json!({
                "post": operation("post", &id("create", suffix), &sub_gvk, write_params(false), Some(&sub_def), &sub_def),
                "parameters": item_params,
            })
        } else if *sub == Subresource::Finalize {
            json!({
                "put": operation("put", &id("replace", suffix), &sub_gvk, write_params(false), Some(&sub_def), &sub_def),
                "parameters": item_params,
            })
        } else {
            json!({
                "get": operation("get", &id("read", suffix), &sub_gvk, vec![], None, &sub_def),
                "put": operation("put", &id("replace", suffix), &sub_gvk, write_params(false), Some(&sub_def), &sub_def),
                "patch": operation("patch", &id("patch", suffix), &sub_gvk, write_params(true), Some(&sub_def), &sub_def),
                "parameters": item_params,
            })
        };
        paths.push((path, value));
    }
    paths
}
