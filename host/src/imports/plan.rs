//! Plans (`run --plan`): a run whose reads go to the engine and whose writes do not.
//!
//! Each write host function runs every check it runs for a real run (the manifest, the
//! team's policy, ownership, the quota as the engine counts it) and stops where it would
//! send the write: there it hands the plan what it would have sent, and the plan answers
//! with a simulated result (an id, ports from the team's range) so the workflow goes on.
//! There is one code path for both, so a plan cannot drift from the checks a run makes.
//!
//! What the plan made up is remembered: an inspect of a simulated container answers from
//! here, the quota counts simulated containers, a listing shows them. A call that needs
//! the real answer about something simulated (wait for it, read its logs) stops the plan
//! at that step and says so, rather than pretending.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bollard::models::{
    ContainerConfig, ContainerCreateBody, ContainerInspectResponse, ContainerState as EngineState,
    ContainerStateStatusEnum, NetworkSettings,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::contract::bindings::docker::{
    ContainerState, ContainerSummary, DockerError, ImageSummary, LabelFilter,
};
use crate::policy::Usage;

/// A plan shared by a run (which fills it) and whoever started the run (which prints it).
pub type Shared = Arc<Mutex<Plan>>;

/// The calls that change the engine: a plan lists each, with its simulated answer.
pub const WRITES: &[&str] = &[
    "create-container",
    "start-container",
    "stop-container",
    "kill-container",
    "remove-container",
    "exec",
    "pull-image",
    "build-image",
    "commit-container",
    "create-service",
    "scale-service",
    "update-service-image",
    "remove-service",
];

/// How a planned write would end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every check passed: a real run would send it.
    WouldRun,
    /// Policy refuses it; the workflow got the denial, as in a real run.
    Denied,
    /// It fails before reaching the engine (bad input, no such container).
    Fails,
    /// The plan cannot go on past this call without a real answer.
    Stopped,
}

/// One line of a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Step {
    /// The step's position, from 1.
    pub step: usize,
    pub op: String,
    pub target: String,
    pub outcome: Outcome,
    /// The simulated answer the workflow got.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answer: Option<Value>,
    /// Why it was denied, failed or stopped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// What the host would send in place of what the workflow gave: a build's
    /// canonical Dockerfile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sends: Option<String>,
}

/// What a plan found, as `--json` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub steps: Vec<Step>,
    /// Whether the workflow ran to its end; false when the plan stopped at a step.
    pub complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

#[derive(Debug, Default)]
pub struct Plan {
    run: String,
    made: u64,
    steps: Vec<Step>,
    containers: Vec<ContainerInspectResponse>,
    /// Real containers the plan removed, with whether they ran.
    removed: HashMap<String, bool>,
    /// Images built, pulled or committed: (reference, simulated id).
    images: Vec<(String, String)>,
    /// Services created: (name, simulated id, replicas).
    services: Vec<(String, String, u32)>,
    /// Why the plan stops at the current call, once a host function found it must.
    stop: Option<String>,
    /// What the current call would send, once its host function wrote it.
    sends: Option<String>,
}

