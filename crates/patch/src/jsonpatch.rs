//! RFC 6902 JSON patch on top of the `json-patch` crate, applied one operation at a time so
//! that failures can be described the way upstream's JSON patch library (evanphx/json-patch v4,
//! as vendored by the Kubernetes API server) describes them.

use json_patch::jsonptr::Pointer;
use json_patch::{PatchErrorKind, PatchOperation};
use serde_json::Value;

use crate::PatchError;
use crate::smp::json_kind;

const OPS: &[&str] = &["add", "remove", "replace", "move", "copy", "test"];

pub(crate) fn apply(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops = patch.as_array().ok_or_else(|| {
        PatchError::Invalid(format!(
            "json: cannot unmarshal {} into Go value of type jsonpatch.Patch",
            json_kind(patch)
        ))
    })?;
    let mut out = doc.clone();
    for raw in ops {
        let kind = raw.get("op").and_then(Value::as_str).unwrap_or("unknown");
        if !OPS.contains(&kind) {
            return Err(PatchError::Unprocessable(format!(
                "Unexpected kind: {kind}"
            )));
        }
        let op: PatchOperation = serde_json::from_value(raw.clone())
            .map_err(|e| PatchError::Invalid(format!("invalid JSON patch operation {raw}: {e}")))?;
        apply_one(&mut out, op)?;
    }
    Ok(out)
}

fn apply_one(doc: &mut Value, op: PatchOperation) -> Result<(), PatchError> {
    let op = match op {
        // Upstream's `replace` only checks that the parent exists: on an object it also adds.
        PatchOperation::Replace(r) if parent_object_lacks(doc, &r.path) => {
            PatchOperation::Add(json_patch::AddOperation {
                path: r.path,
                value: r.value,
            })
        }
        // Upstream's `test` of a missing object member passes when the expected value is null.
        PatchOperation::Test(t) if t.value.is_null() && parent_object_lacks(doc, &t.path) => {
            return Ok(());
        }
        op => op,
    };
    // A single operation either applies or leaves `doc` untouched.
    match json_patch::patch(doc, std::slice::from_ref(&op)) {
        Ok(()) => Ok(()),
        Err(err) => Err(PatchError::Unprocessable(describe(doc, &op, &err.kind))),
    }
}

/// Whether `path`'s parent is an object that has no member named by its last token.
fn parent_object_lacks(doc: &Value, path: &Pointer) -> bool {
    let Some((parent, last)) = path.split_back() else {
        return false;
    };
    matches!(doc.pointer(parent.as_str()), Some(Value::Object(m)) if !m.contains_key(last.decoded().as_ref()))
}

/// What the parent of `path` is in `doc`: `None` when missing (or not a container).
fn parent_of<'a>(doc: &'a Value, path: &Pointer) -> Option<&'a Value> {
    match path.split_back() {
        Some((parent, _)) => doc
            .pointer(parent.as_str())
            .filter(|p| p.is_object() || p.is_array()),
        None => Some(doc),
    }
}

fn last_token(path: &Pointer) -> String {
    path.last()
        .map(|t| t.decoded().into_owned())
        .unwrap_or_default()
}

/// Words a failed operation like upstream does.
fn describe(doc: &Value, op: &PatchOperation, kind: &PatchErrorKind) -> String {
    const MISSING: &str = "missing value";
    const INVALID_INDEX: &str = "invalid index referenced";
    let path = op.path();
    let p = path.as_str();
    let parent = parent_of(doc, path);
    let last = last_token(path);
    match op {
        PatchOperation::Add(_) => match parent {
            None => {
                format!("add operation does not apply: doc is missing path: \"{p}\": {MISSING}")
            }
            Some(_) => format!(
                "error in add for path: '{p}': Unable to access invalid index: {last}: {INVALID_INDEX}"
            ),
        },
        PatchOperation::Remove(_) => match parent {
            None => {
                format!("remove operation does not apply: doc is missing path: \"{p}\": {MISSING}")
            }
            Some(Value::Array(_)) => format!(
                "error in remove for path: '{p}': Unable to access invalid index: {last}: {INVALID_INDEX}"
            ),
            Some(_) => format!(
                "error in remove for path: '{p}': Unable to remove nonexistent key: {last}: {MISSING}"
            ),
        },
        PatchOperation::Replace(_) => match parent {
            None => {
                format!("replace operation does not apply: doc is missing path: {p}: {MISSING}")
            }
            Some(_) => {
                format!("replace operation does not apply: doc is missing key: {p}: {MISSING}")
            }
        },
        PatchOperation::Move(m) => match kind {
            PatchErrorKind::InvalidFromPointer => format!(
                "move operation does not apply: doc is missing from path: {}: {MISSING}",
                m.from.as_str()
            ),
            PatchErrorKind::InvalidPointer => format!(
                "move operation does not apply: doc is missing destination path: {p}: {MISSING}"
            ),
            other => format!("error in move for path: '{p}': {other}"),
        },
        PatchOperation::Copy(c) => match kind {
            PatchErrorKind::InvalidFromPointer => format!(
                "copy operation does not apply: doc is missing from path: {}: {MISSING}",
                c.from.as_str()
            ),
            _ => format!(
                "copy operation does not apply: doc is missing destination path: {p}: {MISSING}"
            ),
        },
        PatchOperation::Test(_) => match (kind, parent) {
            (PatchErrorKind::InvalidPointer, None) => {
                format!("test operation does not apply: is missing path: {p}: {MISSING}")
            }
            (PatchErrorKind::InvalidPointer, Some(Value::Array(_))) => format!(
                "error in test for path: '{p}': Unable to access invalid index: {last}: {INVALID_INDEX}"
            ),
            _ => format!("testing value {p} failed: test failed"),
        },
    }
}
