//! Share's part of `dockwright.toml`: how to reach OCI registries (`[registries]`).

use std::path::PathBuf;

use serde::Deserialize;

use crate::config::Document;

/// `[registries]`: registries reached over plain HTTP, and the CA that signs the
/// certificates of the others when it is not a public one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registries {
    /// `host[:port]` of registries reached over plain HTTP. Loopback registries
    /// always are, as Docker does; every other one needs TLS unless listed here.
    pub insecure: Vec<String>,
    /// A PEM file of CA certificates to trust besides the system's.
    pub ca: Option<PathBuf>,
}

impl Registries {
    /// The section as `doc` gives it (key `registries`); a relative `ca` is taken from
    /// the file's folder.
    pub fn read(doc: &Document) -> anyhow::Result<Registries> {
        let raw: RawSection = doc.section()?;
        Ok(match raw.registries {
            Some(r) => Registries {
                insecure: r.insecure.unwrap_or_default(),
                ca: doc.file_path(&["registries", "ca"], r.ca)?,
            },
            None => Registries::default(),
        })
    }
}

/// The section's shape: the top level lets the other sections' keys be.
#[derive(Deserialize)]
struct RawSection {
    registries: Option<RawRegistries>,
}

#[derive(Deserialize, Default)]
#[serde(
    deny_unknown_fields,
    expecting = "a table such as { insecure = [\"registry.lan:5000\"], ca = \"ca.pem\" }"
)]
struct RawRegistries {
    insecure: Option<Vec<String>>,
    ca: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::document::testing::{assert_placed, read_at};

    fn parse_at(text: &str) -> anyhow::Result<Registries> {
        read_at(text, Registries::read)
    }

    #[test]
    fn registries_are_read_with_their_ca_from_the_config_folder() {
        assert_eq!(parse_at("[teams.blue]").unwrap(), Registries::default());
        let config = parse_at(
            "[registries]\ninsecure = [\"registry.lan:5000\"]\nca = \"certs/ca.pem\"\n[teams.blue]",
        )
        .unwrap();
        assert_eq!(config.insecure, vec!["registry.lan:5000"]);
        assert_eq!(
            config.ca,
            Some(PathBuf::from("/etc/dockwright/certs/ca.pem"))
        );
    }

    #[test]
    fn bad_values_name_the_file_the_line_and_the_key() {
        // The first case moved from the teams' merge tests.
        let cases: &[(&str, &str, &str)] = &[
            (
                "[registries]\ninsecure = \"x\"\n[teams.blue]",
                "registries.insecure",
                "expected an array",
            ),
            (
                "[registries]\nca = \"\"\n[teams.blue]",
                "registries.ca",
                "expected a file path",
            ),
            (
                "[registries]\ncas = \"ca.pem\"\n[teams.blue]",
                "registries.cas",
                "unknown key `cas`; the keys allowed here are insecure, ca",
            ),
        ];
        for (text, key, words) in cases {
            let err = format!("{:#}", parse_at(text).unwrap_err());
            assert_placed(&err, text, key, words);
        }
    }
}
