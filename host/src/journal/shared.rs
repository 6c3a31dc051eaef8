//! The state in PostgreSQL (`[state] url`): what several dockwright processes on
//! several machines share so that a team's quota is one quota, its history one
//! history, and a dead replica's runs are known dead by the others.
//!
//! Each process holds two connections: one for the journal's queries, and its
//! *presence*, on which it holds every lock it has: a session-level advisory lock on
//! a random 64-bit key of its own (its *holder* key, written beside its runs and its
//! reservations), and the team locks of admission while it counts. Session-level
//! advisory locks are released by the server when the session ends, however it ends,
//! which is the property flock gives the embedded store: a reservation or a run whose
//! holder's lock is not held belongs to a process that is gone. Leases with expiry
//! times were the other way; they would need the clocks of the machines to agree and
//! a renewal loop, and would free a dead holder's places only when the lease ran out.
//!
//! A vanished host (power cut, a cable) does not close its sockets: TCP keepalives,
//! set on both sides of every connection ([`KEEPALIVE_IDLE`], [`KEEPALIVE_INTERVAL`],
//! [`KEEPALIVE_COUNT`]), make the server end its sessions within
//! `idle + interval * count` (11 s), not the kernel's two hours.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{Context, Result};
use postgres::{Client, NoTls};

use super::config::{StateSettings, PASSWORD_ENV};
use super::db::postgres::{Postgres, Statements};
use super::db::{params, DbError, DbResult, Sql};

pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(5);
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(2);
pub const KEEPALIVE_COUNT: u32 = 3;
/// How long a connection attempt waits for the server.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub use super::db::postgres::namespace;

/// One connection with its prepared statements.
struct Conn {
    client: Client,
    statements: Statements,
}

/// The process's presence: the connection holding its holder key and its locks.
struct Presence {
    client: Client,
    holder: i64,
}

/// The PostgreSQL store of one process.
pub struct Shared {
    settings: StateSettings,
    /// The URL with no password, for messages.
    shown: String,
    journal: Mutex<Option<Conn>>,
    presence: Mutex<Option<Presence>>,
    /// The presence was lost since it was made (a run admitted under the old holder
    /// must not go on: the other replicas already count its places as free).
    lost: AtomicBool,
    /// The holder key under which this process leads (0: it does not).
    leading: AtomicI64,
}

impl Shared {
    /// Connect, bring the schema to this version (refusing a newer one), and take
    /// this process's holder key.
    pub fn connect(settings: &StateSettings) -> Result<Shared> {
        let shown = settings.url.clone();
        let mut conn = Conn {
            client: connect(settings)?,
            statements: Statements::default(),
        };
        super::schema::migrate_postgres(&mut conn.client)
            .map_err(|e| explain(&shown, "set up", &e))?;
        let shared = Shared {
            settings: settings.clone(),
            shown,
            journal: Mutex::new(Some(conn)),
            presence: Mutex::new(None),
            lost: AtomicBool::new(false),
            leading: AtomicI64::new(0),
        };
        shared.present()?;
        Ok(shared)
    }

    /// What the messages call the database.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// Run `f` on the journal's connection, connecting again if it was lost.
    pub fn with<T>(&self, doing: &str, f: impl FnOnce(&mut dyn Sql) -> DbResult<T>) -> Result<T> {
        let mut guard = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        let conn = self.conn(&mut guard, doing)?;
        let mut sql = Postgres {
            client: &mut conn.client,
            statements: &mut conn.statements,
        };
        f(&mut sql).map_err(|e| explain(&self.shown, doing, &e))
    }

    /// Run `f` in one transaction on the journal's connection: all of it or none.
    pub fn write<T>(&self, doing: &str, f: impl FnOnce(&mut dyn Sql) -> DbResult<T>) -> Result<T> {
        let mut guard = self.journal.lock().unwrap_or_else(|e| e.into_inner());
        let conn = self.conn(&mut guard, doing)?;
        let run = || -> DbResult<T> {
            let mut tx = conn.client.transaction()?;
            let mut sql = Postgres {
                client: &mut tx,
                statements: &mut conn.statements,
            };
            let value = f(&mut sql)?;
            tx.commit()?;
            Ok(value)
        };
        run().map_err(|e| explain(&self.shown, doing, &e))
    }

