//! Unit tests of [`super`], kept apart so the module reads as its code.

use super::*;

/// This project's machine: cgroup v1, one hierarchy per controller, the unified
/// one beside them (hybrid).
const HYBRID: &str = "\
23 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

/// A systemd machine on cgroup v2 only.
const UNIFIED: &str = "\
22 1 0:20 / /sys rw,nosuid shared:7 - sysfs sysfs rw
26 22 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
";

fn layout(text: &str, version: Version) -> Result<Layout, String> {
    Layout::choose(&parse_mountinfo(text).unwrap(), version)
}

#[test]
fn mountinfo_lines() {
    let text = "36 35 98:0 /mnt1 /mnt/with\\040space rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n\n";
    let mounts = parse_mountinfo(text).unwrap();
    assert_eq!(
        mounts,
        vec![Mount {
            mount_point: PathBuf::from("/mnt/with space"),
            fstype: "ext3".into(),
            super_options: vec!["rw".into(), "errors=continue".into()],
        }]
    );
    // No optional fields.
    let mounts = parse_mountinfo(HYBRID).unwrap();
    assert_eq!(mounts.len(), 8);
    assert_eq!(mounts[5].super_options, ["rw", "pids"]);
    // A line of another form is refused, never skipped.
    for bad in [
        "36 35 98:0 / /x rw",
        "36 35 98:0 / /x rw - ext3",
        "1 2 - cgroup cgroup rw,pids",
    ] {
        let err = parse_mountinfo(&format!("{}{bad}\n", HYBRID)).unwrap_err();
        assert!(err.contains("line 9 of /proc/self/mountinfo"), "{err}");
        assert!(err.contains("build_unbounded_pids = true"), "{err}");
    }
}

#[test]
fn octal_escapes() {
    assert_eq!(unescape("/a\\040b\\011c\\012d\\134e"), "/a b\tc\nd\\e");
    // Not an escape: left as it is.
    assert_eq!(unescape("/a\\9b\\04"), "/a\\9b\\04");
    assert_eq!(unescape("/plain"), "/plain");
}

#[test]
fn v1_pids_mount() {
    let l = layout(HYBRID, Version::V1).unwrap();
    assert_eq!(l.pids_mount, Path::new("/sys/fs/cgroup/pids"));
    assert!(l.others.contains(&PathBuf::from("/sys/fs/cgroup/memory")));
    assert!(l.others.contains(&PathBuf::from("/sys/fs/cgroup/unified")));
    assert!(!l.others.contains(&l.pids_mount));
    assert!(!l.others.contains(&PathBuf::from("/sys/fs/cgroup")));
    // Controllers mounted together.
    let joint = HYBRID.replace(
        "/sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids",
        "/sys/fs/cgroup/cpu,pids rw,relatime - cgroup cgroup rw,cpu,pids",
    );
    assert_eq!(
        layout(&joint, Version::V1).unwrap().pids_mount,
        Path::new("/sys/fs/cgroup/cpu,pids")
    );
    // Found from mountinfo, wherever the folder is, when runc can find it too.
    let elsewhere = HYBRID.replace("/sys/fs/cgroup/", "/run/cg/");
    assert_eq!(
        layout(&elsewhere, Version::V1).unwrap().pids_mount,
        Path::new("/run/cg/pids")
    );
    // The same mount point twice is one place.
    let twice = format!("{HYBRID}50 31 0:36 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids\n");
    let l = layout(&twice, Version::V1).unwrap();
    assert_eq!(l.dirs("x").len(), 6);
    // The tmpfs at /sys/fs/cgroup is mounted before the hierarchies in it and
    // covers none of them; one mounted after would cover them all.
    let covered = format!("{HYBRID}50 23 0:40 / /sys/fs/cgroup rw - tmpfs tmpfs rw\n");
    assert!(layout(&covered, Version::V1).is_err());
}

