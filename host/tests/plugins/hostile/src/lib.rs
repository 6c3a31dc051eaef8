//! `hostile`: a test plugin whose workflows misbehave on purpose, so the host's sandbox limits
//! (fuel or epoch deadlines, memory limits, output limits, call timeouts) and its rollback of
//! what a failed or killed run created can be tested.
//!
//! - `spin`: busy-loops forever without calling the host.
//! - `alloc`: allocates 1 MiB chunks forever, until the store's memory limit makes it trap.
//! - `flood`: prints lines to stdout forever; every 100th line also goes to `host::log`.
//! - `block`: starts a `sleep 300` container and blocks in `docker::wait-container` on it.
//! - `trap-after-create`: creates and starts `count` containers, then panics (a trap).
//! - `slow`: starts a `sleep 300` container, logs `created <id>`, then busy-waits `seconds`.
//! - `log-loop`: reads a container's whole log again and again, forever: a run that spends
//!   its time inside a busy host call, which only the host's deadline can end.
//! - `markup`: logs and outputs HTML and script, for a page that must show them as text.
//! - `escapes`: writes terminal control sequences (set the title, clear the screen, a bidi
//!   override) to its log, stdout and stderr, and in its outputs or, with `fail=yes`, its
//!   error: for a terminal that must show them as text.
//! - `echo-error`: fails with an error that quotes its `value` param whole, however large.
//! - `outlive`: tries to outlive its team's lifetime max: asks for ten years
//!   (`host.set-lifetime`), then labels a container with its own far `dockwright.expires`;
//!   then (with `ask`, in seconds) asks for a lifetime it may have, and starts a sleeper.
//!   Outputs what each attempt got, the container, and the run's expiry.

wit_bindgen::generate!({
    world: "plugin",
    path: "../../../../wit",
});

use std::hint::black_box;
use std::time::{Duration, Instant};

use dockwright::plugin::docker::{self, ContainerSpec};
use dockwright::plugin::host::{self, Level};
use dockwright::plugin::types::KeyValue;
use exports::dockwright::plugin::workflows::{Guest, Param, PluginInfo, Workflow};

struct Hostile;

export!(Hostile);

// ---------------------------------------------------------------------------------------------
// The workflows and their params.

struct ParamDef {
    name: &'static str,
    description: &'static str,
    required: bool,
    default: Option<&'static str>,
}

type Outputs = Vec<KeyValue>;
type Handler = fn(&Params) -> Result<Outputs, String>;

struct WorkflowDef {
    name: &'static str,
    description: &'static str,
    params: &'static [ParamDef],
    handler: Handler,
}

const IMAGE: ParamDef = ParamDef {
    name: "image",
    description: "Image reference; it must have `sleep`",
    required: true,
    default: None,
};

const WORKFLOWS: &[WorkflowDef] = &[
    WorkflowDef {
        name: "spin",
        description: "Busy-loop forever without calling the host",
        params: &[],
        handler: spin,
    },
    WorkflowDef {
        name: "alloc",
        description: "Allocate 1 MiB chunks forever, until the memory limit traps",
        params: &[],
        handler: alloc,
    },
    WorkflowDef {
        name: "flood",
        description: "Print lines to stdout forever; every 100th also goes to host::log",
        params: &[],
        handler: flood,
    },
    WorkflowDef {
        name: "block",
        description: "Start a `sleep 300` container and block in docker::wait-container on it; \
                      outputs exit-code if it ever returns",
        params: &[IMAGE],
        handler: block,
    },
    WorkflowDef {
        name: "trap-after-create",
        description: "Create and start count `sleep 300` containers, log their ids, then trap",
        params: &[
            IMAGE,
            ParamDef {
                name: "count",
                description: "How many containers",
                required: false,
                default: Some("3"),
            },
        ],
        handler: trap_after_create,
    },
    WorkflowDef {
        name: "slow",
        description: "Start a `sleep 300` container, log `created <id>`, busy-wait seconds, \
                      then succeed; outputs container",
        params: &[
            IMAGE,
            ParamDef {
                name: "seconds",
                description: "How long to busy-wait",
                required: false,
                default: Some("30"),
            },
        ],
        handler: slow,
    },
    WorkflowDef {
        name: "log-loop",
        description: "Read a container's whole log in a loop, forever",
        params: &[ParamDef {
            name: "container",
            description: "Container id or name",
            required: true,
            default: None,
        }],
        handler: log_loop,
    },
    WorkflowDef {
        name: "markup",
        description: "Log and output <b onmouseover=\"window.pwned=1\">markup</b>; outputs \
                      script, image, link",
        params: &[ParamDef {
            name: "note",
            description: "<img src=x onerror=\"window.pwned=2\">",
            required: false,
            default: Some("<script>window.pwned=3</script>"),
        }],
        handler: markup,
    },
    WorkflowDef {
        name: "escapes",
        description: "Write terminal control sequences to the log, stdout and stderr, and \
                      in the outputs or (fail=yes) the error",
        params: &[ParamDef {
            name: "fail",
            description: "yes: fail with the sequences in the error",
            required: false,
            default: Some("no"),
        }],
        handler: escapes,
    },
    WorkflowDef {
        name: "echo-error",
        description: "Fail with an error that quotes value whole",
        params: &[ParamDef {
            name: "value",
            description: "Any text",
            required: true,
            default: None,
        }],
        handler: echo_error,
    },
    WorkflowDef {
        name: "outlive",
        description: "Ask for ten years, label a container with a far expiry, then ask \
                      for `ask` seconds and start a sleeper",
        params: &[
            IMAGE,
            ParamDef {
                name: "ask",
                description:
                    "Seconds of lifetime to ask for after the attempts (none: ask nothing)",
                required: false,
                default: None,
            },
        ],
        handler: outlive,
    },
];

