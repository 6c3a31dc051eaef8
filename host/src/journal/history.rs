//! Runs as the journal tells them: what `dockwright runs` lists and shows.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use super::liveness::{self, Liveness};
use super::store::Entry;

/// One run, from its start and end entries.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RunSummary {
    pub run: String,
    /// `ok`, `failed`, `running`, or `died` (started here, never ended, no process).
    pub status: String,
    pub team: String,
    pub plugin: String,
    pub workflow: String,
    /// The engine it ran on.
    pub engine: String,
    pub started: String,
    pub duration_ms: Option<u64>,
    pub error: Option<String>,
    pub containers: Vec<String>,
    pub images: Vec<String>,
    pub rolled_back: Vec<String>,
}

impl RunSummary {
    /// "2 containers, 1 image" for the listing.
    pub fn created(&self) -> String {
        let plural = |n: usize, what: &str| format!("{n} {what}{}", if n == 1 { "" } else { "s" });
        format!(
            "{}, {}",
            plural(self.containers.len(), "container"),
            plural(self.images.len(), "image")
        )
    }
}

/// One run in full: its params and every call it made.
#[derive(Debug, Clone, Serialize)]
pub struct RunDetail {
    #[serde(flatten)]
    pub summary: RunSummary,
    pub plugin_sha256: String,
    pub params: Vec<(String, String)>,
    pub calls: Vec<Call>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Call {
    pub time: String,
    pub op: String,
    pub target: String,
    pub decision: String,
    pub rule: Option<String>,
    pub result: String,
    pub detail: Option<String>,
    pub duration_ms: u64,
}

/// Every run in the journal, in the order they started. A run without an end is
/// `running` while its process holds its lock, else `died`.
pub fn summarize(entries: &[Entry], state_dir: &Path) -> Vec<RunSummary> {
    let mut order: Vec<String> = Vec::new();
    let mut runs: HashMap<String, RunSummary> = HashMap::new();
    for entry in entries {
        match entry {
            Entry::RunStart {
                time,
                run,
                team,
                plugin,
                workflow,
                engine,
                ..
            } => {
                order.push(run.clone());
                runs.insert(
                    run.clone(),
                    RunSummary {
                        run: run.clone(),
                        // Settled below, once it is known whether the run ended.
                        status: String::new(),
                        team: team.clone(),
                        plugin: plugin.clone(),
                        workflow: workflow.clone(),
                        engine: engine.clone(),
                        started: time.clone(),
                        ..Default::default()
                    },
                );
            }
            Entry::RunEnd {
                run,
                status,
                error,
                containers,
                images,
                rolled_back,
                duration_ms,
                ..
            } => {
                if let Some(r) = runs.get_mut(run) {
                    r.status = status.clone();
                    r.error = error.clone();
                    r.containers = containers.clone();
                    r.images = images.clone();
                    r.rolled_back = rolled_back.clone();
                    r.duration_ms = Some(*duration_ms);
                }
            }
            Entry::Call {
                run,
                op,
                detail,
                result,
                ..
            } => {
                // A run that died never wrote its end: what it made is known from its calls.
                if let Some(r) = runs.get_mut(run) {
                    if result == "ok" && r.duration_ms.is_none() {
                        if let Some(id) = detail {
                            match op.as_str() {
                                "create-container" => r.containers.push(id.clone()),
                                "build-image" | "commit-container" => r.images.push(id.clone()),
                                _ => {}
                            }
                        }
                    }
                }
            }
        }
    }
    let mut out: Vec<RunSummary> = order
        .into_iter()
        .filter_map(|id| runs.remove(&id))
        .collect();
    // Only runs that never wrote an end need their lock looked at: a long journal of
    // finished runs costs no file opens.
    for r in out.iter_mut().filter(|r| r.status.is_empty()) {
        r.status = match liveness::liveness(state_dir, &r.run) {
            Liveness::Live => "running".into(),
            _ => "died".into(),
        };
    }
    out
}

/// The run whose id is `id` or starts with it.
pub fn find(entries: &[Entry], id: &str, state_dir: &Path) -> Result<RunDetail, String> {
    let matching: Vec<&str> = entries
        .iter()
        .filter_map(|e| match e {
            Entry::RunStart { run, .. } if run.starts_with(id) => Some(run.as_str()),
            _ => None,
        })
        .collect();
    let run = match matching.as_slice() {
        [one] => one.to_string(),
        [] => {
            return Err(format!(
                "no run `{id}` in the journal: `dockwright runs` lists them"
            ))
        }
        many => {
            return Err(format!(
                "`{id}` matches {} runs ({}): give more of the id",
                many.len(),
                many.join(", ")
            ))
        }
    };
    let own: Vec<Entry> = entries.iter().filter(|e| e.run() == run).cloned().collect();
    let summary = summarize(&own, state_dir)
        .pop()
        .ok_or_else(|| format!("run `{run}` has no start in the journal"))?;
    let (mut sha, mut params) = (String::new(), Vec::new());
    let mut calls = Vec::new();
    for e in own {
        match e {
            Entry::RunStart {
                plugin_sha256,
                params: p,
                ..
            } => {
                sha = plugin_sha256;
                params = p;
            }
            Entry::Call {
                time,
                op,
                target,
                decision,
                rule,
                result,
                detail,
                duration_ms,
                ..
            } => calls.push(Call {
                time,
                op,
                target,
                decision,
                rule,
                result,
                detail,
                duration_ms,
            }),
            Entry::RunEnd { .. } => {}
        }
    }
    Ok(RunDetail {
        summary,
        plugin_sha256: sha,
        params,
        calls,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(run: &str) -> Entry {
        Entry::RunStart {
            time: "t0".into(),
            run: run.into(),
            team: "blue".into(),
            plugin: "p".into(),
            plugin_sha256: "ab".into(),
            workflow: "w".into(),
            params: vec![("k".into(), "v".into())],
            pid: 1,
            engine: "default".into(),
        }
    }

    fn call(run: &str, op: &str, result: &str, detail: &str) -> Entry {
        Entry::Call {
            time: "t1".into(),
            run: run.into(),
            team: "blue".into(),
            plugin: "p".into(),
            op: op.into(),
            target: "x".into(),
            decision: "allowed".into(),
            rule: None,
            result: result.into(),
            detail: Some(detail.into()),
            duration_ms: 3,
        }
    }

    fn end(run: &str, status: &str) -> Entry {
        Entry::RunEnd {
            time: "t2".into(),
            run: run.into(),
            team: "blue".into(),
            plugin: "p".into(),
            workflow: "w".into(),
            status: status.into(),
            error: (status == "failed").then(|| "boom".into()),
            containers: vec!["c1".into()],
            images: vec![],
            rolled_back: vec!["c1".into()],
            duration_ms: 42,
        }
    }

    #[test]
    fn runs_are_summarized_in_start_order() {
        let dir = tempfile::tempdir().unwrap();
        let entries = [
            start("a"),
            start("b"),
            call("b", "create-container", "ok", "c9"),
            end("a", "failed"),
        ];
        let runs = summarize(&entries, dir.path());
        assert_eq!(runs.len(), 2);
        assert_eq!(
            (runs[0].run.as_str(), runs[0].status.as_str()),
            ("a", "failed")
        );
        assert_eq!(runs[0].error.as_deref(), Some("boom"));
        assert_eq!(runs[0].rolled_back, ["c1"]);
        // No end and no live process: it died, and its calls tell what it made.
        assert_eq!(
            (runs[1].run.as_str(), runs[1].status.as_str()),
            ("b", "died")
        );
        assert_eq!(runs[1].containers, ["c9"]);
        assert_eq!(runs[1].created(), "1 container, 0 images");
    }

    #[test]
    fn a_live_run_is_running() {
        let dir = tempfile::tempdir().unwrap();
        let _live = super::liveness::LiveRun::acquire(dir.path(), "c").unwrap();
        let runs = summarize(&[start("c")], dir.path());
        assert_eq!(runs[0].status, "running");
    }

    #[test]
    fn find_by_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let entries = [
            start("abc1"),
            call("abc1", "create-container", "ok", "c1"),
            end("abc1", "ok"),
            start("abd2"),
        ];
        let d = find(&entries, "abc", dir.path()).unwrap();
        assert_eq!(d.summary.run, "abc1");
        assert_eq!(d.calls.len(), 1);
        assert_eq!(d.params, [("k".to_string(), "v".to_string())]);
        assert!(find(&entries, "ab", dir.path())
            .unwrap_err()
            .contains("matches 2 runs"));
        assert!(find(&entries, "zz", dir.path())
            .unwrap_err()
            .contains("no run `zz`"));
    }
}
