//! CustomResourceDefinitions, and the objects of the resources they define.

use super::{Hooks, Rejection, Strategy, Typed, check};
use crate::custom::validate_crd;
use crate::kinds::ResourceInfo;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::{
    CustomResourceConversion, CustomResourceDefinition,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use rkube_api::field::{FieldError, Path};
use rkube_api::validation;
use serde_json::Value;

/// The CustomResourceDefinitions strategy.
pub static CRDS: Typed<CustomResourceDefinition, CrdHooks> = Typed::new(CrdHooks);

/// CustomResourceDefinitions' hooks.
#[derive(Debug)]
pub struct CrdHooks;

impl Hooks<CustomResourceDefinition> for CrdHooks {
    fn default(&self, crd: &mut CustomResourceDefinition) {
        let names = &mut crd.spec.names;
        if names.singular.as_deref().unwrap_or("").is_empty() {
            names.singular = Some(names.kind.to_lowercase());
        }
        if names.list_kind.as_deref().unwrap_or("").is_empty() {
            names.list_kind = Some(format!("{}List", names.kind));
        }
        crd.spec
            .conversion
            .get_or_insert_with(|| CustomResourceConversion {
                strategy: "None".to_owned(),
                webhook: None,
            });
    }

    fn validate(&self, crd: &CustomResourceDefinition) -> Vec<FieldError> {
        validate_crd(&serde_json::to_value(crd).unwrap_or_default())
    }

    fn validate_update(
        &self,
        new: &CustomResourceDefinition,
        old: &CustomResourceDefinition,
    ) -> Vec<FieldError> {
        let mut errors = self.validate(new);
        let spec = Path::new("spec");
        if new.spec.group != old.spec.group {
            errors.push(FieldError::invalid(
                &spec.child("group"),
                Value::from(new.spec.group.clone()),
                "field is immutable",
            ));
        }
        if new.spec.scope != old.spec.scope {
            errors.push(FieldError::invalid(
                &spec.child("scope"),
                Value::from(new.spec.scope.clone()),
                "field is immutable",
            ));
        }
        errors
    }

    fn tracks_generation(&self) -> bool {
        true
    }
}

/// Objects of custom resources: metadata is checked here, the rest against the CRD's
/// schema by the storage (see [`crate::custom::admit`]).
#[derive(Debug)]
pub struct CustomObjects;

/// The strategy every custom resource shares.
pub static CUSTOM_OBJECTS: CustomObjects = CustomObjects;

fn metadata(obj: &Value) -> Result<ObjectMeta, Rejection> {
    let meta = obj.get("metadata").cloned().unwrap_or(Value::Null);
    serde_path_to_error::deserialize(meta)
        .map_err(|err| Rejection::Decode(format!("metadata.{}: {}", err.path(), err.inner())))
}

fn meta_errors(info: &ResourceInfo, meta: &ObjectMeta) -> Vec<FieldError> {
    validation::validate_object_meta(
        meta,
        info.namespaced,
        &validation::dns1123_subdomain,
        &Path::new("metadata"),
    )
}

fn object_root(obj: &Value) -> Result<(), Rejection> {
    if obj.is_object() {
        Ok(())
    } else {
        Err(Rejection::Decode(
            "the object is not a JSON object".to_owned(),
        ))
    }
}

impl Strategy for CustomObjects {
    fn create(&self, info: &ResourceInfo, obj: Value) -> Result<Value, Rejection> {
        object_root(&obj)?;
        check(meta_errors(info, &metadata(&obj)?))?;
        Ok(obj)
    }

    fn update(&self, info: &ResourceInfo, new: Value, old: &Value) -> Result<Value, Rejection> {
        object_root(&new)?;
        let meta = metadata(&new)?;
        let mut errors = meta_errors(info, &meta);
        errors.extend(validation::validate_object_meta_update(
            &meta,
            &metadata(old)?,
            &Path::new("metadata"),
        ));
        check(errors)?;
        Ok(new)
    }

    fn tracks_generation(&self) -> bool {
        true
    }

    fn fields(&self, _obj: &Value) -> Vec<(&'static str, String)> {
        Vec::new()
    }

    fn selectable(&self) -> &'static [&'static str] {
        &[]
    }
}
