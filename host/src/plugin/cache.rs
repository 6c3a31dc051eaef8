//! The plugin cache: compiled components and what each plugin said in `describe`,
//! keyed by the plugin's sha256 under a folder named for the engine configuration.
//! Compiling a component takes from milliseconds to seconds; loading it compiled
//! takes a fraction of a millisecond, so an unchanged plugin is compiled once.
//!
//! Every write goes to a temporary file that is then renamed into place, so two
//! processes starting at once never see a half-written entry. An entry that cannot
//! be read back (stale, corrupt) is ignored and rewritten: the cache only ever
//! makes things faster.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use wasmtime::component::Component;

use crate::plugin::info::PluginInfo;
use crate::util::digest::sha256_hex;
use crate::util::files::write_atomic;

pub struct Cache {
    /// `<root>/<engine key>`: entries of this engine configuration only.
    dir: PathBuf,
    /// `<root>/digests`: memo of file digests by path, size and modification time.
    digests: PathBuf,
}

/// A folder name for an engine configuration: compiled code from one is useless to
/// another (another wasmtime version, other settings).
pub fn engine_key(engine: &wasmtime::Engine) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut h);
    // The contract version is in the key too: what `describe` yields (the
    // permission manifest among it) depends on the contract the host implements.
    format!(
        "dockwright-{}-{}-{:016x}",
        env!("CARGO_PKG_VERSION"),
        crate::contract::bindings::CONTRACT_VERSION,
        h.finish()
    )
}

impl Cache {
    pub fn new(root: &Path, engine: &wasmtime::Engine) -> Self {
        Self {
            dir: root.join(engine_key(engine)),
            digests: root.join("digests"),
        }
    }

    fn compiled_path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.cwasm"))
    }

    fn described_path(&self, sha256: &str) -> PathBuf {
        self.dir.join(format!("{sha256}.json"))
    }

    /// The sha256 of a plugin file, hashing it only when its size or modification
    /// time changed since the last time.
    pub fn digest(&self, path: &Path) -> std::io::Result<String> {
        let meta = std::fs::metadata(path)?;
        let mtime = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let stamp = format!("{} {mtime}", meta.len());
        let canonical = std::fs::canonicalize(path)?;
        let memo = self
            .digests
            .join(sha256_hex(canonical.as_os_str().as_encoded_bytes()));
        if let Ok(text) = std::fs::read_to_string(&memo) {
            if let Some((seen, sha)) = text.rsplit_once(' ') {
                if seen == stamp && sha.len() == 64 {
                    return Ok(sha.to_string());
                }
            }
        }
        let sha = sha256_hex(&std::fs::read(path)?);
        let _ = write_atomic(&memo, format!("{stamp} {sha}").as_bytes());
        Ok(sha)
    }

    /// What the plugin answered to `describe`, when it was seen before.
    pub fn described(&self, sha256: &str) -> Option<PluginInfo> {
        let text = std::fs::read(self.described_path(sha256)).ok()?;
        serde_json::from_slice(&text).ok()
    }

    pub fn store_described(&self, sha256: &str, described: &PluginInfo) {
        if let Ok(json) = serde_json::to_vec(described) {
            let _ = write_atomic(&self.described_path(sha256), &json);
        }
    }

    /// The compiled component, if a readable one is cached.
    pub fn component(&self, engine: &wasmtime::Engine, sha256: &str) -> Option<Component> {
        let path = self.compiled_path(sha256);
        if !path.is_file() {
            return None;
        }
        // SAFETY: the file was written by `store_component` from `Component::serialize`
        // of this engine configuration (the folder is keyed by it), into the user's own
        // cache folder; wasmtime checks the header and configuration again, and a file
        // it refuses is simply recompiled.
        #[cfg(not(windows))]
        let component = unsafe { Component::deserialize_file(engine, &path) };
        // On Windows the file is read rather than mapped: a mapped file stays locked
        // against the next `store_component`'s rename while the component lives, and
        // wine cannot map it for execution at all.
        #[cfg(windows)]
        let component = std::fs::read(&path)
            .map_err(wasmtime::Error::from)
            .and_then(|bytes| unsafe { Component::deserialize(engine, bytes) });
        component.ok()
    }

    pub fn store_component(&self, sha256: &str, component: &Component) {
        if let Ok(bytes) = component.serialize() {
            let _ = write_atomic(&self.compiled_path(sha256), &bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_are_remembered_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(&dir.path().join("cache"), &wasmtime::Engine::default());
        let file = dir.path().join("p.wasm");
        std::fs::write(&file, b"one").unwrap();
        let first = cache.digest(&file).unwrap();
        assert_eq!(first, sha256_hex(b"one"));
        assert_eq!(cache.digest(&file).unwrap(), first);
        std::fs::write(&file, b"two!").unwrap();
        assert_eq!(cache.digest(&file).unwrap(), sha256_hex(b"two!"));
    }

    #[test]
    fn corrupt_entries_read_as_missing() {
        let dir = tempfile::tempdir().unwrap();
        let engine = wasmtime::Engine::default();
        let cache = Cache::new(dir.path(), &engine);
        write_atomic(&cache.compiled_path("ab"), b"not a compiled component").unwrap();
        assert!(cache.component(&engine, "ab").is_none());
        write_atomic(&cache.described_path("ab"), b"{torn").unwrap();
        assert!(cache.described("ab").is_none());
        let info = PluginInfo {
            name: "p".into(),
            version: "1".into(),
            description: String::new(),
            workflows: vec![],
            permissions: vec!["containers".into()],
        };
        cache.store_described("ab", &info);
        assert_eq!(cache.described("ab").map(|i| i.name), Some("p".to_string()));
    }

    #[test]
    fn components_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let engine = wasmtime::Engine::default();
        let cache = Cache::new(dir.path(), &engine);
        let component = Component::new(&engine, "(component)").unwrap();
        cache.store_component("cd", &component);
        assert!(cache.component(&engine, "cd").is_some());
        // Another engine configuration has its own folder.
        let mut config = wasmtime::Config::new();
        config.epoch_interruption(true);
        let other = wasmtime::Engine::new(&config).unwrap();
        assert_ne!(engine_key(&engine), engine_key(&other));
        assert!(Cache::new(dir.path(), &other)
            .component(&other, "cd")
            .is_none());
    }
}
