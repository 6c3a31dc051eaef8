//! Team policy: what a team's plugins may ask of the shared engine. Pure: every
//! decision is a function of (the team's policy, the request, the team's current
//! usage), so each rule is table-tested without an engine. A denial names the rule.
//!
//! The decisions fail closed: anything a rule does not explicitly allow is denied.

use std::collections::HashMap;
use std::ops::RangeInclusive;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use crate::bindings::docker::{ContainerSpec, Port, Protocol};
use crate::bindings::KeyValue;
use crate::labels;

/// A per-container resource: the value injected when a request sets none, and the
/// most a request may ask for.
#[derive(Debug, Clone, PartialEq)]
pub struct Limit<T> {
    pub default: T,
    pub max: T,
}

/// Limits on the plugin itself, not on the containers it makes.
#[derive(Debug, Clone, PartialEq)]
pub struct PluginLimits {
    /// Wall-clock time for a whole run.
    pub timeout: Duration,
    /// Linear memory the plugin instance may grow to.
    pub memory_bytes: u64,
    /// Bytes of output (stdout, stderr, log lines) a run may show.
    pub log_bytes: u64,
}

/// One team's policy, as `dockwright.toml` describes it (or the safe default).
#[derive(Debug, Clone, PartialEq)]
pub struct TeamPolicy {
    pub name: String,
    /// Images the team may create containers from or pull: glob patterns (`*`, `?`)
    /// on the normalised `repo:tag` (`web` is `web:latest`), or `repo@sha256:...`.
    /// A pattern without wildcards names one image and is normalised too.
    pub images: Vec<String>,
    /// Most containers the team may have, running or not.
    pub max_containers: u32,
    /// Most running containers the team may have.
    pub max_running: u32,
    pub memory_bytes: Limit<u64>,
    pub cpus: Limit<f64>,
    pub pids: Limit<u32>,
    /// Host ports the team's containers may publish on.
    pub host_ports: RangeInclusive<u16>,
    /// Directories (absolute, canonical) a build context may come from, with
    /// everything below them.
    pub build_roots: Vec<PathBuf>,
    /// Glob patterns on `repo:tag` the team may build or commit into, such as `blue/*`.
    pub tags: Vec<String>,
    /// Environment always set in the team's containers, over what a plugin asks.
    pub env: Vec<(String, String)>,
    /// Glob patterns on plugin names the team may run.
    pub plugins: Vec<String>,
    /// Whether `exec` may run as root.
    pub exec_as_root: bool,
    pub limits: PluginLimits,
}

/// What the team has on the engine now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub containers: u32,
    pub running: u32,
}

/// Why a request was refused: the rule (a key of the team's policy) and words for
/// the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial {
    pub rule: &'static str,
    pub reason: String,
}

impl std::fmt::Display for Denial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (policy rule `{}`)", self.reason, self.rule)
    }
}

pub type Decision = Result<(), Denial>;

/// The policy of a team when no config file exists: any image and tag, non-root
/// exec only, modest caps, builds from below the current directory.
pub fn default_team(name: &str, cwd: &Path) -> TeamPolicy {
    TeamPolicy {
        name: name.to_string(),
        images: vec!["*".into()],
        max_containers: 50,
        max_running: 20,
        memory_bytes: Limit {
            default: 256 << 20,
            max: 2 << 30,
        },
        cpus: Limit {
            default: 1.0,
            max: 2.0,
        },
        pids: Limit {
            default: 256,
            max: 1024,
        },
        host_ports: 1024..=65535,
        build_roots: vec![cwd.to_path_buf()],
        tags: vec!["*".into()],
        env: Vec::new(),
        plugins: vec!["*".into()],
        exec_as_root: false,
        limits: PluginLimits {
            timeout: Duration::from_secs(600),
            memory_bytes: 256 << 20,
            log_bytes: 1 << 20,
        },
    }
}

/// `1g`, `256m`, `512k` or `100 bytes`: a size in the units `dockwright.toml` uses.
pub fn format_size(bytes: u64) -> String {
    for (shift, unit) in [(40, "t"), (30, "g"), (20, "m"), (10, "k")] {
        if bytes >= 1 << shift && bytes.is_multiple_of(1 << shift) {
            return format!("{}{unit}", bytes >> shift);
        }
    }
    format!("{bytes} bytes")
}

/// Whether `text` matches `pattern` as a whole, where `*` matches any run of
/// characters (`/` included, so `blue/*` covers `blue/a/b:1`) and `?` any one.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    // The last `*` seen and the text position it is currently assumed to end at:
    // on a mismatch, that star swallows one more character and matching resumes.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(&c) if c == '?' || c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    star = Some((sp, st + 1));
                    pi = sp + 1;
                    ti = st + 1;
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

