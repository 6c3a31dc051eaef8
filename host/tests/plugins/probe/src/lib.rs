//! `probe`: a test plugin that drives every `docker` and `services` import (and `host::log`)
//! of the `dockwright:plugin` world through one workflow each (the `services` ones are named
//! `service-*`).
//!
//! Every param is a string; `run` turns the params into the import's arguments and the result
//! into key-values. A failed Docker call comes back as `Err("<case>: <message>")`, where case is
//! the `docker-error` case name (`not-found`, `conflict`, `denied`, `invalid`,
//! `engine-unavailable`, `engine-error`), so tests can assert which one the host returned.

wit_bindgen::generate!({
    world: "plugin",
    path: "../../../../wit",
});

use dockwright::plugin::docker::{
    self, BuildContext, BuildSpec, CommitSpec, ContainerSpec, ContainerState, ContextFile,
    CreateOptions, DockerError, ExecSpec, Healthcheck, LabelFilter, ListOptions, LogsOptions,
    OutputStream, Port, PortBinding, Protocol, PublishedPort, Readiness, RestartPolicy,
};
use dockwright::plugin::host::{self, Level};
use dockwright::plugin::services::{
    self, PublishMode, ServiceInfo, ServicePort, ServicePublishedPort, ServiceSpec, TaskState,
};
use dockwright::plugin::types::KeyValue;
use exports::dockwright::plugin::workflows::{Guest, Param, PluginInfo, Workflow};

struct Probe;

export!(Probe);

// ---------------------------------------------------------------------------------------------
// The workflows and their params.

struct ParamDef {
    name: &'static str,
    description: &'static str,
    required: bool,
    default: Option<&'static str>,
}

const fn req(name: &'static str, description: &'static str) -> ParamDef {
    ParamDef {
        name,
        description,
        required: true,
        default: None,
    }
}

const fn opt(name: &'static str, description: &'static str) -> ParamDef {
    ParamDef {
        name,
        description,
        required: false,
        default: None,
    }
}

const fn def(name: &'static str, description: &'static str, default: &'static str) -> ParamDef {
    ParamDef {
        name,
        description,
        required: false,
        default: Some(default),
    }
}

type Outputs = Vec<KeyValue>;
type Handler = fn(&Params) -> Result<Outputs, String>;

struct WorkflowDef {
    name: &'static str,
    description: &'static str,
    params: &'static [ParamDef],
    handler: Handler,
}

const CONTAINER: ParamDef = req("container", "Container id, id prefix or name");
const SERVICE: ParamDef = req("service", "Service id, id prefix or name");

