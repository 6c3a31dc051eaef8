//! What one plugin instance can reach: its WASI context (stdout and stderr to the
//! console, nothing else) and, while a workflow runs, the engine and its run.

use std::path::PathBuf;
use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::contract::bindings::docker::DockerError;
use crate::engine::Engine;
use crate::journal::Journal;
use crate::policy::labels::Owner;
use crate::policy::{Permissions, TeamPolicy};
use crate::util::console::{Console, Source};

/// The state of one plugin instance.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// The plugin's name, marking its output.
    pub plugin: Arc<str>,
    pub console: Arc<dyn Console>,
    /// The run this instance serves; none while the plugin only describes itself.
    pub run: Option<RunContext>,
    /// How far the instance's memory may grow.
    pub memory: MemoryCap,
    /// The permission groups the plugin declared while it described itself
    /// (`declare-permissions`), in the order it named them.
    pub declared: Option<Vec<String>>,
}

/// A cap on the total linear memory of an instance. It remembers being hit, so a
/// trap can be reported as the limit it is rather than as a crash.
pub struct MemoryCap {
    pub max_bytes: usize,
    used: usize,
    pub hit: bool,
}

impl MemoryCap {
    pub fn new(max_bytes: usize) -> Self {
        Self {
            max_bytes,
            used: 0,
            hit: false,
        }
    }
}

impl wasmtime::ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self.used.saturating_sub(current).saturating_add(desired);
        if total > self.max_bytes {
            self.hit = true;
            wasmtime::bail!(
                "the plugin went over its memory limit of {} bytes",
                self.max_bytes
            );
        }
        self.used = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Tables hold function references; a million is far past any honest plugin.
        Ok(desired <= 1_000_000)
    }
}

/// The last failed host call of a run: what tells a denied or cut-off run from a
/// workflow that failed for its own reasons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailedCall {
    /// Denied by the rule named (when the denial named one).
    Denied(Option<String>),
    /// The engine could not be reached.
    Unavailable,
    /// Any other failure (not found, conflict, an engine error).
    Other,
}

/// A workflow run in progress: where Docker calls go, whose they are, and what
/// they created (so a failed run can be rolled back).
pub struct RunContext {
    pub engine: Engine,
    pub owner: Owner,
    /// The policy of the team the run is for: every Docker call is checked against it.
    pub policy: Arc<TeamPolicy>,
    pub journal: Arc<Journal>,
    /// Containers created by this run, oldest first.
    pub containers: Vec<String>,
    /// Services created by this run, oldest first.
    pub services: Vec<String>,
    /// Images built or committed by this run, oldest first.
    pub images: Vec<String>,
    /// Where the team's admission lock and reservations live (see [`super::admission`]).
    pub state_dir: PathBuf,
    /// The team's network, once a call needed it.
    pub network: Option<String>,
    /// The team's overlay network for services, once a call needed it.
    pub overlay: Option<String>,
    /// The plugin's permission manifest: a call outside it is denied.
    pub permissions: Permissions,
    /// How the run meets the engine: for real, as a plan, recorded or replayed.
    pub mode: super::mode::Mode,
    /// The last host call that failed, of which a failed workflow's cause is read.
    pub last_failure: Option<FailedCall>,
    /// Who asked for the run, where the host knows (see [`super::whose`]).
    pub caller: Option<String>,
    /// What the call under way adds to its journal entry's detail after what it made
    /// (a container's limits after its id), taken when the entry is written.
    pub note: Option<String>,
}

impl RunContext {
    pub fn new(
        engine: Engine,
        owner: Owner,
        policy: Arc<TeamPolicy>,
        journal: Arc<Journal>,
        state_dir: PathBuf,
        permissions: Permissions,
    ) -> Self {
        Self {
            engine,
            owner,
            policy,
            journal,
            containers: Vec::new(),
            services: Vec::new(),
            images: Vec::new(),
            state_dir,
            network: None,
            overlay: None,
            permissions,
            mode: super::mode::Mode::Live,
            last_failure: None,
            caller: None,
            note: None,
        }
    }
}

impl HostState {
    /// A fresh instance state. WASI grants only stdout and stderr (to the console)
    /// plus clocks and randomness: no files, no environment, no arguments, no sockets.
    pub fn new(
        plugin: Arc<str>,
        console: Arc<dyn Console>,
        run: Option<RunContext>,
        memory_bytes: usize,
    ) -> Self {
        use crate::util::console::PluginStream;
        let wasi = WasiCtx::builder()
            .stdout(PluginStream::new(
                plugin.clone(),
                Source::Stdout,
                console.clone(),
            ))
            .stderr(PluginStream::new(
                plugin.clone(),
                Source::Stderr,
                console.clone(),
            ))
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            wasi,
            table: ResourceTable::new(),
            plugin,
            console,
            run,
            memory: MemoryCap::new(memory_bytes),
            declared: None,
        }
    }

    /// Whether the plugin may call `function` now: only in a run, and only inside its
    /// permission manifest. The error is what the plugin gets.
    pub fn permitted(&mut self, function: &str) -> Result<(), DockerError> {
        let plugin = self.plugin.clone();
        let run = self.run()?;
        crate::policy::check_call(&plugin, &run.permissions, function)
            .map_err(|denial| DockerError::Denied(denial.to_string()))
    }

    /// The run, or the error a plugin gets for calling Docker outside one.
    pub fn run(&mut self) -> Result<&mut RunContext, DockerError> {
        self.run.as_mut().ok_or_else(|| {
            DockerError::Denied(
                "Docker calls are allowed only while a workflow runs, not in `describe`".into(),
            )
        })
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
