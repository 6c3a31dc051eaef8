//! Atomic admission: a team's quota check and the create (or start) it admits are
//! one step with respect to every other run of that team, in this process (`--each`,
//! `serve`) and in every other dockwright process that shares the state folder.
//!
//! Holding a lock across the engine's create and start (hundreds of milliseconds)
//! would make a team's runs take turns, so the lock covers only the count: under
//! the team's lock a run lists the team's containers, adds the reservations other
//! runs hold for creates and starts still in flight, decides, and if admitted takes
//! a reservation of its own before letting the lock go. The reservation ends when
//! the engine has answered. So at no moment can admitted-but-unfinished work push
//! the team past its quota.
//!
//! Both the lock and each reservation are files locked with `flock`, which the
//! kernel releases when their holder dies, however it dies: a reservation file that
//! can be locked belongs to a run that died, and is dropped by the next count. A
//! created container carries its reservation's token as a label, so the moment in
//! which both the container and its reservation exist never counts it twice.
//!
//! With the shared store (`[state]`, several servers on one PostgreSQL), the lock is
//! an advisory lock and each reservation a row naming its process's holder key (see
//! `journal::shared`): the database ends a dead process's session and its locks, and
//! the next count drops the rows of holders that are gone. Same design, one quota for
//! every process on every machine that names the database.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::contract::bindings::docker::DockerError;
use crate::imports::state::RunContext;
use crate::journal::shared::{namespace, Reserved};
use crate::journal::store::blocking;
use crate::journal::Journal;
use crate::policy::Usage;

/// The longest a run waits for its team's lock before it is denied.
const LOCK_WAIT: Duration = Duration::from_secs(60);
/// How often a lock held by another process is tried again.
const RETRY: Duration = Duration::from_millis(5);

/// One per team lock in this process: runs of one process queue here (fairly, in
/// order) rather than all polling the file or the database.
fn local_queue(path: &Path) -> Arc<tokio::sync::Mutex<()>> {
    static QUEUES: OnceLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> = OnceLock::new();
    let mut queues = QUEUES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    queues.entry(path.to_path_buf()).or_default().clone()
}

fn unchecked(what: &str, path: &Path, e: impl std::fmt::Display) -> DockerError {
    DockerError::Denied(format!(
        "the team's quota cannot be checked: cannot {what} `{}`: {e}; the host denies what it cannot check (policy rule `max_containers`)",
        path.display()
    ))
}

/// The shared store could not be asked: deny, and say so.
fn unshared(e: impl std::fmt::Display) -> DockerError {
    DockerError::Denied(format!(
        "the team's quota cannot be checked: {e:#}; the host denies what it cannot check (policy rule `max_containers`)"
    ))
}

/// The team's admission lock, held while its usage is counted.
pub struct TeamLock {
    held: Held,
    _queued: tokio::sync::OwnedMutexGuard<()>,
}

/// Where the lock is held.
enum Held {
    /// A `flock`ed file of the state folder; its reservations are files beside it.
    File { dir: PathBuf, _file: File },
    /// An advisory lock in the shared store; its reservations are rows.
    Shared {
        journal: Arc<Journal>,
        engine: String,
        team: String,
        key: i32,
    },
}

impl Drop for TeamLock {
    fn drop(&mut self) {
        if let Held::Shared { journal, key, .. } = &self.held {
            if let Some(shared) = journal.shared() {
                // A failure here is a session gone, which let the lock go with it.
                let _ = blocking(|| shared.unlock(namespace::ADMISSION, *key));
            }
        }
    }
}

/// The lock of the run's team on the run's engine. Quotas are counted per engine:
/// the count lists that engine's containers, so its reservations are that engine's
/// too, kept under the engine's own id (whatever the config calls it).
pub async fn lock_run(run: &RunContext) -> Result<TeamLock, DockerError> {
    let engine = run.engine.id().await?;
    if run.journal.shared().is_some() {
        let lock = lock_shared(&run.journal, engine, &run.owner.team).await?;
        still_present(&run.journal, &run.owner.run_id)?;
        return Ok(lock);
    }
    lock(&run.state_dir, engine, &run.owner.team).await
}

