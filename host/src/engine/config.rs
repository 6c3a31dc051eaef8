//! The engine's part of `dockwright.toml`: the engines besides the default one
//! (`[engines.NAME]`, with their address and TLS files) and `public_host`, the name
//! people reach the default engine's published ports at.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::config::values::is_simple_name;
use crate::config::Document;

/// The name of the engine `DOCKER_HOST` (and `DOCKER_TLS_VERIFY`, `DOCKER_CERT_PATH`)
/// names, as the docker CLI finds it.
pub const DEFAULT_ENGINE: &str = "default";

/// An engine dockwright may run workflows on.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineTarget {
    pub name: String,
    /// `unix:///path` or `tcp://host:port`.
    pub host: String,
    /// Client certificate, key and the CA that signs the engine's certificate: the
    /// engine is reached over TLS and its certificate verified.
    pub tls: Option<TlsFiles>,
    /// The name or address people reach its published ports at, when the config says.
    pub public_host: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TlsFiles {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// The engine's section: keys `public_host` and `engines`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Engines {
    /// The name or address people reach the default engine's published ports at
    /// (`public_host`); each named engine has its own.
    pub public_host: Option<String>,
    /// The engines besides the default one (`[engines.NAME]`), by name.
    pub targets: BTreeMap<String, EngineTarget>,
}

impl Engines {
    /// The section as `doc` gives it; paths are taken from the file's folder.
    pub fn read(doc: &Document) -> anyhow::Result<Engines> {
        let raw: RawSection = doc.section()?;
        let public_host = match raw.public_host {
            Some(host) => {
                Some(check_public_host(&host).map_err(|e| doc.error(&["public_host"], &e))?)
            }
            None => None,
        };
        let mut targets = BTreeMap::new();
        for (name, engine) in raw.engines.unwrap_or_default() {
            let target = engine_target(&name, engine, doc.folder())
                .map_err(|e| doc.error(&["engines", &name], &e))?;
            targets.insert(name, target);
        }
        Ok(Engines {
            public_host,
            targets,
        })
    }
}

/// Check an `[engines.NAME]` table; paths are taken from the config's folder.
fn engine_target(name: &str, raw: RawEngine, folder: &Path) -> Result<EngineTarget, String> {
    if name == DEFAULT_ENGINE {
        return Err(format!(
            "`{DEFAULT_ENGINE}` is the engine DOCKER_HOST names; give this engine another name"
        ));
    }
    if !is_simple_name(name) {
        return Err(format!(
            "`{name}` is not an engine name: use lowercase letters, digits, `-`, `_` and `.`"
        ));
    }
    let host = raw.host.trim().to_string();
    if !["unix://", "npipe://", "tcp://"]
        .iter()
        .any(|scheme| host.starts_with(scheme))
    {
        return Err(format!(
            "host `{host}` is not an engine address: use unix:///path/to/docker.sock, npipe:////./pipe/docker_engine (Windows) or tcp://host:port"
        ));
    }
    let tls = match (raw.cert_path, raw.ca, raw.cert, raw.key) {
        (None, None, None, None) => None,
        (Some(dir), None, None, None) => {
            let dir = folder.join(dir);
            Some(TlsFiles {
                ca: dir.join("ca.pem"),
                cert: dir.join("cert.pem"),
                key: dir.join("key.pem"),
            })
        }
        (None, Some(ca), Some(cert), Some(key)) => Some(TlsFiles {
            ca: folder.join(ca),
            cert: folder.join(cert),
            key: folder.join(key),
        }),
        (Some(_), ..) => {
            return Err("give either `cert_path` or `ca`, `cert` and `key`, not both".into())
        }
        _ => {
            return Err(
                "TLS needs all of `ca`, `cert` and `key` (or `cert_path`, a folder holding ca.pem, cert.pem and key.pem)"
                    .into(),
            )
        }
    };
    if tls.is_some() && !host.starts_with("tcp://") {
        return Err(format!("TLS is for tcp:// engines, not `{host}`"));
    }
    let public_host = raw
        .public_host
        .as_deref()
        .map(check_public_host)
        .transpose()?;
    Ok(EngineTarget {
        name: name.to_string(),
        host,
        tls,
        public_host,
    })
}

/// A `public_host`: a host name or an IP address, as people type it into a browser's
/// address bar before the port.
pub fn check_public_host(text: &str) -> Result<String, String> {
    let host = text.trim();
    let name_like = !host.is_empty()
        && host.len() <= 253
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && !host.starts_with(['-', '.'])
        && !host.ends_with('-');
    let ipv6 = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
        .parse::<std::net::Ipv6Addr>()
        .is_ok();
    if name_like || ipv6 {
        Ok(host.to_string())
    } else {
        Err(format!(
            "public_host `{}` is not a host name or IP address: give one such as build.example.com or 10.0.0.5, without a scheme, port or path",
            text.escape_debug()
        ))
    }
}

// ---------------------------------------------------------------------------
// The section's shape: the top level lets the other sections' keys be.

#[derive(Deserialize)]
struct RawSection {
    public_host: Option<String>,
    engines: Option<BTreeMap<String, RawEngine>>,
}

#[derive(Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table such as { host = \"tcp://build.lan:2376\", cert_path = \"certs/build\" }"
)]
struct RawEngine {
    host: String,
    public_host: Option<String>,
    /// A folder with `ca.pem`, `cert.pem` and `key.pem`, as `DOCKER_CERT_PATH`.
    cert_path: Option<String>,
    ca: Option<String>,
    cert: Option<String>,
    key: Option<String>,
}

#[cfg(test)]
mod tests;
