//! Unit tests of [`super`], kept apart so the module reads as its code.

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
        Entry::TornDown {
            time: t(5),
            run: "r1".into(),
            team: "blue".into(),
            removed: vec!["c1".into()],
            by: Some("bob@example.test (bob)".into()),
        },
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
            unreadable: 1,
            too_long: vec![]
        }
    );
    let got = exported(&other, None);
    assert_eq!(got.len(), 6, "{got:?}");
    assert!(got.contains(&entries[3]) && got.contains(&entries[5]));
    assert!(got.contains(&entries[6]), "the teardown comes with its run");
    // r2's call was the journal's to have, not the file's.
    assert!(!got.contains(&entries[4]));
    // The same file again is refused; nothing is doubled.
    assert!(matches!(
        import(&other, &file).unwrap(),
        Imported::Already { .. }
    ));
    assert_eq!(exported(&other, None).len(), 6);
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
            unreadable: 0,
            too_long: vec![]
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
            unreadable: 0,
            too_long: vec![]
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
fn an_import_cannot_rewrite_a_run_the_journal_has() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("journal.db")).unwrap();
    let t = |s: u32| format!("2026-11-01T00:00:{s:02}.000Z");
    // A run of this journal, still running: gc is to find what it leaves.
    let own = [
        start("live", "red", &t(1)),
        call("live", "create-container", "ok", "c1", &t(2)),
    ];
    for e in &own {
        journal.record(e).unwrap();
    }
    // A file that would end it, hide its container and add a call to it.
    let forged = [
        start("live", "blue", &t(1)),
        call("live", "remove-container", "ok", "c1", &t(3)),
        end("live", "ok", &t(4)),
    ];
    let lines: Vec<String> = forged
        .iter()
        .map(|e| serde_json::to_string(e).unwrap())
        .collect();
    let file = dir.path().join("forged.jsonl");
    std::fs::write(&file, lines.join("\n")).unwrap();
    assert_eq!(
        import(&journal, &file).unwrap(),
        Imported::Done {
            runs: 0,
            present: 1,
            unreadable: 0,
            too_long: vec![]
        }
    );
    assert_eq!(exported(&journal, None), own);
    let unended = super::super::history::unended(&journal, dir.path()).unwrap();
    assert_eq!(unended[0].run, "live");
    assert_eq!(unended[0].team, "red");
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
fn a_line_too_long_to_be_an_entry_is_skipped_and_named() {
    let dir = tempfile::tempdir().unwrap();
    let (file, entries) = three_runs(dir.path());
    let text = std::fs::read_to_string(&file).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    let long = format!("{{\"event\":\"call\",\"x\":\"{}\"}}", "y".repeat(MAX_LINE));
    lines.insert(1, &long);
    std::fs::write(&file, lines.join("\n")).unwrap();
    let journal = Journal::open(&dir.path().join("journal.db")).unwrap();
    let Imported::Done { runs, too_long, .. } = import_batches(&journal, &file, 2, None).unwrap()
    else {
        panic!("imported already")
    };
    assert_eq!(runs, 3);
    let bytes = long.len() as u64;
    assert_eq!(too_long, [LongLine { line: 2, bytes }]);
    assert_eq!(exported(&journal, None), entries);
    let told = skipped_long(&file, &too_long).unwrap();
    assert!(told.starts_with("skipped line 2 of `"), "{told}");
    let many: Vec<LongLine> = (1..=25).map(|line| LongLine { line, bytes }).collect();
    let told = skipped_long(&file, &many).unwrap();
    assert!(
        told.ends_with("so were lines 2, 3, 4, 5, 6, 7, 8, 9, 10 and 15 more"),
        "{told}"
    );
    assert_eq!(skipped_long(&file, &[]), None);
}

#[test]
fn the_longest_entries_an_export_writes_import_back() {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join("a.db")).unwrap();
    // Control characters, which JSON writes six times as long, in every free text.
    let worst = "\u{1}".repeat(1 << 20);
    let t = |s: u32| format!("2026-11-01T00:00:{s:02}.000Z");
    let mut started = start("r1", "blue", &t(1));
    if let Entry::RunStart { params, .. } = &mut started {
        params.extend((0..8).map(|i| (format!("p{i}"), worst.clone())));
    }
    let mut called = call("r1", "create-container", "invalid", &worst, &t(2));
    if let Entry::Call { target, .. } = &mut called {
        target.clone_from(&worst);
    }
    let mut ended = end("r1", "failed", &t(3));
    if let Entry::RunEnd { error, .. } = &mut ended {
        *error = Some(worst);
    }
    for e in [&started, &called, &ended] {
        journal.record(e).unwrap();
    }
    let mut out = Vec::new();
    export(&journal, None, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.lines().all(|l| l.len() < MAX_LINE));
    let file = dir.path().join("worst.jsonl");
    std::fs::write(&file, &text).unwrap();
    let other = Journal::open(&dir.path().join("b.db")).unwrap();
    let Imported::Done { runs, too_long, .. } = import(&other, &file).unwrap() else {
        panic!("imported already")
    };
    assert_eq!((runs, too_long), (1, vec![]));
    assert_eq!(exported(&other, None), exported(&journal, None));
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
    let (journal, message) = open_configured(Some(&legacy), None).unwrap();
    assert_eq!(
        journal.path(),
        Some(dir.path().join("journal.db").as_path())
    );
    let message = message.unwrap();
    assert!(message.contains("imported 1 run(s)"), "{message}");
    assert!(!legacy.exists());
    assert!(dir.path().join("journal.jsonl.imported").exists());
    assert_eq!(exported(&journal, None).len(), 2);
    drop(journal);
    let (journal, message) = open_configured(Some(&legacy), None).unwrap();
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
