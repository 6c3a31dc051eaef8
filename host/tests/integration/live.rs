//! Serve's live plugin folder: a plugin dropped into a running server's folder is offered
//! without a restart, a replaced one is swapped while runs of the old one finish on the
//! old code, a removed one's workflows go, and a broken or half-copied file disturbs
//! nothing.

use serde_json::Value;

use super::serve::{eventually, token, Server};
use crate::common::*;

/// The workflows the server offers the team, as (name, plugin version).
fn offered(server: &Server, key: &str) -> Vec<(String, String)> {
    let answer = server.get("/v1/workflows", Some(key));
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.json()["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| {
            (
                w["name"].as_str().unwrap().to_string(),
                w["plugin_version"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn offers(server: &Server, key: &str, workflow: &str, version: &str) -> bool {
    offered(server, key)
        .iter()
        .any(|(w, v)| w == workflow && v == version)
}

/// The files `/healthz` says are not on offer.
fn problems(server: &Server) -> Vec<(String, String)> {
    let health = server.get("/healthz", None).json();
    health["plugins"]["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no plugin problems in {health}"))
        .iter()
        .map(|p| {
            (
                p["file"].as_str().unwrap().to_string(),
                p["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn refused(server: &Server, file: &str) -> bool {
    problems(server).iter().any(|(f, _)| f.ends_with(file))
}

/// A container of the team's that runs `cmd`, made by the test as an admin would.
fn team_container(team: &Team, cmd: &[&str]) -> String {
    let label = format!("dockwright.team={}", team.name);
    let mut args = vec!["run", "-d", "--label", &label, "dockwright/base:latest"];
    args.extend(cmd);
    docker(&args).trim().to_string()
}

fn run_status(server: &Server, key: &str, id: &str) -> Value {
    server.get(&format!("/v1/runs/{id}"), Some(key)).json()
}

#[test]
fn plugins_dropped_replaced_and_removed_in_a_running_servers_folder_apply_without_a_restart() {
    images();
    let plugins = plugin_dir(&[test_plugin("probe.wasm"), example_plugin("team_env.wasm")]);
    let team = Team::new("live");
    // Where people reach the engine's ports, as the URLs a run hands back must say.
    let config = team.home.join("dockwright.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("public_host = \"live.example.test\"\n{text}"),
    )
    .unwrap();
    let key = token(&team, plugins.path(), &team);
    let server = Server::start(&team, plugins.path(), &[]);
    let env = serde_json::json!({ "workflow": "team-env", "params": { "team": team.name } });
    let made = server.post("/v1/runs", &key, &env);
    assert_eq!(made.status, 201, "{}", made.body);
    let url = made.json()["outputs"]["url"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        url.starts_with("http://live.example.test:"),
        "{}",
        made.body
    );
    assert!(!offered(&server, &key).iter().any(|(w, _)| w == "reach"));
    let folder = plugins.path();

    // A file that is no plugin is refused and named; the others go on.
    std::fs::write(
        folder.join("broken.wasm"),
        b"\0asm\x0d\0\x01\0 not a component",
    )
    .unwrap();
    eventually("the broken file is refused", || {
        refused(&server, "broken.wasm")
    });
    let log = serde_json::json!({ "workflow": "log", "params": { "message": "still here" } });
    let ran = server.post("/v1/runs", &key, &log);
    assert_eq!(ran.status, 201, "{}", ran.body);
    assert_eq!(ran.json()["status"], "ok", "{}", ran.body);

    // Copied in slowly: the first half is seen and refused, never offered; the whole
    // file is offered once it is there.
    let v1 = std::fs::read(test_plugin("narrow.wasm")).unwrap();
    let target = folder.join("narrow.wasm");
    std::fs::write(&target, &v1[..v1.len() / 2]).unwrap();
    eventually("the half-written file is looked at", || {
        refused(&server, "narrow.wasm")
    });
    assert!(!offered(&server, &key).iter().any(|(w, _)| w == "reach"));
    std::fs::write(&target, &v1).unwrap();
    eventually("narrow 0.1.0 is offered", || {
        offers(&server, &key, "reach", "0.1.0")
    });
    assert!(!refused(&server, "narrow.wasm"), "{:?}", problems(&server));
    assert!(refused(&server, "broken.wasm"));

    // A run of 0.1.0 in flight while 0.2.0 replaces it: it finishes on the old code, and
    // the next run uses the new.
    let sleeper = team_container(&team, &["sleep", "300"]);
    let hold = serde_json::json!({ "workflow": "hold", "params": { "container": sleeper } });
    let started = server.post("/v1/runs?wait=false", &key, &hold);
    assert_eq!(started.status, 202, "{}", started.body);
    let old_run = started.json()["id"].as_str().unwrap().to_string();
    let v2 = std::fs::read(test_plugin("narrow_v2.wasm")).unwrap();
    std::fs::write(&target, &v2).unwrap();
    eventually("narrow 0.2.0 is offered", || {
        offers(&server, &key, "reach", "0.2.0")
    });
    assert!(!offers(&server, &key, "reach", "0.1.0"));
    assert_eq!(run_status(&server, &key, &old_run)["status"], "running");
    docker(&["kill", &sleeper]);
    eventually("the old run ends", || {
        run_status(&server, &key, &old_run)["status"] != "running"
    });
    let old = run_status(&server, &key, &old_run);
    assert_eq!(old["status"], "ok", "{old}");
    assert_eq!(old["outputs"]["version"], "0.1.0", "{old}");
    let quick = team_container(&team, &["true"]);
    let hold = serde_json::json!({ "workflow": "hold", "params": { "container": quick } });
    let new = server.post("/v1/runs", &key, &hold);
    assert_eq!(new.status, 201, "{}", new.body);
    assert_eq!(new.json()["outputs"]["version"], "0.2.0", "{}", new.body);

    // A broken replacement is refused and the good version stays on offer.
    std::fs::write(&target, b"\0asm garbage").unwrap();
    eventually("the broken replacement is refused", || {
        refused(&server, "narrow.wasm")
    });
    assert!(offers(&server, &key, "reach", "0.2.0"));
    std::fs::write(&target, &v2).unwrap();
    eventually("the good file is taken back", || {
        !refused(&server, "narrow.wasm")
    });

    // Removed: its workflows go, and asking for one says where to look.
    std::fs::remove_file(&target).unwrap();
    eventually("narrow's workflows go", || {
        !offered(&server, &key).iter().any(|(w, _)| w == "reach")
    });
    let gone = server.post(
        "/v1/runs",
        &key,
        &serde_json::json!({ "workflow": "reach" }),
    );
    assert_eq!(gone.status, 404, "{}", gone.body);
    assert!(gone.body.contains("GET /v1/workflows"), "{}", gone.body);
    assert!(offered(&server, &key).iter().any(|(w, _)| w == "log"));

    // A file the lock holds is checked against it: another build under its name is
    // refused, and the locked one stays on offer.
    let locked = test_plugin("narrow.wasm");
    team.dockwright(folder, &["plugins", "add", locked.to_str().unwrap()])
        .assert_ok();
    eventually("the locked narrow 0.1.0 is offered", || {
        offers(&server, &key, "reach", "0.1.0")
    });
    std::fs::write(&target, &v2).unwrap();
    eventually("the build the lock does not hold is refused", || {
        problems(&server)
            .iter()
            .any(|(f, r)| f.ends_with("narrow.wasm") && r.contains("lock"))
    });
    assert!(offers(&server, &key, "reach", "0.1.0"));
    assert!(!offers(&server, &key, "reach", "0.2.0"));
}
