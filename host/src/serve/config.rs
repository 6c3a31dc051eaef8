//! The server's part of `dockwright.toml` (`[serve]`: how `dockwright serve` runs
//! where its flags do not say; `[auth.oidc]`, read by `oidc::settings`), and loading the config with it: every command loads
//! through [`load`], so a mistake in `[serve]` is refused as any other in the file.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::oidc::settings::OidcSettings;
use crate::config::values::{leaf, Count, Dur, Size};
use crate::config::Document;
use crate::run::config::{read_file, Config};

/// `[serve]`: the server's settings, each overridden by its flag.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServeSettings {
    pub listen: Option<std::net::SocketAddr>,
    pub max_runs: Option<u32>,
    pub max_team_runs: Option<u32>,
    pub drain_timeout: Option<Duration>,
    pub fair_window: Option<Duration>,
    pub max_body: Option<u64>,
    pub header_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub max_connections: Option<u32>,
    /// `[auth.oidc]`: the identity provider whose tokens the API accepts.
    pub oidc: Option<OidcSettings>,
}

impl ServeSettings {
    /// The section as `doc` gives it (key `serve`), with `[auth]`.
    pub fn read(doc: &Document) -> anyhow::Result<ServeSettings> {
        let raw: RawSection = doc.section()?;
        let mut settings = raw.serve.map(RawServe::settings).unwrap_or_default();
        settings.oidc = OidcSettings::read(doc)?;
        Ok(settings)
    }
}

/// The config in force (the file [`read_file`] finds, or the built-in one) and its
/// `[serve]`.
pub fn load(explicit: Option<&Path>, cwd: &Path) -> anyhow::Result<(Config, ServeSettings)> {
    match read_file(explicit, cwd)? {
        Some(file) => read(&file.document(cwd)?, cwd),
        None => Ok((Config::builtin(cwd), ServeSettings::default())),
    }
}

/// The config `text` describes and its `[serve]`. `source` is the file it came from:
/// errors name it, and relative paths in it are taken from its folder.
pub fn parse(text: &str, source: &Path, cwd: &Path) -> anyhow::Result<(Config, ServeSettings)> {
    read(&Document::parse(text, source, cwd)?, cwd)
}

fn read(doc: &Document, cwd: &Path) -> anyhow::Result<(Config, ServeSettings)> {
    // `Config::read` checks the top-level keys, `serve` among them, once.
    let config = Config::read(doc, cwd)?;
    Ok((config, ServeSettings::read(doc)?))
}

/// The section's shape: the top level lets the other sections' keys be.
#[derive(Deserialize)]
struct RawSection {
    serve: Option<RawServe>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table of server settings such as { listen = \"127.0.0.1:8080\", max_runs = 16 }"
)]
struct RawServe {
    listen: Option<Listen>,
    max_runs: Option<Count>,
    max_team_runs: Option<Count>,
    drain_timeout: Option<Dur>,
    fair_window: Option<Dur>,
    max_body: Option<Size>,
    header_timeout: Option<Dur>,
    idle_timeout: Option<Dur>,
    max_connections: Option<Count>,
}

impl RawServe {
    fn settings(self) -> ServeSettings {
        ServeSettings {
            listen: self.listen.map(|l| l.0),
            max_runs: self.max_runs.map(|c| c.0),
            max_team_runs: self.max_team_runs.map(|c| c.0),
            drain_timeout: self.drain_timeout.map(|d| d.0),
            fair_window: self.fair_window.map(|d| d.0),
            max_body: self.max_body.map(|s| s.0),
            header_timeout: self.header_timeout.map(|d| d.0),
            idle_timeout: self.idle_timeout.map(|d| d.0),
            max_connections: self.max_connections.map(|c| c.0),
            oidc: None,
        }
    }
}

/// An address and port to listen on, such as `127.0.0.1:8080`.
struct Listen(std::net::SocketAddr);

impl<'de> Deserialize<'de> for Listen {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(d, "an address and port such as \"127.0.0.1:8080\"", |v| {
            v.as_str().and_then(|s| s.trim().parse().ok())
        })
        .map(Listen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `[serve]` of `text`, read with the rest of the file.
    fn parse_at(text: &str) -> anyhow::Result<ServeSettings> {
        let path = Path::new("/etc/dockwright/dockwright.toml");
        parse(text, path, Path::new("/work/here")).map(|(_, serve)| serve)
    }

    fn error(text: &str) -> String {
        format!("{:#}", parse_at(text).unwrap_err())
    }

    #[test]
    fn serve_settings_are_read_with_their_units() {
        let serve = &parse_at(
            "[serve]\nlisten = \"0.0.0.0:9090\"\nmax_runs = 32\nmax_team_runs = 2\n\
             drain_timeout = \"2m\"\nfair_window = \"500ms\"\nmax_body = \"1m\"\n\
             header_timeout = \"5s\"\nidle_timeout = \"2m\"\nmax_connections = 300\n[teams.blue]\n",
        )
        .unwrap();
        assert_eq!(serve.listen, Some("0.0.0.0:9090".parse().unwrap()));
        assert_eq!((serve.max_runs, serve.max_team_runs), (Some(32), Some(2)));
        assert_eq!(serve.drain_timeout, Some(Duration::from_secs(120)));
        assert_eq!(serve.fair_window, Some(Duration::from_millis(500)));
        assert_eq!(serve.max_body, Some(1 << 20));
        assert_eq!(serve.header_timeout, Some(Duration::from_secs(5)));
        assert_eq!(serve.idle_timeout, Some(Duration::from_secs(120)));
        assert_eq!(serve.max_connections, Some(300));
        assert_eq!(
            parse_at("[teams.blue]\n").unwrap(),
            ServeSettings::default()
        );
        for (text, needle) in [
            ("listen = \"localhost\"", "serve.listen"),
            ("max_runs = 0", "serve.max_runs"),
            ("drain_timeout = 30", "serve.drain_timeout"),
            ("max_bodey = 1", "max_bodey"),
            ("max_connections = 0", "serve.max_connections"),
            ("idle_timeout = \"soon\"", "serve.idle_timeout"),
        ] {
            let err = error(&format!("[serve]\n{text}\n[teams.blue]\n"));
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn the_example_config_signs_people_in() {
        let serve = parse_at(include_str!("../../../examples/dockwright.toml")).unwrap();
        let oidc = serve.oidc.unwrap();
        assert_eq!(oidc.issuer, "https://login.example.com/realms/eng");
        assert_eq!(oidc.audience, ["dockwright"]);
        assert_eq!(oidc.client_secret, None);
    }

    #[test]
    fn loading_reads_serve_with_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dockwright.toml");
        std::fs::write(&path, "[serve]\nmax_runs = 3\n[teams.blue]\n").unwrap();
        let (config, serve) = load(Some(&path), dir.path()).unwrap();
        assert!(config.teams.contains_key("blue"));
        assert_eq!(serve.max_runs, Some(3));
        // A mistake in [serve] is refused with the file.
        std::fs::write(&path, "[serve]\nmax_runs = 0\n[teams.blue]\n").unwrap();
        let err = format!("{:#}", load(Some(&path), dir.path()).unwrap_err());
        assert!(err.contains("serve.max_runs"), "{err}");
    }
}
