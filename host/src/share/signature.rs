//! The detached signature of a plugin's manifest, as it travels through a
//! registry: a small JSON document, pushed as the one layer of an OCI manifest under
//! the tag `sha256-<hex>.sig` beside the plugin.

use serde::{Deserialize, Serialize};

use crate::util::keys;

/// The signature manifest's config media type (its config is `{}`).
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.dockwright.signature.config.v1+json";
/// The signature document's media type.
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.dockwright.signature.v1+json";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureDoc {
    /// The manifest digest signed, `sha256:<hex>`.
    pub subject: String,
    /// The signer's public key, `ed25519:<base64>`.
    pub key: String,
    /// The signature, base64.
    pub signature: String,
}

impl SignatureDoc {
    pub fn sign(pair: &keys::KeyPair, manifest_digest: &str) -> SignatureDoc {
        SignatureDoc {
            subject: manifest_digest.to_string(),
            key: pair.public(),
            signature: pair.sign_manifest(manifest_digest),
        }
    }

    /// Whether this is a valid signature over `manifest_digest`.
    pub fn verify(&self, manifest_digest: &str) -> Result<(), String> {
        if self.subject != manifest_digest {
            return Err(format!(
                "the signature is for manifest {}, not {manifest_digest}",
                self.subject
            ));
        }
        keys::verify_manifest(&self.key, manifest_digest, &self.signature)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_verify_only_for_their_subject() {
        let pair = keys::KeyPair::generate().unwrap();
        let digest = format!("sha256:{}", "1".repeat(64));
        let doc = SignatureDoc::sign(&pair, &digest);
        doc.verify(&digest).unwrap();
        let other = format!("sha256:{}", "2".repeat(64));
        assert!(doc.verify(&other).unwrap_err().contains("not sha256:2"));
        let mut forged = doc.clone();
        forged.subject = other.clone();
        assert!(forged.verify(&other).is_err());
    }
}

/// Key names become file names.
fn check_key_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a key name: use letters, digits, `-`, `_` and `.` (not first)"
        ))
    }
}

/// Make the key pair `name` in `dir`: `<name>.key` (its owner's alone: mode 0600, or
/// an owner-only ACL on Windows) and `<name>.pub`.
/// An existing key is never overwritten: plugins signed with it would lose their
/// publisher.
pub fn create_key(
    dir: &std::path::Path,
    name: &str,
) -> anyhow::Result<(std::path::PathBuf, String)> {
    use anyhow::Context;
    use std::io::Write;
    check_key_name(name).map_err(anyhow::Error::msg)?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create the key folder `{}`", dir.display()))?;
    let path = dir.join(format!("{name}.key"));
    let pair = keys::KeyPair::generate().map_err(anyhow::Error::msg)?;
    let mut file = crate::util::private::open(&path, crate::util::private::Existing::Refuse)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => anyhow::anyhow!(
                "a key named `{name}` already exists ({}): choose another name",
                path.display()
            ),
            _ => anyhow::anyhow!("cannot create `{}`: {e}", path.display()),
        })?;
    file.write_all(pair.private_text().as_bytes())
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write `{}`", path.display()))?;
    let public = pair.public();
    crate::util::files::write_atomic(
        &dir.join(format!("{name}.pub")),
        format!("{public}\n").as_bytes(),
    )
    .with_context(|| format!("cannot write the public key of `{name}`"))?;
    Ok((path, public))
}

/// The key pair `name` of `dir`.
pub fn load_key(dir: &std::path::Path, name: &str) -> anyhow::Result<keys::KeyPair> {
    check_key_name(name).map_err(anyhow::Error::msg)?;
    let path = dir.join(format!("{name}.key"));
    let text = std::fs::read_to_string(&path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the key `{name}` ({}): {e}; make one with `dockwright keys new {name}`",
            path.display()
        )
    })?;
    keys::KeyPair::from_private_text(&text)
        .map_err(|e| anyhow::anyhow!("`{}` is not a dockwright private key: {e}", path.display()))
}

/// The keys of `dir`: (name, public key), by name.
pub fn list_keys(dir: &std::path::Path) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let path = e.path();
            let name = path.file_stem()?.to_str()?.to_string();
            (path.extension()? == "pub").then_some(())?;
            let public = std::fs::read_to_string(&path).ok()?.trim().to_string();
            Some((name, public))
        })
        .collect();
    out.sort();
    out
}

#[cfg(test)]
mod key_files {
    use super::*;

    #[test]
    fn keys_are_private_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let (path, public) = create_key(dir.path(), "alice").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        #[cfg(windows)]
        {
            let sddl = crate::util::user::access_list_of(&path).unwrap();
            let me = crate::util::user::sid().unwrap();
            assert!(sddl.contains(&me), "{sddl}");
            assert!(!sddl.contains(";WD)") && !sddl.contains(";BU)"), "{sddl}");
        }
        assert_eq!(load_key(dir.path(), "alice").unwrap().public(), public);
        let err = create_key(dir.path(), "alice").unwrap_err().to_string();
        assert!(err.contains("already exists"), "{err}");
        assert_eq!(list_keys(dir.path()), vec![("alice".to_string(), public)]);
        assert!(create_key(dir.path(), "../x").is_err());
        let err = load_key(dir.path(), "bob").unwrap_err().to_string();
        assert!(err.contains("dockwright keys new bob"), "{err}");
    }
}
