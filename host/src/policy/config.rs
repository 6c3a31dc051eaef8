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
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::anyhow;
use serde::{Deserialize, Deserializer};
use toml::de::{DeTable, DeValue};

use super::groups::{Group, Permissions};
use super::team::{
    default_team, format_size, Limit, PluginLimits, TeamPolicy, ENGINE_CAPABILITIES,
};
use crate::util::suggest;

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

/// A leaf read as any TOML value and then converted, so that every wrong value,
/// whatever its type, gets the same "expected ..., found <the value as written>".
fn leaf<'de, D, T>(
    d: D,
    expected: &str,
    convert: impl FnOnce(&toml::Value) -> Option<T>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let value = toml::Value::deserialize(d)?;
    convert(&value)
        .ok_or_else(|| serde::de::Error::custom(format!("expected {expected}, found {value}")))
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

/// A size in bytes, above zero: the engine reads a zero memory limit as none.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Size(u64);

impl<'de> Deserialize<'de> for Size {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(
            d,
            "a size such as \"512m\" or \"2g\" (or a number of bytes above 0)",
            |v| match v {
                toml::Value::Integer(n) => u64::try_from(*n).ok().filter(|n| *n > 0),
                toml::Value::String(s) => parse_size(s),
                _ => None,
            },
        )
        .map(Size)
    }
}

/// `512k`, `256m`, `2g`, `1t`, with an optional `b` or `ib` (`256MiB`), any case;
/// binary units. Above zero, and no more than the engine's signed 64-bit field holds.
fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim().to_ascii_lowercase();
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let unit = unit.trim();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return None,
    };
    // `ib` alone (`512ib`) is not a unit.
    if shift == 0 && text[digits..].trim() == "ib" {
        return None;
    }
    number
        .checked_mul(1 << shift)
        .filter(|n| *n > 0 && *n <= i64::MAX as u64)
}

/// A duration above zero, written with its unit: `500ms`, `30s`, `5m`, `1h`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Dur(Duration);

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(d, "a duration such as \"30s\", \"5m\" or \"1h\"", |v| {
            v.as_str().and_then(parse_duration)
        })
        .map(Dur)
    }
}

fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (number, unit) = text.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let duration = match unit.trim() {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => Duration::from_secs(number.checked_mul(60)?),
        "h" => Duration::from_secs(number.checked_mul(3600)?),
        _ => return None,
    };
    (!duration.is_zero()).then_some(duration)
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

/// An age of history: `90d`, `4w`, `12h` (and the shorter units of [`parse_duration`]).
pub fn parse_age(text: &str) -> Option<Duration> {
    let text = text.trim();
    let day = |n: &str, days: u64| {
        let n: u64 = n.trim().parse().ok()?;
        let secs = n.checked_mul(days)?.checked_mul(86_400)?;
        (secs > 0).then(|| Duration::from_secs(secs))
    };
    if let Some(n) = text.strip_suffix('d') {
        return day(n, 1);
    }
    if let Some(n) = text.strip_suffix('w') {
        return day(n, 7);
    }
    parse_duration(text)
}

/// A number of CPUs above 0 (0 would mean no limit), at most what the engine takes.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Cpus(f64);

impl<'de> Deserialize<'de> for Cpus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(d, "a number of CPUs above 0, such as 0.5 or 2", |v| {
            let cpus = match v {
                toml::Value::Integer(n) => *n as f64,
                toml::Value::Float(f) => *f,
                _ => return None,
            };
            (cpus > 0.0 && cpus <= 1024.0).then_some(cpus)
        })
        .map(Cpus)
    }
}

/// A count above zero: of containers, or of processes (where 0 means no limit).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Count(u32);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(d, "a whole number above 0", |v| {
            v.as_integer()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n > 0)
        })
        .map(Count)
    }
}

/// Host ports: `"8080"` (or `8080`) or `"30000-30999"`, within 1-65535, low to high.
#[derive(Debug, Clone, PartialEq)]
struct Ports(RangeInclusive<u16>);

impl<'de> Deserialize<'de> for Ports {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(
            d,
            "a port such as \"8080\" or a range such as \"30000-30999\" (ports 1-65535, low-high)",
            |v| match v {
                toml::Value::Integer(n) => u16::try_from(*n).ok().map(|p| p..=p),
                toml::Value::String(s) => parse_ports(s),
                _ => None,
            },
        )
        .and_then(|range| {
            if *range.start() == 0 || range.start() > range.end() {
                Err(serde::de::Error::custom(format!(
                    "expected ports within 1-65535 with the low port first, found \"{}-{}\"",
                    range.start(),
                    range.end()
                )))
            } else {
                Ok(Ports(range))
            }
        })
    }
}

fn parse_ports(text: &str) -> Option<RangeInclusive<u16>> {
    let port = |s: &str| s.trim().parse::<u16>().ok();
    match text.split_once('-') {
        Some((low, high)) => Some(port(low)?..=port(high)?),
        None => port(text).map(|p| p..=p),
    }
}

// ---------------------------------------------------------------------------
// Errors that point into the file.

/// The file being read, to place errors in it.
struct Source<'a> {
    file: &'a Path,
    text: &'a str,
    doc: &'a DeTable<'a>,
}

