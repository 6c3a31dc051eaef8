//! Registry references (`registry/repo:tag`, `registry/repo@sha256:...`) and the
//! transport rule: plain HTTP only to loopback registries (Docker allows 127.0.0.0/8
//! the same way) and to registries the config lists as insecure; TLS to the rest.

use std::net::IpAddr;

use anyhow::{bail, Result};
use oci_client::Reference;

/// Whether a command-line argument means a registry reference rather than a file.
/// A path that exists is always a file; otherwise an argument with a registry
/// host (a `.`, `:` or `localhost` before the first `/`) is a reference.
pub fn looks_like_reference(arg: &str) -> bool {
    if std::path::Path::new(arg).exists() || arg.ends_with(".wasm") {
        return false;
    }
    match arg.split_once('/') {
        Some((host, rest)) => {
            !rest.is_empty() && (host.contains('.') || host.contains(':') || host == "localhost")
        }
        None => false,
    }
}

/// Parse a reference that names its registry: dockwright never guesses Docker Hub.
pub fn parse(arg: &str) -> Result<Reference> {
    let Some((host, _)) = arg.split_once('/') else {
        bail!("`{arg}` is not a registry reference: write it as registry/repository:tag, such as 127.0.0.1:5000/team/plugin:1.0");
    };
    if !(host.contains('.') || host.contains(':') || host == "localhost") {
        bail!("`{arg}` does not name a registry host before its first `/`: write it as registry/repository:tag, such as registry.example.com/team/plugin:1.0");
    }
    let reference: Reference = arg
        .parse()
        .map_err(|e| anyhow::anyhow!("`{arg}` is not a valid registry reference: {e}"))?;
    Ok(reference)
}

/// The host part of `host[:port]` (IPv6 in brackets).
fn host_of(registry: &str) -> &str {
    if let Some(rest) = registry.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    registry.rsplit_once(':').map_or(registry, |(h, _)| h)
}

/// Whether requests to `registry` go over plain HTTP.
pub fn plain_http(registry: &str, insecure: &[String]) -> bool {
    if insecure.iter().any(|r| r == registry) {
        return true;
    }
    let host = host_of(registry);
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The tag a signature of `manifest_digest` is pushed under: `sha256-<hex>.sig`,
/// which any registry can store (no referrers API needed).
pub fn signature_tag(manifest_digest: &str) -> String {
    format!("{}.sig", manifest_digest.replace(':', "-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_are_files_or_references() {
        assert!(looks_like_reference("127.0.0.1:5000/team/p:1"));
        assert!(looks_like_reference("registry.example.com/p@sha256:ab"));
        assert!(looks_like_reference("localhost/p:1"));
        assert!(!looks_like_reference("plugins/p.wasm"));
        assert!(!looks_like_reference("team/p:1"));
        assert!(!looks_like_reference("p"));
    }

    #[test]
    fn references_must_name_their_registry() {
        let r = parse("127.0.0.1:5000/team/p:1.0").unwrap();
        assert_eq!(r.registry(), "127.0.0.1:5000");
        assert_eq!(r.repository(), "team/p");
        assert_eq!(r.tag(), Some("1.0"));
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = parse(&format!("127.0.0.1:5000/p@{digest}")).unwrap();
        assert_eq!(r.digest(), Some(digest.as_str()));
        let err = parse("team/p:1").unwrap_err().to_string();
        assert!(err.contains("registry host"), "{err}");
        let err = parse("p").unwrap_err().to_string();
        assert!(err.contains("registry/repository:tag"), "{err}");
        assert!(parse("127.0.0.1:5000/UPPER:1").is_err());
    }

    #[test]
    fn plain_http_only_to_loopback_and_listed_registries() {
        assert!(plain_http("127.0.0.1:5000", &[]));
        assert!(plain_http("127.8.9.1", &[]));
        assert!(plain_http("localhost:5000", &[]));
        assert!(plain_http("[::1]:5000", &[]));
        assert!(!plain_http("10.0.0.1:5000", &[]));
        assert!(!plain_http("registry.example.com", &[]));
        assert!(!plain_http("127.0.0.1.example.com", &[]));
        assert!(plain_http(
            "registry.lan:5000",
            &["registry.lan:5000".into()]
        ));
        assert!(!plain_http(
            "registry.lan:5001",
            &["registry.lan:5000".into()]
        ));
    }

    #[test]
    fn signature_tags_name_the_digest() {
        assert_eq!(signature_tag("sha256:abc"), "sha256-abc.sig");
    }
}
