//! The traffic cop under concurrency and hostile input: quotas that hold for runs at
//! once (in one process and across processes), builds that read only allowed images
//! and run inside the team's limits, commits that cannot forge ownership, team
//! networks, bounded logs, deadlines that fire inside busy host calls, signals that
//! roll back, readiness that means the service answers, and input checked before the
//! engine sees it. Each test tries what a hostile team would and shows it fails.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::*;
use crate::serve::{post_run, serve_plugins, token, Server};

/// A team that may have at most 3 containers (and run 3).
const QUOTA_3: &str = r#"
images = ["*"]
max_containers = 3
max_running = 3
"#;

/// `--each name=...` over `n` fresh names.
fn names(n: usize) -> String {
    let base = unique("q");
    let names: Vec<String> = (1..=n).map(|i| format!("{base}-{i}")).collect();
    format!("name={}", names.join(","))
}

/// Run `create` of the probe once per name, `jobs` at a time, as a child process.
fn spawn_creates(team: &Team, each: &str, jobs: &str) -> std::process::Child {
    team.command(
        probe_dir(),
        &[
            "run",
            "create",
            "--each",
            each,
            "-j",
            jobs,
            "-p",
            "image=dockwright/base:latest",
            "--json",
        ],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("cannot run dockwright")
}

/// The batch report of a finished child: (ok, failed, the errors).
fn batch_outcome(child: std::process::Child) -> (u64, u64, Vec<String>) {
    let out = child.wait_with_output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let errors = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["error"].as_str().map(str::to_string))
        .collect();
    (
        doc["ok"].as_u64().unwrap(),
        doc["failed"].as_u64().unwrap(),
        errors,
    )
}

#[test]
fn ten_runs_at_once_never_pass_the_quota() {
    images();
    let team = Team::with_policy("quota-j8", QUOTA_3);
    let (ok, failed, errors) = batch_outcome(spawn_creates(&team, &names(10), "8"));
    assert_eq!((ok, failed), (3, 7), "{errors:?}");
    for e in &errors {
        assert!(e.contains("(policy rule `max_containers`)"), "{e}");
    }
    assert_eq!(team.containers().len(), 3);
}

#[test]
fn runs_in_two_processes_at_once_never_pass_the_quota() {
    images();
    let team = Team::with_policy("quota-procs", QUOTA_3);
    let a = spawn_creates(&team, &names(5), "5");
    let b = spawn_creates(&team, &names(5), "5");
    let (ok_a, _, errors_a) = batch_outcome(a);
    let (ok_b, _, errors_b) = batch_outcome(b);
    assert_eq!(ok_a + ok_b, 3, "{errors_a:?} {errors_b:?}");
    assert_eq!(team.containers().len(), 3);
}

