//! `wait-ready`: wait until a container answers on a published port or prints a
//! line, failing early when it stops running.

use std::time::{Duration, Instant};

use bollard::query_parameters::LogsOptions;
use futures_util::StreamExt;

use super::{convert, guard};
use bollard::models::ContainerInspectResponse;

use crate::contract::bindings::docker::{ContainerState, DockerError, Protocol, Readiness};
use crate::imports::state::HostState;

/// How often the condition is checked.
const POLL: Duration = Duration::from_millis(100);
/// Longest wait a plugin may ask for.
const MAX_TIMEOUT: Duration = Duration::from_secs(600);

pub async fn wait_ready(
    state: &mut HostState,
    container: &str,
    check: Readiness,
    timeout_ms: u32,
) -> Result<(), DockerError> {
    let run = state.run()?;
    // The check's answer is the first look at the container's state: not asked twice.
    let mut first = Some(guard::real(run, container).await?);
    let id = first
        .as_ref()
        .and_then(|f| f.id.clone())
        .unwrap_or_default();
    let engine = run.engine.clone();
    let timeout = Duration::from_millis(u64::from(timeout_ms)).min(MAX_TIMEOUT);
    let deadline = Instant::now() + timeout;
    loop {
        let raw = match first.take() {
            Some(raw) => raw,
            None => engine
                .docker()
                .await?
                .inspect_container(&id, None)
                .await
                .map_err(|e| engine.fail(e))?,
        };
        let address = container_address(&raw, run.network.as_deref());
        let info = convert::container_info(raw);
        match info.state {
            ContainerState::Running => {}
            ContainerState::Created | ContainerState::Restarting => {}
            other => {
                return Err(DockerError::Conflict(format!(
                    "`{container}` is {} (exit code {}), so it will not become ready",
                    convert::state_name(other),
                    info.exit_code.map_or("none".into(), |c| c.to_string())
                )))
            }
        }
        let ready = match &check {
            Readiness::TcpPort(port) if port.protocol != Protocol::Tcp => {
                return Err(DockerError::Invalid(format!(
                    "tcp-port readiness needs a tcp port, not {}",
                    convert::port_key(port)
                )));
            }
            // The container's own address: only the process inside can accept there.
            Readiness::TcpPort(port) if engine.is_local() => match &address {
                Some(ip) => tcp_answers(ip, port.port).await,
                None => false,
            },
            Readiness::TcpPort(port) => {
                // A remote engine's container addresses are out of reach: try the
                // published port, and count a connection the engine's proxy closes
                // at once (nothing listens behind it) as not ready.
                let Some(published) = info
                    .ports
                    .iter()
                    .find(|p| p.container_port == port.port && p.protocol == port.protocol)
                else {
                    return Err(DockerError::Invalid(format!(
                        "`{container}` does not publish {} on the host, and the engine at {} is not on this machine: publish it when creating the container",
                        convert::port_key(port),
                        engine.address
                    )));
                };
                let host = match published.host_ip.as_str() {
                    "" | "0.0.0.0" | "::" => engine.published_host.clone(),
                    ip => ip.to_string(),
                };
                proxied_answers(&host, published.host_port).await
            }
            Readiness::LogLine(text) => log_contains(&engine, &id, text).await?,
        };
        if ready {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let what = match &check {
                Readiness::TcpPort(port) => format!(
                    ": nothing inside it accepted a connection on {}",
                    convert::port_key(port)
                ),
                Readiness::LogLine(text) => format!(": no log line contained `{text}`"),
            };
            return Err(DockerError::Conflict(format!(
                "`{container}` was not ready after {} ms{what}",
                timeout.as_millis()
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The container's address on the team's network (or, for a container made before
/// team networks, on any network it has).
fn container_address(raw: &ContainerInspectResponse, team_network: Option<&str>) -> Option<String> {
    let networks = raw.network_settings.as_ref()?.networks.as_ref()?;
    let ip_of =
        |n: &bollard::models::EndpointSettings| n.ip_address.clone().filter(|ip| !ip.is_empty());
    team_network
        .and_then(|id| {
            networks
                .values()
                .find(|n| n.network_id.as_deref() == Some(id))
                .and_then(ip_of)
        })
        .or_else(|| networks.values().find_map(ip_of))
}

async fn tcp_answers(host: &str, port: u16) -> bool {
    let connect = tokio::net::TcpStream::connect((host, port));
    matches!(
        tokio::time::timeout(Duration::from_secs(1), connect).await,
        Ok(Ok(_))
    )
}

/// Whether a published port leads to a listener: the proxy accepts whatever is
/// behind it, then closes at once when nothing is.
async fn proxied_answers(host: &str, port: u16) -> bool {
    use tokio::io::AsyncReadExt;
    let connect = tokio::net::TcpStream::connect((host, port));
    let Ok(Ok(mut stream)) = tokio::time::timeout(Duration::from_secs(1), connect).await else {
        return false;
    };
    let mut byte = [0u8; 1];
    match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut byte)).await {
        // Closed straight away: the proxy found nothing to forward to.
        Ok(Ok(0)) | Ok(Err(_)) => false,
        // A greeting, or a server waiting for the client to speak.
        Ok(Ok(_)) | Err(_) => true,
    }
}

async fn log_contains(
    engine: &crate::engine::Engine,
    container: &str,
    text: &str,
) -> Result<bool, DockerError> {
    let query = LogsOptions {
        stdout: true,
        stderr: true,
        tail: "all".into(),
        ..Default::default()
    };
    let mut chunks = engine.docker().await?.logs(container, Some(query));
    // Lines can span chunks; keep the tail of the previous chunk to match across them.
    let mut carry = String::new();
    while let Some(chunk) = chunks.next().await {
        let chunk = chunk.map_err(|e| engine.fail(e))?;
        carry.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
        if carry.contains(text) {
            return Ok(true);
        }
        let keep = carry.len().saturating_sub(text.len());
        let keep = (keep..=carry.len())
            .find(|i| carry.is_char_boundary(*i))
            .unwrap_or(0);
        carry.drain(..keep);
    }
    Ok(false)
}
