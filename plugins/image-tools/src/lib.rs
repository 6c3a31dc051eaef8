//! `image-tools`: make an image from a container or from a directory.
//!
//! `build-image` first asks the host whether `source` is a container; if it is, it commits
//! it. If not, it asks the host to build `source` as a directory with a Dockerfile. The
//! plugin has no filesystem of its own: the host reads the directory, and the plugin goes by
//! the host's answers.

use dockwright_sdk::docker::{self, BuildContext, BuildSpec, CommitSpec, DockerError};
use dockwright_sdk::{info, kv, required, Context, Guest, KeyValue, Param, PluginInfo, Workflow};

struct ImageTools;

impl Guest for ImageTools {
    fn describe() -> PluginInfo {
        PluginInfo {
            name: "image-tools".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            description: "Makes images from containers or from directories with a Dockerfile"
                .into(),
            workflows: vec![Workflow::new(
                "build-image",
                "Commits a container to an image, or builds a directory with a Dockerfile",
                vec![
                    Param::required(
                        "source",
                        "A container name or id to commit, or a directory with a Dockerfile to \
                         build (relative to where dockwright runs)",
                    ),
                    Param::required(
                        "tag",
                        "The image's repository and tag, such as `team/web:1` (tag `latest` \
                         when none)",
                    ),
                ],
            )],
        }
    }

    fn run(workflow: String, params: Vec<KeyValue>) -> Result<Vec<KeyValue>, String> {
        match workflow.as_str() {
            "build-image" => build_image(&params),
            other => Err(dockwright_sdk::unknown_workflow(other, &Self::describe())),
        }
    }
}

dockwright_sdk::export!(ImageTools);

fn build_image(params: &[KeyValue]) -> Result<Vec<KeyValue>, String> {
    let source = required(params, "source")?.trim();
    let (repo, tag) = split_reference(required(params, "tag")?)?;
    let reference = format!("{repo}:{tag}");

    match docker::inspect_container(source) {
        Ok(container) => {
            let name = container.name.trim_start_matches('/');
            info(&format!("committing container {name} to {reference}"));
            let spec = CommitSpec {
                container: container.id.clone(),
                repo: repo.into(),
                tag: Some(tag.into()),
                message: Some(format!("committed from {name} by dockwright image-tools")),
                author: None,
                changes: vec![],
            };
            let image = docker::commit_container(&spec)
                .with_context(|| format!("committing container {name} to {reference}"))?;
            info(&format!("committed {name} to {reference}"));
            Ok(vec![
                kv("image", image),
                kv("tag", reference),
                kv("method", "commit"),
            ])
        }
        // Not a container the plugin may see (an invalid container name, such as a path,
        // means the same): try it as a directory.
        Err(DockerError::NotFound(_) | DockerError::Invalid(_)) => {
            info(&format!(
                "no container named {source}: building directory {source} as {reference}"
            ));
            let spec = BuildSpec {
                context: BuildContext::Directory(source.into()),
                dockerfile: None,
                tag: reference.clone(),
                build_args: vec![],
                no_cache: false,
                labels: vec![],
            };
            match docker::build_image(&spec) {
                Ok(image) => {
                    info(&format!("built {reference}"));
                    Ok(vec![
                        kv("image", image),
                        kv("tag", reference),
                        kv("method", "build"),
                    ])
                }
                Err(e @ (DockerError::NotFound(_) | DockerError::Invalid(_))) => Err(format!(
                    "source `{source}` is neither a container nor a directory with a \
                     Dockerfile: give a container name or id to commit, or a directory \
                     containing a Dockerfile to build (the host said: {})",
                    e.display()
                )),
                Err(e) => Err(format!(
                    "building directory `{source}` as {reference}: {}",
                    e.display()
                )),
            }
        }
        Err(e) => Err(format!("looking up container `{source}`: {}", e.display())),
    }
}

/// Splits an image reference into repository and tag, `latest` when it has none:
/// `team/web:1` → (`team/web`, `1`); `localhost:5000/web` → (`localhost:5000/web`, `latest`).
fn split_reference(reference: &str) -> Result<(&str, &str), String> {
    let reference = reference.trim();
    if reference.contains('@') {
        return Err(format!(
            "tag `{reference}` is a digest: give a repository and tag, such as `team/web:1`"
        ));
    }
    // A colon after the last slash separates the tag; one before it belongs to a registry
    // host's port.
    let last_slash = reference.rfind('/').map_or(0, |i| i + 1);
    let (repo, tag) = match reference[last_slash..].rfind(':') {
        Some(i) => (
            &reference[..last_slash + i],
            &reference[last_slash + i + 1..],
        ),
        None => (reference, "latest"),
    };
    let repo_ok = !repo.is_empty()
        && !repo.starts_with(['/', '.', '-', '_'])
        && !repo.ends_with('/')
        && repo.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '/' | '.' | '-' | '_' | ':')
        });
    if !repo_ok {
        return Err(format!(
            "tag `{reference}` has an invalid repository `{repo}`: use lowercase letters, digits, \
             `.`, `-`, `_` and `/`, such as `team/web:1`"
        ));
    }
    let tag_ok = !tag.is_empty()
        && tag.len() <= 128
        && !tag.starts_with(['.', '-'])
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
    if !tag_ok {
        return Err(format!(
            "tag `{reference}` has an invalid tag `{tag}`: use letters, digits, `.`, `-` and `_`, \
             such as `team/web:1`"
        ));
    }
    Ok((repo, tag))
}

#[cfg(test)]
mod tests {
    use super::split_reference;

    #[test]
    fn references() {
        assert_eq!(split_reference("web"), Ok(("web", "latest")));
        assert_eq!(split_reference("team/web:1"), Ok(("team/web", "1")));
        assert_eq!(
            split_reference("localhost:5000/web"),
            Ok(("localhost:5000/web", "latest"))
        );
        assert_eq!(
            split_reference("localhost:5000/web:v2"),
            Ok(("localhost:5000/web", "v2"))
        );
        assert!(split_reference("web:").is_err());
        assert!(split_reference("Web:1").is_err());
        assert!(split_reference("web@sha256:abc").is_err());
        assert!(split_reference("").is_err());
    }
}
