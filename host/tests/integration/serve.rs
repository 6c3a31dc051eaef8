//! `dockwright serve` over real HTTP against the real engine: every endpoint, the
//! auth cases, each kind of bad input, the run bounds, server-sent events, teardown,
//! and a SIGTERM during runs. The server runs as a child process with the team's
//! config and state, like the CLI tests run the binary.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::common::*;

// ---------------------------------------------------------------------------------------------
// A server child process and a tiny HTTP/1.1 client.

pub(super) struct Server {
    child: Child,
    pub(super) port: u16,
    /// What the server wrote to stderr so far.
    log: Arc<Mutex<String>>,
}

/// The plugins the serve tests use.
pub(super) fn serve_plugins() -> tempfile::TempDir {
    images();
    plugin_dir(&[
        example_plugin("team_env.wasm"),
        test_plugin("probe.wasm"),
        test_plugin("hostile.wasm"),
    ])
}

impl Server {
    /// Start `dockwright serve` on a free port with `team`'s config and state, and
    /// wait until `/healthz` answers.
    pub(super) fn start(team: &Team, plugins: &Path, args: &[&str]) -> Server {
        let server = Server::launch(team, plugins, args, &[]);
        assert_eq!(server.get("/healthz", None).status, 200, "{}", server.log());
        server
    }

    /// [`Server::start`] with more environment.
    pub(super) fn start_with(
        team: &Team,
        plugins: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let server = Server::launch(team, plugins, args, env);
        assert_eq!(server.get("/healthz", None).status, 200, "{}", server.log());
        server
    }

    /// Start `dockwright serve` with more environment and wait until it listens,
    /// whether or not its engine answers.
    pub(super) fn launch(
        team: &Team,
        plugins: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Server {
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dockwright"));
        cmd.args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .current_dir(workspace())
            .env("DOCKWRIGHT_PLUGINS", plugins)
            .env("XDG_CONFIG_HOME", tmp.join("no-team/config"))
            .env("XDG_CACHE_HOME", tmp.join("cache"))
            .env_remove("DOCKWRIGHT_TEAM")
            .env_remove("DOCKWRIGHT_LISTEN")
            .envs(team.env())
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("cannot start dockwright serve");
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        });
        let deadline = Instant::now() + Duration::from_secs(120);
        let port = loop {
            let text = log.lock().unwrap().clone();
            if let Some(port) = listening_port(&text) {
                break port;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("dockwright serve exited ({status}): {text}");
            }
            assert!(Instant::now() < deadline, "serve did not start: {text}");
            std::thread::sleep(Duration::from_millis(50));
        };
        Server { child, port, log }
    }

    pub(super) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub(super) fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
    ) -> Response {
        http(self.port, method, path, token, body, &[])
    }

    pub(super) fn get(&self, path: &str, token: Option<&str>) -> Response {
        self.request("GET", path, token, None)
    }

    pub(super) fn post(&self, path: &str, token: &str, body: &Value) -> Response {
        self.request("POST", path, Some(token), Some(body.to_string().as_bytes()))
    }

    pub(super) fn delete(&self, path: &str, token: &str) -> Response {
        self.request("DELETE", path, Some(token), None)
    }

    /// Kill it (SIGKILL: no drain, no rollback, no goodbye to the database) and reap it.
    pub(super) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Send SIGTERM and wait for the exit; the exit code and the time it took.
    fn terminate(&mut self, within: Duration) -> (i32, Duration) {
        let started = Instant::now();
        // SAFETY: signalling our own child by pid.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status.code().unwrap_or(-1), started.elapsed());
            }
            assert!(
                started.elapsed() < within,
                "serve did not exit in {within:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn listening_port(log: &str) -> Option<u16> {
    let rest = log.split("listening on http://127.0.0.1:").nth(1)?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

pub(super) struct Response {
    pub(super) status: u16,
    headers: Vec<(String, String)>,
    pub(super) body: String,
}

impl Response {
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    #[track_caller]
    pub(super) fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.body))
    }

    /// The `error` of a JSON error body, checked to have the status and name `words`.
    #[track_caller]
    pub(super) fn error(&self, status: u16, words: &str) -> String {
        assert_eq!(self.status, status, "{}", self.body);
        let error = self.json()["error"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(error.contains(words), "`{words}` not in: {error}");
        error
    }
}

/// A POST to the server on `port`, from a thread that holds no [`Server`].
pub(super) fn post_to(port: u16, path: &str, token: &str, body: &Value) -> Response {
    http(
        port,
        "POST",
        path,
        Some(token),
        Some(body.to_string().as_bytes()),
        &[],
    )
}

/// One request on its own connection (`Connection: close`), read to the end.
/// `POST /v1/runs` with `body`, as a team's client sends it.
pub(super) fn post_run(port: u16, token: &str, body: &str) -> Response {
    http(
        port,
        "POST",
        "/v1/runs",
        Some(token),
        Some(body.as_bytes()),
        &[],
    )
}

/// `n` `POST /v1/runs` of `body` at once, each from a thread of its own; the
/// answers, in the order the threads started.
pub(super) fn runs_at_once(port: u16, token: &str, body: &str, n: usize) -> Vec<Response> {
    let clients: Vec<_> = (0..n)
        .map(|_| {
            let (token, body) = (token.to_string(), body.to_string());
            std::thread::spawn(move || post_run(port, &token, &body))
        })
        .collect();
    clients.into_iter().map(|c| c.join().unwrap()).collect()
}

pub(super) fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
    extra: &[(&str, &str)],
) -> Response {
    let mut stream = send(port, method, path, token, body, extra);
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("reading the response");
    parse_response(&raw)
}

fn send(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
    extra: &[(&str, &str)],
) -> TcpStream {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connecting to serve");
    stream
        .set_read_timeout(Some(Duration::from_secs(180)))
        .unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    for (k, v) in extra {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or_default();
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    // A server may answer (413) before reading all of a large body.
    let _ = stream.write_all(body);
    stream
}

fn parse_response(raw: &[u8]) -> Response {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no head: {text}"));
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_string()
    };
    Response {
        status,
        headers,
        body,
    }
}

fn dechunk(mut rest: &str) -> String {
    let mut out = String::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || after.len() < size {
            break;
        }
        out.push_str(&after[..size]);
        rest = after[size..].trim_start_matches("\r\n");
    }
    out
}

/// Server-sent events of a body: (event, id, data).
pub(super) fn events(body: &str) -> Vec<(String, Option<String>, String)> {
    body.split("\n\n")
        .filter(|block| !block.trim().is_empty())
        .filter_map(|block| {
            let mut event = String::from("message");
            let mut id = None;
            let mut data = Vec::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = Some(v.trim().to_string());
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push(v.trim_start().to_string());
                }
            }
            (!data.is_empty()).then(|| (event, id, data.join("\n")))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Teams with tokens.

/// A config with `main` and more teams (each `[teams.<name>]` with its policy), all
/// in `main`'s config file.
pub(super) fn configure(main: &Team, others: &[(&Team, &str)], main_policy: &str) {
    let mut text = format!("[teams.{}]\n{main_policy}\n", main.name);
    for (team, policy) in others {
        text.push_str(&format!("[teams.{}]\n{policy}\n", team.name));
    }
    std::fs::write(main.home.join("dockwright.toml"), text).unwrap();
}

/// A fresh token for `team`, stored in `config_of`'s config by the CLI.
pub(super) fn token(config_of: &Team, plugins: &Path, team: &Team) -> String {
    let run = config_of.dockwright(plugins, &["token", "new", &team.name]);
    run.assert_ok();
    let token = run.stdout.trim().to_string();
    assert!(token.starts_with("dwt_") && token.len() > 40, "{token}");
    assert!(
        run.stderr.contains("cannot be shown again"),
        "{}",
        run.stderr
    );
    token
}

pub(super) fn run_body(workflow: &str, params: &[(&str, &str)]) -> Value {
    let params: serde_json::Map<String, Value> = params
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(*v)))
        .collect();
    serde_json::json!({ "workflow": workflow, "params": params })
}

