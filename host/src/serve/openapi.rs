//! The API described in OpenAPI 3, served at `/openapi.json`. Written by hand, next
//! to the handlers' shapes; a test checks that every route is described and nothing
//! else, so the two cannot drift apart silently.

use serde_json::{json, Value};

/// The OpenAPI 3.0 document.
pub fn document() -> Value {
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "dockwright serve",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The team HTTP API of dockwright: run sandboxed plugin workflows that provision \
                Docker environments, with the same policy, audit journal and rollback as the CLI. \
                Every /v1 call needs `Authorization: Bearer <token>`: a team token (it decides the team), or a \
                person's token from the identity provider of `[auth.oidc]` (their groups decide their teams; one who \
                acts for several names the team with the `X-Dockwright-Team` header or the `team` query parameter, \
                which every /v1 operation takes). \
                Errors are JSON objects with one field, `error`."
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }],
        "paths": with_operation_ids(paths()),
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A team token made by `dockwright token new <team>`, or a JWT of the configured OpenID \
                        provider (`[auth.oidc]`): signed by one of its keys with an asymmetric algorithm, for this \
                        server's audience, not expired."
                }
            },
            "schemas": schemas(),
            "responses": responses(),
            "parameters": {
                "RunId": {
                    "name": "id", "in": "path", "required": true,
                    "description": "The run id, as POST /v1/runs returned it.",
                    "schema": { "type": "string" }
                }
            }
        }
    })
}

/// The paths, by what they are about; each group is one JSON object, merged in order.
fn paths() -> Value {
    merged([server_paths(), run_paths(), container_paths()])
}

/// The server itself: its health, this document, the workflows it offers, its metrics.
fn server_paths() -> Value {
    json!({
        "/healthz": { "get": {
            "summary": "Whether the server can reach the Docker engine",
            "security": [],
            "responses": {
                "200": { "description": "The engine answers", "content": json_of("#/components/schemas/Health") },
                "503": { "description": "The engine does not answer", "content": json_of("#/components/schemas/Health") }
            }
        }},
        "/openapi.json": { "get": {
            "summary": "This document",
            "security": [],
            "responses": { "200": { "description": "The OpenAPI 3.0 document", "content": { "application/json": { "schema": { "type": "object" } } } } }
        }},
        "/v1/me": { "get": {
            "summary": "Who the token is, and the teams it acts for",
            "description": "A team token acts for its team; a person for the teams whose `groups` hold one of theirs \
                (none: signed in, but an admin has put none of their groups in a team).",
            "responses": {
                "200": { "description": "The caller", "content": json_of("#/components/schemas/Me") },
                "401": { "$ref": "#/components/responses/Unauthorized" },
                "503": { "description": "The identity provider cannot be asked", "content": error() }
            }
        }},
        "/v1/workflows": { "get": {
            "summary": "The workflows the caller's team may run, with their params",
            "responses": {
                "200": { "description": "The workflows", "content": json_of("#/components/schemas/WorkflowList") },
                "401": { "$ref": "#/components/responses/Unauthorized" }
            }
        }},
        "/metrics": { "get": {
            "summary": "What the server did, for Prometheus",
            "description": "The OpenMetrics text format: `dockwright_runs_started_total` and `dockwright_runs_ended_total` \
                (by team, workflow and status), `dockwright_run_duration_seconds` (histogram), `dockwright_runs_in_flight`, \
                `dockwright_denials_total` (by team and rule), `dockwright_runs_throttled_total` (429s by team), \
                `dockwright_engine_reachable` (pinged at the scrape), `dockwright_http_responses_total`, \
                `dockwright_connections_open`, `dockwright_connections_evicted_total` (closed at the cap to let a \
                new one in) and `dockwright_connections_refused_total` (answered 503 at the cap).",
            "security": [],
            "responses": { "200": { "description": "The metrics", "content": { "application/openmetrics-text": { "schema": { "type": "string" } } } } }
        }}
    })
}

