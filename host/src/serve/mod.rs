//! `dockwright serve`: the team HTTP API. The same plugins, policy, journal and
//! rollback as the CLI, for teams that cannot run the CLI where the engine is.
//!
//! One job per module:
//! - [`api`]: the routes and their handlers (short: parse, call, answer);
//! - [`app`]: what every handler can reach;
//! - [`auth`]: tokens, their hashes in the config, who a token belongs to;
//! - [`oidc`]: people's tokens from the identity provider (`[auth.oidc]`), checked;
//! - [`caller`]: who a request is from and the team they act for;
//! - [`signin`]: the page's sign-in with the identity provider, and `/v1/me`;
//! - [`config`]: its section of `dockwright.toml` (`[serve]`), and the config loaded
//!   with it;
//! - [`teams`]: the config in force, read again when its file changes;
//! - [`runs`]: starting, finding and tearing down runs;
//! - [`started`]: the runs this server started, their log lines and their end;
//! - [`slots`]: how many runs may be in flight, fairly across teams;
//! - [`conn`]: connections: how many, and how long each may stay quiet;
//!   [`evict`]: which one gives its place to a new one at the cap;
//! - [`metrics`]: what `/metrics` counts; [`page`]: the team's page at `/`;
//! - [`containers`]: a team's containers on the engine;
//! - [`reaper`]: reaping expired environments at each deadline; [`notices`]: its
//!   wake-up and the notices the events streams follow;
//! - [`request`]: reading what clients send; [`error`]: what they get back;
//! - [`openapi`]: the API described in OpenAPI 3.
//!
//! Uses run (one run, a plan), the plugin folder, the host functions' run modes, the
//! journal, the engine, policy, the contract's types, `config` and `util`; never share.
//!
//! Shutdown (SIGTERM or Ctrl-C): stop accepting connections, let runs in flight
//! finish until the drain deadline, then cancel the rest, which rolls them back, and
//! exit 0. A second signal cancels at once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::engine::Engine;
use crate::journal::retention;
use crate::plugin::catalog::{Catalog, Progress};
use crate::plugin::runtime::Runtime;
use crate::util::console::Terminal;
use app::App;

pub mod api;
pub mod app;
pub mod auth;
pub mod caller;
pub mod config;
pub mod conn;
pub mod containers;
pub mod engines;
pub mod error;
pub mod evict;
pub mod live;
pub mod metrics;
pub mod notices;
pub mod oidc;
pub mod openapi;
pub mod page;
pub mod reaper;
pub mod request;
pub mod runs;
pub mod signin;
pub mod slots;
pub mod started;
pub mod teams;

/// How `dockwright serve` was asked to run.
pub struct Options {
    pub listen: SocketAddr,
    pub plugins: PathBuf,
    pub config: Option<PathBuf>,
    /// The plugin lock next to the config, as the CLI checks it.
    pub lock: Option<crate::plugin::catalog::Locked>,
    pub bounds: slots::Bounds,
    /// How long runs in flight may go on after a shutdown signal.
    pub drain_timeout: Duration,
    /// The largest request body accepted.
    pub max_body: usize,
    /// How many connections, and how long each may stay quiet.
    pub limits: conn::Limits,
    /// The identity provider whose tokens the API accepts (`[auth.oidc]`).
    pub oidc: Option<oidc::settings::OidcSettings>,
}

/// How long cancelled runs get to roll back before the server exits anyway.
const ROLLBACK_GRACE: Duration = Duration::from_secs(120);
/// How long connections get to take their last answers once no run is left.
const CLOSE_GRACE: Duration = Duration::from_secs(5);

/// Run the server until a shutdown signal, then drain and return.
pub async fn serve(options: Options) -> Result<()> {
    let app = Arc::new(setup(&options).await?);
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    announce(&app, &listener, &options);

    let shutdown = CancellationToken::new();
    tokio::spawn(signals(app.clone(), shutdown.clone()));
    let watching = app.clone();
    let stop = shutdown.clone();
    tokio::spawn(async move {
        let console = Arc::new(Terminal { verbose: false });
        live::watch(&watching.plugins, &watching.runtime, console, stop).await;
    });
    tokio::spawn(prune_journal(app.clone(), shutdown.clone()));
    tokio::spawn(reaper::run(app.clone(), shutdown.clone()));
    tokio::spawn(take_the_lead(app.clone(), shutdown.clone()));
    let router = api::router(app.clone());
    let server = tokio::spawn(conn::accept(
        listener,
        router,
        options.limits,
        app.metrics.clone(),
        shutdown.clone(),
    ));

    shutdown.cancelled().await;
    drain(&app, options.drain_timeout).await;
    match server.await {
        Ok(connections) => {
            if tokio::time::timeout(CLOSE_GRACE, connections.wait())
                .await
                .is_err()
            {
                tracing::info!("closing connections that are still open");
            }
        }
        Err(e) => tracing::warn!("the connection loop stopped: {e}"),
    }
    tracing::info!("stopped");
    Ok(())
}

