//! Looking at a container: its logs, its processes, one sample of its resource use.

use bollard::container::LogOutput;
use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::{LogsOptions as EngineLogsOptions, StatsOptions};
use futures_util::StreamExt;

use super::guard;
use crate::contract::bindings::docker::{
    ContainerStats, DockerError, LogLine, LogsOptions, NetworkStats, OutputStream, ProcessList,
};
use crate::imports::state::HostState;

/// The most log text handed to a plugin in one call; older lines are dropped first.
const MAX_LOG_BYTES: usize = 4 << 20;

pub async fn logs(
    state: &mut HostState,
    container: &str,
    options: LogsOptions,
) -> Result<Vec<LogLine>, DockerError> {
    let run = state.run()?;
    let id = guard::owned_id(run, container).await?;
    let container = id.as_str();
    let engine = &run.engine;
    if !options.stdout && !options.stderr {
        return Err(DockerError::Invalid(
            "logs: ask for stdout, stderr or both".into(),
        ));
    }
    let query = EngineLogsOptions {
        stdout: options.stdout,
        stderr: options.stderr,
        tail: options
            .tail
            .map_or_else(|| "all".to_string(), |n| n.to_string()),
        ..Default::default()
    };
    let mut chunks = engine.docker.logs(container, Some(query));
    let mut lines = LineCollector::default();
    while let Some(chunk) = chunks.next().await {
        match chunk.map_err(|e| engine.fail(e))? {
            LogOutput::StdErr { message } => lines.push(OutputStream::Stderr, &message),
            LogOutput::StdOut { message } | LogOutput::Console { message } => {
                lines.push(OutputStream::Stdout, &message)
            }
            LogOutput::StdIn { .. } => {}
        }
    }
    Ok(lines.finish())
}

/// Splits engine output chunks into lines per stream, keeping at most
/// [`MAX_LOG_BYTES`] of the newest text.
#[derive(Default)]
struct LineCollector {
    lines: std::collections::VecDeque<LogLine>,
    bytes: usize,
    partial_out: Vec<u8>,
    partial_err: Vec<u8>,
}

impl LineCollector {
    fn push(&mut self, stream: OutputStream, chunk: &[u8]) {
        let mut partial = std::mem::take(match stream {
            OutputStream::Stdout => &mut self.partial_out,
            OutputStream::Stderr => &mut self.partial_err,
        });
        partial.extend_from_slice(chunk);
        while let Some(pos) = partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = partial.drain(..=pos).collect();
            self.add(stream, &line[..line.len() - 1]);
        }
        match stream {
            OutputStream::Stdout => self.partial_out = partial,
            OutputStream::Stderr => self.partial_err = partial,
        }
    }

    fn add(&mut self, stream: OutputStream, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        let text = text.strip_suffix('\r').unwrap_or(&text).to_string();
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
            let rest = std::mem::take(match stream {
                OutputStream::Stdout => &mut self.partial_out,
                OutputStream::Stderr => &mut self.partial_err,
            });
            if !rest.is_empty() {
                self.add(stream, &rest);
            }
        }
        self.lines.into()
    }
}

pub async fn top(state: &mut HostState, container: &str) -> Result<ProcessList, DockerError> {
    let run = state.run()?;
    let id = guard::owned_id(run, container).await?;
    let container = id.as_str();
    let engine = &run.engine;
    let answer = engine
        .docker
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
    let id = guard::owned_id(run, container).await?;
    let container = id.as_str();
    let engine = &run.engine;
    // Not one-shot: the engine then takes two samples, which CPU use needs.
    let query = StatsOptions {
        stream: false,
        one_shot: false,
    };
    let sample = engine
        .docker
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
        let line = vec![b'x'; 1 << 20];
        for _ in 0..6 {
            c.push(OutputStream::Stdout, &line);
            c.push(OutputStream::Stdout, b"\n");
        }
        c.push(OutputStream::Stdout, b"last\n");
        let lines = c.finish();
        assert!(lines.len() < 6, "{}", lines.len());
        assert_eq!(lines.last().unwrap().text, "last");
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
