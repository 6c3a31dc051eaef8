//! Looking at a container: its logs, its processes, one sample of its resource use.

use bollard::container::LogOutput;
use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::{LogsOptions as EngineLogsOptions, StatsOptions};
use std::time::Duration;

use futures_util::StreamExt;

use super::guard;
use crate::contract::bindings::docker::{
    ContainerStats, DockerError, LogLine, LogsOptions, NetworkStats, OutputStream, ProcessList,
};
use crate::imports::state::HostState;

/// The most log text handed to a plugin in one call; older lines are dropped first.
const MAX_LOG_BYTES: usize = 4 << 20;
/// The longest line kept whole; a longer one is cut here and marked.
const MAX_LINE_BYTES: usize = 64 << 10;
/// What is appended to a line that was cut.
const CUT_MARKER: &str = " [... line cut by dockwright at 64 KiB]";

/// How much of a container's log one call reads from the engine, at most. Created
/// containers keep at most 30 MB of log (`LOG_MAX_SIZE` x `LOG_MAX_FILES`), so these
/// caps matter for containers made before that, or by hand.
#[derive(Debug, Clone, Copy)]
pub(super) struct ReadCaps {
    bytes: u64,
    time: Duration,
}

pub(super) const READ_CAPS: ReadCaps = ReadCaps {
    bytes: 256 << 20,
    time: Duration::from_secs(60),
};

/// Between yields to the scheduler: a stream that always has data ready never
/// makes the task wait, so without these the run's deadline could not fire while
/// a large log is read.
const YIELD_EVERY_BYTES: usize = 256 << 10;

pub async fn logs(
    state: &mut HostState,
    container: &str,
    options: LogsOptions,
) -> Result<Vec<LogLine>, DockerError> {
    let run = state.run()?;
    let found = guard::real(run, container).await?;
    let id = found.id.unwrap_or_default();
    let tty = found.config.and_then(|c| c.tty).unwrap_or(false);
    let engine = &run.engine;
    let query = engine_options(&options)?;
    let path = format!("/containers/{id}/logs{}", log_query(&query));
    match read_log(engine, &path, tty).await {
        Some(read) => read,
        None => read_lines(engine.docker().await?.logs(&id, Some(query)), READ_CAPS).await,
    }
    .map_err(|e| engine.fail(e))
}

/// The log at `path` read through the engine's own reader (see [`crate::engine::logs`]),
/// or `None` where the engine is not reached that way and bollard's stream is used.
pub(super) async fn read_log(
    engine: &crate::engine::Engine,
    path: &str,
    tty: bool,
) -> Option<Result<Vec<LogLine>, bollard::errors::Error>> {
    let opened = tokio::time::timeout(READ_CAPS.time, engine.open_log(path, tty)).await;
    match opened {
        Err(_) => Some(Err(bollard::errors::Error::RequestTimeoutError)),
        Ok(Err(e)) => Some(Err(e)),
        Ok(Ok(None)) => None,
        Ok(Ok(Some(stream))) => Some(read_lines(stream, READ_CAPS).await),
    }
}

/// The query string of a log request: the same fields bollard would send.
pub(super) fn log_query(query: &EngineLogsOptions) -> String {
    // `tail` is `all` or a number (see `engine_options`): nothing to escape.
    format!(
        "?stdout={}&stderr={}&tail={}",
        query.stdout, query.stderr, query.tail
    )
}

/// The engine's query for the logs a plugin asked for.
pub(super) fn engine_options(options: &LogsOptions) -> Result<EngineLogsOptions, DockerError> {
    if !options.stdout && !options.stderr {
        return Err(DockerError::Invalid(
            "logs: ask for stdout, stderr or both".into(),
        ));
    }
    Ok(EngineLogsOptions {
        stdout: options.stdout,
        stderr: options.stderr,
        tail: options
            .tail
            .map_or_else(|| "all".to_string(), |n| n.to_string()),
        ..Default::default()
    })
}

