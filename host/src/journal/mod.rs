//! The audit journal and what is read from it: every run's start and end and every
//! host call with its decision, the runs it records, telling live runs from dead
//! ones, and collecting what dead runs left on the engine.
//!
//! Uses the engine (for `gc`), the label names of policy, and `util`.
//!
//! - [`store`]: the journal file, appended by every run of every process;
//! - [`history`]: runs summed up from its entries (`dockwright runs`);
//! - [`liveness`]: whether a run's process is still alive;
//! - [`gc`]: removing what runs that died left behind.

pub mod gc;
pub mod history;
pub mod liveness;
pub mod store;

pub use store::{now, read, timestamp, Entry, Journal};
