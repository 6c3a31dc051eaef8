//! Managing the plugin folder: `plugins add`, `remove`, `push`, `update`, and `check`.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::json;

use super::load::{load, load_config, locked};
use super::table::table;
use crate::contract::versions;
use crate::plugin::catalog::Catalog;
use crate::plugin::lock::{Entry, Lock};
use crate::plugin::runtime::Runtime;
use crate::share::credentials::EnvCredentials;
use crate::share::registry::{Access, Registry};
use crate::share::{install, reference, signature};
use crate::util::console::Console;
use crate::util::suggest;
use crate::util::text::{inert, inert_line};

#[derive(Subcommand, Debug)]
pub enum PluginsCommand {
    /// Install a plugin from a file or a registry, and pin it in the lock
    Add {
        /// A .wasm file, or a registry reference: registry/repo:tag or registry/repo@sha256:...
        source: String,
        /// The team whose policy the plugin must satisfy (signers, permissions) [default: at least one team's]
        #[arg(long, env = "DOCKWRIGHT_TEAM")]
        team: Option<String>,
    },
    /// Remove a plugin from the folder and the lock
    Remove {
        /// The plugin's name (or its file name)
        name: String,
    },
    /// Publish a plugin to a registry as a Wasm OCI artifact; prints the manifest digest
    Push {
        /// A .wasm file, or the name of a plugin in the folder
        plugin: String,
        /// Where to: registry/repo:tag
        target: String,
        /// Also push a signature made with this key (see `dockwright keys new`)
        #[arg(long, value_name = "KEY")]
        sign: Option<String>,
    },
    /// Re-resolve the tags of plugins installed from registries, show what would change, and apply it when confirmed
    Update {
        /// Only this plugin
        name: Option<String>,
        /// Apply without asking (needed when not on a terminal)
        #[arg(long)]
        yes: bool,
        /// The team whose policy the new versions must satisfy [default: at least one team's]
        #[arg(long, env = "DOCKWRIGHT_TEAM")]
        team: Option<String>,
    },
}

pub(super) fn runtime() -> Result<Runtime> {
    Runtime::with_cache(&crate::util::paths::cache_root())
}

/// How this command reaches registries: the config's `[registries]`, the
/// credential variables, and the registry the command line names.
fn access(config: &crate::run::config::Config, named: Option<&str>) -> Access {
    Access {
        registries: config.registries.clone(),
        env: EnvCredentials::from_env(),
        named: named.map(str::to_string),
    }
}

pub async fn add(
    dir: &Path,
    config_path: Option<&Path>,
    console: Arc<dyn Console>,
    source: &str,
    team: Option<&str>,
) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    if let Some(team) = team {
        config.team(team)?;
    }
    if reference::looks_like_reference(source) {
        return add_from_registry(dir, config_path, &config, team, console, source).await;
    }
    let file = Path::new(source);
    let runtime = runtime()?;
    // A plugin that does not load is not added: check it where it is first.
    let plugin = crate::plugin::catalog::load_file(&runtime, file, console.clone(), None)
        .await
        .with_context(|| format!("`{}` is not a plugin this host can run", file.display()))?;
    admit(
        &config,
        team,
        &plugin.info.name,
        None,
        &plugin.info.manifest(),
    )
    .context("not added")?;
    let file_name = file
        .file_name()
        .context("the plugin path has no file name")?
        .to_string_lossy()
        .into_owned();
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the plugin folder `{}`", dir.display()))?;
    let lock_path = locked(config_path)?.path;
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
    let mut entry = Entry::file(&plugin.info.name, &file_name, &plugin.sha256);
    entry.version = Some(plugin.info.version.clone());
    entry.permissions = Some(plugin.info.permissions.clone());
    Lock::update(&lock_path, |lock| {
        crate::util::files::write_atomic(&dest, &bytes)
            .with_context(|| format!("cannot write `{}`", dest.display()))?;
        lock.record(entry);
        Ok(())
    })?;
    let added = format!(
        "added {} {} to {} (sha256 {}, permissions: {}, locked in {})",
        plugin.info.name,
        plugin.info.version,
        dir.display(),
        plugin.sha256,
        plugin.info.manifest(),
        lock_path.display()
    );
    println!("{}", inert(&added));
    Ok(ExitCode::SUCCESS)
}

/// The team's rules at install time: those of `team` when given; else the plugin
/// must suit at least one team of the config (the rule is
/// [`crate::policy::check_install`]), and each team that will not run it is named.
fn admit(
    config: &crate::run::config::Config,
    team: Option<&str>,
    name: &str,
    signer: Option<&str>,
    manifest: &crate::policy::Permissions,
) -> Result<()> {
    let refusals = match team {
        Some(team) => crate::policy::check_install([config.team(team)?], name, signer, manifest),
        None => crate::policy::check_install(config.teams.values(), name, signer, manifest),
    }
    .map_err(|denial| anyhow::anyhow!("{denial}"))?;
    for (team, denial) in refusals {
        eprintln!("warning: team `{team}` will not run it: {denial}");
    }
    Ok(())
}

