//! Record and replay. In a recorded run every host call is written down with its
//! arguments and the answer it got (`run --record`); a replayed run is answered from such
//! a recording without an engine (`test --replay`), where a call that differs from the
//! recording stops the run with a diff of the two. A cassette is the file a recording is
//! kept in (see `run::cassette`).
//!
//! The recording is kept as JSON values rather than typed: a cassette must stay readable
//! and diffable by people, and a call is compared by its arguments as they were written.

use std::sync::{Arc, Mutex, MutexGuard};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::contract::bindings::docker::DockerError;
use crate::policy::images::glob_match;
use crate::util::text;

/// What a redacted env value is written as.
pub const REDACTED: &str = "<redacted>";

/// One host call: what was asked and what came back (`{"Ok": ...}` or `{"Err": ...}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    pub op: String,
    pub args: Value,
    pub answer: Value,
}

/// A recording shared by a run (which plays or records it) and whoever started the run
/// (which reads it afterwards). Whether it is written or answered from is the run's
/// [`super::mode::Mode`], decided once.
pub type Shared = Arc<Mutex<Recording>>;

/// The calls of a run, in order.
#[derive(Debug, Default)]
pub struct Recording {
    /// Env names whose values are not written (globs, any case).
    pub redact: Vec<String>,
    calls: Vec<Call>,
    /// When replaying: the next call the recording answers.
    next: usize,
    /// When replaying: where the run left the recording, once it did.
    divergence: Option<Box<Divergence>>,
}

/// Where a replayed run left its recording.
#[derive(Debug, Clone, PartialEq)]
pub struct Divergence {
    /// The call's position, from 1.
    pub at: usize,
    /// The call the recording has there, if any.
    pub expected: Option<(String, Value)>,
    /// The call the plugin made there, if any.
    pub actual: Option<(String, Value)>,
}

impl Recording {
    /// An empty recording, to be written.
    pub fn new(redact: Vec<String>) -> Shared {
        Arc::new(Mutex::new(Recording {
            redact,
            ..Default::default()
        }))
    }

    /// A recording made earlier, to be answered from.
    pub fn of(calls: Vec<Call>, redact: Vec<String>) -> Shared {
        Arc::new(Mutex::new(Recording {
            redact,
            calls,
            ..Default::default()
        }))
    }

    /// The calls recorded so far (or, when replaying, the recording).
    pub fn calls(&self) -> &[Call] {
        &self.calls
    }

    /// When replaying: the first place the run left the recording, counting calls it
    /// never made (one too few) once the run is over.
    pub fn divergence(&self) -> Option<Divergence> {
        self.divergence.as_deref().cloned().or_else(|| {
            self.calls.get(self.next).map(|missing| Divergence {
                at: self.next + 1,
                expected: Some((missing.op.clone(), missing.args.clone())),
                actual: None,
            })
        })
    }

    /// Write down a call made on the engine.
    pub fn write<T: Serialize>(
        &mut self,
        op: &str,
        mut args: Value,
        answer: &Result<T, DockerError>,
    ) {
        redact_env(&mut args, &self.redact);
        let answer = serde_json::to_value(answer).unwrap_or_else(|e| {
            Value::String(format!("the answer could not be written down: {e}"))
        });
        self.calls.push(Call {
            op: op.to_string(),
            args,
            answer,
        });
    }

    /// The recorded answer to this call, or the divergence as an error that ends the run.
    pub fn answer<T: DeserializeOwned>(
        &mut self,
        op: &str,
        mut args: Value,
    ) -> anyhow::Result<Result<T, DockerError>> {
        if let Some(d) = &self.divergence {
            // The plugin went on after a divergence (it cannot: the call trapped); say so again.
            anyhow::bail!("{d}");
        }
        redact_env(&mut args, &self.redact);
        let at = self.next;
        let expected = self.calls.get(at);
        let same = expected.is_some_and(|c| c.op == op && c.args == args);
        if !same {
            let d = Divergence {
                at: at + 1,
                expected: expected.map(|c| (c.op.clone(), c.args.clone())),
                actual: Some((op.to_string(), args)),
            };
            let message = d.to_string();
            self.divergence = Some(Box::new(d));
            anyhow::bail!("{message}");
        }
        self.next += 1;
        let recorded = &self.calls[at];
        serde_json::from_value(recorded.answer.clone()).map_err(|e| {
            anyhow::anyhow!(
                "the cassette's answer to call {} ({op}) does not fit what {op} returns: {e}",
                at + 1
            )
        })
    }
}

/// Lock a shared recording; a run that panicked while holding it left nothing half-written
/// that matters (each change is one push), so a poisoned lock is used as it is.
pub fn lock(recording: &Shared) -> MutexGuard<'_, Recording> {
    recording
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl std::fmt::Display for Divergence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let show = |call: &Option<(String, Value)>| match call {
            Some((op, args)) => format!(
                "{op} {}\n",
                serde_json::to_string_pretty(args).unwrap_or_default()
            ),
            None => "(no call)\n".to_string(),
        };
        let what = match (&self.expected, &self.actual) {
            (None, _) => "one call more than the cassette has",
            (_, None) => "the run ended before this call",
            (Some((e, _)), Some((a, _))) if e != a => "another operation",
            _ => "other arguments",
        };
        writeln!(
            f,
            "replay: call {} differs from the cassette ({what}):",
            self.at
        )?;
        let (expected, actual) = (show(&self.expected), show(&self.actual));
        let diff = similar::TextDiff::from_lines(&expected, &actual);
        let mut unified = diff.unified_diff();
        unified
            .context_radius(4)
            .header("expected (cassette)", "actual (this run)");
        // The cassette's side is whatever its file holds: shown within bounds.
        let shown = text::clipped(&unified, text::LINE_CAP, text::CAP);
        write!(f, "{shown}")
    }
}

