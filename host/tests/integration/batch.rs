//! Concurrent runs: `--each` and `--params-file`.

use crate::common::*;

#[test]
fn each_runs_concurrently_and_one_failure_does_not_stop_the_others() {
    let team = Team::new("each");
    images();
    let base = unique("each");
    let names: Vec<String> = (1..=4).map(|i| format!("{base}-{i}")).collect();
    let run = team.dockwright(
        probe_dir(),
        &[
            "run",
            "create",
            "--each",
            &format!("name={}", names.join(",")),
            "-j",
            "3",
            "-p",
            "image=dockwright/base:latest",
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let doc = run.json();
    assert_eq!(doc["ok"], 4);
    let runs = doc["runs"].as_array().unwrap();
    let ids: std::collections::HashSet<&str> =
        runs.iter().map(|r| r["run"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 4, "each run has its own id");
    assert_eq!(team.containers().len(), 4);

    let mixed = team.dockwright(
        probe_dir(),
        &[
            "run",
            "create-then-fail",
            "--each",
            "count=1,2",
            "-p",
            "image=dockwright/base:latest",
            "--json",
        ],
    );
    assert_ne!(mixed.code, 0);
    let doc = mixed.json();
    assert_eq!(doc["failed"], 2);
    let rolled: Vec<usize> = doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["rolled_back"].as_array().unwrap().len())
        .collect();
    assert_eq!(rolled, [1, 2], "each run rolls back its own");
    assert_eq!(
        team.containers().len(),
        4,
        "the earlier containers are untouched"
    );

    // Text mode: a summary table and a failure exit.
    let table = team.dockwright(
        probe_dir(),
        &[
            "run",
            "inspect",
            "--each",
            &format!("container={},{}", names[0], unique("nope")),
        ],
    );
    assert_ne!(table.code, 0);
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(lines[0].starts_with("#  PARAMS"), "{}", table.stdout);
    assert!(
        lines[1].contains(" ok ") && lines[2].contains(" failed "),
        "{}",
        table.stdout
    );
    assert!(table.stderr.contains("1 ok, 1 failed"), "{}", table.stderr);
    // Not a terminal: plain progress lines, one per run.
    assert!(table.stderr.contains("[2/2]"), "{}", table.stderr);
}

#[test]
fn params_files_give_one_run_per_line() {
    let team = Team::new("paramsfile");
    images();
    let base = unique("pf");
    let file = team.home.join("params.jsonl");
    std::fs::write(
        &file,
        format!(
            "{{\"name\": \"{base}-a\", \"image\": \"dockwright/base:latest\"}}\n# a comment\n{{\"name\": \"{base}-b\", \"image\": \"dockwright/web:latest\"}}\n"
        ),
    )
    .unwrap();
    let run = team.dockwright(
        probe_dir(),
        &[
            "run",
            "create",
            "--params-file",
            file.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(run.json()["ok"], 2);
    let images = docker(&[
        "ps",
        "-a",
        "--filter",
        &team.filter(),
        "--format",
        "{{.Image}}",
    ]);
    let mut images: Vec<&str> = images.lines().collect();
    images.sort();
    assert_eq!(images, ["dockwright/base:latest", "dockwright/web:latest"]);

    std::fs::write(&file, "{\"name\": [1]}\n").unwrap();
    let bad = team.dockwright(
        probe_dir(),
        &["run", "create", "--params-file", file.to_str().unwrap()],
    );
    bad.assert_clean_failure("line 1: param `name`");
    let missing = team.dockwright(probe_dir(), &["run", "create", "--each", "name=x,y"]);
    missing.assert_clean_failure("run 1 of 2: workflow `create` needs param `image`");
}
