//! The journal as JSON lines, out and in: `dockwright runs export` for log shippers
//! and audits, `dockwright runs import` for history from elsewhere, and the one-time
//! upgrade from the JSON-lines file earlier versions wrote.

use std::fs::File;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};

use super::db::{params, DbError, DbResult, Row, Sql};
use anyhow::{Context, Result};
use sha2::{Digest, Sha256};

use super::store::{insert, now, Entry, Journal};
use crate::util::lines::{self, Line};

/// Where the journal is, given the config's `journal` (if any): a configured
/// `*.jsonl` (the file earlier versions wrote) is taken to mean the database beside it.
pub fn database_path(configured: Option<&Path>) -> PathBuf {
    match configured {
        Some(path) if path.extension().is_some_and(|e| e == "jsonl") => path.with_extension("db"),
        Some(path) => path.to_path_buf(),
        None => crate::util::paths::journal_file(),
    }
}

/// Open the journal the config names: the state database of `[state]`, or the SQLite
/// file. The first open beside a JSON-lines journal of an earlier version imports it,
/// once, and says so in the returned message.
pub fn open_configured(
    configured: Option<&Path>,
    state: Option<&super::config::StateSettings>,
) -> Result<(Journal, Option<String>)> {
    if let Some(state) = state {
        return Ok((Journal::connect(state)?, None));
    }
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
        Imported::Done { runs, too_long, .. } => {
            let mut message = format!(
                "imported {runs} run(s) from the old journal `{}` into `{}`; the old file is \
                 kept as `{}`",
                legacy.display(),
                path.display(),
                kept.display()
            );
            if let Some(warning) = skipped_long(&legacy, &too_long) {
                message.push_str(&format!("\nwarning: {warning}"));
            }
            Some(message)
        }
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
        /// Lines longer than [`MAX_LINE`], skipped without being held.
        too_long: Vec<LongLine>,
    },
    /// This very file was imported before, at `time`.
    Already { time: String },
}

/// A line of an imported file that was too long to be an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LongLine {
    /// Its number, from 1.
    pub line: u64,
    pub bytes: u64,
}

/// How many long lines a warning names; it counts the rest.
const NAMED_LINES: usize = 10;

/// What to tell of the lines of `path` an import skipped for their length, if any.
pub fn skipped_long(path: &Path, lines: &[LongLine]) -> Option<String> {
    let (first, rest) = lines.split_first()?;
    let mut told = format!(
        "skipped line {} of `{}` ({} bytes): longer than the {} MiB an entry can be, so it \
         is not one `runs export` wrote",
        first.line,
        path.display(),
        first.bytes,
        MAX_LINE >> 20
    );
    if !rest.is_empty() {
        let named: Vec<String> = rest
            .iter()
            .take(NAMED_LINES - 1)
            .map(|l| l.line.to_string())
            .collect();
        told.push_str(&format!("; so were lines {}", named.join(", ")));
        if rest.len() > named.len() {
            told.push_str(&format!(" and {} more", rest.len() - named.len()));
        }
    }
    Some(told)
}

/// Lines of a file imported per transaction: other writers wait for one batch at
/// most (tens of milliseconds), never for the whole file.
const IMPORT_BATCH: usize = 5000;

/// The longest line an import reads; a longer one is skipped as it is read, never held.
/// The journal keeps each free text of an entry (a call's target and detail, a run's
/// error, each param) to 64 KiB, so what `runs export` writes is one of a few hundred KiB
/// at most: JSON can write a character as six (`\u001b`), and a start carries every
/// param. 4 MiB holds any of them; a start with ten params of 64 KiB of control
/// characters each is 3.8 MiB.
pub const MAX_LINE: usize = 4 << 20;

