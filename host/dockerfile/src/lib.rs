//! The Dockerfile as dockwright reads it, and the one form it sends the engine.
//!
//! A build's policy check is only as good as the host's reading of the Dockerfile:
//! wherever the host and the engine's builder read a file differently, a build reads
//! what the host never checked. So the host does not send the user's file. It parses
//! it once into typed [`Instruction`]s, checks the images they read, and writes a
//! canonical file from them ([`Dockerfile::canonical`]): no parser directives, no
//! continuations, every stage named by the host, every image named by what the host
//! pinned (its id). A misreading of the user's file can then change what is built,
//! never what is read.
//!
//! The parser follows the legacy builder of Docker API 1.41 (moby's
//! `buildkit/frontend/dockerfile/parser` with the builder's own stage rules), and
//! refuses, naming the line, what it does not understand: heredocs it would read as
//! text, `# syntax=`, unknown instructions or flags, characters read differently by
//! Go and Rust.

mod flags;
mod lines;

use std::fmt;

pub use lines::MAX_BYTES;

/// Longest line the host writes. The builder reads a Dockerfile with Go's line
/// scanner, which stops at a line of 64 KiB: the rest of the file would be lost.
pub const MAX_LINE: usize = 60_000;

/// Why a Dockerfile was refused; `line` is 1-based, 0 for the whole file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub line: usize,
    pub message: String,
}

impl Error {
    fn new(line: usize, message: impl Into<String>) -> Error {
        Error {
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "Dockerfile: {}", self.message)
        } else {
            write!(f, "Dockerfile line {}: {}", self.line, self.message)
        }
    }
}

impl std::error::Error for Error {}

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    Scratch,
    /// An earlier stage, by index.
    Stage(usize),
    /// An image on the engine: the user's reference until pinned, its id after.
    Image(String),
}

/// Where `COPY --from` takes files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Stage(usize),
    Image(String),
}

/// One instruction, typed where the host must know what it reads; the others keep
/// their arguments as text, which the builder reads the same from either file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    From {
        base: Base,
        platform: Option<String>,
    },
    Copy {
        from: Option<Source>,
        chown: Option<String>,
        args: String,
    },
    Add {
        chown: Option<String>,
        args: String,
    },
    Healthcheck {
        flags: Vec<(String, String)>,
        args: String,
    },
    /// A trigger recorded in the image: it runs in any stage built from this one.
    OnBuild(Box<Op>),
    /// `RUN`, `ENV`, `CMD` and the rest: the instruction's name, upper case, and its
    /// arguments.
    Other {
        keyword: &'static str,
        args: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// The line it starts on in the file it was read from.
    pub line: usize,
    pub op: Op,
}

/// An image the Dockerfile reads, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageUse {
    pub line: usize,
    pub image: String,
    /// `FROM` (the image's `ONBUILD` triggers run in this build) or `COPY --from`.
    pub base: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub instructions: Vec<Instruction>,
}