pub fn lock(plan: &Shared) -> MutexGuard<'_, Plan> {
    // Each change is one push or field write: a poisoned lock leaves nothing half-done.
    plan.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Plan {
    pub fn new(run: &str) -> Shared {
        Arc::new(Mutex::new(Plan {
            run: run.to_string(),
            ..Default::default()
        }))
    }

    /// A simulated id, 64 hex digits like the engine's, distinct within the run.
    fn new_id(&mut self) -> String {
        self.made += 1;
        crate::util::digest::sha256_hex(
            format!("dockwright plan {} {}", self.run, self.made).as_bytes(),
        )
    }

    /// Note a call and how it ended. Returns the message to stop the run with when a
    /// host function found the plan cannot go on past it.
    pub fn note<T: Serialize>(
        &mut self,
        op: &str,
        target: &str,
        result: &Result<T, DockerError>,
    ) -> Option<String> {
        let step = self.steps.len() + 1;
        if let Some(reason) = self.stop.take() {
            let message = format!("the plan stops at step {step} ({op} {target}): {reason}");
            self.steps.push(Step {
                step,
                op: op.to_string(),
                target: target.to_string(),
                outcome: Outcome::Stopped,
                answer: None,
                detail: Some(reason),
                sends: self.sends.take(),
            });
            self.stop = Some(message.clone());
            return Some(message);
        }
        let denied = matches!(result, Err(DockerError::Denied(_)));
        if !WRITES.contains(&op) && !denied {
            return None;
        }
        let (outcome, answer, detail) = match result {
            Ok(value) => (
                Outcome::WouldRun,
                serde_json::to_value(value).ok().filter(|v| !v.is_null()),
                None,
            ),
            Err(e) => {
                let (_, message) = crate::engine::errors::case_and_message(e);
                let outcome = if denied {
                    Outcome::Denied
                } else {
                    Outcome::Fails
                };
                (outcome, None, Some(message.to_string()))
            }
        };
        self.steps.push(Step {
            step,
            op: op.to_string(),
            target: target.to_string(),
            outcome,
            answer,
            detail,
            sends: self.sends.take(),
        });
        None
    }

    /// What the current call would send the engine, shown with its step.
    pub fn sends(&mut self, text: String) {
        self.sends = Some(text);
    }

    /// Stop the plan at the current call: the error is what the host function returns,
    /// and the call then ends the run with the reason (see `note`).
    pub fn stop_here(&mut self, reason: String) -> DockerError {
        self.stop = Some(reason.clone());
        DockerError::EngineError(reason)
    }

    /// Whether the plan stopped, and why.
    pub fn summary(&self) -> Summary {
        Summary {
            steps: self.steps.clone(),
            complete: self.stop.is_none(),
            stopped: self.stop.clone(),
        }
    }

    /// A network the run would create (the team's, on its first container): a step of
    /// its own, and a simulated id.
    pub fn network(&mut self, name: &str) -> String {
        self.steps.push(Step {
            step: self.steps.len() + 1,
            op: "create-network".into(),
            target: name.to_string(),
            outcome: Outcome::WouldRun,
            answer: None,
            detail: Some("the team's network, made by its first container".into()),
            sends: None,
        });
        self.new_id()
    }

    /// A container the run would create from `body`, as the engine would show it.
    pub fn create_container(&mut self, name: Option<&str>, body: &ContainerCreateBody) -> String {
        let id = self.new_id();
        let name = name.map_or_else(|| format!("planned-{}", &id[..12]), str::to_string);
        self.containers.push(ContainerInspectResponse {
            id: Some(id.clone()),
            name: Some(format!("/{name}")),
            created: Some(crate::journal::now()),
            state: Some(EngineState {
                status: Some(ContainerStateStatusEnum::CREATED),
                running: Some(false),
                ..Default::default()
            }),
            config: Some(ContainerConfig {
                image: body.image.clone(),
                labels: body.labels.clone(),
                user: body.user.clone(),
                ..Default::default()
            }),
            network_settings: Some(NetworkSettings {
                ports: body
                    .host_config
                    .as_ref()
                    .and_then(|h| h.port_bindings.clone())
                    .map(|mut ports| {
                        // The engine shows a binding to all addresses as 0.0.0.0.
                        for binding in ports.values_mut().flatten().flatten() {
                            binding.host_ip.get_or_insert_with(|| "0.0.0.0".into());
                        }
                        ports
                    }),
                ..Default::default()
            }),
            ..Default::default()
        });
        id
    }

    /// The simulated container `reference` names: by id, id prefix or name, as the
    /// engine resolves them.
    pub fn container(&self, reference: &str) -> Option<&ContainerInspectResponse> {
        let reference = reference.trim_start_matches('/');
        let id = |c: &&ContainerInspectResponse| c.id.clone().unwrap_or_default();
        let name = |c: &&ContainerInspectResponse| c.name.clone().unwrap_or_default();
        self.containers
            .iter()
            .find(|c| id(c) == reference || name(c).trim_start_matches('/') == reference)
            .or_else(|| {
                let mut by_prefix = self
                    .containers
                    .iter()
                    .filter(|c| !reference.is_empty() && id(c).starts_with(reference));
                match (by_prefix.next(), by_prefix.next()) {
                    (Some(one), None) => Some(one),
                    _ => None,
                }
            })
    }

    pub fn is_simulated(&self, id: &str) -> bool {
        self.containers.iter().any(|c| c.id.as_deref() == Some(id))
    }

    /// Whether the plan removed this real container (so it is gone for the run).
    pub fn is_removed(&self, id: &str) -> bool {
        self.removed.contains_key(id)
    }

    /// A simulated container starts or stops.
    pub fn set_running(&mut self, id: &str, running: bool) {
        if let Some(c) = self
            .containers
            .iter_mut()
            .find(|c| c.id.as_deref() == Some(id))
        {
            c.state = Some(EngineState {
                status: Some(if running {
                    ContainerStateStatusEnum::RUNNING
                } else {
                    ContainerStateStatusEnum::EXITED
                }),
                running: Some(running),
                exit_code: (!running).then_some(137),
                ..Default::default()
            });
        }
    }

    /// A container the plan removes: a simulated one is forgotten, a real one is gone
    /// for the rest of the run.
    pub fn remove_container(&mut self, id: &str, was_running: bool) {
        let before = self.containers.len();
        self.containers.retain(|c| c.id.as_deref() != Some(id));
        if self.containers.len() == before {
            self.removed.insert(id.to_string(), was_running);
        }
    }

    /// The simulated containers a listing with these options shows.
    pub fn listed(&self, all: bool, filters: &[LabelFilter]) -> Vec<ContainerSummary> {
        self.containers
            .iter()
            .map(|c| super::convert::container_info(c.clone()))
            .filter(|c| all || c.state == ContainerState::Running)
            .filter(|c| {
                filters.iter().all(|f| {
                    c.labels.iter().any(|kv| {
                        kv.key == f.key && f.value.as_ref().is_none_or(|v| *v == kv.value)
                    })
                })
            })
            .map(|c| ContainerSummary {
                status: format!("{} (planned)", super::convert::state_name(c.state)),
                id: c.id,
                name: c.name,
                image: c.image,
                state: c.state,
                created: 0,
                ip_address: None,
                ports: c.ports,
                labels: c.labels,
            })
            .collect()
    }

    /// The host ports simulated containers hold, so no two get the same one.
    pub fn ports(&self) -> Vec<u16> {
        self.containers
            .iter()
            .flat_map(|c| {
                super::convert::published_ports(
                    c.network_settings.as_ref().and_then(|n| n.ports.as_ref()),
                )
            })
            .map(|p| p.host_port)
            .collect()
    }

    /// The team's usage as a real run would find it here: the engine's count, with the
    /// containers and replicas the plan made and without the ones it removed.
    pub fn usage(&self, engine: Usage) -> Usage {
        let running = |c: &&ContainerInspectResponse| {
            c.state.as_ref().and_then(|s| s.running).unwrap_or(false)
        };
        let made = self.containers.len() as u32;
        let made_running = self.containers.iter().filter(running).count() as u32;
        let replicas: u32 = self.services.iter().map(|(_, _, n)| *n).sum();
        let gone = self.removed.len() as u32;
        let gone_running = self.removed.values().filter(|r| **r).count() as u32;
        Usage {
            containers: (engine.containers + made + replicas).saturating_sub(gone),
            running: (engine.running + made_running + replicas).saturating_sub(gone_running),
            // What the plan made is the run's person's.
            mine: engine.mine + made,
        }
    }

    /// An image the run would build, pull or commit under `reference`; its simulated id.
    pub fn image(&mut self, reference: &str) -> String {
        let id = format!("sha256:{}", self.new_id());
        self.images.push((reference.to_string(), id.clone()));
        id
    }

    /// Whether `reference` names an image only this plan made.
    pub fn is_simulated_image(&self, reference: &str) -> bool {
        let with_tag = |r: &str| {
            let (repo, tag) = super::convert::split_reference(r);
            format!("{repo}:{tag}")
        };
        let wanted = with_tag(reference);
        self.images
            .iter()
            .any(|(r, id)| with_tag(r) == wanted || id == reference)
    }

    /// The images the plan made, as a listing shows them.
    pub fn listed_images(&self) -> Vec<ImageSummary> {
        self.images
            .iter()
            .map(|(reference, id)| ImageSummary {
                id: id.clone(),
                repo_tags: vec![reference.clone()],
                created: 0,
                size: 0,
            })
            .collect()
    }

    /// A service the run would create; its simulated id.
    pub fn create_service(&mut self, name: &str, replicas: u32) -> String {
        let id = self.new_id();
        self.services.push((name.to_string(), id.clone(), replicas));
        id
    }

    /// The simulated service `reference` names (by id, id prefix or name).
    pub fn service(&self, reference: &str) -> Option<String> {
        self.services
            .iter()
            .find(|(name, id, _)| {
                name == reference || (!reference.is_empty() && id.starts_with(reference))
            })
            .map(|(_, id, _)| id.clone())
    }

    pub fn remove_service(&mut self, id: &str) {
        self.services.retain(|(_, sid, _)| sid != id);
    }
}

