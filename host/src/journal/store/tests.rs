//! Unit tests of [`super`], kept apart so the module reads as its code.

use super::*;
use crate::journal::schema::{SCHEMA, SCHEMA_VERSION};

pub fn start(run: &str, team: &str, time: &str) -> Entry {
    Entry::RunStart {
        time: time.into(),
        run: run.into(),
        team: team.into(),
        plugin: "p".into(),
        plugin_sha256: "ab".into(),
        workflow: "w".into(),
        params: vec![("k".into(), "v".into())],
        pid: 1,
        engine: "default".into(),
        expires: None,
        user: None,
        user_name: None,
    }
}

pub fn call(run: &str, op: &str, result: &str, detail: &str, time: &str) -> Entry {
    Entry::Call {
        time: time.into(),
        run: run.into(),
        team: "blue".into(),
        plugin: "p".into(),
        op: op.into(),
        target: "x".into(),
        decision: "allowed".into(),
        rule: None,
        result: result.into(),
        detail: Some(detail.into()),
        duration_ms: 3,
    }
}

pub fn end(run: &str, status: &str, time: &str) -> Entry {
    Entry::RunEnd {
        time: time.into(),
        run: run.into(),
        team: "blue".into(),
        plugin: "p".into(),
        workflow: "w".into(),
        status: status.into(),
        error: (status == "failed").then(|| "boom".into()),
        cause: (status == "failed").then(|| "plugin".into()),
        containers: vec!["c1".into()],
        images: vec![],
        rolled_back: vec!["c1".into()],
        duration_ms: 42,
    }
}

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
fn timestamps_read_back_to_the_time_they_write() {
    // Every day of four years around a leap day, at a time with milliseconds.
    for day in 0..(4 * 366) {
        let t = SystemTime::UNIX_EPOCH
            + Duration::from_secs(946_684_800 + day * 86_400 + 45_296)
            + Duration::from_millis(789);
        assert_eq!(parse_timestamp(&timestamp(t)), Some(t), "{}", timestamp(t));
    }
    let t = parse_timestamp("2026-12-05T08:00:00Z").unwrap();
    assert_eq!(timestamp(t), "2026-12-05T08:00:00.000Z");
    for bad in [
        "",
        "2026-12-05",
        "2026-12-05T08:00:00",
        "2026-13-05T08:00:00Z",
        "2026-12-05T24:00:00Z",
        "2026-12-05T08:00:00.1234567890Z",
        "2026-12-05T08:00:00.x1Z",
        "20261-12-05T08:00:00Z",
        "2026-12-05T08:00Z",
    ] {
        assert_eq!(parse_timestamp(bad), None, "{bad}");
    }
}

#[test]
fn a_journal_is_created_in_wal_mode_and_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sub/journal.db");
    let journal = Journal::open(&path).unwrap();
    journal.record(&start("r1", "blue", "t0")).unwrap();
    journal.record(&end("r1", "ok", "t1")).unwrap();
    drop(journal);
    let journal = Journal::open(&path).unwrap();
    let (mode, status): (String, String) = journal
        .with("read", |c| {
            let mode = c.row("PRAGMA journal_mode", &[])?.unwrap().get(0)?;
            let status = c
                .row("SELECT status FROM runs WHERE run='r1'", &[])?
                .unwrap()
                .get(0)?;
            Ok((mode, status))
        })
        .unwrap();
    assert_eq!((mode.as_str(), status.as_str()), ("wal", "ok"));
}

#[test]
fn free_texts_are_kept_capped() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.db")).unwrap();
    let huge = "\u{1b}x".repeat(1 << 19);
    let mut started = start("r1", "blue", "t0");
    if let Entry::RunStart { params, .. } = &mut started {
        params.push(("big".into(), huge.clone()));
    }
    let mut called = call("r1", "inspect-container", "not-found", &huge, "t1");
    if let Entry::Call { target, .. } = &mut called {
        target.clone_from(&huge);
    }
    let mut ended = end("r1", "failed", "t2");
    if let Entry::RunEnd { error, .. } = &mut ended {
        *error = Some(huge.clone());
    }
    for e in [&started, &called, &ended] {
        journal.record(e).unwrap();
    }
    let texts: Vec<String> = journal
        .with("read", |c| {
            let r = c
                .row(
                    "SELECT r.params, r.error, c.target, c.detail FROM runs r, calls c",
                    &[],
                )?
                .unwrap();
            Ok(vec![r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?])
        })
        .unwrap();
    let params: Vec<(String, String)> = serde_json::from_str(&texts[0]).unwrap();
    assert_eq!(params[0], ("k".into(), "v".into()));
    assert_eq!(params[1].1.len(), text::CAP);
    for t in &texts[1..] {
        assert_eq!(t.len(), text::CAP);
        assert!(t.ends_with(text::MARKER));
    }
}

