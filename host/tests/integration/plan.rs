//! Plans (`run --plan`, `"plan": true`): reads go to the engine, writes are checked as in
//! a run and answered without being sent. Each test compares the engine before and after.

use serde_json::Value;

use super::serve::{token, Server};
use crate::common::*;

/// What a plan must not change: the team's containers (and their states), images and
/// networks, as `docker ps -a`, `docker images` and `docker network ls` show them. Other
/// tests share the engine, and everything a run makes carries its team's label.
fn engine_state(team: &Team) -> [Vec<String>; 3] {
    let lines = |args: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = docker(args).lines().map(str::to_string).collect();
        all.sort();
        all
    };
    let network = format!("label=dockwright.network={}", team.name);
    [
        lines(&[
            "ps",
            "-a",
            "--no-trunc",
            "--filter",
            &team.filter(),
            "--format",
            "{{.ID}} {{.State}}",
        ]),
        lines(&[
            "images",
            "-a",
            "--no-trunc",
            "--filter",
            &team.filter(),
            "--format",
            "{{.ID}} {{.Repository}}:{{.Tag}}",
        ]),
        lines(&["network", "ls", "-q", "--no-trunc", "--filter", &network]),
    ]
}

/// Whether the engine has an image of this reference, whoever made it.
fn has_image(reference: &str) -> bool {
    std::process::Command::new("docker")
        .args(["image", "inspect", reference])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

fn steps(plan: &Value) -> Vec<(String, String)> {
    plan["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps: {plan}"))
        .iter()
        .map(|s| {
            (
                s["op"].as_str().unwrap().to_string(),
                s["outcome"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn ops(steps: &[(String, String)]) -> Vec<&str> {
    steps.iter().map(|(op, _)| op.as_str()).collect()
}

fn provision(team: &Team, dir: &std::path::Path, params: &[&str], more: &[&str]) -> Run {
    let mut args = vec!["run", "provision", "-p", "image=dockwright/web"];
    for p in params {
        args.extend(["-p", p]);
    }
    args.extend(more);
    team.dockwright(dir, &args)
}

#[test]
fn a_plan_lists_the_writes_checks_policy_and_leaves_the_engine_as_it_was() {
    images();
    let dir = plugin_dir(&[test_plugin("probe.wasm")]);
    let team = Team::with_policy(
        "plan",
        "images = [\"dockwright/*\"]\ntags = [\"dockwright/*\"]\nexec_as_root = true\nhost_ports = \"30400-30499\"\n",
    );
    // A real container of the team's, for the plan to remove.
    let existing = probe_ok(&team, "create", &[("image", "dockwright/web")]);
    let existing = out(&existing, "id").to_string();
    let tag = format!("dockwright/{}", unique("plan"));
    team.own_image(&tag);
    team.own_image(&format!("{tag}-snap"));

    let before = engine_state(&team);
    let planned = provision(
        &team,
        dir.path(),
        &[
            &format!("tag={tag}"),
            "denied-image=elsewhere/web",
            &format!("existing={existing}"),
        ],
        &["--plan", "--json"],
    );
    planned.assert_ok();
    assert_eq!(engine_state(&team), before, "a plan changed the engine");
    assert!(!has_image(&tag) && !has_image(&format!("{tag}-snap")));

    let plan = planned.json();
    assert_eq!(plan["status"], "complete", "{plan}");
    let steps = steps(&plan);
    assert_eq!(
        ops(&steps),
        [
            "create-container",
            "start-container",
            "create-container",
            "start-container",
            "exec",
            "build-image",
            "create-container",
            "commit-container",
            "create-container",
            "remove-container",
            "stop-container",
            "remove-container",
        ],
        "{plan}"
    );
    let denied: Vec<usize> = steps
        .iter()
        .enumerate()
        .filter(|(_, (_, outcome))| outcome != "would-run")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(denied, [8], "{plan}");
    assert_eq!(steps[8].1, "denied");
    let denial = plan["steps"][8]["detail"].as_str().unwrap();
    assert!(denial.contains("policy rule `images`"), "{denial}");
    assert_eq!(
        plan["outputs"]["denied"].as_str().unwrap(),
        format!("denied: {denial}")
    );

    // Simulated answers the workflow went on with: ids like the engine's, a running
    // state, a port from the team's range, a clean exec.
    let created = plan["steps"][0]["answer"].as_str().unwrap();
    assert!(
        created.len() == 64 && created.bytes().all(|b| b.is_ascii_hexdigit()),
        "{created}"
    );
    assert!(docker(&[
        "ps",
        "-aq",
        "--no-trunc",
        "--filter",
        &format!("id={created}")
    ])
    .trim()
    .is_empty());
    let outputs = &plan["outputs"];
    assert_eq!(outputs["state"], "running", "{plan}");
    let port: u16 = outputs["ports"]
        .as_str()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!((30400..=30499).contains(&port), "{plan}");
    assert_eq!(outputs["exec-exit-code"], "0");
    assert!(outputs["built"].as_str().unwrap().starts_with("sha256:"));
    // The listing shows the three containers the plan made, and no real one.
    assert_eq!(outputs["listed"], "3", "{plan}");

    // Nothing of the plan is in the journal: it made nothing.
    assert!(
        !team.journal().iter().any(|e| e["workflow"] == "provision"),
        "{:?}",
        team.journal()
    );
    // The container the plan "removed" is still there.
    assert!(team.containers().contains(&existing));

    // The table form shows the same steps.
    let table = provision(
        &team,
        dir.path(),
        &[&format!("tag={tag}"), "denied-image=elsewhere/web"],
        &["--plan"],
    );
    table.assert_ok();
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(lines[0].starts_with("STEP"), "{}", table.stdout);
    assert!(
        lines[1].contains("create-container") && lines[1].contains("would run"),
        "{}",
        table.stdout
    );
    assert!(table.stdout.contains("denied"), "{}", table.stdout);
    assert!(
        table.stderr.contains("nothing was sent to the engine"),
        "{}",
        table.stderr
    );
    assert_eq!(engine_state(&team), before, "a plan changed the engine");
}

#[test]
fn a_plan_stops_where_it_needs_a_real_answer_and_a_fresh_team_gets_its_network_planned() {
    images();
    let dir = plugin_dir(&[test_plugin("probe.wasm")]);
    let team = Team::new("plan-stop");
    let before = engine_state(&team);
    let planned = provision(&team, dir.path(), &["wait=true"], &["--plan", "--json"]);
    planned.assert_ok();
    assert_eq!(engine_state(&team), before, "a plan changed the engine");
    let plan = planned.json();
    assert_eq!(plan["status"], "stopped", "{plan}");
    let steps = steps(&plan);
    // The team has no network yet: a real run's first create would make it.
    assert_eq!(
        steps[0],
        ("create-network".to_string(), "would-run".to_string())
    );
    assert_eq!(
        steps.last().unwrap(),
        &("wait-ready".to_string(), "stopped".to_string()),
        "{plan}"
    );
    let stopped = plan["stopped"].as_str().unwrap();
    assert!(stopped.contains("only simulated"), "{stopped}");
    assert!(stopped.contains("the plan stops at step"), "{stopped}");
    assert!(team.containers().is_empty());
    assert!(docker(&[
        "network",
        "ls",
        "-q",
        "--filter",
        &format!("label=dockwright.network={}", team.name)
    ])
    .trim()
    .is_empty());
}

#[test]
fn a_plan_lists_the_writes_a_real_run_makes_and_counts_its_own_in_the_quota() {
    images();
    let dir = plugin_dir(&[test_plugin("probe.wasm")]);
    let team = Team::with_policy(
        "plan-real",
        "images = [\"dockwright/*\"]\nexec_as_root = true\nmax_containers = 3\nmax_running = 3\n",
    );
    let plan = provision(&team, dir.path(), &["count=2"], &["--plan", "--json"]);
    plan.assert_ok();
    let plan = plan.json();
    let real = provision(&team, dir.path(), &["count=2"], &["--json"]);
    real.assert_ok();
    // The writes of the real run, as the journal has them, in order.
    let write_ops = [
        "create-container",
        "start-container",
        "stop-container",
        "kill-container",
        "remove-container",
        "exec",
        "build-image",
        "commit-container",
        "pull-image",
    ];
    let journaled: Vec<String> = team
        .journal()
        .iter()
        .filter(|e| e["event"] == "call" && write_ops.contains(&e["op"].as_str().unwrap_or("")))
        .map(|e| e["op"].as_str().unwrap().to_string())
        .collect();
    let planned: Vec<String> = steps(&plan)
        .into_iter()
        .filter(|(op, _)| op != "create-network")
        .map(|(op, _)| op)
        .collect();
    assert_eq!(planned, journaled, "{plan}");

    // One container of the real run is left (the workflow removes only its first), so
    // three more would go over the quota of 3: the plan counts its own creates and
    // shows the denial a real run would meet, and the workflow fails as it would.
    assert_eq!(team.containers().len(), 1);
    let before = engine_state(&team);
    let over = provision(&team, dir.path(), &["count=3"], &["--plan", "--json"]);
    assert_eq!(over.code, 1, "{}\n{}", over.stdout, over.stderr);
    let over = over.json();
    assert_eq!(over["status"], "failed", "{over}");
    let steps = steps(&over);
    assert_eq!(
        steps.last().unwrap(),
        &("create-container".to_string(), "denied".to_string()),
        "{over}"
    );
    assert_eq!(
        steps
            .iter()
            .filter(|(op, _)| op == "create-container")
            .count(),
        3
    );
    assert!(
        over["error"].as_str().unwrap().contains("max_containers"),
        "{over}"
    );
    assert_eq!(engine_state(&team), before, "a plan changed the engine");
}

#[test]
fn serve_plans_a_run_when_asked_and_keeps_no_run() {
    images();
    let plugins = plugin_dir(&[test_plugin("probe.wasm")]);
    let team = Team::new("plan-srv");
    let key = token(&team, plugins.path(), &team);
    let server = Server::start(&team, plugins.path(), &[]);
    let before = engine_state(&team);
    let body = serde_json::json!({
        "workflow": "provision",
        "params": { "image": "dockwright/web", "count": 1 },
        "plan": true,
    });
    let answer = server.post("/v1/runs", &key, &body);
    assert_eq!(answer.status, 200, "{}", answer.body);
    let plan = answer.json();
    assert_eq!(plan["status"], "complete", "{plan}");
    assert_eq!(
        ops(&steps(&plan)),
        [
            "create-network",
            "create-container",
            "start-container",
            "exec",
            "stop-container",
            "remove-container",
        ],
        "{plan}"
    );
    assert_eq!(engine_state(&team), before, "a plan changed the engine");
    // No run was kept: the plan's id is not a run of the team.
    let id = plan["run"].as_str().unwrap();
    assert_eq!(
        server.get(&format!("/v1/runs/{id}"), Some(&key)).status,
        404
    );
    // A plan that is not a boolean is refused, naming the field.
    let bad = serde_json::json!({ "workflow": "provision", "plan": "yes" });
    let refused = server.post("/v1/runs", &key, &bad);
    assert_eq!(refused.status, 400, "{}", refused.body);
    assert!(refused.body.contains("plan"), "{}", refused.body);
}
