//! Pruning the journal to its `journal_retention`: runs that ended before the age
//! (or beyond the count) go with their calls; a run that has not ended stays, however
//! old, since it may still be running or have something left to collect.

use std::time::{Duration, SystemTime};

use super::db::{params, DbResult, Sql};
use anyhow::Result;

use super::config::Retention;
use super::store::{timestamp, Journal};

/// Runs removed per transaction: other writers wait for one batch at most.
const BATCH: i64 = 1000;

/// How often a process that writes the journal prunes it (see [`prune_if_due`]).
pub const EVERY: Duration = Duration::from_secs(3600);

/// What a prune removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub runs: u64,
    pub calls: u64,
}

/// Remove what `retention` no longer keeps, as of `now`.
pub fn prune(journal: &Journal, retention: Retention, now: SystemTime) -> Result<Pruned> {
    let mut pruned = Pruned::default();
    // Calls older than this whose run is not in the journal (gc's, of runs made
    // elsewhere) go too.
    let orphans_before = match retention {
        Retention::Age(age) => Some(timestamp(
            now.checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH),
        )),
        Retention::Runs(_) => None,
    };
    loop {
        let batch = journal.write("prune", |sql| {
            let runs = match (retention, &orphans_before) {
                (Retention::Age(_), Some(cutoff)) => expired_by_age(sql, cutoff)?,
                _ => expired_by_count(sql, retention)?,
            };
            let mut calls = 0;
            for run in &runs {
                calls += sql.execute("DELETE FROM calls WHERE run = ?1", params![run])?;
                sql.execute("DELETE FROM lifetimes WHERE run = ?1", params![run])?;
                sql.execute("DELETE FROM runs WHERE run = ?1", params![run])?;
            }
            Ok((runs.len() as u64, calls as u64))
        })?;
        pruned.runs += batch.0;
        pruned.calls += batch.1;
        if batch.0 < BATCH as u64 {
            break;
        }
    }
    let cutoff = match orphans_before {
        Some(cutoff) => Some(cutoff),
        // By count: orphan calls older than the oldest run kept.
        None => journal.with("prune", |sql| {
            sql.row("SELECT min(started) FROM runs", &[])?
                .map_or(Ok(None), |r| r.get::<Option<String>>(0))
        })?,
    };
    if let Some(cutoff) = cutoff {
        loop {
            let n = journal.with("prune", |sql| {
                sql.execute(
                    "DELETE FROM calls WHERE seq IN (
                         SELECT seq FROM calls WHERE time < ?1
                             AND NOT EXISTS (SELECT 1 FROM runs WHERE runs.run = calls.run)
                         LIMIT ?2)",
                    params![cutoff, BATCH],
                )
            })?;
            pruned.calls += n as u64;
            if (n as i64) < BATCH {
                break;
            }
        }
    }
    Ok(pruned)
}

fn expired_by_age(sql: &mut dyn Sql, cutoff: &str) -> DbResult<Vec<String>> {
    sql.rows(
        "SELECT run FROM runs WHERE ended IS NOT NULL AND ended < ?1 ORDER BY ended LIMIT ?2",
        params![cutoff, BATCH],
    )?
    .iter()
    .map(|r| r.get(0))
    .collect()
}

fn expired_by_count(sql: &mut dyn Sql, retention: Retention) -> DbResult<Vec<String>> {
    let Retention::Runs(keep) = retention else {
        return Ok(Vec::new());
    };
    // The oldest run kept: everything before it that ended goes.
    let oldest_kept: Option<i64> = sql
        .row(
            "SELECT seq FROM runs ORDER BY seq DESC LIMIT 1 OFFSET ?1",
            params![i64::try_from(keep - 1).unwrap_or(i64::MAX)],
        )?
        .map(|r| r.get(0))
        .transpose()?;
    let Some(oldest_kept) = oldest_kept else {
        return Ok(Vec::new());
    };
    sql.rows(
        "SELECT run FROM runs WHERE seq < ?1 AND ended IS NOT NULL ORDER BY seq LIMIT ?2",
        params![oldest_kept, BATCH],
    )?
    .iter()
    .map(|r| r.get(0))
    .collect()
}

