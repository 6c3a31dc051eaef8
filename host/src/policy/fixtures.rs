//! What the rule tests of this folder share: a team with something to deny, and
//! small builders.

use std::path::Path;

pub use super::team::*;
pub use crate::contract::bindings::docker::{ContainerSpec, Port, PortBinding, Protocol};
pub use crate::contract::bindings::KeyValue;

pub fn team() -> TeamPolicy {
    TeamPolicy {
        images: vec!["dockwright/*".into(), "blue/*".into(), "busybox".into()],
        max_containers: 3,
        max_running: 2,
        memory_bytes: Limit {
            default: 256 << 20,
            max: 1 << 30,
        },
        cpus: Limit {
            default: 0.5,
            max: 2.0,
        },
        pids: Limit {
            default: 128,
            max: 512,
        },
        host_ports: 30000..=30999,
        build_roots: vec!["/srv/blue".into(), "/srv/shared/ctx".into()],
        tags: vec!["blue/*".into()],
        env: vec![("TEAM".into(), "blue".into())],
        plugins: vec!["team-*".into(), "inventory".into()],
        ..default_team("blue", Path::new("/work"))
    }
}

pub fn spec() -> ContainerSpec {
    crate::contract::bindings::image_only("dockwright/web")
}

pub fn bind(container: u16, host: Option<u16>) -> PortBinding {
    PortBinding {
        container_port: Port {
            port: container,
            protocol: Protocol::Tcp,
        },
        host_port: host,
        host_ip: None,
    }
}

pub fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: value.into(),
    }
}

/// Checks a decision against the expected outcome: `None` for allowed, or the rule
/// a denial must name. Denials must also say something.
pub fn expect(decision: Decision, want: Option<&str>, case: &str) {
    match (decision, want) {
        (Ok(()), None) => {}
        (Err(denial), Some(rule)) => {
            assert_eq!(denial.rule, rule, "{case}: {denial}");
            assert!(denial.reason.len() > 20, "{case}: {denial}");
        }
        (got, want) => panic!("{case}: got {got:?}, want {want:?}"),
    }
}
