//! The state in PostgreSQL (`[state] url`): the journal's queries answering the same
//! on both stores, several servers and a CLI on one database sharing one quota, a
//! replica killed mid-run, the database stopped and back, and `state migrate`.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use dockwright::journal::config::StateSettings;
use dockwright::journal::history::{self, Filter};
use dockwright::journal::{expiry, idempotency, retention, transfer, usage, Entry, Journal};
use serde_json::{json, Value};

use crate::common::*;
use crate::postgres::Postgres;
use crate::serve::{configure, run_body, runs_at_once, token, Server};

fn settings(url: &str) -> StateSettings {
    StateSettings {
        url: url.to_string(),
        password_file: None,
        ca: None,
    }
}

fn start(run: &str, team: &str, time: &str, user: Option<&str>) -> Entry {
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
        expires: Some("2026-12-01T00:00:00.000Z".into()).filter(|_| run == "r3"),
        user: user.map(String::from),
        user_name: user.map(|u| format!("{u}@example.org")),
    }
}

fn call(run: &str, team: &str, op: &str, detail: &str, time: &str) -> Entry {
    Entry::Call {
        time: time.into(),
        run: run.into(),
        team: team.into(),
        plugin: "p".into(),
        op: op.into(),
        target: "x".into(),
        decision: "allowed".into(),
        rule: None,
        result: "ok".into(),
        detail: Some(detail.into()),
        duration_ms: 3,
    }
}

fn end(run: &str, team: &str, status: &str, time: &str) -> Entry {
    Entry::RunEnd {
        time: time.into(),
        run: run.into(),
        team: team.into(),
        plugin: "p".into(),
        workflow: "w".into(),
        status: status.into(),
        error: (status == "failed").then(|| "boom".into()),
        cause: (status == "failed").then(|| "plugin".into()),
        containers: vec![format!("c-{run}")],
        images: vec![],
        rolled_back: vec![],
        duration_ms: 42,
    }
}

/// Every answer the journal gives, after the same history, as text: one body for
/// both stores. `live` and `dead` make run `r5` live and run `r6` dead in the store's
/// own way (a lock file, a holder's session).
fn answers(journal: &Journal, state: &Path) -> Vec<String> {
    let t = |s: u32| format!("2026-11-0{}T10:00:00.000Z", s);
    let history = [
        start("r1", "blue", &t(1), Some("alice")),
        call("r1", "blue", "create-container", "c-r1 mem=64m", &t(1)),
        end("r1", "blue", "ok", &t(2)),
        start("r2", "blue", &t(2), Some("bob")),
        call("r2", "blue", "create-container", "c-r2", &t(2)),
        end("r2", "blue", "failed", &t(3)),
        start("r3", "red", &t(3), None),
        call("r3", "red", "create-container", "c-r3", &t(3)),
        end("r3", "red", "ok", &t(4)),
        Entry::TornDown {
            time: t(5),
            run: "r1".into(),
            team: "blue".into(),
            removed: vec!["c-r1".into()],
            by: Some("carol".into()),
        },
        Entry::Lifetime {
            time: t(4),
            run: "r3".into(),
            team: "red".into(),
            expires: "2026-11-05T00:00:00.000Z".into(),
            by: "workflow".into(),
        },
        // An end whose start is not in the journal (a gc of another machine's run).
        end("r4", "blue", "died", &t(6)),
        start("r5", "blue", &t(7), Some("alice")),
        call("r5", "blue", "create-container", "c-r5", &t(7)),
    ];
    for entry in &history {
        journal.record(entry).unwrap();
    }
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_000_000);
    let latest = |filter: Filter| history::latest(journal, filter, 10, state).unwrap();
    let mut out = vec![
        format!("{:?}", latest(Filter::default())),
        format!(
            "{:?}",
            latest(Filter {
                team: Some("blue"),
                ..Default::default()
            })
        ),
        format!(
            "{:?}",
            latest(Filter {
                status: Some("failed"),
                ..Default::default()
            })
        ),
        format!(
            "{:?}",
            latest(Filter {
                status: Some("running"),
                ..Default::default()
            })
        ),
        format!(
            "{:?}",
            latest(Filter {
                user: Some("alice@example.org"),
                ..Default::default()
            })
        ),
        format!("{:?}", history::detail(journal, "r2", state).unwrap()),
        format!("{:?}", history::find(journal, "r3", state).unwrap()),
        format!("{:#}", history::find(journal, "r", state).unwrap_err()),
        format!("{:?}", history::unended(journal, state).unwrap()),
        format!(
            "{:?}",
            usage::runs(journal, None, SystemTime::UNIX_EPOCH, now).unwrap()
        ),
    ];
    for (key, fingerprint, run) in [("k1", "f1", "r1"), ("k1", "f1", "r9"), ("k1", "f2", "r9")] {
        out.push(format!(
            "{:?}",
            idempotency::claim(journal, "blue", key, fingerprint, run, now).unwrap()
        ));
    }
    out.push(format!("{:?}", expiry::alive(journal).unwrap()));
    out.push(format!("{:?}", expiry::of(journal, "r3").unwrap()));
    out.push(format!(
        "{:?}",
        expiry::mark_warned(journal, "r3", "2026-11-05T00:00:00.000Z").unwrap()
    ));
    out.push(format!(
        "{:?}",
        expiry::claim(journal, "r3", "2026-11-06T00:00:00.000Z").unwrap()
    ));
    journal
        .record(&Entry::Expired {
            time: "2026-11-06T00:00:00.000Z".into(),
            run: "r3".into(),
            team: "red".into(),
            removed: vec!["c-r3".into()],
        })
        .unwrap();
    out.push(format!("{:?}", expiry::expired_by_team(journal).unwrap()));
    let mut exported = Vec::new();
    transfer::export(journal, None, &mut exported).unwrap();
    out.push(String::from_utf8(exported).unwrap());
    out.push(format!(
        "{:?}",
        retention::prune(
            journal,
            dockwright::journal::config::Retention::Runs(2),
            now
        )
        .unwrap()
    ));
    out.push(format!("{:?}", latest(Filter::default())));
    out
}