const WORKFLOWS: &[WorkflowDef] = &[
    WorkflowDef {
        name: "create",
        description: "docker::create-container; outputs id",
        params: &[
            req("image", "Image reference"),
            opt("name", "Container name"),
            opt("env", "Environment: K=V,K2=V2"),
            opt("cmd", "Command, split on spaces"),
            opt("entrypoint", "Entrypoint, split on spaces"),
            opt("workdir", "Working directory"),
            opt("expose", "Exposed ports: 80/tcp,53/udp"),
            def(
                "publish-all",
                "Publish every exposed port: true|false",
                "false",
            ),
            opt(
                "bind",
                "Port bindings: 80/tcp=8080, 80/tcp= (any host port), 80/tcp=127.0.0.1:8080",
            ),
            opt("labels", "Labels: k=v,k2=v2"),
            opt("memory", "Memory limit in bytes"),
            opt("cpus", "CPUs, such as 0.5"),
            opt("pids", "Pids limit"),
            opt(
                "restart",
                "Restart policy: no|always|unless-stopped|on-failure[:N]",
            ),
            opt(
                "healthcheck",
                "Healthcheck command, split on spaces (create-container-with, every 1 s)",
            ),
        ],
        handler: create,
    },
    WorkflowDef {
        name: "start",
        description: "docker::start-container; outputs ok",
        params: &[CONTAINER],
        handler: start,
    },
    WorkflowDef {
        name: "stop",
        description: "docker::stop-container; outputs ok",
        params: &[
            CONTAINER,
            opt("timeout", "Seconds before the engine kills it"),
        ],
        handler: stop,
    },
    WorkflowDef {
        name: "kill",
        description: "docker::kill-container; outputs ok",
        params: &[
            CONTAINER,
            opt("signal", "Signal, such as SIGTERM (default SIGKILL)"),
        ],
        handler: kill,
    },
    WorkflowDef {
        name: "remove",
        description: "docker::remove-container; outputs ok",
        params: &[CONTAINER, def("force", "Remove a running one too", "false")],
        handler: remove,
    },
    WorkflowDef {
        name: "wait",
        description: "docker::wait-container; outputs exit-code",
        params: &[CONTAINER],
        handler: wait,
    },
    WorkflowDef {
        name: "inspect",
        description: "docker::inspect-container; outputs id, name, image, state, exit-code, \
                      created, ip, ports, labels",
        params: &[CONTAINER],
        handler: inspect,
    },
    WorkflowDef {
        name: "list",
        description: "docker::list-containers; outputs count, names, ids",
        params: &[
            def("all", "Include stopped containers", "false"),
            opt("label", "Label filters: k=v or k, comma-separated"),
        ],
        handler: list,
    },
    WorkflowDef {
        name: "logs",
        description: "docker::container-logs; outputs stdout, stderr, lines",
        params: &[
            CONTAINER,
            def("stdout", "Include stdout", "true"),
            def("stderr", "Include stderr", "true"),
            opt("tail", "Only the last this many lines"),
        ],
        handler: logs,
    },
    WorkflowDef {
        name: "exec",
        description: "docker::exec; outputs exit-code, stdout, stderr",
        params: &[
            CONTAINER,
            req("cmd", "Command, split on spaces"),
            opt("env", "Environment: K=V,K2=V2"),
            opt("user", "User inside the container"),
            opt("workdir", "Working directory"),
        ],
        handler: exec,
    },
    WorkflowDef {
        name: "top",
        description: "docker::top; outputs titles, count, commands",
        params: &[CONTAINER],
        handler: top,
    },
    WorkflowDef {
        name: "stats",
        description: "docker::stats; outputs cpu-percent, memory-usage, memory-limit, pids, \
                      networks",
        params: &[CONTAINER],
        handler: stats,
    },
    WorkflowDef {
        name: "wait-ready",
        description: "docker::wait-ready on a port or a log line; outputs ok",
        params: &[
            CONTAINER,
            opt(
                "port",
                "Container port whose published port must accept TCP: 80/tcp",
            ),
            opt("log", "Text a log line must contain"),
            def(
                "timeout-ms",
                "Give up after this many milliseconds",
                "10000",
            ),
        ],
        handler: wait_ready,
    },
    WorkflowDef {
        name: "images",
        description: "docker::list-images; outputs count, tags",
        params: &[],
        handler: images,
    },
    WorkflowDef {
        name: "pull",
        description: "docker::pull-image; outputs id",
        params: &[req("image", "Image reference")],
        handler: pull,
    },
    WorkflowDef {
        name: "build",
        description: "docker::build-image from a directory or inline files; outputs id",
        params: &[
            req("tag", "Repository and tag of the image"),
            opt("dir", "Context directory on the host"),
            opt("dockerfile", "Dockerfile text (inline context)"),
            opt("file-name", "Path of one more inline context file"),
            opt("file-content", "Text of that file"),
            opt(
                "dockerfile-path",
                "Path of the Dockerfile inside the context",
            ),
            opt("build-args", "Build args: K=V,K2=V2"),
            opt("labels", "Image labels: k=v,k2=v2"),
            def("no-cache", "Build without the cache", "false"),
        ],
        handler: build,
    },
    WorkflowDef {
        name: "commit",
        description: "docker::commit-container; outputs id",
        params: &[
            CONTAINER,
            req("repo", "Repository of the new image"),
            opt("tag", "Tag (default latest)"),
            opt("message", "Commit message"),
            opt("author", "Author"),
            opt("changes", "Dockerfile instructions, separated by ;"),
        ],
        handler: commit,
    },
    WorkflowDef {
        name: "engine",
        description: "docker::engine-info; outputs version, api-version, os, arch, containers, \
                      images",
        params: &[],
        handler: engine,
    },
    WorkflowDef {
        name: "service-create",
        description: "services::create-service; outputs id",
        params: &[
            req("name", "Service name"),
            def("image", "Image reference", "dockwright/web"),
            def("replicas", "How many replicas", "1"),
            opt(
                "port",
                "Published ports: TARGET[:PUBLISHED][/MODE], MODE ingress|host (default \
                 ingress), comma-separated",
            ),
            opt("memory", "Memory limit of each task in bytes"),
            opt("cpus", "CPUs of each task, such as 0.5"),
            opt("pids", "Pids limit of each task"),
            opt("env", "Environment: K=V,K2=V2"),
            opt("labels", "Labels: k=v,k2=v2"),
            opt(
                "constraints",
                "Placement constraints, comma-separated: node.role==manager",
            ),
            opt("cmd", "Command, split on spaces"),
        ],
        handler: service_create,
    },
    WorkflowDef {
        name: "service-inspect",
        description: "services::inspect-service; outputs id, name, image, desired, running, \
                      update-state, ports, task-ports, tasks, states, errors, containers, labels",
        params: &[SERVICE],
        handler: service_inspect,
    },
    WorkflowDef {
        name: "service-list",
        description: "services::list-services; outputs count, names",
        params: &[],
        handler: service_list,
    },
    WorkflowDef {
        name: "service-scale",
        description: "services::scale-service; outputs ok",
        params: &[SERVICE, req("replicas", "How many replicas")],
        handler: service_scale,
    },
    WorkflowDef {
        name: "service-update",
        description: "services::update-service-image; outputs ok",
        params: &[SERVICE, req("image", "Image reference")],
        handler: service_update,
    },
    WorkflowDef {
        name: "service-wait",
        description: "services::wait-service; outputs as service-inspect",
        params: &[
            SERVICE,
            def(
                "timeout-ms",
                "Give up after this many milliseconds",
                "60000",
            ),
        ],
        handler: service_wait,
    },
    WorkflowDef {
        name: "service-logs",
        description: "services::service-logs; outputs lines, text",
        params: &[SERVICE, opt("tail", "Only the last this many lines")],
        handler: service_logs,
    },
    WorkflowDef {
        name: "service-remove",
        description: "services::remove-service; outputs ok",
        params: &[SERVICE],
        handler: service_remove,
    },
    WorkflowDef {
        name: "log",
        description: "host::log; outputs ok",
        params: &[
            def("level", "debug|info|warn|error", "info"),
            req("message", "The line to show"),
        ],
        handler: log,
    },
    WorkflowDef {
        name: "create-then-fail",
        description: "Create and start count containers running `sleep 300`, then fail",
        params: &[
            req("image", "Image reference"),
            def("count", "How many containers", "1"),
        ],
        handler: create_then_fail,
    },
    WorkflowDef {
        name: "create-and-wait",
        description: "Create and start a container running `sleep 600`, then \
                      docker::wait-container on it; outputs its exit code",
        params: &[
            req("image", "Image reference"),
            req("name", "Container name"),
        ],
        handler: create_and_wait,
    },
    WorkflowDef {
        name: "service-create-and-wait",
        description: "services::create-service, then services::wait-service on it; \
                      outputs as service-inspect",
        params: &[
            req("name", "Service name"),
            def("image", "Image reference", "dockwright/web"),
            def("replicas", "How many replicas", "1"),
            opt(
                "constraints",
                "Placement constraints, comma-separated: node.role==manager",
            ),
            def("timeout-ms", "How long to wait", "60000"),
        ],
        handler: service_create_and_wait,
    },
    WorkflowDef {
        name: "service-create-then-fail",
        description: "Create a service of one replica, then fail",
        params: &[
            req("name", "Service name"),
            def("image", "Image reference", "dockwright/web"),
        ],
        handler: service_create_then_fail,
    },
    WorkflowDef {
        name: "provision",
        description: "Many writes in a row, for plans: create and start `count` web \
                      containers (any host port), inspect and exec in the first, build \
                      `tag` from `image` and run it, commit the first, try `denied-image`, \
                      remove `existing`, stop and remove the first; with `wait`, wait for \
                      the first to be ready at the end",
        params: &[
            req("image", "Image reference"),
            def("count", "How many containers", "2"),
            opt(
                "tag",
                "Build this image from `image`, run it and commit the first to `<tag>-snap`",
            ),
            opt(
                "denied-image",
                "An image to try creating from; the error is an output",
            ),
            opt("existing", "A container of the team's to remove"),
            def(
                "wait",
                "Wait for the first container to be ready: true|false",
                "false",
            ),
        ],
        handler: provision,
    },
    WorkflowDef {
        name: "whose",
        description: "host::current-run; outputs team, run-id, engine, caller (`-` for none)",
        params: &[],
        handler: whose,
    },
    WorkflowDef {
        name: "fail",
        description: "Fail with the message",
        params: &[def("message", "The error message", "failing on purpose")],
        handler: fail,
    },
];

