//! Structural OpenAPI v3 schemas of CustomResourceDefinitions
//! (`spec.versions[].schema.openAPIV3Schema` of `apiextensions.k8s.io/v1`), treated the way
//! upstream's apiextensions-apiserver treats them: compiling with the structural-schema rules,
//! validating custom objects (with kube-openapi's messages), defaulting and pruning.
//!
//! The usual order on a write is: [`Schema::prune`], [`Schema::apply_defaults`], then
//! [`Schema::validate`] (plus ObjectMeta validation by the caller).

mod compile;
mod defaults;
mod formats;
mod listtype;
mod node;
mod number;
mod prune;
mod structural;
mod validate;

#[cfg(test)]
mod tests;

use node::{Additional, Node};
use rkube_api::field::{FieldError, Path};
use serde_json::Value;

/// A compiled structural schema of one CRD version.
///
/// Build it once per CRD version with [`Schema::compile`]; it is then used for every custom
/// object of that version.
#[derive(Debug, Clone)]
pub struct Schema {
    root: Node,
    raw: Value,
}

impl Schema {
    /// Compiles `openAPIV3Schema`; errors are CRD validation errors with paths under `base`
    /// (the caller passes e.g. the path of `spec.versions[0].schema.openAPIV3Schema`).
    ///
    /// Besides the structural rules this checks that every `default` validates and has no
    /// unknown fields; defaults are kept pruned by their schemas.
    pub fn compile(schema: &Value, base: &Path) -> Result<Schema, Vec<FieldError>> {
        let root = compile::compile(schema, base)?;
        Ok(Schema {
            root,
            raw: schema.clone(),
        })
    }

    /// Applies `default`s to a custom object: a property's default is set when the property
    /// is absent, or `null` while not nullable; recursively, including inside array items and
    /// `additionalProperties` values. Like upstream, `null`s of non-nullable fields without a
    /// default are dropped first. The root's metadata is left alone.
    pub fn apply_defaults(&self, obj: &mut Value) {
        // The root's metadata is not among the compiled properties, so it is never touched.
        defaults::drop_nulls(obj, Some(&self.root));
        defaults::apply(obj, &self.root);
    }

    /// Drops fields the schema does not specify, except below
    /// `x-kubernetes-preserve-unknown-fields`, `apiVersion`/`kind`/`metadata` at the root and
    /// of `x-kubernetes-embedded-resource` objects. Returns the pruned field paths (e.g.
    /// `spec.foo`, `spec.items[0].bar`), for warnings.
    pub fn prune(&self, obj: &mut Value) -> Vec<String> {
        prune::prune(obj, &self.root, true)
    }

    /// Validates a custom object against the schema, returning upstream-style field errors
    /// (schema errors first, then `x-kubernetes-list-type` uniqueness errors). The root's
    /// metadata is not validated here (the caller validates ObjectMeta), and the schema's
    /// restrictions of it are ignored.
    pub fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let root = Path::new("");
        let mut errs = validate::validate(&self.root, obj, &root);
        errs.extend(listtype::validate(&self.root, obj, &root));
        errs
    }

    /// The schema as it was compiled, for tooling (printer columns, explain).
    pub fn raw(&self) -> &Value {
        &self.raw
    }

    /// The raw schema node describing the field at `path` (property names; `[]` or a number
    /// steps into array items), if the schema specifies it. Map values below
    /// `additionalProperties` are reached by any key.
    pub fn node_at<S: AsRef<str>>(&self, path: &[S]) -> Option<&Value> {
        let mut raw = &self.raw;
        let mut node = &self.root;
        for step in path {
            let step = step.as_ref();
            if node.items.is_some() && (step == "[]" || step.parse::<usize>().is_ok()) {
                node = node.items.as_deref()?;
                raw = raw.get("items")?;
            } else if let Some(prop) = node.properties.get(step) {
                node = prop;
                raw = raw.get("properties")?.get(step)?;
            } else if let Some(Additional::Schema(s)) = &node.additional {
                node = s;
                raw = raw.get("additionalProperties")?;
            } else {
                return None;
            }
        }
        Some(raw)
    }
}
