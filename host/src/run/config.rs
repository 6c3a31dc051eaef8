//! The configuration in force: what a run needs of `dockwright.toml`, gathered from
//! the sections' owners: the teams and their tokens (`policy::config`), the engines
//! and `public_host` (`engine::config`), where the journal goes and what it keeps
//! (`journal::config`), and the registries (`share::config`). The file's top-level
//! keys are checked here, once. `[serve]` is the server's: `serve::config` reads it
//! from the same [`Document`] (of [`read_file`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::anyhow;

use crate::config::Document;
use crate::engine::config::{EngineTarget, Engines};
use crate::journal::config::{JournalSettings, Retention, StateSettings};
use crate::policy::config::Teams;
use crate::policy::TeamPolicy;
use crate::share::config::Registries;
use crate::util::suggest;

/// The configuration in force: the file's, or the built-in default.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub teams: BTreeMap<String, TeamPolicy>,
    /// Where the run journal goes; `None` leaves the choice to the journal's default.
    pub journal: Option<PathBuf>,
    /// How long the journal keeps runs that ended (`journal_retention`); `None` keeps all.
    pub journal_retention: Option<Retention>,
    /// The PostgreSQL database that holds the state (`[state]`); `None`: the local
    /// SQLite journal and lock files.
    pub state: Option<StateSettings>,
    /// The file the config came from; `None` for the built-in default.
    pub source: Option<PathBuf>,
    /// The API tokens of each team that has any (`dockwright serve`), as
    /// `sha256:<hex>` hashes: the file never holds a token itself.
    pub tokens: BTreeMap<String, Vec<String>>,
    /// The identity provider's groups of each team that names any (`groups`).
    pub groups: BTreeMap<String, Vec<String>>,
    /// How to reach OCI registries (`[registries]`).
    pub registries: Registries,
    /// The engines besides the default one (`[engines.NAME]`), by name.
    pub engines: BTreeMap<String, EngineTarget>,
    /// The name or address people reach the default engine's published ports at
    /// (`public_host`); each named engine has its own.
    pub public_host: Option<String>,
}

/// The file's top-level keys, each its section's owner's: the journal's, the
/// engine's (`public_host`, `engines`), share's (`registries`), the server's
/// (`serve` and `auth`, read by `serve::config`) and policy's (`defaults`, `teams`).
const KEYS: &[&str] = &[
    "journal",
    "journal_retention",
    "state",
    "public_host",
    "registries",
    "engines",
    "serve",
    "auth",
    "defaults",
    "teams",
];

impl Config {
    /// What applies when there is no config file: one team, `default`, with the
    /// built-in policy.
    pub fn builtin(cwd: &Path) -> Config {
        let Teams {
            teams,
            tokens,
            groups,
        } = Teams::builtin(cwd);
        Config {
            teams,
            journal: None,
            journal_retention: None,
            state: None,
            source: None,
            tokens,
            groups,
            registries: Registries::default(),
            engines: BTreeMap::new(),
            public_host: None,
        }
    }

    /// The config `doc` gives: its top-level keys checked, then each section read by
    /// its owner. `cwd` is the build root of teams that set none.
    pub fn read(doc: &Document, cwd: &Path) -> anyhow::Result<Config> {
        doc.check_keys(KEYS)?;
        let journal = JournalSettings::read(doc)?;
        let registries = Registries::read(doc)?;
        let engines = Engines::read(doc)?;
        let Teams {
            teams,
            tokens,
            groups,
        } = Teams::read(doc, cwd)?;
        Ok(Config {
            teams,
            journal: journal.path,
            journal_retention: journal.retention,
            state: journal.state,
            source: Some(doc.source().to_path_buf()),
            tokens,
            groups,
            registries,
            engines: engines.targets,
            public_host: engines.public_host,
        })
    }

    /// The default engine (`DOCKER_HOST`, as the docker CLI finds it) with the
    /// `public_host` the file gives it.
    pub fn default_engine(&self) -> EngineTarget {
        crate::engine::connect::default_target_in(self.public_host.as_deref())
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

/// The text of the config file in force, and the path it was read from.
pub struct ConfigFile {
    pub path: PathBuf,
    pub text: String,
}

impl ConfigFile {
    /// The file parsed (relative paths in it are taken from its folder, itself taken
    /// from `cwd` when relative).
    pub fn document(&self, cwd: &Path) -> anyhow::Result<Document<'_>> {
        Document::parse(&self.text, &self.path, cwd)
    }
}

/// The config file in force: `None` when there is none and the built-in default
/// applies. An `explicit` file (`--config` or `$DOCKWRIGHT_CONFIG`) must exist:
/// silently falling back to the permissive built-in policy when the named file is
/// missing would undo the admin's limits. Without one, the default path is read if
/// it exists. Relative paths are taken from `cwd`.
///
/// Commands read the sections through `serve::config::load`, which reads `[serve]`
/// too, so that a mistake there is refused by every command.
pub fn read_file(explicit: Option<&Path>, cwd: &Path) -> anyhow::Result<Option<ConfigFile>> {
    read_file_from(explicit, &crate::util::paths::config_file(), cwd)
}

fn read_file_from(
    explicit: Option<&Path>,
    default: &Path,
    cwd: &Path,
) -> anyhow::Result<Option<ConfigFile>> {
    let file = |path: &Path, text| ConfigFile {
        path: path.to_path_buf(),
        text,
    };
    if let Some(path) = explicit {
        let text = std::fs::read_to_string(cwd.join(path))
            .map_err(|e| anyhow!("cannot read the config file {}: {e}", path.display()))?;
        return Ok(Some(file(path, text)));
    }
    match std::fs::read_to_string(cwd.join(default)) {
        Ok(text) => Ok(Some(file(default, text))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        // It exists but cannot be read: running with the built-in policy instead
        // would ignore the admin's limits.
        Err(e) => Err(anyhow!(
            "cannot read the config file {}: {e}",
            default.display()
        )),
    }
}

#[cfg(test)]
mod tests;
