//! Runs with an expiry, as the journal keeps them: which are still alive, claiming one
//! for reaping, marking one warned. Each change is one conditional `UPDATE`, so that
//! two reapers (a server and a `gc` from cron), or a reaper and an extension, never
//! both win: the first to write decides, the other sees it lost.

use super::db::params;
use anyhow::Result;

use super::store::Journal;

/// A run whose environment has an expiry and has been neither reaped nor torn down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alive {
    pub run: String,
    pub team: String,
    pub engine: String,
    pub workflow: String,
    /// When it expires, as the journal writes times.
    pub expires: String,
    /// The expiry it was warned of, if it was.
    pub warned: Option<String>,
    /// When a reaper claimed it, if one did and did not finish (it is retried).
    pub claimed: Option<String>,
    /// Its end's status; none while it runs (or if its process died).
    pub status: Option<String>,
    /// The process that ran it, as its start says.
    pub pid: Option<u32>,
}

/// Every run with an expiry left to act on, soonest first. Bounded by the environments
/// alive, which quotas cap, and read through the partial index on `expires`.
pub fn alive(journal: &Journal) -> Result<Vec<Alive>> {
    journal.with("read", |sql| {
        let rows = sql.rows(
            "SELECT run, team, engine, workflow, expires, warned, expired, status, pid FROM runs
             WHERE expires IS NOT NULL AND expired_removed IS NULL AND torn_down IS NULL
             ORDER BY expires, seq",
            &[],
        )?;
        rows.iter()
            .map(|row| {
                Ok(Alive {
                    run: row.get(0)?,
                    team: row.get(1)?,
                    engine: row.get(2)?,
                    workflow: row.get(3)?,
                    expires: row.get(4)?,
                    warned: row.get(5)?,
                    claimed: row.get(6)?,
                    status: row.get(7)?,
                    pid: row
                        .get::<Option<i64>>(8)?
                        .and_then(|p| u32::try_from(p).ok()),
                })
            })
            .collect()
    })
}

/// The run's expiry as the journal has it: `(team, expires, expired)`, or none when the
/// journal does not know the run.
pub fn of(journal: &Journal, run: &str) -> Result<Option<Expiry>> {
    journal.with("read", |sql| {
        let Some(row) = sql.row(
            "SELECT team, expires, expired, torn_down, warned, expired_removed
             FROM runs WHERE run = ?1",
            params![run],
        )?
        else {
            return Ok(None);
        };
        Ok(Some(Expiry {
            team: row.get(0)?,
            expires: row.get(1)?,
            expired: row.get(2)?,
            torn_down: row.get(3)?,
            warned: row.get(4)?,
            expired_removed: row
                .get::<Option<String>>(5)?
                .and_then(|t| serde_json::from_str(&t).ok()),
        }))
    })
}

/// A run's lifetime as [`of`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    pub team: String,
    pub expires: Option<String>,
    pub expired: Option<String>,
    pub torn_down: Option<String>,
    /// The expiry its team was warned of.
    pub warned: Option<String>,
    /// What reaping removed, once it finished.
    pub expired_removed: Option<Vec<String>>,
}

/// Claim run `run` for reaping at `now`: only while its expiry (as the journal has it
/// now, after any extension) has come, and no other reaper finished it. A claim that
/// was never finished (its reaper died, or the engine did not answer) is taken again.
/// Returns whether this caller is to reap it.
pub fn claim(journal: &Journal, run: &str, now: &str) -> Result<bool> {
    journal.write("write", |sql| {
        let changed = sql.execute(
            "UPDATE runs SET expired = ?2
             WHERE run = ?1 AND expired IS NULL AND torn_down IS NULL
                 AND expires IS NOT NULL AND expires <= ?2",
            params![run, now],
        )?;
        let retried: bool = changed == 0
            && sql
                .row(
                    "SELECT expired IS NOT NULL AND expired_removed IS NULL FROM runs
                     WHERE run = ?1",
                    params![run],
                )?
                .map(|r| r.get(0))
                .transpose()?
                .unwrap_or(false);
        Ok(changed > 0 || retried)
    })
}

/// Note that run `run` was warned that it expires at `expires`. Returns whether this
/// caller is the one to warn (the expiry is still that one, and nobody warned of it).
pub fn mark_warned(journal: &Journal, run: &str, expires: &str) -> Result<bool> {
    journal.with("write", |sql| {
        Ok(sql.execute(
            "UPDATE runs SET warned = ?2
             WHERE run = ?1 AND expires = ?2 AND (warned IS NULL OR warned != ?2)
                 AND expired_removed IS NULL AND torn_down IS NULL",
            params![run, expires],
        )? > 0)
    })
}

