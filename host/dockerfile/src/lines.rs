//! From text to logical lines, as the engine's builder (the legacy builder of API
//! 1.41, whose parser is moby's `buildkit/frontend/dockerfile/parser`) splits them:
//! a UTF-8 byte-order mark dropped, parser directives read from the top, comment
//! lines dropped (also inside a continued instruction) and continuation lines joined
//! with nothing in between.

use crate::Error;

/// Longest Dockerfile the host reads. The builder takes bigger ones, but a build
/// file of more than a MiB is not something a person wrote.
pub const MAX_BYTES: usize = 1 << 20;

/// One instruction's text with continuations joined, and the line it started on.
#[derive(Debug)]
pub struct LogicalLine {
    pub line: usize,
    pub text: String,
}

/// The file's escape character, from its `# escape=` directive (`\` without one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Escape(pub char);

/// Split `text` into logical lines. Characters the host does not read the way the
/// builder does are refused up front rather than guessed at: control characters other
/// than tab (a `\r` ending a line is the line end, as the builder's scanner takes it),
/// and whitespace outside ASCII, which Go and Rust classify differently.
pub fn logical_lines(text: &str) -> Result<(Vec<LogicalLine>, Escape), Error> {
    if text.len() > MAX_BYTES {
        return Err(Error::new(
            0,
            format!(
                "the Dockerfile is {} bytes, more than the {MAX_BYTES} the host reads: make it smaller",
                text.len()
            ),
        ));
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let physical: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    // A final newline ends the last line; it does not start an empty one.
    let physical = match physical.split_last() {
        Some((&"", rest)) => rest,
        _ => &physical[..],
    };
    for (i, line) in physical.iter().enumerate() {
        if let Some(c) = line
            .chars()
            .find(|&c| (c.is_control() && c != '\t') || (c.is_whitespace() && !c.is_ascii()))
        {
            return Err(Error::new(
                i + 1,
                format!(
                    "holds the character U+{:04X}, which the host does not read the way the builder does: remove it",
                    u32::from(c)
                ),
            ));
        }
    }
    let escape = directives(physical)?;
    let mut out = Vec::new();
    let mut i = 0;
    while i < physical.len() {
        let start = i + 1;
        let first = physical[i].trim_start_matches([' ', '\t']);
        i += 1;
        if first.starts_with('#') {
            continue;
        }
        let (mut text, mut ended) = trim_continuation(first, escape);
        if ended && text.is_empty() {
            continue;
        }
        while !ended && i < physical.len() {
            let next = physical[i];
            i += 1;
            let trimmed = next.trim_start_matches([' ', '\t']);
            // Comment lines and empty lines inside a continued instruction are skipped.
            if trimmed.starts_with('#') || trimmed.is_empty() {
                continue;
            }
            let (more, end) = trim_continuation(next, escape);
            text.push_str(&more);
            ended = end;
        }
        out.push(LogicalLine { line: start, text });
    }
    Ok((out, escape))
}

/// The line without its continuation mark (the escape character, then only spaces
/// and tabs, at the end), and whether the instruction ends on it.
fn trim_continuation(line: &str, escape: Escape) -> (String, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    match body.strip_suffix(escape.0) {
        Some(head) => (head.to_string(), false),
        None => (line.to_string(), true),
    }
}

/// Read the parser directives at the top of the file. The builder knows `escape`
/// and `syntax`; any other line (a comment that is no directive, an empty line, an
/// instruction) ends them. `syntax` names a frontend the legacy builder does not
/// run: refused, as is anything about `escape` but one `\` or `` ` ``.
fn directives(lines: &[&str]) -> Result<Escape, Error> {
    let mut escape = None;
    for (i, line) in lines.iter().enumerate() {
        let Some((key, value)) = directive(line) else {
            break;
        };
        match key.to_ascii_lowercase().as_str() {
            "syntax" => {
                return Err(Error::new(
                    i + 1,
                    format!(
                        "`# syntax={value}` asks for a builder frontend the host does not run: remove the directive"
                    ),
                ))
            }
            "escape" => {
                if escape.is_some() {
                    return Err(Error::new(i + 1, "a second `# escape=` directive: keep one"));
                }
                escape = Some(match value {
                    "\\" => Escape('\\'),
                    "`" => Escape('`'),
                    other => {
                        return Err(Error::new(
                            i + 1,
                            format!("`# escape={other}`: the escape character is `\\` or `` ` ``"),
                        ))
                    }
                });
            }
            _ => break,
        }
    }
    Ok(escape.unwrap_or(Escape('\\')))
}

/// `# key=value` as the builder's directive pattern reads it
/// (`^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$`), on the line with its leading
/// whitespace removed.
fn directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.trim_start_matches([' ', '\t']).strip_prefix('#')?;
    let (key, value) = rest.split_once('=')?;
    let key = key.trim_matches([' ', '\t']);
    let mut chars = key.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric()) {
        return None;
    }
    let value = value.trim_matches([' ', '\t']);
    (!value.is_empty()).then_some((key, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str) -> Vec<(usize, String)> {
        logical_lines(src)
            .unwrap()
            .0
            .into_iter()
            .map(|l| (l.line, l.text))
            .collect()
    }

    #[test]
    fn continuations_join_with_nothing_between() {
        assert_eq!(
            texts("FROM x\nRUN ec\\\nho a \\\n  # comment\n\n  b\n"),
            [(1, "FROM x".into()), (2, "RUN echo a   b".into())]
        );
        // A dangling continuation at the end still ends the instruction.
        assert_eq!(texts("RUN a \\"), [(1, "RUN a ".into())]);
        // An escaped escape is still a continuation: the last `\` is taken.
        assert_eq!(texts("RUN a\\\\\nb\n"), [(1, "RUN a\\b".into())]);
        // Whitespace after the mark is allowed.
        assert_eq!(texts("RUN a\\  \t\nb"), [(1, "RUN ab".into())]);
    }

    #[test]
    fn comments_and_blank_lines_are_dropped() {
        assert_eq!(
            texts("# hi\n\n   # indented\nFROM x\r\n\t\nRUN y # not a comment\n"),
            [(4, "FROM x".into()), (6, "RUN y # not a comment".into())]
        );
    }

    #[test]
    fn the_byte_order_mark_goes_before_directives_are_read() {
        let (lines, escape) = logical_lines("\u{feff}# escape=`\nFROM x\nRUN a `\nb\n").unwrap();
        assert_eq!(escape, Escape('`'));
        assert_eq!(lines[1].text, "RUN a b");
    }

    #[test]
    fn directives_only_at_the_top() {
        assert_eq!(
            logical_lines("\n# escape=`\nFROM x").unwrap().1,
            Escape('\\')
        );
        assert_eq!(
            logical_lines("# x\n# escape=`\nFROM x").unwrap().1,
            Escape('\\')
        );
        assert_eq!(
            logical_lines("# other=1\n# escape=`\nFROM x").unwrap().1,
            Escape('\\')
        );
        assert_eq!(
            logical_lines("  #  ESCAPE = ` \nFROM x").unwrap().1,
            Escape('`')
        );
        let err = logical_lines("# escape=`\n# escape=\\\nFROM x").unwrap_err();
        assert_eq!(err.line, 2);
        let err = logical_lines("# escape=x\nFROM x").unwrap_err();
        assert!(err.message.contains("escape character"), "{err}");
        let err = logical_lines("# syntax=docker/dockerfile:1\nFROM x").unwrap_err();
        assert!(err.message.contains("frontend"), "{err}");
    }

    #[test]
    fn odd_characters_are_refused_with_their_line() {
        for (src, line) in [
            ("FROM x\nRUN a\u{b}b\n", 2),
            ("FROM\u{a0}x\n", 1),
            ("FROM x\nRUN a\rb\n", 2),
            ("FROM x\u{1b}[2J\n", 1),
        ] {
            let err = logical_lines(src).unwrap_err();
            assert_eq!(err.line, line, "{src:?}: {err}");
        }
        let big = "#".repeat(MAX_BYTES + 1);
        assert!(logical_lines(&big).is_err());
    }
}