impl Source<'_> {
    /// An error at the key `path`, placed at its line when the file has it.
    fn error(&self, path: &[&str], message: &str) -> anyhow::Error {
        let span = span_of(self.doc, path);
        self.error_at(span, Some(&key_path(path)), message)
    }

    fn error_at(
        &self,
        span: Option<Range<usize>>,
        key: Option<&str>,
        message: &str,
    ) -> anyhow::Error {
        let place = match span {
            Some(span) => {
                let (line, column) = line_column(self.text, span.start);
                format!("{}:{line}:{column}", self.file.display())
            }
            None => self.file.display().to_string(),
        };
        match key {
            Some(key) => anyhow!("{place}: {key}: {message}"),
            None => anyhow!("{place}: {message}"),
        }
    }

    /// serde's error with the full key added (found from the span toml gives) and
    /// reworded as "expected ..., found ...".
    fn serde_error(&self, e: &toml::de::Error) -> anyhow::Error {
        let key = e.span().and_then(|span| locate(self.doc, &span));
        let message = reword(e.message());
        self.error_at(e.span(), key.as_deref(), &message)
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// `teams.blue.memory`, quoting keys that are not bare TOML keys (`teams."a.b"`).
fn key_path(path: &[&str]) -> String {
    path.iter()
        .map(|k| quote_key(k))
        .collect::<Vec<_>>()
        .join(".")
}

fn quote_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

/// Where the key `path` is written, if it is.
fn span_of(doc: &DeTable, path: &[&str]) -> Option<Range<usize>> {
    let (first, rest) = path.split_first()?;
    let (key, value) = doc.iter().find(|(k, _)| k.get_ref() == first)?;
    if rest.is_empty() {
        return Some(key.span());
    }
    match value.get_ref() {
        DeValue::Table(table) => span_of(table, rest),
        _ => None,
    }
}

/// The full key of the smallest key or value in the file that covers `span`.
/// Smallest, because tables opened by a `[header]` carry spans of the header that
/// do not cover their contents.
fn locate(doc: &DeTable, span: &Range<usize>) -> Option<String> {
    /// Keeps `path` as the best answer when `candidate` covers `span` and is no
    /// bigger than the best so far (ties go to the later, deeper one).
    fn consider(
        candidate: Range<usize>,
        path: &str,
        span: &Range<usize>,
        best: &mut Option<(usize, String)>,
    ) {
        let covers = candidate.start <= span.start && span.end <= candidate.end;
        let size = candidate.end - candidate.start;
        if covers && best.as_ref().is_none_or(|(s, _)| size <= *s) {
            *best = Some((size, path.to_string()));
        }
    }
    fn walk(value: &DeValue, path: &str, span: &Range<usize>, best: &mut Option<(usize, String)>) {
        match value {
            DeValue::Table(table) => {
                for (key, value) in table.iter() {
                    let child = if path.is_empty() {
                        quote_key(key.get_ref())
                    } else {
                        format!("{path}.{}", quote_key(key.get_ref()))
                    };
                    consider(key.span(), &child, span, best);
                    consider(value.span(), &child, span, best);
                    walk(value.get_ref(), &child, span, best);
                }
            }
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let child = format!("{path}[{i}]");
                    consider(item.span(), &child, span, best);
                    walk(item.get_ref(), &child, span, best);
                }
            }
            _ => {}
        }
    }
    let mut best = None;
    walk(&DeValue::Table(doc.clone()), "", span, &mut best);
    best.map(|(_, path)| path)
}

/// serde's wording in the config's terms: unknown keys get the allowed keys and a
/// suggestion; "invalid type: X, expected Y" becomes "expected Y, found X".
fn reword(message: &str) -> String {
    if message.starts_with("unknown field") {
        // "unknown field `x`, expected one of `a`, `b`" / "expected `a` or `b`":
        // the names are the odd pieces between backticks.
        let names: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
        if let Some((unknown, allowed)) = names.split_first() {
            let mut out = format!(
                "unknown key `{unknown}`; the keys allowed here are {}",
                allowed.join(", ")
            );
            if let Some(close) = suggest::closest(unknown, allowed.iter().copied()) {
                out.push_str(&format!(" (did you mean `{close}`?)"));
            }
            return out;
        }
    }
    let message = message
        .replace("a map", "a table")
        .replace("a sequence", "an array");
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some((found, expected)) = message
            .strip_prefix(prefix)
            .and_then(|m| m.rsplit_once(", expected "))
        {
            return format!("expected {expected}, found {found}");
        }
    }
    message
}

// ---------------------------------------------------------------------------
// Merging a team with `[defaults]` and the built-in policy.

struct Merge<'a> {
    file: &'a Source<'a>,
    name: &'a str,
    team: &'a RawTeam,
    defaults: &'a RawTeam,
    folder: &'a Path,
}