#[test]
fn two_servers_and_a_cli_never_pass_one_quota() {
    let plugins = serve_plugins();
    let team = Team::with_policy("quota-mixed", QUOTA_3);
    let token = token(&team, plugins.path(), &team);
    // Two servers on the same config and state folder, each on its own loopback port,
    // with run bounds above the runs sent so only the quota refuses.
    let bounds = ["--max-runs", "16", "--max-team-runs", "16"];
    let servers = [
        Server::start(&team, plugins.path(), &bounds),
        Server::start(&team, plugins.path(), &bounds),
    ];
    assert_ne!(servers[0].port, servers[1].port);
    let body = json!({
        "workflow": "create",
        "params": { "image": "dockwright/base:latest" }
    })
    .to_string();
    // Every HTTP client and the CLI batch are released together.
    const PER_SERVER: usize = 6;
    const CLI_RUNS: usize = 6;
    let gate = std::sync::Arc::new(std::sync::Barrier::new(2 * PER_SERVER + 1));
    let clients: Vec<_> = servers
        .iter()
        .flat_map(|s| std::iter::repeat_n(s.port, PER_SERVER))
        .map(|port| {
            let (token, body, gate) = (token.clone(), body.clone(), gate.clone());
            std::thread::spawn(move || {
                gate.wait();
                (port, post_run(port, &token, &body))
            })
        })
        .collect();
    gate.wait();
    let cli = spawn_creates(&team, &names(CLI_RUNS), "8");
    // Every client and the CLI finish before any assertion, so a failing check never
    // leaves a run creating containers behind the team's clean-up.
    let answers: Vec<_> = clients.into_iter().map(|c| c.join()).collect();
    let (cli_ok, cli_failed, cli_errors) = batch_outcome(cli);

    let mut http_ok = 0;
    for answer in answers {
        let (port, answer) = answer.expect("an HTTP client panicked");
        let status = answer.status;
        let doc = answer.json();
        // Ok is 201; past the quota is 409 with cause `quota`, by the quota rule.
        if doc["status"] == "ok" {
            assert_eq!(status, 201, "port {port}: {doc}");
            http_ok += 1;
        } else {
            assert_eq!(
                (status, &doc["status"], &doc["cause"]),
                (409, &json!("failed"), &json!("quota")),
                "port {port}: {doc}"
            );
            let error = doc["error"].as_str().unwrap_or_default();
            assert!(
                error.contains("(policy rule `max_containers`)"),
                "port {port}: {doc}"
            );
        }
    }
    assert_eq!(cli_ok + cli_failed, CLI_RUNS as u64, "{cli_errors:?}");
    assert_eq!(cli_errors.len() as u64, cli_failed, "{cli_errors:?}");
    for e in &cli_errors {
        assert!(e.contains("(policy rule `max_containers`)"), "{e}");
    }
    // Nothing removes a container during the runs, so the count now is the most
    // there ever were.
    let made = team.containers();
    let reported = http_ok + cli_ok;
    assert!(made.len() <= 3, "{made:?}");
    assert!(reported <= 3, "http {http_ok} + cli {cli_ok}");
    // Every refusal was the quota's, so the quota was reached, by the creates reported.
    assert_eq!(made.len() as u64, reported, "{made:?}");
    assert_eq!(reported, 3, "http {http_ok} + cli {cli_ok}: {cli_errors:?}");

    // The servers stop, and the team's drop removes all it made.
    let filter = team.filter();
    drop(servers);
    drop(team);
    for kind in [&["ps", "-aq"][..], &["network", "ls", "-q"][..]] {
        let mut args = kind.to_vec();
        args.extend(["--filter", filter.as_str()]);
        assert_eq!(docker(&args).trim(), "", "left after the team: {args:?}");
    }
}

#[test]
fn a_run_killed_while_holding_a_reservation_does_not_block_the_quota() {
    images();
    let team = Team::with_policy("quota-dead", QUOTA_3);
    // What a process killed between its admission and the engine's answer leaves:
    // reservation files that nobody holds.
    let dir = team.home.join("dockwright/admission").join(&team.name);
    std::fs::create_dir_all(&dir).unwrap();
    for i in 0..3 {
        std::fs::write(dir.join(format!("dead{i}.create")), "").unwrap();
    }
    let (ok, failed, errors) = batch_outcome(spawn_creates(&team, &names(3), "3"));
    assert_eq!((ok, failed), (3, 0), "{errors:?}");
}

#[test]
fn starts_at_once_never_pass_the_running_quota() {
    images();
    let team = Team::with_policy(
        "quota-run",
        "images = [\"*\"]\nmax_containers = 10\nmax_running = 2\n",
    );
    let ids: Vec<String> = (0..5)
        .map(|_| {
            out(
                &probe_ok(
                    &team,
                    "create",
                    &[("image", "dockwright/base:latest"), ("cmd", "sleep 300")],
                ),
                "id",
            )
            .to_string()
        })
        .collect();
    let run = team.dockwright(
        probe_dir(),
        &[
            "run",
            "start",
            "--each",
            &format!("container={}", ids.join(",")),
            "-j",
            "5",
            "--json",
        ],
    );
    let doc = run.json();
    assert_eq!(doc["ok"], 2, "{doc}");
    let running = docker(&["ps", "-q", "--filter", &team.filter()]);
    assert_eq!(running.lines().count(), 2);
}

/// Build `dockerfile` for `team` with `docker build` (not through dockwright), tagged
/// `tag` and labelled as the team's, so the team's drop removes it.
fn docker_build(team: &Team, tag: &str, dockerfile: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    docker(&[
        "build",
        "-q",
        "-t",
        tag,
        "--label",
        &format!("dockwright.team={}", team.name),
        dir.path().to_str().unwrap(),
    ]);
    team.own_image(tag);
}

