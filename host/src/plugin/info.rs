//! What a plugin says it offers when asked to `describe` itself, checked: the form
//! the catalog, the cache and the CLI work with.

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::contract::bindings::workflows::PluginInfo as WitInfo;
use crate::policy::params::ParamSpec;
use crate::policy::Permissions;

/// What a plugin says it offers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginInfo {
    pub name: String,
    pub version: String,
    pub description: String,
    pub workflows: Vec<WorkflowInfo>,
    /// The permission manifest: the groups of Docker operations it may call.
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkflowInfo {
    pub name: String,
    pub description: String,
    pub params: Vec<ParamSpec>,
}

impl PluginInfo {
    /// The permission manifest as a set. The names were checked when the plugin
    /// was described (and the cache is keyed by this host's version).
    pub fn manifest(&self) -> Permissions {
        Permissions::parse(self.permissions.iter().map(String::as_str)).unwrap_or_default()
    }

    /// Check and convert what `describe` returned; `permissions` is the manifest
    /// read off the component.
    pub fn from_describe(wit: WitInfo, permissions: &Permissions) -> Result<PluginInfo> {
        let name_ok = |n: &str| {
            !n.is_empty()
                && n.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        if !name_ok(&wit.name) {
            bail!(
                "its name `{}` is not valid: use letters, digits, `-`, `_` and `.`",
                wit.name
            );
        }
        let mut workflows: Vec<WorkflowInfo> = Vec::new();
        for w in wit.workflows {
            if !name_ok(&w.name) {
                bail!("its workflow name `{}` is not valid", w.name);
            }
            if workflows.iter().any(|x| x.name == w.name) {
                bail!("it declares workflow `{}` twice", w.name);
            }
            let params: Vec<ParamSpec> = w
                .params
                .into_iter()
                .map(|p| ParamSpec {
                    name: p.name,
                    description: p.description,
                    required: p.required,
                    default: p.default,
                })
                .collect();
            workflows.push(WorkflowInfo {
                name: w.name,
                description: w.description,
                params,
            });
        }
        Ok(PluginInfo {
            name: wit.name,
            version: wit.version,
            description: wit.description,
            workflows,
            permissions: permissions.names(),
        })
    }
}
