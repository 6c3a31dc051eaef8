//! Environments that reached their expiry are reaped, and their teams are warned a
//! lead time before: one pass over the journal's runs with an expiry. `serve` makes a
//! pass at each deadline ([`next_deadline`] says when); `gc` makes one and exits, for
//! hosts that reap from cron or a systemd timer.
//!
//! A run is reaped only once its process no longer holds it (a run still running is
//! never touched) and only by the one reaper that claims it in the journal, at an
//! expiry the journal still has (an extension that came first wins). What it made is
//! removed as a rollback removes it, services then containers, newest first. An
//! engine that does not answer leaves the claim open: the next pass tries again, and
//! the run is never reported reaped until it is.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::Result;
use serde::Serialize;

use crate::engine::errors;
use crate::engine::Engine;
use crate::journal::expiry::{self, Alive};
use crate::journal::liveness::{self, Liveness};
use crate::journal::{self, Entry, Journal};
use crate::policy::labels;
use crate::policy::lifetime;
use crate::policy::TeamPolicy;

/// How soon a run that is due but still running, or whose engine did not answer, is
/// looked at again.
pub const RETRY: Duration = Duration::from_secs(30);

/// How long a webhook may take to answer.
const WEBHOOK_TIMEOUT: Duration = Duration::from_secs(10);

/// The engines a pass reaches runs on, by their names in the config.
pub trait Engines {
    fn engine(&self, name: &str) -> impl Future<Output = Result<Engine, String>>;
}

/// What a pass needs besides the engines.
pub struct Reaper<'a> {
    pub journal: &'a Journal,
    pub state_dir: &'a Path,
    /// The teams' policies now: their lead times and webhooks.
    pub teams: &'a BTreeMap<String, TeamPolicy>,
}

/// What a team is told, on its run's events stream, the page and its webhook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notice {
    /// `expiring` (the lead time before) or `expired` (reaped).
    pub event: &'static str,
    pub run: String,
    pub team: String,
    pub workflow: String,
    pub engine: String,
    /// When it expires (expired).
    pub expires: String,
    /// When the notice was made.
    pub time: String,
    /// What reaping removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub removed: Option<Vec<String>>,
}

impl Notice {
    /// A notice of `event` for run `run` of `team`, which expires at `expires`, made at
    /// `now`; the workflow, engine and what was removed are left for the caller.
    pub fn new(
        event: &'static str,
        run: &str,
        team: &str,
        expires: &str,
        now: SystemTime,
    ) -> Notice {
        Notice {
            event,
            run: run.to_string(),
            team: team.to_string(),
            workflow: String::new(),
            engine: String::new(),
            expires: expires.to_string(),
            time: journal::timestamp(now),
            removed: None,
        }
    }
}

/// What one pass did.
#[derive(Debug, Default)]
pub struct Pass {
    /// Warnings given and environments reaped, in that order of events.
    pub notices: Vec<Notice>,
    /// Runs due but still running: looked at again after [`RETRY`].
    pub running: Vec<String>,
    /// Runs whose reaping failed (the engine did not answer, a removal failed), with
    /// why: tried again after [`RETRY`].
    pub failed: Vec<(String, String)>,
    /// When the next pass is due; none while no run has an expiry.
    pub next: Option<SystemTime>,
}

