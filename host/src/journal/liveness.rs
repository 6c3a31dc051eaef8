//! Telling live runs from dead ones without a sidecar: each run holds an exclusive
//! lock on `<state>/runs/<run>.lock` while it runs. The kernel drops the lock when the
//! process dies, however it dies, so a lock file that can be locked belongs to a run
//! that died mid-way: `dockwright gc` removes its containers. A run that ends (well
//! or badly) removes its file, so its containers are never collected.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use super::db::params;
use super::store::{blocking, Journal};

/// What is known of a run from its lock file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// A process holds the run's lock.
    Live,
    /// The run started here and its process died before it ended.
    Dead,
    /// No lock file: the run ended, or it was made from another machine or state folder.
    Unknown,
}

fn lock_path(state_dir: &Path, run: &str) -> PathBuf {
    state_dir.join("runs").join(format!("{run}.lock"))
}

/// The lock a running run holds.
pub struct LiveRun {
    path: PathBuf,
    _file: File,
}

impl LiveRun {
    pub fn acquire(state_dir: &Path, run: &str) -> Result<Self> {
        let path = lock_path(state_dir, run);
        let dir = path.parent().expect("lock path has a folder");
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the run folder `{}`", dir.display()))?;
        let file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot create the run lock `{}`", path.display()))?;
        file.try_lock()
            .map_err(|e| anyhow::anyhow!("cannot lock `{}`: {e}", path.display()))?;
        Ok(Self { path, _file: file })
    }

    /// The run ended: remove the file first, then let the lock go with the handle,
    /// so `gc` never sees an unlocked file of a run that ended.
    pub fn finish(self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Whether the run is live, dead or unknown here.
pub fn liveness(state_dir: &Path, run: &str) -> Liveness {
    if !run.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Liveness::Unknown;
    }
    let Ok(file) = File::open(lock_path(state_dir, run)) else {
        return Liveness::Unknown;
    };
    match file.try_lock() {
        Ok(()) => Liveness::Dead,
        Err(TryLockError::WouldBlock) => Liveness::Live,
        Err(TryLockError::Error(_)) => Liveness::Unknown,
    }
}

/// Whether run `run` is live: with the shared store, whether the process its start
/// names by `holder` still holds its key (any replica can tell); with the embedded
/// store, its lock file. A store that cannot be asked says `Unknown`, and nothing of
/// an unknown run is collected.
pub fn of(journal: &Journal, state_dir: &Path, run: &str, holder: Option<i64>) -> Liveness {
    let Some(shared) = journal.shared() else {
        return liveness(state_dir, run);
    };
    match holder.map(|h| blocking(|| shared.holder_alive(h))) {
        Some(Ok(true)) => Liveness::Live,
        Some(Ok(false)) => Liveness::Dead,
        _ => Liveness::Unknown,
    }
}

/// [`of`] for a run known only by its id (a container's label): a run that ended, or
/// that the journal does not have, is `Unknown`.
pub fn of_run(journal: &Journal, state_dir: &Path, run: &str) -> Liveness {
    if journal.shared().is_none() {
        return liveness(state_dir, run);
    }
    let holder = journal.with("read", |sql| {
        sql.row(
            "SELECT holder, ended FROM runs WHERE run = ?1",
            params![run],
        )?
        .map(|r| Ok((r.get::<Option<i64>>(0)?, r.get::<Option<String>>(1)?)))
        .transpose()
    });
    match holder {
        Ok(Some((holder @ Some(_), None))) => of(journal, state_dir, run, holder),
        _ => Liveness::Unknown,
    }
}

/// Forget a dead run once its containers are gone.
pub fn forget(state_dir: &Path, run: &str) {
    let _ = std::fs::remove_file(lock_path(state_dir, run));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn live_then_finished() {
        let dir = tempfile::tempdir().unwrap();
        let run = LiveRun::acquire(dir.path(), "r1").unwrap();
        assert_eq!(liveness(dir.path(), "r1"), Liveness::Live);
        run.finish();
        assert_eq!(liveness(dir.path(), "r1"), Liveness::Unknown);
    }

    #[test]
    fn a_left_lock_file_is_a_dead_run() {
        let dir = tempfile::tempdir().unwrap();
        // What a killed process leaves: the file, with no one holding its lock.
        let run = LiveRun::acquire(dir.path(), "r2").unwrap();
        drop(run);
        assert_eq!(liveness(dir.path(), "r2"), Liveness::Dead);
        forget(dir.path(), "r2");
        assert_eq!(liveness(dir.path(), "r2"), Liveness::Unknown);
    }

    #[test]
    fn odd_run_ids_are_unknown() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(liveness(dir.path(), "../x"), Liveness::Unknown);
    }
}
