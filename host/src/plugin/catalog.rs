//! The plugin folder: which plugins are there, what they offer, and which plugin a
//! workflow name means.

use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use super::info::{PluginInfo, WorkflowInfo};
use crate::contract::bindings::PluginPre;
use crate::imports::state::HostState;
use crate::plugin::runtime::Runtime;
use crate::util::console::Console;
use crate::util::suggest;

/// How long a plugin may take to describe itself, and how much memory it may use
/// for that.
const DESCRIBE_TIMEOUT: Duration = Duration::from_secs(5);
const DESCRIBE_MEMORY: usize = 256 << 20;

/// A plugin of the folder. Its compiled, linked form is made on first use: listing
/// plugins and resolving a workflow need only what `describe` said, which is cached.
pub struct LoadedPlugin {
    pub path: PathBuf,
    pub sha256: String,
    pub info: PluginInfo,
    /// The public key of the valid signature the lock holds for it, if any.
    pub signer: Option<String>,
    pre: OnceLock<PluginPre<HostState>>,
}

impl LoadedPlugin {
    /// The plugin ready to instantiate: linked already, or loaded now (from the
    /// compiled cache, else compiled).
    /// Whether team `policy` lets this plugin run: the plugins it may run, who
    /// must have signed it, and the most its manifest may ask for. Checked before
    /// any of the plugin's code runs.
    pub fn admitted(&self, policy: &crate::policy::TeamPolicy) -> crate::policy::Decision {
        let name = &self.info.name;
        crate::policy::check_plugin(policy, name)?;
        crate::policy::check_signer(policy, name, self.signer.as_deref())?;
        crate::policy::check_manifest(policy, name, &self.info.manifest())
    }

    pub fn pre(&self, runtime: &Runtime) -> Result<PluginPre<HostState>> {
        if let Some(pre) = self.pre.get() {
            return Ok(pre.clone());
        }
        let component = match runtime.cached(&self.sha256) {
            Some(component) => component,
            None => {
                let bytes = std::fs::read(&self.path)
                    .with_context(|| format!("cannot read the plugin `{}`", self.path.display()))?;
                if crate::util::digest::sha256_hex(&bytes) != self.sha256 {
                    bail!(
                        "the plugin file `{}` changed while dockwright was loading it: run again",
                        self.path.display()
                    );
                }
                runtime.compile(&bytes, &self.sha256)?
            }
        };
        let pre = runtime.prepare(&component)?;
        Ok(self.pre.get_or_init(|| pre).clone())
    }
}

/// A file in the folder that is not a usable plugin, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub path: PathBuf,
    pub reason: String,
}

/// The loaded plugin folder.
pub struct Catalog {
    pub dir: PathBuf,
    /// Shared, so a run keeps its plugin while a server offers a newer one.
    pub plugins: Vec<Arc<LoadedPlugin>>,
    pub problems: Vec<Problem>,
}

/// What [`Catalog::load_reporting`] says as it goes: a server that starts with many
/// plugins compiles for seconds, and its operator should see why it is not up yet.
pub enum Progress<'a> {
    /// The folder holds this many `.wasm` files, about to be loaded one by one.
    Found(usize),
    /// One file was loaded: its plugin, whether it was compiled now (else its
    /// description came from the compile cache), and how long it took.
    Loaded {
        path: &'a Path,
        plugin: &'a str,
        compiled: bool,
        took: Duration,
    },
}

impl Catalog {
    /// Load every `*.wasm` in `dir`. Files that are not plugins become problems, not
    /// errors: one bad file must not hide the good ones.
    pub async fn load(
        runtime: &Runtime,
        dir: &Path,
        console: Arc<dyn Console>,
        lock: Option<&Locked>,
    ) -> Result<Self> {
        Self::load_reporting(runtime, dir, console, lock, &|_| {}).await
    }

    /// [`Catalog::load`], telling `report` what it found and each plugin it loaded.
    pub async fn load_reporting(
        runtime: &Runtime,
        dir: &Path,
        console: Arc<dyn Console>,
        lock: Option<&Locked>,
        report: &(dyn Fn(Progress<'_>) + Sync),
    ) -> Result<Self> {
        let entries = std::fs::read_dir(dir).with_context(|| {
            format!(
                "cannot read the plugin folder `{}`: create it and put plugin .wasm files in it, \
                 or choose another with --plugins or DOCKWRIGHT_PLUGINS",
                dir.display()
            )
        })?;
        let mut paths: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "wasm") && p.is_file())
            .collect();
        paths.sort();
        report(Progress::Found(paths.len()));

        let mut catalog = Catalog {
            dir: dir.to_path_buf(),
            plugins: Vec::new(),
            problems: Vec::new(),
        };
        for path in paths {
            let started = std::time::Instant::now();
            match load_file(runtime, &path, console.clone(), lock).await {
                Ok(plugin) => {
                    report(Progress::Loaded {
                        path: &path,
                        plugin: &plugin.info.name,
                        // Described from the cache leaves the component to load later.
                        compiled: plugin.pre.get().is_some(),
                        took: started.elapsed(),
                    });
                    if let Some(first) = catalog.find(&plugin.info.name) {
                        let reason = format!(
                            "a plugin named `{}` is already loaded from `{}`",
                            plugin.info.name,
                            first.path.display()
                        );
                        catalog.problems.push(Problem { path, reason });
                    } else {
                        catalog.plugins.push(Arc::new(plugin));
                    }
                }
                Err(e) => catalog.problems.push(Problem {
                    path,
                    reason: format!("{e:#}"),
                }),
            }
        }
        Ok(catalog)
    }

