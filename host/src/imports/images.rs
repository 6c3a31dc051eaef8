//! Images: list, pull, build (output streamed to the user), commit.

use std::collections::HashMap;
use std::path::PathBuf;

use bollard::models::ContainerConfig;
use bollard::query_parameters::{
    BuildImageOptions, CommitContainerOptions, CreateImageOptions, ListImagesOptions,
};
use futures_util::StreamExt;

use super::admission;
use super::state::RunContext;
use super::{context, convert, guard, network};
use crate::contract::bindings::docker::{
    BuildContext, BuildSpec, CommitSpec, DockerError, ImageSummary,
};
use crate::contract::bindings::KeyValue;
use crate::engine::errors;
use crate::imports::state::HostState;
use crate::policy;
use crate::util::console::Source;

pub async fn list(state: &mut HostState) -> Result<Vec<ImageSummary>, DockerError> {
    let run = state.run()?;
    let engine = &run.engine;
    let images = engine
        .docker()
        .await?
        .list_images(None::<ListImagesOptions>)
        .await
        .map_err(|e| engine.fail(e))?;
    let mut listed: Vec<ImageSummary> = images
        .into_iter()
        .map(|i| ImageSummary {
            id: i.id,
            repo_tags: i
                .repo_tags
                .into_iter()
                .filter(|t| t != "<none>:<none>")
                .collect(),
            created: i.created,
            size: u64::try_from(i.size).unwrap_or(0),
        })
        .collect();
    if let Some(plan) = run.planned() {
        listed.extend(plan.listed_images());
    }
    Ok(listed)
}

pub async fn pull(state: &mut HostState, image: &str) -> Result<String, DockerError> {
    let plugin = state.plugin.clone();
    let console = state.console.clone();
    let run = state.run()?;
    if image.trim().is_empty() {
        return Err(DockerError::Invalid("pull: image is empty".into()));
    }
    policy::check_image(&run.policy, image).map_err(guard::deny)?;
    if let Some(mut plan) = run.planned() {
        return Ok(plan.image(image));
    }
    let engine = &run.engine;
    let (repo, tag) = convert::split_reference(image);
    let options = CreateImageOptions {
        from_image: Some(repo),
        tag: Some(tag),
        ..Default::default()
    };
    let mut progress = engine
        .docker()
        .await?
        .create_image(Some(options), None, None);
    while let Some(item) = progress.next().await {
        let info =
            item.map_err(|e| errors::context(engine.fail(e), &format!("pulling `{image}`")))?;
        // Per-layer byte counts would flood the terminal; show the status lines only.
        if let (Some(status), None) = (info.status, info.progress_detail) {
            console.line(&plugin, Source::Build, &status);
        }
    }
    image_id(state, image).await
}

