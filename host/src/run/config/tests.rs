//! Unit tests of [`super`], kept apart so the module reads as its code: the whole
//! file, its sections gathered (each section's own rules are tested by its owner).

use std::time::Duration;

use super::*;
use crate::policy::team::{default_team, Limit};

const EXAMPLE: &str = include_str!("../../../../examples/dockwright.toml");

/// The config `text` describes, as read from `source`.
fn parse(text: &str, source: &Path, cwd: &Path) -> anyhow::Result<Config> {
    Config::read(&Document::parse(text, source, cwd)?, cwd)
}

/// The config in force, as `serve::config::load` finds it, with `default` for the
/// default path.
fn load_from(explicit: Option<&Path>, default: &Path, cwd: &Path) -> anyhow::Result<Config> {
    match read_file_from(explicit, default, cwd)? {
        Some(file) => Config::read(&file.document(cwd)?, cwd),
        None => Ok(Config::builtin(cwd)),
    }
}

pub(super) fn cwd() -> PathBuf {
    PathBuf::from("/work/here")
}

pub(super) fn parse_at(text: &str) -> anyhow::Result<Config> {
    parse(text, Path::new("/etc/dockwright/dockwright.toml"), &cwd())
}

pub(super) fn error(text: &str) -> String {
    format!("{:#}", parse_at(text).unwrap_err())
}

#[test]
fn the_example_parses() {
    let config = parse_at(EXAMPLE).unwrap();
    assert_eq!(
        config.teams.keys().collect::<Vec<_>>(),
        vec!["blue", "green"]
    );
    let blue = config.team("blue").unwrap();
    assert_eq!(blue.images, vec!["dockwright/*", "blue/*"]);
    assert_eq!(
        blue.memory_bytes,
        Limit {
            default: 256 << 20,
            max: 1 << 30
        }
    );
    assert_eq!(
        blue.cpus,
        Limit {
            default: 0.5,
            max: 2.0
        }
    );
    assert_eq!(blue.host_ports, 30000..=30999);
    assert_eq!(
        blue.build_roots,
        vec![
            PathBuf::from("/srv/dockwright/blue"),
            PathBuf::from("/etc/dockwright/contexts/blue")
        ]
    );
    assert!(blue.env.contains(&("TEAM".into(), "blue".into())));
    assert_eq!(blue.limits.timeout, Duration::from_secs(300));
    assert!(!blue.require_signed && blue.trusted_keys.is_empty());
    assert_eq!(blue.permissions, None);
    assert_eq!(config.registries.insecure, vec!["registry.lan:5000"]);
    assert_eq!(config.engines["build"].host, "tcp://build.lan:2376");
    assert_eq!(blue.engines, ["*"]);
    assert_eq!(
        config.journal,
        Some(PathBuf::from("/var/lib/dockwright/journal.db"))
    );
    assert_eq!(
        config.journal_retention,
        Some(Retention::Age(Duration::from_secs(90 * 86_400)))
    );
    assert_eq!(
        config.source,
        Some(PathBuf::from("/etc/dockwright/dockwright.toml"))
    );
    // Every policy the example gives is one the checks can use.
    for team in config.teams.values() {
        assert!(team.memory_bytes.default <= team.memory_bytes.max);
        assert!(team.pids.default <= team.pids.max);
    }
}

#[test]
fn unknown_keys_list_the_allowed_keys() {
    // (config, the unknown key's full path, an allowed key listed, the suggestion)
    let cases: &[(&str, &str, &str, Option<&str>)] = &[
        (
            "[teams.blue]\nmemroy = { max = \"1g\" }",
            "teams.blue.memroy",
            "max_containers",
            Some("memory"),
        ),
        (
            "[teams.blue]\nmemory = { maximum = \"1g\" }",
            "teams.blue.memory.maximum",
            "default",
            Some("max"),
        ),
        (
            "[teams.blue.plugin_limits]\nlogs = \"1m\"",
            "teams.blue.plugin_limits.logs",
            "timeout",
            Some("log"),
        ),
        (
            "[defaults]\nwhatever = 1\n[teams.blue]",
            "defaults.whatever",
            "exec_as_root",
            None,
        ),
        (
            "jornal = \"/j\"\n[teams.blue]",
            "jornal",
            "teams",
            Some("journal"),
        ),
        ("[team.blue]", "team", "defaults", Some("teams")),
    ];
    for (text, key, allowed, suggestion) in cases {
        let err = error(text);
        assert!(err.starts_with("/etc/dockwright/dockwright.toml:"), "{err}");
        assert!(
            err.contains(&format!(": {key}: unknown key")),
            "{text}\n=> {err}"
        );
        assert!(err.contains("the keys allowed here are"), "{err}");
        assert!(err.contains(allowed), "{text}\nwants {allowed}\n=> {err}");
        match suggestion {
            Some(s) => assert!(err.contains(&format!("did you mean `{s}`?")), "{err}"),
            None => assert!(!err.contains("did you mean"), "{err}"),
        }
    }
}

