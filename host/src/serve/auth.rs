//! API tokens: making them, storing their hashes in `dockwright.toml`, and telling
//! which team a presented token belongs to.
//!
//! The config holds only `sha256:<hex>` hashes, so a leaked config (or backup of it)
//! grants nothing. A token is 32 random bytes: too much entropy for a salt or a slow
//! hash to add anything, which keeps checking a request cheap.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};

/// Tokens start with this, so a leaked one is recognisable (secret scanners, logs).
pub const PREFIX: &str = "dwt_";

/// A fresh token: the prefix and 32 random bytes in hex.
pub fn new_token() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow!("cannot get random bytes: {e}"))?;
    Ok(format!("{PREFIX}{}", hex(&bytes)))
}

/// The hash the config stores for `token`: `sha256:<hex>`.
pub fn hash(token: &str) -> String {
    format!("sha256:{}", hex(&Sha256::digest(token.as_bytes())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The team whose token this is, if any. Every stored hash is compared, each in
/// constant time, so neither the time taken nor where the search stops tells an
/// attacker how close a guess came or which team it matched.
pub fn team_of<'a>(tokens: &'a BTreeMap<String, Vec<String>>, token: &str) -> Option<&'a str> {
    let presented = hash(token);
    let mut found = None;
    for (team, hashes) in tokens {
        for stored in hashes {
            if constant_time_eq(presented.as_bytes(), stored.as_bytes()) {
                found = Some(team.as_str());
            }
        }
    }
    found
}

/// Equality whose time depends only on the lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// The token of an `Authorization: Bearer <token>` header value.
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Add `hash` to `tokens` of team `team` in the config file at `path`, keeping the
/// rest of the file (comments, order, layout) as it was. The team must exist there.
/// The new text is checked by the config parser before it replaces the file, so a
/// mistake here cannot leave a config that dockwright refuses.
pub fn store_hash(path: &Path, team: &str, hash: &str) -> Result<()> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            anyhow!(
                "there is no config file at {}: tokens are stored in it, so create it with a \
                 [teams.{team}] table first (or name another with --config)",
                path.display()
            )
        } else {
            anyhow!("cannot read the config file {}: {e}", path.display())
        }
    })?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    // The team must exist in the file as it is: the parser's error lists the teams.
    crate::policy::config::parse(&text, path, &cwd)?.team(team)?;
    let updated = with_hash(&text, team, hash)?;
    crate::policy::config::parse(&updated, path, &cwd)
        .context("the config would not parse with the new token (this is a bug)")?;
    replace(path, updated.as_bytes())
        .with_context(|| format!("cannot write the config file {}", path.display()))
}

/// Replace the file's content in one step (a reader sees the old or the new file,
/// never half), keeping its permissions, and writing through a symlink rather than
/// over it: admins often keep the config elsewhere and link it, or restrict who may
/// read it.
fn replace(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let target = std::fs::canonicalize(path)?;
    let permissions = std::fs::metadata(&target)?.permissions();
    let dir = target.parent().unwrap_or(Path::new("/"));
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.set_permissions(permissions)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &target)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// `text` with `hash` appended to `teams.<team>.tokens`.
fn with_hash(text: &str, team: &str, hash: &str) -> Result<String> {
    let mut doc: toml_edit::DocumentMut = text.parse().context("the config is not valid TOML")?;
    let table = doc
        .get_mut("teams")
        .and_then(|t| t.get_mut(team))
        .and_then(|t| t.as_table_like_mut())
        .ok_or_else(|| anyhow!("team `{team}` is not a table in the config"))?;
    match table.get_mut("tokens") {
        None => {
            let mut list = toml_edit::Array::new();
            list.push(hash);
            table.insert("tokens", toml_edit::value(list));
        }
        Some(item) => match item.as_array_mut() {
            Some(list) => list.push(hash),
            None => bail!("`teams.{team}.tokens` is not a list: fix it by hand first"),
        },
    }
    Ok(doc.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_as_the_config_wants() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(PREFIX) && a.len() == PREFIX.len() + 64, "{a}");
        let h = hash("example");
        assert_eq!(
            h,
            "sha256:50d858e0985ecc7f60418aaf0cc5ab587f42c2570a884095a9e8ccacd0f6545c"
        );
    }

    #[test]
    fn tokens_name_their_team() {
        let tokens = BTreeMap::from([
            ("blue".to_string(), vec![hash("b1"), hash("b2")]),
            ("red".to_string(), vec![hash("r1")]),
        ]);
        assert_eq!(team_of(&tokens, "b2"), Some("blue"));
        assert_eq!(team_of(&tokens, "r1"), Some("red"));
        assert_eq!(team_of(&tokens, "r2"), None);
        assert_eq!(team_of(&tokens, ""), None);
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(constant_time_eq(b"abc", b"abc"));
    }

    #[test]
    fn bearer_headers() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer   abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer"), None);
        assert_eq!(bearer("Bearer  "), None);
        assert_eq!(bearer(""), None);
    }

    #[test]
    fn hashes_are_added_keeping_the_file() {
        let text = "# teams\n[teams.blue] # the blue team\nimages = [\"*\"]\n\n[teams.red]\n";
        let once = with_hash(text, "blue", "sha256:aa").unwrap();
        assert!(
            once.starts_with("# teams\n[teams.blue] # the blue team\n"),
            "{once}"
        );
        assert!(once.contains("tokens = [\"sha256:aa\"]"), "{once}");
        let twice = with_hash(&once, "blue", "sha256:bb").unwrap();
        assert!(twice.contains("\"sha256:aa\", \"sha256:bb\""), "{twice}");
        // The token goes to blue, not red.
        let red = twice.split("[teams.red]").nth(1).unwrap();
        assert!(!red.contains("sha256"), "{twice}");

        let inline = with_hash("teams = { red = { images = [] } }\n", "red", "sha256:cc").unwrap();
        assert!(inline.contains("tokens = [\"sha256:cc\"]"), "{inline}");

        let err = with_hash("[teams.blue]\ntokens = 3\n", "blue", "sha256:aa").unwrap_err();
        assert!(err.to_string().contains("not a list"), "{err}");
        assert!(with_hash("[teams.blue]\n", "red", "sha256:aa").is_err());
    }

    #[test]
    fn storing_checks_the_team_and_keeps_the_config_valid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dockwright.toml");
        let err = store_hash(&path, "blue", &hash("x")).unwrap_err();
        assert!(
            format!("{err:#}").contains("there is no config file"),
            "{err:#}"
        );

        std::fs::write(&path, "# keep me\n[teams.blue]\n").unwrap();
        let err = store_hash(&path, "red", &hash("x")).unwrap_err();
        assert!(
            format!("{err:#}").contains("team `red` is not configured"),
            "{err:#}"
        );

        store_hash(&path, "blue", &hash("x")).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# keep me\n"), "{text}");
        let config = crate::policy::config::parse(&text, &path, dir.path()).unwrap();
        assert_eq!(team_of(&config.tokens, "x"), Some("blue"));

        // Through a symlink, keeping the file's mode.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let link = dir.path().join("link.toml");
        std::os::unix::fs::symlink(&path, &link).unwrap();
        store_hash(&link, "blue", &hash("y")).unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o640);
        let text = std::fs::read_to_string(&path).unwrap();
        let config = crate::policy::config::parse(&text, &path, dir.path()).unwrap();
        assert_eq!(config.tokens["blue"].len(), 2);
    }
}
