//! Loading what most commands need: the config, and the plugin folder checked
//! against the lock next to the config.

use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::plugin::catalog::{Catalog, Locked};
use crate::plugin::lock::{self, Lock};
use crate::plugin::runtime::Runtime;
use crate::policy::config;
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
            eprintln!("warning: skipped `{}`: {}", p.path.display(), p.reason);
        }
    }
    Ok((runtime, catalog))
}

/// The config from `--config` / `DOCKWRIGHT_CONFIG`, the default file, or built in.
pub fn load_config(explicit: Option<&std::path::Path>) -> Result<config::Config> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    config::load(explicit, &cwd)
}

/// The engine named `name`: `default` (as the docker CLI finds it) or one of the
/// config's `[engines.NAME]`.
pub fn engine_target(config: &config::Config, name: &str) -> Result<config::EngineTarget> {
    if name == config::DEFAULT_ENGINE {
        return Ok(crate::engine::connect::default_target());
    }
    if let Some(target) = config.engines.get(name) {
        return Ok(target.clone());
    }
    let names =
        std::iter::once(config::DEFAULT_ENGINE).chain(config.engines.keys().map(String::as_str));
    let hint = crate::util::suggest::did_you_mean(name, names.clone());
    anyhow::bail!(
        "no engine named `{name}` (engines: {}); add it as [engines.{name}] to the config.{hint}",
        names.collect::<Vec<_>>().join(", ")
    )
}

/// The default engine and every engine of the config, in that order.
pub fn engine_targets(config: &config::Config) -> Vec<config::EngineTarget> {
    std::iter::once(crate::engine::connect::default_target())
        .chain(config.engines.values().cloned())
        .collect()
}