impl Guest for Hostile {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "hostile".to_string(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            description: "Test plugin: workflows that misbehave on purpose (spin, exhaust \
                          memory, flood output, block, trap, run slowly)"
                .to_string(),
            workflows: WORKFLOWS
                .iter()
                .map(|w| Workflow {
                    name: w.name.to_string(),
                    description: w.description.to_string(),
                    params: w
                        .params
                        .iter()
                        .map(|p| Param {
                            name: p.name.to_string(),
                            description: p.description.to_string(),
                            required: p.required,
                            default: p.default.map(str::to_string),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    fn run(workflow: String, params: Vec<KeyValue>) -> Result<Vec<KeyValue>, String> {
        let def = WORKFLOWS
            .iter()
            .find(|w| w.name == workflow)
            .ok_or_else(|| format!("unknown workflow `{workflow}`"))?;
        let params = Params(params);
        for p in def.params.iter().filter(|p| p.required) {
            params.required(p.name)?;
        }
        (def.handler)(&params)
    }
}

// ---------------------------------------------------------------------------------------------
// The misbehaviour.
//
// `spin`, `alloc` and `flood` loop forever on purpose: that is what they are for. Each allows
// `clippy::infinite_loop` (a restriction lint, off by default) so that enabling it cannot fail
// the build over these deliberate loops.

// Deliberately never ends: `black_box` keeps the optimizer from proving the loop has no
// effect and deleting it, and there are no host calls, so only the host's fuel or epoch
// interruption can stop it.
#[allow(clippy::infinite_loop)]
fn spin(_: &Params) -> Result<Outputs, String> {
    let mut counter: u64 = 0;
    loop {
        counter = black_box(counter.wrapping_add(1));
    }
}

// Deliberately never ends: every chunk is written to and kept alive, so linear memory grows
// until the host's memory limit refuses `memory.grow`; the allocation failure then aborts,
// which in a wasm guest is a trap.
#[allow(clippy::infinite_loop)]
fn alloc(_: &Params) -> Result<Outputs, String> {
    const MIB: usize = 1 << 20;
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut n: usize = 0;
    loop {
        let mut chunk = vec![0u8; MIB];
        // Touch every page, so the memory is really used, not just reserved.
        for page in chunk.chunks_mut(4096) {
            page[0] = n as u8;
        }
        chunks.push(black_box(chunk));
        black_box(&chunks);
        n = n.wrapping_add(1);
    }
}

// Deliberately never ends: prints ~100-byte lines to stdout as fast as it can, so only the
// host's output or time limits can stop it; every 100th line also calls `host::log`.
#[allow(clippy::infinite_loop)]
fn flood(_: &Params) -> Result<Outputs, String> {
    let mut counter: u64 = 0;
    loop {
        println!(
            "flood line {counter:>12} xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
        );
        if counter.is_multiple_of(100) {
            host::log(Level::Info, &format!("flood: {counter} lines printed"));
        }
        counter = counter.wrapping_add(1);
    }
}

fn block(p: &Params) -> Result<Outputs, String> {
    let id = start_sleeper(p.required("image")?)?;
    host::log(Level::Info, &format!("created {id}"));
    let code = docker::wait_container(&id).map_err(|e| format!("{e:?}"))?;
    Ok(vec![kv("exit-code", code), kv("container", id)])
}

fn log_loop(p: &Params) -> Result<Outputs, String> {
    let container = p.required("container")?;
    host::log(Level::Info, "reading logs");
    loop {
        let options = docker::LogsOptions {
            stdout: true,
            stderr: true,
            tail: None,
        };
        let lines = docker::container_logs(container, options).map_err(|e| format!("{e:?}"))?;
        black_box(lines);
    }
}

/// Each value would run script if a page put it into HTML unescaped, or followed it as a link.
fn markup(p: &Params) -> Result<Outputs, String> {
    host::log(Level::Info, "<script>window.pwned=4</script>");
    host::log(Level::Info, p.get("note").unwrap_or_default());
    Ok(vec![
        kv("script", "<script>window.pwned=5</script>"),
        kv("image", "<img src=x onerror=\"window.pwned=6\">"),
        kv("link", "javascript:window.pwned=7"),
    ])
}

/// What a plugin of another team would write to take over an operator's terminal: set
/// its title (OSC 0), clear the screen (CSI 2J), ring the bell, and reverse the text after
/// it (U+202E); a C1 CSI (U+009B) for terminals that take one.
const TERMINAL_ATTACK: &str = "\x1b]0;pwned\x07\x1b[2J\u{202e}desrever\u{9b}31m";

fn escapes(p: &Params) -> Result<Outputs, String> {
    host::log(Level::Info, &format!("log {TERMINAL_ATTACK}"));
    host::log(
        Level::Warn,
        &format!("warn {TERMINAL_ATTACK}\n[other-plugin] not me"),
    );
    // A carriage return would let the rest of the line overwrite the plugin's tag.
    println!("stdout {TERMINAL_ATTACK}\rforged");
    eprintln!("stderr {TERMINAL_ATTACK}");
    if p.get("fail") == Some("yes") {
        return Err(format!("error {TERMINAL_ATTACK}"));
    }
    Ok(vec![
        kv("title", format!("output {TERMINAL_ATTACK}")),
        kv(&format!("key{TERMINAL_ATTACK}"), "value"),
    ])
}

fn echo_error(p: &Params) -> Result<Outputs, String> {
    Err(format!("cannot use `{}`", p.required("value")?))
}

fn outlive(p: &Params) -> Result<Outputs, String> {
    let image = p.required("image")?;
    const TEN_YEARS: u64 = 10 * 365 * 86_400;
    let lifetime = match host::set_lifetime(TEN_YEARS) {
        Ok(expires) => format!("granted {expires}"),
        Err(e) => format!("refused: {e}"),
    };
    let mut spec = sleeper(image);
    spec.labels = vec![kv("dockwright.expires", "2099-01-01T00:00:00.000Z")];
    let label = match docker::create_container(&spec) {
        Ok(id) => format!("created {id}"),
        Err(e) => format!("refused: {e:?}"),
    };
    let asked = match p.number::<u64>("ask", 0)? {
        0 => "not asked".to_string(),
        seconds => host::set_lifetime(seconds).map_err(|e| format!("set-lifetime: {e}"))?,
    };
    let container = start_sleeper(image)?;
    Ok(vec![
        kv("lifetime", lifetime),
        kv("label", label),
        kv("asked", asked),
        kv("container", container),
        kv("expires", host::run_expires().unwrap_or_default()),
    ])
}

fn trap_after_create(p: &Params) -> Result<Outputs, String> {
    let image = p.required("image")?;
    let count: u32 = p.number("count", 3)?;
    for _ in 0..count {
        let id = start_sleeper(image)?;
        host::log(Level::Info, &format!("created {id}"));
    }
    panic!("trapping on purpose after creating {count} containers");
}

fn slow(p: &Params) -> Result<Outputs, String> {
    let id = start_sleeper(p.required("image")?)?;
    let seconds: u64 = p.number("seconds", 30)?;
    host::log(Level::Info, &format!("created {id}"));
    let deadline = Duration::from_secs(seconds);
    let started = Instant::now();
    let mut spins: u64 = 0;
    // Deliberately busy: no host calls but the clock, so the run stays inside the guest.
    while started.elapsed() < deadline {
        spins = black_box(spins.wrapping_add(1));
    }
    Ok(vec![kv("container", id)])
}

/// Create and start a container running `sleep 300`; returns its id.
fn start_sleeper(image: &str) -> Result<String, String> {
    let id = docker::create_container(&sleeper(image)).map_err(|e| format!("{e:?}"))?;
    docker::start_container(&id).map_err(|e| format!("{e:?}"))?;
    Ok(id)
}

/// A container that runs `sleep 300`.
fn sleeper(image: &str) -> ContainerSpec {
    ContainerSpec {
        image: image.to_string(),
        name: None,
        env: Vec::new(),
        cmd: Some(vec!["sleep".to_string(), "300".to_string()]),
        entrypoint: None,
        working_dir: None,
        exposed_ports: Vec::new(),
        publish_all: false,
        port_bindings: Vec::new(),
        labels: Vec::new(),
        memory_bytes: None,
        cpus: None,
        pids_limit: None,
        restart: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Params and outputs.

struct Params(Vec<KeyValue>);

impl Params {
    /// The value of a param; an empty value counts as not given.
    fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|kv| kv.key == name)
            .map(|kv| kv.value.as_str())
            .filter(|v| !v.is_empty())
    }

    fn required(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .ok_or_else(|| format!("missing required param `{name}`"))
    }

    /// A number param; `default` when not given (the host normally fills in the default).
    fn number<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| format!("param `{name}`: not a valid number: `{v}`")),
        }
    }
}

fn kv(key: &str, value: impl ToString) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: value.to_string(),
    }
}
