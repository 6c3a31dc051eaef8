//! Extra Docker engines for tests, on this machine: each dockerd with its own
//! socket (or TLS port), data root, exec root, pid file, containerd namespace and
//! bridge, and no iptables rules (they share the machine with the main engine), as
//! moby's own integration tests run daemons. Each is stopped by its pid, and what
//! it made on the machine (its bridges) removed, when it drops.
//!
//! The bridge is made here: `--bridge none` would be simpler, but dockerd then
//! deletes `docker0`, the main engine's bridge.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;

/// How a daemon listens.
pub enum Listen {
    /// A unix socket in its own folder.
    Unix,
    /// A loopback TCP port with `--tlsverify`: the CA, the server's cert and key.
    Tls {
        ca: PathBuf,
        cert: PathBuf,
        key: PathBuf,
    },
}

pub struct TestDaemon {
    /// Its address, as DOCKER_HOST takes it.
    pub host: String,
    bridge: String,
    child: Child,
    dir: tempfile::TempDir,
    /// Whether it is in swarm mode, and whether `docker_gwbridge` is its doing.
    swarm: bool,
    made_gwbridge: bool,
    stopped: bool,
    /// Killed without its containers being stopped (see [`TestDaemon::kill`]).
    killed: bool,
    /// The bridges of a killed daemon, named before it was killed.
    left_bridges: Vec<String>,
}

