//! Running one workflow: a fresh instance with its own run id, and when the run
//! fails (an error, a trap, a cancel) the containers it created are removed, newest
//! first, unless the user asked to keep them.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bollard::query_parameters::RemoveContainerOptions;
use serde::Serialize;

use crate::bindings::docker::DockerError;
use crate::bindings::KeyValue;
use crate::catalog::LoadedPlugin;
use crate::console::Console;
use crate::engine::Engine;
use crate::errors;
use crate::labels::Owner;
use crate::runtime::Runtime;
use crate::state::RunContext;

/// How a run is made.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub team: String,
    /// Leave what a failed run created in place, for debugging.
    pub keep_on_failure: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
}

/// What happened in a run, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run: String,
    pub plugin: String,
    pub workflow: String,
    pub team: String,
    pub status: Status,
    /// The workflow's outputs, in the order the plugin gave them.
    pub outputs: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Containers the run created, oldest first.
    pub containers: Vec<String>,
    /// Images the run built or committed; never removed by a rollback.
    pub images: Vec<String>,
    /// Containers removed by the rollback of a failed run.
    pub rolled_back: Vec<String>,
    /// Containers the rollback could not remove, with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rollback_errors: Vec<String>,
    pub duration_ms: u64,
}

/// A fresh run id: sortable by time, unique enough across processes.
pub fn new_run_id() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut h = RandomState::new().build_hasher();
    h.write_u128(now.as_nanos());
    h.write_u32(std::process::id());
    format!("{:011x}{:05x}", now.as_millis(), h.finish() & 0xf_ffff)
}

/// Team names end up in labels and container names: keep them simple.
pub fn check_team(team: &str) -> Result<(), String> {
    let ok = !team.is_empty()
        && team.len() <= 63
        && team
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "team `{team}` is not a valid name: use lowercase letters, digits, `-`, `_` and `.` (at most 63)"
        ))
    }
}

/// Run `workflow` of `plugin` with resolved params. `cancel` resolving stops the
/// run (as Ctrl-C does) and rolls it back.
#[allow(clippy::too_many_arguments)]
pub async fn run_workflow(
    runtime: &Runtime,
    plugin: &LoadedPlugin,
    workflow: &str,
    params: Vec<(String, String)>,
    engine: Engine,
    console: Arc<dyn Console>,
    options: &RunOptions,
    cancel: impl Future<Output = ()>,
) -> RunReport {
    let started = Instant::now();
    let run_id = new_run_id();
    let owner = Owner {
        team: options.team.clone(),
        run_id: run_id.clone(),
        plugin: plugin.info.name.clone(),
        plugin_sha256: plugin.sha256.clone(),
    };
    let name: Arc<str> = plugin.info.name.as_str().into();
    let mut store = runtime.store(name, console, Some(RunContext::new(engine, owner)));
    let params: Vec<KeyValue> = params
        .into_iter()
        .map(|(key, value)| KeyValue { key, value })
        .collect();

    let call = async {
        let instance = plugin.pre.instantiate_async(&mut store).await?;
        instance
            .dockwright_plugin_workflows()
            .call_run(&mut store, workflow, &params)
            .await
    };
    let outcome = tokio::select! {
        result = call => match result {
            Ok(Ok(outputs)) => Ok(outputs),
            Ok(Err(message)) => Err(format!("workflow `{workflow}` failed: {message}")),
            Err(trap) => Err(format!("plugin `{}` crashed in workflow `{workflow}`: {trap:#}", plugin.info.name)),
        },
        () = cancel => Err(format!("workflow `{workflow}` was interrupted")),
    };

    let run = store
        .data_mut()
        .run
        .take()
        .expect("the run context outlives the run");
    let mut report = RunReport {
        run: run_id,
        plugin: plugin.info.name.clone(),
        workflow: workflow.to_string(),
        team: options.team.clone(),
        status: Status::Ok,
        outputs: serde_json::Map::new(),
        error: None,
        containers: run.containers.clone(),
        images: run.images.clone(),
        rolled_back: Vec::new(),
        rollback_errors: Vec::new(),
        duration_ms: 0,
    };
    match outcome {
        Ok(outputs) => {
            for kv in outputs {
                report.outputs.insert(kv.key, kv.value.into());
            }
        }
        Err(message) => {
            report.status = Status::Failed;
            report.error = Some(message);
            if !options.keep_on_failure {
                let (removed, failed) = rollback(&run.engine, &run.containers).await;
                report.rolled_back = removed;
                report.rollback_errors = failed;
            }
        }
    }
    report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    report
}

/// How long one removal may take before the rollback moves on.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(60);

/// Remove containers newest first. Ones already gone count as removed.
pub async fn rollback(engine: &Engine, containers: &[String]) -> (Vec<String>, Vec<String>) {
    let mut removed = Vec::new();
    let mut failed = Vec::new();
    for id in containers.iter().rev() {
        let options = RemoveContainerOptions {
            force: true,
            v: true,
            link: false,
        };
        let result = tokio::time::timeout(
            REMOVE_TIMEOUT,
            engine.docker.remove_container(id, Some(options)),
        )
        .await;
        match result {
            Ok(Ok(())) => removed.push(id.clone()),
            Ok(Err(e)) => match engine.fail(e) {
                DockerError::NotFound(_) => removed.push(id.clone()),
                // Removal already under way (e.g. auto-remove): the engine finishes it.
                DockerError::Conflict(m) if m.contains("already in progress") => {
                    removed.push(id.clone())
                }
                other => failed.push(format!("{}: {}", short(id), errors::describe(&other))),
            },
            Err(_) => failed.push(format!("{}: removal timed out", short(id))),
        }
    }
    (removed, failed)
}

/// The 12-character id `docker ps` shows.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_unique_and_sortable() {
        let a = new_run_id();
        std::thread::sleep(Duration::from_millis(2));
        let b = new_run_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(a < b);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn team_names() {
        for ok in ["default", "blue-team", "a.b_c1"] {
            assert!(check_team(ok).is_ok(), "{ok}");
        }
        for bad in ["", "Blue", "a b", "a/b", &"x".repeat(64)] {
            assert!(check_team(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn short_ids() {
        assert_eq!(short("0123456789abcdef"), "0123456789ab");
        assert_eq!(short("abc"), "abc");
    }
}
