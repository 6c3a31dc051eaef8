//! The command line: parse, call the library, print. Nothing here decides policy or
//! talks to the engine on its own.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, Subcommand};
use serde_json::json;

mod batch;
mod plugins;
mod serve;
mod table;

use table::table;

use crate::catalog::{self, Catalog};
use crate::config;
use crate::console::{Console, Terminal};
use crate::engine;
use crate::gc;
use crate::history;
use crate::journal::{self, Journal};
use crate::params;
use crate::run::{self, RunOptions, Status};
use crate::runtime::Runtime;

#[derive(Parser, Debug)]
#[command(
    name = "dockwright",
    version,
    about = "Run sandboxed WebAssembly plugins that provision Docker environments for teams",
    long_about = "dockwright runs plugins (WebAssembly components) that script Docker workflows. \
                  Plugins reach the engine only through the host, which labels everything they \
                  create with the team and the run, and removes it when a run fails.\n\n\
                  The engine is found as the docker CLI finds it: DOCKER_HOST, DOCKER_TLS_VERIFY, \
                  DOCKER_CERT_PATH."
)]
pub struct Cli {
    /// The plugin folder [default: $XDG_DATA_HOME/dockwright/plugins]
    #[arg(long, global = true, env = "DOCKWRIGHT_PLUGINS", value_name = "DIR")]
    pub plugins: Option<PathBuf>,

    /// The config file [default: $XDG_CONFIG_HOME/dockwright/dockwright.toml]
    #[arg(long, global = true, env = "DOCKWRIGHT_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Show plugins' debug lines too
    #[arg(short, long, global = true)]
    pub verbose: bool,

