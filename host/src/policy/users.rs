//! Users as the engine resolves them: a user name, or none, says nothing about the
//! uid a process gets. The engine looks the name up in the container's own
//! `/etc/passwd` (and the group in `/etc/group`), with the rules of runc's
//! `libcontainer/user` (`GetExecUser`), and converts the number to 32 bits. The host
//! reads those files itself and resolves the user with the same rules, so a team's
//! image that maps `nobody` to uid 0 is seen for what it is.

/// A uid and gid, as the engine would run a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids {
    pub uid: u32,
    pub gid: u32,
}

impl Ids {
    /// The user spec that names exactly these ids, whatever the container's files say.
    pub fn spec(&self) -> String {
        format!("{}:{}", self.uid, self.gid)
    }
}

/// The largest id runc takes from a number with no entry in the files.
const MAX_ID: i64 = i32::MAX as i64;

struct Passwd<'a> {
    name: &'a str,
    uid: i64,
    gid: i64,
}

struct Group<'a> {
    name: &'a str,
    gid: i64,
}

/// A colon-separated line as runc reads it: trimmed, fields in order, a missing or
/// non-numeric number read as 0 (runc ignores `Atoi`'s error). A hostile file relies
/// on that: `nobody:x:nobody:...` is uid 0.
fn fields(line: &str) -> impl Iterator<Item = &str> {
    line.split(':')
}

fn number(field: Option<&str>) -> i64 {
    field.and_then(|f| f.parse::<i64>().ok()).unwrap_or(0)
}

/// The non-empty lines of a passwd or group file as (name, third field, fourth
/// field): uid and gid for passwd, gid and members for group.
fn records(text: &str) -> impl Iterator<Item = (&str, Option<&str>, Option<&str>)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|line| {
            let mut f = fields(line);
            let name = f.next().unwrap_or("");
            let _password = f.next();
            (name, f.next(), f.next())
        })
}

fn passwd_entries(text: &str) -> Vec<Passwd<'_>> {
    records(text)
        .map(|(name, uid, gid)| Passwd {
            name,
            uid: number(uid),
            gid: number(gid),
        })
        .collect()
}

fn group_entries(text: &str) -> Vec<Group<'_>> {
    records(text)
        .map(|(name, gid, _members)| Group {
            name,
            gid: number(gid),
        })
        .collect()
}

/// Whether the user part of `spec` is a number, which the engine takes as the uid
/// whatever the container's files say (so they need not be read).
pub fn is_numeric(spec: &str) -> bool {
    spec.split(':')
        .next()
        .is_some_and(|u| !u.is_empty() && u.bytes().all(|b| b.is_ascii_digit()))
}

/// Go's `strconv.Atoi`: an optional sign, then decimal digits, in 64 bits.
fn atoi(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<i64>().ok()
}

