//! The server's reaper: a pass over the runs with an expiry (see
//! [`crate::run::expiry`]) at each deadline, not on a timer: at start (so what expired
//! while no server ran is reaped first), then at the soonest warning or expiry due,
//! and at once when this server starts a run or extends one. A run another process
//! started is seen within [`MAX_SLEEP`], which also keeps the wall clock and the
//! sleeping clock from drifting apart over a long wait.
//!
//! Its notices go to the run's events streams and the page (a broadcast any number
//! of streams follow) and to the team's webhook.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, Notify};

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::app::App;
use crate::engine::Engine;
use crate::run::expiry::{self, Notice, Reaper};

/// The longest the reaper sleeps between passes.
pub const MAX_SLEEP: Duration = Duration::from_secs(60);

/// The wall clock as the reaper reads it: a wall-clock time taken once, moved on by
/// tokio's clock. One clock for waiting and for deciding, so a test that pauses and
/// advances tokio's clock moves both.
#[derive(Clone, Copy)]
pub struct Clock {
    wall: SystemTime,
    at: Instant,
}

impl Clock {
    pub fn new() -> Clock {
        Clock {
            wall: SystemTime::now(),
            at: Instant::now(),
        }
    }

    pub fn now(&self) -> SystemTime {
        self.wall + self.at.elapsed()
    }

    /// When tokio's clock reaches wall-clock time `t` (now, for a time passed).
    fn instant_of(&self, t: SystemTime) -> Instant {
        let now = self.now();
        Instant::now() + t.duration_since(now).unwrap_or_default()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// The server's engines, by name, for the reaper.
struct AppEngines<'a>(&'a App);

impl expiry::Engines for AppEngines<'_> {
    async fn engine(&self, name: &str) -> Result<Engine, String> {
        let config = self.0.teams.current();
        self.0
            .engines
            .get(&config, name)
            .await
            .map_err(|e| e.message)
    }
}

/// Reap until `stop`. A pass that fails (the journal could not be read) is logged and
/// tried again after [`expiry::RETRY`].
pub async fn run(app: Arc<App>, stop: CancellationToken) {
    let clock = Clock::new();
    let passes = |now| {
        let app = app.clone();
        async move { pass(&app, now).await }
    };
    schedule(clock, app.reaping.wake_signal(), &stop, passes).await;
}

/// Make a pass with `pass` at `clock`'s now, then again at the time it names (at most
/// [`MAX_SLEEP`] later) or when `wake` is notified, until `stop`.
pub async fn schedule<F, Fut>(clock: Clock, wake: &Notify, stop: &CancellationToken, mut pass: F)
where
    F: FnMut(SystemTime) -> Fut,
    Fut: std::future::Future<Output = Option<SystemTime>>,
{
    loop {
        let now = clock.now();
        let next = pass(now).await;
        let wait = next.map_or(MAX_SLEEP, |t| {
            t.duration_since(clock.now())
                .unwrap_or_default()
                .min(MAX_SLEEP)
        });
        let until = clock.instant_of(clock.now() + wait);
        tokio::select! {
            () = tokio::time::sleep_until(until) => {}
            () = wake.notified() => {}
            () = stop.cancelled() => return,
        }
    }
}

/// One pass at `now`: its notices told, and when the next one is due.
pub async fn pass(app: &App, now: SystemTime) -> Option<SystemTime> {
    // One server reaps at a time; the others ask again in a while, and one of them
    // takes over when the leader is gone.
    if !super::leads(app) {
        return Some(now + MAX_SLEEP);
    }
    let config = app.teams.current();
    let reaper = Reaper {
        journal: &app.journal,
        state_dir: &app.state_dir,
        teams: &config.teams,
    };
    let pass = match reaper.pass(&AppEngines(app), now).await {
        Ok(pass) => pass,
        Err(e) => {
            tracing::warn!("the reaper could not read the journal: {e:#}");
            return Some(now + expiry::RETRY);
        }
    };
    for (run, why) in &pass.failed {
        tracing::warn!(run = %run, "could not reap the expired run yet, trying again: {why}");
    }
    for notice in &pass.notices {
        match notice.event {
            "expired" => tracing::info!(
                run = %notice.run, team = %notice.team,
                "reaped run {} (expired at {}): removed {}",
                notice.run, notice.expires,
                notice.removed.as_ref().map_or(0, Vec::len)
            ),
            _ => tracing::info!(
                run = %notice.run, team = %notice.team,
                "run {} expires at {}", notice.run, notice.expires
            ),
        }
        app.reaping.tell(notice.clone());
    }
    if !pass.notices.is_empty() {
        let teams = config.teams.clone();
        let notices = pass.notices.clone();
        app.tasks
            .spawn(async move { expiry::post_webhooks(&teams, &notices).await });
    }
    pass.next
}

