//! Unit tests of [`super`], kept apart so the module reads as its code.

use super::*;

#[test]
fn public_hosts_are_names_or_addresses() {
    for good in [
        "build.example.com",
        "10.0.0.5",
        "host-1",
        "::1",
        "[fe80::1]",
        " dw.lan ",
    ] {
        assert!(check_public_host(good).is_ok(), "{good}");
    }
    assert_eq!(check_public_host(" dw.lan ").unwrap(), "dw.lan");
    for bad in [
        "",
        "http://dw.lan",
        "dw.lan:8080",
        "dw.lan/x",
        "-dw",
        "a b",
        "dw_lan",
    ] {
        let err = check_public_host(bad).unwrap_err();
        assert!(
            err.contains("not a host name or IP address"),
            "{bad}: {err}"
        );
    }
}

const EXAMPLE: &str = include_str!("../../../../examples/dockwright.toml");

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
fn engines_are_named_with_their_tls_files() {
    let config = parse_at(
        "[engines.build]\nhost = \"tcp://build.lan:2376\"\ncert_path = \"certs/build\"\n\
         [engines.local2]\nhost = \"unix:///run/docker2.sock\"\n\
         [engines.pinned]\nhost = \"tcp://10.0.0.9:2376\"\nca = \"/pki/ca.pem\"\ncert = \"c.pem\"\nkey = \"k.pem\"\n\
         [teams.blue]\nengines = [\"default\", \"build\"]\n",
    )
    .unwrap();
    let build = &config.engines["build"];
    assert_eq!(build.host, "tcp://build.lan:2376");
    let tls = build.tls.as_ref().unwrap();
    assert_eq!(tls.ca, PathBuf::from("/etc/dockwright/certs/build/ca.pem"));
    assert_eq!(
        tls.key,
        PathBuf::from("/etc/dockwright/certs/build/key.pem")
    );
    assert_eq!(config.engines["local2"].tls, None);
    let pinned = config.engines["pinned"].tls.as_ref().unwrap();
    assert_eq!(pinned.ca, PathBuf::from("/pki/ca.pem"));
    assert_eq!(pinned.cert, PathBuf::from("/etc/dockwright/c.pem"));
    assert_eq!(config.team("blue").unwrap().engines, ["default", "build"]);

    let bad: &[(&str, &str)] = &[
        ("[engines.default]\nhost = \"tcp://x:1\"", "DOCKER_HOST"),
        ("[engines.b]\nhost = \"ssh://x\"", "not an engine address"),
        (
            "[engines.b]\nhost = \"tcp://x:1\"\nca = \"ca.pem\"",
            "all of `ca`, `cert` and `key`",
        ),
        (
            "[engines.b]\nhost = \"unix:///x\"\ncert_path = \"c\"",
            "TLS is for tcp://",
        ),
        ("[engines.B]\nhost = \"tcp://x:1\"", "not an engine name"),
        ("[engines.b]\nhots = \"tcp://x:1\"", "hots"),
    ];
    for (text, needle) in bad {
        let err = error(&format!("{text}\n[teams.blue]\n"));
        assert!(
            err.contains(needle) && err.contains("engines"),
            "{text}: {err}"
        );
    }
}

#[test]
fn serve_settings_are_read_with_their_units() {
    let config = parse_at(
        "[serve]\nlisten = \"0.0.0.0:9090\"\nmax_runs = 32\nmax_team_runs = 2\n\
         drain_timeout = \"2m\"\nfair_window = \"500ms\"\nmax_body = \"1m\"\n\
         header_timeout = \"5s\"\nidle_timeout = \"2m\"\nmax_connections = 300\n[teams.blue]\n",
    )
    .unwrap();
    let serve = &config.serve;
    assert_eq!(serve.listen, Some("0.0.0.0:9090".parse().unwrap()));
    assert_eq!((serve.max_runs, serve.max_team_runs), (Some(32), Some(2)));
    assert_eq!(serve.drain_timeout, Some(Duration::from_secs(120)));
    assert_eq!(serve.fair_window, Some(Duration::from_millis(500)));
    assert_eq!(serve.max_body, Some(1 << 20));
    assert_eq!(serve.header_timeout, Some(Duration::from_secs(5)));
    assert_eq!(serve.idle_timeout, Some(Duration::from_secs(120)));
    assert_eq!(serve.max_connections, Some(300));
    assert_eq!(
        parse_at("[teams.blue]\n").unwrap().serve,
        ServeSettings::default()
    );
    for (text, needle) in [
        ("listen = \"localhost\"", "serve.listen"),
        ("max_runs = 0", "serve.max_runs"),
        ("drain_timeout = 30", "serve.drain_timeout"),
        ("max_bodey = 1", "max_bodey"),
        ("max_connections = 0", "serve.max_connections"),
        ("idle_timeout = \"soon\"", "serve.idle_timeout"),
    ] {
        let err = error(&format!("[serve]\n{text}\n[teams.blue]\n"));
        assert!(err.contains(needle), "{text}: {err}");
    }
}

