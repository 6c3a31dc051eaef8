//! Whether a team may create or scale a Swarm service: the same rules as for
//! containers, counted per task. Each replica counts as one of the team's
//! containers and as one running (the swarm keeps it running), the limits of each
//! task are capped and defaulted as a container's, and published ports stay in the
//! team's range.

use super::containers::{check_and_complete, port_range, port_text, Limits};
use super::images::check_image;
use super::team::{Decision, Denial, TeamPolicy, Usage};
use crate::contract::bindings::services::{PublishMode, ServicePort, ServiceSpec};

/// The most replicas one service may ask for, whatever the quota: a bound on the
/// work one call can hand the swarm.
pub const MAX_REPLICAS: u32 = 1000;

/// Where the engine picks a published port itself: ingress ports from the swarm's
/// range, host-mode ports from the kernel's ephemeral range.
pub fn engine_port_range(mode: PublishMode) -> std::ops::RangeInclusive<u16> {
    match mode {
        PublishMode::Ingress => 30000..=32767,
        PublishMode::Host => 32768..=60999,
    }
}

/// Whether the host must pick this port's published port from the team's range,
/// because the engine's own choice could fall outside it.
pub fn port_needs_picking(p: &TeamPolicy, port: &ServicePort) -> bool {
    let range = engine_port_range(port.mode);
    port.published_port.is_none_or(|n| n == 0)
        && !(p.host_ports.contains(range.start()) && p.host_ports.contains(range.end()))
}

fn port_name(port: &ServicePort) -> String {
    port_text(port.target_port, port.protocol)
}

/// Whether the team may create the service `spec` describes, given what it has.
/// When it may, `spec` is completed as a container's would be: the team's default
/// limits where it set none, and the team's env over the plugin's.
pub fn check_service(p: &TeamPolicy, spec: &mut ServiceSpec, usage: &Usage) -> Decision {
    check_image(p, &spec.image)?;
    check_replicas(p, 0, spec.replicas, usage)?;
    for port in &spec.ports {
        check_port(p, port)?;
    }
    // A service's published port binds every address of its node: the engine has
    // no way to bind fewer.
    if !spec.ports.is_empty() && !p.host_ips.is_empty() {
        return Err(Denial {
            rule: "host_ips",
            reason: format!(
                "a service's published ports bind every address of the node, and team `{}` may bind only {}; publish through a container instead, or ask an admin to widen `host_ips`",
                p.name,
                super::containers::addresses(&p.host_ips)
            ),
        });
    }
    for c in &spec.constraints {
        check_constraint(c)?;
    }
    check_and_complete(
        p,
        Limits {
            memory: &mut spec.memory_bytes,
            cpus: &mut spec.cpus,
            pids: &mut spec.pids_limit,
        },
        &mut spec.env,
    )
}

/// Whether a service of the team may go from `current` replicas to `wanted`.
/// Fewer is always allowed; more must fit the quota with what the team has.
pub fn check_replicas(p: &TeamPolicy, current: u32, wanted: u32, usage: &Usage) -> Decision {
    if wanted > MAX_REPLICAS {
        return Err(Denial {
            rule: "max_containers",
            reason: format!(
                "a service may have at most {MAX_REPLICAS} replicas, and {wanted} were asked for"
            ),
        });
    }
    let more = wanted.saturating_sub(current);
    if more == 0 {
        return Ok(());
    }
    if usage.containers.saturating_add(more) > p.max_containers {
        return Err(Denial {
            rule: "max_containers",
            reason: format!(
                "team `{}` already has {} containers (service replicas count as containers) and may have at most {}; {more} more replicas do not fit: ask for fewer, remove something first, or ask an admin to raise `max_containers`",
                p.name, usage.containers, p.max_containers
            ),
        });
    }
    if usage.running.saturating_add(more) > p.max_running {
        return Err(Denial {
            rule: "max_running",
            reason: format!(
                "team `{}` already runs {} containers (service replicas count as running) and may run at most {} at once; {more} more replicas do not fit: ask for fewer, stop something first, or ask an admin to raise `max_running`",
                p.name, usage.running, p.max_running
            ),
        });
    }
    Ok(())
}

fn check_port(p: &TeamPolicy, port: &ServicePort) -> Decision {
    let range = port_range(p);
    if port.target_port == 0 {
        return Err(Denial {
            rule: "host_ports",
            reason: "target port 0 is not a port: give the port the service listens on, 1-65535"
                .into(),
        });
    }
    match port.published_port {
        Some(n) if n != 0 && !p.host_ports.contains(&n) => Err(Denial {
            rule: "host_ports",
            reason: format!(
                "the service asks to publish {} on port {n}, outside team `{}`'s host ports {range}; use a port in {range}, or leave it unset to get a free one",
                port_name(port),
                p.name
            ),
        }),
        _ if port_needs_picking(p, port) => Err(Denial {
            rule: "host_ports",
            reason: format!(
                "publishing {} on any port lets the engine pick from {:?}, which team `{}`'s host ports {range} do not cover; the host must pick the port before creating the service, so this is a dockwright bug: please report it, and meanwhile give a published port in {range}",
                port_name(port),
                engine_port_range(port.mode),
                p.name
            ),
        }),
        _ => Ok(()),
    }
}

