//! Build contexts: a directory on the host or files given inline by the plugin,
//! packed as the tar stream the engine's build endpoint reads.

use std::path::{Component, Path, PathBuf};

use crate::contract::bindings::docker::{ContextFile, DockerError};

/// A relative path inside a context, with no `..`, root or prefix: what a plugin
/// names can only point inside the context.
pub fn inside_context(path: &str) -> Result<PathBuf, String> {
    let p = Path::new(path);
    if path.is_empty() {
        return Err("a path in the build context is empty".into());
    }
    for c in p.components() {
        match c {
            Component::Normal(_) | Component::CurDir => {}
            _ => {
                return Err(format!(
                    "`{path}` points outside the build context: use a relative path without `..`"
                ))
            }
        }
    }
    Ok(p.to_path_buf())
}

/// Pack a host directory. Symlinks are packed as links, never followed, so a link
/// cannot pull a file from outside the directory into the build.
pub fn tar_directory(dir: &Path, dockerfile: &str) -> Result<Vec<u8>, DockerError> {
    let shown = dir.display();
    let meta = std::fs::metadata(dir).map_err(|e| {
        DockerError::NotFound(format!("build context `{shown}` cannot be read: {e}"))
    })?;
    if !meta.is_dir() {
        return Err(DockerError::Invalid(format!(
            "build context `{shown}` is not a directory: give a directory that holds a Dockerfile"
        )));
    }
    let dockerfile_path = dir.join(inside_context(dockerfile).map_err(DockerError::Invalid)?);
    if !dockerfile_path.is_file() {
        return Err(DockerError::NotFound(format!(
            "build context `{shown}` has no `{dockerfile}`: put the Dockerfile there or name it with `dockerfile`"
        )));
    }
    let mut tar = tar::Builder::new(Vec::new());
    tar.follow_symlinks(false);
    tar.mode(tar::HeaderMode::Deterministic);
    tar.append_dir_all(".", dir)
        .and_then(|()| tar.into_inner())
        .map_err(|e| DockerError::Invalid(format!("cannot pack build context `{shown}`: {e}")))
}

/// Pack inline files. One of them must be the Dockerfile.
pub fn tar_files(files: &[ContextFile], dockerfile: &str) -> Result<Vec<u8>, DockerError> {
    let dockerfile = inside_context(dockerfile).map_err(DockerError::Invalid)?;
    let mut has_dockerfile = false;
    let mut tar = tar::Builder::new(Vec::new());
    for file in files {
        let path = inside_context(&file.path).map_err(DockerError::Invalid)?;
        has_dockerfile |= path == dockerfile;
        let mut header = tar::Header::new_gnu();
        header.set_size(file.contents.len() as u64);
        header.set_mode(if file.contents.starts_with(b"#!") {
            0o755
        } else {
            0o644
        });
        header.set_mtime(0);
        tar.append_data(&mut header, &path, file.contents.as_slice())
            .map_err(|e| DockerError::Invalid(format!("cannot pack `{}`: {e}", file.path)))?;
    }
    if !has_dockerfile {
        return Err(DockerError::Invalid(format!(
            "the inline build context has no `{}`: add a file with that path holding the Dockerfile",
            dockerfile.display()
        )));
    }
    tar.into_inner()
        .map_err(|e| DockerError::Invalid(format!("cannot pack the inline build context: {e}")))
}

/// The images a Dockerfile builds from: the `FROM` of each stage, less `scratch` and
/// earlier stages named with `AS`. A `FROM` that uses a variable cannot be checked
/// before the build, so it is an error (the policy fails closed).
pub fn base_images(dockerfile: &str) -> Result<Vec<String>, String> {
    let mut stages: Vec<String> = Vec::new();
    let mut images = Vec::new();
    // Join continuation lines, as the builder does.
    let text = dockerfile.replace("\\\n", " ");
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if !words.next().is_some_and(|w| w.eq_ignore_ascii_case("FROM")) {
            continue;
        }
        let mut words = words.filter(|w| !w.starts_with("--"));
        let Some(image) = words.next() else {
            return Err("a FROM line names no image".into());
        };
        if image.contains('$') {
            return Err(format!(
                "`FROM {image}` uses a variable, so the host cannot check the image before the build: name the image"
            ));
        }
        let lower = image.to_ascii_lowercase();
        if lower != "scratch" && !stages.contains(&lower) {
            images.push(image.to_string());
        }
        if words.next().is_some_and(|w| w.eq_ignore_ascii_case("AS")) {
            if let Some(stage) = words.next() {
                stages.push(stage.to_ascii_lowercase());
            }
        }
    }
    Ok(images)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(tar_bytes: &[u8]) -> Vec<String> {
        let mut archive = tar::Archive::new(tar_bytes);
        let mut out: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        out.sort();
        out
    }

    fn file(path: &str, text: &str) -> ContextFile {
        ContextFile {
            path: path.into(),
            contents: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn base_images_of_stages() {
        let df = "# comment\nFROM --platform=linux/amd64 dockwright/base:latest AS build\nRUN x\n\
                  from build AS second\nFROM scratch\nCOPY --from=build /a /a\nFROM \\\n  web:1\n";
        assert_eq!(
            base_images(df).unwrap(),
            ["dockwright/base:latest", "web:1"]
        );
        assert!(base_images("ARG B\nFROM ${B}\n")
            .unwrap_err()
            .contains("variable"));
        assert!(base_images("FROM\n").is_err());
        assert!(base_images("RUN echo FROM x\n").unwrap().is_empty());
    }

    #[test]
    fn paths_stay_inside() {
        assert!(inside_context("Dockerfile").is_ok());
        assert!(inside_context("./site/index.html").is_ok());
        for bad in ["../x", "/etc/passwd", "a/../../b", ""] {
            assert!(inside_context(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn inline_files_need_the_dockerfile() {
        let tar = tar_files(
            &[file("Dockerfile", "FROM x"), file("run.sh", "#!/bin/sh")],
            "Dockerfile",
        )
        .unwrap();
        assert_eq!(names(&tar), ["Dockerfile", "run.sh"]);
        let err = tar_files(&[file("run.sh", "x")], "Dockerfile").unwrap_err();
        assert!(matches!(err, DockerError::Invalid(m) if m.contains("no `Dockerfile`")));
        let err = tar_files(&[file("../Dockerfile", "x")], "Dockerfile").unwrap_err();
        assert!(matches!(err, DockerError::Invalid(m) if m.contains("outside")));
    }

    #[test]
    fn directories_need_a_dockerfile_and_keep_links_as_links() {
        let dir = tempfile::tempdir().unwrap();
        let err = tar_directory(dir.path(), "Dockerfile").unwrap_err();
        assert!(matches!(err, DockerError::NotFound(m) if m.contains("no `Dockerfile`")));
        std::fs::write(dir.path().join("Dockerfile"), "FROM x").unwrap();
        std::os::unix::fs::symlink("/etc/hostname", dir.path().join("link")).unwrap();
        let tar = tar_directory(dir.path(), "Dockerfile").unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let link = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap())
            .find(|e| e.path().unwrap().ends_with("link"))
            .unwrap();
        assert_eq!(link.header().entry_type(), tar::EntryType::Symlink);
        assert_eq!(link.header().size().unwrap(), 0);
    }

    #[test]
    fn missing_directories_are_not_found() {
        let err = tar_directory(Path::new("/no/such/dir"), "Dockerfile").unwrap_err();
        assert!(matches!(err, DockerError::NotFound(_)));
    }
}
