//! Files only their owner may read: signing keys, backups (token hashes, keys) and
//! the files restored from them. On Unix, mode 0600 given when the file is made. On
//! Windows, a protected ACL (nothing inherited from the folder) that allows the
//! current user alone, set before anything is written; where Windows refuses to set
//! it, the file is removed and the write refused with that reason, since a key left
//! readable by the folder's other users would be worse than no key.

use std::fs::File;
use std::io;
use std::path::Path;

/// How [`open`] treats a file that exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existing {
    /// Refuse it (`AlreadyExists`): a key is never overwritten.
    Refuse,
    /// Empty it and write anew.
    Truncate,
}

/// Open `path` for writing, readable and writable by its owner only.
pub fn open(path: &Path, existing: Existing) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    match existing {
        Existing::Refuse => options.create_new(true),
        Existing::Truncate => options.create(true).truncate(true),
    };
    platform::open(&mut options, path)
}

#[cfg(unix)]
mod platform {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    use super::*;

    pub fn open(options: &mut std::fs::OpenOptions, path: &Path) -> io::Result<File> {
        let file = options.mode(0o600).open(path)?;
        // The mode applies only to a file this call made: one that was there keeps
        // its own, so it is set again.
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        Ok(file)
    }
}

#[cfg(windows)]
mod platform {
    use super::*;

    pub fn open(options: &mut std::fs::OpenOptions, path: &Path) -> io::Result<File> {
        let file = options.open(path)?;
        if let Err(e) = crate::util::user::restrict_to_me(path) {
            drop(file);
            let _ = std::fs::remove_file(path);
            return Err(io::Error::new(
                e.kind(),
                format!(
                    "cannot make {} readable by this user alone (Windows refused its access list: {e}); write it to a folder on an NTFS volume",
                    path.display()
                ),
            ));
        }
        Ok(file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_private_file_is_refused_or_truncated_as_asked() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        open(&path, Existing::Refuse)
            .unwrap()
            .write_all(b"first")
            .unwrap();
        let err = open(&path, Existing::Refuse).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        open(&path, Existing::Truncate)
            .unwrap()
            .write_all(b"2")
            .unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"2");
    }

    #[cfg(unix)]
    #[test]
    fn a_private_file_has_mode_0600_even_when_it_was_there() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, "open").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        open(&path, Existing::Truncate).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    /// The access list allows this user alone, as Windows reads it back from the file.
    #[cfg(windows)]
    #[test]
    fn a_private_file_allows_this_user_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        open(&path, Existing::Refuse).unwrap();
        let sddl = crate::util::user::access_list_of(&path).unwrap();
        let me = crate::util::user::sid().unwrap();
        assert!(owner_only(&sddl, &me), "{sddl}");
        // What the check reads as open is open.
        assert!(!owner_only(
            "D:(A;;FA;;;S-1-5-21-1)(A;;FR;;;WD)",
            "S-1-5-21-1"
        ));
        assert!(!owner_only("D:(A;;FA;;;BU)", "S-1-5-21-1"));
        assert!(!owner_only("D:", "S-1-5-21-1"));
    }

    /// Whether the DACL in `sddl` allows only `me` (and the system, which Windows
    /// grants everything anyway: wine writes it beside the user when it maps an
    /// access list onto a file's mode).
    #[cfg(windows)]
    fn owner_only(sddl: &str, me: &str) -> bool {
        let aces: Vec<&str> = sddl
            .split('(')
            .skip(1)
            .map(|ace| ace.trim_end_matches(')'))
            .collect();
        let trustee = |ace: &str| ace.rsplit(';').next().unwrap_or_default().to_string();
        aces.iter().any(|ace| trustee(ace) == me)
            && aces
                .iter()
                .all(|ace| ace.starts_with("A;") && [me, "SY"].contains(&trustee(ace).as_str()))
    }
}
