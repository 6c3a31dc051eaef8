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

/// The images a Dockerfile reads: the `FROM` of each stage (less `scratch` and
/// earlier stages named with `AS`), and the images that `COPY --from=` and
/// `ADD --from=` name rather than an earlier stage. Each of them is code or files the
/// team gets into its image, so each is checked like an image it runs. A reference
/// that uses a variable cannot be checked before the build, so it is an error (the
/// policy fails closed).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImagesRead {
    /// `FROM` images: their `ONBUILD` triggers run in this build.
    pub bases: Vec<String>,
    /// Images files are copied out of.
    pub copied: Vec<String>,
}

/// The instructions of a Dockerfile as (instruction, arguments), with continuation
/// lines joined as the builder joins them: by `\`, or by the character an
/// `# escape=` parser directive names.
fn instructions(dockerfile: &str) -> Vec<(String, String)> {
    let mut escape = '\\';
    // Parser directives are `# key=value` comments before anything else.
    for line in dockerfile.lines() {
        let Some(directive) = line.trim().strip_prefix('#') else {
            break;
        };
        match directive.split_once('=') {
            Some((key, value)) if key.trim().eq_ignore_ascii_case("escape") => {
                escape = value.trim().chars().next().unwrap_or('\\');
            }
            Some((key, _)) if key.trim().eq_ignore_ascii_case("syntax") => {}
            _ => break,
        }
    }
    let mut out = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        // Comment and empty lines are dropped, also inside a continued instruction.
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        match trimmed.strip_suffix(escape) {
            Some(head) => {
                current.push_str(head);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                let text = std::mem::take(&mut current);
                let (instruction, args) =
                    text.split_once(char::is_whitespace).unwrap_or((&text, ""));
                out.push((instruction.to_ascii_uppercase(), args.trim().to_string()));
            }
        }
    }
    if !current.trim().is_empty() {
        let (instruction, args) = current
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or((current.trim(), ""));
        out.push((instruction.to_ascii_uppercase(), args.trim().to_string()));
    }
    out
}

fn no_variable(what: &str, image: &str) -> Result<(), String> {
    if image.contains('$') {
        return Err(format!(
            "`{what}` uses a variable, so the host cannot check the image before the build: name the image"
        ));
    }
    Ok(())
}

/// What images `dockerfile` reads; see [`ImagesRead`].
pub fn images_read(dockerfile: &str) -> Result<ImagesRead, String> {
    let mut stages: Vec<String> = Vec::new();
    let mut read = ImagesRead::default();
    for (instruction, args) in instructions(dockerfile) {
        let mut words = args.split_whitespace();
        match instruction.as_str() {
            "FROM" => {
                let mut words = words.filter(|w| !w.starts_with("--"));
                let Some(image) = words.next() else {
                    return Err("a FROM line names no image".into());
                };
                no_variable(&format!("FROM {image}"), image)?;
                let lower = image.to_ascii_lowercase();
                if lower != "scratch" && !stages.contains(&lower) {
                    read.bases.push(image.to_string());
                }
                let stage = match (words.next(), words.next()) {
                    (Some(w), Some(name)) if w.eq_ignore_ascii_case("AS") => {
                        name.to_ascii_lowercase()
                    }
                    // Unnamed stages are still numbered.
                    _ => String::new(),
                };
                stages.push(stage);
            }
            "COPY" | "ADD" => {
                for flag in words.by_ref().take_while(|w| w.starts_with("--")) {
                    let Some((name, value)) = flag.split_once('=') else {
                        continue;
                    };
                    if !name.eq_ignore_ascii_case("--from") {
                        continue;
                    }
                    let source = value.trim_matches(['"', '\'']);
                    no_variable(&format!("{instruction} {flag}"), source)?;
                    let lower = source.to_ascii_lowercase();
                    let is_stage = stages.contains(&lower)
                        || lower.parse::<usize>().is_ok_and(|n| n < stages.len());
                    if source.is_empty() {
                        return Err(format!("`{instruction} {flag}` names no stage or image"));
                    }
                    if !is_stage {
                        read.copied.push(source.to_string());
                    }
                }
            }
            _ => {}
        }
    }
    Ok(read)
}

/// The `FROM` images of a Dockerfile; see [`images_read`].
pub fn base_images(dockerfile: &str) -> Result<Vec<String>, String> {
    images_read(dockerfile).map(|r| r.bases)
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
    fn images_copied_from() {
        let df = "FROM dockwright/base AS one\nFROM busybox\nCOPY --from=one /a /a\n\
                  COPY --from=0 /b /b\ncopy --chown=1 --from=red/secret:1 / /stolen/\n\
                  ADD --from=\"other:2\" /c /c\nCOPY --from=7 /d /d\n";
        let read = images_read(df).unwrap();
        assert_eq!(read.bases, ["dockwright/base", "busybox"]);
        assert_eq!(read.copied, ["red/secret:1", "other:2", "7"]);
        assert!(images_read("FROM x\nCOPY --from=$IMG / /\n")
            .unwrap_err()
            .contains("variable"));
        assert!(images_read("FROM x\nCOPY --from= / /\n").is_err());
    }

    #[test]
    fn escape_directives_join_lines_as_the_builder_does() {
        let df = "# escape=`\nFROM x\nRUN a `\n  b\nFROM `\n  red/secret:1\n";
        assert_eq!(base_images(df).unwrap(), ["x", "red/secret:1"]);
        // Once an instruction came, a later `# escape=` is a comment.
        let df = "FROM x\n# escape=`\nFROM `\n  y\n";
        assert!(base_images(df).unwrap().contains(&"`".to_string()));
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
