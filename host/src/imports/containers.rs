//! Container lifecycle: create, start, stop, kill, remove, wait, inspect, list.
//! Each call works only on containers of the run's team.

use std::collections::HashMap;

use bollard::query_parameters::{
    CreateContainerOptions, KillContainerOptions, ListContainersOptions, RemoveContainerOptions,
    StopContainerOptions,
};
use futures_util::StreamExt;

use super::admission::{self, Slot};
use super::{convert, guard, network, ports};
use crate::contract::bindings::docker::{
    ContainerInfo, ContainerSpec, ContainerSummary, DockerError, Healthcheck, ListOptions,
};
use crate::imports::state::{HostState, RunContext};
use crate::policy;
use crate::policy::labels;

pub async fn create(
    state: &mut HostState,
    mut spec: ContainerSpec,
    healthcheck: Option<Healthcheck>,
) -> Result<String, DockerError> {
    let run = state.run()?;
    let mut labels = guard::owner_labels(run, &spec.labels)?;
    policy::check_image(&run.policy, &spec.image).map_err(guard::deny)?;
    // The name the patterns allowed is the name the engine creates from: with its tag
    // written out, the engine cannot read it as an image id prefix, which a bare
    // name of hex digits would be to it.
    spec.image = policy::normalise_image(&spec.image);

    // Count, decide and reserve as one step for the team (see `admission`).
    let team = admission::lock_run(run).await?;
    let listing = ports::resolve(run, &mut spec).await?;
    if let Some(picked) = ports::picked_label(&spec) {
        labels.insert(labels::HOST_PORTS.to_string(), picked);
    }
    let usage = guard::usage(run, &team.pending()?, listing).await?;
    policy::check_create(&run.policy, &mut spec, &usage).map_err(guard::deny)?;
    guard::platform(run).await?;
    let network = network::team_network(run).await?;
    let token = admission::new_token();
    labels.insert(labels::SLOT.to_string(), token.clone());
    // Bad input is refused before anything is reserved or sent to the engine.
    let mut body = convert::create_body(&spec, labels, &network).map_err(DockerError::Invalid)?;
    convert::harden(
        &mut body,
        &run.policy.capabilities,
        run.policy.read_only_rootfs,
    );
    if let Some(check) = &healthcheck {
        body.healthcheck = Some(convert::health_config(check).map_err(DockerError::Invalid)?);
    }
    if run.mode.is_plan() {
        if !run.policy.run_as_root {
            planned_user(run, &spec.image).await?;
        }
        if let Some(mut plan) = run.mode.plan() {
            return Ok(plan.create_container(spec.name.as_deref(), &body));
        }
    }
    let user = run.owner.counted_user().map(String::from);
    let reservation = team.reserve(&Slot::Create(token, user))?;
    drop(team);

    let mut id = create_one(run, &spec, body.clone()).await?;
    run.containers.push(id.clone());
    if !run.policy.run_as_root {
        // The user a container runs as is known once the engine made it: its image's
        // USER, resolved in its own files. A root one is removed before it ever runs;
        // a named one is made again with the ids checked, so that files the container
        // changes later (its /etc/passwd, before a restart) change nothing.
        match effective_user(run, &id).await {
            Ok(None) => {}
            Ok(Some(pinned)) => {
                discard(run, &id).await?;
                body.user = Some(pinned);
                id = create_one(run, &spec, body).await?;
                run.containers.push(id.clone());
            }
            Err(denied) => {
                discard(run, &id).await?;
                return Err(denied);
            }
        }
    }
    drop(reservation);
    // What the container may use, for `dockwright usage`: the limits policy gave it.
    run.note = Some(format!(
        "memory={} cpus={}",
        spec.memory_bytes.unwrap_or(0),
        spec.cpus.unwrap_or(0.0)
    ));
    Ok(id)
}

/// Send one create; a name clash is worded so as not to leak another team's id.
async fn create_one(
    run: &RunContext,
    spec: &ContainerSpec,
    body: bollard::models::ContainerCreateBody,
) -> Result<String, DockerError> {
    let options = spec.name.clone().map(|name| CreateContainerOptions {
        name: Some(name),
        ..Default::default()
    });
    match run
        .engine
        .docker()
        .await?
        .create_container(options, body)
        .await
    {
        Ok(created) => Ok(created.id),
        Err(e) => {
            let err = run.engine.fail(e);
            Err(match (&err, &spec.name) {
                (DockerError::Conflict(m), Some(name)) if m.contains("already in use") => {
                    name_taken(run, name).await
                }
                _ => err,
            })
        }
    }
}

