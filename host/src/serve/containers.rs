//! A team's containers on the engine, found by the host's ownership labels: listed
//! like `docker ps`, looked up one at a time, and removed run by run. Every query
//! filters on the team's label at the engine, so another team's container is never
//! even fetched.

use std::collections::HashMap;

use bollard::models::ContainerSummary;
use bollard::query_parameters::ListContainersOptions;
use serde::Serialize;

use super::engines::Engines;
use crate::contract::bindings::docker::DockerError;
use crate::engine::Engine;
use crate::policy::labels;
use crate::policy::TeamPolicy;
use crate::run::config::Config;

/// One container as the API lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Container {
    /// The engine it is on, by its name in the config.
    pub engine: String,
    pub id: String,
    pub name: String,
    pub image: String,
    /// `created`, `running`, `exited`, ...
    pub state: String,
    /// As `docker ps` says it: "Up 5 minutes", "Exited (0) 2 hours ago".
    pub status: String,
    pub ports: Vec<Port>,
    /// The run and plugin that created it.
    pub run: String,
    pub plugin: String,
    /// Unix seconds.
    pub created: i64,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Port {
    /// The port inside the container.
    pub container_port: u16,
    pub protocol: String,
    /// Where it is published on the engine's host, if it is: the first address
    /// (IPv4 before IPv6), and all the addresses it binds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub host_ips: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_port: Option<u16>,
}

/// The team's containers (with `run`: only that run's), running or not.
pub async fn list(
    engine: &Engine,
    team: &str,
    run: Option<&str>,
) -> Result<Vec<Container>, DockerError> {
    let mut wanted = vec![format!("{}={team}", labels::TEAM)];
    if let Some(run) = run {
        wanted.push(format!("{}={run}", labels::RUN));
    }
    let query = ListContainersOptions {
        all: true,
        // Several label filters must all match.
        filters: Some(HashMap::from([("label".to_string(), wanted)])),
        ..Default::default()
    };
    let found = engine
        .docker()
        .await?
        .list_containers(Some(query))
        .await
        .map_err(|e| engine.fail(e))?;
    let mut out: Vec<Container> = found
        .into_iter()
        // The engine filtered already; checking again costs nothing and keeps a
        // filter the engine ignored from ever showing another team's container.
        .filter(|c| owned(c, team))
        .map(|c| container(&engine.name, c))
        .collect();
    out.sort_by(|a, b| b.created.cmp(&a.created).then(a.name.cmp(&b.name)));
    Ok(out)
}

fn owned(c: &ContainerSummary, team: &str) -> bool {
    c.labels
        .as_ref()
        .is_some_and(|l| crate::policy::owned_by(team, l))
}

fn container(engine: &str, c: ContainerSummary) -> Container {
    let label = |key: &str| {
        c.labels
            .as_ref()
            .and_then(|l| l.get(key))
            .cloned()
            .unwrap_or_default()
    };
    // The engine lists a port bound on every address once per address family:
    // reported once, with the addresses it binds, by the rule the plugins' listing
    // keeps (the IPv4 binding wins: the families can get different host ports).
    let mut ports: Vec<Port> = Vec::new();
    let mut listed: Vec<_> = c.ports.iter().flatten().collect();
    crate::imports::convert::without_ipv6_twins(
        &mut listed,
        |p| p.ip.as_deref(),
        |p| (p.private_port, p.typ),
    );
    listed.sort_by_key(|p| {
        let ip = p.ip.clone().unwrap_or_default();
        (p.private_port, p.public_port, ip.contains(':'), ip)
    });
    for p in listed {
        let protocol = p.typ.map(|t| t.to_string()).unwrap_or_else(|| "tcp".into());
        let same = ports.iter_mut().find(|q| {
            (q.container_port, &q.protocol, q.host_port)
                == (p.private_port, &protocol, p.public_port)
        });
        match (same, &p.ip) {
            (Some(q), Some(ip)) => {
                if !q.host_ips.contains(ip) {
                    q.host_ips.push(ip.clone());
                }
            }
            (Some(_), None) => {}
            (None, ip) => ports.push(Port {
                container_port: p.private_port,
                protocol,
                host_ip: ip.clone(),
                host_ips: ip.iter().cloned().collect(),
                host_port: p.public_port,
            }),
        }
    }
    ports.sort_by(|a, b| {
        (a.container_port, &a.protocol, a.host_port).cmp(&(
            b.container_port,
            &b.protocol,
            b.host_port,
        ))
    });
    Container {
        engine: engine.to_string(),
        run: label(labels::RUN),
        plugin: label(labels::PLUGIN),
        id: c.id.clone().unwrap_or_default(),
        name: c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default(),
        image: c.image.clone().unwrap_or_default(),
        state: c.state.map(|s| s.to_string()).unwrap_or_default(),
        status: c.status.clone().unwrap_or_default(),
        created: c.created.unwrap_or_default(),
        ports,
    }
}

/// An engine that could not be listed, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Unreachable {
    pub engine: String,
    pub error: String,
}

