//! What stops a CLI run: Ctrl-C, and what a service manager or a closed terminal sends
//! (SIGTERM and SIGHUP on Unix; Ctrl-Break and the console's close on Windows). Each
//! of them rolls the run back; none of them leaves a run's containers behind.

use std::future::Future;

/// Resolves when the process is asked to stop. The handlers are installed when this
/// is called, so a signal that comes before the future is first polled still counts.
pub fn interrupted() -> impl Future<Output = ()> {
    crate::util::stop::requested()
}
