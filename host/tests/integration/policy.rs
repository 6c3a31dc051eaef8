//! Team policy against the real engine: each hostile request ends with a clear
//! error, a journal entry naming the rule, and an engine left as it was.

use crate::common::*;

/// The last call entry of `op` in the team's journal must be a denial by `rule`.
#[track_caller]
fn assert_journal_denied(team: &Team, op: &str, rule: &str) {
    let calls = team.calls(op);
    let last = calls
        .last()
        .unwrap_or_else(|| panic!("no `{op}` call in the journal"));
    assert_eq!(last["decision"], "denied", "{last}");
    assert_eq!(last["rule"], rule, "{last}");
    assert_eq!(last["team"], team.name.as_str(), "{last}");
}

#[track_caller]
fn assert_denied(
    result: Result<serde_json::Map<String, serde_json::Value>, String>,
    rule: &str,
) -> String {
    let err = result.expect_err("expected a denial");
    assert!(err.starts_with("denied: "), "{err}");
    assert!(err.contains(&format!("(policy rule `{rule}`)")), "{err}");
    err
}

#[test]
fn another_teams_container_is_invisible_by_id_and_by_name() {
    let owner = Team::new("owner");
    let intruder = Team::new("intruder");
    let name = unique("private");
    let id = out(
        &probe_ok(
            &owner,
            "create",
            &[
                ("image", "dockwright/base:latest"),
                ("name", &name),
                ("cmd", "sleep 300"),
            ],
        ),
        "id",
    )
    .to_string();
    probe_ok(&owner, "start", &[("container", &name)]);

    for reference in [id.as_str(), &id[..12], name.as_str()] {
        for (workflow, extra) in [
            ("inspect", vec![]),
            ("stop", vec![]),
            ("kill", vec![]),
            ("remove", vec![("force", "true")]),
            ("logs", vec![]),
            ("top", vec![]),
            ("stats", vec![]),
            ("wait-ready", vec![("log", "x"), ("timeout-ms", "100")]),
            ("exec", vec![("cmd", "true")]),
        ] {
            let mut params = vec![("container", reference)];
            params.extend(extra);
            let err = probe(&intruder, workflow, &params).unwrap_err();
            assert_eq!(
                err,
                format!("not-found: No such container: {reference}"),
                "{workflow} on {reference}"
            );
        }
    }
    let err = probe(
        &intruder,
        "commit",
        &[("container", &name), ("repo", "stolen/snap")],
    )
    .unwrap_err();
    assert_eq!(err, format!("not-found: No such container: {name}"));
    // Exactly what a container that does not exist answers.
    let missing = unique("missing");
    let err = probe(&intruder, "inspect", &[("container", &missing)]).unwrap_err();
    assert_eq!(err, format!("not-found: No such container: {missing}"));
    // Lists show only the caller's own.
    let listed = probe_ok(&intruder, "list", &[("all", "true")]);
    assert_eq!(out(&listed, "count"), "0");
    let listed = probe_ok(&owner, "list", &[("all", "true")]);
    assert_eq!(out(&listed, "names"), name);
    // And the container is untouched.
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Status}}", &id]).trim(),
        "running"
    );
}

#[test]
fn ownership_labels_cannot_be_set_by_a_plugin() {
    let team = Team::new("labels");
    for label in [
        "dockwright.team=other",
        "dockwright.run=x",
        "dockwright.plugin=y",
    ] {
        let result = probe(
            &team,
            "create",
            &[("image", "dockwright/base:latest"), ("labels", label)],
        );
        assert_denied(result, "labels");
        assert_journal_denied(&team, "create-container", "labels");
    }
    assert!(team.containers().is_empty());
}