/// A placement constraint as the swarm reads them: `<attribute> == <value>` or
/// `!=`. A malformed one is refused here with its text, rather than by the engine.
fn check_constraint(c: &str) -> Decision {
    let parts = c.split_once("==").or_else(|| c.split_once("!="));
    match parts {
        Some((attr, value)) if !attr.trim().is_empty() && !value.trim().is_empty() => Ok(()),
        _ => Err(Denial {
            rule: "constraints",
            reason: format!(
                "placement constraint `{}` is not one the swarm reads: write it as `node.role==manager` or `node.labels.zone!=east`",
                c.escape_debug()
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::bindings::docker::Protocol;
    use crate::contract::bindings::KeyValue;
    use crate::policy::fixtures::team;

    fn spec(replicas: u32) -> ServiceSpec {
        ServiceSpec {
            name: "web".into(),
            image: "dockwright/web".into(),
            env: vec![],
            cmd: None,
            replicas,
            ports: vec![],
            labels: vec![],
            memory_bytes: None,
            cpus: None,
            pids_limit: None,
            constraints: vec![],
        }
    }

    fn port(published: Option<u16>, mode: PublishMode) -> ServicePort {
        ServicePort {
            target_port: 80,
            protocol: Protocol::Tcp,
            published_port: published,
            mode,
        }
    }

    fn rule(d: Decision) -> Option<&'static str> {
        d.err().map(|d| d.rule)
    }

    #[test]
    fn replicas_count_against_the_quota() {
        let p = team(); // at most 3 containers, 2 running
        let none = Usage::default();
        assert_eq!(rule(check_service(&p, &mut spec(2), &none)), None);
        assert_eq!(
            rule(check_service(&p, &mut spec(3), &none)),
            Some("max_running")
        );
        let one = Usage {
            containers: 1,
            running: 0,
            mine: 0,
        };
        assert_eq!(
            rule(check_service(&p, &mut spec(3), &one)),
            Some("max_containers")
        );
        // Scaling counts only what is added; scaling down is always allowed.
        let full = Usage {
            containers: 3,
            running: 2,
            mine: 0,
        };
        assert_eq!(rule(check_replicas(&p, 2, 2, &full)), None);
        assert_eq!(rule(check_replicas(&p, 2, 0, &full)), None);
        assert_eq!(
            rule(check_replicas(&p, 2, 3, &full)),
            Some("max_containers")
        );
        let err = check_replicas(&p, 0, MAX_REPLICAS + 1, &none).unwrap_err();
        assert!(err.reason.contains("at most 1000"), "{}", err.reason);
    }

    #[test]
    fn limits_and_env_are_those_of_a_container() {
        let p = team();
        let mut s = spec(1);
        s.env = vec![KeyValue {
            key: "TEAM".into(),
            value: "red".into(),
        }];
        check_service(&p, &mut s, &Usage::default()).unwrap();
        assert_eq!(s.memory_bytes, Some(256 << 20));
        assert_eq!(s.cpus, Some(0.5));
        assert_eq!(s.pids_limit, Some(128));
        assert_eq!(s.env.len(), 1);
        assert_eq!(s.env[0].value, "blue");
        let mut big = spec(1);
        big.memory_bytes = Some(2 << 30);
        assert_eq!(
            rule(check_service(&p, &mut big, &Usage::default())),
            Some("memory")
        );
        let mut greedy = spec(1);
        greedy.cpus = Some(f64::NAN);
        assert_eq!(
            rule(check_service(&p, &mut greedy, &Usage::default())),
            Some("cpus")
        );
        let mut other = spec(1);
        other.image = "postgres".into();
        assert_eq!(
            rule(check_service(&p, &mut other, &Usage::default())),
            Some("images")
        );
    }

    #[test]
    fn published_ports_stay_in_the_range() {
        let p = team(); // host ports 30000-30999
        let check = |port: ServicePort| {
            let mut s = spec(1);
            s.ports = vec![port];
            rule(check_service(&p, &mut s, &Usage::default()))
        };
        assert_eq!(check(port(Some(30080), PublishMode::Ingress)), None);
        assert_eq!(
            check(port(Some(8080), PublishMode::Host)),
            Some("host_ports")
        );
        // The engine's own pick could leave the range: the host picks instead.
        assert!(port_needs_picking(&p, &port(None, PublishMode::Ingress)));
        assert_eq!(check(port(None, PublishMode::Ingress)), Some("host_ports"));
        let mut wide = team();
        wide.host_ports = 1024..=65535;
        assert!(!port_needs_picking(&wide, &port(None, PublishMode::Host)));
        assert!(!port_needs_picking(
            &wide,
            &port(Some(0), PublishMode::Ingress)
        ));
        let mut zero = port(Some(80), PublishMode::Host);
        zero.target_port = 0;
        assert_eq!(check(zero), Some("host_ports"));
    }

    #[test]
    fn constraints_must_read_as_constraints() {
        let p = team();
        for (c, ok) in [
            ("node.role==manager", true),
            ("node.labels.zone != east", true),
            ("node.role", false),
            ("==x", false),
        ] {
            let mut s = spec(1);
            s.constraints = vec![c.into()];
            let got = rule(check_service(&p, &mut s, &Usage::default()));
            assert_eq!(got.is_none(), ok, "{c}: {got:?}");
        }
    }
}
