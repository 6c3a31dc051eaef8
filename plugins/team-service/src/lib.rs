//! `team-service`: a replicated web service per team on the engine's swarm, and its upkeep.
//!
//! `deploy` creates the Swarm service `<team>-web` from a web image with `TEAM=<team>` in its
//! environment, publishes its port (through the routing mesh, or in host mode on the node of
//! each replica), waits until every replica runs and returns the URL. `scale`, `update`,
//! `status` and `remove` act on that service, found by its name. The service carries the
//! plugin's own label `example.service=web`. The engine must be a Swarm manager.

use dockwright_sdk::docker::{self, DockerError, Port};
use dockwright_sdk::services::{
    self, PublishMode, ServiceInfo, ServicePort, ServicePublishedPort, ServiceSpec, TaskInfo,
    TaskState,
};
use dockwright_sdk::{
    host, info, kv, param, param_or, parse_port, required, Guest, KeyValue, Param, PluginInfo,
    Workflow,
};

const DEFAULT_IMAGE: &str = "dockwright/web";
const DEFAULT_REPLICAS: &str = "2";
const DEFAULT_PORT: &str = "80";
const DEFAULT_MODE: &str = "ingress";
/// The plugin's own label, `example.service=web`; `dockwright.*` labels belong to the host.
const SERVICE_LABEL: (&str, &str) = ("example.service", "web");
/// What the service's name adds to the team's: team `red` gets service `red-web`.
const NAME_SUFFIX: &str = "-web";
const WAIT_TIMEOUT_MS: u32 = 120_000;

struct TeamService;

impl Guest for TeamService {
    fn describe() -> PluginInfo {
        let team = || Param::required("team", "The team the service is for, such as `red`");
        PluginInfo {
            name: "team-service".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Runs a replicated web service for a team on the engine's swarm: \
                          deploy, scale, update, status and remove"
                .into(),
            workflows: vec![
                Workflow::new(
                    "deploy",
                    "Creates the team's service `<team>-web`, publishes its port and waits until \
                     every replica runs; returns its URL",
                    vec![
                        team(),
                        Param::optional("replicas", "How many replicas to run", DEFAULT_REPLICAS),
                        Param::optional("image", "The image to run", DEFAULT_IMAGE),
                        Param::optional(
                            "port",
                            "The port inside the container that the image serves on, such as \
                             80 or 80/tcp",
                            DEFAULT_PORT,
                        ),
                        Param::optional(
                            "mode",
                            "How the port is published: `ingress` (on every node, balanced over \
                             the replicas) or `host` (on the node of each replica)",
                            DEFAULT_MODE,
                        ),
                        Param {
                            name: "published".into(),
                            description: "The port to publish on; leave it out to let the host \
                                          pick one in the team's range"
                                .into(),
                            required: false,
                            default: None,
                        },
                    ],
                ),
                Workflow::new(
                    "scale",
                    "Changes how many replicas the team's service runs and waits until they do",
                    vec![
                        team(),
                        Param::required("replicas", "How many replicas to run from now on"),
                    ],
                ),
                Workflow::new(
                    "update",
                    "Moves the team's service to another image, one task at a time, and waits \
                     until every replica runs it",
                    vec![team(), Param::required("image", "The image to move to")],
                ),
                Workflow::new(
                    "status",
                    "Shows the team's service: replicas wanted and running, and its tasks",
                    vec![team()],
                ),
                Workflow::new("remove", "Removes the team's service", vec![team()]),
            ],
        }
    }

    fn run(workflow: String, params: Vec<KeyValue>) -> Result<Vec<KeyValue>, String> {
        match workflow.as_str() {
            "deploy" => deploy(&params),
            "scale" => scale(&params),
            "update" => update(&params),
            "status" => status(&params),
            "remove" => remove(&params),
            other => Err(dockwright_sdk::unknown_workflow(other, &Self::describe())),
        }
    }
}

dockwright_sdk::export!(TeamService);

/// The team param, checked: it goes into the service's name and an environment variable.
fn team(params: &[KeyValue]) -> Result<&str, String> {
    let team = required(params, "team")?.trim();
    // The swarm takes a service name only as a DNS label: at most 63 characters, letters,
    // digits, `-` and `_`, starting with a letter or digit.
    let max = 63 - NAME_SUFFIX.len();
    let valid = team.len() <= max
        && team.starts_with(|c: char| c.is_ascii_alphanumeric())
        && team
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'));
    if valid {
        Ok(team)
    } else {
        Err(format!(
            "team `{team}` is not a valid team name: use at most {max} letters, digits, `-` or \
             `_`, starting with a letter or digit (the service is named `<team>{NAME_SUFFIX}`)"
        ))
    }
}

