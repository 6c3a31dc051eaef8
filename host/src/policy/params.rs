//! Workflow params: parsing `key=value` from the command line and checking what the
//! user gave against what the workflow declares, before any plugin code runs.

use serde::{Deserialize, Serialize};

use crate::util::suggest;

/// A param as a workflow declares it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamSpec {
    pub name: String,
    pub description: String,
    pub required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
}

/// Parse one `key=value`. The value may contain `=`; the key may not be empty.
pub fn parse_assignment(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.to_string())),
        Some(_) => Err(format!("`{s}` has no name before `=`: write name=value")),
        None => Err(format!("`{s}` is not name=value: write it as {s}=<value>")),
    }
}

/// The params to hand the plugin: every declared param the user gave, plus the
/// defaults of those they did not, in declaration order. Fails on an unknown or
/// repeated param, or a missing required one, naming it.
pub fn resolve(
    workflow: &str,
    specs: &[ParamSpec],
    given: &[(String, String)],
) -> Result<Vec<(String, String)>, String> {
    for (i, (key, _)) in given.iter().enumerate() {
        if given[..i].iter().any(|(k, _)| k == key) {
            return Err(format!("param `{key}` is given twice: give it once"));
        }
        if !specs.iter().any(|s| &s.name == key) {
            return Err(unknown_param(workflow, specs, key));
        }
    }
    let mut out = Vec::with_capacity(specs.len());
    for spec in specs {
        match given.iter().find(|(k, _)| k == &spec.name) {
            Some((k, v)) => out.push((k.clone(), v.clone())),
            None => match &spec.default {
                Some(d) => out.push((spec.name.clone(), d.clone())),
                None if spec.required => return Err(missing_param(workflow, spec)),
                None => {}
            },
        }
    }
    Ok(out)
}

fn unknown_param(workflow: &str, specs: &[ParamSpec], key: &str) -> String {
    let names: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
    let mut msg = format!("workflow `{workflow}` has no param `{key}`");
    if let Some(close) = suggest::closest(key, names.iter().copied()) {
        msg.push_str(&format!("; did you mean `{close}`?"));
    }
    if names.is_empty() {
        msg.push_str(" (it takes no params)");
    } else {
        msg.push_str(&format!(" (its params: {})", names.join(", ")));
    }
    msg
}

fn missing_param(workflow: &str, spec: &ParamSpec) -> String {
    let mut msg = format!(
        "workflow `{workflow}` needs param `{}`: pass -p {}=<value>",
        spec.name, spec.name
    );
    if !spec.description.is_empty() {
        msg.push_str(&format!(" ({})", spec.description));
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, required: bool, default: Option<&str>) -> ParamSpec {
        ParamSpec {
            name: name.into(),
            description: format!("the {name}"),
            required,
            default: default.map(Into::into),
        }
    }

    fn given(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn assignments_parse() {
        assert_eq!(parse_assignment("a=b").unwrap(), ("a".into(), "b".into()));
        assert_eq!(
            parse_assignment("a=b=c").unwrap(),
            ("a".into(), "b=c".into())
        );
        assert_eq!(parse_assignment("a=").unwrap(), ("a".into(), "".into()));
        assert!(parse_assignment("=b").unwrap_err().contains("no name"));
        assert!(parse_assignment("ab").unwrap_err().contains("name=value"));
    }

    #[test]
    fn resolution_table() {
        let specs = [
            spec("team", true, None),
            spec("image", false, Some("web")),
            spec("port", false, None),
        ];
        type Pairs = &'static [(&'static str, &'static str)];
        let cases: &[(Pairs, Result<Pairs, &str>)] = &[
            (&[("team", "a")], Ok(&[("team", "a"), ("image", "web")])),
            (
                &[("port", "80"), ("team", "a"), ("image", "x")],
                Ok(&[("team", "a"), ("image", "x"), ("port", "80")]),
            ),
            (
                &[],
                Err("needs param `team`: pass -p team=<value> (the team)"),
            ),
            (&[("team", "a"), ("tema", "b")], Err("no param `tema`")),
            (&[("team", "a"), ("team", "b")], Err("given twice")),
        ];
        for (input, want) in cases {
            let got = resolve("wf", &specs, &given(input));
            match want {
                Ok(pairs) => assert_eq!(got.unwrap(), given(pairs), "{input:?}"),
                Err(text) => {
                    let err = got.unwrap_err();
                    assert!(err.contains(text), "{input:?}: {err}");
                }
            }
        }
    }

    #[test]
    fn unknown_params_suggest_and_list() {
        let specs = [spec("team", true, None), spec("image", false, None)];
        let err = resolve("wf", &specs, &given(&[("tem", "x")])).unwrap_err();
        assert!(err.contains("did you mean `team`"), "{err}");
        assert!(err.contains("its params: team, image"), "{err}");
        let err = resolve("wf", &[], &given(&[("x", "1")])).unwrap_err();
        assert!(err.contains("takes no params"), "{err}");
    }
}
