//! `dockwright engine`: the Docker engine dockwright talks to.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;

use super::table::table;
use crate::engine;

pub async fn show(json: bool) -> Result<ExitCode> {
    let engine = engine::connect().await?;
    let fail = |e| anyhow::anyhow!(crate::engine::errors::describe(&engine.fail(e)));
    let version = engine.docker.version().await.map_err(fail)?;
    let info = engine.docker.info().await.map_err(fail)?;
    let fields = [
        ("address", Some(engine.address.clone())),
        ("version", version.version),
        ("api-version", version.api_version),
        ("os", version.os),
        ("arch", version.arch),
        ("kernel", version.kernel_version),
        ("containers", info.containers.map(|n| n.to_string())),
        ("running", info.containers_running.map(|n| n.to_string())),
        ("images", info.images.map(|n| n.to_string())),
    ];
    let mut out = std::io::stdout().lock();
    if json {
        let map: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&map)?)?;
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
