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
/// `"8080"`). Strict otherwise: an unknown field, a key written twice, `null` or an
/// empty name where a value is expected are refused, naming the field, because a
/// request read loosely runs something its sender did not mean.
/// The body of `POST /v1/runs/{id}/extend`: `{"by": "4h"}`.
pub fn parse_extend(body: &[u8]) -> Result<std::time::Duration, String> {
    const SHAPE: &str = "send a JSON object such as {\"by\": \"4h\"}";
    let text = body_text(body)?;
    if text.trim().is_empty() {
        return Err(format!("the body is empty: {SHAPE}"));
    }
    let value = crate::util::json::strict(text)?;
    let Value::Object(fields) = value else {
        return Err(format!("the body must be a JSON object: {SHAPE}"));
    };
    if let Some(key) = fields.keys().find(|k| k.as_str() != "by") {
        return Err(format!("unknown field `{key}`: the only field is `by`"));
    }
    match fields.get("by") {
        None => Err(format!("field `by` is missing: {SHAPE}")),
        Some(Value::String(by)) => crate::config::values::parse_age(by).ok_or_else(|| {
            format!(
                "`by` is not a duration: give one such as \"30m\", \"4h\" or \"2d\", not {by:?}"
            )
        }),
        Some(other) => Err(expected("by", "a duration such as \"4h\"", other)),
    }
}

pub fn parse_run(body: &[u8]) -> Result<RunRequest, String> {
    let text = body_text(body)?;
    if text.trim().is_empty() {
        return Err(
            "the body is empty: send a JSON object such as {\"workflow\": \"team-env\", \"params\": {}}"
                .into(),
        );
    }
    let value = crate::util::json::strict(text)?;
    let Value::Object(fields) = value else {
        return Err(format!(
            "the body must be a JSON object with `workflow` and `params`, not {}",
            kind(&value)
        ));
    };
    for key in fields.keys() {
        if !FIELDS.contains(&key.as_str()) {
            let hint = crate::util::suggest::closest(key, FIELDS)
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default();
            return Err(format!(
                "unknown field `{key}`{hint}: the fields are `workflow`, `plugin`, `engine`, `params` and `plan`"
            ));
        }
    }
    let workflow = name(&fields, "workflow", "name the workflow to run")?
        .ok_or("field `workflow` is missing: name the workflow to run")?;
    let plugin = name(&fields, "plugin", "leave it out, or name the plugin")?;
    let engine = name(
        &fields,
        "engine",
        "leave it out for the default engine, or name one of the config's [engines]",
    )?;
    let params = match fields.get("params") {
        None => Vec::new(),
        Some(Value::Object(map)) => map
            .iter()
            .map(|(k, v)| param(k, v).map(|text| (k.clone(), text)))
            .collect::<Result<_, _>>()?,
        Some(Value::Null) => return Err(null("params", "leave it out, or send {}")),
        Some(other) => return Err(expected("params", "an object of name: value", other)),
    };
    let plan = match fields.get("plan") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Null) => return Err(null("plan", "leave it out, or send true or false")),
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

const FIELDS: [&str; 5] = ["workflow", "plugin", "engine", "params", "plan"];

/// The body as text: UTF-8, with a byte-order mark (Windows PowerShell writes one with
/// `Out-File -Encoding utf8`) taken off. Anything else is named, with how to send UTF-8,
/// since the JSON error it would give says nothing of the cause.
pub fn body_text(body: &[u8]) -> Result<&str, String> {
    const POWERSHELL: &str = "from PowerShell, send the body as UTF-8 bytes: \
        `-ContentType 'application/json; charset=utf-8' -Body ([Text.Encoding]::UTF8.GetBytes($json))`";
    if body.starts_with(&[0xFF, 0xFE]) || body.starts_with(&[0xFE, 0xFF]) {
        return Err(format!(
            "the body is UTF-16 (it starts with a UTF-16 byte-order mark); this API reads UTF-8: {POWERSHELL}"
        ));
    }
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    std::str::from_utf8(body).map_err(|e| {
        let at = e.valid_up_to();
        format!(
            "the body is not UTF-8: byte {at} (0x{:02X}) cannot start a UTF-8 character, as in \
             text saved as Latin-1 or Windows-1252 (Windows PowerShell 5.1's default); this API \
             reads UTF-8: {POWERSHELL}",
            body[at]
        )
    })
}

