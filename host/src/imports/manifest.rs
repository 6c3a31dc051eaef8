//! `host.declare-permissions`: a plugin narrowing its own permission manifest while
//! it describes itself. The plugin loader reads what was declared after
//! `describe` returns (see `plugin::catalog`); during a run the call changes nothing,
//! so a plugin cannot widen (or reshape) the manifest it was admitted with.

use crate::imports::state::HostState;

/// More names than there are groups, several times over: anything past this is a
/// plugin trying to make the host hold its garbage.
const MAX_NAMES: usize = 64;
const MAX_NAME_BYTES: usize = 64;

pub fn declare_permissions(state: &mut HostState, groups: Vec<String>) {
    if state.run.is_some() {
        return;
    }
    let declared = state.declared.get_or_insert_with(Vec::new);
    for group in groups {
        if declared.len() >= MAX_NAMES {
            break;
        }
        let mut name = group;
        if name.len() > MAX_NAME_BYTES {
            // Kept (cut) rather than dropped, so the loader refuses it by name.
            let cut = (0..=MAX_NAME_BYTES)
                .rev()
                .find(|&i| name.is_char_boundary(i))
                .unwrap_or(0);
            name.truncate(cut);
        }
        declared.push(name);
    }
}
