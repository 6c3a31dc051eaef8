//! `state-cost`: what the state costs a run on each store: the embedded one (an SQLite
//! journal, `flock`ed admission files) against the shared one (PostgreSQL, `[state]`).
//!
//! - journal: a run's five entries (its start, three calls, its end), each written in a
//!   transaction of its own, as a run writes them;
//! - admission: one create's admission without the engine: the team's lock, the count
//!   of the reservations in flight, a reservation of its own, the lock let go, the
//!   reservation dropped. On PostgreSQL through the library's own `journal::shared`; on
//!   files, the same five steps with `flock`, as `imports::admission` takes them.
//!
//! Each sequentially (one run at a time) and with `-j` threads at once (each its own
//! team for admission, so that what is measured is the store, not a team's turn).
//!
//! ```text
//! state-cost [--runs N] [-j J] DIR [postgres://...]
//! ```
//!
//! Prints one JSON document: per store and part, the median and mean cost per run (ms)
//! and the runs per second.

use std::fs::{File, OpenOptions};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use dockwright::journal::config::StateSettings;
use dockwright::journal::shared::{namespace, Reserved};
use dockwright::{timestamp, Entry, Journal};
use serde_json::{json, Value};

fn main() -> Result<()> {
    let mut runs = 500usize;
    let mut jobs = 8usize;
    let mut rest = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().context("--runs N")?.parse()?,
            "-j" => jobs = args.next().context("-j J")?.parse()?,
            _ => rest.push(arg),
        }
    }
    let dir = rest
        .first()
        .context("usage: state-cost [--runs N] [-j J] DIR [URL]")?;
    let dir = Path::new(dir);
    std::fs::create_dir_all(dir)?;
    let mut report = serde_json::Map::new();
    let lite = Arc::new(Journal::open(&dir.join("journal.db"))?);
    report.insert(
        "sqlite".into(),
        json!({
            "journal": both(runs, jobs, |i| write_run(&lite, &format!("l{i:08}"))),
            "admission": both(runs, jobs, |i| admit_files(dir, i % jobs.max(1))),
        }),
    );
    if let Some(url) = rest.get(1) {
        let shared = Arc::new(Journal::connect(&StateSettings {
            url: url.clone(),
            password_file: None,
            ca: None,
        })?);
        // One process's journal: its writes share one connection, as a server's do.
        report.insert(
            "postgres".into(),
            json!({
                "journal": both(runs, jobs, |i| write_run(&shared, &format!("p{i:08}"))),
                "admission": both(runs, jobs, |i| admit_shared(&shared, i % jobs.max(1))),
            }),
        );
    }
    println!("{}", serde_json::to_string_pretty(&Value::Object(report))?);
    Ok(())
}

/// `part` for `runs` runs one at a time, then `jobs` threads at once.
fn both(runs: usize, jobs: usize, part: impl Fn(usize) -> Result<()> + Sync) -> Value {
    json!({
        "sequential": measure(runs, 1, &part),
        "parallel": measure(runs, jobs, &part),
        "jobs": jobs,
    })
}

fn measure(runs: usize, jobs: usize, part: &(impl Fn(usize) -> Result<()> + Sync)) -> Value {
    let started = Instant::now();
    let mut costs: Vec<Duration> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..jobs)
            .map(|j| {
                s.spawn(move || {
                    (j..runs)
                        .step_by(jobs)
                        .map(|i| {
                            let t = Instant::now();
                            part(i + runs * jobs).expect("a run's state");
                            t.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    let wall = started.elapsed();
    costs.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    json!({
        "median_ms": ms(costs[costs.len() / 2]),
        "mean_ms": ms(costs.iter().sum::<Duration>() / costs.len() as u32),
        "runs_per_s": runs as f64 / wall.as_secs_f64(),
    })
}

/// A run's five entries, each in its own transaction.
fn write_run(journal: &Journal, id: &str) -> Result<()> {
    let now = timestamp(std::time::SystemTime::now());
    journal.record(&Entry::RunStart {
        time: now.clone(),
        run: id.into(),
        team: "bench".into(),
        plugin: "team-env".into(),
        plugin_sha256: "00".repeat(32),
        workflow: "env".into(),
        params: vec![("name".into(), id.into())],
        pid: std::process::id(),
        engine: "default".into(),
        expires: None,
        user: Some("uid:0".into()),
        user_name: None,
    })?;
    for op in ["create-container", "start-container", "inspect-container"] {
        journal.record(&Entry::Call {
            time: now.clone(),
            run: id.into(),
            team: "bench".into(),
            plugin: "team-env".into(),
            op: op.into(),
            target: "0".repeat(64),
            decision: "allowed".into(),
            rule: None,
            result: "ok".into(),
            detail: Some("0".repeat(64)),
            duration_ms: 100,
        })?;
    }
    journal.record(&Entry::RunEnd {
        time: now,
        run: id.into(),
        team: "bench".into(),
        plugin: "team-env".into(),
        workflow: "env".into(),
        status: "ok".into(),
        error: None,
        cause: None,
        containers: vec!["0".repeat(64)],
        images: vec![],
        rolled_back: vec![],
        duration_ms: 300,
    })?;
    Ok(())
}

/// One admission on the shared store: lock, count, reserve, unlock, release.
fn admit_shared(journal: &Journal, team: usize) -> Result<()> {
    let shared = journal.shared().context("not a shared journal")?;
    let team = format!("bench-{team}");
    let key = i32::try_from(team.len() * 7919 + team.bytes().map(usize::from).sum::<usize>())?;
    while !shared.try_lock(namespace::ADMISSION, key)? {
        std::thread::sleep(Duration::from_millis(1));
    }
    let _pending = shared.reservations("bench-engine", &team)?;
    let place = Reserved {
        token: format!("{:016x}", rand_u64()),
        kind: "create".into(),
        body: String::new(),
    };
    shared.reserve("bench-engine", &team, &place)?;
    shared.unlock(namespace::ADMISSION, key)?;
    shared.release(&place.token)?;
    Ok(())
}

/// One admission on files, as `imports::admission` takes it.
fn admit_files(dir: &Path, team: usize) -> Result<()> {
    let dir = dir.join("admission").join(format!("bench-{team}"));
    std::fs::create_dir_all(&dir)?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("lock"))?;
    while lock.try_lock().is_err() {
        std::thread::sleep(Duration::from_millis(1));
    }
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "create") {
            if let Ok(f) = File::open(&path) {
                let _ = f.try_lock();
            }
        }
    }
    let path = dir.join(format!("{:016x}.create", rand_u64()));
    let reservation = OpenOptions::new()
        .create_new(true)
        .write(true)
        .open(&path)?;
    reservation.try_lock()?;
    drop(lock);
    std::fs::remove_file(&path)?;
    drop(reservation);
    Ok(())
}

fn rand_u64() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now())
}
