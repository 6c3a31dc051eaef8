//! One host call from start to end, the same for every Docker import: the manifest
//! check, then the capability's own work (which checks policy and sends, or in a plan
//! simulates), or the recorded answer in a replay; then the recording, the journal entry
//! and the plan's step. This is the one place that reads the run's [`Mode`] for all
//! calls; a reader of a host function sees it as `dispatch(state, call, work)`.

use std::time::Instant;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use super::guard;
use super::mode::Mode;
use super::plan;
use super::recording;
use super::state::{FailedCall, HostState, RunContext};
use crate::contract::bindings::docker::{
    ContainerInfo, ContainerStats, DockerError, EngineSummary, ExecOutput, ProcessList,
};
use crate::contract::bindings::services::ServiceInfo;
use crate::engine::errors;
use crate::journal::{self, Entry};

/// What the contract's host functions return: a trap (the run ends) or the plugin's answer.
pub type R<T> = wasmtime::Result<Result<T, DockerError>>;

/// A call about to be made.
pub struct Call {
    /// The operation's name in the contract, as the journal, plans and manifests know it.
    pub op: &'static str,
    /// What it is on, as the journal shows it.
    pub target: String,
    /// Its arguments as JSON, when the run's mode writes them down or compares them.
    args: Option<Value>,
    /// The run's mode, read once for the call.
    mode: Mode,
}

impl HostState {
    /// The call `op` on `target`; `args` is asked for only when the run records or
    /// replays, so a live run does not pay for the JSON.
    pub fn call(&self, op: &'static str, target: String, args: impl FnOnce() -> Value) -> Call {
        let mode = self.mode();
        let args = mode.keeps_arguments().then(args);
        Call {
            op,
            target,
            args,
            mode,
        }
    }

    /// The run's mode; outside a run (a plugin's `describe`) calls are live, and the
    /// manifest check refuses them.
    pub fn mode(&self) -> Mode {
        self.run.as_ref().map_or(Mode::Live, |run| run.mode.clone())
    }
}

/// Make `call`: `work` is the capability's host function, run unless the plugin's
/// manifest leaves the call out or a replay answers it from the recording.
pub async fn dispatch<T>(
    state: &mut HostState,
    mut call: Call,
    work: impl AsyncFnOnce(&mut HostState) -> Result<T, DockerError>,
) -> R<T>
where
    T: Serialize + DeserializeOwned + Detail,
{
    let started = Instant::now();
    let mode = std::mem::take(&mut call.mode);
    let result = match &mode {
        // A replay answers without the manifest check or the engine: the recording
        // holds what they answered.
        Mode::Replay(r) => recording::lock(r)
            .answer(call.op, call.args.take().unwrap_or(Value::Null))
            .map_err(wasmtime::Error::from_anyhow)?,
        // The manifest is checked before anything else the call would do.
        Mode::Live | Mode::Plan(_) | Mode::Record(_) => match state.permitted(call.op) {
            Ok(()) => work(state).await,
            Err(denied) => Err(denied),
        },
    };
    if let (Mode::Record(r), Some(args)) = (&mode, call.args) {
        recording::lock(r).write(call.op, args, &result);
    }
    state.record(call.op, &call.target, &result, started)?;
    if let Mode::Plan(p) = &mode {
        if let Some(stop) = plan::lock(p).note(call.op, &call.target, &result) {
            return Err(wasmtime::Error::msg(stop));
        }
    }
    Ok(result)
}

impl HostState {
    /// Write the call's journal entry: what was asked, on what, whether policy allowed
    /// it, and how it ended.
    fn record<T: Detail>(
        &mut self,
        op: &str,
        target: &str,
        result: &Result<T, DockerError>,
        started: Instant,
    ) -> wasmtime::Result<()> {
        let Some(run) = &mut self.run else {
            return Ok(());
        };
        if let Err(e) = result {
            run.last_failure = Some(match e {
                DockerError::Denied(message) => {
                    FailedCall::Denied(guard::rule_of(message).map(str::to_string))
                }
                DockerError::EngineUnavailable(_) => FailedCall::Unavailable,
                _ => FailedCall::Other,
            });
        }
        let note = run.note.take();
        let (decision, rule, outcome, detail) = match result {
            Ok(value) => {
                let detail = match (value.detail(), note) {
                    (Some(made), Some(note)) => Some(format!("{made} {note}")),
                    (made, _) => made,
                };
                ("allowed", None, "ok", detail)
            }
            Err(e) => {
                let (case, message) = errors::case_and_message(e);
                let denied = matches!(e, DockerError::Denied(_));
                let rule = denied.then(|| guard::rule_of(message)).flatten();
                let decision = if denied { "denied" } else { "allowed" };
                (decision, rule, case, Some(message.to_string()))
            }
        };
        write(
            run,
            Journaled {
                op,
                target,
                decision,
                rule,
                result: outcome,
                detail,
                started,
            },
        )
    }
}

/// One host call's journal entry.
pub struct Journaled<'a> {
    pub op: &'a str,
    pub target: &'a str,
    /// `allowed` or `denied`.
    pub decision: &'a str,
    pub rule: Option<&'a str>,
    /// `ok`, or the error's case.
    pub result: &'a str,
    pub detail: Option<String>,
    pub started: Instant,
}

/// Write a call's entry for `run`. A call the journal cannot hold ends the run (a trap,
/// so the plugin cannot go on unaudited), and the run is rolled back like any failed one.
pub fn write(run: &RunContext, call: Journaled<'_>) -> wasmtime::Result<()> {
    run.journal
        .record(&Entry::Call {
            time: journal::now(),
            run: run.owner.run_id.clone(),
            team: run.owner.team.clone(),
            plugin: run.owner.plugin.clone(),
            op: call.op.to_string(),
            target: call.target.to_string(),
            decision: call.decision.to_string(),
            rule: call.rule.map(str::to_string),
            result: call.result.to_string(),
            detail: call.detail,
            duration_ms: u64::try_from(call.started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
        .map_err(unaudited)
}

/// The trap of a run whose journal entry could not be written.
pub fn unaudited(e: anyhow::Error) -> wasmtime::Error {
    wasmtime::Error::msg(format!(
        "{e:#}; the run stops, as nothing unaudited may happen"
    ))
}

/// What of a call's result goes into the journal: ids of what was made, exit codes.
pub trait Detail {
    fn detail(&self) -> Option<String> {
        None
    }
}

impl Detail for String {
    fn detail(&self) -> Option<String> {
        Some(self.clone())
    }
}

impl Detail for i64 {
    fn detail(&self) -> Option<String> {
        Some(format!("exit code {self}"))
    }
}

impl Detail for ExecOutput {
    fn detail(&self) -> Option<String> {
        Some(format!("exit code {}", self.exit_code))
    }
}

impl Detail for () {}
impl Detail for ContainerInfo {}
impl Detail for ProcessList {}
impl Detail for ContainerStats {}
impl Detail for EngineSummary {}
impl Detail for ServiceInfo {
    fn detail(&self) -> Option<String> {
        Some(format!(
            "{} of {} replicas running",
            self.running_replicas, self.desired_replicas
        ))
    }
}
impl<T> Detail for Vec<T> {}
