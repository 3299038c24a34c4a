//! rkube's registry of API kinds: which resources are served, each kind's
//! strategy (defaults, validation, spec/status split, selectable fields),
//! and one generic storage that implements every verb over the store, with
//! watch caches serving lists and watches.

pub mod alloc;
pub mod cache;
pub mod convert;
pub mod custom;
pub mod kinds;
pub mod object;
pub mod storage;
pub mod strategy;

pub use kinds::{ResourceInfo, Subresource};
pub use storage::Storage;
