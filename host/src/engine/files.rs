//! Small files of a container, read through the engine's archive API: what the
//! engine itself would read inside the container (its `/etc/passwd`, say), capped
//! in bytes and time.

use std::io::Read;
use std::time::Duration;

use bollard::query_parameters::DownloadFromContainerOptions;
use futures_util::StreamExt;

use super::Engine;
use crate::contract::bindings::docker::DockerError;

/// How long a read may take, all of it.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The tar the engine wraps a file in: headers and padding, a few KiB at most.
const TAR_OVERHEAD: usize = 16 << 10;

/// The file at `path` in container `id`: its bytes, `None` when the container has no
/// such file. A file over `max_bytes`, or one that is not a regular file (a link the
/// engine would follow inside the container), is an error: the caller cannot know
/// what the engine would read.
pub async fn read(
    engine: &Engine,
    id: &str,
    path: &str,
    max_bytes: usize,
) -> Result<Option<Vec<u8>>, DockerError> {
    let docker = engine.docker().await?;
    let options = DownloadFromContainerOptions {
        path: path.to_string(),
    };
    let download = async {
        let mut stream = docker.download_from_container(id, Some(options));
        let mut tar = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    return match engine.fail(e) {
                        DockerError::NotFound(_) => Ok(None),
                        other => Err(other),
                    }
                }
            };
            tar.extend_from_slice(&chunk);
            if tar.len() > max_bytes + TAR_OVERHEAD {
                return Err(too_big(path, max_bytes));
            }
        }
        Ok(Some(tar))
    };
    let tar = tokio::time::timeout(READ_TIMEOUT, download)
        .await
        .map_err(|_| {
            DockerError::EngineError(format!(
                "reading `{path}` of the container took more than {} s",
                READ_TIMEOUT.as_secs()
            ))
        })??;
    match tar {
        Some(tar) => only_file(&tar, path, max_bytes).map(Some),
        None => Ok(None),
    }
}

fn too_big(path: &str, max_bytes: usize) -> DockerError {
    DockerError::Invalid(format!(
        "the container's `{path}` is larger than the {max_bytes} bytes the host reads"
    ))
}

/// The one regular file of the archive.
fn only_file(tar: &[u8], path: &str, max_bytes: usize) -> Result<Vec<u8>, DockerError> {
    let unreadable = |why: String| DockerError::Invalid(format!("the container's `{path}` {why}"));
    let mut archive = tar::Archive::new(tar);
    let mut entries = archive
        .entries()
        .map_err(|e| unreadable(format!("came back unreadable: {e}")))?;
    let Some(entry) = entries.next() else {
        return Err(unreadable("came back empty".into()));
    };
    let entry = entry.map_err(|e| unreadable(format!("came back unreadable: {e}")))?;
    if entry.header().entry_type() != tar::EntryType::Regular {
        return Err(unreadable(
            "is not a regular file (a link, say), which the host does not follow".into(),
        ));
    }
    let mut data = Vec::new();
    entry
        .take(max_bytes as u64 + 1)
        .read_to_end(&mut data)
        .map_err(|e| unreadable(format!("came back unreadable: {e}")))?;
    if data.len() > max_bytes {
        return Err(too_big(path, max_bytes));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(kind: tar::EntryType, data: &[u8]) -> Vec<u8> {
        let mut tar = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(kind);
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        if kind == tar::EntryType::Symlink {
            header.set_size(0);
            tar.append_link(&mut header, "passwd", "/tmp/x").unwrap();
        } else {
            tar.append_data(&mut header, "passwd", data).unwrap();
        }
        tar.into_inner().unwrap()
    }

    #[test]
    fn only_a_regular_file_within_the_cap_is_read() {
        let tar = archive(tar::EntryType::Regular, b"root:x:0:0\n");
        assert_eq!(only_file(&tar, "/etc/passwd", 64).unwrap(), b"root:x:0:0\n");
        assert!(only_file(&tar, "/etc/passwd", 4).is_err());
        let link = archive(tar::EntryType::Symlink, b"");
        let err = only_file(&link, "/etc/passwd", 64).unwrap_err();
        assert!(matches!(err, DockerError::Invalid(m) if m.contains("not a regular file")));
    }
}
