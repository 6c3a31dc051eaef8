//! Swarm services: create, inspect, list, scale, update the image, wait, logs,
//! remove. Each call works only on services of the run's team, and a create or a
//! scale is admitted against the team's quota as containers are (see `admission`).

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::{Service, Task};
use bollard::query_parameters::{ListTasksOptions, UpdateServiceOptions};

use super::admission::{self, Slot};
use super::observe::{engine_options, log_query, read_lines, read_log, READ_CAPS};
use super::{guard, network, ports, swarm};
use crate::contract::bindings::docker::{DockerError, LogLine, LogsOptions};
use crate::contract::bindings::services::{ServiceInfo, ServiceSpec};
use crate::engine::services::not_a_manager;
use crate::imports::state::{HostState, RunContext};
use crate::policy;
use crate::policy::labels;

/// How often a wait looks at the service again.
const POLL: Duration = Duration::from_millis(250);

fn no_swarm(run: &RunContext) -> DockerError {
    crate::engine::services::no_swarm(&run.engine)
}

/// The engine's failure as the plugin sees it, naming a missing swarm plainly.
fn fail(run: &RunContext, e: bollard::errors::Error) -> DockerError {
    if not_a_manager(&e) {
        run.engine.note_swarm_manager(false);
        no_swarm(run)
    } else {
        run.engine.fail(e)
    }
}

pub async fn create(state: &mut HostState, mut spec: ServiceSpec) -> Result<String, DockerError> {
    let run = state.run()?;
    let mut service_labels = guard::owner_labels(run, &spec.labels)?;
    policy::check_image(&run.policy, &spec.image).map_err(guard::deny)?;

    let team = admission::lock_run(run).await?;
    ports::resolve_service(run, &mut spec).await?;
    let usage = guard::usage(run, &team.pending()?, None).await?;
    policy::check_service(&run.policy, &mut spec, &usage).map_err(guard::deny)?;
    guard::platform(run).await?;
    let network = network::team_overlay(run).await.map_err(|e| match e {
        DockerError::Conflict(m) | DockerError::EngineError(m) if m.contains("swarm") => {
            no_swarm(run)
        }
        other => other,
    })?;
    let token = admission::new_token();
    service_labels.insert(labels::SLOT.to_string(), token.clone());
    let mut task_labels = run.owner.labels();
    task_labels.insert(labels::SERVICE.to_string(), spec.name.clone());
    let body = swarm::service_body(&spec, service_labels, task_labels, &network)
        .map_err(DockerError::Invalid)?;
    if let Some(mut plan) = run.mode.plan() {
        return Ok(plan.create_service(&spec.name, spec.replicas));
    }
    let reservation = team.reserve(&Slot::Replicas(token, spec.replicas))?;
    drop(team);

    let created = match run.engine.docker().await?.create_service(body, None).await {
        Ok(created) => created,
        Err(e) => {
            let err = fail(run, e);
            return Err(match err {
                DockerError::Conflict(m)
                    if m.contains("already exists") || m.contains("conflicts") =>
                {
                    name_taken(run, &spec.name).await
                }
                other => other,
            });
        }
    };
    let id = created.id.unwrap_or_default();
    run.services.push(id.clone());
    drop(reservation);
    Ok(id)
}

/// The error for a service name that is taken; another team's service is not
/// named, nor its id shown.
async fn name_taken(run: &RunContext, name: &str) -> DockerError {
    match guard::owned_service(run, name).await {
        Ok(mine) => DockerError::Conflict(format!(
            "the service name `{name}` is taken by your team's service {}: remove it, scale it, or pick another name",
            crate::engine::containers::short(mine.id.as_deref().unwrap_or_default())
        )),
        Err(_) => DockerError::Conflict(format!(
            "the service name `{name}` is taken by a service your team cannot see: pick another name"
        )),
    }
}

/// The service's tasks, as the engine lists them.
async fn tasks(run: &RunContext, service: &Service) -> Result<Vec<Task>, DockerError> {
    let id = service.id.clone().unwrap_or_default();
    let query = ListTasksOptions {
        filters: Some(HashMap::from([("service".to_string(), vec![id])])),
    };
    run.engine
        .docker()
        .await?
        .list_tasks(Some(query))
        .await
        .map_err(|e| fail(run, e))
}

pub async fn inspect(state: &mut HostState, service: &str) -> Result<ServiceInfo, DockerError> {
    let run = state.run()?;
    let found = guard::owned_service(run, service).await?;
    let tasks = tasks(run, &found).await?;
    Ok(swarm::service_info(&found, &tasks))
}

pub async fn list(state: &mut HostState) -> Result<Vec<ServiceInfo>, DockerError> {
    let run = state.run()?;
    let services = crate::engine::services::team_services(&run.engine, &run.owner.team)
        .await?
        .ok_or_else(|| no_swarm(run))?;
    if services.is_empty() {
        return Ok(Vec::new());
    }
    // One listing for the tasks of all of them.
    let ids: Vec<String> = services.iter().filter_map(|s| s.id.clone()).collect();
    let query = ListTasksOptions {
        filters: Some(HashMap::from([("service".to_string(), ids)])),
    };
    let tasks = run
        .engine
        .docker()
        .await?
        .list_tasks(Some(query))
        .await
        .map_err(|e| fail(run, e))?;
    Ok(services
        .iter()
        .map(|s| swarm::service_info(s, &tasks))
        .collect())
}

