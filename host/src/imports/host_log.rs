//! `host.log`: a plugin's lines to the user.

use crate::bindings::host_api::Level;
use crate::console::{self, Source};
use crate::state::HostState;

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
