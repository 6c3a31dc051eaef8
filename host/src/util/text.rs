//! Text that plugins and engines wrote, made safe to show and to keep.
//!
//! A plugin of one team writes lines, outputs and errors that reach an operator's
//! terminal, the journal and the API. Two things make such text dangerous: control
//! characters, which a terminal obeys (set its title, move the cursor, clear lines,
//! hide what follows), and size, which every copy of it multiplies. [`inert`] is for the
//! first, at the point where text is printed; [`cap`] and [`Clip`] are for the second,
//! at the point where text is kept.

use std::borrow::Cow;
use std::fmt::Write as _;

/// The most of one text (an error, an output, a journal field) that is kept or served.
pub const CAP: usize = 64 * 1024;

/// What ends a text cut at [`CAP`]: the cut is never silent.
pub const MARKER: &str = "… [cut at 64 KiB]";

/// The most of one line of a diff that is shown: a diff of two one-line JSON answers of
/// 32 MiB would otherwise print both whole.
pub const LINE_CAP: usize = 4 * 1024;

/// `text` with every character a terminal would act on written out instead:
/// C0 controls and DEL as `\x1b`, C1 controls and Unicode's invisible format and
/// direction marks as `\u{202e}`. Newlines and tabs stay, as they only lay out.
///
/// Backslashes are left alone: escaping them too would make every Windows path and
/// regex unreadable, and a plugin that writes a literal `\x1b` gains nothing by it.
pub fn inert(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| acts(c) && c != '\n') {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        push_shown(&mut out, c, true);
    }
    Cow::Owned(out)
}

/// [`inert`] for text shown on one line (a table cell, a tagged progress line): a
/// newline is written out as `\n` too, so the text cannot start a line of its own.
pub fn inert_line(text: &str) -> Cow<'_, str> {
    if !text.chars().any(acts) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        push_shown(&mut out, c, false);
    }
    Cow::Owned(out)
}

/// JSON text with the characters [`inert`] writes out escaped as JSON escapes them
/// (`\u202e`): the same JSON, whose strings say exactly what they said, and which no
/// terminal obeys. serde_json escapes C0 controls already, not DEL, C1 controls or
/// format characters; all of those can only stand inside its strings, where an escape
/// means the character itself.
pub fn inert_json(json: &str) -> Cow<'_, str> {
    if !json.chars().any(|c| acts(c) && c != '\n') {
        return Cow::Borrowed(json);
    }
    let mut out = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if acts(c) && c != '\n' {
            // Every such character is in the Basic Multilingual Plane: one escape each.
            let _ = write!(out, "\\u{:04x}", c as u32);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

/// Whether a terminal does something with `c` other than show a glyph (a tab only
/// moves the cursor forward and is kept everywhere).
fn acts(c: char) -> bool {
    match c {
        '\t' => false,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        // Invisible format characters that reorder or hide the text around them
        // ("Trojan Source"): bidi embeddings, overrides and isolates, direction marks,
        // zero-width space and joiner-likes, line and paragraph separators, the BOM.
        // The zero-width (non-)joiners U+200C/D stay: scripts and emoji need them.
        '\u{61c}'
        | '\u{200b}'
        | '\u{200e}'
        | '\u{200f}'
        | '\u{2028}'..='\u{202e}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206f}'
        | '\u{feff}'
        | '\u{fff9}'..='\u{fffb}' => true,
        _ => false,
    }
}

fn push_shown(out: &mut String, c: char, keep_newline: bool) {
    match c {
        '\n' if keep_newline => out.push('\n'),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        c if acts(c) && (c as u32) < 0x80 => {
            let _ = write!(out, "\\x{:02x}", c as u32);
        }
        c if acts(c) => {
            let _ = write!(out, "\\u{{{:x}}}", c as u32);
        }
        c => out.push(c),
    }
}

/// `text` at most [`CAP`] bytes long: a longer one keeps its start, cut at a character
/// boundary, and ends with [`MARKER`]. Capping a capped text changes nothing.
pub fn cap(text: &str) -> Cow<'_, str> {
    cap_at(text, CAP, MARKER)
}

/// [`cap`] of an owned text, without a copy when it fits.
pub fn cap_owned(mut text: String) -> String {
    if text.len() > CAP {
        text.truncate(floor_boundary(&text, CAP - MARKER.len()));
        text.push_str(MARKER);
    }
    text
}

