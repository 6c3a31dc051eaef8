//! `engine-info`: what engine the plugin is talking to.

use crate::contract::bindings::docker::{DockerError, EngineSummary};
use crate::imports::state::HostState;

pub async fn engine_info(state: &mut HostState) -> Result<EngineSummary, DockerError> {
    let engine = &state.run()?.engine;
    let fail = |e| engine.fail(e);
    let version = engine.docker().await?.version().await.map_err(fail)?;
    let info = engine.docker().await?.info().await.map_err(fail)?;
    let count = |n: Option<i64>| n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
    Ok(EngineSummary {
        version: version.version.unwrap_or_default(),
        api_version: version.api_version.unwrap_or_default(),
        os: version.os.unwrap_or_default(),
        arch: version.arch.unwrap_or_default(),
        kernel_version: version.kernel_version.unwrap_or_default(),
        containers: count(info.containers),
        containers_running: count(info.containers_running),
        images: count(info.images),
    })
}