impl Guest for Probe {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "probe".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Test plugin: one workflow per docker and services import".to_string(),
            workflows: WORKFLOWS
                .iter()
                .map(|w| Workflow {
                    name: w.name.to_string(),
                    description: w.description.to_string(),
                    params: w
                        .params
                        .iter()
                        .map(|p| Param {
                            name: p.name.to_string(),
                            description: p.description.to_string(),
                            required: p.required,
                            default: p.default.map(str::to_string),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    fn run(workflow: String, params: Vec<KeyValue>) -> Result<Vec<KeyValue>, String> {
        let def = WORKFLOWS
            .iter()
            .find(|w| w.name == workflow)
            .ok_or_else(|| format!("unknown workflow `{workflow}`"))?;
        let params = Params(params);
        for p in def.params.iter().filter(|p| p.required) {
            if params.get(p.name).is_none() {
                return Err(format!("missing required param `{}`", p.name));
            }
        }
        (def.handler)(&params)
    }
}

// ---------------------------------------------------------------------------------------------
// Params and outputs.

struct Params(Vec<KeyValue>);

impl Params {
    /// The value of a param; an empty value counts as not given.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|kv| kv.key == name)
            .map(|kv| kv.value.as_str())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("missing required param `{name}`"))
    }

    fn string(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_string)
    }

    fn bool(&self, name: &str, default: bool) -> Result<bool, String> {
        match self.get(name) {
            None => Ok(default),
            Some("true") => Ok(true),
            Some("false") => Ok(false),
            Some(other) => Err(format!(
                "param `{name}`: expected true or false, got `{other}`"
            )),
        }
    }

    fn number<T: std::str::FromStr>(&self, name: &str) -> Result<Option<T>, String> {
        self.get(name)
            .map(|v| {
                v.trim()
                    .parse()
                    .map_err(|_| format!("param `{name}`: not a valid number: `{v}`"))
            })
            .transpose()
    }

    /// Words split on spaces; `~` inside a word stands for a space, so one argument
    /// can hold a whole shell script (`sh -c echo~a;exit~3`).
    fn words(&self, name: &str) -> Option<Vec<String>> {
        self.get(name)
            .map(|v| v.split_whitespace().map(|w| w.replace('~', " ")).collect())
    }

    /// `K=V,K2=V2`; an item without `=` has an empty value.
    fn pairs(&self, name: &str) -> Vec<KeyValue> {
        self.items(name, ',').map(|item| key_value(&item)).collect()
    }

    /// Non-empty, trimmed items separated by `sep`.
    fn items(&self, name: &str, sep: char) -> impl Iterator<Item = String> + '_ {
        self.get(name)
            .unwrap_or("")
            .split(sep)
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
    }
}

fn key_value(item: &str) -> KeyValue {
    let (key, value) = item.split_once('=').unwrap_or((item, ""));
    kv(key, value)
}

fn kv(key: &str, value: impl ToString) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: value.to_string(),
    }
}

fn ok() -> Result<Outputs, String> {
    Ok(vec![kv("ok", "true")])
}