/// `text` at most `limit` bytes long, a longer one ending with `marker`.
fn cap_at<'t>(text: &'t str, limit: usize, marker: &str) -> Cow<'t, str> {
    if text.len() <= limit {
        return Cow::Borrowed(text);
    }
    let keep = floor_boundary(text, limit.saturating_sub(marker.len()));
    Cow::Owned(format!("{}{marker}", &text[..keep]))
}

/// The largest character boundary of `text` at or before `at`.
fn floor_boundary(text: &str, at: usize) -> usize {
    if at >= text.len() {
        return text.len();
    }
    // A UTF-8 character is at most 4 bytes: a boundary is at most 3 bytes back.
    (at.saturating_sub(3)..=at)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0)
}

/// A [`std::fmt::Write`] that keeps at most `line` bytes of each line and `total` bytes
/// in all, marking each cut, and drops the rest as it comes: for showing something whose
/// size the other side decides (a diff of a cassette's calls), in bounded memory.
pub struct Clip {
    out: String,
    line: usize,
    total: usize,
    /// Bytes of the current line kept so far.
    in_line: usize,
    /// The current line was cut: the rest of it is dropped.
    line_cut: bool,
    /// The total was reached: everything from here is dropped.
    full: bool,
}

impl Clip {
    pub fn new(line: usize, total: usize) -> Self {
        Self {
            out: String::new(),
            line,
            total,
            in_line: 0,
            line_cut: false,
            full: false,
        }
    }

    /// What was kept, each cut marked.
    pub fn finish(self) -> String {
        self.out
    }

    fn push_line_part(&mut self, part: &str) {
        if self.line_cut {
            return;
        }
        let room = self.line - self.in_line;
        if part.len() <= room {
            self.out.push_str(part);
            self.in_line += part.len();
        } else {
            self.out.push_str(&part[..floor_boundary(part, room)]);
            let _ = write!(self.out, " … [line cut at {}]", size(self.line));
            self.line_cut = true;
        }
    }

    fn check_total(&mut self) {
        if self.out.len() > self.total {
            let marker = format!("\n… [cut at {}]\n", size(self.total));
            let keep = floor_boundary(&self.out, self.total.saturating_sub(marker.len()));
            self.out.truncate(keep);
            self.out.push_str(&marker);
            self.full = true;
        }
    }
}

impl std::fmt::Write for Clip {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        for piece in s.split_inclusive('\n') {
            if self.full {
                break;
            }
            let (part, newline) = match piece.strip_suffix('\n') {
                Some(part) => (part, true),
                None => (piece, false),
            };
            self.push_line_part(part);
            if newline {
                self.out.push('\n');
                self.in_line = 0;
                self.line_cut = false;
            }
            self.check_total();
        }
        // Nothing the writer gives is refused: what does not fit is dropped, so a
        // `write!` into a clip never fails half-way.
        Ok(())
    }
}

/// `bytes` as a marker says it: `64 KiB`, or `1000 bytes` when not whole KiB.
fn size(bytes: usize) -> String {
    if bytes >= 1024 && bytes.is_multiple_of(1024) {
        format!("{} KiB", bytes / 1024)
    } else {
        format!("{bytes} bytes")
    }
}

