//! Reading a file line by line when a line may be far longer than any that should be
//! there: `BufRead::lines` keeps a whole line in memory, so one 50 MB line costs
//! 50 MB (and more while it grows). Here a line past the limit is counted and passed
//! over as it is read, never held.

use std::io::{self, BufRead};

/// One line of a [`read_line`].
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// The line's bytes, without its `\n` (or `\r\n`).
    Kept(Vec<u8>),
    /// A line longer than the limit: only its length was kept.
    TooLong { bytes: u64 },
}

/// The next line of `reader`, or `None` at the end. A line of more than `limit` bytes
/// is read to its end and dropped: memory stays within `limit` and the reader's buffer.
pub fn read_line(reader: &mut impl BufRead, limit: usize) -> io::Result<Option<Line>> {
    let mut kept = Vec::new();
    let mut bytes = 0u64;
    let mut too_long = false;
    let mut any = false;
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if available.is_empty() {
            break;
        }
        any = true;
        let (part, ends) = match available.iter().position(|b| *b == b'\n') {
            Some(at) => (&available[..at], true),
            None => (available, false),
        };
        bytes += part.len() as u64;
        if !too_long && kept.len() + part.len() > limit {
            too_long = true;
            kept = Vec::new();
        }
        if !too_long {
            kept.extend_from_slice(part);
        }
        let used = part.len() + usize::from(ends);
        reader.consume(used);
        if ends {
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    if too_long {
        return Ok(Some(Line::TooLong { bytes }));
    }
    if kept.last() == Some(&b'\r') {
        kept.pop();
    }
    Ok(Some(Line::Kept(kept)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], limit: usize, buffer: usize) -> Vec<Line> {
        let mut reader = io::BufReader::with_capacity(buffer, input);
        std::iter::from_fn(|| read_line(&mut reader, limit).unwrap()).collect()
    }

    fn kept(text: &str) -> Line {
        Line::Kept(text.as_bytes().to_vec())
    }

    #[test]
    fn lines_are_read_as_lines_does() {
        for buffer in [1, 3, 8192] {
            assert_eq!(
                all(b"one\r\ntwo\n\nlast", 100, buffer),
                [kept("one"), kept("two"), kept(""), kept("last")]
            );
            assert_eq!(all(b"one\n", 100, buffer), [kept("one")]);
            assert!(all(b"", 100, buffer).is_empty());
        }
    }

    #[test]
    fn a_line_past_the_limit_is_counted_not_kept() {
        let mut input = b"short\n".to_vec();
        input.extend(std::iter::repeat_n(b'x', 10_000));
        input.extend(b"\nafter\n123456");
        for buffer in [1, 7, 64, 8192] {
            assert_eq!(
                all(&input, 5, buffer),
                [
                    kept("short"),
                    Line::TooLong { bytes: 10_000 },
                    kept("after"),
                    Line::TooLong { bytes: 6 },
                ]
            );
        }
    }
}
