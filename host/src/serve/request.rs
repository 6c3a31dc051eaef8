//! Reading what a client sent: the body of `POST /v1/runs` and query flags. Pure,
//! so every mistake a client can make is unit-tested with the message it gets,
//! which names the field at fault.

use serde_json::Value;

/// A request to start a run, checked for shape (not yet against the plugins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunRequest {
    pub workflow: String,
    pub plugin: Option<String>,
    /// The engine to run on, by its name in the config; none is the default.
    pub engine: Option<String>,
    /// In the order the client wrote them.
    pub params: Vec<(String, String)>,
    /// Plan the run instead: show its writes, make none.
    pub plan: bool,
}

/// Parse the JSON body of `POST /v1/runs`: `{"workflow": "...", "plugin": "...",
/// "params": {"name": "value"}}`. Param values may be strings, numbers or booleans
/// (taken as their text, since PowerShell and hand-written JSON send `8080`, not
/// `"8080"`); anything else, an unknown field or a missing workflow is refused.
pub fn parse_run(body: &[u8]) -> Result<RunRequest, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(
            "the body is empty: send a JSON object such as {\"workflow\": \"team-env\", \"params\": {}}"
                .into(),
        );
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    let Value::Object(fields) = value else {
        return Err(format!(
            "the body must be a JSON object with `workflow` and `params`, not {}",
            kind(&value)
        ));
    };
    for key in fields.keys() {
        if !matches!(
            key.as_str(),
            "workflow" | "plugin" | "engine" | "params" | "plan"
        ) {
            let hint = crate::util::suggest::closest(
                key,
                ["workflow", "plugin", "engine", "params", "plan"],
            )
            .map(|c| format!(" (did you mean `{c}`?)"))
            .unwrap_or_default();
            return Err(format!(
                "unknown field `{key}`{hint}: the fields are `workflow`, `plugin`, `engine`, `params` and `plan`"
            ));
        }
    }
    let workflow = match fields.get("workflow") {
        Some(Value::String(w)) if !w.trim().is_empty() => w.trim().to_string(),
        Some(Value::String(_)) => return Err("field `workflow` is empty: name a workflow".into()),
        Some(other) => return Err(expected("workflow", "a string", other)),
        None => return Err("field `workflow` is missing: name the workflow to run".into()),
    };
    let plugin = match fields.get("plugin") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.trim().is_empty() => None,
        Some(Value::String(p)) => Some(p.trim().to_string()),
        Some(other) => return Err(expected("plugin", "a string", other)),
    };
    let engine = match fields.get("engine") {
        None | Some(Value::Null) => None,
        Some(Value::String(e)) if e.trim().is_empty() => None,
        Some(Value::String(e)) => Some(e.trim().to_string()),
        Some(other) => return Err(expected("engine", "a string", other)),
    };
    let params = match fields.get("params") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| param_text(k, v).map(|text| (k.clone(), text)))
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(expected("params", "an object of name: value", other)),
    };
    let plan = match fields.get("plan") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => return Err(expected("plan", "true or false", other)),
    };
    Ok(RunRequest {
        workflow,
        plugin,
        engine,
        params,
        plan,
    })
}

fn param_text(name: &str, value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(expected(
            &format!("params.{name}"),
            "a string, number or boolean",
            other,
        )),
    }
}

fn expected(field: &str, what: &str, found: &Value) -> String {
    format!("field `{field}` must be {what}, not {}", kind(found))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A yes/no query parameter such as `?wait=false`; absent is `default`.
pub fn flag(name: &str, value: Option<&str>, default: bool) -> Result<bool, String> {
    match value.map(str::trim) {
        None => Ok(default),
        Some("true" | "1" | "yes" | "") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(other) => Err(format!(
            "query parameter `{name}` must be true or false, not `{other}`"
        )),
    }
}

/// A run id as the host makes them (hex); anything else cannot name a run, and
/// is never passed on to the engine as a label filter.
pub fn plausible_run_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn good_bodies() {
        let r = parse_run(
            br#"{"workflow": "team-env", "params": {"team": "blue", "port": 8080, "tls": false}}"#,
        )
        .unwrap();
        assert_eq!(r.workflow, "team-env");
        assert_eq!(r.plugin, None);
        assert_eq!(
            r.params,
            [
                ("team".to_string(), "blue".to_string()),
                ("port".into(), "8080".into()),
                ("tls".into(), "false".into())
            ]
        );
        let r = parse_run(br#"{"workflow": " ps ", "plugin": "inventory"}"#).unwrap();
        assert_eq!(
            (r.workflow.as_str(), r.plugin.as_deref()),
            ("ps", Some("inventory"))
        );
        assert!(r.params.is_empty());
        let r = parse_run(br#"{"workflow": "ps", "plugin": null, "params": null}"#).unwrap();
        assert_eq!((r.plugin, r.engine), (None, None));
        let r = parse_run(br#"{"workflow": "ps", "engine": " build "}"#).unwrap();
        assert_eq!(r.engine.as_deref(), Some("build"));
    }

    #[test]
    fn bad_bodies_name_the_field() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "the body is empty"),
            (b"  \n", "the body is empty"),
            (b"{", "not valid JSON"),
            (b"{\"workflow\": \"a\",}", "not valid JSON"),
            (b"[1]", "must be a JSON object"),
            (b"\"ps\"", "not a string"),
            (b"{}", "field `workflow` is missing"),
            (
                br#"{"workflow": 3}"#,
                "field `workflow` must be a string, not a number",
            ),
            (br#"{"workflow": ""}"#, "field `workflow` is empty"),
            (
                br#"{"workflow": "a", "plugin": 1}"#,
                "field `plugin` must be a string",
            ),
            (
                br#"{"workflow": "a", "engine": ["a", "b"]}"#,
                "field `engine` must be a string, not an array",
            ),
            (
                br#"{"workflow": "a", "engines": "a"}"#,
                "unknown field `engines` (did you mean `engine`?)",
            ),
            (
                br#"{"workflow": "a", "params": []}"#,
                "field `params` must be an object",
            ),
            (
                br#"{"workflow": "a", "params": "x=1"}"#,
                "field `params` must be an object of name: value, not a string",
            ),
            (
                br#"{"workflow": "a", "params": {"team": null}}"#,
                "field `params.team` must be a string, number or boolean, not null",
            ),
            (
                br#"{"workflow": "a", "params": {"x": {"y": 1}}}"#,
                "field `params.x`",
            ),
            (
                br#"{"workflow": "a", "param": {}}"#,
                "unknown field `param` (did you mean `params`?)",
            ),
        ];
        for (body, words) in cases {
            let err = parse_run(body).unwrap_err();
            assert!(
                err.contains(words),
                "{}\nwants {words}\n=> {err}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn flags() {
        assert_eq!(flag("wait", None, true), Ok(true));
        assert_eq!(flag("wait", Some("false"), true), Ok(false));
        assert_eq!(flag("wait", Some("0"), true), Ok(false));
        assert_eq!(flag("wait", Some("true"), false), Ok(true));
        let err = flag("wait", Some("later"), true).unwrap_err();
        assert!(err.contains("`wait`") && err.contains("`later`"), "{err}");
    }

    #[test]
    fn run_ids() {
        assert!(plausible_run_id("019ab3f0c1d2e3f4a"));
        for bad in ["", "x", "abc,label=x", &"a".repeat(65), "../etc"] {
            assert!(!plausible_run_id(bad), "{bad}");
        }
    }
}
