//! The compiled-plugin cache, as the CLI uses it.

use std::path::{Path, PathBuf};

use crate::common::*;

fn entries(cache: &Path, ext: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for dir in std::fs::read_dir(cache).into_iter().flatten().flatten() {
        for f in std::fs::read_dir(dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if f.path().extension().is_some_and(|e| e == ext) {
                found.push(f.path());
            }
        }
    }
    found
}

#[test]
fn plugins_are_compiled_once_and_corrupt_entries_are_rebuilt() {
    let cache = tempfile::tempdir().unwrap();
    let env = [("XDG_CACHE_HOME", cache.path().to_str().unwrap())];
    let files: Vec<PathBuf> = EXAMPLES.iter().map(|f| example_plugin(f)).collect();
    let dir = plugin_dir(&files);
    let root = cache.path().join("dockwright");

    let first = dockwright(dir.path(), &["plugins", "--json"], &env)
        .assert_ok()
        .json();
    let compiled = entries(&root, "cwasm");
    assert_eq!(compiled.len(), 4, "{compiled:?}");
    assert_eq!(entries(&root, "json").len(), 4);
    let stamps: Vec<_> = compiled
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect();

    // A second start reads the cache and compiles nothing.
    let second = dockwright(dir.path(), &["plugins", "--json"], &env)
        .assert_ok()
        .json();
    assert_eq!(first["plugins"], second["plugins"]);
    let again: Vec<_> = compiled
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().modified().unwrap())
        .collect();
    assert_eq!(stamps, again);

    // A corrupt compiled entry is recompiled, silently, when the plugin runs.
    let team = Team::new("cache");
    images();
    for path in &compiled {
        std::fs::write(path, b"garbage").unwrap();
    }
    let run = team.dockwright_with(dir.path(), &["run", "ps", "--json"], &env);
    run.assert_ok();
    assert!(
        !run.stderr.contains("garbage") && !run.stderr.contains("warning"),
        "{}",
        run.stderr
    );
    let rebuilt = entries(&root, "cwasm")
        .into_iter()
        .filter(|p| std::fs::read(p).unwrap() != b"garbage")
        .count();
    assert_eq!(
        rebuilt, 1,
        "the plugin that ran was recompiled into the cache"
    );

    // A corrupt description is read again from the plugin.
    for path in entries(&root, "json") {
        std::fs::write(path, b"{torn").unwrap();
    }
    let third = dockwright(dir.path(), &["plugins", "--json"], &env)
        .assert_ok()
        .json();
    assert_eq!(first["plugins"], third["plugins"]);
}

#[test]
fn concurrent_starts_share_a_fresh_cache() {
    let cache = tempfile::tempdir().unwrap();
    let files: Vec<PathBuf> = EXAMPLES.iter().map(|f| example_plugin(f)).collect();
    let dir = plugin_dir(&files);
    let starts: Vec<_> = (0..4)
        .map(|_| {
            let dir = dir.path().to_path_buf();
            let cache = cache.path().to_path_buf();
            std::thread::spawn(move || {
                dockwright(
                    &dir,
                    &["plugins", "--json"],
                    &[("XDG_CACHE_HOME", cache.to_str().unwrap())],
                )
            })
        })
        .collect();
    for start in starts {
        let run = start.join().unwrap();
        run.assert_ok();
        assert_eq!(run.json()["plugins"].as_array().unwrap().len(), 4);
    }
    let root = cache.path().join("dockwright");
    assert_eq!(entries(&root, "cwasm").len(), 4);
    let leftovers: Vec<_> = entries(&root, "tmp");
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // And what they wrote loads.
    let run = dockwright(
        dir.path(),
        &["plugins"],
        &[("XDG_CACHE_HOME", cache.path().to_str().unwrap())],
    );
    run.assert_ok();
    assert!(run.stderr.is_empty(), "{}", run.stderr);
}