#[test]
fn v1_unclear_mounts_are_refused() {
    let none = HYBRID.replace("rw,pids", "rw,freezer");
    let err = layout(&none, Version::V1).unwrap_err();
    assert!(
        err.contains("no v1 hierarchy with the pids controller"),
        "{err}"
    );
    let two = format!("{HYBRID}50 31 0:36 / /sys/fs/cgroup/pids2 rw - cgroup cgroup rw,pids\n");
    let err = layout(&two, Version::V1).unwrap_err();
    assert!(err.contains("several places"), "{err}");
    let split = HYBRID.replace("/sys/fs/cgroup/memory", "/run/memory");
    let err = layout(&split, Version::V1).unwrap_err();
    assert!(err.contains("not all mounted in one folder"), "{err}");
    // A v2 engine on a machine whose /sys/fs/cgroup is not cgroup2.
    let err = layout(HYBRID, Version::V2).unwrap_err();
    assert!(
        err.contains("no cgroup2 file system is mounted there"),
        "{err}"
    );
}

#[test]
fn v2_mount() {
    let l = layout(UNIFIED, Version::V2).unwrap();
    assert_eq!(l.pids_mount, Path::new("/sys/fs/cgroup"));
    assert!(l.others.is_empty());
    assert_eq!(
        l.dirs("b-1-2"),
        [PathBuf::from("/sys/fs/cgroup/dockwright-builds/b-1-2")]
    );
    // runc looks at /sys/fs/cgroup only.
    let moved = UNIFIED.replace("/sys/fs/cgroup", "/run/cgroup2");
    assert!(layout(&moved, Version::V2).is_err());
    // Covered by a later mount of another kind, there or above.
    for point in ["/sys/fs/cgroup", "/sys/fs", "/sys"] {
        let covered = format!("{UNIFIED}30 26 0:40 / {point} rw - tmpfs tmpfs rw\n");
        assert!(layout(&covered, Version::V2).is_err(), "{point}");
    }
    // A mount below it covers nothing of it.
    let below = format!("{UNIFIED}30 26 0:40 / /sys/fs/cgroup/x rw - tmpfs tmpfs rw\n");
    assert!(layout(&below, Version::V2).is_ok());
    // A v1 engine needs a v1 pids hierarchy.
    assert!(layout(UNIFIED, Version::V1).is_err());
}

#[test]
fn paths_to_make_and_remove() {
    let l = layout(HYBRID, Version::V1).unwrap();
    assert_eq!(
        l.builds(),
        Path::new("/sys/fs/cgroup/pids/dockwright-builds")
    );
    let dirs = l.dirs("run7-0-12-345");
    assert_eq!(
        dirs.last().unwrap(),
        Path::new("/sys/fs/cgroup/pids/dockwright-builds/run7-0-12-345"),
        "the pids folder goes last"
    );
    assert!(dirs.contains(&PathBuf::from(
        "/sys/fs/cgroup/systemd/dockwright-builds/run7-0-12-345"
    )));
    assert_eq!(dirs.len(), 6);
}

