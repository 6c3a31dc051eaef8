//! Runs of the API: resolving what a client asked for against what its team may
//! run, admitting it, running it in its own task (so a client that hangs up does
//! not stop it), finding it again, and tearing down what it made.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{json, Value};

use super::app::App;
use super::caller::Caller;
use super::containers;
use super::error::ApiError;
use super::request::{plausible_run_id, RunRequest};
use super::slots::RETRY_AFTER;
use super::started::{self, RunRecord};
use crate::engine::config::DEFAULT_ENGINE;
use crate::engine::Engine;
use crate::imports::mode::Mode;
use crate::journal::history::TornDown;
use crate::journal::Entry;
use crate::plugin::catalog::{Catalog, LoadedPlugin};
use crate::plugin::info::WorkflowInfo;
use crate::run::{self, RunOptions, RunReport, Status};
use crate::util::console::Console;

/// How long a DELETE waits for a run it cancelled to finish rolling back.
const CANCEL_WAIT: Duration = Duration::from_secs(120);

/// A slot of the admission bound, given back when the run's task ends.
pub struct Slot {
    app: Arc<App>,
    team: String,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.app.slots().release(&self.team);
    }
}

/// Take a slot for a run of `team`, or refuse: 503 while shutting down, 429 past
/// the bound.
pub fn admit(app: &Arc<App>, team: &str) -> Result<Slot, ApiError> {
    let admission = app.slots();
    if app.draining() {
        return Err(ApiError::unavailable(
            "the server is shutting down and starts no new runs: try again once it is back",
        ));
    }
    drop(admission);
    // Without the state database, no count can be made: refuse rather than admit
    // uncounted, and say when to come back.
    if let Some(shared) = app.journal.shared() {
        if !crate::journal::store::blocking(|| shared.healthy()) {
            app.metrics.throttled(team);
            return Err(ApiError::unavailable_for(
                format!(
                    "the state database `{}` does not answer, so this server cannot count \
                     the team's quota and starts no runs: try again shortly",
                    shared.shown()
                ),
                RETRY_AFTER,
            ));
        }
    }
    let mut admission = app.slots();
    if app.draining() {
        return Err(ApiError::unavailable(
            "the server is shutting down and starts no new runs: try again once it is back",
        ));
    }
    admission.admit(team, Instant::now()).map_err(|refusal| {
        app.metrics.throttled(team);
        ApiError::too_many(refusal.to_string(), RETRY_AFTER)
    })?;
    Ok(Slot {
        app: app.clone(),
        team: team.to_string(),
    })
}

/// What a request resolved to: a plugin on offer, its workflow and the params to hand
/// it. The run keeps this plugin whatever the folder offers next.
pub struct Resolved {
    pub plugin: Arc<LoadedPlugin>,
    pub workflow: String,
    pub params: Vec<(String, String)>,
}

/// The plugin and workflow a request means, among the plugins the caller's team
/// may run, with its params checked (missing, unknown, repeated).
pub fn resolve(app: &App, caller: &Caller, request: &RunRequest) -> Result<Resolved, ApiError> {
    let catalog = app.plugins.current();
    let (plugin, workflow) = pick(&catalog, caller, request)?;
    // Checked here first for words that fit the API (the shared check speaks of `-p`).
    let given = |name: &str| request.params.iter().any(|(k, _)| k == name);
    if let Some(spec) = workflow
        .params
        .iter()
        .find(|s| s.required && s.default.is_none() && !given(&s.name))
    {
        let about = match spec.description.as_str() {
            "" => String::new(),
            d => format!(" ({d})"),
        };
        return Err(ApiError::unfit(format!(
            "param `{}` is missing: workflow `{}` needs it{about}; add it to `params`",
            spec.name, workflow.name
        )));
    }
    let params = crate::policy::params::resolve(&workflow.name, &workflow.params, &request.params)
        .map_err(ApiError::unfit)?;
    Ok(Resolved {
        plugin: catalog.plugins[plugin].clone(),
        workflow: workflow.name.clone(),
        params,
    })
}