/// A run whose process lost its session with the shared store since it started is
/// counted by the other processes as gone (its places free, its containers a dead
/// run's): it may not make anything more.
fn still_present(journal: &Journal, run: &str) -> Result<(), DockerError> {
    let Some(shared) = journal.shared() else {
        return Ok(());
    };
    let (now, then) =
        blocking(|| Ok::<_, anyhow::Error>((shared.holder()?, shared.holder_of(run)?)))
            .map_err(unshared)?;
    if then.is_some_and(|then| then != now) {
        return Err(DockerError::Denied(
            "this host lost its session with the state database during the run, so other \
             hosts now count the run as gone: it may not make more; run it again \
             (policy rule `max_containers`)"
                .into(),
        ));
    }
    Ok(())
}

/// Take `team`'s lock for `engine` in the shared store.
pub async fn lock_shared(
    journal: &Arc<Journal>,
    engine: &str,
    team: &str,
) -> Result<TeamLock, DockerError> {
    let shared = journal.shared().expect("a shared journal");
    let key = lock_key(engine, team);
    let queue = PathBuf::from(format!("shared:{engine}/{team}"));
    let wait = async {
        let queued = local_queue(&queue).lock_owned().await;
        loop {
            match blocking(|| shared.try_lock(namespace::ADMISSION, key)) {
                Ok(true) => return Ok(queued),
                Ok(false) => tokio::time::sleep(RETRY).await,
                Err(e) => return Err(unshared(e)),
            }
        }
    };
    let queued = tokio::time::timeout(LOCK_WAIT, wait).await.map_err(|_| {
        DockerError::Denied(format!(
            "the team's quota could not be checked within {}s: another run holds the team's lock in the state database; try again (policy rule `max_containers`)",
            LOCK_WAIT.as_secs(),
        ))
    })??;
    Ok(TeamLock {
        held: Held::Shared {
            journal: journal.clone(),
            engine: engine.to_string(),
            team: team.to_string(),
            key,
        },
        _queued: queued,
    })
}

/// The advisory lock key of `team` on `engine`: 32 bits of a hash. Two teams whose
/// keys meet take turns; they never count together.
fn lock_key(engine: &str, team: &str) -> i32 {
    let digest = Sha256::digest(format!("{engine}\0{team}").as_bytes());
    i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// Take `team`'s lock for `engine` (an engine id) in `state_dir`, waiting for other
/// runs of the team on that engine.
pub async fn lock(state_dir: &Path, engine: &str, team: &str) -> Result<TeamLock, DockerError> {
    let dir = state_dir.join("admission").join(engine).join(team);
    let path = dir.join("lock");
    std::fs::create_dir_all(&dir).map_err(|e| unchecked("create", &dir, e))?;
    let wait = async {
        let queued = local_queue(&path).lock_owned().await;
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| unchecked("open", &path, e))?;
        loop {
            match file.try_lock() {
                Ok(()) => return Ok((file, queued)),
                Err(TryLockError::WouldBlock) => tokio::time::sleep(RETRY).await,
                Err(TryLockError::Error(e)) => return Err(unchecked("lock", &path, e)),
            }
        }
    };
    let (file, queued) = tokio::time::timeout(LOCK_WAIT, wait).await.map_err(|_| {
        DockerError::Denied(format!(
            "the team's quota could not be checked within {}s: another run holds `{}`; try again (policy rule `max_containers`)",
            LOCK_WAIT.as_secs(),
            path.display()
        ))
    })??;
    Ok(TeamLock {
        held: Held::File { dir, _file: file },
        _queued: queued,
    })
}

/// What a reservation holds a place for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Slot {
    /// A create; the container will carry this token as its `dockwright.slot` label,
    /// and the person's id (when the run is someone's) as its `dockwright.user`.
    Create(String, Option<String>),
    /// A start of this container (full id).
    Start(String),
    /// Replicas a service create or scale adds; the service will carry this token
    /// as its `dockwright.slot` label.
    Replicas(String, u32),
}

/// The reservations of other runs, still in flight.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pending {
    pub creates: HashSet<String>,
    /// Whose each create is, by token, where the run is someone's.
    pub creators: HashMap<String, String>,
    pub starts: HashSet<String>,
    /// Replicas being added, by the token their service will carry.
    pub replicas: HashMap<String, u32>,
}