/// The name of the team's service: `red-web`.
fn service_name(team: &str) -> String {
    format!("{team}{NAME_SUFFIX}")
}

/// Parses a number of replicas, such as `2` (0 is one).
fn parse_replicas(text: &str) -> Result<u32, String> {
    let text = text.trim();
    text.parse::<u32>().map_err(|_| {
        format!("replicas `{text}` is not a number of replicas: give a whole number, such as 2")
    })
}

/// Parses a publish mode: `ingress` or `host`.
fn parse_mode(text: &str) -> Result<PublishMode, String> {
    let text = text.trim();
    match text.to_ascii_lowercase().as_str() {
        "ingress" => Ok(PublishMode::Ingress),
        "host" => Ok(PublishMode::Host),
        _ => Err(format!(
            "mode `{text}` is not a publish mode: use `ingress` (on every node, balanced over \
             the replicas) or `host` (on the node of each replica)"
        )),
    }
}

/// Parses the published port; none (or blank) lets the host pick one.
fn parse_published(text: Option<&str>) -> Result<Option<u16>, String> {
    match text.map(str::trim) {
        None | Some("") => Ok(None),
        Some(text) => match text.parse::<u16>() {
            Ok(port) if port > 0 => Ok(Some(port)),
            _ => Err(format!(
                "published port `{text}` is not a port: give a number from 1 to 65535, or leave \
                 `published` out to let the host pick one"
            )),
        },
    }
}

/// The URL of a published port at `public_host`, the address people reach the engine by.
fn url(public_host: &str, published: u16) -> String {
    format!("http://{public_host}:{published}/")
}

/// The published port for `port` among the ports the swarm assigned.
fn published_for(ports: &[ServicePublishedPort], port: Port) -> Option<u16> {
    ports
        .iter()
        .find(|p| p.target_port == port.port && p.protocol == port.protocol)
        .map(|p| p.published_port)
}

/// The URL of the routing mesh's port for `port`.
fn ingress_url(service: &ServiceInfo, port: Port, public_host: &str) -> Option<String> {
    published_for(&service.ports, port).map(|p| url(public_host, p))
}

/// The URLs of the running tasks' host-mode ports for `port`, in the order of the tasks.
fn task_urls(tasks: &[TaskInfo], port: Port, public_host: &str) -> Vec<String> {
    tasks
        .iter()
        .filter(|t| t.state == TaskState::Running)
        .filter_map(|t| published_for(&t.ports, port))
        .map(|p| url(public_host, p))
        .collect()
}

/// The tasks as `state@node`, comma-separated.
fn task_summary(tasks: &[TaskInfo]) -> String {
    let tasks: Vec<String> = tasks
        .iter()
        .map(|t| format!("{}@{}", t.state, t.node))
        .collect();
    tasks.join(",")
}

