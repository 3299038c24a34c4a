//! rkube's controller manager: the controllers that make the cluster's actual state match the
//! desired state (ReplicaSets, Deployments, node lifecycle and IPAM, garbage collection,
//! PodDisruptionBudget status, …).
//! They read from shared informers, reconcile keys from rate-limited work queues, write only
//! through the API, and run only while this process holds the `kube-controller-manager` Lease,
//! so they work against any Kubernetes API server.

pub mod events;
pub mod expectations;
pub mod informer;
pub mod intstr;
mod manager;
pub mod owned_pods;
pub mod pods;
pub mod queue;
pub mod resources;

mod claim;
pub mod cronjob;
pub mod daemonset;
pub mod deployment;
pub mod disruption;
pub mod endpoints;
pub mod endpointslice;
pub mod garbagecollector;
pub mod history;
pub mod job;
pub mod namespace;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod podgc;
pub mod replicaset;
pub mod rootcacertpublisher;
pub mod serviceaccount;
pub mod statefulset;
pub mod ttlafterfinished;

pub use manager::{Context, Controller, Options, Reconciler, run, spawn};

/// Every controller by its upstream name (for `--controllers`), and whether it runs by default.
pub const CONTROLLERS: &[(&str, bool)] = &[
    ("deployment", true),
    ("replicaset", true),
    ("daemonset", true),
    ("statefulset", true),
    ("nodeipam", true),
    ("nodelifecycle", true),
    ("podgc", true),
    ("endpoint", true),
    ("endpointslice", true),
    ("serviceaccount", true),
    ("root-ca-certificate-publisher", true),
    ("garbagecollector", true),
    ("namespace", true),
    ("job", true),
    ("ttl-after-finished", true),
    ("cronjob", true),
    ("disruption", true),
];

/// Why a reconciliation failed (it is retried with backoff).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API call failed.
    #[error("{0}")]
    Api(#[from] kube::Error),
    /// The object cannot be reconciled as it is (e.g. an invalid selector); retried later.
    #[error("{0}")]
    Invalid(String),
}

/// Whether `name` runs under upstream's `--controllers` rules: `*` turns on the default ones,
/// `foo` turns one on, `-foo` turns one off.
pub fn enabled(selection: &[String], name: &str) -> bool {
    if selection.iter().any(|s| s == &format!("-{name}")) {
        return false;
    }
    if selection.iter().any(|s| s == name) {
        return true;
    }
    selection.iter().any(|s| s == "*")
        && CONTROLLERS
            .iter()
            .any(|(known, default)| *known == name && *default)
}

/// The names in `selection` that are not controllers (a typo would silently do nothing).
pub fn unknown(selection: &[String]) -> Vec<String> {
    selection
        .iter()
        .filter(|s| {
            let name = s.trim_start_matches('-');
            *s != "*" && !CONTROLLERS.iter().any(|(known, _)| *known == name)
        })
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controller_selection_follows_upstream_rules() {
        let sel = |s: &[&str]| s.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(enabled(&sel(&["*"]), "replicaset"));
        assert!(!enabled(&sel(&["*", "-replicaset"]), "replicaset"));
        assert!(enabled(&sel(&["replicaset"]), "replicaset"));
        assert!(!enabled(&sel(&["replicaset"]), "deployment"));
        assert_eq!(unknown(&sel(&["*", "-replicaset", "nope"])), ["nope"]);
    }
}
