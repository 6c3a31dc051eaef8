//! Where a plugin's words go: its stdout and stderr, its `host.log` lines and the
//! output of the builds it starts. Each line is marked with the plugin's name so the
//! user always knows who is speaking. The CLI prints to stderr, keeping stdout for
//! the run's outputs (and `--json`), each line inert (see [`super::text`]).

use std::io::Write;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};

use super::text;

/// Where a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Stdout,
    Stderr,
    Log(Level),
    /// Output of an image build the plugin asked for.
    Build,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug,
    Info,
    Warn,
    Error,
}

/// A sink for plugin output lines.
pub trait Console: Send + Sync + 'static {
    fn line(&self, plugin: &str, source: Source, text: &str);
}

/// The user's terminal: lines go to stderr as `[plugin] text`.
pub struct Terminal {
    /// Show `debug` log lines too.
    pub verbose: bool,
}

impl Console for Terminal {
    fn line(&self, plugin: &str, source: Source, text: &str) {
        let tag = match source {
            Source::Log(Level::Debug) if !self.verbose => return,
            Source::Log(Level::Debug) => "debug: ",
            Source::Log(Level::Warn) => "warning: ",
            Source::Log(Level::Error) => "error: ",
            Source::Build => "build: ",
            Source::Log(Level::Info) | Source::Stdout | Source::Stderr => "",
        };
        let shown = tagged(plugin, tag, text);
        // A closed stderr is no reason to fail the run.
        let _ = std::io::stderr().lock().write_all(shown.as_bytes());
    }
}

/// `text` as the terminal shows it: each of its lines marked with the plugin's name and
/// `tag`, so that no line a plugin writes can pass for another plugin's or the host's,
/// and with the characters a terminal would obey written out (see [`text::inert`]).
pub fn tagged(plugin: &str, tag: &str, text: &str) -> String {
    let plugin = text::inert_line(plugin);
    let mut out = String::with_capacity(text.len() + plugin.len() + tag.len() + 4);
    for line in text.split('\n') {
        out.push_str(&format!("[{plugin}] {tag}{}\n", text::inert_line(line)));
    }
    out
}

/// Keeps every line; for tests and for callers that show output later.
#[derive(Default)]
pub struct Captured {
    lines: Mutex<Vec<(String, Source, String)>>,
}

impl Captured {
    #[cfg(test)]
    pub fn lines(&self) -> Vec<(String, Source, String)> {
        self.lines.lock().expect("console lock").clone()
    }
}

impl Console for Captured {
    fn line(&self, plugin: &str, source: Source, text: &str) {
        self.lines.lock().expect("console lock").push((
            plugin.to_string(),
            source,
            text.to_string(),
        ));
    }
}

/// A console with an output budget for one run. Past the budget, lines are dropped,
/// one line says why, and [`Budgeted::exceeded`] resolves so the run can be stopped.
/// Build progress is not counted: the engine, not the plugin, writes it.
pub struct Budgeted {
    inner: Arc<dyn Console>,
    limit: u64,
    used: std::sync::atomic::AtomicU64,
    over: tokio::sync::watch::Sender<bool>,
}

impl Budgeted {
    pub fn new(inner: Arc<dyn Console>, limit: u64) -> Arc<Self> {
        Arc::new(Self {
            inner,
            limit,
            used: std::sync::atomic::AtomicU64::new(0),
            over: tokio::sync::watch::Sender::new(false),
        })
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Resolves once the budget is spent.
    pub async fn exceeded(&self) {
        let mut rx = self.over.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail.
        let _ = rx.wait_for(|over| *over).await;
    }
}

impl Console for Budgeted {
    fn line(&self, plugin: &str, source: Source, text: &str) {
        if source == Source::Build {
            return self.inner.line(plugin, source, text);
        }
        if *self.over.borrow() {
            return;
        }
        let cost = text.len() as u64 + 1;
        let used = self
            .used
            .fetch_add(cost, std::sync::atomic::Ordering::SeqCst)
            + cost;
        if used > self.limit {
            self.over.send_replace(true);
            let note = format!(
                "output limit of {} bytes reached: stopping the run",
                self.limit
            );
            return self.inner.line(plugin, Source::Log(Level::Error), &note);
        }
        self.inner.line(plugin, source, text);
    }
}

/// A plugin's WASI stdout or stderr, forwarded line by line to a [`Console`].
#[derive(Clone)]
pub struct PluginStream {
    plugin: Arc<str>,
    source: Source,
    console: Arc<dyn Console>,
}

impl PluginStream {
    pub fn new(plugin: Arc<str>, source: Source, console: Arc<dyn Console>) -> Self {
        Self {
            plugin,
            source,
            console,
        }
    }
}

impl IsTerminal for PluginStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for PluginStream {
    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(LineWriter {
            stream: self.clone(),
            pending: Vec::new(),
        })
    }
}

