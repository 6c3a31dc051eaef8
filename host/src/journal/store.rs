//! The audit journal: an SQLite database every run of every process writes. Every
//! Docker call a plugin makes is recorded with the decision and the result, and each
//! run's start and end with its status, so "who did what to the shared engine" has
//! an answer after the fact, and finding it costs an index lookup, not a read of all
//! history.
//!
//! Several processes (CLI runs, a server) write at once. The database is in WAL mode,
//! so readers never wait for writers; each entry is one short `BEGIN IMMEDIATE`
//! transaction that waits up to [`BUSY_TIMEOUT`] for the write lock, so entries are
//! never lost or interleaved. `synchronous = NORMAL`: a power cut may lose the last
//! entries written before it (never corrupt the file); a crash of the process loses
//! nothing.

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use rusqlite::{Connection, ErrorCode, OpenFlags};
use serde::{Deserialize, Serialize};

use super::config::StateSettings;
use super::db::sqlite::Sqlite;
use super::db::{params, DbError, DbResult, Sql, Value};
use super::schema;
use super::shared::Shared;
use crate::util::text;

/// One entry of the journal: the form `runs export` writes and `runs import` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Entry {
    RunStart {
        time: String,
        run: String,
        team: String,
        plugin: String,
        plugin_sha256: String,
        workflow: String,
        params: Vec<(String, String)>,
        /// The host process, for telling live runs from dead ones.
        pid: u32,
        /// The engine the run is on (`default`, or a name of the config's `[engines]`);
        /// journals written before engines had names read as `default`.
        #[serde(default = "default_engine")]
        engine: String,
        /// When its environment expires (its team's `lifetime`); none: never.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires: Option<String>,
        /// Who started it: a token's `sub`, a CLI run's local user, or `team-token`;
        /// journals written before people were recorded have none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
        /// How people know them (`email` or `preferred_username`), when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_name: Option<String>,
    },
    Call {
        time: String,
        run: String,
        team: String,
        plugin: String,
        op: String,
        target: String,
        /// `allowed` or `denied`.
        decision: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
        /// `ok`, or the error case (`not-found`, `denied`, ...).
        result: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        duration_ms: u64,
    },
    RunEnd {
        time: String,
        run: String,
        team: String,
        plugin: String,
        workflow: String,
        /// `ok`, `failed`, or `died` (closed by `gc` after its process died).
        status: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        /// Why it failed, in a kind a client can act on (`policy`, `quota`, `plugin`,
        /// `limit`, `engine`, `cancelled`, `internal`); journals before it have none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<String>,
        containers: Vec<String>,
        images: Vec<String>,
        rolled_back: Vec<String>,
        duration_ms: u64,
    },
    /// The run's environment was torn down on request: what it left on the engine is
    /// gone, whatever its end says. The first teardown of a run is the one kept.
    TornDown {
        time: String,
        run: String,
        team: String,
        /// The containers removed by the teardown (those of a run cancelled by it too).
        removed: Vec<String>,
        /// Who tore it down (as a run's start names its person), when known.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    /// The run's expiry was set (by its workflow) or extended (by a person): the
    /// run's expiry is now `expires`. Applies only to a run that has not expired or
    /// been torn down.
    Lifetime {
        time: String,
        run: String,
        team: String,
        expires: String,
        /// Who asked: `workflow`, a user name, `token:<hash start>`.
        by: String,
    },
    /// The run's environment expired at `time` and was reaped: `removed` is what was
    /// removed (containers, then services). The first reaping of a run is the one kept.
    Expired {
        time: String,
        run: String,
        team: String,
        removed: Vec<String>,
    },
}

fn default_engine() -> String {
    crate::engine::config::DEFAULT_ENGINE.to_string()
}

impl Entry {
    pub fn team(&self) -> &str {
        match self {
            Entry::RunStart { team, .. }
            | Entry::Call { team, .. }
            | Entry::RunEnd { team, .. }
            | Entry::TornDown { team, .. }
            | Entry::Lifetime { team, .. }
            | Entry::Expired { team, .. } => team,
        }
    }

