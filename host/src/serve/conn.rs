//! Connections, accepted here rather than by `axum::serve`, which holds every
//! connection for as long as the client likes: a server shared by teams must not be
//! emptied by clients that connect and say nothing.
//!
//! - At most `max_connections` hold a place. At the cap a new connection takes the
//!   place of one that is waiting for its client, and that one is closed: the one
//!   waiting longest for the rest of a request head, else the one idle longest
//!   between requests ([`super::evict`] chooses). A connection whose request is being
//!   answered is never closed for a newcomer; only when every place is held by such
//!   a connection is the newcomer answered `503` and closed. So clients that connect
//!   and send half a head cannot keep real clients out, even for the header timeout.
//! - A connection chosen to go closes at once when no request of it has reached the
//!   router. Its request head may have come in full just as it was chosen: that
//!   request is answered `503` (with `Retry-After` and `Connection: close`) without
//!   reaching the router, so nothing it asked for is half done. An answer still being
//!   written to it is finished first, for at most `header_timeout`.
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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, Response};
use axum::Router;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt;

use super::evict::{Admitted, Id, Places, Wait};
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
    let places: Shared = Arc::new(Mutex::new(Places::new(limits.max_connections)));
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
        let evict = CancellationToken::new();
        let seat = Seat {
            evict: evict.clone(),
            peer,
        };
        // Decided here, in the order connections are accepted, so "oldest" is the
        // order clients came in.
        let admitted = lock(&places).admit(seat);
        let id = match admitted {
            Admitted::Free(id) => id,
            Admitted::Evicted { id, handle, was } => {
                handle.evict.cancel();
                metrics.connection_evicted();
                tracing::debug!(
                    %peer,
                    "at max_connections ({}): closing the connection from {}, which {}, to let this one in",
                    limits.max_connections,
                    handle.peer,
                    was.doing()
                );
                id
            }
            Admitted::Full => {
                metrics.connection_refused();
                connections.spawn(refuse(stream, limits.max_connections));
                continue;
            }
        };
        let activity = Arc::new(Activity::new(places.clone(), id, evict));
        let (router, metrics, shutdown) = (router.clone(), metrics.clone(), shutdown.clone());
        connections.spawn(async move {
            // The place is given back however the task ends.
            let _place = Place(activity.clone());
            metrics.connection_opened();
            serve_one(stream, peer, router, limits, &metrics, shutdown, activity).await;
            metrics.connection_closed();
        });
    }
    connections.close();
    connections
}

/// The places under the cap, shared by the accept loop and every connection.
type Shared = Arc<Mutex<Places<Seat>>>;

fn lock(places: &Mutex<Places<Seat>>) -> MutexGuard<'_, Places<Seat>> {
    places.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the accept loop needs of a connection it chooses to close.
#[derive(Clone)]
struct Seat {
    evict: CancellationToken,
    peer: SocketAddr,
}

/// A connection's place, given back when its task ends.
struct Place(Arc<Activity>);

impl Drop for Place {
    fn drop(&mut self) {
        lock(&self.0.places).close(self.0.id);
    }
}

/// Past the cap with every connection busy: a short answer, then close, bounded in
/// time like everything else.
async fn refuse(mut stream: TcpStream, cap: usize) {
    let body = format!(
        "{{\"error\":\"the server has {cap} connections open, its limit, each busy answering a request: try again shortly\"}}"
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
    activity: Arc<Activity>,
) {
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
    // Once evicted with an answer to finish: when to stop waiting for it.
    let mut leaving: Option<Instant> = None;
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
            () = activity.evict.cancelled(), if leaving.is_none() => {
                // No request is being read or answered while this runs: hyper calls
                // the router from within the connection's poll, and this is not it.
                if activity.state().busy == 0 && !activity.writing.load(Ordering::Relaxed) {
                    tracing::debug!(%peer, "closing the connection: its place went to a new one");
                    return;
                }
                // A request that came in full as the connection was chosen (answered
                // 503), or the end of an answer not yet written: finish, then close.
                connection.as_mut().graceful_shutdown();
                leaving = Some(Instant::now() + limits.header_timeout);
            }
            () = until(leaving) => {
                tracing::debug!(%peer, "closing the connection: its place went to a new one and its last answer was not taken in time");
                return;
            }
            why = activity.expired(limits) => {
                tracing::debug!(%peer, "closing the connection: {why}");
                return;
            }
        }
    }
}

/// Resolves at `at`; never when there is none.
async fn until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
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
    let response = if busy.evicted {
        gave_way()
    } else {
        match router.oneshot(request.map(Body::new)).await {
            Ok(response) => response,
            Err(never) => match never {},
        }
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

/// The answer to a request whose head came in full just as its connection was chosen
/// to make room: it did not reach the router, so nothing it asked for was done.
fn gave_way() -> Response<Body> {
    use axum::response::IntoResponse;
    let mut error = super::error::ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "the server is at its connection limit and closed this connection to make room \
         for another as the request came in; nothing was done: send it again",
    );
    error.retry_after = Some(Duration::from_secs(1));
    let mut response = error.into_response();
    response.headers_mut().insert(
        axum::http::header::CONNECTION,
        axum::http::HeaderValue::from_static("close"),
    );
    response
}