impl Pending {
    /// Add a reservation of `kind` (`create`, `start`, `replicas`) holding `body`.
    fn add(&mut self, token: &str, kind: &str, body: &str) {
        match kind {
            "create" => {
                self.creates.insert(token.to_string());
                // A person's id, or empty for a run that is nobody's.
                let user = body.trim();
                if !user.is_empty() {
                    self.creators.insert(token.to_string(), user.to_string());
                }
            }
            "start" => {
                self.starts.insert(body.trim().to_string());
            }
            _ => {
                // Written whole before anyone could count it; unreadable counts as the
                // most one service may ask for.
                let n = body
                    .trim()
                    .parse()
                    .unwrap_or(crate::policy::services::MAX_REPLICAS);
                self.replicas.insert(token.to_string(), n);
            }
        }
    }
}

/// A run's place in its team's quota, from the decision until the engine answered.
pub enum Reservation {
    File {
        path: PathBuf,
        _file: File,
    },
    Shared {
        journal: Arc<Journal>,
        token: String,
    },
}

impl Drop for Reservation {
    fn drop(&mut self) {
        match self {
            // The file goes first, then its lock with the handle: a count never sees an
            // unlocked file of a reservation that ended well.
            Reservation::File { path, .. } => {
                let _ = std::fs::remove_file(path);
            }
            // A row that cannot be deleted now (the session is gone) is dropped by the
            // next count, its holder being gone too.
            Reservation::Shared { journal, token } => {
                if let Some(shared) = journal.shared() {
                    let _ = blocking(|| shared.release(token));
                }
            }
        }
    }
}

impl TeamLock {
    /// The live reservations of the team. Those whose holder died are removed.
    pub fn pending(&self) -> Result<Pending, DockerError> {
        match &self.held {
            Held::File { dir, .. } => pending_files(dir),
            Held::Shared {
                journal,
                engine,
                team,
                ..
            } => {
                let shared = journal.shared().expect("a shared journal");
                let rows = blocking(|| shared.reservations(engine, team)).map_err(unshared)?;
                let mut pending = Pending::default();
                for r in rows {
                    pending.add(&r.token, &r.kind, &r.body);
                }
                Ok(pending)
            }
        }
    }

    /// Hold a place for `slot` until the returned reservation drops.
    pub fn reserve(&self, slot: &Slot) -> Result<Reservation, DockerError> {
        let (token, kind, body) = match slot {
            Slot::Create(token, user) => {
                (token.clone(), "create", user.clone().unwrap_or_default())
            }
            Slot::Start(id) => (new_token(), "start", id.clone()),
            Slot::Replicas(token, n) => (token.clone(), "replicas", n.to_string()),
        };
        match &self.held {
            Held::File { dir, .. } => {
                let path = dir.join(format!("{token}.{kind}"));
                let file = OpenOptions::new()
                    .create_new(true)
                    .write(true)
                    .open(&path)
                    .map_err(|e| unchecked("create", &path, e))?;
                // Locked before anything else can look: counts run under the team lock.
                file.try_lock().map_err(|e| unchecked("lock", &path, e))?;
                std::fs::write(&path, body).map_err(|e| unchecked("write", &path, e))?;
                Ok(Reservation::File { path, _file: file })
            }
            Held::Shared {
                journal,
                engine,
                team,
                ..
            } => {
                let shared = journal.shared().expect("a shared journal");
                let place = Reserved {
                    token: token.clone(),
                    kind: kind.to_string(),
                    body,
                };
                blocking(|| shared.reserve(engine, team, &place)).map_err(unshared)?;
                Ok(Reservation::Shared {
                    journal: journal.clone(),
                    token,
                })
            }
        }
    }
}

