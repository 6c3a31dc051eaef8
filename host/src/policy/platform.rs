//! What an engine's operating system lets the host enforce. Every promise of the
//! policy rests on a Linux engine: team networks kept apart by bridge isolation
//! rules, a pids limit, every capability dropped, `no-new-privileges`, a read-only
//! root, and a user checked against the image's `/etc/passwd`. An engine whose
//! `docker info` says `OSType: windows` runs Windows containers, where each of these
//! is absent or means something else. Rather than send settings such an engine
//! drops or reads another way, the host decides setting by setting ([`on_windows`]),
//! and refuses to make anything there while one the team relies on cannot be
//! enforced ([`check_platform`]): what the engine is asked for is what it does.
//! An engine of an OS this does not know is refused outright.

use super::team::{Decision, Denial, TeamPolicy};

/// The operating system of an engine, from its `docker info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Platform {
    Linux,
    /// Windows containers, with the engine's default isolation (`process` shares the
    /// host's kernel; `hyperv` gives each container a utility VM).
    Windows {
        isolation: Isolation,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Isolation {
    Process,
    HyperV,
}

/// The platform of an engine whose info says `os_type` and `isolation`. No OS type,
/// or one this does not know, is an error: a check that cannot be made is a denial.
pub fn platform_of(os_type: Option<&str>, isolation: Option<&str>) -> Result<Platform, String> {
    match os_type.map(str::to_ascii_lowercase).as_deref() {
        Some("linux") => Ok(Platform::Linux),
        Some("windows") => Ok(Platform::Windows {
            // Windows Server's engines default to process isolation, Windows
            // desktops' to Hyper-V; an engine that does not say is taken as the one
            // that isolates less.
            isolation: match isolation.map(str::to_ascii_lowercase).as_deref() {
                Some("hyperv") => Isolation::HyperV,
                _ => Isolation::Process,
            },
        }),
        Some(other) => Err(format!(
            "the engine's OS type is `{other}`, which dockwright does not know how to hold to a team's policy"
        )),
        None => Err("the engine did not say its OS type (docker info's OSType)".into()),
    }
}

/// What becomes of one setting of the team's policy on an engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Sent, and the engine enforces it.
    Applied,
    /// Not sent: the platform has no such thing, and nothing the team relies on is
    /// lost by it. The reason says why (and the README's table for Windows engines).
    NotApplicable(&'static str),
    /// The team relies on it and the engine cannot enforce it: nothing is made there.
    Denied(&'static str),
}

/// A setting of the policy, as [`on_windows`] names it.
pub type Setting = &'static str;

/// Setting by setting, what a Windows engine does with the team's policy.
pub fn on_windows(p: &TeamPolicy, isolation: Isolation) -> Vec<(Setting, Outcome)> {
    use Outcome::*;
    let mut out = vec![
        (
            "team network",
            Denied(
                "team networks are kept apart by the Linux bridge driver's isolation rules; a Windows engine's networks (nat, transparent, l2bridge) have no such rules that dockwright can rely on, so another team's containers could reach this team's",
            ),
        ),
        ("memory", Applied),
        ("cpus", Applied),
        (
            "pids",
            Denied(
                "Windows has no per-container limit on processes: the engine drops a pids limit, so a plugin's container could start processes without bound",
            ),
        ),
        (
            "capabilities",
            NotApplicable("Linux capabilities do not exist on Windows"),
        ),
        (
            "no-new-privileges",
            NotApplicable("Windows has no setuid programs for a process to gain privileges from"),
        ),
        (
            "user",
            Denied(
                "a Windows container's user (ContainerUser, ContainerAdministrator) is not resolved from /etc/passwd, so the host cannot tell whether it is an administrator",
            ),
        ),
        ("log rotation", Applied),
    ];
    if p.read_only_rootfs {
        out.push((
            "read_only_rootfs",
            Denied("Windows containers cannot have a read-only root file system"),
        ));
    }
    out.push((
        "isolation",
        match isolation {
            Isolation::HyperV => Applied,
            Isolation::Process => NotApplicable(
                "process isolation shares the host's kernel, as a Linux container does; the engine's default is kept",
            ),
        },
    ));
    out
}

/// Whether the team may make containers, services, builds or execs on an engine of
/// `platform`: on Linux, yes (every rule applies); on Windows, not while a setting
/// the team relies on would be dropped. The denial names each such setting and why.
pub fn check_platform(p: &TeamPolicy, engine: &str, platform: &Platform) -> Decision {
    let Platform::Windows { isolation } = platform else {
        return Ok(());
    };
    let denied: Vec<String> = on_windows(p, *isolation)
        .into_iter()
        .filter_map(|(setting, outcome)| match outcome {
            Outcome::Denied(why) => Some(format!("{setting}: {why}")),
            _ => None,
        })
        .collect();
    if denied.is_empty() {
        return Ok(());
    }
    Err(Denial {
        rule: "platform",
        reason: format!(
            "engine `{engine}` runs Windows containers, where team `{}`'s policy cannot be held ({}); run Linux containers (on Windows, Docker's Linux engine), or ask the admin for a Linux engine",
            p.name,
            denied.join("; ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::fixtures::team as policy;

    /// `docker info` as a Windows Server engine answers it (the Engine API's
    /// SystemInfo model: OSType, Isolation, Driver windowsfilter), and a Windows
    /// desktop's with Hyper-V isolation.
    const WINDOWS_SERVER_INFO: &str = r#"{
        "ID": "7TRN:IPZB:QYBB:VPBQ:UWEY:FYJL:U6XH:3YEJ:DGOQ:6ZSR:MV5P:BRAH",
        "OSType": "windows", "OperatingSystem": "Windows Server 2022 Datacenter Version 2009 (OS Build 20348.2340)",
        "Driver": "windowsfilter", "Isolation": "process", "DockerRootDir": "C:\\ProgramData\\docker",
        "KernelVersion": "10.0 20348 (20348.1.amd64fre.fe_release.210507-1500)",
        "Architecture": "x86_64", "NCPU": 4, "MemTotal": 17179398144,
        "Plugins": {"Network": ["ics", "internal", "l2bridge", "l2tunnel", "nat", "null", "overlay", "private", "transparent"]}
    }"#;

    fn info(json: &str) -> bollard::models::SystemInfo {
        serde_json::from_str(json).unwrap()
    }

    fn platform(json: &str) -> Result<Platform, String> {
        let info = info(json);
        platform_of(
            info.os_type.as_deref(),
            info.isolation.as_ref().map(|i| i.as_ref()),
        )
    }

    #[test]
    fn the_platform_is_read_from_the_engines_info() {
        assert_eq!(
            platform(WINDOWS_SERVER_INFO),
            Ok(Platform::Windows {
                isolation: Isolation::Process
            })
        );
        let desktop =
            WINDOWS_SERVER_INFO.replace(r#""Isolation": "process""#, r#""Isolation": "hyperv""#);
        assert_eq!(
            platform(&desktop),
            Ok(Platform::Windows {
                isolation: Isolation::HyperV
            })
        );
        let linux = r#"{"OSType": "linux", "Isolation": "", "Driver": "overlay2"}"#;
        assert_eq!(platform(linux), Ok(Platform::Linux));
        // An engine that does not say, or says what this does not know: refused.
        assert!(platform("{}").unwrap_err().contains("OSType"));
        assert!(platform(r#"{"OSType": "plan9"}"#)
            .unwrap_err()
            .contains("`plan9`"));
    }

    #[test]
    fn a_linux_engine_holds_every_rule() {
        assert_eq!(
            check_platform(&policy(), "default", &Platform::Linux),
            Ok(())
        );
    }

    /// Each setting of the policy is applied, not applicable (and said so), or
    /// denied with why: none is left out.
    #[test]
    fn on_windows_each_setting_has_an_outcome() {
        let mut p = policy();
        p.read_only_rootfs = true;
        let outcomes = on_windows(&p, Isolation::Process);
        let of = |name: &str| {
            outcomes
                .iter()
                .find(|(s, _)| *s == name)
                .map(|(_, o)| o.clone())
                .unwrap_or_else(|| panic!("no outcome for {name}"))
        };
        assert_eq!(of("memory"), Outcome::Applied);
        assert_eq!(of("cpus"), Outcome::Applied);
        assert!(matches!(of("pids"), Outcome::Denied(w) if w.contains("processes")));
        assert!(matches!(of("team network"), Outcome::Denied(w) if w.contains("nat")));
        assert!(matches!(of("user"), Outcome::Denied(_)));
        assert!(matches!(of("read_only_rootfs"), Outcome::Denied(_)));
        assert!(matches!(of("capabilities"), Outcome::NotApplicable(_)));
        assert!(matches!(of("no-new-privileges"), Outcome::NotApplicable(_)));
        assert!(matches!(of("isolation"), Outcome::NotApplicable(w) if w.contains("kernel")));
        // Without a read-only root asked for, it is not among them.
        let outcomes = on_windows(&policy(), Isolation::HyperV);
        assert!(outcomes.iter().all(|(s, _)| *s != "read_only_rootfs"));
        assert!(outcomes.contains(&("isolation", Outcome::Applied)));
    }

    #[test]
    fn a_windows_engine_is_refused_with_each_reason() {
        let p = policy();
        let windows = platform(WINDOWS_SERVER_INFO).unwrap();
        let denial = check_platform(&p, "win", &windows).unwrap_err();
        assert_eq!(denial.rule, "platform");
        for named in [
            "engine `win`",
            "team network:",
            "pids:",
            "user:",
            "Linux engine",
        ] {
            assert!(denial.reason.contains(named), "{named}: {}", denial.reason);
        }
        // What is only not applicable is not given as a reason.
        assert!(!denial.reason.contains("capabilities"), "{}", denial.reason);
    }
}
