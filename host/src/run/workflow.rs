//! Running one workflow: a fresh instance with its own run id, and when the run
//! fails (an error, a trap, a cancel) the containers it created are removed, newest
//! first, unless the user asked to keep them.

use std::collections::hash_map::RandomState;
use std::future::Future;
use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::path::PathBuf;

use serde::Serialize;

use super::cause::Cause;
use crate::contract::bindings::KeyValue;
use crate::engine::containers::{labelled, remove_all};
use crate::engine::Engine;
use crate::imports::mode::Mode;
use crate::imports::state::RunContext;
use crate::journal::liveness::LiveRun;
use crate::journal::{self, Entry, Journal};
use crate::plugin::catalog::LoadedPlugin;
use crate::plugin::runtime::Runtime;
use crate::policy::labels::Owner;
use crate::policy::lifetime;
use crate::policy::people::Person;
use crate::policy::TeamPolicy;
use crate::util::console::{Budgeted, Console, Level, Source};
use crate::util::text;

/// How a run is made.
#[derive(Clone)]
pub struct RunOptions {
    /// The policy of the team the run is for.
    pub policy: Arc<TeamPolicy>,
    /// Leave what a failed run created in place, for debugging.
    pub keep_on_failure: bool,
    pub journal: Arc<Journal>,
    /// Where live-run locks are kept (see [`crate::journal::liveness`]).
    pub state_dir: PathBuf,
    /// How the run meets the engine: for real, as a plan, recorded or replayed
    /// (see [`crate::imports::mode`]).
    pub mode: Mode,
    /// Who asked for the run, as the plugin's run context says (`host.current-run`):
    /// the user name on the command line, the token over HTTP.
    pub caller: Option<String>,
    /// The person the run is for: journaled, labelled (`dockwright.user`), and
    /// counted by the team's per-person quota.
    pub user: Option<Person>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Failed,
}

/// What happened in a run, as `--json` prints it.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub run: String,
    pub plugin: String,
    pub workflow: String,
    pub team: String,
    /// The engine the run was made on, by its name in the config.
    pub engine: String,
    pub status: Status,
    /// The workflow's outputs, in the order the plugin gave them.
    pub outputs: serde_json::Map<String, serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why it failed, in a kind a client can act on; none when it did not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// Containers the run created, oldest first.
    pub containers: Vec<String>,
    /// Services the run created, oldest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<String>,
    /// Images the run built or committed; never removed by a rollback.
    pub images: Vec<String>,
    /// Containers removed by the rollback of a failed run.
    pub rolled_back: Vec<String>,
    /// Containers the rollback could not remove, with why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rollback_errors: Vec<String>,
    /// When what the run made expires (its team's lifetime, or what its workflow
    /// asked); none: it does not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires: Option<String>,
    pub duration_ms: u64,
}

impl RunReport {
    /// The report of a run that failed with `error` before the plugin ran or
    /// without its own report.
    pub fn failed(
        run: &str,
        plugin: &str,
        workflow: &str,
        team: &str,
        engine: &str,
        error: String,
    ) -> RunReport {
        RunReport {
            run: run.to_string(),
            plugin: plugin.to_string(),
            workflow: workflow.to_string(),
            team: team.to_string(),
            engine: engine.to_string(),
            status: Status::Failed,
            outputs: serde_json::Map::new(),
            error: Some(text::cap_owned(error)),
            cause: Some(Cause::Internal),
            containers: Vec::new(),
            services: Vec::new(),
            images: Vec::new(),
            rolled_back: Vec::new(),
            rollback_errors: Vec::new(),
            expires: None,
            duration_ms: 0,
        }
    }

    /// The report with what a plugin or an engine wrote in it (its error, its outputs,
    /// why a rollback failed) cut to [`text::CAP`] each: the report is printed, kept by
    /// the server, journaled and recorded, and none of those should take a plugin's word
    /// for how large it may be.
    fn bounded(mut self) -> RunReport {
        self.error = self.error.map(text::cap_owned);
        if self.outputs.iter().any(|(k, v)| too_long(k, v)) {
            self.outputs = std::mem::take(&mut self.outputs)
                .into_iter()
                .map(|(k, v)| (text::cap_owned(k), capped_value(v)))
                .collect();
        }
        self.rollback_errors = self
            .rollback_errors
            .into_iter()
            .map(text::cap_owned)
            .collect();
        self
    }
}