    fn conn<'g>(&self, guard: &'g mut Option<Conn>, doing: &str) -> Result<&'g mut Conn> {
        if guard.as_ref().is_none_or(|c| c.client.is_closed()) {
            *guard = None;
            let client =
                connect(&self.settings).with_context(|| format!("cannot {doing} the journal"))?;
            *guard = Some(Conn {
                client,
                statements: Statements::default(),
            });
        }
        Ok(guard.as_mut().expect("connected above"))
    }

    /// Make (or make again) this process's presence. A new presence has a new holder
    /// key: what was held under the old one is gone.
    fn present(&self) -> Result<i64> {
        let mut guard = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = guard.as_ref().filter(|p| !p.client.is_closed()) {
            return Ok(p.holder);
        }
        if guard.take().is_some() {
            self.lost.store(true, Ordering::SeqCst);
        }
        let mut client = connect(&self.settings)?;
        let holder = loop {
            let key = random_key();
            let taken: bool = client
                .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
                .map_err(|e| explain(&self.shown, "hold a lock in", &DbError::from(e)))?
                .get(0);
            if taken {
                break key;
            }
        };
        *guard = Some(Presence { client, holder });
        Ok(holder)
    }

    /// This process's holder key, if its presence is up (made again if it was lost).
    pub fn holder(&self) -> Result<i64> {
        self.present()
    }

    /// Whether the presence was lost (and made again) since this process connected.
    pub fn was_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }

    /// Run `f` on the presence connection (made again if lost).
    fn on_presence<T>(
        &self,
        doing: &str,
        f: impl FnOnce(&mut Client, i64) -> std::result::Result<T, postgres::Error>,
    ) -> Result<T> {
        self.present()?;
        let mut guard = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        let p = guard
            .as_mut()
            .context("the state database's session is gone")?;
        let holder = p.holder;
        f(&mut p.client, holder).map_err(|e| explain(&self.shown, doing, &DbError::from(e)))
    }

    /// Try to take the lock `(space, key)` for this process; false when another holds it.
    pub fn try_lock(&self, space: i32, key: i32) -> Result<bool> {
        self.on_presence("lock", |c, _| {
            Ok(
                c.query_one("SELECT pg_try_advisory_lock($1, $2)", &[&space, &key])?
                    .get(0),
            )
        })
    }

    /// Let the lock `(space, key)` go.
    pub fn unlock(&self, space: i32, key: i32) -> Result<()> {
        self.on_presence("unlock", |c, _| {
            c.execute("SELECT pg_advisory_unlock($1, $2)", &[&space, &key])
                .map(|_| ())
        })
    }

    /// Whether the process whose holder key is `holder` is alive: its session still
    /// holds the key's lock.
    pub fn holder_alive(&self, holder: i64) -> Result<bool> {
        let (high, low) = split(holder);
        self.on_presence("read", |c, _| {
            Ok(c.query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
                     AND granted AND objsubid = 1 AND classid::bigint = $1
                     AND objid::bigint = $2
                     AND database = (SELECT oid FROM pg_database
                                     WHERE datname = current_database()))",
                &[&high, &low],
            )?
            .get(0))
        })
    }

    /// Whether this process is the one that does the background work (retention,
    /// reaping, collecting dead runs): the holder of the leader lock. The lock is kept
    /// for the session's life, so a leader stays one until its session ends (it
    /// stopped, died, or lost the database), and the next replica to ask takes over.
    pub fn lead(&self) -> Result<bool> {
        let holder = self.present()?;
        if self.leading.load(Ordering::SeqCst) == holder {
            return Ok(true);
        }
        let taken = self.try_lock(namespace::LEADER, 0)?;
        if taken {
            self.leading.store(holder, Ordering::SeqCst);
        }
        Ok(taken)
    }

    /// Whether this process leads now, as last taken by [`Shared::lead`] (which this
    /// does not call: asking is not taking).
    pub fn is_leader(&self) -> bool {
        let leading = self.leading.load(Ordering::SeqCst);
        let guard = self.presence.lock().unwrap_or_else(|e| e.into_inner());
        leading != 0
            && guard
                .as_ref()
                .is_some_and(|p| p.holder == leading && !p.client.is_closed())
    }

    /// Whether the database answers now (both connections).
    ///
    /// A connection the server closed is known closed only once it is used, so a
    /// failure is asked again once on new connections: a database that came back
    /// answers the first request after it.
    pub fn healthy(&self) -> bool {
        let ask = || {
            let presence = self.on_presence("reach", |c, _| c.is_valid(Duration::from_secs(2)));
            presence.is_ok() && self.with("reach", |sql| sql.row("SELECT 1", &[])).is_ok()
        };
        ask() || {
            self.forget_connections();
            ask()
        }
    }

    /// Drop both connections: the next use makes new ones (and a new holder key).
    fn forget_connections(&self) {
        let journal = self
            .journal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let presence = self
            .presence
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if presence.is_some() {
            self.lost.store(true, Ordering::SeqCst);
        }
        drop((journal, presence));
    }
}

