//! `dockwright engine` and `dockwright engines`: the Docker engines dockwright talks to.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use super::load::{engine_targets, load_config};
use super::table::table;
use crate::engine::{self, Engine};

pub async fn show(
    config_path: Option<&std::path::Path>,
    name: &str,
    json: bool,
) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    let target = super::load::engine_target(&config, name)?;
    let engine = engine::connect_to(&target).await?;
    let fail = |e| anyhow::anyhow!(crate::engine::errors::describe(&engine.fail(e)));
    let docker = engine
        .docker()
        .await
        .map_err(|e| anyhow::anyhow!(crate::engine::errors::describe(&e)))?;
    let version = docker.version().await.map_err(fail)?;
    let info = docker.info().await.map_err(fail)?;
    let fields = [
        ("name", Some(engine.name.clone())),
        ("address", Some(engine.address.clone())),
        ("version", version.version),
        ("api-version", version.api_version),
        ("os", version.os),
        ("arch", version.arch),
        ("kernel", version.kernel_version),
        ("containers", info.containers.map(|n| n.to_string())),
        ("running", info.containers_running.map(|n| n.to_string())),
        ("images", info.images.map(|n| n.to_string())),
        ("swarm", Some(swarm_role(&info).to_string())),
    ];
    let mut out = std::io::stdout().lock();
    if json {
        let map: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        writeln!(out, "{}", super::json_text(&map)?)?;
    } else {
        let rows: Vec<[String; 2]> = fields
            .into_iter()
            .map(|(k, v)| [k.to_string(), v.unwrap_or_default()])
            .collect();
        for line in table(&rows) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The engine's part in a swarm: `manager`, `worker`, or `none`.
fn swarm_role(info: &bollard::models::SystemInfo) -> &'static str {
    use bollard::models::LocalNodeState;
    let swarm = info.swarm.as_ref();
    match swarm.and_then(|s| s.local_node_state) {
        Some(LocalNodeState::ACTIVE) if swarm.and_then(|s| s.control_available) == Some(true) => {
            "manager"
        }
        Some(LocalNodeState::ACTIVE) => "worker",
        Some(LocalNodeState::PENDING) => "pending",
        Some(LocalNodeState::ERROR) => "error",
        _ => "none",
    }
}

/// What `engines` says of one engine.
struct Status {
    name: String,
    address: String,
    answer: Result<(String, String, String), String>,
}

async fn status(engine: Result<Engine>, name: String, address: String) -> Status {
    let answer = async {
        let engine = engine.map_err(|e| format!("{e:#}"))?;
        let fail = |e| crate::engine::errors::describe(&engine.fail(e));
        let docker = engine
            .docker()
            .await
            .map_err(|e| crate::engine::errors::describe(&e))?;
        let version = docker.version().await.map_err(fail)?;
        let info = docker.info().await.map_err(fail)?;
        Ok((
            version.version.unwrap_or_default(),
            version.api_version.unwrap_or_default(),
            swarm_role(&info).to_string(),
        ))
    }
    .await;
    Status {
        name,
        address,
        answer,
    }
}

/// Every engine of the config (and the default one), asked at once: whether it
/// answers, its version, API version and swarm role. Exits 1 when one does not answer.
pub async fn list(config_path: Option<&std::path::Path>, json: bool) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    let targets = engine_targets(&config);
    let asks = targets.iter().map(|t| {
        let (name, address) = (t.name.clone(), t.host.clone());
        async move { status(engine::connect_to(t).await, name, address).await }
    });
    let statuses = futures_util::future::join_all(asks).await;
    let all_answer = statuses.iter().all(|s| s.answer.is_ok());
    let mut out = std::io::stdout().lock();
    if json {
        let list: Vec<serde_json::Value> = statuses
            .iter()
            .map(|s| match &s.answer {
                Ok((version, api, swarm)) => json!({
                    "name": s.name, "address": s.address, "reachable": true,
                    "version": version, "api_version": api, "swarm": swarm,
                }),
                Err(e) => json!({
                    "name": s.name, "address": s.address, "reachable": false, "error": e,
                }),
            })
            .collect();
        writeln!(out, "{}", super::json_text(&json!({ "engines": list }))?)?;
    } else {
        let mut rows = vec![["NAME", "ADDRESS", "VERSION", "API", "SWARM"].map(String::from)];
        rows.extend(statuses.iter().map(|s| match &s.answer {
            Ok((version, api, swarm)) => [
                s.name.clone(),
                s.address.clone(),
                version.clone(),
                api.clone(),
                swarm.clone(),
            ],
            Err(e) => [
                s.name.clone(),
                s.address.clone(),
                format!("unreachable: {e}"),
                String::new(),
                String::new(),
            ],
        }));
        for line in table(&rows) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(if all_answer {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
