//! Translations between the contract's `services` records and the engine's Swarm
//! models. Pure, so each rule is unit-tested without a swarm.

use std::collections::HashMap;

use bollard::models::{
    EndpointPortConfig, EndpointPortConfigProtocolEnum, EndpointPortConfigPublishModeEnum,
    EndpointSpec, Limit, NetworkAttachmentConfig, Service, ServiceSpec as EngineSpec,
    ServiceSpecMode, ServiceSpecModeReplicated, ServiceSpecUpdateConfig,
    ServiceSpecUpdateConfigFailureActionEnum, ServiceSpecUpdateConfigOrderEnum, Task, TaskSpec,
    TaskSpecContainerSpec, TaskSpecLogDriver, TaskSpecPlacement, TaskSpecResources, TaskState,
};

use super::convert::{
    env_entries, key_values, memory_bytes, nano_cpus, valid_name, LOG_MAX_FILES, LOG_MAX_SIZE,
};
use crate::contract::bindings::docker::Protocol;
use crate::contract::bindings::services::{
    PublishMode, ServiceInfo, ServicePublishedPort, ServiceSpec, TaskInfo, TaskState as WitState,
};

/// The constraint every service's tasks get: Linux nodes only.
const LINUX_NODES: &str = "node.platform.os==linux";

/// Tasks shown per service besides those the swarm wants running: the most recent
/// that ended, enough to see why replicas fail without listing all of history.
const ENDED_TASKS_SHOWN: usize = 10;

/// The engine's request for a new service. `labels` go on the service, `task_labels`
/// on each task's container; the tasks join `network` (an id).
pub fn service_body(
    spec: &ServiceSpec,
    labels: HashMap<String, String>,
    task_labels: HashMap<String, String>,
    network: &str,
) -> Result<EngineSpec, String> {
    // The swarm's rule for service names, which are also DNS names on the network.
    if !valid_name(&spec.name) || spec.name.len() > 63 || spec.name.contains('.') {
        return Err(format!(
            "service name `{}` is not valid: use up to 63 letters, digits, `_` and `-`, starting with a letter or digit",
            spec.name.escape_debug()
        ));
    }
    if spec.image.trim().is_empty() {
        return Err("image is empty: name the image the service runs".into());
    }
    let nano_cpus = nano_cpus(spec.cpus)?;
    let memory = memory_bytes(spec.memory_bytes)?;
    let ports = spec
        .ports
        .iter()
        .map(|p| EndpointPortConfig {
            protocol: Some(protocol(p.protocol)),
            target_port: Some(i64::from(p.target_port)),
            published_port: p.published_port.filter(|n| *n != 0).map(i64::from),
            publish_mode: Some(mode(p.mode)),
            name: None,
        })
        .collect::<Vec<_>>();
    Ok(EngineSpec {
        name: Some(spec.name.clone()),
        labels: Some(labels),
        mode: Some(ServiceSpecMode {
            replicated: Some(ServiceSpecModeReplicated {
                replicas: Some(i64::from(spec.replicas)),
            }),
            ..Default::default()
        }),
        task_template: Some(TaskSpec {
            container_spec: Some(TaskSpecContainerSpec {
                image: Some(spec.image.clone()),
                labels: Some(task_labels),
                args: spec.cmd.clone(),
                env: Some(env_entries(&spec.env)?),
                ..Default::default()
            }),
            resources: Some(TaskSpecResources {
                limits: Some(Limit {
                    nano_cpus,
                    memory_bytes: memory,
                    pids: spec.pids_limit.map(i64::from),
                }),
                ..Default::default()
            }),
            // Only on Linux nodes, whatever the plugin asks: the manager the host
            // checked is not the node a task lands on, and a Windows node would drop
            // the limits and rules sent here (see `policy::platform`).
            placement: Some(TaskSpecPlacement {
                constraints: Some(
                    spec.constraints
                        .iter()
                        .cloned()
                        .chain([LINUX_NODES.to_string()])
                        .collect(),
                ),
                ..Default::default()
            }),
            networks: Some(vec![NetworkAttachmentConfig {
                target: Some(network.to_string()),
                aliases: None,
                driver_opts: None,
            }]),
            // Rotated logs whatever the engine's default, as for containers.
            log_driver: Some(TaskSpecLogDriver {
                name: Some("json-file".into()),
                options: Some(HashMap::from([
                    ("max-size".to_string(), LOG_MAX_SIZE.to_string()),
                    ("max-file".to_string(), LOG_MAX_FILES.to_string()),
                ])),
            }),
            ..Default::default()
        }),
        // One task at a time, the old one stopped first, so an update never runs
        // more replicas than the quota admitted; a failing update pauses, and
        // `wait-service` reports it.
        update_config: Some(ServiceSpecUpdateConfig {
            parallelism: Some(1),
            order: Some(ServiceSpecUpdateConfigOrderEnum::STOP_FIRST),
            failure_action: Some(ServiceSpecUpdateConfigFailureActionEnum::PAUSE),
            ..Default::default()
        }),
        endpoint_spec: (!ports.is_empty()).then_some(EndpointSpec {
            mode: None,
            ports: Some(ports),
        }),
        ..Default::default()
    })
}

