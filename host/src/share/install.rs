//! Installing plugins from a registry and moving their pins: `plugins add <ref>`,
//! `plugins update`, and `plugins push`.
//!
//! An install pulls by digest, checks the bytes against the manifest, checks that
//! the file is a plugin this host can run (which also compiles it into the cache,
//! so the first run is quick), checks the signature and the team's rules, and only
//! then writes the file and its lock entry.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};

use super::reference;
use super::registry::{Access, Fetched, Registry};
use super::signature::SignatureDoc;
use crate::plugin::catalog::{self, Catalog, LoadedPlugin, Locked};
use crate::plugin::lock::{Entry, Lock};
use crate::plugin::runtime::Runtime;
use crate::policy::Permissions;
use crate::util::console::Console;

/// A plugin pulled and checked, not yet in the folder.
pub struct Candidate {
    pub source: String,
    pub fetched: Fetched,
    pub plugin: LoadedPlugin,
    /// The key of its valid signature, if it has one.
    pub signer: Option<String>,
    signature: Option<String>,
    staged: Staged,
}

/// A file the candidate is checked from; removed when dropped.
struct Staged(PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Pull `source` and check it: digests, that it is a plugin, its signature.
pub async fn fetch(
    runtime: &Runtime,
    dir: &Path,
    access: &Access,
    source: &str,
    console: Arc<dyn Console>,
) -> Result<Candidate> {
    let reference = reference::parse(source)?;
    let registry = Registry::connect(&reference, access)?;
    let fetched = registry.fetch_plugin(&reference).await?;
    let (signer, signature) = match registry
        .fetch_signature(&reference, &fetched.manifest_digest)
        .await?
    {
        Some(doc) => {
            doc.verify(&fetched.manifest_digest).map_err(|e| {
                anyhow::anyhow!(
                    "{source} carries a signature that does not hold ({e}): refused; ask its publisher to push it again with `dockwright plugins push --sign`"
                )
            })?;
            (Some(doc.key), Some(doc.signature))
        }
        None => (None, None),
    };
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the plugin folder `{}`", dir.display()))?;
    // Not `.wasm`: a catalog loading the folder meanwhile must not see it.
    let staged = Staged(dir.join(format!(".incoming-{}.part", &fetched.sha256[..16])));
    crate::util::files::write_atomic(&staged.0, &fetched.bytes)
        .with_context(|| format!("cannot write `{}`", staged.0.display()))?;
    let plugin = catalog::load_file(runtime, &staged.0, console, None)
        .await
        .with_context(|| format!("{source} is not a plugin this host can run"))?;
    if plugin.sha256 != fetched.sha256 {
        bail!("the plugin file changed while it was being checked: run again");
    }
    Ok(Candidate {
        source: source.to_string(),
        fetched,
        plugin,
        signer,
        signature,
        staged,
    })
}

impl Candidate {
    pub fn name(&self) -> &str {
        &self.plugin.info.name
    }

    pub fn permissions(&self) -> Permissions {
        self.plugin.info.manifest()
    }

    /// The lock entry it will have.
    pub fn entry(&self) -> Entry {
        let mut entry = Entry::file(self.name(), &file_name(self.name()), &self.fetched.sha256);
        entry.source = Some(self.source.clone());
        entry.version = Some(self.plugin.info.version.clone());
        entry.manifest_digest = Some(self.fetched.manifest_digest.clone());
        entry.manifest = Some(self.fetched.manifest.clone());
        entry.signer = self.signer.clone();
        entry.signature = self.signature.clone();
        entry.permissions = Some(self.plugin.info.permissions.clone());
        entry
    }

    /// Write the file and its lock entry. A plugin of another name in the way is
    /// an error; the same plugin's old file (of any name) is replaced.
    pub fn install(self, dir: &Path, locked: &Locked, existing: &Catalog) -> Result<Entry> {
        let entry = self.entry();
        let dest = dir.join(&entry.file);
        if let Some(other) = existing.plugins.iter().find(|p| p.path == dest) {
            if other.info.name != entry.name {
                bail!(
                    "`{}` already holds plugin `{}`: remove it first with `dockwright plugins remove {}`",
                    dest.display(),
                    other.info.name,
                    other.info.name
                );
            }
        }
        let old = existing.find(&entry.name).map(|p| p.path.clone());
        Lock::update(&locked.path, |lock| {
            std::fs::rename(&self.staged.0, &dest)
                .with_context(|| format!("cannot write `{}`", dest.display()))?;
            if let Some(old) = old.filter(|old| *old != dest) {
                std::fs::remove_file(&old)
                    .with_context(|| format!("cannot remove the old file `{}`", old.display()))?;
            }
            lock.record(entry.clone());
            Ok(())
        })?;
        Ok(entry)
    }
}

/// The file a plugin installed from a registry gets.
pub fn file_name(plugin: &str) -> String {
    format!("{plugin}.wasm")
}

/// What `plugins update` would change for one plugin, for people to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub lines: Vec<String>,
    /// Groups the new version asks for that the old one did not.
    pub added: Permissions,
}

