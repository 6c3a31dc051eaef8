//! The HTTP API as a contract clients can trust: the status of a run's answer says how
//! it went, requests are read strictly, and the README's curl examples run as written.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

use super::serve::{
    configure, events, eventually, http, run_body, serve_plugins, token, Response, Server,
};
use crate::common::*;

#[test]
fn a_run_answers_with_the_status_of_how_it_went() {
    let plugins = serve_plugins();
    let team = Team::new("api-status");
    configure(
        &team,
        &[],
        "images = [\"dockwright/*\"]\nmax_containers = 1\nmax_running = 1\n",
    );
    crate::engines::add_engine(&team, "gone", "host = \"unix:///nonexistent/docker.sock\"");
    let token = token(&team, plugins.path(), &team);
    let server = Server::start(&team, plugins.path(), &[]);
    let post = |body: &Value, query: &str| server.post(&format!("/v1/runs{query}"), &token, body);
    let create = |image: &str| run_body("create", &[("image", image)]);

    // Each answer is the run, at its URL, whatever happened.
    let answered = |answer: &Response, status: u16, cause: Value| -> Value {
        assert_eq!(answer.status, status, "{}", answer.body);
        let run = answer.json();
        assert_eq!(run["cause"], cause, "{run}");
        let id = run["id"].as_str().expect("the run's id");
        assert_eq!(
            answer.header("location"),
            Some(format!("/v1/runs/{id}").as_str()),
            "{}",
            answer.body
        );
        run
    };

    let ok = answered(
        &post(&create("dockwright/base:latest"), ""),
        201,
        Value::Null,
    );
    assert_eq!(ok["status"], "ok");

    let denied = answered(
        &post(&create("elsewhere/thing:1"), ""),
        403,
        json!("policy"),
    );
    assert!(
        denied["error"].as_str().unwrap().contains("images"),
        "{denied}"
    );

    let over = answered(
        &post(&create("dockwright/base:latest"), ""),
        409,
        json!("quota"),
    );
    assert!(
        over["error"].as_str().unwrap().contains("max_containers"),
        "{over}"
    );

    // Not waiting: 202 and the run in flight; it ends as the workflow says.
    let started = answered(
        &post(&run_body("log", &[("message", "hi")]), "?wait=False"),
        202,
        Value::Null,
    );
    assert_eq!(started["status"], "running");
    let id = started["id"].as_str().unwrap().to_string();
    let mut ended = Value::Null;
    eventually("the run to end", || {
        ended = server.get(&format!("/v1/runs/{id}"), Some(&token)).json();
        ended["status"] != "running"
    });
    assert_eq!(ended["status"], "ok", "{ended}");

    // The cause is journaled: a run read back later says the same.
    let listed = server.get("/v1/runs?limit=10", Some(&token)).json();
    let cause_of = |id: &Value| {
        listed["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == *id)
            .map(|r| r["cause"].clone())
    };
    assert_eq!(cause_of(&denied["id"]), Some(json!("policy")), "{listed}");
    assert_eq!(cause_of(&over["id"]), Some(json!("quota")), "{listed}");

    // An engine that does not answer: 502 before any run.
    let mut elsewhere = create("dockwright/base:latest");
    elsewhere["engine"] = "gone".into();
    post(&elsewhere, "").error(502, "");
}

#[test]
fn requests_are_read_strictly_and_name_what_is_wrong() {
    let plugins = serve_plugins();
    let team = Team::new("api-strict");
    configure(&team, &[], PERMISSIVE);
    let token = token(&team, plugins.path(), &team);
    let server = Server::start(&team, plugins.path(), &[]);
    let raw = |query: &str, body: &[u8]| {
        server.request(
            "POST",
            &format!("/v1/runs{query}"),
            Some(&token),
            Some(body),
        )
    };

    raw("", br#"{"workflow": "log", "plugin": null}"#).error(400, "field `plugin` is null");
    raw("", br#"{"workflow": "log", "params": null}"#).error(400, "field `params` is null");
    raw("", br#"{"workflow": "log", "plan": null}"#).error(400, "field `plan` is null");
    raw("", br#"{"workflow": "log", "engine": ""}"#).error(400, "field `engine` is empty");
    raw("", br#"{"workflow": "log", "workflow": "create"}"#)
        .error(400, "key `workflow` is written more than once");
    raw(
        "",
        br#"{"workflow": "log", "params": {"message": "a", "message": "b"}}"#,
    )
    .error(400, "key `message` is written more than once in `params`");
    // Windows PowerShell 5.1 sends its code page: named, with how to send UTF-8.
    let latin1 = b"{\"workflow\": \"log\", \"params\": {\"message\": \"caf\xE9\"}}";
    let error = raw("", latin1).error(400, "the body is not UTF-8");
    assert!(error.contains("[Text.Encoding]::UTF8.GetBytes"), "{error}");
    raw("", b"\xFF\xFE{\x00}\x00").error(400, "UTF-16");
    raw("?wait=soon", br#"{"workflow": "log"}"#).error(400, "`wait`");
    raw("?wiat=false", br#"{"workflow": "log"}"#).error(400, "unknown query parameter `wiat`");
    raw("?wait=1&wait=0", br#"{"workflow": "log"}"#).error(400, "more than once");

    // A byte-order mark is taken off; booleans as PowerShell and others print them.
    let with_bom =
        b"\xEF\xBB\xBF{\"workflow\": \"log\", \"params\": {\"message\": \"caf\xC3\xA9\"}}";
    let answer = raw("", with_bom);
    assert_eq!(answer.status, 201, "{}", answer.body);
    assert_eq!(answer.json()["params"]["message"], "caf\u{e9}");
    let mut ids = Vec::new();
    for flag in ["False", "FALSE", "false", "0"] {
        let answer = raw(
            &format!("?wait={flag}"),
            br#"{"workflow": "log", "params": {"message": "x"}}"#,
        );
        assert_eq!(answer.status, 202, "{flag}: {}", answer.body);
        ids.push(answer.json()["id"].as_str().unwrap().to_string());
    }
    // The four are the team's most runs in flight at once: a fifth is turned away (429)
    // until one of them has ended, however long a loaded machine takes to run them.
    let mut answer = None;
    eventually("a place for a fifth run", || {
        let tried = raw(
            "?wait=TRUE",
            br#"{"workflow": "log", "params": {"message": "x"}}"#,
        );
        let turned_away = tried.status == 429;
        answer = Some(tried);
        !turned_away
    });
    let answer = answer.unwrap();
    assert_eq!(answer.status, 201, "{}", answer.body);

    // A malformed Last-Event-ID is refused rather than read as "from the start".
    let id = &ids[0];
    let events_of = |last: &str| {
        http(
            server.port,
            "GET",
            &format!("/v1/runs/{id}/events"),
            Some(&token),
            None,
            &[("Last-Event-ID", last)],
        )
    };
    events_of("abc").error(400, "`Last-Event-ID`");
    events_of("-1").error(400, "`Last-Event-ID`");
    let resumed = events_of("0");
    assert_eq!(resumed.status, 200, "{}", resumed.body);
    let kinds: Vec<String> = events(&resumed.body).into_iter().map(|e| e.0).collect();
    assert_eq!(kinds.last().map(String::as_str), Some("end"), "{kinds:?}");
}

/// The README's curl block, run as it is against a server with `team-env`.
#[test]
fn readme_curl_examples_run() {
    if Command::new("jq").arg("--version").output().is_err() {
        panic!("the README's curl examples use jq: apt-get install jq");
    }
    let readme = std::fs::read_to_string(workspace().join("README.md")).unwrap();
    let section = readme
        .split("### From curl")
        .nth(1)
        .expect("the README has a `From curl` section");
    let block = section
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("the curl section has a sh block");

    let plugins = serve_plugins();
    let team = Team::new("api-readme");
    configure(&team, &[], "images = [\"dockwright/*\"]\n");
    let token = token(&team, plugins.path(), &team);
    let server = Server::start(&team, plugins.path(), &[]);
    let script = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{}.sh", team.name));
    // -e: every command of the block must succeed as written (the failure path is handled
    // in the block itself); -u: every variable it uses is set in it or here.
    std::fs::write(&script, format!("set -eu -o pipefail\n{block}\n")).unwrap();
    let out = Command::new("bash")
        .arg(&script)
        .env("API", format!("http://127.0.0.1:{}", server.port))
        .env("DOCKWRIGHT_TOKEN", &token)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}\n{}", server.log());
    // The environment's URL, the failure path with its cause, the events' end, the teardown.
    assert!(stdout.contains("http://"), "{stdout}");
    assert!(stdout.contains("not made (policy):"), "{stdout}");
    assert!(stdout.contains("event: end"), "{stdout}");
    assert!(stdout.contains("\"removed\":["), "{stdout}");
    // Both environments were torn down by the block.
    assert!(team.containers().is_empty(), "{stdout}");
}

#[test]
fn a_retried_post_with_the_same_key_runs_once() {
    let plugins = serve_plugins();
    let team = Team::new("api-idem");
    let rival = Team::new("api-idem-o");
    let policy = "images = [\"dockwright/*\"]\nmax_containers = 20\nmax_running = 20\n";
    configure(&team, &[(&rival, policy)], policy);
    let rival_token = token(&team, plugins.path(), &rival);
    let token = token(&team, plugins.path(), &team);
    let server = Server::start(&team, plugins.path(), &["--max-team-runs", "20"]);
    let body = run_body("create", &[("image", "dockwright/base:latest")]).to_string();
    let key = format!("retry-{}", team.name);
    let post = |port: u16, key: &str, body: &str| {
        http(
            port,
            "POST",
            "/v1/runs",
            Some(&token),
            Some(body.as_bytes()),
            &[("Idempotency-Key", key)],
        )
    };

    // Ten clients retry one request at once: one run, and each hears of it.
    let answers: Vec<Response> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..10)
            .map(|_| s.spawn(|| post(server.port, &key, &body)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let first = &answers[0];
    let id = first.json()["id"].as_str().unwrap().to_string();
    for a in &answers {
        assert_eq!(a.status, 201, "{}", a.body);
        assert_eq!(a.json()["id"], id.as_str(), "{}", a.body);
        assert_eq!(a.json()["status"], "ok", "{}", a.body);
    }
    let replayed = answers
        .iter()
        .filter(|a| a.header("idempotent-replayed") == Some("true"))
        .count();
    assert_eq!(replayed, 9, "all but the one that ran are replays");
    let label = format!("label=dockwright.team={}", team.name);
    let made = docker(&["ps", "-aq", "--filter", &label]);
    assert_eq!(made.lines().count(), 1, "one container: {made}");
    let runs = server.get("/v1/runs?limit=50", Some(&token)).json();
    let creates = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["workflow"] == "create")
        .count();
    assert_eq!(creates, 1, "{runs}");

    // The same key with another request is refused, naming the key.
    let other = run_body("log", &[("message", "hi")]).to_string();
    post(server.port, &key, &other).error(422, "Idempotency-Key");
    // The same request in other words (params reordered, spaced) is the same request.
    let spaced = r#"{ "params" : {"image": "dockwright/base:latest"}, "workflow": "create" }"#;
    assert_eq!(post(server.port, &key, spaced).json()["id"], id.as_str());
    // A key is checked.
    post(server.port, "two words", &body).error(400, "Idempotency-Key");
    // Another team with the same key makes its own run, and never hears of the first.
    let theirs = http(
        server.port,
        "POST",
        "/v1/runs",
        Some(&rival_token),
        Some(body.as_bytes()),
        &[("Idempotency-Key", &key)],
    );
    assert_eq!(theirs.status, 201, "{}", theirs.body);
    assert_ne!(theirs.json()["id"], id.as_str(), "{}", theirs.body);
    assert_eq!(theirs.json()["team"], rival.name.as_str());
    assert_eq!(theirs.header("idempotent-replayed"), None);

    // A restarted server still knows the key: same run, same status, nothing started.
    drop(server);
    let server = Server::start(&team, plugins.path(), &[]);
    let again = post(server.port, &key, &body);
    assert_eq!(again.status, 201, "{}", again.body);
    assert_eq!(again.json()["id"], id.as_str(), "{}", again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let made = docker(&["ps", "-aq", "--filter", &label]);
    assert_eq!(made.lines().count(), 1, "still one container: {made}");
    // Another key is another request.
    let fresh = post(server.port, &format!("{key}-2"), &body);
    assert_eq!(fresh.status, 201, "{}", fresh.body);
    assert_ne!(fresh.json()["id"], id.as_str());
}

#[test]
fn a_plugin_reads_whose_run_it_is_from_the_host() {
    let plugins = serve_plugins();
    let team = Team::new("api-whose");
    configure(
        &team,
        &[],
        "images = [\"dockwright/*\"]\nmax_containers = 5\nmax_running = 5\n",
    );
    let token = token(&team, plugins.path(), &team);
    let server = Server::start(&team, plugins.path(), &[]);

    // Over HTTP: the token's team, the run's own id, the engine, the token by its hash.
    let answer = server.post("/v1/runs", &token, &run_body("whose", &[]));
    assert_eq!(answer.status, 201, "{}", answer.body);
    let run = answer.json();
    let outputs = &run["outputs"];
    assert_eq!(outputs["team"], team.name.as_str(), "{run}");
    assert_eq!(outputs["run-id"], run["id"], "{run}");
    assert_eq!(outputs["engine"], "default", "{run}");
    let caller = outputs["caller"].as_str().unwrap();
    assert!(caller.starts_with("token "), "{run}");
    assert!(
        !caller.contains(&token),
        "the token itself never reaches a plugin"
    );

    // team-env without a `team` param makes the environment for the run's team.
    let env = server.post("/v1/runs", &token, &run_body("team-env", &[]));
    assert_eq!(env.status, 201, "{}", env.body);
    let id = env.json()["outputs"]["container"]
        .as_str()
        .unwrap()
        .to_string();
    let labels = docker(&[
        "inspect",
        "--format",
        "{{index .Config.Labels \"team-env.team\"}} {{json .Config.Env}}",
        &id,
    ]);
    assert!(
        labels.starts_with(&format!("{} ", team.name)),
        "the plugin's label says the run's team: {labels}"
    );
    assert!(
        labels.contains(&format!("\"TEAM={}\"", team.name)),
        "{labels}"
    );

    // On the command line: the config's team, and the user by uid.
    let cli = team.dockwright(plugins.path(), &["run", "whose", "--json"]);
    let doc = cli.assert_ok().json();
    assert_eq!(doc["outputs"]["team"], team.name.as_str(), "{doc}");
    assert_eq!(doc["outputs"]["run-id"], doc["run"], "{doc}");
    assert!(
        doc["outputs"]["caller"].as_str().unwrap().contains("uid "),
        "{doc}"
    );
}

#[test]
fn two_teardowns_at_once_agree_on_which_was_first() {
    let plugins = serve_plugins();
    let team = Team::new("api-down2");
    configure(
        &team,
        &[],
        "images = [\"dockwright/*\"]\nmax_containers = 5\nmax_running = 5\n",
    );
    let token = token(&team, plugins.path(), &team);
    let server = Server::start(&team, plugins.path(), &[]);
    let made = server.post(
        "/v1/runs",
        &token,
        &run_body("create", &[("image", "dockwright/base:latest")]),
    );
    assert_eq!(made.status, 201, "{}", made.body);
    let id = made.json()["id"].as_str().unwrap().to_string();
    let path = format!("/v1/runs/{id}");
    let answers: Vec<Value> = std::thread::scope(|s| {
        let both: Vec<_> = (0..2)
            .map(|_| s.spawn(|| server.delete(&path, &token)))
            .collect();
        both.into_iter()
            .map(|h| {
                let a = h.join().unwrap();
                assert_eq!(a.status, 200, "{}", a.body);
                a.json()
            })
            .collect()
    });
    let firsts = answers
        .iter()
        .filter(|a| a["already_torn_down"] == false)
        .count();
    assert_eq!(firsts, 1, "one teardown is the run's: {answers:?}");
    assert_eq!(
        answers[0]["torn_down"], answers[1]["torn_down"],
        "{answers:?}"
    );
    assert_eq!(
        server.get(&path, Some(&token)).json()["torn_down"],
        answers[0]["torn_down"]
    );
    assert!(team.containers().is_empty());
}
