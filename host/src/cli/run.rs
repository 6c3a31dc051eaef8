//! `dockwright run`: one run of a workflow, or a batch of them.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use super::batch;
use super::load::{load, load_config};
use super::table::table;
use crate::engine;
use crate::imports::mode::Mode;
use crate::imports::plan::Outcome;
use crate::imports::recording::{self, Recording};
use crate::journal::Journal;
use crate::plugin::info::WorkflowInfo;
use crate::policy::{config, params};
use crate::run::cassette::{self, Cassette};
use crate::run::config::Config;
use crate::run::plan::{PlanReport, PlanStatus};
use crate::run::{self, RunOptions, Status};
use crate::util::console::Console;
use crate::util::text::{inert, inert_line};

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The workflow's name, as `dockwright plugins` lists it
    pub workflow: String,

    /// A param of the workflow, as name=value (repeatable)
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE", value_parser = params::parse_assignment)]
    pub params: Vec<(String, String)>,

    /// The plugin to take the workflow from, when several offer it
    #[arg(long, value_name = "NAME")]
    pub plugin: Option<String>,

    /// The team the run is for
    #[arg(long, env = "DOCKWRIGHT_TEAM", default_value = "default")]
    pub team: String,

    /// The engine to run on: `default` (DOCKER_HOST) or a name from [engines] in the
    /// config; several (`a,b,c`) or `all` run the workflow once on each, at once
    #[arg(
        long,
        env = "DOCKWRIGHT_ENGINE",
        default_value = "default",
        value_name = "NAME[,NAME...]|all"
    )]
    pub engine: String,

    /// Leave the containers of a failed run in place, for debugging
    #[arg(long)]
    pub keep_on_failure: bool,

    /// Run once per value: NAME=V1,V2,... (repeatable: every combination runs)
    #[arg(long = "each", value_name = "NAME=V1,V2,...", value_parser = crate::run::batch::parse_each)]
    pub each: Vec<(String, Vec<String>)>,

    /// Run once per line of this file, each line a JSON object of params
    #[arg(long, value_name = "FILE")]
    pub params_file: Option<PathBuf>,

    /// How many runs of a batch (--each, --params-file) go at once
    #[arg(short = 'j', long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,

    /// Print the run's report as JSON
    #[arg(long)]
    pub json: bool,

    /// Write every host call of the run, with its arguments and answer, to this
    /// cassette (JSON), for `dockwright test --replay`
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// Env names whose values a recording leaves out, as globs (comma-separated,
    /// repeatable; any case). Default: *PASSWORD*, *PASSWD*, *SECRET*, *TOKEN*, *_KEY,
    /// *CREDENTIAL*. `--redact-env ''` leaves none out
    #[arg(
        long,
        value_name = "PATTERN[,PATTERN...]",
        requires = "record",
        value_delimiter = ','
    )]
    pub redact_env: Option<Vec<String>>,

    /// Show the writes the workflow would make, and make none: reads go to the engine,
    /// writes are checked against the team's policy and answered with simulated ids
    #[arg(long, conflicts_with_all = ["record", "keep_on_failure"])]
    pub plan: bool,
}

pub async fn run(
    dir: &std::path::Path,
    config_path: Option<&std::path::Path>,
    console: Arc<dyn Console>,
    args: RunArgs,
    verbose: bool,
) -> Result<ExitCode> {
    config::check_team(&args.team).map_err(anyhow::Error::msg)?;
    let config = load_config(config_path)?;
    let policy = Arc::new(config.team(&args.team)?.clone());
    let targets = super::load::select_engines(&config, &policy, &args.engine)?;
    let fan_out = targets.len() > 1;
    // Each engine connects on the run's first Docker call: a run that makes none, or
    // fails before it, never waits for a handshake.
    let mut engines: Vec<(String, Result<engine::Engine, String>)> = targets
        .iter()
        .map(|target| {
            let engine = engine::Engine::lazy(target).map_err(|e| format!("{e:#}"));
            (target.name.clone(), engine)
        })
        .collect();
    let (runtime, catalog) = load(dir, config_path, console.clone(), true).await?;
    let (plugin, workflow) = catalog.resolve(&args.workflow, args.plugin.as_deref())?;
    let batch = !args.each.is_empty() || args.params_file.is_some() || fan_out;
    if batch && args.record.is_some() {
        anyhow::bail!(
            "--record writes down one run: leave out --each, --params-file and engine lists, or record each run on its own"
        );
    }
    if batch && args.plan {
        anyhow::bail!(
            "--plan shows one run: leave out --each, --params-file and engine lists, or plan each run on its own"
        );
    }
    let sets = param_sets(&args)?;
    let mut resolved = resolve_all(workflow, &sets, batch)?;
    let recording = args.record.as_ref().map(|_| recording(&args));
    let options = RunOptions {
        policy,
        keep_on_failure: args.keep_on_failure,
        journal: open_journal_pruned(&config)?,
        state_dir: crate::util::paths::state_dir(),
        // A plan makes its own mode (see `run::plan`).
        mode: recording.clone().map_or(Mode::Live, Mode::Record),
        caller: Some(super::load::user()),
        user: Some(super::load::person()),
    };
    if batch {
        // A fan-out goes on when an engine is down: that engine's runs fail.
        let shown = batch::Shown {
            params: batch::shown_keys(&args.each, &sets),
            engines: fan_out,
            json: args.json,
            verbose,
        };
        let work = crate::run::batch::fan_out(&resolved, &engines);
        return batch::run(
            &runtime,
            plugin,
            &workflow.name,
            work,
            shown,
            &options,
            args.jobs,
        )
        .await;
    }
    let (_, engine) = engines.pop().expect("one engine");
    let request = run::RunRequest {
        runtime: &runtime,
        plugin,
        workflow: &workflow.name,
        params: resolved.pop().expect("one param set"),
        engine: engine.map_err(anyhow::Error::msg)?,
        console,
        options: &options,
    };
    let cancel = crate::util::stop::requested();
    if args.plan {
        let report = run::plan::plan(request, cancel).await?;
        return print_plan(&report, args.json);
    }
    let report = match (&args.record, &recording) {
        (Some(path), Some(recording)) => record_one(request, cancel, path, recording).await?,
        _ => run::run_workflow(request, cancel).await,
    };
    print_report(&report, args.json, args.keep_on_failure)
}