/// `text` with every `holder: Some(<key>)` written `holder: None`.
fn without_holders(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("holder: Some(") {
        out.push_str(&rest[..at]);
        out.push_str("holder: None");
        let after = &rest[at..];
        rest = &after[after.find(')').unwrap() + 1..];
    }
    out.push_str(rest);
    out
}

#[test]
fn the_journal_answers_the_same_from_either_store() {
    let pg = Postgres::start();
    let scratch = tempfile::tempdir().unwrap();
    let lite_state = scratch.path().join("lite");
    let lite = Journal::open(&lite_state.join("journal.db")).unwrap();
    // Run r5 is live in each store's own way: its lock held here, its holder (this
    // process) present there.
    let _live = dockwright::journal::liveness::LiveRun::acquire(&lite_state, "r5").unwrap();
    let shared = Journal::connect(&settings(&pg.database())).unwrap();
    let from_sqlite = answers(&lite, &lite_state);
    // The shared store's runs name their holder key; the embedded store's do not.
    let from_postgres: Vec<String> = answers(&shared, &scratch.path().join("pg"))
        .iter()
        .map(|a| without_holders(a))
        .collect();
    for (i, (a, b)) in from_sqlite.iter().zip(&from_postgres).enumerate() {
        assert_eq!(a, b, "answer {i} differs");
    }
    assert_eq!(from_sqlite.len(), from_postgres.len());
    // And the answers are the history's, not two empty ones.
    assert!(
        from_sqlite[0].contains("run: \"r5\", status: \"running\""),
        "{}",
        from_sqlite[0]
    );
    assert!(
        from_sqlite[2].contains("run: \"r2\", status: \"failed\""),
        "{}",
        from_sqlite[2]
    );
    assert!(
        from_sqlite[7].contains("matches 5 runs"),
        "{}",
        from_sqlite[7]
    );
    assert_eq!(from_sqlite[10], "Claimed");
    assert!(
        from_sqlite[12].contains("same_request: false"),
        "{}",
        from_sqlite[12]
    );
    assert!(
        from_sqlite[17].contains("\"red\": 1"),
        "{}",
        from_sqlite[17]
    );
    assert_eq!(from_sqlite[18].lines().count(), 15, "{}", from_sqlite[18]);
}

