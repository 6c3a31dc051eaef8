//! # dockwright-sdk
//!
//! Everything a Rust plugin for dockwright needs: the bindings of the contract
//! (`wit/dockwright.wit`, world `plugin`), generated once here, and a few helpers.
//!
//! A plugin is a `cdylib` crate that implements [`Guest`] and exports it:
//!
//! ```no_run
//! use dockwright_sdk::{docker, info, kv, required, Context, Guest, KeyValue, Param, PluginInfo, Workflow};
//!
//! struct Hello;
//!
//! impl Guest for Hello {
//!     fn describe() -> PluginInfo {
//!         PluginInfo {
//!             name: "hello".into(),
//!             version: env!("CARGO_PKG_VERSION").into(),
//!             description: "Says hello from a container".into(),
//!             workflows: vec![Workflow::new(
//!                 "hello",
//!                 "Shows the engine's version",
//!                 vec![Param::required("who", "Whom to greet")],
//!             )],
//!         }
//!     }
//!
//!     fn run(workflow: String, params: Vec<KeyValue>) -> Result<Vec<KeyValue>, String> {
//!         match workflow.as_str() {
//!             "hello" => {
//!                 let who = required(&params, "who")?;
//!                 let engine = docker::engine_info().context("asking the engine its version")?;
//!                 info(&format!("hello, {who}"));
//!                 Ok(vec![kv("engine", engine.version)])
//!             }
//!             other => Err(dockwright_sdk::unknown_workflow(other, &Self::describe())),
//!         }
//!     }
//! }
//!
//! dockwright_sdk::export!(Hello);
//! ```
//!
//! What is where:
//! - [`docker`]: the Docker operations the host offers (`create_container`, `wait_ready`, ...).
//!   Every call goes through the host, which applies its policy and labels what it creates.
//! - [`services`]: replicated Swarm services (`create_service`, `wait_service`,
//!   `scale_service`, ...), on an engine that is a Swarm manager; since contract 0.1.2. The
//!   same policy holds as for containers, and a failed run removes the services it created.
//! - [`host`]: the user's terminal; [`debug`], [`info`], [`warn`] and [`error`] wrap it.
//! - [`Guest`], [`PluginInfo`], [`Workflow`], [`Param`]: what the plugin exports.
//! - [`param`], [`required`], [`kv`]: reading params and building outputs.
//! - [`DockerError::display`] shows an error as one line (`not found: ...`, `conflict: ...`);
//!   [`Context::context`] turns a Docker result into a `Result<T, String>` whose message says
//!   what the plugin was doing.
//!
//! A plugin has no filesystem, network, environment or clock of its own that it can count
//! on: everything it learns comes from the host's answers.

use core::fmt;

// The README's Rust snippet is compiled (not run) as a doctest of the SDK it uses, so it
// cannot drift from the bindings.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeSnippets;

/// The bindings generated from `wit/dockwright.wit`. The useful parts are re-exported at
/// the crate root; this module is here for completeness.
pub mod bindings {
    wit_bindgen::generate!({
        world: "plugin",
        path: "../../wit",
        // The export macro is used from the plugin crates, so it must be public and know
        // where the bindings live.
        pub_export_macro: true,
        export_macro_name: "export",
        default_bindings_module: "dockwright_sdk::bindings",
        additional_derives: [PartialEq],
    });
}

pub use bindings::dockwright::plugin::docker;
pub use bindings::dockwright::plugin::docker::DockerError;
pub use bindings::dockwright::plugin::host;
pub use bindings::dockwright::plugin::services;
pub use bindings::dockwright::plugin::types::KeyValue;
pub use bindings::exports::dockwright::plugin::workflows::{Guest, Param, PluginInfo, Workflow};

/// Exports a type implementing [`Guest`] as the plugin: `dockwright_sdk::export!(MyPlugin);`.
/// Use it once, at the root of the plugin crate.
pub use bindings::export;

// ---------------------------------------------------------------------------------------
// Params and outputs

/// The value of the param `name`, if the user gave it (or it has a default).
pub fn param<'a>(params: &'a [KeyValue], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|p| p.key == name)
        .map(|p| p.value.as_str())
}

/// The value of the param `name`, or an error for the user when it is missing or blank.
pub fn required<'a>(params: &'a [KeyValue], name: &str) -> Result<&'a str, String> {
    match param(params, name) {
        Some(value) if !value.trim().is_empty() => Ok(value),
        Some(_) => Err(format!("param `{name}` is empty: give it a value")),
        None => Err(format!("param `{name}` is required: give it a value")),
    }
}