#[test]
fn quotas_on_containers_and_running_containers() {
    let team = Team::with_policy(
        "quota",
        "images = [\"*\"]\nmax_containers = 2\nmax_running = 1\n",
    );
    let a = unique("qa");
    let b = unique("qb");
    for name in [&a, &b] {
        probe_ok(
            &team,
            "create",
            &[
                ("image", "dockwright/base:latest"),
                ("name", name),
                ("cmd", "sleep 300"),
            ],
        );
    }
    let result = probe(&team, "create", &[("image", "dockwright/base:latest")]);
    let err = assert_denied(result, "max_containers");
    assert!(err.contains('2'), "{err}");
    assert_journal_denied(&team, "create-container", "max_containers");
    probe_ok(&team, "start", &[("container", &a)]);
    assert_denied(probe(&team, "start", &[("container", &b)]), "max_running");
    assert_journal_denied(&team, "start-container", "max_running");
    assert_eq!(team.containers().len(), 2);
    let running = docker(&["ps", "-q", "--filter", &team.filter()]);
    assert_eq!(running.lines().count(), 1);
}

#[test]
fn images_outside_the_allowlist_are_refused() {
    let team = Team::with_policy("allow", "images = [\"dockwright/base:*\"]\n");
    let result = probe(&team, "create", &[("image", "dockwright/web:latest")]);
    let err = assert_denied(result, "images");
    assert!(err.contains("dockwright/web:latest"), "{err}");
    assert_journal_denied(&team, "create-container", "images");
    assert_denied(probe(&team, "pull", &[("image", "busybox")]), "images");
    assert_journal_denied(&team, "pull-image", "images");
    probe_ok(&team, "create", &[("image", "dockwright/base")]);
    assert_eq!(team.containers().len(), 1);
}

#[test]
fn build_contexts_must_stay_inside_the_allowed_root() {
    let team = Team::with_policy(
        "buildroot",
        "build_roots = [\"{home}/root\"]\ntags = [\"*\"]\n",
    );
    let root = team.home.join("root");
    let ok = root.join("ok");
    std::fs::create_dir_all(&ok).unwrap();
    std::fs::write(ok.join("Dockerfile"), "FROM dockwright/base:latest\n").unwrap();
    let outside = team.home.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("Dockerfile"), "FROM dockwright/base:latest\n").unwrap();
    std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
    let tag = format!("{}:1", unique("dwtest/root"));
    team.own_image(&tag);

    let escapes = [
        root.join("ok/../../outside").display().to_string(),
        outside.display().to_string(),
        "/etc".to_string(),
        root.join("link").display().to_string(),
    ];
    for dir in &escapes {
        let err = assert_denied(
            probe(&team, "build", &[("tag", &tag), ("dir", dir)]),
            "build_roots",
        );
        assert!(
            err.contains("outside") || err.contains("build root"),
            "{err}"
        );
        assert_journal_denied(&team, "build-image", "build_roots");
    }
    assert!(
        docker(&["images", "-q", &tag]).trim().is_empty(),
        "nothing was built"
    );
    probe_ok(
        &team,
        "build",
        &[("tag", &tag), ("dir", ok.to_str().unwrap())],
    );
}

#[test]
fn builds_and_commits_only_into_the_team_namespace() {
    let team = Team::with_policy(
        "namespace",
        "tags = [\"{team}/*\"]\nbuild_roots = [\"/\"]\n",
    );
    let name = unique("src");
    probe_ok(
        &team,
        "create",
        &[
            ("image", "dockwright/base:latest"),
            ("name", &name),
            ("cmd", "sleep 300"),
        ],
    );
    let result = probe(
        &team,
        "commit",
        &[("container", &name), ("repo", "other-team/snap")],
    );
    assert_denied(result, "tags");
    assert_journal_denied(&team, "commit-container", "tags");
    let result = probe(
        &team,
        "build",
        &[
            ("tag", "other-team/img:1"),
            ("dockerfile", "FROM dockwright/base:latest\n"),
        ],
    );
    assert_denied(result, "tags");
    assert!(docker(&["images", "-q", "other-team/snap"])
        .trim()
        .is_empty());

    let own = format!("{}/snap", team.name);
    team.own_image(&format!("{own}:latest"));
    probe_ok(&team, "commit", &[("container", &name), ("repo", &own)]);
}

