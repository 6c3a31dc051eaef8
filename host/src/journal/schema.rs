//! The journal's tables in each store, and how a store written by an earlier
//! version is brought to this one: at open, under the store's write lock (SQLite's
//! `BEGIN IMMEDIATE`, PostgreSQL's advisory lock), so that processes of two versions
//! opening at once (a rolling upgrade) migrate once; a store written by a later
//! version is refused, never read as if it were this one's.

use postgres::Client;
use rusqlite::config::DbConfig;
use rusqlite::{Connection, ErrorCode};

use super::db::postgres::namespace;
use super::db::{DbError, DbResult};

/// The schema this version writes, kept in `PRAGMA user_version`: the length of
/// [`MIGRATIONS`].
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// What brings a database from each version to the next: version 1 is [`SCHEMA`],
/// later ones only add (a column, a table), so an older dockwright's file upgrades in
/// place and nothing it wrote changes meaning.
pub const MIGRATIONS: &[&str] = &[
    SCHEMA,
    "ALTER TABLE runs ADD COLUMN cause TEXT;",
    // A run torn down (DELETE /v1/runs/{id}): when, and the containers removed.
    "ALTER TABLE runs ADD COLUMN torn_down TEXT;
     ALTER TABLE runs ADD COLUMN torn_down_removed TEXT;
     CREATE INDEX IF NOT EXISTS runs_by_teardown ON runs (torn_down)
         WHERE torn_down IS NOT NULL;",
    // Idempotency keys of `POST /v1/runs` (see `idempotency`).
    "CREATE TABLE IF NOT EXISTS idempotency (
         team TEXT NOT NULL,
         key TEXT NOT NULL,
         fingerprint TEXT NOT NULL,
         run TEXT NOT NULL,
         created TEXT NOT NULL,
         PRIMARY KEY (team, key)
     );
     CREATE INDEX IF NOT EXISTS idempotency_by_age ON idempotency (created);",
    // Lifetimes: when each run expires, when it was warned of (the expiry warned of),
    // when it expired and what reaping removed; every change of an expiry, with who
    // asked.
    "ALTER TABLE runs ADD COLUMN expires TEXT;
     ALTER TABLE runs ADD COLUMN warned TEXT;
     ALTER TABLE runs ADD COLUMN expired TEXT;
     ALTER TABLE runs ADD COLUMN expired_removed TEXT;
     CREATE INDEX IF NOT EXISTS runs_by_expiry ON runs (expires)
         WHERE expires IS NOT NULL AND expired_removed IS NULL AND torn_down IS NULL;
     CREATE INDEX IF NOT EXISTS runs_by_expired ON runs (expired) WHERE expired IS NOT NULL;
     CREATE TABLE IF NOT EXISTS lifetimes (
         seq INTEGER PRIMARY KEY AUTOINCREMENT,
         run TEXT NOT NULL,
         team TEXT NOT NULL,
         time TEXT NOT NULL,
         expires TEXT NOT NULL,
         by TEXT NOT NULL
     );
     CREATE INDEX IF NOT EXISTS lifetimes_by_run ON lifetimes (run, seq);
     CREATE INDEX IF NOT EXISTS lifetimes_by_time ON lifetimes (time);",
    // People: who started each run (id and name), and who tore it down.
    "ALTER TABLE runs ADD COLUMN \"user\" TEXT;
     ALTER TABLE runs ADD COLUMN user_name TEXT;
     ALTER TABLE runs ADD COLUMN torn_down_by TEXT;
     CREATE INDEX IF NOT EXISTS runs_by_user ON runs (\"user\", seq) WHERE \"user\" IS NOT NULL;
     CREATE INDEX IF NOT EXISTS runs_by_user_name ON runs (user_name, seq)
         WHERE user_name IS NOT NULL;",
    // The shared store's holder of each run (see `shared`); the embedded store
    // knows its runs' liveness from their lock files and leaves it empty.
    "ALTER TABLE runs ADD COLUMN holder INTEGER;",
];

pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run TEXT NOT NULL UNIQUE,
    team TEXT NOT NULL,
    plugin TEXT NOT NULL,
    plugin_sha256 TEXT NOT NULL DEFAULT '',
    workflow TEXT NOT NULL,
    engine TEXT NOT NULL DEFAULT 'default',
    params TEXT NOT NULL DEFAULT '[]',
    pid INTEGER,
    started TEXT,
    ended TEXT,
    status TEXT,
    error TEXT,
    containers TEXT,
    images TEXT,
    rolled_back TEXT,
    duration_ms INTEGER,
    import TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_team ON runs (team, seq);
