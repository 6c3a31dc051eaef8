//! The process being asked to stop, however the platform asks: Ctrl-C everywhere;
//! SIGTERM (a service manager) and SIGHUP (a closed terminal) on Unix; Ctrl-Break,
//! the console's close, log-off and shutdown on Windows; and a request made in the
//! process itself ([`request`]), which is how the Windows service manager's `stop`
//! arrives. The CLI rolls a run back on the first; `serve` drains on the first and
//! cancels what is left on the second.

use std::sync::OnceLock;

use tokio::sync::watch;

/// Stop requests made in the process: a count, so each is seen once by each watcher.
fn requests() -> &'static watch::Sender<u64> {
    static REQUESTS: OnceLock<watch::Sender<u64>> = OnceLock::new();
    REQUESTS.get_or_init(|| watch::channel(0).0)
}

/// Ask the process to stop, as a signal would: for a service manager's `stop`.
// Only the Windows service calls it (and the tests).
#[cfg_attr(not(windows), allow(dead_code))]
pub fn request() {
    requests().send_modify(|n| *n += 1);
}

/// The stop requests, as they come.
pub struct Signals {
    platform: platform::Signals,
    requested: watch::Receiver<u64>,
}

impl Signals {
    /// Watch for stop requests from now on. Must be called inside the runtime. A
    /// signal that cannot be watched (the platform refused the handler) is left out
    /// with a warning: the others still count.
    pub fn new() -> Signals {
        let mut requested = requests().subscribe();
        requested.mark_unchanged();
        Signals {
            platform: platform::Signals::new(),
            requested,
        }
    }

    /// The next stop request.
    pub async fn next(&mut self) {
        let requested = async {
            if self.requested.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = self.platform.next() => {}
            () = requested => {}
        }
    }
}

impl Default for Signals {
    fn default() -> Self {
        Signals::new()
    }
}

/// Resolves at the first stop request after this call. The handlers are installed
/// when this is called, so a signal that comes before the future is first polled
/// still counts.
pub fn requested() -> impl std::future::Future<Output = ()> {
    let mut signals = Signals::new();
    async move { signals.next().await }
}

/// Wait for the next signal of a stream that may not exist or may end: neither of
/// which is a stop request.
async fn next_of(signal: Option<impl std::future::Future<Output = Option<()>>>) {
    match signal {
        Some(signal) => {
            if signal.await.is_none() {
                std::future::pending::<()>().await;
            }
        }
        None => std::future::pending::<()>().await,
    }
}

/// The handler of `what`, or none with a warning.
fn watched<S>(what: &str, made: std::io::Result<S>) -> Option<S> {
    made.map_err(|e| tracing::warn!("cannot watch for {what}: {e}"))
        .ok()
}

#[cfg(unix)]
mod platform {
    use tokio::signal::unix::{signal, Signal, SignalKind};

    use super::{next_of, watched};

    pub struct Signals {
        term: Option<Signal>,
        hup: Option<Signal>,
        int: Option<Signal>,
    }

    impl Signals {
        pub fn new() -> Signals {
            Signals {
                term: watched("SIGTERM", signal(SignalKind::terminate())),
                hup: watched("SIGHUP", signal(SignalKind::hangup())),
                int: watched("Ctrl-C (SIGINT)", signal(SignalKind::interrupt())),
            }
        }

        pub async fn next(&mut self) {
            tokio::select! {
                () = next_of(self.term.as_mut().map(|s| s.recv())) => {}
                () = next_of(self.hup.as_mut().map(|s| s.recv())) => {}
                () = next_of(self.int.as_mut().map(|s| s.recv())) => {}
            }
        }
    }
}

#[cfg(windows)]
mod platform {
    use tokio::signal::windows::{
        ctrl_break, ctrl_c, ctrl_close, ctrl_logoff, ctrl_shutdown, CtrlBreak, CtrlC, CtrlClose,
        CtrlLogoff, CtrlShutdown,
    };

    use super::{next_of, watched};

    /// Console events. A console's close, log-off and shutdown give the process a few
    /// seconds before Windows ends it: enough to start the rollback, which is why they
    /// count as a stop (a service's own stop comes through [`super::request`]).
    pub struct Signals {
        c: Option<CtrlC>,
        brk: Option<CtrlBreak>,
        close: Option<CtrlClose>,
        logoff: Option<CtrlLogoff>,
        shutdown: Option<CtrlShutdown>,
    }

    impl Signals {
        pub fn new() -> Signals {
            Signals {
                c: watched("Ctrl-C", ctrl_c()),
                brk: watched("Ctrl-Break", ctrl_break()),
                close: watched("the console's close", ctrl_close()),
                logoff: watched("log-off", ctrl_logoff()),
                shutdown: watched("shutdown", ctrl_shutdown()),
            }
        }

        pub async fn next(&mut self) {
            tokio::select! {
                () = next_of(self.c.as_mut().map(|s| s.recv())) => {}
                () = next_of(self.brk.as_mut().map(|s| s.recv())) => {}
                () = next_of(self.close.as_mut().map(|s| s.recv())) => {}
                () = next_of(self.logoff.as_mut().map(|s| s.recv())) => {}
                () = next_of(self.shutdown.as_mut().map(|s| s.recv())) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request made in the process (the service manager's stop) is a stop request,
    /// seen once by each watcher that was watching when it was made.
    #[tokio::test(start_paused = true)]
    async fn a_request_stops_each_watcher_once() {
        let mut first = Signals::new();
        let mut second = Signals::new();
        request();
        first.next().await;
        second.next().await;
        // Seen: the next wait is for the next request, not this one again.
        let again = tokio::time::timeout(std::time::Duration::from_millis(1), first.next());
        assert!(again.await.is_err(), "a request was seen twice");
        request();
        first.next().await;
    }
}
