//! Objects every cluster has from its first start: the system namespaces
//! and the `kubernetes` Service.

use anyhow::{Result, anyhow};
use rkube_patch::apply::Manager;
use rkube_registry::{Storage, kinds};
use serde_json::json;

/// Namespaces made at start.
pub const SYSTEM_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

/// Creates `obj` if it is missing; if it exists, applies `reconcile` to it (the fields this
/// server owns, such as the port it serves on, which can change between starts).
async fn ensure(
    storage: &Storage,
    plural: &str,
    namespace: Option<&str>,
    obj: serde_json::Value,
    reconcile: &(dyn Fn(&mut serde_json::Value) + Sync),
) -> Result<()> {
    let info = kinds::find("", "v1", plural).ok_or_else(|| anyhow!("{plural} not served"))?;
    let name = obj["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // Upstream's API server writes these through a client named after itself.
    let manager = Manager::update("kube-apiserver", &info.api_version(), None);
    match storage.get_raw(info, namespace, &name).await {
        Ok((existing, _)) => {
            let mut wanted = existing.clone();
            reconcile(&mut wanted);
            if wanted == existing {
                return Ok(());
            }
            let mut change = |old: &serde_json::Value| {
                let mut new = old.clone();
                reconcile(&mut new);
                Ok(new)
            };
            storage
                .update_with_by(
                    info,
                    namespace,
                    &name,
                    None,
                    false,
                    Some(&manager),
                    &mut change,
                )
                .await
                .map_err(|err| anyhow!("updating the built-in {plural} {name}: {}", err.message))?;
            Ok(())
        }
        Err(err) if err.code == 404 => match storage
            .create(info, namespace, obj, false, Some(&manager))
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if err.code == 409 => Ok(()),
            Err(err) => Err(anyhow!(
                "creating the built-in {plural} {name}: {}",
                err.message
            )),
        },
        Err(err) => Err(anyhow!(
            "reading the built-in {plural} {name}: {}",
            err.message
        )),
    }
}

/// Creates what is missing.
pub async fn run(storage: &Storage, https_port: u16, advertise: &str) -> Result<()> {
    for ns in SYSTEM_NAMESPACES {
        ensure(
            storage,
            "namespaces",
            None,
            json!({"metadata": {"name": ns}}),
            &|_| {},
        )
        .await?;
    }
    let ip = storage.allocator().first_ip().to_string();
    ensure(
        storage,
        "services",
        Some("default"),
        json!({
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": ip, "type": "ClusterIP", "sessionAffinity": "None",
                     "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": https_port}]},
        }),
        &|svc| svc["spec"]["ports"] = json!([{"name": "https", "port": 443, "protocol": "TCP", "targetPort": https_port}]),
    )
    .await?;
    ensure(
        storage,
        "endpoints",
        Some("default"),
        json!({
            "metadata": {"name": "kubernetes", "namespace": "default",
                         "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
            "subsets": [{"addresses": [{"ip": advertise}],
                         "ports": [{"name": "https", "port": https_port, "protocol": "TCP"}]}],
        }),
        &|ep| {
            ep["subsets"] = json!([{"addresses": [{"ip": advertise}],
                                    "ports": [{"name": "https", "port": https_port, "protocol": "TCP"}]}])
        },
    )
    .await
}
