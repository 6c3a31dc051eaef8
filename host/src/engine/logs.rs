//! Reading a log (a container's or a service's) from an engine at the speed the
//! docker CLI reads it.
//!
//! The engine writes a log as one frame per line, flushing each, so a client gets
//! a stream of small reads. Through bollard, each frame crosses from the client's
//! connection task to the caller's over a channel: one wake of another thread per
//! log line, which made reading a 30 MB log four times slower than `docker logs`
//! (measured in `bench/`). Here the HTTP exchange is still hyper's, but its
//! connection is polled by the task that reads the body, so the bytes go from the
//! socket to the frame decoder with no hand-over. The frame format (an 8-byte header:
//! stream, three zero bytes, a big-endian length) is the Engine API's
//! `application/vnd.docker.multiplexed-stream`; a TTY's log has no frames.
//!
//! Only plain engines (a unix socket, TCP without TLS) are read this way; over TLS
//! the caller uses bollard's stream.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bollard::container::LogOutput;
use bollard::errors::Error;
use bytes::{Buf, Bytes, BytesMut};
use http_body_util::{BodyExt, Empty};
use hyper::body::{Body, Incoming};
use hyper_util::rt::TokioIo;

use super::connect::{Endpoint, Engine};

/// The largest frame accepted: a frame's length is the engine's to say, and a
/// broken or hostile one must not make the host buffer without end.
const MAX_FRAME: usize = 16 << 20;

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;
/// The client connection, polled by whoever reads its answer.
type Connection = Pin<Box<dyn Future<Output = hyper::Result<()>> + Send>>;

/// A log being read: each item one frame (one line, mostly) of stdout or stderr.
pub struct LogStream {
    /// Kept so the connection stays open for the body.
    _sender: Sender,
    connection: Option<Connection>,
    body: Incoming,
    buffer: BytesMut,
    tty: bool,
    ended: bool,
}

impl Engine {
    /// Open the log at `path` (such as `/containers/ID/logs?stdout=1`; the API
    /// version is put in front), or `None` for an engine this cannot read directly
    /// (over TLS): use bollard's stream then. `tty`: the log is a terminal's, with no
    /// frames.
    pub async fn open_log(&self, path: &str, tty: bool) -> Result<Option<LogStream>, Error> {
        let Some(endpoint) = self.plain_endpoint() else {
            return Ok(None);
        };
        let version = self
            .docker()
            .await
            .map_err(|e| Error::IOError {
                err: std::io::Error::other(crate::engine::errors::describe(&e)),
            })?
            .client_version();
        let uri = format!(
            "/v{}.{}{path}",
            version.major_version, version.minor_version
        );
        let (mut sender, connection) = match endpoint {
            #[cfg(unix)]
            Endpoint::Unix(socket) => {
                handshake(tokio::net::UnixStream::connect(socket).await?).await?
            }
            #[cfg(windows)]
            Endpoint::Pipe(path) => handshake(super::pipe::open(&path).await?).await?,
            Endpoint::Tcp(address) => {
                handshake(tokio::net::TcpStream::connect(address).await?).await?
            }
            other => {
                return Err(Error::IOError {
                    err: std::io::Error::other(other.not_here()),
                })
            }
        };
        let request = hyper::Request::get(uri)
            .header(hyper::header::HOST, "docker")
            .body(Empty::<Bytes>::new())
            .map_err(|e| Error::IOError {
                err: std::io::Error::other(e),
            })?;
        // The answer's head arrives while the connection is polled beside it.
        let mut connection = Some(connection);
        let mut answer = Box::pin(sender.send_request(request));
        let response = std::future::poll_fn(|cx| {
            if let Some(c) = connection.as_mut() {
                match c.as_mut().poll(cx) {
                    Poll::Ready(Ok(())) => connection = None,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(hyper_error(e))),
                    Poll::Pending => {}
                }
            }
            answer.as_mut().poll(cx).map_err(hyper_error)
        })
        .await?;
        drop(answer);
        let status = response.status();
        let body = response.into_body();
        if !status.is_success() {
            return Err(refusal(status.as_u16(), body, connection).await);
        }
        Ok(Some(LogStream {
            _sender: sender,
            connection,
            body,
            buffer: BytesMut::new(),
            tty,
            ended: false,
        }))
    }
}

/// An HTTP/1 client over `io`: the sender of requests, and the connection to poll.
async fn handshake<S>(io: S) -> Result<(Sender, Connection), Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(hyper_error)?;
    Ok((sender, Box::pin(connection)))
}

/// The engine's refusal, with its message (a JSON `message`, capped).
async fn refusal(status: u16, body: Incoming, connection: Option<Connection>) -> Error {
    let limited = http_body_util::Limited::new(body, 64 << 10);
    let read = async { limited.collect().await.map(|b| b.to_bytes()) };
    let bytes = match connection {
        Some(connection) => tokio::select! {
            read = read => read.ok(),
            _ = connection => None,
        },
        None => read.await.ok(),
    };
    let text = bytes
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let message = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("message")?.as_str().map(str::to_string))
        .unwrap_or(text);
    Error::DockerResponseServerError {
        status_code: status,
        message,
    }
}

