//! The team's page in a real browser: headless Chromium driven over WebDriver
//! (chromedriver), against `dockwright serve` and the real engine. It logs in, runs
//! `team-env`, follows the URL it shows, sees the container listed, tears it down and
//! sees it gone, opens the run's calls, and checks that a plugin's markup stays text.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

use super::serve::{token, Server};
use crate::common::*;

/// How long any one step may take before the test gives up: a cap for a stuck
/// browser, far above what a step needs, not a timing assertion.
const GIVE_UP: Duration = Duration::from_secs(120);

/// A chromedriver child on a port of its own choosing; killed on drop.
struct Driver {
    child: Child,
    port: u16,
}

impl Driver {
    fn start() -> Driver {
        let program = std::env::var("DOCKWRIGHT_TEST_CHROMEDRIVER")
            .unwrap_or_else(|_| "chromedriver".to_string());
        // A group of its own: the browsers it starts go with it, also when a test fails
        // before it closes its session.
        use std::os::unix::process::CommandExt;
        let mut child = Command::new(&program)
            .process_group(0)
            .arg("--port=0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start `{program}` ({e}): apt-get install chromium chromium-driver")
            });
        // chromedriver says which port it took: "... started successfully on port 40321."
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut lines = stdout.lines();
        let port = lines
            .by_ref()
            .map_while(Result::ok)
            .find_map(|line| {
                let rest = line.split("started successfully on port ").nth(1)?;
                rest.trim_end_matches('.').trim().parse().ok()
            })
            .expect("chromedriver exited without saying its port");
        // Keep draining its output so it never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Driver { child, port }
    }

    /// A new headless Chromium session. `profile` is its own user-data directory,
    /// so no state is shared with another browser on the machine.
    async fn session(&self, profile: &Path) -> Client {
        let binary = std::env::var("DOCKWRIGHT_TEST_CHROMIUM")
            .unwrap_or_else(|_| "/usr/bin/chromium".to_string());
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": binary,
                "args": [
                    "--headless=new",
                    // Tests run as root, where Chromium's sandbox cannot start.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--window-size=1280,1750",
                    format!("--user-data-dir={}", profile.display()),
                ],
            },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!()
        };
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("chromedriver did not start a Chromium session")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // SAFETY: signalling the process group this test made for chromedriver.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Evaluate `expr` in the page until it gives something other than null, false or
/// an empty string, and return that.
async fn until(client: &Client, what: &str, expr: &str) -> Value {
    let script = format!("return ({expr});");
    let give_up = std::time::Instant::now() + GIVE_UP;
    loop {
        let value = client
            .execute(&script, vec![])
            .await
            .unwrap_or_else(|e| panic!("evaluating `{expr}`: {e}"));
        let ready = match &value {
            Value::Null | Value::Bool(false) => false,
            Value::String(s) => !s.is_empty(),
            _ => true,
        };
        if ready {
            return value;
        }
        assert!(std::time::Instant::now() < give_up, "{what} did not happen");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The value of `expr` in the page now.
async fn eval(client: &Client, expr: &str) -> Value {
    client
        .execute(&format!("return ({expr});"), vec![])
        .await
        .unwrap_or_else(|e| panic!("evaluating `{expr}`: {e}"))
}

/// Click like a user: the element is scrolled to the middle of the window first,
/// clear of the sticky top bar. The page redraws its lists as runs change: an
/// element redrawn between finding and clicking it is found again, as a user would
/// click the button now on the screen (a bounded number of times, not a clock).
async fn click(client: &Client, css: &str) {
    const ATTEMPTS: usize = 20;
    for attempt in 1..=ATTEMPTS {
        let element = client
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}` on the page: {e}"));
        let scrolled = client
            .execute(
                "arguments[0].scrollIntoView({ block: 'center' });",
                vec![serde_json::to_value(&element).unwrap()],
            )
            .await;
        let result = match scrolled {
            Ok(_) => element.click().await.map(|_| ()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => return,
            Err(e) if attempt < ATTEMPTS && e.to_string().contains("stale element") => continue,
            Err(e) => panic!("cannot click `{css}`: {e}"),
        }
    }
}

async fn type_into(client: &Client, css: &str, text: &str) {
    let input = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no `{css}` on the page: {e}"));
    input.clear().await.unwrap();
    input.send_keys(text).await.unwrap();
}

/// The port and path of an `http://host:port/path` address.
fn port_and_path(url: &str) -> (u16, &str) {
    let rest = url
        .strip_prefix("http://")
        .unwrap_or_else(|| panic!("not an http URL: {url}"));
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let port = authority
        .rsplit_once(':')
        .and_then(|(_, p)| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {url}"));
    (port, if path.is_empty() { "/" } else { path })
}

/// Start a run from the workflow's form and wait until it has ended; returns the
/// run id and its status as the page shows them.
async fn run_from_form(client: &Client, workflow: &str) -> (String, String) {
    let before = eval(client, "document.getElementById('run-id').textContent").await;
    click(
        client,
        &format!("form.workflow[data-workflow='{workflow}'] button.run-button"),
    )
    .await;
    let id = until(
        client,
        &format!("the {workflow} run to get an id"),
        &format!(
            "(t => t !== {before} && t)(document.getElementById('run-id').textContent)",
            before = before
        ),
    )
    .await;
    let status = until(
        client,
        &format!("the {workflow} run to end"),
        "(s => s !== 'starting' && s !== 'running' && s)\
         (document.getElementById('run-status').textContent)",
    )
    .await;
    (
        id.as_str().unwrap().to_string(),
        status.as_str().unwrap().to_string(),
    )
}

#[test]
fn a_team_member_runs_an_environment_from_the_page_and_tears_it_down() {
    images();
    let plugins = plugin_dir(&[
        example_plugin("team_env.wasm"),
        example_plugin("inventory.wasm"),
    ]);
    let team = Team::new("page");
    let token = token(&team, plugins.path(), &team);
    let server = Server::start(&team, plugins.path(), &[]);
    // The hostile plugin is served on its own, so the page above is what a team sees.
    let hostile = plugin_dir(&[test_plugin("hostile.wasm")]);
    let hostile_server = Server::start(&team, hostile.path(), &[]);
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let page = format!("http://127.0.0.1:{}/", server.port);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = driver.session(profile.path()).await;
        client.goto(&page).await.unwrap();

        // A wrong token is refused with the server's reason, and the page stays closed.
        type_into(&client, "#token", "dwt_not-a-token-anyone-made").await;
        click(&client, "#login").await;
        let refused = until(
            &client,
            "the refusal of a wrong token",
            "!document.getElementById('login-error').hidden && \
             document.getElementById('login-error').textContent",
        )
        .await;
        assert!(
            refused.as_str().unwrap().contains("token is not valid"),
            "{refused}"
        );
        assert_eq!(eval(&client, "document.getElementById('main').hidden").await, true);

        // The right token opens the team's page; it is kept for the session, not in the URL.
        type_into(&client, "#token", &token).await;
        click(&client, "#login").await;
        until(
            &client,
            "the page to open",
            "!document.getElementById('main').hidden",
        )
        .await;
        assert_eq!(
            eval(&client, "document.getElementById('team').textContent").await,
            team.name.as_str()
        );
        assert!(!client.current_url().await.unwrap().as_str().contains("dwt_"));
        assert_eq!(
            eval(&client, "sessionStorage.length === 1 && localStorage.length").await,
            0
        );

        // The team-env form is made from its params: the required one marked, defaults filled.
        let form = "form.workflow[data-workflow='team-env']";
        until(
            &client,
            "the team-env form",
            &format!("document.querySelector(\"{form}\")"),
        )
        .await;
        let fields = eval(
            &client,
            &format!(
                "[...document.querySelectorAll(\"{form} .param\")].map(p => ({{\
                   name: p.querySelector('input').name, value: p.querySelector('input').value,\
                   required: p.querySelector('input').getAttribute('aria-required') === 'true',\
                   hint: (p.querySelector('.hint') || {{}}).textContent || '' }}))"
            ),
        )
        .await;
        let fields = fields.as_array().unwrap();
        let field = |name: &str| {
            fields
                .iter()
                .find(|f| f["name"] == name)
                .unwrap_or_else(|| panic!("no `{name}` field in {fields:?}"))
        };
        // The team is the token's: the run's context says it, nobody types it.
        assert_eq!(field("team")["required"], false);
        assert_eq!(field("team")["value"], "");
        assert_eq!(field("image")["required"], false);
        assert_eq!(field("image")["value"], "dockwright/web:latest");
        assert!(field("port")["hint"].as_str().unwrap().contains("container port"));

        // Run it and watch it: log lines arrive, then the URL, as a link that answers.
        let (run, status) = run_from_form(&client, "team-env").await;
        assert_eq!(status, "ok");
        let lines = eval(&client, "document.querySelectorAll('#run-log .line').length").await;
        assert!(lines.as_u64().unwrap() > 0, "no log lines shown");
        let href = until(
            &client,
            "the URL output as a link",
            "(a => a && a.href)(document.querySelector(\"#run-outputs-body .output[data-name='url'] a\"))",
        )
        .await;
        let href = href.as_str().unwrap();
        let (port, path) = port_and_path(href);
        let host_port = eval(
            &client,
            "document.querySelector(\"#run-outputs-body .output[data-name='host-port'] .value\").textContent",
        )
        .await;
        assert_eq!(host_port, port.to_string().as_str());
        let answer = http_get("127.0.0.1", port, path).unwrap();
        assert!(answer.contains(" 200 "), "{answer}");

        // The container is listed, running, with its port as a link, its run and plugin.
        let row = format!("#containers-body tr[data-run='{run}']");
        let listed = until(
            &client,
            "the environment's container in the list",
            &format!(
                "(r => r && {{ id: r.dataset.containerId, text: r.textContent,\
                   ports: [...r.querySelectorAll('.ports a')].map(a => a.href) }})\
                 (document.querySelector(\"{row}\"))"
            ),
        )
        .await;
        let text = listed["text"].as_str().unwrap();
        assert!(text.contains("running"), "{listed}");
        assert!(text.contains("team-env"), "{listed}");
        let ports = listed["ports"].as_array().unwrap();
        assert_eq!(ports.len(), 1, "{listed}");
        assert!(
            ports
                .iter()
                .any(|p| p.as_str().unwrap().ends_with(&format!(":{port}/"))),
            "{listed}"
        );
        let container = listed["id"].as_str().unwrap().to_string();
        assert_eq!(
            docker(&["ps", "-q", "--no-trunc", "--filter", &format!("id={container}")]).trim(),
            container
        );

        // The page as a team member sees it, for the README.
        let shot = client.screenshot().await.unwrap();
        std::fs::write(
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("page.png"),
            &shot,
        )
        .unwrap();

        // The run's calls: params, each host call with its decision, how it ended.
        click(&client, "#refresh-runs").await;
        until(
            &client,
            "the run in the recent runs",
            &format!("document.querySelector(\"#runs-body tr[data-run-id='{run}']\")"),
        )
        .await;
        click(&client, &format!("button.open-run[data-run='{run}']")).await;
        let detail = until(
            &client,
            "the run's calls",
            &format!(
                "document.getElementById('detail-id').textContent === '{run}' &&\
                 document.querySelectorAll('#detail-calls tr.call').length > 0 && {{\
                   params: document.getElementById('detail-params').textContent,\
                   calls: [...document.querySelectorAll('#detail-calls tr.call')]\
                     .map(r => [...r.cells].map(c => c.textContent)),\
                   end: document.getElementById('detail-end').textContent }}"
            ),
        )
        .await;
        assert!(
            detail["params"]
                .as_str()
                .unwrap()
                .contains("image=dockwright/web:latest"),
            "{detail}"
        );
        // No team typed: the environment is the token's team's.
        let env = docker(&["inspect", "--format", "{{json .Config.Env}}", &container]);
        assert!(env.contains(&format!("\"TEAM={}\"", team.name)), "{env}");
        let calls = detail["calls"].as_array().unwrap();
        assert!(
            calls
                .iter()
                .any(|c| c[1] == "create-container" && c[3] == "allowed"),
            "{detail}"
        );
        assert!(detail["end"].as_str().unwrap().contains("ok"), "{detail}");

        // Tear the run's environment down: the row goes, and so does the container.
        click(&client, &format!("button.teardown[data-run='{run}']")).await;
        until(
            &client,
            "the torn-down container to leave the list",
            &format!("!document.querySelector(\"{row}\")"),
        )
        .await;
        assert_eq!(
            docker(&["ps", "-aq", "--filter", &format!("id={container}")]).trim(),
            ""
        );
        // The run says so in the recent runs: it went ok, and it was torn down since.
        click(&client, "#refresh-runs").await;
        until(
            &client,
            "the run marked torn down",
            &format!(
                "(r => r && r.querySelector('.status-torn-down') !== null)\
                 (document.querySelector(\"#runs-body tr[data-run-id='{run}']\"))"
            ),
        )
        .await;

        // Everything the plugin says is shown as text: markup in outputs, log lines,
        // descriptions and defaults runs nothing and makes no elements.
        client
            .goto(&format!("http://127.0.0.1:{}/", hostile_server.port))
            .await
            .unwrap();
        type_into(&client, "#token", &token).await;
        click(&client, "#login").await;
        until(
            &client,
            "the hostile plugin's markup form",
            "document.querySelector(\"form.workflow[data-workflow='markup']\")",
        )
        .await;
        let (_, status) = run_from_form(&client, "markup").await;
        assert_eq!(status, "ok");
        let shown = eval(
            &client,
            "({ script: document.querySelector(\"#run-outputs-body .output[data-name='script'] .value\").textContent,\
                image: document.querySelector(\"#run-outputs-body .output[data-name='image'] .value\").textContent,\
                link: document.querySelectorAll(\"#run-outputs-body .output[data-name='link'] a\").length,\
                log: document.getElementById('run-log').textContent,\
                description: document.querySelector(\"form.workflow[data-workflow='markup'] .description\").textContent,\
                scripts: document.querySelectorAll('body script').length,\
                planted: document.querySelectorAll('main img, main b, main script').length,\
                pwned: typeof window.pwned })",
        )
        .await;
        assert_eq!(shown["script"], "<script>window.pwned=5</script>", "{shown}");
        assert_eq!(shown["image"], "<img src=x onerror=\"window.pwned=6\">", "{shown}");
        assert_eq!(shown["link"], 0, "a javascript: output became a link: {shown}");
        let log = shown["log"].as_str().unwrap();
        assert!(log.contains("<script>window.pwned=4</script>"), "{shown}");
        assert!(log.contains("<script>window.pwned=3</script>"), "{shown}");
        assert!(
            shown["description"].as_str().unwrap().contains("<b onmouseover="),
            "{shown}"
        );
        assert_eq!(shown["scripts"], 0, "{shown}");
        assert_eq!(shown["planted"], 0, "{shown}");
        assert_eq!(shown["pwned"], "undefined", "{shown}");

        // A token revoked while the page is open logs the page out with the reason.
        let revoke = team.dockwright(plugins.path(), &["token", "revoke", &team.name, &token]);
        revoke.assert_ok();
        click(&client, "#refresh-runs").await;
        let out = until(
            &client,
            "the page to log out after the token was revoked",
            "!document.getElementById('login-section').hidden &&\
             document.getElementById('login-error').textContent",
        )
        .await;
        assert!(out.as_str().unwrap().contains("token is not valid"), "{out}");
        assert_eq!(eval(&client, "sessionStorage.length").await, 0);

        client.close().await.unwrap();
    });
}

#[test]
fn the_page_shows_time_left_extends_within_the_max_and_shows_usage() {
    images();
    let plugins = plugin_dir(&[example_plugin("team_env.wasm")]);
    let team = Team::with_policy(
        "page-life",
        &format!("{PERMISSIVE}\nlifetime = {{ default = \"2h\", max = \"3h\", warn = \"10m\" }}\n"),
    );
    let token = token(&team, plugins.path(), &team);
    let server = Server::start(&team, plugins.path(), &[]);
    let made = server.post("/v1/runs", &token, &json!({ "workflow": "team-env" }));
    assert_eq!(made.status, 201, "{}", made.body);
    let run = made.json()["id"].as_str().unwrap().to_string();
    let first = made.json()["expires"].as_str().unwrap().to_string();
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let page = format!("http://127.0.0.1:{}/", server.port);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = driver.session(profile.path()).await;
        client.goto(&page).await.unwrap();
        type_into(&client, "#token", &token).await;
        click(&client, "#login").await;
        let row = format!("#runs-body tr[data-run-id='{run}']");
        // The time left, about two hours.
        let left = until(
            &client,
            "the run's time left",
            &format!("document.querySelector(\"{row} .lifetime .left\")?.textContent"),
        )
        .await;
        let left = left.as_str().unwrap().to_string();
        assert!(left.starts_with("1h") || left.starts_with("2h"), "{left}");
        // Extend by an hour: within the max, and the expiry the API shows moves.
        client
            .execute(
                &format!("document.querySelector(\"{row} select.extend-by\").value = '1h';"),
                vec![],
            )
            .await
            .unwrap();
        click(&client, &format!("{row} button.extend")).await;
        until(
            &client,
            "the extension to show",
            &format!(
                "(t => t && t !== {before} && t)\
                 (document.querySelector(\"{row} .lifetime .left\")?.textContent)",
                before = json!(left)
            ),
        )
        .await;
        let shown = server.get(&format!("/v1/runs/{run}"), Some(&token)).json();
        assert!(
            shown["expires"].as_str().unwrap() > first.as_str(),
            "{shown}"
        );
        // A day more is past the max: the page says so with the max named.
        client
            .execute(
                &format!("document.querySelector(\"{row} select.extend-by\").value = '1d';"),
                vec![],
            )
            .await
            .unwrap();
        click(&client, &format!("{row} button.extend")).await;
        let refused = until(
            &client,
            "the refusal past the max",
            "document.getElementById('runs-error').textContent",
        )
        .await;
        assert!(
            refused.as_str().unwrap().contains("lifetime max of 3h"),
            "{refused}"
        );
        // The team's usage lists the workflow it ran.
        let usage = until(
            &client,
            "the team's usage",
            "[...document.querySelectorAll('#usage-body tr')].map(r => r.textContent).join('|')",
        )
        .await;
        let usage = usage.as_str().unwrap();
        assert!(
            usage.contains("team-env") && usage.contains("All workflows"),
            "{usage}"
        );
        client.close().await.unwrap();
    });
}