/// The most bytes of lines one batch holds, whatever their number: with [`MAX_LINE`],
/// what bounds an import's memory.
const BATCH_BYTES: usize = 16 << 20;

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
    batch: usize,
    most: Option<u64>,
) -> Result<Imported> {
    let digest = sha256_of(path)?;
    let file = File::open(path).with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut reader = BufReader::new(file);
    // Lines of the file read so far by this process.
    let mut read = 0u64;
    let mut next_line = |read: &mut u64| -> Result<Option<Piece>> {
        let line = lines::read_line(&mut reader, MAX_LINE).with_context(|| {
            format!(
                "cannot read `{}` past line {read}: the lines before are imported, and \
                 importing the file again goes on from there",
                path.display()
            )
        })?;
        *read += u64::from(line.is_some());
        Ok(line.map(|line| Piece::of(line, *read)))
    };
    let mut counts = Counts::default();
    let mut batches = 0u64;
    while most.is_none_or(|most| batches < most) {
        // The file is read outside the write lock, so no writer waits for the disk.
        let taken = match journal.with("import into", |sql| progress(sql, &digest))? {
            Progress::Finished(time) if batches == 0 => return Ok(Imported::Already { time }),
            // Finished by another process meanwhile: what this one added counts.
            Progress::Finished(_) => break,
            Progress::At(taken) => taken,
        };
        // Lines another process (or an earlier, interrupted import) took already.
        while read < taken && next_line(&mut read)?.is_some() {}
        let first = read;
        let mut chunk = Vec::new();
        let mut held = 0;
        let mut end_of_file = false;
        while chunk.len() < batch && held < BATCH_BYTES {
            match next_line(&mut read)? {
                Some(piece) => {
                    held += piece.held();
                    chunk.push(piece);
                }
                None => {
                    end_of_file = true;
                    break;
                }
            }
        }
        let finished = journal.write("import into", |tx| {
            let taken = match progress(tx, &digest)? {
                Progress::Finished(_) => return Ok(true),
                Progress::At(0) => {
                    tx.execute(
                        "INSERT INTO imports (sha256, path, started)
                         VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                        params![digest, path.display().to_string(), now()],
                    )?;
                    0
                }
                Progress::At(taken) => taken,
            };
            // Lines of this chunk another process took while it was read.
            let skip = usize::try_from(taken.saturating_sub(first)).unwrap_or(usize::MAX);
            if skip >= chunk.len() && !end_of_file {
                return Ok(false);
            }
            let mut batch_counts = Counts::default();
            for piece in chunk.iter().skip(skip) {
                match piece {
                    Piece::Text(line) => batch_counts.add(import_line(tx, &digest, line)?),
                    Piece::NotText => batch_counts.add(Taken::Unreadable),
                    Piece::TooLong(long) => batch_counts.too_long.push(*long),
                }
            }
            // A chunk that ends exactly at the end of the file finds so in the next.
            tx.execute(
                "UPDATE imports SET lines = CASE WHEN lines > ?2 THEN lines ELSE ?2 END,
                     runs = runs + ?3,
                     done = CASE WHEN ?4 THEN ?5 END
                 WHERE sha256 = ?1",
                params![
                    digest,
                    read as i64,
                    batch_counts.runs as i64,
                    end_of_file,
                    now()
                ],
            )?;
            counts.merge(batch_counts);
            Ok(end_of_file)
        })?;
        batches += 1;
        if finished {
            break;
        }
    }
    Ok(Imported::Done {
        runs: counts.runs,
        present: counts.present,
        unreadable: counts.unreadable,
        too_long: counts.too_long,
    })
}

/// A line of an imported file as read.
enum Piece {
    Text(String),
    /// Not UTF-8, so not an entry.
    NotText,
    TooLong(LongLine),
}

impl Piece {
    fn of(line: Line, number: u64) -> Piece {
        match line {
            Line::Kept(bytes) => String::from_utf8(bytes).map_or(Piece::NotText, Piece::Text),
            Line::TooLong { bytes } => Piece::TooLong(LongLine {
                line: number,
                bytes,
            }),
        }
    }

    /// The memory it holds.
    fn held(&self) -> usize {
        match self {
            Piece::Text(line) => line.len(),
            Piece::NotText | Piece::TooLong(_) => 0,
        }
    }
}

/// How far the import of the file with `digest` has come.
enum Progress {
    /// Lines taken so far (none when it has not begun).
    At(u64),
    /// Done, at this time.
    Finished(String),
}

fn progress(sql: &mut dyn Sql, digest: &str) -> DbResult<Progress> {
    let row: Option<(i64, Option<String>)> = sql
        .row(
            "SELECT lines, done FROM imports WHERE sha256 = ?1",
            params![digest],
        )?
        .map(|r| DbResult::Ok((r.get(0)?, r.get(1)?)))
        .transpose()?;
    Ok(match row {
        Some((_, Some(time))) => Progress::Finished(time),
        Some((lines, None)) => Progress::At(u64::try_from(lines).unwrap_or_default()),
        None => Progress::At(0),
    })
}

/// What an import did, line by line.
#[derive(Default)]
struct Counts {
    runs: u64,
    present: u64,
    unreadable: u64,
    too_long: Vec<LongLine>,
}

impl Counts {
    fn add(&mut self, taken: Taken) {
        match taken {
            Taken::NewRun => self.runs += 1,
            Taken::KnownRun => self.present += 1,
            Taken::Unreadable => self.unreadable += 1,
            Taken::Other => {}
        }
    }

