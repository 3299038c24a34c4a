//! Simulated nodes, in the manner of KWOK: many fake kubelets in one process, against any
//! Kubernetes API server (rkube's or upstream's). No containers run; the API sees nodes that
//! register, heartbeat and run pods as a kubelet would report them.
//!
//! # Nodes
//!
//! [`start`] registers [`SimConfig::nodes`] Nodes named [`SimConfig::name_prefix`] plus the
//! zero-padded index (`sim-0000`, at least four digits). An existing Node of that name is
//! adopted. Each carries the labels `kubernetes.io/hostname`, `kubernetes.io/os=linux`,
//! `kubernetes.io/arch=amd64`, `topology.kubernetes.io/zone=zone-<index mod zones>` and
//! `type=sim`; capacity and allocatable from [`NodeResources`]; the conditions `Ready=True`
//! and `MemoryPressure`/`DiskPressure`/`PIDPressure=False`; a fake InternalIP from
//! 10.255.0.0/16 (never contacted) and its name as Hostname.
//!
//! Each node renews its Lease `kube-node-lease/<name>` every
//! [`SimConfig::lease_renew_interval`] and refreshes its conditions every
//! [`SimConfig::node_status_interval`]; both are spread evenly over the interval.
//!
//! A node's pod range is its `spec.podCIDR`, set by a node IPAM controller; when none has
//! appeared within [`SimConfig::ipam_wait`] (or [`SimConfig::pod_cidr_from_ipam`] is off),
//! node `i` takes the `i`th range of [`SimConfig::node_cidr_mask_size`] from
//! [`SimConfig::cluster_cidr`] and writes it to `spec.podCIDR` (only if still empty).
//!
//! # Pods
//!
//! Pods bound to a simulated node turn `Running` after [`SimConfig::pod_start_delay`], with
//! an IP from the node's range (the lowest free one, never the range's first two or its
//! broadcast address), upstream's conditions and container statuses. Init containers show
//! as completed. Then:
//!
//! - `spec.activeDeadlineSeconds` ends the pod `Failed`, reason `DeadlineExceeded`, that
//!   long after `status.startTime`.
//! - The annotation `sim.rkube.io/exit-after: "<seconds>"` (also `500ms`, `10s`, `1m30s`)
//!   makes the containers exit that long after they start, with the code in
//!   `sim.rkube.io/exit-code` (default 0). Under `restartPolicy: Never`, or `OnFailure`
//!   with code 0, the pod ends `Succeeded` (code 0) or `Failed`; otherwise the containers
//!   restart (`restartCount` goes up, the exit shows as `lastState`) and exit again after
//!   the same time (at least one second), the pod staying `Running`.
//! - A deleted pod's containers are stopped after its grace period, capped by
//!   [`SimConfig::max_termination_delay`]; then the pod is deleted with
//!   `gracePeriodSeconds=0` and its IP is free again. Pods not yet running and finished
//!   pods are deleted at once.
//!
//! # Failures
//!
//! [`Sim::fail_node`] (or [`SimConfig::failed_nodes`] from the start) cuts a node off: no
//! Lease renewals, no status updates, its pods frozen where they are, until
//! [`Sim::recover_node`]. [`ControlFile`] does the same from a file other processes write.
//!
//! # Scale
//!
//! There is no task, watch or client per node: one pod watch (`spec.nodeName!=`) serves
//! every node, one timer heap holds every heartbeat and pod step, and at most
//! [`SimConfig::max_in_flight`] API calls run at once. A node costs about 64 bytes of state
//! and two timer entries; its name, addresses and labels are derived from its index.

mod cidr;
mod config;
mod control;
mod driver;
mod error;
mod execute;
mod lifecycle;
mod node;
mod pod;
mod register;
mod run;
mod timers;

pub use cidr::{CidrError, IpPool, Ipv4Cidr};
pub use config::{NodeResources, SimConfig, parse_duration};
pub use control::{ControlFile, parse_control_file};
pub use error::SimError;
pub use node::{LEASE_NAMESPACE, TYPE_LABEL};
pub use pod::{EXIT_AFTER_ANNOTATION, EXIT_CODE_ANNOTATION};
pub use run::{Sim, start};