pub async fn build(state: &mut HostState, spec: BuildSpec) -> Result<String, DockerError> {
    let plugin = state.plugin.clone();
    let console = state.console.clone();
    let run = state.run()?;
    if spec.tag.trim().is_empty() {
        return Err(DockerError::Invalid(
            "build: tag is empty: name the image, such as team/web:1".into(),
        ));
    }
    policy::check_tag(&run.policy, &spec.tag).map_err(guard::deny)?;
    let dockerfile = spec
        .dockerfile
        .clone()
        .unwrap_or_else(|| "Dockerfile".into());
    let (tar, dockerfile_text) = match spec.context {
        BuildContext::Directory(dir) => {
            let dir = allowed_context(&run.policy, &dir)?;
            let file = dockerfile.clone();
            tokio::task::spawn_blocking(move || {
                let text = std::fs::read(dir.join(&file)).unwrap_or_default();
                context::tar_directory(&dir, &file).map(|tar| (tar, text))
            })
            .await
            .map_err(|e| DockerError::EngineError(format!("packing the context failed: {e}")))??
        }
        BuildContext::Files(files) => {
            let text = files
                .iter()
                .find(|f| f.path.trim_start_matches("./") == dockerfile)
                .map(|f| f.contents.clone())
                .unwrap_or_default();
            (context::tar_files(&files, &dockerfile)?, text)
        }
    };
    // The images a build reads are images the team runs code in or takes files
    // from: the same allowlist as `create`, and no base whose ONBUILD triggers
    // would run unchecked.
    let read = context::images_read(&String::from_utf8_lossy(&dockerfile_text))
        .map_err(DockerError::Invalid)?;
    for image in read.bases.iter().chain(&read.copied) {
        policy::check_image(&run.policy, image).map_err(guard::deny)?;
    }
    for base in &read.bases {
        check_triggers(run, base).await?;
    }
    let labels = guard::owner_labels(run, &spec.labels)?;
    let limits = build_limits(&run.policy);
    // No network for build steps unless the team may have one; then its own.
    let networkmode = if run.policy.build_network {
        let team = admission::lock_run(run).await?;
        let id = network::team_network(run).await?;
        drop(team);
        id
    } else {
        "none".to_string()
    };
    let options = BuildImageOptions {
        dockerfile,
        t: Some(spec.tag.clone()),
        nocache: spec.no_cache,
        buildargs: Some(to_map(&spec.build_args)),
        labels: Some(labels),
        // A failed step must not leave its intermediate container behind.
        rm: true,
        forcerm: true,
        memory: Some(limits.memory),
        memswap: Some(limits.memory),
        cpuperiod: Some(limits.cpu_period),
        cpuquota: Some(limits.cpu_quota),
        networkmode: Some(networkmode),
        ..Default::default()
    };
    if let Some(mut plan) = run.planned() {
        return Ok(plan.image(&spec.tag));
    }
    let engine = &run.engine;
    let mut output =
        engine
            .docker()
            .await?
            .build_image(options, None, Some(bollard::body_full(tar.into())));
    let mut id = None;
    while let Some(item) = output.next().await {
        let info = match item {
            Ok(info) => info,
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                return Err(DockerError::Invalid(format!(
                    "building `{}` failed: {}",
                    spec.tag,
                    error.trim()
                )))
            }
            Err(e) => return Err(engine.fail(e)),
        };
        for line in info
            .stream
            .iter()
            .chain(&info.status)
            .flat_map(|s| s.lines())
        {
            if !line.trim().is_empty() {
                console.line(&plugin, Source::Build, line.trim_end());
            }
        }
        if let Some(image) = info.aux {
            id = image.id.or(id);
        }
    }
    drop(output);
    run.images.push(spec.tag.clone());
    match id {
        Some(id) => Ok(id),
        None => image_id(state, &spec.tag).await,
    }
}

pub async fn commit(state: &mut HostState, spec: CommitSpec) -> Result<String, DockerError> {
    let run = state.run()?;
    if spec.repo.trim().is_empty() {
        return Err(DockerError::Invalid(
            "commit: repo is empty: name the image, such as team/snapshot".into(),
        ));
    }
    let tag = spec.tag.clone().unwrap_or_else(|| "latest".into());
    policy::check_tag(&run.policy, &format!("{}:{tag}", spec.repo)).map_err(guard::deny)?;
    policy::check_commit_changes(&spec.changes).map_err(guard::deny)?;
    let id = guard::owned_id(run, &spec.container).await?;
    if let Some(mut plan) = run.planned() {
        return Ok(plan.image(&format!("{}:{tag}", spec.repo)));
    }
    let options = CommitContainerOptions {
        container: Some(id),
        repo: Some(spec.repo.clone()),
        tag: Some(tag.clone()),
        comment: spec.message,
        author: spec.author,
        pause: true,
        changes: Some(with_owner_labels(&spec.changes, &run.owner.labels())),
    };
    // The engine merges this config into the container's: only the labels change.
    let config = ContainerConfig {
        labels: Some(run.owner.labels()),
        ..Default::default()
    };
    let engine = &run.engine;
    let committed = engine
        .docker()
        .await?
        .commit_container(options, config)
        .await
        .map_err(|e| engine.fail(e))?;
    run.images.push(format!("{}:{tag}", spec.repo));
    Ok(committed.id)
}

/// The commit's changes with the host's labels set last: the engine applies
/// changes after the config, so only a last `LABEL` has the final word.
fn with_owner_labels(changes: &[String], owner: &HashMap<String, String>) -> String {
    let mut pairs: Vec<String> = owner
        .iter()
        .map(|(k, v)| format!("{k}={}", serde_json::Value::from(v.as_str())))
        .collect();
    pairs.sort();
    let mut all = changes.to_vec();
    all.push(format!("LABEL {}", pairs.join(" ")));
    all.join("\n")
}