async fn add_from_registry(
    dir: &Path,
    config_path: Option<&Path>,
    config: &crate::run::config::Config,
    team: Option<&str>,
    console: Arc<dyn Console>,
    source: &str,
) -> Result<ExitCode> {
    let runtime = runtime()?;
    let named = reference::parse(source)?.resolve_registry().to_string();
    let access = access(config, Some(&named));
    let candidate = install::fetch(&runtime, dir, &access, source, console.clone()).await?;
    admit(
        config,
        team,
        candidate.name(),
        candidate.signer.as_deref(),
        &candidate.permissions(),
    )
    .with_context(|| format!("{source} is refused"))?;
    let locked = locked(config_path)?;
    let existing = Catalog::load(&runtime, dir, console, None).await?;
    let (name, version) = (
        candidate.name().to_string(),
        candidate.plugin.info.version.clone(),
    );
    let permissions = candidate.permissions();
    let entry = candidate.install(dir, &locked, &existing)?;
    let added = format!(
        "added {name} {version} from {source} to {} (manifest {}, sha256 {}, {}, permissions: {permissions}, locked in {})",
        dir.display(),
        entry.manifest_digest.as_deref().unwrap_or_default(),
        entry.sha256,
        entry
            .signer
            .as_deref()
            .map_or("unsigned".to_string(), |k| format!("signed by {k}")),
        locked.path.display()
    );
    println!("{}", inert(&added));
    Ok(ExitCode::SUCCESS)
}

pub async fn push(
    dir: &Path,
    config_path: Option<&Path>,
    console: Arc<dyn Console>,
    plugin: &str,
    target: &str,
    sign: Option<&str>,
) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    let runtime = runtime()?;
    let key = sign
        .map(|name| signature::load_key(&crate::util::paths::keys_dir(), name))
        .transpose()?;
    let file = Path::new(plugin);
    let loaded = if file.is_file() {
        let loaded = crate::plugin::catalog::load_file(&runtime, file, console, None)
            .await
            .with_context(|| format!("`{plugin}` is not a plugin this host can run"))?;
        std::sync::Arc::new(loaded)
    } else {
        let (_runtime, catalog) = load(dir, config_path, console, true).await?;
        let Some(found) = catalog.plugins.into_iter().find(|p| p.info.name == plugin) else {
            bail!(
                "`{plugin}` is neither a file nor a plugin in `{}`: give a .wasm file or a plugin name from `dockwright plugins`",
                dir.display()
            );
        };
        found
    };
    let named = reference::parse(target)?.resolve_registry().to_string();
    let digest = install::push(
        &access(&config, Some(&named)),
        &loaded,
        target,
        key.as_ref(),
    )
    .await?;
    let signed = key
        .as_ref()
        .map_or(String::new(), |k| format!(", signed by {}", k.public()));
    let pushed = format!(
        "pushed {} {} to {target} (permissions: {}{signed})",
        loaded.info.name,
        loaded.info.version,
        loaded.info.manifest()
    );
    eprintln!("{}", inert(&pushed));
    println!("{digest}");
    Ok(ExitCode::SUCCESS)
}

