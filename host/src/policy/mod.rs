//! Team policy: what a team's plugins may ask of the shared engine, and the teams'
//! section of the config file that sets it. Pure: every decision is a function of
//! (the team's policy, the request, the team's current usage), so each rule is
//! table-tested without an engine. A denial names the rule. The decisions fail
//! closed: anything a rule does not explicitly allow is denied.
//!
//! Uses only the contract's types, `config` (reading its section of the file) and
//! `util`.
//!
//! - [`team`]: a team's policy, the built-in default, how a denial reads;
//! - [`images`]: images, tags and plugins a team may use;
//! - [`containers`]: creating and starting containers (quotas, caps, ports, env);
//! - [`services`]: creating and scaling Swarm services, counted per replica;
//! - [`build`]: where build contexts may come from; [`exec`]: who exec runs as;
//! - [`users`]: users as the engine resolves them, to the uid it would run;
//! - [`commit`]: the instructions a commit may apply;
//! - [`labels`]: the ownership labels and whose an object is;
//! - [`lifetime`]: when a run's environment expires, and how far it may be extended;
//! - [`people`]: who a run is for, and the teams a signed-in person acts for;
//! - [`params`]: a workflow's params, checked against what it declares;
//! - [`groups`]: the permission groups of Docker operations, and sets of them;
//! - [`permissions`]: the rules: calls inside the manifest, a team's cap, trusted signers;
//! - [`platform`]: what an engine's OS lets the host enforce (Windows engines);
//! - [`config`]: its section of `dockwright.toml`: the teams, `[defaults]`, their
//!   tokens and groups, and the merge rules (`config::merge`).

pub mod build;
pub mod commit;
pub mod config;
pub mod containers;
pub mod exec;
#[cfg(test)]
mod fixtures;
pub mod groups;
pub mod images;
pub mod labels;
pub mod lifetime;
pub mod params;
pub mod people;
pub mod permissions;
pub mod platform;
pub mod services;
pub mod team;
pub mod users;

pub use build::check_build_context;
pub use commit::check_commit_changes;
pub use containers::{check_create, check_start, ports_need_picking};
pub use exec::{check_exec_user, check_run_user};
pub use groups::Permissions;
pub use images::{check_engine, check_image, check_plugin, check_tag, glob_match, normalise_image};
pub use labels::owned_by;
pub use permissions::{check_call, check_install, check_manifest, check_signer};
pub use platform::check_platform;
pub use services::{check_replicas, check_service};
pub use team::{Decision, Denial, TeamPolicy, Usage};