/// Prune if no process has in the last [`EVERY`]; `None` when it was not due.
pub fn prune_if_due(
    journal: &Journal,
    retention: Retention,
    now: SystemTime,
) -> Result<Option<Pruned>> {
    let stamp = timestamp(now);
    let due_before = timestamp(now.checked_sub(EVERY).unwrap_or(SystemTime::UNIX_EPOCH));
    // Claiming the turn is one statement, so of processes due at once one prunes.
    let claimed = journal.with("prune", |sql| {
        sql.execute(
            "INSERT INTO meta (key, value) VALUES ('last_prune', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value
                 WHERE meta.value < ?2",
            params![stamp, due_before],
        )
    })?;
    if claimed == 0 {
        return Ok(None);
    }
    prune(journal, retention, now).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::history;
    use crate::journal::store::tests::{call, end, start};
    use std::time::UNIX_EPOCH;

    const DAY: u64 = 86_400;

    fn day(n: u64) -> String {
        timestamp(UNIX_EPOCH + Duration::from_secs(n * DAY))
    }

    /// Runs `r0`..`r9` started and ended on days 0..9, `open` started on day 0 and
    /// never ended, and a call of a run the journal never saw, on day 1.
    fn history(dir: &std::path::Path) -> Journal {
        let journal = Journal::open(&dir.join("journal.db")).unwrap();
        journal.record(&start("open", "blue", &day(0))).unwrap();
        for i in 0..10 {
            let run = format!("r{i}");
            journal.record(&start(&run, "blue", &day(i))).unwrap();
            journal
                .record(&call(&run, "create-container", "ok", "c", &day(i)))
                .unwrap();
            journal.record(&end(&run, "ok", &day(i))).unwrap();
        }
        journal
            .record(&call("elsewhere", "remove-container", "ok", "c", &day(1)))
            .unwrap();
        journal
    }

    fn runs(journal: &Journal, dir: &std::path::Path) -> Vec<String> {
        let mut ids: Vec<String> = history::latest(journal, history::Filter::default(), 100, dir)
            .unwrap()
            .into_iter()
            .map(|r| r.run)
            .collect();
        ids.sort();
        ids
    }

    #[test]
    fn by_age_ended_runs_go_and_unended_ones_stay() {
        let dir = tempfile::tempdir().unwrap();
        let journal = history(dir.path());
        let now = UNIX_EPOCH + Duration::from_secs(10 * DAY);
        let pruned = prune(&journal, Retention::Age(Duration::from_secs(3 * DAY)), now).unwrap();
        // r0..r6 ended before day 7; the orphan call of day 1 goes with them.
        assert_eq!(pruned, Pruned { runs: 7, calls: 8 });
        assert_eq!(runs(&journal, dir.path()), ["open", "r7", "r8", "r9"]);
        let again = prune(&journal, Retention::Age(Duration::from_secs(3 * DAY)), now).unwrap();
        assert_eq!(again, Pruned::default());
    }

    #[test]
    fn by_count_the_latest_runs_stay() {
        let dir = tempfile::tempdir().unwrap();
        let journal = history(dir.path());
        let pruned = prune(&journal, Retention::Runs(2), SystemTime::now()).unwrap();
        assert_eq!(pruned, Pruned { runs: 8, calls: 8 });
        assert_eq!(runs(&journal, dir.path()), ["open", "r8", "r9"]);
    }

    #[test]
    fn pruning_is_due_once_an_hour() {
        let dir = tempfile::tempdir().unwrap();
        let journal = history(dir.path());
        let now = UNIX_EPOCH + Duration::from_secs(10 * DAY);
        let keep = Retention::Runs(100);
        assert!(prune_if_due(&journal, keep, now).unwrap().is_some());
        let soon = now + Duration::from_secs(60);
        assert!(prune_if_due(&journal, keep, soon).unwrap().is_none());
        let later = now + EVERY + Duration::from_secs(1);
        assert!(prune_if_due(&journal, keep, later).unwrap().is_some());
    }
}
