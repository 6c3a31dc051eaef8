//! Sharing plugins through OCI registries: publishing a plugin as the CNCF Wasm
//! artifact, installing one pinned by digest, signatures, credentials, and moving
//! pins on `plugins update`.
//!
//! Uses the plugin layer (the catalog, the lock, manifests), policy, `config`
//! (reading its section of the file) and `util`; registry traffic goes through the
//! `oci-client` crate.
//!
//! - [`config`]: its section of `dockwright.toml`: `[registries]`;
//! - [`reference`]: what names a registry artifact, and which registries are
//!   reached over plain HTTP;
//! - [`credentials`]: the login for a registry, as the docker CLI finds it;
//! - [`registry`]: pushing and pulling plugins and signatures, bounded;
//! - [`signature`]: the signature document kept beside a plugin;
//! - [`install`]: turning a pulled plugin into a locked, checked plugin file.

pub mod config;
pub mod credentials;
pub mod install;
pub mod reference;
pub mod registry;
pub mod signature;
