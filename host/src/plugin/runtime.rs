//! The wasmtime side: one engine and linker for the process, and loading plugin
//! components against the `plugin` world.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use wasmtime::component::{Component, HasSelf, Linker};
use wasmtime::{Config, InstanceAllocationStrategy, PoolingAllocationConfig, Store};

use crate::contract::bindings::{Plugin, PluginPre};
use crate::contract::versions;
use crate::imports::state::{HostState, RunContext};
use crate::plugin::cache::Cache;
use crate::util::console::Console;

/// How often the epoch ticks. A running guest yields to the async runtime at each
/// tick, so deadlines and Ctrl-C reach even a plugin that spins without calling out.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The process-wide plugin runtime.
pub struct Runtime {
    engine: wasmtime::Engine,
    linker: Linker<HostState>,
    cache: Option<Cache>,
}

/// What kind of file a plugin candidate is, from its first eight bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WasmKind {
    Component,
    CoreModule,
    NotWasm,
}

/// Tell a component from a core module (or anything else) by its header.
pub fn wasm_kind(bytes: &[u8]) -> WasmKind {
    match bytes.get(..8) {
        Some([0, b'a', b's', b'm', 0x0d, 0, 1, 0]) => WasmKind::Component,
        Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => WasmKind::CoreModule,
        _ => WasmKind::NotWasm,
    }
}

impl Runtime {
    /// A runtime that compiles every plugin it loads.
    pub fn new() -> Result<Self> {
        Self::build(None)
    }

    /// A runtime that keeps compiled plugins (and their descriptions) under `root`.
    pub fn with_cache(root: &Path) -> Result<Self> {
        Self::build(Some(root))
    }

    fn build(cache_root: Option<&Path>) -> Result<Self> {
        let mut config = Config::new();
        config.epoch_interruption(true);
        if pooling_requested() {
            // Instances come from pre-reserved slots: cheaper to make many at once, at
            // the price of reserving address space up front.
            config.allocation_strategy(InstanceAllocationStrategy::Pooling(
                PoolingAllocationConfig::default(),
            ));
        }
        let engine = wasmtime::Engine::new(&config)
            .map_err(anyhow::Error::from)
            .context("cannot set up the WebAssembly engine")?;
        spawn_epoch_ticker(&engine);

        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        Plugin::add_to_linker::<HostState, HasSelf<HostState>>(&mut linker, |s| s)?;
        let cache = cache_root.map(|root| Cache::new(root, &engine));
        Ok(Self {
            engine,
            linker,
            cache,
        })
    }

    pub fn engine(&self) -> &wasmtime::Engine {
        &self.engine
    }

    pub fn cache(&self) -> Option<&Cache> {
        self.cache.as_ref()
    }

    /// Compile a plugin and check it against the `plugin` world. The error says why
    /// a file is not a plugin, in words a user can act on.
    pub fn load(&self, bytes: &[u8]) -> Result<PluginPre<HostState>> {
        let sha256 = crate::util::digest::sha256_hex(bytes);
        self.prepare(&self.compile(bytes, &sha256)?)
    }

    /// The compiled component of these bytes: from the cache when it has it, else
    /// compiled (and cached).
    pub fn compile(&self, bytes: &[u8], sha256: &str) -> Result<Component> {
        match wasm_kind(bytes) {
            WasmKind::Component => {}
            WasmKind::CoreModule => bail!(
                "it is a core WebAssembly module, not a component: build the plugin for the \
                 wasm32-wasip2 target (or wrap it with `wasm-tools component new`)"
            ),
            WasmKind::NotWasm => bail!("it is not a WebAssembly file"),
        }
        if let Some(component) = self.cached(sha256) {
            return Ok(component);
        }
        let component = Component::new(&self.engine, bytes)
            .map_err(anyhow::Error::from)
            .context("the component does not compile")?;
        if let Some(cache) = &self.cache {
            cache.store_component(sha256, &component);
        }
        Ok(component)
    }

    /// The cached compiled component, if there is a readable one.
    pub fn cached(&self, sha256: &str) -> Option<Component> {
        self.cache.as_ref()?.component(&self.engine, sha256)
    }

    /// Check a component against the `plugin` world and link it, ready to instantiate.
    pub fn prepare(&self, component: &Component) -> Result<PluginPre<HostState>> {
        let linked = self
            .linker
            .instantiate_pre(component)
            .and_then(PluginPre::new);
        linked.map_err(|e| {
            let (imports, exports) = versions::names(&self.engine, component);
            anyhow::anyhow!("{} ({e})", versions::explain_mismatch(&imports, &exports))
        })
    }

    /// A store for one instance, with the given console and run, whose memory may
    /// grow to `memory_bytes` (growing past it traps).
    pub fn store(
        &self,
        plugin: Arc<str>,
        console: Arc<dyn Console>,
        run: Option<RunContext>,
        memory_bytes: usize,
    ) -> Store<HostState> {
        let state = HostState::new(plugin, console, run, memory_bytes);
        let mut store = Store::new(&self.engine, state);
        store.limiter(|s| &mut s.memory);
        // Yield at every tick rather than trap: the caller's deadline decides when to stop.
        store.set_epoch_deadline(1);
        store.epoch_deadline_async_yield_and_update(1);
        store
    }
}

/// `DOCKWRIGHT_POOLING=1` turns on the pooling allocator (see bench/ for whether it
/// pays off for a CLI).
fn pooling_requested() -> bool {
    std::env::var("DOCKWRIGHT_POOLING").is_ok_and(|v| v == "1" || v == "true")
}

/// Advance the engine's epoch until the engine is gone.
fn spawn_epoch_ticker(engine: &wasmtime::Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("dockwright-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .expect("spawning the epoch thread");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_header() {
        assert_eq!(wasm_kind(b"\0asm\x0d\0\x01\0rest"), WasmKind::Component);
        assert_eq!(wasm_kind(b"\0asm\x01\0\0\0"), WasmKind::CoreModule);
        assert_eq!(wasm_kind(b"\0asm"), WasmKind::NotWasm);
        assert_eq!(wasm_kind(b"hello world"), WasmKind::NotWasm);
    }

    #[test]
    fn non_plugins_are_refused_with_a_reason() {
        let rt = Runtime::new().unwrap();
        let err = rt.load(b"not wasm at all").err().unwrap().to_string();
        assert!(err.contains("not a WebAssembly file"), "{err}");
        let err = rt.load(b"\0asm\x01\0\0\0").err().unwrap().to_string();
        assert!(err.contains("core WebAssembly module"), "{err}");
    }

    #[test]
    fn components_of_another_world_are_refused() {
        let rt = Runtime::new().unwrap();
        let empty = wat::parse_str("(component)").unwrap();
        let err = format!("{:#}", rt.load(&empty).err().unwrap());
        assert!(
            err.contains("does not use the dockwright:plugin contract"),
            "{err}"
        );
    }
}
