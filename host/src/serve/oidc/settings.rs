//! `[auth.oidc]`: the organization's OpenID provider, whose tokens the API accepts
//! beside team tokens, and the page's sign-in client.

use std::path::PathBuf;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use serde::{Deserialize, Deserializer};

use crate::config::values::{leaf, Dur};
use crate::config::Document;

/// The provider and what its tokens must be.
#[derive(Debug, Clone, PartialEq)]
pub struct OidcSettings {
    /// The issuer, exactly as its tokens' `iss` and its discovery document say it.
    pub issuer: String,
    /// What a token's `aud` must hold one of (default: the page's `client_id`).
    pub audience: Vec<String>,
    /// The page's client at the provider; without it the page offers no sign-in.
    pub client_id: Option<String>,
    /// The client's secret where the provider registered it as confidential: from
    /// `client_secret_file` or `DOCKWRIGHT_OIDC_CLIENT_SECRET`, never the config.
    pub client_secret: Option<String>,
    /// The claim that lists a person's groups (`groups`; a dotted path reads nested).
    pub groups_claim: String,
    /// The signature algorithms accepted: asymmetric ones only.
    pub algorithms: Vec<Algorithm>,
    /// A CA certificate (PEM) to trust for the provider besides the system's roots.
    pub ca: Option<PathBuf>,
    /// How far `exp` and `nbf` may be off, for clocks that differ.
    pub leeway: Duration,
    /// The scopes the page asks for.
    pub scopes: Vec<String>,
    /// The least time between two fetches of the provider's keys on a token signed
    /// by a key not known yet: a stream of made-up key ids cannot make the server
    /// hammer the provider.
    pub jwks_refresh: Duration,
}

/// What a secret file may be named by, as the config spells it.
pub const SECRET_ENV: &str = "DOCKWRIGHT_OIDC_CLIENT_SECRET";

const DEFAULT_ALGORITHMS: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

impl OidcSettings {
    /// `[auth.oidc]` of `doc`, if it has one.
    pub fn read(doc: &Document) -> anyhow::Result<Option<OidcSettings>> {
        let raw: RawSection = doc.section()?;
        let Some(raw) = raw.auth.and_then(|a| a.oidc) else {
            return Ok(None);
        };
        let place = |k: &str, m: &str| doc.error(&["auth", "oidc", k], m);
        let audience = match (raw.audience, &raw.client_id) {
            (Some(Audience(list)), _) => list,
            (None, Some(client)) => vec![client.clone()],
            (None, None) => {
                return Err(place(
                    "audience",
                    "say which audience tokens must be for: set `audience` (or `client_id`, which it defaults to)",
                ))
            }
        };
        let from_env = std::env::var(SECRET_ENV).ok().filter(|s| !s.is_empty());
        let client_secret = match (from_env, raw.client_secret_file) {
            (Some(secret), _) => Some(secret),
            (None, Some(file)) => {
                let path = doc.folder().join(&file);
                let text = std::fs::read_to_string(&path).map_err(|e| {
                    place(
                        "client_secret_file",
                        &format!("cannot read {}: {e}", path.display()),
                    )
                })?;
                Some(text.trim().to_string())
            }
            (None, None) => None,
        };
        Ok(Some(OidcSettings {
            issuer: raw.issuer.0,
            audience,
            client_id: raw.client_id,
            client_secret,
            groups_claim: raw.groups_claim.unwrap_or_else(|| "groups".to_string()),
            algorithms: raw
                .algorithms
                .map_or_else(|| DEFAULT_ALGORITHMS.to_vec(), |a| a.0),
            ca: raw.ca.map(|p| doc.folder().join(p)),
            leeway: raw.leeway.map_or(Duration::from_secs(60), |d| d.0),
            scopes: raw
                .scopes
                .unwrap_or_else(|| ["openid", "email", "profile"].map(String::from).to_vec()),
            jwks_refresh: raw.jwks_refresh.map_or(Duration::from_secs(60), |d| d.0),
        }))
    }
}

