//! The audit journal: one JSON object per line, appended, never rewritten. Every
//! Docker call a plugin makes is recorded with the decision and the result, and each
//! run's start and end with its status, so "who did what to the shared engine" has
//! an answer after the fact.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::SystemTime;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// One line of the journal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Entry {
    RunStart {
        time: String,
        run: String,
        team: String,
        plugin: String,
        plugin_sha256: String,
        workflow: String,
        params: Vec<(String, String)>,
        /// The host process, for telling live runs from dead ones.
        pid: u32,
        /// The engine the run is on (`default`, or a name of the config's `[engines]`);
        /// journals written before engines had names read as `default`.
        #[serde(default = "default_engine")]
        engine: String,
    },
    Call {
        time: String,
        run: String,
        team: String,
        plugin: String,
        op: String,
        target: String,
        /// `allowed` or `denied`.
        decision: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
        /// `ok`, or the error case (`not-found`, `denied`, ...).
        result: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        duration_ms: u64,
    },
    RunEnd {
        time: String,
        run: String,
        team: String,
        plugin: String,
        workflow: String,
        /// `ok` or `failed`.
        status: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        containers: Vec<String>,
        images: Vec<String>,
        rolled_back: Vec<String>,
        duration_ms: u64,
    },
}

fn default_engine() -> String {
    crate::policy::config::DEFAULT_ENGINE.to_string()
}

impl Entry {
    pub fn team(&self) -> &str {
        match self {
            Entry::RunStart { team, .. }
            | Entry::Call { team, .. }
            | Entry::RunEnd { team, .. } => team,
        }
    }

    pub fn run(&self) -> &str {
        match self {
            Entry::RunStart { run, .. } | Entry::Call { run, .. } | Entry::RunEnd { run, .. } => {
                run
            }
        }
    }
}

/// An open journal, shared by the runs of a process.
pub struct Journal {
    path: PathBuf,
    file: Mutex<File>,
    /// Told of every entry this process records (the server counts denials with it).
    observer: OnceLock<Observer>,
}

/// What [`Journal::observe`] calls with each entry.
pub type Observer = Box<dyn Fn(&Entry) + Send + Sync>;

impl Journal {
    /// Open (creating it and its folder if needed) for appending.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the journal folder `{}`", dir.display()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .with_context(|| {
                format!("cannot open the journal `{}` for appending", path.display())
            })?;
        Ok(Self {
            path: path.to_path_buf(),
            file: Mutex::new(file),
            observer: OnceLock::new(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Call `observer` with every entry recorded from now on. One observer per
    /// journal: a second is refused (returned), not silently dropped.
    pub fn observe(&self, observer: Observer) -> Result<(), Observer> {
        self.observer.set(observer)
    }

    /// Append one entry as one write, so lines from concurrent processes do not
    /// interleave. A journal that cannot be written is reported, not fatal to the run:
    /// the run's containers are labelled either way.
    pub fn record(&self, entry: &Entry) {
        let mut line = match serde_json::to_vec(entry) {
            Ok(line) => line,
            Err(e) => return eprintln!("warning: cannot encode a journal entry: {e}"),
        };
        line.push(b'\n');
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = file.write_all(&line) {
            eprintln!(
                "warning: cannot write the journal `{}`: {e}",
                self.path.display()
            );
        }
        drop(file);
        if let Some(observer) = self.observer.get() {
            observer(entry);
        }
    }
}

/// Read every entry. Lines that do not parse (a torn write, another version's
/// event) are counted and skipped, never fatal.
pub fn read(path: &Path) -> Result<(Vec<Entry>, usize)> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), 0)),
        Err(e) => {
            return Err(e).with_context(|| format!("cannot read the journal `{}`", path.display()))
        }
    };
    let mut entries = Vec::new();
    let mut skipped = 0;
    for line in BufReader::new(file).lines() {
        let line = line.with_context(|| format!("cannot read the journal `{}`", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        match serde_json::from_str(&line) {
            Ok(entry) => entries.push(entry),
            Err(_) => skipped += 1,
        }
    }
    Ok((entries, skipped))
}

/// A time as RFC 3339 in UTC with milliseconds, such as `2026-11-23T18:01:49.123Z`.
pub fn timestamp(t: SystemTime) -> String {
    let d = t.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

pub fn now() -> String {
    timestamp(SystemTime::now())
}

/// Days since 1970-01-01 to (year, month, day), after Howard Hinnant's algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps() {
        let at = |s: u64, ms: u64| {
            timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(s) + Duration::from_millis(ms))
        };
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_795_456_909, 123), "2026-11-23T18:01:49.123Z");
    }

    #[test]
    fn entries_round_trip_and_bad_lines_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/journal.jsonl");
        let journal = Journal::open(&path).unwrap();
        let call = Entry::Call {
            time: now(),
            run: "r1".into(),
            team: "blue".into(),
            plugin: "p".into(),
            op: "create-container".into(),
            target: "web:latest".into(),
            decision: "denied".into(),
            rule: Some("images".into()),
            result: "denied".into(),
            detail: None,
            duration_ms: 1,
        };
        journal.record(&call);
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"{torn\n")
            .unwrap();
        journal.record(&call);
        let (entries, skipped) = read(&path).unwrap();
        assert_eq!(entries, [call.clone(), call]);
        assert_eq!(skipped, 1);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("{\"event\":\"call\""), "{text}");
    }

    #[test]
    fn a_missing_journal_reads_empty() {
        let (entries, skipped) = read(Path::new("/no/such/journal.jsonl")).unwrap();
        assert!(entries.is_empty() && skipped == 0);
    }
}