/// Send `spec` as the service's new spec, at the version it was read at: a change
/// made by someone else in between is refused by the engine rather than lost.
async fn update(
    run: &RunContext,
    found: &Service,
    spec: bollard::models::ServiceSpec,
) -> Result<(), DockerError> {
    let id = found.id.clone().unwrap_or_default();
    let version = found
        .version
        .as_ref()
        .and_then(|v| v.index)
        .and_then(|v| i32::try_from(v).ok())
        .unwrap_or_default();
    let options = UpdateServiceOptions {
        version,
        ..Default::default()
    };
    run.engine
        .docker()
        .await?
        .update_service(&id, spec, options, None)
        .await
        .map(|_| ())
        .map_err(|e| match fail(run, e) {
            DockerError::EngineError(m) if m.contains("out of sequence") => DockerError::Conflict(
                format!("the service changed while it was being updated: try again ({m})"),
            ),
            other => other,
        })
}

pub async fn scale(state: &mut HostState, service: &str, replicas: u32) -> Result<(), DockerError> {
    let run = state.run()?;
    let team = admission::lock_run(run).await?;
    let found = guard::owned_service(run, service).await?;
    let current = swarm::desired_replicas(&found);
    let usage = guard::usage(run, &team.pending()?, None).await?;
    policy::check_replicas(&run.policy, current, replicas, &usage).map_err(guard::deny)?;
    let mut spec = found.spec.clone().unwrap_or_default();
    let mode = spec.mode.get_or_insert_with(Default::default);
    mode.replicated
        .get_or_insert_with(Default::default)
        .replicas = Some(i64::from(replicas));
    // The service takes the reservation's token, so a count that sees the new
    // replicas on the service does not count the reservation too.
    if run.mode.is_plan() {
        return Ok(());
    }
    let token = admission::new_token();
    spec.labels
        .get_or_insert_with(Default::default)
        .insert(labels::SLOT.to_string(), token.clone());
    let reservation = team.reserve(&Slot::Replicas(token, replicas.saturating_sub(current)))?;
    drop(team);
    let result = update(run, &found, spec).await;
    drop(reservation);
    result
}

pub async fn update_image(
    state: &mut HostState,
    service: &str,
    image: &str,
) -> Result<(), DockerError> {
    let run = state.run()?;
    policy::check_image(&run.policy, image).map_err(guard::deny)?;
    let found = guard::owned_service(run, service).await?;
    let mut spec = found.spec.clone().unwrap_or_default();
    let task = spec.task_template.get_or_insert_with(Default::default);
    task.container_spec
        .get_or_insert_with(Default::default)
        .image = Some(image.to_string());
    if run.mode.is_plan() {
        return Ok(());
    }
    update(run, &found, spec).await
}

pub async fn wait(
    state: &mut HostState,
    service: &str,
    timeout_ms: u32,
) -> Result<ServiceInfo, DockerError> {
    let run = state.run()?;
    let found = guard::owned_service(run, service).await?;
    let before = swarm::failed_tasks(&tasks(run, &found).await?);
    let deadline = tokio::time::Instant::now() + Duration::from_millis(u64::from(timeout_ms));
    loop {
        let found = guard::owned_service(run, service).await?;
        let tasks = tasks(run, &found).await?;
        let info = swarm::service_info(&found, &tasks);
        match swarm::convergence(&found, &tasks, &before) {
            swarm::Convergence::Converged => return Ok(info),
            swarm::Convergence::Failed(why) => {
                return Err(DockerError::Conflict(format!(
                    "service `{}` does not converge: {why}",
                    info.name
                )))
            }
            swarm::Convergence::Waiting => {}
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(DockerError::Conflict(format!(
                "service `{}` did not converge within {timeout_ms} ms: {} of {} replicas run",
                info.name, info.running_replicas, info.desired_replicas
            )));
        }
        tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + POLL)).await;
    }
}

pub async fn logs(
    state: &mut HostState,
    service: &str,
    options: LogsOptions,
) -> Result<Vec<LogLine>, DockerError> {
    let run = state.run()?;
    let found = guard::owned_service(run, service).await?;
    let query = engine_options(&options)?;
    let tty = found
        .spec
        .as_ref()
        .and_then(|s| s.task_template.as_ref()?.container_spec.as_ref()?.tty)
        .unwrap_or(false);
    let id = found.id.unwrap_or_default();
    let path = format!("/services/{id}/logs{}", log_query(&query));
    match read_log(&run.engine, &path, tty).await {
        Some(read) => read,
        None => {
            let stream = run.engine.docker().await?.service_logs(&id, Some(query));
            read_lines(stream, READ_CAPS).await
        }
    }
    .map_err(|e| fail(run, e))
}

pub async fn remove(state: &mut HostState, service: &str) -> Result<(), DockerError> {
    let run = state.run()?;
    if let Some(mut plan) = run.mode.plan() {
        if let Some(id) = plan.service(service) {
            plan.remove_service(&id);
            return Ok(());
        }
    }
    let found = guard::owned_service(run, service).await?;
    if run.mode.is_plan() {
        return Ok(());
    }
    let id = found.id.unwrap_or_default();
    crate::engine::services::remove_one(&run.engine, &id)
        .await
        .map_err(DockerError::EngineError)
}
