//! The Python and JavaScript example plugins (plugins/python, plugins/js), end to end: built
//! with their pinned tools, loaded by the real `dockwright` binary, run against the engine.
//!
//! The plugins are built once per test run by `build_polyglot_plugins` of scripts/lib.sh (the
//! same function scripts/test and scripts/demo call); it rebuilds only what changed, so under
//! scripts/test this finds them built. The host compiles each (an 18 MB and a 12 MB component)
//! once into the shared cache folder of the harness.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use serde_json::Value;

use crate::common::*;

/// Build the Python and JavaScript plugins once; the folder of their `.wasm` files.
pub(super) fn built() -> &'static Path {
    static OUT: OnceLock<PathBuf> = OnceLock::new();
    OUT.get_or_init(|| {
        let root = workspace();
        let status = Command::new("bash")
            .args([
                "-c",
                "set -euo pipefail; source scripts/lib.sh; build_polyglot_plugins",
            ])
            .current_dir(&root)
            .stdin(Stdio::null())
            .status()
            .expect("cannot run bash");
        assert!(
            status.success(),
            "build_polyglot_plugins (scripts/lib.sh) failed: the Python and JavaScript plugins \
             need python3 with venv and Node.js 20 with npm"
        );
        let out = root.join("plugins/target/polyglot");
        // Compile both into the harness's shared cache now, once and one after the other:
        // otherwise every test that starts cold compiles the same 18 MB or 12 MB component at
        // the same time as the others (seconds of CPU each).
        let both = plugin_dir(&[
            out.join("image_tools_py.wasm"),
            out.join("team_env_js.wasm"),
        ]);
        dockwright(both.path(), &["plugins"], &[]).assert_ok();
        out
    })
}

/// A plugin folder holding only this polyglot plugin, shared by the tests that use it.
fn folder_of(file: &'static str) -> PathBuf {
    let wasm = built().join(file);
    assert!(wasm.is_file(), "{} was not built", wasm.display());
    plugin_dir(&[wasm]).keep()
}

fn python_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| folder_of("image_tools_py.wasm"))
}

fn js_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| folder_of("team_env_js.wasm"))
}

/// A run that fails cleanly (an error message, not a crash); its report.
#[track_caller]
fn run_failed(dir: &Path, team: &Team, workflow: &str, params: &[(&str, &str)]) -> Value {
    images();
    let (report, run) = run_workflow(dir, team, workflow, params);
    assert_eq!(
        report["status"], "failed",
        "{report}\nstderr: {}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("crashed") && !run.stderr.contains("Traceback"),
        "the plugin crashed instead of failing with a message: {}",
        run.stderr
    );
    report
}

fn error_of(report: &Value) -> &str {
    report["error"].as_str().unwrap_or_default()
}