#[test]
fn host_ports_stay_in_the_team_range() {
    let team = Team::with_policy("ports", "host_ports = \"30100-30199\"\n");
    let result = probe(
        &team,
        "create",
        &[("image", "dockwright/web:latest"), ("bind", "80/tcp=8080")],
    );
    let err = assert_denied(result, "host_ports");
    assert!(err.contains("8080") && err.contains("30100"), "{err}");
    assert_journal_denied(&team, "create-container", "host_ports");
    assert!(team.containers().is_empty());

    // "Any port" and publish-all get ports from the range.
    let any = unique("anyport");
    probe_ok(
        &team,
        "create",
        &[
            ("image", "dockwright/web:latest"),
            ("name", &any),
            ("bind", "80/tcp="),
        ],
    );
    let all = unique("puball");
    probe_ok(
        &team,
        "create",
        &[
            ("image", "dockwright/web:latest"),
            ("name", &all),
            ("publish-all", "true"),
        ],
    );
    // Both were given ports before either started: never the same one.
    let picked = |name: &str| {
        inspect("container", name)["Config"]["Labels"]["dockwright.host-ports"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has no dockwright.host-ports label"))
            .to_string()
    };
    assert_ne!(picked(&any), picked(&all));
    for name in [&any, &all] {
        probe_ok(&team, "start", &[("container", name)]);
        let info = probe_ok(&team, "inspect", &[("container", name)]);
        let port: u16 = out(&info, "ports")
            .rsplit(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((30100..=30199).contains(&port), "{name}: {info:?}");
    }
}

#[test]
fn created_containers_are_confined_whatever_was_asked() {
    let team = Team::with_policy("confined", "env = { TEAM = \"{team}\" }\n");
    let name = unique("confined");
    let id = out(
        &probe_ok(
            &team,
            "create",
            &[
                ("image", "dockwright/base:latest"),
                ("name", &name),
                ("env", "TEAM=spoofed"),
            ],
        ),
        "id",
    )
    .to_string();
    let view = inspect("container", &id);
    let hc = &view["HostConfig"];
    assert_eq!(hc["Privileged"], false);
    assert!(
        hc["Binds"].is_null() || hc["Binds"].as_array().unwrap().is_empty(),
        "{hc}"
    );
    assert!(
        view["Mounts"].as_array().unwrap().is_empty(),
        "{}",
        view["Mounts"]
    );
    // Not the default bridge: the team's own network, whatever was asked.
    let network = team.network();
    assert_eq!(hc["NetworkMode"].as_str(), Some(network.as_str()), "{hc}");
    for mode in ["PidMode", "UTSMode", "UsernsMode"] {
        assert_eq!(hc[mode], "", "{mode}");
    }
    assert!(
        matches!(hc["IpcMode"].as_str(), Some("private" | "shareable" | "")),
        "{hc}"
    );
    // Every capability dropped, and only the team's few (by default) added back:
    // never one beyond the engine's default set.
    assert_eq!(hc["CapDrop"], serde_json::json!(["ALL"]), "{hc}");
    let kept: Vec<&str> = hc["CapAdd"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert!(
        kept.iter()
            .all(|c| dockwright::policy::team::ENGINE_CAPABILITIES.contains(c)),
        "{hc}"
    );
    assert!(
        hc["Devices"].as_array().is_none_or(|d| d.is_empty()),
        "{hc}"
    );
    assert_eq!(hc["SecurityOpt"][0], "no-new-privileges");
    assert_eq!(
        hc["Memory"],
        256 << 20,
        "the default memory limit is injected"
    );
    assert_eq!(hc["PidsLimit"], 256, "the default pids limit is injected");
    let env = view["Config"]["Env"].to_string();
    assert!(
        env.contains(&format!("TEAM={}", team.name)) && !env.contains("spoofed"),
        "{env}"
    );

    let result = probe(
        &team,
        "create",
        &[
            ("image", "dockwright/base:latest"),
            ("memory", "99999999999"),
        ],
    );
    assert_denied(result, "memory");
}

#[test]
fn exec_as_root_needs_the_team_to_allow_it() {
    let team = Team::with_policy("execroot", "exec_as_root = false\n");
    let name = unique("exec");
    probe_ok(
        &team,
        "create",
        &[
            ("image", "dockwright/base:latest"),
            ("name", &name),
            ("cmd", "sleep 300"),
        ],
    );
    probe_ok(&team, "start", &[("container", &name)]);
    assert_denied(
        probe(&team, "exec", &[("container", &name), ("cmd", "id")]),
        "exec_as_root",
    );
    assert_denied(
        probe(
            &team,
            "exec",
            &[("container", &name), ("cmd", "id"), ("user", "0")],
        ),
        "exec_as_root",
    );
    assert_journal_denied(&team, "exec", "exec_as_root");
    let ran = probe_ok(
        &team,
        "exec",
        &[("container", &name), ("cmd", "id -u"), ("user", "1000")],
    );
    assert_eq!(out(&ran, "stdout").trim(), "1000");
}

/// An image of `team`'s whose /etc/passwd maps `nobody` to uid 0 and whose USER is
/// `nobody`.
fn image_with_root_nobody(team: &Team) -> String {
    let tag = format!("{}/nobody-root:1", team.name);
    team_image(
        team,
        &tag,
        "FROM dockwright/base\nRUN echo 'nobody:x:0:0::/:/bin/sh' > /etc/passwd\nUSER nobody\n",
    );
    tag
}

#[test]
fn exec_is_judged_by_the_uid_the_engine_would_run_not_by_the_name() {
    images();
    let team = Team::with_policy("execname", "exec_as_root = false\n");
    let image = image_with_root_nobody(&team);
    let name = unique("execname");
    probe_ok(
        &team,
        "create",
        &[("image", &image), ("name", &name), ("cmd", "sleep 300")],
    );
    probe_ok(&team, "start", &[("container", &name)]);
    // By name: `nobody` is uid 0 in this container.
    let err = probe(
        &team,
        "exec",
        &[("container", &name), ("cmd", "id -u"), ("user", "nobody")],
    )
    .unwrap_err();
    assert!(err.contains("uid 0") && err.contains("`nobody`"), "{err}");
    assert!(err.contains("(policy rule `exec_as_root`)"), "{err}");
    // A name the container does not know cannot be checked: denied, not guessed.
    let err = probe(
        &team,
        "exec",
        &[("container", &name), ("cmd", "id -u"), ("user", "ghost")],
    )
    .unwrap_err();
    assert!(err.contains("cannot tell which uid"), "{err}");
    // A number runs as that number.
    let ran = probe_ok(
        &team,
        "exec",
        &[("container", &name), ("cmd", "id -u"), ("user", "1000")],
    );
    assert_eq!(out(&ran, "stdout").trim(), "1000");

    // With no user, the exec runs as the image's USER, `nobody`: uid 0 here.
    let default = unique("execdefault");
    probe_ok(
        &team,
        "create",
        &[("image", &image), ("name", &default), ("cmd", "sleep 300")],
    );
    probe_ok(&team, "start", &[("container", &default)]);
    let err = probe(&team, "exec", &[("container", &default), ("cmd", "id -u")]).unwrap_err();
    assert!(
        err.contains("default user `nobody`") && err.contains("uid 0"),
        "{err}"
    );
}

#[test]
fn plugins_the_team_may_not_run_are_refused() {
    let team = Team::with_policy("plugins", "plugins = [\"team-env\"]\n");
    let (report, run) = run_workflow(probe_dir(), &team, "engine", &[]);
    assert_eq!(report["status"], "failed");
    let err = report["error"].as_str().unwrap();
    assert!(
        err.contains("probe") && err.contains("(policy rule `plugins`)"),
        "{err}"
    );
    assert_ne!(run.code, 0);
    let ends: Vec<_> = team
        .journal()
        .into_iter()
        .filter(|e| e["event"] == "run-end")
        .collect();
    assert_eq!(ends.last().unwrap()["status"], "failed");
}

#[test]
fn unknown_team_and_bad_config_are_clear_errors() {
    let team = Team::new("known");
    let run = dockwright(
        probe_dir(),
        &["run", "engine", "--team", "nobody"],
        &[("DOCKWRIGHT_CONFIG", team.env()[0].1.as_str())],
    );
    run.assert_clean_failure("nobody");
    let bad = team.home.join("bad.toml");
    std::fs::write(&bad, "[teams.x]\nimagez = [\"*\"]\n").unwrap();
    let run = dockwright(
        probe_dir(),
        &["run", "engine", "--team", "x"],
        &[("DOCKWRIGHT_CONFIG", bad.to_str().unwrap())],
    );
    let line = run.assert_clean_failure("bad.toml");
    assert!(line.contains("imagez"), "{line}");
}