    pub fn run(&self) -> &str {
        match self {
            Entry::RunStart { run, .. }
            | Entry::Call { run, .. }
            | Entry::RunEnd { run, .. }
            | Entry::TornDown { run, .. }
            | Entry::Lifetime { run, .. }
            | Entry::Expired { run, .. } => run,
        }
    }
}

/// How long a write waits for another process's write to finish before it fails.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// An open journal, shared by the runs of a process.
pub struct Journal {
    store: Store,
    /// Told of every entry this process records (the server counts denials with it).
    observer: OnceLock<Observer>,
}

/// Where the journal lives.
enum Store {
    /// The embedded default: one SQLite file every process on the machine opens.
    Sqlite {
        path: PathBuf,
        conn: Mutex<Connection>,
    },
    /// The shared store several servers use: PostgreSQL (`[state]`).
    Shared(Box<Shared>),
}

/// What [`Journal::observe`] calls with each entry.
pub type Observer = Box<dyn Fn(&Entry) + Send + Sync>;

pub use super::db::blocking;

impl Journal {
    /// Open the database at `path`, creating it and its folder if needed.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the journal folder `{}`", dir.display()))?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn =
            Connection::open_with_flags(path, flags).map_err(|e| explain(path, "open", &e))?;
        let set_up = |conn: &mut Connection| -> rusqlite::Result<()> {
            conn.busy_timeout(BUSY_TIMEOUT)?;
            // While a new file is switched to WAL, a process opening it at the same moment
            // is refused at once, not after the busy timeout: SQLite will not let a reader
            // wait for a lock it might deadlock on. Such a refusal is retried here, up to
            // the same timeout.
            let deadline = Instant::now() + BUSY_TIMEOUT;
            loop {
                match schema::set_up(conn) {
                    Err(e) if schema::is_busy(&e) && Instant::now() < deadline => {
                        #[cfg(test)]
                        tests::OPEN_RETRIES.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    done => return done,
                }
            }
        };
        blocking(|| set_up(&mut conn)).map_err(|e| explain(path, "open", &e))?;
        Ok(Self {
            store: Store::Sqlite {
                path: path.to_path_buf(),
                conn: Mutex::new(conn),
            },
            observer: OnceLock::new(),
        })
    }

    /// Connect to the shared store `[state]` names.
    pub fn connect(settings: &StateSettings) -> Result<Self> {
        Ok(Self {
            store: Store::Shared(Box::new(blocking(|| Shared::connect(settings))?)),
            observer: OnceLock::new(),
        })
    }

    /// The SQLite file, for the embedded store.
    pub fn path(&self) -> Option<&Path> {
        match &self.store {
            Store::Sqlite { path, .. } => Some(path),
            Store::Shared(_) => None,
        }
    }

    /// The shared store, when the journal is in one.
    pub fn shared(&self) -> Option<&Shared> {
        match &self.store {
            Store::Sqlite { .. } => None,
            Store::Shared(shared) => Some(shared),
        }
    }

    /// Where the journal is, for people: the file, or the database's URL.
    pub fn shown(&self) -> String {
        match &self.store {
            Store::Sqlite { path, .. } => path.display().to_string(),
            Store::Shared(shared) => shared.shown().to_string(),
        }
    }

    /// Write a copy of the database to `to` as it is at one moment, while other
    /// processes go on writing: `VACUUM INTO` reads it in one transaction (as the
    /// online backup API does) and writes it compacted, with no extra SQLite feature.
    pub fn snapshot(&self, to: &Path) -> Result<()> {
        let target = to
            .to_str()
            .ok_or_else(|| anyhow::anyhow!("{} is not a UTF-8 path", to.display()))?
            .to_string();
        if self.shared().is_some() {
            anyhow::bail!(
                "the journal is in the state database: back it up with the database's own \
                 tools (pg_dump)"
            );
        }
        self.with("copy", |sql| {
            sql.execute("VACUUM INTO ?1", &[Value::Text(target)])
                .map(|_| ())
        })
    }

