//! `host.set-lifetime` and `host.run-expires`: when what a run makes expires. The
//! team's `lifetime.max` caps what a workflow asks (see [`crate::policy::lifetime`]);
//! the journal keeps the expiry that counts, which the reaper goes by, and later
//! containers carry it as their `dockwright.expires` label.

use std::time::{Duration, Instant, SystemTime};

use super::call;
use super::state::HostState;
use crate::journal::{self, Entry};
use crate::policy::lifetime;

/// Who a workflow's own expiry is journaled as having been asked by.
pub const BY_WORKFLOW: &str = "workflow";

pub fn set(state: &mut HostState, seconds: u64) -> wasmtime::Result<Result<String, String>> {
    let started = Instant::now();
    let Some(run) = state.run.as_mut() else {
        return Ok(Err(
            "a lifetime can be set only while a workflow runs, not in `describe`".into(),
        ));
    };
    let asked = Duration::from_secs(seconds);
    let now = SystemTime::now();
    let decided = lifetime::set(&run.policy, now, asked).map(journal::timestamp);
    // A plan or a replay makes nothing that could expire: the answer is all there is.
    if let (Ok(expires), true) = (&decided, run.mode.changes_the_engine()) {
        let changed = run
            .journal
            .record_counted(&Entry::Lifetime {
                time: journal::timestamp(now),
                run: run.owner.run_id.clone(),
                team: run.owner.team.clone(),
                expires: expires.clone(),
                by: BY_WORKFLOW.into(),
            })
            .map_err(call::unaudited)?;
        if changed == 0 {
            return Ok(Err(format!(
                "run `{}` was torn down or has expired: its lifetime can no longer change",
                run.owner.run_id
            )));
        }
    }
    let (decision, rule, result, detail) = match &decided {
        Ok(expires) => ("allowed", None, "ok", expires.clone()),
        Err(denial) => (
            "denied",
            Some(denial.rule.to_string()),
            "denied",
            denial.to_string(),
        ),
    };
    call::write(
        run,
        call::Journaled {
            op: "set-lifetime",
            target: &lifetime::format(asked),
            decision,
            rule: rule.as_deref(),
            result,
            detail: Some(detail),
            started,
        },
    )?;
    match decided {
        Ok(expires) => {
            run.owner.expires = Some(expires.clone());
            Ok(Ok(expires))
        }
        Err(denial) => Ok(Err(denial.to_string())),
    }
}

pub fn expires(state: &HostState) -> Option<String> {
    state.run.as_ref()?.owner.expires.clone()
}
