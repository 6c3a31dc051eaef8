//! Policy's part of `dockwright.toml`: the teams (`[teams.NAME]`), what they share
//! (`[defaults]`), and their API tokens.
//!
//! The section is read in two layers. serde (with `deny_unknown_fields` on every
//! table) checks the shape and the form of each value; then the teams are merged with
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

use serde::{Deserialize, Deserializer};

use super::groups::{Group, Permissions};
use super::team::{
    default_team, format_size, Limit, PluginLimits, TeamPolicy, ENGINE_CAPABILITIES,
};
use crate::config::source::{key_path, span_of, Source};
use crate::config::values::{is_simple_name, leaf, Age, Count, Cpus, Dur, Ports, Size};
use crate::config::Document;
use merge::Merge;

/// Policy's section: keys `defaults` and `teams`.
#[derive(Debug, Clone, PartialEq)]
pub struct Teams {
    /// Each team's policy, merged with `[defaults]` and the built-in policy.
    pub teams: BTreeMap<String, TeamPolicy>,
    /// The API tokens of each team that has any (`dockwright serve`), as
    /// `sha256:<hex>` hashes: the file never holds a token itself.
    pub tokens: BTreeMap<String, Vec<String>>,
    /// The identity provider's groups whose members act for each team that names
    /// any (`groups`, read with `[auth.oidc]`).
    pub groups: BTreeMap<String, Vec<String>>,
}

impl Teams {
    /// What applies when there is no config file: one team, `default`, with the
    /// built-in policy, and no tokens.
    pub fn builtin(cwd: &Path) -> Teams {
        Teams {
            teams: BTreeMap::from([("default".to_string(), default_team("default", cwd))]),
            tokens: BTreeMap::new(),
            groups: BTreeMap::new(),
        }
    }

    /// The teams `doc` defines (at least one). Relative paths are taken from the
    /// file's folder; `cwd` is the build root of teams that set none.
    pub fn read(doc: &Document, cwd: &Path) -> anyhow::Result<Teams> {
        let raw: RawSection = doc.section()?;
        let teams = raw.teams.unwrap_or_default();
        if teams.is_empty() {
            return Err(doc.error(
                &["teams"],
                "no teams are defined; add at least one table such as [teams.blue]",
            ));
        }
        let defaults = raw.defaults.unwrap_or_default();
        let file = doc.locator();
        let tokens = tokens(&file, &teams, &defaults)?;
        if defaults.groups.is_some() {
            return Err(file.error(
                &["defaults", "groups"],
                "groups say who acts for one team: move them into that team's table",
            ));
        }
        let groups = teams
            .iter()
            .filter_map(|(name, t)| {
                let names = t.groups.as_ref()?.iter().map(|g| g.0.clone()).collect();
                Some((name.clone(), names))
            })
            .collect();
        let mut policies = BTreeMap::new();
        for (name, team) in &teams {
            let merged = Merge {
                file: &file,
                name,
                team,
                defaults: &defaults,
                folder: doc.folder(),
            }
            .policy(cwd)?;
            policies.insert(name.clone(), merged);
        }
        Ok(Teams {
            teams: policies,
            tokens,
            groups,
        })
    }
}

/// Team names end up in labels and container names: keep them simple.
pub fn check_team(team: &str) -> Result<(), String> {
    if is_simple_name(team) {
        Ok(())
    } else {
        Err(format!(
            "team `{team}` is not a valid name: use lowercase letters, digits, `-`, `_` and `.`, starting with a letter or digit (at most 63)"
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
// The section's shape. Every key is optional so that `[defaults]` and teams share one
// table type; what is missing falls back when merging. The top level lets the other
// sections' keys be.

#[derive(Deserialize)]
struct RawSection {
    defaults: Option<RawTeam>,
    teams: Option<BTreeMap<String, RawTeam>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, expecting = "a table of team settings")]
struct RawTeam {
    images: Option<Vec<String>>,
    max_containers: Option<Count>,
    max_running: Option<Count>,
    max_containers_per_user: Option<Count>,
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
    groups: Option<Vec<GroupName>>,
    lifetime: Option<RawLifetime>,
    webhook: Option<WebhookUrl>,
}

#[derive(Deserialize, Default)]
#[serde(
    deny_unknown_fields,
    expecting = "a table such as { default = \"8h\", max = \"7d\", warn = \"30m\" }"
)]
struct RawLifetime {
    default: Option<Age>,
    max: Option<Age>,
    warn: Option<Age>,
}

/// Where a team's notices go: an `http://` or `https://` URL.
#[derive(Debug, Clone, PartialEq)]
struct WebhookUrl(String);

impl<'de> Deserialize<'de> for WebhookUrl {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(d, "an http:// or https:// URL", |v| {
            let url = v.as_str()?.trim();
            let rest = url
                .strip_prefix("http://")
                .or_else(|| url.strip_prefix("https://"))?;
            (!rest.is_empty() && !rest.starts_with('/') && !url.contains(char::is_whitespace))
                .then(|| WebhookUrl(url.to_string()))
        })
    }
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

/// A group of the identity provider, as its token's groups claim names it: any
/// text (Entra ID names groups by id, Keycloak by path), but not empty or long.
#[derive(Debug, Clone, PartialEq)]
struct GroupName(String);

impl<'de> Deserialize<'de> for GroupName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(
            d,
            "a group name as the identity provider's tokens write it (1 to 256 characters)",
            |v| {
                let name = v.as_str()?;
                (!name.trim().is_empty() && name.len() <= 256 && !name.contains(char::is_control))
                    .then(|| GroupName(name.to_string()))
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
