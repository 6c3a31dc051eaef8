//! `dockwright gc`: remove the containers of runs whose process died mid-run (killed,
//! crashed, or the machine rebooted). A run is judged by its lock (see
//! [`crate::journal::liveness`]); containers of live runs, of runs that ended, and of runs this
//! machine knows nothing of are never touched. With the shared store, every replica
//! knows every run's liveness, so any of them collects what a dead one left.

use std::collections::HashMap;
use std::path::Path;

use anyhow::Result;
use bollard::query_parameters::ListContainersOptions;

use super::history;
use super::liveness::{self, Liveness};
use super::store::{self as journal, Entry, Journal};
use crate::engine::containers::remove_one;
use crate::engine::errors;
use crate::engine::Engine;
use crate::policy::labels;

/// A container (or service) of a dead run, and what became of it.
#[derive(Debug, Clone)]
pub struct Collected {
    /// Whether it is a Swarm service rather than a container.
    pub service: bool,
    pub run: String,
    pub team: String,
    pub id: String,
    pub name: String,
    /// Why removing it failed, if it did.
    pub error: Option<String>,
}

pub async fn collect(
    engine: &Engine,
    state_dir: &Path,
    journal: &Journal,
    dry_run: bool,
) -> Result<Vec<Collected>> {
    let query = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([(
            "label".to_string(),
            vec![labels::RUN.to_string()],
        )])),
        ..Default::default()
    };
    let docker = engine
        .docker()
        .await
        .map_err(|e| anyhow::anyhow!(errors::describe(&e)))?;
    let containers = docker
        .list_containers(Some(query))
        .await
        .map_err(|e| anyhow::anyhow!(errors::describe(&engine.fail(e))))?;
    let mut found = Vec::new();
    // Services first: removing one removes its task containers.
    let services = crate::engine::services::list_labelled(engine, vec![labels::RUN.to_string()])
        .await
        .map_err(|e| anyhow::anyhow!(errors::describe(&e)))?;
    for s in services {
        let spec = s.spec.unwrap_or_default();
        let labels = spec.labels.unwrap_or_default();
        let Some(run) = labels.get(labels::RUN) else {
            continue;
        };
        if liveness::of_run(journal, state_dir, run) != Liveness::Dead {
            continue;
        }
        found.push(Collected {
            service: true,
            run: run.clone(),
            team: labels.get(labels::TEAM).cloned().unwrap_or_default(),
            id: s.id.unwrap_or_default(),
            name: spec.name.unwrap_or_default(),
            error: None,
        });
    }
    for c in containers {
        let labels = c.labels.unwrap_or_default();
        let Some(run) = labels.get(labels::RUN) else {
            continue;
        };
        if labels.contains_key(labels::SERVICE) {
            continue; // A task: its service is collected, or alive.
        }
        if liveness::of_run(journal, state_dir, run) != Liveness::Dead {
            continue;
        }
        found.push(Collected {
            service: false,
            run: run.clone(),
            team: labels.get(labels::TEAM).cloned().unwrap_or_default(),
            id: c.id.unwrap_or_default(),
            name: c
                .names
                .and_then(|n| n.first().map(|n| n.trim_start_matches('/').to_string()))
                .unwrap_or_default(),
            error: None,
        });
    }
    if dry_run {
        return Ok(found);
    }
    for c in &mut found {
        let removed = if c.service {
            crate::engine::services::remove_one(engine, &c.id).await
        } else {
            remove_one(engine, &c.id).await
        };
        let outcome = match removed {
            Ok(()) => "ok".to_string(),
            Err(why) => {
                // `why` reads `<case>: <message>`; the journal keeps the case.
                let case = why
                    .split_once(": ")
                    .map_or("error", |(case, _)| case)
                    .to_string();
                c.error = Some(why);
                case
            }
        };
        journal.record(&Entry::Call {
            time: journal::now(),
            run: c.run.clone(),
            team: c.team.clone(),
            plugin: "dockwright gc".into(),
            op: if c.service {
                "remove-service"
            } else {
                "remove-container"
            }
            .into(),
            target: c.id.clone(),
            decision: "allowed".into(),
            rule: None,
            result: outcome,
            detail: Some("the run's process died".into()),
            duration_ms: 0,
        })?;
    }
    Ok(found)
}

/// Give the runs that died without an end (their lock left unlocked, their process
/// gone) the end they never wrote, `died`, once nothing of theirs is left to collect:
/// the journal then says how they ended, and retention may prune them one day.
/// Then the dead runs of `collected` with nothing left are forgotten. Call it once
/// every engine has been collected. Returns the runs closed.
pub fn close_dead_runs(
    state_dir: &Path,
    journal: &Journal,
    collected: &[Collected],
) -> Result<Vec<String>> {
    let mut closed = Vec::new();
    for run in history::unended(journal, state_dir)? {
        let left = collected
            .iter()
            .any(|c| c.run == run.run && c.error.is_some());
        // The lock alone is not enough: between creating its lock file and locking
        // it, a starting run looks dead. Its process still being there says otherwise.
        // (The shared store's holder is taken before a run starts: no such moment, and
        // its pid may be another machine's.)
        let process_alive = journal.shared().is_none()
            && run
                .pid
                .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        let liveness = liveness::of(journal, state_dir, &run.run, run.holder);
        if left || process_alive || liveness != Liveness::Dead {
            continue;
        }
        let removed: Vec<String> = collected
            .iter()
            .filter(|c| c.run == run.run && c.error.is_none())
            .map(|c| c.id.clone())
            .collect();
        journal.record(&Entry::RunEnd {
            time: journal::now(),
            run: run.run.clone(),
            team: run.team,
            plugin: run.plugin,
            workflow: run.workflow,
            status: "died".into(),
            error: Some(
                "its process died before the run ended; `dockwright gc` collected what it left"
                    .into(),
            ),
            cause: None,
            containers: run.containers,
            images: run.images,
            rolled_back: removed,
            duration_ms: 0,
        })?;
        liveness::forget(state_dir, &run.run);
        closed.push(run.run);
    }
    for c in collected {
        if collected
            .iter()
            .all(|o| o.run != c.run || o.error.is_none())
        {
            liveness::forget(state_dir, &c.run);
        }
    }
    Ok(closed)
}
