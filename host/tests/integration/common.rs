//! Test harness: a real Docker engine (started here when none answers, and stopped
//! at exit only if we started it), the plugins built for wasm32-wasip2, the example
//! images built once, and a `Team` per test whose drop removes everything labelled
//! with it, also when the test fails.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

/// Where a dockerd started by the tests listens on TCP, besides the unix socket.
pub const TCP_ENDPOINT: &str = "tcp://127.0.0.1:2375";

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn quiet(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Run a command and return its stdout, panicking with its stderr on failure.
pub fn sh(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn docker(args: &[&str]) -> String {
    engine();
    sh("docker", args)
}

fn engine_answers() -> bool {
    quiet(Command::new("docker").args(["version", "--format", "{{.Server.Version}}"]))
}

static STARTED_DOCKERD: AtomicI32 = AtomicI32::new(0);

extern "C" fn stop_started_engine() {
    let pid = STARTED_DOCKERD.swap(0, Ordering::SeqCst);
    if pid <= 0 {
        return;
    }
    // SAFETY: signalling and reaping our own child process by pid.
    unsafe {
        libc::kill(pid, libc::SIGTERM);
        for _ in 0..200 {
            if libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) == pid {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        libc::kill(pid, libc::SIGKILL);
        libc::waitpid(pid, std::ptr::null_mut(), 0);
    }
}

/// Make sure an engine answers; start one (socket + loopback TCP) if none does.
pub fn engine() {
    static READY: OnceLock<()> = OnceLock::new();
    READY.get_or_init(|| {
        if engine_answers() {
            return;
        }
        let pidfile = Path::new("/var/run/docker.pid");
        if let Ok(old) = std::fs::read_to_string(pidfile) {
            let alive = old
                .trim()
                .parse::<i32>()
                .is_ok_and(|pid| unsafe { libc::kill(pid, 0) } == 0);
            if !alive {
                let _ = std::fs::remove_file(pidfile);
            }
        }
        let log = std::fs::File::create(Path::new(env!("CARGO_TARGET_TMPDIR")).join("dockerd.log"))
            .expect("dockerd log file");
        // Reaped by `stop_started_engine` at exit, by pid.
        #[allow(clippy::zombie_processes)]
        let child = Command::new("dockerd")
            .args(["-H", "unix:///var/run/docker.sock", "-H", TCP_ENDPOINT])
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("no Docker engine answers and dockerd cannot be started: install docker.io");
        STARTED_DOCKERD.store(child.id() as i32, Ordering::SeqCst);
        // SAFETY: registering a plain extern "C" function.
        unsafe { libc::atexit(stop_started_engine) };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !engine_answers() {
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer within 60s"
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    });
}

/// Build the example images (dockwright/base, dockwright/web) once per test run.
pub fn images() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        engine();
        let script = workspace().join("examples/build-images.sh");
        sh("bash", &[script.to_str().unwrap()]);
    });
}

/// Build the plugins once per test run; returns the folder of the built `.wasm`s.
fn built_plugins() -> &'static (PathBuf, PathBuf) {
    static BUILT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = workspace();
        let build = |manifest: &Path, target: &Path| {
            let status = Command::new(env!("CARGO"))
                .args([
                    "build",
                    "--release",
                    "--target",
                    "wasm32-wasip2",
                    "--manifest-path",
                ])
                .arg(manifest)
                .env("CARGO_TARGET_DIR", target)
                .stdin(Stdio::null())
                .status()
                .expect("cannot run cargo");
            assert!(status.success(), "building {} failed", manifest.display());
            target.join("wasm32-wasip2/release")
        };
        let examples = build(
            &root.join("plugins/Cargo.toml"),
            &root.join("plugins/target"),
        );
        let tests = build(
            &root.join("host/tests/plugins/Cargo.toml"),
            &root.join("host/tests/plugins/target"),
        );
        (examples, tests)
    })
}

/// The built example plugin of this file name (such as `team_env.wasm`).
pub fn example_plugin(file: &str) -> PathBuf {
    built_plugins().0.join(file)
}