/// The param sets of the command line: `-p`, crossed with `--each` and the params
/// file's sets.
fn param_sets(args: &RunArgs) -> Result<Vec<Vec<(String, String)>>> {
    let file_sets = match &args.params_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the params file `{}`", path.display()))?;
            let sets = crate::run::batch::parse_params_file(&text)
                .map_err(|e| anyhow::anyhow!("params file `{}`: {e}", path.display()))?;
            Some(sets)
        }
        None => None,
    };
    Ok(crate::run::batch::expand(
        &args.params,
        &args.each,
        file_sets,
    ))
}

/// Each set checked against what the workflow declares; in a batch, an error says
/// which run it is of.
fn resolve_all(
    workflow: &WorkflowInfo,
    sets: &[Vec<(String, String)>],
    batch: bool,
) -> Result<Vec<Vec<(String, String)>>> {
    let mut resolved = Vec::with_capacity(sets.len());
    for (i, set) in sets.iter().enumerate() {
        let params = params::resolve(&workflow.name, &workflow.params, set).map_err(|e| {
            if batch {
                anyhow::anyhow!("run {} of {}: {e}", i + 1, sets.len())
            } else {
                anyhow::anyhow!(e)
            }
        })?;
        resolved.push(params);
    }
    Ok(resolved)
}

/// The journal the config names, pruned in the background when the config keeps less
/// than all of it.
fn open_journal_pruned(config: &Config) -> Result<Arc<Journal>> {
    let journal = Arc::new(super::load::open_journal(config)?);
    if let Some(keep) = config.journal_retention {
        // Pruning is batched transactions: a process that exits mid-way loses nothing.
        let journal = journal.clone();
        std::thread::spawn(move || super::runs::prune_when_due(keep, &journal));
    }
    Ok(journal)
}

/// An empty recording that leaves out the env values `--redact-env` names (or the
/// usual secret names).
fn recording(args: &RunArgs) -> recording::Shared {
    let patterns = match &args.redact_env {
        Some(given) => given.iter().filter(|p| !p.is_empty()).cloned().collect(),
        None => cassette::DEFAULT_REDACT
            .iter()
            .map(|p| p.to_string())
            .collect(),
    };
    Recording::new(patterns)
}

/// Run `request` recorded, and write its cassette to `path`.
async fn record_one(
    request: run::RunRequest<'_>,
    cancel: impl std::future::Future<Output = ()>,
    path: &std::path::Path,
    recording: &recording::Shared,
) -> Result<run::RunReport> {
    let (plugin, params, engine) = (
        request.plugin,
        request.params.clone(),
        request.engine.clone(),
    );
    let report = run::run_workflow(request, cancel).await;
    let cassette = Cassette::recorded(plugin, &params, &engine, &report, recording);
    cassette.write(path)?;
    eprintln!(
        "recorded {} calls to {}: replay with `dockwright test <plugin.wasm> --replay {}`",
        cassette.calls.len(),
        path.display(),
        path.display()
    );
    Ok(report)
}

