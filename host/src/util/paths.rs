//! Where dockwright keeps its files when no flag or variable says otherwise: config,
//! cache (compiled plugins), data (the plugin folder, signing keys) and state (the
//! journal and live-run locks).
//!
//! - Unix: the XDG base directory spec. An empty `XDG_*` variable counts as unset, as
//!   the spec says.
//! - Windows: where Windows programs keep them. The config and the plugins roam with
//!   the user's profile (`%APPDATA%\dockwright`); the journal, the cache and signing
//!   keys stay on this machine (`%LOCALAPPDATA%\dockwright`). A service keeps
//!   everything under `%ProgramData%\dockwright` (see [`use_machine_folders`]).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The folders, each ending in `dockwright` (or under it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Folders {
    pub config: PathBuf,
    pub cache: PathBuf,
    pub data: PathBuf,
    pub keys: PathBuf,
    pub state: PathBuf,
}

/// The variable that moves the state folder, for messages.
pub const STATE_VARIABLE: &str = if cfg!(windows) {
    "LOCALAPPDATA"
} else {
    "XDG_STATE_HOME"
};

/// The variable that moves the cache, for messages.
pub const CACHE_VARIABLE: &str = if cfg!(windows) {
    "LOCALAPPDATA"
} else {
    "XDG_CACHE_HOME"
};

/// The machine's folder, when this process is a service, which keeps its files there.
static MACHINE: OnceLock<PathBuf> = OnceLock::new();

/// From now on, the machine's folder `root` (see [`machine_folders`]) rather than the
/// user's: what a Windows service calls first, as it runs as an account with no
/// profile of its own to speak of. On Unix the service's unit names its folders.
// Only the Windows service calls it.
#[cfg_attr(not(windows), allow(dead_code))]
pub fn use_machine_folders(root: PathBuf) {
    let _ = MACHINE.set(root);
}

fn folders() -> Folders {
    let env = |name: &str| std::env::var_os(name);
    if let Some(root) = MACHINE.get() {
        machine_folders(root)
    } else if cfg!(windows) {
        windows_folders(env, false)
    } else {
        unix_folders(env)
    }
}

/// The XDG folders, from the variables `env` gives.
pub fn unix_folders(env: impl Fn(&str) -> Option<OsString>) -> Folders {
    let home = env("HOME");
    let base = |var: &str, under_home: &str, fallback: PathBuf| -> PathBuf {
        env(var)
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| home.as_ref().map(|h| PathBuf::from(h).join(under_home)))
            .unwrap_or(fallback)
            .join("dockwright")
    };
    let data = base("XDG_DATA_HOME", ".local/share", PathBuf::from("."));
    Folders {
        config: base("XDG_CONFIG_HOME", ".config", PathBuf::from(".")),
        cache: base("XDG_CACHE_HOME", ".cache", std::env::temp_dir()),
        keys: data.join("keys"),
        state: base("XDG_STATE_HOME", ".local/state", PathBuf::from(".")),
        data,
    }
}

/// The Windows folders, from the variables `env` gives: the user's, or with `machine`
/// the service's. Joined with `\` whatever the platform, so they read as Windows
/// paths in messages (and in this module's tests on any platform).
pub fn windows_folders(env: impl Fn(&str) -> Option<OsString>, machine: bool) -> Folders {
    let var = |name: &str| {
        env(name)
            .filter(|v| !v.is_empty())
            .map(|v| v.to_string_lossy().trim_end_matches('\\').to_string())
    };
    let profile = var("USERPROFILE");
    let under_profile = |rest: &str| profile.as_ref().map(|p| format!("{p}\\{rest}"));
    let join = |base: String, rest: &str| PathBuf::from(format!("{base}\\{rest}"));
    if machine {
        let root = var("ProgramData").unwrap_or_else(|| "C:\\ProgramData".to_string());
        return machine_folders(&PathBuf::from(format!("{root}\\dockwright")));
    }
    let roaming = var("APPDATA")
        .or_else(|| under_profile("AppData\\Roaming"))
        .unwrap_or_else(|| ".".to_string());
    let local = var("LOCALAPPDATA")
        .or_else(|| under_profile("AppData\\Local"))
        .unwrap_or_else(|| ".".to_string());
    let roaming = format!("{roaming}\\dockwright");
    let local = format!("{local}\\dockwright");
    Folders {
        config: PathBuf::from(&roaming),
        cache: join(local.clone(), "cache"),
        data: PathBuf::from(&roaming),
        keys: join(local.clone(), "keys"),
        state: join(local, "state"),
    }
}

/// A service's folders, all in `root` (`%ProgramData%\dockwright` as `install` found
/// it): the config and the plugins in it, and `cache`, `keys` and `state` below it.
pub fn machine_folders(root: &Path) -> Folders {
    let root = root.to_string_lossy().trim_end_matches('\\').to_string();
    let join = |rest: &str| PathBuf::from(format!("{root}\\{rest}"));
    Folders {
        config: PathBuf::from(&root),
        cache: join("cache"),
        data: PathBuf::from(&root),
        keys: join("keys"),
        state: join("state"),
    }
}

/// The config file: `$XDG_CONFIG_HOME/dockwright/dockwright.toml`, else
/// `~/.config/dockwright/dockwright.toml`; `%APPDATA%\dockwright\dockwright.toml`.
pub fn config_file() -> PathBuf {
    folders().config.join("dockwright.toml")
}

