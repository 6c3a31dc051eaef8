//! `dockwright doctor`: what a new install gets wrong, checked in order, each failure
//! with what to do about it. Exit 0 only when every check passes.

use std::io::Write;
use std::net::ToSocketAddrs;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;

use super::load;
use crate::engine::config::EngineTarget;
use crate::plugin::catalog::Catalog;
use crate::plugin::runtime::Runtime;
use crate::run::config::Config;
use crate::serve::config::ServeSettings;
use crate::util::console::Captured;

/// How long an engine has to answer.
const ENGINE_WAIT: Duration = Duration::from_secs(5);
/// The oldest Engine API dockwright speaks (Docker 20.10).
const MIN_API: (u32, u32) = (1, 41);

/// One check: its name, whether it passed, what was found, and what to do.
#[derive(Debug, Serialize)]
pub struct Check {
    pub check: &'static str,
    pub ok: bool,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn pass(check: &'static str, detail: impl Into<String>) -> Check {
    Check {
        check,
        ok: true,
        detail: detail.into(),
        fix: None,
    }
}

fn fail(check: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
    Check {
        check,
        ok: false,
        detail: detail.into(),
        fix: Some(fix.into()),
    }
}

pub async fn doctor(config_path: Option<&Path>, plugins: &Path, json: bool) -> Result<ExitCode> {
    let checks = run(config_path, plugins).await;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{}", super::json_text(&checks)?)?;
    } else {
        for c in &checks {
            let mark = if c.ok { "ok  " } else { "FAIL" };
            // What the checks quote (a config's values, an engine's error) is shown inert.
            writeln!(
                out,
                "{mark}  {:<8} {}",
                c.check,
                crate::util::text::inert(&c.detail)
            )?;
            if let Some(fix) = &c.fix {
                writeln!(
                    out,
                    "      {:<8} fix: {}",
                    "",
                    crate::util::text::inert(fix)
                )?;
            }
        }
    }
    let failed = checks.iter().filter(|c| !c.ok).count();
    if !json {
        match failed {
            0 => writeln!(out, "\nevery check passed")?,
            n => writeln!(out, "\n{n} of {} checks failed", checks.len())?,
        }
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Every check, in the order a new install needs them.
pub async fn run(config_path: Option<&Path>, plugins: &Path) -> Vec<Check> {
    let mut checks = Vec::new();
    let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
    let (config, serve) = match load::load_config_and_serve(config_path) {
        Ok((config, serve)) => {
            let place = config
                .source
                .as_ref()
                .map_or("no config file: the built-in one".to_string(), |p| {
                    p.display().to_string()
                });
            checks.push(pass(
                "config",
                format!("{place}: {} team(s)", config.teams.len()),
            ));
            (config, serve)
        }
        Err(e) => {
            checks.push(fail(
                "config",
                format!("{e:#}"),
                "correct the file at the line and key named (every key is in examples/dockwright.toml)",
            ));
            (Config::builtin(&cwd), ServeSettings::default())
        }
    };
    checks.extend(teams(&config));
    for target in load::engine_targets(&config) {
        checks.push(engine(&target).await);
    }
    checks.push(state(&config));
    checks.extend(plugin_folder(config_path, plugins).await);
    checks.push(listen(&serve));
    checks.extend(public_hosts(&config));
    checks
}

/// Each team can work: its build roots exist and it may use some image.
fn teams(config: &Config) -> Vec<Check> {
    let mut problems: Vec<(String, String)> = Vec::new();
    for (name, team) in &config.teams {
        if team.images.is_empty() {
            problems.push((
                format!("team `{name}` may use no image (`images = []`)"),
                format!("give it patterns such as [\"{name}/*\"]"),
            ));
        }
        for root in &team.build_roots {
            if !root.is_dir() {
                problems.push((
                    format!(
                        "team `{name}`'s build root {} is not a folder",
                        root.display()
                    ),
                    "create it, or take it out of `build_roots`".to_string(),
                ));
            }
        }
    }
    if problems.is_empty() {
        vec![pass(
            "teams",
            format!("{} team(s) can work", config.teams.len()),
        )]
    } else {
        problems
            .into_iter()
            .map(|(what, fix)| fail("teams", what, fix))
            .collect()
    }
}

/// The engine answers, with an API dockwright speaks.
async fn engine(target: &EngineTarget) -> Check {
    let fix = if target.name == crate::engine::config::DEFAULT_ENGINE {
        "start the engine (sudo systemctl start docker), or point DOCKER_HOST at the one to use"
    } else {
        "start that engine, or correct its [engines.NAME] entry"
    };
    let asked = async {
        let engine = crate::engine::connect_to(target).await?;
        let docker = engine
            .docker()
            .await
            .map_err(|e| anyhow::anyhow!(crate::engine::errors::describe(&e)))?;
        docker
            .version()
            .await
            .map_err(|e| anyhow::anyhow!(crate::engine::errors::describe(&engine.fail(e))))
    };
    let name = format!("`{}` at {}", target.name, target.host);
    match tokio::time::timeout(ENGINE_WAIT, asked).await {
        Err(_) => fail(
            "engine",
            format!("{name} did not answer in {}s", ENGINE_WAIT.as_secs()),
            fix,
        ),
        Ok(Err(e)) => fail("engine", format!("{name} does not answer: {e:#}"), fix),
        Ok(Ok(v)) => {
            let api = v.api_version.unwrap_or_default();
            let speaks = api
                .split_once('.')
                .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
                .is_some_and(|v: (u32, u32)| v >= MIN_API);
            let detail = format!(
                "{name}: Docker {} (API {api})",
                v.version.unwrap_or_default()
            );
            if speaks {
                pass("engine", detail)
            } else {
                fail(
                    "engine",
                    detail,
                    format!(
                        "upgrade the engine: dockwright needs API {}.{} or newer (Docker 20.10)",
                        MIN_API.0, MIN_API.1
                    ),
                )
            }
        }
    }
}

/// The state folder takes files (admission locks, run locks) and the journal opens.
fn state(config: &Config) -> Check {
    let dir = crate::util::paths::state_dir();
    let fix = format!(
        "make {} a folder this user can write (or set {} to one)",
        dir.display(),
        crate::util::paths::STATE_VARIABLE
    );
    let probe = dir.join(format!(".doctor.{}", std::process::id()));
    let written = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&probe, b"ok"));
    let _ = std::fs::remove_file(&probe);
    if let Err(e) = written {
        return fail(
            "state",
            format!("cannot write in {}: {e}", dir.display()),
            fix,
        );
    }
    let fix = match &config.state {
        Some(state) => format!(
            "check that the database of `[state] url` ({}) runs and this host reaches it, and \
             its password (`password_file` or ${})",
            state.url,
            crate::journal::config::PASSWORD_ENV
        ),
        None => fix,
    };
    let journal = match load::open_journal(config) {
        Ok(journal) => journal,
        Err(e) => return fail("state", format!("{e:#}"), fix),
    };
    let mut detail = format!(
        "{} is writable; the journal {} opens",
        dir.display(),
        journal.shown()
    );
    // With the shared store: the keepalives that free a vanished host's places in
    // seconds are in force on the server's side of the session.
    if let Some(shared) = journal.shared() {
        match crate::journal::store::blocking(|| shared.keepalives()) {
            Ok(k) => detail.push_str(&format!(
                " (schema {}; the server ends a vanished host's sessions after {} s idle and {} probes {} s apart)",
                crate::journal::schema::PG_SCHEMA_VERSION,
                k.idle,
                k.count,
                k.interval
            )),
            Err(e) => return fail("state", format!("{e:#}"), fix),
        }
    }
    pass("state", detail)
}