/// Drop the expiry of a run that left nothing to reap (it failed and was rolled back):
/// it was never an environment, and is not reported as expired.
pub fn forget(journal: &Journal, run: &str) -> Result<()> {
    journal.with("write", |sql| {
        sql.execute(
            "UPDATE runs SET expires = NULL, expired = NULL
             WHERE run = ?1 AND expired_removed IS NULL",
            params![run],
        )
        .map(drop)
    })
}

/// How many runs of each team expired (were reaped).
pub fn expired_by_team(journal: &Journal) -> Result<std::collections::HashMap<String, u64>> {
    journal.with("read", |sql| {
        sql.rows(
            "SELECT team, count(*) FROM runs
             WHERE expired IS NOT NULL AND expired_removed IS NOT NULL GROUP BY team",
            &[],
        )?
        .iter()
        .map(|r| Ok((r.get::<String>(0)?, r.get::<u64>(1)?)))
        .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::Entry;

    fn start(run: &str, expires: Option<&str>) -> Entry {
        Entry::RunStart {
            time: "2026-12-05T00:00:00.000Z".into(),
            run: run.into(),
            team: "blue".into(),
            plugin: "p".into(),
            plugin_sha256: "00".into(),
            workflow: "w".into(),
            params: vec![],
            pid: 1,
            engine: "default".into(),
            expires: expires.map(str::to_string),
            user: None,
            user_name: None,
        }
    }

    fn lifetime(run: &str, expires: &str) -> Entry {
        Entry::Lifetime {
            time: "2026-12-05T00:30:00.000Z".into(),
            run: run.into(),
            team: "blue".into(),
            expires: expires.into(),
            by: "alice".into(),
        }
    }

    #[test]
    fn a_claim_goes_to_one_reaper_and_an_extension_after_it_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("j.db")).unwrap();
        j.record(&start("a", Some("2026-12-05T01:00:00.000Z")))
            .unwrap();
        j.record(&start("never", None)).unwrap();
        let found = alive(&j).unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].expires, "2026-12-05T01:00:00.000Z");
        // Not due yet: no claim.
        assert!(!claim(&j, "a", "2026-12-05T00:59:59.999Z").unwrap());
        // An extension moves the expiry the claim goes by.
        assert_eq!(
            j.record_counted(&lifetime("a", "2026-12-05T03:00:00.000Z"))
                .unwrap(),
            1
        );
        assert!(!claim(&j, "a", "2026-12-05T02:00:00.000Z").unwrap());
        assert!(claim(&j, "a", "2026-12-05T03:00:00.000Z").unwrap());
        // A claim not finished is taken again (its reaper may have died).
        assert!(claim(&j, "a", "2026-12-05T03:00:01.000Z").unwrap());
        // An extension after the claim is refused by the journal.
        assert_eq!(
            j.record_counted(&lifetime("a", "2026-12-06T00:00:00.000Z"))
                .unwrap(),
            0
        );
        let finished = Entry::Expired {
            time: "2026-12-05T03:00:02.000Z".into(),
            run: "a".into(),
            team: "blue".into(),
            removed: vec!["c1".into()],
        };
        assert_eq!(j.record_counted(&finished).unwrap(), 1);
        // Finished: no longer alive, no longer claimable, and the first reaping stays.
        assert!(alive(&j).unwrap().is_empty());
        assert!(!claim(&j, "a", "2026-12-05T04:00:00.000Z").unwrap());
        assert_eq!(j.record_counted(&finished).unwrap(), 0);
        let e = of(&j, "a").unwrap().unwrap();
        assert_eq!(e.expired.as_deref(), Some("2026-12-05T03:00:00.000Z"));
        assert_eq!(expired_by_team(&j).unwrap().get("blue"), Some(&1));
    }

    #[test]
    fn a_warning_is_given_once_per_expiry() {
        let dir = tempfile::tempdir().unwrap();
        let j = Journal::open(&dir.path().join("j.db")).unwrap();
        j.record(&start("a", Some("2026-12-05T01:00:00.000Z")))
            .unwrap();
        assert!(mark_warned(&j, "a", "2026-12-05T01:00:00.000Z").unwrap());
        assert!(!mark_warned(&j, "a", "2026-12-05T01:00:00.000Z").unwrap());
        // A stale expiry (the run was extended meanwhile) is not warned of.
        j.record(&lifetime("a", "2026-12-05T05:00:00.000Z"))
            .unwrap();
        assert!(!mark_warned(&j, "a", "2026-12-05T01:00:00.000Z").unwrap());
        assert!(mark_warned(&j, "a", "2026-12-05T05:00:00.000Z").unwrap());
        // Forgotten: a failed run that left nothing is not alive any more.
        forget(&j, "a").unwrap();
        assert!(alive(&j).unwrap().is_empty());
    }
}