/// Instructions that keep their arguments as text, and take no flags.
const PLAIN: &[&str] = &[
    "ARG",
    "CMD",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "LABEL",
    "MAINTAINER",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

const HEALTHCHECK_FLAGS: &[&str] = &["interval", "timeout", "start-period", "retries"];

impl Dockerfile {
    /// Parse `text` as the builder would, or say which line the host does not
    /// understand.
    pub fn parse(text: &str) -> Result<Dockerfile, Error> {
        let (lines, escape) = lines::logical_lines(text)?;
        let mut stages: Vec<Option<String>> = Vec::new();
        let mut instructions = Vec::new();
        for logical in lines {
            let line = logical.line;
            if escape.0 != '\\' && logical.text.contains(['\\', escape.0]) {
                return Err(Error::new(
                    line,
                    format!(
                        "under `# escape={}` this instruction uses `\\` or `{}`, which the host would write differently: write the file with the default escape",
                        escape.0, escape.0
                    ),
                ));
            }
            let (keyword, rest) = split_keyword(&logical.text);
            if keyword.eq_ignore_ascii_case("FROM") {
                let (base, platform, name) = parse_from(line, rest, &stages)?;
                if let Some(name) = &name {
                    if stages.iter().flatten().any(|n| n == name) {
                        return Err(Error::new(
                            line,
                            format!("the stage name `{name}` is used twice: name each stage once"),
                        ));
                    }
                }
                stages.push(name);
                instructions.push(Instruction {
                    line,
                    op: Op::From { base, platform },
                });
                continue;
            }
            // In stage `k`, the stages that ended are those before it.
            let ended = &stages[..stages.len().saturating_sub(1)];
            let op = parse_op(line, keyword, rest, ended, false)?;
            if stages.is_empty() && !matches!(&op, Op::Other { keyword: "ARG", .. }) {
                return Err(Error::new(
                    line,
                    format!(
                        "`{}` comes before the first FROM, where only ARG may: start the file with FROM",
                        keyword.to_ascii_uppercase()
                    ),
                ));
            }
            instructions.push(Instruction { line, op });
        }
        if stages.is_empty() {
            return Err(Error::new(
                0,
                "there is no FROM: a Dockerfile starts a stage with FROM",
            ));
        }
        Ok(Dockerfile { instructions })
    }

    /// Every image the file reads, in order.
    pub fn images(&self) -> Vec<ImageUse> {
        let mut out = Vec::new();
        for ins in &self.instructions {
            match &ins.op {
                Op::From {
                    base: Base::Image(image),
                    ..
                } => out.push(ImageUse {
                    line: ins.line,
                    image: image.clone(),
                    base: true,
                }),
                Op::Copy {
                    from: Some(Source::Image(image)),
                    ..
                } => out.push(ImageUse {
                    line: ins.line,
                    image: image.clone(),
                    base: false,
                }),
                _ => {}
            }
        }
        out
    }

    /// Whether the build runs commands: a `RUN`, or an `ONBUILD RUN`, which runs in a
    /// later stage built from its own.
    pub fn runs_commands(&self) -> bool {
        fn runs(op: &Op) -> bool {
            match op {
                Op::Other { keyword, .. } => *keyword == "RUN",
                Op::OnBuild(inner) => runs(inner),
                _ => false,
            }
        }
        self.instructions.iter().any(|i| runs(&i.op))
    }

    /// Name every image by what `pin` gives for it (the id the host checked).
    pub fn pin(&mut self, mut pin: impl FnMut(&str) -> String) {
        for ins in &mut self.instructions {
            match &mut ins.op {
                Op::From {
                    base: Base::Image(image),
                    ..
                }
                | Op::Copy {
                    from: Some(Source::Image(image)),
                    ..
                } => *image = pin(image),
                _ => {}
            }
        }
    }

    /// The file the host sends the engine. It is checked by reading it back: a file
    /// the host would read differently from what it meant is refused, never sent.
    pub fn canonical(&self) -> Result<String, Error> {
        let mut out = String::new();
        let mut stage = 0;
        for ins in &self.instructions {
            let text = match &ins.op {
                Op::From { base, platform } => {
                    let text = write_from(base, platform.as_deref(), stage);
                    stage += 1;
                    text
                }
                op => write_op(op),
            };
            if text.len() > MAX_LINE {
                return Err(Error::new(
                    ins.line,
                    format!("the instruction is longer than {MAX_LINE} bytes, more than the builder reads in a line: split it"),
                ));
            }
            if text.trim_end_matches([' ', '\t']).ends_with('\\') {
                return Err(Error::new(
                    ins.line,
                    "the instruction ends with `\\`, which would join it to the next: remove it",
                ));
            }
            out.push_str(&text);
            out.push('\n');
        }
        let back = Dockerfile::parse(&out)?;
        let same = back.instructions.len() == self.instructions.len()
            && back
                .instructions
                .iter()
                .zip(&self.instructions)
                .all(|(a, b)| a.op == b.op);
        if !same {
            let line = back
                .instructions
                .iter()
                .zip(&self.instructions)
                .find(|(a, b)| a.op != b.op)
                .map_or(0, |(_, b)| b.line);
            return Err(Error::new(
                line,
                "the host cannot write this instruction so that the builder reads it as the host does: write it more plainly",
            ));
        }
        Ok(out)
    }
}

/// The host's name for stage `n`. `..` is allowed in a stage name but never in an
/// image reference, so even a file the builder somehow read with a stage missing
/// could not turn this name into an image to pull or read.
pub fn stage_name(n: usize) -> String {
    format!("stage..{n}")
}

fn write_from(base: &Base, platform: Option<&str>, stage: usize) -> String {
    let base = match base {
        Base::Scratch => "scratch".to_string(),
        Base::Stage(n) => stage_name(*n),
        Base::Image(image) => image.clone(),
    };
    let platform = platform.map_or(String::new(), |p| format!("--platform={p} "));
    format!("FROM {platform}{base} AS {}", stage_name(stage))
}

fn write_op(op: &Op) -> String {
    let mut words: Vec<String> = Vec::new();
    match op {
        Op::From { .. } => unreachable!("FROM is written with its stage"),
        Op::Copy { from, chown, args } => {
            words.push("COPY".into());
            match from {
                Some(Source::Stage(n)) => words.push(format!("--from={}", stage_name(*n))),
                Some(Source::Image(image)) => words.push(format!("--from={image}")),
                None => {}
            }
            words.extend(chown.iter().map(|c| format!("--chown={c}")));
            words.push(args.clone());
        }
        Op::Add { chown, args } => {
            words.push("ADD".into());
            words.extend(chown.iter().map(|c| format!("--chown={c}")));
            words.push(args.clone());
        }
        Op::Healthcheck { flags, args } => {
            words.push("HEALTHCHECK".into());
            words.extend(flags.iter().map(|(k, v)| format!("--{k}={v}")));
            words.push(args.clone());
        }
        Op::OnBuild(inner) => {
            words.push("ONBUILD".into());
            words.push(write_op(inner));
        }
        Op::Other { keyword, args } => {
            words.push((*keyword).into());
            words.push(args.clone());
        }
    }
    words.retain(|w| !w.is_empty());
    words.join(" ")
}

/// The instruction's name and the rest, as the builder splits them: at the first
/// run of whitespace of the trimmed line.
fn split_keyword(text: &str) -> (&str, &str) {
    let text = text.trim_matches([' ', '\t']);
    match text.find([' ', '\t']) {
        Some(i) => (&text[..i], text[i..].trim_start_matches([' ', '\t'])),
        None => (text, ""),
    }
}

fn parse_from(
    line: usize,
    rest: &str,
    stages: &[Option<String>],
) -> Result<(Base, Option<String>, Option<String>), Error> {
    let (flags, args) = flags::extract(line, rest)?;
    let mut platform = None;
    for (name, value) in flags {
        match name.as_str() {
            "platform" => platform = Some(value),
            _ => return Err(unknown_flag(line, "FROM", &name)),
        }
    }
    let words: Vec<&str> = args.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
    let (image, name) = match words.as_slice() {
        [image] => (*image, None),
        [image, as_, name] if as_.eq_ignore_ascii_case("AS") => (*image, Some(*name)),
        _ => {
            return Err(Error::new(
                line,
                "FROM takes an image and, optionally, `AS name`",
            ))
        }
    };
    let name = name
        .map(|n| {
            let lower = n.to_ascii_lowercase();
            let mut chars = lower.chars();
            let ok = chars.next().is_some_and(|c| c.is_ascii_lowercase())
                && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c));
            if ok {
                Ok(lower)
            } else {
                Err(Error::new(
                    line,
                    format!("`{n}` is not a stage name: start with a letter, then letters, digits, `-`, `_` or `.`"),
                ))
            }
        })
        .transpose()?;
    // A stage's name counts only once the stage has ended, so `FROM n AS n` names
    // an image `n`, as it does to the builder.
    let base = if let Some(n) = stage_by_name(stages, image) {
        Base::Stage(n)
    } else if image == "scratch" {
        Base::Scratch
    } else {
        Base::Image(reference(line, "FROM", image)?)
    };
    Ok((base, platform, name))
}