#[test]
fn a_dead_holders_run_is_dead_to_every_process() {
    let pg = Postgres::start();
    let url = pg.database();
    let scratch = tempfile::tempdir().unwrap();
    let observer = Journal::connect(&settings(&url)).unwrap();
    let other = Journal::connect(&settings(&url)).unwrap();
    other
        .record(&start("gone", "blue", "2026-11-01T00:00:00.000Z", None))
        .unwrap();
    let holder = other.shared().unwrap().holder().unwrap();
    let unended = |j: &Journal| history::unended(j, scratch.path()).unwrap();
    assert_eq!(unended(&observer)[0].status, "running");
    drop(other);
    // The session ends as the connection closes; its locks go with it, in order.
    let started = Instant::now();
    while observer.shared().unwrap().holder_alive(holder).unwrap() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the session never ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(unended(&observer)[0].status, "died");
}

#[test]
fn a_newer_schema_is_refused_and_one_process_migrates_at_a_time() {
    let pg = Postgres::start();
    let url = pg.database();
    // Ten processes' worth of first connections at once: one makes the schema.
    let connects: Vec<_> = (0..10)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || Journal::connect(&settings(&url)).map(|_| ()))
        })
        .collect();
    for c in connects {
        c.join().unwrap().unwrap();
    }
    let db = Postgres::name_of(&url);
    assert_eq!(pg.psql(db, "SELECT version FROM dockwright_schema"), "1");
    // Each session asks the server for keepalives: a vanished host's sessions end in
    // seconds (5 s idle, 3 probes 2 s apart), not hours.
    let journal = Journal::connect(&settings(&url)).unwrap();
    let k = journal.shared().unwrap().keepalives().unwrap();
    assert_eq!(
        (k.idle.as_str(), k.interval.as_str(), k.count.as_str()),
        ("5", "2", "3")
    );
    drop(journal);
    pg.psql(db, "UPDATE dockwright_schema SET version = 99");
    let e = format!("{:#}", Journal::connect(&settings(&url)).err().unwrap());
    assert!(
        e.contains("version 99") && e.contains("upgrade dockwright"),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------------
// Servers and CLIs on one database.

/// A team whose config names `url` as its state, with `policy`.
fn shared_team(prefix: &str, url: &str, policy: &str) -> Team {
    let team = Team::new(prefix);
    configure(&team, &[], policy);
    let path = team.home.join("dockwright.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("[state]\nurl = \"{url}\"\n\n{text}")).unwrap();
    team
}

/// A state folder of its own, for a second replica (or a CLI elsewhere).
fn elsewhere(team: &Team, name: &str) -> String {
    let dir = team.home.join(name);
    std::fs::create_dir_all(&dir).unwrap();
    dir.display().to_string()
}

