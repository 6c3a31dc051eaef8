//! `dockwright.toml`: the teams and their policies, and where the journal goes.
//!
//! The file is read in two layers. serde (with `deny_unknown_fields` on every table)
//! checks the shape and the form of each value; then the teams are merged with
//! `[defaults]` and the built-in policy, and the rules that span keys (a default
//! above its max, team names) are checked. Every error names the file, the line and
//! the full key (`teams.blue.memory.max`), because serde's own messages name only
//! the last key and an admin with several teams needs to know which one is wrong.
//!
//! Merging: a team's key wins over `[defaults]`, which wins over the built-in policy
//! ([`default_team`]). Tables merge key by key (`memory.max` alone keeps
//! the default `memory.default`; `env` merges per variable); arrays are replaced whole.

use std::collections::BTreeMap;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::anyhow;
use serde::{Deserialize, Deserializer};
use toml::de::DeTable;

use super::groups::{Group, Permissions};
use super::team::{
    default_team, format_size, Limit, PluginLimits, TeamPolicy, ENGINE_CAPABILITIES,
};
use crate::config::source::{key_path, span_of, Source};
use crate::config::values::{leaf, parse_age, Count, Cpus, Dur, Ports, Size};
use crate::util::suggest;
use merge::Merge;

/// The configuration in force: the file's, or the built-in default.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub teams: BTreeMap<String, TeamPolicy>,
    /// Where the run journal goes; `None` leaves the choice to the journal's default.
    pub journal: Option<PathBuf>,
    /// How long the journal keeps runs that ended (`journal_retention`); `None` keeps all.
    pub journal_retention: Option<Retention>,
    /// The file the config came from; `None` for the built-in default.
    pub source: Option<PathBuf>,
    /// The API tokens of each team that has any (`dockwright serve`), as
    /// `sha256:<hex>` hashes: the file never holds a token itself.
    pub tokens: BTreeMap<String, Vec<String>>,
    /// How to reach OCI registries (`[registries]`).
    pub registries: Registries,
    /// The engines besides the default one (`[engines.NAME]`), by name.
    pub engines: BTreeMap<String, EngineTarget>,
    /// How `dockwright serve` runs where its flags do not say (`[serve]`).
    pub serve: ServeSettings,
    /// The name or address people reach the default engine's published ports at
    /// (`public_host`); each named engine has its own.
    pub public_host: Option<String>,
}

/// What of its history the journal keeps: runs that ended within an age, or the latest
/// number of runs. A run that has not ended is kept whatever its age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    Age(Duration),
    Runs(u64),
}

impl<'de> Deserialize<'de> for Retention {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(
            d,
            "an age such as \"90d\", \"4w\" or \"12h\", or a number of runs above 0",
            |v| match v {
                toml::Value::Integer(n) => u64::try_from(*n)
                    .ok()
                    .filter(|n| *n > 0)
                    .map(Retention::Runs),
                toml::Value::String(s) => parse_age(s).map(Retention::Age),
                _ => None,
            },
        )
    }
}

/// `[serve]`: the server's settings, each overridden by its flag.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServeSettings {
    pub listen: Option<std::net::SocketAddr>,
    pub max_runs: Option<u32>,
    pub max_team_runs: Option<u32>,
    pub drain_timeout: Option<Duration>,
    pub fair_window: Option<Duration>,
    pub max_body: Option<u64>,
    pub header_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub max_connections: Option<u32>,
}

/// The name of the engine `DOCKER_HOST` (and `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`)
/// names, as the docker CLI finds it.
pub const DEFAULT_ENGINE: &str = "default";

/// An engine dockwright may run workflows on.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineTarget {
    pub name: String,
    /// `unix:///path` or `tcp://host:port`.
    pub host: String,
    /// Client certificate, key and the CA that signs the engine's certificate: the
    /// engine is reached over TLS and its certificate verified.
    pub tls: Option<TlsFiles>,
    /// The name or address people reach its published ports at, when the config says.
    pub public_host: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// `[registries]`: registries reached over plain HTTP, and the CA that signs the
