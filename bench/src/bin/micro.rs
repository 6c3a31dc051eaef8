//! `micro`: what compiling a plugin costs, against loading it already compiled.
//!
//! For each plugin file: the median time of `Component::new` (a first compile, Cranelift) over
//! several rounds, then of loading the serialized form (`Component::serialize`, then
//! `unsafe Component::deserialize` from memory and `deserialize_file` from a file), and the
//! ratio. The engine is configured as the host's (`epoch_interruption`), since compiled
//! artifacts are tied to the engine's configuration. Also times `Runtime::new()` of the
//! dockwright library (engine, WASI and the contract's linker): a cost every command pays.
//!
//! ```text
//! micro [--rounds N] [--load-rounds M] PLUGIN.wasm...
//! ```
//!
//! Prints one JSON document on stdout.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use dockwright::{wasm_kind, Runtime, WasmKind};
use serde_json::{json, Value};
use wasmtime::component::Component;
use wasmtime::{Config, Engine};

struct Args {
    rounds: usize,
    load_rounds: usize,
    files: Vec<PathBuf>,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        rounds: 5,
        load_rounds: 50,
        files: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut count = || -> Result<usize> {
            let v = it.next().with_context(|| format!("{arg} needs a value"))?;
            match v.parse() {
                Ok(n) if n > 0 => Ok(n),
                _ => bail!("{arg}: expected a whole number above 0, got `{v}`"),
            }
        };
        match arg.as_str() {
            "--rounds" => args.rounds = count()?,
            "--load-rounds" => args.load_rounds = count()?,
            "-h" | "--help" => {
                println!("usage: micro [--rounds N] [--load-rounds M] PLUGIN.wasm...");
                std::process::exit(0);
            }
            flag if flag.starts_with('-') => bail!("unknown option `{flag}`"),
            file => args.files.push(file.into()),
        }
    }
    if args.files.is_empty() {
        bail!("no plugin files given (usage: micro [--rounds N] [--load-rounds M] PLUGIN.wasm...)");
    }
    Ok(args)
}

fn main() -> Result<()> {
    let args = parse_args()?;

    // The host's engine setup, as every dockwright command pays it.
    let runtime_new = median(
        (0..args.rounds)
            .map(|_| {
                let started = Instant::now();
                let runtime = Runtime::new()?;
                let ms = elapsed_ms(started);
                drop(runtime);
                Ok(ms)
            })
            .collect::<Result<Vec<_>>>()?,
    );

    // An engine configured as the host's (host/src/plugin/runtime.rs): artifacts compiled here load there.
    let mut config = Config::new();
    config.epoch_interruption(true);
    let engine = Engine::new(&config)
        .map_err(anyhow::Error::from)
        .context("cannot set up the WebAssembly engine")?;
    let scratch = std::env::temp_dir().join(format!("dockwright-micro-{}", std::process::id()));
    std::fs::create_dir_all(&scratch)?;

    let mut plugins = Vec::new();
    let mut result = Ok(());
    for file in &args.files {
        match measure(&engine, file, &args, &scratch) {
            Ok(v) => plugins.push(v),
            Err(e) => {
                result = Err(e);
                break;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    result?;

    let doc = json!({
        "wasmtime_config": "Config::new() + epoch_interruption(true), as host/src/plugin/runtime.rs",
        "rounds": args.rounds,
        "load_rounds": args.load_rounds,
        "runtime_new_ms": round3(runtime_new),
        "plugins": plugins,
    });
    println!("{}", serde_json::to_string_pretty(&doc)?);
    Ok(())
}

fn measure(
    engine: &Engine,
    file: &PathBuf,
    args: &Args,
    scratch: &std::path::Path,
) -> Result<Value> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    if wasm_kind(&bytes) != WasmKind::Component {
        bail!("{} is not a WebAssembly component", file.display());
    }

    let mut compile = Vec::with_capacity(args.rounds);
    let mut component = None;
    for _ in 0..args.rounds {
        let started = Instant::now();
        let c = Component::new(engine, &bytes)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("{} does not compile", file.display()))?;
        compile.push(elapsed_ms(started));
        component = Some(c);
    }
    let serialized = component
        .expect("at least one round")
        .serialize()
        .map_err(anyhow::Error::from)?;
    let cwasm = scratch.join("plugin.cwasm");
    std::fs::write(&cwasm, &serialized)?;

    let mut load = Vec::with_capacity(args.load_rounds);
    let mut load_file = Vec::with_capacity(args.load_rounds);
    for _ in 0..args.load_rounds {
        let started = Instant::now();
        // SAFETY: the bytes are what `serialize` of this engine produced a moment ago.
        let c =
            unsafe { Component::deserialize(engine, &serialized) }.map_err(anyhow::Error::from)?;
        load.push(elapsed_ms(started));
        drop(c);

        let started = Instant::now();
        // SAFETY: the file holds those same bytes, written by this process.
        let c =
            unsafe { Component::deserialize_file(engine, &cwasm) }.map_err(anyhow::Error::from)?;
        load_file.push(elapsed_ms(started));
        drop(c);
    }

    let compile_ms = median(compile);
    let load_ms = median(load);
    let load_file_ms = median(load_file);
    Ok(json!({
        "file": file.file_name().map(|n| n.to_string_lossy().into_owned()),
        "wasm_bytes": bytes.len(),
        "serialized_bytes": serialized.len(),
        "compile_ms": round3(compile_ms),
        "load_ms": round3(load_ms),
        "load_file_ms": round3(load_file_ms),
        "ratio": round1(compile_ms / load_ms),
        "ratio_file": round1(compile_ms / load_file_ms),
    }))
}

fn elapsed_ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    if v.len().is_multiple_of(2) {
        (v[mid - 1] + v[mid]) / 2.0
    } else {
        v[mid]
    }
}

fn round3(x: f64) -> f64 {
    (x * 1e3).round() / 1e3
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}
