//! Plugins that misbehave: limits stop them with an error naming the plugin, the
//! workflow and the limit; what their runs created is rolled back; a host killed
//! mid-run leaves containers that `dockwright gc` collects.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::common::*;

fn hostile_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| plugin_dir(&[test_plugin("hostile.wasm")]).keep())
}

const TIGHT: &str = r#"
images = ["*"]
plugin_limits = { timeout = "3s", memory = "64m", log = "64k" }
"#;

/// Run a hostile workflow under tight limits; the failed report.
fn run_hostile(team: &Team, workflow: &str, params: &[(&str, &str)]) -> (serde_json::Value, Run) {
    images();
    // Each of these workflows runs forever unless a limit stops it: that the run
    // ends, failed, is the proof (no wall-clock window is asserted).
    let (report, run) = run_workflow(hostile_dir(), team, workflow, params);
    assert_eq!(report["status"], "failed", "{report}");
    assert_ne!(run.code, 0);
    (report, run)
}

#[track_caller]
fn assert_run_end_failed(team: &Team, needle: &str) {
    let ends: Vec<_> = team
        .journal()
        .into_iter()
        .filter(|e| e["event"] == "run-end")
        .collect();
    let last = ends.last().expect("a run-end entry");
    assert_eq!(last["status"], "failed");
    assert!(last["error"].as_str().unwrap().contains(needle), "{last}");
}

#[test]
fn a_spinning_plugin_is_stopped_by_its_deadline() {
    let team = Team::with_policy("spin", TIGHT);
    let (report, _) = run_hostile(&team, "spin", &[]);
    let err = report["error"].as_str().unwrap();
    assert!(
        err.contains("plugin `hostile`")
            && err.contains("`spin`")
            && err.contains("time limit of 3 s"),
        "{err}"
    );
    assert_run_end_failed(&team, "time limit");
}

#[test]
fn a_plugin_blocked_in_a_host_call_is_stopped_and_rolled_back() {
    let team = Team::with_policy("block", TIGHT);
    let (report, _) = run_hostile(&team, "block", &[("image", "dockwright/base:latest")]);
    assert!(
        report["error"].as_str().unwrap().contains("time limit"),
        "{report}"
    );
    assert_eq!(
        report["rolled_back"].as_array().unwrap().len(),
        1,
        "{report}"
    );
    assert!(
        team.containers().is_empty(),
        "left: {:?}",
        team.containers()
    );
}

#[test]
fn a_plugin_that_allocates_without_end_hits_its_memory_limit() {
    let team = Team::with_policy("alloc", TIGHT);
    let (report, _) = run_hostile(&team, "alloc", &[]);
    let err = report["error"].as_str().unwrap();
    assert!(
        err.contains("`alloc`") && err.contains("memory limit of 64 MiB"),
        "{err}"
    );
    assert_run_end_failed(&team, "memory limit");
}

#[test]
fn a_plugin_that_floods_output_hits_its_log_cap() {
    let team = Team::with_policy("flood", TIGHT);
    let (report, run) = run_hostile(&team, "flood", &[]);
    let err = report["error"].as_str().unwrap();
    assert!(
        err.contains("`flood`") && err.contains("output limit of 65536 bytes"),
        "{err}"
    );
    // What reached the user stayed near the cap.
    assert!(
        run.stderr.len() < 200_000,
        "{} bytes of output",
        run.stderr.len()
    );
    assert_run_end_failed(&team, "output limit");
}

#[test]
fn a_plugin_that_traps_after_creating_containers_is_rolled_back() {
    let team = Team::with_policy("trap", TIGHT);
    let (report, run) = run_hostile(
        &team,
        "trap-after-create",
        &[("image", "dockwright/base:latest"), ("count", "3")],
    );
    let err = report["error"].as_str().unwrap();
    assert!(
        err.contains("crashed") && err.contains("trap-after-create"),
        "{err}"
    );
    assert_eq!(
        report["rolled_back"].as_array().unwrap().len(),
        3,
        "{report}"
    );
    assert!(run.stderr.contains("created"), "{}", run.stderr);
    assert!(
        team.containers().is_empty(),
        "left: {:?}",
        team.containers()
    );
    let created = team.calls("create-container");
    assert_eq!(created.len(), 3);
    assert!(created
        .iter()
        .all(|c| c["decision"] == "allowed" && c["result"] == "ok"));
    assert_run_end_failed(&team, "crashed");
}

/// Start `dockwright run slow` and wait until its container exists.
fn start_slow(team: &Team) -> std::process::Child {
    images();
    let mut child = team
        .command(
            hostile_dir(),
            &[
                "run",
                "slow",
                "-p",
                "image=dockwright/base:latest",
                "-p",
                "seconds=60",
            ],
        )
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            Instant::now() < deadline,
            "the slow run never created its container"
        );
        match lines.next() {
            Some(Ok(line)) if line.contains("created") => break,
            Some(_) => {}
            None => panic!("dockwright ended before creating its container"),
        }
    }
    // Keep draining stderr so the child never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    child
}

