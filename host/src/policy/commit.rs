//! What a commit's `changes` may do. The engine applies them after the config sent
//! with the commit, so a `LABEL` change could overwrite the host's ownership labels;
//! and instructions such as `ONBUILD` or `VOLUME` would plant behaviour in the image
//! for whoever builds from it. Only instructions that set run-time defaults pass, and
//! none may set a label under the host's prefix. (The host also applies its own labels
//! as the last change, so even a change that slipped past this rule loses.)

use super::labels::PREFIX;
use super::team::{Decision, Denial};

/// The instructions a commit change may use.
pub const ALLOWED: [&str; 7] = [
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "USER",
    "WORKDIR",
];

fn denied(reason: String) -> Denial {
    Denial {
        rule: "commit",
        reason,
    }
}

/// Whether every one of `changes` (one Dockerfile instruction each) may be applied.
pub fn check_commit_changes(changes: &[String]) -> Decision {
    for change in changes {
        if change.contains(['\n', '\r']) || change.trim_end().ends_with('\\') {
            return Err(denied(format!(
                "the commit change `{}` spans lines; give each instruction as one change",
                change.escape_debug()
            )));
        }
        let text = change.trim();
        let (instruction, args) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
        let upper = instruction.to_ascii_uppercase();
        if !ALLOWED.contains(&upper.as_str()) {
            return Err(denied(format!(
                "the commit change `{text}` uses `{instruction}`, which a commit may not apply; \
                 use one of {}",
                ALLOWED.join(", ")
            )));
        }
        if upper == "LABEL" {
            for key in label_keys(args) {
                if key.to_ascii_lowercase().starts_with(PREFIX) {
                    return Err(denied(format!(
                        "the commit change `{text}` sets `{key}`: labels under `{PREFIX}` are the host's"
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The keys a `LABEL` instruction's arguments set, with quotes and escapes removed as
/// the builder removes them: `k=v "a b"=c` or the old `key value` form.
fn label_keys(args: &str) -> Vec<String> {
    let words = shell_words(args);
    if !words.iter().any(|w| w.contains('=')) {
        // `LABEL key value...`: one label.
        return words.into_iter().take(1).collect();
    }
    words
        .into_iter()
        .map(|w| w.split_once('=').map_or(w.clone(), |(k, _)| k.to_string()))
        .collect()
}

/// Words split on unquoted whitespace, with quotes and backslashes removed. The
/// builder's own word rules have more cases, but none of them can make a word that
/// this reads as not starting with the prefix turn into one that does: backslashes
/// and quotes only ever disappear.
fn shell_words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars();
    let mut in_word = false;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (Some(q), c) if c == q => quote = None,
            (_, '\\') => {
                if let Some(next) = chars.next() {
                    word.push(next);
                }
                in_word = true;
            }
            (_, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_changes() {
        let cases: &[(&str, bool)] = &[
            ("CMD [\"sh\"]", true),
            ("ENV A=1 B=2", true),
            ("expose 80/tcp", true),
            ("LABEL app=web tier=\"front end\"", true),
            ("LABEL app web", true),
            ("LABEL note=\"dockwright.team is a label\"", true),
            ("USER 1000", true),
            ("WORKDIR /srv", true),
            ("ENTRYPOINT [\"/bin/httpd\"]", true),
            ("LABEL dockwright.team=red dockwright.run=forged", false),
            ("LABEL app=x dockwright.run=forged", false),
            ("label \"dockwright.team\"=red", false),
            ("LABEL dock\\wright.team=red", false),
            ("LABEL 'dockwright.plugin'=x", false),
            ("LABEL Dockwright.Team=red", false),
            ("LABEL dockwright.team red", false),
            ("ONBUILD RUN cat /secret", false),
            ("VOLUME /data", false),
            ("RUN rm -rf /", false),
            ("HEALTHCHECK CMD true", false),
            ("ENV A=1\nONBUILD RUN x", false),
            ("ENV A=1 \\", false),
            ("", false),
        ];
        for (change, ok) in cases {
            let got = check_commit_changes(&[change.to_string()]);
            assert_eq!(got.is_ok(), *ok, "{change:?}: {got:?}");
            if let Err(denial) = got {
                assert_eq!(denial.rule, "commit");
            }
        }
        assert!(check_commit_changes(&[]).is_ok());
    }

    #[test]
    fn label_keys_as_the_builder_reads_them() {
        assert_eq!(label_keys("a=1 \"b c\"=2 'd'=3"), ["a", "b c", "d"]);
        assert_eq!(label_keys("key some value"), ["key"]);
    }
}
