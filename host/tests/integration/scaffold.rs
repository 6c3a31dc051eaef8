//! `dockwright new`: a scaffolded plugin in each language builds and runs with the
//! commands its README gives, as they are written there.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::common::*;

/// The shell blocks of a README, in order.
fn readme_commands(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut rest = readme;
    while let Some(start) = rest.find("```sh\n") {
        let body = &rest[start + 6..];
        let end = body.find("```").expect("an unclosed code block");
        blocks.push(body[..end].to_string());
        rest = &body[end + 3..];
    }
    blocks
}

fn scaffold_builds_and_runs(lang: &str) {
    let team = Team::new(&format!("new-{lang}"));
    images();
    let name = format!("hello-{lang}");
    let project = team.home.join(&name);
    let folder = team.home.join("plugins");
    let created = team.dockwright(
        &team.home,
        &[
            "new",
            &name,
            "--lang",
            lang,
            "--dir",
            project.to_str().unwrap(),
        ],
    );
    created.assert_ok();

    // One container for the team, so the hello workflow has something to list.
    let existing = unique("listed");
    probe_ok(
        &team,
        "create",
        &[("image", "dockwright/base:latest"), ("name", &existing)],
    );

    let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
    let script = readme_commands(&readme).join("\n");
    assert!(script.contains("dockwright run hello"), "{readme}");
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_dockwright"))
        .parent()
        .unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = Command::new("bash");
    cmd.args(["-euo", "pipefail", "-c", &script])
        .current_dir(&project)
        .env("PATH", path)
        .env("DOCKWRIGHT_PLUGINS", &folder)
        .env("DOCKWRIGHT_TEAM", &team.name)
        .env(
            "XDG_CACHE_HOME",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("cache"),
        )
        .stdin(Stdio::null());
    for (k, v) in team.env() {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "README commands failed\nstdout: {stdout}\nstderr: {stderr}"
    );
    assert!(
        stdout.contains(&format!("is plugin {name} 0.1.0")),
        "{stdout}"
    );
    // The shipped cassette replays before anything runs on the engine.
    assert!(
        stderr.contains("replayed 1 calls from cassettes/hello.json"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "[{name}] hello from {name}: your team has 1 container(s)"
        )),
        "{stderr}"
    );
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("names") && l.ends_with(&existing)),
        "{stdout}"
    );
}

#[test]
fn rust_scaffold_builds_and_runs() {
    scaffold_builds_and_runs("rust");
}

#[test]
fn python_scaffold_builds_and_runs() {
    scaffold_builds_and_runs("python");
}

#[test]
fn js_scaffold_builds_and_runs() {
    scaffold_builds_and_runs("js");
}

#[test]
fn new_refuses_bad_names_and_used_folders() {
    let team = Team::new("newbad");
    let run = team.dockwright(&team.home, &["new", "Bad_Name"]);
    run.assert_clean_failure("not a valid plugin name");
    let used = team.home.join("used");
    std::fs::create_dir_all(&used).unwrap();
    std::fs::write(used.join("x"), "x").unwrap();
    let run = team.dockwright(
        &team.home,
        &["new", "ok-name", "--dir", used.to_str().unwrap()],
    );
    run.assert_clean_failure("already exists and is not empty");
}
