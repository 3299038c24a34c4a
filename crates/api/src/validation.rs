//! Name and metadata validation with upstream's messages.

use crate::field::{FieldError, Path};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', \
and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation \
is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric \
characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for \
validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";
const RFC1035_LABEL_MSG: &str = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start \
with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used \
for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";

fn too_long(max: usize) -> String {
    format!("must be no more than {max} characters")
}

fn is_label(s: &str, first_alpha: bool) -> bool {
    let b = s.as_bytes();
    let Some((&first, _)) = b.split_first() else {
        return false;
    };
    let Some(&last) = b.last() else { return false };
    let first_ok = if first_alpha {
        first.is_ascii_lowercase()
    } else {
        first.is_ascii_lowercase() || first.is_ascii_digit()
    };
    first_ok
        && (last.is_ascii_lowercase() || last.is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Problems with `name` as an RFC 1123 label (most namespaced names, namespaces).
pub fn dns1123_label(name: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if name.len() > 63 {
        errs.push(too_long(63));
    }
    if !is_label(name, false) {
        errs.push(DNS1123_LABEL_MSG.to_owned());
    }
    errs
}

/// Problems with `name` as an RFC 1123 subdomain (most object names).
pub fn dns1123_subdomain(name: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if name.len() > 253 {
        errs.push(too_long(253));
    }
    if !name.split('.').all(|part| is_label(part, false)) {
        errs.push(DNS1123_SUBDOMAIN_MSG.to_owned());
    }
    errs
}

/// Problems with `name` as an RFC 1035 label (Service names).
pub fn rfc1035_label(name: &str) -> Vec<String> {
    let mut errs = Vec::new();
    if name.len() > 63 {
        errs.push(too_long(63));
    }
    if !is_label(name, true) {
        errs.push(RFC1035_LABEL_MSG.to_owned());
    }
    errs
}

fn is_name_part(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// Problems with `key` as a qualified name (`[prefix/]name`), the form of label and annotation keys.
pub fn qualified_name(key: &str) -> Vec<String> {
    const MSG: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end \
with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is \
'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    let mut errs = Vec::new();
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    if let Some(prefix) = prefix {
        if prefix.is_empty() {
            errs.push("prefix part must be non-empty".to_owned());
        } else {
            errs.extend(
                dns1123_subdomain(prefix)
                    .into_iter()
                    .map(|m| format!("prefix part {m}")),
            );
        }
    }
    if name.is_empty() {
        errs.push("name part must be non-empty".to_owned());
    } else if name.len() > 63 {
        errs.push("name part must be no more than 63 characters".to_owned());
    } else if !is_name_part(name) || name.contains('/') {
        errs.push(MSG.to_owned());
    }
    errs
}

/// Problems with `value` as a label value.
pub fn label_value(value: &str) -> Vec<String> {
    if value.is_empty() {
        return Vec::new();
    }
    let mut errs = Vec::new();
    if value.len() > 63 {
        errs.push(too_long(63));
    }
    if !is_name_part(value) {
        errs.push(
            "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must \
start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for \
validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
                .to_owned(),
        );
    }
    errs
}

/// The total size limit of an object's annotations.
pub const TOTAL_ANNOTATION_SIZE_LIMIT: usize = 256 * 1024;

/// Validates an object's metadata on create: name (with the kind's `name_errors`), namespace,
/// labels, annotations, finalizers and owner references.
pub fn validate_object_meta(
    meta: &ObjectMeta,
    namespaced: bool,
    name_errors: &dyn Fn(&str) -> Vec<String>,
    path: &Path,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let name = meta.name.as_deref().unwrap_or("");
    let generate = meta.generate_name.as_deref().unwrap_or("");
    if name.is_empty() {
        if generate.is_empty() {
            errors.push(FieldError::required(
                &path.child("name"),
                "name or generateName is required",
            ));
        }
    } else {
        for msg in name_errors(name) {
            errors.push(FieldError::invalid(
                &path.child("name"),
                Value::from(name),
                &msg,
            ));
        }
    }
    let namespace = meta.namespace.as_deref().unwrap_or("");
    if namespaced {
        if namespace.is_empty() {
            errors.push(FieldError::required(&path.child("namespace"), ""));
        } else {
            for msg in dns1123_label(namespace) {
                errors.push(FieldError::invalid(
                    &path.child("namespace"),
                    Value::from(namespace),
                    &msg,
                ));
            }
        }
    } else if !namespace.is_empty() {
        errors.push(FieldError::forbidden(
            &path.child("namespace"),
            "not allowed on this type",
        ));
    }
    if let Some(labels) = &meta.labels {
        for (k, v) in labels {
            for msg in qualified_name(k) {
                errors.push(FieldError::invalid(
                    &path.child("labels"),
                    Value::from(k.as_str()),
                    &msg,
                ));
            }
            for msg in label_value(v) {
                errors.push(FieldError::invalid(
                    &path.child("labels"),
                    Value::from(v.as_str()),
                    &msg,
                ));
            }
        }
    }
    if let Some(annotations) = &meta.annotations {
        let mut total = 0;
        for (k, v) in annotations {
            total += k.len() + v.len();
            for msg in qualified_name(&k.to_lowercase()) {
                errors.push(FieldError::invalid(
                    &path.child("annotations"),
                    Value::from(k.as_str()),
                    &msg,
                ));
            }
        }
        if total > TOTAL_ANNOTATION_SIZE_LIMIT {
            errors.push(FieldError::too_long(
                &path.child("annotations"),
                TOTAL_ANNOTATION_SIZE_LIMIT,
            ));
        }
    }
    if let Some(finalizers) = &meta.finalizers {
        for (i, f) in finalizers.iter().enumerate() {
            for msg in qualified_name(f) {
                errors.push(FieldError::invalid(
                    &path.child("finalizers").index(i),
                    Value::from(f.as_str()),
                    &msg,
                ));
            }
        }
    }
    if let Some(owners) = &meta.owner_references {
        for (i, o) in owners.iter().enumerate() {
            let at = path.child("ownerReferences").index(i);
            for (field, value) in [
                ("apiVersion", &o.api_version),
                ("kind", &o.kind),
                ("name", &o.name),
                ("uid", &o.uid),
            ] {
                if value.is_empty() {
                    errors.push(FieldError::invalid(
                        &at.child(field),
                        Value::from(""),
                        &format!("{field} must not be empty"),
                    ));
                }
            }
        }
    }
    errors
}

/// Validates metadata changes on update: name, namespace, uid and creationTimestamp are immutable.
pub fn validate_object_meta_update(
    new: &ObjectMeta,
    old: &ObjectMeta,
    path: &Path,
) -> Vec<FieldError> {
    let mut errors = Vec::new();
    let immutable =
        |field: &str, n: &Option<String>, o: &Option<String>, errors: &mut Vec<FieldError>| {
            if n.as_deref().unwrap_or("") != o.as_deref().unwrap_or("") {
                let value = Value::from(n.clone().unwrap_or_default());
                errors.push(FieldError::invalid(
                    &path.child(field),
                    value,
                    "field is immutable",
                ));
            }
        };
    immutable("name", &new.name, &old.name, &mut errors);
    immutable("namespace", &new.namespace, &old.namespace, &mut errors);
    immutable("uid", &new.uid, &old.uid, &mut errors);
    if new.creation_timestamp != old.creation_timestamp {
        let value = serde_json::to_value(&new.creation_timestamp).unwrap_or(Value::Null);
        errors.push(FieldError::invalid(
            &path.child("creationTimestamp"),
            value,
            "field is immutable",
        ));
    }
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_rules() {
        assert!(dns1123_label("my-name-1").is_empty());
        assert_eq!(dns1123_label("My_Name"), vec![DNS1123_LABEL_MSG.to_owned()]);
        assert_eq!(dns1123_label(&"a".repeat(64)), vec![too_long(63)]);
        assert!(!dns1123_label("-a").is_empty());
        assert!(!dns1123_label("").is_empty());
        assert!(dns1123_subdomain("a.b-c.d").is_empty());
        assert!(!dns1123_subdomain("a..b").is_empty());
        assert!(rfc1035_label("web").is_empty());
        assert!(!rfc1035_label("1web").is_empty());
    }

    #[test]
    fn qualified_names() {
        assert!(qualified_name("app.kubernetes.io/name").is_empty());
        assert!(qualified_name("app").is_empty());
        assert!(!qualified_name("/app").is_empty());
        assert!(!qualified_name("a b").is_empty());
        assert!(label_value("").is_empty());
        assert!(!label_value("bad value").is_empty());
    }

    #[test]
    fn meta_requires_name_and_namespace() {
        let errs = validate_object_meta(
            &ObjectMeta::default(),
            true,
            &|n| dns1123_label(n),
            &Path::new("metadata"),
        );
        let rendered: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            rendered,
            vec![
                "metadata.name: Required value: name or generateName is required",
                "metadata.namespace: Required value"
            ]
        );
        let meta = ObjectMeta {
            name: Some("x".into()),
            namespace: Some("ns".into()),
            ..Default::default()
        };
        let errs =
            validate_object_meta(&meta, false, &|n| dns1123_label(n), &Path::new("metadata"));
        assert_eq!(
            errs[0].to_string(),
            "metadata.namespace: Forbidden: not allowed on this type"
        );
    }

    #[test]
    fn update_keeps_name() {
        let old = ObjectMeta {
            name: Some("a".into()),
            ..Default::default()
        };
        let new = ObjectMeta {
            name: Some("b".into()),
            ..Default::default()
        };
        let errs = validate_object_meta_update(&new, &old, &Path::new("metadata"));
        assert_eq!(
            errs[0].to_string(),
            "metadata.name: Invalid value: \"b\": field is immutable"
        );
    }
}
