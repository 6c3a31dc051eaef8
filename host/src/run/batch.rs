//! Many runs of one workflow at once: one per set of params, each in its own
//! instance with its own run id, at most `jobs` at a time. The engine is slow per
//! call but works on many things at once; this is where a client wins.

use std::sync::Arc;

use futures_util::stream::{self, StreamExt};

use super::workflow::{self as run, RunOptions, RunReport};
use crate::engine::Engine;
use crate::plugin::catalog::LoadedPlugin;
use crate::plugin::runtime::Runtime;
use crate::util::console::Console;

pub type Params = Vec<(String, String)>;

/// The param sets of a batch: every line of the params file (or one empty set),
/// times every combination of the `--each` values, each over the fixed params.
/// Later sources override earlier ones: fixed, then file, then `--each`.
pub fn expand(
    fixed: &Params,
    each: &[(String, Vec<String>)],
    file: Option<Vec<Params>>,
) -> Vec<Params> {
    let mut sets: Vec<Params> = file.unwrap_or_else(|| vec![Vec::new()]);
    for (key, values) in each {
        sets = sets
            .into_iter()
            .flat_map(|set| {
                values.iter().map(move |v| {
                    let mut next = set.clone();
                    next.push((key.clone(), v.clone()));
                    next
                })
            })
            .collect();
    }
    sets.into_iter().map(|set| merge(fixed, &set)).collect()
}

fn merge(base: &Params, over: &Params) -> Params {
    let mut out = base.clone();
    for (k, v) in over {
        match out.iter_mut().find(|(key, _)| key == k) {
            Some(slot) => slot.1 = v.clone(),
            None => out.push((k.clone(), v.clone())),
        }
    }
    out
}

/// Parse `NAME=V1,V2,...` for `--each`.
pub fn parse_each(s: &str) -> Result<(String, Vec<String>), String> {
    let (key, values) = crate::policy::params::parse_assignment(s)?;
    let values: Vec<String> = values.split(',').map(str::to_string).collect();
    if values.iter().any(String::is_empty) {
        return Err(format!(
            "`{s}` has an empty value: write NAME=V1,V2,... with no empty items"
        ));
    }
    Ok((key, values))
}

/// A params file: one JSON object per line (blank lines and `#` comments skipped).
/// Values may be strings, numbers or booleans.
pub fn parse_params_file(text: &str) -> Result<Vec<Params>, String> {
    let mut sets = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let n = i + 1;
        let value: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("line {n}: not JSON: {e}"))?;
        let serde_json::Value::Object(map) = value else {
            return Err(format!(
                "line {n}: expected an object such as {{\"team\": \"blue\"}}"
            ));
        };
        let mut set = Vec::new();
        for (k, v) in map {
            let v = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) => n.to_string(),
                serde_json::Value::Bool(b) => b.to_string(),
                other => {
                    return Err(format!(
                        "line {n}: param `{k}` is {other}: give a string, number or boolean"
                    ))
                }
            };
            set.push((k, v));
        }
        sets.push(set);
    }
    if sets.is_empty() {
        return Err("it holds no param sets: write one JSON object per line".into());
    }
    Ok(sets)
}

/// One run of a batch: its params, and the engine it runs on, or why that engine
/// could not be reached (the run then fails with that, and the others go on).
#[derive(Clone)]
pub struct Job {
    pub params: Params,
    pub engine_name: String,
    pub engine: Result<Engine, String>,
}

/// What every run of a batch shares: the plugin's workflow, its options, and how many
/// run at once.
pub struct Batch<'a> {
    pub runtime: &'a Runtime,
    pub plugin: &'a LoadedPlugin,
    pub workflow: &'a str,
    pub options: &'a RunOptions,
    /// The most runs at once (at least one).
    pub jobs: usize,
}

