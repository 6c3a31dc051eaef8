//! The runs this server started: their log lines as they come, their end, and who
//! is waiting for either. A run is found only by its own team.
//!
//! Lines are kept in the run (not only streamed) so a client that subscribes late,
//! or reconnects with `Last-Event-ID`, gets everything from where it left off; a
//! watch channel wakes waiters, so no subscriber can lag behind and lose lines.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::journal;
use crate::journal::history::{RunSummary, TornDown};
use crate::policy::people::Person;
use crate::run::{RunReport, Status};
use crate::util::console::{Console, Level, Source};

/// Finished runs kept in memory; older ones are still found in the journal, without
/// their log lines.
const RETAINED: usize = 500;

/// Log kept per run. The plugin's own output is capped by its team's policy; build
/// progress is not, so this bounds what one run can make the server hold.
const MAX_LINES: usize = 10_000;
const MAX_LOG_BYTES: usize = 4 << 20;

/// One line a run's plugin (or a build it started) wrote.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Line {
    /// 1, 2, ...: the SSE event id, for resuming.
    pub seq: u64,
    pub time: String,
    /// `stdout`, `stderr`, `log` or `build`.
    pub stream: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub level: Option<&'static str>,
    pub text: String,
}

#[derive(Default)]
struct State {
    lines: Vec<Line>,
    log_bytes: usize,
    dropped: u64,
    report: Option<RunReport>,
    torn_down: Option<TornDown>,
}

/// A run of this server, in flight or ended.
pub struct RunRecord {
    pub id: String,
    pub team: String,
    pub plugin: String,
    pub workflow: String,
    /// The engine it runs on, by its name in the config.
    pub engine: String,
    pub params: Vec<(String, String)>,
    pub started: String,
    /// Who started it.
    pub person: Person,
    /// Cancelling it interrupts the run, which then rolls back.
    pub cancel: CancellationToken,
    state: Mutex<State>,
    /// Bumped on every new line and at the end.
    changed: watch::Sender<u64>,
}

