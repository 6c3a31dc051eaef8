//! dockwright runs sandboxed WebAssembly plugins that provision Docker environments
//! for teams sharing one engine. The plugins script workflows against the `docker`
//! interface of `wit/dockwright.wit`; the host is the only thing that talks to the
//! engine.
//!
//! Layout: one folder per layer, each using only the layers listed before it (the
//! `layout` test checks this). Each folder's `mod.rs` says what lives there.
//! - [`util`]: small helpers everyone uses (console, suggestions, digests, atomic
//!   writes, default folders);
//! - [`config`]: reading `dockwright.toml`: the file once read, errors placed in it, the
//!   forms of values (each section is its owner's: `policy::config`, `engine::config`, ...);
//! - [`contract`]: the Rust side of the WIT contract, and which versions this host runs;
//! - [`policy`]: team policy, pure and unit-tested, and the teams' section of the config;
//! - [`engine`]: connecting to the Docker engine, its errors, removing containers;
//! - [`journal`]: the audit journal, the runs it records, liveness, `gc`;
//! - [`imports`]: the host functions, one module per capability, and an instance's state;
//! - [`plugin`]: the wasmtime runtime, the compiled cache, the plugin folder and lock;
//! - [`share`]: OCI registries: publishing, installing, signatures, updates;
//! - [`run`]: running one workflow and rolling back, or many at once; the config a run
//!   needs, gathered from its sections;
//! - [`serve`]: the team HTTP API (`dockwright serve`);
//! - [`cli`]: the command line, a thin layer over the above.

pub(crate) mod util;

pub(crate) mod config;

pub(crate) mod contract;

pub mod policy;

pub(crate) mod engine;

pub mod journal;

pub(crate) mod imports;

pub(crate) mod plugin;

pub(crate) mod share;

pub(crate) mod run;

pub(crate) mod serve;

pub(crate) mod cli;

// The library's surface: team policy (pure decisions, usable without an engine), the
// journal (its two stores answer the same, which the tests check through it, and the
// benchmarks fill it), and what the binary uses. Everything else is the crate's own.
pub use cli::main;
pub use journal::{parse_timestamp, timestamp, Entry, Journal};
pub use plugin::runtime::{wasm_kind, Runtime, WasmKind};
pub use util::digest::sha256_hex;
