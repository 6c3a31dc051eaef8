//! Named engines: a second dockerd on this machine, reached over TLS with client
//! certificates the test makes with openssl; listing engines, running on one by
//! name, wrong CAs and missing or foreign client certificates, and a team's
//! `engines` rule.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::common::*;
use crate::daemons::{Listen, TestDaemon};

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

/// Add `[engines.<name>]` to the team's config.
pub fn add_engine(team: &Team, name: &str, table: &str) {
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
    let daemon = TestDaemon::start(
        Listen::Tls {
            ca: ca.pem(),
            cert: server.0.clone(),
            key: server.1.clone(),
        },
        &[],
    );

    let team = Team::with_policy(
        "engines",
        &format!("{PERMISSIVE}\n[teams.{{team}}-local]\nengines = [\"default\"]\n"),
    );
    let host = daemon.host.clone();
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

/// Two plain daemons besides the default engine, each with the test images, named
/// `a` and `b` in the team's config.
fn two_more_engines(team: &Team) -> (TestDaemon, TestDaemon) {
    images();
    let a = TestDaemon::start(Listen::Unix, &[]);
    let b = TestDaemon::start(Listen::Unix, &[]);
    for (name, daemon) in [("a", &a), ("b", &b)] {
        daemon.load_images(&["dockwright/base:latest", "dockwright/web:latest"]);
        add_engine(team, name, &format!("host = \"{}\"\n", daemon.host));
    }
    (a, b)
}

/// The runs of a fan-out's JSON, by engine.
fn by_engine(doc: &serde_json::Value) -> std::collections::BTreeMap<String, serde_json::Value> {
    doc["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["engine"].as_str().unwrap().to_string(), r.clone()))
        .collect()
}

#[test]
fn a_workflow_fans_out_over_three_engines_with_quotas_per_engine() {
    // One container per engine: quotas are counted on each engine apart.
    let team = Team::with_policy(
        "fanout",
        "images = [\"dockwright/*\"]\nmax_containers = 1\nmax_running = 1\n",
    );
    let (a, b) = two_more_engines(&team);
    let dir = probe_dir();

    let create = |name: &str| {
        team.dockwright(
            dir,
            &[
                "run",
                "create",
                "--engine",
                "all",
                "--json",
                "-p",
                "image=dockwright/base:latest",
                "-p",
                &format!("name={name}"),
                "-p",
                "cmd=sleep 600",
            ],
        )
    };
    let name = unique("fan");
    let first = create(&name);
    first.assert_ok();
    let doc = first.json();
    let runs = by_engine(&doc);
    assert_eq!(
        runs.keys().map(String::as_str).collect::<Vec<_>>(),
        ["a", "b", "default"],
        "{doc}"
    );
    let ids: std::collections::BTreeSet<&str> =
        runs.values().map(|r| r["run"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 3, "each run has its own id: {doc}");
    for engine in ["default", "a", "b"] {
        assert_eq!(doc["engines"][engine]["ok"], 1, "{doc}");
        assert_eq!(runs[engine]["status"], "ok", "{doc}");
    }
    assert!(
        first.stderr.contains("engine b: 1 ok, 0 failed"),
        "{}",
        first.stderr
    );
    // Each container is on its own engine, labelled with it.
    let label = |daemon: &TestDaemon| {
        daemon.docker(&[
            "inspect",
            "-f",
            "{{index .Config.Labels \"dockwright.engine\"}}",
            &name,
        ])
    };
    assert_eq!(label(&a), "a");
    assert_eq!(label(&b), "b");
    let on_default = inspect("container", &name);
    assert_eq!(
        on_default["Config"]["Labels"]["dockwright.engine"],
        "default"
    );

    // A second container is over the quota on every engine, each counted apart.
    let second = create(&unique("fan"));
    assert_eq!(second.code, 1, "{}", second.stderr);
    let doc = second.json();
    for (engine, run) in by_engine(&doc) {
        let error = run["error"].as_str().unwrap();
        assert!(error.contains("max_containers"), "{engine}: {error}");
    }

    // Fan-out combines with --each: every value on every engine.
    let each = team.dockwright(
        dir,
        &[
            "run",
            "log",
            "--engine",
            "default,b",
            "--each",
            "message=x,y",
            "--json",
        ],
    );
    each.assert_ok();
    let doc = each.json();
    assert_eq!(doc["runs"].as_array().unwrap().len(), 4, "{doc}");
    assert_eq!(doc["engines"]["b"]["ok"], 2, "{doc}");
    let table = team.dockwright(
        dir,
        &[
            "run",
            "log",
            "--engine",
            "default,b",
            "--each",
            "message=x,y",
        ],
    );
    table.assert_ok();
    assert!(table.stdout.contains("@b message=y"), "{}", table.stdout);
    let journal_engines: Vec<String> = team
        .journal()
        .into_iter()
        .filter(|e| e["event"] == "run-start")
        .map(|e| e["engine"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(journal_engines.iter().filter(|e| *e == "b").count(), 6);
    let listed = team.dockwright(dir, &["runs", "--limit", "100"]);
    listed.assert_ok();
    // The column is found by its heading: the table's columns are the command's to add to.
    let mut lines = listed.stdout.lines();
    let column = lines
        .next()
        .and_then(|head| head.split_whitespace().position(|c| c == "ENGINE"))
        .expect("an ENGINE column");
    let on_b = lines
        .filter(|l| l.split_whitespace().nth(column) == Some("b"))
        .count();
    assert_eq!(on_b, 6, "{}", listed.stdout);
}

#[test]
fn one_engine_stopped_mid_way_fails_only_its_runs() {
    let team = Team::new("midway");
    let (a, mut b) = two_more_engines(&team);
    let dir = probe_dir();
    // A running container of the same name on each engine, for the runs to wait on.
    let name = unique("mid");
    let setup = team.dockwright(
        dir,
        &[
            "run",
            "create",
            "--engine",
            "all",
            "-p",
            "image=dockwright/base:latest",
            "-p",
            &format!("name={name}"),
            "-p",
            "cmd=sleep 600",
        ],
    );
    setup.assert_ok();
    team.dockwright(
        dir,
        &[
            "run",
            "start",
            "--engine",
            "all",
            "-p",
            &format!("container={name}"),
        ],
    )
    .assert_ok();

    let waiting = team
        .command(
            dir,
            &[
                "run",
                "wait",
                "--engine",
                "all",
                "--json",
                "-p",
                &format!("container={name}"),
            ],
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once all three runs have started, engine b goes away under them.
    let started = || {
        team.journal()
            .iter()
            .filter(|e| e["event"] == "run-start" && e["workflow"] == "wait")
            .count()
    };
    let mut child = waiting;
    let log = team.journal_file();
    wait_for_helper("the fan-out", &mut child, &log, || started() == 3);
    b.kill();
    // The others go on: their containers end, and their waits with them.
    a.docker(&["kill", &name]);
    docker(&["kill", &name]);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let runs = by_engine(&doc);
    assert_eq!(runs["default"]["status"], "ok", "{doc}");
    assert_eq!(runs["a"]["status"], "ok", "{doc}");
    assert_eq!(runs["a"]["outputs"]["exit-code"], "137", "{doc}");
    assert_eq!(runs["b"]["status"], "failed", "{doc}");
    let error = runs["b"]["error"].as_str().unwrap();
    assert!(error.contains("engine-unavailable"), "{error}");
    assert!(stderr.contains("engine b: 0 ok, 1 failed"), "{stderr}");

    // Down from the start: its runs fail with its name and why; the others run.
    let engines = team.dockwright(dir, &["run", "engine", "--engine", "all", "--json"]);
    assert_eq!(engines.code, 1, "{}", engines.stderr);
    let doc = engines.json();
    let runs = by_engine(&doc);
    assert_eq!(runs["a"]["status"], "ok", "{doc}");
    assert_eq!(runs["default"]["status"], "ok", "{doc}");
    let error = runs["b"]["error"].as_str().unwrap();
    assert!(
        error.contains("engine `b`") && error.contains("cannot reach"),
        "{error}"
    );
}
