//! A plan: the workflow runs against the real engine for reads, while every write is
//! checked as in a run and answered without being sent (see [`crate::imports::plan`]).
//! The engine is left as it was, and the journal is not written: a plan changes nothing,
//! so it has nothing to audit or roll back.

use std::future::Future;
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::Serialize;

use super::workflow::{new_run_id, run_workflow_as, RunOptions, RunRequest, Status};
use crate::imports::mode::Mode;
use crate::imports::plan::{self, Plan, Step};
use crate::journal::Journal;
use crate::util::text;

/// How a plan ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PlanStatus {
    /// The workflow ran to its end; every write it would make is listed.
    Complete,
    /// The workflow needed a real answer about something the plan only simulated; the
    /// writes up to there are listed.
    Stopped,
    /// The workflow failed (a denial it did not get past, an error of its own): a real
    /// run would fail the same way, after the writes listed.
    Failed,
}

/// What a plan found, as `run --plan --json` and `"plan": true` print it.
#[derive(Debug, Clone, Serialize)]
pub struct PlanReport {
    pub run: String,
    pub plugin: String,
    pub workflow: String,
    pub team: String,
    pub engine: String,
    pub status: PlanStatus,
    /// The writes the workflow would make, in order, with the reads policy denied.
    pub steps: Vec<Step>,
    /// Why the plan stopped, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
    /// Why the workflow failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The workflow's outputs, made from simulated answers.
    pub outputs: serde_json::Map<String, serde_json::Value>,
    pub duration_ms: u64,
}

/// Plan the request's workflow under its options' team and state folder. Their journal
/// and mode are not used.
pub async fn plan(request: RunRequest<'_>, cancel: impl Future<Output = ()>) -> Result<PlanReport> {
    let run_id = new_run_id();
    let planned = Plan::new(&run_id);
    let scratch = tempfile::tempdir().context("cannot make a scratch folder for the plan")?;
    let options = RunOptions {
        journal: Arc::new(Journal::open(&scratch.path().join("journal.db"))?),
        mode: Mode::Plan(planned.clone()),
        ..request.options.clone()
    };
    let request = RunRequest {
        options: &options,
        ..request
    };
    let report = run_workflow_as(&run_id, request, cancel).await;
    let summary = plan::lock(&planned).summary();
    let status = match (&summary.stopped, report.status) {
        (Some(_), _) => PlanStatus::Stopped,
        (None, Status::Ok) => PlanStatus::Complete,
        (None, Status::Failed) => PlanStatus::Failed,
    };
    Ok(PlanReport {
        run: report.run,
        plugin: report.plugin,
        workflow: report.workflow,
        team: report.team,
        engine: report.engine,
        status,
        steps: summary.steps.into_iter().map(bounded).collect(),
        stopped: summary.stopped.map(text::cap_owned),
        error: (status == PlanStatus::Failed)
            .then_some(report.error)
            .flatten(),
        outputs: report.outputs,
        duration_ms: report.duration_ms,
    })
}

/// A step with what the workflow and the engine wrote in it (its target, why it was
/// denied or failed) capped, as a run's report is.
fn bounded(mut step: Step) -> Step {
    step.target = text::cap_owned(step.target);
    step.detail = step.detail.map(text::cap_owned);
    step
}