fn stage_by_name(stages: &[Option<String>], name: &str) -> Option<usize> {
    let lower = name.to_ascii_lowercase();
    stages
        .iter()
        .position(|s| s.as_deref() == Some(lower.as_str()))
}

/// An image reference the host can check as written: the characters of a
/// reference, nothing the builder would expand or unquote.
fn reference(line: usize, what: &str, image: &str) -> Result<String, Error> {
    if image.contains('$') {
        return Err(Error::new(
            line,
            format!("`{what} {image}` uses a variable, so the host cannot check the image before the build: name the image"),
        ));
    }
    let ok = image
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && image
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._/:@-".contains(c));
    if !ok {
        return Err(Error::new(
            line,
            format!("`{image}` in {what} is not an image reference the host can check: name the image plainly, such as `team/base:1`"),
        ));
    }
    Ok(image.to_string())
}

fn unknown_flag(line: usize, keyword: &str, flag: &str) -> Error {
    Error::new(
        line,
        format!("{keyword} has no flag `--{flag}` the host understands: remove it"),
    )
}

/// The flags allowed, at most once each; anything else is refused.
fn only_flags(
    line: usize,
    keyword: &str,
    flags: &[(String, String)],
    allowed: &[&str],
) -> Result<(), Error> {
    match flags.iter().find(|(n, _)| !allowed.contains(&n.as_str())) {
        Some((n, _)) => Err(unknown_flag(line, keyword, n)),
        None => Ok(()),
    }
}

