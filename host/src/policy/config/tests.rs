//! Unit tests of [`super`], kept apart so the module reads as its code. The tests of
//! the whole file (the example, its top-level keys, loading it) are the aggregate's,
//! in `run::config`; these read the teams' section alone.

use super::*;
use crate::config::document::testing::read_at;

const EXAMPLE: &str = include_str!("../../../../examples/dockwright.toml");

pub(super) fn cwd() -> PathBuf {
    PathBuf::from("/work/here")
}

/// The teams' section of `text`, as a file at /etc/dockwright/dockwright.toml.
pub(super) fn parse_at(text: &str) -> anyhow::Result<Teams> {
    read_at(text, |doc| Teams::read(doc, &cwd()))
}

pub(super) fn error(text: &str) -> String {
    format!("{:#}", parse_at(text).unwrap_err())
}

impl Teams {
    /// The policy of team `name` (the aggregate's `Config::team` says which teams
    /// there are when it is missing).
    pub(super) fn team(&self, name: &str) -> Option<&TeamPolicy> {
        self.teams.get(name)
    }
}

#[test]
fn teams_name_the_engines_they_may_use() {
    // Moved from the engines' test, which now reads the engine's section alone.
    let config = parse_at(
        "[engines.build]\nhost = \"tcp://build.lan:2376\"\ncert_path = \"certs/build\"\n\
         [teams.blue]\nengines = [\"default\", \"build\"]\n",
    )
    .unwrap();
    assert_eq!(config.team("blue").unwrap().engines, ["default", "build"]);
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
    assert!(Teams::builtin(&cwd()).tokens.is_empty());

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
fn groups_say_who_acts_for_one_team() {
    let config = parse_at(EXAMPLE).unwrap();
    assert_eq!(config.groups["blue"], ["eng-blue"]);
    assert!(!config.groups.contains_key("green"));
    assert_eq!(config.teams["blue"].max_containers_per_user, Some(3));
    assert_eq!(config.teams["green"].max_containers_per_user, None);
    for (text, key) in [
        (
            "[defaults]\ngroups = [\"x\"]\n[teams.a]\n",
            "defaults.groups",
        ),
        ("[teams.a]\ngroups = [\"\"]\n", "teams.a.groups"),
        ("[teams.a]\ngroups = \"eng\"\n", "teams.a.groups"),
        (
            "[teams.a]\nmax_containers_per_user = 0\n",
            "teams.a.max_containers_per_user",
        ),
    ] {
        let err = error(text);
        assert!(err.contains(key), "{text}: {err}");
    }
}
