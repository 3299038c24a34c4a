//! The parts of serving custom resources that differ from built-ins: versions converted
//! by apiVersion, unknown fields found by the CRD's schema, printer columns, the scale
//! subresource at the CRD's paths.

use crate::negotiate::Output;
use crate::respond;
use axum::response::Response;
use bytes::Bytes;
use rkube_api::status::StatusError;
use rkube_registry::custom::{CustomVersion, ScalePaths};
use rkube_registry::storage::ListResult;
use rkube_registry::{ResourceInfo, Storage};
use serde_json::Value;

/// The fields of `obj` its version's schema does not know (they would be pruned), as
/// `fieldValidation` reports them.
pub fn unknown_fields(version: &CustomVersion, obj: &Value) -> Vec<String> {
    let Some(schema) = &version.schema else {
        return Vec::new();
    };
    let mut copy = obj.clone();
    schema.prune(&mut copy)
}

/// A table of custom objects with the CRD's printer columns.
pub fn table(
    version: &CustomVersion,
    objects: &[Value],
    include: Option<&str>,
    with_columns: bool,
    rv: &str,
    continue_token: Option<&str>,
) -> Value {
    rkube_printers::custom_table(
        &version.columns,
        objects,
        rkube_printers::IncludeObject::parse(include),
        with_columns,
        rv,
        continue_token,
        std::time::SystemTime::now(),
    )
}

fn pointer(path: &str) -> String {
    path.trim_start_matches('.').replace('.', "/")
}

/// The `autoscaling/v1` Scale view of a custom object.
pub fn scale_view(paths: &ScalePaths, obj: &Value) -> Value {
    let at = |path: &str| obj.pointer(&format!("/{}", pointer(path)));
    serde_json::json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": crate::resource::scale_metadata(obj),
        "spec": {"replicas": at(&paths.spec_replicas).and_then(Value::as_i64).unwrap_or(0)},
        "status": {
            "replicas": at(&paths.status_replicas).and_then(Value::as_i64).unwrap_or(0),
            "selector": paths.label_selector.as_deref().and_then(at).and_then(Value::as_str).unwrap_or(""),
        },
    })
}

/// Sets the desired replicas of a custom object at its scale path.
pub fn set_replicas(paths: &ScalePaths, obj: &mut Value, replicas: i64) {
    let mut node = obj;
    let parts: Vec<String> = pointer(&paths.spec_replicas)
        .split('/')
        .map(str::to_owned)
        .collect();
    let Some((last, parents)) = parts.split_last() else {
        return;
    };
    for part in parents {
        if !node[part.as_str()].is_object() {
            node[part.as_str()] = Value::Object(Default::default());
        }
        node = &mut node[part.as_str()];
    }
    node[last.as_str()] = Value::from(replicas);
}

/// The served version behind a custom resource request (404 once its CRD is gone).
pub fn version_of(
    storage: &Storage,
    info: &ResourceInfo,
) -> Result<std::sync::Arc<CustomVersion>, StatusError> {
    storage.custom().of(info).ok_or_else(|| {
        StatusError::not_found_message("the server could not find the requested resource")
    })
}

/// `fieldValidation` of a custom object: unknown fields are reported (Warn) or refused
/// (Strict) as upstream does for custom resources.
pub fn check_fields(
    version: &CustomVersion,
    mode: &str,
    obj: &Value,
) -> Result<Vec<String>, StatusError> {
    let unknown: Vec<String> = unknown_fields(version, obj)
        .into_iter()
        .map(|path| format!("unknown field {path:?}"))
        .collect();
    if mode == "Strict" && !unknown.is_empty() {
        return Err(StatusError::bad_request(&format!(
            "strict decoding error: {}",
            unknown.join(", ")
        )));
    }
    Ok(unknown)
}

impl crate::ApiServer {
    /// One object in the asked form, as the version `info` serves it.
    pub(crate) fn object(
        &self,
        output: Output,
        info: &ResourceInfo,
        code: u16,
        bytes: Bytes,
        include: Option<&str>,
    ) -> Response {
        let bytes = rkube_registry::convert::served_bytes(info, bytes);
        let custom = self.storage.custom().of(info);
        respond::object(output, info, custom.as_deref(), code, bytes, include)
    }

    /// A list in the asked form.
    pub(crate) fn list_response(
        &self,
        output: Output,
        info: &ResourceInfo,
        result: &ListResult,
        include: Option<&str>,
    ) -> Result<Response, StatusError> {
        let items: Vec<Bytes> = match rkube_registry::convert::converts(info) {
            true => result
                .items
                .iter()
                .map(|b| rkube_registry::convert::served_bytes(info, b.clone()))
                .collect(),
            false => result.items.clone(),
        };
        let rv = result.resource_version.to_string();
        let token = result.continue_token.as_deref();
        Ok(match output {
            Output::Table if info.custom => respond::value(
                200,
                &table(
                    &*version_of(&self.storage, info)?,
                    &respond::parse_all(&items),
                    include,
                    true,
                    &rv,
                    token,
                ),
            ),
            Output::Table => respond::value(
                200,
                &rkube_printers::table(
                    info.group,
                    info.plural,
                    &respond::parse_all(&items),
                    rkube_printers::IncludeObject::parse(include),
                    true,
                    &rv,
                    token,
                    std::time::SystemTime::now(),
                ),
            ),
            Output::Metadata => respond::json(
                200,
                respond::partial_list(&items, result.resource_version, token),
            ),
            Output::Protobuf { or_json } => respond::protobuf_or_json(
                200,
                respond::list_bytes(info, &items, result.resource_version, token),
                or_json,
            ),
            _ => respond::json(
                200,
                respond::list_bytes(info, &items, result.resource_version, token),
            ),
        })
    }

    /// The Scale view of a workload or of a custom object with the scale subresource.
    pub(crate) fn scale_view(
        &self,
        info: &ResourceInfo,
        obj: &Value,
    ) -> Result<Value, StatusError> {
        if !info.custom {
            return Ok(crate::resource::scale_view(obj));
        }
        let version = version_of(&self.storage, info)?;
        let paths = version.scale.as_ref().ok_or_else(|| {
            StatusError::not_found_message("the server could not find the requested resource")
        })?;
        Ok(scale_view(paths, obj))
    }
}
