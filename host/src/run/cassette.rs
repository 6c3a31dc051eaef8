//! Cassettes: a run written down (`run --record`) so that the plugin's workflow can be
//! run again from it with no engine (`test --replay`).
//!
//! A cassette is JSON: the plugin and workflow, the params, the run's id, team and
//! engine, every host call with its arguments and answer, and how the run ended. Ids and
//! times are kept as they were, so a replay answers exactly what the engine answered.

use std::path::Path;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::workflow::{run_workflow_as, RunOptions, RunReport, RunRequest, Status};
use crate::engine::Engine;
use crate::imports::mode::Mode;
use crate::imports::recording::{self, Call, Divergence, Recording};
use crate::journal::Journal;
use crate::plugin::catalog::LoadedPlugin;
use crate::plugin::runtime::Runtime;
use crate::util::console::Console;

/// The cassette format this host writes and reads.
pub const FORMAT: u32 = 1;

/// Env names whose values a recording leaves out unless told otherwise.
pub const DEFAULT_REDACT: &[&str] = &[
    "*PASSWORD*",
    "*PASSWD*",
    "*SECRET*",
    "*TOKEN*",
    "*_KEY",
    "*CREDENTIAL*",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cassette {
    /// The format, so a later host can tell an older cassette.
    pub dockwright_cassette: u32,
    /// When it was recorded (UTC).
    pub recorded: String,
    pub plugin: PluginRef,
    pub workflow: String,
    /// The params as the run got them, defaults filled in.
    pub params: Map<String, Value>,
    pub run: String,
    pub team: String,
    pub engine: EngineRef,
    /// The env name patterns whose values were left out; a replay leaves them out too
    /// before it compares.
    #[serde(default)]
    pub redact_env: Vec<String>,
    pub calls: Vec<Call>,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginRef {
    pub name: String,
    pub version: String,
    pub sha256: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EngineRef {
    pub name: String,
    /// The host where the engine's published ports were reached.
    pub published_host: String,
    /// Where people reached them (`host.public-host`). Cassettes from before contract
    /// 0.1.3 have none: plugins then wrote `localhost`, which a replay answers.
    #[serde(default = "localhost")]
    pub public_host: String,
}

fn localhost() -> String {
    "localhost".into()
}

/// How a run ended: what a replay must end with too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub status: Status,
    pub outputs: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Outcome {
    pub fn of(report: &RunReport) -> Outcome {
        Outcome {
            status: report.status,
            outputs: report.outputs.clone(),
            error: report.error.clone(),
        }
    }
}

impl Cassette {
    /// The cassette of a recorded run.
    pub fn recorded(
        plugin: &LoadedPlugin,
        params: &[(String, String)],
        engine: &Engine,
        report: &RunReport,
        recording: &recording::Shared,
    ) -> Cassette {
        let recording = recording::lock(recording);
        let redact_env = recording.redact.clone();
        Cassette {
            dockwright_cassette: FORMAT,
            recorded: crate::journal::now(),
            plugin: PluginRef {
                name: plugin.info.name.clone(),
                version: plugin.info.version.clone(),
                sha256: plugin.sha256.clone(),
            },
            workflow: report.workflow.clone(),
            params: redacted_params(params, &redact_env),
            run: report.run.clone(),
            team: report.team.clone(),
            engine: EngineRef {
                name: engine.name.clone(),
                published_host: engine.published_host.clone(),
                public_host: engine.public_host.clone(),
            },
            redact_env,
            calls: recording.calls().to_vec(),
            outcome: Outcome::of(report),
        }
    }

    pub fn write(&self, path: &Path) -> Result<()> {
        let mut text = serde_json::to_string_pretty(self)?;
        text.push('\n');
        crate::util::files::write_atomic(path, text.as_bytes())
            .with_context(|| format!("cannot write the cassette `{}`", path.display()))
    }

    pub fn read(path: &Path) -> Result<Cassette> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the cassette `{}`", path.display()))?;
        Cassette::parse(&text).with_context(|| format!("cassette `{}`", path.display()))
    }

    pub fn parse(text: &str) -> Result<Cassette> {
        let value: Value = serde_json::from_str(text).context("not JSON")?;
        match value.get("dockwright_cassette").and_then(Value::as_u64) {
            Some(n) if n == u64::from(FORMAT) => {}
            Some(n) => bail!(
                "format {n}, and this dockwright reads format {FORMAT}: record it again with `dockwright run ... --record`"
            ),
            None => bail!("no `dockwright_cassette` field: this is not a cassette `dockwright run --record` wrote"),
        }
        serde_json::from_value(value).context("not a cassette this dockwright can read")
    }

    /// The params, in their recorded order.
    pub fn param_list(&self) -> Vec<(String, String)> {
        self.params
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect()
    }
}

/// The params as a cassette keeps them: a param whose name matches one of `patterns`
/// (so `-p db_password=...` under `*PASSWORD*`) is written as redacted, and a replay
/// hands the plugin that instead.
fn redacted_params(params: &[(String, String)], patterns: &[String]) -> Map<String, Value> {
    params
        .iter()
        .map(|(k, v)| {
            let secret = recording::secret_name(k, patterns);
            let value = if secret {
                recording::REDACTED
            } else {
                v.as_str()
            };
            (k.clone(), Value::from(value))
        })
        .collect()
}

/// What a replay found.
pub struct Replayed {
    pub report: RunReport,
    /// The first call where the run left the recording.
    pub divergence: Option<Divergence>,
    /// The recorded ending, when this run ended otherwise.
    pub changed_outcome: Option<Outcome>,
}

/// Run the cassette's workflow of `plugin` again with every host call answered from the
/// cassette: no engine is reached, and the journal and run state go to a scratch folder.
pub async fn replay(
    runtime: &Runtime,
    plugin: &LoadedPlugin,
    cassette: &Cassette,
    console: Arc<dyn Console>,
) -> Result<Replayed> {
    if plugin.info.name != cassette.plugin.name {
        bail!(
            "the cassette was recorded with plugin `{}`, not `{}`",
            cassette.plugin.name,
            plugin.info.name
        );
    }
    if !plugin
        .info
        .workflows
        .iter()
        .any(|w| w.name == cassette.workflow)
    {
        bail!(
            "plugin `{}` has no workflow `{}`, which the cassette recorded",
            plugin.info.name,
            cassette.workflow
        );
    }
    let scratch = tempfile::tempdir().context("cannot make a scratch folder for the replay")?;
    let journal = Arc::new(Journal::open(&scratch.path().join("journal.db"))?);
    let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let recording = Recording::of(cassette.calls.clone(), cassette.redact_env.clone());
    let options = RunOptions {
        policy: Arc::new(crate::policy::team::default_team(&cassette.team, &cwd)),
        keep_on_failure: false,
        journal,
        state_dir: scratch.path().join("state"),
        mode: Mode::Replay(recording.clone()),
        // A replay is nobody's request: a plugin reads no caller, as on a host that
        // does not know it.
        caller: None,
        user: None,
    };
    let request = RunRequest {
        runtime,
        plugin,
        workflow: &cassette.workflow,
        params: cassette.param_list(),
        engine: no_engine(&cassette.engine)?,
        console,
        options: &options,
    };
    let report = run_workflow_as(&cassette.run, request, std::future::pending()).await;
    let divergence = recording::lock(&recording).divergence();
    let changed_outcome = (divergence.is_none() && Outcome::of(&report) != cassette.outcome)
        .then(|| cassette.outcome.clone());
    Ok(Replayed {
        report,
        divergence,
        changed_outcome,
    })
}

/// An engine that is never reached: a replay answers every call from the cassette, and
/// a call that slipped past would fail at once on port 0, where nothing can listen.
fn no_engine(recorded: &EngineRef) -> Result<Engine> {
    const NOWHERE: &str = "http://127.0.0.1:0";
    let docker = bollard::Docker::connect_with_http(NOWHERE, 1, bollard::API_DEFAULT_VERSION)
        .context("cannot make the replay's engine client")?;
    let mut engine = Engine::new(
        recorded.name.clone(),
        docker,
        "replay (no engine)".to_string(),
    );
    engine.published_host = recorded.published_host.clone();
    engine.public_host = recorded.public_host.clone();
    Ok(engine)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_named_like_secrets_are_left_out() {
        let params = vec![
            ("db_password".to_string(), "hunter2".to_string()),
            ("team".to_string(), "blue".to_string()),
        ];
        let kept = redacted_params(&params, &["*PASSWORD*".into()]);
        assert_eq!(kept["db_password"], recording::REDACTED);
        assert_eq!(kept["team"], "blue");
        assert_eq!(redacted_params(&params, &[])["db_password"], "hunter2");
    }

    #[test]
    fn only_a_cassette_of_this_format_is_read() {
        let err = Cassette::parse("{}").unwrap_err().to_string();
        assert!(err.contains("not a cassette"), "{err}");
        let err = format!(
            "{:#}",
            Cassette::parse(r#"{"dockwright_cassette": 99}"#).unwrap_err()
        );
        assert!(err.contains("format 99"), "{err}");
        let err = format!("{:#}", Cassette::parse("[").unwrap_err());
        assert!(err.contains("not JSON"), "{err}");
        let err = format!(
            "{:#}",
            Cassette::parse(r#"{"dockwright_cassette": 1, "calls": []}"#).unwrap_err()
        );
        assert!(err.contains("can read: missing field"), "{err}");
    }
}
