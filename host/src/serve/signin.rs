//! The page's sign-in with the organization's identity provider: the
//! authorization code flow with PKCE, started by the browser (which keeps the
//! verifier), with the code traded for tokens here, where a confidential client's
//! secret can stay. The page keeps the ID token in its tab's session storage and
//! sends it as a bearer token, never in a URL. And `/v1/me`: who a token is, and
//! the teams it acts for.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::Json;
use serde_json::{json, Value};

use super::app::App;
use super::caller;
use super::error::ApiError;
use super::oidc::settings::acceptable_url;

/// What the page needs to start a sign-in, or `enabled: false` when the server has
/// no provider or no client for the page.
pub async fn config(State(app): State<Arc<App>>) -> Result<Json<Value>, ApiError> {
    let Some(oidc) = app.oidc.as_ref().filter(|o| o.settings.client_id.is_some()) else {
        return Ok(Json(json!({ "enabled": false })));
    };
    let discovery = oidc
        .discovery()
        .await
        .map_err(|r| ApiError::new(r.status, r.message))?;
    Ok(Json(json!({
        "enabled": true,
        "issuer": oidc.settings.issuer,
        "client_id": oidc.settings.client_id,
        "scopes": oidc.settings.scopes.join(" "),
        "authorization_endpoint": discovery.authorization_endpoint,
        "end_session_endpoint": discovery.end_session_endpoint,
    })))
}

/// `POST /auth/token` `{code, code_verifier, redirect_uri, nonce}`: the provider's
/// ID token for the code, checked as any bearer token is, and its nonce against the
/// one the page sent to the provider (so a code from another sign-in is refused).
pub async fn token(State(app): State<Arc<App>>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let Some(oidc) = app.oidc.as_ref() else {
        return Err(ApiError::not_found(
            "this server has no `[auth.oidc]`: sign in with a team token",
        ));
    };
    let request: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    let field = |name: &str| {
        request
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty() && v.len() <= 4096)
            .ok_or_else(|| {
                ApiError::bad_request(format!("field `{name}` must be a non-empty string"))
            })
    };
    let (code, verifier, redirect, nonce) = (
        field("code")?,
        field("code_verifier")?,
        field("redirect_uri")?,
        field("nonce")?,
    );
    if !acceptable_url(redirect) {
        return Err(ApiError::bad_request(
            "field `redirect_uri` must be this page's https:// address (plain http only on this machine)",
        ));
    }
    let (id_token, verified) = oidc
        .exchange(code, verifier, redirect)
        .await
        .map_err(|r| ApiError::new(r.status, r.message))?;
    if verified.nonce.as_deref() != Some(nonce) {
        return Err(ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "the sign-in's nonce does not match the one this page sent: sign in again",
        ));
    }
    Ok(Json(json!({
        "id_token": id_token,
        "expires": verified.expires,
        "user": verified.person.id,
        "name": verified.person.name,
    })))
}

/// `GET /v1/me`: who the token is and the teams it acts for (none: the person is
/// signed in but an admin has put none of their groups in a team).
pub async fn me(State(app): State<Arc<App>>, headers: HeaderMap) -> Result<Json<Value>, ApiError> {
    let identity = caller::identify(&headers, &app).await?;
    let person = identity.person();
    let kind = match identity {
        caller::Identity::Team { .. } => "team-token",
        caller::Identity::Person { .. } => "person",
    };
    Ok(Json(json!({
        "kind": kind,
        "user": person.id,
        "name": person.name,
        "teams": identity.teams(),
    })))
}