/// Why a plan cannot answer a call about something it only simulated.
pub fn needs_real(what: &str) -> String {
    format!(
        "{what} is one this plan only simulated, so only a real run can answer this call; what the workflow does after it is not planned"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{HostConfig, PortBinding};

    fn body(labels: &[(&str, &str)], port: Option<u16>) -> ContainerCreateBody {
        let bindings = port.map(|p| {
            HashMap::from([(
                "80/tcp".to_string(),
                Some(vec![PortBinding {
                    host_ip: None,
                    host_port: Some(p.to_string()),
                }]),
            )])
        });
        ContainerCreateBody {
            image: Some("web:1".into()),
            labels: Some(
                labels
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            host_config: Some(HostConfig {
                port_bindings: bindings,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn simulated_containers_are_found_by_id_prefix_and_name() {
        let plan = Plan::new("r1");
        let mut plan = lock(&plan);
        let a = plan.create_container(Some("web"), &body(&[], Some(30001)));
        let b = plan.create_container(None, &body(&[], None));
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(
            plan.container("web").unwrap().id.as_deref(),
            Some(a.as_str())
        );
        assert_eq!(
            plan.container("/web").unwrap().id.as_deref(),
            Some(a.as_str())
        );
        assert_eq!(
            plan.container(&a[..12]).unwrap().id.as_deref(),
            Some(a.as_str())
        );
        assert!(plan.container("nope").is_none());
        assert!(plan.container("").is_none());
        assert_eq!(plan.ports(), vec![30001]);
        let info = super::super::convert::container_info(plan.container(&b).unwrap().clone());
        assert_eq!(info.state, ContainerState::Created);
        assert!(info.name.starts_with("planned-"));
    }

    #[test]
    fn usage_counts_what_the_plan_made_and_removed() {
        let plan = Plan::new("r1");
        let mut plan = lock(&plan);
        let engine = Usage {
            containers: 3,
            running: 2,
            mine: 0,
        };
        let a = plan.create_container(None, &body(&[], None));
        plan.set_running(&a, true);
        plan.create_container(None, &body(&[], None));
        plan.remove_container("real1", true);
        plan.create_service("svc", 2);
        assert_eq!(
            plan.usage(engine),
            Usage {
                containers: 3 + 2 + 2 - 1,
                running: 2 + 1 + 2 - 1,
                mine: 2,
            }
        );
        // Removing a simulated one forgets it; the real one stays removed.
        plan.remove_container(&a, true);
        assert!(!plan.is_simulated(&a));
        assert!(plan.is_removed("real1"));
    }

    #[test]
    fn listings_filter_simulated_containers_like_the_engine() {
        let plan = Plan::new("r1");
        let mut plan = lock(&plan);
        let a = plan.create_container(None, &body(&[("tier", "web")], None));
        plan.create_container(None, &body(&[("tier", "db")], None));
        let filter = |key: &str, value: Option<&str>| LabelFilter {
            key: key.into(),
            value: value.map(String::from),
        };
        assert_eq!(plan.listed(true, &[]).len(), 2);
        assert_eq!(plan.listed(false, &[]).len(), 0);
        plan.set_running(&a, true);
        let web = plan.listed(false, &[filter("tier", Some("web"))]);
        assert_eq!(web.len(), 1);
        assert_eq!(web[0].id, a);
        assert_eq!(plan.listed(true, &[filter("tier", None)]).len(), 2);
        assert!(plan
            .listed(true, &[filter("tier", Some("cache"))])
            .is_empty());
    }

    #[test]
    fn writes_and_denials_are_steps_and_a_stop_ends_the_plan() {
        let plan = Plan::new("r1");
        let mut plan = lock(&plan);
        let ok: Result<String, DockerError> = Ok("abc".into());
        assert!(plan.note("create-container", "web", &ok).is_none());
        // Reads are not steps, unless denied.
        assert!(plan.note("inspect-container", "web", &ok).is_none());
        let denied: Result<(), DockerError> =
            Err(DockerError::Denied("no (policy rule `images`)".into()));
        assert!(plan.note("list-images", "images", &denied).is_none());
        let failed: Result<(), DockerError> =
            Err(DockerError::NotFound("No such container: x".into()));
        assert!(plan.note("start-container", "x", &failed).is_none());
        let err = plan.stop_here(needs_real("container abc"));
        let stop = plan.note::<()>("wait-ready", "abc", &Err(err)).unwrap();
        assert!(
            stop.starts_with("the plan stops at step 4 (wait-ready abc)"),
            "{stop}"
        );
        let summary = plan.summary();
        let outcomes: Vec<_> = summary
            .steps
            .iter()
            .map(|s| (s.op.as_str(), s.outcome))
            .collect();
        assert_eq!(
            outcomes,
            [
                ("create-container", Outcome::WouldRun),
                ("list-images", Outcome::Denied),
                ("start-container", Outcome::Fails),
                ("wait-ready", Outcome::Stopped),
            ]
        );
        assert_eq!(summary.steps[0].answer, Some(Value::from("abc")));
        assert!(!summary.complete);
    }

    #[test]
    fn simulated_images_are_known_by_reference_and_id() {
        let plan = Plan::new("r1");
        let mut plan = lock(&plan);
        let id = plan.image("team/web");
        assert!(id.starts_with("sha256:"));
        assert!(plan.is_simulated_image("team/web:latest"));
        assert!(plan.is_simulated_image("team/web"));
        assert!(plan.is_simulated_image(&id));
        assert!(!plan.is_simulated_image("team/web:2"));
        assert_eq!(plan.listed_images()[0].repo_tags, ["team/web"]);
    }
}