impl Reaper<'_> {
    /// Warn of what expires within its team's lead time, reap what expired, at `now`.
    pub async fn pass(&self, engines: &impl Engines, now: SystemTime) -> Result<Pass> {
        let alive = expiry::alive(self.journal)?;
        let mut pass = Pass::default();
        for run in &alive {
            let Some(expires) = journal::parse_timestamp(&run.expires) else {
                continue; // Not a time the host wrote: nothing can be decided from it.
            };
            if expires <= now || run.claimed.is_some() {
                self.reap(engines, run, now, &mut pass).await?;
            } else if warn_at(self.teams, run, expires) <= now {
                self.warn(run, now, &mut pass)?;
            }
        }
        let retry: Vec<&str> = pass
            .running
            .iter()
            .map(String::as_str)
            .chain(pass.failed.iter().map(|(run, _)| run.as_str()))
            .collect();
        let settled: Vec<&str> = pass
            .notices
            .iter()
            .filter(|n| n.event == "expired")
            .map(|n| n.run.as_str())
            .collect();
        pass.next = next_deadline(
            alive.iter().filter(|a| !settled.contains(&a.run.as_str())),
            self.teams,
            now,
            &retry,
        );
        Ok(pass)
    }

    /// Warn `run`'s team that it expires, unless it was warned of this expiry (by this
    /// reaper or another).
    fn warn(&self, run: &Alive, now: SystemTime, pass: &mut Pass) -> Result<()> {
        if run.warned.as_deref() != Some(&run.expires)
            && expiry::mark_warned(self.journal, &run.run, &run.expires)?
        {
            pass.notices.push(notice("expiring", run, now, None));
        }
        Ok(())
    }

    async fn reap(
        &self,
        engines: &impl Engines,
        run: &Alive,
        now: SystemTime,
        pass: &mut Pass,
    ) -> Result<()> {
        if still_running(self.state_dir, run) {
            pass.running.push(run.run.clone());
            return Ok(());
        }
        let at = journal::timestamp(now);
        if !expiry::claim(self.journal, &run.run, &at)? {
            return Ok(()); // Extended meanwhile, or another reaper finished it.
        }

        let engine = match engines.engine(&run.engine).await {
            Ok(engine) => engine,
            Err(why) => {
                pass.failed.push((run.run.clone(), why));
                return Ok(());
            }
        };
        let removed = match remove_run(&engine, &run.run).await {
            Ok(removed) => removed,
            Err(why) => {
                pass.failed.push((run.run.clone(), why));
                return Ok(());
            }
        };
        if removed.is_empty() && run.status.as_deref() == Some("failed") {
            // Rolled back when it failed: it never was an environment to expire.
            expiry::forget(self.journal, &run.run)?;
            return Ok(());
        }
        // A team is told before its environment goes, if late (no reaper ran in the lead
        // time, or the run ended past it): its warning always comes first.
        self.warn(run, now, pass)?;
        self.journal.record(&Entry::Expired {
            time: run.claimed.clone().unwrap_or(at),
            run: run.run.clone(),
            team: run.team.clone(),
            removed: removed.clone(),
        })?;
        let mut done = notice("expired", run, now, Some(removed));
        if let Some(claimed) = &run.claimed {
            done.time.clone_from(claimed);
        }
        pass.notices.push(done);
        Ok(())
    }
}

/// Whether the run's process still holds it: running, or just starting (its process
/// is there, its lock not taken yet).
fn still_running(state_dir: &Path, run: &Alive) -> bool {
    liveness::liveness(state_dir, &run.run) == Liveness::Live
        || (run.status.is_none()
            && run
                .pid
                .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists()))
}

/// Remove what run `run` left on `engine`: its services, then its containers, newest
/// first. A listing the engine does not answer is an error, never "nothing left".
pub async fn remove_run(engine: &Engine, run: &str) -> Result<Vec<String>, String> {
    let wanted = vec![format!("{}={run}", labels::RUN)];
    let mut services = crate::engine::services::list_labelled(engine, wanted)
        .await
        .map_err(|e| errors::describe(&e))?;
    services.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    let services: Vec<String> = services.into_iter().filter_map(|s| s.id).collect();
    let (mut removed, mut failed) = crate::engine::services::remove_all(engine, &services).await;
    let containers = crate::engine::containers::of_run(engine, run)
        .await
        .map_err(|e| errors::describe(&e))?;
    let (more, more_failed) = crate::engine::containers::remove_all(engine, &containers).await;
    removed.extend(more);
    failed.extend(more_failed);
    if failed.is_empty() {
        Ok(removed)
    } else {
        Err(failed.join("; "))
    }
}

