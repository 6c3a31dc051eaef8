//! Builds send the engine exactly what the policy checked. Each test is a way a
//! hostile team tried to read another team's image through a build (the host and the
//! builder reading a Dockerfile or a context differently, a name the engine resolves
//! another way); each shows the secret never lands in an image, by reading the image
//! as an admin would after the build. Then a differential test: odd but legal
//! Dockerfiles build to the same files from the user's file and from the host's
//! canonical one; and a fork bomb in a build step meets the team's process limit.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;
use std::process::Command;

use crate::common::*;

/// Team red's private image holding a secret, labelled as red's; the secret's text.
fn red_secret(red: &Team) -> (String, String) {
    images();
    let tag = format!("{}/secret:1", red.name);
    let secret = unique("red-only-secret");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM dockwright/base\nRUN echo {secret} > /secret.txt\n"),
    )
    .unwrap();
    legacy_build(dir.path(), &tag, &[("dockwright.team", &red.name)]);
    red.own_image(&tag);
    (tag, secret)
}

/// `docker build` of `dir` with the engine's legacy builder (the one dockwright uses).
fn legacy_build(dir: &Path, tag: &str, labels: &[(&str, &str)]) {
    let mut args = vec!["build".to_string(), "-q".into(), "-t".into(), tag.into()];
    for (k, v) in labels {
        args.extend(["--label".into(), format!("{k}={v}")]);
    }
    args.push(dir.to_str().unwrap().into());
    let out = Command::new("docker")
        .args(&args)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "docker build {tag} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Whether the image `tag` exists and any of its files holds `needle`: the image's
/// file system as `docker export` gives it.
fn image_holds(tag: &str, needle: &str) -> bool {
    files(tag).is_some_and(|files| {
        files
            .values()
            .any(|f| f.data.windows(needle.len()).any(|w| w == needle.as_bytes()))
    })
}

struct FileView {
    kind: u8,
    mode: u32,
    data: Vec<u8>,
    link: Option<String>,
}

/// The files of image `tag` (path to kind, mode, content, link), or `None` when there
/// is no such image. Times are left out: a build step writes its own.
fn files(tag: &str) -> Option<BTreeMap<String, FileView>> {
    let id = Command::new("docker")
        .args(["create", tag, "true"])
        .output()
        .unwrap();
    if !id.status.success() {
        return None;
    }
    let id = String::from_utf8_lossy(&id.stdout).trim().to_string();
    let export = Command::new("docker")
        .args(["export", &id])
        .output()
        .unwrap();
    docker(&["rm", "-f", &id]);
    assert!(export.status.success());
    let mut out = BTreeMap::new();
    let mut archive = tar::Archive::new(export.stdout.as_slice());
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = entry.path().unwrap().display().to_string();
        let header = entry.header().clone();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).unwrap();
        out.insert(
            path,
            FileView {
                kind: header.entry_type().as_byte(),
                mode: header.mode().unwrap(),
                data,
                link: header.link_name().unwrap().map(|l| l.display().to_string()),
            },
        );
    }
    Some(out)
}

/// Team blue: may use the example images and its own, build into its own tags.
fn blue(prefix: &str, extra: &str) -> Team {
    Team::with_policy(
        prefix,
        &format!(
            "images = [\"dockwright/*\", \"{{team}}/*\"]\ntags = [\"{{team}}/*\"]\nbuild_roots = [\"/\"]\n{extra}"
        ),
    )
}

/// A build through the probe; the error text when it fails.
fn try_build(team: &Team, tag: &str, params: &[(&str, &str)]) -> Result<(), String> {
    team.own_image(tag);
    let mut all = vec![("tag", tag)];
    all.extend_from_slice(params);
    probe(team, "build", &all).map(|_| ())
}

