//! The Docker engine: connecting to it as the docker CLI does, turning its failures
//! into the contract's typed errors, and removing containers.
//!
//! Uses only the contract's types, the label names of [`crate::policy::labels`],
//! `config` (reading its section of the file) and `util`; it decides nothing about
//! teams.
//!
//! - [`build`]: the `/build` call, with a cgroup parent where bollard has none;
//! - [`cgroup`]: a cgroup with a pids limit for a build's steps (`cgroupparent`), or
//!   why the host cannot make one;
//! - [`config`]: its section of `dockwright.toml`: the named engines (`[engines.NAME]`,
//!   TLS files) and `public_host`;
//! - [`connect`]: `DOCKER_HOST`, TLS, the API version handshake;
//! - [`identity`]: what `docker info` tells once: the engine's key, its swarm role;
//! - [`errors`]: engine failures as `docker-error`, and their wording;
//! - [`logs`]: a log read with the connection driven by its reader (no hand-over per line);
//! - `pipe` (Windows): the engine's named pipe, opened as the docker CLI opens it;
//! - [`files`]: small files of a container (its `/etc/passwd`), read capped;
//! - [`containers`]: removal for rollback, API teardown and `gc`;
//! - [`services`]: a team's or a run's Swarm services, and their removal.

pub mod build;
pub mod cgroup;
pub mod config;
pub mod connect;
pub mod containers;
pub mod errors;
pub mod files;
pub mod identity;
pub mod logs;
#[cfg(windows)]
pub mod pipe;
pub mod services;

pub use connect::{address_from_env, connect_to, Engine};