/// The live reservation files in `dir`. Files whose holder died are removed.
fn pending_files(dir: &Path) -> Result<Pending, DockerError> {
    let mut pending = Pending::default();
    let entries = std::fs::read_dir(dir).map_err(|e| unchecked("read", dir, e))?;
    for entry in entries {
        let path = entry.map_err(|e| unchecked("read", dir, e))?.path();
        let (Some(token), Some(kind)) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            continue;
        };
        if !matches!(kind, "create" | "start" | "replicas") {
            continue;
        }
        let Ok(file) = File::open(&path) else {
            continue; // Ended and removed since the listing.
        };
        match file.try_lock() {
            // Nobody holds it: its run died mid-way.
            Ok(()) => {
                let _ = std::fs::remove_file(&path);
            }
            // Written before the lock was let go, so never half there.
            Err(TryLockError::WouldBlock) => {
                let body = std::fs::read_to_string(&path).unwrap_or_default();
                pending.add(token, kind, &body);
            }
            Err(TryLockError::Error(e)) => return Err(unchecked("lock", &path, e)),
        }
    }
    Ok(pending)
}

/// A token for a create's reservation: unique across processes.
pub fn new_token() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        // Unique enough without randomness: the time and the process.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        return format!("{nanos:x}{:x}", std::process::id());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One of the team's containers as the engine lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub id: String,
    pub running: bool,
    /// Its `dockwright.slot` label.
    pub slot: Option<String>,
    /// Whether it is a task of a service (counted by the service's replicas).
    pub task: bool,
    /// Its `dockwright.user` label: the person whose run made it.
    pub user: Option<String>,
}

/// One of the team's services as the engine lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedService {
    pub replicas: u32,
    /// Its `dockwright.slot` label: the token of its latest create or scale.
    pub slot: Option<String>,
}

