//! `dockwright service`: `serve` as a Windows service. `install` registers this
//! program with the service manager, to run `dockwright service run` with the machine's
//! folders (`%ProgramData%\dockwright`: its config, plugins, state and log); `start`
//! and `stop` ask the service manager, and a stop drains as Ctrl-C does under a
//! console (runs in flight get the drain timeout, then are rolled back); `uninstall`
//! stops it and removes it.
//!
//! On Unix the service manager is systemd, with the units of `packaging/systemd`;
//! these commands say so there.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Result;

/// The service's name, as `sc query dockwright` knows it.
#[cfg_attr(not(windows), allow(dead_code))]
pub const NAME: &str = "dockwright";

#[derive(clap::Subcommand, Debug)]
pub enum ServiceCommand {
    /// Register `dockwright serve` as a Windows service (needs an administrator); it
    /// reads %ProgramData%\dockwright\dockwright.toml and keeps its state there
    Install {
        /// The account the service runs as [default: LocalSystem]. A virtual account
        /// such as `NT SERVICE\dockwright` needs no password but must be given the
        /// engine's pipe (dockerd's `group`) and the folder
        #[arg(long)]
        account: Option<String>,
        /// Start the service when Windows starts, not only when asked
        #[arg(long)]
        automatic: bool,
        /// The engine the service talks to, as DOCKER_HOST gives it [default: this
        /// shell's DOCKER_HOST, else the named pipe]. Given to the service on its
        /// command line: services do not see a DOCKER_HOST set after Windows started
        #[arg(long, value_name = "URL")]
        docker_host: Option<String>,
    },
    /// Start the installed service
    Start,
    /// Stop the service: runs in flight drain, as on Ctrl-C, then it ends
    Stop,
    /// Stop the service if it runs, and remove it
    Uninstall,
    /// What the service manager starts (not for people)
    #[command(hide = true)]
    Run {
        /// The machine's folder `install` chose: the service's own environment may
        /// name another %ProgramData% (it does under wine), and its files must be the
        /// ones `install` named
        #[arg(long)]
        folder: PathBuf,
        /// The engine `install` was given, which this process's DOCKER_HOST becomes
        #[arg(long, value_name = "URL")]
        docker_host: Option<String>,
    },
}

/// Run `command`.
pub fn service(command: ServiceCommand) -> Result<ExitCode> {
    platform::service(command)
}

/// The arguments the service manager starts this program with: the machine's folder
/// `root`, its config and plugin folder named, so the service reads what `install`
/// said it reads and keeps its state where `install` said; and the engine's address
/// when `install` was given one.
#[cfg_attr(not(windows), allow(dead_code))]
pub fn launch_arguments(root: &Path, docker_host: Option<&str>) -> Vec<std::ffi::OsString> {
    let folders = crate::util::paths::machine_folders(root);
    let mut arguments: Vec<std::ffi::OsString> = vec![
        "--config".into(),
        folders.config.join("dockwright.toml").into(),
        "--plugins".into(),
        folders.data.join("plugins").into(),
        "service".into(),
        "run".into(),
        "--folder".into(),
        root.into(),
    ];
    if let Some(host) = docker_host {
        arguments.extend(["--docker-host".into(), host.into()]);
    }
    arguments
}

#[cfg(not(windows))]
mod platform {
    use super::*;

    pub fn service(_command: ServiceCommand) -> Result<ExitCode> {
        anyhow::bail!(
            "`dockwright service` manages a Windows service; on this system run `dockwright serve` under systemd with the units in packaging/systemd (the Debian package installs them)"
        )
    }
}

#[cfg(windows)]
mod platform {
    use std::ffi::OsString;
    use std::time::{Duration, Instant};

    use anyhow::Context;
    use windows_service::service::{
        ServiceAccess, ServiceControl, ServiceControlAccept, ServiceErrorControl, ServiceExitCode,
        ServiceInfo, ServiceStartType, ServiceState, ServiceStatus, ServiceType,
    };
    use windows_service::service_control_handler::{self, ServiceControlHandlerResult};
    use windows_service::service_manager::{ServiceManager, ServiceManagerAccess};

    use super::*;

    /// What the service manager is told to wait while the service drains: the longest
    /// drain, and the rollback after it.
    const STOP_HINT: Duration = Duration::from_secs(180);

    pub fn service(command: ServiceCommand) -> Result<ExitCode> {
        match command {
            ServiceCommand::Install {
                account,
                automatic,
                docker_host,
            } => install(account, automatic, docker_host),
            ServiceCommand::Start => start(),
            ServiceCommand::Stop => stop(),
            ServiceCommand::Uninstall => uninstall(),
            ServiceCommand::Run {
                folder,
                docker_host,
            } => run(folder, docker_host),
        }
    }

