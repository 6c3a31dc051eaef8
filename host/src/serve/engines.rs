//! The engines a server runs on: the default one, connected at start, and the
//! config's `[engines.NAME]`, each connected at its first use and kept. A request
//! names one with `"engine"`; the team's `engines` rule decides whether it may.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::StatusCode;

use super::error::ApiError;
use crate::engine::config::DEFAULT_ENGINE;
use crate::engine::{self, Engine};
use crate::policy::TeamPolicy;
use crate::run::config::Config;

pub struct Engines {
    default: Engine,
    /// Named engines connected so far, with the address they were connected for
    /// (a config reloaded with another address for a name connects again).
    named: Mutex<HashMap<String, Engine>>,
}

impl Engines {
    pub fn new(default: Engine) -> Engines {
        Engines {
            default,
            named: Mutex::default(),
        }
    }

    pub fn default_engine(&self) -> &Engine {
        &self.default
    }

    /// The engine `name` for a team: 403 when its policy does not allow it, 422
    /// when the config has no such engine, 502 when it does not answer.
    pub async fn for_team(
        &self,
        config: &Config,
        team: &TeamPolicy,
        name: &str,
    ) -> Result<Engine, ApiError> {
        crate::policy::check_engine(team, name)
            .map_err(|denial| ApiError::new(StatusCode::FORBIDDEN, denial.to_string()))?;
        self.get(config, name).await
    }

    /// The engine `name` of `config`, connecting to it if it is not yet.
    pub async fn get(&self, config: &Config, name: &str) -> Result<Engine, ApiError> {
        if name == DEFAULT_ENGINE {
            return Ok(self.default.clone());
        }
        let Some(target) = config.engines.get(name) else {
            let names =
                std::iter::once(DEFAULT_ENGINE).chain(config.engines.keys().map(String::as_str));
            let hint = crate::util::suggest::did_you_mean(name, names.clone());
            return Err(ApiError::unfit(format!(
                "no engine named `{name}` (engines: {}).{hint}",
                names.collect::<Vec<_>>().join(", ")
            )));
        };
        let known = self
            .lock()
            .get(name)
            .filter(|e| e.address == target.host)
            .cloned();
        if let Some(engine) = known {
            return Ok(engine);
        }
        // Connected outside the lock: an engine that does not answer holds up only
        // the requests that want it.
        let engine = engine::connect_to(target)
            .await
            .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, format!("{e:#}")))?;
        self.lock().insert(name.to_string(), engine.clone());
        Ok(engine)
    }

    /// The default engine and every named one connected so far.
    pub fn connected(&self) -> Vec<Engine> {
        let mut all = vec![self.default.clone()];
        all.extend(self.lock().values().cloned());
        all
    }

    /// The names of the config's engines `team` may use, the default first.
    pub fn allowed(config: &Config, team: &TeamPolicy) -> Vec<String> {
        std::iter::once(DEFAULT_ENGINE)
            .chain(config.engines.keys().map(String::as_str))
            .filter(|name| crate::policy::check_engine(team, name).is_ok())
            .map(str::to_string)
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Engine>> {
        self.named.lock().unwrap_or_else(|e| e.into_inner())
    }
}
