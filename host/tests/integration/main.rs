//! Integration tests against a real Docker engine. One test binary, so the host and
//! wasmtime are linked once.
//!
//! Unix only: the Windows binary is tested from here, run under wine. Built for Windows
//! this crate is empty, which is what lets one Windows build give both the host's unit
//! tests and the `.exe` (cargo builds the binary for an integration test).
#![cfg(unix)]

mod api;
mod batch;
mod builds;
mod cache;
mod cli;
mod common;
mod daemons;
mod engines;
mod examples;
mod hardening;
mod imports;
mod isolation;
mod journal;
mod layout;
mod lifetimes;
mod live;
mod oidc;
mod operate;
mod page;
mod plan;
mod plugins;
mod policy;
mod polyglot;
mod postgres;
mod release;
mod replay;
mod sandbox;
mod scaffold;
mod serve;
mod services;
mod share;
mod state;
mod text;
mod windows;
