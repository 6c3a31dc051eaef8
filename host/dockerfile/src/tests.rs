use super::*;

fn parse(src: &str) -> Dockerfile {
    Dockerfile::parse(src).unwrap_or_else(|e| panic!("{src:?}: {e}"))
}

fn refused(src: &str) -> Error {
    match Dockerfile::parse(src) {
        Ok(d) => panic!("{src:?} was read as {d:?}"),
        Err(e) => e,
    }
}

fn images(src: &str) -> Vec<String> {
    parse(src).images().into_iter().map(|u| u.image).collect()
}

fn canonical(src: &str) -> String {
    parse(src).canonical().unwrap()
}

#[test]
fn stages_are_named_by_the_host_and_images_listed() {
    let src = "ARG V=1\nfrom --platform=linux/amd64 team/base:1 as Build\nRUN make \\\n  all\n\
               FROM scratch\nCOPY --from=build /out /out\nCOPY --from=0 /b /b\nCOPY --chown=1:1 a b\n";
    assert_eq!(
        canonical(src),
        "ARG V=1\nFROM --platform=linux/amd64 team/base:1 AS stage..0\nRUN make   all\n\
         FROM scratch AS stage..1\nCOPY --from=stage..0 /out /out\nCOPY --from=stage..0 /b /b\n\
         COPY --chown=1:1 a b\n"
    );
    assert_eq!(images(src), ["team/base:1"]);
}

#[test]
fn a_stage_name_counts_only_once_its_stage_ended() {
    // The builder registers a name when its stage ends: inside the stage, and in its
    // own FROM, the name is an image.
    assert_eq!(images("FROM base AS n\nCOPY --from=n / /\n"), ["base", "n"]);
    assert_eq!(images("FROM n AS n\n"), ["n"]);
    assert_eq!(
        images("FROM base AS one\nFROM one AS two\nCOPY --from=ONE / /\nFROM two\n"),
        ["base"]
    );
    // `scratch` is no image, but a stage may be called so, and a stage name wins.
    assert_eq!(images("FROM base AS scratch\nFROM scratch\n"), ["base"]);
    assert_eq!(images("FROM scratch\n"), Vec::<String>::new());
    // A number names a stage that ended, or nothing.
    assert!(refused("FROM a\nCOPY --from=0 / /\n")
        .message
        .contains("no stage"));
    assert!(refused("FROM a\nFROM b\nCOPY --from=2 / /\n")
        .message
        .contains("0 to 0"));
    assert!(refused("FROM a AS x\nFROM b AS X\n")
        .message
        .contains("twice"));
}

#[test]
fn images_are_pinned_and_written_by_id() {
    let mut d = parse("FROM team/base:1 AS a\nFROM a\nCOPY --from=red/secret / /x\n");
    d.pin(|image| {
        format!(
            "sha256:{}",
            if image == "team/base:1" { "aa" } else { "bb" }
        )
    });
    assert_eq!(
        d.canonical().unwrap(),
        "FROM sha256:aa AS stage..0\nFROM stage..0 AS stage..1\nCOPY --from=sha256:bb / /x\n"
    );
}

#[test]
fn the_builders_quirks_read_as_the_builder_reads_them() {
    // A byte-order mark before the escape directive: the directive counts.
    let src = "\u{feff}# escape=`\nFROM x\nCOPY `\n  --from=red/secret / /stolen/\n";
    assert_eq!(images(src), ["x", "red/secret"]);
    // Quoted or escaped flag values are the values the builder sees.
    assert_eq!(
        images("FROM x\nCOPY --from=\"red/secret\" / /\n"),
        ["x", "red/secret"]
    );
    assert_eq!(
        images("FROM x\nCOPY --fr\\om=red/se\\cret / /\n"),
        ["x", "red/secret"]
    );
    // A continuation joins without a space, also through comment lines.
    assert_eq!(
        images("FROM x\nCOPY --from=red/\\\n# c\nsecret / /\n"),
        ["x", "red/secret"]
    );
}

