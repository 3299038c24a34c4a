//! Label selectors, node selectors and tolerations: shared with the controllers, kept in
//! `rkube_api::labels`.

pub use rkube_api::labels::*;