/// What a connection is doing, for its timeouts and its place under the cap.
struct Activity {
    state: Mutex<State>,
    changed: Notify,
    places: Shared,
    id: Id,
    /// Cancelled when the connection is chosen to give its place to a new one.
    evict: CancellationToken,
    /// Bytes of an answer were handed to the socket and not yet flushed.
    writing: AtomicBool,
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
    /// A connection that holds place `id` in `places`, waiting for its first head.
    fn new(places: Shared, id: Id, evict: CancellationToken) -> Activity {
        Activity {
            state: Mutex::new(State {
                busy: 0,
                served: 0,
                quiet_since: Instant::now(),
                head_since: None,
            }),
            changed: Notify::new(),
            places,
            id,
            evict,
            writing: AtomicBool::new(false),
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
            // A first head keeps the turn it had from the connection's opening; a
            // later one takes its turn from now.
            lock(&self.places).wait(self.id, Wait::Head);
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
struct Busy {
    activity: Arc<Activity>,
    /// The connection was chosen to make room before this request's head came in
    /// full: the request must not reach the router.
    evicted: bool,
}

impl Busy {
    fn begin(activity: Arc<Activity>) -> Busy {
        {
            let mut state = activity.state();
            state.busy += 1;
            state.served += 1;
            state.head_since = None;
        }
        // Under the places' lock, as the choice of whom to evict is: either the
        // connection stops being a candidate before it can be chosen, or it learns
        // here that it was chosen.
        let kept = lock(&activity.places).busy(activity.id);
        activity.changed.notify_one();
        Busy {
            activity,
            evicted: !kept,
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let idle = {
            let mut state = self.activity.state();
            state.busy -= 1;
            state.quiet_since = Instant::now();
            state.busy == 0
        };
        if idle {
            lock(&self.activity.places).wait(self.activity.id, Wait::Idle);
        }
        self.activity.changed.notify_one();
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
        self.activity.writing.store(true, Ordering::Relaxed);
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    // hyper flushes the socket once it has written all it buffered.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let polled = Pin::new(&mut self.inner).poll_flush(cx);
        if matches!(polled, Poll::Ready(Ok(()))) {
            self.activity.writing.store(false, Ordering::Relaxed);
        }
        polled
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.activity.writing.store(true, Ordering::Relaxed);
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

    fn places(cap: usize) -> Shared {
        Arc::new(Mutex::new(Places::new(cap)))
    }

    /// A connection admitted as the accept loop admits one: its activity, and what
    /// it evicted, if anyone.
    fn open(places: &Shared) -> (Arc<Activity>, Option<SocketAddr>) {
        let evict = CancellationToken::new();
        let peer = SocketAddr::from(([127, 0, 0, 1], 40000 + lock(places).held() as u16));
        let admitted = lock(places).admit(Seat {
            evict: evict.clone(),
            peer,
        });
        let (id, evicted) = match admitted {
            Admitted::Free(id) => (id, None),
            Admitted::Evicted { id, handle, .. } => {
                handle.evict.cancel();
                (id, Some(handle.peer))
            }
            Admitted::Full => panic!("no place"),
        };
        (Arc::new(Activity::new(places.clone(), id, evict)), evicted)
    }

    // The clock is tokio's paused one: deadlines are checked, not waited for.
    #[tokio::test(start_paused = true)]
    async fn deadlines_follow_what_the_connection_is_doing() {
        let (activity, _) = open(&places(4));
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
        let (activity, _) = open(&places(4));
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

    #[tokio::test]
    async fn what_a_connection_does_decides_whether_a_newcomer_may_take_its_place() {
        let places = places(2);
        let (answered, _) = open(&places);
        let (quiet, _) = open(&places);
        // `answered` is busy with a request, `quiet` sends half a head: the newcomer
        // takes `quiet`'s place.
        let busy = Busy::begin(answered.clone());
        assert!(!busy.evicted);
        quiet.read();
        let (newcomer, evicted) = open(&places);
        assert!(evicted.is_some());
        assert!(quiet.evict.is_cancelled() && !answered.evict.is_cancelled());
        // Its head came in full as it was chosen: the request is flagged, so it is
        // answered 503 and never reaches the router.
        let late = Busy::begin(quiet.clone());
        assert!(late.evicted);
        drop(late);
        // With `newcomer` busy too, nobody can be evicted.
        let also_busy = Busy::begin(newcomer.clone());
        let refused = lock(&places).admit(Seat {
            evict: CancellationToken::new(),
            peer: SocketAddr::from(([127, 0, 0, 1], 1)),
        });
        assert!(matches!(refused, Admitted::Full));
        // Once `answered`'s answer ends, it is idle between requests: a candidate.
        drop(busy);
        let (_, evicted) = open(&places);
        assert!(evicted.is_some() && answered.evict.is_cancelled());
        assert!(!newcomer.evict.is_cancelled());
        drop(also_busy);
    }

    #[test]
    fn the_answer_to_a_request_that_came_as_its_connection_was_chosen() {
        let answer = gave_way();
        assert_eq!(answer.status(), 503);
        assert_eq!(answer.headers()["retry-after"], "1");
        assert_eq!(answer.headers()["connection"], "close");
    }
}
