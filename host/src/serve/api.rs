//! The routes. Each handler reads the request, calls [`super::runs`] or
//! [`super::containers`], and answers JSON; errors are [`ApiError`]s.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::stream::{self, Stream, StreamExt};
use serde_json::{json, Value};

use super::app::App;
use super::caller::Caller;
use super::error::ApiError;
use super::runs;
use super::started::{Line, RunRecord};
use super::{containers, metrics, openapi, page, reaper, request, signin};
use crate::engine::config::DEFAULT_ENGINE;

/// Every route, as `(method, path)`: the OpenAPI document is checked against it.
#[cfg(test)]
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/openapi.json"),
    ("get", "/metrics"),
    ("get", "/v1/me"),
    ("get", "/v1/workflows"),
    ("get", "/v1/runs"),
    ("post", "/v1/runs"),
    ("get", "/v1/runs/{id}"),
    ("get", "/v1/runs/{id}/calls"),
    ("delete", "/v1/runs/{id}"),
    ("get", "/v1/runs/{id}/events"),
    ("post", "/v1/runs/{id}/extend"),
    ("get", "/v1/usage"),
    ("get", "/v1/containers"),
    ("get", "/v1/containers/{id}"),
];

/// How long `/healthz` waits for the engine.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// The most runs `GET /v1/runs` lists, and how many when not told.
const MAX_LISTED: usize = 200;
const DEFAULT_LISTED: usize = 20;

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        // The team's page (not part of the API: no token, no JSON).
        .route("/", get(page::index))
        .route("/page.js", get(page::script))
        .route("/page.css", get(page::style))
        // The page's sign-in with the identity provider (see `signin`).
        .route("/auth/config", get(signin::config))
        .route("/auth/token", post(signin::token))
        .route("/healthz", get(healthz))
        .route("/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .route("/v1/me", get(signin::me))
        .route("/v1/workflows", get(workflows))
        .route("/v1/runs", get(list_runs).post(create_run))
        .route("/v1/runs/{id}", get(show_run).delete(delete_run))
        .route("/v1/runs/{id}/calls", get(run_calls))
        .route("/v1/runs/{id}/events", get(run_events))
        .route("/v1/runs/{id}/extend", post(extend_run))
        .route("/v1/usage", get(team_usage))
        .route("/v1/containers", get(list_containers))
        .route("/v1/containers/{id}", get(show_container))
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method)
        .with_state(app)
}

/// The `{id}` of a path. axum's own rejection (a path that is not UTF-8) is plain
/// text; this one is an [`ApiError`] like every other answer.
pub struct Id(pub String);

impl FromRequestParts<Arc<App>> for Id {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        Path::<String>::from_request_parts(parts, app)
            .await
            .map(|Path(id)| Id(id))
            .map_err(|e| ApiError::bad_request(format!("the path is not valid: {e}")))
    }
}

async fn healthz(State(app): State<Arc<App>>) -> Response {
    let engine = app.engines.default_engine();
    let version = async {
        let docker = engine.docker().await?;
        docker.version().await.map_err(|e| engine.fail(e))
    };
    let ping = tokio::time::timeout(PING_TIMEOUT, version).await;
    let (status, engine) = match ping {
        Ok(Ok(v)) => (
            StatusCode::OK,
            json!({ "reachable": true, "address": engine.address, "version": v.version, "api_version": v.api_version }),
        ),
        Ok(Err(e)) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "reachable": false, "address": engine.address, "error": crate::engine::errors::describe(&e) }),
        ),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            json!({ "reachable": false, "address": engine.address, "error": format!("no answer in {}s", PING_TIMEOUT.as_secs()) }),
        ),
    };
    // The shared state database: without it no run is admitted (see `runs::admit`).
    let shared = app.journal.shared().map(|shared| {
        let reachable = crate::journal::store::blocking(|| shared.healthy());
        json!({ "store": "postgres", "reachable": reachable, "leader": reachable && shared.is_leader() })
    });
    let status = match &shared {
        Some(s) if s["reachable"] == json!(false) => StatusCode::SERVICE_UNAVAILABLE,
        _ => status,
    };
    let state = if status == StatusCode::OK {
        "ok"
    } else {
        "unavailable"
    };
    // The folder's files that are not on offer, and why: what an operator looks for
    // after dropping a plugin in.
    let catalog = app.plugins.current();
    let problems: Vec<Value> = catalog
        .problems
        .iter()
        .map(|p| json!({ "file": p.path.display().to_string(), "reason": p.reason }))
        .collect();
    let plugins = json!({
        "folder": catalog.dir.display().to_string(),
        "offered": catalog.plugins.iter().map(|p| json!({ "name": p.info.name, "version": p.info.version })).collect::<Vec<_>>(),
        "problems": problems,
    });
    let mut body = json!({ "status": state, "draining": app.draining(), "engine": engine, "plugins": plugins });
    if let Some(shared) = shared {
        body["state"] = shared;
    }
    (status, Json(body)).into_response()
}

