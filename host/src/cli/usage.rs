//! `dockwright usage`: what each team's environments used, from the journal.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Result;

use super::load::{load_config, open_journal};
use super::table::table;
use crate::journal::{timestamp, usage};

/// `dockwright usage [--team T] [--since AGE] [--json]`.
pub fn usage(
    config_path: Option<&Path>,
    team: Option<&str>,
    since: &str,
    json: bool,
) -> Result<ExitCode> {
    let Some(age) = crate::config::values::parse_age(since) else {
        anyhow::bail!("`--since {since}` is not an age: give one such as `30d`, `4w` or `12h`");
    };
    let config = load_config(config_path)?;
    if let Some(team) = team.filter(|t| !config.teams.contains_key(*t)) {
        let names: Vec<&str> = config.teams.keys().map(String::as_str).collect();
        let hint = crate::util::suggest::did_you_mean(team, names.iter().copied());
        anyhow::bail!(
            "no team `{team}` in the config (teams: {}).{hint}",
            names.join(", ")
        );
    }
    let journal = open_journal(&config)?;
    let now = SystemTime::now();
    let from = now.checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH);
    let rows = usage::account(&usage::runs(&journal, team, from, now)?, from, now);
    let mut out = std::io::stdout().lock();
    if json {
        let doc = serde_json::json!({
            "since": timestamp(from), "until": timestamp(now), "usage": rows,
        });
        writeln!(out, "{}", super::json_text(&doc)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        writeln!(
            out,
            "No environments since {} in {}.",
            timestamp(from),
            journal.shown()
        )?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut lines = vec![[
        "TEAM",
        "WORKFLOW",
        "ENVIRONMENTS",
        "ENV-HOURS",
        "CONTAINER-HOURS",
        "MEMORY-GIB-HOURS",
        "CPU-HOURS",
        "PEAK-CONTAINERS",
    ]
    .map(String::from)];
    lines.extend(rows.iter().map(|r| {
        [
            r.team.clone(),
            r.workflow.clone().unwrap_or_else(|| "(all)".into()),
            r.environments.to_string(),
            format!("{:.2}", r.environment_hours),
            format!("{:.2}", r.container_hours),
            format!("{:.2}", r.memory_gib_hours),
            format!("{:.2}", r.cpu_hours),
            r.peak_containers.to_string(),
        ]
    }));
    for line in table(&lines) {
        writeln!(out, "{line}")?;
    }
    writeln!(out, "since {} until {}", timestamp(from), timestamp(now))?;
    Ok(ExitCode::SUCCESS)
}
