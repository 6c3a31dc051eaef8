//! Build contexts: the files of a host directory or given inline by the plugin, read
//! by the host and packed by the host, with the canonical Dockerfile it wrote (see
//! `dockwright_dockerfile`) as the one the engine builds.
//!
//! The engine never gets to choose between two readings: each path is in the tar
//! once, the Dockerfile it builds is a regular file the host wrote under a name the
//! context does not use, and the user's Dockerfile is read from a regular file inside
//! the context, never through a symlink (the builder would resolve one inside the
//! context, the host's file system outside it).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use crate::contract::bindings::docker::{ContextFile, DockerError};

/// The name the canonical Dockerfile has in the context the engine gets.
pub const CANONICAL_NAME: &str = ".dockwright-Dockerfile";

/// The builder reads `.dockerignore` to decide whether to drop the Dockerfile and
/// itself from the context it extracted (the rest of the file is for the client).
const IGNORE_FILE: &str = ".dockerignore";

/// Longest Dockerfile the host reads (the parser's limit).
const MAX_DOCKERFILE: u64 = dockwright_dockerfile::MAX_BYTES as u64;

/// A path inside a context as the engine's tar reader takes it: relative, with `.`
/// and repeated `/` dropped, no `..`. `./a//b` and `a/b` are the same path.
pub fn inside_context(path: &str) -> Result<PathBuf, String> {
    let p = Path::new(path);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            _ => {
                return Err(format!(
                    "`{path}` points outside the build context: use a relative path without `..`"
                ))
            }
        }
    }
    if out.as_os_str().is_empty() {
        return Err(format!(
            "`{path}` names no file in the build context: give a relative path such as `Dockerfile`"
        ));
    }
    Ok(out)
}

/// What a context entry is.
enum Entry {
    Dir,
    File { data: Vec<u8>, mode: u32 },
    Link(PathBuf),
}

/// A build context the host has read: every path once, and the user's Dockerfile.
pub struct Context {
    entries: BTreeMap<PathBuf, Entry>,
    /// The text of the Dockerfile the user named.
    pub dockerfile: String,
    what: String,
}

impl Context {
    /// The files a plugin gave inline. Two files with one path (after `./` and `//`
    /// are dropped) are refused: the builder would take the last, and which one the
    /// host read would be a guess.
    pub fn from_files(files: &[ContextFile], dockerfile: &str) -> Result<Context, DockerError> {
        let wanted = inside_context(dockerfile).map_err(DockerError::Invalid)?;
        let mut entries = BTreeMap::new();
        for file in files {
            let path = inside_context(&file.path).map_err(DockerError::Invalid)?;
            let mode = if file.contents.starts_with(b"#!") {
                0o755
            } else {
                0o644
            };
            let entry = Entry::File {
                data: file.contents.clone(),
                mode,
            };
            if entries.insert(path.clone(), entry).is_some() {
                return Err(DockerError::Invalid(format!(
                    "the inline build context names `{}` twice (as `{}` and an earlier path): give each file once",
                    path.display(),
                    file.path
                )));
            }
        }
        let what = "the inline build context".to_string();
        let text = match entries.get(&wanted) {
            Some(Entry::File { data, .. }) => data.clone(),
            _ => {
                return Err(DockerError::Invalid(format!(
                    "the inline build context has no `{}`: add a file with that path holding the Dockerfile",
                    wanted.display()
                )))
            }
        };
        let mut context = Context {
            entries,
            dockerfile: String::new(),
            what,
        };
        context.check_tree()?;
        context.dockerfile = utf8(text, &context.what)?;
        Ok(context)
    }

    /// A host directory. Symlinks are kept as links, never followed, so a link cannot
    /// pull a file from outside the directory into the build; the Dockerfile must be
    /// a regular file reached through no link.
    pub fn from_directory(dir: &Path, dockerfile: &str) -> Result<Context, DockerError> {
        let shown = dir.display().to_string();
        let meta = std::fs::metadata(dir).map_err(|e| {
            DockerError::NotFound(format!("build context `{shown}` cannot be read: {e}"))
        })?;
        if !meta.is_dir() {
            return Err(DockerError::Invalid(format!(
                "build context `{shown}` is not a directory: give a directory that holds a Dockerfile"
            )));
        }
        let wanted = inside_context(dockerfile).map_err(DockerError::Invalid)?;
        let what = format!("build context `{shown}`");
        let text = read_dockerfile(dir, &wanted, &what)?;
        let mut entries = BTreeMap::new();
        walk(dir, Path::new(""), &mut entries)
            .map_err(|e| DockerError::Invalid(format!("cannot pack {what}: {e}")))?;
        Ok(Context {
            entries,
            dockerfile: utf8(text, &what)?,
            what,
        })
    }

