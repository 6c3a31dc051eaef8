//! Whether a team may create or start a container: its quota, the caps on memory,
//! cpus and pids (with the team's defaults filled in), env names and host ports.

use super::images::check_image;
use super::team::{format_size, Decision, Denial, Limit, TeamPolicy, Usage};
use crate::contract::bindings::docker::{ContainerSpec, Port, Protocol};
use crate::contract::bindings::KeyValue;

/// Whether the engine's own choice of a host port ("any free port", which it takes
/// from the kernel's ephemeral range 32768-60999) could fall outside the team's
/// range. When it could, the host must pick ports itself before creating.
pub fn ports_need_picking(p: &TeamPolicy) -> bool {
    !(p.host_ports.contains(&EPHEMERAL_FIRST) && p.host_ports.contains(&EPHEMERAL_LAST))
}

/// Linux's default `net.ipv4.ip_local_port_range`, where the engine finds free ports.
const EPHEMERAL_FIRST: u16 = 32768;
const EPHEMERAL_LAST: u16 = 60999;

pub(super) fn port_range(p: &TeamPolicy) -> String {
    format!("{}-{}", p.host_ports.start(), p.host_ports.end())
}

fn port_name(port: &Port) -> String {
    port_text(port.port, port.protocol)
}

/// `80/tcp`.
pub(super) fn port_text(number: u16, protocol: Protocol) -> String {
    let proto = match protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    };
    format!("{number}/{proto}")
}

/// Whether the team may create the container `spec` describes, given what it has.
/// When it may, `spec` is completed: the team's default memory, cpus and pids where
/// it set none, and the team's env over any the plugin set under the same names.
/// A denied `spec` is left as it was.
pub fn check_create(p: &TeamPolicy, spec: &mut ContainerSpec, usage: &Usage) -> Decision {
    check_image(p, &spec.image)?;
    if usage.containers >= p.max_containers {
        return Err(Denial {
            rule: "max_containers",
            reason: format!(
                "team `{}` already has {} containers and may have at most {}; remove one (such as with a teardown workflow) before creating another, or ask an admin to raise `max_containers`",
                p.name, usage.containers, p.max_containers
            ),
        });
    }
    if let Some(most) = p.max_containers_per_user {
        if usage.mine >= most {
            return Err(Denial {
                rule: "max_containers_per_user",
                reason: format!(
                    "you already have {} of team `{}`'s containers and one person may have at most {most}; tear down one of your environments first, or ask an admin to raise `max_containers_per_user`",
                    usage.mine, p.name
                ),
            });
        }
    }
    check_ports(p, spec)?;
    check_host_ips(p, spec)?;
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

/// The limits of a container (or of each task of a service), to be completed.
pub(super) struct Limits<'a> {
    pub memory: &'a mut Option<u64>,
    pub cpus: &'a mut Option<f64>,
    pub pids: &'a mut Option<u32>,
}

/// Check the limits and env asked for against the team's caps; when they pass,
/// fill in the team's default limits where none were asked for, and put the team's
/// env over the plugin's. Denied, they are left as they were.
pub(super) fn check_and_complete(
    p: &TeamPolicy,
    limits: Limits<'_>,
    env: &mut Vec<KeyValue>,
) -> Decision {
    check_memory(p, *limits.memory)?;
    check_cpus(p, *limits.cpus)?;
    check_pids(p, *limits.pids)?;
    check_env(env)?;
    limits.memory.get_or_insert(p.memory_bytes.default);
    limits.cpus.get_or_insert(p.cpus.default);
    limits.pids.get_or_insert(p.pids.default);
    // The team's values win: drop the plugin's entries of the same name rather than
    // appending a second one, since which duplicate a process sees is up to its libc.
    env.retain(|kv| !p.env.iter().any(|(key, _)| *key == kv.key));
    env.extend(p.env.iter().map(|(key, value)| KeyValue {
        key: key.clone(),
        value: value.clone(),
    }));
    Ok(())
}

// The engine reads 0 as "no limit" for memory, cpus and pids, so 0 is refused
// rather than passed through as a request below the max.

fn check_memory(p: &TeamPolicy, asked: Option<u64>) -> Decision {
    let Limit { default, max } = p.memory_bytes;
    match asked {
        Some(bytes) if bytes == 0 || bytes > max => Err(Denial {
            rule: "memory",
            reason: format!(
                "the container asks for {} of memory, {}; ask for at most {}, or leave memory unset to get team `{}`'s default of {}",
                if bytes == 0 { "0 bytes".to_string() } else { format_size(bytes) },
                if bytes == 0 { "which the engine reads as no limit".to_string() } else { format!("more than the {} team `{}` may give a container", format_size(max), p.name) },
                format_size(max),
                p.name,
                format_size(default)
            ),
        }),
        _ => Ok(()),
    }
}

