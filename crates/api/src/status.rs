//! `metav1.Status` errors with the reasons, codes, messages and causes upstream returns.

use crate::field::FieldError;
use crate::gvk::{GroupKind, GroupResource};
use serde_json::{Map, Value, json};
use std::fmt;

/// One cause of a failure, usually a field error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusCause {
    /// A machine-readable reason, e.g. `FieldValueRequired`.
    pub reason: String,
    /// A message for a person.
    pub message: String,
    /// The field path the cause is about, if any.
    pub field: String,
}

/// Details of a failure: the object it was about and its causes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatusDetails {
    /// The object's name.
    pub name: String,
    /// The object's API group.
    pub group: String,
    /// The object's kind (or resource, as upstream reports for some reasons).
    pub kind: String,
    /// The individual causes.
    pub causes: Vec<StatusCause>,
    /// Seconds after which a client may retry.
    pub retry_after_seconds: Option<u32>,
}

/// An API error carried to the client as a `metav1.Status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusError {
    /// The HTTP status code.
    pub code: u16,
    /// The `StatusReason`, e.g. `NotFound`.
    pub reason: String,
    /// A message for a person.
    pub message: String,
    /// Details, when upstream gives them (boxed: errors travel in `Result`s everywhere).
    pub details: Option<Box<StatusDetails>>,
}

impl fmt::Display for StatusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for StatusError {}

fn quote(name: &str) -> String {
    format!("{name:?}")
}

impl StatusError {
    fn new(
        code: u16,
        reason: &str,
        message: String,
        details: Option<StatusDetails>,
    ) -> StatusError {
        StatusError {
            code,
            reason: reason.to_owned(),
            message,
            details: details.map(Box::new),
        }
    }

    fn about(gr: &GroupResource, name: &str) -> Option<StatusDetails> {
        Some(StatusDetails {
            name: name.to_owned(),
            group: gr.group.clone(),
            kind: gr.resource.clone(),
            ..StatusDetails::default()
        })
    }

    /// 404: the named object does not exist.
    pub fn not_found(gr: &GroupResource, name: &str) -> StatusError {
        Self::new(
            404,
            "NotFound",
            format!("{gr} {} not found", quote(name)),
            Self::about(gr, name),
        )
    }

    /// 404 with a message of its own (unknown paths, resources or versions).
    pub fn not_found_message(message: &str) -> StatusError {
        Self::new(
            404,
            "NotFound",
            message.to_owned(),
            Some(StatusDetails::default()),
        )
    }

    /// 409: an object of that name exists already.
    pub fn already_exists(gr: &GroupResource, name: &str) -> StatusError {
        Self::new(
            409,
            "AlreadyExists",
            format!("{gr} {} already exists", quote(name)),
            Self::about(gr, name),
        )
    }