    /// The tar stream for the engine, with `canonical` as [`CANONICAL_NAME`], and a
    /// `.dockerignore` that has the builder drop it (and the `.dockerignore`, when the
    /// user had none) once read, so the image is what the user's own file would make.
    pub fn pack(mut self, canonical: &str) -> Result<Vec<u8>, DockerError> {
        if self.entries.keys().any(|p| p.starts_with(CANONICAL_NAME)) {
            return Err(DockerError::Invalid(format!(
                "{} has a file `{CANONICAL_NAME}`, the name the host gives the Dockerfile it sends: rename it",
                self.what
            )));
        }
        let ignore = match self.entries.remove(Path::new(IGNORE_FILE)) {
            Some(Entry::File { mut data, .. }) => {
                data.extend_from_slice(format!("\n{CANONICAL_NAME}\n").as_bytes());
                data
            }
            Some(_) => {
                return Err(DockerError::Invalid(format!(
                    "{}: `{IGNORE_FILE}` is not a regular file: make it one or remove it",
                    self.what
                )))
            }
            None => format!("{CANONICAL_NAME}\n{IGNORE_FILE}\n").into_bytes(),
        };
        self.entries.insert(
            IGNORE_FILE.into(),
            Entry::File {
                data: ignore,
                mode: 0o644,
            },
        );
        self.entries.insert(
            CANONICAL_NAME.into(),
            Entry::File {
                data: canonical.as_bytes().to_vec(),
                mode: 0o644,
            },
        );
        self.check_tree()?;
        let fail =
            |e: std::io::Error| DockerError::Invalid(format!("cannot pack {}: {e}", self.what));
        let mut tar = tar::Builder::new(Vec::new());
        for (path, entry) in &self.entries {
            let mut header = tar::Header::new_gnu();
            header.set_mtime(0);
            match entry {
                Entry::Dir => {
                    header.set_entry_type(tar::EntryType::Directory);
                    header.set_mode(0o755);
                    header.set_size(0);
                    tar.append_data(&mut header, path, std::io::empty())
                        .map_err(fail)?;
                }
                Entry::File { data, mode } => {
                    header.set_mode(*mode);
                    header.set_size(data.len() as u64);
                    tar.append_data(&mut header, path, data.as_slice())
                        .map_err(fail)?;
                }
                Entry::Link(target) => {
                    header.set_entry_type(tar::EntryType::Symlink);
                    header.set_mode(0o777);
                    header.set_size(0);
                    tar.append_link(&mut header, path, target).map_err(fail)?;
                }
            }
        }
        tar.into_inner().map_err(fail)
    }

    /// Inline paths must make a tree: `a` cannot be a file and hold `a/b`.
    fn check_tree(&mut self) -> Result<(), DockerError> {
        let paths: Vec<PathBuf> = self.entries.keys().cloned().collect();
        for path in &paths {
            for parent in path.ancestors().skip(1) {
                if parent.as_os_str().is_empty() {
                    break;
                }
                if let Some(Entry::File { .. }) = self.entries.get(parent) {
                    return Err(DockerError::Invalid(format!(
                        "{}: `{}` is a file, so it cannot hold `{}`",
                        self.what,
                        parent.display(),
                        path.display()
                    )));
                }
            }
        }
        Ok(())
    }
}

fn utf8(bytes: Vec<u8>, what: &str) -> Result<String, DockerError> {
    String::from_utf8(bytes).map_err(|_| {
        DockerError::Invalid(format!(
            "the Dockerfile of {what} is not UTF-8 text: save it as UTF-8"
        ))
    })
}