/// Replace the values of env entries (`{"key": NAME, "value": ...}` in an `env` list,
/// wherever it is in the arguments) whose name matches one of `patterns`.
pub fn redact_env(args: &mut Value, patterns: &[String]) {
    if patterns.is_empty() {
        return;
    }
    match args {
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if key == "env" {
                    if let Value::Array(entries) = value {
                        for entry in entries {
                            redact_entry(entry, patterns);
                        }
                        continue;
                    }
                }
                redact_env(value, patterns);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| redact_env(v, patterns)),
        _ => {}
    }
}

/// Whether `name` matches one of `patterns` (globs, any case).
pub fn secret_name(name: &str, patterns: &[String]) -> bool {
    let name = name.to_ascii_uppercase();
    patterns
        .iter()
        .any(|p| glob_match(&p.to_ascii_uppercase(), &name))
}

fn redact_entry(entry: &mut Value, patterns: &[String]) {
    let Some(name) = entry.get("key").and_then(Value::as_str) else {
        return;
    };
    if secret_name(name, patterns) {
        if let Some(value) = entry.get_mut("value") {
            *value = Value::String(REDACTED.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(op: &str, args: Value, answer: Value) -> Call {
        Call {
            op: op.into(),
            args,
            answer,
        }
    }

    #[test]
    fn env_values_are_redacted_by_name_in_any_case() {
        let mut args = json!({ "spec": { "image": "x", "env": [
            { "key": "DB_PASSWORD", "value": "hunter2" },
            { "key": "api_token", "value": "t0k" },
            { "key": "MODE", "value": "dev" },
        ]}});
        redact_env(&mut args, &["*password*".into(), "*_TOKEN".into()]);
        let env = &args["spec"]["env"];
        assert_eq!(env[0]["value"], REDACTED);
        assert_eq!(env[1]["value"], REDACTED);
        assert_eq!(env[2]["value"], "dev");
        assert_eq!(args["spec"]["image"], "x");
    }

    #[test]
    fn a_recorded_call_is_answered_and_a_different_one_diverges() {
        let calls = vec![
            call(
                "start-container",
                json!({ "container": "a" }),
                json!({ "Ok": null }),
            ),
            call(
                "wait-container",
                json!({ "container": "a" }),
                json!({ "Ok": 0 }),
            ),
        ];
        let recording = Recording::of(calls, vec![]);
        let mut recording = lock(&recording);
        let first: Result<(), DockerError> = recording
            .answer("start-container", json!({ "container": "a" }))
            .unwrap();
        assert!(first.is_ok());
        let wrong = recording
            .answer::<i64>("wait-container", json!({ "container": "b" }))
            .unwrap_err()
            .to_string();
        assert!(wrong.contains("call 2 differs"), "{wrong}");
        assert!(wrong.contains("other arguments"), "{wrong}");
        assert!(wrong.contains("-  \"container\": \"a\""), "{wrong}");
        assert!(wrong.contains("+  \"container\": \"b\""), "{wrong}");
        assert_eq!(recording.divergence().unwrap().at, 2);
    }

    #[test]
    fn a_diff_of_huge_arguments_is_shown_in_bounds() {
        let huge = |c: &str| json!({ "container": "a", "body": c.repeat(1 << 20) });
        let d = Divergence {
            at: 1,
            expected: Some(("put-file".into(), huge("x"))),
            actual: Some(("put-file".into(), huge("y"))),
        };
        let shown = d.to_string();
        assert!(shown.len() <= text::CAP + 1024, "{}", shown.len());
        assert!(shown.contains("-  \"body\": \"xxxx"), "{shown}");
        assert!(shown.contains("+  \"body\": \"yyyy"), "{shown}");
        assert!(shown.contains("[line cut at 4 KiB]"), "{shown}");
    }

    #[test]
    fn calls_too_many_and_too_few_are_divergences() {
        let one = vec![call("list-images", json!({}), json!({ "Ok": [] }))];
        let recording = Recording::of(one.clone(), vec![]);
        let mut t = lock(&recording);
        let _: Result<Vec<Value>, DockerError> = t.answer("list-images", json!({})).unwrap();
        let more = t
            .answer::<Vec<Value>>("list-images", json!({}))
            .unwrap_err();
        assert!(more.to_string().contains("one call more"), "{more}");
        drop(t);

        let recording = Recording::of(one, vec![]);
        let fewer = lock(&recording).divergence().unwrap();
        assert_eq!(fewer.at, 1);
        assert!(fewer.actual.is_none());
        assert!(
            fewer.to_string().contains("ended before this call"),
            "{fewer}"
        );
    }

    #[test]
    fn an_answer_is_typed_as_the_call_returns_it() {
        let err = json!({ "Err": { "NotFound": "no container `x`" } });
        let recording = Recording::of(
            vec![call("inspect-container", json!({"container": "x"}), err)],
            vec![],
        );
        let answer: Result<String, DockerError> = lock(&recording)
            .answer("inspect-container", json!({ "container": "x" }))
            .unwrap();
        assert!(matches!(answer, Err(DockerError::NotFound(m)) if m.contains("no container")));
    }

    #[test]
    fn a_recording_redacts_and_keeps_the_answer() {
        let recording = Recording::new(vec!["SECRET".into()]);
        let answer: Result<String, DockerError> = Ok("abc".into());
        lock(&recording).write(
            "create-container",
            json!({ "spec": { "env": [{ "key": "SECRET", "value": "s" }] } }),
            &answer,
        );
        let t = lock(&recording);
        assert_eq!(t.calls()[0].args["spec"]["env"][0]["value"], REDACTED);
        assert_eq!(t.calls()[0].answer, json!({ "Ok": "abc" }));
    }
}
