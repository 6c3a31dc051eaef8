//! Who a request is from: a team's token (`dwt_...`), or a person's token from the
//! organization's identity provider; and the team they act for (a person names it
//! with `X-Dockwright-Team` or `?team=` when they act for several).

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};

use super::app::App;
use super::auth;
use super::error::ApiError;
use super::oidc::Verified;
use super::request::{TEAM_HEADER, TEAM_PARAM};
use crate::policy::people::{self, Person, Refusal};
use crate::policy::TeamPolicy;

/// Who is calling: the team they act for, with that team's policy now.
#[derive(Debug, Clone)]
pub struct Caller {
    pub team: String,
    pub policy: Arc<TeamPolicy>,
    /// Who the caller is, as a run's context tells its plugin and the journal
    /// names who extended or tore down: a team token by the start of its hash as
    /// `dockwright token list` shows it (never the token), a person by name and id.
    pub who: String,
    /// The person runs are for: a signed-in person, or `team-token`.
    pub person: Person,
}

const CHALLENGE: &str = "Bearer realm=\"dockwright\"";
const INVALID: &str = "Bearer realm=\"dockwright\", error=\"invalid_token\"";

/// Who presented the token, before a team is picked.
pub enum Identity {
    /// A team's token: it acts for that team only.
    Team { team: String, hash: String },
    /// A person, with the teams their groups give them.
    Person {
        verified: Verified,
        teams: Vec<String>,
    },
}

impl Identity {
    /// Who it is in the journal and in messages.
    pub fn person(&self) -> Person {
        match self {
            Identity::Team { .. } => Person::team_token(),
            Identity::Person { verified, .. } => verified.person.clone(),
        }
    }

    /// The teams it may act for.
    pub fn teams(&self) -> Vec<String> {
        match self {
            Identity::Team { team, .. } => vec![team.clone()],
            Identity::Person { teams, .. } => teams.clone(),
        }
    }
}

/// The token of the request, checked: a team token against the config's hashes, any
/// other against the identity provider when one is configured.
pub async fn identify(headers: &HeaderMap, app: &App) -> Result<Identity, ApiError> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        let how = match app.oidc {
            Some(_) => "sign in on the page, or send `Authorization: Bearer <token>` with your identity provider's token or a team token",
            None => "send `Authorization: Bearer <token>` (an admin makes one with `dockwright token new <team>`)",
        };
        return Err(ApiError::unauthorized(
            format!("this needs a token: {how}"),
            CHALLENGE,
        ));
    };
    let token = value.to_str().ok().and_then(auth::bearer).ok_or_else(|| {
        ApiError::unauthorized("the Authorization header must be `Bearer <token>`", INVALID)
    })?;
    let config = app.teams.current();
    let oidc = app
        .oidc
        .as_ref()
        .filter(|_| !token.starts_with(auth::PREFIX));
    let Some(oidc) = oidc else {
        let (team, stored) = auth::team_of(&config.tokens, token).ok_or_else(|| {
            ApiError::unauthorized(
                "the token is not valid (it may have been revoked): ask an admin for a new one",
                INVALID,
            )
        })?;
        return Ok(Identity::Team {
            team: team.to_string(),
            hash: stored.to_string(),
        });
    };
    let verified = oidc.verify(token).await.map_err(|refused| {
        if refused.status == StatusCode::UNAUTHORIZED {
            ApiError::unauthorized(refused.message, INVALID)
        } else {
            ApiError::new(refused.status, refused.message)
        }
    })?;
    let teams = people::teams_of(&verified.groups, &config.groups)
        .into_iter()
        // A team whose table went away since keeps no members.
        .filter(|t| config.teams.contains_key(*t))
        .map(String::from)
        .collect();
    Ok(Identity::Person { verified, teams })
}

/// The team a request names, if it names one: the header, else the query.
fn asked_team(parts: &Parts) -> Result<Option<String>, ApiError> {
    if let Some(value) = parts.headers.get(TEAM_HEADER) {
        let team = value.to_str().map_err(|_| {
            ApiError::bad_request("header `X-Dockwright-Team` must be a team's name")
        })?;
        return Ok(Some(team.trim().to_string()));
    }
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(parts.uri.query().unwrap_or_default()).unwrap_or_default();
    Ok(pairs
        .into_iter()
        .find(|(k, _)| k == TEAM_PARAM)
        .map(|(_, v)| v.trim().to_string()))
}

impl FromRequestParts<Arc<App>> for Caller {
    type Rejection = ApiError;

    /// The caller and the team they act for. Every `/v1` handler takes a `Caller`,
    /// so none runs for an unauthenticated request.
    async fn from_request_parts(parts: &mut Parts, app: &Arc<App>) -> Result<Self, ApiError> {
        let identity = identify(&parts.headers, app).await?;
        let asked = asked_team(parts)?;
        let person = identity.person();
        let (team, who) = match &identity {
            Identity::Team { team, hash } => {
                if let Some(asked) = asked.filter(|a| a != team) {
                    return Err(ApiError::new(
                        StatusCode::FORBIDDEN,
                        format!("this token is team `{team}`'s: it cannot act for team `{asked}`"),
                    ));
                }
                (team.clone(), format!("token {}", auth::short_hash(hash)))
            }
            Identity::Person { teams, .. } => {
                let who = person.display();
                let mine: Vec<&str> = teams.iter().map(String::as_str).collect();
                let team = people::pick(&who, &mine, asked.as_deref()).map_err(|refusal| {
                    let status = match refusal {
                        Refusal::Ambiguous(_) => StatusCode::BAD_REQUEST,
                        Refusal::NoTeam(_) | Refusal::NotTheirs(_) => StatusCode::FORBIDDEN,
                    };
                    ApiError::new(status, refusal.message())
                })?;
                (team.to_string(), who)
            }
        };
        let config = app.teams.current();
        let policy = config
            .team(&team)
            .map_err(|e| ApiError::unauthorized(format!("{e:#}"), INVALID))?;
        Ok(Caller {
            team,
            policy: Arc::new(policy.clone()),
            who,
            person,
        })
    }
}