/// A team's runs: start, list, read, follow and tear down.
fn run_paths() -> Value {
    json!({
        "/v1/runs": { "get": {
            "summary": "The team's latest runs, newest first, as the journal has them",
            "parameters": [{
                "name": "limit", "in": "query", "required": false,
                "description": "How many (1 to 200, default 20).",
                "schema": { "type": "integer", "default": 20, "minimum": 1, "maximum": 200 }
            }, {
                "name": "status", "in": "query", "required": false,
                "description": "Only runs that ended so, or are running.",
                "schema": { "type": "string", "enum": crate::journal::history::STATUSES }
            }],
            "responses": {
                "200": { "description": "The runs", "content": json_of("#/components/schemas/RunList") },
                "400": { "$ref": "#/components/responses/BadRequest" },
                "401": { "$ref": "#/components/responses/Unauthorized" },
                "500": { "$ref": "#/components/responses/JournalFailed" }
            }
        }, "post": {
            "summary": "Start a run of a workflow",
            "description": "Waits for the run to end, unless `wait=false`, which answers 202 at once with the run in \
                status `running`. Once a run started, the answer is the run (with `Location` at its URL) whatever \
                happened, and its status code says how it ended: 201 ok; a failure by its `cause`: 403 `policy`, \
                409 `quota` (or `cancelled`: torn down while in flight), 422 `plugin` or `limit`, 502 `engine`, \
                503 `cancelled` because the server is stopping, 500 `internal`. What a failed run created was \
                rolled back. A request refused before any run started answers an Error.",
            "parameters": [{
                "name": "wait", "in": "query", "required": false,
                "description": "Wait for the run to end (default true). `true`/`false` in any case, or `1`/`0`.",
                "schema": { "type": "boolean", "default": true }
            }, {
                "name": "Idempotency-Key", "in": "header", "required": false,
                "description": "Makes a retry safe: the same key from the same team within 24 hours answers the first \
                    run (same id, same status; waited for if still running and this server holds it) with \
                    `Idempotent-Replayed: true`, and starts nothing. The same key with another request is 422. Keys \
                    are kept in the journal, so a restarted server answers alike. Ignored for plans.",
                "schema": { "type": "string", "pattern": "^[!-~]{1,255}$" }
            }],
            "requestBody": { "required": true, "content": json_of("#/components/schemas/RunRequest") },
            "responses": {
                "200": { "description": "The plan (`\"plan\": true`): the writes the run would make; nothing was sent", "content": json_of("#/components/schemas/Plan") },
                "201": { "description": "The run ended ok", "headers": location(), "content": json_of("#/components/schemas/Run"), "links": run_links() },
                "202": { "description": "The run started (wait=false)", "headers": location(), "content": json_of("#/components/schemas/Run"), "links": run_links() },
                "400": { "$ref": "#/components/responses/BadRequest" },
                "401": { "$ref": "#/components/responses/Unauthorized" },
                "403": run_or_error("The run failed by the team's policy (`cause: policy`), or the team may not run the workflow's plugin (an Error, no run)"),
                "404": { "description": "No such workflow (or plugin) for the team", "content": error() },
                "409": run_or_error("The run failed by one of the team's quotas (`cause: quota`), or was torn down while in flight (`cause: cancelled`); or, an Error with `Retry-After`, another server is starting the run this Idempotency-Key names"),
                "413": { "description": "The body is larger than the server accepts", "content": error() },
                "422": run_or_error("The run failed in the plugin (`cause: plugin`) or went over one of its limits (`cause: limit`); or, an Error and no run, the request does not fit what it names: params the workflow does not take (or lacks), an engine the config does not have, an Idempotency-Key sent before with another request"),
                "429": {
                    "description": "Too many runs in flight (for the team, its fair share, or the server)",
                    "headers": { "Retry-After": { "description": "Seconds to wait before trying again", "schema": { "type": "integer" } } },
                    "content": error()
                },
                "500": run_or_error("The host could not go on (`cause: internal`: the journal could not be written, say)"),
                "502": run_or_error("The engine did not answer (`cause: engine`), or a plan could not reach it"),
                "503": run_or_error("The server is shutting down: it starts no new runs, and cancelled this one (`cause: cancelled`)")
            }
        }},
        "/v1/runs/{id}": {
            "parameters": [{ "$ref": "#/components/parameters/RunId" }],
            "get": {
                "summary": "A run: status, outputs, error, log lines, containers and images it created",
                "responses": {
                    "200": { "description": "The run", "content": json_of("#/components/schemas/Run") },
                    "401": { "$ref": "#/components/responses/Unauthorized" },
                    "404": { "$ref": "#/components/responses/NoRun" },
                    "500": { "$ref": "#/components/responses/JournalFailed" }
                }
            },
            "delete": {
                "summary": "Tear down what the run created",
                "description": "Cancels the run if it is in flight (which rolls it back), then removes every container \
                    labelled with the run. Images are kept. The run then says `torn_down` (when, and what was removed), \
                    in the journal too; a later DELETE (or the second of two at once) answers \
                    `already_torn_down: true` with that first teardown.",
                "responses": {
                    "200": { "description": "What was removed", "content": json_of("#/components/schemas/Teardown") },
                    "401": { "$ref": "#/components/responses/Unauthorized" },
                    "404": { "$ref": "#/components/responses/NoRun" },
                    "500": { "$ref": "#/components/responses/JournalFailed" },
                    "502": { "description": "The engine could not remove some containers, or did not answer", "content": error() },
                    "504": { "description": "A run in flight did not stop in time: try again", "content": error() }
                }
            }
        },
        "/v1/runs/{id}/calls": {
            "parameters": [{ "$ref": "#/components/parameters/RunId" }],
            "get": {
                "summary": "A run with its params and every host call it made: operation, target, policy decision and rule, result",
                "responses": {
                    "200": { "description": "The run, as the journal has it, with its calls", "content": json_of("#/components/schemas/RunCalls") },
                    "401": { "$ref": "#/components/responses/Unauthorized" },
                    "404": { "$ref": "#/components/responses/NoRun" },
                    "500": { "$ref": "#/components/responses/JournalFailed" }
                }
            }
        },
        "/v1/usage": {
            "get": {
                "summary": "What the team's environments used, per workflow and in all",
                "description": "From the journal: environment-hours (a run's environment, from its start until its last \
                    container is gone), container-hours, reserved memory GiB-hours and CPU-hours (the limits each \
                    container got, while it ran), and the peak of containers at once, over the window. What is still \
                    there counts until now.",
                "parameters": [{
                    "name": "since", "in": "query", "required": false,
                    "description": "How far back: an age such as `30d` (default), `4w` or `12h`.",
                    "schema": { "type": "string", "default": "30d", "pattern": "^ *[1-9][0-9]{0,5} *(ms|s|m|h|d|w) *$" }
                }],
                "responses": {
                    "200": { "description": "The usage", "content": json_of("#/components/schemas/Usage") },
                    "400": { "$ref": "#/components/responses/BadRequest" },
                    "401": { "$ref": "#/components/responses/Unauthorized" },
                    "500": { "$ref": "#/components/responses/JournalFailed" }
                }
            }
        },
        "/v1/runs/{id}/extend": {
            "parameters": [{ "$ref": "#/components/parameters/RunId" }],
            "post": {
                "summary": "Keep a run's environment longer",
                "description": "Moves the run's expiry by `by`, from its current expiry (from now once that passed), as long \
                    as no more than the team's `lifetime.max` is left counted from now. Journaled with the caller's token.",
                "requestBody": { "required": true, "content": json_of("#/components/schemas/Extension") },
                "responses": {
                    "200": { "description": "The new expiry", "content": json_of("#/components/schemas/Extended") },
                    "400": { "$ref": "#/components/responses/BadRequest" },
                    "401": { "$ref": "#/components/responses/Unauthorized" },
                    "403": { "description": "Past the team's lifetime max (the message names it and how much may still be given)", "content": error() },
                    "404": { "$ref": "#/components/responses/NoRun" },
                    "409": { "description": "The run does not expire, has expired, or was torn down", "content": error() },
                    "413": { "description": "The body is larger than the server accepts", "content": error() },
                    "500": { "$ref": "#/components/responses/JournalFailed" }
                }
            }
        },
        "/v1/runs/{id}/events": {
            "parameters": [{ "$ref": "#/components/parameters/RunId" }],
            "get": {
                "summary": "The run's lines as server-sent events, then its end",
                "description": "A `text/event-stream` (the WHATWG server-sent events format) of three event types: \
                    `log` (a line the plugin wrote or logged) and `build` (a line of an image build's progress), \
                    each with a Line as its JSON data and the Line's `seq` as its `id`; then one `end`, whose data \
                    is the Run as `GET /v1/runs/{id}` answers it, and the stream closes. A subscriber that comes \
                    late gets the lines so far first; one that reconnects with `Last-Event-ID` gets the lines after \
                    that one. Comments (`:`) keep a quiet stream open. A run this server no longer holds (ended \
                    before it started) answers only its `end`. With `environment=true` the stream goes on after \
                    `end` while the run's environment stands: `expiring` (its team's warning lead time before the \
                    expiry), `extended`, then `expired` or `torn-down`, each with a Notice as its data, and closes.",
                "parameters": [{
                    "name": "Last-Event-ID", "in": "header", "required": false,
                    "description": "Send only the lines after this one (the `id` of the last event received).",
                    "schema": { "type": "integer", "format": "int64", "minimum": 0, "maximum": 9223372036854775807_u64 }
                }, {
                    "name": "environment", "in": "query", "required": false,
                    "description": "Follow the run's environment after its end (default false): lifetime events until it is reaped or torn down.",
                    "schema": { "type": "boolean", "default": false }
                }],
                "responses": {
                    "200": {
                        "description": "The event stream: `event: log|build` with `id: <seq>` and `data: <Line>`, then `event: end` with `data: <Run>`",
                        "content": { "text/event-stream": {
                            "schema": {
                                "type": "object", "required": ["event", "data"],
                                "description": "One event of the stream, as the WHATWG server-sent events format parses it",
                                "properties": {
                                    "event": { "type": "string", "enum": ["log", "build", "end", "expiring", "extended", "expired", "torn-down"] },
                                    "id": { "type": "string", "pattern": "^[0-9]+$", "description": "The Line's `seq`, for `Last-Event-ID`" },
                                    "data": { "type": "string", "description": "JSON: a Line for `log` and `build`, the Run for `end`, a Notice (event, run, team, expires, time, removed) for the lifetime events" },
                                    "retry": { "type": "integer" }
                                }
                            },
                            "example": "event: log\nid: 1\ndata: {\"seq\":1,\"time\":\"2026-12-04T10:00:00.000Z\",\"stream\":\"stdout\",\"text\":\"hello\"}\n\nevent: end\ndata: {\"id\":\"...\",\"status\":\"ok\"}\n\n"
                        } }
                    },
                    "400": { "$ref": "#/components/responses/BadRequest" },
                    "401": { "$ref": "#/components/responses/Unauthorized" },
                    "404": { "$ref": "#/components/responses/NoRun" },
                    "500": { "$ref": "#/components/responses/JournalFailed" }
                }
            }
        }
    })
}

