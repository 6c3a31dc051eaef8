//! Connections, accepted here rather than by `axum::serve`, which holds every
//! connection for as long as the client likes: a server shared by teams must not be
//! emptied by clients that connect and say nothing.
//!
//! - At most `max_connections` are open; one more is answered `503` and closed.
//! - A connection must send a whole request head within `header_timeout`: from
//!   when it opens, and from the first byte of each later request.
//! - Between requests, a kept-alive connection may stay quiet for `idle_timeout`.
//! - While a request is being answered no timeout applies: a run waited for with
//!   `?wait=true` may take its time, and event streams send keep-alives.
//!
//! hyper's own `header_read_timeout` counts from when it starts waiting for a head,
//! so it cannot tell a slow head from a quiet keep-alive; the watch below can.
//! Each connection also logs one line per request and counts its status.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response};
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::metrics::Metrics;

/// How long connections may hold the server.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub header_timeout: Duration,
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 1024,
        }
    }
}

/// Accept connections until `shutdown`, then ask each open one to finish its
/// request and close. The tracker holds the connections' tasks.
pub async fn accept(
    listener: TcpListener,
    router: Router,
    limits: Limits,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> TaskTracker {
    let connections = TaskTracker::new();
    let open = Arc::new(Semaphore::new(limits.max_connections));
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors and the like: wait rather than spin.
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            metrics.connection_refused();
            connections.spawn(refuse(stream, limits.max_connections));
            continue;
        };
        let (router, metrics, shutdown) = (router.clone(), metrics.clone(), shutdown.clone());
        connections.spawn(async move {
            metrics.connection_opened();
            serve_one(stream, peer, router, limits, &metrics, shutdown).await;
            metrics.connection_closed();
            drop(permit);
        });
    }
    connections.close();
    connections
}

/// Past the cap: a short answer, then close, bounded in time like everything else.
async fn refuse(mut stream: TcpStream, cap: usize) {
    let body = format!(
        "{{\"error\":\"the server has {cap} connections open, its limit: try again shortly\"}}"
    );
    let answer = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await
    })
    .await;
}

async fn serve_one(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    limits: Limits,
    metrics: &Arc<Metrics>,
    shutdown: CancellationToken,
) {
    let activity = Arc::new(Activity::new());
    let io = TokioIo::new(Watched {
        inner: stream,
        activity: activity.clone(),
    });
    let service = {
        let (activity, metrics) = (activity.clone(), metrics.clone());
        hyper::service::service_fn(move |request: Request<Incoming>| {
            let busy = Busy::begin(activity.clone());
            answer(router.clone(), request, peer, busy, metrics.clone())
        })
    };
    let connection = hyper::server::conn::http1::Builder::new()
        // The watch below does this job, telling a slow head from a quiet keep-alive.
        .header_read_timeout(None)
        .serve_connection(io, service);
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, "connection ended: {e}");
                }
                return;
            }
            () = shutdown.cancelled(), if !closing => {
                // Finish the request in progress, if any, then close.
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            why = activity.expired(limits) => {
                tracing::debug!(%peer, "closing the connection: {why}");
                return;
            }
        }
    }
}

/// One request through the router, logged and counted when its answer starts.
async fn answer(
    router: Router,
    request: Request<Incoming>,
    peer: SocketAddr,
    busy: Busy,
    metrics: Arc<Metrics>,
) -> Result<Response<Body>, Infallible> {
    let started = Instant::now();
    let (method, path) = (request.method().clone(), request.uri().path().to_string());
    let response = match router.oneshot(request.map(Body::new)).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status().as_u16();
    metrics.response(status);
    tracing::info!(
        %peer,
        %method,
        path,
        status,
        ms = started.elapsed().as_millis() as u64,
        "request"
    );
    // The connection counts as busy until the body is sent (event streams included).
    Ok(response.map(|body| {
        Body::new(Tracked {
            inner: body,
            busy: Some(busy),
        })
    }))
}

/// What a connection is doing, for its timeouts.
struct Activity {
    state: Mutex<State>,
    changed: Notify,
}