/// The catalog index and workflow a request names, among the plugins that offer
/// it: 403 when only plugins the team may not run do (saying so helps more than a
/// 404, and plugin names are no secret), 400 when several usable ones do.
fn pick<'a>(
    catalog: &'a Catalog,
    caller: &Caller,
    request: &RunRequest,
) -> Result<(usize, &'a WorkflowInfo), ApiError> {
    let plugins = &catalog.plugins;
    let allowed = |i: &usize| plugins[*i].admitted(&caller.policy).is_ok();
    let name = &request.workflow;
    let offering: Vec<usize> = (0..plugins.len())
        .filter(|i| {
            request
                .plugin
                .as_ref()
                .is_none_or(|p| &plugins[*i].info.name == p)
        })
        .filter(|i| plugins[*i].info.workflows.iter().any(|w| &w.name == name))
        .collect();
    let usable: Vec<usize> = offering.iter().copied().filter(allowed).collect();
    let workflow = |i: usize| plugins[i].info.workflows.iter().find(|w| &w.name == name);
    match (usable.as_slice(), offering.first()) {
        ([one], _) => workflow(*one)
            .map(|w| (*one, w))
            .ok_or_else(|| no_workflow(name)),
        ([], Some(denied)) => {
            let plugin = &plugins[*denied].info.name;
            let denial = plugins[*denied]
                .admitted(&caller.policy)
                .err()
                .map(|d| d.to_string())
                .unwrap_or_default();
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!("workflow `{name}` is in plugin `{plugin}`, which your team may not run: {denial}"),
            ))
        }
        ([], None) => Err(unknown(catalog, caller, request)),
        (many, _) => {
            let names: Vec<&str> = many
                .iter()
                .map(|i| plugins[*i].info.name.as_str())
                .collect();
            Err(ApiError::bad_request(format!(
                "workflow `{name}` is offered by several plugins ({}): add \"plugin\": \"{}\" to choose one",
                names.join(", "),
                names[0]
            )))
        }
    }
}

/// 404 for a workflow (or plugin) the team cannot find, suggesting close names among
/// what it may run.
fn unknown(catalog: &Catalog, caller: &Caller, request: &RunRequest) -> ApiError {
    let mine = |p: &&Arc<LoadedPlugin>| p.admitted(&caller.policy).is_ok();
    let plugins: Vec<_> = catalog.plugins.iter().filter(mine).collect();
    if let Some(wanted) = &request.plugin {
        if !plugins.iter().any(|p| &p.info.name == wanted) {
            let names: Vec<&str> = plugins.iter().map(|p| p.info.name.as_str()).collect();
            return ApiError::not_found(format!(
                "no plugin `{wanted}` that your team may run (those it may: {})",
                if names.is_empty() {
                    "none".to_string()
                } else {
                    names.join(", ")
                }
            ));
        }
    }
    let names = plugins
        .iter()
        .flat_map(|p| p.info.workflows.iter().map(|w| w.name.as_str()));
    let hint = crate::util::suggest::did_you_mean(&request.workflow, names);
    let mut err = no_workflow(&request.workflow);
    err.message = format!("{} GET /v1/workflows lists them.{hint}", err.message);
    err
}

fn no_workflow(name: &str) -> ApiError {
    ApiError::not_found(format!("no workflow `{name}` that your team may run."))
}

/// Start the run (under `id`, from [`run::new_run_id`]) in its own task and return
/// its record at once.
pub fn start(
    app: &Arc<App>,
    id: String,
    slot: Slot,
    caller: &Caller,
    resolved: Resolved,
    engine: Engine,
) -> Arc<RunRecord> {
    let plugin_name = resolved.plugin.info.name.clone();
    let record = RunRecord::new(
        id,
        (caller.team.clone(), caller.person.clone()),
        plugin_name,
        resolved.workflow.clone(),
        engine.name.clone(),
        resolved.params.clone(),
        app.abort.child_token(),
    );
    app.started.insert(record.clone());
    let options = RunOptions {
        policy: caller.policy.clone(),
        keep_on_failure: false,
        journal: app.journal.clone(),
        state_dir: app.state_dir.clone(),
        mode: Mode::Live,
        caller: Some(caller.who.clone()),
        user: Some(caller.person.clone()),
    };
    let (app, task_record) = (app.clone(), record.clone());
    app.tasks.clone().spawn(async move {
        let record = task_record;
        app.metrics.run_started(&record.team, &record.workflow);
        tracing::info!(
            run = record.id,
            team = record.team,
            plugin = record.plugin,
            workflow = record.workflow,
            engine = record.engine,
            "run started"
        );
        let report = run_isolated(app.clone(), record.clone(), resolved, engine, options).await;
        let ok = report.status == Status::Ok;
        app.metrics.run_ended(
            &record.team,
            &record.workflow,
            ok,
            Duration::from_millis(report.duration_ms),
        );
        tracing::info!(
            run = record.id,
            team = record.team,
            workflow = record.workflow,
            status = if ok { "ok" } else { "failed" },
            ms = report.duration_ms,
            error = report.error.as_deref(),
            "run ended"
        );
        // The slot is given back before anyone hears of the end: a client that saw its run
        // end (or tore it down) and starts the next must find the slot free.
        drop(slot);
        // Its environment's deadlines are the reaper's now (a workflow may have set a
        // lifetime shorter than the team's).
        if report.expires.is_some() {
            app.reaping.wake();
        }
        record.finish(report);
        app.started.ended(&record.id);
    });
    record
}

