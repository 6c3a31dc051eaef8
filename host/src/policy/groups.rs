//! Permission groups: the contract's Docker operations in groups people can read,
//! and sets of them (a plugin's permission manifest, a team's cap). Pure data: the
//! rules about them are in [`super::permissions`].

use std::collections::BTreeSet;
use std::fmt;

/// A group of Docker operations, named so people can read a manifest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    Containers,
    Observe,
    Exec,
    Images,
    Build,
    Commit,
    EngineInfo,
    /// The `services` interface: Swarm services.
    Services,
}

impl Group {
    pub const ALL: [Group; 8] = [
        Group::Containers,
        Group::Observe,
        Group::Exec,
        Group::Images,
        Group::Build,
        Group::Commit,
        Group::EngineInfo,
        Group::Services,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Group::Containers => "containers",
            Group::Observe => "observe",
            Group::Exec => "exec",
            Group::Images => "images",
            Group::Build => "build",
            Group::Commit => "commit",
            Group::EngineInfo => "engine-info",
            Group::Services => "services",
        }
    }

    /// The contract functions in the group.
    pub fn functions(self) -> &'static [&'static str] {
        match self {
            Group::Containers => &[
                "create-container",
                "create-container-with",
                "start-container",
                "stop-container",
                "kill-container",
                "remove-container",
                "wait-container",
                "inspect-container",
                "list-containers",
            ],
            Group::Observe => &["container-logs", "top", "stats", "wait-ready"],
            Group::Exec => &["exec"],
            Group::Images => &["list-images", "pull-image"],
            Group::Build => &["build-image"],
            Group::Commit => &["commit-container"],
            Group::EngineInfo => &["engine-info"],
            Group::Services => &[
                "create-service",
                "inspect-service",
                "list-services",
                "scale-service",
                "update-service-image",
                "wait-service",
                "service-logs",
                "remove-service",
            ],
        }
    }

    /// The group a `docker` or `services` function of the contract belongs to.
    pub fn of_function(function: &str) -> Option<Group> {
        Group::ALL
            .into_iter()
            .find(|g| g.functions().contains(&function))
    }

    pub fn parse(name: &str) -> Result<Group, String> {
        Group::ALL
            .into_iter()
            .find(|g| g.name() == name)
            .ok_or_else(|| {
                format!(
                    "`{name}` is not a permission group; the groups are {}",
                    Permissions::all()
                )
            })
    }
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A set of groups: a plugin's manifest, or a team's cap.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions(BTreeSet<Group>);

impl Permissions {
    pub fn all() -> Permissions {
        Permissions(Group::ALL.into_iter().collect())
    }

    pub fn none() -> Permissions {
        Permissions::default()
    }

    /// The groups of the `docker` functions a component imports. Names that are
    /// not functions of the contract (a newer contract's) count for nothing: the
    /// linker refuses those components anyway.
    pub fn from_functions<'a>(functions: impl IntoIterator<Item = &'a str>) -> Permissions {
        Permissions(
            functions
                .into_iter()
                .filter_map(Group::of_function)
                .collect(),
        )
    }

    pub fn from_groups(groups: impl IntoIterator<Item = Group>) -> Permissions {
        Permissions(groups.into_iter().collect())
    }

    /// Groups by name, as a manifest or a policy writes them.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Permissions, String> {
        names
            .into_iter()
            .map(Group::parse)
            .collect::<Result<BTreeSet<_>, _>>()
            .map(Permissions)
    }

    pub fn contains(&self, group: Group) -> bool {
        self.0.contains(&group)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn intersect(&self, other: &Permissions) -> Permissions {
        Permissions(self.0.intersection(&other.0).copied().collect())
    }

    /// The groups of `self` that `other` lacks.
    pub fn minus(&self, other: &Permissions) -> Permissions {
        Permissions(self.0.difference(&other.0).copied().collect())
    }

    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|g| g.name().to_string()).collect()
    }
}

impl fmt::Display for Permissions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("none");
        }
        let names: Vec<&str> = self.0.iter().map(|g| g.name()).collect();
        f.write_str(&names.join(", "))
    }
}