    /// 409: the write lost a race (stale resourceVersion, failed precondition).
    pub fn conflict(gr: &GroupResource, name: &str, why: &str) -> StatusError {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {gr} {}: {why}",
                quote(name)
            ),
            Self::about(gr, name),
        )
    }

    /// 422: the object failed validation; one cause per field error.
    pub fn invalid(gk: &GroupKind, name: &str, errors: &[FieldError]) -> StatusError {
        let listed = match errors {
            [one] => one.to_string(),
            many => format!(
                "[{}]",
                many.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let causes = errors
            .iter()
            .map(|e| StatusCause {
                reason: e.kind.reason().to_owned(),
                message: e.body(),
                field: e.field.to_string(),
            })
            .collect();
        Self::new(
            422,
            "Invalid",
            format!("{gk} {} is invalid: {listed}", quote(name)),
            Some(StatusDetails {
                name: name.to_owned(),
                group: gk.group.clone(),
                kind: gk.kind.clone(),
                causes,
                retry_after_seconds: None,
            }),
        )
    }

    /// 400: the request itself is malformed.
    pub fn bad_request(message: &str) -> StatusError {
        Self::new(400, "BadRequest", message.to_owned(), None)
    }

    /// 405: the verb is not served for the resource.
    pub fn method_not_supported(gr: &GroupResource, verb: &str) -> StatusError {
        let kind = if gr.resource.is_empty() {
            String::new()
        } else {
            gr.to_string()
        };
        Self::new(
            405,
            "MethodNotAllowed",
            format!(
                "{verb} is not supported on resources of kind {}",
                quote(&kind)
            ),
            Some(StatusDetails {
                group: gr.group.clone(),
                kind: gr.resource.clone(),
                ..StatusDetails::default()
            }),
        )
    }

    /// 410: the requested resourceVersion has been compacted away.
    pub fn resource_expired(message: &str) -> StatusError {
        Self::new(410, "Expired", message.to_owned(), None)
    }

    /// 415: the body's media type is not one the server decodes.
    pub fn unsupported_media_type(media_type: &str) -> StatusError {
        Self::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format ({media_type}) - accepted media types include: \
                 application/json, application/yaml, application/vnd.kubernetes.protobuf"
            ),
            None,
        )
    }

    /// 406: no acceptable response type.
    pub fn not_acceptable(message: &str) -> StatusError {
        Self::new(406, "NotAcceptable", message.to_owned(), None)
    }

    /// 413: the request or the object is too large.
    pub fn request_entity_too_large(message: &str) -> StatusError {
        Self::new(
            413,
            "RequestEntityTooLarge",
            format!("Request entity too large: {message}"),
            None,
        )
    }

    /// 401: the request carries no valid credentials.
    pub fn unauthorized(message: &str) -> StatusError {
        Self::new(401, "Unauthorized", message.to_owned(), None)
    }

    /// 403: the request is not allowed.
    pub fn forbidden(gr: &GroupResource, name: &str, reason: &str) -> StatusError {
        let message = if name.is_empty() {
            format!("{gr} is forbidden: {reason}")
        } else {
            format!("{gr} {} is forbidden: {reason}", quote(name))
        };
        Self::new(403, "Forbidden", message, Self::about(gr, name))
    }

    /// 500: something failed unexpectedly inside the server.
    pub fn internal_error(message: &str) -> StatusError {
        Self::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
            Some(StatusDetails {
                causes: vec![StatusCause {
                    message: message.to_owned(),
                    ..StatusCause::default()
                }],
                ..StatusDetails::default()
            }),
        )
    }

    /// 504: a resourceVersion newer than the server has seen was asked for.
    pub fn too_large_resource_version(current: i64, requested: i64) -> StatusError {
        Self::new(
            504,
            "Timeout",
            format!("Too large resource version: {requested}, current: {current}"),
            Some(StatusDetails {
                causes: vec![StatusCause {
                    reason: "ResourceVersionTooLarge".to_owned(),
                    message: "Too large resource version".to_owned(),
                    field: String::new(),
                }],
                retry_after_seconds: Some(1),
                ..StatusDetails::default()
            }),
        )
    }

    /// The `metav1.Status` object of this error.
    pub fn to_json(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        });
        if let Some(d) = &self.details {
            let mut details = Map::new();
            let mut put = |k: &str, v: &str| {
                if !v.is_empty() {
                    details.insert(k.to_owned(), Value::from(v));
                }
            };
            put("name", &d.name);
            put("group", &d.group);
            put("kind", &d.kind);
            if !d.causes.is_empty() {
                let causes = d
                    .causes
                    .iter()
                    .map(|c| {
                        let mut cause = Map::new();
                        for (k, v) in [
                            ("reason", &c.reason),
                            ("message", &c.message),
                            ("field", &c.field),
                        ] {
                            if !v.is_empty() {
                                cause.insert(k.to_owned(), Value::from(v.as_str()));
                            }
                        }
                        Value::Object(cause)
                    })
                    .collect();
                details.insert("causes".to_owned(), Value::Array(causes));
            }
            if let Some(secs) = d.retry_after_seconds {
                details.insert("retryAfterSeconds".to_owned(), Value::from(secs));
            }
            status["details"] = Value::Object(details);
        }
        status["code"] = Value::from(self.code);
        status
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::field::Path;

    #[test]
    fn not_found_matches_upstream() {
        let err = StatusError::not_found(&GroupResource::new("apps", "deployments"), "web");
        assert_eq!(
            err.to_json(),
            json!({"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure",
                   "message":"deployments.apps \"web\" not found","reason":"NotFound",
                   "details":{"name":"web","group":"apps","kind":"deployments"},"code":404})
        );
    }

    #[test]
    fn invalid_lists_causes_with_field_paths() {
        let errors = [
            FieldError::required(
                &Path::new("spec")
                    .child("containers")
                    .index(0)
                    .child("image"),
                "",
            ),
            FieldError::invalid(
                &Path::new("metadata").child("name"),
                Value::from("A"),
                "bad",
            ),
        ];
        let err = StatusError::invalid(&GroupKind::new("", "Pod"), "A", &errors);
        assert_eq!(err.code, 422);
        assert_eq!(
            err.message,
            "Pod \"A\" is invalid: [spec.containers[0].image: Required value, metadata.name: Invalid value: \"A\": bad]"
        );
        let json = err.to_json();
        assert_eq!(
            json["details"]["causes"][0]["field"],
            "spec.containers[0].image"
        );
        assert_eq!(json["details"]["causes"][0]["reason"], "FieldValueRequired");
        assert_eq!(
            json["details"]["causes"][1]["message"],
            "Invalid value: \"A\": bad"
        );
        let one = StatusError::invalid(&GroupKind::new("apps", "Deployment"), "d", &errors[..1]);
        assert_eq!(
            one.message,
            "Deployment.apps \"d\" is invalid: spec.containers[0].image: Required value"
        );
    }

    #[test]
    fn conflict_and_forbidden_messages() {
        let gr = GroupResource::new("", "configmaps");
        assert_eq!(
            StatusError::conflict(&gr, "c", "the object has been modified").message,
            "Operation cannot be fulfilled on configmaps \"c\": the object has been modified"
        );
        assert_eq!(
            StatusError::forbidden(&gr, "", "no").message,
            "configmaps is forbidden: no"
        );
        assert_eq!(StatusError::too_large_resource_version(5, 9).code, 504);
    }
}
