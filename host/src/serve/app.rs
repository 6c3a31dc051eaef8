//! What every request handler can reach: the server's runtime, plugins, engine,
//! teams, journal and the runs in flight.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::{engines, live, metrics, slots, started, teams};
use crate::journal::Journal;
use crate::plugin::runtime::Runtime;

/// What every request handler can reach.
pub struct App {
    pub runtime: Runtime,
    /// The plugin folder, live (see [`super::live`]).
    pub plugins: live::LivePlugins,
    pub engines: engines::Engines,
    pub teams: teams::Teams,
    pub journal: Arc<Journal>,
    pub state_dir: PathBuf,
    pub started: started::Started,
    pub(super) slots: Mutex<slots::Slots>,
    /// The tasks of runs in flight, so shutdown can wait for them.
    pub tasks: TaskTracker,
    /// Cancelled when runs in flight must stop (drain deadline, second signal).
    pub abort: CancellationToken,
    /// Set once a shutdown signal came: no new runs.
    pub(super) draining: AtomicBool,
    pub max_body: usize,
    pub metrics: Arc<metrics::Metrics>,
    /// Whether the engines answer, as `/metrics` reports it (asked once a second at most).
    pub reachability: metrics::Reachability,
    /// Held from claiming an idempotency key until its run is in `started`, so a
    /// retry in this process that finds the key taken also finds the run.
    pub keyed_starts: tokio::sync::Mutex<()>,
    /// The reaper's wake-up and its notices (see [`super::reaper`]).
    pub reaping: super::notices::Reaping,
    /// The identity provider whose tokens the API accepts, if configured.
    pub oidc: Option<Arc<super::oidc::Oidc>>,
}

impl App {
    /// The admission state. `draining` is read and written under this lock, so a
    /// run is either admitted before shutdown starts or refused.
    pub fn slots(&self) -> MutexGuard<'_, slots::Slots> {
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}
