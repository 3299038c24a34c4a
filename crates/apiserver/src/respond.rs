//! Building responses: objects, lists, tables, statuses.

use crate::negotiate::Output;
use axum::body::Body;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::{BufMut, Bytes, BytesMut};
use rkube_api::status::StatusError;
use rkube_registry::ResourceInfo;
use rkube_registry::custom::CustomVersion;
use serde_json::Value;
use std::time::SystemTime;

/// A JSON response with a status code.
pub fn json(code: u16, body: impl Into<Bytes>) -> Response {
    let mut resp = Response::new(Body::from(body.into()));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

/// A JSON response of a value.
pub fn value(code: u16, v: &Value) -> Response {
    json(code, serde_json::to_vec(v).unwrap_or_default())
}

/// A `metav1.Status` error response.
pub fn status(err: &StatusError) -> Response {
    value(err.code, &err.to_json())
}

/// A list of served objects: `<Kind>List` with the items' bytes spliced in.
pub fn list_bytes(
    info: &ResourceInfo,
    items: &[Bytes],
    rv: i64,
    continue_token: Option<&str>,
) -> Bytes {
    let mut meta = serde_json::json!({"resourceVersion": rv.to_string()});
    if let Some(token) = continue_token {
        meta["continue"] = Value::from(token);
    }
    let head = format!(
        "{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{},\"items\":[",
        info.kind,
        info.api_version(),
        meta
    );
    let size = head.len() + items.iter().map(|i| i.len() + 1).sum::<usize>() + 2;
    let mut out = BytesMut::with_capacity(size);
    out.put_slice(head.as_bytes());
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.put_u8(b',');
        }
        out.put_slice(item);
    }
    out.put_slice(b"]}");
    out.freeze()
}

/// Parses served objects for a table.
pub fn parse_all(items: &[Bytes]) -> Vec<Value> {
    items
        .iter()
        .filter_map(|b| serde_json::from_slice(b).ok())
        .collect()
}

/// One object in the asked form (a custom object's table from its CRD's columns).
pub fn object(
    output: Output,
    info: &ResourceInfo,
    custom: Option<&CustomVersion>,
    code: u16,
    bytes: Bytes,
    include: Option<&str>,
) -> Response {
    match output {
        Output::Table => {
            let objects = parse_all(std::slice::from_ref(&bytes));
            let rv = objects
                .first()
                .and_then(|o| o["metadata"]["resourceVersion"].as_str())
                .unwrap_or("")
                .to_owned();
            if let Some(version) = custom {
                let table = crate::custom::table(version, &objects, include, true, &rv, None);
                return value(code, &table);
            }
            let table = rkube_printers::table(
                info.group,
                info.plural,
                &objects,
                rkube_printers::IncludeObject::parse(include),
                true,
                &rv,
                None,
                SystemTime::now(),
            );
            value(code, &table)
        }
        Output::Metadata => json(code, partial(&bytes)),
        Output::Protobuf { or_json } => protobuf_or_json(code, bytes, or_json),
        _ => json(code, bytes),
    }
}

/// A served JSON document (object or list) as Kubernetes protobuf, when its kind has a
/// message.
pub fn protobuf(code: u16, bytes: &[u8]) -> Option<Response> {
    let obj: Value = serde_json::from_slice(bytes).ok()?;
    let body = rkube_protobuf::Codec::builtin().encode(&obj).ok()?;
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::OK);
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(crate::negotiate::PROTOBUF),
    );
    Some(resp)
}

/// Protobuf when the kind has a message; else JSON if the client takes it, else 406.
pub fn protobuf_or_json(code: u16, bytes: Bytes, or_json: bool) -> Response {
    match protobuf(code, &bytes) {
        Some(resp) => resp,
        None if or_json => json(code, bytes),
        None => status(&StatusError::not_acceptable(
            "only the following media types are accepted: application/json, application/yaml",
        )),
    }
}

/// The `metadata` of an encoded object, as it is encoded: the rest of the object is only
/// scanned, never built (a metadata watch converts every event of its resource).
#[derive(serde::Deserialize)]
struct MetadataOnly<'a> {
    #[serde(borrow, default)]
    metadata: Option<&'a serde_json::value::RawValue>,
}

/// Appends `{"kind":"PartialObjectMetadata",…,"metadata":…}` for the encoded object.
fn push_partial(out: &mut Vec<u8>, bytes: &[u8]) {
    let metadata = serde_json::from_slice::<MetadataOnly>(bytes)
        .ok()
        .and_then(|m| m.metadata)
        .map_or("{}", serde_json::value::RawValue::get);
    out.extend_from_slice(
        br#"{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":"#,
    );
    out.extend_from_slice(metadata.as_bytes());
    out.push(b'}');
}

/// A served object as `meta.k8s.io/v1` PartialObjectMetadata (its metadata only).
pub fn partial(bytes: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(bytes.len() / 2 + 80);
    push_partial(&mut out, bytes);
    Bytes::from(out)
}

/// A list of served objects as `meta.k8s.io/v1` PartialObjectMetadataList.
pub fn partial_list(items: &[Bytes], rv: i64, continue_token: Option<&str>) -> Bytes {
    let mut meta = serde_json::json!({"resourceVersion": rv.to_string()});
    if let Some(token) = continue_token {
        meta["continue"] = Value::from(token);
    }
    let mut out = Vec::with_capacity(items.iter().map(|b| b.len() / 2 + 80).sum::<usize>() + 160);
    out.extend_from_slice(
        br#"{"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1","metadata":"#,
    );
    out.extend_from_slice(&serde_json::to_vec(&meta).unwrap_or_default());
    out.extend_from_slice(br#","items":["#);
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_partial(&mut out, item);
    }
    out.extend_from_slice(b"]}");
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_metadata_keeps_the_metadata_as_encoded_and_nothing_else() {
        let pod = serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "a\"b", "labels": {"x": "y"}, "managedFields": [{"manager": "m"}]},
            "spec": {"containers": [{"name": "c", "image": "i"}]},
        });
        let bytes = serde_json::to_vec(&pod).unwrap();
        let out: Value = serde_json::from_slice(&partial(&bytes)).unwrap();
        assert_eq!(
            out,
            serde_json::json!({
                "kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                "metadata": pod["metadata"],
            })
        );
        let list = partial_list(
            &[
                Bytes::from(bytes),
                Bytes::from_static(b"{\"kind\":\"Pod\"}"),
            ],
            7,
            Some("next"),
        );
        let list: Value = serde_json::from_slice(&list).unwrap();
        assert_eq!(list["kind"], "PartialObjectMetadataList");
        assert_eq!(
            list["metadata"],
            serde_json::json!({"resourceVersion": "7", "continue": "next"})
        );
        assert_eq!(list["items"][0], out);
        assert_eq!(list["items"][1]["metadata"], serde_json::json!({}));
    }
}
