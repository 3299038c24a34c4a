//! The `User-Agent`s rkube's components send, shaped like upstream's (`<component>/<version>
//! (<os>/<arch>) ...`): the API server names the manager of a write without a
//! `fieldManager` after the agent's first segment, so writes show in `managedFields` under
//! the names upstream's components have.

/// The scheduler's agent (manager `kube-scheduler`).
pub const SCHEDULER: &str = "kube-scheduler/v1.33.0 (linux/amd64) rkube";

/// The controller manager's agent (manager `kube-controller-manager`).
pub const CONTROLLER_MANAGER: &str = "kube-controller-manager/v1.33.0 (linux/amd64) rkube";

/// The agent of simulated nodes, which play the kubelet (manager `kubelet`).
pub const KUBELET: &str = "kubelet/v1.33.0 (linux/amd64) rkube-sim";
