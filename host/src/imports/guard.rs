//! The checks that need the engine before policy can decide: who owns a container,
//! and how much the team already uses.

use std::collections::HashMap;

use bollard::models::{ContainerInspectResponse, ContainerSummary, ContainerSummaryStateEnum};
use bollard::query_parameters::ListContainersOptions;

use super::admission::{self, Listed, ListedService, Pending};
use super::convert;
use crate::contract::bindings::docker::DockerError;
use crate::imports::state::RunContext;
use crate::policy::labels;
use crate::policy::{self, Denial, Usage};

/// A policy denial as the plugin sees it.
pub fn deny(denial: Denial) -> DockerError {
    DockerError::Denied(denial.to_string())
}

/// The container `reference` names, if the run's team owns it. Another team's
/// container answers exactly as one that does not exist: a plugin cannot even learn
/// that it is there.
pub async fn owned(
    run: &RunContext,
    reference: &str,
) -> Result<ContainerInspectResponse, DockerError> {
    let not_found = || DockerError::NotFound(format!("No such container: {reference}"));
    let name = convert::container_ref(reference)?;
    if let Some(plan) = run.mode.plan() {
        if let Some(simulated) = plan.container(name) {
            return Ok(simulated.clone());
        }
    }
    let found = match run
        .engine
        .docker()
        .await?
        .inspect_container(name, None)
        .await
    {
        Ok(found) => found,
        Err(e) => {
            return Err(match run.engine.fail(e) {
                DockerError::NotFound(_) => not_found(),
                other => other,
            })
        }
    };
    // A container the plan removed is gone for the rest of the plan.
    let removed = run
        .mode
        .plan()
        .is_some_and(|p| found.id.as_deref().is_some_and(|id| p.is_removed(id)));
    let labels = found.config.as_ref().and_then(|c| c.labels.as_ref());
    match labels {
        Some(labels) if policy::owned_by(&run.owner.team, labels) && !removed => Ok(found),
        _ => Err(not_found()),
    }
}

/// The full id of an owned container that is really on the engine: what the caller needs
/// (an exit code, logs, readiness) only the engine can answer. In a plan, a container
/// the plan only simulated stops the plan here.
pub async fn real_id(run: &RunContext, reference: &str) -> Result<String, DockerError> {
    real(run, reference)
        .await?
        .id
        .ok_or_else(|| DockerError::EngineError(format!("the engine gave no id for `{reference}`")))
}

/// An owned container that is really on the engine, as [`real_id`] checks it, with what
/// the engine said of it.
pub async fn real(
    run: &RunContext,
    reference: &str,
) -> Result<ContainerInspectResponse, DockerError> {
    let found = owned(run, reference).await?;
    let id = found.id.as_deref().unwrap_or_default();
    match run.mode.plan() {
        Some(mut plan) if plan.is_simulated(id) => {
            let what = format!("container `{reference}`");
            Err(plan.stop_here(super::plan::needs_real(&what)))
        }
        _ => Ok(found),
    }
}

/// The service `reference` names, if the run's team owns it; another team's answers
/// as one that does not exist.
pub async fn owned_service(
    run: &RunContext,
    reference: &str,
) -> Result<bollard::models::Service, DockerError> {
    let not_found = || DockerError::NotFound(format!("No such service: {reference}"));
    if !convert::valid_name(reference) {
        return Err(not_found());
    }
    if let Some(mut plan) = run.mode.plan() {
        if plan.service(reference).is_some() {
            let what = format!("service `{reference}`");
            return Err(plan.stop_here(super::plan::needs_real(&what)));
        }
    }
    let options = bollard::query_parameters::InspectServiceOptions {
        insert_defaults: false,
    };
    let found = match run
        .engine
        .docker()
        .await?
        .inspect_service(reference, Some(options))
        .await
    {
        Ok(found) => found,
        Err(e) if crate::engine::services::not_a_manager(&e) => {
            return Err(crate::engine::services::no_swarm(&run.engine))
        }
        Err(e) => {
            return Err(match run.engine.fail(e) {
                DockerError::NotFound(_) => not_found(),
                other => other,
            })
        }
    };
    let labels = found.spec.as_ref().and_then(|s| s.labels.as_ref());
    match labels {
        Some(labels) if policy::owned_by(&run.owner.team, labels) => Ok(found),
        _ => Err(not_found()),
    }
}

/// The labels of something the run creates: the plugin's own, with the host's
/// ownership labels. A plugin's label under `dockwright.` is denied (rule `labels`).
pub fn owner_labels(
    run: &RunContext,
    requested: &[crate::contract::bindings::KeyValue],
) -> Result<HashMap<String, String>, DockerError> {
    let requested = requested
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.as_str()));
    labels::merge(requested, &run.owner).map_err(|reason| {
        deny(Denial {
            rule: "labels",
            reason,
        })
    })
}

