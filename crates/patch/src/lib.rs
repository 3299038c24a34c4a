//! Patch engines for the API server: RFC 6902 JSON patch, RFC 7386 JSON merge patch and
//! Kubernetes' strategic merge patch driven by the built-in kinds' merge keys.

/// Definition names of the built-in API packages, e.g. `core!("Pod")`.
macro_rules! core {
    ($n:literal) => {
        concat!("io.k8s.api.core.v1.", $n)
    };
}
macro_rules! apps {
    ($n:literal) => {
        concat!("io.k8s.api.apps.v1.", $n)
    };
}
macro_rules! batch {
    ($n:literal) => {
        concat!("io.k8s.api.batch.v1.", $n)
    };
}
macro_rules! admission {
    ($n:literal) => {
        concat!("io.k8s.api.admissionregistration.v1.", $n)
    };
}
macro_rules! meta {
    ($n:literal) => {
        concat!("io.k8s.apimachinery.pkg.apis.meta.v1.", $n)
    };
}

pub mod apply;
mod jsonpatch;
mod kinds;
mod lists;
mod schema;
mod smp;
mod table;

use serde_json::Value;

pub use schema::{Definition, FieldMeta, Schema};

/// Why a patch could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The patch document is not a valid patch of its type (upstream answers 400 Bad Request).
    #[error("{0}")]
    Invalid(String),
    /// The patch is well-formed but cannot be applied to this document, e.g. a JSON patch
    /// `test` failed or a path is missing (upstream answers 422 Unprocessable Entity).
    #[error("{0}")]
    Unprocessable(String),
}

impl PatchError {
    /// The HTTP status upstream's API server answers this error with (400 or 422).
    pub fn status_code(&self) -> u16 {
        match self {
            PatchError::Invalid(_) => 400,
            PatchError::Unprocessable(_) => 422,
        }
    }
}

/// Applies an RFC 6902 JSON patch (`patch` is the array of operations) to `doc`.
///
/// Follows the behaviour of the JSON patch library upstream's API server uses: a `replace` of
/// a missing object member adds it, a `test` of a missing member against `null` succeeds, and
/// error messages are worded like its own.
pub fn json_patch(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    jsonpatch::apply(doc, patch)
}

/// Applies an RFC 7386 JSON merge patch to `doc`.
pub fn merge_patch(doc: &Value, patch: &Value) -> Value {
    let mut out = doc.clone();
    json_patch::merge(&mut out, patch);
    out
}

/// Applies a strategic merge patch to `doc`, an object of definition `def`.
///
/// Maps merge recursively and `null` deletes a key. Lists whose field has the `merge` strategy
/// are merged by their merge key (lists of objects) or as ordered sets (lists of primitives);
/// other lists are replaced. The directives `$patch` (`replace`, `delete`, `merge`),
/// `$retainKeys`, `$setElementOrder/<list>` and `$deleteFromPrimitiveList/<list>` are applied
/// and never appear in the result. Fields the schema does not know behave as in a JSON merge
/// patch. Merged lists are ordered like upstream orders them.
pub fn strategic_merge_patch(
    doc: &Value,
    patch: &Value,
    schema: &Schema,
    def: &Definition,
) -> Result<Value, PatchError> {
    smp::apply(doc, patch, schema, Some(def))
}

/// Applies a strategic merge patch to `doc` without any schema: every list is replaced, but
/// the directives are still honoured and stripped (what [`strategic_merge_patch`] does for
/// fields its schema does not know).
pub fn strategic_merge_patch_untyped(doc: &Value, patch: &Value) -> Result<Value, PatchError> {
    smp::apply(doc, patch, Schema::builtin(), None)
}
