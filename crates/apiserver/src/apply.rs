//! Server-side apply (`PATCH` with `application/apply-patch+yaml`) and the field manager of
//! every other write.

use crate::negotiate::{self, Output};
use crate::request::{Query, flag};
use axum::http::HeaderMap;
use axum::response::Response;
use bytes::Bytes;
use rkube_api::field::{FieldError, Path};
use rkube_api::gvk::GroupKind;
use rkube_api::status::{StatusCause, StatusDetails, StatusError};
use rkube_patch::apply::{self, Conflict, Manager};
use rkube_registry::{ResourceInfo, Subresource};
use serde_json::Value;

/// The content type of an apply patch.
pub const APPLY_PATCH: &str = "application/apply-patch+yaml";

/// The manager of a write: `fieldManager`, else the client's user agent up to its first
/// `/` (as upstream), else `unknown`.
pub fn manager(
    query: &Query,
    headers: &HeaderMap,
    info: &ResourceInfo,
    operation: &str,
    sub: Option<Subresource>,
) -> Manager {
    let name = query
        .get("fieldManager")
        .filter(|m| !m.is_empty())
        .cloned()
        .or_else(|| {
            let agent = headers.get("user-agent")?.to_str().ok()?;
            agent
                .split('/')
                .next()
                .filter(|p| !p.is_empty())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "unknown".to_owned());
    Manager {
        name,
        operation: operation.to_owned(),
        api_version: info.api_version(),
        subresource: sub
            .filter(|s| matches!(s, Subresource::Status | Subresource::Scale))
            .map(|s| s.name().to_owned()),
    }
}

fn conflict_error(info: &ResourceInfo, name: &str, conflicts: &[Conflict]) -> StatusError {
    let causes = conflicts
        .iter()
        .map(|c| StatusCause {
            reason: "FieldManagerConflict".to_owned(),
            message: format!("conflict with {}", c.manager),
            field: c.field.clone(),
        })
        .collect();
    let gr = info.group_resource();
    StatusError {
        code: 409,
        reason: "Conflict".to_owned(),
        message: apply::conflict_message(conflicts),
        details: Some(Box::new(StatusDetails {
            name: name.to_owned(),
            group: gr.group,
            kind: gr.resource,
            causes,
            retry_after_seconds: None,
        })),
    }
}

/// Checks the query of a patch: `force` only with apply, and apply needs a `fieldManager`.
pub fn check_patch_options(query: &Query, is_apply: bool) -> Result<(), StatusError> {
    let options = GroupKind {
        group: "meta.k8s.io".to_owned(),
        kind: "PatchOptions".to_owned(),
    };
    if !is_apply && query.contains_key("force") {
        let error = FieldError::forbidden(
            &Path::new("force"),
            "may not be specified for non-apply patch",
        );
        return Err(StatusError::invalid(&options, "", &[error]));
    }
    if is_apply && query.get("fieldManager").is_none_or(|m| m.is_empty()) {
        let error = FieldError::required(&Path::new("fieldManager"), "is required for apply patch");
        return Err(StatusError::invalid(&options, "", &[error]));
    }
    Ok(())
}

/// What an apply may not change: the status through the main resource of a kind with a
/// status subresource, everything but the status through that subresource.
fn reset_fields(info: &ResourceInfo, sub: Option<Subresource>, applied: &Value) -> Vec<String> {
    match sub {
        Some(Subresource::Status) => applied
            .as_object()
            .map(|m| {
                m.keys()
                    .filter(|k| {
                        !matches!(k.as_str(), "status" | "metadata" | "apiVersion" | "kind")
                    })
                    .cloned()
                    .collect()
            })
            .unwrap_or_default(),
        _ if info.has(Subresource::Status) => vec!["status".to_owned()],
        _ => Vec::new(),
    }
}

impl crate::ApiServer {
    /// Serves an apply patch: creates the object when it does not exist, else merges the
    /// applied configuration into it with field ownership.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn server_side_apply(
        &self,
        info: &'static ResourceInfo,
        ns: Option<&str>,
        name: &str,
        sub: Option<Subresource>,
        query: &Query,
        headers: &HeaderMap,
        body: &Bytes,
        output: Output,
        include: Option<&str>,
        dry_run: bool,
    ) -> Result<Response, StatusError> {
        check_patch_options(query, true)?;
        let mut applied = negotiate::decode_body(Some("application/yaml"), body)?;
        if !applied.is_object() {
            return Err(StatusError::bad_request("the apply patch is not an object"));
        }
        match applied["metadata"]["name"].as_str() {
            None | Some("") => {
                applied["metadata"]["name"] = Value::from(name);
            }
            Some(n) if n != name => {
                return Err(StatusError::bad_request(&format!(
                    "the name of the object ({n}) does not match the name on the URL ({name})"
                )));
            }
            Some(_) => {}
        }
        let warnings = crate::resource::check_fields(&self.storage, info, query, &applied)?;
        let manager = manager(query, headers, info, "Apply", sub);
        let force = flag(query, "force");
        let custom = self.storage.custom().of(info);
        let shape = rkube_registry::custom::apply_shape(info, custom.as_deref());
        let reset = reset_fields(info, sub, &applied);
        let reset: Vec<&str> = reset.iter().map(String::as_str).collect();
        let now = rkube_api::time::now_rfc3339();
        let storage = &self.storage;
        // One read: the update reads the object; only when there is none is it created.
        let mut change = |old: &Value| {
            apply::apply(Some(old), &applied, shape, &manager, force, &reset, &now)
                .map_err(|c| conflict_error(info, name, &c))
        };
        let (code, bytes) = match storage
            .update_with(info, ns, name, sub, dry_run, &mut change)
            .await
        {
            Ok(bytes) => (200, bytes),
            Err(e) if e.code == 404 && sub.is_none() => {
                let obj = apply::apply(None, &applied, shape, &manager, force, &reset, &now)
                    .map_err(|c| conflict_error(info, name, &c))?;
                crate::admission::namespace_lifecycle(storage, info, ns, Some(name), true, false)
                    .await?;
                (201, storage.create(info, ns, obj, dry_run, None).await?)
            }
            Err(e) => return Err(e),
        };
        Ok(crate::resource::with_warnings(
            self.object(output, info, code, bytes, include),
            &warnings,
        ))
    }
}