/// A team's containers, as the engines have them.
fn container_paths() -> Value {
    json!({
        "/v1/containers": { "get": {
            "summary": "The team's containers, as `docker ps -a` shows them",
            "responses": {
                "200": { "description": "The containers, newest first; engines that could not be listed are named", "content": json_of("#/components/schemas/ContainerList") },
                "401": { "$ref": "#/components/responses/Unauthorized" }
            }
        }},
        "/v1/containers/{id}": { "get": {
            "summary": "One of the team's containers, by id, unique id prefix or name",
            "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" } }],
            "responses": {
                "200": { "description": "The container", "content": json_of("#/components/schemas/Container") },
                "401": { "$ref": "#/components/responses/Unauthorized" },
                "404": { "description": "No such container of the team", "content": error() }
            }
        }}
    })
}

/// Each operation's `operationId`: the names client generators give their methods, and
/// what links between operations point at.
const OPERATION_IDS: &[(&str, &str, &str)] = &[
    ("get", "/healthz", "health"),
    ("get", "/openapi.json", "openapi"),
    ("get", "/metrics", "metrics"),
    ("get", "/v1/me", "whoAmI"),
    ("get", "/v1/workflows", "listWorkflows"),
    ("get", "/v1/runs", "listRuns"),
    ("post", "/v1/runs", "startRun"),
    ("get", "/v1/runs/{id}", "getRun"),
    ("delete", "/v1/runs/{id}", "tearDownRun"),
    ("get", "/v1/runs/{id}/calls", "getRunCalls"),
    ("get", "/v1/runs/{id}/events", "getRunEvents"),
    ("post", "/v1/runs/{id}/extend", "extendRun"),
    ("get", "/v1/usage", "getUsage"),
    ("get", "/v1/containers", "listContainers"),
    ("get", "/v1/containers/{id}", "getContainer"),
];