/// An image reference in the one form policy patterns are written against: Docker
/// Hub's `docker.io/` and `library/` dropped, and `:latest` added when there is no tag
/// (that is what the engine pulls and runs). Digest references keep their digest and
/// get no tag.
pub fn normalise_image(reference: &str) -> String {
    let (name, digest) = match reference.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (reference, None),
    };
    let mut name = ["docker.io/", "index.docker.io/", "registry-1.docker.io/"]
        .iter()
        .find_map(|hub| name.strip_prefix(hub))
        .unwrap_or(name);
    // `library/web` is Docker Hub's official `web`, but `library/a/b` is not official.
    if let Some(official) = name.strip_prefix("library/") {
        if !official.contains('/') {
            name = official;
        }
    }
    if let Some(digest) = digest {
        return format!("{name}@{digest}");
    }
    // A colon before the last `/` is a registry port (`registry:5000/a`), not a tag.
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

/// Whether a normalised reference matches one of `patterns`. A pattern with no
/// wildcard names one image and is normalised the same way, so `busybox` in a config
/// means `busybox:latest`, as it does to `docker run`, rather than matching nothing.
fn reference_allowed(patterns: &[String], normalised: &str) -> bool {
    patterns.iter().any(|pattern| {
        if pattern.contains(['*', '?']) {
            glob_match(pattern, normalised)
        } else {
            normalise_image(pattern) == normalised
        }
    })
}