fn too_long(key: &str, value: &serde_json::Value) -> bool {
    key.len() > text::CAP || value.as_str().is_some_and(|v| v.len() > text::CAP)
}

fn capped_value(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::String(s) => serde_json::Value::String(text::cap_owned(s)),
        other => other,
    }
}

/// A fresh run id: sortable by time, unique enough across processes.
pub fn new_run_id() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut h = RandomState::new().build_hasher();
    h.write_u128(now.as_nanos());
    h.write_u32(std::process::id());
    format!("{:011x}{:05x}", now.as_millis(), h.finish() & 0xf_ffff)
}

/// One run to make: the plugin and its workflow, the params it is given (resolved),
/// the engine it runs on and where its lines go; `options` says for whom and how.
pub struct RunRequest<'a> {
    pub runtime: &'a Runtime,
    pub plugin: &'a LoadedPlugin,
    pub workflow: &'a str,
    pub params: Vec<(String, String)>,
    pub engine: Engine,
    pub console: Arc<dyn Console>,
    pub options: &'a RunOptions,
}

/// Run the request under a fresh run id. The run stops, and is rolled back, when the
/// plugin fails or traps, when it goes over a limit of its team's policy (time,
/// memory, output), or when `cancel` resolves (Ctrl-C).
pub async fn run_workflow(request: RunRequest<'_>, cancel: impl Future<Output = ()>) -> RunReport {
    run_workflow_as(&new_run_id(), request, cancel).await
}

/// [`run_workflow`] under a run id the caller chose (with [`new_run_id`]), for
/// callers that must name the run before it ends, such as the HTTP API.
///
/// The steps, in order: journal the start (nothing unaudited happens), admit the plugin
/// by the team's policy, hold the run's live lock, run the workflow in its instance
/// under the team's limits, settle the outcome (rolling back a failure), journal the end.
pub async fn run_workflow_as(
    run_id: &str,
    request: RunRequest<'_>,
    cancel: impl Future<Output = ()>,
) -> RunReport {
    let started = Instant::now();
    let RunRequest {
        runtime,
        plugin,
        workflow,
        params,
        engine,
        console,
        options,
    } = request;
    // Only a run that changes the engine leaves an environment to expire.
    let expires = options
        .mode
        .changes_the_engine()
        .then(|| lifetime::expiry_at_start(&options.policy, SystemTime::now()))
        .flatten()
        .map(journal::timestamp);
    let owner = Owner {
        team: options.policy.name.clone(),
        run_id: run_id.to_string(),
        plugin: plugin.info.name.clone(),
        plugin_sha256: plugin.sha256.clone(),
        engine: engine.name.clone(),
        expires,
        user: options.user.clone(),
    };
    let mut report = RunReport::failed(
        &owner.run_id,
        &owner.plugin,
        workflow,
        &owner.team,
        &owner.engine,
        String::new(),
    );
    report.error = None;
    if let Err(e) = journal_start(options, &owner, workflow, &params) {
        // With nothing journaled, nothing reaches the engine (and no end is written).
        report.error = Some(format!("the run did not start: {e:#}"));
        return report.bounded();
    }
    let end = |report: RunReport| journal_end(options, &*console, started, report);
    if let Err(denial) = plugin.admitted(&options.policy) {
        report.error = Some(denial.to_string());
        report.cause = Some(Cause::Policy);
        return end(report);
    }
    let live = match LiveRun::acquire(&options.state_dir, &owner.run_id) {
        Ok(live) => live,
        Err(e) => {
            report.error = Some(format!("{e:#}"));
            return end(report);
        }
    };
    let mut context = RunContext::new(
        engine,
        owner,
        options.policy.clone(),
        options.journal.clone(),
        options.state_dir.clone(),
        plugin.info.manifest(),
    );
    context.mode = options.mode.clone();
    context.caller = options.caller.clone();
    let instance = Instance {
        runtime,
        plugin,
        workflow,
        console: console.clone(),
    };
    let (outcome, run) = instance.run(context, params, cancel).await;
    settle(&mut report, outcome, &run, options).await;
    live.finish();
    end(report)
}

/// How a workflow ended: its outputs, or its error and, when the host knows it
/// already (a limit, a cancel), why.
type Outcome = Result<Vec<KeyValue>, (String, Option<Cause>)>;