fn protocol(p: Protocol) -> EndpointPortConfigProtocolEnum {
    match p {
        Protocol::Tcp => EndpointPortConfigProtocolEnum::TCP,
        Protocol::Udp => EndpointPortConfigProtocolEnum::UDP,
        Protocol::Sctp => EndpointPortConfigProtocolEnum::SCTP,
    }
}

fn mode(m: PublishMode) -> EndpointPortConfigPublishModeEnum {
    match m {
        PublishMode::Ingress => EndpointPortConfigPublishModeEnum::INGRESS,
        PublishMode::Host => EndpointPortConfigPublishModeEnum::HOST,
    }
}

/// The published ports of a port list the engine gave, as the contract's records.
pub fn published(ports: Option<&Vec<EndpointPortConfig>>) -> Vec<ServicePublishedPort> {
    let mut out: Vec<ServicePublishedPort> = ports
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some(ServicePublishedPort {
                target_port: u16::try_from(p.target_port?).ok()?,
                protocol: match p.protocol {
                    Some(EndpointPortConfigProtocolEnum::UDP) => Protocol::Udp,
                    Some(EndpointPortConfigProtocolEnum::SCTP) => Protocol::Sctp,
                    _ => Protocol::Tcp,
                },
                published_port: u16::try_from(p.published_port?).ok()?,
                mode: match p.publish_mode {
                    Some(EndpointPortConfigPublishModeEnum::HOST) => PublishMode::Host,
                    _ => PublishMode::Ingress,
                },
            })
        })
        .collect();
    out.dedup_by(|a, b| a.target_port == b.target_port && a.published_port == b.published_port);
    out
}

pub fn task_state(s: Option<TaskState>) -> WitState {
    match s {
        Some(TaskState::NEW) | None => WitState::New,
        Some(TaskState::ALLOCATED) => WitState::Allocated,
        Some(TaskState::PENDING) => WitState::Pending,
        Some(TaskState::ASSIGNED) => WitState::Assigned,
        Some(TaskState::ACCEPTED) => WitState::Accepted,
        Some(TaskState::PREPARING) => WitState::Preparing,
        Some(TaskState::READY) => WitState::Ready,
        Some(TaskState::STARTING) => WitState::Starting,
        Some(TaskState::RUNNING) => WitState::Running,
        Some(TaskState::COMPLETE) => WitState::Complete,
        Some(TaskState::SHUTDOWN) => WitState::Shutdown,
        Some(TaskState::FAILED) => WitState::Failed,
        Some(TaskState::REJECTED) => WitState::Rejected,
        Some(TaskState::REMOVE) => WitState::Remove,
        Some(TaskState::ORPHANED) => WitState::Orphaned,
    }
}

