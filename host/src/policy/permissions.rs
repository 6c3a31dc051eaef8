//! Permission manifests: which groups of Docker operations a plugin may call, and
//! the team rules about them (a cap on the groups, and who must have signed it).
//!
//! A plugin's manifest is derived from the `docker` functions its component
//! imports (a Rust guest imports only what it calls), narrowed by what it declares
//! in `describe` (toolchains such as Python's and JavaScript's import the whole
//! interface). The host enforces it on every call.

use super::groups::{Group, Permissions};
use super::team::{Decision, Denial, TeamPolicy};

/// Whether a plugin with manifest `manifest` may call the contract function
/// `function`.
pub fn check_call(plugin: &str, manifest: &Permissions, function: &str) -> Decision {
    let Some(group) = Group::of_function(function) else {
        return Err(Denial {
            rule: "permissions",
            reason: format!("`{function}` is not an operation of the contract"),
        });
    };
    if manifest.contains(group) {
        return Ok(());
    }
    Err(Denial {
        rule: "permissions",
        reason: format!(
            "`{function}` needs the permission `{group}`, which plugin `{plugin}` does not \
             have (its permission manifest: {manifest})"
        ),
    })
}

/// Whether the team lets a plugin with this manifest run (or be added).
pub fn check_manifest(team: &TeamPolicy, plugin: &str, manifest: &Permissions) -> Decision {
    let Some(cap) = &team.permissions else {
        return Ok(());
    };
    let extra = manifest.minus(cap);
    if extra.is_empty() {
        return Ok(());
    }
    Err(Denial {
        rule: "permissions",
        reason: format!(
            "plugin `{plugin}` asks for {extra}, beyond what team `{}` allows ({cap}); \
             use a plugin that asks for less, or add the groups to the team's `permissions`",
            team.name
        ),
    })
}

/// Whether the team accepts a plugin signed by `signer` (an `ed25519:` public key;
/// `None` when it carries no valid signature).
pub fn check_signer(team: &TeamPolicy, plugin: &str, signer: Option<&str>) -> Decision {
    if !team.require_signed {
        return Ok(());
    }
    let trusted = |key: &str| team.trusted_keys.iter().any(|k| k == key);
    match signer {
        Some(key) if trusted(key) => Ok(()),
        Some(key) => Err(Denial {
            rule: "trusted_keys",
            reason: format!(
                "plugin `{plugin}` is signed with {key}, which team `{}` does not trust; \
                 add the key to the team's `trusted_keys` if its owner is trusted, or install \
                 the plugin from a publisher who signs with a trusted key",
                team.name
            ),
        }),
        None => Err(Denial {
            rule: "require_signed",
            reason: format!(
                "plugin `{plugin}` is not signed, and team `{}` runs only plugins signed by \
                 one of its `trusted_keys`; install it from a registry where it was pushed \
                 with `dockwright plugins push --sign`",
                team.name
            ),
        }),
    }
}

