//! `team-env`: a web environment per team, and its teardown.
//!
//! `team-env` starts a container from a web image with `TEAM=<team>` in its environment,
//! publishes its port on a free host port, waits until the port accepts connections and
//! returns the URL. `team-env-teardown` removes every container the plugin started for a
//! team; it finds them by the plugin's own label `team-env.team`.

use dockwright_sdk::docker::{
    self, ContainerSpec, LabelFilter, ListOptions, PortBinding, Readiness,
};
use dockwright_sdk::{
    host, info, kv, param, param_or, parse_port, warn, Context, Guest, KeyValue, Param, PluginInfo,
    Workflow,
};

const DEFAULT_IMAGE: &str = "dockwright/web:latest";
const DEFAULT_PORT: &str = "80/tcp";
/// The plugin's own label; `dockwright.*` labels belong to the host.
const TEAM_LABEL: &str = "team-env.team";
const READY_TIMEOUT_MS: u32 = 30_000;

struct TeamEnv;

impl Guest for TeamEnv {
    fn describe() -> PluginInfo {
        let team = || {
            Param::optional_unset(
                "team",
                "The team the environment is for, such as `red`; by default the run's team",
            )
        };
        PluginInfo {
            name: "team-env".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Starts a web environment for a team on a free port, and tears it down"
                .into(),
            workflows: vec![
                Workflow::new(
                    "team-env",
                    "Starts a container for the team, publishes its port on a free host port and \
                     waits until it accepts connections; returns its URL",
                    vec![
                        team(),
                        Param::optional("image", "The image to run", DEFAULT_IMAGE),
                        Param::optional(
                            "port",
                            "The container port the image serves on, such as 80/tcp",
                            DEFAULT_PORT,
                        ),
                        Param::optional_unset(
                            "lifetime",
                            "How long the environment lives, such as 4h or 2d (at most the \
                             team's lifetime max); by default the team's",
                        ),
                    ],
                ),
                Workflow::new(
                    "team-env-teardown",
                    "Removes every container that team-env started for the team, running or not",
                    vec![team()],
                ),
            ],
        }
    }

    fn run(workflow: String, params: Vec<KeyValue>) -> Result<Vec<KeyValue>, String> {
        match workflow.as_str() {
            "team-env" => start(&params),
            "team-env-teardown" => teardown(&params),
            other => Err(dockwright_sdk::unknown_workflow(other, &Self::describe())),
        }
    }
}

dockwright_sdk::export!(TeamEnv);

/// The team the environment is for: the `team` param, else the run's own team as the
/// host knows it (`host::current_run`), so a caller over HTTP names no team its token
/// does not already say. Checked: it goes into an environment variable and a label.
fn team(params: &[KeyValue]) -> Result<String, String> {
    let team = match param(params, "team")
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        Some(given) => given.to_string(),
        None => host::current_run()
            .map(|run| run.team)
            .ok_or("no `team` param, and no run to take the team from")?,
    };
    let valid = team.len() <= 63
        && team
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(team)
    } else {
        Err(format!(
            "team `{team}` is not a valid team name: use at most 63 letters, digits, `-`, `_` or `.`"
        ))
    }
}