pub async fn update(
    dir: &Path,
    config_path: Option<&Path>,
    console: Arc<dyn Console>,
    only: Option<&str>,
    yes: bool,
    team: Option<&str>,
) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    if let Some(team) = team {
        config.team(team)?;
    }
    let runtime = runtime()?;
    let locked = locked(config_path)?;
    let entries: Vec<Entry> = locked
        .lock
        .plugins
        .iter()
        .filter(|e| only.is_none_or(|n| e.name == n))
        .cloned()
        .collect();
    if let Some(name) = only {
        match entries.first() {
            None => bail!("no plugin named `{name}` in {}", locked.path.display()),
            Some(e) if e.source.is_none() => bail!(
                "`{name}` was added from a file, not a registry: add the new file with `dockwright plugins add`"
            ),
            Some(_) => {}
        }
    }
    let mut pending = 0;
    for old in entries {
        let Some(source) = old.source.clone() else {
            continue;
        };
        let reference = reference::parse(&source)?;
        if reference.digest().is_some() {
            println!(
                "{}: pinned by digest in {source}; nothing to update",
                old.name
            );
            continue;
        }
        let named = reference.resolve_registry().to_string();
        let access = access(&config, Some(&named));
        let now = Registry::connect(&reference, &access)?
            .resolve(&reference)
            .await?;
        if old.manifest_digest.as_deref() == Some(now.as_str()) {
            println!("{}: up to date ({source} is {now})", old.name);
            continue;
        }
        let candidate = install::fetch(&runtime, dir, &access, &source, console.clone()).await?;
        let change = install::change(&old, &candidate.entry());
        println!("{} ({source}):", old.name);
        for line in &change.lines {
            println!("  {}", inert_line(line));
        }
        if candidate.name() != old.name {
            bail!(
                "{source} now holds plugin `{}`, not `{}`: refused; remove `{}` and add the new one if that is intended",
                candidate.name(),
                old.name,
                old.name
            );
        }
        admit(
            &config,
            team,
            candidate.name(),
            candidate.signer.as_deref(),
            &candidate.permissions(),
        )
        .with_context(|| format!("the update from {source} is refused"))?;
        if !confirm(yes, &old.name, &change)? {
            pending += 1;
            continue;
        }
        let existing = Catalog::load(&runtime, dir, console.clone(), None).await?;
        candidate.install(dir, &locked, &existing)?;
        println!("  applied");
    }
    if pending > 0 {
        eprintln!(
            "{pending} update(s) not applied: run `dockwright plugins update --yes` to apply them"
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// Whether to apply a change: `--yes`, or "y" at a prompt on a terminal. Without
/// either, nothing moves.
fn confirm(yes: bool, name: &str, change: &install::Change) -> Result<bool> {
    use std::io::IsTerminal;
    if yes {
        return Ok(true);
    }
    if !std::io::stdin().is_terminal() {
        let why = if change.added.is_empty() {
            String::new()
        } else {
            format!(" (it adds the permissions {})", change.added)
        };
        eprintln!("  not applied{why}: confirm with --yes");
        return Ok(false);
    }
    let extra = if change.added.is_empty() {
        String::new()
    } else {
        format!(", which adds the permissions {}", change.added)
    };
    eprint!("  apply this update of {name}{extra}? [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

pub async fn remove(
    dir: &Path,
    config: Option<&Path>,
    console: Arc<dyn Console>,
    name: &str,
) -> Result<ExitCode> {
    let runtime = runtime()?;
    let lock_path = locked(config)?.path;
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
    let file = path.file_name().unwrap_or_default().to_string_lossy();
    Lock::update(&lock_path, |lock| {
        std::fs::remove_file(&path)
            .with_context(|| format!("cannot remove `{}`", path.display()))?;
        lock.forget(&file);
        lock.forget(name);
        Ok(())
    })?;
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
                writeln!(out, "{}", super::json_text(&doc)?)?;
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
            "permissions": plugin.info.permissions,
            "contract": target,
            "accepts": versions::accepted(),
            "workflows": plugin.info.workflows,
        });
        writeln!(out, "{}", super::json_text(&doc)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let ok = format!(
        "ok: {} is plugin {} {} (contract {}@{target}; this host accepts {})",
        file.display(),
        plugin.info.name,
        plugin.info.version,
        versions::PACKAGE,
        versions::accepted()
    );
    writeln!(out, "{}", inert(&ok))?;
    writeln!(out, "  permissions: {}", plugin.info.manifest())?;
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
    let catalog_lock = locked(config)?.lock;
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
                    "permissions": p.info.permissions,
                    "signer": p.signer,
                    "source": locked_source(&catalog_lock, &p.info.name),
                    "workflows": p.info.workflows,
                })
            })
            .collect();
        let doc = json!({ "dir": catalog.dir, "plugins": plugins, "skipped": catalog.problems });
        writeln!(out, "{}", super::json_text(&doc)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if catalog.plugins.is_empty() {
        writeln!(out, "No plugins in {}.", catalog.dir.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    for p in &catalog.plugins {
        let file = p.path.file_name().unwrap_or_default().to_string_lossy();
        let head = format!("{} {}  ({file})", p.info.name, p.info.version);
        writeln!(out, "{}", inert(&head))?;
        writeln!(out, "  permissions: {}", p.info.manifest())?;
        if let Some(source) = locked_source(&catalog_lock, &p.info.name) {
            writeln!(out, "  from {source}")?;
        }
        if let Some(signer) = &p.signer {
            writeln!(out, "  signed by {signer}")?;
        }
        print_workflows(&mut out, &p.info)?;
        writeln!(out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Where the lock says a plugin was installed from.
fn locked_source(lock: &crate::plugin::lock::Lock, name: &str) -> Option<String> {
    lock.find(name).and_then(|e| e.source.clone())
}

/// A plugin's description and workflows with their params, indented.
fn print_workflows(out: &mut impl Write, info: &crate::plugin::info::PluginInfo) -> Result<()> {
    // A plugin describes itself: its words are shown inert.
    if !info.description.is_empty() {
        writeln!(out, "  {}", inert_line(&info.description))?;
    }
    for w in &info.workflows {
        let about = format!("workflow {}: {}", w.name, w.description);
        writeln!(out, "  {}", inert_line(&about))?;
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
