//! Rust bindings of `wit/dockwright.wit`, generated at build time.
//!
//! Host functions are async (they wait on the engine) and trappable (a host failure
//! that is not the plugin's business, such as a lost run context, ends the instance).

wasmtime::component::bindgen!({
    world: "plugin",
    path: "../wit",
    imports: { default: async | trappable },
    exports: { default: async },
    // Record and replay write each call's arguments and answer as JSON (see `imports::recording`).
    additional_derives: [serde::Serialize, serde::Deserialize],
});

pub use self::dockwright::plugin::docker;
pub use self::dockwright::plugin::host as host_api;
pub use self::dockwright::plugin::services;
pub use self::dockwright::plugin::types::KeyValue;
pub use self::exports::dockwright::plugin::workflows;

/// The contract version this host implements, as written in the WIT package.
pub const CONTRACT_VERSION: &str = "0.1.6";

/// A spec that names only an image, for tests to change one field at a time.
#[cfg(test)]
pub(crate) fn image_only(image: &str) -> docker::ContainerSpec {
    docker::ContainerSpec {
        image: image.into(),
        name: None,
        env: vec![],
        cmd: None,
        entrypoint: None,
        working_dir: None,
        exposed_ports: vec![],
        publish_all: false,
        port_bindings: vec![],
        labels: vec![],
        memory_bytes: None,
        cpus: None,
        pids_limit: None,
        restart: None,
    }
}
