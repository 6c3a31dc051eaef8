//! `dockwright serve` and `dockwright token`: the command-line side of the team
//! HTTP API (see [`crate::serve`]).

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Result;

use crate::serve::config::ServeSettings;
use crate::serve::{self, auth, conn::Limits, slots::Bounds};

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

    /// How long a client gets to send a request's head, from when it connects or
    /// sends the head's first byte [default: 10s]
    #[arg(long, value_parser = parse_duration)]
    pub header_timeout: Option<Duration>,

    /// How long a kept-alive connection may wait between requests [default: 60s]
    #[arg(long, value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,

    /// The most connections open at once; one more closes the one waiting longest for
    /// its client, or is answered 503 when every open one is busy [default: 1024]
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,

    /// How the server logs: `text` (for people) or `json` (one object per line,
    /// for log shippers). RUST_LOG filters, as `RUST_LOG=debug` or `RUST_LOG=warn`
    #[arg(long, value_enum, default_value_t = LogFormat::Text, env = "DOCKWRIGHT_LOG_FORMAT")]
    pub log_format: LogFormat,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// What the server runs with, flags and config merged.
#[derive(Debug, PartialEq)]
struct Settings {
    listen: SocketAddr,
    bounds: Bounds,
    drain_timeout: Duration,
    max_body: usize,
    limits: Limits,
}

/// What the server runs with: each flag, else the config's `[serve]`, else the
/// built-in default.
fn settings(args: &ServeArgs, config: &ServeSettings) -> Settings {
    let count = |flag: Option<u16>, key: Option<u32>, default: usize| {
        flag.map(usize::from)
            .or(key.map(|n| n as usize))
            .unwrap_or(default)
    };
    let defaults = Limits::default();
    Settings {
        listen: args
            .listen
            .or(config.listen)
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080))),
        bounds: Bounds {
            max_runs: count(args.max_runs, config.max_runs, 16),
            max_team_runs: count(args.max_team_runs, config.max_team_runs, 4),
            fair_window: args
                .fair_window
                .or(config.fair_window)
                .unwrap_or(crate::serve::slots::WANTING_WINDOW),
        },
        drain_timeout: args
            .drain_timeout
            .or(config.drain_timeout)
            .unwrap_or(Duration::from_secs(30)),
        max_body: args
            .max_body
            .or(config
                .max_body
                .map(|n| usize::try_from(n).unwrap_or(usize::MAX)))
            .unwrap_or(64 * 1024),
        limits: Limits {
            header_timeout: args
                .header_timeout
                .or(config.header_timeout)
                .unwrap_or(defaults.header_timeout),
            idle_timeout: args
                .idle_timeout
                .or(config.idle_timeout)
                .unwrap_or(defaults.idle_timeout),
            max_connections: args
                .max_connections
                .or(config.max_connections)
                .map_or(defaults.max_connections, |n| n as usize),
        },
    }
}

/// The server's log: `tracing` to stderr (or to `file`, for a service, which has no
/// stderr anyone reads), filtered by RUST_LOG (info when unset).
fn init_logs(format: LogFormat, file: Option<std::fs::File>) {
    use tracing_subscriber::fmt::writer::BoxMakeWriter;
    let ansi = file.is_none() && std::io::IsTerminal::is_terminal(&std::io::stderr());
    let writer = match file {
        Some(f) => BoxMakeWriter::new(std::sync::Mutex::new(f)),
        None => BoxMakeWriter::new(std::io::stderr),
    };
    use tracing_subscriber::filter::{EnvFilter, LevelFilter};
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env_lossy();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false);
    // A second subscriber (tests calling this twice) is refused, not fatal.
    let _ = match format {
        LogFormat::Text => builder.with_ansi(ansi).try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
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
    serve_logging_to(plugins, config, args, None).await
}

/// [`serve`], its log going to `log` when given.
pub async fn serve_logging_to(
    plugins: &Path,
    config: Option<&Path>,
    args: ServeArgs,
    log: Option<std::fs::File>,
) -> Result<ExitCode> {
    init_logs(args.log_format, log);
    let (_, file) = super::load::load_config_and_serve(config)?;
    let settings = settings(&args, &file);
    serve::serve(serve::Options {
        listen: settings.listen,
        plugins: plugins.to_path_buf(),
        config: config.map(Path::to_path_buf),
        lock: Some(super::load::locked(config)?),
        bounds: settings.bounds,
        drain_timeout: settings.drain_timeout,
        max_body: settings.max_body,
        limits: settings.limits,
        oidc: file.oidc.clone(),
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
                auth::short_hash(&removed),
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

fn list_tokens(path: &Path, team: &str, json: bool) -> Result<ExitCode> {
    let tokens = auth::list(path, team)?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", super::json_text(&tokens)?)?;
    } else if tokens.is_empty() {
        writeln!(
            out,
            "Team `{team}` has no tokens; `dockwright token new {team}` makes one."
        )?;
    } else {
        let mut rows = vec![["HASH", "MADE"].map(String::from)];
        rows.extend(tokens.iter().map(|t| {
            [
                auth::short_hash(&t.hash).to_string(),
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
            header_timeout: None,
            idle_timeout: None,
            max_connections: None,
            log_format: LogFormat::Text,
        };
        let s = settings(&none, &ServeSettings::default());
        assert_eq!(s.listen.to_string(), "127.0.0.1:8080");
        assert_eq!((s.bounds.max_runs, s.bounds.max_team_runs), (16, 4));
        assert_eq!(
            (s.drain_timeout, s.max_body),
            (Duration::from_secs(30), 65536)
        );
        assert_eq!(s.limits, Limits::default());
        let config = ServeSettings {
            listen: Some("0.0.0.0:9000".parse().unwrap()),
            max_runs: Some(32),
            max_body: Some(100),
            idle_timeout: Some(Duration::from_secs(5)),
            max_connections: Some(50),
            ..Default::default()
        };
        let s = settings(&none, &config);
        assert_eq!(
            (s.listen.port(), s.bounds.max_runs, s.max_body),
            (9000, 32, 100)
        );
        assert_eq!(
            (s.limits.idle_timeout, s.limits.max_connections),
            (Duration::from_secs(5), 50)
        );
        let flags = ServeArgs {
            listen: Some("127.0.0.1:7000".parse().unwrap()),
            max_body: Some(200),
            max_connections: Some(7),
            ..none
        };
        let s = settings(&flags, &config);
        assert_eq!(
            (s.listen.port(), s.bounds.max_runs, s.max_body),
            (7000, 32, 200)
        );
        assert_eq!(
            (s.limits.idle_timeout, s.limits.max_connections),
            (Duration::from_secs(5), 7)
        );
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