#[test]
fn a_symlinked_dockerfile_is_refused_never_read_outside_the_context() {
    let red = Team::new("red-link");
    let (secret_image, secret) = red_secret(&red);
    let blue = blue("blue-link", "");
    let tag = format!("{}/stolen:1", blue.name);
    let hostile = format!("FROM dockwright/base\nCOPY --from={secret_image} /secret.txt /stolen\n");
    let benign = "FROM dockwright/base\n";
    // The host's file system holds a benign file where the links point; the context
    // holds the hostile one where the builder would resolve them, inside the context.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("Dockerfile"), benign).unwrap();
    let context = tempfile::tempdir().unwrap();
    let ctx = context.path();
    let inner = ctx.join(outside.path().strip_prefix("/").unwrap());
    std::fs::create_dir_all(&inner).unwrap();
    std::fs::write(inner.join("Dockerfile"), &hostile).unwrap();
    std::os::unix::fs::symlink(outside.path().join("Dockerfile"), ctx.join("Dockerfile")).unwrap();
    std::fs::create_dir(ctx.join("real")).unwrap();
    std::fs::write(ctx.join("real/Dockerfile"), &hostile).unwrap();
    std::os::unix::fs::symlink("real/Dockerfile", ctx.join("relative")).unwrap();
    std::os::unix::fs::symlink(outside.path(), ctx.join("linked")).unwrap();
    let dir = ctx.to_str().unwrap();
    for path in ["Dockerfile", "relative", "linked/Dockerfile"] {
        let err = try_build(&blue, &tag, &[("dir", dir), ("dockerfile-path", path)]).unwrap_err();
        assert!(
            err.starts_with("invalid: ") && err.contains("symlink"),
            "{path}: {err}"
        );
        assert!(!image_holds(&tag, &secret), "{path}");
    }
    // The same file, not linked, is read and checked: denied by the images rule.
    let err = try_build(
        &blue,
        &tag,
        &[("dir", dir), ("dockerfile-path", "real/Dockerfile")],
    )
    .unwrap_err();
    assert!(
        err.contains("(policy rule `images`)") && err.contains("line 2"),
        "{err}"
    );
    assert!(files(&tag).is_none());
}

#[test]
fn an_inline_context_names_each_path_once() {
    let red = Team::new("red-dup");
    let (secret_image, secret) = red_secret(&red);
    let blue = blue("blue-dup", "");
    let tag = format!("{}/stolen:1", blue.name);
    let hostile = format!("FROM dockwright/base\nCOPY --from={secret_image} /secret.txt /stolen\n");
    for name in ["Dockerfile", "./Dockerfile", ".//Dockerfile"] {
        let err = try_build(
            &blue,
            &tag,
            &[
                ("dockerfile", "FROM dockwright/base\n"),
                ("file-name", name),
                ("file-content", &hostile),
            ],
        )
        .unwrap_err();
        assert!(
            err.starts_with("invalid: ") && err.contains("twice"),
            "{name}: {err}"
        );
        assert!(!image_holds(&tag, &secret), "{name}");
    }
}

#[test]
fn the_host_reads_directives_continuations_and_stages_as_the_builder_does() {
    let red = Team::new("red-read");
    let (secret_image, secret) = red_secret(&red);
    // Red's image also under a one-word name, which a Dockerfile can give a stage.
    let bare = unique("redstage");
    docker(&["tag", &secret_image, &bare]);
    red.own_image(&bare);
    let blue = blue("blue-read", "");
    let tag = format!("{}/stolen:1", blue.name);
    let cases = [
        // A byte-order mark before `# escape=`: the directive counts, so the
        // backtick joins `--from` to COPY.
        format!("\u{feff}# escape=`\nFROM dockwright/base\nCOPY `\n  --from={secret_image} /secret.txt /stolen\n"),
        // A stage's name counts only once the stage ended: inside it, the name is an image.
        format!("FROM dockwright/base AS {bare}\nCOPY --from={bare} /secret.txt /stolen\n"),
        format!("FROM {bare} AS {bare}\nRUN true\n"),
        // Quotes and escapes in the flag are the builder's to remove.
        format!("FROM dockwright/base\nCOPY --from=\"{secret_image}\" /secret.txt /stolen\n"),
        format!("FROM dockwright/base\nCOPY --from={}\\\n{} /secret.txt /stolen\n", &secret_image[..3], &secret_image[3..]),
    ];
    for dockerfile in &cases {
        let err = try_build(&blue, &tag, &[("dockerfile", dockerfile)]).unwrap_err();
        assert!(
            err.starts_with("denied: ") && err.contains("(policy rule `images`)"),
            "{dockerfile:?}: {err}"
        );
        assert!(!image_holds(&tag, &secret), "{dockerfile:?}");
    }
}

