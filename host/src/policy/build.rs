//! Where a team's build contexts may come from.

use std::path::{Component, Path};

use super::team::{Decision, Denial, TeamPolicy};

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::fixtures::*;
    use std::path::PathBuf;

    #[test]
    fn build_contexts() {
        // The team's roots and the cases, absolute as this platform has it (on
        // Windows, on drive C:).
        let abs = |path: &str| -> PathBuf {
            match path.strip_prefix('/') {
                Some(rest) if cfg!(windows) => {
                    PathBuf::from(format!("C:\\{rest}").replace('/', "\\"))
                }
                _ => PathBuf::from(path),
            }
        };
        let team = || TeamPolicy {
            build_roots: team()
                .build_roots
                .iter()
                .map(|r| abs(&r.to_string_lossy()))
                .collect(),
            ..team()
        };
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
            expect(check_build_context(&p, &abs(path)), want, path);
        }
        let none = TeamPolicy {
            build_roots: vec![],
            ..team()
        };
        expect(
            check_build_context(&none, &abs("/srv/blue")),
            Some("build_roots"),
            "no roots",
        );
        // A relative root never matches: it cannot be compared with a canonical path.
        let relative = TeamPolicy {
            build_roots: vec!["srv".into()],
            ..team()
        };
        expect(
            check_build_context(&relative, &abs("/srv")),
            Some("build_roots"),
            "relative root",
        );
    }
}