/// The plugin folder's files load and hold their lock and signatures; the compiled
/// cache is this build's.
async fn plugin_folder(config_path: Option<&Path>, dir: &Path) -> Vec<Check> {
    let cache_root = crate::util::paths::cache_root();
    let runtime = match Runtime::with_cache(&cache_root) {
        Ok(runtime) => runtime,
        Err(e) => {
            return vec![fail(
                "cache",
                format!("{e:#}"),
                format!(
                    "make {} writable (or set {})",
                    cache_root.display(),
                    crate::util::paths::CACHE_VARIABLE
                ),
            )]
        }
    };
    let mut checks = Vec::new();
    let locked = match load::locked(config_path) {
        Ok(locked) => Some(locked),
        Err(e) => {
            checks.push(fail(
                "plugins",
                format!("{e:#}"),
                "restore the lock file next to the config (`dockwright plugins add` writes it), or correct it",
            ));
            None
        }
    };
    let console = Arc::new(Captured::default());
    match Catalog::load(&runtime, dir, console, locked.as_ref()).await {
        Err(e) => checks.push(fail(
            "plugins",
            format!("{e:#}"),
            "create the folder, or name another with --plugins or DOCKWRIGHT_PLUGINS",
        )),
        Ok(catalog) if catalog.problems.is_empty() => checks.push(pass(
            "plugins",
            format!("{} plugin(s) load from {}", catalog.plugins.len(), dir.display()),
        )),
        Ok(catalog) => checks.extend(catalog.problems.iter().map(|p| {
            fail(
                "plugins",
                format!("{}: {}", p.path.display(), p.reason),
                "replace the file with the one the lock names (`dockwright plugins update`), or remove it",
            )
        })),
    }
    checks.push(cache(&cache_root, &runtime));
    checks
}

