//! Sharing plugins through a real OCI registry (Debian's `docker-registry`,
//! distribution 2.8) started on a free loopback port: push and add by tag and by
//! digest, a registry that lies about bytes, signatures under `require_signed`,
//! updates that add permissions, calls outside the manifest, credentials, and
//! `pull-image` through a plugin.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use crate::common::*;

/// A registry for one test, with its own storage; stopped (by its pid) on drop.
struct Registry {
    ip: String,
    port: u16,
    child: Child,
    root: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        Self::start_with(None)
    }

    /// With htpasswd auth when `login` is given.
    fn start_with(login: Option<(&str, &str)>) -> Registry {
        Self::start_on("127.0.0.1", login, None)
    }

    /// On `ip`, with auth when `login` is given and TLS when `tls` (certificate and
    /// key files) is.
    fn start_on(ip: &str, login: Option<(&str, &str)>, tls: Option<(&Path, &Path)>) -> Registry {
        let root = tempfile::Builder::new()
            .prefix("registry-")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap();
        let port = std::net::TcpListener::bind((ip, 0))
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let storage = root.path().join("storage");
        let mut config = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {ip}:{port}\n",
            storage.display()
        );
        if let Some((cert, key)) = tls {
            config.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                cert.display(),
                key.display()
            ));
        }
        if let Some((user, password)) = login {
            let hash = bcrypt::hash(password, 4).unwrap();
            let htpasswd = root.path().join("htpasswd");
            std::fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: dockwright-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        let config_path = root.path().join("config.yml");
        std::fs::write(&config_path, config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(root.path().join("registry.log")).unwrap())
            .spawn()
            .expect("cannot start docker-registry: install Debian's docker-registry package");
        let mut registry = Registry {
            ip: ip.to_string(),
            port,
            child,
            root,
        };
        let (ip, log) = (
            registry.ip.clone(),
            registry.root.path().join("registry.log"),
        );
        let up = || {
            if tls.is_some() {
                return std::net::TcpStream::connect((ip.as_str(), port)).is_ok();
            }
            // `/v2/` answers 200, or 401 with auth.
            http(port, "/v2/", "*/*").is_ok_and(|answer| {
                answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.1 401")
            })
        };
        wait_for_helper("docker-registry", &mut registry.child, &log, up);
        registry
    }

    fn host(&self) -> String {
        format!("{}:{}", self.ip, self.port)
    }

    /// `127.0.0.1:<port>/<repo>`.
    fn repo(&self, repo: &str) -> String {
        format!("{}/{repo}", self.host())
    }

    /// The file that holds a blob in the registry's storage.
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.root.path().join(format!(
            "storage/docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ))
    }

    /// The manifest a reference names, as the registry serves it.
    fn manifest(&self, repo: &str, reference: &str) -> Value {
        let answer = http(
            self.port,
            &format!("/v2/{repo}/manifests/{reference}"),
            "application/vnd.oci.image.manifest.v1+json",
        )
        .unwrap();
        let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"))
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET over plain HTTP with an Accept header; the whole answer.
fn http(port: u16, path: &str, accept: &str) -> std::io::Result<String> {
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

fn sha256_file(path: &Path) -> String {
    dockwright::sha256_hex(&std::fs::read(path).unwrap())
}

fn empty_dir() -> tempfile::TempDir {
    plugin_dir(&[])
}

/// The entry of the team's lock for `name`.
fn lock_entry(team: &Team, name: &str) -> toml::Value {
    let text = std::fs::read_to_string(team.home.join("dockwright.lock")).unwrap();
    let lock: toml::Value = toml::from_str(&text).unwrap();
    lock["plugin"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {name} in {text}"))
        .clone()
}

/// Push a plugin file; returns the manifest digest it printed.
fn push(team: &Team, file: &Path, target: &str, extra: &[&str]) -> String {
    let dir = empty_dir();
    let mut args = vec!["plugins", "push", file.to_str().unwrap(), target];
    args.extend(extra);
    let run = team.dockwright(dir.path(), &args);
    run.assert_ok();
    let digest = run.stdout.trim().to_string();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{}",
        run.stdout
    );
    digest
}

fn add(team: &Team, dir: &Path, source: &str) -> Run {
    team.dockwright(dir, &["plugins", "add", source, "--team", &team.name])
}

#[test]
fn push_then_add_by_tag_and_by_digest() {
    let registry = Registry::start();
    let team = Team::new("share");
    let file = example_plugin("inventory.wasm");
    let target = registry.repo("team/inventory:1.0");
    let digest = push(&team, &file, &target, &[]);

    // The CNCF Wasm artifact: wasm config, one application/wasm layer that is the file.
    let manifest = registry.manifest("team/inventory", "1.0");
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 1);
    assert_eq!(layers[0]["mediaType"], "application/wasm");
    assert_eq!(
        layers[0]["digest"],
        format!("sha256:{}", sha256_file(&file))
    );
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.title"],
        "inventory"
    );

    let by_tag = empty_dir();
    let run = add(&team, by_tag.path(), &target);
    run.assert_ok();
    assert!(run.stdout.contains("added inventory"), "{}", run.stdout);
    let installed = by_tag.path().join("inventory.wasm");
    assert_eq!(sha256_file(&installed), sha256_file(&file));
    let entry = lock_entry(&team, "inventory");
    assert_eq!(entry["source"].as_str(), Some(target.as_str()));
    assert_eq!(entry["manifest_digest"].as_str(), Some(digest.as_str()));
    assert_eq!(entry["sha256"].as_str(), Some(sha256_file(&file).as_str()));
    assert!(entry.get("signer").is_none(), "{entry:?}");

    // Listed with where it came from and what it may do; it runs.
    let list = team.dockwright(by_tag.path(), &["plugins", "--json"]);
    list.assert_ok();
    let plugin = &list.json()["plugins"][0];
    assert_eq!(plugin["source"].as_str(), Some(target.as_str()));
    assert!(!plugin["permissions"].as_array().unwrap().is_empty());
    let ps = team.dockwright(by_tag.path(), &["run", "ps"]);
    ps.assert_ok();

    let by_digest = empty_dir();
    let pinned = format!("{}@{digest}", registry.repo("team/inventory"));
    add(&team, by_digest.path(), &pinned).assert_ok();
    assert_eq!(
        sha256_file(&by_digest.path().join("inventory.wasm")),
        sha256_file(&file)
    );
    assert_eq!(
        lock_entry(&team, "inventory")["source"].as_str(),
        Some(pinned.as_str())
    );
    // A digest the registry does not have is refused, and nothing is written.
    let missing = empty_dir();
    let absent = format!(
        "{}@sha256:{}",
        registry.repo("team/inventory"),
        "0".repeat(64)
    );
    add(&team, missing.path(), &absent).assert_clean_failure("manifest");
    assert_eq!(std::fs::read_dir(missing.path()).unwrap().count(), 0);
}

#[test]
fn a_registry_that_serves_other_bytes_is_refused_naming_both_digests() {
    let registry = Registry::start();
    let team = Team::new("share-lie");
    let file = example_plugin("inventory.wasm");
    let target = registry.repo("team/liar:1");
    push(&team, &file, &target, &[]);
    let layer = format!("sha256:{}", sha256_file(&file));
    // The registry's storage now holds other bytes (same length) under the digest.
    let blob = registry.blob_file(&layer);
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();
    let served = format!("sha256:{}", dockwright::sha256_hex(&bytes));

    let dir = empty_dir();
    let line = add(&team, dir.path(), &target).assert_clean_failure("refused");
    assert!(line.contains(&layer) && line.contains(&served), "{line}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    assert!(!team.home.join("dockwright.lock").exists());
}

/// `dockwright keys new <name>` with its own data folder; the public key.
fn new_key(data: &Path, name: &str) -> String {
    let run = dockwright(
        Path::new("."),
        &["keys", "new", name],
        &[("XDG_DATA_HOME", data.to_str().unwrap())],
    );
    run.assert_ok();
    let public = run.stdout.trim().to_string();
    assert!(public.starts_with("ed25519:"), "{}", run.stdout);
    public
}

#[test]
fn require_signed_refuses_unsigned_and_untrusted_plugins_at_add_and_at_run() {
    let registry = Registry::start();
    let keys = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let alice = new_key(keys.path(), "alice");
    let mallory = new_key(keys.path(), "mallory");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(keys.path().join("dockwright/keys/alice.key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    let team = Team::with_policy(
        "signed",
        &format!("{PERMISSIVE}\nrequire_signed = true\ntrusted_keys = [\"{alice}\"]\n"),
    );
    let data = keys.path().to_str().unwrap();
    let file = example_plugin("inventory.wasm");
    let push_as = |tag: &str, key: Option<&str>| {
        let target = registry.repo(&format!("team/inventory:{tag}"));
        let mut cmd_args = vec!["plugins", "push", file.to_str().unwrap(), &target];
        if let Some(key) = key {
            cmd_args.extend(["--sign", key]);
        }
        team.dockwright_with(Path::new("."), &cmd_args, &[("XDG_DATA_HOME", data)])
            .assert_ok();
        target
    };

    let dir = empty_dir();
    let unsigned = push_as("unsigned", None);
    let line = add(&team, dir.path(), &unsigned).assert_clean_failure("not signed");
    assert!(
        line.contains("`inventory`") && line.contains("require_signed"),
        "{line}"
    );

    let untrusted = push_as("mallory", Some("mallory"));
    let line = add(&team, dir.path(), &untrusted).assert_clean_failure(&mallory);
    assert!(line.contains("trusted_keys"), "{line}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);

    let trusted = push_as("alice", Some("alice"));
    let run = add(&team, dir.path(), &trusted);
    run.assert_ok();
    assert!(
        run.stdout.contains(&format!("signed by {alice}")),
        "{}",
        run.stdout
    );
    assert_eq!(
        lock_entry(&team, "inventory")["signer"].as_str(),
        Some(alice.as_str())
    );
    team.dockwright(dir.path(), &["run", "ps"]).assert_ok();

    // Editing the lock to claim another signer does not make it signed by that key.
    let lock_path = team.home.join("dockwright.lock");
    let text = std::fs::read_to_string(&lock_path).unwrap();
    std::fs::write(&lock_path, text.replace(&alice, &mallory)).unwrap();
    let run = team.dockwright(dir.path(), &["run", "ps"]);
    assert_ne!(run.code, 0, "{}", run.stdout);
    assert!(run.stderr.contains("does not match"), "{}", run.stderr);
    std::fs::write(&lock_path, &text).unwrap();

    // A plugin dropped into the folder unsigned is refused at run, before it runs.
    std::fs::copy(test_plugin("narrow.wasm"), dir.path().join("narrow.wasm")).unwrap();
    let run = team.dockwright(dir.path(), &["run", "reach", "--json"]);
    assert_ne!(run.code, 0);
    let report = run.json();
    let error = report["error"].as_str().unwrap();
    assert!(error.contains("`narrow` is not signed"), "{error}");
    let journal = team.journal();
    let ran: Vec<_> = journal
        .iter()
        .filter(|e| e["event"] == "call" && e["plugin"] == "narrow")
        .collect();
    assert!(ran.is_empty(), "the plugin ran: {ran:?}");
}

#[test]
fn an_update_that_adds_a_permission_is_shown_and_waits_for_confirmation() {
    let registry = Registry::start();
    let team = Team::with_policy(
        "update",
        &format!("{PERMISSIVE}\n[teams.{{team}}-capped]\npermissions = [\"containers\"]\n"),
    );
    let capped = format!("{}-capped", team.name);
    let target = registry.repo("team/narrow:stable");
    let v1 = push(&team, &test_plugin("narrow.wasm"), &target, &[]);
    let dir = empty_dir();
    add(&team, dir.path(), &target).assert_ok();
    let before = std::fs::read_to_string(team.home.join("dockwright.lock")).unwrap();

    let up_to_date = team.dockwright(dir.path(), &["plugins", "update", "--team", &team.name]);
    up_to_date.assert_ok();
    assert!(
        up_to_date.stdout.contains("up to date"),
        "{}",
        up_to_date.stdout
    );

    let v2 = push(&team, &test_plugin("narrow_v2.wasm"), &target, &[]);
    assert_ne!(v1, v2);
    // Not on a terminal and no --yes: shown, not applied.
    let shown = team.dockwright(dir.path(), &["plugins", "update", "--team", &team.name]);
    assert_eq!(shown.code, 1, "{}\n{}", shown.stdout, shown.stderr);
    assert!(
        shown.stdout.contains("version 0.1.0 -> 0.2.0"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains(&format!("digest {v1} -> {v2}")),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("permissions added: engine-info"),
        "{}",
        shown.stdout
    );
    assert!(shown.stderr.contains("--yes"), "{}", shown.stderr);
    let after = std::fs::read_to_string(team.home.join("dockwright.lock")).unwrap();
    assert_eq!(before, after, "the pin moved without confirmation");
    assert_eq!(
        sha256_file(&dir.path().join("narrow.wasm")),
        sha256_file(&test_plugin("narrow.wasm"))
    );

    // A team whose cap the new version exceeds refuses it even when confirmed.
    let refused = team.dockwright(
        dir.path(),
        &["plugins", "update", "--yes", "--team", &capped],
    );
    refused.assert_clean_failure("engine-info");
    assert_eq!(
        std::fs::read_to_string(team.home.join("dockwright.lock")).unwrap(),
        before
    );

    let applied = team.dockwright(
        dir.path(),
        &["plugins", "update", "--yes", "--team", &team.name],
    );
    applied.assert_ok();
    assert!(applied.stdout.contains("applied"), "{}", applied.stdout);
    assert_eq!(
        lock_entry(&team, "narrow")["manifest_digest"].as_str(),
        Some(v2.as_str())
    );
    assert_eq!(
        sha256_file(&dir.path().join("narrow.wasm")),
        sha256_file(&test_plugin("narrow_v2.wasm"))
    );
    let list = team.dockwright(dir.path(), &["plugins", "--json"]);
    let permissions = list.json()["plugins"][0]["permissions"].clone();
    assert_eq!(
        permissions,
        serde_json::json!(["containers", "engine-info"])
    );
}

#[test]
fn calls_outside_the_manifest_are_denied_naming_the_rule() {
    let team = Team::new("manifest");
    let dir = plugin_dir(&[test_plugin("narrow.wasm")]);
    let check = team.dockwright(
        dir.path(),
        &[
            "check",
            test_plugin("narrow.wasm").to_str().unwrap(),
            "--json",
        ],
    );
    check.assert_ok();
    assert_eq!(
        check.json()["permissions"],
        serde_json::json!(["containers"])
    );

    let outputs = run_ok(dir.path(), &team, "reach", &[]);
    assert_eq!(out(&outputs, "list"), "ok");
    for (key, group) in [("engine-info", "engine-info"), ("exec", "exec")] {
        let result = out(&outputs, key);
        assert!(
            result.starts_with("denied:")
                && result.contains(&format!("needs the permission `{group}`"))
                && result.contains("policy rule `permissions`"),
            "{key}: {result}"
        );
    }
    let denied: Vec<Value> = team
        .calls("engine-info")
        .into_iter()
        .filter(|c| c["decision"] == "denied" && c["rule"] == "permissions")
        .collect();
    assert_eq!(denied.len(), 1, "{:?}", team.journal());

    // Declaring more during a run widens nothing.
    let outputs = run_ok(dir.path(), &team, "widen", &[]);
    assert!(
        out(&outputs, "engine-info").starts_with("denied:"),
        "{outputs:?}"
    );

    // A Rust plugin's manifest is its imports: the probe imports every operation.
    let probe = team.dockwright(
        dir.path(),
        &[
            "check",
            test_plugin("probe.wasm").to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(probe.json()["permissions"].as_array().unwrap().len(), 8);
}

#[test]
fn a_team_cap_refuses_plugins_that_ask_for_more_at_add_and_at_run() {
    let team = Team::with_policy(
        "cap",
        &format!("{PERMISSIVE}\npermissions = [\"containers\", \"observe\"]\n"),
    );
    let dir = empty_dir();
    let probe = test_plugin("probe.wasm");
    let line = add(&team, dir.path(), probe.to_str().unwrap()).assert_clean_failure("asks for");
    assert!(
        line.contains("`permissions`") && line.contains("exec"),
        "{line}"
    );
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    add(
        &team,
        dir.path(),
        test_plugin("narrow.wasm").to_str().unwrap(),
    )
    .assert_ok();

    // Dropped into the folder by hand, it is refused when it would run.
    std::fs::copy(&probe, dir.path().join("probe.wasm")).unwrap();
    let run = team.dockwright(dir.path(), &["run", "engine", "--json"]);
    assert_ne!(run.code, 0);
    let error = run.json()["error"].as_str().unwrap().to_string();
    assert!(error.contains("beyond what team"), "{error}");
    assert!(team.calls("engine-info").is_empty());
}

#[test]
fn credentials_go_only_to_their_registry() {
    let registry = Registry::start_with(Some(("alice", "s3cret")));
    let team = Team::new("creds");
    let file = example_plugin("inventory.wasm");
    let target = registry.repo("team/inventory:1");
    let dir = empty_dir();
    let path = file.to_str().unwrap();

    let anonymous = team.dockwright(dir.path(), &["plugins", "push", path, &target]);
    let line = anonymous.assert_clean_failure(&registry.host());
    assert!(line.contains("docker login"), "{line}");

    // The variables belong to another registry: not sent here.
    let elsewhere = [
        ("DOCKWRIGHT_REGISTRY_USERNAME", "alice"),
        ("DOCKWRIGHT_REGISTRY_PASSWORD", "s3cret"),
        ("DOCKWRIGHT_REGISTRY_HOST", "registry.example.com"),
    ];
    team.dockwright_with(dir.path(), &["plugins", "push", path, &target], &elsewhere)
        .assert_clean_failure("docker login");

    let mine = [
        ("DOCKWRIGHT_REGISTRY_USERNAME", "alice"),
        ("DOCKWRIGHT_REGISTRY_PASSWORD", "s3cret"),
    ];
    team.dockwright_with(dir.path(), &["plugins", "push", path, &target], &mine)
        .stdout
        .starts_with("sha256:")
        .then_some(())
        .expect("push with the variables");

    // The docker CLI's config, as `docker login` writes it.
    let docker_config = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
    std::fs::write(
        docker_config.path().join("config.json"),
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#,
            registry.host()
        ),
    )
    .unwrap();
    let config_dir = docker_config.path().to_str().unwrap();
    let run = team.dockwright_with(
        dir.path(),
        &["plugins", "add", &target, "--team", &team.name],
        &[("DOCKER_CONFIG", config_dir)],
    );
    run.assert_ok();
    assert!(dir.path().join("inventory.wasm").is_file());
}

#[test]
fn pull_image_pulls_from_a_registry_through_a_plugin() {
    images();
    let registry = Registry::start();
    let team = Team::new("pull");
    let reference = registry.repo(&format!("{}/base:1", team.name));
    docker(&["tag", "dockwright/base:latest", &reference]);
    docker(&["push", &reference]);
    docker(&["rmi", &reference]);
    team.images.borrow_mut().push(reference.clone());

    let outputs = probe_ok(&team, "pull", &[("image", &reference)]);
    let id = out(&outputs, "id");
    assert!(id.starts_with("sha256:"), "{outputs:?}");
    assert_eq!(inspect("image", &reference)["Id"].as_str(), Some(id));
    let pulls = team.calls("pull-image");
    assert_eq!(pulls.len(), 1);
    assert_eq!(pulls[0]["result"], "ok");
}

/// An address of this machine that is not loopback (the one its default route
/// leaves from), where a registry must be reached over TLS.
fn outside_address() -> String {
    let socket = std::net::UdpSocket::bind("0.0.0.0:0").unwrap();
    // No packet is sent: connecting a UDP socket only picks the route.
    socket
        .connect("192.0.2.1:9")
        .expect("this machine has no route off loopback, which the TLS test needs");
    let ip = socket.local_addr().unwrap().ip();
    assert!(!ip.is_loopback(), "{ip}");
    ip.to_string()
}

/// A CA and a server certificate it signed for `ip`; (ca.pem, cert.pem, key.pem).
fn certificates(dir: &Path, ip: &str) -> (PathBuf, PathBuf, PathBuf) {
    let path = |name: &str| dir.join(name);
    let openssl = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("cannot run openssl: apt-get install openssl");
        assert!(status.success(), "openssl {args:?}");
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=dockwright test CA",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=registry",
    ]);
    std::fs::write(
        path("server.ext"),
        format!("subjectAltName=IP:{ip}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n"),
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "server.ext",
    ]);
    (path("ca.pem"), path("server.pem"), path("server.key"))
}

#[test]
fn registries_off_loopback_need_tls_and_trust_the_configured_ca() {
    let ip = outside_address();
    let certs = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let (ca, cert, key) = certificates(certs.path(), &ip);
    let registry = Registry::start_on(&ip, None, Some((&cert, &key)));
    let file = example_plugin("inventory.wasm");
    let path = file.to_str().unwrap();
    let target = registry.repo("team/inventory:tls");

    // A CA the machine does not trust: refused, saying it is about the certificate.
    let untrusting = Team::new("tls-untrusted");
    let run = untrusting.dockwright(Path::new("."), &["plugins", "push", path, &target]);
    let line = run.assert_clean_failure(&registry.host());
    assert!(line.to_lowercase().contains("certificate"), "{line}");

    // Listed as insecure, it is spoken to over plain HTTP, which a TLS registry refuses.
    let insecure = Team::new("tls-insecure");
    let config = insecure.home.join("dockwright.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("[registries]\ninsecure = [\"{}\"]\n{text}", registry.host()),
    )
    .unwrap();
    let run = insecure.dockwright(Path::new("."), &["plugins", "push", path, &target]);
    assert_ne!(run.code, 0, "{}", run.stdout);

    // With the CA in the config, push and add work over TLS.
    let team = Team::new("tls");
    let config = team.home.join("dockwright.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("[registries]\nca = \"{}\"\n{text}", ca.display()),
    )
    .unwrap();
    push(&team, &file, &target, &[]);
    let dir = empty_dir();
    add(&team, dir.path(), &target).assert_ok();
    assert_eq!(
        sha256_file(&dir.path().join("inventory.wasm")),
        sha256_file(&file)
    );
}

/// The `wkg` of wasm-pkg-tools: `$DOCKWRIGHT_TEST_WKG`, else `wkg` on the PATH.
fn wkg() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("DOCKWRIGHT_TEST_WKG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|dir| Path::new(dir).join("wkg"))
        .find(|p| p.is_file())
}

#[test]
fn wkg_and_dockwright_install_what_the_other_pushes() {
    // `.ci/run` installs wkg (cargo install takes minutes): a developer without it
    // is told, rather than made to wait.
    let Some(wkg) = wkg() else {
        eprintln!("skipped: no wkg (set DOCKWRIGHT_TEST_WKG or put wkg on the PATH)");
        return;
    };
    let registry = Registry::start();
    let team = Team::new("wkg");
    let file = example_plugin("inventory.wasm");
    let wkg_run = |args: &[&str]| {
        let out = Command::new(&wkg)
            .args(args)
            .env("HOME", team.home.join("wkg-home"))
            .env_remove("WKG_OCI_USERNAME")
            .env_remove("WKG_OCI_PASSWORD")
            .stdin(Stdio::null())
            .output()
            .expect("cannot run wkg");
        assert!(
            out.status.success(),
            "wkg {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let host = registry.host();

    let pushed_by_wkg = registry.repo("wkg/inventory:1");
    wkg_run(&[
        "oci",
        "push",
        "--insecure",
        &host,
        &pushed_by_wkg,
        file.to_str().unwrap(),
    ]);
    let dir = empty_dir();
    add(&team, dir.path(), &pushed_by_wkg).assert_ok();
    assert_eq!(
        sha256_file(&dir.path().join("inventory.wasm")),
        sha256_file(&file)
    );

    let pushed_by_us = registry.repo("dockwright/inventory:1");
    push(&team, &file, &pushed_by_us, &[]);
    let pulled = team.home.join("pulled.wasm");
    wkg_run(&[
        "oci",
        "pull",
        "--insecure",
        &host,
        &pushed_by_us,
        "-o",
        pulled.to_str().unwrap(),
    ]);
    assert_eq!(sha256_file(&pulled), sha256_file(&file));
}