fn task_info(t: &Task) -> TaskInfo {
    let status = t.status.as_ref();
    TaskInfo {
        id: t.id.clone().unwrap_or_default(),
        node: t.node_id.clone().unwrap_or_default(),
        state: task_state(status.and_then(|s| s.state)),
        desired_state: task_state(t.desired_state),
        message: status.and_then(|s| s.message.clone()).unwrap_or_default(),
        error: status.and_then(|s| s.err.clone()).filter(|e| !e.is_empty()),
        container: status
            .and_then(|s| s.container_status.as_ref())
            .and_then(|c| c.container_id.clone())
            .filter(|c| !c.is_empty()),
        ports: published(
            status
                .and_then(|s| s.port_status.as_ref())
                .and_then(|p| p.ports.as_ref()),
        ),
    }
}

/// The replicas the service asks for.
pub fn desired_replicas(s: &Service) -> u32 {
    s.spec
        .as_ref()
        .and_then(|s| s.mode.as_ref())
        .and_then(|m| m.replicated.as_ref())
        .and_then(|r| r.replicas)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}

/// A service and its tasks (of this service only) as the contract shows them.
pub fn service_info(s: &Service, tasks: &[Task]) -> ServiceInfo {
    let spec = s.spec.as_ref();
    let mut mine: Vec<&Task> = tasks
        .iter()
        .filter(|t| t.service_id.is_some() && t.service_id == s.id)
        .collect();
    // Newest first: the swarm's timestamps are RFC 3339 in UTC.
    mine.sort_by(|a, b| b.created_at.cmp(&a.created_at));
    let wanted = |t: &&&Task| t.desired_state == Some(TaskState::RUNNING);
    let running = mine
        .iter()
        .filter(wanted)
        .filter(|t| t.status.as_ref().and_then(|s| s.state) == Some(TaskState::RUNNING))
        .count();
    let shown: Vec<TaskInfo> = mine
        .iter()
        .filter(wanted)
        .chain(mine.iter().filter(|t| !wanted(t)).take(ENDED_TASKS_SHOWN))
        .map(|t| task_info(t))
        .collect();
    ServiceInfo {
        id: s.id.clone().unwrap_or_default(),
        name: spec.and_then(|s| s.name.clone()).unwrap_or_default(),
        image: spec
            .and_then(|s| s.task_template.as_ref())
            .and_then(|t| t.container_spec.as_ref())
            .and_then(|c| c.image.clone())
            .unwrap_or_default(),
        desired_replicas: desired_replicas(s),
        running_replicas: u32::try_from(running).unwrap_or(u32::MAX),
        tasks: shown,
        ports: published(s.endpoint.as_ref().and_then(|e| e.ports.as_ref()))
            .into_iter()
            .filter(|p| p.mode == PublishMode::Ingress)
            .collect(),
        labels: key_values(spec.and_then(|s| s.labels.as_ref())),
        update_state: s
            .update_status
            .as_ref()
            .and_then(|u| u.state)
            .map(|state| state.to_string())
            .filter(|s| !s.is_empty()),
    }
}

/// Where waiting for a service stands.
#[derive(Debug, PartialEq, Eq)]
pub enum Convergence {
    Converged,
    Waiting,
    /// Why it will not converge without a change: the failing task's words, or the
    /// update's.
    Failed(String),
}