/// `<case>: <message>`, the form tests match on.
fn docker_err(error: DockerError) -> String {
    let (case, message) = match error {
        DockerError::NotFound(m) => ("not-found", m),
        DockerError::Conflict(m) => ("conflict", m),
        DockerError::Denied(m) => ("denied", m),
        DockerError::Invalid(m) => ("invalid", m),
        DockerError::EngineUnavailable(m) => ("engine-unavailable", m),
        DockerError::EngineError(m) => ("engine-error", m),
    };
    format!("{case}: {message}")
}

fn protocol_name(protocol: Protocol) -> &'static str {
    match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    }
}

fn state_name(state: ContainerState) -> &'static str {
    match state {
        ContainerState::Created => "created",
        ContainerState::Restarting => "restarting",
        ContainerState::Running => "running",
        ContainerState::Removing => "removing",
        ContainerState::Paused => "paused",
        ContainerState::Exited => "exited",
        ContainerState::Dead => "dead",
    }
}

/// `80`, `80/tcp`, `53/udp`, `132/sctp`.
fn parse_port(text: &str) -> Result<Port, String> {
    let (number, protocol) = text.trim().split_once('/').unwrap_or((text.trim(), "tcp"));
    let port = number
        .parse()
        .map_err(|_| format!("not a port number: `{text}`"))?;
    let protocol = match protocol {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "sctp" => Protocol::Sctp,
        other => return Err(format!("unknown protocol `{other}` in `{text}`")),
    };
    Ok(Port { port, protocol })
}

/// `80/tcp=8080`, `80/tcp=` (any host port), `80/tcp=127.0.0.1:8080`, `80/tcp=127.0.0.1:`.
fn parse_binding(text: &str) -> Result<PortBinding, String> {
    let (container, host) = text
        .split_once('=')
        .ok_or_else(|| format!("param `bind`: expected PORT/PROTO=[IP:]HOSTPORT, got `{text}`"))?;
    let container_port = parse_port(container)?;
    let (host_ip, host_port) = match host.rsplit_once(':') {
        Some((ip, port)) => (Some(ip.to_string()), port),
        None => (None, host),
    };
    let host_port = if host_port.is_empty() {
        None
    } else {
        Some(
            host_port
                .parse()
                .map_err(|_| format!("param `bind`: not a host port: `{host_port}`"))?,
        )
    };
    Ok(PortBinding {
        container_port,
        host_port,
        host_ip,
    })
}

fn parse_restart(text: &str) -> Result<RestartPolicy, String> {
    Ok(match text {
        "no" | "never" => RestartPolicy::Never,
        "always" => RestartPolicy::Always,
        "unless-stopped" => RestartPolicy::UnlessStopped,
        "on-failure" => RestartPolicy::OnFailure(0),
        other => match other.strip_prefix("on-failure:") {
            Some(n) => RestartPolicy::OnFailure(
                n.parse()
                    .map_err(|_| format!("param `restart`: not a count: `{n}`"))?,
            ),
            None => return Err(format!("param `restart`: unknown policy `{other}`")),
        },
    })
}

fn format_ports(ports: &[PublishedPort]) -> String {
    ports
        .iter()
        .map(|p| {
            format!(
                "{}/{}->{}:{}",
                p.container_port,
                protocol_name(p.protocol),
                p.host_ip,
                p.host_port
            )
        })
        .collect::<Vec<_>>()
        .join(";")
}

/// `k=v` items, sorted, joined with `sep`.
fn format_labels_with(labels: &[KeyValue], sep: &str) -> String {
    let mut labels: Vec<String> = labels
        .iter()
        .map(|l| format!("{}={}", l.key, l.value))
        .collect();
    labels.sort();
    labels.join(sep)
}

fn format_labels(labels: &[KeyValue]) -> String {
    format_labels_with(labels, ";")
}

fn mode_name(mode: PublishMode) -> &'static str {
    match mode {
        PublishMode::Ingress => "ingress",
        PublishMode::Host => "host",
    }
}

fn task_state_name(state: TaskState) -> &'static str {
    match state {
        TaskState::New => "new",
        TaskState::Allocated => "allocated",
        TaskState::Pending => "pending",
        TaskState::Assigned => "assigned",
        TaskState::Accepted => "accepted",
        TaskState::Preparing => "preparing",
        TaskState::Ready => "ready",
        TaskState::Starting => "starting",
        TaskState::Running => "running",
        TaskState::Complete => "complete",
        TaskState::Shutdown => "shutdown",
        TaskState::Failed => "failed",
        TaskState::Rejected => "rejected",
        TaskState::Remove => "remove",
        TaskState::Orphaned => "orphaned",
    }
}

/// `80`, `80:8080`, `80/host`, `80:8080/ingress`, `80:/host` (tcp; no published port lets
/// the host pick one; the mode is ingress unless given).
fn parse_service_port(text: &str) -> Result<ServicePort, String> {
    let text = text.trim();
    let (ports, mode) = text.split_once('/').unwrap_or((text, "ingress"));
    let mode = match mode {
        "ingress" => PublishMode::Ingress,
        "host" => PublishMode::Host,
        other => {
            return Err(format!(
                "param `port`: unknown mode `{other}` in `{text}` (ingress or host)"
            ))
        }
    };
    let (target, published) = ports.split_once(':').unwrap_or((ports, ""));
    let target_port = target
        .parse()
        .map_err(|_| format!("param `port`: not a target port: `{text}`"))?;
    let published_port = if published.is_empty() {
        None
    } else {
        Some(
            published
                .parse()
                .map_err(|_| format!("param `port`: not a published port: `{text}`"))?,
        )
    };
    Ok(ServicePort {
        target_port,
        protocol: Protocol::Tcp,
        published_port,
        mode,
    })
}

