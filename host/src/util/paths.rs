//! Where dockwright keeps its files when no flag or variable says otherwise, by the
//! XDG base directory spec: config, cache, data (the plugin folder) and state (the
//! journal and live-run locks). An empty `XDG_*` variable counts as unset, as the
//! spec says.

use std::ffi::OsString;
use std::path::PathBuf;

/// `$<var>/dockwright`, else `~/<under_home>/dockwright`, else `<fallback>/dockwright`.
fn base(var: &str, under_home: &str, fallback: impl FnOnce() -> PathBuf) -> PathBuf {
    base_from(
        std::env::var_os(var),
        std::env::var_os("HOME"),
        under_home,
        fallback,
    )
}

/// [`base`] from the variables' values, so it is testable without touching the
/// process environment.
fn base_from(
    xdg: Option<OsString>,
    home: Option<OsString>,
    under_home: &str,
    fallback: impl FnOnce() -> PathBuf,
) -> PathBuf {
    xdg.filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| home.map(|h| PathBuf::from(h).join(under_home)))
        .unwrap_or_else(fallback)
        .join("dockwright")
}

/// `$XDG_CONFIG_HOME/dockwright/dockwright.toml`, else `~/.config/dockwright/dockwright.toml`.
pub fn config_file() -> PathBuf {
    base("XDG_CONFIG_HOME", ".config", || PathBuf::from(".")).join("dockwright.toml")
}

/// `$XDG_CACHE_HOME/dockwright`, else `~/.cache/dockwright`: compiled plugins.
pub fn cache_root() -> PathBuf {
    base("XDG_CACHE_HOME", ".cache", std::env::temp_dir)
}

/// The folder used when neither `--plugins` nor `DOCKWRIGHT_PLUGINS` is given:
/// `$XDG_DATA_HOME/dockwright/plugins`, else `~/.local/share/dockwright/plugins`.
pub fn plugin_dir() -> PathBuf {
    base("XDG_DATA_HOME", ".local/share", || PathBuf::from(".")).join("plugins")
}

/// Signing keys made by `dockwright keys new`: `$XDG_DATA_HOME/dockwright/keys`,
/// else `~/.local/share/dockwright/keys`.
pub fn keys_dir() -> PathBuf {
    base("XDG_DATA_HOME", ".local/share", || PathBuf::from(".")).join("keys")
}

/// dockwright's state folder: the journal and the live-run locks live here.
/// `$XDG_STATE_HOME/dockwright`, else `~/.local/state/dockwright`.
pub fn state_dir() -> PathBuf {
    base("XDG_STATE_HOME", ".local/state", || PathBuf::from("."))
}

/// The default journal: the database `journal.db` in the [`state_dir`].
pub fn journal_file() -> PathBuf {
    state_dir().join("journal.db")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The config file's path, from the variables' values.
    fn default_path_from(xdg_config_home: Option<OsString>, home: Option<OsString>) -> PathBuf {
        base_from(xdg_config_home, home, ".config", || PathBuf::from(".")).join("dockwright.toml")
    }

    #[test]
    fn default_paths() {
        let cases = [
            (
                Some("/xdg"),
                Some("/home/u"),
                "/xdg/dockwright/dockwright.toml",
            ),
            (
                Some(""),
                Some("/home/u"),
                "/home/u/.config/dockwright/dockwright.toml",
            ),
            (
                None,
                Some("/home/u"),
                "/home/u/.config/dockwright/dockwright.toml",
            ),
            (None, None, "./dockwright/dockwright.toml"),
        ];
        for (xdg, home, want) in cases {
            assert_eq!(
                default_path_from(xdg.map(OsString::from), home.map(OsString::from)),
                PathBuf::from(want),
                "{xdg:?} {home:?}"
            );
        }
    }
}
