//! `dockwright extend` and the reaping half of `dockwright gc`: environments' expiries
//! from the command line, for hosts without a server (a cron job or a systemd timer
//! runs `gc`).

use std::cell::RefCell;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::Result;

use super::load::{engine_target, load_config, open_journal};
use super::table::table;
use crate::engine::{self, Engine};
use crate::journal::{expiry, history, Journal};
use crate::run::config::Config;
use crate::run::expiry::{self as reaping, NotExtended, Reaper};
use crate::util::text::inert;

/// `dockwright extend RUN DURATION`.
pub fn extend(config_path: Option<&Path>, id: &str, by: &str, json: bool) -> Result<ExitCode> {
    let Some(by) = crate::config::values::parse_age(by) else {
        anyhow::bail!("`{by}` is not a duration: give one such as `30m`, `4h` or `2d`");
    };
    let config = load_config(config_path)?;
    let journal = open_journal(&config)?;
    let run = history::find(&journal, id, &crate::util::paths::state_dir())?;
    let id = run.summary.run;
    let who = super::load::user();
    match reaping::extend(
        &journal,
        &config.teams,
        &id,
        None,
        by,
        &who,
        SystemTime::now(),
    ) {
        Ok(expires) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "id": id, "expires": expires, "by": who })
                );
            } else {
                println!("run {id} now expires at {expires}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(NotExtended::Journal(e)) => Err(e),
        Err(why) => {
            eprintln!("error: cannot extend run `{id}`: {why}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The config's engines, connected as a pass first needs each.
struct CliEngines<'a> {
    config: &'a Config,
    connected: RefCell<HashMap<String, Engine>>,
}

impl reaping::Engines for CliEngines<'_> {
    async fn engine(&self, name: &str) -> Result<Engine, String> {
        if let Some(engine) = self.connected.borrow().get(name) {
            return Ok(engine.clone());
        }
        let target = engine_target(self.config, name).map_err(|e| format!("{e:#}"))?;
        let engine = engine::connect_to(&target)
            .await
            .map_err(|e| format!("{e:#}"))?;
        self.connected
            .borrow_mut()
            .insert(name.to_string(), engine.clone());
        Ok(engine)
    }
}

/// Reap what expired, warn of what expires soon (webhooks), and print what was done.
/// Returns whether everything due was reaped. A dry run only lists what is due.
pub async fn reap(config: &Config, journal: &Journal, dry_run: bool) -> Result<bool> {
    let now = SystemTime::now();
    let mut out = std::io::stdout().lock();
    if dry_run {
        let due: Vec<_> = expiry::alive(journal)?
            .into_iter()
            .filter(|a| crate::journal::parse_timestamp(&a.expires).is_some_and(|t| t <= now))
            .collect();
        for a in &due {
            writeln!(
                out,
                "run {} of team {} expired at {}: would be reaped",
                a.run, a.team, a.expires
            )?;
        }
        return Ok(true);
    }
    let reaper = Reaper {
        journal,
        state_dir: &crate::util::paths::state_dir(),
        teams: &config.teams,
    };
    let engines = CliEngines {
        config,
        connected: RefCell::new(HashMap::new()),
    };
    let pass = reaper.pass(&engines, now).await?;
    reaping::post_webhooks(&config.teams, &pass.notices).await;
    let mut rows = vec![["RUN", "TEAM", "EXPIRES", "ACTION"].map(String::from)];
    for n in &pass.notices {
        let action = match &n.removed {
            Some(removed) => format!("expired: reaped, {} removed", removed.len()),
            None => "expires soon: team told".to_string(),
        };
        rows.push([n.run.clone(), n.team.clone(), n.expires.clone(), action]);
    }
    for run in &pass.running {
        rows.push([
            run.clone(),
            String::new(),
            String::new(),
            "expired, still running: left until it ends".into(),
        ]);
    }
    for (run, why) in &pass.failed {
        rows.push([
            run.clone(),
            String::new(),
            String::new(),
            format!("expired, not reaped: {}", inert(why)),
        ]);
    }
    if rows.len() > 1 {
        for line in table(&rows) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(pass.failed.is_empty())
}

/// `gc`'s exit code with the reaping's outcome folded in.
pub fn fold(code: ExitCode, reaped_all: bool) -> ExitCode {
    if reaped_all {
        code
    } else {
        ExitCode::FAILURE
    }
}
