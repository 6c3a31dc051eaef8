//! The contract with plugins: the Rust side of `wit/dockwright.wit`, and which
//! contract versions this host runs. The bottom layer of the host: every other
//! module speaks in these types, and this folder uses no other module of the crate.
//!
//! - [`bindings`]: the types and traits `bindgen!` generates from the WIT world;
//! - [`versions`]: the contract's version rule (semver, as cargo reads it).

pub mod bindings;
pub mod versions;