/// The full id of an owned container: calls go to the id, so a name reused by
/// someone else between check and call cannot redirect them.
pub async fn owned_id(run: &RunContext, reference: &str) -> Result<String, DockerError> {
    let found = owned(run, reference).await?;
    found
        .id
        .ok_or_else(|| DockerError::EngineError(format!("the engine gave no id for `{reference}`")))
}

/// The label filter that limits a listing to the run's team.
/// Whether the run's engine is one on which the team's policy holds (see
/// [`crate::policy::platform`]): asked before anything is made or run there. The
/// engine's OS is known from the info its id was read from, so this costs no request
/// on most calls.
pub async fn platform(run: &RunContext) -> Result<(), DockerError> {
    let os = run.engine.os().await?;
    let platform = policy::platform::platform_of(os.os_type.as_deref(), os.isolation.as_deref())
        .map_err(|reason| {
            deny(Denial {
                rule: "platform",
                reason: format!("engine `{}`: {reason}", run.engine.name),
            })
        })?;
    policy::check_platform(&run.policy, &run.engine.name, &platform).map_err(deny)
}

pub fn team_filter(run: &RunContext) -> String {
    format!("{}={}", labels::TEAM, run.owner.team)
}

/// How many containers the team has, and how many run, counting the creates and
/// starts other runs were admitted to and have not finished (see [`admission`]).
/// The caller holds the team's admission lock; `listing`, when given, is every
/// container on the engine listed under that lock, which holds the team's.
pub async fn usage(
    run: &RunContext,
    pending: &Pending,
    listing: Option<Vec<ContainerSummary>>,
) -> Result<Usage, DockerError> {
    let found = match listing {
        Some(every) => every
            .into_iter()
            .filter(|c| {
                c.labels
                    .as_ref()
                    .is_some_and(|l| policy::owned_by(&run.owner.team, l))
            })
            .collect(),
        None => team_containers(run).await?,
    };
    let listed: Vec<Listed> = found
        .into_iter()
        .map(|c| {
            let mut labels = c.labels.unwrap_or_default();
            Listed {
                running: matches!(c.state, Some(ContainerSummaryStateEnum::RUNNING)),
                slot: labels.remove(labels::SLOT),
                task: labels.contains_key(labels::SERVICE),
                user: labels.remove(labels::USER),
                id: c.id.unwrap_or_default(),
            }
        })
        .collect();
    // On a swarm manager the team's services count by their replicas.
    let services: Vec<ListedService> =
        crate::engine::services::of_team(&run.engine, &run.owner.team)
            .await?
            .iter()
            .map(|s| ListedService {
                replicas: super::swarm::desired_replicas(s),
                slot: s
                    .spec
                    .as_ref()
                    .and_then(|s| s.labels.as_ref())
                    .and_then(|l| l.get(labels::SLOT).cloned()),
            })
            .collect();
    let usage = admission::usage(&listed, &services, pending, run.owner.counted_user());
    // A plan counts what it made as if the engine held it.
    Ok(run.mode.plan().map_or(usage, |plan| plan.usage(usage)))
}

/// The team's containers, running or not, as the engine lists them.
async fn team_containers(run: &RunContext) -> Result<Vec<ContainerSummary>, DockerError> {
    containers(run, vec![team_filter(run)]).await
}

/// The containers on the engine, running or not, with every label of `labels` (none:
/// every container).
pub async fn containers(
    run: &RunContext,
    labels: Vec<String>,
) -> Result<Vec<ContainerSummary>, DockerError> {
    let query = ListContainersOptions {
        all: true,
        filters: (!labels.is_empty()).then(|| HashMap::from([("label".to_string(), labels)])),
        ..Default::default()
    };
    run.engine
        .docker()
        .await?
        .list_containers(Some(query))
        .await
        .map_err(|e| run.engine.fail(e))
}

/// The rule named in a denial message, as `Denial`'s display writes it.
pub fn rule_of(message: &str) -> Option<&str> {
    // Only the host's own suffix counts: a denial's reason can quote what a plugin or
    // the engine wrote, and a rule read from there would be theirs to choose (the rule
    // labels a metric series, so it must come from the host's small set of names).
    let (_, rule) = message.strip_suffix("`)")?.rsplit_once("(policy rule `")?;
    let plain = !rule.is_empty()
        && rule
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    plain.then_some(rule)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_are_read_back_from_denials() {
        let denial = Denial {
            rule: "images",
            reason: "image `x` is not allowed".into(),
        };
        assert_eq!(rule_of(&denial.to_string()), Some("images"));
        assert_eq!(rule_of("no rule here"), None);
        // A rule quoted inside the reason, not at its end, is not the host's.
        assert_eq!(
            rule_of("image `x (policy rule `evil`)` is not allowed, nor `y`"),
            None
        );
        assert_eq!(rule_of("engine said: (policy rule `Evil Rule`)"), None);
    }
}
