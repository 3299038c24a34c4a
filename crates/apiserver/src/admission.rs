//! Admission: checks between authorization and storage. For now
//! NamespaceLifecycle, as upstream's plug-in of that name.

use rkube_api::status::StatusError;
use rkube_registry::{ResourceInfo, Storage, kinds};

/// Namespaces that always exist and may not be deleted.
pub const IMMORTAL_NAMESPACES: [&str; 3] = ["default", "kube-system", "kube-public"];

/// Refuses creating objects in a namespace that does not exist or is being
/// deleted, and deleting the system namespaces.
pub async fn namespace_lifecycle(
    storage: &Storage,
    info: &ResourceInfo,
    namespace: Option<&str>,
    name: Option<&str>,
    creating: bool,
    deleting: bool,
) -> Result<(), StatusError> {
    let namespaces = kinds::find("", "v1", "namespaces").expect("namespaces are served");
    if deleting && info.group.is_empty() && info.plural == "namespaces" {
        if let Some(name) = name
            && IMMORTAL_NAMESPACES.contains(&name)
        {
            return Err(StatusError::forbidden(
                &namespaces.group_resource(),
                name,
                "this namespace may not be deleted",
            ));
        }
        return Ok(());
    }
    if !creating || !info.namespaced {
        return Ok(());
    }
    let Some(ns) = namespace else {
        return Ok(());
    };
    // From the watch cache, as upstream reads namespaces from an informer (with a store
    // read when the cache does not have it yet).
    let phase = match storage.cached_field(namespaces, None, ns, "status.phase") {
        Some(phase) => phase,
        None => {
            let (obj, _) = storage.get_cached(namespaces, None, ns).await?;
            obj["status"]["phase"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        }
    };
    if phase == "Terminating" {
        let mut err = StatusError::forbidden(
            &info.group_resource(),
            name.unwrap_or(""),
            &format!(
                "unable to create new content in namespace {ns} because it is being terminated"
            ),
        );
        if let Some(details) = err.details.as_mut() {
            details.causes.push(rkube_api::status::StatusCause {
                reason: "NamespaceTerminating".to_owned(),
                message: format!("namespace {ns} is being terminated"),
                field: "metadata.namespace".to_owned(),
            });
        }
        return Err(err);
    }
    Ok(())
}
