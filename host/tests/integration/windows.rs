//! The Windows build (`x86_64-pc-windows-gnu`, which `scripts/test` cross-builds and
//! hands the tests in `DOCKWRIGHT_TEST_WINDOWS`), run under wine (`scripts/wine-run`)
//! against the test engine over TCP: the CLI lists plugins, runs `team-env` (its URL
//! answers), lists the run and tears it down, and rolls a run back on Ctrl-C; `serve`
//! answers `/healthz`, a run and its teardown; the release's zip
//! (`DOCKWRIGHT_TEST_WINDOWS_ZIP`) unpacks to a program that runs. Skipped, saying so,
//! where the Windows build was not made.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use super::serve::{http, port_and_path, run_body, team_env_over_http};
use crate::common::*;

/// The Windows binary, or `None` (with a note) where it was not built. With the
/// binary, wine's session is up (see [`wine_session`]).
fn windows_binary() -> Option<PathBuf> {
    match std::env::var_os("DOCKWRIGHT_TEST_WINDOWS") {
        Some(path) => {
            let path = PathBuf::from(path);
            assert!(
                path.is_file(),
                "DOCKWRIGHT_TEST_WINDOWS={} is not a file",
                path.display()
            );
            wine_session();
            Some(path)
        }
        None => {
            eprintln!("skipped: no DOCKWRIGHT_TEST_WINDOWS (scripts/test cross-builds the Windows binary and sets it)");
            None
        }
    }
}

