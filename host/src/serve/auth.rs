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

/// The team whose token this is, if any, with the token's stored hash. Every stored
/// hash is compared, each in constant time, so neither the time taken nor where the
/// search stops tells an attacker how close a guess came or which team it matched.
pub fn team_of<'a>(
    tokens: &'a BTreeMap<String, Vec<String>>,
    token: &str,
) -> Option<(&'a str, &'a str)> {
    let presented = hash(token);
    let mut found = None;
    for (team, hashes) in tokens {
        for stored in hashes {
            if constant_time_eq(presented.as_bytes(), stored.as_bytes()) {
                found = Some((team.as_str(), stored.as_str()));
            }
        }
    }
    found
}

/// The first 12 hex digits of a stored hash: how `dockwright token list` shows a token,
/// and how a run's context names its caller (never the token itself).
pub fn short_hash(hash: &str) -> &str {
    let hex = hash.strip_prefix("sha256:").unwrap_or(hash);
    &hex[..hex.len().min(12)]
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
    super::config::parse(&text, path, &cwd)?.0.team(team)?;
    let updated = with_hash(&text, team, hash)?;
    super::config::parse(&updated, path, &cwd)
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
/// What a comment before a token's hash says about when it was made.
const MADE: &str = "# made ";

/// `text` with `hash` added to the team's tokens, one per line, each after a
/// comment saying when it was made: the config format stays a list of hashes, and
/// `token list` reads the time back from the comment.
fn with_hash(text: &str, team: &str, hash: &str) -> Result<String> {
    with_hash_made(text, team, hash, &crate::journal::now())
}

fn with_hash_made(text: &str, team: &str, hash: &str, made: &str) -> Result<String> {
    let mut doc: toml_edit::DocumentMut = text.parse().context("the config is not valid TOML")?;
    let table = team_table(&mut doc, team)?;
    if table.get("tokens").is_none() {
        table.insert("tokens", toml_edit::value(toml_edit::Array::new()));
    }
    let Some(list) = table.get_mut("tokens").and_then(|t| t.as_array_mut()) else {
        bail!("`teams.{team}.tokens` is not a list: fix it by hand first");
    };
    let mut value = toml_edit::Value::from(hash);
    value
        .decor_mut()
        .set_prefix(format!("\n    {MADE}{made}\n    "));
    list.push_formatted(value);
    list.set_trailing("\n");
    list.set_trailing_comma(true);
    Ok(doc.to_string())
}

fn team_table<'a>(
    doc: &'a mut toml_edit::DocumentMut,
    team: &str,
) -> Result<&'a mut dyn toml_edit::TableLike> {
    doc.get_mut("teams")
        .and_then(|t| t.get_mut(team))
        .and_then(|t| t.as_table_like_mut())
        .ok_or_else(|| anyhow!("team `{team}` is not a table in the config"))
}

/// One of a team's tokens as the config keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stored {
    pub hash: String,
    /// When `token new` made it, if its comment says.
    pub made: Option<String>,
}

/// The team's tokens in the config `text`, in the order they were added.
pub fn stored(text: &str, team: &str) -> Result<Vec<Stored>> {
    let mut doc: toml_edit::DocumentMut = text.parse().context("the config is not valid TOML")?;
    let table = team_table(&mut doc, team)?;
    let Some(list) = table.get("tokens").and_then(|t| t.as_array()) else {
        return Ok(Vec::new());
    };
    Ok(list
        .iter()
        .filter_map(|v| {
            let hash = v.as_str()?.to_string();
            let prefix = v
                .decor()
                .prefix()
                .and_then(|p| p.as_str())
                .unwrap_or_default();
            let made = prefix
                .lines()
                .filter_map(|l| l.trim().strip_prefix(MADE))
                .next_back()
                .map(|m| m.trim().to_string());
            Some(Stored { hash, made })
        })
        .collect())
}

/// `text` without the team's token that `which` names: the token itself, its
/// hash, or a unique prefix of the hash's hex of at least 8 digits (as `token
/// list` shows them). Returns the new text and the hash removed.
pub fn without_token(text: &str, team: &str, which: &str) -> Result<(String, String)> {
    let which = which.trim();
    let wanted = if which.starts_with(PREFIX) {
        hash(which)
    } else {
        which
            .strip_prefix("sha256:")
            .unwrap_or(which)
            .to_ascii_lowercase()
    };
    let wanted_hex = wanted
        .strip_prefix("sha256:")
        .unwrap_or(&wanted)
        .to_string();
    if wanted_hex.len() < 8 || !wanted_hex.chars().all(|c| c.is_ascii_hexdigit()) {
        bail!(
            "`{which}` names no token: give the token, or at least 8 hex digits of its hash as `dockwright token list {team}` shows them"
        );
    }
    let mut doc: toml_edit::DocumentMut = text.parse().context("the config is not valid TOML")?;
    let table = team_table(&mut doc, team)?;
    let Some(list) = table.get_mut("tokens").and_then(|t| t.as_array_mut()) else {
        bail!("team `{team}` has no tokens");
    };
    let matching: Vec<usize> = list
        .iter()
        .enumerate()
        .filter(|(_, v)| {
            v.as_str().is_some_and(|h| {
                h.strip_prefix("sha256:")
                    .unwrap_or(h)
                    .starts_with(&wanted_hex)
            })
        })
        .map(|(i, _)| i)
        .collect();
    let at = match matching.as_slice() {
        [one] => *one,
        [] => bail!("team `{team}` has no token whose hash starts with `{wanted_hex}`; `dockwright token list {team}` shows them"),
        _ => bail!("`{wanted_hex}` starts the hashes of {} of team `{team}`'s tokens: give more digits", matching.len()),
    };
    let removed = list.remove(at).as_str().unwrap_or_default().to_string();
    Ok((doc.to_string(), removed))
}

