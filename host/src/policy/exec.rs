//! Which user a team's `exec` may run as: decided on the uid the engine would run
//! it as (see [`super::users`]), never on the name, which the container's own files
//! map to whatever they like.

use super::team::{Decision, Denial, TeamPolicy};
use super::users;

/// Whether the team may exec as the user it asks for (`requested`), or when it asks
/// for none, as the container's default user, given what the host resolved that
/// user to in the container (`resolved`: the ids, or why it could not). The ids are
/// what the exec is then sent with, so the engine runs exactly what was checked.
pub fn check_exec_user(
    p: &TeamPolicy,
    requested: Option<&str>,
    container_default_user: &str,
    resolved: &Result<users::Ids, String>,
) -> Decision {
    let asked = match requested {
        Some(user) => format!("exec as user `{user}`"),
        None if container_default_user.is_empty() => {
            "exec with no user (so as the container's default, root, as its image sets no user)"
                .into()
        }
        None => format!(
            "exec with no user (so as the container's default user `{container_default_user}`)"
        ),
    };
    let ids = match resolved {
        Ok(ids) => ids,
        Err(why) => {
            return Err(Denial {
                rule: "exec_as_root",
                reason: format!(
                    "the host cannot tell which uid {asked} would run as ({why}), so it cannot check that it is not root; pass a numeric user such as `1000:1000`"
                ),
            })
        }
    };
    if p.exec_as_root || ids.uid != 0 {
        return Ok(());
    }
    Err(Denial {
        rule: "exec_as_root",
        reason: format!(
            "{asked} would run as uid 0 (root, as the container's /etc/passwd resolves it), which team `{}` may not do; pass a non-root numeric user such as `1000:1000`, or ask an admin to set `exec_as_root = true`",
            p.name
        ),
    })
}

/// Whether a container of the team may run as `user` (its image's USER), resolved
/// in its files: without `run_as_root`, not as uid 0, and not as a user the host
/// cannot resolve.
pub fn check_run_user(
    p: &TeamPolicy,
    user: &str,
    resolved: &Result<users::Ids, String>,
) -> Decision {
    if p.run_as_root {
        return Ok(());
    }
    let who = if user.is_empty() {
        "the container's user (none, as its image sets no USER)".to_string()
    } else {
        format!("the container's user `{user}`")
    };
    match resolved {
        Ok(ids) if ids.uid != 0 => Ok(()),
        Ok(_) => Err(Denial {
            rule: "run_as_root",
            reason: format!(
                "{who} is uid 0 (root, as the container's files resolve it), and team `{}` may not run root containers; use an image whose USER is a non-root user, or ask an admin to set `run_as_root = true`",
                p.name
            ),
        }),
        Err(why) => Err(Denial {
            rule: "run_as_root",
            reason: format!(
                "the host cannot tell which uid {who} is ({why}), so it cannot check that it is not root; use an image whose USER is numeric, such as `1000:1000`"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::fixtures::*;

    #[test]
    fn exec_users_are_judged_by_uid() {
        let p = team();
        let root_ok = TeamPolicy {
            exec_as_root: true,
            ..team()
        };
        let passwd = "root:x:0:0\nnobody:x:0:0\napp:x:1000:1000\n";
        // (requested, the container's default user, denied when root is not allowed)
        let cases = [
            (None, "", true),
            (None, "root", true),
            (None, "nobody", true),
            (None, "0:0", true),
            (None, "app", false),
            (None, "1000", false),
            (None, "1000:0", false),
            (Some("root"), "app", true),
            (Some("nobody"), "app", true),
            (Some("0"), "app", true),
            (Some("00"), "app", true),
            (Some("+0"), "app", true),
            (Some("0:1000"), "app", true),
            (Some(""), "app", true),
            (Some("app"), "root", false),
            (Some("1000:1000"), "", false),
            (Some("10"), "", false),
        ];
        for (requested, default, denied) in cases {
            let case = format!("{requested:?} / {default:?}");
            let resolved = users::resolve(requested.unwrap_or(default), Some(passwd), None);
            let want = denied.then_some("exec_as_root");
            expect(
                check_exec_user(&p, requested, default, &resolved),
                want,
                &case,
            );
            expect(
                check_exec_user(&root_ok, requested, default, &resolved),
                None,
                &case,
            );
        }
        // A user that does not resolve is denied: the host cannot tell its uid.
        let resolved = users::resolve("ghost", Some(passwd), None);
        let err = check_exec_user(&p, Some("ghost"), "", &resolved).unwrap_err();
        assert!(err.reason.contains("cannot tell which uid"), "{err}");
    }

    #[test]
    fn containers_of_a_team_without_run_as_root_are_judged_by_uid() {
        let hardened = TeamPolicy {
            run_as_root: false,
            ..team()
        };
        let passwd = "root:x:0:0\nnobody:x:0:0\napp:x:1000:1000\n";
        for (user, denied) in [
            ("", true),
            ("0", true),
            ("nobody", true),
            ("ghost", true),
            ("app", false),
            ("1000", false),
        ] {
            let resolved = users::resolve(user, Some(passwd), None);
            let want = denied.then_some("run_as_root");
            expect(check_run_user(&hardened, user, &resolved), want, user);
            expect(check_run_user(&team(), user, &resolved), None, user);
        }
    }
}
