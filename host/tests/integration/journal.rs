//! The journal database: several processes writing at once, the upgrade from a
//! JSON-lines journal, retention, and what happens when it cannot be written.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::{json, Value};

use crate::common::*;
use crate::serve::{eventually, token, Server};

const IMAGE: &str = "image=dockwright/base:latest";

/// The journal's entries grouped by run, in the order the export wrote them.
fn by_run(entries: &[Value]) -> BTreeMap<String, Vec<Value>> {
    let mut runs: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for e in entries {
        runs.entry(e["run"].as_str().unwrap().to_string())
            .or_default()
            .push(e.clone());
    }
    runs
}

#[test]
fn cli_processes_and_a_server_write_at_once_and_lose_nothing() {
    images();
    let plugins = plugin_dir(&[test_plugin("probe.wasm")]);
    let team = Team::new("jr-many");
    let token = token(&team, plugins.path(), &team);
    let server = Server::start(&team, plugins.path(), &["--max-runs", "8"]);
    // Each run creates and starts two containers, fails, and is rolled back.
    let args = [
        "run",
        "create-then-fail",
        "-p",
        IMAGE,
        "-p",
        "count=2",
        "--json",
    ];
    let cli: Vec<_> = (0..4)
        .map(|_| {
            team.command(plugins.path(), &args)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let port = server.port;
    let http: Vec<_> = (0..4)
        .map(|_| {
            let token = token.clone();
            std::thread::spawn(move || {
                let body = json!({
                    "workflow": "create-then-fail",
                    "params": { "image": "dockwright/base:latest", "count": "2" }
                });
                let r = crate::serve::post_to(port, "/v1/runs", &token, &body);
                // The run fails on purpose: the plugin's failure is a 422, with the run.
                assert_eq!(r.status, 422, "{}", r.body);
                assert_eq!(r.json()["cause"], "plugin", "{}", r.body);
                r.json()["id"].as_str().unwrap().to_string()
            })
        })
        .collect();
    let mut ids: Vec<String> = http.into_iter().map(|t| t.join().unwrap()).collect();
    for child in cli {
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{out:?}");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        ids.push(report["run"].as_str().unwrap().to_string());
    }
    drop(server);

    let runs = by_run(&team.journal());
    assert_eq!(runs.len(), 8, "{:?}", runs.keys());
    for id in &ids {
        let entries = &runs[id];
        let events: Vec<&str> = entries
            .iter()
            .map(|e| e["event"].as_str().unwrap())
            .collect();
        assert_eq!(events.first(), Some(&"run-start"), "{id}: {events:?}");
        assert_eq!(events.last(), Some(&"run-end"), "{id}: {events:?}");
        assert_eq!(events.iter().filter(|e| **e == "run-end").count(), 1);
        let plugin_calls: Vec<&str> = entries
            .iter()
            .filter(|e| e["event"] == "call" && e["plugin"] == "probe")
            .map(|e| e["op"].as_str().unwrap())
            .collect();
        assert_eq!(
            plugin_calls,
            [
                "create-container",
                "start-container",
                "create-container",
                "start-container"
            ],
            "{id}"
        );
        let end = entries.last().unwrap();
        assert_eq!(end["status"], "failed", "{end}");
        assert_eq!(end["rolled_back"].as_array().unwrap().len(), 2, "{end}");
    }
    // The listing answers from the same store.
    let listed = team.dockwright(plugins.path(), &["runs", "--json", "--limit", "100"]);
    let listed: Vec<String> = listed
        .assert_ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed.len(), 8);
    assert!(ids.iter().all(|id| listed.contains(id)));
    assert!(team.containers().is_empty());
}

/// An entry as earlier versions wrote it to `journal.jsonl`.
fn line(entry: Value) -> String {
    entry.to_string() + "\n"
}

fn start(run: &str, team: &str, time: &str) -> String {
    line(json!({
        "event": "run-start", "time": time, "run": run, "team": team, "plugin": "probe",
        "plugin_sha256": "ab", "workflow": "create", "params": [["image", "x"]], "pid": 1,
    }))
}

fn call(run: &str, team: &str, time: &str) -> String {
    line(json!({
        "event": "call", "time": time, "run": run, "team": team, "plugin": "probe",
        "op": "create-container", "target": "x", "decision": "allowed", "result": "ok",
        "detail": "c0ffee", "duration_ms": 3,
    }))
}

fn end(run: &str, team: &str, time: &str) -> String {
    line(json!({
        "event": "run-end", "time": time, "run": run, "team": team, "plugin": "probe",
        "workflow": "create", "status": "ok", "containers": ["c0ffee"], "images": [],
        "rolled_back": [], "duration_ms": 9,
    }))
}

#[test]
fn an_old_json_lines_journal_is_imported_once_at_the_first_start() {
    let plugins = plugin_dir(&[]);
    let team = Team::new("jr-upgrade");
    let state = team.home.join("dockwright");
    std::fs::create_dir_all(&state).unwrap();
    let t = |s: u32| format!("2026-10-01T00:00:{s:02}.000Z");
    let old = [
        start("0190aaaa00001", &team.name, &t(1)),
        call("0190aaaa00001", &team.name, &t(2)),
        end("0190aaaa00001", &team.name, &t(3)),
        // A write torn by a crash: skipped, the rest kept.
        "{\"event\":\"run-st\n".to_string(),
        start("0190aaaa00002", &team.name, &t(4)),
    ]
    .concat();
    std::fs::write(state.join("journal.jsonl"), &old).unwrap();

    let first = team.dockwright(plugins.path(), &["runs", "--json"]);
    let listed = first.assert_ok().json();
    assert!(
        first
            .stderr
            .contains("imported 2 run(s) from the old journal"),
        "{}",
        first.stderr
    );
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["0190aaaa00001", "0190aaaa00002"]);
    assert_eq!(listed[0]["status"], "ok");
    // Never ended, and no process of this machine holds it.
    assert_eq!(listed[1]["status"], "died");
    assert!(!state.join("journal.jsonl").exists());
    let kept = state.join("journal.jsonl.imported");
    assert_eq!(std::fs::read_to_string(&kept).unwrap(), old);

    // The listing's filters are queries of the same store.
    let listed_as = |args: &[&str]| -> Vec<String> {
        let out = team.dockwright(plugins.path(), &[&["runs", "--json"], args].concat());
        let doc = out.assert_ok().json();
        let runs = doc.as_array().unwrap().iter();
        runs.map(|r| r["run"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(listed_as(&["--status", "died"]), ["0190aaaa00002"]);
    assert_eq!(listed_as(&["--status", "ok"]), ["0190aaaa00001"]);
    assert_eq!(
        listed_as(&["--team", &team.name, "--status", "ok"]),
        ["0190aaaa00001"]
    );
    assert!(listed_as(&["--team", "no-such-team"]).is_empty());
    let bad = team.dockwright(plugins.path(), &["runs", "--status", "lost"]);
    assert!(bad.stderr.contains("possible values"), "{}", bad.stderr);

    let again = team.dockwright(plugins.path(), &["runs"]);
    assert!(
        !again.assert_ok().stderr.contains("imported"),
        "{}",
        again.stderr
    );
    let shown = team.dockwright(plugins.path(), &["runs", "show", "0190aaaa00001", "--json"]);
    let shown = shown.assert_ok().json();
    assert_eq!(shown["calls"][0]["detail"], "c0ffee", "{shown}");
    assert_eq!(shown["engine"], "default", "{shown}");

    // Importing the same file again changes nothing and says so.
    let kept_arg = kept.display().to_string();
    let twice = team.dockwright(plugins.path(), &["runs", "import", &kept_arg]);
    assert!(
        twice.assert_ok().stdout.contains("already"),
        "{}",
        twice.stdout
    );
    // The export is the old file's entries (without the torn one), with engines named.
    let exported: Vec<Value> = team.journal();
    let wanted: Vec<Value> = old
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|mut e| {
            if e["event"] == "run-start" {
                e["engine"] = json!("default");
            }
            e
        })
        .collect();
    assert_eq!(exported, wanted);
    let since = team.dockwright(plugins.path(), &["runs", "export", "--since", &t(3)]);
    assert_eq!(
        since.assert_ok().stdout.lines().count(),
        2,
        "{}",
        since.stdout
    );
    let bad = team.dockwright(plugins.path(), &["runs", "export", "--since", "last week"]);
    bad.assert_clean_failure("`last week` is not a time");
    // And an export imports into another journal.
    let other = Team::new("jr-upgrade-b");
    let file = other.home.join("export.jsonl");
    let export = team.dockwright(plugins.path(), &["runs", "export"]);
    std::fs::write(&file, export.assert_ok().stdout.as_bytes()).unwrap();
    let file_arg = file.display().to_string();
    let imported = other.dockwright(plugins.path(), &["runs", "import", &file_arg]);
    assert!(
        imported.assert_ok().stdout.contains("imported 2 run(s)"),
        "{}",
        imported.stdout
    );
    assert_eq!(other.journal(), exported);
}

fn with_retention(team: &Team, retention: &str) {
    std::fs::write(
        team.home.join("dockwright.toml"),
        format!(
            "journal_retention = {retention}\n[teams.{}]\n{PERMISSIVE}",
            team.name
        ),
    )
    .unwrap();
}

fn import_lines(team: &Team, plugins: &Path, name: &str, lines: &[String]) {
    let file = team.home.join(name);
    std::fs::write(&file, lines.concat()).unwrap();
    let file = file.display().to_string();
    team.dockwright(plugins, &["runs", "import", &file])
        .assert_ok();
}

fn journal_runs(team: &Team) -> Vec<String> {
    by_run(&team.journal()).into_keys().collect()
}

#[test]
fn retention_prunes_runs_that_ended_and_keeps_the_rest() {
    let plugins = plugin_dir(&[test_plugin("probe.wasm")]);
    let team = Team::new("jr-retain");
    let n = &team.name;
    let now = |s: u32| {
        // Recent enough for any retention below: today, at second `s`.
        let out = sh("date", &["-u", "+%Y-%m-%dT%H:%M"]);
        format!("{}:{s:02}.000Z", out.trim())
    };
    let long_ago = |s: u32| format!("2020-01-01T00:00:{s:02}.000Z");
    import_lines(
        &team,
        plugins.path(),
        "a.jsonl",
        &[
            start("r-old1", n, &long_ago(1)),
            call("r-old1", n, &long_ago(2)),
            end("r-old1", n, &long_ago(3)),
            start("r-old2", n, &long_ago(4)),
            end("r-old2", n, &long_ago(5)),
            // Never ended: kept whatever the retention says.
            start("r-open", n, &long_ago(6)),
            start("r-new", n, &now(1)),
            end("r-new", n, &now(2)),
        ],
    );
    // By count, in the server's background: the two latest runs stay, and the run
    // that never ended.
    with_retention(&team, "2");
    let server = Server::start(&team, plugins.path(), &[]);
    eventually("the server prunes the journal", || {
        journal_runs(&team) == ["r-new", "r-open"]
    });
    drop(server);

    // By age, in `gc`: what ended before it goes, what did not end stays.
    with_retention(&team, "\"30d\"");
    import_lines(
        &team,
        plugins.path(),
        "b.jsonl",
        &[
            start("r-ancient", n, &long_ago(7)),
            end("r-ancient", n, &long_ago(8)),
            call("r-elsewhere", n, &long_ago(9)),
        ],
    );
    assert_eq!(
        journal_runs(&team),
        ["r-ancient", "r-elsewhere", "r-new", "r-open"]
    );
    let gc = team.dockwright(plugins.path(), &["gc"]);
    assert!(
        gc.assert_ok().stderr.contains("pruned 1 run(s)"),
        "{}",
        gc.stderr
    );
    assert_eq!(journal_runs(&team), ["r-new", "r-open"]);

    // A bad retention is named in the config.
    with_retention(&team, "\"forever\"");
    team.dockwright(plugins.path(), &["runs"])
        .assert_clean_failure("journal_retention");
}

/// A run that cannot write its start fails with an error that names the journal,
/// and nothing of it reaches the engine.
fn assert_refused_before_the_engine(team: &Team, plugins: &Path, needle: &str) -> String {
    let name = unique("jr-refused");
    let run = team.dockwright(
        plugins,
        &["run", "create", "-p", IMAGE, "-p", &format!("name={name}")],
    );
    let journal = team.journal_file().display().to_string();
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert_ne!(run.code, 101, "{}", run.stderr);
    assert!(run.stderr.contains(&journal), "{}", run.stderr);
    assert!(run.stderr.contains(needle), "{}", run.stderr);
    assert!(team.containers().is_empty(), "{:?}", team.containers());
    assert!(docker(&["ps", "-aq", "--filter", &format!("name={name}")])
        .trim()
        .is_empty());
    run.stderr
}

#[test]
fn a_corrupt_journal_is_named_with_what_to_do() {
    images();
    let plugins = plugin_dir(&[test_plugin("probe.wasm")]);
    let team = Team::new("jr-corrupt");
    std::fs::create_dir_all(team.journal_file().parent().unwrap()).unwrap();
    std::fs::write(team.journal_file(), vec![b'#'; 16 * 1024]).unwrap();
    assert_refused_before_the_engine(&team, plugins.path(), "move it aside");
    team.dockwright(plugins.path(), &["runs"])
        .assert_clean_failure("move it aside");
}

#[test]
fn a_locked_journal_stops_a_run_before_the_engine() {
    images();
    let plugins = plugin_dir(&[test_plugin("probe.wasm")]);
    let team = Team::new("jr-locked");
    team.dockwright(plugins.path(), &["runs"]).assert_ok();
    let holder = rusqlite::Connection::open(team.journal_file()).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    assert_refused_before_the_engine(&team, plugins.path(), "locked by another process");
    holder.execute_batch("ROLLBACK").unwrap();
    // Once it is free, runs go on.
    let name = unique("jr-free");
    team.dockwright(
        plugins.path(),
        &["run", "create", "-p", IMAGE, "-p", &format!("name={name}")],
    )
    .assert_ok();
}

/// A small file system of its own, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: PathBuf, size: &str) -> Tmpfs {
        std::fs::create_dir_all(&dir).unwrap();
        let dir_arg = dir.display().to_string();
        let out = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "tmpfs",
                &dir_arg,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cannot mount a tmpfs (tests run as root): {out:?}"
        );
        Tmpfs(dir)
    }

    /// Write a file until the file system has no room left.
    fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.0.join("filler")).unwrap();
        let block = vec![0u8; 4096];
        while f.write_all(&block).and_then(|_| f.sync_data()).is_ok() {}
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .args(["-l", &self.0.display().to_string()])
            .status();
    }
}