#[test]
fn a_build_cannot_copy_from_an_image_the_team_may_not_use() {
    images();
    let red = Team::new("red-secret");
    let secret = format!("{}/secret:1", red.name);
    docker_build(
        &red,
        &secret,
        "FROM dockwright/base\nRUN echo red-only > /secret.txt\n",
    );
    let blue = Team::with_policy(
        "blue-copy",
        "images = [\"dockwright/*\"]\ntags = [\"{team}/*\"]\nbuild_roots = [\"/\"]\n",
    );
    let tag = format!("{}/stolen:1", blue.name);
    blue.own_image(&tag);
    for dockerfile in [
        format!("FROM dockwright/base\nCOPY --from={secret} / /stolen/\n"),
        format!("FROM dockwright/base AS one\nFROM one\nCOPY --from={secret} /secret.txt /\n"),
        format!("# escape=`\nFROM dockwright/base\nCOPY `\n  --from={secret} / /stolen/\n"),
    ] {
        let err = probe(
            &blue,
            "build",
            &[("tag", &tag), ("dockerfile", &dockerfile)],
        )
        .unwrap_err();
        assert!(
            err.starts_with("denied: ") && err.contains("(policy rule `images`)"),
            "{err}"
        );
        assert!(err.contains("secret"), "{err}");
    }
    assert!(docker(&["images", "-q", &tag]).trim().is_empty());
}

#[test]
fn a_build_cannot_start_from_a_base_with_onbuild_triggers() {
    images();
    let blue = Team::with_policy(
        "blue-onbuild",
        "images = [\"dockwright/*\", \"{team}/*\"]\ntags = [\"{team}/*\"]\nbuild_roots = [\"/\"]\n",
    );
    let base = format!("{}/trap:1", blue.name);
    docker_build(
        &blue,
        &base,
        "FROM dockwright/base\nONBUILD RUN cat /etc/hostname\n",
    );
    let tag = format!("{}/child:1", blue.name);
    blue.own_image(&tag);
    let err = probe(
        &blue,
        "build",
        &[("tag", &tag), ("dockerfile", &format!("FROM {base}\n"))],
    )
    .unwrap_err();
    assert!(
        err.starts_with("denied: ") && err.contains("ONBUILD"),
        "{err}"
    );
    // A base that is not on the engine cannot be checked: denied, not pulled.
    let err = probe(
        &blue,
        "build",
        &[("tag", &tag), ("dockerfile", "FROM dockwright/absent:9\n")],
    )
    .unwrap_err();
    assert!(err.contains("is not on the engine"), "{err}");
}