/// Remove a container the run just made and will not keep.
async fn discard(run: &mut RunContext, id: &str) -> Result<(), DockerError> {
    let options = RemoveContainerOptions {
        force: true,
        v: true,
        link: false,
    };
    run.engine
        .docker()
        .await?
        .remove_container(id, Some(options))
        .await
        .map_err(|e| run.engine.fail(e))?;
    run.containers.retain(|c| c != id);
    Ok(())
}

/// Whether container `id` would run as a user other than root, for a team that
/// may not run root containers: the user to make it again with (a named user's
/// checked ids), none when its user is sent as it is, or the denial.
async fn effective_user(run: &RunContext, id: &str) -> Result<Option<String>, DockerError> {
    let engine = &run.engine;
    let found = engine
        .docker()
        .await?
        .inspect_container(id, None)
        .await
        .map_err(|e| engine.fail(e))?;
    let user = found.config.and_then(|c| c.user).unwrap_or_default();
    let resolved = super::users::resolve(engine, id, &user).await?;
    policy::check_run_user(&run.policy, &user, &resolved.ids).map_err(guard::deny)?;
    Ok(resolved.pinned)
}

/// A plan cannot read the files of a container it did not make: it decides on the
/// image's USER where that is enough (none, or a number), and stops where it is not.
async fn planned_user(run: &RunContext, image: &str) -> Result<(), DockerError> {
    let engine = &run.engine;
    let found = engine
        .docker()
        .await?
        .inspect_image(image)
        .await
        .map_err(|e| engine.fail(e))?;
    let user = found.config.and_then(|c| c.user).unwrap_or_default();
    let numeric = policy::users::is_numeric(&user);
    if user.is_empty() || numeric {
        let resolved = policy::users::resolve(&user, None, None);
        return policy::check_run_user(&run.policy, &user, &resolved).map_err(guard::deny);
    }
    let mut plan = run.mode.plan().expect("called in a plan");
    Err(plan.stop_here(super::plan::needs_real(&format!(
        "the uid of user `{user}` of image `{image}` (read from a container's files)"
    ))))
}

/// The error for a name another container has. The engine's own message names that
/// container's id, which must not reach a plugin when the container is another
/// team's.
async fn name_taken(run: &RunContext, name: &str) -> DockerError {
    match guard::owned(run, name).await {
        Ok(mine) => DockerError::Conflict(format!(
            "the container name `{name}` is taken by your team's container {}: remove it or pick another name",
            crate::engine::containers::short(mine.id.as_deref().unwrap_or_default())
        )),
        Err(_) => DockerError::Conflict(format!(
            "the container name `{name}` is taken by a container your team cannot see: pick another name"
        )),
    }
}

pub async fn start(state: &mut HostState, container: &str) -> Result<(), DockerError> {
    let run = state.run()?;
    let (id, running) = start_target(run, container).await?;
    let mut reservation = None;
    if !running {
        let team = admission::lock_run(run).await?;
        let usage = guard::usage(run, &team.pending()?, None).await?;
        if let Err(denial) = policy::check_start(&run.policy, &usage) {
            // A container of the run was taken as stopped without asking: one that
            // another run started meanwhile counts in the usage, and is no reason to deny.
            drop(team);
            let found = guard::owned(run, &id).await?;
            if found.state.and_then(|s| s.running).unwrap_or(false) {
                return Ok(());
            }
            return Err(guard::deny(denial));
        }
        if !run.mode.is_plan() {
            reservation = Some(team.reserve(&Slot::Start(id.clone()))?);
        }
    }
    if let Some(mut plan) = run.mode.plan() {
        plan.set_running(&id, true);
        return Ok(());
    }
    let result = run.engine.docker().await?.start_container(&id, None).await;
    drop(reservation);
    run.engine.ok_if_unchanged(result)
}