/// Plan the run: its writes are checked and listed, none is sent. The run slot is held
/// while the plugin runs, as for a run; a plan leaves no run behind to look up.
pub async fn plan(
    app: &Arc<App>,
    slot: Slot,
    caller: &Caller,
    resolved: Resolved,
    engine: Engine,
) -> Result<crate::run::plan::PlanReport, ApiError> {
    let options = RunOptions {
        policy: caller.policy.clone(),
        keep_on_failure: false,
        journal: app.journal.clone(),
        state_dir: app.state_dir.clone(),
        mode: Mode::Live,
        caller: Some(caller.who.clone()),
        user: Some(caller.person.clone()),
    };
    let plugin = &resolved.plugin;
    // The plugin's own output is not part of a plan's answer.
    let console: Arc<dyn Console> = Arc::new(crate::util::console::Captured::default());
    let request = run::RunRequest {
        runtime: &app.runtime,
        plugin,
        workflow: &resolved.workflow,
        params: resolved.params,
        engine,
        console,
        options: &options,
    };
    let report = crate::run::plan::plan(request, app.abort.child_token().cancelled_owned())
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}")))?;
    drop(slot);
    Ok(report)
}

/// Run it in a task of its own, so a panic in the run ends that run (as failed)
/// instead of leaving its waiters hanging.
async fn run_isolated(
    app: Arc<App>,
    record: Arc<RunRecord>,
    resolved: Resolved,
    engine: Engine,
    options: RunOptions,
) -> RunReport {
    let inner = {
        let (app, record, engine) = (app.clone(), record.clone(), engine.clone());
        tokio::spawn(async move {
            let plugin = &resolved.plugin;
            let console: Arc<dyn Console> = record.clone();
            let request = run::RunRequest {
                runtime: &app.runtime,
                plugin,
                workflow: &resolved.workflow,
                params: resolved.params,
                engine,
                console,
                options: &options,
            };
            run::run_workflow_as(&record.id, request, record.cancel.clone().cancelled_owned()).await
        })
    };
    match inner.await {
        Ok(report) => report,
        Err(e) => {
            // The run's containers are still labelled with it: roll them back here.
            let (rolled_back, rollback_errors) = run::rollback(&engine, &record.id, &[], &[]).await;
            let mut report = RunReport::failed(
                &record.id,
                &record.plugin,
                &record.workflow,
                &record.team,
                &engine.name,
                format!("the run stopped unexpectedly in the server: {e}"),
            );
            report.containers = rolled_back.clone();
            report.rolled_back = rolled_back;
            report.rollback_errors = rollback_errors;
            report
        }
    }
}

/// What an `Idempotency-Key` found: the caller may start its run, or must answer with
/// the run the key named first.
pub enum Keyed {
    Start,
    Again(String),
}

/// Claim `key` for run `id` of the caller's request `wanted`. A key the team used
/// for another request within the window is `422`: the client reused it by mistake,
/// and running either request would not be what it meant.
pub async fn claim_key(
    app: &App,
    team: &str,
    key: &str,
    fingerprint: String,
    id: &str,
) -> Result<Keyed, ApiError> {
    use crate::journal::idempotency::{self, Claim};
    let (journal, team_owned, key_owned, id_owned) = (
        app.journal.clone(),
        team.to_string(),
        key.to_string(),
        id.to_string(),
    );
    let claim = tokio::task::spawn_blocking(move || {
        idempotency::claim(
            &journal,
            &team_owned,
            &key_owned,
            &fingerprint,
            &id_owned,
            std::time::SystemTime::now(),
        )
    })
    .await
    .map_err(|e| ApiError::internal(format!("writing the journal stopped: {e}")))?
    .map_err(|e| ApiError::internal(format!("{e:#}")))?;
    match claim {
        Claim::Claimed => Ok(Keyed::Start),
        Claim::Taken {
            run,
            same_request: true,
        } => Ok(Keyed::Again(run)),
        Claim::Taken {
            run,
            same_request: false,
        } => Err(ApiError::unfit(format!(
            "the Idempotency-Key `{key}` was sent with another request (run `{run}`) within \
             the last {} hours: send a new key for a new request",
            idempotency::WINDOW.as_secs() / 3600
        ))),
    }
}