/// `TARGET:PUBLISHED/MODE`, comma-separated.
fn format_service_ports<'a>(ports: impl IntoIterator<Item = &'a ServicePublishedPort>) -> String {
    ports
        .into_iter()
        .map(|p| {
            format!(
                "{}:{}/{}",
                p.target_port,
                p.published_port,
                mode_name(p.mode)
            )
        })
        .collect::<Vec<_>>()
        .join(",")
}

// ---------------------------------------------------------------------------------------------
// Containers.

fn create(p: &Params) -> Result<Outputs, String> {
    let spec = ContainerSpec {
        image: p.required("image")?.to_string(),
        name: p.string("name"),
        env: p.pairs("env"),
        cmd: p.words("cmd"),
        entrypoint: p.words("entrypoint"),
        working_dir: p.string("workdir"),
        exposed_ports: p
            .items("expose", ',')
            .map(|s| parse_port(&s))
            .collect::<Result<_, _>>()?,
        publish_all: p.bool("publish-all", false)?,
        port_bindings: p
            .items("bind", ',')
            .map(|s| parse_binding(&s))
            .collect::<Result<_, _>>()?,
        labels: p.pairs("labels"),
        memory_bytes: p.number("memory")?,
        cpus: p.number("cpus")?,
        pids_limit: p.number("pids")?,
        restart: p.get("restart").map(parse_restart).transpose()?,
    };
    let id = match p.words("healthcheck") {
        Some(test) => {
            let options = CreateOptions {
                healthcheck: Some(Healthcheck {
                    test,
                    interval_ms: Some(1000),
                    timeout_ms: Some(1000),
                    start_period_ms: None,
                    retries: Some(3),
                }),
            };
            docker::create_container_with(&spec, &options)
        }
        None => docker::create_container(&spec),
    }
    .map_err(docker_err)?;
    Ok(vec![kv("id", id)])
}

fn start(p: &Params) -> Result<Outputs, String> {
    docker::start_container(p.required("container")?).map_err(docker_err)?;
    ok()
}

fn stop(p: &Params) -> Result<Outputs, String> {
    docker::stop_container(p.required("container")?, p.number("timeout")?).map_err(docker_err)?;
    ok()
}

fn kill(p: &Params) -> Result<Outputs, String> {
    docker::kill_container(p.required("container")?, p.get("signal")).map_err(docker_err)?;
    ok()
}

fn remove(p: &Params) -> Result<Outputs, String> {
    docker::remove_container(p.required("container")?, p.bool("force", false)?)
        .map_err(docker_err)?;
    ok()
}

fn wait(p: &Params) -> Result<Outputs, String> {
    let code = docker::wait_container(p.required("container")?).map_err(docker_err)?;
    Ok(vec![kv("exit-code", code)])
}

fn inspect(p: &Params) -> Result<Outputs, String> {
    let info = docker::inspect_container(p.required("container")?).map_err(docker_err)?;
    Ok(vec![
        kv("id", &info.id),
        kv("name", &info.name),
        kv("image", &info.image),
        kv("state", state_name(info.state)),
        kv(
            "exit-code",
            info.exit_code.map(|c| c.to_string()).unwrap_or_default(),
        ),
        kv("created", &info.created),
        kv("ip", info.ip_address.unwrap_or_default()),
        kv("ports", format_ports(&info.ports)),
        kv("labels", format_labels(&info.labels)),
    ])
}

fn list(p: &Params) -> Result<Outputs, String> {
    let options = ListOptions {
        all: p.bool("all", false)?,
        labels: p
            .items("label", ',')
            .map(|item| match item.split_once('=') {
                Some((key, value)) => LabelFilter {
                    key: key.to_string(),
                    value: Some(value.to_string()),
                },
                None => LabelFilter {
                    key: item,
                    value: None,
                },
            })
            .collect(),
    };
    let mut containers = docker::list_containers(&options).map_err(docker_err)?;
    containers.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
    let ids: Vec<&str> = containers.iter().map(|c| c.id.as_str()).collect();
    Ok(vec![
        kv("count", containers.len()),
        kv("names", names.join(",")),
        kv("ids", ids.join(",")),
    ])
}

fn logs(p: &Params) -> Result<Outputs, String> {
    let options = LogsOptions {
        stdout: p.bool("stdout", true)?,
        stderr: p.bool("stderr", true)?,
        tail: p.number("tail")?,
    };
    let lines = docker::container_logs(p.required("container")?, options).map_err(docker_err)?;
    let (mut stdout, mut stderr) = (String::new(), String::new());
    for line in &lines {
        match line.stream {
            OutputStream::Stdout => stdout.push_str(&format!("{}\n", line.text)),
            OutputStream::Stderr => stderr.push_str(&format!("{}\n", line.text)),
        }
    }
    // The host caps each output at 64 KiB: the size and the end of what the call
    // returned are outputs of their own, for tests of the call's own bounds.
    let mut tail_start = stdout.len().saturating_sub(256);
    while !stdout.is_char_boundary(tail_start) {
        tail_start += 1;
    }
    let tail = stdout[tail_start..].to_string();
    Ok(vec![
        kv("stdout-bytes", stdout.len()),
        kv("stdout-tail", tail),
        kv("stdout", stdout),
        kv("stderr", stderr),
        kv("lines", lines.len()),
    ])
}

