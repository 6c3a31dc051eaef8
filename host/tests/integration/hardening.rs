//! Containers are hardened by default and by team: every capability dropped but a
//! few, and under a hardened team a read-only root, a non-root user the host
//! resolved and pinned, and published ports on the team's addresses only. Each test
//! inspects what the engine made, as docker-bench-security would, and tries what a
//! hostile team would.

use crate::common::*;

/// A team that may use its own images and the examples, with every hardening on.
const HARDENED: &str = r#"
images = ["dockwright/*", "{team}/*"]
capabilities = ["CHOWN", "SETUID", "SETGID"]
read_only_rootfs = true
run_as_root = false
host_ips = ["127.0.0.1"]
memory = { default = "64m", max = "128m" }
cpus = { default = 0.5, max = 1.0 }
pids = { default = 64, max = 128 }
"#;

/// An image `name` of `team`'s, built outside dockwright from `dockerfile`.
fn image(team: &Team, name: &str, dockerfile: &str) -> String {
    let tag = format!("{}/{name}:1", team.name);
    team_image(team, &tag, dockerfile);
    tag
}

#[test]
fn a_hardened_team_s_container_has_every_setting_the_readme_promises() {
    let team = Team::with_policy("hardened", HARDENED);
    // A named non-root user: resolved in the container's files, then pinned by number.
    let image = image(
        &team,
        "app",
        "FROM dockwright/base\nRUN echo 'app:x:1000:1000::/:/bin/sh' > /etc/passwd\nUSER app\n",
    );
    let name = unique("hardened");
    probe_ok(
        &team,
        "create",
        &[
            ("image", &image),
            ("name", &name),
            ("cmd", "sleep 300"),
            ("bind", "80/tcp="),
        ],
    );
    let view = inspect("container", &name);
    let host = &view["HostConfig"];
    assert_eq!(host["CapDrop"], serde_json::json!(["ALL"]), "{host}");
    assert_eq!(
        host["CapAdd"],
        serde_json::json!(["CHOWN", "SETUID", "SETGID"]),
        "{host}"
    );
    assert_eq!(host["ReadonlyRootfs"], true);
    assert!(host["Tmpfs"]["/tmp"].is_string(), "{host}");
    assert_eq!(view["Config"]["User"], "1000:1000");
    let bindings = host["PortBindings"]["80/tcp"].as_array().unwrap();
    assert!(
        bindings.iter().all(|b| b["HostIp"] == "127.0.0.1"),
        "{bindings:?}"
    );
    assert!(host["SecurityOpt"]
        .as_array()
        .unwrap()
        .iter()
        .any(|o| o == "no-new-privileges"));
    assert_eq!(host["Memory"], 64 << 20);
    assert_eq!(host["PidsLimit"], 64);
    assert_eq!(host["NanoCpus"], 500_000_000);
    // Only the pinned container is left: the first one, made to read its files, is gone.
    assert_eq!(team.containers().len(), 1);
    // It runs as that user, with a root it cannot write and a /tmp it can.
    probe_ok(&team, "start", &[("container", &name)]);
    let ran = probe_ok(
        &team,
        "exec",
        &[
            ("container", &name),
            // `~` is a space inside one word of the probe's command.
            (
                "cmd",
                "sh -c id~-u;~touch~/x~2>/dev/null~||~echo~ro;~touch~/tmp/y~&&~echo~tmp",
            ),
        ],
    );
    let stdout = out(&ran, "stdout");
    assert_eq!(
        stdout.split_whitespace().collect::<Vec<_>>(),
        ["1000", "ro", "tmp"]
    );
    let ports = probe_ok(&team, "inspect", &[("container", &name)]);
    let listed = out(&ports, "ports");
    assert!(listed.starts_with("80/tcp->127.0.0.1:"), "{listed}");
}

