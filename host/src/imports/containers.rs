//! Container lifecycle: create, start, stop, kill, remove, wait, inspect, list.

use std::collections::HashMap;

use bollard::query_parameters::{
    CreateContainerOptions, KillContainerOptions, ListContainersOptions, RemoveContainerOptions,
    StopContainerOptions,
};
use futures_util::StreamExt;

use super::convert;
use crate::bindings::docker::{
    ContainerInfo, ContainerSpec, ContainerSummary, DockerError, ListOptions,
};
use crate::labels;
use crate::state::HostState;

pub async fn create(state: &mut HostState, spec: ContainerSpec) -> Result<String, DockerError> {
    let run = state.run()?;
    let requested = spec
        .labels
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.as_str()));
    let labels = labels::merge(requested, &run.owner).map_err(DockerError::Denied)?;
    let body = convert::create_body(&spec, labels).map_err(DockerError::Invalid)?;
    let options = spec.name.clone().map(|name| CreateContainerOptions {
        name: Some(name),
        ..Default::default()
    });
    let created = run
        .engine
        .docker
        .create_container(options, body)
        .await
        .map_err(|e| run.engine.fail(e))?;
    run.containers.push(created.id.clone());
    Ok(created.id)
}

pub async fn start(state: &mut HostState, container: &str) -> Result<(), DockerError> {
    let container = convert::container_ref(container)?;
    let engine = &state.run()?.engine;
    let result = engine.docker.start_container(container, None).await;
    engine.ok_if_unchanged(result)
}

pub async fn stop(
    state: &mut HostState,
    container: &str,
    timeout_secs: Option<u32>,
) -> Result<(), DockerError> {
    let container = convert::container_ref(container)?;
    let engine = &state.run()?.engine;
    let options = StopContainerOptions {
        t: timeout_secs.map(|t| i32::try_from(t).unwrap_or(i32::MAX)),
        signal: None,
    };
    let result = engine.docker.stop_container(container, Some(options)).await;
    engine.ok_if_unchanged(result)
}

pub async fn kill(
    state: &mut HostState,
    container: &str,
    signal: Option<String>,
) -> Result<(), DockerError> {
    let container = convert::container_ref(container)?;
    let engine = &state.run()?.engine;
    let options = KillContainerOptions {
        signal: signal.unwrap_or_else(|| "SIGKILL".into()),
    };
    engine
        .docker
        .kill_container(container, Some(options))
        .await
        .map_err(|e| engine.fail(e))
}

pub async fn remove(
    state: &mut HostState,
    container: &str,
    force: bool,
) -> Result<(), DockerError> {
    let container = convert::container_ref(container)?;
    let engine = &state.run()?.engine;
    // Anonymous volumes go with the container: nothing a plugin cannot name is left behind.
    let options = RemoveContainerOptions {
        force,
        v: true,
        link: false,
    };
    engine
        .docker
        .remove_container(container, Some(options))
        .await
        .map_err(|e| engine.fail(e))
}

pub async fn wait(state: &mut HostState, container: &str) -> Result<i64, DockerError> {
    let container = convert::container_ref(container)?;
    let engine = &state.run()?.engine;
    let mut answers = engine.docker.wait_container(container, None);
    match answers.next().await {
        Some(Ok(answer)) => Ok(answer.status_code),
        // The client reports a non-zero exit as an error; to the plugin it is an exit code.
        Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
        Some(Err(e)) => Err(engine.fail(e)),
        None => Err(DockerError::EngineError(format!(
            "the engine ended the wait for `{container}` without an exit code"
        ))),
    }
}

pub async fn inspect(state: &mut HostState, container: &str) -> Result<ContainerInfo, DockerError> {
    let container = convert::container_ref(container)?;
    let engine = &state.run()?.engine;
    let answer = engine
        .docker
        .inspect_container(container, None)
        .await
        .map_err(|e| engine.fail(e))?;
    Ok(convert::container_info(answer))
}

pub async fn list(
    state: &mut HostState,
    options: ListOptions,
) -> Result<Vec<ContainerSummary>, DockerError> {
    let engine = &state.run()?.engine;
    let label_filters: Vec<String> = options
        .labels
        .iter()
        .map(|f| match &f.value {
            Some(v) => format!("{}={v}", f.key),
            None => f.key.clone(),
        })
        .collect();
    let filters =
        (!label_filters.is_empty()).then(|| HashMap::from([("label".into(), label_filters)]));
    let query = ListContainersOptions {
        all: options.all,
        filters,
        ..Default::default()
    };
    let found = engine
        .docker
        .list_containers(Some(query))
        .await
        .map_err(|e| engine.fail(e))?;
    Ok(found.into_iter().map(convert::container_summary).collect())
}
