//! `dockwright state migrate`: an SQLite journal copied into the shared store row by
//! row, each row keeping its sequence number, so that the copy lists, shows and prunes
//! exactly as the file did (an export and import would renumber the rows in time
//! order, and `runs` lists in the order runs were written). What the export form
//! leaves out comes too: warnings given, reapings claimed, idempotency keys.
//!
//! A copy goes in batches; one interrupted goes on where it stopped, and one repeated
//! adds nothing. Into a database whose journal holds runs of its own the copy is
//! refused: sequence numbers of two histories would collide.

use anyhow::{bail, Result};

use super::db::{params, DbResult, Value};
use super::store::Journal;

/// Rows per transaction.
const BATCH: usize = 1_000;

/// Each table and its columns, in the order copied (runs first: a call belongs to one).
const TABLES: &[(&str, &str, &str)] = &[
    (
        "runs",
        "seq, run, team, plugin, plugin_sha256, workflow, engine, params, pid, started, ended, \
         status, error, containers, images, rolled_back, duration_ms, import, cause, torn_down, \
         torn_down_removed, expires, warned, expired, expired_removed, \"user\", user_name, \
         torn_down_by",
        "seq",
    ),
    (
        "calls",
        "seq, run, team, plugin, time, op, target, decision, rule, result, detail, duration_ms",
        "seq",
    ),
    ("lifetimes", "seq, run, team, time, expires, by", "seq"),
    (
        "imports",
        "sha256, path, started, lines, runs, done",
        "sha256",
    ),
    (
        "idempotency",
        "team, key, fingerprint, run, created",
        "team, key",
    ),
];

/// What [`copy`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    /// Runs added.
    pub runs: u64,
    /// Runs the target had already (an earlier copy of the same journal).
    pub present: u64,
    /// Rows of every table read.
    pub rows: u64,
}

/// The meta key that names the journal a shared store was copied from.
const FROM_KEY: &str = "copied_from";

/// Copy journal `from` (SQLite) into `to` (the shared store); `source` names it.
pub fn copy(from: &Journal, to: &Journal, source: &str) -> Result<Copied> {
    if to.shared().is_none() || from.shared().is_some() {
        bail!("a copy goes from an SQLite journal into the state database");
    }
    let (own_runs, copied_from) = to.with("read", |sql| {
        let runs: i64 = sql
            .row("SELECT count(*) FROM runs", &[])?
            .map_or(Ok(0), |r| r.get(0))?;
        let from: Option<String> = sql
            .row("SELECT value FROM meta WHERE key = ?1", params![FROM_KEY])?
            .map_or(Ok(None), |r| r.get(0))?;
        Ok((runs, from))
    })?;
    if own_runs > 0 && copied_from.as_deref() != Some(source) {
        bail!(
            "the state database `{}` holds {own_runs} run(s) that were not copied from `{source}`: \
             copy into an empty database (the runs of two histories would be numbered alike)",
            to.shown()
        );
    }
    to.with("write", |sql| {
        sql.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO NOTHING",
            params![FROM_KEY, source],
        )
    })?;
    let mut copied = Copied {
        runs: 0,
        present: 0,
        rows: 0,
    };
    for (table, columns, key) in TABLES {
        let n = columns.split(',').count();
        let marks: Vec<String> = (1..=n).map(|i| format!("?{i}")).collect();
        let insert = format!(
            "INSERT INTO {table} ({columns}) VALUES ({}) ON CONFLICT ({key}) DO NOTHING",
            marks.join(", ")
        );
        let select = format!("SELECT {columns} FROM {table} ORDER BY {key}");
        let mut batch: Vec<Vec<Value>> = Vec::with_capacity(BATCH);
        let flush = |batch: &mut Vec<Vec<Value>>| -> Result<u64> {
            let added = to.write("copy into", |sql| {
                let mut added = 0;
                for row in batch.iter() {
                    added += sql.execute(&insert, row)? as u64;
                }
                Ok(added)
            })?;
            batch.clear();
            Ok(added)
        };
        let mut added = 0u64;
        let mut read = 0u64;
        let mut failed = None;
        from.with("read", |sql| {
            sql.each(&select, &[], &mut |row| {
                batch.push(row.0);
                read += 1;
                if batch.len() == BATCH {
                    match flush(&mut batch) {
                        Ok(n) => added += n,
                        Err(e) => {
                            failed = Some(e);
                            return Err(super::db::DbError::Refused("the copy stopped".into()));
                        }
                    }
                }
                DbResult::Ok(())
            })
        })
        .map_err(|e| failed.take().unwrap_or(e))?;
        added += flush(&mut batch)?;
        copied.rows += read;
        if *table == "runs" {
            copied.runs = added;
            copied.present = read - added;
        }
    }
    // The next run, call and lifetime written number on from the copied ones.
    to.with("write", |sql| {
        for table in ["runs", "calls", "lifetimes"] {
            sql.row(
                &format!(
                    "SELECT setval(pg_get_serial_sequence('{table}', 'seq'),
                         GREATEST((SELECT max(seq) FROM {table}), 1))"
                ),
                &[],
            )?;
        }
        Ok(())
    })?;
    Ok(copied)
}