#[test]
fn syntax_errors_name_the_file() {
    for text in [
        "[teams.blue",
        "[teams.blue]\nmax_running = 1\nmax_running = 2",
        "x = ",
    ] {
        let err = error(text);
        assert!(err.starts_with("/etc/dockwright/dockwright.toml:"), "{err}");
    }
}

#[test]
fn unknown_teams_suggest_a_close_name() {
    let config = parse_at(EXAMPLE).unwrap();
    let err = config.team("bleu").unwrap_err().to_string();
    assert!(err.contains("team `bleu` is not configured"), "{err}");
    assert!(err.contains("/etc/dockwright/dockwright.toml"), "{err}");
    assert!(err.contains("`blue`, `green`"), "{err}");
    assert!(err.contains("did you mean `blue`?"), "{err}");
    let err = config.team("red").unwrap_err().to_string();
    assert!(!err.contains("did you mean"), "{err}");
    assert!(err.contains("--team"), "{err}");

    let builtin = Config::builtin(&cwd());
    let err = builtin.team("blue").unwrap_err().to_string();
    assert!(err.contains("built-in config"), "{err}");
    assert!(err.contains("`default`"), "{err}");
}

// Unix: a symlink among the roots (Windows makes them only with a privilege).
#[cfg(unix)]
#[test]
fn relative_paths_are_taken_from_the_config_folder() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real-contexts");
    std::fs::create_dir(&real).unwrap();
    std::os::unix::fs::symlink(&real, dir.path().join("contexts")).unwrap();
    let canonical = std::fs::canonicalize(&real).unwrap();
    let text = "journal = \"state/journal.jsonl\"\n[teams.blue]\nbuild_roots = [\"contexts\", \"missing\", \"/abs\"]";

    // Roots that exist are canonical (the symlink resolved); others are kept.
    let config = parse(text, &dir.path().join("dockwright.toml"), Path::new("/")).unwrap();
    let blue = config.team("blue").unwrap();
    assert_eq!(
        blue.build_roots,
        vec![
            canonical.clone(),
            dir.path().join("missing"),
            PathBuf::from("/abs")
        ]
    );
    assert_eq!(config.journal, Some(dir.path().join("state/journal.jsonl")));
    // So a canonical context below the symlinked root is allowed.
    assert_eq!(
        crate::policy::build::check_build_context(blue, &canonical.join("site")),
        Ok(())
    );

    // A relative config path is itself taken from the cwd.
    let config = parse(text, Path::new("conf/dockwright.toml"), dir.path()).unwrap();
    assert_eq!(
        config.team("blue").unwrap().build_roots[1],
        dir.path().join("conf/missing")
    );
    assert_eq!(
        config.journal,
        Some(dir.path().join("conf/state/journal.jsonl"))
    );
}

#[test]
fn loading() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let missing = cwd.join("nope.toml");
    let present = cwd.join("present.toml");
    std::fs::write(&present, "[teams.blue]\n").unwrap();

    // An explicit file must exist.
    let err = format!(
        "{:#}",
        load_from(Some(&missing), &present, cwd).unwrap_err()
    );
    assert!(err.contains("nope.toml"), "{err}");
    // An explicit file wins over the default path.
    let config = load_from(Some(Path::new("present.toml")), &missing, cwd).unwrap();
    assert_eq!(config.source, Some(PathBuf::from("present.toml")));
    assert!(config.teams.contains_key("blue"));
    // The default path is read when it exists...
    let config = load_from(None, &present, cwd).unwrap();
    assert_eq!(config.source, Some(present.clone()));
    // ...and when it does not, the built-in default applies.
    let config = load_from(None, &missing, cwd).unwrap();
    assert_eq!(config, Config::builtin(cwd));
    assert_eq!(
        config.team("default").unwrap(),
        &default_team("default", cwd)
    );
    assert_eq!(config.source, None);
    // A default path that exists but cannot be read is an error, not the default.
    let err = format!("{:#}", load_from(None, cwd, cwd).unwrap_err());
    assert!(err.contains("cannot read the config file"), "{err}");
    // A file that does not parse is an error naming it.
    std::fs::write(&present, "[teams]\n").unwrap();
    let err = format!("{:#}", load_from(None, &present, cwd).unwrap_err());
    assert!(err.contains("present.toml"), "{err}");
}
