//! `figlet`: a text banner, rendered inside a container.
//!
//! `banner` builds a small image from an inline build context (a Dockerfile and the shell
//! script `banner.sh` next to this file), runs the script with the text in a container,
//! waits for it to exit, reads its output and removes the container.

use dockwright_sdk::docker::{
    self, BuildContext, BuildSpec, ContainerSpec, ContextFile, LogsOptions, OutputStream,
};
use dockwright_sdk::{
    info, kv, param_or, required, warn, Context, Guest, KeyValue, Param, PluginInfo, Workflow,
};

const DEFAULT_IMAGE_TAG: &str = "dockwright/figlet:latest";
/// Characters the banner font draws (letters are drawn in capitals).
const PUNCTUATION: &str = " !?.,-:'";
const MAX_TEXT_CHARS: usize = 20;
const SCRIPT_PATH: &str = "/usr/local/bin/banner";

const DOCKERFILE: &str = "\
FROM dockwright/base:latest
COPY banner.sh /usr/local/bin/banner
CMD [\"/bin/sh\", \"/usr/local/bin/banner\", \"dockwright\"]
";
const SCRIPT: &str = include_str!("banner.sh");

struct Figlet;

impl Guest for Figlet {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "figlet".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Renders text as a big block-letter banner, inside a container".into(),
            workflows: vec![Workflow::new(
                "banner",
                "Builds a small banner image, runs it with the text and returns the banner",
                vec![
                    Param::required(
                        "text",
                        "The text, at most 20 characters: letters, digits, spaces and ! ? . , - : '",
                    ),
                    Param::optional(
                        "image-tag",
                        "The tag of the banner image to build and run",
                        DEFAULT_IMAGE_TAG,
                    ),
                ],
            )],
        }
    }

    fn run(workflow: String, params: Vec<KeyValue>) -> Result<Vec<KeyValue>, String> {
        match workflow.as_str() {
            "banner" => banner(&params),
            other => Err(dockwright_sdk::unknown_workflow(other, &Self::describe())),
        }
    }
}

dockwright_sdk::export!(Figlet);

/// The text param, checked against what the font can draw.
fn text(params: &[KeyValue]) -> Result<String, String> {
    let text = required(params, "text")?.trim();
    if let Some(c) = text
        .chars()
        .find(|c| !c.is_ascii_alphanumeric() && !PUNCTUATION.contains(*c))
    {
        return Err(format!(
            "text contains `{c}`, which the banner font cannot draw: use letters, digits, \
             spaces and ! ? . , - : '"
        ));
    }
    let count = text.chars().count();
    if count > MAX_TEXT_CHARS {
        return Err(format!(
            "text has {count} characters, more than the {MAX_TEXT_CHARS} that fit a terminal \
             line: shorten it"
        ));
    }
    Ok(text.to_ascii_uppercase())
}

fn banner(params: &[KeyValue]) -> Result<Vec<KeyValue>, String> {
    let text = text(params)?;
    let image = param_or(params, "image-tag", DEFAULT_IMAGE_TAG).trim();

    info(&format!("building the banner image {image}"));
    let build = BuildSpec {
        context: BuildContext::Files(vec![
            ContextFile {
                path: "Dockerfile".into(),
                contents: DOCKERFILE.as_bytes().to_vec(),
            },
            ContextFile {
                path: "banner.sh".into(),
                contents: SCRIPT.as_bytes().to_vec(),
            },
        ]),
        dockerfile: None,
        tag: image.into(),
        build_args: vec![],
        no_cache: false,
        labels: vec![],
    };
    docker::build_image(&build).map_err(|e| {
        format!(
            "building the banner image {image} (FROM dockwright/base:latest, which must be on \
             the engine): {}",
            e.display()
        )
    })?;

    let spec = ContainerSpec {
        image: image.into(),
        name: None,
        env: vec![],
        cmd: Some(vec!["/bin/sh".into(), SCRIPT_PATH.into(), text.clone()]),
        entrypoint: None,
        working_dir: None,
        exposed_ports: vec![],
        publish_all: false,
        port_bindings: vec![],
        labels: vec![],
        // A shell script printing five lines needs very little.
        memory_bytes: Some(64 * 1024 * 1024),
        cpus: None,
        pids_limit: Some(32),
        restart: None,
    };
    let id = docker::create_container(&spec).context("creating the banner container")?;
    docker::start_container(&id).context("starting the banner container")?;
    let exit_code = docker::wait_container(&id).context("waiting for the banner container")?;
    let lines = docker::container_logs(
        &id,
        LogsOptions {
            stdout: true,
            stderr: true,
            tail: None,
        },
    )
    .context("reading the banner container's output")?;
    // Removed here on success and failure alike; if this fails on a failed run, the host
    // removes the container anyway.
    if let Err(e) = docker::remove_container(&id, true) {
        warn(&format!(
            "could not remove the banner container {}: {}",
            id.get(..12).unwrap_or(&id),
            e.display()
        ));
    }

    let stdout = join(&lines, OutputStream::Stdout);
    if exit_code != 0 {
        let stderr = join(&lines, OutputStream::Stderr);
        let stderr = if stderr.trim().is_empty() {
            "(nothing on stderr)".to_string()
        } else {
            stderr
        };
        return Err(format!(
            "the banner script exited with code {exit_code}: {stderr}"
        ));
    }
    Ok(vec![kv("output", stdout), kv("exit-code", exit_code)])
}

/// The text of one stream, one line per log line.
fn join(lines: &[docker::LogLine], stream: OutputStream) -> String {
    lines
        .iter()
        .filter(|l| l.stream == stream)
        .map(|l| l.text.trim_end_matches(['\n', '\r']))
        .collect::<Vec<_>>()
        .join("\n")
}
