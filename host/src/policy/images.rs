//! Which images, tags and plugins a team may use: glob patterns on normalised
//! references.

use super::team::{Decision, Denial, TeamPolicy};

/// Whether `text` matches `pattern` as a whole, where `*` matches any run of
/// characters (`/` included, so `blue/*` covers `blue/a/b:1`) and `?` any one.
///
/// ```
/// use dockwright::policy::glob_match;
/// assert!(glob_match("blue/*", "blue/a/b:1"));
/// assert!(glob_match("web:v?", "web:v2"));
/// assert!(!glob_match("blue/*", "red/web:1"));
/// ```
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

/// Whether the team may run workflows on the engine named `engine`.
pub fn check_engine(p: &TeamPolicy, engine: &str) -> Decision {
    if p.engines.iter().any(|pat| glob_match(pat, engine)) {
        Ok(())
    } else {
        Err(not_listed(p, "engines", "engine", engine, &p.engines))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::fixtures::*;

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
    fn engines() {
        let p = TeamPolicy {
            engines: vec!["default".into(), "build-*".into()],
            ..team()
        };
        let cases = [
            ("default", None),
            ("build-1", None),
            ("prod", Some("engines")),
        ];
        for (engine, want) in cases {
            expect(check_engine(&p, engine), want, engine);
        }
        assert!(check_engine(&team(), "anything").is_ok());
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
}
