//! Runs as the journal tells them: what `dockwright runs` lists and shows, read
//! through indexed queries so that answering costs the same with a year of history
//! as with a day of it.

use std::path::Path;

use super::db::{params, DbResult, Row, Sql, Value};
use anyhow::Result;
use serde::Serialize;

use super::liveness::{self, Liveness};
use super::store::Journal;

/// One run, from its start and end entries.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunSummary {
    pub run: String,
    /// `ok`, `failed`, `running`, or `died` (started here, never ended, no process).
    pub status: String,
    pub team: String,
    pub plugin: String,
    pub workflow: String,
    /// The engine it ran on.
    pub engine: String,
    pub started: String,
    pub duration_ms: Option<u64>,
    pub error: Option<String>,
    /// Why it failed (`policy`, `quota`, `plugin`, ...), when its end says.
    pub cause: Option<String>,
    pub containers: Vec<String>,
    pub images: Vec<String>,
    pub rolled_back: Vec<String>,
    /// When its environment was torn down on request, and what that removed.
    pub torn_down: Option<TornDown>,
    /// When its environment expires (or expired); none: it does not.
    pub expires: Option<String>,
    /// When it expired and was reaped, and what that removed.
    pub expired: Option<TornDown>,
    /// Who started it: a token's `sub`, a CLI run's local user, `team-token`; none
    /// for runs journaled before people were recorded.
    pub user: Option<String>,
    /// How people know who started it (`email`, `preferred_username`), when known.
    pub user_name: Option<String>,
    /// The process that ran it, as its start says.
    #[serde(skip)]
    pub pid: Option<u32>,
    /// Its process's holder key in the shared store (see `journal::shared`).
    #[serde(skip)]
    pub holder: Option<i64>,
}

impl RunSummary {
    /// "2 containers, 1 image" for the listing.
    pub fn created(&self) -> String {
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        format!(
            "{}, {}",
            plural(self.containers.len(), "container"),
            plural(self.images.len(), "image")
        )
    }
}

/// A teardown of a run's environment, as the journal keeps it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TornDown {
    pub time: String,
    pub removed: Vec<String>,
    /// Who tore it down, when the journal says (a reaping is nobody's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
}

