//! Idempotency keys of `POST /v1/runs`: a client that retries a request after a
//! timeout names it with the same `Idempotency-Key`, and gets the first run back
//! instead of a second environment.
//!
//! Keys live in the journal's database, not in a server's memory, so that a restarted
//! server (or another process on the same journal) answers a retry alike. A key is
//! claimed in one write transaction: of ten requests at once with one key, exactly one
//! claims it, and the others read the run it claimed.

use std::time::{Duration, SystemTime};

use super::db::{params, DbError};
use anyhow::Result;

use super::store::{timestamp, Journal};

/// How long a key names its first request: a retry within this answers the first run;
/// after it, the key is free again.
pub const WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

/// The longest key taken, in bytes.
pub const MAX_KEY: usize = 255;

/// What a claim found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key was free: the run it now names is the caller's to start.
    Claimed,
    /// The key names an earlier request of the team: its run, and whether that request
    /// asked for the same as this one.
    Taken { run: String, same_request: bool },
}

/// Check a key as a client sent it: visible ASCII, up to [`MAX_KEY`] bytes.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() {
        return Err(
            "the Idempotency-Key header is empty: send a unique string per request \
                    (a UUID, say), or no header"
                .into(),
        );
    }
    if key.len() > MAX_KEY {
        return Err(format!(
            "the Idempotency-Key header is {} bytes long; the most is {MAX_KEY}",
            key.len()
        ));
    }
    if !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(
            "the Idempotency-Key header holds a character that is not visible ASCII \
                    (a space, a control character or non-ASCII): use letters, digits and \
                    punctuation, such as a UUID"
                .into(),
        );
    }
    Ok(())
}

/// Claim `key` of `team` for run `run` of the request with `fingerprint`, unless a
/// request within [`WINDOW`] of `now` has it. Keys older than the window are dropped
/// in the same transaction, so the table holds at most a window's worth.
pub fn claim(
    journal: &Journal,
    team: &str,
    key: &str,
    fingerprint: &str,
    run: &str,
    now: SystemTime,
) -> Result<Claim> {
    let cutoff = timestamp(now.checked_sub(WINDOW).unwrap_or(SystemTime::UNIX_EPOCH));
    let created = timestamp(now);
    journal.write("write", |sql| {
        sql.execute(
            "DELETE FROM idempotency WHERE created < ?1",
            params![cutoff],
        )?;
        let inserted = sql.execute(
            "INSERT INTO idempotency (team, key, fingerprint, run, created)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            params![team, key, fingerprint, run, created],
        )?;
        if inserted == 1 {
            return Ok(Claim::Claimed);
        }
        let row = sql
            .row(
                "SELECT run, fingerprint FROM idempotency WHERE team = ?1 AND key = ?2",
                params![team, key],
            )?
            .ok_or_else(|| DbError::Refused("the key went while it was read".into()))?;
        Ok(Claim::Taken {
            run: row.get(0)?,
            same_request: row.get::<String>(1)? == fingerprint,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The run `key` of `team` names, if any.
    fn run_of(journal: &Journal, team: &str, key: &str) -> Result<Option<String>> {
        journal.with("read", |sql| {
            sql.row(
                "SELECT run FROM idempotency WHERE team = ?1 AND key = ?2",
                params![team, key],
            )?
            .map(|r| r.get(0))
            .transpose()
        })
    }

    fn journal(dir: &std::path::Path) -> Journal {
        Journal::open(&dir.join("journal.db")).unwrap()
    }

    #[test]
    fn a_key_names_its_first_request_for_its_team_within_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let j = journal(dir.path());
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(
            claim(&j, "blue", "k1", "f1", "r1", t0).unwrap(),
            Claim::Claimed
        );
        // The same request again, and another with the same key.
        assert_eq!(
            claim(&j, "blue", "k1", "f1", "r2", t0).unwrap(),
            Claim::Taken {
                run: "r1".into(),
                same_request: true
            }
        );
        assert_eq!(
            claim(&j, "blue", "k1", "f2", "r3", t0).unwrap(),
            Claim::Taken {
                run: "r1".into(),
                same_request: false
            }
        );
        // Another team's key is its own.
        assert_eq!(
            claim(&j, "red", "k1", "f1", "r4", t0).unwrap(),
            Claim::Claimed
        );
        // Past the window the key is free again.
        let later = t0 + WINDOW + Duration::from_secs(1);
        assert_eq!(
            claim(&j, "blue", "k1", "f1", "r5", later).unwrap(),
            Claim::Claimed
        );
        assert_eq!(run_of(&j, "blue", "k1").unwrap().as_deref(), Some("r5"));
    }

    #[test]
    fn keys_are_checked() {
        assert!(check_key("6f1c2a34-0b7e-4c1f-9a9e-1d2b3c4d5e6f").is_ok());
        assert!(check_key("").unwrap_err().contains("empty"));
        assert!(check_key("a b").unwrap_err().contains("visible ASCII"));
        assert!(check_key("two words").is_err());
        assert!(check_key("é").unwrap_err().contains("visible ASCII"));
        assert!(check_key(&"k".repeat(MAX_KEY)).is_ok());
        assert!(check_key(&"k".repeat(MAX_KEY + 1))
            .unwrap_err()
            .contains("the most is 255"));
    }

    #[test]
    fn of_many_claims_at_once_one_wins() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.db");
        Journal::open(&path).unwrap();
        let now = SystemTime::now();
        let claims: Vec<Claim> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..10)
                .map(|i| {
                    let path = path.clone();
                    s.spawn(move || {
                        // Each its own connection, as separate processes would have.
                        let j = Journal::open(&path).unwrap();
                        claim(&j, "blue", "k", "f", &format!("r{i}"), now).unwrap()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won = claims.iter().filter(|c| **c == Claim::Claimed).count();
        assert_eq!(won, 1, "{claims:?}");
        let run = run_of(&journal(dir.path()), "blue", "k").unwrap().unwrap();
        for c in claims.iter().filter(|c| **c != Claim::Claimed) {
            assert_eq!(
                *c,
                Claim::Taken {
                    run: run.clone(),
                    same_request: true
                }
            );
        }
    }
}