#[test]
fn a_hardened_team_cannot_run_root_or_bind_elsewhere() {
    let team = Team::with_policy("hardened-no", HARDENED);
    // `nobody` is uid 0 in this image's files.
    let root_by_name = image(
        &team,
        "nobody",
        "FROM dockwright/base\nRUN echo 'nobody:x:0:0::/:/bin/sh' > /etc/passwd\nUSER nobody\n",
    );
    for image in [root_by_name.as_str(), "dockwright/base:latest"] {
        let err = probe(&team, "create", &[("image", image), ("cmd", "sleep 300")]).unwrap_err();
        assert!(
            err.contains("uid 0") && err.contains("(policy rule `run_as_root`)"),
            "{image}: {err}"
        );
    }
    // Nothing made to read the files is left behind.
    assert!(team.containers().is_empty(), "{:?}", team.containers());
    let numeric = image(&team, "numeric", "FROM dockwright/base\nUSER 1000\n");
    let err = probe(
        &team,
        "create",
        &[
            ("image", &numeric),
            ("cmd", "sleep 300"),
            ("bind", "80/tcp=0.0.0.0:"),
        ],
    )
    .unwrap_err();
    assert!(
        err.contains("(policy rule `host_ips`)") && err.contains("0.0.0.0"),
        "{err}"
    );
    assert!(team.containers().is_empty());
}

#[test]
fn by_default_containers_keep_only_a_few_capabilities() {
    let team = Team::new("caps");
    let name = unique("caps");
    probe_ok(
        &team,
        "create",
        &[
            ("image", "dockwright/base:latest"),
            ("name", &name),
            ("cmd", "sleep 300"),
        ],
    );
    let host = inspect("container", &name)["HostConfig"].clone();
    assert_eq!(host["CapDrop"], serde_json::json!(["ALL"]));
    let kept: Vec<&str> = host["CapAdd"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert!(
        kept.contains(&"NET_BIND_SERVICE") && !kept.contains(&"NET_RAW"),
        "{kept:?}"
    );
    assert_eq!(host["ReadonlyRootfs"], false);
    // A port on every address is bound once per address family by the engine, and
    // reported once.
    let web = unique("caps-web");
    probe_ok(
        &team,
        "create",
        &[
            ("image", "dockwright/web:latest"),
            ("name", &web),
            ("bind", "80/tcp="),
        ],
    );
    probe_ok(&team, "start", &[("container", &web)]);
    let listed = out(&probe_ok(&team, "inspect", &[("container", &web)]), "ports").to_string();
    assert_eq!(listed.matches("80/tcp").count(), 1, "{listed}");
}

#[test]
fn a_healthcheck_in_the_spec_reaches_the_engine() {
    let team = Team::new("health");
    let name = unique("health");
    probe_ok(
        &team,
        "create",
        &[
            ("image", "dockwright/base:latest"),
            ("name", &name),
            ("cmd", "sleep 300"),
            ("healthcheck", "test -d /"),
        ],
    );
    let check = inspect("container", &name)["Config"]["Healthcheck"].clone();
    assert_eq!(
        check["Test"],
        serde_json::json!(["CMD", "test", "-d", "/"]),
        "{check}"
    );
    assert_eq!(check["Interval"], 1_000_000_000i64);
    assert_eq!(check["Retries"], 3);
    // The engine tracks the container's health from its start.
    probe_ok(&team, "start", &[("container", &name)]);
    // Any status will do (a loaded machine may time the check out): that there is
    // one says the engine runs the check.
    let health = inspect("container", &name)["State"]["Health"]["Status"].clone();
    assert!(
        ["starting", "healthy", "unhealthy"].contains(&health.as_str().unwrap_or("")),
        "{health}"
    );
}

#[test]
fn a_config_cannot_grant_a_capability_beyond_the_engine_s_default() {
    let team = Team::with_policy("caps-more", "capabilities = [\"CHOWN\", \"SYS_ADMIN\"]\n");
    let run = team.dockwright(
        probe_dir(),
        &["run", "create", "-p", "image=dockwright/base:latest"],
    );
    let line = run.assert_clean_failure("capabilities");
    assert!(
        line.contains("SYS_ADMIN") && line.contains("never grants more"),
        "{line}"
    );
    assert!(team.containers().is_empty());
}