/// The id of the container to start and whether it runs already. A container the run
/// created is the team's by the labels it was made with and goes by its full id, so
/// it is taken as it was made (not running) without asking the engine; any other is
/// looked up and checked.
async fn start_target(run: &RunContext, container: &str) -> Result<(String, bool), DockerError> {
    if !run.mode.is_plan() && run.containers.iter().any(|c| c == container) {
        return Ok((container.to_string(), false));
    }
    let found = guard::owned(run, container).await?;
    let running = found
        .state
        .as_ref()
        .and_then(|s| s.running)
        .unwrap_or(false);
    Ok((found.id.unwrap_or_default(), running))
}

pub async fn stop(
    state: &mut HostState,
    container: &str,
    timeout_secs: Option<u32>,
) -> Result<(), DockerError> {
    let run = state.run()?;
    let id = guard::owned_id(run, container).await?;
    let options = StopContainerOptions {
        t: timeout_secs.map(|t| i32::try_from(t).unwrap_or(i32::MAX)),
        signal: None,
    };
    if let Some(mut plan) = run.mode.plan() {
        plan.set_running(&id, false);
        return Ok(());
    }
    let result = run
        .engine
        .docker()
        .await?
        .stop_container(&id, Some(options))
        .await;
    run.engine.ok_if_unchanged(result)
}

pub async fn kill(
    state: &mut HostState,
    container: &str,
    signal: Option<String>,
) -> Result<(), DockerError> {
    let run = state.run()?;
    let id = guard::owned_id(run, container).await?;
    let options = KillContainerOptions {
        signal: signal.unwrap_or_else(|| "SIGKILL".into()),
    };
    if let Some(mut plan) = run.mode.plan() {
        plan.set_running(&id, false);
        return Ok(());
    }
    run.engine
        .docker()
        .await?
        .kill_container(&id, Some(options))
        .await
        .map_err(|e| run.engine.fail(e))
}

pub async fn remove(
    state: &mut HostState,
    container: &str,
    force: bool,
) -> Result<(), DockerError> {
    let run = state.run()?;
    let found = guard::owned(run, container).await?;
    let id = found.id.clone().unwrap_or_default();
    if let Some(mut plan) = run.mode.plan() {
        let running = found.state.and_then(|s| s.running).unwrap_or(false);
        if running && !force {
            return Err(DockerError::Conflict(format!(
                "container `{container}` is running: stop it first or remove it with force"
            )));
        }
        plan.remove_container(&id, running);
        return Ok(());
    }
    // Anonymous volumes go with the container: nothing a plugin cannot name is left behind.
    let options = RemoveContainerOptions {
        force,
        v: true,
        link: false,
    };
    run.engine
        .docker()
        .await?
        .remove_container(&id, Some(options))
        .await
        .map_err(|e| run.engine.fail(e))
}

pub async fn wait(state: &mut HostState, container: &str) -> Result<i64, DockerError> {
    let run = state.run()?;
    let id = guard::real_id(run, container).await?;
    let mut answers = run.engine.docker().await?.wait_container(&id, None);
    match answers.next().await {
        Some(Ok(answer)) => Ok(answer.status_code),
        // The client reports a non-zero exit as an error; to the plugin it is an exit code.
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(run.engine.fail(e)),
        None => Err(DockerError::EngineError(format!(
            "the engine ended the wait for `{container}` without an exit code"
        ))),
    }
}

pub async fn inspect(state: &mut HostState, container: &str) -> Result<ContainerInfo, DockerError> {
    let run = state.run()?;
    Ok(convert::container_info(guard::owned(run, container).await?))
}

pub async fn list(
    state: &mut HostState,
    options: ListOptions,
) -> Result<Vec<ContainerSummary>, DockerError> {
    let run = state.run()?;
    // The team's own containers only, whatever else the plugin filters on.
    let mut label_filters = vec![guard::team_filter(run)];
    label_filters.extend(options.labels.iter().map(|f| match &f.value {
        Some(v) => format!("{}={v}", f.key),
        None => f.key.clone(),
    }));
    let query = ListContainersOptions {
        all: options.all,
        filters: Some(HashMap::from([("label".into(), label_filters)])),
        ..Default::default()
    };
    let found = run
        .engine
        .docker()
        .await?
        .list_containers(Some(query))
        .await
        .map_err(|e| run.engine.fail(e))?;
    let mut listed: Vec<ContainerSummary> =
        found.into_iter().map(convert::container_summary).collect();
    if let Some(plan) = run.mode.plan() {
        listed.retain(|c| !plan.is_removed(&c.id));
        listed.extend(plan.listed(options.all, &options.labels));
    }
    Ok(listed)
}