/// The team's usage: what the engine holds, plus what other runs were admitted to
/// make and have not finished making. A reservation whose container (or service)
/// the engine already shows is counted once. A service counts its replicas, as
/// containers and as running, whether or not the swarm has started their tasks
/// yet; its task containers are not counted again. `user`, when given, is the
/// person whose containers (made, and being made) are counted as `mine`.
pub fn usage(
    listed: &[Listed],
    services: &[ListedService],
    pending: &Pending,
    user: Option<&str>,
) -> Usage {
    let listed: Vec<&Listed> = listed.iter().filter(|c| !c.task).collect();
    let slots: HashSet<&str> = listed.iter().filter_map(|c| c.slot.as_deref()).collect();
    let service_slots: HashSet<&str> = services.iter().filter_map(|s| s.slot.as_deref()).collect();
    let running: HashSet<&str> = listed
        .iter()
        .filter(|c| c.running)
        .map(|c| c.id.as_str())
        .collect();
    let replicas: u64 = services.iter().map(|s| u64::from(s.replicas)).sum::<u64>()
        + pending
            .replicas
            .iter()
            .filter(|(t, _)| !service_slots.contains(t.as_str()))
            .map(|(_, n)| u64::from(*n))
            .sum::<u64>();
    let creates = pending
        .creates
        .iter()
        .filter(|t| !slots.contains(t.as_str()))
        .count();
    let starts = pending
        .starts
        .iter()
        .filter(|id| !running.contains(id.as_str()))
        .count();
    let mine = user.map_or(0, |user| {
        let made = listed
            .iter()
            .filter(|c| c.user.as_deref() == Some(user))
            .count();
        let making = pending
            .creators
            .iter()
            .filter(|(t, u)| u.as_str() == user && !slots.contains(t.as_str()))
            .count();
        made + making
    });
    let count = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
    Usage {
        containers: count((listed.len() + creates) as u64 + replicas),
        running: count((running.len() + starts) as u64 + replicas),
        mine: count(mine as u64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(id: &str, running: bool, slot: Option<&str>) -> Listed {
        Listed {
            id: id.into(),
            running,
            slot: slot.map(String::from),
            task: false,
            user: None,
        }
    }

    #[test]
    fn reservations_count_until_the_engine_shows_them() {
        let pending = Pending {
            creates: ["t1", "t2"].map(String::from).into(),
            starts: ["c1", "c9"].map(String::from).into(),
            replicas: HashMap::new(),
            creators: HashMap::new(),
        };
        let engine = [listed("c1", false, Some("t1")), listed("c2", true, None)];
        // c1 is t1's container: counted once. t2 is still being created. c1's start
        // is in flight; c9's too (its container is counted by the engine's listing
        // or a create, whichever holds it).
        assert_eq!(
            usage(&engine, &[], &pending, None),
            Usage {
                containers: 3,
                running: 3,
                mine: 0,
            }
        );
        let started = [listed("c1", true, Some("t1")), listed("c2", true, None)];
        assert_eq!(
            usage(&started, &[], &pending, None),
            Usage {
                containers: 3,
                running: 3,
                mine: 0,
            }
        );
        assert_eq!(usage(&[], &[], &Pending::default(), None), Usage::default());
    }

    #[test]
    fn services_count_their_replicas_once() {
        let mut task = listed("t", true, None);
        task.task = true;
        let services = [ListedService {
            replicas: 3,
            slot: Some("s1".into()),
        }];
        let pending = Pending {
            replicas: HashMap::from([("s1".to_string(), 3), ("s2".to_string(), 2)]),
            ..Default::default()
        };
        // The task container is the service's; s1's reservation is the service
        // already listed; s2's service is still being created.
        assert_eq!(
            usage(&[task, listed("c", false, None)], &services, &pending, None),
            Usage {
                containers: 6,
                running: 5,
                mine: 0,
            }
        );
    }

    #[test]
    fn a_persons_containers_are_those_they_made_and_are_making() {
        let mine = |id: &str, slot: Option<&str>, user: &str| Listed {
            user: Some(user.into()),
            ..listed(id, false, slot)
        };
        let engine = [
            mine("c1", Some("t1"), "alice"),
            mine("c2", None, "bob"),
            listed("c3", true, None),
        ];
        let pending = Pending {
            creates: ["t1", "t2", "t3", "t4"].map(String::from).into(),
            // t1 is c1, already listed; t2 is alice's, being made; t3 is bob's; t4
            // is a team token's (nobody's).
            creators: HashMap::from([
                ("t1".to_string(), "alice".to_string()),
                ("t2".to_string(), "alice".to_string()),
                ("t3".to_string(), "bob".to_string()),
            ]),
            ..Default::default()
        };
        assert_eq!(usage(&engine, &[], &pending, Some("alice")).mine, 2);
        assert_eq!(usage(&engine, &[], &pending, Some("bob")).mine, 2);
        assert_eq!(usage(&engine, &[], &pending, Some("carol")).mine, 0);
        let team = usage(&engine, &[], &pending, None);
        assert_eq!((team.containers, team.mine), (6, 0));
    }

    #[tokio::test]
    async fn reservations_are_seen_while_held_and_gone_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let lock = lock(dir.path(), "e1", "blue").await.unwrap();
        let made = lock
            .reserve(&Slot::Create("tok".into(), Some("alice".into())))
            .unwrap();
        let start = lock.reserve(&Slot::Start("abc".into())).unwrap();
        let scale = lock.reserve(&Slot::Replicas("svc".into(), 4)).unwrap();
        let pending = lock.pending().unwrap();
        assert_eq!(pending.creates, HashSet::from(["tok".to_string()]));
        assert_eq!(pending.creators["tok"], "alice");
        assert_eq!(pending.starts, HashSet::from(["abc".to_string()]));
        assert_eq!(pending.replicas, HashMap::from([("svc".to_string(), 4)]));
        drop((made, start, scale));
        assert_eq!(lock.pending().unwrap(), Pending::default());
    }

    #[tokio::test]
    async fn a_dead_holders_reservation_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let lock = lock(dir.path(), "e1", "blue").await.unwrap();
        // A reservation file nobody holds: what a killed process leaves.
        let stale = dir.path().join("admission/e1/blue/dead.create");
        std::fs::write(&stale, "").unwrap();
        assert_eq!(lock.pending().unwrap(), Pending::default());
        assert!(!stale.exists());
    }

    #[tokio::test]
    async fn runs_of_one_team_take_the_lock_in_turn() {
        let dir = tempfile::tempdir().unwrap();
        let first = lock(dir.path(), "e1", "blue").await.unwrap();
        let path = dir.path().to_path_buf();
        let second = tokio::spawn(async move { lock(&path, "e1", "blue").await.map(|_| ()) });
        // Another team is not held up, nor the team on another engine.
        let other = lock(dir.path(), "e1", "red").await.unwrap();
        let elsewhere = lock(dir.path(), "e2", "blue").await.unwrap();
        drop((other, elsewhere));
        tokio::task::yield_now().await;
        assert!(!second.is_finished());
        drop(first);
        second.await.unwrap().unwrap();
    }
}