#[test]
fn python_plugin_lists_its_workflow_through_the_host() {
    let team = Team::new("pylist");
    let run = team.dockwright(python_dir(), &["plugins"]);
    run.assert_ok();
    assert!(
        run.stdout.contains("image-tools-py 0.1.0"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("workflow build-image"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("source"), "{}", run.stdout);
    // componentize-py imports all of `docker`: the manifest is what the plugin declared.
    assert!(
        run.stdout
            .contains("permissions: containers, build, commit"),
        "{}",
        run.stdout
    );
}

#[test]
fn js_plugin_permissions_are_what_it_declares() {
    let team = Team::new("jsperm");
    let run = team.dockwright(js_dir(), &["plugins", "--json"]);
    run.assert_ok();
    let doc = run.json();
    let plugin = &doc["plugins"][0];
    assert_eq!(plugin["name"], "team-env-js");
    assert_eq!(
        plugin["permissions"],
        serde_json::json!(["containers", "observe"])
    );
}

#[test]
fn python_build_image_builds_a_directory_or_commits_a_container() {
    let team = Team::new("pytools");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM dockwright/base:latest\nRUN echo built-by-python > /built\n",
    )
    .unwrap();
    let tag = format!("{}:1", unique("dwtest/py"));
    team.own_image(&tag);
    let built = run_ok(
        python_dir(),
        &team,
        "build-image",
        &[("source", dir.path().to_str().unwrap()), ("tag", &tag)],
    );
    assert_eq!(out(&built, "method"), "build");
    assert_eq!(out(&built, "tag"), tag);
    let image = inspect("image", &tag);
    assert_eq!(image["Id"], out(&built, "image"));
    let labels = &image["Config"]["Labels"];
    assert_eq!(labels["dockwright.team"], team.name.as_str());
    assert!(labels["dockwright.plugin"]
        .as_str()
        .unwrap()
        .starts_with("image-tools-py@sha256:"));
    assert_eq!(
        docker(&["run", "--rm", &tag, "cat", "/built"]),
        "built-by-python\n"
    );

    // A container of this team (made by the probe plugin), committed; no tag means `latest`.
    let name = unique("pysnap");
    probe_ok(
        &team,
        "create",
        &[
            ("image", "dockwright/base:latest"),
            ("name", &name),
            ("cmd", "sleep 300"),
        ],
    );
    let repo = unique("dwtest/pysnap");
    team.own_image(&format!("{repo}:latest"));
    let committed = run_ok(
        python_dir(),
        &team,
        "build-image",
        &[("source", &name), ("tag", &repo)],
    );
    assert_eq!(out(&committed, "method"), "commit");
    assert_eq!(out(&committed, "tag"), format!("{repo}:latest"));
    let image = inspect("image", &format!("{repo}:latest"));
    assert_eq!(image["Id"], out(&committed, "image"));
    // The plugin read whose run it is from the host (contract 0.1.5).
    let comment = image["Comment"].as_str().unwrap_or_default();
    assert!(
        comment.ends_with(&format!("for team {}", team.name)),
        "{comment}"
    );
}

#[test]
fn python_build_image_errors_are_messages_for_people() {
    let team = Team::new("pyerrors");
    // Neither a container nor a directory with a Dockerfile: the host's not-found and invalid
    // Docker errors arrive in Python as `Err` exceptions, and the plugin explains them.
    let empty = tempfile::tempdir().unwrap();
    for source in ["no-such-container-or-dir", empty.path().to_str().unwrap()] {
        let report = run_failed(
            python_dir(),
            &team,
            "build-image",
            &[("source", source), ("tag", "dwtest/never:1")],
        );
        let err = error_of(&report);
        assert!(
            err.contains("neither a container nor a directory with a Dockerfile"),
            "{err}"
        );
        assert!(err.contains("the host said: "), "{err}");
    }

    // A tag the plugin itself rejects, before any Docker call.
    let report = run_failed(
        python_dir(),
        &team,
        "build-image",
        &[("source", "x"), ("tag", "Not/Lower:1")],
    );
    assert!(error_of(&report).contains("invalid repository"), "{report}");

    // A directory outside the team's build roots: the policy's denial, named as such.
    let confined = Team::with_policy(
        "pyconfined",
        "images = [\"*\"]\ntags = [\"*\"]\nbuild_roots = [\"{home}\"]",
    );
    let report = run_failed(
        python_dir(),
        &confined,
        "build-image",
        &[
            ("source", dir_with_dockerfile().path().to_str().unwrap()),
            ("tag", "dwtest/never:1"),
        ],
    );
    let err = error_of(&report);
    assert!(err.contains("denied by policy"), "{err}");
    assert!(err.contains("build_roots"), "{err}");
}

fn dir_with_dockerfile() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM dockwright/base:latest\n",
    )
    .unwrap();
    dir
}

