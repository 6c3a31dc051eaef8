//! Which version of the `dockwright:plugin` contract a component was built against,
//! and whether this host can run it.
//!
//! The rule is semver as cargo reads it: this host implements version
//! [`CONTRACT_VERSION`](crate::contract::bindings::CONTRACT_VERSION) and runs components built
//! against any version with the same leftmost non-zero part (`0.1.x` while the
//! major version is 0) that is not newer than its own. Additions to the contract
//! bump the last part; anything that removes or changes a function or a type bumps
//! the leftmost non-zero part.

use crate::contract::bindings::CONTRACT_VERSION;

/// The contract's package name.
pub const PACKAGE: &str = "dockwright:plugin";

/// A version as (major, minor, patch).
pub type Version = (u64, u64, u64);

pub fn parse_version(text: &str) -> Option<Version> {
    let core = text.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    let v = (parts.next()??, parts.next()??, parts.next()??);
    parts.next().is_none().then_some(v)
}

pub fn host_version() -> Version {
    parse_version(CONTRACT_VERSION).expect("CONTRACT_VERSION is a version")
}

/// What this host accepts, for messages: `0.1.x up to 0.1.3`.
pub fn accepted() -> String {
    let (major, minor, _) = host_version();
    if major == 0 {
        format!("{major}.{minor}.x up to {CONTRACT_VERSION}")
    } else {
        format!("{major}.x up to {CONTRACT_VERSION}")
    }
}

/// Whether a plugin built against `plugin` runs on this host.
pub fn compatible(plugin: Version) -> bool {
    let host = host_version();
    let same_line = if host.0 == 0 {
        plugin.0 == 0 && plugin.1 == host.1
    } else {
        plugin.0 == host.0
    };
    same_line && plugin <= host
}

/// The contract versions named by a component's imports and exports, such as
/// `dockwright:plugin/docker@0.1.0`, without repeats.
pub fn versions_named<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    let prefix = format!("{PACKAGE}/");
    let mut out: Vec<String> = Vec::new();
    for name in names {
        let Some(rest) = name.strip_prefix(&prefix) else {
            continue;
        };
        let version = rest
            .split_once('@')
            .map_or("unversioned", |(_, v)| v)
            .to_string();
        if !out.contains(&version) {
            out.push(version);
        }
    }
    out
}

/// Why a component that did not link is not a plugin for this host, in words that
/// say which contract it targets and which this host accepts.
pub fn explain_mismatch(imports: &[String], exports: &[String]) -> String {
    let names = imports.iter().chain(exports).map(String::as_str);
    let versions = versions_named(names);
    let workflows = format!("{PACKAGE}/workflows");
    let exports_workflows = exports.iter().any(|e| e.starts_with(&workflows));
    match versions.as_slice() {
        [] => format!(
            "it does not use the {PACKAGE} contract (it exports {}): build it for the `plugin` world of wit/dockwright.wit",
            if exports.is_empty() { "nothing".to_string() } else { exports.join(", ") }
        ),
        [v] if parse_version(v).is_some_and(compatible) && !exports_workflows => format!(
            "it targets contract {PACKAGE}@{v} but does not export `{workflows}`: build it for the `plugin` world, not another"
        ),
        [v] if parse_version(v).is_some_and(compatible) => format!(
            "it targets contract {PACKAGE}@{v}, which this host accepts, but asks for something the host does not provide"
        ),
        [v] => format!(
            "it targets contract {PACKAGE}@{v}; this host accepts {}: rebuild the plugin against this host's wit/ (or run it with a dockwright that implements {v})",
            accepted()
        ),
        many => format!(
            "it mixes contract versions {}; this host accepts {}",
            many.join(", "),
            accepted()
        ),
    }
}

/// The import and export names of a compiled component.
pub fn names(
    engine: &wasmtime::Engine,
    component: &wasmtime::component::Component,
) -> (Vec<String>, Vec<String>) {
    let ty = component.component_type();
    let imports = ty.imports(engine).map(|(n, _)| n.to_string()).collect();
    let exports = ty.exports(engine).map(|(n, _)| n.to_string()).collect();
    (imports, exports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("0.1.0"), Some((0, 1, 0)));
        assert_eq!(parse_version("1.2.3-rc.1"), Some((1, 2, 3)));
        assert_eq!(parse_version("1.2"), None);
        assert_eq!(parse_version("1.2.3.4"), None);
        assert_eq!(parse_version("x.1.0"), None);
    }

    #[test]
    fn compatibility_follows_semver() {
        let (major, minor, patch) = host_version();
        assert!(compatible((major, minor, patch)));
        assert!(compatible((major, minor, 0)));
        assert!(
            !compatible((major, minor, patch + 1)),
            "newer than the host"
        );
        assert!(!compatible((major, minor + 1, 0)));
        assert!(!compatible((major + 1, 0, 0)));
    }

    #[test]
    fn versions_named_by_a_component() {
        let names = [
            "wasi:cli/environment@0.2.6",
            "dockwright:plugin/docker@0.1.0",
            "dockwright:plugin/host@0.1.0",
            "dockwright:plugin/types",
        ];
        assert_eq!(versions_named(names), ["0.1.0", "unversioned"]);
    }

    #[test]
    fn mismatches_are_explained() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let msg = explain_mismatch(
            &s(&["dockwright:plugin/docker@0.2.0"]),
            &s(&["dockwright:plugin/workflows@0.2.0"]),
        );
        assert!(
            msg.contains("targets contract dockwright:plugin@0.2.0")
                && msg.contains("accepts 0.1.x"),
            "{msg}"
        );
        let msg = explain_mismatch(&[], &s(&["wasi:cli/run@0.2.0"]));
        assert!(
            msg.contains("does not use the dockwright:plugin contract")
                && msg.contains("wasi:cli/run"),
            "{msg}"
        );
        let msg = explain_mismatch(&[], &[]);
        assert!(msg.contains("exports nothing"), "{msg}");
        let msg = explain_mismatch(&s(&["dockwright:plugin/docker@0.1.0"]), &[]);
        assert!(
            msg.contains("does not export `dockwright:plugin/workflows`"),
            "{msg}"
        );
    }
}
