//! What an operator installs: the static binary that `scripts/release` builds (and
//! `scripts/test` hands the tests in `DOCKWRIGHT_TEST_STATIC`), its image serving
//! `team-env` against the test engine and keeping its runs across a restart, the
//! systemd units as `systemd-analyze verify` reads them, and the Debian package
//! unpacked into a scratch root with each file where the units expect it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::serve::{http, team_env_over_http, token};
use crate::common::*;

/// The static binary, or `None` (with a note) where it was not built.
fn static_binary() -> Option<PathBuf> {
    match std::env::var_os("DOCKWRIGHT_TEST_STATIC") {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "DOCKWRIGHT_TEST_STATIC={} is not a file",
                path.display()
            );
            Some(path)
        }
        None => {
            eprintln!("skipped: no DOCKWRIGHT_TEST_STATIC (scripts/test builds the static binary and sets it)");
            None
        }
    }
}

fn sh(program: &str, args: &[&str]) -> std::process::Output {
    Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

#[track_caller]
fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A container that is removed when the test ends, however it ends.
struct Removed(String);

impl Drop for Removed {
    fn drop(&mut self) {
        let _ = sh("docker", &["rm", "-f", &self.0]);
    }
}

/// The image made from `bin` as scripts/release makes it, tagged `tag`; removed on drop.
fn image(bin: &Path, tag: &str) -> impl Drop {
    struct Image(String);
    impl Drop for Image {
        fn drop(&mut self) {
            let _ = sh("docker", &["rmi", "-f", &self.0]);
        }
    }
    let ctx = tempfile::tempdir().unwrap();
    std::fs::copy(bin, ctx.path().join("dockwright")).unwrap();
    std::fs::copy(
        "/etc/ssl/certs/ca-certificates.crt",
        ctx.path().join("ca-certificates.crt"),
    )
    .unwrap();
    std::fs::create_dir(ctx.path().join("tmp")).unwrap();
    std::fs::create_dir(ctx.path().join("plugins")).unwrap();
    std::fs::copy(
        workspace().join("packaging/Dockerfile"),
        ctx.path().join("Dockerfile"),
    )
    .unwrap();
    ok(&sh(
        "docker",
        &["build", "-q", "-t", tag, ctx.path().to_str().unwrap()],
    ));
    Image(tag.to_string())
}

/// The port the server in container `name` last said it listens on, once `/healthz`
/// answers there (a server starting), giving up after two minutes.
fn until_up(name: &str) -> u16 {
    let give_up = Instant::now() + Duration::from_secs(120);
    loop {
        let logs = sh("docker", &["logs", name]);
        let text = String::from_utf8_lossy(&logs.stderr).into_owned()
            + &String::from_utf8_lossy(&logs.stdout);
        let port = text
            .rsplit("listening on http://127.0.0.1:")
            .next()
            .filter(|_| text.contains("listening on http://127.0.0.1:"))
            .and_then(|rest| {
                rest.split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse::<u16>()
                    .ok()
            });
        if let Some(port) = port {
            let up = std::net::TcpStream::connect(("127.0.0.1", port)).is_ok();
            if up && http(port, "GET", "/healthz", None, None, &[]).status == 200 {
                return port;
            }
        }
        assert!(
            Instant::now() < give_up,
            "the server in the container did not start: {text}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn the_image_serves_team_env_and_keeps_its_runs_across_a_restart() {
    let Some(bin) = static_binary() else { return };
    let version = ok(&sh(bin.to_str().unwrap(), &["--version"]));
    assert!(
        version.contains("contract 0.1.6") && version.contains("commit "),
        "{version}"
    );
    images();
    let team = Team::new("image");
    let plugins = plugin_dir(&[]);
    let token = token(&team, plugins.path(), &team);
    // The server's state (journal, locks, plugins) on the host, as a volume keeps it.
    let state = tempfile::tempdir().unwrap();
    let plugin_folder = state.path().join("plugins");
    std::fs::create_dir(&plugin_folder).unwrap();
    std::fs::copy(
        example_plugin("team_env.wasm"),
        plugin_folder.join("team_env.wasm"),
    )
    .unwrap();
    let tag = format!("dockwright-test:{}", unique("img"));
    let _image = image(&bin, &tag);
    let name = unique("dockwright-serve");
    let _container = Removed(name.clone());
    let config = team.home.join("dockwright.toml");
    ok(&sh(
        "docker",
        &[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "host",
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock",
            "-v",
            &format!("{}:/var/lib/dockwright", state.path().display()),
            "-v",
            &format!("{}:/etc/dockwright/dockwright.toml:ro", config.display()),
            &tag,
            "serve",
            "--listen",
            "127.0.0.1:0",
        ],
    ));
    let port = until_up(&name);
    // The environment's URL opens from the host.
    let run = team_env_over_http(port, &token);
    let id = run["id"].as_str().unwrap().to_string();
    // Stopped and started again, it still knows the run.
    ok(&sh("docker", &["stop", "-t", "30", &name]));
    ok(&sh("docker", &["start", &name]));
    let port = until_up(&name);
    let listed = http(port, "GET", "/v1/runs", Some(&token), None, &[]);
    assert_eq!(listed.status, 200, "{}", listed.body);
    let runs: Value = serde_json::from_str(&listed.body).unwrap();
    assert!(
        runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == json!(id)),
        "{runs}"
    );
    assert!(state.path().join("journal.db").is_file());
}

#[test]
fn the_package_installs_the_binary_units_and_config_where_the_units_expect_them() {
    let Some(bin) = static_binary() else { return };
    let dir = tempfile::tempdir().unwrap();
    let deb = dir.path().join("dockwright.deb");
    ok(&sh(
        workspace().join("packaging/deb/build").to_str().unwrap(),
        &[bin.to_str().unwrap(), "0.1.0", deb.to_str().unwrap()],
    ));
    let fields = ok(&sh(
        "dpkg-deb",
        &["-f", deb.to_str().unwrap(), "Package", "Version"],
    ));
    assert_eq!(fields, "Package: dockwright\nVersion: 0.1.0\n");
    let conffiles = ok(&sh("dpkg-deb", &["-I", deb.to_str().unwrap(), "conffiles"]));
    assert!(
        conffiles.contains("/etc/dockwright/dockwright.toml"),
        "{conffiles}"
    );
    // A scratch root with the machine's own units (the targets the package's name).
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("lib/systemd")).unwrap();
    ok(&sh(
        "cp",
        &[
            "-a",
            "/lib/systemd/system",
            root.join("lib/systemd/").to_str().unwrap(),
        ],
    ));
    ok(&sh(
        "dpkg",
        &["-x", deb.to_str().unwrap(), root.to_str().unwrap()],
    ));
    for (file, mode) in [
        ("usr/bin/dockwright", 0o755),
        ("lib/systemd/system/dockwright.service", 0o644),
        ("lib/systemd/system/dockwright-gc.service", 0o644),
        ("lib/systemd/system/dockwright-gc.timer", 0o644),
        ("etc/default/dockwright", 0o644),
        ("etc/dockwright/dockwright.toml", 0o640),
    ] {
        use std::os::unix::fs::PermissionsExt;
        let meta = std::fs::metadata(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(meta.permissions().mode() & 0o7777, mode, "{file}");
    }
    let unit = std::fs::read_to_string(root.join("lib/systemd/system/dockwright.service")).unwrap();
    for wanted in [
        "ExecStart=/usr/bin/dockwright serve",
        "EnvironmentFile=-/etc/default/dockwright",
        "DOCKWRIGHT_CONFIG=/etc/dockwright/dockwright.toml",
        "StateDirectory=dockwright",
        "ProtectSystem=strict",
    ] {
        assert!(unit.contains(wanted), "{wanted} not in the unit");
    }
    let units: Vec<String> = [
        "dockwright.service",
        "dockwright-gc.service",
        "dockwright-gc.timer",
    ]
    .iter()
    .map(|u| {
        root.join("lib/systemd/system")
            .join(u)
            .display()
            .to_string()
    })
    .collect();
    let mut args = vec![format!("--root={}", root.display()), "verify".to_string()];
    args.extend(units.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let verified = sh("systemd-analyze", &args);
    let said = String::from_utf8_lossy(&verified.stderr);
    assert!(
        verified.status.success() && said.trim().is_empty(),
        "systemd-analyze verify: {said}"
    );
    // The packaged binary reads the packaged config.
    let packaged = root.join("usr/bin/dockwright");
    let out = Command::new(&packaged)
        .args(["doctor", "--json"])
        .env(
            "DOCKWRIGHT_CONFIG",
            root.join("etc/dockwright/dockwright.toml"),
        )
        .env("XDG_STATE_HOME", dir.path().join("state"))
        .env("XDG_CACHE_HOME", dir.path().join("cache"))
        .env("DOCKWRIGHT_PLUGINS", dir.path())
        .output()
        .unwrap();
    let checks: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    let config = checks.iter().find(|c| c["check"] == "config").unwrap();
    assert_eq!(config["ok"], true, "{config}");
    // And a unit naming a binary that is not there is refused: the check can fail.
    std::fs::remove_file(&packaged).unwrap();
    let missing = sh("systemd-analyze", &args);
    assert!(
        !missing.status.success(),
        "verify passed without the binary"
    );
}