/// The lifetime events of run `id` after its end, for its events stream: `expiring`
/// when its team is warned, `extended` when it is, and `expired` (or `torn-down`),
/// which ends the stream. `notices` was subscribed to before the journal is read, so
/// nothing falls between the two; a stream that lags behind reads the journal again.
pub fn environment_events(
    app: Arc<App>,
    id: String,
    notices: broadcast::Receiver<Notice>,
) -> impl futures_util::Stream<Item = Notice> {
    use futures_util::StreamExt;
    let known = from_journal(&app, &id);
    let finished = known.last().is_some_and(|n| n.event == "expired") || gone(&app, &id);
    let told_expiring = known.iter().any(|n| n.event == "expiring");
    let rest = futures_util::stream::unfold(
        (app, id, notices, finished, told_expiring),
        |(app, id, mut rx, done, told)| async move {
            if done {
                return None;
            }
            loop {
                let notices = match rx.recv().await {
                    Ok(n) if n.run == id => vec![n],
                    Ok(_) => continue,
                    // Fell behind: the journal says where the environment stands.
                    Err(broadcast::error::RecvError::Lagged(_)) => from_journal(&app, &id)
                        .into_iter()
                        .filter(|n| !(told && n.event == "expiring"))
                        .collect(),
                    Err(broadcast::error::RecvError::Closed) => return None,
                };
                if notices.is_empty() {
                    continue;
                }
                let last = notices
                    .iter()
                    .any(|n| matches!(n.event, "expired" | "torn-down"));
                let told = told || notices.iter().any(|n| n.event == "expiring");
                return Some((
                    futures_util::stream::iter(notices),
                    (app, id, rx, last, told),
                ));
            }
        },
    )
    .flatten();
    futures_util::stream::iter(known).chain(rest)
}

/// What the journal says of run `id`'s environment now, as notices: warned of, then
/// expired (once reaping finished).
fn from_journal(app: &App, id: &str) -> Vec<Notice> {
    let Ok(Some(e)) = crate::journal::expiry::of(&app.journal, id) else {
        return Vec::new();
    };
    let expires = e.expires.clone().unwrap_or_default();
    let notice = |event| Notice::new(event, id, &e.team, &expires, SystemTime::now());
    let mut out = Vec::new();
    if e.warned.is_some() && e.warned == e.expires {
        out.push(notice("expiring"));
    }
    // Claimed and not finished is not expired yet: its reaper's notice will say it.
    if let (Some(at), Some(removed)) = (&e.expired, &e.expired_removed) {
        let mut n = notice("expired");
        n.time.clone_from(at);
        n.removed = Some(removed.clone());
        out.push(n);
    }
    out
}

/// Whether run `id` has no environment left to follow: torn down, or without expiry.
fn gone(app: &App, id: &str) -> bool {
    match crate::journal::expiry::of(&app.journal, id) {
        Ok(Some(e)) => e.torn_down.is_some() || e.expires.is_none(),
        _ => true,
    }
}

