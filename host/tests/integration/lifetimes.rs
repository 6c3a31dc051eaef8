//! Lifetimes on the real engine: a team's environments carry their expiry, `gc` and a
//! running server reap them once it passed (never while their run runs), an extension
//! keeps one and one past the max is refused, a server started after an expiry reaps
//! at start, and `usage` adds up a journal of known runs. Waits are for an outcome, with
//! generous caps; no test asserts that something happens within a window.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{json, Value};

use crate::common::*;
use crate::serve::{events, http, serve_plugins, Server};

const LIFETIME: &str = r#"lifetime = { default = "2s", max = "1h", warn = "1s" }"#;

fn team_with(prefix: &str, extra: &str) -> Team {
    Team::with_policy(prefix, &format!("{PERMISSIVE}\n{extra}\n"))
}

fn hostile() -> tempfile::TempDir {
    images();
    plugin_dir(&[test_plugin("hostile.wasm")])
}

/// An RFC 3339 time as the host writes it, as a `SystemTime`.
fn parse_time(text: &str) -> SystemTime {
    dockwright::parse_timestamp(text).unwrap_or_else(|| panic!("not a host time: {text}"))
}

/// Sleep until the wall clock is past `at`: what comes after sees it expired.
fn wait_past(at: SystemTime) {
    while SystemTime::now() <= at + Duration::from_millis(50) {
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Wait, up to a generous cap, until `done`.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "{what} did not happen"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn exists(container: &str) -> bool {
    !docker(&["ps", "-aq", "--filter", &format!("id={container}")])
        .trim()
        .is_empty()
}

fn entries(team: &Team, event: &str, run: &str) -> Vec<Value> {
    team.journal()
        .into_iter()
        .filter(|e| e["event"] == event && e["run"] == run)
        .collect()
}

/// Run `outlive` of the hostile plugin: (run id, outputs).
fn outlive(
    team: &Team,
    plugins: &Path,
    ask: Option<&str>,
) -> (String, serde_json::Map<String, Value>) {
    let mut params = vec![("image", "dockwright/base:latest")];
    if let Some(ask) = ask {
        params.push(("ask", ask));
    }
    let (report, run) = run_workflow(plugins, team, "outlive", &params);
    assert_eq!(report["status"], "ok", "{report}\n{}", run.stderr);
    (
        report["run"].as_str().unwrap().to_string(),
        report["outputs"].as_object().unwrap().clone(),
    )
}

#[test]
fn a_plugin_cannot_outlive_its_team_and_gc_reaps_what_expired() {
    let team = team_with("life-gc", LIFETIME);
    let plugins = hostile();
    let (run, outputs) = outlive(&team, plugins.path(), None);
    // Ten years asked: refused, with the max named. Its own expiry label: refused.
    let lifetime = out(&outputs, "lifetime");
    assert!(
        lifetime.starts_with("refused") && lifetime.contains("max of 1h"),
        "{lifetime}"
    );
    let label = out(&outputs, "label");
    assert!(
        label.starts_with("refused") && label.contains("reserved"),
        "{label}"
    );
    // What it made carries the host's expiry, the one the journal has.
    let container = out(&outputs, "container").to_string();
    let expires = out(&outputs, "expires").to_string();
    let labels = inspect("container", &container)["Config"]["Labels"].clone();
    assert_eq!(labels["dockwright.expires"], expires.as_str());
    assert_eq!(
        entries(&team, "run-start", &run)[0]["expires"],
        expires.as_str()
    );
    let refused: Vec<Value> = team
        .calls("set-lifetime")
        .into_iter()
        .filter(|c| c["decision"] == "denied")
        .collect();
    assert_eq!(refused[0]["rule"], "lifetime.max", "{refused:?}");

    wait_past(parse_time(&expires));
    let gc = team.dockwright(plugins.path(), &["gc"]);
    assert_eq!(gc.code, 0, "{}\n{}", gc.stdout, gc.stderr);
    assert!(
        gc.stdout.contains(&run) && gc.stdout.contains("expired"),
        "{}",
        gc.stdout
    );
    assert!(!exists(&container), "the expired container is still there");
    let expired = entries(&team, "expired", &run);
    assert_eq!(expired.len(), 1, "{expired:?}");
    assert_eq!(expired[0]["removed"], json!([container]));
    let listed = team.dockwright(plugins.path(), &["runs", "--json"]);
    let runs: Value = listed.json();
    let mine = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run"] == run.as_str())
        .unwrap();
    assert!(mine["expired"]["time"].is_string(), "{mine}");
    // A second gc finds nothing more to reap.
    let again = team.dockwright(plugins.path(), &["gc"]);
    assert_eq!(again.code, 0);
    assert!(!again.stdout.contains(&run), "{}", again.stdout);
}

#[test]
fn an_extension_keeps_an_environment_and_one_past_the_max_is_refused() {
    let team = team_with("life-extend", LIFETIME);
    let plugins = hostile();
    // A workflow may ask for a lifetime within the max.
    let (run, outputs) = outlive(&team, plugins.path(), Some("1"));
    let container = out(&outputs, "container").to_string();
    assert_eq!(out(&outputs, "asked"), out(&outputs, "expires"));
    let expires = parse_time(out(&outputs, "expires"));

    let extended = team.dockwright(plugins.path(), &["extend", &run, "30m", "--json"]);
    assert_eq!(extended.code, 0, "{}", extended.stderr);
    let new = parse_time(extended.json()["expires"].as_str().unwrap());
    assert!(new > SystemTime::now() + Duration::from_secs(25 * 60));
    let past = team.dockwright(plugins.path(), &["extend", &run, "2h"]);
    assert_eq!(past.code, 1);
    assert!(
        past.stderr.contains("lifetime max of 1h"),
        "{}",
        past.stderr
    );
    assert!(past.stderr.contains("extend by at most"), "{}", past.stderr);
    let bad = team.dockwright(plugins.path(), &["extend", &run, "soon"]);
    bad.assert_clean_failure("is not a duration");

    // Past the first expiry, gc leaves it: the journal's expiry counts.
    wait_past(expires);
    let gc = team.dockwright(plugins.path(), &["gc"]);
    assert_eq!(gc.code, 0, "{}", gc.stderr);
    assert!(exists(&container));
    assert!(entries(&team, "expired", &run).is_empty());
    // Each change of the expiry is journaled with who asked.
    let lifetimes = entries(&team, "lifetime", &run);
    assert_eq!(lifetimes.len(), 2, "{lifetimes:?}");
    assert_eq!(lifetimes[0]["by"], "workflow");
    assert!(
        lifetimes[1]["by"].as_str().unwrap().contains("uid"),
        "{lifetimes:?}"
    );
}

#[test]
fn a_running_run_is_never_reaped() {
    let team = team_with("life-running", LIFETIME);
    let plugins = hostile();
    let mut child = team
        .command(
            plugins.path(),
            &["run", "block", "-p", "image=dockwright/base:latest"],
        )
        .spawn()
        .unwrap();
    eventually("the blocking run's container", || {
        !team.containers().is_empty()
    });
    let start = team
        .journal()
        .into_iter()
        .find(|e| e["event"] == "run-start")
        .unwrap();
    let run = start["run"].as_str().unwrap().to_string();
    wait_past(parse_time(start["expires"].as_str().unwrap()));
    let gc = team.dockwright(plugins.path(), &["gc"]);
    assert!(gc.stdout.contains("still running"), "{}", gc.stdout);
    assert_eq!(
        team.containers().len(),
        1,
        "a running run's container was reaped"
    );
    assert!(entries(&team, "expired", &run).is_empty());
    // SAFETY: signalling our own child by pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    child.wait().unwrap();
}

/// A webhook receiver: the JSON bodies POSTed to it, in order.
fn webhook() -> (u16, Arc<Mutex<Vec<Value>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok() {
                if let Ok(v) = serde_json::from_slice(&body) {
                    sink.lock().unwrap().push(v);
                }
            }
            let mut stream = reader.into_inner();
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (port, got)
}

fn token(team: &Team, plugins: &Path) -> String {
    let run = team.dockwright(plugins, &["token", "new", &team.name]);
    run.assert_ok();
    run.stdout.trim().to_string()
}

#[test]
fn a_server_reaps_on_its_own_warns_first_and_tells_the_stream_and_the_webhook() {
    let (hook, got) = webhook();
    let team = team_with(
        "life-serve",
        &format!(
            "lifetime = {{ default = \"3s\", max = \"1h\", warn = \"2s\" }}\nwebhook = \"http://127.0.0.1:{hook}/hook\""
        ),
    );
    let plugins = serve_plugins();
    let token = token(&team, plugins.path());
    let server = Server::start(&team, plugins.path(), &[]);
    let body = json!({ "workflow": "outlive", "params": { "image": "dockwright/base:latest" } });
    let made = server.post("/v1/runs", &token, &body);
    assert_eq!(made.status, 201, "{}", made.body);
    let run = made.json()["id"].as_str().unwrap().to_string();
    let container = made.json()["outputs"]["container"]
        .as_str()
        .unwrap()
        .to_string();
    // The stream follows the environment until it is gone.
    let sse = server.get(
        &format!("/v1/runs/{run}/events?environment=true"),
        Some(&token),
    );
    assert_eq!(sse.status, 200);
    let kinds: Vec<String> = events(&sse.body).into_iter().map(|(e, ..)| e).collect();
    let at = |kind: &str| {
        kinds
            .iter()
            .position(|k| k == kind)
            .unwrap_or_else(|| panic!("no {kind} in {kinds:?}"))
    };
    assert!(
        at("end") < at("expiring") && at("expiring") < at("expired"),
        "{kinds:?}"
    );
    assert!(!exists(&container));
    let shown = server.get(&format!("/v1/runs/{run}"), Some(&token)).json();
    assert_eq!(shown["expired"]["removed"], json!([container]), "{shown}");
    eventually("both webhook notices", || got.lock().unwrap().len() >= 2);
    let notices: Vec<(String, String)> = got
        .lock()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["event"].as_str().unwrap().into(),
                n["run"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        notices,
        vec![
            ("expiring".into(), run.clone()),
            ("expired".into(), run.clone())
        ]
    );
    let metrics = server.get("/metrics", None).body;
    assert!(
        metrics.contains(&format!(
            "dockwright_environments_expired{{team=\"{}\"}} 1",
            team.name
        )),
        "{metrics}"
    );
    assert_eq!(entries(&team, "expired", &run).len(), 1);
}

#[test]
fn extensions_teardowns_and_usage_over_http() {
    let team = team_with("life-http", LIFETIME.replace("2s", "30m").as_str());
    let plugins = serve_plugins();
    let token = token(&team, plugins.path());
    let server = Server::start(&team, plugins.path(), &[]);
    let body = json!({ "workflow": "outlive", "params": { "image": "dockwright/base:latest" } });
    let made = server.post("/v1/runs", &token, &body);
    assert_eq!(made.status, 201, "{}", made.body);
    let run = made.json()["id"].as_str().unwrap().to_string();
    let first = parse_time(made.json()["expires"].as_str().unwrap());

    let path = format!("/v1/runs/{run}/extend");
    let ok = server.post(&path, &token, &json!({ "by": "15m" }));
    assert_eq!(ok.status, 200, "{}", ok.body);
    let moved = parse_time(ok.json()["expires"].as_str().unwrap());
    assert!(moved >= first + Duration::from_secs(15 * 60) - Duration::from_millis(5));
    assert!(ok.json()["by"].as_str().unwrap().starts_with("token"));
    server
        .post(&path, &token, &json!({ "by": "2h" }))
        .error(403, "lifetime max of 1h");
    server
        .post(&path, &token, &json!({ "bye": "1h" }))
        .error(400, "unknown field `bye`");
    server
        .post(&path, &token, &json!({ "by": "soon" }))
        .error(400, "not a duration");
    server
        .post(
            "/v1/runs/0123456789abcdef/extend",
            &token,
            &json!({ "by": "1h" }),
        )
        .error(404, "no run");
    let listed = server.get("/v1/runs", Some(&token)).json();
    assert_eq!(listed["lifetime"]["max_s"], 3600, "{listed}");
    assert!(listed["runs"][0]["expires"].is_string(), "{listed}");

    // Usage: the run's environment, with its two containers' limits.
    let usage = server.get("/v1/usage?since=1d", Some(&token)).json();
    let rows = usage["usage"].as_array().unwrap();
    let outlive = rows.iter().find(|r| r["workflow"] == "outlive").unwrap();
    assert_eq!(outlive["environments"], 1, "{usage}");
    assert_eq!(outlive["peak_containers"], 1, "{usage}");
    assert!(outlive["container_hours"].as_f64().unwrap() > 0.0);
    server
        .get("/v1/usage?since=soon", Some(&token))
        .error(400, "age");

    // A teardown ends a stream that follows the environment.
    let port = server.port;
    let (t, r) = (token.clone(), run.clone());
    let follower = std::thread::spawn(move || {
        http(
            port,
            "GET",
            &format!("/v1/runs/{r}/events?environment=true"),
            Some(&t),
            None,
            &[],
        )
    });
    let down = server.delete(&format!("/v1/runs/{run}"), &token);
    assert_eq!(down.status, 200, "{}", down.body);
    // The follower may have subscribed before or after the teardown: either way it ends.
    let followed = follower.join().unwrap();
    let kinds: Vec<String> = events(&followed.body)
        .into_iter()
        .map(|(e, ..)| e)
        .collect();
    assert_eq!(kinds.first().map(String::as_str), Some("end"), "{kinds:?}");
    server
        .post(&path, &token, &json!({ "by": "1h" }))
        .error(409, "torn down");
}

#[test]
fn a_server_started_after_an_expiry_reaps_at_start() {
    let team = team_with("life-restart", LIFETIME);
    let plugins = serve_plugins();
    let (run, outputs) = outlive(&team, plugins.path(), None);
    let container = out(&outputs, "container").to_string();
    wait_past(parse_time(out(&outputs, "expires")));
    assert!(exists(&container));
    let _server = Server::start(&team, plugins.path(), &[]);
    eventually("the reaping at start", || !exists(&container));
    eventually("the journal's expiry", || {
        !entries(&team, "expired", &run).is_empty()
    });
}

#[test]
fn usage_of_a_journal_of_known_runs_is_what_the_hand_computes() {
    let team = Team::new("usage");
    let gib = 1u64 << 30;
    let t = |h: u32, m: u32| format!("2026-11-02T{h:02}:{m:02}:00.000Z");
    let call = |run: &str, time: String, op: &str, target: &str, detail: Option<String>| {
        json!({ "event": "call", "time": time, "run": run, "team": team.name, "plugin": "p",
                "op": op, "target": target, "decision": "allowed", "result": "ok",
                "detail": detail, "duration_ms": 1 })
    };
    let start = |run: &str, workflow: &str, time: String| {
        json!({ "event": "run-start", "time": time, "run": run, "team": team.name, "plugin": "p",
                "plugin_sha256": "00", "workflow": workflow, "params": [], "pid": 1 })
    };
    let end = |run: &str, workflow: &str, time: String, rolled: &[&str]| {
        json!({ "event": "run-end", "time": time, "run": run, "team": team.name, "plugin": "p",
                "workflow": workflow, "status": if rolled.is_empty() { "ok" } else { "failed" },
                "containers": [], "images": [], "rolled_back": rolled, "duration_ms": 1 })
    };
    let lines = vec![
        // web: two containers from 10:00; a runs 10:00-12:00 then is removed at 13:00,
        // b runs 10:00 to its teardown at 14:00. 1 GiB and 2 CPUs each.
        start("u1", "web", t(10, 0)),
        call(
            "u1",
            t(10, 0),
            "create-container",
            "a (img)",
            Some(format!("aaaa0001 memory={gib} cpus=2")),
        ),
        call(
            "u1",
            t(10, 0),
            "create-container",
            "img",
            Some(format!("bbbb0002 memory={gib} cpus=2")),
        ),
        call("u1", t(10, 0), "start-container", "a", None),
        call("u1", t(10, 0), "start-container", "bbbb0002", None),
        call("u1", t(12, 0), "stop-container", "a", None),
        call("u1", t(13, 0), "remove-container", "aaaa0001", None),
        end("u1", "web", t(10, 1), &[]),
        json!({ "event": "torn-down", "time": t(14, 0), "run": "u1", "team": team.name, "removed": ["bbbb0002"] }),
        // db: failed, its container (512 MiB, 1 CPU) ran 11:00-11:30 and was rolled back.
        start("u2", "db", t(11, 0)),
        call(
            "u2",
            t(11, 0),
            "create-container",
            "img",
            Some(format!("cccc0003 memory={} cpus=1", gib / 2)),
        ),
        call("u2", t(11, 0), "start-container", "cccc0003", None),
        end("u2", "db", t(11, 30), &["cccc0003"]),
    ];
    let file = team.home.join("known.jsonl");
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    std::fs::write(&file, text.join("\n")).unwrap();
    team.dockwright(&team.home, &["runs", "import", file.to_str().unwrap()])
        .assert_ok();
    let usage = team.dockwright(&team.home, &["usage", "--since", "3650d", "--json"]);
    usage.assert_ok();
    let doc = usage.json();
    let row = |workflow: Value| -> Value {
        doc["usage"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["workflow"] == workflow)
            .cloned()
            .unwrap_or_else(|| panic!("no row {workflow} in {doc}"))
    };
    // By hand: web 4 h of environment (10-14), 3 + 4 container-hours, running a 2 h and
    // b 4 h: 6 GiB-h and 12 CPU-h; both at once. db: 0.5 h of each, 0.25 GiB-h, 0.5 CPU-h.
    let web = row(json!("web"));
    let db = row(json!("db"));
    let all = row(Value::Null);
    let nums = |r: &Value| {
        [
            "environments",
            "environment_hours",
            "container_hours",
            "memory_gib_hours",
            "cpu_hours",
            "peak_containers",
        ]
        .map(|k| r[k].as_f64().unwrap())
    };
    assert_eq!(nums(&web), [1.0, 4.0, 7.0, 6.0, 12.0, 2.0], "{web}");
    assert_eq!(nums(&db), [1.0, 0.5, 0.5, 0.25, 0.5, 1.0], "{db}");
    assert_eq!(nums(&all), [2.0, 4.5, 7.5, 6.25, 12.5, 3.0], "{all}");
    let text = team.dockwright(
        &team.home,
        &["usage", "--team", &team.name, "--since", "3650d"],
    );
    text.assert_ok();
    assert!(
        text.stdout.contains("(all)") && text.stdout.contains("12.50"),
        "{}",
        text.stdout
    );
    team.dockwright(&team.home, &["usage", "--team", "nobody"])
        .assert_clean_failure("no team `nobody`");
    // Nothing of it in the last 30 days: no rows of zeros.
    let recent = team.dockwright(&team.home, &["usage"]);
    recent.assert_ok();
    assert!(
        recent.stdout.starts_with("No environments since"),
        "{}",
        recent.stdout
    );
}

#[test]
fn an_engine_that_does_not_answer_is_retried_never_counted_as_reaped() {
    // The run's engine is a port nothing listens on.
    let team = team_with(
        "life-down",
        &format!("{LIFETIME}\n[engines.far]\nhost = \"tcp://127.0.0.1:1\""),
    );
    let lines = [
        json!({ "event": "run-start", "time": "2026-11-02T10:00:00.000Z", "run": "down1",
                "team": team.name, "plugin": "p", "plugin_sha256": "00", "workflow": "env",
                "params": [], "pid": 1, "engine": "far",
                "expires": "2026-11-02T10:00:02.000Z" }),
        json!({ "event": "run-end", "time": "2026-11-02T10:00:01.000Z", "run": "down1",
                "team": team.name, "plugin": "p", "workflow": "env", "status": "ok",
                "containers": ["c1"], "images": [], "rolled_back": [], "duration_ms": 1 }),
    ];
    let file = team.home.join("down.jsonl");
    let text: Vec<String> = lines.iter().map(Value::to_string).collect();
    std::fs::write(&file, text.join("\n")).unwrap();
    team.dockwright(&team.home, &["runs", "import", file.to_str().unwrap()])
        .assert_ok();
    for _ in 0..2 {
        let gc = team.dockwright(&team.home, &["gc"]);
        assert_ne!(gc.code, 0, "{}", gc.stdout);
        assert!(
            gc.stdout.contains("down1") && gc.stdout.contains("not reaped"),
            "{}\n{}",
            gc.stdout,
            gc.stderr
        );
        assert!(entries(&team, "expired", "down1").is_empty());
    }
    let runs: Value = team.dockwright(&team.home, &["runs", "--json"]).json();
    assert!(runs[0]["expired"].is_null(), "{runs}");
}