/// certificates of the others when it is not a public one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registries {
    /// `host[:port]` of registries reached over plain HTTP. Loopback registries
    /// always are, as Docker does; every other one needs TLS unless listed here.
    pub insecure: Vec<String>,
    /// A PEM file of CA certificates to trust besides the system's.
    pub ca: Option<PathBuf>,
}

impl Config {
    /// What applies when there is no config file: one team, `default`, with the
    /// built-in policy.
    pub fn builtin(cwd: &Path) -> Config {
        Config {
            teams: BTreeMap::from([("default".to_string(), default_team("default", cwd))]),
            journal: None,
            journal_retention: None,
            source: None,
            tokens: BTreeMap::new(),
            registries: Registries::default(),
            engines: BTreeMap::new(),
            serve: ServeSettings::default(),
            public_host: None,
        }
    }

    /// The policy of team `name`, or an error that lists the teams there are.
    pub fn team(&self, name: &str) -> anyhow::Result<&TeamPolicy> {
        if let Some(team) = self.teams.get(name) {
            return Ok(team);
        }
        let names = self.teams.keys().map(String::as_str);
        let known = names
            .clone()
            .map(|n| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let place = match &self.source {
            Some(path) => format!("{} defines {known}", path.display()),
            None => format!(
                "no config file was found ({} does not exist), so the built-in config applies and it defines only {known}",
                crate::util::paths::config_file().display()
            ),
        };
        let hint = match suggest::closest(name, names) {
            Some(close) => format!("did you mean `{close}`?"),
            None => format!("pick one of those with --team, or add a [teams.{name}] table"),
        };
        Err(anyhow!("team `{name}` is not configured: {place}; {hint}"))
    }
}

/// Team names end up in labels and container names: keep them simple.
pub fn check_team(team: &str) -> Result<(), String> {
    // The first character is a letter or digit: the name is also a folder of the
    // state folder (admission), where `.` and `..` would mean other folders.
    let ok = team
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && team.len() <= 63
        && team
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "team `{team}` is not a valid name: use lowercase letters, digits, `-`, `_` and `.`, starting with a letter or digit (at most 63)"
        ))
    }
}

/// The config in force. An `explicit` file (`--config` or `$DOCKWRIGHT_CONFIG`) must
/// exist and parse: silently falling back to the permissive built-in policy when
/// the named file is missing would undo the admin's limits. Without one, the default
/// path is read if it exists, else the built-in default applies. Relative paths are
/// taken from `cwd`.
pub fn load(explicit: Option<&Path>, cwd: &Path) -> anyhow::Result<Config> {
    load_from(explicit, &crate::util::paths::config_file(), cwd)
}

fn load_from(explicit: Option<&Path>, default: &Path, cwd: &Path) -> anyhow::Result<Config> {
    if let Some(path) = explicit {
        let text = std::fs::read_to_string(cwd.join(path))
            .map_err(|e| anyhow!("cannot read the config file {}: {e}", path.display()))?;
        return parse(&text, path, cwd);
    }
    match std::fs::read_to_string(cwd.join(default)) {
        Ok(text) => parse(&text, default, cwd),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::builtin(cwd)),
        // It exists but cannot be read: running with the built-in policy instead
        // would ignore the admin's limits.
        Err(e) => Err(anyhow!(
            "cannot read the config file {}: {e}",
            default.display()
        )),
    }
}