    fn merge(&mut self, other: Counts) {
        self.runs += other.runs;
        self.present += other.present;
        self.unreadable += other.unreadable;
        self.too_long.extend(other.too_long);
    }
}

/// What became of one line of an imported file.
enum Taken {
    /// A run start, new here.
    NewRun,
    /// A run start of a run the journal had.
    KnownRun,
    /// Not a journal entry.
    Unreadable,
    /// A call or end, written or (of a run not this import's) left out; a blank line.
    Other,
}

fn import_line(conn: &mut dyn Sql, digest: &str, line: &str) -> DbResult<Taken> {
    if line.trim().is_empty() {
        return Ok(Taken::Other);
    }
    let Ok(entry) = serde_json::from_str::<Entry>(line) else {
        return Ok(Taken::Unreadable);
    };
    let run = entry.run();
    let mark = |conn: &mut dyn Sql| {
        conn.execute(
            "UPDATE runs SET import = ?2 WHERE run = ?1",
            params![run, digest],
        )
    };
    if let Entry::RunStart {
        time,
        plugin_sha256,
        params,
        pid,
        engine,
        expires,
        user,
        user_name,
        ..
    } = &entry
    {
        if insert(conn, &entry, None)? == 1 {
            return mark(conn).map(|_| Taken::NewRun);
        }
        if owner(conn, run, digest)? != Owner::ThisImport {
            return Ok(Taken::KnownRun);
        }
        // This import wrote the run from its end, which came first (a file not in time
        // order): the start fills in the rest.
        conn.execute(
            "UPDATE runs SET plugin_sha256 = ?2, params = ?3, pid = ?4, started = ?5,
                 engine = ?6, expires = COALESCE(expires, ?7), \"user\" = ?8, user_name = ?9
             WHERE run = ?1 AND started IS NULL",
            params![
                run,
                plugin_sha256,
                super::store::params_json(params),
                pid,
                time,
                engine,
                expires,
                user,
                user_name
            ],
        )?;
        return Ok(Taken::Other);
    }
    match owner(conn, run, digest)? {
        // A call or end of a run whose start is not in the journal (gc's, of a run of
        // another machine): kept, and an end makes the run this import's.
        Owner::Nobody => {
            insert(conn, &entry, None)?;
            if let Entry::RunEnd { .. } = entry {
                mark(conn)?;
            }
        }
        Owner::ThisImport => {
            insert(conn, &entry, None)?;
        }
        // The journal's own run, or another file's: left as it is.
        Owner::Other => {}
    }
    Ok(Taken::Other)
}

/// Who wrote a run's row.
#[derive(PartialEq, Eq)]
enum Owner {
    /// The journal has no such run.
    Nobody,
    /// The import of the file with this digest.
    ThisImport,
    /// A run recorded here, or another file's import.
    Other,
}

fn owner(conn: &mut dyn Sql, run: &str, digest: &str) -> DbResult<Owner> {
    let this: Option<bool> = conn
        .row(
            "SELECT import IS NOT DISTINCT FROM ?2 FROM runs WHERE run = ?1",
            params![run, digest],
        )?
        .map(|r| r.get(0))
        .transpose()?;
    Ok(match this {
        None => Owner::Nobody,
        Some(true) => Owner::ThisImport,
        Some(false) => Owner::Other,
    })
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

fn json_list<T: serde::de::DeserializeOwned + Default>(text: Option<String>) -> T {
    text.and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn u64_of(n: Option<i64>) -> u64 {
    n.and_then(|n| u64::try_from(n).ok()).unwrap_or_default()
}

fn decode_start(row: &Row) -> DbResult<Entry> {
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
        expires: row.get(9)?,
        user: row.get(10)?,
        user_name: row.get(11)?,
    })
}

fn decode_call(row: &Row) -> DbResult<Entry> {
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

fn decode_end(row: &Row) -> DbResult<Entry> {
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
        cause: row.get(11)?,
    })
}

fn decode_teardown(row: &Row) -> DbResult<Entry> {
    Ok(Entry::TornDown {
        time: row.get(0)?,
        run: row.get(1)?,
        team: row.get(2)?,
        removed: json_list(row.get(3)?),
        by: row.get(4)?,
    })
}

fn decode_lifetime(row: &Row) -> DbResult<Entry> {
    Ok(Entry::Lifetime {
        time: row.get(0)?,
        run: row.get(1)?,
        team: row.get(2)?,
        expires: row.get(3)?,
        by: row.get(4)?,
    })
}

