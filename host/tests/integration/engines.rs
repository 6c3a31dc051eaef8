//! Named engines: a second dockerd on this machine, reached over TLS with client
//! certificates the test makes with openssl; listing engines, running on one by
//! name, wrong CAs and missing or foreign client certificates, and a team's
//! `engines` rule.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// `openssl` in `dir`; fails the test when it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("cannot run openssl: apt-get install openssl");
    assert!(status.success(), "openssl {args:?}");
}

/// A CA in `dir` (`<name>.pem`, `<name>.key`), and certificates it signs.
struct Ca {
    dir: PathBuf,
    name: String,
}

impl Ca {
    fn new(dir: &Path, name: &str) -> Ca {
        let subject = format!("/CN=dockwright test {name}");
        let (pem, key) = (format!("{name}.pem"), format!("{name}.key"));
        openssl(
            dir,
            &[
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &pem,
                "-days", "2", "-subj", &subject,
            ],
        );
        Ca {
            dir: dir.to_path_buf(),
            name: name.to_string(),
        }
    }

    fn pem(&self) -> PathBuf {
        self.dir.join(format!("{}.pem", self.name))
    }

    /// A certificate for `usage` (`serverAuth` for 127.0.0.1, or `clientAuth`);
    /// its (cert, key) files.
    fn sign(&self, file: &str, usage: &str) -> (PathBuf, PathBuf) {
        let (cert, key, csr, ext) = (
            format!("{file}.pem"),
            format!("{file}.key"),
            format!("{file}.csr"),
            format!("{file}.ext"),
        );
        openssl(
            &self.dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                &key,
                "-out",
                &csr,
                "-subj",
                "/CN=dockwright",
            ],
        );
        let mut extensions = format!("basicConstraints=CA:FALSE\nextendedKeyUsage={usage}\n");
        if usage == "serverAuth" {
            extensions.push_str("subjectAltName=IP:127.0.0.1\n");
        }
        std::fs::write(self.dir.join(&ext), extensions).unwrap();
        let (ca_pem, ca_key) = (format!("{}.pem", self.name), format!("{}.key", self.name));
        openssl(
            &self.dir,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                &ca_pem,
                "-CAkey",
                &ca_key,
                "-CAcreateserial",
                "-out",
                &cert,
                "-days",
                "2",
                "-extfile",
                &ext,
            ],
        );
        (self.dir.join(cert), self.dir.join(key))
    }
}

/// A dockerd of the test's own, with its own data root, exec root, pid file,
/// containerd namespace and bridge, and no iptables rules (it shares the machine
/// with the main engine), listening on a loopback port with `--tlsverify`. Stopped
/// by its pid, and its bridge removed, when dropped.
///
/// Its bridge is made here: `--bridge none` would be simpler, but dockerd then
/// deletes `docker0`, the main engine's bridge.
struct TlsDaemon {
    port: u16,
    bridge: String,
    child: Child,
    dir: tempfile::TempDir,
}

fn ip(args: &[&str]) -> bool {
    Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("cannot run ip: apt-get install iproute2")
        .success()
}