#[test]
fn two_servers_and_a_cli_on_one_database_share_one_quota() {
    let pg = Postgres::start();
    let url = pg.database();
    let plugins = crate::serve::serve_plugins();
    let team = shared_team(
        "st-quota",
        &url,
        "images = [\"*\"]\nmax_containers = 3\nmax_running = 3\n",
    );
    let token = token(&team, plugins.path(), &team);
    let bounds = ["--max-runs", "16", "--max-team-runs", "16"];
    let first = Server::start(&team, plugins.path(), &bounds);
    let second_state = elsewhere(&team, "replica-2");
    let second = Server::start_with(
        &team,
        plugins.path(),
        &bounds,
        &[("XDG_STATE_HOME", second_state.as_str())],
    );
    let body = run_body("create", &[("image", "dockwright/base:latest")]).to_string();
    let (a, b) = (first.port, second.port);
    let (t1, t2) = (token.clone(), token.clone());
    let (b1, b2) = (body.clone(), body.clone());
    let one = std::thread::spawn(move || runs_at_once(a, &t1, &b1, 5));
    let two = std::thread::spawn(move || runs_at_once(b, &t2, &b2, 5));
    let answers: Vec<Value> = one
        .join()
        .unwrap()
        .into_iter()
        .chain(two.join().unwrap())
        .map(|r| r.json())
        .collect();
    let ok = answers.iter().filter(|a| a["status"] == "ok").count();
    assert_eq!(ok, 3, "{answers:?}");
    for a in answers.iter().filter(|a| a["status"] != "ok") {
        assert_eq!(a["cause"], json!("quota"), "{a}");
    }
    assert_eq!(team.containers().len(), 3);
    // Each server answers for the other's runs: one journal.
    let listed = first.get("/v1/runs?limit=50", Some(&token)).json();
    assert_eq!(listed["runs"].as_array().unwrap().len(), 10, "{listed}");
    let theirs = answers.iter().rev().find(|a| a["status"] == "ok").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let shown = second.get(&format!("/v1/runs/{theirs}"), Some(&token));
    assert_eq!(shown.status, 200, "{}", shown.body);
    // A CLI with a third state folder and the same `[state]` counts the same quota.
    let third = elsewhere(&team, "cli");
    let run = team.dockwright_with(
        plugins.path(),
        &["run", "create", "-p", "image=dockwright/base:latest"],
        &[("XDG_STATE_HOME", third.as_str())],
    );
    run.assert_clean_failure("max_containers");
    assert_eq!(team.containers().len(), 3);
    // Its run is in the shared journal too.
    let runs = team.dockwright_with(
        plugins.path(),
        &["runs", "--json", "--limit", "50"],
        &[("XDG_STATE_HOME", third.as_str())],
    );
    runs.assert_ok();
    assert_eq!(runs.json().as_array().unwrap().len(), 11, "{}", runs.stdout);
}

/// A container by name: whether it exists and runs.
fn running(name: &str) -> bool {
    std::process::Command::new("docker")
        .args(["inspect", "-f", "{{.State.Running}}", name])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "true")
}

