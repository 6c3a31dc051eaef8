//! The CLI commands and their errors, against the real engine and real plugin files.

use crate::common::*;

#[test]
fn plugins_lists_workflows_and_skips_files_that_are_not_plugins() {
    let dir = plugin_dir(&[test_plugin("probe.wasm"), example_plugin("team_env.wasm")]);
    std::fs::write(dir.path().join("notes.wasm"), "this is not wasm").unwrap();
    std::fs::write(dir.path().join("core.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(dir.path().join("readme.txt"), "ignored: not .wasm").unwrap();

    let run = dockwright(dir.path(), &["plugins"], &[]);
    run.assert_ok();
    assert!(run.stdout.contains("team-env"), "{}", run.stdout);
    assert!(
        run.stdout.contains("workflow team-env-teardown"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("required"), "{}", run.stdout);
    assert!(run.stdout.contains("probe"), "{}", run.stdout);
    assert!(
        run.stderr.contains("skipped")
            && run.stderr.contains("notes.wasm")
            && run.stderr.contains("not a WebAssembly file"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("core.wasm") && run.stderr.contains("core WebAssembly module"),
        "{}",
        run.stderr
    );

    let doc = dockwright(dir.path(), &["plugins", "--json"], &[])
        .assert_ok()
        .json();
    let names: Vec<&str> = doc["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["probe", "team-env"]);
    let team_env = &doc["plugins"][1];
    assert_eq!(team_env["sha256"].as_str().unwrap().len(), 64);
    let wf = &team_env["workflows"][0];
    assert_eq!(wf["name"], "team-env");
    let team_param = wf["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "team")
        .unwrap();
    assert_eq!(
        team_param["required"], false,
        "the run's team when not given"
    );
    assert_eq!(doc["skipped"].as_array().unwrap().len(), 2);
}

#[test]
fn a_component_of_another_world_is_skipped() {
    let dir = plugin_dir(&[]);
    std::fs::write(
        dir.path().join("empty.wasm"),
        wat::parse_str("(component)").unwrap(),
    )
    .unwrap();
    let run = dockwright(dir.path(), &["plugins"], &[]);
    run.assert_ok();
    assert!(
        run.stderr
            .contains("does not use the dockwright:plugin contract"),
        "{}",
        run.stderr
    );
    assert!(run.stdout.contains("No plugins"), "{}", run.stdout);
}

#[test]
fn unknown_workflow_suggests_close_names() {
    let team = Team::new("unknown");
    let run = team.dockwright(probe_dir(), &["run", "inspekt"]);
    let line = run.assert_clean_failure("no workflow named `inspekt`");
    assert!(line.contains("Did you mean `inspect`"), "{line}");
}

#[test]
fn missing_required_param_is_named() {
    let team = Team::new("missing");
    let run = team.dockwright(probe_dir(), &["run", "create"]);
    run.assert_clean_failure("needs param `image`");
    let run = team.dockwright(probe_dir(), &["run", "create", "-p", "imgae=x"]);
    run.assert_clean_failure("has no param `imgae`; did you mean `image`?");
}

#[test]
fn missing_plugin_folder_and_bad_team_are_clear() {
    let run = dockwright(std::path::Path::new("/no/such/folder"), &["run", "x"], &[]);
    run.assert_clean_failure("cannot read the plugin folder `/no/such/folder`");
    let run = dockwright(probe_dir(), &["run", "engine", "--team", "Not A Team"], &[]);
    run.assert_clean_failure("team `Not A Team` is not a valid name");
}

#[test]
fn engine_not_running_is_one_clear_line() {
    let dead = format!("unix://{}/dead.sock", env!("CARGO_TARGET_TMPDIR"));
    let run = dockwright(probe_dir(), &["run", "engine"], &[("DOCKER_HOST", &dead)]);
    let line = run.assert_clean_failure("cannot reach the Docker engine at unix://");
    assert!(line.contains("DOCKER_HOST"), "{line}");
    let run = dockwright(
        probe_dir(),
        &["engine"],
        &[("DOCKER_HOST", "tcp://127.0.0.1:1")],
    );
    run.assert_clean_failure("cannot reach the Docker engine at tcp://127.0.0.1:1");
}

#[test]
fn a_run_connects_to_the_engine_only_on_its_first_docker_call() {
    // No engine answers here: a workflow that makes no Docker call still runs, and one
    // that fails before its first call fails with its own message and no rollback.
    let dead = format!("unix://{}/dead.sock", env!("CARGO_TARGET_TMPDIR"));
    let env = [("DOCKER_HOST", dead.as_str())];
    let run = dockwright(probe_dir(), &["run", "log", "-p", "message=hello"], &env);
    run.assert_ok();
    assert!(run.stderr.contains("hello"), "{}", run.stderr);
    let run = dockwright(
        probe_dir(),
        &["run", "fail", "-p", "message=on purpose"],
        &env,
    );
    let line = run.assert_clean_failure("on purpose");
    assert!(!line.contains("cannot reach"), "{line}");
    assert!(!run.stderr.contains("rollback"), "{}", run.stderr);
    // The first Docker call is where an engine that is not there shows.
    let run = dockwright(probe_dir(), &["run", "engine"], &env);
    run.assert_clean_failure("engine-unavailable: cannot reach the Docker engine at unix://");
}

#[test]
fn engine_command_shows_the_negotiated_engine() {
    engine();
    let run = dockwright(probe_dir(), &["engine"], &[]);
    run.assert_ok();
    let api = docker(&["version", "--format", "{{.Server.APIVersion}}"]);
    assert!(
        run.stdout.contains(&format!("api-version  {}", api.trim())),
        "{}",
        run.stdout
    );
    let doc = dockwright(probe_dir(), &["engine", "--json"], &[])
        .assert_ok()
        .json();
    assert_eq!(doc["os"], "linux");
    assert_eq!(doc["api-version"], api.trim());
}

#[test]
fn engine_over_tcp() {
    // The test setup's dockerd listens on loopback TCP as well as the socket.
    let endpoint =
        std::env::var("DOCKWRIGHT_TEST_DOCKER_TCP").unwrap_or_else(|_| TCP_ENDPOINT.to_string());
    engine();
    let team = Team::new("tcp");
    images();
    let env = [("DOCKER_HOST", endpoint.as_str())];
    let doc = dockwright(probe_dir(), &["engine", "--json"], &env)
        .assert_ok()
        .json();
    assert_eq!(doc["address"], endpoint.as_str(), "{doc}");
    let name = unique("tcp");
    let run = team.dockwright_with(
        probe_dir(),
        &[
            "run",
            "create",
            "--json",
            "-p",
            "image=dockwright/base:latest",
            "-p",
            &format!("name={name}"),
        ],
        &env,
    );
    run.assert_ok();
    assert_eq!(team.containers().len(), 1);
}

#[test]
fn run_prints_outputs_as_a_table_or_json() {
    let team = Team::new("table");
    images();
    let run = team.dockwright(probe_dir(), &["run", "engine"]);
    run.assert_ok();
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("os") && l.ends_with("linux")),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("finished in"), "{}", run.stderr);
    let (doc, _) = run_workflow(probe_dir(), &team, "engine", &[]);
    assert_eq!(doc["status"], "ok");
    assert_eq!(doc["plugin"], "probe");
    assert_eq!(doc["team"], team.name.as_str());
    assert_eq!(doc["run"].as_str().unwrap().len(), 16);
    assert_eq!(doc["outputs"]["os"], "linux");
}

#[test]
fn failing_workflow_exits_non_zero_with_its_message() {
    let team = Team::new("fail");
    let run = team.dockwright(probe_dir(), &["run", "fail", "-p", "message=nothing to do"]);
    run.assert_clean_failure("workflow `fail` failed: nothing to do");
}

#[test]
fn completions_for_bash() {
    let run = dockwright(probe_dir(), &["completions", "bash"], &[]);
    run.assert_ok();
    assert!(
        run.stdout.contains("_dockwright()"),
        "{}",
        &run.stdout[..200.min(run.stdout.len())]
    );
    assert!(run.stdout.contains("plugins") && run.stdout.contains("run"));
}