    pub fn find(&self, name: &str) -> Option<&LoadedPlugin> {
        self.plugins
            .iter()
            .find(|p| p.info.name == name)
            .map(|p| &**p)
    }

    /// The plugin and workflow a name means. Errors name what is there instead.
    pub fn resolve(
        &self,
        workflow: &str,
        plugin: Option<&str>,
    ) -> Result<(&LoadedPlugin, &WorkflowInfo)> {
        let index: Vec<(&str, Vec<&str>)> = self
            .plugins
            .iter()
            .map(|p| {
                let names = p.info.workflows.iter().map(|w| w.name.as_str()).collect();
                (p.info.name.as_str(), names)
            })
            .collect();
        let (p, w) = pick(&index, workflow, plugin).map_err(|e| match e {
            Pick::Empty if !self.problems.is_empty() => anyhow::anyhow!(
                "no usable plugins in `{}`: {} file(s) skipped, see the warnings above",
                self.dir.display(),
                self.problems.len()
            ),
            Pick::Empty => anyhow::anyhow!(
                "no plugins in `{}`: put plugin .wasm files there, or choose another folder with --plugins",
                self.dir.display()
            ),
            Pick::Unknown(msg) => anyhow::anyhow!(
                "{msg} Run `dockwright plugins` to list what `{}` holds.",
                self.dir.display()
            ),
            Pick::Other(msg) => anyhow::anyhow!(msg),
        })?;
        let plugin = &self.plugins[p];
        Ok((plugin, &plugin.info.workflows[w]))
    }
}

/// Why a workflow name could not be resolved.
#[derive(Debug, PartialEq, Eq)]
pub enum Pick {
    /// There are no plugins at all.
    Empty,
    /// No such workflow anywhere (the message may suggest close names).
    Unknown(String),
    /// Any other mistake: unknown plugin, ambiguous name.
    Other(String),
}

/// Resolve `workflow` (in `plugin`, if given) over an index of plugin names and
/// their workflow names; returns the positions of the plugin and the workflow.
pub fn pick(
    index: &[(&str, Vec<&str>)],
    workflow: &str,
    plugin: Option<&str>,
) -> std::result::Result<(usize, usize), Pick> {
    if index.is_empty() {
        return Err(Pick::Empty);
    }
    let did_you_mean =
        |names: &mut dyn Iterator<Item = &str>| suggest::did_you_mean(workflow, names);
    if let Some(name) = plugin {
        let plugin_names = || index.iter().map(|(p, _)| *p);
        let Some(p) = index.iter().position(|(p, _)| *p == name) else {
            let hint = suggest::did_you_mean(name, plugin_names());
            return Err(Pick::Other(format!(
                "no plugin named `{name}` (plugins: {}).{hint}",
                plugin_names().collect::<Vec<_>>().join(", ")
            )));
        };
        let names = &index[p].1;
        return match names.iter().position(|w| *w == workflow) {
            Some(w) => Ok((p, w)),
            None => Err(Pick::Other(format!(
                "plugin `{name}` has no workflow `{workflow}` (its workflows: {}).{}",
                names.join(", "),
                did_you_mean(&mut names.iter().copied())
            ))),
        };
    }
    let matches: Vec<(usize, usize)> = index
        .iter()
        .enumerate()
        .filter_map(|(p, (_, ws))| ws.iter().position(|w| *w == workflow).map(|w| (p, w)))
        .collect();
    match matches.as_slice() {
        [one] => Ok(*one),
        [] => Err(Pick::Unknown(format!(
            "no workflow named `{workflow}`.{}",
            did_you_mean(&mut index.iter().flat_map(|(_, ws)| ws.iter().copied()))
        ))),
        many => {
            let names: Vec<&str> = many.iter().map(|(p, _)| index[*p].0).collect();
            Err(Pick::Other(format!(
                "workflow `{workflow}` is offered by several plugins ({}): choose one with --plugin, such as --plugin {}",
                names.join(", "),
                names[0]
            )))
        }
    }
}

/// A lock and where it was read from.
pub struct Locked {
    pub lock: crate::plugin::lock::Lock,
    pub path: PathBuf,
}