/// Run every job, at most `batch.jobs` at once. `console_for(i)` gives run `i` its
/// console; `done(i, report)` hears of each run as it ends. One failing run does not
/// stop the others; each rolls back its own. Reports come back in the order of `work`.
pub async fn run_batch(
    batch: Batch<'_>,
    work: Vec<Job>,
    console_for: impl Fn(usize) -> Arc<dyn Console>,
    cancel: tokio::sync::watch::Receiver<bool>,
    mut done: impl FnMut(usize, &RunReport),
) -> Vec<RunReport> {
    let Batch {
        runtime,
        plugin,
        workflow,
        options,
        jobs,
    } = batch;
    let total = work.len();
    let runs = work.into_iter().enumerate().map(|(i, job)| {
        let console = console_for(i);
        let mut cancel = cancel.clone();
        async move {
            let cancelled = async move {
                let _ = cancel.wait_for(|c| *c).await;
            };
            let report = match job.engine {
                Ok(engine) => {
                    let request = run::RunRequest {
                        runtime,
                        plugin,
                        workflow,
                        params: job.params,
                        engine,
                        console,
                        options,
                    };
                    run::run_workflow(request, cancelled).await
                }
                // Nothing was sent anywhere: there is no run to journal.
                Err(why) => RunReport::failed(
                    "-",
                    &plugin.info.name,
                    workflow,
                    &options.policy.name,
                    &job.engine_name,
                    why,
                ),
            };
            (i, report)
        }
    });
    let mut reports: Vec<Option<RunReport>> = (0..total).map(|_| None).collect();
    let mut finished = stream::iter(runs).buffer_unordered(jobs.max(1));
    while let Some((i, report)) = finished.next().await {
        done(i, &report);
        reports[i] = Some(report);
    }
    reports.into_iter().flatten().collect()
}

/// The jobs of a fan-out: every param set on every engine, engine by engine.
pub fn fan_out(sets: &[Params], engines: &[(String, Result<Engine, String>)]) -> Vec<Job> {
    engines
        .iter()
        .flat_map(|(name, engine)| {
            sets.iter().map(move |params| Job {
                params: params.clone(),
                engine_name: name.clone(),
                engine: engine.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pairs: &[(&str, &str)]) -> Params {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn each_values_multiply() {
        let each = vec![
            ("team".to_string(), vec!["a".to_string(), "b".to_string()]),
            ("n".to_string(), vec!["1".to_string(), "2".to_string()]),
        ];
        let sets = expand(&p(&[("image", "web"), ("team", "x")]), &each, None);
        assert_eq!(
            sets,
            [
                p(&[("image", "web"), ("team", "a"), ("n", "1")]),
                p(&[("image", "web"), ("team", "a"), ("n", "2")]),
                p(&[("image", "web"), ("team", "b"), ("n", "1")]),
                p(&[("image", "web"), ("team", "b"), ("n", "2")]),
            ]
        );
        assert_eq!(expand(&p(&[("a", "1")]), &[], None), [p(&[("a", "1")])]);
    }

    #[test]
    fn file_sets_combine_with_each() {
        let file = vec![p(&[("team", "a")]), p(&[("team", "b"), ("image", "x")])];
        let each = vec![("n".to_string(), vec!["1".to_string(), "2".to_string()])];
        let sets = expand(&p(&[("image", "web")]), &each, Some(file));
        assert_eq!(sets.len(), 4);
        assert_eq!(sets[3], p(&[("image", "x"), ("team", "b"), ("n", "2")]));
    }

    #[test]
    fn each_values_parse() {
        assert_eq!(
            parse_each("team=a,b").unwrap(),
            ("team".into(), vec!["a".into(), "b".into()])
        );
        assert!(parse_each("team=a,,b").unwrap_err().contains("empty value"));
        assert!(parse_each("team").is_err());
    }

    #[test]
    fn params_files_parse() {
        let sets = parse_params_file(
            "# teams\n{\"team\":\"a\",\"n\":2}\n\n{\"team\":\"b\",\"up\":true}\n",
        )
        .unwrap();
        assert_eq!(
            sets,
            [
                p(&[("team", "a"), ("n", "2")]),
                p(&[("team", "b"), ("up", "true")])
            ]
        );
        assert!(parse_params_file("{\"team\": [1]}")
            .unwrap_err()
            .contains("line 1: param `team`"));
        assert!(parse_params_file("[1]")
            .unwrap_err()
            .contains("line 1: expected an object"));
        assert!(parse_params_file("{oops")
            .unwrap_err()
            .contains("line 1: not JSON"));
        assert!(parse_params_file("\n")
            .unwrap_err()
            .contains("no param sets"));
    }
}
