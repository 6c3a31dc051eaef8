//! Errors that point into the file: each names the file, the line and column, and the
//! full key (`teams.blue.memory.max`), because serde's own messages name only the last
//! key, and an admin with several teams needs to know which one is wrong.

use std::ops::Range;
use std::path::Path;

use anyhow::anyhow;
use toml::de::{DeTable, DeValue};

use crate::util::suggest;

/// The file being read, to place errors in it: its path, its text and the keys and
/// values parsed from it (with their places).
pub struct Source<'a> {
    pub file: &'a Path,
    pub text: &'a str,
    pub doc: &'a DeTable<'a>,
}

impl Source<'_> {
    /// An error at the key `path`, placed at its line when the file has it.
    pub fn error(&self, path: &[&str], message: &str) -> anyhow::Error {
        let span = span_of(self.doc, path);
        self.error_at(span, Some(&key_path(path)), message)
    }

    pub fn error_at(
        &self,
        span: Option<Range<usize>>,
        key: Option<&str>,
        message: &str,
    ) -> anyhow::Error {
        let place = match span {
            Some(span) => {
                let (line, column) = line_column(self.text, span.start);
                format!("{}:{line}:{column}", self.file.display())
            }
            None => self.file.display().to_string(),
        };
        match key {
            Some(key) => anyhow!("{place}: {key}: {message}"),
            None => anyhow!("{place}: {message}"),
        }
    }

    /// serde's error with the full key added (found from the span toml gives) and
    /// reworded as "expected ..., found ...".
    pub fn serde_error(&self, e: &toml::de::Error) -> anyhow::Error {
        let key = e.span().and_then(|span| locate(self.doc, &span));
        let message = reword(e.message());
        self.error_at(e.span(), key.as_deref(), &message)
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}

/// `teams.blue.memory`, quoting keys that are not bare TOML keys (`teams."a.b"`).
pub fn key_path(path: &[&str]) -> String {
    path.iter()
        .map(|k| quote_key(k))
        .collect::<Vec<_>>()
        .join(".")
}

pub fn quote_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

/// Where the key `path` is written, if it is.
pub fn span_of(doc: &DeTable, path: &[&str]) -> Option<Range<usize>> {
    let (first, rest) = path.split_first()?;
    let (key, value) = doc.iter().find(|(k, _)| k.get_ref() == first)?;
    if rest.is_empty() {
        return Some(key.span());
    }
    match value.get_ref() {
        DeValue::Table(table) => span_of(table, rest),
        _ => None,
    }
}

/// The full key of the smallest key or value in the file that covers `span`.
/// Smallest, because tables opened by a `[header]` carry spans of the header that
/// do not cover their contents.
pub fn locate(doc: &DeTable, span: &Range<usize>) -> Option<String> {
    /// Keeps `path` as the best answer when `candidate` covers `span` and is no
    /// bigger than the best so far (ties go to the later, deeper one).
    fn consider(
        candidate: Range<usize>,
        path: &str,
        span: &Range<usize>,
        best: &mut Option<(usize, String)>,
    ) {
        let covers = candidate.start <= span.start && span.end <= candidate.end;
        let size = candidate.end - candidate.start;
        if covers && best.as_ref().is_none_or(|(s, _)| size <= *s) {
            *best = Some((size, path.to_string()));
        }
    }
    fn walk(value: &DeValue, path: &str, span: &Range<usize>, best: &mut Option<(usize, String)>) {
        match value {
            DeValue::Table(table) => {
                for (key, value) in table.iter() {
                    let child = if path.is_empty() {
                        quote_key(key.get_ref())
                    } else {
                        format!("{path}.{}", quote_key(key.get_ref()))
                    };
                    consider(key.span(), &child, span, best);
                    consider(value.span(), &child, span, best);
                    walk(value.get_ref(), &child, span, best);
                }
            }
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let child = format!("{path}[{i}]");
                    consider(item.span(), &child, span, best);
                    walk(item.get_ref(), &child, span, best);
                }
            }
            _ => {}
        }
    }
    let mut best = None;
    walk(&DeValue::Table(doc.clone()), "", span, &mut best);
    best.map(|(_, path)| path)
}

/// A key that is not one of `allowed`, with the keys there are and the closest one.
pub fn unknown_key(unknown: &str, allowed: &[&str]) -> String {
    let mut out = format!(
        "unknown key `{unknown}`; the keys allowed here are {}",
        allowed.join(", ")
    );
    if let Some(close) = suggest::closest(unknown, allowed.iter().copied()) {
        out.push_str(&format!(" (did you mean `{close}`?)"));
    }
    out
}

/// serde's wording in the config's terms: unknown keys get the allowed keys and a
/// suggestion; "invalid type: X, expected Y" becomes "expected Y, found X".
pub fn reword(message: &str) -> String {
    if message.starts_with("unknown field") {
        // "unknown field `x`, expected one of `a`, `b`" / "expected `a` or `b`":
        // the names are the odd pieces between backticks.
        let names: Vec<&str> = message.split('`').skip(1).step_by(2).collect();
        if let Some((unknown, allowed)) = names.split_first() {
            return unknown_key(unknown, allowed);
        }
    }
    let message = message
        .replace("a map", "a table")
        .replace("a sequence", "an array");
    for prefix in ["invalid type: ", "invalid value: "] {
        if let Some((found, expected)) = message
            .strip_prefix(prefix)
            .and_then(|m| m.rsplit_once(", expected "))
        {
            return format!("expected {expected}, found {found}");
        }
    }
    message
}
