//! The journal as JSON lines, out and in: `dockwright runs export` for log shippers
//! and audits, `dockwright runs import` for history from elsewhere, and the one-time
//! upgrade from the JSON-lines file earlier versions wrote.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension, Row, TransactionBehavior};
use sha2::{Digest, Sha256};

use super::store::{insert, now, Entry, Journal};

/// Where the journal is, given the config's `journal` (if any): a configured
/// `*.jsonl` (the file earlier versions wrote) is taken to mean the database beside it.
pub fn database_path(configured: Option<&Path>) -> PathBuf {
    match configured {
        Some(path) if path.extension().is_some_and(|e| e == "jsonl") => path.with_extension("db"),
        Some(path) => path.to_path_buf(),
        None => crate::util::paths::journal_file(),
    }
}

/// Open the journal the config names; the first open beside a JSON-lines journal of
/// an earlier version imports it, once, and says so in the returned message.
pub fn open_configured(configured: Option<&Path>) -> Result<(Journal, Option<String>)> {
    let path = database_path(configured);
    let journal = Journal::open(&path)?;
    let legacy = path.with_extension("jsonl");
    if !legacy.is_file() {
        return Ok((journal, None));
    }
    let imported = import(&journal, &legacy)?;
    let kept = legacy.with_extension("jsonl.imported");
    // Another process may have moved it already: it then did the import too.
    match std::fs::rename(&legacy, &kept) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "imported `{}` but cannot rename it to `{}`: rename it by hand",
                    legacy.display(),
                    kept.display()
                )
            })
        }
    }
    let message = match imported {
        Imported::Done { runs, .. } => Some(format!(
            "imported {runs} run(s) from the old journal `{}` into `{}`; the old file is kept \
             as `{}`",
            legacy.display(),
            path.display(),
            kept.display()
        )),
        Imported::Already { .. } => None,
    };
    Ok((journal, message))
}

/// What [`import`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    Done {
        /// Runs added.
        runs: u64,
        /// Runs the journal had already, left as they were.
        present: u64,
        /// Lines that were not journal entries.
        unreadable: u64,
    },
    /// This very file was imported before, at `time`.
    Already { time: String },
}

