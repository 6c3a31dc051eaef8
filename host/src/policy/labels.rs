//! Ownership labels: every container and image a run creates carries them, and they
//! are how the host (and `docker ps --filter label=...`) tells whose something is.
//!
//! The `dockwright.` prefix belongs to the host. A plugin that tries to set a label
//! under it is refused rather than silently overridden, so the mistake is visible.

use std::collections::HashMap;

/// The prefix reserved for the host's own labels.
pub const PREFIX: &str = "dockwright.";
/// The run id that created the object.
pub const RUN: &str = "dockwright.run";
/// The plugin that created the object: `name@sha256:<digest>`.
pub const PLUGIN: &str = "dockwright.plugin";
/// The team the run was made for.
pub const TEAM: &str = "dockwright.team";
/// The engine the run was made on, by its name in the config (`default` for
/// DOCKER_HOST): an object seen through another name or tool says where it came from.
pub const ENGINE: &str = "dockwright.engine";
/// On a task container of a service: the service's name. Such containers are
/// counted by their service's replicas, not one by one.
pub const SERVICE: &str = "dockwright.service";
/// On a network: the team whose network it is.
pub const NETWORK: &str = "dockwright.network";
/// On a container: the admission reservation it was created under, so a count of
/// the team's containers never counts it twice (see `imports::admission`).
pub const SLOT: &str = "dockwright.slot";
/// When the run's environment expires (RFC 3339, UTC), on everything a run with a
/// lifetime creates: what `docker ps` shows, and what a reaper goes by for a run the
/// journal no longer knows. The journal's expiry, which an extension moves, comes first.
pub const EXPIRES: &str = "dockwright.expires";
/// On a container whose host ports the host picked: those ports, comma-separated. A
/// container that is created and not yet started publishes nothing the engine lists,
/// so the next pick reads its ports here rather than give them out again.
pub const HOST_PORTS: &str = "dockwright.host-ports";
/// The person whose run made the object (a token's `sub`, a CLI run's local user,
/// or `team-token`): what a team's listings show and the per-person quota counts.
pub const USER: &str = "dockwright.user";

/// Who is creating something: the values of the ownership labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub team: String,
    pub run_id: String,
    pub plugin: String,
    pub plugin_sha256: String,
    /// The engine's name in the config.
    pub engine: String,
    /// When the run expires, as the label writes it; none: it does not.
    pub expires: Option<String>,
    /// Whose run it is; none: the host does not know (a replay).
    pub user: Option<super::people::Person>,
}

impl Owner {
    /// The person whose containers the per-person quota counts for this run: none
    /// for a run of a team token or of nobody known.
    pub fn counted_user(&self) -> Option<&str> {
        self.user
            .as_ref()
            .filter(|p| p.counted())
            .map(|p| p.id.as_str())
    }
}

impl Owner {
    /// The ownership labels, as the engine stores them.
    pub fn labels(&self) -> HashMap<String, String> {
        let mut labels = HashMap::from([
            (TEAM.to_string(), self.team.clone()),
            (RUN.to_string(), self.run_id.clone()),
            (ENGINE.to_string(), self.engine.clone()),
            (
                PLUGIN.to_string(),
                format!("{}@sha256:{}", self.plugin, self.plugin_sha256),
            ),
        ]);
        if let Some(expires) = &self.expires {
            labels.insert(EXPIRES.to_string(), expires.clone());
        }
        if let Some(user) = &self.user {
            labels.insert(USER.to_string(), user.id.clone());
        }
        labels
    }
}

/// A plugin's labels with the owner's added. Fails, naming the label, when the plugin
/// sets a key under the host's prefix or an empty key.
pub fn merge<'a>(
    requested: impl IntoIterator<Item = (&'a str, &'a str)>,
    owner: &Owner,
) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for (key, value) in requested {
        if key.trim().is_empty() {
            return Err("a label has an empty key".to_string());
        }
        if key.starts_with(PREFIX) {
            return Err(format!(
                "label `{key}` is reserved: labels under `{PREFIX}*` are set by the host only"
            ));
        }
        out.insert(key.to_string(), value.to_string());
    }
    out.extend(owner.labels());
    Ok(out)
}

/// Whether an object with these labels belongs to `team`. An empty team owns nothing.
pub fn owned_by(team: &str, labels: &HashMap<String, String>) -> bool {
    !team.is_empty() && labels.get(TEAM).is_some_and(|t| t == team)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner() -> Owner {
        Owner {
            team: "blue".into(),
            run_id: "r1".into(),
            plugin: "team-env".into(),
            plugin_sha256: "ab".into(),
            engine: "default".into(),
            expires: None,
            user: None,
        }
    }

    #[test]
    fn a_run_with_a_lifetime_labels_its_expiry_and_a_plugin_cannot_set_it() {
        let mut owner = owner();
        owner.expires = Some("2026-12-05T08:00:00.000Z".into());
        let labels = merge([("app", "web")], &owner).unwrap();
        assert_eq!(labels[EXPIRES], "2026-12-05T08:00:00.000Z");
        let err = merge([(EXPIRES, "2099-01-01T00:00:00.000Z")], &owner).unwrap_err();
        assert!(err.contains("reserved"), "{err}");
        // Without a lifetime there is no label to show an expiry that is not.
        assert!(!merge([], &self::owner()).unwrap().contains_key(EXPIRES));
    }

    #[test]
    fn ownership_labels_are_added() {
        let labels = merge([("app", "web")], &owner()).unwrap();
        assert_eq!(labels["app"], "web");
        assert_eq!(labels[TEAM], "blue");
        assert_eq!(labels[RUN], "r1");
        assert_eq!(labels[PLUGIN], "team-env@sha256:ab");
        assert_eq!(labels[ENGINE], "default");
        assert_eq!(labels.len(), 5);
    }

    #[test]
    fn reserved_labels_are_refused() {
        for key in [TEAM, RUN, PLUGIN, ENGINE, "dockwright.other"] {
            let err = merge([(key, "x")], &owner()).unwrap_err();
            assert!(err.contains(key), "{err}");
            assert!(err.contains("reserved"), "{err}");
        }
    }

    #[test]
    fn empty_keys_are_refused() {
        assert!(merge([(" ", "x")], &owner()).is_err());
    }

    #[test]
    fn similar_but_unreserved_keys_pass() {
        let labels = merge([("dockwright", "x"), ("x.dockwright.team", "y")], &owner()).unwrap();
        assert_eq!(labels["dockwright"], "x");
        assert_eq!(labels["x.dockwright.team"], "y");
    }

    #[test]
    fn ownership() {
        let labels = |team: Option<&str>| -> HashMap<String, String> {
            let mut l = HashMap::from([("app".to_string(), "web".to_string())]);
            if let Some(team) = team {
                l.insert(TEAM.to_string(), team.to_string());
            }
            l
        };
        let cases = [
            ("blue", Some("blue"), true),
            ("blue", Some("green"), false),
            ("blue", Some("blue2"), false),
            ("blue", None, false),
            ("", Some(""), false),
            ("", None, false),
        ];
        for (team, label, want) in cases {
            assert_eq!(owned_by(team, &labels(label)), want, "{team} {label:?}");
        }
    }
}
