//! `dockwright new`: a plugin project that builds and runs as it stands, in the
//! language a team knows. Each carries a copy of the host's contract (`wit/`) and a
//! README whose commands build, check, add and run it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

/// The contract this host implements, copied into every new project.
const WIT: &str = include_str!("../../../wit/dockwright.wit");

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    Python,
    Js,
}

/// A recording of `hello` listing one container, which every project's test replays
/// with no engine (`dockwright test ... --replay`); the workflow is the same in each
/// language, so one cassette serves all three.
const CASSETTE: (&str, &str) = (
    "cassettes/hello.json",
    include_str!("../../templates/cassettes/hello.json.in"),
);

/// (path in the project, template) pairs for a language.
fn templates(lang: Lang) -> &'static [(&'static str, &'static str)] {
    match lang {
        Lang::Rust => &[
            (
                "Cargo.toml",
                include_str!("../../templates/rust/Cargo.toml.in"),
            ),
            (
                "src/lib.rs",
                include_str!("../../templates/rust/src/lib.rs.in"),
            ),
            (
                "README.md",
                include_str!("../../templates/rust/README.md.in"),
            ),
            (".gitignore", "/target\n"),
            CASSETTE,
        ],
        Lang::Python => &[
            ("app.py", include_str!("../../templates/python/app.py.in")),
            (
                "README.md",
                include_str!("../../templates/python/README.md.in"),
            ),
            (".gitignore", ".venv/\n*.wasm\n__pycache__/\n"),
            CASSETTE,
        ],
        Lang::Js => &[
            ("plugin.js", include_str!("../../templates/js/plugin.js.in")),
            ("build.mjs", include_str!("../../templates/js/build.mjs.in")),
            (
                "package.json",
                include_str!("../../templates/js/package.json.in"),
            ),
            ("README.md", include_str!("../../templates/js/README.md.in")),
            (".gitignore", "node_modules/\n*.wasm\n"),
            CASSETTE,
        ],
    }
}

/// Plugin names become crate, file and package names: keep them plain.
pub fn check_name(name: &str) -> Result<(), String> {
    let ok = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a valid plugin name: use lowercase letters, digits and `-`, starting with a letter"
        ))
    }
}

/// Fill a template: `{{name}}` is the plugin name, `{{crate}}` its underscored form,
/// `{{contract}}` the contract version this host implements (JavaScript imports name it).
pub fn render(template: &str, name: &str) -> String {
    template
        .replace("{{name}}", name)
        .replace("{{contract}}", crate::contract::bindings::CONTRACT_VERSION)
        .replace("{{crate}}", &name.replace('-', "_"))
}

/// Write a new project for `name` into `dir` (which must not exist or be empty).
/// Returns the files written.
pub fn create(name: &str, lang: Lang, dir: &Path) -> Result<Vec<PathBuf>> {
    check_name(name).map_err(anyhow::Error::msg)?;
    if dir.exists()
        && std::fs::read_dir(dir)
            .with_context(|| format!("cannot read `{}`", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "`{}` already exists and is not empty: choose another name or --dir",
            dir.display()
        );
    }
    let mut written = Vec::new();
    let files = templates(lang)
        .iter()
        .map(|(path, template)| (*path, render(template, name)))
        .chain([("wit/dockwright.wit", WIT.to_string())]);
    for (path, text) in files {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create `{}`", parent.display()))?;
        }
        std::fs::write(&target, text)
            .with_context(|| format!("cannot write `{}`", target.display()))?;
        written.push(target);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("hello-team2").is_ok());
        for bad in ["", "Hello", "2x", "a_b", "a b", "-a"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn projects_are_written_with_the_contract() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("hello-team");
        for lang in [Lang::Rust, Lang::Python, Lang::Js] {
            let target = target.join(format!("{lang:?}"));
            let files = create("hello-team", lang, &target).unwrap();
            assert!(files.iter().any(|f| f.ends_with("wit/dockwright.wit")));
            let readme = std::fs::read_to_string(target.join("README.md")).unwrap();
            assert!(
                readme.contains("hello-team") && !readme.contains("{{"),
                "{readme}"
            );
            let err = create("hello-team", lang, &target).unwrap_err().to_string();
            assert!(err.contains("not empty"), "{err}");
        }
        let lib = std::fs::read_to_string(target.join("Rust/src/lib.rs")).unwrap();
        assert!(lib.contains("name: \"hello-team\".into()"), "{lib}");
        assert!(std::fs::read_to_string(target.join("Rust/README.md"))
            .unwrap()
            .contains("release/hello_team.wasm"));
    }
}
