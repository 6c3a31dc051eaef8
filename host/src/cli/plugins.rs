//! Managing the plugin folder: `plugins add`, `plugins remove`, and `check`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::json;

use super::load::{load, locked};
use super::table::table;
use crate::contract::versions;
use crate::plugin::catalog::Catalog;
use crate::plugin::lock::Entry;
use crate::plugin::runtime::Runtime;
use crate::util::console::Console;
use crate::util::suggest;

#[derive(Subcommand, Debug)]
pub enum PluginsCommand {
    /// Copy a plugin into the plugin folder and record its sha256 in the lock
    Add {
        /// The plugin's .wasm file
        file: std::path::PathBuf,
    },
    /// Remove a plugin from the folder and the lock
    Remove {
        /// The plugin's name (or its file name)
        name: String,
    },
}

fn runtime() -> Result<Runtime> {
    Runtime::with_cache(&crate::util::paths::cache_root())
}

pub async fn add(
    dir: &Path,
    config: Option<&Path>,
    console: Arc<dyn Console>,
    file: &Path,
) -> Result<ExitCode> {
    let runtime = runtime()?;
    // A plugin that does not load is not added: check it where it is first.
    let plugin = crate::plugin::catalog::load_file(&runtime, file, console.clone(), None)
        .await
        .with_context(|| format!("`{}` is not a plugin this host can run", file.display()))?;
    let file_name = file
        .file_name()
        .context("the plugin path has no file name")?
        .to_string_lossy()
        .into_owned();
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the plugin folder `{}`", dir.display()))?;
    let mut locked = locked(config)?;
    let existing = Catalog::load(&runtime, dir, console, None).await?;
    if let Some(other) = existing.find(&plugin.info.name) {
        let other_file = other.path.file_name().unwrap_or_default().to_string_lossy();
        if other_file != file_name {
            bail!(
                "a plugin named `{}` is already in `{}` as `{other_file}`: remove it first with `dockwright plugins remove {}`",
                plugin.info.name,
                dir.display(),
                plugin.info.name
            );
        }
    }
    let dest = dir.join(&file_name);
    let bytes = std::fs::read(file).with_context(|| format!("cannot read `{}`", file.display()))?;
    if crate::util::digest::sha256_hex(&bytes) != plugin.sha256 {
        bail!(
            "`{}` changed while it was being added: run again",
            file.display()
        );
    }
    crate::util::files::write_atomic(&dest, &bytes)
        .with_context(|| format!("cannot write `{}`", dest.display()))?;
    locked.lock.record(Entry {
        name: plugin.info.name.clone(),
        file: file_name,
        sha256: plugin.sha256.clone(),
    });
    locked.lock.write(&locked.path)?;
    println!(
        "added {} {} to {} (sha256 {}, locked in {})",
        plugin.info.name,
        plugin.info.version,
        dir.display(),
        plugin.sha256,
        locked.path.display()
    );
    Ok(ExitCode::SUCCESS)
}

pub async fn remove(
    dir: &Path,
    config: Option<&Path>,
    console: Arc<dyn Console>,
    name: &str,
) -> Result<ExitCode> {
    let runtime = runtime()?;
    let mut locked = locked(config)?;
    let catalog = Catalog::load(&runtime, dir, console, None).await?;
    let by_name = catalog.find(name).map(|p| p.path.clone());
    let by_file = Some(dir.join(name)).filter(|p| p.is_file());
    let Some(path) = by_name.or(by_file) else {
        let names = catalog.plugins.iter().map(|p| p.info.name.as_str());
        let hint = suggest::did_you_mean(name, names.clone());
        bail!(
            "no plugin named `{name}` in `{}` (plugins: {}).{hint}",
            dir.display(),
            names.collect::<Vec<_>>().join(", ")
        );
    };
    std::fs::remove_file(&path).with_context(|| format!("cannot remove `{}`", path.display()))?;
    let file = path.file_name().unwrap_or_default().to_string_lossy();
    if locked.lock.forget(&file) | locked.lock.forget(name) {
        locked.lock.write(&locked.path)?;
    }
    println!("removed `{}`", path.display());
    Ok(ExitCode::SUCCESS)
}

