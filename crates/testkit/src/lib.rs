//! Test harness for rkube.
//!
//! [`etcd::EtcdProcess`] runs a real etcd server on 127.0.0.1 with a
//! throw-away data directory, for the etcd store backend's tests and for
//! benchmarks.

pub mod etcd;

pub use etcd::{EtcdProcess, TestkitError};