fn start(params: &[KeyValue]) -> Result<Vec<KeyValue>, String> {
    let team = &team(params)?;
    let image = param_or(params, "image", DEFAULT_IMAGE).trim();
    let port = parse_port(param_or(params, "port", DEFAULT_PORT))?;
    if let Some(asked) = param(params, "lifetime").filter(|l| !l.trim().is_empty()) {
        // Asked before anything is made, so everything carries the expiry asked for.
        let expires = host::set_lifetime(lifetime_secs(asked)?)
            .map_err(|e| format!("the lifetime `{asked}` was refused: {e}"))?;
        info(&format!("the environment expires at {expires}"));
    }

    let spec = ContainerSpec {
        image: image.into(),
        // No fixed name: the engine picks one, so several environments of a team can coexist.
        name: None,
        env: vec![kv("TEAM", team)],
        cmd: None,
        entrypoint: None,
        working_dir: None,
        exposed_ports: vec![port],
        publish_all: false,
        port_bindings: vec![PortBinding {
            container_port: port,
            host_port: None,
            host_ip: None,
        }],
        labels: vec![kv(TEAM_LABEL, team)],
        memory_bytes: None,
        cpus: None,
        pids_limit: None,
        restart: None,
    };
    info(&format!(
        "creating a container from {image} for team {team}"
    ));
    let id = docker::create_container(&spec).map_err(|e| match e {
        docker::DockerError::NotFound(_) => format!(
            "image `{image}` is not on the engine ({}): build or pull it first, or give another \
             image with the `image` param",
            e.display()
        ),
        e => format!("creating the container from `{image}`: {}", e.display()),
    })?;
    docker::start_container(&id).with_context(|| format!("starting container {}", short(&id)))?;

    info(&format!(
        "started container {}, waiting up to {} s for port {port} to accept connections",
        short(&id),
        READY_TIMEOUT_MS / 1000
    ));
    if let Err(e) = docker::wait_ready(&id, &Readiness::TcpPort(port), READY_TIMEOUT_MS) {
        return Err(format!(
            "the container did not get ready on port {port}: {}. Check that the image serves on \
             that port (the `port` param).{}",
            e.display(),
            last_output(&id)
        ));
    }

    let container = docker::inspect_container(&id)
        .with_context(|| format!("inspecting container {}", short(&id)))?;
    let published = container
        .ports
        .iter()
        .find(|p| p.container_port == port.port && p.protocol == port.protocol)
        .ok_or_else(|| {
            format!(
                "container {} is running, but the engine reports no host port for {port}",
                short(&id)
            )
        })?;
    let name = container.name.trim_start_matches('/');
    let url = format!("http://{}:{}/", host::public_host(), published.host_port);
    info(&format!("team {team}: {name} is ready at {url}"));

    let mut outputs = vec![
        kv("container", &container.id),
        kv("name", name),
        kv("host-port", published.host_port),
        kv("url", url),
    ];
    if let Some(expires) = host::run_expires() {
        outputs.push(kv("expires", expires));
    }
    Ok(outputs)
}

/// `30m`, `4h`, `2d` in seconds.
fn lifetime_secs(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.trim_end_matches(|c: char| c.is_ascii_alphabetic())
            .len(),
    );
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    number
        .trim()
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(scale))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("`{text}` is not a lifetime: give one such as 30m, 4h or 2d"))
}

fn teardown(params: &[KeyValue]) -> Result<Vec<KeyValue>, String> {
    let team = &team(params)?;
    let options = ListOptions {
        all: true,
        labels: vec![LabelFilter {
            key: TEAM_LABEL.into(),
            value: Some(team.into()),
        }],
    };
    let containers = docker::list_containers(&options)
        .with_context(|| format!("listing the containers of team {team}"))?;
    if containers.is_empty() {
        info(&format!("team {team} has no team-env containers"));
    }

    let mut removed = Vec::new();
    for container in &containers {
        let name = container.name.trim_start_matches('/');
        match docker::remove_container(&container.id, true) {
            Ok(()) => {
                info(&format!("removed {name} ({})", short(&container.id)));
                removed.push(name.to_string());
            }
            // Gone already, removed by someone else meanwhile: nothing left to do.
            Err(docker::DockerError::NotFound(_)) => {
                warn(&format!("{name} was already gone"));
            }
            Err(e) => {
                let done = if removed.is_empty() {
                    String::new()
                } else {
                    format!(" (removed before it: {})", removed.join(", "))
                };
                return Err(format!(
                    "could not remove container {name} of team {team}: {}{done}",
                    e.display()
                ));
            }
        }
    }

    Ok(vec![
        kv("removed", removed.len()),
        kv("containers", removed.join(",")),
    ])
}

/// The first 12 characters of an id, as `docker ps` shows it.
fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// The container's last lines of output, to explain a failure; empty when there are none.
fn last_output(id: &str) -> String {
    let options = docker::LogsOptions {
        stdout: true,
        stderr: true,
        tail: Some(10),
    };
    match docker::container_logs(id, options) {
        Ok(lines) if !lines.is_empty() => {
            let text: Vec<&str> = lines.iter().map(|l| l.text.trim_end()).collect();
            format!(" Its last output:\n{}", text.join("\n"))
        }
        _ => String::new(),
    }
}