#[test]
fn a_full_disk_stops_a_run_before_the_engine() {
    images();
    let plugins = plugin_dir(&[test_plugin("probe.wasm")]);
    let team = Team::new("jr-full");
    // The team's state folder (its journal) on a disk of 1 MB.
    let disk = Tmpfs::mount(team.home.join("dockwright"), "1m");
    team.dockwright(plugins.path(), &["runs"]).assert_ok();
    disk.fill();
    assert_refused_before_the_engine(&team, plugins.path(), "free space");
    // Room again: the journal works, and kept what it had.
    std::fs::remove_file(disk.0.join("filler")).unwrap();
    let name = unique("jr-room");
    team.dockwright(
        plugins.path(),
        &["run", "create", "-p", IMAGE, "-p", &format!("name={name}")],
    )
    .assert_ok();
    assert_eq!(
        team.dockwright(plugins.path(), &["runs", "--json"])
            .json()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn a_call_the_journal_cannot_hold_stops_the_run_and_rolls_it_back() {
    images();
    let plugins = plugin_dir(&[test_plugin("probe.wasm")]);
    let team = Team::new("jr-midrun");
    let name = unique("jr-wait");
    let mut child = team
        .command(
            plugins.path(),
            &[
                "run",
                "create-and-wait",
                "-p",
                IMAGE,
                "-p",
                &format!("name={name}"),
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let file = team.journal_file();
    wait_for_helper("the waiting run", &mut child, &file, || {
        !team.calls("start-container").is_empty()
    });
    // The journal is held while the run's next call (the wait) comes back.
    let holder = rusqlite::Connection::open(&file).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    docker(&["kill", &name]);
    let out = child.wait_with_output().unwrap();
    holder.execute_batch("ROLLBACK").unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("nothing unaudited may happen"), "{stderr}");
    assert!(stderr.contains(&file.display().to_string()), "{stderr}");
    // Rolled back: nothing of the run is left.
    assert!(team.containers().is_empty(), "{:?}", team.containers());
    // What was journaled before stays.
    assert_eq!(team.calls("create-container").len(), 1);
}
