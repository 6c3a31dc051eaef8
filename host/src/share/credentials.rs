//! The login for a registry, found as the docker CLI finds it: the `auths` of
//! `$DOCKER_CONFIG/config.json` (else `~/.docker/config.json`) with basic auth, or
//! `DOCKWRIGHT_REGISTRY_USERNAME` / `_PASSWORD`. Credentials are sent only to the
//! registry they belong to: a config entry to its own host, the variables to
//! `DOCKWRIGHT_REGISTRY_HOST` when set, else to the one registry the command names.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use oci_client::secrets::RegistryAuth;

/// The variables' credentials.
#[derive(Debug, Clone, Default)]
pub struct EnvCredentials {
    pub username: Option<String>,
    pub password: Option<String>,
    /// `DOCKWRIGHT_REGISTRY_HOST`: the registry they belong to.
    pub host: Option<String>,
}

impl EnvCredentials {
    pub fn from_env() -> EnvCredentials {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        EnvCredentials {
            username: var("DOCKWRIGHT_REGISTRY_USERNAME"),
            password: var("DOCKWRIGHT_REGISTRY_PASSWORD"),
            host: var("DOCKWRIGHT_REGISTRY_HOST"),
        }
    }
}

/// The docker CLI's config file.
pub fn docker_config_path() -> Option<std::path::PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(std::path::PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".docker/config.json"))
}

/// `https://host:port/v1/` and `host:port` name the same registry.
fn normalise(key: &str) -> &str {
    let key = key
        .strip_prefix("https://")
        .or_else(|| key.strip_prefix("http://"))
        .unwrap_or(key);
    key.split('/').next().unwrap_or(key)
}

/// The basic-auth login for `registry` in a docker config's text.
fn from_docker_config(text: &str, registry: &str) -> Option<(String, String)> {
    let doc: serde_json::Value = serde_json::from_str(text).ok()?;
    let auths = doc.get("auths")?.as_object()?;
    let entry = auths
        .iter()
        .find(|(key, _)| normalise(key) == registry)
        .map(|(_, v)| v)?;
    if let Some(auth) = entry.get("auth").and_then(|a| a.as_str()) {
        let decoded = String::from_utf8(STANDARD.decode(auth.trim()).ok()?).ok()?;
        let (user, pass) = decoded.split_once(':')?;
        return Some((user.to_string(), pass.to_string()));
    }
    let user = entry.get("username")?.as_str()?;
    let pass = entry.get("password")?.as_str()?;
    Some((user.to_string(), pass.to_string()))
}

/// The login to send to `registry`. `named` is the registry the command line names
/// (the one the variables go to when `DOCKWRIGHT_REGISTRY_HOST` is not set).
pub fn for_registry(
    registry: &str,
    named: Option<&str>,
    env: &EnvCredentials,
    docker_config: Option<&str>,
) -> RegistryAuth {
    if let (Some(user), Some(pass)) = (&env.username, &env.password) {
        let owner = env.host.as_deref().or(named);
        if owner == Some(registry) {
            return RegistryAuth::Basic(user.clone(), pass.clone());
        }
    }
    match docker_config.and_then(|text| from_docker_config(text, registry)) {
        Some((user, pass)) => RegistryAuth::Basic(user, pass),
        None => RegistryAuth::Anonymous,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(auth: &RegistryAuth) -> Option<(&str, &str)> {
        match auth {
            RegistryAuth::Basic(u, p) => Some((u, p)),
            _ => None,
        }
    }

    #[test]
    fn docker_config_logins_go_to_their_own_registry() {
        let config = r#"{"auths": {
            "https://127.0.0.1:5000/v1/": {"auth": "YWxpY2U6czNjcmV0"},
            "registry.lan": {"username": "bob", "password": "pw"}
        }}"#;
        let env = EnvCredentials::default();
        let a = for_registry("127.0.0.1:5000", None, &env, Some(config));
        assert_eq!(basic(&a), Some(("alice", "s3cret")));
        let b = for_registry("registry.lan", None, &env, Some(config));
        assert_eq!(basic(&b), Some(("bob", "pw")));
        let none = for_registry("127.0.0.1:5001", None, &env, Some(config));
        assert!(matches!(none, RegistryAuth::Anonymous));
        assert!(matches!(
            for_registry("x", None, &env, Some("not json")),
            RegistryAuth::Anonymous
        ));
    }

    #[test]
    fn variables_go_only_to_the_registry_they_belong_to() {
        let env = EnvCredentials {
            username: Some("u".into()),
            password: Some("p".into()),
            host: None,
        };
        let named = for_registry("127.0.0.1:5000", Some("127.0.0.1:5000"), &env, None);
        assert_eq!(basic(&named), Some(("u", "p")));
        let other = for_registry("evil.example.com", Some("127.0.0.1:5000"), &env, None);
        assert!(matches!(other, RegistryAuth::Anonymous));
        let unnamed = for_registry("127.0.0.1:5000", None, &env, None);
        assert!(matches!(unnamed, RegistryAuth::Anonymous));
        let scoped = EnvCredentials {
            host: Some("reg.lan".into()),
            ..env
        };
        assert!(basic(&for_registry("reg.lan", None, &scoped, None)).is_some());
        assert!(basic(&for_registry(
            "127.0.0.1:5000",
            Some("127.0.0.1:5000"),
            &scoped,
            None
        ))
        .is_none());
    }
}
