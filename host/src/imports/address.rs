//! `host.public-host`: the name or address people reach the run's engine's published
//! ports at, so a plugin builds URLs that open the engine's machine, not the caller's.

use super::state::HostState;

pub fn public_host(state: &HostState) -> String {
    match &state.run {
        Some(run) => run.engine.public_host.clone(),
        // Outside a run (while describing itself) the plugin has no engine; the default
        // engine's answer is the one a run would most likely get.
        None => crate::engine::connect::public_host(&crate::engine::address_from_env(), None),
    }
}
