//! Host ports for teams whose policy allows only a range. The engine picks "any"
//! ports from the kernel's ephemeral range, which such a range may not cover, so the
//! host picks them itself, from the range, skipping ports already published.

use std::collections::HashSet;
use std::ops::RangeInclusive;

use bollard::models::ContainerSummary;

use crate::contract::bindings::docker::{ContainerSpec, DockerError, PortBinding};
use crate::imports::state::RunContext;
use crate::policy;

use super::convert;

/// Turn "any host port" requests (and publish-all) into explicit ports in the
/// team's range, when the engine's own choice could fall outside it. The listing of
/// every container this took to see which ports are taken is returned, for the
/// quota count that follows to use rather than ask again.
pub async fn resolve(
    run: &RunContext,
    spec: &mut ContainerSpec,
) -> Result<Option<Vec<ContainerSummary>>, DockerError> {
    // A plan picks every port itself: the engine's own choice is made only on a real create.
    // Publish-all binds every address: a team limited to some gets explicit bindings.
    if !policy::ports_need_picking(&run.policy)
        && run.policy.host_ips.is_empty()
        && !run.mode.is_plan()
    {
        return Ok(None);
    }
    let engine = &run.engine;
    if let Some(mut plan) = run.mode.plan() {
        if spec.publish_all && plan.is_simulated_image(&spec.image) {
            let what = format!(
                "image `{}` (whose exposed ports publish-all reads)",
                spec.image
            );
            return Err(plan.stop_here(super::plan::needs_real(&what)));
        }
    }
    if spec.publish_all {
        let image = engine
            .docker()
            .await?
            .inspect_image(&spec.image)
            .await
            .map_err(|e| engine.fail(e))?;
        let from_image = image
            .config
            .and_then(|c| c.exposed_ports)
            .unwrap_or_default()
            .iter()
            .filter_map(|k| convert::parse_port_key(k))
            .collect::<Vec<_>>();
        for port in from_image.iter().chain(&spec.exposed_ports) {
            let same = |b: &PortBinding| {
                b.container_port.port == port.port && b.container_port.protocol == port.protocol
            };
            if !spec.port_bindings.iter().any(same) {
                spec.port_bindings.push(PortBinding {
                    container_port: crate::contract::bindings::docker::Port {
                        port: port.port,
                        protocol: port.protocol,
                    },
                    host_port: None,
                    host_ip: None,
                });
            }
        }
        spec.publish_all = false;
    }
    // Port 0 means "any" to the engine: treat it so.
    for b in &mut spec.port_bindings {
        if b.host_port == Some(0) {
            b.host_port = None;
        }
    }
    if spec.port_bindings.iter().all(|b| b.host_port.is_some()) {
        return Ok(None);
    }
    let listing = super::guard::containers(run, Vec::new()).await?;
    let mut taken = published(&listing);
    taken.extend(run.mode.plan().map(|p| p.ports()).unwrap_or_default());
    let mut picker = Picker::new(run, taken);
    for binding in spec
        .port_bindings
        .iter_mut()
        .filter(|b| b.host_port.is_none())
    {
        binding.host_port = Some(picker.next()?);
    }
    Ok(Some(listing))
}

/// Free ports of the team's range, one after another, none given twice.
struct Picker<'a> {
    run: &'a RunContext,
    taken: HashSet<u16>,
    local: bool,
    start: u32,
}

impl<'a> Picker<'a> {
    fn new(run: &'a RunContext, taken: HashSet<u16>) -> Self {
        Picker {
            run,
            taken,
            local: run.engine.published_host == "127.0.0.1",
            start: seed(),
        }
    }

    fn next(&mut self) -> Result<u16, DockerError> {
        let range = self.run.policy.host_ports.clone();
        let local = self.local;
        let port = pick_port(&range, &self.taken, self.start, |p| !local || bindable(p))
            .ok_or_else(|| {
                DockerError::Conflict(format!(
                    "no free host port left in the team's range {}-{}",
                    range.start(),
                    range.end()
                ))
            })?;
        self.taken.insert(port);
        Ok(port)
    }
}

/// The first port of `range`, counting from `offset` and wrapping, that is not taken
/// and that `is_free` accepts.
pub fn pick_port(
    range: &RangeInclusive<u16>,
    taken: &HashSet<u16>,
    offset: u32,
    is_free: impl Fn(u16) -> bool,
) -> Option<u16> {
    let (lo, hi) = (u32::from(*range.start()), u32::from(*range.end()));
    if lo > hi {
        return None;
    }
    let size = hi - lo + 1;
    (0..size)
        .map(|i| (lo + (offset + i) % size) as u16)
        .find(|p| !taken.contains(p) && is_free(*p))
}

