//! The journal as JSON lines, out and in: `dockwright runs export` for log shippers
//! and audits, `dockwright runs import` for history from elsewhere, and the one-time
//! upgrade from the JSON-lines file earlier versions wrote.

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

/// Lines of a file imported per transaction: other writers wait for one batch at
/// most (tens of milliseconds), never for the whole file.
const IMPORT_BATCH: u64 = 5000;

/// Add the runs of a JSON-lines journal (an export, or an earlier version's file) that
/// this one does not have, with their calls and ends.
///
/// The file is taken in batches, each a transaction that also advances the import's
/// line count, so other writers go on meanwhile. An import that fails or is
/// interrupted keeps the batches it finished, and the same file imported again goes
/// on from there; processes importing the same file at once share the work. A run
/// is this import's to fill in when this file's import wrote its row: a run the
/// journal had already is left as it was.
pub fn import(journal: &Journal, path: &Path) -> Result<Imported> {
    import_batches(journal, path, IMPORT_BATCH, None)
}

/// [`import`], `batch` lines per transaction, stopping after `most` batches if given
/// (as an interrupted import does).
fn import_batches(
    journal: &Journal,
    path: &Path,
    batch: u64,
    most: Option<u64>,
) -> Result<Imported> {
    let digest = sha256_of(path)?;
    let file = File::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut lines = BufReader::new(file).lines();
    // Lines read from the file so far, by this process.
    let mut read = 0u64;
    let (mut runs, mut present, mut unreadable) = (0u64, 0u64, 0u64);
    let mut batches = 0u64;
    let mut read_error = None;
    loop {
        let step = journal.with("import into", |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let progress: Option<(i64, Option<String>)> = tx
                .query_row(
                    "SELECT lines, done FROM imports WHERE sha256 = ?1",
                    [&digest],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let done_to = match progress {
                Some((_, Some(time))) => return Ok(Step::Finished { time }),
                Some((lines, None)) => u64::try_from(lines).unwrap_or_default(),
                None => {
                    tx.execute(
                        "INSERT INTO imports (sha256, path, started) VALUES (?1, ?2, ?3)",
                        params![digest, path.display().to_string(), now()],
                    )?;
                    0
                }
            };
            // Lines another process (or an earlier, interrupted import) took already.
            while read < done_to {
                match lines.next() {
                    Some(Ok(_)) => read += 1,
                    Some(Err(e)) => {
                        read_error = Some(e);
                        return Err(rusqlite::Error::ExecuteReturnedResults);
                    }
                    None => break,
                }
            }
            let mut added = 0u64;
            let mut end_of_file = false;
            let until = read + batch;
            while read < until {
                let line = match lines.next() {
                    Some(Ok(line)) => line,
                    Some(Err(e)) => {
                        read_error = Some(e);
                        return Err(rusqlite::Error::ExecuteReturnedResults);
                    }
                    None => {
                        end_of_file = true;
                        break;
                    }
                };
                read += 1;
                if line.trim().is_empty() {
                    continue;
                }
                let Ok(entry) = serde_json::from_str::<Entry>(&line) else {
                    unreadable += 1;
                    continue;
                };
                match import_entry(&tx, &digest, &entry)? {
                    Taken::NewRun => added += 1,
                    Taken::KnownRun => present += 1,
                    Taken::Entry | Taken::Skipped => {}
                }
            }
            // A batch that ends exactly at the end of the file finds so in the next.
            tx.execute(
                "UPDATE imports SET lines = ?2, runs = runs + ?3,
                     done = CASE WHEN ?4 THEN ?5 END
                 WHERE sha256 = ?1",
                params![digest, read as i64, added as i64, end_of_file, now()],
            )?;
            tx.commit()?;
            runs += added;
            Ok(if end_of_file { Step::Done } else { Step::More })
        });
        let step = match (step, read_error.take()) {
            (_, Some(e)) => {
                return Err(e).with_context(|| {
                    format!(
                        "cannot read `{}` past line {read}: the lines before are imported, \
                         and importing the file again goes on from there",
                        path.display()
                    )
                })
            }
            (step, None) => step?,
        };
        batches += 1;
        match step {
            Step::More if most.is_none_or(|most| batches < most) => continue,
            Step::More | Step::Done => break,
            // Finished by another process (or before): what this one added counts.
            Step::Finished { time } if batches == 1 => return Ok(Imported::Already { time }),
            Step::Finished { .. } => break,
        }
    }
    Ok(Imported::Done {
        runs,
        present,
        unreadable,
    })
}

/// What one batch of an import came to.
enum Step {
    More,
    Done,
    /// The file's import had finished already, at `time`.
    Finished {
        time: String,
    },
}

/// What became of one entry of an imported file.
enum Taken {
    /// A run start, new here.
    NewRun,
    /// A run start of a run the journal had.
    KnownRun,
    /// A call or end written.
    Entry,
    /// A call or end of a run that is not this import's to fill in.
    Skipped,
}