/// The config `text` describes. `source` is the file it came from: errors name it,
/// and relative paths in it are taken from its folder (itself taken from `cwd`
/// when relative). `cwd` is also the build root of teams that set none.
pub fn parse(text: &str, source: &Path, cwd: &Path) -> anyhow::Result<Config> {
    let doc = match DeTable::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let file = Source {
                file: source,
                text,
                doc: &DeTable::default(),
            };
            return Err(file.error_at(e.span(), None, e.message()));
        }
    };
    let file = Source {
        file: source,
        text,
        doc: doc.get_ref(),
    };
    let raw: RawConfig = toml::from_str(text).map_err(|e| file.serde_error(&e))?;
    let folder = cwd.join(source.parent().unwrap_or(Path::new("")));

    let journal = match raw.journal {
        Some(path) if path.is_empty() => {
            return Err(file.error(&["journal"], "expected a file path, found \"\""))
        }
        Some(path) => Some(folder.join(path)),
        None => None,
    };
    let registries = match raw.registries {
        Some(r) => Registries {
            insecure: r.insecure.unwrap_or_default(),
            ca: match r.ca {
                Some(path) if path.is_empty() => {
                    return Err(
                        file.error(&["registries", "ca"], "expected a file path, found \"\"")
                    )
                }
                Some(path) => Some(folder.join(path)),
                None => None,
            },
        },
        None => Registries::default(),
    };
    let public_host = match raw.public_host {
        Some(host) => Some(check_public_host(&host).map_err(|e| file.error(&["public_host"], &e))?),
        None => None,
    };
    let mut engines = BTreeMap::new();
    for (name, engine) in raw.engines.unwrap_or_default() {
        let target = engine_target(&name, engine, &folder)
            .map_err(|e| file.error(&["engines", &name], &e))?;
        engines.insert(name, target);
    }
    let teams = raw.teams.unwrap_or_default();
    if teams.is_empty() {
        return Err(file.error(
            &["teams"],
            "no teams are defined; add at least one table such as [teams.blue]",
        ));
    }
    let defaults = raw.defaults.unwrap_or_default();
    let tokens = tokens(&file, &teams, &defaults)?;
    let mut policies = BTreeMap::new();
    for (name, team) in &teams {
        let merged = Merge {
            file: &file,
            name,
            team,
            defaults: &defaults,
            folder: &folder,
        }
        .policy(cwd)?;
        policies.insert(name.clone(), merged);
    }
    Ok(Config {
        teams: policies,
        journal,
        journal_retention: raw.journal_retention,
        source: Some(source.to_path_buf()),
        tokens,
        registries,
        engines,
        serve: raw.serve.map(RawServe::settings).unwrap_or_default(),
        public_host,
    })
}

/// Check an `[engines.NAME]` table; paths are taken from the config's folder.
fn engine_target(name: &str, raw: RawEngine, folder: &Path) -> Result<EngineTarget, String> {
    if name == DEFAULT_ENGINE {
        return Err(format!(
            "`{DEFAULT_ENGINE}` is the engine DOCKER_HOST names; give this engine another name"
        ));
    }
    check_team(name).map_err(|_| {
        format!("`{name}` is not an engine name: use lowercase letters, digits, `-`, `_` and `.`")
    })?;
    let host = raw.host.trim().to_string();
    if !(host.starts_with("unix://") || host.starts_with("tcp://")) {
        return Err(format!(
            "host `{host}` is not an engine address: use unix:///path/to/docker.sock or tcp://host:port"
        ));
    }
    let tls = match (raw.cert_path, raw.ca, raw.cert, raw.key) {
        (None, None, None, None) => None,
        (Some(dir), None, None, None) => {
            let dir = folder.join(dir);
            Some(TlsFiles {
                ca: dir.join("ca.pem"),
                cert: dir.join("cert.pem"),
                key: dir.join("key.pem"),
            })
        }
        (None, Some(ca), Some(cert), Some(key)) => Some(TlsFiles {
            ca: folder.join(ca),
            cert: folder.join(cert),
            key: folder.join(key),
        }),
        (Some(_), ..) => {
            return Err("give either `cert_path` or `ca`, `cert` and `key`, not both".into())
        }
        _ => {
            return Err(
                "TLS needs all of `ca`, `cert` and `key` (or `cert_path`, a folder holding ca.pem, cert.pem and key.pem)"
                    .into(),
            )
        }
    };
    if tls.is_some() && !host.starts_with("tcp://") {
        return Err(format!("TLS is for tcp:// engines, not `{host}`"));
    }
    let public_host = raw
        .public_host
        .as_deref()
        .map(check_public_host)
        .transpose()?;
    Ok(EngineTarget {
        name: name.to_string(),
        host,
        tls,
        public_host,
    })
}

