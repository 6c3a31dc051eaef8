//! `dockwright.lock`: the sha256 of every plugin added with `dockwright plugins add`,
//! kept next to the config. The lock makes sure the file that runs is the file that
//! was added: a plugin whose digest no longer matches is refused before any of its
//! code runs. A plugin installed from a registry also keeps where it came from, the
//! OCI manifest it was pulled by, and that manifest's signature: a run checks the
//! signature again, offline, against the manifest kept here, and the manifest's
//! layer digest against the file, so editing the lock cannot make a plugin signed.

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
    /// The registry reference it was installed from, as given (`registry/repo:tag`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The plugin's version when it was installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The digest of the OCI manifest it was pulled by (`sha256:<hex>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    /// That manifest, as the registry served it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// The public key of a valid signature over the manifest digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<String>,
    /// The signature (base64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
    /// The permission manifest when it was installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permissions: Option<Vec<String>>,
}

impl Entry {
    /// An entry for a plugin added from a file.
    pub fn file(name: &str, file: &str, sha256: &str) -> Entry {
        Entry {
            name: name.into(),
            file: file.into(),
            sha256: sha256.into(),
            source: None,
            version: None,
            manifest_digest: None,
            manifest: None,
            signer: None,
            signature: None,
            permissions: None,
        }
    }

    /// The signer, when the entry holds a signature that is valid over the kept
    /// manifest, and that manifest's one layer is the file `sha256`. An entry
    /// without a signature has no signer; one whose signature does not hold is an
    /// error, since only an edited lock can have it.
    pub fn verified_signer(&self, sha256: &str) -> Result<Option<String>, String> {
        let (Some(signer), Some(signature)) = (&self.signer, &self.signature) else {
            return Ok(None);
        };
        let (Some(manifest), Some(digest)) = (&self.manifest, &self.manifest_digest) else {
            return Err("its signature is recorded without the manifest it signs".into());
        };
        let actual = format!(
            "sha256:{}",
            crate::util::digest::sha256_hex(manifest.as_bytes())
        );
        if &actual != digest {
            return Err(format!(
                "the manifest kept for it has digest {actual}, not the recorded {digest}"
            ));
        }
        let layer = layer_digest(manifest)
            .ok_or("the manifest kept for it does not name exactly one layer")?;
        if layer != format!("sha256:{sha256}") {
            return Err(format!(
                "the signed manifest is for layer {layer}, not this file (sha256:{sha256})"
            ));
        }
        crate::util::keys::verify_manifest(signer, digest, signature)?;
        Ok(Some(signer.clone()))
    }
}

/// The digest of the one layer an OCI image manifest names.
pub fn layer_digest(manifest: &str) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_str(manifest).ok()?;
    match doc.get("layers")?.as_array()?.as_slice() {
        [layer] => layer.get("digest")?.as_str().map(str::to_string),
        _ => None,
    }
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

    /// Whether the plugin file `file` with this digest may load, and who signed
    /// it. Files the lock does not list are not its business (and unsigned).
    pub fn verify(
        &self,
        file: &str,
        sha256: &str,
        lock_path: &Path,
    ) -> Result<Option<String>, String> {
        match self.plugins.iter().find(|e| e.file == file) {
            Some(entry) if entry.sha256 != sha256 => Err(format!(
                "refused: its sha256 is {sha256}, but {} records {} for it; if the new file is \
                 wanted, run `dockwright plugins add` with it again",
                lock_path.display(),
                entry.sha256
            )),
            Some(entry) => entry.verified_signer(sha256).map_err(|e| {
                format!(
                    "refused: {e} in {}; add the plugin again with `dockwright plugins add`",
                    lock_path.display()
                )
            }),
            None => Ok(None),
        }
    }

    pub fn find(&self, name: &str) -> Option<&Entry> {
        self.plugins.iter().find(|e| e.name == name)
    }

    /// Change the lock at `path` as one step among every process that changes it:
    /// under an exclusive `flock` on `<path>.guard`, read it afresh, apply `change`
    /// and write it. `change` also moves the plugin files, so that a file and its
    /// entry change together: two `plugins add` at once must neither lose an entry
    /// nor pin one file while the other lands.
    pub fn update<T>(path: &Path, change: impl FnOnce(&mut Lock) -> Result<T>) -> Result<T> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create the folder of `{}`", path.display()))?;
        }
        let guard_path = PathBuf::from(format!("{}.guard", path.display()));
        let guard = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&guard_path)
            .with_context(|| format!("cannot open `{}`", guard_path.display()))?;
        // Blocking: the holders only read, move a file and write, in milliseconds.
        guard
            .lock()
            .with_context(|| format!("cannot lock `{}`", guard_path.display()))?;
        let mut lock = Lock::read(path)?;
        let out = change(&mut lock)?;
        lock.write(path)?;
        Ok(out)
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
        Entry::file(name, &format!("{name}.wasm"), sha)
    }

    /// An entry as a signed install leaves it.
    fn signed(sha: &str) -> (Entry, crate::util::keys::KeyPair) {
        let pair = crate::util::keys::KeyPair::generate().unwrap();
        let manifest = format!(
            r#"{{"schemaVersion":2,"layers":[{{"mediaType":"application/wasm","digest":"sha256:{sha}","size":1}}]}}"#
        );
        let digest = format!(
            "sha256:{}",
            crate::util::digest::sha256_hex(manifest.as_bytes())
        );
        let mut e = entry("s", sha);
        e.signature = Some(pair.sign_manifest(&digest));
        e.signer = Some(pair.public());
        e.manifest_digest = Some(digest);
        e.manifest = Some(manifest);
        (e, pair)
    }

    #[test]
    fn signatures_are_checked_again_from_the_lock() {
        let sha = "ab".repeat(32);
        let (e, pair) = signed(&sha);
        assert_eq!(e.verified_signer(&sha).unwrap(), Some(pair.public()));
        assert_eq!(entry("u", &sha).verified_signer(&sha).unwrap(), None);

        // Another file under the same signed manifest.
        let err = e.verified_signer(&"cd".repeat(32)).unwrap_err();
        assert!(err.contains("not this file"), "{err}");
        // A manifest edited to name another layer.
        let mut edited = e.clone();
        edited.manifest = Some(edited.manifest.unwrap().replace(&sha, &"cd".repeat(32)));
        let err = edited.verified_signer(&"cd".repeat(32)).unwrap_err();
        assert!(err.contains("not the recorded"), "{err}");
        // A signer swapped for another key.
        let mut swapped = e.clone();
        swapped.signer = Some(crate::util::keys::KeyPair::generate().unwrap().public());
        assert!(swapped.verified_signer(&sha).is_err());
        // Through the lock, the refusal names the lock file.
        let lock = Lock {
            plugins: vec![swapped],
        };
        let err = lock
            .verify("s.wasm", &sha, Path::new("/x/dockwright.lock"))
            .unwrap_err();
        assert!(err.contains("/x/dockwright.lock"), "{err}");
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
