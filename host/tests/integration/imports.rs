//! Every `docker` import, driven through the `probe` test plugin and the real CLI,
//! checked against the real engine (often with the docker CLI as the witness).

use crate::common::*;

fn create_sleeper(team: &Team, name: &str) -> String {
    let out = probe_ok(
        team,
        "create",
        &[
            ("image", "dockwright/base:latest"),
            ("name", name),
            ("cmd", "sleep 300"),
        ],
    );
    out_id(&out)
}

fn out_id(outputs: &serde_json::Map<String, serde_json::Value>) -> String {
    let id = out(outputs, "id").to_string();
    assert_eq!(id.len(), 64, "not a container id: {id}");
    id
}

#[test]
fn create_start_inspect_with_labels_ports_and_safe_settings() {
    let team = Team::new("create");
    let name = unique("web");
    let created = probe_ok(
        &team,
        "create",
        &[
            ("image", "dockwright/web:latest"),
            ("name", &name),
            ("env", "TEAM=blue,EXTRA=1"),
            ("bind", "80/tcp="),
            ("labels", "app=web"),
            ("memory", "67108864"),
            ("cpus", "0.5"),
            ("pids", "64"),
            ("restart", "on-failure:2"),
        ],
    );
    let id = out_id(&created);
    probe_ok(&team, "start", &[("container", &name)]);
    let info = probe_ok(&team, "inspect", &[("container", &name)]);
    assert_eq!(out(&info, "id"), id);
    assert_eq!(out(&info, "name"), name);
    assert_eq!(out(&info, "image"), "dockwright/web:latest");
    assert_eq!(out(&info, "state"), "running");
    assert!(!out(&info, "ip").is_empty(), "no IP: {info:?}");
    assert!(out(&info, "ports").starts_with("80/tcp->"), "{info:?}");
    let labels = out(&info, "labels");
    for want in [
        "app=web".to_string(),
        format!("dockwright.team={}", team.name),
        "dockwright.plugin=probe@sha256:".to_string(),
        "dockwright.run=".to_string(),
    ] {
        assert!(labels.contains(&want), "`{want}` not in {labels}");
    }

    // The engine's own view agrees, and the safety settings are there.
    let engine_view = inspect("container", &id);
    let env: Vec<&str> = engine_view["Config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        env.contains(&"TEAM=blue") && env.contains(&"EXTRA=1"),
        "{env:?}"
    );
    let hc = &engine_view["HostConfig"];
    assert_eq!(hc["Privileged"], false);
    assert_eq!(hc["SecurityOpt"][0], "no-new-privileges");
    assert_eq!(hc["Memory"], 67108864);
    assert_eq!(hc["NanoCpus"], 500_000_000);
    assert_eq!(hc["PidsLimit"], 64);
    assert_eq!(hc["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(hc["RestartPolicy"]["MaximumRetryCount"], 2);

    // The port answers HTTP once ready.
    probe_ok(
        &team,
        "wait-ready",
        &[
            ("container", &name),
            ("port", "80/tcp"),
            ("timeout-ms", "20000"),
        ],
    );
    // The IPv4 mapping: this engine may give IPv6 another port.
    let port: u16 = out(&info, "ports")
        .split(';')
        .find_map(|p| p.split_once("->0.0.0.0:"))
        .map(|(_, port)| port.parse().unwrap())
        .unwrap();
    let page = http_get("127.0.0.1", port, "/").unwrap();
    assert!(
        page.starts_with("HTTP/1.") && page.contains(" 200 "),
        "{page}"
    );
}

#[test]
fn stop_start_kill_wait_remove() {
    let team = Team::new("life");
    let name = unique("life");
    let id = create_sleeper(&team, &name);
    probe_ok(&team, "start", &[("container", &name)]);
    // Starting a running container is not an error.
    probe_ok(&team, "start", &[("container", &name)]);
    probe_ok(&team, "stop", &[("container", &name), ("timeout", "1")]);
    assert_eq!(
        docker(&["inspect", "-f", "{{.State.Status}}", &id]).trim(),
        "exited"
    );
    probe_ok(&team, "start", &[("container", &name)]);
    probe_ok(
        &team,
        "kill",
        &[("container", &name), ("signal", "SIGKILL")],
    );
    let waited = probe_ok(&team, "wait", &[("container", &name)]);
    assert_eq!(out(&waited, "exit-code"), "137");
    // Killing a stopped container is a conflict the plugin can see.
    let err = probe(&team, "kill", &[("container", &name)]).unwrap_err();
    assert!(err.starts_with("conflict: "), "{err}");
    probe_ok(&team, "remove", &[("container", &name)]);
    assert!(team.containers().is_empty());
    let err = probe(&team, "inspect", &[("container", &name)]).unwrap_err();
    assert!(err.starts_with("not-found: "), "{err}");
}

#[test]
fn wait_returns_the_exit_code_and_logs_split_streams() {
    let team = Team::new("logs");
    let name = unique("logs");
    probe_ok(
        &team,
        "create",
        &[
            ("image", "dockwright/base:latest"),
            ("name", &name),
            ("entrypoint", "sh -c"),
            ("cmd", "echo~out1;echo~err1~>&2;sleep~1;echo~out2;exit~3"),
        ],
    )
    .get("id")
    .unwrap();
    probe_ok(&team, "start", &[("container", &name)]);
    let waited = probe_ok(&team, "wait", &[("container", &name)]);
    assert_eq!(out(&waited, "exit-code"), "3");
    let info = probe_ok(&team, "inspect", &[("container", &name)]);
    assert_eq!(out(&info, "state"), "exited");
    assert_eq!(out(&info, "exit-code"), "3");
    let logs = probe_ok(&team, "logs", &[("container", &name)]);
    assert_eq!(out(&logs, "stdout"), "out1\nout2\n");
    assert_eq!(out(&logs, "stderr"), "err1\n");
    let tail = probe_ok(
        &team,
        "logs",
        &[("container", &name), ("stderr", "false"), ("tail", "1")],
    );
    assert_eq!(out(&tail, "stdout"), "out2\n");
    assert_eq!(out(&tail, "stderr"), "");
}

#[test]
fn exec_top_and_stats_on_a_running_container() {
    let team = Team::new("exec");
    let name = unique("exec");
    create_sleeper(&team, &name);
    probe_ok(&team, "start", &[("container", &name)]);

    let ran = probe_ok(
        &team,
        "exec",
        &[("container", &name), ("cmd", "env"), ("env", "GREETING=hi")],
    );
    assert_eq!(out(&ran, "exit-code"), "0");
    assert!(out(&ran, "stdout").contains("GREETING=hi"), "{ran:?}");
    let failed = probe_ok(
        &team,
        "exec",
        &[("container", &name), ("cmd", "sh -c exit~4")],
    );
    assert_eq!(out(&failed, "exit-code"), "4");
    let err = probe_ok(
        &team,
        "exec",
        &[("container", &name), ("cmd", "ls /nonexistent")],
    );
    assert_ne!(out(&err, "exit-code"), "0");
    assert!(out(&err, "stderr").contains("nonexistent"), "{err:?}");

    let top = probe_ok(&team, "top", &[("container", &name)]);
    assert!(out(&top, "titles").contains("PID"), "{top:?}");
    assert!(out(&top, "commands").contains("sleep 300"), "{top:?}");

    let stats = probe_ok(&team, "stats", &[("container", &name)]);
    assert!(out(&stats, "networks").contains("eth0:rx="), "{stats:?}");
    assert!(out(&stats, "memory-limit").parse::<u64>().unwrap() > 0);
    assert!(out(&stats, "pids").parse::<u64>().unwrap() >= 1);
    assert!(out(&stats, "cpu-percent").parse::<f64>().unwrap() >= 0.0);
}

#[test]
fn list_sees_labelled_containers() {
    let team = Team::new("list");
    let a = unique("la");
    let b = unique("lb");
    create_sleeper(&team, &a);
    create_sleeper(&team, &b);
    probe_ok(&team, "start", &[("container", &a)]);
    let label = format!("dockwright.team={}", team.name);
    let all = probe_ok(&team, "list", &[("all", "true"), ("label", &label)]);
    assert_eq!(out(&all, "count"), "2");
    let mut want = [a.clone(), b.clone()];
    want.sort();
    assert_eq!(out(&all, "names"), want.join(","));
    let running = probe_ok(&team, "list", &[("label", &label)]);
    assert_eq!(out(&running, "names"), a);
}

#[test]
fn wait_ready_on_a_log_line_and_on_an_exited_container() {
    let team = Team::new("ready");
    let name = unique("ready");
    probe_ok(
        &team,
        "create",
        &[
            ("image", "dockwright/base:latest"),
            ("name", &name),
            ("entrypoint", "sh -c"),
            ("cmd", "sleep~1;echo~service~is~up;sleep~300"),
        ],
    );
    probe_ok(&team, "start", &[("container", &name)]);
    probe_ok(
        &team,
        "wait-ready",
        &[
            ("container", &name),
            ("log", "service is up"),
            ("timeout-ms", "15000"),
        ],
    );
    let err = probe(
        &team,
        "wait-ready",
        &[
            ("container", &name),
            ("log", "never printed"),
            ("timeout-ms", "500"),
        ],
    )
    .unwrap_err();
    assert!(err.contains("not ready after 500 ms"), "{err}");

    let quick = unique("quick");
    probe_ok(
        &team,
        "create",
        &[
            ("image", "dockwright/base:latest"),
            ("name", &quick),
            ("cmd", "true"),
        ],
    );
    probe_ok(&team, "start", &[("container", &quick)]);
    probe_ok(&team, "wait", &[("container", &quick)]);
    let err = probe(
        &team,
        "wait-ready",
        &[("container", &quick), ("log", "x"), ("timeout-ms", "5000")],
    )
    .unwrap_err();
    assert!(err.contains("is exited"), "{err}");
}

#[test]
fn build_from_inline_files_and_from_a_directory() {
    let team = Team::new("build");
    let tag = format!("{}:inline", unique("dwtest/build"));
    team.own_image(&tag);
    let built = probe_ok(
        &team,
        "build",
        &[
            ("tag", &tag),
            ("dockerfile", "FROM dockwright/base:latest\nARG WHO\nCOPY hello.txt /hello.txt\nRUN echo \"$WHO\" > /who.txt\n"),
            ("file-name", "hello.txt"),
            ("file-content", "hello from inline"),
            ("build-args", "WHO=probe"),
        ],
    );
    let id = out(&built, "id");
    assert!(id.starts_with("sha256:"), "{built:?}");
    let image = inspect("image", &tag);
    assert_eq!(image["Id"], id);
    assert_eq!(
        image["Config"]["Labels"]["dockwright.team"],
        team.name.as_str()
    );
    let shown = docker(&["run", "--rm", &tag, "cat", "/hello.txt", "/who.txt"]);
    assert_eq!(shown, "hello from inlineprobe\n");

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM dockwright/base:latest\nCOPY note /note\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("note"), "from a directory\n").unwrap();
    let dir_tag = format!("{}:dir", unique("dwtest/build"));
    team.own_image(&dir_tag);
    images();
    let (report, run) = run_workflow(
        probe_dir(),
        &team,
        "build",
        &[("tag", &dir_tag), ("dir", dir.path().to_str().unwrap())],
    );
    assert_eq!(report["status"], "ok", "{report}");
    // The build's own output reaches the user, marked with the plugin.
    assert!(
        run.stderr.contains("[probe] build: Step 1/") && run.stderr.contains(": COPY note /note"),
        "{}",
        run.stderr
    );
    assert_eq!(
        docker(&["run", "--rm", &dir_tag, "cat", "/note"]),
        "from a directory\n"
    );

    // A failing step is an `invalid` error naming the tag, and leaves no container behind.
    let bad_tag = format!("{}:bad", unique("dwtest/build"));
    team.own_image(&bad_tag);
    let marker = unique("failing-step");
    let dockerfile = format!("FROM dockwright/base:latest\nRUN exit 7 # {marker}\n");
    let err = probe(
        &team,
        "build",
        &[("tag", &bad_tag), ("dockerfile", &dockerfile)],
    )
    .unwrap_err();
    assert!(
        err.starts_with("invalid: building") && err.contains(&bad_tag),
        "{err}"
    );
    let commands = docker(&["ps", "-a", "--no-trunc", "--format", "{{.Command}}"]);
    assert!(
        !commands.contains(&marker),
        "the failed step's container is left: {commands}"
    );

    let err = probe(
        &team,
        "build",
        &[("tag", &bad_tag), ("dir", "/no/such/dir")],
    )
    .unwrap_err();
    assert!(err.starts_with("not-found: "), "{err}");
}

#[test]
fn commit_a_container_with_changes() {
    let team = Team::new("commit");
    let name = unique("commit");
    create_sleeper(&team, &name);
    probe_ok(&team, "start", &[("container", &name)]);
    probe_ok(
        &team,
        "exec",
        &[("container", &name), ("cmd", "sh -c echo~kept>/state")],
    );
    let repo = unique("dwtest/snap");
    team.own_image(&format!("{repo}:v1"));
    let committed = probe_ok(
        &team,
        "commit",
        &[
            ("container", &name),
            ("repo", &repo),
            ("tag", "v1"),
            ("message", "snapshot"),
            ("author", "probe"),
            ("changes", "ENV SNAP=1"),
        ],
    );
    let image = inspect("image", &format!("{repo}:v1"));
    assert_eq!(image["Id"], out(&committed, "id"));
    assert_eq!(image["Author"], "probe");
    assert_eq!(image["Comment"], "snapshot");
    assert_eq!(
        image["Config"]["Labels"]["dockwright.team"],
        team.name.as_str()
    );
    let env = image["Config"]["Env"].to_string();
    assert!(env.contains("SNAP=1"), "{env}");
    assert_eq!(
        docker(&["run", "--rm", &format!("{repo}:v1"), "cat", "/state"]),
        "kept\n"
    );
}

#[test]
fn images_pull_and_engine_info() {
    let team = Team::new("images");
    images();
    let listed = probe_ok(&team, "images", &[]);
    let tags = out(&listed, "tags");
    assert!(
        tags.contains("dockwright/base:latest") && tags.contains("dockwright/web:latest"),
        "{tags}"
    );
    assert!(out(&listed, "count").parse::<u32>().unwrap() >= 2);

    // No registry is reachable from the tests: the pull fails with a typed error.
    let err = probe(&team, "pull", &[("image", "dockwright-test/absent:1")]).unwrap_err();
    assert!(
        err.starts_with("engine-error: ") || err.starts_with("not-found: "),
        "{err}"
    );
    assert!(err.contains("dockwright-test/absent"), "{err}");

    let info = probe_ok(&team, "engine", &[]);
    assert_eq!(out(&info, "os"), "linux");
    let api = out(&info, "api-version");
    assert_eq!(
        api,
        docker(&["version", "--format", "{{.Server.APIVersion}}"]).trim()
    );
    assert!(out(&info, "images").parse::<u32>().unwrap() >= 2);
}

#[test]
fn host_log_reaches_the_user_marked_with_the_plugin() {
    let team = Team::new("log");
    images();
    let (report, run) = run_workflow(
        probe_dir(),
        &team,
        "log",
        &[("level", "warn"), ("message", "disk nearly full")],
    );
    assert_eq!(report["status"], "ok");
    assert!(
        run.stderr.contains("[probe] warning: disk nearly full"),
        "{}",
        run.stderr
    );
}

#[test]
fn engine_errors_are_typed() {
    let team = Team::new("errors");
    let err = probe(
        &team,
        "create",
        &[("image", "dockwright-test/no-such-image:1")],
    )
    .unwrap_err();
    assert!(err.starts_with("not-found: "), "{err}");
    let name = unique("taken");
    create_sleeper(&team, &name);
    let err = probe(
        &team,
        "create",
        &[("image", "dockwright/base:latest"), ("name", &name)],
    )
    .unwrap_err();
    assert!(
        err.starts_with("conflict: ") && err.contains(&name),
        "{err}"
    );
    let err = probe(
        &team,
        "create",
        &[("image", "dockwright/base:latest"), ("cpus", "-1")],
    )
    .unwrap_err();
    // Policy sees it first: a negative CPU count is not a limit a team may set.
    assert!(
        err.starts_with("denied: ") && err.contains("(policy rule `cpus`)"),
        "{err}"
    );
    let err = probe(
        &team,
        "create",
        &[
            ("image", "dockwright/base:latest"),
            ("labels", "dockwright.team=someone-else"),
        ],
    )
    .unwrap_err();
    assert!(
        err.starts_with("denied: ") && err.contains("dockwright.team"),
        "{err}"
    );
    assert_eq!(
        team.containers().len(),
        1,
        "only the first container exists"
    );
}

#[test]
fn a_failed_run_removes_what_it_created() {
    let team = Team::new("rollback");
    images();
    let (report, run) = run_workflow(
        probe_dir(),
        &team,
        "create-then-fail",
        &[("image", "dockwright/base:latest"), ("count", "3")],
    );
    assert_eq!(report["status"], "failed");
    assert!(
        report["error"]
            .as_str()
            .unwrap()
            .contains("failing on purpose"),
        "{report}"
    );
    assert_eq!(report["containers"].as_array().unwrap().len(), 3);
    assert_eq!(report["rolled_back"].as_array().unwrap().len(), 3);
    assert_ne!(run.code, 0);
    assert!(
        team.containers().is_empty(),
        "left behind: {:?}",
        team.containers()
    );

    // With --keep-on-failure they stay, for debugging.
    let run = team.dockwright(
        probe_dir(),
        &[
            "run",
            "create-then-fail",
            "--keep-on-failure",
            "-p",
            "image=dockwright/base:latest",
            "-p",
            "count=2",
        ],
    );
    run.assert_clean_failure("failing on purpose");
    assert!(
        run.stderr.contains("kept (--keep-on-failure)"),
        "{}",
        run.stderr
    );
    assert_eq!(team.containers().len(), 2);
}
