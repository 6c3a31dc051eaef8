//! The teams in force: the config, read again when its file changes, so that a
//! token made with `dockwright token new` (or a hash deleted to revoke one) and
//! policy edits apply without restarting the server. A file that no longer parses
//! is reported and the last good config stays in force: failing open (or closed for
//! everyone) on a typo would be worse.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use anyhow::Result;

use super::config;
use crate::run::config::Config;

pub struct Teams {
    /// `--config` as given, or `None` for the default path.
    explicit: Option<PathBuf>,
    cwd: PathBuf,
    /// The file watched for changes.
    watched: PathBuf,
    current: Mutex<Current>,
}

struct Current {
    config: Arc<Config>,
    /// The file's modification time when it was last read (`None`: no file).
    stamp: Option<SystemTime>,
}

impl Teams {
    pub fn load(explicit: Option<&Path>, cwd: &Path) -> Result<Self> {
        let watched = match explicit {
            Some(path) => cwd.join(path),
            None => crate::util::paths::config_file(),
        };
        let stamp = modified(&watched);
        let (config, _) = config::load(explicit, cwd)?;
        Ok(Self {
            explicit: explicit.map(Path::to_path_buf),
            cwd: cwd.to_path_buf(),
            watched,
            current: Mutex::new(Current {
                config: Arc::new(config),
                stamp,
            }),
        })
    }

    /// The config in force, read again first if its file changed.
    pub fn current(&self) -> Arc<Config> {
        let stamp = modified(&self.watched);
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if stamp != current.stamp {
            // Remember the stamp either way, so a broken file is reported once.
            current.stamp = stamp;
            match config::load(self.explicit.as_deref(), &self.cwd) {
                Ok((config, _)) => {
                    tracing::info!("read {} again", self.watched.display());
                    current.config = Arc::new(config);
                }
                Err(e) => {
                    tracing::warn!("keeping the previous config, the changed one is refused: {e:#}")
                }
            }
        }
        current.config.clone()
    }

    pub fn path(&self) -> &Path {
        &self.watched
    }
}

fn modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_apply_and_broken_files_keep_the_last_good_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dockwright.toml");
        std::fs::write(&path, "[teams.blue]\n").unwrap();
        let teams = Teams::load(Some(&path), dir.path()).unwrap();
        assert!(teams.current().tokens.is_empty());

        let hash = crate::serve::auth::hash("t");
        // Filesystems with coarse timestamps: each change is dated 5 s after the last.
        let mut modified = SystemTime::now();
        let mut rewrite = |text: &str| {
            modified += std::time::Duration::from_secs(5);
            std::fs::write(&path, text).unwrap();
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(modified)
                .unwrap();
        };
        rewrite(&format!("[teams.blue]\ntokens = [\"{hash}\"]\n"));
        assert_eq!(teams.current().tokens["blue"], vec![hash.clone()]);

        rewrite("[teams.blue]\nbogus = 1\n");
        assert_eq!(teams.current().tokens["blue"], vec![hash.clone()]);

        // A broken [serve] is a broken file too, though the teams do not need it.
        rewrite("[teams.blue]\n[serve]\nmax_runs = 0\n");
        assert_eq!(teams.current().tokens["blue"], vec![hash]);
    }
}
