//! Unit tests of the schema crate.

mod compile;
mod defaults;
mod prune;
mod validate;

use crate::Schema;
use rkube_api::field::{FieldError, Path};
use serde_json::{Value, json};

/// The path CRD validation passes for the first version's schema.
fn base() -> Path {
    Path::new("spec")
        .child("versions")
        .index(0)
        .child("schema")
        .child("openAPIV3Schema")
}

/// Compiles a schema that must be valid.
fn schema(raw: Value) -> Schema {
    match Schema::compile(&raw, &base()) {
        Ok(s) => s,
        Err(errs) => panic!("schema did not compile: {:?}", messages(&errs)),
    }
}

/// A root schema whose `spec` has the given properties.
fn spec_schema(props: Value) -> Schema {
    schema(json!({
        "type": "object",
        "properties": {"spec": {"type": "object", "properties": props}},
    }))
}

/// The errors of compiling a schema, rendered.
fn compile_errors(raw: Value) -> Vec<String> {
    match Schema::compile(&raw, &base()) {
        Ok(_) => Vec::new(),
        Err(errs) => messages(&errs),
    }
}

fn messages(errs: &[FieldError]) -> Vec<String> {
    errs.iter().map(ToString::to_string).collect()
}

/// The rendered errors of validating `{"spec": spec}` against `s`.
fn spec_errors(s: &Schema, spec: Value) -> Vec<String> {
    messages(&s.validate(&json!({"apiVersion": "x/v1", "kind": "X", "spec": spec})))
}
