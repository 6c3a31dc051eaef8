//! `journal-fill`: a journal database with a long history, for timing the queries
//! `dockwright runs` and `runs show` answer from.
//!
//! Each run is what a provisioning run journals: its start, three calls (create,
//! start, inspect) and its end, across 20 teams, one run a second back from now.
//! Written through the library's own store, in transactions of 10,000 runs.
//!
//! ```text
//! journal-fill DB RUNS
//! ```
//!
//! `DB` is an SQLite file, or a `postgres://` URL (the shared store of `[state]`).
//!
//! Prints the id of the oldest run and of the newest, one per line.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use dockwright::{timestamp, Entry, Journal};

const BATCH: u64 = 10_000;

fn main() -> Result<()> {
    let mut args = std::env::args().skip(1);
    let usage = "usage: journal-fill DB RUNS";
    let db = args.next().context(usage)?;
    let runs: u64 = args.next().context(usage)?.parse().context(usage)?;
    let journal = if db.starts_with("postgres://") {
        Journal::connect(&dockwright::journal::config::StateSettings {
            url: db.clone(),
            password_file: None,
            ca: None,
        })?
    } else {
        Journal::open(db.as_ref())?
    };
    let start = SystemTime::now() - Duration::from_secs(runs);
    let id = |i: u64| {
        let ms = (start + Duration::from_secs(i))
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis();
        format!("{ms:011x}{:05x}", i & 0xf_ffff)
    };
    let mut entries = Vec::with_capacity((BATCH * 5) as usize);
    let mut i = 0;
    while i < runs {
        entries.clear();
        for i in i..(i + BATCH).min(runs) {
            entries.extend(run(&id(i), i, start + Duration::from_secs(i)));
        }
        journal.record_all(&entries)?;
        i += BATCH;
    }
    println!("{}\n{}", id(0), id(runs.saturating_sub(1)));
    Ok(())
}

/// The five entries of run `i`, started at `at`.
fn run(id: &str, i: u64, at: SystemTime) -> [Entry; 5] {
    let team = format!("team-{}", i % 20);
    let time = |ms: u64| timestamp(at + Duration::from_millis(ms));
    let container = format!("{:064x}", i);
    let call = |op: &str, ms: u64| Entry::Call {
        time: time(ms),
        run: id.to_string(),
        team: team.clone(),
        plugin: "team-env".into(),
        op: op.into(),
        target: container.clone(),
        decision: "allowed".into(),
        rule: None,
        result: "ok".into(),
        detail: (op == "create-container").then(|| container.clone()),
        duration_ms: 12,
    };
    [
        Entry::RunStart {
            time: time(0),
            run: id.to_string(),
            team: team.clone(),
            plugin: "team-env".into(),
            plugin_sha256: "0".repeat(64),
            workflow: "provision".into(),
            params: vec![("name".into(), format!("env-{i}"))],
            pid: 1,
            engine: "default".into(),
            expires: None,
            user: Some(format!("user-{}", i % 7)),
            user_name: None,
        },
        call("create-container", 40),
        call("start-container", 80),
        call("inspect-container", 120),
        Entry::RunEnd {
            time: time(150),
            run: id.to_string(),
            team: team.clone(),
            plugin: "team-env".into(),
            workflow: "provision".into(),
            status: if i.is_multiple_of(10) { "failed" } else { "ok" }.into(),
            error: i.is_multiple_of(10).then(|| "boom".into()),
            cause: i.is_multiple_of(10).then(|| "plugin".into()),
            containers: vec![container.clone()],
            images: vec![],
            rolled_back: vec![],
            duration_ms: 150,
        },
    ]
}