#[test]
fn an_observer_sees_what_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("j.db")).unwrap();
    let seen = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = seen.clone();
    assert!(journal
        .observe(Box::new(move |_| {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }))
        .is_ok());
    assert!(journal.observe(Box::new(|_| {})).is_err());
    journal.record(&start("r1", "blue", "t0")).unwrap();
    assert_eq!(seen.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn a_file_that_is_not_a_database_is_named_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    std::fs::write(&path, vec![b'x'; 8192]).unwrap();
    let e = format!("{:#}", Journal::open(&path).err().unwrap());
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("move it aside"), "{e}");
}

#[test]
fn a_database_of_a_later_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let e = format!("{:#}", Journal::open(&path).err().unwrap());
    assert!(
        e.contains("version 99") && e.contains("upgrade dockwright"),
        "{e}"
    );
}

#[test]
fn a_database_of_the_first_version_is_brought_up_to_date_keeping_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(SCHEMA).unwrap();
        conn.execute(
            "INSERT INTO runs (run, team, plugin, workflow, started, ended, status)
             VALUES ('a1', 'blue', 'p', 'w', 't0', 't1', 'failed')",
            [],
        )
        .unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
    }
    let journal = Journal::open(&path).unwrap();
    journal.record(&end("a2", "failed", "t2")).unwrap();
    let (version, causes) = journal
        .with("read", |conn| {
            let version: i64 = conn.row("PRAGMA user_version", &[])?.unwrap().get(0)?;
            let causes = conn
                .rows("SELECT run, cause FROM runs ORDER BY run", &[])?
                .iter()
                .map(|r| Ok((r.get(0)?, r.get(1)?)))
                .collect::<DbResult<Vec<(String, Option<String>)>>>()?;
            Ok((version, causes))
        })
        .unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    assert_eq!(
        causes,
        [("a1".into(), None), ("a2".into(), Some("plugin".into()))]
    );
}

/// How often an open was refused at once and tried again.
pub static OPEN_RETRIES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[test]
fn an_open_while_a_new_file_is_being_written_waits_for_it() {
    use std::sync::atomic::Ordering;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    // A new file, not yet in WAL mode, whose writer holds the write lock: SQLite
    // refuses a switch to WAL at once, without its busy timeout.
    let holder = Connection::open(&path).unwrap();
    holder
        .execute_batch("CREATE TABLE t (a); BEGIN IMMEDIATE")
        .unwrap();
    let before = OPEN_RETRIES.load(Ordering::SeqCst);
    let opener = std::thread::spawn({
        let path = path.clone();
        move || Journal::open(&path).map(|_| ())
    });
    while OPEN_RETRIES.load(Ordering::SeqCst) == before && !opener.is_finished() {
        std::thread::sleep(Duration::from_millis(5));
    }
    holder.execute_batch("COMMIT").unwrap();
    opener.join().unwrap().unwrap();
    assert!(OPEN_RETRIES.load(Ordering::SeqCst) > before);
    Journal::open(&path)
        .unwrap()
        .record(&start("r1", "blue", "t0"))
        .unwrap();
}

#[test]
fn a_locked_journal_fails_a_write_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.db");
    let journal = Journal::open(&path).unwrap();
    journal
        .sqlite(|c| c.busy_timeout(Duration::from_millis(10)))
        .unwrap();
    let holder = Connection::open(&path).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let e = format!(
        "{:#}",
        journal.record(&start("r1", "blue", "t0")).unwrap_err()
    );
    assert!(e.contains(&path.display().to_string()), "{e}");
    assert!(e.contains("locked by another process"), "{e}");
    holder.execute_batch("ROLLBACK").unwrap();
    journal.record(&start("r1", "blue", "t0")).unwrap();
}