impl RunRecord {
    /// A run `id` of `team`, started by `person`.
    pub fn new(
        id: String,
        (team, person): (String, Person),
        plugin: String,
        workflow: String,
        engine: String,
        params: Vec<(String, String)>,
        cancel: CancellationToken,
    ) -> Arc<Self> {
        Arc::new(Self {
            id,
            team,
            plugin,
            workflow,
            engine,
            params,
            person,
            started: journal::now(),
            cancel,
            state: Mutex::new(State::default()),
            changed: watch::Sender::new(0),
        })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere mid-update of plain data.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Record the run's end and wake everyone waiting.
    pub fn finish(&self, report: RunReport) {
        self.state().report = Some(report);
        self.changed.send_modify(|n| *n += 1);
    }

    pub fn report(&self) -> Option<RunReport> {
        self.state().report.clone()
    }

    /// When the run's environment was torn down, if it was.
    pub fn torn_down(&self) -> Option<TornDown> {
        self.state().torn_down.clone()
    }

    /// Mark the run torn down: the first teardown is kept, and returned when there was
    /// one already (as `Err`).
    pub fn tear_down(&self, torn: TornDown) -> Result<(), TornDown> {
        let mut state = self.state();
        match &state.torn_down {
            Some(first) => Err(first.clone()),
            None => {
                state.torn_down = Some(torn);
                Ok(())
            }
        }
    }

    /// The run's end, once it comes.
    pub async fn ended(&self) -> RunReport {
        let mut rx = self.changed.subscribe();
        loop {
            if let Some(report) = self.report() {
                return report;
            }
            // The sender lives in `self`: this cannot fail while we hold `self`.
            let _ = rx.changed().await;
        }
    }

    /// The lines after `after`, and the end if the run has ended (read together, so
    /// a line is never missed between the two).
    pub fn since(&self, after: u64) -> (Vec<Line>, Option<RunReport>) {
        let state = self.state();
        let start = state.lines.partition_point(|l| l.seq <= after);
        (state.lines[start..].to_vec(), state.report.clone())
    }

    /// Something to wait on for the next line or the end.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    /// The run as the API shows it. `containers` overrides the report's (for a run
    /// in flight, whose containers only the engine knows yet).
    pub fn view(&self, containers: Option<Vec<String>>) -> Value {
        let state = self.state();
        let mut view = match &state.report {
            Some(report) => report_view(report, &self.started),
            None => serde_json::json!({
                "id": self.id,
                "status": "running",
                "team": self.team,
                "plugin": self.plugin,
                "workflow": self.workflow,
                "engine": self.engine,
                "started": self.started,
                "duration_ms": null,
                "outputs": {},
                "error": null,
                "cause": null,
                "containers": [],
                "images": [],
                "rolled_back": [],
                "torn_down": null,
                "expires": null,
                "expired": null,
            }),
        };
        view["params"] = params(&self.params);
        view["user"] = self.person.id.clone().into();
        view["user_name"] = self.person.name.clone().into();
        view["torn_down"] = serde_json::to_value(&state.torn_down).unwrap_or_default();
        if let Some(containers) = containers {
            view["containers"] = containers.into();
        }
        view["log"] = serde_json::to_value(&state.lines).unwrap_or_default();
        if state.dropped > 0 {
            view["log_dropped"] = state.dropped.into();
        }
        view["links"] = links(&self.id);
        view
    }
}

/// A report as the API shows it (without params, log and links).
fn report_view(report: &RunReport, started: &str) -> Value {
    let mut view = serde_json::json!({
        "id": report.run,
        "status": match report.status { Status::Ok => "ok", Status::Failed => "failed" },
        "team": report.team,
        "plugin": report.plugin,
        "workflow": report.workflow,
        "engine": report.engine,
        "started": started,
        "duration_ms": report.duration_ms,
        "outputs": report.outputs,
        "error": report.error,
        "cause": report.cause,
        "containers": report.containers,
        "images": report.images,
        "rolled_back": report.rolled_back,
        "torn_down": null,
        "expires": report.expires,
        "expired": null,
    });
    if !report.rollback_errors.is_empty() {
        view["rollback_errors"] = report.rollback_errors.clone().into();
    }
    view
}

/// A run known only from the journal (ended before this server started, or run from
/// the CLI): the same shape, without log lines.
pub fn summary_view(summary: &RunSummary, run_params: &[(String, String)]) -> Value {
    serde_json::json!({
        "id": summary.run,
        "status": summary.status,
        "team": summary.team,
        "plugin": summary.plugin,
        "workflow": summary.workflow,
        "engine": summary.engine,
        "params": params(run_params),
        "started": summary.started,
        "duration_ms": summary.duration_ms,
        "outputs": {},
        "error": summary.error,
        "cause": summary.cause,
        "containers": summary.containers,
        "images": summary.images,
        "rolled_back": summary.rolled_back,
        "torn_down": summary.torn_down,
        "expires": summary.expires,
        "expired": summary.expired,
        "user": summary.user,
        "user_name": summary.user_name,
        "log": [],
        "links": links(&summary.run),
    })
}

/// A run's params as the API shows them: each value capped as the journal keeps it
/// (see [`crate::util::text::cap`]), so that a run answers alike from memory and from
/// the journal, and no answer repeats a megabyte a caller sent.
fn params(params: &[(String, String)]) -> Value {
    Value::Object(
        params
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(crate::util::text::cap(v))))
            .collect::<Map<_, _>>(),
    )
}

fn links(id: &str) -> Value {
    serde_json::json!({
        "self": format!("/v1/runs/{id}"),
        "events": format!("/v1/runs/{id}/events"),
    })
}

impl Console for RunRecord {
    fn line(&self, _plugin: &str, source: Source, text: &str) {
        let (stream, level) = match source {
            Source::Stdout => ("stdout", None),
            Source::Stderr => ("stderr", None),
            Source::Build => ("build", None),
            Source::Log(level) => (
                "log",
                Some(match level {
                    Level::Debug => "debug",
                    Level::Info => "info",
                    Level::Warn => "warn",
                    Level::Error => "error",
                }),
            ),
        };
        {
            let mut state = self.state();
            if state.lines.len() >= MAX_LINES || state.log_bytes + text.len() > MAX_LOG_BYTES {
                state.dropped += 1;
                return;
            }
            state.log_bytes += text.len();
            let seq = state.lines.len() as u64 + 1;
            state.lines.push(Line {
                seq,
                time: journal::now(),
                stream,
                level,
                text: text.to_string(),
            });
        }
        self.changed.send_modify(|n| *n += 1);
    }
}

/// The runs of this server by id; finished ones beyond [`RETAINED`] are forgotten,
/// oldest first.
#[derive(Default)]
pub struct Started {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    runs: HashMap<String, Arc<RunRecord>>,
    finished: VecDeque<String>,
}

