//! The plugin folder as the server offers it, kept live: a file dropped in is checked
//! (the lock, and with it the signature the team's policy may ask for), compiled in the
//! background and only then offered; a changed file is swapped in the same way; a removed
//! file's workflows go. The folder is watched for changes, and scanned again every few
//! seconds as well, since change events can be lost (a network filesystem, a watcher that
//! could not start).
//!
//! A run holds the plugin it started with (an `Arc`), so swapping a file never changes a
//! run in flight. A file is loaded only once it has stopped changing between two looks, so
//! one being copied in is not read half-written; one that fails a check is reported (the log,
//! `/healthz`) and the previous good version of that file, if any, stays offered.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::plugin::catalog::{self, Catalog, LoadedPlugin, Problem};
use crate::plugin::runtime::Runtime;
use crate::util::console::Console;

/// How often the folder is scanned without a change event.
pub const RESCAN: Duration = Duration::from_secs(2);
/// How long to wait after a change event for the rest of a burst (a copy writes many times).
const SETTLE: Duration = Duration::from_millis(300);

/// A file as last looked at: its size and modification time.
type Stamp = (u64, Option<SystemTime>);

/// What one file of the folder gave.
#[derive(Clone)]
struct Seen {
    stamp: Stamp,
    /// The plugin offered for this file: the one it holds now, or the last good one.
    plugin: Option<Arc<LoadedPlugin>>,
    /// Why its current contents are not offered.
    problem: Option<String>,
    /// Whether its current contents were loaded (or refused) already.
    settled: bool,
}

pub struct LivePlugins {
    dir: PathBuf,
    /// The lock the folder's files are checked against (next to the config).
    lock_path: Option<PathBuf>,
    current: RwLock<Arc<Catalog>>,
    files: Mutex<BTreeMap<PathBuf, Seen>>,
    /// The lock's stamp at the last scan: a changed lock checks every file again.
    lock_stamp: Mutex<Option<Stamp>>,
}

impl LivePlugins {
    /// The folder as loaded at startup.
    pub fn new(catalog: Catalog, lock_path: Option<PathBuf>) -> Self {
        let mut files = BTreeMap::new();
        for plugin in &catalog.plugins {
            files.insert(
                plugin.path.clone(),
                Seen {
                    stamp: stamp(&plugin.path),
                    plugin: Some(plugin.clone()),
                    problem: None,
                    settled: true,
                },
            );
        }
        for problem in &catalog.problems {
            files.insert(
                problem.path.clone(),
                Seen {
                    stamp: stamp(&problem.path),
                    plugin: None,
                    problem: Some(problem.reason.clone()),
                    settled: true,
                },
            );
        }
        let lock_stamp = lock_path.as_deref().map(stamp);
        Self {
            lock_path,
            dir: catalog.dir.clone(),
            current: RwLock::new(Arc::new(catalog)),
            files: Mutex::new(files),
            lock_stamp: Mutex::new(lock_stamp),
        }
    }

    /// The plugins on offer now. A run keeps what it took from here, whatever changes.
    pub fn current(&self) -> Arc<Catalog> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Look at the folder again and apply what changed. Returns whether a file is
    /// still settling (changed since the last look), so the caller looks again soon.
    pub async fn rescan(&self, runtime: &Runtime, console: Arc<dyn Console>) -> bool {
        let listed = match list(&self.dir) {
            Ok(listed) => listed,
            Err(e) => {
                tracing::warn!(
                    "cannot read the plugin folder `{}`: {e}",
                    self.dir.display()
                );
                return false;
            }
        };
        let lock_now = self.lock_path.as_deref().map(stamp);
        let lock_changed = {
            let mut last = self.lock_stamp.lock().unwrap_or_else(|e| e.into_inner());
            let changed = *last != lock_now;
            *last = lock_now;
            changed
        };
        let before = self.files.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut after = BTreeMap::new();
        let mut settling = false;
        let mut changed = false;
        let mut lock = None;
        for (path, now) in listed {
            let old = before.get(&path);
            let seen = match old {
                Some(seen) if seen.stamp == now && (seen.settled && !lock_changed) => seen.clone(),
                // Changed since the last look: wait for it to stop changing.
                Some(seen) if seen.stamp != now => {
                    settling = true;
                    Seen {
                        stamp: now,
                        settled: false,
                        ..seen.clone()
                    }
                }
                None => {
                    settling = true;
                    changed = true;
                    Seen {
                        stamp: now,
                        plugin: None,
                        problem: None,
                        settled: false,
                    }
                }
                // Unchanged since the last look and not loaded yet (or the lock changed).
                Some(seen) => {
                    changed = true;
                    let lock = lock.get_or_insert_with(|| self.read_lock());
                    match lock {
                        Ok(lock) => {
                            load(runtime, &path, seen, lock.as_ref(), console.clone()).await
                        }
                        // Where the lock cannot be read, nothing new is offered.
                        Err(reason) => Seen {
                            problem: Some(reason.clone()),
                            settled: true,
                            ..seen.clone()
                        },
                    }
                }
            };
            after.insert(path, seen);
        }
        for (path, seen) in &before {
            if !after.contains_key(path) {
                changed = true;
                if let Some(plugin) = &seen.plugin {
                    tracing::info!(
                        "plugin `{}` is gone: `{}` was removed",
                        plugin.info.name,
                        path.display()
                    );
                }
            }
        }
        if changed {
            let catalog = catalog_of(&self.dir, &after);
            *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(catalog);
        }
        *self.files.lock().unwrap_or_else(|e| e.into_inner()) = after;
        settling
    }
}

