//! Reading `dockwright.toml`: where an error in it is (file, line, column, the full
//! key) and the forms its values take. The sections themselves (teams, engines, the
//! journal, registries, the server) are their owners' to define and check. Uses only
//! `util`.
//!
//! - [`source`]: errors placed in the file, serde's messages reworded;
//! - [`values`]: sizes, durations, ages, counts, CPUs and ports.

pub mod source;
pub mod values;
