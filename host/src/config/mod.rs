//! Reading `dockwright.toml`: the file once read, where an error in it is (file, line,
//! column, the full key) and the forms its values take. The sections themselves are
//! their owners' to define and check: the teams are policy's (`policy::config`), the
//! engines and `public_host` the engine's (`engine::config`), `journal` and
//! `journal_retention` the journal's (`journal::config`), `[registries]` share's
//! (`share::config`), `[serve]` the server's (`serve::config`); `run::config` gathers
//! what a run needs. Uses only `util`.
//!
//! - [`document`]: the file's text and folder, each section read from it, unknown
//!   top-level keys refused;
//! - [`source`]: errors placed in the file, serde's messages reworded;
//! - [`values`]: sizes, durations, ages, counts, CPUs, ports and simple names.

pub mod document;
pub mod source;
pub mod values;

pub use document::Document;
