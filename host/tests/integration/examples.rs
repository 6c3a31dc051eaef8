//! The example plugins' workflows, end to end against the real engine.

use std::path::PathBuf;
use std::sync::OnceLock;

use crate::common::*;

/// One folder with the four example plugins, shared by these tests.
fn examples_dir() -> &'static std::path::Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let files: Vec<PathBuf> = EXAMPLES.iter().map(|f| example_plugin(f)).collect();
        plugin_dir(&files).keep()
    })
}

fn run_ok(
    team: &Team,
    workflow: &str,
    params: &[(&str, &str)],
) -> serde_json::Map<String, serde_json::Value> {
    crate::common::run_ok(examples_dir(), team, workflow, params)
}

#[test]
fn team_env_serves_http_with_team_env_and_labels_then_teardown_leaves_nothing() {
    let team = Team::new("teamenv");
    // The URL names the address the config gives people for the engine.
    let config = team.home.join("dockwright.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("public_host = \"envs.example.test\"\n{text}"),
    )
    .unwrap();
    // The plugin's own notion of team is a param; the host's is --team.
    let plugin_team = team.name.clone();
    let outputs = run_ok(&team, "team-env", &[("team", &plugin_team)]);
    let id = out(&outputs, "container").to_string();
    let port: u16 = out(&outputs, "host-port").parse().unwrap();
    assert_eq!(
        out(&outputs, "url"),
        format!("http://envs.example.test:{port}/")
    );

    let page = http_get("127.0.0.1", port, "/").unwrap();
    assert!(page.contains(" 200 "), "{page}");
    let cgi = http_get("127.0.0.1", port, "/cgi-bin/env").unwrap();
    assert!(cgi.contains(&format!("TEAM={plugin_team}")), "{cgi}");

    let view = inspect("container", &id);
    let env = view["Config"]["Env"].to_string();
    assert!(env.contains(&format!("TEAM={plugin_team}")), "{env}");
    let labels = &view["Config"]["Labels"];
    assert_eq!(labels["dockwright.team"], team.name.as_str());
    assert!(labels["dockwright.plugin"]
        .as_str()
        .unwrap()
        .starts_with("team-env@sha256:"));
    assert_eq!(labels["dockwright.run"].as_str().unwrap().len(), 16);

    // A second environment for the same team coexists with the first.
    let second = run_ok(&team, "team-env", &[("team", &plugin_team)]);
    assert_ne!(out(&second, "container"), id);
    assert_eq!(team.containers().len(), 2);

    let down = run_ok(&team, "team-env-teardown", &[("team", &plugin_team)]);
    assert_eq!(out(&down, "removed"), "2");
    assert!(
        team.containers().is_empty(),
        "left: {:?}",
        team.containers()
    );
    let again = run_ok(&team, "team-env-teardown", &[("team", &plugin_team)]);
    assert_eq!(out(&again, "removed"), "0");
}

#[test]
fn build_image_builds_a_directory_or_commits_a_container() {
    let team = Team::new("imagetools");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM dockwright/base:latest\nRUN echo built > /built\n",
    )
    .unwrap();
    let tag = format!("{}:1", unique("dwtest/tools"));
    team.own_image(&tag);
    let built = run_ok(
        &team,
        "build-image",
        &[("source", dir.path().to_str().unwrap()), ("tag", &tag)],
    );
    assert_eq!(out(&built, "method"), "build");
    assert_eq!(inspect("image", &tag)["Id"], out(&built, "image"));
    assert_eq!(docker(&["run", "--rm", &tag, "cat", "/built"]), "built\n");

    // A container made by this team, committed.
    let probe_team_container = unique("tosnap");
    probe_ok(
        &team,
        "create",
        &[
            ("image", "dockwright/base:latest"),
            ("name", &probe_team_container),
            ("cmd", "sleep 300"),
        ],
    );
    let snap = format!("{}:snap", unique("dwtest/tools"));
    team.own_image(&snap);
    let committed = run_ok(
        &team,
        "build-image",
        &[("source", &probe_team_container), ("tag", &snap)],
    );
    assert_eq!(out(&committed, "method"), "commit");
    assert_eq!(inspect("image", &snap)["Id"], out(&committed, "image"));

    // Neither a container nor a directory with a Dockerfile.
    let empty = tempfile::tempdir().unwrap();
    for source in ["no-such-container-or-dir", empty.path().to_str().unwrap()] {
        let (report, _) = run_workflow(
            examples_dir(),
            &team,
            "build-image",
            &[("source", source), ("tag", "dwtest/never:1")],
        );
        assert_eq!(report["status"], "failed");
        let err = report["error"].as_str().unwrap();
        assert!(
            err.contains("neither a container nor a directory with a Dockerfile"),
            "{err}"
        );
    }
}

#[test]
fn inventory_shows_containers_with_processes_and_traffic() {
    let team = Team::new("inventory");
    let name = unique("inv");
    probe_ok(
        &team,
        "create",
        &[
            ("image", "dockwright/base:latest"),
            ("name", &name),
            ("cmd", "sleep 300"),
        ],
    );
    probe_ok(&team, "start", &[("container", &name)]);
    let outputs = run_ok(&team, "ps", &[]);
    let line = out(&outputs, &name);
    assert!(line.contains("running"), "{line}");
    assert!(line.contains("dockwright/base:latest"), "{line}");
    assert!(line.contains("sleep 300"), "processes missing: {line}");
    assert!(line.contains("eth0 rx"), "traffic missing: {line}");
    // The container's own address, as the engine reports it.
    let ip = docker(&["inspect", "-f", "{{.NetworkSettings.IPAddress}}", &name]);
    assert!(line.contains(&format!("ip {}", ip.trim())), "{line}");
    assert!(out(&outputs, "count").parse::<usize>().unwrap() >= 1);
}

#[test]
fn figlet_builds_runs_and_cleans_up() {
    let team = Team::new("figlet");
    let tag = format!("{}:latest", unique("dwtest/figlet"));
    team.own_image(&tag);
    let outputs = run_ok(&team, "banner", &[("text", "Hi 42"), ("image-tag", &tag)]);
    let banner = out(&outputs, "output");
    assert_eq!(out(&outputs, "exit-code"), "0");
    assert!(banner.lines().count() >= 5, "{banner}");
    assert!(banner.contains('█'), "{banner}");
    // The run container is gone; the image stays.
    assert!(
        team.containers().is_empty(),
        "left: {:?}",
        team.containers()
    );
    assert_eq!(
        inspect("image", &tag)["Config"]["Labels"]["dockwright.team"],
        team.name.as_str()
    );
}
