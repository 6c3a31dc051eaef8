//! What the server's parts tell each other of environments' lifetimes: the reaper's
//! wake-up (a run's expiry was set or moved) and the notices the run's events streams
//! follow (see [`super::reaper`]).

use tokio::sync::{broadcast, Notify};

use crate::run::expiry::Notice;

/// Notices kept for streams that fall behind; one that lags past them reads the
/// journal again instead (see `reaper::environment_events`).
const NOTICES: usize = 256;

/// What the rest of the server shares with the reaper.
pub struct Reaping {
    wake: Notify,
    notices: broadcast::Sender<Notice>,
}

impl Default for Reaping {
    fn default() -> Self {
        Reaping {
            wake: Notify::new(),
            notices: broadcast::channel(NOTICES).0,
        }
    }
}

impl Reaping {
    /// Make a pass now: a run's expiry was set or moved.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Tell the streams following `notice.run` (a teardown, an extension).
    pub fn tell(&self, notice: Notice) {
        // No stream listening is not an error.
        let _ = self.notices.send(notice);
    }

    /// What the reaper waits on besides its deadline.
    pub fn wake_signal(&self) -> &Notify {
        &self.wake
    }

    /// Every notice from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Notice> {
        self.notices.subscribe()
    }
}
