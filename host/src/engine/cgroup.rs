//! A cgroup with a pids limit for one build's `RUN` steps.
//!
//! The legacy builder (what the API 1.41 `/build` call uses) has no pids limit
//! parameter, so one `RUN` step with a fork bomb could fill the shared host's process
//! table. Its query does take `cgroupparent`: every step container's cgroup is made
//! below that parent, and a cgroup's `pids.max` holds for its whole subtree. So before
//! a build the host makes `dockwright-builds/<leaf>` with `pids.max` set, passes
//! `/dockwright-builds/<leaf>` as `cgroupparent`, and removes the folder afterwards.
//!
//! Seen on this project's machine (dockerd 20.10.24, runc 1.1.5, containerd 1.6.20,
//! `cgroupfs` driver, cgroup v1 with the pids controller at `/sys/fs/cgroup/pids`):
//! with `mkdir /sys/fs/cgroup/pids/dockwright-builds/test`, `echo 40 > .../pids.max`,
//! `docker build --cgroup-parent /dockwright-builds/test` (and the same through
//! `POST /v1.41/build?rm=1&forcerm=1&cgroupparent=%2Fdockwright-builds%2Ftest`), a
//! `RUN` step that starts 200 `sleep 20 &` got 38 started before `can't fork:
//! Resource temporarily unavailable` (38 + its two shells = 40); the same build
//! without `--cgroup-parent` started all 200. During the step, `pids.current` of
//! `dockwright-builds/test` read 40 and the step container's cgroup was
//! `dockwright-builds/test/<container id>`, whose own `pids.max` is `max`: the parent's
//! limit is what holds. So the working form is an absolute path from the hierarchy's
//! root, `/dockwright-builds/<leaf>`. runc also makes `dockwright-builds/<leaf>` in every
//! other v1 hierarchy (cpu, memory, name=systemd, the unified one...) and leaves it
//! there after the step container is removed; [`BuildCgroup`]'s drop removes those
//! too.
//!
//! Where runc puts an absolute cgroup parent (runc `libcontainer/cgroups`):
//! - v1 (`fs/paths.go`): `<root>/<basename of the controller's mount>/<parent>/<id>`,
//!   where `<root>` is `/sys/fs/cgroup` when that is a tmpfs holding cgroup mounts, else
//!   the folder of the first v1 cgroup mount in mountinfo. Here: the pids mount found
//!   in mountinfo, provided every v1 mount sits in one folder, so both agree.
//! - v2 (`fs2/defaultpath.go`): `/sys/fs/cgroup/<parent>/<id>`, a fixed mount point
//!   (`UnifiedMountpoint`). Here: the cgroup2 mount must be at that very path. runc
//!   enables the controllers it needs in each level's `cgroup.subtree_control` on its
//!   way down; the host enables `+pids` on the levels above its own folder, without
//!   which its `pids.max` file does not exist.
//!
//! This is a security control: whatever cannot be checked is a refusal, with the
//! reason and the team setting (`build_unbounded_pids = true`) that accepts the risk.
//! The paths this process writes are proved to be the ones dockerd uses: the engine
//! is reached over a unix socket, the process at the other end of that socket is a
//! `dockerd` binary (a proxy in between would prove nothing), and it shares this
//! process's mount and cgroup namespaces, so a path here names the same cgroup there.
//! What is assumed, not proved: that containerd and runc, which dockerd starts or is
//! configured to use, see the same mounts as dockerd (true when dockerd starts
//! containerd itself, as it does here, and for the packaged services).
//!
//! Refused, though it may be sound, because it cannot be checked this way: a
//! socket-activated dockerd (`-H fd://`), whose socket's peer is systemd; the systemd
//! cgroup driver (the default on cgroup v2 hosts with systemd), whose parent must be
//! a `.slice` made through systemd; a host not running as root, which can neither
//! read dockerd's `/proc` entries nor make cgroups.
//!
//! Each folder's name carries its owner's pid and start time, so that a later
//! prepare can prune what a crashed host left, without ever removing a live build's
//! cgroup: that one is empty between steps, and runc would make it anew, unlimited,
//! for the next step.

