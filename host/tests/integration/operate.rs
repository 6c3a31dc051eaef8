//! Running dockwright as a service: `doctor` finds each thing a new install gets wrong
//! and says how to fix it, and `state backup` / `state restore` keep what an install
//! holds (journal, config, lock, keys) across a move or a failed upgrade.

use serde_json::Value;

use crate::common::*;

/// `doctor --json` as `team`, with more environment: its exit code and its checks.
fn doctor(team: &Team, plugins: &std::path::Path, extra: &[(&str, &str)]) -> (i32, Vec<Value>) {
    let run = team.dockwright_with(plugins, &["doctor", "--json"], extra);
    assert_ne!(run.code, 101, "doctor panicked: {}", run.stderr);
    let checks: Vec<Value> = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", run.stdout, run.stderr));
    (run.code, checks)
}

/// The failed checks of `name`, each as "detail / fix".
fn failed(checks: &[Value], name: &str) -> Vec<String> {
    checks
        .iter()
        .filter(|c| c["check"] == name && c["ok"] == false)
        .map(|c| {
            format!(
                "{} / {}",
                c["detail"].as_str().unwrap(),
                c["fix"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn doctor_passes_a_good_install_and_names_each_thing_wrong_with_its_fix() {
    images();
    let team = Team::new("doctor");
    let plugins = plugin_dir(&[]);
    let cache = tempfile::tempdir().unwrap();
    let cache_env = ("XDG_CACHE_HOME", cache.path().to_str().unwrap());
    team.dockwright_with(
        plugins.path(),
        &[
            "plugins",
            "add",
            test_plugin("probe.wasm").to_str().unwrap(),
        ],
        &[cache_env],
    )
    .assert_ok();

    // All is well: every check passes, exit 0, and the text says so.
    let (code, checks) = doctor(&team, plugins.path(), &[cache_env]);
    assert_eq!(code, 0, "{checks:?}");
    for name in [
        "config", "teams", "engine", "state", "plugins", "cache", "serve",
    ] {
        assert!(
            checks.iter().any(|c| c["check"] == name && c["ok"] == true),
            "{name}: {checks:?}"
        );
    }
    let text = team.dockwright_with(plugins.path(), &["doctor"], &[cache_env]);
    text.assert_ok();
    assert!(
        text.stdout.contains("every check passed"),
        "{}",
        text.stdout
    );

    // The engine down.
    let (code, checks) = doctor(
        &team,
        plugins.path(),
        &[
            cache_env,
            ("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
        ],
    );
    assert_eq!(code, 1);
    let engine = failed(&checks, "engine");
    assert!(
        engine.len() == 1
            && engine[0].contains("does not answer")
            && engine[0].contains("DOCKER_HOST"),
        "{engine:?}"
    );

    // A state folder that cannot be written (its parent is a file).
    let file = team.home.join("not-a-folder");
    std::fs::write(&file, "x").unwrap();
    let state = file.join("state");
    let (code, checks) = doctor(
        &team,
        plugins.path(),
        &[cache_env, ("XDG_STATE_HOME", state.to_str().unwrap())],
    );
    assert_eq!(code, 1);
    let state = failed(&checks, "state");
    assert!(
        state.len() == 1
            && state[0].contains("cannot write in")
            && state[0].contains("XDG_STATE_HOME"),
        "{state:?}"
    );

    // A locked plugin changed after it was added.
    let probe = plugins.path().join("probe.wasm");
    let mut bytes = std::fs::read(&probe).unwrap();
    bytes.extend_from_slice(b"\0tampered");
    std::fs::write(&probe, &bytes).unwrap();
    let (code, checks) = doctor(&team, plugins.path(), &[cache_env]);
    assert_eq!(code, 1);
    let plugin = failed(&checks, "plugins");
    assert!(
        plugin.len() == 1 && plugin[0].contains("probe.wasm") && plugin[0].contains("lock"),
        "{plugin:?}"
    );
    std::fs::remove_file(&probe).unwrap();

    // Compiled plugins of another build in the cache.
    let stale = cache
        .path()
        .join("dockwright/dockwright-0.0.9-0.1.0-00000000deadbeef");
    std::fs::create_dir_all(&stale).unwrap();
    let (code, checks) = doctor(&team, plugins.path(), &[cache_env]);
    assert_eq!(code, 1);
    let cached = failed(&checks, "cache");
    assert!(
        cached.len() == 1
            && cached[0].contains("other builds")
            && cached[0].contains(&format!("rm -r {}", stale.display())),
        "{cached:?}"
    );
    std::fs::remove_dir_all(&stale).unwrap();

    // A team with a build root that is not there, and a public host that does not resolve.
    let config = team.home.join("dockwright.toml");
    let good = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!(
            "public_host = \"no-such-host.invalid\"\n{}\nbuild_roots = [\"{}/missing\"]\n",
            good.replace("build_roots = [\"/\"]\n", ""),
            team.home.display()
        ),
    )
    .unwrap();
    let (code, checks) = doctor(&team, plugins.path(), &[cache_env]);
    assert_eq!(code, 1);
    let teams = failed(&checks, "teams");
    assert!(
        teams.len() == 1 && teams[0].contains("missing") && teams[0].contains("build_roots"),
        "{teams:?}"
    );
    let public = failed(&checks, "public");
    assert!(
        public.len() == 1 && public[0].contains("no-such-host.invalid"),
        "{public:?}"
    );

    // A config that does not parse: the file, the line and the key.
    std::fs::write(&config, format!("{good}\nhost_ports = \"99999\"\n")).unwrap();
    let (code, checks) = doctor(&team, plugins.path(), &[cache_env]);
    assert_eq!(code, 1);
    let bad = failed(&checks, "config");
    assert!(
        bad.len() == 1 && bad[0].contains("host_ports") && bad[0].contains("dockwright.toml"),
        "{bad:?}"
    );
    let text = team.dockwright_with(plugins.path(), &["doctor"], &[cache_env]);
    assert_eq!(text.code, 1);
    assert!(
        text.stdout.contains("FAIL  config") && text.stdout.contains("fix:"),
        "{}",
        text.stdout
    );
}

#[test]
fn a_backup_restores_the_journal_config_and_lock_elsewhere() {
    images();
    let team = Team::new("backup");
    let plugins = plugin_dir(&[]);
    team.dockwright(
        plugins.path(),
        &[
            "plugins",
            "add",
            test_plugin("probe.wasm").to_str().unwrap(),
        ],
    )
    .assert_ok();
    team.dockwright(plugins.path(), &["run", "log", "-p", "message=kept"])
        .assert_ok();
    let before = team.dockwright(plugins.path(), &["runs", "--json"]);
    before.assert_ok();
    let runs: Vec<Value> = serde_json::from_str(&before.stdout).unwrap();
    assert_eq!(runs.len(), 1);

    let file = team.home.join("backup.tar");
    let made = team.dockwright(plugins.path(), &["state", "backup", file.to_str().unwrap()]);
    made.assert_ok();
    for kept in ["journal.db", "dockwright.toml", "dockwright.lock"] {
        assert!(made.stdout.contains(kept), "{kept}: {}", made.stdout);
    }
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Restoring over what is there is refused, naming the file.
    let refused = team.dockwright(
        plugins.path(),
        &["state", "restore", file.to_str().unwrap()],
    );
    refused.assert_clean_failure("--force");
    // The install loses its journal and lock; the backup brings them back.
    std::fs::remove_file(team.journal_file()).unwrap();
    for ext in ["db-wal", "db-shm"] {
        let _ = std::fs::remove_file(team.journal_file().with_extension(ext));
    }
    std::fs::remove_file(team.home.join("dockwright.lock")).unwrap();
    let restored = team.dockwright(
        plugins.path(),
        &["state", "restore", file.to_str().unwrap(), "--force"],
    );
    restored.assert_ok();
    let after = team.dockwright(plugins.path(), &["runs", "--json"]);
    after.assert_ok();
    let again: Vec<Value> = serde_json::from_str(&after.stdout).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0]["run"], runs[0]["run"]);
    // The restored lock still holds the plugin: a tampered copy is refused again.
    std::fs::write(plugins.path().join("probe.wasm"), b"\0asm tampered").unwrap();
    let listed = team.dockwright(plugins.path(), &["plugins"]);
    assert!(listed.stderr.contains("lock"), "{}", listed.stderr);
    // Not a backup: said so.
    let other = team.home.join("dockwright.toml");
    team.dockwright(
        plugins.path(),
        &["state", "restore", other.to_str().unwrap()],
    )
    .assert_clean_failure("not a dockwright backup");
}
