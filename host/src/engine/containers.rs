//! Removing containers: what a rollback, an API teardown and `gc` all do, in one
//! place so they agree on what counts as removed.

use std::collections::HashMap;
use std::time::Duration;

use bollard::query_parameters::{ListContainersOptions, RemoveContainerOptions};

use super::connect::Engine;
use super::errors;
use crate::contract::bindings::docker::DockerError;
use crate::policy::labels;

/// How long one removal may take before the rollback moves on.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(60);

/// Remove containers in the order given, forcing running ones and their anonymous
/// volumes: what a rollback, an API teardown and `gc` all do. Returns the ids
/// removed (ones already gone count) and `<short id>: why` for the rest.
pub async fn remove_all(engine: &Engine, ids: &[String]) -> (Vec<String>, Vec<String>) {
    let mut removed = Vec::new();
    let mut failed = Vec::new();
    for id in ids {
        match remove_one(engine, id).await {
            Ok(()) => removed.push(id.clone()),
            Err(why) => failed.push(format!("{}: {why}", short(id))),
        }
    }
    (removed, failed)
}

/// Remove one container; gone already, or going, is success.
pub async fn remove_one(engine: &Engine, id: &str) -> Result<(), String> {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        link: false,
    };
    let docker = engine.docker().await.map_err(|e| errors::describe(&e))?;
    let result =
        tokio::time::timeout(REMOVE_TIMEOUT, docker.remove_container(id, Some(options))).await;
    match result {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => match engine.fail(e) {
            DockerError::NotFound(_) => Ok(()),
            // Removal already under way (e.g. auto-remove): the engine finishes it.
            DockerError::Conflict(m) if m.contains("already in progress") => Ok(()),
            other => Err(errors::describe(&other)),
        },
        Err(_) => Err("removal timed out".into()),
    }
}

/// Ids of the containers the engine holds with this run's label, but for tasks of
/// services (removing their service removes them). A listing that fails yields
/// none: the recorded ids are still removed.
pub async fn labelled(engine: &Engine, run_id: &str) -> Vec<String> {
    of_run(engine, run_id).await.unwrap_or_default()
}

/// [`labelled`], saying when the engine could not be asked: a reaper must not take
/// "no answer" for "nothing left". Newest first, as the engine lists them.
pub async fn of_run(engine: &Engine, run_id: &str) -> Result<Vec<String>, DockerError> {
    let query = ListContainersOptions {
        all: true,
        filters: Some(HashMap::from([(
            "label".to_string(),
            vec![format!("{}={run_id}", labels::RUN)],
        )])),
        ..Default::default()
    };
    let docker = engine.docker().await?;
    let found = tokio::time::timeout(REMOVE_TIMEOUT, docker.list_containers(Some(query)))
        .await
        .map_err(|_| DockerError::EngineUnavailable("the container listing timed out".into()))?
        .map_err(|e| engine.fail(e))?;
    Ok(found
        .into_iter()
        .filter(|c| {
            !c.labels
                .as_ref()
                .is_some_and(|l| l.contains_key(labels::SERVICE))
        })
        .filter_map(|c| c.id)
        .collect())
}

/// The 12-character id `docker ps` shows.
pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids() {
        assert_eq!(short("0123456789abcdef"), "0123456789ab");
        assert_eq!(short("abc"), "abc");
    }
}