    /// Call `observer` with every entry recorded from now on. One observer per
    /// journal: a second is refused (returned), not silently dropped.
    pub fn observe(&self, observer: Observer) -> Result<(), Observer> {
        self.observer.set(observer)
    }

    /// Write one entry in a transaction of its own. An error names the store and what
    /// to do; the caller decides what a run does without its audit (it stops).
    pub fn record(&self, entry: &Entry) -> Result<()> {
        self.record_counted(entry).map(|_| ())
    }

    /// [`Journal::record`], saying how many rows the entry changed: 0 for a start of
    /// a run already there, or a teardown of a run torn down before.
    pub fn record_counted(&self, entry: &Entry) -> Result<usize> {
        // A run's start names its holder in the shared store: its liveness for every
        // replica (see `shared`).
        let holder = match (entry, self.shared()) {
            (Entry::RunStart { .. }, Some(shared)) => Some(blocking(|| shared.holder())?),
            _ => None,
        };
        let changed = self.write("write", |sql| insert(sql, entry, holder))?;
        if let Some(observer) = self.observer.get() {
            observer(entry);
        }
        Ok(changed)
    }

    /// Write many entries in one transaction (a benchmark's history, a bulk load):
    /// all of them or, on an error, none. The observer is not told of them.
    pub fn record_all<'e>(
        &self,
        entries: impl IntoIterator<Item = &'e Entry> + Send,
    ) -> Result<u64> {
        self.write("write", |sql| {
            let mut n = 0;
            for entry in entries {
                insert(sql, entry, None)?;
                n += 1;
            }
            Ok(n)
        })
    }

    /// Run `f` on the store (reads, and writes that are one statement), off the async
    /// workers' backs, with its error explained in terms of the store.
    pub(super) fn with<T: Send>(
        &self,
        doing: &str,
        f: impl FnOnce(&mut dyn Sql) -> DbResult<T> + Send,
    ) -> Result<T> {
        blocking(|| match &self.store {
            Store::Sqlite { path, conn } => {
                let conn = conn.lock().unwrap_or_else(|e| e.into_inner());
                f(&mut Sqlite(&conn)).map_err(|e| explain_db(path, doing, &e))
            }
            Store::Shared(shared) => shared.with(doing, f),
        })
    }

    /// Run `f` in one write transaction: all of it or none, and (in SQLite) no other
    /// process's write between its reads and its writes.
    pub(super) fn write<T: Send>(
        &self,
        doing: &str,
        f: impl FnOnce(&mut dyn Sql) -> DbResult<T> + Send,
    ) -> Result<T> {
        blocking(|| match &self.store {
            Store::Sqlite { path, conn } => {
                let mut conn = conn.lock().unwrap_or_else(|e| e.into_inner());
                let run = || -> DbResult<T> {
                    let tx =
                        conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    let value = f(&mut Sqlite(&tx))?;
                    tx.commit()?;
                    Ok(value)
                };
                run().map_err(|e| explain_db(path, doing, &e))
            }
            Store::Shared(shared) => shared.write(doing, f),
        })
    }
}

#[cfg(test)]
impl Journal {
    /// The embedded store's own connection, for tests of SQLite's settings.
    pub(super) fn sqlite<T>(&self, f: impl FnOnce(&Connection) -> T) -> T {
        match &self.store {
            Store::Sqlite { conn, .. } => f(&conn.lock().unwrap_or_else(|e| e.into_inner())),
            Store::Shared(_) => panic!("the journal is not in SQLite"),
        }
    }
}

/// An error of either store said in the terms of the SQLite file.
fn explain_db(path: &Path, doing: &str, e: &DbError) -> anyhow::Error {
    match e {
        DbError::Sqlite(e) => explain(path, doing, e),
        other => anyhow::anyhow!("cannot {doing} the journal `{}`: {other}", path.display()),
    }
}