/// The answer to a retried request: the run its key named, as it is now (waited for,
/// when the client waits and this server holds it). A run not yet known here (another
/// server on this journal claimed the key and has not started it) is `409`, to retry.
pub async fn again(app: &App, team: &str, id: &str, wait: bool) -> Result<Value, ApiError> {
    if let Some(record) = app.started.get(id, team) {
        if wait {
            record.ended().await;
        }
        return Ok(record.view(None));
    }
    from_journal(app, team, id).await.map_err(|e| {
        // A journal that cannot be read is the host's failure, not a run being started.
        if e.status != StatusCode::NOT_FOUND {
            return e;
        }
        let mut e = ApiError::new(
            StatusCode::CONFLICT,
            format!(
                "a request with this Idempotency-Key is being started (run `{id}`): \
                 send it again shortly"
            ),
        );
        e.retry_after = Some(Duration::from_secs(1));
        e
    })
}

/// The run `id` of the caller's team as the API shows it: from this server's runs,
/// else from the journal (runs of an earlier server, or of the CLI).
pub async fn find(app: &App, team: &str, id: &str) -> Result<Value, ApiError> {
    if let Some(record) = app.started.get(id, team) {
        let containers = match record.report() {
            // In flight: only the engine knows yet what it has made.
            None => match app.engines.get(&app.teams.current(), &record.engine).await {
                Ok(engine) => Some(crate::engine::containers::labelled(&engine, id).await),
                Err(_) => None,
            },
            Some(_) => None,
        };
        let mut view = record.view(containers);
        if record.report().is_some() {
            lifetime_from_journal(app, id, &mut view).await;
        }
        return Ok(view);
    }
    from_journal(app, team, id).await
}

/// A run's expiry moves after its end (an extension from here, the CLI or another
/// server) and it may expire: the journal says what holds now.
async fn lifetime_from_journal(app: &App, id: &str, view: &mut Value) {
    let (journal, run) = (app.journal.clone(), id.to_string());
    let found = tokio::task::spawn_blocking(move || crate::journal::expiry::of(&journal, &run))
        .await
        .ok()
        .and_then(Result::ok)
        .flatten();
    if let Some(e) = found {
        view["expires"] = json!(e.expires);
        if let (Some(time), Some(removed)) = (e.expired, e.expired_removed) {
            view["expired"] = json!({ "time": time, "removed": removed });
        }
    }
}

/// The run from the journal, if it is the team's.
async fn from_journal(app: &App, team: &str, id: &str) -> Result<Value, ApiError> {
    let detail = journal_detail(app, team, id).await?;
    Ok(started::summary_view(&detail.summary, &detail.params))
}

/// Run `id` of `team` as the journal tells it: its summary, params and calls. A run
/// of another team answers as one that does not exist.
async fn journal_detail(
    app: &App,
    team: &str,
    id: &str,
) -> Result<crate::journal::history::RunDetail, ApiError> {
    if !plausible_run_id(id) {
        return Err(ApiError::no_run(id));
    }
    let (journal, state_dir, id_owned) =
        (app.journal.clone(), app.state_dir.clone(), id.to_string());
    // A query of the database: blocking work, kept off the async workers.
    let found = tokio::task::spawn_blocking(move || {
        crate::journal::history::detail(&journal, &id_owned, &state_dir)
    })
    .await
    .map_err(|e| ApiError::internal(format!("reading the journal stopped: {e}")))?
    .map_err(|e| ApiError::internal(format!("{e:#}")))?;
    found
        .filter(|d| d.summary.team == team)
        .ok_or_else(|| ApiError::no_run(id))
}