/// The host ports the containers of `listing` publish, and those the host picked for
/// containers that are not running (which the engine lists with no ports).
fn published(listing: &[ContainerSummary]) -> HashSet<u16> {
    let running = listing
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .filter_map(|p| p.public_port);
    let picked = listing
        .iter()
        .filter_map(|c| c.labels.as_ref()?.get(policy::labels::HOST_PORTS))
        .flat_map(|ports| ports.split(',').filter_map(|p| p.trim().parse().ok()));
    running.chain(picked).collect()
}

/// The label value that records the host ports of `spec`: none when it names none.
pub fn picked_label(spec: &ContainerSpec) -> Option<String> {
    let ports: Vec<String> = spec
        .port_bindings
        .iter()
        .filter_map(|b| b.host_port)
        .map(|p| p.to_string())
        .collect();
    (!ports.is_empty()).then(|| ports.join(","))
}

/// Give every port of a new service that asks for "any" published port one from
/// the team's range, when the engine's own choice could fall outside it. Ports
/// published by any container or service of the engine are skipped.
pub async fn resolve_service(
    run: &RunContext,
    spec: &mut crate::contract::bindings::services::ServiceSpec,
) -> Result<(), DockerError> {
    if !spec
        .ports
        .iter()
        .any(|p| policy::services::port_needs_picking(&run.policy, p))
    {
        return Ok(());
    }
    let mut taken = published(&super::guard::containers(run, Vec::new()).await?);
    let services = match run
        .engine
        .docker()
        .await?
        .list_services(None::<bollard::query_parameters::ListServicesOptions>)
        .await
    {
        Ok(found) => found,
        Err(e) if crate::engine::services::not_a_manager(&e) => Vec::new(),
        Err(e) => return Err(run.engine.fail(e)),
    };
    taken.extend(
        services
            .iter()
            .filter_map(|s| s.endpoint.as_ref()?.ports.as_ref())
            .flatten()
            .filter_map(|p| u16::try_from(p.published_port?).ok()),
    );
    let mut picker = Picker::new(run, taken);
    for port in spec.ports.iter_mut() {
        if policy::services::port_needs_picking(&run.policy, port) {
            port.published_port = Some(picker.next()?);
        }
    }
    Ok(())
}

/// Whether nothing on this machine listens on the port.
fn bindable(port: u16) -> bool {
    std::net::TcpListener::bind(("0.0.0.0", port)).is_ok()
}

/// Where to start looking, so concurrent runs do not all race for the same port.
fn seed() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.finish() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_within_the_range_skipping_taken_ports() {
        let taken = HashSet::from([30000, 30001]);
        assert_eq!(
            pick_port(&(30000..=30003), &taken, 0, |_| true),
            Some(30002)
        );
        assert_eq!(
            pick_port(&(30000..=30003), &taken, 3, |_| true),
            Some(30003)
        );
        // Wraps around from the offset.
        assert_eq!(
            pick_port(&(30000..=30003), &HashSet::new(), 5, |_| true),
            Some(30001)
        );
        assert_eq!(
            pick_port(&(30000..=30003), &taken, 0, |p| p != 30002),
            Some(30003)
        );
        assert_eq!(pick_port(&(30000..=30001), &taken, 0, |_| true), None);
        assert_eq!(
            pick_port(&(65535..=65535), &HashSet::new(), 7, |_| true),
            Some(65535)
        );
    }

    #[test]
    fn ports_picked_for_containers_not_yet_started_count_as_taken() {
        let summary = |ports: Option<u16>, label: Option<&str>| ContainerSummary {
            ports: ports.map(|p| {
                vec![bollard::models::PortSummary {
                    public_port: Some(p),
                    ..Default::default()
                }]
            }),
            labels: label.map(|l| {
                std::collections::HashMap::from([(
                    policy::labels::HOST_PORTS.to_string(),
                    l.to_string(),
                )])
            }),
            ..Default::default()
        };
        let listing = [
            summary(Some(30010), None),
            // Created, not started: the engine lists no ports for it.
            summary(None, Some("30154,30155")),
            summary(None, Some("junk")),
        ];
        assert_eq!(published(&listing), HashSet::from([30010, 30154, 30155]));
    }
}
