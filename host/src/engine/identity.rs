//! What is known of an engine, asked once per engine and process with `docker info`
//! and kept: the key that tells it from any other engine (quotas are kept per engine),
//! and whether it is a swarm manager (services exist only there). Every request costs
//! the teams that share the engine, so a call does not ask again what does not change
//! from one call to the next. [`super::Engine`] asks; this keeps.
//!
//! The swarm role can change under a running process (an operator's `docker swarm
//! init` or `leave`). An answer that shows the change updates it at once (`/services`
//! answering "not a swarm manager", or answering at all); as joining a swarm gives no
//! such answer to a process that no longer asks, a role is read again once it is
//! older than [`ROLE_TTL`].

use std::sync::Mutex;
use std::time::{Duration, Instant};

use bollard::models::SystemInfo;
use tokio::sync::OnceCell;

/// How long a known swarm role is trusted without an answer that confirms it.
const ROLE_TTL: Duration = Duration::from_secs(30);

/// What is known of one engine; shared by every clone of its `Engine`.
#[derive(Default)]
pub struct Known {
    /// The engine's key (see [`key_of`]), once asked.
    pub key: OnceCell<String>,
    /// Whether it is a swarm manager, and since when that is known.
    role: Mutex<Option<(bool, Instant)>>,
    /// Its OS type and default isolation, as its info gave them: they do not change
    /// under a running engine.
    pub os: std::sync::OnceLock<Os>,
}

/// What an engine's info says of its operating system.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Os {
    /// `OSType`: `linux` or `windows`.
    pub os_type: Option<String>,
    /// `Isolation`: Windows engines' default, `process` or `hyperv`.
    pub isolation: Option<String>,
}

/// The OS part of `info`.
pub fn os_of(info: &SystemInfo) -> Os {
    Os {
        os_type: info.os_type.clone(),
        isolation: info
            .isolation
            .as_ref()
            .map(|i| i.as_ref().to_string())
            .filter(|i| !i.is_empty()),
    }
}

/// What tells an engine from any other, whatever each config calls it: its `docker
/// info` ID with its data root. The ID alone is not enough: daemons on one machine
/// share the key it is made from (`/etc/docker/key.json`), while no two daemons can
/// share a data root. Hex, so it can name a folder; `None` when the info lacks either.
pub fn key_of(info: &SystemInfo) -> Option<String> {
    let (Some(id), Some(root)) = (&info.id, &info.docker_root_dir) else {
        return None;
    };
    let key = crate::util::digest::sha256_hex(format!("{id}\n{root}").as_bytes());
    Some(key[..32].to_string())
}

/// Whether `info` is a swarm manager's.
pub fn is_manager(info: &SystemInfo) -> bool {
    info.swarm
        .as_ref()
        .and_then(|s| s.control_available)
        .unwrap_or(false)
}

impl Known {
    /// The swarm role, while it is fresh.
    pub fn role(&self) -> Option<bool> {
        let role = *lock(&self.role);
        role.filter(|(_, since)| since.elapsed() < ROLE_TTL)
            .map(|(manager, _)| manager)
    }

    /// An answer showed the engine's role.
    pub fn note_role(&self, manager: bool) {
        *lock(&self.role) = Some((manager, Instant::now()));
    }
}

/// The value behind `mutex`: a panic elsewhere while it was held leaves nothing half
/// written here (each holder sets or reads the one value), so its poison is ignored.
fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_role_is_known_once_noted() {
        let known = Known::default();
        assert_eq!(known.role(), None);
        known.note_role(true);
        assert_eq!(known.role(), Some(true));
        known.note_role(false);
        assert_eq!(known.role(), Some(false));
    }

    #[test]
    fn the_key_needs_the_id_and_the_data_root() {
        let mut info = SystemInfo {
            id: Some("ID".into()),
            ..Default::default()
        };
        assert_eq!(key_of(&info), None);
        info.docker_root_dir = Some("/var/lib/docker".into());
        let key = key_of(&info).unwrap();
        assert_eq!(key.len(), 32);
        info.docker_root_dir = Some("/other".into());
        assert_ne!(key_of(&info).unwrap(), key);
    }
}
