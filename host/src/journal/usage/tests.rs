//! Unit tests of [`super`]: numbers computed by hand.

use super::*;
use crate::journal::Entry;

const H: Duration = Duration::from_secs(3600);
const GIB_BYTES: u64 = 1 << 30;

/// `h` hours after the window opens (negative: before it).
fn at(h: f64) -> SystemTime {
    let base = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    if h >= 0.0 {
        base + H.mul_f64(h)
    } else {
        base - H.mul_f64(-h)
    }
}

fn container(
    created: f64,
    removed: Option<f64>,
    running: &[(f64, Option<f64>)],
    memory: u64,
    cpus: f64,
) -> Container {
    Container {
        created: at(created),
        removed: removed.map(at),
        running: running.iter().map(|(a, b)| (at(*a), b.map(at))).collect(),
        memory_bytes: memory,
        cpus,
    }
}

fn run(team: &str, workflow: &str, started: f64, containers: Vec<Container>) -> Run {
    Run {
        team: team.into(),
        workflow: workflow.into(),
        started: at(started),
        containers,
    }
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

fn assert_row(row: &Row, want: (u64, f64, f64, f64, f64, u64)) {
    let got = (
        row.environments,
        row.environment_hours,
        row.container_hours,
        row.memory_gib_hours,
        row.cpu_hours,
        row.peak_containers,
    );
    assert!(
        got.0 == want.0
            && close(got.1, want.1)
            && close(got.2, want.2)
            && close(got.3, want.3)
            && close(got.4, want.4)
            && got.5 == want.5,
        "{} {:?}: got {got:?}, want {want:?}",
        row.team,
        row.workflow
    );
}

/// The window is hours 0 to 10.
fn example() -> Vec<Run> {
    vec![
        // blue/env: c1 lives 1-5 h and runs all along (1 GiB, 2 CPUs); c2 lives from
        // 2 h on and runs 2-3 h (512 MiB, 1 CPU). c2 is still there: the environment too.
        run(
            "blue",
            "env",
            1.0,
            vec![
                container(1.0, Some(5.0), &[(1.0, None)], GIB_BYTES, 2.0),
                container(2.0, None, &[(2.0, Some(3.0))], GIB_BYTES / 2, 1.0),
            ],
        ),
        // blue/db: started before the window; only hours 0-3 count.
        run(
            "blue",
            "db",
            -2.0,
            vec![container(
                -2.0,
                Some(3.0),
                &[(-2.0, None)],
                2 * GIB_BYTES,
                1.0,
            )],
        ),
        // Gone before the window opened: not counted.
        run(
            "blue",
            "env",
            -5.0,
            vec![container(-5.0, Some(-1.0), &[(-5.0, None)], GIB_BYTES, 1.0)],
        ),
        // red/env: made at 4 h, never started.
        run(
            "red",
            "env",
            4.0,
            vec![container(4.0, None, &[], GIB_BYTES, 1.0)],
        ),
        // No containers: no environment.
        run("red", "env", 5.0, vec![]),
    ]
}

#[test]
fn usage_adds_up_per_workflow_and_per_team_within_the_window() {
    let rows = account(&example(), at(0.0), at(10.0));
    let names: Vec<(&str, Option<&str>)> = rows
        .iter()
        .map(|r| (r.team.as_str(), r.workflow.as_deref()))
        .collect();
    assert_eq!(
        names,
        [
            ("blue", Some("db")),
            ("blue", Some("env")),
            ("blue", None),
            ("red", Some("env")),
            ("red", None)
        ]
    );
    // (environments, env-h, container-h, memory GiB-h, CPU-h, peak)
    assert_row(&rows[0], (1, 3.0, 3.0, 6.0, 3.0, 1));
    // env: 9 h (1-10); c1 4 h + c2 8 h; 4 GiB-h + 0.5; 8 CPU-h + 1; c1 and c2 at once.
    assert_row(&rows[1], (1, 9.0, 12.0, 4.5, 9.0, 2));
    // Team: c3 (0-3), c1 (1-5), c2 (2-) overlap in 2-3 h: a peak of 3.
    assert_row(&rows[2], (2, 12.0, 15.0, 10.5, 12.0, 3));
    assert_row(&rows[3], (1, 6.0, 6.0, 0.0, 0.0, 1));
    assert_row(&rows[4], (1, 6.0, 6.0, 0.0, 0.0, 1));
}

#[test]
fn a_removal_at_the_instant_of_a_create_frees_its_place_first() {
    let rows = account(
        &[run(
            "blue",
            "env",
            0.0,
            vec![
                container(0.0, Some(2.0), &[], 0, 0.0),
                container(2.0, Some(4.0), &[], 0, 0.0),
            ],
        )],
        at(0.0),
        at(10.0),
    );
    assert_eq!(rows[0].peak_containers, 1);
}

fn start(run: &str, time: SystemTime) -> Entry {
    Entry::RunStart {
        time: timestamp(time),
        run: run.into(),
        team: "blue".into(),
        plugin: "p".into(),
        plugin_sha256: "00".into(),
        workflow: "env".into(),
        params: vec![],
        pid: 1,
        engine: "default".into(),
        expires: None,
        user: None,
        user_name: None,
    }
}

fn call(run: &str, time: SystemTime, op: &str, target: &str, detail: Option<&str>) -> Entry {
    Entry::Call {
        time: timestamp(time),
        run: run.into(),
        team: "blue".into(),
        plugin: "p".into(),
        op: op.into(),
        target: target.into(),
        decision: "allowed".into(),
        rule: None,
        result: "ok".into(),
        detail: detail.map(str::to_string),
        duration_ms: 1,
    }
}

fn end(run: &str, time: SystemTime, status: &str, rolled_back: &[&str]) -> Entry {
    Entry::RunEnd {
        time: timestamp(time),
        run: run.into(),
        team: "blue".into(),
        plugin: "p".into(),
        workflow: "env".into(),
        status: status.into(),
        error: None,
        cause: None,
        containers: vec![],
        images: vec![],
        rolled_back: rolled_back.iter().map(|s| s.to_string()).collect(),
        duration_ms: 1,
    }
}

#[test]
fn a_journal_tells_each_containers_life_from_its_calls_and_its_runs_end() {
    let dir = tempfile::tempdir().unwrap();
    let j = Journal::open(&dir.path().join("j.db")).unwrap();
    let gib = GIB_BYTES.to_string();
    let limits = format!("memory={gib} cpus=1.5");
    let entries = vec![
        // r1: web (by name) runs 1-2 h, stopped; db runs 1-4 h and is torn down at 4 h.
        start("r1", at(1.0)),
        call(
            "r1",
            at(1.0),
            "create-container",
            "web (img:1)",
            Some(&format!("aaaa1111 {limits}")),
        ),
        call(
            "r1",
            at(1.0),
            "create-container",
            "img:1",
            Some(&format!("bbbb2222 {limits}")),
        ),
        call("r1", at(1.0), "start-container", "web", None),
        call("r1", at(1.0), "start-container", "bbbb2222", None),
        call("r1", at(2.0), "stop-container", "aaaa", None),
        end("r1", at(2.0), "ok", &[]),
        Entry::TornDown {
            time: timestamp(at(4.0)),
            run: "r1".into(),
            team: "blue".into(),
            removed: vec!["aaaa1111".into(), "bbbb2222".into()],
            by: None,
        },
        // r2: failed at 3 h and rolled back; its container ran 2-3 h (no limits journaled).
        start("r2", at(2.0)),
        call("r2", at(2.0), "create-container", "img:1", Some("cccc3333")),
        call("r2", at(2.0), "start-container", "cccc3333", None),
        end("r2", at(3.0), "failed", &["cccc3333"]),
    ];
    for e in &entries {
        j.record(e).unwrap();
    }
    let runs = runs(&j, Some("blue"), at(0.0), at(10.0)).unwrap();
    assert_eq!(runs.len(), 2);
    let rows = account(&runs, at(0.0), at(10.0));
    let total = rows.iter().find(|r| r.workflow.is_none()).unwrap();
    // Environments: r1 1-4 h, r2 2-3 h. Containers: 3 + 3 + 1 hours. Running, with
    // limits: web 1 h, db 3 h at 1 GiB and 1.5 CPUs; r2's at none.
    assert_row(total, (2, 4.0, 7.0, 4.0, 6.0, 3));
    // Another team's view has none of it.
    assert!(runs_for_red_are_empty(&j));
}

fn runs_for_red_are_empty(j: &Journal) -> bool {
    runs(j, Some("red"), at(0.0), at(10.0)).unwrap().is_empty()
}