fn deploy(params: &[KeyValue]) -> Result<Vec<KeyValue>, String> {
    let team = team(params)?;
    let name = service_name(team);
    let replicas = parse_replicas(param_or(params, "replicas", DEFAULT_REPLICAS))?;
    if replicas == 0 {
        return Err(
            "replicas is 0: deploy at least 1 replica (`scale` can take it to 0 later)".into(),
        );
    }
    let image = param_or(params, "image", DEFAULT_IMAGE).trim();
    let port = parse_port(param_or(params, "port", DEFAULT_PORT))?;
    let mode = parse_mode(param_or(params, "mode", DEFAULT_MODE))?;
    let published = parse_published(param(params, "published"))?;

    match services::inspect_service(&name) {
        Ok(_) => {
            return Err(format!(
                "team {team} has a service {name} already: run `scale` to change its replicas, \
                 or `remove` to take it down before deploying it again"
            ))
        }
        Err(DockerError::NotFound(_)) => {}
        Err(e) => {
            return Err(format!(
                "checking whether service {name} exists: {}",
                e.display()
            ))
        }
    }

    let spec = ServiceSpec {
        name: name.clone(),
        image: image.into(),
        env: vec![kv("TEAM", team)],
        cmd: None,
        replicas,
        ports: vec![ServicePort {
            target_port: port.port,
            protocol: port.protocol,
            published_port: published,
            mode,
        }],
        labels: vec![kv(SERVICE_LABEL.0, SERVICE_LABEL.1)],
        memory_bytes: None,
        cpus: None,
        pids_limit: None,
        constraints: Vec::new(),
    };
    info(&format!(
        "creating service {name} from {image} for team {team}: {replicas} replicas, port {port} \
         published in {mode} mode"
    ));
    let id = services::create_service(&spec).map_err(|e| match e {
        DockerError::NotFound(_) => format!(
            "image `{image}` is not on the engine ({}): build or pull it first, or give another \
             image with the `image` param",
            e.display()
        ),
        e => format!("creating service {name} from `{image}`: {}", e.display()),
    })?;

    info(&format!(
        "created service {name} ({}), waiting up to {} s for its {replicas} replicas to run",
        short(&id),
        WAIT_TIMEOUT_MS / 1000
    ));
    let service = wait_running(&name)?;

    let mut outputs = vec![
        kv("service", &name),
        kv("id", &id),
        kv("replicas", service.running_replicas),
    ];
    let public_host = host::public_host();
    match mode {
        PublishMode::Ingress => {
            let url = ingress_url(&service, port, &public_host).ok_or_else(|| {
                format!("service {name} runs, but the swarm reports no published port for {port}")
            })?;
            info(&format!(
                "team {team}: {name} runs {} replicas behind {url}",
                service.running_replicas
            ));
            outputs.push(kv("url", url));
        }
        PublishMode::Host => {
            let urls = task_urls(&service.tasks, port, &public_host);
            let first = urls.first().cloned().ok_or_else(|| {
                format!(
                    "service {name} runs, but none of its running tasks reports a host port for \
                     {port}"
                )
            })?;
            info(&format!(
                "team {team}: {name} runs {} replicas at {}",
                service.running_replicas,
                urls.join(" ")
            ));
            outputs.push(kv("url", first));
            outputs.push(kv("urls", urls.join(" ")));
        }
    }
    Ok(outputs)
}

fn scale(params: &[KeyValue]) -> Result<Vec<KeyValue>, String> {
    let team = team(params)?;
    let name = service_name(team);
    let replicas = parse_replicas(required(params, "replicas")?)?;

    info(&format!("scaling service {name} to {replicas} replicas"));
    services::scale_service(&name, replicas)
        .map_err(|e| service_error(team, &name, "scaling", e))?;
    let service = wait_running(&name)?;
    info(&format!(
        "service {name} runs {} replicas",
        service.running_replicas
    ));
    Ok(vec![
        kv("service", &name),
        kv("replicas", service.running_replicas),
    ])
}

fn update(params: &[KeyValue]) -> Result<Vec<KeyValue>, String> {
    let team = team(params)?;
    let name = service_name(team);
    let image = required(params, "image")?.trim();

    info(&format!(
        "moving service {name} to {image}, one task at a time"
    ));
    services::update_service_image(&name, image)
        .map_err(|e| service_error(team, &name, "updating", e))?;
    let service = wait_running(&name)?;
    info(&format!(
        "service {name} runs {} replicas of {}",
        service.running_replicas, service.image
    ));
    Ok(vec![kv("service", &name), kv("image", &service.image)])
}

fn status(params: &[KeyValue]) -> Result<Vec<KeyValue>, String> {
    let team = team(params)?;
    let name = service_name(team);

    let service = services::inspect_service(&name)
        .map_err(|e| service_error(team, &name, "inspecting", e))?;
    info(&format!(
        "service {name} ({}): {} of {} replicas running",
        service.image, service.running_replicas, service.desired_replicas
    ));
    Ok(vec![
        kv("service", &name),
        kv("desired", service.desired_replicas),
        kv("running", service.running_replicas),
        kv("tasks", task_summary(&service.tasks)),
    ])
}

fn remove(params: &[KeyValue]) -> Result<Vec<KeyValue>, String> {
    let team = team(params)?;
    let name = service_name(team);

    services::remove_service(&name).map_err(|e| service_error(team, &name, "removing", e))?;
    info(&format!("removed service {name}"));
    Ok(vec![kv("removed", &name)])
}