/// Load one plugin file: refused before any of its code runs when its digest does
/// not match the lock; described from the cache when it was seen before.
pub async fn load_file(
    runtime: &Runtime,
    path: &Path,
    console: Arc<dyn Console>,
    lock: Option<&Locked>,
) -> Result<LoadedPlugin> {
    let cache = runtime.cache();
    let cached_sha = match cache {
        Some(c) => Some(c.digest(path).context("cannot read the file")?),
        None => None,
    };
    let mut signer = None;
    if let Some(locked) = lock {
        let sha = match &cached_sha {
            Some(sha) => sha.clone(),
            None => crate::util::digest::sha256_hex(
                &std::fs::read(path).context("cannot read the file")?,
            ),
        };
        let file = path.file_name().unwrap_or_default().to_string_lossy();
        signer = locked
            .lock
            .verify(&file, &sha, &locked.path)
            .map_err(anyhow::Error::msg)?;
    }
    if let (Some(cache), Some(sha)) = (cache, &cached_sha) {
        if let Some(info) = cache.described(sha) {
            return Ok(LoadedPlugin {
                path: path.to_path_buf(),
                sha256: sha.clone(),
                info,
                signer,
                pre: OnceLock::new(),
            });
        }
    }
    let bytes = std::fs::read(path).context("cannot read the file")?;
    let sha256 = crate::util::digest::sha256_hex(&bytes);
    if cached_sha.as_ref().is_some_and(|sha| *sha != sha256) {
        bail!("the file changed while dockwright was reading it: run again");
    }
    let described = describe(runtime, path, &bytes, &sha256, console).await;
    // Only answers are kept: why a file is not a plugin is worded by the host, and
    // a newer host may word it better (or accept the file).
    if let (Some(cache), Ok((info, _))) = (cache, &described) {
        cache.store_described(&sha256, info);
    }
    let (info, pre) = described?;
    Ok(LoadedPlugin {
        path: path.to_path_buf(),
        sha256,
        info,
        signer,
        pre: OnceLock::from(pre),
    })
}

/// Compile, link and ask a plugin what it offers.
async fn describe(
    runtime: &Runtime,
    path: &Path,
    bytes: &[u8],
    sha256: &str,
    console: Arc<dyn Console>,
) -> Result<(PluginInfo, PluginPre<HostState>)> {
    let component = runtime.compile(bytes, sha256)?;
    let pre = runtime.prepare(&component)?;
    let label: Arc<str> = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
        .into();
    let mut store = runtime.store(label, console, None, DESCRIBE_MEMORY);
    let describe = async {
        let instance = pre.instantiate_async(&mut store).await?;
        instance
            .dockwright_plugin_workflows()
            .call_describe(&mut store)
            .await
    };
    let wit = tokio::time::timeout(DESCRIBE_TIMEOUT, describe)
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "`describe` did not answer within {}s",
                DESCRIBE_TIMEOUT.as_secs()
            )
        })?
        .map_err(|e| anyhow::anyhow!("`describe` failed: {e:#}"))?;
    let imported = super::manifest::imported(runtime.engine(), &component);
    let permissions = super::manifest::manifest(&imported, store.data().declared.as_deref())?;
    Ok((PluginInfo::from_describe(wit, &permissions)?, pre))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> Vec<(&'static str, Vec<&'static str>)> {
        vec![
            ("team-env", vec!["team-env", "team-env-teardown"]),
            ("inventory", vec!["ps"]),
            ("other", vec!["ps", "hello"]),
        ]
    }

    #[test]
    fn picks_unique_names() {
        assert_eq!(pick(&index(), "team-env-teardown", None), Ok((0, 1)));
        assert_eq!(pick(&index(), "hello", None), Ok((2, 1)));
        assert_eq!(pick(&index(), "ps", Some("other")), Ok((2, 0)));
    }

    #[test]
    fn ambiguous_names_list_the_plugins() {
        let Err(Pick::Other(msg)) = pick(&index(), "ps", None) else {
            panic!("expected ambiguity")
        };
        assert!(msg.contains("several plugins (inventory, other)"), "{msg}");
        assert!(msg.contains("--plugin"), "{msg}");
    }

    #[test]
    fn unknown_names_suggest() {
        let Err(Pick::Unknown(msg)) = pick(&index(), "team-nev", None) else {
            panic!("expected unknown")
        };
        assert!(msg.contains("`team-env`"), "{msg}");
        let Err(Pick::Other(msg)) = pick(&index(), "x", Some("inventroy")) else {
            panic!("expected unknown plugin")
        };
        assert!(msg.contains("Did you mean `inventory`"), "{msg}");
        let Err(Pick::Other(msg)) = pick(&index(), "pss", Some("inventory")) else {
            panic!("expected unknown workflow in plugin")
        };
        assert!(
            msg.contains("its workflows: ps") && msg.contains("`ps`"),
            "{msg}"
        );
        assert_eq!(pick(&[], "ps", None), Err(Pick::Empty));
    }
}