/// The clients say goodbye to the server as they drop, on a runtime of their own, which
/// may not be started on an async worker: they are dropped off it.
impl Drop for Shared {
    fn drop(&mut self) {
        let journal = self.journal.get_mut().map(Option::take).ok().flatten();
        let presence = self.presence.get_mut().map(Option::take).ok().flatten();
        super::db::blocking(move || drop((journal, presence)));
    }
}

/// One reservation of admission, as [`Shared::reservations`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reserved {
    pub token: String,
    /// `create`, `start` or `replicas`.
    pub kind: String,
    /// What it holds a place for: a person's id, a container's id, a number.
    pub body: String,
}

/// Whether the holder of a row (`holder` column) still holds its key: the same test as
/// [`Shared::holder_alive`], in SQL, so one statement drops every dead holder's rows.
const HOLDER_ALIVE: &str = "EXISTS (SELECT 1 FROM pg_locks l WHERE l.locktype = 'advisory'
    AND l.granted AND l.objsubid = 1
    AND l.classid::bigint = ((holder >> 32) & 4294967295)
    AND l.objid::bigint = (holder & 4294967295)
    AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))";

impl Shared {
    /// The live reservations of `team` on `engine`; those of holders that are gone are
    /// deleted first. Call under the team's lock.
    pub fn reservations(&self, engine: &str, team: &str) -> Result<Vec<Reserved>> {
        self.with("count in", |sql| {
            sql.execute(
                &format!(
                    "DELETE FROM reservations WHERE engine = ?1 AND team = ?2
                         AND NOT {HOLDER_ALIVE}"
                ),
                params![engine, team],
            )?;
            sql.rows(
                "SELECT token, kind, body FROM reservations WHERE engine = ?1 AND team = ?2",
                params![engine, team],
            )?
            .iter()
            .map(|r| {
                Ok(Reserved {
                    token: r.get(0)?,
                    kind: r.get(1)?,
                    body: r.get(2)?,
                })
            })
            .collect()
        })
    }

    /// Hold a place under this process's holder key until [`Shared::release`] (or
    /// until this process's session ends).
    pub fn reserve(&self, engine: &str, team: &str, place: &Reserved) -> Result<()> {
        let holder = self.holder()?;
        self.with("reserve in", |sql| {
            sql.execute(
                "INSERT INTO reservations (token, engine, team, kind, body, holder)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![&place.token, engine, team, &place.kind, &place.body, holder],
            )
            .map(drop)
        })
    }

    /// Let a place go.
    pub fn release(&self, token: &str) -> Result<()> {
        self.with("release in", |sql| {
            sql.execute("DELETE FROM reservations WHERE token = ?1", params![token])
                .map(drop)
        })
    }

    /// The holder key run `run`'s start names, if the journal has it.
    pub fn holder_of(&self, run: &str) -> Result<Option<i64>> {
        self.with("read", |sql| {
            Ok(sql
                .row("SELECT holder FROM runs WHERE run = ?1", params![run])?
                .map(|r| r.get::<Option<i64>>(0))
                .transpose()?
                .flatten())
        })
    }
}

/// The keepalives the server applies to a session, as it reports them (0: the
/// kernel's default, which a Unix-socket session has).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keepalives {
    pub idle: String,
    pub interval: String,
    pub count: String,
}

