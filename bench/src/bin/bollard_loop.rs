//! `bollard-loop`: the floor for a sequential client doing the benchmark's work.
//!
//! For i in 1..=N: create `<prefix>-<i>` from `dockwright/web:latest` with `TEAM=bench` and every
//! exposed port published, start it, inspect it and read its published port. Then remove them
//! all, forced. The same engine calls as one item of the dockwright `provision`/`remove`
//! workflows, with nothing around them: no plugin, no policy, no journal.
//!
//! ```text
//! bollard-loop --n N --prefix P [--network NET]
//! {"ms": 10234.5, "provision_ms": 6120.3, "remove_ms": 4114.2, "n": 20}
//! ```
//!
//! With `--network NET` each container joins that network (the host config's network mode)
//! instead of the default bridge: a user-defined bridge, as dockwright's team networks are.
//!
//! The time runs from before the connection (with its version handshake) to the last removal.
//! The containers it made are removed even when a step fails.

use std::time::Instant;

use anyhow::{bail, Context, Result};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{CreateContainerOptions, RemoveContainerOptions};
use bollard::Docker;
use serde_json::json;

const IMAGE: &str = "dockwright/web:latest";

struct Args {
    n: usize,
    prefix: String,
    network: Option<String>,
}

fn parse_args() -> Result<Args> {
    let mut n = 20;
    let mut prefix = format!("bollard-{}", std::process::id());
    let mut network = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--n" => n = value()?.parse().context("--n: not a whole number")?,
            "--prefix" => prefix = value()?,
            "--network" => network = Some(value()?),
            "-h" | "--help" => {
                println!("usage: bollard-loop [--n N] [--prefix P] [--network NET]");
                std::process::exit(0);
            }
            other => bail!(
                "unknown argument `{other}` (usage: bollard-loop --n N --prefix P [--network NET])"
            ),
        }
    }
    Ok(Args { n, prefix, network })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let started = Instant::now();
    let docker = Docker::connect_with_defaults()
        .context("cannot connect to the Docker engine")?
        .negotiate_version()
        .await
        .context("cannot negotiate the API version with the Docker engine")?;

    let mut created = Vec::with_capacity(args.n);
    let provisioned = provision_all(&docker, &args, &mut created).await;
    let provision_ms = ms(started);
    let removed = remove_all(&docker, &created).await;
    let total_ms = ms(started);
    provisioned?;
    removed?;
    println!(
        "{}",
        json!({
            "ms": total_ms,
            "provision_ms": provision_ms,
            "remove_ms": total_ms - provision_ms,
            "n": args.n,
        })
    );
    Ok(())
}

/// Create, start and inspect each container in turn; `created` collects the ids so far.
async fn provision_all(docker: &Docker, args: &Args, created: &mut Vec<String>) -> Result<()> {
    for i in 1..=args.n {
        let name = format!("{}-{i}", args.prefix);
        let body = ContainerCreateBody {
            image: Some(IMAGE.to_string()),
            env: Some(vec!["TEAM=bench".to_string()]),
            host_config: Some(HostConfig {
                publish_all_ports: Some(true),
                network_mode: args.network.clone(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let options = CreateContainerOptions {
            name: Some(name.clone()),
            ..Default::default()
        };
        let id = docker
            .create_container(Some(options), body)
            .await
            .with_context(|| format!("create {name}"))?
            .id;
        created.push(id.clone());
        docker
            .start_container(&id, None)
            .await
            .with_context(|| format!("start {name}"))?;
        let info = docker
            .inspect_container(&id, None)
            .await
            .with_context(|| format!("inspect {name}"))?;
        let port = info
            .network_settings
            .and_then(|n| n.ports)
            .into_iter()
            .flat_map(|ports| ports.into_values())
            .flatten()
            .flatten()
            .find_map(|binding| binding.host_port);
        if port.is_none() {
            bail!("{name} has no published port");
        }
    }
    Ok(())
}

/// Remove every container in `ids`, forced; try them all, report the first failure.
async fn remove_all(docker: &Docker, ids: &[String]) -> Result<()> {
    let options = RemoveContainerOptions {
        force: true,
        ..Default::default()
    };
    let mut first_error = None;
    for id in ids {
        if let Err(e) = docker.remove_container(id, Some(options.clone())).await {
            first_error.get_or_insert(anyhow::Error::from(e).context(format!("remove {id}")));
        }
    }
    first_error.map_or(Ok(()), Err)
}

fn ms(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1e6).round() / 1e3
}
