//! The contract with plugins: the Rust side of `wit/dockwright.wit`, and which
//! contract versions this host runs. Every layer above speaks in these types.
//!
//! Uses no other layer.
//!
//! - [`bindings`]: the types and traits `bindgen!` generates from the WIT world;
//! - [`versions`]: the contract's version rule (semver, as cargo reads it).

pub mod bindings;
pub mod versions;