/// Whether the service has converged: every replica the swarm wants runs, and no
/// update is under way. A task that failed and is not among `failed_before` (the
/// failures already there when the wait began) means it is failing.
pub fn convergence(s: &Service, tasks: &[Task], failed_before: &[String]) -> Convergence {
    let update = s.update_status.as_ref();
    match update.and_then(|u| u.state) {
        Some(
            bollard::models::ServiceUpdateStatusStateEnum::PAUSED
            | bollard::models::ServiceUpdateStatusStateEnum::ROLLBACK_PAUSED,
        ) => {
            let message = update.and_then(|u| u.message.clone()).unwrap_or_default();
            return Convergence::Failed(format!("its update stopped: {message}"));
        }
        Some(bollard::models::ServiceUpdateStatusStateEnum::ROLLBACK_COMPLETED) => {
            let message = update.and_then(|u| u.message.clone()).unwrap_or_default();
            return Convergence::Failed(format!("its update was rolled back: {message}"));
        }
        _ => {}
    }
    let mine: Vec<&Task> = tasks
        .iter()
        .filter(|t| t.service_id.is_some() && t.service_id == s.id)
        .collect();
    if let Some(failed) = mine.iter().find(|t| {
        let state = t.status.as_ref().and_then(|s| s.state);
        matches!(state, Some(TaskState::FAILED | TaskState::REJECTED))
            && !failed_before.contains(t.id.as_ref().unwrap_or(&String::new()))
    }) {
        let status = failed.status.as_ref();
        let why = status
            .and_then(|s| s.err.clone())
            .filter(|e| !e.is_empty())
            .or_else(|| status.and_then(|s| s.message.clone()))
            .unwrap_or_default();
        return Convergence::Failed(format!(
            "task {} {}: {why}",
            failed.id.as_deref().map_or("", |i| &i[..i.len().min(12)]),
            task_state_word(status.and_then(|s| s.state))
        ));
    }
    let info = service_info(s, tasks);
    let updating = matches!(
        update.and_then(|u| u.state),
        Some(
            bollard::models::ServiceUpdateStatusStateEnum::UPDATING
                | bollard::models::ServiceUpdateStatusStateEnum::ROLLBACK_STARTED
        )
    );
    let wanted = mine
        .iter()
        .filter(|t| t.desired_state == Some(TaskState::RUNNING))
        .count();
    if !updating
        && info.running_replicas == info.desired_replicas
        && wanted as u32 == info.desired_replicas
    {
        Convergence::Converged
    } else {
        Convergence::Waiting
    }
}

/// The ids of the failed or rejected tasks among `tasks`.
pub fn failed_tasks(tasks: &[Task]) -> Vec<String> {
    tasks
        .iter()
        .filter(|t| {
            matches!(
                t.status.as_ref().and_then(|s| s.state),
                Some(TaskState::FAILED | TaskState::REJECTED)
            )
        })
        .filter_map(|t| t.id.clone())
        .collect()
}