fn warn_at(teams: &BTreeMap<String, TeamPolicy>, run: &Alive, expires: SystemTime) -> SystemTime {
    lifetime::warn_at(teams.get(&run.team), expires)
}

fn notice(
    event: &'static str,
    run: &Alive,
    now: SystemTime,
    removed: Option<Vec<String>>,
) -> Notice {
    Notice {
        workflow: run.workflow.clone(),
        engine: run.engine.clone(),
        removed,
        ..Notice::new(event, &run.run, &run.team, &run.expires, now)
    }
}

/// When the next pass is due, after one at `now`: the soonest warning not given yet
/// and expiry not reached yet of `alive`, and [`RETRY`] from now for the runs in
/// `retry`. Pure, so the schedule is tested with a clock the test sets.
pub fn next_deadline<'a>(
    alive: impl IntoIterator<Item = &'a Alive>,
    teams: &BTreeMap<String, TeamPolicy>,
    now: SystemTime,
    retry: &[&str],
) -> Option<SystemTime> {
    let mut next: Option<SystemTime> = None;
    let mut consider = |t: SystemTime| {
        next = Some(next.map_or(t, |n| n.min(t)));
    };
    for run in alive {
        if retry.contains(&run.run.as_str()) {
            consider(now + RETRY);
            continue;
        }
        let Some(expires) = journal::parse_timestamp(&run.expires) else {
            continue;
        };
        let warn = warn_at(teams, run, expires);
        if warn > now && run.warned.as_deref() != Some(&run.expires) {
            consider(warn);
        }
        if expires > now {
            consider(expires);
        } else {
            // Due, not settled by the pass (another reaper's claim): look again soon.
            consider(now + RETRY);
        }
    }
    next
}

/// Tell each notice's team at its webhook, if it has one: a JSON POST, answered
/// within [`WEBHOOK_TIMEOUT`]. A webhook that fails is logged and not retried: the
/// events stream, the page and the journal still say it.
pub async fn post_webhooks(teams: &BTreeMap<String, TeamPolicy>, notices: &[Notice]) {
    let client = match reqwest::Client::builder().timeout(WEBHOOK_TIMEOUT).build() {
        Ok(client) => client,
        Err(e) => {
            tracing::warn!("cannot make the webhook client: {e}");
            return;
        }
    };
    let posts = notices.iter().filter_map(|n| {
        let url = teams.get(&n.team)?.webhook.clone()?;
        let client = client.clone();
        Some(async move {
            let sent = client.post(&url).json(n).send().await;
            match sent.and_then(reqwest::Response::error_for_status) {
                Ok(_) => {}
                Err(e) => tracing::warn!(
                    team = %n.team, run = %n.run,
                    "the team's webhook did not take the `{}` notice: {e}", n.event
                ),
            }
        })
    });
    futures_util::future::join_all(posts).await;
}

/// Why an extension was not made.
#[derive(Debug)]
pub enum NotExtended {
    /// The journal has no such run (of the team asking).
    Unknown,
    /// The run cannot be extended: it has no expiry, expired, or was torn down.
    Gone(String),
    /// Past the team's max.
    Denied(crate::policy::Denial),
    /// The journal could not be read or written.
    Journal(anyhow::Error),
}

impl std::fmt::Display for NotExtended {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotExtended::Unknown => write!(f, "no such run"),
            NotExtended::Gone(why) => write!(f, "{why}"),
            NotExtended::Denied(denial) => write!(f, "{denial}"),
            NotExtended::Journal(e) => write!(f, "{e:#}"),
        }
    }
}