async fn openapi() -> Json<Value> {
    Json(openapi::document())
}

/// The scrape: the counters, with runs in flight and engine pings read now.
async fn metrics(State(app): State<Arc<App>>) -> Response {
    let config = app.teams.current();
    let running = app.started.running();
    let in_flight: Vec<(String, i64)> = config
        .teams
        .keys()
        .map(|team| {
            let n = running.iter().filter(|r| &r.team == team).count();
            (team.clone(), n as i64)
        })
        .collect();
    let ping_all = || async {
        let pings = app
            .engines
            .connected()
            .into_iter()
            .map(|engine| async move {
                let ping = async {
                    let docker = engine.docker().await.ok()?;
                    docker.ping().await.ok()
                };
                let up = tokio::time::timeout(PING_TIMEOUT, ping)
                    .await
                    .is_ok_and(|r| r.is_some());
                (engine.name.clone(), up)
            });
        futures_util::future::join_all(pings).await
    };
    let engines = app.reachability.get(ping_all).await;
    let lifetimes = reaper::gauges(&app, &config.teams).await;
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        app.metrics.encode(&in_flight, &engines, &lifetimes),
    )
        .into_response()
}

async fn workflows(State(app): State<Arc<App>>, caller: Caller) -> Json<Value> {
    let catalog = app.plugins.current();
    let list: Vec<Value> = catalog
        .plugins
        .iter()
        .filter(|p| p.admitted(&caller.policy).is_ok())
        .flat_map(|p| {
            p.info.workflows.iter().map(move |w| {
                json!({
                    "name": w.name,
                    "description": w.description,
                    "plugin": p.info.name,
                    "plugin_version": p.info.version,
                    "params": w.params,
                    "permissions": p.info.permissions,
                    "signer": p.signer,
                })
            })
        })
        .collect();
    Json(json!({ "team": caller.team, "workflows": list }))
}

async fn create_run(
    State(app): State<Arc<App>>,
    caller: Caller,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let query =
        request::Query::parse(query.as_deref(), &["wait"]).map_err(ApiError::bad_request)?;
    let wait = request::flag("wait", query.get("wait"), true).map_err(ApiError::bad_request)?;
    let bytes = read_body(&app, &headers, body).await?;
    let wanted = request::parse_run(&bytes).map_err(ApiError::bad_request)?;
    let resolved = runs::resolve(&app, &caller, &wanted)?;
    let engine_name = wanted.engine.as_deref().unwrap_or(DEFAULT_ENGINE);
    let engine = app
        .engines
        .for_team(&app.teams.current(), &caller.policy, engine_name)
        .await?;
    let key = idempotency_key(&headers)?;
    let slot = runs::admit(&app, &caller.team)?;
    if wanted.plan {
        // A plan makes nothing, so a retry of one is safe as it is: a key is not kept.
        let report = runs::plan(&app, slot, &caller, resolved, engine).await?;
        return Ok((StatusCode::OK, Json(report)).into_response());
    }
    let id = crate::run::new_run_id();
    let record = match key {
        None => runs::start(&app, id, slot, &caller, resolved, engine),
        Some(key) => {
            let _starting = app.keyed_starts.lock().await;
            match runs::claim_key(&app, &caller.team, &key, fingerprint(&wanted), &id).await? {
                runs::Keyed::Start => runs::start(&app, id, slot, &caller, resolved, engine),
                runs::Keyed::Again(first) => {
                    drop((_starting, slot));
                    let view = runs::again(&app, &caller.team, &first, wait).await?;
                    let mut answer = run_answer(&app, view);
                    answer.headers_mut().insert(
                        "idempotent-replayed",
                        header::HeaderValue::from_static("true"),
                    );
                    return Ok(answer);
                }
            }
        }
    };
    if wait {
        // The run has its own task: a client that hangs up here does not stop it.
        record.ended().await;
    }
    Ok(run_answer(&app, record.view(None)))
}