/// Wait for `ready`; the cap turns a hang into a failure, it is not what is tested.
fn until(what: &str, mut ready: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < Duration::from_secs(180), "{what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_replica_killed_mid_run_frees_its_places_and_the_survivor_cleans_up() {
    let pg = Postgres::start();
    let url = pg.database();
    let db = Postgres::name_of(&url).to_string();
    let plugins = crate::serve::serve_plugins();
    let team = shared_team(
        "st-kill",
        &url,
        "images = [\"*\"]\nmax_containers = 2\nmax_running = 2\n",
    );
    let token = token(&team, plugins.path(), &team);
    let mut doomed = Server::start(&team, plugins.path(), &[]);
    let survivor_state = elsewhere(&team, "replica-2");
    let survivor = Server::start_with(
        &team,
        plugins.path(),
        &[],
        &[("XDG_STATE_HOME", survivor_state.as_str())],
    );
    let name = unique("st-wait");
    let started = doomed.post(
        "/v1/runs?wait=false",
        &token,
        &run_body(
            "create-and-wait",
            &[("image", "dockwright/base:latest"), ("name", &name)],
        ),
    );
    assert_eq!(started.status, 202, "{}", started.body);
    let id = started.json()["id"].as_str().unwrap().to_string();
    until("the run's container never ran", || running(&name));
    // A place the doomed replica holds as it dies (a create in flight): a row under
    // its holder key, as its own reservations are.
    let holder = pg.psql(&db, &format!("SELECT holder FROM runs WHERE run = '{id}'"));
    // The engine's key, as admission keeps its places under it.
    let engine = {
        use sha2::Digest;
        let info = docker(&["info", "-f", "{{.ID}}\n{{.DockerRootDir}}"]);
        let hex = format!("{:x}", sha2::Sha256::digest(info.trim_end().as_bytes()));
        hex[..32].to_string()
    };
    pg.psql(
        &db,
        &format!(
            "INSERT INTO reservations (token, engine, team, kind, body, holder)
             VALUES ('held-{id}', '{engine}', '{}', 'create', '', {holder})",
            team.name
        ),
    );
    let create = run_body("create", &[("image", "dockwright/base:latest")]);
    let refused = survivor.post("/v1/runs", &token, &create);
    assert_eq!(refused.json()["cause"], json!("quota"), "{}", refused.body);
    assert_eq!(
        survivor.get(&format!("/v1/runs/{id}"), Some(&token)).json()["status"],
        json!("running")
    );

    // A subscriber to the run's events on the other replica, before the run ends: it
    // is given the run's end when the journal has it.
    let follower = {
        let (port, token, path) = (
            survivor.port,
            token.clone(),
            format!("/v1/runs/{id}/events"),
        );
        std::thread::spawn(move || crate::serve::http(port, "GET", &path, Some(&token), None, &[]))
    };
    doomed.kill();
    // The database ends the dead replica's session, and its lock with it: from then
    // on (not within a window) every replica counts it gone.
    let key = holder.parse::<i64>().unwrap() as u64;
    let (high, low) = (key >> 32, key & 0xffff_ffff);
    until("the dead replica's session never ended", || {
        pg.psql(
            &db,
            &format!(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1
                 AND classid::bigint = {high} AND objid::bigint = {low}"
            ),
        ) == "0"
    });
    let view = survivor.get(&format!("/v1/runs/{id}"), Some(&token)).json();
    assert_eq!(view["status"], json!("died"), "{view}");
    let followed = follower.join().unwrap();
    assert_eq!(followed.status, 200, "{}", followed.body);
    assert!(followed.body.contains("event: end"), "{}", followed.body);
    assert!(followed.body.contains("\"died\""), "{}", followed.body);
    // And a late subscriber.
    let events = survivor.get(&format!("/v1/runs/{id}/events"), Some(&token));
    assert_eq!(events.status, 200, "{}", events.body);
    assert!(events.body.contains("event: end"), "{}", events.body);
    assert!(events.body.contains("\"died\""), "{}", events.body);

    // The survivor's gc (its own state folder) removes what the dead run left.
    let gc = team.dockwright_with(
        plugins.path(),
        &["gc"],
        &[("XDG_STATE_HOME", survivor_state.as_str())],
    );
    gc.assert_ok();
    assert!(
        gc.stdout.contains(&id[..12]) || gc.stdout.contains(&id),
        "{}",
        gc.stdout
    );
    assert!(!running(&name) && team.containers().is_empty());
    // The dead replica's place is free: the next create is admitted.
    let admitted = survivor.post("/v1/runs", &token, &create);
    assert_eq!(admitted.status, 201, "{}", admitted.body);
    assert_eq!(
        pg.psql(
            &db,
            &format!("SELECT count(*) FROM reservations WHERE token = 'held-{id}'")
        ),
        "0"
    );
}

#[test]
fn without_the_database_no_run_is_admitted_and_runs_come_back_with_it() {
    let mut pg = Postgres::start();
    let url = pg.database();
    let plugins = crate::serve::serve_plugins();
    let team = shared_team("st-down", &url, crate::common::PERMISSIVE);
    let token = token(&team, plugins.path(), &team);
    let first = Server::start(&team, plugins.path(), &[]);
    let second_state = elsewhere(&team, "replica-2");
    let second = Server::start_with(
        &team,
        plugins.path(),
        &[],
        &[("XDG_STATE_HOME", second_state.as_str())],
    );
    let body = run_body("list", &[]);
    pg.stop();
    for server in [&first, &second] {
        let answer = server.post("/v1/runs", &token, &body);
        answer.error(503, "state database");
        assert_eq!(answer.header("retry-after"), Some("2"), "{}", answer.body);
        let health = server.get("/healthz", None);
        assert_eq!(health.status, 503, "{}", health.body);
        assert_eq!(
            health.json()["state"]["reachable"],
            json!(false),
            "{}",
            health.body
        );
    }
    assert!(team.containers().is_empty());
    pg.resume();
    for server in [&first, &second] {
        let answer = server.post("/v1/runs", &token, &body);
        assert_eq!(answer.status, 201, "{}", answer.body);
        let health = server.get("/healthz", None);
        assert_eq!(health.status, 200, "{}", health.body);
        assert_eq!(
            health.json()["state"]["reachable"],
            json!(true),
            "{}",
            health.body
        );
    }
}