use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bollard::models::{SystemInfoCgroupDriverEnum, SystemInfoCgroupVersionEnum};

/// The folder, below each cgroup hierarchy's root, that holds the builds' cgroups.
pub const BUILDS_DIR: &str = "dockwright-builds";

/// The longest `name` a caller may give: with the owner suffix the folder name stays
/// short, and a name that long is a caller's bug.
const MAX_NAME: usize = 48;

/// How long to wait to connect to the engine's socket, and for its info.
const ENGINE_TIMEOUT: Duration = Duration::from_secs(10);

/// Caps on what is read: `/proc/self/mountinfo` grows with every mount (each container
/// adds a few), so the cap is generous; a file past it is a refusal, not a partial
/// read, since a mount left unread could be the one that matters.
const MAX_MOUNTINFO: usize = 4 << 20;
/// Cgroup control files and `/proc/<pid>/stat` are a line.
const MAX_SMALL_FILE: usize = 4096;

/// Leftovers of a crashed host are pruned once they are this old and their owner is
/// gone; the age keeps a folder that was just made out of any race.
const PRUNE_AGE: Duration = Duration::from_secs(3600);
/// At most this many entries are looked at per hierarchy, and this many folders
/// removed, per prepare: pruning is housekeeping, never unbounded work.
const PRUNE_SCAN: usize = 256;
const PRUNE_REMOVE: usize = 32;

/// A cgroup the host made for one build's steps, with a pids limit; removed (rmdir,
/// best effort) on drop.
#[derive(Debug)]
pub struct BuildCgroup {
    /// `/dockwright-builds/<leaf>`: the `cgroupparent` of the build.
    parent: String,
    /// `<mount>/dockwright-builds/<leaf>` in every cgroup hierarchy, the pids one
    /// last. runc makes the folder in each hierarchy it uses, so each is removed.
    dirs: Vec<PathBuf>,
}

impl BuildCgroup {
    /// The value for the `/build` query's `cgroupparent`.
    pub fn parent(&self) -> &str {
        &self.parent
    }
}