/// Compiled plugins of other builds are never used again: a cache that holds them
/// was left by an upgrade (or by another version sharing the folder).
fn cache(root: &Path, runtime: &Runtime) -> Check {
    let ours = crate::plugin::cache::engine_key(runtime.engine());
    let folder = root;
    let others: Vec<String> = std::fs::read_dir(folder)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.starts_with("dockwright-") && *n != ours)
                .collect()
        })
        .unwrap_or_default();
    if others.is_empty() {
        pass(
            "cache",
            format!(
                "{} holds this build's compiled plugins ({ours})",
                folder.display()
            ),
        )
    } else {
        fail(
            "cache",
            format!(
                "{} holds compiled plugins of other builds ({}), which this one never uses",
                folder.display(),
                others.join(", ")
            ),
            format!(
                "remove them: {}",
                others
                    .iter()
                    .map(|o| format!("rm -r {}", folder.join(o).display()))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
        )
    }
}

/// The server's listen address can be bound here (or a server already holds it).
fn listen(serve: &ServeSettings) -> Check {
    let addr = serve
        .listen
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 8080)));
    match std::net::TcpListener::bind(addr) {
        Ok(_) => pass("serve", format!("{addr} is free to listen on")),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => pass(
            "serve",
            format!("{addr} is in use (by a running server, if it answers /healthz)"),
        ),
        Err(e) => fail(
            "serve",
            format!("cannot listen on {addr}: {e}"),
            "set [serve] listen to an address of this machine and a free port",
        ),
    }
}

/// Each `public_host` resolves, so the URLs plugins hand back open.
fn public_hosts(config: &Config) -> Vec<Check> {
    load::engine_targets(config)
        .into_iter()
        .filter_map(|t| Some((t.name, t.public_host?)))
        .map(
            |(engine, host)| match (host.as_str(), 80).to_socket_addrs().map(|mut a| a.next()) {
                Ok(Some(_)) => pass(
                    "public",
                    format!("engine `{engine}`'s public_host {host} resolves"),
                ),
                Ok(_) | Err(_) => fail(
                    "public",
                    format!("engine `{engine}`'s public_host {host} does not resolve here"),
                    "set public_host to the name or address teams reach this machine by",
                ),
            },
        )
        .collect()
}