/// One run in full: its params and every call it made.
#[derive(Debug, Clone, Serialize)]
pub struct RunDetail {
    #[serde(flatten)]
    pub summary: RunSummary,
    pub plugin_sha256: String,
    pub params: Vec<(String, String)>,
    pub calls: Vec<Call>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Call {
    pub time: String,
    pub op: String,
    pub target: String,
    pub decision: String,
    pub rule: Option<String>,
    pub result: String,
    pub detail: Option<String>,
    pub duration_ms: u64,
}

/// The columns [`summary`] reads, in its order.
const SUMMARY: &str = "run, status, team, plugin, workflow, engine, started, duration_ms, \
                       error, containers, images, rolled_back, pid, cause, torn_down, \
                       torn_down_removed, expires, expired, expired_removed, \"user\", \
                       user_name, torn_down_by, holder";
/// How many columns [`SUMMARY`] has: the index of the first column a query adds.
const SUMMARY_COLUMNS: usize = 23;

fn list(text: Option<String>) -> Vec<String> {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// A run's row as a summary; a run without an end has an empty status until settled.
fn summary(row: &Row) -> DbResult<RunSummary> {
    let duration: Option<i64> = row.get(7)?;
    Ok(RunSummary {
        run: row.get(0)?,
        status: row.get::<Option<String>>(1)?.unwrap_or_default(),
        team: row.get(2)?,
        plugin: row.get(3)?,
        workflow: row.get(4)?,
        engine: row.get(5)?,
        started: row.get::<Option<String>>(6)?.unwrap_or_default(),
        duration_ms: duration.map(|d| u64::try_from(d).unwrap_or_default()),
        error: row.get(8)?,
        containers: list(row.get(9)?),
        images: list(row.get(10)?),
        rolled_back: list(row.get(11)?),
        pid: row
            .get::<Option<i64>>(12)?
            .and_then(|p| u32::try_from(p).ok()),
        cause: row.get(13)?,
        torn_down: row
            .get::<Option<String>>(14)?
            .map(|time| -> DbResult<TornDown> {
                Ok(TornDown {
                    time,
                    removed: list(row.get(15)?),
                    by: row.get(21)?,
                })
            })
            .transpose()?,
        expires: row.get(16)?,
        // Claimed by a reaper and not finished is not expired yet.
        expired: match (
            row.get::<Option<String>>(17)?,
            row.get::<Option<String>>(18)?,
        ) {
            (Some(time), Some(removed)) => Some(TornDown {
                time,
                removed: list(Some(removed)),
                by: None,
            }),
            _ => None,
        },
        user: row.get(19)?,
        user_name: row.get(20)?,
        holder: row.get(22)?,
    })
}

/// How [`settle`] tells whether an unended run's process is alive.
type Alive<'a> = &'a (dyn Fn(&RunSummary) -> Liveness + Sync);

/// A run without an end is `running` while its process holds its lock, else `died`;
/// what it made is known from its calls. Only such runs cost a liveness check.
fn settle(sql: &mut dyn Sql, runs: &mut [RunSummary], alive: Alive) -> DbResult<()> {
    for r in runs.iter_mut().filter(|r| r.status.is_empty()) {
        r.status = match alive(r) {
            Liveness::Live => "running".into(),
            _ => "died".into(),
        };
        let rows = sql.rows(
            "SELECT op, detail FROM calls WHERE run = ?1 AND result = 'ok'
                 AND detail IS NOT NULL
                 AND op IN ('create-container', 'build-image', 'commit-container')
             ORDER BY seq",
            params![&r.run],
        )?;
        for row in rows {
            let (op, id) = (row.get::<String>(0)?, row.get::<String>(1)?);
            match op.as_str() {
                // The id, then (since lifetimes) the limits the container got.
                "create-container" => r
                    .containers
                    .push(id.split_whitespace().next().unwrap_or_default().to_string()),
                _ => r.images.push(id),
            }
        }
    }
    Ok(())
}

/// The statuses a run can have: how it ended, or that it is running.
pub const STATUSES: [&str; 4] = ["ok", "failed", "died", "running"];

/// Which runs [`latest`] lists.
#[derive(Debug, Clone, Copy, Default)]
pub struct Filter<'a> {
    /// One team's, or every team's.
    pub team: Option<&'a str>,
    /// `ok`, `failed`, `died` or `running`; any status when `None`.
    pub status: Option<&'a str>,
    /// One person's: the id or the name a run's start gives.
    pub user: Option<&'a str>,
}

/// The latest `limit` runs that `filter` lets through, newest first.
pub fn latest(
    journal: &Journal,
    filter: Filter,
    limit: usize,
    state_dir: &Path,
) -> Result<Vec<RunSummary>> {
    let mut clauses: Vec<&str> = vec!["seq < ?"];
    let mut args: Vec<Value> = Vec::new();
    if let Some(team) = filter.team {
        clauses.push("team = ?");
        args.push(Value::Text(team.to_string()));
    }
    if let Some(user) = filter.user {
        clauses.push("(\"user\" = ? OR user_name = ?)");
        args.push(Value::Text(user.to_string()));
        args.push(Value::Text(user.to_string()));
    }
    // A run without an end is running or died, known only once settled: those filters
    // take the candidates a page at a time until `limit` of them pass.
    let settled = matches!(filter.status, Some("running" | "died"));
    match filter.status {
        None => {}
        Some("running") => clauses.push("ended IS NULL"),
        Some("died") => clauses.push("(status = 'died' OR ended IS NULL)"),
        Some(status) => {
            clauses.push("status = ?");
            args.push(Value::Text(status.to_string()));
        }
    }
    let sql = format!(
        "SELECT {SUMMARY}, seq FROM runs WHERE {} ORDER BY seq DESC LIMIT ?",
        clauses.join(" AND ")
    );
    let page = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
    let alive = |r: &RunSummary| liveness::of(journal, state_dir, &r.run, r.holder);
    journal.with("read", |conn| {
        let mut found = Vec::new();
        let mut before = i64::MAX;
        while found.len() < limit {
            let page_args: Vec<Value> = std::iter::once(Value::Int(before))
                .chain(args.iter().cloned())
                .chain(std::iter::once(Value::Int(page)))
                .collect();
            let rows = conn
                .rows(&sql, &page_args)?
                .iter()
                .map(|row| Ok((summary(row)?, row.get::<i64>(SUMMARY_COLUMNS)?)))
                .collect::<DbResult<Vec<_>>>()?;
            let full = i64::try_from(rows.len()).unwrap_or(i64::MAX) == page;
            let Some(last) = rows.last().map(|(_, seq)| *seq) else {
                break;
            };
            before = last;
            let mut runs: Vec<RunSummary> = rows.into_iter().map(|(run, _)| run).collect();
            settle(conn, &mut runs, &alive)?;
            if let Some(status) = filter.status {
                runs.retain(|r| r.status == status);
            }
            found.extend(runs.into_iter().take(limit - found.len()));
            if !settled || !full {
                break;
            }
        }
        Ok(found)
    })
}

/// Every run that has not ended (running, or died without an end), oldest first.
pub fn unended(journal: &Journal, state_dir: &Path) -> Result<Vec<RunSummary>> {
    let alive = |r: &RunSummary| liveness::of(journal, state_dir, &r.run, r.holder);
    journal.with("read", |conn| {
        let mut runs = conn
            .rows(
                &format!("SELECT {SUMMARY} FROM runs WHERE ended IS NULL ORDER BY seq"),
                &[],
            )?
            .iter()
            .map(summary)
            .collect::<DbResult<Vec<_>>>()?;
        settle(conn, &mut runs, &alive)?;
        Ok(runs)
    })
}

/// Run `run` in full, if the journal has it.
pub fn detail(journal: &Journal, run: &str, state_dir: &Path) -> Result<Option<RunDetail>> {
    let alive = |r: &RunSummary| liveness::of(journal, state_dir, &r.run, r.holder);
    journal.with("read", |conn| {
        let found = conn
            .row(
                &format!("SELECT {SUMMARY}, plugin_sha256, params FROM runs WHERE run = ?1"),
                params![run],
            )?
            .map(|row| -> DbResult<_> {
                let params: String = row.get(SUMMARY_COLUMNS + 1)?;
                Ok((summary(&row)?, row.get::<String>(SUMMARY_COLUMNS)?, params))
            })
            .transpose()?;
        let Some((summary, plugin_sha256, params)) = found else {
            return Ok(None);
        };
        let mut runs = [summary];
        settle(conn, &mut runs, &alive)?;
        let [summary] = runs;
        let calls = conn
            .rows(
                "SELECT time, op, target, decision, rule, result, detail, duration_ms
                 FROM calls WHERE run = ?1 ORDER BY seq",
                params![run],
            )?
            .iter()
            .map(|row| {
                Ok(Call {
                    time: row.get(0)?,
                    op: row.get(1)?,
                    target: row.get(2)?,
                    decision: row.get(3)?,
                    rule: row.get(4)?,
                    result: row.get(5)?,
                    detail: row.get(6)?,
                    duration_ms: row.get::<u64>(7)?,
                })
            })
            .collect::<DbResult<Vec<_>>>()?;
        Ok(Some(RunDetail {
            summary,
            plugin_sha256,
            params: serde_json::from_str(&params).unwrap_or_default(),
            calls,
        }))
    })
}

/// How many of the matching ids [`find`] names when a prefix is not unique.
const SHOWN_MATCHES: usize = 10;

/// The run whose id is `id` or starts with it.
pub fn find(journal: &Journal, id: &str, state_dir: &Path) -> Result<RunDetail> {
    // The ids from `id` up to `id` followed by the highest character are the ones
    // that start with it: a range of the unique index, not a scan.
    let upper = format!("{id}{}", char::MAX);
    let matching: Vec<String> = journal.with("read", |conn| {
        conn.rows(
            "SELECT run FROM runs WHERE run >= ?1 AND run < ?2 ORDER BY run LIMIT ?3",
            params![id, upper, SHOWN_MATCHES as i64 + 1],
        )?
        .iter()
        .map(|r| r.get(0))
        .collect()
    })?;
    match matching.as_slice() {
        [one] => detail(journal, one, state_dir)?
            .ok_or_else(|| anyhow::anyhow!("run `{one}` went from the journal while reading it")),
        [] => anyhow::bail!("no run `{id}` in the journal: `dockwright runs` lists them"),
        many => {
            let count = if many.len() > SHOWN_MATCHES {
                format!("more than {SHOWN_MATCHES}")
            } else {
                many.len().to_string()
            };
            let shown = &many[..many.len().min(SHOWN_MATCHES)];
            anyhow::bail!(
                "`{id}` matches {count} runs ({}): give more of the id",
                shown.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_columns_are_counted_right() {
        assert_eq!(SUMMARY.split(',').count(), SUMMARY_COLUMNS);
    }
    use crate::journal::store::tests::{call, end, start};

    fn journal_of(dir: &Path, entries: &[crate::journal::Entry]) -> Journal {
        let journal = Journal::open(&dir.join("journal.db")).unwrap();
        for e in entries {
            journal.record(e).unwrap();
        }
        journal
    }

    #[test]
    fn the_latest_runs_come_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let journal = journal_of(
            dir.path(),
            &[
                start("a", "blue", "t0"),
                start("b", "blue", "t1"),
                call("b", "create-container", "ok", "c9", "t2"),
                call("b", "create-container", "not-found", "c8", "t2"),
                end("a", "failed", "t3"),
                start("c", "red", "t4"),
            ],
        );
        let runs = latest(&journal, Filter::default(), 10, dir.path()).unwrap();
        let ids: Vec<&str> = runs.iter().map(|r| r.run.as_str()).collect();
        assert_eq!(ids, ["c", "b", "a"]);
        let a = &runs[2];
        assert_eq!(
            (a.status.as_str(), a.error.as_deref()),
            ("failed", Some("boom"))
        );
        assert_eq!(
            (a.rolled_back.clone(), a.duration_ms),
            (vec!["c1".to_string()], Some(42))
        );
        // No end and no live process: it died, and its calls tell what it made.
        let b = &runs[1];
        assert_eq!(b.status, "died");
        assert_eq!(b.containers, ["c9"]);
        assert_eq!(b.created(), "1 container, 0 images");
        let of = |team, status| {
            let filter = Filter {
                team,
                status,
                user: None,
            };
            latest(&journal, filter, 10, dir.path())
                .unwrap()
                .into_iter()
                .map(|r| r.run)
                .collect::<Vec<_>>()
        };
        let blue = latest(
            &journal,
            Filter {
                team: Some("blue"),
                status: None,
                user: None,
            },
            1,
            dir.path(),
        );
        assert_eq!(blue.unwrap()[0].run, "b");
        assert_eq!(of(Some("blue"), None), ["b", "a"]);
        assert_eq!(of(None, Some("failed")), ["a"]);
        assert_eq!(of(None, Some("died")), ["c", "b"]);
        assert_eq!(of(Some("red"), Some("died")), ["c"]);
        assert!(of(None, Some("running")).is_empty());
        assert!(of(None, Some("ok")).is_empty());
        let unended: Vec<String> = unended(&journal, dir.path())
            .unwrap()
            .into_iter()
            .map(|r| r.run)
            .collect();
        assert_eq!(unended, ["b", "c"]);
    }

    #[test]
    fn a_teardown_is_kept_once_and_only_for_the_runs_team() {
        let dir = tempfile::tempdir().unwrap();
        let torn = |time: &str, team: &str, removed: &[&str]| crate::journal::Entry::TornDown {
            time: time.into(),
            run: "a".into(),
            team: team.into(),
            removed: removed.iter().map(|s| s.to_string()).collect(),
            by: Some(format!("{team} person")),
        };
        let journal = journal_of(
            dir.path(),
            &[
                start("a", "blue", "t0"),
                end("a", "ok", "t1"),
                // Another team cannot mark blue's run.
                torn("t2", "red", &["x"]),
                torn("t3", "blue", &["c1", "c2"]),
                // A second teardown does not rewrite the first.
                torn("t4", "blue", &[]),
            ],
        );
        let runs = latest(&journal, Filter::default(), 10, dir.path()).unwrap();
        assert_eq!(runs[0].status, "ok", "a teardown leaves how the run went");
        assert_eq!(
            runs[0].torn_down,
            Some(TornDown {
                time: "t3".into(),
                removed: vec!["c1".into(), "c2".into()],
                by: Some("blue person".into()),
            })
        );
        let d = detail(&journal, "a", dir.path()).unwrap().unwrap();
        assert_eq!(d.summary.torn_down.unwrap().time, "t3");
    }

    #[test]
    fn a_live_run_is_running() {
        let dir = tempfile::tempdir().unwrap();
        // One live run, older than five that died without an end.
        let mut entries = vec![start("c", "blue", "t0")];
        entries.extend((1..=5).map(|i| start(&format!("d{i}"), "blue", &format!("t{i}"))));
        let journal = journal_of(dir.path(), &entries);
        let _live = super::liveness::LiveRun::acquire(dir.path(), "c").unwrap();
        let of = |status, limit| {
            let filter = Filter {
                team: None,
                status: Some(status),
                user: None,
            };
            let runs = latest(&journal, filter, limit, dir.path()).unwrap();
            runs.into_iter().map(|r| r.run).collect::<Vec<_>>()
        };
        // Found past pages of the dead ones, and the other way round.
        assert_eq!(of("running", 1), ["c"]);
        assert_eq!(of("running", 2), ["c"]);
        assert_eq!(of("died", 2), ["d5", "d4"]);
        assert_eq!(of("died", 10), ["d5", "d4", "d3", "d2", "d1"]);
        assert!(of("died", 0).is_empty());
    }

    #[test]
    fn find_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let journal = journal_of(
            dir.path(),
            &[
                start("abc1", "blue", "t0"),
                call("abc1", "create-container", "ok", "c1", "t1"),
                end("abc1", "ok", "t2"),
                start("abd2", "blue", "t3"),
                start("b%_", "blue", "t4"),
            ],
        );
        let d = find(&journal, "abc", dir.path()).unwrap();
        assert_eq!(d.summary.run, "abc1");
        assert_eq!(d.calls.len(), 1);
        assert_eq!(d.calls[0].detail.as_deref(), Some("c1"));
        assert_eq!(d.params, [("k".to_string(), "v".to_string())]);
        assert_eq!(d.plugin_sha256, "ab");
        let e = find(&journal, "ab", dir.path()).unwrap_err().to_string();
        assert!(e.contains("matches 2 runs (abc1, abd2)"), "{e}");
        let e = find(&journal, "zz", dir.path()).unwrap_err().to_string();
        assert!(e.contains("no run `zz`"), "{e}");
        // Characters that mean something to LIKE mean nothing here.
        assert!(find(&journal, "b%", dir.path()).is_ok());
        assert!(find(&journal, "%", dir.path()).is_err());
        assert!(detail(&journal, "abc", dir.path()).unwrap().is_none());
    }

    #[test]
    fn a_prefix_of_many_runs_names_a_few() {
        let dir = tempfile::tempdir().unwrap();
        let entries: Vec<_> = (0..30)
            .map(|i| start(&format!("r{i:02}"), "blue", "t"))
            .collect();
        let journal = journal_of(dir.path(), &entries);
        let e = find(&journal, "r", dir.path()).unwrap_err().to_string();
        assert!(e.contains("matches more than 10 runs (r00, "), "{e}");
        assert!(!e.contains("r10"), "{e}");
    }
}
