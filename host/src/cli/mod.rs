//! The command line: parse, call the library, print. Nothing here decides policy or
//! talks to the engine on its own.
//!
//! Uses every layer below: serve, run, share, plugin, imports, journal, engine, policy,
//! contract, config and util.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Result;
use clap::{CommandFactory, Parser, Subcommand};

mod batch;
mod doctor;
mod engine;
mod keys;
mod lifetime;
mod load;
mod plugins;
mod replay;
mod run;
mod runs;
mod serve;
mod service;
mod state;
mod table;
mod usage;

use run::RunArgs;
use runs::RunsCommand;

use crate::util::console::{Console, Terminal};

#[derive(Parser, Debug)]
#[command(
    name = "dockwright",
    version = version(),
    about = "Run sandboxed WebAssembly plugins that provision Docker environments for teams",
    long_about = "dockwright runs plugins (WebAssembly components) that script Docker workflows. \
                  Plugins reach the engine only through the host, which labels everything they \
                  create with the team and the run, and removes it when a run fails.\n\n\
                  The default engine is found as the docker CLI finds it: DOCKER_HOST, \
                  DOCKER_TLS_VERIFY, DOCKER_CERT_PATH. Other engines are named in the config \
                  ([engines.NAME]) and chosen with --engine."
)]
pub struct Cli {
    /// The plugin folder [default: $XDG_DATA_HOME/dockwright/plugins; on Windows
    /// %APPDATA%\dockwright\plugins]
    #[arg(long, global = true, env = "DOCKWRIGHT_PLUGINS", value_name = "DIR")]
    pub plugins: Option<PathBuf>,

    /// The config file [default: $XDG_CONFIG_HOME/dockwright/dockwright.toml; on Windows
    /// %APPDATA%\dockwright\dockwright.toml]
    #[arg(long, global = true, env = "DOCKWRIGHT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Show plugins' debug lines too
    #[arg(short, long, global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
}