pub async fn check(console: Arc<dyn Console>, file: &Path, json: bool) -> Result<ExitCode> {
    let runtime = runtime()?;
    let result = crate::plugin::catalog::load_file(&runtime, file, console, None).await;
    let mut out = std::io::stdout().lock();
    let plugin = match result {
        Ok(plugin) => plugin,
        Err(e) => {
            if json {
                let doc = json!({ "file": file, "ok": false, "error": format!("{e:#}"), "accepts": versions::accepted() });
                writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
                return Ok(ExitCode::FAILURE);
            }
            bail!(
                "`{}` is not a plugin this host can run: {e:#}",
                file.display()
            );
        }
    };
    // A good plugin: say which contract it was built against, from its imports.
    let component = match runtime.cached(&plugin.sha256) {
        Some(component) => component,
        None => runtime.compile(&std::fs::read(file)?, &plugin.sha256)?,
    };
    let (imports, exports) = versions::names(runtime.engine(), &component);
    let versions = versions::versions_named(imports.iter().chain(&exports).map(String::as_str));
    let target = versions.join(", ");
    if json {
        let doc = json!({
            "file": file,
            "ok": true,
            "name": plugin.info.name,
            "version": plugin.info.version,
            "sha256": plugin.sha256,
            "contract": target,
            "accepts": versions::accepted(),
            "workflows": plugin.info.workflows,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "ok: {} is plugin {} {} (contract {}@{target}; this host accepts {})",
        file.display(),
        plugin.info.name,
        plugin.info.version,
        versions::PACKAGE,
        versions::accepted()
    )?;
    print_workflows(&mut out, &plugin.info)?;
    Ok(ExitCode::SUCCESS)
}

pub async fn list(
    dir: &std::path::Path,
    config: Option<&std::path::Path>,
    console: Arc<dyn Console>,
    json: bool,
) -> Result<ExitCode> {
    let (_runtime, catalog) = load(dir, config, console, !json).await?;
    let mut out = std::io::stdout().lock();
    if json {
        let plugins: Vec<_> = catalog
            .plugins
            .iter()
            .map(|p| {
                json!({
                    "name": p.info.name,
                    "version": p.info.version,
                    "description": p.info.description,
                    "file": p.path,
                    "sha256": p.sha256,
                    "workflows": p.info.workflows,
                })
            })
            .collect();
        let doc = json!({ "dir": catalog.dir, "plugins": plugins, "skipped": catalog.problems });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if catalog.plugins.is_empty() {
        writeln!(out, "No plugins in {}.", catalog.dir.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    for p in &catalog.plugins {
        let file = p.path.file_name().unwrap_or_default().to_string_lossy();
        writeln!(out, "{} {}  ({file})", p.info.name, p.info.version)?;
        print_workflows(&mut out, &p.info)?;
        writeln!(out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A plugin's description and workflows with their params, indented.
fn print_workflows(out: &mut impl Write, info: &crate::plugin::info::PluginInfo) -> Result<()> {
    if !info.description.is_empty() {
        writeln!(out, "  {}", info.description)?;
    }
    for w in &info.workflows {
        writeln!(out, "  workflow {}: {}", w.name, w.description)?;
        let rows: Vec<[String; 3]> = w
            .params
            .iter()
            .map(|param| {
                let how = match (&param.default, param.required) {
                    (Some(d), _) => format!("default: {d}"),
                    (None, true) => "required".to_string(),
                    (None, false) => "optional".to_string(),
                };
                [param.name.clone(), how, param.description.clone()]
            })
            .collect();
        for line in table(&rows) {
            writeln!(out, "      {line}")?;
        }
    }
    Ok(())
}