/// Compiled plugins: `$XDG_CACHE_HOME/dockwright`, else `~/.cache/dockwright`;
/// `%LOCALAPPDATA%\dockwright\cache`.
pub fn cache_root() -> PathBuf {
    folders().cache
}

/// The folder used when neither `--plugins` nor `DOCKWRIGHT_PLUGINS` is given:
/// `$XDG_DATA_HOME/dockwright/plugins`, else `~/.local/share/dockwright/plugins`;
/// `%APPDATA%\dockwright\plugins`.
pub fn plugin_dir() -> PathBuf {
    folders().data.join("plugins")
}

/// Signing keys made by `dockwright keys new`: `$XDG_DATA_HOME/dockwright/keys`, else
/// `~/.local/share/dockwright/keys`; `%LOCALAPPDATA%\dockwright\keys`.
pub fn keys_dir() -> PathBuf {
    folders().keys
}

/// dockwright's state folder: the journal and the live-run locks live here.
/// `$XDG_STATE_HOME/dockwright`, else `~/.local/state/dockwright`;
/// `%LOCALAPPDATA%\dockwright\state`.
pub fn state_dir() -> PathBuf {
    folders().state
}

/// The default journal: the database `journal.db` in the [`state_dir`].
pub fn journal_file() -> PathBuf {
    state_dir().join("journal.db")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env<'a>(vars: &'a [(&'a str, &'a str)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| OsString::from(v))
        }
    }

    #[test]
    fn unix_config_paths() {
        let cases: [(&[(&str, &str)], &str); 4] = [
            (
                &[("XDG_CONFIG_HOME", "/xdg"), ("HOME", "/home/u")],
                "/xdg/dockwright",
            ),
            (
                &[("XDG_CONFIG_HOME", ""), ("HOME", "/home/u")],
                "/home/u/.config/dockwright",
            ),
            (&[("HOME", "/home/u")], "/home/u/.config/dockwright"),
            (&[], "./dockwright"),
        ];
        for (vars, want) in cases {
            assert_eq!(
                unix_folders(env(vars)).config,
                PathBuf::from(want),
                "{vars:?}"
            );
        }
        let f = unix_folders(env(&[("HOME", "/h"), ("XDG_STATE_HOME", "/s")]));
        assert_eq!(f.state, PathBuf::from("/s/dockwright"));
        assert_eq!(f.keys, PathBuf::from("/h/.local/share/dockwright/keys"));
    }

    #[test]
    fn windows_user_folders() {
        let f = windows_folders(
            env(&[
                ("APPDATA", "C:\\Users\\ada\\AppData\\Roaming"),
                ("LOCALAPPDATA", "C:\\Users\\ada\\AppData\\Local\\"),
                ("USERPROFILE", "C:\\Users\\ada"),
            ]),
            false,
        );
        let want = |p: &str| PathBuf::from(p);
        assert_eq!(
            f.config,
            want("C:\\Users\\ada\\AppData\\Roaming\\dockwright")
        );
        assert_eq!(f.data, want("C:\\Users\\ada\\AppData\\Roaming\\dockwright"));
        assert_eq!(
            f.state,
            want("C:\\Users\\ada\\AppData\\Local\\dockwright\\state")
        );
        assert_eq!(
            f.cache,
            want("C:\\Users\\ada\\AppData\\Local\\dockwright\\cache")
        );
        assert_eq!(
            f.keys,
            want("C:\\Users\\ada\\AppData\\Local\\dockwright\\keys")
        );
        // Without the AppData variables, the profile's own folders.
        let f = windows_folders(env(&[("USERPROFILE", "D:\\p"), ("APPDATA", "")]), false);
        assert_eq!(f.config, want("D:\\p\\AppData\\Roaming\\dockwright"));
        assert_eq!(f.state, want("D:\\p\\AppData\\Local\\dockwright\\state"));
    }

    #[test]
    fn windows_service_folders() {
        let f = windows_folders(
            env(&[
                ("ProgramData", "C:\\ProgramData"),
                (
                    "APPDATA",
                    "C:\\Windows\\system32\\config\\systemprofile\\AppData\\Roaming",
                ),
            ]),
            true,
        );
        assert_eq!(f.config, PathBuf::from("C:\\ProgramData\\dockwright"));
        assert_eq!(f.state, PathBuf::from("C:\\ProgramData\\dockwright\\state"));
        assert_eq!(f.keys, PathBuf::from("C:\\ProgramData\\dockwright\\keys"));
        let f = windows_folders(env(&[]), true);
        assert_eq!(f.cache, PathBuf::from("C:\\ProgramData\\dockwright\\cache"));
        // The folder `install` chose, whatever the service's own variables say.
        let f = machine_folders(Path::new("E:\\svc\\dockwright\\"));
        assert_eq!(f.config, PathBuf::from("E:\\svc\\dockwright"));
        assert_eq!(f.state, PathBuf::from("E:\\svc\\dockwright\\state"));
    }

    /// On Windows, the defaults are built from this process's variables the same way.
    #[cfg(windows)]
    #[test]
    fn this_process_uses_the_windows_folders() {
        let state = state_dir();
        assert!(state.ends_with("dockwright\\state"), "{}", state.display());
        assert!(config_file()
            .to_string_lossy()
            .ends_with("dockwright\\dockwright.toml"));
    }
}