fn exec(p: &Params) -> Result<Outputs, String> {
    let spec = ExecSpec {
        cmd: p.words("cmd").unwrap_or_default(),
        env: p.pairs("env"),
        working_dir: p.string("workdir"),
        user: p.string("user"),
    };
    let out = docker::exec(p.required("container")?, &spec).map_err(docker_err)?;
    Ok(vec![
        kv("exit-code", out.exit_code),
        kv("stdout", out.stdout),
        kv("stderr", out.stderr),
    ])
}

fn top(p: &Params) -> Result<Outputs, String> {
    let list = docker::top(p.required("container")?).map_err(docker_err)?;
    let column = list
        .titles
        .iter()
        .position(|t| t == "CMD" || t == "COMMAND");
    let commands: Vec<&str> = match column {
        Some(i) => list
            .processes
            .iter()
            .filter_map(|row| row.get(i).map(String::as_str))
            .collect(),
        None => Vec::new(),
    };
    Ok(vec![
        kv("titles", list.titles.join(",")),
        kv("count", list.processes.len()),
        kv("commands", commands.join(";")),
    ])
}

fn stats(p: &Params) -> Result<Outputs, String> {
    let s = docker::stats(p.required("container")?).map_err(docker_err)?;
    let networks: Vec<String> = s
        .networks
        .iter()
        .map(|n| format!("{}:rx={},tx={}", n.name, n.rx_bytes, n.tx_bytes))
        .collect();
    Ok(vec![
        kv("cpu-percent", s.cpu_percent),
        kv("memory-usage", s.memory_usage),
        kv("memory-limit", s.memory_limit),
        kv("pids", s.pids),
        kv("networks", networks.join(";")),
    ])
}

fn wait_ready(p: &Params) -> Result<Outputs, String> {
    let check = match (p.get("port"), p.get("log")) {
        (Some(port), None) => Readiness::TcpPort(parse_port(port)?),
        (None, Some(text)) => Readiness::LogLine(text.to_string()),
        _ => return Err("give exactly one of the params `port` and `log`".to_string()),
    };
    let timeout_ms = p.number("timeout-ms")?.unwrap_or(10_000);
    docker::wait_ready(p.required("container")?, &check, timeout_ms).map_err(docker_err)?;
    ok()
}

// ---------------------------------------------------------------------------------------------
// Images and the engine.

fn images(_: &Params) -> Result<Outputs, String> {
    let images = docker::list_images().map_err(docker_err)?;
    let mut tags: Vec<&str> = images
        .iter()
        .flat_map(|i| i.repo_tags.iter().map(String::as_str))
        .collect();
    tags.sort();
    Ok(vec![kv("count", images.len()), kv("tags", tags.join(","))])
}

fn pull(p: &Params) -> Result<Outputs, String> {
    let id = docker::pull_image(p.required("image")?).map_err(docker_err)?;
    Ok(vec![kv("id", id)])
}

fn build(p: &Params) -> Result<Outputs, String> {
    let extra_file = match (p.get("file-name"), p.get("file-content")) {
        (Some(path), content) => Some(ContextFile {
            path: path.to_string(),
            contents: content.unwrap_or("").as_bytes().to_vec(),
        }),
        (None, Some(_)) => return Err("param `file-content` needs `file-name`".to_string()),
        (None, None) => None,
    };
    let context = match p.get("dir") {
        Some(dir) => {
            if p.get("dockerfile").is_some() || extra_file.is_some() {
                return Err(
                    "param `dir` excludes the inline params `dockerfile` and `file-name`"
                        .to_string(),
                );
            }
            BuildContext::Directory(dir.to_string())
        }
        None => {
            let mut files = Vec::new();
            if let Some(text) = p.get("dockerfile") {
                files.push(ContextFile {
                    path: "Dockerfile".to_string(),
                    contents: text.as_bytes().to_vec(),
                });
            }
            files.extend(extra_file);
            BuildContext::Files(files)
        }
    };
    let spec = BuildSpec {
        context,
        dockerfile: p.string("dockerfile-path"),
        tag: p.required("tag")?.to_string(),
        build_args: p.pairs("build-args"),
        no_cache: p.bool("no-cache", false)?,
        labels: p.pairs("labels"),
    };
    let id = docker::build_image(&spec).map_err(docker_err)?;
    Ok(vec![kv("id", id)])
}

fn commit(p: &Params) -> Result<Outputs, String> {
    let spec = CommitSpec {
        container: p.required("container")?.to_string(),
        repo: p.required("repo")?.to_string(),
        tag: p.string("tag"),
        message: p.string("message"),
        author: p.string("author"),
        changes: p.items("changes", ';').collect(),
    };
    let id = docker::commit_container(&spec).map_err(docker_err)?;
    Ok(vec![kv("id", id)])
}

fn engine(_: &Params) -> Result<Outputs, String> {
    let info = docker::engine_info().map_err(docker_err)?;
    Ok(vec![
        kv("version", &info.version),
        kv("api-version", &info.api_version),
        kv("os", &info.os),
        kv("arch", &info.arch),
        kv("kernel-version", &info.kernel_version),
        kv("containers", info.containers),
        kv("containers-running", info.containers_running),
        kv("images", info.images),
    ])
}

// ---------------------------------------------------------------------------------------------
// Services.