impl Drop for BuildCgroup {
    /// rmdir only removes an empty cgroup: a folder that still has a step container
    /// below it (one the engine has not removed yet) stays, with its limit, and is
    /// pruned by a later prepare once this process is gone.
    fn drop(&mut self) {
        for dir in &self.dirs {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// Prepare a cgroup named `name` (a short unique string the caller gives, such as the
/// run id with a counter: `[a-z0-9-]`) with `pids.max = pids_max` for builds on
/// `engine`, or say (a full sentence for the user) why the host cannot, and that the
/// team setting `build_unbounded_pids = true` accepts the risk.
///
/// The folder is `dockwright-builds/<name>-<pid>-<start>`: the owner's pid and start
/// time let a later prepare tell a crashed host's leftovers from a live build's cgroup,
/// which is empty between steps and must not be removed then (runc would make it again,
/// without the limit).
pub async fn prepare_build_cgroup(
    engine: &crate::engine::Engine,
    name: &str,
    pids_max: u32,
) -> Result<BuildCgroup, String> {
    // The caller's mistakes too are refusals: whatever goes wrong, no build runs
    // without a limit unless the team accepts it.
    check_name(name).map_err(deny)?;
    if pids_max == 0 {
        return Err(deny(
            "a process limit of 0 was asked for, under which not even the step's first process could start",
        ));
    }
    let Some(socket) = engine.address.strip_prefix("unix://") else {
        return Err(deny(format!(
            "engine `{}` is reached at {}, not over a unix socket, so it may run on another machine whose cgroups dockwright cannot set",
            engine.name, engine.address
        )));
    };
    let pid = socket_peer(socket).await?;
    let socket_owned = socket.to_string();
    blocking(move || check_dockerd(&socket_owned, pid)).await?;

    let docker = engine.docker().await.map_err(|e| {
        deny(format!(
            "dockwright could not ask engine `{}` for its cgroup driver ({})",
            engine.name,
            super::errors::case_and_message(&e).1
        ))
    })?;
    let info = tokio::time::timeout(ENGINE_TIMEOUT, docker.info())
        .await
        .map_err(|_| {
            deny(format!(
                "engine `{}` did not give its info (cgroup driver and version) within {}s",
                engine.name,
                ENGINE_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| {
            deny(format!(
                "dockwright could not ask engine `{}` for its cgroup driver ({})",
                engine.name,
                super::errors::root_cause(&e)
            ))
        })?;
    let version = cgroup_version(info.cgroup_driver, info.cgroup_version).map_err(deny)?;

    let name = name.to_string();
    blocking(move || {
        let owner = Owner::this_process()?;
        let text = read_capped(Path::new("/proc/self/mountinfo"), MAX_MOUNTINFO).map_err(|e| {
            deny(format!(
                "dockwright could not read /proc/self/mountinfo ({e})"
            ))
        })?;
        let mounts = parse_mountinfo(&text)?;
        let layout = Layout::choose(&mounts, version)?;
        let leaf = owner.leaf(&name);
        prune_stale(&layout, &leaf, SystemTime::now());
        layout.make(&leaf, pids_max)
    })
    .await
}

/// The refusal: why, then what it means and what accepts the risk.
fn deny(why: impl std::fmt::Display) -> String {
    format!(
        "dockwright cannot put this build's RUN steps under a process limit: {why}. \
         The engine's build API has no process limit of its own, so one RUN step could \
         start processes until the engine host's process table is full, for every team \
         on it; builds with RUN steps are therefore refused, unless an admin accepts \
         that risk for the team with the setting `build_unbounded_pids = true`."
    )
}

/// Run file-system work off the async threads; its `Err` is already a refusal.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, String> + Send + 'static,
) -> Result<T, String> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| deny(format!("the cgroup check stopped ({e})")))?
}

/// On Windows there are no cgroups to hold a build's steps, and no unix socket.
#[cfg(not(unix))]
async fn socket_peer(_socket: &str) -> Result<u32, String> {
    Err(deny(
        "dockwright runs on Windows here, which has no cgroups in which to limit a build's processes",
    ))
}

/// The pid of the process that listens on the engine's socket, as the kernel tells
/// it (`SO_PEERCRED`): whatever the socket's path or name, this is who answers.
#[cfg(unix)]
async fn socket_peer(socket: &str) -> Result<u32, String> {
    let stream = tokio::time::timeout(ENGINE_TIMEOUT, tokio::net::UnixStream::connect(socket))
        .await
        .map_err(|_| {
            deny(format!(
                "the engine's socket {socket} did not accept a connection within {}s",
                ENGINE_TIMEOUT.as_secs()
            ))
        })?
        .map_err(|e| {
            deny(format!(
                "dockwright could not connect to the engine's socket {socket} ({e})"
            ))
        })?;
    let cred = stream.peer_cred().map_err(|e| {
        deny(format!(
            "dockwright could not learn which process serves {socket} ({e})"
        ))
    })?;
    // 0 or none: the peer is in a pid namespace this process cannot see into.
    match cred.pid().and_then(|p| u32::try_from(p).ok()) {
        Some(pid) if pid > 0 => Ok(pid),
        _ => Err(deny(format!(
            "the process serving {socket} is not visible from here (another pid namespace)"
        ))),
    }
}

/// That `pid` is a dockerd that sees the same mounts and the same cgroup tree as this
/// process: then `<mount>/dockwright-builds/<leaf>` here is the cgroup runc joins for
/// `/dockwright-builds/<leaf>` there.
fn check_dockerd(socket: &str, pid: u32) -> Result<(), String> {
    let link = |path: String| {
        std::fs::read_link(&path).map_err(|e| {
            deny(format!(
                "dockwright could not read {path} ({e}); it must run as root on the engine's machine to check that it sees the cgroups dockerd uses"
            ))
        })
    };
    let exe = link(format!("/proc/{pid}/exe"))?;
    if !is_dockerd_exe(&exe) {
        let how = if pid == 1 {
            " (with socket activation, `-H fd://`, the socket is held by systemd and the process serving it cannot be told; start dockerd with its own `-H unix://` socket)"
        } else {
            " (a proxy or another daemon in between proves nothing about dockerd's cgroups)"
        };
        return Err(deny(format!(
            "the process serving {socket} (pid {pid}) is {}, not dockerd{how}",
            exe.display()
        )));
    }
    for (ns, what) in [("mnt", "mount"), ("cgroup", "cgroup")] {
        let ours = link(format!("/proc/self/ns/{ns}"))?;
        let theirs = link(format!("/proc/{pid}/ns/{ns}"))?;
        if ours != theirs {
            return Err(deny(format!(
                "dockerd (pid {pid}) runs in another {what} namespace than dockwright, so the cgroup folders dockwright can write are not the ones dockerd uses"
            )));
        }
    }
    Ok(())
}

/// `/usr/sbin/dockerd`, `/usr/bin/dockerd`, also after an upgrade replaced the file
/// under the running daemon (the kernel then adds ` (deleted)`).
fn is_dockerd_exe(exe: &Path) -> bool {
    exe.file_name()
        .and_then(|n| n.to_str())
        .map(|n| n.strip_suffix(" (deleted)").unwrap_or(n))
        == Some("dockerd")
}

/// Which cgroup version the engine uses, when its driver is one the host can work
/// with; else why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Version {
    V1,
    V2,
}

fn cgroup_version(
    driver: Option<SystemInfoCgroupDriverEnum>,
    version: Option<SystemInfoCgroupVersionEnum>,
) -> Result<Version, String> {
    match driver {
        Some(SystemInfoCgroupDriverEnum::CGROUPFS) => {}
        // dockerd wants a `.slice` parent made through systemd there, and its pids
        // limit set as a unit property: files written here would not be it.
        Some(SystemInfoCgroupDriverEnum::SYSTEMD) => {
            return Err("the engine uses the systemd cgroup driver, where a build's cgroup parent must be a systemd slice, which dockwright does not make".into())
        }
        Some(SystemInfoCgroupDriverEnum::NONE) => {
            return Err("the engine runs without cgroups (cgroup driver `none`)".into())
        }
        Some(SystemInfoCgroupDriverEnum::EMPTY) | None => {
            return Err("the engine does not say which cgroup driver it uses".into())
        }
    }
    match version {
        Some(SystemInfoCgroupVersionEnum::_1) => Ok(Version::V1),
        Some(SystemInfoCgroupVersionEnum::_2) => Ok(Version::V2),
        Some(SystemInfoCgroupVersionEnum::EMPTY) | None => {
            Err("the engine does not say which cgroup version it uses".into())
        }
    }
}

/// The caller's part of the folder name: it ends up in a path and in the `/build`
/// query, so only `[a-z0-9-]`, not empty, no leading `-`, at most [`MAX_NAME`].
fn check_name(name: &str) -> Result<(), String> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if name.is_empty() || name.len() > MAX_NAME || !ok_chars || name.starts_with('-') {
        return Err(format!(
            "the name `{}` given for the build's cgroup is not 1 to {MAX_NAME} of a-z, 0-9 and `-` (not first)",
            name.escape_debug()
        ));
    }
    Ok(())
}

/// The process that owns a build cgroup: its pid and start time (clock ticks after
/// boot, field 22 of `/proc/<pid>/stat`), as `/proc` shows them. A pid alone could be
/// reused; the pair is not. Read from `/proc` rather than taken from
/// `std::process::id()` so that another host reading `/proc` (the same one: they
/// share dockerd's mount namespace) finds the same numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Owner {
    pid: u32,
    start: u64,
}

