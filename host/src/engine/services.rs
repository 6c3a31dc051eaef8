//! Swarm services as rollback, `gc` and admission need them: listing a team's or a
//! run's, and removing them. On an engine that is not a swarm manager there are no
//! services to find, which is not an error for these callers.

use std::collections::HashMap;
use std::time::Duration;

use bollard::errors::Error as BollardError;
use bollard::models::Service;
use bollard::query_parameters::ListServicesOptions;

use super::connect::Engine;
use super::errors;
use crate::contract::bindings::docker::DockerError;
use crate::policy::labels;

/// How long one removal may take before the rollback moves on.
const REMOVE_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether the engine said it is no swarm manager (not in a swarm, or a worker).
pub fn not_a_manager(err: &BollardError) -> bool {
    matches!(err, BollardError::DockerResponseServerError { status_code: 503, message }
        if message.contains("not a swarm manager") || message.contains("swarm mode"))
}

/// The error for an engine that is not a swarm manager, for the plugin.
pub fn no_swarm(engine: &Engine) -> DockerError {
    DockerError::Conflict(format!(
        "engine `{}` is not a Swarm manager: services need one; run `docker swarm init` on it, or run the workflow on a manager engine (--engine)",
        engine.name
    ))
}

/// The services whose labels match every `key=value` of `wanted`; none on an
/// engine that is not a swarm manager.
pub async fn list_labelled(
    engine: &Engine,
    wanted: Vec<String>,
) -> Result<Vec<Service>, DockerError> {
    let query = ListServicesOptions {
        filters: Some(HashMap::from([("label".to_string(), wanted)])),
        status: None,
    };
    Ok(list(engine, query).await?.unwrap_or_default())
}

/// The services `query` finds, or `None` on an engine that is not a swarm manager:
/// known without a request once the engine's role is (see [`super::identity`]).
async fn list(
    engine: &Engine,
    query: ListServicesOptions,
) -> Result<Option<Vec<Service>>, DockerError> {
    if !engine.is_swarm_manager().await? {
        return Ok(None);
    }
    match engine.docker().await?.list_services(Some(query)).await {
        Ok(found) => Ok(Some(found)),
        Err(e) if not_a_manager(&e) => {
            engine.note_swarm_manager(false);
            Ok(None)
        }
        Err(e) => Err(engine.fail(e)),
    }
}

/// The team's services; none on an engine that is not a swarm manager.
pub async fn of_team(engine: &Engine, team: &str) -> Result<Vec<Service>, DockerError> {
    Ok(team_services(engine, team).await?.unwrap_or_default())
}

/// The team's services, or `None` when the engine is not a swarm manager.
pub async fn team_services(
    engine: &Engine,
    team: &str,
) -> Result<Option<Vec<Service>>, DockerError> {
    let query = ListServicesOptions {
        filters: Some(HashMap::from([(
            "label".to_string(),
            vec![format!("{}={team}", labels::TEAM)],
        )])),
        status: None,
    };
    let Some(found) = list(engine, query).await? else {
        return Ok(None);
    };
    // The engine filtered already; checking again keeps a filter it ignored from
    // ever counting or showing another team's service.
    Ok(Some(
        found
            .into_iter()
            .filter(|s| {
                s.spec
                    .as_ref()
                    .and_then(|s| s.labels.as_ref())
                    .is_some_and(|l| crate::policy::owned_by(team, l))
            })
            .collect(),
    ))
}

/// Ids of the services with this run's label. A listing that fails yields none:
/// the recorded ids are still removed.
pub async fn labelled(engine: &Engine, run_id: &str) -> Vec<String> {
    list_labelled(engine, vec![format!("{}={run_id}", labels::RUN)])
        .await
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| s.id)
        .collect()
}

/// Remove services in the order given. Returns the ids removed (ones already gone
/// count) and `<short id>: why` for the rest. The swarm then stops their tasks.
pub async fn remove_all(engine: &Engine, ids: &[String]) -> (Vec<String>, Vec<String>) {
    let mut removed = Vec::new();
    let mut failed = Vec::new();
    for id in ids {
        match remove_one(engine, id).await {
            Ok(()) => removed.push(id.clone()),
            Err(why) => failed.push(format!("service {}: {why}", super::containers::short(id))),
        }
    }
    (removed, failed)
}

/// Remove one service; gone already is success.
pub async fn remove_one(engine: &Engine, id: &str) -> Result<(), String> {
    let docker = engine.docker().await.map_err(|e| errors::describe(&e))?;
    match tokio::time::timeout(REMOVE_TIMEOUT, docker.delete_service(id)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => match engine.fail(e) {
            DockerError::NotFound(_) => Ok(()),
            other => Err(errors::describe(&other)),
        },
        Err(_) => Err("removal timed out".into()),
    }
}