#[test]
fn js_team_env_serves_http_then_teardown_leaves_nothing() {
    let team = Team::new("jsenv");
    let plugin_team = team.name.clone();
    let outputs = run_ok(js_dir(), &team, "team-env-js", &[("team", &plugin_team)]);
    let id = out(&outputs, "container").to_string();
    let port: u16 = out(&outputs, "host-port").parse().unwrap();
    // No public host is configured: a local engine's URLs name this machine.
    assert_eq!(
        out(&outputs, "url"),
        format!("http://{}:{port}/", machine_name())
    );

    // Ready means ready: the port answers at once, with the team in the environment.
    let page = http_get("127.0.0.1", port, "/").unwrap();
    assert!(page.contains(" 200 "), "{page}");
    let cgi = http_get("127.0.0.1", port, "/cgi-bin/env").unwrap();
    assert!(cgi.contains(&format!("TEAM={plugin_team}")), "{cgi}");

    let view = inspect("container", &id);
    let labels = &view["Config"]["Labels"];
    assert_eq!(labels["dockwright.team"], team.name.as_str());
    assert_eq!(labels["team-env-js.team"], plugin_team.as_str());
    assert!(labels["dockwright.plugin"]
        .as_str()
        .unwrap()
        .starts_with("team-env-js@sha256:"));

    let down = run_ok(
        js_dir(),
        &team,
        "team-env-js-teardown",
        &[("team", &plugin_team)],
    );
    assert_eq!(out(&down, "removed"), "1");
    assert!(
        team.containers().is_empty(),
        "left: {:?}",
        team.containers()
    );
    let again = run_ok(
        js_dir(),
        &team,
        "team-env-js-teardown",
        &[("team", &plugin_team)],
    );
    assert_eq!(out(&again, "removed"), "0");

    // Without a `team` param, the environment is the run's own team's (contract 0.1.5).
    let own = run_ok(js_dir(), &team, "team-env-js", &[]);
    let view = inspect("container", out(&own, "container"));
    assert_eq!(
        view["Config"]["Labels"]["team-env-js.team"],
        team.name.as_str()
    );
    let env = view["Config"]["Env"].as_array().unwrap();
    assert!(
        env.iter().any(|e| *e == format!("TEAM={}", team.name)),
        "{env:?}"
    );
}

#[test]
fn js_team_env_failures_are_messages_and_roll_back() {
    let team = Team::new("jsfail");
    // A missing image: the host's not-found arrives in JavaScript as a thrown error whose
    // `payload` is the docker-error variant.
    let report = run_failed(
        js_dir(),
        &team,
        "team-env-js",
        &[("team", "blue"), ("image", "dwtest/no-such-image:1")],
    );
    let err = error_of(&report);
    assert!(
        err.contains("image `dwtest/no-such-image:1` is not on the engine (not found: "),
        "{err}"
    );

    // An image that does not serve the port: the readiness wait fails, and the container the
    // run had created and started is rolled back.
    let report = run_failed(
        js_dir(),
        &team,
        "team-env-js",
        &[
            ("team", "blue"),
            ("image", "dockwright/base:latest"),
            ("port", "8080/tcp"),
        ],
    );
    let err = error_of(&report);
    assert!(err.contains("did not get ready on port 8080/tcp"), "{err}");
    assert_eq!(
        report["rolled_back"].as_array().unwrap().len(),
        1,
        "{report}"
    );
    assert!(
        team.containers().is_empty(),
        "left: {:?}",
        team.containers()
    );

    // A param the plugin rejects, before any Docker call.
    let report = run_failed(
        js_dir(),
        &team,
        "team-env-js",
        &[("team", "blue"), ("port", "80/xyz")],
    );
    assert!(
        error_of(&report).contains("unknown protocol `xyz`"),
        "{report}"
    );
}

/// This machine's name, as the host finds it for URLs of a local engine.
fn machine_name() -> String {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let name = name.trim().to_string();
    assert!(
        !name.is_empty() && name != "localhost",
        "the machine has no name of its own"
    );
    name
}