CREATE INDEX IF NOT EXISTS runs_unended ON runs (seq) WHERE ended IS NULL;
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, seq);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started);
CREATE INDEX IF NOT EXISTS runs_by_end ON runs (ended);
CREATE TABLE IF NOT EXISTS calls (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run TEXT NOT NULL,
    team TEXT NOT NULL,
    plugin TEXT NOT NULL,
    time TEXT NOT NULL,
    op TEXT NOT NULL,
    target TEXT NOT NULL,
    decision TEXT NOT NULL,
    rule TEXT,
    result TEXT NOT NULL,
    detail TEXT,
    duration_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_by_run ON calls (run, seq);
CREATE INDEX IF NOT EXISTS calls_by_time ON calls (time);
CREATE TABLE IF NOT EXISTS imports (
    sha256 TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    started TEXT NOT NULL,
    lines INTEGER NOT NULL DEFAULT 0,
    runs INTEGER NOT NULL DEFAULT 0,
    done TEXT
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// An error of ours, carried as SQLite's so that it is explained with the file.
pub fn refused(message: String) -> rusqlite::Error {
    rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
        Some(message),
    )
}

/// Bring a database to [`SCHEMA_VERSION`]; refuse one written by a later version.
/// WAL mode, then the schema: what every connection does first.
pub fn set_up(conn: &mut Connection) -> rusqlite::Result<()> {
    // Returns the mode it is in; a database that cannot take WAL says so below.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(refused(format!(
            "it stays in `{mode}` mode, not WAL (is it on a network file system?)"
        )));
    }
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    // Each CLI command closes the journal as it exits, and a checkpoint on that close
    // costs two fsyncs, a third of a no-op run's time. Writers still checkpoint as they
    // go (SQLite's autocheckpoint at 1,000 pages), so the WAL stays bounded, and a
    // reader sees the WAL's entries as it sees the file's.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    migrate(conn)
}

pub fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
}

pub fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let version = |conn: &Connection| -> rusqlite::Result<i64> {
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(refused(format!(
                "its schema is version {version}, written by a later dockwright than this \
                 one (which knows {SCHEMA_VERSION}): upgrade dockwright"
            )));
        }
        Ok(version)
    };
    if version(conn)? == SCHEMA_VERSION {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Asked again under the write lock: another process may have migrated meanwhile.
    let from = version(&tx)?;
    if from < SCHEMA_VERSION {
        for step in &MIGRATIONS[usize::try_from(from).unwrap_or(0)..] {
            tx.execute_batch(step)?;
        }
        tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    }
    tx.commit()
}

/// The PostgreSQL schema's versions, as [`MIGRATIONS`] are SQLite's: version 1 is the
/// journal as SQLite's version 7 has it, with the shared store's own tables
/// (reservations). Texts are `COLLATE "C"`: the journal's text order (times, run ids)
/// is byte order, as in SQLite, whatever the database's locale.
pub const PG_MIGRATIONS: &[&str] = &[PG_SCHEMA];

/// The PostgreSQL schema this version writes.
pub const PG_SCHEMA_VERSION: i64 = PG_MIGRATIONS.len() as i64;

const PG_SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS runs (
    seq BIGSERIAL PRIMARY KEY,
    run TEXT COLLATE "C" NOT NULL UNIQUE,
    team TEXT COLLATE "C" NOT NULL,
    plugin TEXT COLLATE "C" NOT NULL,
    plugin_sha256 TEXT COLLATE "C" NOT NULL DEFAULT '',
    workflow TEXT COLLATE "C" NOT NULL,
    engine TEXT COLLATE "C" NOT NULL DEFAULT 'default',
    params TEXT NOT NULL DEFAULT '[]',
    pid BIGINT,
    started TEXT COLLATE "C",
    ended TEXT COLLATE "C",
    status TEXT COLLATE "C",
    error TEXT,
    containers TEXT,
    images TEXT,
    rolled_back TEXT,
    duration_ms BIGINT,
    import TEXT COLLATE "C",
    cause TEXT COLLATE "C",
    torn_down TEXT COLLATE "C",
    torn_down_removed TEXT,
    expires TEXT COLLATE "C",
    warned TEXT COLLATE "C",
    expired TEXT COLLATE "C",
    expired_removed TEXT,
    "user" TEXT COLLATE "C",
    user_name TEXT COLLATE "C",
    torn_down_by TEXT,
    holder BIGINT
);
CREATE INDEX IF NOT EXISTS runs_by_team ON runs (team, seq);
CREATE INDEX IF NOT EXISTS runs_unended ON runs (seq) WHERE ended IS NULL;
CREATE INDEX IF NOT EXISTS runs_by_status ON runs (status, seq);
CREATE INDEX IF NOT EXISTS runs_by_start ON runs (started);
CREATE INDEX IF NOT EXISTS runs_by_end ON runs (ended);
CREATE INDEX IF NOT EXISTS runs_by_teardown ON runs (torn_down) WHERE torn_down IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_by_expiry ON runs (expires)
    WHERE expires IS NOT NULL AND expired_removed IS NULL AND torn_down IS NULL;