fn hyper_error(e: hyper::Error) -> Error {
    Error::IOError {
        err: std::io::Error::other(e),
    }
}

/// The next whole frame in `buffer`, taken out of it, if there is one; a TTY's log
/// is its bytes as they come.
fn next_frame(buffer: &mut BytesMut, tty: bool) -> Result<Option<LogOutput>, Error> {
    if tty {
        if buffer.is_empty() {
            return Ok(None);
        }
        let message = buffer.split().freeze();
        return Ok(Some(LogOutput::Console { message }));
    }
    if buffer.len() < 8 {
        return Ok(None);
    }
    let length = u32::from_be_bytes([buffer[4], buffer[5], buffer[6], buffer[7]]) as usize;
    if length > MAX_FRAME {
        return Err(broken(format!(
            "the engine sent a log frame of {length} bytes"
        )));
    }
    if buffer.len() < 8 + length {
        return Ok(None);
    }
    let kind = buffer[0];
    buffer.advance(8);
    let message = buffer.split_to(length).freeze();
    Ok(Some(match kind {
        0 => LogOutput::StdIn { message },
        1 => LogOutput::StdOut { message },
        2 => LogOutput::StdErr { message },
        other => {
            return Err(broken(format!(
                "the engine sent a log frame of kind {other}"
            )))
        }
    }))
}

fn broken(why: String) -> Error {
    Error::IOError {
        err: std::io::Error::new(std::io::ErrorKind::InvalidData, why),
    }
}

impl futures_util::Stream for LogStream {
    type Item = Result<LogOutput, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            match next_frame(&mut this.buffer, this.tty) {
                Ok(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
                Ok(None) => {}
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
            if this.ended {
                if this.buffer.is_empty() {
                    return Poll::Ready(None);
                }
                let left = this.buffer.len();
                this.buffer.clear();
                return Poll::Ready(Some(Err(broken(format!(
                    "the engine's log ended inside a frame ({left} bytes left)"
                )))));
            }
            // Drive the connection in this task: it reads the socket into the body.
            if let Some(connection) = this.connection.as_mut() {
                match connection.as_mut().poll(cx) {
                    Poll::Ready(Ok(())) => this.connection = None,
                    Poll::Ready(Err(e)) => {
                        this.connection = None;
                        return Poll::Ready(Some(Err(hyper_error(e))));
                    }
                    Poll::Pending => {}
                }
            }
            match Pin::new(&mut this.body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Ok(data) = frame.into_data() {
                        this.buffer.extend_from_slice(&data);
                    }
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Some(Err(hyper_error(e)))),
                Poll::Ready(None) => this.ended = true,
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, text: &str) -> Vec<u8> {
        let mut f = vec![kind, 0, 0, 0];
        f.extend_from_slice(&u32::try_from(text.len()).unwrap().to_be_bytes());
        f.extend_from_slice(text.as_bytes());
        f
    }

    #[test]
    fn frames_are_taken_whole_and_in_order_whatever_the_pieces() {
        let mut all = frame(1, "out\n");
        all.extend(frame(2, "err\n"));
        all.extend(frame(1, ""));
        // Fed a byte at a time, the frames come out only once whole.
        let mut buffer = BytesMut::new();
        let mut got = Vec::new();
        for byte in all {
            buffer.extend_from_slice(&[byte]);
            while let Some(f) = next_frame(&mut buffer, false).unwrap() {
                got.push(f);
            }
        }
        let shown: Vec<String> = got.iter().map(|f| format!("{f:?}")).collect();
        assert_eq!(got.len(), 3, "{shown:?}");
        assert!(matches!(&got[0], LogOutput::StdOut { message } if &message[..] == b"out\n"));
        assert!(matches!(&got[1], LogOutput::StdErr { message } if &message[..] == b"err\n"));
        assert!(matches!(&got[2], LogOutput::StdOut { message } if message.is_empty()));
        assert!(buffer.is_empty());
    }

    #[test]
    fn a_tty_log_has_no_frames() {
        let mut buffer = BytesMut::from(&b"\x01 raw text"[..]);
        let f = next_frame(&mut buffer, true).unwrap().unwrap();
        assert!(matches!(f, LogOutput::Console { message } if &message[..] == b"\x01 raw text"));
        assert!(next_frame(&mut buffer, true).unwrap().is_none());
    }

    #[test]
    fn a_frame_too_long_or_of_no_known_kind_is_refused() {
        let mut huge = BytesMut::from(&[1u8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff][..]);
        let err = next_frame(&mut huge, false).unwrap_err().to_string();
        assert!(err.contains("log frame of 4294967295 bytes"), "{err}");
        let mut odd = BytesMut::from(&frame(7, "x")[..]);
        let err = next_frame(&mut odd, false).unwrap_err().to_string();
        assert!(err.contains("kind 7"), "{err}");
    }
}
