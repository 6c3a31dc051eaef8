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
                Every /v1 call needs `Authorization: Bearer <token>`; the token decides the team. \
                Errors are JSON objects with one field, `error`."
        },
        "servers": [{ "url": "/" }],
        "security": [{ "bearer": [] }],
        "paths": paths(),
        "components": {
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A team token made by `dockwright token new <team>`."
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

fn paths() -> Value {
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
            "responses": { "200": { "description": "The OpenAPI 3 document", "content": { "application/json": {} } } }
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
                `dockwright_connections_open` and `dockwright_connections_refused_total`.",
            "security": [],
            "responses": { "200": { "description": "The metrics", "content": { "application/openmetrics-text": {} } } }
        }},
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
                "200": { "description": "`{\"team\": ..., \"runs\": [{id, status, plugin, workflow, engine, started, duration_ms, error}]}`", "content": { "application/json": {} } },
                "400": { "$ref": "#/components/responses/BadRequest" },
                "401": { "$ref": "#/components/responses/Unauthorized" }
            }
        }, "post": {
            "summary": "Start a run of a workflow",
            "description": "Waits for the run to end and answers 201, unless `wait=false`, which answers 202 at once \
                with the run in status `running`. A run that fails is still created: its `status` is `failed`, \
                its `error` says why, and what it created was rolled back.",
            "parameters": [{
                "name": "wait", "in": "query", "required": false,
                "description": "Wait for the run to end (default true).",
                "schema": { "type": "boolean", "default": true }
            }],
            "requestBody": { "required": true, "content": json_of("#/components/schemas/RunRequest") },
            "responses": {
                "200": { "description": "The plan (`\"plan\": true`): the writes the run would make; nothing was sent", "content": json_of("#/components/schemas/Plan") },
                "201": { "description": "The run ended (ok or failed)", "headers": location(), "content": json_of("#/components/schemas/Run") },
                "202": { "description": "The run started (wait=false)", "headers": location(), "content": json_of("#/components/schemas/Run") },
                "400": { "$ref": "#/components/responses/BadRequest" },
                "401": { "$ref": "#/components/responses/Unauthorized" },
                "403": { "description": "The team's policy does not allow the workflow's plugin", "content": error() },
                "404": { "description": "No such workflow (or plugin) for the team", "content": error() },
                "413": { "description": "The body is larger than the server accepts", "content": error() },
                "429": {
                    "description": "Too many runs in flight (for the team, its fair share, or the server)",
                    "headers": { "Retry-After": { "description": "Seconds to wait before trying again", "schema": { "type": "integer" } } },
                    "content": error()
                },
                "503": { "description": "The server is shutting down", "content": error() }
            }
        }},
        "/v1/runs/{id}": {
            "parameters": [{ "$ref": "#/components/parameters/RunId" }],
            "get": {
                "summary": "A run: status, outputs, error, log lines, containers and images it created",
                "responses": {
                    "200": { "description": "The run", "content": json_of("#/components/schemas/Run") },
                    "401": { "$ref": "#/components/responses/Unauthorized" },
                    "404": { "$ref": "#/components/responses/NoRun" }
                }
            },
            "delete": {
                "summary": "Tear down what the run created",
                "description": "Cancels the run if it is in flight (which rolls it back), then removes every container \
                    labelled with the run. Images are kept.",
                "responses": {
                    "200": { "description": "What was removed", "content": json_of("#/components/schemas/Teardown") },
                    "401": { "$ref": "#/components/responses/Unauthorized" },
                    "404": { "$ref": "#/components/responses/NoRun" },
                    "502": { "description": "The engine could not remove some containers", "content": error() }
                }
            }
        },
        "/v1/runs/{id}/calls": {
            "parameters": [{ "$ref": "#/components/parameters/RunId" }],
            "get": {
                "summary": "A run with its params and every host call it made: operation, target, policy decision and rule, result",
                "responses": {
                    "200": { "description": "`{id, status, workflow, plugin, engine, started, duration_ms, error, params, calls: [{time, op, target, decision, rule, result, detail, duration_ms}]}`", "content": { "application/json": {} } },
                    "401": { "$ref": "#/components/responses/Unauthorized" },
                    "404": { "description": "No such run of the team in the journal", "content": error() }
                }
            }
        },
        "/v1/runs/{id}/events": {
            "parameters": [{ "$ref": "#/components/parameters/RunId" }],
            "get": {
                "summary": "The run's lines as server-sent events, then its end",
                "description": "Events `log` (the plugin's output and log lines) and `build` (image build progress), \
                    each a Line with its `seq` as the event id, then one `end` event whose data is the Run. A late \
                    subscriber first gets the lines so far; `Last-Event-ID` resumes after a line.",
                "parameters": [{
                    "name": "Last-Event-ID", "in": "header", "required": false,
                    "description": "Send only the lines after this one.",
                    "schema": { "type": "integer" }
                }],
                "responses": {
                    "200": { "description": "An event stream", "content": { "text/event-stream": { "schema": { "type": "string" } } } },
                    "401": { "$ref": "#/components/responses/Unauthorized" },
                    "404": { "$ref": "#/components/responses/NoRun" }
                }
            }
        },
        "/v1/containers": { "get": {
            "summary": "The team's containers, as `docker ps -a` shows them",
            "responses": {
                "200": { "description": "The containers, newest first", "content": json_of("#/components/schemas/ContainerList") },
                "401": { "$ref": "#/components/responses/Unauthorized" },
                "502": { "description": "The engine failed", "content": error() }
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

fn schemas() -> Value {
    let strings = json!({ "type": "array", "items": { "type": "string" } });
    json!({
        "Error": {
            "type": "object", "required": ["error"],
            "properties": { "error": { "type": "string", "description": "What went wrong, for people" } }
        },
        "Health": {
            "type": "object",
            "properties": {
                "status": { "type": "string", "enum": ["ok", "unavailable"] },
                "draining": { "type": "boolean" },
                "engine": { "type": "object", "properties": {
                    "reachable": { "type": "boolean" },
                    "address": { "type": "string" },
                    "version": { "type": "string" },
                    "api_version": { "type": "string" },
                    "error": { "type": "string" }
                }}
            }
        },
        "Param": {
            "type": "object", "required": ["name", "description", "required"],
            "properties": {
                "name": { "type": "string" },
                "description": { "type": "string" },
                "required": { "type": "boolean" },
                "default": { "type": "string" }
            }
        },
        "Workflow": {
            "type": "object",
            "properties": {
                "name": { "type": "string" },
                "description": { "type": "string" },
                "plugin": { "type": "string" },
                "plugin_version": { "type": "string" },
                "params": { "type": "array", "items": { "$ref": "#/components/schemas/Param" } },
                "permissions": {
                    "type": "array", "items": { "type": "string" },
                    "description": "The plugin's permission manifest: the groups of Docker operations it may call"
                },
                "signer": {
                    "type": ["string", "null"],
                    "description": "The ed25519 public key of the plugin's verified signature, if it has one"
                }
            }
        },
        "WorkflowList": {
            "type": "object",
            "properties": {
                "team": { "type": "string" },
                "workflows": { "type": "array", "items": { "$ref": "#/components/schemas/Workflow" } }
            }
        },
        "RunRequest": {
            "type": "object", "required": ["workflow"], "additionalProperties": false,
            "properties": {
                "workflow": { "type": "string", "example": "team-env" },
                "plugin": { "type": "string", "description": "Needed only when several plugins offer the workflow" },
                "engine": { "type": "string", "description": "The engine to run on, by its name in the server's config (`[engines.NAME]`); `default` when absent. The team's `engines` rule decides whether it may (403)" },
                "params": {
                    "type": "object",
                    "additionalProperties": { "oneOf": [{ "type": "string" }, { "type": "number" }, { "type": "boolean" }] },
                    "example": { "team": "blue" }
                },
                "plan": { "type": "boolean", "default": false, "description": "Plan the run instead of making it: reads go to the engine, writes are checked against the team's policy and answered with simulated ids, none is sent. Answers 200 with a Plan, at once (`wait` does not apply); a plan is not kept as a run" }
            }
        },
        "Plan": {
            "type": "object",
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
                "detail": { "type": "string" }
            }
        },
        "Line": {
            "type": "object",
            "properties": {
                "seq": { "type": "integer" },
                "time": { "type": "string", "format": "date-time" },
                "stream": { "type": "string", "enum": ["stdout", "stderr", "log", "build"] },
                "level": { "type": "string", "enum": ["debug", "info", "warn", "error"] },
                "text": { "type": "string" }
            }
        },
        "Run": {
            "type": "object",
            "properties": {
                "id": { "type": "string" },
                "status": { "type": "string", "enum": ["running", "ok", "failed", "died"] },
                "team": { "type": "string" },
                "plugin": { "type": "string" },
                "workflow": { "type": "string" },
                "engine": { "type": "string", "description": "The engine the run is on, by its name in the config" },
                "params": { "type": "object", "additionalProperties": { "type": "string" } },
                "started": { "type": "string", "format": "date-time" },
                "duration_ms": { "type": "integer", "nullable": true },
                "outputs": { "type": "object", "additionalProperties": { "type": "string" } },
                "error": { "type": "string", "nullable": true },
                "containers": strings,
                "images": strings,
                "rolled_back": strings,
                "rollback_errors": strings,
                "log": { "type": "array", "items": { "$ref": "#/components/schemas/Line" } },
                "log_dropped": { "type": "integer" },
                "links": { "type": "object", "properties": {
                    "self": { "type": "string" }, "events": { "type": "string" }
                }}
            }
        },
        "Teardown": {
            "type": "object",
            "properties": {
                "id": { "type": "string" },
                "cancelled": { "type": "boolean", "description": "Whether the run was in flight and was cancelled" },
                "removed": strings,
                "failed": strings
            }
        },
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
            "type": "object",
            "properties": {
                "engine": { "type": "string", "description": "The engine it is on, by its name in the config" },
                "id": { "type": "string" },
                "name": { "type": "string" },
                "image": { "type": "string" },
                "state": { "type": "string" },
                "status": { "type": "string" },
                "ports": { "type": "array", "items": { "$ref": "#/components/schemas/Port" } },
                "run": { "type": "string" },
                "plugin": { "type": "string" },
                "created": { "type": "integer", "description": "Unix seconds" }
            }
        },
        "ContainerList": {
            "type": "object",
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

fn responses() -> Value {
    json!({
        "Unauthorized": {
            "description": "No token, or one that is not valid",
            "headers": { "WWW-Authenticate": { "schema": { "type": "string" } } },
            "content": error()
        },
        "BadRequest": { "description": "The request is malformed; the error names the field", "content": error() },
        "NoRun": { "description": "No such run of the caller's team", "content": error() }
    })
}

fn json_of(schema: &str) -> Value {
    json!({ "application/json": { "schema": { "$ref": schema } } })
}

fn error() -> Value {
    json_of("#/components/schemas/Error")
}

fn location() -> Value {
    json!({ "Location": { "description": "The run's URL", "schema": { "type": "string" } } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reference_resolves() {
        let doc = document();
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(map) => {
                    for (k, v) in map {
                        match (k.as_str(), v) {
                            ("$ref", Value::String(r)) => out.push(r.clone()),
                            _ => refs(v, out),
                        }
                    }
                }
                Value::Array(items) => items.iter().for_each(|i| refs(i, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        refs(&doc, &mut all);
        assert!(!all.is_empty());
        for r in all {
            let pointer = r.strip_prefix('#').unwrap();
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }
}