fn with_operation_ids(mut paths: Value) -> Value {
    for (method, path, id) in OPERATION_IDS {
        if let Some(operation) =
            paths.pointer_mut(&format!("/{}/{method}", path.replace('/', "~1")))
        {
            operation["operationId"] = json!(id);
        }
    }
    paths
}

/// Where a started run's answer leads: its id is the `{id}` of the run's operations.
fn run_links() -> Value {
    let to = |operation: &str| json!({ "operationId": operation, "parameters": { "id": "$response.body#/id" } });
    json!({
        "GetRun": to("getRun"),
        "GetRunCalls": to("getRunCalls"),
        "GetRunEvents": to("getRunEvents"),
        "TearDownRun": to("tearDownRun"),
        "ExtendRun": to("extendRun"),
    })
}

/// A string that names something: at least one character that is not blank.
fn name() -> Value {
    json!({ "type": "string", "minLength": 1, "pattern": "\\S" })
}

fn nullable(kind: &str) -> Value {
    json!({ "type": kind, "nullable": true })
}

/// The schemas, grouped as the paths are.
fn schemas() -> Value {
    merged([server_schemas(), run_schemas(), container_schemas()])
}

/// What the server and its workflows are described with.
fn server_schemas() -> Value {
    json!({
        "Error": {
            "type": "object", "required": ["error"], "additionalProperties": false,
            "properties": { "error": { "type": "string", "description": "What went wrong, for people" } }
        },
        "Me": {
            "type": "object", "required": ["kind", "user", "name", "teams"],
            "properties": {
                "kind": { "type": "string", "enum": ["team-token", "person"] },
                "user": { "type": "string", "description": "The token's `sub`, or `team-token`" },
                "name": nullable("string"),
                "teams": { "type": "array", "items": { "type": "string" } }
            }
        },
        "Health": {
            "type": "object", "required": ["status", "draining", "engine", "plugins"],
            "properties": {
                "status": { "type": "string", "enum": ["ok", "unavailable"] },
                "draining": { "type": "boolean" },
                "state": { "type": "object", "required": ["store", "reachable", "leader"],
                    "description": "The shared state database (`[state]`), when the server has one: whether it answers (without it no run is admitted) and whether this server does the background work.",
                    "properties": {
                        "store": { "type": "string", "enum": ["postgres"] },
                        "reachable": { "type": "boolean" },
                        "leader": { "type": "boolean" }
                }},
                "engine": { "type": "object", "required": ["reachable", "address"], "properties": {
                    "reachable": { "type": "boolean" },
                    "address": { "type": "string" },
                    "version": nullable("string"),
                    "api_version": nullable("string"),
                    "error": { "type": "string" }
                }},
                "plugins": { "type": "object", "properties": {
                    "folder": { "type": "string" },
                    "offered": { "type": "array", "items": { "type": "object", "properties": {
                        "name": { "type": "string" }, "version": { "type": "string" }
                    }}},
                    "problems": { "type": "array", "items": { "type": "object", "properties": {
                        "file": { "type": "string" }, "reason": { "type": "string" }
                    }}}
                }}
            }
        },
        "Param": {
            "type": "object", "required": ["name", "description", "required"],
            "properties": {
                "name": { "type": "string" },
                "description": { "type": "string" },
                "required": { "type": "boolean" },
                "default": nullable("string")
            }
        },
        "Workflow": {
            "type": "object", "required": ["name", "plugin", "plugin_version", "params"],
            "properties": {
                "name": { "type": "string" },
                "description": { "type": "string" },
                "plugin": { "type": "string" },
                "plugin_version": { "type": "string" },
                "params": { "type": "array", "items": { "$ref": "#/components/schemas/Param" } },
                "permissions": {
                    "type": "array", "nullable": true, "items": { "type": "string" },
                    "description": "The plugin's permission manifest: the groups of Docker operations it may call"
                },
                "signer": {
                    "type": "string", "nullable": true,
                    "description": "The ed25519 public key of the plugin's verified signature, if it has one"
                }
            }
        },
        "WorkflowList": {
            "type": "object", "required": ["team", "workflows"],
            "properties": {
                "team": { "type": "string" },
                "workflows": { "type": "array", "items": { "$ref": "#/components/schemas/Workflow" } }
            }
        }
    })
}

