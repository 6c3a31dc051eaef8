//! `dockwright check`, `plugins add` / `remove` and the lock.

use crate::common::*;

#[test]
fn check_accepts_a_good_plugin_and_says_its_contract() {
    let dir = plugin_dir(&[]);
    let probe = test_plugin("probe.wasm");
    let run = dockwright(dir.path(), &["check", probe.to_str().unwrap()], &[]);
    run.assert_ok();
    assert!(
        run.stdout.contains("is plugin probe 0.1.0"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("contract dockwright:plugin@0.1.6"),
        "{}",
        run.stdout
    );
    assert!(
        run.stdout.contains("workflow create-then-fail"),
        "{}",
        run.stdout
    );
    let doc = dockwright(
        dir.path(),
        &["check", probe.to_str().unwrap(), "--json"],
        &[],
    )
    .assert_ok()
    .json();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["contract"], "0.1.6");
    assert_eq!(doc["name"], "probe");
}

#[test]
fn a_plugin_built_against_an_older_compatible_contract_runs() {
    let team = Team::new("legacy");
    let legacy = test_plugin("legacy.wasm");
    let dir = plugin_dir(std::slice::from_ref(&legacy));
    let run = dockwright(
        dir.path(),
        &["check", legacy.to_str().unwrap(), "--json"],
        &[],
    );
    let doc = run.assert_ok().json();
    assert_eq!(doc["contract"], "0.1.0");
    // Its manifest is what it imports: it calls only list-containers.
    assert_eq!(doc["permissions"], serde_json::json!(["containers"]));
    let outputs = run_ok(dir.path(), &team, "count", &[]);
    assert_eq!(out(&outputs, "count"), "0");
}

#[test]
fn check_refuses_what_is_not_a_plugin_for_this_host() {
    let dir = plugin_dir(&[]);
    let core = dir.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let other_world = dir.path().join("other.wasm");
    std::fs::write(&other_world, wat::parse_str("(component)").unwrap()).unwrap();
    let cases = [
        (core.clone(), "core WebAssembly module, not a component"),
        (other_world, "does not use the dockwright:plugin contract"),
        (
            test_plugin("future.wasm"),
            "it targets contract dockwright:plugin@0.2.0; this host accepts 0.1.x up to 0.1.6",
        ),
    ];
    for (file, needle) in cases {
        let run = dockwright(dir.path(), &["check", file.to_str().unwrap()], &[]);
        run.assert_clean_failure(needle);
    }
    let doc = dockwright(
        dir.path(),
        &["check", core.to_str().unwrap(), "--json"],
        &[],
    );
    assert_ne!(doc.code, 0);
    assert_eq!(doc.json()["ok"], false);
}

#[test]
fn the_lock_refuses_a_tampered_plugin() {
    let team = Team::new("lock");
    let folder = team.home.join("plugins");
    let add = team.dockwright(
        &folder,
        &[
            "plugins",
            "add",
            example_plugin("inventory.wasm").to_str().unwrap(),
        ],
    );
    add.assert_ok();
    assert!(
        add.stdout.contains("added inventory 0.1.0"),
        "{}",
        add.stdout
    );
    let lock_path = team.home.join("dockwright.lock");
    let lock = std::fs::read_to_string(&lock_path).unwrap();
    let recorded = lock
        .lines()
        .find_map(|l| l.strip_prefix("sha256 = \""))
        .map(|l| l.trim_end_matches('"').to_string())
        .unwrap();
    assert_eq!(recorded.len(), 64, "{lock}");
    team.dockwright(&folder, &["run", "ps"]).assert_ok();

    // Someone swaps the file for another plugin.
    std::fs::copy(example_plugin("figlet.wasm"), folder.join("inventory.wasm")).unwrap();
    let listed = team.dockwright(&folder, &["plugins"]);
    listed.assert_ok();
    assert!(
        listed.stderr.contains("refused") && listed.stderr.contains(&recorded),
        "{}",
        listed.stderr
    );
    assert!(!listed.stdout.contains("figlet"), "{}", listed.stdout);
    let run = team.dockwright(&folder, &["run", "banner", "-p", "text=x"]);
    run.assert_clean_failure("no usable plugins");
    assert!(run.stderr.contains(&recorded), "{}", run.stderr);

    // Adding the changed file on purpose updates the lock; removing forgets it.
    let swapped = folder.join("inventory.wasm");
    team.dockwright(&folder, &["plugins", "add", swapped.to_str().unwrap()])
        .assert_ok();
    team.dockwright(&folder, &["run", "banner", "-p", "text=ok"])
        .assert_ok();
    let removed = team.dockwright(&folder, &["plugins", "remove", "figlet"]);
    removed.assert_ok();
    assert!(!swapped.exists());
    assert!(!std::fs::read_to_string(&lock_path)
        .unwrap()
        .contains("[[plugin]]"));
    let missing = team.dockwright(&folder, &["plugins", "remove", "nothing-here"]);
    missing.assert_clean_failure("no plugin named `nothing-here`");
}

#[test]
fn plugins_add_refuses_a_file_that_is_not_a_plugin() {
    let team = Team::new("addbad");
    let bad = team.home.join("bad.wasm");
    std::fs::write(&bad, "text").unwrap();
    let folder = team.home.join("plugins");
    let run = team.dockwright(&folder, &["plugins", "add", bad.to_str().unwrap()]);
    run.assert_clean_failure("is not a plugin this host can run");
    assert!(!folder.join("bad.wasm").exists());
}

#[test]
fn adds_at_once_keep_every_entry_of_the_lock() {
    let team = Team::new("lockrace");
    let folder = team.home.join("plugins");
    let mut files: Vec<std::path::PathBuf> = EXAMPLES.iter().map(|f| example_plugin(f)).collect();
    files.extend(["probe.wasm", "hostile.wasm", "narrow.wasm", "legacy.wasm"].map(test_plugin));
    // Every add reads, changes and writes the one lock: all at once, none may be lost.
    let children: Vec<_> = files
        .iter()
        .map(|f| {
            team.command(&folder, &["plugins", "add", f.to_str().unwrap()])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let lock = std::fs::read_to_string(team.home.join("dockwright.lock")).unwrap();
    let parsed: toml::Value = toml::from_str(&lock).unwrap();
    let names = parsed["plugin"].as_array().unwrap().len();
    assert_eq!(names, files.len(), "{lock}");
    let listed = team
        .dockwright(&folder, &["plugins", "--json"])
        .assert_ok()
        .json();
    assert_eq!(listed["plugins"].as_array().unwrap().len(), files.len());
    assert_eq!(listed["skipped"].as_array().unwrap().len(), 0, "{listed}");
}