/// `value` as [`Clip`] keeps it.
pub fn clipped(value: &impl std::fmt::Display, line: usize, total: usize) -> String {
    let mut clip = Clip::new(line, total);
    let _ = write!(clip, "{value}");
    clip.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_left_as_it_is() {
        for text in [
            "",
            "hello",
            "tab\there\nand a line",
            "C:\\path\\x1b",
            "é ü 日本 👨‍👩‍👧",
        ] {
            assert!(matches!(inert(text), Cow::Borrowed(_)), "{text}");
            assert_eq!(inert(text), text);
        }
        assert!(matches!(inert_line("a\tb"), Cow::Borrowed(_)));
    }

    #[test]
    fn terminal_sequences_are_written_out() {
        let hostile = "\x1b]0;pwned\x07\x1b[2J";
        assert_eq!(inert(hostile), "\\x1b]0;pwned\\x07\\x1b[2J");
        assert_eq!(inert("a\rb\0c\x7f"), "a\\rb\\x00c\\x7f");
        // C1 controls: U+009B is a one-character CSI on some terminals.
        assert_eq!(inert("\u{9b}2J\u{85}"), "\\u{9b}2J\\u{85}");
        // Bidi overrides and isolates, direction marks, zero-width space, BOM.
        assert_eq!(
            inert("abc\u{202e}fed\u{2066}x\u{2069}\u{200f}\u{200b}\u{feff}"),
            "abc\\u{202e}fed\\u{2066}x\\u{2069}\\u{200f}\\u{200b}\\u{feff}"
        );
        assert_eq!(inert("line\u{2028}sep"), "line\\u{2028}sep");
    }

    #[test]
    fn newlines_stay_unless_the_text_is_one_line() {
        assert_eq!(inert("one\ntwo\x1b"), "one\ntwo\\x1b");
        assert_eq!(inert_line("one\ntwo"), "one\\ntwo");
        assert_eq!(inert_line("a\tb\x1bc"), "a\tb\\x1bc");
        for text in ["\x1b[31m", "x\u{202e}y", "\n"] {
            assert!(!inert_line(text)
                .chars()
                .any(|c| c.is_control() && c != '\t'));
        }
    }

    #[test]
    fn json_stays_the_same_json_without_acting_characters() {
        let value = serde_json::json!({ "t": "a\u{1b}[2J\u{7f}\u{9b}\u{202e}b\n\té" });
        let json = serde_json::to_string_pretty(&value).unwrap();
        let shown = inert_json(&json);
        assert!(!shown.chars().any(|c| acts(c) && c != '\n'), "{shown}");
        assert!(
            shown.contains("\\u001b[2J\\u007f\\u009b\\u202eb\\n\\té"),
            "{shown}"
        );
        let back: serde_json::Value = serde_json::from_str(&shown).unwrap();
        assert_eq!(back, value);
        assert!(matches!(inert_json("{\n  \"a\": 1\n}"), Cow::Borrowed(_)));
    }

    #[test]
    fn long_texts_are_capped_with_a_marker_at_a_character_boundary() {
        assert_eq!(cap("short"), "short");
        let exact = "x".repeat(CAP);
        assert!(matches!(cap(&exact), Cow::Borrowed(_)));
        let long = "é".repeat(CAP); // 2 bytes each
        let capped = cap(&long);
        assert!(capped.len() <= CAP, "{}", capped.len());
        assert!(capped.ends_with(MARKER));
        assert!(capped.starts_with("éé"));
        // Capping again changes nothing; so does the owned form.
        assert_eq!(cap(&capped), capped);
        assert_eq!(cap_owned(long.clone()), capped);
        assert_eq!(cap_owned(capped.to_string()), capped);
        for n in 0..4 {
            // Every cut point inside a 4-byte character lands on a boundary.
            let text = format!("{}{}", "a".repeat(n), "😀".repeat(CAP));
            assert!(cap(&text).ends_with(MARKER));
        }
    }

    #[test]
    fn a_clip_keeps_the_start_of_lines_and_of_the_whole() {
        let mut clip = Clip::new(8, 200);
        write!(clip, "short\n{}\nnext", "y".repeat(1000)).unwrap();
        writeln!(clip, " line").unwrap();
        let cut = " … [line cut at 8 bytes]";
        assert_eq!(
            clip.finish(),
            format!("short\nyyyyyyyy{cut}\nnext lin{cut}\n")
        );

        let many = "0123456789\n".repeat(10_000);
        let kept = clipped(&many, 1024, 1000);
        assert!(kept.len() <= 1000, "{}", kept.len());
        assert!(kept.starts_with("0123456789\n0123"));
        assert!(kept.ends_with("\n… [cut at 1000 bytes]\n"), "{kept}");

        // A long line arrives in pieces: the line's cut holds across them.
        let mut clip = Clip::new(4096, 1 << 20);
        for _ in 0..10_000 {
            clip.write_str("ab").unwrap();
        }
        clip.write_str("\nok\n").unwrap();
        let kept = clip.finish();
        assert!(kept.ends_with("ab … [line cut at 4 KiB]\nok\n"), "{kept}");
        assert_eq!(kept.len(), 4096 + " … [line cut at 4 KiB]\nok\n".len());
    }
}