fn task_state_word(s: Option<TaskState>) -> String {
    s.map_or_else(|| "new".to_string(), |s| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ServiceUpdateStatus, ServiceUpdateStatusStateEnum, TaskStatus};

    fn spec() -> ServiceSpec {
        ServiceSpec {
            name: "web".into(),
            image: "dockwright/web".into(),
            env: vec![],
            cmd: Some(vec!["httpd".into(), "-f".into()]),
            replicas: 2,
            ports: vec![crate::contract::bindings::services::ServicePort {
                target_port: 80,
                protocol: Protocol::Tcp,
                published_port: Some(30080),
                mode: PublishMode::Host,
            }],
            labels: vec![],
            memory_bytes: Some(64 << 20),
            cpus: Some(0.5),
            pids_limit: Some(64),
            constraints: vec!["node.role==manager".into()],
        }
    }

    #[test]
    fn a_service_body_carries_limits_labels_network_and_no_privileges() {
        let body = service_body(
            &spec(),
            HashMap::from([("dockwright.team".into(), "blue".into())]),
            HashMap::from([("dockwright.service".into(), "web".into())]),
            "net1",
        )
        .unwrap();
        let task = body.task_template.unwrap();
        let limits = task.resources.unwrap().limits.unwrap();
        assert_eq!(limits.memory_bytes, Some(64 << 20));
        assert_eq!(limits.nano_cpus, Some(500_000_000));
        assert_eq!(limits.pids, Some(64));
        let container = task.container_spec.unwrap();
        assert_eq!(container.labels.unwrap()["dockwright.service"], "web");
        assert_eq!(container.args.unwrap(), ["httpd", "-f"]);
        assert!(container.mounts.is_none() && container.secrets.is_none());
        assert!(container.capability_add.is_none() && container.privileges.is_none());
        assert_eq!(task.networks.unwrap()[0].target.as_deref(), Some("net1"));
        assert_eq!(body.labels.unwrap()["dockwright.team"], "blue");
        let port = &body.endpoint_spec.unwrap().ports.unwrap()[0];
        assert_eq!(port.published_port, Some(30080));
        assert_eq!(
            port.publish_mode,
            Some(EndpointPortConfigPublishModeEnum::HOST)
        );
        assert_eq!(body.mode.unwrap().replicated.unwrap().replicas, Some(2));
        // The plugin's constraint, and Linux nodes only.
        assert_eq!(
            task.placement.unwrap().constraints.unwrap(),
            ["node.role==manager", "node.platform.os==linux"]
        );
    }

    #[test]
    fn bad_service_specs_name_the_field() {
        for (change, words) in [
            (
                (|s: &mut ServiceSpec| s.name = "-web".into()) as fn(&mut ServiceSpec),
                "service name",
            ),
            (|s| s.name = "a.b".into(), "service name"),
            (|s| s.image = " ".into(), "image is empty"),
            (|s| s.cpus = Some(0.0), "cpus"),
        ] {
            let mut s = spec();
            change(&mut s);
            let err = service_body(&s, HashMap::new(), HashMap::new(), "n").unwrap_err();
            assert!(err.contains(words), "{err}");
        }
    }

    fn task(id: &str, service: &str, state: TaskState, desired: TaskState, created: &str) -> Task {
        Task {
            id: Some(id.into()),
            service_id: Some(service.into()),
            desired_state: Some(desired),
            created_at: Some(created.into()),
            status: Some(TaskStatus {
                state: Some(state),
                err: (state == TaskState::FAILED).then(|| "exit code 1".to_string()),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn service(replicas: i64) -> Service {
        Service {
            id: Some("s1".into()),
            spec: Some(EngineSpec {
                name: Some("web".into()),
                mode: Some(ServiceSpecMode {
                    replicated: Some(ServiceSpecModeReplicated {
                        replicas: Some(replicas),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn convergence_counts_running_replicas_and_sees_new_failures() {
        use TaskState::*;
        let s = service(2);
        let one = [
            task("t1", "s1", RUNNING, RUNNING, "2026-01-01T00:00:01Z"),
            task("t2", "s1", STARTING, RUNNING, "2026-01-01T00:00:02Z"),
            task("x", "other", RUNNING, RUNNING, "2026-01-01T00:00:02Z"),
        ];
        assert_eq!(convergence(&s, &one, &[]), Convergence::Waiting);
        let info = service_info(&s, &one);
        assert_eq!((info.desired_replicas, info.running_replicas), (2, 1));
        assert_eq!(info.tasks.len(), 2, "another service's task is not shown");
        let both = [
            task("t1", "s1", RUNNING, RUNNING, "2026-01-01T00:00:01Z"),
            task("t2", "s1", RUNNING, RUNNING, "2026-01-01T00:00:02Z"),
            task("t0", "s1", FAILED, SHUTDOWN, "2026-01-01T00:00:00Z"),
        ];
        // t0 failed before the wait began: history, not a failure of this wait.
        assert_eq!(
            convergence(&s, &both, &["t0".into()]),
            Convergence::Converged
        );
        match convergence(&s, &both, &[]) {
            Convergence::Failed(why) => {
                assert!(why.contains("t0") && why.contains("exit code 1"), "{why}")
            }
            other => panic!("{other:?}"),
        }
        let mut paused = service(2);
        paused.update_status = Some(ServiceUpdateStatus {
            state: Some(ServiceUpdateStatusStateEnum::PAUSED),
            message: Some("update paused due to failure".into()),
            ..Default::default()
        });
        assert!(
            matches!(convergence(&paused, &both, &["t0".into()]), Convergence::Failed(w) if w.contains("update paused"))
        );
        assert_eq!(failed_tasks(&both), ["t0"]);
    }
}