#[test]
fn names() {
    for good in ["a", "run-0", "3f9c2a-12", &"a".repeat(MAX_NAME)] {
        assert!(check_name(good).is_ok(), "{good}");
    }
    for bad in [
        "",
        "-a",
        "A",
        "a_b",
        "a/b",
        "..",
        "a b",
        "é",
        "a\n",
        &"a".repeat(MAX_NAME + 1),
    ] {
        assert!(check_name(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn owners_and_leaves() {
    let stat =
        "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 987654 10000000 300";
    let owner = parse_stat(stat).unwrap();
    assert_eq!(
        owner,
        Owner {
            pid: 4242,
            start: 987654
        }
    );
    assert_eq!(parse_stat("4242 (x) S 1"), None);
    let leaf = owner.leaf("run-3");
    assert_eq!(leaf, "run-3-4242-987654");
    assert_eq!(Owner::of_leaf(&leaf), Some(owner));
    // Not ours: never pruned.
    for other in ["test", "4242-987654", "x-y-4242-", "A-1-2", "docker"] {
        assert_eq!(Owner::of_leaf(other), None, "{other}");
    }
    // This process is alive; its own stat parses.
    let me = Owner::this_process().unwrap();
    assert!(me.alive());
    assert!(!Owner {
        start: me.start + 1,
        ..me
    }
    .alive());
}

#[test]
fn only_old_leftovers_of_gone_owners_are_stale() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1 << 30);
    let old = Some(now - PRUNE_AGE);
    let new = Some(now - Duration::from_secs(60));
    let gone = |_: &Owner| false;
    let alive = |_: &Owner| true;
    assert!(is_stale("run-1-2", old, now, gone));
    assert!(!is_stale("run-1-2", new, now, gone));
    assert!(!is_stale("run-1-2", old, now, alive));
    assert!(!is_stale("run-1-2", None, now, gone));
    assert!(!is_stale("someone-elses", old, now, gone));
    // A clock that went back: not old.
    assert!(!is_stale("run-1-2", Some(now + PRUNE_AGE), now, gone));
}

#[test]
fn drivers_and_versions() {
    use SystemInfoCgroupDriverEnum as D;
    use SystemInfoCgroupVersionEnum as V;
    assert_eq!(
        cgroup_version(Some(D::CGROUPFS), Some(V::_1)),
        Ok(Version::V1)
    );
    assert_eq!(
        cgroup_version(Some(D::CGROUPFS), Some(V::_2)),
        Ok(Version::V2)
    );
    let err = cgroup_version(Some(D::SYSTEMD), Some(V::_2)).unwrap_err();
    assert!(err.contains("systemd cgroup driver"), "{err}");
    assert!(cgroup_version(Some(D::NONE), Some(V::_1)).is_err());
    assert!(cgroup_version(None, Some(V::_1)).is_err());
    assert!(cgroup_version(Some(D::CGROUPFS), None).is_err());
    assert!(cgroup_version(Some(D::CGROUPFS), Some(V::EMPTY)).is_err());
}

#[test]
fn dockerd_binaries() {
    for yes in [
        "/usr/sbin/dockerd",
        "/usr/bin/dockerd",
        "/usr/bin/dockerd (deleted)",
    ] {
        assert!(is_dockerd_exe(Path::new(yes)), "{yes}");
    }
    for no in [
        "/usr/bin/socat",
        "/usr/lib/systemd/systemd",
        "/usr/bin/dockerd-rootless.sh",
        "/x/dockerd-proxy",
    ] {
        assert!(!is_dockerd_exe(Path::new(no)), "{no}");
    }
}

#[test]
fn refusals_say_why_and_what_accepts_the_risk() {
    let text = deny("engine `build` is reached at tcp://build.lan:2376");
    assert!(
        text.starts_with(
            "dockwright cannot put this build's RUN steps under a process limit: engine `build`"
        ),
        "{text}"
    );
    assert!(text.contains("`build_unbounded_pids = true`"), "{text}");
    assert!(text.ends_with('.'), "{text}");
}

#[test]
fn small_reads_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f");
    std::fs::write(&file, "12345").unwrap();
    assert_eq!(read_capped(&file, 5).unwrap(), "12345");
    assert!(read_capped(&file, 4).is_err());
}

#[tokio::test]
async fn tcp_engines_are_refused() {
    let target = crate::engine::config::EngineTarget {
        name: "build".into(),
        host: "tcp://127.0.0.1:1".into(),
        tls: None,
        public_host: None,
    };
    let engine = crate::engine::Engine::lazy(&target).unwrap();
    let err = prepare_build_cgroup(&engine, "run-1", 64)
        .await
        .unwrap_err();
    assert!(err.contains("not over a unix socket"), "{err}");
    assert!(err.contains("build_unbounded_pids = true"), "{err}");
    assert!(!engine.connected(), "refused before any call to the engine");
    let err = prepare_build_cgroup(&engine, "Run_1", 64)
        .await
        .unwrap_err();
    assert!(err.contains("not 1 to"), "{err}");
    assert!(err.contains("build_unbounded_pids = true"), "{err}");
    let err = prepare_build_cgroup(&engine, "run-1", 0).await.unwrap_err();
    assert!(err.contains("limit of 0"), "{err}");
}

#[tokio::test]
async fn a_socket_served_by_another_process_is_refused() {
    // This test process serves the socket: not dockerd.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("docker.sock");
    let _listener = tokio::net::UnixListener::bind(&path).unwrap();
    let target = crate::engine::config::EngineTarget {
        name: "proxy".into(),
        host: format!("unix://{}", path.display()),
        tls: None,
        public_host: None,
    };
    let engine = crate::engine::Engine::lazy(&target).unwrap();
    let err = prepare_build_cgroup(&engine, "run-1", 64)
        .await
        .unwrap_err();
    assert!(err.contains("not dockerd"), "{err}");
    assert!(err.contains("build_unbounded_pids = true"), "{err}");
}

/// Against the engine of this machine, as root, with Debian's static busybox at
/// /bin/busybox: `cargo test --release -p dockwright --lib engine::cgroup --
/// --ignored`. Makes a build cgroup with a limit of 40, builds through the
/// `/build` API with it as `cgroupparent` a `RUN` step that starts up to 200
/// `sleep`s (bounded, in case the limit does not hold), and checks that the step
/// could not start them all, that the folder is where runc looks, and that the
/// drop removes it from every hierarchy.
#[tokio::test]
#[ignore = "needs root, /bin/busybox and a local dockerd with the cgroupfs driver"]
async fn live_engine() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let engine = crate::engine::connect_to(&crate::engine::connect::default_target())
        .await
        .unwrap();
    let cgroup = prepare_build_cgroup(&engine, "live-test", 40)
        .await
        .unwrap();
    let parent = cgroup.parent().to_string();
    assert!(
        parent.starts_with("/dockwright-builds/live-test-"),
        "{parent}"
    );
    let mountinfo = read_capped(Path::new("/proc/self/mountinfo"), MAX_MOUNTINFO).unwrap();
    let info = engine.docker().await.unwrap().info().await.unwrap();
    let version = cgroup_version(info.cgroup_driver, info.cgroup_version).unwrap();
    let layout = Layout::choose(&parse_mountinfo(&mountinfo).unwrap(), version).unwrap();
    let dir = PathBuf::from(format!("{}{parent}", layout.pids_mount.display()));
    assert_eq!(
        std::fs::read_to_string(dir.join("pids.max"))
            .unwrap()
            .trim(),
        "40"
    );

    let dockerfile = "FROM scratch\nCOPY busybox /bin/busybox\n\
        RUN [\"/bin/busybox\", \"sh\", \"-c\", \"/bin/busybox --install -s /bin; mkdir -p /tmp; \
        ( i=0; while [ $i -lt 200 ]; do sleep 20 & i=$((i+1)); echo $i > /tmp/n; done ) 2>/dev/null; \
        read n < /tmp/n; echo started $n of 200\"]\n";
    let mut context = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8], mode: u32| {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(mode);
        header.set_cksum();
        context.append_data(&mut header, name, data).unwrap();
    };
    add("Dockerfile", dockerfile.as_bytes(), 0o644);
    add("busybox", &std::fs::read("/bin/busybox").unwrap(), 0o755);
    let body = context.into_inner().unwrap();
    let query = format!(
        "rm=1&forcerm=1&nocache=1&cgroupparent={}",
        parent.replace('/', "%2F")
    );
    let head = format!(
        "POST /v1.41/build?{query} HTTP/1.0\r\nHost: docker\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    let socket = engine.address.strip_prefix("unix://").unwrap();
    let mut stream = tokio::net::UnixStream::connect(socket).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(&body).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(120), stream.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    let started: u32 = answer
        // The step's own line, not the echo of its command.
        .split("{\"stream\":\"started ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no count in the build's output: {answer}"));
    assert!(started < 40, "{started} sleeps started under a limit of 40");
    let image = answer
        .split("Successfully built ")
        .nth(1)
        .and_then(|rest| rest.get(..12))
        .unwrap_or_else(|| panic!("the build failed: {answer}"))
        .to_string();
    let _ = engine
        .docker()
        .await
        .unwrap()
        .remove_image(
            &image,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await;

    let dirs = cgroup.dirs.clone();
    drop(cgroup);
    for dir in dirs {
        assert!(!dir.exists(), "{} is left", dir.display());
    }
}