/// The error of a call on the team's service: one that is not there says to deploy it.
fn service_error(team: &str, name: &str, doing: &str, e: DockerError) -> String {
    match e {
        DockerError::NotFound(_) => format!(
            "team {team} has no service {name} ({}): run `deploy` first",
            e.display()
        ),
        e => format!("{doing} service {name}: {}", e.display()),
    }
}

/// Waits until every replica of the service runs; the error names the service, says what the
/// host reported and shows the service's last output.
fn wait_running(name: &str) -> Result<ServiceInfo, String> {
    services::wait_service(name, WAIT_TIMEOUT_MS).map_err(|e| {
        format!(
            "service {name} did not get all its replicas running: {}.{}",
            e.display(),
            last_output(name)
        )
    })
}

/// The first 12 characters of an id, as `docker service ls` shows it.
fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// The service's last lines of output, to explain a failure; empty when there are none.
fn last_output(name: &str) -> String {
    let options = docker::LogsOptions {
        stdout: true,
        stderr: true,
        tail: Some(10),
    };
    match services::service_logs(name, options) {
        Ok(lines) if !lines.is_empty() => {
            let text: Vec<&str> = lines.iter().map(|l| l.text.trim_end()).collect();
            format!(" Its last output:\n{}", text.join("\n"))
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dockwright_sdk::docker::Protocol;

    fn task(state: TaskState, node: &str, ports: &[u16]) -> TaskInfo {
        TaskInfo {
            id: format!("task-{node}"),
            node: node.into(),
            state,
            desired_state: TaskState::Running,
            message: String::new(),
            error: None,
            container: None,
            ports: ports
                .iter()
                .map(|&published_port| ServicePublishedPort {
                    target_port: 80,
                    protocol: Protocol::Tcp,
                    published_port,
                    mode: PublishMode::Host,
                })
                .collect(),
        }
    }

    #[test]
    fn teams() {
        assert_eq!(team(&[kv("team", " red ")]), Ok("red"));
        assert_eq!(service_name("red"), "red-web");
        assert!(team(&[kv("team", "blue_2-x")]).is_ok());
        assert!(team(&[kv("team", "a".repeat(59))]).is_ok());
        assert!(team(&[kv("team", "a".repeat(60))]).is_err());
        assert!(team(&[kv("team", "red.team")]).is_err());
        assert!(team(&[kv("team", "-red")]).is_err());
        assert!(team(&[kv("team", "red team")]).is_err());
        assert!(team(&[]).unwrap_err().contains("required"));
    }

    #[test]
    fn replicas_modes_and_ports() {
        assert_eq!(parse_replicas(" 3 "), Ok(3));
        assert_eq!(parse_replicas("0"), Ok(0));
        assert!(parse_replicas("-1").is_err());
        assert!(parse_replicas("two").is_err());
        assert_eq!(parse_mode("Host"), Ok(PublishMode::Host));
        assert_eq!(parse_mode("ingress"), Ok(PublishMode::Ingress));
        assert!(parse_mode("mesh").is_err());
        assert_eq!(parse_published(None), Ok(None));
        assert_eq!(parse_published(Some(" ")), Ok(None));
        assert_eq!(parse_published(Some("8080")), Ok(Some(8080)));
        assert!(parse_published(Some("0")).is_err());
        assert!(parse_published(Some("70000")).is_err());
    }

    #[test]
    fn urls() {
        let port = parse_port("80").unwrap();
        let tasks = [
            task(TaskState::Running, "n1", &[30001]),
            task(TaskState::Failed, "n2", &[30002]),
            task(TaskState::Running, "n3", &[30003]),
            task(TaskState::Starting, "n4", &[]),
        ];
        assert_eq!(
            task_urls(&tasks, port, "build.example.com"),
            [
                "http://build.example.com:30001/",
                "http://build.example.com:30003/"
            ]
        );
        assert!(task_urls(&tasks, parse_port("81").unwrap(), "h").is_empty());
        assert!(task_urls(&tasks, parse_port("80/udp").unwrap(), "h").is_empty());
        assert_eq!(published_for(&tasks[2].ports, port), Some(30003));
        assert_eq!(
            task_summary(&tasks),
            "running@n1,failed@n2,running@n3,starting@n4"
        );
        assert_eq!(task_summary(&[]), "");
    }
}