/// Journal the run's start: who runs what, where, with which params.
fn journal_start(
    options: &RunOptions,
    owner: &Owner,
    workflow: &str,
    params: &[(String, String)],
) -> anyhow::Result<()> {
    options.journal.record(&Entry::RunStart {
        time: journal::now(),
        run: owner.run_id.clone(),
        team: owner.team.clone(),
        plugin: owner.plugin.clone(),
        plugin_sha256: owner.plugin_sha256.clone(),
        workflow: workflow.to_string(),
        params: params.to_vec(),
        pid: std::process::id(),
        engine: owner.engine.clone(),
        expires: owner.expires.clone(),
        user: owner.user.as_ref().map(|p| p.id.clone()),
        user_name: owner.user.as_ref().and_then(|p| p.name.clone()),
    })
}

/// Journal the run's end and give the report back, bounded and timed.
fn journal_end(
    options: &RunOptions,
    console: &dyn Console,
    started: Instant,
    report: RunReport,
) -> RunReport {
    let mut report = report.bounded();
    report.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    let ended = options.journal.record(&Entry::RunEnd {
        time: journal::now(),
        run: report.run.clone(),
        team: report.team.clone(),
        plugin: report.plugin.clone(),
        workflow: report.workflow.clone(),
        status: if report.status == Status::Ok {
            "ok"
        } else {
            "failed"
        }
        .to_string(),
        error: report.error.clone(),
        cause: report.cause.map(|c| c.as_str().to_string()),
        containers: report.containers.clone(),
        images: report.images.clone(),
        rolled_back: report.rolled_back.clone(),
        duration_ms: report.duration_ms,
    });
    if let Err(e) = ended {
        // What the run did is journaled call by call and is what it is; only its
        // end is missing (`dockwright runs` shows it as `died`), so say so.
        console.line(
            &report.plugin,
            Source::Log(Level::Warn),
            &format!("run {}: its end is not in the journal: {e:#}", report.run),
        );
    }
    report
}

/// The plugin's instance for one run.
struct Instance<'a> {
    runtime: &'a Runtime,
    plugin: &'a LoadedPlugin,
    workflow: &'a str,
    console: Arc<dyn Console>,
}

impl Instance<'_> {
    /// Run the workflow in a fresh instance under the team's limits (time, memory,
    /// output) until it ends or `cancel` resolves; the run context comes back with
    /// what the run made.
    async fn run(
        self,
        context: RunContext,
        params: Vec<(String, String)>,
        cancel: impl Future<Output = ()>,
    ) -> (Outcome, RunContext) {
        let Instance {
            runtime,
            plugin,
            workflow,
            console,
        } = self;
        let limits = context.policy.limits.clone();
        let budget = Budgeted::new(console, limits.log_bytes);
        let name: Arc<str> = plugin.info.name.as_str().into();
        let memory = usize::try_from(limits.memory_bytes).unwrap_or(usize::MAX);
        let mut store = runtime.store(name, budget.clone(), Some(context), memory);
        let params: Vec<KeyValue> = params
            .into_iter()
            .map(|(key, value)| KeyValue { key, value })
            .collect();
        let call = async {
            let pre = plugin.pre(runtime).map_err(wasmtime::Error::from_anyhow)?;
            let instance = pre.instantiate_async(&mut store).await?;
            instance
                .dockwright_plugin_workflows()
                .call_run(&mut store, workflow, &params)
                .await
        };
        let who = format!("plugin `{}` in workflow `{workflow}`", plugin.info.name);
        // A failure of the workflow's own is classed by the calls it made (in
        // `settle`, once the store is free); the host's limits and cancels are known here.
        let outcome = tokio::select! {
            result = call => match result {
                Ok(Ok(outputs)) => Ok(outputs),
                Ok(Err(message)) => Err((format!("workflow `{workflow}` failed: {message}"), None)),
                Err(trap) => Err((format!("{who} crashed: {trap:#}"), None)),
            },
            () = cancel => Err((format!("workflow `{workflow}` was interrupted"), Some(Cause::Cancelled))),
            () = budget.exceeded() => Err((format!(
                "{who} went over its output limit of {} bytes (policy `plugin_limits.log`)",
                budget.limit()
            ), Some(Cause::Limit))),
            () = tokio::time::sleep(limits.timeout) => Err((format!(
                "{who} went over its time limit of {} (policy `plugin_limits.timeout`)",
                humane_duration(limits.timeout)
            ), Some(Cause::Limit))),
        };
        let outcome = match outcome {
            Err(_) if store.data().memory.hit => Err((
                format!(
                    "{who} went over its memory limit of {} MiB (policy `plugin_limits.memory`)",
                    limits.memory_bytes >> 20
                ),
                Some(Cause::Limit),
            )),
            other => other,
        };
        let run = store
            .data_mut()
            .run
            .take()
            .expect("the run context outlives the run");
        (outcome, run)
    }
}