/// The change from the locked `old` to `new`.
pub fn change(old: &Entry, new: &Entry) -> Change {
    let mut lines = Vec::new();
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "none".into());
    if old.version != new.version {
        lines.push(format!(
            "version {} -> {}",
            show(&old.version),
            show(&new.version)
        ));
    }
    if old.manifest_digest != new.manifest_digest {
        lines.push(format!(
            "digest {} -> {}",
            show(&old.manifest_digest),
            show(&new.manifest_digest)
        ));
    }
    if old.signer != new.signer {
        lines.push(format!(
            "signer {} -> {}",
            old.signer.as_deref().unwrap_or("unsigned"),
            new.signer.as_deref().unwrap_or("unsigned")
        ));
    }
    let perms = |e: &Entry| {
        Permissions::parse(e.permissions.iter().flatten().map(String::as_str)).unwrap_or_default()
    };
    let (before, after) = (perms(old), perms(new));
    let added = after.minus(&before);
    let removed = before.minus(&after);
    if !added.is_empty() {
        lines.push(format!("permissions added: {added}"));
    }
    if !removed.is_empty() {
        lines.push(format!("permissions removed: {removed}"));
    }
    Change { lines, added }
}

/// The annotations a pushed plugin carries.
pub fn annotations(plugin: &LoadedPlugin) -> BTreeMap<String, String> {
    let info = &plugin.info;
    BTreeMap::from([
        (
            "org.opencontainers.image.title".to_string(),
            info.name.clone(),
        ),
        (
            "org.opencontainers.image.version".to_string(),
            info.version.clone(),
        ),
        (
            "org.opencontainers.image.description".to_string(),
            info.description.clone(),
        ),
        (
            "dev.dockwright.permissions".to_string(),
            info.permissions.join(","),
        ),
    ])
}

/// Push `plugin` (read from `path`) to `target`; sign it with `key` when given.
/// Returns the manifest digest.
pub async fn push(
    access: &Access,
    plugin: &LoadedPlugin,
    target: &str,
    key: Option<&crate::util::keys::KeyPair>,
) -> Result<String> {
    let reference = reference::parse(target)?;
    if reference.digest().is_some() {
        bail!("push to a tag, such as registry/repository:1.0, not to a digest");
    }
    let bytes = std::fs::read(&plugin.path)
        .with_context(|| format!("cannot read `{}`", plugin.path.display()))?;
    if crate::util::digest::sha256_hex(&bytes) != plugin.sha256 {
        bail!(
            "`{}` changed while it was being pushed: run again",
            plugin.path.display()
        );
    }
    let registry = Registry::connect(&reference, access)?;
    let digest = registry
        .push_plugin(&reference, bytes, annotations(plugin))
        .await?;
    if let Some(key) = key {
        registry
            .push_signature(&reference, &SignatureDoc::sign(key, &digest))
            .await?;
    }
    Ok(digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(version: &str, digest: &str, signer: Option<&str>, perms: &[&str]) -> Entry {
        let mut e = Entry::file("p", "p.wasm", "00");
        e.version = Some(version.into());
        e.manifest_digest = Some(digest.into());
        e.signer = signer.map(str::to_string);
        e.permissions = Some(perms.iter().map(|p| p.to_string()).collect());
        e
    }

    #[test]
    fn changes_name_version_digest_signer_and_permissions() {
        let old = entry(
            "1.0",
            "sha256:aa",
            Some("ed25519:K1"),
            &["containers", "exec"],
        );
        let new = entry("1.1", "sha256:bb", None, &["containers", "observe"]);
        let c = change(&old, &new);
        assert_eq!(
            c.lines,
            [
                "version 1.0 -> 1.1",
                "digest sha256:aa -> sha256:bb",
                "signer ed25519:K1 -> unsigned",
                "permissions added: observe",
                "permissions removed: exec",
            ]
        );
        assert_eq!(c.added.to_string(), "observe");
        let same = change(&old, &old);
        assert!(same.lines.is_empty() && same.added.is_empty());
    }
}
