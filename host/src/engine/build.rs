//! Image builds: the engine's `/build`, its output as a stream.
//!
//! bollard's `BuildImageOptions` has no `cgroupparent`, which the engine's `/build`
//! takes (API 1.41: the parent cgroup of every build step's container) and which is
//! the one way to cap a build's processes (see [`super::cgroup`]). A build with a
//! cgroup parent is therefore sent here, on the engine's unix socket, with bollard's
//! own query plus that one parameter; every other build goes through bollard.

use std::path::Path;

use bollard::models::BuildInfo;
use bollard::query_parameters::BuildImageOptions;
use futures_util::stream::{self, BoxStream, StreamExt};
use http_body_util::BodyExt;

use super::Engine;
use crate::contract::bindings::docker::DockerError;

/// Longest line of build output the host reads: one JSON message of the engine.
const MAX_LINE: usize = 1 << 20;

type Item = Result<BuildInfo, bollard::errors::Error>;

/// Start a build of `tar`; its messages, with a step's failure as
/// `DockerStreamError`, as bollard gives them.
pub async fn build<'a>(
    engine: &'a Engine,
    options: BuildImageOptions,
    cgroup_parent: Option<&str>,
    tar: Vec<u8>,
) -> Result<BoxStream<'a, Item>, DockerError> {
    let docker = engine.docker().await?;
    let Some(parent) = cgroup_parent else {
        return Ok(docker
            .build_image(options, None, Some(bollard::body_full(tar.into())))
            .boxed());
    };
    let Some(socket) = engine.address.strip_prefix("unix://") else {
        return Err(DockerError::EngineError(format!(
            "a build with a cgroup parent needs the engine's unix socket, not `{}`",
            engine.address
        )));
    };
    let mut query = serde_urlencoded::to_string(&options)
        .map_err(|e| DockerError::EngineError(format!("cannot write the build's query: {e}")))?;
    query.push('&');
    query.push_str(
        &serde_urlencoded::to_string([("cgroupparent", parent)]).map_err(|e| {
            DockerError::EngineError(format!("cannot write the build's query: {e}"))
        })?,
    );
    let version = docker.client_version();
    let path = format!(
        "/v{}.{}/build?{query}",
        version.major_version, version.minor_version
    );
    let body = post(Path::new(socket), &path, tar)
        .await
        .map_err(|e| engine.fail(e))?;
    Ok(messages(body).boxed())
}

/// A unix socket exists only on Unix: the cgroup check denies first on Windows.
#[cfg(not(unix))]
async fn post(
    socket: &Path,
    _path: &str,
    _tar: Vec<u8>,
) -> Result<hyper::body::Incoming, bollard::errors::Error> {
    Err(bollard::errors::Error::IOError {
        err: std::io::Error::other(format!(
            "the engine's unix socket {} cannot be reached from Windows",
            socket.display()
        )),
    })
}

/// POST `tar` to `path` on the socket; the response body once the engine said 200.
#[cfg(unix)]
async fn post(
    socket: &Path,
    path: &str,
    tar: Vec<u8>,
) -> Result<hyper::body::Incoming, bollard::errors::Error> {
    let io = tokio::net::UnixStream::connect(socket).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
            .await
            .map_err(io_error)?;
    tokio::spawn(connection);
    let request = hyper::Request::post(path)
        .header(hyper::header::HOST, "docker")
        .header(hyper::header::CONTENT_TYPE, "application/x-tar")
        .body(http_body_util::Full::new(bytes::Bytes::from(tar)))
        .map_err(io_error)?;
    let response = sender.send_request(request).await.map_err(io_error)?;
    let status = response.status().as_u16();
    if status == 200 {
        return Ok(response.into_body());
    }
    // An error answer is one small JSON message; read at most a line's worth.
    let mut body = response.into_body();
    let mut text = Vec::new();
    while let Some(frame) = body.frame().await {
        if let Some(data) = frame.map_err(io_error)?.data_ref() {
            text.extend_from_slice(data);
        }
        if text.len() > MAX_LINE {
            break;
        }
    }
    let message = serde_json::from_slice::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(&text).trim().to_string());
    Err(bollard::errors::Error::DockerResponseServerError {
        status_code: status,
        message,
    })
}

fn io_error(e: impl std::error::Error + Send + Sync + 'static) -> bollard::errors::Error {
    bollard::errors::Error::IOError {
        err: std::io::Error::other(e),
    }
}

/// The engine's build messages: one JSON object a line.
fn messages(body: hyper::body::Incoming) -> impl futures_util::Stream<Item = Item> {
    let state = (body, Vec::<u8>::new(), false);
    stream::unfold(state, |(mut body, mut buf, mut done)| async move {
        loop {
            if let Some(end) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=end).collect();
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                return Some((parse(&line), (body, buf, done)));
            }
            if done {
                if buf.iter().all(u8::is_ascii_whitespace) {
                    return None;
                }
                let line = std::mem::take(&mut buf);
                return Some((parse(&line), (body, buf, done)));
            }
            if buf.len() > MAX_LINE {
                buf.clear();
                done = true;
                let err = std::io::Error::other(format!(
                    "the engine sent a build message longer than {MAX_LINE} bytes"
                ));
                return Some((Err(err.into()), (body, buf, done)));
            }
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Some(data) = frame.data_ref() {
                        buf.extend_from_slice(data);
                    }
                }
                Some(Err(e)) => {
                    done = true;
                    buf.clear();
                    return Some((Err(io_error(e)), (body, buf, done)));
                }
                None => done = true,
            }
        }
    })
}

/// One message, with a failed step as bollard reports it.
fn parse(line: &[u8]) -> Item {
    let info: BuildInfo = serde_json::from_slice(line)?;
    match info.error_detail.as_ref().and_then(|d| d.message.clone()) {
        Some(error) => Err(bollard::errors::Error::DockerStreamError { error }),
        None => Ok(info),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_and_failures_read_as_bollard_reads_them() {
        let ok = parse(br#"{"stream":"Step 1/2 : FROM x\n"}"#).unwrap();
        assert_eq!(ok.stream.as_deref(), Some("Step 1/2 : FROM x\n"));
        let id = parse(br#"{"aux":{"ID":"sha256:ab"}}"#).unwrap();
        assert_eq!(id.aux.and_then(|a| a.id).as_deref(), Some("sha256:ab"));
        let failed =
            parse(br#"{"errorDetail":{"code":1,"message":"step failed"},"error":"step failed"}"#);
        assert!(
            matches!(failed, Err(bollard::errors::Error::DockerStreamError { ref error }) if error == "step failed")
        );
        assert!(parse(b"not json").is_err());
    }
}