/// The value of the param `name`, or `default` when it is missing or blank.
pub fn param_or<'a>(params: &'a [KeyValue], name: &str, default: &'a str) -> &'a str {
    match param(params, name) {
        Some(value) if !value.trim().is_empty() => value,
        _ => default,
    }
}

/// A key-value pair, for outputs, labels and environment variables: `kv("count", 3)`.
pub fn kv(key: impl Into<String>, value: impl ToString) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.to_string(),
    }
}

/// The error for a workflow name the plugin does not offer, listing the ones it does.
pub fn unknown_workflow(name: &str, info: &PluginInfo) -> String {
    let offered: Vec<&str> = info.workflows.iter().map(|w| w.name.as_str()).collect();
    format!(
        "unknown workflow `{name}`: the {} plugin offers {}",
        info.name,
        offered.join(", ")
    )
}

impl Param {
    /// A param the user must give.
    pub fn required(name: &str, description: &str) -> Param {
        Param {
            name: name.into(),
            description: description.into(),
            required: true,
            default: None,
        }
    }

    /// An optional param with no default: the plugin decides what its absence means
    /// (such as the run's team, from `host::current_run`).
    pub fn optional_unset(name: &str, description: &str) -> Param {
        Param {
            name: name.into(),
            description: description.into(),
            required: false,
            default: None,
        }
    }

    /// An optional param; the host passes `default` when the user gives none.
    pub fn optional(name: &str, description: &str, default: &str) -> Param {
        Param {
            name: name.into(),
            description: description.into(),
            required: false,
            default: Some(default.into()),
        }
    }
}

impl Workflow {
    /// A workflow with its params.
    pub fn new(name: &str, description: &str, params: Vec<Param>) -> Workflow {
        Workflow {
            name: name.into(),
            description: description.into(),
            params,
        }
    }
}

// ---------------------------------------------------------------------------------------
// Docker values

/// Parses a container port such as `80`, `80/tcp` or `53/udp` (tcp when no protocol).
pub fn parse_port(text: &str) -> Result<docker::Port, String> {
    let text = text.trim();
    let (number, protocol) = match text.split_once('/') {
        Some((number, protocol)) => (number, protocol),
        None => (text, "tcp"),
    };
    let protocol = match protocol.to_ascii_lowercase().as_str() {
        "tcp" => docker::Protocol::Tcp,
        "udp" => docker::Protocol::Udp,
        "sctp" => docker::Protocol::Sctp,
        _ => {
            return Err(format!(
                "port `{text}` has an unknown protocol `{protocol}`: use tcp, udp or sctp, as in 80/tcp"
            ))
        }
    };
    match number.parse::<u16>() {
        Ok(port) if port > 0 => Ok(docker::Port { port, protocol }),
        _ => Err(format!(
            "port `{text}` is not a port: give a number from 1 to 65535, as in 80/tcp"
        )),
    }
}

impl fmt::Display for docker::Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            docker::Protocol::Tcp => "tcp",
            docker::Protocol::Udp => "udp",
            docker::Protocol::Sctp => "sctp",
        })
    }
}

impl fmt::Display for docker::Port {
    /// `80/tcp`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.protocol)
    }
}

impl fmt::Display for docker::ContainerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            docker::ContainerState::Created => "created",
            docker::ContainerState::Restarting => "restarting",
            docker::ContainerState::Running => "running",
            docker::ContainerState::Removing => "removing",
            docker::ContainerState::Paused => "paused",
            docker::ContainerState::Exited => "exited",
            docker::ContainerState::Dead => "dead",
        })
    }
}

impl fmt::Display for services::PublishMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            services::PublishMode::Ingress => "ingress",
            services::PublishMode::Host => "host",
        })
    }
}

impl fmt::Display for services::TaskState {
    /// The state as the WIT names it: `running`, `failed`, `shutdown`, ...
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            services::TaskState::New => "new",
            services::TaskState::Allocated => "allocated",
            services::TaskState::Pending => "pending",
            services::TaskState::Assigned => "assigned",
            services::TaskState::Accepted => "accepted",
            services::TaskState::Preparing => "preparing",
            services::TaskState::Ready => "ready",
            services::TaskState::Starting => "starting",
            services::TaskState::Running => "running",
            services::TaskState::Complete => "complete",
            services::TaskState::Shutdown => "shutdown",
            services::TaskState::Failed => "failed",
            services::TaskState::Rejected => "rejected",
            services::TaskState::Remove => "remove",
            services::TaskState::Orphaned => "orphaned",
        })
    }
}

// ---------------------------------------------------------------------------------------
// Errors

