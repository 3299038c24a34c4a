//! The API calls the simulator's loop asks for, each run as its own short task; what came of
//! them goes back to the loop as a [`Completion`].

use crate::node::{self, LEASE_NAMESPACE};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use serde_json::Value;
use std::sync::Arc;

/// One API call (or two, for a status write followed by a deletion).
#[derive(Debug, Clone)]
pub enum Request {
    /// Renew node `node`'s Lease (create it if it is gone).
    Lease {
        /// The node's name.
        name: String,
    },
    /// Patch `nodes/status`.
    NodeStatus {
        /// The node's name.
        name: String,
        /// The strategic merge patch.
        patch: Value,
    },
    /// Patch `pods/status` and/or delete the pod with `gracePeriodSeconds=0`.
    Pod {
        /// The pod's uid (a precondition of the deletion).
        uid: Arc<str>,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The strategic merge patch for `pods/status`.
        patch: Option<Value>,
        /// Delete the pod afterwards.
        delete: bool,
    },
}

/// What came of a [`Request`].
#[derive(Debug)]
pub enum Completion {
    /// A node's heartbeat (Lease or status) was written or failed (and was logged).
    Node,
    /// A pod request finished.
    Pod {
        /// The pod's uid.
        uid: Arc<str>,
        /// The request to try again, when it failed in a way worth retrying.
        retry: Option<Request>,
    },
}

fn gone(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 404)
}

/// Failures a later attempt may not meet: not client errors other than conflicts and
/// throttling.
fn retryable(err: &kube::Error) -> bool {
    match err {
        kube::Error::Api(s) => s.code == 409 || s.code == 429 || s.code >= 500,
        _ => true,
    }
}

/// Runs `request` with `client`.
pub async fn execute(client: kube::Client, request: Request, lease_seconds: i32) -> Completion {
    match request {
        Request::Lease { name } => {
            renew_lease(client, &name, lease_seconds).await;
            Completion::Node
        }
        Request::NodeStatus { name, patch } => {
            let api: Api<Node> = Api::all(client);
            let params = PatchParams::default();
            if let Err(err) = api
                .patch_status(&name, &params, &Patch::Strategic(&patch))
                .await
            {
                tracing::warn!(node = %name, %err, "updating node status");
            }
            Completion::Node
        }
        Request::Pod {
            uid,
            namespace,
            name,
            patch,
            delete,
        } => {
            let api: Api<Pod> = Api::namespaced(client, &namespace);
            let mut failed = None;
            if let Some(patch) = &patch {
                let params = PatchParams::default();
                match api
                    .patch_status(&name, &params, &Patch::Strategic(patch))
                    .await
                {
                    Ok(_) => {}
                    Err(err) if gone(&err) => {}
                    Err(err) => {
                        tracing::warn!(pod = %format!("{namespace}/{name}"), %err, "updating pod status");
                        failed = Some(err);
                    }
                }
            }
            if delete && failed.is_none() {
                let params = DeleteParams {
                    grace_period_seconds: Some(0),
                    preconditions: Some(Preconditions {
                        uid: Some(uid.to_string()),
                        resource_version: None,
                    }),
                    ..DeleteParams::default()
                };
                match api.delete(&name, &params).await {
                    Ok(_) => {}
                    // A conflict on the uid precondition: another pod took the name.
                    Err(err)
                        if gone(&err) || matches!(&err, kube::Error::Api(s) if s.code == 409) => {}
                    Err(err) => {
                        tracing::warn!(pod = %format!("{namespace}/{name}"), %err, "deleting pod");
                        failed = Some(err);
                    }
                }
            }
            let retry = failed.filter(retryable).map(|_| Request::Pod {
                uid: uid.clone(),
                namespace,
                name,
                patch,
                delete,
            });
            Completion::Pod { uid, retry }
        }
    }
}

/// Renews the Lease; creates it (owned by the Node) when it is missing.
async fn renew_lease(client: kube::Client, name: &str, lease_seconds: i32) {
    let now = rkube_api::time::now();
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let patch = node::renew_patch(name, lease_seconds, now);
    match leases
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => {}
        Err(err) if gone(&err) => {
            let nodes: Api<Node> = Api::all(client.clone());
            let created = match nodes.get(name).await {
                Ok(node) => {
                    create_lease(&client, name, node.metadata.uid.as_deref(), lease_seconds).await
                }
                Err(err) => Err(err),
            };
            if let Err(err) = created {
                tracing::warn!(node = %name, %err, "creating lease");
            }
        }
        Err(err) => tracing::warn!(node = %name, %err, "renewing lease"),
    }
}

/// Creates node `name`'s Lease, owned by the Node with `uid`; an existing one is renewed
/// instead.
pub async fn create_lease(
    client: &kube::Client,
    name: &str,
    uid: Option<&str>,
    lease_seconds: i32,
) -> Result<(), kube::Error> {
    let leases: Api<Lease> = Api::namespaced(client.clone(), LEASE_NAMESPACE);
    let now = rkube_api::time::now();
    let lease = node::lease(name, uid, lease_seconds, now);
    match leases.create(&PostParams::default(), &lease).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 409 => {
            let patch = node::renew_patch(name, lease_seconds, now);
            leases
                .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map(|_| ())
        }
        Err(err) => Err(err),
    }
}
