//! The engine's named pipe on Windows (`\\.\pipe\docker_engine`), opened for one
//! request. A pipe server has a fixed number of instances ready: while all are taken,
//! an open fails with "pipe busy" and the client is to try again, which the docker
//! CLI does (go-winio) and this does too, for a bounded time.

use std::time::Duration;

use tokio::net::windows::named_pipe::{ClientOptions, NamedPipeClient};

/// How long to keep trying a busy pipe.
const BUSY_FOR: Duration = Duration::from_secs(5);

/// ERROR_PIPE_BUSY, from winerror.h.
const ERROR_PIPE_BUSY: i32 = 231;

/// Open the pipe at `path`, trying again while it is busy.
pub async fn open(path: &str) -> std::io::Result<NamedPipeClient> {
    let deadline = tokio::time::Instant::now() + BUSY_FOR;
    loop {
        match ClientOptions::new().open(path) {
            Err(e)
                if e.raw_os_error() == Some(ERROR_PIPE_BUSY)
                    && tokio::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            other => return other,
        }
    }
}
