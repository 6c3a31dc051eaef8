//! What one plugin instance can reach: its WASI context (stdout and stderr to the
//! console, nothing else) and, while a workflow runs, the engine and its run.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::bindings::docker::DockerError;
use crate::console::{Console, Source};
use crate::engine::Engine;
use crate::labels::Owner;

/// The state of one plugin instance.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// The plugin's name, marking its output.
    pub plugin: Arc<str>,
    pub console: Arc<dyn Console>,
    /// The run this instance serves; none while the plugin only describes itself.
    pub run: Option<RunContext>,
}

/// A workflow run in progress: where Docker calls go, whose they are, and what
/// they created (so a failed run can be rolled back).
pub struct RunContext {
    pub engine: Engine,
    pub owner: Owner,
    /// Containers created by this run, oldest first.
    pub containers: Vec<String>,
    /// Images built or committed by this run, oldest first.
    pub images: Vec<String>,
}

impl RunContext {
    pub fn new(engine: Engine, owner: Owner) -> Self {
        Self {
            engine,
            owner,
            containers: Vec::new(),
            images: Vec::new(),
        }
    }
}

impl HostState {
    /// A fresh instance state. WASI grants only stdout and stderr (to the console)
    /// plus clocks and randomness: no files, no environment, no arguments, no sockets.
    pub fn new(plugin: Arc<str>, console: Arc<dyn Console>, run: Option<RunContext>) -> Self {
        use crate::console::PluginStream;
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
        }
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