impl Owner {
    fn this_process() -> Result<Owner, String> {
        let stat = read_capped(Path::new("/proc/self/stat"), MAX_SMALL_FILE)
            .map_err(|e| deny(format!("dockwright could not read /proc/self/stat ({e})")))?;
        parse_stat(&stat).ok_or_else(|| deny("/proc/self/stat has a form dockwright does not know"))
    }

    fn leaf(&self, name: &str) -> String {
        format!("{name}-{}-{}", self.pid, self.start)
    }

    /// The owner of a folder named by [`Owner::leaf`]; `None` for any other name.
    fn of_leaf(leaf: &str) -> Option<Owner> {
        let mut parts = leaf.rsplitn(3, '-');
        let start = parts.next()?.parse().ok()?;
        let pid = parts.next()?.parse().ok()?;
        let name = parts.next()?;
        check_name(name).ok()?;
        Some(Owner { pid, start })
    }

    /// Whether the owner may still be running a build. Anything unsure is "alive":
    /// removing a live build's cgroup between its steps would let the next step run
    /// with no limit.
    fn alive(&self) -> bool {
        match read_capped(
            Path::new(&format!("/proc/{}/stat", self.pid)),
            MAX_SMALL_FILE,
        ) {
            Ok(stat) => parse_stat(&stat).is_none_or(|now| now == *self),
            Err(e) => e.kind() != io::ErrorKind::NotFound,
        }
    }
}

