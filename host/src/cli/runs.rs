//! `dockwright runs` and `dockwright gc`: what the journal says, and collecting
//! what dead runs left.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;

use super::load::load_config;
use super::table::table;
use crate::engine;
use crate::journal::{self, gc, history, Journal};

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
}

pub fn list(path: &std::path::Path, limit: usize, json: bool) -> Result<ExitCode> {
    let (entries, skipped) = journal::read(path)?;
    let runs = history::summarize(&entries, &crate::util::paths::state_dir());
    let recent = &runs[runs.len().saturating_sub(limit)..];
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(recent)?)?;
    } else if recent.is_empty() {
        writeln!(out, "No runs in {}.", path.display())?;
    } else {
        let mut rows = vec![[
            "RUN", "STATUS", "TEAM", "ENGINE", "PLUGIN", "WORKFLOW", "STARTED", "DURATION",
            "CREATED",
        ]
        .map(String::from)];
        rows.extend(recent.iter().map(|r| {
            [
                r.run.clone(),
                r.status.clone(),
                r.team.clone(),
                r.engine.clone(),
                r.plugin.clone(),
                r.workflow.clone(),
                r.started.clone(),
                r.duration_ms
                    .map_or("-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0)),
                r.created(),
            ]
        }));
        for line in table(&rows) {
            writeln!(out, "{line}")?;
        }
    }
    if skipped > 0 {
        eprintln!(
            "warning: skipped {skipped} unreadable line(s) of {}",
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn show(path: &std::path::Path, id: &str, json: bool) -> Result<ExitCode> {
    let (entries, _) = journal::read(path)?;
    let detail = history::find(&entries, id, &crate::util::paths::state_dir())
        .map_err(anyhow::Error::msg)?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&detail)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let s = &detail.summary;
    writeln!(out, "run       {}", s.run)?;
    writeln!(out, "status    {}", s.status)?;
    writeln!(out, "team      {}", s.team)?;
    writeln!(
        out,
        "plugin    {} (sha256 {})",
        s.plugin, detail.plugin_sha256
    )?;
    writeln!(out, "workflow  {}", s.workflow)?;
    writeln!(out, "engine    {}", s.engine)?;
    writeln!(out, "started   {}", s.started)?;
    if let Some(ms) = s.duration_ms {
        writeln!(out, "duration  {:.1}s", ms as f64 / 1000.0)?;
    }
    for (k, v) in &detail.params {
        writeln!(out, "param     {k}={v}")?;
    }
    if let Some(e) = &s.error {
        writeln!(out, "error     {e}")?;
    }
    let list = |ids: &[String]| {
        ids.iter()
            .map(|i| engine::containers::short(i))
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(
        out,
        "created   containers: {}; images: {}",
        list(&s.containers),
        s.images.join(", ")
    )?;
    if !s.rolled_back.is_empty() {
        writeln!(out, "rolled back  {}", list(&s.rolled_back))?;
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

pub async fn collect_garbage(
    config_path: Option<&std::path::Path>,
    dry_run: bool,
) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    let journal_path = config
        .journal
        .clone()
        .unwrap_or_else(crate::util::paths::journal_file);
    let journal = Journal::open(&journal_path)?;
    // Every engine: a run killed on any of them leaves its containers there.
    let mut found = Vec::new();
    let mut unreachable = false;
    for target in super::load::engine_targets(&config) {
        let engine = match engine::connect_to(&target).await {
            Ok(engine) => engine,
            Err(e) if target.name != crate::policy::config::DEFAULT_ENGINE => {
                eprintln!("warning: skipped engine `{}`: {e:#}", target.name);
                unreachable = true;
                continue;
            }
            Err(e) => return Err(e),
        };
        found.extend(
            gc::collect(&engine, &crate::util::paths::state_dir(), &journal, dry_run).await?,
        );
    }
    let mut out = std::io::stdout().lock();
    if found.is_empty() && unreachable {
        writeln!(out, "Nothing to collect on the engines that answered.")?;
        return Ok(ExitCode::FAILURE);
    }
    if found.is_empty() {
        writeln!(out, "Nothing to collect: no containers of runs that died.")?;
        return Ok(ExitCode::SUCCESS);
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
    Ok(if failed || unreachable {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
