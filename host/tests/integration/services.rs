//! Swarm services on a single-node swarm of a test daemon: the `team-service`
//! example end to end (deploy, answer, scale, update, remove), the policy the host
//! holds services to, another team's services out of sight, the rollback of a
//! failed run, and `gc` after a killed one. One test, because the swarm's
//! `docker_gwbridge` is one per machine: two test swarms at once would share it.

use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

use crate::common::*;
use crate::daemons::{Listen, TestDaemon};
use crate::engines::add_engine;

/// A team whose config names the swarm as engine `swarm`.
fn swarm_team(prefix: &str, swarm: &TestDaemon) -> Team {
    let team = Team::with_policy(
        prefix,
        "images = [\"dockwright/*\"]\nmax_containers = 3\nmax_running = 3\nhost_ports = \"1024-65535\"\n",
    );
    add_engine(&team, "swarm", &format!("host = \"{}\"\n", swarm.host));
    team
}

/// Run a workflow on the swarm; the report.
fn on_swarm(team: &Team, dir: &Path, workflow: &str, params: &[(&str, &str)]) -> Value {
    let mut args = vec!["run", workflow, "--engine", "swarm", "--json"];
    let pairs: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for p in &pairs {
        args.extend(["-p", p]);
    }
    let run = team.dockwright(dir, &args);
    assert_ne!(run.code, 101, "dockwright panicked: {}", run.stderr);
    run.json()
}

#[track_caller]
fn ok(report: &Value) -> &serde_json::Map<String, Value> {
    assert_eq!(report["status"], "ok", "{report}");
    report["outputs"].as_object().unwrap()
}

#[track_caller]
fn failed(report: &Value) -> String {
    assert_eq!(report["status"], "failed", "{report}");
    report["error"].as_str().unwrap().to_string()
}