/// A container's address on its one network.
fn address(container: &str) -> String {
    let view = inspect("container", container);
    let networks = view["NetworkSettings"]["Networks"].as_object().unwrap();
    assert_eq!(networks.len(), 1, "{networks:?}");
    let ip = networks.values().next().unwrap()["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(!ip.is_empty(), "{networks:?}");
    ip
}

/// Create and start a web server for `team`, ready to answer; its name.
fn web_server(team: &Team, prefix: &str) -> String {
    let name = unique(prefix);
    probe_ok(
        team,
        "create",
        &[("image", "dockwright/web:latest"), ("name", &name)],
    );
    probe_ok(team, "start", &[("container", &name)]);
    probe_ok(
        team,
        "wait-ready",
        &[
            ("container", &name),
            ("port", "80/tcp"),
            ("timeout-ms", "60000"),
        ],
    );
    name
}

/// Whether `ip` is in `cidr` (`a.b.c.d/n`).
fn in_subnet(ip: &str, cidr: &str) -> bool {
    let (net, bits) = cidr.split_once('/').unwrap();
    let (ip, net): (std::net::Ipv4Addr, std::net::Ipv4Addr) =
        (ip.parse().unwrap(), net.parse().unwrap());
    let mask = u32::MAX
        .checked_shl(32 - bits.parse::<u32>().unwrap())
        .unwrap_or(0);
    u32::from(ip) & mask == u32::from(net) & mask
}

#[test]
fn a_build_with_the_network_allowed_reaches_only_its_own_team() {
    images();
    let red = Team::new("red-bnet");
    let red_ip = address(&web_server(&red, "red-bnet"));
    let blue = Team::with_policy(
        "blue-bnet",
        "images = [\"*\"]\ntags = [\"{team}/*\"]\nbuild_roots = [\"/\"]\nbuild_network = true\n",
    );
    let blue_web = web_server(&blue, "blue-bnet");
    let blue_ip = address(&blue_web);
    let network = inspect("container", &blue_web)["NetworkSettings"]["Networks"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()["NetworkID"]
        .as_str()
        .unwrap()
        .to_string();
    let subnet = inspect("network", &network)["IPAM"]["Config"][0]["Subnet"]
        .as_str()
        .unwrap()
        .to_string();
    // What the host decides is checked every time: the build's steps are on the team's
    // network. Whether another bridge is reachable is the engine's isolation, whose
    // rules dockerd 20.10 has been seen to drop for a moment while other networks come
    // and go (moby/moby#25393): a step that reached red is tried again, with a fresh
    // step (no cache), a bounded number of times; a host that sent the build elsewhere
    // fails the first check whatever the engine does.
    const ATTEMPTS: usize = 3;
    let mut seen = Vec::new();
    for attempt in 1..=ATTEMPTS {
        let tag = format!("{}/net:{attempt}", blue.name);
        let dockerfile = format!(
            "FROM dockwright/base\n\
             RUN echo attempt={attempt} addr=$(ip -4 -o addr show dev eth0 | sed 's/.*inet //; s|/.*||')\n\
             RUN nc -w 2 {blue_ip} 80 </dev/null && echo own=o\"\"pen || echo own=c\"\"losed\n\
             RUN nc -w 2 {red_ip} 80 </dev/null && echo other=o\"\"pen || echo other=c\"\"losed\n"
        );
        let run = build_output(&blue, &tag, &dockerfile);
        run.assert_ok();
        let addr = run
            .stderr
            // The step's command says the words too: its output is the last of them.
            .rsplit(&format!("attempt={attempt} addr="))
            .next()
            .and_then(|rest| rest.split_whitespace().next())
            .unwrap_or_else(|| panic!("no address printed: {}", run.stderr))
            .to_string();
        assert!(
            in_subnet(&addr, &subnet),
            "the build ran at {addr}, outside the team's {subnet}: {}",
            run.stderr
        );
        assert!(run.stderr.contains("own=open"), "{}", run.stderr);
        if run.stderr.contains("other=closed") {
            assert!(!run.stderr.contains("other=open"), "{}", run.stderr);
            return;
        }
        seen.push(run.stderr);
    }
    panic!("a build on the team's network reached another team's {ATTEMPTS} times: {seen:#?}");
}

/// The lines a probe build printed (its build output goes to stderr).
fn build_output(team: &Team, tag: &str, dockerfile: &str) -> Run {
    images();
    let run = team.dockwright(
        probe_dir(),
        &[
            "run",
            "build",
            "-p",
            &format!("tag={tag}"),
            "-p",
            &format!("dockerfile={dockerfile}"),
        ],
    );
    team.own_image(tag);
    run
}

#[test]
fn build_steps_run_inside_the_team_limits_and_without_a_network() {
    images();
    let red = Team::new("red-web");
    let web = unique("red-web");
    probe_ok(
        &red,
        "create",
        &[("image", "dockwright/web:latest"), ("name", &web)],
    );
    probe_ok(&red, "start", &[("container", &web)]);
    let red_ip = address(&web);

    let blue = Team::with_policy(
        "blue-build",
        "images = [\"*\"]\ntags = [\"{team}/*\"]\nbuild_roots = [\"/\"]\n\
         memory = { default = \"128m\", max = \"384m\" }\ncpus = { default = 0.5, max = 1.5 }\n",
    );
    let tag = format!("{}/limits:1", blue.name);
    // The output words are split in the Dockerfile so that the step's own echo of
    // its command never matches.
    let dockerfile = format!(
        "FROM dockwright/base\n\
         RUN echo \"mem=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes)\"\n\
         RUN echo \"cpu=$(cat /sys/fs/cgroup/cpu.max 2>/dev/null || cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us)\"\n\
         RUN nc -w 2 {red_ip} 80 </dev/null && echo net=o\"\"pen || echo net=c\"\"losed\n"
    );
    let run = build_output(&blue, &tag, &dockerfile);
    run.assert_ok();
    assert!(
        run.stderr.contains(&format!("mem={}", 384u64 << 20)),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("cpu=150000"), "{}", run.stderr);
    assert!(run.stderr.contains("net=closed"), "{}", run.stderr);
    assert!(!run.stderr.contains("net=open"), "{}", run.stderr);
}

#[test]
fn a_commit_cannot_forge_the_owner_labels() {
    let team = Team::new("commit-forge");
    let name = unique("commit-forge");
    probe_ok(
        &team,
        "create",
        &[("image", "dockwright/base:latest"), ("name", &name)],
    );
    let repo = format!("{}/snap", team.name);
    team.own_image(&format!("{repo}:latest"));
    for changes in [
        "LABEL dockwright.team=red dockwright.run=forged",
        "LABEL \"dockwright.team\"=red",
        "ONBUILD RUN cat /secret",
        "ENV A=1\nLABEL dockwright.team=red",
    ] {
        let err = probe(
            &team,
            "commit",
            &[("container", &name), ("repo", &repo), ("changes", changes)],
        )
        .unwrap_err();
        assert!(
            err.starts_with("denied: ") && err.contains("(policy rule `commit`)"),
            "{changes}: {err}"
        );
    }
    assert!(docker(&["images", "-q", &repo]).trim().is_empty());
    // Allowed changes apply, and the host's labels are the image's.
    probe_ok(
        &team,
        "commit",
        &[
            ("container", &name),
            ("repo", &repo),
            ("changes", "LABEL app=snap;ENV MODE=test"),
        ],
    );
    let image = inspect("image", &format!("{repo}:latest"));
    let labels = &image["Config"]["Labels"];
    assert_eq!(labels["dockwright.team"], team.name.as_str());
    assert_eq!(labels["app"], "snap");
    assert!(labels["dockwright.run"].as_str().unwrap().len() == 16);
}

/// Exec `nc` in `container` (a probe run of `team`): whether it connected.
fn connects(team: &Team, container: &str, host: &str) -> bool {
    let done = probe_ok(
        team,
        "exec",
        &[
            ("container", container),
            ("cmd", &format!("nc -w 2 {host} 80")),
        ],
    );
    out(&done, "exit-code") == "0"
}

#[test]
fn teams_cannot_reach_each_other_and_a_team_reaches_itself_by_name() {
    images();
    let red = Team::new("net-red");
    let blue = Team::new("net-blue");
    let red_web = unique("red-web");
    let blue_web = unique("blue-web");
    let blue_client = unique("blue-client");
    // The web servers publish their port: published ports keep working on a team network.
    for (team, name, image, cmd, bind) in [
        (
            &red,
            &red_web,
            "dockwright/web:latest",
            None,
            Some("80/tcp="),
        ),
        (
            &blue,
            &blue_web,
            "dockwright/web:latest",
            None,
            Some("80/tcp="),
        ),
        (
            &blue,
            &blue_client,
            "dockwright/base:latest",
            Some("sleep 300"),
            None,
        ),
    ] {
        let mut params = vec![("image", image), ("name", name.as_str())];
        params.extend(cmd.map(|c| ("cmd", c)));
        params.extend(bind.map(|b| ("bind", b)));
        probe_ok(team, "create", &params);
        probe_ok(team, "start", &[("container", name)]);
    }
    let red_view = inspect("container", &red_web);
    let networks = red_view["NetworkSettings"]["Networks"].as_object().unwrap();
    assert_eq!(networks.len(), 1, "{networks:?}");
    assert!(!networks.contains_key("bridge"), "{networks:?}");
    let red_ip = networks.values().next().unwrap()["IPAddress"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(red.network(), blue.network());

    // Both web servers listen before anyone connects.
    for (team, name) in [(&red, &red_web), (&blue, &blue_web)] {
        probe_ok(
            team,
            "wait-ready",
            &[
                ("container", name),
                ("port", "80/tcp"),
                ("timeout-ms", "60000"),
            ],
        );
    }
    // Blue reaches its own web by name, and not red's by address.
    assert!(connects(&blue, &blue_client, &blue_web));
    assert!(!connects(&blue, &blue_client, &red_ip));
    // The control: red's web does answer, from red's own network.
    assert!(connects(&red, &red_web, &red_ip));

    // Red's published port answers on the host.
    let published = docker(&["port", &red_web, "80/tcp"]);
    let port: u16 = published
        .lines()
        .next()
        .and_then(|l| l.rsplit(':').next())
        .and_then(|p| p.trim().parse().ok())
        .unwrap_or_else(|| panic!("no published port: {published}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match http_get("127.0.0.1", port, "/") {
            Ok(answer) if answer.lines().next().is_some_and(|l| l.contains(" 200 ")) => break,
            other => assert!(Instant::now() < deadline, "no answer: {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn logs_are_bounded_and_a_long_line_is_cut() {
    images();
    let team = Team::new("logs-bound");
    let lines = unique("logs-lines");
    let long = unique("logs-long");
    // 20 MB of 1 kB lines (more than the 4 MiB a call returns, less than the 30 MB
    // the engine keeps), and 5 MB with no newline at all.
    for (name, script) in [
        (
            &lines,
            "l=$(head -c 999 /dev/zero | tr '\\0' a); i=0; \
             while [ $i -lt 20000 ]; do echo $l; i=$((i+1)); done; echo last; sleep 300",
        ),
        (&long, "head -c 5000000 /dev/zero | tr '\\0' x; sleep 300"),
    ] {
        // A script is one argument, which the probe's space-split `cmd` cannot pass:
        // made here, labelled as the team's.
        docker(&[
            "run",
            "-d",
            "--name",
            name,
            "--label",
            &format!("dockwright.team={}", team.name),
            "dockwright/base:latest",
            "sh",
            "-c",
            script,
        ]);
    }
    // Wait until the writers are done (their logs end in `last`, or hold 5 MB).
    let deadline = Instant::now() + Duration::from_secs(120);
    while !docker(&["logs", "--tail", "1", &lines]).contains("last") {
        assert!(Instant::now() < deadline, "the writer did not finish");
        std::thread::sleep(Duration::from_millis(200));
    }
    let got = probe_ok(&team, "logs", &[("container", &lines)]);
    // What the call returned (the plugin's own outputs are capped at 64 KiB, so its
    // size and its end are outputs of their own).
    let bytes: usize = out(&got, "stdout-bytes").parse().unwrap();
    // The text kept, without the newline the probe puts after each line.
    let count: usize = out(&got, "lines").parse().unwrap();
    let text = bytes - count;
    assert!(text <= 4 << 20, "{text}");
    assert!(bytes > 1 << 20, "{bytes}");
    assert!(
        out(&got, "stdout-tail").ends_with("last\n"),
        "the newest lines are kept"
    );

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let got = probe_ok(&team, "logs", &[("container", &long)]);
        let bytes: usize = out(&got, "stdout-bytes").parse().unwrap();
        if out(&got, "stdout-tail").contains("line cut by dockwright") {
            assert!(bytes < 70 << 10, "{bytes}");
            break;
        }
        assert!(Instant::now() < deadline, "no cut line: {bytes} bytes");
        std::thread::sleep(Duration::from_millis(200));
    }
    // Every container the host creates rotates its log.
    let made = probe_ok(&team, "create", &[("image", "dockwright/base:latest")]);
    let view = inspect("container", out(&made, "id"));
    let log = &view["HostConfig"]["LogConfig"];
    assert_eq!(log["Type"], "json-file");
    assert_eq!(log["Config"]["max-size"], "10m");
    assert_eq!(log["Config"]["max-file"], "3");
}

#[test]
fn the_deadline_fires_while_a_host_call_is_busy_reading_a_huge_log() {
    images();
    let team = Team::with_policy(
        "logs-deadline",
        "images = [\"*\"]\nplugin_limits = { timeout = \"3s\" }\n",
    );
    let name = unique("logs-huge");
    docker(&[
        "run",
        "-d",
        "--name",
        &name,
        "--label",
        &format!("dockwright.team={}", team.name),
        "dockwright/base:latest",
        "sh",
        "-c",
        "head -c 25000000 /dev/zero | tr '\\0' x; sleep 300",
    ]);
    let hostile = plugin_dir(&[test_plugin("hostile.wasm")]);
    // The workflow never ends by itself: only the time limit can end it.
    let (report, run) = run_workflow(hostile.path(), &team, "log-loop", &[("container", &name)]);
    assert_eq!(report["status"], "failed", "{report}");
    let error = report["error"].as_str().unwrap();
    assert!(error.contains("time limit"), "{error}");
    assert_ne!(run.code, 0);
}

#[test]
fn readiness_needs_the_service_inside_not_the_proxy() {
    images();
    let team = Team::new("ready-proxy");
    let name = unique("ready-proxy");
    probe_ok(
        &team,
        "create",
        &[
            ("image", "dockwright/base:latest"),
            ("name", &name),
            ("cmd", "sleep 300"),
            ("bind", "80/tcp="),
        ],
    );
    probe_ok(&team, "start", &[("container", &name)]);
    let err = probe(
        &team,
        "wait-ready",
        &[
            ("container", &name),
            ("port", "80/tcp"),
            ("timeout-ms", "1500"),
        ],
    )
    .unwrap_err();
    assert!(err.contains("was not ready after 1500 ms"), "{err}");
    assert!(err.contains("nothing inside it accepted"), "{err}");
}

/// Start `dockwright run block` of the hostile plugin, wait until its container
/// exists, send `signal`, and wait for the exit: its code.
fn signal_mid_run(team: &Team, signal: i32) -> i32 {
    images();
    let hostile = plugin_dir(&[test_plugin("hostile.wasm")]);
    let mut child = team
        .command(
            hostile.path(),
            &["run", "block", "-p", "image=dockwright/base:latest"],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while docker(&["ps", "-q", "--filter", &team.filter()])
        .trim()
        .is_empty()
    {
        assert!(
            Instant::now() < deadline,
            "the run never started its container"
        );
        assert!(child.try_wait().unwrap().is_none(), "the run ended early");
        std::thread::sleep(Duration::from_millis(100));
    }
    // SAFETY: signalling our own child by pid.
    unsafe { libc::kill(child.id() as i32, signal) };
    child.wait().unwrap().code().unwrap_or(-1)
}

#[test]
fn sigterm_and_sighup_roll_a_run_back_like_ctrl_c() {
    for (signal, name) in [(libc::SIGTERM, "sigterm"), (libc::SIGHUP, "sighup")] {
        let team = Team::new(name);
        let code = signal_mid_run(&team, signal);
        assert_eq!(code, 1, "{name}");
        assert!(team.containers().is_empty(), "{name} left containers");
        let ends: Vec<_> = team
            .journal()
            .into_iter()
            .filter(|e| e["event"] == "run-end")
            .collect();
        assert_eq!(ends.len(), 1, "{name}");
        assert!(
            ends[0]["error"].as_str().unwrap().contains("interrupted"),
            "{name}: {}",
            ends[0]
        );
    }
}

#[test]
fn bad_input_is_refused_by_field_before_the_engine_sees_it() {
    let team = Team::new("bad-input");
    let cases = [
        (
            "80/tcp=not-an-ip; rm -rf /:8080",
            "host-ip `not-an-ip; rm -rf /`",
        ),
        ("0/tcp=8080", "container port 0"),
    ];
    for (bind, want) in cases {
        let err = probe(
            &team,
            "create",
            &[("image", "dockwright/base:latest"), ("bind", bind)],
        )
        .unwrap_err();
        assert!(
            err.starts_with("invalid: ") && err.contains(want),
            "{bind}: {err}"
        );
    }
    let err = probe(
        &team,
        "create",
        &[("image", "dockwright/base:latest"), ("name", "x")],
    )
    .unwrap_err();
    assert!(
        err.starts_with("invalid: ") && err.contains("container name"),
        "{err}"
    );
    assert!(team.containers().is_empty());
}

#[test]
fn a_name_clash_does_not_reveal_the_other_teams_container() {
    let red = Team::new("clash-red");
    let blue = Team::new("clash-blue");
    let name = unique("clash");
    let red_id = out(
        &probe_ok(
            &red,
            "create",
            &[("image", "dockwright/base:latest"), ("name", &name)],
        ),
        "id",
    )
    .to_string();
    let err = probe(
        &blue,
        "create",
        &[("image", "dockwright/base:latest"), ("name", &name)],
    )
    .unwrap_err();
    assert!(
        err.starts_with("conflict: ") && err.contains("a container your team cannot see"),
        "{err}"
    );
    assert!(!err.contains(&red_id[..12]), "{err}");
    // Its own container it is told about.
    let err = probe(
        &red,
        "create",
        &[("image", "dockwright/base:latest"), ("name", &name)],
    )
    .unwrap_err();
    assert!(err.contains("your team's container"), "{err}");
    assert!(blue.containers().is_empty());
}
