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
