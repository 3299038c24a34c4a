//! API machinery shared by the registry and the API server: group/kind names, field paths and
//! field errors, `metav1.Status` errors, name validation and label/field selectors.

pub mod agent;
pub mod field;
pub mod gvk;
pub mod labels;
pub mod meta;
pub mod selector;
pub mod status;
pub mod time;
pub mod validation;