/// Whether `url` is one the server may send a person's code to or read keys from:
/// HTTPS, or plain HTTP to this machine (a provider under test, or behind a local
/// proxy), where nobody on the network can read or change it.
pub fn acceptable_url(url: &str) -> bool {
    if url.starts_with("https://") && url.len() > "https://".len() {
        return true;
    }
    let Some(rest) = url.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name == "localhost"
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

// ---------------------------------------------------------------------------
// The section's shape.

#[derive(Deserialize)]
struct RawSection {
    auth: Option<RawAuth>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table with an [auth.oidc] table")]
struct RawAuth {
    oidc: Option<RawOidc>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table such as { issuer = \"https://login.example.com\", client_id = \"dockwright\" }"
)]
struct RawOidc {
    issuer: Issuer,
    audience: Option<Audience>,
    client_id: Option<String>,
    client_secret_file: Option<PathBuf>,
    groups_claim: Option<String>,
    algorithms: Option<Algorithms>,
    ca: Option<PathBuf>,
    leeway: Option<Dur>,
    scopes: Option<Vec<String>>,
    jwks_refresh: Option<Dur>,
}

struct Issuer(String);

impl<'de> Deserialize<'de> for Issuer {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(
            d,
            "the issuer's https:// URL (plain http:// only on this machine: 127.0.0.1, ::1, localhost)",
            |v| {
                let url = v.as_str()?.trim();
                (acceptable_url(url) && !url.contains(char::is_whitespace))
                    .then(|| Issuer(url.to_string()))
            },
        )
    }
}

/// One audience or a list of them.
struct Audience(Vec<String>);

impl<'de> Deserialize<'de> for Audience {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        leaf(d, "an audience, or a list of them", |v| {
            let list: Vec<String> = match v.as_array() {
                Some(items) => items
                    .iter()
                    .map(|i| i.as_str().map(String::from))
                    .collect::<Option<_>>()?,
                None => vec![v.as_str()?.to_string()],
            };
            (!list.is_empty() && list.iter().all(|a| !a.trim().is_empty()))
                .then_some(Audience(list))
        })
    }
}

/// Asymmetric algorithms only: `none` verifies nothing, and an HMAC "verified" with
/// a provider's public key is a signature anyone can make.
struct Algorithms(Vec<Algorithm>);

impl<'de> Deserialize<'de> for Algorithms {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let names = DEFAULT_ALGORITHMS
            .iter()
            .map(|a| format!("{a:?}"))
            .chain(["EdDSA".to_string()])
            .collect::<Vec<_>>()
            .join(", ");
        leaf(
            d,
            &format!("a list of signature algorithms among {names}"),
            |v| {
                let list = v
                    .as_array()?
                    .iter()
                    .map(|i| asymmetric(i.as_str()?))
                    .collect::<Option<Vec<_>>>()?;
                (!list.is_empty()).then_some(Algorithms(list))
            },
        )
    }
}

/// The asymmetric algorithm `name` names.
pub fn asymmetric(name: &str) -> Option<Algorithm> {
    let alg: Algorithm = name.parse().ok()?;
    (!matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)).then_some(alg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn read(text: &str) -> anyhow::Result<Option<OidcSettings>> {
        let doc = Document::parse(
            text,
            Path::new("/etc/dockwright/dockwright.toml"),
            Path::new("/"),
        )?;
        OidcSettings::read(&doc)
    }

    #[test]
    fn the_section_is_read_with_its_defaults() {
        let s = read("[auth.oidc]\nissuer = \"https://login.example.com/realms/eng\"\nclient_id = \"dockwright\"\n")
            .unwrap()
            .unwrap();
        assert_eq!(s.audience, ["dockwright"]);
        assert_eq!(s.groups_claim, "groups");
        assert_eq!(s.leeway, Duration::from_secs(60));
        assert!(s.algorithms.contains(&Algorithm::RS256));
        assert!(!s.algorithms.contains(&Algorithm::HS256));
        assert!(read("[teams.blue]\n").unwrap().is_none());
        let s = read(
            "[auth.oidc]\nissuer = \"http://127.0.0.1:9000\"\naudience = [\"api://dw\", \"dw\"]\n\
             algorithms = [\"ES256\", \"EdDSA\"]\ngroups_claim = \"realm_access.roles\"\nleeway = \"5s\"\n",
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.audience, ["api://dw", "dw"]);
        assert_eq!(s.algorithms, [Algorithm::ES256, Algorithm::EdDSA]);
        assert_eq!(s.client_id, None);
    }

    #[test]
    fn mistakes_are_refused_naming_the_key() {
        for (text, needle) in [
            ("issuer = \"http://login.example.com\"\nclient_id = \"x\"", "auth.oidc.issuer"),
            ("issuer = \"https://login.example.com\"", "audience"),
            ("issuer = \"https://a\"\nclient_id = \"x\"\nalgorithms = [\"HS256\"]", "algorithms"),
            ("issuer = \"https://a\"\nclient_id = \"x\"\nalgorithms = [\"none\"]", "algorithms"),
            ("issuer = \"https://a\"\nclient_id = \"x\"\nclient_secret = \"s\"", "client_secret"),
            ("issuer = \"https://a\"\nclient_id = \"x\"\nclient_secret_file = \"/nonexistent/s\"", "client_secret_file"),
        ] {
            let err = format!("{:#}", read(&format!("[auth.oidc]\n{text}\n")).unwrap_err());
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn plain_http_only_reaches_this_machine() {
        for ok in [
            "https://login.example.com",
            "http://127.0.0.1:9000/",
            "http://localhost/realms/x",
            "http://[::1]:80",
        ] {
            assert!(acceptable_url(ok), "{ok}");
        }
        for bad in [
            "http://login.example.com",
            "http://127.0.0.1.evil.com/",
            "http://localhost.evil.com",
            "http://evil.com/@127.0.0.1",
            "ftp://127.0.0.1",
            "https://",
        ] {
            assert!(!acceptable_url(bad), "{bad}");
        }
    }
}