/// GET `url` (http://HOST:PORT/, HOST this machine), trying again while the task's server comes
/// up after its container started; the response.
fn answer(url: &str) -> String {
    let port: u16 = url
        .trim_end_matches('/')
        .rsplit(':')
        .next()
        .unwrap_or_default()
        .parse()
        .unwrap_or_else(|_| panic!("not a local url: {url}"));
    let started = std::time::Instant::now();
    loop {
        match http_get("127.0.0.1", port, "/") {
            Ok(response) if response.starts_with("HTTP/1") => return response,
            _ if started.elapsed() > std::time::Duration::from_secs(60) => {
                panic!("nothing answers at {url}")
            }
            _ => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    }
}

#[test]
fn services_on_a_single_node_swarm_are_deployed_held_to_policy_and_cleaned_up() {
    images();
    let mut swarm = TestDaemon::start(
        Listen::Unix,
        &[("DOCKER_SERVICE_PREFER_OFFLINE_IMAGE", "1")],
    );
    swarm.load_images(&["dockwright/base:latest", "dockwright/web:latest"]);
    swarm.docker(&["tag", "dockwright/web:latest", "dockwright/web:v2"]);
    swarm.swarm_init();
    let team = swarm_team("svc", &swarm);
    let other = swarm_team("svc-other", &swarm);
    let examples = plugin_dir(&[example_plugin("team_service.wasm")]);
    let probes = probe_dir();
    let service = format!("{}-web", team.name);

    // team-service: two replicas, each answering on its own host-mode port.
    let deployed = on_swarm(
        &team,
        examples.path(),
        "deploy",
        &[("team", &team.name), ("replicas", "2"), ("mode", "host")],
    );
    let outputs = ok(&deployed);
    assert_eq!(outputs["replicas"], "2", "{deployed}");
    let service_id = outputs["id"].as_str().unwrap().to_string();
    let urls: Vec<&str> = outputs["urls"].as_str().unwrap().split(' ').collect();
    assert_eq!(urls.len(), 2, "{deployed}");
    for url in &urls {
        let response = answer(url);
        assert!(response.contains(" 200 "), "{url}: {response}");
    }
    // Ownership labels on the service and on each task's container.
    let labels: Value = serde_json::from_str(&swarm.docker(&[
        "service",
        "inspect",
        "-f",
        "{{json .Spec.Labels}}",
        &service,
    ]))
    .unwrap();
    assert_eq!(labels["dockwright.team"], team.name.as_str());
    assert_eq!(labels["dockwright.engine"], "swarm");
    let tasks = swarm.docker(&[
        "ps",
        "-q",
        "--filter",
        &format!("label=dockwright.service={service}"),
        "--filter",
        &format!("label=dockwright.team={}", team.name),
    ]);
    assert_eq!(tasks.lines().count(), 2, "{tasks}");
    // Limits are injected per task, as for containers.
    let limits: Value = serde_json::from_str(&swarm.docker(&[
        "service",
        "inspect",
        "-f",
        "{{json .Spec.TaskTemplate.Resources.Limits}}",
        &service,
    ]))
    .unwrap();
    assert!(limits["MemoryBytes"].as_i64().unwrap() > 0, "{limits}");
    assert!(limits["Pids"].as_i64().unwrap() > 0, "{limits}");

    // Scaled within the quota (replicas count as containers), not past it.
    let scaled = on_swarm(
        &team,
        examples.path(),
        "scale",
        &[("team", &team.name), ("replicas", "3")],
    );
    assert_eq!(ok(&scaled)["replicas"], "3");
    let over = on_swarm(
        &team,
        examples.path(),
        "scale",
        &[("team", &team.name), ("replicas", "4")],
    );
    let error = failed(&over);
    assert!(error.contains("max_containers"), "{error}");
    let status = on_swarm(&team, examples.path(), "status", &[("team", &team.name)]);
    assert_eq!(ok(&status)["running"], "3", "{status}");
    // The quota holds for containers too: the service's replicas fill it.
    let container = probe(&team, "create", &[("image", "dockwright/base:latest")]);
    assert!(
        container.is_ok(),
        "the default engine has its own quota: {container:?}"
    );
    let on_swarm_too = on_swarm(
        &team,
        probes,
        "create",
        &[("image", "dockwright/base:latest")],
    );
    assert!(failed(&on_swarm_too).contains("max_containers"));

    // A rolling update to another image converges.
    let updated = on_swarm(
        &team,
        examples.path(),
        "update",
        &[("team", &team.name), ("image", "dockwright/web:v2")],
    );
    assert_eq!(ok(&updated)["image"], "dockwright/web:v2", "{updated}");

    // Plans of service writes are checked and listed, and none reaches the swarm (the
    // quota is full: a new service is denied as it would be).
    // What the swarm was asked for (not what it runs yet, which a rolling update changes).
    let asked = |swarm: &TestDaemon| {
        let ids = swarm.docker(&["service", "ls", "-q"]);
        let spec = swarm.docker(&[
            "service",
            "inspect",
            "-f",
            "{{.Spec.Mode.Replicated.Replicas}} {{.Spec.TaskTemplate.ContainerSpec.Image}}",
            &service,
        ]);
        (ids, spec)
    };
    let services_before = asked(&swarm);
    for (workflow, params, outcome) in [
        (
            "service-scale",
            vec![("service", service.as_str()), ("replicas", "1")],
            "would-run",
        ),
        (
            "service-scale",
            vec![("service", service.as_str()), ("replicas", "9")],
            "denied",
        ),
        (
            "service-update",
            vec![
                ("service", service.as_str()),
                ("image", "dockwright/base:latest"),
            ],
            "would-run",
        ),
        ("service-create", vec![("name", "planned-only")], "denied"),
        (
            "service-remove",
            vec![("service", service.as_str())],
            "would-run",
        ),
    ] {
        let mut args = vec!["run", workflow, "--engine", "swarm", "--plan", "--json"];
        let pairs: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
        for p in &pairs {
            args.extend(["-p", p]);
        }
        let plan = team.dockwright(probes, &args).json();
        let steps = plan["steps"].as_array().unwrap();
        let last = steps.last().unwrap_or_else(|| panic!("{workflow}: {plan}"));
        assert_eq!(last["outcome"], outcome, "{workflow}: {plan}");
        assert!(
            last["op"].as_str().unwrap().contains("-service"),
            "{workflow}: {plan}"
        );
    }
    let services_after = asked(&swarm);
    assert_eq!(
        services_after, services_before,
        "a plan changed the swarm's services"
    );

    // Another team sees nothing of it and can do nothing to it.
    let list = on_swarm(&other, probes, "service-list", &[]);
    assert_eq!(ok(&list)["count"], "0", "{list}");
    for (workflow, extra) in [
        ("service-inspect", None),
        ("service-scale", Some(("replicas", "0"))),
        ("service-update", Some(("image", "dockwright/base:latest"))),
        ("service-logs", None),
        ("service-remove", None),
    ] {
        let mut params = vec![("service", service.as_str())];
        params.extend(extra);
        let report = on_swarm(&other, probes, workflow, &params);
        let error = failed(&report);
        assert!(error.contains("not-found"), "{workflow}: {error}");
    }
    let taken = on_swarm(&other, probes, "service-create", &[("name", &service)]);
    let error = failed(&taken);
    assert!(
        error.contains("cannot see") && !error.contains(&service_id[..12]),
        "{error}"
    );
    let mine = on_swarm(&team, probes, "service-list", &[]);
    assert_eq!(ok(&mine)["names"], service.as_str());
    let logs = on_swarm(&team, probes, "service-logs", &[("service", &service)]);
    ok(&logs);

    // Removed by its workflow.
    let removed = on_swarm(&team, examples.path(), "remove", &[("team", &team.name)]);
    assert_eq!(ok(&removed)["removed"], service.as_str());
    assert!(swarm
        .docker(&[
            "service",
            "ls",
            "-q",
            "--filter",
            &format!("name={service}")
        ])
        .is_empty());

    // Four creates at once against a quota of three replicas: the count and the
    // create are one step, so exactly three get in, whatever the order.
    let names: Vec<String> = (0..4).map(|_| unique("svc-race")).collect();
    let racing: Vec<_> = names
        .iter()
        .map(|name| {
            team.command(
                probes,
                &[
                    "run",
                    "service-create",
                    "--engine",
                    "swarm",
                    "--json",
                    "-p",
                    &format!("name={name}"),
                ],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
        })
        .collect();
    let reports: Vec<Value> = racing
        .into_iter()
        .map(|child| serde_json::from_slice(&child.wait_with_output().unwrap().stdout).unwrap())
        .collect();
    let admitted = reports.iter().filter(|r| r["status"] == "ok").count();
    assert_eq!(admitted, 3, "{reports:?}");
    let refused = reports.iter().find(|r| r["status"] == "failed").unwrap();
    assert!(
        refused["error"]
            .as_str()
            .unwrap()
            .contains("max_containers"),
        "{refused}"
    );
    for name in &names {
        let _ = std::process::Command::new("docker")
            .args(["-H", &swarm.host, "service", "rm", name])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }

    // Policy: images, host ports, reserved labels, limits.
    for (params, rule) in [
        (vec![("image", "busybox")], "images"),
        (vec![("port", "80:80/host")], "host_ports"),
        (vec![("labels", "dockwright.team=other")], "labels"),
        (vec![("memory", "999999999999")], "memory"),
        (vec![("replicas", "4")], "max_containers"),
        (vec![("constraints", "node.role")], "constraints"),
    ] {
        let name = unique("svc-denied");
        let mut all = vec![("name", name.as_str())];
        all.extend(params.iter().copied());
        let report = on_swarm(&team, probes, "service-create", &all);
        let error = failed(&report);
        assert!(
            error.contains(&format!("policy rule `{rule}`")),
            "{rule}: {error}"
        );
    }
    // Nothing was created by the denied calls.
    let left = swarm.docker(&["service", "ls", "-q", "--filter", "label=dockwright.team"]);
    assert!(left.is_empty(), "{left}");

    // A failed run removes the service it created.
    let name = unique("svc-fail");
    let report = on_swarm(
        &team,
        probes,
        "service-create-then-fail",
        &[("name", &name)],
    );
    failed(&report);
    assert!(
        !report["rolled_back"].as_array().unwrap().is_empty(),
        "{report}"
    );
    assert!(swarm
        .docker(&["service", "ls", "-q", "--filter", &format!("name={name}")])
        .is_empty());

    // A killed run leaves its service until gc: tasks that can never be placed
    // keep the run waiting until it is killed.
    let name = unique("svc-gc");
    let mut child = team
        .command(
            probes,
            &[
                "run",
                "service-create-and-wait",
                "--engine",
                "swarm",
                "-p",
                &format!("name={name}"),
                "-p",
                "constraints=node.labels.nowhere==true",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let journal = team.journal_file();
    wait_for_helper("the waiting run", &mut child, &journal, || {
        team.calls("create-service")
            .iter()
            .any(|c| c["target"].as_str().unwrap_or_default().starts_with(&name))
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        swarm
            .docker(&["service", "ls", "-q", "--filter", &format!("name={name}")])
            .lines()
            .count(),
        1
    );
    let gc = team.dockwright(probes, &["gc"]);
    gc.assert_ok();
    assert!(gc.stdout.contains("service"), "{}", gc.stdout);
    assert!(swarm
        .docker(&["service", "ls", "-q", "--filter", &format!("name={name}")])
        .is_empty());

    // An engine that is not a swarm manager says so.
    let report = run_workflow(probes, &team, "service-create", &[("name", "x1")]).0;
    let error = failed(&report);
    assert!(error.contains("not a Swarm manager"), "{error}");
    // `engines` shows the swarm role.
    let engines = team.dockwright(probes, &["engines", "--json"]).json();
    let role = engines["engines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "swarm")
        .unwrap()["swarm"]
        .clone();
    assert_eq!(role, "manager", "{engines}");
}