#[test]
fn an_image_is_read_by_the_id_the_host_checked_never_by_an_id_prefix() {
    let red = Team::new("red-id");
    let (secret_image, secret) = red_secret(&red);
    let id = docker(&["image", "inspect", "-f", "{{.Id}}", &secret_image]);
    let short = id.trim().trim_start_matches("sha256:")[..16].to_string();
    // A team whose patterns happen to match the hex of an id, as `*:latest` does once
    // the host adds the tag.
    let blue = blue("blue-id", "");
    std::fs::write(
        blue.home.join("dockwright.toml"),
        format!(
            "[teams.{0}]\nimages = [\"dockwright/*\", \"*:latest\"]\ntags = [\"{0}/*\"]\nbuild_roots = [\"/\"]\n",
            blue.name
        ),
    )
    .unwrap();
    let tag = format!("{}/stolen:1", blue.name);
    for dockerfile in [
        format!("FROM {short}\n"),
        format!("FROM dockwright/base\nCOPY --from={short} /secret.txt /stolen\n"),
    ] {
        let err = try_build(&blue, &tag, &[("dockerfile", &dockerfile)]).unwrap_err();
        assert!(err.contains("no tag or digest"), "{dockerfile}: {err}");
        assert!(!image_holds(&tag, &secret));
    }
    // A container cannot be made from it either: the host sends the name with its tag
    // written out, which the engine reads as a name only, and no image has that name.
    let err = probe(&blue, "create", &[("image", &short), ("cmd", "true")]).unwrap_err();
    assert!(
        err.starts_with("not-found: ") && err.contains(&format!("{short}:latest")),
        "{err}"
    );
    assert!(blue.containers().is_empty());
    // What the builder gets names images by the id the host checked: the plan shows it.
    let base = docker(&[
        "image",
        "inspect",
        "-f",
        "{{.Id}}",
        "dockwright/base:latest",
    ]);
    let run = blue.dockwright(
        probe_dir(),
        &[
            "run",
            "build",
            "-p",
            &format!("tag={tag}"),
            "-p",
            "dockerfile=FROM dockwright/base AS one\nFROM one\nCOPY --from=0 /bin/sh /sh\n",
            "--plan",
            "--json",
        ],
    );
    run.assert_ok();
    let plan = run.json();
    let sent = plan["steps"][0]["sends"]
        .as_str()
        .unwrap_or_else(|| panic!("{plan}"));
    assert_eq!(
        sent,
        format!(
            "FROM {} AS stage..0\nFROM stage..0 AS stage..1\nCOPY --from=stage..0 /bin/sh /sh\n",
            base.trim()
        )
    );
    assert!(files(&tag).is_none(), "a plan built the image");
}

#[test]
fn a_build_cannot_fetch_or_trigger_what_the_host_did_not_check() {
    let red = Team::new("red-fetch");
    let (secret_image, _) = red_secret(&red);
    let blue = blue("blue-fetch", "");
    let tag = format!("{}/stolen:1", blue.name);
    for (dockerfile, words) in [
        // The engine fetches an ADD URL itself, from any network the host reaches.
        (
            "FROM dockwright/base\nADD http://127.0.0.1:2375/images/json /images.json\n"
                .to_string(),
            "fetch",
        ),
        (
            "FROM dockwright/base\nARG U=http://127.0.0.1:2375/info\nADD $U /info\n".to_string(),
            "fetch",
        ),
        // A trigger of a stage runs in the stages built from it.
        (
            format!("FROM dockwright/base AS a\nONBUILD COPY --from={secret_image} / /x\nFROM a\n"),
            "ONBUILD COPY --from",
        ),
        (
            "# syntax=docker/dockerfile:1\nFROM dockwright/base\n".to_string(),
            "frontend",
        ),
        (
            "FROM dockwright/base\nRUN <<EOF\ncat /etc/passwd\nEOF\n".to_string(),
            "heredoc",
        ),
        (
            "FROM dockwright/base\nRUN --mount=type=bind,from=x,target=/x true\n".to_string(),
            "--mount",
        ),
    ] {
        let err = try_build(&blue, &tag, &[("dockerfile", &dockerfile)]).unwrap_err();
        assert!(
            err.starts_with("invalid: ") && err.contains(words),
            "{dockerfile:?}: {err}"
        );
        assert!(err.contains("Dockerfile line"), "{err}");
        assert!(files(&tag).is_none());
    }
}

/// The image config fields a Dockerfile sets, for comparing two builds.
fn config(tag: &str) -> serde_json::Value {
    let view = inspect("image", tag);
    let c = &view["Config"];
    let keys = [
        "Env",
        "Cmd",
        "Entrypoint",
        "WorkingDir",
        "User",
        "ExposedPorts",
        "Volumes",
        "StopSignal",
        "Shell",
        "Healthcheck",
    ];
    let mut out = serde_json::Map::new();
    for key in keys {
        out.insert(key.into(), c[key].clone());
    }
    let labels: serde_json::Map<String, serde_json::Value> = c["Labels"]
        .as_object()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !k.starts_with("dockwright."))
        .collect();
    out.insert("Labels".into(), labels.into());
    out.into()
}