/// The request's `Idempotency-Key`, checked; none when it sent none.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut keys = headers.get_all("idempotency-key").iter();
    let Some(first) = keys.next() else {
        return Ok(None);
    };
    if keys.next().is_some() {
        return Err(ApiError::bad_request(
            "the Idempotency-Key header is sent twice: send one",
        ));
    }
    let key = first.to_str().map_err(|_| {
        ApiError::bad_request(
            "the Idempotency-Key header is not visible ASCII: use letters, digits and \
             punctuation, such as a UUID",
        )
    })?;
    crate::journal::idempotency::check_key(key).map_err(ApiError::bad_request)?;
    Ok(Some(key.to_string()))
}

/// What a request asks for, as one digest: the same request with its params in
/// another order, or its JSON spaced otherwise, is the same request.
fn fingerprint(wanted: &request::RunRequest) -> String {
    let mut params = wanted.params.clone();
    params.sort();
    let canonical = serde_json::json!({
        "workflow": wanted.workflow, "plugin": wanted.plugin, "engine": wanted.engine,
        "params": params, "plan": wanted.plan,
    });
    crate::util::digest::sha256_hex(canonical.to_string().as_bytes())
}

/// The answer to a request that started a run: the run, at its URL, with a status that
/// says how it went, so that `curl -f`, `Invoke-RestMethod` and `raise_for_status()`
/// stop on a run that failed (see [`run_status`]).
pub fn run_answer(app: &App, view: Value) -> Response {
    let status = run_status(&view, app.draining());
    let location = view["links"]["self"]
        .as_str()
        .unwrap_or("/v1/runs")
        .to_string();
    (status, [(header::LOCATION, location)], Json(view)).into_response()
}

/// The status of an answer with run `view`: `201` ended ok, `202` still running; a
/// failure by its cause: `403` policy, `409` quota (or cancelled), `422` the plugin or
/// one of its limits, `502` the engine, `503` cancelled because the server is stopping,
/// `500` the host's own failure.
pub fn run_status(view: &Value, draining: bool) -> StatusCode {
    use crate::run::cause::Cause;
    match view["status"].as_str() {
        Some("ok") => return StatusCode::CREATED,
        Some("running") => return StatusCode::ACCEPTED,
        // Its process ended without ending it: the host's failure, not the plugin's.
        Some("died") => return StatusCode::INTERNAL_SERVER_ERROR,
        _ => {}
    }
    match view["cause"].as_str().and_then(Cause::parse) {
        Some(Cause::Policy) => StatusCode::FORBIDDEN,
        Some(Cause::Quota) => StatusCode::CONFLICT,
        Some(Cause::Cancelled) if draining => StatusCode::SERVICE_UNAVAILABLE,
        Some(Cause::Cancelled) => StatusCode::CONFLICT,
        // A run ended before causes were journaled was most likely the plugin's doing.
        Some(Cause::Plugin | Cause::Limit) | None => StatusCode::UNPROCESSABLE_ENTITY,
        Some(Cause::Engine) => StatusCode::BAD_GATEWAY,
        Some(Cause::Internal) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The body, up to the server's limit: 413 past it, told before reading when the
/// client announces its length.
async fn read_body(app: &App, headers: &HeaderMap, body: Body) -> Result<Vec<u8>, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "the body is larger than the {} bytes this server accepts",
                app.max_body
            ),
        )
    };
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > app.max_body as u64) {
        return Err(too_large());
    }
    let mut chunks = body.into_data_stream();
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::bad_request(format!("cannot read the body: {e}")))?;
        if bytes.len() + chunk.len() > app.max_body {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

async fn list_runs(
    State(app): State<Arc<App>>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let query = request::Query::parse(query.as_deref(), &["limit", "status"])
        .map_err(ApiError::bad_request)?;
    let limit = match query.get("limit") {
        None => DEFAULT_LISTED,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_LISTED).contains(n))
            .ok_or_else(|| {
                ApiError::bad_request(format!(
                    "`limit` must be a whole number from 1 to {MAX_LISTED}, not `{text}`"
                ))
            })?,
    };
    let status = query
        .get("status")
        .map(|text| {
            crate::journal::history::STATUSES
                .into_iter()
                .find(|s| *s == text)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "`status` must be one of {}, not `{text}`",
                        crate::journal::history::STATUSES.join(", ")
                    ))
                })
        })
        .transpose()?;
    let mut answer = runs::recent(&app, &caller.team, status, limit).await?;
    answer["lifetime"] = runs::lifetime_view(&caller.policy);
    Ok(Json(answer))
}

