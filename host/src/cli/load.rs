//! Loading what most commands need: the config, and the plugin folder checked
//! against the lock next to the config.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::engine::config::{EngineTarget, DEFAULT_ENGINE};
use crate::plugin::catalog::{Catalog, Locked};
use crate::plugin::lock::{self, Lock};
use crate::plugin::runtime::Runtime;
use crate::run::config::Config;
use crate::serve::config::ServeSettings;
use crate::util::console::Console;

/// The lock next to the config.
pub fn locked(config: Option<&Path>) -> Result<Locked> {
    let path = lock::path_for(config);
    Ok(Locked {
        lock: Lock::read(&path)?,
        path,
    })
}

/// Load the folder, checking the lock next to the config, and warning about files
/// that are not plugins.
pub async fn load(
    dir: &std::path::Path,
    config: Option<&std::path::Path>,
    console: Arc<dyn Console>,
    warn: bool,
) -> Result<(Runtime, Catalog)> {
    let runtime = Runtime::with_cache(&crate::util::paths::cache_root())?;
    let locked = locked(config)?;
    let catalog = Catalog::load(&runtime, dir, console, Some(&locked)).await?;
    if warn {
        for p in &catalog.problems {
            // The reason can quote the plugin (its own error, a trap).
            let reason = crate::util::text::inert(&p.reason);
            eprintln!("warning: skipped `{}`: {reason}", p.path.display());
        }
    }
    Ok((runtime, catalog))
}

/// The config from `--config` / `DOCKWRIGHT_CONFIG`, the default file, or built in.
pub fn load_config(explicit: Option<&std::path::Path>) -> Result<Config> {
    Ok(load_config_and_serve(explicit)?.0)
}

/// The config and its `[serve]`, which every command reads: a mistake there is
/// refused as any other in the file.
pub fn load_config_and_serve(
    explicit: Option<&std::path::Path>,
) -> Result<(Config, ServeSettings)> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    crate::serve::config::load(explicit, &cwd)
}

/// The engine named `name`: `default` (as the docker CLI finds it) or one of the
/// config's `[engines.NAME]`.
pub fn engine_target(config: &Config, name: &str) -> Result<EngineTarget> {
    if name == DEFAULT_ENGINE {
        return Ok(config.default_engine());
    }
    if let Some(target) = config.engines.get(name) {
        return Ok(target.clone());
    }
    let names = std::iter::once(DEFAULT_ENGINE).chain(config.engines.keys().map(String::as_str));
    let hint = crate::util::suggest::did_you_mean(name, names.clone());
    anyhow::bail!(
        "no engine named `{name}` (engines: {}); add it as [engines.{name}] to the config.{hint}",
        names.collect::<Vec<_>>().join(", ")
    )
}

/// The default engine and every engine of the config, in that order.
pub fn engine_targets(config: &Config) -> Vec<EngineTarget> {
    std::iter::once(config.default_engine())
        .chain(config.engines.values().cloned())
        .collect()
}

/// The engines `--engine` names for `team`: one name, several (`a,b,c`), or `all`
/// (every engine of the config the team may use). A name the config lacks, or one
/// the team may not use, is an error before anything runs.
pub fn select_engines(
    config: &Config,
    team: &crate::policy::TeamPolicy,
    spec: &str,
) -> Result<Vec<EngineTarget>> {
    if spec.trim() == "all" {
        let allowed: Vec<_> = engine_targets(config)
            .into_iter()
            .filter(|t| crate::policy::check_engine(team, &t.name).is_ok())
            .collect();
        if allowed.is_empty() {
            anyhow::bail!(
                "team `{}` may use none of the config's engines (policy rule `engines`)",
                team.name
            );
        }
        return Ok(allowed);
    }
    let mut out: Vec<EngineTarget> = Vec::new();
    for name in spec.split(',').map(str::trim) {
        if name.is_empty() {
            anyhow::bail!(
                "`--engine {spec}` has an empty name: write NAME, NAME1,NAME2,... or all"
            );
        }
        if name == "all" {
            anyhow::bail!(
                "`all` stands alone in --engine: write `--engine all` or a list of names"
            );
        }
        let target = engine_target(config, name)?;
        crate::policy::check_engine(team, &target.name)
            .map_err(|denial| anyhow::anyhow!("{denial}"))?;
        if !out.iter().any(|t| t.name == target.name) {
            out.push(target);
        }
    }
    Ok(out)
}

/// Open the journal the config names, saying on stderr if this first open imported
/// an earlier version's JSON-lines journal.
pub fn open_journal(config: &Config) -> Result<crate::journal::Journal> {
    let (journal, imported) =
        crate::journal::open_configured(config.journal.as_deref(), config.state.as_ref())?;
    if let Some(message) = imported {
        eprintln!("{message}");
    }
    Ok(journal)
}

/// Who runs this command, for the run's context: the user id, which the process cannot
/// choose (uid, or SID on Windows), with the name the environment gives it.
pub fn user() -> String {
    crate::util::user::shown()
}

/// The person a CLI run is for: the local user, by uid or SID (what the system
/// vouches for), named by `$USER` (`%USERNAME%`) where set.
pub fn person() -> crate::policy::people::Person {
    crate::policy::people::Person {
        id: crate::util::user::id(),
        name: crate::util::user::name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        crate::serve::config::parse(
            "[engines.a]\nhost = \"tcp://a:2375\"\n[engines.b]\nhost = \"unix:///b.sock\"\n\
             [teams.any]\n[teams.blue]\nengines = [\"default\", \"a\"]\n",
            std::path::Path::new("/etc/dockwright.toml"),
            std::path::Path::new("/etc"),
        )
        .unwrap()
        .0
    }

    fn names(targets: &[EngineTarget]) -> Vec<&str> {
        targets.iter().map(|t| t.name.as_str()).collect()
    }

    #[test]
    fn engines_are_selected_by_name_list_or_all() {
        let config = config();
        let any = config.team("any").unwrap();
        let blue = config.team("blue").unwrap();
        assert_eq!(
            names(&select_engines(&config, any, "all").unwrap()),
            ["default", "a", "b"]
        );
        assert_eq!(
            names(&select_engines(&config, blue, "all").unwrap()),
            ["default", "a"]
        );
        assert_eq!(
            names(&select_engines(&config, any, "b, a,b").unwrap()),
            ["b", "a"]
        );
        let err = select_engines(&config, blue, "a,b")
            .unwrap_err()
            .to_string();
        assert!(err.contains("`b`") && err.contains("engines"), "{err}");
        let err = select_engines(&config, any, "a,,b")
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty name"), "{err}");
        let err = select_engines(&config, any, "a,all")
            .unwrap_err()
            .to_string();
        assert!(err.contains("stands alone"), "{err}");
        let err = select_engines(&config, any, "c").unwrap_err().to_string();
        assert!(err.contains("no engine named `c`"), "{err}");
    }
}