pub(super) fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
}

/// A run's params as the journal keeps them: each value cut to [`text::CAP`], as the
/// free texts of every entry are (a call's target and detail, a run's error), so that no
/// entry is larger than a few hundred KiB, whoever wrote it (a run, an import).
pub(super) fn params_json(params: &[(String, String)]) -> String {
    let kept: Vec<(&str, Cow<'_, str>)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), text::cap(v)))
        .collect();
    json(&kept)
}

/// Write `entry` into the tables, its free texts capped (see [`params_json`]). A start
/// of a run already there is ignored (the caller can tell by the count); an end without
/// a start is kept as a run of its own.
pub(super) fn insert(sql: &mut dyn Sql, entry: &Entry, holder: Option<i64>) -> DbResult<usize> {
    match entry {
        Entry::RunStart {
            time,
            run,
            team,
            plugin,
            plugin_sha256,
            workflow,
            params,
            pid,
            engine,
            expires,
            user,
            user_name,
        } => sql.execute(
            "INSERT INTO runs
                 (run, team, plugin, plugin_sha256, workflow, engine, params, pid, started,
                  expires, \"user\", user_name, holder)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
             ON CONFLICT DO NOTHING",
            params![
                run,
                team,
                plugin,
                plugin_sha256,
                workflow,
                engine,
                params_json(params),
                pid,
                time,
                expires,
                user.as_deref().map(text::cap).as_deref(),
                user_name.as_deref().map(text::cap).as_deref(),
                holder
            ],
        ),
        Entry::Call {
            time,
            run,
            team,
            plugin,
            op,
            target,
            decision,
            rule,
            result,
            detail,
            duration_ms,
        } => sql.execute(
            "INSERT INTO calls
                 (run, team, plugin, time, op, target, decision, rule, result, detail, duration_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                run,
                team,
                plugin,
                time,
                op,
                &*text::cap(target),
                decision,
                rule,
                result,
                detail.as_deref().map(text::cap).as_deref(),
                i64::try_from(*duration_ms).unwrap_or(i64::MAX)
            ],
        ),
        Entry::RunEnd {
            time,
            run,
            team,
            plugin,
            workflow,
            status,
            error,
            cause,
            containers,
            images,
            rolled_back,
            duration_ms,
        } => sql.execute(
            "INSERT INTO runs
                 (run, team, plugin, workflow, ended, status, error,
                  containers, images, rolled_back, duration_ms, cause)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
             ON CONFLICT (run) DO UPDATE SET
                 ended = excluded.ended, status = excluded.status, error = excluded.error,
                 containers = excluded.containers, images = excluded.images,
                 rolled_back = excluded.rolled_back, duration_ms = excluded.duration_ms,
                 cause = excluded.cause",
            params![
                run,
                team,
                plugin,
                workflow,
                time,
                status,
                error.as_deref().map(text::cap).as_deref(),
                json(containers),
                json(images),
                json(rolled_back),
                i64::try_from(*duration_ms).unwrap_or(i64::MAX),
                // A name of the host's small set, never a plugin's words.
                cause.as_deref().map(text::cap).as_deref()
            ],
        ),
        // Only a run of the team, and only once: a teardown does not rewrite another.
        Entry::TornDown {
            time,
            run,
            team,
            removed,
            by,
        } => sql.execute(
            "UPDATE runs SET torn_down = ?3, torn_down_removed = ?4, torn_down_by = ?5
             WHERE run = ?1 AND team = ?2 AND torn_down IS NULL",
            params![
                run,
                team,
                time,
                json(removed),
                by.as_deref().map(text::cap).as_deref()
            ],
        ),
        // Only while the run has neither expired nor been torn down: an extension that
        // loses the race with the reaper changes nothing, and its caller is told so.
        Entry::Lifetime {
            time,
            run,
            team,
            expires,
            by,
        } => {
            let changed = sql.execute(
                "UPDATE runs SET expires = ?3
                 WHERE run = ?1 AND team = ?2 AND expired IS NULL AND torn_down IS NULL",
                params![run, team, expires],
            )?;
            if changed > 0 {
                sql.execute(
                    "INSERT INTO lifetimes (run, team, time, expires, by)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![run, team, time, expires, &*text::cap(by)],
                )?;
            }
            Ok(changed)
        }
        // The reaper claimed the run (see `journal::expiry::claim`) before removing
        // anything; an import of a run never claimed here sets both.
        Entry::Expired {
            time,
            run,
            team,
            removed,
        } => sql.execute(
            "UPDATE runs SET expired = COALESCE(expired, ?3), expired_removed = ?4
             WHERE run = ?1 AND team = ?2 AND expired_removed IS NULL",
            params![run, team, time, json(removed)],
        ),
    }
}

/// An SQLite error said as what it means for the journal file and what to do.
fn explain(path: &Path, doing: &str, e: &rusqlite::Error) -> anyhow::Error {
    let file = path.display();
    let what = match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => format!(
            "it stayed locked by another process for {} s: find what holds it \
             (`fuser {file}`), or wait for it and run again",
            BUSY_TIMEOUT.as_secs()
        ),
        Some(ErrorCode::DiskFull) => format!(
            "the disk holding it is full: free space there, or point `journal` in \
             dockwright.toml at another disk (`{file}` keeps what it has)"
        ),
        Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => format!(
            "it is not a readable journal database (damaged, or another kind of file): \
             move it aside (`mv {file} {file}.broken`) and run again to start a new one; \
             `dockwright runs import` takes back a `runs export` of the old history"
        ),
        Some(ErrorCode::ReadOnly | ErrorCode::PermissionDenied | ErrorCode::CannotOpen) => {
            "it cannot be opened for writing: check that its folder exists and that you \
             may write it and the file"
                .to_string()
        }
        Some(ErrorCode::SystemIoFailure) => "the disk refused a read or a write: check that \
             it has free space and is writable"
            .to_string(),
        _ => String::new(),
    };
    let cause = e.to_string();
    if what.is_empty() {
        anyhow::anyhow!("cannot {doing} the journal `{file}`: {cause}")
    } else {
        anyhow::anyhow!("cannot {doing} the journal `{file}` ({cause}): {what}")
    }
}

/// A time as RFC 3339 in UTC with milliseconds, such as `2026-11-23T18:01:49.123Z`.
/// Fixed width, so the journal's text order is time order.
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

pub fn now() -> String {
    timestamp(SystemTime::now())
}

/// A time as [`timestamp`] writes it (or without its milliseconds, or with up to nine
/// digits of them) back to a `SystemTime`; `None` for any other text.
pub fn parse_timestamp(text: &str) -> Option<SystemTime> {
    let text = text.strip_suffix('Z')?;
    let (date, time) = text.split_once('T')?;
    let num = |s: &str, len: usize| -> Option<u64> {
        (s.len() == len && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
    };
    let mut d = date.split('-');
    let (y, m, day) = (num(d.next()?, 4)?, num(d.next()?, 2)?, num(d.next()?, 2)?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut t = hms.split(':');
    let (h, min, s) = (num(t.next()?, 2)?, num(t.next()?, 2)?, num(t.next()?, 2)?);
    if d.next().is_some()
        || t.next().is_some()
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&day)
        || h > 23
        || min > 59
        || s > 59
    {
        return None;
    }
    let nanos = if frac.is_empty() {
        0
    } else {
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        frac.parse::<u32>().ok()? * 10u32.pow(9 - frac.len() as u32)
    };
    let days = days_from_civil(y as i64, m as u32, day as u32);
    let secs = u64::try_from(days).ok()? * 86_400 + h * 3600 + min * 60 + s;
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// (year, month, day) to days since 1970-01-01: the inverse of [`civil_from_days`].
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
pub(super) mod tests;
