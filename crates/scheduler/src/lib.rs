//! rkube's scheduler: watches unscheduled pods, filters and scores nodes with upstream's
//! plugins, and binds each pod to the best node through the API (`pods/binding`).

pub mod cache;
pub mod config;
pub mod framework;
pub mod listers;
pub mod plugins;
pub mod preemption;
pub mod queue;
pub mod resources;
pub mod run;
pub mod schedule;
pub mod wire;

pub use run::{Options, spawn};