/// What a run is asked with and answers.
fn run_schemas() -> Value {
    let strings = json!({ "type": "array", "items": { "type": "string" } });
    let cause = json!({
        "type": "string", "nullable": true,
        "enum": ["policy", "quota", "plugin", "limit", "engine", "cancelled", "internal", null],
        "description": "Why the run failed: `policy` (403), `quota` (409), `plugin` or `limit` (422), `engine` (502), \
            `cancelled` (409, or 503 while the server stops), `internal` (500); null when it did not fail \
            (or failed before causes were journaled)"
    });
    let run_status = json!({ "type": "string", "enum": ["running", "ok", "failed", "died"] });
    let torn_down = json!({
        "type": "object", "nullable": true, "required": ["time", "removed"],
        "description": "When the run's environment was torn down (`DELETE /v1/runs/{id}`) and the containers that \
            removed; null while it stands. `status` still says how the run went.",
        "properties": {
            "time": { "type": "string", "format": "date-time" },
            "removed": strings,
            "by": { "type": "string", "description": "Who tore it down (a team token by its hash's start, a person by name and id)" }
        }
    });
    let user = json!({
        "type": "string", "nullable": true,
        "description": "Who started the run: a token's `sub`, `uid:N` for a CLI run, `team-token`; null for runs \
            journaled before people were recorded."
    });
    let expires = json!({
        "type": "string", "format": "date-time", "nullable": true,
        "description": "When the run's environment expires (its team's `lifetime`, what its workflow asked, or an \
            extension); null when it does not. Reaped at that time, as a rollback removes things."
    });
    let expired = json!({
        "type": "object", "nullable": true, "required": ["time", "removed"],
        "description": "When the run's environment expired and was reaped, and what that removed; null while it stands.",
        "properties": {
            "time": { "type": "string", "format": "date-time" },
            "removed": strings
        }
    });
    let lifetimes = json!({
        "Usage": {
            "type": "object", "required": ["team", "since", "until", "usage"],
            "properties": {
                "team": { "type": "string" },
                "since": { "type": "string", "format": "date-time" },
                "until": { "type": "string", "format": "date-time" },
                "usage": { "type": "array", "items": {
                    "type": "object",
                    "required": ["team", "workflow", "environments", "environment_hours", "container_hours",
                        "memory_gib_hours", "cpu_hours", "peak_containers"],
                    "properties": {
                        "team": { "type": "string" },
                        "workflow": { "type": "string", "nullable": true, "description": "null: the team's total" },
                        "environments": { "type": "integer" },
                        "environment_hours": { "type": "number" },
                        "container_hours": { "type": "number" },
                        "memory_gib_hours": { "type": "number" },
                        "cpu_hours": { "type": "number" },
                        "peak_containers": { "type": "integer" }
                    }
                }}
            }
        },
        "Extension": {
            "type": "object", "required": ["by"], "additionalProperties": false,
            "properties": {
                "by": { "type": "string", "example": "4h", "pattern": "^ *[1-9][0-9]{0,5} *(ms|s|m|h|d|w) *$",
                    "description": "How much longer: `30m`, `4h`, `2d`. Counted from the current expiry (from now once it passed)" }
            }
        },
        "Extended": {
            "type": "object", "required": ["id", "expires", "by"],
            "properties": {
                "id": { "type": "string" },
                "expires": { "type": "string", "format": "date-time" },
                "by": { "type": "string", "description": "Who asked, as the journal keeps it" }
            }
        },
        "Lifetime": {
            "type": "object", "nullable": true, "required": ["default_s", "max_s", "warn_s"],
            "description": "The caller's team's lifetime rule in seconds; null when its runs do not expire",
            "properties": {
                "default_s": { "type": "integer" },
                "max_s": { "type": "integer" },
                "warn_s": { "type": "integer" }
            }
        },
        "RunRequest": {
            "type": "object", "required": ["workflow"], "additionalProperties": false,
            "description": "Strict: an unknown field, a key written twice, `null`, or an empty name is a 400 naming the field. \
                The body is UTF-8 JSON (a byte-order mark is accepted).",
            "properties": {
                "workflow": { "allOf": [name()], "example": "team-env" },
                "plugin": { "allOf": [name()], "description": "Needed only when several plugins offer the workflow" },
                "engine": { "allOf": [name()], "description": "The engine to run on, by its name in the server's config (`[engines.NAME]`); `default` when absent. The team's `engines` rule decides whether it may (403)" },
                "params": {
                    "type": "object",
                    "additionalProperties": { "oneOf": [{ "type": "string" }, { "type": "number" }, { "type": "boolean" }] },
                    "example": { "port": 8080 }
                },
                "plan": { "type": "boolean", "default": false, "description": "Plan the run instead of making it: reads go to the engine, writes are checked against the team's policy and answered with simulated ids, none is sent. Answers 200 with a Plan, at once (`wait` does not apply); a plan is not kept as a run" }
            }
        },
        "Plan": {
            "type": "object", "required": ["run", "plugin", "workflow", "team", "engine", "status", "steps"],
            "properties": {
                "run": { "type": "string" },
                "plugin": { "type": "string" },
                "workflow": { "type": "string" },
                "team": { "type": "string" },
                "engine": { "type": "string" },
                "status": { "type": "string", "enum": ["complete", "stopped", "failed"] },
                "steps": { "type": "array", "items": { "$ref": "#/components/schemas/PlanStep" } },
                "stopped": { "type": "string", "description": "Why the plan could not go on (a call needed a real answer about something it only simulated)" },
                "error": { "type": "string", "description": "Why a real run would fail" },
                "outputs": { "type": "object", "additionalProperties": { "type": "string" } },
                "duration_ms": { "type": "integer" }
            }
        },
        "PlanStep": {
            "type": "object",
            "properties": {
                "step": { "type": "integer" },
                "op": { "type": "string", "example": "create-container" },
                "target": { "type": "string" },
                "outcome": { "type": "string", "enum": ["would-run", "denied", "fails", "stopped"] },
                "answer": { "description": "The simulated answer the workflow got" },
                "detail": { "type": "string" },
                "sends": { "type": "string", "description": "What the host would send the engine, where it rewrites the request (a build's Dockerfile)" }
            }
        },
    });
    let runs = json!({
        "Line": {
            "type": "object", "required": ["seq", "time", "stream", "text"],
            "properties": {
                "seq": { "type": "integer", "minimum": 1 },
                "time": { "type": "string", "format": "date-time" },
                "stream": { "type": "string", "enum": ["stdout", "stderr", "log", "build"] },
                "level": { "type": "string", "enum": ["debug", "info", "warn", "error"] },
                "text": { "type": "string" }
            }
        },
        "Run": {
            "type": "object",
            "required": ["id", "status", "team", "plugin", "workflow", "engine", "params", "started", "links"],
            "properties": {
                "id": { "type": "string" },
                "status": run_status,
                "team": { "type": "string" },
                "plugin": { "type": "string" },
                "workflow": { "type": "string" },
                "engine": { "type": "string", "description": "The engine the run is on, by its name in the config" },
                "params": { "type": "object", "additionalProperties": { "type": "string" } },
                "started": { "type": "string", "format": "date-time" },
                "duration_ms": nullable("integer"),
                "outputs": { "type": "object", "additionalProperties": { "type": "string" } },
                "error": nullable("string"),
                "cause": cause,
                "containers": strings,
                "images": strings,
                "rolled_back": strings,
                "torn_down": torn_down,
                "expires": expires,
                "expired": expired,
                "user": user,
                "user_name": nullable("string"),
                "rollback_errors": strings,
                "log": { "type": "array", "items": { "$ref": "#/components/schemas/Line" } },
                "log_dropped": { "type": "integer" },
                "links": { "type": "object", "required": ["self", "events"], "properties": {
                    "self": { "type": "string" }, "events": { "type": "string" }
                }}
            }
        },
        "RunSummary": {
            "type": "object", "required": ["id", "status", "plugin", "workflow", "engine", "started"],
            "properties": {
                "id": { "type": "string" },
                "status": run_status,
                "plugin": { "type": "string" },
                "workflow": { "type": "string" },
                "engine": { "type": "string" },
                "started": { "type": "string", "description": "When it started (empty when the journal does not say)" },
                "duration_ms": nullable("integer"),
                "error": nullable("string"),
                "cause": cause,
                "torn_down": torn_down,
                "expires": expires,
                "expired": expired,
                "user": user,
                "user_name": nullable("string")
            }
        },
        "RunList": {
            "type": "object", "required": ["team", "runs"],
            "properties": {
                "team": { "type": "string" },
                "lifetime": { "$ref": "#/components/schemas/Lifetime" },
                "runs": { "type": "array", "items": { "$ref": "#/components/schemas/RunSummary" } }
            }
        },
        "Call": {
            "type": "object", "required": ["time", "op", "target", "decision", "result", "duration_ms"],
            "properties": {
                "time": { "type": "string", "format": "date-time" },
                "op": { "type": "string", "example": "create-container" },
                "target": { "type": "string" },
                "decision": { "type": "string", "enum": ["allowed", "denied"] },
                "rule": { "type": "string", "nullable": true, "description": "The policy rule that denied it" },
                "result": { "type": "string", "description": "`ok`, or the error's case (`not-found`, `denied`, ...)" },
                "detail": nullable("string"),
                "duration_ms": { "type": "integer" }
            }
        },
        "RunCalls": {
            "allOf": [
                { "$ref": "#/components/schemas/Run" },
                { "type": "object", "required": ["calls"], "properties": {
                    "calls": { "type": "array", "items": { "$ref": "#/components/schemas/Call" } }
                }}
            ]
        },
        "Teardown": {
            "type": "object",
            "required": ["id", "cancelled", "removed", "failed", "already_torn_down", "torn_down"],
            "properties": {
                "id": { "type": "string" },
                "cancelled": { "type": "boolean", "description": "Whether the run was in flight and was cancelled" },
                "removed": { "type": "array", "items": { "type": "string" }, "description": "The containers this request removed" },
                "failed": strings,
                "already_torn_down": { "type": "boolean", "description": "Another request tore the run down first: `torn_down` is that teardown, `removed` what this one found left" },
                "torn_down": torn_down,
                "message": { "type": "string" }
            }
        }
    });
    merged([lifetimes, runs])
}