/// The lines of a log stream, in linear time and bounded memory: at most
/// [`MAX_LOG_BYTES`] of the newest text, each line at most [`MAX_LINE_BYTES`].
pub(super) async fn read_lines<S>(
    mut chunks: S,
    caps: ReadCaps,
) -> Result<Vec<LogLine>, bollard::errors::Error>
where
    S: futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin,
{
    let started = tokio::time::Instant::now();
    let mut lines = LineCollector::default();
    let mut read: u64 = 0;
    let mut since_yield = 0usize;
    let stopped = loop {
        let next = tokio::time::timeout_at(started + caps.time, chunks.next()).await;
        let Ok(next) = next else {
            break Some(format!("{} s", caps.time.as_secs()));
        };
        let Some(chunk) = next else {
            break None;
        };
        let (stream, message) = match chunk? {
            LogOutput::StdErr { message } => (OutputStream::Stderr, message),
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                (OutputStream::Stdout, message)
            }
            LogOutput::StdIn { .. } => continue,
        };
        lines.push(stream, &message);
        read += message.len() as u64;
        since_yield += message.len();
        if read >= caps.bytes {
            break Some(format!("{} MiB", caps.bytes >> 20));
        }
        if since_yield >= YIELD_EVERY_BYTES {
            since_yield = 0;
            tokio::task::yield_now().await;
        }
    };
    let mut lines = lines.finish();
    if let Some(cap) = stopped {
        lines.push(LogLine {
            stream: OutputStream::Stderr,
            text: format!(
                "[dockwright: stopped reading this log after {cap}; ask for a tail to see its newest lines]"
            ),
        });
    }
    Ok(lines)
}

/// One stream's line being assembled.
#[derive(Default)]
struct Partial {
    bytes: Vec<u8>,
    /// The line went over [`MAX_LINE_BYTES`] and was kept cut: drop the rest of it.
    cut: bool,
}

/// Splits engine output chunks into lines per stream, keeping at most
/// [`MAX_LOG_BYTES`] of the newest text. Each byte is looked at once.
#[derive(Default)]
struct LineCollector {
    lines: std::collections::VecDeque<LogLine>,
    bytes: usize,
    out: Partial,
    err: Partial,
}

impl LineCollector {
    fn push(&mut self, stream: OutputStream, chunk: &[u8]) {
        let mut partial = std::mem::take(self.partial(stream));
        let mut rest = chunk;
        loop {
            let newline = rest.iter().position(|b| *b == b'\n');
            let (piece, after) = match newline {
                Some(pos) => (&rest[..pos], Some(&rest[pos + 1..])),
                None => (rest, None),
            };
            if !partial.cut {
                let room = MAX_LINE_BYTES.saturating_sub(partial.bytes.len());
                partial
                    .bytes
                    .extend_from_slice(&piece[..piece.len().min(room)]);
                if piece.len() > room {
                    let mut text = String::from_utf8_lossy(&partial.bytes).into_owned();
                    text.push_str(CUT_MARKER);
                    self.add(stream, text);
                    partial.bytes.clear();
                    partial.cut = true;
                }
            }
            let Some(after) = after else {
                break;
            };
            if partial.cut {
                partial.cut = false;
            } else {
                let line = std::mem::take(&mut partial.bytes);
                self.add_bytes(stream, &line);
            }
            rest = after;
        }
        *self.partial(stream) = partial;
    }

    fn partial(&mut self, stream: OutputStream) -> &mut Partial {
        match stream {
            OutputStream::Stdout => &mut self.out,
            OutputStream::Stderr => &mut self.err,
        }
    }

    fn add_bytes(&mut self, stream: OutputStream, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        let text = text.strip_suffix('\r').unwrap_or(&text).to_string();
        self.add(stream, text);
    }

    fn add(&mut self, stream: OutputStream, text: String) {
        self.bytes += text.len();
        self.lines.push_back(LogLine { stream, text });
        while self.bytes > MAX_LOG_BYTES {
            match self.lines.pop_front() {
                Some(old) => self.bytes -= old.text.len(),
                None => break,
            }
        }
    }

    fn finish(mut self) -> Vec<LogLine> {
        for stream in [OutputStream::Stdout, OutputStream::Stderr] {
            let rest = std::mem::take(self.partial(stream));
            if !rest.bytes.is_empty() {
                self.add_bytes(stream, &rest.bytes);
            }
        }
        self.lines.into()
    }
}