#[test]
fn team_names() {
    for ok in ["default", "blue-team", "a.b_c1"] {
        assert!(check_team(ok).is_ok(), "{ok}");
    }
    for bad in [
        "",
        "Blue",
        "a b",
        "a/b",
        &"x".repeat(64),
        ".",
        "..",
        "-x",
        "_x",
    ] {
        assert!(check_team(bad).is_err(), "{bad}");
    }
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
fn tokens_are_hashes_of_one_team() {
    let config = parse_at(EXAMPLE).unwrap();
    let hash = "sha256:50d858e0985ecc7f60418aaf0cc5ab587f42c2570a884095a9e8ccacd0f6545c";
    assert_eq!(config.tokens["blue"], vec![hash.to_string()]);
    assert!(!config.tokens.contains_key("green"));

    // Kept lowercase and once; teams without tokens have no entry.
    let upper = hash.to_ascii_uppercase().replace("SHA256:", "sha256:");
    let text = format!("[teams.a]\ntokens = [\"{upper}\", \"{hash}\"]\n[teams.b]\n");
    let config = parse_at(&text).unwrap();
    assert_eq!(config.tokens.len(), 1);
    assert_eq!(config.tokens["a"], vec![hash.to_string()]);
    assert!(Config::builtin(&cwd()).tokens.is_empty());

    let h = &hash["sha256:".len()..];
    let cases = [
        (
            format!("[teams.a]\ntokens = [\"{h}\"]"),
            "teams.a.tokens",
            "expected a token hash",
        ),
        (
            "[teams.a]\ntokens = [\"sha256:abc\"]".to_string(),
            "teams.a.tokens",
            "found \"sha256:abc\"",
        ),
        (
            "[teams.a]\ntokens = \"x\"".to_string(),
            "teams.a.tokens",
            "expected an array",
        ),
        (
            format!("[defaults]\ntokens = [\"{hash}\"]\n[teams.a]"),
            "defaults.tokens",
            "belongs to one team",
        ),
        (
            format!("[teams.a]\ntokens = [\"{hash}\"]\n[teams.b]\ntokens = [\"{hash}\"]"),
            "teams.b.tokens",
            "also one of team `a`'s",
        ),
    ];
    for (text, key, words) in cases {
        let err = error(&text);
        assert!(
            err.contains(&format!(": {key}: ")),
            "{text}\nwants {key}\n=> {err}"
        );
        assert!(err.contains(words), "{text}\nwants {words}\n=> {err}");
    }
}

#[test]
fn errors_give_the_line_and_column() {
    let err = error("[teams.blue]\nimages = []\nmemory = { max = \"lots\" }\n");
    assert!(
        err.starts_with("/etc/dockwright/dockwright.toml:3:18: teams.blue.memory.max: "),
        "{err}"
    );
    let err = error("[teams.blue]\nmax_running = [\n");
    assert!(err.starts_with("/etc/dockwright/dockwright.toml:"), "{err}");
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

#[test]
fn journal_retention_is_an_age_or_a_count() {
    let day = Duration::from_secs(86_400);
    let retention = |value: &str| {
        parse_at(&format!("journal_retention = {value}\n[teams.blue]")).map(|c| c.journal_retention)
    };
    assert_eq!(
        retention("\"90d\"").unwrap(),
        Some(Retention::Age(90 * day))
    );
    assert_eq!(retention("100000").unwrap(), Some(Retention::Runs(100_000)));
    assert_eq!(parse_at("[teams.blue]").unwrap().journal_retention, None);
    for bad in ["0", "-5", "\"90 days\"", "\"\"", "true"] {
        let e = format!("{:#}", retention(bad).unwrap_err());
        assert!(e.contains("journal_retention"), "{bad}: {e}");
        assert!(e.contains("\"90d\""), "{bad}: {e}");
    }
}