#[test]
fn migrate_copies_an_sqlite_journal_that_then_answers_the_same() {
    let pg = Postgres::start();
    let url = pg.database();
    images();
    let plugins = plugin_dir(&[test_plugin("probe.wasm")]);
    let team = Team::new("st-migrate");
    for workflow in [
        vec!["run", "list"],
        vec!["run", "create", "-p", "image=dockwright/base:latest"],
        vec![
            "run",
            "create-then-fail",
            "-p",
            "image=dockwright/base:latest",
        ],
    ] {
        let _ = team.dockwright(plugins.path(), &workflow);
    }
    // An import, so the copy carries imported runs too.
    let file = team.home.join("old.jsonl");
    std::fs::write(
        &file,
        concat!(
            r#"{"event":"run-start","time":"2026-10-01T00:00:00.000Z","run":"0190aaaa00001","team":"t","plugin":"p","plugin_sha256":"ab","workflow":"w","params":[],"pid":1}"#,
            "\n",
            r#"{"event":"run-end","time":"2026-10-01T00:00:01.000Z","run":"0190aaaa00001","team":"t","plugin":"p","workflow":"w","status":"ok","containers":[],"images":[],"rolled_back":[],"duration_ms":1000}"#,
            "\n"
        ),
    )
    .unwrap();
    team.dockwright(plugins.path(), &["runs", "import", file.to_str().unwrap()])
        .assert_ok();
    let before = team.dockwright(plugins.path(), &["runs", "--json", "--limit", "50"]);
    before.assert_ok();
    let ids: Vec<String> = before
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), 4, "{}", before.stdout);
    let shows = |team: &Team| -> Vec<String> {
        ids.iter()
            .map(|id| {
                let shown = team.dockwright(plugins.path(), &["runs", "show", id, "--json"]);
                shown.assert_ok();
                shown.stdout
            })
            .collect()
    };
    let shown_before = shows(&team);

    let migrated = team.dockwright(plugins.path(), &["state", "migrate", "--to", &url]);
    migrated.assert_ok();
    assert!(
        migrated.stdout.contains("4 run(s) added"),
        "{}",
        migrated.stdout
    );
    // Again: nothing twice.
    let again = team.dockwright(plugins.path(), &["state", "migrate", "--to", &url]);
    again.assert_ok();
    assert!(
        again.stdout.contains("0 run(s) added, 4 there already"),
        "{}",
        again.stdout
    );
    // Another journal is not copied over it: the two histories' rows would collide.
    let other = Team::new("st-migrate-other");
    other
        .dockwright(plugins.path(), &["run", "list"])
        .assert_ok();
    other
        .dockwright(plugins.path(), &["state", "migrate", "--to", &url])
        .assert_clean_failure("copy into an empty database");

    let path = team.home.join("dockwright.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("[state]\nurl = \"{url}\"\n\n{text}")).unwrap();
    let after = team.dockwright(plugins.path(), &["runs", "--json", "--limit", "50"]);
    after.assert_ok();
    assert_eq!(after.json(), before.json());
    assert_eq!(shows(&team), shown_before);
    let text = team.dockwright(plugins.path(), &["runs"]);
    text.assert_ok();
    assert!(text.stdout.contains("0190aaaa00001"), "{}", text.stdout);
}

#[test]
fn doctor_checks_the_state_database() {
    let mut pg = Postgres::start();
    let url = pg.database();
    let plugins = plugin_dir(&[]);
    let team = shared_team("st-doctor", &url, crate::common::PERMISSIVE);
    let state = |team: &Team| -> Value {
        let run = team.dockwright(plugins.path(), &["doctor", "--json"]);
        assert_ne!(run.code, 101, "doctor panicked: {}", run.stderr);
        let checks: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
        checks.into_iter().find(|c| c["check"] == "state").unwrap()
    };
    let found = state(&team);
    assert_eq!(found["ok"], json!(true), "{found}");
    let detail = found["detail"].as_str().unwrap();
    assert!(
        detail.contains(&url) && detail.contains("schema 1"),
        "{detail}"
    );
    assert!(
        detail.contains("after 5 s idle and 3 probes 2 s apart"),
        "{detail}"
    );
    pg.stop();
    let found = state(&team);
    assert_eq!(found["ok"], json!(false), "{found}");
    assert!(
        found["fix"].as_str().unwrap().contains("[state] url"),
        "{found}"
    );
}