/// What a container is listed as.
fn container_schemas() -> Value {
    json!({
        "Port": {
            "type": "object",
            "properties": {
                "container_port": { "type": "integer" },
                "protocol": { "type": "string" },
                "host_ip": { "type": "string" },
                "host_ips": { "type": "array", "items": { "type": "string" } },
                "host_port": { "type": "integer" }
            }
        },
        "Container": {
            "type": "object", "required": ["engine", "id", "name", "image", "state"],
            "properties": {
                "engine": { "type": "string", "description": "The engine it is on, by its name in the config" },
                "id": { "type": "string" },
                "name": { "type": "string" },
                "image": { "type": "string" },
                "state": { "type": "string" },
                "status": { "type": "string" },
                "ports": { "type": "array", "items": { "$ref": "#/components/schemas/Port" } },
                "run": nullable("string"),
                "plugin": nullable("string"),
                "created": { "type": "integer", "description": "Unix seconds" }
            }
        },
        "ContainerList": {
            "type": "object", "required": ["team", "containers", "unreachable"],
            "properties": {
                "team": { "type": "string" },
                "containers": { "type": "array", "items": { "$ref": "#/components/schemas/Container" } },
                "unreachable": { "type": "array", "description": "Engines the team may use that could not be listed", "items": { "type": "object", "properties": {
                    "engine": { "type": "string" }, "error": { "type": "string" }
                }}}
            }
        }
    })
}