/// The team's tokens in the config at `path`.
pub fn list(path: &Path, team: &str) -> Result<Vec<Stored>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    super::config::parse(&text, path, &cwd)?.0.team(team)?;
    stored(&text, team)
}

/// Remove the team's token that `which` names from the config at `path` (see
/// [`without_token`]); the hash removed.
pub fn revoke(path: &Path, team: &str, which: &str) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the config file {}", path.display()))?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    super::config::parse(&text, path, &cwd)?.0.team(team)?;
    let (updated, removed) = without_token(&text, team, which)?;
    super::config::parse(&updated, path, &cwd)
        .context("the config would not parse without the token (this is a bug)")?;
    replace(path, updated.as_bytes())
        .with_context(|| format!("cannot write the config file {}", path.display()))?;
    Ok(removed)
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
        assert_eq!(team_of(&tokens, "b2").map(|(t, _)| t), Some("blue"));
        assert_eq!(team_of(&tokens, "r1").map(|(t, _)| t), Some("red"));
        assert_eq!(team_of(&tokens, "r2").map(|(t, _)| t), None);
        assert_eq!(team_of(&tokens, "").map(|(t, _)| t), None);
        // The hash it matched, which names the caller by its start, never the token.
        let b2 = hash("b2");
        assert_eq!(team_of(&tokens, "b2").map(|(_, h)| h), Some(b2.as_str()));
        assert_eq!(short_hash(&b2), &b2["sha256:".len().."sha256:".len() + 12]);
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(constant_time_eq(b"abc", b"abc"));
    }

    #[test]
    fn tokens_are_listed_with_when_they_were_made_and_revoked_by_prefix() {
        let (t1, t2) = (new_token().unwrap(), new_token().unwrap());
        let text = "# teams\n[teams.blue]\nimages = [\"*\"]\n";
        let one = with_hash_made(text, "blue", &hash(&t1), "2026-12-01T10:00:00Z").unwrap();
        let two = with_hash_made(&one, "blue", &hash(&t2), "2026-12-02T11:00:00Z").unwrap();
        assert!(two.starts_with("# teams\n"), "comments are kept: {two}");
        let listed = stored(&two, "blue").unwrap();
        assert_eq!(listed.len(), 2, "{two}");
        assert_eq!(listed[0].hash, hash(&t1));
        assert_eq!(listed[0].made.as_deref(), Some("2026-12-01T10:00:00Z"));
        assert_eq!(listed[1].made.as_deref(), Some("2026-12-02T11:00:00Z"));
        // A hash written by hand has no time.
        let by_hand = format!("[teams.red]\ntokens = [\"{}\"]\n", hash("r"));
        assert_eq!(stored(&by_hand, "red").unwrap()[0].made, None);

        // Revoked by the token itself, or by a prefix of its hash.
        let (left, removed) = without_token(&two, "blue", &t1).unwrap();
        assert_eq!(removed, hash(&t1));
        assert_eq!(stored(&left, "blue").unwrap()[0].hash, hash(&t2));
        let t2_hex = &hash(&t2)["sha256:".len()..];
        let (left, removed) = without_token(&two, "blue", &t2_hex[..10]).unwrap();
        assert_eq!(removed, hash(&t2));
        assert_eq!(stored(&left, "blue").unwrap().len(), 1);
        let err = without_token(&two, "blue", &new_token().unwrap()).unwrap_err();
        assert!(err.to_string().contains("no token whose hash"), "{err}");
        let err = without_token(&two, "blue", "abc").unwrap_err().to_string();
        assert!(err.contains("at least 8 hex digits"), "{err}");
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
        let hashes = |text: &str, team: &str| -> Vec<String> {
            stored(text, team)
                .unwrap()
                .into_iter()
                .map(|t| t.hash)
                .collect()
        };
        assert_eq!(hashes(&once, "blue"), ["sha256:aa"], "{once}");
        let twice = with_hash(&once, "blue", "sha256:bb").unwrap();
        assert_eq!(
            hashes(&twice, "blue"),
            ["sha256:aa", "sha256:bb"],
            "{twice}"
        );
        assert!(stored(&twice, "blue").unwrap()[1].made.is_some(), "{twice}");
        // The token goes to blue, not red.
        let red = twice.split("[teams.red]").nth(1).unwrap();
        assert!(!red.contains("sha256"), "{twice}");

        let inline = with_hash("teams = { red = { images = [] } }\n", "red", "sha256:cc").unwrap();
        assert_eq!(hashes(&inline, "red"), ["sha256:cc"], "{inline}");
        // What is written still parses as a config, in an inline table too.
        let path = Path::new("/etc/dockwright.toml");
        let inline = with_hash("teams = { red = { images = [] } }\n", "red", &hash("x")).unwrap();
        let inline = with_hash(&inline, "red", &hash("y")).unwrap();
        let (config, _) = crate::serve::config::parse(&inline, path, Path::new("/")).unwrap();
        assert_eq!(config.tokens["red"], [hash("x"), hash("y")], "{inline}");

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
        let (config, _) = crate::serve::config::parse(&text, &path, dir.path()).unwrap();
        assert_eq!(team_of(&config.tokens, "x").map(|(t, _)| t), Some("blue"));

        // Through a symlink, keeping the file's mode (Unix: links and modes).
        #[cfg(unix)]
        {
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
            let (config, _) = crate::serve::config::parse(&text, &path, dir.path()).unwrap();
            assert_eq!(config.tokens["blue"].len(), 2);
        }
    }
}