/// A `public_host`: a host name or an IP address, as people type it into a browser's
/// address bar before the port.
pub fn check_public_host(text: &str) -> Result<String, String> {
    let host = text.trim();
    let name_like = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && !host.starts_with(['-', '.'])
        && !host.ends_with('-');
    let ipv6 = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse::<std::net::Ipv6Addr>()
        .is_ok();
    if name_like || ipv6 {
        Ok(host.to_string())
    } else {
        Err(format!(
            "public_host `{}` is not a host name or IP address: give one such as build.example.com or 10.0.0.5, without a scheme, port or path",
            text.escape_debug()
        ))
    }
}

/// Each team's token hashes. A token names one team, so a hash in `[defaults]`
/// (every team) or in two teams (which one?) is refused rather than guessed at.
fn tokens(
    file: &Source,
    teams: &BTreeMap<String, RawTeam>,
    defaults: &RawTeam,
) -> anyhow::Result<BTreeMap<String, Vec<String>>> {
    if defaults.tokens.is_some() {
        return Err(file.error(
            &["defaults", "tokens"],
            "a token belongs to one team: move it into that team's table",
        ));
    }
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (name, team) in teams {
        for TokenHash(hash) in team.tokens.iter().flatten() {
            if let Some((other, _)) = out
                .iter()
                .find(|(other, hashes)| *other != name && hashes.contains(hash))
            {
                return Err(file.error(
                    &["teams", name, "tokens"],
                    &format!("a token hash here is also one of team `{other}`'s: a token must name one team"),
                ));
            }
            let hashes = out.entry(name.clone()).or_default();
            if !hashes.contains(hash) {
                hashes.push(hash.clone());
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------
// The file's shape. Every key is optional so that `[defaults]` and teams share one
// table type; what is missing falls back when merging.

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a config with `journal`, `[defaults]` and `[teams.<name>]`"
)]
struct RawConfig {
    journal: Option<String>,
    journal_retention: Option<Retention>,
    public_host: Option<String>,
    registries: Option<RawRegistries>,
    engines: Option<BTreeMap<String, RawEngine>>,
    serve: Option<RawServe>,
    defaults: Option<RawTeam>,
    teams: Option<BTreeMap<String, RawTeam>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a table of team settings")]
struct RawTeam {
    images: Option<Vec<String>>,
    max_containers: Option<Count>,
    max_running: Option<Count>,
    memory: Option<RawLimit<Size>>,
    cpus: Option<RawLimit<Cpus>>,
    pids: Option<RawLimit<Count>>,
    host_ports: Option<Ports>,
    build_roots: Option<Vec<String>>,
    tags: Option<Vec<String>>,
    env: Option<BTreeMap<String, String>>,
    plugins: Option<Vec<String>>,
    exec_as_root: Option<bool>,
    build_network: Option<bool>,
    build_unbounded_pids: Option<bool>,
    capabilities: Option<Vec<String>>,
    read_only_rootfs: Option<bool>,
    run_as_root: Option<bool>,
    host_ips: Option<Vec<String>>,
    permissions: Option<Vec<PermissionName>>,
    trusted_keys: Option<Vec<PublicKey>>,
    engines: Option<Vec<String>>,
    require_signed: Option<bool>,
    plugin_limits: Option<RawPluginLimits>,
    tokens: Option<Vec<TokenHash>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table such as { default = ..., max = ... }"
)]
struct RawLimit<T> {
    default: Option<T>,
    max: Option<T>,
}

#[derive(Deserialize, Default)]
#[serde(
    deny_unknown_fields,
    expecting = "a table such as { timeout = \"5m\", memory = \"128m\", log = \"1m\" }"
)]
struct RawPluginLimits {
    timeout: Option<Dur>,
    memory: Option<Size>,
    log: Option<Size>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table of server settings such as { listen = \"127.0.0.1:8080\", max_runs = 16 }"
)]
struct RawServe {
    listen: Option<Listen>,
    max_runs: Option<Count>,
    max_team_runs: Option<Count>,
    drain_timeout: Option<Dur>,
    fair_window: Option<Dur>,
    max_body: Option<Size>,
    header_timeout: Option<Dur>,
    idle_timeout: Option<Dur>,
    max_connections: Option<Count>,
}

