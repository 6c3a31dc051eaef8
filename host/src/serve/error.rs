//! Errors of the API: a status and words for the user, always sent as
//! `{"error": "..."}` so every client can show them the same way.

use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    /// Sent as `Retry-After` (whole seconds).
    pub retry_after: Option<Duration>,
    /// Sent as `WWW-Authenticate` with a 401.
    pub challenge: Option<&'static str>,
}

impl ApiError {
    /// An error whose message is capped (see [`crate::util::text::cap`]): it can quote
    /// an engine or a plugin, and an answer is no place for megabytes of either.
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: crate::util::text::cap_owned(message.into()),
            retry_after: None,
            challenge: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// A well-formed request that does not fit what it names (params a workflow does
    /// not take, an engine the config lacks): `422`, apart from the `400` of a body that
    /// is malformed, since no one schema of the API can say what each workflow takes.
    pub fn unfit(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// The same answer for a run that does not exist and one of another team, so
    /// run ids cannot be probed across teams.
    pub fn no_run(id: &str) -> Self {
        Self::not_found(format!("no run `{id}` of your team"))
    }

    pub fn unauthorized(message: impl Into<String>, challenge: &'static str) -> Self {
        Self {
            challenge: Some(challenge),
            ..Self::new(StatusCode::UNAUTHORIZED, message)
        }
    }

    pub fn too_many(message: impl Into<String>, retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::TOO_MANY_REQUESTS, message)
        }
    }

    /// The server's own failure (the journal cannot be read, say).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
    }

    /// Unavailable for now: come back after `retry_after`.
    pub fn unavailable_for(message: impl Into<String>, retry_after: Duration) -> Self {
        Self {
            retry_after: Some(retry_after),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, message)
        }
    }

    /// An engine failure while serving a request.
    pub fn engine(err: &crate::contract::bindings::docker::DockerError) -> Self {
        Self::new(
            StatusCode::BAD_GATEWAY,
            crate::engine::errors::describe(err),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        let headers = response.headers_mut();
        if let Some(after) = self.retry_after {
            headers.insert(
                header::RETRY_AFTER,
                HeaderValue::from(after.as_secs().max(1)),
            );
        }
        if let Some(challenge) = self.challenge {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}