/// Print a plan as a table (or JSON), and say what the exit code should be: a plan
/// whose workflow would fail exits 1.
pub fn print_plan(report: &PlanReport, json: bool) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", super::json_text(&report)?)?;
    } else {
        let mut rows = vec![[
            "STEP".to_string(),
            "CALL".to_string(),
            "TARGET".to_string(),
            "OUTCOME".to_string(),
            "ANSWER".to_string(),
        ]];
        rows.extend(report.steps.iter().map(|s| {
            let answer = match (&s.answer, &s.detail) {
                (Some(serde_json::Value::String(id)), _) => short_ids(id),
                (Some(value), _) => value.to_string(),
                (None, Some(detail)) => short_ids(detail),
                (None, None) => String::new(),
            };
            let outcome = serde_json::to_value(s.outcome)
                .ok()
                .and_then(|v| v.as_str().map(|o| o.replace('-', " ")))
                .unwrap_or_default();
            [
                s.step.to_string(),
                s.op.clone(),
                short_ids(&s.target),
                outcome,
                answer,
            ]
        }));
        for line in table(&rows) {
            writeln!(out, "{line}")?;
        }
        for step in &report.steps {
            if let Some(sent) = &step.sends {
                writeln!(out, "\nstep {} would send this Dockerfile:", step.step)?;
                for line in sent.lines() {
                    writeln!(out, "    {}", inert_line(line))?;
                }
            }
        }
    }
    let mut err = std::io::stderr().lock();
    let writes = report
        .steps
        .iter()
        .filter(|s| s.outcome == Outcome::WouldRun)
        .count();
    let what = format!(
        "plan {} of {} (plugin {}): {writes} writes would run; nothing was sent to the engine",
        report.run, report.workflow, report.plugin
    );
    let what = inert(&what);
    match report.status {
        PlanStatus::Complete => writeln!(err, "{what}")?,
        PlanStatus::Stopped => writeln!(
            err,
            "{what}\n{}",
            inert(&short_ids(
                report.stopped.as_deref().unwrap_or("the plan stopped")
            ))
        )?,
        PlanStatus::Failed => {
            writeln!(err, "{what}")?;
            let message = inert(report.error.as_deref().unwrap_or("failed"));
            writeln!(err, "error: a real run would fail: {message}")?;
            return Ok(ExitCode::FAILURE);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `text` with every full engine id (64 hex digits) cut to the 12 that `docker ps` shows.
fn short_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| c.is_ascii_hexdigit()) {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        let len = rest
            .find(|c: char| !c.is_ascii_hexdigit())
            .unwrap_or(rest.len());
        let keep = if len == 64 { 12 } else { len };
        out.push_str(&rest[..keep]);
        rest = &rest[len..];
    }
    out.push_str(rest);
    out
}

/// Print a run's report as `run` does, and say what the exit code should be.
pub fn print_report(
    report: &crate::run::RunReport,
    json: bool,
    keep_on_failure: bool,
) -> Result<ExitCode> {
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", super::json_text(&report)?)?;
    } else if report.status == Status::Ok {
        let rows: Vec<[String; 2]> = report
            .outputs
            .iter()
            .map(|(k, v)| [k.clone(), v.as_str().unwrap_or_default().to_string()])
            .collect();
        for line in table(&rows) {
            writeln!(out, "{line}")?;
        }
    }
    let mut err = std::io::stderr().lock();
    match report.status {
        Status::Ok => {
            let done = format!(
                "run {} of {} (plugin {}) finished in {:.1}s",
                report.run,
                report.workflow,
                report.plugin,
                report.duration_ms as f64 / 1000.0
            );
            writeln!(err, "{}", inert(&done))?;
            Ok(ExitCode::SUCCESS)
        }
        Status::Failed => {
            let message = inert(report.error.as_deref().unwrap_or("failed"));
            writeln!(err, "error: {message} (run {})", report.run)?;
            if !report.rolled_back.is_empty() {
                let ids: Vec<&str> = report
                    .rolled_back
                    .iter()
                    .map(|c| engine::containers::short(c))
                    .collect();
                writeln!(err, "rolled back: removed {}", ids.join(", "))?;
            }
            if keep_on_failure && !report.containers.is_empty() {
                let ids: Vec<&str> = report
                    .containers
                    .iter()
                    .map(|c| engine::containers::short(c))
                    .collect();
                writeln!(err, "kept (--keep-on-failure): {}", ids.join(", "))?;
            }
            for e in &report.rollback_errors {
                writeln!(err, "rollback could not remove {}", inert(e))?;
            }
            if !report.images.is_empty() {
                let images = report.images.join(", ");
                writeln!(err, "images built or committed (kept): {}", inert(&images))?;
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_ids_are_shown_short() {
        let id = "9fa1531881bce3717495ee7889c013d2a424896160ae918842ca19c417149058";
        assert_eq!(short_ids(id), "9fa1531881bc");
        assert_eq!(
            short_ids(&format!("container `{id}` is one, sha256:{id}.")),
            "container `9fa1531881bc` is one, sha256:9fa1531881bc."
        );
        assert_eq!(short_ids("port 30412 of abc"), "port 30412 of abc");
        assert_eq!(short_ids(""), "");
    }
}
