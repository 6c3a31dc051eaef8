//! `host.log`: a plugin's lines to the user.

use crate::contract::bindings::host_api::Level;
use crate::imports::state::HostState;
use crate::util::console::{self, Source};

pub fn log(state: &HostState, level: Level, message: &str) {
    let level = match level {
        Level::Debug => console::Level::Debug,
        Level::Info => console::Level::Info,
        Level::Warn => console::Level::Warn,
        Level::Error => console::Level::Error,
    };
    for line in message.lines() {
        state.console.line(&state.plugin, Source::Log(level), line);
    }
}