/// Each team's environments with an expiry, for `/metrics`: every team of the config,
/// at 0 when it has none, so a series does not vanish.
pub async fn gauges(
    app: &App,
    teams: &std::collections::BTreeMap<String, crate::policy::TeamPolicy>,
) -> Vec<(String, super::metrics::Lifetimes)> {
    let journal = app.journal.clone();
    let read = tokio::task::spawn_blocking(move || {
        Ok::<_, anyhow::Error>((
            crate::journal::expiry::alive(&journal)?,
            crate::journal::expiry::expired_by_team(&journal)?,
        ))
    })
    .await;
    let (alive, expired) = match read {
        Ok(Ok(read)) => read,
        Ok(Err(e)) => {
            tracing::warn!("/metrics could not read the journal's expiries: {e:#}");
            return Vec::new();
        }
        Err(_) => return Vec::new(),
    };
    let now = SystemTime::now();
    teams
        .iter()
        .map(|(name, policy)| {
            let mine = alive
                .iter()
                .filter(|a| &a.team == name && a.status.as_deref() != Some("failed"));
            let expiring = mine
                .clone()
                .filter(|a| {
                    crate::journal::parse_timestamp(&a.expires)
                        .is_some_and(|t| crate::policy::lifetime::warn_at(Some(policy), t) <= now)
                })
                .count();
            let gauges = super::metrics::Lifetimes {
                alive: mine.count() as i64,
                expiring: expiring as i64,
                expired: expired.get(name).copied().unwrap_or(0) as i64,
            };
            (name.clone(), gauges)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::Mutex;

    use super::*;
    use crate::journal::{self, Entry, Journal};
    use crate::policy::lifetime::Lifetime;
    use crate::policy::team::default_team;

    const MIN: Duration = Duration::from_secs(60);

    /// An engine that never answers: every reaping fails and is retried.
    struct Unreachable;

    impl expiry::Engines for Unreachable {
        async fn engine(&self, name: &str) -> Result<Engine, String> {
            Err(format!("engine `{name}` does not answer"))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn passes_come_at_the_warning_and_the_expiry_and_retry_an_engine_that_is_down() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("j.db")).unwrap();
        let clock = Clock::new();
        let started = clock.now();
        let expires = journal::timestamp(started + MIN * 60);
        let expiry_at = journal::parse_timestamp(&expires).unwrap();
        j.record(&Entry::RunStart {
            time: journal::timestamp(started),
            run: "r1".into(),
            team: "blue".into(),
            plugin: "p".into(),
            plugin_sha256: "00".into(),
            workflow: "env".into(),
            params: vec![],
            pid: 1,
            engine: "default".into(),
            expires: Some(expires.clone()),
            user: None,
            user_name: None,
        })
        .unwrap();
        // Ended: its process (pid 1 here, always alive) no longer counts.
        j.record(&Entry::RunEnd {
            time: journal::timestamp(started),
            run: "r1".into(),
            team: "blue".into(),
            plugin: "p".into(),
            workflow: "env".into(),
            status: "ok".into(),
            error: None,
            cause: None,
            containers: vec!["c1".into()],
            images: vec![],
            rolled_back: vec![],
            duration_ms: 1,
        })
        .unwrap();
        let mut blue = default_team("blue", Path::new("/"));
        blue.lifetime = Some(Lifetime {
            default: MIN * 60,
            max: MIN * 600,
            warn: MIN * 10,
        });
        let teams = BTreeMap::from([("blue".to_string(), blue)]);
        let state = dir.path().join("state");
        let seen: Mutex<Vec<(SystemTime, Vec<&'static str>, usize)>> = Mutex::default();
        let stop = CancellationToken::new();
        let wake = Notify::new();
        let passes = |now: SystemTime| {
            let reaper = Reaper {
                journal: &j,
                state_dir: &state,
                teams: &teams,
            };
            let (seen, stop) = (&seen, &stop);
            async move {
                let pass = reaper.pass(&Unreachable, now).await.unwrap();
                let events = pass.notices.iter().map(|n| n.event).collect();
                seen.lock().unwrap().push((now, events, pass.failed.len()));
                if now > expiry_at + MIN * 2 {
                    stop.cancel();
                }
                pass.next
            }
        };
        schedule(clock, &wake, &stop, passes).await;
        let seen = seen.into_inner().unwrap();
        // The warning comes at its lead time before the expiry, not a tick later.
        let warned: Vec<SystemTime> = seen
            .iter()
            .filter(|(_, events, _)| events.contains(&"expiring"))
            .map(|(t, ..)| *t)
            .collect();
        // tokio's timers tick in whole milliseconds: a deadline is met within one.
        let on_time = |at: SystemTime, due: SystemTime| {
            at.duration_since(due)
                .is_ok_and(|late| late <= Duration::from_millis(1))
        };
        assert_eq!(warned.len(), 1, "{warned:?}");
        assert!(on_time(warned[0], expiry_at - MIN * 10), "{warned:?}");
        // The first reaping is at the expiry; the engine does not answer, so it is
        // tried again RETRY later, and never reported reaped.
        let failed: Vec<SystemTime> = seen
            .iter()
            .filter(|(_, _, failed)| *failed > 0)
            .map(|(t, ..)| *t)
            .collect();
        assert!(on_time(failed[0], expiry_at), "{failed:?}");
        assert!(on_time(failed[1], failed[0] + expiry::RETRY), "{failed:?}");
        assert!(seen
            .iter()
            .all(|(_, events, _)| !events.contains(&"expired")));
        // No pass is more than MAX_SLEEP after the one before.
        for pair in seen.windows(2) {
            assert!(pair[1].0.duration_since(pair[0].0).unwrap() <= MAX_SLEEP);
        }
        // The journal still has the run to reap.
        assert_eq!(crate::journal::expiry::alive(&j).unwrap().len(), 1);
    }
}