fn check_cpus(p: &TeamPolicy, asked: Option<f64>) -> Decision {
    let Limit { default, max } = p.cpus;
    match asked {
        // Written so that NaN, which compares false with everything, is refused.
        Some(cpus) if !(cpus > 0.0 && cpus <= max) => Err(Denial {
            rule: "cpus",
            reason: format!(
                "the container asks for {cpus} cpus, {}; ask for more than 0 and at most {max}, or leave cpus unset to get team `{}`'s default of {default}",
                if cpus > max { format!("more than the {max} team `{}` may give a container", p.name) } else { "which is not a limit the team may set".to_string() },
                p.name
            ),
        }),
        _ => Ok(()),
    }
}

fn check_pids(p: &TeamPolicy, asked: Option<u32>) -> Decision {
    let Limit { default, max } = p.pids;
    match asked {
        Some(pids) if pids == 0 || pids > max => Err(Denial {
            rule: "pids",
            reason: format!(
                "the container asks for a limit of {pids} processes, {}; ask for at most {max}, or leave pids unset to get team `{}`'s default of {default}",
                if pids == 0 { "which the engine reads as no limit".to_string() } else { format!("more than the {max} team `{}` may give a container", p.name) },
                p.name
            ),
        }),
        _ => Ok(()),
    }
}

/// A name with `=` would reach the engine as `NAME=...=value` and could shadow one
/// the team sets, so only plain names pass.
fn check_env(env: &[KeyValue]) -> Decision {
    match env.iter().find(|kv| kv.key.is_empty() || kv.key.contains(['=', '\0'])) {
        Some(kv) => Err(Denial {
            rule: "env",
            reason: format!(
                "environment variable name `{}` is not valid; use a non-empty name without `=`, such as `APP_MODE`",
                kv.key
            ),
        }),
        None => Ok(()),
    }
}

fn check_ports(p: &TeamPolicy, spec: &ContainerSpec) -> Decision {
    let range = port_range(p);
    let engine_picks = |asked: String| {
        Denial {
        rule: "host_ports",
        reason: format!(
            "{asked} lets the engine pick the host port from {EPHEMERAL_FIRST}-{EPHEMERAL_LAST}, which team `{}`'s host ports {range} do not cover; the host must pick the port from the range before creating the container, so this is a dockwright bug: please report it, and meanwhile give an explicit host port in {range}",
            p.name
        ),
    }
    };
    if spec.publish_all && ports_need_picking(p) {
        return Err(engine_picks("publishing every exposed port".into()));
    }
    for binding in &spec.port_bindings {
        let container = port_name(&binding.container_port);
        match binding.host_port {
            // 0 is the engine's own "any port": the same as leaving it unset.
            None | Some(0) if ports_need_picking(p) => {
                return Err(engine_picks(format!("publishing {container} on any host port")))
            }
            Some(host) if host != 0 && !p.host_ports.contains(&host) => {
                return Err(Denial {
                    rule: "host_ports",
                    reason: format!(
                        "the container asks to publish {container} on host port {host}, outside team `{}`'s host ports {range}; use a port in {range}, or leave the host port unset to get a free one",
                        p.name
                    ),
                })
            }
            _ => {}
        }
    }
    Ok(())
}