/// The objects `parts` merged into one; a key in two parts is a mistake in this file.
fn merged<const N: usize>(parts: [Value; N]) -> Value {
    let mut all = serde_json::Map::new();
    for part in parts {
        let Value::Object(map) = part else {
            unreachable!("each part is a JSON object literal")
        };
        for (key, value) in map {
            let before = all.insert(key.clone(), value);
            debug_assert!(before.is_none(), "{key} is described twice");
        }
    }
    Value::Object(all)
}

fn responses() -> Value {
    json!({
        "Unauthorized": {
            "description": "No token, or one that is not valid",
            "headers": { "WWW-Authenticate": { "schema": { "type": "string" } } },
            "content": error()
        },
        "BadRequest": { "description": "The request is malformed; the error names the field", "content": error() },
        "NoRun": { "description": "No such run of the caller's team", "content": error() },
        "JournalFailed": { "description": "The journal could not be read", "content": error() }
    })
}

fn json_of(schema: &str) -> Value {
    json!({ "application/json": { "schema": { "$ref": schema } } })
}

fn error() -> Value {
    json_of("#/components/schemas/Error")
}

/// A response that is the run when one was started, else an Error: `anyOf`, since a
/// failed run's `error` field makes it an Error by shape too.
fn run_or_error(description: &str) -> Value {
    json!({
        "description": description,
        "headers": location(),
        "content": { "application/json": { "schema": { "anyOf": [
            { "$ref": "#/components/schemas/Run" },
            { "$ref": "#/components/schemas/Error" }
        ] } } }
    })
}

fn location() -> Value {
    json!({
        "Location": { "description": "The run's URL", "schema": { "type": "string" } },
        "Idempotent-Replayed": {
            "description": "`true` when this answers a retry with an Idempotency-Key used before: the run is the first request's",
            "schema": { "type": "string", "enum": ["true"] }
        }
    })
}

#[cfg(test)]
mod tests;
