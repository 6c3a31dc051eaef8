//! Running workflows: one run, with its own run id and a rollback when it fails, and
//! many runs of one workflow at once.
//!
//! Uses the plugin side, the host functions' run context, the journal, the engine,
//! share (its config section), policy, the contract's types, `config` and `util`.
//!
//! - [`config`]: the config a run needs, gathered from its sections' owners (teams,
//!   engines, journal, registries), and where the file is found;
//! - [`workflow`]: one run, from instantiation to its report;
//! - [`cause`]: why a run failed, in kinds a client can act on;
//! - [`batch`]: many runs at once (`--each`, `--params-file`);
//! - [`cassette`]: a run written down, and run again from it with no engine;
//! - [`plan`]: a run that shows the writes it would make, and makes none;
//! - [`expiry`]: reaping environments past their expiry, and warning before.

pub mod batch;
pub mod cassette;
pub mod cause;
pub mod config;
pub mod expiry;
pub mod plan;
pub mod workflow;

pub use workflow::{
    new_run_id, rollback, run_workflow, run_workflow_as, RunOptions, RunReport, RunRequest, Status,
};
