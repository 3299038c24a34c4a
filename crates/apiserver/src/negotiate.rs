//! Content negotiation: decoding request bodies and choosing the response
//! form from `Accept`.

use bytes::Bytes;
use rkube_api::status::StatusError;
use serde_json::Value;

/// Upstream's limit on a request body.
pub const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// The media type kubectl uses for protobuf.
pub const PROTOBUF: &str = "application/vnd.kubernetes.protobuf";

/// The media type of a `Content-Type` or `Accept` entry, without parameters.
pub fn media_type(value: &str) -> &str {
    value.split(';').next().unwrap_or("").trim()
}

/// Decodes a create/update body by its content type.
pub fn decode_body(content_type: Option<&str>, body: &Bytes) -> Result<Value, StatusError> {
    let media = content_type.map(media_type).unwrap_or("application/json");
    match media {
        "application/json" | "" | "*/*" => serde_json::from_slice(body).map_err(|err| {
            StatusError::bad_request(&format!(
                "couldn't get version/kind; json parse error: {err}"
            ))
        }),
        "application/yaml" | "application/x-yaml" | "text/yaml" => {
            serde_saphyr::from_slice::<Value>(body).map_err(|err| {
                StatusError::bad_request(&format!("error converting YAML to JSON: {err}"))
            })
        }
        PROTOBUF => rkube_protobuf::Codec::builtin()
            .decode(body)
            .map_err(|err| StatusError::bad_request(&err.to_string())),
        other => Err(StatusError::unsupported_media_type(other)),
    }
}

/// How a response should be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Output {
    /// The object(s) as JSON.
    Json,
    /// A `meta.k8s.io/v1` Table (`as=Table`).
    Table,
    /// Only metadata: `meta.k8s.io/v1` PartialObjectMetadata(List), as metadata informers ask.
    Metadata,
    /// Aggregated discovery, `apidiscovery.k8s.io` at this version.
    Discovery(&'static str),
    /// Kubernetes protobuf, for kinds that have a message; the others as JSON when the
    /// client also takes JSON (`or_json`), else 406.
    Protobuf {
        /// Whether JSON is acceptable too.
        or_json: bool,
    },
}

/// Chooses the response form from `Accept`; `Err` with 406 when nothing
/// acceptable can be produced.
pub fn choose_output(accept: Option<&str>) -> Result<Output, StatusError> {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else {
        return Ok(Output::Json);
    };
    let mut acceptable = false;
    let mut protobuf_first = false;
    for entry in accept.split(',') {
        let media = media_type(entry);
        let params: Vec<(&str, &str)> = entry
            .split(';')
            .skip(1)
            .filter_map(|p| p.trim().split_once('='))
            .collect();
        let param = |k: &str| params.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
        if media == PROTOBUF && param("as").is_none() {
            protobuf_first |= !acceptable;
            continue;
        }
        if !matches!(media, "application/json" | "*/*" | "application/*") {
            continue;
        }
        match (param("as"), param("g"), param("v")) {
            (Some("Table"), Some("meta.k8s.io"), Some("v1" | "v1beta1")) => {
                return Ok(Output::Table);
            }
            (
                Some("PartialObjectMetadata" | "PartialObjectMetadataList"),
                Some("meta.k8s.io"),
                Some("v1" | "v1beta1"),
            ) => {
                return Ok(Output::Metadata);
            }
            (Some("APIGroupDiscoveryList"), Some("apidiscovery.k8s.io"), Some("v2")) => {
                return Ok(Output::Discovery("v2"));
            }
            (Some("APIGroupDiscoveryList"), Some("apidiscovery.k8s.io"), Some("v2beta1")) => {
                return Ok(Output::Discovery("v2beta1"));
            }
            (None, _, _) => acceptable = true,
            _ => {}
        }
    }
    if protobuf_first {
        Ok(Output::Protobuf {
            or_json: acceptable,
        })
    } else if acceptable {
        Ok(Output::Json)
    } else {
        Err(StatusError::not_acceptable(
            "only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_accept_headers() {
        let table = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json";
        assert_eq!(choose_output(Some(table)).unwrap(), Output::Table);
        let disc = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";
        assert_eq!(choose_output(Some(disc)).unwrap(), Output::Discovery("v2"));
        let proto = "application/vnd.kubernetes.protobuf,application/json";
        assert_eq!(
            choose_output(Some(proto)).unwrap(),
            Output::Protobuf { or_json: true }
        );
        assert_eq!(
            choose_output(Some("application/vnd.kubernetes.protobuf")).unwrap(),
            Output::Protobuf { or_json: false }
        );
        let json_first = "application/json,application/vnd.kubernetes.protobuf";
        assert_eq!(choose_output(Some(json_first)).unwrap(), Output::Json);
        assert!(choose_output(Some("text/html")).is_err());
        assert_eq!(choose_output(None).unwrap(), Output::Json);
        let meta = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1";
        assert_eq!(choose_output(Some(meta)).unwrap(), Output::Metadata);
    }

    #[test]
    fn malformed_bodies_are_bad_requests() {
        let err = decode_body(Some("application/json"), &Bytes::from_static(b"{nope")).unwrap_err();
        assert_eq!(err.code, 400);
        let err = decode_body(Some("text/plain"), &Bytes::from_static(b"x")).unwrap_err();
        assert_eq!(err.code, 415);
    }
}