/// Pid and start time from a `/proc/<pid>/stat` line. The command name (field 2) is in
/// parentheses and may itself hold spaces and `)`, so fields are counted after the
/// last `)`: field 3 (state) is the first there, field 22 (start time) the 20th.
fn parse_stat(stat: &str) -> Option<Owner> {
    let (head, tail) = stat.rsplit_once(')')?;
    let pid = head.split_once(" (")?.0.trim().parse().ok()?;
    let start = tail.split_whitespace().nth(19)?.parse().ok()?;
    Some(Owner { pid, start })
}

/// One line of `/proc/self/mountinfo` (proc(5)), with what is needed of it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    mount_point: PathBuf,
    fstype: String,
    /// The per-superblock options: for a v1 cgroup mount, its controllers.
    super_options: Vec<String>,
}

/// Parse mountinfo: `id parent major:minor root mount-point options [optional...] -
/// fstype source super-options`. A line of another form is an error rather than
/// skipped: a mount left out could be the one that matters.
fn parse_mountinfo(text: &str) -> Result<Vec<Mount>, String> {
    let bad = |n: usize| {
        deny(format!(
            "line {n} of /proc/self/mountinfo has a form dockwright does not know"
        ))
    };
    let mut mounts = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split(' ').collect();
        let dash = fields
            .iter()
            .position(|f| *f == "-")
            .ok_or_else(|| bad(i + 1))?;
        if dash < 6 || fields.len() < dash + 4 {
            return Err(bad(i + 1));
        }
        mounts.push(Mount {
            mount_point: PathBuf::from(unescape(fields[4])),
            fstype: fields[dash + 1].to_string(),
            super_options: fields[dash + 3].split(',').map(String::from).collect(),
        });
    }
    Ok(mounts)
}