impl LivePlugins {
    /// The lock as it is now, if the server checks one.
    fn read_lock(&self) -> Result<Option<catalog::Locked>, String> {
        let Some(path) = &self.lock_path else {
            return Ok(None);
        };
        crate::plugin::lock::Lock::read(path)
            .map(|lock| {
                Some(catalog::Locked {
                    lock,
                    path: path.clone(),
                })
            })
            .map_err(|e| {
                format!("the plugin lock cannot be read, so no new plugin is offered: {e:#}")
            })
    }
}

/// Check, describe and compile one file; the previous good version stays on failure.
async fn load(
    runtime: &Runtime,
    path: &Path,
    seen: &Seen,
    lock: Option<&catalog::Locked>,
    console: Arc<dyn Console>,
) -> Seen {
    let loaded = match catalog::load_file(runtime, path, console, lock).await {
        // Compiling takes from milliseconds (Rust) to seconds (Python): this thread is
        // handed over for it, so requests go on being answered on the others.
        Ok(plugin) => match tokio::task::block_in_place(|| plugin.pre(runtime)) {
            Ok(_) => Ok(Arc::new(plugin)),
            Err(e) => Err(format!("{e:#}")),
        },
        Err(e) => Err(format!("{e:#}")),
    };
    match loaded {
        Ok(plugin) => {
            tracing::info!(
                "offering plugin `{}` {} from `{}`",
                plugin.info.name,
                plugin.info.version,
                path.display()
            );
            Seen {
                stamp: seen.stamp,
                plugin: Some(plugin),
                problem: None,
                settled: true,
            }
        }
        Err(reason) => {
            match &seen.plugin {
                Some(kept) => tracing::warn!(
                    "`{}` is refused, so plugin `{}` {} stays as it was: {reason}",
                    path.display(),
                    kept.info.name,
                    kept.info.version
                ),
                None => tracing::warn!("skipped `{}`: {reason}", path.display()),
            }
            Seen {
                stamp: seen.stamp,
                plugin: seen.plugin.clone(),
                problem: Some(reason),
                settled: true,
            }
        }
    }
}

/// The catalog the files give: their plugins in path order, the first of a name winning.
fn catalog_of(dir: &Path, files: &BTreeMap<PathBuf, Seen>) -> Catalog {
    let mut catalog = Catalog {
        dir: dir.to_path_buf(),
        plugins: Vec::new(),
        problems: Vec::new(),
    };
    for (path, seen) in files {
        if let Some(reason) = &seen.problem {
            catalog.problems.push(Problem {
                path: path.clone(),
                reason: reason.clone(),
            });
        }
        let Some(plugin) = &seen.plugin else { continue };
        match catalog.find(&plugin.info.name) {
            Some(first) => {
                let reason = format!(
                    "a plugin named `{}` is already loaded from `{}`",
                    plugin.info.name,
                    first.path.display()
                );
                catalog.problems.push(Problem {
                    path: path.clone(),
                    reason,
                });
            }
            None => catalog.plugins.push(plugin.clone()),
        }
    }
    catalog
}

/// The `.wasm` files of the folder with their stamps.
fn list(dir: &Path) -> std::io::Result<Vec<(PathBuf, Stamp)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|x| x == "wasm") && path.is_file() {
            let now = stamp(&path);
            out.push((path, now));
        }
    }
    Ok(out)
}

fn stamp(path: &Path) -> Stamp {
    match std::fs::metadata(path) {
        Ok(m) => (m.len(), m.modified().ok()),
        Err(_) => (0, None),
    }
}

/// Watch the folder and apply changes until the server stops.
pub async fn watch(
    live: &LivePlugins,
    runtime: &Runtime,
    console: Arc<dyn Console>,
    stop: CancellationToken,
) {
    use notify::Watcher;
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let dir = live.dir().to_path_buf();
    let watcher = notify::recommended_watcher(move |_event| {
        let _ = tx.send(());
    })
    .and_then(|mut w| {
        w.watch(&dir, notify::RecursiveMode::NonRecursive)
            .map(|()| w)
    });
    let _watcher = match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(
                "cannot watch `{}` ({e}): changes are found by a scan every {} s",
                dir.display(),
                RESCAN.as_secs()
            );
            None
        }
    };
    let mut settling = true;
    loop {
        let wait = if settling { SETTLE } else { RESCAN };
        tokio::select! {
            Some(()) = events.recv() => {
                tokio::time::sleep(SETTLE).await;
                while events.try_recv().is_ok() {}
            }
            () = tokio::time::sleep(wait) => {}
            () = stop.cancelled() => return,
        }
        settling = live.rescan(runtime, console.clone()).await;
    }
}
