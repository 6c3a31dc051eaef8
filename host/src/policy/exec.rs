//! Which user a team's `exec` may run as.

use super::team::{Decision, Denial, TeamPolicy};

/// Whether the team may exec as the user it asks for (`requested`), or when it asks
/// for none, as the container's default user. An empty user is root to the engine.
pub fn check_exec_user(
    p: &TeamPolicy,
    requested: Option<&str>,
    container_default_user: &str,
) -> Decision {
    let user = requested.unwrap_or(container_default_user);
    if p.exec_as_root || !is_root(user) {
        return Ok(());
    }
    let asked = match requested {
        Some(user) => format!("exec as user `{user}`"),
        None if container_default_user.is_empty() => {
            "exec with no user (so as the container's default, which is root because its image sets no user)".into()
        }
        None => format!("exec with no user (so as the container's default user `{container_default_user}`)"),
    };
    Err(Denial {
        rule: "exec_as_root",
        reason: format!(
            "{asked} would run as root, which team `{}` may not do; pass a non-root user such as `nobody` or `1000:1000`, or ask an admin to set `exec_as_root = true`",
            p.name
        ),
    })
}

/// Whether the engine would run as root for `user` (`name`, `uid`, `name:group` or
/// `uid:gid`). Numeric users count as root when they parse as 0 (`00`, `+0`), as
/// the runtime's number parsing would read them.
fn is_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or("").trim();
    if name.is_empty() || name == "root" {
        return true;
    }
    let digits = name.strip_prefix(['+', '-']).unwrap_or(name);
    !digits.is_empty() && digits.bytes().all(|b| b == b'0')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::fixtures::*;

    #[test]
    fn exec_users() {
        let p = team();
        let root_ok = TeamPolicy {
            exec_as_root: true,
            ..team()
        };
        // (requested, the container's default user, denied when root is not allowed)
        let cases = [
            (None, "", true),
            (None, "root", true),
            (None, "0", true),
            (None, "0:0", true),
            (None, "root:wheel", true),
            (None, "app", false),
            (None, "1000", false),
            (None, "1000:0", false),
            (Some("root"), "app", true),
            (Some("0"), "app", true),
            (Some("00"), "app", true),
            (Some("+0"), "app", true),
            (Some("0:1000"), "app", true),
            (Some("root:app"), "app", true),
            (Some(""), "app", true),
            (Some(" root"), "app", true),
            (Some("app"), "root", false),
            (Some("1000:1000"), "", false),
            (Some("nobody"), "", false),
            (Some("10"), "", false),
            (Some("rooty"), "", false),
        ];
        for (requested, default, denied) in cases {
            let case = format!("{requested:?} / {default:?}");
            let want = denied.then_some("exec_as_root");
            expect(check_exec_user(&p, requested, default), want, &case);
            expect(check_exec_user(&root_ok, requested, default), None, &case);
        }
    }
}
