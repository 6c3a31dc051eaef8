//! The plugin side: loading components, the plugin folder and its lock, and new
//! plugin projects.
//!
//! Uses the host functions of [`crate::imports`] (the linker adds them to every
//! instance), policy's param rules, the contract and `util`; never the engine.
//!
//! - [`info`]: what a plugin says it offers, checked;
//! - [`cache`]: compiled plugins and their descriptions, so starts are quick;
//! - [`runtime`]: the wasmtime engine, the linker and instantiating components;
//! - [`manifest`]: a plugin's permission manifest, from its imports and declaration;
//! - [`lock`]: `dockwright.lock`, the pinned digest of each added plugin;
//! - [`catalog`]: the plugin folder and resolving a workflow by name;
//! - [`scaffold`]: `dockwright new`, a plugin project to start from.

pub mod cache;
pub mod catalog;
pub mod info;
pub mod lock;
pub mod manifest;
pub mod runtime;
pub mod scaffold;