/// `` `a`, `b` `` for a reason.
fn quoted(items: &[String]) -> String {
    items
        .iter()
        .map(|i| format!("`{i}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The denial for a name not in an allow-list, worded for `what` (such as "image").
fn not_listed(
    p: &TeamPolicy,
    rule: &'static str,
    what: &str,
    asked: &str,
    list: &[String],
) -> Denial {
    let reason = if list.is_empty() {
        format!(
            "{what} `{asked}` is not allowed: team `{}` may use no {what} at all (its `{rule}` list is empty); ask an admin to add one to `{rule}` in dockwright.toml",
            p.name
        )
    } else {
        format!(
            "{what} `{asked}` is not allowed for team `{}`, which may use {}; use one of those, or ask an admin to add it to `{rule}` in dockwright.toml",
            p.name,
            quoted(list)
        )
    };
    Denial { rule, reason }
}

/// Whether the team may create containers from, or pull, `image`.
pub fn check_image(p: &TeamPolicy, image: &str) -> Decision {
    if image.trim().is_empty() {
        return Err(Denial {
            rule: "images",
            reason: "the image reference is empty; name an image such as `dockwright/web:latest`"
                .into(),
        });
    }
    let normalised = normalise_image(image);
    if reference_allowed(&p.images, &normalised) {
        Ok(())
    } else {
        Err(not_listed(p, "images", "image", &normalised, &p.images))
    }
}

/// Whether the team may run the plugin named `plugin`.
pub fn check_plugin(p: &TeamPolicy, plugin: &str) -> Decision {
    if !plugin.is_empty() && p.plugins.iter().any(|pat| glob_match(pat, plugin)) {
        Ok(())
    } else {
        Err(not_listed(p, "plugins", "plugin", plugin, &p.plugins))
    }
}

/// Whether the team may build or commit an image as `tag` (`repo` or `repo:tag`).
pub fn check_tag(p: &TeamPolicy, tag: &str) -> Decision {
    let normalised = normalise_image(tag);
    if tag.trim().is_empty() || normalised.contains('@') {
        return Err(Denial {
            rule: "tags",
            reason: format!(
                "`{tag}` is not a tag to build or commit into; name one such as `repo:1`{}",
                allowed_hint(&p.tags)
            ),
        });
    }
    if reference_allowed(&p.tags, &normalised) {
        Ok(())
    } else {
        Err(not_listed(p, "tags", "tag", &normalised, &p.tags))
    }
}

/// ` matching `a`, `b`` when there is a list to point at.
fn allowed_hint(list: &[String]) -> String {
    if list.is_empty() {
        String::new()
    } else {
        format!(" matching {}", quoted(list))
    }
}

/// Whether the engine's own choice of a host port ("any free port", which it takes
/// from the kernel's ephemeral range 32768-60999) could fall outside the team's
/// range. When it could, the host must pick ports itself before creating.
pub fn ports_need_picking(p: &TeamPolicy) -> bool {
    !(p.host_ports.contains(&EPHEMERAL_FIRST) && p.host_ports.contains(&EPHEMERAL_LAST))
}

/// Linux's default `net.ipv4.ip_local_port_range`, where the engine finds free ports.
const EPHEMERAL_FIRST: u16 = 32768;
const EPHEMERAL_LAST: u16 = 60999;

fn port_range(p: &TeamPolicy) -> String {
    format!("{}-{}", p.host_ports.start(), p.host_ports.end())
}

fn port_name(port: &Port) -> String {
    let proto = match port.protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
        Protocol::Sctp => "sctp",
    };
    format!("{}/{proto}", port.port)
}

/// Whether the team may create the container `spec` describes, given what it has.
/// When it may, `spec` is completed: the team's default memory, cpus and pids where
/// it set none, and the team's env over any the plugin set under the same names.
/// A denied `spec` is left as it was.
pub fn check_create(p: &TeamPolicy, spec: &mut ContainerSpec, usage: &Usage) -> Decision {
    check_image(p, &spec.image)?;
    if usage.containers >= p.max_containers {
        return Err(Denial {
            rule: "max_containers",
            reason: format!(
                "team `{}` already has {} containers and may have at most {}; remove one (such as with a teardown workflow) before creating another, or ask an admin to raise `max_containers`",
                p.name, usage.containers, p.max_containers
            ),
        });
    }
    check_memory(p, spec.memory_bytes)?;
    check_cpus(p, spec.cpus)?;
    check_pids(p, spec.pids_limit)?;
    check_env(&spec.env)?;
    check_ports(p, spec)?;

    spec.memory_bytes.get_or_insert(p.memory_bytes.default);
    spec.cpus.get_or_insert(p.cpus.default);
    spec.pids_limit.get_or_insert(p.pids.default);
    // The team's values win: drop the plugin's entries of the same name rather than
    // appending a second one, since which duplicate a process sees is up to its libc.
    spec.env
        .retain(|kv| !p.env.iter().any(|(key, _)| *key == kv.key));
    spec.env.extend(p.env.iter().map(|(key, value)| KeyValue {
        key: key.clone(),
        value: value.clone(),
    }));
    Ok(())
}

// The engine reads 0 as "no limit" for memory, cpus and pids, so 0 is refused
// rather than passed through as a request below the max.

fn check_memory(p: &TeamPolicy, asked: Option<u64>) -> Decision {
    let Limit { default, max } = p.memory_bytes;
    match asked {
        Some(bytes) if bytes == 0 || bytes > max => Err(Denial {
            rule: "memory",
            reason: format!(
                "the container asks for {} of memory, {}; ask for at most {}, or leave memory unset to get team `{}`'s default of {}",
                if bytes == 0 { "0 bytes".to_string() } else { format_size(bytes) },
                if bytes == 0 { "which the engine reads as no limit".to_string() } else { format!("more than the {} team `{}` may give a container", format_size(max), p.name) },
                format_size(max),
                p.name,
                format_size(default)
            ),
        }),
        _ => Ok(()),
    }
}

fn check_cpus(p: &TeamPolicy, asked: Option<f64>) -> Decision {
    let Limit { default, max } = p.cpus;
    match asked {
        // Written so that NaN, which compares false with everything, is refused.
        Some(cpus) if !(cpus > 0.0 && cpus <= max) => Err(Denial {
            rule: "cpus",
            reason: format!(
                "the container asks for {cpus} cpus, {}; ask for more than 0 and at most {max}, or leave cpus unset to get team `{}`'s default of {default}",
                if cpus > max { format!("more than the {max} team `{}` may give a container", p.name) } else { "which is not a limit the team may set".to_string() },
                p.name
            ),
        }),
        _ => Ok(()),
    }
}

fn check_pids(p: &TeamPolicy, asked: Option<u32>) -> Decision {
    let Limit { default, max } = p.pids;
    match asked {
        Some(pids) if pids == 0 || pids > max => Err(Denial {
            rule: "pids",
            reason: format!(
                "the container asks for a limit of {pids} processes, {}; ask for at most {max}, or leave pids unset to get team `{}`'s default of {default}",
                if pids == 0 { "which the engine reads as no limit".to_string() } else { format!("more than the {max} team `{}` may give a container", p.name) },
                p.name
            ),
        }),
        _ => Ok(()),
    }
}

/// A name with `=` would reach the engine as `NAME=...=value` and could shadow one
/// the team sets, so only plain names pass.
fn check_env(env: &[KeyValue]) -> Decision {
    match env.iter().find(|kv| kv.key.is_empty() || kv.key.contains(['=', '\0'])) {
        Some(kv) => Err(Denial {
            rule: "env",
            reason: format!(
                "environment variable name `{}` is not valid; use a non-empty name without `=`, such as `APP_MODE`",
                kv.key
            ),
        }),
        None => Ok(()),
    }
}

fn check_ports(p: &TeamPolicy, spec: &ContainerSpec) -> Decision {
    let range = port_range(p);
    let engine_picks = |asked: String| {
        Denial {
        rule: "host_ports",
        reason: format!(
            "{asked} lets the engine pick the host port from {EPHEMERAL_FIRST}-{EPHEMERAL_LAST}, which team `{}`'s host ports {range} do not cover; the host must pick the port from the range before creating the container, so this is a dockwright bug: please report it, and meanwhile give an explicit host port in {range}",
            p.name
        ),
    }
    };
    if spec.publish_all && ports_need_picking(p) {
        return Err(engine_picks("publishing every exposed port".into()));
    }
    for binding in &spec.port_bindings {
        let container = port_name(&binding.container_port);
        match binding.host_port {
            // 0 is the engine's own "any port": the same as leaving it unset.
            None | Some(0) if ports_need_picking(p) => {
                return Err(engine_picks(format!("publishing {container} on any host port")))
            }
            Some(host) if host != 0 && !p.host_ports.contains(&host) => {
                return Err(Denial {
                    rule: "host_ports",
                    reason: format!(
                        "the container asks to publish {container} on host port {host}, outside team `{}`'s host ports {range}; use a port in {range}, or leave the host port unset to get a free one",
                        p.name
                    ),
                })
            }
            _ => {}
        }
    }
    Ok(())
}

/// Whether the team may start one more container, given how many already run.
pub fn check_start(p: &TeamPolicy, usage: &Usage) -> Decision {
    if usage.running < p.max_running {
        return Ok(());
    }
    Err(Denial {
        rule: "max_running",
        reason: format!(
            "team `{}` already runs {} containers and may run at most {} at once; stop one before starting another, or ask an admin to raise `max_running`",
            p.name, usage.running, p.max_running
        ),
    })
}

/// Whether a build context may come from `resolved`, which the caller has made
/// canonical (`..` and symlinks resolved), so comparing components is enough.
pub fn check_build_context(p: &TeamPolicy, resolved: &Path) -> Decision {
    let roots = || {
        if p.build_roots.is_empty() {
            "it has no build roots".to_string()
        } else {
            format!(
                "its build roots are {}",
                p.build_roots
                    .iter()
                    .map(|r| format!("`{}`", r.display()))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    };
    // A relative path or a `..` means the caller did not canonicalize: refuse rather
    // than guess what it resolves to.
    let canonical = resolved.is_absolute()
        && !resolved
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir));
    if !canonical {
        return Err(Denial {
            rule: "build_roots",
            reason: format!(
                "build context `{}` is not an absolute, resolved path, so it cannot be checked against team `{}`'s build roots ({}); give the context's full path",
                resolved.display(),
                p.name,
                roots()
            ),
        });
    }
    // `Path::starts_with` compares whole components: `/srv/blue2` is not below `/srv/blue`.
    if p.build_roots
        .iter()
        .any(|root| root.is_absolute() && resolved.starts_with(root))
    {
        return Ok(());
    }
    Err(Denial {
        rule: "build_roots",
        reason: format!(
            "build context `{}` is outside what team `{}` may build from ({}); move the context below one of them, or ask an admin to add its folder to `build_roots`",
            resolved.display(),
            p.name,
            roots()
        ),
    })
}

/// Whether the team may exec as the user it asks for (`requested`), or when it asks
/// for none, as the container's default user. An empty user is root to the engine.
pub fn check_exec_user(
    p: &TeamPolicy,
    requested: Option<&str>,
    container_default_user: &str,
) -> Decision {
    let user = requested.unwrap_or(container_default_user);
    if p.exec_as_root || !is_root(user) {
        return Ok(());
    }
    let asked = match requested {
        Some(user) => format!("exec as user `{user}`"),
        None if container_default_user.is_empty() => {
            "exec with no user (so as the container's default, which is root because its image sets no user)".into()
        }
        None => format!("exec with no user (so as the container's default user `{container_default_user}`)"),
    };
    Err(Denial {
        rule: "exec_as_root",
        reason: format!(
            "{asked} would run as root, which team `{}` may not do; pass a non-root user such as `nobody` or `1000:1000`, or ask an admin to set `exec_as_root = true`",
            p.name
        ),
    })
}

/// Whether the engine would run as root for `user` (`name`, `uid`, `name:group` or
/// `uid:gid`). Numeric users count as root when they parse as 0 (`00`, `+0`), as
/// the runtime's number parsing would read them.
fn is_root(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or("").trim();
    if name.is_empty() || name == "root" {
        return true;
    }
    let digits = name.strip_prefix(['+', '-']).unwrap_or(name);
    !digits.is_empty() && digits.bytes().all(|b| b == b'0')
}

/// Whether an object with these labels belongs to `team`. An empty team owns nothing.
pub fn owned_by(team: &str, labels: &HashMap<String, String>) -> bool {
    !team.is_empty() && labels.get(labels::TEAM).is_some_and(|t| t == team)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::docker::PortBinding;

    fn team() -> TeamPolicy {
        TeamPolicy {
            images: vec!["dockwright/*".into(), "blue/*".into(), "busybox".into()],
            max_containers: 3,
            max_running: 2,
            memory_bytes: Limit {
                default: 256 << 20,
                max: 1 << 30,
            },
            cpus: Limit {
                default: 0.5,
                max: 2.0,
            },
            pids: Limit {
                default: 128,
                max: 512,
            },
            host_ports: 30000..=30999,
            build_roots: vec!["/srv/blue".into(), "/srv/shared/ctx".into()],
            tags: vec!["blue/*".into()],
            env: vec![("TEAM".into(), "blue".into())],
            plugins: vec!["team-*".into(), "inventory".into()],
            ..default_team("blue", Path::new("/work"))
        }
    }

    fn spec() -> ContainerSpec {
        crate::imports::convert::image_only("dockwright/web")
    }

    fn bind(container: u16, host: Option<u16>) -> PortBinding {
        PortBinding {
            container_port: Port {
                port: container,
                protocol: Protocol::Tcp,
            },
            host_port: host,
            host_ip: None,
        }
    }

    fn kv(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: value.into(),
        }
    }

    /// Checks a decision against the expected outcome: `None` for allowed, or the rule
    /// a denial must name. Denials must also say something.
    fn expect(decision: Decision, want: Option<&str>, case: &str) {
        match (decision, want) {
            (Ok(()), None) => {}
            (Err(denial), Some(rule)) => {
                assert_eq!(denial.rule, rule, "{case}: {denial}");
                assert!(denial.reason.len() > 20, "{case}: {denial}");
            }
            (got, want) => panic!("{case}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn globs() {
        let cases = [
            ("*", "", true),
            ("*", "anything/at:all", true),
            ("", "", true),
            ("", "a", false),
            ("abc", "abc", true),
            ("abc", "abcd", false),
            ("abc", "ab", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("blue/*", "blue/web:1", true),
            ("blue/*", "blue/a/b:1", true),
            ("blue/*", "bluer/web:1", false),
            ("blue/*", "x/blue/web:1", false),
            ("*:latest", "web:latest", true),
            ("*:latest", "web:1", false),
            ("*web*", "my-web-app:1", true),
            ("a*b*c", "aXbYbZc", true),
            ("a*b*c", "aXbYcZ", false),
            ("**", "x", true),
            ("*?", "", false),
            ("t?am-*", "team-env", true),
            ("é*", "éa", true),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(glob_match(pattern, text), want, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn image_references_normalise() {
        let cases = [
            ("web", "web:latest"),
            ("web:1", "web:1"),
            ("docker.io/library/web:1", "web:1"),
            ("docker.io/library/web", "web:latest"),
            ("library/web", "web:latest"),
            ("docker.io/web", "web:latest"),
            ("index.docker.io/team/web", "team/web:latest"),
            ("docker.io/team/web", "team/web:latest"),
            ("docker.io/library/a/b", "library/a/b:latest"),
            ("registry:5000/a/b", "registry:5000/a/b:latest"),
            ("registry:5000/a/b:2", "registry:5000/a/b:2"),
            ("localhost/web", "localhost/web:latest"),
            ("web@sha256:abcd", "web@sha256:abcd"),
            ("docker.io/library/web@sha256:abcd", "web@sha256:abcd"),
            ("web:1@sha256:abcd", "web:1@sha256:abcd"),
            ("registry:5000/web@sha256:ab", "registry:5000/web@sha256:ab"),
        ];
        for (reference, want) in cases {
            assert_eq!(normalise_image(reference), want, "{reference}");
        }
    }

    #[test]
    fn images() {
        let p = team();
        let cases = [
            ("dockwright/web", None),
            ("dockwright/web:1", None),
            ("docker.io/dockwright/web:1", None),
            ("blue/app@sha256:abc", None),
            // A literal pattern is one image: `busybox` is `busybox:latest`.
            ("busybox", None),
            ("docker.io/library/busybox:latest", None),
            ("busybox:1.36", Some("images")),
            ("green/app:1", Some("images")),
            ("evil.io/dockwright/web", Some("images")),
            ("dockwrightx/web", Some("images")),
            ("", Some("images")),
            (" ", Some("images")),
        ];
        for (image, want) in cases {
            expect(check_image(&p, image), want, image);
        }
        let denial = check_image(&p, "green/app").unwrap_err();
        assert!(denial.reason.contains("`green/app:latest`"), "{denial}");
        assert!(denial.reason.contains("`dockwright/*`"), "{denial}");
        let none = TeamPolicy {
            images: vec![],
            ..team()
        };
        expect(
            check_image(&none, "dockwright/web"),
            Some("images"),
            "empty list",
        );
    }

    #[test]
    fn plugins() {
        let p = team();
        let cases = [
            ("team-env", None),
            ("inventory", None),
            ("inventory2", Some("plugins")),
            ("figlet", Some("plugins")),
            ("", Some("plugins")),
        ];
        for (plugin, want) in cases {
            expect(check_plugin(&p, plugin), want, plugin);
        }
        let any = TeamPolicy {
            plugins: vec!["*".into()],
            ..team()
        };
        expect(check_plugin(&any, ""), Some("plugins"), "empty name");
    }

    #[test]
    fn tags() {
        let p = team();
        let cases = [
            ("blue/site", None),
            ("blue/site:1", None),
            ("docker.io/blue/site:1", None),
            ("green/site:1", Some("tags")),
            ("site:1", Some("tags")),
            ("blue/site@sha256:abc", Some("tags")),
            ("", Some("tags")),
        ];
        for (tag, want) in cases {
            expect(check_tag(&p, tag), want, tag);
        }
    }

    #[test]
    fn create() {
        let p = team();
        let ok = Usage::default();
        type Case = (
            &'static str,
            fn(&mut ContainerSpec),
            Usage,
            Option<&'static str>,
        );
        let cases: Vec<Case> = vec![
            ("plain", |_| {}, ok, None),
            (
                "bad image",
                |s| s.image = "green/app".into(),
                ok,
                Some("images"),
            ),
            (
                "one below the cap",
                |_| {},
                Usage {
                    containers: 2,
                    running: 2,
                },
                None,
            ),
            (
                "at the cap",
                |_| {},
                Usage {
                    containers: 3,
                    running: 0,
                },
                Some("max_containers"),
            ),
            (
                "over the cap",
                |_| {},
                Usage {
                    containers: 9,
                    running: 0,
                },
                Some("max_containers"),
            ),
            (
                "memory at max",
                |s| s.memory_bytes = Some(1 << 30),
                ok,
                None,
            ),
            (
                "memory over max",
                |s| s.memory_bytes = Some((1 << 30) + 1),
                ok,
                Some("memory"),
            ),
            (
                "memory zero",
                |s| s.memory_bytes = Some(0),
                ok,
                Some("memory"),
            ),
            ("cpus at max", |s| s.cpus = Some(2.0), ok, None),
            ("cpus over max", |s| s.cpus = Some(2.5), ok, Some("cpus")),
            ("cpus zero", |s| s.cpus = Some(0.0), ok, Some("cpus")),
            ("cpus negative", |s| s.cpus = Some(-1.0), ok, Some("cpus")),
            ("cpus NaN", |s| s.cpus = Some(f64::NAN), ok, Some("cpus")),
            (
                "cpus infinite",
                |s| s.cpus = Some(f64::INFINITY),
                ok,
                Some("cpus"),
            ),
            ("pids at max", |s| s.pids_limit = Some(512), ok, None),
            (
                "pids over max",
                |s| s.pids_limit = Some(513),
                ok,
                Some("pids"),
            ),
            ("pids zero", |s| s.pids_limit = Some(0), ok, Some("pids")),
            (
                "env with =",
                |s| s.env = vec![kv("TEAM=red", "x")],
                ok,
                Some("env"),
            ),
            (
                "env empty name",
                |s| s.env = vec![kv("", "x")],
                ok,
                Some("env"),
            ),
            (
                "port in range",
                |s| s.port_bindings = vec![bind(80, Some(30000))],
                ok,
                None,
            ),
            (
                "port at top",
                |s| s.port_bindings = vec![bind(80, Some(30999))],
                ok,
                None,
            ),
            (
                "port below",
                |s| s.port_bindings = vec![bind(80, Some(29999))],
                ok,
                Some("host_ports"),
            ),
            (
                "port above",
                |s| s.port_bindings = vec![bind(80, Some(31000))],
                ok,
                Some("host_ports"),
            ),
            (
                "privileged port",
                |s| s.port_bindings = vec![bind(80, Some(80))],
                ok,
                Some("host_ports"),
            ),
            (
                "one bad port of two",
                |s| s.port_bindings = vec![bind(80, Some(30001)), bind(81, Some(8080))],
                ok,
                Some("host_ports"),
            ),
            (
                "any port, range too narrow",
                |s| s.port_bindings = vec![bind(80, None)],
                ok,
                Some("host_ports"),
            ),
            (
                "port 0, range too narrow",
                |s| s.port_bindings = vec![bind(80, Some(0))],
                ok,
                Some("host_ports"),
            ),
            (
                "publish all, range too narrow",
                |s| s.publish_all = true,
                ok,
                Some("host_ports"),
            ),
        ];
        for (case, edit, usage, want) in cases {
            let mut s = spec();
            edit(&mut s);
            // The generated type has no PartialEq; its Debug shows every field.
            let before = format!("{s:?}");
            let decision = check_create(&p, &mut s, &usage);
            if decision.is_err() {
                assert_eq!(
                    format!("{s:?}"),
                    before,
                    "{case}: a denied spec is left as it was"
                );
            }
            expect(decision, want, case);
        }
    }

    #[test]
    fn create_with_a_range_the_engine_can_pick_from() {
        let wide = TeamPolicy {
            host_ports: 1024..=65535,
            ..team()
        };
        type Case = (&'static str, fn(&mut ContainerSpec), Option<&'static str>);
        let cases: Vec<Case> = vec![
            ("any port", |s| s.port_bindings = vec![bind(80, None)], None),
            (
                "port 0",
                |s| s.port_bindings = vec![bind(80, Some(0))],
                None,
            ),
            ("publish all", |s| s.publish_all = true, None),
            (
                "explicit outside",
                |s| s.port_bindings = vec![bind(80, Some(80))],
                Some("host_ports"),
            ),
        ];
        for (case, edit, want) in cases {
            let mut s = spec();
            edit(&mut s);
            expect(check_create(&wide, &mut s, &Usage::default()), want, case);
        }
    }

    #[test]
    fn create_fills_in_defaults_and_team_env() {
        let p = team();
        let mut s = spec();
        s.env = vec![kv("TEAM", "red"), kv("APP", "web"), kv("TEAM", "green")];
        check_create(&p, &mut s, &Usage::default()).unwrap();
        assert_eq!(s.memory_bytes, Some(256 << 20));
        assert_eq!(s.cpus, Some(0.5));
        assert_eq!(s.pids_limit, Some(128));
        // The plugin's TEAM entries are gone, the team's is there once.
        let env: Vec<(&str, &str)> = s.env.iter().map(|kv| (&*kv.key, &*kv.value)).collect();
        assert_eq!(env, vec![("APP", "web"), ("TEAM", "blue")]);

        // What the plugin asks for within the limits is kept.
        let mut s = spec();
        s.memory_bytes = Some(64 << 20);
        s.cpus = Some(1.5);
        s.pids_limit = Some(50);
        check_create(&p, &mut s, &Usage::default()).unwrap();
        assert_eq!(
            (s.memory_bytes, s.cpus, s.pids_limit),
            (Some(64 << 20), Some(1.5), Some(50))
        );
    }

    #[test]
    fn denials_say_what_was_asked_and_allowed() {
        let p = team();
        let mut s = spec();
        s.memory_bytes = Some(2 << 30);
        let denial = check_create(&p, &mut s, &Usage::default()).unwrap_err();
        assert!(denial.reason.contains("2g"), "{denial}");
        assert!(denial.reason.contains("at most 1g"), "{denial}");
        assert!(
            denial.to_string().ends_with("(policy rule `memory`)"),
            "{denial}"
        );

        let mut s = spec();
        s.port_bindings = vec![bind(80, Some(8080))];
        let denial = check_create(&p, &mut s, &Usage::default()).unwrap_err();
        assert!(denial.reason.contains("80/tcp"), "{denial}");
        assert!(denial.reason.contains("8080"), "{denial}");
        assert!(denial.reason.contains("30000-30999"), "{denial}");

        let mut s = spec();
        s.port_bindings = vec![bind(80, None)];
        let denial = check_create(&p, &mut s, &Usage::default()).unwrap_err();
        assert!(denial.reason.contains("the host must pick"), "{denial}");
    }

    #[test]
    fn ports_need_picking_unless_the_range_covers_the_ephemeral_range() {
        let cases = [
            (1024..=65535, false),
            (32768..=60999, false),
            (1..=65535, false),
            (32769..=60999, true),
            (32768..=60998, true),
            (30000..=30999, true),
            (8080..=8080, true),
            #[allow(clippy::reversed_empty_ranges)]
            (60999..=32768, true),
        ];
        for (range, want) in cases {
            let p = TeamPolicy {
                host_ports: range.clone(),
                ..team()
            };
            assert_eq!(ports_need_picking(&p), want, "{range:?}");
        }
    }

    #[test]
    fn start() {
        let p = team();
        let cases = [
            (0, None),
            (1, None),
            (2, Some("max_running")),
            (5, Some("max_running")),
        ];
        for (running, want) in cases {
            let usage = Usage {
                containers: 3,
                running,
            };
            expect(check_start(&p, &usage), want, &format!("{running} running"));
        }
        let none = TeamPolicy {
            max_running: 0,
            ..team()
        };
        expect(
            check_start(&none, &Usage::default()),
            Some("max_running"),
            "max 0",
        );
    }

    #[test]
    fn build_contexts() {
        let p = team();
        let cases = [
            ("/srv/blue", None),
            ("/srv/blue/", None),
            ("/srv/blue/site", None),
            ("/srv/blue/a/b/c", None),
            ("/srv/shared/ctx/x", None),
            ("/srv/blue2", Some("build_roots")),
            ("/srv/blue2/site", Some("build_roots")),
            ("/srv", Some("build_roots")),
            ("/srv/shared", Some("build_roots")),
            ("/etc", Some("build_roots")),
            ("/", Some("build_roots")),
            ("srv/blue/site", Some("build_roots")),
            ("site", Some("build_roots")),
            ("", Some("build_roots")),
            // Not canonical: the caller must resolve `..` first.
            ("/srv/blue/../red", Some("build_roots")),
        ];
        for (path, want) in cases {
            expect(check_build_context(&p, Path::new(path)), want, path);
        }
        let none = TeamPolicy {
            build_roots: vec![],
            ..team()
        };
        expect(
            check_build_context(&none, Path::new("/srv/blue")),
            Some("build_roots"),
            "no roots",
        );
        // A relative root never matches: it cannot be compared with a canonical path.
        let relative = TeamPolicy {
            build_roots: vec!["srv".into()],
            ..team()
        };
        expect(
            check_build_context(&relative, Path::new("/srv")),
            Some("build_roots"),
            "relative root",
        );
    }

    #[test]
    fn exec_users() {
        let p = team();
        let root_ok = TeamPolicy {
            exec_as_root: true,
            ..team()
        };
        // (requested, the container's default user, denied when root is not allowed)
        let cases = [
            (None, "", true),
            (None, "root", true),
            (None, "0", true),
            (None, "0:0", true),
            (None, "root:wheel", true),
            (None, "app", false),
            (None, "1000", false),
            (None, "1000:0", false),
            (Some("root"), "app", true),
            (Some("0"), "app", true),
            (Some("00"), "app", true),
            (Some("+0"), "app", true),
            (Some("0:1000"), "app", true),
            (Some("root:app"), "app", true),
            (Some(""), "app", true),
            (Some(" root"), "app", true),
            (Some("app"), "root", false),
            (Some("1000:1000"), "", false),
            (Some("nobody"), "", false),
            (Some("10"), "", false),
            (Some("rooty"), "", false),
        ];
        for (requested, default, denied) in cases {
            let case = format!("{requested:?} / {default:?}");
            let want = denied.then_some("exec_as_root");
            expect(check_exec_user(&p, requested, default), want, &case);
            expect(check_exec_user(&root_ok, requested, default), None, &case);
        }
    }

    #[test]
    fn ownership() {
        let labels = |team: Option<&str>| -> HashMap<String, String> {
            let mut l = HashMap::from([("app".to_string(), "web".to_string())]);
            if let Some(team) = team {
                l.insert(labels::TEAM.to_string(), team.to_string());
            }
            l
        };
        let cases = [
            ("blue", Some("blue"), true),
            ("blue", Some("green"), false),
            ("blue", Some("blue2"), false),
            ("blue", None, false),
            ("", Some(""), false),
            ("", None, false),
        ];
        for (team, label, want) in cases {
            assert_eq!(owned_by(team, &labels(label)), want, "{team} {label:?}");
        }
    }

    #[test]
    fn sizes_format_in_config_units() {
        let cases = [
            (1 << 30, "1g"),
            (2 << 30, "2g"),
            (256 << 20, "256m"),
            (1536 << 20, "1536m"),
            (512 << 10, "512k"),
            (1 << 40, "1t"),
            (1000, "1000 bytes"),
            (0, "0 bytes"),
        ];
        for (bytes, want) in cases {
            assert_eq!(format_size(bytes), want);
        }
    }
}