struct State {
    /// Requests being answered (one on HTTP/1.1 without pipelining).
    busy: usize,
    /// Requests answered or being answered on this connection.
    served: u64,
    /// When the connection opened or its last answer ended.
    quiet_since: Instant,
    /// When the first byte of the next request head came, if one did.
    head_since: Option<Instant>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            state: Mutex::new(State {
                busy: 0,
                served: 0,
                quiet_since: Instant::now(),
                head_since: None,
            }),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes came in: while no request is being answered, a request head started.
    fn read(&self) {
        let mut state = self.state();
        if state.busy == 0 && state.head_since.is_none() {
            state.head_since = Some(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    /// When the connection must close if nothing changes, and why; none while busy.
    fn deadline(&self, limits: Limits) -> Option<(Instant, &'static str)> {
        let state = self.state();
        if state.busy > 0 {
            return None;
        }
        Some(match state.head_since {
            Some(since) => (
                since + limits.header_timeout,
                "the request head did not arrive in time",
            ),
            None if state.served == 0 => (
                state.quiet_since + limits.header_timeout,
                "no request came in time",
            ),
            None => (
                state.quiet_since + limits.idle_timeout,
                "idle for longer than the idle timeout",
            ),
        })
    }

    /// Resolves once the connection has been quiet past its deadline.
    async fn expired(&self, limits: Limits) -> &'static str {
        loop {
            // Registered before the state is read, so no change is missed.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.deadline(limits) {
                None => changed.await,
                Some((at, why)) => tokio::select! {
                    () = tokio::time::sleep_until(at) => return why,
                    () = &mut changed => {}
                },
            }
        }
    }
}

/// A request being answered; the connection is quiet again when it drops.
struct Busy(Arc<Activity>);

impl Busy {
    fn begin(activity: Arc<Activity>) -> Busy {
        {
            let mut state = activity.state();
            state.busy += 1;
            state.served += 1;
            state.head_since = None;
        }
        activity.changed.notify_one();
        Busy(activity)
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        {
            let mut state = self.0.state();
            state.busy -= 1;
            state.quiet_since = Instant::now();
        }
        self.0.changed.notify_one();
    }
}

/// A response body that ends the request's [`Busy`] when it is sent or dropped.
struct Tracked {
    inner: Body,
    busy: Option<Busy>,
}

impl hyper::body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(None) = polled {
            self.busy = None;
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// The socket, telling [`Activity`] when bytes come in.
struct Watched {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
            max_connections: 4,
        }
    }

    // The clock is tokio's paused one: deadlines are checked, not waited for.
    #[tokio::test(start_paused = true)]
    async fn deadlines_follow_what_the_connection_is_doing() {
        let activity = Arc::new(Activity::new());
        let opened = Instant::now();
        let (at, why) = activity.deadline(limits()).unwrap();
        assert_eq!(
            (at, why),
            (opened + limits().header_timeout, "no request came in time")
        );

        tokio::time::advance(Duration::from_secs(3)).await;
        activity.read();
        let head = Instant::now();
        assert_eq!(
            activity.deadline(limits()).unwrap().0,
            head + limits().header_timeout
        );
        // More bytes of the same head do not move its deadline.
        tokio::time::advance(Duration::from_secs(1)).await;
        activity.read();
        assert_eq!(
            activity.deadline(limits()).unwrap().0,
            head + limits().header_timeout
        );

        let busy = Busy::begin(activity.clone());
        assert_eq!(
            activity.deadline(limits()),
            None,
            "no timeout while answering"
        );
        activity.read(); // a request body
        tokio::time::advance(Duration::from_secs(600)).await;
        assert_eq!(activity.deadline(limits()), None);
        drop(busy);
        let ended = Instant::now();
        let (at, why) = activity.deadline(limits()).unwrap();
        assert_eq!(
            (at, why),
            (
                ended + limits().idle_timeout,
                "idle for longer than the idle timeout"
            )
        );
    }

    #[tokio::test(start_paused = true)]
    async fn expires_at_the_deadline_and_not_while_busy() {
        let activity = Arc::new(Activity::new());
        let busy = Busy::begin(activity.clone());
        let watch = {
            let activity = activity.clone();
            tokio::spawn(async move { activity.expired(limits()).await })
        };
        tokio::time::advance(Duration::from_secs(3600)).await;
        tokio::task::yield_now().await;
        assert!(!watch.is_finished(), "expired while busy");
        drop(busy);
        let why = watch.await.unwrap();
        assert_eq!(why, "idle for longer than the idle timeout");
    }
}
