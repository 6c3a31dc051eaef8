//! `bench`: the workflows dockwright's benchmark harness (`bench/run`) times.
//!
//! - `provision`: create a container from `dockwright/web:latest` with `TEAM=<team>` and every
//!   exposed port published, start it, inspect it; outputs `id` and `host-port`. The same work
//!   as one item of the docker CLI, docker-py and bollard loops the harness compares with.
//! - `remove`: remove a container, forced.
//! - `noop`: nothing at all; measures what one `dockwright run` costs around a plugin.
//! - `calls`: `n` calls of `host::log` at level debug, which the terminal drops unless `-v`:
//!   the cost of one guest→host import that does not touch the engine.
//! - `hold`: sleep `ms` milliseconds (WASI monotonic clock), to keep many instances alive at
//!   once for a memory measurement. Its `i` param is ignored: it lets `--each i=1,2,...` start
//!   one instance per value.
//! - `logs`: read a container's whole log (stdout and stderr, no tail) through the
//!   `container-logs` import; outputs how many lines and bytes (each line's text and its
//!   newline) it got. Timed against `docker logs` of the same container.
//! - `service-logs`: the same for a Swarm service, through the `service-logs` import; timed
//!   against `docker service logs`.

wit_bindgen::generate!({
    world: "plugin",
    path: "../../wit",
});

use dockwright::plugin::docker::{self, ContainerSpec, DockerError, LogLine, LogsOptions};
use dockwright::plugin::host::{self, Level};
use dockwright::plugin::services;
use dockwright::plugin::types::KeyValue;
use exports::dockwright::plugin::workflows::{Guest, Param, PluginInfo, Workflow};

const IMAGE: &str = "dockwright/web:latest";

struct Bench;

export!(Bench);

fn param(name: &str, description: &str, required: bool, default: Option<&str>) -> Param {
    Param {
        name: name.into(),
        description: description.into(),
        required,
        default: default.map(Into::into),
    }
}

fn workflow(name: &str, description: &str, params: Vec<Param>) -> Workflow {
    Workflow {
        name: name.into(),
        description: description.into(),
        params,
    }
}

impl Guest for Bench {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "bench".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Workflows for dockwright's benchmarks (bench/run)".into(),
            workflows: vec![
                workflow(
                    "provision",
                    "Create a container from dockwright/web:latest with TEAM=<team> and every \
                     exposed port published, start and inspect it; outputs id and host-port",
                    vec![
                        param("name", "The container's name", true, None),
                        param(
                            "team",
                            "The TEAM environment variable",
                            false,
                            Some("bench"),
                        ),
                    ],
                ),
                workflow(
                    "remove",
                    "Remove a container, running or not",
                    vec![param("name", "The container's name or id", true, None)],
                ),
                workflow("noop", "Do nothing; outputs nothing", vec![]),
                workflow(
                    "calls",
                    "Call host::log at level debug n times; outputs n",
                    vec![param("n", "How many calls", false, Some("10000"))],
                ),
                workflow(
                    "hold",
                    "Sleep for ms milliseconds; outputs nothing",
                    vec![
                        param("ms", "How long to sleep", false, Some("2000")),
                        param(
                            "i",
                            "Ignored: lets --each start one instance per value",
                            false,
                            None,
                        ),
                    ],
                ),
                workflow(
                    "logs",
                    "Read a container's whole log (stdout and stderr); outputs lines and bytes",
                    vec![param("name", "The container's name or id", true, None)],
                ),
                workflow(
                    "service-logs",
                    "Read a service's whole log (stdout and stderr); outputs lines and bytes",
                    vec![param("name", "The service's name or id", true, None)],
                ),
            ],
        }
    }

    fn run(workflow: String, params: Vec<KeyValue>) -> Result<Vec<KeyValue>, String> {
        let params = Params(params);
        match workflow.as_str() {
            "provision" => provision(&params),
            "remove" => remove(&params),
            "noop" => Ok(Vec::new()),
            "calls" => calls(&params),
            "hold" => hold(&params),
            "logs" => logs(&params),
            "service-logs" => service_logs(&params),
            other => Err(format!("unknown workflow `{other}`")),
        }
    }
}