/// Start wine's session once for these tests, and keep it until they end.
///
/// The program that starts a session starts wine's server and services too, and they
/// keep its output pipes open for as long as the session lasts: a test reading such a
/// program's output to its end would wait for ever. So the session is started by a
/// `cmd` of its own, whose output is read only up to the line that says it is up; and
/// as wine ends a session (and the services in it, the service test's among them) when
/// its last program ends, that `cmd` keeps it until its input closes, which is when
/// this test process ends.
fn wine_session() {
    static SESSION: std::sync::OnceLock<std::process::Child> = std::sync::OnceLock::new();
    SESSION.get_or_init(|| {
        let mut cmd = wine(&["cmd"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start wine");
        // Expanded by cmd, so the command's own echo never reads as the answer.
        let mut input = cmd.stdin.take().unwrap();
        input
            .write_all(b"echo dockwright-session-%PROCESSOR_ARCHITECTURE%\r\n")
            .unwrap();
        let mut output = BufReader::new(cmd.stdout.take().unwrap());
        let mut line = String::new();
        while !line.contains("dockwright-session-AMD64") {
            line.clear();
            let read = output.read_line(&mut line).unwrap();
            assert!(read > 0, "wine's cmd ended before its session was up");
        }
        // Kept open (and the output unread, as nothing more is written to it): the
        // session lasts until this process ends and closes them.
        std::mem::forget(input);
        std::mem::forget(output);
        cmd
    });
}

/// A path of this machine as the Windows program sees it: wine's `Z:` drive is `/`.
fn win(path: &Path) -> String {
    format!("Z:{}", path.display()).replace('/', "\\")
}

/// The Windows program as `team`, under wine, with the engine over TCP (a Windows
/// program reaches no unix socket) and the team's config and this plugin folder.
fn windows(exe: &Path, team: &Team, plugins: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(workspace().join("scripts/wine-run"));
    cmd.arg(exe)
        .args(args)
        .current_dir(&team.home)
        .env("DOCKER_HOST", TCP_ENDPOINT)
        .env("DOCKWRIGHT_CONFIG", win(&team.home.join("dockwright.toml")))
        .env("DOCKWRIGHT_PLUGINS", win(plugins))
        .env_remove("DOCKWRIGHT_TEAM")
        .stdin(Stdio::null());
    cmd
}

#[track_caller]
fn ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("cannot run scripts/wine-run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{:?} failed: {}\n{stderr}",
        cmd.get_args().collect::<Vec<_>>(),
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The wine prefix scripts/wine-run uses.
fn wine_prefix() -> PathBuf {
    std::env::var_os("WINEPREFIX")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/wine-prefix"))
}

/// The user's `%LOCALAPPDATA%` in the wine prefix.
fn wine_local_appdata() -> PathBuf {
    let user = std::env::var("USER").unwrap_or_else(|_| "root".into());
    wine_prefix().join(format!("drive_c/users/{user}/AppData/Local"))
}

/// `team-env` over the API of the server at `port` (its URL answers), then torn down.
fn team_env_up_and_down(port: u16, token: &str) {
    let run = team_env_over_http(port, token);
    let id = run["id"].as_str().unwrap();
    let down = http(
        port,
        "DELETE",
        &format!("/v1/runs/{id}"),
        Some(token),
        None,
        &[],
    );
    assert_eq!(down.status, 200, "{}", down.body);
}

/// The port of the server's "listening on http://127.0.0.1:PORT" in `text`.
fn port_said(text: &str) -> Option<u16> {
    let rest = text.split("listening on http://127.0.0.1:").nth(1)?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

/// The Windows program with `args` and nothing else set, under wine.
fn program(exe: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(workspace().join("scripts/wine-run"));
    cmd.arg(exe).args(args).stdin(Stdio::null());
    cmd
}

/// Wait until one of the team's containers runs, while `alive` says its run goes on.
fn until_a_container_runs(team: &Team, mut alive: impl FnMut() -> bool) {
    // Not a deadline on the host: a bound on a hang, should the run never start.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while docker(&["ps", "-q", "--filter", &team.filter()])
        .trim()
        .is_empty()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the run never started its container"
        );
        assert!(alive(), "the run ended before its container ran");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn the_windows_cli_runs_team_env_lists_it_and_tears_it_down() {
    let Some(exe) = windows_binary() else { return };
    images();
    let team = Team::new("win");
    let plugins = plugin_dir(&[example_plugin("team_env.wasm")]);
    let version = ok(&mut windows(&exe, &team, plugins.path(), &["--version"]));
    assert!(version.contains("contract "), "{version}");

    let listed = ok(&mut windows(&exe, &team, plugins.path(), &["plugins"]));
    assert!(listed.contains("team-env"), "{listed}");

    // A signing key lands in the user's own %LOCALAPPDATA% (its access list is the unit
    // tests': wine keeps it beside the file, not in the file's mode).
    let key = unique("winkey").replace('_', "-");
    ok(&mut windows(
        &exe,
        &team,
        plugins.path(),
        &["keys", "new", &key],
    ));
    let path = wine_local_appdata().join(format!("dockwright/keys/{key}.key"));
    assert!(path.is_file(), "no {}", path.display());
    std::fs::remove_file(&path).unwrap();
    let _ = std::fs::remove_file(path.with_extension("pub"));

    let report = ok(&mut windows(
        &exe,
        &team,
        plugins.path(),
        &["run", "team-env", "--team", &team.name, "--json"],
    ));
    let report: Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["status"], "ok", "{report}");
    let (port, path) = port_and_path(report["outputs"]["url"].as_str().unwrap());
    let page = http(port, "GET", &path, None, None, &[]);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!team.containers().is_empty());

    // The run is in the journal, under the Windows user's own state folder.
    let id = report["run"].as_str().unwrap();
    let runs = ok(&mut windows(
        &exe,
        &team,
        plugins.path(),
        &["runs", "--team", &team.name, "--json"],
    ));
    assert!(runs.contains(id), "{id} not in {runs}");
    let runs: Value = serde_json::from_str(&runs).unwrap();
    let person = runs
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run"] == id)
        .map(|r| r["user"].clone())
        .unwrap();
    assert!(
        person.as_str().is_some_and(|p| p.starts_with("sid:S-1-")),
        "a Windows run is for the user's SID: {person}"
    );

    ok(&mut windows(
        &exe,
        &team,
        plugins.path(),
        &[
            "run",
            "team-env-teardown",
            "--team",
            &team.name,
            "-p",
            &format!("team={}", team.name),
        ],
    ));
    assert_eq!(team.containers(), Vec::<String>::new());
}

/// Ctrl-C rolls a Windows run back, as a signal does on Unix. wine turns a SIGINT to the
/// program into the console's CTRL_C_EVENT, through the console control handlers a
/// Windows Ctrl-C goes through (tokio's `ctrl_c`). Ctrl-Break and the console's close
/// cannot be sent here: wine 8's `GenerateConsoleCtrlEvent` fails, and it sends no
/// close event (README, "On Windows": untested).
#[test]
fn ctrl_c_rolls_a_windows_run_back() {
    let Some(exe) = windows_binary() else { return };
    images();
    let team = Team::new("winint");
    let hostile = plugin_dir(&[test_plugin("hostile.wasm")]);
    let mut child = windows(
        &exe,
        &team,
        hostile.path(),
        &[
            "run",
            "block",
            "--team",
            &team.name,
            "-p",
            "image=dockwright/base:latest",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    until_a_container_runs(&team, || child.try_wait().unwrap().is_none());
    // scripts/wine-run execs wine, so the child is the Windows program's own process.
    // SAFETY: signalling our own child by pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_eq!(team.containers(), Vec::<String>::new());
    let runs = ok(&mut windows(
        &exe,
        &team,
        hostile.path(),
        &["runs", "--team", &team.name, "--json"],
    ));
    let runs: Value = serde_json::from_str(&runs).unwrap();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    assert!(
        runs[0].to_string().contains("interrupted"),
        "the journal has the run's end: {}",
        runs[0]
    );
}

/// The server under wine, killed (with wine's process for it) when the test ends.
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_windows_server_answers_healthz_and_a_run() {
    let Some(exe) = windows_binary() else { return };
    images();
    let team = Team::new("winserve");
    let plugins = plugin_dir(&[example_plugin("team_env.wasm")]);
    let token = ok(&mut windows(
        &exe,
        &team,
        plugins.path(),
        &["token", "new", &team.name],
    ))
    .trim()
    .to_string();
    assert!(token.starts_with("dwt_"), "{token}");

    let mut child = windows(
        &exe,
        &team,
        plugins.path(),
        &["serve", "--listen", "127.0.0.1:0"],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let stderr = child.stderr.take().unwrap();
    let _served = Served(child);
    // The port from the server's own words, read as it says them; the rest of its log
    // is read to the end too, so the server never writes to a closed pipe.
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut said = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(port) = port_said(&line) {
                let _ = port_tx.send(port);
            }
            said.push_str(&line);
            said.push('\n');
        }
        said
    });
    let Ok(port) = port_rx.recv() else {
        panic!(
            "the server never said where it listens: {}",
            reader.join().unwrap()
        );
    };
    let health = http(port, "GET", "/healthz", None, None, &[]);
    assert_eq!(health.status, 200, "{}", health.body);
    team_env_up_and_down(port, &token);
    assert_eq!(team.containers(), Vec::<String>::new());
}

#[test]
fn the_windows_zip_holds_the_program_and_its_readme() {
    let Some(zip) = std::env::var_os("DOCKWRIGHT_TEST_WINDOWS_ZIP").map(PathBuf::from) else {
        eprintln!("skipped: no DOCKWRIGHT_TEST_WINDOWS_ZIP (scripts/test zips the Windows binary as scripts/release does)");
        return;
    };
    wine_session();
    let name = zip.file_stem().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("dockwright-") && name.ends_with("-x86_64-windows"),
        "{name}"
    );
    let sum = std::fs::read_to_string(zip.with_extension("zip.sha256")).unwrap();
    assert!(sum.ends_with(&format!("  {name}.zip\n")), "{sum}");
    let dir = tempfile::tempdir().unwrap();
    let unpacked = Command::new("unzip")
        .arg("-q")
        .arg(&zip)
        .arg("-d")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(unpacked.success());
    let folder = dir.path().join(&name);
    assert!(folder.join("README.md").is_file());
    let exe = folder.join("dockwright.exe");
    let team = Team::new("winzip");
    let version = ok(&mut windows(&exe, &team, dir.path(), &["--version"]));
    assert!(version.starts_with("dockwright "), "{version}");
}

/// wine itself (not a program of this build), in the prefix scripts/wine-run uses.
fn wine(args: &[&str]) -> Command {
    let mut cmd =
        Command::new(std::env::var("WINE").unwrap_or_else(|_| "/usr/lib/wine/wine64".into()));
    cmd.args(args)
        .env("WINEPREFIX", wine_prefix())
        .env("WINEDEBUG", "-all")
        .stdin(Stdio::null());
    cmd
}

/// What the service test set up in the wine prefix, undone when it ends, passed or not:
/// the service and its folder removed.
struct ServiceSetUp {
    exe: PathBuf,
    folder: PathBuf,
}

impl Drop for ServiceSetUp {
    fn drop(&mut self) {
        let _ = program(&self.exe, &["service", "uninstall"]).output();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

/// `dockwright service` under wine's service manager: `install` registers it, `start`
/// starts `serve` as a service with the machine's folder (its config, plugins, state
/// and log there), which answers `/healthz` and a run; `stop` drains (a run still in
/// flight at the drain deadline is rolled back); `uninstall` removes it.
#[test]
fn the_windows_service_serves_drains_on_stop_and_uninstalls() {
    let Some(exe) = windows_binary() else { return };
    images();
    let team = Team::new("winsvc");
    let folder = wine_prefix().join("drive_c/ProgramData/dockwright");
    let config = r"C:\ProgramData\dockwright\dockwright.toml";
    let service = |args: &[&str]| program(&exe, args);
    // The service lives as long as wine's session: windows_binary() keeps it.
    let set_up = ServiceSetUp {
        exe: exe.clone(),
        folder: folder.clone(),
    };
    // What an earlier run of this test may have left.
    let _ = service(&["service", "uninstall"]).output();
    let _ = std::fs::remove_dir_all(&folder);

    // The engine on the service's command line: a service sees no DOCKER_HOST set
    // after its service manager started (wine's, as Windows', reads its environment once).
    let installed = ok(&mut service(&[
        "service",
        "install",
        "--docker-host",
        TCP_ENDPOINT,
    ]));
    assert!(installed.contains(config), "{installed}");
    assert!(
        installed.contains(&format!("its engine is {TCP_ENDPOINT}")),
        "{installed}"
    );
    std::fs::write(
        folder.join("dockwright.toml"),
        format!(
            "[teams.{}]\n{PERMISSIVE}\n[serve]\nlisten = \"127.0.0.1:0\"\ndrain_timeout = \"2s\"\n",
            team.name
        ),
    )
    .unwrap();
    for plugin in [example_plugin("team_env.wasm"), test_plugin("hostile.wasm")] {
        std::fs::copy(
            &plugin,
            folder.join("plugins").join(plugin.file_name().unwrap()),
        )
        .unwrap();
    }
    let token = ok(&mut service(&[
        "--config", config, "token", "new", &team.name,
    ]))
    .trim()
    .to_string();
    ok(&mut service(&["service", "start"]));

    // The port from the service's log, in the machine's state folder.
    let log = folder.join("state/serve.log");
    let said = || std::fs::read_to_string(&log).unwrap_or_default();
    // Not a deadline on the host: a bound on a hang, should the service never listen.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    let port = loop {
        if let Some(port) = port_said(&said()) {
            break port;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the service never listened: {}",
            said()
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    };
    let health = http(port, "GET", "/healthz", None, None, &[]);
    assert_eq!(health.status, 200, "{}", health.body);
    let health: Value = serde_json::from_str(&health.body).unwrap();
    assert_eq!(health["engine"]["address"], TCP_ENDPOINT, "{health}");

    team_env_up_and_down(port, &token);
    assert_eq!(team.containers(), Vec::<String>::new());

    // A run that never ends on its own, in flight when the service is stopped.
    let block = run_body("block", &[("image", "dockwright/base:latest")]).to_string();
    let started = http(
        port,
        "POST",
        "/v1/runs?wait=false",
        Some(&token),
        Some(block.as_bytes()),
        &[],
    );
    assert_eq!(started.status, 202, "{}", started.body);
    until_a_container_runs(&team, || true);
    ok(&mut service(&["service", "stop"]));
    let log = said();
    assert!(
        log.contains("stopping: not accepting new connections; 1 run(s) in flight"),
        "{log}"
    );
    assert!(
        log.contains("drain deadline reached: cancelling 1 run(s)"),
        "{log}"
    );
    assert_eq!(
        team.containers(),
        Vec::<String>::new(),
        "the run in flight was not rolled back"
    );

    let removed = ok(&mut service(&["service", "uninstall"]));
    assert!(removed.contains("removed the service"), "{removed}");
    let gone = service(&["service", "start"]).output().unwrap();
    assert!(!gone.status.success());
    let said = String::from_utf8_lossy(&gone.stderr);
    assert!(said.contains("is it installed"), "{said}");
    drop(set_up);
}
