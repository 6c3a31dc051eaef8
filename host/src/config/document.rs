//! The file once read: its text, the path it came from, and the folder its relative
//! paths are taken from. Each section's owner reads its part with
//! [`Document::section`], into a struct of its own keys that lets the other keys of
//! the top level be (each of its tables still refuses a key it does not know); the
//! top level's keys are checked once, by whoever gathers the sections
//! ([`Document::check_keys`]).
//!
//! The file is parsed once: its tree, with where each key and value is written, serves
//! every section's reading and places every error. The tree borrows the text, so a
//! document lives no longer than the text it was read from.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use toml::de::DeTable;
use toml::Spanned;

use super::source::{unknown_key, Source};

#[derive(Debug, Clone)]
pub struct Document<'a> {
    text: &'a str,
    table: Spanned<DeTable<'a>>,
    source: PathBuf,
    folder: PathBuf,
}

impl<'a> Document<'a> {
    /// The config `text` holds. `source` is the file it came from: errors name it, and
    /// relative paths in it are taken from its folder (itself taken from `cwd` when
    /// relative). A syntax error is placed at its line and column.
    pub fn parse(text: &'a str, source: &Path, cwd: &Path) -> anyhow::Result<Document<'a>> {
        let table = match DeTable::parse(text) {
            Ok(table) => table,
            Err(e) => {
                let file = Source {
                    file: source,
                    text,
                    doc: &DeTable::default(),
                };
                return Err(file.error_at(e.span(), None, e.message()));
            }
        };
        Ok(Document {
            text,
            table,
            source: source.to_path_buf(),
            folder: cwd.join(source.parent().unwrap_or(Path::new(""))),
        })
    }

    /// The file the text came from, as it was named.
    pub fn source(&self) -> &Path {
        &self.source
    }

    /// The folder relative paths in the file are taken from.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// The file with the places of its keys, to place errors in it.
    pub fn locator(&self) -> Source<'_> {
        Source {
            file: &self.source,
            text: self.text,
            doc: self.table.get_ref(),
        }
    }

    /// The section `T` describes: the whole file read into `T`, whose top level
    /// ignores the keys it does not name. serde's errors get the full key and the
    /// config's wording.
    pub fn section<T: DeserializeOwned>(&self) -> anyhow::Result<T> {
        T::deserialize(toml::de::Deserializer::from(self.table.clone()))
            .map_err(|e| self.locator().serde_error(&e))
    }

    /// An error at the key `path`, placed at its line when the file has it.
    pub fn error(&self, path: &[&str], message: &str) -> anyhow::Error {
        self.locator().error(path, message)
    }

    /// Refuse a top-level key that is not one of `known`, as serde refuses an unknown
    /// key within a table: with the keys allowed and the closest one.
    pub fn check_keys(&self, known: &[&str]) -> anyhow::Result<()> {
        let file = self.locator();
        match file
            .doc
            .keys()
            .find(|key| !known.contains(&key.get_ref().as_ref()))
        {
            Some(key) => {
                let key = key.get_ref().as_ref();
                Err(file.error(&[key], &unknown_key(key, known)))
            }
            None => Ok(()),
        }
    }

    /// A file path the file gives at `key`, taken from the file's folder; an empty one
    /// is an error.
    pub fn file_path(&self, key: &[&str], path: Option<String>) -> anyhow::Result<Option<PathBuf>> {
        match path {
            Some(path) if path.is_empty() => {
                Err(self.error(key, "expected a file path, found \"\""))
            }
            Some(path) => Ok(Some(self.folder.join(path))),
            None => Ok(None),
        }
    }
}

/// What the section tests of every owner share: a file at one place, and the check that
/// an error is placed in it.
#[cfg(test)]
pub mod testing {
    use std::path::Path;

    use super::Document;

    /// Where the tests' config file is; relative paths in it are taken from its folder.
    pub const FILE: &str = "/etc/dockwright/dockwright.toml";

    /// What `read` makes of `text`, read as the file at [`FILE`], from `/work/here`.
    pub fn read_at<T>(
        text: &str,
        read: impl FnOnce(&Document) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        read(&Document::parse(
            text,
            Path::new(FILE),
            Path::new("/work/here"),
        )?)
    }

    /// `err` names the file, then the full `key`, and says `words`.
    pub fn assert_placed(err: &str, text: &str, key: &str, words: &str) {
        assert!(err.starts_with(&format!("{FILE}:")), "{text}\n=> {err}");
        assert!(
            err.contains(&format!(": {key}: ")),
            "{text}\nwants key {key}\n=> {err}"
        );
        assert!(err.contains(words), "{text}\nwants {words}\n=> {err}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> anyhow::Result<Document<'_>> {
        Document::parse(
            text,
            Path::new("conf/dockwright.toml"),
            Path::new("/work/here"),
        )
    }

    #[test]
    fn paths_are_taken_from_the_file_folder() {
        let doc = doc("a = \"x\"\nb = \"\"").unwrap();
        assert_eq!(doc.source(), Path::new("conf/dockwright.toml"));
        assert_eq!(doc.folder(), Path::new("/work/here/conf"));
        assert_eq!(
            doc.file_path(&["a"], Some("x".into())).unwrap(),
            Some(PathBuf::from("/work/here/conf/x"))
        );
        assert_eq!(doc.file_path(&["a"], None).unwrap(), None);
        let err = doc.file_path(&["b"], Some(String::new())).unwrap_err();
        assert_eq!(
            err.to_string(),
            "conf/dockwright.toml:2:1: b: expected a file path, found \"\""
        );
    }

    #[test]
    fn sections_read_their_keys_and_let_the_others_be() {
        #[derive(Debug, serde::Deserialize)]
        struct Part {
            a: Option<u32>,
        }
        let doc = doc("a = 1\nb = 2\n[c]\nd = 3").unwrap();
        assert_eq!(doc.section::<Part>().unwrap().a, Some(1));
        let err = self::doc("b = 2\na = \"one\"")
            .unwrap()
            .section::<Part>()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "conf/dockwright.toml:2:5: a: expected u32, found string \"one\""
        );
    }

    #[test]
    fn unknown_top_level_keys_are_refused_with_the_keys_allowed() {
        let doc = doc("alpha = 1\n[gamma]\nx = 1").unwrap();
        assert!(doc.check_keys(&["alpha", "gamma"]).is_ok());
        let err = doc.check_keys(&["alpha", "gama", "beta"]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "conf/dockwright.toml:2:2: gamma: unknown key `gamma`; the keys allowed here are \
             alpha, gama, beta (did you mean `gama`?)"
        );
    }

    #[test]
    fn syntax_errors_are_placed() {
        let err = doc("a = 1\n[b").unwrap_err();
        assert!(
            err.to_string().starts_with("conf/dockwright.toml:2:"),
            "{err}"
        );
    }
}