/// The latest `limit` runs of `team` in the journal (of one `status`, if given),
/// newest first.
pub async fn recent(
    app: &App,
    team: &str,
    status: Option<&'static str>,
    limit: usize,
) -> Result<Value, ApiError> {
    let (journal, state_dir, team_owned) =
        (app.journal.clone(), app.state_dir.clone(), team.to_string());
    // A query of the database: blocking work, kept off the async workers.
    let runs = tokio::task::spawn_blocking(move || {
        let filter = crate::journal::history::Filter {
            team: Some(&team_owned),
            status,
            user: None,
        };
        crate::journal::history::latest(&journal, filter, limit, &state_dir)
    })
    .await
    .map_err(|e| ApiError::internal(format!("reading the journal stopped: {e}")))?
    .map_err(|e| ApiError::internal(format!("{e:#}")))?;
    let runs: Vec<Value> = runs
        .iter()
        .map(|r| {
            json!({
                "id": r.run, "status": r.status, "plugin": r.plugin, "workflow": r.workflow,
                "engine": r.engine, "started": r.started, "duration_ms": r.duration_ms,
                "error": r.error, "cause": r.cause, "torn_down": r.torn_down,
                "expires": r.expires, "expired": r.expired,
                "user": r.user, "user_name": r.user_name,
            })
        })
        .collect();
    Ok(json!({ "team": team, "runs": runs }))
}

/// A team's lifetime rule as the API shows it (seconds), or null when it has none.
pub fn lifetime_view(policy: &crate::policy::TeamPolicy) -> Value {
    match policy.lifetime {
        Some(l) => json!({
            "default_s": l.default.as_secs(), "max_s": l.max.as_secs(), "warn_s": l.warn.as_secs(),
        }),
        None => Value::Null,
    }
}

/// Run `id` of `team` with every host call it made, as the journal has them.
pub async fn calls(app: &App, team: &str, id: &str) -> Result<Value, ApiError> {
    let detail = match journal_detail(app, team, id).await {
        Ok(detail) => detail,
        // Started here a moment ago (`?wait=false`), its start not yet journaled: it
        // has made no call yet, and says so rather than that it does not exist.
        Err(e) => match app.started.get(id, team) {
            Some(record) => {
                let mut view = record.view(None);
                view["calls"] = json!([]);
                return Ok(view);
            }
            None => return Err(e),
        },
    };
    let mut view = started::summary_view(&detail.summary, &detail.params);
    view["calls"] = json!(detail.calls);
    Ok(view)
}

