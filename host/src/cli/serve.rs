//! `dockwright serve` and `dockwright token`: the command-line side of the team
//! HTTP API (see [`crate::serve`]).

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use crate::policy::config::ServeSettings;
use crate::serve::{self, admission::Bounds, auth};

/// Each flag overrides the config's `[serve]` key of the same name, which overrides
/// the built-in default shown.
#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// The address and port to listen on [default: 127.0.0.1:8080]
    #[arg(long, env = "DOCKWRIGHT_LISTEN")]
    pub listen: Option<SocketAddr>,

    /// The most runs in flight at once, all teams together [default: 16]
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_runs: Option<u16>,

    /// The most runs in flight at once for one team [default: 4]
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub max_team_runs: Option<u16>,

    /// On SIGTERM or Ctrl-C, how long runs in flight may go on before they are
    /// cancelled and rolled back: "30s", "2m", "500ms" [default: 30s]
    #[arg(long, value_parser = parse_duration)]
    pub drain_timeout: Option<Duration>,

    /// How long a team that was turned away counts as waiting for its fair share
    /// of runs: "10s", "1m" [default: 10s]
    #[arg(long, value_parser = parse_duration)]
    pub fair_window: Option<Duration>,

    /// The largest request body accepted, in bytes [default: 65536]
    #[arg(long)]
    pub max_body: Option<usize>,
}

/// What the server runs with: each flag, else the config's `[serve]`, else the
/// built-in default.
fn settings(args: &ServeArgs, config: &ServeSettings) -> (SocketAddr, Bounds, Duration, usize) {
    let listen = args
        .listen
        .or(config.listen)
        .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
    let bounds = Bounds {
        max_runs: args
            .max_runs
            .map(usize::from)
            .or(config.max_runs.map(|n| n as usize))
            .unwrap_or(16),
        max_team_runs: args
            .max_team_runs
            .map(usize::from)
            .or(config.max_team_runs.map(|n| n as usize))
            .unwrap_or(4),
        fair_window: args
            .fair_window
            .or(config.fair_window)
            .unwrap_or(Duration::from_secs(10)),
    };
    let drain = args
        .drain_timeout
        .or(config.drain_timeout)
        .unwrap_or(Duration::from_secs(30));
    let max_body = args
        .max_body
        .or(config
            .max_body
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)))
        .unwrap_or(64 * 1024);
    (listen, bounds, drain, max_body)
}

#[derive(clap::Subcommand, Debug)]
pub enum TokenCommand {
    /// Make a token for a team: printed once, only its hash is stored in the config
    New {
        /// The team the token is for; it must be in the config file
        team: String,
    },
    /// List a team's tokens: the start of each hash, and when it was made
    List {
        /// The team whose tokens to list
        team: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Revoke a team's token: it stops working at once, in a running server too
    Revoke {
        /// The team whose token it is
        team: String,
        /// The token, or the start of its hash (8 hex digits or more) as `token list` shows it
        token: String,
    },
}

/// `--drain-timeout`: a whole number with `ms`, `s` or `m` (`s` when none).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (number, unit) = text.split_at(digits);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration such as 30s, 2m or 500ms"))?;
    match unit.trim() {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n.saturating_mul(60))),
        other => Err(format!(
            "unknown unit `{other}` in `{text}`: use ms, s or m"
        )),
    }
}

pub async fn serve(plugins: &Path, config: Option<&Path>, args: ServeArgs) -> Result<ExitCode> {
    let file = super::load::load_config(config)?;
    let (listen, bounds, drain_timeout, max_body) = settings(&args, &file.serve);
    serve::serve(serve::Options {
        listen,
        plugins: plugins.to_path_buf(),
        config: config.map(Path::to_path_buf),
        lock: Some(super::load::locked(config)?),
        bounds,
        drain_timeout,
        max_body,
    })
    .await?;
    Ok(ExitCode::SUCCESS)
}

pub fn token(config: Option<&Path>, command: TokenCommand) -> Result<ExitCode> {
    let path = config.map_or_else(crate::util::paths::config_file, Path::to_path_buf);
    let team = match command {
        TokenCommand::New { team } => team,
        TokenCommand::List { team, json } => return list_tokens(&path, &team, json),
        TokenCommand::Revoke { team, token } => {
            let removed = auth::revoke(&path, &team, &token)?;
            eprintln!(
                "Revoked team `{team}`'s token {} in {}: a running server refuses it from its next request.",
                short_hash(&removed),
                path.display()
            );
            return Ok(ExitCode::SUCCESS);
        }
    };
    let token = auth::new_token()?;
    auth::store_hash(&path, &team, &auth::hash(&token))?;
    writeln!(std::io::stdout().lock(), "{token}")?;
    eprintln!(
        "A new token for team `{team}`: its hash is in {}. Keep the token now: it is not stored and \
         cannot be shown again. Send it as `Authorization: Bearer <token>`; to revoke it, run \
         `dockwright token revoke {team} <token>`.",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The first 12 hex digits of a stored hash, as `token list` shows it.
fn short_hash(hash: &str) -> &str {
    let hex = hash.strip_prefix("sha256:").unwrap_or(hash);
    &hex[..hex.len().min(12)]
}

fn list_tokens(path: &Path, team: &str, json: bool) -> Result<ExitCode> {
    let tokens = auth::list(path, team)?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&tokens)?)?;
    } else if tokens.is_empty() {
        writeln!(
            out,
            "Team `{team}` has no tokens; `dockwright token new {team}` makes one."
        )?;
    } else {
        let mut rows = vec![["HASH", "MADE"].map(String::from)];
        rows.extend(tokens.iter().map(|t| {
            [
                short_hash(&t.hash).to_string(),
                t.made.clone().unwrap_or_else(|| "-".into()),
            ]
        }));
        for line in super::table::table(&rows) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_the_config_which_overrides_the_defaults() {
        let none = ServeArgs {
            listen: None,
            max_runs: None,
            max_team_runs: None,
            drain_timeout: None,
            fair_window: None,
            max_body: None,
        };
        let (listen, bounds, drain, body) = settings(&none, &ServeSettings::default());
        assert_eq!(listen.to_string(), "127.0.0.1:8080");
        assert_eq!((bounds.max_runs, bounds.max_team_runs), (16, 4));
        assert_eq!((drain, body), (Duration::from_secs(30), 65536));
        let config = ServeSettings {
            listen: Some("0.0.0.0:9000".parse().unwrap()),
            max_runs: Some(32),
            max_body: Some(100),
            ..Default::default()
        };
        let (listen, bounds, _, body) = settings(&none, &config);
        assert_eq!((listen.port(), bounds.max_runs, body), (9000, 32, 100));
        let flags = ServeArgs {
            listen: Some("127.0.0.1:7000".parse().unwrap()),
            max_body: Some(200),
            ..none
        };
        let (listen, bounds, _, body) = settings(&flags, &config);
        assert_eq!((listen.port(), bounds.max_runs, body), (7000, 32, 200));
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5h").is_err());
    }
}