    fn manager(access: ServiceManagerAccess) -> Result<ServiceManager> {
        ServiceManager::local_computer(None::<&str>, access).map_err(|e| {
            anyhow::anyhow!(
                "cannot open the service manager: {e}; installing and removing a service needs an administrator's PowerShell"
            )
        })
    }

    fn open(access: ServiceAccess) -> Result<windows_service::service::Service> {
        manager(ServiceManagerAccess::CONNECT)?
            .open_service(NAME, access)
            .map_err(|e| {
                anyhow::anyhow!(
                    "cannot open the service `{NAME}`: {e}; is it installed (`dockwright service install`)?"
                )
            })
    }

    fn install(
        account: Option<String>,
        automatic: bool,
        docker_host: Option<String>,
    ) -> Result<ExitCode> {
        let docker_host = docker_host
            .or_else(|| std::env::var("DOCKER_HOST").ok())
            .filter(|host| !host.is_empty());
        if let Some(host) = &docker_host {
            // Refused now, by the rule the service would refuse it by when it starts.
            crate::engine::connect::check_address(host)
                .map_err(|e| anyhow::anyhow!("the service's engine {host}: {e}"))?;
        }
        let folders = crate::util::paths::windows_folders(|n| std::env::var_os(n), true);
        let root = folders.config.clone();
        for dir in [
            &folders.config,
            &folders.data.join("plugins"),
            &folders.state,
        ] {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let info = ServiceInfo {
            name: OsString::from(NAME),
            display_name: OsString::from("dockwright"),
            service_type: ServiceType::OWN_PROCESS,
            start_type: if automatic {
                ServiceStartType::AutoStart
            } else {
                ServiceStartType::OnDemand
            },
            error_control: ServiceErrorControl::Normal,
            executable_path: std::env::current_exe().context("cannot tell this program's path")?,
            launch_arguments: launch_arguments(&root, docker_host.as_deref()),
            dependencies: vec![],
            account_name: account.map(OsString::from),
            account_password: None,
        };
        let manager =
            manager(ServiceManagerAccess::CONNECT | ServiceManagerAccess::CREATE_SERVICE)?;
        let service = manager
            .create_service(&info, ServiceAccess::CHANGE_CONFIG)
            .map_err(|e| anyhow::anyhow!("cannot install the service `{NAME}`: {e}"))?;
        service.set_description(
            "Runs dockwright's team HTTP API: sandboxed plugins provisioning Docker environments",
        )?;
        println!(
            "installed the service `{NAME}`: it reads {} and keeps its state in {}; its engine is {}; start it with `dockwright service start`",
            folders.config.join("dockwright.toml").display(),
            folders.state.display(),
            docker_host.as_deref().unwrap_or(crate::engine::connect::DEFAULT_HOST)
        );
        Ok(ExitCode::SUCCESS)
    }

    fn start() -> Result<ExitCode> {
        open(ServiceAccess::START)?
            .start::<&str>(&[])
            .map_err(|e| anyhow::anyhow!("cannot start the service `{NAME}`: {e}"))?;
        println!("started the service `{NAME}`");
        Ok(ExitCode::SUCCESS)
    }

    /// Ask the service to stop and wait while it drains.
    fn stop_and_wait(service: &windows_service::service::Service) -> Result<()> {
        if service.query_status()?.current_state == ServiceState::Stopped {
            return Ok(());
        }
        service
            .stop()
            .map_err(|e| anyhow::anyhow!("cannot stop the service `{NAME}`: {e}"))?;
        let since = Instant::now();
        while service.query_status()?.current_state != ServiceState::Stopped {
            if since.elapsed() > STOP_HINT {
                anyhow::bail!(
                    "the service `{NAME}` is still stopping after {}s: see its log in %ProgramData%\\dockwright\\state\\serve.log",
                    STOP_HINT.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
        Ok(())
    }

    fn stop() -> Result<ExitCode> {
        stop_and_wait(&open(ServiceAccess::STOP | ServiceAccess::QUERY_STATUS)?)?;
        println!("stopped the service `{NAME}`");
        Ok(ExitCode::SUCCESS)
    }

    fn uninstall() -> Result<ExitCode> {
        let service =
            open(ServiceAccess::STOP | ServiceAccess::QUERY_STATUS | ServiceAccess::DELETE)?;
        stop_and_wait(&service)?;
        service
            .delete()
            .map_err(|e| anyhow::anyhow!("cannot remove the service `{NAME}`: {e}"))?;
        println!("removed the service `{NAME}` (its folder in %ProgramData%\\dockwright is kept)");
        Ok(ExitCode::SUCCESS)
    }

    windows_service::define_windows_service!(service_entry, service_main);

    /// Hand this thread to the service manager, which calls [`service_main`].
    fn run(folder: PathBuf, docker_host: Option<String>) -> Result<ExitCode> {
        crate::util::paths::use_machine_folders(folder);
        if let Some(host) = docker_host {
            // Before any thread of ours exists: the engine is found through DOCKER_HOST,
            // as for the docker CLI.
            std::env::set_var("DOCKER_HOST", host);
        }
        windows_service::service_dispatcher::start(NAME, service_entry).map_err(|e| {
            anyhow::anyhow!(
                "`dockwright service run` is what the service manager starts ({e}); to serve from a console, run `dockwright serve`"
            )
        })?;
        Ok(ExitCode::SUCCESS)
    }

    fn status(state: ServiceState, accept: ServiceControlAccept, code: u32) -> ServiceStatus {
        ServiceStatus {
            service_type: ServiceType::OWN_PROCESS,
            current_state: state,
            controls_accepted: accept,
            exit_code: ServiceExitCode::Win32(code),
            checkpoint: 0,
            wait_hint: if state == ServiceState::StopPending {
                STOP_HINT
            } else {
                Duration::ZERO
            },
            process_id: None,
        }
    }

    /// The service: `serve` with the process's own arguments, until the service
    /// manager's stop, which drains as a console's Ctrl-C does.
    fn service_main(_arguments: Vec<OsString>) {
        let handler = |control| match control {
            ServiceControl::Stop | ServiceControl::Shutdown => {
                crate::util::stop::request();
                ServiceControlHandlerResult::NoError
            }
            ServiceControl::Interrogate => ServiceControlHandlerResult::NoError,
            _ => ServiceControlHandlerResult::NotImplemented,
        };
        let Ok(handle) = service_control_handler::register(NAME, handler) else {
            return;
        };
        let accept = ServiceControlAccept::STOP | ServiceControlAccept::SHUTDOWN;
        let _ = handle.set_service_status(status(ServiceState::Running, accept, 0));
        // The words of a failure are in the service's log (serve_as_service writes them).
        let code = match super::super::serve_as_service() {
            Ok(_) => 0,
            Err(_) => 1,
        };
        let _ = handle.set_service_status(status(
            ServiceState::StopPending,
            ServiceControlAccept::empty(),
            code,
        ));
        let _ = handle.set_service_status(status(
            ServiceState::Stopped,
            ServiceControlAccept::empty(),
            code,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The service reads the machine's config and plugins, named on its command line.
    #[test]
    fn the_service_is_started_with_the_machines_folders() {
        let args: Vec<String> = launch_arguments(
            Path::new("C:\\ProgramData\\dockwright"),
            Some("tcp://10.0.0.9:2375"),
        )
        .into_iter()
        // Paths are joined with `\` on Windows, `/` where these tests also run.
        .map(|a| a.to_string_lossy().into_owned())
        .map(|a| match a.starts_with("C:") {
            true => a.replace('/', "\\"),
            false => a,
        })
        .collect();
        assert_eq!(
            args,
            [
                "--config",
                "C:\\ProgramData\\dockwright\\dockwright.toml",
                "--plugins",
                "C:\\ProgramData\\dockwright\\plugins",
                "service",
                "run",
                "--folder",
                "C:\\ProgramData\\dockwright",
                "--docker-host",
                "tcp://10.0.0.9:2375"
            ]
        );
        // And they parse as this program's arguments, the folder given to `run`.
        let cli = <crate::cli::Cli as clap::Parser>::try_parse_from(
            std::iter::once("dockwright".to_string()).chain(args),
        )
        .unwrap();
        assert!(cli.config.is_some());
        let crate::cli::Command::Service {
            command:
                ServiceCommand::Run {
                    folder,
                    docker_host,
                },
        } = cli.command
        else {
            panic!("not `service run`: {:?}", cli.command);
        };
        assert_eq!(folder, PathBuf::from("C:\\ProgramData\\dockwright"));
        assert_eq!(docker_host.as_deref(), Some("tcp://10.0.0.9:2375"));
        // Without an engine named, the service finds it as the docker CLI would.
        let args = launch_arguments(Path::new("C:\\ProgramData\\dockwright"), None);
        assert!(!args.iter().any(|a| a == "--docker-host"), "{args:?}");
    }

    #[cfg(not(windows))]
    #[test]
    fn elsewhere_the_command_points_at_systemd() {
        let err = service(ServiceCommand::Start).unwrap_err().to_string();
        assert!(err.contains("packaging/systemd"), "{err}");
    }
}