/// Whether a plugin may be added to a plugin folder that `teams` share: each team that
/// will not run it (by its signers and its manifest), with why; an error when none
/// will, with the first team's reason (or the one team's). A folder serves every team of the config, so
/// a plugin that suits one of them is added, and the others are named.
pub fn check_install<'t>(
    teams: impl IntoIterator<Item = &'t TeamPolicy>,
    plugin: &str,
    signer: Option<&str>,
    manifest: &Permissions,
) -> Result<Vec<(&'t str, Denial)>, Denial> {
    let mut teams_seen = 0;
    let mut refusals = Vec::new();
    for team in teams {
        teams_seen += 1;
        if let Err(denial) =
            check_signer(team, plugin, signer).and_then(|()| check_manifest(team, plugin, manifest))
        {
            refusals.push((team.name.as_str(), denial));
        }
    }
    if refusals.len() < teams_seen {
        return Ok(refusals);
    }
    Err(match refusals.into_iter().next() {
        // One team: its own reason says it all.
        Some((_, only)) if teams_seen == 1 => only,
        Some((_, first)) => Denial {
            rule: first.rule,
            reason: format!("no team may run it; for one: {}", first.reason),
        },
        None => Denial {
            rule: "teams",
            reason: "no team is configured to run it".into(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::fixtures::team;

    #[test]
    fn every_contract_function_has_one_group() {
        let mut seen = Vec::new();
        for g in Group::ALL {
            for f in g.functions() {
                assert!(!seen.contains(f), "{f} is in two groups");
                seen.push(*f);
                assert_eq!(Group::of_function(f), Some(g));
            }
        }
        assert_eq!(Group::of_function("format-disk"), None);
        // Every function of the contract's `docker` and `services` interfaces, and
        // nothing else.
        let wit = include_str!("../../../wit/dockwright.wit");
        let mut functions: Vec<&str> = ["docker", "services"]
            .iter()
            .flat_map(|interface| {
                let body = wit
                    .split(&format!("interface {interface} {{"))
                    .nth(1)
                    .unwrap();
                let body = body.split("\ninterface ").next().unwrap();
                body.lines()
                    .filter_map(|l| l.trim().split_once(": func"))
                    .map(|(name, _)| name)
                    .collect::<Vec<_>>()
            })
            .collect();
        functions.sort_unstable();
        seen.sort_unstable();
        assert_eq!(seen, functions);
    }

    #[test]
    fn manifests_derive_from_imported_functions() {
        let p = Permissions::from_functions(["create-container", "top", "unknown-thing"]);
        assert_eq!(p.to_string(), "containers, observe");
        assert_eq!(Permissions::none().to_string(), "none");
        let err = Permissions::parse(["containers", "root"]).unwrap_err();
        assert!(
            err.contains("`root`") && err.contains("engine-info"),
            "{err}"
        );
        assert_eq!(
            Permissions::parse(["exec", "containers"]).unwrap().names(),
            ["containers", "exec"]
        );
    }

    #[test]
    fn calls_outside_the_manifest_are_denied_with_the_rule() {
        let manifest = Permissions::parse(["containers"]).unwrap();
        assert!(check_call("p", &manifest, "start-container").is_ok());
        let denial = check_call("p", &manifest, "exec").unwrap_err();
        assert_eq!(denial.rule, "permissions");
        assert!(
            denial.reason.contains("`exec`") && denial.reason.contains("containers"),
            "{}",
            denial.reason
        );
        assert!(check_call("p", &Permissions::all(), "nope").is_err());
    }

    #[test]
    fn a_team_cap_refuses_plugins_that_ask_for_more() {
        let mut t = team();
        let wants = Permissions::parse(["containers", "exec"]).unwrap();
        assert!(check_manifest(&t, "p", &wants).is_ok());
        t.permissions = Some(Permissions::parse(["containers", "observe"]).unwrap());
        let denial = check_manifest(&t, "p", &wants).unwrap_err();
        assert_eq!(denial.rule, "permissions");
        assert!(denial.reason.contains("asks for exec"), "{}", denial.reason);
        let fits = Permissions::parse(["observe"]).unwrap();
        assert!(check_manifest(&t, "p", &fits).is_ok());
    }

    #[test]
    fn a_plugin_is_installed_when_one_team_of_the_folder_will_run_it() {
        let open = team();
        let mut strict = team();
        strict.name = "strict".into();
        strict.require_signed = true;
        strict.trusted_keys = vec!["ed25519:AAA".into()];
        let mut narrow = team();
        narrow.name = "narrow".into();
        narrow.permissions = Some(Permissions::parse(["observe"]).unwrap());
        let wants = Permissions::parse(["containers"]).unwrap();

        // Suits one: added, and the others are named with why.
        let refused = check_install([&open, &strict, &narrow], "p", None, &wants).unwrap();
        let names: Vec<&str> = refused.iter().map(|(t, _)| *t).collect();
        assert_eq!(names, ["strict", "narrow"]);
        assert_eq!(refused[0].1.rule, "require_signed");
        assert_eq!(refused[1].1.rule, "permissions");
        // Signed by the trusted key: the strict team takes it too.
        let refused = check_install([&strict, &narrow], "p", Some("ed25519:AAA"), &wants).unwrap();
        assert_eq!(refused.len(), 1);
        // Suits none: refused, with the first team's reason.
        let none = check_install([&strict, &narrow], "p", None, &wants).unwrap_err();
        assert_eq!(none.rule, "require_signed");
        assert!(
            none.reason.starts_with("no team may run it; for one: "),
            "{}",
            none.reason
        );
        // One team named: its rules alone.
        assert!(check_install([&open], "p", None, &wants)
            .unwrap()
            .is_empty());
        assert!(check_install([&narrow], "p", None, &wants).is_err());
        assert!(check_install([], "p", None, &wants).is_err());
    }

    #[test]
    fn signed_plugins_need_a_trusted_key_only_when_required() {
        let mut t = team();
        assert!(check_signer(&t, "p", None).is_ok());
        t.require_signed = true;
        t.trusted_keys = vec!["ed25519:AAA".into()];
        assert!(check_signer(&t, "p", Some("ed25519:AAA")).is_ok());
        let unsigned = check_signer(&t, "p", None).unwrap_err();
        assert_eq!(unsigned.rule, "require_signed");
        assert!(unsigned.reason.contains("not signed"));
        let untrusted = check_signer(&t, "p", Some("ed25519:BBB")).unwrap_err();
        assert_eq!(untrusted.rule, "trusted_keys");
        assert!(untrusted.reason.contains("ed25519:BBB"));
    }
}
