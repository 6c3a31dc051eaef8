//! Text a hostile plugin (or a forged file) writes, as the operator meets it: control
//! sequences that would take over a terminal are shown as text by every command that
//! prints them, a megabyte error is kept and served cut to 64 KiB, and an import of a
//! file with a 50 MB line skips that line in bounded memory.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use super::serve::{token, Server};
use crate::common::*;

/// What the `escapes` workflow of the hostile plugin writes, as the terminal must show it.
const SHOWN: &str = "\\x1b]0;pwned\\x07\\x1b[2J\\u{202e}desrever\\u{9b}31m";

/// What it writes, as JSON must carry it: exactly.
const RAW: &str = "\x1b]0;pwned\x07\x1b[2J\u{202e}desrever\u{9b}31m";

fn hostile_dir() -> tempfile::TempDir {
    plugin_dir(&[test_plugin("hostile.wasm")])
}

/// Fail when `text` holds a character a terminal would act on.
#[track_caller]
fn assert_inert(text: &str, what: &str) {
    let acting = text.char_indices().find(|(_, c)| {
        (c.is_control() && *c != '\n' && *c != '\t') || matches!(c, '\u{202a}'..='\u{202e}')
    });
    if let Some((at, c)) = acting {
        let from = text[..at]
            .char_indices()
            .rev()
            .nth(60)
            .map_or(0, |(i, _)| i);
        panic!(
            "{what} holds {c:?} at byte {at}: {:?}",
            &text[from..(at + 20).min(text.len())]
        );
    }
}

#[track_caller]
fn assert_run_inert(run: &Run, what: &str) {
    assert_ne!(run.code, 101, "dockwright panicked: {}", run.stderr);
    assert_inert(&run.stdout, &format!("{what}: stdout"));
    assert_inert(&run.stderr, &format!("{what}: stderr"));
}

#[test]
fn a_plugins_control_sequences_reach_no_terminal() {
    let team = Team::new("inert");
    let dir = hostile_dir();

    // Every line of the plugin (log, stdout, stderr) and its outputs, as text.
    let ok = team.dockwright(dir.path(), &["run", "escapes"]);
    assert_run_inert(&ok, "run");
    ok.assert_ok();
    for line in [
        format!("[hostile] log {SHOWN}"),
        format!("[hostile] warning: warn {SHOWN}"),
        format!("[hostile] stdout {SHOWN}\\rforged"),
        format!("[hostile] stderr {SHOWN}"),
    ] {
        assert!(
            ok.stderr.lines().any(|l| l == line),
            "no `{line}` in: {}",
            ok.stderr
        );
    }
    // A line of its own in a log message is still marked as the plugin's.
    assert!(
        ok.stderr
            .contains("\n[hostile] warning: [other-plugin] not me\n"),
        "{}",
        ok.stderr
    );
    assert!(
        ok.stdout.contains(&format!("output {SHOWN}")),
        "{}",
        ok.stdout
    );
    assert!(ok.stdout.contains(&format!("key{SHOWN}")), "{}", ok.stdout);

    // Its error, on the line that says the run failed.
    let failed = team.dockwright(dir.path(), &["run", "escapes", "-p", "fail=yes"]);
    assert_run_inert(&failed, "a failed run");
    let line = failed.assert_clean_failure("workflow `escapes` failed");
    assert!(line.contains(&format!("error {SHOWN}")), "{line}");

    // JSON says exactly what the plugin wrote, escaped as JSON escapes it.
    let (report, json_run) = run_workflow(dir.path(), &team, "escapes", &[]);
    assert_run_inert(&json_run, "run --json");
    assert_eq!(report["outputs"]["title"], format!("output {RAW}"));
    assert!(
        report["outputs"][format!("key{RAW}")].is_string(),
        "{report}"
    );

    // What the journal keeps, listed and shown.
    let failed_id = failed
        .stderr
        .lines()
        .find_map(|l| l.strip_suffix(')')?.rsplit_once("(run ").map(|(_, id)| id))
        .unwrap_or_else(|| panic!("no run id in: {}", failed.stderr))
        .to_string();
    let shown = team.dockwright(dir.path(), &["runs", "show", &failed_id]);
    assert_run_inert(&shown, "runs show");
    shown.assert_ok();
    assert!(
        shown.stdout.contains(&format!("error {SHOWN}")),
        "{}",
        shown.stdout
    );
    let listed = team.dockwright(dir.path(), &["runs"]);
    assert_run_inert(&listed, "runs");
    listed.assert_ok();
    let as_json = team.dockwright(dir.path(), &["runs", "show", &failed_id, "--json"]);
    as_json.assert_ok();
    assert!(as_json.json()["error"].as_str().unwrap().contains(RAW));

    // A batch: progress lines, the table of results, the failure.
    let batch = team.dockwright(dir.path(), &["run", "escapes", "--each", "fail=no,yes"]);
    assert_run_inert(&batch, "a batch");
    assert!(
        batch.stderr.contains(&format!("[hostile #1] log {SHOWN}")),
        "{}",
        batch.stderr
    );
    assert!(
        batch.stdout.contains(&format!("error {SHOWN}")),
        "{}",
        batch.stdout
    );

    // The plugin's description of itself.
    let plugins = team.dockwright(dir.path(), &["plugins"]);
    assert_run_inert(&plugins, "plugins");
    plugins.assert_ok();
}

