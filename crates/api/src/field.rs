//! Field paths and field errors, as upstream's `field.Path` and `field.Error` render them.

use serde_json::Value;
use std::fmt;

/// A path to a field of an object, e.g. `spec.containers[0].image` or `metadata.labels[app]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Path(String);

impl Path {
    /// A path starting at a top-level field.
    pub fn new(name: &str) -> Path {
        Path(name.to_owned())
    }

    /// The path of a child field.
    pub fn child(&self, name: &str) -> Path {
        if self.0.is_empty() {
            Path(name.to_owned())
        } else {
            Path(format!("{}.{name}", self.0))
        }
    }

    /// The path of a list element.
    pub fn index(&self, i: usize) -> Path {
        Path(format!("{}[{i}]", self.0))
    }

    /// The path of a map entry.
    pub fn key(&self, key: &str) -> Path {
        Path(format!("{}[{key}]", self.0))
    }

    /// The path as upstream prints it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kind of a field error, naming upstream's `metav1.CauseType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// A required field is missing.
    Required,
    /// A value is malformed.
    Invalid,
    /// A value is not one of the supported ones.
    NotSupported,
    /// A field may not be set or changed.
    Forbidden,
    /// A value appears twice where it must be unique.
    Duplicate,
    /// A value is too long.
    TooLong,
}

impl ErrorType {
    /// The cause reason upstream reports, e.g. `FieldValueRequired`.
    pub fn reason(self) -> &'static str {
        match self {
            ErrorType::Required => "FieldValueRequired",
            ErrorType::Invalid => "FieldValueInvalid",
            ErrorType::NotSupported => "FieldValueNotSupported",
            ErrorType::Forbidden => "FieldValueForbidden",
            ErrorType::Duplicate => "FieldValueDuplicate",
            ErrorType::TooLong => "FieldValueTooLong",
        }
    }

    fn label(self) -> &'static str {
        match self {
            ErrorType::Required => "Required value",
            ErrorType::Invalid => "Invalid value",
            ErrorType::NotSupported => "Unsupported value",
            ErrorType::Forbidden => "Forbidden",
            ErrorType::Duplicate => "Duplicate value",
            ErrorType::TooLong => "Too long",
        }
    }
}

/// One problem with one field of a submitted object.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// What kind of problem.
    pub kind: ErrorType,
    /// The field's path.
    pub field: Path,
    /// The offending value, when the message shows it.
    pub value: Option<Value>,
    /// More detail for a person.
    pub detail: String,
}

impl FieldError {
    /// A required field is missing.
    pub fn required(path: &Path, detail: &str) -> FieldError {
        FieldError {
            kind: ErrorType::Required,
            field: path.clone(),
            value: None,
            detail: detail.to_owned(),
        }
    }

    /// A value is malformed.
    pub fn invalid(path: &Path, value: Value, detail: &str) -> FieldError {
        FieldError {
            kind: ErrorType::Invalid,
            field: path.clone(),
            value: Some(value),
            detail: detail.to_owned(),
        }
    }

    /// A value is not one of `supported`.
    pub fn not_supported(path: &Path, value: Value, supported: &[&str]) -> FieldError {
        let detail = if supported.is_empty() {
            String::new()
        } else {
            let quoted: Vec<String> = supported.iter().map(|s| format!("{s:?}")).collect();
            format!("supported values: {}", quoted.join(", "))
        };
        FieldError {
            kind: ErrorType::NotSupported,
            field: path.clone(),
            value: Some(value),
            detail,
        }
    }

    /// A field may not be set or changed.
    pub fn forbidden(path: &Path, detail: &str) -> FieldError {
        FieldError {
            kind: ErrorType::Forbidden,
            field: path.clone(),
            value: None,
            detail: detail.to_owned(),
        }
    }

    /// A value appears twice.
    pub fn duplicate(path: &Path, value: Value) -> FieldError {
        FieldError {
            kind: ErrorType::Duplicate,
            field: path.clone(),
            value: Some(value),
            detail: String::new(),
        }
    }

    /// A value is longer than `max` characters.
    pub fn too_long(path: &Path, max: usize) -> FieldError {
        FieldError {
            kind: ErrorType::TooLong,
            field: path.clone(),
            value: None,
            detail: format!("may not be more than {max} bytes"),
        }
    }

    /// The message without the field path, as a Status cause carries it.
    pub fn body(&self) -> String {
        let mut out = self.kind.label().to_owned();
        if let Some(value) = &self.value
            && matches!(
                self.kind,
                ErrorType::Invalid | ErrorType::NotSupported | ErrorType::Duplicate
            )
        {
            out.push_str(": ");
            out.push_str(&render_value(value));
        }
        if !self.detail.is_empty() {
            out.push_str(": ");
            out.push_str(&self.detail);
        }
        out
    }
}

/// Renders a value as upstream's `%#v`-like form: strings quoted, scalars bare.
fn render_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".to_owned(),
        other => other.to_string(),
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.body())
    }
}

impl std::error::Error for FieldError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_render_like_upstream() {
        let p = Path::new("spec")
            .child("containers")
            .index(0)
            .child("image");
        assert_eq!(p.as_str(), "spec.containers[0].image");
        assert_eq!(
            Path::new("metadata").child("labels").key("a/b").as_str(),
            "metadata.labels[a/b]"
        );
    }

    #[test]
    fn messages_render_like_upstream() {
        let p = Path::new("metadata").child("name");
        assert_eq!(
            FieldError::required(&p, "").to_string(),
            "metadata.name: Required value"
        );
        assert_eq!(
            FieldError::required(&p, "name or generateName is required").to_string(),
            "metadata.name: Required value: name or generateName is required"
        );
        assert_eq!(
            FieldError::invalid(&p, Value::from("A"), "bad").to_string(),
            "metadata.name: Invalid value: \"A\": bad"
        );
        assert_eq!(
            FieldError::not_supported(&p, Value::from("x"), &["a", "b"]).body(),
            "Unsupported value: \"x\": supported values: \"a\", \"b\""
        );
        assert_eq!(FieldError::forbidden(&p, "no").body(), "Forbidden: no");
        assert_eq!(
            FieldError::duplicate(&p, Value::from(3)).body(),
            "Duplicate value: 3"
        );
    }
}