#[test]
fn odd_but_legal_dockerfiles_build_the_same_from_the_host_s_canonical_file() {
    images();
    let team = Team::with_policy(
        "diff",
        "images = [\"dockwright/*\"]\ntags = [\"{team}/*\"]\nbuild_roots = [\"/\"]\n",
    );
    let corpus = [
        "FROM dockwright/base\nRUN echo a \\\n  b \\\n# a comment inside\n   c > /out\n",
        "# escape=`\nFROM dockwright/base\nRUN echo one `\n two > /out\nENV A=1 `\n  B=two\n",
        "\u{feff}FROM dockwright/base\r\nRUN echo bom > /out\r\n",
        "ARG V=from-meta\nFROM dockwright/base\nARG V\nRUN echo $V > /out\n",
        "FROM dockwright/base AS build\nRUN echo built > /built\nFROM dockwright/base AS other\n\
         RUN echo other > /other\nFROM scratch\nCOPY --from=build /built /b1\nCOPY --from=0 /built /b2\n\
         COPY --from=OTHER /other /o\nCOPY --from=1 /bin/busybox /bin/busybox\n",
        "FROM dockwright/base AS base\nONBUILD RUN echo trigger > /trig\nFROM base\nRUN cat /trig > /seen\n",
        "FROM dockwright/base\nCOPY --chown=1:2 hello.txt /h\nADD hello.txt /a/\nWORKDIR /w\nUSER 1000\n\
         EXPOSE 8080/tcp\nVOLUME /data\nLABEL x=\"y z\"\nSTOPSIGNAL SIGTERM\nENTRYPOINT [\"/bin/sh\"]\n\
         CMD [\"-c\", \"echo hi\"]\nHEALTHCHECK --interval=30s --retries=2 CMD true\n",
        "from dockwright/base as Lower\nrun echo lower > /l\nFROM lower\ncopy --from=lower /l /l2\n",
        "FROM dockwright/base\nSHELL [\"/bin/sh\", \"-c\"]\nRUN echo $0 > /shell\n",
    ];
    for (i, dockerfile) in corpus.iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
        std::fs::write(dir.path().join("hello.txt"), "hello\n").unwrap();
        let users = format!("{}/users:{i}", team.name);
        let hosts = format!("{}/hosts:{i}", team.name);
        team.own_image(&users);
        legacy_build(dir.path(), &users, &[]);
        try_build(
            &team,
            &hosts,
            &[
                ("dockerfile", dockerfile),
                ("file-name", "hello.txt"),
                ("file-content", "hello\n"),
            ],
        )
        .unwrap_or_else(|e| panic!("{dockerfile:?}: {e}"));
        assert_same_image(&users, &hosts, &format!("{dockerfile:?}"));
    }
}

/// Two images built from the same thing have the same files and config.
fn assert_same_image(users: &str, hosts: &str, what: &str) {
    let (a, b) = (files(users).unwrap(), files(hosts).unwrap());
    assert_eq!(
        a.keys().collect::<Vec<_>>(),
        b.keys().collect::<Vec<_>>(),
        "{what}"
    );
    for (path, fa) in &a {
        let fb = &b[path];
        assert!(
            fa.kind == fb.kind && fa.mode == fb.mode && fa.data == fb.data && fa.link == fb.link,
            "{what}: `{path}` differs"
        );
    }
    assert_eq!(config(users), config(hosts), "{what}");
}