/// The built test plugin of this file name (such as `probe.wasm`).
pub fn test_plugin(file: &str) -> PathBuf {
    built_plugins().1.join(file)
}

pub const EXAMPLES: [&str; 4] = [
    "team_env.wasm",
    "image_tools.wasm",
    "inventory.wasm",
    "figlet.wasm",
];

/// A fresh plugin folder holding copies of these plugin files.
pub fn plugin_dir(files: &[PathBuf]) -> tempfile::TempDir {
    let dir = tempfile::Builder::new()
        .prefix("plugins-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .unwrap();
    for f in files {
        std::fs::copy(f, dir.path().join(f.file_name().unwrap())).unwrap();
    }
    dir
}

/// The plugin folder with only the probe plugin, shared by the import tests.
pub fn probe_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| plugin_dir(&[test_plugin("probe.wasm")]).keep())
}

/// A name no other test (or earlier run on this engine) uses.
pub fn unique(prefix: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{prefix}-{}-{}-{:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst),
        nanos & 0xfff
    )
}

/// A team for one test, with its own config file (a permissive policy unless the
/// test gives one) and its own state folder (journal, run locks). Everything the
/// engine holds with its label is removed when it drops, whether the test passed
/// or not.
pub struct Team {
    pub name: String,
    pub home: PathBuf,
    /// Extra images to remove (by reference) on drop.
    pub images: std::cell::RefCell<Vec<String>>,
}

/// The policy tests get unless they ask for another: anything goes but host escapes.
pub const PERMISSIVE: &str = r#"
images = ["*"]
tags = ["*"]
build_roots = ["/"]
exec_as_root = true
max_containers = 100
max_running = 100
"#;

impl Team {
    pub fn new(prefix: &str) -> Self {
        Self::with_policy(prefix, PERMISSIVE)
    }

    /// A team whose `[teams.<name>]` section is `policy` (TOML keys, one per line).
    /// `{team}` in it is replaced by the team's name and `{home}` by its folder.
    pub fn with_policy(prefix: &str, policy: &str) -> Self {
        engine();
        let name = unique(&format!("t-{prefix}"));
        let home = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("teams")
            .join(&name);
        std::fs::create_dir_all(home.join("state")).unwrap();
        let policy = policy
            .replace("{team}", &name)
            .replace("{home}", home.to_str().unwrap());
        std::fs::write(
            home.join("dockwright.toml"),
            format!("[teams.{name}]\n{policy}\n"),
        )
        .unwrap();
        Team {
            name,
            home,
            images: Default::default(),
        }
    }

