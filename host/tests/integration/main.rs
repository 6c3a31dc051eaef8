//! Integration tests against a real Docker engine. One test binary, so the host and
//! wasmtime are linked once.

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
