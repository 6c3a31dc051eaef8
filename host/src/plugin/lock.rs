//! `dockwright.lock`: the sha256 of every plugin added with `dockwright plugins add`,
//! kept next to the config. Teams share plugins as files; the lock makes sure the
//! file that runs is the file that was added. A plugin whose digest no longer
//! matches is refused before any of its code runs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

pub const FILE_NAME: &str = "dockwright.lock";

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    #[serde(default, rename = "plugin")]
    pub plugins: Vec<Entry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The plugin's name, as `describe` gives it.
    pub name: String,
    /// The file name in the plugin folder.
    pub file: String,
    pub sha256: String,
}

/// The lock beside the config file: the explicit config's folder, else the default
/// config folder.
pub fn path_for(config: Option<&Path>) -> PathBuf {
    let config = config.map_or_else(crate::util::paths::config_file, Path::to_path_buf);
    config
        .parent()
        .map_or_else(|| PathBuf::from(FILE_NAME), |d| d.join(FILE_NAME))
}

impl Lock {
    /// Read the lock; a missing file is an empty lock.
    pub fn read(path: &Path) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => toml::from_str(&text)
                .with_context(|| format!("cannot read the plugin lock `{}`", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => {
                Err(e).with_context(|| format!("cannot read the plugin lock `{}`", path.display()))
            }
        }
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let body = toml::to_string_pretty(self).context("cannot encode the plugin lock")?;
        let text = format!(
            "# Written by `dockwright plugins add` and `remove`: the sha256 of each plugin file.\n\
             # A plugin whose file no longer matches is refused.\n\n{body}"
        );
        crate::util::files::write_atomic(path, text.as_bytes())
            .with_context(|| format!("cannot write the plugin lock `{}`", path.display()))
    }

    /// Whether the plugin file `file` with this digest may load. Files the lock
    /// does not list are not its business.
    pub fn verify(&self, file: &str, sha256: &str, lock_path: &Path) -> Result<(), String> {
        match self.plugins.iter().find(|e| e.file == file) {
            Some(entry) if entry.sha256 != sha256 => Err(format!(
                "refused: its sha256 is {sha256}, but {} records {} for it; if the new file is \
                 wanted, run `dockwright plugins add` with it again",
                lock_path.display(),
                entry.sha256
            )),
            _ => Ok(()),
        }
    }

    /// Record a plugin, replacing any entry for the same file or name.
    pub fn record(&mut self, entry: Entry) {
        self.plugins
            .retain(|e| e.file != entry.file && e.name != entry.name);
        self.plugins.push(entry);
        self.plugins.sort_by(|a, b| a.name.cmp(&b.name));
    }

    /// Forget a plugin by name or file name; whether it was there.
    pub fn forget(&mut self, name_or_file: &str) -> bool {
        let before = self.plugins.len();
        self.plugins
            .retain(|e| e.name != name_or_file && e.file != name_or_file);
        self.plugins.len() != before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, sha: &str) -> Entry {
        Entry {
            name: name.into(),
            file: format!("{name}.wasm"),
            sha256: sha.into(),
        }
    }

    #[test]
    fn round_trip_and_verify() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        assert_eq!(Lock::read(&path).unwrap(), Lock::default());
        let mut lock = Lock::default();
        lock.record(entry("b", "22"));
        lock.record(entry("a", "11"));
        lock.write(&path).unwrap();
        let read = Lock::read(&path).unwrap();
        assert_eq!(read, lock);
        assert_eq!(read.plugins[0].name, "a");
        assert!(read.verify("a.wasm", "11", &path).is_ok());
        assert!(read.verify("other.wasm", "99", &path).is_ok());
        let err = read.verify("a.wasm", "99", &path).unwrap_err();
        assert!(
            err.contains("99") && err.contains("11") && err.contains("plugins add"),
            "{err}"
        );
    }

    #[test]
    fn record_replaces_and_forget_removes() {
        let mut lock = Lock::default();
        lock.record(entry("a", "11"));
        lock.record(entry("a", "12"));
        assert_eq!(lock.plugins.len(), 1);
        assert_eq!(lock.plugins[0].sha256, "12");
        assert!(lock.forget("a.wasm"));
        assert!(!lock.forget("a"));
    }

    #[test]
    fn bad_lock_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        std::fs::write(&path, "[[plugin]]\nname = 1\n").unwrap();
        let err = format!("{:#}", Lock::read(&path).unwrap_err());
        assert!(err.contains(FILE_NAME), "{err}");
    }
}
