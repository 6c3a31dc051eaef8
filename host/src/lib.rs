//! dockwright runs sandboxed WebAssembly plugins that provision Docker environments
//! for teams sharing one engine. The plugins script workflows against the `docker`
//! interface of `wit/dockwright.wit`; the host is the only thing that talks to the
//! engine.
//!
//! Layout, one job per module:
//! - [`bindings`], [`contract`]: the Rust side of the WIT contract, and which
//!   contract versions this host runs;
//! - [`runtime`]: the wasmtime engine, the linker and loading components;
//! - [`cache`]: compiled plugins and their descriptions, so starts are quick;
//! - [`state`]: what one plugin instance can reach (its WASI context and its run);
//! - [`imports`]: the host functions, one module per capability;
//! - [`catalog`]: the plugin folder and resolving a workflow by name;
//! - [`run`]: running one workflow, rolling back what a failed run created;
//! - [`batch`]: many runs of one workflow at once (`--each`, `--params-file`);
//! - [`engine`]: connecting to the Docker engine as the docker CLI does;
//! - [`policy`], [`config`]: team policy and the config file that sets it;
//! - [`journal`], [`history`], [`liveness`], [`gc`]: the audit journal, the runs it
//!   records, telling live runs from dead ones, and collecting what dead runs left;
//! - [`labels`], [`params`], [`suggest`], [`errors`]: pure rules, unit-tested;
//! - [`serve`]: the team HTTP API (`dockwright serve`);
//! - [`cli`]: the command line, a thin layer over the above.

pub mod batch;
pub mod bindings;
pub mod cache;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod console;
pub mod contract;
pub mod engine;
pub mod errors;
pub mod gc;
pub mod history;
pub mod imports;
pub mod journal;
pub mod labels;
pub mod liveness;
pub mod lock;
pub mod params;
pub mod policy;
pub mod run;
pub mod runtime;
pub mod scaffold;
pub mod serve;
pub mod state;
pub mod suggest;