    /// The environment that points dockwright at this team's config and state.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "DOCKWRIGHT_CONFIG".into(),
                self.home.join("dockwright.toml").display().to_string(),
            ),
            ("XDG_STATE_HOME".into(), self.home.display().to_string()),
            (
                "XDG_DATA_HOME".into(),
                self.home.join("data").display().to_string(),
            ),
        ]
    }

    /// Run dockwright as this team (`--team` is added for `run`).
    pub fn dockwright(&self, dir: &Path, args: &[&str]) -> Run {
        self.dockwright_with(dir, args, &[])
    }

    /// Run dockwright as this team, with more environment.
    pub fn dockwright_with(&self, dir: &Path, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(dir, args);
        cmd.envs(extra.iter().copied());
        finish(cmd)
    }

    /// The `dockwright` command as this team (`--team` is added for `run`), not yet
    /// started, for tests that signal it or run several at once.
    pub fn command(&self, dir: &Path, args: &[&str]) -> Command {
        let mut args: Vec<&str> = args.to_vec();
        if args.first() == Some(&"run") {
            args.extend(["--team", self.name.as_str()]);
        }
        let env = self.env();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        command(dir, &args, &env)
    }

    /// Every journal entry of this team's runs, as `dockwright runs export` writes them.
    pub fn journal(&self) -> Vec<Value> {
        let out = self.dockwright(&self.home, &["runs", "export"]);
        assert_eq!(out.code, 0, "runs export failed: {}", out.stderr);
        out.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// The team's journal database.
    pub fn journal_file(&self) -> PathBuf {
        self.home.join("dockwright/journal.db")
    }

    /// The journal's call entries for an operation.
    pub fn calls(&self, op: &str) -> Vec<Value> {
        self.journal()
            .into_iter()
            .filter(|e| e["event"] == "call" && e["op"] == op)
            .collect()
    }

    pub fn filter(&self) -> String {
        format!("label=dockwright.team={}", self.name)
    }

    /// Ids of the team's containers, running or not.
    pub fn containers(&self) -> Vec<String> {
        docker(&["ps", "-aq", "--no-trunc", "--filter", &self.filter()])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// The id of the team's network (there must be exactly one).
    pub fn network(&self) -> String {
        let found: Vec<String> = docker(&[
            "network",
            "ls",
            "-q",
            "--no-trunc",
            "--filter",
            &format!("label=dockwright.network={}", self.name),
        ])
        .lines()
        .map(str::to_string)
        .collect();
        assert_eq!(found.len(), 1, "the team's networks: {found:?}");
        found[0].clone()
    }

    /// Remove this image when the test ends.
    pub fn own_image(&self, reference: &str) {
        self.images.borrow_mut().push(reference.to_string());
    }
}

impl Drop for Team {
    fn drop(&mut self) {
        let filter = self.filter();
        let list = |args: &[&str]| -> Vec<String> {
            Command::new("docker")
                .args(args)
                .output()
                .map(|o| {
                    String::from_utf8_lossy(&o.stdout)
                        .lines()
                        .map(str::to_string)
                        .collect()
                })
                .unwrap_or_default()
        };
        let containers = list(&["ps", "-aq", "--filter", &filter]);
        if !containers.is_empty() {
            let mut args = vec!["rm", "-f", "-v"];
            args.extend(containers.iter().map(String::as_str));
            quiet(Command::new("docker").args(&args));
        }
        let mut images = list(&["images", "-q", "--filter", &filter]);
        images.extend(self.images.borrow().iter().cloned());
        for image in images {
            quiet(Command::new("docker").args(["rmi", "-f", &image]));
        }
        // The team's network goes once its containers are gone.
        for network in list(&["network", "ls", "-q", "--filter", &filter]) {
            quiet(Command::new("docker").args(["network", "rm", &network]));
        }
    }
}

/// Build `tag` from `dockerfile` with the engine's legacy builder, outside dockwright,
/// labelled as `team`'s and removed with the team.
pub fn team_image(team: &Team, tag: &str, dockerfile: &str) {
    images();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    let out = Command::new("docker")
        .args(["build", "-q", "-t", tag, "--label"])
        .arg(format!("dockwright.team={}", team.name))
        .arg(dir.path())
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker build {tag} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    team.own_image(tag);
}

/// What one `dockwright` invocation did.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}): {}\nstderr: {}",
                self.stdout, self.stderr
            )
        })
    }

    #[track_caller]
    pub fn assert_ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "stdout: {}\nstderr: {}",
            self.stdout, self.stderr
        );
        self
    }

    /// A failure with a one-line error (after any plugin output), never a panic.
    #[track_caller]
    pub fn assert_clean_failure(&self, needle: &str) -> String {
        assert_ne!(self.code, 0, "expected failure; stdout: {}", self.stdout);
        assert_ne!(self.code, 101, "dockwright panicked: {}", self.stderr);
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        let line = self
            .stderr
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_else(|| panic!("no `error:` line in: {}", self.stderr))
            .to_string();
        assert!(line.contains(needle), "`{needle}` not in: {line}");
        line
    }
}