fn import_entry(conn: &Connection, digest: &str, entry: &Entry) -> rusqlite::Result<Taken> {
    let run = entry.run();
    let mark = |conn: &Connection| {
        conn.prepare_cached("UPDATE runs SET import = ?2 WHERE run = ?1")?
            .execute(params![run, digest])
    };
    if let Entry::RunStart {
        time,
        plugin_sha256,
        params,
        pid,
        engine,
        ..
    } = entry
    {
        if insert(conn, entry)? == 1 {
            return mark(conn).map(|_| Taken::NewRun);
        }
        if imported_by(conn, run)?.flatten().as_deref() != Some(digest) {
            return Ok(Taken::KnownRun);
        }
        // This import wrote the run from its end, which came first (a file not in time
        // order): the start fills in the rest.
        conn.prepare_cached(
            "UPDATE runs SET plugin_sha256 = ?2, params = ?3, pid = ?4, started = ?5,
                 engine = ?6
             WHERE run = ?1 AND started IS NULL",
        )?
        .execute(params![
            run,
            plugin_sha256,
            super::store::json(params),
            pid,
            time,
            engine
        ])?;
        return Ok(Taken::Entry);
    }
    match imported_by(conn, run)? {
        // A call or end of a run whose start is not in the journal (gc's, of a run of
        // another machine): kept, and an end makes the run this import's.
        None => {
            insert(conn, entry)?;
            if let Entry::RunEnd { .. } = entry {
                mark(conn)?;
            }
            Ok(Taken::Entry)
        }
        Some(Some(by)) if by == digest => {
            insert(conn, entry)?;
            Ok(Taken::Entry)
        }
        Some(_) => Ok(Taken::Skipped),
    }
}

/// Whether the journal has `run` and, if so, which import wrote it (`None`: a run
/// recorded here).
fn imported_by(conn: &Connection, run: &str) -> rusqlite::Result<Option<Option<String>>> {
    conn.prepare_cached("SELECT import FROM runs WHERE run = ?1")?
        .query_row([run], |r| r.get(0))
        .optional()
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

    /// A file of three runs (start, a call, an end each) and the journal it came from.
    fn three_runs(dir: &Path) -> (PathBuf, Vec<Entry>) {
        let t = |s: u32| format!("2026-11-01T00:00:{s:02}.000Z");
        let mut entries = Vec::new();
        for (i, run) in ["r1", "r2", "r3"].into_iter().enumerate() {
            let s = 3 * i as u32;
            entries.push(start(run, "blue", &t(s)));
            entries.push(call(run, "create-container", "ok", run, &t(s + 1)));
            entries.push(end(run, "ok", &t(s + 2)));
        }
        let lines: Vec<String> = entries
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect();
        let file = dir.join("three.jsonl");
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        (file, entries)
    }

    #[test]
    fn an_interrupted_import_goes_on_where_it_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let (file, entries) = three_runs(dir.path());
        let journal = Journal::open(&dir.path().join("journal.db")).unwrap();
        // Two batches of two lines, then the process is gone: r1 and r2's start are in.
        let first = import_batches(&journal, &file, 2, Some(2)).unwrap();
        assert_eq!(
            first,
            Imported::Done {
                runs: 2,
                present: 0,
                unreadable: 0
            }
        );
        assert_eq!(exported(&journal, None), entries[..4]);
        // Again: the rest, nothing twice, r2 filled in although its start came before.
        let rest = import(&journal, &file).unwrap();
        assert_eq!(
            rest,
            Imported::Done {
                runs: 1,
                present: 0,
                unreadable: 0
            }
        );
        assert_eq!(exported(&journal, None), entries);
        assert!(matches!(
            import(&journal, &file).unwrap(),
            Imported::Already { .. }
        ));
    }

    #[test]
    fn processes_importing_one_file_at_once_share_it() {
        let dir = tempfile::tempdir().unwrap();
        let (file, entries) = three_runs(dir.path());
        let db = dir.path().join("journal.db");
        Journal::open(&db).unwrap();
        let importers: Vec<_> = (0..3)
            .map(|_| {
                let (db, file) = (db.clone(), file.clone());
                std::thread::spawn(move || {
                    let journal = Journal::open(&db).unwrap();
                    match import_batches(&journal, &file, 1, None).unwrap() {
                        Imported::Done { runs, .. } => runs,
                        Imported::Already { .. } => 0,
                    }
                })
            })
            .collect();
        let runs: u64 = importers.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(runs, 3);
        let journal = Journal::open(&db).unwrap();
        assert_eq!(exported(&journal, None), entries);
    }

    #[test]
    fn a_run_whose_end_comes_before_its_start_is_whole() {
        let dir = tempfile::tempdir().unwrap();
        let t = |s: u32| format!("2026-11-01T00:00:{s:02}.000Z");
        let entries = [start("r1", "blue", &t(1)), end("r1", "ok", &t(2))];
        let lines: Vec<String> = entries
            .iter()
            .rev()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect();
        let file = dir.path().join("reversed.jsonl");
        std::fs::write(&file, lines.join("\n")).unwrap();
        let journal = Journal::open(&dir.path().join("journal.db")).unwrap();
        import(&journal, &file).unwrap();
        assert_eq!(exported(&journal, None), entries);
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
