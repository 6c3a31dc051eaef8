//! Translations between the contract's records and the engine's API models. Pure,
//! so each rule is unit-tested without an engine.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerSummary, EndpointSettings,
    HealthConfig, HostConfig, HostConfigLogConfig, PortBinding, PortMap, RestartPolicy,
    RestartPolicyNameEnum,
};

use crate::contract::bindings::docker::{
    ContainerInfo, ContainerSpec, ContainerState, ContainerSummary as WitSummary, Healthcheck,
    Port, Protocol, PublishedPort, RestartPolicy as WitRestart,
};
use crate::contract::bindings::KeyValue;

/// `80/tcp` for a port.
pub fn port_key(port: &Port) -> String {
    let proto = match port.protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    };
    format!("{}/{proto}", port.port)
}

/// Parse the engine's `80/tcp` (a bare `80` means tcp).
pub fn parse_port_key(key: &str) -> Option<Port> {
    let (num, proto) = key.split_once('/').unwrap_or((key, "tcp"));
    let protocol = match proto {
        "tcp" => Protocol::Tcp,
        "udp" => Protocol::Udp,
        "sctp" => Protocol::Sctp,
        _ => return None,
    };
    Some(Port {
        port: num.parse().ok()?,
        protocol,
    })
}

/// The engine's state words as the contract's enum. Unknown words read as `dead`
/// rather than failing: a state we cannot name is not one a plugin should treat as
/// healthy.
pub fn state(word: &str) -> ContainerState {
    match word {
        "created" => ContainerState::Created,
        "restarting" => ContainerState::Restarting,
        "running" => ContainerState::Running,
        "removing" => ContainerState::Removing,
        "paused" => ContainerState::Paused,
        "exited" => ContainerState::Exited,
        _ => ContainerState::Dead,
    }
}

/// The engine's word for a state, as `docker ps` shows it.
pub fn state_name(state: ContainerState) -> &'static str {
    match state {
        ContainerState::Created => "created",
        ContainerState::Restarting => "restarting",
        ContainerState::Running => "running",
        ContainerState::Removing => "removing",
        ContainerState::Paused => "paused",
        ContainerState::Exited => "exited",
        ContainerState::Dead => "dead",
    }
}

/// Labels as a sorted key-value list, so output is stable.
pub fn key_values(map: Option<&HashMap<String, String>>) -> Vec<KeyValue> {
    let mut out: Vec<KeyValue> = map
        .into_iter()
        .flatten()
        .map(|(k, v)| KeyValue {
            key: k.clone(),
            value: v.clone(),
        })
        .collect();
    out.sort_by(|a, b| a.key.cmp(&b.key));
    out
}

/// `KEY=value` entries for the engine, refusing keys it would misread.
pub fn env_entries(env: &[KeyValue]) -> Result<Vec<String>, String> {
    env.iter()
        .map(|kv| {
            if kv.key.is_empty() || kv.key.contains('=') {
                Err(format!(
                    "env name `{}` is not valid: it must be non-empty and contain no `=`",
                    kv.key
                ))
            } else {
                Ok(format!("{}={}", kv.key, kv.value))
            }
        })
        .collect()
}

/// The engine request for a container spec. `labels` are the final labels (the
/// plugin's with the host's ownership labels). The host settings that matter for
/// safety are set explicitly, not left to engine defaults.
/// How much log a container may keep on the engine's disk: `json-file` rotated at
/// this size, this many files.
pub const LOG_MAX_SIZE: &str = "10m";
pub const LOG_MAX_FILES: &str = "3";

