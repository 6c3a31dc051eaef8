//! The audit journal and what is read from it: every run's start and end and every
//! host call with its decision, the runs it records, telling live runs from dead
//! ones, and collecting what dead runs left on the engine.
//!
//! Uses the engine (for `gc`, and the default engine's name), the label names of
//! policy, `config` (reading its section of the file) and `util`.
//!
//! - [`config`]: its section of `dockwright.toml`: `journal` (where) and
//!   `journal_retention` (how long);
//! - [`store`]: the journal database, written by every run of every process;
//! - [`db`]: speaking SQL to either store (SQLite, PostgreSQL) with one set of queries;
//! - [`schema`]: each store's tables, and migrating them;
//! - [`shared`]: the PostgreSQL store several servers share (`[state]`): its
//!   connections, its advisory locks, each process's holder key;
//! - [`history`]: the queries `dockwright runs` and the server answer from;
//! - [`transfer`]: the JSON-lines form, out (`runs export`) and in (`runs import`);
//! - [`copy`]: an SQLite journal copied into the shared store (`state migrate`);
//! - [`retention`]: pruning runs that ended long ago;
//! - [`idempotency`]: the keys that make a retried `POST /v1/runs` safe;
//! - [`liveness`]: whether a run's process is still alive;
//! - [`gc`]: removing what runs that died left behind;
//! - [`expiry`]: runs with an expiry: which are alive, claiming one to reap, warnings;
//! - [`usage`]: environment-, container-, memory- and CPU-hours per team and workflow.

pub mod config;
pub mod copy;
pub mod db;
pub mod expiry;
pub mod gc;
pub mod history;
pub mod idempotency;
pub mod liveness;
pub mod retention;
pub mod schema;
pub mod shared;
pub mod store;
pub mod transfer;
pub mod usage;

pub use store::{now, parse_timestamp, timestamp, Entry, Journal};
pub use transfer::open_configured;
