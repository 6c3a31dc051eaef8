//! Merging a team with `[defaults]` and the built-in policy: a team's key wins over
//! `[defaults]`, which wins over [`default_team`]; tables merge key by key, arrays are
//! replaced whole. The rules that span keys (a default above its max) are checked here.

use super::*;
use crate::policy::lifetime::{self, Lifetime};

pub(super) struct Merge<'a> {
    pub(super) file: &'a Source<'a>,
    pub(super) name: &'a str,
    pub(super) team: &'a RawTeam,
    pub(super) defaults: &'a RawTeam,
    /// The config file's folder, which relative paths are read from.
    pub(super) folder: &'a Path,
}

impl Merge<'_> {
    pub(super) fn policy(&self, cwd: &Path) -> anyhow::Result<TeamPolicy> {
        let name = self.name;
        check_team(name).map_err(|e| self.file.error(&["teams", name], &e))?;
        let base = default_team(name, cwd);
        let (team, defaults) = (self.team, self.defaults);
        let pick = |f: fn(&RawTeam) -> Option<&Vec<String>>, base: Vec<String>| {
            f(team).or(f(defaults)).cloned().unwrap_or(base)
        };
        let count = |f: fn(&RawTeam) -> Option<Count>, base: u32| {
            f(team).or(f(defaults)).map_or(base, |c| c.0)
        };

        let memory = self.limit(
            "memory",
            |t| t.memory.as_ref(),
            |s: &Size| s.0,
            base.memory_bytes,
            |b| format_size(*b),
        )?;
        let cpus = self.limit(
            "cpus",
            |t| t.cpus.as_ref(),
            |c: &Cpus| c.0,
            base.cpus,
            |c| c.to_string(),
        )?;
        let pids = self.limit(
            "pids",
            |t| t.pids.as_ref(),
            |c: &Count| c.0,
            base.pids,
            |p| p.to_string(),
        )?;
        let plugin_limit = |f: fn(&RawPluginLimits) -> Option<u64>| {
            let from = |t: &RawTeam| t.plugin_limits.as_ref().and_then(f);
            from(team).or(from(defaults))
        };
        let timeout = {
            let from = |t: &RawTeam| t.plugin_limits.as_ref().and_then(|l| l.timeout);
            from(team)
                .or(from(defaults))
                .map_or(base.limits.timeout, |d| d.0)
        };

        Ok(TeamPolicy {
            name: name.to_string(),
            images: pick(|t| t.images.as_ref(), base.images),
            max_containers: count(|t| t.max_containers, base.max_containers),
            max_running: count(|t| t.max_running, base.max_running),
            max_containers_per_user: team
                .max_containers_per_user
                .or(defaults.max_containers_per_user)
                .map(|c| c.0)
                .or(base.max_containers_per_user),
            memory_bytes: memory,
            cpus,
            pids,
            host_ports: team
                .host_ports
                .as_ref()
                .or(defaults.host_ports.as_ref())
                .map_or(base.host_ports, |p| p.0.clone()),
            build_roots: self.build_roots(base.build_roots)?,
            tags: pick(|t| t.tags.as_ref(), base.tags),
            env: self.env()?,
            plugins: pick(|t| t.plugins.as_ref(), base.plugins),
            engines: pick(|t| t.engines.as_ref(), base.engines),
            exec_as_root: team
                .exec_as_root
                .or(defaults.exec_as_root)
                .unwrap_or(base.exec_as_root),
            build_network: team
                .build_network
                .or(defaults.build_network)
                .unwrap_or(base.build_network),
            build_unbounded_pids: team
                .build_unbounded_pids
                .or(defaults.build_unbounded_pids)
                .unwrap_or(base.build_unbounded_pids),
            capabilities: self.capabilities(base.capabilities)?,
            read_only_rootfs: team
                .read_only_rootfs
                .or(defaults.read_only_rootfs)
                .unwrap_or(base.read_only_rootfs),
            run_as_root: team
                .run_as_root
                .or(defaults.run_as_root)
                .unwrap_or(base.run_as_root),
            host_ips: self.host_ips(base.host_ips)?,
            permissions: team
                .permissions
                .as_ref()
                .or(defaults.permissions.as_ref())
                .map(|names| Permissions::from_groups(names.iter().map(|n| n.0)))
                .or(base.permissions),
            trusted_keys: team
                .trusted_keys
                .as_ref()
                .or(defaults.trusted_keys.as_ref())
                .map_or(base.trusted_keys, |keys| {
                    keys.iter().map(|k| k.0.clone()).collect()
                }),
            require_signed: team
                .require_signed
                .or(defaults.require_signed)
                .unwrap_or(base.require_signed),
            limits: PluginLimits {
                timeout,
                memory_bytes: plugin_limit(|l| l.memory.map(|s| s.0))
                    .unwrap_or(base.limits.memory_bytes),
                log_bytes: plugin_limit(|l| l.log.map(|s| s.0)).unwrap_or(base.limits.log_bytes),
            },
            lifetime: self.lifetime()?,
            webhook: team
                .webhook
                .as_ref()
                .or(defaults.webhook.as_ref())
                .map(|w| w.0.clone())
                .or(base.webhook),
        })
    }

    /// The lifetime rule, merged key by key: a table with only `default` has that as its
    /// max too, one with only `max` gives runs the max; the default no more than the max.
    fn lifetime(&self) -> anyhow::Result<Option<Lifetime>> {
        let field = |f: fn(&RawLifetime) -> Option<Age>| {
            let from = |t: &RawTeam| t.lifetime.as_ref().and_then(f);
            from(self.team).or(from(self.defaults)).map(|a| a.0)
        };
        if self.team.lifetime.is_none() && self.defaults.lifetime.is_none() {
            return Ok(None);
        }
        let (default, max) = match (field(|l| l.default), field(|l| l.max)) {
            (Some(d), Some(m)) => (d, m),
            (Some(d), None) => (d, d),
            (None, Some(m)) => (m, m),
            (None, None) => return Err(self.error(
                &["lifetime"],
                "a lifetime needs a default or a max, such as { default = \"8h\", max = \"7d\" }",
            )),
        };
        if default > max {
            return Err(self.error(
                &["lifetime", "default"],
                &format!(
                    "the default lifetime {} is more than the max {}; lower the default or raise the max",
                    lifetime::format(default),
                    lifetime::format(max)
                ),
            ));
        }
        Ok(Some(Lifetime {
            default,
            max,
            warn: field(|l| l.warn).unwrap_or(Lifetime::DEFAULT_WARN),
        }))
    }

    /// Where a key of this team came from: the team's table, `[defaults]`, or (None)
    /// the built-in policy.
    fn origin(&self, key: &[&str]) -> Option<Vec<String>> {
        let in_team: Vec<&str> = ["teams", self.name].iter().chain(key).copied().collect();
        let in_defaults: Vec<&str> = ["defaults"].iter().chain(key).copied().collect();
        [in_team, in_defaults]
            .into_iter()
            .find(|path| span_of(self.file.doc, path).is_some())
            .map(|path| path.into_iter().map(String::from).collect())
    }

    fn error(&self, key: &[&str], message: &str) -> anyhow::Error {
        match self.origin(key) {
            Some(path) => {
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                self.file.error(&path, message)
            }
            None => {
                let path: Vec<&str> = ["teams", self.name].iter().chain(key).copied().collect();
                self.file.error(&path, message)
            }
        }
    }

    /// A resource limit, merged field by field, with its default no more than its max.
    fn limit<R, T: Copy + PartialOrd>(
        &self,
        key: &str,
        get: impl Fn(&RawTeam) -> Option<&RawLimit<R>>,
        value: impl Fn(&R) -> T,
        base: Limit<T>,
        show: impl Fn(&T) -> String,
    ) -> anyhow::Result<Limit<T>> {
        let field = |f: fn(&RawLimit<R>) -> Option<&R>| {
            get(self.team)
                .and_then(f)
                .or_else(|| get(self.defaults).and_then(f))
                .map(&value)
        };
        let default = field(|l| l.default.as_ref()).unwrap_or(base.default);
        let max = field(|l| l.max.as_ref()).unwrap_or(base.max);
        if default <= max {
            return Ok(Limit { default, max });
        }
        let named = |field: &str| match self.origin(&[key, field]) {
            Some(path) => key_path(&path.iter().map(String::as_str).collect::<Vec<_>>()),
            None => "the built-in policy".to_string(),
        };
        // Blame the value the file sets: the default when it sets it, else the max.
        // A value in [defaults] clashes only for some teams, so name the team then.
        let blamed = if self.origin(&[key, "default"]).is_some() {
            "default"
        } else {
            "max"
        };
        let team = match self.origin(&[key, blamed]) {
            Some(path) if path[0] == "defaults" => format!(" for team `{}`", self.name),
            _ => String::new(),
        };
        let message = if blamed == "default" {
            format!(
                "the default {} is more than the max {} (from {}){team}; lower the default or raise the max",
                show(&default),
                show(&max),
                named("max")
            )
        } else {
            format!(
                "the max {} is less than the default {} (from {}){team}; raise the max or set a lower default",
                show(&max),
                show(&default),
                named("default")
            )
        };
        Err(self.error(&[key, blamed], &message))
    }

    /// `[defaults]` env with the team's over it, `{team}` replaced by the team's name.
    fn env(&self) -> anyhow::Result<Vec<(String, String)>> {
        let mut env = BTreeMap::new();
        for source in [self.defaults, self.team] {
            env.extend(source.env.iter().flatten());
        }
        env.into_iter()
            .map(|(key, value)| {
                // The engine splits `KEY=VALUE` at the first `=`.
                if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
                    return Err(self.error(
                        &["env", key.as_str()],
                        &format!(
                            "expected a variable name without `=` and a value, found {key:?} = {value:?}"
                        ),
                    ));
                }
                Ok((key.clone(), value.replace("{team}", self.name)))
            })
            .collect()
    }

    /// The capabilities the team's containers keep: names of the engine's default
    /// set (`CAP_` and case optional), never one beyond it.
    fn capabilities(&self, base: Vec<String>) -> anyhow::Result<Vec<String>> {
        let Some(names) = self
            .team
            .capabilities
            .as_ref()
            .or(self.defaults.capabilities.as_ref())
        else {
            return Ok(base);
        };
        let mut out = Vec::new();
        for name in names {
            let upper = name.to_ascii_uppercase();
            let cap = upper.strip_prefix("CAP_").unwrap_or(&upper);
            if !ENGINE_CAPABILITIES.contains(&cap) {
                return Err(self.error(
                    &["capabilities"],
                    &format!(
                        "expected capabilities a container has by default ({}), found {name:?}: dockwright never grants more than the engine's default",
                        ENGINE_CAPABILITIES.join(", ")
                    ),
                ));
            }
            if !out.iter().any(|c| c == cap) {
                out.push(cap.to_string());
            }
        }
        Ok(out)
    }

    /// The addresses published ports may bind.
    fn host_ips(&self, base: Vec<std::net::IpAddr>) -> anyhow::Result<Vec<std::net::IpAddr>> {
        let Some(ips) = self
            .team
            .host_ips
            .as_ref()
            .or(self.defaults.host_ips.as_ref())
        else {
            return Ok(base);
        };
        ips.iter()
            .map(|ip| {
                ip.parse().map_err(|_| {
                    self.error(
                        &["host_ips"],
                        &format!("expected IP addresses such as \"127.0.0.1\", found {ip:?}"),
                    )
                })
            })
            .collect()
    }

    /// The team's build roots, absolute (relative ones are taken from the config's
    /// folder) and canonical when they exist, so that they compare with the canonical
    /// context paths the host checks. One that does not exist is kept as written:
    /// nothing canonical lies below it until it is created.
    fn build_roots(&self, base: Vec<PathBuf>) -> anyhow::Result<Vec<PathBuf>> {
        let Some(roots) = self
            .team
            .build_roots
            .as_ref()
            .or(self.defaults.build_roots.as_ref())
        else {
            return Ok(base);
        };
        roots
            .iter()
            .enumerate()
            .map(|(i, root)| {
                if root.is_empty() {
                    // Placed at the list (the span finder knows keys, not items),
                    // named down to the item.
                    let list = self.origin(&["build_roots"]).unwrap_or_default();
                    let list: Vec<&str> = list.iter().map(String::as_str).collect();
                    let key = format!("{}[{i}]", key_path(&list));
                    return Err(self.file.error_at(
                        span_of(self.file.doc, &list),
                        Some(&key),
                        "expected a folder path, found \"\"",
                    ));
                }
                let path = self.folder.join(root);
                Ok(std::fs::canonicalize(&path).unwrap_or(path))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
