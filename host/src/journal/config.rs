//! The journal's part of `dockwright.toml`: where it is written (`journal`), how
//! long it keeps runs that ended (`journal_retention`), and the shared store several
//! servers keep their state in (`[state]`).

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::config::values::{leaf, parse_age};
use crate::config::Document;

/// What of its history the journal keeps: runs that ended within an age, or the latest
/// number of runs. A run that has not ended is kept whatever its age.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retention {
    Age(Duration),
    Runs(u64),
}

impl<'de> Deserialize<'de> for Retention {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(
            d,
            "an age such as \"90d\", \"4w\" or \"12h\", or a number of runs above 0",
            |v| match v {
                toml::Value::Integer(n) => u64::try_from(*n)
                    .ok()
                    .filter(|n| *n > 0)
                    .map(Retention::Runs),
                toml::Value::String(s) => parse_age(s).map(Retention::Age),
                _ => None,
            },
        )
    }
}

/// The journal's section: keys `journal`, `journal_retention` and `[state]`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JournalSettings {
    /// Where the run journal goes; `None` leaves the choice to the journal's default.
    pub path: Option<PathBuf>,
    /// How long the journal keeps runs that ended; `None` keeps all.
    pub retention: Option<Retention>,
    /// The PostgreSQL database that holds the state instead of the local files.
    pub state: Option<StateSettings>,
}

/// `[state]`: the PostgreSQL database shared by every dockwright process (servers on
/// several machines, CLIs) that names it: journal, quotas' reservations, runs'
/// liveness, idempotency keys, who does the background work.
#[derive(Debug, Clone, PartialEq)]
pub struct StateSettings {
    /// `postgres://USER@HOST:PORT/DATABASE` (a password in it is refused: it would be
    /// shown wherever the config is).
    pub url: String,
    /// A file holding the password; else `$DOCKWRIGHT_STATE_PASSWORD`; else none
    /// (trust, or a client certificate).
    pub password_file: Option<PathBuf>,
    /// The CA certificates (PEM) that sign the server's: TLS, with the server's name
    /// checked. Without it the connection is plain (loopback, or a private network).
    pub ca: Option<PathBuf>,
}

/// Where the password of `[state]` comes from when no `password_file` is set.
pub const PASSWORD_ENV: &str = "DOCKWRIGHT_STATE_PASSWORD";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawState {
    url: String,
    password_file: Option<String>,
    ca: Option<String>,
}

impl StateSettings {
    fn read(doc: &Document, raw: RawState) -> anyhow::Result<StateSettings> {
        let url = raw.url.trim();
        if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(doc.error(
                &["state", "url"],
                "expected a PostgreSQL URL such as \"postgres://dockwright@db.example:5432/dockwright\"",
            ));
        }
        let config: postgres::Config = url.parse().map_err(|e| {
            doc.error(
                &["state", "url"],
                &format!("not a PostgreSQL URL the client reads: {e}"),
            )
        })?;
        if config.get_password().is_some() {
            return Err(doc.error(
                &["state", "url"],
                &format!(
                    "holds a password: anyone who reads the config would have it; put it in a \
                     file named by `password_file`, or in ${PASSWORD_ENV}"
                ),
            ));
        }
        Ok(StateSettings {
            url: url.to_string(),
            password_file: doc.file_path(&["state", "password_file"], raw.password_file)?,
            ca: doc.file_path(&["state", "ca"], raw.ca)?,
        })
    }
}

impl JournalSettings {
    /// The section as `doc` gives it; a relative path is taken from the file's folder.
    pub fn read(doc: &Document) -> anyhow::Result<JournalSettings> {
        let raw: RawSection = doc.section()?;
        Ok(JournalSettings {
            path: doc.file_path(&["journal"], raw.journal)?,
            retention: raw.journal_retention,
            state: raw.state.map(|s| StateSettings::read(doc, s)).transpose()?,
        })
    }
}

/// The section's shape: the top level lets the other sections' keys be.
#[derive(Deserialize)]
struct RawSection {
    journal: Option<String>,
    journal_retention: Option<Retention>,
    state: Option<RawState>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::document::testing::{assert_placed, read_at};

    fn parse_at(text: &str) -> anyhow::Result<JournalSettings> {
        read_at(text, JournalSettings::read)
    }

    #[test]
    fn journal_retention_is_an_age_or_a_count() {
        let day = Duration::from_secs(86_400);
        let retention = |value: &str| {
            parse_at(&format!("journal_retention = {value}\n[teams.blue]")).map(|c| c.retention)
        };
        assert_eq!(
            retention("\"90d\"").unwrap(),
            Some(Retention::Age(90 * day))
        );
        assert_eq!(retention("100000").unwrap(), Some(Retention::Runs(100_000)));
        assert_eq!(parse_at("[teams.blue]").unwrap().retention, None);
        for bad in ["0", "-5", "\"90 days\"", "\"\"", "true"] {
            let e = format!("{:#}", retention(bad).unwrap_err());
            assert!(e.contains("journal_retention"), "{bad}: {e}");
            assert!(e.contains("\"90d\""), "{bad}: {e}");
        }
    }

    #[test]
    fn state_is_a_postgres_url_without_a_password() {
        let state = parse_at(
            "[state]\nurl = \"postgres://dw@db.example:5432/dockwright\"\nca = \"ca.pem\"\n",
        )
        .unwrap()
        .state
        .unwrap();
        assert_eq!(state.url, "postgres://dw@db.example:5432/dockwright");
        assert_eq!(state.ca, Some(PathBuf::from("/etc/dockwright/ca.pem")));
        assert_eq!(state.password_file, None);
        assert_eq!(parse_at("[teams.blue]").unwrap().state, None);
        for (text, words) in [
            (
                "[state]\nurl = \"mysql://x/y\"",
                "expected a PostgreSQL URL",
            ),
            (
                "[state]\nurl = \"postgres://dw:secret@db/x\"",
                "holds a password",
            ),
            (
                "[state]\nurl = \"postgres://dw@db/x\"\nuser = \"x\"",
                "user",
            ),
            ("[state]\nca = \"x\"", "url"),
        ] {
            let err = format!("{:#}", parse_at(text).unwrap_err());
            assert!(err.contains(words), "{text}\n=> {err}");
            assert!(!err.contains("secret"), "{err}");
        }
    }

    #[test]
    fn the_journal_path_is_a_file_from_the_config_folder() {
        // Moved from the teams' merge tests: a file without `journal` leaves the
        // choice to the journal.
        let config = parse_at("[defaults]\nmax_running = 3\n[teams.blue]\n").unwrap();
        assert_eq!(config.path, None);
        let config = parse_at("journal = \"state/j.db\"\n[teams.blue]").unwrap();
        assert_eq!(
            config.path,
            Some(PathBuf::from("/etc/dockwright/state/j.db"))
        );
        let text = "journal = \"\"\n[teams.blue]";
        let err = format!("{:#}", parse_at(text).unwrap_err());
        assert_placed(&err, text, "journal", "expected a file path");
    }
}