#[test]
fn the_example_images_build_the_same_through_the_host() {
    images();
    let team = Team::with_policy(
        "diff-examples",
        "images = [\"dockwright/*\"]\ntags = [\"{team}/*\"]\nbuild_roots = [\"/\"]\n",
    );
    let examples = workspace().join("examples/images");
    for name in ["base", "web"] {
        let dir = examples.join(name);
        let users = format!("{}/users-{name}:1", team.name);
        let hosts = format!("{}/hosts-{name}:1", team.name);
        team.own_image(&users);
        legacy_build(&dir, &users, &[]);
        try_build(&team, &hosts, &[("dir", dir.to_str().unwrap())])
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_same_image(&users, &hosts, name);
    }
    // The figlet plugin's inline context.
    let figlet = workspace().join("plugins/figlet/src");
    let source = std::fs::read_to_string(figlet.join("lib.rs")).unwrap();
    let start = source.find("const DOCKERFILE: &str = \"\\\n").unwrap();
    let text = &source[start..];
    let text = &text[text.find('\n').unwrap() + 1..text.find("\";").unwrap()];
    let dockerfile = text.replace("\\\"", "\"");
    let script = std::fs::read_to_string(figlet.join("banner.sh")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), &dockerfile).unwrap();
    std::fs::write(dir.path().join("banner.sh"), &script).unwrap();
    let users = format!("{}/users-figlet:1", team.name);
    let hosts = format!("{}/hosts-figlet:1", team.name);
    team.own_image(&users);
    legacy_build(dir.path(), &users, &[]);
    try_build(
        &team,
        &hosts,
        &[
            ("dockerfile", &dockerfile),
            ("file-name", "banner.sh"),
            ("file-content", &script),
        ],
    )
    .unwrap_or_else(|e| panic!("figlet: {e}"));
    // The inline file's mode is the host's choice (0644, 0755 with a `#!`): compare
    // the contents.
    let (a, b) = (files(&users).unwrap(), files(&hosts).unwrap());
    assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>());
    for (path, fa) in &a {
        assert!(
            fa.data == b[path].data && fa.link == b[path].link,
            "figlet: `{path}` differs"
        );
    }
    assert_eq!(config(&users), config(&hosts));
}

#[test]
fn a_fork_bomb_in_a_build_step_meets_the_team_s_process_limit() {
    images();
    let team = Team::with_policy(
        "forks",
        "images = [\"dockwright/*\"]\ntags = [\"{team}/*\"]\nbuild_roots = [\"/\"]\n\
         pids = { default = 32, max = 48 }\n",
    );
    let tag = format!("{}/forks:1", team.name);
    team.own_image(&tag);
    // Bounded, so that a limit that failed to apply could not take the machine down:
    // 200 sleepers where 48 processes are allowed. The words are split so the step's
    // echo of its own command never matches.
    // The sleepers are counted with the shell's own glob: past the limit no command
    // can fork, not even `ls`.
    let dockerfile = "FROM dockwright/base\n\
        RUN (for i in $(seq 200); do sleep 20 & done) 2>/dev/null; set -- /proc/[0-9]*; \
        echo procs=$#; if [ $# -lt 100 ]; then echo lim\"\"ited; fi\n";
    let run = team.dockwright(
        probe_dir(),
        &[
            "run",
            "build",
            "-p",
            &format!("tag={tag}"),
            "-p",
            &format!("dockerfile={dockerfile}"),
        ],
    );
    run.assert_ok();
    assert!(run.stderr.contains("limited"), "{}", run.stderr);
    // The host is up and builds on.
    try_build(
        &team,
        &format!("{}/after:1", team.name),
        &[("dockerfile", "FROM dockwright/base\nRUN true\n")],
    )
    .unwrap();
}

#[test]
fn where_no_process_limit_can_be_set_a_build_that_runs_commands_is_denied() {
    images();
    // Over tcp the engine may be on another machine: the host cannot prove its
    // cgroups are the engine's.
    let tcp = std::env::var("DOCKWRIGHT_TEST_DOCKER_TCP").unwrap_or_else(|_| TCP_ENDPOINT.into());
    let denied = blue("nopids", "");
    let tag = format!("{}/x:1", denied.name);
    denied.own_image(&tag);
    let build = |team: &Team, dockerfile: &str| {
        team.dockwright_with(
            probe_dir(),
            &[
                "run",
                "build",
                "-p",
                &format!("tag={tag}"),
                "-p",
                &format!("dockerfile={dockerfile}"),
            ],
            &[("DOCKER_HOST", tcp.as_str())],
        )
    };
    let run = build(&denied, "FROM dockwright/base\nRUN true\n");
    let line = run.assert_clean_failure("build_unbounded_pids");
    assert!(line.contains("no process limit"), "{line}");
    // Without RUN steps nothing runs: allowed.
    build(&denied, "FROM dockwright/base\nLABEL only=labels\n").assert_ok();
    let accepts = blue("unbounded", "build_unbounded_pids = true\n");
    let tag2 = format!("{}/x:1", accepts.name);
    accepts.own_image(&tag2);
    let run = accepts.dockwright_with(
        probe_dir(),
        &[
            "run",
            "build",
            "-p",
            &format!("tag={tag2}"),
            "-p",
            "dockerfile=FROM dockwright/base\nRUN true\n",
        ],
        &[("DOCKER_HOST", tcp.as_str())],
    );
    run.assert_ok();
}