/// Add the runs of a JSON-lines journal (an export, or an earlier version's file) that
/// this one does not have, with their calls and ends. One transaction: an import
/// that fails or is interrupted adds nothing, and other writers wait for it (up to
/// the busy timeout), so import a large file while the server is quiet.
pub fn import(journal: &Journal, path: &Path) -> Result<Imported> {
    let digest = sha256_of(path)?;
    let file = File::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut lines = BufReader::new(file).lines();
    let mut read_error = None;
    let outcome = journal.with("import into", |conn| {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let before: Option<String> = tx
            .query_row(
                "SELECT time FROM imports WHERE sha256 = ?1",
                [&digest],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(time) = before {
            return Ok(Imported::Already { time });
        }
        // Whether each run seen is this import's to write (new here) or the journal's.
        let mut ours: HashMap<String, bool> = HashMap::new();
        let (mut runs, mut present, mut unreadable) = (0, 0, 0);
        for line in lines.by_ref() {
            let line = match line {
                Ok(line) => line,
                Err(e) => {
                    read_error = Some(e);
                    return Err(rusqlite::Error::ExecuteReturnedResults);
                }
            };
            if line.trim().is_empty() {
                continue;
            }
            let Ok(entry) = serde_json::from_str::<Entry>(&line) else {
                unreadable += 1;
                continue;
            };
            let run = entry.run().to_string();
            let write = match (&entry, ours.get(&run)) {
                (Entry::RunStart { .. }, None) => {
                    let added = insert(&tx, &entry)? == 1;
                    if added {
                        runs += 1;
                    } else {
                        present += 1;
                    }
                    ours.insert(run, added);
                    continue;
                }
                (_, Some(ours)) => *ours,
                // A call or end of a run whose start is not in the file: kept, unless
                // the journal has the run.
                (_, None) => {
                    let known = known(&tx, &run)?;
                    ours.insert(run, !known);
                    !known
                }
            };
            if write {
                insert(&tx, &entry)?;
            }
        }
        tx.execute(
            "INSERT INTO imports (sha256, path, time, runs) VALUES (?1, ?2, ?3, ?4)",
            params![digest, path.display().to_string(), now(), runs as i64],
        )?;
        tx.commit()?;
        Ok(Imported::Done {
            runs,
            present,
            unreadable,
        })
    });
    if let Some(e) = read_error {
        return Err(e).with_context(|| format!("cannot read `{}`", path.display()));
    }
    outcome
}

fn known(conn: &Connection, run: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM runs WHERE run = ?1")?
        .exists([run])
}

fn sha256_of(path: &Path) -> Result<String> {
    let mut file = File::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = file
            .read(&mut buf)
            .with_context(|| format!("cannot read `{}`", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// One stream of entries from the database, in time order.
struct Stream<'s> {
    rows: rusqlite::Rows<'s>,
    decode: fn(&Row) -> rusqlite::Result<Entry>,
    /// The entry read and not yet written, with its time.
    next: Option<(String, Entry)>,
    /// Among entries of the same millisecond: starts, then calls, then ends.
    rank: u8,
}

impl Stream<'_> {
    fn advance(&mut self) -> rusqlite::Result<()> {
        self.next = match self.rows.next()? {
            Some(row) => {
                let entry = (self.decode)(row)?;
                Some((time_of(&entry).to_string(), entry))
            }
            None => None,
        };
        Ok(())
    }
}

fn time_of(entry: &Entry) -> &str {
    match entry {
        Entry::RunStart { time, .. } | Entry::Call { time, .. } | Entry::RunEnd { time, .. } => {
            time
        }
    }
}

fn json_list<T: serde::de::DeserializeOwned + Default>(text: Option<String>) -> T {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn u64_of(n: Option<i64>) -> u64 {
    n.and_then(|n| u64::try_from(n).ok()).unwrap_or_default()
}

fn decode_start(row: &Row) -> rusqlite::Result<Entry> {
    Ok(Entry::RunStart {
        time: row.get(0)?,
        run: row.get(1)?,
        team: row.get(2)?,
        plugin: row.get(3)?,
        plugin_sha256: row.get(4)?,
        workflow: row.get(5)?,
        params: json_list(row.get(6)?),
        pid: u32::try_from(u64_of(row.get(7)?)).unwrap_or_default(),
        engine: row.get(8)?,
    })
}

fn decode_call(row: &Row) -> rusqlite::Result<Entry> {
    Ok(Entry::Call {
        time: row.get(0)?,
        run: row.get(1)?,
        team: row.get(2)?,
        plugin: row.get(3)?,
        op: row.get(4)?,
        target: row.get(5)?,
        decision: row.get(6)?,
        rule: row.get(7)?,
        result: row.get(8)?,
        detail: row.get(9)?,
        duration_ms: u64_of(row.get(10)?),
    })
}

fn decode_end(row: &Row) -> rusqlite::Result<Entry> {
    Ok(Entry::RunEnd {
        time: row.get(0)?,
        run: row.get(1)?,
        team: row.get(2)?,
        plugin: row.get(3)?,
        workflow: row.get(4)?,
        status: row.get(5)?,
        error: row.get(6)?,
        containers: json_list(row.get(7)?),
        images: json_list(row.get(8)?),
        rolled_back: json_list(row.get(9)?),
        duration_ms: u64_of(row.get(10)?),
    })
}

/// Write every entry from `since` on (a time, or a prefix of one such as
/// `2026-11-01`; `None` for all) as JSON lines, in time order: the three indexed
/// streams (starts, calls, ends) are merged as they are read, so memory stays flat
/// however long the history. Returns how many entries were written.
pub fn export(journal: &Journal, since: Option<&str>, out: &mut dyn Write) -> Result<u64> {
    let since = since.unwrap_or("");
    let mut write_error = None;
    let written = journal.with("read", |conn| {
        // One read transaction: the three streams see the same journal.
        let tx = conn.transaction()?;
        let mut starts = tx.prepare(
            "SELECT started, run, team, plugin, plugin_sha256, workflow, params, pid, engine
             FROM runs WHERE started IS NOT NULL AND started >= ?1 ORDER BY started, seq",
        )?;
        let mut calls = tx.prepare(
            "SELECT time, run, team, plugin, op, target, decision, rule, result, detail,
                    duration_ms
             FROM calls WHERE time >= ?1 ORDER BY time, seq",
        )?;
        let mut ends = tx.prepare(
            "SELECT ended, run, team, plugin, workflow, status, error, containers, images,
                    rolled_back, duration_ms
             FROM runs WHERE ended IS NOT NULL AND ended >= ?1 ORDER BY ended, seq",
        )?;
        let mut streams = [
            Stream {
                rows: starts.query([since])?,
                decode: decode_start,
                next: None,
                rank: 0,
            },
            Stream {
                rows: calls.query([since])?,
                decode: decode_call,
                next: None,
                rank: 1,
            },
            Stream {
                rows: ends.query([since])?,
                decode: decode_end,
                next: None,
                rank: 2,
            },
        ];
        for s in &mut streams {
            s.advance()?;
        }
        let mut written = 0;
        while let Some(first) = streams
            .iter_mut()
            .filter(|s| s.next.is_some())
            .min_by(|a, b| {
                let (ta, tb) = (&a.next.as_ref().unwrap().0, &b.next.as_ref().unwrap().0);
                ta.cmp(tb).then(a.rank.cmp(&b.rank))
            })
        {
            let (_, entry) = first.next.take().expect("a stream with an entry");
            let line = serde_json::to_string(&entry).expect("entries encode");
            if let Err(e) = writeln!(out, "{line}") {
                write_error = Some(e);
                break;
            }
            written += 1;
            first.advance()?;
        }
        Ok(written)
    })?;
    if let Some(e) = write_error {
        return Err(e).context("cannot write the export");
    }
    out.flush().context("cannot write the export")?;
    Ok(written)
}

/// Check an export's `--since`: a time as the journal writes them, or its start
/// (`2026-11-01`, `2026-11-01T12:00`); or an age back from now (`7d`, `12h`).
pub fn since(text: &str, now: std::time::SystemTime) -> Result<String, String> {
    if let Some(age) = crate::policy::config::parse_age(text) {
        let at = now.checked_sub(age).unwrap_or(std::time::UNIX_EPOCH);
        return Ok(super::store::timestamp(at));
    }
    // The shape of `2026-11-23T18:01:49.123Z`, cut anywhere after the day.
    const SHAPE: &str = "dddd-dd-ddTdd:dd:dd.dddZ";
    let fits = text.len() >= 10
        && text.len() <= SHAPE.len()
        && text.bytes().zip(SHAPE.bytes()).all(|(c, s)| match s {
            b'd' => c.is_ascii_digit(),
            _ => c == s,
        });
    if fits {
        Ok(text.to_string())
    } else {
        Err(format!(
            "`{text}` is not a time: give a UTC date or time such as `2026-11-01` or \
             `2026-11-01T12:00:00Z`, or an age such as `7d` or `12h`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::store::tests::{call, end, start};
    use std::time::{Duration, UNIX_EPOCH};

    fn exported(journal: &Journal, since: Option<&str>) -> Vec<Entry> {
        let mut out = Vec::new();
        let n = export(journal, since, &mut out).unwrap();
        let entries: Vec<Entry> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(n as usize, entries.len());
        entries
    }

    #[test]
    fn an_export_is_the_entries_in_time_order_and_imports_back() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(&dir.path().join("a.db")).unwrap();
        let t = |s: u32| format!("2026-11-0{s}T00:00:00.000Z");
        let entries = [
            start("r1", "blue", &t(1)),
            start("r2", "blue", &t(2)),
            call("r1", "create-container", "ok", "c1", &t(2)),
            end("r1", "ok", &t(2)),
            call("r2", "create-container", "ok", "c2", &t(3)),
            // A call of a run this journal never saw start (gc's, of another machine's run).
            call("elsewhere", "remove-container", "ok", "c3", &t(4)),
        ];
        for e in &entries {
            journal.record(e).unwrap();
        }
        assert_eq!(exported(&journal, None), entries);
        assert_eq!(exported(&journal, Some("2026-11-03")), entries[4..]);

        // Into another journal, which already has r2: r1 and the orphan call come in.
        let file = dir.path().join("export.jsonl");
        let mut out = File::create(&file).unwrap();
        export(&journal, None, &mut out).unwrap();
        writeln!(out, "{{not an entry").unwrap();
        drop(out);
        let other = Journal::open(&dir.path().join("b.db")).unwrap();
        other.record(&start("r2", "blue", &t(2))).unwrap();
        assert_eq!(
            import(&other, &file).unwrap(),
            Imported::Done {
                runs: 1,
                present: 1,
                unreadable: 1
            }
        );
        let got = exported(&other, None);
        assert_eq!(got.len(), 5, "{got:?}");
        assert!(got.contains(&entries[3]) && got.contains(&entries[5]));
        // r2's call was the journal's to have, not the file's.
        assert!(!got.contains(&entries[4]));
        // The same file again is refused; nothing is doubled.
        assert!(matches!(
            import(&other, &file).unwrap(),
            Imported::Already { .. }
        ));
        assert_eq!(exported(&other, None).len(), 5);
    }

    #[test]
    fn an_old_journal_is_imported_once_at_the_first_open() {
        let dir = tempfile::tempdir().unwrap();
        let legacy = dir.path().join("journal.jsonl");
        let lines: Vec<String> = [
            start("old1", "blue", "2025-01-01T00:00:00.000Z"),
            end("old1", "ok", "2025-01-01T00:00:01.000Z"),
        ]
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
        std::fs::write(&legacy, lines.join("\n") + "\n").unwrap();
        let (journal, message) = open_configured(Some(&legacy)).unwrap();
        assert_eq!(journal.path(), dir.path().join("journal.db"));
        let message = message.unwrap();
        assert!(message.contains("imported 1 run(s)"), "{message}");
        assert!(!legacy.exists());
        assert!(dir.path().join("journal.jsonl.imported").exists());
        assert_eq!(exported(&journal, None).len(), 2);
        drop(journal);
        let (journal, message) = open_configured(Some(&legacy)).unwrap();
        assert_eq!(message, None);
        assert_eq!(exported(&journal, None).len(), 2);
    }

    #[test]
    fn since_takes_times_and_ages() {
        let now = UNIX_EPOCH + Duration::from_secs(1_795_456_909);
        assert_eq!(since("2026-11-01", now).unwrap(), "2026-11-01");
        assert_eq!(
            since("2026-11-01T12:00:00.000Z", now).unwrap(),
            "2026-11-01T12:00:00.000Z"
        );
        assert_eq!(since("1d", now).unwrap(), "2026-11-22T18:01:49.000Z");
        for bad in [
            "yesterday",
            "2026-1-01",
            "2026-11-01 12:00",
            "",
            "2026-11-01T12:00:00.000Zx",
        ] {
            let e = since(bad, now).unwrap_err();
            assert!(e.contains("is not a time"), "{bad}: {e}");
        }
    }
}
