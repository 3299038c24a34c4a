//! Test harness for rkube.
//!
//! [`etcd::EtcdProcess`] runs a real etcd server on 127.0.0.1 with a
//! throw-away data directory, for the etcd store backend's tests and for
//! benchmarks. [`server::ServerProcess`] runs the `rkube server` binary the
//! same way, for end-to-end tests with kubectl, which [`kubectl::Kubectl`] runs.

pub mod etcd;
pub mod kubectl;
pub mod server;

pub use etcd::{EtcdProcess, TestkitError};
pub use kubectl::Kubectl;
pub use server::ServerProcess;
