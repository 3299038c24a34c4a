//! What can go wrong starting or steering the simulator.

use crate::cidr::CidrError;

/// An error of the simulator.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A setting is out of range.
    #[error("invalid {field}: {reason}")]
    InvalidConfig {
        /// The setting.
        field: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// A CIDR did not parse.
    #[error(transparent)]
    Cidr(#[from] CidrError),
    /// A duration did not parse.
    #[error("{0:?} is not a duration (e.g. 1.5, 500ms, 10s, 1m30s)")]
    InvalidDuration(String),
    /// The cluster CIDR has fewer node ranges than there are nodes needing one.
    #[error(
        "cluster CIDR {cidr} holds fewer /{mask} ranges than the {nodes} nodes need; use a larger cluster CIDR or a longer node CIDR mask"
    )]
    ClusterCidrExhausted {
        /// The cluster CIDR.
        cidr: String,
        /// The per-node prefix length.
        mask: u8,
        /// How many nodes.
        nodes: u32,
    },
    /// A name is not one of the simulator's nodes.
    #[error("{0:?} is not a simulated node")]
    UnknownNode(String),
    /// Creating the Lease namespace failed.
    #[error("creating namespace kube-node-lease")]
    Namespace(#[source] kube::Error),
    /// Registering a node failed.
    #[error("registering node {node}")]
    Register {
        /// The node.
        node: String,
        /// What the API server said.
        #[source]
        source: kube::Error,
    },
    /// Giving a node its pod range failed.
    #[error("setting the pod CIDR of node {node}")]
    PodCidr {
        /// The node.
        node: String,
        /// What the API server said.
        #[source]
        source: kube::Error,
    },
    /// Deleting a node on shutdown failed.
    #[error("deleting node {node}")]
    Delete {
        /// The node.
        node: String,
        /// What the API server said.
        #[source]
        source: kube::Error,
    },
    /// The simulator's loop has stopped (it panicked or was shut down).
    #[error("the simulator has stopped")]
    Stopped,
}
