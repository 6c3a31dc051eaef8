//! The `--name=value` flags at the start of an instruction's arguments, read as the
//! builder's `extractBuilderFlags` reads them (quotes and backslashes included), and
//! the rule for values the host writes back: nothing that would read differently.

use crate::Error;

/// The flags and the rest of the arguments. A lone `--` ends the flags.
pub fn extract(line: usize, args: &str) -> Result<(Vec<(String, String)>, String), Error> {
    let (words, rest) = builder_flags(args);
    let mut flags: Vec<(String, String)> = Vec::new();
    for word in words {
        let body = &word[2..];
        let Some((name, value)) = body.split_once('=') else {
            return Err(Error::new(
                line,
                format!("the flag `{word}` has no value: write it as `--name=value`"),
            ));
        };
        let name = name.to_ascii_lowercase();
        if flags.iter().any(|(n, _)| *n == name) {
            return Err(Error::new(
                line,
                format!("the flag `--{name}` is given twice"),
            ));
        }
        if let Some(c) = value
            .chars()
            .find(|c| !c.is_ascii_graphic() || matches!(c, '"' | '\'' | '\\' | '`'))
        {
            return Err(Error::new(
                line,
                format!("the value of `--{name}` holds `{c}`: write it in plain ASCII, without quotes, escapes or spaces"),
            ));
        }
        flags.push((name, value.to_string()));
    }
    if rest.starts_with("--") {
        return Err(Error::new(
            line,
            "an argument starts with `--` after the flags ended: the host does not pass such arguments on",
        ));
    }
    Ok((flags, rest))
}

/// The builder's flag scanner: words at the start that begin with `--`, with quotes
/// removed and backslashes escaping the next byte, and the text after them.
fn builder_flags(line: &str) -> (Vec<String>, String) {
    #[derive(PartialEq)]
    enum Phase {
        Spaces,
        Word,
        Quote,
    }
    let bytes = line.as_bytes();
    let mut words = Vec::new();
    let mut phase = Phase::Spaces;
    let mut word: Vec<u8> = Vec::new();
    let mut quote = 0u8;
    let mut blank_ok = false;
    let mut pos = 0;
    let push = |words: &mut Vec<String>, word: &[u8]| {
        words.push(String::from_utf8_lossy(word).into_owned());
    };
    while pos <= bytes.len() {
        let ch = bytes.get(pos).copied();
        if phase == Phase::Spaces {
            let Some(c) = ch else { break };
            if c == b' ' || c == b'\t' {
                pos += 1;
                continue;
            }
            if c != b'-' || bytes.get(pos + 1) != Some(&b'-') {
                return (words, line[pos..].to_string());
            }
            phase = Phase::Word;
        }
        let Some(c) = ch else {
            if word != b"--" && (blank_ok || !word.is_empty()) {
                push(&mut words, &word);
            }
            break;
        };
        match phase {
            Phase::Word => {
                if c == b' ' || c == b'\t' {
                    phase = Phase::Spaces;
                    if word == b"--" {
                        return (
                            words,
                            line[pos..].trim_start_matches([' ', '\t']).to_string(),
                        );
                    }
                    if blank_ok || !word.is_empty() {
                        push(&mut words, &word);
                    }
                    word.clear();
                    blank_ok = false;
                } else if c == b'\'' || c == b'"' {
                    quote = c;
                    blank_ok = true;
                    phase = Phase::Quote;
                } else if c == b'\\' {
                    if let Some(&next) = bytes.get(pos + 1) {
                        word.push(next);
                        pos += 1;
                    }
                } else {
                    word.push(c);
                }
            }
            Phase::Quote => {
                if c == quote {
                    phase = Phase::Word;
                } else if c == b'\\' {
                    match bytes.get(pos + 1) {
                        Some(&next) => {
                            word.push(next);
                            pos += 1;
                        }
                        None => phase = Phase::Word,
                    }
                } else {
                    word.push(c);
                }
            }
            Phase::Spaces => unreachable!("handled above"),
        }
        pos += 1;
    }
    (words, String::new())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &str) -> (Vec<(String, String)>, String) {
        extract(1, args).unwrap()
    }

    #[test]
    fn flags_come_first_and_quotes_are_read_as_the_builder_reads_them() {
        let (f, rest) = flags("--from=build --chown=1:2 /a /b");
        assert_eq!(
            f,
            [
                ("from".into(), "build".into()),
                ("chown".into(), "1:2".into())
            ]
        );
        assert_eq!(rest, "/a /b");
        let (f, rest) = flags("--from=\"red/secret\" /a /b");
        assert_eq!(f, [("from".into(), "red/secret".into())]);
        assert_eq!(rest, "/a /b");
        let (f, _) = flags("--fr\\om=r\\ed x");
        assert_eq!(f, [("from".into(), "red".into())]);
        let (f, rest) = flags("/a --from=x /b");
        assert!(f.is_empty());
        assert_eq!(rest, "/a --from=x /b");
        let (f, rest) = flags("--FROM=x");
        assert_eq!(f, [("from".into(), "x".into())]);
        assert_eq!(rest, "");
    }

    #[test]
    fn what_cannot_be_written_back_is_refused() {
        for bad in [
            "--from=\"a b\" x",
            "--from x",
            "--from=a --from=b x",
            "-- --from=x /a /b",
            "--from='a\\\"' x",
        ] {
            assert!(extract(3, bad).is_err(), "{bad}");
        }
        // A `--` alone ends the flags; the rest is passed on when it is no flag.
        let (f, rest) = flags("--chown=1 -- /a /b");
        assert_eq!(f, [("chown".into(), "1".into())]);
        assert_eq!(rest, "/a /b");
    }
}