/// The organization's provider's login and consent pages, filled in as `user`. The
/// browser moves between the page and the provider's pages meanwhile: every wait reads
/// what may not be there (`?.`), and waits on.
async fn provider_login(client: &Client, user: &str) {
    until(
        client,
        "the provider's login form",
        "document.querySelector('input[name=\"login\"]')",
    )
    .await;
    type_into(client, "input[name='login']", user).await;
    type_into(client, "input[name='password']", "any").await;
    click(client, "button[type='submit']").await;
    until(
        client,
        "the provider's consent form",
        "document.querySelector('input[name=\"prompt\"][value=\"consent\"]')",
    )
    .await;
    click(client, "button[type='submit']").await;
}

#[test]
fn a_person_signs_in_with_the_provider_runs_and_signs_out() {
    images();
    let dir = tempfile::tempdir().unwrap();
    let provider = super::oidc::Provider::start(0, &dir.path().join("keys.json"));
    let (blue, _green, _red) = super::oidc::teams(&provider.issuer, 5);
    let plugins = plugin_dir(&[example_plugin("team_env.wasm")]);
    let server = Server::start(&blue, plugins.path(), &[]);
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let page = format!("http://127.0.0.1:{}/", server.port);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = driver.session(profile.path()).await;
        client.goto(&page).await.unwrap();
        until(
            &client,
            "the sign-in button",
            "document.getElementById('sso')?.hidden === false",
        )
        .await;
        click(&client, "#sso-login").await;
        provider_login(&client, "alice").await;
        // Back on the page, signed in: who and for which team, with the code gone
        // from the address and the ID token kept for the tab only.
        let user = until(
            &client,
            "the person's name",
            "document.getElementById('user')?.textContent",
        )
        .await;
        assert_eq!(user, "alice@example.test");
        assert_eq!(
            eval(&client, "document.getElementById('team').textContent").await,
            blue.name.as_str()
        );
        assert_eq!(eval(&client, "window.location.search").await, "");
        let kept = eval(&client, "sessionStorage.getItem('dockwright.token')").await;
        assert_eq!(kept.as_str().unwrap().split('.').count(), 3, "{kept}");
        // A run, listed with who started it.
        let (run, status) = run_from_form(&client, "team-env").await;
        assert_eq!(status, "ok");
        let by = until(
            &client,
            "the run's row",
            &format!("document.querySelector(\"#runs-body tr[data-run-id='{run}']\")?.textContent"),
        )
        .await;
        assert!(by.as_str().unwrap().contains("alice@example.test"), "{by}");
        // Signing out forgets the token.
        click(&client, "#logout").await;
        until(
            &client,
            "the sign-in again",
            "document.getElementById('login-section')?.hidden === false",
        )
        .await;
        assert_eq!(
            eval(&client, "sessionStorage.getItem('dockwright.token')").await,
            Value::Null
        );
        // A person in no team is told so, in words.
        client.delete_all_cookies().await.unwrap();
        click(&client, "#sso-login").await;
        provider_login(&client, "carol").await;
        let error = until(
            &client,
            "the no-team message",
            "document.getElementById('login-error')?.textContent",
        )
        .await;
        assert!(
            error
                .as_str()
                .unwrap()
                .contains("none of your groups is in a team"),
            "{error}"
        );
        assert!(
            error.as_str().unwrap().contains("carol@example.test"),
            "{error}"
        );
        client.close().await.unwrap();
    });
    let started = blue.journal();
    let start = started.iter().find(|e| e["event"] == "run-start").unwrap();
    assert_eq!(start["user"], "alice");
}