/// mountinfo writes space, tab, newline and backslash in paths as `\ooo` octal.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal.and_then(|d| u8::from_str_radix(std::str::from_utf8(d).ok()?, 8).ok()) {
            Some(byte) => {
                out.push(byte);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// runc's fixed mount point for the v2 hierarchy (`fs2.UnifiedMountpoint`).
const RUNC_V2_MOUNT: &str = "/sys/fs/cgroup";

/// Where the host writes: the pids hierarchy's mount point, and every cgroup
/// hierarchy's (where runc also makes the folder, so where to remove it from).
#[derive(Debug, PartialEq, Eq)]
struct Layout {
    version: Version,
    pids_mount: PathBuf,
    /// Every cgroup mount point but the pids one, one entry each.
    others: Vec<PathBuf>,
}

impl Layout {
    /// The pids hierarchy as runc will find it (see the module's notes), or why it is
    /// not clear which that is.
    fn choose(mounts: &[Mount], version: Version) -> Result<Layout, String> {
        let mut points: Vec<(&Path, bool, bool)> = Vec::new(); // (mount point, v1?, has pids)
        for m in mounts {
            // A later mount, of any kind, covers what was mounted at or below its
            // mount point (mountinfo lists mounts in the order they were made).
            points.retain(|(p, ..)| !p.starts_with(&m.mount_point));
            let v1 = m.fstype == "cgroup";
            if !v1 && m.fstype != "cgroup2" {
                continue;
            }
            let pids = v1 && m.super_options.iter().any(|o| o == "pids");
            points.push((&m.mount_point, v1, pids));
        }
        let pids_mount = match version {
            Version::V1 => {
                let pids: Vec<&Path> = points.iter().filter(|p| p.2).map(|p| p.0).collect();
                let [pids_mount] = pids[..] else {
                    return Err(deny(if pids.is_empty() {
                        "the engine uses cgroup v1 and no v1 hierarchy with the pids controller is mounted".to_string()
                    } else {
                        format!(
                            "the pids controller is mounted at several places ({}), so it is not clear which one dockerd uses",
                            pids.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
                        )
                    }));
                };
                // runc finds the hierarchy under a root folder of its own choosing;
                // with every v1 mount in one folder, that folder is the root.
                let root = pids_mount.parent();
                if let Some(stray) = points.iter().find(|p| p.1 && p.0.parent() != root) {
                    return Err(deny(format!(
                        "the cgroup v1 hierarchies are not all mounted in one folder ({} and {}), so it is not clear where dockerd's runc looks for them",
                        pids_mount.display(),
                        stray.0.display()
                    )));
                }
                pids_mount
            }
            Version::V2 => {
                let at_runc = points.iter().find(|p| p.0 == Path::new(RUNC_V2_MOUNT));
                match at_runc {
                    Some((mount, false, _)) => *mount,
                    _ => {
                        return Err(deny(format!(
                            "the engine uses cgroup v2, which runc expects mounted at {RUNC_V2_MOUNT}, and no cgroup2 file system is mounted there"
                        )))
                    }
                }
            }
        };
        Ok(Layout {
            version,
            pids_mount: pids_mount.to_path_buf(),
            others: points
                .iter()
                .map(|p| p.0.to_path_buf())
                .filter(|p| p != pids_mount)
                .collect(),
        })
    }

    /// `<pids mount>/dockwright-builds`.
    fn builds(&self) -> PathBuf {
        self.pids_mount.join(BUILDS_DIR)
    }

    /// The folders named `leaf` runc may make, the pids one last.
    fn dirs(&self, leaf: &str) -> Vec<PathBuf> {
        self.others
            .iter()
            .chain([&self.pids_mount])
            .map(|m| m.join(BUILDS_DIR).join(leaf))
            .collect()
    }

    /// Make the cgroup with its limit and read the limit back. Once the folder is
    /// made, the returned value (or its drop on an error) removes it.
    fn make(&self, leaf: &str, pids_max: u32) -> Result<BuildCgroup, String> {
        let fail = |what: &str, path: &Path, e: io::Error| {
            deny(format!(
                "dockwright could not {what} {} ({e})",
                path.display()
            ))
        };
        if self.version == Version::V2 {
            // Without `pids` in the parent's `cgroup.subtree_control`, a child has no
            // `pids.max` file. The root may hold processes (it is exempt from the
            // no-internal-processes rule); `dockwright-builds` holds none.
            enable_pids(&self.pids_mount, true)?;
        }
        let builds = self.builds();
        match std::fs::create_dir(&builds) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(fail("make the cgroup", &builds, e)),
        }
        if self.version == Version::V2 {
            enable_pids(&builds, false)?;
        }
        let dir = builds.join(leaf);
        // Not create_dir_all: a folder already there could be another build's, whose
        // drop would then remove it under this one.
        std::fs::create_dir(&dir).map_err(|e| fail("make the cgroup", &dir, e))?;
        let cgroup = BuildCgroup {
            parent: format!("/{BUILDS_DIR}/{leaf}"),
            dirs: self.dirs(leaf),
        };
        let max = dir.join("pids.max");
        // No `create`: on a file system that is not a pids cgroup the file does not
        // exist, and the write fails instead of making an ordinary file.
        std::fs::OpenOptions::new()
            .write(true)
            .open(&max)
            .and_then(|mut f| f.write_all(pids_max.to_string().as_bytes()))
            .map_err(|e| fail("set", &max, e))?;
        let read = read_capped(&max, MAX_SMALL_FILE).map_err(|e| fail("read", &max, e))?;
        if read.trim() != pids_max.to_string() {
            return Err(deny(format!(
                "{} reads `{}` after dockwright wrote {pids_max}",
                max.display(),
                read.trim()
            )));
        }
        Ok(cgroup)
    }
}