impl TlsDaemon {
    fn start(ca: &Ca, server: &(PathBuf, PathBuf)) -> TlsDaemon {
        engine();
        let dir = tempfile::Builder::new()
            .prefix("dockerd-")
            .tempdir_in("/tmp")
            .unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let path = |p: &str| dir.path().join(p).display().to_string();
        let namespace = format!("dockwright-test-{port}");
        let bridge = format!("dwtest{port}");
        assert!(
            ip(&["link", "add", "name", &bridge, "type", "bridge"]),
            "cannot add bridge {bridge}"
        );
        let subnet = format!("10.213.{}.1/24", port % 250);
        assert!(ip(&["addr", "add", &subnet, "dev", &bridge]));
        assert!(ip(&["link", "set", &bridge, "up"]));
        let child = Command::new("dockerd")
            .args(["--data-root", &path("data"), "--exec-root", &path("exec")])
            .args(["--pidfile", &path("docker.pid")])
            .args(["-H", &format!("tcp://127.0.0.1:{port}")])
            .args(["--tlsverify", "--tlscacert", ca.pem().to_str().unwrap()])
            .args(["--tlscert", server.0.to_str().unwrap()])
            .args(["--tlskey", server.1.to_str().unwrap()])
            .args(["--bridge", &bridge, "--iptables=false", "--ip-masq=false"])
            .args(["--containerd-namespace", &namespace])
            .args([
                "--containerd-plugins-namespace",
                &format!("{namespace}-plugins"),
            ])
            .args(["--log-level", "error"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("dockerd.log")).unwrap())
            .spawn()
            .expect("cannot start dockerd");
        let mut daemon = TlsDaemon {
            port,
            bridge,
            child,
            dir,
        };
        let log = daemon.dir.path().join("dockerd.log");
        wait_for_helper("the test dockerd", &mut daemon.child, &log, || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        daemon
    }

    fn host(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }
}

impl Drop for TlsDaemon {
    fn drop(&mut self) {
        // SIGTERM lets dockerd stop its containerd; it is given time, then killed.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let started = Instant::now();
        while self.child.try_wait().ok().flatten().is_none() {
            if started.elapsed() > Duration::from_secs(30) {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        ip(&["link", "del", &self.bridge]);
    }
}

/// Add `[engines.<name>]` to the team's config.
fn add_engine(team: &Team, name: &str, table: &str) {
    let path = team.home.join("dockwright.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("[engines.{name}]\n{table}\n{text}")).unwrap();
}

fn tls_table(host: &str, ca: &Path, cert: &Path, key: &Path) -> String {
    format!(
        "host = \"{host}\"\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\n",
        ca.display(),
        cert.display(),
        key.display()
    )
}

#[test]
fn named_engines_over_tls_are_listed_checked_and_run_on() {
    images();
    let certs = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let ca = Ca::new(certs.path(), "ca");
    let server = ca.sign("server", "serverAuth");
    let client = ca.sign("client", "clientAuth");
    let stranger = Ca::new(certs.path(), "stranger");
    let foreign = stranger.sign("foreign", "clientAuth");
    let daemon = TlsDaemon::start(&ca, &server);

    let team = Team::with_policy(
        "engines",
        &format!("{PERMISSIVE}\n[teams.{{team}}-local]\nengines = [\"default\"]\n"),
    );
    let host = daemon.host();
    add_engine(
        &team,
        "tls",
        &tls_table(&host, &ca.pem(), &client.0, &client.1),
    );
    add_engine(
        &team,
        "wrong-ca",
        &tls_table(&host, &stranger.pem(), &client.0, &client.1),
    );
    add_engine(
        &team,
        "foreign-cert",
        &tls_table(&host, &ca.pem(), &foreign.0, &foreign.1),
    );
    let missing = certs.path().join("nobody.pem");
    add_engine(
        &team,
        "no-cert",
        &tls_table(&host, &ca.pem(), &missing, &client.1),
    );
    let dir = probe_dir();

    // Listed, each with whether it answers and why not.
    let listed = team.dockwright(dir, &["engines", "--json"]);
    assert_eq!(
        listed.code, 1,
        "some engines do not answer: {}\n{}",
        listed.stdout, listed.stderr
    );
    let doc = listed.json();
    let engine = |name: &str| {
        doc["engines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {doc}"))
            .clone()
    };
    assert_eq!(engine("default")["reachable"], true);
    let tls = engine("tls");
    assert_eq!(tls["reachable"], true, "{tls}");
    assert_eq!(tls["api_version"], "1.41");
    assert_eq!(tls["swarm"], "none");
    for (name, needle) in [
        ("wrong-ca", "not signed by the ca given for it"),
        // The engine's alert may arrive or only its close: both name the certificate.
        ("foreign-cert", "client"),
        ("no-cert", "nobody.pem"),
    ] {
        let e = engine(name);
        assert_eq!(e["reachable"], false, "{e}");
        let error = e["error"].as_str().unwrap().to_lowercase();
        assert!(
            error.contains(needle) && error.contains(name),
            "{name}: {error}"
        );
    }

    // A run on the TLS engine reaches that engine: it has none of the default's images.
    let on_tls = run_ok(dir, &team, "engine", &[]);
    assert_ne!(
        out(&on_tls, "images"),
        "0",
        "the default engine has the test images"
    );
    let run = team.dockwright(dir, &["run", "engine", "--engine", "tls", "--json"]);
    run.assert_ok();
    assert_eq!(run.json()["outputs"]["images"], "0");
    let starts: Vec<_> = team
        .journal()
        .into_iter()
        .filter(|e| e["event"] == "run-start")
        .map(|e| e["engine"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(starts, ["default", "tls"]);

    // An engine that does not answer fails the run with its name and the reason.
    let run = team.dockwright(dir, &["run", "engine", "--engine", "wrong-ca"]);
    let line = run.assert_clean_failure("engine `wrong-ca`");
    assert!(line.to_lowercase().contains("certificate"), "{line}");
    team.dockwright(dir, &["run", "engine", "--engine", "tsl"])
        .assert_clean_failure("Did you mean `tls`");

    // A team limited to the default engine cannot run on another.
    let local = format!("{}-local", team.name);
    let env = team.env();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = dockwright(
        dir,
        &["run", "engine", "--engine", "tls", "--team", &local],
        &env,
    );
    let line = run.assert_clean_failure("engine `tls` is not allowed");
    assert!(line.contains("policy rule `engines`"), "{line}");
}
