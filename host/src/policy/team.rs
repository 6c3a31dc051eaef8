//! A team's policy as the rules read it, the safe default, and how a refusal is
//! worded. Every rule module of this folder decides over these types.

use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::groups::Permissions;

/// A per-container resource: the value injected when a request sets none, and the
/// most a request may ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit<T> {
    pub default: T,
    pub max: T,
}

/// A team's lifetime rule (see [`super::lifetime`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetime {
    /// What a run gets when its workflow asks for nothing.
    pub default: Duration,
    /// The most a run may have left, at any moment.
    pub max: Duration,
    /// How long before its expiry the team is told (the run's events, the page, the
    /// webhook).
    pub warn: Duration,
}

impl Lifetime {
    /// What a team gets when its table sets only some of the keys.
    pub const DEFAULT_WARN: Duration = Duration::from_secs(30 * 60);
}

/// Limits on the plugin itself, not on the containers it makes.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginLimits {
    /// Wall-clock time for a whole run.
    pub timeout: Duration,
    /// Linear memory the plugin instance may grow to.
    pub memory_bytes: u64,
    /// Bytes of output (stdout, stderr, log lines) a run may show.
    pub log_bytes: u64,
}

/// One team's policy, as `dockwright.toml` describes it (or the safe default).
#[derive(Debug, Clone, PartialEq)]
pub struct TeamPolicy {
    pub name: String,
    /// Images the team may create containers from or pull: glob patterns (`*`, `?`)
    /// on the normalised `repo:tag` (`web` is `web:latest`), or `repo@sha256:...`.
    /// A pattern without wildcards names one image and is normalised too.
    pub images: Vec<String>,
    /// Most containers the team may have, running or not.
    pub max_containers: u32,
    /// Most running containers the team may have.
    pub max_running: u32,
    /// Most containers one person of the team may have (their runs' containers, by
    /// the `dockwright.user` label); `None`: only the team's quota counts.
    pub max_containers_per_user: Option<u32>,
    pub memory_bytes: Limit<u64>,
    pub cpus: Limit<f64>,
    pub pids: Limit<u32>,
    /// Host ports the team's containers may publish on.
    pub host_ports: RangeInclusive<u16>,
    /// Directories (absolute, canonical) a build context may come from, with
    /// everything below them.
    pub build_roots: Vec<PathBuf>,
    /// Glob patterns on `repo:tag` the team may build or commit into, such as `blue/*`.
    pub tags: Vec<String>,
    /// Environment always set in the team's containers, over what a plugin asks.
    pub env: Vec<(String, String)>,
    /// Glob patterns on plugin names the team may run.
    pub plugins: Vec<String>,
    /// Glob patterns on the names of the engines the team may run on.
    pub engines: Vec<String>,
    /// Whether `exec` may run as root.
    pub exec_as_root: bool,
    /// Whether the `RUN` steps of the team's builds may reach the network (the
    /// team's own network); without it they have none.
    pub build_network: bool,
    /// Whether the team accepts `RUN` steps with no process (pids) limit where the
    /// host cannot put its builds under one (see `engine::cgroup`); without it such
    /// builds are refused.
    pub build_unbounded_pids: bool,
    /// The capabilities the team's containers keep; every other is dropped (CIS
    /// Docker Benchmark 5.3). Only names of the engine's default set, upper case
    /// without `CAP_`.
    pub capabilities: Vec<String>,
    /// Whether the team's containers get a read-only root file system, with a
    /// writable `/tmp` (CIS 5.13).
    pub read_only_rootfs: bool,
    /// Whether the team's containers may run as uid 0, as the engine resolves their
    /// user (CIS 4.1 and 5.x on root containers).
    pub run_as_root: bool,
    /// The host addresses published ports may bind (CIS 5.14); empty: all of them.
    /// A binding that names no address binds the first.
    pub host_ips: Vec<std::net::IpAddr>,
    /// The most a plugin's permission manifest may ask for; `None` caps nothing.
    pub permissions: Option<Permissions>,
    /// The `ed25519:` public keys whose signatures the team trusts.
    pub trusted_keys: Vec<String>,
    /// Whether the team runs only plugins signed by one of `trusted_keys`.
    pub require_signed: bool,
    pub limits: PluginLimits,
    /// How long the team's runs live before they are reaped; `None`: until removed.
    pub lifetime: Option<Lifetime>,
    /// Where the team is told (a JSON POST) that a run expires soon and that it expired.
    pub webhook: Option<String>,
}

/// What the team has on the engine now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub containers: u32,
    pub running: u32,
    /// Of `containers`, those of the person the run is for (zero when the run is
    /// nobody's, as for a team token).
    pub mine: u32,
}

/// Why a request was refused: the rule (a key of the team's policy) and words for
/// the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub rule: &'static str,
    pub reason: String,
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (policy rule `{}`)", self.reason, self.rule)
    }
}

pub type Decision = Result<(), Denial>;

/// The policy of a team when no config file exists: any image and tag, non-root
/// exec only, modest caps, builds from below the current directory.
/// The capabilities a container gets from the engine by default. A team may keep
/// some of these, never more.
pub const ENGINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "NET_RAW",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// What a team's containers keep unless its config says otherwise: what a server
/// (a web server on port 80 as root, a process that changes its user or owns its
/// files) needs. Dropped: raw sockets (spoofing on the team's bridge), device nodes,
/// file capabilities, chroot and the audit log.
pub const DEFAULT_CAPABILITIES: &[&str] = &[
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "NET_BIND_SERVICE",
    "SETGID",
    "SETUID",
];

pub fn default_team(name: &str, cwd: &Path) -> TeamPolicy {
    TeamPolicy {
        name: name.to_string(),
        images: vec!["*".into()],
        max_containers: 50,
        max_running: 20,
        max_containers_per_user: None,
        memory_bytes: Limit {
            default: 256 << 20,
            max: 2 << 30,
        },
        cpus: Limit {
            default: 1.0,
            max: 2.0,
        },
        pids: Limit {
            default: 256,
            max: 1024,
        },
        host_ports: 1024..=65535,
        build_roots: vec![cwd.to_path_buf()],
        tags: vec!["*".into()],
        env: Vec::new(),
        plugins: vec!["*".into()],
        engines: vec!["*".into()],
        exec_as_root: false,
        build_network: false,
        build_unbounded_pids: false,
        capabilities: DEFAULT_CAPABILITIES.iter().map(|c| c.to_string()).collect(),
        read_only_rootfs: false,
        run_as_root: true,
        host_ips: Vec::new(),
        permissions: None,
        trusted_keys: Vec::new(),
        require_signed: false,
        limits: PluginLimits {
            timeout: Duration::from_secs(600),
            memory_bytes: 256 << 20,
            log_bytes: 1 << 20,
        },
        lifetime: None,
        webhook: None,
    }
}

/// `1g`, `256m`, `512k` or `100 bytes`: a size in the units `dockwright.toml` uses.
pub fn format_size(bytes: u64) -> String {
    for (shift, unit) in [(40, "t"), (30, "g"), (20, "m"), (10, "k")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_format_in_config_units() {
        let cases = [
            (1 << 30, "1g"),
            (2 << 30, "2g"),
            (256 << 20, "256m"),
            (1536 << 20, "1536m"),
            (512 << 10, "512k"),
            (1 << 40, "1t"),
            (1000, "1000 bytes"),
            (0, "0 bytes"),
        ];
        for (bytes, want) in cases {
            assert_eq!(format_size(bytes), want);
        }
    }
}