pub fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("cannot run ip: apt-get install iproute2")
        .success()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl TestDaemon {
    /// Start a daemon and wait until it answers. `env` is its environment's extras
    /// (such as `DOCKER_SERVICE_PREFER_OFFLINE_IMAGE=1` for a swarm without a
    /// registry).
    pub fn start(listen: Listen, env: &[(&str, &str)]) -> TestDaemon {
        static N: AtomicU32 = AtomicU32::new(0);
        engine();
        let n = N.fetch_add(1, Ordering::SeqCst);
        let dir = tempfile::Builder::new()
            .prefix("dockerd-")
            .tempdir_in("/tmp")
            .unwrap();
        let path = |p: &str| dir.path().join(p).display().to_string();
        // Unique on this machine for this test process: its pid and a counter.
        let tag = format!("{}{n}", std::process::id() % 100_000);
        let namespace = format!("dockwright-test-{tag}");
        let bridge = format!("dwt{tag}");
        assert!(
            ip(&["link", "add", "name", &bridge, "type", "bridge"]),
            "cannot add bridge {bridge}"
        );
        let subnet = format!("10.{}.{}.1/24", 200 + (std::process::id() % 50), n % 250);
        assert!(ip(&["addr", "add", &subnet, "dev", &bridge]));
        assert!(ip(&["link", "set", &bridge, "up"]));
        // Networks the daemon makes (a team's, the swarm's docker_gwbridge) are
        // bridges on this machine too: from the engine's default pools, they would
        // take address space the main engine needs for the other tests' teams.
        let pool = format!(
            "base=10.{}.0.0/16,size=24",
            100 + (std::process::id() * 7 + n) % 100
        );
        let mut args: Vec<String> = [
            "--default-address-pool",
            &pool,
            "--data-root",
            &path("data"),
            "--exec-root",
            &path("exec"),
            "--pidfile",
            &path("docker.pid"),
            "--bridge",
            &bridge,
            "--iptables=false",
            "--ip-masq=false",
            "--containerd-namespace",
            &namespace,
            "--containerd-plugins-namespace",
            &format!("{namespace}-plugins"),
            "--log-level",
            "error",
        ]
        .map(String::from)
        .to_vec();
        let (host, probe): (String, Box<dyn Fn() -> bool>) = match &listen {
            Listen::Unix => {
                let socket = dir.path().join("docker.sock");
                args.extend(["-H".to_string(), format!("unix://{}", socket.display())]);
                let host = format!("unix://{}", socket.display());
                let check = host.clone();
                (
                    host,
                    Box::new(move || {
                        Command::new("docker")
                            .args(["-H", &check, "version"])
                            .stdout(Stdio::null())
                            .stderr(Stdio::null())
                            .status()
                            .is_ok_and(|s| s.success())
                    }),
                )
            }
            Listen::Tls { ca, cert, key } => {
                let port = free_port();
                for arg in [
                    "-H",
                    &format!("tcp://127.0.0.1:{port}"),
                    "--tlsverify",
                    "--tlscacert",
                    ca.to_str().unwrap(),
                    "--tlscert",
                    cert.to_str().unwrap(),
                    "--tlskey",
                    key.to_str().unwrap(),
                ] {
                    args.push(arg.to_string());
                }
                (
                    format!("tcp://127.0.0.1:{port}"),
                    Box::new(move || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()),
                )
            }
        };
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let child = spawn(&args, &env, dir.path());
        let mut daemon = TestDaemon {
            host,
            bridge,
            child,
            dir,
            swarm: false,
            made_gwbridge: false,
            stopped: false,
            killed: false,
            left_bridges: Vec::new(),
        };
        daemon.wait_until_up(probe);
        daemon
    }

    fn wait_until_up(&mut self, probe: impl Fn() -> bool) {
        let log = self.dir.path().join("dockerd.log");
        wait_for_helper("the test dockerd", &mut self.child, &log, probe);
    }

    /// Kill it outright, as a crash or a lost machine would: connections drop with
    /// calls in flight, and its containers are left as they were. When it drops,
    /// what it left running is killed and removed too.
    pub fn kill(&mut self) {
        self.left_bridges = self.bridges();
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.killed = true;
        self.stopped = true;
    }

    /// The docker CLI against this daemon (unix daemons only); its stdout. Fails
    /// the test when the command fails.
    pub fn docker(&self, args: &[&str]) -> String {
        let out = Command::new("docker")
            .args(["-H", &self.host])
            .args(args)
            .output()
            .expect("cannot run docker");
        assert!(
            out.status.success(),
            "docker -H {} {args:?}: {}",
            self.host,
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Copy images from the main engine: `docker save | docker load`, as there is
    /// no registry to pull them from.
    pub fn load_images(&self, images: &[&str]) {
        let script = format!(
            "docker save {} | docker -H {} load",
            images.join(" "),
            self.host
        );
        let out = Command::new("sh").args(["-c", &script]).output().unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Make it a single-node swarm, advertising loopback on a port of its own.
    pub fn swarm_init(&mut self) {
        self.made_gwbridge = !Path::new("/sys/class/net/docker_gwbridge").exists();
        let listen = format!("127.0.0.1:{}", free_port());
        self.docker(&[
            "swarm",
            "init",
            "--advertise-addr",
            "127.0.0.1",
            "--listen-addr",
            &listen,
        ]);
        self.swarm = true;
    }

    /// Stop it (SIGTERM, then SIGKILL if it does not stop) and wait for it.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while self.child.try_wait().ok().flatten().is_none() {
            if started.elapsed() > Duration::from_secs(60) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl TestDaemon {
    /// The bridges of its user-defined networks: dockerd leaves them on this
    /// machine when it stops. Asked while it answers.
    fn bridges(&self) -> Vec<String> {
        Command::new("docker")
            .args(["-H", &self.host, "network", "ls", "-q", "--no-trunc"])
            .args(["--filter", "driver=bridge"])
            .output()
            .map(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .map(|id| format!("br-{}", &id[..id.len().min(12)]))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// What a killed daemon leaves: its containerd, its shims and their
    /// containers' processes, and their cgroups. Not by starting it again: a
    /// dockerd that restarts after a crash deletes `docker0`, the main engine's
    /// bridge. Never panics: it runs in `drop`.
    fn clean_up_after_kill(&mut self) {
        kill_matching(&self.dir.path().join("exec").display().to_string());
        let containers = self.dir.path().join("data/containers");
        let ids: Vec<String> = std::fs::read_dir(&containers)
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                    .collect()
            })
            .unwrap_or_default();
        let controllers = std::fs::read_dir("/sys/fs/cgroup")
            .map(|d| d.filter_map(|e| Some(e.ok()?.path())).collect::<Vec<_>>())
            .unwrap_or_default();
        for id in &ids {
            for controller in &controllers {
                let _ = std::fs::remove_dir(controller.join("docker").join(id));
            }
        }
    }
}

/// Kill (SIGKILL) the processes whose command line holds `pattern`, and their
/// children (a shim's container).
fn kill_matching(pattern: &str) {
    let _ = Command::new("sh")
        .args([
            "-c",
            &format!("for p in $(pgrep -f '{pattern}'); do pkill -KILL -P $p; kill -KILL $p; done"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

fn spawn(args: &[String], env: &[(String, String)], dir: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("dockerd.log"))
        .unwrap();
    Command::new("dockerd")
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("cannot start dockerd")
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if self.killed {
            self.clean_up_after_kill();
        }
        if self.swarm && !self.stopped {
            // Leave as found: out of swarm mode before it stops.
            let _ = Command::new("docker")
                .args(["-H", &self.host, "swarm", "leave", "--force"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let mut bridges = std::mem::take(&mut self.left_bridges);
        if !self.stopped {
            bridges.extend(self.bridges());
        }
        self.stop();
        for bridge in &bridges {
            ip(&["link", "del", bridge]);
        }
        // A daemon killed and started again mounts its data root twice and unmounts
        // it once: whatever is still mounted under its folder goes.
        let _ = Command::new("sh")
            .args([
                "-c",
                &format!(
                    "grep -o ' {}[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l",
                    self.dir.path().display()
                ),
            ])
            .status();
        ip(&["link", "del", &self.bridge]);
        // `swarm leave` leaves the daemon's docker_gwbridge behind.
        if self.made_gwbridge {
            ip(&["link", "del", "docker_gwbridge"]);
        }
    }
}