/// `a`, `b` for a reason.
pub(super) fn addresses(ips: &[std::net::IpAddr]) -> String {
    ips.iter()
        .map(|ip| format!("`{ip}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether each published port binds an address the team may bind; a binding that
/// names none gets the first of them (without `host_ips`, the engine binds all).
fn check_host_ips(p: &TeamPolicy, spec: &mut ContainerSpec) -> Decision {
    let Some(first) = p.host_ips.first() else {
        return Ok(());
    };
    let allowed = || addresses(&p.host_ips);
    if spec.publish_all {
        return Err(Denial {
            rule: "host_ips",
            reason: format!(
                "publishing every exposed port binds every address, and team `{}` may bind only {}; the host must turn it into bindings first, so this is a dockwright bug: please report it, and meanwhile publish each port",
                p.name,
                allowed()
            ),
        });
    }
    for binding in &mut spec.port_bindings {
        let container = port_name(&binding.container_port);
        let Some(asked) = &binding.host_ip else {
            binding.host_ip = Some(first.to_string());
            continue;
        };
        let ip: Option<std::net::IpAddr> = asked.parse().ok();
        if !ip.is_some_and(|ip| p.host_ips.contains(&ip)) {
            return Err(Denial {
                rule: "host_ips",
                reason: format!(
                    "the container asks to publish {container} on address `{asked}`, and team `{}` may bind only {}; use one of those, or name no address to get `{first}`",
                    p.name,
                    allowed()
                ),
            });
        }
    }
    Ok(())
}

/// Whether the team may start one more container, given how many already run.
pub fn check_start(p: &TeamPolicy, usage: &Usage) -> Decision {
    if usage.running < p.max_running {
        return Ok(());
    }
    Err(Denial {
        rule: "max_running",
        reason: format!(
            "team `{}` already runs {} containers and may run at most {} at once; stop one before starting another, or ask an admin to raise `max_running`",
            p.name, usage.running, p.max_running
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::fixtures::*;

    #[test]
    fn create() {
        let p = team();
        let ok = Usage::default();
        type Case = (
            &'static str,
            fn(&mut ContainerSpec),
            Usage,
            Option<&'static str>,
        );
        let cases: Vec<Case> = vec![
            ("plain", |_| {}, ok, None),
            (
                "bad image",
                |s| s.image = "green/app".into(),
                ok,
                Some("images"),
            ),
            (
                "one below the cap",
                |_| {},
                Usage {
                    containers: 2,
                    running: 2,
                    mine: 0,
                },
                None,
            ),
            (
                "at the cap",
                |_| {},
                Usage {
                    containers: 3,
                    running: 0,
                    mine: 0,
                },
                Some("max_containers"),
            ),
            (
                "over the cap",
                |_| {},
                Usage {
                    containers: 9,
                    running: 0,
                    mine: 0,
                },
                Some("max_containers"),
            ),
            (
                "memory at max",
                |s| s.memory_bytes = Some(1 << 30),
                ok,
                None,
            ),
            (
                "memory over max",
                |s| s.memory_bytes = Some((1 << 30) + 1),
                ok,
                Some("memory"),
            ),
            (
                "memory zero",
                |s| s.memory_bytes = Some(0),
                ok,
                Some("memory"),
            ),
            ("cpus at max", |s| s.cpus = Some(2.0), ok, None),
            ("cpus over max", |s| s.cpus = Some(2.5), ok, Some("cpus")),
            ("cpus zero", |s| s.cpus = Some(0.0), ok, Some("cpus")),
            ("cpus negative", |s| s.cpus = Some(-1.0), ok, Some("cpus")),
            ("cpus NaN", |s| s.cpus = Some(f64::NAN), ok, Some("cpus")),
            (
                "cpus infinite",
                |s| s.cpus = Some(f64::INFINITY),
                ok,
                Some("cpus"),
            ),
            ("pids at max", |s| s.pids_limit = Some(512), ok, None),
            (
                "pids over max",
                |s| s.pids_limit = Some(513),
                ok,
                Some("pids"),
            ),
            ("pids zero", |s| s.pids_limit = Some(0), ok, Some("pids")),
            (
                "env with =",
                |s| s.env = vec![kv("TEAM=red", "x")],
                ok,
                Some("env"),
            ),
            (
                "env empty name",
                |s| s.env = vec![kv("", "x")],
                ok,
                Some("env"),
            ),
            (
                "port in range",
                |s| s.port_bindings = vec![bind(80, Some(30000))],
                ok,
                None,
            ),
            (
                "port at top",
                |s| s.port_bindings = vec![bind(80, Some(30999))],
                ok,
                None,
            ),
            (
                "port below",
                |s| s.port_bindings = vec![bind(80, Some(29999))],
                ok,
                Some("host_ports"),
            ),
            (
                "port above",
                |s| s.port_bindings = vec![bind(80, Some(31000))],
                ok,
                Some("host_ports"),
            ),
            (
                "privileged port",
                |s| s.port_bindings = vec![bind(80, Some(80))],
                ok,
                Some("host_ports"),
            ),
            (
                "one bad port of two",
                |s| s.port_bindings = vec![bind(80, Some(30001)), bind(81, Some(8080))],
                ok,
                Some("host_ports"),
            ),
            (
                "any port, range too narrow",
                |s| s.port_bindings = vec![bind(80, None)],
                ok,
                Some("host_ports"),
            ),
            (
                "port 0, range too narrow",
                |s| s.port_bindings = vec![bind(80, Some(0))],
                ok,
                Some("host_ports"),
            ),
            (
                "publish all, range too narrow",
                |s| s.publish_all = true,
                ok,
                Some("host_ports"),
            ),
        ];
        for (case, edit, usage, want) in cases {
            let mut s = spec();
            edit(&mut s);
            // The generated type has no PartialEq; its Debug shows every field.
            let before = format!("{s:?}");
            let decision = check_create(&p, &mut s, &usage);
            if decision.is_err() {
                assert_eq!(
                    format!("{s:?}"),
                    before,
                    "{case}: a denied spec is left as it was"
                );
            }
            expect(decision, want, case);
        }
    }

    #[test]
    fn create_with_a_range_the_engine_can_pick_from() {
        let wide = TeamPolicy {
            host_ports: 1024..=65535,
            ..team()
        };
        type Case = (&'static str, fn(&mut ContainerSpec), Option<&'static str>);
        let cases: Vec<Case> = vec![
            ("any port", |s| s.port_bindings = vec![bind(80, None)], None),
            (
                "port 0",
                |s| s.port_bindings = vec![bind(80, Some(0))],
                None,
            ),
            ("publish all", |s| s.publish_all = true, None),
            (
                "explicit outside",
                |s| s.port_bindings = vec![bind(80, Some(80))],
                Some("host_ports"),
            ),
        ];
        for (case, edit, want) in cases {
            let mut s = spec();
            edit(&mut s);
            expect(check_create(&wide, &mut s, &Usage::default()), want, case);
        }
    }

    #[test]
    fn create_fills_in_defaults_and_team_env() {
        let p = team();
        let mut s = spec();
        s.env = vec![kv("TEAM", "red"), kv("APP", "web"), kv("TEAM", "green")];
        check_create(&p, &mut s, &Usage::default()).unwrap();
        assert_eq!(s.memory_bytes, Some(256 << 20));
        assert_eq!(s.cpus, Some(0.5));
        assert_eq!(s.pids_limit, Some(128));
        // The plugin's TEAM entries are gone, the team's is there once.
        let env: Vec<(&str, &str)> = s.env.iter().map(|kv| (&*kv.key, &*kv.value)).collect();
        assert_eq!(env, vec![("APP", "web"), ("TEAM", "blue")]);

        // What the plugin asks for within the limits is kept.
        let mut s = spec();
        s.memory_bytes = Some(64 << 20);
        s.cpus = Some(1.5);
        s.pids_limit = Some(50);
        check_create(&p, &mut s, &Usage::default()).unwrap();
        assert_eq!(
            (s.memory_bytes, s.cpus, s.pids_limit),
            (Some(64 << 20), Some(1.5), Some(50))
        );
    }

    #[test]
    fn denials_say_what_was_asked_and_allowed() {
        let p = team();
        let mut s = spec();
        s.memory_bytes = Some(2 << 30);
        let denial = check_create(&p, &mut s, &Usage::default()).unwrap_err();
        assert!(denial.reason.contains("2g"), "{denial}");
        assert!(denial.reason.contains("at most 1g"), "{denial}");
        assert!(
            denial.to_string().ends_with("(policy rule `memory`)"),
            "{denial}"
        );

        let mut s = spec();
        s.port_bindings = vec![bind(80, Some(8080))];
        let denial = check_create(&p, &mut s, &Usage::default()).unwrap_err();
        assert!(denial.reason.contains("80/tcp"), "{denial}");
        assert!(denial.reason.contains("8080"), "{denial}");
        assert!(denial.reason.contains("30000-30999"), "{denial}");

        let mut s = spec();
        s.port_bindings = vec![bind(80, None)];
        let denial = check_create(&p, &mut s, &Usage::default()).unwrap_err();
        assert!(denial.reason.contains("the host must pick"), "{denial}");
    }

    #[test]
    fn ports_need_picking_unless_the_range_covers_the_ephemeral_range() {
        let cases = [
            (1024..=65535, false),
            (32768..=60999, false),
            (1..=65535, false),
            (32769..=60999, true),
            (32768..=60998, true),
            (30000..=30999, true),
            (8080..=8080, true),
            #[allow(clippy::reversed_empty_ranges)]
            (60999..=32768, true),
        ];
        for (range, want) in cases {
            let p = TeamPolicy {
                host_ports: range.clone(),
                ..team()
            };
            assert_eq!(ports_need_picking(&p), want, "{range:?}");
        }
    }

    #[test]
    fn start() {
        let p = team();
        let cases = [
            (0, None),
            (1, None),
            (2, Some("max_running")),
            (5, Some("max_running")),
        ];
        for (running, want) in cases {
            let usage = Usage {
                containers: 3,
                running,
                mine: 0,
            };
            expect(check_start(&p, &usage), want, &format!("{running} running"));
        }
        let none = TeamPolicy {
            max_running: 0,
            ..team()
        };
        expect(
            check_start(&none, &Usage::default()),
            Some("max_running"),
            "max 0",
        );
    }
}
