//! Record and replay: `run --record` against the real engine writes a cassette;
//! `test --replay` runs the plugin again from it with no engine at all, and fails with
//! a diff when the plugin's calls leave the recording.

use std::path::Path;

use serde_json::Value;

use crate::common::*;

/// An engine address where nothing answers: a replay must never need one.
const NO_ENGINE: (&str, &str) = ("DOCKER_HOST", "tcp://127.0.0.1:1");

/// `dockwright test <wasm> --replay <cassette>` as `team`, with no engine to reach.
fn replay(team: &Team, wasm: &Path, cassette: &Path, more: &[&str]) -> Run {
    let mut args = vec![
        "test",
        wasm.to_str().unwrap(),
        "--replay",
        cassette.to_str().unwrap(),
    ];
    args.extend(more);
    let nowhere = plugin_dir(&[]);
    team.dockwright_with(nowhere.path(), &args, &[NO_ENGINE])
}

fn read(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn write(path: &Path, cassette: &Value) {
    std::fs::write(path, serde_json::to_string_pretty(cassette).unwrap()).unwrap();
}

fn ops(cassette: &Value) -> Vec<&str> {
    cassette["calls"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["op"].as_str().unwrap())
        .collect()
}

#[test]
fn a_recorded_run_replays_without_an_engine_and_a_changed_one_shows_the_diff() {
    images();
    let dir = plugin_dir(&[example_plugin("team_env.wasm")]);
    let team = Team::new("tape");
    let tmp = tempfile::tempdir().unwrap();
    let cassette_path = tmp.path().join("team-env.cassette.json");
    let cassette_arg = cassette_path.to_str().unwrap();
    let recorded = team.dockwright(
        dir.path(),
        &[
            "run",
            "team-env",
            "-p",
            &format!("team={}", team.name),
            "--record",
            cassette_arg,
        ],
    );
    recorded.assert_ok();
    assert!(
        recorded.stderr.contains("recorded 4 calls"),
        "{}",
        recorded.stderr
    );
    let cassette = read(&cassette_path);
    assert_eq!(cassette["dockwright_cassette"], 1);
    assert_eq!(cassette["plugin"]["name"], "team-env");
    assert_eq!(cassette["workflow"], "team-env");
    assert_eq!(cassette["params"]["team"], team.name.as_str());
    assert_eq!(
        ops(&cassette),
        [
            "create-container",
            "start-container",
            "wait-ready",
            "inspect-container"
        ]
    );
    // Ids are kept as the engine gave them: the created id is what start was called on.
    let id = cassette["calls"][0]["answer"]["Ok"].as_str().unwrap();
    assert_eq!(cassette["calls"][1]["args"]["container"], id);
    assert_eq!(cassette["outcome"]["status"], "ok");
    assert_eq!(cassette["outcome"]["outputs"]["container"], id);
    let recorded_run = cassette["run"].as_str().unwrap().to_string();

    // The environment goes; the replay needs neither it nor any engine.
    team.dockwright(
        dir.path(),
        &[
            "run",
            "team-env-teardown",
            "-p",
            &format!("team={}", team.name),
        ],
    )
    .assert_ok();
    let wasm = example_plugin("team_env.wasm");
    let replayed = replay(&team, &wasm, &cassette_path, &["--json"]);
    replayed.assert_ok();
    assert!(
        replayed.stderr.contains("replayed 4 calls") && replayed.stderr.contains("same outcome"),
        "{}",
        replayed.stderr
    );
    let report: Value = serde_json::from_str(&replayed.stdout).unwrap();
    assert_eq!(report["run"], recorded_run.as_str());
    assert_eq!(report["outputs"], cassette["outcome"]["outputs"]);
    assert!(docker(&["ps", "-aq", "--filter", &format!("id={id}")])
        .trim()
        .is_empty());

    // Each changed cassette fails the replay with exit code 1; its stderr says why.
    let path = tmp.path().join("changed.json");
    let fails = |changed: &Value| -> String {
        write(&path, changed);
        let run = replay(&team, &wasm, &path, &[]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        run.stderr
    };

    // Other arguments: the plugin is run for another team than recorded.
    let mut other = cassette.clone();
    other["params"]["team"] = "someone-else".into();
    let err = fails(&other);
    assert!(
        err.contains("call 1 differs from the cassette (other arguments)"),
        "{err}"
    );
    assert!(
        err.contains(&format!("-        \"value\": \"{}\"", team.name)),
        "{err}"
    );
    assert!(
        err.contains("+        \"value\": \"someone-else\""),
        "{err}"
    );
    assert!(err.contains("record it again"), "{err}");

    // One call too many: the cassette lost its last call.
    let mut fewer = cassette.clone();
    fewer["calls"].as_array_mut().unwrap().pop();
    let err = fails(&fewer);
    assert!(
        err.contains("call 4 differs from the cassette (one call more than the cassette has)"),
        "{err}"
    );
    assert!(err.contains("+inspect-container"), "{err}");

    // One call too few: the cassette has a call the plugin no longer makes.
    let mut more = cassette.clone();
    let last = more["calls"][3].clone();
    more["calls"].as_array_mut().unwrap().push(last);
    let err = fails(&more);
    assert!(
        err.contains("call 5 differs from the cassette (the run ended before this call)"),
        "{err}"
    );

    // Another operation in the recording's place.
    let mut swapped = cassette.clone();
    swapped["calls"][1]["op"] = "stop-container".into();
    let err = fails(&swapped);
    assert!(
        err.contains("(another operation)")
            && err.contains("-stop-container")
            && err.contains("+start-container"),
        "{err}"
    );

    // The same calls, but the engine answered otherwise: the outcome differs.
    let mut answered = cassette.clone();
    answered["calls"][3]["answer"] = serde_json::json!({ "Err": { "NotFound": "gone" } });
    let err = fails(&answered);
    assert!(
        err.contains("ended otherwise than recorded")
            && err.contains("-  \"status\": \"ok\"")
            && err.contains("+  \"status\": \"failed\""),
        "{err}"
    );

    // A cassette of 32 MiB answers and params: the diff is shown within bounds, with
    // each cut marked, however large what it compares.
    let huge = "z".repeat(32 << 20);
    let mut answered_huge = cassette.clone();
    answered_huge["calls"][3]["answer"] = serde_json::json!({ "Err": { "NotFound": huge } });
    answered_huge["outcome"]["outputs"]["container"] = huge.as_str().into();
    let err = fails(&answered_huge);
    assert!(err.contains("ended otherwise than recorded"), "{err}");
    assert!(
        err.len() < 256 << 10,
        "the outcome's diff is {} bytes",
        err.len()
    );
    assert!(err.contains("[line cut at 4 KiB]"), "{err}");
    let mut huge_param = cassette.clone();
    huge_param["params"]["team"] = huge.as_str().into();
    let err = fails(&huge_param);
    assert!(err.contains("call 1 differs"), "{err}");
    assert!(
        err.len() < 256 << 10,
        "the calls' diff is {} bytes",
        err.len()
    );
    drop(huge);

    // A file that is not a cassette is named with what to do.
    std::fs::write(&path, "{\"calls\": []}").unwrap();
    let bad = replay(&team, &wasm, &path, &[]);
    assert_eq!(bad.code, 1);
    assert!(
        bad.stderr.contains("changed.json") && bad.stderr.contains("not a cassette"),
        "{}",
        bad.stderr
    );
}

#[test]
fn a_recording_leaves_secret_env_values_out_and_a_replay_still_matches() {
    images();
    let team = Team::new("tape-env");
    let dir = probe_dir();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("create.json");
    let env = "DB_PASSWORD=hunter2,API_TOKEN=t0k3n,MODE=dev,LICENSE=abc";
    let params = ["-p", "image=dockwright/base", "-p"];
    let env_param = format!("env={env}");
    let mut args = vec!["run", "create"];
    args.extend(params);
    args.push(&env_param);
    args.extend(["--record", path.to_str().unwrap()]);
    team.dockwright(dir, &args).assert_ok();
    let cassette = read(&path);
    let calls = cassette["calls"].to_string();
    assert!(
        !calls.contains("hunter2") && !calls.contains("t0k3n"),
        "{calls}"
    );
    let recorded_env = &cassette["calls"][0]["args"]["spec"]["env"];
    let value = |name: &str| {
        recorded_env
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["key"] == name)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(value("DB_PASSWORD"), "<redacted>");
    assert_eq!(value("API_TOKEN"), "<redacted>");
    assert_eq!(value("MODE"), "dev");
    assert_eq!(value("LICENSE"), "abc");
    // The probe takes the whole env as one param, named `env`: a param keeps its value
    // unless its own name matches (see the unit tests).
    assert_eq!(cassette["params"]["env"], env);
    let probe = test_plugin("probe.wasm");
    let replayed = replay(&team, &probe, &path, &[]);
    replayed.assert_ok();

    // Patterns of one's own replace the default ones.
    let path = tmp.path().join("licence.json");
    let mut args = vec!["run", "create"];
    args.extend(params);
    args.push(&env_param);
    args.extend(["--record", path.to_str().unwrap(), "--redact-env", "LIC*"]);
    team.dockwright(dir, &args).assert_ok();
    let calls = read(&path)["calls"].to_string();
    assert!(
        calls.contains("hunter2") && !calls.contains("\"abc\""),
        "{calls}"
    );
}

/// Each example plugin (Rust, Python, JavaScript) ships a cassette recorded against the
/// engine; it replays with no engine, so the plugin's own test needs none.
#[test]
fn the_example_plugins_replay_their_cassettes_without_an_engine() {
    let root = workspace();
    let polyglot = super::polyglot::built();
    let examples = [
        (
            example_plugin("team_env.wasm"),
            "plugins/team-env/cassettes/team-env.json",
        ),
        (
            polyglot.join("team_env_js.wasm"),
            "plugins/js/team-env-js/cassettes/team-env-js.json",
        ),
        (
            polyglot.join("image_tools_py.wasm"),
            "plugins/python/image-tools-py/cassettes/build-image.json",
        ),
    ];
    let team = Team::new("tape-examples");
    for (wasm, cassette) in examples {
        let cassette = root.join(cassette);
        let calls = read(&cassette)["calls"].as_array().unwrap().len();
        assert!(calls > 0, "{} records no calls", cassette.display());
        let replayed = replay(&team, &wasm, &cassette, &[]);
        replayed.assert_ok();
        assert!(
            replayed.stderr.contains(&format!("replayed {calls} calls")),
            "{}",
            replayed.stderr
        );
    }
}