#[test]
fn a_megabyte_error_is_kept_and_served_cut_to_64_kib() {
    let team = Team::new("big-error");
    let dir = hostile_dir();
    let token = token(&team, dir.path(), &team);
    let server = Server::start(&team, dir.path(), &["--max-body", "4000000"]);
    let value = "v".repeat(1 << 20);
    let cap = 64 * 1024;
    let marker = "… [cut at 64 KiB]";

    let body = json!({ "workflow": "echo-error", "params": { "value": value } });
    let answer = server.post("/v1/runs", &token, &body);
    assert!(
        answer.body.len() < 3 * cap,
        "the run answered {} bytes",
        answer.body.len()
    );
    let run = answer.json();
    assert_eq!(run["status"], "failed", "{run}");
    let id = run["id"].as_str().unwrap().to_string();
    let capped = |v: &Value, what: &str| {
        let text = v
            .as_str()
            .unwrap_or_else(|| panic!("{what} is not text: {v}"));
        assert!(text.len() <= cap, "{what} is {} bytes", text.len());
        assert!(text.ends_with(marker), "{what} does not say it was cut");
    };
    capped(&run["error"], "the error");
    capped(&run["params"]["value"], "the param");

    // Served from the journal: the listing that answered 2 MB, and the run itself.
    for path in [
        "/v1/runs?limit=3".to_string(),
        format!("/v1/runs/{id}/calls"),
    ] {
        let listed = server.get(&path, Some(&token));
        assert_eq!(listed.status, 200, "{}", listed.body);
        assert!(
            listed.body.len() < 3 * cap,
            "{path} answered {} bytes",
            listed.body.len()
        );
    }
    let listing = server.get("/v1/runs?limit=3", Some(&token)).json();
    capped(&listing["runs"][0]["error"], "the listed error");
    let from_journal = server
        .get(&format!("/v1/runs/{id}/calls"), Some(&token))
        .json();
    capped(&from_journal["error"], "the journal's error");
    capped(&from_journal["params"]["value"], "the journal's param");

    // And by the CLI.
    let shown = team.dockwright(dir.path(), &["runs", "show", &id]);
    shown.assert_ok();
    assert!(
        shown.stdout.len() < 3 * cap,
        "runs show printed {} bytes",
        shown.stdout.len()
    );
    let error = shown
        .stdout
        .lines()
        .find(|l| l.starts_with("error"))
        .unwrap();
    assert!(error.ends_with(marker), "{error}");
}

/// The peak resident memory of `cmd`, run under `/usr/bin/time -v`, in KiB; and the run.
fn peak_rss_kib(cmd: &Command) -> (u64, Run) {
    let time = Path::new("/usr/bin/time");
    assert!(
        time.exists(),
        "measuring memory needs GNU time: apt-get install time (.ci/run installs it)"
    );
    let report = tempfile::NamedTempFile::new_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let mut timed = Command::new(time);
    timed.arg("-v").arg("-o").arg(report.path());
    timed.arg(cmd.get_program()).args(cmd.get_args());
    for (key, value) in cmd.get_envs() {
        match value {
            Some(value) => timed.env(key, value),
            None => timed.env_remove(key),
        };
    }
    if let Some(cwd) = cmd.get_current_dir() {
        timed.current_dir(cwd);
    }
    let out = timed.output().expect("cannot run /usr/bin/time");
    let text = std::fs::read_to_string(report.path()).unwrap();
    let kib = text
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("Maximum resident set size (kbytes): ")
        })
        .unwrap_or_else(|| panic!("no peak memory in: {text}"))
        .parse()
        .unwrap();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    (kib, run)
}

#[test]
fn an_import_skips_a_50_mb_line_in_bounded_memory() {
    let team = Team::new("import-50mb");
    let dir = plugin_dir(&[]);
    let entry = |event: &str, run: &str, second: u32| {
        let time = format!("2026-11-01T00:00:{second:02}.000Z");
        let mut e = json!({
            "event": event, "time": time, "run": run, "team": team.name, "plugin": "p",
            "workflow": "w",
        });
        match event {
            "run-start" => {
                e["plugin_sha256"] = "ab".into();
                e["params"] = json!([]);
                e["pid"] = 1.into();
            }
            _ => {
                e["status"] = "ok".into();
                e["containers"] = json!([]);
                e["images"] = json!([]);
                e["rolled_back"] = json!([]);
                e["duration_ms"] = 1.into();
            }
        }
        e.to_string()
    };
    // One line of 50 MB between two runs: a run's start whose param is the bulk.
    let huge = json!({
        "event": "run-start", "time": "2026-11-01T00:00:02.000Z", "run": "huge",
        "team": team.name, "plugin": "p", "plugin_sha256": "ab", "workflow": "w",
        "params": [["value", "h".repeat(50 << 20)]], "pid": 1,
    })
    .to_string();
    let lines = [
        entry("run-start", "before", 0),
        entry("run-end", "before", 1),
        huge,
        entry("run-start", "after", 3),
        entry("run-end", "after", 4),
    ];
    let file = team.home.join("fifty-mb.jsonl");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    drop(lines);

    let cmd = team.command(dir.path(), &["runs", "import", file.to_str().unwrap()]);
    let (kib, run) = peak_rss_kib(&cmd);
    run.assert_ok();
    eprintln!("runs import of a file with a 50 MB line: peak RSS {kib} KiB");
    assert!(
        run.stderr.contains("warning: skipped line 3 of `"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("imported 2 run(s)"), "{}", run.stdout);
    assert!(kib < 128 * 1024, "runs import peaked at {kib} KiB");
    let listed = team.dockwright(dir.path(), &["runs", "--json"]).json();
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["before", "after"]);
}