/// The team's containers on every engine of the config it may use, listed at
/// once; an engine that does not answer is named with why, and the others are
/// listed still.
pub async fn list_all(
    engines: &Engines,
    config: &Config,
    team: &TeamPolicy,
) -> (Vec<Container>, Vec<Unreachable>) {
    let names = Engines::allowed(config, team);
    let listings = names.iter().map(|name| async move {
        let engine = engines.get(config, name).await.map_err(|e| e.message)?;
        list(&engine, &team.name, None)
            .await
            .map_err(|e| crate::engine::errors::describe(&e))
    });
    let mut all = Vec::new();
    let mut unreachable = Vec::new();
    for (name, listed) in names
        .iter()
        .zip(futures_util::future::join_all(listings).await)
    {
        match listed {
            Ok(list) => all.extend(list),
            Err(error) => unreachable.push(Unreachable {
                engine: name.clone(),
                error,
            }),
        }
    }
    (all, unreachable)
}

/// The team's container that `reference` names: its full id, a unique id prefix
/// (at least 4 characters, as short ones match too much), or its name.
pub fn pick<'a>(containers: &'a [Container], reference: &str) -> Option<&'a Container> {
    let reference = reference.trim_start_matches('/');
    if let Some(c) = containers
        .iter()
        .find(|c| c.id == reference || c.name == reference)
    {
        return Some(c);
    }
    let mut prefixed = containers
        .iter()
        .filter(|c| reference.len() >= 4 && c.id.starts_with(reference));
    match (prefixed.next(), prefixed.next()) {
        (Some(one), None) => Some(one),
        _ => None,
    }
}

/// What removing a run's containers did.
#[derive(Debug, Default, Serialize)]
pub struct Removed {
    pub removed: Vec<String>,
    /// `<short id>: why`.
    pub failed: Vec<String>,
}

/// Remove these containers (stopping them first), as a rollback does. One already
/// gone counts as removed.
pub async fn remove(engine: &Engine, containers: &[Container]) -> Removed {
    let ids: Vec<String> = containers.iter().map(|c| c.id.clone()).collect();
    let (removed, failed) = crate::engine::containers::remove_all(engine, &ids).await;
    Removed { removed, failed }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{PortSummary, PortSummaryTypeEnum};

    fn summary(id: &str, name: &str, team: &str) -> ContainerSummary {
        ContainerSummary {
            id: Some(id.into()),
            names: Some(vec![format!("/{name}")]),
            image: Some("dockwright/web:latest".into()),
            labels: Some(HashMap::from([
                (labels::TEAM.to_string(), team.to_string()),
                (labels::RUN.to_string(), "r1".to_string()),
            ])),
            status: Some("Up 2 seconds".into()),
            created: Some(7),
            ports: Some(vec![
                PortSummary {
                    ip: Some("0.0.0.0".into()),
                    private_port: 80,
                    public_port: Some(32768),
                    typ: Some(PortSummaryTypeEnum::TCP),
                },
                PortSummary {
                    ip: None,
                    private_port: 53,
                    public_port: None,
                    typ: Some(PortSummaryTypeEnum::UDP),
                },
            ]),
            ..Default::default()
        }
    }

    #[test]
    fn containers_as_listed() {
        let c = container("default", summary("abcdef123456", "web", "blue"));
        assert_eq!(c.name, "web");
        assert_eq!(c.run, "r1");
        assert_eq!(c.ports.len(), 2);
        assert_eq!(c.ports[0].container_port, 53);
        assert_eq!(c.ports[1].host_port, Some(32768));
        assert_eq!(c.ports[1].protocol, "tcp");
        assert!(owned(&summary("x", "y", "blue"), "blue"));
        assert!(!owned(&summary("x", "y", "blue"), "red"));
    }

    /// The two families given different host ports: the IPv4 one is shown, once.
    #[test]
    fn a_port_is_shown_by_its_ipv4_binding() {
        let mut c = summary("abcdef123456", "web", "blue");
        let port = |ip: &str, public| PortSummary {
            ip: Some(ip.into()),
            private_port: 80,
            public_port: Some(public),
            typ: Some(PortSummaryTypeEnum::TCP),
        };
        c.ports = Some(vec![port("::", 32829), port("0.0.0.0", 32828)]);
        let shown = container("default", c.clone()).ports;
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert_eq!(shown[0].host_port, Some(32828));
        // The same port on both: once, with both addresses.
        c.ports = Some(vec![port("::", 32828), port("0.0.0.0", 32828)]);
        let shown = container("default", c).ports;
        assert_eq!(shown.len(), 1, "{shown:?}");
    }

    #[test]
    fn picking_by_id_prefix_or_name() {
        let all = vec![
            container("default", summary("abcdef123456", "web", "blue")),
            container("default", summary("abcd99999999", "db", "blue")),
        ];
        assert_eq!(pick(&all, "web").unwrap().id, "abcdef123456");
        assert_eq!(pick(&all, "/db").unwrap().id, "abcd99999999");
        assert_eq!(pick(&all, "abcdef").unwrap().name, "web");
        assert!(pick(&all, "abcd").is_none(), "ambiguous prefix");
        assert!(pick(&all, "abc").is_none(), "too short");
        assert!(pick(&all, "nope").is_none());
    }
}
