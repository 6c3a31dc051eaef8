//! Unit tests of [`super`], kept apart so the module reads as its code.

use super::*;
use crate::config::document::testing;

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

/// The engine section of `text`, as the tests' config file.
fn read_at(text: &str) -> anyhow::Result<Engines> {
    testing::read_at(text, Engines::read)
}

fn error(text: &str) -> String {
    format!("{:#}", read_at(text).unwrap_err())
}

#[test]
fn engines_are_named_with_their_tls_files() {
    let config = read_at(
        "[engines.build]\nhost = \"tcp://build.lan:2376\"\ncert_path = \"certs/build\"\n\
         [engines.local2]\nhost = \"unix:///run/docker2.sock\"\n\
         [engines.pinned]\nhost = \"tcp://10.0.0.9:2376\"\nca = \"/pki/ca.pem\"\ncert = \"c.pem\"\nkey = \"k.pem\"\n\
         [teams.blue]\nengines = [\"default\", \"build\"]\n",
    )
    .unwrap();
    let build = &config.targets["build"];
    assert_eq!(build.host, "tcp://build.lan:2376");
    let tls = build.tls.as_ref().unwrap();
    assert_eq!(tls.ca, PathBuf::from("/etc/dockwright/certs/build/ca.pem"));
    assert_eq!(
        tls.key,
        PathBuf::from("/etc/dockwright/certs/build/key.pem")
    );
    assert_eq!(config.targets["local2"].tls, None);
    let pinned = config.targets["pinned"].tls.as_ref().unwrap();
    assert_eq!(pinned.ca, PathBuf::from("/pki/ca.pem"));
    assert_eq!(pinned.cert, PathBuf::from("/etc/dockwright/c.pem"));

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
fn public_host_is_checked_where_the_file_gives_it() {
    let config = read_at("public_host = \" dw.lan \"\n[teams.blue]\n").unwrap();
    assert_eq!(config.public_host.as_deref(), Some("dw.lan"));
    assert_eq!(read_at("[teams.blue]\n").unwrap(), Engines::default());
    let err = error("[teams.blue]\n[engines.b]\nhost = \"tcp://x:1\"\npublic_host = \"a b\"");
    assert!(
        err.starts_with("/etc/dockwright/dockwright.toml:2:10: engines.b: public_host `a b`"),
        "{err}"
    );
    let err = error("public_host = \"http://x\"\n[teams.blue]\n");
    assert!(
        err.starts_with("/etc/dockwright/dockwright.toml:1:1: public_host: public_host `http://x`"),
        "{err}"
    );
}