/// The `dockwright` command with this plugin folder and extra environment, not yet
/// started: nothing of the developer's own config, journal or team leaks into it.
pub fn command(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dockwright"));
    let isolated = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-team");
    cmd.args(args)
        .current_dir(workspace())
        .env("DOCKWRIGHT_PLUGINS", dir)
        .env("XDG_CONFIG_HOME", isolated.join("config"))
        .env("XDG_STATE_HOME", isolated.join("state"))
        .env("XDG_DATA_HOME", isolated.join("data"))
        .env("DOCKER_CONFIG", isolated.join("docker"))
        .env(
            "XDG_CACHE_HOME",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("cache"),
        )
        .env_remove("DOCKWRIGHT_CONFIG")
        .env_remove("DOCKWRIGHT_TEAM")
        .env_remove("DOCKWRIGHT_REGISTRY_USERNAME")
        .env_remove("DOCKWRIGHT_REGISTRY_PASSWORD")
        .env_remove("DOCKWRIGHT_REGISTRY_HOST")
        .stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Run the `dockwright` binary with this plugin folder and extra environment.
pub fn dockwright(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    finish(command(dir, args, env))
}

/// Run a `dockwright` command to its end.
fn finish(mut cmd: Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("cannot run dockwright");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Run a workflow for a team with `--json`; the parsed report and the raw run.
pub fn run_workflow(
    dir: &Path,
    team: &Team,
    workflow: &str,
    params: &[(&str, &str)],
) -> (Value, Run) {
    let mut args = vec!["run", workflow, "--json"];
    let pairs: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for p in &pairs {
        args.push("-p");
        args.push(p);
    }
    let run = team.dockwright(dir, &args);
    assert_ne!(run.code, 101, "dockwright panicked: {}", run.stderr);
    (run.json(), run)
}

/// Run a workflow that must succeed; its outputs.
#[track_caller]
pub fn run_ok(
    dir: &Path,
    team: &Team,
    workflow: &str,
    params: &[(&str, &str)],
) -> Map<String, Value> {
    images();
    let (report, run) = run_workflow(dir, team, workflow, params);
    assert_eq!(report["status"], "ok", "{report}\nstderr: {}", run.stderr);
    report["outputs"].as_object().unwrap().clone()
}

/// Call one probe workflow: its outputs, or the error text the plugin returned
/// (`<case>: <message>` for Docker errors).
pub fn probe(
    team: &Team,
    workflow: &str,
    params: &[(&str, &str)],
) -> Result<Map<String, Value>, String> {
    images();
    let (report, run) = run_workflow(probe_dir(), team, workflow, params);
    match report["status"].as_str() {
        Some("ok") => Ok(report["outputs"].as_object().cloned().unwrap_or_default()),
        Some("failed") => {
            let error = report["error"].as_str().unwrap_or_default();
            let prefix = format!("workflow `{workflow}` failed: ");
            Err(error.strip_prefix(&prefix).unwrap_or(error).to_string())
        }
        _ => panic!("unexpected report: {report}\nstderr: {}", run.stderr),
    }
}

/// Call a probe workflow that must succeed; its outputs as strings.
#[track_caller]
pub fn probe_ok(team: &Team, workflow: &str, params: &[(&str, &str)]) -> Map<String, Value> {
    probe(team, workflow, params).unwrap_or_else(|e| panic!("probe {workflow} failed: {e}"))
}

pub fn out<'a>(outputs: &'a Map<String, Value>, key: &str) -> &'a str {
    outputs
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no output `{key}` in {outputs:?}"))
}

/// GET a path over plain HTTP; the status line and body.
pub fn http_get(host: &str, port: u16, path: &str) -> std::io::Result<String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect((host, port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {host}\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    Ok(response)
}

/// `docker inspect` of one object, parsed.
pub fn inspect(kind: &str, id: &str) -> Value {
    let text = docker(&[kind, "inspect", id]);
    let mut all: Value = serde_json::from_str(&text).unwrap();
    all[0].take()
}

/// Wait until `ready`, while the helper process `child` (a registry, a test dockerd)
/// starts; if it exits first, fail with its log. Not a timing assertion: the cap only
/// turns a helper that never comes up into a failure instead of a hang.
pub fn wait_for_helper(
    what: &str,
    child: &mut std::process::Child,
    log: &Path,
    mut ready: impl FnMut() -> bool,
) {
    let started = std::time::Instant::now();
    while !ready() {
        if let Some(status) = child.try_wait().unwrap() {
            panic!(
                "{what} exited ({status}): {:?}",
                std::fs::read_to_string(log)
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "{what} did not come up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}