fn decode_expired(row: &Row) -> DbResult<Entry> {
    Ok(Entry::Expired {
        time: row.get(0)?,
        run: row.get(1)?,
        team: row.get(2)?,
        removed: json_list(row.get(3)?),
    })
}

/// The six indexed streams of entries (starts, calls, ends, teardowns, lifetimes,
/// expiries) as one query in time order; among entries of the same millisecond:
/// starts, then calls, ends, teardowns. Each stream's columns are put in the same
/// places: `rank, time, seq`, then ten texts, then a number.
const ENTRIES: &str = "
    SELECT 0 AS rank, started AS t, seq, run, team, plugin, plugin_sha256, workflow, params,
           engine, expires, \"user\", user_name, pid AS n
    FROM runs WHERE started IS NOT NULL AND started >= ?1
    UNION ALL
    SELECT 1, time, seq, run, team, plugin, op, target, decision, rule, result, detail, NULL,
           duration_ms
    FROM calls WHERE time >= ?1
    UNION ALL
    SELECT 2, ended, seq, run, team, plugin, workflow, status, error, containers, images,
           rolled_back, cause, duration_ms
    FROM runs WHERE ended IS NOT NULL AND ended >= ?1
    UNION ALL
    SELECT 3, torn_down, seq, run, team, torn_down_removed, torn_down_by, NULL, NULL, NULL,
           NULL, NULL, NULL, NULL
    FROM runs WHERE torn_down IS NOT NULL AND torn_down >= ?1
    UNION ALL
    SELECT 4, time, seq, run, team, expires, by, NULL, NULL, NULL, NULL, NULL, NULL, NULL
    FROM lifetimes WHERE time >= ?1
    UNION ALL
    SELECT 5, expired, seq, run, team, expired_removed, NULL, NULL, NULL, NULL, NULL, NULL,
           NULL, NULL
    FROM runs WHERE expired IS NOT NULL AND expired_removed IS NOT NULL AND expired >= ?1
    ORDER BY t, rank, seq";

/// The entry one row of [`ENTRIES`] is.
fn decode(row: &Row) -> DbResult<Entry> {
    // The row's columns from the first text on, as each stream's decoder reads them:
    // its time first.
    let mut shifted = vec![row.0[1].clone()];
    shifted.extend(row.0[3..13].iter().cloned());
    let n = row.0[13].clone();
    let rank: i64 = row.get(0)?;
    let place = |mut values: Vec<super::db::Value>, at: usize| {
        values.insert(at, n.clone());
        Row(values)
    };
    match rank {
        0 => decode_start(&place(shifted, 7)),
        1 => decode_call(&place(shifted, 10)),
        2 => {
            // An end's `cause` comes after its duration.
            let cause = shifted.remove(10);
            let mut values = place(shifted, 10).0;
            values.push(cause);
            decode_end(&Row(values))
        }
        3 => decode_teardown(&Row(shifted)),
        4 => decode_lifetime(&Row(shifted)),
        _ => decode_expired(&Row(shifted)),
    }
}

/// Write every entry from `since` on (a time, or a prefix of one such as
/// `2026-11-01`; `None` for all) as JSON lines, in time order, one row at a time, so
/// memory stays flat however long the history (the store merges the six indexed
/// streams). Returns how many entries were written.
pub fn export(journal: &Journal, since: Option<&str>, out: &mut (dyn Write + Send)) -> Result<u64> {
    let since = since.unwrap_or("").to_string();
    let mut write_error = None;
    let mut written = 0u64;
    let result = journal.with("read", |sql| {
        sql.each(ENTRIES, params![since], &mut |row| {
            let entry = decode(&row)?;
            let line = serde_json::to_string(&entry).expect("entries encode");
            // An export is often read on a terminal: the same JSON, nothing it obeys.
            let line = crate::util::text::inert_json(&line);
            if let Err(e) = writeln!(out, "{line}") {
                write_error = Some(e);
                return Err(DbError::Refused(
                    "the export's output refused a write".into(),
                ));
            }
            written += 1;
            Ok(())
        })
    });
    if let Some(e) = write_error {
        return Err(e).context("cannot write the export");
    }
    result?;
    out.flush().context("cannot write the export")?;
    Ok(written)
}

/// Check an export's `--since`: a time as the journal writes them, or its start
/// (`2026-11-01`, `2026-11-01T12:00`); or an age back from now (`7d`, `12h`).
pub fn since(text: &str, now: std::time::SystemTime) -> Result<String, String> {
    if let Some(age) = crate::config::values::parse_age(text) {
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
mod tests;