impl Shared {
    /// The keepalives in force on the presence session, as the server reports them.
    pub fn keepalives(&self) -> Result<Keepalives> {
        self.on_presence("read", |c, _| {
            let row = c.query_one(
                "SELECT current_setting('tcp_keepalives_idle'),
                        current_setting('tcp_keepalives_interval'),
                        current_setting('tcp_keepalives_count')",
                &[],
            )?;
            Ok(Keepalives {
                idle: row.get(0),
                interval: row.get(1),
                count: row.get(2),
            })
        })
    }
}

/// A key's two halves as `pg_locks` shows them (`classid`, `objid`: unsigned).
fn split(key: i64) -> (i64, i64) {
    let bits = key as u64;
    ((bits >> 32) as i64, (bits & 0xffff_ffff) as i64)
}

fn random_key() -> i64 {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos() as u64;
        bytes = (nanos ^ u64::from(std::process::id()) << 40).to_le_bytes();
    }
    i64::from_le_bytes(bytes)
}

/// A connection as `settings` say: its password from the file or the environment,
/// TLS when a CA is named, keepalives both ways.
pub fn connect(settings: &StateSettings) -> Result<Client> {
    let mut config: postgres::Config = settings
        .url
        .parse()
        .with_context(|| format!("`[state] url` is not a PostgreSQL URL: {}", settings.url))?;
    if let Some(file) = &settings.password_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read `[state] password_file` `{}`", file.display()))?;
        config.password(text.trim_end_matches(['\r', '\n']));
    } else if let Ok(password) = std::env::var(PASSWORD_ENV) {
        config.password(password);
    }
    config
        .application_name("dockwright")
        .connect_timeout(CONNECT_TIMEOUT)
        .keepalives(true)
        .keepalives_idle(KEEPALIVE_IDLE)
        .keepalives_interval(KEEPALIVE_INTERVAL)
        .keepalives_retries(KEEPALIVE_COUNT);
    let shown = settings.url.as_str();
    let mut client = match &settings.ca {
        Some(ca) => {
            config.ssl_mode(postgres::config::SslMode::Require);
            config.connect(tls(ca)?)
        }
        None => {
            if config.get_ssl_mode() == postgres::config::SslMode::Require {
                anyhow::bail!(
                    "`[state] url` asks for TLS (sslmode=require): name the CA that signs the \
                     server's certificate with `[state] ca`"
                );
            }
            config.connect(NoTls)
        }
    }
    .map_err(|e| explain(shown, "connect to", &DbError::from(e)))?;
    // The server's side of the keepalives: it is the server that must notice a client
    // host gone, to end its sessions and free its locks.
    client
        .batch_execute(&format!(
            "SET tcp_keepalives_idle = {}; SET tcp_keepalives_interval = {};
             SET tcp_keepalives_count = {};",
            KEEPALIVE_IDLE.as_secs(),
            KEEPALIVE_INTERVAL.as_secs(),
            KEEPALIVE_COUNT
        ))
        .map_err(|e| explain(shown, "set up a session on", &DbError::from(e)))?;
    Ok(client)
}

fn tls(ca: &std::path::Path) -> Result<tokio_postgres_rustls::MakeRustlsConnect> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca)
        .with_context(|| format!("cannot read `[state] ca` `{}`", ca.display()))?;
    for cert in certs {
        let cert = cert.with_context(|| format!("`[state] ca` `{}` is not PEM", ca.display()))?;
        roots
            .add(cert)
            .with_context(|| format!("`[state] ca` `{}` holds a bad certificate", ca.display()))?;
    }
    if roots.is_empty() {
        anyhow::bail!("`[state] ca` `{}` holds no certificate", ca.display());
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS set-up")?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

/// A database error said as what it means and what to do.
pub fn explain(shown: &str, doing: &str, e: &DbError) -> anyhow::Error {
    let hint = match e {
        DbError::Postgres(pg) if pg.as_db_error().is_none() => {
            "; check that the server runs and this host can reach it (`[state] url`)"
        }
        _ => "",
    };
    anyhow::anyhow!("cannot {doing} the state database `{shown}`: {e}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_splits_as_pg_locks_shows_it() {
        assert_eq!(split(1), (0, 1));
        assert_eq!(split(-1), (0xffff_ffff, 0xffff_ffff));
        assert_eq!(split(0x1234_5678_9abc_def0), (0x1234_5678, 0x9abc_def0));
    }
}