/// The port and path of an environment's URL (`http://HOST:PORT/PATH`).
pub(super) fn port_and_path(url: &str) -> (u16, String) {
    let rest = url.strip_prefix("http://").unwrap();
    let (_, rest) = rest.split_once(':').unwrap();
    let (port, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    (port.parse().unwrap(), path.to_string())
}

/// Run `team-env` over the API of the server at `port` and open the URL it hands
/// back, which must answer: the run, as the API gave it.
pub(super) fn team_env_over_http(port: u16, token: &str) -> Value {
    let answer = post_run(port, token, &run_body("team-env", &[]).to_string());
    assert_eq!(answer.status, 201, "{}", answer.body);
    let run: Value = serde_json::from_str(&answer.body).unwrap();
    let url = run["outputs"]["url"].as_str().unwrap();
    let (page_port, path) = port_and_path(url);
    let page = http(page_port, "GET", &path, None, None, &[]);
    assert_eq!(page.status, 200, "{url}: {}", page.body);
    run
}

fn docker_ids(filter: &str) -> Vec<String> {
    docker(&["ps", "-aq", "--no-trunc", "--filter", filter])
        .lines()
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------------------------------------

#[test]
fn token_new_stores_only_a_hash_and_needs_a_configured_team() {
    let team = Team::new("tok");
    let dir = plugin_dir(&[]);
    let config = team.home.join("dockwright.toml");
    std::fs::write(
        &config,
        format!("# our teams\n[teams.{}] # ours\n{PERMISSIVE}", team.name),
    )
    .unwrap();

    let token = token(&team, dir.path(), &team);
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(!text.contains(&token), "the token itself is stored: {text}");
    assert!(
        text.starts_with(&format!("# our teams\n[teams.{}] # ours\n", team.name)),
        "{text}"
    );
    // Each hash on its own line, after a comment saying when it was made.
    assert!(text.contains("tokens = [\n    # made 20"), "{text}");
    assert!(text.contains("\n    \"sha256:"), "{text}");
    // A second token is added, not swapped in.
    let second = token_of(&team, dir.path(), &team.name);
    assert_ne!(second, token);
    let text = std::fs::read_to_string(&config).unwrap();
    assert_eq!(text.matches("sha256:").count(), 2, "{text}");

    let run = team.dockwright(dir.path(), &["token", "new", "nosuchteam"]);
    run.assert_clean_failure("team `nosuchteam` is not configured");
    let run = dockwright(
        dir.path(),
        &["token", "new", "default"],
        &[(
            "DOCKWRIGHT_CONFIG",
            team.home.join("missing.toml").to_str().unwrap(),
        )],
    );
    run.assert_clean_failure("there is no config file");
}

fn token_of(config_of: &Team, plugins: &Path, team: &str) -> String {
    let run = config_of.dockwright(plugins, &["token", "new", team]);
    run.assert_ok();
    run.stdout.trim().to_string()
}

#[test]
fn serve_runs_workflows_shows_runs_and_containers_and_tears_down() {
    let plugins = serve_plugins();
    let blue = Team::new("srv-blue");
    let red = Team::new("srv-red");
    configure(
        &blue,
        &[(&red, "images = [\"*\"]\nplugins = [\"probe\"]")],
        PERMISSIVE,
    );
    let blue_token = token(&blue, plugins.path(), &blue);
    let server = Server::start(&blue, plugins.path(), &[]);

    // Open endpoints.
    let health = server.get("/healthz", None).json();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["engine"]["reachable"], true);
    let doc = server.get("/openapi.json", None).json();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/v1/workflows",
        "/v1/runs",
        "/v1/runs/{id}",
        "/v1/runs/{id}/events",
        "/v1/containers",
        "/healthz",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is not described");
    }

    // Auth: none, malformed, unknown.
    let none = server.get("/v1/workflows", None);
    none.error(401, "Authorization: Bearer");
    assert!(none
        .header("www-authenticate")
        .unwrap()
        .starts_with("Bearer"));
    server
        .get("/v1/containers", Some("dwt_not-a-token"))
        .error(401, "not valid");
    let basic = http(
        server.port,
        "GET",
        "/v1/workflows",
        None,
        None,
        &[("Authorization", "Basic eDp5")],
    );
    basic.error(401, "Bearer <token>");
    assert!(basic.header("www-authenticate").is_some());

    // A token made while the server runs works at once.
    let red_token = token(&blue, plugins.path(), &red);

    // Workflows: what each team may run.
    let names = |token: &str| -> Vec<(String, String)> {
        let list = server.get("/v1/workflows", Some(token)).json();
        list["workflows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| {
                (
                    w["plugin"].as_str().unwrap().into(),
                    w["name"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let blue_names = names(&blue_token);
    assert!(
        blue_names.contains(&("team-env".into(), "team-env".into())),
        "{blue_names:?}"
    );
    assert!(blue_names.contains(&("probe".into(), "create".into())));
    let red_names = names(&red_token);
    assert!(red_names.iter().all(|(p, _)| p == "probe"), "{red_names:?}");
    let list = server.get("/v1/workflows", Some(&blue_token)).json();
    assert_eq!(list["team"], blue.name.as_str());
    let team_env = list["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "team-env")
        .unwrap();
    assert!(team_env["params"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["name"] == "team" && p["required"] == false));
    // The plugin's permission manifest, and its signer (none: it was not installed signed).
    let permissions: Vec<&str> = team_env["permissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert!(permissions.contains(&"containers"), "{permissions:?}");
    assert!(!permissions.contains(&"exec"), "{permissions:?}");
    assert!(team_env["signer"].is_null());

    // Create and start an environment, and ask which port it got.
    let created = server.post(
        "/v1/runs",
        &blue_token,
        &run_body("team-env", &[("team", &blue.name)]),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let run = created.json();
    let id = run["id"].as_str().unwrap().to_string();
    assert_eq!(
        created.header("location"),
        Some(format!("/v1/runs/{id}").as_str())
    );
    assert_eq!(run["status"], "ok", "{run}");
    assert_eq!(run["team"], blue.name.as_str());
    let port: u16 = run["outputs"]["host-port"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let container = run["outputs"]["container"].as_str().unwrap().to_string();
    assert_eq!(run["containers"][0], container.as_str());
    assert!(!run["log"].as_array().unwrap().is_empty(), "{run}");
    let page = http_get("127.0.0.1", port, "/").unwrap();
    assert!(
        page.starts_with("HTTP/1.") && page.contains(" 200 "),
        "{page}"
    );

    let shown = server
        .get(&format!("/v1/runs/{id}"), Some(&blue_token))
        .json();
    assert_eq!(shown["status"], "ok");
    assert_eq!(shown["outputs"], run["outputs"]);
    assert_eq!(shown["params"]["team"], blue.name.as_str());

    let listed = server.get("/v1/containers", Some(&blue_token)).json();
    let mine = listed["containers"].as_array().unwrap();
    assert_eq!(mine.len(), 1, "{listed}");
    assert_eq!(mine[0]["id"], container.as_str());
    assert_eq!(mine[0]["run"], id.as_str());
    assert_eq!(mine[0]["state"], "running");
    assert!(mine[0]["ports"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["container_port"] == 80 && p["host_port"] == port));
    let name = mine[0]["name"].as_str().unwrap();
    let one = server
        .get(&format!("/v1/containers/{name}"), Some(&blue_token))
        .json();
    assert_eq!(one["id"], container.as_str());

    // The events of an ended run: its lines, then its end.
    let sse = server.get(&format!("/v1/runs/{id}/events"), Some(&blue_token));
    assert_eq!(sse.status, 200);
    assert!(sse
        .header("content-type")
        .unwrap()
        .starts_with("text/event-stream"));
    let evs = events(&sse.body);
    let (last, rest) = evs.split_last().unwrap();
    assert_eq!(last.0, "end", "{evs:?}");
    let end: Value = serde_json::from_str(&last.2).unwrap();
    assert_eq!(end["status"], "ok");
    assert_eq!(rest.len(), run["log"].as_array().unwrap().len());
    assert!(
        rest.iter().all(|(e, id, _)| e == "log" && id.is_some()),
        "{rest:?}"
    );
    // Resuming after the first line skips it.
    let resumed = http(
        server.port,
        "GET",
        &format!("/v1/runs/{id}/events"),
        Some(&blue_token),
        None,
        &[("Last-Event-ID", "1")],
    );
    assert_eq!(events(&resumed.body).len(), evs.len() - 1);

    // Another team sees none of it: 404, as for what does not exist.
    server
        .get(&format!("/v1/runs/{id}"), Some(&red_token))
        .error(404, "no run");
    server
        .get(&format!("/v1/runs/{id}/events"), Some(&red_token))
        .error(404, "no run");
    server
        .delete(&format!("/v1/runs/{id}"), &red_token)
        .error(404, "no run");
    server
        .get(&format!("/v1/containers/{container}"), Some(&red_token))
        .error(404, "no container");
    let theirs = server.get("/v1/containers", Some(&red_token)).json();
    assert_eq!(
        theirs["containers"].as_array().unwrap().len(),
        0,
        "{theirs}"
    );
    // Nor does a listing by status reach past the team.
    let listed_ok = |token: &str| -> Vec<String> {
        let doc = server
            .get("/v1/runs?status=ok&limit=200", Some(token))
            .json();
        let runs = doc["runs"].as_array().unwrap().iter();
        runs.map(|r| r["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(listed_ok(&blue_token).contains(&id));
    assert!(!listed_ok(&red_token).contains(&id));
    assert_eq!(docker_ids(&format!("id={container}")).len(), 1);
    server
        .get("/v1/runs/0123456789abcdef", Some(&blue_token))
        .error(404, "no run");
    server
        .get("/v1/runs/not-an-id", Some(&blue_token))
        .error(404, "no run");

    // Teardown removes the run's containers, once.
    let removed = server.delete(&format!("/v1/runs/{id}"), &blue_token);
    assert_eq!(removed.status, 200, "{}", removed.body);
    let removed = removed.json();
    assert_eq!(removed["removed"][0], container.as_str(), "{removed}");
    assert_eq!(removed["cancelled"], false);
    assert!(docker_ids(&format!("id={container}")).is_empty());
    // The run says it was torn down, when and what went, beside how it went.
    assert_eq!(removed["already_torn_down"], false, "{removed}");
    let torn = removed["torn_down"].clone();
    assert_eq!(torn["removed"][0], container.as_str(), "{removed}");
    let shown = server
        .get(&format!("/v1/runs/{id}"), Some(&blue_token))
        .json();
    assert_eq!(shown["status"], "ok", "{shown}");
    assert_eq!(shown["torn_down"], torn, "{shown}");
    let listed = server.get("/v1/runs?limit=50", Some(&blue_token)).json();
    let in_list = listed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id.as_str())
        .cloned()
        .unwrap();
    assert_eq!(in_list["torn_down"], torn, "{in_list}");
    // A second DELETE says it was done already, and which teardown it was.
    let again = server.delete(&format!("/v1/runs/{id}"), &blue_token);
    assert_eq!(again.status, 200, "{}", again.body);
    let again = again.json();
    assert_eq!(again["removed"].as_array().unwrap().len(), 0, "{again}");
    assert_eq!(again["already_torn_down"], true, "{again}");
    assert_eq!(again["torn_down"], torn, "{again}");
    assert!(
        again["message"]
            .as_str()
            .unwrap()
            .contains("torn down already"),
        "{again}"
    );
    assert_eq!(
        server.get("/v1/containers", Some(&blue_token)).json()["containers"]
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // A run of the CLI (or of an earlier server) is found in the journal.
    let cli = blue.dockwright(
        plugins.path(),
        &["run", "log", "-p", "message=hi", "--json"],
    );
    let cli_id = cli.assert_ok().json()["run"].as_str().unwrap().to_string();
    let from_journal = server
        .get(&format!("/v1/runs/{cli_id}"), Some(&blue_token))
        .json();
    assert_eq!(from_journal["status"], "ok", "{from_journal}");
    assert_eq!(from_journal["params"]["message"], "hi");
    assert_eq!(from_journal["torn_down"], Value::Null, "{from_journal}");
    // Torn down from the journal alone (this server never held it): kept there.
    let down = server.delete(&format!("/v1/runs/{cli_id}"), &blue_token);
    assert_eq!(down.status, 200, "{}", down.body);
    let first = down.json()["torn_down"].clone();
    assert!(first["time"].is_string(), "{}", down.body);
    let shown = server
        .get(&format!("/v1/runs/{cli_id}"), Some(&blue_token))
        .json();
    assert_eq!(shown["torn_down"], first, "{shown}");
    let again = server
        .delete(&format!("/v1/runs/{cli_id}"), &blue_token)
        .json();
    assert_eq!(again["already_torn_down"], true, "{again}");
    assert_eq!(again["torn_down"], first, "{again}");
    // The CLI reads it from the journal too.
    let shown = blue.dockwright(plugins.path(), &["runs", "show", &cli_id]);
    assert!(
        shown.assert_ok().stdout.contains("torn down"),
        "{}",
        shown.stdout
    );
    let listed = blue.dockwright(plugins.path(), &["runs"]);
    assert!(
        listed.assert_ok().stdout.contains("(torn down)"),
        "{}",
        listed.stdout
    );
    server
        .get(&format!("/v1/runs/{cli_id}"), Some(&red_token))
        .error(404, "no run");

    // Everything went to the journal as CLI runs do.
    assert!(blue
        .journal()
        .iter()
        .any(|e| e["event"] == "run-end" && e["run"] == id.as_str()));
}

#[test]
fn serve_refuses_bad_input_with_the_field_named() {
    let plugins = serve_plugins();
    let team = Team::new("srv-bad");
    let narrow = Team::new("srv-narrow");
    let limits = "images = [\"*\"]\nplugins = [\"hostile\"]\nplugin_limits = { timeout = \"1s\" }";
    configure(&team, &[(&narrow, limits)], PERMISSIVE);
    let token = token(&team, plugins.path(), &team);
    let narrow_token = token_of(&team, plugins.path(), &narrow.name);
    let server = Server::start(&team, plugins.path(), &["--max-body", "4096"]);
    let post = |body: &[u8]| server.request("POST", "/v1/runs", Some(&token), Some(body));

    let big = format!(
        r#"{{"workflow": "create", "params": {{"image": "{}"}}}}"#,
        "x".repeat(5000)
    );
    post(big.as_bytes()).error(413, "4096 bytes");
    post(b"{\"workflow\": ").error(400, "not valid JSON");
    post(b"").error(400, "body is empty");
    post(b"[]").error(400, "JSON object");
    post(br#"{"workflow": 7}"#).error(400, "field `workflow` must be a string");
    post(br#"{"workflow": "create", "params": ["image"]}"#)
        .error(400, "field `params` must be an object");
    post(br#"{"workflow": "create", "params": {"image": ["x"]}}"#)
        .error(400, "field `params.image`");
    post(br#"{"workflow": "create", "parms": {}}"#).error(400, "unknown field `parms`");
    post(br#"{"workflow": "creat"}"#).error(404, "no workflow `creat`");
    post(br#"{"workflow": "create", "plugin": "nope"}"#).error(404, "no plugin `nope`");
    post(br#"{"workflow": "create"}"#).error(422, "param `image` is missing");
    post(br#"{"workflow": "create", "params": {"image": "x", "colour": "red"}}"#)
        .error(422, "no param `colour`");
    server
        .request("POST", "/v1/runs?wait=soon", Some(&token), Some(b"{}"))
        .error(400, "`wait`");
    // The narrow team may run only `hostile`.
    server
        .post(
            "/v1/runs",
            &narrow_token,
            &run_body("create", &[("image", "dockwright/base")]),
        )
        .error(403, "may not run");
    server
        .request("PUT", "/v1/runs", Some(&token), None)
        .error(405, "not allowed");
    server
        .get("/v1/nothing", Some(&token))
        .error(404, "no such endpoint");

    // A run that fails midway is created, failed, and rolled back.
    let failed = server.post(
        "/v1/runs",
        &token,
        &run_body(
            "create-then-fail",
            &[("image", "dockwright/base"), ("count", "2")],
        ),
    );
    // A failure of the plugin's own: 422, with the run in the body and at `Location`.
    assert_eq!(failed.status, 422, "{}", failed.body);
    let location = failed.header("location").map(str::to_string);
    let failed = failed.json();
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["cause"], "plugin", "{failed}");
    assert_eq!(
        location.as_deref(),
        failed["links"]["self"].as_str(),
        "{failed}"
    );
    assert!(
        failed["error"]
            .as_str()
            .unwrap()
            .contains("create-then-fail"),
        "{failed}"
    );
    assert_eq!(
        failed["rolled_back"].as_array().unwrap().len(),
        2,
        "{failed}"
    );
    assert!(team.containers().is_empty());

    // A run past its limit: the error says which, in the run's status.
    let spun = server.post("/v1/runs", &narrow_token, &run_body("spin", &[]));
    assert_eq!(spun.status, 422, "{}", spun.body);
    let spun = spun.json();
    assert_eq!(spun["status"], "failed");
    assert_eq!(spun["cause"], "limit", "{spun}");
    assert!(
        spun["error"]
            .as_str()
            .unwrap()
            .contains("time limit of 1 s"),
        "{spun}"
    );
}

#[test]
fn serve_bounds_runs_per_team_and_streams_events_as_they_come() {
    let plugins = serve_plugins();
    let blue = Team::new("srv-busy");
    let red = Team::new("srv-wait");
    configure(&blue, &[(&red, PERMISSIVE)], PERMISSIVE);
    let blue_token = token(&blue, plugins.path(), &blue);
    let red_token = token_of(&blue, plugins.path(), &red.name);
    let server = Server::start(
        &blue,
        plugins.path(),
        // A refused team counts as waiting for an hour: a loaded machine cannot make
        // the fairness check below outlast it.
        &[
            "--max-runs",
            "2",
            "--max-team-runs",
            "2",
            "--fair-window",
            "60m",
        ],
    );
    let block = run_body("block", &[("image", "dockwright/base")]);
    let start = |token: &str| server.post("/v1/runs?wait=false", token, &block);

    let first = start(&blue_token);
    assert_eq!(first.status, 202, "{}", first.body);
    assert_eq!(first.json()["status"], "running");
    let first_id = first.json()["id"].as_str().unwrap().to_string();

    // Subscribe while it runs: the line it logs arrives before it ends.
    let mut stream = send(
        server.port,
        "GET",
        &format!("/v1/runs/{first_id}/events"),
        Some(&blue_token),
        None,
        &[],
    );
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !String::from_utf8_lossy(&seen).contains("created ") {
        assert!(
            Instant::now() < deadline,
            "no live line: {}",
            String::from_utf8_lossy(&seen)
        );
        let mut buf = [0u8; 4096];
        let n = stream.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "the stream ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    assert!(!String::from_utf8_lossy(&seen).contains("event: end"));

    // The team's bound, then the server's, each with Retry-After.
    let second = start(&blue_token);
    assert_eq!(second.status, 202, "{}", second.body);
    let over = start(&blue_token);
    over.error(429, "2 runs in flight");
    assert_eq!(over.header("retry-after"), Some("2"));
    let full = start(&red_token);
    full.error(429, "the server is running 2 runs");
    assert!(full.header("retry-after").is_some());

    // A running run's containers are shown while it runs.
    let shown = server
        .get(&format!("/v1/runs/{first_id}"), Some(&blue_token))
        .json();
    assert_eq!(shown["status"], "running");
    assert_eq!(shown["containers"].as_array().unwrap().len(), 1, "{shown}");

    // Tearing down a run in flight cancels it, which rolls it back.
    let torn = server.delete(&format!("/v1/runs/{first_id}"), &blue_token);
    assert_eq!(torn.status, 200, "{}", torn.body);
    let torn = torn.json();
    assert_eq!(torn["cancelled"], true);
    assert_eq!(torn["removed"].as_array().unwrap().len(), 1, "{torn}");

    // A freed slot goes to red, who was turned away, before blue again (asked at
    // once, while red's refusal is recent).
    let after = start(&blue_token);
    after.error(429, "fair share");
    let red_again = start(&red_token);
    assert_eq!(red_again.status, 202, "{}", red_again.body);

    assert!(docker_ids(&format!("label=dockwright.run={first_id}")).is_empty());

    // The subscriber gets the end.
    stream.read_to_end(&mut seen).unwrap();
    let body = parse_response(&seen).body;
    let evs = events(&body);
    let (kind, _, data) = evs.last().unwrap();
    assert_eq!(kind, "end", "{body}");
    let end: Value = serde_json::from_str(data).unwrap();
    assert_eq!(end["status"], "failed");
    assert!(
        end["error"].as_str().unwrap().contains("interrupted"),
        "{end}"
    );

    for (token, run) in [(&blue_token, &second), (&red_token, &red_again)] {
        let id = run.json()["id"].as_str().unwrap().to_string();
        assert_eq!(server.delete(&format!("/v1/runs/{id}"), token).status, 200);
    }
    assert!(blue.containers().is_empty() && red.containers().is_empty());
}

#[test]
fn sigterm_lets_short_runs_finish_and_rolls_back_the_rest() {
    let plugins = serve_plugins();
    let team = Team::new("srv-term");
    configure(&team, &[], PERMISSIVE);
    let token = token(&team, plugins.path(), &team);
    let mut server = Server::start(
        &team,
        plugins.path(),
        // A drain deadline far longer than the short run's 1 s, so that even a loaded
        // machine finishes it in time; the blocked runs must still be cut off.
        &["--drain-timeout", "10s", "--max-team-runs", "8"],
    );

    // Three runs that would block for minutes, one client waiting on one of them,
    // and a short run that ends within the drain deadline.
    let block = run_body("block", &[("image", "dockwright/base")]);
    let mut blocked = Vec::new();
    for _ in 0..3 {
        let r = server.post("/v1/runs?wait=false", &token, &block);
        assert_eq!(r.status, 202, "{}", r.body);
        blocked.push(r.json()["id"].as_str().unwrap().to_string());
    }
    let port = server.port;
    let (waiting_token, waiting_body) = (token.clone(), block.to_string());
    let waiter = std::thread::spawn(move || {
        http(
            port,
            "POST",
            "/v1/runs",
            Some(&waiting_token),
            Some(waiting_body.as_bytes()),
            &[],
        )
    });
    let short = server.post(
        "/v1/runs?wait=false",
        &token,
        &run_body("slow", &[("image", "dockwright/base"), ("seconds", "1")]),
    );
    assert_eq!(short.status, 202, "{}", short.body);
    let short_id = short.json()["id"].as_str().unwrap().to_string();
    // Every run has made its container before the signal.
    let deadline = Instant::now() + Duration::from_secs(60);
    while team.containers().len() < 5 {
        assert!(
            Instant::now() < deadline,
            "runs did not start: {}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let (code, took) = server.terminate(Duration::from_secs(90));
    assert_eq!(code, 0, "{}", server.log());
    assert!(
        took >= Duration::from_secs(10),
        "exited before the drain deadline: {took:?}"
    );
    let log = server.log();
    assert!(
        log.contains("drain deadline reached: cancelling 4 run(s)"),
        "{log}"
    );

    // The waiting client got its answer: the run was interrupted and rolled back.
    // A run the stopping server cancelled: 503, so the client tries again later.
    let answer = waiter.join().unwrap();
    assert_eq!(answer.status, 503, "{}", answer.body);
    let answer = answer.json();
    assert_eq!(answer["status"], "failed");
    assert_eq!(answer["cause"], "cancelled", "{answer}");
    assert_eq!(
        answer["rolled_back"].as_array().unwrap().len(),
        1,
        "{answer}"
    );

    // Only the short run's container is left: it ended well within the deadline.
    let left = team.containers();
    let short_left = docker_ids(&format!("label=dockwright.run={short_id}"));
    assert_eq!(left, short_left, "{log}");
    assert_eq!(left.len(), 1);
    for id in &blocked {
        assert!(
            docker_ids(&format!("label=dockwright.run={id}")).is_empty(),
            "{id} leaked"
        );
    }
    let ends: Vec<Value> = team
        .journal()
        .into_iter()
        .filter(|e| e["event"] == "run-end")
        .collect();
    assert_eq!(ends.len(), 5);
    assert_eq!(ends.iter().filter(|e| e["status"] == "ok").count(), 1);
    // Nothing listens any more.
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn ten_runs_at_once_over_http_never_pass_the_quota() {
    let plugins = serve_plugins();
    let team = Team::new("srv-quota");
    configure(
        &team,
        &[],
        "images = [\"*\"]\nmax_containers = 3\nmax_running = 3\n",
    );
    let token = token(&team, plugins.path(), &team);
    let server = Server::start(
        &team,
        plugins.path(),
        &["--max-runs", "16", "--max-team-runs", "16"],
    );
    let body = run_body("create", &[("image", "dockwright/base:latest")]).to_string();
    let port = server.port;
    let mut statuses = Vec::new();
    for answer in runs_at_once(port, &token, &body, 10) {
        let status = answer.status;
        let answer = answer.json();
        // Ok is 201; past the quota is 409, with the run and its cause.
        if answer["status"] == "ok" {
            assert_eq!(status, 201, "{answer}");
        } else {
            assert_eq!(
                (status, &answer["cause"]),
                (409, &json!("quota")),
                "{answer}"
            );
        }
        if answer["status"] == "failed" {
            assert!(
                answer["error"]
                    .as_str()
                    .unwrap()
                    .contains("(policy rule `max_containers`)"),
                "{answer}"
            );
        }
        statuses.push(answer["status"].as_str().unwrap().to_string());
    }
    assert_eq!(
        statuses.iter().filter(|s| *s == "ok").count(),
        3,
        "{statuses:?}"
    );
    assert_eq!(team.containers().len(), 3);
}

#[test]
fn serve_runs_on_a_named_engine_and_lists_containers_by_engine() {
    let plugins = serve_plugins();
    let blue = Team::new("srv-eng");
    let local = Team::new("srv-eng-local");
    configure(
        &blue,
        &[(&local, "images = [\"*\"]\nengines = [\"default\"]")],
        PERMISSIVE,
    );
    let other = crate::daemons::TestDaemon::start(crate::daemons::Listen::Unix, &[]);
    other.load_images(&["dockwright/base:latest"]);
    crate::engines::add_engine(&blue, "other", &format!("host = \"{}\"\n", other.host));
    let blue_token = token(&blue, plugins.path(), &blue);
    let local_token = token(&blue, plugins.path(), &local);
    let server = Server::start(&blue, plugins.path(), &[]);

    let mut body = run_body("create", &[("image", "dockwright/base:latest")]);
    body["engine"] = "other".into();
    let created = server.post("/v1/runs", &blue_token, &body);
    assert_eq!(created.status, 201, "{}", created.body);
    let run = created.json();
    assert_eq!(run["engine"], "other", "{run}");
    assert_eq!(run["status"], "ok", "{run}");
    let id = run["outputs"]["id"].as_str().unwrap().to_string();
    assert_eq!(other.docker(&["inspect", "-f", "{{.Id}}", &id]), id);
    // Shown again from the journal and from this server, with its engine.
    let shown = server
        .get(
            &format!("/v1/runs/{}", run["id"].as_str().unwrap()),
            Some(&blue_token),
        )
        .json();
    assert_eq!(shown["engine"], "other", "{shown}");

    // Listed with the engine it is on, beside the default engine's.
    let on_default = server.post(
        "/v1/runs",
        &blue_token,
        &run_body("create", &[("image", "dockwright/base:latest")]),
    );
    assert_eq!(on_default.status, 201, "{}", on_default.body);
    let list = server.get("/v1/containers", Some(&blue_token)).json();
    let engines: Vec<(&str, &str)> = list["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["engine"].as_str().unwrap(), c["id"].as_str().unwrap()))
        .collect();
    assert!(engines.contains(&("other", id.as_str())), "{list}");
    assert!(engines.iter().any(|(e, _)| *e == "default"), "{list}");
    assert_eq!(list["unreachable"], serde_json::json!([]), "{list}");

    // Torn down on its engine.
    let torn = server.delete(
        &format!("/v1/runs/{}", run["id"].as_str().unwrap()),
        &blue_token,
    );
    assert_eq!(torn.status, 200, "{}", torn.body);
    assert!(other
        .docker(&["ps", "-aq", "--filter", &format!("id={id}")])
        .is_empty());

    // An engine the config lacks, or one the team may not use.
    let mut unknown = run_body("create", &[("image", "dockwright/base:latest")]);
    unknown["engine"] = "othre".into();
    server
        .post("/v1/runs", &blue_token, &unknown)
        .error(422, "Did you mean `other`");
    let mut denied = run_body("create", &[("image", "dockwright/base:latest")]);
    denied["engine"] = "other".into();
    server
        .post("/v1/runs", &local_token, &denied)
        .error(403, "policy rule `engines`");
    // A team's listing covers only the engines it may use.
    let list = server.get("/v1/containers", Some(&local_token)).json();
    assert!(
        list["containers"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["engine"] == "default"),
        "{list}"
    );
}

#[test]
fn tokens_are_listed_and_revoked_while_the_server_runs() {
    let plugins = serve_plugins();
    let team = Team::new("srv-tok");
    let first = token(&team, plugins.path(), &team);
    let second = token(&team, plugins.path(), &team);
    let server = Server::start(&team, plugins.path(), &[]);
    assert_eq!(server.get("/v1/workflows", Some(&first)).status, 200);

    let listed = team
        .dockwright(plugins.path(), &["token", "list", &team.name, "--json"])
        .assert_ok()
        .json();
    let listed = listed.as_array().unwrap().clone();
    assert_eq!(listed.len(), 2, "{listed:?}");
    for t in &listed {
        assert!(t["hash"].as_str().unwrap().starts_with("sha256:"), "{t}");
        assert!(t["made"].as_str().unwrap().starts_with("20"), "{t}");
    }
    let table = team.dockwright(plugins.path(), &["token", "list", &team.name]);
    table.assert_ok();
    assert!(table.stdout.starts_with("HASH"), "{}", table.stdout);
    assert_eq!(table.stdout.lines().count(), 3, "{}", table.stdout);

    // Revoked by the token itself: refused at once, the other still works.
    team.dockwright(plugins.path(), &["token", "revoke", &team.name, &first])
        .assert_ok();
    server
        .get("/v1/workflows", Some(&first))
        .error(401, "not valid");
    assert_eq!(server.get("/v1/workflows", Some(&second)).status, 200);
    // Revoked by the start of its hash, as `token list` shows it.
    let left = team
        .dockwright(plugins.path(), &["token", "list", &team.name, "--json"])
        .json();
    let hash = left[0]["hash"].as_str().unwrap();
    let prefix = &hash["sha256:".len().."sha256:".len() + 12];
    team.dockwright(plugins.path(), &["token", "revoke", &team.name, prefix])
        .assert_ok();
    server
        .get("/v1/workflows", Some(&second))
        .error(401, "not valid");
    team.dockwright(plugins.path(), &["token", "revoke", &team.name, prefix])
        .assert_clean_failure("no token whose hash starts with");
    let none = team.dockwright(plugins.path(), &["token", "list", &team.name]);
    assert!(none.stdout.contains("has no tokens"), "{}", none.stdout);
}

#[test]
fn serve_settings_come_from_the_config_and_flags_override_them() {
    let plugins = serve_plugins();
    let team = Team::new("srv-conf");
    let path = team.home.join("dockwright.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, format!("[serve]\nmax_body = 100\n{text}")).unwrap();
    let token = token(&team, plugins.path(), &team);
    let body = serde_json::json!({ "workflow": "log", "params": { "message": "x".repeat(150) } });

    let from_config = Server::start(&team, plugins.path(), &[]);
    from_config
        .post("/v1/runs", &token, &body)
        .error(413, "larger than the 100 bytes");
    drop(from_config);

    let from_flag = Server::start(&team, plugins.path(), &["--max-body", "4096"]);
    let run = from_flag.post("/v1/runs", &token, &body);
    assert_ne!(run.status, 413, "{}", run.body);
}

/// Wait until `check` holds, giving up (failing) after a generous cap: this waits
/// for an outcome, it does not time one.
pub(super) fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let give_up = Instant::now() + Duration::from_secs(120);
    while !check() {
        assert!(Instant::now() < give_up, "{what} did not happen");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Read until the server closes the connection; panics if it does not (the read
/// timeout is a give-up cap, far above the server's timeouts). A reset counts as a
/// close: a server that closes a connection before reading what the client sent makes
/// the kernel answer with one.
fn closed_by_server(mut stream: TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    let mut got = Vec::new();
    match stream.read_to_end(&mut got) {
        Ok(_) => got,
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => got,
        Err(e) => panic!(
            "the server held the connection ({e}); read so far: {}",
            String::from_utf8_lossy(&got)
        ),
    }
}

/// A run over HTTP that waits (`?wait=true`) on a container of the team until the test
/// lets it end: its connection is busy being answered for as long as the test likes.
struct GatedRun {
    container: String,
    answer: std::thread::JoinHandle<Response>,
}

impl GatedRun {
    /// Start it, and return once the server lists it as running. The container carries
    /// the team's label, so the team removes it however the test ends.
    fn start(server: &Server, team: &Team, token: &str) -> GatedRun {
        let label = format!("dockwright.team={}", team.name);
        let container = docker(&[
            "run",
            "-d",
            "--label",
            &label,
            "dockwright/base:latest",
            "sh",
            "-c",
            "while [ ! -f /go ]; do sleep 0.2; done",
        ])
        .trim()
        .to_string();
        let body = run_body("wait", &[("container", &container)]).to_string();
        let (port, run_token) = (server.port, token.to_string());
        let answer = std::thread::spawn(move || {
            http(
                port,
                "POST",
                "/v1/runs",
                Some(&run_token),
                Some(body.as_bytes()),
                &[],
            )
        });
        eventually("the run is in flight", || {
            let listed = server.get("/v1/runs?limit=5", Some(token)).json();
            listed["runs"].as_array().is_some_and(|runs| {
                runs.iter()
                    .any(|r| r["workflow"] == "wait" && r["status"] == "running")
            })
        });
        GatedRun { container, answer }
    }

    /// Let the container exit, and take the run's answer.
    fn finish(self) -> Response {
        docker(&["exec", &self.container, "touch", "/go"]);
        self.answer.join().unwrap()
    }
}

#[test]
fn quiet_connections_are_closed_and_open_ones_capped() {
    let plugins = serve_plugins();
    let team = Team::new("srv-conn");
    let token = token(&team, plugins.path(), &team);
    let server = Server::start(
        &team,
        plugins.path(),
        &["--header-timeout", "4s", "--idle-timeout", "4s"],
    );
    let port = server.port;
    // Three quiet clients at once, each closed by the server: one connects and says
    // nothing, one starts a head and never finishes it, one keeps the connection alive
    // after an answer and goes quiet. The last asks again if the server closed it before
    // its request arrived (a client stalled past the header timeout, as a loaded machine
    // can stall one): what it checks is the close after an answer.
    let silent = std::thread::spawn(move || {
        let silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
        closed_by_server(silent)
    });
    let slow = std::thread::spawn(move || {
        let mut slow = TcpStream::connect(("127.0.0.1", port)).unwrap();
        slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .unwrap();
        closed_by_server(slow)
    });
    let kept = std::thread::spawn(move || {
        for _ in 0..5 {
            let mut kept = TcpStream::connect(("127.0.0.1", port)).unwrap();
            kept.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let answer = closed_by_server(kept);
            if !answer.is_empty() {
                return String::from_utf8_lossy(&answer).to_string();
            }
        }
        panic!("the server never answered a kept-alive request");
    });
    assert!(silent.join().unwrap().is_empty());
    assert!(slow.join().unwrap().is_empty());
    let answer = kept.join().unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // An answer that takes longer than both timeouts is not cut off: the run waits for a
    // container that exits only when the test says, and the test says so only after a
    // connection opened during the run was closed for its timeout (so the run has outlasted
    // it, by order, not by a clock).
    let gated = GatedRun::start(&server, &team, &token);
    let during = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert!(closed_by_server(during).is_empty());
    let waited = gated.finish();
    assert_eq!(waited.status, 201, "{}", waited.body);
    assert_eq!(waited.json()["status"], "ok", "{}", waited.body);
    assert_eq!(
        waited.json()["outputs"]["exit-code"],
        "0",
        "{}",
        waited.body
    );
}

#[test]
fn a_slowloris_past_the_cap_does_not_keep_clients_out() {
    let plugins = serve_plugins();
    let team = Team::new("srv-loris");
    let token = token(&team, plugins.path(), &team);
    let cap: u32 = 4;
    let server = Server::start(
        &team,
        plugins.path(),
        // A header timeout far past the client's give-up cap: a 200 below cannot come
        // from the flood timing out, only from connections giving their places up.
        &[
            "--max-connections",
            &cap.to_string(),
            "--header-timeout",
            "600s",
        ],
    );
    let port = server.port;
    // A client whose answer takes a while: a run waited for, on a container that exits
    // only when the test says.
    let gated = GatedRun::start(&server, &team, &token);
    // Three times the cap in connections that send half a request head and stop. The
    // server accepts connections in the order they came, so each new one takes the place
    // of the oldest unfinished head.
    let loris: Vec<TcpStream> = (0..3 * cap)
        .map(|_| {
            let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            c.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            c
        })
        .collect();
    // A real client gets its answer: not a 503, and not after the flood's header timeout.
    let health = server.get("/healthz", None);
    assert_eq!(health.status, 200, "{}", health.body);
    // The oldest of the flood were closed to make room, by the server, with nothing
    // answered: every one but the newest `cap - 1` (the waited run holds one place).
    for (i, c) in loris.into_iter().enumerate().take(2 * cap as usize + 1) {
        let got = closed_by_server(c);
        assert!(
            got.is_empty(),
            "connection {i}: {}",
            String::from_utf8_lossy(&got)
        );
    }
    let metrics = server.get("/metrics", None).body;
    let evicted = series(&metrics, "dockwright_connections_evicted_total").unwrap_or(0.0);
    assert!(evicted >= f64::from(2 * cap + 1), "{metrics}");
    // The run's connection was never chosen: its answer comes once the container exits.
    let waited = gated.finish();
    assert_eq!(waited.status, 201, "{}", waited.body);
    assert_eq!(waited.json()["status"], "ok", "{}", waited.body);
}

/// The value of the series `name{labels}` in a scrape, if it is there.
fn series(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
fn metrics_runs_list_calls_and_the_page_after_a_few_runs() {
    let plugins = serve_plugins();
    let team = Team::with_policy(
        "srv-metrics",
        "images = [\"dockwright/*\"]\nmax_containers = 10\nmax_running = 10",
    );
    let token = token(&team, plugins.path(), &team);
    let server = Server::start(&team, plugins.path(), &["--max-team-runs", "1"]);
    let t = &team.name;

    let ok = server.post(
        "/v1/runs",
        &token,
        &run_body("create", &[("image", "dockwright/base:latest")]),
    );
    assert_eq!(ok.json()["status"], "ok", "{}", ok.body);
    let denied = server.post(
        "/v1/runs",
        &token,
        &run_body("create", &[("image", "elsewhere/thing:1")]),
    );
    assert_eq!(denied.json()["status"], "failed", "{}", denied.body);
    let denied_id = denied.json()["id"].as_str().unwrap().to_string();
    let block = server.post(
        "/v1/runs?wait=false",
        &token,
        &run_body("block", &[("image", "dockwright/base")]),
    );
    assert_eq!(block.status, 202, "{}", block.body);
    let block_id = block.json()["id"].as_str().unwrap().to_string();
    server
        .post(
            "/v1/runs?wait=false",
            &token,
            &run_body("block", &[("image", "dockwright/base")]),
        )
        .error(429, "1 runs in flight");

    let scrape = server.get("/metrics", None);
    assert_eq!(scrape.status, 200);
    assert!(
        scrape
            .header("content-type")
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{:?}",
        scrape.headers
    );
    let text = scrape.body;
    for (name, want) in [
        (
            format!("dockwright_runs_started_total{{team=\"{t}\",workflow=\"create\"}}"),
            2.0,
        ),
        (
            format!("dockwright_runs_started_total{{team=\"{t}\",workflow=\"block\"}}"),
            1.0,
        ),
        (
            format!(
                "dockwright_runs_ended_total{{team=\"{t}\",workflow=\"create\",status=\"ok\"}}"
            ),
            1.0,
        ),
        (
            format!(
                "dockwright_runs_ended_total{{team=\"{t}\",workflow=\"create\",status=\"failed\"}}"
            ),
            1.0,
        ),
        (
            format!("dockwright_run_duration_seconds_count{{team=\"{t}\",workflow=\"create\"}}"),
            2.0,
        ),
        (
            format!("dockwright_denials_total{{team=\"{t}\",rule=\"images\"}}"),
            1.0,
        ),
        (
            format!("dockwright_runs_throttled_total{{team=\"{t}\"}}"),
            1.0,
        ),
        (format!("dockwright_runs_in_flight{{team=\"{t}\"}}"), 1.0),
        (
            "dockwright_engine_reachable{engine=\"default\"}".to_string(),
            1.0,
        ),
        (
            "dockwright_http_responses_total{code=\"429\"}".to_string(),
            1.0,
        ),
    ] {
        assert_eq!(series(&text, &name), Some(want), "{name} in:\n{text}");
    }

    // The block run's teardown ends it; in flight goes back to 0.
    let down = server.delete(&format!("/v1/runs/{block_id}"), &token);
    assert_eq!(down.status, 200, "{}", down.body);
    let text = server.get("/metrics", None).body;
    assert_eq!(
        series(&text, &format!("dockwright_runs_in_flight{{team=\"{t}\"}}")),
        Some(0.0),
        "{text}"
    );

    // The team's runs, newest first, and one with its calls.
    let listed = server.get("/v1/runs?limit=2", Some(&token)).json();
    let ids: Vec<&str> = listed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [block_id.as_str(), denied_id.as_str()], "{listed}");
    server
        .get("/v1/runs?limit=0", Some(&token))
        .error(400, "`limit` must be a whole number from 1 to 200");
    // By status, a query of the journal: the denied run failed.
    let failed = server
        .get("/v1/runs?status=failed&limit=200", Some(&token))
        .json();
    let failed: Vec<&Value> = failed["runs"].as_array().unwrap().iter().collect();
    assert!(failed.iter().all(|r| r["status"] == "failed"), "{failed:?}");
    assert!(
        failed.iter().any(|r| r["id"] == denied_id.as_str()),
        "{failed:?}"
    );
    server.get("/v1/runs?status=lost", Some(&token)).error(
        400,
        "`status` must be one of ok, failed, died, running, not `lost`",
    );
    let calls = server
        .get(&format!("/v1/runs/{denied_id}/calls"), Some(&token))
        .json();
    assert_eq!(calls["params"]["image"], "elsewhere/thing:1", "{calls}");
    let call = calls["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["op"] == "create-container")
        .unwrap_or_else(|| panic!("no create call: {calls}"));
    assert_eq!(
        (&call["decision"], &call["rule"]),
        (&Value::from("denied"), &Value::from("images"))
    );
    server
        .get(
            &format!("/v1/runs/{denied_id}/calls"),
            Some("dwt_not_a_token"),
        )
        .error(401, "not valid");

    // The page, with its policy.
    let page = server.get("/", None);
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains("<script src=\"/page.js\""),
        "{}",
        page.body
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    for file in ["/page.js", "/page.css"] {
        let got = server.get(file, None);
        assert_eq!(got.status, 200, "{file}");
        assert_eq!(got.header("x-content-type-options"), Some("nosniff"));
    }
}

#[test]
fn json_logs_have_one_line_per_request_and_per_run() {
    let plugins = serve_plugins();
    let team = Team::new("srv-logs");
    let token = token(&team, plugins.path(), &team);
    let server = Server::start(&team, plugins.path(), &["--log-format", "json"]);
    let run = server.post(
        "/v1/runs",
        &token,
        &run_body("log", &[("message", "hello from the probe")]),
    );
    assert_eq!(run.json()["status"], "ok", "{}", run.body);
    let id = run.json()["id"].as_str().unwrap().to_string();
    assert_eq!(server.get("/healthz", None).status, 200);

    // Each line is one JSON object; the ones for this request and run come in time.
    let lines = |log: &str| -> Vec<Value> {
        log.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    };
    let find = |lines: &[Value], check: &dyn Fn(&Value) -> bool| lines.iter().any(check);
    eventually("the request and run log lines", || {
        let lines = lines(&server.log());
        find(&lines, &|l| {
            l["message"] == "request" && l["path"] == "/healthz" && l["status"] == 200
        }) && find(&lines, &|l| {
            l["message"] == "run ended" && l["run"] == id.as_str()
        })
    });
    let lines = lines(&server.log());
    // While it starts, the server says what it is doing, in this order: the plugins it
    // found, each one loaded (compiled now or from the cache), then where it listens.
    let position = |what: &dyn Fn(&str) -> bool| {
        lines
            .iter()
            .position(|l| l["message"].as_str().is_some_and(what))
    };
    let found = position(&|m| m.starts_with("starting: ") && m.contains("plugin file(s) found"))
        .expect("a line saying how many plugin files were found");
    let loaded = position(&|m| {
        m.starts_with("plugin `probe` ")
            && (m.contains(" compiled from ") || m.contains(" loaded from the compile cache"))
    })
    .expect("a line for the probe plugin");
    let listening =
        position(&|m| m.starts_with("listening on http://")).expect("a `listening on` line");
    assert!(found < loaded && loaded < listening, "{lines:?}");
    let posted: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "request" && l["path"] == "/v1/runs")
        .collect();
    assert_eq!(posted.len(), 1, "{posted:?}");
    assert_eq!(posted[0]["method"], "POST");
    assert_eq!(posted[0]["status"], 201);
    assert_eq!(posted[0]["level"], "INFO");
    assert!(posted[0]["ms"].is_u64(), "{}", posted[0]);
    let started = lines
        .iter()
        .find(|l| l["message"] == "run started" && l["run"] == id.as_str())
        .expect("a `run started` line");
    assert_eq!(started["team"], team.name.as_str());
    assert_eq!(started["workflow"], "log");
    let ended = lines
        .iter()
        .find(|l| l["message"] == "run ended" && l["run"] == id.as_str())
        .unwrap();
    assert_eq!(ended["status"], "ok");
    // No token reaches the log.
    assert!(!server.log().contains(&token));
}

#[test]
fn a_server_started_before_its_engine_works_once_the_engine_answers() {
    images();
    let plugins = plugin_dir(&[test_plugin("probe.wasm")]);
    let team = Team::new("srv-late");
    let key = token(&team, plugins.path(), &team);
    // The engine's socket is not there yet when the server starts.
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("docker.sock");
    let host = format!("unix://{}", socket.display());
    let server = Server::launch(&team, plugins.path(), &[], &[("DOCKER_HOST", &host)]);
    let health = server.get("/healthz", None);
    assert_eq!(health.status, 503, "{}", health.body);
    assert_eq!(
        health.json()["engine"]["reachable"],
        false,
        "{}",
        health.body
    );
    assert!(server.log().contains("starting anyway"), "{}", server.log());
    let early = server.post("/v1/runs", &key, &run_body("engine", &[]));
    assert_eq!(early.json()["status"], "failed", "{}", early.body);
    assert!(early.body.contains("engine-unavailable"), "{}", early.body);

    // The engine comes up (here: its socket appears): the next call reaches it, with the
    // API version negotiated then.
    std::os::unix::fs::symlink("/var/run/docker.sock", &socket).unwrap();
    let health = server.get("/healthz", None);
    assert_eq!(health.status, 200, "{}", health.body);
    let ran = server.post("/v1/runs", &key, &run_body("engine", &[]));
    assert_eq!(ran.json()["status"], "ok", "{}", ran.body);
    assert!(
        !ran.json()["outputs"]["api-version"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{}",
        ran.body
    );
}

/// An admin removes a team's network between two runs of a running server: the next
/// run does not use the id it had (the engine would take the create and fail its
/// start), but finds none and makes a new team network, and its container is on it.
#[test]
fn a_team_network_removed_under_a_running_server_is_made_again() {
    let plugins = serve_plugins();
    let team = Team::new("srv-netgone");
    configure(&team, &[], "images = [\"*\"]\n");
    let token = token(&team, plugins.path(), &team);
    let server = Server::start(&team, plugins.path(), &[]);
    let body = run_body("create", &[("image", "dockwright/base:latest")]).to_string();
    let first = post_run(server.port, &token, &body);
    assert_eq!(first.status, 201, "{}", first.json());
    let old = team.network();
    for id in team.containers() {
        docker(&["rm", "-f", &id]);
    }
    docker(&["network", "rm", &old]);

    let second = post_run(server.port, &token, &body);
    assert_eq!(second.status, 201, "{}", second.json());
    let new = team.network();
    assert_ne!(
        new, old,
        "a network the engine no longer has cannot be used again"
    );
    let made = team.containers();
    assert_eq!(made.len(), 1, "{made:?}");
    let joined = docker(&["inspect", "-f", "{{.HostConfig.NetworkMode}}", &made[0]]);
    assert_eq!(
        joined.trim(),
        new,
        "the container is on the team's new network"
    );
}