pub async fn top(state: &mut HostState, container: &str) -> Result<ProcessList, DockerError> {
    let run = state.run()?;
    let id = guard::real_id(run, container).await?;
    let container = id.as_str();
    let engine = &run.engine;
    let answer = engine
        .docker()
        .await?
        .top_processes(container, None)
        .await
        .map_err(|e| engine.fail(e))?;
    Ok(ProcessList {
        titles: answer.titles.unwrap_or_default(),
        processes: answer.processes.unwrap_or_default(),
    })
}

pub async fn stats(state: &mut HostState, container: &str) -> Result<ContainerStats, DockerError> {
    let run = state.run()?;
    let id = guard::real_id(run, container).await?;
    let container = id.as_str();
    let engine = &run.engine;
    // Not one-shot: the engine then takes two samples, which CPU use needs.
    let query = StatsOptions {
        stream: false,
        one_shot: false,
    };
    let sample = engine
        .docker()
        .await?
        .stats(container, Some(query))
        .next()
        .await
        .ok_or_else(|| DockerError::EngineError(format!("no stats for `{container}`")))?
        .map_err(|e| engine.fail(e))?;
    Ok(container_stats(&sample))
}

/// CPU and memory as `docker stats` computes them: CPU time over system time across
/// the online CPUs; memory without the page cache the kernel can drop.
pub fn container_stats(s: &ContainerStatsResponse) -> ContainerStats {
    let usage = |c: Option<&bollard::models::ContainerCpuStats>| {
        let c = c?;
        Some((
            c.cpu_usage.as_ref()?.total_usage?,
            c.system_cpu_usage?,
            c.online_cpus,
        ))
    };
    let cpu_percent = match (usage(s.cpu_stats.as_ref()), usage(s.precpu_stats.as_ref())) {
        (Some((total, system, cpus)), Some((pre_total, pre_system, _))) => {
            let cpu_delta = total.saturating_sub(pre_total) as f64;
            let system_delta = system.saturating_sub(pre_system) as f64;
            let cpus = f64::from(cpus.unwrap_or(1).max(1));
            if system_delta > 0.0 {
                cpu_delta / system_delta * cpus * 100.0
            } else {
                0.0
            }
        }
        _ => 0.0,
    };
    let mem = s.memory_stats.as_ref();
    let cache = mem
        .and_then(|m| m.stats.as_ref())
        .and_then(|st| {
            st.get("inactive_file")
                .or_else(|| st.get("total_inactive_file"))
        })
        .copied()
        .unwrap_or(0);
    let memory_usage = mem.and_then(|m| m.usage).unwrap_or(0).saturating_sub(cache);
    let mut networks: Vec<NetworkStats> = s
        .networks
        .iter()
        .flatten()
        .map(|(name, n)| NetworkStats {
            name: name.clone(),
            rx_bytes: n.rx_bytes.unwrap_or(0),
            tx_bytes: n.tx_bytes.unwrap_or(0),
        })
        .collect();
    networks.sort_by(|a, b| a.name.cmp(&b.name));
    ContainerStats {
        cpu_percent,
        memory_usage,
        memory_limit: mem.and_then(|m| m.limit).unwrap_or(0),
        pids: s.pids_stats.as_ref().and_then(|p| p.current).unwrap_or(0),
        networks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_split_per_stream() {
        let mut c = LineCollector::default();
        c.push(OutputStream::Stdout, b"a\nb");
        c.push(OutputStream::Stderr, b"e1\r\n");
        c.push(OutputStream::Stdout, b"c\n");
        c.push(OutputStream::Stdout, b"tail");
        let lines: Vec<(bool, String)> = c
            .finish()
            .into_iter()
            .map(|l| (matches!(l.stream, OutputStream::Stderr), l.text))
            .collect();
        assert_eq!(
            lines,
            [
                (false, "a".to_string()),
                (true, "e1".to_string()),
                (false, "bc".to_string()),
                (false, "tail".to_string())
            ]
        );
    }

    #[test]
    fn log_text_is_capped_keeping_the_newest() {
        let mut c = LineCollector::default();
        let line = vec![b'x'; 60 << 10];
        for _ in 0..100 {
            c.push(OutputStream::Stdout, &line);
            c.push(OutputStream::Stdout, b"\n");
        }
        c.push(OutputStream::Stdout, b"last\n");
        let lines = c.finish();
        assert!(lines.len() < 100, "{}", lines.len());
        let kept: usize = lines.iter().map(|l| l.text.len()).sum();
        assert!(kept <= MAX_LOG_BYTES, "{kept}");
        assert_eq!(lines.last().unwrap().text, "last");
    }

    #[test]
    fn long_lines_are_cut_and_marked() {
        let mut c = LineCollector::default();
        c.push(OutputStream::Stdout, b"short\n");
        // One line of 1 MiB, in chunks, then another line.
        let chunk = vec![b'y'; 100 << 10];
        for _ in 0..10 {
            c.push(OutputStream::Stdout, &chunk);
        }
        c.push(OutputStream::Stdout, b"yyy\nnext\n");
        let lines = c.finish();
        let texts: Vec<&str> = lines.iter().map(|l| l.text.as_str()).collect();
        assert_eq!(
            texts.len(),
            3,
            "{:?}",
            texts.iter().map(|t| t.len()).collect::<Vec<_>>()
        );
        assert_eq!(texts[0], "short");
        assert_eq!(texts[1].len(), MAX_LINE_BYTES + CUT_MARKER.len());
        assert!(texts[1].ends_with(CUT_MARKER));
        assert_eq!(texts[2], "next");
    }

    fn endless(
        chunk: &'static [u8],
    ) -> impl futures_util::Stream<Item = Result<LogOutput, bollard::errors::Error>> + Unpin {
        futures_util::stream::repeat_with(move || {
            Ok(LogOutput::StdOut {
                message: bytes::Bytes::from_static(chunk),
            })
        })
    }

    #[tokio::test]
    async fn a_caller_deadline_fires_while_an_endless_log_is_read() {
        // A log that never ends and is always ready: only yielding lets the deadline in.
        static LINE: [u8; 8192] = [b'z'; 8192];
        let caps = ReadCaps {
            bytes: u64::MAX,
            time: Duration::from_secs(24 * 3600),
        };
        let read =
            tokio::time::timeout(Duration::from_millis(50), read_lines(endless(&LINE), caps)).await;
        assert!(read.is_err(), "the read ended by itself");
    }

    #[tokio::test]
    async fn reading_stops_at_the_byte_cap_and_says_so() {
        static LINES: &[u8] = b"0123456789abcdef0123456789abcdef0123456789abcdef012345678901234\n";
        let caps = ReadCaps {
            bytes: 8 << 20,
            time: Duration::from_secs(24 * 3600),
        };
        let lines = read_lines(endless(LINES), caps).await.unwrap();
        let last = lines.last().unwrap();
        assert!(
            last.text.contains("stopped reading this log after 8 MiB"),
            "{}",
            last.text
        );
        let kept: usize = lines.iter().map(|l| l.text.len()).sum();
        assert!(kept <= MAX_LOG_BYTES + last.text.len(), "{kept}");
    }

    #[test]
    fn cpu_and_memory_like_docker_stats() {
        let s: ContainerStatsResponse = serde_json::from_value(serde_json::json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 300}, "system_cpu_usage": 2000, "online_cpus": 2},
            "precpu_stats": {"cpu_usage": {"total_usage": 100}, "system_cpu_usage": 1000, "online_cpus": 2},
            "memory_stats": {"usage": 1000, "limit": 4000, "stats": {"inactive_file": 200}},
            "pids_stats": {"current": 3},
            "networks": {"eth0": {"rx_bytes": 10, "tx_bytes": 20}}
        }))
        .unwrap();
        let st = container_stats(&s);
        assert!((st.cpu_percent - 40.0).abs() < 1e-9, "{}", st.cpu_percent);
        assert_eq!((st.memory_usage, st.memory_limit, st.pids), (800, 4000, 3));
        assert_eq!(st.networks[0].name, "eth0");
        assert_eq!((st.networks[0].rx_bytes, st.networks[0].tx_bytes), (10, 20));
    }
}