/// Keep the journal to the config's `journal_retention`: at start, then every
/// [`retention::EVERY`], in batches that let the runs' writes in between.
async fn prune_journal(app: Arc<App>, stop: CancellationToken) {
    loop {
        let keep = app
            .teams
            .current()
            .journal_retention
            .filter(|_| leads(&app));
        if let Some(keep) = keep {
            let journal = app.journal.clone();
            let pruned = tokio::task::spawn_blocking(move || {
                retention::prune(&journal, keep, std::time::SystemTime::now())
            })
            .await;
            match pruned {
                Ok(Ok(p)) if p.runs > 0 => tracing::info!(
                    "pruned {} run(s) that ended beyond journal_retention, with {} call(s)",
                    p.runs,
                    p.calls
                ),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::warn!("{e:#}"),
                Err(e) => tracing::warn!("pruning the journal stopped: {e}"),
            }
        }
        tokio::select! {
            () = tokio::time::sleep(retention::EVERY) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// Whether this server does the background work (pruning, reaping): always with the
/// embedded store (the processes sharing it take turns by its own locks), and with the
/// shared store only while it holds the leader lock (see `journal::shared`).
pub fn leads(app: &App) -> bool {
    match app.journal.shared() {
        None => true,
        Some(shared) => match crate::journal::store::blocking(|| shared.lead()) {
            Ok(lead) => lead,
            Err(e) => {
                tracing::warn!("cannot tell whether this server leads: {e:#}");
                false
            }
        },
    }
}

/// How often a server on the shared store asks for the lead: a leader that died is
/// replaced within it.
const LEAD_EVERY: Duration = Duration::from_secs(5);

/// With the shared store, ask for the lead every [`LEAD_EVERY`]; the server that takes
/// it reaps at once (and prunes at its next turn).
async fn take_the_lead(app: Arc<App>, stop: CancellationToken) {
    if app.journal.shared().is_none() {
        return;
    }
    let mut leading = false;
    loop {
        let now = leads(&app);
        if now && !leading {
            tracing::info!("this server now does the background work (retention, reaping)");
            app.reaping.wake();
        }
        leading = now;
        tokio::select! {
            () = tokio::time::sleep(LEAD_EVERY) => {}
            () = stop.cancelled() => return,
        }
    }
}

/// What the server says while it loads its plugins, so a cold start that compiles
/// for seconds is not silent.
fn starting(progress: Progress<'_>) {
    match progress {
        Progress::Found(n) => tracing::info!(
            "starting: {n} plugin file(s) found; compiling those not in the compile cache (seconds each)"
        ),
        Progress::Loaded {
            path,
            plugin,
            compiled: true,
            took,
        } => tracing::info!(
            "plugin `{plugin}` compiled from {} in {:.1}s",
            path.display(),
            took.as_secs_f64()
        ),
        Progress::Loaded { path, plugin, .. } => tracing::info!(
            "plugin `{plugin}` loaded from the compile cache ({})",
            path.display()
        ),
    }
}

/// Load the config, the journal, the plugins (compiled now, not on first request)
/// and connect to the engine.
async fn setup(options: &Options) -> Result<App> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let teams = teams::Teams::load(options.config.as_deref(), &cwd)?;
    let config = teams.current();
    // Connected on first use, which the task below makes now, while the plugins load.
    // The server still starts when the engine does not answer (and `/healthz` says so),
    // because a service manager may start it before the engine: each call tries the
    // handshake again until the engine answers, and then speaks the version it negotiated.
    let engine = Engine::lazy(&config.default_engine())?;
    let connecting = {
        let engine = engine.clone();
        tokio::spawn(async move { engine.docker().await.err() })
    };
    let (journal, imported) =
        crate::journal::open_configured(config.journal.as_deref(), config.state.as_ref())?;
    if let Some(message) = imported {
        tracing::info!("{message}");
    }
    let journal = Arc::new(journal);
    let metrics = Arc::new(metrics::Metrics::new());
    let counting = metrics.clone();
    // A fresh journal has no observer yet: this cannot be refused.
    let _ = journal.observe(Box::new(move |entry| counting.journaled(entry)));
    let runtime = Runtime::with_cache(&crate::util::paths::cache_root())?;
    let console = Arc::new(Terminal { verbose: false });
    let catalog = Catalog::load_reporting(
        &runtime,
        &options.plugins,
        console,
        options.lock.as_ref(),
        &starting,
    )
    .await?;
    for p in &catalog.problems {
        tracing::warn!("skipped `{}`: {}", p.path.display(), p.reason);
    }
    for p in &catalog.plugins {
        if let Err(e) = p.pre(&runtime) {
            tracing::warn!("plugin `{}` cannot be loaded: {e:#}", p.info.name);
        }
    }
    if let Ok(Some(e)) = connecting.await {
        tracing::warn!(
            "{}; starting anyway, /healthz reports the engine as unreachable until it answers",
            crate::engine::errors::case_and_message(&e).1
        );
    }
    let lock_path = options.lock.as_ref().map(|l| l.path.clone());
    Ok(App {
        runtime,
        plugins: live::LivePlugins::new(catalog, lock_path),
        engines: engines::Engines::new(engine),
        teams,
        journal,
        state_dir: crate::util::paths::state_dir(),
        started: started::Started::default(),
        slots: Mutex::new(slots::Slots::new(options.bounds)),
        tasks: TaskTracker::new(),
        abort: CancellationToken::new(),
        draining: AtomicBool::new(false),
        max_body: options.max_body,
        metrics,
        reachability: metrics::Reachability::new(Duration::from_secs(1)),
        keyed_starts: tokio::sync::Mutex::new(()),
        reaping: notices::Reaping::default(),
        oidc: options
            .oidc
            .clone()
            .map(oidc::Oidc::new)
            .transpose()?
            .map(Arc::new),
    })
}

fn announce(app: &App, listener: &tokio::net::TcpListener, options: &Options) {
    let addr = listener.local_addr().map_or(options.listen, |a| a);
    let config = app.teams.current();
    tracing::info!(
        "listening on http://{addr} ({} plugins from {}, config {}, up to {} runs at once, {} per team; the team page is at http://{addr}/, metrics at /metrics)",
        app.plugins.current().plugins.len(),
        app.plugins.dir().display(),
        app.teams.path().display(),
        options.bounds.max_runs,
        options.bounds.max_team_runs,
    );
    if config.tokens.is_empty() {
        tracing::warn!("no team has a token yet, so every request will be refused: make one with `dockwright token new <team>`");
    }
    if !addr.ip().is_loopback() {
        tracing::warn!("listening beyond this machine over plain HTTP: tokens travel in clear text; put a TLS proxy in front");
    }
}

/// The first stop request (SIGTERM, Ctrl-C, a Windows service's stop) starts the
/// drain; the next one cancels the runs left.
async fn signals(app: Arc<App>, shutdown: CancellationToken) {
    let mut signals = crate::util::stop::Signals::new();
    let mut first = true;
    loop {
        signals.next().await;
        if first {
            first = false;
            // Under the admission lock: see `App::slots`.
            let guard = app.slots();
            app.draining.store(true, Ordering::SeqCst);
            drop(guard);
            shutdown.cancel();
        } else {
            tracing::warn!("second signal: cancelling the runs in flight");
            app.abort.cancel();
        }
    }
}

/// Let runs in flight finish until the deadline, then cancel (roll back) the rest.
async fn drain(app: &App, deadline: Duration) {
    app.tasks.close();
    let running = app.started.running().len();
    tracing::info!(
        "stopping: not accepting new connections; {running} run(s) in flight get up to {}s to finish",
        deadline.as_secs_f64()
    );
    tokio::select! {
        () = app.tasks.wait() => return,
        () = tokio::time::sleep(deadline) => {
            let left = app.started.running().len();
            tracing::warn!("drain deadline reached: cancelling {left} run(s), which rolls them back");
            app.abort.cancel();
        }
        () = app.abort.cancelled() => {}
    }
    if tokio::time::timeout(ROLLBACK_GRACE, app.tasks.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            "some runs did not finish rolling back in {}s: `dockwright gc` removes what they left",
            ROLLBACK_GRACE.as_secs()
        );
    }
}