#[test]
fn one_server_leads_the_background_work_and_another_takes_over_when_it_dies() {
    let pg = Postgres::start();
    let url = pg.database();
    let plugins = plugin_dir(&[]);
    let team = shared_team("st-lead", &url, crate::common::PERMISSIVE);
    let a = Server::start(&team, plugins.path(), &[]);
    let b_state = elsewhere(&team, "replica-2");
    let b = Server::start_with(
        &team,
        plugins.path(),
        &[],
        &[("XDG_STATE_HOME", b_state.as_str())],
    );
    let leads = |s: &Server| {
        let health = s.get("/healthz", None).json();
        assert_eq!(health["state"]["reachable"], json!(true), "{health}");
        health["state"]["leader"] == json!(true)
    };
    until("no server took the lead", || leads(&a) || leads(&b));
    let (mut leader, other) = if leads(&a) { (a, b) } else { (b, a) };
    // One at a time: the lock is the leader's for as long as its session lasts.
    assert!(!leads(&other));
    leader.kill();
    until("the other server never took over", || leads(&other));
}

#[test]
fn a_run_whose_journal_writes_fail_is_rolled_back() {
    let mut pg = Postgres::start();
    let url = pg.database();
    images();
    let plugins = plugin_dir(&[test_plugin("probe.wasm")]);
    let team = shared_team("st-midrun", &url, crate::common::PERMISSIVE);
    let name = unique("st-wait");
    let child = team
        .command(
            plugins.path(),
            &[
                "run",
                "create-and-wait",
                "-p",
                "image=dockwright/base:latest",
                "-p",
                &format!("name={name}"),
            ],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    until("the run's container never ran", || running(&name));
    // The database goes while the run waits; its next call cannot be journaled.
    pg.stop();
    docker(&["kill", &name]);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("nothing unaudited may happen"), "{stderr}");
    assert!(stderr.contains(&url), "{stderr}");
    assert!(team.containers().is_empty(), "{:?}", team.containers());
}

#[test]
fn the_state_database_is_reached_over_tls_with_its_ca_and_a_password_file() {
    let pg = Postgres::start_tls();
    let url = pg.database();
    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("password");
    std::fs::write(&password, format!("{}\n", crate::postgres::PASSWORD)).unwrap();
    let with = |password_file: Option<&Path>, ca: Option<&Path>| {
        Journal::connect(&StateSettings {
            url: url.clone(),
            password_file: password_file.map(Path::to_path_buf),
            ca: ca.map(Path::to_path_buf),
        })
    };
    let journal = with(Some(&password), Some(&pg.ca())).unwrap();
    journal
        .record(&start("r1", "blue", "2026-11-01T00:00:00.000Z", None))
        .unwrap();
    assert_eq!(
        pg.psql(
            Postgres::name_of(&url),
            "SELECT count(*) FROM pg_stat_ssl WHERE ssl"
        ),
        "3",
        "the journal's two sessions and psql's, all encrypted"
    );
    // Without the password; with a CA that did not sign the server's certificate;
    // without TLS, which the server refuses.
    let e = format!("{:#}", with(None, Some(&pg.ca())).err().unwrap());
    assert!(e.contains("password"), "{e}");
    let other = Postgres::make_ca(dir.path(), "other");
    let e = format!("{:#}", with(Some(&password), Some(&other)).err().unwrap());
    assert!(e.contains("certificate") || e.contains("TLS"), "{e}");
    let e = format!("{:#}", with(Some(&password), None).err().unwrap());
    assert!(e.contains("no encryption") || e.contains("pg_hba"), "{e}");
}