/// `0.1.0 (contract 0.1.6, commit 0123456789ab)`: what `--version` says, so a report
/// names the build exactly.
pub fn version() -> &'static str {
    static VERSION: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        format!(
            "{} (contract {}, commit {})",
            env!("CARGO_PKG_VERSION"),
            crate::contract::bindings::CONTRACT_VERSION,
            env!("DOCKWRIGHT_COMMIT")
        )
    });
    &VERSION
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// List the plugins in the plugin folder, with their workflows and params
    Plugins {
        #[command(subcommand)]
        action: Option<plugins::PluginsCommand>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Run a plugin's workflow again from a cassette (`run --record`), with no engine:
    /// each host call is answered from the recording, and a call that differs fails
    /// with a diff
    Test {
        /// The plugin file (.wasm)
        plugin: PathBuf,
        /// The cassette to replay
        #[arg(long, value_name = "FILE")]
        replay: PathBuf,
        /// Print the run's report as JSON
        #[arg(long)]
        json: bool,
    },
    /// Start a new plugin project that builds and runs as it stands
    New {
        /// The plugin's name (lowercase letters, digits and `-`)
        name: String,
        /// The language to write it in
        #[arg(long, value_enum, default_value = "rust")]
        lang: crate::plugin::scaffold::Lang,
        /// Where to create it [default: ./NAME]
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Check a plugin file against this host's contract and show its workflows
    Check {
        /// The plugin's .wasm file
        file: PathBuf,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Run a workflow by name
    Run(RunArgs),
    /// List recent runs from the journal, show one, or export or import the journal
    Runs {
        #[command(subcommand)]
        show: Option<RunsCommand>,
        /// How many of the most recent runs to list
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Only this team's runs
        #[arg(long)]
        team: Option<String>,
        /// Only runs that ended so, or are running
        #[arg(long, value_parser = crate::journal::history::STATUSES)]
        status: Option<String>,
        /// Only runs this person started: their id (a token's `sub`, `uid:N` for the
        /// CLI, `team-token`) or their name (email or user name)
        #[arg(long)]
        user: Option<String>,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Check what a new install gets wrong (engine, config, state folder, plugins,
    /// cache, listen address) and say how to fix each; exits 0 only when all pass
    Doctor {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Back up or restore what an install keeps (the journal, the config, the plugin
    /// lock and the signing keys), or move the journal into a PostgreSQL state database
    State {
        #[command(subcommand)]
        action: state::StateCommand,
    },
    /// Remove containers left by runs whose process died (killed, crashed, rebooted),
    /// and reap environments past their expiry (run it from cron or a systemd timer)
    Gc {
        /// Only say what would be removed
        #[arg(long)]
        dry_run: bool,
    },
    /// What each team's environments used, per workflow: environment-, container-,
    /// memory- and CPU-hours and the peak of containers at once, from the journal
    Usage {
        /// Only this team
        #[arg(long)]
        team: Option<String>,
        /// How far back: `30d`, `4w`, `12h`
        #[arg(long, default_value = "30d")]
        since: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Keep a run's environment longer: its expiry moves by DURATION, within its
    /// team's lifetime max counted from now
    Extend {
        /// The run id, or a unique prefix of it
        run: String,
        /// How much longer: `30m`, `4h`, `2d`
        duration: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Show the Docker engine dockwright talks to
    Engine {
        /// Which engine: `default` (DOCKER_HOST) or a name from [engines] in the config
        #[arg(long, env = "DOCKWRIGHT_ENGINE", default_value = "default")]
        engine: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// List the engines (the default one and the config's): reachable, version, API version, swarm role
    Engines {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Serve the team HTTP API: the same plugins, policy, journal and rollback, over HTTP
    Serve(serve::ServeArgs),
    /// Run `serve` as a Windows service: install, start, stop (with drain), uninstall
    Service {
        #[command(subcommand)]
        command: service::ServiceCommand,
    },
    /// Make and list the ed25519 keys that sign published plugins
    Keys {
        #[command(subcommand)]
        command: keys::KeysCommand,
    },
    /// Manage the API tokens of teams
    Token {
        #[command(subcommand)]
        command: serve::TokenCommand,
    },
    /// Print a shell completion script
    Completions {
        /// The shell to complete for
        shell: clap_complete::Shell,
    },
}

/// Entry point of the `dockwright` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::anyhow!(e).context("cannot start the async runtime")),
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

/// `dockwright service run` once the service manager has started it: `serve` with
/// the config and plugins of this process's arguments, the `[serve]` settings of the
/// config, and its log in the state folder's `serve.log`.
#[cfg(windows)]
fn serve_as_service() -> Result<ExitCode> {
    use anyhow::Context;

    let state = crate::util::paths::state_dir();
    let path = state.join("serve.log");
    let log = std::fs::create_dir_all(&state)
        .and_then(|()| {
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
        })
        .with_context(|| format!("cannot open the service's log {}", path.display()))?;
    let mut said = log.try_clone()?;
    let served = serve_logging_to_file(log);
    // A service has no console: what stopped it goes in its log, also when it stopped
    // before the log's subscriber was set up.
    if let Err(e) = &served {
        let _ = writeln!(said, "dockwright service stopped: {e:#}");
    }
    served
}

#[cfg(windows)]
fn serve_logging_to_file(log: std::fs::File) -> Result<ExitCode> {
    #[derive(Parser)]
    struct Defaults {
        #[command(flatten)]
        args: serve::ServeArgs,
    }
    let cli = Cli::try_parse_from(std::env::args_os())?;
    let args = Defaults::try_parse_from(["dockwright"])?.args;
    let dir = cli
        .plugins
        .clone()
        .unwrap_or_else(crate::util::paths::plugin_dir);
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve::serve_logging_to(
            &dir,
            cli.config.as_deref(),
            args,
            Some(log),
        ))
}

/// `value` as `--json` prints it: pretty JSON whose strings hold exactly what plugins
/// and engines wrote, with the characters a terminal would obey escaped (see
/// [`crate::util::text::inert_json`]).
fn json_text(value: &impl serde::Serialize) -> serde_json::Result<String> {
    let json = serde_json::to_string_pretty(value)?;
    Ok(crate::util::text::inert_json(&json).into_owned())
}

fn fail(err: &anyhow::Error) -> ExitCode {
    // A reader that stopped reading (`dockwright plugins | head`) is not an error.
    let broken_pipe = err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return ExitCode::SUCCESS;
    }
    // An error can carry what a plugin or an engine said.
    let message = format!("{err:#}");
    let _ = writeln!(
        std::io::stderr(),
        "error: {}",
        crate::util::text::inert(&message)
    );
    ExitCode::FAILURE
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    let dir = cli
        .plugins
        .clone()
        .unwrap_or_else(crate::util::paths::plugin_dir);
    let console: Arc<dyn Console> = Arc::new(Terminal {
        verbose: cli.verbose,
    });
    match cli.command {
        Command::Plugins { action, json } => match action {
            None => plugins::list(&dir, cli.config.as_deref(), console, json).await,
            Some(plugins::PluginsCommand::Add { source, team }) => {
                plugins::add(
                    &dir,
                    cli.config.as_deref(),
                    console,
                    &source,
                    team.as_deref(),
                )
                .await
            }
            Some(plugins::PluginsCommand::Push {
                plugin,
                target,
                sign,
            }) => {
                let config = cli.config.as_deref();
                plugins::push(&dir, config, console, &plugin, &target, sign.as_deref()).await
            }
            Some(plugins::PluginsCommand::Update { name, yes, team }) => {
                let config = cli.config.as_deref();
                plugins::update(&dir, config, console, name.as_deref(), yes, team.as_deref()).await
            }
            Some(plugins::PluginsCommand::Remove { name }) => {
                plugins::remove(&dir, cli.config.as_deref(), console, &name).await
            }
        },
        Command::Check { file, json } => plugins::check(console, &file, json).await,
        Command::Test {
            plugin,
            replay: cassette,
            json,
        } => replay::test(console, &plugin, &cassette, json).await,
        Command::New { name, lang, dir } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            crate::plugin::scaffold::create(&name, lang, &dir)?;
            println!(
                "created {} in {}: its README.md says how to build and run it",
                name,
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => {
            run::run(&dir, cli.config.as_deref(), console, args, cli.verbose).await
        }
        Command::Runs {
            show,
            limit,
            team,
            status,
            user,
            json,
        } => {
            let config = load::load_config(cli.config.as_deref())?;
            let filter = crate::journal::history::Filter {
                team: team.as_deref(),
                status: status.as_deref(),
                user: user.as_deref(),
            };
            runs::runs(&config, show, filter, limit, json)
        }
        Command::Doctor { json } => doctor::doctor(cli.config.as_deref(), &dir, json).await,
        Command::State { action } => match action {
            state::StateCommand::Backup { file } => state::backup(cli.config.as_deref(), &file),
            state::StateCommand::Restore { file, force } => {
                state::restore(cli.config.as_deref(), &file, force)
            }
            state::StateCommand::Migrate {
                to,
                from,
                password_file,
                ca,
            } => state::migrate(
                cli.config.as_deref(),
                state::Migration {
                    to,
                    from,
                    password_file,
                    ca,
                },
            ),
        },
        Command::Gc { dry_run } => runs::collect_garbage(cli.config.as_deref(), dry_run).await,
        Command::Usage { team, since, json } => {
            usage::usage(cli.config.as_deref(), team.as_deref(), &since, json)
        }
        Command::Extend {
            run,
            duration,
            json,
        } => lifetime::extend(cli.config.as_deref(), &run, &duration, json),
        Command::Engine { engine, json } => {
            engine::show(cli.config.as_deref(), &engine, json).await
        }
        Command::Engines { json } => engine::list(cli.config.as_deref(), json).await,
        Command::Serve(args) => serve::serve(&dir, cli.config.as_deref(), args).await,
        Command::Service { command } => service::service(command),
        Command::Keys { command } => keys::run(command),
        Command::Token { command } => serve::token(cli.config.as_deref(), command),
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "dockwright",
                &mut std::io::stdout(),
            );
            Ok(ExitCode::SUCCESS)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_valid() {
        Cli::command().debug_assert();
    }

    #[test]
    fn params_parse_on_the_command_line() {
        let cli = Cli::try_parse_from(["dockwright", "run", "wf", "-p", "a=1", "--param", "b=x=y"])
            .unwrap();
        let Command::Run(args) = cli.command else {
            panic!("expected run")
        };
        assert_eq!(
            args.params,
            [("a".into(), "1".into()), ("b".into(), "x=y".into())]
        );
        let err = Cli::try_parse_from(["dockwright", "run", "wf", "-p", "novalue"]).unwrap_err();
        assert!(err.to_string().contains("name=value"), "{err}");
    }
}