impl Started {
    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn insert(&self, record: Arc<RunRecord>) {
        self.inner().runs.insert(record.id.clone(), record);
    }

    /// Note that a run ended, forgetting the oldest ended ones past the limit.
    pub fn ended(&self, id: &str) {
        let mut inner = self.inner();
        inner.finished.push_back(id.to_string());
        while inner.finished.len() > RETAINED {
            if let Some(old) = inner.finished.pop_front() {
                inner.runs.remove(&old);
            }
        }
    }

    /// The run `id` if it is `team`'s.
    pub fn get(&self, id: &str, team: &str) -> Option<Arc<RunRecord>> {
        self.inner()
            .runs
            .get(id)
            .filter(|r| r.team == team)
            .cloned()
    }

    /// The runs still in flight.
    pub fn running(&self) -> Vec<Arc<RunRecord>> {
        self.inner()
            .runs
            .values()
            .filter(|r| r.report().is_none())
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, team: &str) -> Arc<RunRecord> {
        RunRecord::new(
            id.into(),
            (team.into(), Person::team_token()),
            "probe".into(),
            "create".into(),
            "default".into(),
            vec![("image".into(), "x".into())],
            CancellationToken::new(),
        )
    }

    fn report(id: &str) -> RunReport {
        RunReport {
            run: id.into(),
            plugin: "probe".into(),
            workflow: "create".into(),
            team: "blue".into(),
            engine: "default".into(),
            status: Status::Failed,
            outputs: Map::new(),
            error: Some("boom".into()),
            cause: Some(crate::run::cause::Cause::Plugin),
            containers: vec!["c1".into()],
            services: vec![],
            images: vec![],
            rolled_back: vec!["c1".into()],
            rollback_errors: vec![],
            expires: None,
            duration_ms: 5,
        }
    }

    #[test]
    fn runs_are_found_by_their_team_only() {
        let registry = Started::default();
        registry.insert(record("a1", "blue"));
        assert!(registry.get("a1", "blue").is_some());
        assert!(registry.get("a1", "red").is_none());
        assert!(registry.get("a2", "blue").is_none());
        assert_eq!(registry.running().len(), 1);
    }

    #[test]
    fn old_finished_runs_are_forgotten() {
        let registry = Started::default();
        for i in 0..RETAINED + 2 {
            let id = format!("{i:x}");
            registry.insert(record(&id, "blue"));
            registry.ended(&id);
        }
        assert!(registry.get("0", "blue").is_none());
        assert!(registry.get("1", "blue").is_none());
        assert!(registry.get("2", "blue").is_some());
    }

    #[tokio::test]
    async fn lines_and_the_end_reach_late_readers() {
        let run = record("a1", "blue");
        run.line("probe", Source::Stdout, "one");
        run.line("probe", Source::Log(Level::Warn), "two");
        run.line("probe", Source::Build, "Step 1/2");
        let (lines, end) = run.since(0);
        assert_eq!(lines.len(), 3);
        assert!(end.is_none());
        assert_eq!(lines[1].stream, "log");
        assert_eq!(lines[1].level, Some("warn"));
        assert_eq!(lines[2].stream, "build");
        let (lines, _) = run.since(2);
        assert_eq!(lines.iter().map(|l| l.seq).collect::<Vec<_>>(), [3]);

        let view = run.view(Some(vec!["c9".into()]));
        assert_eq!(view["status"], "running");
        assert_eq!(view["containers"][0], "c9");
        assert_eq!(view["params"]["image"], "x");
        assert_eq!(view["log"][0]["text"], "one");

        let waiter = {
            let run = run.clone();
            tokio::spawn(async move { run.ended().await })
        };
        run.finish(report("a1"));
        let ended = tokio::time::timeout(std::time::Duration::from_secs(1), waiter)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(ended.error.as_deref(), Some("boom"));
        let view = run.view(None);
        assert_eq!(view["status"], "failed");
        assert_eq!(view["rolled_back"][0], "c1");
        assert_eq!(view["links"]["events"], "/v1/runs/a1/events");
    }

    #[test]
    fn the_log_is_bounded() {
        let run = record("a1", "blue");
        for _ in 0..MAX_LINES + 5 {
            run.line("probe", Source::Build, "x");
        }
        let view = run.view(None);
        assert_eq!(view["log"].as_array().unwrap().len(), MAX_LINES);
        assert_eq!(view["log_dropped"], 5);
    }
}