/// The engine's create request for `spec`, on the team's `network` (an id), with
/// the host's `labels`.
pub fn create_body(
    spec: &ContainerSpec,
    labels: HashMap<String, String>,
    network: &str,
) -> Result<ContainerCreateBody, String> {
    if spec.image.trim().is_empty() {
        return Err("image is empty: name the image to create the container from".into());
    }
    if let Some(name) = &spec.name {
        // Docker's rule: two characters at least.
        if !valid_name(name) || name.trim_start_matches('/').len() < 2 || name.len() > 128 {
            return Err(format!(
                "container name `{name}` is not valid: use letters, digits, `_`, `.` and `-`, starting with a letter or digit"
            ));
        }
    }
    let mut exposed: Vec<String> = spec.exposed_ports.iter().map(port_key).collect();
    let mut bindings: PortMap = HashMap::new();
    for port in spec
        .exposed_ports
        .iter()
        .chain(spec.port_bindings.iter().map(|b| &b.container_port))
    {
        if port.port == 0 {
            return Err(format!(
                "container port 0 ({}) is not valid: ports are 1-65535",
                port_key(port)
            ));
        }
    }
    for b in &spec.port_bindings {
        let key = port_key(&b.container_port);
        if let Some(ip) = &b.host_ip {
            if ip.parse::<std::net::IpAddr>().is_err() {
                return Err(format!(
                    "host-ip `{}` of the binding for {key} is not an IP address: give one such as 127.0.0.1 or ::1, or none for all addresses",
                    ip.escape_debug()
                ));
            }
        }
        if !exposed.contains(&key) {
            exposed.push(key.clone());
        }
        let binding = PortBinding {
            host_ip: b.host_ip.clone(),
            host_port: Some(b.host_port.map(|p| p.to_string()).unwrap_or_default()),
        };
        bindings
            .entry(key)
            .or_insert(Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(binding);
    }
    let nano_cpus = nano_cpus(spec.cpus)?;
    let memory = memory_bytes(spec.memory_bytes)?;
    let host_config = HostConfig {
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        publish_all_ports: Some(spec.publish_all),
        memory,
        nano_cpus,
        pids_limit: spec.pids_limit.map(i64::from),
        restart_policy: spec.restart.as_ref().map(restart_policy),
        privileged: Some(false),
        security_opt: Some(vec!["no-new-privileges".into()]),
        network_mode: Some(network.to_string()),
        // Rotated logs whatever the engine's default: no container fills its disk.
        log_config: Some(HostConfigLogConfig {
            typ: Some("json-file".into()),
            config: Some(HashMap::from([
                ("max-size".to_string(), LOG_MAX_SIZE.to_string()),
                ("max-file".to_string(), LOG_MAX_FILES.to_string()),
            ])),
        }),
        ..Default::default()
    };
    Ok(ContainerCreateBody {
        image: Some(spec.image.clone()),
        env: Some(env_entries(&spec.env)?),
        cmd: spec.cmd.clone(),
        entrypoint: spec.entrypoint.clone(),
        working_dir: spec.working_dir.clone(),
        exposed_ports: (!exposed.is_empty()).then_some(exposed),
        labels: Some(labels),
        host_config: Some(host_config),
        ..Default::default()
    })
}

/// The team's hardening on a container's body: every capability dropped but those
/// the team keeps (CIS 5.3), and with `read_only` a read-only root file system with
/// a writable, non-executable `/tmp` (CIS 5.13).
pub fn harden(body: &mut ContainerCreateBody, capabilities: &[String], read_only: bool) {
    let host = body.host_config.get_or_insert_with(HostConfig::default);
    host.cap_drop = Some(vec!["ALL".into()]);
    host.cap_add = Some(capabilities.to_vec());
    if read_only {
        host.readonly_rootfs = Some(true);
        host.tmpfs = Some(HashMap::from([(
            "/tmp".to_string(),
            "rw,noexec,nosuid,size=64m".to_string(),
        )]));
    }
}

/// Longest healthcheck interval, timeout or start period: a day.
const MAX_HEALTH_MS: u64 = 24 * 3600 * 1000;

/// A healthcheck as the engine takes it: the command in exec form, times in
/// nanoseconds (unset: the engine's defaults).
pub fn health_config(check: &Healthcheck) -> Result<HealthConfig, String> {
    if check.test.is_empty() || check.test[0].trim().is_empty() {
        return Err(
            "healthcheck: test is empty: give the command to run, such as [\"true\"]".into(),
        );
    }
    let nanos = |field: &str, ms: Option<u64>| -> Result<Option<i64>, String> {
        match ms {
            None => Ok(None),
            Some(ms) if (1..=MAX_HEALTH_MS).contains(&ms) => Ok(Some(ms as i64 * 1_000_000)),
            Some(ms) => Err(format!(
                "healthcheck: {field} of {ms} ms is out of range: give 1 ms to a day, or none for the engine's default"
            )),
        }
    };
    if check.retries.is_some_and(|r| r == 0 || r > 1000) {
        return Err(
            "healthcheck: retries must be 1 to 1000, or none for the engine's default".into(),
        );
    }
    let mut test = vec!["CMD".to_string()];
    test.extend(check.test.iter().cloned());
    Ok(HealthConfig {
        test: Some(test),
        interval: nanos("interval-ms", check.interval_ms)?,
        timeout: nanos("timeout-ms", check.timeout_ms)?,
        start_period: nanos("start-period-ms", check.start_period_ms)?,
        retries: check.retries.map(i64::from),
        ..Default::default()
    })
}

/// CPUs as the engine counts them, in billionths.
pub fn nano_cpus(cpus: Option<f64>) -> Result<Option<i64>, String> {
    match cpus {
        Some(c) if !(c.is_finite() && c > 0.0 && c <= 1024.0) => Err(format!(
            "cpus {c} is not valid: give a number above 0, such as 0.5"
        )),
        Some(c) => Ok(Some((c * 1e9).round() as i64)),
        None => Ok(None),
    }
}

/// A memory limit as the engine takes it.
pub fn memory_bytes(bytes: Option<u64>) -> Result<Option<i64>, String> {
    bytes
        .map(|m| i64::try_from(m).map_err(|_| format!("memory-bytes {m} is too large")))
        .transpose()
}

/// A container reference a plugin gave: a name (optionally with the engine's leading
/// `/`) or an id or id prefix. Anything else cannot name a container, and is answered
/// as a container that does not exist rather than sent into an engine URL path.
pub fn container_ref(
    reference: &str,
) -> Result<&str, crate::contract::bindings::docker::DockerError> {
    let name = reference.strip_prefix('/').unwrap_or(reference);
    if valid_name(name) {
        Ok(name)
    } else {
        Err(crate::contract::bindings::docker::DockerError::NotFound(
            format!("No such container: {reference}"),
        ))
    }
}

/// The engine's rule for container names.
pub fn valid_name(name: &str) -> bool {
    let name = name.strip_prefix('/').unwrap_or(name);
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

fn restart_policy(r: &WitRestart) -> RestartPolicy {
    let (name, retries) = match r {
        WitRestart::Never => (RestartPolicyNameEnum::NO, None),
        WitRestart::Always => (RestartPolicyNameEnum::ALWAYS, None),
        WitRestart::UnlessStopped => (RestartPolicyNameEnum::UNLESS_STOPPED, None),
        WitRestart::OnFailure(n) => (RestartPolicyNameEnum::ON_FAILURE, Some(i64::from(*n))),
    };
    RestartPolicy {
        name: Some(name),
        maximum_retry_count: retries,
    }
}

/// Published ports from the engine's port map, skipping unpublished ones.
pub fn published_ports(map: Option<&PortMap>) -> Vec<PublishedPort> {
    let mut out = Vec::new();
    for (key, bindings) in map.into_iter().flatten() {
        let Some(port) = parse_port_key(key) else {
            continue;
        };
        for b in bindings.iter().flatten() {
            let Some(host_port) = b.host_port.as_deref().and_then(|p| p.parse().ok()) else {
                continue;
            };
            out.push(PublishedPort {
                container_port: port.port,
                protocol: port.protocol,
                host_ip: b.host_ip.clone().unwrap_or_default(),
                host_port,
            });
        }
    }
    once_per_port(&mut out);
    out
}

/// One entry per published port: the engine lists a port bound on every address
/// once per address family (`0.0.0.0` and `::`). The IPv4 address is kept, and it
/// comes first. The two families' host ports can differ: the engine picks an "any"
/// port for each family on its own, and picks again for IPv4 alone when the first
/// pick is taken there (dockerd 20.10), so `::` may say a port that nothing listens
/// on over IPv4. The `::` entry of a container port bound on `0.0.0.0` is dropped
/// whatever its host port.
pub fn once_per_port(ports: &mut Vec<PublishedPort>) {
    let same = |a: &PublishedPort, b: &PublishedPort| {
        (a.container_port, a.protocol as u8) == (b.container_port, b.protocol as u8)
    };
    without_ipv6_twins(
        ports,
        |p| Some(p.host_ip.as_str()),
        |p| (p.container_port, p.protocol as u8),
    );
    let key = |p: &PublishedPort| {
        (
            p.container_port,
            p.protocol as u8,
            p.host_ip.contains(':'),
            p.host_port,
            p.host_ip.clone(),
        )
    };
    ports.sort_by_key(key);
    ports.dedup_by(|b, a| same(a, b) && a.host_port == b.host_port);
}

/// Drop the `::` binding of each container port that is also bound on `0.0.0.0`,
/// whatever its host port: the IPv4 one is the port people open (see
/// [`once_per_port`]). `ip` gives a binding's host address, `port` its container port
/// and protocol. The one rule of every listing of ports the engine gives.
pub fn without_ipv6_twins<T, K: PartialEq>(
    ports: &mut Vec<T>,
    ip: impl Fn(&T) -> Option<&str>,
    port: impl Fn(&T) -> K,
) {
    let on_every_v4: Vec<K> = ports
        .iter()
        .filter(|p| ip(p) == Some("0.0.0.0"))
        .map(&port)
        .collect();
    ports.retain(|p| !(ip(p) == Some("::") && on_every_v4.contains(&port(p))));
}

/// The container's address: on the default `bridge` network if it is there, else
/// on the first network (by name) that gave it one.
pub fn ip_address(networks: Option<&HashMap<String, EndpointSettings>>) -> Option<String> {
    let networks = networks?;
    let ip = |n: &EndpointSettings| n.ip_address.clone().filter(|ip| !ip.is_empty());
    if let Some(ip) = networks.get("bridge").and_then(ip) {
        return Some(ip);
    }
    let mut names: Vec<&String> = networks.keys().collect();
    names.sort();
    names.into_iter().find_map(|n| ip(&networks[n]))
}

pub fn container_info(r: ContainerInspectResponse) -> ContainerInfo {
    let state_word = r
        .state
        .as_ref()
        .and_then(|s| s.status)
        .map(|s| s.to_string())
        .unwrap_or_default();
    let state = state(&state_word);
    let exit_code = match state {
        ContainerState::Exited | ContainerState::Dead => r.state.as_ref().and_then(|s| s.exit_code),
        _ => None,
    };
    let net = r.network_settings.as_ref();
    let config = r.config.as_ref();
    ContainerInfo {
        id: r.id.clone().unwrap_or_default(),
        name: r
            .name
            .as_deref()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_string(),
        image: config.and_then(|c| c.image.clone()).unwrap_or_default(),
        state,
        exit_code,
        created: r.created.clone().unwrap_or_default(),
        ip_address: ip_address(net.and_then(|n| n.networks.as_ref())),
        ports: published_ports(net.and_then(|n| n.ports.as_ref())),
        labels: key_values(config.and_then(|c| c.labels.as_ref())),
    }
}

pub fn container_summary(c: ContainerSummary) -> WitSummary {
    let mut ports: Vec<PublishedPort> = c
        .ports
        .iter()
        .flatten()
        .filter_map(|p| {
            Some(PublishedPort {
                container_port: p.private_port,
                protocol: p
                    .typ
                    .and_then(|t| parse_port_key(&format!("0/{t}")))
                    .map(|p| p.protocol)
                    .unwrap_or(Protocol::Tcp),
                host_ip: p.ip.clone().unwrap_or_default(),
                host_port: p.public_port?,
            })
        })
        .collect();
    once_per_port(&mut ports);
    WitSummary {
        id: c.id.clone().unwrap_or_default(),
        name: c
            .names
            .as_ref()
            .and_then(|n| n.first())
            .map(|n| n.trim_start_matches('/').to_string())
            .unwrap_or_default(),
        image: c.image.clone().unwrap_or_default(),
        state: state(&c.state.map(|s| s.to_string()).unwrap_or_default()),
        status: c.status.clone().unwrap_or_default(),
        created: c.created.unwrap_or_default(),
        ip_address: ip_address(
            c.network_settings
                .as_ref()
                .and_then(|n| n.networks.as_ref()),
        ),
        ports,
        labels: key_values(c.labels.as_ref()),
    }
}

/// Split an image reference into the repository and the tag (or digest) to pull.
/// A reference with neither gets `latest`: the engine would otherwise pull every tag.
pub fn split_reference(image: &str) -> (String, String) {
    if let Some((repo, digest)) = image.split_once('@') {
        return (repo.to_string(), digest.to_string());
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(i) => {
            let at = last_slash + i;
            (image[..at].to_string(), image[at + 1..].to_string())
        }
        None => (image.to_string(), "latest".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn healthchecks_are_checked_and_sent_in_exec_form() {
        let check = Healthcheck {
            test: vec!["true".into()],
            interval_ms: Some(500),
            timeout_ms: None,
            start_period_ms: None,
            retries: Some(3),
        };
        let config = health_config(&check).unwrap();
        assert_eq!(
            config.test,
            Some(vec!["CMD".to_string(), "true".to_string()])
        );
        assert_eq!(config.interval, Some(500_000_000));
        assert_eq!(config.retries, Some(3));
        for bad in [
            Healthcheck {
                test: vec![],
                ..check.clone()
            },
            Healthcheck {
                interval_ms: Some(0),
                ..check.clone()
            },
            Healthcheck {
                timeout_ms: Some(MAX_HEALTH_MS + 1),
                ..check.clone()
            },
            Healthcheck {
                retries: Some(0),
                ..check.clone()
            },
        ] {
            assert!(health_config(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn hardening_drops_every_capability_but_the_teams() {
        let mut body = ContainerCreateBody::default();
        harden(&mut body, &["CHOWN".into()], false);
        let host = body.host_config.as_ref().unwrap();
        assert_eq!(host.cap_drop.as_deref(), Some(&["ALL".to_string()][..]));
        assert_eq!(host.cap_add.as_deref(), Some(&["CHOWN".to_string()][..]));
        assert_eq!(host.readonly_rootfs, None);
        harden(&mut body, &[], true);
        let host = body.host_config.as_ref().unwrap();
        assert_eq!(host.readonly_rootfs, Some(true));
        assert!(host.tmpfs.as_ref().unwrap().contains_key("/tmp"));
    }
    use crate::contract::bindings::docker::PortBinding as WitBinding;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            env: vec![KeyValue {
                key: "TEAM".into(),
                value: "blue".into(),
            }],
            ..crate::contract::bindings::image_only("web:latest")
        }
    }

    #[test]
    fn port_keys_round_trip() {
        for key in ["80/tcp", "53/udp", "9/sctp"] {
            assert_eq!(port_key(&parse_port_key(key).unwrap()), key);
        }
        assert_eq!(port_key(&parse_port_key("8080").unwrap()), "8080/tcp");
        assert!(parse_port_key("80/xyz").is_none());
        assert!(parse_port_key("http/tcp").is_none());
        assert!(parse_port_key("70000/tcp").is_none());
    }

    #[test]
    fn create_body_sets_safe_host_config() {
        let body = create_body(&spec(), HashMap::new(), "net-id").unwrap();
        let hc = body.host_config.unwrap();
        assert_eq!(hc.privileged, Some(false));
        assert_eq!(hc.security_opt, Some(vec!["no-new-privileges".to_string()]));
        assert!(hc.binds.is_none() && hc.mounts.is_none() && hc.cap_add.is_none());
        assert!(hc.pid_mode.is_none() && hc.devices.is_none());
        assert_eq!(hc.network_mode.as_deref(), Some("net-id"));
        let log = hc.log_config.unwrap();
        assert_eq!(log.typ.as_deref(), Some("json-file"));
        assert_eq!(log.config.unwrap()["max-size"], LOG_MAX_SIZE);
        assert_eq!(body.env, Some(vec!["TEAM=blue".to_string()]));
    }

    #[test]
    fn bindings_expose_their_ports() {
        let mut s = spec();
        s.exposed_ports = vec![Port {
            port: 53,
            protocol: Protocol::Udp,
        }];
        s.port_bindings = vec![
            WitBinding {
                container_port: Port {
                    port: 80,
                    protocol: Protocol::Tcp,
                },
                host_port: None,
                host_ip: None,
            },
            WitBinding {
                container_port: Port {
                    port: 80,
                    protocol: Protocol::Tcp,
                },
                host_port: Some(8080),
                host_ip: Some("127.0.0.1".into()),
            },
        ];
        let body = create_body(&s, HashMap::new(), "net-id").unwrap();
        assert_eq!(body.exposed_ports.unwrap(), vec!["53/udp", "80/tcp"]);
        let bindings = body.host_config.unwrap().port_bindings.unwrap();
        let b80 = bindings["80/tcp"].as_ref().unwrap();
        assert_eq!(b80.len(), 2);
        assert_eq!(b80[0].host_port.as_deref(), Some(""));
        assert_eq!(b80[1].host_port.as_deref(), Some("8080"));
        assert_eq!(b80[1].host_ip.as_deref(), Some("127.0.0.1"));
    }

    #[test]
    fn limits_convert() {
        let mut s = spec();
        s.cpus = Some(1.5);
        s.memory_bytes = Some(64 << 20);
        s.pids_limit = Some(50);
        s.restart = Some(WitRestart::OnFailure(3));
        let hc = create_body(&s, HashMap::new(), "net-id")
            .unwrap()
            .host_config
            .unwrap();
        assert_eq!(hc.nano_cpus, Some(1_500_000_000));
        assert_eq!(hc.memory, Some(64 << 20));
        assert_eq!(hc.pids_limit, Some(50));
        let rp = hc.restart_policy.unwrap();
        assert_eq!(rp.name, Some(RestartPolicyNameEnum::ON_FAILURE));
        assert_eq!(rp.maximum_retry_count, Some(3));
    }

    #[test]
    fn bad_specs_are_refused_by_field() {
        type Change = Box<dyn Fn(&mut ContainerSpec)>;
        let table: Vec<(Change, &str)> = vec![
            (Box::new(|s| s.image = " ".into()), "image is empty"),
            (Box::new(|s| s.cpus = Some(0.0)), "cpus"),
            (Box::new(|s| s.cpus = Some(f64::NAN)), "cpus"),
            (
                Box::new(|s| s.memory_bytes = Some(u64::MAX)),
                "memory-bytes",
            ),
            (
                Box::new(|s| s.name = Some("bad name".into())),
                "container name",
            ),
            (Box::new(|s| s.name = Some("x".into())), "container name"),
            (
                Box::new(|s| {
                    s.port_bindings = vec![WitBinding {
                        container_port: Port {
                            port: 80,
                            protocol: Protocol::Tcp,
                        },
                        host_port: Some(8080),
                        host_ip: Some("not-an-ip; rm -rf /".into()),
                    }]
                }),
                "host-ip `not-an-ip; rm -rf /`",
            ),
            (
                Box::new(|s| {
                    s.exposed_ports = vec![Port {
                        port: 0,
                        protocol: Protocol::Udp,
                    }]
                }),
                "container port 0",
            ),
            (
                Box::new(|s| {
                    s.env = vec![KeyValue {
                        key: "A=B".into(),
                        value: "x".into(),
                    }]
                }),
                "env name",
            ),
        ];
        for (change, want) in table {
            let mut s = spec();
            change(&mut s);
            let err = create_body(&s, HashMap::new(), "net-id").unwrap_err();
            assert!(err.contains(want), "{err}");
        }
    }

    #[test]
    fn container_references() {
        assert_eq!(container_ref("web-1").unwrap(), "web-1");
        assert_eq!(container_ref("/web-1").unwrap(), "web-1");
        assert_eq!(container_ref("5dd81213fb10").unwrap(), "5dd81213fb10");
        for bad in ["/tmp/x", "a?b", "../x", "", "a b", "x#y"] {
            assert!(
                matches!(
                    container_ref(bad),
                    Err(crate::contract::bindings::docker::DockerError::NotFound(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn names() {
        assert!(valid_name("team-env_1.a"));
        assert!(!valid_name("-x"));
        assert!(!valid_name(""));
        assert!(!valid_name("a/b"));
    }

    #[test]
    fn references_split() {
        let cases = [
            ("web", ("web", "latest")),
            ("web:1", ("web", "1")),
            ("reg:5000/team/web", ("reg:5000/team/web", "latest")),
            ("reg:5000/team/web:2", ("reg:5000/team/web", "2")),
            ("web@sha256:abc", ("web", "sha256:abc")),
        ];
        for (input, (repo, tag)) in cases {
            assert_eq!(split_reference(input), (repo.into(), tag.into()), "{input}");
        }
    }

    #[test]
    fn ports_from_the_engine() {
        let map: PortMap = HashMap::from([
            (
                "80/tcp".to_string(),
                Some(vec![PortBinding {
                    host_ip: Some("0.0.0.0".into()),
                    host_port: Some("32768".into()),
                }]),
            ),
            ("443/tcp".to_string(), None),
        ]);
        let ports = published_ports(Some(&map));
        assert_eq!(ports.len(), 1);
        // Bound on every address: listed once per family by the engine, once here.
        let both: PortMap = HashMap::from([(
            "80/tcp".to_string(),
            Some(vec![
                PortBinding {
                    host_ip: Some("::".into()),
                    host_port: Some("32768".into()),
                },
                PortBinding {
                    host_ip: Some("0.0.0.0".into()),
                    host_port: Some("32768".into()),
                },
            ]),
        )]);
        let once = published_ports(Some(&both));
        assert_eq!(once.len(), 1, "{once:?}");
        assert_eq!(once[0].host_ip, "0.0.0.0");
        // The families given different ports (the IPv4 pick was taken and made again):
        // the IPv4 one, which 127.0.0.1 reaches, whatever the order or the numbers.
        let apart: PortMap = HashMap::from([(
            "80/tcp".to_string(),
            Some(vec![
                PortBinding {
                    host_ip: Some("0.0.0.0".into()),
                    host_port: Some("32817".into()),
                },
                PortBinding {
                    host_ip: Some("::".into()),
                    host_port: Some("32816".into()),
                },
            ]),
        )]);
        let once = published_ports(Some(&apart));
        assert_eq!(once.len(), 1, "{once:?}");
        assert_eq!(
            (once[0].host_ip.as_str(), once[0].host_port),
            ("0.0.0.0", 32817)
        );
        // An IPv6 binding of its own (a team's `host_ips = ["::1"]`) is kept.
        let v6: PortMap = HashMap::from([(
            "80/tcp".to_string(),
            Some(vec![PortBinding {
                host_ip: Some("::1".into()),
                host_port: Some("30001".into()),
            }]),
        )]);
        assert_eq!(published_ports(Some(&v6))[0].host_ip, "::1");
        assert_eq!((ports[0].container_port, ports[0].host_port), (80, 32768));
        assert_eq!(ports[0].host_ip, "0.0.0.0");
    }

    #[test]
    fn states() {
        assert!(matches!(state("running"), ContainerState::Running));
        assert!(matches!(state("exited"), ContainerState::Exited));
        assert!(matches!(state("weird"), ContainerState::Dead));
    }
}