impl DockerError {
    /// The kind of error in words: `not found`, `conflict`, `denied by policy`, ...
    pub fn kind(&self) -> &'static str {
        match self {
            DockerError::NotFound(_) => "not found",
            DockerError::Conflict(_) => "conflict",
            DockerError::Denied(_) => "denied by policy",
            DockerError::Invalid(_) => "invalid request",
            DockerError::EngineUnavailable(_) => "Docker engine unavailable",
            DockerError::EngineError(_) => "Docker engine error",
        }
    }

    /// The host's message, without the kind of error.
    pub fn message(&self) -> &str {
        match self {
            DockerError::NotFound(m)
            | DockerError::Conflict(m)
            | DockerError::Denied(m)
            | DockerError::Invalid(m)
            | DockerError::EngineUnavailable(m)
            | DockerError::EngineError(m) => m,
        }
    }

    /// The error as one line for people, `kind: message`, as in
    /// `not found: no such container: web`. Use it in `format!("{}", e.display())`.
    ///
    /// (The `Display` impl that wit-bindgen generates for `DockerError` prints the
    /// `Debug` form, and cannot be replaced: use this instead.)
    pub fn display(&self) -> DisplayDockerError<'_> {
        DisplayDockerError(self)
    }
}

/// A [`DockerError`] shown as one line; see [`DockerError::display`].
pub struct DisplayDockerError<'a>(&'a DockerError);

impl fmt::Display for DisplayDockerError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let message = self.0.message().trim();
        if message.is_empty() {
            f.write_str(self.0.kind())
        } else {
            write!(f, "{}: {message}", self.0.kind())
        }
    }
}

/// Lets `?` turn a [`DockerError`] into the `String` error of [`Guest::run`]. Prefer
/// [`Context::context`], which also says what the plugin was doing.
impl From<DockerError> for String {
    fn from(error: DockerError) -> String {
        error.display().to_string()
    }
}

/// Adds what the plugin was doing to a Docker error:
/// `docker::start_container(&id).context("starting the container")?` fails with
/// `starting the container: conflict: ...`.
pub trait Context<T> {
    /// Prefixes the error with `doing`.
    fn context(self, doing: &str) -> Result<T, String>;
    /// Prefixes the error with the text `doing` returns, computed only on error.
    fn with_context<F: FnOnce() -> String>(self, doing: F) -> Result<T, String>;
}

impl<T> Context<T> for Result<T, DockerError> {
    fn context(self, doing: &str) -> Result<T, String> {
        self.map_err(|e| format!("{doing}: {}", e.display()))
    }

    fn with_context<F: FnOnce() -> String>(self, doing: F) -> Result<T, String> {
        self.map_err(|e| format!("{}: {}", doing(), e.display()))
    }
}

// ---------------------------------------------------------------------------------------
// Logging

/// Shows a debug line to the user (the host may hide it).
pub fn debug(message: &str) {
    host::log(host::Level::Debug, message);
}

/// Shows a line to the user, marked with the plugin's name.
pub fn info(message: &str) {
    host::log(host::Level::Info, message);
}

/// Shows a warning to the user.
pub fn warn(message: &str) {
    host::log(host::Level::Warn, message);
}

/// Shows an error line to the user. To fail the workflow, return `Err` from `run` instead.
pub fn error(message: &str) {
    host::log(host::Level::Error, message);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params() {
        let params = vec![kv("team", "red"), kv("blank", " ")];
        assert_eq!(param(&params, "team"), Some("red"));
        assert_eq!(param(&params, "other"), None);
        assert_eq!(required(&params, "team"), Ok("red"));
        assert!(required(&params, "blank").unwrap_err().contains("empty"));
        assert!(required(&params, "other").unwrap_err().contains("required"));
        assert_eq!(param_or(&params, "blank", "x"), "x");
    }

    #[test]
    fn ports() {
        assert_eq!(parse_port("80").unwrap().to_string(), "80/tcp");
        assert_eq!(parse_port("53/UDP").unwrap().to_string(), "53/udp");
        assert!(parse_port("0").is_err());
        assert!(parse_port("80/xyz").is_err());
        assert!(parse_port("http").is_err());
    }

    #[test]
    fn service_states() {
        assert_eq!(services::TaskState::Running.to_string(), "running");
        assert_eq!(services::TaskState::Shutdown.to_string(), "shutdown");
        assert_eq!(services::PublishMode::Host.to_string(), "host");
    }

    #[test]
    fn errors() {
        let e = DockerError::NotFound("no such container: web".into());
        assert_eq!(e.display().to_string(), "not found: no such container: web");
        let r: Result<(), DockerError> = Err(DockerError::Conflict("in use".into()));
        assert_eq!(
            r.context("removing web").unwrap_err(),
            "removing web: conflict: in use"
        );
    }
}