fn flag(flags: &[(String, String)], name: &str) -> Option<String> {
    flags
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.clone())
}

/// Any instruction but FROM. `ended` are the stages a `--from` may name.
fn parse_op(
    line: usize,
    keyword: &str,
    rest: &str,
    ended: &[Option<String>],
    trigger: bool,
) -> Result<Op, Error> {
    let upper = keyword.to_ascii_uppercase();
    let (flags, args) = flags::extract(line, rest)?;
    let args = args.trim_matches([' ', '\t']).to_string();
    if matches!(upper.as_str(), "RUN" | "COPY" | "ADD") && args.split([' ', '\t']).any(is_heredoc) {
        return Err(Error::new(
            line,
            "heredocs (`<<EOF`) are not read by the engine's builder: write the text into a file of the context, or use `printf` in the RUN step",
        ));
    }
    let op = match upper.as_str() {
        "COPY" => {
            only_flags(line, "COPY", &flags, &["from", "chown"])?;
            let from = match flag(&flags, "from") {
                None => None,
                Some(value) if trigger => {
                    return Err(Error::new(
                        line,
                        format!("`ONBUILD COPY --from={value}` would read an image when a later build runs it: copy in the stage itself"),
                    ))
                }
                Some(value) => Some(copy_source(line, &value, ended)?),
            };
            Op::Copy {
                from,
                chown: flag(&flags, "chown"),
                args,
            }
        }
        "ADD" => {
            only_flags(line, "ADD", &flags, &["chown"])?;
            // The engine itself fetches a URL source, from the host's network and
            // outside any team network: use COPY for context files.
            if args.contains("://") || args.contains(['$', '\\']) {
                return Err(Error::new(
                    line,
                    "ADD with a URL, a variable or an escape would have the engine fetch from outside the team's network: COPY files of the context, or fetch in a RUN step",
                ));
            }
            Op::Add {
                chown: flag(&flags, "chown"),
                args,
            }
        }
        "HEALTHCHECK" => {
            only_flags(line, "HEALTHCHECK", &flags, HEALTHCHECK_FLAGS)?;
            Op::Healthcheck { flags, args }
        }
        "ONBUILD" => {
            only_flags(line, "ONBUILD", &flags, &[])?;
            if trigger {
                return Err(Error::new(line, "ONBUILD cannot hold another ONBUILD"));
            }
            let (inner, inner_rest) = split_keyword(&args);
            let inner_upper = inner.to_ascii_uppercase();
            if matches!(inner_upper.as_str(), "FROM" | "MAINTAINER" | "") {
                return Err(Error::new(
                    line,
                    format!("ONBUILD cannot hold `{inner_upper}`: give it one other instruction"),
                ));
            }
            Op::OnBuild(Box::new(parse_op(line, inner, inner_rest, ended, true)?))
        }
        other => {
            let Some(keyword) = PLAIN.iter().find(|k| **k == other) else {
                return Err(Error::new(
                    line,
                    format!("`{keyword}` is not an instruction the host understands"),
                ));
            };
            only_flags(line, keyword, &flags, &[])?;
            Op::Other { keyword, args }
        }
    };
    Ok(op)
}

/// `<<EOF` or `<<-EOF` (not the shell's `<<<` here-string): newer builders read the
/// lines after it as a file; this one would read them as instructions.
fn is_heredoc(word: &str) -> bool {
    word.strip_prefix("<<")
        .map(|w| w.strip_prefix('-').unwrap_or(w))
        .is_some_and(|w| {
            w.starts_with(|c: char| c.is_ascii_alphabetic() || c == '"' || c == '\'' || c == '_')
        })
}

/// A `COPY --from` value as the builder resolves it: an ended stage's name first,
/// then a stage index, else an image.
fn copy_source(line: usize, value: &str, ended: &[Option<String>]) -> Result<Source, Error> {
    if let Some(n) = stage_by_name(ended, value) {
        return Ok(Source::Stage(n));
    }
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return match value.parse::<usize>() {
            Ok(n) if n < ended.len() => Ok(Source::Stage(n)),
            _ => Err(Error::new(
                line,
                format!("`--from={value}` names no stage that has ended: stages before this one are 0 to {}", ended.len() as isize - 1),
            )),
        };
    }
    if value.is_empty() {
        return Err(Error::new(line, "`--from=` names no stage or image"));
    }
    Ok(Source::Image(reference(line, "COPY --from", value)?))
}

#[cfg(test)]
mod tests;
