//! `wait-ready`: wait until a container answers on a published port or prints a
//! line, failing early when it stops running.

use std::time::{Duration, Instant};

use bollard::query_parameters::LogsOptions;
use futures_util::StreamExt;

use super::{convert, guard};
use crate::contract::bindings::docker::{ContainerState, DockerError, Readiness};
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
    let id = guard::owned_id(run, container).await?;
    let engine = run.engine.clone();
    let timeout = Duration::from_millis(u64::from(timeout_ms)).min(MAX_TIMEOUT);
    let deadline = Instant::now() + timeout;
    loop {
        let info = engine
            .docker
            .inspect_container(&id, None)
            .await
            .map(convert::container_info)
            .map_err(|e| engine.fail(e))?;
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
            Readiness::TcpPort(port) => {
                let Some(published) = info
                    .ports
                    .iter()
                    .find(|p| p.container_port == port.port && p.protocol == port.protocol)
                else {
                    return Err(DockerError::Invalid(format!(
                        "`{container}` does not publish {} on the host: publish it when creating the container",
                        convert::port_key(port)
                    )));
                };
                let host = match published.host_ip.as_str() {
                    "" | "0.0.0.0" | "::" => engine.published_host.clone(),
                    ip => ip.to_string(),
                };
                tcp_answers(&host, published.host_port).await
            }
            Readiness::LogLine(text) => log_contains(&engine, &id, text).await?,
        };
        if ready {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(DockerError::Conflict(format!(
                "`{container}` was not ready after {} ms",
                timeout.as_millis()
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn tcp_answers(host: &str, port: u16) -> bool {
    let connect = tokio::net::TcpStream::connect((host, port));
    matches!(
        tokio::time::timeout(Duration::from_secs(1), connect).await,
        Ok(Ok(_))
    )
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
    let mut chunks = engine.docker.logs(container, Some(query));
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
