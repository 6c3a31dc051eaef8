//! Connecting to the Docker engine the way the docker CLI does.
//!
//! `DOCKER_HOST` picks the engine (a unix socket by default, or `tcp://host:port`);
//! `DOCKER_TLS_VERIFY` with `DOCKER_CERT_PATH` (`key.pem`, `cert.pem`, `ca.pem`) turns
//! on TLS. The API version is negotiated at connect: engines as old as API 1.41 are
//! common, and a client that speaks a newer version is refused by them.

use std::time::Duration;

use anyhow::Result;
use bollard::Docker;

/// Where the engine listens when `DOCKER_HOST` is not set.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// How long to wait for the engine to answer the version handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Engine calls such as `wait` legitimately block for long; the run's own deadline,
/// not the client's, decides when to give up.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(24 * 3600);

/// A connected engine.
#[derive(Clone)]
pub struct Engine {
    pub docker: Docker,
    /// The address we connected to, for messages.
    pub address: String,
    /// The host where published ports can be reached.
    pub published_host: String,
}

impl Engine {
    /// The contract's error for a failed call to this engine.
    pub fn fail(&self, err: bollard::errors::Error) -> crate::bindings::docker::DockerError {
        crate::errors::from_bollard(err, &self.address)
    }

    /// Success for calls whose target is already as asked: the engine answers
    /// 304 Not Modified when starting a running container or stopping a stopped one.
    pub fn ok_if_unchanged(
        &self,
        result: Result<(), bollard::errors::Error>,
    ) -> Result<(), crate::bindings::docker::DockerError> {
        match result {
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 304, ..
            }) => Ok(()),
            other => other.map_err(|e| self.fail(e)),
        }
    }
}

/// The engine address from the environment, as the docker CLI reads it.
pub fn address_from_env() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_HOST.to_string())
}

/// The host on which the engine publishes ports: the engine's own host for a TCP
/// address, this machine for a local socket.
pub fn published_host(address: &str) -> String {
    let rest = ["tcp://", "http://", "https://"]
        .iter()
        .find_map(|scheme| address.strip_prefix(scheme));
    let Some(rest) = rest else {
        return "127.0.0.1".to_string();
    };
    let authority = rest.split('/').next().unwrap_or(rest);
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() || host == "0.0.0.0" {
        "127.0.0.1".to_string()
    } else {
        host.to_string()
    }
}

/// Connect to the engine named by the environment and negotiate the API version.
pub async fn connect() -> Result<Engine> {
    let address = address_from_env();
    let fail =
        |detail: String| anyhow::anyhow!(crate::errors::describe_unreachable(&address, &detail));
    let docker = Docker::connect_with_defaults()
        .map_err(|e| fail(root_cause(&e)))?
        .with_timeout(REQUEST_TIMEOUT);
    let docker = tokio::time::timeout(HANDSHAKE_TIMEOUT, docker.negotiate_version())
        .await
        .map_err(|_| fail(format!("no answer in {}s", HANDSHAKE_TIMEOUT.as_secs())))?
        .map_err(|e| fail(root_cause(&e)))?;
    Ok(Engine {
        docker,
        published_host: published_host(&address),
        address,
    })
}

/// The innermost cause of an error: "Connection refused (os error 111)" says more
/// to a user than the layers of client wrapping around it.
pub fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = err;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_hosts() {
        let cases = [
            ("unix:///var/run/docker.sock", "127.0.0.1"),
            ("tcp://127.0.0.1:2375", "127.0.0.1"),
            ("tcp://docker.example:2376", "docker.example"),
            ("tcp://10.0.0.5", "10.0.0.5"),
            ("https://[::1]:2376/", "::1"),
            ("tcp://0.0.0.0:2375", "127.0.0.1"),
        ];
        for (address, want) in cases {
            assert_eq!(published_host(address), want, "{address}");
        }
    }
}