impl Merge<'_> {
    fn policy(&self, cwd: &Path) -> anyhow::Result<TeamPolicy> {
        let name = self.name;
        check_team(name).map_err(|e| self.file.error(&["teams", name], &e))?;
        let base = default_team(name, cwd);
        let (team, defaults) = (self.team, self.defaults);
        let pick = |f: fn(&RawTeam) -> Option<&Vec<String>>, base: Vec<String>| {
            f(team).or(f(defaults)).cloned().unwrap_or(base)
        };
        let count = |f: fn(&RawTeam) -> Option<Count>, base: u32| {
            f(team).or(f(defaults)).map_or(base, |c| c.0)
        };

        let memory = self.limit(
            "memory",
            |t| t.memory.as_ref(),
            |s: &Size| s.0,
            base.memory_bytes,
            |b| format_size(*b),
        )?;
        let cpus = self.limit(
            "cpus",
            |t| t.cpus.as_ref(),
            |c: &Cpus| c.0,
            base.cpus,
            |c| c.to_string(),
        )?;
        let pids = self.limit(
            "pids",
            |t| t.pids.as_ref(),
            |c: &Count| c.0,
            base.pids,
            |p| p.to_string(),
        )?;
        let plugin_limit = |f: fn(&RawPluginLimits) -> Option<u64>| {
            let from = |t: &RawTeam| t.plugin_limits.as_ref().and_then(f);
            from(team).or(from(defaults))
        };
        let timeout = {
            let from = |t: &RawTeam| t.plugin_limits.as_ref().and_then(|l| l.timeout);
            from(team)
                .or(from(defaults))
                .map_or(base.limits.timeout, |d| d.0)
        };

        Ok(TeamPolicy {
            name: name.to_string(),
            images: pick(|t| t.images.as_ref(), base.images),
            max_containers: count(|t| t.max_containers, base.max_containers),
            max_running: count(|t| t.max_running, base.max_running),
            memory_bytes: memory,
            cpus,
            pids,
            host_ports: team
                .host_ports
                .as_ref()
                .or(defaults.host_ports.as_ref())
                .map_or(base.host_ports, |p| p.0.clone()),
            build_roots: self.build_roots(base.build_roots)?,
            tags: pick(|t| t.tags.as_ref(), base.tags),
            env: self.env()?,
            plugins: pick(|t| t.plugins.as_ref(), base.plugins),
            engines: pick(|t| t.engines.as_ref(), base.engines),
            exec_as_root: team
                .exec_as_root
                .or(defaults.exec_as_root)
                .unwrap_or(base.exec_as_root),
            build_network: team
                .build_network
                .or(defaults.build_network)
                .unwrap_or(base.build_network),
            build_unbounded_pids: team
                .build_unbounded_pids
                .or(defaults.build_unbounded_pids)
                .unwrap_or(base.build_unbounded_pids),
            capabilities: self.capabilities(base.capabilities)?,
            read_only_rootfs: team
                .read_only_rootfs
                .or(defaults.read_only_rootfs)
                .unwrap_or(base.read_only_rootfs),
            run_as_root: team
                .run_as_root
                .or(defaults.run_as_root)
                .unwrap_or(base.run_as_root),
            host_ips: self.host_ips(base.host_ips)?,
            permissions: team
                .permissions
                .as_ref()
                .or(defaults.permissions.as_ref())
                .map(|names| Permissions::from_groups(names.iter().map(|n| n.0)))
                .or(base.permissions),
            trusted_keys: team
                .trusted_keys
                .as_ref()
                .or(defaults.trusted_keys.as_ref())
                .map_or(base.trusted_keys, |keys| {
                    keys.iter().map(|k| k.0.clone()).collect()
                }),
            require_signed: team
                .require_signed
                .or(defaults.require_signed)
                .unwrap_or(base.require_signed),
            limits: PluginLimits {
                timeout,
                memory_bytes: plugin_limit(|l| l.memory.map(|s| s.0))
                    .unwrap_or(base.limits.memory_bytes),
                log_bytes: plugin_limit(|l| l.log.map(|s| s.0)).unwrap_or(base.limits.log_bytes),
            },
        })
    }

    /// Where a key of this team came from: the team's table, `[defaults]`, or (None)
    /// the built-in policy.
    fn origin(&self, key: &[&str]) -> Option<Vec<String>> {
        let in_team: Vec<&str> = ["teams", self.name].iter().chain(key).copied().collect();
        let in_defaults: Vec<&str> = ["defaults"].iter().chain(key).copied().collect();
        [in_team, in_defaults]
            .into_iter()
            .find(|path| span_of(self.file.doc, path).is_some())
            .map(|path| path.into_iter().map(String::from).collect())
    }

    fn error(&self, key: &[&str], message: &str) -> anyhow::Error {
        match self.origin(key) {
            Some(path) => {
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                self.file.error(&path, message)
            }
            None => {
                let path: Vec<&str> = ["teams", self.name].iter().chain(key).copied().collect();
                self.file.error(&path, message)
            }
        }
    }

    /// A resource limit, merged field by field, with its default no more than its max.
    fn limit<R, T: Copy + PartialOrd>(
        &self,
        key: &str,
        get: impl Fn(&RawTeam) -> Option<&RawLimit<R>>,
        value: impl Fn(&R) -> T,
        base: Limit<T>,
        show: impl Fn(&T) -> String,
    ) -> anyhow::Result<Limit<T>> {
        let field = |f: fn(&RawLimit<R>) -> Option<&R>| {
            get(self.team)
                .and_then(f)
                .or_else(|| get(self.defaults).and_then(f))
                .map(&value)
        };
        let default = field(|l| l.default.as_ref()).unwrap_or(base.default);
        let max = field(|l| l.max.as_ref()).unwrap_or(base.max);
        if default <= max {
            return Ok(Limit { default, max });
        }
        let named = |field: &str| match self.origin(&[key, field]) {
            Some(path) => key_path(&path.iter().map(String::as_str).collect::<Vec<_>>()),
            None => "the built-in policy".to_string(),
        };
        // Blame the value the file sets: the default when it sets it, else the max.
        // A value in [defaults] clashes only for some teams, so name the team then.
        let blamed = if self.origin(&[key, "default"]).is_some() {
            "default"
        } else {
            "max"
        };
        let team = match self.origin(&[key, blamed]) {
            Some(path) if path[0] == "defaults" => format!(" for team `{}`", self.name),
            _ => String::new(),
        };
        let message = if blamed == "default" {
            format!(
                "the default {} is more than the max {} (from {}){team}; lower the default or raise the max",
                show(&default),
                show(&max),
                named("max")
            )
        } else {
            format!(
                "the max {} is less than the default {} (from {}){team}; raise the max or set a lower default",
                show(&max),
                show(&default),
                named("default")
            )
        };
        Err(self.error(&[key, blamed], &message))
    }

    /// `[defaults]` env with the team's over it, `{team}` replaced by the team's name.
    fn env(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut env = BTreeMap::new();
        for source in [self.defaults, self.team] {
            env.extend(source.env.iter().flatten());
        }
        env.into_iter()
            .map(|(key, value)| {
                // The engine splits `KEY=VALUE` at the first `=`.
                if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
                    return Err(self.error(
                        &["env", key.as_str()],
                        &format!(
                            "expected a variable name without `=` and a value, found {key:?} = {value:?}"
                        ),
                    ));
                }
                Ok((key.clone(), value.replace("{team}", self.name)))
            })
            .collect()
    }

    /// The capabilities the team's containers keep: names of the engine's default
    /// set (`CAP_` and case optional), never one beyond it.
    fn capabilities(&self, base: Vec<String>) -> anyhow::Result<Vec<String>> {
        let Some(names) = self
            .team
            .capabilities
            .as_ref()
            .or(self.defaults.capabilities.as_ref())
        else {
            return Ok(base);
        };
        let mut out = Vec::new();
        for name in names {
            let upper = name.to_ascii_uppercase();
            let cap = upper.strip_prefix("CAP_").unwrap_or(&upper);
            if !ENGINE_CAPABILITIES.contains(&cap) {
                return Err(self.error(
                    &["capabilities"],
                    &format!(
                        "expected capabilities a container has by default ({}), found {name:?}: dockwright never grants more than the engine's default",
                        ENGINE_CAPABILITIES.join(", ")
                    ),
                ));
            }
            if !out.iter().any(|c| c == cap) {
                out.push(cap.to_string());
            }
        }
        Ok(out)
    }

    /// The addresses published ports may bind.
    fn host_ips(&self, base: Vec<std::net::IpAddr>) -> anyhow::Result<Vec<std::net::IpAddr>> {
        let Some(ips) = self
            .team
            .host_ips
            .as_ref()
            .or(self.defaults.host_ips.as_ref())
        else {
            return Ok(base);
        };
        ips.iter()
            .map(|ip| {
                ip.parse().map_err(|_| {
                    self.error(
                        &["host_ips"],
                        &format!("expected IP addresses such as \"127.0.0.1\", found {ip:?}"),
                    )
                })
            })
            .collect()
    }

    /// The team's build roots, absolute (relative ones are taken from the config's
    /// folder) and canonical when they exist, so that they compare with the canonical
    /// context paths the host checks. One that does not exist is kept as written:
    /// nothing canonical lies below it until it is created.
    fn build_roots(&self, base: Vec<PathBuf>) -> anyhow::Result<Vec<PathBuf>> {
        let Some(roots) = self
            .team
            .build_roots
            .as_ref()
            .or(self.defaults.build_roots.as_ref())
        else {
            return Ok(base);
        };
        roots
            .iter()
            .enumerate()
            .map(|(i, root)| {
                if root.is_empty() {
                    // Placed at the list (the span finder knows keys, not items),
                    // named down to the item.
                    let list = self.origin(&["build_roots"]).unwrap_or_default();
                    let list: Vec<&str> = list.iter().map(String::as_str).collect();
                    let key = format!("{}[{i}]", key_path(&list));
                    return Err(self.file.error_at(
                        span_of(self.file.doc, &list),
                        Some(&key),
                        "expected a folder path, found \"\"",
                    ));
                }
                let path = self.folder.join(root);
                Ok(std::fs::canonicalize(&path).unwrap_or(path))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_hosts_are_names_or_addresses() {
        for good in [
            "build.example.com",
            "10.0.0.5",
            "host-1",
            "::1",
            "[fe80::1]",
            " dw.lan ",
        ] {
            assert!(check_public_host(good).is_ok(), "{good}");
        }
        assert_eq!(check_public_host(" dw.lan ").unwrap(), "dw.lan");
        for bad in [
            "",
            "http://dw.lan",
            "dw.lan:8080",
            "dw.lan/x",
            "-dw",
            "a b",
            "dw_lan",
        ] {
            let err = check_public_host(bad).unwrap_err();
            assert!(
                err.contains("not a host name or IP address"),
                "{bad}: {err}"
            );
        }
    }

    const EXAMPLE: &str = include_str!("../../../examples/dockwright.toml");

    fn cwd() -> PathBuf {
        PathBuf::from("/work/here")
    }

    fn parse_at(text: &str) -> anyhow::Result<Config> {
        parse(text, Path::new("/etc/dockwright/dockwright.toml"), &cwd())
    }

    fn error(text: &str) -> String {
        format!("{:#}", parse_at(text).unwrap_err())
    }

    #[test]
    fn engines_are_named_with_their_tls_files() {
        let config = parse_at(
            "[engines.build]\nhost = \"tcp://build.lan:2376\"\ncert_path = \"certs/build\"\n\
             [engines.local2]\nhost = \"unix:///run/docker2.sock\"\n\
             [engines.pinned]\nhost = \"tcp://10.0.0.9:2376\"\nca = \"/pki/ca.pem\"\ncert = \"c.pem\"\nkey = \"k.pem\"\n\
             [teams.blue]\nengines = [\"default\", \"build\"]\n",
        )
        .unwrap();
        let build = &config.engines["build"];
        assert_eq!(build.host, "tcp://build.lan:2376");
        let tls = build.tls.as_ref().unwrap();
        assert_eq!(tls.ca, PathBuf::from("/etc/dockwright/certs/build/ca.pem"));
        assert_eq!(
            tls.key,
            PathBuf::from("/etc/dockwright/certs/build/key.pem")
        );
        assert_eq!(config.engines["local2"].tls, None);
        let pinned = config.engines["pinned"].tls.as_ref().unwrap();
        assert_eq!(pinned.ca, PathBuf::from("/pki/ca.pem"));
        assert_eq!(pinned.cert, PathBuf::from("/etc/dockwright/c.pem"));
        assert_eq!(config.team("blue").unwrap().engines, ["default", "build"]);

        let bad: &[(&str, &str)] = &[
            ("[engines.default]\nhost = \"tcp://x:1\"", "DOCKER_HOST"),
            ("[engines.b]\nhost = \"ssh://x\"", "not an engine address"),
            (
                "[engines.b]\nhost = \"tcp://x:1\"\nca = \"ca.pem\"",
                "all of `ca`, `cert` and `key`",
            ),
            (
                "[engines.b]\nhost = \"unix:///x\"\ncert_path = \"c\"",
                "TLS is for tcp://",
            ),
            ("[engines.B]\nhost = \"tcp://x:1\"", "not an engine name"),
            ("[engines.b]\nhots = \"tcp://x:1\"", "hots"),
        ];
        for (text, needle) in bad {
            let err = error(&format!("{text}\n[teams.blue]\n"));
            assert!(
                err.contains(needle) && err.contains("engines"),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn serve_settings_are_read_with_their_units() {
        let config = parse_at(
            "[serve]\nlisten = \"0.0.0.0:9090\"\nmax_runs = 32\nmax_team_runs = 2\n\
             drain_timeout = \"2m\"\nfair_window = \"500ms\"\nmax_body = \"1m\"\n\
             header_timeout = \"5s\"\nidle_timeout = \"2m\"\nmax_connections = 300\n[teams.blue]\n",
        )
        .unwrap();
        let serve = &config.serve;
        assert_eq!(serve.listen, Some("0.0.0.0:9090".parse().unwrap()));
        assert_eq!((serve.max_runs, serve.max_team_runs), (Some(32), Some(2)));
        assert_eq!(serve.drain_timeout, Some(Duration::from_secs(120)));
        assert_eq!(serve.fair_window, Some(Duration::from_millis(500)));
        assert_eq!(serve.max_body, Some(1 << 20));
        assert_eq!(serve.header_timeout, Some(Duration::from_secs(5)));
        assert_eq!(serve.idle_timeout, Some(Duration::from_secs(120)));
        assert_eq!(serve.max_connections, Some(300));
        assert_eq!(
            parse_at("[teams.blue]\n").unwrap().serve,
            ServeSettings::default()
        );
        for (text, needle) in [
            ("listen = \"localhost\"", "serve.listen"),
            ("max_runs = 0", "serve.max_runs"),
            ("drain_timeout = 30", "serve.drain_timeout"),
            ("max_bodey = 1", "max_bodey"),
            ("max_connections = 0", "serve.max_connections"),
            ("idle_timeout = \"soon\"", "serve.idle_timeout"),
        ] {
            let err = error(&format!("[serve]\n{text}\n[teams.blue]\n"));
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn team_names() {
        for ok in ["default", "blue-team", "a.b_c1"] {
            assert!(check_team(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Blue",
            "a b",
            "a/b",
            &"x".repeat(64),
            ".",
            "..",
            "-x",
            "_x",
        ] {
            assert!(check_team(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_example_parses() {
        let config = parse_at(EXAMPLE).unwrap();
        assert_eq!(
            config.teams.keys().collect::<Vec<_>>(),
            vec!["blue", "green"]
        );
        let blue = config.team("blue").unwrap();
        assert_eq!(blue.images, vec!["dockwright/*", "blue/*"]);
        assert_eq!(
            blue.memory_bytes,
            Limit {
                default: 256 << 20,
                max: 1 << 30
            }
        );
        assert_eq!(
            blue.cpus,
            Limit {
                default: 0.5,
                max: 2.0
            }
        );
        assert_eq!(blue.host_ports, 30000..=30999);
        assert_eq!(
            blue.build_roots,
            vec![
                PathBuf::from("/srv/dockwright/blue"),
                PathBuf::from("/etc/dockwright/contexts/blue")
            ]
        );
        assert!(blue.env.contains(&("TEAM".into(), "blue".into())));
        assert_eq!(blue.limits.timeout, Duration::from_secs(300));
        assert!(!blue.require_signed && blue.trusted_keys.is_empty());
        assert_eq!(blue.permissions, None);
        assert_eq!(config.registries.insecure, vec!["registry.lan:5000"]);
        assert_eq!(config.engines["build"].host, "tcp://build.lan:2376");
        assert_eq!(blue.engines, ["*"]);
        assert_eq!(
            config.journal,
            Some(PathBuf::from("/var/lib/dockwright/journal.db"))
        );
        assert_eq!(
            config.journal_retention,
            Some(Retention::Age(Duration::from_secs(90 * 86_400)))
        );
        assert_eq!(
            config.source,
            Some(PathBuf::from("/etc/dockwright/dockwright.toml"))
        );
        // Every policy the example gives is one the checks can use.
        for team in config.teams.values() {
            assert!(team.memory_bytes.default <= team.memory_bytes.max);
            assert!(team.pids.default <= team.pids.max);
        }
    }

    #[test]
    fn defaults_merge_key_by_key() {
        let config = parse_at(
            r#"
            [defaults]
            images = ["dockwright/*"]
            max_running = 3
            memory = { default = "128m", max = "512m" }
            env = { TEAM = "{team}", ORG = "acme" }
            plugin_limits = { timeout = "30s" }
            build_unbounded_pids = true

            [teams.blue]
            images = ["blue/*"]
            memory = { max = "1g" }
            build_unbounded_pids = false
            env = { ORG = "blue-org" }
            plugin_limits = { log = "2m" }

            [teams.green]
            "#,
        )
        .unwrap();
        let builtin = default_team("x", &cwd());
        let blue = config.team("blue").unwrap();
        let green = config.team("green").unwrap();
        // Arrays are replaced whole.
        assert_eq!(blue.images, vec!["blue/*"]);
        assert_eq!(green.images, vec!["dockwright/*"]);
        // Scalars fall back to [defaults], then to the built-in policy.
        assert_eq!((blue.max_running, green.max_running), (3, 3));
        assert_eq!(blue.max_containers, builtin.max_containers);
        // A team's own `false` wins over `true` in [defaults].
        assert!(!blue.build_unbounded_pids && green.build_unbounded_pids);
        assert!(!builtin.build_unbounded_pids);
        // Tables merge key by key.
        assert_eq!(
            blue.memory_bytes,
            Limit {
                default: 128 << 20,
                max: 1 << 30
            }
        );
        assert_eq!(
            green.memory_bytes,
            Limit {
                default: 128 << 20,
                max: 512 << 20
            }
        );
        assert_eq!(blue.cpus, builtin.cpus);
        assert_eq!(
            blue.env,
            vec![
                ("ORG".into(), "blue-org".into()),
                ("TEAM".into(), "blue".into())
            ]
        );
        assert_eq!(
            green.env,
            vec![
                ("ORG".into(), "acme".into()),
                ("TEAM".into(), "green".into())
            ]
        );
        assert_eq!(blue.limits.timeout, Duration::from_secs(30));
        assert_eq!(blue.limits.log_bytes, 2 << 20);
        assert_eq!(blue.limits.memory_bytes, builtin.limits.memory_bytes);
        // No build roots anywhere: the current directory, as without a config.
        assert_eq!(blue.build_roots, vec![cwd()]);
        assert_eq!(config.journal, None);
    }

    #[test]
    fn value_forms() {
        // (key, value, what to read back from the policy, what it must show)
        type Case = (
            &'static str,
            &'static str,
            fn(&TeamPolicy) -> String,
            &'static str,
        );
        let cases: &[Case] = &[
            (
                "memory",
                "{ max = 1073741824 }",
                |t| t.memory_bytes.max.to_string(),
                "1073741824",
            ),
            (
                "memory",
                "{ default = \"512K\" }",
                |t| t.memory_bytes.default.to_string(),
                "524288",
            ),
            (
                "memory",
                "{ max = \"2GiB\" }",
                |t| t.memory_bytes.max.to_string(),
                "2147483648",
            ),
            (
                "memory",
                "{ default = \"3mb\" }",
                |t| t.memory_bytes.default.to_string(),
                "3145728",
            ),
            ("cpus", "{ max = 4 }", |t| t.cpus.max.to_string(), "4"),
            (
                "cpus",
                "{ default = 0.25 }",
                |t| t.cpus.default.to_string(),
                "0.25",
            ),
            (
                "host_ports",
                "\"8080\"",
                |t| format!("{:?}", t.host_ports),
                "8080..=8080",
            ),
            (
                "host_ports",
                "8080",
                |t| format!("{:?}", t.host_ports),
                "8080..=8080",
            ),
            (
                "host_ports",
                "\"1-65535\"",
                |t| format!("{:?}", t.host_ports),
                "1..=65535",
            ),
            (
                "host_ports",
                "\"30000 - 30009\"",
                |t| format!("{:?}", t.host_ports),
                "30000..=30009",
            ),
            (
                "plugin_limits",
                "{ timeout = \"500ms\" }",
                |t| format!("{:?}", t.limits.timeout),
                "500ms",
            ),
            (
                "plugin_limits",
                "{ timeout = \"1h\" }",
                |t| format!("{:?}", t.limits.timeout),
                "3600s",
            ),
            (
                "exec_as_root",
                "true",
                |t| t.exec_as_root.to_string(),
                "true",
            ),
            (
                "build_network",
                "true",
                |t| t.build_network.to_string(),
                "true",
            ),
            (
                "build_unbounded_pids",
                "true",
                |t| t.build_unbounded_pids.to_string(),
                "true",
            ),
            (
                "capabilities",
                "[\"cap_chown\", \"KILL\", \"CHOWN\"]",
                |t| t.capabilities.join(","),
                "CHOWN,KILL",
            ),
            (
                "read_only_rootfs",
                "true",
                |t| t.read_only_rootfs.to_string(),
                "true",
            ),
            (
                "run_as_root",
                "false",
                |t| t.run_as_root.to_string(),
                "false",
            ),
            (
                "host_ips",
                "[\"127.0.0.1\", \"::1\"]",
                |t| format!("{:?}", t.host_ips),
                "[127.0.0.1, ::1]",
            ),
            (
                "permissions",
                "[\"observe\", \"containers\"]",
                |t| format!("{:?}", t.permissions.as_ref().map(|p| p.to_string())),
                "Some(\"containers, observe\")",
            ),
            (
                "require_signed",
                "true",
                |t| t.require_signed.to_string(),
                "true",
            ),
            (
                "trusted_keys",
                "[\"ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=\"]",
                |t| t.trusted_keys.join(","),
                "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=",
            ),
        ];
        for (key, value, get, want) in cases {
            let config = parse_at(&format!("[teams.blue]\n{key} = {value}\n"))
                .unwrap_or_else(|e| panic!("{key} = {value}: {e:#}"));
            assert_eq!(get(config.team("blue").unwrap()), *want, "{key} = {value}");
        }
    }

    #[test]
    fn bad_values_name_the_file_the_line_and_the_key() {
        // (config, the key the error must name, words it must contain)
        let cases: &[(&str, &str, &str)] = &[
            (
                "[teams.blue]\nmemory = { default = \"256m\", max = \"lots\" }",
                "teams.blue.memory.max",
                r#"expected a size such as "512m" or "2g" (or a number of bytes above 0), found "lots""#,
            ),
            ("[teams.blue]\nmemory = { max = 0 }", "teams.blue.memory.max", "above 0"),
            ("[teams.blue]\nmemory = { max = \"0m\" }", "teams.blue.memory.max", "found \"0m\""),
            ("[teams.blue]\nmemory = { max = \"12x\" }", "teams.blue.memory.max", "expected a size"),
            ("[teams.blue]\nmemory = { max = \"ib\" }", "teams.blue.memory.max", "expected a size"),
            (
                "[teams.blue]\nmemory = { default = \"2g\", max = \"1g\" }",
                "teams.blue.memory.default",
                "the default 2g is more than the max 1g (from teams.blue.memory.max)",
            ),
            (
                "[defaults]\nmemory = { max = \"1g\" }\n[teams.blue]\nmemory = { default = \"2g\" }",
                "teams.blue.memory.default",
                "more than the max 1g (from defaults.memory.max)",
            ),
            (
                "[defaults]\nmemory = { default = \"2g\" }\n[teams.blue]\nmemory = { max = \"1g\" }",
                "defaults.memory.default",
                "the default 2g is more than the max 1g (from teams.blue.memory.max) for team `blue`",
            ),
            (
                "[teams.blue]\nmemory = { max = \"128m\" }",
                "teams.blue.memory.max",
                "the max 128m is less than the default 256m (from the built-in policy)",
            ),
            ("[teams.blue]\ncpus = { default = 4, max = 2 }", "teams.blue.cpus.default", "more than the max 2"),
            ("[teams.blue]\ncpus = { max = 0 }", "teams.blue.cpus.max", "expected a number of CPUs above 0"),
            ("[teams.blue]\ncpus = { max = nan }", "teams.blue.cpus.max", "found nan"),
            ("[teams.blue]\ncpus = { max = \"2\" }", "teams.blue.cpus.max", "found \"2\""),
            ("[teams.blue]\npids = { default = 600, max = 500 }", "teams.blue.pids.default", "more than the max 500"),
            ("[teams.blue]\npids = { max = 0 }", "teams.blue.pids.max", "expected a whole number above 0, found 0"),
            ("[teams.blue]\npids = { max = -1 }", "teams.blue.pids.max", "found -1"),
            ("[teams.blue]\nmax_containers = 0", "teams.blue.max_containers", "above 0, found 0"),
            ("[teams.blue]\nmax_running = \"five\"", "teams.blue.max_running", "found \"five\""),
            ("[teams.blue]\nhost_ports = \"30999-30000\"", "teams.blue.host_ports", "low port first, found \"30999-30000\""),
            ("[teams.blue]\nhost_ports = \"0-100\"", "teams.blue.host_ports", "within 1-65535"),
            ("[teams.blue]\nhost_ports = \"70000\"", "teams.blue.host_ports", "found \"70000\""),
            ("[teams.blue]\nhost_ports = \"a-b\"", "teams.blue.host_ports", "expected a port"),
            ("[teams.blue.plugin_limits]\ntimeout = \"5\"", "teams.blue.plugin_limits.timeout", r#"expected a duration such as "30s", "5m" or "1h", found "5""#),
            ("[teams.blue.plugin_limits]\ntimeout = \"0s\"", "teams.blue.plugin_limits.timeout", "found \"0s\""),
            ("[teams.blue.plugin_limits]\nlog = \"much\"", "teams.blue.plugin_limits.log", "expected a size"),
            ("[teams.blue]\nimages = \"dockwright/*\"", "teams.blue.images", "expected an array, found string"),
            ("[teams.blue]\nimages = [\"a\", 3]", "teams.blue.images[1]", "expected a string, found integer `3`"),
            ("[teams.blue]\nexec_as_root = \"no\"", "teams.blue.exec_as_root", "expected a boolean"),
            ("[teams.blue]\nbuild_unbounded_pids = \"yes\"", "teams.blue.build_unbounded_pids", "expected a boolean"),
            ("[teams.blue]\ncapabilities = [\"SYS_ADMIN\"]", "teams.blue.capabilities", "never grants more than the engine's default"),
            ("[defaults]\ncapabilities = [\"CAP_NET_ADMIN\"]\n[teams.blue]", "defaults.capabilities", "found \"CAP_NET_ADMIN\""),
            ("[teams.blue]\nhost_ips = [\"localhost\"]", "teams.blue.host_ips", "expected IP addresses"),
            ("[teams.blue]\nrun_as_root = 0", "teams.blue.run_as_root", "expected a boolean"),
            ("[teams.blue]\nread_only_rootfs = \"on\"", "teams.blue.read_only_rootfs", "expected a boolean"),
            ("[teams.blue]\npermissions = [\"root\"]", "teams.blue.permissions", "expected a permission group (containers, observe"),
            ("[teams.blue]\ntrusted_keys = [\"ed25519:short\"]", "teams.blue.trusted_keys", "expected a public key"),
            ("[registries]\ninsecure = \"x\"\n[teams.blue]", "registries.insecure", "expected an array"),
            ("[teams.blue]\nenv = { TEAM = 3 }", "teams.blue.env.TEAM", "expected a string"),
            ("[teams.blue]\nenv = { \"A=B\" = \"x\" }", "teams.blue.env.\"A=B\"", "without `=`"),
            ("[teams.blue]\nbuild_roots = [\"\"]", "teams.blue.build_roots[0]", "expected a folder path"),
            ("journal = \"\"\n[teams.blue]", "journal", "expected a file path"),
            ("[teams]\nblue = 3", "teams.blue", "expected a table of team settings, found integer `3`"),
            ("[teams.Blue]", "teams.Blue", "not a valid name"),
            ("[teams.\"\"]", "teams.\"\"", "not a valid name"),
            ("[teams.\"blue team\"]", "teams.\"blue team\"", "not a valid name"),
            ("[teams.\"blue.v2\"]\nmax_running = 0", "teams.\"blue.v2\".max_running", "above 0"),
            ("[defaults]\nmax_running = 0\n[teams.blue]", "defaults.max_running", "above 0"),
            ("journal = \"/j\"", "teams", "no teams are defined"),
            ("[teams]", "teams", "no teams are defined"),
        ];
        for (text, key, words) in cases {
            let err = error(text);
            let start = "/etc/dockwright/dockwright.toml:";
            assert!(err.starts_with(start), "{text}\n=> {err}");
            assert!(
                err.contains(&format!(": {key}: ")),
                "{text}\nwants key {key}\n=> {err}"
            );
            assert!(err.contains(words), "{text}\nwants {words}\n=> {err}");
        }
    }

    #[test]
    fn tokens_are_hashes_of_one_team() {
        let config = parse_at(EXAMPLE).unwrap();
        let hash = "sha256:50d858e0985ecc7f60418aaf0cc5ab587f42c2570a884095a9e8ccacd0f6545c";
        assert_eq!(config.tokens["blue"], vec![hash.to_string()]);
        assert!(!config.tokens.contains_key("green"));

        // Kept lowercase and once; teams without tokens have no entry.
        let upper = hash.to_ascii_uppercase().replace("SHA256:", "sha256:");
        let text = format!("[teams.a]\ntokens = [\"{upper}\", \"{hash}\"]\n[teams.b]\n");
        let config = parse_at(&text).unwrap();
        assert_eq!(config.tokens.len(), 1);
        assert_eq!(config.tokens["a"], vec![hash.to_string()]);
        assert!(Config::builtin(&cwd()).tokens.is_empty());

        let h = &hash["sha256:".len()..];
        let cases = [
            (
                format!("[teams.a]\ntokens = [\"{h}\"]"),
                "teams.a.tokens",
                "expected a token hash",
            ),
            (
                "[teams.a]\ntokens = [\"sha256:abc\"]".to_string(),
                "teams.a.tokens",
                "found \"sha256:abc\"",
            ),
            (
                "[teams.a]\ntokens = \"x\"".to_string(),
                "teams.a.tokens",
                "expected an array",
            ),
            (
                format!("[defaults]\ntokens = [\"{hash}\"]\n[teams.a]"),
                "defaults.tokens",
                "belongs to one team",
            ),
            (
                format!("[teams.a]\ntokens = [\"{hash}\"]\n[teams.b]\ntokens = [\"{hash}\"]"),
                "teams.b.tokens",
                "also one of team `a`'s",
            ),
        ];
        for (text, key, words) in cases {
            let err = error(&text);
            assert!(
                err.contains(&format!(": {key}: ")),
                "{text}\nwants {key}\n=> {err}"
            );
            assert!(err.contains(words), "{text}\nwants {words}\n=> {err}");
        }
    }

    #[test]
    fn errors_give_the_line_and_column() {
        let err = error("[teams.blue]\nimages = []\nmemory = { max = \"lots\" }\n");
        assert!(
            err.starts_with("/etc/dockwright/dockwright.toml:3:18: teams.blue.memory.max: "),
            "{err}"
        );
        let err = error("[teams.blue]\nmax_running = [\n");
        assert!(err.starts_with("/etc/dockwright/dockwright.toml:"), "{err}");
    }

    #[test]
    fn unknown_keys_list_the_allowed_keys() {
        // (config, the unknown key's full path, an allowed key listed, the suggestion)
        let cases: &[(&str, &str, &str, Option<&str>)] = &[
            (
                "[teams.blue]\nmemroy = { max = \"1g\" }",
                "teams.blue.memroy",
                "max_containers",
                Some("memory"),
            ),
            (
                "[teams.blue]\nmemory = { maximum = \"1g\" }",
                "teams.blue.memory.maximum",
                "default",
                Some("max"),
            ),
            (
                "[teams.blue.plugin_limits]\nlogs = \"1m\"",
                "teams.blue.plugin_limits.logs",
                "timeout",
                Some("log"),
            ),
            (
                "[defaults]\nwhatever = 1\n[teams.blue]",
                "defaults.whatever",
                "exec_as_root",
                None,
            ),
            (
                "jornal = \"/j\"\n[teams.blue]",
                "jornal",
                "teams",
                Some("journal"),
            ),
            ("[team.blue]", "team", "defaults", Some("teams")),
        ];
        for (text, key, allowed, suggestion) in cases {
            let err = error(text);
            assert!(err.starts_with("/etc/dockwright/dockwright.toml:"), "{err}");
            assert!(
                err.contains(&format!(": {key}: unknown key")),
                "{text}\n=> {err}"
            );
            assert!(err.contains("the keys allowed here are"), "{err}");
            assert!(err.contains(allowed), "{text}\nwants {allowed}\n=> {err}");
            match suggestion {
                Some(s) => assert!(err.contains(&format!("did you mean `{s}`?")), "{err}"),
                None => assert!(!err.contains("did you mean"), "{err}"),
            }
        }
    }

    #[test]
    fn syntax_errors_name_the_file() {
        for text in [
            "[teams.blue",
            "[teams.blue]\nmax_running = 1\nmax_running = 2",
            "x = ",
        ] {
            let err = error(text);
            assert!(err.starts_with("/etc/dockwright/dockwright.toml:"), "{err}");
        }
    }

    #[test]
    fn unknown_teams_suggest_a_close_name() {
        let config = parse_at(EXAMPLE).unwrap();
        let err = config.team("bleu").unwrap_err().to_string();
        assert!(err.contains("team `bleu` is not configured"), "{err}");
        assert!(err.contains("/etc/dockwright/dockwright.toml"), "{err}");
        assert!(err.contains("`blue`, `green`"), "{err}");
        assert!(err.contains("did you mean `blue`?"), "{err}");
        let err = config.team("red").unwrap_err().to_string();
        assert!(!err.contains("did you mean"), "{err}");
        assert!(err.contains("--team"), "{err}");

        let builtin = Config::builtin(&cwd());
        let err = builtin.team("blue").unwrap_err().to_string();
        assert!(err.contains("built-in config"), "{err}");
        assert!(err.contains("`default`"), "{err}");
    }

    #[test]
    fn relative_paths_are_taken_from_the_config_folder() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real-contexts");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, dir.path().join("contexts")).unwrap();
        let canonical = std::fs::canonicalize(&real).unwrap();
        let text = "journal = \"state/journal.jsonl\"\n[teams.blue]\nbuild_roots = [\"contexts\", \"missing\", \"/abs\"]";

        // Roots that exist are canonical (the symlink resolved); others are kept.
        let config = parse(text, &dir.path().join("dockwright.toml"), Path::new("/")).unwrap();
        let blue = config.team("blue").unwrap();
        assert_eq!(
            blue.build_roots,
            vec![
                canonical.clone(),
                dir.path().join("missing"),
                PathBuf::from("/abs")
            ]
        );
        assert_eq!(config.journal, Some(dir.path().join("state/journal.jsonl")));
        // So a canonical context below the symlinked root is allowed.
        assert_eq!(
            crate::policy::build::check_build_context(blue, &canonical.join("site")),
            Ok(())
        );

        // A relative config path is itself taken from the cwd.
        let config = parse(text, Path::new("conf/dockwright.toml"), dir.path()).unwrap();
        assert_eq!(
            config.team("blue").unwrap().build_roots[1],
            dir.path().join("conf/missing")
        );
        assert_eq!(
            config.journal,
            Some(dir.path().join("conf/state/journal.jsonl"))
        );
    }

    #[test]
    fn loading() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path();
        let missing = cwd.join("nope.toml");
        let present = cwd.join("present.toml");
        std::fs::write(&present, "[teams.blue]\n").unwrap();

        // An explicit file must exist.
        let err = format!(
            "{:#}",
            load_from(Some(&missing), &present, cwd).unwrap_err()
        );
        assert!(err.contains("nope.toml"), "{err}");
        // An explicit file wins over the default path.
        let config = load_from(Some(Path::new("present.toml")), &missing, cwd).unwrap();
        assert_eq!(config.source, Some(PathBuf::from("present.toml")));
        assert!(config.teams.contains_key("blue"));
        // The default path is read when it exists...
        let config = load_from(None, &present, cwd).unwrap();
        assert_eq!(config.source, Some(present.clone()));
        // ...and when it does not, the built-in default applies.
        let config = load_from(None, &missing, cwd).unwrap();
        assert_eq!(config, Config::builtin(cwd));
        assert_eq!(
            config.team("default").unwrap(),
            &default_team("default", cwd)
        );
        assert_eq!(config.source, None);
        // A default path that exists but cannot be read is an error, not the default.
        let err = format!("{:#}", load_from(None, cwd, cwd).unwrap_err());
        assert!(err.contains("cannot read the config file"), "{err}");
        // A file that does not parse is an error naming it.
        std::fs::write(&present, "[teams]\n").unwrap();
        let err = format!("{:#}", load_from(None, &present, cwd).unwrap_err());
        assert!(err.contains("present.toml"), "{err}");
    }

    #[test]
    fn sizes_and_durations() {
        let sizes = [
            ("1", Some(1)),
            ("512k", Some(512 << 10)),
            ("512KB", Some(512 << 10)),
            ("512kib", Some(512 << 10)),
            ("256m", Some(256 << 20)),
            ("2g", Some(2 << 30)),
            ("2 g", Some(2 << 30)),
            ("100b", Some(100)),
            ("0", None),
            ("0g", None),
            ("", None),
            ("g", None),
            ("1.5g", None),
            ("-1m", None),
            ("1x", None),
            ("99999999999t", None),
        ];
        for (text, want) in sizes {
            assert_eq!(parse_size(text), want, "{text}");
        }
        let durations = [
            ("500ms", Some(Duration::from_millis(500))),
            ("30s", Some(Duration::from_secs(30))),
            ("5m", Some(Duration::from_secs(300))),
            ("1h", Some(Duration::from_secs(3600))),
            ("0s", None),
            ("5", None),
            ("5d", None),
            ("m", None),
        ];
        for (text, want) in durations {
            assert_eq!(parse_duration(text), want, "{text}");
        }
    }

    #[test]
    fn journal_retention_is_an_age_or_a_count() {
        let day = Duration::from_secs(86_400);
        for (text, want) in [
            ("90d", Some(90 * day)),
            ("4w", Some(28 * day)),
            ("12h", Some(Duration::from_secs(12 * 3600))),
            (" 1 d", Some(day)),
            ("0d", None),
            ("d", None),
            ("90", None),
            ("-1d", None),
            ("99999999999999999w", None),
        ] {
            assert_eq!(parse_age(text), want, "{text}");
        }
        let retention = |value: &str| {
            parse_at(&format!("journal_retention = {value}\n[teams.blue]"))
                .map(|c| c.journal_retention)
        };
        assert_eq!(
            retention("\"90d\"").unwrap(),
            Some(Retention::Age(90 * day))
        );
        assert_eq!(retention("100000").unwrap(), Some(Retention::Runs(100_000)));
        assert_eq!(parse_at("[teams.blue]").unwrap().journal_retention, None);
        for bad in ["0", "-5", "\"90 days\"", "\"\"", "true"] {
            let e = format!("{:#}", retention(bad).unwrap_err());
            assert!(e.contains("journal_retention"), "{bad}: {e}");
            assert!(e.contains("\"90d\""), "{bad}: {e}");
        }
    }
}