/// A field that names something: absent is `None`; present, it must be a string with
/// more than blanks in it.
fn name(
    fields: &serde_json::Map<String, Value>,
    field: &str,
    what_to_do: &str,
) -> Result<Option<String>, String> {
    match fields.get(field) {
        None => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(format!("field `{field}` is empty: {what_to_do}"))
        }
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(Value::Null) => Err(null(field, what_to_do)),
        Some(other) => Err(expected(field, "a string", other)),
    }
}

fn null(field: &str, what_to_do: &str) -> String {
    format!("field `{field}` is null: {what_to_do}")
}

fn param(name: &str, value: &Value) -> Result<String, String> {
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

/// A yes/no query parameter such as `?wait=false`; absent is `default`. `true` and
/// `false` in any case (PowerShell prints `$false` as `False`), `1` and `0`, and the
/// bare name (`?wait`) for yes.
pub fn flag(name: &str, value: Option<&str>, default: bool) -> Result<bool, String> {
    let Some(value) = value.map(str::trim) else {
        return Ok(default);
    };
    if value.is_empty() || value == "1" || value.eq_ignore_ascii_case("true") {
        Ok(true)
    } else if value == "0" || value.eq_ignore_ascii_case("false") {
        Ok(false)
    } else {
        Err(format!(
            "query parameter `{name}` must be true or false (or 1 or 0), not `{value}`"
        ))
    }
}

/// The header a person names the team they act for with (see `caller`).
pub const TEAM_HEADER: &str = "x-dockwright-team";
/// The query parameter that does the same, for clients that cannot set headers;
/// every endpoint takes it.
pub const TEAM_PARAM: &str = "team";

/// A query string, decoded: each parameter once, and only those the endpoint takes,
/// so that a misspelt `?wiat=false` is an error rather than a run waited for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<Query, String> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
            .map_err(|e| format!("the query string cannot be read: {e}"))?;
        for (i, (key, _)) in pairs.iter().enumerate() {
            // Every endpoint takes the team a person acts for (see `caller`).
            let team = key == TEAM_PARAM;
            if !team && !allowed.contains(&key.as_str()) {
                let takes = match allowed {
                    [] => "this endpoint takes no query parameters".to_string(),
                    _ => format!(
                        "this endpoint takes {}",
                        allowed
                            .iter()
                            .map(|a| format!("`{a}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                };
                return Err(format!("unknown query parameter `{key}`: {takes}"));
            }
            if pairs[..i].iter().any(|(k, _)| k == key) {
                return Err(format!(
                    "query parameter `{key}` is given more than once: give it once"
                ));
            }
        }
        Ok(Query(pairs))
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The `Last-Event-ID` header: none is from the start; anything but a line number is
/// refused, an empty one too (an EventSource sends none before its first event), since
/// resuming from the start silently would repeat every line.
pub fn last_event_id(value: Option<&[u8]>) -> Result<u64, String> {
    let text = match value {
        None => return Ok(0),
        Some(bytes) => std::str::from_utf8(bytes).unwrap_or("\u{FFFD}").trim(),
    };
    if text.is_empty() {
        return Err(
            "header `Last-Event-ID` is empty: send the `id` of the last event \
                    received, or no header to start from the first line"
                .into(),
        );
    }
    // At most i64::MAX, as the API's schema says (the widest integer every client reads).
    text.parse::<u64>()
        .ok()
        .filter(|n| i64::try_from(*n).is_ok())
        .ok_or_else(|| {
        format!(
            "header `Last-Event-ID` must be the number of the last line received (an event's `id`), not `{}`",
            crate::util::text::inert(text)
        )
    })
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
        let r = parse_run(br#"{"workflow": "ps"}"#).unwrap();
        assert_eq!((r.plugin, r.engine, r.plan), (None, None, false));
        // A byte-order mark, as Windows PowerShell writes one, is taken off.
        let r = parse_run(b"\xEF\xBB\xBF{\"workflow\": \"ps\", \"params\": {\"t\": \"\xC3\xA9\"}}")
            .unwrap();
        assert_eq!(r.params, [("t".to_string(), "\u{e9}".to_string())]);
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
            (br#"{"workflow": null}"#, "field `workflow` is null"),
            (
                br#"{"workflow": "a", "plugin": null}"#,
                "field `plugin` is null",
            ),
            (
                br#"{"workflow": "a", "engine": null}"#,
                "field `engine` is null",
            ),
            (
                br#"{"workflow": "a", "params": null}"#,
                "field `params` is null",
            ),
            (
                br#"{"workflow": "a", "plan": null}"#,
                "field `plan` is null",
            ),
            (
                br#"{"workflow": "a", "plugin": " "}"#,
                "field `plugin` is empty",
            ),
            (
                br#"{"workflow": "a", "engine": ""}"#,
                "field `engine` is empty",
            ),
            (
                br#"{"workflow": "a", "workflow": "b"}"#,
                "key `workflow` is written more than once",
            ),
            (
                br#"{"workflow": "a", "params": {"team": "x", "team": "y"}}"#,
                "key `team` is written more than once in `params`",
            ),
            (
                b"{\"workflow\": \"caf\xE9\"}",
                "the body is not UTF-8: byte 17 (0xE9)",
            ),
            (b"{\"workflow\": \"caf\xE9\"}", "Windows PowerShell 5.1"),
            (b"\xFF\xFE{\x00}\x00", "the body is UTF-16"),
            (b"\xEF\xBB\xBF", "the body is empty"),
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
        for no in ["false", "False", "FALSE", "0", " false "] {
            assert_eq!(flag("wait", Some(no), true), Ok(false), "{no}");
        }
        for yes in ["true", "True", "TRUE", "1", ""] {
            assert_eq!(flag("wait", Some(yes), false), Ok(true), "{yes}");
        }
        for bad in ["later", "no", "yes", "2", "falsey"] {
            let err = flag("wait", Some(bad), true).unwrap_err();
            assert!(
                err.contains("`wait`") && err.contains(&format!("`{bad}`")),
                "{err}"
            );
        }
    }

    #[test]
    fn queries() {
        let q = Query::parse(Some("wait=False"), &["wait"]).unwrap();
        assert_eq!(q.get("wait"), Some("False"));
        assert_eq!(Query::parse(None, &["wait"]).unwrap().get("wait"), None);
        let q = Query::parse(Some("status=ok&limit=%32"), &["limit", "status"]).unwrap();
        assert_eq!((q.get("status"), q.get("limit")), (Some("ok"), Some("2")));
        let err = Query::parse(Some("wiat=false"), &["wait"]).unwrap_err();
        assert!(
            err.contains("unknown query parameter `wiat`") && err.contains("`wait`"),
            "{err}"
        );
        let err = Query::parse(Some("wait=1&wait=0"), &["wait"]).unwrap_err();
        assert!(err.contains("`wait` is given more than once"), "{err}");
        let err = Query::parse(Some("x=1"), &[]).unwrap_err();
        assert!(err.contains("takes no query parameters"), "{err}");
    }

    #[test]
    fn last_event_ids() {
        assert_eq!(last_event_id(None), Ok(0));
        assert_eq!(last_event_id(Some(b" 12 ")), Ok(12));
        assert_eq!(
            last_event_id(Some(b"9223372036854775807")),
            Ok(9_223_372_036_854_775_807)
        );
        for bad in [
            &b"abc"[..],
            b"",
            b" ",
            b"-1",
            b"1.5",
            b"\xFF",
            b"9223372036854775808",
        ] {
            let err = last_event_id(Some(bad)).unwrap_err();
            assert!(err.contains("`Last-Event-ID`"), "{err}");
        }
    }

    #[test]
    fn run_ids() {
        assert!(plausible_run_id("019ab3f0c1d2e3f4a"));
        for bad in ["", "x", "abc,label=x", &"a".repeat(65), "../etc"] {
            assert!(!plausible_run_id(bad), "{bad}");
        }
    }
}