#[test]
fn what_the_host_does_not_understand_is_refused_with_its_line() {
    let cases = [
        ("# syntax=docker/dockerfile:1\nFROM x\n", 1, "frontend"),
        ("FROM x\nRUN <<EOF\necho hi\nEOF\n", 2, "heredoc"),
        ("FROM x\nCOPY <<-EOF /a\n", 2, "heredoc"),
        ("FROM x\nFROB y\n", 2, "not an instruction"),
        (
            "FROM x\nRUN --mount=type=cache,target=/x true\n",
            2,
            "--mount",
        ),
        ("FROM x\nCOPY --chmod=755 a b\n", 2, "--chmod"),
        ("FROM x\nCOPY --from=$IMG / /\n", 2, "variable"),
        ("ARG B\nFROM ${B}\n", 2, "variable"),
        ("FROM \"red/secret\"\n", 1, "not an image reference"),
        ("FROM x\nADD https://example.com/a /a\n", 2, "fetch"),
        ("FROM x\nADD $URL /a\n", 2, "fetch"),
        (
            "FROM x\nADD [\"http:\\/\\/example.com/a\", \"/a\"]\n",
            2,
            "fetch",
        ),
        (
            "FROM x\nONBUILD COPY --from=red/secret / /\n",
            2,
            "ONBUILD COPY --from",
        ),
        ("FROM x\nONBUILD FROM y\n", 2, "ONBUILD cannot"),
        ("FROM x\nONBUILD ONBUILD RUN y\n", 2, "ONBUILD cannot"),
        ("RUN x\nFROM y\n", 1, "before the first FROM"),
        ("# just a comment\n", 0, "no FROM"),
        ("FROM a b\n", 1, "AS name"),
        ("FROM a AS 1x\n", 1, "not a stage name"),
        ("# escape=`\nFROM x\nRUN echo a\\b\n", 3, "default escape"),
        ("FROM x\nRUN echo a\\\\", 2, "ends with"),
    ];
    for (src, line, words) in cases {
        let err = match Dockerfile::parse(src).and_then(|d| d.canonical()) {
            Ok(text) => panic!("{src:?} was written as {text:?}"),
            Err(e) => e,
        };
        assert_eq!(err.line, line, "{src:?}: {err}");
        assert!(err.message.contains(words), "{src:?}: {err}");
    }
}

#[test]
fn odd_but_legal_files_are_kept() {
    let src = "# escape=`\nFROM x\nRUN echo a `\n    b\nENV A=1 `\n  B=2\n";
    assert_eq!(
        canonical(src),
        "FROM x AS stage..0\nRUN echo a     b\nENV A=1   B=2\n"
    );
    let src = "FROM x\nHEALTHCHECK --interval=5s --retries=3 CMD [\"true\"]\n\
               ONBUILD RUN echo hi\nCMD [\"sh\", \"-c\", \"echo $HOME\"]\nRUN echo <<<here\n";
    let text = canonical(src);
    assert!(
        text.contains("HEALTHCHECK --interval=5s --retries=3 CMD [\"true\"]\n"),
        "{text}"
    );
    assert!(text.contains("ONBUILD RUN echo hi\n"), "{text}");
    assert!(parse(src).runs_commands());
    assert!(!parse("FROM x\nCOPY a b\nONBUILD COPY c d\n").runs_commands());
    assert!(parse("FROM x\nONBUILD run true\n").runs_commands());
}

#[test]
fn canonical_is_a_fixed_point() {
    let corpus = [
        "FROM a\n",
        "ARG X=1\nFROM a:1 AS b\nRUN x \\\n y\nFROM b\nCOPY --from=b --chown=1 /a /b\nCOPY --from=0 c d\n",
        "\u{feff}FROM a\r\nRUN x\r\n",
        "# escape=`\nFROM a\nRUN b `\n c\n",
        "FROM a\nONBUILD COPY x y\nLABEL a=\"b c\"\nEXPOSE 80/tcp\nUSER 1000\nWORKDIR /w\n",
    ];
    for src in corpus {
        let once = canonical(src);
        assert_eq!(canonical(&once), once, "{src:?}");
    }
}
