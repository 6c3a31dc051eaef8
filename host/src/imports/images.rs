//! Images: list, pull, build (output streamed to the user), commit.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use dockwright_dockerfile::{Dockerfile, ImageUse};

use bollard::models::ContainerConfig;
use bollard::query_parameters::{
    BuildImageOptions, CommitContainerOptions, CreateImageOptions, ListImagesOptions,
};
use futures_util::StreamExt;

use super::admission;
use super::context::{self, Context};
use super::state::RunContext;
use super::{convert, guard, network};
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
    if let Some(plan) = run.mode.plan() {
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
    if let Some(mut plan) = run.mode.plan() {
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

/// Build an image. The host reads the context and the Dockerfile, pins every image
/// the file reads to the id it checked, and sends the engine the canonical
/// Dockerfile it wrote from them (see `dockwright_dockerfile`): what the builder
/// reads is what the host checked.
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
    guard::platform(run).await?;
    let name = spec.dockerfile.as_deref().unwrap_or("Dockerfile");
    let context = match &spec.context {
        BuildContext::Directory(dir) => {
            let dir = allowed_context(&run.policy, dir)?;
            let name = name.to_string();
            tokio::task::spawn_blocking(move || Context::from_directory(&dir, &name))
                .await
                .map_err(|e| {
                    DockerError::EngineError(format!("reading the context failed: {e}"))
                })??
        }
        BuildContext::Files(files) => Context::from_files(files, name)?,
    };
    let mut file = Dockerfile::parse(&context.dockerfile).map_err(unreadable)?;
    let mut pinned: HashMap<String, String> = HashMap::new();
    for image in file.images() {
        if let std::collections::hash_map::Entry::Vacant(slot) = pinned.entry(image.image.clone()) {
            slot.insert(pinned_id(run, &image).await?);
        }
    }
    file.pin(|image| pinned[image].clone());
    let canonical = file.canonical().map_err(unreadable)?;
    let labels = guard::owner_labels(run, &spec.labels)?;
    let limits = build_limits(&run.policy);
    let steps = steps_cgroup(run, &file).await?;
    // No network for build steps unless the team may have one; then its own.
    let networkmode = if run.policy.build_network {
        let team = admission::lock_run(run).await?;
        let id = network::team_network(run).await?;
        drop(team);
        id
    } else {
        "none".to_string()
    };
    if let Some(mut plan) = run.mode.plan() {
        plan.sends(canonical);
        return Ok(plan.image(&spec.tag));
    }
    let tar = context.pack(&canonical)?;
    let options = BuildImageOptions {
        dockerfile: context::CANONICAL_NAME.to_string(),
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
    let engine = &run.engine;
    let parent = steps.as_ref().map(|c| c.parent().to_string());
    let mut output = crate::engine::build::build(engine, options, parent.as_deref(), tar).await?;
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
    // The steps' containers are gone (rm, forcerm): their cgroup can go too.
    drop(steps);
    run.images.push(spec.tag.clone());
    match id {
        Some(id) => Ok(id),
        None => image_id(state, &spec.tag).await,
    }
}

/// A Dockerfile the host does not understand, or cannot write back unambiguously.
fn unreadable(e: dockwright_dockerfile::Error) -> DockerError {
    DockerError::Invalid(format!(
        "{e} (the host sends the engine only a Dockerfile it understands)"
    ))
}

/// The cgroup a build's steps run under, with the team's process limit. The build
/// API has no pids limit of its own: where the host cannot set one, a build that runs
/// commands is denied unless the team accepts the risk (`build_unbounded_pids`).
async fn steps_cgroup(
    run: &RunContext,
    file: &Dockerfile,
) -> Result<Option<crate::engine::cgroup::BuildCgroup>, DockerError> {
    static BUILDS: AtomicU64 = AtomicU64::new(0);
    if !file.runs_commands() {
        return Ok(None);
    }
    let name: String = format!(
        "{}-{}-{}",
        run.owner.run_id,
        std::process::id(),
        BUILDS.fetch_add(1, Ordering::Relaxed)
    )
    .to_ascii_lowercase()
    .chars()
    .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
    .collect();
    match crate::engine::cgroup::prepare_build_cgroup(&run.engine, &name, run.policy.pids.max).await
    {
        Ok(cgroup) => Ok(Some(cgroup)),
        Err(_) if run.policy.build_unbounded_pids => Ok(None),
        Err(why) => Err(guard::deny(policy::Denial {
            rule: "build_unbounded_pids",
            reason: format!("the build's RUN steps would have no process limit: {why}"),
        })),
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
    if let Some(mut plan) = run.mode.plan() {
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

/// The id of the image a Dockerfile line names, once the host has checked it: the
/// team may use it, the engine has it under that name (a name the engine would take
/// as an id prefix is refused), and, for a base, it has no `ONBUILD` triggers, which
/// would run in this build unchecked. The build then names the image by this id, so a
/// tag moved after the check changes nothing.
async fn pinned_id(run: &RunContext, image: &ImageUse) -> Result<String, DockerError> {
    let at = format!("Dockerfile line {}", image.line);
    let name = &image.image;
    policy::check_image(&run.policy, name).map_err(|d| {
        guard::deny(policy::Denial {
            rule: d.rule,
            reason: format!("{at}: {}", d.reason),
        })
    })?;
    if let Some(mut plan) = run.mode.plan() {
        if plan.is_simulated_image(name) {
            let what = format!("the image `{name}` (which a build reads by the id it checked)");
            return Err(plan.stop_here(super::plan::needs_real(&what)));
        }
    }
    let found = match by_name(run, name).await {
        Ok(Some(found)) => found,
        Ok(None) => {
            return Err(DockerError::Denied(format!(
                "{at}: the image `{name}` is not on the engine, so the host cannot check it before the build: pull it first (policy rule `images`)"
            )))
        }
        Err(DockerError::Denied(why)) => return Err(DockerError::Denied(format!("{at}: {why}"))),
        Err(e) => return Err(e),
    };
    if image.base {
        let triggers = found
            .config
            .as_ref()
            .and_then(|c| c.on_build.clone())
            .unwrap_or_default();
        if let Some(first) = triggers.first() {
            return Err(DockerError::Denied(format!(
                "{at}: the base image `{name}` has ONBUILD triggers (`{first}`), which would run in this build unchecked: build from an image without them (policy rule `images`)"
            )));
        }
    }
    found.id.ok_or_else(|| {
        DockerError::EngineError(format!("the engine gave no id for the image `{name}`"))
    })
}

/// The image `name` names on the engine, resolved as the engine resolves it: `None`
/// when the engine has no such image. The engine takes a name it has no tag for as
/// an id prefix, so a name the team's patterns allow could reach any image; such a
/// name, one that is no tag or digest of what it resolves to, is denied.
pub async fn by_name(
    run: &RunContext,
    name: &str,
) -> Result<Option<bollard::models::ImageInspect>, DockerError> {
    let engine = &run.engine;
    let found = match engine.docker().await?.inspect_image(name).await {
        Ok(found) => found,
        Err(e) => {
            return match engine.fail(e) {
                DockerError::NotFound(_) => Ok(None),
                other => Err(other),
            }
        }
    };
    let wanted = policy::normalise_image(name);
    let named = found
        .repo_tags
        .iter()
        .flatten()
        .chain(found.repo_digests.iter().flatten())
        .any(|r| policy::normalise_image(r) == wanted);
    if !named {
        return Err(DockerError::Denied(format!(
            "`{name}` is no tag or digest of an image on the engine, which would read it as an image id: name the image by repository and tag (policy rule `images`)"
        )));
    }
    Ok(Some(found))
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
    use crate::policy::team::{default_team, Limit};

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