#[test]
fn ctrl_c_rolls_the_run_back() {
    let team = Team::with_policy("sigint", "images = [\"*\"]\n");
    let mut child = start_slow(&team);
    assert_eq!(team.containers().len(), 1);
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert!(
        team.containers().is_empty(),
        "left: {:?}",
        team.containers()
    );
    assert_run_end_failed(&team, "interrupted");
}

#[test]
fn a_killed_host_leaves_containers_that_gc_collects() {
    let team = Team::with_policy("sigkill", "images = [\"*\"]\n");
    let mut child = start_slow(&team);
    child.kill().unwrap();
    child.wait().unwrap();
    let left = team.containers();
    assert_eq!(left.len(), 1, "the killed run's container stays until gc");

    let runs = team
        .dockwright(hostile_dir(), &["runs", "--json"])
        .assert_ok()
        .json();
    let run = runs.as_array().unwrap().last().unwrap().clone();
    assert_eq!(run["status"], "died", "{run}");

    let dry = team.dockwright(hostile_dir(), &["gc", "--dry-run"]);
    dry.assert_ok();
    assert!(
        dry.stdout.contains("would remove") && dry.stdout.contains(&left[0][..12]),
        "{}",
        dry.stdout
    );
    assert_eq!(team.containers().len(), 1, "a dry run removes nothing");

    let gc = team.dockwright(hostile_dir(), &["gc"]);
    gc.assert_ok();
    assert!(gc.stdout.contains("removed"), "{}", gc.stdout);
    assert!(team.containers().is_empty());
    // The run's end, which it never wrote, is recorded: it died, and gc removed its container.
    let id = run["run"].as_str().unwrap();
    assert!(
        gc.stderr.contains("recorded the end of 1 run(s)") && gc.stderr.contains(id),
        "{}",
        gc.stderr
    );
    let end = team
        .journal()
        .into_iter()
        .find(|e| e["event"] == "run-end" && e["run"] == id)
        .expect("the dead run's end");
    assert_eq!(end["status"], "died", "{end}");
    assert_eq!(end["rolled_back"][0], left[0].as_str(), "{end}");
    assert_eq!(end["containers"][0], left[0].as_str(), "{end}");
    let again = team.dockwright(hostile_dir(), &["gc"]);
    assert!(
        again.stdout.contains("Nothing to collect"),
        "{}",
        again.stdout
    );
}

#[test]
fn gc_leaves_live_and_finished_runs_alone() {
    let team = Team::with_policy("gclive", "images = [\"*\"]\n");
    let name = unique("kept");
    probe_ok(
        &team,
        "create",
        &[("image", "dockwright/base:latest"), ("name", &name)],
    );
    let mut child = start_slow(&team);
    let gc = team.dockwright(hostile_dir(), &["gc"]);
    gc.assert_ok();
    assert_eq!(team.containers().len(), 2, "{}", gc.stdout);
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn runs_lists_and_shows_what_happened() {
    let team = Team::new("runs");
    images();
    let name = unique("shown");
    probe_ok(
        &team,
        "create",
        &[("image", "dockwright/base:latest"), ("name", &name)],
    );
    let _ = probe(
        &team,
        "create",
        &[
            ("image", "dockwright/base:latest"),
            ("labels", "dockwright.team=x"),
        ],
    );

    let listed = team.dockwright(probe_dir(), &["runs"]);
    listed.assert_ok();
    assert!(listed.stdout.starts_with("RUN"), "{}", listed.stdout);
    assert_eq!(listed.stdout.lines().count(), 3, "{}", listed.stdout);
    assert!(
        listed.stdout.contains("1 container, 0 images"),
        "{}",
        listed.stdout
    );

    let runs = team
        .dockwright(probe_dir(), &["runs", "--json"])
        .assert_ok()
        .json();
    let runs = runs.as_array().unwrap();
    assert_eq!(runs[0]["status"], "ok");
    assert_eq!(runs[1]["status"], "failed");
    let denied_run = runs[1]["run"].as_str().unwrap();

    let shown = team.dockwright(probe_dir(), &["runs", "show", &denied_run[..10]]);
    shown.assert_ok();
    assert!(
        shown.stdout.contains("create-container"),
        "{}",
        shown.stdout
    );
    assert!(shown.stdout.contains("denied (labels)"), "{}", shown.stdout);
    let detail = team
        .dockwright(probe_dir(), &["runs", "show", denied_run, "--json"])
        .assert_ok()
        .json();
    assert_eq!(detail["calls"][0]["decision"], "denied");
    assert_eq!(detail["params"][0][0], "image");
    let missing = team.dockwright(probe_dir(), &["runs", "show", "zzzz"]);
    missing.assert_clean_failure("no run `zzzz`");
}