fn provision(params: &Params) -> Result<Vec<KeyValue>, String> {
    let name = params.required("name")?;
    let team = params.get("team").unwrap_or("bench");
    let spec = ContainerSpec {
        image: IMAGE.into(),
        name: Some(name.into()),
        env: vec![kv("TEAM", team)],
        cmd: None,
        entrypoint: None,
        working_dir: None,
        exposed_ports: Vec::new(),
        publish_all: true,
        port_bindings: Vec::new(),
        labels: Vec::new(),
        memory_bytes: None,
        cpus: None,
        pids_limit: None,
        restart: None,
    };
    let id = docker::create_container(&spec).map_err(|e| describe_error("create", &e))?;
    docker::start_container(&id).map_err(|e| describe_error("start", &e))?;
    let info = docker::inspect_container(&id).map_err(|e| describe_error("inspect", &e))?;
    let port = info
        .ports
        .first()
        .ok_or_else(|| format!("container {name} has no published port"))?;
    Ok(vec![
        kv("id", &id),
        kv("host-port", &port.host_port.to_string()),
    ])
}

fn remove(params: &Params) -> Result<Vec<KeyValue>, String> {
    let name = params.required("name")?;
    docker::remove_container(name, true).map_err(|e| describe_error("remove", &e))?;
    Ok(Vec::new())
}

fn calls(params: &Params) -> Result<Vec<KeyValue>, String> {
    let n: u64 = params.number("n", 10_000)?;
    for _ in 0..n {
        host::log(Level::Debug, "x");
    }
    Ok(vec![kv("n", &n.to_string())])
}

fn hold(params: &Params) -> Result<Vec<KeyValue>, String> {
    let ms: u64 = params.number("ms", 2_000)?;
    std::thread::sleep(std::time::Duration::from_millis(ms));
    Ok(Vec::new())
}

/// Stdout and stderr, every line (no tail).
const WHOLE_LOG: LogsOptions = LogsOptions {
    stdout: true,
    stderr: true,
    tail: None,
};

fn logs(params: &Params) -> Result<Vec<KeyValue>, String> {
    let name = params.required("name")?;
    let lines = docker::container_logs(name, WHOLE_LOG).map_err(|e| describe_error("logs", &e))?;
    Ok(count_lines(&lines))
}

fn service_logs(params: &Params) -> Result<Vec<KeyValue>, String> {
    let name = params.required("name")?;
    let lines =
        services::service_logs(name, WHOLE_LOG).map_err(|e| describe_error("service-logs", &e))?;
    Ok(count_lines(&lines))
}

/// Outputs `lines` and `bytes`: each line's text and its newline.
fn count_lines(lines: &[LogLine]) -> Vec<KeyValue> {
    let bytes: usize = lines.iter().map(|line| line.text.len() + 1).sum();
    vec![
        kv("lines", &lines.len().to_string()),
        kv("bytes", &bytes.to_string()),
    ]
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.into(),
    }
}

fn describe_error(call: &str, err: &DockerError) -> String {
    let (case, message) = match err {
        DockerError::NotFound(m) => ("not-found", m),
        DockerError::Conflict(m) => ("conflict", m),
        DockerError::Denied(m) => ("denied", m),
        DockerError::Invalid(m) => ("invalid", m),
        DockerError::EngineUnavailable(m) => ("engine-unavailable", m),
        DockerError::EngineError(m) => ("engine-error", m),
    };
    format!("{call}: {case}: {message}")
}

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

    fn number(&self, name: &str, default: u64) -> Result<u64, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| format!("param `{name}`: not a whole number: `{v}`")),
        }
    }
}