async fn run_calls(
    State(app): State<Arc<App>>,
    caller: Caller,
    Id(id): Id,
) -> Result<Json<Value>, ApiError> {
    runs::calls(&app, &caller.team, &id).await.map(Json)
}

async fn show_run(
    State(app): State<Arc<App>>,
    caller: Caller,
    Id(id): Id,
) -> Result<Json<Value>, ApiError> {
    runs::find(&app, &caller.team, &id).await.map(Json)
}

async fn extend_run(
    State(app): State<Arc<App>>,
    caller: Caller,
    Id(id): Id,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    let bytes = read_body(&app, &headers, body).await?;
    let by = request::parse_extend(&bytes).map_err(ApiError::bad_request)?;
    runs::extend(&app, &caller, &id, by).await.map(Json)
}

/// The caller's team's usage over `since` (default 30 days), per workflow and in all.
async fn team_usage(
    State(app): State<Arc<App>>,
    caller: Caller,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let query =
        request::Query::parse(query.as_deref(), &["since"]).map_err(ApiError::bad_request)?;
    let since = query.get("since").unwrap_or("30d");
    let age = crate::config::values::parse_age(since).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`since` must be an age such as 30d, 4w or 12h, not `{since}`"
        ))
    })?;
    let now = std::time::SystemTime::now();
    let from = now.checked_sub(age).unwrap_or(std::time::UNIX_EPOCH);
    let (journal, team) = (app.journal.clone(), caller.team.clone());
    let runs = tokio::task::spawn_blocking(move || {
        crate::journal::usage::runs(&journal, Some(&team), from, now)
    })
    .await
    .map_err(|e| ApiError::internal(format!("reading the journal stopped: {e}")))?
    .map_err(|e| ApiError::internal(format!("{e:#}")))?;
    let rows = crate::journal::usage::account(&runs, from, now);
    Ok(Json(json!({
        "team": caller.team,
        "since": crate::journal::timestamp(from),
        "until": crate::journal::timestamp(now),
        "usage": rows,
    })))
}

async fn delete_run(
    State(app): State<Arc<App>>,
    caller: Caller,
    Id(id): Id,
) -> Result<Json<Value>, ApiError> {
    runs::teardown(&app, &caller, &id).await.map(Json)
}

/// Server-sent events: `log` and `build` events for the run's lines (each with its
/// number as the event id, so `Last-Event-ID` resumes), then one `end` event with
/// the run as `GET /v1/runs/{id}` shows it. With `?environment=true` the stream then
/// follows the environment the run left: `expiring`, `extended`, and `expired` or
/// `torn-down`, after which it ends.
async fn run_events(
    State(app): State<Arc<App>>,
    caller: Caller,
    Id(id): Id,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let query =
        request::Query::parse(query.as_deref(), &["environment"]).map_err(ApiError::bad_request)?;
    let follow = request::flag("environment", query.get("environment"), false)
        .map_err(ApiError::bad_request)?;
    let after = request::last_event_id(headers.get("last-event-id").map(|v| v.as_bytes()))
        .map_err(ApiError::bad_request)?;
    // Subscribed before anything is read, so no notice falls in between.
    let notices = follow.then(|| app.reaping.subscribe());
    let lifetime = move |app: Arc<App>, id: String| {
        let stream = notices.map(|rx| reaper::environment_events(app, id, rx).map(notice_event));
        stream::iter(stream).flatten().map(Ok::<_, Infallible>)
    };
    let Some(record) = app.started.get(&id, &caller.team) else {
        // Known only from the journal (a run of another server on the shared store, or
        // of a CLI): no lines are kept there, only its end, which a run still going is
        // followed to.
        let view = runs::find(&app, &caller.team, &id).await?;
        let end = journal_end(app.clone(), caller.team.clone(), id.clone(), view)
            .map(Ok::<_, Infallible>);
        let events = end.chain(lifetime(app.clone(), id));
        return Ok(Sse::new(events)
            .keep_alive(KeepAlive::default())
            .into_response());
    };
    let events = events(record, after).chain(lifetime(app.clone(), id));
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::default())
        .into_response())
}

/// How often the journal is read again for the end of a run this server does not run.
const FOLLOW_EVERY: Duration = Duration::from_millis(500);