    #[command(subcommand)]
    pub command: Command,
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
    /// Start a new plugin project that builds and runs as it stands
    New {
        /// The plugin's name (lowercase letters, digits and `-`)
        name: String,
        /// The language to write it in
        #[arg(long, value_enum, default_value = "rust")]
        lang: crate::scaffold::Lang,
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
    /// List recent runs from the journal, or show one
    Runs {
        #[command(subcommand)]
        show: Option<RunsCommand>,
        /// How many of the most recent runs to list
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Remove containers left by runs whose process died (killed, crashed, rebooted)
    Gc {
        /// Only say what would be removed
        #[arg(long)]
        dry_run: bool,
    },
    /// Show the Docker engine dockwright talks to
    Engine {
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
    /// Serve the team HTTP API: the same plugins, policy, journal and rollback, over HTTP
    Serve(serve::ServeArgs),
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

#[derive(Subcommand, Debug)]
pub enum RunsCommand {
    /// Show one run: its params, every Docker call and its decision, its end
    Show {
        /// The run id, or a unique prefix of it
        id: String,
        /// Print JSON instead of text
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The workflow's name, as `dockwright plugins` lists it
    pub workflow: String,

    /// A param of the workflow, as name=value (repeatable)
    #[arg(short = 'p', long = "param", value_name = "NAME=VALUE", value_parser = params::parse_assignment)]
    pub params: Vec<(String, String)>,

    /// The plugin to take the workflow from, when several offer it
    #[arg(long, value_name = "NAME")]
    pub plugin: Option<String>,

    /// The team the run is for
    #[arg(long, env = "DOCKWRIGHT_TEAM", default_value = "default")]
    pub team: String,

    /// Leave the containers of a failed run in place, for debugging
    #[arg(long)]
    pub keep_on_failure: bool,

    /// Run once per value: NAME=V1,V2,... (repeatable: every combination runs)
    #[arg(long = "each", value_name = "NAME=V1,V2,...", value_parser = crate::batch::parse_each)]
    pub each: Vec<(String, Vec<String>)>,

    /// Run once per line of this file, each line a JSON object of params
    #[arg(long, value_name = "FILE")]
    pub params_file: Option<PathBuf>,

    /// How many runs of a batch (--each, --params-file) go at once
    #[arg(short = 'j', long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: u16,

    /// Print the run's report as JSON
    #[arg(long)]
    pub json: bool,
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

fn fail(err: &anyhow::Error) -> ExitCode {
    // A reader that stopped reading (`dockwright plugins | head`) is not an error.
    let broken_pipe = err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        return ExitCode::SUCCESS;
    }
    let _ = writeln!(std::io::stderr(), "error: {err:#}");
    ExitCode::FAILURE
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    let dir = cli.plugins.clone().unwrap_or_else(catalog::default_dir);
    let console: Arc<dyn Console> = Arc::new(Terminal {
        verbose: cli.verbose,
    });
    match cli.command {
        Command::Plugins { action, json } => match action {
            None => list_plugins(&dir, cli.config.as_deref(), console, json).await,
            Some(plugins::PluginsCommand::Add { file }) => {
                plugins::add(&dir, cli.config.as_deref(), console, &file).await
            }
            Some(plugins::PluginsCommand::Remove { name }) => {
                plugins::remove(&dir, cli.config.as_deref(), console, &name).await
            }
        },
        Command::Check { file, json } => plugins::check(console, &file, json).await,
        Command::New { name, lang, dir } => {
            let dir = dir.unwrap_or_else(|| PathBuf::from(&name));
            crate::scaffold::create(&name, lang, &dir)?;
            println!(
                "created {} in {}: its README.md says how to build and run it",
                name,
                dir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Run(args) => run(&dir, cli.config.as_deref(), console, args, cli.verbose).await,
        Command::Runs { show, limit, json } => {
            let config = load_config(cli.config.as_deref())?;
            let path = config.journal.clone().unwrap_or_else(journal::default_path);
            match show {
                None => list_runs(&path, limit, json),
                Some(RunsCommand::Show { id, json }) => show_run(&path, &id, json),
            }
        }
        Command::Gc { dry_run } => collect_garbage(cli.config.as_deref(), dry_run).await,
        Command::Engine { json } => show_engine(json).await,
        Command::Serve(args) => serve::serve(&dir, cli.config.as_deref(), args).await,
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

/// Load the folder, checking the lock next to the config, and warning about files
/// that are not plugins.
async fn load(
    dir: &std::path::Path,
    config: Option<&std::path::Path>,
    console: Arc<dyn Console>,
    warn: bool,
) -> Result<(Runtime, Catalog)> {
    let runtime = Runtime::with_cache(&crate::cache::default_root())?;
    let locked = plugins::locked(config)?;
    let catalog = Catalog::load(&runtime, dir, console, Some(&locked)).await?;
    if warn {
        for p in &catalog.problems {
            eprintln!("warning: skipped `{}`: {}", p.path.display(), p.reason);
        }
    }
    Ok((runtime, catalog))
}

async fn list_plugins(
    dir: &std::path::Path,
    config: Option<&std::path::Path>,
    console: Arc<dyn Console>,
    json: bool,
) -> Result<ExitCode> {
    let (_runtime, catalog) = load(dir, config, console, !json).await?;
    let mut out = std::io::stdout().lock();
    if json {
        let plugins: Vec<_> = catalog
            .plugins
            .iter()
            .map(|p| {
                json!({
                    "name": p.info.name,
                    "version": p.info.version,
                    "description": p.info.description,
                    "file": p.path,
                    "sha256": p.sha256,
                    "workflows": p.info.workflows,
                })
            })
            .collect();
        let doc = json!({ "dir": catalog.dir, "plugins": plugins, "skipped": catalog.problems });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if catalog.plugins.is_empty() {
        writeln!(out, "No plugins in {}.", catalog.dir.display())?;
        return Ok(ExitCode::SUCCESS);
    }
    for p in &catalog.plugins {
        let file = p.path.file_name().unwrap_or_default().to_string_lossy();
        writeln!(out, "{} {}  ({file})", p.info.name, p.info.version)?;
        print_workflows(&mut out, &p.info)?;
        writeln!(out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A plugin's description and workflows with their params, indented.
fn print_workflows(out: &mut impl Write, info: &catalog::PluginInfo) -> Result<()> {
    if !info.description.is_empty() {
        writeln!(out, "  {}", info.description)?;
    }
    for w in &info.workflows {
        writeln!(out, "  workflow {}: {}", w.name, w.description)?;
        let rows: Vec<[String; 3]> = w
            .params
            .iter()
            .map(|param| {
                let how = match (&param.default, param.required) {
                    (Some(d), _) => format!("default: {d}"),
                    (None, true) => "required".to_string(),
                    (None, false) => "optional".to_string(),
                };
                [param.name.clone(), how, param.description.clone()]
            })
            .collect();
        for line in table(&rows) {
            writeln!(out, "      {line}")?;
        }
    }
    Ok(())
}

/// The config from `--config` / `DOCKWRIGHT_CONFIG`, the default file, or built in.
pub fn load_config(explicit: Option<&std::path::Path>) -> Result<config::Config> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    config::load(explicit, &cwd)
}

async fn run(
    dir: &std::path::Path,
    config_path: Option<&std::path::Path>,
    console: Arc<dyn Console>,
    args: RunArgs,
    verbose: bool,
) -> Result<ExitCode> {
    run::check_team(&args.team).map_err(anyhow::Error::msg)?;
    // The engine handshake is a round trip: make it while the plugins load.
    let connecting = tokio::spawn(engine::connect());
    let config = load_config(config_path)?;
    let policy = Arc::new(config.team(&args.team)?.clone());
    let (runtime, catalog) = load(dir, config_path, console.clone(), true).await?;
    let (plugin, workflow) = catalog.resolve(&args.workflow, args.plugin.as_deref())?;
    let batch = !args.each.is_empty() || args.params_file.is_some();
    let file_sets = match &args.params_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the params file `{}`", path.display()))?;
            let sets = crate::batch::parse_params_file(&text)
                .map_err(|e| anyhow::anyhow!("params file `{}`: {e}", path.display()))?;
            Some(sets)
        }
        None => None,
    };
    let sets = crate::batch::expand(&args.params, &args.each, file_sets);
    let mut resolved = Vec::with_capacity(sets.len());
    for (i, set) in sets.iter().enumerate() {
        let params = params::resolve(&workflow.name, &workflow.params, set).map_err(|e| {
            if batch {
                anyhow::anyhow!("run {} of {}: {e}", i + 1, sets.len())
            } else {
                anyhow::anyhow!(e)
            }
        })?;
        resolved.push(params);
    }
    let journal_path = config.journal.clone().unwrap_or_else(journal::default_path);
    let journal = Arc::new(Journal::open(&journal_path)?);
    let engine = connecting
        .await
        .context("the engine connection task failed")??;
    let options = RunOptions {
        policy,
        keep_on_failure: args.keep_on_failure,
        journal,
        state_dir: journal::state_dir(),
    };
    if batch {
        let shown = batch::shown_keys(&args.each, &sets);
        return batch::run(
            &runtime,
            plugin,
            &workflow.name,
            resolved,
            shown,
            engine,
            &options,
            &args,
            verbose,
        )
        .await;
    }
    let params = resolved.pop().expect("one param set");
    let cancel = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    let report = run::run_workflow(
        &runtime,
        plugin,
        &workflow.name,
        params,
        engine,
        console,
        &options,
        cancel,
    )
    .await;

    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
    } else if report.status == Status::Ok {
        let rows: Vec<[String; 2]> = report
            .outputs
            .iter()
            .map(|(k, v)| [k.clone(), v.as_str().unwrap_or_default().to_string()])
            .collect();
        for line in table(&rows) {
            writeln!(out, "{line}")?;
        }
    }
    let mut err = std::io::stderr().lock();
    match report.status {
        Status::Ok => {
            writeln!(
                err,
                "run {} of {} (plugin {}) finished in {:.1}s",
                report.run,
                report.workflow,
                report.plugin,
                report.duration_ms as f64 / 1000.0
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Status::Failed => {
            let message = report.error.as_deref().unwrap_or("failed");
            writeln!(err, "error: {message} (run {})", report.run)?;
            if !report.rolled_back.is_empty() {
                let ids: Vec<&str> = report.rolled_back.iter().map(|c| run::short(c)).collect();
                writeln!(err, "rolled back: removed {}", ids.join(", "))?;
            }
            if args.keep_on_failure && !report.containers.is_empty() {
                let ids: Vec<&str> = report.containers.iter().map(|c| run::short(c)).collect();
                writeln!(err, "kept (--keep-on-failure): {}", ids.join(", "))?;
            }
            for e in &report.rollback_errors {
                writeln!(err, "rollback could not remove {e}")?;
            }
            if !report.images.is_empty() {
                writeln!(
                    err,
                    "images built or committed (kept): {}",
                    report.images.join(", ")
                )?;
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

fn list_runs(path: &std::path::Path, limit: usize, json: bool) -> Result<ExitCode> {
    let (entries, skipped) = journal::read(path)?;
    let runs = history::summarize(&entries, &journal::state_dir());
    let recent = &runs[runs.len().saturating_sub(limit)..];
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(recent)?)?;
    } else if recent.is_empty() {
        writeln!(out, "No runs in {}.", path.display())?;
    } else {
        let mut rows = vec![[
            "RUN", "STATUS", "TEAM", "PLUGIN", "WORKFLOW", "STARTED", "DURATION", "CREATED",
        ]
        .map(String::from)];
        rows.extend(recent.iter().map(|r| {
            [
                r.run.clone(),
                r.status.clone(),
                r.team.clone(),
                r.plugin.clone(),
                r.workflow.clone(),
                r.started.clone(),
                r.duration_ms
                    .map_or("-".into(), |ms| format!("{:.1}s", ms as f64 / 1000.0)),
                r.created(),
            ]
        }));
        for line in table(&rows) {
            writeln!(out, "{line}")?;
        }
    }
    if skipped > 0 {
        eprintln!(
            "warning: skipped {skipped} unreadable line(s) of {}",
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn show_run(path: &std::path::Path, id: &str, json: bool) -> Result<ExitCode> {
    let (entries, _) = journal::read(path)?;
    let detail = history::find(&entries, id, &journal::state_dir()).map_err(anyhow::Error::msg)?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&detail)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let s = &detail.summary;
    writeln!(out, "run       {}", s.run)?;
    writeln!(out, "status    {}", s.status)?;
    writeln!(out, "team      {}", s.team)?;
    writeln!(
        out,
        "plugin    {} (sha256 {})",
        s.plugin, detail.plugin_sha256
    )?;
    writeln!(out, "workflow  {}", s.workflow)?;
    writeln!(out, "started   {}", s.started)?;
    if let Some(ms) = s.duration_ms {
        writeln!(out, "duration  {:.1}s", ms as f64 / 1000.0)?;
    }
    for (k, v) in &detail.params {
        writeln!(out, "param     {k}={v}")?;
    }
    if let Some(e) = &s.error {
        writeln!(out, "error     {e}")?;
    }
    let list = |ids: &[String]| {
        ids.iter()
            .map(|i| run::short(i))
            .collect::<Vec<_>>()
            .join(", ")
    };
    writeln!(
        out,
        "created   containers: {}; images: {}",
        list(&s.containers),
        s.images.join(", ")
    )?;
    if !s.rolled_back.is_empty() {
        writeln!(out, "rolled back  {}", list(&s.rolled_back))?;
    }
    writeln!(out, "\ncalls:")?;
    let mut rows = vec![["TIME", "OP", "TARGET", "DECISION", "RESULT", "DETAIL"].map(String::from)];
    rows.extend(detail.calls.iter().map(|c| {
        [
            c.time.clone(),
            c.op.clone(),
            c.target.clone(),
            match &c.rule {
                Some(rule) => format!("{} ({rule})", c.decision),
                None => c.decision.clone(),
            },
            c.result.clone(),
            c.detail.clone().unwrap_or_default(),
        ]
    }));
    for line in table(&rows) {
        writeln!(out, "  {line}")?;
    }
    Ok(ExitCode::SUCCESS)
}

async fn collect_garbage(config_path: Option<&std::path::Path>, dry_run: bool) -> Result<ExitCode> {
    let config = load_config(config_path)?;
    let journal_path = config.journal.clone().unwrap_or_else(journal::default_path);
    let journal = Journal::open(&journal_path)?;
    let engine = engine::connect().await?;
    let found = gc::collect(&engine, &journal::state_dir(), &journal, dry_run).await?;
    let mut out = std::io::stdout().lock();
    if found.is_empty() {
        writeln!(out, "Nothing to collect: no containers of runs that died.")?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut rows = vec![["RUN", "TEAM", "CONTAINER", "NAME", "ACTION"].map(String::from)];
    let mut failed = false;
    rows.extend(found.iter().map(|c| {
        failed |= c.error.is_some();
        let action = match (&c.error, dry_run) {
            (Some(e), _) => format!("failed: {e}"),
            (None, true) => "would remove".into(),
            (None, false) => "removed".into(),
        };
        [
            c.run.clone(),
            c.team.clone(),
            run::short(&c.id).to_string(),
            c.name.clone(),
            action,
        ]
    }));
    for line in table(&rows) {
        writeln!(out, "{line}")?;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn show_engine(json: bool) -> Result<ExitCode> {
    let engine = engine::connect().await?;
    let fail = |e| anyhow::anyhow!(crate::errors::describe(&engine.fail(e)));
    let version = engine.docker.version().await.map_err(fail)?;
    let info = engine.docker.info().await.map_err(fail)?;
    let fields = [
        ("address", Some(engine.address.clone())),
        ("version", version.version),
        ("api-version", version.api_version),
        ("os", version.os),
        ("arch", version.arch),
        ("kernel", version.kernel_version),
        ("containers", info.containers.map(|n| n.to_string())),
        ("running", info.containers_running.map(|n| n.to_string())),
        ("images", info.images.map(|n| n.to_string())),
    ];
    let mut out = std::io::stdout().lock();
    if json {
        let map: serde_json::Map<String, serde_json::Value> = fields
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&map)?)?;
    } else {
        let rows: Vec<[String; 2]> = fields
            .into_iter()
            .map(|(k, v)| [k.to_string(), v.unwrap_or_default()])
            .collect();
        for line in table(&rows) {
            writeln!(out, "{line}")?;
        }
    }
    Ok(ExitCode::SUCCESS)
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