/// Extend run `run` by `by` at `now`, for `who`, within its team's max counted from
/// now; `team`, when given, is the only team whose run may be extended (the caller's
/// over HTTP). Journaled with who asked. Returns the new expiry.
pub fn extend(
    journal: &Journal,
    teams: &BTreeMap<String, TeamPolicy>,
    run: &str,
    team: Option<&str>,
    by: Duration,
    who: &str,
    now: SystemTime,
) -> Result<String, NotExtended> {
    let found = expiry::of(journal, run)
        .map_err(NotExtended::Journal)?
        .filter(|e| team.is_none_or(|t| t == e.team))
        .ok_or(NotExtended::Unknown)?;
    if let Some(at) = &found.torn_down {
        return Err(NotExtended::Gone(format!(
            "run `{run}` was torn down at {at}: there is nothing left to keep"
        )));
    }
    if let Some(at) = &found.expired {
        return Err(NotExtended::Gone(format!(
            "run `{run}` expired at {at} and was reaped: run its workflow again"
        )));
    }
    let current = found
        .expires
        .as_deref()
        .and_then(journal::parse_timestamp)
        .ok_or_else(|| {
            NotExtended::Gone(format!(
                "run `{run}` does not expire (team `{}` has no lifetime, and its workflow set none): there is nothing to extend",
                found.team
            ))
        })?;
    // The team's policy now: a max lowered since the run started holds.
    let policy = teams.get(&found.team).ok_or_else(|| {
        NotExtended::Gone(format!(
            "team `{}` is no longer in the config: its runs cannot be extended",
            found.team
        ))
    })?;
    let new = lifetime::extend(policy, current, now, by).map_err(NotExtended::Denied)?;
    let expires = journal::timestamp(new);
    let changed = journal
        .record_counted(&Entry::Lifetime {
            time: journal::timestamp(now),
            run: run.to_string(),
            team: found.team.clone(),
            expires: expires.clone(),
            by: who.to_string(),
        })
        .map_err(NotExtended::Journal)?;
    if changed == 0 {
        // The reaper claimed it between the read and the write.
        return Err(NotExtended::Gone(format!(
            "run `{run}` expired just now and is being reaped"
        )));
    }
    Ok(expires)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::lifetime::Lifetime;
    use crate::policy::team::default_team;

    const MIN: Duration = Duration::from_secs(60);

    fn teams() -> BTreeMap<String, TeamPolicy> {
        let mut blue = default_team("blue", Path::new("/"));
        blue.lifetime = Some(Lifetime {
            default: MIN * 60,
            max: MIN * 600,
            warn: MIN * 10,
        });
        BTreeMap::from([("blue".to_string(), blue)])
    }

    fn at(minutes: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000) + MIN * minutes as u32
    }

    fn alive(run: &str, expires: u64, warned: bool) -> Alive {
        let expires = journal::timestamp(at(expires));
        Alive {
            run: run.into(),
            team: "blue".into(),
            engine: "default".into(),
            workflow: "w".into(),
            warned: warned.then(|| expires.clone()),
            expires,
            claimed: None,
            status: Some("ok".into()),
            pid: None,
        }
    }

    #[test]
    fn the_next_pass_is_at_the_soonest_warning_or_expiry() {
        let t = teams();
        // Expires at 60, warned at 50: the warning comes first.
        let a = alive("a", 60, false);
        assert_eq!(next_deadline([&a], &t, at(0), &[]), Some(at(50)));
        // Once warned, the expiry.
        let a = alive("a", 60, true);
        assert_eq!(next_deadline([&a], &t, at(51), &[]), Some(at(60)));
        // Two runs: the soonest of all their deadlines.
        let b = alive("b", 40, false);
        assert_eq!(next_deadline([&a, &b], &t, at(0), &[]), Some(at(30)));
        // A run to retry comes back after RETRY, not at a deadline passed.
        assert_eq!(
            next_deadline([&a], &t, at(61), &["a"]),
            Some(at(61) + RETRY)
        );
        // Nothing with an expiry: no pass is due.
        assert_eq!(next_deadline([], &t, at(0), &[]), None);
        // A team without a lifetime rule (its runs' expiries came from their
        // workflows) is warned the default lead time before.
        let mut red = alive("r", 60, false);
        red.team = "red".into();
        assert_eq!(
            next_deadline([&red], &t, at(0), &[]),
            Some(at(60) - Lifetime::DEFAULT_WARN)
        );
    }
}