fn service_create(p: &Params) -> Result<Outputs, String> {
    let spec = ServiceSpec {
        name: p.required("name")?.to_string(),
        image: p.get("image").unwrap_or("dockwright/web").to_string(),
        env: p.pairs("env"),
        cmd: p.words("cmd"),
        replicas: p.number("replicas")?.unwrap_or(1),
        ports: p
            .items("port", ',')
            .map(|s| parse_service_port(&s))
            .collect::<Result<_, _>>()?,
        labels: p.pairs("labels"),
        memory_bytes: p.number("memory")?,
        cpus: p.number("cpus")?,
        pids_limit: p.number("pids")?,
        constraints: p.items("constraints", ',').collect(),
    };
    let id = services::create_service(&spec).map_err(docker_err)?;
    Ok(vec![kv("id", id)])
}

/// The outputs of `service-inspect` and `service-wait`.
fn service_outputs(info: &ServiceInfo) -> Outputs {
    let states: Vec<&str> = info
        .tasks
        .iter()
        .map(|t| task_state_name(t.state))
        .collect();
    let errors: Vec<&str> = info
        .tasks
        .iter()
        .filter_map(|t| t.error.as_deref())
        .collect();
    let containers: Vec<&str> = info
        .tasks
        .iter()
        .filter_map(|t| t.container.as_deref())
        .collect();
    vec![
        kv("id", &info.id),
        kv("name", &info.name),
        kv("image", &info.image),
        kv("desired", info.desired_replicas),
        kv("running", info.running_replicas),
        kv("update-state", info.update_state.as_deref().unwrap_or("")),
        kv("ports", format_service_ports(&info.ports)),
        kv(
            "task-ports",
            format_service_ports(info.tasks.iter().flat_map(|t| &t.ports)),
        ),
        kv("tasks", info.tasks.len()),
        kv("states", states.join(",")),
        kv("errors", errors.join(" | ")),
        kv("containers", containers.join(",")),
        kv("labels", format_labels_with(&info.labels, ",")),
    ]
}

fn service_inspect(p: &Params) -> Result<Outputs, String> {
    let info = services::inspect_service(p.required("service")?).map_err(docker_err)?;
    Ok(service_outputs(&info))
}

fn service_list(_: &Params) -> Result<Outputs, String> {
    let list = services::list_services().map_err(docker_err)?;
    let mut names: Vec<&str> = list.iter().map(|s| s.name.as_str()).collect();
    names.sort();
    Ok(vec![kv("count", list.len()), kv("names", names.join(","))])
}

fn service_scale(p: &Params) -> Result<Outputs, String> {
    let replicas = p
        .number("replicas")?
        .ok_or_else(|| "missing required param `replicas`".to_string())?;
    services::scale_service(p.required("service")?, replicas).map_err(docker_err)?;
    ok()
}

fn service_update(p: &Params) -> Result<Outputs, String> {
    services::update_service_image(p.required("service")?, p.required("image")?)
        .map_err(docker_err)?;
    ok()
}

fn service_wait(p: &Params) -> Result<Outputs, String> {
    let timeout_ms = p.number("timeout-ms")?.unwrap_or(60_000);
    let info = services::wait_service(p.required("service")?, timeout_ms).map_err(docker_err)?;
    Ok(service_outputs(&info))
}

fn service_logs(p: &Params) -> Result<Outputs, String> {
    let options = LogsOptions {
        stdout: true,
        stderr: true,
        tail: p.number("tail")?,
    };
    let lines = services::service_logs(p.required("service")?, options).map_err(docker_err)?;
    let text: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
    Ok(vec![kv("lines", lines.len()), kv("text", text.join("\n"))])
}

fn service_remove(p: &Params) -> Result<Outputs, String> {
    services::remove_service(p.required("service")?).map_err(docker_err)?;
    ok()
}

// ---------------------------------------------------------------------------------------------
// The host and failures.

fn log(p: &Params) -> Result<Outputs, String> {
    let level = match p.get("level").unwrap_or("info") {
        "debug" => Level::Debug,
        "info" => Level::Info,
        "warn" => Level::Warn,
        "error" => Level::Error,
        other => return Err(format!("param `level`: unknown level `{other}`")),
    };
    host::log(level, p.required("message")?);
    ok()
}

fn create_then_fail(p: &Params) -> Result<Outputs, String> {
    let image = p.required("image")?;
    let count: u32 = p.number("count")?.unwrap_or(1);
    for _ in 0..count {
        let spec = ContainerSpec {
            image: image.to_string(),
            name: None,
            env: Vec::new(),
            cmd: Some(vec!["sleep".to_string(), "300".to_string()]),
            entrypoint: None,
            working_dir: None,
            exposed_ports: Vec::new(),
            publish_all: false,
            port_bindings: Vec::new(),
            labels: Vec::new(),
            memory_bytes: None,
            cpus: None,
            pids_limit: None,
            restart: None,
        };
        let id = docker::create_container(&spec).map_err(docker_err)?;
        docker::start_container(&id).map_err(docker_err)?;
        host::log(Level::Info, &format!("created and started {id}"));
    }
    Err(format!(
        "failing on purpose after creating {count} containers"
    ))
}

fn create_and_wait(p: &Params) -> Result<Outputs, String> {
    let id = create(&Params(vec![
        kv("image", p.required("image")?),
        kv("name", p.required("name")?),
        kv("cmd", "sleep 600"),
    ]))?;
    let id = id[0].value.clone();
    docker::start_container(&id).map_err(docker_err)?;
    let code = docker::wait_container(&id).map_err(docker_err)?;
    Ok(vec![kv("exit-code", code)])
}