/// Make sure a v2 cgroup's children get the pids controller. `root` says whether this
/// is the hierarchy's root, where `cgroup.controllers` tells whether the kernel has it.
fn enable_pids(dir: &Path, root: bool) -> Result<(), String> {
    let read = |file: &str| {
        let path = dir.join(file);
        read_capped(&path, MAX_SMALL_FILE).map_err(|e| {
            deny(format!(
                "dockwright could not read {} ({e})",
                path.display()
            ))
        })
    };
    let has_pids = |list: &str| list.split_whitespace().any(|c| c == "pids");
    if root && !has_pids(&read("cgroup.controllers")?) {
        return Err(deny(format!(
            "the pids controller is not available in the cgroup v2 hierarchy at {}",
            dir.display()
        )));
    }
    if has_pids(&read("cgroup.subtree_control")?) {
        return Ok(());
    }
    let control = dir.join("cgroup.subtree_control");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&control)
        .and_then(|mut f| f.write_all(b"+pids"))
        .map_err(|e| {
            deny(format!(
                "dockwright could not enable the pids controller in {} ({e})",
                control.display()
            ))
        })
}

/// Remove build cgroups left by hosts that are gone (a crash skips the drop). Only
/// folders whose owner is gone and that are older than [`PRUNE_AGE`]; `rmdir` removes
/// only empty cgroups. Best effort and bounded: errors are ignored.
fn prune_stale(layout: &Layout, keep: &str, now: SystemTime) {
    let mut removed = 0;
    for mount in layout.others.iter().chain([&layout.pids_mount]) {
        let Ok(entries) = std::fs::read_dir(mount.join(BUILDS_DIR)) else {
            continue;
        };
        for entry in entries.take(PRUNE_SCAN).flatten() {
            if removed >= PRUNE_REMOVE {
                return;
            }
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let modified = entry.metadata().and_then(|m| m.modified()).ok();
            if name != keep
                && is_stale(name, modified, now, |o| o.alive())
                && std::fs::remove_dir(entry.path()).is_ok()
            {
                removed += 1;
            }
        }
    }
}

/// Whether a folder in `dockwright-builds` is a crashed host's: named by
/// [`Owner::leaf`], not changed for [`PRUNE_AGE`], its owner gone.
fn is_stale(
    name: &str,
    modified: Option<SystemTime>,
    now: SystemTime,
    alive: impl Fn(&Owner) -> bool,
) -> bool {
    let Some(owner) = Owner::of_leaf(name) else {
        return false;
    };
    let old = modified
        .and_then(|m| now.duration_since(m).ok())
        .is_some_and(|age| age >= PRUNE_AGE);
    old && !alive(&owner)
}

/// Read a small file whole, or fail if it is longer than `cap`.
fn read_capped(path: &Path, cap: usize) -> io::Result<String> {
    let mut buf = Vec::new();
    std::fs::File::open(path)?
        .take(cap as u64 + 1)
        .read_to_end(&mut buf)?;
    if buf.len() > cap {
        return Err(io::Error::other(format!("longer than {cap} bytes")));
    }
    String::from_utf8(buf).map_err(io::Error::other)
}

// Cgroups, dockerd's process and unix sockets: Linux's alone.
#[cfg(all(test, unix))]
mod tests;