impl RawServe {
    fn settings(self) -> ServeSettings {
        ServeSettings {
            listen: self.listen.map(|l| l.0),
            max_runs: self.max_runs.map(|c| c.0),
            max_team_runs: self.max_team_runs.map(|c| c.0),
            drain_timeout: self.drain_timeout.map(|d| d.0),
            fair_window: self.fair_window.map(|d| d.0),
            max_body: self.max_body.map(|s| s.0),
            header_timeout: self.header_timeout.map(|d| d.0),
            idle_timeout: self.idle_timeout.map(|d| d.0),
            max_connections: self.max_connections.map(|c| c.0),
        }
    }
}

/// An address and port to listen on, such as `127.0.0.1:8080`.
struct Listen(std::net::SocketAddr);

impl<'de> Deserialize<'de> for Listen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(d, "an address and port such as \"127.0.0.1:8080\"", |v| {
            v.as_str().and_then(|s| s.trim().parse().ok())
        })
        .map(Listen)
    }
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table such as { host = \"tcp://build.lan:2376\", cert_path = \"certs/build\" }"
)]
struct RawEngine {
    host: String,
    public_host: Option<String>,
    /// A folder with `ca.pem`, `cert.pem` and `key.pem`, as `DOCKER_CERT_PATH`.
    cert_path: Option<String>,
    ca: Option<String>,
    cert: Option<String>,
    key: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(
    deny_unknown_fields,
    expecting = "a table such as { insecure = [\"registry.lan:5000\"], ca = \"ca.pem\" }"
)]
struct RawRegistries {
    insecure: Option<Vec<String>>,
    ca: Option<String>,
}

/// A permission group's name, as a manifest writes it.
#[derive(Debug, Clone, PartialEq)]
struct PermissionName(Group);

impl<'de> Deserialize<'de> for PermissionName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = Group::ALL.map(Group::name).join(", ");
        leaf(d, &format!("a permission group ({names})"), |v| {
            Group::parse(v.as_str()?).ok().map(PermissionName)
        })
    }
}

/// A public key that signs plugins, `ed25519:<base64 of 32 bytes>`, as
/// `dockwright keys new` prints it.
#[derive(Debug, Clone, PartialEq)]
struct PublicKey(String);

impl<'de> Deserialize<'de> for PublicKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(
            d,
            "a public key \"ed25519:<base64>\" as `dockwright keys new` prints it",
            |v| {
                let key = v.as_str()?.trim();
                crate::util::keys::parse_public(key).ok()?;
                Some(PublicKey(key.to_string()))
            },
        )
    }
}

/// The hash of an API token, `sha256:` and 64 hex digits (kept lowercase).
#[derive(Debug, Clone, PartialEq)]
struct TokenHash(String);

impl<'de> Deserialize<'de> for TokenHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(
            d,
            "a token hash \"sha256:<64 hex digits>\" as `dockwright token new` writes it",
            |v| {
                let hex = v.as_str()?.trim().strip_prefix("sha256:")?;
                (hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                    .then(|| format!("sha256:{}", hex.to_ascii_lowercase()))
            },
        )
        .map(TokenHash)
    }
}

mod merge;

#[cfg(test)]
mod tests;