/// Longest partial line kept before it is shown anyway, so a plugin that never
/// writes a newline cannot grow host memory.
const MAX_PENDING: usize = 16 * 1024;

struct LineWriter {
    stream: PluginStream,
    pending: Vec<u8>,
}

impl LineWriter {
    fn emit(&self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        let text = text.strip_suffix('\r').unwrap_or(&text);
        self.stream
            .console
            .line(&self.stream.plugin, self.stream.source, text);
    }

    fn push(&mut self, buf: &[u8]) {
        self.pending.extend_from_slice(buf);
        while let Some(pos) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=pos).collect();
            self.emit(&line[..line.len() - 1]);
        }
        if self.pending.len() > MAX_PENDING {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line);
        }
    }

    fn finish(&mut self) {
        if !self.pending.is_empty() {
            let line = std::mem::take(&mut self.pending);
            self.emit(&line);
        }
    }
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.get_mut().push(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        self.get_mut().finish();
        Poll::Ready(Ok(()))
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        self.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer(console: Arc<Captured>) -> LineWriter {
        LineWriter {
            stream: PluginStream::new("p".into(), Source::Stdout, console),
            pending: Vec::new(),
        }
    }

    fn texts(c: &Captured) -> Vec<String> {
        c.lines().into_iter().map(|(_, _, t)| t).collect()
    }

    #[test]
    fn splits_lines_across_writes() {
        let console = Arc::new(Captured::default());
        let mut w = writer(console.clone());
        w.push(b"hel");
        w.push(b"lo\nwor");
        assert_eq!(texts(&console), ["hello"]);
        w.push(b"ld\r\n\nlast");
        drop(w);
        assert_eq!(texts(&console), ["hello", "world", "", "last"]);
    }

    #[tokio::test]
    async fn budgets_stop_output_and_signal() {
        let inner = Arc::new(Captured::default());
        let budget = Budgeted::new(inner.clone(), 10);
        budget.line("p", Source::Stdout, "12345");
        budget.line("p", Source::Build, &"b".repeat(100));
        budget.line("p", Source::Stdout, "123");
        budget.line("p", Source::Stdout, "over");
        budget.line("p", Source::Stdout, "dropped");
        tokio::time::timeout(std::time::Duration::from_secs(1), budget.exceeded())
            .await
            .expect("exceeded resolves");
        let lines = texts(&inner);
        assert_eq!(lines.len(), 4, "{lines:?}");
        assert_eq!(lines[2], "123");
        assert!(lines[3].contains("output limit of 10 bytes"), "{lines:?}");
    }

    #[test]
    fn terminal_lines_are_inert_and_each_tagged() {
        assert_eq!(
            tagged("p", "warning: ", "\x1b]0;pwned\x07\x1b[2J"),
            "[p] warning: \\x1b]0;pwned\\x07\\x1b[2J\n"
        );
        // A line cannot pose as another plugin's by starting a line of its own.
        assert_eq!(
            tagged("p", "", "mine\n[other] theirs\r"),
            "[p] mine\n[p] [other] theirs\\r\n"
        );
    }

    #[test]
    fn long_partial_lines_are_shown_not_kept() {
        let console = Arc::new(Captured::default());
        let mut w = writer(console.clone());
        w.push(&vec![b'x'; MAX_PENDING + 1]);
        assert_eq!(console.lines().len(), 1);
        assert!(w.pending.is_empty());
    }
}