/// Tear down run `id` of the caller's team: cancel it if it is in flight (which
/// rolls it back), then remove every container labelled with it. Images are kept,
/// as a rollback keeps them. Anyone of the team may tear down any of its runs (a
/// colleague's too): the journal keeps who did, beside who started it.
pub async fn teardown(app: &App, caller: &Caller, id: &str) -> Result<Value, ApiError> {
    let team = caller.team.as_str();
    if !plausible_run_id(id) {
        return Err(ApiError::no_run(id));
    }
    let record = app.started.get(id, team);
    let mut cancelled = false;
    let mut removed = Vec::new();
    if let Some(record) = record.as_ref().filter(|r| r.report().is_none()) {
        record.cancel.cancel();
        cancelled = true;
        let report = tokio::time::timeout(CANCEL_WAIT, record.ended())
            .await
            .map_err(|_| {
                ApiError::new(
                    StatusCode::GATEWAY_TIMEOUT,
                    "the run did not stop in time: try again",
                )
            })?;
        removed.extend(report.rolled_back);
    }
    // A run this server does not hold is looked up in the journal, once.
    let journaled = match &record {
        Some(_) => None,
        None => Some(journal_detail(app, team, id).await),
    };
    // The run's engine: its record's, else the journal's, else the default.
    let engine_name = match (&record, &journaled) {
        (Some(record), _) => record.engine.clone(),
        (None, Some(Ok(detail))) => detail.summary.engine.clone(),
        _ => DEFAULT_ENGINE.to_string(),
    };
    let before = match (&record, &journaled) {
        (Some(record), _) => record.torn_down(),
        (None, Some(Ok(detail))) => detail.summary.torn_down.clone(),
        _ => None,
    };
    let engine = app.engines.get(&app.teams.current(), &engine_name).await?;
    let left = containers::list(&engine, team, Some(id))
        .await
        .map_err(|e| ApiError::engine(&e))?;
    if let (true, Some(Err(unknown))) = (left.is_empty(), journaled) {
        // Unknown here and nothing on the engine: say so, unless the journal knows it.
        return Err(unknown);
    }
    let outcome = containers::remove(&engine, &left).await;
    removed.extend(outcome.removed);
    if !outcome.failed.is_empty() {
        // Not torn down yet: what is left is named, and a DELETE again tries again.
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!(
                "some containers of run `{id}` could not be removed: {} (removed: {})",
                outcome.failed.join("; "),
                json!(removed)
            ),
        ));
    }
    if let Some(first) = before.filter(|_| removed.is_empty()) {
        return Ok(already_torn_down(id, &first, &[]));
    }
    let torn = TornDown {
        time: crate::journal::now(),
        removed,
        by: Some(caller.who.clone()),
    };
    let entry = Entry::TornDown {
        time: torn.time.clone(),
        run: id.to_string(),
        team: team.to_string(),
        removed: torn.removed.clone(),
        by: torn.by.clone(),
    };
    let journal = app.journal.clone();
    let kept = tokio::task::spawn_blocking(move || journal.record_counted(&entry))
        .await
        .map_err(|e| ApiError::internal(format!("writing the journal stopped: {e}")))?
        .map_err(|e| {
            ApiError::internal(format!(
                "the containers of run `{id}` were removed ({}), but the journal could not \
                 say so: {e:#}",
                json!(torn.removed)
            ))
        })?;
    // Two teardowns at once: the first one written is the run's, and the other says so.
    let first = match &record {
        Some(record) => record.tear_down(torn.clone()).err(),
        None if kept == 0 => journal_detail(app, team, id)
            .await
            .ok()
            .and_then(|d| d.summary.torn_down),
        None => None,
    };
    if let Some(first) = first {
        // Another request tore it down first: its teardown is the run's, and this answer
        // says so, with what this one removed meanwhile.
        return Ok(already_torn_down(id, &first, &torn.removed));
    }
    app.reaping.tell(crate::run::expiry::Notice::new(
        "torn-down",
        id,
        team,
        "",
        std::time::SystemTime::now(),
    ));
    Ok(json!({
        "id": id, "cancelled": cancelled, "removed": torn.removed, "failed": [],
        "already_torn_down": false, "torn_down": torn,
    }))
}

/// Extend run `id` of the caller's team by `by`, within the team's max counted from
/// now: journaled with the caller's token, and the reaper told.
pub async fn extend(app: &App, caller: &Caller, id: &str, by: Duration) -> Result<Value, ApiError> {
    use crate::run::expiry::NotExtended;
    if !plausible_run_id(id) {
        return Err(ApiError::no_run(id));
    }
    let config = app.teams.current();
    let (journal, team, who) = (app.journal.clone(), caller.team.clone(), caller.who.clone());
    let run = id.to_string();
    let extended = tokio::task::spawn_blocking(move || {
        crate::run::expiry::extend(
            &journal,
            &config.teams,
            &run,
            Some(&team),
            by,
            &who,
            std::time::SystemTime::now(),
        )
    })
    .await
    .map_err(|e| ApiError::internal(format!("writing the journal stopped: {e}")))?;
    match extended {
        Ok(expires) => {
            app.reaping.wake();
            app.reaping.tell(crate::run::expiry::Notice::new(
                "extended",
                id,
                &caller.team,
                &expires,
                std::time::SystemTime::now(),
            ));
            Ok(json!({ "id": id, "expires": expires, "by": caller.who }))
        }
        Err(NotExtended::Unknown) => Err(ApiError::no_run(id)),
        Err(NotExtended::Gone(why)) => Err(ApiError::new(StatusCode::CONFLICT, why)),
        Err(NotExtended::Denied(denial)) => {
            Err(ApiError::new(StatusCode::FORBIDDEN, denial.to_string()))
        }
        Err(NotExtended::Journal(e)) => Err(ApiError::internal(format!("{e:#}"))),
    }
}

/// The answer to a DELETE of a run torn down before: the first teardown, and what this
/// request removed (nothing, unless two came at once).
fn already_torn_down(id: &str, first: &TornDown, removed: &[String]) -> Value {
    let left = if removed.is_empty() {
        "nothing of it was left to remove".to_string()
    } else {
        format!(
            "this request removed {} container(s) still there",
            removed.len()
        )
    };
    json!({
        "id": id, "cancelled": false, "removed": removed, "failed": [],
        "already_torn_down": true, "torn_down": first,
        "message": format!("run `{id}` was torn down already at {}; {left}", first.time),
    })
}
