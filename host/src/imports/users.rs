//! A container's user as the engine will run it: for a named user, the container's
//! own `/etc/passwd` (and `/etc/group`) read through the engine, capped, and the
//! user resolved with the engine's rules (see `policy::users`). Used by `exec` and by
//! `create` for a team that may not run root containers.

use crate::contract::bindings::docker::DockerError;
use crate::engine::{files, Engine};
use crate::policy::users::{self, Ids};

/// The longest `/etc/passwd` or `/etc/group` the host reads.
const MAX_USER_FILE: usize = 1 << 20;

/// What the host found for a user.
pub struct Resolved {
    /// The ids the engine would run, or why the host cannot tell.
    pub ids: Result<Ids, String>,
    /// What to send the engine in place of the user: the checked ids for a named
    /// user, so that files the container changes after the check change nothing.
    /// None for a number (the engine takes it as it is) or no user (root).
    pub pinned: Option<String>,
}

/// Resolve `user` (a user spec, or empty for the default) in container `id`. Only a
/// named user needs the files: a number is the uid whatever they say.
pub async fn resolve(engine: &Engine, id: &str, user: &str) -> Result<Resolved, DockerError> {
    if user.is_empty() || users::is_numeric(user) {
        return Ok(Resolved {
            ids: users::resolve(user, None, None),
            pinned: None,
        });
    }
    let text = |b: Option<Vec<u8>>| b.map(|b| String::from_utf8_lossy(&b).into_owned());
    let files = async {
        let passwd = text(files::read(engine, id, "/etc/passwd", MAX_USER_FILE).await?);
        // The group file matters only for a user with a group (supplementary groups
        // do not change the uid): one request less for the others.
        let group = if user.contains(':') {
            text(files::read(engine, id, "/etc/group", MAX_USER_FILE).await?)
        } else {
            None
        };
        Ok::<_, DockerError>((passwd, group))
    };
    let ids = match files.await {
        Ok((passwd, group)) => users::resolve(user, passwd.as_deref(), group.as_deref()),
        // A file the host cannot read as the engine would (a link, too big).
        Err(DockerError::Invalid(why)) => Err(why),
        Err(e) => return Err(e),
    };
    let pinned = ids.as_ref().ok().map(Ids::spec);
    Ok(Resolved { ids, pinned })
}
