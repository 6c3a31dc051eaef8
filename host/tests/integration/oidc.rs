//! People signing in with the organization's OpenID provider: a real one
//! (`oidc-provider`, started with Node from host/tests/oidc), whose tokens are got
//! through its real authorization code flow with PKCE. Its tokens are accepted;
//! expired ones, others' audiences, unsigned, HMAC-confused and foreign-signed ones
//! are refused with words that say why; a rotated key is picked up; people act for
//! the teams of their groups; the journal, labels and listings name them; and one
//! person's quota holds under ten runs at once.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

use super::serve::{http, run_body, runs_at_once, serve_plugins, token, Response, Server};
use crate::common::*;

fn fixture() -> PathBuf {
    let dir = workspace().join("host/tests/oidc");
    assert!(
        dir.join("node_modules/oidc-provider").is_dir(),
        "the test OpenID provider is not installed: run `npm ci` in {} (scripts/test does)",
        dir.display()
    );
    dir
}

fn node(args: &[&str]) -> String {
    let out = Command::new("node")
        .args(args)
        .current_dir(fixture())
        .output()
        .expect("cannot run node: install Node.js 20 or newer");
    assert!(
        out.status.success(),
        "node {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// An `oidc-provider` child on loopback; killed on drop.
pub(super) struct Provider {
    child: Child,
    pub(super) issuer: String,
}

impl Provider {
    /// Start one on `port` (0: any) signing with the first key of `keys` (made when
    /// missing).
    pub(super) fn start(port: u16, keys: &Path) -> Provider {
        let mut child = Command::new("node")
            .args(["provider.mjs", "--port", &port.to_string(), "--keys"])
            .arg(keys)
            .current_dir(fixture())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("cannot start node provider.mjs");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let issuer = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| l.strip_prefix("issuer ").map(String::from))
            .expect("the provider exited without saying its issuer");
        std::thread::spawn(move || lines.for_each(drop));
        Provider { child, issuer }
    }

    pub(super) fn port(&self) -> u16 {
        self.issuer.rsplit(':').next().unwrap().parse().unwrap()
    }

    /// `user`'s ID token for `client`, through the provider's login and consent.
    pub(super) fn login(&self, client: &str, user: &str) -> String {
        node(&[
            "login.mjs",
            "--issuer",
            &self.issuer,
            "--client",
            client,
            "--redirect",
            "http://127.0.0.1:45678/",
            "--user",
            user,
        ])
    }
}

impl Drop for Provider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `[auth.oidc]` section for `issuer`.
pub(super) fn auth_section(issuer: &str) -> String {
    format!(
        "[auth.oidc]\nissuer = \"{issuer}\"\nclient_id = \"dockwright\"\nleeway = \"1s\"\n\
         jwks_refresh = \"1h\"\nscopes = [\"openid\", \"email\", \"profile\", \"groups\"]\n"
    )
}

/// Teams blue (eng-blue), green (eng-green) and red (eng-red) in blue's config, with
/// `[auth.oidc]` for `issuer`; blue caps each person at `per_user` containers.
pub(super) fn teams(issuer: &str, per_user: u32) -> (Team, Team, Team) {
    let (blue, green, red) = (
        Team::new("oi-blue"),
        Team::new("oi-green"),
        Team::new("oi-red"),
    );
    let text = format!(
        "{}\n[teams.{}]\n{PERMISSIVE}\ngroups = [\"eng-blue\"]\nmax_containers_per_user = {per_user}\n\
         [teams.{}]\n{PERMISSIVE}\ngroups = [\"eng-green\"]\n[teams.{}]\n{PERMISSIVE}\ngroups = [\"eng-red\"]\n",
        auth_section(issuer),
        blue.name,
        green.name,
        red.name
    );
    std::fs::write(blue.home.join("dockwright.toml"), text).unwrap();
    (blue, green, red)
}

fn get_as(server: &Server, path: &str, token: &str, team: Option<&str>) -> Response {
    let extra: Vec<(&str, &str)> = team.map(|t| ("X-Dockwright-Team", t)).into_iter().collect();
    http(server.port, "GET", path, Some(token), None, &extra)
}

/// The claims of a token, unverified (what the test asked the provider for).
fn claims(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn tokens_of_the_provider_are_checked_and_people_act_for_their_teams() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("keys.json");
    let mut provider = Provider::start(0, &keys);
    let (blue, green, red) = teams(&provider.issuer, 3);
    let plugins = serve_plugins();
    let server = Server::start(&blue, plugins.path(), &[]);

    // A person in one team acts for it without naming it.
    let alice = provider.login("dockwright", "alice");
    let me = get_as(&server, "/v1/me", &alice, None);
    assert_eq!(me.status, 200, "{}", me.body);
    let me = me.json();
    assert_eq!(
        (&me["kind"], &me["user"], &me["name"], &me["teams"]),
        (
            &json!("person"),
            &json!("alice"),
            &json!("alice@example.test"),
            &json!([blue.name])
        )
    );
    let workflows = get_as(&server, "/v1/workflows", &alice, None);
    assert_eq!(workflows.status, 200, "{}", workflows.body);
    assert_eq!(workflows.json()["team"], json!(blue.name));
    // ... and not for a team that is not theirs.
    get_as(&server, "/v1/workflows", &alice, Some(&green.name)).error(403, "does not act for team");

    // A token for another client of the same provider is for another audience.
    let other = provider.login("other", "alice");
    get_as(&server, "/v1/workflows", &other, None).error(401, "audience");

    // Forged from a real token's claims: unsigned, HMAC keyed with the provider's
    // public key, signed by a key of the attacker's claiming the provider's key id.
    let forge = |how: &str, extra: &[&str]| {
        let mut args = vec!["forge.mjs", "--token", alice.as_str(), "--as", how];
        args.extend_from_slice(extra);
        node(&args)
    };
    let jwks = format!("{}/jwks", provider.issuer);
    for (forged, why) in [
        (forge("none", &[]), "alg: none"),
        (forge("hmac", &["--jwks", &jwks]), "HS256"),
        (forge("foreign", &[]), "signature does not verify"),
    ] {
        let answer = get_as(&server, "/v1/workflows", &forged, None);
        let error = answer.error(401, why);
        assert!(
            answer
                .header("www-authenticate")
                .is_some_and(|h| h.contains("invalid_token")),
            "{error}"
        );
    }

    // The provider rotates its key: a token signed with the new one is accepted
    // after the server fetches the keys again, once.
    let rotated = dir.path().join("keys2.json");
    node(&[
        "keys.mjs",
        "--kid",
        "k2",
        "--out",
        rotated.to_str().unwrap(),
        "--keep",
        keys.to_str().unwrap(),
    ]);
    let port = provider.port();
    drop(provider);
    provider = Provider::start(port, &rotated);
    let bob = provider.login("dockwright", "bob");
    assert_eq!(claims(&bob)["groups"], json!(["eng-blue", "eng-green"]));
    let me = get_as(&server, "/v1/me", &bob, None);
    assert_eq!(me.status, 200, "{}", me.body);
    // Another unknown key id right after is not fetched for again (once per
    // `jwks_refresh`), and is refused naming the key.
    let unknown = forge("foreign", &["--kid", "k-evil"]);
    get_as(&server, "/v1/workflows", &unknown, None)
        .error(401, "`k-evil`, which the issuer does not publish");
    // The token signed before the rotation still verifies (the old key is still published).
    assert_eq!(get_as(&server, "/v1/workflows", &alice, None).status, 200);

    // A person in two teams names one of theirs; naming none is asked to, naming a
    // third is refused.
    get_as(&server, "/v1/workflows", &bob, None).error(400, "X-Dockwright-Team");
    let green_answer = get_as(&server, "/v1/workflows", &bob, Some(&green.name));
    assert_eq!(green_answer.status, 200, "{}", green_answer.body);
    assert_eq!(green_answer.json()["team"], json!(green.name));
    let by_query = get_as(
        &server,
        &format!("/v1/runs?limit=1&team={}", green.name),
        &bob,
        None,
    );
    assert_eq!(by_query.status, 200, "{}", by_query.body);
    assert_eq!(by_query.json()["team"], json!(green.name));
    get_as(&server, "/v1/workflows", &bob, Some(&red.name)).error(403, "does not act for team");

    // A person of no team is signed in, and told why they can do nothing.
    let carol = provider.login("dockwright", "carol");
    let me = get_as(&server, "/v1/me", &carol, None);
    assert_eq!((me.status, &me.json()["teams"]), (200, &json!([])));
    get_as(&server, "/v1/workflows", &carol, None).error(403, "acts for no team");

    // A team token still works, for its own team only.
    let team_token = token(&blue, plugins.path(), &blue);
    assert_eq!(
        get_as(&server, "/v1/workflows", &team_token, None).status,
        200
    );
    get_as(&server, "/v1/workflows", &team_token, Some(&green.name))
        .error(403, "cannot act for team");
    let me = get_as(&server, "/v1/me", &team_token, None).json();
    assert_eq!(
        (&me["kind"], &me["user"]),
        (&json!("team-token"), &json!("team-token"))
    );

    // dave's tokens live one second: once past its `exp` and the one second of
    // leeway, it is refused as expired (the order is what is asserted, not a time).
    let dave = provider.login("dockwright", "dave");
    let exp = claims(&dave)["exp"].as_u64().unwrap();
    while unix_now() <= exp + 1 {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    get_as(&server, "/v1/workflows", &dave, None).error(401, "expired");
}

#[test]
fn people_are_journaled_labelled_listed_and_held_to_their_own_quota() {
    let dir = tempfile::tempdir().unwrap();
    let provider = Provider::start(0, &dir.path().join("keys.json"));
    let (blue, _green, _red) = teams(&provider.issuer, 3);
    let plugins = serve_plugins();
    let server = Server::start(
        &blue,
        plugins.path(),
        &["--max-runs", "16", "--max-team-runs", "16"],
    );
    let alice = provider.login("dockwright", "alice");
    let bob = provider.login("dockwright", "bob");

    // Ten runs of alice's at once, each making a container: her cap is three, the
    // team's is a hundred.
    let body = run_body("create", &[("image", "dockwright/base:latest")]).to_string();
    let port = server.port;
    let mut ok = Vec::new();
    for answer in runs_at_once(port, &alice, &body, 10) {
        let status = answer.status;
        let answer = answer.json();
        if answer["status"] == "ok" {
            assert_eq!(status, 201, "{answer}");
            ok.push(answer["id"].as_str().unwrap().to_string());
        } else {
            assert_eq!(
                (status, &answer["cause"]),
                (409, &json!("quota")),
                "{answer}"
            );
            let error = answer["error"].as_str().unwrap();
            assert!(
                error.contains("(policy rule `max_containers_per_user`)"),
                "{error}"
            );
        }
    }
    assert_eq!(ok.len(), 3, "{ok:?}");
    let hers = docker(&[
        "ps",
        "-aq",
        "--filter",
        &blue.filter(),
        "--filter",
        "label=dockwright.user=alice",
    ]);
    assert_eq!(hers.lines().count(), 3, "{hers}");
    // Her cap is hers: bob of the same team still makes one (in team blue, named).
    let extra = [("X-Dockwright-Team", blue.name.as_str())];
    let answer = http(
        port,
        "POST",
        "/v1/runs",
        Some(&bob),
        Some(body.as_bytes()),
        &extra,
    );
    assert_eq!(answer.status, 201, "{}", answer.body);
    let bobs_run = answer.json()["id"].as_str().unwrap().to_string();

    // The API lists who started each run.
    let listed = get_as(&server, "/v1/runs?limit=20", &alice, None).json();
    let runs = listed["runs"].as_array().unwrap();
    let by = |id: &str| runs.iter().find(|r| r["id"] == json!(id)).unwrap().clone();
    assert_eq!(
        (&by(&ok[0])["user"], &by(&ok[0])["user_name"]),
        (&json!("alice"), &json!("alice@example.test"))
    );
    assert_eq!(by(&bobs_run)["user"], json!("bob"));

    // bob tears down alice's environment: allowed in their team, journaled with both.
    let torn = http(
        port,
        "DELETE",
        &format!("/v1/runs/{}", ok[0]),
        Some(&bob),
        None,
        &extra,
    );
    assert_eq!(torn.status, 200, "{}", torn.body);
    let shown = blue.dockwright(plugins.path(), &["runs", "show", &ok[0]]);
    shown.assert_ok();
    assert!(
        shown
            .stdout
            .contains("user      alice@example.test (alice)"),
        "{}",
        shown.stdout
    );
    assert!(
        shown.stdout.contains("by bob@example.test (bob)"),
        "{}",
        shown.stdout
    );
    let journal = blue.journal();
    let start = journal
        .iter()
        .find(|e| e["event"] == "run-start" && e["run"] == json!(ok[0]))
        .unwrap();
    assert_eq!(
        (&start["user"], &start["user_name"]),
        (&json!("alice"), &json!("alice@example.test"))
    );
    let teardown = journal
        .iter()
        .find(|e| e["event"] == "torn-down" && e["run"] == json!(ok[0]))
        .unwrap();
    assert_eq!(teardown["by"], json!("bob@example.test (bob)"));

    // `runs --user` lists one person's runs, by id or by name.
    for who in ["alice", "alice@example.test"] {
        let listed = blue.dockwright(plugins.path(), &["runs", "--user", who, "--json"]);
        listed.assert_ok();
        let runs: Vec<Value> = serde_json::from_str(&listed.stdout).unwrap();
        assert_eq!(runs.len(), 10, "{who}: {}", listed.stdout);
        assert!(runs.iter().all(|r| r["user"] == json!("alice")));
    }
    let table = blue.dockwright(plugins.path(), &["runs", "--user", "bob"]);
    table.assert_ok();
    assert!(
        table.stdout.contains("USER") && table.stdout.contains("bob@example.test (bob)"),
        "{}",
        table.stdout
    );
    assert!(!table.stdout.contains("alice@"), "{}", table.stdout);
    // A CLI run is its local user's.
    let cli = blue.dockwright(
        plugins.path(),
        &["run", "create", "--param", "image=dockwright/base:latest"],
    );
    cli.assert_ok();
    let uid = format!("uid:{}", unsafe { libc::getuid() });
    let mine = blue.dockwright(plugins.path(), &["runs", "--user", &uid, "--json"]);
    let runs: Vec<Value> = serde_json::from_str(&mine.stdout).unwrap();
    assert_eq!(runs.len(), 1, "{}", mine.stdout);
}
