//! `host.current-run`: whose run this is, as the host knows it. A plugin that acts for
//! a team (labels, names, an environment variable) reads the team here, not from a
//! param, which any caller writes: a caller with one team's token cannot make a
//! plugin act for another team this way.

use super::state::HostState;
use crate::contract::bindings::host_api::RunContext;

pub fn run_context(state: &HostState) -> Option<RunContext> {
    let run = state.run.as_ref()?;
    Some(RunContext {
        team: run.owner.team.clone(),
        run_id: run.owner.run_id.clone(),
        engine: run.owner.engine.clone(),
        caller: run.caller.clone(),
    })
}
