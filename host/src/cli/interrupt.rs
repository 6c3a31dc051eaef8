//! What stops a CLI run: Ctrl-C, and the signals a service manager or a closed
//! terminal send (SIGTERM, SIGHUP). Each of them rolls the run back; none of them
//! leaves a run's containers behind.

use std::future::Future;

use tokio::signal::unix::{signal, Signal, SignalKind};

/// Resolves when the process is asked to stop. The handlers are installed when this
/// is called, so a signal that comes before the future is first polled still counts.
pub fn interrupted() -> impl Future<Output = ()> {
    let term = signal(SignalKind::terminate()).ok();
    let hup = signal(SignalKind::hangup()).ok();
    let int = signal(SignalKind::interrupt()).ok();
    async move {
        async fn next(sig: Option<Signal>) {
            match sig {
                Some(mut sig) => {
                    if sig.recv().await.is_none() {
                        std::future::pending::<()>().await;
                    }
                }
                None => std::future::pending::<()>().await,
            }
        }
        tokio::select! {
            () = next(term) => {}
            () = next(hup) => {}
            () = next(int) => {}
        }
    }
}