/// The `end` event of a run known from the journal: at once when it has ended, else
/// when the journal says it has (its own server wrote its end, or it died and any
/// server's view says so). A read that fails ends the stream.
fn journal_end(app: Arc<App>, team: String, id: String, view: Value) -> impl Stream<Item = Event> {
    stream::unfold(Some(view), move |view| {
        let (app, team, id) = (app.clone(), team.clone(), id.clone());
        async move {
            let mut view = view?;
            while view["status"] == "running" {
                tokio::time::sleep(FOLLOW_EVERY).await;
                view = runs::find(&app, &team, &id).await.ok()?;
            }
            Some((end_event(&view), None))
        }
    })
}

fn notice_event(notice: crate::run::expiry::Notice) -> Event {
    let data = serde_json::to_string(&notice).unwrap_or_default();
    Event::default().event(notice.event).data(data)
}

fn events(record: Arc<RunRecord>, after: u64) -> impl Stream<Item = Result<Event, Infallible>> {
    let rx = record.subscribe();
    stream::unfold(Some((record, after, rx)), |state| async move {
        let (record, mut after, mut rx) = state?;
        loop {
            // Mark what is seen before reading, so a change in between wakes us.
            rx.borrow_and_update();
            let (lines, end) = record.since(after);
            if let Some(last) = lines.last() {
                after = last.seq;
                let batch: Vec<Event> = lines.iter().map(line_event).collect();
                return Some((batch, Some((record, after, rx))));
            }
            if end.is_some() {
                return Some((vec![end_event(&record.view(None))], None));
            }
            if rx.changed().await.is_err() {
                return None;
            }
        }
    })
    .flat_map(|batch| stream::iter(batch.into_iter().map(Ok)))
}

fn line_event(line: &Line) -> Event {
    let kind = if line.stream == "build" {
        "build"
    } else {
        "log"
    };
    let data = serde_json::to_string(line).unwrap_or_default();
    Event::default()
        .event(kind)
        .id(line.seq.to_string())
        .data(data)
}

fn end_event(view: &Value) -> Event {
    Event::default().event("end").data(view.to_string())
}

async fn list_containers(
    State(app): State<Arc<App>>,
    caller: Caller,
) -> Result<Json<Value>, ApiError> {
    let (list, unreachable) =
        containers::list_all(&app.engines, &app.teams.current(), &caller.policy).await;
    Ok(Json(
        json!({ "team": caller.team, "containers": list, "unreachable": unreachable }),
    ))
}

async fn show_container(
    State(app): State<Arc<App>>,
    caller: Caller,
    Id(id): Id,
) -> Result<Json<Value>, ApiError> {
    let (list, _) = containers::list_all(&app.engines, &app.teams.current(), &caller.policy).await;
    let found = containers::pick(&list, &id)
        .ok_or_else(|| ApiError::not_found(format!("no container `{id}` of your team")))?;
    Ok(Json(json!(found)))
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(format!(
        "no such endpoint: {method} {}; GET /openapi.json describes the API",
        uri.path()
    ))
}

async fn wrong_method(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!(
            "{method} is not allowed on {}; GET /openapi.json describes the API",
            uri.path()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_answers_with_the_status_of_how_it_went() {
        let view = |status: &str, cause: Value| json!({ "status": status, "cause": cause });
        let cases = [
            (view("ok", Value::Null), false, 201),
            (view("running", Value::Null), false, 202),
            (view("failed", json!("policy")), false, 403),
            (view("failed", json!("quota")), false, 409),
            (view("failed", json!("plugin")), false, 422),
            (view("failed", json!("limit")), false, 422),
            (view("failed", json!("engine")), false, 502),
            (view("failed", json!("cancelled")), false, 409),
            (view("failed", json!("cancelled")), true, 503),
            (view("failed", json!("internal")), false, 500),
            // Journaled before causes were, or by a later version: the plugin's.
            (view("failed", Value::Null), false, 422),
            (view("failed", json!("weather")), false, 422),
            (view("died", Value::Null), false, 500),
        ];
        for (view, draining, want) in cases {
            assert_eq!(
                run_status(&view, draining).as_u16(),
                want,
                "{view} {draining}"
            );
        }
    }

    #[test]
    fn every_route_is_described_and_nothing_else() {
        let doc = openapi::document();
        let mut described: Vec<(String, String)> = Vec::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if method != "parameters" {
                    described.push((method.clone(), path.clone()));
                }
            }
        }
        let mut routes: Vec<(String, String)> = ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        described.sort();
        routes.sort();
        assert_eq!(described, routes);
    }
}