/// Read the Dockerfile at `rel` below `dir`, refusing a symlink anywhere on the way:
/// each folder on the path is checked, and the file is opened without following a
/// link, so a link swapped in for it cannot make the host read another file.
fn read_dockerfile(dir: &Path, rel: &Path, what: &str) -> Result<Vec<u8>, DockerError> {
    let mut at = dir.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for (i, part) in parts.iter().enumerate() {
        at.push(part);
        let meta = std::fs::symlink_metadata(&at).map_err(|_| {
            DockerError::NotFound(format!(
                "{what} has no `{}`: put the Dockerfile there or name it with `dockerfile`",
                rel.display()
            ))
        })?;
        let last = i + 1 == parts.len();
        if meta.file_type().is_symlink() {
            return Err(DockerError::Invalid(format!(
                "{what}: the Dockerfile `{}` is reached through the symlink `{}`; the host reads only a regular file of the context: copy the file there instead of linking it",
                rel.display(),
                at.strip_prefix(dir).unwrap_or(&at).display()
            )));
        }
        if last && !meta.is_file() {
            return Err(DockerError::Invalid(format!(
                "{what}: `{}` is not a regular file",
                rel.display()
            )));
        }
    }
    let file = open_no_follow(&at).map_err(|e| {
        DockerError::Invalid(format!("{what}: cannot read `{}`: {e}", rel.display()))
    })?;
    let mut text = Vec::new();
    file.take(MAX_DOCKERFILE + 1)
        .read_to_end(&mut text)
        .map_err(|e| {
            DockerError::Invalid(format!("{what}: cannot read `{}`: {e}", rel.display()))
        })?;
    if text.len() as u64 > MAX_DOCKERFILE {
        return Err(DockerError::Invalid(format!(
            "{what}: `{}` is more than {MAX_DOCKERFILE} bytes: make it smaller",
            rel.display()
        )));
    }
    Ok(text)
}

fn open_no_follow(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags(libc::O_NOFOLLOW);
    }
    options.open(path)
}