CREATE INDEX IF NOT EXISTS runs_by_expired ON runs (expired) WHERE expired IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_by_user ON runs ("user", seq) WHERE "user" IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_by_user_name ON runs (user_name, seq)
    WHERE user_name IS NOT NULL;
CREATE TABLE IF NOT EXISTS calls (
    seq BIGSERIAL PRIMARY KEY,
    run TEXT COLLATE "C" NOT NULL,
    team TEXT COLLATE "C" NOT NULL,
    plugin TEXT COLLATE "C" NOT NULL,
    time TEXT COLLATE "C" NOT NULL,
    op TEXT COLLATE "C" NOT NULL,
    target TEXT NOT NULL,
    decision TEXT COLLATE "C" NOT NULL,
    rule TEXT,
    result TEXT COLLATE "C" NOT NULL,
    detail TEXT,
    duration_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_by_run ON calls (run, seq);
CREATE INDEX IF NOT EXISTS calls_by_time ON calls (time);
CREATE TABLE IF NOT EXISTS imports (
    sha256 TEXT COLLATE "C" PRIMARY KEY,
    path TEXT NOT NULL,
    started TEXT NOT NULL,
    lines BIGINT NOT NULL DEFAULT 0,
    runs BIGINT NOT NULL DEFAULT 0,
    done TEXT
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT COLLATE "C" PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    team TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    fingerprint TEXT NOT NULL,
    run TEXT COLLATE "C" NOT NULL,
    created TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (team, key)
);
CREATE INDEX IF NOT EXISTS idempotency_by_age ON idempotency (created);
CREATE TABLE IF NOT EXISTS lifetimes (
    seq BIGSERIAL PRIMARY KEY,
    run TEXT COLLATE "C" NOT NULL,
    team TEXT COLLATE "C" NOT NULL,
    time TEXT COLLATE "C" NOT NULL,
    expires TEXT COLLATE "C" NOT NULL,
    by TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS lifetimes_by_run ON lifetimes (run, seq);
CREATE INDEX IF NOT EXISTS lifetimes_by_time ON lifetimes (time);
CREATE TABLE IF NOT EXISTS reservations (
    token TEXT COLLATE "C" PRIMARY KEY,
    engine TEXT COLLATE "C" NOT NULL,
    team TEXT COLLATE "C" NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    body TEXT NOT NULL,
    holder BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS reservations_by_team ON reservations (engine, team);
"#;

/// Bring a PostgreSQL database to [`PG_SCHEMA_VERSION`] under the schema's advisory
/// lock; refuse one written by a later version.
pub fn migrate_postgres(client: &mut Client) -> DbResult<()> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1, 0)", &[&namespace::SCHEMA])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS dockwright_schema (version BIGINT NOT NULL)")?;
    let from: i64 = tx
        .query_opt("SELECT version FROM dockwright_schema", &[])?
        .map_or(0, |r| r.get(0));
    if from > PG_SCHEMA_VERSION {
        return Err(DbError::Refused(format!(
            "its schema is version {from}, written by a later dockwright than this one \
             (which knows {PG_SCHEMA_VERSION}): upgrade dockwright"
        )));
    }
    if from < PG_SCHEMA_VERSION {
        for step in &PG_MIGRATIONS[usize::try_from(from).unwrap_or(0)..] {
            tx.batch_execute(step)?;
        }
        tx.execute("DELETE FROM dockwright_schema", &[])?;
        tx.execute(
            "INSERT INTO dockwright_schema (version) VALUES ($1)",
            &[&PG_SCHEMA_VERSION],
        )?;
    }
    tx.commit()?;
    Ok(())
}
