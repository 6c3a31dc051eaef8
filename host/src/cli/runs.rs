//! `dockwright runs` and `dockwright gc`: what the journal says, its JSON-lines form
//! in and out, and collecting what dead runs left.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Result;
use clap::Subcommand;

use super::load::{load_config, open_journal};
use super::table::table;
use crate::engine;
use crate::journal::transfer::{self, Imported};
use crate::journal::{gc, history, retention, Journal};
use crate::util::text::inert;

#[derive(Subcommand, Debug)]
pub enum RunsCommand {
    /// Show one run: its params, every Docker call and its decision, its end
    Show {
        /// The run id, or a unique prefix of it
        id: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Write the journal as JSON lines (one entry per line, in time order) to stdout
    Export {
        /// Only entries from this time on: a UTC date or time (`2026-11-01`,
        /// `2026-11-01T12:00:00Z`), or an age (`7d`, `12h`)
        #[arg(long)]
        since: Option<String>,
    },
    /// Add the runs of a JSON-lines journal (an export, or an earlier version's
    /// journal.jsonl) that this journal does not have
    Import {
        /// The JSON-lines file
        file: PathBuf,
    },
}

/// `dockwright runs [COMMAND]` with the config loaded.
pub fn runs(
    config: &crate::run::config::Config,
    command: Option<RunsCommand>,
    filter: history::Filter,
    limit: usize,
    json: bool,
) -> Result<ExitCode> {
    let journal = open_journal(config)?;
    match command {
        None => list(&journal, filter, limit, json),
        Some(RunsCommand::Show { id, json }) => show(&journal, &id, json),
        Some(RunsCommand::Export { since }) => export(&journal, since.as_deref()),
        Some(RunsCommand::Import { file }) => import(&journal, &file),
    }
}

fn list(journal: &Journal, filter: history::Filter, limit: usize, json: bool) -> Result<ExitCode> {
    let mut recent = history::latest(journal, filter, limit, &crate::util::paths::state_dir())?;
    // Oldest first, so the newest run is the last line, next to the prompt.
    recent.reverse();
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", super::json_text(&recent)?)?;
    } else if recent.is_empty() {
        writeln!(out, "No runs in {}.", journal.shown())?;
    } else {
        let mut rows = vec![[
            "RUN", "STATUS", "TEAM", "USER", "ENGINE", "PLUGIN", "WORKFLOW", "STARTED", "DURATION",
            "CREATED",
        ]
        .map(String::from)];
        rows.extend(recent.iter().map(|r| {
            [
                r.run.clone(),
                r.status.clone(),
                r.team.clone(),
                person(r).unwrap_or_else(|| "-".into()),
                r.engine.clone(),
                r.plugin.clone(),
                r.workflow.clone(),
                r.started.clone(),
                r.duration_ms
                    .map_or("-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0)),
                match &r.torn_down {
                    Some(_) => format!("{} (torn down)", r.created()),
                    None => r.created(),
                },
            ]
        }));
        for line in table(&rows) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Who started a run, as people know them: `name (id)`, or the id.
fn person(r: &history::RunSummary) -> Option<String> {
    let id = r.user.clone()?;
    Some(
        crate::policy::people::Person {
            id,
            name: r.user_name.clone(),
        }
        .display(),
    )
}

fn show(journal: &Journal, id: &str, json: bool) -> Result<ExitCode> {
    let detail = history::find(journal, id, &crate::util::paths::state_dir())?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", super::json_text(&detail)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    // Everything below is the journal's, which imports and plugins wrote: shown inert.
    let mut field = |name: &str, value: &str| writeln!(out, "{name:<9} {}", inert(value));
    let s = &detail.summary;
    field("run", &s.run)?;
    field("status", &s.status)?;
    field("team", &s.team)?;
    if let Some(user) = person(s) {
        field("user", &user)?;
    }
    field(
        "plugin",
        &format!("{} (sha256 {})", s.plugin, detail.plugin_sha256),
    )?;
    field("workflow", &s.workflow)?;
    field("engine", &s.engine)?;
    field("started", &s.started)?;
    if let Some(ms) = s.duration_ms {
        field("duration", &format!("{:.1}s", ms as f64 / 1000.0))?;
    }
    for (k, v) in &detail.params {
        field("param", &format!("{k}={v}"))?;
    }
    if let Some(e) = &s.error {
        field("error", e)?;
    }
    let list = |ids: &[String]| {
        ids.iter()
            .map(|i| engine::containers::short(i))
            .collect::<Vec<_>>()
            .join(", ")
    };
    field(
        "created",
        &format!(
            "containers: {}; images: {}",
            list(&s.containers),
            s.images.join(", ")
        ),
    )?;
    if !s.rolled_back.is_empty() {
        writeln!(out, "rolled back  {}", inert(&list(&s.rolled_back)))?;
    }
    if let Some(t) = &s.torn_down {
        let by =
            t.by.as_ref()
                .map(|b| format!(" by {b}"))
                .unwrap_or_default();
        writeln!(
            out,
            "torn down    {}{} (removed: {})",
            inert(&t.time),
            inert(&by),
            inert(&list(&t.removed))
        )?;
    }
    writeln!(out, "\ncalls:")?;
    let mut rows = vec![["TIME", "OP", "TARGET", "DECISION", "RESULT", "DETAIL"].map(String::from)];
    rows.extend(detail.calls.iter().map(|c| {
        [
            c.time.clone(),
            c.op.clone(),
            c.target.clone(),
            match &c.rule {
                Some(rule) => format!("{} ({rule})", c.decision),
                None => c.decision.clone(),
            },
            c.result.clone(),
            c.detail.clone().unwrap_or_default(),
        ]
    }));
    for line in table(&rows) {
        writeln!(out, "  {line}")?;
    }
    Ok(ExitCode::SUCCESS)
}

fn export(journal: &Journal, since: Option<&str>) -> Result<ExitCode> {
    let since = since
        .map(|s| transfer::since(s, SystemTime::now()))
        .transpose()
        .map_err(|e| anyhow::anyhow!("--since: {e}"))?;
    let mut out = std::io::BufWriter::new(std::io::stdout());
    let written = transfer::export(journal, since.as_deref(), &mut out)?;
    eprintln!("exported {written} entries of {}", journal.shown());
    Ok(ExitCode::SUCCESS)
}

fn import(journal: &Journal, file: &Path) -> Result<ExitCode> {
    match transfer::import(journal, file)? {
        Imported::Done {
            runs,
            present,
            unreadable,
            too_long,
        } => {
            println!(
                "imported {runs} run(s) from {} into {}",
                file.display(),
                journal.shown()
            );
            if present > 0 {
                println!("{present} run(s) were in the journal already and were left as they were");
            }
            if unreadable > 0 {
                eprintln!(
                    "warning: skipped {unreadable} line(s) of {} that are not journal entries",
                    file.display()
                );
            }
            if let Some(warning) = transfer::skipped_long(file, &too_long) {
                eprintln!("warning: {warning}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Imported::Already { time } => {
            println!(
                "{} was imported into {} already (at {time}): nothing to do",
                file.display(),
                journal.shown()
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Prune the journal to `keep` if no process has in the last hour.
pub fn prune_when_due(keep: crate::journal::config::Retention, journal: &Journal) {
    if let Err(e) = retention::prune_if_due(journal, keep, SystemTime::now()) {
        eprintln!("warning: {e:#}");
    }
}

pub async fn collect_garbage(config_path: Option<&Path>, dry_run: bool) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    let journal = open_journal(&config)?;
    // Every engine: a run killed on any of them leaves its containers there.
    let mut found = Vec::new();
    let mut unreachable = false;
    for target in super::load::engine_targets(&config) {
        let engine = match engine::connect_to(&target).await {
            Ok(engine) => engine,
            Err(e) if target.name != crate::engine::config::DEFAULT_ENGINE => {
                let why = format!("{e:#}");
                eprintln!("warning: skipped engine `{}`: {}", target.name, inert(&why));
                unreachable = true;
                continue;
            }
            Err(e) => return Err(e),
        };
        found.extend(
            gc::collect(&engine, &crate::util::paths::state_dir(), &journal, dry_run).await?,
        );
    }
    // Then what expired: its runs are not dead, their time is up.
    let reaped_all = super::lifetime::reap(&config, &journal, dry_run).await?;
    let closed = if dry_run {
        Vec::new()
    } else {
        let state_dir = crate::util::paths::state_dir();
        let closed = gc::close_dead_runs(&state_dir, &journal, &found)?;
        if let Some(keep) = config.journal_retention {
            let pruned = retention::prune(&journal, keep, SystemTime::now())?;
            if pruned.runs > 0 {
                eprintln!(
                    "pruned {} run(s) that ended beyond journal_retention from {}",
                    pruned.runs,
                    journal.shown()
                );
            }
        }
        closed
    };
    if !closed.is_empty() {
        eprintln!(
            "recorded the end of {} run(s) whose process died: {}",
            closed.len(),
            closed.join(", ")
        );
    }
    let mut out = std::io::stdout().lock();
    if found.is_empty() && unreachable {
        writeln!(out, "Nothing to collect on the engines that answered.")?;
        return Ok(ExitCode::FAILURE);
    }
    if found.is_empty() {
        writeln!(out, "Nothing to collect: no containers of runs that died.")?;
        return Ok(super::lifetime::fold(ExitCode::SUCCESS, reaped_all));
    }
    let mut rows = vec![["RUN", "TEAM", "CONTAINER", "NAME", "ACTION"].map(String::from)];
    let mut failed = false;
    rows.extend(found.iter().map(|c| {
        failed |= c.error.is_some();
        let action = match (&c.error, dry_run) {
            (Some(e), _) => format!("failed: {e}"),
            (None, true) => "would remove".into(),
            (None, false) => "removed".into(),
        };
        [
            c.run.clone(),
            c.team.clone(),
            if c.service {
                format!("service {}", engine::containers::short(&c.id))
            } else {
                engine::containers::short(&c.id).to_string()
            },
            c.name.clone(),
            action,
        ]
    }));
    for line in table(&rows) {
        writeln!(out, "{line}")?;
    }
    Ok(if failed || unreachable || !reaped_all {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
