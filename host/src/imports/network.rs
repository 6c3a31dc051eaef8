//! Team networks: every container a run creates joins its team's own user-defined
//! bridge, so containers of one team reach each other by name and containers of
//! different teams cannot reach each other at all (the engine's isolation rules keep
//! user-defined bridges apart; the default bridge isolates nothing).
//!
//! A team's services join its own overlay network in the same way: its services
//! reach each other by name, and other teams' cannot reach them.
//!
//! The network is found by the host's label and used by id, never by name: a
//! network that someone else created under the name the host would use is passed
//! over, and the host picks another name.

use std::collections::HashMap;

use bollard::models::NetworkCreateRequest;
use bollard::query_parameters::ListNetworksOptions;

use super::state::RunContext;
use crate::contract::bindings::docker::DockerError;
use crate::policy::labels;

/// The team's network id, created on first use. The caller holds the team's
/// admission lock, so two runs of a team never create two networks.
pub async fn team_network(run: &mut RunContext) -> Result<String, DockerError> {
    if let Some(id) = &run.network {
        return Ok(id.clone());
    }
    let id = one_of_team(run, BRIDGE).await?;
    run.network = Some(id.clone());
    Ok(id)
}

/// The team's overlay network for services (on a swarm manager), created on
/// first use, under the team's admission lock as [`team_network`].
pub async fn team_overlay(run: &mut RunContext) -> Result<String, DockerError> {
    if let Some(id) = &run.overlay {
        return Ok(id.clone());
    }
    let id = one_of_team(run, OVERLAY).await?;
    run.overlay = Some(id.clone());
    Ok(id)
}

/// The team's network of `kind`: found by label, or made. Looked up once per run, not
/// kept for the engine across runs: the engine takes a create that names a network
/// removed since (an admin's `docker network rm`) and fails only its start, so an id
/// kept from an earlier run cannot be trusted without asking.
async fn one_of_team(run: &RunContext, kind: Kind) -> Result<String, DockerError> {
    match find(run, &kind).await? {
        Some(id) => Ok(id),
        // A plan's network is a step of the plan.
        None if run.mode.is_plan() => Ok(planned(run, &kind)),
        None => create(run, &kind).await,
    }
}

/// A kind of team network: its driver, and what its name ends with.
struct Kind {
    driver: &'static str,
    suffix: &'static str,
}

const BRIDGE: Kind = Kind {
    driver: "bridge",
    suffix: "",
};
const OVERLAY: Kind = Kind {
    driver: "overlay",
    suffix: "-services",
};

/// The oldest network of this kind labelled as this team's.
async fn find(run: &RunContext, kind: &Kind) -> Result<Option<String>, DockerError> {
    let query = ListNetworksOptions {
        filters: Some(HashMap::from([(
            "label".to_string(),
            vec![format!("{}={}", labels::NETWORK, run.owner.team)],
        )])),
    };
    let found = run
        .engine
        .docker()
        .await?
        .list_networks(Some(query))
        .await
        .map_err(|e| run.engine.fail(e))?;
    let mut ours: Vec<_> = found
        .into_iter()
        .filter(|n| n.driver.as_deref() == Some(kind.driver))
        .filter_map(|n| Some((n.created.map(|c| c.to_string()).unwrap_or_default(), n.id?)))
        .collect();
    ours.sort();
    Ok(ours.into_iter().next().map(|(_, id)| id))
}

/// The network a plan's run would create: a step of the plan, not a request.
fn planned(run: &RunContext, kind: &Kind) -> String {
    let name = format!("dockwright-{}{}", run.owner.team, kind.suffix);
    run.mode
        .plan()
        .map(|mut plan| plan.network(&name))
        .unwrap_or_default()
}

async fn create(run: &RunContext, kind: &Kind) -> Result<String, DockerError> {
    let team = &run.owner.team;
    let base = format!("dockwright-{team}{}", kind.suffix);
    let mut name = base.clone();
    for attempt in 0..4 {
        let request = NetworkCreateRequest {
            name: name.clone(),
            driver: Some(kind.driver.into()),
            // Attachable, so an admin can join a container to it to look inside;
            // plugins cannot name networks.
            attachable: (kind.driver == "overlay").then_some(true),
            labels: Some(HashMap::from([
                (labels::NETWORK.to_string(), team.clone()),
                (labels::TEAM.to_string(), team.clone()),
            ])),
            ..Default::default()
        };
        match run.engine.docker().await?.create_network(request).await {
            Ok(created) => return Ok(created.id),
            Err(e) => match run.engine.fail(e) {
                // The name is someone else's: another name, the network is found by label.
                DockerError::Conflict(_) if attempt < 3 => {
                    name = format!("{base}-{:08x}", random());
                }
                other => {
                    return Err(DockerError::EngineError(format!(
                        "cannot create the team's network `{name}`: {}",
                        crate::engine::errors::describe(&other)
                    )))
                }
            },
        }
    }
    Err(DockerError::EngineError(format!(
        "cannot create a network for team `{team}`: the names tried are taken"
    )))
}

fn random() -> u32 {
    let mut bytes = [0u8; 4];
    // A name suffix, not a secret: a failure only makes the next try collide again.
    let _ = getrandom::fill(&mut bytes);
    u32::from_le_bytes(bytes)
}