/// The ids the engine would run `spec` (`user`, `user:group`, numeric or named, or
/// empty for the default, root) as, given the container's `/etc/passwd` and
/// `/etc/group` (`None`: the file is absent). An error is what the engine would fail
/// with, or a spec the host would read differently.
pub fn resolve(spec: &str, passwd: Option<&str>, group: Option<&str>) -> Result<Ids, String> {
    let mut parts = spec.split(':');
    let user = parts.next().unwrap_or("");
    let group_arg = parts.next().unwrap_or("");
    let uid_arg = atoi(user);
    let gid_arg = atoi(group_arg);
    let users = passwd.map(passwd_entries).unwrap_or_default();
    let matched = users.iter().find(|u| match (user, uid_arg) {
        ("", _) => u.uid == 0,
        (_, Some(uid)) => u.uid == uid,
        (name, None) => u.name == name,
    });
    let (mut uid, mut gid) = (0i64, 0i64);
    match (matched, uid_arg) {
        (Some(entry), _) => {
            uid = entry.uid;
            gid = entry.gid;
        }
        (None, _) if user.is_empty() => {}
        (None, Some(number)) if (0..=MAX_ID).contains(&number) => uid = number,
        (None, Some(number)) => return Err(format!("the uid {number} is out of range")),
        (None, None) => {
            return Err(format!(
                "the container has no user `{user}` in its /etc/passwd"
            ))
        }
    }
    if !group_arg.is_empty() {
        let groups = group.map(group_entries).unwrap_or_default();
        let found = groups.iter().find(|g| match gid_arg {
            Some(n) => g.gid == n,
            None => g.name == group_arg,
        });
        gid = match (found, gid_arg) {
            (Some(g), _) => g.gid,
            (None, Some(n)) if (0..=MAX_ID).contains(&n) => n,
            (None, Some(n)) => return Err(format!("the gid {n} is out of range")),
            (None, None) => {
                return Err(format!(
                    "the container has no group `{group_arg}` in its /etc/group"
                ))
            }
        };
    }
    // The engine keeps 32 bits: `4294967296` in a passwd file is uid 0.
    Ok(Ids {
        uid: uid as u32,
        gid: gid as u32,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
                          daemon:x:1:1::/:/bin/false\n\
                          app:x:1000:1000::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nstaff:x:50:app\napp:x:1000:\n";

    fn ids(spec: &str, passwd: &str) -> Result<(u32, u32), String> {
        resolve(spec, Some(passwd), Some(GROUP)).map(|i| (i.uid, i.gid))
    }

    #[test]
    fn names_and_numbers_resolve_as_the_engine_resolves_them() {
        assert_eq!(ids("", PASSWD), Ok((0, 0)));
        assert_eq!(ids("app", PASSWD), Ok((1000, 1000)));
        assert_eq!(ids("1000", PASSWD), Ok((1000, 1000)));
        assert_eq!(ids("2000", PASSWD), Ok((2000, 0)));
        assert_eq!(ids("+0", PASSWD), Ok((0, 0)));
        assert_eq!(ids("app:staff", PASSWD), Ok((1000, 50)));
        assert_eq!(ids("app:77", PASSWD), Ok((1000, 77)));
        assert!(ids("nobody", PASSWD)
            .unwrap_err()
            .contains("no user `nobody`"));
        assert!(ids("app:nogroup", PASSWD).unwrap_err().contains("no group"));
        assert!(ids("4294967296", PASSWD)
            .unwrap_err()
            .contains("out of range"));
        // No passwd file: only numbers resolve.
        assert_eq!(resolve("7:8", None, None), Ok(Ids { uid: 7, gid: 8 }));
        assert!(resolve("app", None, None).is_err());
        assert_eq!(Ids { uid: 7, gid: 8 }.spec(), "7:8");
        assert!(is_numeric("1000") && is_numeric("0:app"));
        assert!(!is_numeric("") && !is_numeric("app") && !is_numeric("+1"));
    }

    #[test]
    fn a_hostile_passwd_file_is_read_as_the_engine_reads_it() {
        // `nobody` mapped to uid 0 outright, through a number that is not one, through
        // a missing field, and through a number that wraps to 0 in 32 bits.
        for passwd in [
            "nobody:x:0:0::/:/bin/sh\n",
            "nobody:x:nobody:65534::/:/bin/sh\n",
            "nobody\n",
            "nobody:x:4294967296:65534::/:/bin/sh\n",
            "  nobody:x:0:0  \n",
        ] {
            assert_eq!(ids("nobody", passwd).map(|i| i.0), Ok(0), "{passwd:?}");
        }
        // The first of two entries wins.
        assert_eq!(
            ids("nobody", "nobody:x:0:0\nnobody:x:65534:65534\n"),
            Ok((0, 0))
        );
        // A number matches by uid, not by name: `0` is root even when a user is named 0.
        assert_eq!(ids("0", "0:x:1000:1000\nroot:x:0:0\n"), Ok((0, 0)));
    }
}