/// Every entry below `dir`, links as links. Files are opened without following a
/// link, so one swapped in after the listing fails the build instead of being read.
fn walk(dir: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, Entry>) -> std::io::Result<()> {
    let mut names: Vec<_> = std::fs::read_dir(dir.join(rel))?
        .map(|e| e.map(|e| e.file_name()))
        .collect::<Result<_, _>>()?;
    names.sort();
    for name in names {
        let path = rel.join(&name);
        let full = dir.join(&path);
        let meta = std::fs::symlink_metadata(&full)?;
        let kind = meta.file_type();
        if kind.is_symlink() {
            out.insert(path, Entry::Link(std::fs::read_link(&full)?));
        } else if kind.is_dir() {
            out.insert(path.clone(), Entry::Dir);
            walk(dir, &path, out)?;
        } else if kind.is_file() {
            let mut data = Vec::new();
            open_no_follow(&full)?.read_to_end(&mut data)?;
            #[cfg(unix)]
            let mode = {
                use std::os::unix::fs::PermissionsExt;
                meta.permissions().mode() & 0o7777
            };
            #[cfg(not(unix))]
            let mode = 0o644;
            out.insert(path, Entry::File { data, mode });
        }
        // Sockets, fifos and devices are not build inputs: left out, as `docker
        // build` leaves them out.
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(tar_bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut archive = tar::Archive::new(tar_bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let mut e = e.unwrap();
                let path = e.path().unwrap().display().to_string();
                let mut data = Vec::new();
                e.read_to_end(&mut data).unwrap();
                (path, data)
            })
            .collect()
    }

    fn names(tar_bytes: &[u8]) -> Vec<String> {
        entries(tar_bytes).into_iter().map(|(p, _)| p).collect()
    }

    fn file(path: &str, text: &str) -> ContextFile {
        ContextFile {
            path: path.into(),
            contents: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn paths_stay_inside_and_are_normalised() {
        assert_eq!(inside_context("./a//b").unwrap(), PathBuf::from("a/b"));
        assert_eq!(
            inside_context("Dockerfile").unwrap(),
            PathBuf::from("Dockerfile")
        );
        for bad in ["../x", "/etc/passwd", "a/../../b", "", ".", "./"] {
            assert!(inside_context(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn inline_files_are_each_one_path() {
        for (a, b) in [
            ("Dockerfile", "Dockerfile"),
            ("Dockerfile", "./Dockerfile"),
            ("a/b", "a//b"),
        ] {
            let Err(err) =
                Context::from_files(&[file(a, "FROM x"), file(b, "FROM y")], "Dockerfile")
            else {
                panic!("{a} and {b} were both taken")
            };
            assert!(
                matches!(&err, DockerError::Invalid(m) if m.contains("twice")),
                "{err:?}"
            );
        }
        let Err(err) = Context::from_files(
            &[
                file("a", "x"),
                file("a/b", "y"),
                file("Dockerfile", "FROM x"),
            ],
            "Dockerfile",
        ) else {
            panic!("a file held a file")
        };
        assert!(
            matches!(&err, DockerError::Invalid(m) if m.contains("cannot hold")),
            "{err:?}"
        );
        let Err(err) = Context::from_files(&[file("run.sh", "x")], "Dockerfile") else {
            panic!("no Dockerfile")
        };
        assert!(matches!(&err, DockerError::Invalid(m) if m.contains("no `Dockerfile`")));
    }

    #[test]
    fn the_engine_builds_the_canonical_file_and_drops_it() {
        let context = Context::from_files(
            &[file("./Dockerfile", "FROM x"), file("run.sh", "#!/bin/sh")],
            "Dockerfile",
        )
        .unwrap();
        assert_eq!(context.dockerfile, "FROM x");
        let tar = context.pack("FROM sha256:00 AS stage..0\n").unwrap();
        let all = entries(&tar);
        assert_eq!(
            names(&tar),
            [IGNORE_FILE, CANONICAL_NAME, "Dockerfile", "run.sh"]
        );
        assert_eq!(all[1].1, b"FROM sha256:00 AS stage..0\n");
        assert_eq!(
            all[0].1,
            format!("{CANONICAL_NAME}\n{IGNORE_FILE}\n").as_bytes()
        );
        // A user's own ignore file is kept, with the host's line last.
        let context = Context::from_files(
            &[file("Dockerfile", "FROM x"), file(".dockerignore", "*.log")],
            "Dockerfile",
        )
        .unwrap();
        let all = entries(&context.pack("FROM x\n").unwrap());
        assert_eq!(all[0].1, format!("*.log\n{CANONICAL_NAME}\n").as_bytes());
        // The host's name is the host's.
        let context = Context::from_files(
            &[file("Dockerfile", "FROM x"), file(CANONICAL_NAME, "FROM y")],
            "Dockerfile",
        )
        .unwrap();
        assert!(context.pack("FROM x\n").is_err());
    }

    // Unix: links (Windows makes them only with a privilege).
    #[cfg(unix)]
    #[test]
    fn a_dockerfile_behind_a_link_is_refused_and_links_stay_links() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let err = Context::from_directory(dir.path(), "Dockerfile")
            .err()
            .unwrap();
        assert!(matches!(err, DockerError::NotFound(m) if m.contains("no `Dockerfile`")));
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("Dockerfile"), "FROM red/secret").unwrap();
        std::fs::create_dir(dir.path().join("real")).unwrap();
        std::fs::write(dir.path().join("real/Dockerfile"), "FROM x").unwrap();
        symlink(
            outside.path().join("Dockerfile"),
            dir.path().join("Dockerfile"),
        )
        .unwrap();
        symlink("real/Dockerfile", dir.path().join("relative")).unwrap();
        symlink(outside.path(), dir.path().join("linked")).unwrap();
        for name in ["Dockerfile", "relative", "linked/Dockerfile"] {
            let err = Context::from_directory(dir.path(), name).err().unwrap();
            assert!(
                matches!(&err, DockerError::Invalid(m) if m.contains("symlink")),
                "{name}: {err:?}"
            );
        }
        let context = Context::from_directory(dir.path(), "real/Dockerfile").unwrap();
        assert_eq!(context.dockerfile, "FROM x");
        let tar = context.pack("FROM x\n").unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let link = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path().unwrap().ends_with("linked"))
            .unwrap();
        assert_eq!(link.header().entry_type(), tar::EntryType::Symlink);
    }

    #[test]
    fn missing_directories_are_not_found() {
        let err = Context::from_directory(Path::new("/no/such/dir"), "Dockerfile")
            .err()
            .unwrap();
        assert!(matches!(err, DockerError::NotFound(_)));
    }
}
