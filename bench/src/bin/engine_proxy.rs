//! `engine-proxy`: a Docker engine proxy that writes down every request it passes on.
//!
//! ```text
//! engine-proxy --listen /tmp/x/proxy.sock --engine /var/run/docker.sock --log /tmp/x/requests.log
//! DOCKER_HOST=unix:///tmp/x/proxy.sock docker ps     # appends "GET /containers/json 200"
//! ```
//!
//! It accepts HTTP/1.1 on the listen socket and forwards each request, as it is, to the engine's
//! socket; the answer streams back as it comes (logs, events and build output pass through a
//! frame at a time, never buffered whole). A connection upgrade (`POST /exec/{id}/start` or
//! attach with `Upgrade: tcp`, answered 101) becomes a byte pipe both ways. For every request,
//! when the answer's head arrives, it appends one line to the log file and flushes it:
//!
//! ```text
//! METHOD /path?query STATUS        (the API version prefix, such as /v1.41, left out)
//! ```
//!
//! Every request of a kept-alive connection is counted. bench/run's `requests` part reads the
//! lines to count the engine requests of a workflow.
//!
//! Hand-written: a proxy that counts is a few dozen lines over hyper (which the host already
//! uses), and no crate does exactly this: Unix socket to Unix socket, upgrades passed through,
//! bodies streamed, and one line per request in this form.

use std::convert::Infallible;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use http_body_util::{Either, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::UPGRADE;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{UnixListener, UnixStream};
use tokio::signal::unix::{signal, SignalKind};

/// What the proxy answers with: the engine's body as it streams, or a short error of its own.
type Body = Either<Incoming, Full<Bytes>>;

struct Args {
    listen: PathBuf,
    engine: PathBuf,
    log: PathBuf,
}

fn parse_args() -> Result<Args> {
    const USAGE: &str = "usage: engine-proxy --listen SOCKET --engine SOCKET --log FILE";
    let (mut listen, mut engine, mut log) = (None, None, None);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .map(PathBuf::from)
                .with_context(|| format!("{arg} needs a value"))
        };
        match arg.as_str() {
            "--listen" => listen = Some(value()?),
            "--engine" => engine = Some(value()?),
            "--log" => log = Some(value()?),
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown argument `{other}` ({USAGE})"),
        }
    }
    match (listen, engine, log) {
        (Some(listen), Some(engine), Some(log)) => Ok(Args {
            listen,
            engine,
            log,
        }),
        _ => bail!("{USAGE}"),
    }
}

/// What every connection shares: where the engine is, and the log.
struct Proxy {
    engine: PathBuf,
    log: Mutex<File>,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args = parse_args()?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.log)
        .with_context(|| format!("cannot open the log {}", args.log.display()))?;
    let proxy = Arc::new(Proxy {
        engine: args.engine,
        log: Mutex::new(log),
    });
    // A socket left by an earlier proxy that did not get to remove it.
    if args.listen.exists() {
        std::fs::remove_file(&args.listen)
            .with_context(|| format!("cannot remove the stale socket {}", args.listen.display()))?;
    }
    let listener = UnixListener::bind(&args.listen)
        .with_context(|| format!("cannot listen on {}", args.listen.display()))?;
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, _) = accepted.context("accept")?;
                tokio::spawn(serve(proxy.clone(), stream));
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    remove_socket(&args.listen);
    Ok(())
}

fn remove_socket(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        eprintln!("engine-proxy: cannot remove {}: {e}", path.display());
    }
}

/// One client connection: its requests, one after another, each forwarded.
async fn serve(proxy: Arc<Proxy>, stream: UnixStream) {
    let service = hyper::service::service_fn(move |req| forward(proxy.clone(), req));
    let served = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
    if let Err(e) = served {
        // A client that goes away mid-answer (`docker logs -f` stopped) is not news.
        if !e.is_incomplete_message() && !e.is_canceled() {
            eprintln!("engine-proxy: client connection: {e}");
        }
    }
}

/// Forward one request on a connection of its own to the engine, and hand back its answer.
async fn forward(
    proxy: Arc<Proxy>,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    let line = format!("{} {}", req.method(), unversioned(req.uri()));
    let upgrading = req.headers().contains_key(UPGRADE);
    let client_upgrade = upgrading.then(|| hyper::upgrade::on(&mut req));
    let mut resp = match send(&proxy.engine, req).await {
        Ok(resp) => resp,
        Err(e) => {
            proxy.write(&format!("{line} {}", StatusCode::BAD_GATEWAY.as_u16()));
            let body = Full::new(Bytes::from(format!("engine-proxy: {e:#}\n")));
            let mut resp = Response::new(Either::Right(body));
            *resp.status_mut() = StatusCode::BAD_GATEWAY;
            return Ok(resp);
        }
    };
    proxy.write(&format!("{line} {}", resp.status().as_u16()));
    if let (Some(client), StatusCode::SWITCHING_PROTOCOLS) = (client_upgrade, resp.status()) {
        let engine = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            match tokio::try_join!(client, engine) {
                Ok((client, engine)) => {
                    let (mut client, mut engine) = (TokioIo::new(client), TokioIo::new(engine));
                    // Ends when both sides have closed; a reset on either is the end too.
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut engine).await;
                }
                Err(e) => eprintln!("engine-proxy: upgrade: {e}"),
            }
        });
    }
    Ok(resp.map(Either::Left))
}

async fn send(engine: &Path, req: Request<Incoming>) -> Result<Response<Incoming>> {
    let stream = UnixStream::connect(engine)
        .await
        .with_context(|| format!("cannot connect to the engine at {}", engine.display()))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            if !e.is_incomplete_message() && !e.is_canceled() {
                eprintln!("engine-proxy: engine connection: {e}");
            }
        }
    });
    Ok(sender.send_request(req).await?)
}

impl Proxy {
    /// Append one line to the log, flushed (one write: lines of concurrent requests never mix).
    fn write(&self, line: &str) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = log
            .write_all(format!("{line}\n").as_bytes())
            .and_then(|()| log.flush())
        {
            eprintln!("engine-proxy: cannot write the log: {e}");
        }
    }
}

/// The path and query without the API version prefix: `/v1.41/containers/json?all=1` is
/// `/containers/json?all=1`.
fn unversioned(uri: &hyper::Uri) -> &str {
    let full = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let Some(rest) = full.strip_prefix("/v") else {
        return full;
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let version = &rest[..end];
    let is_version = !version.is_empty()
        && version.chars().all(|c| c.is_ascii_digit() || c == '.')
        && version.starts_with(|c: char| c.is_ascii_digit());
    if is_version && end < rest.len() {
        &rest[end..]
    } else {
        full
    }
}

#[cfg(test)]
mod tests {
    use super::unversioned;

    #[test]
    fn the_version_prefix_is_left_out() {
        let cases = [
            ("/v1.41/containers/json?all=1", "/containers/json?all=1"),
            ("/_ping", "/_ping"),
            ("/v1.41/_ping", "/_ping"),
            ("/version", "/version"),
            ("/volumes/x", "/volumes/x"),
            ("/v1.41", "/v1.41"),
        ];
        for (uri, want) in cases {
            assert_eq!(unversioned(&uri.parse().unwrap()), want, "{uri}");
        }
    }
}