/// Write the outcome into the report: the outputs, or the error with its cause; a
/// failure is rolled back unless the user asked to keep what it made.
async fn settle(report: &mut RunReport, outcome: Outcome, run: &RunContext, options: &RunOptions) {
    report.containers = run.containers.clone();
    report.expires = run.owner.expires.clone();
    report.services = run.services.clone();
    report.images = run.images.clone();
    match outcome {
        Ok(outputs) => {
            report.status = Status::Ok;
            report.cause = None;
            for kv in outputs {
                report.outputs.insert(kv.key, kv.value.into());
            }
        }
        Err((message, cause)) => {
            report.error = Some(message);
            report.cause =
                Some(cause.unwrap_or_else(|| Cause::of_workflow(run.last_failure.as_ref())));
            // Nothing reached an engine in a plan or a replay: nothing to roll back.
            if !run.mode.changes_the_engine() {
                // What a rollback would remove, newest first.
                report.rolled_back = run.containers.iter().rev().cloned().collect();
            } else if !options.keep_on_failure {
                let (removed, failed) = rollback(
                    &run.engine,
                    &run.owner.run_id,
                    &run.containers,
                    &run.services,
                )
                .await;
                report.rolled_back = removed;
                report.rollback_errors = failed;
            }
        }
    }
}

fn humane_duration(d: Duration) -> String {
    match d.as_secs() {
        0 => format!("{} ms", d.as_millis()),
        s if s.is_multiple_of(60) => format!("{} min", s / 60),
        s => format!("{s} s"),
    }
}

/// Remove the run's services, then its containers, newest first. Besides the ones
/// the run recorded, any the engine holds with the run's label go too: a create
/// that was cut off (by a deadline or Ctrl-C) after the engine acted but before it
/// answered is still found. Ones already gone count as removed.
pub async fn rollback(
    engine: &Engine,
    run_id: &str,
    containers: &[String],
    services: &[String],
) -> (Vec<String>, Vec<String>) {
    if !engine.connected() && containers.is_empty() && services.is_empty() {
        // No request went to the engine: there is nothing to look for.
        return (Vec::new(), Vec::new());
    }
    let newest_first = |recorded: &[String], found: Vec<String>| {
        let mut all = recorded.to_vec();
        for id in found {
            if !all.contains(&id) {
                all.push(id);
            }
        }
        all.reverse();
        all
    };
    let services = newest_first(
        services,
        crate::engine::services::labelled(engine, run_id).await,
    );
    let (mut removed, mut failed) = crate::engine::services::remove_all(engine, &services).await;
    let containers = newest_first(containers, labelled(engine, run_id).await);
    let (more_removed, more_failed) = remove_all(engine, &containers).await;
    removed.extend(more_removed);
    failed.extend(more_failed);
    (removed, failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_are_unique_and_sortable() {
        let a = new_run_id();
        std::thread::sleep(Duration::from_millis(2));
        let b = new_run_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(a < b);
        assert!(a.chars().all(|c| c.is_ascii_hexdigit()));
    }

    #[test]
    fn a_report_keeps_at_most_a_cap_of_each_text() {
        let huge = "x".repeat(1 << 20);
        let mut report = RunReport::failed("r", "p", "w", "t", "e", huge.clone());
        assert_eq!(report.error.as_deref().map(str::len), Some(text::CAP));
        report.error = Some(huge.clone());
        report.outputs.insert("small".into(), "kept".into());
        report.outputs.insert("big".into(), huge.clone().into());
        report.outputs.insert(huge.clone(), "value".into());
        report.rollback_errors.push(huge);
        let report = report.bounded();
        assert!(report.error.unwrap().ends_with(text::MARKER));
        let keys: Vec<&String> = report.outputs.keys().collect();
        assert_eq!(keys.len(), 3);
        assert_eq!(keys[0], "small", "the order stays");
        assert_eq!(report.outputs["small"], "kept");
        for (k, v) in &report.outputs {
            assert!(k.len() <= text::CAP && v.as_str().unwrap().len() <= text::CAP);
        }
        assert_eq!(report.rollback_errors[0].len(), text::CAP);
    }
}