fn service_create_and_wait(p: &Params) -> Result<Outputs, String> {
    let created = service_create(p)?;
    let id = created
        .iter()
        .find(|kv| kv.key == "id")
        .map(|kv| kv.value.clone())
        .unwrap_or_default();
    let timeout_ms = p.number("timeout-ms")?.unwrap_or(60_000);
    let info = services::wait_service(&id, timeout_ms).map_err(docker_err)?;
    Ok(service_outputs(&info))
}

fn service_create_then_fail(p: &Params) -> Result<Outputs, String> {
    let spec = ServiceSpec {
        name: p.required("name")?.to_string(),
        image: p.get("image").unwrap_or("dockwright/web").to_string(),
        env: Vec::new(),
        cmd: None,
        replicas: 1,
        ports: Vec::new(),
        labels: Vec::new(),
        memory_bytes: None,
        cpus: None,
        pids_limit: None,
        constraints: Vec::new(),
    };
    let id = services::create_service(&spec).map_err(docker_err)?;
    host::log(Level::Info, &format!("created service {id}"));
    Err(format!("failing on purpose after creating service {id}"))
}

fn whose(_: &Params) -> Result<Outputs, String> {
    let run = dockwright::plugin::host::current_run().ok_or("no run context in a run")?;
    Ok(vec![
        kv("team", run.team),
        kv("run-id", run.run_id),
        kv("engine", run.engine),
        kv("caller", run.caller.as_deref().unwrap_or("-")),
    ])
}

fn fail(p: &Params) -> Result<Outputs, String> {
    Err(p.get("message").unwrap_or("failing on purpose").to_string())
}

fn provision(p: &Params) -> Result<Outputs, String> {
    let image = p.required("image")?;
    let count: u32 = p.number("count")?.unwrap_or(2);
    let web = |image: &str| ContainerSpec {
        image: image.to_string(),
        name: None,
        env: vec![kv("PORT", "80")],
        cmd: None,
        entrypoint: None,
        working_dir: None,
        exposed_ports: Vec::new(),
        publish_all: false,
        port_bindings: vec![PortBinding {
            container_port: Port {
                port: 80,
                protocol: Protocol::Tcp,
            },
            host_port: None,
            host_ip: None,
        }],
        labels: vec![kv("probe", "provision")],
        memory_bytes: None,
        cpus: None,
        pids_limit: None,
        restart: None,
    };
    let mut out = Vec::new();
    let mut ids = Vec::new();
    for _ in 0..count {
        let id = docker::create_container(&web(image)).map_err(docker_err)?;
        docker::start_container(&id).map_err(docker_err)?;
        ids.push(id);
    }
    let first = ids.first().cloned().ok_or("count must be at least 1")?;
    let info = docker::inspect_container(&first).map_err(docker_err)?;
    out.push(kv("state", state_name(info.state)));
    out.push(kv("ports", format_ports(&info.ports)));
    let exec = ExecSpec {
        cmd: vec!["true".to_string()],
        env: Vec::new(),
        working_dir: None,
        user: None,
    };
    let ran = docker::exec(&first, &exec).map_err(docker_err)?;
    out.push(kv("exec-exit-code", ran.exit_code));
    if let Some(tag) = p.get("tag") {
        let spec = BuildSpec {
            context: BuildContext::Files(vec![ContextFile {
                path: "Dockerfile".to_string(),
                contents: format!("FROM {image}\nLABEL probe=provision\n").into_bytes(),
            }]),
            dockerfile: None,
            tag: tag.to_string(),
            build_args: Vec::new(),
            no_cache: false,
            labels: Vec::new(),
        };
        out.push(kv("built", docker::build_image(&spec).map_err(docker_err)?));
        let id = docker::create_container(&web(tag)).map_err(docker_err)?;
        ids.push(id);
        let commit = CommitSpec {
            container: first.clone(),
            repo: format!("{tag}-snap"),
            tag: None,
            message: None,
            author: None,
            changes: Vec::new(),
        };
        out.push(kv(
            "committed",
            docker::commit_container(&commit).map_err(docker_err)?,
        ));
    }
    if let Some(denied) = p.get("denied-image") {
        let answer = docker::create_container(&web(denied));
        out.push(kv(
            "denied",
            answer.err().map(docker_err).unwrap_or_default(),
        ));
    }
    let options = ListOptions {
        all: true,
        labels: vec![LabelFilter {
            key: "probe".to_string(),
            value: Some("provision".to_string()),
        }],
    };
    let listed = docker::list_containers(&options).map_err(docker_err)?;
    out.push(kv("listed", listed.len()));
    if let Some(existing) = p.get("existing") {
        docker::remove_container(existing, true).map_err(docker_err)?;
    }
    docker::stop_container(&first, Some(1)).map_err(docker_err)?;
    docker::remove_container(&first, false).map_err(docker_err)?;
    if p.bool("wait", false)? {
        let second = ids.get(1).ok_or("`wait` needs a second container")?;
        let check = Readiness::TcpPort(Port {
            port: 80,
            protocol: Protocol::Tcp,
        });
        docker::wait_ready(second, &check, 30_000).map_err(docker_err)?;
        out.push(kv("ready", "true"));
    }
    out.push(kv("ids", ids.join(",")));
    Ok(out)
}