/// The caps a build runs under: the team's most memory (with swap equal to it, so
/// none) and cpus for one container. The build API takes memory as a 32-bit number,
/// so a cap above 2 GiB is cut to just under it.
struct BuildLimits {
    memory: i32,
    cpu_period: i32,
    cpu_quota: i32,
}

const CPU_PERIOD: i32 = 100_000;

fn build_limits(policy: &crate::policy::TeamPolicy) -> BuildLimits {
    let memory = i32::try_from(policy.memory_bytes.max).unwrap_or(i32::MAX);
    let quota = (policy.cpus.max * f64::from(CPU_PERIOD)).round();
    let cpu_quota = if quota.is_finite() && quota >= 1000.0 && quota < f64::from(i32::MAX) {
        quota as i32
    } else {
        1000
    };
    BuildLimits {
        memory,
        cpu_period: CPU_PERIOD,
        cpu_quota,
    }
}

/// A base image's `ONBUILD` triggers run in any build from it, with none of the
/// checks above: a base must be on the engine (so it can be looked at) and have
/// none.
async fn check_triggers(run: &RunContext, base: &str) -> Result<(), DockerError> {
    if let Some(mut plan) = run.planned() {
        if plan.is_simulated_image(base) {
            let what = format!("the base image `{base}` (whose ONBUILD triggers a build checks)");
            return Err(plan.stop_here(super::plan::needs_real(&what)));
        }
    }
    let engine = &run.engine;
    let image = match engine.docker().await?.inspect_image(base).await {
        Ok(image) => image,
        Err(e) => {
            return Err(match engine.fail(e) {
                DockerError::NotFound(_) => DockerError::Denied(format!(
                    "the base image `{base}` is not on the engine, so the host cannot check it before the build: pull it first (policy rule `images`)"
                )),
                other => other,
            })
        }
    };
    let triggers = image.config.and_then(|c| c.on_build).unwrap_or_default();
    if let Some(first) = triggers.first() {
        return Err(DockerError::Denied(format!(
            "the base image `{base}` has ONBUILD triggers (`{first}`), which would run in this build unchecked: build from an image without them (policy rule `images`)"
        )));
    }
    Ok(())
}

/// The build context directory, resolved (`..` and symlinks followed) and checked
/// to lie below one of the team's build roots.
fn allowed_context(policy: &crate::policy::TeamPolicy, dir: &str) -> Result<PathBuf, DockerError> {
    let resolved = std::fs::canonicalize(dir)
        .map_err(|e| DockerError::NotFound(format!("build context `{dir}` cannot be read: {e}")))?;
    policy::check_build_context(policy, &resolved).map_err(guard::deny)?;
    Ok(resolved)
}

async fn image_id(state: &mut HostState, image: &str) -> Result<String, DockerError> {
    let engine = &state.run()?.engine;
    let found = engine
        .docker()
        .await?
        .inspect_image(image)
        .await
        .map_err(|e| engine.fail(e))?;
    Ok(found.id.unwrap_or_default())
}

fn to_map(kvs: &[KeyValue]) -> HashMap<String, String> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), kv.value.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{default_team, Limit};

    #[test]
    fn builds_get_the_teams_caps() {
        let mut team = default_team("blue", std::path::Path::new("/"));
        team.memory_bytes = Limit {
            default: 128 << 20,
            max: 512 << 20,
        };
        team.cpus = Limit {
            default: 0.5,
            max: 1.5,
        };
        let limits = build_limits(&team);
        assert_eq!(limits.memory, 512 << 20);
        assert_eq!((limits.cpu_period, limits.cpu_quota), (100_000, 150_000));
        // Above what the build API can carry: just under 2 GiB, never "no limit".
        team.memory_bytes.max = 8 << 30;
        assert_eq!(build_limits(&team).memory, i32::MAX);
    }

    #[test]
    fn the_owners_labels_come_last() {
        let owner = HashMap::from([
            ("dockwright.team".to_string(), "blue".to_string()),
            ("dockwright.run".to_string(), "r1".to_string()),
        ]);
        let changes = with_owner_labels(&["ENV A=1".to_string()], &owner);
        assert_eq!(
            changes,
            "ENV A=1\nLABEL dockwright.run=\"r1\" dockwright.team=\"blue\""
        );
    }
}
